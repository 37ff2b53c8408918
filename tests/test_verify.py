"""Tests of replay.verify and the `verify` command, end to end over HTTP against fake ComfyUI servers that render
real PNG files (tests/fakecomfy_outputs.py) and cache like ComfyUI (tests/fakecomfy_cache.py)."""

from __future__ import annotations

import base64
import gzip
import io
import json
import math
import re
import signal
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import browser
import pytest
from fakecomfy import FakeComfy
from graphs import node
from helpers import DATA
from PIL import Image

from replay.cli import main
from replay.client import Client
from replay.fetching import fetch
from replay.jobs import job_from_document
from replay.outputs import OutputStore, compare_artifacts, describe_file
from replay.recipe import dumps_recipe, loads_recipe
from replay.report import render_verify_report
from replay.submit import submit_prompt, wait_for_job
from replay.verify import VerifyInterrupted, VerifyResult, load_suite, verify
from replay.verify_render import junit_xml

WIDTH, HEIGHT = 64, 48
# The node definitions of a real ComfyUI 0.33.0: the fakes serve them, so the drift check sees real classes.
OBJECT_INFO: dict[str, Any] = json.loads(gzip.decompress((DATA / "object_info.json.gz").read_bytes()))


def prompt_for(color: int, *, prefix: str = "verify", width: int = WIDTH) -> dict[str, Any]:
    """EmptyImage (width x 48, one colour) -> ImageInvert -> SaveImage."""
    return {
        "1": node("EmptyImage", width=width, height=HEIGHT, batch_size=1, color=color),
        "2": node("ImageInvert", image=["1", 0]),
        "3": node("SaveImage", images=["2", 0], filename_prefix=prefix),
    }


def fake(dialect: str = "oss", **options: Any) -> FakeComfy:
    options.setdefault("run_polls", 0)
    options.setdefault("caching", True)
    options.setdefault("object_info", OBJECT_INFO)
    return FakeComfy(dialect=dialect, **options).start()


@pytest.fixture
def server() -> Iterator[FakeComfy]:
    """An open-source ComfyUI double that caches node results until POST /free."""
    with fake() as running:
        yield running
    assert not running.errors


def client_for(server: FakeComfy) -> Client:
    return Client(server.url, server.api_key if server.dialect == "cloud" else None, retries=1, retry_budget=1)


def record(server: FakeComfy, prompt: dict[str, Any], folder: Path, name: str) -> Path:
    """Run a prompt, then `fetch --outputs` it into `folder/name.yaml` (its files in `folder/outputs`)."""
    path = folder / f"{name}.yaml"
    with client_for(server) as client:
        job_id = submit_prompt(client, prompt, preflight=False)
        wait_for_job(client, job_id, sleep=lambda s: None)
        result = fetch([job_id], out=str(path), client_factory=lambda: client, outputs="")
    assert result.written == [str(path)]
    return path


def replace_artifact(path: Path, change: Any) -> dict[str, Any]:
    """Make the recipe record an edited copy of its first image: `change(image)` returns the new image."""
    recipe = loads_recipe(path.read_bytes())
    store = OutputStore(path.parent / "outputs")
    first = recipe["artifacts"][0]
    stored = store.path_for(first)
    assert stored is not None
    image = change(Image.open(stored).convert("RGB"))
    edited = path.parent / "edited.png"
    image.save(edited)
    described = describe_file(edited, first["filename"])
    target = store.root / store.name_for(described["sha256"], first["filename"])
    target.write_bytes(edited.read_bytes())
    edited.unlink()
    recipe["artifacts"][0] = {**first, **described}
    path.write_text(dumps_recipe(recipe), encoding="utf-8")
    return recipe


def one_pixel_changed(by: int) -> Any:
    def change(image: Image.Image) -> Image.Image:
        r, g, b = image.getpixel((0, 0))  # type: ignore[misc]
        image.putpixel((0, 0), (r + by if r + by <= 255 else r - by, g, b))
        return image
    return change


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(["verify", *args], stdout=out, stderr=err, env={})
    return code, out.getvalue(), err.getvalue()


def kill(server: FakeComfy) -> None:
    """Stop a server for good: open keep-alive connections are reset too, new ones refused."""
    server.fault(kind="reset")
    server.stop()


def posts(server: FakeComfy, path: str) -> int:
    return sum(1 for r in server.requests if r.method == "POST" and r.path.split("?")[0] in (path, "/api" + path))


# ---------------------------------------------------------------------------------------------- one server


def test_a_recipe_verifies_as_match_after_the_cache_is_cleared(server: FakeComfy, tmp_path: Path) -> None:
    path = record(server, prompt_for(0x336699), tmp_path, "blue")  # this run warmed the server's cache
    server.clear_log()
    code, out, err = run_cli(str(path), "--server", server.url, "--json")
    assert code == 0, err
    result = json.loads(out)["results"][0]
    assert result["result"] == "match"
    assert result["cached_nodes"] == []
    assert [pair["result"] for pair in result["outputs"]] == ["identical"]
    # The new file has a new name (the run wrote it again) but the same bytes.
    assert result["outputs"][0]["a"]["filename"] != result["outputs"][0]["b"]["filename"]
    assert json.loads(out)["counts"] == {"match": 1, "mismatch": 0, "failed": 0, "cached": 0, "error": 0}
    # /free came before the prompt, with {"free_memory": true} (the fake clears its cache only then).
    assert [(r.method, r.path) for r in server.requests if r.method == "POST"] == [
        ("POST", "/api/free"), ("POST", "/api/prompt")]
    assert server.cache.frees == 1


