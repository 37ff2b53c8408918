"""What jobs produced, by content: downloading output files, storing them by SHA-256 and comparing them (SPEC §7).

An *artifact* is a plain dict in `ARTIFACT_KEYS` order, as written into a recipe's `artifacts` list. A file
name or subfolder from a job is only ever sent back to the server that named it; locally, files are named by
their SHA-256 and a sanitised extension, inside the store's folder.
"""

from __future__ import annotations

import functools
import hashlib
import mimetypes
import os
import re
import secrets
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from PIL.Image import Image

from replay import images
from replay.client import Client
from replay.errors import NotFound
from replay.images import DecodeError, Thresholds

ARTIFACT_KEYS = ("node", "key", "index", "filename", "subfolder", "type", "sha256", "size", "media_type",
                 "width", "height", "frames", "pixels", "missing")
RESULTS = ("identical", "same-pixels", "different", "incomparable", "missing")
DOWNLOAD_THREADS = 8
# Decoding is CPU work: more at once than there are cores only adds memory. A few long-lived threads do all of
# it, so the large buffers of decoded images are reused in their few malloc arenas instead of being left behind
# in the arena of every download thread (which grew the peak RSS by half in bench/outputs.py).
_DECODER = ThreadPoolExecutor(max(2, os.cpu_count() or 2), thread_name_prefix="replay-decode")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_EXTENSION = re.compile(r"\.[a-z0-9]{1,10}")
_TEMP_PREFIX = ".download-"
ABANDONED_AFTER = 24 * 3600.0

Artifact = dict[str, Any]
Metrics = dict[str, float | int | None]


def output_refs(outputs: Mapping[str, Any]) -> list[Artifact]:
    """Files a job's `outputs` mapping names, in the job's order: {node, key, index, filename, subfolder, type}.

    An item is a file when it is an object with a string `filename`; text outputs (lists of strings, e.g.
    PreviewAny's `text`) and flags (`animated: [true]`) are not files and are not listed.
    """
    refs: list[Artifact] = []
    if not isinstance(outputs, Mapping):
        return refs
    for node_id, produced in outputs.items():
        if not isinstance(produced, Mapping):
            continue
        for key, items in produced.items():
            if not isinstance(items, list):
                continue
            for index, item in enumerate(items):
                if isinstance(item, Mapping) and isinstance(item.get("filename"), str):
                    subfolder = item.get("subfolder")
                    kind = item.get("type")
                    refs.append({
                        "node": str(node_id), "key": str(key), "index": index, "filename": item["filename"],
                        "subfolder": subfolder if isinstance(subfolder, str) else "",
                        "type": kind if isinstance(kind, str) else "output",
                    })
    return refs


def extension_of(filename: str) -> str:
    """The lower-case extension of a job's file name when it is plain (`.png`, `.webp`, `.mp4`), else ``""``."""
    name = PurePosixPath(filename.replace("\\", "/")).name
    suffix = PurePosixPath(name).suffix.lower()
    return suffix if _EXTENSION.fullmatch(suffix) else ""


def _ordered(artifact: Mapping[str, Any]) -> Artifact:
    known = {key: artifact[key] for key in ARTIFACT_KEYS if key in artifact}
    extra = {key: value for key, value in artifact.items() if key not in known}
    return {**known, **extra}


