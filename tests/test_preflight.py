"""Tests of replay.preflight: the one set of checks before a POST, environment drift included, through the
commands that submit (submit, repro --submit) against the fake server, which records every request."""

from __future__ import annotations

import copy
import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakecomfy import FakeComfy
from graphs import node
from helpers import DATA, env_for, load, run_cli

from replay.client import Client
from replay.environment import capture_environment
from replay.errors import EnvironmentDrift
from replay.jobs import job_from_detail
from replay.preflight import ERROR, WARNING, run_preflight
from replay.recipe import build_recipe, loads_recipe, write_recipe

OBJECT_INFO: dict[str, Any] = json.loads(gzip.decompress((DATA / "object_info.json.gz").read_bytes()))
STATS: dict[str, Any] = load("oss/system_stats.json")
SUCCESS_A: dict[str, Any] = load("oss/success_a.job.json")
ZERODIV: dict[str, Any] = load("oss/fail_runtime_zerodiv.job.json")
ARGV_SECRET = "sk-argv-SECRET-0123456789abcdef"


@pytest.fixture(params=["cloud", "oss"])
def fake(request: pytest.FixtureRequest) -> Iterator[FakeComfy]:
    server = FakeComfy(dialect=request.param, object_info=OBJECT_INFO, run_polls=0).start()
    yield server
    server.stop()
    assert not server.errors, "\n".join(server.errors)


def posts(fake: FakeComfy) -> list[str]:
    return [r.path for r in fake.requests if r.method == "POST"]


def served_environment(fake: FakeComfy, prompt: dict[str, Any]) -> dict[str, Any]:
    """What a run on this fake server would record (its own /system_stats and /object_info)."""
    client = Client(fake.url, api_key=fake.api_key if fake.dialect == "cloud" else None)
    return capture_environment(stats=client.system_stats(), object_info=client.object_info(), prompt=prompt,
                               captured="run")


def recipe_file(tmp_path: Path, detail: dict[str, Any], environment: dict[str, Any] | None,
                prompt: dict[str, Any] | None = None) -> Path:
    job = job_from_detail(copy.deepcopy(detail))
    if prompt is not None:
        job.prompt = prompt
    job.environment = environment
    path = tmp_path / "recipe.yaml"
    write_recipe(path, build_recipe(job), force=True)
    return path


def success_prompt() -> dict[str, Any]:
    prompt: dict[str, Any] = copy.deepcopy(SUCCESS_A["workflow"]["prompt"])
    return prompt


# ---------------------------------------------------------------------------------------------- drift, end to end


def test_another_comfyui_version_is_a_warning_and_the_job_is_still_submitted(fake: FakeComfy, tmp_path: Path):
    recorded = served_environment(fake, success_prompt())
    recorded["system"]["comfyui_version"] = "0.32.0"
    path = recipe_file(tmp_path, SUCCESS_A, recorded)
    code, out, err = run_cli(["submit", str(path), "--json"], env_for(fake))
    assert code == 0, err
    assert "comfy-replay: warning: environment drift: ComfyUI 0.33.0 on the server, the job ran with 0.32.0 " \
           "(newer on the server)" in err
    data = json.loads(out)
    assert [(d["kind"], d["subject"], d["recorded"], d["server"]) for d in data["environment_drift"]] == [
        ("version", "ComfyUI", "0.32.0", "0.33.0")]
    assert data["environment"]["captured"] == "run"
    assert data["environment"]["system"]["comfyui_version"] == "0.33.0"
    assert len(posts(fake)) == 1


def test_strict_env_turns_drift_into_exit_2_before_anything_is_posted(fake: FakeComfy, tmp_path: Path):
    recorded = served_environment(fake, success_prompt())
    recorded["system"]["pytorch_version"] = "2.9.0+cu128"
    path = recipe_file(tmp_path, SUCCESS_A, recorded)
    code, out, err = run_cli(["submit", str(path), "--strict-env", "--json"], env_for(fake))
    assert code == 2
    assert out == ""
    assert "comfy-replay: error: --strict-env: the server differs from where the job ran (1 difference; " \
           "first: PyTorch 2.14.1+cu130 on the server, the job ran with 2.9.0+cu128" in err
    assert posts(fake) == []


