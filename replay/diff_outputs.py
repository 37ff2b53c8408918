"""Comparing what two runs produced as recorded in their jobs: output files by name, texts and other values."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from replay.diff_model import MISSING, Change, OutputNodeDiff, OutputsDiff
from replay.diff_values import change, values_equal
from replay.jobs import Job, count_output_files
from replay.workflow import natural_key


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
                    values.append(change(name, text_a, text_b))
        else:
            values.append(change(kind, items_a, items_b))
    if not (added or removed or changed or values):
        return None
    return OutputNodeDiff(node_id, class_type, count_a, count_b, tuple(added), tuple(removed), tuple(changed),
                          tuple(values))


def diff_outputs(a: Job, b: Job, tolerance: float | None) -> OutputsDiff:
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


def texts_only(outputs: OutputsDiff) -> OutputsDiff:
    """The output differences left once files are compared by content: text and other values, not file names."""
    nodes = tuple(replace(node, added=(), removed=(), changed=()) for node in outputs.nodes if node.values)
    return replace(outputs, nodes=nodes)


__all__ = ["diff_outputs", "texts_only"]
