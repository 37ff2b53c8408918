"""Tests of replay.bisect and the `bisect` command: changes, ddmin, the run cache and log, against the fake server."""

from __future__ import annotations

import copy
import gzip
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fakecomfy import FakeComfy
from fakecomfy_rules import PromptRule, any_of, batch_mismatch, has_values, input_above
from fakecomfy_run import make_job
from graphs import link, node
from helpers import DATA, load
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from replay.bisect import (
    DDResult,
    OutOfRuns,
    Progress,
    RunLog,
    apply_changes,
    bisect_jobs,
    ddmin,
    find_changes,
    log_path,
    one_culprit_runs,
    prompt_key,
    worst_case_runs,
    write_bisect,
)
from replay.cli import main
from replay.client import Client
from replay.environment import capture_environment
from replay.errors import InputError, JobStateError
from replay.jobs import Job, job_from_document
from replay.recipe import build_recipe, loads_recipe, write_recipe

ERROR = {"exception_type": "RuntimeError", "message": "The size of tensor a (1) must match the size of tensor b (2)"}


@pytest.fixture
def server() -> Iterator[FakeComfy]:
    """An OSS fake server whose runs finish on the first poll (no waiting in tests)."""
    with FakeComfy(dialect="oss", run_polls=0) as fake:
        yield fake
    assert not fake.errors, "\n".join(fake.errors)


def client_for(fake: FakeComfy) -> Client:
    return Client(fake.url, api_key=None, retries=1, retry_budget=1.0)


def run_cli(args: list[str], fake: FakeComfy) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(args, stdout=out, stderr=err, env={"COMFY_SERVER": fake.url})
    return code, out.getvalue(), err.getvalue()


def posted_prompts(fake: FakeComfy) -> list[str]:
    return [prompt_key(body["prompt"]) for body in fake.submissions]


def no_prompt_twice(fake: FakeComfy) -> bool:
    keys = posted_prompts(fake)
    return len(keys) == len(set(keys))


def blur_chain(count: int) -> dict[str, Any]:
    """EmptyImage 1 -> ImageBlur 10, 11, ... (count of them) -> ImageInvert 2 -> SaveImage 3."""
    prompt: dict[str, Any] = {"1": node("EmptyImage", width=64, height=64, batch_size=1, color=0)}
    previous = "1"
    for index in range(count):
        prompt[str(10 + index)] = node("ImageBlur", image=link(previous), blur_radius=1, sigma=1.0)
        previous = str(10 + index)
    prompt["2"] = node("ImageInvert", image=link(previous))
    prompt["3"] = node("SaveImage", images=link("2"), filename_prefix="chain")
    return prompt


def changed_chain(count: int) -> dict[str, Any]:
    """The blur chain with every blur_radius raised from 1 to 2: `count` independent input changes."""
    prompt = blur_chain(count)
    for index in range(count):
        prompt[str(10 + index)]["inputs"]["blur_radius"] = 2
    return prompt


def rule_at(node_id: str, when: Any) -> PromptRule:
    return PromptRule(node_id=node_id, when=when, **ERROR)


def ends(good: dict[str, Any], bad: dict[str, Any], fail_node: str) -> tuple[Job, Job]:
    """A completed job of `good` and a job of `bad` that failed at `fail_node` with ERROR."""
    return (job_from_document(make_job("completed", prompt=good)),
            job_from_document(make_job("failed", prompt=bad, fail_node=fail_node, **ERROR)))


def radius_two(*blurs: int) -> Any:
    return has_values({(str(10 + b), "blur_radius"): 2 for b in blurs})


# ------------------------------------------------------------------------------------------- changes


def test_each_changed_input_is_a_change_with_a_stable_id_and_a_description() -> None:
    groups = find_changes(blur_chain(3), changed_chain(3))
    assert [g.ids for g in groups] == [["10.blur_radius"], ["11.blur_radius"], ["12.blur_radius"]]
    change = groups[0].changes[0]
    assert (change.node, change.kind, change.input, change.a, change.b) == ("10", "input", "blur_radius", 1, 2)
    assert change.describe() == "10.blur_radius (ImageBlur): 1 -> 2"
    assert change.to_json() == {"id": "10.blur_radius", "node": "10", "kind": "input", "input": "blur_radius",
                                "class_type": "ImageBlur", "a": 1, "b": 2}


def test_an_added_node_travels_with_the_links_that_use_it_and_the_added_nodes_it_needs() -> None:
    good = blur_chain(1)
    bad = copy.deepcopy(good)
    bad["20"] = node("EmptyImage", width=64, height=64, batch_size=2, color=0)
    bad["21"] = node("ImageBlur", image=link("20"), blur_radius=1, sigma=1.0)
    bad["2"]["inputs"]["image"] = link("21")
    bad["1"]["inputs"]["color"] = 5
    groups = find_changes(good, bad)
    assert sorted(map(sorted, (g.ids for g in groups))) == [["+20", "+21", "2.image"], ["1.color"]]
    kinds = {c.id: c.kind for g in groups for c in g.changes}
    assert kinds == {"+20": "added-node", "+21": "added-node", "2.image": "link", "1.color": "input"}


def test_a_removed_node_travels_with_the_links_that_pointed_at_it() -> None:
    good = blur_chain(2)
    bad = copy.deepcopy(good)
    del bad["11"]
    bad["2"]["inputs"]["image"] = link("10")
    bad["3"]["inputs"]["filename_prefix"] = "other"
    groups = find_changes(good, bad)
    assert sorted(map(sorted, (g.ids for g in groups))) == [["-11", "2.image"], ["3.filename_prefix"]]


