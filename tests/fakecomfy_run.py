"""Simulated ComfyUI execution for the fake server: prompt validation, runs that succeed, fail or get cancelled."""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import random
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fakecomfy_jobs import (
    ANY,
    DEFAULT_OUTPUT_CLASSES,
    STATUSES,
    TERMINAL,
    JsonDict,
    is_link,
    job_from_history,
    natural_key,
    now_ms,
    queue_detail,
)

# ---------------------------------------------------------------- validation (execution.py::validate_prompt)


def is_output_class(class_type: str, object_info: Mapping[str, Any] | None, output_classes: Iterable[str]) -> bool:
    """Return whether a class is an output node: /object_info's `output_node` when known, else the class list."""
    if object_info is not None and isinstance(object_info.get(class_type), dict):
        return bool(object_info[class_type].get("output_node"))
    return class_type in output_classes


def _prompt_error(kind: str, message: str, details: str = "", extra: JsonDict | None = None) -> JsonDict:
    return {"type": kind, "message": message, "details": details, "extra_info": extra or {}}


class _Validator:
    """Walks a prompt from its outputs the way OSS `validate_inputs` does."""

    def __init__(self, prompt: Mapping[str, Any], object_info: Mapping[str, Any] | None) -> None:
        self.prompt = prompt
        self.object_info = object_info
        self.validated: dict[str, tuple[bool, list[JsonDict]]] = {}

    def node(self, node_id: str, visiting: list[str]) -> tuple[bool, list[JsonDict]]:
        if node_id in self.validated:
            return self.validated[node_id]
        if node_id in visiting:
            cycle = visiting[visiting.index(node_id):] + [node_id]
            path = " -> ".join(f"{n} ({self.prompt[n]['class_type']})" for n in cycle)
            for member in dict.fromkeys(cycle):
                self.validated[member] = (False, [_prompt_error(
                    "dependency_cycle", "Dependency cycle detected", path,
                    {"node_id": member, "cycle_nodes": list(dict.fromkeys(cycle))})])
            return self.validated[node_id]
        node = self.prompt[node_id]
        inputs = node.get("inputs") or {}
        spec = (self.object_info or {}).get(node["class_type"])
        declared: JsonDict = {}
        errors: list[JsonDict] = []
        valid = True
        if isinstance(spec, dict):
            required = (spec.get("input") or {}).get("required") or {}
            declared = {**((spec.get("input") or {}).get("optional") or {}), **required}
            for name in required:
                if name not in inputs and not any(key.startswith(name + ".") for key in inputs):
                    errors.append(_prompt_error("required_input_missing", "Required input is missing", name,
                                                {"input_name": name}))
        for name, value in inputs.items():
            if is_link(value):
                source = value[0]
                if source not in self.prompt:
                    raise KeyError(source)  # escapes to the consumer, as in ComfyUI
                visiting.append(node_id)
                try:
                    ok, _ = self.node(source, visiting)
                except Exception as exc:  # recorded, as the server does
                    self.validated[source] = (False, [_prompt_error(
                        "exception_during_inner_validation", "Exception when validating inner node", str(exc),
                        {"input_name": name, "input_config": declared.get(name), "exception_message": str(exc),
                         "exception_type": type(exc).__name__, "traceback": [], "linked_node": value})])
                    ok = False
                finally:
                    visiting.pop()
                valid = valid and ok
            elif name in declared:
                problem = _literal_problem(name, value, declared[name])
                if problem is not None:
                    errors.append(problem)
        self.validated[node_id] = (valid and not errors, errors)
        return self.validated[node_id]


