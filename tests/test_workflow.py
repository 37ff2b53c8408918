"""Tests of replay.workflow: the API-prompt graph, paths to outputs, pruning and --set overrides."""

from __future__ import annotations

from typing import Any

import pytest
from graphs import BRANCHES, DIAMOND, SUBGRAPH, link, node

from replay.errors import GraphError, InputError
from replay.workflow import Graph, Override, apply_sets, is_link, natural_key, parse_set, parse_value, prune


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (["4", 0], True),
        (["12:5", 3], True),
        ([4, 0], False),
        (["4", True], False),
        (["4", 0, 1], False),
        ("4", False),
        (None, False),
    ],
)
def test_a_link_is_a_string_id_and_an_integer_slot(value: Any, expected: bool) -> None:
    assert is_link(value) is expected


def test_natural_order_puts_numbers_before_longer_numbers_and_paths_after_their_parent() -> None:
    ids = ["10:3", "10", "2", "1", "10:10", "abc", "9"]
    assert sorted(ids, key=natural_key) == ["1", "2", "9", "10", "10:3", "10:10", "abc"]


def test_graph_indexes_parents_and_children_both_ways() -> None:
    graph = Graph(DIAMOND)
    assert graph.parents["4"] == {"2", "3"}
    assert graph.children["1"] == {"2", "3"}
    assert graph.parents["1"] == set()


def test_links_to_missing_nodes_are_listed_as_dangling_not_as_edges() -> None:
    graph = Graph({"1": node("A", x=link("99")), "2": node("B", y=link("1"))})
    assert graph.dangling == [("1", "x", "99")]
    assert graph.parents["1"] == set()


@pytest.mark.parametrize(
    ("prompt", "start", "ancestors"),
    [
        (DIAMOND, ["4"], {"1", "2", "3"}),
        (DIAMOND, ["1"], set()),
        (BRANCHES, ["6"], {"1", "4", "5"}),
        (BRANCHES, ["3", "7"], {"1", "2", "4"}),
        (SUBGRAPH, ["12:10"], {"2", "12:5"}),
    ],
)
def test_ancestors_are_every_node_feeding_the_start_nodes(
    prompt: dict[str, Any], start: list[str], ancestors: set[str]
) -> None:
    assert Graph(prompt).ancestors(start) == ancestors


def test_descendants_follow_consumers() -> None:
    assert Graph(BRANCHES).descendants(["4"]) == {"5", "6", "7"}


def test_topological_order_puts_each_node_after_its_inputs_with_ties_in_natural_order() -> None:
    assert Graph(DIAMOND).topological_order() == ["1", "2", "3", "4", "5", "6"]
    assert Graph(SUBGRAPH).topological_order() == ["2", "12:5", "12:7", "10", "12:10"]


def test_topological_order_names_the_nodes_of_a_cycle() -> None:
    cyclic = {"1": node("A", x=link("3")), "2": node("B", x=link("1")), "3": node("C", x=link("2")), "4": node("D")}
    with pytest.raises(GraphError, match="cycle through nodes 1, 2, 3"):
        Graph(cyclic).topological_order()


def test_without_definitions_outputs_are_nodes_whose_outputs_nothing_consumes() -> None:
    assert Graph(BRANCHES).output_nodes() == ["3", "6", "7", "8"]


def test_with_definitions_outputs_are_the_classes_marked_output_node() -> None:
    known = {node["class_type"] for node in BRANCHES.values()}
    outputs = Graph(BRANCHES).output_nodes({"SaveImage", "PreviewImage"}, known_classes=known)
    assert outputs == ["3", "6"]


def test_a_class_the_definitions_do_not_know_falls_back_to_the_consumer_rule() -> None:
    outputs = Graph(BRANCHES).output_nodes({"SaveImage", "PreviewImage"}, known_classes={"SaveImage", "PreviewImage"})
    assert outputs == ["3", "6", "7", "8"]


# Each row: prompt, start node, output nodes, expected path (None: no path).
PATH_CASES = [
    pytest.param(BRANCHES, "4", ["3", "6"], ["4", "5", "6"], id="branch-that-does-not-reach-the-saved-output"),
    pytest.param(BRANCHES, "6", ["3", "6"], ["6"], id="start-is-itself-an-output"),
    pytest.param(BRANCHES, "8", ["3", "6"], None, id="no-path-to-any-output"),
    pytest.param(DIAMOND, "1", ["5"], ["1", "2", "4", "5"], id="diamond-goes-through-the-lower-id"),
    pytest.param(SUBGRAPH, "12:5", ["10", "12:10"], ["12:5", "12:10"], id="subgraph-ids-nearest-output"),
    pytest.param(SUBGRAPH, "2", ["10", "12:10"], ["2", "12:5", "12:10"], id="subgraph-ids-from-the-loader"),
    pytest.param(BRANCHES, "1", ["3", "6"], ["1", "2", "3"], id="nearest-output-wins-over-a-farther-one"),
    pytest.param(BRANCHES, "99", ["3"], None, id="unknown-start"),
]


