"""comfy-replay's JSON Schemas (`replay/schemas/*.json`): loading, compiling once, errors as located plain words.

jsonschema is imported on first use, so importing this module stays cheap.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from replay.findings import JsonPath, path_key, plural, shorten, show, type_message

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator

KINDS = ("job", "history", "container", "prompt", "ui", "recipe")
"""The document kinds ``validate_document`` knows."""

_SCHEMA_FILES = {
    "job": "job.json",
    "job-cloud": "job-cloud.json",
    "history": "history.json",
    "container": "container.json",
    "prompt": "prompt.json",
    "ui": "ui-workflow.json",
    "recipe": "recipe.json",
}
_EXPANSIONS = 2  # how deep a recursive $ref is copied: the top graph and one level of subgraphs


def schema(kind: str, *, strict: bool = False) -> dict[str, Any]:
    """Return a fresh copy of the JSON Schema for ``kind`` (``strict`` picks the Cloud job schema)."""
    return _load_schema(schema_file(kind, strict))

def warm_up() -> None:
    """Import jsonschema and compile the job and prompt validators ahead of the first document."""
    _validator(schema_file("job", False))
    _validator(schema_file("prompt", False))


def schema_file(kind: str, strict: bool) -> str:
    if kind not in KINDS:
        raise ValueError(f"unknown document kind {kind!r}; expected one of {', '.join(KINDS)}")
    return _SCHEMA_FILES["job-cloud" if kind == "job" and strict else kind]


def _load_schema(file_name: str) -> dict[str, Any]:
    text = (resources.files("replay") / "schemas" / file_name).read_text(encoding="utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


@cache
def _validator(file_name: str) -> Validator:
    """Compile the schema once; every schema is registered so that ``$ref: "prompt.json"`` resolves."""
    from jsonschema import Draft202012Validator
    from referencing import Registry
    from referencing.jsonschema import DRAFT202012

    schemas = {each["$id"]: each for each in map(_load_schema, sorted(set(_SCHEMA_FILES.values())))}
    registry: Registry[Any] = Registry().with_resources(
        (uri, DRAFT202012.create_resource(each)) for uri, each in schemas.items()
    )
    root_uri = next(uri for uri in schemas if uri.endswith("/" + file_name))
    root = _inline_refs(schemas[root_uri], root_uri, schemas, ())
    return Draft202012Validator(root, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER)


def _inline_refs(node: Any, base: str, schemas: Mapping[str, Any], expanding: tuple[str, ...]) -> Any:
    """Replace each ``$ref`` by a copy of its target, except where the target is being expanded already.

    Validation is the same; it is about 2.5 times faster because jsonschema no longer looks each
    reference up per value. A recursive reference (subgraphs hold subgraphs) stays a ``$ref``, made
    absolute so that it still resolves from wherever it was copied to. ``$defs`` are left as they are.
    """
    if isinstance(node, list):
        return [_inline_refs(item, base, schemas, expanding) for item in node]
    if not isinstance(node, dict):
        return node
    copied = {
        key: value if key == "$defs" else _inline_refs(value, base, schemas, expanding)
        for key, value in node.items()
        if key != "$ref"
    }
    if "$ref" not in node:
        return copied
    from urllib.parse import urldefrag, urljoin

    target_uri = urljoin(base, node["$ref"])
    if expanding.count(target_uri) >= _EXPANSIONS:
        return dict(copied, **{"$ref": target_uri})
    document_uri, fragment = urldefrag(target_uri)
    target: Any = schemas[document_uri]
    for part in fragment.split("/")[1:]:
        target = target[part]
    expanded = {
        key: value
        for key, value in _inline_refs(target, document_uri, schemas, expanding + (target_uri,)).items()
        if key not in ("$id", "$schema", "$defs")
    }
    return dict(copied, allOf=[*copied.get("allOf", []), expanded]) if copied else expanded


def schema_issues(doc: Any, file_name: str) -> list[tuple[JsonPath, str, bool]]:
    """Return (path, message, the value has the wrong type) for every schema error, sorted by location."""
    issues: list[tuple[JsonPath, str, bool]] = []
    for error in _validator(file_name).iter_errors(doc):
        issues.extend(_describe(error))
    return sorted(set(issues), key=lambda issue: (path_key(issue[0]), issue[1]))


def _describe(error: ValidationError) -> Iterator[tuple[JsonPath, str, bool]]:
    """Turn one jsonschema error into located plain-words messages (values shown as JSON, kept short)."""
    path: JsonPath = tuple(error.absolute_path)
    keyword = str(error.validator)
    expected = error.validator_value
    instance: Any = error.instance
    subschema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    custom = subschema.get("x-messages", {})
    if "propertyNames" in error.absolute_schema_path:
        # The failing instance is a key of the object at `path`: point at the key itself.
        inner = _describe_keyword(keyword, expected, instance, custom) or shorten(error.message, 200)
        yield path + (instance,), f"key: {inner}", False
    elif keyword == "additionalProperties" and expected is False and isinstance(instance, Mapping):
        known = subschema.get("properties", {})
        for key in instance:
            if key not in known:
                yield path + (key,), custom.get(keyword, "unknown key"), False
    elif keyword in ("anyOf", "oneOf") and keyword not in custom and error.context:
        from jsonschema.exceptions import best_match

        yield from _describe(best_match(error.context))
    else:
        message = _describe_keyword(keyword, expected, instance, custom) or shorten(error.message, 200)
        yield path, message, keyword == "type"


def _describe_keyword(keyword: str, expected: Any, instance: Any, custom: Mapping[str, str]) -> str | None:
    if keyword in custom:
        return custom[keyword]
    if keyword == "type":
        return type_message(" or ".join(expected) if isinstance(expected, list) else str(expected), instance)
    if keyword == "enum":
        return f"must be one of {', '.join(show(choice) for choice in expected)}, got {show(instance)}"
    if keyword == "const":
        return f"must be {show(expected)}, got {show(instance)}"
    if keyword in ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"):
        bound = {"minimum": "at least", "exclusiveMinimum": "more than", "maximum": "at most"}
        return f"must be {bound.get(keyword, 'less than')} {show(expected)}, got {show(instance)}"
    if keyword in ("minItems", "maxItems"):
        bound_word = "at least" if keyword == "minItems" else "at most"
        return f"must have {bound_word} {plural(expected, 'item')}, got {len(instance)}"
    if keyword in ("minLength", "minProperties") and expected == 1:
        return "must not be empty"
    if keyword == "format":
        return f"{show(instance)} is not a valid {expected}"
    if keyword == "pattern":
        return f"{show(instance)} does not match {expected}"
    return None



__all__ = ["KINDS", "schema", "schema_file", "schema_issues", "warm_up"]