def test_a_node_whose_class_changed_is_removed_and_added_in_one_group_and_titles_are_no_change() -> None:
    good = blur_chain(1)
    bad = copy.deepcopy(good)
    bad["10"] = node("ImageSharpen", image=link("1"), sharpen_radius=1)
    bad["2"]["_meta"] = {"title": "renamed"}
    groups = find_changes(good, bad)
    assert [g.ids for g in groups] == [["-10", "+10"]]
    assert apply_changes(good, bad, groups[0].changes)["10"] == bad["10"]


def test_every_subset_of_groups_is_a_valid_graph_and_all_of_them_give_bad() -> None:
    good = blur_chain(2)
    bad = copy.deepcopy(good)
    del bad["11"]
    bad["20"] = node("ImageInvert", image=link("10"))
    bad["2"]["inputs"]["image"] = link("20")
    bad["1"]["inputs"]["width"] = 128
    groups = find_changes(good, bad)
    assert apply_changes(good, bad, [c for g in groups for c in g.changes]) == bad
    for mask in range(2 ** len(groups)):
        chosen = [c for i, g in enumerate(groups) if mask >> i & 1 for c in g.changes]
        prompt = apply_changes(good, bad, chosen)
        for item in prompt.values():
            for value in item["inputs"].values():
                if isinstance(value, list):
                    assert value[0] in prompt


def test_the_same_prompt_has_the_same_key_and_one_and_one_point_zero_differ() -> None:
    assert prompt_key({"1": node("A", x=1)}) == prompt_key({"1": {"inputs": {"x": 1}, "class_type": "A"}})
    assert prompt_key({"1": node("A", x=1)}) != prompt_key({"1": node("A", x=1.0)})


# ------------------------------------------------------------------------------------------- ddmin


def _oracle(culprits: set[int]) -> tuple[list[frozenset[int]], Any]:
    tested: list[frozenset[int]] = []

    def test(items: list[int]) -> Any:
        tested.append(frozenset(items))
        return "fail" if culprits <= set(items) else "pass"

    return tested, test


@pytest.mark.parametrize(("count", "culprits"), [(1, {0}), (2, {1}), (8, {5}), (32, {17}), (32, {3, 30}),
                                                 (16, {0, 7, 15})])
def test_ddmin_finds_exactly_the_culprits(count: int, culprits: set[int]) -> None:
    tested, test = _oracle(culprits)
    assert ddmin(count, test) == DDResult(sorted(culprits), finished=True)


def test_ddmin_needs_two_runs_per_halving_for_one_culprit_among_32_whatever_its_place() -> None:
    for culprit in range(32):
        tested, test = _oracle({culprit})
        ddmin(32, test)
        assert len(set(tested)) <= 10


def test_ddmin_stops_with_the_smallest_failing_set_so_far_when_the_runs_are_spent() -> None:
    calls = []

    def test(items: list[int]) -> Any:
        calls.append(items)
        if len(calls) > 3:
            raise OutOfRuns
        return "fail" if 13 in items else "pass"

    result = ddmin(32, test)
    assert result.finished is False
    # run 1: {0..15} fails; run 2: {0..7} passes; run 3: {8..15} fails; run 4 is refused
    assert result.items == list(range(8, 16))


def test_worst_case_runs_are_the_ends_plus_ddmins_bound() -> None:
    assert worst_case_runs(1) == 2  # a single group: the ends say it all
    assert worst_case_runs(3) == 2 + 6  # 2^3 - 2 proper subsets < 9 + 9
    assert worst_case_runs(32) == 2 + 32 * 32 + 3 * 32
    assert one_culprit_runs(32) == 12


# ------------------------------------------------------------------------------------------- bisect, library


@pytest.mark.parametrize(("count", "culprit"), [(1, 0), (2, 1), (8, 6), (32, 21)])
def test_one_culprit_among_n_changes_is_found_with_few_runs(server: FakeComfy, count: int, culprit: int) -> None:
    server.rules.append(rule_at("2", radius_two(culprit)))
    good, bad = ends(blur_chain(count), changed_chain(count), "2")
    with client_for(server) as client:
        result = bisect_jobs(client, good, bad)
    assert result.ends_problem is None
    assert [c.id for c in result.culprits] == [f"{10 + culprit}.blur_radius"]
    assert result.minimal
    assert result.submissions == len(server.submissions) <= one_culprit_runs(count)
    assert no_prompt_twice(server)
    assert result.prompt is not None and result.prompt[str(10 + culprit)]["inputs"]["blur_radius"] == 2


def test_two_culprits_that_only_fail_together_are_both_found(server: FakeComfy) -> None:
    server.rules.append(rule_at("2", radius_two(3, 28)))
    good, bad = ends(blur_chain(32), changed_chain(32), "2")
    with client_for(server) as client:
        result = bisect_jobs(client, good, bad)
    assert [c.id for c in result.culprits] == ["13.blur_radius", "38.blur_radius"]
    assert result.minimal and no_prompt_twice(server)
    assert result.submissions <= 30


def blend(batch_a: int = 2, batch_b: int = 2) -> dict[str, Any]:
    """Two EmptyImages blended by ImageBlend 5, saved by 3; EmptyImage 4 also feeds a PreviewImage 6."""
    return {
        "1": node("EmptyImage", width=64, height=64, batch_size=batch_a, color=0),
        "4": node("EmptyImage", width=64, height=64, batch_size=batch_b, color=255),
        "5": node("ImageBlend", image1=link("1"), image2=link("1"), blend_factor=0.5, blend_mode="normal"),
        "3": node("SaveImage", images=link("5"), filename_prefix="blend"),
        "6": node("PreviewImage", images=link("4")),
    }


