"""Tests for replay.nodedefs: reading /object_info and checking prompts against it."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from replay.errors import DocumentError
from replay.nodedefs import NodeDefs, Problem, check_prompt, load_object_info, types_match
from replay.workflow import natural_key

DATA = Path(__file__).parent / "data"
RECORDED = DATA / "object_info.json.gz"


@pytest.fixture(scope="module")
def recorded() -> NodeDefs:
    return load_object_info(RECORDED)


# --- loading ----------------------------------------------------------------------------------------


def test_recorded_object_info_loads_all_633_classes(recorded: NodeDefs) -> None:
    assert len(recorded) == 633
    assert recorded["KSampler"].display_name == "KSampler"
    assert recorded["LoadImage"].output_types == ("IMAGE", "MASK")
    assert recorded["SaveImage"].output_node is True


def test_plain_json_loads_like_gzipped_json(tmp_path: Path) -> None:
    plain = tmp_path / "object_info.json"
    plain.write_bytes(gzip.decompress(RECORDED.read_bytes()))
    assert set(load_object_info(plain)) == set(load_object_info(RECORDED))


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"{not json", "invalid JSON"),
        (b"[1, 2]", "must be a JSON object"),
        (b'{"X": 3}', "definition of 'X' is not an object"),
        (b"\x1f\x8b\x08broken", "not a valid gzip file"),
    ],
)
def test_unusable_object_info_is_a_document_error_naming_the_file(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(content)
    with pytest.raises(DocumentError) as err:
        load_object_info(path)
    assert expected in str(err.value)
    assert str(path) in str(err.value)


def test_missing_object_info_file_is_a_document_error(tmp_path: Path) -> None:
    with pytest.raises(DocumentError, match="cannot read node definitions"):
        load_object_info(tmp_path / "absent.json")


# --- what counts as a widget --------------------------------------------------------------------------


def test_inputs_follow_input_order_required_then_optional() -> None:
    defs = NodeDefs.from_dict(
        {
            "N": {
                "input": {
                    "optional": {"z": ["INT", {}], "y": ["IMAGE"]},
                    "required": {"b": ["STRING", {}], "a": ["FLOAT", {}]},
                },
                "input_order": {"required": ["a", "b"], "optional": ["y", "z"]},
                "output": [],
            }
        }
    )
    assert [(i.name, i.required) for i in defs["N"].inputs] == [("a", True), ("b", True), ("y", False), ("z", False)]


def test_widget_kinds_of_recorded_inputs(recorded: NodeDefs) -> None:
    ksampler = recorded["KSampler"]
    assert [w.name for w in ksampler.widgets] == ["seed", "steps", "cfg", "sampler_name", "scheduler", "denoise"]
    seed = ksampler.input("seed")
    assert seed is not None and seed.has_control and not seed.has_filter_list
    sampler = ksampler.input("sampler_name")
    assert sampler is not None and sampler.is_combo and sampler.choices and "euler" in sampler.choices
    image = recorded["LoadImage"].input("image")
    assert image is not None and image.has_upload and image.is_widget
    assert recorded["KSampler"].input("model") is not None
    assert not recorded["KSampler"].input("model").is_widget  # type: ignore[union-attr]


def test_force_input_never_makes_a_widget(recorded: NodeDefs) -> None:
    text = recorded["SaveText"].input("text")
    assert text is not None and text.type == "STRING" and text.force_input and not text.is_widget


def test_widget_type_option_decides_for_multi_type_inputs(recorded: NodeDefs) -> None:
    rate = recorded["LTXVEmptyLatentAudio"].input("frame_rate")
    assert rate is not None and rate.type == "FLOAT,INT" and rate.widget_type == "FLOAT" and rate.is_widget


def test_control_after_generate_follows_the_flag_or_the_seed_name() -> None:
    defs = NodeDefs.from_dict(
        {
            "N": {
                "input": {
                    "required": {
                        "seed": ["INT", {}],
                        "noise_seed": ["INT", {"control_after_generate": False}],
                        "count": ["INT", {"control_after_generate": "fixed"}],
                        "ratio": ["FLOAT", {}],
                        "pick": [["a", "b"], {"control_after_generate": True}],
                    }
                },
                "output": [],
            }
        }
    )
    flags = {i.name: (i.has_control, i.has_filter_list) for i in defs["N"].inputs}
    assert flags == {
        "seed": (True, False),
        "noise_seed": (False, False),
        "count": (True, False),
        "ratio": (False, False),
        "pick": (True, True),
    }


def test_dynamic_combo_children_are_named_after_their_parent(recorded: NodeDefs) -> None:
    resize = recorded["ResizeImageMaskNode"].input("resize_type")
    assert resize is not None and resize.is_widget and resize.default == "scale dimensions"
    assert [c.name for c in resize.variants["scale dimensions"]] == [
        "resize_type.width",
        "resize_type.height",
        "resize_type.crop",
    ]
    assert recorded["ResizeImageMaskNode"].input("resize_type.multiplier") is not None


# --- checking prompts ---------------------------------------------------------------------------------

SMALL: dict[str, Any] = {
    "Source": {"input": {}, "output": ["IMAGE", "MASK"], "output_name": ["IMAGE", "MASK"]},
    "Anything": {"input": {}, "output": ["*"], "output_name": ["value"]},
    "Sink": {
        "input": {
            "required": {
                "image": ["IMAGE", {}],
                "steps": ["INT", {"min": 1, "max": 10}],
                "mode": [["fast", "slow"], {}],
                "style": ["COMBO", {"options": ["flat", "round"]}],
            },
            "optional": {"mask": ["MASK,IMAGE", {}], "ratio": ["FLOAT", {"min": 0.0, "max": 1.0}]},
        },
        "output": [],
        "output_node": True,
    },
}


def _sink(**inputs: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"image": ["1", 0], "steps": 5, "mode": "fast", "style": "flat"}
    base.update(inputs)
    return {"1": {"class_type": "Source", "inputs": {}}, "2": {"class_type": "Sink", "inputs": base}}


def test_a_prompt_that_fits_its_definitions_has_no_problems() -> None:
    assert check_prompt(_sink(mask=["1", 1], ratio=0.5), NodeDefs.from_dict(SMALL)) == []


@pytest.mark.parametrize(
    ("prompt", "location", "message"),
    [
        ({"9": {"class_type": "Nope", "inputs": {}}}, '$["9"].class_type', "unknown node type 'Nope'"),
        ({"9": {"inputs": {}}}, '$["9"]', "node has no class_type"),
        (_sink(steps=0), '$["2"].inputs.steps', "0 is below the minimum 1"),
        (_sink(steps=11), '$["2"].inputs.steps', "11 is above the maximum 10"),
        (_sink(steps="many"), '$["2"].inputs.steps', "'many' is not a number (INT)"),
        (_sink(ratio=1.5), '$["2"].inputs.ratio', "1.5 is above the maximum 1.0"),
        (_sink(mode="medium"), '$["2"].inputs.mode', "'medium' is not one of the allowed values ['fast', 'slow']"),
        (_sink(style="square"), '$["2"].inputs.style', "'square' is not one of the allowed values ['flat', 'round']"),
        (_sink(image=["7", 0]), '$["2"].inputs.image', "link to node '7', which is not in the prompt"),
        (_sink(image=["1", 2]), '$["2"].inputs.image', "link to output 2 of node '1' (Source), which has 2 outputs"),
        (_sink(image=["1", 1]), '$["2"].inputs.image', "link from Source output 1 gives MASK, input takes IMAGE"),
    ],
)
def test_each_kind_of_problem_is_reported_with_its_location(prompt: dict[str, Any], location: str, message: str) -> None:
    assert check_prompt(prompt, NodeDefs.from_dict(SMALL)) == [Problem(location, message)]


def test_required_inputs_missing_are_each_reported() -> None:
    prompt = {"2": {"class_type": "Sink", "inputs": {"steps": 2}}}
    problems = check_prompt(prompt, NodeDefs.from_dict(SMALL))
    assert [p.location for p in problems] == ['$["2"].inputs.image', '$["2"].inputs.mode', '$["2"].inputs.style']
    assert {p.message for p in problems} == {"required input is missing"}


def test_a_wildcard_output_may_feed_any_input() -> None:
    prompt = _sink(image=["3", 0])
    prompt["3"] = {"class_type": "Anything", "inputs": {}}
    assert check_prompt(prompt, NodeDefs.from_dict(SMALL)) == []


def test_file_lists_can_be_left_unchecked_for_definitions_from_another_machine(recorded: NodeDefs) -> None:
    # The recorded server's input folder held corrupt_upload.png and example.png; the other machine has photo.png.
    prompt = {"1": {"class_type": "LoadImage", "inputs": {"image": "photo.png"}}}
    assert [p.location for p in check_prompt(prompt, recorded)] == ['$["1"].inputs.image']
    assert check_prompt(prompt, recorded, check_file_lists=False) == []


def test_an_empty_option_list_accepts_any_value(recorded: NodeDefs) -> None:
    # CustomCombo's options are filled in by the frontend; an empty model folder lists nothing either.
    for class_type, name in (("CustomCombo", "choice"), ("CheckpointLoaderSimple", "ckpt_name")):
        prompt = {"1": {"class_type": class_type, "inputs": {name: "anything"}}}
        assert check_prompt(prompt, recorded) == []


def test_chosen_dynamic_combo_children_are_checked_too(recorded: NodeDefs) -> None:
    prompt = {
        "1": {
            "class_type": "ResizeImageMaskNode",
            "inputs": {"resize_type": "scale by multiplier", "scale_method": "area", "input": ["2", 0]},
        },
        "2": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
    }
    problems = check_prompt(prompt, recorded)
    assert problems == [Problem('$["1"].inputs["resize_type.multiplier"]', "required input is missing")]


@pytest.mark.parametrize(
    ("output", "input_type", "fits"),
    [
        ("IMAGE", "IMAGE", True),
        ("IMAGE", "image", True),
        ("IMAGE", "MASK", False),
        ("*", "MASK", True),
        ("MASK", "*", True),
        ("MASK", "IMAGE,MASK", True),
        ("FLOAT,INT", "INT", True),
        ("STRING", "IMAGE,MASK", False),
        ("", "LATENT", True),
    ],
)
def test_link_types_match_like_litegraph(output: str, input_type: str, fits: bool) -> None:
    assert types_match(output, input_type) is fits


def test_node_ids_sort_naturally() -> None:
    assert sorted(["10", "2", "10:3", "10:12", "1:2:3", "9"], key=natural_key) == ["1:2:3", "2", "9", "10", "10:3", "10:12"]


def test_problem_is_a_small_frozen_value() -> None:
    problem = Problem('$["3"].inputs.seed', "x")
    with pytest.raises(AttributeError):
        problem.location = "y"  # type: ignore[misc]
    assert json.dumps([problem.location, problem.message])
