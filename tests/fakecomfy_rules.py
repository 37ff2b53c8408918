"""Failure rules for the fake server's scripted executor that look at the whole prompt, not one node.

`PromptRule` fails a node (by class and/or id) when a predicate over the prompt holds. Predicates here:
`input_above` ("node X fails when input Y > k"), `batch_mismatch` ("ImageBlend fails when its two inputs have
different batch sizes", as a real ComfyUI does; batch sizes traced back to EmptyImage through image-to-image nodes), `has_values`
("these inputs hold these values", all together: changes that only fail together) and `any_of`. Add a rule
with `server.rules.append(rule)`; the executor calls `rule.fires(prompt, node_id)` on every node it reaches.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fakecomfy_jobs import is_link
from fakecomfy_run import FailRule

Predicate = Callable[[Mapping[str, Any], str], bool]
"""Called with the prompt and the id of the node about to run."""


def _always(prompt: Mapping[str, Any], node_id: str) -> bool:
    return True


@dataclass
class PromptRule(FailRule):
    """Fails the first node of `class_type` (and `node_id`, when set) for which `when(prompt, node_id)` holds."""

    when: Predicate = field(default=_always)

    def fires(self, prompt: Mapping[str, Any], node_id: str) -> bool:
        node = prompt[node_id]
        if self.class_type is not None and node.get("class_type") != self.class_type:
            return False
        if self.node_id is not None and node_id != str(self.node_id):
            return False
        return self.when(prompt, node_id)


def input_above(name: str, limit: float) -> Predicate:
    """The node's literal input `name` is a number greater than `limit`."""

    def check(prompt: Mapping[str, Any], node_id: str) -> bool:
        value = (prompt[node_id].get("inputs") or {}).get(name)
        return isinstance(value, (int, float)) and not isinstance(value, bool) and value > limit

    return check


# Image-to-image nodes whose output has the batch size of their `image` (or `image1`) input.
_PASS_THROUGH = {"ImageBlur": "image", "ImageInvert": "image", "ImageScale": "image", "ImageBlend": "image1",
                 "ImageSharpen": "image"}


def batch_size(prompt: Mapping[str, Any], link: Any) -> int | None:
    """The batch size of the images a link carries: EmptyImage's `batch_size`, followed through image nodes."""
    seen: set[str] = set()
    while is_link(link) and link[0] in prompt and link[0] not in seen:
        seen.add(link[0])
        node = prompt[link[0]]
        inputs = node.get("inputs") or {}
        if node.get("class_type") == "EmptyImage":
            value = inputs.get("batch_size", 1)
            return value if isinstance(value, int) else None
        link = inputs.get(_PASS_THROUGH.get(str(node.get("class_type")), "image"))
    return None


def batch_mismatch(prompt: Mapping[str, Any], node_id: str) -> bool:
    """ImageBlend's `image1` and `image2` carry different batch sizes, neither of them 1 (torch broadcasts a batch
    of 1; a real ComfyUI 0.33 fails on 2 against 3: tests/data/bisect/blend_bad.job.json)."""
    inputs = prompt[node_id].get("inputs") or {}
    a, b = batch_size(prompt, inputs.get("image1")), batch_size(prompt, inputs.get("image2"))
    return a is not None and b is not None and a != b and 1 not in (a, b)


def has_values(values: Mapping[tuple[str, str], Any]) -> Predicate:
    """Every `(node id, input name)` listed holds its value (a missing node or input does not)."""

    def check(prompt: Mapping[str, Any], node_id: str) -> bool:
        for (where, name), wanted in values.items():
            inputs = (prompt.get(where) or {}).get("inputs") or {}
            if name not in inputs or inputs[name] != wanted or type(inputs[name]) is not type(wanted):
                return False
        return True

    return check


def any_of(*checks: Predicate) -> Predicate:
    """At least one of the predicates holds."""
    return lambda prompt, node_id: any(check(prompt, node_id) for check in checks)


def blend_batch_mismatch() -> PromptRule:
    """ImageBlend fails on two batches of different sizes, with the error a real ComfyUI 0.33 gave for 2 against 3
    (tests/data/bisect/blend_bad.job.json)."""
    return PromptRule(class_type="ImageBlend", when=batch_mismatch, exception_type="RuntimeError",
                      message="The size of tensor a (2) must match the size of tensor b (3) at non-singleton "
                              "dimension 0")


NAMED_RULES: dict[str, Callable[[], PromptRule]] = {"blend-batch-mismatch": blend_batch_mismatch}
"""Rules the fake server's command line can switch on by name (`--fail-rule NAME`)."""

__all__ = ["NAMED_RULES", "PromptRule", "Predicate", "any_of", "batch_mismatch", "batch_size",
           "blend_batch_mismatch", "has_values", "input_above"]
