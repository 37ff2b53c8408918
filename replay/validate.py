"""Validating documents: the schema of a document kind, then its graph checks; problems located in a file.

Every problem carries a JSON-path location (``$["3"].inputs.model``) and a message in plain words.
``validate_document`` runs the schema of a document kind (`replay.schema_check`), then the graph checks the
schema cannot express (`replay.graph_check`): links that point nowhere, slots out of range, cycles. jsonschema
is imported on first use, so importing this module stays cheap. The public names of those modules (and of
`replay.findings`) that were first defined here are importable from here too.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

from replay.errors import GraphError, InputError
from replay.findings import Finding, JsonPath, json_path, plural
from replay.graph_check import check_prompt_graph, check_ui_graph, graph_findings
from replay.schema_check import KINDS, schema, schema_file, schema_issues
from replay.schema_check import warm_up as warm_up

if TYPE_CHECKING:
    from replay.jobs import Job
    from replay.nodedefs import NodeDefs


@dataclass(frozen=True)
class Problem:
    """One problem in one document: ``FILE: LOCATION: MESSAGE`` when printed."""

    file: str
    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.location}: {self.message}"

def validate_document(doc: Any, kind: str, *, file: str = "-", strict: bool = False) -> list[Problem]:
    """Return every problem of ``doc`` read as ``kind`` (one of ``KINDS``); an empty list means valid.

    Schema problems come first, sorted by location; then graph problems (dangling links, bad slots,
    cycles) of the prompts and UI graphs the document holds, minus those the schema already reported.
    ``strict`` holds a job to the Comfy Cloud spec exactly, the job a recipe holds included.
    """
    from_schema = schema_issues(_with_plain_prompts_stubbed(doc, kind), schema_file(kind, strict))
    reported = {(path, message) for path, message, _ in from_schema}
    wrong_type = {path for path, _, is_type_error in from_schema if is_type_error}
    from_graphs: list[Finding] = []
    for prefix, finding in graph_findings(doc, kind):
        path = prefix + finding[0]
        enclosing_wrong = any(path[:depth] in wrong_type for depth in range(len(path)))
        if (path, finding[1]) not in reported and not enclosing_wrong:
            from_graphs.append((path, finding[1]))
    findings = [(path, message) for path, message, _ in from_schema] + from_graphs
    if strict and kind == "recipe" and not from_schema:
        findings.extend(_recipe_job_issues(doc))
    return [Problem(file, json_path(path), message) for path, message in findings]


# Where the parts of a job detail rebuilt from a recipe live in the recipe itself.
_RECIPE_PLACES: tuple[tuple[JsonPath, JsonPath], ...] = (
    (("workflow", "extra_data", "extra_pnginfo", "workflow"), ("ui_workflow",)),
    (("workflow", "extra_data"), ("extra_data",)),
    (("workflow", "prompt"), ("prompt",)),
    ((), ("job",)),
)


def _recipe_job_issues(doc: Any) -> list[Finding]:
    """With --strict, the job a recipe holds, rebuilt as `export --job` gives it, against the Cloud job schema.

    Locations point into the recipe (`$.job.update_time`, `$.prompt["3"]`), as a job file's would into the job.
    """
    if not isinstance(doc, dict) or not isinstance(doc.get("job"), dict):
        return []
    from replay.recipe import export_job  # noqa: PLC0415

    detail = export_job(doc)
    issues = schema_issues(_with_plain_prompts_stubbed(detail, "job"), schema_file("job", True))
    found: list[Finding] = []
    for path, message, _ in issues:
        prefix, place = next((p, q) for p, q in _RECIPE_PLACES if path[: len(p)] == p)
        found.append((place + path[len(prefix) :], message))
    return found


def validate_files(
    paths: Sequence[str],
    *,
    strict: bool = False,
    defs: NodeDefs | None = None,
    stdin: BinaryIO | None = None,
) -> list[Problem]:
    """Validate each file (or `-`): parse problems (at ``line:column``), schema and graph problems, and with
    node definitions (`defs`) the prompt checks of `replay.nodedefs.check_prompt`. Returns every problem.

    A file that cannot be read at all raises InputError: there is nothing to validate.
    """
    from replay.documents import parse_document, read_bytes  # noqa: PLC0415
    from replay.errors import DocumentError  # noqa: PLC0415
    from replay.jobs import detect_kind  # noqa: PLC0415

    problems: list[Problem] = []
    for path in paths:
        raw, name = read_bytes(path, stdin)
        try:
            doc = parse_document(raw, name)
        except DocumentError as exc:
            where = f"{exc.line}:{exc.column}" if exc.line is not None else "$"
            problems.append(Problem(name, where, exc.detail))
            continue
        try:
            kind = detect_kind(doc)
        except InputError as exc:
            problems.append(Problem(name, "$", str(exc)))
            continue
        found = validate_document(doc, kind, file=name, strict=strict)
        problems.extend(found)
        if defs is not None:
            # A dangling link is a graph problem already reported above, in its own words: not twice.
            seen = {p.location for p in found}
            problems.extend(p for p in _definition_problems(doc, kind, name, defs) if p.location not in seen)
    return problems


_STUB_PROMPT = {"1": {"class_type": "stub", "inputs": {}}}


def _with_plain_prompts_stubbed(doc: Any, kind: str) -> Any:
    """`doc` with each prompt that certainly passes the prompt schema swapped for a tiny one (shallow copies).

    The prompt schema (an if/then per input) is most of the cost of validating a job with jsonschema; a prompt
    that `_plainly_valid_prompt` accepts would give no schema error anyway, so the result is the same.
    """
    if kind != "prompt" and not isinstance(doc, dict):
        return doc
    for path, prompt in list(_prompts_in(doc, kind)):
        if not _plainly_valid_prompt(prompt):
            continue
        if not path:
            return _STUB_PROMPT
        doc = _replaced(doc, path, _STUB_PROMPT)
    return doc


def _replaced(doc: dict[str, Any], path: JsonPath, value: Any) -> dict[str, Any]:
    head, rest = str(path[0]), path[1:]
    return {**doc, head: _replaced(doc[head], rest, value) if rest else value}


def _plainly_valid_prompt(prompt: Any) -> bool:
    """True only when `prompt` surely satisfies prompt.json; False when unsure (jsonschema then decides)."""
    if type(prompt) is not dict or not prompt:
        return False
    for node_id, node in prompt.items():
        if type(node_id) is not str or not node_id or type(node) is not dict:
            return False
        class_type, inputs = node.get("class_type"), node.get("inputs")
        if type(class_type) is not str or not class_type or type(inputs) is not dict:
            return False
        if "_meta" in node:
            meta = node["_meta"]
            if type(meta) is not dict or ("title" in meta and type(meta["title"]) is not str):
                return False
        for value in inputs.values():
            if type(value) is list and len(value) == 2 and type(value[0]) is str:
                slot = value[1]
                if not value[0] or type(slot) is not int or slot < 0:
                    return False
    return True


def _prompts_in(doc: Any, kind: str) -> Iterator[tuple[JsonPath, Any]]:
    """The API prompts a document holds, with their paths."""
    if kind == "prompt":
        yield (), doc
    elif kind in ("container", "recipe") and isinstance(doc.get("prompt"), dict):
        yield ("prompt",), doc["prompt"]
    elif kind == "job" and isinstance(doc.get("workflow"), dict) and isinstance(doc["workflow"].get("prompt"), dict):
        yield ("workflow", "prompt"), doc["workflow"]["prompt"]


def _definition_problems(doc: Any, kind: str, name: str, defs: NodeDefs) -> list[Problem]:
    from replay.nodedefs import check_prompt  # noqa: PLC0415

    found: list[Problem] = []
    for prefix, prompt in _prompts_in(doc, kind):
        base = json_path(prefix)
        for problem in check_prompt(prompt, defs):
            found.append(Problem(name, base + problem.location[1:], problem.message))
    return found


def check_job_for_fetch(job: Job, name: str) -> list[Problem]:
    """The problems that stop `fetch` from writing a job: its record against the job schema, its graphs."""
    if job.detail is not None:
        return validate_document(job.detail, "job", file=name)
    if job.prompt is not None:
        return validate_document(job.prompt, "prompt", file=name)
    if job.ui_workflow is not None:
        return validate_document(job.ui_workflow, "ui", file=name)
    return []


def require_runnable_graph(prompt: Any, file: str = "-") -> None:
    """Raise GraphError unless ``prompt`` passes the prompt schema and the graph checks.

    The message is one line: the first problem (``FILE: LOCATION: MESSAGE``) and how many more there
    are (``validate_document`` lists them all).
    """
    problems = validate_document(prompt, "prompt", file=file)
    if problems:
        more = f" (and {plural(len(problems) - 1, 'more problem')})" if len(problems) > 1 else ""
        raise GraphError(f"{problems[0]}{more}")


__all__ = [
    "KINDS",
    "Finding",
    "JsonPath",
    "Problem",
    "check_prompt_graph",
    "check_ui_graph",
    "json_path",
    "require_runnable_graph",
    "schema",
    "validate_document",
]
