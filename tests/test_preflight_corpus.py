"""Preflight over the template corpus: option lists the definitions leave empty never reject a value.

Issue 15 item 1: `CustomCombo`'s options are filled in by the frontend, so its definition lists none, and the real
ComfyUI 0.33 accepts any choice (checked by hand: `{"choice": "screen"}` feeding `PreviewAny` is queued). Every
template is converted with the 633-class and the 886-class definitions of that server and checked as `submit` would.
"""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from helpers import DATA, corpus_workflows

from replay.convert import convert_workflow
from replay.errors import InputError
from replay.nodedefs import NodeDefs, check_prompt, load_object_info
from replay.submit import preflight_problems

DEFINITIONS = ("object_info.json.gz", "object_info_with_api_nodes.json.gz")


def _input_spec(defs: NodeDefs, prompt: dict[str, Any], location: str) -> Any:
    node_id = json.loads(location[1 : location.index("]") + 1])[0]
    name = location.split(".inputs", 1)[1]
    name = json.loads(name[1:-1]) if name.startswith("[") else name[1:]
    return defs[prompt[node_id]["class_type"]].input(name)


@pytest.mark.parametrize("definitions", DEFINITIONS)
def test_no_converted_template_is_refused_for_a_value_missing_from_an_empty_option_list(definitions: str) -> None:
    defs = load_object_info(DATA / definitions)
    converted = clean = 0
    refused_by: Counter[str] = Counter()
    custom_combos = 0
    for name, workflow in corpus_workflows():
        try:
            prompt = convert_workflow(workflow, defs).prompt
        except InputError:
            continue  # node types these definitions do not know: the server would refuse them too
        converted += 1
        custom_combos += sum(node["class_type"] == "CustomCombo" for node in prompt.values())
        clean += not check_prompt(prompt, defs, check_file_lists=False)
        for problem in check_prompt(prompt, defs):  # as preflight checks, with the server's own file lists
            spec = _input_spec(defs, prompt, problem.location)
            if spec is not None and spec.is_combo and not spec.choices:
                refused_by[f"{name}: {problem.location}"] += 1
    print(f"\n{definitions}: {converted} templates converted, {clean} pass preflight (file lists not checked), "
          f"{custom_combos} CustomCombo nodes")
    assert custom_combos >= 10  # the corpus really exercises the case
    assert not refused_by, sorted(refused_by)[:10]
    assert clean >= converted // 10


def test_the_issue_s_template_passes_preflight_with_both_definition_sets() -> None:
    workflow = json.loads((DATA / "templates" / "basic_image_color_adjustment.json").read_text(encoding="utf-8"))
    for definitions in DEFINITIONS:
        defs = load_object_info(DATA / definitions)
        prompt = convert_workflow(workflow, defs).prompt
        assert [n for n in prompt.values() if n["class_type"] == "CustomCombo"]
        assert preflight_problems(prompt, defs=defs) == []


def test_a_custom_combo_choice_passes_but_a_listed_combo_still_refuses_an_unknown_value() -> None:
    defs = load_object_info(DATA / "object_info.json.gz")
    prompt = {
        "1": {"class_type": "CustomCombo", "inputs": {"choice": "screen"}},
        "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
        "3": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
        "4": {"class_type": "ImageBlend", "inputs": {"image1": ["3", 0], "image2": ["3", 0], "blend_factor": 0.5,
                                                      "blend_mode": "screen-ish"}},
        "5": {"class_type": "PreviewImage", "inputs": {"images": ["4", 0]}},
    }
    assert preflight_problems(prompt, defs=defs) == [
        "$[\"4\"].inputs.blend_mode: 'screen-ish' is not one of the allowed values "
        "['normal', 'multiply', 'screen', 'overlay', 'soft_light', 'difference']"
    ]


def test_the_886_class_definitions_are_the_recorded_ones() -> None:
    assert len(load_object_info(Path(DATA / "object_info_with_api_nodes.json.gz"))) == 886


def test_no_prompt_the_real_server_accepted_is_refused_by_preflight() -> None:
    # Recorded by posting every converted template to a private ComfyUI 0.33.0 (see tests/data/README.md): these
    # are the prompts it answered with 200 and no node_errors.
    recorded = json.loads(gzip.decompress((DATA / "accepted_by_comfyui.json.gz").read_bytes()))
    defs = load_object_info(DATA / "object_info_with_api_nodes.json.gz")
    refused = {name: problems for name, prompt in recorded["prompts"].items()
               if (problems := preflight_problems(prompt, defs=defs))}
    print(f"\n{len(recorded['prompts'])} prompts the real server accepted, {len(refused)} refused by preflight")
    assert len(recorded["prompts"]) >= 70
    assert refused == {}


def _tiny(width: Any, *, fed: bool) -> dict[str, Any]:
    prompt: dict[str, Any] = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": width, "height": 8, "batch_size": 1, "color": 0}},
        "2": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
        "3": {"class_type": "PreviewImage", "inputs": {"images": ["1" if fed else "2", 0]}},
    }
    return prompt


def test_preflight_checks_only_the_nodes_the_server_would_run() -> None:
    defs = load_object_info(DATA / "object_info.json.gz")
    assert preflight_problems(_tiny(-5, fed=True), defs=defs) == ['$["1"].inputs.width: -5 is below the minimum 1']
    assert preflight_problems(_tiny(-5, fed=False), defs=defs) == []  # node 1 feeds no output: never validated
    assert preflight_problems(_tiny(-5, fed=False), defs=defs, targets=["3"]) == []


def test_a_dynamic_combo_takes_any_value_and_then_its_other_values_inputs_are_not_followed() -> None:
    defs = load_object_info(DATA / "object_info_with_api_nodes.json.gz")
    combo = defs["OpenAIGPTImageNodeV2"].input("model")
    assert combo is not None and "gpt-image-2" in combo.variants and "gpt-image-9" not in combo.variants
    children = {spec.name for spec in combo.variants["gpt-image-2"]}
    assert "model.images" in children  # an input of the gpt-image-2 variant that takes a link
    prompt = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "not-on-the-server.png"}},
        "2": {"class_type": "OpenAIGPTImageNodeV2",
              "inputs": {"prompt": "a cat", "model": "gpt-image-9", "model.images": ["1", 0], "seed": 0}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "x"}},
    }
    assert [line for line in preflight_problems(prompt, defs=defs) if "model" in line or '["1"]' in line] == []
    prompt["2"]["inputs"]["model"] = "gpt-image-2"  # a known value: its inputs and what feeds them are checked
    assert '$["1"].inputs.image' in "\n".join(preflight_problems(prompt, defs=defs))
