"""Artifacts of jobs: where a job's outputs are stored, downloading them into a job, and judging two jobs' outputs.

`replay.outputs` owns the mechanics (the content-addressed store, `/api/view` downloads, pixel comparison);
this module applies them to jobs and recipes for `fetch --outputs`, `archive --outputs` and `diff`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from replay import canonical
from replay.errors import DocumentError, InputError
from replay.jobs import KIND_RECIPE, Job, cached_nodes

if TYPE_CHECKING:
    from replay.client import Client
    from replay.outputs import OutputPair, OutputStore, Thresholds

OUTPUTS_DIR = "outputs"


def store_dir_beside(recipes: str | os.PathLike[str]) -> Path:
    """The default output store of recipes written to `recipes` (a folder, a .yaml file, or `-`): the folder
    `outputs/` beside the recipe files (`recipes/outputs/` for `-o recipes/`; `./outputs/` for `-`)."""
    text = os.fspath(recipes)
    if text == "-":
        return Path(OUTPUTS_DIR)
    path = Path(text)
    folder = path.parent if text.lower().endswith((".yaml", ".yml")) else path
    return folder / OUTPUTS_DIR


def open_store(folder: str | os.PathLike[str]) -> OutputStore:
    """The content-addressed store in `folder` (created on first write); InputError when it is not a folder."""
    from replay.outputs import OutputStore  # noqa: PLC0415 - Pillow only when outputs are handled

    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise InputError(f"--outputs {path}: exists and is not a folder")
    return OutputStore(path)


def has_output_files(job: Job) -> bool:
    """True when the job's outputs name at least one file (text outputs need no download)."""
    from replay.outputs import output_refs  # noqa: PLC0415

    return bool(job.outputs) and bool(output_refs(job.outputs))


def origin_of(job: Job) -> str | None:
    """The scheme://host[:port] of the server a job was fetched from (its `source.server`), or None."""
    from replay.client import server_origin  # noqa: PLC0415

    came_from = job.source.get("server")
    try:
        return server_origin(came_from) if isinstance(came_from, str) else None
    except InputError:
        return None


def download_job_outputs(job: Job, client: Client, store: OutputStore, *,
                         executor: Executor | None = None) -> list[dict[str, Any]]:
    """Download the files a job's outputs name into `store` and record them as the job's `artifacts`.

    Files the job's current artifacts already hold (by sha256) and that are in the store are not downloaded
    again. A file the server no longer has is recorded `missing: true`. Returns the artifacts.
    """
    from replay.outputs import download_outputs  # noqa: PLC0415

    job.artifacts = download_outputs(client, job.outputs, store, executor=executor, known=job.artifacts or ())
    return job.artifacts


def recorded_artifacts(path: str | os.PathLike[str], job_id: str | None) -> list[dict[str, Any]] | None:
    """The `artifacts` of the recipe at `path` when it is a recipe of job `job_id`, else None.

    Lets a fetch without `--outputs` keep what an earlier `--outputs` fetch recorded, and lets a resumed
    run skip files already stored.
    """
    try:
        data = canonical.loads(Path(path).read_bytes(), file=os.fspath(path))
    except (OSError, DocumentError):
        return None
    if not isinstance(data, dict) or job_id is None:
        return None
    source = data.get("source")
    if not isinstance(source, dict) or source.get("job_id") != job_id:
        return None
    artifacts = data.get("artifacts")
    if not isinstance(artifacts, list) or not all(isinstance(a, dict) for a in artifacts):
        return None
    return artifacts


def recipe_has_artifacts(path: str | os.PathLike[str]) -> bool:
    """True when the recipe file at `path` has a top-level `artifacts` key (a cheap look at its lines)."""
    try:
        with open(path, "rb") as fh:
            return any(line.startswith(b"artifacts:") for line in fh)
    except OSError:
        return False


def make_thresholds(pixel_threshold: int | None = None, max_diff_ratio: float | None = None,
                    min_psnr: float | None = None) -> Thresholds:
    """Image tolerances from the command-line options (SPEC §7); InputError when one is out of range."""
    from replay.outputs import Thresholds  # noqa: PLC0415

    if pixel_threshold is not None and not 0 <= pixel_threshold <= 255:
        raise InputError(f"--pixel-threshold must be a channel difference from 0 to 255, not {pixel_threshold}")
    if max_diff_ratio is not None and not (math.isfinite(max_diff_ratio) and 0 <= max_diff_ratio <= 1):
        raise InputError(f"--max-diff-ratio must be a fraction of pixels from 0 to 1, not {max_diff_ratio}")
    if min_psnr is not None and not (min_psnr >= 0 and not math.isnan(min_psnr)):
        raise InputError(f"--min-psnr must be a number of decibels >= 0, not {min_psnr}")
    return Thresholds(pixel_threshold=pixel_threshold or 0, max_diff_ratio=max_diff_ratio or 0.0, min_psnr=min_psnr)


def side_store(job: Job, ref: str, *, outputs: str | None,
               client_factory: Callable[[], Client] | None = None) -> OutputStore | None:
    """The store holding one diff side's output files, downloading them first when asked and the side lacks them.

    The store is `outputs` when it names a folder, else `outputs/` beside the side's recipe file, else (when
    `outputs` is "", i.e. `--outputs` without a folder) `./outputs`. With `outputs` given, a finished job
    without artifacts that was fetched from the client's server gets its files downloaded from there; recorded
    artifacts are never replaced.
    Returns None when there is no store to look in.
    """
    folder: Path | None = None
    if outputs:
        folder = Path(outputs)
    elif job.kind == KIND_RECIPE and ref != "-" and Path(ref).is_file():
        folder = store_dir_beside(ref)
    elif outputs is not None:
        folder = Path(OUTPUTS_DIR)
    if folder is None or (outputs is None and not folder.is_dir()):
        return None
    store = open_store(folder)
    if outputs is not None and job.artifacts is None and job.is_terminal and origin_of(job) is not None:
        if client_factory is None:
            raise InputError("--outputs downloads from a server, but no server is configured")
        client = client_factory()
        # Only from the job's own server: another one may hold other files under the same names.
        if origin_of(job) == client.server:
            download_job_outputs(job, client, store)
    return store


def compare_job_outputs(a: Job, b: Job, *, stores: Sequence[OutputStore | None] = (None, None),
                        thresholds: Thresholds | None = None) -> list[OutputPair] | None:
    """Compare two jobs' outputs by content (SPEC §7), or None when a side has no artifacts.

    Pairs are matched per output node, key and position; files found in `stores` (a's, b's) get pixel
    metrics, the others are judged by their recorded sha256 and pixel hash alone.
    """
    if a.artifacts is None or b.artifacts is None:
        return None
    from replay.outputs import Thresholds, compare_artifacts  # noqa: PLC0415

    store_a, store_b = (list(stores) + [None, None])[:2]
    return compare_artifacts(a.artifacts, b.artifacts, store_a=store_a, store_b=store_b,
                             thresholds=thresholds or Thresholds())


def all_outputs_cached(job: Job) -> bool:
    """True when ComfyUI reports every output node of the job as served from its cache (nothing was rerun)."""
    cached = cached_nodes(job)
    if not cached or not job.outputs:
        return False
    return all(str(node) in cached for node in job.outputs)


__all__ = [
    "OUTPUTS_DIR",
    "all_outputs_cached",
    "compare_job_outputs",
    "download_job_outputs",
    "has_output_files",
    "make_thresholds",
    "open_store",
    "origin_of",
    "recipe_has_artifacts",
    "recorded_artifacts",
    "side_store",
    "store_dir_beside",
]