def test_a_culprit_that_is_an_added_node_comes_with_its_link(server: FakeComfy) -> None:
    server.rules.append(PromptRule(class_type="ImageBlend", when=batch_mismatch, **ERROR))
    good = blend()
    bad = copy.deepcopy(good)
    bad["8"] = node("EmptyImage", width=64, height=64, batch_size=3, color=0)
    bad["5"]["inputs"]["image2"] = link("8")
    bad["5"]["inputs"]["blend_factor"] = 0.7
    bad["1"]["inputs"]["color"] = 77
    bad["4"]["inputs"]["width"] = 32
    good_job, bad_job = ends(good, bad, "5")
    with client_for(server) as client:
        result = bisect_jobs(client, good_job, bad_job)
    assert sorted(c.id for c in result.culprits) == ["+8", "5.image2"]
    assert {c.kind for c in result.culprits} == {"added-node", "link"}
    assert result.minimal and no_prompt_twice(server)


def test_a_culprit_that_is_a_rewired_link_is_found(server: FakeComfy) -> None:
    server.rules.append(PromptRule(class_type="ImageBlend", when=batch_mismatch, **ERROR))
    good = blend(2, 3)
    bad = copy.deepcopy(good)
    bad["5"]["inputs"]["image2"] = link("4")
    bad["5"]["inputs"]["blend_mode"] = "screen"
    bad["3"]["inputs"]["filename_prefix"] = "blend2"
    good_job, bad_job = ends(good, bad, "5")
    with client_for(server) as client:
        result = bisect_jobs(client, good_job, bad_job)
    assert [(c.id, c.kind, c.a, c.b) for c in result.culprits] == [("5.image2", "link", ["1", 0], ["4", 0])]


def test_a_node_that_fails_when_an_input_passes_a_limit_is_found_among_other_edits(server: FakeComfy) -> None:
    server.rules.append(PromptRule(class_type="ImageScale", when=input_above("width", 4096), **ERROR))
    good = {"1": node("EmptyImage", width=64, height=64, batch_size=1, color=0),
            "7": node("ImageScale", image=link("1"), upscale_method="nearest-exact", width=512, height=512,
                      crop="disabled"),
            "3": node("SaveImage", images=link("7"), filename_prefix="scaled")}
    bad = copy.deepcopy(good)
    bad["7"]["inputs"].update(width=8192, height=1024, upscale_method="bilinear")
    bad["1"]["inputs"].update(color=3, batch_size=2)
    bad["3"]["inputs"]["filename_prefix"] = "big"
    good_job, bad_job = ends(good, bad, "7")
    with client_for(server) as client:
        result = bisect_jobs(client, good_job, bad_job)
    assert [c.id for c in result.culprits] == ["7.width"]
    assert len(result.groups) == 6 and result.minimal and no_prompt_twice(server)


def test_candidates_the_server_rejects_are_unresolved_never_passes(server: FakeComfy) -> None:
    server.rules.append(rule_at("2", radius_two(6)))
    good, bad = ends(blur_chain(8), changed_chain(8), "2")
    # The first candidate after the ends ({10..13}) is refused with a 400.
    server.fault(r"prompt", kind="status", times=1, method="POST", code=400,
                 body={"error": {"type": "invalid_prompt", "message": "refused", "details": "", "extra_info": {}},
                       "node_errors": {}})
    with client_for(server) as client:
        result = bisect_jobs(client, good, bad, trust_ends=True)
    assert [c.id for c in result.culprits] == ["16.blur_radius"]
    refused = [run for run in result.runs if run.note and "rejected" in run.note]
    assert len(refused) == 1 and refused[0].outcome == "unresolved" and refused[0].posted
    assert no_prompt_twice(server)


def test_a_candidate_that_fails_another_way_is_unresolved(server: FakeComfy) -> None:
    server.rules.append(rule_at("2", radius_two(0)))
    server.rules.append(PromptRule(node_id="13", when=radius_two(3), exception_type="ValueError", message="other"))
    good, bad = ends(blur_chain(4), changed_chain(4), "2")
    bad_prompt = changed_chain(4)
    bad_prompt["13"]["inputs"]["blur_radius"] = 1  # BAD itself does not hit the other failure
    good, bad = ends(blur_chain(4), bad_prompt, "2")
    with client_for(server) as client:
        result = bisect_jobs(client, good, bad)
    assert [c.id for c in result.culprits] == ["10.blur_radius"]
    assert all(run.outcome != "unresolved" for run in result.runs)


def test_a_flaky_good_end_stops_the_bisect_and_says_what_happened(server: FakeComfy) -> None:
    server.rules.append(rule_at("2", radius_two(1)))
    server.cancel_next()
    good, bad = ends(blur_chain(4), changed_chain(4), "2")
    with client_for(server) as client:
        result = bisect_jobs(client, good, bad)
    assert result.ends_problem is not None and "GOOD did not complete when run again: cancelled" in result.ends_problem
    assert len(server.submissions) == 1 and not result.culprits


def test_a_bad_end_that_completes_when_run_again_stops_the_bisect(server: FakeComfy) -> None:
    good, bad = ends(blur_chain(4), changed_chain(4), "2")
    with client_for(server) as client:
        result = bisect_jobs(client, good, bad)
    assert result.ends_problem is not None
    assert result.ends_problem.startswith("BAD did not fail the same way when run again")
    assert "completed" in result.ends_problem
    assert len(server.submissions) == 2


def test_max_runs_stops_with_the_best_answer_so_far_and_says_so(server: FakeComfy) -> None:
    server.rules.append(rule_at("2", radius_two(20)))
    good, bad = ends(blur_chain(32), changed_chain(32), "2")
    with client_for(server) as client:
        result = bisect_jobs(client, good, bad, max_runs=6)
    assert len(server.submissions) == result.submissions == 6
    assert result.stopped is not None and "--max-runs 6 reached" in result.stopped
    assert "30.blur_radius" in [c.id for c in result.culprits] and 1 < len(result.culprits) < 32
    assert not result.minimal