def _literal_problem(name: str, value: Any, config: Any) -> JsonDict | None:
    if not isinstance(config, list) or not config:
        return None
    kind = config[0]
    options = config[1] if len(config) > 1 and isinstance(config[1], dict) else {}
    info = {"input_name": name, "input_config": config, "received_value": value}
    if kind in ("INT", "FLOAT") and isinstance(value, (int, float)) and not isinstance(value, bool):
        if "min" in options and value < options["min"]:
            return _prompt_error("value_smaller_than_min", f"Value {value} smaller than min of {options['min']}",
                                 name, info)
        if "max" in options and value > options["max"]:
            return _prompt_error("value_bigger_than_max", f"Value {value} bigger than max of {options['max']}",
                                 name, info)
    choices = kind if isinstance(kind, list) else options.get("options") if kind == "COMBO" else None
    if isinstance(choices, list) and value not in choices:
        listed = str(choices) if len(choices) <= 20 else f"(list of length {len(choices)})"
        return _prompt_error("value_not_in_list", "Value not in list", f"{name}: {value!r} not in {listed}",
                             {**info, "input_config": config if len(choices) <= 20 else None})
    return None


@dataclass
class Validation:
    """The outcome of validating a submitted prompt."""

    ok: bool
    error: JsonDict | None = None
    outputs: list[str] = field(default_factory=list)
    node_errors: JsonDict = field(default_factory=dict)


def validate_prompt(prompt: Any, targets: Any, object_info: Mapping[str, Any] | None,
                    output_classes: Iterable[str]) -> Validation:
    """Validate a prompt like OSS `execution.validate_prompt`; node types are checked only with object_info."""
    if not isinstance(prompt, dict) or not all(isinstance(node, dict) for node in prompt.values()):
        return Validation(False, _prompt_error("invalid_prompt", "Cannot execute because the prompt is malformed",
                                               "prompt must map node ids to node objects"))
    outputs: list[str] = []
    for node_id, node in prompt.items():
        class_type = node.get("class_type")
        title = (node.get("_meta") or {}).get("title")
        if class_type is None:
            return Validation(False, _prompt_error(
                "missing_node_type", f"Node '{title or f'ID #{node_id}'}' has no class_type. The workflow may be "
                "corrupted or a custom node is missing.", f"Node ID '#{node_id}'",
                {"node_id": node_id, "class_type": None, "node_title": title}))
        if object_info is not None and class_type not in object_info:
            return Validation(False, _prompt_error(
                "missing_node_type", f"Node '{title or class_type}' not found. The custom node may not be installed.",
                f"Node ID '#{node_id}'", {"node_id": node_id, "class_type": class_type,
                                          "node_title": title or class_type}))
        if is_output_class(class_type, object_info, output_classes) and (targets is None or node_id in targets):
            outputs.append(node_id)
    if not outputs:
        return Validation(False, _prompt_error("prompt_no_outputs", "Prompt has no outputs"))
    validator = _Validator(prompt, object_info)
    good: list[str] = []
    failures: list[tuple[str, list[JsonDict]]] = []
    node_errors: JsonDict = {}
    for output in outputs:
        try:
            ok, reasons = validator.node(output, [])
        except Exception as exc:  # recorded, as the server does
            ok, reasons = False, [_prompt_error("exception_during_validation", "Exception when validating node",
                                                str(exc), {"exception_type": type(exc).__name__, "traceback": []})]
            validator.validated[output] = (False, reasons)
        if ok:
            good.append(output)
            continue
        failures.append((output, reasons))
        for node_id, (node_ok, node_reasons) in validator.validated.items():
            if not node_ok and node_reasons:
                entry = node_errors.setdefault(node_id, {"errors": node_reasons, "dependent_outputs": [],
                                                         "class_type": prompt[node_id]["class_type"]})
                entry["dependent_outputs"].append(output)
    if not good:
        details = "\n".join(f"{r['message']}: {r['details']}" for _, reasons in failures for r in reasons)
        return Validation(False, _prompt_error("prompt_outputs_failed_validation", "Prompt outputs failed validation",
                                               details), [], node_errors)
    return Validation(True, None, good, node_errors)


# ---------------------------------------------------------------- simulated runs


