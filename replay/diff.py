"""Node-aware comparison of two jobs (prompt or UI graph, outputs, status, error) built on deepdiff's tree view.

`diff_jobs(a, b)` returns a `JobDiff`; `to_json`, `render_text` and `render_markdown` (in `replay.diff_render`)
turn it into the SPEC §4 JSON shape, a terminal report and a pull-request table. Nodes are matched by id.
Identical nodes are skipped with a cheap strict equality walk; deepdiff only sees the nodes that differ, so
its paths (and the user's `--ignore` globs) are `root['<node id>'][...]`.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from replay.errors import InputError
from replay.jobs import Job, cached_nodes, count_output_files
from replay.workflow import is_link, natural_key

if TYPE_CHECKING:
    from replay.outputs import OutputPair, OutputStore, Thresholds

COMPARED_PROMPT = "prompt"
COMPARED_UI = "ui"

# UI keys that only place or paint things; ignored unless include_layout. `order` is recomputed by the frontend.
NODE_LAYOUT_KEYS = frozenset({"pos", "size", "order", "color", "bgcolor", "flags"})
SLOT_LAYOUT_KEYS = frozenset({"pos", "color_on", "color_off", "dir", "shape"})
GRAPH_LAYOUT_KEYS = frozenset({"groups", "reroutes", "floatingLinks"})
EXTRA_LAYOUT_KEYS = frozenset({"ds", "linkExtensions", "reroutes"})
# Counters the frontend bumps on every edit; a change in them is a consequence of another reported change.
GRAPH_DERIVED_KEYS = frozenset({"last_node_id", "last_link_id", "revision", "state"})


class _Missing:
    """The value of an input that one side does not have (distinct from JSON null)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()


# ---------------------------------------------------------------------------------------------- result model


@dataclass(frozen=True)
class NodeRef:
    """A node that exists on one side only; `subgraph` is the definition id for a node inside a UI subgraph."""

    id: str
    class_type: str
    subgraph: str | None = None


@dataclass(frozen=True)
class Change:
    """One named value that differs: `a` or `b` is MISSING when that side lacks it; `line_diff` for text."""

    name: str
    a: Any = MISSING
    b: Any = MISSING
    line_diff: tuple[str, ...] = ()


@dataclass(frozen=True)
class NodeChange:
    """A node present on both sides whose inputs (prompt) or fields (UI) differ, or whose class changed."""

    id: str
    class_type: str
    inputs: tuple[Change, ...] = ()
    class_change: tuple[str, str] | None = None
    subgraph: str | None = None


@dataclass(frozen=True)
class TitleChange:
    """A node whose title changed: reported apart from behaviour changes because it does not alter what runs."""

    id: str
    class_type: str
    a: str | None
    b: str | None
    subgraph: str | None = None


@dataclass(frozen=True)
class NodesDiff:
    """Nodes added, removed and changed, each list in natural node-id order."""

    added: tuple[NodeRef, ...] = ()
    removed: tuple[NodeRef, ...] = ()
    changed: tuple[NodeChange, ...] = ()


@dataclass(frozen=True)
class SubgraphChange:
    """A UI subgraph definition present on both sides whose own fields (name, inputs, widgets, ...) differ."""

    id: str
    name: str
    fields: tuple[Change, ...]


@dataclass(frozen=True)
class SubgraphsDiff:
    """UI subgraph definitions added, removed and changed (their inner nodes are reported under `nodes`)."""

    added: tuple[NodeRef, ...] = ()
    removed: tuple[NodeRef, ...] = ()
    changed: tuple[SubgraphChange, ...] = ()


@dataclass(frozen=True)
class OutputNodeDiff:
    """How one output node's results differ: files by (filename, subfolder, type), texts and other values."""

    id: str
    class_type: str
    count_a: int
    count_b: int
    added: tuple[dict[str, Any], ...] = ()
    removed: tuple[dict[str, Any], ...] = ()
    changed: tuple[tuple[dict[str, Any], dict[str, Any]], ...] = ()
    values: tuple[Change, ...] = ()


@dataclass(frozen=True)
class OutputsDiff:
    """Output item counts of each side and the output nodes whose results differ."""

    count_a: int
    count_b: int
    nodes: tuple[OutputNodeDiff, ...] = ()


@dataclass(frozen=True)
class ErrorInfo:
    """The part of an execution error that tells two failures apart."""

    node_id: str
    node_type: str
    exception_type: str
    message: str


@dataclass(frozen=True)
class Side:
    """What one side of the comparison is: document kind, job id, status and execution time in seconds."""

    kind: str
    id: str | None
    status: str | None
    duration: float | None


