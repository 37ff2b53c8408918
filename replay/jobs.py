"""The job model: one `Job` built from a Cloud or OSS job detail, an OSS history entry, a prompt or a UI graph.

This module is where the two server dialects meet: seconds vs milliseconds, `current_outputs` as a list or an
object, history entries vs job details. Everything above it sees a `Job`.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field
from typing import Any

from replay.errors import InputError

JOB_STATUSES = ("pending", "in_progress", "completed", "failed", "cancelled")
TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled"})

# Document kinds, as detected from a document's shape (comfy-api.md §4.5), never from a file name.
KIND_JOB = "job"
KIND_HISTORY = "history"
KIND_CONTAINER = "container"
KIND_PROMPT = "prompt"
KIND_UI = "ui"
KIND_RECIPE = "recipe"

_UUID_RE = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")

# Unix times above this are milliseconds: 1e11 seconds is the year 5138, 1e11 ms is March 1973.
_MS_THRESHOLD = 1e11


def is_job_id(text: str) -> bool:
    """Return True when `text` is a canonical textual UUID (any version, any case)."""
    return bool(_UUID_RE.match(text))


def check_job_id(text: str) -> str:
    """Return the job id in lower case, or raise InputError when it is not a UUID.

    Called before a job id goes into a URL or a file name, so `../../x` never reaches either.
    """
    if not isinstance(text, str) or not is_job_id(text):
        shown = text if isinstance(text, str) and len(text) <= 80 else repr(text)[:80]
        raise InputError(f"{shown!s} is not a job id: a job id is a UUID like f7838b83-aab4-48ed-96a5-1e0cb6760bc6")
    return text.lower()


def to_seconds(value: Any) -> float | None:
    """Return a Unix time in seconds from a value in seconds or milliseconds (told apart by magnitude)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value / 1000.0 if abs(value) > _MS_THRESHOLD else float(value)


@dataclass(frozen=True)
class ExecutionError:
    """Why a job failed: the failing node, its class, the exception, and what the server reported around it."""

    node_id: str
    node_type: str
    exception_type: str
    exception_message: str
    traceback: list[str] = field(default_factory=list)
    current_inputs: dict[str, Any] = field(default_factory=dict)
    current_outputs: list[str] = field(default_factory=list)
    executed: list[str] = field(default_factory=list)

    @property
    def first_line(self) -> str:
        """The first non-empty line of the exception message."""
        for line in self.exception_message.splitlines():
            if line.strip():
                return line.strip()
        return ""

    @property
    def last_frame(self) -> str:
        """The last traceback frame as one line (`File "...", line N, in f: code`), or ''."""
        if not self.traceback:
            return ""
        lines = [ln.strip() for ln in self.traceback[-1].splitlines() if ln.strip() and set(ln.strip()) != {"^"}]
        return ": ".join(lines[:2])

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ExecutionError:
        """Build from a Cloud `ExecutionError` object or the data of an OSS `execution_error` message."""
        outputs = data.get("current_outputs")
        if isinstance(outputs, dict):
            out_ids = [str(k) for k in outputs]
        elif isinstance(outputs, list):
            out_ids = [str(x) for x in outputs]
        else:
            out_ids = []
        inputs = data.get("current_inputs")
        trace = data.get("traceback")
        executed = data.get("executed")
        return cls(
            node_id=str(data.get("node_id", "")),
            node_type=str(data.get("node_type", "")),
            exception_type=str(data.get("exception_type", "")),
            exception_message=str(data.get("exception_message", "")),
            traceback=[str(t) for t in trace] if isinstance(trace, list) else [],
            current_inputs=dict(inputs) if isinstance(inputs, dict) else {},
            current_outputs=out_ids,
            executed=[str(x) for x in executed] if isinstance(executed, list) else [],
        )


