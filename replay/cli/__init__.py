"""The command-line interface: argparse, one small function per command, errors mapped to exit codes.

A command parses its arguments, calls one library function, renders the result and returns an exit code.
`main(argv, stdin=..., stdout=..., stderr=...)` never calls sys.exit, so tests pass their own streams.
Heavy modules (jsonschema, deepdiff) are imported inside commands: `--help` and `--version` stay light.
Each command group lives in its own module (`jobs`, `runs`, `verify`, `diff`, `git`); importing them registers the commands
in the order `--help` lists them.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from typing import IO, BinaryIO

from replay import __version__
from replay.cli._base import (
    _COMMANDS,
    EXIT_INTERNAL,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    PROG,
    Context,
    _common_options,
    _Parser,
    command,
)
from replay.errors import ReplayError
from replay.terminal import printable

# Importing a group registers its commands; this order is the order `--help` lists them in.
COMMAND_GROUPS = ("jobs", "runs", "verify", "bisect", "diff", "git")
for _group in COMMAND_GROUPS:
    importlib.import_module(f"replay.cli.{_group}")


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
        # messages can quote a server's or a document's text: no control characters reach the terminal
        err.write(f"{PROG}: error: {printable(_one_line(str(exc)))}\n")
        for line in getattr(exc, "lines", []) or getattr(exc, "problems", []):
            err.write(f"  {printable(str(line))}\n")
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
