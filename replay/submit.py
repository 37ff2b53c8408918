"""Submitting prompts: the POST body, the preflight checks that save paid runs, and waiting for the result.

The body carries the prompt, the UI graph as `extra_data.extra_pnginfo.workflow` when there is one, and
`partial_execution_targets` when there are targets; nothing else from a recipe's `extra_data` (never
`api_key_comfy_org` or `auth_token_comfy_org`). Progress is reported through callbacks: this module never prints.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from replay.errors import InputError, JobNotFound, ServerError, WaitTimeout
from replay.jobs import Job, check_job_id, job_from_detail
from replay.workflow import Override, apply_sets, is_link

if TYPE_CHECKING:
    from replay.client import Client
    from replay.nodedefs import NodeDefs
    from replay.preflight import PreflightReport

FIRST_POLL = 0.5
MAX_POLL = 5.0
DEFAULT_WAIT_TIMEOUT = 600.0

ProgressCallback = Callable[[str, float], None]
"""Called after each poll with the job's status (`unknown` while the server does not list it yet) and
the seconds waited so far."""


def submit_body(
    prompt: Mapping[str, Any], *, ui_workflow: Mapping[str, Any] | None = None, targets: Iterable[str] | None = None
) -> dict[str, Any]:
    """The JSON body of `POST /api/prompt`: prompt, UI graph (as extra_pnginfo.workflow), targets."""
    body: dict[str, Any] = {"prompt": dict(prompt)}
    if ui_workflow is not None:
        body["extra_data"] = {"extra_pnginfo": {"workflow": dict(ui_workflow)}}
    wanted = list(targets or [])
    if wanted:
        body["partial_execution_targets"] = wanted
    return body


def preflight_problems(
    prompt: Mapping[str, Any], *, targets: Iterable[str] = (), defs: NodeDefs | None = None
) -> list[str]:
    """Check a prompt before it is submitted; return one line per problem (empty when it may be sent).

    Always: the graph (links to missing nodes, cycles, nodes without class_type), inputs still holding the
    redaction marker, targets that are not nodes of the prompt. With node definitions: node types exist,
    required inputs are present, values sit inside enums and ranges, targets are output nodes, and the
    prompt has an output node at all; input checks cover the nodes the server would validate and run (the
    targets, else the output nodes, and what feeds them), so a prompt the server accepts is never refused.
    """
    from replay.preflight import prompt_findings  # noqa: PLC0415

    return [str(finding) for finding in prompt_findings(prompt, targets=targets, defs=defs)]


def server_defs(client: Client) -> NodeDefs | None:
    """GET the server's node definitions, or None when it cannot give them (the POST will tell more)."""
    from replay.errors import DocumentError  # noqa: PLC0415
    from replay.preflight import definitions_of  # noqa: PLC0415

    try:
        info = client.object_info()
    except (ServerError, DocumentError):
        return None
    return definitions_of(info) if info else None


def submit_prompt(
    client: Client,
    prompt: Mapping[str, Any],
    *,
    ui_workflow: Mapping[str, Any] | None = None,
    targets: Iterable[str] | None = None,
    preflight: bool = True,
    defs: NodeDefs | None = None,
    environment: Mapping[str, Any] | None = None,
    strict_env: bool = False,
    on_preflight: Callable[[PreflightReport], None] | None = None,
) -> str:
    """Check a prompt (unless `preflight` is False), POST it once to /api/prompt, and return the new job id.

    The checks are `replay.preflight.preflight`: node definitions are `defs` when given, else the server's
    `/object_info` when it answers; `environment` (a recipe's section) is compared with the server's.
    `on_preflight` gets the report (warnings, drift, the server's environment) before anything is decided.
    A failed preflight raises GraphError whose `problems` hold one line each, drift with `strict_env` raises
    EnvironmentDrift (exit 2); then nothing is sent. The server's refusals come from the client:
    SubmitRejected (400, with node_errors), ServerError (402, 429, 5xx), AuthError (401/403).
    """
    wanted = list(targets or [])
    if preflight:
        from replay.preflight import run_preflight  # noqa: PLC0415

        report = run_preflight(prompt, client=client, targets=wanted, defs=defs, ui_workflow=ui_workflow,
                               environment=environment)
        if on_preflight is not None:
            on_preflight(report)
        report.raise_for_problems(strict_env=strict_env)
    result = client.submit(submit_body(prompt, ui_workflow=ui_workflow, targets=wanted))
    return str(result["prompt_id"])


