"""Comparing environments: what changed between two recipes' sections, and drift of a server from a recipe.

`diff_environments` feeds `diff` (every format); `environment_drift` feeds the preflight of every command that
submits (`replay.preflight`). Both read the sections `replay.environment` writes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from replay.environment import (
    CAPTURED_RUN,
    SYSTEM_KEYS,
    SYSTEM_LABELS,
    classes_of,
    device_label,
    list_of,
    mapping_of,
    model_inputs,
    model_key,
    pack_of,
    python_version,
    shown_value,
    system_section,
)


def version_key(text: str) -> tuple[tuple[int, Any], ...]:
    """A sort key for version strings: numbers compare as numbers (`0.10.0` > `0.9.1`), the rest as text."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"[.+\-_ ]", text) if p)


def direction(a: Any, b: Any) -> str | None:
    """"up" or "down" when two values are both version-like strings, else None."""
    if not (isinstance(a, str) and isinstance(b, str) and re.match(r"^v?\d", a) and re.match(r"^v?\d", b)):
        return None
    ka, kb = version_key(a.lstrip("v")), version_key(b.lstrip("v"))
    if ka == kb:
        return None
    try:
        return "up" if kb > ka else "down"
    except TypeError:
        return None


@dataclass(frozen=True)
class EnvChange:
    """One difference between two environments. `kind`: system, package, device, pack, model; `a`/`b` None when
    that side lacks it; `what` says how (up, down, added, removed, changed)."""

    kind: str
    name: str
    a: Any
    b: Any
    what: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "change": self.what, "a": self.a, "b": self.b}

    def __str__(self) -> str:
        label = {"package": "package ", "device": "device ", "pack": "node pack ", "model": "model "}.get(self.kind, "")
        if self.what == "added":
            return f"{label}{self.name}: added ({shown_value(self.b)})"
        if self.what == "removed":
            return f"{label}{self.name}: removed (was {shown_value(self.a)})"
        tail = f" ({self.what})" if self.what in ("up", "down") else ""
        return f"{label}{self.name}: {shown_value(self.a)} -> {shown_value(self.b)}{tail}"


def _change(kind: str, name: str, a: Any, b: Any) -> EnvChange | None:
    if a == b:
        return None
    if a is None:
        return EnvChange(kind, name, a, b, "added")
    if b is None:
        return EnvChange(kind, name, a, b, "removed")
    return EnvChange(kind, name, a, b, direction(a, b) or "changed")


def _pack_facts(pack: Mapping[str, Any]) -> dict[str, Any]:
    facts = {k: pack[k] for k in ("source", "cnr_id", "aux_id", "ver") if pack.get(k) is not None}
    return facts


def diff_environments(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> list[EnvChange]:
    """What differs between two environments: versions (up or down), packages, devices, node packs, models.

    Empty when either side has no environment (an older recipe): nothing can be said about it.
    """
    if not isinstance(a, Mapping) or not isinstance(b, Mapping):
        return []
    changes: list[EnvChange | None] = []
    sys_a, sys_b = mapping_of(a, "system"), mapping_of(b, "system")
    for key in SYSTEM_KEYS if sys_a and sys_b else ():
        va, vb = sys_a.get(key), sys_b.get(key)
        if key == "python_version":
            va, vb = python_version(va), python_version(vb)
        changes.append(_change("system", SYSTEM_LABELS[key], va, vb))
    pk_a, pk_b = mapping_of(a, "packages"), mapping_of(b, "packages")
    for name in sorted(set(pk_a) | set(pk_b)):
        changes.append(_change("package", name, pk_a.get(name), pk_b.get(name)))
    if "devices" in a and "devices" in b:
        dev_a = [device_label(d) for d in list_of(a, "devices")]
        dev_b = [device_label(d) for d in list_of(b, "devices")]
        if dev_a != dev_b:
            changes.append(EnvChange("device", "devices", dev_a, dev_b, "changed"))
    if "node_packs" in a and "node_packs" in b:
        packs_a = {str(p.get("pack")): p for p in list_of(a, "node_packs")}
        packs_b = {str(p.get("pack")): p for p in list_of(b, "node_packs")}
        for name in sorted(set(packs_a) | set(packs_b)):
            pa, pb = packs_a.get(name), packs_b.get(name)
            if pa is None or pb is None:
                changes.append(_change("pack", name, _pack_facts(pa) if pa else None, _pack_facts(pb) if pb else None))
            elif pa.get("ver") != pb.get("ver") and pa.get("ver") and pb.get("ver"):
                changes.append(_change("pack", name, pa.get("ver"), pb.get("ver")))
            elif _pack_facts(pa) != _pack_facts(pb):
                changes.append(EnvChange("pack", name, _pack_facts(pa), _pack_facts(pb), "changed"))
    models_a = {model_key(m): m for m in list_of(a, "models")}
    models_b = {model_key(m): m for m in list_of(b, "models")}
    for key in sorted(set(models_a) | set(models_b)):
        ma, mb = models_a.get(key), models_b.get(key)
        if ma is None or mb is None:
            changes.append(_change("model", key, _model_facts(ma), _model_facts(mb)))
        elif ma.get("hash") and mb.get("hash") and ma["hash"] != mb["hash"]:
            changes.append(EnvChange("model", key, ma["hash"], mb["hash"], "changed"))
    return [c for c in changes if c is not None]


def _model_facts(model: Mapping[str, Any] | None) -> Any:
    if model is None:
        return None
    return ", ".join(str(i) for i in model.get("inputs") or []) or "used"


# ---------------------------------------------------------------------------------------------- drift


@dataclass(frozen=True)
class Drift:
    """One way the target server differs from where a recipe's job ran; a warning unless --strict-env.

    `kind`: version (ComfyUI, PyTorch, Python, a package), device, pack (a class now from another pack),
    missing-class, missing-model, unverified (the server could not say its versions; made by the preflight).
    """

    kind: str
    subject: str
    recorded: Any
    server: Any
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "subject": self.subject, "recorded": self.recorded, "server": self.server,
                "message": self.message}

    def __str__(self) -> str:
        return self.message


