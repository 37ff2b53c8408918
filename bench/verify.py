"""Benchmark: `verify` of 40 recipes spread over 4 servers against the same 40 on one server.

Run as `python bench/verify.py`. Five local fake ComfyUI servers (tests/fakecomfy.py, separate processes, OSS
dialect, rendering real PNGs and caching like ComfyUI): one records the 40 recipes with their outputs (not
timed); four run jobs one at a time, each job taking 200 ms. In the same run, best of 2 each:
  - baseline: `verify` of the 40 recipes with one server;
  - spread: `verify` of the same 40 with the four servers.
Every recipe must come back `match` in both. Target (issue 10): the spread run at least 3.5x faster (the limit
is 4x).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from replay.client import Client  # noqa: E402
from replay.jobs import job_from_detail  # noqa: E402
from replay.outputs import OutputStore, download_outputs  # noqa: E402
from replay.recipe import build_recipe, dumps_recipe  # noqa: E402
from replay.submit import submit_prompt, wait_for_job  # noqa: E402
from replay.verify import verify  # noqa: E402

RECIPES, SERVERS, JOB_SECONDS = 40, 4, 0.2
ROUNDS = 2
TARGET = 3.5


class Server:
    """tests/fakecomfy.py in its own process, so its work does not share our interpreter."""

    def __init__(self, *options: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "fakecomfy.py"), "--dialect", "oss", "--port", "0", "--caching",
             "--run-polls", "0", *options], stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def prompt(index: int) -> dict[str, Any]:
    return {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 128, "height": 96, "batch_size": 1,
                                                     "color": 0x030507 * (index + 1)}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": f"bench{index}"}},
    }


def record(url: str, folder: Path) -> list[Path]:
    paths = []
    with Client(url) as client:
        store = OutputStore(folder / "outputs")
        for index in range(RECIPES):
            job_id = submit_prompt(client, prompt(index), preflight=False)
            job = wait_for_job(client, job_id, sleep=lambda s: time.sleep(0.01))
            job = job_from_detail(client.get_job(job_id))
            recipe = build_recipe(job, server=client.server)
            recipe["artifacts"] = download_outputs(client, job.outputs, store)
            path = folder / f"r{index:02d}.yaml"
            path.write_text(dumps_recipe(recipe), encoding="utf-8")
            paths.append(path)
    return paths


def timed(paths: list[Path], urls: list[str]) -> float:
    clients = [Client(url, pool_size=4) for url in urls]
    try:
        start = time.perf_counter()
        run = verify(paths, clients)
        seconds = time.perf_counter() - start
    finally:
        for client in clients:
            client.close()
    counts = run.counts
    if counts["match"] != RECIPES:
        raise SystemExit(f"expected {RECIPES} matches, got {counts}")
    return seconds


def main() -> int:
    recorder = Server()
    workers = [Server("--job-seconds", str(JOB_SECONDS)) for _ in range(SERVERS)]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            paths = record(recorder.url, Path(tmp))
            one = min(timed(paths, [workers[0].url]) for _ in range(ROUNDS))
            spread = min(timed(paths, [w.url for w in workers]) for _ in range(ROUNDS))
    finally:
        for server in [recorder, *workers]:
            server.close()
    ratio = one / spread
    print(f"verify {RECIPES} recipes, jobs of {JOB_SECONDS * 1000:.0f} ms: one server {one:.2f} s, "
          f"{SERVERS} servers {spread:.2f} s")
    print(f"ratio {ratio:.2f}x (target >= {TARGET}x, limit {SERVERS}x): {'PASS' if ratio >= TARGET else 'FAIL'}")
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
