"""The command-line interface: argparse, one small function per command, errors mapped to exit codes.

A command parses its arguments, calls one library function, renders the result and returns an exit code.
`main(argv, stdin=..., stdout=..., stderr=...)` never calls sys.exit, so tests pass their own streams.
Heavy modules (jsonschema, deepdiff) are imported inside commands: `--help` and `--version` stay light.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, BinaryIO

from replay import __version__
from replay.errors import InputError, ReplayError

if TYPE_CHECKING:
    from replay.client import Client
    from replay.jobs import Job
    from replay.nodedefs import NodeDefs

PROG = "comfy-replay"
EXIT_OK, EXIT_NEGATIVE, EXIT_USAGE, EXIT_SERVER, EXIT_AUTH = 0, 1, 2, 3, 4
EXIT_INTERNAL = 70  # a bug in comfy-replay (sysexits EX_SOFTWARE)
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT


class UsageError(InputError):
    """Bad command-line usage (argparse errors), reported like every other input error."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # type: ignore[override]
        raise UsageError(f"{message} (see `{self.prog} --help`)")


@dataclass
class Context:
    """What a command needs besides its arguments: streams, environment, and lazily made client."""

    args: argparse.Namespace
    stdout: IO[str]
    stderr: IO[str]
    stdin: BinaryIO | None
    env: dict[str, str]
    _client: Client | None = field(default=None, repr=False)

    @property
    def api_key(self) -> str | None:
        """The API key from --api-key or COMFY_API_KEY (never printed)."""
        return getattr(self.args, "api_key", None) or self.env.get("COMFY_API_KEY") or None

    @property
    def server(self) -> str | None:
        """The server from --server or COMFY_SERVER; None means the default for the key."""
        return getattr(self.args, "server", None) or self.env.get("COMFY_SERVER") or None

    @property
    def as_json(self) -> bool:
        return bool(getattr(self.args, "json", False))

    def client(self, *, pool_size: int = 16) -> Client:
        """The one HTTP client of this run, made on first use (with `pool_size` connections at most)."""
        if self._client is None:
            from replay.client import Client  # noqa: PLC0415 - keep requests out of offline commands

            timeout = getattr(self.args, "timeout", None) or 30.0
            self._client = Client(self.server, self.api_key, timeout=timeout, pool_size=pool_size)
        return self._client

    def load_job(self, ref: str) -> Job:
        """Resolve a job reference (id, file, recipe, `-`) to a Job."""
        from replay.sources import load_job  # noqa: PLC0415

        return load_job(ref, self.client, stdin=self.stdin)

    def node_definitions(self, path: str | None, *, required: bool) -> NodeDefs | None:
        """Node definitions from a saved /object_info file, else from the server.

        When not `required`, the server is asked only if one was named (--server, COMFY_SERVER or an API key),
        and an unreachable server just skips the checks that need definitions, with a note.
        """
        from replay.nodedefs import NodeDefs, load_object_info  # noqa: PLC0415

        if path:
            return load_object_info(path)
        if not required and not (self.server or self.api_key):
            return None
        try:
            info = self.client().object_info()
            if not info:
                raise InputError(f"{self.client().server} sent empty node definitions")
            return NodeDefs.from_dict(info)
        except ReplayError as exc:
            if required:
                raise
            self.info(f"note: no node definitions ({exc}); node-type, input and range checks skipped")
            return None

    def color(self) -> bool:
        """Colour only on a terminal and never with NO_COLOR."""
        return _is_terminal(self.stdout) and "NO_COLOR" not in self.env

    def print(self, text: str = "") -> None:
        """Write a line to stdout."""
        self.stdout.write(text + ("\n" if not text.endswith("\n") else ""))

    def info(self, text: str) -> None:
        """Write a human note to stderr unless -q."""
        if not getattr(self.args, "quiet", False):
            self.stderr.write(text + "\n")

    def emit_json(self, data: Any) -> None:
        """Write a JSON result on stdout."""
        self.stdout.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


Command = Callable[[Context], int]
_COMMANDS: dict[str, tuple[Command, Callable[[argparse.ArgumentParser], None], str, str]] = {}


