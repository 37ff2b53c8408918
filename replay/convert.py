"""UI workflow → API prompt conversion, following the ComfyUI frontend's ``graphToPrompt``.

A UI graph stores widget values by position (``widgets_values``), so the node definitions from
``/object_info`` are needed to name them (`replay.nodedefs`). Links are resolved the way the
frontend's ``ExecutableNodeDTO`` does: through ``Reroute`` nodes, around bypassed nodes (mode 4) by
the first input of a matching type, into and out of subgraphs (inner nodes get path ids such as
``"12:5"``), and ``PrimitiveNode`` values are written into the inputs they feed. Muted nodes
(mode 2) and notes are dropped, and so is every input that links to a node not in the result.

Inner node ids that collide with ids already used are renumbered as the frontend does on load;
instances nested in a subgraph are expanded whatever their mode. Widget values are named after the
definitions by `replay.widget_values` (`FRONTEND_WIDGETS`, `widget_slot` and the readers live there and
are re-exported here). docs/convert.md lists what the converter knows and refuses.

``widgets_values`` given as an object (some custom nodes save ``{name: value}``) is read by widget
name instead of by position. Values the frontend would have created but the file lacks (a workflow
saved before an input was added) take the definition's default, and each such node is noted.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from replay.errors import InputError
from replay.nodedefs import InputDef, NodeDef, NodeDefs, types_match
from replay.widget_values import (
    FRONTEND_WIDGETS,
    FrontendWidgets,
    NamedValues,
    PositionalValues,
    input_slots,
    widget_slot,
)
from replay.workflow import natural_key

PRIMITIVE = "PrimitiveNode"
REROUTE = "Reroute"
NOTES = frozenset({"Note", "MarkdownNote"})
FRONTEND_ONLY = NOTES | {PRIMITIVE, REROUTE}
MUTED, BYPASSED = 2, 4


@dataclass
class Conversion:
    """The result of converting a UI workflow."""

    prompt: dict[str, Any]
    """The API prompt: node id (string, natural order) → ``{inputs, class_type, _meta}``."""
    unknown: dict[str, list[str]] = field(default_factory=dict)
    """Node classes missing from the definitions → the ids of the nodes that use them."""
    notes: list[str] = field(default_factory=list)
    """Things the conversion had to decide or could not do, one sentence each."""


@dataclass(frozen=True)
class _Value:
    """A resolved input that is a value (a PrimitiveNode's or a promoted widget's), not a link."""

    value: Any
    primitive: bool = False
    """True for a PrimitiveNode's value: the frontend writes it into plain widgets only."""


class _Link(NamedTuple):
    origin: str
    origin_slot: int
    target: str
    target_slot: int


@dataclass
class _Graph:
    """The root graph or one subgraph definition, with nodes and links keyed by string ids."""

    nodes: dict[str, dict[str, Any]]
    links: dict[str, _Link]
    inputs: list[dict[str, Any]] = field(default_factory=list)
    outputs: list[dict[str, Any]] = field(default_factory=list)
    input_node: str = "-10"
    output_node: str = "-20"


@dataclass
class _Scope:
    """A graph as instantiated at one place: the root, or a subgraph inside an instance node."""

    graph: _Graph
    path: tuple[str, ...] = ()
    instance: dict[str, Any] | None = None
    parent: _Scope | None = None
    children: dict[str, _Scope] = field(default_factory=dict)
    promoted: list[tuple[InputDef, Any] | None] | None = None

    def exec_id(self, node_id: str) -> str:
        return ":".join((*self.path, node_id))


Resolved = tuple[str, int] | _Value | None


def convert_workflow(ui: Mapping[str, Any], defs: NodeDefs, *, allow_unknown: bool = False) -> Conversion:
    """Convert a UI workflow (format 0.4 or 1) into an API prompt using node definitions.

    Raises InputError when the document is not a UI workflow, when its links loop, or when node
    types are missing from ``defs`` (all of them listed, with where they are used) unless
    ``allow_unknown`` is set; then those nodes keep only their links and are listed in ``unknown``.
    """
    return _Converter(ui, defs).run(allow_unknown)