class OutputStore:
    """A content-addressed folder: `<root>/<sha256><.ext>`, each content once, written atomically."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self._swept = False

    def __repr__(self) -> str:
        return f"OutputStore({str(self.root)!r})"

    def name_for(self, sha256: str, filename: str) -> str:
        """The store's file name for a content: its SHA-256 and the sanitised extension of `filename`."""
        if not _SHA256.fullmatch(sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256[:80]!r}")
        return sha256 + extension_of(filename)

    def path_for(self, artifact: Mapping[str, Any]) -> Path | None:
        """Where the artifact's content is in the store, if it is stored (whatever extension it was stored with)."""
        sha = artifact.get("sha256")
        if not isinstance(sha, str) or not _SHA256.fullmatch(sha):
            return None
        filename = artifact.get("filename")
        path = self.root / self.name_for(sha, filename if isinstance(filename, str) else "")
        if path.is_file():
            return path
        for other in sorted(self.root.glob(sha + "*")) if self.root.is_dir() else ():
            if (other.name == sha or _EXTENSION.fullmatch(other.name[64:])) and other.is_file():
                return other
        return None

    def has(self, artifact: Mapping[str, Any]) -> bool:
        """Whether the artifact's content is in the store."""
        return self.path_for(artifact) is not None

    def temporary(self) -> tuple[int, Path]:
        """A new temporary file inside the store (so the final rename stays on one file system): (fd, path).

        Created exclusively with the mode a new file gets under the umask (mkstemp's 0600 would make the
        stored outputs private)."""
        self.root.mkdir(parents=True, exist_ok=True)
        if not self._swept:
            self._swept = True
            self.remove_abandoned()
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
        while True:
            path = self.root / f"{_TEMP_PREFIX}{secrets.token_hex(8)}.part"
            try:
                return os.open(path, flags, 0o666), path
            except FileExistsError:
                continue

    def remove_abandoned(self, older_than: float = ABANDONED_AFTER) -> int:
        """Delete temporary files of downloads interrupted long ago (not written to for `older_than` seconds: a
        running download writes to its file all the time); return how many."""
        removed = 0
        deadline = time.time() - older_than
        for path in self.root.glob(f"{_TEMP_PREFIX}*.part"):
            try:
                if path.stat().st_mtime < deadline:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue  # another process finished or removed it
        return removed

    def adopt(self, temp: Path, sha256: str, filename: str) -> Path:
        """Move a finished temporary file to its content address (or drop it when that content is stored)."""
        target = self.root / self.name_for(sha256, filename)
        if target.is_file():
            temp.unlink(missing_ok=True)
        else:
            os.replace(temp, target)
        return target


def describe_file(path: Path, filename: str, *, sha256: str | None = None) -> Artifact:
    """sha256, size, media_type, and for decodable images and animations width, height, frames and pixels
    (SHA-256 of the decoded pixels in a canonical form, see replay.images). Never raises on a corrupt image: an
    undecodable file has no `pixels` and its media type is guessed from `filename`. `sha256`: the file's digest
    when the caller computed it while writing (the file is then not read twice)."""
    if sha256 is None:
        digest = hashlib.sha256()
        with path.open("rb") as file:
            while chunk := file.read(1 << 20):
                digest.update(chunk)
        sha256 = digest.hexdigest()
    described: Artifact = {"sha256": sha256, "size": path.stat().st_size}
    try:
        info = _DECODER.submit(images.inspect_image, path).result()
    except DecodeError:
        guessed = mimetypes.guess_type(PurePosixPath(filename.replace("\\", "/")).name, strict=False)[0]
        described["media_type"] = guessed or "application/octet-stream"
        return described
    described.update(media_type=info.media_type, width=info.width, height=info.height, frames=info.frames,
                     pixels=info.pixels)
    return described


class _Task:
    """One download, run exactly once by whichever thread claims it first (a pool worker or the caller)."""

    def __init__(self, run: Callable[[], Artifact]) -> None:
        self._run = run
        self._claimed = threading.Lock()
        self._done = threading.Event()
        self.result: Artifact | None = None
        self.error: BaseException | None = None

    def __call__(self) -> None:
        if not self._claimed.acquire(blocking=False):
            return
        try:
            self.result = self._run()
        except BaseException as exc:  # handed to the caller, which re-raises it
            self.error = exc
        finally:
            self._done.set()

    def wait(self) -> Artifact:
        self()  # not started by anyone yet: run it here (so a full shared pool can never deadlock us)
        self._done.wait()
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


def _download(client: Client, ref: Artifact, store: OutputStore) -> Artifact:
    fd, temp = store.temporary()
    try:
        with os.fdopen(fd, "wb") as dest:
            try:
                got = client.view(ref["filename"], ref["subfolder"], ref["type"], dest)
            except NotFound:
                return _ordered({**ref, "missing": True})
        described = describe_file(temp, ref["filename"], sha256=got.sha256 or None)
        store.adopt(temp, described["sha256"], ref["filename"])
        return _ordered({**ref, **described})
    finally:
        temp.unlink(missing_ok=True)


