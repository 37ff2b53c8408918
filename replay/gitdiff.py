"""git integration: the `textconv` line rendering of a recipe, and `git-setup` that registers it as a diff driver.

`render_textconv(job)` turns a job (from a recipe, job detail, history entry, prompt or UI file) into stable
lines made for line diffs: one line per prompt node input (`node 3 KSampler seed: 42`), links as `node[slot]`
(`4[0]`, as `diff` shows them), multi-line strings as indented text blocks, UI widget values, links and modes
without layout. `git_setup()` adds `<pattern> diff=comfy-replay` to `.gitattributes` and sets
`diff.comfy-replay.textconv`, so `git diff` and `git log -p` of recipes show those lines.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from replay.diff_render import format_value
from replay.environment_render import render_lines
from replay.errors import InputError
from replay.jobs import KIND_RECIPE, Job, job_from_document
from replay.recipe import job_from_recipe
from replay.sources import read_document
from replay.summary import summarize
from replay.terminal import one_line
from replay.ui_fields import graph_fields, link_table, ui_node_fields
from replay.workflow import natural_key

DRIVER = "diff=comfy-replay"
DEFAULT_PATTERN = "recipes/**/*.yaml"
TEXTCONV_KEY = "diff.comfy-replay.textconv"
TEXTCONV_COMMAND = "comfy-replay textconv"
_INDENT = "    "
# Node keys that only paint a UI node (beyond the layout keys `diff` ignores) or repeat what inputs say.
_UI_NODE_SKIP = frozenset({"shape", "outputs", "type", "inputs", "properties", "widgets_values", "mode"})
# The node properties that say what ran (node pack, its version, models to download); the rest is editor state.
_UI_PROPERTIES = ("cnr_id", "aux_id", "ver", "models")
_GIT_TIMEOUT = 30.0


# ---------------------------------------------------------------------------------------------- textconv


def _value_lines(label: str, value: Any, *, plain: bool = False) -> list[str]:
    """`label: value` (JSON, links as `4[0]`; with `plain`, a one-line string unquoted); a multi-line string
    becomes `label: |` and its lines, indented, so that a changed line of a prompt is one changed line."""
    if isinstance(value, str) and ("\n" in value or "\r" in value):
        chomp = "" if value.endswith("\n") else "-"
        body = value[:-1] if value.endswith("\n") else value
        return [f"{label}: |{chomp}"] + [f"{_INDENT}{line}" if line else "" for line in body.split("\n")]
    return [f"{label}: {value if plain and isinstance(value, str) else format_value(value)}"]


def _flat_lines(label: str, value: Any, *, plain: bool = False) -> list[str]:
    """Lines for a value, mappings spread over one line per key (`label.key: value`), lists kept on one line."""
    if isinstance(value, dict) and value:
        lines: list[str] = []
        for key, item in value.items():
            lines += _flat_lines(f"{label}.{key}", item, plain=plain)
        return lines
    return _value_lines(label, value, plain=plain)


def _header_lines(job: Job) -> list[str]:
    summary = summarize(job)
    # Where it came from, in the words of the recipe's `source`; the job id has a line of its own below.
    source = {k: v for k, v in job.source.items() if not (k == "job_id" and v == summary["id"])}
    lines = _flat_lines("source", source, plain=True) if source else []
    if summary["id"]:
        lines.append(f"job: {summary['id']}")
    for key, label in (("status", "status"), ("workflow_id", "workflow"), ("created", "created"),
                       ("started", "started"), ("ended", "ended")):
        if summary[key] is not None:
            lines.append(f"{label}: {summary[key]}")
    if job.error is not None:
        err = job.error
        lines.append(f"error node: {err.node_id} {err.node_type}".rstrip())
        lines.append(f"error exception: {err.exception_type}")
        lines += _value_lines("error message", err.exception_message.strip(), plain=True)
        if err.last_frame:
            lines.append(f"error last frame: {err.last_frame}")
    # Natural node order, not the server's (which follows execution): the same outputs give the same lines.
    for item in sorted(summary["outputs"], key=lambda item: natural_key(item["node"])):
        label = f"output {item['node']} {item['kind']}"
        if "file" in item:
            lines.append(f"{label}: {one_line(item['file'])}" + (f" ({item['type']})" if item.get("type") else ""))
        else:
            lines += _value_lines(label, item.get("text"))
    return lines


def _prompt_lines(prompt: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for node_id in sorted(prompt, key=lambda n: natural_key(str(n))):
        node = prompt[node_id]
        if not isinstance(node, dict):
            lines += ["", *_value_lines(f"node {node_id}", node)]
            continue
        head = f"node {node_id} {node.get('class_type', '?')}"
        lines += ["", head]
        inputs = node.get("inputs")
        for name, value in (inputs if isinstance(inputs, dict) else {}).items():
            lines += _value_lines(f"{head} {name}", value)
        for key, value in node.items():
            if key not in ("class_type", "inputs"):
                lines += _flat_lines(f"{head} {key}", value)
    return lines


def _widget_lines(head: str, widgets: Any) -> list[str]:
    if isinstance(widgets, list):
        lines: list[str] = []
        for index, value in enumerate(widgets):
            lines += _value_lines(f"{head} widget {index}", value)
        return lines
    if isinstance(widgets, dict):  # some custom nodes keep named widget values
        return _flat_lines(f"{head} widget", widgets)
    return [] if widgets is None else _value_lines(f"{head} widgets_values", widgets)


def _ui_graph_lines(graph: dict[str, Any], prefix: str, subgraph: bool) -> list[str]:
    lines = _flat_lines(f"{prefix}graph", graph_fields(graph, False, subgraph=subgraph))
    links = link_table(graph.get("links"))
    nodes = [n for n in graph.get("nodes") or [] if isinstance(n, dict)]
    for node in sorted(nodes, key=lambda n: natural_key(str(n.get("id")))):
        shown = ui_node_fields(node, links, include_layout=False)
        head = f"{prefix}ui {node.get('id')} {node.get('type', '?')}"
        lines += ["", head]
        if shown.get("mode", 0) != 0:  # 0 (always) is every node's normal mode; only a muted or bypassed node says so
            lines.append(f"{head} mode: {format_value(shown['mode'], name='mode', ui=True)}")
        for name, slot in (shown.get("inputs") or {}).items():
            lines.append(f"{head} input {name}: {format_value(slot.get('link')) if slot.get('link') else '-'}")
        lines += _widget_lines(head, shown.get("widgets_values"))
        for key, value in shown.items():
            if key not in _UI_NODE_SKIP:
                lines += _flat_lines(f"{head} {key}", value)
        properties = shown.get("properties")
        for key in _UI_PROPERTIES:
            if isinstance(properties, dict) and key in properties:
                lines += _flat_lines(f"{head} property {key}", properties[key])
    return lines


def _ui_lines(ui: dict[str, Any]) -> list[str]:
    lines = _ui_graph_lines(ui, "", subgraph=False)
    definitions = ui.get("definitions")
    found = definitions.get("subgraphs") if isinstance(definitions, dict) else None
    for sg in sorted((s for s in found or [] if isinstance(s, dict)), key=lambda s: str(s.get("id"))):
        lines += ["", *_ui_graph_lines(sg, f"subgraph {sg.get('id')} ", subgraph=True)]
    return lines


def _artifact_order(artifact: dict[str, Any]) -> tuple[Any, ...]:
    index = artifact.get("index")
    return (natural_key(str(artifact.get("node"))), str(artifact.get("key")), index if isinstance(index, int) else -1)


def _artifact_lines(artifacts: list[dict[str, Any]]) -> list[str]:
    """One line per output file, by content: a changed picture changes its line, a new file name alone does not
    change the hashes (the name is shown last). Lines come in natural node order, then key and index: ComfyUI
    lists outputs in the order the nodes happened to run, which changes from run to run."""
    lines = []
    for artifact in sorted(artifacts, key=_artifact_order):
        label = f"artifact {artifact.get('node')} {artifact.get('key')}[{artifact.get('index')}]"
        if artifact.get("missing"):
            lines.append(f"{label}: missing on the server ({artifact.get('filename')})")
            continue
        size = f" {artifact.get('width')}x{artifact.get('height')}" if artifact.get("width") is not None else ""
        frames = f" x{artifact.get('frames')}" if isinstance(artifact.get("frames"), int) and artifact["frames"] > 1 else ""
        pixels = f" pixels {str(artifact.get('pixels'))[:16]}" if artifact.get("pixels") else ""
        lines.append(f"{label}: sha256 {str(artifact.get('sha256'))[:16]}{pixels} {artifact.get('media_type')}"
                     f"{size}{frames} ({artifact.get('filename')})")
    return lines


def render_textconv(job: Job) -> str:
    """Return the line rendering of a job for line diffs: header, prompt node inputs, UI graph without layout.

    The same job always gives the same text; layout (`pos`, `size`, `extra.ds`, order, colours, flags, groups)
    never appears, so moving a node in the editor changes nothing.
    """
    lines = _header_lines(job)
    if job.prompt is not None:
        lines += ["", "# prompt", *_prompt_lines(job.prompt)]
    if job.ui_workflow is not None:
        lines += ["", "# ui workflow", *_ui_lines(job.ui_workflow)]
    if job.artifacts is not None:
        lines += ["", "# artifacts", *_artifact_lines(job.artifacts)]
    if job.environment:
        lines += ["", "# environment", *render_lines(job.environment)]
    if job.repro:
        lines += ["", "# repro", *_flat_lines("repro", job.repro)]
    while lines and not lines[0]:
        lines.pop(0)
    return "\n".join(lines) + "\n"


def textconv(path: str, *, stdin: BinaryIO | None = None) -> str:
    """Read a recipe (or a job, history, prompt or UI JSON file, or `-`) and return its `render_textconv` text.

    Raises InputError / DocumentError (exit 2) for a file that cannot be read or is not such a document. The
    graph is not required to be runnable: a recipe with a dangling link still renders.
    """
    doc = read_document(path, stdin)
    job = job_from_recipe(doc.data) if doc.kind == KIND_RECIPE else job_from_document(doc.data)
    return render_textconv(job)


# ---------------------------------------------------------------------------------------------- git-setup


@dataclass(frozen=True)
class GitSetup:
    """What `git_setup` did: the repo, the attributes line (added or already there) and the textconv config."""

    repo: str
    gitattributes: str
    line: str
    line_added: bool
    textconv: str
    config_changed: bool

    def to_json(self) -> dict[str, Any]:
        """The `--json` shape of `git-setup`."""
        return {"repo": self.repo, "gitattributes": self.gitattributes, "line": self.line,
                "line_added": self.line_added, "config_key": TEXTCONV_KEY, "textconv": self.textconv,
                "config_changed": self.config_changed}


def _git(args: list[str], cwd: str | None) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, timeout=_GIT_TIMEOUT,
                              check=False)
    except FileNotFoundError as exc:
        raise InputError("git is not installed (or not on PATH); install git and run git-setup again") from exc
    except subprocess.TimeoutExpired as exc:
        raise InputError(f"git {args[0]} did not answer within {_GIT_TIMEOUT:.0f} s") from exc


def repo_root(cwd: str | None = None) -> str:
    """Return the top-level folder of the git work tree holding `cwd`; InputError outside a repository."""
    done = _git(["rev-parse", "--show-toplevel"], cwd)
    root = done.stdout.strip()
    if done.returncode != 0 or not root:
        where = cwd or "the current folder"
        raise InputError(f"{where} is not inside a git work tree; run git-setup inside your repository "
                         "(or `git init` first)")
    return root


def _check_pattern(pattern: str) -> str:
    if not pattern.strip() or any(ch.isspace() for ch in pattern) or pattern.startswith(("#", "!")):
        raise InputError(f"--pattern {pattern!r}: a .gitattributes pattern must be one word without spaces "
                         "that does not start with # or !, like recipes/**/*.yaml")
    return pattern


def add_attribute_line(path: Path, line: str) -> bool:
    """Append `line` to a .gitattributes file unless an equivalent line is there; return True when added.

    Existing content is kept byte for byte; the file ends with a newline afterwards.
    """
    try:
        text = path.read_text(encoding="utf-8") if path.exists() else ""
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: cannot read it ({exc}); fix or remove it and run git-setup again") from exc
    if any(existing.split() == line.split() for existing in text.splitlines()):
        return False
    separator = "\n" if text and not text.endswith("\n") else ""
    with path.open("a", encoding="utf-8", newline="") as fh:
        fh.write(f"{separator}{line}\n")
    return True


def git_setup(pattern: str = DEFAULT_PATTERN, *, cwd: str | None = None,
              command: str = TEXTCONV_COMMAND) -> GitSetup:
    """Register comfy-replay as the git diff driver for recipes in the repository holding `cwd`.

    Adds `<pattern> diff=comfy-replay` to the top-level `.gitattributes` (created when missing, never
    duplicated) and sets `diff.comfy-replay.textconv` to `command` in the repository's own config.
    """
    line = f"{_check_pattern(pattern)} {DRIVER}"
    root = repo_root(cwd)
    attributes = Path(root) / ".gitattributes"
    added = add_attribute_line(attributes, line)
    current = _git(["config", "--local", "--get", TEXTCONV_KEY], root)
    changed = current.returncode != 0 or current.stdout.strip() != command
    if changed:
        done = _git(["config", "--local", TEXTCONV_KEY, command], root)
        if done.returncode != 0:
            raise InputError(f"git config {TEXTCONV_KEY} failed: {done.stderr.strip() or done.returncode}")
    return GitSetup(repo=root, gitattributes=str(attributes), line=line, line_added=added,
                    textconv=command, config_changed=changed)


__all__ = [
    "DEFAULT_PATTERN",
    "GitSetup",
    "add_attribute_line",
    "git_setup",
    "render_textconv",
    "repo_root",
    "textconv",
]