def command(name: str, help: str, description: str = "") -> Callable[[Command], Command]:
    """Register a command: its function, and (set by `arguments`) how to declare its options."""

    def wrap(func: Command) -> Command:
        adder = getattr(func, "_arguments", lambda p: None)
        _COMMANDS[name] = (func, adder, help, description or help)
        return func

    return wrap


def arguments(adder: Callable[[argparse.ArgumentParser], None]) -> Callable[[Command], Command]:
    """Attach the argument declarations of a command (apply below @command)."""

    def wrap(func: Command) -> Command:
        func._arguments = adder  # type: ignore[attr-defined]
        return func

    return wrap


def _common_options(parser: argparse.ArgumentParser) -> None:
    s = argparse.SUPPRESS
    group = parser.add_argument_group("common options")
    group.add_argument("--server", metavar="URL", default=s, help="server URL (env COMFY_SERVER; default "
                       "https://cloud.comfy.org with an API key, else http://127.0.0.1:8188)")
    group.add_argument("--api-key", metavar="KEY", default=s,
                       help="Comfy Cloud API key, sent as X-API-Key (prefer env COMFY_API_KEY)")
    group.add_argument("--timeout", metavar="S", type=float, default=s, help="seconds per HTTP request (default 30)")
    group.add_argument("--json", action="store_true", default=s, help="machine-readable result on stdout")
    group.add_argument("-q", "--quiet", action="store_true", default=s, help="print only results and errors")
    group.add_argument("-v", "--verbose", action="store_true", default=s, help="more detail; tracebacks on errors")


# ------------------------------------------------------------------------------------------------ commands


def _fetch_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("jobs", nargs="+", metavar="JOB", help="job id, job/history/prompt/UI JSON file, recipe, or -")
    p.add_argument("-o", "--output", default="recipes", metavar="DIR|FILE|-",
                   help="folder (default recipes/), one .yaml file, or - for stdout")
    p.add_argument("--raw", action="store_true", help="also keep the job's JSON (secrets removed) beside the recipe")
    p.add_argument("--force", action="store_true", help="overwrite a recipe of another job at the target path")
    p.add_argument("--object-info", metavar="FILE",
                   help="node definitions (/object_info JSON, plain or .gz): UI-only files get a converted prompt")


@command("fetch", "get jobs, validate them and write their recipes",
         "Get each job (by id from the server, or from a file), validate it and write its recipe.\n"
         "Example: comfy-replay fetch 3c04dcaf-283e-4da6-9ed7-02a8b6d99560 -o recipes/")
@arguments(_fetch_args)
def cmd_fetch(ctx: Context) -> int:
    from replay.fetching import fetch  # noqa: PLC0415

    a = ctx.args
    defs = ctx.node_definitions(a.object_info, required=False)
    result = fetch(a.jobs, out=a.output, raw=a.raw, force=a.force, client_factory=ctx.client,
                   api_key=ctx.api_key, defs=defs, stdin=ctx.stdin)
    for note in result.notes:
        ctx.info(f"note: {note}")
    if a.output == "-":
        ctx.stdout.write(result.stdout_text)
    elif ctx.as_json:
        ctx.emit_json(result.to_json())
    else:
        for path in result.written:
            ctx.print(path)
        for path in result.unchanged:
            ctx.print(f"{path} (unchanged)")
    for failure in result.failed:
        ctx.stderr.write(f"{PROG}: error: {failure['error']}\n")
    if result.errors:
        return max(err.exit_code for err in result.errors)
    return EXIT_OK


def _archive_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("-o", "--output", default="recipes", metavar="DIR", help="folder of recipes (default recipes/)")
    p.add_argument("--status", metavar="S,..", help="only jobs with these statuses (completed, failed, cancelled; "
                   "pending and in_progress ones are listed but skipped)")
    p.add_argument("--workflow-id", metavar="ID", help="only runs of this workflow")
    p.add_argument("--limit", type=int, metavar="N", help="at most N jobs from the list (newest first)")
    p.add_argument("--concurrency", type=int, default=8, metavar="N",
                   help="job details fetched at once over one connection pool (default 8, at most 64)")
    p.add_argument("--refresh", action="store_true",
                   help="fetch jobs already on disk again; rewrite a recipe only when its bytes change")


