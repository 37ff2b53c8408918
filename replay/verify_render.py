"""Renderings of a verify run: text lines for people, JUnit XML for CI systems."""

from __future__ import annotations

import os
import re
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING, Any

from replay import canonical
from replay.diff_render import format_percent
from replay.verify import RESULTS, VerifyResult, VerifyRun

if TYPE_CHECKING:
    from replay.outputs import OutputPair

JUNIT_SUITE = "comfy-replay verify"
# Characters XML 1.0 cannot hold at all (escaping does not help): they come from a server's error text.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _xml(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def _number(value: Any, digits: int = 4) -> str:
    if isinstance(value, float):
        return f"{value:.{digits}g}" if value == value else "nan"
    return str(value)


def describe_pair(pair: OutputPair) -> str:
    """One output comparison in words, with its numbers: `node 9 images[0]: different: 1 changed pixel ...`."""
    where = f"node {pair.node} {pair.key}[{pair.index}]"
    text = f"{where}: {pair.result}"
    metrics = pair.metrics or {}
    if metrics:
        changed = metrics.get("changed_pixels")
        ratio = metrics.get("changed_ratio")
        psnr = metrics.get("psnr")
        parts = []
        if changed is not None:
            parts.append(f"{changed} changed pixel{'s' if changed != 1 else ''}"
                         + (f" ({format_percent(ratio)})" if isinstance(ratio, (int, float)) else ""))
        if metrics.get("max_diff") is not None:
            parts.append(f"max diff {_number(metrics['max_diff'])}")
        if metrics.get("mean_diff") is not None:
            parts.append(f"mean diff {_number(metrics['mean_diff'])}")
        if psnr is not None:
            parts.append("PSNR " + (f"{psnr:.1f} dB" if isinstance(psnr, (int, float)) else str(psnr)))
        text += ": " + ", ".join(parts)
    if pair.why:
        text += f": {pair.why}"
    if pair.result == "different" and pair.within_tolerance:
        text += " (within the tolerance)"
    return text


def result_lines(result: VerifyResult) -> list[str]:
    """The lines of one recipe: `RESULT  path  (server, job, seconds)` and, indented, what differed or why."""
    head = f"{result.result:<9} {result.recipe}"
    where = [part for part in (result.server, result.job_id) if part]
    if result.server is not None:
        where.append(f"{result.seconds:.1f} s")
    lines = [head + (f"  ({', '.join(where)})" if where else "")]
    shown = [p for p in result.outputs if not p.within_tolerance or p.result == "different"]
    lines.extend(f"          {describe_pair(pair)}" for pair in shown)
    if result.error:
        lines.append(f"          {result.error}")
    if result.cached_nodes and result.result != "cached":
        lines.append(f"          from cache: nodes {', '.join(result.cached_nodes)}")
    if result.updated:
        lines.append("          updated: the recipe now records these outputs")
    return lines


def summary_line(run: VerifyRun) -> str:
    """`3 match, 1 mismatch, 0 failed, 0 cached, 1 error of 5 recipes in 12.3 s`."""
    counts = run.counts
    text = ", ".join(f"{counts[name]} {name}" for name in RESULTS)
    of = f"of {run.total} recipe{'s' if run.total != 1 else ''}"
    if run.interrupted:
        of = f"of {len(run.results)} verified before the interrupt ({run.total} recipes)"
    return f"{'interrupted: ' if run.interrupted else ''}{text} {of} in {run.seconds:.1f} s"


def render_text(run: VerifyRun, *, update: bool = False) -> str:
    """The whole run for people: each recipe in order, lost servers, refused updates, then the summary line."""
    lines: list[str] = []
    for result in run.results:
        lines.extend(result_lines(result))
    lines.extend(f"server {s.server} stopped taking work: {s.lost}" for s in run.servers if s.lost)
    if update:
        refused = [r.recipe for r in run.results if r.result in ("failed", "cached")]
        if refused:
            lines.append(f"--update left {len(refused)} recipe{'s' if len(refused) != 1 else ''} as "
                         f"{'they were' if len(refused) != 1 else 'it was'}: a failed or cached run is never "
                         f"recorded ({', '.join(refused)})")
    lines.append(summary_line(run))
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------- JUnit


def _failure_text(result: VerifyResult) -> str:
    lines = [describe_pair(pair) for pair in result.outputs if not pair.within_tolerance or pair.result == "different"]
    if result.error:
        lines.append(result.error)
    if result.cached_nodes:
        lines.append(f"from cache: nodes {', '.join(result.cached_nodes)}")
    lines.append(f"server {result.server}, job {result.job_id}" if result.server else "not run on any server")
    return "\n".join(lines)


def _failure_message(result: VerifyResult) -> str:
    if result.result == "mismatch":
        changed = result.differing
        return (f"{len(changed)} of {len(result.outputs)} output{'s' if len(result.outputs) != 1 else ''} changed: "
                + "; ".join(describe_pair(pair) for pair in changed[:3]))
    return f"{result.result}: {result.error or ''}".rstrip(": ")


def junit_xml(run: VerifyRun, *, hostname: str | None = None) -> bytes:
    """JUnit XML of a run: one <testcase> per recipe (classname its folder, name its file); a mismatch, failed or
    cached recipe is a <failure>, an `error` an <error>, each with the numbers in its text."""
    counts = run.counts
    suite = ET.Element("testsuite", {
        "name": JUNIT_SUITE, "tests": str(len(run.results)),
        "failures": str(counts["mismatch"] + counts["failed"] + counts["cached"]),
        "errors": str(counts["error"]), "skipped": "0", "time": f"{run.seconds:.3f}",
    })
    if hostname:
        suite.set("hostname", hostname)
    for result in run.results:
        folder, name = os.path.split(result.recipe)
        case = ET.SubElement(suite, "testcase", {"classname": folder or ".", "name": name,
                                                 "file": result.recipe, "time": f"{result.seconds:.3f}"})
        if result.result in ("mismatch", "failed", "cached"):
            node = ET.SubElement(case, "failure", {"type": result.result, "message": _xml(_failure_message(result))})
            node.text = _xml(_failure_text(result))
        elif result.result == "error":
            node = ET.SubElement(case, "error", {"type": "error", "message": _xml(_failure_message(result))})
            node.text = _xml(_failure_text(result))
        else:
            out = ET.SubElement(case, "system-out")
            out.text = _xml(_failure_text(result))
    root = ET.Element("testsuites", {"name": JUNIT_SUITE, "tests": suite.get("tests", "0"),
                                     "failures": suite.get("failures", "0"), "errors": suite.get("errors", "0"),
                                     "time": suite.get("time", "0")})
    root.append(suite)
    ET.indent(root)
    text: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return text + b"\n"


def write_junit(run: VerifyRun, path: str | os.PathLike[str]) -> None:
    """Write the JUnit XML of a run atomically."""
    canonical.atomic_write(path, junit_xml(run))


__all__ = ["describe_pair", "junit_xml", "render_text", "result_lines", "summary_line", "write_junit"]
