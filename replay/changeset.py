"""The changes between two API prompts, grouped so that any set of groups applied to the first is a valid graph.

`find_changes(good, bad)` reads the node-level diff of `replay.diff` as changes with stable ids (`3.width`,
`+8`, `-5`): changed inputs, rewired links, added and removed nodes. `apply_changes` builds GOOD plus some of
them; `prompt_key` names a prompt by its canonical JSON. `replay.bisect` searches over these groups.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from replay.diff import MISSING, diff_jobs
from replay.jobs import Job
from replay.recipe import REDACTED, is_secret_name
from replay.workflow import is_link, natural_key

Kind = Literal["input", "link", "added-node", "removed-node"]


@dataclass(frozen=True)
class BisectChange:
    """One difference between GOOD's and BAD's prompts; `a`/`b` are MISSING where a side lacks the value."""

    id: str
    node: str
    kind: Kind
    class_type: str
    input: str | None = None
    a: Any = MISSING
    b: Any = MISSING

    def describe(self) -> str:
        """One line: `3.width: 512 -> 640`, `+7 ImageScale (added)`, `-5 ImageBlur (removed)`."""
        if self.kind == "added-node":
            return f"{self.id} {self.class_type} (added node)"
        if self.kind == "removed-node":
            return f"{self.id} {self.class_type} (removed node)"
        a, b = (_shown(self.input, v) for v in (self.a, self.b))
        return f"{self.id} ({self.class_type}): {a} -> {b}"

    def to_json(self) -> dict[str, Any]:
        """The SPEC §4 shape `{id, node, kind, input, a, b}`: `a`/`b` left out where a side lacks the value."""
        entry: dict[str, Any] = {"id": self.id, "node": self.node, "kind": self.kind, "input": self.input,
                                 "class_type": self.class_type}
        for side, value in (("a", self.a), ("b", self.b)):
            if value is not MISSING:
                entry[side] = REDACTED if self.input and is_secret_name(self.input) else value
        return entry


def _shown(name: str | None, value: Any) -> str:
    if value is MISSING:
        return "(none)"
    if name and is_secret_name(name):
        return REDACTED
    if is_link(value):
        return f"{value[0]}[{value[1]}]"
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class ChangeGroup:
    """Changes that only make a valid graph together (an added node with the links that use it, ...)."""

    changes: tuple[BisectChange, ...]

    @property
    def ids(self) -> list[str]:
        """The ids of the changes in the group."""
        return [c.id for c in self.changes]


class _Groups:
    """Union-find over change ids."""

    def __init__(self, ids: Iterable[str]) -> None:
        self.parent = {i: i for i in ids}

    def find(self, item: str) -> str:
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def union(self, a: str, b: str) -> None:
        if a in self.parent and b in self.parent:
            self.parent[self.find(a)] = self.find(b)


def find_changes(good: Mapping[str, Any], bad: Mapping[str, Any]) -> list[ChangeGroup]:
    """The changes that turn prompt `good` into prompt `bad`, grouped so every subset of groups is a valid graph.

    Changed inputs are `input` changes (`link` when either side is a link); nodes only in `bad` are `added-node`,
    only in `good` `removed-node`; a node whose class changed is removed and added again (one group). An added
    node travels with the inputs that link to it and with the added nodes it needs; a removed node with the
    inputs and removed nodes that linked to it. Fields other than inputs (titles) are not changes: they do not
    change what runs. Groups come in natural node order.
    """
    d = diff_jobs(Job(kind="prompt", prompt=dict(good)), Job(kind="prompt", prompt=dict(bad)))
    changes: list[BisectChange] = []
    added = {ref.id for ref in d.nodes.added}
    removed = {ref.id for ref in d.nodes.removed}
    for ref in d.nodes.removed:
        changes.append(BisectChange(f"-{ref.id}", ref.id, "removed-node", ref.class_type))
    for ref in d.nodes.added:
        changes.append(BisectChange(f"+{ref.id}", ref.id, "added-node", ref.class_type))
    replaced: list[str] = []
    for node in d.nodes.changed:
        if node.class_change is not None:
            replaced.append(node.id)
            changes.append(BisectChange(f"-{node.id}", node.id, "removed-node", node.class_change[0]))
            changes.append(BisectChange(f"+{node.id}", node.id, "added-node", node.class_change[1]))
            continue
        inputs_a = _inputs(good[node.id])
        inputs_b = _inputs(bad[node.id])
        for field_change in node.inputs:
            name = field_change.name
            if name not in inputs_a and name not in inputs_b:
                continue  # a field such as _meta: it does not change what runs
            a, b = field_change.a, field_change.b
            kind: Kind = "link" if is_link(a) or is_link(b) else "input"
            changes.append(BisectChange(f"{node.id}.{name}", node.id, kind, node.class_type, name, a, b))
    groups = _Groups(c.id for c in changes)
    for name in replaced:
        groups.union(f"-{name}", f"+{name}")
    for change in changes:
        if change.kind == "link":
            if is_link(change.b) and change.b[0] in added:
                groups.union(change.id, f"+{change.b[0]}")
            if is_link(change.a) and change.a[0] in removed:
                groups.union(change.id, f"-{change.a[0]}")
        elif change.kind == "added-node":
            for value in _inputs(bad[change.node]).values():
                if is_link(value) and value[0] in added:
                    groups.union(change.id, f"+{value[0]}")
        elif change.kind == "removed-node" and change.node in removed:
            for value in _inputs(good[change.node]).values():
                if is_link(value) and value[0] in removed:
                    groups.union(change.id, f"-{value[0]}")
    by_root: dict[str, list[BisectChange]] = {}
    for change in sorted(changes, key=_change_order):
        by_root.setdefault(groups.find(change.id), []).append(change)
    return [ChangeGroup(tuple(members)) for members in by_root.values()]


def _change_order(change: BisectChange) -> tuple[Any, ...]:
    return (natural_key(change.node), change.kind != "removed-node", change.input or "")


def _inputs(node: Any) -> dict[str, Any]:
    inputs = node.get("inputs") if isinstance(node, dict) else None
    return inputs if isinstance(inputs, dict) else {}


def apply_changes(good: Mapping[str, Any], bad: Mapping[str, Any], changes: Iterable[BisectChange]) -> dict[str, Any]:
    """GOOD's prompt with the given changes of BAD applied (a new dict; neither input is modified)."""
    prompt = copy.deepcopy(dict(good))
    chosen = sorted(changes, key=lambda c: ("removed-node", "added-node", "link", "input").index(c.kind))
    for change in chosen:
        if change.kind == "removed-node":
            prompt.pop(change.node, None)
        elif change.kind == "added-node":
            prompt[change.node] = copy.deepcopy(bad[change.node])
        else:
            node = prompt[change.node]
            inputs = node.setdefault("inputs", {})
            if change.b is MISSING:
                inputs.pop(change.input, None)
            else:
                inputs[change.input] = copy.deepcopy(change.b)
    return prompt


def prompt_key(prompt: Mapping[str, Any]) -> str:
    """The cache key of a prompt: sha256 of its canonical JSON (sorted keys, no spaces; 1 and 1.0 differ)."""
    text = json.dumps(prompt, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()



__all__ = ["BisectChange", "ChangeGroup", "Kind", "apply_changes", "find_changes", "prompt_key"]
