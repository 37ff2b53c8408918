"""The API-prompt graph: nodes, links, ancestors, paths to output nodes, pruning, and `--set` overrides.

An API prompt maps node ids to ``{"class_type", "inputs"}``; an input whose value is a 2-list
``[node_id, slot]`` (a string id and an integer slot) is a link from another node's output. Node ids
may be subgraph paths such as ``"12:5"``. Every walk here is iterative, so graphs with thousands of
nodes never hit the recursion limit.
"""

from __future__ import annotations

import copy
import heapq
import json
import re
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from replay.errors import GraphError, InputError

# How many node ids or input names an error message lists before it says "...".
_SHOWN = 12
_DIGIT_RUNS = re.compile(r"(\d+)")


def natural_key(node_id: str) -> tuple[tuple[int, int, str], ...]:
    """Sort key for node ids in natural order: "2" < "10" < "10:3" < "a2" < "a10" (digit runs compare as numbers)."""
    # The text of each part is in the key too, so only equal ids tie ("01" and "1" do not).
    return tuple((0, int(p), p) if p.isdecimal() else (1, 0, p) for p in _DIGIT_RUNS.split(str(node_id)) if p)


def is_link(value: Any) -> bool:
    """True when an input value is a link ``[node_id, slot]`` (string id, integer slot)."""
    return (
        isinstance(value, list)
        and len(value) == 2
        and isinstance(value[0], str)
        and isinstance(value[1], int)
        and not isinstance(value[1], bool)
    )


def _shown(items: Iterable[str]) -> str:
    listed = list(items)
    text = ", ".join(listed[:_SHOWN])
    return text + (f", ... ({len(listed)} in all)" if len(listed) > _SHOWN else "")


class Graph:
    """The links of an API prompt, indexed both ways.

    Links to nodes the prompt does not have are left out of `parents`/`children` and listed in
    `dangling` as ``(node id, input name, missing source id)``; `replay.validate` reports them.
    """

    def __init__(self, prompt: Mapping[str, Any]) -> None:
        self.prompt = prompt
        self.parents: dict[str, set[str]] = {node_id: set() for node_id in prompt}
        self.children: dict[str, set[str]] = {node_id: set() for node_id in prompt}
        self.dangling: list[tuple[str, str, str]] = []
        for node_id, node in prompt.items():
            for name, value in node_inputs(node).items():
                if not is_link(value):
                    continue
                source = value[0]
                if source in self.parents:
                    self.parents[node_id].add(source)
                    self.children[source].add(node_id)
                else:
                    self.dangling.append((node_id, name, source))

    def __contains__(self, node_id: object) -> bool:
        return node_id in self.parents

    @property
    def nodes(self) -> list[str]:
        """Every node id, in natural order."""
        return sorted(self.parents, key=natural_key)

    def class_type(self, node_id: str) -> str:
        """The node's class_type, or '' when it has none."""
        node = self.prompt.get(node_id)
        value = node.get("class_type") if isinstance(node, Mapping) else None
        return value if isinstance(value, str) else ""

    def ancestors(self, node_ids: Iterable[str]) -> set[str]:
        """Every node that feeds the given nodes, directly or not (the given nodes themselves excluded
        unless one feeds another)."""
        return _reach(node_ids, self.parents)

    def descendants(self, node_ids: Iterable[str]) -> set[str]:
        """Every node fed by the given nodes, directly or not."""
        return _reach(node_ids, self.children)

    def topological_order(self) -> list[str]:
        """Node ids with every node after the nodes that feed it; ties broken by natural id order.

        Raises GraphError naming the nodes on cycles when there is one.
        """
        waiting = {node_id: len(parents) for node_id, parents in self.parents.items()}
        ready = [(natural_key(n), n) for n, count in waiting.items() if count == 0]
        heapq.heapify(ready)
        order: list[str] = []
        while ready:
            _, node_id = heapq.heappop(ready)
            order.append(node_id)
            for child in self.children[node_id]:
                waiting[child] -= 1
                if waiting[child] == 0:
                    heapq.heappush(ready, (natural_key(child), child))
        if len(order) < len(waiting):
            stuck = sorted((n for n, count in waiting.items() if count > 0), key=natural_key)
            raise GraphError(f"the prompt has a cycle through nodes {_shown(stuck)}", problems=[])
        return order

    def output_nodes(self, output_classes: Collection[str] | None = None, known_classes: Collection[str] = ()) -> list[str]:
        """The output nodes, in natural order.

        A node is an output when its class is in `output_classes` (the classes `/object_info` marks
        `output_node`). A node whose class the definitions do not know (not in `known_classes`), or
        every node when no definitions are given, is an output when nothing consumes its outputs.
        """
        found = []
        for node_id in self.nodes:
            cls = self.class_type(node_id)
            if output_classes is not None and cls in known_classes:
                if cls in output_classes:
                    found.append(node_id)
            elif not self.children[node_id]:
                found.append(node_id)
        return found

    def path_to_output(self, start: str, outputs: Collection[str]) -> list[str] | None:
        """The shortest path from `start` along consumers to the nearest output node, both ends included.

        Among the nearest outputs the one with the lowest natural id wins, and the path goes through the
        lowest ids at each step. Returns ``[start]`` when `start` is itself an output, None when no output
        can be reached.
        """
        if start not in self.parents:
            return None
        targets = set(outputs)
        distance = {start: 0}
        level = [start]
        reached: list[str] = [start] if start in targets else []
        while level and not reached:
            following: list[str] = []
            for node_id in level:
                for child in self.children[node_id]:
                    if child not in distance:
                        distance[child] = distance[node_id] + 1
                        following.append(child)
            reached = [n for n in following if n in targets]
            level = following
        if not reached:
            return None
        end = min(reached, key=natural_key)
        # Walk back from the chosen output through the lowest-id predecessor one step closer to `start`.
        path = [end]
        while path[-1] != start:
            here = path[-1]
            closer = [p for p in self.parents[here] if distance.get(p) == distance[here] - 1]
            path.append(min(closer, key=natural_key))
        path.reverse()
        return path


