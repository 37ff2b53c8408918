"""replay.validate: schema problems and graph problems of real and hand-made documents, with exact locations."""

from __future__ import annotations

import copy
import itertools
import subprocess
import sys

import pytest
from helpers import corpus_workflows, load
from hypothesis import given, settings
from hypothesis import strategies as st

from replay.errors import GraphError
from replay.validate import (
    Problem,
    check_prompt_graph,
    check_ui_graph,
    json_path,
    require_runnable_graph,
    validate_document,
)

JOB_ID = "f7838b83-aab4-48ed-96a5-1e0cb6760bc6"
OSS_JOBS = ["success_a", "fail_runtime_zerodiv", "interrupted_running", "pending", "in_progress"]
CLOUD_JOBS = ["success_a", "fail_runtime_zerodiv"]
HISTORIES = ["success_a", "fail_runtime_zerodiv", "interrupted_running"]
REQUESTS = ["success_a", "fail_runtime_zerodiv", "fail_validation_bad_value_missing_input",
            "fail_validation_unknown_class"]


def lines(doc, kind, **options):
    """The problems of `doc` as the CLI prints them, for a file named doc.json."""
    return [str(problem) for problem in validate_document(doc, kind, file="doc.json", **options)]


def node(class_type="Node", **inputs):
    return {"class_type": class_type, "inputs": inputs}


# --- locations -------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "expected"), [
    ([], "$"),
    (["job", "status"], "$.job.status"),
    (["3", "inputs", "model"], '$["3"].inputs.model'),
    (["nodes", 4, "inputs", 0, "link"], "$.nodes[4].inputs[0].link"),
    (["10:3", "_meta", "title"], '$["10:3"]._meta.title'),
    (["values.b"], '$["values.b"]'),
    (["a b", 'say "hi"'], '$["a b"]["say \\"hi\\""]'),
    ([""], '$[""]'),
    (["_private1"], "$._private1"),
    (["1st"], '$["1st"]'),
])
def test_json_path_quotes_keys_that_are_not_identifiers(path, expected):
    assert json_path(path) == expected


def test_a_problem_prints_as_file_location_message():
    assert str(Problem("job.json", "$.status", "bad")) == "job.json: $.status: bad"


# --- real recordings -------------------------------------------------------------------------


@pytest.mark.parametrize("name", OSS_JOBS)
def test_recorded_oss_job_is_valid_under_the_compatible_schema(name):
    assert lines(load(f"oss/{name}.job.json"), "job") == []


@pytest.mark.parametrize("name", OSS_JOBS)
def test_recorded_oss_job_fails_the_cloud_schema_because_it_has_no_update_time(name):
    problems = lines(load(f"oss/{name}.job.json"), "job", strict=True)
    assert problems[0] == "doc.json: $: 'update_time' is a required property"


def test_recorded_oss_failure_fails_the_cloud_schema_for_its_list_of_current_outputs():
    assert lines(load("oss/fail_runtime_zerodiv.job.json"), "job", strict=True) == [
        "doc.json: $: 'update_time' is a required property",
        "doc.json: $.execution_error.current_outputs: expected object, got array",
    ]


@pytest.mark.parametrize("name", CLOUD_JOBS)
@pytest.mark.parametrize("strict", [False, True])
def test_cloud_shaped_job_is_valid_under_both_schemas(name, strict):
    assert lines(load(f"cloud/{name}.job.json"), "job", strict=strict) == []


@pytest.mark.parametrize("name", HISTORIES)
def test_recorded_history_body_and_its_bare_entry_are_valid(name):
    body = load(f"oss/{name}.history.json")
    (entry,) = body.values()
    assert lines(body, "history") == []
    assert lines(entry, "history") == []


def test_history_of_two_jobs_is_valid():
    body = {**load("oss/success_a.history.json"), **load("oss/fail_runtime_zerodiv.history.json")}
    assert len(body) == 2 and lines(body, "history") == []


def test_empty_history_body_says_the_job_is_unknown_or_still_running():
    assert lines(load("oss/history_unknown.json"), "history") == [
        "doc.json: $: no history entry: the server answers {} for an unknown job and for one that is still running"
    ]


@pytest.mark.parametrize("name", REQUESTS)
def test_recorded_request_bodies_hold_valid_prompts_and_containers(name):
    body = load(f"oss/{name}.request.json")
    assert lines(body["prompt"], "prompt") == []
    assert lines(body, "container") == []


