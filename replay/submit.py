"""Submitting prompts: the POST body, the preflight checks that save paid runs, and waiting for the result.

The body carries the prompt, the UI graph as `extra_data.extra_pnginfo.workflow` when there is one, and
`partial_execution_targets` when there are targets; nothing else from a recipe's `extra_data` (never
`api_key_comfy_org` or `auth_token_comfy_org`). Progress is reported through callbacks: this module never prints.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from replay.errors import GraphError, InputError, JobNotFound, ServerError, WaitTimeout
from replay.jobs import Job, check_job_id, job_from_detail
from replay.recipe import REDACTED
from replay.workflow import Graph, Override, apply_sets, natural_key, node_inputs

if TYPE_CHECKING:
    from replay.client import Client
    from replay.nodedefs import NodeDefs

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
    prompt has an output node at all.
    """
    from replay.validate import check_prompt_graph, json_path  # noqa: PLC0415 - validate pulls in jsonschema

    lines = [f"{json_path(path)}: {message}" for path, message in check_prompt_graph(prompt)]
    for node_id in sorted(prompt, key=natural_key):
        for name, value in node_inputs(prompt[node_id]).items():
            if value == REDACTED:
                lines.append(
                    f"node {node_id} input {name!r}: the value was redacted when the recipe was written; "
                    f"give it with --set {node_id}.{name}=VALUE"
                )
    wanted = list(targets)
    for target in wanted:
        if target not in prompt:
            lines.append(f"target {target}: the prompt has no such node")
    if defs is not None:
        from replay.nodedefs import check_prompt  # noqa: PLC0415

        lines.extend(f"{p.location}: {p.message}" for p in check_prompt(prompt, defs))
        lines.extend(_output_problems(prompt, wanted, defs))
    return lines


def _output_problems(prompt: Mapping[str, Any], targets: list[str], defs: NodeDefs) -> list[str]:
    graph = Graph(prompt)
    known = [n for n in graph.nodes if graph.class_type(n) in defs]
    if len(known) < len(graph.nodes):
        return []  # an unknown class is already reported, and it might be an output node
    lines = []
    for target in targets:
        if target in graph and not defs[graph.class_type(target)].output_node:
            lines.append(f"target {target} ({graph.class_type(target)}): not an output node, so it cannot be a target")
    if not any(defs[graph.class_type(n)].output_node for n in known):
        lines.append("the prompt has no output node (SaveImage, PreviewImage, ...); the server would refuse it")
    return lines


def server_defs(client: Client) -> NodeDefs | None:
    """GET the server's node definitions, or None when it cannot give them (the POST will tell more)."""
    from replay.errors import DocumentError  # noqa: PLC0415
    from replay.nodedefs import NodeDefs  # noqa: PLC0415

    try:
        info = client.object_info()
        return NodeDefs.from_dict(info) if info else None
    except (ServerError, DocumentError):
        return None


def submit_prompt(
    client: Client,
    prompt: Mapping[str, Any],
    *,
    ui_workflow: Mapping[str, Any] | None = None,
    targets: Iterable[str] | None = None,
    preflight: bool = True,
    defs: NodeDefs | None = None,
) -> str:
    """Check a prompt (unless `preflight` is False), POST it once to /api/prompt, and return the new job id.

    Node definitions are `defs` when given, else the server's `/object_info` when it answers. A failed
    preflight raises GraphError whose `problems` hold one line each, and nothing is sent. The server's
    refusals come from the client: SubmitRejected (400, with node_errors), ServerError (402, 429, 5xx),
    AuthError (401/403).
    """
    wanted = list(targets or [])
    if preflight:
        if defs is None:
            defs = server_defs(client)
        problems = preflight_problems(prompt, targets=wanted, defs=defs)
        if problems:
            count = f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")
            raise GraphError(
                f"preflight found {count} in the prompt; nothing was submitted (fix them, or pass --no-preflight)",
                problems=problems,
            )
    result = client.submit(submit_body(prompt, ui_workflow=ui_workflow, targets=wanted))
    return str(result["prompt_id"])


def submit_job(
    client: Client,
    job: Job,
    *,
    sets: Iterable[Override] = (),
    targets: Iterable[str] | None = None,
    preflight: bool = True,
    defs: NodeDefs | None = None,
) -> str:
    """Submit the prompt of a job, recipe or prompt file with overrides; return the new job id.

    `targets` default to those of the recipe's `repro` section.
    """
    if not job.prompt:
        hint = " (a UI workflow: convert it to an API prompt first with `comfy-replay convert`)" if job.ui_workflow else ""
        raise InputError(f"there is no API prompt to submit{hint}")
    prompt = apply_sets(job.prompt, sets)
    if targets is None:
        section = job.repro if isinstance(job.repro, dict) else {}
        listed = section.get("targets")
        targets = [str(t) for t in listed] if isinstance(listed, list) else []
    return submit_prompt(client, prompt, ui_workflow=job.ui_workflow, targets=targets, preflight=preflight, defs=defs)


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
    "wait_for_job",
]
