"""Placeholder canonical YAML codec (replaced by the real one from the codec branch)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import yaml

from replay.errors import DocumentError


def dumps(data: Any, *, key_order: Sequence[str] = ()) -> str:
    """Dump data as YAML."""
    if isinstance(data, dict) and key_order:
        data = {k: data[k] for k in [*key_order, *sorted(set(data) - set(key_order))] if k in data}
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=2**31)


def loads(text: str | bytes, *, file: str | None = None) -> Any:
    """Load YAML safely."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DocumentError(str(exc).splitlines()[0], file=file) from exc


def atomic_write(path: str | os.PathLike[str], data: bytes) -> None:
    """Write a file atomically."""
    tmp = f"{os.fspath(path)}.tmp"
    with open(tmp, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


def write_if_changed(path: str | os.PathLike[str], data: bytes) -> bool:
    """Write when the bytes differ."""
    try:
        with open(path, "rb") as fh:
            if fh.read() == data:
                return False
    except FileNotFoundError:
        pass
    atomic_write(path, data)
    return True