@pytest.mark.parametrize("name", ["success_a", "fail_runtime_zerodiv", "fail_validation_bad_value_missing_input"])
def test_recorded_ui_graphs_are_valid(name):
    assert lines(load(f"oss/{name}.request.json")["extra_data"]["extra_pnginfo"]["workflow"], "ui") == []


def test_the_empty_ui_graph_a_client_sent_is_not_a_ui_workflow():
    ui = load("oss/fail_validation_unknown_class.request.json")["extra_data"]["extra_pnginfo"]["workflow"]
    assert ui == {}
    assert lines(ui, "ui") == [
        "doc.json: $: 'nodes' is a required property",
        "doc.json: $: 'version' is a required property",
    ]


# --- bad prompts -----------------------------------------------------------------------------


def test_link_to_a_missing_node_is_located_at_the_input():
    assert lines({"1": node("SaveImage", images=["9", 0])}, "prompt") == [
        'doc.json: $["1"].inputs.images: links to node "9", which does not exist'
    ]


@pytest.mark.parametrize(("slot", "message"), [
    (-1, "must be at least 0, got -1"),
    ("0", 'expected integer, got string "0"'),
    (1.5, "expected integer, got number 1.5"),
    (0.0, "expected integer, got number 0.0"),
    (True, "expected integer, got boolean true"),
    (None, "expected integer, got null"),
])
def test_link_slot_must_be_a_non_negative_integer_and_is_reported_once(slot, message):
    prompt = {"1": node("A"), "2": node("B", image=["1", slot])}
    assert lines(prompt, "prompt") == [f'doc.json: $["2"].inputs.image[1]: {message}']


def test_cycle_of_three_nodes_is_reported_once_in_data_flow_order():
    prompt = {"1": node(x=["3", 0]), "2": node(x=["1", 0]), "3": node(x=["2", 0])}
    assert lines(prompt, "prompt") == ['doc.json: $["1"]: nodes form a cycle: "1" -> "2" -> "3" -> "1"']


def test_node_linked_to_itself_is_a_cycle():
    assert lines({"5": node(x=["5", 0])}, "prompt") == ['doc.json: $["5"]: nodes form a cycle: "5" -> "5"']


def test_tangled_cycles_are_one_problem_per_group_and_separate_groups_are_two():
    tangled = {"1": node(a=["2", 0], b=["3", 0]), "2": node(a=["1", 0], b=["3", 0]), "3": node(a=["1", 0])}
    separate = {**tangled, "10": node(a=["11", 0]), "11": node(a=["10", 0]), "12": node(a=["1", 0])}
    assert lines(tangled, "prompt") == ['doc.json: $["1"]: nodes form a cycle: "1" -> "2" -> "1"']
    assert lines(separate, "prompt") == [
        'doc.json: $["1"]: nodes form a cycle: "1" -> "2" -> "1"',
        'doc.json: $["10"]: nodes form a cycle: "10" -> "11" -> "10"',
    ]


def test_node_without_class_type_is_reported_once():
    assert lines({"1": {"inputs": {}}}, "prompt") == ["doc.json: $[\"1\"]: 'class_type' is a required property"]


@pytest.mark.parametrize(("prompt", "expected"), [
    ({"1": {"class_type": "A", "inputs": [["2", 0]]}}, '$["1"].inputs: expected object, got array'),
    ({"1": {"class_type": "A", "inputs": "x"}}, '$["1"].inputs: expected object, got string "x"'),
    ({"1": {"class_type": "A"}}, "$[\"1\"]: 'inputs' is a required property"),
    ({"1": {"class_type": "", "inputs": {}}}, '$["1"].class_type: must not be empty'),
    ({"1": {"class_type": 7, "inputs": {}}}, '$["1"].class_type: expected string, got integer 7'),
    ({"1": ["A", {}]}, '$["1"]: expected object, got array'),
    ({"": node("A")}, '$[""]: key: must not be empty'),
    ({3: node("A")}, "$[3]: key: expected string, got integer 3"),
    ({}, "$: a prompt needs at least one node"),
    ([1, 2, 3], "$: expected object, got array"),
    (42, "$: expected object, got integer 42"),
])
def test_malformed_prompt_gets_one_located_problem(prompt, expected):
    assert lines(prompt, "prompt") == [f"doc.json: {expected}"]