def test_the_same_environment_gives_no_drift_and_strict_env_submits(fake: FakeComfy, tmp_path: Path):
    path = recipe_file(tmp_path, SUCCESS_A, served_environment(fake, success_prompt()))
    code, out, err = run_cli(["submit", str(path), "--strict-env", "--json"], env_for(fake))
    assert code == 0, err
    assert json.loads(out)["environment_drift"] == []
    assert "warning" not in err
    assert len(posts(fake)) == 1


def test_a_class_the_server_lacks_is_drift_and_stops_the_post(fake: FakeComfy, tmp_path: Path):
    prompt = success_prompt()
    prompt["6"] = node("ImageResizeKJv2", image=["2", 0], width=256)
    recorded = served_environment(fake, success_prompt())
    recorded["node_packs"].append({"pack": "comfyui-kjnodes", "source": "custom", "classes": ["ImageResizeKJv2"]})
    path = recipe_file(tmp_path, SUCCESS_A, recorded, prompt)
    for extra in ([], ["--strict-env"]):
        code, _out, err = run_cli(["submit", str(path), *extra], env_for(fake))
        assert code == 2
        assert "environment drift: node class ImageResizeKJv2 is not on the server (it came from comfyui-kjnodes)" in err
    assert posts(fake) == []


def test_a_model_file_missing_from_the_servers_list_is_drift(fake: FakeComfy, tmp_path: Path):
    prompt = success_prompt()
    prompt["7"] = node("CheckpointLoaderSimple", ckpt_name="v1-5-pruned-emaonly.safetensors")
    path = recipe_file(tmp_path, SUCCESS_A, served_environment(fake, prompt), prompt)
    code, _out, err = run_cli(["submit", str(path), "--strict-env"], env_for(fake))
    assert code == 2
    assert "environment drift: model checkpoints/v1-5-pruned-emaonly.safetensors (node 7 ckpt_name) is not in " \
           "the server's list" in err
    assert posts(fake) == []


def test_the_drift_check_costs_one_get_of_each_endpoint(fake: FakeComfy, tmp_path: Path):
    recorded = served_environment(fake, success_prompt())
    fake.clear_log()
    path = recipe_file(tmp_path, SUCCESS_A, recorded)
    code, _out, err = run_cli(["submit", str(path), "--wait"], env_for(fake))
    assert code == 0, err
    assert fake.hits["/api/system_stats"] == 1
    assert fake.hits["/api/object_info"] == 1


def test_repro_submit_with_strict_env_stops_before_the_post(fake: FakeComfy, tmp_path: Path):
    prompt: dict[str, Any] = ZERODIV["workflow"]["prompt"]
    recorded = served_environment(fake, prompt)
    recorded["system"]["comfyui_version"] = "0.40.2"
    path = recipe_file(tmp_path, ZERODIV, recorded)
    out_file = tmp_path / "repro.yaml"
    code, _out, err = run_cli(["repro", str(path), "-o", str(out_file), "--submit", "--strict-env"], env_for(fake))
    assert code == 2, err
    assert "ComfyUI 0.33.0 on the server, the job ran with 0.40.2 (older on the server)" in err
    assert posts(fake) == []
    assert loads_recipe(out_file.read_text())["environment"]["system"]["comfyui_version"] == "0.40.2"
    code, out, err = run_cli(["repro", str(path), "-o", str(out_file), "--submit", "--json"], env_for(fake))
    assert code == 0, err
    assert json.loads(out)["environment_drift"][0]["subject"] == "ComfyUI"
    assert len(posts(fake)) == 1


