"""`--set` keeps the UI graph in step with the prompt (issue 15 item 3), over HTTP against the fake server.

The recorded failed job (`oss/fail_runtime_zerodiv.job.json`) has the UI graph its client sent: node 6 is a
PrimitiveInt stored as `[0, "fixed"]`, node 7 an ImageScale whose width widget is fed by a link.
"""

from __future__ import annotations

import copy
import gzip
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fakecomfy import FakeComfy
from helpers import DATA, load

from replay.cli import main
from replay.convert import widget_slot
from replay.nodedefs import NodeDefs
from replay.recipe import loads_recipe

JOB_FILE = str(DATA / "oss/fail_runtime_zerodiv.job.json")
JOB_ID = "f7838b83-aab4-48ed-96a5-1e0cb6760bc6"
OBJECT_INFO_FILE = str(DATA / "object_info.json.gz")
DEFS = NodeDefs.from_dict(json.loads(gzip.decompress((DATA / "object_info.json.gz").read_bytes())))


def recorded_ui() -> dict[str, Any]:
    ui: dict[str, Any] = load("oss/fail_runtime_zerodiv.job.json")["workflow"]["extra_data"]["extra_pnginfo"]["workflow"]
    return ui


def ui_node(ui: dict[str, Any], node_id: int) -> dict[str, Any]:
    found: dict[str, Any] = next(n for n in ui["nodes"] if n["id"] == node_id)
    return found


@pytest.fixture
def server() -> Iterator[FakeComfy]:
    fake = FakeComfy(dialect="oss", object_info=None, run_polls=0).start()
    fake.add_job(load("oss/fail_runtime_zerodiv.job.json"))
    yield fake
    fake.stop()
    assert not fake.errors, "\n".join(fake.errors)


def run(args: list[str], server: FakeComfy) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(args, stdout=out, stderr=err, env={"COMFY_SERVER": server.url})
    return code, out.getvalue(), err.getvalue()


def test_widget_slot_skips_control_values_and_linked_widgets() -> None:
    ui = recorded_ui()
    assert widget_slot(ui_node(ui, 6), "value", DEFS) == 0  # [0, "fixed"]
    assert widget_slot(ui_node(ui, 1), "color", DEFS) == 3  # [128, 128, 1, 65280]
    assert widget_slot(ui_node(ui, 7), "height", DEFS) == 2  # ["bilinear", ["5", 1], 128, "disabled"]
    assert widget_slot(ui_node(ui, 7), "width", DEFS) is None  # fed by a link
    assert widget_slot(ui_node(ui, 7), "image", DEFS) is None  # a socket, not a widget
    template = json.loads((DATA / "templates/flux_schnell.json").read_text(encoding="utf-8"))
    sampler = ui_node(template, 31)  # [seed, "randomize", steps, cfg, sampler, scheduler, denoise]
    assert [widget_slot(sampler, name, DEFS) for name in ("seed", "steps", "cfg", "denoise")] == [0, 2, 3, 6]
    assert widget_slot({"type": "NoSuchNode", "widgets_values": [1]}, "x", DEFS) is None


def test_submit_with_set_sends_the_ui_graph_with_the_widget_changed(server: FakeComfy) -> None:
    code, _, err = run(["submit", JOB_FILE, "--set", "6.value=2", "--object-info", OBJECT_INFO_FILE], server)
    assert code == 0, err
    body = server.submissions[-1]
    assert body["prompt"]["6"]["inputs"]["value"] == 2
    expected = recorded_ui()
    ui_node(expected, 6)["widgets_values"] = [2, "fixed"]
    assert body["extra_data"]["extra_pnginfo"]["workflow"] == expected


def test_submit_with_set_on_a_linked_widget_leaves_the_ui_graph_out_with_a_note(server: FakeComfy) -> None:
    code, _, err = run(["submit", JOB_FILE, "--set", "7.width=64", "--object-info", OBJECT_INFO_FILE], server)
    assert code == 0, err
    body = server.submissions[-1]
    assert body["prompt"]["7"]["inputs"]["width"] == 64
    assert "extra_data" not in body
    assert "note: the UI graph is left out: --set 7.width=64 cannot be shown in it" in err


def test_submit_with_set_and_no_definitions_anywhere_leaves_the_ui_graph_out(server: FakeComfy) -> None:
    code, _, err = run(["submit", JOB_FILE, "--set", "6.value=2", "--no-preflight"], server)
    assert code == 0, err
    assert "extra_data" not in server.submissions[-1]
    assert "(without node definitions)" in err


def test_submit_without_set_sends_the_ui_graph_unchanged(server: FakeComfy) -> None:
    code, _, err = run(["submit", JOB_FILE, "--no-preflight"], server)
    assert code == 0, err
    assert server.submissions[-1]["extra_data"]["extra_pnginfo"]["workflow"] == recorded_ui()


def test_repro_of_a_job_id_with_set_writes_and_sends_a_ui_graph_that_agrees(server: FakeComfy, tmp_path) -> None:
    server.object_info = json.loads(gzip.decompress((DATA / "object_info.json.gz").read_bytes()))
    code, _, err = run(["repro", JOB_ID, "--set", "2.blur_radius=5", "--submit", "-o", str(tmp_path)], server)
    assert code == 0, err
    expected = recorded_ui()
    ui_node(expected, 2)["widgets_values"] = [5, 1.0]
    assert server.submissions[-1]["extra_data"]["extra_pnginfo"]["workflow"] == expected
    recipe = loads_recipe((tmp_path / f"{JOB_ID}.repro.yaml").read_bytes())
    assert recipe["ui_workflow"] == expected
    # and the UI diff of the job and its repro now shows the change the prompt has
    code, out, err = run(["diff", JOB_FILE, str(tmp_path / f"{JOB_ID}.repro.yaml"), "--ui", "--json"], server)
    assert code == 0, err
    changed = json.loads(out)["nodes"]["changed"]
    assert changed == [{"id": "2", "class_type": "ImageBlur", "inputs": [{"name": "widgets_values[0]", "a": 3, "b": 5}]}]


def test_the_original_ui_graph_is_never_modified() -> None:
    from replay.submit import ui_with_sets
    from replay.workflow import parse_set

    ui = recorded_ui()
    before = copy.deepcopy(ui)
    updated, note = ui_with_sets(ui, [parse_set("6.value=9")], DEFS)
    assert note is None and updated is not None and ui_node(updated, 6)["widgets_values"] == [9, "fixed"]
    assert ui == before


def test_a_set_that_makes_an_input_a_link_leaves_the_ui_graph_out() -> None:
    from replay.submit import ui_with_sets
    from replay.workflow import parse_set

    updated, note = ui_with_sets(recorded_ui(), [parse_set('7.height=["4", 0]')], DEFS)
    assert updated is None and note is not None and "7.height" in note