@dataclass(frozen=True)
class JobDiff:
    """Everything that differs between two jobs; `identical` ignores timing, ids and (by default) layout."""

    compared: str
    a: Side
    b: Side
    nodes: NodesDiff = field(default_factory=NodesDiff)
    titles: tuple[TitleChange, ...] = ()
    graph: tuple[Change, ...] = ()
    subgraphs: SubgraphsDiff = field(default_factory=SubgraphsDiff)
    outputs: OutputsDiff | None = None
    status: tuple[str | None, str | None] | None = None
    error: tuple[ErrorInfo | None, ErrorInfo | None] | None = None
    pairs: tuple[OutputPair, ...] | None = None
    """Outputs compared by content (SPEC §7) when both sides have artifacts; None otherwise."""
    cached: tuple[list[str] | None, list[str] | None] | None = None
    """The nodes each side took from ComfyUI's cache (None for a side that does not say); None for non-runs."""

    @property
    def identical(self) -> bool:
        """True when nothing but timing, ids or ignored layout differs (and outputs agree within tolerance)."""
        nodes, subgraphs = self.nodes, self.subgraphs
        return not (
            nodes.added or nodes.removed or nodes.changed or self.titles or self.graph
            or subgraphs.added or subgraphs.removed or subgraphs.changed
            or (self.outputs is not None and self.outputs.nodes)
            or self.status is not None or self.error is not None
            or (self.pairs is not None and not all(pair.within_tolerance for pair in self.pairs))
        )


# ---------------------------------------------------------------------------------------------- helpers


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _close(x: float, y: float, tolerance: float | None) -> bool:
    if x == y or (x != x and y != y):  # NaN on both sides is the same JSON value
        return True
    return tolerance is not None and math.isclose(x, y, abs_tol=tolerance)


def values_equal(x: Any, y: Any, tolerance: float | None = None) -> bool:
    """Compare two JSON values strictly: `1 == 1.0` but `1 != true`; numbers within `tolerance` are equal.

    The cheap test that lets unchanged nodes skip deepdiff; it must agree with the deepdiff settings used below.
    """
    if x is y:
        return True
    tx, ty = type(x), type(y)
    if tx is dict:
        if ty is not dict or len(x) != len(y):
            return False
        for key, value in x.items():
            if key not in y or not values_equal(value, y[key], tolerance):
                return False
        return True
    if tx is list:
        if ty is not list or len(x) != len(y):
            return False
        if is_link(x):  # a slot number is an identity, never "close enough"
            tolerance = None
        return all(values_equal(p, q, tolerance) for p, q in zip(x, y, strict=True))
    if tx is bool or ty is bool:
        return tx is ty and x == y
    if _is_number(x) and _is_number(y):
        return _close(x, y, tolerance)
    return tx is ty and bool(x == y)


def line_diff(a: Any, b: Any) -> tuple[str, ...]:
    """Unified-diff lines (hunk headers kept, file headers dropped) when either side is multi-line text."""
    if not (isinstance(a, str) and isinstance(b, str)) or ("\n" not in a and "\n" not in b):
        return ()
    lines = difflib.unified_diff(a.splitlines(), b.splitlines(), lineterm="", n=2)
    return tuple(line for line in lines if not line.startswith(("---", "+++")))


def _change(name: str, a: Any, b: Any) -> Change:
    return Change(name=name, a=a, b=b, line_diff=line_diff(a, b))


def _get_path(obj: Any, path: Sequence[Any]) -> Any:
    for step in path:
        if isinstance(obj, dict) and isinstance(step, str) and step in obj:
            obj = obj[step]
        elif isinstance(obj, list) and isinstance(step, int) and 0 <= step < len(obj):
            obj = obj[step]
        else:
            return MISSING
    return obj


def path_name(path: Sequence[Any]) -> str:
    """Render a path inside a node as `widgets_values[2]`, `properties.cnr_id`, `inputs.model`."""
    text = ""
    for step in path:
        if isinstance(step, int):
            text += f"[{step}]"
        else:
            text += f".{step}" if text else str(step)
    return text


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
            if _is_number(level.t1) and _is_number(level.t2):
                in_link = level.up is not None and is_link(level.up.t1)
                if _close(level.t1, level.t2, None if in_link else tolerance):
                    continue
            paths.append(level.path(output_format="list"))
    return paths


_PATH_RE = re.compile(r"""^root(\[(\*\*|\*|-?\d+|'[^']*'|"[^"]*")\])*$""")


def _check_ignore(ignore: Sequence[str]) -> None:
    """Refuse patterns deepdiff would silently never match (it does not report malformed paths)."""
    for pattern in ignore:
        if not isinstance(pattern, str) or not pattern.strip():
            raise InputError("an --ignore pattern is empty: give a deepdiff path such as root[**]['seed']")
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
            meta_a, meta_b = (_strip(n.get("_meta", MISSING), frozenset({"title"})) for n in (node_a, node_b))
            if not values_equal(meta_a or MISSING, meta_b or MISSING, tolerance):
                per_node.setdefault(node_id, {})["_meta"] = (["_meta"], _change("_meta", meta_a, meta_b))
            continue
        steps, name = cut(path[1:])
        changes = per_node.setdefault(node_id, {})
        if name not in changes:
            value_a, value_b = _get_path(node_a, steps), _get_path(node_b, steps)
            if not values_equal(value_a, value_b, tolerance):
                changes[name] = (steps, _change(name, value_a, value_b))

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