@dataclass
class FailRule:
    """Makes the first node that matches fail with the given exception."""

    class_type: str | None = None
    node_id: str | None = None
    input_name: str | None = None
    equals: Any = ANY
    exception_type: str = "ZeroDivisionError"
    message: str = "division by zero"

    def matches(self, node_id: str, node: Mapping[str, Any]) -> bool:
        """Return whether this rule fires on a node."""
        if self.class_type is not None and node.get("class_type") != self.class_type:
            return False
        if self.node_id is not None and node_id != str(self.node_id):
            return False
        inputs = node.get("inputs") or {}
        if self.input_name is not None:
            return self.input_name in inputs and (self.equals is ANY or inputs[self.input_name] == self.equals)
        if self.equals is ANY:
            return True
        return any(not is_link(value) and value == self.equals for value in inputs.values())

    def fires(self, prompt: Mapping[str, Any], node_id: str) -> bool:
        """Return whether this rule fires on a node of `prompt` (rules over the whole prompt override this)."""
        return self.matches(node_id, prompt[node_id])


@dataclass
class Outcome:
    """How a simulated run ends: its status, the executed nodes, its outputs and, when it stopped, where."""

    status: str
    executed: list[str]
    outputs: JsonDict
    stop_node: str | None = None
    rule: FailRule | None = None
    cached: list[str] = field(default_factory=list)  # nodes taken from the server's cache (fakecomfy_cache)


def execution_order(prompt: Mapping[str, Any], outputs: Iterable[str]) -> list[str]:
    """Return the ancestors of `outputs` (and the outputs) in a topological order, depth first per output."""
    order: list[str] = []
    seen: set[str] = set()

    def visit(node_id: str, stack: frozenset[str]) -> None:
        if node_id in seen or node_id in stack or node_id not in prompt:
            return
        for value in (prompt[node_id].get("inputs") or {}).values():
            if is_link(value):
                visit(value[0], stack | {node_id})
        seen.add(node_id)
        order.append(node_id)

    for output in sorted(outputs, key=natural_key):
        visit(output, frozenset())
    return order


class FileNamer:
    """Hands out output file names with a counter per prefix, like ComfyUI's save nodes."""

    def __init__(self) -> None:
        self.counters: dict[tuple[str, str], int] = {}

    def saved(self, prefix: Any, extension: str) -> JsonDict:
        """Return the next `{filename, subfolder, type: output}` item for a filename prefix."""
        text = prefix if isinstance(prefix, str) and prefix else "ComfyUI"
        subfolder, _, base = text.rpartition("/")
        number = self.counters.get((subfolder, base), 0) + 1
        self.counters[(subfolder, base)] = number
        return {"filename": f"{base}_{number:05d}_.{extension}", "subfolder": subfolder, "type": "output"}


def _node_output(prompt_id: str, node_id: str, node: Mapping[str, Any], namer: FileNamer) -> JsonDict:
    class_type = str(node.get("class_type", ""))
    inputs = node.get("inputs") or {}
    if class_type in ("PreviewAny", "SaveText"):
        source = next((v for v in inputs.values() if not is_link(v)), None)
        return {"text": [str(source)]}
    extension = "webp" if "WEBP" in class_type else "png"
    if class_type.startswith("Preview") or class_type == "MaskPreview":
        digest = hashlib.sha1(f"{prompt_id}/{node_id}".encode()).digest()
        letters = "".join(chr(ord("a") + b % 26) for b in digest[:5])
        return {"images": [{"filename": f"ComfyUI_temp_{letters}_00001_.{extension}", "subfolder": "",
                            "type": "temp"}]}
    return {"images": [namer.saved(inputs.get("filename_prefix"), extension)]}