@dataclass
class Job:
    """One job as comfy-replay sees it, whatever document or server dialect it came from.

    `detail` is the job detail JSON exactly as the server returned it (or as built from a history entry),
    kept for lossless export; it is None for a bare prompt or UI graph. Times are Unix seconds.
    """

    kind: str
    id: str | None = None
    status: str | None = None
    prompt: dict[str, Any] | None = None
    extra_data: dict[str, Any] | None = None
    ui_workflow: dict[str, Any] | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    error: ExecutionError | None = None
    create_time: float | None = None
    update_time: float | None = None
    start_time: float | None = None
    end_time: float | None = None
    workflow_id: str | None = None
    detail: dict[str, Any] | None = None
    source: dict[str, Any] = field(default_factory=dict)
    repro: dict[str, Any] | None = None
    artifacts: list[dict[str, Any]] | None = None
    """What the outputs contained, by content (SPEC §7): a recipe's `artifacts`, or set by `fetch --outputs`."""
    environment: dict[str, Any] | None = None
    """Where the job ran (a recipe's `environment` section, SPEC §9), None when not recorded."""

    @property
    def duration(self) -> float | None:
        """Execution time in seconds, when the start and end are known."""
        if self.start_time is None or self.end_time is None:
            return None
        return self.end_time - self.start_time

    @property
    def is_terminal(self) -> bool:
        """True for completed, failed and cancelled jobs."""
        return self.status in TERMINAL_STATUSES


# ---------------------------------------------------------------------------------------------- shapes


def _is_prompt(doc: Any) -> bool:
    return (
        isinstance(doc, dict)
        and bool(doc)
        and all(isinstance(v, dict) and "class_type" in v and "inputs" in v for v in doc.values())
    )


def _is_ui(doc: Any) -> bool:
    if not isinstance(doc, dict) or not isinstance(doc.get("nodes"), list):
        return False
    if doc.get("version") == 1:
        return True
    return isinstance(doc.get("links"), list) or "last_node_id" in doc


def _is_history_entry(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("prompt"), list) and len(doc["prompt"]) >= 3


def _is_container(doc: Any) -> bool:
    if not isinstance(doc, dict) or "nodes" in doc:
        return False
    has_prompt = "prompt" in doc and (_is_prompt(doc["prompt"]) or doc["prompt"] == {})
    has_extra = isinstance(doc.get("extra_data"), dict)
    return (has_prompt or has_extra) and ("prompt" not in doc or has_prompt)


def _is_job_detail(doc: Any) -> bool:
    return isinstance(doc, dict) and isinstance(doc.get("id"), str) and isinstance(doc.get("status"), str)


def detect_kind(doc: Any) -> str:
    """Return the kind of a parsed document from its shape: job, history, container, prompt, ui or recipe.

    Raises InputError naming what the document looks like when it is none of them.
    """
    if isinstance(doc, dict):
        if "recipe" in doc and ("prompt" in doc or "ui_workflow" in doc or "source" in doc or "job" in doc):
            return KIND_RECIPE
        if _is_job_detail(doc):
            return KIND_JOB
        if _is_history_entry(doc):
            return KIND_HISTORY
        if len(doc) == 1:
            (key, value), = doc.items()
            if is_job_id(str(key)) and _is_history_entry(value):
                return KIND_HISTORY
        if _is_ui(doc):
            return KIND_UI
        if _is_container(doc):
            return KIND_CONTAINER
        if _is_prompt(doc):
            return KIND_PROMPT
        if not doc:
            raise InputError("the document is an empty object, not a job, prompt, UI workflow or recipe")
        raise InputError(
            "the document is not a ComfyUI job, history entry, API prompt, UI workflow or recipe "
            f"(top-level keys: {', '.join(sorted(map(str, doc))[:6])})"
        )
    what = {list: "a list", str: "a string", bool: "a boolean", type(None): "null", int: "a number", float: "a number"}
    raise InputError(
        f"the document is {what.get(type(doc), type(doc).__name__)}, "
        "not a ComfyUI job, history entry, API prompt, UI workflow or recipe"
    )


# ---------------------------------------------------------------------------------------------- builders


def split_workflow(workflow: Any) -> tuple[dict[str, Any] | None, dict[str, Any] | None, dict[str, Any] | None]:
    """Return (prompt, extra_data, ui graph) from a job's `workflow` field, sniffing its shape (also used by
    archive, which reads raw job details)."""
    if not isinstance(workflow, dict):
        return None, None, None
    if _is_container(workflow):
        prompt = workflow.get("prompt")
        extra = workflow.get("extra_data")
        extra = extra if isinstance(extra, dict) else None
        return (prompt if isinstance(prompt, dict) else None), extra, _ui_from_extra(extra)
    if _is_prompt(workflow):
        return workflow, None, None
    if _is_ui(workflow):
        return None, None, workflow
    return None, None, None


