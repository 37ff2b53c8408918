"""Job shapes for the fake ComfyUI server: Cloud and OSS dialects, history entries, and small shared helpers."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from typing import Any

JsonDict = dict[str, Any]

STATUSES = ("pending", "in_progress", "completed", "failed", "cancelled")
TERMINAL = frozenset({"completed", "failed", "cancelled"})

# Classes treated as output nodes when /object_info does not say (it wins when loaded).
DEFAULT_OUTPUT_CLASSES = frozenset({
    "SaveImage", "PreviewImage", "SaveAnimatedWEBP", "SaveAnimatedPNG", "PreviewAny", "SaveText",
    "SaveVideo", "SaveWEBM", "SaveAudio", "PreviewAudio", "SaveLatent", "SaveGLB", "MaskPreview",
})
SECRET_EXTRA_KEYS = ("auth_token_comfy_org", "api_key_comfy_org")

# Keys only a job detail has; a list entry is a detail without them.
OSS_DETAIL_ONLY = ("workflow", "outputs", "execution_status")
CLOUD_DETAIL_ONLY = ("workflow", "outputs", "execution_status", "execution_meta", "update_time")
CLOUD_ERROR_KEYS = ("node_id", "node_type", "exception_message", "exception_type", "traceback",
                    "current_inputs", "current_outputs")
PREVIEWABLE_MEDIA = frozenset({"images", "video", "audio", "3d", "text"})

_MS_THRESHOLD = 1e11  # a Unix time above this is in milliseconds (1e11 s is the year 5138)


class _Any:
    """Matches any value in a fail rule."""

    def __repr__(self) -> str:
        return "ANY"


ANY: Any = _Any()


def now_ms() -> int:
    """Return the current Unix time in milliseconds."""
    return int(time.time() * 1000)


def to_ms(value: Any) -> Any:
    """Return a Unix time in milliseconds, whichever unit it was given in."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    return int(value) if value > _MS_THRESHOLD else int(value * 1000)


def to_seconds(value: Any) -> Any:
    """Return a Unix time in whole seconds, whichever unit it was given in."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    return int(value // 1000) if value > _MS_THRESHOLD else int(value)


def natural_key(node_id: str) -> list[Any]:
    """Sort key putting "2" before "10" before "10:3"."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", node_id) if part]


def is_link(value: Any) -> bool:
    """Return whether an input value is a link `[node_id, slot]`."""
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], int)


# ---------------------------------------------------------------- dialects


def _error_message_data(detail: Mapping[str, Any]) -> JsonDict | None:
    status = detail.get("execution_status") or {}
    for message in status.get("messages") or []:
        if isinstance(message, list) and len(message) >= 2 and message[0] == "execution_error":
            return dict(message[1])
    return None


def _oss_error(error: Mapping[str, Any], detail: Mapping[str, Any]) -> JsonDict:
    if isinstance(error.get("current_outputs"), list):
        return dict(error)
    from_message = _error_message_data(detail)
    if from_message is not None:
        return from_message
    current = error.get("current_outputs") or {}
    return {
        "prompt_id": detail.get("id"),
        "node_id": error.get("node_id"),
        "node_type": error.get("node_type"),
        "executed": list(error.get("executed", [])),
        "exception_message": error.get("exception_message"),
        "exception_type": error.get("exception_type"),
        "traceback": list(error.get("traceback", [])),
        "current_inputs": error.get("current_inputs", {}),
        "current_outputs": list(current) if isinstance(current, dict) else [],
        "timestamp": to_ms(detail.get("execution_end_time") or detail.get("create_time")),
    }


def _cloud_error(error: Mapping[str, Any]) -> JsonDict:
    current = error.get("current_outputs")
    if isinstance(current, dict):
        return dict(error)
    out = {key: error[key] for key in CLOUD_ERROR_KEYS if key in error}
    # The Cloud schema types current_outputs as an object; keep the node ids as its keys.
    out["current_outputs"] = {str(node_id): [] for node_id in current or []}
    return out


def to_oss(detail: Mapping[str, Any], *, number: int | None = None) -> JsonDict:
    """Return a job detail in the OSS dialect: ms times, `priority`, no `update_time`, no null values."""
    out: JsonDict = {}
    for key, value in detail.items():
        if value is None or key in ("update_time", "execution_meta"):
            continue
        if key in ("create_time", "execution_start_time", "execution_end_time"):
            value = to_ms(value)
        elif key == "execution_error" and isinstance(value, dict):
            value = _oss_error(value, detail)
        out[key] = value
        if key == "status" and "priority" not in detail and number is not None:
            out["priority"] = number
    return out


