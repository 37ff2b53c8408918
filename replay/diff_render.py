"""Renderings of a `JobDiff`: the SPEC §4 JSON shape, a terminal report and a Markdown pull-request comment."""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from replay.diff_model import (
    COMPARED_UI,
    MISSING,
    Change,
    ErrorInfo,
    JobDiff,
    NodeChange,
    NodeRef,
    OutputNodeDiff,
    Side,
    TitleChange,
)
from replay.environment_render import render_changes_markdown, render_changes_text
from replay.terminal import one_line
from replay.workflow import is_link

if TYPE_CHECKING:
    from replay.outputs import OutputPair

UI_MODES = {0: "always", 1: "on event", 2: "never (muted)", 3: "on trigger", 4: "bypass"}

# Single-line strings longer than this are shown as "- old / + new" lines rather than "old -> new".
_LONG = 60


# ---------------------------------------------------------------------------------------------- JSON


def _node_json(ref: NodeRef) -> dict[str, Any]:
    out: dict[str, Any] = {"id": ref.id, "class_type": ref.class_type}
    if ref.subgraph is not None:
        out["subgraph"] = ref.subgraph
    return out


def _change_json(change: Change) -> dict[str, Any]:
    out: dict[str, Any] = {"name": change.name}
    if change.a is not MISSING:
        out["a"] = change.a
    if change.b is not MISSING:
        out["b"] = change.b
    if change.line_diff:
        out["line_diff"] = list(change.line_diff)
    return out


def _changed_json(node: NodeChange) -> dict[str, Any]:
    out = _node_json(NodeRef(node.id, node.class_type, node.subgraph))
    if node.class_change is not None:
        out["class_change"] = {"a": node.class_change[0], "b": node.class_change[1]}
    out["inputs"] = [_change_json(c) for c in node.inputs]
    return out


def _title_json(title: TitleChange) -> dict[str, Any]:
    out = _node_json(NodeRef(title.id, title.class_type, title.subgraph))
    out["a"] = title.a
    out["b"] = title.b
    return out


def _error_json(error: ErrorInfo | None) -> dict[str, Any] | None:
    if error is None:
        return None
    return {"node_id": error.node_id, "node_type": error.node_type, "exception_type": error.exception_type,
            "message": error.message}


def _output_node_json(node: OutputNodeDiff) -> dict[str, Any]:
    return {
        "id": node.id,
        "class_type": node.class_type,
        "count": {"a": node.count_a, "b": node.count_b},
        "added": list(node.added),
        "removed": list(node.removed),
        "changed": [{"a": a, "b": b} for a, b in node.changed],
        "values": [_change_json(c) for c in node.values],
    }


def _duration(side: Side) -> float | None:
    # Durations come from millisecond stamps divided by 1000: round away the float noise.
    return None if side.duration is None else round(side.duration, 6)


def _side_json(side: Side) -> dict[str, Any]:
    return {"kind": side.kind, "id": side.id, "status": side.status}


def to_json(d: JobDiff) -> dict[str, Any]:
    """Return the diff as the SPEC §4 `--json` object, keys in a fixed order."""
    outputs = None
    if d.outputs is not None:
        outputs = {"count": {"a": d.outputs.count_a, "b": d.outputs.count_b},
                   "nodes": [_output_node_json(n) for n in d.outputs.nodes]}
        if d.pairs is not None:  # compared by content (SPEC §4 "Output comparisons")
            outputs["pairs"] = [pair.to_json() for pair in d.pairs]
    return {
        "identical": d.identical,
        "compared": d.compared,
        "nodes": {
            "added": [_node_json(n) for n in d.nodes.added],
            "removed": [_node_json(n) for n in d.nodes.removed],
            "changed": [_changed_json(n) for n in d.nodes.changed],
        },
        "titles": [_title_json(t) for t in d.titles],
        "graph": [_change_json(c) for c in d.graph],
        "subgraphs": {
            "added": [{"id": s.id, "name": s.class_type} for s in d.subgraphs.added],
            "removed": [{"id": s.id, "name": s.class_type} for s in d.subgraphs.removed],
            "changed": [{"id": s.id, "name": s.name, "fields": [_change_json(c) for c in s.fields]}
                        for s in d.subgraphs.changed],
        },
        "outputs": outputs,
        "status": None if d.status is None else {"a": d.status[0], "b": d.status[1]},
        "error": None if d.error is None else {"a": _error_json(d.error[0]), "b": _error_json(d.error[1])},
        "timing": {"a": _duration(d.a), "b": _duration(d.b)},
        "sides": {"a": _side_json(d.a), "b": _side_json(d.b)},
        "environment": [c.to_json() for c in d.environment],
        "cached": None if d.cached is None else {"a": d.cached[0], "b": d.cached[1]},
    }


