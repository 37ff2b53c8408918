"""Where a job ran: the recipe's `environment` section, captured from `/system_stats`, `/object_info` and the UI graph.

An environment is a plain dict stored as the recipe's `environment` section (SPEC §9):

    captured: fetch | run          (at fetch time the job may have run on another setup; at run time it did not)
    captured_at: 2026-12-03T14:05:09Z
    server: http://127.0.0.1:8188
    system: {comfyui_version, python_version, pytorch_version, os, embedded_python, deploy_environment, ...}
    packages: {comfyui-frontend-package: 1.49.6, ...}       (comfy_package_versions, installed versions)
    devices: [{name, type, vram_total}]
    node_packs: [{pack, source: core|api|custom|other|missing, cnr_id?, ver?, aux_id?, classes: [...]}]
    models: [{folder?, name, inputs: ["4.ckpt_name"], hash?}]

Only an allow-list of `/system_stats` keys is kept: never `argv` (the server's command line can hold keys and
paths), never free memory or anything else that changes by the second, so two captures of one setup are equal.
Comparing sections (diffs, drift before a POST) is `replay.environment_diff`; renderings `replay.environment_render`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime, timezone
from typing import Any

from replay.workflow import is_link, natural_key

CAPTURED_FETCH = "fetch"
CAPTURED_RUN = "run"

# The /system_stats keys worth recording (OSS and Cloud spellings); everything else is left out on purpose.
SYSTEM_KEYS = (
    "comfyui_version", "cloud_version", "comfyui_frontend_version", "workflow_templates_version",
    "python_version", "pytorch_version", "os", "embedded_python", "deploy_environment",
)  # fmt: skip
SYSTEM_LABELS = {
    "comfyui_version": "ComfyUI", "cloud_version": "Comfy Cloud", "comfyui_frontend_version": "frontend",
    "workflow_templates_version": "workflow templates", "python_version": "Python", "pytorch_version": "PyTorch",
    "os": "OS", "embedded_python": "embedded Python", "deploy_environment": "deploy environment",
}  # fmt: skip

CORE_PACK = "comfy-core"
API_PACK = "comfy_api_nodes"
SOURCE_ORDER = {"core": 0, "api": 1, "custom": 2, "other": 3, "missing": 4}

# Model folders by input name (ComfyUI's `folder_paths` names), then by (class, input) where a name is ambiguous.
MODEL_INPUTS: Mapping[str, str] = {
    "ckpt_name": "checkpoints", "lora_name": "loras", "vae_name": "vae", "unet_name": "diffusion_models",
    "clip_name": "text_encoders", "clip_name1": "text_encoders", "clip_name2": "text_encoders",
    "clip_name3": "text_encoders", "clip_name4": "text_encoders", "text_encoder": "text_encoders",
    "control_net_name": "controlnet", "style_model_name": "style_models", "gligen_name": "gligen",
    "hypernetwork_name": "hypernetworks", "photomaker_model_name": "photomaker",
    "audio_encoder_name": "audio_encoders", "model_path": "diffusers",
}  # fmt: skip
MODEL_CLASS_INPUTS: Mapping[tuple[str, str], str] = {
    ("CLIPVisionLoader", "clip_name"): "clip_vision", ("UpscaleModelLoader", "model_name"): "upscale_models",
    ("LatentUpscaleModelLoader", "model_name"): "latent_upscale_models",
    ("FrameInterpolationModelLoader", "model_name"): "frame_interpolation",
    ("OpticalFlowLoader", "model_name"): "optical_flow", ("ModelPatchLoader", "name"): "model_patches",
    ("LoadMediaPipeFaceLandmarker", "model_name"): "detection",
    ("LoadBackgroundRemovalModel", "bg_removal_name"): "background_removal",
}  # fmt: skip
_MODEL_FILE = re.compile(r"\.(safetensors|sft|ckpt|pt|pt2|pth|bin|gguf|onnx|pkl|engine)$", re.IGNORECASE)
_ANY_FILE = re.compile(r"\.[A-Za-z0-9]{2,12}$")


# ---------------------------------------------------------------------------------------------- capture


def _utc(seconds: float) -> str:
    return datetime.fromtimestamp(int(seconds), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def system_section(stats: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, str], list[dict[str, Any]]]:
    """The kept parts of a `/system_stats` body: (system, packages, devices); never argv, free memory or paths."""
    raw = stats.get("system")
    system_raw: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
    system = {k: system_raw[k] for k in SYSTEM_KEYS if isinstance(system_raw.get(k), (str, bool, int, float))}
    packages: dict[str, str] = {}
    listed = system_raw.get("comfy_package_versions")
    for item in listed if isinstance(listed, list) else []:
        if isinstance(item, Mapping) and isinstance(item.get("name"), str) and item.get("installed") is not None:
            packages[item["name"]] = str(item["installed"])
    devices: list[dict[str, Any]] = []
    found = stats.get("devices")
    for device in found if isinstance(found, list) else []:
        if isinstance(device, Mapping):
            kept = {k: device[k] for k in ("name", "type", "vram_total") if k in device and device[k] is not None}
            if kept:
                devices.append(kept)
    return system, dict(sorted(packages.items())), devices


def pack_of(module: Any) -> tuple[str, str]:
    """(source, pack) of a node class from its `python_module`: core, an API-node module or `custom_nodes.<pack>`."""
    if not isinstance(module, str) or not module:
        return "other", "unknown"
    # A module is a dotted name; a path (an odd install) is cut to its last part so no path is ever recorded.
    parts = re.split(r"[\\/]", module)[-1].split(".")
    if parts[0] == "custom_nodes" and len(parts) > 1:
        return "custom", parts[1]
    if parts[0] == "comfy_api_nodes":
        return "api", API_PACK
    if parts[0] in ("nodes", "comfy_extras", "comfy", "comfy_api", "comfy_execution"):
        return "core", CORE_PACK
    return "other", parts[0]


def ui_nodes(ui_workflow: Mapping[str, Any] | None) -> Iterator[Mapping[str, Any]]:
    """Every node of a UI graph, subgraph definitions included."""
    if not isinstance(ui_workflow, Mapping):
        return
    graphs: list[Any] = [ui_workflow]
    definitions = ui_workflow.get("definitions")
    if isinstance(definitions, Mapping) and isinstance(definitions.get("subgraphs"), list):
        graphs += definitions["subgraphs"]
    for graph in graphs:
        nodes = graph.get("nodes") if isinstance(graph, Mapping) else None
        for node in nodes if isinstance(nodes, list) else []:
            if isinstance(node, Mapping):
                yield node


def _registry_facts(ui_workflow: Mapping[str, Any] | None) -> dict[str, dict[str, list[str]]]:
    """class type -> {"cnr_id": [...], "ver": [...], "aux_id": [...]} from the UI graph's node properties."""
    facts: dict[str, dict[str, list[str]]] = {}
    for node in ui_nodes(ui_workflow):
        props = node.get("properties")
        kind = node.get("type")
        if not isinstance(props, Mapping) or not isinstance(kind, str):
            continue
        for key in ("cnr_id", "ver", "aux_id"):
            value = props.get(key)
            if isinstance(value, (str, int, float)) and not isinstance(value, bool) and str(value):
                facts.setdefault(kind, {}).setdefault(key, []).append(str(value))
    return facts