def to_cloud(detail: Mapping[str, Any]) -> JsonDict:
    """Return a job detail in the Cloud dialect: seconds for create/update, ms for execution times."""
    out: JsonDict = {}
    for key, value in detail.items():
        if value is None or key == "priority":
            continue
        if key in ("create_time", "update_time"):
            value = to_seconds(value)
        elif key in ("execution_start_time", "execution_end_time"):
            value = to_ms(value)
        elif key == "execution_error" and isinstance(value, dict):
            value = _cloud_error(value)
        out[key] = value
    if "update_time" not in out and "create_time" in out:
        out["update_time"] = to_seconds(out.get("execution_end_time") or out["create_time"])
    return out


def list_entry(detail: Mapping[str, Any], dialect: str) -> JsonDict:
    """Return the `/api/jobs` list entry of a detail already in `dialect`."""
    drop = CLOUD_DETAIL_ONLY if dialect == "cloud" else OSS_DETAIL_ONLY
    return {key: value for key, value in detail.items() if key not in drop}


def detect_dialect(detail: Mapping[str, Any]) -> str:
    """Return "cloud" or "oss" from a detail's create_time unit."""
    create = detail.get("create_time")
    return "oss" if isinstance(create, (int, float)) and create > _MS_THRESHOLD else "cloud"


# ---------------------------------------------------------------- history entries


def _outputs_summary(outputs: Mapping[str, Any]) -> tuple[int, int, JsonDict | None]:
    """Count outputs and pick the preview the way OSS `comfy_execution/jobs.py` does."""
    count = previewable = 0
    preview: JsonDict | None = None
    fallback: JsonDict | None = None
    text_fallback: JsonDict | None = None
    for node_id, node_outputs in outputs.items():
        if not isinstance(node_outputs, dict):
            continue
        for media, items in node_outputs.items():
            if media == "animated" or not isinstance(items, list):
                continue
            for item in items:
                if not isinstance(item, dict):
                    if media == "text" and text_fallback is None and item is not None:
                        text_fallback = {"content": str(item)[:1024], "nodeId": node_id, "mediaType": media}
                    continue
                count += 1
                if media not in PREVIEWABLE_MEDIA:
                    continue
                previewable += 1
                enriched = {**item, "nodeId": node_id, "mediaType": item.get("mediaType", media)}
                if preview is None and item.get("type") == "output":
                    preview = enriched
                elif fallback is None:
                    fallback = enriched
    return count, previewable, preview or fallback or text_fallback


def job_from_history(prompt_id: str, entry: Mapping[str, Any]) -> JsonDict:
    """Return the OSS job detail of a history entry (like `normalize_history_item(include_outputs=True)`)."""
    number, _, prompt, extra_data, _ = entry["prompt"][:5]
    status_info = entry.get("status") or {}
    start = end = error = None
    interrupted = False
    for message in status_info.get("messages") or []:
        if not (isinstance(message, list) and len(message) >= 2 and isinstance(message[1], dict)):
            continue
        name, data = message[0], message[1]
        if name == "execution_start":
            start = data.get("timestamp")
        elif name in ("execution_success", "execution_error", "execution_interrupted"):
            end = data.get("timestamp")
            error = data if name == "execution_error" else error
            interrupted = interrupted or name == "execution_interrupted"
    if status_info.get("status_str") == "error":
        status = "cancelled" if interrupted else "failed"
    else:
        status = "completed"
    outputs = entry.get("outputs") or {}
    count, previewable, preview = _outputs_summary(outputs)
    workflow = (extra_data.get("extra_pnginfo") or {}).get("workflow") or {}
    detail = {
        "id": prompt_id, "status": status, "priority": number, "create_time": extra_data.get("create_time"),
        "execution_start_time": start, "execution_end_time": end, "execution_error": error,
        "outputs_count": count, "previewable_outputs_count": previewable, "preview_output": preview,
        "workflow_id": workflow.get("id") if isinstance(workflow, dict) else None,
    }
    detail = {key: value for key, value in detail.items() if value is not None}
    detail["outputs"] = outputs
    detail["execution_status"] = status_info
    detail["workflow"] = {"prompt": prompt, "extra_data": extra_data}
    return detail


