"""Rebuilding a failed job: a resubmittable prompt (full or minimal), its recipe, and the verdict of a rerun.

`build_repro` turns a failed `Job` into a `ReproPlan`: the prompt to submit, the output nodes to target, what
was kept and dropped, the overrides and pinned inputs, and where the error's reported inputs disagree with
the prompt. `repro_recipe` writes the plan down as a recipe with a `repro` section; `verdict` judges a
rerun against the original failure (SPEC §5).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from replay.errors import InputError, JobStateError
from replay.fetching import DEFAULT_DIR, is_file_target
from replay.jobs import ExecutionError, Job, cached_nodes
from replay.recipe import REDACTED, build_recipe, dumps_recipe, is_secret_name, write_recipe
from replay.workflow import Graph, Override, apply_sets, is_link, natural_key, node_inputs, prune

if TYPE_CHECKING:
    from replay.client import Client
    from replay.nodedefs import NodeDefs
    from replay.submit import ProgressCallback

Mode = Literal["full", "minimal"]
Verdict = Literal["reproduced", "different-failure", "not-reproduced"]
VERDICTS: tuple[Verdict, ...] = ("reproduced", "different-failure", "not-reproduced")
_SCALARS = (str, int, float, bool, type(None))


@dataclass(frozen=True)
class InputMismatch:
    """A literal input of the failing node whose value in the prompt differs from what the error reported."""

    node_id: str
    input_name: str
    prompt_value: Any
    reported_value: Any

    def as_dict(self) -> dict[str, Any]:
        """The mismatch as plain data, secret values hidden."""
        return _secret_safe(
            {"node": self.node_id, "input": self.input_name, "prompt": self.prompt_value, "reported": self.reported_value}
        )


@dataclass
class ReproPlan:
    """What `repro` will submit, and why: built by `build_repro` from a failed job."""

    job_id: str | None
    error: ExecutionError
    mode: Mode
    prompt: dict[str, Any]
    targets: list[str]
    kept: list[str]
    dropped: list[str]
    overrides: list[Override] = field(default_factory=list)
    pinned: list[InputMismatch] = field(default_factory=list)
    mismatches: list[InputMismatch] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    ui_workflow: dict[str, Any] | None = None

    def section(self) -> dict[str, Any]:
        """The recipe's `repro` section: source job, error, mode, kept/dropped nodes, targets, changes."""
        error = self.error
        section: dict[str, Any] = {
            "job_id": self.job_id,
            "error": error_fields(error),
            "mode": self.mode,
            "kept_nodes": list(self.kept),
            "dropped_nodes": list(self.dropped),
            "targets": list(self.targets),
            "overrides": [
                _secret_safe({"node": o.node_id, "input": o.input_name, "value": o.value}) for o in self.overrides
            ],
            "pinned_inputs": [m.as_dict() for m in self.pinned],
            "input_mismatches": [m.as_dict() for m in self.mismatches],
        }
        if self.notes:
            section["notes"] = list(self.notes)
        return section


def _secret_safe(entry: dict[str, Any]) -> dict[str, Any]:
    """Hide the values of an entry about an input whose name looks secret (`api_key`, `token`, ...)."""
    if not is_secret_name(str(entry.get("input", ""))):
        return entry
    return {key: (REDACTED if key in ("value", "prompt", "reported") else value) for key, value in entry.items()}


def error_fields(error: ExecutionError | None) -> dict[str, str] | None:
    """The facts of an error worth recording: node id, node class, exception type, first message line."""
    if error is None:
        return None
    return {
        "node_id": error.node_id,
        "node_type": error.node_type,
        "exception_type": error.exception_type,
        "message": error.first_line,
    }


def check_failed(job: Job) -> ExecutionError:
    """Return the job's error, or raise JobStateError when the job is not a failure `repro` can rebuild."""
    name = f"job {job.id}" if job.id else "this document"
    if job.status is None:
        raise JobStateError(
            f"{name} has no status: it is a {job.kind} file, not a job record; repro needs a failed job "
            "(a job id, a job JSON, a history entry or a recipe of a job)",
            status=None,
        )
    if job.status != "failed":
        why = " (a cancelled job did not fail: there is no error to reproduce)" if job.status == "cancelled" else ""
        raise JobStateError(f"{name} is {job.status}, not failed{why}; repro rebuilds failed jobs", status=job.status)
    if job.error is None or not job.error.node_id:
        raise JobStateError(
            f"{name} failed, but its record has no execution_error naming the failing node; nothing to rebuild from",
            status=job.status,
        )
    if not job.prompt:
        raise InputError(f"{name} has no API prompt in its record (workflow.prompt); nothing to resubmit")
    return job.error


