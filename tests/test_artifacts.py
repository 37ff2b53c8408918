"""Artifacts: outputs recorded by content in recipes, compared by `diff`, downloaded by fetch/archive --outputs,
and which nodes ComfyUI took from its cache (show, diff, repro)."""

from __future__ import annotations

import copy
import io
import json
import shutil
from pathlib import Path

import pytest
from helpers import DATA, load
from PIL import Image, PngImagePlugin

from replay.cli import main
from replay.diff import diff_jobs
from replay.diff_render import render_markdown, render_text, to_json
from replay.errors import DocumentError
from replay.jobs import Job, cached_nodes, job_from_document
from replay.outputs import OutputStore, describe_file
from replay.recipe import build_recipe, dumps_recipe, export_job, job_from_recipe, loads_recipe
from replay.summary import render_summary, summarize
from replay.validate import validate_document

OUT = DATA / "outputs"
RUN1, RUN2, RUN3 = "success_a_run1.job.json", "success_a_run2_cached.job.json", "success_a_run3_after_free.job.json"
# sha256sum of the recorded files, computed with coreutils (not with comfy-replay)
SAVED_SHA = "268ea954b6c681424bfddb2786ef8fe9a30c6bb52ee777c28962c07a0347f461"  # success_a_0000{1,2}_.png
TEMP_SHA = "0481c9c24e0472c75312a0144fa08b04bd3aa732c8a138f71772ac9ad88d5b87"  # the temp previews


def run(argv, *, env=None):
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdin=io.BytesIO(b""), stdout=out, stderr=err, env=env if env is not None else {})
    return code, out.getvalue(), err.getvalue()


def recorded(name: str) -> dict:
    return load(f"outputs/{name}")


def stored(store: OutputStore, source: Path, *, node: str, key: str = "images", index: int = 0, filename: str,
           subfolder: str = "", kind: str = "output") -> dict:
    """Put a file into a store as download_outputs would, and return its artifact."""
    described = describe_file(source, filename)
    store.root.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(source, store.root / f"{described['sha256']}{source.suffix}")
    return {"node": node, "key": key, "index": index, "filename": filename, "subfolder": subfolder, "type": kind,
            **described}


def run_artifacts(detail: dict, store: OutputStore) -> list[dict]:
    """The artifacts of one of the recorded success_a runs, from the recorded files (runs 1 and 3 gave the same
    bytes; the recording keeps one copy of each)."""
    saved = detail["outputs"]["4"]["images"][0]
    temp = detail["outputs"]["5"]["images"][0]
    return [stored(store, OUT / "files/ComfyUI_temp_dzllh_00001_.png", node="5", filename=temp["filename"],
                   kind="temp"),
            stored(store, OUT / "files/success_a_00002_.png", node="4", filename=saved["filename"],
                   subfolder="reftest")]


# ---------------------------------------------------------------------------------------------- recipes


def test_recipe_writes_artifacts_after_ui_workflow_in_the_documented_key_order():
    job = Job(kind="prompt", prompt={
        "10": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "success_a"}},
        "2": {"class_type": "EmptyImage", "inputs": {"width": 256, "height": 192}},
    }, repro={"mode": "full"})
    job.artifacts = [
        {"pixels": "0c2482bd00aa697586fc3dab8a2b6e7cdf05610ebd4061c953e64bb906c7fb2b", "frames": 1, "height": 192,
         "width": 256, "media_type": "image/png", "size": 3338, "sha256": SAVED_SHA, "type": "output",
         "subfolder": "reftest", "filename": "success_a_00002_.png", "index": 0, "key": "images", "node": "10"},
        {"missing": True, "type": "temp", "subfolder": "", "filename": "gone_00001_.png", "index": 1,
         "key": "images", "node": "10"},
    ]
    text = dumps_recipe(build_recipe(job))
    assert text == (OUT / "prompt_with_artifacts.recipe.yaml").read_text(encoding="utf-8")


def test_artifacts_survive_a_round_trip_and_do_not_change_export_job(tmp_path):
    detail = recorded(RUN1)
    job = job_from_document(copy.deepcopy(detail))
    job.artifacts = run_artifacts(detail, OutputStore(tmp_path))
    recipe = loads_recipe(dumps_recipe(build_recipe(job)))
    assert list(recipe)[-1] == "artifacts" and list(recipe).index("artifacts") > list(recipe).index("ui_workflow")
    assert job_from_recipe(recipe).artifacts == job.artifacts
    assert export_job(recipe) == detail
    assert validate_document(recipe, "recipe") == []


