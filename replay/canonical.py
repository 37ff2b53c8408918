"""Canonical YAML: the byte-level rules of recipes, and a safe, strict reader.

Writing is done by our own small emitter, not by PyYAML: the same value always gives the same bytes, with
or without libyaml, and it is several times faster than `yaml.safe_dump`. The output is block style, keys
in the order given (prompt node ids in natural order), multi-line strings as `|` blocks, no anchors, no
tags, no line wrapping, UTF-8. A string is written plain only when every YAML reader, 1.1 or 1.2, reads it
back as that same string (so `yes`, `012`, `1e3`, `0o12`, `2024-01-01` and `1:30` are quoted); floats always
carry a dot or an exponent, so `1` and `1.0` stay apart.

Reading goes through libyaml's parser when present (PyYAML's pure-Python one otherwise) and builds plain
JSON values with our own resolver: YAML 1.2 core scalars only (no dates, no `yes`/`no` booleans, no
sexagesimal or octal surprises). Anchors, aliases, tags, duplicate keys and non-string keys are errors that
name the line and column.
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
from collections.abc import Collection, Sequence
from typing import Any

import yaml
from yaml.nodes import Node, ScalarNode, SequenceNode

from replay.errors import DocumentError
from replay.workflow import natural_key

# -- writing ------------------------------------------------------------------------------------------------

# A plain scalar must start with a letter and hold only characters that mean nothing to YAML in block context.
_PLAIN = re.compile(r"[^\W\d_][\w .,/()+'@=%-]*(?<! )\Z")
# Words some YAML reader (1.1 booleans, null) takes for something other than a string.
_RESERVED = frozenset(
    "y Y n N yes Yes YES no No NO true True TRUE false False FALSE on On ON off Off OFF null Null NULL".split()
)
# Characters a YAML reader refuses raw, or reads as a line break: written as escapes in quoted strings.
_UNPRINTABLE = re.compile("[\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")
# What keeps a multi-line string out of a `|` block: control characters other than tab, `\r`, unprintables.
_NOT_IN_BLOCK = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ufffe\uffff\ud800-\udfff]")
# libyaml refuses implicit keys of 1024 characters or more: longer keys are written as `? key`.
_LONG_KEY = 1000


def _escape(match: re.Match[str]) -> str:
    return f"\\u{ord(match.group()):04x}"


def _quoted(text: str) -> str:
    """A double-quoted YAML scalar; JSON's escapes are valid YAML escapes."""
    out = json.dumps(text, ensure_ascii=False)
    return _UNPRINTABLE.sub(_escape, out) if _UNPRINTABLE.search(out) else out


_STRINGS: dict[str, str] = {}  # written forms of short strings: node classes, input names, file names repeat


def _string(text: str) -> str:
    written = _STRINGS.get(text)
    if written is None:
        written = text if _PLAIN.match(text) and text not in _RESERVED else _quoted(text)
        if len(text) <= 128:
            if len(_STRINGS) >= 65536:
                _STRINGS.clear()
            _STRINGS[text] = written
    return written


def _float(value: float) -> str:
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    text = repr(value)
    if "e" in text:
        mantissa, exponent = text.split("e")
        if "." not in mantissa:
            mantissa += ".0"
        text = f"{mantissa}e{exponent}"
    return text