def output_classes(defs: NodeDefs | None) -> set[str] | None:
    """The class names the definitions mark `output_node`, or None when there are no definitions."""
    if defs is None:
        return None
    return {name for name, definition in defs.items() if definition.output_node}


def _unwrap(reported: Any) -> tuple[bool, Any]:
    """The single value behind a reported input (OSS wraps each in a list); (False, None) when not one scalar."""
    if isinstance(reported, list):
        if len(reported) != 1:
            return False, None
        reported = reported[0]
    return isinstance(reported, _SCALARS), reported


def _same_value(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    return type(a) is type(b) and a == b


def input_mismatches(prompt: Mapping[str, Any], error: ExecutionError) -> list[InputMismatch]:
    """Compare the failing node's literal inputs with the values the error reports (`current_inputs`).

    Linked inputs, inputs the prompt does not set (hidden inputs such as `prompt` or `unique_id`),
    batched values and non-scalar values are not compared.
    """
    inputs = node_inputs(prompt.get(error.node_id))
    found = []
    for name in sorted(error.current_inputs):
        if name not in inputs:
            continue
        literal = inputs[name]
        if is_link(literal) or not isinstance(literal, _SCALARS):
            continue
        comparable, reported = _unwrap(error.current_inputs[name])
        if comparable and not _same_value(literal, reported):
            found.append(InputMismatch(error.node_id, name, literal, reported))
    return found


def defined_inputs(defs: NodeDefs | None) -> Callable[[str], Collection[str]] | None:
    """A `class type -> input names` function over node definitions (for `apply_sets`); None without them."""
    if defs is None:
        return None

    def names(class_type: str) -> Collection[str]:
        definition = defs.get(class_type)
        found: list[str] = []
        stack = list(definition.inputs) if definition is not None else []
        while stack:
            spec = stack.pop()
            found.append(spec.name)
            for children in spec.variants.values():
                stack.extend(children)
        return found

    return names


def build_repro(
    job: Job,
    *,
    minimal: bool = False,
    sets: Iterable[Override] = (),
    pin_inputs: bool = False,
    defs: NodeDefs | None = None,
) -> ReproPlan:
    """Build the plan to rerun a failed job: its prompt with fixes, full or cut down to reach the failure.

    Full mode keeps the prompt as it ran. Minimal mode keeps the failing node, its ancestors, and the
    shortest path from it to an output node with that path's ancestors, and targets that output node;
    when no output node can be reached it says so in `notes` and falls back to full mode. `pin_inputs`
    writes the scalar values the error reported into the prompt where they differ; `sets` are applied
    after that and win. Output nodes come from `defs` (`output_node`) when given, else from the graph.

    Raises JobStateError for a job that did not fail, InputError for a bad override.
    """
    error = check_failed(job)
    assert job.prompt is not None
    notes: list[str] = []
    mismatches = input_mismatches(job.prompt, error)
    pins = mismatches if pin_inputs else []
    pin_sets = [Override(m.node_id, m.input_name, m.reported_value) for m in pins]
    overrides = list(sets)
    prompt = apply_sets(job.prompt, [*pin_sets, *overrides], defined_inputs=defined_inputs(defs))
    graph = Graph(prompt)

    mode: Mode = "full"
    targets: list[str] = []
    kept = graph.nodes
    if error.node_id not in graph:
        notes.append(f"the failing node {error.node_id} is not in the prompt; the whole prompt is kept")
    elif minimal:
        classes = output_classes(defs)
        outputs = graph.output_nodes(classes, known_classes=set(defs) if defs is not None else ())
        path = graph.path_to_output(error.node_id, outputs)
        if path is None:
            notes.append(
                f"node {error.node_id} ({error.node_type}) has no path to an output node; fell back to full mode"
            )
        else:
            mode = "minimal"
            needed = {error.node_id, *path}
            keep = needed | graph.ancestors(needed)
            kept = [n for n in graph.nodes if n in keep]
            targets = [path[-1]]
            prompt = prune(prompt, keep)
    kept_set = set(kept)
    dropped = [n for n in sorted(job.prompt, key=natural_key) if n not in kept_set]
    for override in overrides:
        if override.node_id in dropped:
            notes.append(f"--set {override.node_id}.{override.input_name} has no effect: node {override.node_id} was dropped")
    ui = job.ui_workflow
    if mode == "minimal" and ui is not None:
        ui = None
        notes.append("the UI graph is left out: it shows nodes the minimal prompt does not have")
    return ReproPlan(
        job_id=job.id,
        error=error,
        mode=mode,
        prompt=prompt,
        targets=targets,
        kept=kept,
        dropped=dropped,
        overrides=overrides,
        pinned=list(pins),
        mismatches=mismatches,
        notes=notes,
        ui_workflow=ui,
    )


def repro_recipe(plan: ReproPlan, job: Job, *, server: str | None = None, api_key: str | None = None) -> dict[str, Any]:
    """The recipe of a plan: its prompt, the job's extra_data and (full mode) UI graph, and the `repro` section.

    It holds no `job` record: it is derived from the failed job (`source.derived_from`), not a copy of it.
    """
    derived = Job(
        kind=job.kind,
        id=job.id,
        prompt=plan.prompt,
        extra_data=job.extra_data,
        ui_workflow=plan.ui_workflow,
        source={**{k: v for k, v in job.source.items() if k != "server"}, "derived_from": "repro"},
        repro=plan.section(),
    )
    return build_recipe(derived, server=server or job.source.get("server"), api_key=api_key)


def targets_of(job: Job) -> list[str]:
    """The `partial_execution_targets` a recipe's `repro` section asks for (empty when none)."""
    section = job.repro if isinstance(job.repro, dict) else {}
    targets = section.get("targets")
    return [str(t) for t in targets] if isinstance(targets, list) else []


def _same_exception(a: str, b: str) -> bool:
    """Exception types match when equal, or when one is unqualified and the class names agree."""
    if a == b:
        return True
    if "." in a and "." in b:
        return False
    return a.rsplit(".", 1)[-1] == b.rsplit(".", 1)[-1]


def verdict(original: ExecutionError, new_job: Job) -> Verdict:
    """Judge a rerun (SPEC §5): `reproduced` when it failed at the same node or node class with the same
    exception type, `different-failure` when it failed or was cancelled otherwise, `not-reproduced` when it
    completed. Raises JobStateError when the new job has not finished.
    """
    if new_job.status == "completed":
        return "not-reproduced"
    if new_job.status == "cancelled":
        return "different-failure"
    if new_job.status != "failed":
        raise JobStateError(f"job {new_job.id} is {new_job.status}; a verdict needs a finished job", status=new_job.status)
    new = new_job.error
    if new is None:
        return "different-failure"
    same_place = new.node_id == original.node_id or (bool(new.node_type) and new.node_type == original.node_type)
    if same_place and _same_exception(new.exception_type, original.exception_type):
        return "reproduced"
    return "different-failure"


def describe_error(error: ExecutionError | None) -> str:
    """One line about a failure: `node 5 (ComfyMathExpression): ZeroDivisionError: division by zero`."""
    if error is None:
        return "no error details"
    return f"node {error.node_id} ({error.node_type or '?'}): {error.exception_type}: {error.first_line}"


@dataclass
class ReproRun:
    """One `repro` run: the plan, where its recipe went, and (after `rerun`) the new job and the verdict."""

    plan: ReproPlan
    recipe_path: str
    state: str
    """"written", "unchanged", or "printed" when the recipe went to standard output (`recipe_text`)."""
    recipe_text: str = ""
    job_id: str | None = None
    new_job: Job | None = None
    verdict: Verdict | None = None

    def to_json(self) -> dict[str, Any]:
        """The `--json` result of `repro` (SPEC §4), with a few more keys."""
        plan = self.plan
        new_error = self.new_job.error if self.new_job is not None else None
        return {
            "recipe": self.recipe_path,
            "failed_node": plan.error.node_id,
            "node_type": plan.error.node_type,
            "exception_type": plan.error.exception_type,
            "message": plan.error.first_line,
            "mode": plan.mode,
            "kept_nodes": list(plan.kept),
            "dropped_nodes": list(plan.dropped),
            "targets": list(plan.targets),
            "input_mismatches": [m.as_dict() for m in plan.mismatches],
            "notes": list(plan.notes),
            "job_id": self.job_id,
            "status": self.new_job.status if self.new_job is not None else None,
            "verdict": self.verdict,
            "new_error": error_fields(new_error),
            "cached_nodes": cached_nodes(self.new_job) if self.new_job is not None else None,
        }


def write_repro(
    job: Job,
    *,
    minimal: bool = False,
    sets: Iterable[Override] = (),
    pin_inputs: bool = False,
    defs: NodeDefs | None = None,
    out: str = DEFAULT_DIR,
    force: bool = False,
    api_key: str | None = None,
) -> ReproRun:
    """Build the plan of a failed job and write its recipe: to `out` (a folder, default `recipes/`, where it is
    named `<job_id>.repro.yaml`; a .yaml file; or `-` for the text in `recipe_text`)."""
    plan = build_repro(job, minimal=minimal, sets=sets, pin_inputs=pin_inputs, defs=defs)
    recipe = repro_recipe(plan, job, api_key=api_key)
    if out == "-":
        return ReproRun(plan, "-", "printed", recipe_text=dumps_recipe(recipe))
    target = Path(out) if is_file_target(out) else Path(out) / f"{job.id or 'job'}.repro.yaml"
    state = write_recipe(target, recipe, force=force)
    return ReproRun(plan, str(target), state)


def rerun(
    run: ReproRun,
    client: Client,
    *,
    wait: bool = False,
    wait_timeout: float = 600.0,
    preflight: bool = True,
    defs: NodeDefs | None = None,
    on_submitted: Callable[[str], None] | None = None,
    on_progress: ProgressCallback | None = None,
) -> ReproRun:
    """Submit a run's prompt (targets and UI graph included) and, with `wait`, follow it and judge it.

    Fills in `job_id`, and with `wait` also `new_job` and `verdict`; returns the same run. `on_submitted`
    is called with the new job id as soon as the server accepted it, before any waiting.
    """
    from replay.submit import submit_prompt, wait_for_job  # noqa: PLC0415 - submit needs the HTTP client

    plan = run.plan
    run.job_id = submit_prompt(
        client, plan.prompt, ui_workflow=plan.ui_workflow, targets=plan.targets, preflight=preflight, defs=defs
    )
    if on_submitted is not None:
        on_submitted(run.job_id)
    if wait:
        run.new_job = wait_for_job(client, run.job_id, wait_timeout=wait_timeout, on_progress=on_progress)
        run.verdict = verdict(plan.error, run.new_job)
    return run


def render_repro(run: ReproRun) -> str:
    """A short human summary of a repro run: the failure, what was rebuilt, the recipe, and the verdict."""
    plan = run.plan
    rows: list[tuple[str, str]] = [("job", str(plan.job_id)), ("failed at", describe_error(plan.error))]
    total = len(plan.kept) + len(plan.dropped)
    rebuilt = f"{plan.mode}: {len(plan.kept)} of {total} nodes kept"
    if plan.dropped:
        rebuilt += f", dropped {', '.join(plan.dropped)}"
    rows.append(("rebuilt", rebuilt))
    if plan.targets:
        rows.append(("target", ", ".join(plan.targets)))
    for override in plan.overrides:
        shown = _secret_safe({"input": override.input_name, "value": override.value})["value"]
        rows.append(("set", str(Override(override.node_id, override.input_name, shown))))
    for mismatch in plan.mismatches:
        entry = mismatch.as_dict()
        pinned = " (pinned)" if mismatch in plan.pinned else " (--pin-inputs writes it in)"
        rows.append(("mismatch", f"node {entry['node']} input {entry['input']!r}: prompt {entry['prompt']!r}, "
                                 f"error reported {entry['reported']!r}{pinned}"))
    for note in plan.notes:
        rows.append(("note", note))
    if run.state != "printed":
        rows.append(("recipe", f"{run.recipe_path}" + (" (unchanged)" if run.state == "unchanged" else "")))
    if run.job_id:
        rows.append(("new job", run.job_id))
    if run.new_job is not None:
        new = run.new_job
        rows.append(("verdict", str(run.verdict)))
        rows.append(("before", f"failed at {describe_error(plan.error)}"))
        if new.status == "failed":
            rows.append(("after", f"failed at {describe_error(new.error)}"))
        else:
            rows.append(("after", str(new.status)))
        cached = cached_nodes(new)
        if cached is not None:
            # A node served from ComfyUI's cache did not run again: the verdict says nothing about it.
            rows.append(("cached", f"{', '.join(cached)} (taken from ComfyUI's cache, not run again)" if cached
                         else "none (every node ran)"))
    width = max(len(key) for key, _ in rows)
    return "".join(f"{key.ljust(width)}  {value}\n" for key, value in rows)


__all__ = [
    "VERDICTS",
    "InputMismatch",
    "Mode",
    "ReproPlan",
    "Verdict",
    "ReproRun",
    "build_repro",
    "check_failed",
    "defined_inputs",
    "describe_error",
    "error_fields",
    "render_repro",
    "rerun",
    "write_repro",
    "input_mismatches",
    "output_classes",
    "repro_recipe",
    "targets_of",
    "verdict",
]