def run_prompt(prompt_id: str, prompt: Mapping[str, Any], outputs: Iterable[str], rules: Iterable[FailRule],
               namer: FileNamer, *, cancel: bool = False) -> Outcome:
    """Simulate a run: walk the graph in order; stop at the first node a rule matches, or midway when cancelled."""
    targets = set(outputs)
    order = execution_order(prompt, targets)
    rules = list(rules)
    cancel_at = order[len(order) // 2] if cancel and order else None
    executed: list[str] = []
    produced: JsonDict = {}
    for node_id in order:
        node = prompt[node_id]
        if node_id == cancel_at:
            return Outcome("cancelled", executed, produced, node_id)
        rule = next((r for r in rules if r.fires(prompt, node_id)), None)
        if rule is not None:
            return Outcome("failed", executed, produced, node_id, rule)
        executed.append(node_id)
        if node_id in targets:
            produced[node_id] = _node_output(prompt_id, node_id, node, namer)
    return Outcome("completed", executed, produced)


def _traceback(node_type: str, rule: FailRule) -> list[str]:
    module = "comfy_extras/nodes_custom.py" if node_type[:1].isupper() else "nodes.py"
    return [
        '  File "/opt/comfy/ComfyUI/execution.py", line 545, in execute\n    output_data, output_ui, has_subgraph, '
        "has_pending_tasks = await get_output_data(prompt_id, unique_id, obj, input_data_all)\n",
        '  File "/opt/comfy/ComfyUI/execution.py", line 344, in get_output_data\n    return_values = await '
        "_async_map_node_over_list(prompt_id, unique_id, obj, input_data_all, obj.FUNCTION)\n",
        '  File "/opt/comfy/ComfyUI/execution.py", line 318, in _async_map_node_over_list\n'
        "    await process_inputs(input_dict, i)\n",
        '  File "/opt/comfy/ComfyUI/execution.py", line 306, in process_inputs\n    result = f(**inputs)\n'
        "             ^^^^^^^^^^^\n",
        f'  File "/opt/comfy/ComfyUI/{module}", line 98, in execute\n'
        f"    raise {rule.exception_type.rsplit('.', 1)[-1]}({rule.message!r})\n",
    ]


def _current_inputs(prompt: Mapping[str, Any], inputs: Mapping[str, Any]) -> JsonDict:
    """Return `{name: [value]}` for literal inputs and for links from a node holding a literal `value`."""
    shown: JsonDict = {}
    for name, value in inputs.items():
        if is_link(value):
            source = (prompt.get(value[0]) or {}).get("inputs") or {}
            if "value" in source and not is_link(source["value"]):
                shown[name] = [source["value"]]
        else:
            shown[name] = [value]
    return shown


def history_entry(item: list[Any], outcome: Outcome, start: int, end: int) -> JsonDict:
    """Return the OSS history entry a finished simulated run leaves, with ms timestamps."""
    number, prompt_id, prompt, extra_data, targets = item[:5]
    messages: list[Any] = [
        ["execution_start", {"prompt_id": prompt_id, "timestamp": start}],
        ["execution_cached", {"nodes": list(outcome.cached), "prompt_id": prompt_id, "timestamp": start}],
    ]
    node_id = outcome.stop_node or ""
    node_type = prompt[node_id]["class_type"] if node_id in prompt else ""
    if outcome.status == "completed":
        messages.append(["execution_success", {"prompt_id": prompt_id, "timestamp": end}])
    elif outcome.status == "cancelled":
        messages.append(["execution_interrupted", {"prompt_id": prompt_id, "node_id": node_id,
                                                   "node_type": node_type, "executed": list(outcome.executed),
                                                   "timestamp": end}])
    else:
        assert outcome.rule is not None
        inputs = prompt[node_id].get("inputs") or {}
        messages.append(["execution_error", {
            "prompt_id": prompt_id, "node_id": node_id, "node_type": node_type, "executed": list(outcome.executed),
            "exception_message": outcome.rule.message + "\n", "exception_type": outcome.rule.exception_type,
            "traceback": _traceback(node_type, outcome.rule),
            "current_inputs": _current_inputs(prompt, inputs),
            "current_outputs": list(outcome.executed), "timestamp": end,
        }])
    success = outcome.status == "completed"
    meta = {n: {"node_id": n, "display_node": n, "parent_node": None, "real_node_id": n} for n in outcome.outputs}
    return {"prompt": [number, prompt_id, prompt, extra_data, list(targets)], "outputs": outcome.outputs,
            "status": {"status_str": "success" if success else "error", "completed": success, "messages": messages},
            "meta": meta}


# ---------------------------------------------------------------- generated jobs


def sample_prompt(blurs: int = 1, color: int = 16711680) -> JsonDict:
    """Return an API prompt EmptyImage -> ImageBlur x `blurs` -> ImageInvert -> SaveImage, plus a PreviewImage."""
    prompt: JsonDict = {"1": {"class_type": "EmptyImage", "inputs": {"width": 256, "height": 192, "batch_size": 1,
                                                                      "color": color},
                              "_meta": {"title": "EmptyImage"}}}
    previous = "1"
    for index in range(blurs):
        node_id = str(10 + index)
        prompt[node_id] = {"class_type": "ImageBlur", "inputs": {"image": [previous, 0], "blur_radius": 4,
                                                                 "sigma": 1.5}, "_meta": {"title": "Image Blur"}}
        previous = node_id
    prompt["2"] = {"class_type": "ImageInvert", "inputs": {"image": [previous, 0]}, "_meta": {"title": "Invert Image"}}
    prompt["3"] = {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "ComfyUI"},
                   "_meta": {"title": "Save Image"}}
    prompt["4"] = {"class_type": "PreviewImage", "inputs": {"images": ["1", 0]}, "_meta": {"title": "Preview Image"}}
    return prompt


