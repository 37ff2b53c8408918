"""Self-contained HTML reports of a diff or a verify run (SPEC §11): one file, images inline, no network.

`render_diff_report` and `render_verify_report` return the page as text. Everything a job says (titles,
prompts, file names, error messages) is HTML-escaped, and a Content-Security-Policy allows nothing but inline
data: images and media and the page's own style: no script runs, nothing is fetched. The page works without
JavaScript (the a / b / difference toggle is CSS). Images are scaled down for the page while the numbers
shown come from the full-size comparison; the whole file stays under `ReportLimits.max_bytes`: the space
left after the text is shared among the images, each encoded as PNG when that fits and as JPEG otherwise.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import html
import io
import math
import re
import secrets
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path
from string import Template
from typing import TYPE_CHECKING, Any

from replay.diff import MISSING, JobDiff, natural_key
from replay.diff_render import format_percent, format_value
from replay.environment import shown_value
from replay.jobs import Job, cached_nodes
from replay.summary import describe_cached

if TYPE_CHECKING:
    from PIL import Image

    from replay.outputs import OutputStore

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


def _e(value: Any) -> str:
    """HTML-escape any value shown on the page (quotes too: values also go into attributes)."""
    return html.escape(value if isinstance(value, str) else str(value), quote=True)


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n… ({len(text) - limit} more characters not shown)"


# ---------------------------------------------------------------------------------------------- page assembly


@dataclass
class _Visual:
    """Images of one output pair to decode, scale and encode once the page's text is known."""

    path_a: Path | None
    path_b: Path | None
    tokens: dict[str, str]  # "a" | "b" | "diff" -> token in the page
    pixel_threshold: int = 0