def _reach(start: Iterable[str], edges: Mapping[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    stack = [n for n in start if n in edges]
    while stack:
        node_id = stack.pop()
        for nxt in edges[node_id]:
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen


def node_inputs(node: Any) -> dict[str, Any]:
    """The `inputs` mapping of a prompt node, or an empty dict when the node has none."""
    inputs = node.get("inputs") if isinstance(node, Mapping) else None
    return inputs if isinstance(inputs, dict) else {}


def prune(prompt: Mapping[str, Any], keep: Collection[str]) -> dict[str, Any]:
    """Return a copy of the prompt holding only the nodes in `keep`, in the prompt's own order.

    Nothing is invented: ids not in the prompt are ignored. Raises GraphError when a kept node links to
    a node that is not kept (the result could not run).
    """
    kept = {node_id: copy.deepcopy(node) for node_id, node in prompt.items() if node_id in keep}
    cut = []
    for node_id, node in kept.items():
        for name, value in node_inputs(node).items():
            if is_link(value) and value[0] in prompt and value[0] not in kept:
                cut.append(f"node {node_id} input {name!r} needs node {value[0]}")
    if cut:
        raise GraphError(f"pruning would cut links the kept nodes need: {'; '.join(cut[:_SHOWN])}", problems=cut)
    return kept


@dataclass(frozen=True)
class Override:
    """One `--set NODE.INPUT=VALUE`: the node id, the input name, the parsed value."""

    node_id: str
    input_name: str
    value: Any

    def __str__(self) -> str:
        return f"{self.node_id}.{self.input_name}={json.dumps(self.value, ensure_ascii=False)}"


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_value(text: str) -> Any:
    """Parse a `--set` value: strict JSON when it parses (no NaN/Infinity), else the text as a string."""
    try:
        return json.loads(text, parse_constant=_no_constants)
    except ValueError:
        return text


def parse_set(text: str) -> Override:
    """Parse ``NODE.INPUT=VALUE``: NODE is the text before the first dot, INPUT the rest up to the first '='.

    Raises InputError with the expected form when the text does not have it.
    """
    key, equals, raw = text.partition("=")
    node_id, dot, input_name = key.partition(".")
    if not equals or not dot or not node_id or not input_name:
        raise InputError(f"--set {text!r}: expected NODE.INPUT=VALUE, for example --set 3.seed=42")
    return Override(node_id=node_id, input_name=input_name, value=parse_value(raw))


def apply_sets(
    prompt: Mapping[str, Any],
    sets: Iterable[Override],
    *,
    defined_inputs: Callable[[str], Collection[str]] | None = None,
) -> dict[str, Any]:
    """Return a copy of the prompt with each override written in; the original is left untouched.

    An override may name any input the node has in the prompt, or, when `defined_inputs` is given (class
    type -> input names from the node definitions), any input its class defines. An unknown node id or
    input, or a link value pointing at a node the prompt does not have, raises InputError naming what exists.
    """
    result = copy.deepcopy(dict(prompt))
    for override in sets:
        node = result.get(override.node_id)
        if not isinstance(node, dict):
            raise InputError(
                f"--set {override}: the prompt has no node {override.node_id!r} "
                f"(its nodes: {_shown(sorted(result, key=natural_key))})"
            )
        inputs = node_inputs(node)
        allowed = set(inputs)
        raw_class = node.get("class_type")
        class_type = raw_class if isinstance(raw_class, str) else ""
        if defined_inputs is not None:
            allowed.update(defined_inputs(class_type))
        if override.input_name not in allowed:
            names = _shown(sorted(allowed)) if allowed else "none"
            raise InputError(
                f"--set {override}: node {override.node_id} ({class_type or 'no class_type'}) has no input "
                f"{override.input_name!r}; its inputs: {names}"
            )
        if is_link(override.value) and override.value[0] not in result:
            raise InputError(f"--set {override}: the value links to node {override.value[0]!r}, which the prompt does not have")
        if "inputs" not in node or not isinstance(node["inputs"], dict):
            node["inputs"] = {}
        node["inputs"][override.input_name] = copy.deepcopy(override.value)
    return result


__all__ = [
    "Graph",
    "Override",
    "apply_sets",
    "is_link",
    "natural_key",
    "node_inputs",
    "parse_set",
    "parse_value",
    "prune",
]
