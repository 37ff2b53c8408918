"""Every check that runs before a POST, behind one entry point: `run_preflight(...)` returns problems with severities.

The checks live with their concepts (graph rules in `replay.validate`, node definitions in `replay.nodedefs`,
output nodes in `replay.submit`, environment drift in `replay.environment`); this module runs them in one
order for every command that submits (submit, repro --submit, verify, bisect) and decides what blocks a POST:
errors always, drift warnings only with `strict_env`. It costs at most two GETs per client (`/object_info`
and `/system_stats`, cached by the client) however many prompts are checked.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from replay.errors import EnvironmentDrift, GraphError, ReplayError
from replay.workflow import Graph, is_link, natural_key, node_inputs

if TYPE_CHECKING:
    from replay.client import Client
    from replay.environment_diff import Drift
    from replay.nodedefs import NodeDefs

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Finding:
    """One preflight finding: `severity` error (blocks the POST) or warning; `check` says which check found it
    (graph, redacted, target, definitions, outputs, environment); `location` may be empty."""

    severity: str
    check: str
    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}" if self.location else self.message

    def to_json(self) -> dict[str, Any]:
        return {"severity": self.severity, "check": self.check, "location": self.location, "message": self.message}


@dataclass
class PreflightReport:
    """What `preflight` found, plus what the environment check learnt about the target server.

    `drift` holds the environment drift (also present as warnings in `findings`); `environment` is the target's
    environment for this prompt, captured now (`captured: run`), or None when it could not be read.
    """

    findings: list[Finding] = field(default_factory=list)
    drift: list[Drift] = field(default_factory=list)
    environment: dict[str, Any] | None = None

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == ERROR]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == WARNING]

    def drift_json(self) -> list[dict[str, Any]]:
        """The `environment_drift` list of `--json` outputs."""
        return [d.to_json() for d in self.drift]

    def raise_for_problems(self, *, strict_env: bool = False) -> None:
        """Raise GraphError when there are errors, EnvironmentDrift when `strict_env` and there is drift."""
        errors = self.errors
        if errors:
            count = f"{len(errors)} problem" + ("s" if len(errors) != 1 else "")
            raise GraphError(
                f"preflight found {count} in the prompt; nothing was submitted (fix them, or pass --no-preflight)",
                problems=[str(f) for f in errors],
            )
        if strict_env and self.drift:
            raise EnvironmentDrift(self.drift)


def prompt_findings(
    prompt: Mapping[str, Any], *, targets: Iterable[str] = (), defs: NodeDefs | None = None
) -> list[Finding]:
    """The checks of a prompt alone (all errors): graph rules, redacted inputs, targets, and with node definitions
    node types, required inputs, enums, ranges, and output nodes."""
    from replay.recipe import REDACTED  # noqa: PLC0415
    from replay.validate import check_prompt_graph, json_path  # noqa: PLC0415 - validate pulls in jsonschema

    graph_problems = check_prompt_graph(prompt)
    found = [Finding(ERROR, "graph", json_path(path), message) for path, message in graph_problems]
    for node_id in sorted(prompt, key=natural_key):
        for name, value in node_inputs(prompt[node_id]).items():
            if value == REDACTED:
                found.append(Finding(ERROR, "redacted", f"node {node_id} input {name!r}",
                                     "the value was redacted when the recipe was written; "
                                     f"give it with --set {node_id}.{name}=VALUE"))
    wanted = list(targets)
    for target in wanted:
        if target not in prompt:
            found.append(Finding(ERROR, "target", f"target {target}", "the prompt has no such node"))
    if defs is not None:
        from replay.nodedefs import check_prompt  # noqa: PLC0415

        seen = {json_path(path) for path, _ in graph_problems}  # a dangling link is reported once, above
        runs = _nodes_that_run(prompt, wanted, defs)
        found += [Finding(ERROR, "definitions", p.location, p.message) for p in check_prompt(prompt, defs)
                  if p.location not in seen and (runs is None or _node_of(p.location) in runs)]
        found += [Finding(ERROR, "outputs", "", line) for line in _output_problems(prompt, wanted, defs)]
    return found


def _nodes_that_run(prompt: Mapping[str, Any], targets: list[str], defs: NodeDefs) -> set[str] | None:
    """The nodes the server validates and runs: the targets (else every output node) and all that feeds them.

    None when that cannot be told (a node of unknown class, which might be an output node): check every node.
    """
    graph = Graph(prompt)
    if any(graph.class_type(n) not in defs for n in graph.nodes):
        return None
    ends = [t for t in targets if t in graph] or [n for n in graph.nodes if defs[graph.class_type(n)].output_node]
    if not ends:
        return None
    runs: set[str] = set()
    pending = list(ends)
    while pending:
        node_id = pending.pop()
        if node_id in runs:
            continue
        runs.add(node_id)
        inputs = node_inputs(prompt[node_id])
        # The inputs a dynamic combo's value brings exist only for a value the server knows: a link from another
        # value's input is never followed, so the node at its other end is not checked either.
        unknown = tuple(
            f"{spec.name}."
            for spec in defs[graph.class_type(node_id)].inputs
            if spec.variants and not (isinstance(inputs.get(spec.name), str) and inputs[spec.name] in spec.variants)
        )
        pending.extend(
            value[0] for name, value in inputs.items()
            if is_link(value) and value[0] in graph and not (unknown and name.startswith(unknown))
        )
    return runs


def _node_of(location: str) -> str | None:
    """The node id at the start of a location such as ``$["3"].inputs.seed``."""
    try:
        node_id = json.JSONDecoder().raw_decode(location, 2)[0] if location.startswith("$[") else None
    except ValueError:
        return None
    return node_id if isinstance(node_id, str) else None


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


def run_preflight(
    prompt: Mapping[str, Any],
    *,
    client: Client | None = None,
    targets: Iterable[str] = (),
    defs: NodeDefs | None = None,
    ui_workflow: Mapping[str, Any] | None = None,
    environment: Mapping[str, Any] | None = None,
    check_environment: bool = True,
) -> PreflightReport:
    """Run every check before a POST of `prompt` to `client`'s server; return the findings (nothing is raised).

    - `defs`: node definitions; when None they come from the server's `/object_info` (if `client` is given).
    - `environment`: the recipe's `environment` section (None for an older recipe: versions are then not
      compared, but classes and model files the server lacks still are).
    - `check_environment`: compare with the server's `/system_stats` and `/object_info` (both cached per client).
    Call `report.raise_for_problems(strict_env=...)` to stop on errors (and on drift with --strict-env).
    """
    report = PreflightReport()
    info: dict[str, Any] | None = None
    if client is not None:
        try:
            info = client.object_info()
        except ReplayError as exc:
            report.findings.append(Finding(WARNING, "definitions", "", f"no node definitions from the server ({exc})"))
    if defs is None and info:
        defs = definitions_of(info)
    wanted = list(targets)
    report.findings += prompt_findings(prompt, targets=wanted, defs=defs)
    if client is not None and check_environment:
        # An empty /object_info names no classes at all: it is no evidence that the prompt's classes are missing.
        _environment_findings(report, client, prompt, ui_workflow, environment, info or None)
    return report


def environment_of(recorded: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """A recipe's environment section, or an empty mapping for an older recipe."""
    return recorded if isinstance(recorded, Mapping) else {}


