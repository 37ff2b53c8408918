"""The page of an HTML report: escaping, tables, the template with its CSP, images and media filled in last.

Text parts are collected first (`Page.add`); images and media stand as tokens until `Page.finish` knows the
size of the text, then the space left under `ReportLimits.max_bytes` is shared among them: each image is
encoded as PNG when that fits and as JPEG otherwise, scaled down for the page. The Content-Security-Policy
allows nothing but inline data: images and media and the page's own style. `replay.report` fills pages
with the sections of a diff or a verify run.
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import math
import re
import secrets
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL import Image


MiB = 1024 * 1024


@dataclass(frozen=True)
class ReportLimits:
    """How large a report gets: the whole file, an image's longest side, an inline video or sound, a text."""

    max_bytes: int = 20 * MiB
    image_side: int = 512
    media_bytes: int = 4 * MiB
    text_chars: int = 20_000


_TEXT_RESERVE = 64 * 1024  # room kept for the template, the footer and rounding
_MIN_IMAGE_SIDE = 48
_PNG_PIXELS = 256 * 256


def escape(value: Any) -> str:
    """HTML-escape any value shown on the page (quotes too: values also go into attributes)."""
    return html.escape(value if isinstance(value, str) else str(value), quote=True)


def clip(text: str, limit: int) -> str:
    """The text cut to `limit` characters, with a line saying how many more there were."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n… ({len(text) - limit} more characters not shown)"


# ---------------------------------------------------------------------------------------------- page assembly


@dataclass
class Visual:
    """Images of one output pair to decode, scale and encode once the page's text is known."""

    path_a: Path | None
    path_b: Path | None
    tokens: dict[str, str]  # "a" | "b" | "diff" -> token in the page
    pixel_threshold: int = 0