@dataclass
class _Page:
    """The page under construction: text parts, and tokens standing for images and media filled in last."""

    limits: ReportLimits
    parts: list[str] = field(default_factory=list)
    visuals: list[_Visual] = field(default_factory=list)
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
    return _TEMPLATE.substitute(csp=csp, version=_e(__version__), title=_e(title), css=_CSS, lead=lead,
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
    return (f'<img src="{uri}" width="{width}" height="{height}" alt="{_e(alt)}" title="{_e(title)}"'
            f"{css}>")


def _render_visual(visual: _Visual, budget: int, limits: ReportLimits) -> dict[str, str]:
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
            out[visual.tokens[side]] = f'<p class="note">not shown: {_e(exc)}</p>'
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
    return f'<{tag} controls preload="metadata" src="data:{_e(mime)};base64,{data}"></{tag}>'


# ---------------------------------------------------------------------------------------------- pieces


def _cell(cell: str | tuple[str, int]) -> str:
    if isinstance(cell, tuple):
        return f'<td colspan="{cell[1]}">{cell[0]}</td>'
    return f"<td>{cell}</td>"


def _table(head: Sequence[str], rows: Iterable[Sequence[str | tuple[str, int]]], cls: str = "") -> str:
    """A table from already-escaped cells; a cell (html, n) spans n columns."""
    klass = f' class="{cls}"' if cls else ""
    out = [f"<table{klass}><thead><tr>" + "".join(f"<th>{h}</th>" for h in head) + "</tr></thead><tbody>"]
    out += ["<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in rows]
    out.append("</tbody></table>")
    return "\n".join(out)


def _badge(result: str) -> str:
    return f'<span class="badge r-{_e(result)}">{_e(result)}</span>'


def _value(value: Any, limits: ReportLimits, *, name: str = "", ui: bool = False) -> str:
    if value is MISSING:
        return '<span class="note">(none)</span>'
    return f"<code>{_e(_clip(format_value(value, name=name, ui=ui), limits.text_chars))}</code>"


def _env_value(value: Any, limits: ReportLimits) -> str:
    """A side of an environment change as the text and Markdown diffs show it: `0.33.0`, `-` for none (not JSON)."""
    return f"<code>{_e(_clip(shown_value(value), limits.text_chars))}</code>"


def _line_diff_html(lines: Iterable[str], limits: ReportLimits) -> str:
    out = []
    total = 0
    for line in lines:
        total += len(line)
        if total > limits.text_chars:
            out.append('<span class="note">… (more lines not shown)</span>')
            break
        cls = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "")
        out.append(f'<span class="{cls}">{_e(line) or " "}</span>' if cls else f"<span>{_e(line) or ' '}</span>")
    return '<pre class="diff">' + "".join(out) + "</pre>"


def _iso(seconds: float | None) -> str:
    if seconds is None:
        return ""
    try:
        return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return ""


def _server(url: Any) -> str:
    """A server as scheme://host[:port] only: never credentials, a path or a query from the URL."""
    from replay.client import server_origin  # noqa: PLC0415
    from replay.errors import InputError  # noqa: PLC0415

    if not isinstance(url, str) or not url:
        return ""
    try:
        return _e(server_origin(url))
    except InputError:
        return "(not an http server address)"


def _jobs_table(a: Job, b: Job, labels: tuple[str, str] | None) -> str:
    def facts(job: Job) -> dict[str, str]:
        out = {
            "document": _e(job.kind),
            "job id": f"<code>{_e(job.id)}</code>" if job.id else "",
            "server": _server(job.source.get("server") if isinstance(job.source, dict) else None),
            "status": _badge(job.status) if job.status else "",
            "created": _e(_iso(job.create_time)),
            "started": _e(_iso(job.start_time)),
            "ended": _e(_iso(job.end_time)),
            "duration": f"{job.duration:.3f} s" if job.duration is not None else "",
        }
        cached = cached_nodes(job)
        if cached is not None:
            # as `show` says it: "2 of 5 nodes: 1, 2", and when nothing was recomputed, that
            total = len(job.prompt) if isinstance(job.prompt, dict) else None
            out["from cache"] = _e(describe_cached(cached, total)) if cached else "nothing (every node ran)"
        if job.error is not None:
            err = job.error
            out["error"] = (f"node <code>{_e(err.node_id)}</code> {_e(err.node_type)}: "
                            f"<strong>{_e(err.exception_type)}</strong>: {_e(err.first_line)}")
            if err.last_frame:
                out["last frame"] = f"<code>{_e(err.last_frame)}</code>"
        return out

    fa, fb = facts(a), facts(b)
    keys = list(fa) + [k for k in fb if k not in fa]
    rows = []
    if labels is not None:
        rows.append(["reference", f"<code>{_e(labels[0])}</code>", f"<code>{_e(labels[1])}</code>"])
    rows += [[_e(k), fa.get(k, ""), fb.get(k, "")] for k in keys if fa.get(k) or fb.get(k)]
    return _table(["", "a", "b"], rows, "jobs")


def _node_rows(d: JobDiff, limits: ReportLimits) -> list[list[str | tuple[str, int]]]:
    """Rows of the node-change table: node, class, change, a, b (as `diff --format md` lists them)."""
    ui = d.compared == "ui"
    rows: list[list[str | tuple[str, int]]] = []

    def where(node_id: str, subgraph: str | None) -> str:
        return _e(node_id if subgraph is None else f"{node_id} (subgraph {subgraph})")

    for ref in d.nodes.removed:
        rows.append([where(ref.id, ref.subgraph), _e(ref.class_type), '<span class="old">removed</span>', "", ""])
    for ref in d.nodes.added:
        rows.append([where(ref.id, ref.subgraph), _e(ref.class_type), '<span class="new">added</span>', "", ""])
    for node in d.nodes.changed:
        place = where(node.id, node.subgraph)
        if node.class_change is not None:
            rows.append([place, _e(node.class_type), "class", _value(node.class_change[0], limits),
                         _value(node.class_change[1], limits)])
        for change in node.inputs:
            label = f"<code>{_e(change.name)}</code>"
            if change.line_diff:
                rows.append([place, _e(node.class_type), label, (_line_diff_html(change.line_diff, limits), 2)])
            else:
                rows.append([place, _e(node.class_type), label, _value(change.a, limits, name=change.name, ui=ui),
                             _value(change.b, limits, name=change.name, ui=ui)])
    for title in d.titles:
        rows.append([where(title.id, title.subgraph), _e(title.class_type), "title",
                     _value(MISSING if title.a is None else title.a, limits),
                     _value(MISSING if title.b is None else title.b, limits)])
    for sub in d.subgraphs.removed:
        rows.append([_e(sub.id), _e(sub.class_type), '<span class="old">subgraph removed</span>', "", ""])
    for sub in d.subgraphs.added:
        rows.append([_e(sub.id), _e(sub.class_type), '<span class="new">subgraph added</span>', "", ""])
    for subchange in d.subgraphs.changed:
        for change in subchange.fields:
            rows.append([_e(subchange.id), _e(subchange.name), f"<code>{_e(change.name)}</code>",
                         _value(change.a, limits), _value(change.b, limits)])
    for change in d.graph:
        rows.append(["workflow", "", f"<code>{_e(change.name)}</code>", _value(change.a, limits),
                     _value(change.b, limits)])
    return rows


def _file_cell(item: Mapping[str, Any]) -> str:
    folder = item.get("subfolder") or ""
    name = f"{folder}/{item.get('filename')}" if folder else str(item.get("filename"))
    return f"<code>{_e(name)}</code> ({_e(item.get('type', ''))})"


def _file_rows(d: JobDiff) -> list[list[str]]:
    """Output changes by file name (when no comparison by content was made)."""
    rows: list[list[str]] = []
    for o in d.outputs.nodes if d.outputs is not None else ():
        node, cls = _e(o.id), _e(o.class_type)
        rows += [[node, cls, f"{_e(x.get('kind', ''))} added", "", _file_cell(x)] for x in o.added]
        rows += [[node, cls, f"{_e(x.get('kind', ''))} removed", _file_cell(x), ""] for x in o.removed]
        rows += [[node, cls, f"{_e(a.get('kind', ''))} renamed", _file_cell(a), _file_cell(b)] for a, b in o.changed]
    return rows


# ---------------------------------------------------------------------------------------------- outputs


def _pair_json(pair: Any) -> dict[str, Any]:
    if isinstance(pair, Mapping):
        return dict(pair)
    to_json: Callable[[], dict[str, Any]] = pair.to_json
    return to_json()


def _locate(artifact: Mapping[str, Any] | None, stores: Sequence[OutputStore | None]) -> Path | None:
    if not artifact or artifact.get("missing"):
        return None
    for store in stores:
        path = store.path_for(artifact) if store is not None else None
        if path is not None and path.is_file():
            return path
    return None


def _is_image(artifact: Mapping[str, Any] | None) -> bool:
    if not artifact:
        return False
    return artifact.get("width") is not None or str(artifact.get("media_type", "")).startswith("image/")


def _artifact_caption(artifact: Mapping[str, Any] | None) -> str:
    if not artifact:
        return "no such output on this side"
    bits = [_file_cell(artifact)]
    if artifact.get("missing"):
        bits.append("missing on the server")
    if artifact.get("width") is not None:
        frames = artifact.get("frames")
        bits.append(f"{_e(artifact['width'])}×{_e(artifact.get('height'))}"
                    + (f", {_e(frames)} frames" if isinstance(frames, int) and frames > 1 else ""))
    if artifact.get("size") is not None:
        bits.append(f"{_e(artifact['size'])} bytes")
    if artifact.get("sha256"):
        bits.append(f"sha256 <code>{_e(str(artifact['sha256'])[:16])}…</code>")
    return ", ".join(bits)


def _number(value: Any, digits: int) -> str:
    if value is None:
        return "∞"
    if isinstance(value, float) and math.isinf(value):
        return "∞"
    return f"{value:.{digits}f}" if isinstance(value, float) else _e(value)


def _metrics_table(metrics: Mapping[str, Any] | None) -> str:
    if not metrics:
        return ""
    ratio = metrics.get("changed_ratio")
    rows = [
        ["changed pixels", f"{_e(metrics.get('changed_pixels'))}"
         + (f" ({format_percent(ratio).replace('%', ' %')})" if isinstance(ratio, (int, float)) else "")],
        ["max channel difference", _number(metrics.get("max_diff"), 0)],
        ["mean channel difference", _number(metrics.get("mean_diff"), 4)],
        ["PSNR", _number(metrics.get("psnr"), 2) + " dB"],
    ]
    return _table(["measure (full size)", "value"], rows, "metrics")


def _link(artifact: Mapping[str, Any] | None, path: Path | None) -> str:
    if not artifact:
        return '<p class="note">no such output on this side</p>'
    digest = artifact.get("sha256") or ""
    if path is None:
        return f'<p>{_file_cell(artifact)}<br>sha256 <code>{_e(digest)}</code> (file not stored)</p>'
    return (f'<p><a href="{_e(path.resolve().as_uri())}">{_file_cell(artifact)}</a><br>'
            f"sha256 <code>{_e(digest)}</code>, {_e(artifact.get('size', '?'))} bytes</p>")


def _pair_section(page: _Page, pair: Mapping[str, Any], stores: Sequence[OutputStore | None], pixel_threshold: int,
                  heading: str = "h3") -> None:
    a, b = pair.get("a"), pair.get("b")
    result = str(pair.get("result", ""))
    tolerated = result == "different" and pair.get("within_tolerance")
    node, key, index = pair.get("node"), pair.get("key"), pair.get("index")
    page.count += 1
    uid = f"p{page.count}"
    page.add('<section class="pair">',
             f"<{heading}>node <code>{_e(node)}</code> {_e(key)}[{_e(index)}] {_badge(result)}"
             + (' <span class="badge r-tolerated">within tolerance</span>' if tolerated else "")
             + f"</{heading}>")
    if pair.get("why"):
        page.add(f"<p>{_e(pair['why'])}</p>")
    path_a, path_b = _locate(a, stores), _locate(b, stores)
    if _is_image(a) or _is_image(b):
        tokens = {side: page.token() for side, art in (("a", a), ("b", b)) if art}
        if a and b:
            tokens["diff"] = page.token()
        visual = _Visual(path_a, path_b, tokens, pixel_threshold)
        page.visuals.append(visual)
        if len(tokens) > 1:
            views = [("all", "side by side"), ("a", "a"), ("b", "b"), ("d", "difference")][: len(tokens) + 1]
            page.add(*(f'<input type="radio" name="{uid}" id="{uid}-{v}" class="v-{v}"'
                       + (" checked" if v == "all" else "") + ">" for v, _ in views))
            page.add('<div class="views">view: ' + "".join(
                f'<label for="{uid}-{v}" class="l-{v}">{label}</label>' for v, label in views) + "</div>")
        page.add('<div class="figs">')
        for side, art in (("a", a), ("b", b)):
            if side in tokens:
                page.add(f'<figure class="f{side}">{tokens[side]}<figcaption><strong>{side}</strong>: '
                         f"{_artifact_caption(art)}</figcaption></figure>")
        if "diff" in tokens:
            page.add(f'<figure class="fd">{tokens["diff"]}<figcaption><strong>difference</strong>: changed '
                     f"pixels (channel difference over {pixel_threshold}) in red over a faded copy of a"
                     "</figcaption></figure>")
        page.add("</div>")
    else:
        page.add('<div class="figs">')
        for side, art, path in (("a", a, path_a), ("b", b, path_b)):
            mime = str((art or {}).get("media_type", ""))
            fallback = _link(art, path)
            if path is not None and mime.startswith(("video/", "audio/")):
                token = page.token()
                page.media[token] = (path, mime, fallback)
                page.add(f'<figure class="f{side}">{token}<figcaption><strong>{side}</strong>: '
                         f"{_artifact_caption(art)}</figcaption></figure>")
            else:
                page.add(f'<figure class="f{side}"><strong>{side}</strong>: {fallback}</figure>')
        page.add("</div>")
    page.add(_metrics_table(pair.get("metrics")), "</section>")


def _texts(job: Job) -> dict[tuple[str, str, int], str]:
    """Text outputs (lists of strings, e.g. PreviewAny `text`) by (node, key, index)."""
    found: dict[tuple[str, str, int], str] = {}
    for node_id, node in job.outputs.items():
        for key, items in node.items() if isinstance(node, dict) else ():
            if isinstance(items, list) and items and all(isinstance(x, str) for x in items):
                for index, text in enumerate(items):
                    found[(str(node_id), str(key), index)] = text
    return found


def _text_section(page: _Page, a: Job, b: Job) -> None:
    texts_a, texts_b = _texts(a), _texts(b)
    keys = sorted(set(texts_a) | set(texts_b), key=lambda k: (natural_key(k[0]), k[1], k[2]))
    if not keys:
        return
    limit = page.limits.text_chars
    page.add("<h2>Text outputs</h2>")
    for key in keys:
        ta, tb = texts_a.get(key), texts_b.get(key)
        name = f"node <code>{_e(key[0])}</code> {_e(key[1])}[{key[2]}]"
        if ta == tb:
            page.add(f"<details><summary>{name} {_badge('identical')}</summary><pre>{_e(_clip(ta or '', limit))}"
                     "</pre></details>")
            continue
        result = "different" if ta is not None and tb is not None else "missing"
        lines = difflib.unified_diff((ta or "").splitlines(), (tb or "").splitlines(), "a", "b", lineterm="", n=3)
        body = [line for line in lines if not line.startswith(("---", "+++"))]
        page.add(f"<h3>{name} {_badge(result)}</h3>", _line_diff_html(body, page.limits))


def _footer(limits: ReportLimits) -> str:
    return (f"Made by comfy-replay. One self-contained file of at most {limits.max_bytes // MiB} MiB: images are "
            f"scaled to at most {limits.image_side} px on their longer side (PNG up to 256×256 pixels, JPEG "
            "quality 90 above, smaller when the space left asks for it); the numbers come from the full-size "
            f"files. Videos and sounds up to {limits.media_bytes // MiB} MiB play inline, larger files are linked "
            "with their SHA-256.")


# ---------------------------------------------------------------------------------------------- entry points


def render_diff_report(
    diff: JobDiff,
    a: Job,
    b: Job,
    *,
    pairs: Sequence[Any] | None = None,
    stores: Sequence[OutputStore | None] = (),
    labels: tuple[str, str] | None = None,
    pixel_threshold: int = 0,
    limits: ReportLimits = ReportLimits(),
) -> str:
    """Return the HTML report of `diff` between jobs `a` and `b` (SPEC §11).

    `pairs` are the output comparisons (`OutputPair`s or their JSON dicts; default: the diff's own `pairs`);
    their files are looked up in `stores` (content-addressed, by sha256), e.g. the diff's two sides' stores. `pixel_threshold` is the channel difference the difference image
    ignores, as in the comparison. The result is one self-contained page of at most `limits.max_bytes` bytes.
    """
    page = _Page(limits)
    page.add("<h2>Jobs</h2>", _jobs_table(a, b, labels))
    if diff.status is not None:
        page.add(f"<p>Status changed: {_badge(str(diff.status[0]))} → {_badge(str(diff.status[1]))}</p>")
    environment = [_pair_json(c) for c in getattr(diff, "environment", None) or ()]  # when recipes carry one
    if environment:
        page.add("<h2>Environment changes</h2>", _table(
            ["kind", "name", "change", "a", "b"],
            [[_e(c.get("kind", "")), f"<code>{_e(c.get('name', ''))}</code>", _e(c.get("change", "")),
              _env_value(c.get("a"), limits), _env_value(c.get("b"), limits)] for c in environment],
            "environment"))
    rows = _node_rows(diff, limits)
    nodes = diff.nodes
    page.add(f"<h2>Node changes ({_e(diff.compared)})</h2>")
    if rows:
        page.add(f"<p>{len(nodes.added)} added, {len(nodes.removed)} removed, {len(nodes.changed)} changed</p>",
                 _table(["node", "class", "change", "a", "b"], rows, "nodes"))
    else:
        page.add(f"<p>No differences in the {_e(diff.compared)}.</p>")
    pair_dicts = [_pair_json(p) for p in (diff.pairs or () if pairs is None else pairs)]
    if pair_dicts:
        counts: dict[str, int] = {}
        for pair in pair_dicts:
            counts[str(pair.get("result"))] = counts.get(str(pair.get("result")), 0) + 1
        page.add("<h2>Outputs</h2>", "<p>" + ", ".join(f"{n} {_e(r)}" for r, n in counts.items()) + "</p>")
        for pair in pair_dicts:
            _pair_section(page, pair, stores, pixel_threshold)
    else:
        file_rows = _file_rows(diff)
        if file_rows:
            page.add("<h2>Outputs</h2>", "<p>Compared by file name only (no artifacts to compare by content: "
                     "fetch with <code>--outputs</code>).</p>",
                     _table(["node", "class", "change", "a", "b"], file_rows, "outputs"))
    _text_section(page, a, b)
    same = diff.identical and all(p.get("within_tolerance", p.get("result") == "identical") for p in pair_dicts)
    verdict = "no differences" if same else "different"
    lead = f"{_e(labels[0]) if labels else 'a'} vs {_e(labels[1]) if labels else 'b'}: {verdict}"
    return page.finish("comfy-replay diff", lead, _footer(limits))


def render_verify_report(
    results: Sequence[Any] | Any,
    *,
    stores: Sequence[OutputStore | None] = (),
    pixel_threshold: int = 0,
    limits: ReportLimits = ReportLimits(),
) -> str:
    """Return the HTML report of a whole verify run: a summary table, then every recipe that did not match.

    `results` is a `VerifyRun` (anything with `.results`) or a list of verify results: dicts in the SPEC §4
    `verify` shape (`recipe`, `result`, `server`, `job_id`, `outputs`, `cached_nodes`, `error`, and `failure`
    and `environment_drift` when there are some) or objects with `to_json()`; drift gets a table of its own.
    The outputs' files are looked up in `stores` (the recipes' stores and the store of the new outputs); the
    recorded artifacts are side a, the new run's side b.
    """
    interrupted = bool(getattr(results, "interrupted", False))
    rows = [_pair_json(r) for r in getattr(results, "results", results)]
    counts: dict[str, int] = {}
    for row in rows:
        counts[str(row.get("result"))] = counts.get(str(row.get("result")), 0) + 1
    page = _Page(limits)
    summary = []
    for row in rows:
        outputs = [_pair_json(p) for p in row.get("outputs") or []]
        off = sum(1 for p in outputs if not p.get("within_tolerance", p.get("result") in ("identical", "same-pixels")))
        summary.append([
            f"<code>{_e(row.get('recipe', ''))}</code>", _badge(str(row.get("result", ""))),
            _server(row.get("server")), f"<code>{_e(row.get('job_id') or '')}</code>",
            f"{off} of {len(outputs)} differ" if outputs else "",
            _e(", ".join(str(n) for n in row.get("cached_nodes") or [])), _e(row.get("error") or ""),
        ])
    page.add("<h2>Summary</h2>", _table(["recipe", "result", "server", "job", "outputs", "from cache", "error"],
                                        summary, "summary"))
    drift = [[f"<code>{_e(row.get('recipe', ''))}</code>", _server(row.get("server")), _e(d.get("kind", "")),
              _e(d.get("message", ""))]
             for row in rows for d in (_pair_json(d) for d in row.get("environment_drift") or [])]
    if drift:  # SPEC §9: how each server differed from where the recipe's job ran, found before its POST
        page.add("<h2>Environment drift</h2>", _table(["recipe", "server", "kind", "difference"], drift, "drift"))
    for row in rows:
        if row.get("result") == "match":
            continue
        page.add(f"<h2><code>{_e(row.get('recipe', ''))}</code> {_badge(str(row.get('result', '')))}</h2>")
        facts = [["server", _server(row.get("server"))], ["job", f"<code>{_e(row.get('job_id') or '')}</code>"]]
        if row.get("cached_nodes"):
            facts.append(["from cache", _e(", ".join(str(n) for n in row["cached_nodes"]))])
        failure = row.get("failure")
        if isinstance(failure, Mapping):
            facts.append(["failed at", f"node <code>{_e(failure.get('node_id', ''))}</code> "
                          f"{_e(failure.get('node_type', ''))}: <strong>{_e(failure.get('exception_type', ''))}"
                          f"</strong>: {_e(failure.get('message', ''))}"])
        if row.get("error"):
            facts.append(["error", _e(row["error"])])
        page.add(_table(["", ""], facts, "jobs"))
        for pair in row.get("outputs") or []:
            _pair_section(page, _pair_json(pair), stores, pixel_threshold, heading="h3")
    lead = ", ".join(f"{n} {_e(r)}" for r, n in counts.items()) or "no recipes"
    if interrupted:
        lead += " (interrupted: only the recipes verified before the stop)"
    return page.finish("comfy-replay verify", lead, _footer(limits))


__all__ = ["ReportLimits", "render_diff_report", "render_verify_report"]