def test_an_interrupted_bisect_resumes_from_its_log_without_submitting_a_prompt_twice(
    server: FakeComfy, tmp_path: Path
) -> None:
    server.rules.append(rule_at("2", radius_two(3, 11)))
    good, bad = ends(blur_chain(16), changed_chain(16), "2")
    log = str(tmp_path / "answer.runs.jsonl")
    seen: list[Progress] = []

    def interrupt(progress: Progress) -> None:
        seen.append(progress)
        if progress.outcome is None and progress.run == 6:
            raise KeyboardInterrupt

    with client_for(server) as client, pytest.raises(KeyboardInterrupt):
        bisect_jobs(client, good, bad, log=log, on_progress=interrupt)
    assert len(server.submissions) == 5
    with client_for(server) as client:
        result = bisect_jobs(client, good, bad, log=log)
    assert [c.id for c in result.culprits] == ["13.blur_radius", "21.blur_radius"]
    assert no_prompt_twice(server)
    assert result.submissions == len(server.submissions)
    assert sum(run.resumed for run in result.runs) == 5


def test_a_run_submitted_before_the_interrupt_is_waited_for_not_submitted_again(
    server: FakeComfy, tmp_path: Path
) -> None:
    server.rules.append(rule_at("2", radius_two(1)))
    good, bad = ends(blur_chain(2), changed_chain(2), "2")
    assert good.prompt is not None and bad.prompt is not None
    done = server.add_job(make_job("completed", prompt=good.prompt))
    full = apply_changes(good.prompt, bad.prompt, [c for g in find_changes(good.prompt, bad.prompt) for c in g.changes])
    log = tmp_path / "x.runs.jsonl"
    RunLog(str(log), prompt_key(good.prompt), prompt_key(full)).submitted(prompt_key(good.prompt), done, [])
    with client_for(server) as client:
        result = bisect_jobs(client, good, bad, log=str(log))
    assert [c.id for c in result.culprits] == ["11.blur_radius"]
    assert prompt_key(good.prompt) not in posted_prompts(server)
    assert result.submissions == len(server.submissions) + 1


def test_a_log_of_another_bisect_is_refused(server: FakeComfy, tmp_path: Path) -> None:
    log = tmp_path / "x.runs.jsonl"
    log.write_text('{"bisect": 1, "good": "a", "bad": "b"}\n')
    good, bad = ends(blur_chain(2), changed_chain(2), "2")
    with client_for(server) as client, pytest.raises(InputError, match="not the run log of this bisect"):
        bisect_jobs(client, good, bad, log=str(log))
    assert server.submissions == []


def test_ends_that_are_not_completed_and_failed_are_refused(server: FakeComfy) -> None:
    good, bad = ends(blur_chain(2), changed_chain(2), "2")
    with client_for(server) as client:
        with pytest.raises(JobStateError, match="BAD: .* is completed, not failed"):
            bisect_jobs(client, good, good)
        with pytest.raises(JobStateError, match="GOOD .* is failed, not completed"):
            bisect_jobs(client, bad, bad)
        with pytest.raises(InputError, match="nothing to bisect"):
            bisect_jobs(client, Job(kind="prompt", prompt=bad.prompt), bad)
    assert server.submissions == []


@pytest.mark.parametrize(("case", "culprits"), [("blend", ["2.batch_size"]), ("blend_pair", ["1.batch_size", "2.batch_size"])])
def test_the_recorded_real_jobs_bisect_to_the_batch_sizes_a_real_comfyui_blamed(
    server: FakeComfy, case: str, culprits: list[str]
) -> None:
    server.rules.append(PromptRule(class_type="ImageBlend", when=batch_mismatch, exception_type="RuntimeError",
                                   message="The size of tensor a (2) must match the size of tensor b (3)"))
    good_id = server.add_job(load(f"bisect/{case}_good.job.json"))
    bad_id = server.add_job(load(f"bisect/{case}_bad.job.json"))
    code, out, err = run_cli(["bisect", good_id, bad_id, "--json"], server)
    assert code == 0, err
    data = json.loads(out)
    assert data["culprits"] == culprits
    assert len(data["changes"]) == 7
    assert data["runs"] == len(server.submissions) <= 8


def test_a_recorded_real_job_with_removed_added_and_rewired_nodes_groups_them_and_finds_the_batch_size(
    server: FakeComfy,
) -> None:
    good = job_from_document(load("bisect/blend_good.job.json"))
    bad = job_from_document(load("bisect/blend_rewired_bad.job.json"))
    assert good.prompt is not None and bad.prompt is not None
    groups = [sorted(g.ids) for g in find_changes(good.prompt, bad.prompt)]
    assert sorted(groups) == [["+8", "+9", "4.image2"], ["-3", "4.image1"], ["1.height"], ["2.batch_size"]]
    server.rules.append(PromptRule(class_type="ImageBlend", when=batch_mismatch, exception_type="RuntimeError",
                                   message="The size of tensor a (2) must match the size of tensor b (3)"))
    with client_for(server) as client:
        result = bisect_jobs(client, good, bad)
    assert [c.id for c in result.culprits] == ["2.batch_size"] and result.minimal
    assert result.submissions == len(server.submissions) == 5  # a real ComfyUI 0.33 needed 5 runs too
    assert no_prompt_twice(server)