def download_outputs(
    client: Client,
    outputs: Mapping[str, Any],
    store: OutputStore,
    *,
    executor: Executor | None = None,
    known: Sequence[Mapping[str, Any]] = (),
) -> list[Artifact]:
    """GET /api/view for each file of `outputs`, streamed to a temporary file in the store, size-checked and
    renamed to its SHA-256; return the artifacts in the job's order.

    A 404 gives `{..., "missing": True}`. An artifact of `known` (e.g. the recipe's) naming the same file whose
    content is in the store is returned as it is, without a request. `executor` lets a caller share its pool;
    the calling thread also runs downloads no worker has started, so a busy shared pool cannot deadlock.
    Other failures (server unreachable, a body cut off after every retry) raise ServerError after the other
    downloads have finished; files already stored stay, so running again resumes.
    """
    reuse: dict[tuple[Any, ...], Mapping[str, Any]] = {}
    for artifact in known:
        if not artifact.get("missing") and store.has(artifact):
            reuse[_identity(artifact)] = artifact
    results: list[Artifact | _Task] = []
    tasks: list[_Task] = []
    for ref in output_refs(outputs):
        stored = reuse.get(_identity(ref))
        if stored is not None:
            results.append(_ordered(stored))
            continue
        task = _Task(functools.partial(_download, client, ref, store))
        tasks.append(task)
        results.append(task)
    own: ThreadPoolExecutor | None = None
    if len(tasks) > 1 and executor is None:
        own = executor = ThreadPoolExecutor(min(DOWNLOAD_THREADS, len(tasks)), thread_name_prefix="replay-view")
    try:
        if executor is not None:
            for task in tasks[1:]:  # the first one runs here at once
                executor.submit(task)
        errors: list[BaseException] = []
        for task in tasks:
            try:
                task.wait()
            except Exception as exc:  # wait for the rest before raising: no download of ours left running
                errors.append(exc)
            # (KeyboardInterrupt goes at once: downloads already running finish on their own, atomically)
        if errors:
            raise errors[0]
    finally:
        if own is not None:
            own.shutdown(wait=True, cancel_futures=True)
    return [item if isinstance(item, dict) else _finished(item) for item in results]


def _finished(task: _Task) -> Artifact:
    assert task.result is not None
    return task.result