class _Converter:
    def __init__(self, ui: Mapping[str, Any], defs: NodeDefs) -> None:
        if not isinstance(ui, Mapping) or not isinstance(ui.get("nodes"), list):
            raise InputError("not a UI workflow: expected an object with a 'nodes' list")
        self.defs = defs
        definitions = ui.get("definitions")
        subgraphs = definitions.get("subgraphs") if isinstance(definitions, Mapping) else None
        self.root = _Scope(_read_graph(ui))
        self.subgraphs: dict[str, _Graph] = {}
        used = {int(k) for k in self.root.graph.nodes if k.isdecimal()}
        last = _last_node_id(ui, used)
        for raw in subgraphs if isinstance(subgraphs, list) else []:
            if isinstance(raw, Mapping) and isinstance(raw.get("id"), str):
                graph = _read_graph(raw)
                last = _dedupe_node_ids(graph, used, last)
                self.subgraphs[raw["id"]] = graph
        self.notes: list[str] = []
        self.unknown: dict[str, list[str]] = {}
        self._widget_cache: dict[int, dict[str, Any]] = {}
        self._slots_cache: dict[int, list[tuple[str, str, Any]]] = {}

    # -- walking the graph ---------------------------------------------------------------------

    def run(self, allow_unknown: bool) -> Conversion:
        executable = list(self._expand(self.root, ()))
        if self.unknown and not allow_unknown:
            listed = "; ".join(
                f"{kind} (node{'s' if len(ids) > 1 else ''} {', '.join(ids)})"
                for kind, ids in self.unknown.items()
            )
            raise InputError(
                f"node types missing from the definitions: {listed}; install them on the server "
                "that gave the definitions, or convert with --allow-unknown"
            )
        prompt: dict[str, Any] = {}
        for scope, node in executable:
            node_id = scope.exec_id(str(node.get("id")))
            prompt[node_id] = self._emit(scope, node, node_id)
        for node_id, entry in prompt.items():
            inputs = entry["inputs"]
            # Every list among the inputs is a link: list values were wrapped in ``__value__``.
            for name in [n for n, v in inputs.items() if type(v) is list and v[0] not in prompt]:
                del inputs[name]
                self.notes.append(
                    f"node {node_id}: input {name!r} linked a node that is muted or missing; dropped"
                )
        ordered = {node_id: prompt[node_id] for node_id in sorted(prompt, key=natural_key)}
        return Conversion(ordered, self.unknown, self.notes)

    def _expand(self, scope: _Scope, seen: tuple[str, ...]) -> Iterator[tuple[_Scope, dict[str, Any]]]:
        """Yield every node that becomes a prompt entry, descending into subgraph instances."""
        for node_id, node in scope.graph.nodes.items():
            kind = node.get("type")
            mode = node.get("mode", 0)
            if kind in self.subgraphs:
                # Only the root graph's muted and bypassed instances are left out: the frontend
                # collects the nodes inside a nested instance whatever that instance's mode (a
                # bypassed one still passes its inputs through to its consumers).
                if mode in (MUTED, BYPASSED) and not scope.path:
                    continue
                if kind in seen:
                    raise InputError(f"subgraph {kind} contains itself (node {scope.exec_id(node_id)})")
                child = _Scope(self.subgraphs[kind], (*scope.path, node_id), node, scope)
                scope.children[node_id] = child
                yield from self._expand(child, (*seen, kind))
            elif kind in FRONTEND_ONLY or mode in (MUTED, BYPASSED):
                continue
            elif not isinstance(kind, str):
                self.notes.append(f"node {scope.exec_id(node_id)} has no type; skipped")
            else:
                if kind not in self.defs:
                    self.unknown.setdefault(kind, []).append(scope.exec_id(node_id))
                yield scope, node

    def _emit(self, scope: _Scope, node: dict[str, Any], node_id: str) -> dict[str, Any]:
        kind: str = node["type"]
        definition = self.defs.get(kind)
        if definition is not None:
            named = self._widget_values(node, definition, node_id)
        else:
            stored = node.get("widgets_values")
            named = stored if isinstance(stored, dict) else {}
        inputs = {k: {"__value__": v} if type(v) is list else v for k, v in named.items()}
        for slot in input_slots(node):
            if slot.get("link") is None or not isinstance(slot.get("name"), str):
                continue
            resolved = self._resolve_link(scope, slot["link"], slot.get("type", "*"), set())
            if isinstance(resolved, _Value):
                inputs[slot["name"]] = _wrap(resolved.value)
            elif resolved is not None:
                inputs[slot["name"]] = [resolved[0], resolved[1]]
        title = node.get("title")
        if not isinstance(title, str) or not title:
            title = definition.display_name if definition else kind
        return {"inputs": inputs, "class_type": kind, "_meta": {"title": title}}

    # -- widget values -------------------------------------------------------------------------

    def _widget_values(self, node: dict[str, Any], definition: NodeDef, node_id: str) -> dict[str, Any]:
        """Name a node's widget values after its definition (cached per node object)."""
        cached = self._widget_cache.get(id(node))
        if cached is not None:
            return cached
        raw = node.get("widgets_values")
        values: dict[str, Any] = {}
        extension = FRONTEND_WIDGETS.get(definition.name)
        if isinstance(raw, dict):  # dict, not Mapping: the ABC check is slow and JSON gives dicts
            reader: PositionalValues | NamedValues = NamedValues(raw)
            reader.fill(definition.inputs, values, extension)
        else:
            stored = raw if isinstance(raw, list) else []
            usual = None if self.defs.nested_order_known else self.defs.usual_positions()
            reader = PositionalValues(stored, usual_positions=usual)
            reader.fill(definition.inputs, values, extension)
            named = node.get("widgets_values_named")
            if (reader.missing or reader.position < len(stored)) and isinstance(named, dict):
                # The stored values do not fit this definition (a file from another ComfyUI
                # version); the frontend's by-name copy of the same values is the safer reading.
                by_name: dict[str, Any] = {}
                reader = NamedValues(named)
                reader.fill(definition.inputs, by_name, extension)
                if by_name != values:
                    self.notes.append(
                        f"node {node_id} ({definition.name}): widgets_values do not fit the definition; "
                        "read widgets_values_named instead"
                    )
                values = by_name
        if isinstance(reader, PositionalValues) and reader.inferred:
            self.notes.append(
                f"node {node_id} ({definition.name}): the definitions were saved with sorted keys; the order of "
                f"the inputs of {', '.join(reader.inferred)} was inferred from the stored values"
            )
        if reader.missing:
            self.notes.append(
                f"node {node_id} ({definition.name}): no stored value for {', '.join(reader.missing)}; "
                "used the definition's default"
            )
        self._widget_cache[id(node)] = values
        return values

    # -- link resolution (ExecutableNodeDTO.resolveInput / resolveOutput) -----------------------

    def _resolve_link(
        self, scope: _Scope, link_id: Any, want: str, visited: set[tuple[Any, ...]]
    ) -> Resolved:
        link = scope.graph.links.get(str(link_id))
        if link is None:
            self.notes.append(
                f"link {link_id} in {'/'.join(scope.path) or 'the root graph'} does not exist; input left unlinked"
            )
            return None
        if link.origin == scope.graph.input_node and scope.instance is not None:
            return self._resolve_subgraph_input(scope, link.origin_slot, visited)
        origin = scope.graph.nodes.get(link.origin)
        if origin is None:
            return None
        return self._resolve_output(scope, origin, link.origin_slot, want, visited)

    def _resolve_output(
        self, scope: _Scope, node: dict[str, Any], slot: int, want: str, visited: set[tuple[Any, ...]]
    ) -> Resolved:
        node_id = str(node.get("id"))
        kind = node.get("type")
        bypassed = node.get("mode", 0) == BYPASSED
        if not bypassed and kind not in self.subgraphs and kind not in FRONTEND_ONLY:
            return scope.exec_id(node_id), slot  # a node that runs: the end of the way
        mark = (scope.path, node_id, "out", slot)
        if mark in visited:
            raise InputError(f"links loop through node {scope.exec_id(node_id)}")
        visited.add(mark)
        if bypassed:
            return self._resolve_bypass(scope, node, slot, want, visited)
        if kind in self.subgraphs:
            return self._resolve_instance_output(scope, node, slot, want, visited)
        if kind == PRIMITIVE:
            stored = node.get("widgets_values")
            return _Value(stored[0], primitive=True) if isinstance(stored, list) and stored else None
        slots = self._runtime_inputs(scope, node)  # a Reroute (notes have no outputs)
        if slot < len(slots) and slots[slot][2] is not None:
            return self._resolve_link(scope, slots[slot][2], want, visited)
        return None

    def _resolve_bypass(
        self, scope: _Scope, node: dict[str, Any], slot: int, want: str, visited: set[tuple[Any, ...]]
    ) -> Resolved:
        """Pass a bypassed node through: its input of the type wanted, preferring the same slot index."""
        slots = self._runtime_inputs(scope, node)
        outputs = self._runtime_outputs(node)
        output_type = outputs[slot] if slot < len(outputs) else "*"
        index = -1
        if want in ("*", ""):
            index = slot if len(slots) > slot else 0
        elif (
            slot < len(slots)
            and types_match(slots[slot][1], output_type)
            and types_match(slots[slot][1], want)
        ):
            index = slot
        else:
            index = next((i for i, s in enumerate(slots) if s[1] == want), -1)
            if index < 0:
                index = next(
                    (
                        i
                        for i, s in enumerate(slots)
                        if types_match(s[1], output_type) and types_match(s[1], want)
                    ),
                    -1,
                )
        if index < 0 or index >= len(slots):
            self.notes.append(
                f"bypassed node {scope.exec_id(str(node.get('id')))} has no input of type {want}; its consumers lose the link"
            )
            return None
        _, kind, link_id = slots[index]
        return None if link_id is None else self._resolve_link(scope, link_id, kind, visited)

    def _resolve_instance_output(
        self, scope: _Scope, node: dict[str, Any], slot: int, want: str, visited: set[tuple[Any, ...]]
    ) -> Resolved:
        node_id = str(node.get("id"))
        inner = scope.children.get(node_id)
        if inner is None:  # a muted instance: keep the link so that pruning drops it
            return scope.exec_id(node_id), slot
        feeding = next(
            (
                ln
                for ln in inner.graph.links.values()
                if ln.target == inner.graph.output_node and ln.target_slot == slot
            ),
            None,
        )
        if feeding is None:
            return None
        if feeding.origin == inner.graph.input_node:
            return self._resolve_subgraph_input(inner, feeding.origin_slot, visited)
        origin = inner.graph.nodes.get(feeding.origin)
        return (
            None
            if origin is None
            else self._resolve_output(inner, origin, feeding.origin_slot, want, visited)
        )

    def _resolve_subgraph_input(self, scope: _Scope, index: int, visited: set[tuple[Any, ...]]) -> Resolved:
        """An inner link from the subgraph's input node: follow the instance's outer link or its widget."""
        assert scope.instance is not None and scope.parent is not None
        slots = self._runtime_inputs(scope.parent, scope.instance)
        if index >= len(slots):
            return None
        _, kind, link_id = slots[index]
        if link_id is not None:
            outer = self._resolve_link(scope.parent, link_id, kind, visited)
            # A PrimitiveNode cannot set a subgraph instance's widget (the frontend finds no widget
            # of that name on the instance), so the inner widget keeps its own value.
            return None if isinstance(outer, _Value) and outer.primitive else outer
        promoted = self._promoted(scope)
        source = promoted[index] if index < len(promoted) else None
        return None if source is None else _Value(source[1])

    # -- subgraph instances --------------------------------------------------------------------

    def _promoted(self, scope: _Scope) -> list[tuple[InputDef, Any] | None]:
        """For each input of a subgraph instance: its promoted widget (definition, value), or None.

        An input is promoted when one of its inner links ends at a widget input; the instance's
        ``widgets_values`` then hold one value per promoted input, in input order, with an extra
        control value after widgets that have one in files written by older frontends.
        """
        if scope.promoted is not None:
            return scope.promoted
        assert scope.instance is not None
        sources = [self._interior_widget(scope, i) for i in range(len(scope.graph.inputs))]
        stored = scope.instance.get("widgets_values")
        stored = stored if isinstance(stored, list) else []
        count = sum(1 for s in sources if s is not None)
        extra_controls = len(stored) > count
        # As for plain nodes: when the values do not fit, read the by-name copy if there is one.
        named = scope.instance.get("widgets_values_named")
        controls = sum(1 for s in sources if s is not None and s[0].has_control)
        use_named = isinstance(named, Mapping) and len(stored) not in (count, count + controls)
        result: list[tuple[InputDef, Any] | None] = []
        position = 0
        for source in sources:
            if source is None:
                result.append(None)
                continue
            spec, value = source
            name = scope.graph.inputs[len(result)].get("name")
            if use_named and isinstance(named, Mapping) and name in named:
                value = named[name]
            elif not use_named and position < len(stored) and stored[position] is not None:
                value = stored[position]
            position += 1
            if extra_controls and spec.has_control:
                position += 1
            result.append((spec, value))
        scope.promoted = result
        return result

    def _interior_widget(self, scope: _Scope, index: int) -> tuple[InputDef, Any] | None:
        """The first inner widget that subgraph input ``index`` feeds, with that widget's own value."""
        graph = scope.graph
        declared = graph.inputs[index].get("linkIds") if index < len(graph.inputs) else None
        link_ids = (
            [str(i) for i in declared]
            if isinstance(declared, list)
            else [
                k
                for k, ln in graph.links.items()
                if ln.origin == graph.input_node and ln.origin_slot == index
            ]
        )
        for link_id in link_ids:
            link = graph.links.get(link_id)
            target = graph.nodes.get(link.target) if link else None
            if target is None:
                continue
            slot = next((s for s in input_slots(target) if str(s.get("link")) == link_id), None)
            if slot is None:
                continue
            kind = target.get("type")
            if kind in self.subgraphs:
                child = scope.children.get(str(target.get("id")))
                inner_index = next(
                    (
                        i
                        for i, s in enumerate(self.subgraphs[kind].inputs)
                        if s.get("name") == slot.get("name")
                    ),
                    -1,
                )
                if child is not None and inner_index >= 0:
                    nested = self._interior_widget(child, inner_index)
                    if nested is not None:
                        return nested
                continue
            definition = self.defs.get(kind) if isinstance(kind, str) else None
            widget = slot.get("widget")
            if definition is None or not isinstance(widget, Mapping):
                continue
            name = widget.get("name")
            spec = definition.input(name) if isinstance(name, str) else None
            if spec is None or not spec.is_widget:
                continue
            values = self._widget_values(target, definition, scope.exec_id(str(target.get("id"))))
            return spec, values.get(spec.name, spec.default)
        return None

    def _runtime_inputs(self, scope: _Scope, node: dict[str, Any]) -> list[tuple[str, str, Any]]:
        """A node's input slots as (name, type, link id); an instance's come from its subgraph's inputs."""
        cached = self._slots_cache.get(id(node))
        if cached is None:
            cached = self._slots_cache[id(node)] = self._read_slots(node)
        return cached

    def _read_slots(self, node: dict[str, Any]) -> list[tuple[str, str, Any]]:
        kind = node.get("type")
        stored = [(str(s.get("name", "")), str(s.get("type", "*")), s.get("link")) for s in input_slots(node)]
        if kind not in self.subgraphs:
            return stored
        slots: list[tuple[str, str, Any]] = []
        unused = list(stored)
        for declared in self.subgraphs[kind].inputs:
            name, kind_ = str(declared.get("name", "")), str(declared.get("type", "*"))
            match = next((s for s in unused if s[0] == name and s[1] == kind_), None) or next(
                (s for s in unused if s[0] == name), None
            )
            if match is not None:
                unused.remove(match)
            slots.append((name, kind_, match[2] if match else None))
        return slots

    def _runtime_outputs(self, node: dict[str, Any]) -> list[str]:
        kind = node.get("type")
        if kind in self.subgraphs:
            return [str(o.get("type", "*")) for o in self.subgraphs[kind].outputs]
        outputs = node.get("outputs")
        return (
            [str(o.get("type", "*")) for o in outputs if isinstance(o, Mapping)]
            if isinstance(outputs, list)
            else []
        )


