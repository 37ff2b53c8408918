"""replay.convert against what the real ComfyUI frontend sends, and the frontend rules behind it.

`tests/data/frontend_pairs.json.gz` holds 249 recorded pairs: a template of comfyui-workflow-templates-json
0.1.50 and the prompt that frontend 1.49.6 posted for it (see tests/data/README.md). The templates are vendored
with their prompts, so these tests stay pinned to 0.1.50 whatever version of the package is installed for the
corpus tests. The small graphs below are written by hand, one per rule the recordings showed.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from replay.convert import FRONTEND_WIDGETS, convert_workflow
from replay.errors import InputError
from replay.nodedefs import NodeDefs, load_object_info

DATA = Path(__file__).parent / "data"
# The definitions the frontend saw, as recorded (keys sorted: the order of dynamic-combo inputs is lost)
# and as the server sends them.
SORTED = DATA / "object_info_with_api_nodes.json.gz"
LIVE_ORDER = DATA / "object_info_with_api_nodes.live_order.json.gz"
REQUIRED_RATIO = 0.98


@pytest.fixture(scope="module")
def bundle() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(gzip.decompress((DATA / "frontend_pairs.json.gz").read_bytes()))
    return data


@pytest.fixture(scope="module")
def sorted_defs() -> NodeDefs:
    return load_object_info(SORTED)


@pytest.fixture(scope="module")
def live_defs() -> NodeDefs:
    return load_object_info(LIVE_ORDER)


def _differences(expected: dict[str, Any], got: dict[str, Any], ignored: set[str]) -> list[str]:
    """Node ids, classes and every input that differ (``ignored`` holds ``"<node id>.<input>"``)."""
    found = [f"node {i} only in the frontend's prompt" for i in expected.keys() - got.keys()]
    found += [f"node {i} only in the conversion" for i in got.keys() - expected.keys()]
    for node_id in expected.keys() & got.keys():
        want, have = expected[node_id], got[node_id]
        if want.get("class_type") != have.get("class_type"):
            found.append(f"node {node_id}: class {want.get('class_type')} != {have.get('class_type')}")
        for name in want["inputs"].keys() | have["inputs"].keys():
            if f"{node_id}.{name}" in ignored:
                continue
            if want["inputs"].get(name, "<absent>") != have["inputs"].get(name, "<absent>"):
                found.append(f"node {node_id} input {name}: {want['inputs'].get(name, '<absent>')!r} != "
                             f"{have['inputs'].get(name, '<absent>')!r}")  # fmt: skip
    return found


def _input_exact_ratio(bundle: dict[str, Any], defs: NodeDefs) -> tuple[float, dict[str, list[str]]]:
    misses: dict[str, list[str]] = {}
    compared = 0
    for name, pair in bundle["pairs"].items():
        if pair["unknown_to_frontend"]:
            continue  # the frontend sends those without a class; convert refuses them by design
        compared += 1
        prompt = convert_workflow(pair["workflow"], defs).prompt
        found = _differences(pair["prompt"], prompt, set(pair["nondeterministic_inputs"]))
        if found:
            misses[name] = found
    return (compared - len(misses)) / compared, misses


def test_the_pairs_are_the_recorded_ones_for_templates_0_1_50(bundle: dict[str, Any]) -> None:
    assert bundle["templates"] == "comfyui-workflow-templates-json 0.1.50"
    assert len(bundle["pairs"]) == 249
    assert sum(1 for pair in bundle["pairs"].values() if pair["unknown_to_frontend"]) == 2


@pytest.mark.parametrize("which", ["sorted", "live"])
def test_conversion_is_input_exact_with_the_frontend_for_98_percent_of_the_pairs(
    which: str, bundle: dict[str, Any], request: pytest.FixtureRequest
) -> None:
    defs: NodeDefs = request.getfixturevalue(f"{which}_defs")
    ratio, misses = _input_exact_ratio(bundle, defs)
    print(f"\n{which} definitions: input-exact with the frontend for {ratio:.1%} of 247 pairs; "
          f"misses: {json.dumps(misses, indent=1)}")  # fmt: skip
    assert ratio >= REQUIRED_RATIO, misses


def test_types_the_frontend_does_not_know_are_refused(bundle: dict[str, Any], sorted_defs: NodeDefs) -> None:
    pair = bundle["pairs"]["template_rob_realistic_2k_images_quick_variations"]
    with pytest.raises(InputError, match="AILab_QwenVL"):
        convert_workflow(pair["workflow"], sorted_defs)


# --- the rules, on small hand-written graphs --------------------------------------------------------------


def _node(node_id: int, kind: str, values: list[Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"id": node_id, "type": kind, "mode": 0, "widgets_values": values or [], **extra}


def test_custom_combo_sends_its_choice_index_and_every_option(live_defs: NodeDefs) -> None:
    ui = {"nodes": [_node(4, "CustomCombo", ["16:9", 1, "1:1", "16:9", ""])], "links": []}
    assert convert_workflow(ui, live_defs).prompt["4"]["inputs"] == {
        "choice": "16:9", "index": 1, "option1": "1:1", "option2": "16:9", "option3": ""
    }  # fmt: skip


def test_load3d_buttons_take_their_slots_and_are_sent(live_defs: NodeDefs) -> None:
    values = ["cube.glb", "upload3dmodel", "uploadExtraResources", "clear", "", 512, 768]
    ui = {"nodes": [_node(2, "Load3D", values)], "links": []}
    assert convert_workflow(ui, live_defs).prompt["2"]["inputs"] == {
        "model_file": "cube.glb", "upload 3d model": "upload3dmodel",
        "upload extra resources": "uploadExtraResources", "clear": "clear", "image": "", "width": 512, "height": 768,
    }  # fmt: skip


def test_save_glb_sends_its_preview_image_widget(live_defs: NodeDefs) -> None:
    ui = {"nodes": [_node(3, "SaveGLB", ["mesh/out", ""])], "links": []}
    assert convert_workflow(ui, live_defs).prompt["3"]["inputs"] == {
        "filename_prefix": "mesh/out",
        "image": "",
    }


def test_the_extension_table_names_only_known_classes(live_defs: NodeDefs) -> None:
    for kind, extension in FRONTEND_WIDGETS.items():
        assert kind in live_defs
        assert extension.after is None or live_defs[kind].input(extension.after) is not None


def _subgraph(
    sub_id: str, nodes: list[dict[str, Any]], links: list[dict[str, Any]], **extra: Any
) -> dict[str, Any]:
    return {"id": sub_id, "name": sub_id, "inputNode": {"id": -10}, "outputNode": {"id": -20},
            "inputs": [], "outputs": [], "nodes": nodes, "links": links, **extra}  # fmt: skip


def _link(link_id: int, origin: int, target: int, slot: int = 0, kind: str = "IMAGE") -> dict[str, Any]:
    return {
        "id": link_id,
        "origin_id": origin,
        "origin_slot": 0,
        "target_id": target,
        "target_slot": slot,
        "type": kind,
    }


BLUR_SUB = "00000000-0000-4000-8000-00000000b1a2"


def _blur_subgraph(inner_ids: tuple[int, int]) -> dict[str, Any]:
    """A subgraph: EmptyImage (first id) → ImageBlur (second id) → its output."""
    first, second = inner_ids
    nodes = [
        _node(first, "EmptyImage", [8, 8, 1, 0], outputs=[{"name": "IMAGE", "type": "IMAGE", "links": [1]}]),
        _node(second, "ImageBlur", [2, 1.0], inputs=[{"name": "image", "type": "IMAGE", "link": 1}],
              outputs=[{"name": "IMAGE", "type": "IMAGE", "links": [2]}]),
    ]  # fmt: skip
    links = [_link(1, first, second), {**_link(2, second, -20), "target_slot": 0}]
    return _subgraph(BLUR_SUB, nodes, links, outputs=[{"name": "IMAGE", "type": "IMAGE", "linkIds": [2]}])


def _save(node_id: int, link: int) -> dict[str, Any]:
    return _node(node_id, "SaveImage", ["out"], inputs=[{"name": "images", "type": "IMAGE", "link": link}])


def test_inner_ids_taken_by_the_root_graph_are_renumbered_after_the_last_node_id(live_defs: NodeDefs) -> None:
    # Root nodes 1 and 2; the subgraph's inner node 2 collides and becomes 6 (last_node_id 5 + 1); 3 is free.
    ui = {
        "last_node_id": 5,
        "nodes": [
            _node(1, BLUR_SUB, outputs=[{"name": "IMAGE", "type": "IMAGE", "links": [9]}]),
            _save(2, 9),
        ],
        "links": [[9, 1, 0, 2, 0, "IMAGE"]],
        "definitions": {"subgraphs": [_blur_subgraph((2, 3))]},
    }
    prompt = convert_workflow(ui, live_defs).prompt
    assert list(prompt) == ["1:3", "1:6", "2"]
    assert prompt["1:6"]["class_type"] == "EmptyImage"
    assert prompt["1:3"]["inputs"]["image"] == ["1:6", 0]
    assert prompt["2"]["inputs"]["images"] == ["1:3", 0]


def test_a_bypassed_instance_nested_in_a_subgraph_still_sends_its_inner_nodes(live_defs: NodeDefs) -> None:
    # Root instance 1 of OUTER, which holds a bypassed instance 7 of the blur subgraph and a SaveImage fed by it.
    outer_id = "00000000-0000-4000-8000-0000000000aa"
    inner_instance = _node(7, BLUR_SUB, mode=4, outputs=[{"name": "IMAGE", "type": "IMAGE", "links": [5]}])
    outer = _subgraph(outer_id, [inner_instance, _save(8, 5)], [_link(5, 7, 8)])
    ui = {"last_node_id": 9, "nodes": [_node(1, outer_id)], "links": [],
          "definitions": {"subgraphs": [_blur_subgraph((2, 3)), outer]}}  # fmt: skip
    prompt = convert_workflow(ui, live_defs).prompt
    assert list(prompt) == ["1:7:2", "1:7:3", "1:8"]
    assert "images" not in prompt["1:8"]["inputs"], (
        "a bypassed instance with no inputs passes nothing through"
    )
    ui["nodes"][0]["mode"] = 4  # the same instance bypassed at the root: nothing inside is sent
    assert convert_workflow(ui, live_defs).prompt == {}


def test_a_primitive_node_does_not_set_a_widget_inside_a_subgraph(live_defs: NodeDefs) -> None:
    # PrimitiveNode 5 (value 9) feeds instance 1's "radius" input, which feeds the inner ImageBlur's blur_radius (2).
    sub = _blur_subgraph((2, 3))
    sub["inputs"] = [{"name": "radius", "type": "INT", "linkIds": [3]}]
    sub["links"].append({**_link(3, -10, 3, slot=1, kind="INT")})
    sub["nodes"][1]["inputs"].append(
        {"name": "blur_radius", "type": "INT", "widget": {"name": "blur_radius"}, "link": 3}
    )
    primitive = _node(5, "PrimitiveNode", [9, "fixed"], outputs=[{"name": "INT", "type": "INT", "links": [4],
                                                                   "widget": {"name": "blur_radius"}}])  # fmt: skip
    instance = _node(
        1, BLUR_SUB, inputs=[{"name": "radius", "type": "INT", "link": 4, "widget": {"name": "radius"}}]
    )
    ui = {"last_node_id": 5, "nodes": [instance, primitive], "links": [[4, 5, 0, 1, 0, "INT"]],
          "definitions": {"subgraphs": [sub]}}  # fmt: skip
    assert convert_workflow(ui, live_defs).prompt["1:3"]["inputs"]["blur_radius"] == 2


# --- definitions saved with sorted keys ----------------------------------------------------------------


def test_sorted_definitions_are_recognised(sorted_defs: NodeDefs, live_defs: NodeDefs) -> None:
    assert sorted_defs.nested_order_known is False
    assert live_defs.nested_order_known is True
    assert load_object_info(DATA / "object_info.json.gz").nested_order_known is True


def test_dynamic_combo_inputs_are_read_in_the_order_that_fits_their_values(
    sorted_defs: NodeDefs, live_defs: NodeDefs
) -> None:
    # TextGenerate's "on" option, in the server's order: temperature, top_k, top_p, min_p, repetition_penalty,
    # seed, then the optional presence_penalty. Sorted, min_p would come first and take 0.6. Here the user
    # changed temperature and seed; the values left at their defaults (64, 0.95, 0.05, 1.05, 0.0) pin the order.
    values = ["say hi", 256, "on", 0.6, 64, 0.95, 0.05, 1.05, 7, 0.0, False, True]
    ui = {"nodes": [_node(1, "TextGenerate", values)], "links": []}
    expected = {
        "prompt": "say hi", "max_length": 256, "sampling_mode": "on", "sampling_mode.temperature": 0.6,
        "sampling_mode.top_k": 64, "sampling_mode.top_p": 0.95, "sampling_mode.min_p": 0.05,
        "sampling_mode.repetition_penalty": 1.05, "sampling_mode.seed": 7, "sampling_mode.presence_penalty": 0.0,
        "thinking": False, "use_default_template": True,
    }  # fmt: skip
    assert convert_workflow(ui, live_defs).prompt["1"]["inputs"] == expected
    assert convert_workflow(ui, sorted_defs).prompt["1"]["inputs"] == expected


def test_with_the_server_order_every_value_lands_where_the_frontend_puts_it(live_defs: NodeDefs) -> None:
    # No value at its default: from sorted definitions the order would be a guess, from the server's it is known.
    values = ["say hi", 256, "on", 0.6, 40, 0.9, 0.1, 1.2, 7, 0.5, False, True]
    inputs = convert_workflow({"nodes": [_node(1, "TextGenerate", values)], "links": []}, live_defs).prompt[
        "1"
    ]["inputs"]
    assert [inputs[f"sampling_mode.{n}"] for n in ("temperature", "top_k", "top_p", "min_p", "repetition_penalty",
                                                   "seed", "presence_penalty")] == [0.6, 40, 0.9, 0.1, 1.2, 7, 0.5]  # fmt: skip


def test_equally_fitting_orders_follow_where_inputs_of_those_names_usually_stand(
    sorted_defs: NodeDefs,
) -> None:
    # Qwen's "qwen-image-3.0" option: prompt, negative_prompt, width, height; two strings and two ints fit
    # either way round, and most classes list prompt before negative_prompt and width before height.
    values = ["qwen-image-3.0", "a cat", "", 1280, 720, 1, 42, "fixed", True, False]
    ui = {"nodes": [_node(1, "QwenImageTextToImageApi", values)], "links": []}
    inputs = convert_workflow(ui, sorted_defs).prompt["1"]["inputs"]
    assert (inputs["model.prompt"], inputs["model.negative_prompt"]) == ("a cat", "")
    assert (inputs["model.width"], inputs["model.height"]) == (1280, 720)


def test_nine_prompts_and_nine_durations_land_in_order_from_sorted_definitions(
    sorted_defs: NodeDefs, live_defs: NodeDefs
) -> None:
    # ViduMultiFrameVideoNode, frames "9": prompt1, end_image1 (a socket), duration1, prompt2, ... on the server.
    # Sorted, "duration1".."duration9" would come first; the strings and numbers alternate in the stored values.
    frames = [value for n in range(1, 10) for value in (f"shot {n}", 2 + n % 5)]
    values = ["viduq2-turbo", 0, "fixed", "1080p", "9", *frames]
    ui = {"nodes": [_node(1, "ViduMultiFrameVideoNode", values)], "links": []}
    inputs = convert_workflow(ui, sorted_defs).prompt["1"]["inputs"]
    assert [inputs[f"frames.prompt{n}"] for n in range(1, 10)] == [f"shot {n}" for n in range(1, 10)]
    assert [inputs[f"frames.duration{n}"] for n in range(1, 10)] == [3, 4, 5, 6, 2, 3, 4, 5, 6]
    assert convert_workflow(ui, live_defs).prompt["1"]["inputs"] == inputs
