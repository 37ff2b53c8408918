"""Tests of replay.environment: capture from /system_stats, /object_info and UI graphs; first capture stands;
diffs; show and textconv. Drift before a POST is in tests/test_preflight.py."""

from __future__ import annotations

import copy
import gzip
import io
import json
from pathlib import Path
from typing import Any

import pytest
from fakecomfy import FakeComfy
from graphs import node
from helpers import DATA, corpus_files, load

from replay.cli import main
from replay.environment import capture_environment, first_capture_stands, model_inputs, node_packs, pack_of
from replay.environment_diff import diff_environments
from replay.environment_render import summary_line
from replay.recipe import loads_recipe

STATS: dict[str, Any] = load("oss/system_stats.json")
OBJECT_INFO: dict[str, Any] = json.loads(gzip.decompress((DATA / "object_info.json.gz").read_bytes()))
WITH_API: dict[str, Any] = json.loads(gzip.decompress((DATA / "object_info_with_api_nodes.json.gz").read_bytes()))
SUCCESS_A: dict[str, Any] = load("oss/success_a.job.json")
KJ_CLASS = "ImageResizeKJv2"


def run_cli(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(args, stdout=out, stderr=err, env=env)
    return code, out.getvalue(), err.getvalue()


def with_custom_pack(info: dict[str, Any]) -> dict[str, Any]:
    """The recorded definitions plus one class of a custom pack, shaped like ComfyUI serves a custom node."""
    served = dict(info)
    served[KJ_CLASS] = {
        "input": {"required": {"image": ["IMAGE", {}], "width": ["INT", {"default": 512, "min": 0, "max": 8192}]}},
        "input_order": {"required": ["image", "width"]}, "output": ["IMAGE"], "output_is_list": [False],
        "output_name": ["IMAGE"], "name": KJ_CLASS, "display_name": "Resize Image v2",
        "python_module": "custom_nodes.comfyui-kjnodes.nodes.image_nodes", "category": "KJNodes/image",
        "output_node": False,
    }
    return served


def custom_pack_job() -> dict[str, Any]:
    """success_a with an ImageResizeKJv2 between the blur and the invert, its UI node carrying registry facts."""
    detail = copy.deepcopy(SUCCESS_A)
    detail["id"] = "0b5a3a42-3f8e-4c55-9f6b-6a1d2a1c0b11"
    prompt = detail["workflow"]["prompt"]
    prompt["6"] = node(KJ_CLASS, image=["2", 0], width=256)
    prompt["3"]["inputs"]["image"] = ["6", 0]
    ui = detail["workflow"]["extra_data"]["extra_pnginfo"]["workflow"]
    ui["nodes"].append({"id": 6, "type": KJ_CLASS, "pos": [0, 0], "size": [100, 50], "mode": 0, "inputs": [],
                        "outputs": [], "widgets_values": [256],
                        "properties": {"cnr_id": "comfyui-kjnodes", "ver": "1.1.7",
                                       "aux_id": "kijai/ComfyUI-KJNodes"}})
    return detail


# ---------------------------------------------------------------------------------------------- system_stats


def test_capture_keeps_versions_os_packages_and_devices_from_the_recorded_system_stats():
    env = capture_environment(stats=STATS, object_info=None, prompt=None, clock=lambda: 1796306400)
    assert env["captured"] == "fetch"
    assert env["captured_at"] == "2026-12-03T14:00:00Z"
    assert env["system"] == {
        "comfyui_version": "0.33.0",
        "python_version": "3.11.7 (main, May  9 2026, 07:35:25) [GCC 12.2.0]",
        "pytorch_version": "2.14.1+cu130",
        "os": "linux",
        "embedded_python": False,
        "deploy_environment": "local-git",
    }
    assert env["packages"] == {"comfy-aimdo": "0.4.13", "comfy-kitchen": "0.2.31", "comfyui-embedded-docs": "0.5.10",
                               "comfyui-frontend-package": "1.49.6", "comfyui-workflow-templates": "0.11.44"}
    assert env["devices"] == [{"name": "cpu", "type": "cpu", "vram_total": 25276502016}]


def test_capture_never_keeps_argv_free_memory_or_paths():
    text = json.dumps(capture_environment(stats=STATS, object_info=None, prompt=None))
    for left_out in ("argv", "--disable-api-nodes", "main.py", "ram_free", "24196820992", "vram_free", "torch_vram"):
        assert left_out not in text


def test_capture_reads_the_cloud_spelling_of_system_stats():
    cloud = {"system": {"os": "linux", "python_version": "3.12.3", "embedded_python": False,
                        "comfyui_version": "0.33.0", "comfyui_frontend_version": "1.49.6", "cloud_version": "2026.11.1",
                        "pytorch_version": "2.14.1+cu130", "argv": [], "ram_total": 0, "ram_free": 0},
             "devices": [{"name": "cloud", "type": "cuda", "vram_total": 0, "vram_free": 0}]}
    env = capture_environment(stats=cloud, object_info=None, prompt=None)
    assert env["system"]["cloud_version"] == "2026.11.1"
    assert env["system"]["comfyui_frontend_version"] == "1.49.6"
    assert env["devices"] == [{"name": "cloud", "type": "cuda", "vram_total": 0}]
    assert "packages" not in env


# ---------------------------------------------------------------------------------------------- node packs


@pytest.mark.parametrize(("module", "expected"), [
    ("nodes", ("core", "comfy-core")),
    ("comfy_extras.nodes_post_processing", ("core", "comfy-core")),
    ("comfy_api_nodes.nodes_openai", ("api", "comfy_api_nodes")),
    ("custom_nodes.ComfyUI-KJNodes.nodes.nodes", ("custom", "ComfyUI-KJNodes")),
    ("custom_nodes.was_node_suite", ("custom", "was_node_suite")),
    ("/home/me/ComfyUI/custom_nodes.secret_pack", ("custom", "secret_pack")),
    (None, ("other", "unknown")),
])  # fmt: skip
def test_pack_of_tells_core_api_node_and_custom_modules_apart(module, expected):
    assert pack_of(module) == expected


def test_node_packs_from_the_recorded_definitions_with_and_without_api_nodes():
    prompt = {"1": node("EmptyImage"), "2": node("ImageBlur"), "3": node("OpenAIDalle3"), "4": node("SaveImage")}
    with_api = node_packs(prompt, WITH_API, None)
    assert with_api == [
        {"pack": "comfy-core", "source": "core", "classes": ["EmptyImage", "ImageBlur", "SaveImage"]},
        {"pack": "comfy_api_nodes", "source": "api", "classes": ["OpenAIDalle3"]},
    ]
    # The server recorded with --disable-api-nodes has no OpenAIDalle3: it is recorded as missing, not guessed.
    without = node_packs(prompt, OBJECT_INFO, None)
    assert without[-1] == {"pack": "unknown", "source": "missing", "classes": ["OpenAIDalle3"]}


def test_node_packs_take_cnr_id_ver_and_aux_id_from_the_ui_graph():
    detail = custom_pack_job()
    workflow = detail["workflow"]
    packs = node_packs(workflow["prompt"], with_custom_pack(OBJECT_INFO), workflow["extra_data"]["extra_pnginfo"]["workflow"])
    assert packs == [
        {"pack": "comfy-core", "source": "core", "cnr_id": "comfy-core", "ver": "0.33.0",
         "classes": ["EmptyImage", "ImageBlur", "ImageInvert", "PreviewImage", "SaveImage"]},
        {"pack": "comfyui-kjnodes", "source": "custom", "cnr_id": "comfyui-kjnodes", "aux_id": "kijai/ComfyUI-KJNodes",
         "ver": "1.1.7", "classes": [KJ_CLASS]},
    ]


def test_fetch_records_a_custom_pack_served_by_the_test_server(tmp_path: Path):
    with FakeComfy(dialect="oss", object_info=with_custom_pack(OBJECT_INFO)) as fake:
        job_id = fake.add_job(custom_pack_job())
        url = fake.url
        code, out, err = run_cli(["fetch", job_id, "-o", str(tmp_path)], {"COMFY_SERVER": url})
        assert code == 0, err
    env = loads_recipe((tmp_path / f"{job_id}.yaml").read_text())["environment"]
    assert env["captured"] == "fetch"
    assert env["server"] == url
    assert env["system"]["comfyui_version"] == "0.33.0"
    custom = [p for p in env["node_packs"] if p["source"] == "custom"]
    assert custom == [{"pack": "comfyui-kjnodes", "source": "custom", "cnr_id": "comfyui-kjnodes",
                       "aux_id": "kijai/ComfyUI-KJNodes", "ver": "1.1.7", "classes": [KJ_CLASS]}]


def _ui_prompt(ui: dict[str, Any]) -> dict[str, Any]:
    """A prompt-shaped stand-in with one node per UI node class (the templates are UI graphs only)."""
    from replay.environment import ui_nodes

    classes = sorted({str(n.get("type")) for n in ui_nodes(ui) if isinstance(n.get("type"), str)})
    return {str(i): {"class_type": cls, "inputs": {}} for i, cls in enumerate(classes, 1)}


def test_template_corpus_cnr_ids_reach_the_node_packs():
    carrying = 0
    for path in corpus_files():
        text = path.read_text(encoding="utf-8")
        ui = json.loads(text)
        if not isinstance(ui, dict) or not isinstance(ui.get("nodes"), list):
            continue
        packs = node_packs(_ui_prompt(ui), WITH_API, ui)
        found = {p["cnr_id"] for p in packs if "cnr_id" in p}
        has_registry_facts = '"cnr_id"' in text
        carrying += has_registry_facts
        assert bool(found) == has_registry_facts, path.name
        assert all(isinstance(p.get("ver", ""), str) for p in packs)
    # 417 of the package's 644 workflows carry cnr_id/ver in node properties (counted by hand when this was written).
    assert carrying >= 400


# ---------------------------------------------------------------------------------------------- models


def test_model_inputs_are_loader_inputs_and_model_file_names_never_other_combos():
    prompt = {
        "1": node("CheckpointLoaderSimple", ckpt_name="sd/v1-5-pruned-emaonly.safetensors"),
        "2": node("LoraLoader", model=["1", 0], clip=["1", 1], lora_name="detail.safetensors", strength_model=1.0,
                  strength_clip=1.0),
        "3": node("VAELoader", vae_name="pixel_space"),
        "4": node("UpscaleModelLoader", model_name="4x-UltraSharp.pth"),
        "5": node("KlingImageGenerationNode", model_name="kling-v3"),
        "6": node("CLIPVisionLoader", clip_name="clip_vision_g.safetensors"),
        "7": node("SomeCustomLoader", weights="flux1-dev-Q4.gguf"),
    }
    found = [(n, name, value, folder) for n, _cls, name, value, folder, _choices in model_inputs(prompt, WITH_API)]
    assert found == [
        ("1", "ckpt_name", "sd/v1-5-pruned-emaonly.safetensors", "checkpoints"),
        ("2", "lora_name", "detail.safetensors", "loras"),
        ("4", "model_name", "4x-UltraSharp.pth", "upscale_models"),
        ("6", "clip_name", "clip_vision_g.safetensors", "clip_vision"),
        ("7", "weights", "flux1-dev-Q4.gguf", None),
    ]


def test_models_group_inputs_by_file_take_a_folder_from_the_ui_graph_and_never_guess_a_hash():
    prompt = {"1": node("SomeCustomLoader", weights="flux1-dev-Q4.gguf"),
              "2": node("CheckpointLoaderSimple", ckpt_name="a.safetensors"),
              "3": node("CheckpointLoaderSimple", ckpt_name="a.safetensors")}
    ui = {"nodes": [{"id": 1, "type": "SomeCustomLoader", "properties": {
        "models": [{"name": "flux1-dev-Q4.gguf", "url": "https://example.org/f.gguf", "directory": "unet",
                    "hash": "abc", "hash_type": "sha256"}]}}], "links": []}
    env = capture_environment(stats=None, object_info=WITH_API, prompt=prompt, ui_workflow=ui)
    assert env["models"] == [
        {"folder": "checkpoints", "name": "a.safetensors", "inputs": ["2.ckpt_name", "3.ckpt_name"]},
        {"folder": "unet", "name": "flux1-dev-Q4.gguf", "inputs": ["1.weights"]},
    ]


# ---------------------------------------------------------------------------------------------- first capture


def test_first_capture_stands_unless_the_new_one_was_made_at_run_time():
    fetched = {"captured": "fetch", "captured_at": "2026-01-01T00:00:00Z"}
    later = {"captured": "fetch", "captured_at": "2026-06-01T00:00:00Z"}
    run = {"captured": "run", "captured_at": "2026-06-01T00:00:00Z"}
    assert first_capture_stands(fetched, later) == fetched
    assert first_capture_stands(fetched, run) == run
    assert first_capture_stands(run, later) == run
    assert first_capture_stands(None, later) == later


def test_fetching_again_after_the_server_changed_leaves_the_recipe_byte_for_byte(tmp_path: Path):
    with FakeComfy(dialect="oss", object_info=OBJECT_INFO) as fake:
        job_id = fake.add_job(SUCCESS_A)
        env = {"COMFY_SERVER": fake.url}
        assert run_cli(["fetch", job_id, "-o", str(tmp_path)], env)[0] == 0
        first = (tmp_path / f"{job_id}.yaml").read_bytes()
        upgraded = copy.deepcopy(STATS)
        upgraded["system"]["comfyui_version"] = "0.34.0"
        fake.system_stats = upgraded
        code, out, err = run_cli(["fetch", job_id, "-o", str(tmp_path)], env)
    assert code == 0, err
    assert "(unchanged)" in out
    assert (tmp_path / f"{job_id}.yaml").read_bytes() == first
    assert b"0.34.0" not in first


def test_a_failing_system_stats_leaves_the_versions_out_and_is_asked_once(tmp_path: Path):
    second = copy.deepcopy(SUCCESS_A)
    second["id"] = "5d3f0a4e-8c1b-4a57-9a0e-2f6b7c8d9e10"
    with FakeComfy(dialect="oss", object_info=OBJECT_INFO) as fake:
        job_id = fake.add_job(SUCCESS_A)
        fake.add_job(second)
        fake.fault(r"/(api/)?system_stats", code=404, times=None)
        code, _out, err = run_cli(["fetch", job_id, second["id"], "-o", str(tmp_path)], {"COMFY_SERVER": fake.url})
        assert fake.hits["/api/system_stats"] == 1
        assert fake.hits["/api/object_info"] == 1
    assert code == 0, err
    assert "no /system_stats" in err
    env = loads_recipe((tmp_path / f"{job_id}.yaml").read_text())["environment"]
    assert "system" not in env
    assert env["node_packs"][0]["pack"] == "comfy-core"


# ---------------------------------------------------------------------------------------------- diff, show, textconv


def _env(comfyui: str, pytorch: str, ver: str, model: str) -> dict[str, Any]:
    return {"captured": "fetch", "captured_at": "2026-12-01T00:00:00Z",
            "system": {"comfyui_version": comfyui, "python_version": "3.11.7 (main)", "pytorch_version": pytorch,
                       "os": "linux"},
            "packages": {"comfyui-frontend-package": "1.49.6"},
            "devices": [{"name": "cuda:0 NVIDIA GeForce RTX 4090", "type": "cuda", "vram_total": 25393692672}],
            "node_packs": [{"pack": "comfyui-kjnodes", "source": "custom", "cnr_id": "comfyui-kjnodes", "ver": ver,
                            "classes": [KJ_CLASS]}],
            "models": [{"folder": "checkpoints", "name": model, "inputs": ["4.ckpt_name"]}]}


def test_diff_environments_names_versions_up_and_down_packs_and_models():
    a = _env("0.33.0", "2.14.1+cu130", "1.1.7", "a.safetensors")
    b = _env("0.10.0", "2.15.0+cu130", "1.2.0", "b.safetensors")
    changes = [str(c) for c in diff_environments(a, b)]
    assert changes == [
        "ComfyUI: 0.33.0 -> 0.10.0 (down)",
        "PyTorch: 2.14.1+cu130 -> 2.15.0+cu130 (up)",
        "node pack comfyui-kjnodes: 1.1.7 -> 1.2.0 (up)",
        "model checkpoints/a.safetensors: removed (was 4.ckpt_name)",
        "model checkpoints/b.safetensors: added (4.ckpt_name)",
    ]
    assert diff_environments(a, copy.deepcopy(a)) == []
    assert diff_environments(a, None) == []


def _recipe_with(tmp_path: Path, name: str, environment: dict[str, Any] | None) -> Path:
    from replay.jobs import job_from_detail
    from replay.recipe import build_recipe, write_recipe

    job = job_from_detail(SUCCESS_A)
    job.environment = environment
    path = tmp_path / name
    write_recipe(path, build_recipe(job), force=True)
    return path


def test_diff_shows_environment_changes_in_text_json_and_markdown(tmp_path: Path):
    a = _recipe_with(tmp_path, "a.yaml", _env("0.33.0", "2.14.1+cu130", "1.1.7", "m.safetensors"))
    b = _recipe_with(tmp_path, "b.yaml", _env("0.34.1", "2.14.1+cu130", "1.1.7", "m.safetensors"))
    code, text, _ = run_cli(["diff", str(a), str(b)], {})
    assert code == 0
    assert "environment:\n  ComfyUI: 0.33.0 -> 0.34.1 (up)\n" in text
    code, raw, _ = run_cli(["diff", str(a), str(b), "--format", "json"], {})
    data = json.loads(raw)
    assert data["environment"] == [{"kind": "system", "name": "ComfyUI", "change": "up", "a": "0.33.0", "b": "0.34.1"}]
    assert data["identical"] is True  # the same prompt and results; where they ran is reported beside
    code, md, _ = run_cli(["diff", str(a), str(b), "--format", "md"], {})
    assert "### Environment" in md
    assert "| system | ComfyUI | 0.33.0 | 0.34.1 | up |" in md


def test_an_older_recipe_without_environment_loads_and_diffs(tmp_path: Path):
    old = _recipe_with(tmp_path, "old.yaml", None)
    new = _recipe_with(tmp_path, "new.yaml", _env("0.33.0", "2.14.1+cu130", "1.1.7", "m.safetensors"))
    assert "environment" not in loads_recipe(old.read_text())
    code, text, err = run_cli(["diff", str(old), str(new)], {})
    assert code == 0, err
    assert "environment" not in text
    code, out, err = run_cli(["show", str(old)], {})
    assert code == 0, err
    assert "environment" not in out


def test_show_prints_one_environment_line(tmp_path: Path):
    path = _recipe_with(tmp_path, "r.yaml", _env("0.33.0", "2.14.1+cu130", "1.1.7", "m.safetensors"))
    code, out, _ = run_cli(["show", str(path)], {})
    assert code == 0
    lines = [line for line in out.splitlines() if line.startswith("environment")]
    assert lines == ["environment  ComfyUI 0.33.0; PyTorch 2.14.1+cu130; Python 3.11.7; linux; "
                     "cuda cuda:0 NVIDIA GeForce RTX 4090; 1 node pack (comfyui-kjnodes); 1 model; "
                     "captured at fetch time 2026-12-01T00:00:00Z"]
    assert summary_line(None) is None


def test_textconv_renders_the_environment_so_git_diff_shows_version_changes(tmp_path: Path):
    path = _recipe_with(tmp_path, "r.yaml", _env("0.33.0", "2.14.1+cu130", "1.1.7", "m.safetensors"))
    code, out, _ = run_cli(["textconv", str(path)], {})
    assert code == 0
    assert "environment ComfyUI: 0.33.0\n" in out
    assert "environment PyTorch: 2.14.1+cu130\n" in out
    assert f"environment pack comfyui-kjnodes (custom) cnr_id=comfyui-kjnodes ver=1.1.7: {KJ_CLASS}\n" in out
    assert "environment model checkpoints/m.safetensors: 4.ckpt_name\n" in out


def test_recipes_with_an_environment_validate_and_one_holding_argv_does_not(tmp_path: Path):
    good = _recipe_with(tmp_path, "good.yaml", _env("0.33.0", "2.14.1+cu130", "1.1.7", "m.safetensors"))
    assert run_cli(["validate", str(good)], {})[0] == 0
    leaky = _env("0.33.0", "2.14.1+cu130", "1.1.7", "m.safetensors")
    leaky["system"]["argv"] = ["main.py"]
    bad = _recipe_with(tmp_path, "bad.yaml", leaky)
    code, out, _ = run_cli(["validate", str(bad)], {})
    assert code == 1
    assert "$.environment.system: an environment never holds argv or free memory" in out


def test_drift_says_what_the_recipe_recorded_when_it_was_captured_at_fetch_time():
    from replay.environment_diff import environment_drift

    prompt = {"1": node("EmptyImage"), "2": node(KJ_CLASS, image=["1", 0]), "3": node("SaveImage", images=["2", 0])}
    recorded = capture_environment(stats=STATS, object_info=with_custom_pack(OBJECT_INFO), prompt=prompt)
    recorded["system"]["comfyui_version"] = "0.30.1"
    moved = with_custom_pack(OBJECT_INFO)
    moved[KJ_CLASS] = {**moved[KJ_CLASS], "python_module": "custom_nodes.ComfyUI-KJNodes-fork.nodes"}
    drift = environment_drift(recorded, stats=STATS, object_info=moved, prompt=prompt)
    assert [str(d) for d in drift] == [
        "ComfyUI 0.33.0 on the server, the recipe recorded 0.30.1 (newer on the server)",
        f"node class {KJ_CLASS} comes from ComfyUI-KJNodes-fork on the server, from comfyui-kjnodes in the recipe",
    ]
    assert environment_drift(recorded, stats=STATS, object_info=with_custom_pack(OBJECT_INFO), prompt=prompt)[1:] == []


def test_show_json_carries_the_whole_environment_section(tmp_path: Path):
    env = _env("0.33.0", "2.14.1+cu130", "1.1.7", "m.safetensors")
    path = _recipe_with(tmp_path, "r.yaml", env)
    code, out, _ = run_cli(["show", str(path), "--json"], {})
    assert code == 0
    assert json.loads(out)["environment"] == env


def test_fetching_an_older_recipe_file_does_not_invent_an_environment(tmp_path: Path):
    from replay.jobs import job_from_detail
    from replay.recipe import build_recipe, write_recipe

    with FakeComfy(dialect="oss", object_info=OBJECT_INFO) as fake:
        old = tmp_path / "old.yaml"
        write_recipe(old, build_recipe(job_from_detail(SUCCESS_A), server=fake.url))
        code, _out, err = run_cli(["fetch", str(old), "-o", str(tmp_path / "again.yaml")], {"COMFY_SERVER": fake.url})
        assert code == 0, err
        assert fake.hits["/api/system_stats"] == 0
    assert "environment" not in loads_recipe((tmp_path / "again.yaml").read_text())


def test_a_model_hash_is_recorded_only_from_an_asset_reference_the_server_gave():
    asset = {"__type": "core/ASSET", "info": {"id": "6f1c2b9e-0d7a-4e55-8f3e-2b1a0c9d8e7f",
                                               "hash": "blake3:9f2c", "file_path": "sdxl.safetensors"}}
    prompt = {"1": node("CheckpointLoaderSimple", ckpt_name=asset), "2": node("LoraLoader", lora_name="x.safetensors")}
    env = capture_environment(stats=None, object_info=WITH_API, prompt=prompt)
    assert env["models"] == [
        {"folder": "checkpoints", "name": "sdxl.safetensors", "inputs": ["1.ckpt_name"], "hash": "blake3:9f2c"},
        {"folder": "loras", "name": "x.safetensors", "inputs": ["2.lora_name"]},
    ]


def test_archive_refresh_keeps_the_first_capture_even_for_a_job_that_changed(tmp_path: Path):
    from fakecomfy_run import bulk_jobs

    from replay.archive import archive
    from replay.client import Client

    details = [d for d in bulk_jobs(6, 2) if d["status"] == "completed"][:3]
    with FakeComfy(dialect="oss") as fake:
        fake.add_jobs(details)
        with Client(fake.url) as client:
            first = archive(client, tmp_path)
        before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
        upgraded = copy.deepcopy(STATS)
        upgraded["system"]["pytorch_version"] = "2.15.0+cu130"
        fake.system_stats = upgraded
        fake.add_job(dict(details[0], priority=99))
        with Client(fake.url) as client:
            refreshed = archive(client, tmp_path, refresh=True)
    assert len(first.written) == 3
    changed = f"{details[0]['id']}.yaml"
    assert refreshed.written == [str(tmp_path / changed)]
    after = loads_recipe((tmp_path / changed).read_text())
    assert after["job"]["priority"] == 99
    assert after["environment"] == loads_recipe(before[changed])["environment"]
    assert after["environment"]["system"]["pytorch_version"] == "2.14.1+cu130"