def test_a_recipe_without_artifacts_stays_valid_and_has_none():
    recipe = loads_recipe(dumps_recipe(build_recipe(job_from_document(recorded(RUN1)))))
    assert "artifacts" not in recipe
    assert job_from_recipe(recipe).artifacts is None
    assert validate_document(recipe, "recipe") == []


@pytest.mark.parametrize(("artifact", "words"), [
    ({"node": "4", "key": "images", "index": 0, "filename": "x.png", "sha256": "abc", "size": 3}, "SHA-256"),
    ({"node": "4", "key": "images", "index": 0, "filename": "x.png"}, "sha256 and size"),
    ({"node": 4, "key": "images", "index": 0, "filename": "x.png", "missing": True}, "string"),
    ({"node": "4", "key": "images", "index": -1, "filename": "x.png", "missing": True}, "at least 0"),
])
def test_validate_names_a_bad_artifact(artifact, words):
    recipe = loads_recipe(dumps_recipe(build_recipe(job_from_document(recorded(RUN1)))))
    recipe["artifacts"] = [artifact]
    problems = validate_document(recipe, "recipe")
    assert problems and problems[0].location.startswith("$.artifacts[0]"), problems
    assert words in problems[0].message, problems


def test_artifacts_that_are_not_a_list_of_mappings_are_a_document_error(tmp_path):
    text = dumps_recipe(build_recipe(job_from_document(recorded(RUN1)))) + "artifacts: [x.png]\n"
    with pytest.raises(DocumentError, match="'artifacts' must be a list of mappings"):
        loads_recipe(text)
    (tmp_path / "r.yaml").write_text(text, encoding="utf-8")
    code, out, err = run(["show", str(tmp_path / "r.yaml")])
    assert code == 2 and err.count("\n") == 1 and "artifacts" in err


# ---------------------------------------------------------------------------------------------- cache honesty


def test_cached_nodes_come_from_the_execution_cached_message():
    assert cached_nodes(job_from_document(recorded(RUN2))) == ["1", "2", "3", "4", "5"]
    assert cached_nodes(job_from_document(recorded(RUN1))) == []


def test_a_job_that_does_not_report_its_cache_says_nothing():
    detail = recorded(RUN2)
    del detail["execution_status"]  # as Comfy Cloud may serve it
    job = job_from_document(detail)
    assert cached_nodes(job) is None
    assert summarize(job)["cached"] is None
    assert "cached" not in render_summary(summarize(job))


def test_show_says_a_fully_cached_run_recomputed_nothing():
    code, out, _ = run(["show", str(OUT / RUN2)])
    assert code == 0
    assert "cached    5 of 5 nodes: 1, 2, 3, 4, 5 (nothing was recomputed)\n" in out
    code, out, _ = run(["show", str(OUT / RUN1), "--json"])
    assert json.loads(out)["cached"] == []


def test_diff_names_the_nodes_a_run_took_from_cache():
    d = diff_jobs(job_from_document(recorded(RUN1)), job_from_document(recorded(RUN2)))
    assert d.cached == ([], ["1", "2", "3", "4", "5"]) and d.outputs_cached == (False, True)
    assert to_json(d)["cached"] == {"a": [], "b": ["1", "2", "3", "4", "5"]}
    assert "\nb recomputed none of its outputs: its results say nothing about a new run\n" in render_text(d)
    assert "from cache: a none; b nodes 1, 2, 3, 4, 5 (taken from ComfyUI's cache, not run again)" in render_text(d)
    assert "| from cache | none | nodes 1, 2, 3, 4, 5 |" in render_markdown(d)


def test_diff_of_runs_that_took_nothing_from_cache_adds_no_cache_line():
    d = diff_jobs(job_from_document(recorded(RUN1)), job_from_document(recorded(RUN3)))
    assert d.cached == ([], [])
    assert "cache" not in render_text(d) and "cache" not in render_markdown(d)


# ---------------------------------------------------------------------------------------------- diff by content