def _most_common(values: list[str]) -> str:
    # Nodes saved at different times can carry different versions; the one most nodes carry wins, ties by sort.
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return sorted(counts, key=lambda v: (-counts[v], v))[0]


def classes_of(prompt: Mapping[str, Any] | None) -> list[str]:
    """The class types of a prompt, sorted and without repeats."""
    found = {str(node.get("class_type")) for node in (prompt or {}).values()
             if isinstance(node, Mapping) and isinstance(node.get("class_type"), str)}
    return sorted(found)


def node_packs(
    prompt: Mapping[str, Any] | None, object_info: Mapping[str, Any] | None, ui_workflow: Mapping[str, Any] | None
) -> list[dict[str, Any]]:
    """One entry per node pack the prompt's classes come from, with cnr_id/ver/aux_id from the UI graph."""
    info = object_info or {}
    facts = _registry_facts(ui_workflow)
    packs: dict[tuple[str, str], dict[str, Any]] = {}
    for cls in classes_of(prompt):
        definition = info.get(cls)
        known = facts.get(cls, {})
        if isinstance(definition, Mapping):
            source, pack = pack_of(definition.get("python_module"))
        else:
            source = "missing"
            pack = _most_common(known["cnr_id"]) if known.get("cnr_id") else "unknown"
        entry = packs.setdefault((source, pack), {"pack": pack, "source": source, "classes": [], "_facts": {}})
        entry["classes"].append(cls)
        for key, values in known.items():
            entry["_facts"].setdefault(key, []).extend(values)
    result = []
    for (source, pack), entry in sorted(packs.items(), key=lambda kv: (SOURCE_ORDER.get(kv[0][0], 9), kv[0][1])):
        out: dict[str, Any] = {"pack": pack, "source": source}
        for key in ("cnr_id", "ver", "aux_id"):
            if entry["_facts"].get(key):
                out[key] = _most_common(entry["_facts"][key])
        out["classes"] = entry["classes"]
        result.append(out)
    return result


