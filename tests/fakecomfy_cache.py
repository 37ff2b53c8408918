"""Execution caching and job timing for the fake server, as open-source ComfyUI does them.

ComfyUI keeps every node's result keyed by the node's *input signature*: its class, its literal inputs and,
through links, the signatures of its ancestors. A later job whose node has the same signature does not run
that node again; the history lists it in `execution_cached` and an output node hands back the files it saved
the first time (same file names: nothing is written). Like ComfyUI's default cache, only the latest prompt's
nodes are kept: A, B, A recomputes A. `POST /api/free {"free_memory": true}` drops the cache, so the next job
recomputes everything. Comfy Cloud has no `/api/free`.

A ComfyUI server runs one job at a time: with `job_seconds` set, each job takes that long and a job submitted
while another runs starts when that one ends.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Mapping
from typing import Any

from fakecomfy_jobs import JsonDict, is_link
from fakecomfy_run import Outcome, execution_order


def input_signatures(prompt: Mapping[str, Any], nodes: list[str]) -> dict[str, str]:
    """Return each node's signature: a hash of its class, its literal inputs and its linked ancestors' signatures."""
    signatures: dict[str, str] = {}

    def signature(node_id: str) -> str:
        if node_id in signatures:
            return signatures[node_id]
        node = prompt[node_id]
        inputs = node.get("inputs") or {}
        parts: list[Any] = [node.get("class_type")]
        for name in sorted(inputs):
            value = inputs[name]
            if is_link(value) and value[0] in prompt:
                parts.append([name, "link", signature(value[0]), value[1]])
            else:
                parts.append([name, value])
        signatures[node_id] = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
        return signatures[node_id]

    for node_id in nodes:
        signature(node_id)
    return signatures


class ExecutionCache:
    """What a server has computed: output per input signature (an output node's UI outputs, or {})."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.frees = 0
        # Real ComfyUI applies /free when its worker next reads its flags: after the job it is busy with, or, when
        # it is still cleaning up after the last job, after the next job (which then comes from the cache).
        self.late_frees = 0  # how many of the next /free calls take effect only after the next job
        self._pending_free = False
        self._known: dict[str, JsonDict] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._known)

    def apply(self, prompt: Mapping[str, Any], outcome: Outcome) -> Outcome:
        """Take the nodes computed before from the cache: they are listed in `outcome.cached`, leave `executed`,
        and output nodes among them give their first outputs; remember what this run computed."""
        if not self.enabled:
            return outcome
        order = execution_order(prompt, list(outcome.outputs) + outcome.executed)
        signatures = input_signatures(prompt, order)
        with self._lock:
            cached = [node for node in outcome.executed if signatures.get(node) in self._known]
            for node in cached:
                first = self._known[signatures[node]]
                if node in outcome.outputs and first:
                    outcome.outputs[node] = json.loads(json.dumps(first))
            # ComfyUI's default ("classic") cache keeps only the nodes of the latest prompt: a job evicts what
            # the job before it computed unless it shares those nodes.
            kept = {signatures[node]: self._known[signatures[node]] for node in cached}
            for node in outcome.executed:
                if node not in cached and node in signatures:
                    kept[signatures[node]] = json.loads(json.dumps(outcome.outputs.get(node) or {}))
            self._known = kept
            if self._pending_free:
                self._pending_free = False
                self._known.clear()
        outcome.cached = cached
        outcome.executed = [node for node in outcome.executed if node not in cached]
        return outcome

    def clear(self) -> None:
        """Forget everything (`POST /api/free`), now or, while `late_frees` lasts, after the next job."""
        with self._lock:
            self.frees += 1
            if self.late_frees > 0:
                self.late_frees -= 1
                self._pending_free = True
            else:
                self._known.clear()


class JobClock:
    """Finish times of jobs that run one at a time, each taking `seconds`."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._free_at = 0.0
        self._lock = threading.Lock()

    def finish_time(self) -> float:
        """The monotonic time at which a job submitted now ends (after every job submitted before it)."""
        with self._lock:
            start = max(time.monotonic(), self._free_at)
            self._free_at = start + self.seconds
            return self._free_at


def free_body_ok(body: bytes) -> bool:
    """Whether a `POST /free` body is what ComfyUI accepts: a JSON object (flags `unload_models`, `free_memory`)."""
    try:
        data = json.loads(body or b"{}")
    except ValueError:
        return False
    return isinstance(data, dict)
