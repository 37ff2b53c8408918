"""What every command shares: the Context, the command registry, common options, exit codes, progress lines."""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any, BinaryIO

from replay.errors import InputError, ReplayError

if TYPE_CHECKING:
    from replay.client import Client
    from replay.jobs import Job
    from replay.nodedefs import NodeDefs
    from replay.preflight import PreflightReport

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

    def check_references(self, *refs: str, job_ids: bool = True) -> None:
        """Refuse bad job references (not `-`, a file or a UUID) before anything reaches a server."""
        from replay.sources import check_references  # noqa: PLC0415

        check_references(refs, job_ids=job_ids)

    def load_job(self, ref: str) -> Job:
        """Resolve a job reference (id, file, recipe, `-`) to a Job."""
        from replay.sources import load_job  # noqa: PLC0415

        return load_job(ref, self.client, stdin=self.stdin)

    def node_definitions(self, path: str | None, *, required: bool) -> NodeDefs | None:
        """Node definitions from a saved /object_info file, else from the server.

        When not `required`, the server is asked only if one was named (--server, COMFY_SERVER or an API key),
        once and briefly (no retries, at most a few seconds), and an unreachable server just skips the checks that
        need definitions, with a note.
        """
        from replay.nodedefs import NodeDefs, load_object_info  # noqa: PLC0415

        if path:
            return load_object_info(path)
        if not required and not (self.server or self.api_key):
            return None
        try:
            info = self.client().object_info(quick=not required)
            if not info:
                raise InputError(f"{self.client().server} sent empty node definitions")
            return NodeDefs.from_dict(info)
        except ReplayError as exc:
            if required:
                raise
            self.info(f"note: no node definitions ({exc}); the optional node-type, input and range checks are skipped")
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
    if "--server" not in parser._option_string_actions:  # a command may take several (verify)
        group.add_argument("--server", metavar="URL", default=s, help="server URL (env COMFY_SERVER; default "
                           "https://cloud.comfy.org with an API key, else http://127.0.0.1:8188)")
    group.add_argument("--api-key", metavar="KEY", default=s,
                       help="Comfy Cloud API key, sent as X-API-Key (prefer env COMFY_API_KEY)")
    group.add_argument("--timeout", metavar="S", type=_seconds, default=s,
                       help="seconds per HTTP request (default 30)")
    group.add_argument("--json", action="store_true", default=s, help="machine-readable result on stdout")
    group.add_argument("-q", "--quiet", action="store_true", default=s, help="print only results and errors")
    group.add_argument("-v", "--verbose", action="store_true", default=s, help="more detail; tracebacks on errors")


def _seconds(text: str) -> float:
    """A positive, finite number of seconds (argparse type): 0 or less would wait for nothing or forever."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text} must be a number of seconds above 0")
    return value


def _is_terminal(stream: IO[str]) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class _ProgressBar:
    """`archive  120/500 [=====     ]  37.5 jobs/s` on one stderr line, redrawn in place; `label` and `detail` (the
    text after the bar, from the progress object) let other commands draw theirs."""

    def __init__(self, ctx: Context, label: str = "archive",
                 detail: Callable[[Any], str] = lambda progress: f"{progress.rate:6.1f} jobs/s") -> None:
        self.err = ctx.stderr
        self.drawn = False
        self.label = label
        self.detail = detail

    def show(self, progress: Any) -> None:
        width = 30
        filled = width * progress.done // progress.total if progress.total else width
        self.err.write(f"\r{self.label} {progress.done:>6}/{progress.total} [{'=' * filled}"
                       f"{' ' * (width - filled)}] {self.detail(progress)}")
        self.err.flush()
        self.drawn = True

    def end(self) -> None:
        if self.drawn:
            self.err.write("\n")


def _set_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="NODE.INPUT=VALUE",
                   help="override an input (repeatable); VALUE is JSON when it parses, else a string; the UI "
                   "graph's widget gets it too, or the UI graph is left out with a note")


def _threshold_options(p: argparse.ArgumentParser) -> None:
    """Image tolerances (SPEC §7), checked by `replay.artifacts.make_thresholds`."""
    p.add_argument("--pixel-threshold", type=int, default=None, metavar="T",
                   help="a channel difference <= T (0-255) does not count as changed (default 0)")
    p.add_argument("--max-diff-ratio", type=float, default=None, metavar="R",
                   help="images with at most this fraction of changed pixels count as the same (default 0)")
    p.add_argument("--min-psnr", type=float, default=None, metavar="DB",
                   help="images whose PSNR is at least DB decibels count as the same")


def _wait_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--wait-timeout", metavar="S", type=float, default=600.0,
                   help="seconds to follow the job with --wait (default 600)")
    p.add_argument("--no-preflight", action="store_true",
                   help="submit without checking the prompt against the graph rules and /object_info first")


def _strict_env_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--strict-env", action="store_true",
                   help="exit 2 before submitting when the server differs from where the recipe's job ran "
                        "(ComfyUI, PyTorch or package versions, devices, node classes, model files)")


class PreflightNotes:
    """The `on_preflight` callback of commands that submit: warnings (drift included) to stderr, the report kept
    for `--json` (`environment_drift`, and `environment`: the server's, captured at submit time)."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.report: PreflightReport | None = None

    def __call__(self, report: PreflightReport) -> None:
        self.report = report
        for finding in report.warnings:
            what = "environment drift" if finding.check == "environment" else "preflight"
            self.ctx.info(f"{PROG}: warning: {what}: {finding.message}")

    def json(self) -> dict[str, Any]:
        """`{"environment_drift": [...], "environment": {...} | null}` for the command's --json result."""
        report = self.report
        return {"environment_drift": report.drift_json() if report else [],
                "environment": report.environment if report else None}


def _check_strict_env(args: argparse.Namespace) -> None:
    if getattr(args, "strict_env", False) and getattr(args, "no_preflight", False):
        raise UsageError("--strict-env needs the preflight checks: drop --no-preflight")


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