@command("archive", "write a recipe for every finished job on the server",
         "List the server's jobs (every page of /api/jobs, or /history on older servers), fetch the finished\n"
         "ones concurrently and write DIR/<job_id>.yaml for each. Recipes already on disk are not fetched\n"
         "again (unless --refresh); nothing is ever deleted; Ctrl-C stops at once and a second run resumes.\n"
         "Exit 3 when any job could not be archived (each is listed with its reason).\n"
         "Example: comfy-replay archive -o recipes/ --status completed,failed")
@arguments(_archive_args)
def cmd_archive(ctx: Context) -> int:
    from replay.archive import ArchiveInterrupted, archive, parse_statuses, summary_lines  # noqa: PLC0415

    a = ctx.args
    statuses = parse_statuses(a.status)
    bar = _ProgressBar(ctx) if _is_terminal(ctx.stderr) and not getattr(a, "quiet", False) else None
    try:
        result = archive(ctx.client(pool_size=max(a.concurrency, 1)), a.output, statuses=statuses,
                         workflow_id=a.workflow_id, limit=a.limit, concurrency=a.concurrency, refresh=a.refresh,
                         api_key=ctx.api_key, on_progress=bar.show if bar else None, helpers=None)
    except ArchiveInterrupted as stop:
        result = stop.result
    if bar:
        bar.end()
    if ctx.as_json:
        ctx.emit_json(result.to_json())
    else:
        for path in result.written:
            ctx.print(path)
    lines = summary_lines(result)
    ctx.stderr.write(f"{lines[0]}\n")
    for line in lines[1:]:
        ctx.stderr.write(f"  {line}\n")
    if result.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_SERVER if result.failed else EXIT_OK


def _is_terminal(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class _ProgressBar:
    """`archive  120/500 [=====     ]  37.5 jobs/s` on one stderr line, redrawn in place."""

    def __init__(self, ctx: Context) -> None:
        self.err = ctx.stderr
        self.drawn = False

    def show(self, progress: Any) -> None:
        width = 30
        filled = width * progress.done // progress.total if progress.total else width
        self.err.write(f"\rarchive {progress.done:>6}/{progress.total} [{'=' * filled}{' ' * (width - filled)}] "
                       f"{progress.rate:6.1f} jobs/s")
        self.err.flush()
        self.drawn = True

    def end(self) -> None:
        if self.drawn:
            self.err.write("\n")


def _show_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("job", metavar="JOB", help="job id, job/history/prompt/UI JSON file, recipe, or -")


@command("show", "a short human summary of a job",
         "Print a job's id, status, times, node count and outputs, and for a failure the failing node,\n"
         "its class, the exception and the last traceback frame.\n"
         "Example: comfy-replay show recipes/fail_runtime_zerodiv.job.json")
@arguments(_show_args)
def cmd_show(ctx: Context) -> int:
    from replay.summary import render_summary, summarize  # noqa: PLC0415

    summary = summarize(ctx.load_job(ctx.args.job))
    if ctx.as_json:
        ctx.emit_json(summary)
    else:
        ctx.stdout.write(render_summary(summary))
    return EXIT_OK


def _validate_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("files", nargs="+", metavar="FILE", help="job, history, prompt, UI workflow or recipe files (or -)")
    p.add_argument("--strict", action="store_true", help="hold jobs to the Comfy Cloud schema exactly")
    p.add_argument("--object-info", metavar="FILE",
                   help="node definitions (/object_info JSON, plain or .gz) for node-type, input, enum and range checks")


@command("validate", "check documents against their schema and their graph",
         "Check each document against its JSON Schema (job, API prompt, UI workflow, recipe) and its graph\n"
         "(links point at existing nodes and slots, no cycles). One line per problem: FILE: LOCATION: MESSAGE.\n"
         "Exit 1 when any problem is found.\n"
         "Example: comfy-replay validate recipes/*.yaml --strict")
@arguments(_validate_args)
def cmd_validate(ctx: Context) -> int:
    from replay.validate import validate_files  # noqa: PLC0415

    a = ctx.args
    defs = ctx.node_definitions(a.object_info, required=False)
    problems = validate_files(a.files, strict=a.strict, defs=defs, stdin=ctx.stdin)
    if ctx.as_json:
        ctx.emit_json({"valid": not problems, "problems": [
            {"file": p.file, "location": p.location, "message": p.message} for p in problems]})
    else:
        for problem in problems:
            ctx.print(str(problem))
        if not problems:
            ctx.info(f"{len(a.files)} file(s) valid")
    return EXIT_NEGATIVE if problems else EXIT_OK


def _export_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("recipe", metavar="RECIPE", help="a recipe (or any job reference)")
    what = p.add_mutually_exclusive_group()
    what.add_argument("--prompt", dest="what", action="store_const", const="prompt",
                      help="the API prompt (default)")
    what.add_argument("--job", dest="what", action="store_const", const="job", help="the rebuilt job detail")
    what.add_argument("--ui", dest="what", action="store_const", const="ui", help="the UI graph")


@command("export", "print a recipe's prompt, job detail or UI graph as JSON",
         "Print the API prompt (default), the rebuilt job detail (--job) or the UI graph (--ui) as JSON.\n"
         "Example: comfy-replay export recipes/f7838b83-aab4-48ed-96a5-1e0cb6760bc6.yaml --job > job.json")
@arguments(_export_args)
def cmd_export(ctx: Context) -> int:
    from replay.recipe import export_document  # noqa: PLC0415

    doc = export_document(ctx.load_job(ctx.args.recipe), ctx.args.what or "prompt", api_key=ctx.api_key)
    ctx.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    return EXIT_OK


# ------------------------------------------------------------------------------------------------ repro, submit


def _set_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="NODE.INPUT=VALUE",
                   help="override an input (repeatable); VALUE is JSON when it parses, else a string")