def ui_graph_for(prompt: Mapping[str, Any], workflow_id: str) -> JsonDict:
    """Return a plausible UI graph (format 0.4) with one UI node per prompt node and one link per link input."""
    numbers = {node_id: int(node_id) if node_id.isdigit() else 1000 + i for i, node_id in enumerate(prompt)}
    nodes: list[JsonDict] = []
    links: list[list[Any]] = []
    by_id: dict[str, JsonDict] = {}
    for order, (node_id, node) in enumerate(prompt.items()):
        ui_node: JsonDict = {
            "id": numbers[node_id], "type": node["class_type"], "pos": [100 + 320 * order, 100], "size": [270, 200],
            "flags": {}, "order": order, "mode": 0, "inputs": [], "outputs": [],
            "properties": {"cnr_id": "comfy-core", "ver": "0.33.0", "Node name for S&R": node["class_type"]},
            "widgets_values": [v for v in (node.get("inputs") or {}).values() if not is_link(v)],
        }
        by_id[node_id] = ui_node
        nodes.append(ui_node)
    for node_id, node in prompt.items():
        for name, value in (node.get("inputs") or {}).items():
            if not is_link(value) or value[0] not in by_id:
                continue
            link_id = len(links) + 1
            target = by_id[node_id]
            links.append([link_id, numbers[value[0]], value[1], numbers[node_id], len(target["inputs"]), "*"])
            target["inputs"].append({"name": name, "type": "*", "link": link_id})
            outputs = by_id[value[0]]["outputs"]
            while len(outputs) <= value[1]:
                outputs.append({"name": "OUTPUT", "type": "*", "links": []})
            outputs[value[1]]["links"].append(link_id)
    return {"id": workflow_id, "revision": 0, "last_node_id": max(numbers.values(), default=0),
            "last_link_id": len(links), "nodes": nodes, "links": links, "groups": [], "config": {},
            "extra": {"ds": {"scale": 1, "offset": [0, 0]}, "frontendVersion": "1.49.6"}, "version": 0.4}


def _uuid(rng: random.Random | None) -> str:
    return str(uuid.uuid4() if rng is None else uuid.UUID(int=rng.getrandbits(128), version=4))


