"""Reports to test: real recorded jobs, a job full of hostile text, and output pairs of images made here."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

from helpers import DATA, load
from PIL import Image

from replay.diff import diff_jobs
from replay.jobs import Job, job_from_document
from replay.outputs import OutputStore
from replay.report import render_diff_report

HOSTILE = '<script>window.__pwned = 1</script>'
HOSTILE_IMG = '"><img src=x onerror="window.__pwned = 2">'


def put(store: OutputStore, data: bytes, ext: str) -> str:
    """Store `data` under its SHA-256 (as a download would) and return the digest."""
    digest = hashlib.sha256(data).hexdigest()
    store.root.mkdir(parents=True, exist_ok=True)
    (store.root / store.name_for(digest, f"x{ext}")).write_bytes(data)
    return digest


def artifact(store: OutputStore, data: bytes, *, node: str = "9", key: str = "images", index: int = 0,
             filename: str = "out_00001_.png", media_type: str = "image/png", ext: str = ".png",
             size: tuple[int, int] | None = None) -> dict[str, Any]:
    """Store `data` and return its artifact (SPEC §7 shape)."""
    art: dict[str, Any] = {"node": node, "key": key, "index": index, "filename": filename, "subfolder": "",
                           "type": "output", "sha256": put(store, data, ext), "size": len(data),
                           "media_type": media_type}
    if size is not None:
        art.update(width=size[0], height=size[1], frames=1)
    return art


def png(image: Image.Image) -> bytes:
    import io

    buffer = io.BytesIO()
    image.save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def gradient(size: int, shift: int = 0) -> Image.Image:
    """A smooth RGB test picture (what a generated image compresses like)."""
    ramp = Image.linear_gradient("L").resize((size, size))
    return Image.merge("RGB", (ramp, ramp.rotate(90), ramp.point(lambda v: (v + shift) % 256)))


def image_pair(store: OutputStore, image_a: Image.Image, image_b: Image.Image, *, index: int = 0,
               result: str = "different", metrics: dict[str, Any] | None = None) -> dict[str, Any]:
    a = artifact(store, png(image_a), index=index, filename=f"a_{index:05}_.png", size=image_a.size)
    b = artifact(store, png(image_b), index=index, filename=f"b_{index:05}_.png", size=image_b.size)
    return {"node": "9", "key": "images", "index": index, "result": result, "a": a, "b": b,
            "metrics": metrics, "why": None, "within_tolerance": result in ("identical", "same-pixels")}


def hostile_jobs() -> tuple[Job, Job]:
    """The recorded failed job, and a copy whose titles, prompt text, output file name and error carry markup."""
    a = load("oss/fail_runtime_zerodiv.job.json")
    b = copy.deepcopy(a)
    prompt = b["workflow"]["prompt"]
    prompt["1"]["_meta"]["title"] = HOSTILE
    prompt["3"]["inputs"]["filename_prefix"] = f"reftest/{HOSTILE_IMG}"
    prompt["5"]["inputs"]["expression"] = f"a / b\n{HOSTILE}\n</pre></td></tr></table>{HOSTILE_IMG}"
    b["outputs"]["3"]["images"][0]["filename"] = f"{HOSTILE_IMG}_00001_.png"
    b["outputs"]["9"] = {"text": [f"line one\n{HOSTILE}"]}
    b["execution_error"]["exception_message"] = f"{HOSTILE} division by zero\n"
    b["execution_error"]["node_type"] = HOSTILE_IMG
    return job_from_document(a), job_from_document(b)


def real_jobs(name_a: str, name_b: str) -> tuple[Job, Job]:
    """Two recorded jobs from tests/data/outputs/."""
    return (job_from_document(json.loads((DATA / "outputs" / name_a).read_text("utf-8"))),
            job_from_document(json.loads((DATA / "outputs" / name_b).read_text("utf-8"))))


def hostile_report(tmp: Path) -> str:
    """A report of the hostile jobs with one image pair whose artifacts also carry markup in their names."""
    a, b = hostile_jobs()
    store = OutputStore(tmp / "store")
    image = gradient(64)
    changed = image.copy()
    changed.putpixel((3, 4), (255, 0, 0))
    pair = image_pair(store, image, changed, metrics={"changed_pixels": 1, "changed_ratio": 1 / 4096,
                                                      "max_diff": 255, "mean_diff": 0.01, "psnr": 50.0})
    pair["b"]["filename"] = f"{HOSTILE_IMG}.png"
    pair["why"] = HOSTILE
    return render_diff_report(diff_jobs(a, b), a, b, pairs=[pair], stores=[store], labels=(HOSTILE, "b.json"))


LIVE = DATA / "outputs" / "live"


def serve_live_runs(server: Any) -> tuple[str, str]:
    """Runs 3 and 4 recorded on a real ComfyUI 0.33 (tests/data/README.md: the same prompt, then ImageBlur sigma
    1.5 -> 1.6) and their files, served by a fake server; returns the two job ids."""
    ids = []
    for n in (3, 4):
        detail = json.loads((LIVE / f"run{n}.job.json").read_text(encoding="utf-8"))
        server.add_job(detail)
        ids.append(detail["id"])
    for name in ("success_a_00002_.png", "success_a_00003_.png"):
        server.files.add(name, (LIVE / "files" / name).read_bytes(), subfolder="outputsuse")
    for name in ("ComfyUI_temp_ptvqi_00001_.png", "ComfyUI_temp_ptvqi_00002_.png"):
        server.files.add(name, (LIVE / "files" / name).read_bytes(), type="temp")
    return ids[0], ids[1]


PATCH_RUNS = ("926b334f-9e65-4402-bd1d-4d34a37f7ca6", "14f959ae-5d02-4eca-8398-50de1cb2cafc")


def serve_patch_runs(server: Any) -> tuple[str, str]:
    """Two jobs recorded on a real ComfyUI 0.33 for the report (tests/data/README.md: the second pastes a 96x96
    red patch into the saved image; its inverted image has the same pixels) and their files, served by a fake
    server; returns the two job ids."""
    for job_id in PATCH_RUNS:
        server.add_job(json.loads((DATA / "report" / f"{job_id}.job.json").read_text(encoding="utf-8")))
    for path in sorted((DATA / "report" / "files").iterdir()):
        server.files.add(path.name, path.read_bytes(), subfolder="report")
    return PATCH_RUNS