# ---------------------------------------------------------------------------------------------- values


def format_value(value: Any, *, name: str = "", ui: bool = False) -> str:
    """One value as text: links as `node[slot]`, strings quoted, UI modes named, other JSON compact."""
    if value is MISSING:
        return "(none)"
    if is_link(value):
        return f"{value[0]}[{value[1]}]"
    if ui and name == "mode" and isinstance(value, int) and value in UI_MODES:
        return f"{value} ({UI_MODES[value]})"
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))


def _file(item: dict[str, Any]) -> str:
    folder = item.get("subfolder") or ""
    path = f"{folder}/{item.get('filename')}" if folder else str(item.get("filename"))
    return f"{item.get('kind', '')} {one_line(path)} ({item.get('type', '')})".strip()


def _error_line(error: ErrorInfo | None) -> str:
    if error is None:
        return "none"
    first = error.message.splitlines()[0] if error.message else ""
    return f"node {error.node_id} {error.node_type}: {error.exception_type}: {first}".rstrip(": ")


def _side_line(letter: str, side: Side, label: str | None) -> str:
    what = f"{side.kind} {side.id}" if side.id else side.kind
    if label is None:
        head, facts = what, []
    else:
        head, facts = label, [side.kind if side.id is None or side.id in label else what]
    facts += [x for x in (side.status, None if side.duration is None else f"{side.duration:.3f} s") if x]
    return f"{letter}: {head}" + (f" ({', '.join(facts)})" if facts else "")


def _where(node_id: str, class_type: str, subgraph: str | None) -> str:
    return f"{node_id} {class_type}" + (f" (in subgraph {subgraph})" if subgraph else "")


# ---------------------------------------------------------------------------------------------- text


class _Paint:
    """ANSI colours, or nothing."""

    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, text: str, code: str) -> str:
        return f"\x1b[{code}m{text}\x1b[0m" if self.color else text

    def line(self, text: str) -> str:
        """Colour a diff line by its first character."""
        code = {"+": "32", "-": "31", "@": "36"}.get(text[:1])
        return self(text, code) if code else text


def _change_lines(change: Change, paint: _Paint, indent: str, ui: bool) -> list[str]:
    name = change.name
    if change.a is MISSING:
        return [paint(f"{indent}+ {name}: {format_value(change.b, name=name, ui=ui)}", "32")]
    if change.b is MISSING:
        return [paint(f"{indent}- {name}: {format_value(change.a, name=name, ui=ui)}", "31")]
    if change.line_diff:
        return [f"{indent}{name}:"] + [paint.line(f"{indent}  {line}") for line in change.line_diff]
    old, new = format_value(change.a, name=name, ui=ui), format_value(change.b, name=name, ui=ui)
    if len(old) > _LONG or len(new) > _LONG:
        return [f"{indent}{name}:", paint(f"{indent}  - {old}", "31"), paint(f"{indent}  + {new}", "32")]
    return [f"{indent}{name}: {paint(old, '31')} -> {paint(new, '32')}"]


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _output_lines(node: OutputNodeDiff, paint: _Paint) -> list[str]:
    lines = [f"  {node.id} {node.class_type}:".replace(" :", ":")]
    lines += [paint(f"    + {_file(x)}", "32") for x in node.added]
    lines += [paint(f"    - {_file(x)}", "31") for x in node.removed]
    for old, new in node.changed:
        lines.append(f"    {_file(old)} -> {_file(new)}")
    for change in node.values:
        lines += _change_lines(change, paint, "    ", False)
    return lines


