"""Tests for replay.convert: UI workflows to API prompts, checked against hand-written expectations,
the recorded node definitions, and the real template corpus."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from replay.convert import FRONTEND_WIDGETS, convert_workflow
from replay.errors import InputError
from replay.nodedefs import AUTOGROW, NodeDefs, check_prompt, load_object_info, types_match

DATA = Path(__file__).parent / "data"
GRAPHS = sorted(p.name.removesuffix(".ui.json") for p in (DATA / "convert").glob("*.ui.json"))
TEMPLATES = sorted((DATA / "templates").glob("*.json"))


@pytest.fixture(scope="module")
def defs() -> NodeDefs:
    return load_object_info(DATA / "object_info.json.gz")


def _load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


# --- one small hand-written graph per rule -------------------------------------------------------------
# primitive: a PrimitiveNode's value replaces the stale value of the converted widget it feeds
# reroute: a chain of Reroute nodes is followed to the real source
# bypass: a bypassed node passes through its input of the wanted type (same slot first); with none, the link goes
# mute: a muted node is dropped, and so is the input that linked it; notes are dropped
# widgets: control values, a control value missing in an old file, a converted (linked) seed, the upload value,
#          a dynamic combo, widgets_values as an object, list values wrapped in __value__, missing values → defaults
# subgraph: inner nodes get "<instance>:<inner>" ids; a promoted widget takes the instance's value, or the inner one
# nested: "a:b:c" ids through two levels, and a widget promoted through both
# v1_links: format 1 with link objects; a MarkdownNote is dropped


@pytest.mark.parametrize("name", GRAPHS)
def test_small_graph_converts_to_the_hand_written_prompt(name: str, defs: NodeDefs) -> None:
    ui = _load(DATA / "convert" / f"{name}.ui.json")
    expected = _load(DATA / "convert" / f"{name}.prompt.json")
    result = convert_workflow(ui, defs)
    assert result.prompt == expected
    assert list(result.prompt) == list(expected), "node ids are in natural order"
    assert result.unknown == {}


def test_the_hand_written_graphs_cover_every_rule() -> None:
    assert set(GRAPHS) >= {"primitive", "reroute", "bypass", "mute", "widgets", "subgraph", "nested", "v1_links"}


def test_conversion_notes_say_what_was_decided(defs: NodeDefs) -> None:
    mute = convert_workflow(_load(DATA / "convert" / "mute.ui.json"), defs)
    assert mute.notes == ["node 3: input 'images' linked a node that is muted or missing; dropped"]
    widgets = convert_workflow(_load(DATA / "convert" / "widgets.ui.json"), defs)
    assert widgets.notes == [
        "node 9 (EmptyLatentImage): no stored value for height, batch_size; used the definition's default"
    ]


def test_the_input_workflow_is_left_unchanged(defs: NodeDefs) -> None:
    ui = _load(DATA / "convert" / "subgraph.ui.json")
    before = json.dumps(ui, sort_keys=True)
    convert_workflow(ui, defs)
    assert json.dumps(ui, sort_keys=True) == before


# --- unknown node types ------------------------------------------------------------------------------


def _with_custom_nodes() -> dict[str, Any]:
    ui = _load(DATA / "convert" / "reroute.ui.json")
    ui["nodes"] += [
        {"id": 7, "type": "FancyUpscaler", "mode": 0, "inputs": [{"name": "image", "type": "IMAGE", "link": 4}],
         "widgets_values": [2]},
        {"id": 8, "type": "FancyUpscaler", "mode": 0, "widgets_values": [4]},
        {"id": 9, "type": "MagicSeed", "mode": 0, "widgets_values": {"seed": 5}},
    ]  # fmt: skip
    ui["links"].append([4, 1, 0, 7, 0, "IMAGE"])
    return ui


def test_missing_node_types_are_all_listed_with_their_nodes_in_one_line(defs: NodeDefs) -> None:
    with pytest.raises(InputError) as err:
        convert_workflow(_with_custom_nodes(), defs)
    message = str(err.value)
    assert "\n" not in message
    assert "FancyUpscaler (nodes 7, 8)" in message and "MagicSeed (node 9)" in message
    assert "--allow-unknown" in message
    assert err.value.exit_code == 2


def test_allow_unknown_converts_the_rest_and_reports_what_it_could_not_map(defs: NodeDefs) -> None:
    result = convert_workflow(_with_custom_nodes(), defs, allow_unknown=True)
    assert result.unknown == {"FancyUpscaler": ["7", "8"], "MagicSeed": ["9"]}
    assert result.prompt["4"]["inputs"]["images"] == ["1", 0]
    assert result.prompt["7"] == {"inputs": {"image": ["1", 0]}, "class_type": "FancyUpscaler",
                                  "_meta": {"title": "FancyUpscaler"}}  # fmt: skip
    assert result.prompt["9"]["inputs"] == {"seed": 5}, "values stored by name keep their names"


def test_a_document_without_nodes_is_not_a_ui_workflow(defs: NodeDefs) -> None:
    with pytest.raises(InputError, match="not a UI workflow"):
        convert_workflow({"1": {"class_type": "KSampler", "inputs": {}}}, defs)


def test_links_that_loop_through_reroutes_are_an_input_error(defs: NodeDefs) -> None:
    ui = {
        "version": 0.4,
        "nodes": [
            {"id": 1, "type": "Reroute", "inputs": [{"name": "", "type": "*", "link": 2}]},
            {"id": 2, "type": "Reroute", "inputs": [{"name": "", "type": "*", "link": 1}]},
            {"id": 3, "type": "PreviewImage", "inputs": [{"name": "images", "type": "IMAGE", "link": 3}]},
        ],
        "links": [[1, 1, 0, 2, 0, "*"], [2, 2, 0, 1, 0, "*"], [3, 2, 0, 3, 0, "IMAGE"]],
    }
    with pytest.raises(InputError, match="links loop through node"):
        convert_workflow(ui, defs)


def test_a_link_to_a_missing_node_is_dropped(defs: NodeDefs) -> None:
    ui = _load(DATA / "convert" / "reroute.ui.json")
    ui["links"].append([9, 99, 0, 4, 0, "IMAGE"])
    ui["nodes"][3]["inputs"][0]["link"] = 9
    assert "images" not in convert_workflow(ui, defs).prompt["4"]["inputs"]


# --- the recorded templates, input by input ----------------------------------------------------------


def _check_input_by_input(prompt: dict[str, Any], defs: NodeDefs) -> list[str]:
    """Independent of check_prompt: every input known to its class, links to existing nodes of a fitting
    type, every widget of the class given a value, values inside their list or range."""
    wrong: list[str] = []
    for node_id, node in prompt.items():
        definition = defs[node["class_type"]]
        inputs = node["inputs"]
        for name, value in inputs.items():
            spec = definition.input(name)
            group = definition.input(name.split(".")[0])
            if spec is None and not (group is not None and group.type == AUTOGROW) and not _frontend_added(
                definition.name, name
            ):
                wrong.append(f"{node_id}.{name}: not an input of {definition.name}")
                continue
            if isinstance(value, list):
                source = prompt.get(value[0])
                if source is None:
                    wrong.append(f"{node_id}.{name}: links missing node {value[0]}")
                    continue
                out_type = defs[source["class_type"]].output_types[value[1]]
                if spec is not None and not types_match(out_type, spec.type):
                    wrong.append(f"{node_id}.{name}: {out_type} into {spec.type}")
                continue
            if spec is None:
                continue
            if spec.choices and spec.widget_type == "COMBO" and not spec.has_upload and value not in spec.choices:
                wrong.append(f"{node_id}.{name}: {value!r} not in its list")
            low, high = spec.options.get("min"), spec.options.get("max")
            if spec.widget_type in ("INT", "FLOAT") and not (
                (low is None or value >= low) and (high is None or value <= high)
            ):
                wrong.append(f"{node_id}.{name}: {value!r} outside [{low}, {high}]")
        for spec in definition.widgets:
            if spec.name not in inputs and spec.default is not None:
                wrong.append(f"{node_id}.{spec.name}: widget without a value")
    return wrong


def _frontend_added(kind: str, name: str) -> bool:
    extension = FRONTEND_WIDGETS.get(kind)
    if extension is None:
        return False
    grown = extension.grow is not None and name.startswith(extension.grow.format("")) and name[-1].isdecimal()
    return name in extension.names or grown


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.stem)
def test_recorded_template_converts_and_fits_the_definitions_input_by_input(path: Path, defs: NodeDefs) -> None:
    result = convert_workflow(_load(path), defs)
    assert result.prompt and result.unknown == {}
    assert _check_input_by_input(result.prompt, defs) == []
    assert check_prompt(result.prompt, defs, check_file_lists=False) == []


def test_flux_schnell_converts_to_the_prompt_read_off_the_file_by_hand(defs: NodeDefs) -> None:
    prompt = convert_workflow(_load(DATA / "templates" / "flux_schnell.json"), defs).prompt
    assert list(prompt) == ["6", "8", "9", "27", "30", "31", "33"], "Note and MarkdownNote are dropped"
    assert prompt["31"] == {
        "inputs": {"seed": 173805153958730, "steps": 4, "cfg": 1, "sampler_name": "euler", "scheduler": "simple",
                   "denoise": 1, "model": ["30", 0], "positive": ["6", 0], "negative": ["33", 0],
                   "latent_image": ["27", 0]},
        "class_type": "KSampler",
        "_meta": {"title": "KSampler"},
    }  # fmt: skip
    assert prompt["30"] == {"inputs": {"ckpt_name": "flux1-schnell-fp8.safetensors"},
                            "class_type": "CheckpointLoaderSimple", "_meta": {"title": "Load Checkpoint"}}  # fmt: skip
    assert prompt["33"]["inputs"] == {"text": "", "clip": ["30", 1]}
    assert prompt["33"]["_meta"]["title"] == "CLIP Text Encode (Negative Prompt)"
    assert prompt["6"]["inputs"]["text"].startswith("a bottle with a beautiful rainbow galaxy")
    assert prompt["8"]["inputs"] == {"samples": ["31", 0], "vae": ["30", 2]}
    assert prompt["9"]["inputs"] == {"filename_prefix": "ComfyUI", "images": ["8", 0]}
    assert prompt["27"]["inputs"] == {"width": 1024, "height": 1024, "batch_size": 1}


def test_datatype_conversion_template_keeps_autogrow_members_and_primitive_values(defs: NodeDefs) -> None:
    prompt = convert_workflow(_load(DATA / "templates" / "basic_datatype_conversion.json"), defs).prompt
    assert prompt["14"]["inputs"] == {"expression": "a", "values.a": ["8", 0]}
    assert prompt["8"]["inputs"] == {"value": 0}, "the 'fixed' control value is not submitted"
    assert prompt["3"]["inputs"] == {"value": ["2", 0]}
    assert prompt["2"]["inputs"] == {"value": "1"}
    assert prompt["6"]["_meta"]["title"] == "Preview as Text (Int)"


def test_color_adjustment_template_flattens_its_ten_subgraphs(defs: NodeDefs) -> None:
    ui = _load(DATA / "templates" / "basic_image_color_adjustment.json")
    prompt = convert_workflow(ui, defs).prompt
    instances = {str(n["id"]) for n in ui["nodes"] if n["type"] in {s["id"] for s in ui["definitions"]["subgraphs"]}}
    assert len(instances) == 10
    assert all(node_id.split(":")[0] in instances for node_id in prompt if ":" in node_id)
    assert {node_id.split(":")[0] for node_id in prompt if ":" in node_id} == instances
    for node_id, node in prompt.items():
        for value in node["inputs"].values():
            if isinstance(value, list):
                assert value[0] in prompt, f"{node_id} links {value[0]}, which is not in the prompt"


# --- the template corpus -----------------------------------------------------------------------------

# Problems check_prompt finds in prompts that convert faithfully: the template itself leaves a required input
# unconnected, or it was saved by a newer ComfyUI than the recorded definitions (new combo choices, an input
# that changed type, a new widget that shifts the promoted values of a subgraph).
KNOWN_TEMPLATE_PROBLEMS = {
    ("image_anima_lllite_image_inpainting", '$["696"].inputs.input'): "input unconnected in the template",
    ("video_ltx2_i2v_lora", '$["75"].inputs.video'): "subgraph output not connected inside the subgraph",
    ("video_minimax_h3_i2v", '$["119"].inputs.image'): "input unconnected in the template",
    ("video_wan_vace_inpainting", '$["306:308"].inputs.image'): "input unconnected in the template",
    ("3d_hunyuan3d_image_to_model", '$["91:66"].inputs.resolution'): "newer ModelSamplingAuraFlow has 'sampling'",
    ("3d_pixal3d_trellis2_image_to_model", '$["241"].inputs.sign_mode'): "newer RemeshMesh sign modes",
    ("image_ming_image_01_design_t2i", '$["80:68"].inputs.attention'): "newer attention choices",
    ("image_minimax_h3_t2i", '$["58:44"].inputs.attention'): "newer attention choices",
    ("image_moss_image_base_t2i", '$["18:2"].inputs.type'): "newer CLIP loader types",
    ("image_moss_image_t2i", '$["18:2"].inputs.type'): "newer CLIP loader types",
    ("video_ltx2_3_ia2v", '$["340:312"].inputs.bit_depth'): "CreateVideo bit_depth became a combo",
    ("video_ltx2_3_ic_lora", '$["129:122"].inputs.bit_depth'): "CreateVideo bit_depth became a combo",
    ("video_ltx2_3_t2v", '$["267:242"].inputs.bit_depth'): "CreateVideo bit_depth became a combo",
    ("video_minimax_h3_multiframe_reference", '$["130"].inputs.bit_depth'): "CreateVideo bit_depth became a combo",
    # The frontend sends the inner nodes of a bypassed instance nested in a subgraph; their image came
    # from a bypassed LoadImage, which passes nothing through.
    ("flux1_dev_uso_reference_image_gen", '$["112:55:117"].inputs.image'): "fed by a bypassed LoadImage",
    ("flux1_dev_uso_reference_image_gen", '$["112:56:119"].inputs.image'): "fed by a bypassed LoadImage",
}


def _corpus() -> list[tuple[str, dict[str, Any]]]:
    import comfyui_workflow_templates_json as package

    folder = Path(package.__file__).parent / "templates"
    workflows = []
    for path in sorted(folder.glob("*.json")):
        doc = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(doc, dict) and isinstance(doc.get("nodes"), list):
            workflows.append((path.stem, doc))
    return workflows


def test_every_corpus_template_converts_or_is_counted_with_its_missing_types(defs: NodeDefs) -> None:
    corpus = _corpus()
    converted: list[str] = []
    blocked: dict[str, list[str]] = {}
    problems: dict[tuple[str, str], str] = {}
    for name, ui in corpus:
        try:
            result = convert_workflow(ui, defs)
        except InputError as exc:
            assert "node types missing from the definitions" in str(exc), f"{name}: {exc}"
            blocked[name] = sorted(convert_workflow(ui, defs, allow_unknown=True).unknown)
            assert blocked[name], f"{name} was refused without a missing type"
            continue
        converted.append(name)
        for problem in check_prompt(result.prompt, defs, check_file_lists=False):
            problems[(name, problem.location)] = problem.message
    missing = Counter(kind for kinds in blocked.values() for kind in kinds)
    print(f"\ncorpus: {len(corpus)} UI workflows, {len(converted)} converted and checked, "
          f"{len(blocked)} need node types missing from the recorded definitions "
          f"({len(missing)} types; most used: {missing.most_common(5)})")  # fmt: skip
    print(f"known template problems seen: {len(set(problems) & set(KNOWN_TEMPLATE_PROBLEMS))}")
    assert len(corpus) >= 600
    assert len(converted) + len(blocked) == len(corpus), "no template is skipped silently"
    assert len(converted) > 0
    unexpected = {key: msg for key, msg in problems.items() if key not in KNOWN_TEMPLATE_PROBLEMS}
    assert unexpected == {}


# Inputs whose values are file names: templates whose files were renamed keep the old name in
# widgets_values_named, a copy the frontend does not read back.
FILE_INPUTS = {"image", "audio", "file", "unet_name", "filename_prefix"}


def test_widget_values_are_named_as_the_frontend_named_them_in_its_own_copy(defs: NodeDefs) -> None:
    """Templates saved by recent frontends also hold ``widgets_values_named`` ({widget name: value});
    naming the positional values after the definitions must give the same pairs."""
    from replay.convert import _Converter

    compared = 0
    disagreements = []
    for name, ui in _corpus():
        converter = _Converter(ui, defs)
        nodes = list(ui["nodes"]) + [n for s in (ui.get("definitions") or {}).get("subgraphs", []) for n in s["nodes"]]
        for node in nodes:
            named = node.get("widgets_values_named")
            if not isinstance(named, dict) or node["type"] not in defs:
                continue
            compared += 1
            values = converter._widget_values(node, defs[node["type"]], str(node["id"]))
            for key, value in values.items():
                if key in named and named[key] != value and key not in FILE_INPUTS:
                    disagreements.append((name, node["id"], key, value, named[key]))
    print(f"\nnodes with the frontend's named copy compared: {compared}")
    assert compared > 1000
    assert disagreements == []


# --- the convert command -------------------------------------------------------------------------------


def _run(*argv: str) -> tuple[int, str, str]:
    import io

    from replay.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), stdout=out, stderr=err, env={})
    return code, out.getvalue(), err.getvalue()


def test_convert_command_prints_the_prompt_and_its_notes() -> None:
    code, out, err = _run("convert", str(DATA / "convert" / "mute.ui.json"),
                          "--object-info", str(DATA / "object_info.json.gz"))  # fmt: skip
    assert code == 0
    assert json.loads(out) == _load(DATA / "convert" / "mute.prompt.json")
    assert "note: node 3: input 'images' linked a node that is muted or missing; dropped" in err


def test_convert_command_writes_the_prompt_file(tmp_path: Path) -> None:
    target = tmp_path / "prompt.json"
    code, out, _ = _run("convert", str(DATA / "convert" / "nested.ui.json"),
                        "--object-info", str(DATA / "object_info.json.gz"), "-o", str(target))  # fmt: skip
    assert code == 0 and out == ""
    assert json.loads(target.read_text()) == _load(DATA / "convert" / "nested.prompt.json")


def test_convert_command_exits_2_on_missing_node_types_unless_allowed(tmp_path: Path) -> None:
    source = tmp_path / "custom.json"
    source.write_text(json.dumps(_with_custom_nodes()))
    code, out, err = _run("convert", str(source), "--object-info", str(DATA / "object_info.json.gz"))
    assert code == 2 and out == ""
    assert err.startswith("comfy-replay: error: node types missing from the definitions: FancyUpscaler (nodes 7, 8)")
    code, out, err = _run("convert", str(source), "--object-info", str(DATA / "object_info.json.gz"), "--allow-unknown")
    assert code == 0 and "4" in json.loads(out)
    assert "not converted: MagicSeed is not in the definitions (nodes 9)" in err


# --- variations on the hand-written graphs --------------------------------------------------------------


def test_a_bypassed_subgraph_instance_passes_its_matching_input_through(defs: NodeDefs) -> None:
    ui = _load(DATA / "convert" / "subgraph.ui.json")
    ui["nodes"][2]["mode"] = 4  # instance 7
    prompt = convert_workflow(ui, defs).prompt
    assert "7:2" not in prompt
    assert prompt["8"]["inputs"]["images"] == ["5:2", 0]


def test_a_muted_subgraph_instance_is_not_expanded_and_its_consumers_lose_the_link(defs: NodeDefs) -> None:
    ui = _load(DATA / "convert" / "subgraph.ui.json")
    ui["nodes"][2]["mode"] = 2  # instance 7
    prompt = convert_workflow(ui, defs).prompt
    assert list(prompt) == ["1", "5:2", "8"]
    assert prompt["8"]["inputs"] == {"filename_prefix": "soft"}


def test_a_primitive_value_reaches_its_target_through_a_reroute(defs: NodeDefs) -> None:
    ui = _load(DATA / "convert" / "primitive.ui.json")
    ui["nodes"].append({"id": 9, "type": "Reroute", "mode": 0, "inputs": [{"name": "", "type": "*", "link": 1}],
                        "outputs": [{"name": "", "type": "INT", "links": [9]}]})  # fmt: skip
    ui["links"][0] = [1, 1, 0, 9, 0, "INT"]
    ui["links"].append([9, 9, 0, 2, 0, "INT"])
    ui["nodes"][1]["inputs"][0]["link"] = 9
    assert convert_workflow(ui, defs).prompt["2"]["inputs"]["width"] == 777


def test_a_linked_subgraph_input_takes_the_outer_link_over_the_promoted_value(defs: NodeDefs) -> None:
    ui = _load(DATA / "convert" / "subgraph.ui.json")
    ui["nodes"].append({"id": 3, "type": "PrimitiveInt", "mode": 0, "widgets_values": [11, "fixed"],
                        "outputs": [{"name": "INT", "type": "INT", "links": [4]}]})  # fmt: skip
    ui["links"].append([4, 3, 0, 5, 1, "INT"])
    ui["nodes"][1]["inputs"][1]["link"] = 4
    prompt = convert_workflow(ui, defs).prompt
    assert prompt["5:2"]["inputs"]["blur_radius"] == ["3", 0]
    assert prompt["7:2"]["inputs"]["blur_radius"] == 3
