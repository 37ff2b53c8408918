"""Self-contained HTML reports of a diff or a verify run (SPEC §11): one file, images inline, no network.

`render_diff_report` and `render_verify_report` return the page as text. Everything a job says (titles,
prompts, file names, error messages) is HTML-escaped, and a Content-Security-Policy allows nothing but inline
data: images and media and the page's own style: no script runs, nothing is fetched. The page works without
JavaScript (the a / b / difference toggle is CSS). Images are scaled down for the page while the numbers
shown come from the full-size comparison; the whole file stays under `ReportLimits.max_bytes`: the space
left after the text is shared among the images, each encoded as PNG when that fits and as JPEG otherwise.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from replay.diff import MISSING, JobDiff, natural_key
from replay.diff_render import format_percent, format_value
from replay.environment import shown_value
from replay.jobs import Job, cached_nodes
from replay.report_page import MiB, Page, ReportLimits, Visual, badge, clip, escape, table
from replay.summary import describe_cached

if TYPE_CHECKING:
    from replay.outputs import OutputStore


# ---------------------------------------------------------------------------------------------- pieces


def _value(value: Any, limits: ReportLimits, *, name: str = "", ui: bool = False) -> str:
    if value is MISSING:
        return '<span class="note">(none)</span>'
    return f"<code>{escape(clip(format_value(value, name=name, ui=ui), limits.text_chars))}</code>"


def _env_value(value: Any, limits: ReportLimits) -> str:
    """A side of an environment change as the text and Markdown diffs show it: `0.33.0`, `-` for none (not JSON)."""
    return f"<code>{escape(clip(shown_value(value), limits.text_chars))}</code>"


def _line_diff_html(lines: Iterable[str], limits: ReportLimits) -> str:
    out = []
    total = 0
    for line in lines:
        total += len(line)
        if total > limits.text_chars:
            out.append('<span class="note">… (more lines not shown)</span>')
            break
        cls = {"+": "add", "-": "del", "@": "hunk"}.get(line[:1], "")
        out.append(f'<span class="{cls}">{escape(line) or " "}</span>' if cls else f"<span>{escape(line) or ' '}</span>")
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
        return escape(server_origin(url))
    except InputError:
        return "(not an http server address)"


def _jobs_table(a: Job, b: Job, labels: tuple[str, str] | None) -> str:
    def facts(job: Job) -> dict[str, str]:
        out = {
            "document": escape(job.kind),
            "job id": f"<code>{escape(job.id)}</code>" if job.id else "",
            "server": _server(job.source.get("server") if isinstance(job.source, dict) else None),
            "status": badge(job.status) if job.status else "",
            "created": escape(_iso(job.create_time)),
            "started": escape(_iso(job.start_time)),
            "ended": escape(_iso(job.end_time)),
            "duration": f"{job.duration:.3f} s" if job.duration is not None else "",
        }
        cached = cached_nodes(job)
        if cached is not None:
            # as `show` says it: "2 of 5 nodes: 1, 2", and when nothing was recomputed, that
            total = len(job.prompt) if isinstance(job.prompt, dict) else None
            out["from cache"] = escape(describe_cached(cached, total)) if cached else "nothing (every node ran)"
        if job.error is not None:
            err = job.error
            out["error"] = (f"node <code>{escape(err.node_id)}</code> {escape(err.node_type)}: "
                            f"<strong>{escape(err.exception_type)}</strong>: {escape(err.first_line)}")
            if err.last_frame:
                out["last frame"] = f"<code>{escape(err.last_frame)}</code>"
        return out

    fa, fb = facts(a), facts(b)
    keys = list(fa) + [k for k in fb if k not in fa]
    rows = []
    if labels is not None:
        rows.append(["reference", f"<code>{escape(labels[0])}</code>", f"<code>{escape(labels[1])}</code>"])
    rows += [[escape(k), fa.get(k, ""), fb.get(k, "")] for k in keys if fa.get(k) or fb.get(k)]
    return table(["", "a", "b"], rows, "jobs")


def _node_rows(d: JobDiff, limits: ReportLimits) -> list[list[str | tuple[str, int]]]:
    """Rows of the node-change table: node, class, change, a, b (as `diff --format md` lists them)."""
    ui = d.compared == "ui"
    rows: list[list[str | tuple[str, int]]] = []

    def where(node_id: str, subgraph: str | None) -> str:
        return escape(node_id if subgraph is None else f"{node_id} (subgraph {subgraph})")

    for ref in d.nodes.removed:
        rows.append([where(ref.id, ref.subgraph), escape(ref.class_type), '<span class="old">removed</span>', "", ""])
    for ref in d.nodes.added:
        rows.append([where(ref.id, ref.subgraph), escape(ref.class_type), '<span class="new">added</span>', "", ""])
    for node in d.nodes.changed:
        place = where(node.id, node.subgraph)
        if node.class_change is not None:
            rows.append([place, escape(node.class_type), "class", _value(node.class_change[0], limits),
                         _value(node.class_change[1], limits)])
        for change in node.inputs:
            label = f"<code>{escape(change.name)}</code>"
            if change.line_diff:
                rows.append([place, escape(node.class_type), label, (_line_diff_html(change.line_diff, limits), 2)])
            else:
                rows.append([place, escape(node.class_type), label, _value(change.a, limits, name=change.name, ui=ui),
                             _value(change.b, limits, name=change.name, ui=ui)])
    for title in d.titles:
        rows.append([where(title.id, title.subgraph), escape(title.class_type), "title",
                     _value(MISSING if title.a is None else title.a, limits),
                     _value(MISSING if title.b is None else title.b, limits)])
    for sub in d.subgraphs.removed:
        rows.append([escape(sub.id), escape(sub.class_type), '<span class="old">subgraph removed</span>', "", ""])
    for sub in d.subgraphs.added:
        rows.append([escape(sub.id), escape(sub.class_type), '<span class="new">subgraph added</span>', "", ""])
    for subchange in d.subgraphs.changed:
        for change in subchange.fields:
            rows.append([escape(subchange.id), escape(subchange.name), f"<code>{escape(change.name)}</code>",
                         _value(change.a, limits), _value(change.b, limits)])
    for change in d.graph:
        rows.append(["workflow", "", f"<code>{escape(change.name)}</code>", _value(change.a, limits),
                     _value(change.b, limits)])
    return rows


def _file_cell(item: Mapping[str, Any]) -> str:
    folder = item.get("subfolder") or ""
    name = f"{folder}/{item.get('filename')}" if folder else str(item.get("filename"))
    return f"<code>{escape(name)}</code> ({escape(item.get('type', ''))})"


def _file_rows(d: JobDiff) -> list[list[str]]:
    """Output changes by file name (when no comparison by content was made)."""
    rows: list[list[str]] = []
    for o in d.outputs.nodes if d.outputs is not None else ():
        node, cls = escape(o.id), escape(o.class_type)
        rows += [[node, cls, f"{escape(x.get('kind', ''))} added", "", _file_cell(x)] for x in o.added]
        rows += [[node, cls, f"{escape(x.get('kind', ''))} removed", _file_cell(x), ""] for x in o.removed]
        rows += [[node, cls, f"{escape(a.get('kind', ''))} renamed", _file_cell(a), _file_cell(b)] for a, b in o.changed]
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
        bits.append(f"{escape(artifact['width'])}×{escape(artifact.get('height'))}"
                    + (f", {escape(frames)} frames" if isinstance(frames, int) and frames > 1 else ""))
    if artifact.get("size") is not None:
        bits.append(f"{escape(artifact['size'])} bytes")
    if artifact.get("sha256"):
        bits.append(f"sha256 <code>{escape(str(artifact['sha256'])[:16])}…</code>")
    return ", ".join(bits)


def _number(value: Any, digits: int) -> str:
    if value is None:
        return "∞"
    if isinstance(value, float) and math.isinf(value):
        return "∞"
    return f"{value:.{digits}f}" if isinstance(value, float) else escape(value)


def _metrics_table(metrics: Mapping[str, Any] | None) -> str:
    if not metrics:
        return ""
    ratio = metrics.get("changed_ratio")
    rows = [
        ["changed pixels", f"{escape(metrics.get('changed_pixels'))}"
         + (f" ({format_percent(ratio).replace('%', ' %')})" if isinstance(ratio, (int, float)) else "")],
        ["max channel difference", _number(metrics.get("max_diff"), 0)],
        ["mean channel difference", _number(metrics.get("mean_diff"), 4)],
        ["PSNR", _number(metrics.get("psnr"), 2) + " dB"],
    ]
    return table(["measure (full size)", "value"], rows, "metrics")


def _link(artifact: Mapping[str, Any] | None, path: Path | None) -> str:
    if not artifact:
        return '<p class="note">no such output on this side</p>'
    digest = artifact.get("sha256") or ""
    if path is None:
        return f'<p>{_file_cell(artifact)}<br>sha256 <code>{escape(digest)}</code> (file not stored)</p>'
    return (f'<p><a href="{escape(path.resolve().as_uri())}">{_file_cell(artifact)}</a><br>'
            f"sha256 <code>{escape(digest)}</code>, {escape(artifact.get('size', '?'))} bytes</p>")


def _pair_section(page: Page, pair: Mapping[str, Any], stores: Sequence[OutputStore | None], pixel_threshold: int,
                  heading: str = "h3") -> None:
    a, b = pair.get("a"), pair.get("b")
    result = str(pair.get("result", ""))
    tolerated = result == "different" and pair.get("within_tolerance")
    node, key, index = pair.get("node"), pair.get("key"), pair.get("index")
    page.count += 1
    uid = f"p{page.count}"
    page.add('<section class="pair">',
             f"<{heading}>node <code>{escape(node)}</code> {escape(key)}[{escape(index)}] {badge(result)}"
             + (' <span class="badge r-tolerated">within tolerance</span>' if tolerated else "")
             + f"</{heading}>")
    if pair.get("why"):
        page.add(f"<p>{escape(pair['why'])}</p>")
    path_a, path_b = _locate(a, stores), _locate(b, stores)
    if _is_image(a) or _is_image(b):
        tokens = {side: page.token() for side, art in (("a", a), ("b", b)) if art}
        if a and b:
            tokens["diff"] = page.token()
        visual = Visual(path_a, path_b, tokens, pixel_threshold)
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


def _text_section(page: Page, a: Job, b: Job) -> None:
    texts_a, texts_b = _texts(a), _texts(b)
    keys = sorted(set(texts_a) | set(texts_b), key=lambda k: (natural_key(k[0]), k[1], k[2]))
    if not keys:
        return
    limit = page.limits.text_chars
    page.add("<h2>Text outputs</h2>")
    for key in keys:
        ta, tb = texts_a.get(key), texts_b.get(key)
        name = f"node <code>{escape(key[0])}</code> {escape(key[1])}[{key[2]}]"
        if ta == tb:
            page.add(f"<details><summary>{name} {badge('identical')}</summary><pre>{escape(clip(ta or '', limit))}"
                     "</pre></details>")
            continue
        result = "different" if ta is not None and tb is not None else "missing"
        lines = difflib.unified_diff((ta or "").splitlines(), (tb or "").splitlines(), "a", "b", lineterm="", n=3)
        body = [line for line in lines if not line.startswith(("---", "+++"))]
        page.add(f"<h3>{name} {badge(result)}</h3>", _line_diff_html(body, page.limits))


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
    page = Page(limits)
    page.add("<h2>Jobs</h2>", _jobs_table(a, b, labels))
    if diff.status is not None:
        page.add(f"<p>Status changed: {badge(str(diff.status[0]))} → {badge(str(diff.status[1]))}</p>")
    environment = [_pair_json(c) for c in getattr(diff, "environment", None) or ()]  # when recipes carry one
    if environment:
        page.add("<h2>Environment changes</h2>", table(
            ["kind", "name", "change", "a", "b"],
            [[escape(c.get("kind", "")), f"<code>{escape(c.get('name', ''))}</code>", escape(c.get("change", "")),
              _env_value(c.get("a"), limits), _env_value(c.get("b"), limits)] for c in environment],
            "environment"))
    rows = _node_rows(diff, limits)
    nodes = diff.nodes
    page.add(f"<h2>Node changes ({escape(diff.compared)})</h2>")
    if rows:
        page.add(f"<p>{len(nodes.added)} added, {len(nodes.removed)} removed, {len(nodes.changed)} changed</p>",
                 table(["node", "class", "change", "a", "b"], rows, "nodes"))
    else:
        page.add(f"<p>No differences in the {escape(diff.compared)}.</p>")
    pair_dicts = [_pair_json(p) for p in (diff.pairs or () if pairs is None else pairs)]
    if pair_dicts:
        counts: dict[str, int] = {}
        for pair in pair_dicts:
            counts[str(pair.get("result"))] = counts.get(str(pair.get("result")), 0) + 1
        page.add("<h2>Outputs</h2>", "<p>" + ", ".join(f"{n} {escape(r)}" for r, n in counts.items()) + "</p>")
        for pair in pair_dicts:
            _pair_section(page, pair, stores, pixel_threshold)
    else:
        file_rows = _file_rows(diff)
        if file_rows:
            page.add("<h2>Outputs</h2>", "<p>Compared by file name only (no artifacts to compare by content: "
                     "fetch with <code>--outputs</code>).</p>",
                     table(["node", "class", "change", "a", "b"], file_rows, "outputs"))
    _text_section(page, a, b)
    same = diff.identical and all(p.get("within_tolerance", p.get("result") == "identical") for p in pair_dicts)
    verdict = "no differences" if same else "different"
    lead = f"{escape(labels[0]) if labels else 'a'} vs {escape(labels[1]) if labels else 'b'}: {verdict}"
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
    page = Page(limits)
    summary = []
    for row in rows:
        outputs = [_pair_json(p) for p in row.get("outputs") or []]
        off = sum(1 for p in outputs if not p.get("within_tolerance", p.get("result") in ("identical", "same-pixels")))
        summary.append([
            f"<code>{escape(row.get('recipe', ''))}</code>", badge(str(row.get("result", ""))),
            _server(row.get("server")), f"<code>{escape(row.get('job_id') or '')}</code>",
            f"{off} of {len(outputs)} differ" if outputs else "",
            escape(", ".join(str(n) for n in row.get("cached_nodes") or [])), escape(row.get("error") or ""),
        ])
    page.add("<h2>Summary</h2>", table(["recipe", "result", "server", "job", "outputs", "from cache", "error"],
                                        summary, "summary"))
    drift = [[f"<code>{escape(row.get('recipe', ''))}</code>", _server(row.get("server")), escape(d.get("kind", "")),
              escape(d.get("message", ""))]
             for row in rows for d in (_pair_json(d) for d in row.get("environment_drift") or [])]
    if drift:  # SPEC §9: how each server differed from where the recipe's job ran, found before its POST
        page.add("<h2>Environment drift</h2>", table(["recipe", "server", "kind", "difference"], drift, "drift"))
    for row in rows:
        if row.get("result") == "match":
            continue
        page.add(f"<h2><code>{escape(row.get('recipe', ''))}</code> {badge(str(row.get('result', '')))}</h2>")
        facts = [["server", _server(row.get("server"))], ["job", f"<code>{escape(row.get('job_id') or '')}</code>"]]
        if row.get("cached_nodes"):
            facts.append(["from cache", escape(", ".join(str(n) for n in row["cached_nodes"]))])
        failure = row.get("failure")
        if isinstance(failure, Mapping):
            facts.append(["failed at", f"node <code>{escape(failure.get('node_id', ''))}</code> "
                          f"{escape(failure.get('node_type', ''))}: <strong>{escape(failure.get('exception_type', ''))}"
                          f"</strong>: {escape(failure.get('message', ''))}"])
        if row.get("error"):
            facts.append(["error", escape(row["error"])])
        page.add(table(["", ""], facts, "jobs"))
        for pair in row.get("outputs") or []:
            _pair_section(page, _pair_json(pair), stores, pixel_threshold, heading="h3")
    lead = ", ".join(f"{n} {escape(r)}" for r, n in counts.items()) or "no recipes"
    if interrupted:
        lead += " (interrupted: only the recipes verified before the stop)"
    return page.finish("comfy-replay verify", lead, _footer(limits))


__all__ = ["ReportLimits", "render_diff_report", "render_verify_report"]