def test_runs_1_and_3_are_identical_by_content_although_their_file_names_differ(tmp_path):
    store = OutputStore(tmp_path)
    a, b = job_from_document(recorded(RUN1)), job_from_document(recorded(RUN3))
    # Without artifacts the file names are all there is to compare: both outputs look changed.
    assert not diff_jobs(a, b).identical
    a.artifacts, b.artifacts = run_artifacts(recorded(RUN1), store), run_artifacts(recorded(RUN3), store)
    d = diff_jobs(a, b, stores=(store, store))
    assert d.identical and d.stores == (store, store)
    assert [(p.node, p.key, p.index, p.result) for p in d.pairs] == [("5", "images", 0, "identical"),
                                                                     ("4", "images", 0, "identical")]
    assert d.outputs is not None and d.outputs.nodes == ()
    data = to_json(d)
    assert data["identical"] is True
    assert [p["b"]["filename"] for p in data["outputs"]["pairs"]] == ["ComfyUI_temp_dzllh_00001_.png",
                                                                      "success_a_00002_.png"]
    assert data["outputs"]["pairs"][1]["a"]["sha256"] == SAVED_SHA
    text = render_text(d)
    assert "outputs by content: 2 files, all identical (file names aside)" in text
    assert "success_a_00001_.png" not in text and text.endswith("identical prompt and results\n")


def _png(path: Path, pixels: dict[tuple[int, int], tuple[int, int, int]] | None = None, *, size=(32, 24),
         text: str = "") -> Path:
    image = Image.new("RGB", size, (40, 80, 120))
    for xy, colour in (pixels or {}).items():
        image.putpixel(xy, colour)
    info = PngImagePlugin.PngInfo()
    if text:
        info.add_text("prompt", text)
    image.save(path, pnginfo=info)
    return path


def _image_jobs(tmp_path: Path, file_a: Path, file_b: Path) -> tuple[Job, Job, OutputStore]:
    store = OutputStore(tmp_path / "store")
    jobs = []
    for number, source in enumerate((file_a, file_b), start=1):
        detail = recorded(RUN1)
        detail["id"] = f"00000000-0000-4000-8000-00000000000{number}"
        name = f"pic_0000{number}_.png"
        detail["outputs"] = {"9": {"images": [{"filename": name, "subfolder": "", "type": "output"}]}}
        job = job_from_document(detail)
        job.artifacts = [stored(store, source, node="9", filename=name)]
        jobs.append(job)
    return jobs[0], jobs[1], store


def test_same_pixels_with_other_metadata_are_the_same_output(tmp_path):
    a, b, store = _image_jobs(tmp_path, _png(tmp_path / "a.png", text="seed 1"), _png(tmp_path / "b.png", text="seed 2"))
    d = diff_jobs(a, b, stores=(store, store))
    assert [p.result for p in d.pairs] == ["same-pixels"] and d.identical
    assert "all same-pixels (file names aside)" in render_text(d)


def test_one_changed_pixel_is_reported_with_its_numbers(tmp_path):
    a, b, store = _image_jobs(tmp_path, _png(tmp_path / "a.png"), _png(tmp_path / "b.png", {(3, 4): (40, 80, 160)}))
    d = diff_jobs(a, b, stores=(store, store))
    (pair,) = d.pairs
    assert pair.result == "different" and not d.identical
    assert pair.metrics["changed_pixels"] == 1 and pair.metrics["max_diff"] == 40
    assert pair.metrics["changed_ratio"] == pytest.approx(1 / (32 * 24), abs=1e-8)
    text = render_text(d)
    assert "outputs by content: 0 of 1 file the same" in text
    assert "9 images[0]: different: 1 pixel changed (0.1302%), max diff 40" in text
    md = render_markdown(d)
    assert "| 9 images[0] | different | `pic_00001_.png` | `pic_00002_.png` | 1 pixel changed" in md


def test_a_size_change_is_incomparable_and_says_so(tmp_path):
    a, b, store = _image_jobs(tmp_path, _png(tmp_path / "a.png"), _png(tmp_path / "b.png", size=(32, 25)))
    (pair,) = diff_jobs(a, b, stores=(store, store)).pairs
    assert pair.result == "incomparable" and "32x24 -> 32x25" in pair.why


def _recipe_pair(tmp_path: Path, file_a: Path, file_b: Path) -> tuple[Path, Path]:
    """Two recipes in one folder with their files in outputs/ beside them, as fetch --outputs leaves them."""
    a, b, _ = _image_jobs(tmp_path / "work", file_a, file_b)
    folder = tmp_path / "recipes"
    paths = []
    for job in (a, b):
        path = folder / f"{job.id}.yaml"
        folder.mkdir(exist_ok=True)
        path.write_text(dumps_recipe(build_recipe(job)), encoding="utf-8")
        paths.append(path)
    shutil.copytree(tmp_path / "work/store", folder / "outputs")
    return paths[0], paths[1]


