"""Recipes: lossless export, secrets removed and listed, refusing to overwrite another job's recipe."""

from __future__ import annotations

import copy
import os

import pytest
from helpers import load

from replay.errors import DocumentError, TargetExistsError
from replay.jobs import job_from_document
from replay.recipe import (
    build_recipe,
    dumps_recipe,
    export_document,
    export_job,
    job_from_recipe,
    loads_recipe,
    write_recipe,
)

SECRET = "sk-live-THIS-IS-THE-KEY-1234567890"


def roundtrip(detail):
    recipe = build_recipe(job_from_document(detail))
    return loads_recipe(dumps_recipe(recipe))


@pytest.mark.parametrize("name", ["oss/fail_runtime_zerodiv.job.json", "oss/success_a.job.json",
                                  "oss/interrupted_running.job.json", "oss/pending.job.json",
                                  "cloud/fail_runtime_zerodiv.job.json", "cloud/success_a.job.json"])
def test_export_job_gives_back_the_recorded_job_detail(name):
    detail = load(name)
    assert export_job(roundtrip(detail)) == detail


def test_recipe_keys_come_in_the_documented_order():
    text = dumps_recipe(build_recipe(job_from_document(load("oss/fail_runtime_zerodiv.job.json"))))
    tops = [line.split(":")[0] for line in text.splitlines() if line and not line.startswith((" ", "-"))]
    assert tops == ["recipe", "source", "job", "prompt", "extra_data", "ui_workflow"]


def test_recipe_splits_the_workflow_container():
    detail = load("oss/fail_runtime_zerodiv.job.json")
    recipe = roundtrip(detail)
    assert "workflow" not in recipe["job"]
    assert recipe["prompt"] == detail["workflow"]["prompt"]
    assert recipe["ui_workflow"] == detail["workflow"]["extra_data"]["extra_pnginfo"]["workflow"]
    assert "workflow" not in recipe["extra_data"]["extra_pnginfo"]
    assert recipe["extra_data"]["client_id"] == detail["workflow"]["extra_data"]["client_id"]


def test_history_entry_recipe_exports_the_job_api_shape():
    recipe = roundtrip(load("oss/fail_runtime_zerodiv.history.json"))
    api = load("oss/fail_runtime_zerodiv.job.json")
    exported = export_job(recipe)
    for key in ("id", "status", "create_time", "execution_start_time", "execution_end_time", "execution_error",
                "outputs", "workflow", "workflow_id"):
        assert exported[key] == api[key], key


def with_secrets():
    detail = copy.deepcopy(load("oss/fail_runtime_zerodiv.job.json"))
    extra = detail["workflow"]["extra_data"]
    extra["api_key_comfy_org"] = SECRET
    extra["auth_token_comfy_org"] = "auth-token-value"
    detail["workflow"]["prompt"]["5"]["inputs"]["api_key"] = "hf_abcdef"
    detail["workflow"]["prompt"]["5"]["inputs"]["hf_token"] = ["4", 0]  # a link is not a secret
    detail["workflow"]["extra_data"]["extra_pnginfo"]["workflow"]["nodes"][0]["widgets_values"] = [SECRET]
    detail["execution_error"]["current_inputs"]["password"] = ["hunter2"]
    return detail


def test_secrets_never_reach_the_recipe_and_are_listed():
    recipe = build_recipe(job_from_document(with_secrets()), api_key=SECRET)
    text = dumps_recipe(recipe)
    for secret in (SECRET, "auth-token-value", "hf_abcdef", "hunter2"):
        assert secret not in text
    redacted = recipe["source"]["redacted"]
    assert "extra_data.api_key_comfy_org" in redacted
    assert "extra_data.auth_token_comfy_org" in redacted
    assert 'prompt["5"].inputs.api_key' in redacted
    assert "job.execution_error.current_inputs.password" in redacted
    assert any(item.startswith("ui_workflow (the API key in use") for item in redacted)
    assert recipe["prompt"]["5"]["inputs"]["hf_token"] == ["4", 0]
    assert recipe["prompt"]["5"]["inputs"]["api_key"] == "<redacted>"


def test_export_of_any_document_removes_secrets():
    job = job_from_document(with_secrets())
    assert "api_key_comfy_org" not in export_document(job, "job", api_key=SECRET)["workflow"]["extra_data"]
    assert export_document(job, "prompt")["5"]["inputs"]["api_key"] == "<redacted>"


def test_server_is_recorded_without_credentials_path_or_query():
    recipe = build_recipe(job_from_document(load("oss/success_a.job.json")),
                          server="https://user:pw@cloud.comfy.org:8443/api/x?token=abc")
    assert recipe["source"]["server"] == "https://cloud.comfy.org:8443"


def test_same_job_gives_the_same_bytes_and_leaves_the_file_untouched(tmp_path):
    path = tmp_path / "r.yaml"
    recipe = build_recipe(job_from_document(load("oss/success_a.job.json")))
    assert write_recipe(path, recipe) == "written"
    first = path.read_bytes()
    os.utime(path, (1, 1))
    again = build_recipe(job_from_document(load("oss/success_a.job.json")))
    assert write_recipe(path, again) == "unchanged"
    assert path.read_bytes() == first and path.stat().st_mtime == 1


def test_recipe_of_another_job_is_not_overwritten(tmp_path):
    path = tmp_path / "r.yaml"
    write_recipe(path, build_recipe(job_from_document(load("oss/success_a.job.json"))))
    before = path.read_bytes()
    other = build_recipe(job_from_document(load("oss/interrupted_running.job.json")))
    with pytest.raises(TargetExistsError, match="another job"):
        write_recipe(path, other)
    assert path.read_bytes() == before
    assert write_recipe(path, other, force=True) == "written"


def test_next_run_of_the_same_workflow_may_replace_the_recipe(tmp_path):
    path = tmp_path / "r.yaml"
    first = load("oss/success_a.job.json")
    write_recipe(path, build_recipe(job_from_document(first)))
    second = copy.deepcopy(first)
    second["id"] = "0b5b8f5e-3f1a-4a57-9a43-6c1f5e0f2f11"
    second["workflow"]["prompt"]["2"]["inputs"]["blur_radius"] = 7
    assert write_recipe(path, build_recipe(job_from_document(second))) == "written"


def test_a_file_that_is_not_a_recipe_is_never_overwritten(tmp_path):
    path = tmp_path / "notes.yaml"
    path.write_text("my: notes\n")
    with pytest.raises(TargetExistsError, match="not a comfy-replay recipe"):
        write_recipe(path, build_recipe(job_from_document(load("oss/success_a.job.json"))))
    assert path.read_text() == "my: notes\n"


def test_recipe_reads_back_as_the_same_job():
    detail = load("oss/fail_runtime_zerodiv.job.json")
    job = job_from_recipe(roundtrip(detail))
    original = job_from_document(detail)
    assert (job.id, job.status, job.prompt, job.ui_workflow, job.error) == (
        original.id, original.status, original.prompt, original.ui_workflow, original.error)


@pytest.mark.parametrize("text", ["recipe: 2\nprompt: {}\n", "recipe: 1\n", "- a\n", "recipe: 1\nprompt: [1]\n"])
def test_malformed_recipes_are_refused(text):
    with pytest.raises(DocumentError):
        loads_recipe(text, file="x.yaml")


def test_prompt_only_recipe_has_no_job():
    prompt = load("oss/success_a.request.json")["prompt"]
    recipe = build_recipe(job_from_document(prompt))
    assert "job" not in recipe and recipe["prompt"] == prompt and recipe["source"] == {"kind": "prompt"}
