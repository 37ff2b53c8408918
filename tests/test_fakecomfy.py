"""The fake ComfyUI server does what it claims, checked over real HTTP with plain `requests`."""

from __future__ import annotations

import copy
import gzip
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests
from fakecomfy import ANY, FakeComfy, bulk_jobs, make_job
from fakecomfy_jobs import STATUSES

DATA = Path(__file__).parent / "data"
KEY = {"X-API-Key": "k"}


def load(name: str) -> Any:
    return json.loads((DATA / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def object_info() -> dict[str, Any]:
    return json.loads(gzip.decompress((DATA / "object_info.json.gz").read_bytes()))


def get(server: FakeComfy, path: str, **kwargs: Any) -> requests.Response:
    headers = KEY if server.dialect == "cloud" else {}
    return requests.get(server.url + path, headers=headers, timeout=10, **kwargs)


def post(server: FakeComfy, path: str, body: Any) -> requests.Response:
    headers = KEY if server.dialect == "cloud" else {}
    return requests.post(server.url + path, json=body, headers=headers, timeout=10)


def submit(server: FakeComfy, body: dict[str, Any]) -> str:
    response = post(server, "/api/prompt", body)
    assert response.status_code == 200, response.text
    return str(response.json()["prompt_id"])


def wait_terminal(server: FakeComfy, job_id: str) -> dict[str, Any]:
    for _ in range(10):
        detail = get(server, f"/api/jobs/{job_id}").json()
        if detail["status"] in ("completed", "failed", "cancelled"):
            return dict(detail)
    raise AssertionError(f"job {job_id} never finished")


# ---------------------------------------------------------------- dialects


@pytest.mark.parametrize("name", ["success_a", "fail_runtime_zerodiv", "interrupted_running", "pending",
                                  "in_progress"])
def test_oss_serves_a_recorded_job_exactly_as_recorded(oss_server, name):
    recorded = load(f"oss/{name}.job.json")
    oss_server.add_job(recorded)
    assert get(oss_server, f"/api/jobs/{recorded['id']}").json() == recorded


@pytest.mark.parametrize("name", ["success_a", "fail_runtime_zerodiv"])
def test_cloud_serves_a_cloud_job_exactly_as_given(cloud_server, name):
    cloud = load(f"cloud/{name}.job.json")
    cloud_server.add_job(cloud)
    assert get(cloud_server, f"/api/jobs/{cloud['id']}").json() == cloud


def test_cloud_reshapes_a_recorded_oss_job_into_the_cloud_dialect(cloud_server):
    recorded = load("oss/fail_runtime_zerodiv.job.json")
    cloud_server.add_job(recorded)
    served = get(cloud_server, f"/api/jobs/{recorded['id']}").json()
    expected = load("cloud/fail_runtime_zerodiv.job.json")
    assert served["create_time"] == 1795869262 and served["update_time"] == 1795869262
    assert served["execution_start_time"] == 1795869262084  # execution times stay in ms, as the spec says
    assert "priority" not in served
    # The synthesized file empties current_outputs; the fake keeps the executed node ids as the object's keys.
    assert sorted(served["execution_error"]["current_outputs"]) == sorted(["2", "1", "5", "6", "8", "4", "7", "3"])
    served["execution_error"]["current_outputs"] = {}
    assert served == expected


def test_oss_reshapes_a_cloud_job_into_milliseconds_and_lists(oss_server):
    cloud = load("cloud/fail_runtime_zerodiv.job.json")
    oss_server.add_job(cloud)
    served = get(oss_server, f"/api/jobs/{cloud['id']}").json()
    assert served["create_time"] == 1795869262000
    assert "update_time" not in served
    assert isinstance(served["priority"], int)
    error = served["execution_error"]
    assert isinstance(error["current_outputs"], list)
    assert error["prompt_id"] == cloud["id"] and error["executed"] == ["2", "1", "6", "4", "3"]
    assert error["timestamp"] == 1795869262094


def test_oss_leaves_out_keys_whose_value_is_null(oss_server):
    detail = dict(load("oss/success_a.job.json"), execution_error=None, preview_output=None)
    oss_server.add_job(detail)
    served = get(oss_server, f"/api/jobs/{detail['id']}").json()
    assert "execution_error" not in served and "preview_output" not in served


def test_pending_and_running_jobs_carry_no_workflow_or_outputs(oss_server):
    for name in ("pending", "in_progress"):
        oss_server.add_job(load(f"oss/{name}.job.json"))
    for job in get(oss_server, "/api/jobs").json()["jobs"]:
        detail = get(oss_server, f"/api/jobs/{job['id']}").json()
        assert {"workflow", "outputs", "execution_status"}.isdisjoint(detail)


# ---------------------------------------------------------------- history


@pytest.mark.parametrize("name", ["success_a", "fail_runtime_zerodiv", "interrupted_running"])
def test_history_derived_from_a_job_detail_equals_the_recorded_history(oss_server, name):
    recorded = load(f"oss/{name}.job.json")
    oss_server.add_job(recorded)
    assert get(oss_server, f"/history/{recorded['id']}").json() == load(f"oss/{name}.history.json")


def test_a_history_body_can_be_added_as_a_job(oss_server):
    job_id = oss_server.add_job(load("oss/fail_runtime_zerodiv.history.json"))
    assert get(oss_server, f"/api/jobs/{job_id}").json() == load("oss/fail_runtime_zerodiv.job.json")


def test_a_given_history_entry_is_served_as_is(oss_server):
    detail = load("oss/success_a.job.json")
    entry = {"prompt": [7, detail["id"], {}, {}, []], "outputs": {}, "status": None, "meta": {}}
    oss_server.add_job(detail, history={detail["id"]: entry})
    assert get(oss_server, f"/history/{detail['id']}").json() == {detail["id"]: entry}


def test_history_is_an_empty_object_for_unknown_and_unfinished_jobs(oss_server):
    oss_server.add_job(load("oss/in_progress.job.json"))
    assert get(oss_server, "/history/221facac-58f2-4343-906b-4c9f46323b3d").json() == {}
    assert get(oss_server, f"/history/{uuid.uuid4()}").json() == load("oss/history_unknown.json")
    assert get(oss_server, "/history").json() == {}


def test_history_lists_oldest_first_and_max_items_keeps_the_newest(oss_server):
    jobs = [make_job("completed", number=i, create_time=1795869000000 + i * 1000, seed=i) for i in range(5)]
    oss_server.add_jobs(jobs)
    ids = [job["id"] for job in jobs]
    assert list(get(oss_server, "/history").json()) == ids
    assert list(get(oss_server, "/history", params={"max_items": 2}).json()) == ids[3:]
    assert list(get(oss_server, "/history", params={"max_items": 2, "offset": 1}).json()) == ids[1:3]


def test_oss_serves_history_with_and_without_the_api_prefix(oss_server):
    recorded = load("oss/success_a.job.json")
    oss_server.add_job(recorded)
    assert get(oss_server, f"/api/history/{recorded['id']}").json() == get(oss_server, f"/history/{recorded['id']}").json()


def test_cloud_serves_the_deprecated_history_v2_with_an_object_prompt(cloud_server):
    recorded = load("oss/success_a.job.json")
    cloud_server.add_job(recorded)
    one = get(cloud_server, f"/api/history_v2/{recorded['id']}").json()[recorded["id"]]
    assert one["prompt"]["prompt_id"] == recorded["id"] and "prompt" in one["prompt"]
    listed = get(cloud_server, "/api/history_v2").json()["history"]
    assert [entry["prompt_id"] for entry in listed] == [recorded["id"]]
    assert "workflow" not in listed[0]["prompt"]["extra_data"]["extra_pnginfo"]


# ---------------------------------------------------------------- the jobs list


def test_list_is_newest_first_and_pages_with_offset_and_limit(oss_server):
    jobs = bulk_jobs(25, size_kb=1)
    oss_server.add_jobs(jobs)
    newest_first = [job["id"] for job in sorted(jobs, key=lambda j: j["create_time"], reverse=True)]
    seen: list[str] = []
    for offset in (0, 10, 20):
        body = get(oss_server, "/api/jobs", params={"limit": 10, "offset": offset}).json()
        assert body["pagination"] == {"offset": offset, "limit": 10, "total": 25, "has_more": offset + 10 < 25}
        seen += [job["id"] for job in body["jobs"]]
    assert seen == newest_first


def test_oss_list_without_limit_returns_every_job_and_a_null_limit(oss_server):
    oss_server.add_jobs(bulk_jobs(7, size_kb=1))
    body = get(oss_server, "/api/jobs").json()
    assert len(body["jobs"]) == 7
    assert body["pagination"] == {"offset": 0, "limit": None, "total": 7, "has_more": False}


def test_list_filters_by_comma_separated_statuses_and_by_workflow_id(oss_server):
    jobs = bulk_jobs(60, size_kb=1)
    oss_server.add_jobs(jobs)
    body = get(oss_server, "/api/jobs", params={"status": "failed,cancelled"}).json()
    expected = {job["id"] for job in jobs if job["status"] in ("failed", "cancelled")}
    assert {job["id"] for job in body["jobs"]} == expected and expected
    workflow_id = jobs[0]["workflow_id"]
    body = get(oss_server, "/api/jobs", params={"workflow_id": workflow_id}).json()
    assert {job["id"] for job in body["jobs"]} == {job["id"] for job in jobs if job["workflow_id"] == workflow_id}


def test_list_entries_leave_out_the_workflow_and_outputs(oss_server, cloud_server):
    for server in (oss_server, cloud_server):
        server.add_job(load("oss/success_a.job.json"))
        entry = get(server, "/api/jobs").json()["jobs"][0]
        assert {"workflow", "outputs", "execution_status"}.isdisjoint(entry)
        assert entry["preview_output"]["filename"] == "success_a_00001_.png"


def test_oss_rejects_an_unknown_status_with_the_recorded_error(oss_server):
    response = get(oss_server, "/api/jobs", params={"status": "bogus"})
    assert response.status_code == 400
    assert response.json() == load("oss/api_jobs_list_invalid_status_400.json")


def test_cloud_limit_defaults_to_100_and_must_stay_within_1_to_1000(cloud_server):
    assert get(cloud_server, "/api/jobs").json()["pagination"]["limit"] == 100
    for bad in ("0", "1001", "x"):
        response = get(cloud_server, "/api/jobs", params={"limit": bad})
        assert response.status_code == 400
        assert set(response.json()) == {"code", "message"}


def test_oss_jobs_api_lives_only_under_the_api_prefix(oss_server):
    assert get(oss_server, "/jobs").status_code == 404
    assert get(oss_server, "/api/api/jobs").status_code == 200  # the real server's doubled-prefix quirk


# ---------------------------------------------------------------- not found, auth, legacy


def test_unknown_job_is_404_in_each_dialects_shape(oss_server, cloud_server):
    missing = str(uuid.uuid4())
    response = get(oss_server, f"/api/jobs/{missing}")
    assert (response.status_code, response.json()) == (404, load("oss/api_job_unknown_404.json"))
    response = get(cloud_server, f"/api/jobs/{missing}")
    assert (response.status_code, response.json()) == (404, load("cloud/error_404.json"))


@pytest.mark.parametrize("headers", [{}, {"X-API-Key": "wrong"}])
@pytest.mark.parametrize("method,path", [("GET", "/api/jobs"), ("GET", "/api/jobs/x"), ("POST", "/api/prompt"),
                                         ("GET", "/api/object_info"), ("GET", "/no/such/route")])
def test_cloud_refuses_every_route_without_the_right_key(cloud_server, headers, method, path):
    response = requests.request(method, cloud_server.url + path, headers=headers, json={}, timeout=10)
    assert (response.status_code, response.json()) == (401, load("cloud/error_401.json"))
    assert cloud_server.submissions == []


def test_cloud_system_stats_needs_no_key(cloud_server):
    assert requests.get(cloud_server.url + "/api/system_stats", timeout=10).status_code == 200


def test_cloud_job_of_another_user_is_forbidden_and_not_listed(cloud_server):
    job_id = cloud_server.add_job(load("oss/success_a.job.json"), owner_ok=False)
    response = get(cloud_server, f"/api/jobs/{job_id}")
    assert response.status_code == 403
    assert response.json() == {"code": "forbidden", "message": "Job does not belong to user"}
    assert get(cloud_server, "/api/jobs").json()["jobs"] == []


def test_oss_ignores_the_api_key_header_and_job_owners(oss_server):
    job_id = oss_server.add_job(load("oss/success_a.job.json"), owner_ok=False)
    response = requests.get(f"{oss_server.url}/api/jobs/{job_id}", headers={"X-API-Key": "anything"}, timeout=10)
    assert response.status_code == 200


def test_legacy_server_has_no_jobs_api_but_serves_history(legacy_server):
    recorded = load("oss/success_a.job.json")
    legacy_server.add_job(recorded)
    for path in ("/api/jobs", f"/api/jobs/{recorded['id']}"):
        response = get(legacy_server, path)
        assert response.status_code == 404
        assert response.headers["Content-Type"].startswith("text/plain") and response.text == "404: Not Found"
    assert get(legacy_server, f"/history/{recorded['id']}").json() == load("oss/success_a.history.json")
    assert list(get(legacy_server, "/api/history").json()) == [recorded["id"]]


def test_object_info_and_system_stats_are_served(object_info):
    with FakeComfy("oss", object_info=object_info) as server:
        assert get(server, "/object_info").json() == object_info
        assert get(server, "/api/object_info/SaveImage").json() == {"SaveImage": object_info["SaveImage"]}
        assert get(server, "/api/system_stats").json()["system"]["comfyui_version"] == "0.33.0"


# ---------------------------------------------------------------- POST /api/prompt: validation


@pytest.mark.parametrize("name", ["fail_validation_bad_value_missing_input", "fail_validation_unknown_class"])
def test_validation_failures_match_the_recorded_responses(object_info, name):
    with FakeComfy("oss", object_info=object_info) as server:
        response = post(server, "/prompt", load(f"oss/{name}.request.json"))
        assert (response.status_code, response.json()) == (400, load(f"oss/{name}.post_response.json"))
        assert server.job_ids() == []


def test_missing_prompt_and_missing_outputs_are_rejected_like_the_real_server(oss_server):
    response = post(oss_server, "/api/prompt", {"client_id": "x"})
    assert (response.status_code, response.json()) == (400, load("oss/fail_validation_no_prompt.post_response.json"))
    response = post(oss_server, "/api/prompt", {"prompt": {"1": {"class_type": "EmptyImage", "inputs": {}}}})
    assert (response.status_code, response.json()) == (400, load("oss/fail_validation_no_outputs.post_response.json"))


def test_a_link_to_a_missing_node_fails_validation_even_without_object_info(oss_server):
    prompt = {"1": {"class_type": "ImageInvert", "inputs": {"image": ["12", 0]}},
              "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}}}
    response = post(oss_server, "/api/prompt", {"prompt": prompt})
    assert response.status_code == 400
    body = response.json()
    assert body["error"]["type"] == "prompt_outputs_failed_validation"
    # As in ComfyUI, the KeyError of node 1's link is caught by its consumer and filed under node 1.
    error = body["node_errors"]["1"]["errors"][0]
    assert error["type"] == "exception_during_inner_validation" and error["details"] == "'12'"
    assert body["node_errors"]["1"]["dependent_outputs"] == ["2"]


def test_a_malformed_client_prompt_id_is_rejected_and_a_canonical_one_is_used(oss_server):
    body = {"prompt": load("oss/fail_runtime_zerodiv.request.json")["prompt"], "prompt_id": "NOT-A-UUID"}
    response = post(oss_server, "/api/prompt", body)
    assert (response.status_code, response.json()) == (400,
                                                         load("oss/fail_validation_bad_prompt_id.post_response.json"))
    chosen = str(uuid.uuid4())
    assert submit(oss_server, dict(body, prompt_id=chosen)) == chosen


def test_cloud_can_answer_validation_errors_with_code_and_message():
    with FakeComfy("cloud", cloud_error_shape="code") as server:
        response = post(server, "/api/prompt", {"extra_data": {}})
        assert response.status_code == 400
        assert response.json() == {"code": "no_prompt", "message": "No prompt provided: No prompt provided"}


def test_cloud_answers_validation_errors_in_the_oss_shape_by_default(cloud_server):
    response = post(cloud_server, "/api/prompt", {"extra_data": {}})
    assert response.json()["error"]["type"] == "no_prompt"


# ---------------------------------------------------------------- POST /api/prompt: simulated runs


def test_every_submission_is_recorded_and_secrets_never_reach_the_job(oss_server):
    body = load("oss/fail_runtime_zerodiv.request.json")
    body["extra_data"]["api_key_comfy_org"] = "sk-secret"
    job_id = submit(oss_server, copy.deepcopy(body))
    assert oss_server.submissions == [body]
    detail = wait_terminal(oss_server, job_id)
    assert "sk-secret" not in json.dumps(detail)
    assert detail["workflow"]["extra_data"]["client_id"] == body["client_id"]


def test_a_submitted_job_is_pending_then_in_progress_then_completed(oss_server):
    job_id = submit(oss_server, {"prompt": load("oss/success_a.request.json")["prompt"]})
    assert get(oss_server, "/api/jobs").json()["jobs"][0]["status"] == "pending"
    assert get(oss_server, f"/history/{job_id}").json() == {}  # the first read: now running
    assert get(oss_server, f"/api/jobs/{job_id}").json()["status"] == "completed"
    detail = get(oss_server, f"/api/jobs/{job_id}").json()
    assert detail["outputs"]["4"] == {"images": [{"filename": "success_a_00001_.png", "subfolder": "reftest",
                                                  "type": "output"}]}
    assert detail["outputs"]["5"]["images"][0]["type"] == "temp"
    assert [m[0] for m in detail["execution_status"]["messages"]] == ["execution_start", "execution_cached",
                                                                     "execution_success"]
    assert detail["create_time"] <= detail["execution_start_time"] <= detail["execution_end_time"]
    assert list(get(oss_server, f"/history/{job_id}").json()[job_id]) == ["prompt", "outputs", "status", "meta"]


def test_save_nodes_count_their_files_like_comfyui(oss_server):
    prompt = {"1": {"class_type": "EmptyImage", "inputs": {}},
              "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0]}}}
    names = []
    for _ in range(2):
        detail = wait_terminal(oss_server, submit(oss_server, {"prompt": prompt}))
        names.append(detail["outputs"]["2"]["images"][0]["filename"])
    assert names == ["ComfyUI_00001_.png", "ComfyUI_00002_.png"]


@pytest.mark.parametrize("options,statuses", [
    ({"run_polls": 0}, ["completed"]),
    ({"run_polls": 3}, ["in_progress", "in_progress", "in_progress", "completed"]),
    ({"never_finish": True}, ["in_progress"] * 5),
    ({"run_seconds": 0}, ["completed"]),
    ({"run_seconds": 3600}, ["in_progress"] * 3),
])
def test_how_long_a_run_takes_is_configurable(options, statuses):
    with FakeComfy("oss", **options) as server:
        job_id = submit(server, {"prompt": load("oss/success_a.request.json")["prompt"]})
        assert [get(server, f"/api/jobs/{job_id}").json()["status"] for _ in statuses] == statuses


def test_fail_when_fails_the_first_matching_node_with_a_realistic_error(oss_server):
    oss_server.fail_when(class_type="ComfyMathExpression")
    request = load("oss/fail_runtime_zerodiv.request.json")
    job_id = submit(oss_server, request)
    detail = wait_terminal(oss_server, job_id)
    recorded = load("oss/fail_runtime_zerodiv.job.json")
    assert detail["status"] == "failed"
    assert detail["outputs"] == recorded["outputs"]  # node 3 saved its image before node 5 failed
    error = detail["execution_error"]
    assert set(error) == set(recorded["execution_error"])
    assert (error["prompt_id"], error["node_id"], error["node_type"]) == (job_id, "5", "ComfyMathExpression")
    assert sorted(error["executed"]) == sorted(recorded["execution_error"]["executed"])
    assert error["current_outputs"] == error["executed"]
    assert error["current_inputs"] == recorded["execution_error"]["current_inputs"]
    assert error["exception_type"] == "ZeroDivisionError" and error["exception_message"] == "division by zero\n"
    assert all(isinstance(line, str) and line.startswith("  File ") for line in error["traceback"])
    last = detail["execution_status"]["messages"][-1]
    assert last == ["execution_error", error]


def test_a_cloud_failure_has_an_object_for_current_outputs(cloud_server):
    cloud_server.fail_when(node_id="5", exception_type="RuntimeError", message="boom")
    detail = wait_terminal(cloud_server, submit(cloud_server, load("oss/fail_runtime_zerodiv.request.json")))
    error = detail["execution_error"]
    assert isinstance(error["current_outputs"], dict) and sorted(error["current_outputs"]) == ["1", "2", "3", "4", "6"]
    assert error["exception_type"] == "RuntimeError" and error["exception_message"] == "boom\n"
    assert detail["create_time"] < 1e11 and "update_time" in detail and "priority" not in detail


@pytest.mark.parametrize("equals,status", [(0, "failed"), (5, "completed"), (ANY, "failed")])
def test_fail_when_an_input_equals_a_value_only_fires_on_that_value(oss_server, equals, status):
    oss_server.fail_when(class_type="PrimitiveInt", input_name="value", equals=equals)
    detail = wait_terminal(oss_server, submit(oss_server, load("oss/fail_runtime_zerodiv.request.json")))
    assert detail["status"] == status
    if equals == 0:
        assert detail["execution_error"]["node_id"] == "6"


def test_partial_execution_targets_run_only_the_targets_ancestors(oss_server):
    oss_server.fail_when(class_type="ComfyMathExpression")
    body = dict(load("oss/fail_runtime_zerodiv.request.json"), partial_execution_targets=["3"])
    job_id = submit(oss_server, body)
    detail = wait_terminal(oss_server, job_id)
    assert detail["status"] == "completed" and list(detail["outputs"]) == ["3"]
    assert get(oss_server, f"/history/{job_id}").json()[job_id]["prompt"][4] == ["3"]


def test_cancel_next_cancels_only_the_next_run(oss_server):
    oss_server.cancel_next()
    prompt = {"prompt": load("oss/success_a.request.json")["prompt"]}
    first = wait_terminal(oss_server, submit(oss_server, prompt))
    second = wait_terminal(oss_server, submit(oss_server, prompt))
    assert (first["status"], second["status"]) == ("cancelled", "completed")
    assert "execution_error" not in first
    name, data = first["execution_status"]["messages"][-1]
    assert name == "execution_interrupted" and set(data) == {"prompt_id", "node_id", "node_type", "executed",
                                                             "timestamp"}


def test_output_nodes_come_from_object_info_when_loaded():
    info = {"EmptyImage": {"input": {"required": {}}, "output_node": False},
            "MyWriter": {"input": {"required": {"image": ["IMAGE"]}}, "output_node": True}}
    with FakeComfy("oss", object_info=info, run_polls=0) as server:
        prompt = {"1": {"class_type": "EmptyImage", "inputs": {}},
                  "2": {"class_type": "MyWriter", "inputs": {"image": ["1", 0]}}}
        detail = wait_terminal(server, submit(server, {"prompt": prompt}))
        assert list(detail["outputs"]) == ["2"]


def test_legacy_server_runs_submissions_visible_through_history(legacy_server):
    job_id = submit(legacy_server, {"prompt": load("oss/success_a.request.json")["prompt"]})
    assert get(legacy_server, f"/history/{job_id}").json() == {}
    entry = get(legacy_server, f"/history/{job_id}").json()[job_id]
    assert entry["status"]["status_str"] == "success" and entry["prompt"][1] == job_id


def test_a_client_prompt_id_is_ignored_by_cloud(cloud_server):
    chosen = str(uuid.uuid4())
    assert submit(cloud_server, {"prompt": load("oss/success_a.request.json")["prompt"], "prompt_id": chosen}) != chosen


# ---------------------------------------------------------------- faults


def test_a_429_fault_carries_retry_after_and_ends_after_its_times(oss_server):
    oss_server.add_job(load("oss/success_a.job.json"))
    oss_server.fault(r"/api/jobs/", "status", times=2, code=429, retry_after=3)
    job_path = "/api/jobs/cc3ee95d-63a7-4daa-8072-651d053baf28"
    for _ in range(2):
        response = get(oss_server, job_path)
        assert response.status_code == 429 and response.headers["Retry-After"] == "3"
    assert get(oss_server, job_path).status_code == 200
    assert oss_server.hits[job_path] == 3


def test_a_status_fault_on_post_gives_cloud_insufficient_credits(cloud_server):
    cloud_server.fault("/api/prompt", "status", code=402, method="POST")
    response = post(cloud_server, "/api/prompt", {"prompt": {}})
    assert response.status_code == 402 and response.json()["code"] == "insufficient_credits"
    assert cloud_server.job_ids() == []


def test_a_status_fault_can_carry_any_body(oss_server):
    oss_server.fault("/api/jobs", "status", code=503, body={"error": "down for maintenance"})
    response = get(oss_server, "/api/jobs")
    assert (response.status_code, response.json()) == (503, {"error": "down for maintenance"})


def raw_get(server: FakeComfy, path: str) -> tuple[bytes, bytes]:
    """Send one GET over a plain socket; return the headers and whatever body arrived before the close."""
    with socket.create_connection(("127.0.0.1", int(server.url.rsplit(":", 1)[1])), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return head, body


def test_a_truncated_fault_sends_less_than_its_content_length_then_closes(oss_server):
    recorded = load("oss/success_a.job.json")
    oss_server.add_job(recorded)
    oss_server.fault(recorded["id"], "truncated")
    head, body = raw_get(oss_server, f"/api/jobs/{recorded['id']}")
    length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")))
    assert length == len(json.dumps(recorded).encode())
    assert 0 < len(body) < length
    assert body.startswith(b'{"id": "cc3ee95d')


def test_a_truncated_fault_breaks_a_requests_read(oss_server):
    oss_server.add_job(load("oss/success_a.job.json"))
    oss_server.fault("/api/jobs/", "truncated", times=1, keep=10)
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError)):
        get(oss_server, "/api/jobs/cc3ee95d-63a7-4daa-8072-651d053baf28")


def test_a_reset_fault_raises_connection_error(oss_server):
    oss_server.fault("/api/jobs", "reset", times=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        get(oss_server, "/api/jobs")
    assert get(oss_server, "/api/jobs").status_code == 200


def test_a_reset_fault_on_post_leaves_no_job(oss_server):
    oss_server.fault("/prompt", "reset", method="POST")
    with pytest.raises(requests.exceptions.ConnectionError):
        post(oss_server, "/api/prompt", {"prompt": load("oss/success_a.request.json")["prompt"]})
    assert oss_server.job_ids() == [] and oss_server.submissions == []


@pytest.mark.parametrize("status", [502, 200])
def test_an_html_fault_answers_an_html_page(oss_server, status):
    oss_server.fault("/api/jobs", "html", status=status)
    response = get(oss_server, "/api/jobs")
    assert response.status_code == status and response.headers["Content-Type"].startswith("text/html")
    assert response.text.lstrip().startswith("<")
    with pytest.raises(ValueError):
        response.json()


def test_a_delay_fault_outlasts_a_short_client_timeout(oss_server):
    oss_server.fault("/api/jobs", "delay", times=1, seconds=30)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(oss_server.url + "/api/jobs", timeout=0.2)
    assert get(oss_server, "/api/jobs").status_code == 200


def test_a_fault_for_one_job_id_leaves_other_jobs_alone(oss_server):
    one, other = make_job(seed=1), make_job(seed=2)
    oss_server.add_jobs([one, other])
    oss_server.fault(kind="status", code=500, job_id=one["id"])
    assert get(oss_server, f"/api/jobs/{one['id']}").status_code == 500
    assert get(oss_server, f"/history/{one['id']}").status_code == 500
    assert get(oss_server, f"/api/jobs/{other['id']}").status_code == 200


def test_an_unknown_fault_kind_is_refused(oss_server):
    with pytest.raises(ValueError):
        oss_server.fault("/x", "explode")


def test_requests_are_logged_with_method_path_and_headers(cloud_server):
    get(cloud_server, "/api/jobs", params={"limit": 5})
    method, path, headers = cloud_server.requests[-1]
    assert (method, path, headers["x-api-key"]) == ("GET", "/api/jobs?limit=5", "k")
    assert cloud_server.hits["/api/jobs"] == 1


# ---------------------------------------------------------------- connections


def test_a_session_reuses_one_keep_alive_connection(oss_server):
    oss_server.add_job(load("oss/success_a.job.json"))
    with requests.Session() as session:
        for _ in range(20):
            assert session.get(oss_server.url + "/api/jobs", timeout=10).status_code == 200
            assert session.get(oss_server.url + "/history", timeout=10).status_code == 200
    assert oss_server.connections == 1


def test_many_concurrent_clients_all_get_their_job():
    jobs = bulk_jobs(64, size_kb=5)
    failures: list[str] = []
    with FakeComfy("cloud") as server:
        server.add_jobs(jobs)

        def fetch(chunk: list[dict[str, Any]]) -> None:
            with requests.Session() as session:
                for job in chunk:
                    served = session.get(f"{server.url}/api/jobs/{job['id']}", headers=KEY, timeout=10).json()
                    if served["id"] != job["id"]:
                        failures.append(job["id"])

        threads = [threading.Thread(target=fetch, args=(jobs[i::16],)) for i in range(16)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert failures == [] and server.hits["/api/jobs/" + jobs[0]["id"]] == 1
        assert not server.errors


# ---------------------------------------------------------------- generated jobs


@pytest.mark.parametrize("status", STATUSES)
def test_make_job_builds_a_realistic_job_in_each_status(status):
    job = make_job(status, seed=3)
    assert str(uuid.UUID(job["id"])) == job["id"] and job["status"] == status
    recorded_keys = set(load("oss/pending.job.json"))
    if status in ("pending", "in_progress"):
        assert set(job) == recorded_keys
        return
    assert set(job) >= recorded_keys | {"execution_start_time", "execution_end_time", "outputs", "workflow",
                                        "execution_status"}
    assert job["workflow"]["extra_data"]["extra_pnginfo"]["workflow"]["id"] == job["workflow_id"]
    assert ("execution_error" in job) == (status == "failed")


def test_make_job_fails_at_the_node_asked_for():
    job = make_job("failed", fail_node="1", exception_type="torch.OutOfMemoryError", message="out of memory")
    assert job["execution_error"]["node_id"] == "1" and job["outputs"] == {}
    assert job["execution_error"]["exception_type"] == "torch.OutOfMemoryError"


def test_bulk_jobs_are_deterministic_sized_and_varied():
    first, again = bulk_jobs(40, size_kb=20, seed=7), bulk_jobs(40, size_kb=20, seed=7)
    assert first == again
    assert {job["status"] for job in first} == set(STATUSES)
    sizes = [len(json.dumps(job)) for job in first if "workflow" in job]
    assert all(15 * 1024 < size < 30 * 1024 for size in sizes)
    assert len({job["id"] for job in first}) == 40
    assert [job["create_time"] for job in first] == sorted(job["create_time"] for job in first)


# ---------------------------------------------------------------- as a process


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_the_process_prints_its_url_first_and_stops_on_a_signal(signum):
    script = Path(__file__).parent / "fakecomfy.py"
    process = subprocess.Popen([sys.executable, str(script), "--dialect", "cloud", "--api-key", "k", "--port", "0",
                                "--jobs", str(DATA / "oss"), str(DATA / "cloud" / "success_a.job.json"),
                                "--bulk", "3"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONPATH": ""})
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:")
        listed = requests.get(url + "/api/jobs", headers=KEY, timeout=10).json()
        # success_a (the Cloud file has the same id), zerodiv, pending, interrupted (in_progress has its id) + 3 bulk
        assert listed["pagination"]["total"] == 4 + 3
        detail = requests.get(url + "/api/jobs/f7838b83-aab4-48ed-96a5-1e0cb6760bc6", headers=KEY, timeout=10)
        assert detail.json()["create_time"] == 1795869262
        process.send_signal(signum)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_global_delay_holds_every_response():
    with FakeComfy("oss", delay=5) as server:
        with pytest.raises(requests.exceptions.ReadTimeout):
            requests.get(server.url + "/history", timeout=0.2)
        server.delay = 0
        assert get(server, "/history").status_code == 200


def test_oss_rejects_a_limit_that_is_not_a_positive_integer(oss_server):
    for bad, message in (("x", "limit must be an integer"), ("0", "limit must be a positive integer")):
        response = get(oss_server, "/api/jobs", params={"limit": bad})
        assert (response.status_code, response.json()) == (400, {"error": message})


def test_oss_queue_shows_submitted_jobs_until_they_finish(oss_server):
    job_id = submit(oss_server, {"prompt": load("oss/success_a.request.json")["prompt"]})
    queue = get(oss_server, "/queue").json()
    assert [item[1] for item in queue["queue_pending"]] == [job_id] and queue["queue_running"] == []
    assert get(oss_server, "/api/prompt").json() == {"exec_info": {"queue_remaining": 1}}
    wait_terminal(oss_server, job_id)
    assert get(oss_server, "/queue").json() == {"queue_running": [], "queue_pending": []}


def test_cloud_status_route_gives_the_raw_internal_state(cloud_server):
    cloud_server.add_job(load("oss/fail_runtime_zerodiv.job.json"))
    body = get(cloud_server, "/api/job/f7838b83-aab4-48ed-96a5-1e0cb6760bc6/status").json()
    assert body["status"] == "error" and body["error_message"] == "division by zero\n"
