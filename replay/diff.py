"""Node-aware comparison of two jobs (prompt or UI graph, outputs, status, error) built on deepdiff's tree view.

`diff_jobs(a, b)` returns a `JobDiff`; `to_json`, `render_text` and `render_markdown` (in `replay.diff_render`)
turn it into the SPEC §4 JSON shape, a terminal report and a pull-request table. Nodes are matched by id.
Identical nodes are skipped with a cheap strict equality walk; deepdiff only sees the nodes that differ, so
its paths (and the user's `--ignore` globs) are `root['<node id>'][...]`.
The result model is `replay.diff_model`, value comparison `replay.diff_values`, the UI fields compared
`replay.ui_fields`, recorded outputs `replay.diff_outputs`; their public names are importable from here too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from replay.diff_model import (
    COMPARED_PROMPT,
    COMPARED_UI,
    MISSING,
    Change,
    ErrorInfo,
    JobDiff,
    NodeChange,
    NodeRef,
    NodesDiff,
    OutputNodeDiff,
    OutputsDiff,
    Side,
    SubgraphChange,
    SubgraphsDiff,
    TitleChange,
)
from replay.diff_outputs import diff_outputs, texts_only
from replay.diff_values import (
    change,
    close,
    get_path,
    is_number,
    line_diff,
    path_name,
    values_equal,
    without_keys,
)
from replay.environment_diff import diff_environments
from replay.errors import InputError
from replay.jobs import Job, all_outputs_cached, cached_nodes
from replay.ui_fields import graph_fields, link_table, ui_node_fields
from replay.workflow import is_link, natural_key

if TYPE_CHECKING:
    from replay.outputs import OutputStore, Thresholds


# ---------------------------------------------------------------------------------------------- deepdiff


def _deepdiff_paths(
    t1: dict[str, Any], t2: dict[str, Any], tolerance: float | None, ignore: Sequence[str]
) -> list[list[Any]]:
    """Return the path (as a list) of every difference deepdiff's tree view finds between t1 and t2.

    Numeric type changes are kept by deepdiff (so `true` vs `1` shows) and dropped here when the two numbers
    are equal (so `1` vs `1.0` does not). The tolerance is applied here too rather than as deepdiff's
    `math_epsilon`, so that it never reaches the slot number of a link.
    """
    from deepdiff import DeepDiff  # lazy: importing deepdiff costs more than the CLI's whole start-up

    options: dict[str, Any] = {
        "view": "tree",
        "ignore_order": False,  # a rewired link [node, slot] must never compare equal to another
        "threshold_to_diff_deeper": 0,  # always report leaf paths, never "the whole node changed"
        "ignore_nan_inequality": True,
        "verbose_level": 2,
    }
    if ignore:
        options["exclude_paths"] = list(ignore)
    try:
        tree = DeepDiff(t1, t2, **options)
    except (ValueError, TypeError, KeyError) as exc:
        shown = f" with the --ignore patterns {list(ignore)}" if ignore else ""
        raise InputError(f"deepdiff could not compare the two workflows{shown}: {exc}") from exc
    paths: list[list[Any]] = []
    for levels in tree.values():
        for level in levels:
            if is_number(level.t1) and is_number(level.t2):
                in_link = level.up is not None and is_link(level.up.t1)
                if close(level.t1, level.t2, None if in_link else tolerance):
                    continue
            paths.append(level.path(output_format="list"))
    return paths


_PATH_RE = re.compile(r"""^root(\[(\*\*|\*|-?\d+|'[^']*'|"[^"]*")\])*$""")


def _check_ignore(ignore: Sequence[str]) -> None:
    """Refuse patterns deepdiff would silently never match (it does not report malformed paths)."""
    for pattern in ignore:
        if not isinstance(pattern, str) or not pattern.strip():
            raise InputError("an --ignore pattern is empty: give a deepdiff path such as root[**]['seed']")
        if not pattern.startswith(("root[", "[")) and pattern != "root":
            word = pattern.strip()
            raise InputError(
                f"--ignore {pattern}: a bare word matches nothing; write root[**]['{word}'] for every key named "
                f"{word}, or root['{word}'] for node {word}"
            )
        if pattern.startswith("root") or "[" in pattern or "]" in pattern:
            if not _PATH_RE.match(pattern):
                raise InputError(
                    f"--ignore {pattern}: not a deepdiff path; write root['3']['inputs']['seed'], "
                    "root[*]['inputs']['seed'] or root[**]['seed'] (a bare word is a node id)"
                )


# ---------------------------------------------------------------------------------------------- node matching


@dataclass
class _Graph:
    """Nodes of one graph keyed by id, already normalised for comparison, with their class names."""

    nodes: dict[str, dict[str, Any]]
    classes: dict[str, str]
    subgraph: str | None = None


def _diff_graph(
    a: _Graph,
    b: _Graph,
    *,
    tolerance: float | None,
    ignore: Sequence[str],
    class_key: str,
    title_of: Callable[[dict[str, Any]], Any],
    cut: Callable[[list[Any]], tuple[list[Any], str]],
) -> tuple[list[NodeRef], list[NodeRef], list[NodeChange], list[TitleChange]]:
    """Compare two graphs node by node; deepdiff sees only the nodes that are not strictly equal."""
    t1: dict[str, Any] = {}
    t2: dict[str, Any] = {}
    for node_id, node in a.nodes.items():
        other = b.nodes.get(node_id, MISSING)
        if other is MISSING:
            t1[node_id] = node
        elif not values_equal(node, other, tolerance):
            t1[node_id], t2[node_id] = node, other
    for node_id, node in b.nodes.items():
        if node_id not in a.nodes:
            t2[node_id] = node
    if not t1 and not t2:
        return [], [], [], []

    added: list[NodeRef] = []
    removed: list[NodeRef] = []
    titles: dict[str, TitleChange] = {}
    per_node: dict[str, dict[str, tuple[list[Any], Change]]] = {}
    class_changes: dict[str, tuple[str, str]] = {}
    for path in _deepdiff_paths(t1, t2, tolerance, ignore):
        node_id = str(path[0])
        if len(path) == 1:
            if node_id in a.nodes and node_id not in b.nodes:
                removed.append(NodeRef(node_id, a.classes[node_id], a.subgraph))
            elif node_id in b.nodes and node_id not in a.nodes:
                added.append(NodeRef(node_id, b.classes[node_id], b.subgraph))
            continue
        node_a, node_b = a.nodes[node_id], b.nodes[node_id]
        if path[1] == class_key:
            class_changes[node_id] = (a.classes[node_id], b.classes[node_id])
            continue
        title_a, title_b = title_of(node_a), title_of(node_b)
        if _is_title_path(path, class_key):
            if title_a != title_b:
                titles[node_id] = TitleChange(
                    node_id, b.classes[node_id], None if title_a is MISSING else title_a,
                    None if title_b is MISSING else title_b, b.subgraph,
                )
            if len(path) > 2 or class_key != "class_type":
                continue
            # The whole _meta appeared or vanished: anything in it besides the title is reported as a field.
            meta_a, meta_b = (without_keys(n.get("_meta", MISSING), frozenset({"title"})) for n in (node_a, node_b))
            if not values_equal(meta_a or MISSING, meta_b or MISSING, tolerance):
                per_node.setdefault(node_id, {})["_meta"] = (["_meta"], change("_meta", meta_a, meta_b))
            continue
        steps, name = cut(path[1:])
        changes = per_node.setdefault(node_id, {})
        if name not in changes:
            value_a, value_b = get_path(node_a, steps), get_path(node_b, steps)
            if not values_equal(value_a, value_b, tolerance):
                changes[name] = (steps, change(name, value_a, value_b))

    changed: list[NodeChange] = []
    for node_id in sorted(set(per_node) | set(class_changes), key=natural_key):
        found = per_node.get(node_id, {})
        if found or node_id in class_changes:
            rank = _rank(a.nodes[node_id], b.nodes[node_id])
            ordered = tuple(change for steps, change in sorted(found.values(), key=lambda sc: rank(sc[0])))
            changed.append(NodeChange(node_id, b.classes[node_id], ordered, class_changes.get(node_id), b.subgraph))
    by_id = lambda ref: natural_key(ref.id)  # noqa: E731
    return sorted(added, key=by_id), sorted(removed, key=by_id), changed, sorted(titles.values(), key=by_id)


def _is_title_path(path: list[Any], class_key: str) -> bool:
    if class_key == "class_type":  # API prompt: the title lives in _meta.title
        return bool(path[1] == "_meta" and (len(path) == 2 or path[2] == "title"))
    return bool(path[1] == "title")


def _rank(node_a: dict[str, Any], node_b: dict[str, Any]) -> Callable[[list[Any]], tuple[Any, ...]]:
    """Sort key for changes inside a node: fields (and keys within them) in a's order, then b's new ones; deeper
    steps by index or name, so the order never depends on deepdiff's (hash-seeded) traversal."""
    order: dict[tuple[Any, ...], int] = {}
    for node in (node_a, node_b):
        for name, value in node.items():
            order.setdefault((name,), len(order))
            if isinstance(value, dict):
                for sub in value:
                    order.setdefault((name, sub), len(order))

    def key(steps: list[Any]) -> tuple[Any, ...]:
        first = order.get((steps[0],), len(order))
        if len(steps) < 2:
            return (first, -1, ())
        second = steps[1] if isinstance(steps[1], int) else order.get((steps[0], steps[1]), len(order))
        deeper = tuple((0, step, "") if isinstance(step, int) else (1, 0, str(step)) for step in steps[2:])
        return (first, second, deeper)

    return key


# ---------------------------------------------------------------------------------------------- prompt diff


def _prompt_graph(prompt: Mapping[str, Any]) -> _Graph:
    nodes: dict[str, dict[str, Any]] = {}
    classes: dict[str, str] = {}
    for node_id, node in prompt.items():
        node = node if isinstance(node, dict) else {"class_type": "", "inputs": {}}
        nodes[str(node_id)] = node
        classes[str(node_id)] = str(node.get("class_type", ""))
    return _Graph(nodes, classes)


def _prompt_cut(path: list[Any]) -> tuple[list[Any], str]:
    """Report a prompt change per input (the whole value), or per other node field."""
    if path[0] == "inputs" and len(path) >= 2:
        return path[:2], str(path[1])
    if path[0] == "_meta" and len(path) >= 2:
        return path[:2], path_name(path[:2])
    return path[:1], str(path[0])


def _prompt_title(node: dict[str, Any]) -> Any:
    meta = node.get("_meta")
    return meta.get("title", MISSING) if isinstance(meta, dict) else MISSING


def _diff_prompts(
    a: Mapping[str, Any], b: Mapping[str, Any], tolerance: float | None, ignore: Sequence[str]
) -> tuple[NodesDiff, tuple[TitleChange, ...]]:
    added, removed, changed, titles = _diff_graph(
        _prompt_graph(a), _prompt_graph(b), tolerance=tolerance, ignore=ignore,
        class_key="class_type", title_of=_prompt_title, cut=_prompt_cut,
    )
    return NodesDiff(tuple(added), tuple(removed), tuple(changed)), tuple(titles)


# ---------------------------------------------------------------------------------------------- UI diff



def _ui_graph(graph: dict[str, Any], include_layout: bool, subgraph: str | None) -> _Graph:
    links = link_table(graph.get("links"))
    nodes: dict[str, dict[str, Any]] = {}
    classes: dict[str, str] = {}
    for node in graph.get("nodes") or []:
        if not isinstance(node, dict):
            continue
        node_id = str(node.get("id"))
        while node_id in nodes:  # a broken graph with a duplicated id: keep both, told apart
            node_id += "#"
        nodes[node_id] = ui_node_fields(node, links, include_layout)
        classes[node_id] = str(node.get("type", ""))
    return _Graph(nodes, classes, subgraph)


_UI_DEEP_FIELDS = {"widgets_values": 2, "widgets_values_named": 2, "properties": 2, "inputs": 3, "outputs": 3}


def _ui_cut(path: list[Any]) -> tuple[list[Any], str]:
    """Report a UI change per widget value, property, input connection or slot field, else per node field."""
    depth = _UI_DEEP_FIELDS.get(path[0], 1) if isinstance(path[0], str) else 1
    steps = path[:depth]
    return steps, path_name(steps)


def _ui_title(node: dict[str, Any]) -> Any:
    return node.get("title", MISSING)



def _diff_fields(a: dict[str, Any], b: dict[str, Any], tolerance: float | None) -> tuple[Change, ...]:
    if values_equal(a, b, tolerance):
        return ()
    changes: dict[str, Change] = {}
    for path in _deepdiff_paths({"g": a}, {"g": b}, tolerance, ()):
        deep = path[1] in ("extra", "config", "inputs", "outputs", "widgets")
        steps = path[1:3] if deep else path[1:2]
        if not steps:
            continue
        name = path_name(steps)
        if name not in changes:
            changes[name] = change(name, get_path(a, steps), get_path(b, steps))
    return tuple(sorted(changes.values(), key=lambda c: c.name))


def _subgraphs(graph: dict[str, Any]) -> dict[str, dict[str, Any]]:
    definitions = graph.get("definitions")
    found = definitions.get("subgraphs") if isinstance(definitions, dict) else None
    return {str(sg.get("id")): sg for sg in found or [] if isinstance(sg, dict)}


def _diff_ui(
    a: dict[str, Any], b: dict[str, Any], tolerance: float | None, ignore: Sequence[str], include_layout: bool
) -> tuple[NodesDiff, tuple[TitleChange, ...], tuple[Change, ...], SubgraphsDiff]:
    options: dict[str, Any] = {"tolerance": tolerance, "ignore": ignore, "class_key": "type",
                               "title_of": _ui_title, "cut": _ui_cut}
    added, removed, changed, titles = _diff_graph(
        _ui_graph(a, include_layout, None), _ui_graph(b, include_layout, None), **options
    )
    graph = _diff_fields(graph_fields(a, include_layout, subgraph=False),
                         graph_fields(b, include_layout, subgraph=False), tolerance)
    subs_a, subs_b = _subgraphs(a), _subgraphs(b)
    sg_changed: list[SubgraphChange] = []
    for sg_id in sorted(set(subs_a) & set(subs_b)):
        sg_a, sg_b = subs_a[sg_id], subs_b[sg_id]
        more = _diff_graph(_ui_graph(sg_a, include_layout, sg_id), _ui_graph(sg_b, include_layout, sg_id), **options)
        added += more[0]
        removed += more[1]
        changed += more[2]
        titles += more[3]
        fields = _diff_fields(graph_fields(sg_a, include_layout, subgraph=True),
                              graph_fields(sg_b, include_layout, subgraph=True), tolerance)
        if fields:
            sg_changed.append(SubgraphChange(sg_id, str(sg_b.get("name", "")), fields))
    subgraphs = SubgraphsDiff(
        added=tuple(NodeRef(i, str(subs_b[i].get("name", ""))) for i in sorted(set(subs_b) - set(subs_a))),
        removed=tuple(NodeRef(i, str(subs_a[i].get("name", ""))) for i in sorted(set(subs_a) - set(subs_b))),
        changed=tuple(sg_changed),
    )
    nodes = NodesDiff(tuple(added), tuple(removed), tuple(changed))
    return nodes, tuple(titles), graph, subgraphs



# ---------------------------------------------------------------------------------------------- entry point


def _error_info(job: Job) -> ErrorInfo | None:
    if job.error is None:
        return None
    error = job.error
    return ErrorInfo(error.node_id, error.node_type, error.exception_type, error.exception_message.rstrip("\n"))


def _side(job: Job) -> Side:
    return Side(kind=job.kind, id=job.id, status=job.status, duration=job.duration)


def _choose(a: Job, b: Job, ui: bool, include_layout: bool) -> str:
    """Compare prompts when both sides have one (unless ui), UI graphs when a side has only a UI graph.

    Asking for layout means asking for the UI graphs whenever both sides have one (prompts have no layout).
    """
    both_ui = a.ui_workflow is not None and b.ui_workflow is not None
    if not ui and a.prompt is not None and b.prompt is not None and not (include_layout and both_ui):
        return COMPARED_PROMPT
    if both_ui:
        return COMPARED_UI
    for name, job in (("A", a), ("B", b)):
        if ui and job.ui_workflow is None:
            raise InputError(f"{name} has no UI workflow (it is {_what(job)}); drop --ui to compare API prompts")
        if job.prompt is None and job.ui_workflow is None:
            raise InputError(f"{name} has no workflow to compare (it is {_what(job)}, status {job.status})")
    raise InputError(
        f"cannot compare {_what(a)} with {_what(b)}: one side has only an API prompt and the other only a UI "
        "workflow; convert the UI workflow first (comfy-replay convert)"
    )


def _what(job: Job) -> str:
    if job.prompt is not None and job.ui_workflow is None:
        return "an API prompt" if job.kind == "prompt" else f"a {job.kind} without a UI workflow"
    if job.ui_workflow is not None and job.prompt is None:
        return "a UI workflow"
    return f"a {job.kind}"


def diff_jobs(
    a: Job,
    b: Job,
    *,
    tolerance: float | None = None,
    ignore: Sequence[str] = (),
    include_layout: bool = False,
    ui: bool = False,
    thresholds: Thresholds | None = None,
    stores: Sequence[OutputStore | None] = (None, None),
) -> JobDiff:
    """Compare two jobs node by node and return what differs (workflow, outputs, status, error).

    The API prompts are compared when both sides have one; the UI graphs when a side has only a UI graph, or
    with `ui=True` (or `include_layout=True` when both sides have one). `tolerance` makes numbers within it equal; `ignore` holds deepdiff glob paths rooted at the
    node map (`root[**]['seed']`); UI layout is ignored unless `include_layout`. Outputs, status and error are
    compared when both sides are runs (have a status). When both have `artifacts`, output files are compared
    by content (`pairs`, judged with `thresholds`, pixel metrics for files found in `stores`) and file names
    no longer count. Raises InputError when the two cannot be compared.
    """
    if tolerance is not None and (not is_number(tolerance) or not tolerance >= 0):
        raise InputError(f"--tolerance must be a number >= 0, not {tolerance!r}")
    _check_ignore(ignore)
    compared = _choose(a, b, ui, include_layout)
    graph: tuple[Change, ...] = ()
    subgraphs = SubgraphsDiff()
    if compared == COMPARED_PROMPT:
        assert a.prompt is not None and b.prompt is not None
        nodes, titles = _diff_prompts(a.prompt, b.prompt, tolerance, ignore)
    else:
        assert a.ui_workflow is not None and b.ui_workflow is not None
        nodes, titles, graph, subgraphs = _diff_ui(a.ui_workflow, b.ui_workflow, tolerance, ignore, include_layout)
    outputs = status = error = pairs = cached = None
    outputs_cached = (False, False)
    store_a, store_b = (list(stores) + [None, None])[:2]
    if a.status is not None and b.status is not None:
        outputs = diff_outputs(a, b, tolerance)
        status = (a.status, b.status) if a.status != b.status else None
        errors = (_error_info(a), _error_info(b))
        error = errors if errors[0] != errors[1] else None
        cached = (cached_nodes(a), cached_nodes(b))
        outputs_cached = (all_outputs_cached(a), all_outputs_cached(b))
        if a.artifacts is not None and b.artifacts is not None:
            from replay.artifacts import compare_job_outputs  # noqa: PLC0415 - Pillow only when there are artifacts

            found = compare_job_outputs(a, b, stores=stores, thresholds=thresholds)
            pairs = tuple(found) if found is not None else None
            outputs = texts_only(outputs)
    return JobDiff(
        compared=compared, a=_side(a), b=_side(b), nodes=nodes, titles=titles, graph=graph,
        subgraphs=subgraphs, outputs=outputs, status=status, error=error, pairs=pairs, cached=cached,
        outputs_cached=outputs_cached, stores=(store_a, store_b), environment=tuple(diff_environments(a.environment, b.environment)),
    )


__all__ = [
    "MISSING",
    "Change",
    "ErrorInfo",
    "JobDiff",
    "NodeChange",
    "NodeRef",
    "NodesDiff",
    "OutputNodeDiff",
    "OutputsDiff",
    "Side",
    "SubgraphChange",
    "SubgraphsDiff",
    "TitleChange",
    "diff_jobs",
    "graph_fields",
    "is_link",
    "line_diff",
    "link_table",
    "natural_key",
    "path_name",
    "ui_node_fields",
    "values_equal",
]
