"""Output files of the fake ComfyUI server: GET /api/view in both dialects, Cloud's signed-storage redirect,
and real PNG/WebP bytes rendered from a prompt for the scripted executor.

OSS `/api/view` answers like ComfyUI 0.33's `server.py` (recorded in ../shared/fixtures/README.md, "Added
2026-12-03"): 400 for a filename starting with `/` or containing `..` or for an unknown `type`, 403 for a
subfolder outside the type's folder, 404 for a missing file, 200 with `Content-Disposition` otherwise; `preview=`
is a re-encode we refuse to serve here (it must never be asked for). Cloud `/api/view` needs the API key and
answers 302 to a second loopback server (`Storage`) that records every request's headers, so a test can see
whether `X-API-Key` reached it.

Uses Pillow (a runtime dependency of comfy-replay) for rendering images; the rest is the standard library.
"""

from __future__ import annotations

import io
import json
import mimetypes
import posixpath
import re
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from fakecomfy_http import (
    Fault,
    Logged,
    Response,
    ThreadedServer,
    json_response,
    serve_in_thread,
    stop_serving,
    take_fault,
)
from fakecomfy_jobs import JsonDict, is_link

OSS_TYPES = ("output", "input", "temp")
MAX_SIDE = 4096  # the fake renders at most this many pixels a side (a prompt asking for more is clamped)


@dataclass
class Stored:
    """One served file: its bytes, and optionally a Content-Length to announce instead of the true one."""

    data: bytes
    declared_length: int | None = None


@dataclass
class OutputFiles:
    """The files `/api/view` serves, by (type, subfolder, filename)."""

    files: dict[tuple[str, str, str], Stored] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, filename: str, data: bytes, *, subfolder: str = "", type: str = "output",
            declared_length: int | None = None) -> None:
        """Serve `data` as `filename` in `subfolder` of `type`; `declared_length` announces a wrong size."""
        with self.lock:
            self.files[(type, subfolder, filename)] = Stored(data, declared_length)

    def remove(self, filename: str, *, subfolder: str = "", type: str = "output") -> None:
        """Stop serving a file (like ComfyUI cleaning up its temp folder)."""
        with self.lock:
            self.files.pop((type, subfolder, filename), None)

    def get(self, type: str, subfolder: str, filename: str) -> Stored | None:
        with self.lock:
            return self.files.get((type, subfolder, filename))


def add_output_folder(files: OutputFiles, folder: Path) -> int:
    """Serve every file below `folder` as `<type>/<subfolder...>/<name>` (e.g. `output/reftest/x.png`); return
    how many."""
    count = 0
    for path in sorted(folder.rglob("*")):
        parts = path.relative_to(folder).parts
        if path.is_file() and len(parts) >= 2:
            files.add(parts[-1], path.read_bytes(), subfolder="/".join(parts[1:-1]), type=parts[0])
            count += 1
    return count


def _file_response(stored: Stored, filename: str) -> Response:
    content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
    headers = {"Content-Disposition": f'filename="{filename}"'}
    if stored.declared_length is not None:
        headers["Content-Length"] = str(stored.declared_length)
        headers["Connection"] = "close"  # the body does not match the header: nothing can follow on this connection
    return Response(200, stored.data, content_type, headers)


def oss_view(files: OutputFiles, query: Mapping[str, str]) -> Response:
    """GET /view of OSS ComfyUI (server.py `view_image`), without the preview/channel re-encodes."""
    filename = query.get("filename")
    if not filename:
        return Response(404, b"", "text/plain; charset=utf-8")
    if filename.startswith("/") or ".." in filename:
        return Response(400, b"", "text/plain; charset=utf-8")
    kind = query.get("type", "output")
    if kind not in OSS_TYPES:
        return Response(400, b"", "text/plain; charset=utf-8")
    subfolder = query.get("subfolder", "")
    base = f"/comfy/{kind}"
    folder = posixpath.normpath(posixpath.join(base, subfolder))
    if posixpath.commonpath([folder, base]) != base:
        return Response(403, b"", "text/plain; charset=utf-8")
    if "preview" in query or "channel" in query:
        return Response(400, b"preview and channel re-encode the file: not served by the fake", "text/plain")
    relative = posixpath.relpath(folder, base)
    stored = files.get(kind, "" if relative == "." else relative, posixpath.basename(filename))
    if stored is None:
        return Response(404, b"", "text/plain; charset=utf-8")
    return _file_response(stored, posixpath.basename(filename))