# ------------------------------------------------------------------------------------------- property


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[int, list[set[int]], tuple[int, int] | None]:
    """A number of changes; failure rules (each a set of changes that fail together; any rule fails); and maybe
    a pair (X, Y): change X without change Y fails another way at X's node (never in BAD, which has both)."""
    count = draw(st.integers(1, 16))
    rules = draw(st.lists(st.sets(st.integers(0, count - 1), min_size=1, max_size=3), min_size=1, max_size=3))
    other = None
    if count >= 2 and draw(st.booleans()):
        x = draw(st.integers(0, count - 1))
        y = draw(st.sampled_from([i for i in range(count) if i != x]))
        other = (x, y)
    return count, rules, other


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario=scenarios())
def test_property_the_answer_fails_is_1_minimal_and_no_prompt_runs_twice(
    server: FakeComfy, scenario: tuple[int, list[set[int]], tuple[int, int] | None]
) -> None:
    count, rules, other = scenario
    server.clear_rules()
    server.clear_log()
    good_prompt, bad_prompt = blur_chain(count), changed_chain(count)

    def radius(prompt: dict[str, Any], i: int) -> Any:
        return prompt[str(10 + i)]["inputs"]["blur_radius"]

    def outcome(prompt: dict[str, Any]) -> str:
        """What the fake server does with a candidate: the other failure comes first (its node runs earlier)."""
        if other is not None and radius(prompt, other[0]) == 2 and radius(prompt, other[1]) == 1:
            return "unresolved"
        return "fail" if any(all(radius(prompt, i) == 2 for i in rule) for rule in rules) else "pass"

    if other is not None:
        x, y = other
        server.rules.append(PromptRule(node_id=str(10 + x), exception_type="ValueError", message="another failure",
                                       when=has_values({(str(10 + x), "blur_radius"): 2,
                                                        (str(10 + y), "blur_radius"): 1})))
    server.rules.append(rule_at("2", any_of(*(radius_two(*rule) for rule in rules))))
    good, bad = ends(good_prompt, bad_prompt, "2")
    with client_for(server) as client:
        result = bisect_jobs(client, good, bad, max_runs=10_000)
    assert result.ends_problem is None and result.prompt is not None
    assert outcome(result.prompt) == "fail"
    event("some run unresolved" if any(run.outcome == "unresolved" for run in result.runs) else "no run unresolved")
    event("proven minimal" if result.minimal else "not proven minimal")
    for run in result.runs:
        assert run.outcome == outcome(apply_changes(good_prompt, bad_prompt, [
            c for g in result.groups for c in g.changes if c.id in run.changes]))
    removals = [outcome(apply_changes(good_prompt, bad_prompt, [c for c in result.culprits if c is not change]))
                for change in result.culprits]
    assert "fail" not in removals  # 1-minimal: no single culprit can go
    assert result.minimal == all(r == "pass" for r in removals)
    if other is None:
        assert result.minimal
    assert no_prompt_twice(server)
    assert result.submissions == len(server.submissions)


# ------------------------------------------------------------------------------------------- the command


def serve_ends(fake: FakeComfy, good: dict[str, Any], bad: dict[str, Any], fail_node: str) -> tuple[str, str]:
    return (fake.add_job(make_job("completed", prompt=good)),
            fake.add_job(make_job("failed", prompt=bad, fail_node=fail_node, **ERROR)))


def test_bisect_of_two_job_ids_prints_the_culprit_like_diff_and_writes_the_recipe_and_log(
    server: FakeComfy, tmp_path: Path
) -> None:
    server.rules.append(rule_at("2", radius_two(2)))
    good_id, bad_id = serve_ends(server, blur_chain(4), changed_chain(4), "2")
    code, out, err = run_cli(["bisect", good_id, bad_id, "-o", str(tmp_path)], server)
    assert code == 0, err
    recipe_path = tmp_path / f"{bad_id}.bisect.yaml"
    assert "culprits (1 change of 4, 1-minimal):\n  12.blur_radius (ImageBlur): 1 -> 2\n" in out
    assert "~ 12 ImageBlur\n    blur_radius: 1 -> 2\n" in out
    assert f"{len(server.submissions)} runs of at most 32" in out
    assert f"recipe {recipe_path}" in out
    recipe = loads_recipe(recipe_path.read_text())
    assert recipe["prompt"]["12"]["inputs"]["blur_radius"] == 2
    assert recipe["prompt"]["11"]["inputs"]["blur_radius"] == 1
    assert recipe["source"] == {"kind": "prompt", "server": server.url, "derived_from": "bisect", "good": good_id,
                                "bad": bad_id}
    section = recipe["bisect"]
    assert section["culprits"] == ["12.blur_radius"] and section["runs"] == len(server.submissions)
    assert [run["outcome"] for run in section["tested"]][:2] == ["pass", "fail"]
    log = Path(log_path(str(recipe_path)) or "")
    assert log.exists() and len(log.read_text().splitlines()) == 1 + 2 * len(server.submissions)
    code, _, _ = run_cli(["bisect", good_id, bad_id, "-o", str(tmp_path)], server)  # resumes: nothing runs again
    assert code == 0 and no_prompt_twice(server)


def test_bisect_json_has_the_spec_shape(server: FakeComfy, tmp_path: Path) -> None:
    server.rules.append(rule_at("2", radius_two(0)))
    good_id, bad_id = serve_ends(server, blur_chain(2), changed_chain(2), "2")
    out_file = tmp_path / "answer.yaml"
    code, out, err = run_cli(["bisect", good_id, bad_id, "-o", str(out_file), "--json"], server)
    assert code == 0, err
    data = json.loads(out)
    assert data["ends"] == {"good": good_id, "bad": bad_id}
    assert data["changes"] == [
        {"id": "10.blur_radius", "node": "10", "kind": "input", "input": "blur_radius", "class_type": "ImageBlur",
         "a": 1, "b": 2},
        {"id": "11.blur_radius", "node": "11", "kind": "input", "input": "blur_radius", "class_type": "ImageBlur",
         "a": 1, "b": 2},
    ]
    assert data["culprits"] == ["10.blur_radius"]
    assert data["runs"] == len(server.submissions) == 3  # both ends, then {10} fails
    assert data["recipe"] == str(out_file)