def _ui_from_extra(extra: dict[str, Any] | None) -> dict[str, Any] | None:
    if not extra:
        return None
    pnginfo = extra.get("extra_pnginfo")
    if isinstance(pnginfo, dict) and isinstance(pnginfo.get("workflow"), dict):
        ui: dict[str, Any] = pnginfo["workflow"]
        return ui
    return None


def job_from_detail(detail: dict[str, Any]) -> Job:
    """Build a Job from a `GET /api/jobs/{id}` body, Cloud or OSS dialect."""
    prompt, extra, ui = split_workflow(detail.get("workflow"))
    err = detail.get("execution_error")
    status = detail.get("status")
    outputs = detail.get("outputs")
    workflow_id = detail.get("workflow_id")
    return Job(
        kind=KIND_JOB,
        id=str(detail["id"]).lower() if is_job_id(str(detail.get("id", ""))) else detail.get("id"),
        status=status if isinstance(status, str) else None,
        prompt=prompt,
        extra_data=extra,
        ui_workflow=ui,
        outputs=outputs if isinstance(outputs, dict) else {},
        error=ExecutionError.from_dict(err) if isinstance(err, dict) else None,
        create_time=to_seconds(detail.get("create_time")),
        update_time=to_seconds(detail.get("update_time")),
        start_time=to_seconds(detail.get("execution_start_time")),
        end_time=to_seconds(detail.get("execution_end_time")),
        workflow_id=workflow_id if isinstance(workflow_id, str) else None,
        detail=detail,
    )