def test_diff_thresholds_accept_a_small_change_and_still_show_the_numbers(tmp_path):
    path_a, path_b = _recipe_pair(tmp_path, _png(tmp_path / "a.png"), _png(tmp_path / "b.png", {(0, 0): (41, 80, 120)}))
    code, out, _ = run(["diff", str(path_a), str(path_b), "--json", "--exit-code"])
    pair = json.loads(out)["outputs"]["pairs"][0]
    assert code == 1 and pair["result"] == "different" and pair["within_tolerance"] is False
    assert pair["metrics"]["max_diff"] == 1
    # a channel difference of 1 is under --pixel-threshold 1: no pixel counts as changed
    code, out, _ = run(["diff", str(path_a), str(path_b), "--json", "--exit-code", "--pixel-threshold", "1"])
    pair = json.loads(out)["outputs"]["pairs"][0]
    assert code == 0 and pair["within_tolerance"] is True and pair["metrics"]["changed_pixels"] == 0
    code, out, _ = run(["diff", str(path_a), str(path_b), "--exit-code", "--max-diff-ratio", "0.01"])
    assert code == 0 and "0 of 1 file the same, 1 more within tolerance" in out
    assert "different: 1 pixel changed" in out and "; within tolerance" in out


@pytest.mark.parametrize("option", [["--pixel-threshold", "256"], ["--max-diff-ratio", "1.5"],
                                    ["--min-psnr", "-3"], ["--max-diff-ratio", "nan"]])
def test_diff_refuses_a_tolerance_out_of_range(tmp_path, option):
    path_a, path_b = _recipe_pair(tmp_path, _png(tmp_path / "a.png"), _png(tmp_path / "b.png"))
    code, out, err = run(["diff", str(path_a), str(path_b), *option])
    assert code == 2 and out == "" and err.startswith("comfy-replay: error: --") and err.count("\n") == 1


# ---------------------------------------------------------------------------------------------- over real HTTP

KEY = "artifacts-test-key-0123456789"
FILES = OUT / "files"
JOB1, JOB2, JOB3 = (recorded(name)["id"] for name in (RUN1, RUN2, RUN3))
SUCCESS_A = ["--workflow-id", recorded(RUN1)["workflow_id"]]  # the three success_a runs, not the multi_outputs job


def serve_recordings(server) -> None:
    """The recorded success_a runs and their files (tests/test_outputs.py), plus the fully cached run 2."""
    from test_outputs import serve_recordings as serve_runs_1_and_3

    serve_runs_1_and_3(server)
    server.add_job(recorded(RUN2))


@pytest.fixture(params=["oss", "cloud"])
def recorded_server(request):
    from fakecomfy import FakeComfy

    with FakeComfy(dialect=request.param, api_key=KEY) as fake:
        serve_recordings(fake)
        yield fake
        assert not fake.errors


def env_for(server) -> dict[str, str]:
    env = {"COMFY_SERVER": server.url}
    if server.dialect == "cloud":
        env["COMFY_API_KEY"] = KEY
    return env


def views(server) -> int:
    return sum(1 for logged in server.requests if "/view" in logged.path)


def test_fetch_outputs_stores_each_content_once_beside_the_recipes_and_diff_finds_runs_1_and_3_identical(
        recorded_server, tmp_path):
    env = env_for(recorded_server)
    recipes = tmp_path / "recipes"
    code, out, err = run(["fetch", JOB1, JOB3, "-o", str(recipes), "--outputs"], env=env)
    assert code == 0, err
    assert sorted(p.name for p in (recipes / "outputs").iterdir()) == [f"{TEMP_SHA}.png", f"{SAVED_SHA}.png"]
    assert "outputs: 4 file(s) recorded in" in err
    recipe = loads_recipe((recipes / f"{JOB3}.yaml").read_bytes())
    assert [(a["node"], a["filename"], a["sha256"], a["width"], a["height"]) for a in recipe["artifacts"]] == [
        ("5", "ComfyUI_temp_dzllh_00001_.png", TEMP_SHA, 256, 192),
        ("4", "success_a_00002_.png", SAVED_SHA, 256, 192)]
    assert KEY not in (recipes / f"{JOB3}.yaml").read_text(encoding="utf-8")
    code, out, _ = run(["diff", str(recipes / f"{JOB1}.yaml"), str(recipes / f"{JOB3}.yaml"), "--exit-code"])
    assert code == 0, out
    assert "outputs by content: 2 files, all identical (file names aside)" in out
    assert "success_a_00001_.png" not in out