def _scalar(value: Any) -> str:
    """The text of a scalar that fits on one line."""
    if isinstance(value, str):
        return _string(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return _float(value)
    raise TypeError(f"cannot write a {type(value).__name__} in a recipe")


def _block_header(text: str, *, nested: bool = True) -> str | None:
    """The `|` header for a multi-line string that a literal block keeps exactly, or None.

    Text whose first line starts with white space gets the indentation indicator `2` (our blocks are always two
    columns deeper than their parent), so the reader does not take that white space for indentation.
    """
    if "\n" not in text or _NOT_IN_BLOCK.search(text) or not text.strip():
        return None
    header = "|"
    if text.lstrip("\n")[0] in " \t":
        if not nested:
            return None
        header = "|2"
    if not text.endswith("\n"):
        return header + "-"
    return header + "+" if text.endswith("\n\n") else header


def _block_lines(text: str, pad: str, out: list[str]) -> None:
    if text.endswith("\n"):
        text = text[:-1]
    out.extend(pad + line if line else "" for line in text.split("\n"))


class _Emitter:
    def __init__(self) -> None:
        self.out: list[str] = []

    def value(self, prefix: str, value: Any, indent: int) -> None:
        """Write `value` after `prefix` (`key:` or `-`), nested blocks indented at `indent`."""
        out = self.out
        kind = type(value)
        if kind is str and "\n" not in value:
            out.append(f"{prefix} {_string(value)}")
        elif kind is int:
            out.append(f"{prefix} {value}")
        elif isinstance(value, dict):
            if not value:
                out.append(prefix + " {}")
            else:
                out.append(prefix)
                self.mapping(value, indent)
        elif isinstance(value, list):
            if not value:
                out.append(prefix + " []")
            else:
                out.append(prefix)
                self.sequence(value, indent)
        elif isinstance(value, str) and (header := _block_header(value)):
            out.append(f"{prefix} {header}")
            _block_lines(value, " " * indent, out)
        else:
            out.append(f"{prefix} {_scalar(value)}")

    def mapping(self, mapping: dict[str, Any], indent: int, keys: Sequence[str] | None = None) -> None:
        pad = " " * indent
        for key in mapping if keys is None else keys:
            if not isinstance(key, str):
                raise TypeError(f"mapping keys must be strings, not {type(key).__name__}")
            text = _string(key)
            if len(text) > _LONG_KEY:
                self.out.append(f"{pad}? {text}")
                self.value(pad + ":", mapping[key], indent + 2)
            else:
                self.value(f"{pad}{text}:", mapping[key], indent + 2)

    def sequence(self, items: list[Any], indent: int) -> None:
        pad = " " * indent
        for item in items:
            if isinstance(item, (dict, list)) and item:
                # The item's first line shares the `- ` line: write it nested, then fold the dash in.
                start = len(self.out)
                if isinstance(item, dict):
                    self.mapping(item, indent + 2)
                else:
                    self.sequence(item, indent + 2)
                self.out[start] = pad + "- " + self.out[start][indent + 2 :]
            else:
                self.value(pad + "-", item, indent + 2)


def dumps(data: Any, *, key_order: Sequence[str] = (), natural: Collection[str] = ()) -> str:
    """Return canonical YAML for a JSON value.

    Top-level keys come in `key_order` first, the rest after them in their own order; the mappings under the
    top-level keys named in `natural` (a recipe's `prompt`) have their keys in natural order ("2" < "10").
    """
    emitter = _Emitter()
    if isinstance(data, dict) and data:
        keys = [k for k in key_order if k in data] + [k for k in data if k not in key_order]
        top = {
            k: dict(sorted(v.items(), key=lambda item: natural_key(item[0])))
            if k in natural and isinstance(v, dict)
            else v
            for k, v in data.items()
        }
        emitter.mapping(top, 0, keys)
    elif isinstance(data, list) and data:
        emitter.sequence(data, 0)
    elif isinstance(data, str) and (header := _block_header(data, nested=False)):
        emitter.out.append(header)
        _block_lines(data, "  ", emitter.out)
    else:
        emitter.out.append("{}" if isinstance(data, dict) else "[]" if isinstance(data, list) else _scalar(data))
    emitter.out.append("")
    return "\n".join(emitter.out)


# -- reading ------------------------------------------------------------------------------------------------

_NULL, _BOOL, _INT, _FLOAT, _STR = "null", "bool", "int", "float", "str"
_NULLS = frozenset(("", "~", "null", "Null", "NULL"))
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_INT_RE = re.compile(r"[-+]?[0-9]+\Z|0o[0-7]+\Z|0x[0-9a-fA-F]+\Z")
_FLOAT_RE = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?\Z|[-+]?\.(?:inf|Inf|INF)\Z|\.(?:nan|NaN|NAN)\Z")
_NUMBER_START = frozenset("0123456789-+.")


def _plain_tag(value: str) -> str:
    """The YAML 1.2 core schema's reading of a plain scalar."""
    if not value or value in _NULLS:
        return _NULL
    if value in _BOOLS:
        return _BOOL
    if value[0] in _NUMBER_START:
        if _INT_RE.match(value):
            return _INT
        if _FLOAT_RE.match(value):
            return _FLOAT
    return _STR


def _to_int(text: str) -> int:
    if text.startswith("0o"):
        return int(text[2:], 8)
    if text.startswith("0x"):
        return int(text[2:], 16)
    return int(text, 10)


def _to_float(text: str) -> float:
    lowered = text.lower()
    if lowered.endswith("inf"):
        return -math.inf if lowered.startswith("-") else math.inf
    if lowered.endswith("nan"):
        return math.nan
    return float(text)


def _make_loader(base: type) -> type:
    class Loader(base):  # type: ignore[misc, valid-type]
        """A safe loader whose only job is to parse and resolve; `_Builder` turns its nodes into values."""

        def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
            if kind is ScalarNode:
                return _plain_tag(value) if implicit[0] else _STR
            return "seq" if kind is SequenceNode else "map"

    return Loader


_PURE_LOADER = _make_loader(yaml.SafeLoader)
_FAST_LOADER = _make_loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader))