@dataclass
class Page:
    """The page under construction: text parts, and tokens standing for images and media filled in last."""

    limits: ReportLimits
    parts: list[str] = field(default_factory=list)
    visuals: list[Visual] = field(default_factory=list)
    media: dict[str, tuple[Path, str, str]] = field(default_factory=dict)  # token -> (path, mime, fallback html)
    prefix: str = field(default_factory=lambda: f"@@{secrets.token_hex(8)}-")
    count: int = 0

    def add(self, *texts: str) -> None:
        self.parts.extend(texts)

    def token(self) -> str:
        self.count += 1
        return f"{self.prefix}{self.count}@@"

    def finish(self, title: str, lead: str, footer: str) -> str:
        """Fill the template, then share the space left under the limit among the images and media."""
        body = "\n".join(self.parts)
        page = _template(title, lead, body, footer)
        text_size = len(page.encode("utf-8")) - sum(len(t) for t in self._tokens())
        budget = self.limits.max_bytes - text_size - _TEXT_RESERVE
        filled: dict[str, str] = {}
        for token, (path, mime, fallback) in self.media.items():
            size = path.stat().st_size
            encoded = 4 * math.ceil(size / 3) + 64
            if size <= self.limits.media_bytes and encoded <= budget // 2:
                budget -= encoded
                filled[token] = _media_tag(path, mime)
            else:
                filled[token] = fallback
        slots = sum(len(v.tokens) for v in self.visuals)
        per_image = max(budget // slots, 0) if slots else 0
        # Pillow lets go of the GIL while it decodes, scales and encodes: two pairs at a time use two cores.
        with ThreadPoolExecutor(2, thread_name_prefix="replay-report") as pool:
            for html_of_tokens in pool.map(lambda v: _render_visual(v, per_image, self.limits), self.visuals):
                filled.update(html_of_tokens)
        pattern = re.compile(re.escape(self.prefix) + r"\d+@@")
        return pattern.sub(lambda m: filled.get(m.group(0), ""), page)

    def _tokens(self) -> Iterable[str]:
        for visual in self.visuals:
            yield from visual.tokens.values()
        yield from self.media


_TEMPLATE: Template | None = None
_CSS = ""


def _template(title: str, lead: str, body: str, footer: str) -> str:
    global _TEMPLATE, _CSS
    if _TEMPLATE is None:
        folder = resources.files("replay") / "templates"
        _TEMPLATE = Template((folder / "report.html").read_text("utf-8"))
        _CSS = (folder / "report.css").read_text("utf-8")
    from replay import __version__  # noqa: PLC0415

    style_hash = base64.b64encode(hashlib.sha256(_CSS.encode("utf-8")).digest()).decode("ascii")
    csp = (f"default-src 'none'; img-src data:; media-src data:; style-src 'sha256-{style_hash}'; "
           "base-uri 'none'; form-action 'none'")
    return _TEMPLATE.substitute(csp=csp, version=escape(__version__), title=escape(title), css=_CSS, lead=lead,
                                body=body, footer=footer)


# ---------------------------------------------------------------------------------------------- images


def _encode(image: Image.Image, budget: int) -> tuple[str, tuple[int, int]] | None:
    """A data: URI of the image within `budget` characters, or None when even a small copy does not fit.

    Small images (up to 256x256, e.g. test outputs) are PNG, pixel for pixel; larger ones JPEG at quality 90
    without chroma subsampling (a single red pixel stays red), which costs a tenth of the time of PNG. When it
    does not fit, the quality and then the size go down.
    """
    from replay.images import shrink  # noqa: PLC0415

    quality = 90
    while True:
        buffer = io.BytesIO()
        if image.width * image.height <= _PNG_PIXELS:
            image.save(buffer, "PNG", compress_level=6)
            mime = "image/png"
        else:
            flat = image
            if image.mode == "RGBA":
                from PIL import Image  # noqa: PLC0415

                flat = Image.new("RGB", image.size, (255, 255, 255))
                flat.paste(image, mask=image.getchannel("A"))
            flat.convert("RGB").save(buffer, "JPEG", quality=quality, subsampling=0)
            mime = "image/jpeg"
        data = buffer.getvalue()
        if 4 * math.ceil(len(data) / 3) + 32 <= budget:
            return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}", image.size
        if mime == "image/jpeg" and quality > 60:
            quality -= 15
            continue
        if max(image.size) <= _MIN_IMAGE_SIDE:
            return None
        image = shrink(image, max(_MIN_IMAGE_SIDE, max(image.size) * 2 // 3))


def _img_tag(uri: str, size: tuple[int, int], alt: str, full: tuple[int, int]) -> str:
    width, height = size
    css = ""
    if max(size) < 256:  # tiny outputs (test images) are shown larger, pixel for pixel
        factor = max(1, 256 // max(size))
        width, height, css = width * factor, height * factor, ' class="px"'
    title = f"{full[0]}×{full[1]} original, shown at {size[0]}×{size[1]}"
    return (f'<img src="{uri}" width="{width}" height="{height}" alt="{escape(alt)}" title="{escape(title)}"'
            f"{css}>")


def _render_visual(visual: Visual, budget: int, limits: ReportLimits) -> dict[str, str]:
    """Decode a pair once, make its page images (a, b, difference) and return the HTML for each token."""
    from replay.images import DecodeError, first_changed_frames, first_frame, mark_changes, shrink  # noqa: PLC0415

    out: dict[str, str] = {}
    frames: dict[str, Image.Image] = {}
    frame_note = ""
    if "diff" in visual.tokens and visual.path_a is not None and visual.path_b is not None:
        # An animation whose change starts in a later frame shows that frame: its first frames would look equal.
        try:
            pair = first_changed_frames(visual.path_a, visual.path_b, threshold=visual.pixel_threshold)
            frames = {"a": pair.a, "b": pair.b}
            if pair.index:
                frame_note = f'<p class="note">frame {pair.index + 1}, the first that differs</p>'
        except DecodeError:
            pass  # each side is decoded on its own below, to say which one cannot be
    for side, path in (("a", visual.path_a), ("b", visual.path_b)):
        if side not in visual.tokens or side in frames:
            continue
        if path is None:
            out[visual.tokens[side]] = '<p class="note">file not stored: diff --outputs downloads it</p>'
            continue
        try:
            frames[side] = first_frame(path)
        except DecodeError as exc:  # a corrupt or foreign file becomes a note, never a crash
            out[visual.tokens[side]] = f'<p class="note">not shown: {escape(exc)}</p>'
    shown = {side: shrink(frame, limits.image_side) for side, frame in frames.items()}
    if "diff" in visual.tokens:
        a, b = frames.get("a"), frames.get("b")
        if a is not None and b is not None and a.size == b.size:
            shown["diff"] = mark_changes(a, b, max_side=limits.image_side, threshold=visual.pixel_threshold)
        else:
            why = "sizes differ" if a is not None and b is not None else "needs both images"
            out[visual.tokens["diff"]] = f'<p class="note">no difference image: {why}</p>'
    for key, image in shown.items():
        full = frames[key].size if key in frames else frames["a"].size
        encoded = _encode(image, budget)
        if encoded is None:
            out[visual.tokens[key]] = '<p class="note">not shown: the report is at its size limit</p>'
            continue
        uri, size = encoded
        out[visual.tokens[key]] = _img_tag(uri, size, f"{key} image", full) + frame_note
    return out


def _media_tag(path: Path, mime: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    tag = "audio" if mime.startswith("audio/") else "video"
    return f'<{tag} controls preload="metadata" src="data:{escape(mime)};base64,{data}"></{tag}>'


# ---------------------------------------------------------------------------------------------- tables and badges


def _cell(cell: str | tuple[str, int]) -> str:
    if isinstance(cell, tuple):
        return f'<td colspan="{cell[1]}">{cell[0]}</td>'
    return f"<td>{cell}</td>"


def table(head: Sequence[str], rows: Iterable[Sequence[str | tuple[str, int]]], cls: str = "") -> str:
    """A table from already-escaped cells; a cell (html, n) spans n columns."""
    klass = f' class="{cls}"' if cls else ""
    out = [f"<table{klass}><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>"]
    out += ["<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in rows]
    out.append("</tbody></table>")
    return "\n".join(out)


def badge(result: str) -> str:
    """A result (`identical`, `different`, `match`, …) as a badge styled by its name."""
    return f'<span class="badge r-{escape(result)}">{escape(result)}</span>'


__all__ = ["MiB", "Page", "ReportLimits", "Visual", "badge", "clip", "escape", "table"]