def test_quiet_archive_with_outputs_prints_the_recipes_and_nothing_on_stderr(recorded_server, tmp_path):
    code, out, err = run(["-q", "archive", "-o", str(tmp_path / "r"), "--outputs"], env=env_for(recorded_server))
    assert code == 0 and err == ""
    written = out.split()
    assert {str(tmp_path / "r" / f"{job}.yaml") for job in (JOB1, JOB2, JOB3)} <= set(written)
    assert all(path.endswith(".yaml") for path in written)
    assert (tmp_path / "r" / "outputs" / f"{SAVED_SHA}.png").is_file()  # the files were still stored


def test_fetching_again_downloads_nothing_and_leaves_the_bytes_as_they_were(recorded_server, tmp_path):
    env = env_for(recorded_server)
    recipes = tmp_path / "recipes"
    assert run(["fetch", JOB1, "-o", str(recipes), "--outputs"], env=env)[0] == 0
    path = recipes / f"{JOB1}.yaml"
    before, asked = path.read_bytes(), views(recorded_server)
    code, out, _ = run(["fetch", JOB1, "-o", str(recipes), "--outputs", "--json"], env=env)
    assert code == 0 and json.loads(out)["unchanged"] == [str(path)]
    assert views(recorded_server) == asked and path.read_bytes() == before
    # a fetch without --outputs keeps what the recipe recorded
    code, out, _ = run(["fetch", JOB1, "-o", str(recipes), "--json"], env=env)
    assert code == 0 and json.loads(out)["unchanged"] == [str(path)] and path.read_bytes() == before


def test_a_file_the_server_no_longer_has_is_recorded_missing(recorded_server, tmp_path):
    recorded_server.files.remove("ComfyUI_temp_nagop_00001_.png", type="temp")
    store = tmp_path / "store"
    code, _, err = run(["fetch", JOB1, "-o", str(tmp_path / "r"), f"--outputs={store}"], env=env_for(recorded_server))
    assert code == 0, err
    artifacts = loads_recipe((tmp_path / "r" / f"{JOB1}.yaml").read_bytes())["artifacts"]
    assert artifacts[0] == {"node": "5", "key": "images", "index": 0, "filename": "ComfyUI_temp_nagop_00001_.png",
                            "subfolder": "", "type": "temp", "missing": True}
    assert artifacts[1]["sha256"] == SAVED_SHA and "missing" not in artifacts[1]
    assert "1 missing on the server" in err
    assert [p.name for p in store.iterdir()] == [f"{SAVED_SHA}.png"]


def test_diff_outputs_downloads_what_each_side_lacks_and_names_the_cached_run(recorded_server, tmp_path):
    env = env_for(recorded_server)
    store = tmp_path / "dl"
    code, out, err = run(["diff", JOB1, JOB2, f"--outputs={store}", "--json"], env=env)
    assert code == 0, err
    data = json.loads(out)
    assert data["identical"] is True
    assert [p["result"] for p in data["outputs"]["pairs"]] == ["identical", "identical"]
    assert data["outputs"]["nodes"] == []
    assert data["cached"] == {"a": [], "b": ["1", "2", "3", "4", "5"]}
    assert sorted(p.name for p in store.iterdir()) == [f"{TEMP_SHA}.png", f"{SAVED_SHA}.png"]
    code, out, _ = run(["diff", JOB1, JOB2, f"--outputs={store}"], env=env)
    assert "from cache: a none; b nodes 1, 2, 3, 4, 5" in out


def test_diff_without_outputs_of_two_job_ids_compares_file_names_as_before(recorded_server):
    code, out, _ = run(["diff", JOB1, JOB3, "--json"], env=env_for(recorded_server))
    data = json.loads(out)
    assert code == 0 and data["identical"] is False and "pairs" not in data["outputs"]
    assert len(data["outputs"]["nodes"]) == 2