def test_dry_run_lists_the_changes_and_the_worst_case_and_submits_nothing(server: FakeComfy) -> None:
    good_id, bad_id = serve_ends(server, blur_chain(3), changed_chain(3), "2")
    code, out, err = run_cli(["bisect", good_id, bad_id, "--dry-run"], server)
    assert code == 0, err
    assert "3 changes in 3 groups" in out
    assert "  1. 10.blur_radius (ImageBlur): 1 -> 2\n" in out
    assert "runs: at most 8 in the worst case (ends included), 6 when one group alone is the culprit" in out
    assert server.submissions == []


def test_ends_that_do_not_behave_exit_1_with_what_happened(server: FakeComfy) -> None:
    good_id, bad_id = serve_ends(server, blur_chain(2), changed_chain(2), "2")
    code, out, err = run_cli(["bisect", good_id, bad_id], server)
    assert code == 1, err
    assert "ends: BAD did not fail the same way when run again" in out


def test_max_runs_spent_before_the_ends_are_confirmed_is_no_answer_exit_1(server: FakeComfy) -> None:
    server.rules.append(rule_at("2", radius_two(0)))
    good_id, bad_id = serve_ends(server, blur_chain(2), changed_chain(2), "2")
    code, out, err = run_cli(["bisect", good_id, bad_id, "--max-runs", "1"], server)
    assert code == 1, err
    assert "stopped: --max-runs 1 was spent before the ends were confirmed" in out
    assert len(server.submissions) == 1


@pytest.mark.parametrize("args", [["--max-runs", "0"], ["-o", "-", "--json"]])
def test_bad_options_are_usage_errors(server: FakeComfy, args: list[str]) -> None:
    good_id, bad_id = serve_ends(server, blur_chain(2), changed_chain(2), "2")
    code, out, err = run_cli(["bisect", good_id, bad_id, *args], server)
    assert code == 2 and out == "" and err.startswith("comfy-replay: error: ")
    assert server.submissions == []


def test_a_good_end_that_is_not_completed_is_exit_2(server: FakeComfy) -> None:
    _, bad_id = serve_ends(server, blur_chain(2), changed_chain(2), "2")
    code, _, err = run_cli(["bisect", bad_id, bad_id], server)
    assert code == 2 and "is failed, not completed" in err


def test_a_server_that_fails_is_exit_3(server: FakeComfy) -> None:
    server.rules.append(rule_at("2", radius_two(0)))
    good_id, bad_id = serve_ends(server, blur_chain(2), changed_chain(2), "2")
    server.fault(r"prompt", kind="status", method="POST", code=500)
    code, _, err = run_cli(["bisect", good_id, bad_id], server)
    assert code == 3 and err.startswith("comfy-replay: error: ")
    assert [r.method for r in server.requests].count("POST") == 1  # never retried


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_progress_shows_the_run_the_limit_and_the_changes_in_play(server: FakeComfy) -> None:
    server.rules.append(rule_at("2", radius_two(5)))
    good_id, bad_id = serve_ends(server, blur_chain(8), changed_chain(8), "2")
    out, err = io.StringIO(), Terminal()
    code = main(["bisect", good_id, bad_id, "--max-runs", "20"], stdout=out, stderr=err, env={"COMFY_SERVER": server.url})
    assert code == 0
    shown = err.getvalue()
    assert "run 1 of at most 20: testing 0 of 8 changes in play" in shown
    assert "run 2 of at most 20: testing 8 of 8 changes in play: fail" in shown
    assert "run 3 of at most 20: testing 4 of 8 changes in play" in shown
    assert shown.endswith("\r\x1b[K")


def test_secret_looking_inputs_never_reach_the_json_the_log_or_the_recipe(server: FakeComfy, tmp_path: Path) -> None:
    good = blur_chain(2)
    good["3"]["inputs"]["api_key"] = "sk-old-secret-value"
    bad = changed_chain(2)
    bad["3"]["inputs"]["api_key"] = "sk-new-secret-value"
    server.rules.append(rule_at("2", radius_two(1)))
    good_id, bad_id = serve_ends(server, good, bad, "2")
    code, out, err = run_cli(["bisect", good_id, bad_id, "-o", str(tmp_path / "a.yaml"), "--json"], server)
    assert code == 0, err
    written = out + (tmp_path / "a.yaml").read_text() + (tmp_path / "a.runs.jsonl").read_text()
    assert "secret-value" not in written
    assert {"id": "3.api_key", "node": "3", "kind": "input", "input": "api_key", "class_type": "SaveImage",
            "a": "<redacted>", "b": "<redacted>"} in json.loads(out)["changes"]


def test_o_dash_prints_the_recipe_on_stdout_and_the_answer_on_stderr(server: FakeComfy) -> None:
    server.rules.append(rule_at("2", radius_two(0)))
    good_id, bad_id = serve_ends(server, blur_chain(2), changed_chain(2), "2")
    code, out, err = run_cli(["bisect", good_id, bad_id, "-o", "-"], server)
    assert code == 0, err
    recipe = loads_recipe(out)
    assert recipe["bisect"]["culprits"] == ["10.blur_radius"]
    assert "culprits (1 change of 2, 1-minimal)" in err


