"""Recipes: a job as one canonical, lossless, secret-free YAML file; building, reading, exporting, writing.

The byte-level YAML rules (key order, quoting, safe loading) live in `replay.canonical`; this module decides
what goes into a recipe and how the job detail, prompt and UI graph are rebuilt from it.
"""

from __future__ import annotations

import copy
import os
import re
from pathlib import Path
from typing import Any

from replay import canonical
from replay.errors import DocumentError, InputError, TargetExistsError
from replay.jobs import KIND_RECIPE, Job, job_from_detail, rebuild_workflow

RECIPE_VERSION = 1
KEY_ORDER = ("recipe", "source", "job", "prompt", "extra_data", "ui_workflow", "artifacts", "repro")
REDACTED = "<redacted>"
SECRET_EXTRA_KEYS = ("api_key_comfy_org", "auth_token_comfy_org")
MIN_SCRUBBED_KEY = 8

# Input names whose string values are credentials: api_key, apikey, openai_api_key, hf_token, password, secret...
_SECRET_NAME = re.compile(
    r"(^|[_\-. ])(api[_\-]?key|apikey|token|access[_\-]?token|auth[_\-]?token|password|passwd|secret|"
    r"secret[_\-]?key|private[_\-]?key|credentials?)$",
    re.IGNORECASE,
)


def is_secret_name(name: str) -> bool:
    """True when an input or key name looks like it holds a credential (`api_key`, `hf_token`, `password`...)."""
    return bool(_SECRET_NAME.search(name))


def _path(*parts: str) -> str:
    return "".join(f".{p}" if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", p) else f"[{p!r}]".replace("'", '"') for p in parts)


def _redact_named(obj: Any, where: tuple[str, ...], found: list[str]) -> Any:
    """Replace string values under secret-looking keys, anywhere below `obj`, recording their paths."""
    if isinstance(obj, dict):
        out: dict[str, Any] = {}
        for key, value in obj.items():
            if is_secret_name(str(key)) and _is_secret_value(value):
                out[key] = REDACTED if isinstance(value, str) else [REDACTED for _ in value]
                found.append(_path(*where, str(key)).lstrip("."))
            else:
                out[key] = _redact_named(value, (*where, str(key)), found)
        return out
    if isinstance(obj, list):
        return [_redact_named(item, (*where, str(i)), found) for i, item in enumerate(obj)]
    return obj


def _is_secret_value(value: Any) -> bool:
    if isinstance(value, str):
        return value != "" and value != REDACTED
    # OSS reports current_inputs as lists of values: ["sk-..."]
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v for v in value)


def _scrub_key(obj: Any, key: str) -> tuple[Any, int]:
    """Replace every occurrence of the API key in strings below `obj`; return the new object and the count."""
    if isinstance(obj, str):
        return (obj.replace(key, REDACTED), 1) if key in obj else (obj, 0)
    if isinstance(obj, dict):
        total = 0
        out: dict[str, Any] = {}
        for k, v in obj.items():
            new, n = _scrub_key(v, key)
            new_k = k.replace(key, REDACTED) if key in k else k
            out[new_k] = new
            total += n + (1 if new_k != k else 0)
        return out, total
    if isinstance(obj, list):
        total = 0
        items = []
        for v in obj:
            new, n = _scrub_key(v, key)
            items.append(new)
            total += n
        return items, total
    return obj, 0