def test_archive_outputs_records_every_job_and_a_second_run_downloads_nothing(recorded_server, tmp_path):
    env = env_for(recorded_server)
    folder = tmp_path / "archive"
    # an earlier archive without outputs: the --outputs run fetches those jobs again for their files
    assert run(["archive", "-o", str(folder), *SUCCESS_A], env=env)[0] == 0
    code, out, err = run(["archive", "-o", str(folder), "--outputs", "--json", *SUCCESS_A], env=env)
    assert code == 0, err
    assert f"outputs: 6 file(s) recorded in {folder / 'outputs'}\n" in err
    assert sorted(Path(p).name for p in json.loads(out)["written"]) == sorted(f"{j}.yaml" for j in (JOB1, JOB2, JOB3))
    assert sorted(p.name for p in (folder / "outputs").iterdir()) == [f"{TEMP_SHA}.png", f"{SAVED_SHA}.png"]
    for job_id in (JOB1, JOB2, JOB3):
        artifacts = loads_recipe((folder / f"{job_id}.yaml").read_bytes())["artifacts"]
        assert [a["sha256"] for a in artifacts] == [TEMP_SHA, SAVED_SHA]
    asked = views(recorded_server)
    code, out, _ = run(["archive", "-o", str(folder), "--outputs", "--json", *SUCCESS_A], env=env)
    assert code == 0 and json.loads(out)["written"] == [] and len(json.loads(out)["unchanged"]) == 3
    code, out, _ = run(["archive", "-o", str(folder), "--outputs", "--refresh", "--json", *SUCCESS_A], env=env)
    assert code == 0 and json.loads(out)["written"] == []
    assert views(recorded_server) == asked


def test_archive_outputs_fails_a_job_whose_download_breaks_and_keeps_the_others(recorded_server, tmp_path):
    recorded_server.fault(r"/view\?.*success_a_00002_", kind="reset")
    code, out, err = run(["archive", "-o", str(tmp_path / "a"), "--outputs", "--json", *SUCCESS_A],
                         env=env_for(recorded_server))
    data = json.loads(out)
    assert code == 3
    assert [f["job_id"] for f in data["failed"]] == [JOB3]
    assert len(data["written"]) == 2 and not (tmp_path / "a" / f"{JOB3}.yaml").exists()


LIVE = OUT / "live"


def test_a_blur_sigma_change_recorded_on_real_comfyui_changes_the_preview_by_one_level_but_not_the_saved_pixels(
        oss_server, tmp_path):
    """Recorded by hand on ComfyUI 0.33 (tests/data/README.md): sigma 1.5 -> 1.6 moves the blurred preview's red
    channel from 255 to 254 in every pixel, while the inverted, saved image truncates to the same pixels (its
    bytes differ only in the embedded prompt). Numbers checked with Pillow's ImageChops outside comfy-replay."""
    run3, run4 = (json.loads((LIVE / f"run{n}.job.json").read_text(encoding="utf-8")) for n in (3, 4))
    for detail in (run3, run4):
        oss_server.add_job(detail)
    for name in ("success_a_00002_.png", "success_a_00003_.png"):
        oss_server.files.add(name, (LIVE / "files" / name).read_bytes(), subfolder="outputsuse")
    for name in ("ComfyUI_temp_ptvqi_00001_.png", "ComfyUI_temp_ptvqi_00002_.png"):
        oss_server.files.add(name, (LIVE / "files" / name).read_bytes(), type="temp")
    code, out, err = run(["diff", run3["id"], run4["id"], f"--outputs={tmp_path}", "--json"],
                         env={"COMFY_SERVER": oss_server.url})
    assert code == 0, err
    data = json.loads(out)
    preview, saved = data["outputs"]["pairs"]
    assert (preview["node"], preview["result"]) == ("5", "different")
    assert preview["metrics"]["changed_pixels"] == 256 * 192 and preview["metrics"]["max_diff"] == 1
    assert preview["metrics"]["psnr"] == pytest.approx(52.902, abs=0.01)
    assert (saved["node"], saved["result"]) == ("4", "same-pixels")
    assert data["cached"] == {"a": [], "b": ["1"]}
    code, out, _ = run(["show", str(LIVE / "run4.job.json")])
    assert "cached    1 of 5 nodes: 1\n" in out


