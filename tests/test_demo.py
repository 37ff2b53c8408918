"""`make demo` (demo.sh) runs every step on a copy of the checkout, leaves it as it was, and stops its servers;
the fake server's `--fail-rule` option that its bisect step relies on."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from replay.jobs import job_from_document

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "tests" / "data"
BIN = Path(sys.executable).parent


def tree(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def start_fake(*args: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen([sys.executable, str(ROOT / "tests" / "fakecomfy.py"), "--port", "0", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def run_to_the_end(url: str, prompt: dict[str, Any]) -> dict[str, Any]:
    job_id = requests.post(url + "/api/prompt", json={"prompt": prompt}, timeout=10).json()["prompt_id"]
    for _ in range(200):
        detail: dict[str, Any] = requests.get(f"{url}/api/jobs/{job_id}", timeout=10).json()
        if detail["status"] in ("completed", "failed", "cancelled"):
            return detail
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


def recorded_prompt(name: str) -> dict[str, Any]:
    """The API prompt of a job recorded from a real ComfyUI (the detail's workflow holds the UI graph only)."""
    prompt = job_from_document(json.loads((DATA / "bisect" / name).read_text())).prompt
    assert prompt is not None
    return prompt


def test_the_fake_servers_fail_rule_option_fails_a_blend_of_batches_of_2_and_3_as_comfyui_did() -> None:
    process, url = start_fake("--dialect", "oss", "--fail-rule", "blend-batch-mismatch")
    try:
        good = run_to_the_end(url, recorded_prompt("blend_good.job.json"))
        bad = run_to_the_end(url, recorded_prompt("blend_bad.job.json"))
    finally:
        process.terminate()
        process.wait(timeout=10)
    assert good["status"] == "completed"
    assert bad["status"] == "failed"
    error = next(m[1] for m in bad["execution_status"]["messages"] if m[0] == "execution_error")
    assert (error["node_id"], error["node_type"], error["exception_type"]) == ("4", "ImageBlend", "RuntimeError")
    assert error["exception_message"].startswith("The size of tensor a (2) must match the size of tensor b (3)")


def test_the_fake_server_refuses_an_unknown_fail_rule() -> None:
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "fakecomfy.py"), "--fail-rule", "no-such-rule"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "blend-batch-mismatch" in done.stderr


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """The files demo.sh reads, copied; `.venv` points at the environment running the tests."""
    if not (BIN / "comfy-replay").exists():
        pytest.skip("comfy-replay is not installed beside this Python")
    shutil.copy2(ROOT / "demo.sh", tmp_path / "demo.sh")
    shutil.copytree(ROOT / "recipes", tmp_path / "recipes")
    (tmp_path / "tests" / "data").mkdir(parents=True)
    for module in (ROOT / "tests").glob("fakecomfy*.py"):
        shutil.copy2(module, tmp_path / "tests" / module.name)
    shutil.copy2(DATA / "object_info.json.gz", tmp_path / "tests" / "data" / "object_info.json.gz")
    shutil.copytree(DATA / "bisect", tmp_path / "tests" / "data" / "bisect")
    (tmp_path / ".venv").symlink_to(BIN.parent)
    return tmp_path


def test_the_demo_runs_every_step_rewrites_the_recipes_byte_for_byte_and_stops_its_servers(checkout: Path) -> None:
    before = tree(checkout / "recipes")
    done = subprocess.run(["bash", str(checkout / "demo.sh")], capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(checkout), "COMFY_API_KEY": "not-for-the-demo"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    out = done.stdout
    assert tree(checkout / "recipes") == before
    assert sorted(path.name for path in checkout.iterdir()) == [".venv", "demo-out", "demo.sh", "recipes", "tests"]
    # the same prompt twice: same pixels under new names, node 1 from the cache the prompt in between left
    assert "outputs by content: 2 files, all identical (file names aside)" in out
    assert "from cache: a none; b node 1 (taken from ComfyUI's cache, not run again)" in out
    # red (255, 0, 0) against orange (255, 128, 0), both inverted: 128 in one channel of 3 for every pixel;
    # PSNR 10*log10(255^2 / (128^2 / 3)) = 10.76 dB
    assert "4 images[0]: different: 49152 pixels changed (100%), max diff 128, mean diff 42.6667, PSNR 10.76 dB" in out
    assert (checkout / "demo-out" / "report.html").read_bytes().startswith(b"<!DOCTYPE html>")
    # red 255 -> 254: 1 in one channel; PSNR 10*log10(255^2 * 3) = 52.9 dB
    assert "mismatch  demo-out/suite/red.yaml" in out
    assert "node 4 images[0]: different: 49152 changed pixels (100%), max diff 1, mean diff 0.3333, PSNR 52.9 dB" in out
    junit = (checkout / "demo-out" / "junit.xml").read_text()
    assert 'tests="2" failures="1" errors="0"' in junit
    assert "culprits (1 change of 7, 1-minimal):\n  2.batch_size (EmptyImage): 2 -> 3\n" in out
    assert "environment  ComfyUI 0.33.0; PyTorch 2.14.1+cu130; Python 3.11.7; linux; cpu;" in out
    assert "not-for-the-demo" not in out + done.stderr
    for name in ("archive", "images"):
        url = (checkout / "demo-out" / f"{name}.url").read_text().strip()
        with pytest.raises(requests.ConnectionError):
            requests.get(url + "/api/jobs", timeout=5)