def _read_graph(raw: Mapping[str, Any]) -> _Graph:
    nodes: dict[str, dict[str, Any]] = {}
    for node in raw.get("nodes") or []:
        if isinstance(node, dict) and "id" in node:
            nodes[str(node["id"])] = node
    links: dict[str, _Link] = {}
    for link in raw.get("links") or []:
        parsed = _read_link(link)
        if parsed is not None:
            links[parsed[0]] = parsed[1]
    graph = _Graph(nodes, links)
    for name in ("inputs", "outputs"):
        value = raw.get(name)
        if isinstance(value, list):
            setattr(graph, name, [v for v in value if isinstance(v, dict)])
    for name, attr in (("inputNode", "input_node"), ("outputNode", "output_node")):
        io_node = raw.get(name)
        if isinstance(io_node, Mapping) and "id" in io_node:
            setattr(graph, attr, str(io_node["id"]))
    return graph


def _last_node_id(ui: Mapping[str, Any], used: set[int]) -> int:
    """The highest node id handed out so far: ``last_node_id`` (format 0.4) or ``state.lastNodeId`` (1)."""
    state = ui.get("state")
    candidates = [ui.get("last_node_id"), state.get("lastNodeId") if isinstance(state, Mapping) else None]
    numbers = [c for c in candidates if isinstance(c, int) and not isinstance(c, bool)]
    return max([*numbers, *used, 0])


