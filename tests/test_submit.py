"""Tests of replay.submit and the `repro`/`submit` commands, end to end over HTTP against the fake ComfyUI server."""

from __future__ import annotations

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
from replay.errors import GraphError, ServerError, ServerUnreachable, SubmitRejected, WaitTimeout
from replay.jobs import Job, job_from_document
from replay.nodedefs import NodeDefs
from replay.recipe import REDACTED, loads_recipe
from replay.repro import build_repro, rerun, write_repro
from replay.submit import preflight_problems, submit_body, submit_job, submit_prompt, wait_for_job
from replay.workflow import parse_set

ZERODIV_ID = "f7838b83-aab4-48ed-96a5-1e0cb6760bc6"
OBJECT_INFO: dict[str, Any] = json.loads(gzip.decompress((DATA / "object_info.json.gz").read_bytes()))
DEFS = NodeDefs.from_dict(OBJECT_INFO)
DIALECTS = ["cloud", "oss"]


def zerodiv_detail() -> dict[str, Any]:
    detail: dict[str, Any] = load("oss/fail_runtime_zerodiv.job.json")
    return detail


def zerodiv() -> Job:
    return job_from_document(zerodiv_detail())


# EmptyImage with a width below its minimum, and a SaveImage without its required images input.
BAD_PROMPT = {
    "1": node("EmptyImage", width=-5, height=64, batch_size=1, color=0),
    "2": node("PreviewImage", images=["1", 0]),
    "3": node("SaveImage", filename_prefix="x"),
}


def start(dialect: str, **options: Any) -> FakeComfy:
    options.setdefault("object_info", OBJECT_INFO)
    options.setdefault("run_polls", 0)
    return FakeComfy(dialect=dialect, **options).start()


@pytest.fixture(params=["cloud", "oss", "oss-legacy"])
def server(request: pytest.FixtureRequest) -> Iterator[FakeComfy]:
    """A fake server of each dialect (Cloud, OSS, OSS without /api/jobs) with the recorded node definitions and
    the recorded failed job."""
    fake = start(request.param)
    fake.add_job(zerodiv_detail())
    yield fake
    fake.stop()
    assert not fake.errors, "\n".join(fake.errors)


def client_for(fake: FakeComfy) -> Client:
    return Client(fake.url, api_key=fake.api_key if fake.dialect == "cloud" else None, retries=1, retry_budget=1.0)


def submitted_keys(fake: FakeComfy) -> list[str]:
    body = fake.submissions[-1]
    assert isinstance(body, dict)
    return sorted(body)


# ------------------------------------------------------------------------------------------- the POST body


def test_the_body_carries_prompt_ui_graph_and_targets_only() -> None:
    body = submit_body({"1": node("A")}, ui_workflow={"nodes": []}, targets=["1"])
    assert body == {
        "prompt": {"1": node("A")},
        "extra_data": {"extra_pnginfo": {"workflow": {"nodes": []}}},
        "partial_execution_targets": ["1"],
    }
    assert submit_body({"1": node("A")}) == {"prompt": {"1": node("A")}}


def test_submitting_a_job_never_sends_its_extra_data_secrets(server: FakeComfy) -> None:
    detail = zerodiv_detail()
    detail["workflow"]["extra_data"]["api_key_comfy_org"] = "comfyui-secret-key"
    detail["workflow"]["extra_data"]["auth_token_comfy_org"] = "secret-token"
    with client_for(server) as client:
        submit_job(client, job_from_document(detail))
    raw = json.dumps(server.submissions[-1])
    assert "secret" not in raw
    assert submitted_keys(server) == ["extra_data", "prompt"]
    assert server.submissions[-1]["extra_data"] == {"extra_pnginfo": {"workflow": detail["workflow"]["extra_data"][
        "extra_pnginfo"]["workflow"]}}


# ------------------------------------------------------------------------------------------- preflight


def test_preflight_without_definitions_checks_the_graph_redactions_and_targets() -> None:
    prompt = {
        "1": node("A", x=["9", 0]),
        "2": node("B", x=["3", 0]),
        "3": node("C", x=["2", 0]),
        "4": node("OpenAI", api_key=REDACTED),
    }
    lines = preflight_problems(prompt, targets=["7"])
    assert any("links to node" in line and "9" in line for line in lines)
    assert any("cycle" in line for line in lines)
    assert any("node 4 input 'api_key'" in line and "--set 4.api_key=VALUE" in line for line in lines)
    assert "target 7: the prompt has no such node" in lines


