"""Preflight over the template corpus: option lists the definitions leave empty never reject a value.

Issue 15 item 1: `CustomCombo`'s options are filled in by the frontend, so its definition lists none, and the real
ComfyUI 0.33 accepts any choice (checked by hand: `{"choice": "screen"}` feeding `PreviewAny` is queued). Every
template is converted with the 633-class and the 886-class definitions of that server and checked as `submit` would.
"""

from __future__ import annotations

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