def render_text(d: JobDiff, color: bool = False, *, labels: tuple[str, str] | None = None) -> str:
    """Return the diff as a terminal report (ANSI colours only when `color`), ending with a newline.

    `labels` name the two sides in the header (the CLI passes the job references as given).
    """
    paint = _Paint(color)
    ui = d.compared == COMPARED_UI
    lines = [_side_line("a", d.a, labels and labels[0]), _side_line("b", d.b, labels and labels[1])]
    if d.status is not None:
        lines.append(f"status: {paint(str(d.status[0]), '31')} -> {paint(str(d.status[1]), '32')}")
    if d.error is not None:
        lines.append(f"error a: {_error_line(d.error[0])}")
        lines.append(f"error b: {_error_line(d.error[1])}")
    nodes = d.nodes
    if nodes.added or nodes.removed or nodes.changed:
        lines.append(paint(f"{d.compared}: {_plural(len(nodes.added), 'node')} added, {len(nodes.removed)} removed, "
                           f"{len(nodes.changed)} changed", "1"))
    for ref in nodes.removed:
        lines.append(paint(f"- {_where(ref.id, ref.class_type, ref.subgraph)}", "31"))
    for ref in nodes.added:
        lines.append(paint(f"+ {_where(ref.id, ref.class_type, ref.subgraph)}", "32"))
    for node in nodes.changed:
        cls = node.class_type if node.class_change is None else f"{node.class_change[0]} -> {node.class_change[1]}"
        lines.append(paint(f"~ {_where(node.id, cls, node.subgraph)}", "33"))
        for change in node.inputs:
            lines += _change_lines(change, paint, "    ", ui)
    for title in d.titles:
        old, new = (format_value(MISSING if t is None else t) for t in (title.a, title.b))
        lines.append(f"title {_where(title.id, title.class_type, title.subgraph)}: {old} -> {new}")
    for ref in d.subgraphs.removed:
        lines.append(paint(f"- subgraph {ref.id} {ref.class_type}", "31"))
    for ref in d.subgraphs.added:
        lines.append(paint(f"+ subgraph {ref.id} {ref.class_type}", "32"))
    for sub in d.subgraphs.changed:
        lines.append(paint(f"~ subgraph {sub.id} {sub.name}", "33"))
        for change in sub.fields:
            lines += _change_lines(change, paint, "    ", ui)
    if d.graph:
        lines.append("workflow:")
        for change in d.graph:
            lines += _change_lines(change, paint, "    ", ui)
    if d.outputs is not None and d.outputs.nodes:
        counts = f"{d.outputs.count_a} -> {_plural(d.outputs.count_b, 'item')}"
        lines.append(paint(f"outputs: {counts}", "1"))
        for out in d.outputs.nodes:
            lines += _output_lines(out, paint)
    lines += render_changes_text(d.environment)
    lines += _pair_lines(d.pairs, paint)
    lines += _cached_lines(d.cached, d.outputs_cached)
    if d.identical:
        lines.append(f"identical {d.compared}" + (" and results" if d.outputs is not None else ""))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------- outputs by content

_RESULT_COLOURS = {"identical": "32", "same-pixels": "32", "different": "31", "incomparable": "33", "missing": "33"}


def _artifact_name(artifact: dict[str, Any] | None) -> str:
    if artifact is None:
        return "(none)"
    folder = artifact.get("subfolder") or ""
    name = f"{folder}/{artifact.get('filename')}" if folder else str(artifact.get("filename"))
    return name + (" (missing on the server)" if artifact.get("missing") else "")