def _rank(node_a: dict[str, Any], node_b: dict[str, Any]) -> Callable[[list[Any]], tuple[int, int]]:
    """Sort key for changes inside a node: fields (and keys within them) in a's order, then b's new ones."""
    order: dict[tuple[Any, ...], int] = {}
    for node in (node_a, node_b):
        for name, value in node.items():
            order.setdefault((name,), len(order))
            if isinstance(value, dict):
                for sub in value:
                    order.setdefault((name, sub), len(order))

    def key(steps: list[Any]) -> tuple[int, int]:
        first = order.get((steps[0],), len(order))
        if len(steps) < 2:
            return (first, -1)
        second = steps[1] if isinstance(steps[1], int) else order.get((steps[0], steps[1]), len(order))
        return (first, second)

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


def link_table(links: Any) -> dict[Any, tuple[Any, Any]]:
    """Map link id -> (origin node id, origin slot) for v0.4 tuples and v1 link objects."""
    table: dict[Any, tuple[Any, Any]] = {}
    for link in links if isinstance(links, list) else []:
        if isinstance(link, list) and len(link) >= 3:
            table[link[0]] = (link[1], link[2])
        elif isinstance(link, dict) and "id" in link:
            table[link["id"]] = (link.get("origin_id"), link.get("origin_slot"))
    return table


def _strip(item: Any, drop: frozenset[str]) -> Any:
    return {k: v for k, v in item.items() if k not in drop} if isinstance(item, dict) else item


def ui_node_fields(node: dict[str, Any], links: dict[Any, tuple[Any, Any]], include_layout: bool) -> dict[str, Any]:
    """A UI node as compared: layout dropped, inputs keyed by name, link ids replaced by `[node, slot]`.

    Each input becomes `{"link": [origin node, slot] | None, ...its other slot fields}`; the links lists of
    outputs are dropped (they repeat the inputs' links from the other end).
    """
    slot_drop = frozenset({"link", "links"}) | (frozenset() if include_layout else SLOT_LAYOUT_KEYS)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key == "id" or (not include_layout and key in NODE_LAYOUT_KEYS):
            continue
        if key == "inputs" and isinstance(value, list):
            inputs: dict[str, Any] = {}
            for index, slot in enumerate(value):
                name = str(slot.get("name", index)) if isinstance(slot, dict) else str(index)
                name = name if name not in inputs else f"{name}#{index}"
                link_id = slot.get("link") if isinstance(slot, dict) else None
                if link_id is None:
                    source: Any = None
                elif link_id in links:
                    origin, origin_slot = links[link_id]
                    source = [str(origin), origin_slot]
                else:
                    source = f"dangling link {link_id}"
                inputs[name] = {"link": source, **_strip(slot, slot_drop | {"name"})}
            out["inputs"] = inputs
        elif key == "outputs" and isinstance(value, list):
            out["outputs"] = [_strip(slot, slot_drop) for slot in value]
        else:
            out[key] = value
    return out


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


def graph_fields(graph: dict[str, Any], include_layout: bool, *, subgraph: bool) -> dict[str, Any]:
    """The graph's own fields as compared: nodes, links and counters out; layout out unless asked for."""
    drop = {"nodes", "links", "definitions", "id"} | GRAPH_DERIVED_KEYS
    if not include_layout:
        drop |= GRAPH_LAYOUT_KEYS
    out = {k: v for k, v in graph.items() if k not in drop}
    if subgraph:
        out["name"] = graph.get("name")
    if include_layout:
        return out
    if isinstance(out.get("extra"), dict):
        out["extra"] = _strip(out["extra"], EXTRA_LAYOUT_KEYS)
    for key in ("inputNode", "outputNode"):
        if isinstance(out.get(key), dict):
            out[key] = _strip(out[key], frozenset({"bounding"}))
    for key in ("inputs", "outputs"):  # subgraph boundary slots: linkIds are derived, pos is layout
        if isinstance(out.get(key), list):
            out[key] = [_strip(slot, frozenset({"linkIds", "pos"})) for slot in out[key]]
    return out


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
            changes[name] = _change(name, _get_path(a, steps), _get_path(b, steps))
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


# ---------------------------------------------------------------------------------------------- outputs


def _file_key(item: dict[str, Any]) -> tuple[str, str, str]:
    return (str(item.get("filename")), str(item.get("subfolder", "")), str(item.get("type", "")))


