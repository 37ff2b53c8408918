"""The job model: one Job from Cloud and OSS job details, history entries, prompts and UI graphs."""

from __future__ import annotations

import pytest
from helpers import load

from replay.errors import InputError
from replay.jobs import (
    check_job_id,
    detect_kind,
    history_to_detail,
    job_from_document,
    to_seconds,
)

ZERODIV = "f7838b83-aab4-48ed-96a5-1e0cb6760bc6"


def test_oss_failed_job_detail_becomes_a_failed_job_with_its_error():
    job = job_from_document(load("oss/fail_runtime_zerodiv.job.json"))
    assert (job.kind, job.id, job.status) == ("job", ZERODIV, "failed")
    assert job.error is not None
    assert (job.error.node_id, job.error.node_type, job.error.exception_type) == (
        "5", "ComfyMathExpression", "ZeroDivisionError")
    assert job.error.first_line == "division by zero"
    assert "simpleeval.py" in job.error.last_frame and "_eval_binop" in job.error.last_frame
    assert job.error.current_outputs == ["2", "1", "5", "6", "8", "4", "7", "3"]
    assert job.error.current_inputs["values.b"] == [0]
    assert sorted(job.prompt) == ["1", "2", "3", "4", "5", "6", "7", "8"]
    assert job.ui_workflow is not None and job.workflow_id == "3c04dcaf-283e-4da6-9ed7-02a8b6d99560"


def test_milliseconds_and_seconds_give_the_same_times():
    oss = job_from_document(load("oss/fail_runtime_zerodiv.job.json"))
    cloud = job_from_document(load("cloud/fail_runtime_zerodiv.job.json"))
    assert oss.create_time == pytest.approx(1795869262.083)
    assert cloud.create_time == 1795869262.0
    assert cloud.update_time == 1795869262.0
    assert oss.duration == pytest.approx(0.010, abs=1e-6)


def test_cloud_current_outputs_object_becomes_a_list_of_ids():
    cloud = job_from_document(load("cloud/fail_runtime_zerodiv.job.json"))
    assert cloud.error is not None and cloud.error.current_outputs == []
    job = job_from_document({"id": ZERODIV, "status": "failed", "execution_error": {
        "node_id": "5", "node_type": "X", "exception_message": "m", "exception_type": "E",
        "traceback": [], "current_inputs": {}, "current_outputs": {"3": {"images": []}, "10": {}}}})
    assert job.error is not None and job.error.current_outputs == ["3", "10"]


def test_history_entry_builds_the_same_job_as_the_jobs_api():
    from_history = job_from_document(load("oss/fail_runtime_zerodiv.history.json"))
    from_api = job_from_document(load("oss/fail_runtime_zerodiv.job.json"))
    assert from_history.kind == "history"
    for attr in ("id", "status", "prompt", "ui_workflow", "outputs", "error", "create_time", "start_time", "end_time",
                 "workflow_id"):
        assert getattr(from_history, attr) == getattr(from_api, attr), attr


def test_interrupted_history_entry_is_cancelled_and_has_no_error():
    job = job_from_document(load("oss/interrupted_running.history.json"))
    assert job.status == "cancelled" and job.error is None
    assert job_from_document(load("oss/interrupted_running.job.json")).status == "cancelled"


def test_successful_history_entry_is_completed_with_its_outputs():
    doc = load("oss/success_a.history.json")
    (job_id, entry), = doc.items()
    detail = history_to_detail(job_id, entry)
    api = load("oss/success_a.job.json")
    assert detail["status"] == "completed"
    assert detail["outputs"] == api["outputs"]
    assert detail["workflow"] == api["workflow"]
    assert detail["execution_start_time"] == api["execution_start_time"]
    assert detail["execution_end_time"] == api["execution_end_time"]


def test_pending_job_has_no_prompt():
    job = job_from_document(load("oss/pending.job.json"))
    assert job.status == "pending" and job.prompt is None and not job.is_terminal


@pytest.mark.parametrize(
    ("doc", "kind"),
    [
        ({"1": {"class_type": "A", "inputs": {}}}, "prompt"),
        ({"prompt": {"1": {"class_type": "A", "inputs": {}}}, "extra_data": {}}, "container"),
        ({"nodes": [], "links": [], "last_node_id": 0, "version": 0.4}, "ui"),
        ({"nodes": [], "version": 1, "state": {}}, "ui"),
        ({"id": ZERODIV, "status": "completed"}, "job"),
        ({ZERODIV: {"prompt": [1, ZERODIV, {}, {}, []], "outputs": {}, "status": {}}}, "history"),
        ({"recipe": 1, "source": {}, "prompt": {}}, "recipe"),
    ],
)
def test_kind_is_detected_from_shape(doc, kind):
    assert detect_kind(doc) == kind


@pytest.mark.parametrize("doc", [[], 3, "text", None, {}, {"a": 1}, {"1": {"class_type": "A"}}])
def test_documents_of_no_known_kind_are_refused(doc):
    with pytest.raises(InputError):
        detect_kind(doc)


def test_request_body_is_a_container_with_the_ui_graph():
    job = job_from_document(load("oss/success_a.request.json"))
    assert job.kind == "container" and job.prompt is not None and job.ui_workflow is not None


@pytest.mark.parametrize("bad", ["../../etc/passwd", "1234", "f7838b83-aab4-48ed-96a5-1e0cb6760bc", "", "x" * 500,
                                 "f7838b83aab448ed96a51e0cb6760bc6", "f7838b83-aab4-48ed-96a5-1e0cb6760bc6/../x"])
def test_non_uuid_job_ids_are_refused(bad):
    with pytest.raises(InputError, match="not a job id"):
        check_job_id(bad)


def test_uuid_of_any_case_and_version_is_accepted_in_lower_case():
    assert check_job_id("F7838B83-AAB4-48ED-96A5-1E0CB6760BC6") == ZERODIV
    assert check_job_id("00000000-0000-0000-0000-000000000000") == "00000000-0000-0000-0000-000000000000"


def test_to_seconds_tells_milliseconds_from_seconds():
    assert to_seconds(1767225600) == 1767225600.0
    assert to_seconds(1767225600000) == 1767225600.0
    assert to_seconds(None) is None and to_seconds(True) is None and to_seconds("1") is None