def _wait_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wait-timeout", metavar="S", type=float, default=600.0,
                   help="seconds to follow the job with --wait (default 600)")
    p.add_argument("--no-preflight", action="store_true",
                   help="submit without checking the prompt against the graph rules and /object_info first")


def _progress(ctx: Context, what: str) -> Callable[[str, float], None] | None:
    """A progress line on stderr, only on a terminal and not with -q or --json."""
    isatty = getattr(ctx.stderr, "isatty", None)
    if not (isatty and isatty()) or getattr(ctx.args, "quiet", False) or ctx.as_json:
        return None

    def show(status: str, elapsed: float) -> None:
        ctx.stderr.write(f"\r\033[Kwaiting for {what}: {status} ({elapsed:.0f} s)")
        ctx.stderr.flush()

    return show


def _end_progress(ctx: Context, shown: object) -> None:
    if shown is not None:
        ctx.stderr.write("\r\033[K")


def _repro_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("job", metavar="JOB", help="a failed job: job id, job/history JSON file, recipe, or -")
    p.add_argument("-o", "--output", default="recipes", metavar="DIR|FILE|-",
                   help="folder (default recipes/, file <job_id>.repro.yaml), one .yaml file, or - for stdout")
    p.add_argument("--minimal", action="store_true",
                   help="keep only the failing node, its ancestors and the shortest path to an output node")
    _set_option(p)
    p.add_argument("--pin-inputs", action="store_true",
                   help="write the input values the error reported into the prompt where they differ")
    p.add_argument("--submit", action="store_true", help="post the rebuilt prompt and print the new job id")
    p.add_argument("--wait", action="store_true", help="with --submit: follow the new job and print the verdict")
    _wait_options(p)
    p.add_argument("--object-info", metavar="FILE",
                   help="node definitions (/object_info JSON, plain or .gz): output nodes and preflight checks")
    p.add_argument("--force", action="store_true", help="overwrite a recipe of another job at the target path")


@command("repro", "rebuild a failed job as a resubmittable recipe, optionally rerun it and judge the result",
         "From a failed job's execution_error, write a recipe that can run again: the whole prompt, or with\n"
         "--minimal only what is needed to hit the failure. --set tries a fix; --submit posts it; --wait follows\n"
         "it and prints the verdict: reproduced, different-failure or not-reproduced (all exit 0).\n"
         "Example: comfy-replay repro f7838b83-aab4-48ed-96a5-1e0cb6760bc6 --minimal --submit --wait")
