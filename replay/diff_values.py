"""Strict comparison of JSON values for a diff: equality with a tolerance, text line diffs, paths inside a node.

`values_equal` is the cheap test that lets unchanged nodes skip deepdiff, so it must agree with the deepdiff
settings of `replay.diff`.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Sequence
from typing import Any

from replay.diff_model import MISSING, Change
from replay.workflow import is_link


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def close(x: float, y: float, tolerance: float | None) -> bool:
    if x == y or (x != x and y != y):  # NaN on both sides is the same JSON value
        return True
    return tolerance is not None and math.isclose(x, y, abs_tol=tolerance)


def values_equal(x: Any, y: Any, tolerance: float | None = None) -> bool:
    """Compare two JSON values strictly: `1 == 1.0` but `1 != true`; numbers within `tolerance` are equal.

    The cheap test that lets unchanged nodes skip deepdiff; it must agree with the deepdiff settings of `replay.diff`.
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
    if is_number(x) and is_number(y):
        return close(x, y, tolerance)
    return tx is ty and bool(x == y)


def line_diff(a: Any, b: Any) -> tuple[str, ...]:
    """Unified-diff lines (hunk headers kept, file headers dropped) when either side is multi-line text."""
    if not (isinstance(a, str) and isinstance(b, str)) or ("\n" not in a and "\n" not in b):
        return ()
    lines = difflib.unified_diff(a.splitlines(), b.splitlines(), lineterm="", n=2)
    return tuple(line for line in lines if not line.startswith(("---", "+++")))


def change(name: str, a: Any, b: Any) -> Change:
    return Change(name=name, a=a, b=b, line_diff=line_diff(a, b))


def get_path(obj: Any, path: Sequence[Any]) -> Any:
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


def without_keys(item: Any, drop: frozenset[str]) -> Any:
    return {k: v for k, v in item.items() if k not in drop} if isinstance(item, dict) else item


__all__ = ["change", "close", "get_path", "is_number", "line_diff", "path_name", "values_equal", "without_keys"]