@pytest.mark.parametrize(("prompt", "start", "outputs", "path"), PATH_CASES)
def test_path_to_output_is_the_shortest_one_with_ties_broken_by_natural_id(
    prompt: dict[str, Any], start: str, outputs: list[str], path: list[str] | None
) -> None:
    assert Graph(prompt).path_to_output(start, outputs) == path


def test_equally_near_outputs_are_chosen_by_the_lowest_natural_id() -> None:
    # 1 reaches output 20 through 2 and output 10 through 30, both two steps away.
    prompt = {
        "1": node("A"),
        "2": node("B", x=link("1")),
        "30": node("C", x=link("1")),
        "20": node("SaveImage", images=link("2")),
        "10": node("SaveImage", images=link("30")),
    }
    assert Graph(prompt).path_to_output("1", ["10", "20"]) == ["1", "30", "10"]


def test_long_chains_are_walked_without_recursion() -> None:
    size = 20_000
    chain = {"0": node("Start")}
    for i in range(1, size):
        chain[str(i)] = node("Step", x=link(str(i - 1)))
    graph = Graph(chain)
    assert len(graph.ancestors([str(size - 1)])) == size - 1
    assert graph.path_to_output("0", [str(size - 1)]) == [str(i) for i in range(size)]
    assert graph.topological_order()[-1] == str(size - 1)


def test_prune_keeps_only_the_named_nodes_in_prompt_order_and_copies_them() -> None:
    pruned = prune(BRANCHES, {"6", "5", "4", "1", "404"})
    assert list(pruned) == ["1", "4", "5", "6"]
    pruned["1"]["inputs"]["image"] = "changed.png"
    assert BRANCHES["1"]["inputs"]["image"] == "a.png"


def test_prune_refuses_to_cut_a_link_a_kept_node_needs() -> None:
    with pytest.raises(GraphError, match="node 5 input 'image' needs node 4"):
        prune(BRANCHES, {"5", "6"})


@pytest.mark.parametrize(
    ("text", "node_id", "input_name", "value"),
    [
        ("3.seed=42", "3", "seed", 42),
        ("5.values.b=1", "5", "values.b", 1),
        ("12:5.text=hello world", "12:5", "text", "hello world"),
        ("7.cfg=7.5", "7", "cfg", 7.5),
        ("7.flag=true", "7", "flag", True),
        ("7.name=null", "7", "name", None),
        ('7.text="012"', "7", "text", "012"),
        ("7.text=012", "7", "text", "012"),
        ("7.expr=a == b", "7", "expr", "a == b"),
        ("7.x=NaN", "7", "x", "NaN"),
        ('7.image=["1", 0]', "7", "image", ["1", 0]),
        ("7.text=", "7", "text", ""),
    ],
)
def test_parse_set_splits_at_the_first_dot_and_reads_json_else_a_string(
    text: str, node_id: str, input_name: str, value: Any
) -> None:
    assert parse_set(text) == Override(node_id, input_name, value)


@pytest.mark.parametrize("text", ["3seed=1", "3.seed", ".seed=1", "3.=1", "=1", ""])
def test_parse_set_rejects_text_without_node_input_and_value(text: str) -> None:
    with pytest.raises(InputError, match="NODE.INPUT=VALUE"):
        parse_set(text)


def test_parse_value_keeps_big_ints_exact() -> None:
    assert parse_value("123456789012345678901234567890") == 123456789012345678901234567890


def test_apply_sets_writes_values_into_a_copy() -> None:
    prompt = {"5": node("ComfyMathExpression", expression="a / b", **{"values.a": link("4"), "values.b": link("6")}), "4": node("I"), "6": node("I")}
    result = apply_sets(prompt, [parse_set("5.values.b=2"), parse_set("5.expression=a * b")])
    assert result["5"]["inputs"]["values.b"] == 2
    assert result["5"]["inputs"]["expression"] == "a * b"
    assert prompt["5"]["inputs"]["values.b"] == ["6", 0]


def test_apply_sets_names_the_nodes_when_the_node_is_unknown() -> None:
    with pytest.raises(InputError, match=r"no node '99' \(its nodes: 1, 2, 3, 4, 5, 6\)"):
        apply_sets(DIAMOND, [parse_set("99.x=1")])


def test_apply_sets_names_the_inputs_when_the_input_is_unknown() -> None:
    with pytest.raises(InputError, match=r"node 4 \(D\) has no input 'seed'; its inputs: left, right"):
        apply_sets(DIAMOND, [parse_set("4.seed=1")])


def test_apply_sets_accepts_an_input_the_definitions_know_but_the_prompt_does_not_set() -> None:
    result = apply_sets(DIAMOND, [parse_set("4.strength=0.5")], defined_inputs=lambda cls: ["left", "right", "strength"])
    assert result["4"]["inputs"]["strength"] == 0.5


def test_apply_sets_refuses_a_link_to_a_node_the_prompt_does_not_have() -> None:
    with pytest.raises(InputError, match="links to node '42'"):
        apply_sets(DIAMOND, [parse_set('4.left=["42", 0]')])


def test_apply_sets_can_rewire_a_link_to_an_existing_node() -> None:
    result = apply_sets(DIAMOND, [parse_set('4.left=["1", 0]')])
    assert Graph(result).parents["4"] == {"1", "3"}
