"""Tests of replay.repro: rebuilding failed jobs (full and minimal), input mismatches, recipes and verdicts."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
from graphs import BRANCHES, DIAMOND, SUBGRAPH, link, node
from helpers import DATA, load

from replay.errors import InputError, JobStateError
from replay.jobs import ExecutionError, Job, job_from_document
from replay.nodedefs import NodeDefs, load_object_info
from replay.recipe import REDACTED, dumps_recipe, job_from_recipe, loads_recipe
from replay.repro import build_repro, input_mismatches, repro_recipe, targets_of, verdict
from replay.workflow import parse_set

ZERODIV_ID = "f7838b83-aab4-48ed-96a5-1e0cb6760bc6"


def zerodiv(dialect: str = "oss") -> Job:
    return job_from_document(load(f"{dialect}/fail_runtime_zerodiv.job.json"))


def failed_job(prompt: dict[str, Any], node_id: str, *, exception: str = "RuntimeError", **reported: Any) -> Job:
    error = ExecutionError(
        node_id=node_id,
        node_type=prompt[node_id]["class_type"] if node_id in prompt else "Gone",
        exception_type=exception,
        exception_message="it broke\nmore detail",
        current_inputs={name: [value] for name, value in reported.items()},
    )
    return Job(kind="job", id="3c04dcaf-283e-4da6-9ed7-02a8b6d99560", status="failed", prompt=prompt, error=error)


def defs_of(classes: list[str], outputs: tuple[str, ...] = ("SaveImage", "PreviewImage")) -> NodeDefs:
    """Node definitions where only the output flag matters."""
    return NodeDefs.from_dict({c: {"input": {}, "output": ["IMAGE"], "output_node": c in outputs} for c in classes})


OBJECT_INFO = load_object_info(DATA / "object_info.json.gz")


# The recorded job: 1 EmptyImage -> 2 ImageBlur -> 3 SaveImage (ran), and 2 -> 7 ImageScale -> 8 SaveImage,
# where 7's width comes from 5 ComfyMathExpression (a / b, fed by 4 = 128 and 6 = 0), which failed.
ZERODIV_ALL = ["1", "2", "3", "4", "5", "6", "7", "8"]
# Worked out by hand: 5, its ancestors 4 and 6, the path 5 -> 7 -> 8 to a SaveImage, and 7's ancestors 2 and 1.
ZERODIV_MINIMAL = ["1", "2", "4", "5", "6", "7", "8"]


@pytest.mark.parametrize("dialect", ["oss", "cloud"])
def test_full_repro_of_the_recorded_job_keeps_the_prompt_as_it_ran(dialect: str) -> None:
    job = zerodiv(dialect)
    plan = build_repro(job)
    assert plan.mode == "full"
    assert plan.prompt == job.prompt
    assert plan.kept == ZERODIV_ALL
    assert plan.dropped == []
    assert plan.targets == []
    assert (plan.error.node_id, plan.error.node_type, plan.error.exception_type) == (
        "5",
        "ComfyMathExpression",
        "ZeroDivisionError",
    )


@pytest.mark.parametrize("dialect", ["oss", "cloud"])
def test_minimal_repro_of_the_recorded_job_drops_the_branch_that_saved_an_image(dialect: str) -> None:
    job = zerodiv(dialect)
    plan = build_repro(job, minimal=True)
    assert plan.mode == "minimal"
    assert plan.kept == ZERODIV_MINIMAL
    assert plan.dropped == ["3"]
    assert plan.targets == ["8"]
    assert list(plan.prompt) == ["1", "2", "4", "6", "5", "7", "8"]  # the prompt's own order
    assert job.prompt is not None
    assert all(plan.prompt[n] == job.prompt[n] for n in plan.prompt)
    assert plan.ui_workflow is None
    assert plan.notes == ["the UI graph is left out: it shows nodes the minimal prompt does not have"]


def test_minimal_repro_from_an_oss_history_entry_reads_the_error_from_the_status_messages() -> None:
    job = job_from_document(load("oss/fail_runtime_zerodiv.history.json"))
    plan = build_repro(job, minimal=True)
    assert plan.error.node_id == "5"
    assert plan.kept == ZERODIV_MINIMAL


def test_minimal_repro_with_the_recorded_definitions_finds_the_same_output() -> None:
    plan = build_repro(zerodiv(), minimal=True, defs=OBJECT_INFO)
    assert plan.kept == ZERODIV_MINIMAL
    assert plan.targets == ["8"]


def test_an_override_of_an_input_with_a_dot_in_its_name_replaces_that_input() -> None:
    plan = build_repro(zerodiv(), sets=[parse_set("5.values.b=2")])
    assert plan.prompt["5"]["inputs"]["values.b"] == 2
    assert plan.prompt["5"]["inputs"]["values.a"] == ["4", 0]
    assert plan.section()["overrides"] == [{"node": "5", "input": "values.b", "value": 2}]


def test_an_override_that_cuts_a_link_drops_the_node_that_fed_it_in_minimal_mode() -> None:
    plan = build_repro(zerodiv(), minimal=True, sets=[parse_set("5.values.b=2")])
    assert plan.kept == ["1", "2", "4", "5", "7", "8"]
    assert plan.dropped == ["3", "6"]


def test_an_override_of_a_node_that_minimal_mode_drops_is_noted() -> None:
    plan = build_repro(zerodiv(), minimal=True, sets=[parse_set("3.filename_prefix=x")])
    assert any("no effect" in note and "node 3" in note for note in plan.notes)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("99.value=1", r"no node '99' \(its nodes: 1, 2, 3, 4, 5, 6, 7, 8\)"),
        ("5.seed=1", r"node 5 \(ComfyMathExpression\) has no input 'seed'; its inputs: expression, values.a, values.b"),
    ],
)
def test_an_override_of_an_unknown_node_or_input_is_refused_naming_what_exists(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message):
        build_repro(zerodiv(), sets=[parse_set(text)])


OUTPUT_DEFS = defs_of(sorted({n["class_type"] for n in BRANCHES.values()}))

# prompt, failing node, definitions, expected kept nodes, dropped nodes, targets (mode follows from targets).
MINIMAL_CASES = [
    pytest.param(BRANCHES, "4", OUTPUT_DEFS, ["1", "4", "5", "6"], ["2", "3", "7", "8"], ["6"],
                 id="failing-node-in-a-branch-that-does-not-reach-the-saved-output"),
    pytest.param(BRANCHES, "4", None, ["1", "4", "7"], ["2", "3", "5", "6", "8"], ["7"],
                 id="without-definitions-an-unconsumed-node-is-the-nearest-output"),
    pytest.param(BRANCHES, "6", None, ["1", "4", "5", "6"], ["2", "3", "7", "8"], ["6"], id="failing-node-is-an-output"),
    pytest.param(BRANCHES, "3", OUTPUT_DEFS, ["1", "2", "3"], ["4", "5", "6", "7", "8"], ["3"],
                 id="failing-output-with-definitions"),
    pytest.param(DIAMOND, "2", None, ["1", "2", "3", "4", "5"], ["6"], ["5"], id="diamond-keeps-both-sides"),
    pytest.param(DIAMOND, "4", None, ["1", "2", "3", "4", "5"], ["6"], ["5"], id="diamond-join"),
    pytest.param(DIAMOND, "3", None, ["1", "3", "6"], ["2", "4", "5"], ["6"], id="diamond-side-nearest-output"),
    pytest.param(SUBGRAPH, "12:5", None, ["2", "12:5", "12:10"], ["10", "12:7"], ["12:10"], id="subgraph-path-ids"),
    pytest.param(SUBGRAPH, "12:7", None, ["2", "10", "12:5", "12:7"], ["12:10"], ["10"], id="subgraph-to-top-level"),
    pytest.param(BRANCHES, "7", OUTPUT_DEFS, list(BRANCHES), [], [], id="no-path-to-any-output-falls-back-to-full"),
]  # fmt: skip


@pytest.mark.parametrize(("prompt", "failing", "defs", "kept", "dropped", "targets"), MINIMAL_CASES)
def test_minimal_repro_keeps_the_failure_its_ancestors_and_the_path_to_an_output_node(
    prompt: dict[str, Any],
    failing: str,
    defs: NodeDefs | None,
    kept: list[str],
    dropped: list[str],
    targets: list[str],
) -> None:
    plan = build_repro(failed_job(prompt, failing), minimal=True, defs=defs)
    assert plan.kept == kept
    assert plan.dropped == dropped
    assert plan.targets == targets
    assert plan.mode == ("minimal" if targets else "full")
    assert sorted(plan.prompt) == sorted(kept)
    assert all(plan.prompt[n] == prompt[n] for n in plan.prompt)  # nothing invented, nothing altered


def test_no_path_to_an_output_is_said_in_the_notes() -> None:
    plan = build_repro(failed_job(BRANCHES, "7"), minimal=True, defs=OUTPUT_DEFS)
    assert plan.notes == ["node 7 (ImageToMask) has no path to an output node; fell back to full mode"]
    assert plan.section()["mode"] == "full"


def test_a_failing_node_missing_from_the_prompt_keeps_the_whole_prompt_with_a_note() -> None:
    plan = build_repro(failed_job(BRANCHES, "5.0.1"), minimal=True)
    assert plan.mode == "full"
    assert plan.kept == list(BRANCHES)
    assert "not in the prompt" in plan.notes[0]


def test_reported_inputs_that_differ_from_literal_inputs_are_mismatches() -> None:
    # The error reports width 512 where the prompt says 64; the linked image input is not compared.
    job = failed_job(BRANCHES, "5", width=512, image="<tensor>")
    plan = build_repro(job)
    assert [(m.node_id, m.input_name, m.prompt_value, m.reported_value) for m in plan.mismatches] == [
        ("5", "width", 64, 512)
    ]
    assert plan.prompt["5"]["inputs"]["width"] == 64
    assert plan.pinned == []


def test_pin_inputs_writes_the_reported_values_in() -> None:
    plan = build_repro(failed_job(BRANCHES, "5", width=512), pin_inputs=True)
    assert plan.prompt["5"]["inputs"]["width"] == 512
    assert plan.section()["pinned_inputs"] == [{"node": "5", "input": "width", "prompt": 64, "reported": 512}]


def test_an_explicit_override_wins_over_a_pinned_input() -> None:
    plan = build_repro(failed_job(BRANCHES, "5", width=512), pin_inputs=True, sets=[parse_set("5.width=100")])
    assert plan.prompt["5"]["inputs"]["width"] == 100


@pytest.mark.parametrize(
    ("literal", "reported"),
    [(64, [64]), (64, 64), (1.0, [1]), ("a / b", ["a / b"]), (64, [64, 65]), (64, ["{'a': 1}"] * 2)],
)
def test_equal_batched_or_unwrapped_values_are_not_mismatches(literal: Any, reported: Any) -> None:
    error = ExecutionError("5", "X", "E", "m", current_inputs={"v": reported})
    assert input_mismatches({"5": node("X", v=literal)}, error) == []


@pytest.mark.parametrize(("literal", "reported"), [(1, [True]), ("1", [1]), (64, ["64"]), (0.5, [0.25])])
def test_values_of_another_type_or_value_are_mismatches(literal: Any, reported: Any) -> None:
    error = ExecutionError("5", "X", "E", "m", current_inputs={"v": reported})
    assert len(input_mismatches({"5": node("X", v=literal)}, error)) == 1


def test_hidden_inputs_the_prompt_does_not_set_are_not_compared() -> None:
    error = ExecutionError("3", "SaveImage", "E", "m", current_inputs={"prompt": ["{...}"], "unique_id": ["3"]})
    assert input_mismatches(BRANCHES, error) == []


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ("completed", "is completed, not failed"),
        ("cancelled", "is cancelled, not failed .a cancelled job did not fail"),
        ("pending", "is pending, not failed"),
        ("in_progress", "is in_progress, not failed"),
    ],
)
def test_a_job_that_did_not_fail_is_refused_naming_its_status(status: str, message: str) -> None:
    job = zerodiv()
    job.status = status
    with pytest.raises(JobStateError, match=message) as caught:
        build_repro(job)
    assert caught.value.status == status
    assert caught.value.exit_code == 2


@pytest.mark.parametrize("name", ["oss/success_a.job.json", "oss/interrupted_running.job.json", "oss/pending.job.json"])
def test_recorded_jobs_that_did_not_fail_are_refused(name: str) -> None:
    with pytest.raises(JobStateError):
        build_repro(job_from_document(load(name)))


def test_a_bare_prompt_is_refused_as_not_a_job() -> None:
    with pytest.raises(JobStateError, match="no status"):
        build_repro(Job(kind="prompt", prompt=BRANCHES))


def test_the_repro_section_records_source_error_mode_nodes_targets_and_changes() -> None:
    plan = build_repro(zerodiv(), minimal=True, sets=[parse_set("6.value=1")])
    assert plan.section() == {
        "job_id": ZERODIV_ID,
        "error": {
            "node_id": "5",
            "node_type": "ComfyMathExpression",
            "exception_type": "ZeroDivisionError",
            "message": "division by zero",
        },
        "mode": "minimal",
        "kept_nodes": ZERODIV_MINIMAL,
        "dropped_nodes": ["3"],
        "targets": ["8"],
        "overrides": [{"node": "6", "input": "value", "value": 1}],
        "pinned_inputs": [],
        "input_mismatches": [],
        "notes": ["the UI graph is left out: it shows nodes the minimal prompt does not have"],
    }


def test_secret_values_stay_out_of_the_repro_section() -> None:
    prompt = {"1": node("OpenAINode", api_key="sk-old", prompt="hi"), "2": node("SaveText", text=link("1"))}
    plan = build_repro(failed_job(prompt, "1", api_key="sk-reported"), pin_inputs=True, sets=[parse_set("1.api_key=sk-new")])
    text = json.dumps(plan.section())
    assert "sk-" not in text
    assert plan.prompt["1"]["inputs"]["api_key"] == "sk-new"  # the prompt to submit keeps it
    assert plan.section()["overrides"] == [{"node": "1", "input": "api_key", "value": REDACTED}]


def test_the_repro_recipe_holds_the_new_prompt_and_no_job_record() -> None:
    job = zerodiv()
    plan = build_repro(job, minimal=True)
    recipe = repro_recipe(plan, job, server="http://127.0.0.1:8188/some/path?x=1")
    assert "job" not in recipe
    assert recipe["prompt"] == plan.prompt
    assert recipe["source"]["job_id"] == ZERODIV_ID
    assert recipe["source"]["derived_from"] == "repro"
    assert recipe["source"]["server"] == "http://127.0.0.1:8188"
    assert recipe["repro"] == plan.section()
    assert "ui_workflow" not in recipe  # minimal mode leaves the full UI graph out


def test_a_full_repro_recipe_keeps_the_ui_graph_and_reads_back_with_its_targets() -> None:
    job = zerodiv()
    plan = build_repro(job)
    recipe = repro_recipe(plan, job)
    assert recipe["ui_workflow"] == job.ui_workflow
    again = job_from_recipe(loads_recipe(dumps_recipe(recipe)))
    assert again.prompt == plan.prompt
    assert targets_of(again) == []
    minimal = repro_recipe(build_repro(job, minimal=True), job)
    assert targets_of(job_from_recipe(loads_recipe(dumps_recipe(minimal)))) == ["8"]


def test_the_repro_recipe_is_byte_stable() -> None:
    job = zerodiv()
    first = dumps_recipe(repro_recipe(build_repro(job, minimal=True), job))
    second = dumps_recipe(repro_recipe(build_repro(copy.deepcopy(job), minimal=True), job))
    assert first == second


ORIGINAL = ExecutionError("5", "ComfyMathExpression", "ZeroDivisionError", "division by zero\n")


def rerun(status: str, error: ExecutionError | None = None) -> Job:
    return Job(kind="job", id="0b6c1e9e-6f1b-4a8a-9d6e-2f0f0c3c4d5e", status=status, error=error)


VERDICT_CASES = [
    pytest.param(rerun("completed"), "not-reproduced", id="completed"),
    pytest.param(rerun("failed", ORIGINAL), "reproduced", id="same-node-same-exception"),
    pytest.param(rerun("failed", ExecutionError("9", "ComfyMathExpression", "ZeroDivisionError", "x")), "reproduced",
                 id="same-class-other-node"),
    pytest.param(rerun("failed", ExecutionError("5", "ComfyMathExpression", "ValueError", "x")), "different-failure",
                 id="same-node-other-exception"),
    pytest.param(rerun("failed", ExecutionError("7", "ImageScale", "ZeroDivisionError", "x")), "different-failure",
                 id="other-node-and-class-same-exception"),
    pytest.param(rerun("failed", ExecutionError("5", "ComfyMathExpression", "builtins.ZeroDivisionError", "x")),
                 "reproduced", id="qualified-and-unqualified-exception-names"),
    pytest.param(rerun("failed", ExecutionError("5", "ComfyMathExpression", "mylib.ZeroDivisionError", "x")),
                 "reproduced", id="only-one-side-qualified"),
    pytest.param(rerun("failed"), "different-failure", id="failed-without-error-details"),
    pytest.param(rerun("cancelled"), "different-failure", id="cancelled"),
]  # fmt: skip


@pytest.mark.parametrize(("new_job", "expected"), VERDICT_CASES)
def test_verdict_follows_spec_section_5(new_job: Job, expected: str) -> None:
    assert verdict(ORIGINAL, new_job) == expected


def test_two_differently_qualified_exception_names_do_not_match() -> None:
    new = rerun("failed", ExecutionError("5", "ComfyMathExpression", "a.ZeroDivisionError", "x"))
    assert verdict(ExecutionError("5", "ComfyMathExpression", "b.ZeroDivisionError", "x"), new) == "different-failure"


@pytest.mark.parametrize("status", ["pending", "in_progress"])
def test_a_verdict_needs_a_finished_job(status: str) -> None:
    with pytest.raises(JobStateError):
        verdict(ORIGINAL, rerun(status))


def test_with_definitions_an_override_may_name_an_input_the_prompt_leaves_unset() -> None:
    prompt = {"1": node("EmptyImage", width=64, height=64), "2": node("SaveImage", images=link("1"))}
    plan = build_repro(failed_job(prompt, "1"), sets=[parse_set("1.color=255")], defs=OBJECT_INFO)
    assert plan.prompt["1"]["inputs"]["color"] == 255
    with pytest.raises(InputError, match="its inputs: batch_size, color, height, width"):
        build_repro(failed_job(prompt, "1"), sets=[parse_set("1.colour=255")], defs=OBJECT_INFO)