def build_recipe(job: Job, *, server: str | None = None, api_key: str | None = None) -> dict[str, Any]:
    """Return the recipe (a plain dict in canonical key order) for a job, with every secret removed.

    `server` is recorded as scheme://host[:port]; `api_key` is the key in use, scrubbed wherever it appears.
    Removed secrets are listed in `source.redacted`.
    """
    redacted: list[str] = []
    source: dict[str, Any] = {"kind": job.kind}
    if server:
        from replay.client import server_origin  # noqa: PLC0415 - keeps `requests` out of offline paths

        source["server"] = server_origin(server)
    if job.id:
        source["job_id"] = job.id
    for key, value in job.source.items():
        if key not in ("server", "job_id", "kind", "redacted"):
            source[key] = value

    recipe: dict[str, Any] = {"recipe": RECIPE_VERSION, "source": source}
    workflow_kept = False
    if job.detail is not None:
        detail = dict(job.detail)
        workflow = detail.pop("workflow", None)
        if workflow is not None and job.prompt is None and job.extra_data is None:
            detail["workflow"] = workflow  # a workflow shape we do not split: kept verbatim, lossless
            workflow_kept = True
        recipe["job"] = _redact_named(detail, ("job",), redacted)
    if job.prompt is not None and not workflow_kept:
        recipe["prompt"] = _redact_named(job.prompt, ("prompt",), redacted)
    if job.extra_data is not None and not workflow_kept:
        # Shallow copies only: _redact_named builds new containers below, the job's own stay untouched.
        extra = dict(job.extra_data)
        for key in SECRET_EXTRA_KEYS:
            if key in extra:
                del extra[key]
                redacted.append(f"extra_data.{key}")
        pnginfo = extra.get("extra_pnginfo")
        if isinstance(pnginfo, dict) and "workflow" in pnginfo:
            extra["extra_pnginfo"] = {k: v for k, v in pnginfo.items() if k != "workflow"}
        recipe["extra_data"] = _redact_named(extra, ("extra_data",), redacted)
    if job.ui_workflow is not None and not workflow_kept:
        recipe["ui_workflow"] = job.ui_workflow
    if job.artifacts is not None:
        recipe["artifacts"] = [ordered_artifact(artifact) for artifact in job.artifacts]
    if job.repro is not None:
        recipe["repro"] = job.repro
    # A key shorter than 8 characters is no real credential, and scrubbing it would mangle ordinary text.
    if api_key and len(api_key) >= MIN_SCRUBBED_KEY:
        for key in KEY_ORDER[1:]:
            if key in recipe:
                recipe[key], count = _scrub_key(recipe[key], api_key)
                if count:
                    redacted.append(f"{key} (the API key in use, {count}x)")
    if redacted:
        recipe["source"]["redacted"] = sorted(set(redacted))
    return recipe


def ordered_artifact(artifact: dict[str, Any]) -> dict[str, Any]:
    """An artifact with its keys in the order a recipe writes them (`replay.outputs.ARTIFACT_KEYS`, then the
    rest sorted), so the same outputs always give the same bytes."""
    from replay.outputs import ARTIFACT_KEYS  # noqa: PLC0415 - only recipes with artifacts need it

    known = [key for key in ARTIFACT_KEYS if key in artifact]
    return {key: artifact[key] for key in known + sorted(k for k in artifact if k not in ARTIFACT_KEYS)}


def dumps_recipe(recipe: dict[str, Any]) -> str:
    """Return the canonical YAML text of a recipe: same recipe, same bytes."""
    return canonical.dumps(recipe, key_order=KEY_ORDER, natural=("prompt",))


def loads_recipe(text: str | bytes, *, file: str | None = None) -> dict[str, Any]:
    """Parse recipe YAML safely and check its outline; DocumentError with file:line:column on any problem."""
    data = canonical.loads(text, file=file)
    check_outline(data, file=file)
    assert isinstance(data, dict)
    return data


def check_outline(data: Any, *, file: str | None = None) -> None:
    """Raise DocumentError unless `data` has the outline of a recipe v1 (full checks: `replay.validate`)."""
    where = file or "recipe"
    if not isinstance(data, dict) or "recipe" not in data:
        raise DocumentError("not a comfy-replay recipe (no top-level 'recipe' key)", file=where)
    if data["recipe"] != RECIPE_VERSION or isinstance(data["recipe"], bool):
        raise DocumentError(f"unsupported recipe version {data['recipe']!r}; this comfy-replay reads version 1", file=where)
    for key in ("source", "job", "extra_data", "ui_workflow", "repro"):
        if key in data and not isinstance(data[key], dict):
            raise DocumentError(f"'{key}' must be a mapping", file=where)
    artifacts = data.get("artifacts")
    if "artifacts" in data and (not isinstance(artifacts, list) or not all(isinstance(a, dict) for a in artifacts)):
        raise DocumentError("'artifacts' must be a list of mappings (one per output file)", file=where)
    prompt = data.get("prompt")
    if prompt is not None:
        if not isinstance(prompt, dict):
            raise DocumentError("'prompt' must be a mapping of node ids to nodes", file=where)
        for node_id, node in prompt.items():
            if not isinstance(node, dict) or not isinstance(node.get("inputs", {}), dict):
                raise DocumentError(f"prompt node {node_id!r} must be a mapping with 'class_type' and 'inputs'", file=where)
    if not any(key in data for key in ("job", "prompt", "ui_workflow")):
        raise DocumentError("the recipe holds no job, prompt or UI workflow", file=where)