@functools.cache
def _blurs_for(size_kb: float) -> int:
    """Return how many ImageBlur nodes make a completed job detail about `size_kb` KiB (measured, not guessed)."""
    small, large = (len(json.dumps(make_job(prompt=sample_prompt(k), seed=0))) for k in (1, 11))
    per_blur = (large - small) / 10
    return max(1, round((size_kb * 1024 - small) / per_blur) + 1)


def _sized_prompt(size_kb: float, color: int) -> JsonDict:
    """Return a sample prompt whose completed job detail (prompt plus UI graph) is about `size_kb` KiB."""
    return sample_prompt(_blurs_for(size_kb) if size_kb > 0 else 1, color)


def make_job(status: str = "completed", *, prompt: Mapping[str, Any] | None = None, job_id: str | None = None,
             number: int = 0, create_time: int | None = None, workflow_id: str | None = None, ui: bool = True,
             fail_node: str | None = None, exception_type: str = "ZeroDivisionError",
             message: str = "division by zero", size_kb: float = 0, seed: int | None = None) -> JsonDict:
    """Return a realistic OSS (0.33) job detail in `status`; terminal jobs are simulated runs of `prompt`."""
    if status not in STATUSES:
        raise ValueError(f"unknown status {status!r}; expected one of {', '.join(STATUSES)}")
    rng = random.Random(seed) if seed is not None else None
    job_id = job_id or _uuid(rng)
    workflow_id = workflow_id or _uuid(rng)
    created = create_time if create_time is not None else now_ms()
    the_prompt = copy.deepcopy(dict(prompt)) if prompt is not None else _sized_prompt(size_kb, (seed or 0) % 16777216)
    extra_data: JsonDict = {"comfy_usage_source": "comfyui-frontend"}
    if ui:
        extra_data["extra_pnginfo"] = {"workflow": ui_graph_for(the_prompt, workflow_id)}
    extra_data.update(client_id=_uuid(rng), create_time=created)
    targets = [n for n, node in the_prompt.items() if node.get("class_type") in DEFAULT_OUTPUT_CLASSES]
    item = [number, job_id, the_prompt, extra_data, targets]
    if status not in TERMINAL:
        return queue_detail(item, status)
    rules: list[FailRule] = []
    if status == "failed":
        order = execution_order(the_prompt, targets)
        default = next((n for n in reversed(order) if n not in targets), order[-1] if order else None)
        rules = [FailRule(node_id=fail_node or default, exception_type=exception_type, message=message)]
    outcome = run_prompt(job_id, the_prompt, targets, rules, FileNamer(), cancel=status == "cancelled")
    start = created + 1
    end = start + 7 + 3 * len(outcome.executed)
    return job_from_history(job_id, history_entry(item, outcome, start, end))


# Statuses of every 20 bulk jobs (shuffled): 70% completed, 15% failed, 5% each of the rest.
_BULK_MIX = ["completed"] * 14 + ["failed"] * 3 + ["cancelled", "pending", "in_progress"]


def bulk_jobs(n: int, size_kb: float = 20, *, seed: int = 0, start_ms: int = 1795860000000,
              workflows: int = 5) -> list[JsonDict]:
    """Return `n` deterministic jobs (oldest first, every status once n >= 20, `workflows` workflow ids)."""
    rng = random.Random(seed)
    workflow_ids = [_uuid(rng) for _ in range(max(1, workflows))]
    statuses = list(_BULK_MIX)
    rng.shuffle(statuses)
    base = _sized_prompt(size_kb, 0)
    jobs: list[JsonDict] = []
    created = start_ms
    for number in range(n):
        created += rng.randint(1000, 60000)
        prompt = copy.deepcopy(base)
        prompt["1"]["inputs"]["color"] = rng.randint(0, 16777215)
        jobs.append(make_job(statuses[number % len(statuses)], prompt=prompt, job_id=_uuid(rng), number=number,
                             create_time=created, workflow_id=rng.choice(workflow_ids), seed=rng.getrandbits(32)))
    return jobs