def _input_choices(definition: Any, name: str) -> list[Any] | None:
    """The option list of a combo input in a raw /object_info class definition, or None when it is no combo."""
    if not isinstance(definition, Mapping) or not isinstance(definition.get("input"), Mapping):
        return None
    for section in ("required", "optional"):
        group = definition["input"].get(section)
        spec = group.get(name) if isinstance(group, Mapping) else None
        if isinstance(spec, list) and spec:
            if isinstance(spec[0], list):
                return spec[0]
            if spec[0] == "COMBO" and len(spec) > 1 and isinstance(spec[1], Mapping):
                options = spec[1].get("options")
                return options if isinstance(options, list) else []
    return None


def model_folder(class_type: str, name: str) -> str | None:
    """The model folder an input of a class reads from, when ComfyUI's own loaders say so; else None."""
    return MODEL_CLASS_INPUTS.get((class_type, name)) or MODEL_INPUTS.get(name)


def model_inputs(
    prompt: Mapping[str, Any] | None, object_info: Mapping[str, Any] | None
) -> Iterator[tuple[str, str, str, str, str | None, list[Any] | None]]:
    """(node id, class, input, value, folder, option list) for each prompt input that names a model file.

    A model input is a combo (or an input of a class the server lacks) whose value looks like a file and that
    is a known loader input or whose value has a model file's extension (`.safetensors`, `.ckpt`, `.gguf`, ...).
    """
    info = object_info or {}
    for node_id in sorted(prompt or {}, key=natural_key):
        node = (prompt or {})[node_id]
        if not isinstance(node, Mapping) or not isinstance(node.get("inputs"), Mapping):
            continue
        cls = str(node.get("class_type"))
        definition = info.get(cls)
        for name, raw in node["inputs"].items():
            asset = asset_reference(raw)
            value = asset[0] if asset else raw
            if not isinstance(value, str) or is_link(value) or not value:
                continue
            choices = _input_choices(definition, name)
            if definition is not None and choices is None:
                continue  # the server says it is no list: a free text or number input
            folder = model_folder(cls, name)
            if _MODEL_FILE.search(value) or (folder and _ANY_FILE.search(value)):
                yield str(node_id), cls, name, value, folder, choices


def asset_reference(value: Any) -> tuple[str, str | None] | None:
    """(file name, hash) of an asset reference input (`{"__type": "core/ASSET", "info": {"file_path", "hash"}}`),
    the one place a server reports a model's content hash; None for any other value."""
    if not isinstance(value, Mapping) or value.get("__type") != "core/ASSET" or not isinstance(value.get("info"), Mapping):
        return None
    info = value["info"]
    name = info.get("file_path") or info.get("name")
    if not isinstance(name, str) or not name:
        return None
    digest = info.get("hash")
    return name, digest if isinstance(digest, str) and digest else None


def _ui_model_folders(ui_workflow: Mapping[str, Any] | None) -> dict[str, str]:
    """file name -> folder, from the `models` list the frontend keeps in node properties."""
    folders: dict[str, str] = {}
    for node in ui_nodes(ui_workflow):
        props = node.get("properties")
        listed = props.get("models") if isinstance(props, Mapping) else None
        for item in listed if isinstance(listed, list) else []:
            if isinstance(item, Mapping) and isinstance(item.get("name"), str) and isinstance(item.get("directory"), str):
                folders.setdefault(item["name"], item["directory"])
    return folders