@arguments(_repro_args)
def cmd_repro(ctx: Context) -> int:
    from replay.repro import render_repro, rerun, write_repro  # noqa: PLC0415
    from replay.submit import server_defs  # noqa: PLC0415
    from replay.workflow import parse_set  # noqa: PLC0415

    a = ctx.args
    if a.wait and not a.submit:
        raise UsageError("--wait follows a submitted job: add --submit")
    sets = [parse_set(text) for text in a.sets]
    job = ctx.load_job(a.job)
    defs = ctx.node_definitions(a.object_info, required=True) if a.object_info else None
    if defs is None and (a.submit or job.source.get("server")):
        defs = server_defs(ctx.client())
    run = write_repro(job, minimal=a.minimal, sets=sets, pin_inputs=a.pin_inputs, defs=defs, out=a.output,
                      force=a.force, api_key=ctx.api_key)
    if run.state == "printed":
        ctx.stdout.write(run.recipe_text)
    if a.submit:
        progress = _progress(ctx, "the new job")
        try:
            rerun(run, ctx.client(), wait=a.wait, wait_timeout=a.wait_timeout, preflight=not a.no_preflight,
                  defs=defs, on_progress=progress,
                  on_submitted=(lambda job_id: ctx.info(f"submitted job {job_id}")) if a.wait else None)
        finally:
            _end_progress(ctx, progress)
    if ctx.as_json:
        ctx.emit_json(run.to_json())
    elif run.state == "printed":
        ctx.info(render_repro(run).rstrip("\n"))
    else:
        ctx.stdout.write(render_repro(run))
    return EXIT_OK


def _submit_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="RECIPE|FILE", help="a recipe, job JSON, history entry or API prompt (or -)")
    _set_option(p)
    p.add_argument("--wait", action="store_true", help="follow the job to the end; exit 1 if it fails or is cancelled")
    _wait_options(p)
    p.add_argument("--object-info", metavar="FILE",
                   help="node definitions for the preflight checks instead of the server's /object_info")


@command("submit", "post a recipe's or file's prompt to the server",
         "Post the prompt (with the UI graph as extra_pnginfo.workflow, and a repro recipe's targets) to\n"
         "/api/prompt after a preflight check, and print the new job id. --wait follows the job to the end.\n"
         "Example: comfy-replay submit recipes/f7838b83-aab4-48ed-96a5-1e0cb6760bc6.repro.yaml --wait")
@arguments(_submit_args)
def cmd_submit(ctx: Context) -> int:
    from replay.repro import describe_error, error_fields  # noqa: PLC0415
    from replay.submit import submit_job, wait_for_job  # noqa: PLC0415
    from replay.workflow import parse_set  # noqa: PLC0415

    a = ctx.args
    sets = [parse_set(text) for text in a.sets]
    job = ctx.load_job(a.file)
    defs = ctx.node_definitions(a.object_info, required=True) if a.object_info else None
    job_id = submit_job(ctx.client(), job, sets=sets, preflight=not a.no_preflight, defs=defs)
    if not a.wait:
        if ctx.as_json:
            ctx.emit_json({"job_id": job_id, "status": None, "error": None})
        else:
            ctx.print(job_id)
        return EXIT_OK
    ctx.info(f"submitted job {job_id}")
    progress = _progress(ctx, f"job {job_id}")
    try:
        new = wait_for_job(ctx.client(), job_id, wait_timeout=a.wait_timeout, on_progress=progress)
    finally:
        _end_progress(ctx, progress)
    if ctx.as_json:
        ctx.emit_json({"job_id": job_id, "status": new.status, "error": error_fields(new.error)})
    else:
        ctx.print(job_id)
        ctx.print(f"failed at {describe_error(new.error)}" if new.status == "failed" else str(new.status))
    return EXIT_OK if new.status == "completed" else EXIT_NEGATIVE


def _convert_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("ui_file", metavar="UI_FILE", help="a UI workflow (format 0.4 or 1), a job or recipe that has one, or -")
    p.add_argument("--object-info", metavar="FILE",
                   help="node definitions (/object_info JSON, plain or .gz); default: GET /object_info from the server")
    p.add_argument("-o", "--output", metavar="FILE", default="-", help="where to write the prompt JSON (default stdout)")
    p.add_argument("--allow-unknown", action="store_true",
                   help="convert even when node types are missing from the definitions (they keep only their links)")