def export_job(recipe: dict[str, Any]) -> dict[str, Any]:
    """Rebuild the job detail JSON from a recipe (`export --job`): the server's record minus secrets."""
    job = recipe.get("job")
    if not isinstance(job, dict):
        raise InputError("this recipe holds no job record (it was made from a prompt or UI file); try --prompt or --ui")
    detail = copy.deepcopy(job)
    if "workflow" not in detail:
        workflow = rebuild_workflow(_job_parts(recipe))
        if workflow is not None:
            detail["workflow"] = workflow
    return detail


def export_document(job: Job, what: str, *, api_key: str | None = None) -> dict[str, Any]:
    """Return what `export` prints, secrets removed: "prompt" (API prompt), "job" (job detail) or "ui" (UI graph)."""
    recipe = build_recipe(job, api_key=api_key)
    if what == "prompt":
        if "prompt" not in recipe:
            hint = " (it has only a UI graph: `comfy-replay convert` makes a prompt)" if job.ui_workflow else ""
            raise InputError(f"this document holds no API prompt{hint}")
        prompt: dict[str, Any] = recipe["prompt"]
        return prompt
    if what == "ui":
        if "ui_workflow" not in recipe:
            raise InputError("this document holds no UI graph (the job was submitted without extra_pnginfo.workflow)")
        ui: dict[str, Any] = recipe["ui_workflow"]
        return ui
    return export_job(recipe)


def _job_parts(recipe: dict[str, Any]) -> Job:
    return Job(
        kind=KIND_RECIPE,
        prompt=recipe.get("prompt"),
        extra_data=recipe.get("extra_data"),
        ui_workflow=recipe.get("ui_workflow"),
    )


def job_from_recipe(recipe: dict[str, Any]) -> Job:
    """Return the Job a recipe describes (its record when it has one, else its prompt / UI graph)."""
    raw_source = recipe.get("source")
    source: dict[str, Any] = raw_source if isinstance(raw_source, dict) else {}
    if isinstance(recipe.get("job"), dict):
        job = job_from_detail(export_job(recipe))
        job.kind = KIND_RECIPE
    else:
        job = _job_parts(recipe)
    job.source = dict(source)
    job.repro = recipe.get("repro")
    artifacts = recipe.get("artifacts")
    job.artifacts = [dict(a) for a in artifacts] if isinstance(artifacts, list) else None
    return job


def _existing_identity(path: Path) -> tuple[str | None, str | None]:
    """Return (job id, workflow id) of the recipe at `path`; raise TargetExistsError if it is not a recipe."""
    try:
        data = canonical.loads(path.read_bytes(), file=str(path))
        check_outline(data, file=str(path))
    except (DocumentError, OSError) as exc:
        raise TargetExistsError(
            f"{path} exists and is not a comfy-replay recipe; refusing to overwrite it (choose another -o path)",
            path=str(path),
        ) from exc
    source = data.get("source") or {}
    job = data.get("job") or {}
    ui = data.get("ui_workflow") or {}
    workflow_id = job.get("workflow_id") or (ui.get("id") if isinstance(ui, dict) else None)
    return source.get("job_id"), workflow_id


def write_recipe(path: str | os.PathLike[str], recipe: dict[str, Any], *, force: bool = False) -> str:
    """Write a recipe atomically; return "written" or "unchanged" (same bytes already there: file untouched).

    A recipe of a different job at `path` is refused (TargetExistsError), unless it is a run of the same
    workflow (same workflow id: the git "next run into the same file" use) or `force` is set.
    """
    target = Path(path)
    data = dumps_recipe(recipe).encode("utf-8")
    if target.exists() and not force:
        if target.read_bytes() == data:
            return "unchanged"
        old_job, old_workflow = _existing_identity(target)
        new_job = (recipe.get("source") or {}).get("job_id")
        job = recipe.get("job") or {}
        new_workflow = job.get("workflow_id") or (recipe.get("ui_workflow") or {}).get("id")
        same_job = old_job == new_job
        same_workflow = old_workflow is not None and old_workflow == new_workflow
        if not same_job and not same_workflow:
            raise TargetExistsError(
                f"{target} holds a recipe of another job ({old_job or 'no job id'}); refusing to overwrite it "
                "(choose another -o path, or pass --force)",
                path=str(target),
            )
    if target.parent and not target.parent.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
    return "written" if canonical.write_if_changed(target, data) else "unchanged"


__all__ = [
    "KEY_ORDER",
    "REDACTED",
    "build_recipe",
    "check_outline",
    "dumps_recipe",
    "export_document",
    "export_job",
    "is_secret_name",
    "job_from_recipe",
    "loads_recipe",
    "ordered_artifact",
    "write_recipe",
]