def ui_with_sets(
    ui: Mapping[str, Any] | None, sets: Iterable[Override], defs: NodeDefs | None
) -> tuple[dict[str, Any] | None, str | None]:
    """The UI graph with each override written into the widget that holds it, so that it agrees with the prompt.

    Returns (graph, None), or (None, note) when an override cannot be shown in the graph (no node definitions to
    find the widget, a node inside a subgraph, an input fed by a link or without a widget): a UI graph that
    disagrees with the prompt is never sent. The graph given is left untouched.
    """
    overrides = list(sets)
    if ui is None or not overrides:
        return (dict(ui) if ui is not None else None), None
    from replay.convert import widget_slot  # noqa: PLC0415

    graph = copy.deepcopy(dict(ui))
    nodes = {str(n.get("id")): n for n in graph.get("nodes") or [] if isinstance(n, dict)}
    for override in overrides:
        node = nodes.get(override.node_id)
        slot = None
        if node is not None and defs is not None and not is_link(override.value):  # a link is no widget value
            slot = widget_slot(node, override.input_name, defs)
        if node is None or slot is None:
            why = "without node definitions" if defs is None else "no widget of the node stores that input"
            return None, (
                f"the UI graph is left out: --set {override} cannot be shown in it "
                f"({why}), and a UI graph must not disagree with the prompt"
            )
        node["widgets_values"][slot] = override.value
    return graph, None


def submit_job(
    client: Client,
    job: Job,
    *,
    sets: Iterable[Override] = (),
    targets: Iterable[str] | None = None,
    preflight: bool = True,
    defs: NodeDefs | None = None,
    strict_env: bool = False,
    on_preflight: Callable[[PreflightReport], None] | None = None,
    on_note: Callable[[str], None] | None = None,
) -> str:
    """Submit the prompt of a job, recipe or prompt file with overrides; return the new job id.

    `targets` default to those of the recipe's `repro` section; the recipe's environment is checked for drift
    (see `submit_prompt`). Overrides are written into the UI graph's widgets too (`ui_with_sets`); when that
    cannot be done the graph is left out and `on_note` is told why.
    """
    if not job.prompt:
        hint = " (a UI workflow: convert it to an API prompt first with `comfy-replay convert`)" if job.ui_workflow else ""
        raise InputError(f"there is no API prompt to submit{hint}")
    overrides = list(sets)
    prompt = apply_sets(job.prompt, overrides)
    ui_workflow: dict[str, Any] | None = dict(job.ui_workflow) if job.ui_workflow is not None else None
    if overrides and ui_workflow is not None:
        if defs is None:
            defs = server_defs(client)
        ui_workflow, note = ui_with_sets(ui_workflow, overrides, defs)
        if note and on_note is not None:
            on_note(note)
    if targets is None:
        section = job.repro if isinstance(job.repro, dict) else {}
        listed = section.get("targets")
        targets = [str(t) for t in listed] if isinstance(listed, list) else []
    return submit_prompt(client, prompt, ui_workflow=ui_workflow, targets=targets, preflight=preflight, defs=defs,
                         environment=job.environment, strict_env=strict_env, on_preflight=on_preflight)


def wait_for_job(
    client: Client,
    job_id: str,
    *,
    wait_timeout: float = DEFAULT_WAIT_TIMEOUT,
    on_progress: ProgressCallback | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    first_poll: float = FIRST_POLL,
    max_poll: float = MAX_POLL,
) -> Job:
    """Poll GET /api/jobs/{job_id} until the job is completed, failed or cancelled; return it.

    Polls every `first_poll` seconds (0.5) at first, the pause doubling up to `max_poll` (5), for at most
    `wait_timeout` seconds; then
    raises WaitTimeout carrying the job id. A job the server does not list yet (just queued, or an old
    server's history that only holds finished jobs) is waited for like a pending one.
    """
    job_id = check_job_id(job_id)
    start = clock()
    deadline = start + wait_timeout
    pause = first_poll
    while True:
        try:
            job = job_from_detail(client.get_job(job_id))
        except JobNotFound:
            status = "unknown"
        else:
            if job.is_terminal:
                return job
            status = job.status or "unknown"
        now = clock()
        if on_progress is not None:
            on_progress(status, now - start)
        if now >= deadline:
            raise WaitTimeout(
                f"job {job_id} was still {status} after {wait_timeout:g} s; it may still finish: "
                f"look later with `comfy-replay show {job_id}`",
                job_id=job_id,
            )
        sleep(min(pause, deadline - now))
        pause = min(pause * 2, max_poll)


__all__ = [
    "DEFAULT_WAIT_TIMEOUT",
    "ProgressCallback",
    "preflight_problems",
    "server_defs",
    "submit_body",
    "submit_job",
    "submit_prompt",
    "ui_with_sets",
    "wait_for_job",
]
