"""Benchmark: comparing output images, and downloading outputs, each against a baseline measured in the same run.

Run as `python bench/outputs.py`.
(a) Two 2048x2048 RGB PNGs (smooth content plus noise, saved at ComfyUI's compress level 4, the second with a
    changed region). Baseline: decode both with Pillow (`Image.open(...).load()`). comfy-replay:
    `compare_images` (decode both, hash the pixels of both, every metric). Best of 5 each, interleaved.
    Target (issue 9): at most 1.5x the baseline.
(b) A local fake ComfyUI (tests/fakecomfy.py in its own process, OSS dialect) that answers every request after
    20 ms serves 200 jobs x 2 distinct PNGs of 1 MB. Baseline: one `requests.Session`, GET /api/view of each file
    and write it to disk, one at a time. comfy-replay: `download_outputs` for each job, 16 jobs at a time on one
    shared pool (as `archive --outputs` runs it: streamed, hashed, decoded, stored), in a fresh process that also
    reports its peak RSS growth. Targets: at least 5x faster; peak RSS growth under 100 MB.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from PIL import Image, ImageChops

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
JOBS, FILES_PER_JOB, FILE_BYTES, DELAY = 200, 2, 1 << 20, 0.02
ROUNDS = 5

SERVER = r"""
import atexit, os, random, shutil, signal, struct, sys, tempfile, threading, zlib
sys.path.insert(0, sys.argv[1])
from fakecomfy import FakeComfy
from fakecomfy_outputs import OutputFiles, Stored

SIDE = 590  # 590 x 590 RGB of noise, stored uncompressed: a PNG of about 1 MB
ROW = SIDE * 3 + 1
NOISE = b"".join(b"\x00" + random.Random(0).randbytes(SIDE * 3) for _ in range(SIDE))

def chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

def png(name):
    # the shared noise with a first row of its own: distinct content and pixels per file, made in about a ms
    first = b"\x00" + random.Random(name).randbytes(SIDE * 3)
    header = struct.pack(">IIBBBBB", SIDE, SIDE, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(first + NOISE[ROW:], 0)) + chunk(b"IEND", b""))

class Generated(OutputFiles):
    # 400 MB of distinct files, written to disk once and read per request (the server holds none of them)
    def __init__(self, folder, names):
        super().__init__()
        self.folder = folder
        for name in names:
            with open(os.path.join(folder, name), "wb") as fh:
                fh.write(png(name))

    def get(self, type, subfolder, filename):
        if not filename.startswith("bench_"):
            return None
        with open(os.path.join(self.folder, filename), "rb") as fh:
            return Stored(fh.read())

folder = tempfile.mkdtemp()
atexit.register(shutil.rmtree, folder, True)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
server = FakeComfy("oss", delay=float(sys.argv[2]))
server.files = Generated(folder, sys.argv[3].split(","))
server.start()
print(server.url, flush=True)
threading.Event().wait()
"""

OURS = """
import json, sys, tempfile, time
from concurrent.futures import ThreadPoolExecutor
from replay.client import Client
from replay.outputs import OutputStore, download_outputs

def status_kb(field):
    # VmHWM, not getrusage's ru_maxrss: that one keeps the peak of the forked copy of the parent across exec
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) for line in fh if line.startswith(field + ":"))

jobs = json.loads(sys.argv[2])
before = status_kb("VmRSS")
with tempfile.TemporaryDirectory() as folder, Client(sys.argv[1], pool_size=32) as client:
    store = OutputStore(folder)
    start = time.perf_counter()
    with ThreadPoolExecutor(16) as pool:
        futures = [pool.submit(download_outputs, client, outputs, store, executor=pool) for outputs in jobs]
        artifacts = [artifact for future in futures for artifact in future.result()]
    seconds = time.perf_counter() - start
    stored = sum(1 for _ in store.root.iterdir())
peak = status_kb("VmHWM")
print(json.dumps({"seconds": seconds, "before_kb": before, "peak_kb": peak, "stored": stored,
                  "decoded": sum(1 for a in artifacts if a.get("pixels"))}))