def test_a_run_served_from_cache_although_free_was_sent_runs_once_more(server: FakeComfy, tmp_path: Path) -> None:
    path = record(server, prompt_for(0x336699), tmp_path, "blue")
    server.clear_log()
    server.cache.late_frees = 1  # the worker was still busy: /free applies only after the next job
    code, out, _ = run_cli(str(path), "--server", server.url, "--json")
    assert code == 0
    result = json.loads(out)["results"][0]
    assert result["result"] == "match" and result["cached_nodes"] == []
    assert len(server.submissions) == 2
    assert result["job_id"] == server.job_ids()[-1]


def test_a_server_whose_free_does_nothing_is_reported_cached_after_the_second_run(
        server: FakeComfy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = record(server, prompt_for(0x336699), tmp_path, "blue")
    monkeypatch.setattr(server.cache, "clear", lambda: None)
    server.clear_log()
    code, out, _ = run_cli(str(path), "--server", server.url)
    assert code == 1 and out.startswith("cached")
    assert posts(server, "/free") == 1 and len(server.submissions) == 2


def test_a_server_without_free_is_still_used_and_its_cached_runs_are_reported(server: FakeComfy,
                                                                              tmp_path: Path) -> None:
    path = record(server, prompt_for(0x336699), tmp_path, "blue")
    server.fault(r"/free", kind="status", code=404, method="POST")
    code, out, _ = run_cli(str(path), "--server", server.url)
    assert code == 1 and out.startswith("cached")  # nothing cleared the cache the recording warmed
    server.clear_faults()
    assert run_cli(str(path), "--server", server.url)[0] == 0


def test_keep_cache_on_a_warm_server_is_cached_never_a_match(server: FakeComfy, tmp_path: Path) -> None:
    path = record(server, prompt_for(0x336699), tmp_path, "blue")
    server.clear_log()
    code, out, _ = run_cli(str(path), "--server", server.url, "--keep-cache")
    assert code == 1
    assert out.splitlines()[0].startswith(f"cached    {path}")
    assert "recomputed nothing" in out
    assert posts(server, "/free") == 0
    assert out.splitlines()[-1].startswith("0 match, 0 mismatch, 0 failed, 1 cached, 0 error of 1 recipe in ")


def test_one_changed_pixel_is_a_mismatch_with_its_numbers(server: FakeComfy, tmp_path: Path) -> None:
    path = record(server, prompt_for(0x808080), tmp_path, "gray")
    replace_artifact(path, one_pixel_changed(by=40))
    code, out, _ = run_cli(str(path), "--server", server.url, "--json")
    assert code == 1
    result = json.loads(out)["results"][0]
    assert result["result"] == "mismatch"
    pair = result["outputs"][0]
    assert pair["result"] == "different"
    metrics = pair["metrics"]
    assert metrics["changed_pixels"] == 1
    assert metrics["max_diff"] == 40
    assert metrics["changed_ratio"] == pytest.approx(1 / (WIDTH * HEIGHT), rel=1e-5)
    # MSE over 64*48 pixels x 3 channels with one channel off by 40: 1600 / 9216; PSNR = 10 log10(255^2 / MSE).
    assert metrics["psnr"] == pytest.approx(10 * math.log10(255 * 255 / (1600 / 9216)), abs=0.01)

    code, text, _ = run_cli(str(path), "--server", server.url)
    assert code == 1
    assert "node 3 images[0]: different: 1 changed pixel (0.0326%), max diff 40" in text
    assert "PSNR 55.7 dB" in text


def test_a_changed_size_is_a_mismatch_that_says_so(server: FakeComfy, tmp_path: Path) -> None:
    path = record(server, prompt_for(0x808080), tmp_path, "gray")
    replace_artifact(path, lambda image: image.resize((WIDTH * 2, HEIGHT)))
    code, out, _ = run_cli(str(path), "--server", server.url, "--json")
    assert code == 1
    pair = json.loads(out)["results"][0]["outputs"][0]
    assert pair["result"] == "incomparable"
    assert pair["why"] == "size changed: 128x48 -> 64x48"


def test_tolerances_accept_small_differences_and_still_show_the_numbers(server: FakeComfy, tmp_path: Path) -> None:
    path = record(server, prompt_for(0x808080), tmp_path, "gray")
    replace_artifact(path, one_pixel_changed(by=3))
    assert run_cli(str(path), "--server", server.url)[0] == 1
    code, out, _ = run_cli(str(path), "--server", server.url, "--pixel-threshold", "3")
    assert code == 0
    assert out.startswith("match")
    code, out, _ = run_cli(str(path), "--server", server.url, "--max-diff-ratio", "0.001")
    assert code == 0
    assert "1 changed pixel" in out and "(within the tolerance)" in out
    code, out, _ = run_cli(str(path), "--server", server.url, "--min-psnr", "80")
    assert code == 1  # one pixel off by 3 gives about 76.9 dB


def test_a_failed_rerun_names_the_node_and_the_exception(server: FakeComfy, tmp_path: Path) -> None:
    path = record(server, prompt_for(0x102030), tmp_path, "fails")
    server.fail_when(class_type="ImageInvert", exception_type="RuntimeError", message="CUDA error: device lost")
    code, out, _ = run_cli(str(path), "--server", server.url, "--json")
    assert code == 1
    result = json.loads(out)["results"][0]
    assert result["result"] == "failed"
    assert result["failure"] == {"node_id": "2", "node_type": "ImageInvert", "exception_type": "RuntimeError",
                                 "message": "CUDA error: device lost"}
    assert result["error"] == "node 2 (ImageInvert): RuntimeError: CUDA error: device lost"


def test_a_rejected_prompt_is_an_error_with_the_servers_reason(server: FakeComfy, tmp_path: Path) -> None:
    path = record(server, prompt_for(0x102030), tmp_path, "rejected")
    server.object_info = {"SaveImage": {"input": {}, "output_node": True}}  # EmptyImage is not installed
    code, out, _ = run_cli(str(path), "--server", server.url, "--json")
    assert code == 3
    result = json.loads(out)["results"][0]
    assert result["result"] == "error"
    assert "EmptyImage" in result["error"]


def test_an_unreachable_server_is_an_error_for_every_recipe(tmp_path: Path) -> None:
    with fake() as server:
        path = record(server, prompt_for(0x102030), tmp_path, "a")
        url = server.url
    code, out, err = run_cli(str(path), "--server", url, "--timeout", "2")
    assert code == 3, err
    assert out.startswith("error")
    assert "no server was left to run it" in out


def test_a_server_that_dies_mid_run_leaves_the_rest_as_errors(tmp_path: Path) -> None:
    with fake() as server:
        paths = [record(server, prompt_for(0x100000 * i), tmp_path, f"r{i}") for i in range(1, 4)]

        def kill_after_first(result: VerifyResult) -> None:
            kill(server)

        with client_for(server) as client:
            run = verify(paths, [client], on_result=kill_after_first)
    assert [r.result for r in run.results] == ["match", "error", "error"]
    assert run.exit_code == 3
    assert run.servers[0].lost is not None


def test_a_cloud_server_gets_no_free_and_verifies(tmp_path: Path) -> None:
    with fake("cloud") as server:
        path = record(server, prompt_for(0x445566), tmp_path, "cloud")
        server.clear_log()
        with client_for(server) as client:
            run = verify([path], [client])
        assert [r.result for r in run.results] == ["match"]
        assert server.hits["/api/free"] == 0


# ---------------------------------------------------------------------------------------------- --update


def test_update_records_a_mismatch_and_the_next_run_matches(server: FakeComfy, tmp_path: Path) -> None:
    path = record(server, prompt_for(0x808080), tmp_path, "gray")
    replace_artifact(path, one_pixel_changed(by=40))
    code, out, _ = run_cli(str(path), "--server", server.url, "--update")
    assert code == 1
    assert "updated: the recipe now records these outputs" in out
    recipe = loads_recipe(path.read_bytes())
    stored = OutputStore(tmp_path / "outputs").path_for(recipe["artifacts"][0])
    assert stored is not None and Image.open(stored).size == (WIDTH, HEIGHT)
    code, out, _ = run_cli(str(path), "--server", server.url)
    assert code == 0 and out.startswith("match")
    # A match under --update leaves the recipe byte for byte as it was, and adds nothing to the store.
    before = path.read_bytes()
    stored_files = sorted((tmp_path / "outputs").iterdir())
    assert run_cli(str(path), "--server", server.url, "--update")[0] == 0
    assert path.read_bytes() == before
    assert sorted((tmp_path / "outputs").iterdir()) == stored_files


def test_update_under_a_tolerance_records_nothing(server: FakeComfy, tmp_path: Path) -> None:
    path = record(server, prompt_for(0x808080), tmp_path, "gray")
    replace_artifact(path, one_pixel_changed(by=3))
    before, stored_files = path.read_bytes(), sorted((tmp_path / "outputs").iterdir())
    code, out, _ = run_cli(str(path), "--server", server.url, "--update", "--pixel-threshold", "3")
    assert code == 0 and out.startswith("match")
    assert path.read_bytes() == before
    assert sorted((tmp_path / "outputs").iterdir()) == stored_files


def test_update_never_records_a_failed_or_cached_run(server: FakeComfy, tmp_path: Path) -> None:
    path = record(server, prompt_for(0x808080), tmp_path, "gray")
    replace_artifact(path, one_pixel_changed(by=40))
    before = path.read_bytes()
    code, out, _ = run_cli(str(path), "--server", server.url, "--update", "--keep-cache")
    assert code == 1 and out.startswith("cached")
    assert "never recorded" in out
    assert path.read_bytes() == before
    server.fail_when(class_type="SaveImage")
    code, out, _ = run_cli(str(path), "--server", server.url, "--update")
    assert code == 1 and out.startswith("failed")
    assert path.read_bytes() == before


# ---------------------------------------------------------------------------------------------- JUnit


def test_junit_xml_has_a_test_case_per_recipe_with_the_numbers(server: FakeComfy, tmp_path: Path) -> None:
    good = record(server, prompt_for(0x123456), tmp_path, "a_good")
    bad = record(server, prompt_for(0x808080), tmp_path, "b_bad")
    replace_artifact(bad, one_pixel_changed(by=40))
    report = tmp_path / "junit.xml"
    code, _, _ = run_cli(str(tmp_path), "--server", server.url, "--junit", str(report))
    assert code == 1
    root = ET.parse(report).getroot()
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("2", "1", "0")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [good.name, bad.name]
    assert cases[0].find("failure") is None
    failure = cases[1].find("failure")
    assert failure is not None and failure.get("type") == "mismatch"
    assert "1 changed pixel" in (failure.get("message") or "")
    assert "max diff 40" in (failure.text or "")


def test_junit_xml_survives_control_characters_in_a_servers_message() -> None:
    from replay.verify import ServerReport, VerifyRun

    result = VerifyResult(recipe="r.yaml", result="error", error="bad \x00\x1b[31m answer & <more>")
    xml = junit_xml(VerifyRun([result], 1, 0.1, [ServerReport("http://x")]))
    error = ET.fromstring(xml).find("testsuite/testcase/error")
    assert error is not None
    assert "answer & <more>" in (error.text or "")


# ---------------------------------------------------------------------------------------------- bad input


def test_a_recipe_without_artifacts_is_refused_naming_it_and_nothing_is_sent(server: FakeComfy,
                                                                             tmp_path: Path) -> None:
    path = record(server, prompt_for(0x102030), tmp_path, "plain")
    recipe = loads_recipe(path.read_bytes())
    del recipe["artifacts"]
    path.write_text(dumps_recipe(recipe), encoding="utf-8")
    server.clear_log()
    code, out, err = run_cli(str(tmp_path), "--server", server.url)
    assert code == 2 and out == ""
    assert err.startswith(f"comfy-replay: error: {path}: the recipe records no outputs")
    assert "fetch" in err and "--outputs" in err
    assert server.requests == []


def test_a_recipe_of_a_failed_job_is_refused(server: FakeComfy, tmp_path: Path) -> None:
    path = record(server, prompt_for(0x102030), tmp_path, "failed")
    recipe = loads_recipe(path.read_bytes())
    recipe["job"]["status"] = "failed"
    path.write_text(dumps_recipe(recipe), encoding="utf-8")
    code, _, err = run_cli(str(path), "--server", server.url)
    assert code == 2
    assert f"{path}: the recorded job is failed, not completed" in err


@pytest.mark.parametrize("args, says", [
    (["--report", "/nonexistent/folder/r.html"], "--report /nonexistent/folder/r.html: cannot write a file in "
                                                 "/nonexistent/folder"),
    (["--report", "/tmp"], "--report /tmp: is a folder; name the file to write"),
    (["--pixel-threshold", "300"], "--pixel-threshold must be a channel difference from 0 to 255, not 300"),
    (["--max-diff-ratio", "2"], "--max-diff-ratio must be a fraction of pixels from 0 to 1, not 2.0"),
    (["--min-psnr", "nan"], "--min-psnr must be a number of decibels >= 0, not nan"),
    (["--wait-timeout", "0"], "--wait-timeout must be a positive number of seconds, not 0"),
    (["--junit", "/nonexistent/folder/j.xml"], "cannot write a file in /nonexistent/folder"),
])
def test_bad_options_are_refused_before_anything_runs(server: FakeComfy, tmp_path: Path, args: list[str],
                                                      says: str) -> None:
    path = record(server, prompt_for(0x102030), tmp_path, "a")
    server.clear_log()
    code, out, err = run_cli(str(path), "--server", server.url, *args)
    assert code == 2 and out == ""
    assert says in err and len(err.splitlines()) == 1
    assert server.requests == []


def test_a_folder_without_recipes_and_a_yaml_that_is_not_a_recipe_are_bad_input(tmp_path: Path) -> None:
    assert run_cli(str(tmp_path), "--server", "http://127.0.0.1:9")[0] == 2
    (tmp_path / "ci.yaml").write_text("steps: []\n", encoding="utf-8")
    code, _, err = run_cli(str(tmp_path), "--server", "http://127.0.0.1:9")
    assert code == 2 and "ci.yaml" in err


# ---------------------------------------------------------------------------------------------- several servers


def test_twelve_recipes_over_three_servers_one_killed_mid_run(tmp_path: Path) -> None:
    colors = [0x010101 * (10 + 15 * i) for i in range(12)]
    servers = [fake(job_seconds=seconds) for seconds in (0.05, 0.2, 0.1)]
    try:
        with fake() as recorder:
            paths = [record(recorder, prompt_for(color), tmp_path, f"r{i:02d}") for i, color in enumerate(colors)]
        victim = servers[1]
        victim_origin = Client(victim.url).server
        killed: list[str] = []

        def kill_victim(result: VerifyResult) -> None:
            if result.server == victim_origin and not killed:
                killed.append(result.recipe)
                kill(victim)

        clients = [client_for(s) for s in servers]
        run = verify([tmp_path], clients, on_result=kill_victim)
        for client in clients:
            client.close()
    finally:
        for s in servers:
            s.stop()
    assert [r.recipe for r in run.results] == [str(p) for p in paths]  # recipe order, whatever the finish order
    results = [r.result for r in run.results]
    assert results.count("error") == 1 and results.count("match") == 11
    lost = next(r for r in run.results if r.result == "error")
    assert lost.server == victim_origin and lost.recipe != killed[0]
    assert run.servers[1].lost is not None and run.servers[0].lost is None and run.servers[2].lost is None
    # Each recipe ran exactly once over all servers: count submissions by their colour.
    submitted = [s["prompt"]["1"]["inputs"]["color"] for server in servers for s in server.submissions]
    matched = [colors[i] for i, r in enumerate(run.results) if r.result == "match"]
    assert sorted(c for c in submitted if c in matched) == sorted(matched)
    assert len(submitted) == len(set(submitted)) <= 12
    # The servers that lived cleared their cache before each of their jobs.
    assert all(s.hits["/api/free"] == len(s.submissions) for s in (servers[0], servers[2]))


def test_ctrl_c_stops_with_what_was_verified(tmp_path: Path) -> None:
    with fake(job_seconds=0.05) as server:
        paths = [record(server, prompt_for(0x111111 * i), tmp_path, f"r{i}") for i in range(1, 5)]

        def interrupt(result: VerifyResult) -> None:
            signal.raise_signal(signal.SIGINT)

        with client_for(server) as client, pytest.raises(VerifyInterrupted) as stopped:
            verify(paths, [client], on_result=interrupt)
    run = stopped.value.run
    assert run.interrupted
    assert 1 <= len(run.results) < 4
    assert [r.recipe for r in run.results] == [str(p) for p in paths[:len(run.results)]]


def test_the_cli_reports_an_interrupted_run_and_exits_130(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import replay.verify as verify_module

    real = verify_module.verify

    def verify_and_interrupt(*args: Any, **kwargs: Any) -> Any:
        kwargs["on_result"] = lambda result: signal.raise_signal(signal.SIGINT)
        return real(*args, **kwargs)

    monkeypatch.setattr(verify_module, "verify", verify_and_interrupt)
    with fake(job_seconds=0.05) as server:
        paths = [record(server, prompt_for(0x111111 * i), tmp_path, f"r{i}") for i in range(1, 4)]
        out, err = io.StringIO(), _TTY()
        code = main(["verify", *map(str, paths), "--server", server.url], stdout=out, stderr=err, env={})
    assert code == 130
    assert out.getvalue().splitlines()[-1].startswith("interrupted: 1 match")
    assert "\rverify      1/3 [" in err.getvalue()  # the progress line, drawn because stderr is a terminal


class _TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_load_suite_reads_folders_recursively_in_natural_order(server: FakeComfy, tmp_path: Path) -> None:
    first = record(server, prompt_for(0x010203), tmp_path / "suite", "r2")
    second = record(server, prompt_for(0x040506), tmp_path / "suite", "r10")
    nested = record(server, prompt_for(0x070809), tmp_path / "suite" / "more", "r1")
    suite = load_suite([tmp_path / "suite", first])
    # Path parts in natural order ("more/" < "r2" < "r10"); a recipe named twice runs once.
    assert [item.path for item in suite] == [nested, first, second]


def test_real_comfyui_runs_are_judged_cached_only_when_every_output_came_from_cache() -> None:
    from helpers import load

    from replay.jobs import all_outputs_cached, cached_nodes

    cached = job_from_document(load("verify/live_keep_cache_cached.job.json"))
    evicted = job_from_document(load("verify/live_keep_cache_evicted.job.json"))
    assert all_outputs_cached(cached) and cached_nodes(cached) == ["1", "2", "3", "4", "5"]
    assert not all_outputs_cached(evicted) and cached_nodes(evicted) == []


def test_a_store_that_cannot_be_written_stops_the_run_with_the_reason(server: FakeComfy, tmp_path: Path) -> None:
    path = record(server, prompt_for(0x102030), tmp_path, "a")
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the new outputs should go", encoding="utf-8")
    with client_for(server) as client, pytest.raises(OSError):
        verify([path], [client], outputs_dir=blocked)


def test_the_prompt_goes_out_exactly_as_recorded_with_its_ui_graph(server: FakeComfy, tmp_path: Path) -> None:
    from fakecomfy_run import ui_graph_for

    prompt = prompt_for(0x405060)
    ui = ui_graph_for(prompt, "0b9e3c3e-7c47-4d0c-9d4b-1f0a3f5e2a11")
    path = tmp_path / "ui.yaml"
    with client_for(server) as client:
        job_id = submit_prompt(client, prompt, ui_workflow=ui, preflight=False)
        wait_for_job(client, job_id, sleep=lambda s: None)
        fetch([job_id], out=str(path), client_factory=lambda: client, outputs="")
    server.clear_log()
    assert run_cli(str(path), "--server", server.url)[0] == 0
    (sent,) = server.submissions
    assert sent["prompt"] == prompt
    assert sent["extra_data"] == {"extra_pnginfo": {"workflow": ui}}


def test_the_api_key_reaches_no_output_junit_or_json(tmp_path: Path) -> None:
    key = "comfyui-0123456789abcdef0123456789abcdef"
    with fake("cloud", api_key=key) as server:
        with Client(server.url, key) as client:
            job_id = submit_prompt(client, prompt_for(0x102030), preflight=False)
            wait_for_job(client, job_id, sleep=lambda s: None)
            fetch([job_id], out=str(tmp_path / "c.yaml"), client_factory=lambda: client, outputs="")
        server.fail_when(class_type="SaveImage", message=f"bad key {key}")
        report = tmp_path / "j.xml"
        out, err = io.StringIO(), io.StringIO()
        code = main(["verify", str(tmp_path / "c.yaml"), "--server", server.url, "--junit", str(report), "--json"],
                    stdout=out, stderr=err, env={"COMFY_API_KEY": key})
    assert code == 1
    assert json.loads(out.getvalue())["results"][0]["result"] == "failed"
    for text in (out.getvalue(), err.getvalue(), report.read_text(encoding="utf-8")):
        assert key not in text


def test_servers_of_all_three_dialects_with_faults_share_a_suite(tmp_path: Path) -> None:
    with fake() as recorder:
        paths = [record(recorder, prompt_for(0x0A0B0C * (i + 1)), tmp_path, f"r{i}") for i in range(6)]
    servers = [fake("cloud", job_seconds=0.05), fake("oss", job_seconds=0.05), fake("oss-legacy", job_seconds=0.05)]
    try:
        servers[0].fault(r"/api/jobs/", kind="status", code=503, times=2)  # GETs are retried
        servers[1].fault(r"/api/view", kind="status", code=429, retry_after=0, times=1)
        servers[2].fault(r"/history/", kind="truncated", times=1)
        clients = [Client(s.url, s.api_key if s.dialect == "cloud" else None, retries=3, retry_budget=5)
                   for s in servers]
        run = verify(paths, clients)
        for client in clients:
            client.close()
        submitted = sorted(s["prompt"]["1"]["inputs"]["color"] for server in servers for s in server.submissions)
        freed = [server.hits["/api/free"] + server.hits["/free"] for server in servers]
        ran = [len(server.submissions) for server in servers]
        origins = {Client(server.url).server for server in servers}
    finally:
        for s in servers:
            s.stop()
    assert [r.result for r in run.results] == ["match"] * 6, [r.error for r in run.results]
    assert submitted == [0x0A0B0C * (i + 1) for i in range(6)]  # each recipe once, over all three
    assert freed == [0, ran[1], ran[2]]  # Comfy Cloud has no /api/free; OSS servers clear before each job
    assert {r.server for r in run.results} <= origins


# ---------------------------------------------------------------------------------------------- the HTML report


def report_images(page: str) -> list[Image.Image]:
    """Every inline image of a report, decoded with Pillow (an <img> whose data does not decode raises)."""
    found = re.findall(r'<img [^>]*src="data:image/(?:png|jpeg|webp);base64,([^"]+)"', page)
    return [Image.open(io.BytesIO(base64.b64decode(data))) for data in found]


def test_report_shows_every_recipe_and_the_images_of_a_mismatch(server: FakeComfy, tmp_path: Path) -> None:
    suite = tmp_path / "suite"
    suite.mkdir()
    blue = record(server, prompt_for(0x336699), suite, "a_blue")
    with_environment(blue, older_comfyui)
    gray = record(server, prompt_for(0x808080), suite, "b_gray")
    replace_artifact(gray, one_pixel_changed(by=40))
    report = tmp_path / "report.html"
    code, out, err = run_cli(str(suite), "--server", server.url, "--report", str(report))
    assert code == 1, err
    page = report.read_text(encoding="utf-8")
    summary = page.split('class="summary"')[1].split("</table>")[0]
    assert summary.count("<tr>") == 3  # the header and one row per recipe
    assert str(suite / "a_blue.yaml") in summary and str(suite / "b_gray.yaml") in summary
    # Only the mismatch is shown in full: the recorded image, the new one and their difference.
    decoded = report_images(page)
    assert len(decoded) == 3
    for image in decoded:
        image.load()
        assert image.size == (WIDTH, HEIGHT)
    assert "1 match, 1 mismatch" in page
    # The drift of the recipe that matched is on the page too, in a table of its own.
    drift = page.split('class="drift"')[1].split("</table>")[0]
    assert drift.count("<tr>") == 2
    assert str(blue) in drift and "ComfyUI 0.33.0 on the server, the recipe recorded 0.32.0" in drift
    # The new outputs were in a temporary store, now removed: the page holds what it shows, nothing else is left.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.html", "suite"]


def test_report_of_an_interrupted_run_is_still_written(tmp_path: Path) -> None:
    report = tmp_path / "out.html"
    with fake(job_seconds=0.05) as server:
        paths = [record(server, prompt_for(0x111111 * i), tmp_path, f"r{i}") for i in range(1, 5)]

        def interrupt(result: VerifyResult) -> None:
            signal.raise_signal(signal.SIGINT)

        with client_for(server) as client, pytest.raises(VerifyInterrupted) as stopped:
            verify(paths, [client], on_result=interrupt, report=report)
    verified = stopped.value.run.results
    assert 1 <= len(verified) < 4
    page = report.read_text(encoding="utf-8")
    assert f"{len(verified)} match (interrupted: only the recipes verified before the stop)" in page
    assert str(paths[0]) in page and str(paths[3]) not in page


def test_a_verify_report_with_a_mismatch_renders_in_a_real_browser(chrome: Any, server: FakeComfy,
                                                                   tmp_path: Path) -> None:
    record(server, prompt_for(0x336699), tmp_path, "a_blue")
    gray = record(server, prompt_for(0x808080), tmp_path, "b_gray")
    replace_artifact(gray, one_pixel_changed(by=40))
    report = tmp_path / "out" / "report.html"
    report.parent.mkdir()
    code, _, err = run_cli(str(tmp_path), "--server", server.url, "--report", str(report))
    assert code == 1, err
    browser.requests_made(chrome)  # drop the events of earlier pages
    chrome.get(report.as_uri())
    chrome.execute_script("return document.readyState")
    assert [url for url in browser.requests_made(chrome) if not url.startswith("data:")] == [report.as_uri()]
    assert chrome.execute_script("return document.querySelectorAll('table.summary tbody tr').length") == 2
    found = chrome.execute_script(
        "return Array.from(document.images).map(i => [i.complete, i.naturalWidth, i.naturalHeight])")
    assert found == [[True, WIDTH, HEIGHT]] * 3


# ---------------------------------------------------------------------------------------------- environment


def with_environment(path: Path, change: Any) -> dict[str, Any]:
    """Edit the recipe's `environment` section in place: `change(section)`."""
    recipe = loads_recipe(path.read_bytes())
    change(recipe["environment"])
    path.write_text(dumps_recipe(recipe), encoding="utf-8")
    return recipe


def older_comfyui(section: dict[str, Any]) -> None:
    section["system"]["comfyui_version"] = "0.32.0"


def test_drift_is_a_warning_the_recipe_still_runs_and_the_run_environment_is_in_the_json(
        server: FakeComfy, tmp_path: Path) -> None:
    path = record(server, prompt_for(0x336699), tmp_path, "blue")
    with_environment(path, older_comfyui)
    server.clear_log()
    code, out, err = run_cli(str(path), "--server", server.url, "--json")
    assert code == 0, err
    assert err == (f"comfy-replay: warning: environment drift: ComfyUI 0.33.0 on the server, the recipe recorded "
                   f"0.32.0 (newer on the server) ({path})\n")
    result = json.loads(out)["results"][0]
    assert result["result"] == "match"
    assert result["environment_drift"] == [{
        "kind": "version", "subject": "ComfyUI", "recorded": "0.32.0", "server": "0.33.0",
        "message": "ComfyUI 0.33.0 on the server, the recipe recorded 0.32.0 (newer on the server)"}]
    environment = result["environment"]
    assert environment["captured"] == "run" and environment["server"] == server.url
    assert environment["system"]["comfyui_version"] == "0.33.0"
    assert [(p["source"], p["classes"]) for p in environment["node_packs"]] == [
        ("core", ["EmptyImage", "ImageInvert", "SaveImage"])]
    assert posts(server, "/prompt") == 1


def test_a_matching_environment_and_an_older_recipe_without_one_give_no_drift(server: FakeComfy,
                                                                              tmp_path: Path) -> None:
    record(server, prompt_for(0x336699), tmp_path, "a")
    older = record(server, prompt_for(0x102030), tmp_path, "b")
    recipe = loads_recipe(older.read_bytes())
    del recipe["environment"]
    older.write_text(dumps_recipe(recipe), encoding="utf-8")
    code, out, err = run_cli(str(tmp_path), "--server", server.url, "--json", "--strict-env")
    assert code == 0, err
    assert "warning" not in err
    assert [(r["result"], r["environment_drift"]) for r in json.loads(out)["results"]] == [
        ("match", []), ("match", [])]


def test_strict_env_stops_on_drift_before_anything_is_sent(server: FakeComfy, tmp_path: Path) -> None:
    record(server, prompt_for(0x336699), tmp_path, "a")
    drifting = record(server, prompt_for(0x102030), tmp_path, "b")

    def other_torch(section: dict[str, Any]) -> None:
        section["system"]["pytorch_version"] = "2.9.0+cu128"

    with_environment(drifting, other_torch)
    server.clear_log()
    junit, report = tmp_path / "j.xml", tmp_path / "r.html"
    code, out, err = run_cli(str(tmp_path), "--server", server.url, "--strict-env", "--json", "--junit", str(junit),
                             "--report", str(report))
    assert code == 2 and out == ""
    assert err.splitlines() == [
        f"comfy-replay: warning: environment drift: {drifting}: PyTorch 2.14.1+cu130 on the server, the recipe "
        "recorded 2.9.0+cu128 (newer on the server)",
        f"comfy-replay: error: --strict-env: the server differs from where the job ran (1 difference; first: "
        f"{drifting}: PyTorch 2.14.1+cu130 on the server, the recipe recorded 2.9.0+cu128 (newer on the server)); "
        "nothing was submitted (use a matching server, or drop --strict-env)"]
    assert [r.method for r in server.requests] == ["GET", "GET"]  # /system_stats and /object_info, nothing else
    assert not junit.exists() and not report.exists()


def test_strict_env_checks_every_recipe_on_every_server_with_two_gets_each(tmp_path: Path) -> None:
    with fake() as first:
        for i in range(4):
            record(first, prompt_for(0x111111 * (i + 1)), tmp_path, f"r{i}")
    with fake() as one, fake() as two:
        with_environment(tmp_path / "r3.yaml", older_comfyui)
        stats = one_stats(one)
        two.system_stats = {**stats, "system": {**stats["system"], "comfyui_version": "0.32.0"}}
        one.clear_log()
        code, _, err = run_cli(str(tmp_path), "--server", one.url, "--server", two.url, "--strict-env")
        assert code == 2
        # r3 drifts on the first server, r0-r2 on the second; each recipe named with the server.
        warned = [line for line in err.splitlines() if "warning" in line]
        assert warned == [
            f"comfy-replay: warning: environment drift: {tmp_path / 'r3.yaml'} on {one.url}: ComfyUI 0.33.0 on the "
            "server, the recipe recorded 0.32.0 (newer on the server)",
            *(f"comfy-replay: warning: environment drift: {tmp_path / f'r{i}.yaml'} on {two.url}: ComfyUI 0.32.0 "
              "on the server, the recipe recorded 0.33.0 (older on the server)" for i in range(3))]
        for each in (one, two):
            assert [r.method for r in each.requests] == ["GET", "GET"]
        # Without --strict-env all four run; still one GET of each endpoint per server.
        one.clear_log()
        two.clear_log()
        code, out, err = run_cli(str(tmp_path), "--server", one.url, "--server", two.url, "--json")
        assert code == 0, err
        assert sum(posts(s, "/prompt") for s in (one, two)) == 4
        for each in (one, two):
            assert each.hits["/api/system_stats"] == 1 and each.hits["/api/object_info"] == 1
        by_server = {r["recipe"]: (r["server"], len(r["environment_drift"])) for r in json.loads(out)["results"]}
        expected_drift = {str(tmp_path / f"r{i}.yaml"): {one.url: int(i == 3), two.url: int(i != 3)}
                          for i in range(4)}
        assert all(expected_drift[recipe][url] == count for recipe, (url, count) in by_server.items())


def one_stats(server: FakeComfy) -> dict[str, Any]:
    with client_for(server) as client:
        return client.system_stats()


def test_update_records_the_environment_of_the_run_that_made_the_new_outputs(server: FakeComfy,
                                                                            tmp_path: Path) -> None:
    path = record(server, prompt_for(0x808080), tmp_path, "gray")
    replace_artifact(path, one_pixel_changed(by=40))
    with_environment(path, older_comfyui)
    before = loads_recipe(path.read_bytes())["environment"]
    assert before["captured"] == "fetch"
    code, _, err = run_cli(str(path), "--server", server.url, "--update")
    assert code == 1, err
    after = loads_recipe(path.read_bytes())["environment"]
    assert after["captured"] == "run"
    assert after["system"]["comfyui_version"] == "0.33.0"
    assert after["captured_at"] >= before["captured_at"]
    # The next run matches and finds no drift: the recipe now says where its outputs were made.
    code, _, err = run_cli(str(path), "--server", server.url)
    assert code == 0 and "warning" not in err


def test_a_recorded_real_comfyui_run_renders_with_its_drift_and_its_numbers() -> None:
    """A real verify run on ComfyUI 0.33.0 (tests/data/README.md): its JSON and its two differing PNGs."""
    run = json.loads((DATA / "verify" / "live_run_drift_mismatch.json").read_text(encoding="utf-8"))
    store = OutputStore(DATA / "verify" / "live_store")
    assert [r["result"] for r in run["results"]] == ["match", "match", "mismatch"]
    # Every result says where it ran, captured at submit time; only icon.yaml (edited to 0.32.0) drifted.
    for result in run["results"]:
        assert result["environment"]["captured"] == "run"
        assert result["environment"]["system"]["comfyui_version"] == "0.33.0"
        assert "argv" not in json.dumps(result["environment"])
    assert [[d["subject"] for d in r["environment_drift"]] for r in run["results"]] == [[], ["ComfyUI"], []]
    # The numbers compare again from the two real files as they did on the day (checked by hand with Pillow).
    recorded = run["results"][2]["outputs"][0]
    pair = compare_artifacts([recorded["a"]], [recorded["b"]], store_a=store, store_b=store)[0]
    assert pair.result == "different"
    assert pair.metrics is not None and pair.metrics["changed_pixels"] == 64784 and pair.metrics["max_diff"] == 3
    assert pair.metrics["psnr"] == pytest.approx(48.2755, abs=1e-3)
    page = render_verify_report(run["results"], stores=[store])
    assert "ComfyUI 0.33.0 on the server, the recipe recorded 0.32.0 (newer on the server)" in page
    assert [image.size for image in report_images(page)] == [(256, 256)] * 3