def test_malformed_node_does_not_hide_the_graph_problems_of_the_others():
    prompt = {"1": {"class_type": "A", "inputs": []}, "2": node(x=["3", 0]), "3": node(x=["2", 0], y=["8", 0])}
    assert lines(prompt, "prompt") == [
        'doc.json: $["1"].inputs: expected object, got array',
        'doc.json: $["2"]: nodes form a cycle: "2" -> "3" -> "2"',
        'doc.json: $["3"].inputs.y: links to node "8", which does not exist',
    ]


def test_values_that_are_not_links_are_literals():
    prompt = {"1": node("A", size=[512, 512], names=["a", "b", "c"], wrapped={"__value__": ["1", 0]},
                        text="1", empty=[], nested=[["1", 0]])}
    assert lines(prompt, "prompt") == []


def test_subgraph_path_node_ids_are_ordinary_ids():
    prompt = {"12:5": node("A"), "12:6": node("B", x=["12:5", 0]), "7": node("C", x=["12:6", 1])}
    assert lines(prompt, "prompt") == []


def test_problems_come_schema_first_then_graph_each_sorted_by_location():
    prompt = {"10": node(x=["2", "0"]), "2": node(x=["99", 0]), "3": {"inputs": {}}}
    assert lines(prompt, "prompt") == [
        'doc.json: $["3"]: \'class_type\' is a required property',
        'doc.json: $["10"].inputs.x[1]: expected integer, got string "0"',
        'doc.json: $["2"].inputs.x: links to node "99", which does not exist',
    ]


def test_check_prompt_graph_returns_paths_relative_to_the_prompt():
    assert check_prompt_graph({"1": node(x=["2", -3])}) == [
        (("1", "inputs", "x"), 'links to node "2", which does not exist'),
        (("1", "inputs", "x", 1), "must be at least 0, got -3"),
    ]


def test_long_chains_and_long_cycles_are_checked_without_recursion():
    size = 20_000
    chain = {str(i): node(x=[str(i - 1), 0]) if i else node() for i in range(size)}
    assert check_prompt_graph(chain) == []
    chain["0"] = node(x=[str(size - 1), 0])
    ((where, message),) = check_prompt_graph(chain)
    assert where == ("0",)
    assert message.startswith('nodes form a cycle: "0" -> "1" -> "2" -> ') and message.endswith(f'"{size - 1}" -> "0"')


def test_require_runnable_graph_raises_a_one_line_graph_error():
    with pytest.raises(GraphError) as caught:
        require_runnable_graph({"1": node(x=["1", 0], y=["4", -1])}, "p.json")
    assert str(caught.value) == 'p.json: $["1"].inputs.y[1]: must be at least 0, got -1 (and 2 more problems)'
    require_runnable_graph({"1": node()}, "ok.json")


def _closure(edges, nodes):
    """Which node reaches which along links (transitive closure): a reference independent of the code under test."""
    reach = {(str(consumer), str(source)) for consumer, source in edges}
    for k, i, j in itertools.product(nodes, repeat=3):
        if (i, k) in reach and (k, j) in reach:
            reach.add((i, j))
    return reach


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 7).flatmap(
    lambda n: st.tuples(st.just(n), st.lists(st.tuples(st.integers(0, n - 1), st.integers(0, n - 1)), max_size=12))
))
def test_every_node_on_a_cycle_is_covered_by_exactly_one_reported_cycle(case):
    size, edges = case
    nodes = [str(i) for i in range(size)]
    prompt = {n: node() for n in nodes}
    for index, (consumer, source) in enumerate(edges):
        prompt[str(consumer)]["inputs"][f"in{index}"] = [str(source), 0]
    reach = _closure(edges, nodes)
    on_cycles = {n for n in nodes if (n, n) in reach}
    groups = {frozenset(m for m in on_cycles if (n, m) in reach and (m, n) in reach) for n in on_cycles}
    findings = check_prompt_graph(prompt)
    reported = [message.split(": ", 1)[1].replace('"', "").split(" -> ") for _, message in findings]
    assert all(loop[0] == loop[-1] for loop in reported)
    # Each reported loop is a real cycle: every step is a link of the prompt.
    for loop in reported:
        for source, consumer in zip(loop, loop[1:], strict=False):
            assert (int(consumer), int(source)) in edges
    # Nodes on cycles fall into groups that reach each other; each group is reported once, at its smallest id.
    assert sorted(loop[0] for loop in reported) == sorted((min(group, key=int) for group in groups), key=int)