_LAST_DEFS: tuple[Mapping[str, Any], NodeDefs | None] | None = None


def definitions_of(info: Mapping[str, Any]) -> NodeDefs | None:
    """Node definitions of an /object_info body (None when they do not parse), parsed once for the body a client
    keeps: checks of many prompts against one server, and `submit.server_defs`, parse it once, not once per use."""
    global _LAST_DEFS
    last = _LAST_DEFS
    if last is not None and last[0] is info:
        return last[1]
    from replay.nodedefs import NodeDefs  # noqa: PLC0415

    try:
        defs: NodeDefs | None = NodeDefs.from_dict(info)
    except ReplayError:
        defs = None
    _LAST_DEFS = (info, defs)
    return defs


def _environment_findings(
    report: PreflightReport,
    client: Client,
    prompt: Mapping[str, Any],
    ui_workflow: Mapping[str, Any] | None,
    recorded: Mapping[str, Any] | None,
    info: Mapping[str, Any] | None,
) -> None:
    from replay.environment import CAPTURED_RUN, capture_environment  # noqa: PLC0415
    from replay.environment_diff import Drift, environment_drift  # noqa: PLC0415

    stats: Mapping[str, Any] | None = None
    missing: list[Drift] = []
    try:
        stats = client.system_stats()
    except ReplayError as exc:
        if isinstance(environment_of(recorded).get("system"), Mapping):
            # The recipe says where it ran but the server cannot say where it runs: that is not "no drift".
            missing.append(Drift("unverified", "versions", None, None,
                                 f"versions not compared: the server gave no /system_stats ({exc})"))
        else:
            report.findings.append(Finding(WARNING, "environment", "", f"no /system_stats ({exc})"))
    report.drift = missing + environment_drift(recorded, stats=stats, object_info=info, prompt=prompt)
    report.findings += [Finding(WARNING, "environment", d.subject, d.message) for d in report.drift]
    if stats is not None or info is not None:
        report.environment = capture_environment(stats=stats, object_info=info, prompt=prompt,
                                                 ui_workflow=ui_workflow, server=client.server, captured=CAPTURED_RUN)


__all__ = ["ERROR", "WARNING", "Finding", "PreflightReport", "definitions_of", "prompt_findings", "run_preflight"]