def _number(value: Any, digits: int = 2) -> str:
    if isinstance(value, float):
        if value == float("inf"):
            return "inf"
        return f"{value:.{digits}f}".rstrip("0").rstrip(".") if value == value else "nan"
    return str(value)


def format_percent(ratio: float) -> str:
    """A changed-pixel ratio as a percentage: up to 4 decimals, and at least 2 significant digits for a ratio so
    small that 4 decimals would round it to 0 (2 pixels of a 2048x2048 image are 0.000048%, not 0%)."""
    percent = ratio * 100
    if percent <= 0 or not math.isfinite(percent):
        return f"{_number(float(percent))}%"
    digits = max(4, 1 - math.floor(math.log10(percent)))
    return f"{_number(float(percent), digits)}%"


def pair_details(pair: OutputPair) -> str:
    """What a compared output's result rests on: the numbers for `different`, the reason for the others."""
    metrics = pair.metrics
    if metrics:
        ratio = metrics.get("changed_ratio")
        percent = f" ({format_percent(ratio)})" if isinstance(ratio, (int, float)) else ""
        changed = metrics.get("changed_pixels")
        parts = [f"{changed} pixel{'' if changed == 1 else 's'} changed{percent}",
                 f"max diff {_number(metrics.get('max_diff'))}", f"mean diff {_number(metrics.get('mean_diff'), 4)}",
                 f"PSNR {_number(metrics.get('psnr'))} dB"]
        text = ", ".join(parts)
        return text + ("; within tolerance" if pair.result == "different" and pair.within_tolerance else "")
    if pair.why:
        return pair.why
    if pair.result == "same-pixels":
        return "bytes differ, decoded pixels are equal"
    if pair.result == "different" and pair.within_tolerance:
        return "within tolerance"
    return ""


def _pair_label(pair: OutputPair) -> str:
    return f"{pair.node} {pair.key}[{pair.index}]"


def _pair_lines(pairs: tuple[OutputPair, ...] | None, paint: _Paint) -> list[str]:
    """Outputs by content: one line when every file is the same, else one line per pair."""
    if pairs is None:
        return []
    if not pairs:
        return ["outputs by content: no output files on either side"]
    same = [p for p in pairs if p.result in ("identical", "same-pixels")]
    if len(same) == len(pairs):
        kinds = sorted({p.result for p in pairs})
        return [paint(f"outputs by content: {_plural(len(pairs), 'file')}, all {' or '.join(kinds)}"
                      " (file names aside)", "32")]
    tolerated = sum(1 for p in pairs if p.within_tolerance) - len(same)
    more = f", {tolerated} more within tolerance" if tolerated else ""
    lines = [paint(f"outputs by content: {len(same)} of {_plural(len(pairs), 'file')} the same{more}", "1")]
    for pair in pairs:
        names = f"{_artifact_name(pair.a)} -> {_artifact_name(pair.b)}"
        details = pair_details(pair)
        result = paint(pair.result, _RESULT_COLOURS.get(pair.result, "0"))
        lines.append(f"  {_pair_label(pair)}: {result}" + (f": {details}" if details else "") + f"  [{names}]")
    return lines


def describe_side_cache(cached: list[str] | None) -> str | None:
    """`none`, or the node ids a run took from ComfyUI's cache; None when the job does not say (Comfy Cloud)."""
    if cached is None:
        return None
    if not cached:
        return "none"
    return ("node " if len(cached) == 1 else "nodes ") + ", ".join(cached)