# --- bad jobs, history entries, containers ---------------------------------------------------


def test_job_with_an_unknown_status_names_the_allowed_ones():
    job = load("oss/success_a.job.json")
    job["status"] = "done"
    expected = 'must be one of "pending", "in_progress", "completed", "failed", "cancelled", got "done"'
    assert lines(job, "job") == [f"doc.json: $.status: {expected}"]
    assert f"doc.json: $.status: {expected}" in lines(job, "job", strict=True)


def test_job_problems_are_all_reported_not_just_the_first():
    job = {"id": "not-a-uuid", "status": "failed", "create_time": "1795869262083",
           "execution_error": {"node_id": 5, "node_type": "X", "exception_message": "boom", "exception_type": "E",
                               "traceback": "one line", "current_inputs": {}, "current_outputs": []}}
    assert lines(job, "job") == [
        'doc.json: $.create_time: expected integer, got string "1795869262083"',
        "doc.json: $.execution_error.node_id: expected string, got integer 5",
        'doc.json: $.execution_error.traceback: expected array, got string "one line"',
        'doc.json: $.id: "not-a-uuid" is not a valid uuid',
    ]


def test_job_without_id_or_status_is_not_a_job():
    assert lines({"create_time": 1}, "job") == [
        "doc.json: $: 'id' is a required property",
        "doc.json: $: 'status' is a required property",
    ]


def test_oss_dialect_variants_are_accepted_by_the_compatible_schema_only():
    job = load("oss/fail_runtime_zerodiv.job.json")
    job["execution_error"]["current_inputs"] = []  # what ExecutionBlocked sends
    job["preview_output"] = None  # null counts as absent
    assert lines(job, "job") == []
    assert "doc.json: $.execution_error.current_inputs: expected object, got array" in lines(job, "job", strict=True)
    assert "doc.json: $.preview_output: expected object, got null" in lines(job, "job", strict=True)


def test_cloud_schema_allows_keys_it_does_not_list_as_the_spec_does():
    job = load("cloud/success_a.job.json")
    job["something_new"] = {"x": 1}
    assert lines(job, "job", strict=True) == []


def test_job_workflow_must_be_the_prompt_container():
    job = load("oss/success_a.job.json")
    job["workflow"] = job["workflow"]["extra_data"]["extra_pnginfo"]["workflow"]  # a UI graph instead
    assert lines(job, "job") == [
        "doc.json: $.workflow: a workflow container is {prompt, extra_data}, and this one has neither key"
    ]


def test_job_prompt_graph_problems_are_located_inside_the_job():
    job = load("oss/success_a.job.json")
    job["workflow"]["prompt"]["4"]["inputs"]["images"] = ["77", 0]
    job["workflow"]["prompt"]["2"]["inputs"]["image"] = ["3", 0]
    assert lines(job, "job") == [
        'doc.json: $.workflow.prompt["2"]: nodes form a cycle: "2" -> "3" -> "2"',
        'doc.json: $.workflow.prompt["4"].inputs.images: links to node "77", which does not exist',
    ]


def test_history_prompt_graph_problems_are_located_inside_the_entry():
    body = load("oss/success_a.history.json")
    (job_id,) = body
    body[job_id]["prompt"][2]["3"]["inputs"]["image"] = ["3", "0"]
    assert lines(body, "history") == [
        f'doc.json: $["{job_id}"].prompt[2]["3"].inputs.image[1]: expected integer, got string "0"',
        f'doc.json: $["{job_id}"].prompt[2]["3"]: nodes form a cycle: "3" -> "3"',
    ]


def test_history_entry_with_a_short_prompt_tuple_is_invalid():
    body = load("oss/success_a.history.json")
    (entry,) = body.values()
    entry["prompt"] = entry["prompt"][:3]
    entry["status"]["status_str"] = "done"
    assert lines(entry, "history") == [
        "doc.json: $.prompt: must have at least 5 items, got 3",
        'doc.json: $.status.status_str: must be one of "success", "error", got "done"',
    ]


def test_unknown_kind_is_a_programming_error():
    with pytest.raises(ValueError, match="unknown document kind 'yaml'"):
        validate_document({}, "yaml")