def _identity(artifact: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(artifact.get(key) for key in ("node", "key", "index", "filename", "subfolder", "type"))


# ---------------------------------------------------------------------------------------------- comparing


@dataclass
class OutputPair:
    """One compared output, SPEC §4 "Output comparisons"."""

    node: str
    key: str
    index: int
    result: str  # one of RESULTS
    a: Artifact | None
    b: Artifact | None
    metrics: Metrics | None
    why: str | None
    within_tolerance: bool  # identical, same-pixels, or "different" that the thresholds accept

    def to_json(self) -> dict[str, Any]:
        """The SPEC §4 shape, plus `within_tolerance`."""
        return {"node": self.node, "key": self.key, "index": self.index, "result": self.result, "a": self.a,
                "b": self.b, "metrics": self.metrics, "why": self.why, "within_tolerance": self.within_tolerance}


def _is_image(artifact: Mapping[str, Any]) -> bool:
    media = artifact.get("media_type")
    return isinstance(media, str) and media.startswith("image/")


def _describe_size(artifact: Mapping[str, Any]) -> str:
    frames = artifact.get("frames")
    size = f"{artifact.get('width')}x{artifact.get('height')}"
    return size + (f" x {frames} frames" if isinstance(frames, int) and frames > 1 else "")


def _pair_result(
    a: Mapping[str, Any], b: Mapping[str, Any], store_a: OutputStore | None, store_b: OutputStore | None,
    thresholds: Thresholds,
) -> tuple[str, Metrics | None, str | None]:
    if a.get("missing") and b.get("missing"):
        return "missing", None, (f"the server no longer had either file ({a.get('filename')!r}, "
                                 f"{b.get('filename')!r}: 404)")
    for side, artifact in (("A", a), ("B", b)):
        if artifact.get("missing"):
            return "missing", None, f"the server no longer had {side}'s file {artifact.get('filename')!r} (404)"
    if a.get("sha256") and a.get("sha256") == b.get("sha256"):
        return "identical", None, None
    if not a.get("sha256") or not b.get("sha256"):
        return "incomparable", None, "content unknown: download the outputs of both jobs (--outputs)"
    if not (_is_image(a) or a.get("pixels")) and not (_is_image(b) or b.get("pixels")):
        if a.get("media_type") != b.get("media_type"):
            return "incomparable", None, f"kind changed: {a.get('media_type')} -> {b.get('media_type')}"
        return "different", None, None  # compared by bytes
    if _is_image(a) != _is_image(b):
        return "incomparable", None, f"kind changed: {a.get('media_type')} -> {b.get('media_type')}"
    for side, artifact in (("A", a), ("B", b)):
        if not artifact.get("pixels"):
            return "incomparable", None, f"{side} ({artifact.get('media_type')}) cannot be decoded as an image"
    if a["pixels"] == b["pixels"]:
        return "same-pixels", None, None
    if (a.get("width"), a.get("height")) != (b.get("width"), b.get("height")):
        return "incomparable", None, f"size changed: {_describe_size(a)} -> {_describe_size(b)}"
    if a.get("frames") != b.get("frames"):
        return "incomparable", None, f"frame count changed: {a.get('frames')} -> {b.get('frames')}"
    path_a = store_a.path_for(a) if store_a is not None else None
    path_b = store_b.path_for(b) if store_b is not None else None
    if path_a is None or path_b is None:
        return "different", None, "pixels differ; the files are not stored, so there are no metrics"
    return images.compare_images(path_a, path_b, thresholds)


def compare_artifacts(
    a: Sequence[Mapping[str, Any]],
    b: Sequence[Mapping[str, Any]],
    *,
    store_a: OutputStore | None,
    store_b: OutputStore | None,
    thresholds: Thresholds = images.EXACT,
) -> list[OutputPair]:
    """Pair outputs by (node, key, index) in A's order, then B's extras, and compare them by content.

    A pair whose files are not stored is judged by sha256 and pixels alone: identical / same-pixels / different
    without metrics, or incomparable with why. Missing on one side, or a 404 when downloading: `missing`.
    """
    def key(artifact: Mapping[str, Any]) -> tuple[str, str, int]:
        index = artifact.get("index")
        return str(artifact.get("node")), str(artifact.get("key")), index if isinstance(index, int) else 0

    by_key_b = {key(artifact): artifact for artifact in b}
    pairs: list[OutputPair] = []
    seen: set[tuple[str, str, int]] = set()
    for artifact in a:
        pair_key = key(artifact)
        seen.add(pair_key)
        other = by_key_b.get(pair_key)
        pairs.append(_compare_pair(pair_key, artifact, other, store_a, store_b, thresholds))
    for artifact in b:
        if key(artifact) not in seen:
            pairs.append(_compare_pair(key(artifact), None, artifact, store_a, store_b, thresholds))
    return pairs


def _compare_pair(
    pair_key: tuple[str, str, int], a: Mapping[str, Any] | None, b: Mapping[str, Any] | None,
    store_a: OutputStore | None, store_b: OutputStore | None, thresholds: Thresholds,
) -> OutputPair:
    node, key, index = pair_key
    if a is None or b is None:
        only = "only in B" if a is None else "only in A"
        return OutputPair(node, key, index, "missing", _plain(a), _plain(b), None, only, False)
    result, metrics, why = _pair_result(a, b, store_a, store_b, thresholds)
    within = result in ("identical", "same-pixels") or (
        result == "different" and metrics is not None and thresholds.accept(metrics)
    )
    return OutputPair(node, key, index, result, _plain(a), _plain(b), metrics, why, within)


def _plain(artifact: Mapping[str, Any] | None) -> Artifact | None:
    return _ordered(artifact) if artifact is not None else None


def compare_images(
    path_a: Path, path_b: Path, thresholds: Thresholds = images.EXACT
) -> tuple[str, Metrics | None, str | None]:
    """(result, metrics, why) for two image files; see replay.images.compare_images."""
    return images.compare_images(path_a, path_b, thresholds)


def difference_image(path_a: Path, path_b: Path, *, max_side: int = 512) -> Image | None:
    """Changed pixels highlighted over a faded copy of A (for reports); None when not comparable."""
    return images.difference_image(path_a, path_b, max_side=max_side)


__all__ = [
    "ARTIFACT_KEYS",
    "RESULTS",
    "OutputPair",
    "OutputStore",
    "Thresholds",
    "compare_artifacts",
    "compare_images",
    "describe_file",
    "difference_image",
    "download_outputs",
    "extension_of",
    "output_refs",
]
