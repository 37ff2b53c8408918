"""Renderings of environments: the one-line summary for `show`, textconv lines, and diff sections."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from replay.environment import (
    SYSTEM_LABELS,
    device_label,
    list_of,
    mapping_of,
    model_key,
    python_version,
    shown_value,
)
from replay.environment_diff import EnvChange


def summary_line(env: Mapping[str, Any] | None) -> str | None:
    """One line for `show`: versions, devices, packs and models, and when and how it was captured."""
    if not isinstance(env, Mapping):
        return None
    system = mapping_of(env, "system")
    parts = []
    for key, label in (("comfyui_version", "ComfyUI"), ("cloud_version", "Cloud"), ("pytorch_version", "PyTorch"),
                       ("python_version", "Python")):
        if system.get(key) is not None:
            parts.append(f"{label} {python_version(system[key])}")
    if system.get("os"):
        parts.append(str(system["os"]))
    devices = list_of(env, "devices")
    if devices:
        parts.append(", ".join(device_label(d) for d in devices))
    packs = list_of(env, "node_packs")
    if "node_packs" in env:
        custom = [str(p.get("pack")) for p in packs if p.get("source") not in ("core", "api")]
        parts.append(f"{len(packs)} node pack{'s' if len(packs) != 1 else ''}"
                     + (f" ({', '.join(custom)})" if custom else ""))
    count = len(list_of(env, "models"))
    parts.append(f"{count} model{'s' if count != 1 else ''}")
    when = f"captured at {env.get('captured', '?')} time {env.get('captured_at', '?')}"
    return "; ".join(parts) + f"; {when}"


def render_lines(env: Mapping[str, Any] | None) -> list[str]:
    """The environment as `key: value` lines for textconv, so `git diff` of recipes shows version changes."""
    if not isinstance(env, Mapping):
        return []
    lines = [f"environment captured: {env.get('captured')} {env.get('captured_at')}"]
    if env.get("server"):
        lines.append(f"environment server: {env['server']}")
    for key, value in mapping_of(env, "system").items():
        lines.append(f"environment {SYSTEM_LABELS.get(key, key)}: {shown_value(value)}")
    for name, version in mapping_of(env, "packages").items():
        lines.append(f"environment package {name}: {version}")
    for device in list_of(env, "devices"):
        total = device.get("vram_total")
        lines.append(f"environment device: {device_label(device)}" + (f" ({total} bytes)" if total else ""))
    for pack in list_of(env, "node_packs"):
        facts = " ".join(f"{k}={pack[k]}" for k in ("cnr_id", "ver", "aux_id") if pack.get(k))
        lines.append(f"environment pack {pack.get('pack')} ({pack.get('source')}){' ' + facts if facts else ''}: "
                     + ", ".join(str(c) for c in pack.get("classes") or []))
    for model in list_of(env, "models"):
        lines.append(f"environment model {model_key(model)}: " + ", ".join(str(i) for i in model.get("inputs") or [])
                     + (f" hash {model['hash']}" if model.get("hash") else ""))
    return lines


def render_changes_text(changes: Sequence[EnvChange]) -> list[str]:
    """Lines for the text diff (an `environment:` heading and one line per change), empty when none."""
    return ["environment:", *(f"  {change}" for change in changes)] if changes else []


def render_changes_markdown(changes: Sequence[EnvChange]) -> list[str]:
    """A Markdown table of environment changes, empty when none."""
    if not changes:
        return []
    rows = ["### Environment", "", "| what | name | a | b | change |", "| --- | --- | --- | --- | --- |"]
    for c in changes:
        cells = [c.kind, c.name, shown_value(c.a), shown_value(c.b), c.what]
        # pack and model names come from the server and the prompt: their markup is shown, never rendered
        rows.append("| " + " | ".join(html.escape(x, quote=False).replace("|", "\\|").replace("\n", " ")
                                      for x in cells) + " |")
    return rows



__all__ = ["render_changes_markdown", "render_changes_text", "render_lines", "summary_line"]