def test_strict_env_with_no_preflight_is_a_usage_error(fake: FakeComfy, tmp_path: Path):
    path = recipe_file(tmp_path, SUCCESS_A, None)
    code, _out, err = run_cli(["submit", str(path), "--strict-env", "--no-preflight"], env_for(fake))
    assert code == 2
    assert "--strict-env needs the preflight checks" in err
    assert posts(fake) == []


def test_an_older_recipe_without_environment_resubmits_without_version_warnings(fake: FakeComfy, tmp_path: Path):
    path = recipe_file(tmp_path, SUCCESS_A, None)
    assert "environment" not in loads_recipe(path.read_text())
    code, out, err = run_cli(["submit", str(path), "--strict-env", "--json"], env_for(fake))
    assert code == 0, err
    assert json.loads(out)["environment_drift"] == []
    assert len(posts(fake)) == 1


# ---------------------------------------------------------------------------------------------- secrets


def test_a_secret_in_the_servers_argv_reaches_no_recipe_log_line_or_json(fake: FakeComfy, tmp_path: Path):
    stats = copy.deepcopy(STATS)
    stats["system"]["argv"] = ["main.py", "--listen", "0.0.0.0", "--api-key", ARGV_SECRET,
                               "--output-directory", "/home/alice/private"]
    fake.system_stats = stats
    job_id = fake.add_job(SUCCESS_A)
    env = env_for(fake)
    seen = []
    code, out, err = run_cli(["-v", "fetch", job_id, "-o", str(tmp_path)], env)
    assert code == 0, err
    seen += [out, err, (tmp_path / f"{job_id}.yaml").read_text()]
    code, out, err = run_cli(["-v", "submit", str(tmp_path / f"{job_id}.yaml"), "--json", "--wait"], env)
    assert code == 0, err
    seen += [out, err]
    for text in seen:
        assert ARGV_SECRET not in text
        assert "/home/alice" not in text
    assert "argv" not in (tmp_path / f"{job_id}.yaml").read_text()


# ---------------------------------------------------------------------------------------------- the library entry point


def test_preflight_without_a_server_checks_the_prompt_alone():
    prompt = {"1": node("EmptyImage", width=64, height=64, batch_size=1, color=0),
              "2": node("PreviewImage", images=["9", 0])}
    report = run_preflight(prompt, targets=["3"])
    assert [(f.severity, f.check) for f in report.findings] == [(ERROR, "graph"), (ERROR, "target")]
    assert report.drift == [] and report.environment is None
    with pytest.raises(Exception, match="preflight found 2 problems"):
        report.raise_for_problems()


def test_preflight_reports_drift_as_warnings_and_strict_raises(fake: FakeComfy):
    client = Client(fake.url, api_key=fake.api_key if fake.dialect == "cloud" else None)
    recorded = served_environment(fake, success_prompt())
    recorded["system"]["comfyui_version"] = "0.32.0"
    report = run_preflight(success_prompt(), client=client, environment=recorded)
    assert report.errors == []
    assert [(f.severity, f.check, f.location) for f in report.warnings] == [(WARNING, "environment", "ComfyUI")]
    report.raise_for_problems()  # drift alone is no error
    with pytest.raises(EnvironmentDrift) as caught:
        report.raise_for_problems(strict_env=True)
    assert caught.value.exit_code == 2
    assert [d.kind for d in caught.value.drift] == ["version"]


def test_strict_env_refuses_when_the_server_cannot_say_its_versions(fake: FakeComfy, tmp_path: Path):
    path = recipe_file(tmp_path, SUCCESS_A, served_environment(fake, success_prompt()))
    fake.fault(r"/system_stats", code=404, times=None)
    code, _out, err = run_cli(["submit", str(path), "--strict-env"], env_for(fake))
    assert code == 2
    assert "versions not compared: the server gave no /system_stats" in err
    assert posts(fake) == []
    code, out, err = run_cli(["submit", str(path), "--json"], env_for(fake))
    assert code == 0, err
    assert [d["kind"] for d in json.loads(out)["environment_drift"]] == ["unverified"]
    assert len(posts(fake)) == 1