def queue_detail(item: list[Any], status: str) -> JsonDict:
    """Return the OSS detail of a queued or running job from its queue tuple (no workflow, as 0.33 does)."""
    number, prompt_id, _, extra_data, _ = item[:5]
    workflow = (extra_data.get("extra_pnginfo") or {}).get("workflow") or {}
    detail = {
        "id": prompt_id, "status": status, "priority": number, "create_time": extra_data.get("create_time"),
        "outputs_count": 0, "previewable_outputs_count": 0,
        "workflow_id": workflow.get("id") if isinstance(workflow, dict) else None,
    }
    return {key: value for key, value in detail.items() if value is not None}


def history_from_detail(detail: Mapping[str, Any], output_nodes: Callable[[Mapping[str, Any]], list[str]],
                        *, number: int = 0) -> JsonDict:
    """Return the OSS history entry of a terminal job detail in any dialect."""
    oss = to_oss(detail, number=number)
    workflow = oss.get("workflow") or {}
    prompt = workflow.get("prompt") or {}
    extra_data = workflow.get("extra_data") or {}
    outputs = oss.get("outputs") or {}
    status = oss.get("execution_status") or _derived_status(oss, prompt)
    meta = {node_id: {"node_id": node_id, "display_node": node_id, "parent_node": None, "real_node_id": node_id}
            for node_id in outputs}
    return {
        "prompt": [oss.get("priority", number), oss["id"], prompt, extra_data, output_nodes(prompt)],
        "outputs": outputs, "status": status, "meta": meta,
    }


def _derived_status(oss: Mapping[str, Any], prompt: Mapping[str, Any]) -> JsonDict:
    job_id = oss["id"]
    start = oss.get("execution_start_time") or oss.get("create_time") or 0
    end = oss.get("execution_end_time") or start
    messages: list[Any] = [
        ["execution_start", {"prompt_id": job_id, "timestamp": start}],
        ["execution_cached", {"nodes": [], "prompt_id": job_id, "timestamp": start}],
    ]
    if oss["status"] == "completed":
        messages.append(["execution_success", {"prompt_id": job_id, "timestamp": end}])
    elif oss["status"] == "failed":
        messages.append(["execution_error", oss.get("execution_error") or _unknown_error(job_id, end)])
    else:
        node_id = min(prompt, key=natural_key) if prompt else ""
        node_type = prompt[node_id].get("class_type", "") if prompt else ""
        messages.append(["execution_interrupted", {"prompt_id": job_id, "node_id": node_id, "node_type": node_type,
                                                   "executed": [], "timestamp": end}])
    success = oss["status"] == "completed"
    return {"status_str": "success" if success else "error", "completed": success, "messages": messages}


def _unknown_error(job_id: str, timestamp: int) -> JsonDict:
    return {"prompt_id": job_id, "node_id": "", "node_type": "", "executed": [], "exception_message": "",
            "exception_type": "", "traceback": [], "current_inputs": {}, "current_outputs": [],
            "timestamp": timestamp}


def history_v2_entry(entry: Mapping[str, Any], detail: bool) -> JsonDict:
    """Return a Cloud `/api/history_v2` entry (the deprecated object-shaped prompt) from an OSS entry."""
    number, prompt_id, prompt, extra_data, targets = entry["prompt"][:5]
    prompt_obj: JsonDict = {"priority": number, "prompt_id": prompt_id}
    if detail:
        prompt_obj.update(prompt=prompt, extra_data=extra_data, outputs_to_execute=targets)
        return {"prompt": prompt_obj, "outputs": entry.get("outputs", {}), "status": entry.get("status"),
                "meta": entry.get("meta", {})}
    pnginfo = {k: v for k, v in (extra_data.get("extra_pnginfo") or {}).items() if k != "workflow"}
    prompt_obj["extra_data"] = {**extra_data, "extra_pnginfo": pnginfo}
    workflow = (extra_data.get("extra_pnginfo") or {}).get("workflow") or {}
    return {"prompt_id": prompt_id, "create_time": extra_data.get("create_time"),
            "workflow_id": workflow.get("id") if isinstance(workflow, dict) else None,
            "prompt": prompt_obj, "outputs": entry.get("outputs", {}), "status": entry.get("status"),
            "meta": entry.get("meta", {})}