@command("convert", "turn a UI workflow into an API prompt using node definitions",
         "Convert a UI workflow into the API prompt the ComfyUI frontend would submit, naming each node's\n"
         "widget values after the node definitions from /object_info. Notes go to stderr.\n"
         "Exit 2 when node types are missing from the definitions (all are listed) unless --allow-unknown.\n"
         "Example: comfy-replay convert flux_schnell.json --object-info object_info.json.gz -o prompt.json")
@arguments(_convert_args)
def cmd_convert(ctx: Context) -> int:
    from replay.canonical import atomic_write  # noqa: PLC0415
    from replay.convert import convert_workflow  # noqa: PLC0415
    from replay.sources import job_from_parsed, read_document  # noqa: PLC0415

    a = ctx.args
    doc = read_document(a.ui_file, ctx.stdin)
    ui = job_from_parsed(doc).ui_workflow
    if ui is None:
        raise InputError(f"{doc.name}: a {doc.kind} without a UI workflow; nothing to convert")
    defs = ctx.node_definitions(a.object_info, required=True)
    assert defs is not None
    result = convert_workflow(ui, defs, allow_unknown=a.allow_unknown)
    text = json.dumps(result.prompt, indent=2, ensure_ascii=False) + "\n"
    if a.output == "-":
        ctx.stdout.write(text)
    else:
        atomic_write(a.output, text.encode("utf-8"))
        ctx.info(f"wrote {a.output} ({len(result.prompt)} nodes)")
    for kind, ids in result.unknown.items():
        ctx.info(f"not converted: {kind} is not in the definitions (nodes {', '.join(ids)})")
    for note in result.notes:
        ctx.info(f"note: {note}")
    return EXIT_OK


def _diff_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("a", metavar="A", help="job id, job/history/prompt/UI JSON file, recipe, or -")
    p.add_argument("b", metavar="B", help="the same kinds of reference as A")
    p.add_argument("--format", choices=("text", "json", "md"), default=None,
                   help="text (default), json (the --json shape) or md (Markdown for a pull request)")
    p.add_argument("--include-layout", action="store_true",
                   help="also compare UI layout (pos, size, extra.ds, order, colours, flags, groups)")
    p.add_argument("--ui", action="store_true", help="compare the UI workflows even when both sides have a prompt")
    p.add_argument("--tolerance", metavar="X", type=float, default=None, help="numbers within X of each other are equal")
    p.add_argument("--ignore", metavar="PATTERN", action="append", default=[],
                   help="deepdiff path to leave out, e.g. \"root[**]['seed']\" (repeatable)")
    p.add_argument("--exit-code", action="store_true", help="exit 1 when the two differ")


@command("diff", "compare two jobs, recipes or workflows node by node",
         "Compare two jobs node by node: nodes added, removed and changed (each changed input's old and new value,\n"
         "links as node[slot]), titles, outputs, status and error. UI layout is ignored unless --include-layout.\n"
         "Example: comfy-replay diff recipes/examples/success_a.job.json recipes/examples/fail_runtime_zerodiv.job.json")
@arguments(_diff_args)
def cmd_diff(ctx: Context) -> int:
    from replay.diff import diff_jobs  # noqa: PLC0415
    from replay.diff_render import render_markdown, render_text, to_json  # noqa: PLC0415

    a = ctx.args
    if a.a == "-" and a.b == "-":
        raise UsageError("only one of A and B can be - (standard input)")
    result = diff_jobs(ctx.load_job(a.a), ctx.load_job(a.b), tolerance=a.tolerance, ignore=a.ignore,
                       include_layout=a.include_layout, ui=a.ui)
    fmt = "json" if ctx.as_json else a.format or "text"
    if fmt == "json":
        ctx.emit_json(to_json(result))
    elif fmt == "md":
        ctx.stdout.write(render_markdown(result, labels=(a.a, a.b)))
    else:
        ctx.stdout.write(render_text(result, ctx.color(), labels=(a.a, a.b)))
    return EXIT_NEGATIVE if a.exit_code and not result.identical else EXIT_OK


# ------------------------------------------------------------------------------------------------ git


def _git_setup_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pattern", metavar="GLOB", default="recipes/**/*.yaml",
                   help="which files get the diff driver, as a .gitattributes pattern (default recipes/**/*.yaml)")