# --- UI graphs -------------------------------------------------------------------------------


def ui_node(node_id, inputs=(), outputs=()):
    return {"id": node_id, "type": f"T{node_id}", "pos": [0, 0], "size": [100, 50], "flags": {}, "order": 0, "mode": 0,
            "inputs": [{"name": f"in{i}", "type": "IMAGE", "link": link} for i, link in enumerate(inputs)],
            "outputs": [{"name": f"out{i}", "type": "IMAGE", "links": links} for i, links in enumerate(outputs)],
            "properties": {}}


def ui04(nodes, links):
    return {"last_node_id": 9, "last_link_id": 9, "nodes": nodes, "links": links, "version": 0.4}


def test_ui_link_to_a_missing_node_and_a_slot_out_of_range_are_located():
    ui = ui04([ui_node(1, outputs=[[1, 2]]), ui_node(2, inputs=[1, 2])],
              [[1, 1, 0, 2, 0, "IMAGE"], [2, 7, 0, 2, 1, "IMAGE"], [3, 1, 4, 2, 5, "IMAGE"]])
    assert lines(ui, "ui") == [
        "doc.json: $.links[1][1]: link 2 comes from node 7, which does not exist",
        "doc.json: $.links[2][2]: node 1 has no output slot 4 (it has 1 output)",
        "doc.json: $.links[2][4]: node 2 has no input slot 5 (it has 2 inputs)",
    ]


def test_ui_input_naming_a_link_that_does_not_exist_is_located_at_the_input():
    ui = ui04([ui_node(1, outputs=[[]]), ui_node(2, inputs=[None, 42])], [])
    assert lines(ui, "ui") == ["doc.json: $.nodes[1].inputs[1].link: link 42 does not exist"]


def test_ui_duplicate_node_and_link_ids_are_problems():
    ui = ui04([ui_node(1, outputs=[[1]]), ui_node(2, inputs=[1]), ui_node(2, inputs=[None])],
              [[1, 1, 0, 2, 0, "X"], [1, 1, 0, 2, 0, "X"]])
    assert lines(ui, "ui") == [
        "doc.json: $.links[1]: link id 1 is used twice",
        "doc.json: $.nodes[2].id: node id 2 is used twice",
    ]


def test_ui_leftover_link_to_a_deleted_node_is_not_a_problem():
    # image_flux2_klein_image_edit_9b_distilled.json has 12 such links inside its subgraphs: no input uses them.
    ui = ui04([ui_node(1, outputs=[[1, 2]]), ui_node(2, inputs=[1])],
              [[1, 1, 0, 2, 0, "IMAGE"], [2, 1, 0, 79, 0, "IMAGE"]])
    assert lines(ui, "ui") == []


def test_ui_schema_accepts_string_ids_digit_string_slots_and_null_slot_index():
    ui = ui04([ui_node("1", outputs=[[1]]), ui_node("5:2", inputs=[1])], [[1, "1", "0", "5:2", 0, "IMAGE"]])
    ui["nodes"][0]["outputs"][0]["slot_index"] = None  # as in image_fibo2_edit_*_pe.json
    assert lines(ui, "ui") == []


def subgraph_workflow():
    inner = [ui_node(1, inputs=[10], outputs=[[11]])]
    subgraph = {
        "id": "3a670214-a2de-4768-bdf7-dc627efc7de9", "version": 1, "revision": 0, "name": "Blur",
        "state": {"lastGroupId": 0, "lastNodeId": 1, "lastLinkId": 11, "lastRerouteId": 0},
        "inputNode": {"id": -10, "bounding": [0, 0, 10, 10]}, "outputNode": {"id": -20, "bounding": [0, 0, 10, 10]},
        "inputs": [{"id": "a", "name": "image", "type": "IMAGE", "linkIds": [10]}],
        "outputs": [{"id": "b", "name": "IMAGE", "type": "IMAGE", "linkIds": [11]}],
        "widgets": [], "nodes": inner, "groups": [],
        "links": [{"id": 10, "origin_id": -10, "origin_slot": 0, "target_id": 1, "target_slot": 0, "type": "IMAGE"},
                  {"id": 11, "origin_id": 1, "origin_slot": 0, "target_id": -20, "target_slot": 0, "type": "IMAGE"}],
    }
    outer = [ui_node(5, outputs=[[1]]), dict(ui_node(6, inputs=[1]), type=subgraph["id"])]
    return dict(ui04(outer, [[1, 5, 0, 6, 0, "IMAGE"]]), definitions={"subgraphs": [subgraph]})


