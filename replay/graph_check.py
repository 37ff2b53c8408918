"""Graph checks a schema cannot express: links that point nowhere, slots out of range, cycles, in prompts and UI graphs."""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from replay.findings import (
    Finding,
    JsonPath,
    PathElement,
    finding_key,
    id_key,
    plural,
    required_message,
    show,
    type_message,
)

_DIGITS = re.compile(r"-?[0-9]+\Z")


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
    order = sorted(prompt, key=id_key)
    for node_id in order:
        node = prompt[node_id]
        at: JsonPath = (node_id,)
        if not isinstance(node, Mapping):
            findings.append((at, type_message("object", node)))
            continue
        sources[node_id] = []
        class_type = node.get("class_type")
        if "class_type" not in node:
            findings.append((at, required_message("class_type")))
        elif not isinstance(class_type, str):
            findings.append((at + ("class_type",), type_message("string", class_type)))
        elif not class_type:
            findings.append((at + ("class_type",), "must not be empty"))
        if "inputs" not in node:
            findings.append((at, required_message("inputs")))
            continue
        inputs = node["inputs"]
        if not isinstance(inputs, Mapping):
            findings.append((at + ("inputs",), type_message("object", inputs)))
            continue
        for name, value in inputs.items():
            if not _is_prompt_link(value):
                continue
            source, slot = value
            where = at + ("inputs", name)
            if source not in prompt:
                findings.append((where, f"links to node {show(source)}, which does not exist"))
            elif isinstance(prompt[source], Mapping):
                sources[node_id].append(source)
            slot_problem = _slot_problem(slot)
            if slot_problem:
                findings.append((where + (1,), slot_problem))
    findings.extend(_cycle_findings(sources, order))
    return sorted(findings, key=finding_key)


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
    return sorted(findings, key=finding_key)

def graph_findings(doc: Any, kind: str) -> Iterator[tuple[JsonPath, Finding]]:
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
        return type_message("integer", slot)
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
        start = min(component, key=id_key)
        loop = _shortest_loop(start, sources, members)
        findings.append(((start,), "nodes form a cycle: " + " -> ".join(show(node) for node in loop)))
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
    for member in sorted(members, key=id_key):
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
                findings.append((at + ("nodes", index, "id"), f"node id {show(node['id'])} is used twice"))
            else:
                by_id[key] = node

    links: dict[Any, _UiLink] = {}
    raw_links = graph.get("links")
    for index, raw in enumerate(raw_links if isinstance(raw_links, list) else []):
        link = _ui_link(raw, at + ("links", index))
        if link is None:
            continue
        if link.id in links:
            findings.append((link.at, f"link id {show(link.id)} is used twice"))
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
                findings.append((where, f"link {show(link_id)} does not exist"))

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
        owner = f"node {show(node_id)}"
    else:
        if not in_use:
            return []
        verb = "comes from" if origin else "goes to"
        return [
            (
                link.at + (id_field,),
                f"link {show(link.id)} {verb} node {show(node_id)}, which does not exist",
            )
        ]
    index = _ui_slot(slot)
    if index is None or 0 <= index < count:
        return []  # a slot that is not an integer is the schema's to report
    return [(link.at + (slot_field,), f"{owner} has no {side} slot {index} (it has {plural(count, side)})")]



__all__ = ["check_prompt_graph", "check_ui_graph", "graph_findings"]
