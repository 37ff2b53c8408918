"""Diffing two jobs: table cases, recorded ComfyUI jobs, the template corpus with planted changes, renderers, CLI."""

from __future__ import annotations

import copy
import io
import json
import os
import random
import re
import subprocess
import sys
import zlib
from pathlib import Path
from typing import Any

import pytest
from helpers import DATA, corpus_workflows, load

from replay.cli import main
from replay.diff import MISSING, diff_jobs
from replay.diff_render import render_markdown, render_text, to_json
from replay.errors import InputError
from replay.jobs import Job, job_from_document

CASES_DIR = DATA / "diff"
CASES = sorted(p.name[: -len(".expected.json")] for p in CASES_DIR.glob("*.expected.json"))
OPTIONS: dict[str, dict[str, Any]] = {
    "numeric_tolerance": {"tolerance": 0.001},
    "ignore_seeds": {"ignore": ["root[*]['inputs']['seed']"]},
}


def case_jobs(case: str) -> tuple[Job, Job]:
    return (job_from_document(load(f"diff/{case}_a.json")), job_from_document(load(f"diff/{case}_b.json")))


def test_every_table_case_has_both_sides_and_the_list_is_complete():
    assert len(CASES) == 16, CASES
    for case in CASES:
        assert (CASES_DIR / f"{case}_a.json").exists() and (CASES_DIR / f"{case}_b.json").exists()


@pytest.mark.parametrize("case", CASES)
def test_table_case_reports_what_the_expected_file_says(case):
    expected = load(f"diff/{case}.expected.json")
    got = to_json(diff_jobs(*case_jobs(case), **OPTIONS.get(case, {})))
    for key, value in expected.items():
        assert got[key] == value, f"{case}: {key}"


def test_numbers_differ_without_a_tolerance():
    d = diff_jobs(*case_jobs("numeric_tolerance"))
    changed = {(n.id, c.name): (c.a, c.b) for n in d.nodes.changed for c in n.inputs}
    assert changed == {("3", "cfg"): (7.5, 7.5004), ("3", "denoise"): (1.0, 0.98),
                       ("10", "strength_model"): (0.8, 0.8009)}


def test_seeds_differ_without_ignore():
    d = diff_jobs(*case_jobs("ignore_seeds"))
    changed = {(n.id, c.name) for n in d.nodes.changed for c in n.inputs}
    assert changed == {("3", "seed"), ("3", "cfg"), ("10", "seed")}


def test_ignoring_a_node_id_hides_its_removal():
    d = diff_jobs(*case_jobs("added_removed_node"), ignore=["root['9']"])
    assert [n.id for n in d.nodes.removed] == [] and [n.id for n in d.nodes.added] == ["11"]


def test_layout_changes_show_with_include_layout():
    d = diff_jobs(*case_jobs("ui_layout_only"), include_layout=True)
    assert not d.identical
    names = {c.name for n in d.nodes.changed for c in n.inputs}
    assert {"pos", "size", "flags", "order", "color", "bgcolor"} <= names
    assert {c.name for c in d.graph} >= {"extra.ds", "groups"}


def test_a_malformed_ignore_pattern_is_refused():
    with pytest.raises(InputError, match="not a deepdiff path"):
        diff_jobs(*case_jobs("changed_input"), ignore=["root[**"])


@pytest.mark.parametrize("tolerance", [-1.0, float("nan")])
def test_a_negative_or_nan_tolerance_is_refused(tolerance):
    with pytest.raises(InputError, match="tolerance"):
        diff_jobs(*case_jobs("changed_input"), tolerance=tolerance)


def test_a_prompt_cannot_be_compared_with_a_ui_only_workflow():
    prompt = job_from_document(load("diff/changed_input_a.json"))
    ui = job_from_document(load("diff/ui_widget_change_a.json"))
    with pytest.raises(InputError, match="convert"):
        diff_jobs(prompt, ui)


def test_ui_mode_needs_a_ui_graph_on_both_sides():
    prompt = job_from_document(load("diff/changed_input_a.json"))
    with pytest.raises(InputError, match="no UI workflow"):
        diff_jobs(prompt, prompt, ui=True)


def test_a_side_with_only_a_ui_graph_makes_it_a_ui_diff():
    job = job_from_document(load("oss/success_a.job.json"))
    ui = job_from_document(load("oss/success_a.request.json")["extra_data"]["extra_pnginfo"]["workflow"])
    d = diff_jobs(job, ui)
    assert d.compared == "ui" and d.identical and d.outputs is None