def test_subgraph_boundary_nodes_are_valid_link_ends():
    assert lines(subgraph_workflow(), "ui") == []


def test_subgraph_link_problems_are_located_inside_the_definition():
    ui = subgraph_workflow()
    links = ui["definitions"]["subgraphs"][0]["links"]
    links[0]["origin_slot"] = 1  # the subgraph has one input
    links[1]["origin_id"] = 3  # a node that is not in the subgraph; this link ends at the output node
    assert lines(ui, "ui") == [
        "doc.json: $.definitions.subgraphs[0].links[0].origin_slot: "
        "the subgraph's input node has no output slot 1 (it has 1 output)",
        "doc.json: $.definitions.subgraphs[0].links[1].origin_id: link 11 comes from node 3, which does not exist",
    ]


def test_boundary_ids_are_not_valid_outside_a_subgraph():
    ui = ui04([ui_node(2, inputs=[1])], [[1, -10, 0, 2, 0, "IMAGE"]])
    assert lines(ui, "ui") == ["doc.json: $.links[0][1]: link 1 comes from node -10, which does not exist"]


def test_format_1_workflow_with_link_objects_is_checked_too():
    ui = {"version": 1, "state": {"lastGroupId": 0, "lastNodeId": 2, "lastLinkId": 1, "lastRerouteId": 0},
          "nodes": [ui_node(1, outputs=[[1]]), ui_node(2, inputs=[1])],
          "links": [{"id": 1, "origin_id": 1, "origin_slot": 0, "target_id": 2, "target_slot": 3, "type": "IMAGE"}]}
    assert lines(ui, "ui") == ["doc.json: $.links[0].target_slot: node 2 has no input slot 3 (it has 1 input)"]
    ui["links"][0] = [1, 1, 0, 2, 0, "IMAGE"]
    assert lines(ui, "ui") == ["doc.json: $.links[0]: expected object, got array"]


def test_ui_schema_problems_name_the_missing_format_keys():
    assert lines({"version": 0.4, "nodes": []}, "ui") == [
        "doc.json: $: 'last_link_id' is a required property",
        "doc.json: $: 'last_node_id' is a required property",
        "doc.json: $: 'links' is a required property",
    ]
    assert lines({"version": 1, "nodes": []}, "ui") == ["doc.json: $: 'state' is a required property"]


def test_every_corpus_workflow_passes_the_ui_schema_and_the_ui_graph_check():
    workflows = corpus_workflows()
    failing = {name: lines(ui, "ui") for name, ui in workflows}
    failing = {name: problems for name, problems in failing.items() if problems}
    with_subgraphs = sum(1 for _, ui in workflows if ui.get("definitions", {}).get("subgraphs"))
    print(f"UI corpus: {len(workflows)} workflows ({with_subgraphs} with subgraphs), {len(failing)} with problems")
    assert len(workflows) >= 600
    assert failing == {}


def test_check_ui_graph_alone_accepts_every_corpus_workflow():
    assert [name for name, ui in corpus_workflows() if check_ui_graph(ui)] == []


# --- recipes ---------------------------------------------------------------------------------


def recipe_of(job_name="oss/fail_runtime_zerodiv.job.json"):
    detail = load(job_name)
    workflow = detail.pop("workflow")
    extra = copy.deepcopy(workflow["extra_data"])
    ui = extra["extra_pnginfo"].pop("workflow")
    return {"recipe": 1, "source": {"server": "http://127.0.0.1:8188", "job_id": detail["id"], "kind": "job"},
            "job": detail, "prompt": workflow["prompt"], "extra_data": extra, "ui_workflow": ui}


def test_recipe_of_a_recorded_job_is_valid():
    assert lines(recipe_of(), "recipe") == []
    assert lines(recipe_of("cloud/success_a.job.json"), "recipe") == []


def test_recipe_of_a_pending_job_holds_only_the_job():
    recipe = {"recipe": 1, "source": {"job_id": "05fcc908-8590-4793-a2a9-8f916be27e40"},
              "job": load("oss/pending.job.json")}
    assert lines(recipe, "recipe") == []