def _cached_lines(cached: tuple[list[str] | None, list[str] | None] | None,
                  outputs_cached: tuple[bool, bool] = (False, False)) -> list[str]:
    """Which nodes came from ComfyUI's cache, when a side reports any (a cached node was not run again)."""
    if cached is None or not (cached[0] or cached[1]):
        return []
    words = [f"{letter} {describe_side_cache(side)}" for letter, side in zip("ab", cached, strict=True)
             if side is not None]
    lines = ["from cache: " + "; ".join(words) + " (taken from ComfyUI's cache, not run again)"]
    for letter, whole in zip("ab", outputs_cached, strict=True):
        if whole:
            lines.append(f"{letter} recomputed none of its outputs: its results say nothing about a new run")
    return lines


# ---------------------------------------------------------------------------------------------- Markdown


# Every value from a job (titles, class names, file names, errors) reaches the Markdown through one of these two:
# a comment renderer (GitHub's) would otherwise show its markup, e.g. an <img> that loads from anywhere.
def _cell(text: str) -> str:
    """Plain text for a table cell: markup characters escaped, pipes and line breaks kept inside the cell."""
    text = html.escape(text, quote=False)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", "<br>")


def _code_span(text: str) -> str:
    """`text` as an inline code span for a table cell; a fence longer than any run of backticks in the text, so a
    backtick in a value cannot end the span (inside a span nothing else is markup)."""
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence, pad = "`" * (longest + 1), " " if longest else ""
    return f"{fence}{pad}{text.replace('|', chr(92) + '|').replace(chr(10), ' ')}{pad}{fence}"


def _fence(lines: Sequence[str]) -> str:
    """A code-block fence longer than any run of backticks in `lines`, so no line can close the block."""
    return "`" * max([3, *(len(run) + 1 for line in lines for run in re.findall("`+", line))])


def _code(value: Any, *, name: str = "", ui: bool = False) -> str:
    if value is MISSING:
        return ""
    return _code_span(format_value(value, name=name, ui=ui))


def _md_side(side: Side, label: str | None) -> str:
    what = f"{side.kind} {_code_span(side.id)}" if side.id else side.kind
    return what if label is None else f"{_code_span(label)} ({what})"