def test_preflight_with_definitions_checks_types_required_inputs_ranges_and_targets() -> None:
    prompt = {**BAD_PROMPT, "4": node("NoSuchNode")}
    lines = preflight_problems(prompt, defs=DEFS)
    assert any('"1"' in line and "width" in line for line in lines)
    assert any('"3"' in line and "images" in line and "missing" in line for line in lines)
    assert any("NoSuchNode" in line for line in lines)
    target_lines = preflight_problems(BAD_PROMPT, targets=["1"], defs=DEFS)
    assert "target 1 (EmptyImage): not an output node, so it cannot be a target" in target_lines


def test_preflight_finds_a_prompt_without_output_nodes() -> None:
    lines = preflight_problems({"1": node("PrimitiveInt", value=1)}, defs=DEFS)
    assert lines == ["the prompt has no output node (SaveImage, PreviewImage, ...); the server would refuse it"]


def test_the_recorded_prompt_passes_preflight() -> None:
    job = zerodiv()
    assert job.prompt is not None
    assert preflight_problems(job.prompt, defs=DEFS) == []
    plan = build_repro(job, minimal=True, defs=DEFS)
    assert preflight_problems(plan.prompt, targets=plan.targets, defs=DEFS) == []


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_failing_preflight_refuses_to_submit_one_line_per_problem(dialect: str) -> None:
    fake = start(dialect)
    try:
        with client_for(fake) as client, pytest.raises(GraphError) as caught:
            submit_prompt(client, BAD_PROMPT)
        assert fake.hits["/api/prompt"] == 0
        assert fake.submissions == []
        assert len(caught.value.problems) == 2
        assert "nothing was submitted" in str(caught.value)
    finally:
        fake.stop()


def test_preflight_uses_the_servers_definitions_only_when_it_has_some() -> None:
    fake = start("oss", object_info=None)  # serves an empty /object_info: the type checks are skipped, not failed
    try:
        with client_for(fake) as client:
            job_id = submit_prompt(client, {"1": node("EmptyImage", width=8, height=8, batch_size=1, color=0),
                                            "2": node("PreviewImage", images=["1", 0])})
        assert len(job_id) == 36
    finally:
        fake.stop()


# ------------------------------------------------------------------------------------------- server refusals


@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_400_with_node_errors_is_raised_node_by_node(dialect: str) -> None:
    fake = start(dialect)
    try:
        with client_for(fake) as client, pytest.raises(SubmitRejected) as caught:
            submit_prompt(client, BAD_PROMPT, preflight=False)
        rejected = caught.value
        assert sorted(rejected.node_errors) == ["1", "3"]
        assert "node 1 (EmptyImage): Value -5 smaller than min of 1: width" in rejected.lines
        assert "node 3 (SaveImage): Required input is missing: images" in rejected.lines
        assert rejected.exit_code == 2
        assert fake.hits["/api/prompt"] == 1
    finally:
        fake.stop()


def test_a_cloud_400_in_code_and_message_shape_is_a_rejection_too() -> None:
    fake = start("cloud", cloud_error_shape="code")
    try:
        with client_for(fake) as client, pytest.raises(SubmitRejected, match="Prompt outputs failed validation"):
            submit_prompt(client, BAD_PROMPT, preflight=False)
    finally:
        fake.stop()


@pytest.mark.parametrize(
    ("code", "said"),
    [(402, "insufficient credits"), (429, "subscription"), (503, "HTTP 503")],
)
def test_payment_subscription_and_server_errors_on_post_are_server_errors_and_never_retried(
    server: FakeComfy, code: int, said: str
) -> None:
    server.fault(r"^/api/prompt", kind="status", method="POST", code=code,
                 body={"code": "refused", "message": "payment required"})  # fmt: skip
    with client_for(server) as client, pytest.raises(ServerError, match=said) as caught:
        submit_prompt(client, {"1": node("EmptyImage", width=8, height=8, batch_size=1, color=0),
                               "2": node("PreviewImage", images=["1", 0])})  # fmt: skip
    assert caught.value.exit_code == 3
    assert server.hits["/api/prompt"] == 1


def test_a_connection_reset_on_post_is_not_retried(server: FakeComfy) -> None:
    server.fault(r"^/api/prompt", kind="reset", method="POST")
    with client_for(server) as client, pytest.raises(ServerUnreachable):
        submit_prompt(client, {"1": node("EmptyImage", width=8, height=8, batch_size=1, color=0),
                               "2": node("PreviewImage", images=["1", 0])})  # fmt: skip
    assert server.hits["/api/prompt"] == 1


