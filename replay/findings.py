"""Located findings and their words: JSON paths (`$["3"].inputs.model`), their natural order, short value renderings.

The schema checks (`replay.schema_check`) and the graph checks (`replay.graph_check`) word their messages alike
with these pieces.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

PathElement = str | int
JsonPath = tuple[PathElement, ...]
Finding = tuple[JsonPath, str]
"""A problem found in one document: where (a path of keys and indexes) and what."""

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_NUMBER_RUN = re.compile(r"([0-9]+)")


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


def id_key(value: Any) -> tuple[Any, ...]:
    """Order node ids as people do: "2" < "10" < "10:3"."""
    parts = _NUMBER_RUN.split(value if isinstance(value, str) else str(value))
    return tuple(int(part) if index % 2 else part for index, part in enumerate(parts))


def path_key(path: JsonPath) -> tuple[tuple[int, Any], ...]:
    return tuple((0, element) if isinstance(element, int) else (1, id_key(element)) for element in path)


def finding_key(finding: Finding) -> tuple[Any, ...]:
    return (path_key(finding[0]), finding[1])


def json_type(value: Any) -> str:
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


def show(value: Any) -> str:
    """A short JSON rendering of a value for a message; containers are named, not dumped."""
    if isinstance(value, (list, tuple)):
        return f"an array of {plural(len(value), 'item')}"
    if isinstance(value, Mapping):
        return f"an object with {plural(len(value), 'key')}"
    return shorten(json.dumps(value, ensure_ascii=False, default=repr), 60)


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def type_message(expected: str, value: Any) -> str:
    shown = "" if value is None or isinstance(value, (list, tuple, Mapping)) else f" {show(value)}"
    return f"expected {expected}, got {json_type(value)}{shown}"


def required_message(name: str) -> str:
    return f"{name!r} is a required property"


def plural(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"



__all__ = [
    "Finding",
    "JsonPath",
    "PathElement",
    "plural",
    "finding_key",
    "id_key",
    "json_path",
    "json_type",
    "path_key",
    "required_message",
    "shorten",
    "show",
    "type_message",
]