"""


def make_images(folder: Path) -> tuple[Path, Path]:
    side = 2048
    smooth = Image.merge("RGB", [Image.radial_gradient("L").resize((side, side)),
                                 Image.linear_gradient("L").resize((side, side)),
                                 Image.effect_mandelbrot((side, side), (-2.0, -1.5, 1.0, 1.5), 100)])
    noise = Image.effect_noise((side, side), 8).convert("RGB")
    a = ImageChops.add(smooth, noise, scale=1.0, offset=-128)
    b = a.copy()
    b.paste(ImageChops.invert(a.crop((300, 300, 900, 700))), (300, 300))
    path_a, path_b = folder / "a.png", folder / "b.png"
    a.save(path_a, compress_level=4)
    b.save(path_b, compress_level=4)
    return path_a, path_b


def decode_both(path_a: Path, path_b: Path) -> float:
    start = time.perf_counter()
    for path in (path_a, path_b):
        with Image.open(path) as image:
            image.load()
    return time.perf_counter() - start


def compare_both(path_a: Path, path_b: Path) -> float:
    from replay.outputs import Thresholds, compare_images

    start = time.perf_counter()
    result, metrics, _ = compare_images(path_a, path_b, Thresholds())
    seconds = time.perf_counter() - start
    assert result == "different" and metrics is not None and metrics["changed_pixels"] > 0, (result, metrics)
    return seconds


def bench_compare() -> bool:
    with tempfile.TemporaryDirectory() as folder:
        path_a, path_b = make_images(Path(folder))
        sizes = f"{path_a.stat().st_size / 1e6:.1f} and {path_b.stat().st_size / 1e6:.1f} MB"
        decode_both(path_a, path_b)  # warm up the page cache and Pillow's plugins
        base, ours = [], []
        for _ in range(ROUNDS):
            base.append(decode_both(path_a, path_b))
            ours.append(compare_both(path_a, path_b))
    ratio = min(ours) / min(base)
    print(f"(a) two 2048x2048 RGB PNGs ({sizes}), best of {ROUNDS}")
    print(f"    Pillow decode of both:          {min(base) * 1000:7.1f} ms")
    print(f"    compare_images (decode, hash, metrics): {min(ours) * 1000:7.1f} ms")
    print(f"    ratio: {ratio:.2f}x (target <= 1.5x)")
    return ratio <= 1.5


def bench_download() -> bool:
    jobs = [{"9": {"images": [{"filename": f"bench_{job:03d}_{index}.png", "subfolder": "", "type": "output"}
                              for index in range(FILES_PER_JOB)]}} for job in range(JOBS)]
    names = [item["filename"] for outputs in jobs for item in outputs["9"]["images"]]
    server = subprocess.Popen([sys.executable, "-c", SERVER, str(ROOT / "tests"), str(DELAY), ",".join(names)],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        url = server.stdout.readline().strip()
        with tempfile.TemporaryDirectory() as folder, requests.Session() as session:
            size = len(session.get(f"{url}/api/view", params={"filename": names[0]}, timeout=30).content)
            start = time.perf_counter()
            for outputs in jobs:
                for item in outputs["9"]["images"]:
                    response = session.get(f"{url}/api/view", params=item, timeout=30)
                    response.raise_for_status()
                    (Path(folder) / item["filename"]).write_bytes(response.content)
            t_base = time.perf_counter() - start
        probe = subprocess.run([sys.executable, "-c", OURS, url, json.dumps(jobs)], capture_output=True, text=True,
                               check=True, cwd=ROOT)
    finally:
        server.terminate()
        server.wait(timeout=10)
    ours = json.loads(probe.stdout)
    files = JOBS * FILES_PER_JOB
    assert ours["stored"] == files and ours["decoded"] == files, ours
    ratio = t_base / ours["seconds"]
    growth_mb = (ours["peak_kb"] - ours["before_kb"]) / 1024
    print(f"(b) {JOBS} jobs x {FILES_PER_JOB} PNGs of {size / 1e6:.2f} MB, {DELAY * 1000:.0f} ms per answer")
    print(f"    sequential requests loop:      {t_base:6.2f} s ({t_base / files * 1000:5.1f} ms per file)")
    print(f"    download_outputs, shared pool: {ours['seconds']:6.2f} s ({ours['seconds'] / files * 1000:5.1f} ms "
          "per file, 16 jobs at a time; streamed, hashed, decoded, stored)")
    print(f"    speed-up: {ratio:.1f}x (target >= 5x); peak RSS growth {growth_mb:.1f} MB (target < 100 MB)")
    return ratio >= 5 and growth_mb < 100


def main() -> int:
    ok = bench_compare()
    ok = bench_download() and ok
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