class _Builder:
    """Turn a composed YAML node tree into JSON values, refusing what a recipe may not hold."""

    def __init__(self, text: str, file: str | None) -> None:
        self.text = text
        self.file = file
        self.seen: set[int] = set()

    def error(self, node: Node, message: str) -> DocumentError:
        mark = node.start_mark
        return DocumentError(message, file=self.file, line=mark.line + 1, column=mark.column + 1)

    def build(self, node: Node) -> Any:
        if id(node) in self.seen:
            raise self.error(node, "aliases (*name) are not allowed")
        self.seen.add(id(node))
        index = node.start_mark.index
        if index < len(self.text) and self.text[index] in "&!":
            what = "anchors (&name)" if self.text[index] == "&" else f"tags ({_tag_name(node.tag)})"
            raise self.error(node, f"{what} are not allowed")
        tag = node.tag
        if tag == _STR:
            return node.value
        if tag == "map":
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                key = self.build(key_node)
                if not isinstance(key, str):
                    raise self.error(key_node, f"keys must be strings, not {'null' if key is None else type(key).__name__}"
                                     f" ({key_node.value!r}); quote it")
                if key in out:
                    raise self.error(key_node, f"duplicate key {key!r}")
                out[key] = self.build(value_node)
            return out
        if tag == "seq":
            return [self.build(item) for item in node.value]
        value = node.value
        if tag == _INT:
            return _to_int(value)
        if tag == _FLOAT:
            return _to_float(value)
        if tag == _BOOL:
            return _BOOLS[value]
        if tag == _NULL:
            return None
        raise self.error(node, f"tags ({_tag_name(tag)}) are not allowed")


def _tag_name(tag: str) -> str:
    return tag.replace("tag:yaml.org,2002:", "!!")


def loads(text: str | bytes, *, file: str | None = None, pure: bool = False) -> Any:
    """Parse one YAML document into JSON values; DocumentError with line and column on any problem.

    `pure=True` uses PyYAML's pure-Python parser even when libyaml is present (tests compare the two).
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise DocumentError(f"not UTF-8 text (byte {exc.start})", file=file) from exc
    loader = (_PURE_LOADER if pure else _FAST_LOADER)(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        return _Builder(text, file).build(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = ": ".join(p for p in (exc.context, exc.problem) if p) or "not valid YAML"
        raise DocumentError(f"not valid YAML: {message}", file=file,
                            line=mark.line + 1 if mark else None, column=mark.column + 1 if mark else None) from exc
    except yaml.YAMLError as exc:
        raise DocumentError(f"not valid YAML: {str(exc).splitlines()[0]}", file=file) from exc
    except RecursionError as exc:
        raise DocumentError("YAML nested too deeply", file=file) from exc
    finally:
        loader.dispose()


# -- files --------------------------------------------------------------------------------------------------


def atomic_write(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to `path` through a temporary file in the same folder and a rename: never half a file.

    The temporary name is `.<name>.<pid>-<thread>.tmp`, so concurrent writers never share one; it is created
    exclusively (a stale one from a crash is replaced) with the mode a new file gets under the umask.
    """
    target = os.fspath(path)
    folder, name = os.path.split(target)
    tmp = os.path.join(folder, f".{name}.{os.getpid()}-{threading.get_ident()}.tmp")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(tmp, flags, 0o666)
    except FileExistsError:
        os.unlink(tmp)
        fd = os.open(tmp, flags, 0o666)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, target)
    except BaseException:
        _remove(tmp)
        raise


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def write_if_changed(path: str | os.PathLike[str], data: bytes) -> bool:
    """Write `data` unless the file already holds exactly these bytes; return True when it wrote."""
    try:
        with open(path, "rb") as fh:
            if fh.read() == data:
                return False
    except FileNotFoundError:
        pass
    atomic_write(path, data)
    return True
