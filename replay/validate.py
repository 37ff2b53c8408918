"""Check documents against comfy-replay's JSON Schemas and check prompt and UI graphs; report located problems.

Every problem carries a JSON-path location (``$["3"].inputs.model``) and a message in plain words.
``validate_document`` runs the schema of a document kind, then the graph checks the schema cannot
express: links that point nowhere, slots out of range, cycles. jsonschema is imported on first use,
so importing this module stays cheap.
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, BinaryIO

from replay.errors import GraphError, InputError

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator

    from replay.jobs import Job
    from replay.nodedefs import NodeDefs

PathElement = str | int
JsonPath = tuple[PathElement, ...]
Finding = tuple[JsonPath, str]
"""A problem found in one document: where (a path of keys and indexes) and what."""

KINDS = ("job", "history", "container", "prompt", "ui", "recipe")
"""The document kinds ``validate_document`` knows."""

_SCHEMA_FILES = {
    "job": "job.json",
    "job-cloud": "job-cloud.json",
    "history": "history.json",
    "container": "container.json",
    "prompt": "prompt.json",
    "ui": "ui-workflow.json",
    "recipe": "recipe.json",
}
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_DIGITS = re.compile(r"-?[0-9]+\Z")
_NUMBER_RUN = re.compile(r"([0-9]+)")
_EXPANSIONS = 2  # how deep a recursive $ref is copied: the top graph and one level of subgraphs


@dataclass(frozen=True)
class Problem:
    """One problem in one document: ``FILE: LOCATION: MESSAGE`` when printed."""

    file: str
    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.location}: {self.message}"


def json_path(path: Sequence[object]) -> str:
    """Return the JSON path of ``path``: ``$``, ``$.job.status``, ``$["3"].inputs.model``, ``$.nodes[4]``.

    Integers are array indexes; a key that is not an identifier (node ids such as ``"3"`` or ``"10:3"``
    included) is written as a quoted JSON string in brackets.
    """
    parts = ["$"]
    for element in path:
        if isinstance(element, int) and not isinstance(element, bool):
            parts.append(f"[{element}]")
        elif isinstance(element, str) and _IDENTIFIER.match(element):
            parts.append(f".{element}")
        else:
            parts.append(f"[{json.dumps(element, ensure_ascii=False, default=repr)}]")
    return "".join(parts)


def schema(kind: str, *, strict: bool = False) -> dict[str, Any]:
    """Return a fresh copy of the JSON Schema for ``kind`` (``strict`` picks the Cloud job schema)."""
    return _load_schema(_schema_file(kind, strict))


def validate_document(doc: Any, kind: str, *, file: str = "-", strict: bool = False) -> list[Problem]:
    """Return every problem of ``doc`` read as ``kind`` (one of ``KINDS``); an empty list means valid.

    Schema problems come first, sorted by location; then graph problems (dangling links, bad slots,
    cycles) of the prompts and UI graphs the document holds, minus those the schema already reported.
    ``strict`` holds a job to the Comfy Cloud spec exactly, the job a recipe holds included.
    """
    schema_issues = _schema_issues(_with_plain_prompts_stubbed(doc, kind), _schema_file(kind, strict))
    reported = {(path, message) for path, message, _ in schema_issues}
    wrong_type = {path for path, _, is_type_error in schema_issues if is_type_error}
    graph_findings: list[Finding] = []
    for prefix, finding in _graph_findings(doc, kind):
        path = prefix + finding[0]
        enclosing_wrong = any(path[:depth] in wrong_type for depth in range(len(path)))
        if (path, finding[1]) not in reported and not enclosing_wrong:
            graph_findings.append((path, finding[1]))
    findings = [(path, message) for path, message, _ in schema_issues] + graph_findings
    if strict and kind == "recipe" and not schema_issues:
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
    issues = _schema_issues(_with_plain_prompts_stubbed(detail, "job"), _schema_file("job", True))
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
        more = f" (and {_count(len(problems) - 1, 'more problem')})" if len(problems) > 1 else ""
        raise GraphError(f"{problems[0]}{more}")


def check_prompt_graph(prompt: Mapping[Any, Any]) -> list[Finding]:
    """Return the graph problems of an API prompt, located relative to the prompt, sorted by location.

    Each node must be an object with a non-empty ``class_type`` and an ``inputs`` object. A link is an
    input value that is a two-item list starting with a string: ``[source node id, output slot]``; its
    source must be a node of the prompt and its slot a non-negative integer. Links must not form a
    cycle; each cycle is reported once, at its first node in natural order, with its node ids in the
    order data flows. Runs iteratively, so prompts of any size are fine.
    """
    findings: list[Finding] = []
    sources: dict[Any, list[Any]] = {}
    order = sorted(prompt, key=_natural_key)
    for node_id in order:
        node = prompt[node_id]
        at: JsonPath = (node_id,)
        if not isinstance(node, Mapping):
            findings.append((at, _type_message("object", node)))
            continue
        sources[node_id] = []
        class_type = node.get("class_type")
        if "class_type" not in node:
            findings.append((at, _required_message("class_type")))
        elif not isinstance(class_type, str):
            findings.append((at + ("class_type",), _type_message("string", class_type)))
        elif not class_type:
            findings.append((at + ("class_type",), "must not be empty"))
        if "inputs" not in node:
            findings.append((at, _required_message("inputs")))
            continue
        inputs = node["inputs"]
        if not isinstance(inputs, Mapping):
            findings.append((at + ("inputs",), _type_message("object", inputs)))
            continue
        for name, value in inputs.items():
            if not _is_prompt_link(value):
                continue
            source, slot = value
            where = at + ("inputs", name)
            if source not in prompt:
                findings.append((where, f"links to node {_show(source)}, which does not exist"))
            elif isinstance(prompt[source], Mapping):
                sources[node_id].append(source)
            slot_problem = _slot_problem(slot)
            if slot_problem:
                findings.append((where + (1,), slot_problem))
    findings.extend(_cycle_findings(sources, order))
    return sorted(findings, key=_finding_key)


def check_ui_graph(ui: Mapping[str, Any]) -> list[Finding]:
    """Return the wiring problems of a UI workflow and of its subgraph definitions, sorted by location.

    Checked in the top graph and in every ``definitions.subgraphs`` entry (nested ones included):
    node ids are unique, so are link ids; a node input's ``link`` names an existing link; a link in
    use (some node input names it, or it ends at a subgraph's output node) starts and ends at nodes
    that exist, the subgraph's input node (-10) and output node (-20) counting as nodes inside a
    definition; and wherever a link's end node exists, the link's slot is within that node's
    ``outputs``/``inputs`` (for the boundary nodes: within the subgraph's ``inputs``/``outputs``).
    Links that no input uses and whose end node is gone are leftovers the frontend drops on load;
    real templates contain them, so they are not problems. Output ``links`` lists are not checked:
    the frontend rebuilds them from the links table, and real templates hold stale ids there too.
    """
    findings: list[Finding] = []
    pending: list[tuple[JsonPath, Any, bool]] = [((), ui, False)]
    while pending:
        at, graph, is_subgraph = pending.pop()
        if not isinstance(graph, Mapping):
            continue
        findings.extend(_ui_graph_level(graph, at, is_subgraph))
        definitions = graph.get("definitions")
        subgraphs = definitions.get("subgraphs") if isinstance(definitions, Mapping) else None
        if isinstance(subgraphs, list):
            for index, subgraph in enumerate(subgraphs):
                pending.append((at + ("definitions", "subgraphs", index), subgraph, True))
    return sorted(findings, key=_finding_key)


# --- schemas ---------------------------------------------------------------------------------


def warm_up() -> None:
    """Import jsonschema and compile the job and prompt validators ahead of the first document."""
    _validator(_schema_file("job", False))
    _validator(_schema_file("prompt", False))


def _schema_file(kind: str, strict: bool) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown document kind {kind!r}; expected one of {', '.join(KINDS)}")
    return _SCHEMA_FILES["job-cloud" if kind == "job" and strict else kind]


def _load_schema(file_name: str) -> dict[str, Any]:
    text = (resources.files("replay") / "schemas" / file_name).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def _validator(file_name: str) -> Validator:
    """Compile the schema once; every schema is registered so that ``$ref: "prompt.json"`` resolves."""
    from jsonschema import Draft202012Validator
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    schemas = {each["$id"]: each for each in map(_load_schema, sorted(set(_SCHEMA_FILES.values())))}
    registry: Registry[Any] = Registry().with_resources(
        (uri, DRAFT202012.create_resource(each)) for uri, each in schemas.items()
    )
    root_uri = next(uri for uri in schemas if uri.endswith("/" + file_name))
    root = _inline_refs(schemas[root_uri], root_uri, schemas, ())
    return Draft202012Validator(root, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _inline_refs(node: Any, base: str, schemas: Mapping[str, Any], expanding: tuple[str, ...]) -> Any:
    """Replace each ``$ref`` by a copy of its target, except where the target is being expanded already.

    Validation is the same; it is about 2.5 times faster because jsonschema no longer looks each
    reference up per value. A recursive reference (subgraphs hold subgraphs) stays a ``$ref``, made
    absolute so that it still resolves from wherever it was copied to. ``$defs`` are left as they are.
    """
    if isinstance(node, list):
        return [_inline_refs(item, base, schemas, expanding) for item in node]
    if not isinstance(node, dict):
        return node
    copied = {
        key: value if key == "$defs" else _inline_refs(value, base, schemas, expanding)
        for key, value in node.items()
        if key != "$ref"
    }
    if "$ref" not in node:
        return copied
    from urllib.parse import urldefrag, urljoin

    target_uri = urljoin(base, node["$ref"])
    if expanding.count(target_uri) >= _EXPANSIONS:
        return dict(copied, **{"$ref": target_uri})
    document_uri, fragment = urldefrag(target_uri)
    target: Any = schemas[document_uri]
    for part in fragment.split("/")[1:]:
        target = target[part]
    expanded = {
        key: value
        for key, value in _inline_refs(target, document_uri, schemas, expanding + (target_uri,)).items()
        if key not in ("$id", "$schema", "$defs")
    }
    return dict(copied, allOf=[*copied.get("allOf", []), expanded]) if copied else expanded


def _schema_issues(doc: Any, file_name: str) -> list[tuple[JsonPath, str, bool]]:
    """Return (path, message, the value has the wrong type) for every schema error, sorted by location."""
    issues: list[tuple[JsonPath, str, bool]] = []
    for error in _validator(file_name).iter_errors(doc):
        issues.extend(_describe(error))
    return sorted(set(issues), key=lambda issue: (_path_key(issue[0]), issue[1]))


def _describe(error: ValidationError) -> Iterator[tuple[JsonPath, str, bool]]:
    """Turn one jsonschema error into located plain-words messages (values shown as JSON, kept short)."""
    path: JsonPath = tuple(error.absolute_path)
    keyword = str(error.validator)
    expected = error.validator_value
    instance: Any = error.instance
    subschema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    custom = subschema.get("x-messages", {})
    if "propertyNames" in error.absolute_schema_path:
        # The failing instance is a key of the object at `path`: point at the key itself.
        inner = _describe_keyword(keyword, expected, instance, custom) or _shorten(error.message, 200)
        yield path + (instance,), f"key: {inner}", False
    elif keyword == "additionalProperties" and expected is False and isinstance(instance, Mapping):
        known = subschema.get("properties", {})
        for key in instance:
            if key not in known:
                yield path + (key,), custom.get(keyword, "unknown key"), False
    elif keyword in ("anyOf", "oneOf") and keyword not in custom and error.context:
        from jsonschema.exceptions import best_match

        yield from _describe(best_match(error.context))
    else:
        message = _describe_keyword(keyword, expected, instance, custom) or _shorten(error.message, 200)
        yield path, message, keyword == "type"


def _describe_keyword(keyword: str, expected: Any, instance: Any, custom: Mapping[str, str]) -> str | None:
    if keyword in custom:
        return custom[keyword]
    if keyword == "type":
        return _type_message(" or ".join(expected) if isinstance(expected, list) else str(expected), instance)
    if keyword == "enum":
        return f"must be one of {', '.join(_show(choice) for choice in expected)}, got {_show(instance)}"
    if keyword == "const":
        return f"must be {_show(expected)}, got {_show(instance)}"
    if keyword in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        bound = {"minimum": "at least", "exclusiveMinimum": "more than", "maximum": "at most"}
        return f"must be {bound.get(keyword, 'less than')} {_show(expected)}, got {_show(instance)}"
    if keyword in ("minItems", "maxItems"):
        bound_word = "at least" if keyword == "minItems" else "at most"
        return f"must have {bound_word} {_count(expected, 'item')}, got {len(instance)}"
    if keyword in ("minLength", "minProperties") and expected == 1:
        return "must not be empty"
    if keyword == "format":
        return f"{_show(instance)} is not a valid {expected}"
    if keyword == "pattern":
        return f"{_show(instance)} does not match {expected}"
    return None


# --- graphs ----------------------------------------------------------------------------------


def _graph_findings(doc: Any, kind: str) -> Iterator[tuple[JsonPath, Finding]]:
    """Yield (where the graph sits in ``doc``, finding) for every prompt and UI graph ``doc`` holds."""
    if not isinstance(doc, Mapping):
        return
    prompts: list[tuple[JsonPath, Any]] = []
    ui_graphs: list[tuple[JsonPath, Any]] = []
    if kind == "prompt":
        prompts.append(((), doc))
    elif kind == "ui":
        ui_graphs.append(((), doc))
    elif kind == "recipe":
        prompts.append((("prompt",), doc.get("prompt")))
        ui_graphs.append((("ui_workflow",), doc.get("ui_workflow")))
    elif kind == "container":
        prompts.append((("prompt",), doc.get("prompt")))
    elif kind == "job":
        workflow = doc.get("workflow")
        if isinstance(workflow, Mapping):
            prompts.append((("workflow", "prompt"), workflow.get("prompt")))
    elif kind == "history":
        entries: list[tuple[JsonPath, Any]] = (
            [((), doc)] if "prompt" in doc else [((key,), entry) for key, entry in doc.items()]
        )
        for at, entry in entries:
            queued = entry.get("prompt") if isinstance(entry, Mapping) else None
            if isinstance(queued, list) and len(queued) > 2:
                prompts.append((at + ("prompt", 2), queued[2]))
    for at, prompt in prompts:
        if isinstance(prompt, Mapping):
            yield from ((at, finding) for finding in check_prompt_graph(prompt))
    for at, ui in ui_graphs:
        if isinstance(ui, Mapping):
            yield from ((at, finding) for finding in check_ui_graph(ui))


def _is_prompt_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)


def _slot_problem(slot: Any) -> str | None:
    """Why ``slot`` is not a non-negative integer output slot, worded as the schema words it, or None."""
    if isinstance(slot, bool) or not isinstance(slot, int):
        return _type_message("integer", slot)
    if slot < 0:
        return f"must be at least 0, got {slot}"
    return None


def _cycle_findings(sources: Mapping[Any, Sequence[Any]], order: Sequence[Any]) -> list[Finding]:
    """Report one cycle per strongly connected group of nodes (or node linked to itself)."""
    findings: list[Finding] = []
    for component in _strongly_connected(sources, [node for node in order if node in sources]):
        members = set(component)
        if len(component) == 1 and component[0] not in sources[component[0]]:
            continue
        start = min(component, key=_natural_key)
        loop = _shortest_loop(start, sources, members)
        findings.append(((start,), "nodes form a cycle: " + " -> ".join(_show(node) for node in loop)))
    return findings


def _strongly_connected(graph: Mapping[Any, Sequence[Any]], order: Sequence[Any]) -> list[list[Any]]:
    """Tarjan's algorithm with an explicit stack (no recursion limit on long chains)."""
    index: dict[Any, int] = {}
    low: dict[Any, int] = {}
    stack: list[Any] = []
    on_stack: set[Any] = set()
    components: list[list[Any]] = []
    for root in order:
        if root in index:
            continue
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        work: list[tuple[Any, Iterator[Any]]] = [(root, iter(graph[root]))]
        while work:
            node, successors = work[-1]
            for successor in successors:
                if successor not in index:
                    index[successor] = low[successor] = len(index)
                    stack.append(successor)
                    on_stack.add(successor)
                    work.append((successor, iter(graph[successor])))
                    break
                if successor in on_stack:
                    low[node] = min(low[node], index[successor])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(component)
    return components


def _shortest_loop(start: Any, sources: Mapping[Any, Sequence[Any]], members: set[Any]) -> list[Any]:
    """The shortest path from ``start`` back to itself along data flow (source -> consumer) in ``members``."""
    consumers: dict[Any, list[Any]] = {member: [] for member in members}
    for member in sorted(members, key=_natural_key):
        for source in sources[member]:
            if source in members and member not in consumers[source]:
                consumers[source].append(member)
    previous: dict[Any, Any] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for consumer in consumers[node]:
            if consumer == start:
                loop = [start, node]
                while loop[-1] != start:
                    loop.append(previous[loop[-1]])
                return loop[::-1]
            if consumer not in previous:
                previous[consumer] = node
                queue.append(consumer)
    return [start, start]  # unreachable for a strongly connected group; kept total for safety


@dataclass(frozen=True)
class _UiLink:
    """One entry of a UI graph's links table, with where each field sits in the document."""

    id: int | float | str
    origin: Any
    origin_slot: Any
    target: Any
    target_slot: Any
    at: JsonPath
    fields: tuple[PathElement, PathElement, PathElement, PathElement]


def _ui_link(raw: Any, at: JsonPath) -> _UiLink | None:
    if isinstance(raw, list) and len(raw) >= 5:
        values: Sequence[Any] = raw[:5]
        fields: tuple[PathElement, PathElement, PathElement, PathElement] = (1, 2, 3, 4)
    elif isinstance(raw, Mapping):
        names = ("id", "origin_id", "origin_slot", "target_id", "target_slot")
        if any(name not in raw for name in names):
            return None
        values = [raw[name] for name in names]
        fields = ("origin_id", "origin_slot", "target_id", "target_slot")
    else:
        return None
    if isinstance(values[0], bool) or not isinstance(values[0], (int, float, str)):
        return None
    return _UiLink(values[0], values[1], values[2], values[3], values[4], at, fields)


def _ui_node_key(node_id: Any) -> str:
    """The frontend looks nodes up by id as an object key, so 5 and "5" are the same node."""
    return node_id if isinstance(node_id, str) else json.dumps(node_id, default=repr)


def _ui_slot(slot: Any) -> int | None:
    if isinstance(slot, int) and not isinstance(slot, bool):
        return slot
    if isinstance(slot, str) and _DIGITS.match(slot):
        return int(slot)
    return None


def _ui_graph_level(graph: Mapping[str, Any], at: JsonPath, is_subgraph: bool) -> list[Finding]:
    """Check one graph's wiring; ``is_subgraph`` makes the boundary nodes -10 and -20 valid ends."""
    nodes = graph.get("nodes")
    if not isinstance(nodes, list):
        return []
    findings: list[Finding] = []
    by_id: dict[str, Mapping[str, Any]] = {}
    for index, node in enumerate(nodes):
        if isinstance(node, Mapping) and "id" in node:
            key = _ui_node_key(node["id"])
            if key in by_id:
                findings.append((at + ("nodes", index, "id"), f"node id {_show(node['id'])} is used twice"))
            else:
                by_id[key] = node

    links: dict[Any, _UiLink] = {}
    raw_links = graph.get("links")
    for index, raw in enumerate(raw_links if isinstance(raw_links, list) else []):
        link = _ui_link(raw, at + ("links", index))
        if link is None:
            continue
        if link.id in links:
            findings.append((link.at, f"link id {_show(link.id)} is used twice"))
        else:
            links[link.id] = link

    used: set[Any] = set()
    for node_index, node in enumerate(nodes):
        inputs = node.get("inputs") if isinstance(node, Mapping) else None
        for input_index, node_input in enumerate(inputs if isinstance(inputs, list) else []):
            link_id = node_input.get("link") if isinstance(node_input, Mapping) else None
            if link_id is None or isinstance(link_id, (list, dict)):
                continue
            if link_id in links:
                used.add(link_id)
            else:
                where = at + ("nodes", node_index, "inputs", input_index, "link")
                findings.append((where, f"link {_show(link_id)} does not exist"))

    boundary_in = boundary_out = None
    if is_subgraph:
        boundary_in = _boundary(graph, "inputNode", "inputs", -10)
        boundary_out = _boundary(graph, "outputNode", "outputs", -20)
    for link in links.values():
        in_use = link.id in used or (
            boundary_out is not None and _ui_node_key(link.target) == boundary_out[0]
        )
        findings.extend(_ui_link_end(link, by_id, boundary_in, in_use, origin=True))
        findings.extend(_ui_link_end(link, by_id, boundary_out, in_use, origin=False))
    return findings


def _boundary(graph: Mapping[str, Any], node_key: str, slots_key: str, default_id: int) -> tuple[str, int]:
    """(node key, slot count) of a subgraph's input or output pseudo-node."""
    io_node = graph.get(node_key)
    node_id = io_node.get("id", default_id) if isinstance(io_node, Mapping) else default_id
    slots = graph.get(slots_key)
    return _ui_node_key(node_id), len(slots) if isinstance(slots, list) else 0


def _ui_link_end(
    link: _UiLink,
    by_id: Mapping[str, Mapping[str, Any]],
    boundary: tuple[str, int] | None,
    in_use: bool,
    *,
    origin: bool,
) -> list[Finding]:
    """Check the origin (or target) end of ``link``: the node exists and has the slot."""
    node_id, slot = (link.origin, link.origin_slot) if origin else (link.target, link.target_slot)
    id_field, slot_field = link.fields[0:2] if origin else link.fields[2:4]
    side, sockets = ("output", "outputs") if origin else ("input", "inputs")
    key = _ui_node_key(node_id)
    if boundary is not None and key == boundary[0]:
        count = boundary[1]
        owner = f"the subgraph's {'input' if origin else 'output'} node"
    elif key in by_id:
        node_sockets = by_id[key].get(sockets)
        count = len(node_sockets) if isinstance(node_sockets, list) else 0
        owner = f"node {_show(node_id)}"
    else:
        if not in_use:
            return []
        verb = "comes from" if origin else "goes to"
        return [
            (
                link.at + (id_field,),
                f"link {_show(link.id)} {verb} node {_show(node_id)}, which does not exist",
            )
        ]
    index = _ui_slot(slot)
    if index is None or 0 <= index < count:
        return []  # a slot that is not an integer is the schema's to report
    return [(link.at + (slot_field,), f"{owner} has no {side} slot {index} (it has {_count(count, side)})")]


# --- small helpers ---------------------------------------------------------------------------


def _natural_key(value: Any) -> tuple[Any, ...]:
    """Order node ids as people do: "2" < "10" < "10:3"."""
    parts = _NUMBER_RUN.split(value if isinstance(value, str) else str(value))
    return tuple(int(part) if index % 2 else part for index, part in enumerate(parts))


def _path_key(path: JsonPath) -> tuple[tuple[int, Any], ...]:
    return tuple((0, element) if isinstance(element, int) else (1, _natural_key(element)) for element in path)


def _finding_key(finding: Finding) -> tuple[Any, ...]:
    return (_path_key(finding[0]), finding[1])


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _show(value: Any) -> str:
    """A short JSON rendering of a value for a message; containers are named, not dumped."""
    if isinstance(value, (list, tuple)):
        return f"an array of {_count(len(value), 'item')}"
    if isinstance(value, Mapping):
        return f"an object with {_count(len(value), 'key')}"
    return _shorten(json.dumps(value, ensure_ascii=False, default=repr), 60)


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _type_message(expected: str, value: Any) -> str:
    shown = "" if value is None or isinstance(value, (list, tuple, Mapping)) else f" {_show(value)}"
    return f"expected {expected}, got {_json_type(value)}{shown}"


def _required_message(name: str) -> str:
    return f"{name!r} is a required property"


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


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