def test_a_file_at_the_o_path_that_is_not_a_bisect_recipe_is_refused_before_any_run(
    server: FakeComfy, tmp_path: Path
) -> None:
    server.rules.append(rule_at("2", radius_two(0)))
    good_id, bad_id = serve_ends(server, blur_chain(2), changed_chain(2), "2")
    target = tmp_path / "notes.yaml"
    target.write_text("my: notes\n")
    code, out, err = run_cli(["bisect", good_id, bad_id, "-o", str(target)], server)
    assert code == 2 and "is not the recipe of a bisect" in err
    assert server.submissions == [] and target.read_text() == "my: notes\n"
    code, _, err = run_cli(["bisect", good_id, bad_id, "-o", str(target), "--force"], server)
    assert code == 0, err
    assert loads_recipe(target.read_text())["bisect"]["culprits"] == ["10.blur_radius"]


# ------------------------------------------------------------------------------------------- the environment (§9)


@pytest.fixture
def defined() -> Iterator[FakeComfy]:
    """An OSS fake server that serves the recorded ComfyUI 0.33 /object_info (so classes and model lists are real)."""
    info = json.loads(gzip.decompress((DATA / "object_info.json.gz").read_bytes()))
    with FakeComfy(dialect="oss", run_polls=0, object_info=info) as fake:
        yield fake
    assert not fake.errors, "\n".join(fake.errors)


def served_environment(fake: FakeComfy, prompt: dict[str, Any]) -> dict[str, Any]:
    """What a run of `prompt` on this fake server records (its own /system_stats and /object_info)."""
    with client_for(fake) as client:
        return capture_environment(stats=client.system_stats(), object_info=client.object_info(), prompt=prompt,
                                   captured="run")


def recipe_of(path: Path, job: Job, environment: dict[str, Any] | None) -> str:
    job.environment = environment
    write_recipe(path, build_recipe(job), force=True)
    return str(path)


def end_recipes(fake: FakeComfy, tmp_path: Path, good_env: dict[str, Any] | None,
                bad_env: dict[str, Any] | None, count: int = 4, culprit: int = 2) -> tuple[str, str]:
    """Recipes of a GOOD blur chain and a BAD one with every radius changed, `culprit` failing at node 2."""
    fake.rules.append(rule_at("2", radius_two(culprit)))
    good, bad = ends(blur_chain(count), changed_chain(count), "2")
    return recipe_of(tmp_path / "good.yaml", good, good_env), recipe_of(tmp_path / "bad.yaml", bad, bad_env)


def system_gets(fake: FakeComfy) -> tuple[int, int]:
    """How many times /system_stats and /object_info were asked for (either spelling of the path)."""
    return (sum(n for path, n in fake.hits.items() if path.endswith("/system_stats")),
            sum(n for path, n in fake.hits.items() if path.endswith("/object_info")))


def test_drift_from_goods_environment_is_one_warning_and_in_the_json_and_the_bisect_runs(
    defined: FakeComfy, tmp_path: Path
) -> None:
    recorded = served_environment(defined, blur_chain(4))
    recorded["system"]["comfyui_version"] = "0.32.0"
    good, bad = end_recipes(defined, tmp_path, recorded, None)
    defined.clear_log()
    code, out, err = run_cli(["bisect", good, bad, "--json"], defined)
    assert code == 0, err
    warning = ("comfy-replay: warning: environment drift: ComfyUI 0.33.0 on the server, the job ran with 0.32.0 "
               "(newer on the server)\n")
    assert err.count(warning) == 1 and err.count("warning") == 1
    data = json.loads(out)
    assert [(d["kind"], d["subject"], d["recorded"], d["server"]) for d in data["environment_drift"]] == [
        ("version", "ComfyUI", "0.32.0", "0.33.0")]
    assert data["culprits"] == ["12.blur_radius"]
    assert len(defined.submissions) == data["runs"] >= 3
    assert system_gets(defined) == (1, 1)  # one GET each, however many runs the bisect made


def test_strict_env_with_drift_is_exit_2_before_any_post_and_writes_nothing(defined: FakeComfy, tmp_path: Path) -> None:
    recorded = served_environment(defined, blur_chain(4))
    recorded["system"]["pytorch_version"] = "2.9.0+cu128"
    good, bad = end_recipes(defined, tmp_path, recorded, None)
    out_file = tmp_path / "answer.yaml"
    code, out, err = run_cli(["bisect", good, bad, "--strict-env", "-o", str(out_file), "--json"], defined)
    assert code == 2
    assert out == ""
    assert "comfy-replay: error: --strict-env: the server differs from where the job ran (1 difference; first: " \
           "PyTorch 2.14.1+cu130 on the server, the job ran with 2.9.0+cu128" in err
    assert [r for r in defined.requests if r.method == "POST"] == []
    assert not out_file.exists() and not Path(log_path(str(out_file)) or "").exists()


def test_bads_environment_is_compared_when_good_has_none_and_goods_wins_when_both_have_one(
    defined: FakeComfy, tmp_path: Path
) -> None:
    same = served_environment(defined, blur_chain(4))
    older = copy.deepcopy(same)
    older["system"]["comfyui_version"] = "0.30.0"
    good, bad = end_recipes(defined, tmp_path, None, older)
    code, _out, err = run_cli(["bisect", good, bad, "--strict-env"], defined)
    assert code == 2 and "ComfyUI 0.33.0 on the server, the job ran with 0.30.0" in err
    assert defined.submissions == []
    good, bad = end_recipes(defined, tmp_path, same, older)
    code, out, err = run_cli(["bisect", good, bad, "--strict-env", "--json"], defined)
    assert code == 0, err
    assert json.loads(out)["environment_drift"] == []


