"""Benchmark: `archive --outputs` end to end against a sequential loop measured in the same run.

Run as `python bench/archive_outputs.py`.
A local fake ComfyUI (tests/fakecomfy.py in its own process, OSS dialect) that answers every request after 20 ms
serves 200 completed jobs, each naming 2 distinct PNGs of 1 MB (the generated files of bench/outputs.py).
Baseline: one `requests.Session`, list the jobs, then for each job GET its detail and GET /api/view of each of
its files and write them to disk, one request at a time. comfy-replay: `comfy-replay archive -o DIR --outputs`
(8 jobs at a time, downloads on a shared pool; every file streamed, hashed, decoded, stored; every recipe
validated and written), in a fresh process that also reports its peak RSS growth.
Targets (issue 9): at least 5x faster; peak RSS growth under 100 MB.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from outputs import DELAY, FILE_BYTES, FILES_PER_JOB, JOBS, ROOT, SERVER  # noqa: E402 - bench/outputs.py

# bench/outputs.py's server script up to where it starts serving: the generated 1 MB PNGs (`png`, `Generated`).
_FILES, _, _ = SERVER.partition("folder = tempfile.mkdtemp()")
assert "class Generated" in _FILES, "bench/outputs.py changed: its server script no longer defines Generated"

SERVER_WITH_JOBS = _FILES + r"""
from fakecomfy_run import make_job

folder = tempfile.mkdtemp()
atexit.register(shutil.rmtree, folder, True)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
jobs, per_job = int(sys.argv[3]), int(sys.argv[4])
server = FakeComfy("oss", delay=float(sys.argv[2]))
names = []
for number in range(jobs):
    detail = make_job("completed", number=number, seed=number, ui=False, create_time=1795860000000 + number * 1000)
    images = [{"filename": f"bench_{number:03d}_{index}.png", "subfolder": "", "type": "output"}
              for index in range(per_job)]
    detail["outputs"] = {"9": {"images": images}}
    names += [image["filename"] for image in images]
    server.add_job(detail)
server.files = Generated(folder, names)
server.start()
print(server.url, flush=True)
threading.Event().wait()
"""

OURS = """
import io, json, sys, time
from replay.cli import main

def status_kb(field):
    # VmHWM, not getrusage's ru_maxrss: that one keeps the peak of the forked copy of the parent across exec
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(field + ":"))

before = status_kb("VmRSS")
out, err = io.StringIO(), io.StringIO()
start = time.perf_counter()
code = main(["archive", "-o", sys.argv[2], "--outputs", "--json"], stdout=out, stderr=err,
            env={"COMFY_SERVER": sys.argv[1]})
seconds = time.perf_counter() - start
peak = status_kb("VmHWM")
print(json.dumps({"code": code, "seconds": seconds, "before_kb": before, "peak_kb": peak,
                  "written": len(json.loads(out.getvalue())["written"]), "summary": err.getvalue()}))
"""


def sequential(url: str, folder: Path) -> float:
    """List the jobs, then fetch each detail and each of its files, one request at a time."""
    start = time.perf_counter()
    with requests.Session() as session:
        listed = session.get(f"{url}/api/jobs", params={"limit": 1000}, timeout=30).json()["jobs"]
        for entry in listed:
            detail = session.get(f"{url}/api/jobs/{entry['id']}", timeout=30).json()
            (folder / f"{entry['id']}.json").write_text(json.dumps(detail), encoding="utf-8")
            for items in detail["outputs"].values():
                for item in items["images"]:
                    response = session.get(f"{url}/api/view", params=item, timeout=30)
                    response.raise_for_status()
                    (folder / item["filename"]).write_bytes(response.content)
    return time.perf_counter() - start


def main() -> int:
    server = subprocess.Popen([sys.executable, "-c", SERVER_WITH_JOBS, str(ROOT / "tests"), str(DELAY), str(JOBS),
                               str(FILES_PER_JOB)], stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        with tempfile.TemporaryDirectory() as base, tempfile.TemporaryDirectory() as recipes:
            t_base = sequential(url, Path(base))
            probe = subprocess.run([sys.executable, "-c", OURS, url, recipes], capture_output=True, text=True,
                                   check=True, cwd=ROOT)
            stored = sum(1 for _ in (Path(recipes) / "outputs").iterdir())
    finally:
        server.terminate()
        server.wait(timeout=10)
    ours = json.loads(probe.stdout)
    files = JOBS * FILES_PER_JOB
    assert ours["code"] == 0 and ours["written"] == JOBS and stored == files, (ours, stored)
    ratio = t_base / ours["seconds"]
    growth_mb = (ours["peak_kb"] - ours["before_kb"]) / 1024
    print(f"{JOBS} jobs x {FILES_PER_JOB} PNGs of about {FILE_BYTES / 1e6:.0f} MB, {DELAY * 1000:.0f} ms per answer")
    print(f"    sequential loop (list, detail, files):   {t_base:6.2f} s")
    print(f"    comfy-replay archive --outputs:          {ours['seconds']:6.2f} s "
          f"(recipes validated and written, files streamed, hashed, decoded, stored)")
    print(f"    {ours['summary'].strip()}")
    print(f"    speed-up: {ratio:.1f}x (target >= 5x); peak RSS growth {growth_mb:.1f} MB (target < 100 MB)")
    ok = ratio >= 5 and growth_mb < 100
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