def _dedupe_node_ids(graph: _Graph, used: set[int], last: int) -> int:
    """Give inner nodes whose ids are already taken new ids, as the frontend does on load.

    The frontend (``deduplicateSubgraphNodeIds``) keeps node ids unique across the root graph and
    every subgraph definition: walking the definitions in file order, a numeric id already used
    gets the next free id after the highest one so far, and the definition's links follow. Returns
    the new highest id.
    """
    remap: dict[str, str] = {}
    nodes: dict[str, dict[str, Any]] = {}
    for key, node in graph.nodes.items():
        number = node.get("id")
        if not isinstance(number, int) or isinstance(number, bool):
            nodes[key] = node
            continue
        if number in used:
            last += 1
            while last in used:
                last += 1
            number = last
            remap[key] = str(number)
            node = {**node, "id": number}
        last = max(last, number)
        used.add(number)
        nodes[str(number)] = node
    if remap:
        graph.nodes = nodes
        graph.links = {
            key: _Link(
                remap.get(ln.origin, ln.origin),
                ln.origin_slot,
                remap.get(ln.target, ln.target),
                ln.target_slot,
            )
            for key, ln in graph.links.items()
        }
    return last


def _read_link(link: Any) -> tuple[str, _Link] | None:
    """A link as (id, _Link) from a 0.4 tuple ``[id, origin, slot, target, slot, type]`` or a v1 object."""
    try:
        if isinstance(link, list) and len(link) >= 5:
            return str(link[0]), _Link(str(link[1]), int(link[2]), str(link[3]), int(link[4]))
        if isinstance(link, dict):
            return str(link["id"]), _Link(
                str(link["origin_id"]),
                int(link["origin_slot"]),
                str(link["target_id"]),
                int(link["target_slot"]),
            )
    except (KeyError, TypeError, ValueError):
        return None
    return None


def _wrap(value: Any) -> Any:
    """Array values go in ``{"__value__": [...]}`` so that the server does not read them as links."""
    return {"__value__": value} if isinstance(value, list) else value


__all__ = ["FRONTEND_WIDGETS", "Conversion", "FrontendWidgets", "convert_workflow", "widget_slot"]
