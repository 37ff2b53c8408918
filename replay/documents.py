"""Reading documents: bytes from a file or standard input, parsed as JSON or safe YAML, with located errors.

The lowest layer of reading input: no job model, no validation. `replay.sources` turns documents into jobs and
`replay.validate` checks them; both read through here.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, BinaryIO

from replay import canonical
from replay.errors import DocumentError, InputError

MAX_DOCUMENT_BYTES = 256 * 1024 * 1024


def _parse_json(text: str, name: str) -> Any:
    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise DocumentError(f"duplicate key {key!r} in a JSON object", file=name)
            out[key] = value
        return out

    try:
        return json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as exc:
        raise DocumentError(f"not valid JSON: {exc.msg}", file=name, line=exc.lineno, column=exc.colno) from exc
    except RecursionError as exc:
        raise DocumentError("JSON nested too deeply", file=name) from exc


def parse_document(raw: bytes, name: str) -> Any:
    """Parse bytes as JSON (when they start like JSON) or else as safe YAML; DocumentError on any problem."""
    if not raw.strip():
        raise DocumentError("the file is empty", file=name)
    if b"\x00" in raw[:8192]:
        raise DocumentError("the file is binary, not JSON or YAML", file=name)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"the file is not UTF-8 text (byte {exc.start})", file=name) from exc
    if text.lstrip()[:1] in ("{", "["):
        return _parse_json(text, name)
    return canonical.loads(text, file=name)


def read_bytes(ref: str, stdin: BinaryIO | None = None) -> tuple[bytes, str]:
    """Read a file path or `-` (standard input); return (bytes, name for messages)."""
    if ref == "-":
        stream = stdin if stdin is not None else sys.stdin.buffer
        return stream.read(MAX_DOCUMENT_BYTES + 1)[:MAX_DOCUMENT_BYTES], "<stdin>"
    path = Path(ref)
    try:
        if path.is_dir():
            raise DocumentError("is a directory, not a JSON or YAML file", file=ref)
        size = path.stat().st_size
        if size > MAX_DOCUMENT_BYTES:
            raise DocumentError(f"the file is too large ({size} bytes)", file=ref)
        return path.read_bytes(), ref
    except FileNotFoundError as exc:
        raise InputError(f"{ref}: no such file, and not a job id (a UUID)") from exc
    except OSError as exc:
        raise InputError(f"{ref}: cannot read the file ({exc.strerror})") from exc


__all__ = ["MAX_DOCUMENT_BYTES", "parse_document", "read_bytes"]