class Storage:
    """A second loopback server standing for Cloud's signed storage: serves files by one-time tokens and records
    every request (`requests`, headers lower-cased). Faults apply here too (`fault(...)`)."""

    def __init__(self, files: OutputFiles) -> None:
        self.files = files
        self.delay = 0.0
        self.verbose = False
        self.requests: list[Logged] = []
        self.errors: list[str] = []
        self.faults: list[Fault] = []
        self._tokens: dict[str, tuple[str, str, str]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._httpd: ThreadedServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> Storage:
        self._httpd, self._thread = serve_in_thread(self, 0, "fakecomfy-storage")
        return self

    def stop(self) -> None:
        self._stopping.set()
        stop_serving(self._httpd, self._thread)
        self._httpd = None

    @property
    def url(self) -> str:
        assert self._httpd is not None
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def sign(self, kind: str, subfolder: str, filename: str) -> str:
        """A signed URL for a file, as Cloud's redirect gives (the signature is a query parameter)."""
        token = secrets.token_hex(8)
        with self._lock:
            self._tokens[token] = (kind, subfolder, filename)
        return f"{self.url}/signed/{token}/{filename.rsplit('/', 1)[-1]}?X-Goog-Signature={secrets.token_hex(16)}"

    def fault(self, path_re: str | None = None, kind: str = "status", times: int | None = None,
              **options: Any) -> Fault:
        """Misbehave on matching requests, like `FakeComfy.fault` (kinds of fakecomfy_http.FAULT_KINDS)."""
        fault = Fault(kind, re.compile(path_re) if path_re is not None else None, None, None, times, dict(options))
        with self._lock:
            self.faults.append(fault)
        return fault

    # Backend protocol (fakecomfy_http)
    def record(self, method: str, target: str, headers: Mapping[str, str]) -> Fault | None:
        with self._lock:
            self.requests.append(Logged(method, target, dict(headers)))
            return take_fault(self.faults, method, target)

    def respond(self, method: str, target: str, headers: Mapping[str, str], body: bytes) -> Response:
        parts = urlsplit(target).path.split("/")
        token = parts[2] if len(parts) > 2 and parts[1] == "signed" else ""
        with self._lock:
            key = self._tokens.get(token)
        stored = self.files.get(*key) if key is not None else None
        if key is None or stored is None:
            return Response(404, b"<Error><Code>NoSuchKey</Code></Error>", "application/xml")
        return _file_response(stored, key[2])

    def error_response(self, status: int) -> Response:
        return Response(status, b"<Error><Code>InternalError</Code></Error>", "application/xml")

    def pause(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def crashed(self, report: str) -> None:
        with self._lock:
            self.errors.append(report)

    def connected(self) -> None:
        pass


def cloud_view(files: OutputFiles, storage: Storage, query: Mapping[str, str]) -> Response:
    """GET /api/view of Comfy Cloud: 302 to signed storage for a known file, 404 otherwise."""
    kind = query.get("type", "output")
    subfolder = query.get("subfolder", "")
    filename = query.get("filename", "")
    if files.get(kind, subfolder, filename) is None:
        return json_response({"code": "not_found", "message": "File not found"}, 404)
    return Response(302, b"", "text/plain; charset=utf-8", {"Location": storage.sign(kind, subfolder, filename)})


# ---------------------------------------------------------------- rendering outputs of the scripted executor


def _int(value: Any, default: int, low: int = 0, high: int = MAX_SIDE) -> int:
    try:
        return max(low, min(high, int(value)))
    except (TypeError, ValueError):
        return default


class Renderer:
    """Deterministic stand-ins for ComfyUI's image nodes: every node's IMAGE output as a list of Pillow images."""

    def __init__(self, prompt: Mapping[str, Any]) -> None:
        self.prompt = prompt
        self.memo: dict[str, list[Any]] = {}

    def images(self, value: Any) -> list[Any]:
        """The batch a link points at (a gray 64x64 image for anything the fake cannot render)."""
        from PIL import Image

        if is_link(value) and str(value[0]) in self.prompt:
            return self.node(str(value[0]))
        return [Image.new("RGB", (64, 64), (128, 128, 128))]

    def node(self, node_id: str) -> list[Any]:
        if node_id not in self.memo:
            self.memo[node_id] = []  # a cycle renders as nothing rather than recursing forever
            self.memo[node_id] = self._render(self.prompt[node_id])
        return self.memo[node_id]

    def _render(self, node: Mapping[str, Any]) -> list[Any]:
        from PIL import Image, ImageFilter, ImageOps

        inputs = node.get("inputs") or {}
        kind = node.get("class_type")
        if kind == "EmptyImage":
            color = _int(inputs.get("color"), 0, 0, 0xFFFFFF)
            size = (_int(inputs.get("width"), 512, 1), _int(inputs.get("height"), 512, 1))
            return [Image.new("RGB", size, (color >> 16 & 255, color >> 8 & 255, color & 255))
                    for _ in range(_int(inputs.get("batch_size"), 1, 1, 64))]
        if kind == "ImageInvert":
            return [ImageOps.invert(image) for image in self.images(inputs.get("image"))]
        if kind == "ImageBlur":
            radius = _int(inputs.get("blur_radius"), 1, 0, 31)
            return [image.filter(ImageFilter.GaussianBlur(radius)) if radius else image
                    for image in self.images(inputs.get("image"))]
        if kind == "ImageScale":
            size = (_int(inputs.get("width"), 512, 1), _int(inputs.get("height"), 512, 1))
            return [image.resize(size, Image.Resampling.BILINEAR) for image in self.images(inputs.get("image"))]
        if kind == "ImageBlend":
            first, second = self.images(inputs.get("image1")), self.images(inputs.get("image2"))
            factor = float(inputs.get("blend_factor", 0.5)) if isinstance(inputs.get("blend_factor"),
                                                                           (int, float)) else 0.5
            return [Image.blend(a, b.resize(a.size), max(0.0, min(1.0, factor))) for a, b in zip(first, second, strict=False)]
        for value in inputs.values():  # anything else passes its first image input through
            if is_link(value):
                return self.images(value)
        return self.images(None)


def encode(batch: list[Any], extension: str, prompt: Mapping[str, Any]) -> list[bytes]:
    """PNG files (one per image, with the prompt in a text chunk like ComfyUI) or one animated WebP."""
    from PIL import PngImagePlugin

    if extension == "webp":
        out = io.BytesIO()
        batch[0].save(out, "WEBP", save_all=True, append_images=batch[1:], lossless=True, duration=166)
        return [out.getvalue()]
    files = []
    for image in batch:
        info = PngImagePlugin.PngInfo()
        info.add_text("prompt", json.dumps(prompt))
        out = io.BytesIO()
        image.save(out, "PNG", pnginfo=info, compress_level=4)
        files.append(out.getvalue())
    return files


def render_outputs(files: OutputFiles, prompt: Mapping[str, Any], outputs: JsonDict, namer: Any = None) -> None:
    """Render each output node's images, serve them under the names the executor gave (one more name per batch
    item, numbered on from the first, `namer`'s counter moved past them), and list every file in `outputs`
    (changed in place)."""
    renderer = Renderer(prompt)
    for node_id, produced in outputs.items():
        items = produced.get("images") if isinstance(produced, dict) else None
        if not items or not isinstance(items[0], dict):
            continue
        first = items[0]
        stem, _, extension = first["filename"].rpartition(".")
        batch = renderer.images((prompt[node_id].get("inputs") or {}).get("images"))
        if not batch:
            continue
        blobs = encode(batch, extension, prompt)
        base, _, counter = stem.rstrip("_").rpartition("_")
        listed = []
        for offset, blob in enumerate(blobs):
            name = first["filename"] if offset == 0 else f"{base}_{int(counter) + offset:05d}_.{extension}"
            files.add(name, blob, subfolder=first["subfolder"], type=first["type"])
            listed.append({**first, "filename": name})
        produced["images"] = listed
        if namer is not None and first["type"] == "output" and len(blobs) > 1:
            key = (first["subfolder"], base)
            namer.counters[key] = max(namer.counters.get(key, 0), int(counter) + len(blobs) - 1)
        if extension == "webp":
            produced["animated"] = [len(batch) > 1]