def render_markdown(d: JobDiff, *, labels: tuple[str, str] | None = None) -> str:
    """Return the diff as Markdown for a pull-request comment: a summary table, node and output tables."""
    ui = d.compared == COMPARED_UI
    out = ["### comfy-replay diff", "", "| | a | b |", "| --- | --- | --- |",
           f"| document | {_md_side(d.a, labels and labels[0])} | {_md_side(d.b, labels and labels[1])} |"]
    if d.a.status or d.b.status:
        out.append(f"| status | {d.a.status or ''} | {d.b.status or ''} |")
    if d.error is not None:
        out.append(f"| error | {_cell(_error_line(d.error[0]))} | {_cell(_error_line(d.error[1]))} |")
    if d.a.duration is not None or d.b.duration is not None:
        dur = [f"{s.duration:.3f} s" if s.duration is not None else "" for s in (d.a, d.b)]
        out.append(f"| duration | {dur[0]} | {dur[1]} |")
    out.append("")
    if d.cached is not None and (d.cached[0] or d.cached[1]):
        shown = [_cell(describe_side_cache(c) or "(not reported)") for c in d.cached]
        out.insert(-1, f"| from cache | {shown[0]} | {shown[1]} |")
    if d.environment:
        out += [*render_changes_markdown(d.environment), ""]
    if d.identical:
        out.append(f"No differences in the {d.compared}" + (" or results." if d.outputs is not None else "."))
        if d.pairs:
            out.append("")
            out += _md_pairs(d.pairs)
        return "\n".join(out) + "\n"

    rows: list[str] = []
    details: list[str] = []

    def row(node: str, cls: str, change: str, a: str, b: str) -> None:
        rows.append(f"| {_cell(node)} | {_cell(cls)} | {change} | {a} | {b} |")

    def where(node_id: str, subgraph: str | None) -> str:
        return node_id if subgraph is None else f"{node_id} (subgraph {subgraph})"

    for ref in d.nodes.removed:
        row(where(ref.id, ref.subgraph), ref.class_type, "removed", "", "")
    for ref in d.nodes.added:
        row(where(ref.id, ref.subgraph), ref.class_type, "added", "", "")
    for node in d.nodes.changed:
        place = where(node.id, node.subgraph)
        if node.class_change is not None:
            row(place, node.class_type, "class", _code_span(node.class_change[0]), _code_span(node.class_change[1]))
        for change in node.inputs:
            if change.line_diff:
                row(place, node.class_type, _code_span(change.name), "(text, see below)", "(text, see below)")
                details += [f"<details><summary>{_cell(place)} {_cell(node.class_type)}: {_cell(change.name)}"
                            "</summary>", "", f"{_fence(change.line_diff)}diff", *change.line_diff,
                            _fence(change.line_diff), "</details>", ""]
            else:
                row(place, node.class_type, _code_span(change.name), _code(change.a, name=change.name, ui=ui),
                    _code(change.b, name=change.name, ui=ui))
    for title in d.titles:
        old, new = (_code(t) if t is not None else "(none)" for t in (title.a, title.b))
        row(where(title.id, title.subgraph), title.class_type, "title", old, new)
    for sub in d.subgraphs.removed:
        row(sub.id, sub.class_type, "subgraph removed", "", "")
    for sub in d.subgraphs.added:
        row(sub.id, sub.class_type, "subgraph added", "", "")
    for subchange in d.subgraphs.changed:
        for change in subchange.fields:
            row(subchange.id, subchange.name, _code_span(change.name), _code(change.a), _code(change.b))
    for change in d.graph:
        row("workflow", "", _code_span(change.name), _code(change.a), _code(change.b))
    if rows:
        nodes = d.nodes
        out += [f"**{d.compared}**: {len(nodes.added)} added, {len(nodes.removed)} removed, "
                f"{len(nodes.changed)} changed", "", "| node | class | change | a | b |",
                "| --- | --- | --- | --- | --- |", *rows, ""]
    if d.outputs is not None and d.outputs.nodes:
        out += [f"**outputs**: {d.outputs.count_a} → {d.outputs.count_b} items", "",
                "| node | class | change | a | b |", "| --- | --- | --- | --- | --- |"]
        for o in d.outputs.nodes:
            line = f"| {_cell(o.id)} | {_cell(o.class_type)} | "
            out += [line + f"added | | {_code_span(_file(x))} |" for x in o.added]
            out += [line + f"removed | {_code_span(_file(x))} | |" for x in o.removed]
            out += [line + f"changed | {_code_span(_file(a))} | {_code_span(_file(b))} |" for a, b in o.changed]
            for change in o.values:
                out.append(line + f"{_code_span(change.name)} | {_code(change.a)} | {_code(change.b)} |")
        out.append("")
    if d.pairs is not None:
        out += _md_pairs(d.pairs)
    out += details
    return "\n".join(out).rstrip("\n") + "\n"


def _md_pairs(pairs: tuple[OutputPair, ...]) -> list[str]:
    """The outputs compared by content as a Markdown table."""
    same = sum(1 for p in pairs if p.result in ("identical", "same-pixels"))
    tolerated = sum(1 for p in pairs if p.within_tolerance) - same
    more = f", {tolerated} more within tolerance" if tolerated else ""
    out = [f"**outputs by content**: {same} of {len(pairs)} the same{more}", ""]
    if not pairs:
        return out
    out += ["| output | result | a | b | details |", "| --- | --- | --- | --- | --- |"]
    for pair in pairs:
        out.append(f"| {_cell(_pair_label(pair))} | {pair.result} | {_code_span(_artifact_name(pair.a))} | "
                   f"{_code_span(_artifact_name(pair.b))} | {_cell(pair_details(pair))} |")
    out.append("")
    return out


__all__ = ["describe_side_cache", "format_percent", "format_value", "pair_details", "render_markdown", "render_text", "to_json"]