def test_a_class_only_bad_adds_that_the_server_lacks_is_drift(defined: FakeComfy, tmp_path: Path) -> None:
    good_prompt = blur_chain(2)
    bad_prompt = changed_chain(2)
    bad_prompt["20"] = node("ImageResizeKJv2", image=link("1"), width=32)
    bad_prompt["21"] = node("PreviewImage", images=link("20"))
    good, bad = ends(good_prompt, bad_prompt, "2")
    good_path = recipe_of(tmp_path / "good.yaml", good, served_environment(defined, good_prompt))
    bad_path = recipe_of(tmp_path / "bad.yaml", bad, None)
    code, _out, err = run_cli(["bisect", good_path, bad_path, "--strict-env"], defined)
    assert code == 2
    assert "node class ImageResizeKJv2 is not on the server" in err
    assert defined.submissions == []


def test_the_answers_recipe_records_the_run_time_environment_of_the_server_the_runs_used(
    defined: FakeComfy, tmp_path: Path
) -> None:
    recorded = served_environment(defined, blur_chain(4))
    recorded["system"]["comfyui_version"] = "0.32.0"
    recorded["captured_at"] = "2026-01-02T03:04:05Z"
    good, bad = end_recipes(defined, tmp_path, recorded, None)
    out_file = tmp_path / "answer.yaml"
    code, out, err = run_cli(["bisect", good, bad, "-o", str(out_file), "--json"], defined)
    assert code == 0, err
    environment = loads_recipe(out_file.read_text())["environment"]
    assert environment["captured"] == "run"
    assert environment["server"] == defined.url
    assert environment["system"]["comfyui_version"] == "0.33.0"  # the server's, not GOOD's recorded 0.32.0
    assert environment["captured_at"] != "2026-01-02T03:04:05Z"
    assert [(p["pack"], sorted(p["classes"])) for p in environment["node_packs"]] == [
        ("comfy-core", ["EmptyImage", "ImageBlur", "ImageInvert", "SaveImage"])]
    assert json.loads(out)["environment"] == environment


def test_the_environment_is_stamped_with_the_time_the_runs_began(defined: FakeComfy) -> None:
    defined.rules.append(rule_at("2", radius_two(0)))
    good, bad = ends(blur_chain(2), changed_chain(2), "2")
    ticks = iter([86400.0])
    with client_for(defined) as client:
        result = bisect_jobs(client, good, bad, clock=lambda: next(ticks))
    assert result.environment is not None and result.environment["captured_at"] == "1970-01-02T00:00:00Z"
    assert result.environment_drift == []  # neither end recorded an environment; every class is on the server


def test_strict_env_needs_the_preflight(server: FakeComfy) -> None:
    good_id, bad_id = serve_ends(server, blur_chain(2), changed_chain(2), "2")
    code, _out, err = run_cli(["bisect", good_id, bad_id, "--strict-env", "--no-preflight"], server)
    assert code == 2 and "--strict-env needs the preflight checks" in err
    assert server.submissions == []
    with client_for(server) as client, pytest.raises(InputError, match="needs the preflight"):
        bisect_jobs(client, *ends(blur_chain(2), changed_chain(2), "2"), strict_env=True, preflight=False)


def test_a_resumed_bisect_keeps_the_first_capture_and_leaves_its_recipe_unchanged(
    defined: FakeComfy, tmp_path: Path
) -> None:
    defined.rules.append(rule_at("2", radius_two(1)))
    good, bad = ends(blur_chain(4), changed_chain(4), "2")
    target = str(tmp_path / "answer.yaml")
    states = []
    for day in (1, 2):
        with client_for(defined) as client:
            result = bisect_jobs(client, good, bad, log=log_path(target), clock=lambda day=day: day * 86400.0)
        states.append(write_bisect(result, target)[1])
    assert states == ["written", "unchanged"]
    assert loads_recipe(Path(target).read_text())["environment"]["captured_at"] == "1970-01-02T00:00:00Z"
    assert no_prompt_twice(defined)


def test_the_real_walk_through_with_an_edited_environment_warns_as_the_real_comfyui_run_did(
    defined: FakeComfy, tmp_path: Path
) -> None:
    """The recipes fetched from a real ComfyUI (GOOD's versions edited by hand) against a fake serving that server's
    /system_stats: the same two warnings, the same culprit, and the answer's environment equal to the real one."""
    defined.system_stats = load("bisect/system_stats_8196.json")
    defined.rules.append(PromptRule(class_type="ImageBlend", when=batch_mismatch, exception_type="RuntimeError",
                                    message="The size of tensor a (2) must match the size of tensor b (3)"))
    good, bad = str(DATA / "bisect/env_good.yaml"), str(DATA / "bisect/env_bad.yaml")
    out_file = tmp_path / "culprit.yaml"
    code, _out, err = run_cli(["bisect", good, bad, "--strict-env", "-o", str(out_file)], defined)
    assert code == 2 and defined.submissions == [] and not out_file.exists()
    code, out, err = run_cli(["bisect", good, bad, "-o", str(out_file), "--json"], defined)
    assert code == 0, err
    assert err.splitlines() == [
        "comfy-replay: warning: environment drift: ComfyUI 0.33.0 on the server, the recipe recorded 0.32.0 "
        "(newer on the server)",
        "comfy-replay: warning: environment drift: PyTorch 2.14.1+cu130 on the server, the recipe recorded "
        "2.9.0+cu128 (newer on the server)",
    ]
    assert json.loads(out)["culprits"] == ["2.batch_size"]
    real = loads_recipe((DATA / "bisect/env_culprit.bisect.yaml").read_text())
    ours = loads_recipe(out_file.read_text())
    assert real["bisect"]["culprits"] == ours["bisect"]["culprits"] == ["2.batch_size"]
    for part in ("captured", "system", "packages", "devices", "node_packs"):
        assert ours["environment"][part] == real["environment"][part], part
    assert "argv" not in out_file.read_text() and "--listen" not in out_file.read_text()