def _history_messages(entry: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    status = entry.get("status")
    messages = status.get("messages") if isinstance(status, dict) else None
    found: list[tuple[str, dict[str, Any]]] = []
    for message in messages if isinstance(messages, list) else []:
        if isinstance(message, list) and len(message) == 2 and isinstance(message[1], dict):
            found.append((str(message[0]), message[1]))
    return found


def count_output_files(outputs: dict[str, Any]) -> int:
    """Count the output items (images, files, texts) over every output node."""
    count = 0
    for node in outputs.values():
        if isinstance(node, dict):
            count += sum(len(items) for items in node.values() if isinstance(items, list))
    return count


def cached_nodes(job: Job) -> list[str] | None:
    """The ids of the nodes ComfyUI served from its cache in this run, from the `execution_cached` message of
    `execution_status.messages`; None when the job does not say (Comfy Cloud, a job not finished, a prompt)."""
    detail = job.detail if isinstance(job.detail, dict) else {}
    status = detail.get("execution_status")
    messages = status.get("messages") if isinstance(status, dict) else None
    found: list[str] | None = None
    for message in messages if isinstance(messages, list) else []:
        if (isinstance(message, list) and len(message) == 2 and message[0] == "execution_cached"
                and isinstance(message[1], dict) and isinstance(message[1].get("nodes"), list)):
            found = (found or []) + [str(node) for node in message[1]["nodes"]]
    return found


def all_outputs_cached(job: Job) -> bool:
    """True when ComfyUI reports every output node of the job as served from its cache: it recomputed none of them."""
    cached = cached_nodes(job)
    if not cached or not job.outputs:
        return False
    return all(str(node) in cached for node in job.outputs)


def history_to_detail(job_id: str, entry: dict[str, Any]) -> dict[str, Any]:
    """Build the OSS job-detail shape from a `/history/{id}` entry (servers older than the jobs API).

    Follows ComfyUI's own `normalize_history_item`: status from `status_str` and an interrupt message,
    times in milliseconds from the status messages, `workflow` as the `{prompt, extra_data}` container.
    """
    prompt_tuple = entry.get("prompt")
    if not isinstance(prompt_tuple, list) or len(prompt_tuple) < 3:
        raise InputError(f"history entry of job {job_id} has no prompt tuple [number, id, prompt, extra_data, outputs]")
    number = prompt_tuple[0]
    prompt = prompt_tuple[2] if isinstance(prompt_tuple[2], dict) else {}
    extra = prompt_tuple[3] if len(prompt_tuple) > 3 and isinstance(prompt_tuple[3], dict) else {}
    status_obj = entry.get("status") if isinstance(entry.get("status"), dict) else {}
    messages = _history_messages(entry)
    events = {name: data for name, data in messages}
    status_str = status_obj.get("status_str") if isinstance(status_obj, dict) else None
    if status_str == "success":
        status = "completed"
    elif "execution_interrupted" in events:
        status = "cancelled"
    elif status_str == "error" or "execution_error" in events:
        status = "failed"
    elif isinstance(status_obj, dict) and status_obj.get("completed") is True:
        status = "completed"
    else:
        status = "failed" if status_obj else "completed"
    raw_outputs = entry.get("outputs")
    outputs: dict[str, Any] = raw_outputs if isinstance(raw_outputs, dict) else {}
    detail: dict[str, Any] = {"id": job_id, "status": status}
    if isinstance(number, (int, float)) and not isinstance(number, bool):
        detail["priority"] = number
    if "create_time" in extra:
        detail["create_time"] = extra["create_time"]
    start = events.get("execution_start", {}).get("timestamp")
    if start is not None:
        detail["execution_start_time"] = start
    for end_event in ("execution_success", "execution_error", "execution_interrupted"):
        end = events.get(end_event, {}).get("timestamp")
        if end is not None:
            detail["execution_end_time"] = end
            break
    if "execution_error" in events:
        detail["execution_error"] = events["execution_error"]
    detail["outputs_count"] = count_output_files(outputs)
    ui = _ui_from_extra(extra)
    if ui is not None and isinstance(ui.get("id"), str):
        detail["workflow_id"] = ui["id"]
    detail["outputs"] = outputs
    if status_obj:
        detail["execution_status"] = status_obj
    if isinstance(entry.get("meta"), dict):
        detail["execution_meta"] = entry["meta"]
    detail["workflow"] = {"prompt": prompt, "extra_data": extra}
    return detail


def job_from_history(doc: dict[str, Any], job_id: str | None = None) -> Job:
    """Build a Job from an OSS history document: `{id: entry}` or a bare entry (id from the prompt tuple)."""
    if not _is_history_entry(doc) and len(doc) == 1:
        (key, entry), = doc.items()
        job_id = job_id or str(key)
    else:
        entry = doc
    tuple_id = entry["prompt"][1] if len(entry["prompt"]) > 1 else None
    job_id = job_id or (str(tuple_id) if tuple_id is not None else None)
    if not job_id or not is_job_id(job_id):
        raise InputError("history entry has no job id (expected {\"<uuid>\": {...}} or a prompt tuple holding the id)")
    job = job_from_detail(history_to_detail(job_id.lower(), entry))
    job.kind = KIND_HISTORY
    return job


def job_from_document(doc: Any) -> Job:
    """Build a Job from any parsed JSON document except a recipe (see `replay.recipe.job_from_recipe`)."""
    kind = detect_kind(doc)
    if kind == KIND_JOB:
        return job_from_detail(doc)
    if kind == KIND_HISTORY:
        return job_from_history(doc)
    if kind == KIND_CONTAINER:
        prompt, extra, ui = split_workflow(doc)
        return Job(kind=KIND_CONTAINER, prompt=prompt, extra_data=extra, ui_workflow=ui)
    if kind == KIND_PROMPT:
        return Job(kind=KIND_PROMPT, prompt=doc)
    if kind == KIND_UI:
        return Job(kind=KIND_UI, ui_workflow=doc)
    raise InputError("a recipe must be read with replay.recipe.job_from_recipe")


def rebuild_workflow(job: Job) -> dict[str, Any] | None:
    """Return the job's `workflow` container `{prompt, extra_data}` with the UI graph put back, or None."""
    if job.prompt is None and job.extra_data is None:
        return None
    workflow: dict[str, Any] = {}
    if job.prompt is not None:
        workflow["prompt"] = job.prompt
    extra = copy.deepcopy(job.extra_data) if job.extra_data is not None else None
    if job.ui_workflow is not None:
        extra = extra if extra is not None else {}
        pnginfo = extra.setdefault("extra_pnginfo", {})
        pnginfo["workflow"] = job.ui_workflow
    if extra is not None:
        workflow["extra_data"] = extra
    return workflow


__all__ = [
    "JOB_STATUSES",
    "TERMINAL_STATUSES",
    "ExecutionError",
    "Job",
    "all_outputs_cached",
    "cached_nodes",
    "check_job_id",
    "detect_kind",
    "history_to_detail",
    "is_job_id",
    "job_from_detail",
    "job_from_document",
    "job_from_history",
    "rebuild_workflow",
    "split_workflow",
    "to_seconds",
]
