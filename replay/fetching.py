"""Fetch: resolve job references, validate each job and write its recipe (and optionally its JSON) to disk."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from replay import canonical
from replay.artifacts import recorded_artifacts
from replay.errors import InputError, MalformedResponse, ReplayError
from replay.jobs import Job
from replay.recipe import build_recipe, dumps_recipe, export_job, write_recipe
from replay.sources import load_job

if TYPE_CHECKING:
    from replay.client import Client
    from replay.nodedefs import NodeDefs

DEFAULT_DIR = "recipes"
DOWNLOAD_THREADS = 8


@dataclass
class FetchResult:
    """What a fetch or archive did: paths written and unchanged, ids skipped, failures with their reason."""

    written: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[dict[str, str]] = field(default_factory=list)
    stdout_text: str = ""
    notes: list[str] = field(default_factory=list)
    errors: list[ReplayError] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The `--json` shape of SPEC §4."""
        return {"written": self.written, "unchanged": self.unchanged, "skipped": self.skipped, "failed": self.failed}


def is_file_target(out: str) -> bool:
    """True when `-o` names one recipe file (ends in .yaml/.yml) rather than a folder."""
    return out.lower().endswith((".yaml", ".yml"))


def recipe_name(job: Job, ref: str) -> str:
    """The file name of a job's recipe: `<job_id>.yaml`, or the input file's stem for prompts and UI graphs."""
    if job.id:
        return f"{job.id}.yaml"
    stem = Path(ref).stem if ref != "-" else "stdin"
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", stem).strip("._") or "recipe"
    return f"{safe}.yaml"


def check_job(job: Job, name: str) -> None:
    """Validate a job before it is written: its record against the job schema, its prompt as a graph."""
    from replay.validate import check_job_for_fetch  # noqa: PLC0415 - jsonschema is imported lazily

    problems = check_job_for_fetch(job, name)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        first = problems[0]
        message = f"{first}{more}; run `comfy-replay validate` on the file for every problem"
        if job.detail is not None and job.kind == "job" and job.source.get("server"):
            raise MalformedResponse(f"the server's record is not a valid job: {message}")
        raise InputError(message)


def add_converted_prompt(job: Job, defs: NodeDefs, name: str) -> str | None:
    """Give a UI-only job the API prompt converted with `defs`; return a note when it cannot be converted."""
    from replay.convert import convert_workflow  # noqa: PLC0415

    if job.prompt is not None or job.ui_workflow is None:
        return None
    try:
        conversion = convert_workflow(job.ui_workflow, defs)
    except InputError as exc:
        return f"{name}: kept without a prompt: {exc}"
    job.prompt = conversion.prompt
    job.source["prompt"] = "converted from ui_workflow with node definitions"
    return None


def fetch(
    refs: Sequence[str],
    *,
    out: str = DEFAULT_DIR,
    raw: bool = False,
    force: bool = False,
    client_factory: Callable[[], Client] | None = None,
    api_key: str | None = None,
    defs: NodeDefs | None = None,
    stdin: BinaryIO | None = None,
    outputs: str | None = None,
) -> FetchResult:
    """Fetch each job reference, validate it and write its recipe; `out` is a folder, a .yaml file or `-`.

    Bad input (a malformed file, a non-UUID id, an invalid job) raises before anything is written.
    A job that the server fails to deliver is recorded in `failed` and the others are still written.
    With node definitions (`defs`), a UI workflow without a prompt gets one converted from its graph.
    With `outputs` (a folder; "" for `outputs/` beside the recipes), the files each job produced are
    downloaded from the server into that content-addressed store and recorded as the recipe's `artifacts`;
    a recipe fetched again without `outputs` keeps the artifacts it has.
    """
    if out != "-" and is_file_target(out) and len(refs) > 1:
        raise InputError(f"-o {out} names one recipe file, but {len(refs)} jobs were given; pass a folder instead")
    downloads = _Downloads(outputs, out, client_factory) if outputs is not None else None
    result = FetchResult()
    prepared: list[tuple[str, Job, dict[str, Any]]] = []
    try:
        for ref in refs:
            try:
                job = load_job(ref, client_factory, stdin=stdin)
                check_job(job, ref)
                target = None if out == "-" else Path(out) if is_file_target(out) else Path(out) / recipe_name(job, ref)
                if job.artifacts is None and target is not None and target.exists():
                    job.artifacts = recorded_artifacts(target, job.id)
                if downloads is not None:
                    downloads.run(job)
            except InputError:
                raise
            except ReplayError as exc:
                result.failed.append({"job_id": ref, "error": str(exc)})
                result.errors.append(exc)
                continue
            if defs is not None:
                note = add_converted_prompt(job, defs, ref)
                if note:
                    result.notes.append(note)
            prepared.append((ref, job, build_recipe(job, server=job.source.get("server"), api_key=api_key)))
    finally:
        if downloads is not None:
            downloads.close()
            result.notes.extend(downloads.notes())

    if out == "-":
        result.stdout_text = "".join(
            ("---\n" if i else "") + dumps_recipe(recipe) for i, (_, _, recipe) in enumerate(prepared)
        )
        return result
    for ref, job, recipe in prepared:
        target = Path(out) if is_file_target(out) else Path(out) / recipe_name(job, ref)
        state = write_recipe(target, recipe, force=force)
        (result.written if state == "written" else result.unchanged).append(str(target))
        if raw and "job" in recipe:
            raw_path = target.with_suffix(".json")
            text = json.dumps(export_job(recipe), indent=2, ensure_ascii=False) + "\n"
            canonical.write_if_changed(raw_path, text.encode("utf-8"))
    return result


class _Downloads:
    """`fetch --outputs`: one store, one client and one pool of download threads for every job of the run."""

    def __init__(self, folder: str, out: str, client_factory: Callable[[], Client] | None) -> None:
        from replay.artifacts import open_store, store_dir_beside  # noqa: PLC0415 - Pillow only with --outputs

        if client_factory is None:
            raise InputError("--outputs downloads from a server, but no server is configured")
        self.folder = Path(folder) if folder else store_dir_beside(out)
        self.store = open_store(self.folder)
        self.client_factory = client_factory
        self.pool = ThreadPoolExecutor(max_workers=DOWNLOAD_THREADS, thread_name_prefix="fetch-outputs")
        self.files = self.missing = 0
        self.skipped: list[str] = []

    def run(self, job: Job) -> None:
        """Download the finished job's output files and record them as its artifacts (`[]` when it made none)."""
        from replay.artifacts import download_job_outputs, origin_of  # noqa: PLC0415

        if not job.is_terminal:
            return  # a job still queued or running has no outputs yet
        client = self.client_factory()
        origin = origin_of(job)
        if origin != client.server:
            # Another server may hold other files under the same names: download only from the job's own server.
            where = f"it came from {origin}" if origin else "it names no server it came from"
            self.skipped.append(f"{job.id or 'a job'}: outputs not downloaded, {where} (fetch it by id from there)")
            return
        artifacts = download_job_outputs(job, client, self.store, executor=self.pool)
        self.files += len(artifacts)
        self.missing += sum(1 for a in artifacts if a.get("missing"))

    def close(self) -> None:
        self.pool.shutdown(wait=True)

    def notes(self) -> list[str]:
        """One line saying where the files went and how many the server no longer had."""
        missing = f", {self.missing} missing on the server" if self.missing else ""
        recorded = [f"outputs: {self.files} file(s) recorded in {self.folder}{missing}"] if self.files else []
        return recorded + self.skipped


__all__ = ["DEFAULT_DIR", "FetchResult", "fetch", "is_file_target", "recipe_name"]