def test_importing_the_diff_modules_does_not_import_deepdiff():
    code = "import sys, replay.diff, replay.diff_render; print('deepdiff' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# ---------------------------------------------------------------------------------------------- recorded jobs


def _strictly_equal(x: Any, y: Any) -> bool:
    """JSON equality written out separately from the library: 1 == 1.0, true != 1."""
    if isinstance(x, bool) or isinstance(y, bool):
        return type(x) is type(y) and x == y
    if isinstance(x, dict) and isinstance(y, dict):
        return x.keys() == y.keys() and all(_strictly_equal(x[k], y[k]) for k in x)
    if isinstance(x, list) and isinstance(y, list):
        return len(x) == len(y) and all(_strictly_equal(p, q) for p, q in zip(x, y, strict=True))
    return bool(x == y)


def test_recorded_jobs_report_exactly_the_inputs_that_differ_in_their_prompts():
    a_doc, b_doc = load("oss/success_a.job.json"), load("oss/fail_runtime_zerodiv.job.json")
    pa, pb = a_doc["workflow"]["prompt"], b_doc["workflow"]["prompt"]
    expected: dict[tuple[str, str], tuple[Any, Any]] = {}
    for node_id in set(pa) & set(pb):
        ia, ib = pa[node_id]["inputs"], pb[node_id]["inputs"]
        for name in set(ia) | set(ib):
            va, vb = ia.get(name, MISSING), ib.get(name, MISSING)
            if va is MISSING or vb is MISSING or not _strictly_equal(va, vb):
                expected[(node_id, name)] = (va, vb)
    assert len(expected) == 15  # by hand: node 1: 3, node 2: 2, node 3: 3, node 4: 3, node 5: 4

    d = diff_jobs(job_from_document(a_doc), job_from_document(b_doc))
    got = {(n.id, c.name): (c.a, c.b) for n in d.nodes.changed for c in n.inputs}
    assert got == expected
    assert {n.id for n in d.nodes.added} == set(pb) - set(pa)
    assert {n.id for n in d.nodes.removed} == set(pa) - set(pb)
    assert {n.id: n.class_change for n in d.nodes.changed if n.class_change} == {
        i: (pa[i]["class_type"], pb[i]["class_type"])
        for i in set(pa) & set(pb) if pa[i]["class_type"] != pb[i]["class_type"]
    }
    assert {t.id for t in d.titles} == {
        i for i in set(pa) & set(pb) if pa[i]["_meta"]["title"] != pb[i]["_meta"]["title"]
    }
    assert d.status == ("completed", "failed")
    assert d.error is not None and d.error[0] is None
    assert (d.error[1].node_id, d.error[1].exception_type) == ("5", "ZeroDivisionError")
    assert d.outputs is not None and (d.outputs.count_a, d.outputs.count_b) == (2, 1)


@pytest.mark.parametrize("name", ["success_a", "fail_runtime_zerodiv"])
def test_history_and_job_detail_of_the_same_job_are_identical(name):
    job = job_from_document(load(f"oss/{name}.job.json"))
    history = job_from_document(load(f"oss/{name}.history.json"))
    d = diff_jobs(job, history)
    assert d.identical, to_json(d)
    assert d.a.duration == pytest.approx(d.b.duration)


def test_a_cloud_job_and_the_oss_job_it_was_reshaped_from_are_identical():
    d = diff_jobs(job_from_document(load("oss/fail_runtime_zerodiv.job.json")),
                  job_from_document(load("cloud/fail_runtime_zerodiv.job.json")))
    assert d.identical, to_json(d)


# ---------------------------------------------------------------------------------------------- corpus

WORKFLOWS = corpus_workflows()


def test_corpus_has_all_the_workflows():
    print(f"corpus: {len(WORKFLOWS)} workflows")
    assert len(WORKFLOWS) == 644


def test_every_corpus_workflow_is_identical_to_a_copy_of_itself():
    compared = 0
    for name, workflow in WORKFLOWS:
        a, b = job_from_document(workflow), job_from_document(copy.deepcopy(workflow))
        for layout in (False, True):
            d = diff_jobs(a, b, include_layout=layout)
            assert d.identical, (name, layout, to_json(d))
        compared += 1
    print(f"corpus: {compared} workflows identical to a copy of themselves")
    assert compared == 644