@pytest.mark.parametrize("command", [["fetch", JOB1, "-o", "r"], ["archive", "-o", "r"], ["diff", JOB1, JOB3]])
def test_an_outputs_folder_that_is_a_file_exits_2_and_writes_nothing(recorded_server, tmp_path, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "taken").write_bytes(b"not a folder")
    code, out, err = run([*command, "--outputs=taken"], env=env_for(recorded_server))
    assert code == 2 and out == ""
    assert err.endswith("\ncomfy-replay: error: --outputs taken: exists and is not a folder\n") or \
        err == "comfy-replay: error: --outputs taken: exists and is not a folder\n"
    assert err.count("error") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]
    assert views(recorded_server) == 0


def test_textconv_shows_one_line_per_artifact_so_git_diff_sees_a_changed_picture(tmp_path):
    from replay.gitdiff import render_textconv

    job = job_from_recipe(loads_recipe((OUT / "prompt_with_artifacts.recipe.yaml").read_bytes()))
    text = render_textconv(job)
    assert "\n# artifacts\n" in text
    assert ("artifact 10 images[0]: sha256 268ea954b6c68142 pixels 0c2482bd00aa6975 image/png 256x192 "
            "(success_a_00002_.png)\n") in text
    assert "artifact 10 images[1]: missing on the server (gone_00001_.png)\n" in text


def test_diff_notes_when_only_one_side_has_artifacts(tmp_path):
    path_a, _ = _recipe_pair(tmp_path, _png(tmp_path / "a.png"), _png(tmp_path / "b.png"))
    code, out, err = run(["diff", str(path_a), str(OUT / RUN1)])
    assert code == 0 and "outputs by content" not in out
    assert err == ("note: B has no artifacts, so output files are compared by name; add --outputs to download its "
                   "files and compare them by content\n")


def test_diff_of_two_runs_without_artifacts_says_their_files_are_compared_by_name_only():
    # runs 1 and 3 saved byte-identical images under other names: by name they differ, so say how to know more
    code, out, err = run(["diff", str(OUT / RUN1), str(OUT / RUN3)])
    assert code == 0 and "success_a_00001_.png" in out and "outputs by content" not in out
    assert err == ("note: output files are compared by name only (neither side has artifacts); add --outputs to "
                   "download them and compare them by content\n")


def test_diff_of_a_run_with_itself_without_artifacts_adds_no_note():
    code, _, err = run(["diff", str(OUT / RUN1), str(OUT / RUN1)])
    assert code == 0 and err == ""


def test_fetch_outputs_downloads_only_from_the_server_a_job_came_from(recorded_server, tmp_path):
    env = env_for(recorded_server)
    # a job file names no server: another server may hold other files under the same names
    code, _, err = run(["fetch", str(OUT / RUN1), "-o", str(tmp_path / "r"), "--outputs"], env=env)
    assert code == 0 and views(recorded_server) == 0
    assert f"{JOB1}: outputs not downloaded, it names no server it came from (fetch it by id from there)" in err
    assert "artifacts" not in loads_recipe((tmp_path / "r" / f"{JOB1}.yaml").read_bytes())
    # a recipe fetched by id from this server: its files come from here
    assert run(["fetch", JOB1, "-o", str(tmp_path / "s")], env=env)[0] == 0
    code, _, err = run(["fetch", str(tmp_path / "s" / f"{JOB1}.yaml"), "-o", str(tmp_path / "t"), "--outputs"], env=env)
    assert code == 0, err
    assert len(loads_recipe((tmp_path / "t" / f"{JOB1}.yaml").read_bytes())["artifacts"]) == 2


def test_the_repro_verdict_names_the_nodes_the_rerun_took_from_cache():
    from replay.repro import ReproRun, build_repro, render_repro

    failed = job_from_document(load("oss/fail_runtime_zerodiv.job.json"))
    rerun_detail = load("oss/fail_runtime_zerodiv.job.json")
    for name, data in rerun_detail["execution_status"]["messages"]:
        if name == "execution_cached":
            data["nodes"] = ["1", "4"]
    run_ = ReproRun(build_repro(failed), "r.yaml", "written", job_id=failed.id,
                    new_job=job_from_document(rerun_detail), verdict="reproduced")
    assert "cached     1, 4 (taken from ComfyUI's cache, not run again)\n" in render_repro(run_)
    assert run_.to_json()["cached_nodes"] == ["1", "4"]
    del rerun_detail["execution_status"]  # a server that does not report its cache: no line, null in JSON
    run_.new_job = job_from_document(rerun_detail)
    assert "cached" not in render_repro(run_) and run_.to_json()["cached_nodes"] is None
