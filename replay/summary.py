"""Job summaries for `show`: the facts a person wants first (status, times, nodes, outputs, failure)."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from replay.environment_render import summary_line
from replay.jobs import Job, cached_nodes
from replay.terminal import one_line


def _iso(seconds: float | None) -> str | None:
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    except (OverflowError, OSError, ValueError):
        return None


def _output_files(outputs: dict[str, Any]) -> list[dict[str, Any]]:
    files: list[dict[str, Any]] = []
    for node_id, node in outputs.items():
        if not isinstance(node, dict):
            continue
        for kind, items in node.items():
            for item in items if isinstance(items, list) else []:
                if isinstance(item, dict) and "filename" in item:
                    path = "/".join(p for p in (str(item.get("subfolder") or ""), str(item["filename"])) if p)
                    files.append({"node": str(node_id), "kind": kind, "file": path, "type": item.get("type")})
                elif isinstance(item, str):
                    files.append({"node": str(node_id), "kind": kind, "text": item})
    return files


def _repro_facts(section: Any) -> dict[str, Any] | None:
    """What a repro recipe was rebuilt from and how (its `repro` section), or None for other documents."""
    if not isinstance(section, dict):
        return None
    error = section.get("error")
    overrides = section.get("overrides")
    return {
        "job_id": section.get("job_id"),
        "error": error if isinstance(error, dict) else None,
        "mode": section.get("mode"),
        "targets": section.get("targets") or [],
        "overrides": [o for o in overrides if isinstance(o, dict)] if isinstance(overrides, list) else [],
    }


def summarize(job: Job) -> dict[str, Any]:
    """Return a JSON-ready summary of a job: id, status, times, node count, outputs and failure details."""
    classes: dict[str, int] = {}
    for node in (job.prompt or {}).values():
        name = str(node.get("class_type", "?")) if isinstance(node, dict) else "?"
        classes[name] = classes.get(name, 0) + 1
    summary: dict[str, Any] = {
        "id": job.id,
        "kind": job.kind,
        "status": job.status,
        "created": _iso(job.create_time),
        "started": _iso(job.start_time),
        "ended": _iso(job.end_time),
        "duration_s": round(job.duration, 3) if job.duration is not None else None,
        "nodes": len(job.prompt) if job.prompt is not None else None,
        "ui_nodes": len(job.ui_workflow.get("nodes", [])) if job.ui_workflow else None,
        "workflow_id": job.workflow_id,
        "outputs": _output_files(job.outputs),
        "cached": cached_nodes(job),
        "error": None,
        "environment": job.environment,
        "repro": _repro_facts(job.repro),
    }
    if job.error is not None:
        err = job.error
        summary["error"] = {
            "node_id": err.node_id,
            "node_type": err.node_type,
            "exception_type": err.exception_type,
            "message": err.first_line,
            "last_frame": err.last_frame,
        }
    return summary


def describe_cached(cached: list[str], total: int | None) -> str:
    """Which nodes ComfyUI took from its cache, in words: `none (every node ran)`, `2 of 5 nodes: 1, 2`, or
    `5 of 5 nodes: 1, 2, 3, 4, 5 (nothing was recomputed)`."""
    if not cached:
        return "none (every node ran)"
    of = f" of {total}" if total is not None else ""
    text = f"{len(cached)}{of} node{'s' if (total or len(cached)) != 1 else ''}: {', '.join(cached)}"
    return text + (" (nothing was recomputed)" if total is not None and len(cached) >= total else "")


def render_summary(summary: dict[str, Any]) -> str:
    """Render a summary as a few aligned lines of text."""
    rows: list[tuple[str, str]] = []
    if summary["id"]:
        rows.append(("job", summary["id"]))
    not_run = "a repro recipe, not run yet" if summary.get("repro") else f"{summary['kind']}, no job record"
    rows.append(("status", summary["status"] or f"({not_run})"))
    for key in ("created", "started", "ended"):
        if summary[key]:
            rows.append((key, summary[key]))
    if summary["duration_s"] is not None:
        rows.append(("duration", f"{summary['duration_s']:.3f} s"))
    if summary["nodes"] is not None:
        rows.append(("nodes", str(summary["nodes"])))
    if summary["ui_nodes"] is not None:
        rows.append(("ui nodes", str(summary["ui_nodes"])))
    outputs = summary["outputs"]
    rows.append(("outputs", str(len(outputs)) if outputs else "none"))
    for item in outputs:
        rows.append(("", f"node {item['node']}: {item.get('file') or item.get('text', '')}"))
    cached = summary.get("cached")
    if cached is not None:
        rows.append(("cached", describe_cached(cached, summary["nodes"])))
    err = summary["error"]
    if err:
        rows.append(("failed at", f"node {err['node_id']} ({err['node_type']})"))
        rows.append(("exception", f"{err['exception_type']}: {err['message']}"))
        if err["last_frame"]:
            rows.append(("last frame", err["last_frame"]))
    line = summary_line(summary.get("environment"))
    if line:
        rows.append(("environment", line))
    repro = summary.get("repro")
    if repro:
        rows.append(("repro of", f"job {repro['job_id']}"))
        if repro["error"]:
            err = repro["error"]
            rows.append(("which failed", f"node {err.get('node_id')} ({err.get('node_type')}): "
                                         f"{err.get('exception_type')}: {err.get('message')}"))
        targets = f", target {', '.join(str(t) for t in repro['targets'])}" if repro["targets"] else ""
        rows.append(("rebuilt", f"{repro['mode']}{targets}"))
        for entry in repro["overrides"]:
            value = json.dumps(entry.get("value"), ensure_ascii=False)
            rows.append(("set", f"{entry.get('node')}.{entry.get('input')}={value}"))
    width = max(len(k) for k, _ in rows)
    return "".join(f"{k.ljust(width)}  {one_line(v)}\n" for k, v in rows)  # job strings: no escape sequences


__all__ = ["describe_cached", "render_summary", "summarize"]
