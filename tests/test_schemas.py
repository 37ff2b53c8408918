"""The JSON Schemas shipped in replay/schemas: well-formed, loadable as package data, and the Cloud one true to its spec."""

from __future__ import annotations

import json
from importlib import resources

import pytest
import yaml
from helpers import DATA
from jsonschema import Draft202012Validator

from replay.validate import KINDS, schema, validate_document

SCHEMA_FILES = sorted(
    entry.name for entry in (resources.files("replay") / "schemas").iterdir() if entry.name.endswith(".json")
)


def walk(node):
    """Every object inside a schema, the schema itself included."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def openapi_schemas():
    spec = yaml.safe_load((DATA / "cloud-openapi-get-job.yaml").read_text(encoding="utf-8"))
    return spec["components"]["schemas"]


def test_the_package_ships_one_schema_per_document_kind():
    assert SCHEMA_FILES == ["container.json", "history.json", "job-cloud.json", "job.json", "prompt.json",
                            "recipe.json", "ui-workflow.json"]


@pytest.mark.parametrize("file_name", SCHEMA_FILES)
def test_schema_file_is_a_valid_draft_2020_12_schema_named_after_its_file(file_name):
    loaded = json.loads((resources.files("replay") / "schemas" / file_name).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(loaded)
    assert loaded["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert loaded["$id"].endswith("/schemas/" + file_name)
    assert loaded.get("title") and loaded.get("description")


@pytest.mark.parametrize("file_name", SCHEMA_FILES)
def test_custom_messages_only_name_keywords_that_sit_beside_them(file_name):
    loaded = json.loads((resources.files("replay") / "schemas" / file_name).read_text(encoding="utf-8"))
    for subschema in walk(loaded):
        for keyword in subschema.get("x-messages", {}):
            assert keyword in subschema, (file_name, keyword)


@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_has_a_schema_whose_references_resolve(kind):
    assert schema(kind)["type"] == "object"
    # Validating anything compiles the schema and follows its references; an unresolvable one would raise.
    for doc in ({}, [], {"prompt": [0, "x", {}, {}, []]}, {"nodes": [], "version": 1}):
        assert isinstance(validate_document(doc, kind), list)


def test_schema_returns_a_fresh_copy():
    schema("job")["required"].append("mutated")
    assert "mutated" not in schema("job")["required"]


def test_strict_picks_the_cloud_job_schema_and_changes_nothing_for_other_kinds():
    assert schema("job", strict=True)["title"].startswith("Comfy Cloud job detail")
    assert schema("prompt", strict=True) == schema("prompt")


def openapi_to_json_schema_property(prop):
    """The parts of an OpenAPI 3.0 property that JSON Schema checks the same way."""
    keep = {key: prop[key] for key in ("type", "enum", "items", "required") if key in prop}
    if prop.get("format") == "uuid":
        keep["format"] = "uuid"
    return keep


@pytest.mark.parametrize(("openapi_name", "path"), [("JobDetailResponse", ()), ("ExecutionError", ("$defs", "ExecutionError"))])
def test_cloud_schema_transcribes_the_openapi_spec(openapi_name, path):
    spec = openapi_schemas()[openapi_name]
    ours = schema("job", strict=True)
    for part in path:
        ours = ours[part]
    assert ours["type"] == spec["type"] == "object"
    assert ours["required"] == spec["required"]
    assert "additionalProperties" not in ours  # the spec leaves the object open
    assert sorted(ours["properties"]) == sorted(spec["properties"])
    for name, prop in spec["properties"].items():
        mine = ours["properties"][name]
        if "$ref" in prop:
            assert mine["$ref"] == prop["$ref"].replace("#/components/schemas/", "#/$defs/")
            continue
        checked = {key: mine[key] for key in ("type", "enum", "items", "format") if key in mine}
        assert checked == openapi_to_json_schema_property(prop), name
        assert mine.get("additionalProperties", True) == prop.get("additionalProperties", True), name


def test_compatible_job_schema_knows_every_cloud_key_with_the_same_type_or_null():
    cloud = schema("job", strict=True)["properties"]
    compatible = schema("job")["properties"]
    assert set(cloud) <= set(compatible)
    assert set(compatible) - set(cloud) == {"priority", "previewable_outputs_count", "execution_start_time",
                                             "execution_end_time"}
    assert compatible["status"]["enum"] == cloud["status"]["enum"]