def models(
    prompt: Mapping[str, Any] | None,
    object_info: Mapping[str, Any] | None,
    ui_workflow: Mapping[str, Any] | None,
    hashes: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """The model files a prompt names: folder, file name, the inputs naming it, and a hash only when given.

    A hash comes from an asset reference input (the server's `hash`) or from `hashes` (file name -> a hash a
    server reported, such as Comfy Cloud's `asset_hash`); no hash is ever guessed or computed.
    """
    ui_folders = _ui_model_folders(ui_workflow)
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for node_id, _cls, name, value, folder, _choices in model_inputs(prompt, object_info):
        where = folder or ui_folders.get(value) or ui_folders.get(value.replace("\\", "/").rsplit("/", 1)[-1]) or ""
        entry = found.setdefault((where, value), {"folder": where, "name": value, "inputs": [], "hash": None})
        entry["inputs"].append(f"{node_id}.{name}")
        asset = asset_reference(((prompt or {})[node_id].get("inputs") or {}).get(name))
        if asset and asset[1]:
            entry["hash"] = asset[1]
    result = []
    for (folder, value), entry in sorted(found.items()):
        out: dict[str, Any] = {"folder": folder} if folder else {}
        out["name"] = value
        out["inputs"] = entry["inputs"]
        digest = entry["hash"] or (hashes or {}).get(value)
        if digest:
            out["hash"] = digest
        result.append(out)
    return result


def capture_environment(
    *,
    stats: Mapping[str, Any] | None,
    object_info: Mapping[str, Any] | None,
    prompt: Mapping[str, Any] | None,
    ui_workflow: Mapping[str, Any] | None = None,
    server: str | None = None,
    captured: str = CAPTURED_FETCH,
    clock: Callable[[], float] = time.time,
    hashes: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Build an environment section from a server's `/system_stats` and `/object_info` and a job's graphs.

    `captured` is "run" when the server is the one the job is being submitted to, "fetch" when the job was
    fetched (it may have run elsewhere). A part whose source is None (the GET failed) is left out.
    """
    env: dict[str, Any] = {"captured": captured, "captured_at": _utc(clock())}
    if server:
        from replay.client import server_origin  # noqa: PLC0415 - keeps `requests` out of offline paths

        env["server"] = server_origin(server)
    if stats is not None:
        system, packages, devices = system_section(stats)
        env["system"] = system
        if packages:
            env["packages"] = packages
        if devices:
            env["devices"] = devices
    if object_info is not None and prompt:
        env["node_packs"] = node_packs(prompt, object_info, ui_workflow)
    if prompt:
        found = models(prompt, object_info, ui_workflow, hashes)
        if found:
            env["models"] = found
    return env


def capture_from_client(
    client: Any,
    prompt: Mapping[str, Any] | None,
    ui_workflow: Mapping[str, Any] | None,
    *,
    captured: str,
    clock: Callable[[], float] = time.time,
) -> tuple[dict[str, Any] | None, list[str]]:
    """Capture with a client's (cached) `/system_stats` and `/object_info`; return (environment, notes).

    A GET that fails leaves its part out with a note; when both fail there is no environment (None).
    `clock` gives `captured_at` (a bisect stamps every capture with the time its runs began).
    """
    from replay.errors import ReplayError  # noqa: PLC0415

    notes: list[str] = []
    stats: Mapping[str, Any] | None = None
    info: Mapping[str, Any] | None = None
    try:
        stats = client.system_stats()
    except ReplayError as exc:
        notes.append(f"environment: no /system_stats ({exc})")
    try:
        info = client.object_info()
    except ReplayError as exc:
        notes.append(f"environment: no /object_info ({exc})")
    if stats is None and info is None:
        return None, notes
    env = capture_environment(stats=stats, object_info=info, prompt=prompt, ui_workflow=ui_workflow,
                              server=client.server, captured=captured, clock=clock)
    return env, notes


def first_capture_stands(existing: Mapping[str, Any] | None, new: dict[str, Any] | None) -> dict[str, Any] | None:
    """The environment to write when a recipe is written again: the one already on disk stands.

    Fetching a job again must leave its recipe byte for byte as it was, so a later capture (new `captured_at`)
    never replaces an earlier one; only a capture at run time replaces one made at fetch time.
    """
    if not isinstance(existing, Mapping):
        return new
    if new is not None and new.get("captured") == CAPTURED_RUN and existing.get("captured") != CAPTURED_RUN:
        return new
    return dict(existing)


def keep_first_capture(path: Any, recipe: dict[str, Any]) -> dict[str, Any]:
    """Give `recipe` the environment of the recipe of the same job already at `path` (the first capture stands).

    Returns `recipe` (changed in place). Nothing changes when there is no such file, it is another job's recipe,
    or it has no environment.
    """
    from pathlib import Path  # noqa: PLC0415

    from replay import canonical  # noqa: PLC0415
    from replay.errors import DocumentError  # noqa: PLC0415

    target = Path(path)
    try:
        data = canonical.loads(target.read_bytes(), file=str(target))
    except (OSError, DocumentError):
        return recipe
    if not isinstance(data, dict) or not isinstance(data.get("environment"), dict):
        return recipe
    old_source, new_source = data.get("source"), recipe.get("source")
    old_id = old_source.get("job_id") if isinstance(old_source, dict) else None
    new_id = new_source.get("job_id") if isinstance(new_source, dict) else None
    if old_id != new_id:
        return recipe
    kept = first_capture_stands(data["environment"], recipe.get("environment"))
    if kept is not None:
        recipe["environment"] = kept
    return recipe


def ensure_environment(job: Any, client: Any) -> list[str]:
    """Capture a fetch-time environment for a job just fetched from `client`'s server; return notes.

    A job read from a file (a recipe names its server in `source` too) is left as it is: the server in use now
    says nothing about where that job ran.
    """
    if job.environment is not None or job.kind == "recipe" or job.source.get("server") != client.server:
        return []
    env, notes = capture_from_client(client, job.prompt, job.ui_workflow, captured=CAPTURED_FETCH)
    job.environment = env
    return notes


# ---------------------------------------------------------------------------------------------- helpers


def python_version(value: Any) -> Any:
    """The version of a `python_version` string without its build stamp."""
    # "3.11.7 (main, May  9 2026, 07:35:25) [GCC 12.2.0]": the build stamp is noise, the version is not.
    return value.split()[0] if isinstance(value, str) and value.strip() else value


def mapping_of(env: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    """`env[key]` when it is a mapping, else an empty one."""
    value = env.get(key)
    return value if isinstance(value, Mapping) else {}


def list_of(env: Mapping[str, Any], key: str) -> list[Any]:
    """The mappings in the list `env[key]` (empty when it is no list)."""
    value = env.get(key)
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def device_label(device: Mapping[str, Any]) -> str:
    """`cpu cpu`, `cuda cuda:0 NVIDIA ...`: a device's type and name."""
    kind, name = device.get("type"), device.get("name")
    if kind is not None and name is not None and str(name) != str(kind):
        return f"{kind} {name}"
    return str(name if name is not None else kind if kind is not None else "device")


def shown_value(value: Any) -> str:
    """A value of an environment change as short text: mappings and lists joined, None as `-`."""
    if isinstance(value, Mapping):
        return ", ".join(f"{k} {v}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) or "-"
    return "-" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def model_key(model: Mapping[str, Any]) -> str:
    """`folder/name` of a model entry (just the name when the folder is unknown)."""
    return "/".join(str(p) for p in (model.get("folder"), model.get("name")) if p)


__all__ = [
    "CAPTURED_FETCH",
    "CAPTURED_RUN",
    "SYSTEM_KEYS",
    "SYSTEM_LABELS",
    "asset_reference",
    "capture_environment",
    "capture_from_client",
    "classes_of",
    "device_label",
    "ensure_environment",
    "first_capture_stands",
    "keep_first_capture",
    "list_of",
    "mapping_of",
    "model_inputs",
    "model_key",
    "models",
    "node_packs",
    "pack_of",
    "python_version",
    "shown_value",
    "system_section",
    "ui_nodes",
]