def environment_drift(
    recorded: Mapping[str, Any] | None,
    *,
    stats: Mapping[str, Any] | None,
    object_info: Mapping[str, Any] | None,
    prompt: Mapping[str, Any],
) -> list[Drift]:
    """Compare a recipe's environment (None for an older recipe) and a prompt with a server's two GETs.

    Versions, packages and devices are compared only when the recipe recorded them; classes the server lacks,
    classes that now come from another pack and model files missing from the server's option lists are
    found from the prompt itself.
    """
    drift: list[Drift] = []
    # A capture at fetch time says what the server had when the job was fetched, not necessarily where it ran.
    ran = "the job ran with" if isinstance(recorded, Mapping) and recorded.get("captured") == CAPTURED_RUN \
        else "the recipe recorded"
    if isinstance(recorded, Mapping) and stats is not None:
        system, packages, devices = system_section(stats)
        rec_sys = mapping_of(recorded, "system")
        for key in ("comfyui_version", "cloud_version", "pytorch_version", "python_version"):
            was, now = rec_sys.get(key), system.get(key)
            if key == "python_version":
                was, now = python_version(was), python_version(now)
            if was is not None and now is not None and was != now:
                how = direction(was, now)
                tail = f" ({'newer' if how == 'up' else 'older'} on the server)" if how else ""
                drift.append(Drift("version", SYSTEM_LABELS[key], was, now,
                                   f"{SYSTEM_LABELS[key]} {now} on the server, {ran} {was}{tail}"))
        rec_pk = mapping_of(recorded, "packages")
        for name in sorted(set(rec_pk) & set(packages)):
            if str(rec_pk[name]) != packages[name]:
                drift.append(Drift("version", name, rec_pk[name], packages[name],
                                   f"package {name} {packages[name]} on the server, {ran} {rec_pk[name]}"))
        if "devices" in recorded and devices:
            was_dev = [device_label(d) for d in list_of(recorded, "devices")]
            now_dev = [device_label(d) for d in devices]
            if was_dev != now_dev:
                drift.append(Drift("device", "devices", was_dev, now_dev,
                                   f"devices {', '.join(now_dev)} on the server, {ran} {', '.join(was_dev) or '-'}"))
    if object_info is None:
        return drift
    rec_packs: dict[str, tuple[str, str]] = {}
    if isinstance(recorded, Mapping):
        for pack in list_of(recorded, "node_packs"):
            for cls in pack.get("classes") or []:
                if pack.get("source") != "missing":
                    rec_packs[str(cls)] = (str(pack.get("source")), str(pack.get("pack")))
    for cls in classes_of(prompt):
        definition = object_info.get(cls)
        if not isinstance(definition, Mapping):
            drift.append(Drift("missing-class", cls, rec_packs.get(cls, (None, None))[1], None,
                               f"node class {cls} is not on the server"
                               + (f" (it came from {rec_packs[cls][1]})" if cls in rec_packs else "")))
            continue
        now_pack = pack_of(definition.get("python_module"))
        if cls in rec_packs and rec_packs[cls] != now_pack:
            drift.append(Drift("pack", cls, rec_packs[cls][1], now_pack[1],
                               f"node class {cls} comes from {now_pack[1]} on the server, from {rec_packs[cls][1]} in the recipe"))
    for node_id, _cls, name, value, folder, choices in model_inputs(prompt, object_info):
        if choices is not None and value not in choices:
            where = f"{folder}/" if folder else ""
            drift.append(Drift("missing-model", f"{where}{value}", value, None,
                               f"model {where}{value} (node {node_id} {name}) is not in the server's list"))
    return drift


__all__ = ["Drift", "EnvChange", "diff_environments", "direction", "environment_drift", "version_key"]