# ------------------------------------------------------------------------------------------- waiting


class FakeTime:
    """A clock that only moves when `sleep` is called: waits are counted, never spent."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def clock(self) -> float:
        return self.now


@pytest.mark.parametrize("dialect", ["cloud", "oss", "oss-legacy"])
def test_waiting_backs_off_from_half_a_second_to_five_and_times_out_with_the_job_id(dialect: str) -> None:
    fake = start(dialect, never_finish=True)
    time = FakeTime()
    seen: list[str] = []
    try:
        with client_for(fake) as client:
            job_id = submit_prompt(client, {"1": node("EmptyImage", width=8, height=8, batch_size=1, color=0),
                                            "2": node("PreviewImage", images=["1", 0])})  # fmt: skip
            with pytest.raises(WaitTimeout) as caught:
                wait_for_job(client, job_id, wait_timeout=30, sleep=time.sleep, clock=time.clock,
                             on_progress=lambda status, elapsed: seen.append(status))  # fmt: skip
    finally:
        fake.stop()
    assert caught.value.job_id == job_id
    assert job_id in str(caught.value)
    assert caught.value.exit_code == 3
    assert time.sleeps == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0, 5.0, 5.0, 2.5]
    expected = "unknown" if dialect == "oss-legacy" else "in_progress"  # an old server's history lists no running job
    assert set(seen) == {expected}


@pytest.mark.parametrize("dialect", ["cloud", "oss", "oss-legacy"])
def test_waiting_follows_a_job_through_pending_and_running_to_the_end(dialect: str) -> None:
    fake = start(dialect, run_polls=3)
    time = FakeTime()
    try:
        with client_for(fake) as client:
            job_id = submit_prompt(client, {"1": node("EmptyImage", width=8, height=8, batch_size=1, color=0),
                                            "2": node("PreviewImage", images=["1", 0])})  # fmt: skip
            job = wait_for_job(client, job_id, sleep=time.sleep, clock=time.clock)
    finally:
        fake.stop()
    assert job.status == "completed"
    assert job.id == job_id
    assert time.sleeps == [0.5, 1.0, 2.0]


# ------------------------------------------------------------------------------------------- verdicts, library


@pytest.mark.parametrize("minimal", [False, True])
def test_rerunning_the_recorded_failure_reproduces_it(server: FakeComfy, tmp_path: Path, minimal: bool) -> None:
    server.fail_when(class_type="ComfyMathExpression", input_name="expression", equals="a / b")
    run = write_repro(zerodiv(), minimal=minimal, defs=DEFS, out=str(tmp_path))
    with client_for(server) as client:
        rerun(run, client, wait=True)
    assert run.verdict == "reproduced"
    assert run.new_job is not None and run.new_job.error is not None
    assert (run.new_job.error.node_id, run.new_job.error.exception_type) == ("5", "ZeroDivisionError")
    body = server.submissions[-1]
    if minimal:
        assert body["partial_execution_targets"] == ["8"]
        assert sorted(body["prompt"]) == ["1", "2", "4", "5", "6", "7", "8"]
        assert "extra_data" not in body
    else:
        assert "partial_execution_targets" not in body
        assert sorted(body["prompt"]) == ["1", "2", "3", "4", "5", "6", "7", "8"]
        assert "workflow" in body["extra_data"]["extra_pnginfo"]


def test_a_fix_with_set_is_not_reproduced(server: FakeComfy, tmp_path: Path) -> None:
    server.fail_when(class_type="ComfyMathExpression", input_name="expression", equals="a / b")
    run = write_repro(zerodiv(), sets=[parse_set("5.expression=a * b")], out=str(tmp_path))
    with client_for(server) as client:
        rerun(run, client, wait=True)
    assert run.verdict == "not-reproduced"
    assert run.new_job is not None and run.new_job.status == "completed"


def test_a_fix_that_fails_further_on_is_a_different_failure(server: FakeComfy, tmp_path: Path) -> None:
    server.fail_when(class_type="ComfyMathExpression", input_name="expression", equals="a / b")
    server.fail_when(class_type="ImageScale", exception_type="RuntimeError", message="width too small")
    run = write_repro(zerodiv(), sets=[parse_set("5.expression=a * b")], out=str(tmp_path))
    with client_for(server) as client:
        rerun(run, client, wait=True)
    assert run.verdict == "different-failure"
    assert run.new_job is not None and run.new_job.error is not None
    assert run.new_job.error.node_type == "ImageScale"


def test_a_cancelled_rerun_is_a_different_failure(server: FakeComfy, tmp_path: Path) -> None:
    server.cancel_next()
    run = write_repro(zerodiv(), out=str(tmp_path))
    with client_for(server) as client:
        rerun(run, client, wait=True)
    assert run.new_job is not None and run.new_job.status == "cancelled"
    assert run.verdict == "different-failure"


# ------------------------------------------------------------------------------------------- the commands


def test_repro_of_a_job_id_submits_waits_and_prints_the_verdict_as_json(server: FakeComfy, tmp_path: Path) -> None:
    server.fail_when(class_type="ComfyMathExpression", input_name="expression", equals="a / b")
    code, out, err = run_cli(["repro", ZERODIV_ID, "--minimal", "-o", str(tmp_path), "--submit", "--wait", "--json"],
                             env_for(server))  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    assert result["recipe"] == str(tmp_path / f"{ZERODIV_ID}.repro.yaml")
    assert (result["failed_node"], result["node_type"], result["exception_type"]) == (
        "5", "ComfyMathExpression", "ZeroDivisionError")  # fmt: skip
    assert result["kept_nodes"] == ["1", "2", "4", "5", "6", "7", "8"]
    assert result["targets"] == ["8"]
    assert result["job_id"] == server.job_ids()[-1]
    assert result["verdict"] == "reproduced"
    assert (tmp_path / f"{ZERODIV_ID}.repro.yaml").exists()


@pytest.mark.parametrize(
    ("sets", "verdict"),
    [([], "reproduced"), (["--set", "5.expression=a * b"], "not-reproduced"),
     (["--set", "5.expression=a * b", "--set", "7.crop=center"], "different-failure")],
)  # fmt: skip
def test_repro_submit_wait_exits_0_for_every_verdict_and_shows_both_errors(
    server: FakeComfy, tmp_path: Path, sets: list[str], verdict: str
) -> None:
    server.fail_when(class_type="ComfyMathExpression", input_name="expression", equals="a / b")
    server.fail_when(class_type="ImageScale", input_name="crop", equals="center", exception_type="RuntimeError",
                     message="crop failed")  # fmt: skip
    code, out, err = run_cli(["repro", ZERODIV_ID, "-o", str(tmp_path), *sets, "--submit", "--wait"], env_for(server))
    assert code == 0, err
    assert err == f"submitted job {server.job_ids()[-1]}\n"  # said before waiting, so an interrupted wait keeps it
    assert f"verdict    {verdict}" in out
    assert "before     failed at node 5 (ComfyMathExpression): ZeroDivisionError: division by zero" in out
    after = {"reproduced": "after      failed at node 5 (ComfyMathExpression): ZeroDivisionError: division by zero",
             "not-reproduced": "after      completed",
             "different-failure": "after      failed at node 7 (ImageScale): RuntimeError: crop failed"}  # fmt: skip
    assert after[verdict] in out


def test_repro_of_a_file_works_offline_and_writes_the_default_recipe_name(tmp_path: Path) -> None:
    job_file = tmp_path / "failed.json"
    job_file.write_text(json.dumps(zerodiv_detail()), encoding="utf-8")
    out_dir = tmp_path / "recipes"
    code, out, err = run_cli(["repro", str(job_file), "-o", str(out_dir), "--json"], {})
    assert code == 0, err
    result = json.loads(out)
    assert result["recipe"] == str(out_dir / f"{ZERODIV_ID}.repro.yaml")
    assert result["job_id"] is None and result["verdict"] is None
    assert result["kept_nodes"] == ["1", "2", "3", "4", "5", "6", "7", "8"] and result["targets"] == []


@pytest.mark.parametrize(
    ("name", "status"),
    [("oss/success_a.job.json", "completed"), ("oss/interrupted_running.job.json", "cancelled")],
)
def test_repro_of_a_job_that_did_not_fail_exits_2_naming_its_status(tmp_path: Path, name: str, status: str) -> None:
    code, out, err = run_cli(["repro", str(DATA / name), "-o", str(tmp_path)], {})
    assert code == 2
    assert err.startswith("comfy-replay: error: ") and f"is {status}, not failed" in err
    assert list(tmp_path.iterdir()) == []


def test_repro_with_an_unknown_input_exits_2_naming_the_nodes_inputs(tmp_path: Path) -> None:
    code, _, err = run_cli(["repro", str(DATA / "oss/fail_runtime_zerodiv.job.json"), "-o", str(tmp_path),
                            "--set", "5.seed=1"], {})  # fmt: skip
    assert code == 2
    assert "its inputs: expression, values.a, values.b" in err
    assert list(tmp_path.iterdir()) == []


def test_repro_minimal_offline_takes_output_nodes_from_an_object_info_file(tmp_path: Path) -> None:
    code, out, err = run_cli(["repro", str(DATA / "oss/fail_runtime_zerodiv.job.json"), "--minimal", "-o", str(tmp_path),
                              "--object-info", str(DATA / "object_info.json.gz"), "--json"], {})  # fmt: skip
    assert code == 0, err
    result = json.loads(out)
    assert (result["mode"], result["targets"], result["dropped_nodes"]) == ("minimal", ["8"], ["3"])


def test_repro_to_stdout_prints_the_recipe_and_the_summary_on_stderr() -> None:
    code, out, err = run_cli(["repro", str(DATA / "oss/fail_runtime_zerodiv.job.json"), "--minimal", "-o", "-"], {})
    assert code == 0, err
    recipe = loads_recipe(out)
    assert recipe["repro"]["targets"] == ["8"]
    assert sorted(recipe["prompt"]) == ["1", "2", "4", "5", "6", "7", "8"]
    assert "failed at  node 5 (ComfyMathExpression): ZeroDivisionError: division by zero" in err


def test_repro_wait_without_submit_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = run_cli(["repro", str(DATA / "oss/fail_runtime_zerodiv.job.json"), "--wait"], {})
    assert code == 2 and "--submit" in err


def test_submit_of_a_repro_recipe_sends_its_targets_and_exits_1_when_the_job_fails(
    server: FakeComfy, tmp_path: Path
) -> None:
    server.fail_when(class_type="ComfyMathExpression")
    run = write_repro(zerodiv(), minimal=True, out=str(tmp_path))
    code, out, err = run_cli(["submit", run.recipe_path, "--wait"], env_for(server))
    assert code == 1, err
    assert server.submissions[-1]["partial_execution_targets"] == ["8"]
    lines = out.splitlines()
    assert lines[0] == server.job_ids()[-1]
    assert lines[1] == "failed at node 5 (ComfyMathExpression): ZeroDivisionError: division by zero"


def test_submit_and_repro_wait_print_a_failure_message_with_escape_sequences_as_text(
    server: FakeComfy, tmp_path: Path
) -> None:
    # the exception message is the server's text: it must not clear the screen or retitle the terminal
    server.fail_when(class_type="ComfyMathExpression", exception_type="ValueError",
                     message="bad\x1b[2J\x1b]0;pwned\x07\rvalue")
    run = write_repro(zerodiv(), minimal=True, out=str(tmp_path))
    code, out, err = run_cli(["submit", run.recipe_path, "--wait"], env_for(server))
    assert code == 1, err
    assert out.splitlines()[1] == ("failed at node 5 (ComfyMathExpression): ValueError: "  # its first line
                                   "bad\\x1b[2J\\x1b]0;pwned\\x07")
    code, out, err = run_cli(["repro", str(DATA / "oss/fail_runtime_zerodiv.job.json"), "--minimal", "--submit",
                              "--wait", "-o", str(tmp_path / "r.yaml")], env_for(server))
    assert code == 0, err
    assert "\x1b" not in out and "\x07" not in out and "\r" not in out
    assert "ValueError: bad\\x1b[2J" in out


def test_submit_with_a_fix_exits_0_when_the_job_completes(server: FakeComfy, tmp_path: Path) -> None:
    server.fail_when(class_type="ComfyMathExpression", input_name="expression", equals="a / b")
    run = write_repro(zerodiv(), out=str(tmp_path))
    code, out, err = run_cli(["submit", run.recipe_path, "--set", "5.expression=a - b", "--wait", "--json"],
                             env_for(server))  # fmt: skip
    assert code == 0, err
    assert json.loads(out)["status"] == "completed"
    assert server.submissions[-1]["prompt"]["5"]["inputs"]["expression"] == "a - b"


def test_submit_without_wait_prints_the_job_id(server: FakeComfy) -> None:
    code, out, err = run_cli(["submit", str(DATA / "oss/fail_runtime_zerodiv.job.json")], env_for(server))
    assert code == 0, err
    assert out == server.job_ids()[-1] + "\n"


def test_submit_refused_by_preflight_exits_2_with_one_line_per_problem(server: FakeComfy, tmp_path: Path) -> None:
    prompt_file = tmp_path / "bad.json"
    prompt_file.write_text(json.dumps(BAD_PROMPT), encoding="utf-8")
    code, out, err = run_cli(["submit", str(prompt_file)], env_for(server))
    assert code == 2
    lines = err.splitlines()
    assert lines[0].startswith("comfy-replay: error: preflight found 2 problems")
    assert len(lines) == 3 and all(line.startswith("  ") for line in lines[1:])
    assert server.submissions == []


def test_submit_rejected_by_the_server_exits_2_showing_each_node(server: FakeComfy, tmp_path: Path) -> None:
    prompt_file = tmp_path / "bad.json"
    prompt_file.write_text(json.dumps(BAD_PROMPT), encoding="utf-8")
    code, _, err = run_cli(["submit", str(prompt_file), "--no-preflight"], env_for(server))
    assert code == 2
    assert "  node 1 (EmptyImage): Value -5 smaller than min of 1: width" in err.splitlines()
    assert "  node 3 (SaveImage): Required input is missing: images" in err.splitlines()


def test_submit_refused_for_credits_exits_3_with_the_reason(server: FakeComfy) -> None:
    server.fault(r"^/api/prompt", kind="status", method="POST", code=402,
                 body={"code": "insufficient_credits", "message": "Not enough credits"})  # fmt: skip
    code, _, err = run_cli(["submit", str(DATA / "oss/fail_runtime_zerodiv.job.json")], env_for(server))
    assert code == 3
    assert "insufficient credits" in err and "Not enough credits" in err
    assert server.hits["/api/prompt"] == 1


def test_submit_wait_timeout_exits_3_and_names_the_job(tmp_path: Path) -> None:
    fake = start("oss", never_finish=True)
    try:
        code, _, err = run_cli(["submit", str(DATA / "oss/fail_runtime_zerodiv.job.json"), "--wait",
                                "--wait-timeout", "0.2"], env_for(fake))  # fmt: skip
        assert code == 3
        assert fake.job_ids()[-1] in err
    finally:
        fake.stop()


def test_submit_of_a_ui_workflow_asks_for_a_conversion_first(server: FakeComfy, tmp_path: Path) -> None:
    ui_file = tmp_path / "ui.json"
    ui_file.write_text(json.dumps({"version": 0.4, "nodes": [], "links": [], "last_node_id": 0}), encoding="utf-8")
    code, _, err = run_cli(["submit", str(ui_file)], env_for(server))
    assert code == 2 and "convert" in err


# ------------------------------------------------------------------------------------------- the run's environment


@pytest.mark.parametrize("wait", [[], ["--wait"]])
def test_submit_json_reports_the_servers_environment_captured_at_submit_time(
    server: FakeComfy, tmp_path: Path, wait: list[str]
) -> None:
    job_file = tmp_path / "success.json"
    job_file.write_text(json.dumps(load("oss/success_a.job.json")))
    code, out, err = run_cli(["submit", str(job_file), "--json", *wait], env_for(server))
    assert code == 0, err
    environment = json.loads(out)["environment"]
    assert environment["captured"] == "run"
    assert environment["server"] == server.url
    # The fake's /system_stats: ComfyUI 0.33.0 on Cloud and OSS, 0.5.1 on the legacy OSS dialect.
    assert environment["system"]["comfyui_version"] == ("0.5.1" if server.dialect == "oss-legacy" else "0.33.0")
    # The job's UI graph marks its five nodes cnr_id comfy-core, ver 0.33.0; the server says where the classes live.
    assert environment["node_packs"] == [{"pack": "comfy-core", "source": "core", "cnr_id": "comfy-core",
                                          "ver": "0.33.0", "classes": [
        "EmptyImage", "ImageBlur", "ImageInvert", "PreviewImage", "SaveImage"]}]
    assert len(server.submissions) == 1


def test_submit_json_with_no_preflight_has_no_environment_and_asks_for_no_system_stats(
    server: FakeComfy, tmp_path: Path
) -> None:
    job_file = tmp_path / "success.json"
    job_file.write_text(json.dumps(load("oss/success_a.job.json")))
    code, out, err = run_cli(["submit", str(job_file), "--json", "--no-preflight"], env_for(server))
    assert code == 0, err
    assert json.loads(out)["environment"] is None and json.loads(out)["environment_drift"] == []
    assert not any(path.endswith("system_stats") for path in server.hits)