def test_recipe_keeps_an_empty_ui_graph_as_the_client_sent_it():
    recipe = recipe_of()
    recipe["ui_workflow"] = {}
    assert lines(recipe, "recipe") == []


def test_recipe_top_level_is_closed_and_its_parts_are_checked():
    recipe = recipe_of()
    recipe["recipe"] = 2
    recipe["promt"] = {}
    recipe["source"]["server"] = "https://user:secret@cloud.comfy.org/api?x=1"
    recipe["source"]["job_id"] = "../../etc/passwd"
    recipe["job"]["workflow"] = {"prompt": recipe["prompt"]}
    recipe["prompt"]["5"]["inputs"]["values.b"] = ["99", 0]
    assert lines(recipe, "recipe") == [
        "doc.json: $.job: a recipe's job has no 'workflow': it is kept as prompt, extra_data and ui_workflow",
        "doc.json: $.promt: unknown key; a recipe has recipe, source, job, prompt, extra_data, ui_workflow, artifacts and repro",
        "doc.json: $.recipe: this is recipe format 1; no other version exists",
        'doc.json: $.source.job_id: "../../etc/passwd" is not a valid uuid',
        "doc.json: $.source.server: must be scheme://host[:port], without credentials, path or query",
        'doc.json: $.prompt["5"].inputs["values.b"]: links to node "99", which does not exist',
    ]


def test_recipe_without_job_prompt_or_ui_graph_holds_nothing():
    assert lines({"recipe": 1, "source": {}}, "recipe") == [
        "doc.json: $: a recipe holds a 'job', a 'prompt' or a 'ui_workflow', and this one has none of them"
    ]


def test_recipe_ui_graph_problems_are_located_inside_the_recipe():
    recipe = recipe_of()
    recipe["ui_workflow"]["nodes"][0]["inputs"] = [{"name": "x", "type": "INT", "link": 999}]
    assert lines(recipe, "recipe") == ["doc.json: $.ui_workflow.nodes[0].inputs[0].link: link 999 does not exist"]


def test_repro_section_is_typed():
    recipe = recipe_of()
    recipe["repro"] = {"source": {"job_id": JOB_ID}, "mode": "tiny", "kept": ["1", 2],
                       "error": {"node_id": "5", "class_type": "ComfyMathExpression",
                                 "exception_type": "ZeroDivisionError", "message": "division by zero"},
                       "targets": ["3"], "dropped": [], "overrides": {"5.values.b": 1}, "pinned": {}}
    assert lines(recipe, "recipe") == [
        "doc.json: $.repro.kept[1]: expected string, got integer 2",
        'doc.json: $.repro.mode: must be one of "full", "minimal", got "tiny"',
    ]


# --- start-up cost ---------------------------------------------------------------------------


def test_importing_the_module_does_not_import_jsonschema():
    code = "import sys, replay.validate; print('jsonschema' in sys.modules, 'referencing' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["False", "False"]


odd_values = st.sampled_from([None, True, 0, -1, 1.0, 2.5, "", "x", "1", [], {}, ["1", 0], ["1", -1], ["", 0],
                              ["1", 1.0], ["1", True], ["1", "0"], [1, 0], ["1", 0, 0], {"title": 3}, {"title": "t"}])
prompt_like = st.dictionaries(
    st.sampled_from(["", "1", "2", "10:3"]),
    st.one_of(odd_values, st.fixed_dictionaries(
        {"class_type": odd_values, "inputs": st.one_of(odd_values, st.dictionaries(st.sampled_from(["a", "b"]), odd_values))},
        optional={"_meta": odd_values})),
    max_size=3)


@settings(max_examples=500, deadline=None)
@given(prompt_like)
def test_the_fast_prompt_check_never_hides_a_schema_problem(prompt):
    from jsonschema import Draft202012Validator

    from replay.validate import _plainly_valid_prompt, schema

    schema_errors = list(Draft202012Validator(schema("prompt")).iter_errors(prompt))
    if _plainly_valid_prompt(prompt):
        assert schema_errors == []
    job = copy.deepcopy(load("oss/success_a.job.json"))
    job["workflow"]["prompt"] = prompt
    slow = [p for p in validate_document(job, "job") if p.location.startswith("$.workflow.prompt")]
    assert bool(slow) == bool(schema_errors) or not schema_errors  # graph checks may add problems, never hide them
