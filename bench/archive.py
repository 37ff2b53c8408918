"""Benchmark: `archive` against a plain sequential `requests` loop, and its memory on a large history.

Run as `python bench/archive.py`. A local fake ComfyUI (tests/fakecomfy.py, a separate process, OSS dialect)
serves 500 generated jobs of about 10 KB and answers every request after 20 ms. In the same run:
  - baseline: one `requests.Session`, for each finished job GET /api/jobs/{id} and write the body to a file,
    one job at a time (the job ids are handed to it; listing is not timed);
  - comfy-replay: `archive` at its default concurrency (listing, fetching, validating, writing recipes), into a
    fresh folder each time, best of 3 runs (the loop waits on the server, archive on the CPU: noise hits it).
Target (issue 3): archive at least 5x faster. Then, in a fresh process, archive 2,000 jobs from a server without
delay and report the peak RSS growth (target: under 100 MB).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
JOBS, SIZE_KB, DELAY = 500, 10, 0.02
MEMORY_JOBS = 2000
ROUNDS = 3
TERMINAL = ("completed", "failed", "cancelled")

MEMORY_PROBE = """
import json, resource, sys, tempfile
from replay.archive import archive
from replay.client import Client

def rss_kb():
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith("VmRSS:"))

client = Client(sys.argv[1], pool_size=8)
before = rss_kb()
with tempfile.TemporaryDirectory() as folder:
    result = archive(client, folder, helpers=None)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"before_kb": before, "peak_kb": peak, "written": len(result.written)}))
"""


class Server:
    """tests/fakecomfy.py in its own process, so its work does not share our interpreter."""

    def __init__(self, jobs: int, delay: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "fakecomfy.py"), "--dialect", "oss", "--port", "0",
             "--bulk", str(jobs), "--bulk-size-kb", str(SIZE_KB), "--delay", str(delay)],
            stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()

    def __enter__(self) -> Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def finished_ids(url: str) -> list[str]:
    body = requests.get(f"{url}/api/jobs", params={"limit": 1000}, timeout=30).json()
    return [job["id"] for job in body["jobs"] if job["status"] in TERMINAL]


def baseline(url: str, ids: list[str], folder: Path) -> float:
    start = time.perf_counter()
    with requests.Session() as session:
        for job_id in ids:
            response = session.get(f"{url}/api/jobs/{job_id}", timeout=30)
            response.raise_for_status()
            (folder / f"{job_id}.json").write_bytes(response.content)
    return time.perf_counter() - start


def ours(url: str, folder: Path) -> tuple[float, int]:
    from replay.archive import archive
    from replay.client import Client

    start = time.perf_counter()
    with Client(url, pool_size=8) as client:
        result = archive(client, folder, helpers=None)  # as the command line runs it
    return time.perf_counter() - start, len(result.written)


def main() -> int:
    with Server(JOBS, DELAY) as server:
        ids = finished_ids(server.url)
        size = len(requests.get(f"{server.url}/api/jobs/{ids[0]}", timeout=30).content)
        print(f"server: {JOBS} jobs ({len(ids)} finished), {size / 1024:.1f} KB each, {DELAY * 1000:.0f} ms per answer")
        with tempfile.TemporaryDirectory() as a:
            t_base = baseline(server.url, ids, Path(a))
        runs = []
        for _ in range(ROUNDS):  # CPU-bound, so the noisiest side: best of a few fresh runs
            with tempfile.TemporaryDirectory() as b:
                runs.append(ours(server.url, Path(b)))
    t_ours = min(t for t, _ in runs)
    assert all(written == len(ids) for _, written in runs), f"archive wrote {runs} of {len(ids)}"
    ratio = t_base / t_ours
    print(f"sequential requests loop: {t_base:6.2f} s ({t_base / len(ids) * 1000:5.1f} ms per job)")
    print(f"comfy-replay archive:     {t_ours:6.2f} s ({t_ours / len(ids) * 1000:5.1f} ms per job, concurrency 8; "
          f"best of {ROUNDS}: {', '.join(f'{t:.2f}' for t, _ in runs)} s)")
    print(f"speed-up: {ratio:.1f}x (target >= 5x)")

    with Server(MEMORY_JOBS, 0.0) as server:
        probe = subprocess.run([sys.executable, "-c", MEMORY_PROBE, server.url], capture_output=True, text=True,
                               check=True, cwd=ROOT)
    memory = json.loads(probe.stdout)
    growth_mb = (memory["peak_kb"] - memory["before_kb"]) / 1024
    print(f"memory: archiving {memory['written']} jobs grew peak RSS by {growth_mb:.1f} MB (target < 100 MB)")
    ok = ratio >= 5 and growth_mb < 100
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
