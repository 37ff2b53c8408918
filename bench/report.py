"""Benchmark: the HTML report of 20 image pairs against decoding those images, measured in the same run.

Run as `python bench/report.py`.
20 pairs of 1024x1024 RGB PNGs (smooth content plus noise, saved at ComfyUI's compress level 4; each b has a
changed region) in an output store. Baseline: decode the 40 files with Pillow (`Image.open(...).load()`).
comfy-replay: `render_diff_report` of a diff with those 20 pairs (decode each image once, scale a and b for the
page, mark the changed pixels at full size, encode the three page images within the size budget, fill the
template). Best of 3 each, interleaved. Target (issue 13): at most 2x the baseline. Also prints the report size.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image, ImageChops

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PAIRS, SIDE, ROUNDS = 20, 1024, 3

from replay.diff import diff_jobs  # noqa: E402
from replay.jobs import job_from_document  # noqa: E402
from replay.outputs import OutputStore, describe_file  # noqa: E402
from replay.report import ReportLimits, render_diff_report  # noqa: E402


def make_pairs(store: OutputStore) -> tuple[list[Path], list[dict[str, Any]]]:
    smooth = Image.merge("RGB", [Image.radial_gradient("L").resize((SIDE, SIDE)),
                                 Image.linear_gradient("L").resize((SIDE, SIDE)),
                                 Image.effect_mandelbrot((SIDE, SIDE), (-2.0, -1.5, 1.0, 1.5), 100)])
    store.root.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    pairs = []
    for index in range(PAIRS):
        noise = Image.effect_noise((SIDE, SIDE), 8).convert("RGB")
        a = ImageChops.add(smooth, noise, scale=1.0, offset=-128)
        b = a.copy()
        box = (50 + 30 * index, 60, 350 + 30 * index, 300)
        b.paste(ImageChops.invert(a.crop(box)), box[:2])
        arts = []
        for side, image in (("a", a), ("b", b)):
            temp = store.root / f"{side}{index}.png"
            image.save(temp, compress_level=4)
            described = describe_file(temp, temp.name)
            path = store.root / store.name_for(described["sha256"], temp.name)
            temp.rename(path)
            paths.append(path)
            arts.append({"node": "9", "key": "images", "index": index, "filename": f"{side}_{index:05}_.png",
                         "subfolder": "", "type": "output", **described})
        pairs.append({"node": "9", "key": "images", "index": index, "result": "different", "a": arts[0],
                      "b": arts[1], "metrics": {"changed_pixels": 72000, "changed_ratio": 0.0687, "max_diff": 255,
                                                "mean_diff": 11.2, "psnr": 21.3},
                      "why": None, "within_tolerance": False})
    return paths, pairs


def decode_all(paths: list[Path]) -> float:
    start = time.perf_counter()
    for path in paths:
        with Image.open(path) as image:
            image.load()
    return time.perf_counter() - start


def main() -> int:
    data = ROOT / "tests" / "data" / "outputs"
    job_a, job_b = (job_from_document(json.loads((data / name).read_text("utf-8")))
                    for name in ("success_a_run1.job.json", "success_a_run3_after_free.job.json"))
    diff = diff_jobs(job_a, job_b)
    with tempfile.TemporaryDirectory() as folder:
        store = OutputStore(Path(folder) / "outputs")
        paths, pairs = make_pairs(store)
        decode_all(paths)  # warm the page cache and Pillow's plugins
        base, ours = [], []
        page = ""
        for _ in range(ROUNDS):
            base.append(decode_all(paths))
            start = time.perf_counter()
            page = render_diff_report(diff, job_a, job_b, pairs=pairs, stores=[store])
            ours.append(time.perf_counter() - start)
    size = len(page.encode("utf-8"))
    limit = ReportLimits().max_bytes
    ratio = min(ours) / min(base)
    print(f"{PAIRS} pairs of {SIDE}x{SIDE} RGB PNGs, best of {ROUNDS}")
    print(f"    Pillow decode of the {2 * PAIRS} images: {min(base) * 1000:7.1f} ms")
    print(f"    render_diff_report:              {min(ours) * 1000:7.1f} ms")
    print(f"    ratio: {ratio:.2f}x (target <= 2x)")
    print(f"    report: {size / 1e6:.2f} MB, {page.count('<img ')} images (limit {limit / 2**20:.0f} MiB)")
    ok = ratio <= 2.0 and size <= limit
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