def _graphs(workflow: dict[str, Any]) -> list[tuple[str | None, dict[str, Any]]]:
    subgraphs = (workflow.get("definitions") or {}).get("subgraphs") or []
    return [(None, workflow)] + [(sg["id"], sg) for sg in subgraphs]


def _new_value(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value + 1.5
    if isinstance(value, str):
        return value + " (edited)"
    return MISSING


class Planted:
    """Real changes made to a copy of a UI workflow, and what a diff must therefore report."""

    def __init__(self) -> None:
        self.changes: dict[tuple[str | None, str], dict[str, tuple[Any, Any]]] = {}
        self.removed: list[tuple[str, str]] = []
        self.kinds: set[str] = set()

    def expect(self, graph: str | None, node_id: Any, name: str, a: Any, b: Any) -> None:
        self.changes.setdefault((graph, str(node_id)), {})[name] = (a, b)


def _ends(link: Any) -> tuple[Any, Any, Any, Any]:
    """(link id, origin node, origin slot, target node) of a v0.4 tuple or a v1 link object."""
    if isinstance(link, dict):
        return link["id"], link["origin_id"], link["origin_slot"], link["target_id"]
    return link[0], link[1], link[2], link[3]


def _rewire_link(workflow: dict[str, Any], rng: random.Random, planted: Planted) -> set[Any]:
    """Point one link (in any graph) at another node's output; return the node ids it now touches."""
    candidates = []
    for graph_id, graph in _graphs(workflow):
        nodes = {n["id"]: n for n in graph["nodes"]}
        origins = [(n, i) for n in graph["nodes"] for i, _ in enumerate(n.get("outputs") or [])]
        for link in graph.get("links") or []:
            link_id, origin, origin_slot, target = _ends(link)
            slots = [s for s in (nodes[target].get("inputs") or []) if s.get("link") == link_id] \
                if target in nodes else []
            others = [o for o in origins if (o[0]["id"], o[1]) != (origin, origin_slot)]
            if slots and others:
                candidates.append((graph_id, nodes, link, slots[0], others))
    if not candidates:
        return set()
    graph_id, nodes, link, slot, others = rng.choice(candidates)
    link_id, origin, origin_slot, target = _ends(link)
    new_node, new_slot = rng.choice(others)
    if origin in nodes:  # the old producer forgets the link, the new one lists it
        outputs = nodes[origin]["outputs"][origin_slot]
        outputs["links"] = [x for x in outputs.get("links") or [] if x != link_id]
    new_outputs = new_node["outputs"][new_slot]
    new_outputs["links"] = (new_outputs.get("links") or []) + [link_id]
    if isinstance(link, dict):
        link["origin_id"], link["origin_slot"] = new_node["id"], new_slot
    else:
        link[1], link[2] = new_node["id"], new_slot
    planted.expect(graph_id, target, f"inputs.{slot['name']}.link", [str(origin), origin_slot],
                   [str(new_node["id"]), new_slot])
    planted.kinds.add("rewired link")
    return {target, new_node["id"]} if graph_id is None else set()


def _remove_node(top: dict[str, Any], rng: random.Random, planted: Planted, keep: set[Any]) -> None:
    choices = [n for n in top["nodes"] if n["id"] not in keep]
    if len(top["nodes"]) < 2 or not choices:
        return
    victim = rng.choice(choices)
    gone = victim["id"]
    top["nodes"] = [n for n in top["nodes"] if n["id"] != gone]
    dropped = {link[0]: link for link in top["links"] if gone in (link[1], link[3])}
    top["links"] = [link for link in top["links"] if link[0] not in dropped]
    for node in top["nodes"]:  # consumers lose their input, producers forget the link
        for slot in node.get("inputs") or []:
            if slot.get("link") in dropped:
                link = dropped[slot["link"]]
                planted.expect(None, node["id"], f"inputs.{slot['name']}.link", [str(link[1]), link[2]], None)
                slot["link"] = None
        for slot in node.get("outputs") or []:
            if slot.get("links"):
                slot["links"] = [x for x in slot["links"] if x not in dropped]
    planted.removed.append((str(gone), victim["type"]))
    planted.kinds.add("removed node")


def _change_widget(workflow: dict[str, Any], rng: random.Random, planted: Planted) -> None:
    spots = [(graph_id, node, i) for graph_id, graph in _graphs(workflow) for node in graph["nodes"]
             if isinstance(node.get("widgets_values"), list)
             for i, v in enumerate(node["widgets_values"]) if _new_value(v) is not MISSING]
    if not spots:
        return
    graph_id, node, index = rng.choice(spots)
    old = node["widgets_values"][index]
    node["widgets_values"][index] = _new_value(old)
    planted.expect(graph_id, node["id"], f"widgets_values[{index}]", old, node["widgets_values"][index])
    planted.kinds.add("widget value")


def _move_nodes(workflow: dict[str, Any], rng: random.Random, planted: Planted) -> None:
    nodes = [n for _, graph in _graphs(workflow) for n in graph["nodes"]]
    for node in rng.sample(nodes, min(10, len(nodes))):
        node["pos"] = [rng.uniform(-5000, 5000), rng.uniform(-5000, 5000)]
        if rng.random() < 0.5:
            node["size"] = [rng.randint(100, 900), rng.randint(50, 700)]
    workflow["extra"]["ds"] = {"scale": rng.uniform(0.1, 2), "offset": [rng.uniform(-9e3, 9e3), 0]}
    planted.kinds.add("moved nodes")


def plant(workflow: dict[str, Any], seed: int) -> tuple[dict[str, Any], Planted]:
    """A copy of the workflow with a removed node, a rewired link, a changed widget value and moved nodes."""
    rng = random.Random(seed)
    changed = copy.deepcopy(workflow)
    planted = Planted()
    touched = _rewire_link(changed, rng, planted)
    _remove_node(changed, rng, planted, keep=touched)
    _change_widget(changed, rng, planted)
    _move_nodes(changed, rng, planted)
    return changed, planted


def test_corpus_diff_reports_exactly_the_planted_changes():
    counts = {"workflows": 0, "removed node": 0, "rewired link": 0, "widget value": 0, "moved nodes": 0}
    for name, workflow in WORKFLOWS:
        changed, planted = plant(workflow, seed=zlib.crc32(name.encode()))
        d = diff_jobs(job_from_document(workflow), job_from_document(changed))
        got = {(n.subgraph, n.id): {c.name: (c.a, c.b) for c in n.inputs} for n in d.nodes.changed}
        assert got == planted.changes, name
        assert not any(n.class_change for n in d.nodes.changed), name
        assert [(n.id, n.class_type) for n in d.nodes.removed] == planted.removed, name
        assert not d.nodes.added and not d.titles and not d.graph, name
        assert not (d.subgraphs.added or d.subgraphs.removed or d.subgraphs.changed), name
        counts["workflows"] += 1
        for kind in planted.kinds:
            counts[kind] += 1
    print(f"corpus planted changes: {counts}")
    assert counts["workflows"] == 644
    # Every workflow gets a widget change and moved nodes; a one-node workflow cannot lose a node or a link.
    assert counts["widget value"] >= 640 and counts["moved nodes"] == 644
    assert counts["removed node"] >= 630 and counts["rewired link"] >= 620


# ---------------------------------------------------------------------------------------------- renderers


def test_json_has_the_spec_keys_in_a_fixed_order_and_serialises():
    d = diff_jobs(*case_jobs("outputs_added_removed"))
    data = to_json(d)
    assert list(data) == ["identical", "compared", "nodes", "titles", "graph", "subgraphs", "outputs", "status",
                          "error", "timing", "sides", "environment", "cached"]
    assert list(data["nodes"]) == ["added", "removed", "changed"]
    assert json.loads(json.dumps(data)) == data


def test_text_shows_links_as_node_and_slot_and_text_changes_as_a_line_diff():
    text = render_text(diff_jobs(*case_jobs("rewired_link")))
    assert "model: 4[0] -> 10[0]" in text and "vae: 4[2] -> 4[1]" in text
    text = render_text(diff_jobs(*case_jobs("text_change")))
    assert "    text:\n      @@ -1,3 +1,3 @@\n      -a photo of a cat\n      +a photo of a dog\n" in text
    assert "\x1b[" not in text


def test_text_is_coloured_only_when_asked():
    d = diff_jobs(*case_jobs("changed_input"))
    assert "\x1b[31m42\x1b[0m -> \x1b[32m43\x1b[0m" in render_text(d, True)
    assert "seed: 42 -> 43" in render_text(d, False)


def test_text_names_status_error_and_output_files():
    text = render_text(diff_jobs(*case_jobs("status_error")))
    assert "status: completed -> failed" in text
    assert "error b: node 1 EmptyImage: torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB" in text
    assert "- images run_00001_.png (output)" in text


def test_markdown_is_a_table_with_a_row_per_change():
    md = render_markdown(diff_jobs(*case_jobs("rewired_link")))
    assert "| node | class | change | a | b |" in md
    assert "| 3 | KSampler | `model` | `4[0]` | `10[0]` |" in md
    md = render_markdown(diff_jobs(*case_jobs("text_change")))
    assert "```diff\n@@ -1,3 +1,3 @@\n-a photo of a cat\n+a photo of a dog\n" in md


def test_markdown_escapes_pipes_in_values():
    a = {"1": {"class_type": "Note", "inputs": {"text": "a | b"}}}
    b = {"1": {"class_type": "Note", "inputs": {"text": "a | c"}}}
    md = render_markdown(diff_jobs(job_from_document(a), job_from_document(b)))
    assert '`"a \\| b"` | `"a \\| c"` |' in md


@pytest.mark.parametrize(("ratio", "shown"), [(0.0, "0%"), (1.0, "100%"), (9216 / 262144, "3.5156%"),
                                              (2 / (2048 * 2048), "0.000048%"), (1 / 3, "33.3333%")])
def test_a_changed_pixel_ratio_never_rounds_a_change_to_0_percent(ratio, shown):
    from replay.diff_render import format_percent

    assert format_percent(ratio) == shown


IMG = "<img src=https://evil.example/t.png>"


def test_markdown_from_a_hostile_job_shows_its_markup_as_text_for_a_comment_renderer():
    # A backtick in a value used to end its code span, so the <img> after it became markup in a PR comment.
    a = {"1": {"class_type": "Note", "inputs": {"text": "plain"}, "_meta": {"title": "t"}},
         "2": {"class_type": "Note", "inputs": {"text": "one\ntwo\nthree"}}}
    b = {"1": {"class_type": "Note", "inputs": {"text": f"x`{IMG}"}, "_meta": {"title": f"``{IMG}"}},
         "2": {"class_type": "Note", "inputs": {"text": f"one\n```\n{IMG}\nthree"}},
         "3": {"class_type": IMG, "inputs": {}}}
    md = render_markdown(diff_jobs(job_from_document(a), job_from_document(b)))
    assert f'| 1 | Note | `text` | `"plain"` | `` "x`{IMG}" `` |' in md
    assert f'| 1 | Note | title | `"t"` | ``` "``{IMG}" ``` |' in md
    assert "| 3 | &lt;img src=https://evil.example/t.png&gt; | added |  |  |" in md
    block = md[md.index("<details>"):]
    assert f"````diff\n@@ -1,3 +1,4 @@\n one\n-two\n+```\n+{IMG}\n three\n````\n</details>" in block
    outside_code = re.sub(r"(`+)[^`].*?\1(?!`)", "", md.replace("````diff", "").split("<details>")[0])
    assert "<img" not in outside_code


# ---------------------------------------------------------------------------------------------- CLI


def run(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdin=io.BytesIO(b""), stdout=out, stderr=err, env=env or {})
    return code, out.getvalue(), err.getvalue()


def test_cli_diff_exit_code_is_1_only_when_different_and_asked():
    a, b = str(CASES_DIR / "changed_input_a.json"), str(CASES_DIR / "changed_input_b.json")
    assert run(["diff", a, b])[0] == 0
    assert run(["diff", a, b, "--exit-code"])[0] == 1
    assert run(["diff", a, a, "--exit-code"])[0] == 0


def test_cli_diff_json_is_the_library_result():
    a, b = str(CASES_DIR / "ignore_seeds_a.json"), str(CASES_DIR / "ignore_seeds_b.json")
    code, out, _ = run(["diff", a, b, "--json", "--ignore", "root[*]['inputs']['seed']"])
    assert code == 0
    assert json.loads(out)["nodes"] == load("diff/ignore_seeds.expected.json")["nodes"]
    assert json.loads(run(["diff", a, b, "--format", "json"])[1])["identical"] is False


def test_cli_diff_passes_tolerance_layout_and_ui_options():
    case = str(CASES_DIR / "numeric_tolerance")
    out = json.loads(run(["diff", f"{case}_a.json", f"{case}_b.json", "--json", "--tolerance", "0.001"])[1])
    assert [c["name"] for n in out["nodes"]["changed"] for c in n["inputs"]] == ["denoise"]
    case = str(CASES_DIR / "ui_layout_only")
    assert run(["diff", f"{case}_a.json", f"{case}_b.json", "--exit-code"])[0] == 0
    assert run(["diff", f"{case}_a.json", f"{case}_b.json", "--exit-code", "--include-layout"])[0] == 1
    job = str(DATA / "oss/success_a.job.json")
    assert json.loads(run(["diff", job, job, "--ui", "--json"])[1])["compared"] == "ui"


def test_cli_diff_markdown_and_text_formats():
    a, b = str(CASES_DIR / "changed_input_a.json"), str(CASES_DIR / "changed_input_b.json")
    assert run(["diff", a, b, "--format", "md"])[1].startswith("### comfy-replay diff\n")
    code, out, _ = run(["diff", a, b], env={})
    assert "seed: 42 -> 43" in out and "\x1b[" not in out


def test_cli_diff_bad_input_exits_2_with_one_line():
    a = str(CASES_DIR / "changed_input_a.json")
    ui = str(CASES_DIR / "ui_widget_change_a.json")
    for argv in (["diff", a, ui], ["diff", "-", "-"], ["diff", a, a, "--ignore", "root[**"],
                 ["diff", a, a, "--tolerance", "-1"], ["diff", a, a, "--format", "yaml"]):
        code, out, err = run(argv)
        assert code == 2, (argv, err)
        assert err.startswith("comfy-replay: error: ") and err.count("\n") == 1, err


def test_asking_for_layout_compares_the_ui_graphs_of_two_jobs():
    job = job_from_document(load("oss/success_a.job.json"))
    assert diff_jobs(job, job).compared == "prompt"
    assert diff_jobs(job, job, include_layout=True).compared == "ui"


def test_nan_on_both_sides_is_the_same_value_and_a_missing_title_reads_none():
    a = {"1": {"class_type": "X", "inputs": {"v": float("nan")}, "_meta": {"title": "T"}}}
    b = {"1": {"class_type": "X", "inputs": {"v": float("nan")}}}
    d = diff_jobs(job_from_document(a), job_from_document(b))
    assert not d.nodes.changed and [(t.a, t.b) for t in d.titles] == [("T", None)]
    assert 'title 1 X: "T" -> (none)' in render_text(d)


def test_a_tolerance_never_hides_a_link_moved_to_another_slot():
    a = {"1": {"class_type": "X", "inputs": {"image": ["2", 0], "w": 1.0}}, "2": {"class_type": "Y", "inputs": {}}}
    b = copy.deepcopy(a)
    b["1"]["inputs"].update(image=["2", 1], w=1.5)
    d = diff_jobs(job_from_document(a), job_from_document(b), tolerance=5)
    assert [(c.name, c.a, c.b) for n in d.nodes.changed for c in n.inputs] == [("image", ["2", 0], ["2", 1])]
    ui = load("diff/ui_widget_change_a.json")
    moved = copy.deepcopy(ui)
    moved["links"][1][2] = 1  # link 2 now leaves from slot 1 of node 2
    d = diff_jobs(job_from_document(ui), job_from_document(moved), tolerance=5)
    assert [(n.id, c.name, c.a, c.b) for n in d.nodes.changed for c in n.inputs] == [
        ("3", "inputs.image.link", ["2", 0], ["2", 1])]


def test_changes_inside_one_node_come_in_the_same_order_whatever_the_hash_seed() -> None:
    # Two templates whose UI nodes differ in several keys below outputs[0]: deepdiff walks them in an order that
    # follows Python's per-run string hashing, and the output must not.
    import comfyui_workflow_templates_json as package

    folder = Path(package.__file__).parent / "templates"
    a, b = folder / "3d_hunyuan3d_multiview_to_model.json", folder / "3d_hunyuan3d_multiview_to_model_turbo.json"
    outputs = set()
    for seed in ("1", "2", "3", "4", "5"):
        done = subprocess.run([sys.executable, "-m", "replay", "diff", str(a), str(b)], capture_output=True, text=True,
                              env={**os.environ, "PYTHONHASHSEED": seed}, check=False)
        assert done.returncode == 0, done.stderr
        assert "outputs[0]" in done.stdout
        outputs.add(done.stdout)
    assert len(outputs) == 1