@command("git-setup", "make git diff and git log -p of recipes show node inputs, not YAML",
         "Inside a git repository: add '<pattern> diff=comfy-replay' to the top-level .gitattributes (once) and\n"
         "set diff.comfy-replay.textconv to 'comfy-replay textconv' in the repository's config.\n"
         "Example: cd my-workflows && comfy-replay git-setup --pattern 'recipes/**/*.yaml'")
@arguments(_git_setup_args)
def cmd_git_setup(ctx: Context) -> int:
    from replay.gitdiff import git_setup  # noqa: PLC0415

    done = git_setup(ctx.args.pattern)
    if ctx.as_json:
        ctx.emit_json(done.to_json())
        return EXIT_OK
    verb = "added" if done.line_added else "already present"
    ctx.print(f"{done.gitattributes}: {verb}: {done.line}")
    verb = "set" if done.config_changed else "already set"
    ctx.print(f"git config diff.comfy-replay.textconv: {verb}: {done.textconv}")
    return EXIT_OK


def _textconv_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="FILE", help="a recipe, or a job/history/prompt/UI JSON file, or -")


@command("textconv", "print a recipe as stable lines for line diffs (git's textconv)",
         "Print one line per prompt node input ('node 3 KSampler seed: 42', links as node[slot]), prompts as\n"
         "text blocks, the UI graph's widget values, links and modes without layout. git-setup makes git use it.\n"
         "Example: comfy-replay textconv recipes/f7838b83-aab4-48ed-96a5-1e0cb6760bc6.yaml")
@arguments(_textconv_args)
def cmd_textconv(ctx: Context) -> int:
    from replay.gitdiff import textconv  # noqa: PLC0415

    ctx.stdout.write(textconv(ctx.args.file, stdin=ctx.stdin))
    return EXIT_OK


# ------------------------------------------------------------------------------------------------ main


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser (also used by the docs test)."""
    parser = _Parser(prog=PROG, description="Make ComfyUI jobs reproducible: fetch, archive, diff and rebuild jobs "
                     "as YAML recipes.", formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    _common_options(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name, (_func, adder, help_text, description) in _COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=description,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        adder(p)
        _common_options(p)
    return parser


def main(
    argv: list[str] | None = None,
    *,
    stdin: BinaryIO | None = None,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
    env: dict[str, str] | None = None,
) -> int:
    """Run the CLI and return its exit code (0 ok, 1 negative answer, 2 bad input, 3 server, 4 auth)."""
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    environ = dict(os.environ) if env is None else env
    verbose = False
    try:
        parser = build_parser()
        try:
            with contextlib.redirect_stdout(out):
                args = parser.parse_args(sys.argv[1:] if argv is None else argv)
        except SystemExit as exc:  # --help and --version
            return int(exc.code or 0)
        verbose = bool(getattr(args, "verbose", False))
        if not args.command:
            parser.print_help(out)
            return EXIT_USAGE
        func = _COMMANDS[args.command][0]
        ctx = Context(args=args, stdout=out, stderr=err, stdin=stdin, env=environ)
        try:
            return func(ctx)
        finally:
            if ctx._client is not None:
                ctx._client.close()
    except ReplayError as exc:
        _traceback(err, verbose)
        err.write(f"{PROG}: error: {_one_line(str(exc))}\n")
        for line in getattr(exc, "lines", []) or getattr(exc, "problems", []):
            err.write(f"  {line}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        err.write(f"{PROG}: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        return EXIT_OK
    except OSError as exc:
        # A file we could not write or read outside the library's own checks: the user's environment.
        _traceback(err, verbose)
        where = f" {exc.filename}" if exc.filename else ""
        err.write(f"{PROG}: error: cannot access{where}: {exc.strerror or exc}\n")
        return EXIT_USAGE
    except Exception as exc:  # a bug: say so in one line, traceback with -v
        _traceback(err, verbose)
        err.write(f"{PROG}: error: internal error ({type(exc).__name__}: {_one_line(str(exc))[:300]}); "
                  "run with -v for the traceback and please report it\n")
        return EXIT_INTERNAL


def _traceback(err: IO[str], verbose: bool) -> None:
    if verbose:
        import traceback  # noqa: PLC0415

        traceback.print_exc(file=err)


def _one_line(text: str) -> str:
    return " ".join(text.split()) if "\n" in text else text


__all__ = ["Context", "build_parser", "command", "main"]