def _diff_output_node(node_id: str, class_type: str, a: Any, b: Any, tolerance: float | None) -> OutputNodeDiff | None:
    a = a if isinstance(a, dict) else {}
    b = b if isinstance(b, dict) else {}
    count_a, count_b = count_output_files({node_id: a}), count_output_files({node_id: b})
    added: list[dict[str, Any]] = []
    removed: list[dict[str, Any]] = []
    changed: list[tuple[dict[str, Any], dict[str, Any]]] = []
    values: list[Change] = []
    for kind in list(a) + [k for k in b if k not in a]:
        items_a, items_b = a.get(kind, MISSING), b.get(kind, MISSING)
        if values_equal(items_a, items_b, tolerance):
            continue
        list_a = items_a if isinstance(items_a, list) else []
        list_b = items_b if isinstance(items_b, list) else []
        files_a = [x for x in list_a if isinstance(x, dict) and "filename" in x]
        files_b = [x for x in list_b if isinstance(x, dict) and "filename" in x]
        if (files_a or files_b) and len(files_a) == len(list_a) and len(files_b) == len(list_b):
            # Same file on both sides: unchanged (or changed in its other keys); the rest paired up in order.
            keys_b = {_file_key(x): x for x in files_b}
            keys_a = {_file_key(x) for x in files_a}
            only_a = []
            for item in files_a:
                twin = keys_b.get(_file_key(item))
                if twin is None:
                    only_a.append(item)
                elif not values_equal(item, twin, tolerance):
                    changed.append(({"kind": kind, **item}, {"kind": kind, **twin}))
            only_b = [x for x in files_b if _file_key(x) not in keys_a]
            for old, new in zip(only_a, only_b, strict=False):
                changed.append(({"kind": kind, **old}, {"kind": kind, **new}))
            removed += [{"kind": kind, **x} for x in only_a[len(only_b):]]
            added += [{"kind": kind, **x} for x in only_b[len(only_a):]]
        elif all(isinstance(x, str) for x in list_a + list_b) and (list_a or list_b):
            for index in range(max(len(list_a), len(list_b))):
                text_a = list_a[index] if index < len(list_a) else MISSING
                text_b = list_b[index] if index < len(list_b) else MISSING
                if text_a != text_b:
                    name = kind if max(len(list_a), len(list_b)) == 1 else f"{kind}[{index}]"
                    values.append(_change(name, text_a, text_b))
        else:
            values.append(_change(kind, items_a, items_b))
    if not (added or removed or changed or values):
        return None
    return OutputNodeDiff(node_id, class_type, count_a, count_b, tuple(added), tuple(removed), tuple(changed),
                          tuple(values))


def _diff_outputs(a: Job, b: Job, tolerance: float | None) -> OutputsDiff:
    def class_of(node_id: str) -> str:
        # The class of the node that produced the output: b's when b has outputs there, else a's.
        sides = (b, a) if node_id in b.outputs else (a, b)
        for job in sides:
            node = job.prompt.get(node_id) if job.prompt else None
            if isinstance(node, dict) and "class_type" in node:
                return str(node["class_type"])
        return ""

    nodes = []
    for node_id in sorted(set(a.outputs) | set(b.outputs), key=natural_key):
        found = _diff_output_node(node_id, class_of(node_id), a.outputs.get(node_id), b.outputs.get(node_id),
                                  tolerance)
        if found is not None:
            nodes.append(found)
    return OutputsDiff(count_output_files(a.outputs), count_output_files(b.outputs), tuple(nodes))


def _texts_only(outputs: OutputsDiff) -> OutputsDiff:
    """The output differences left once files are compared by content: text and other values, not file names."""
    nodes = tuple(replace(node, added=(), removed=(), changed=()) for node in outputs.nodes if node.values)
    return replace(outputs, nodes=nodes)


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
    if tolerance is not None and (not _is_number(tolerance) or not tolerance >= 0):
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
    if a.status is not None and b.status is not None:
        outputs = _diff_outputs(a, b, tolerance)
        status = (a.status, b.status) if a.status != b.status else None
        errors = (_error_info(a), _error_info(b))
        error = errors if errors[0] != errors[1] else None
        cached = (cached_nodes(a), cached_nodes(b))
        if a.artifacts is not None and b.artifacts is not None:
            from replay.artifacts import compare_job_outputs  # noqa: PLC0415 - Pillow only when there are artifacts

            found = compare_job_outputs(a, b, stores=stores, thresholds=thresholds)
            pairs = tuple(found) if found is not None else None
            outputs = _texts_only(outputs)
    return JobDiff(
        compared=compared, a=_side(a), b=_side(b), nodes=nodes, titles=titles, graph=graph,
        subgraphs=subgraphs, outputs=outputs, status=status, error=error, pairs=pairs, cached=cached,
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
