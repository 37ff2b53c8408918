"""The bisect command: which of BAD's changes, applied to GOOD, make it fail."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING

from replay.cli._base import (
    EXIT_NEGATIVE,
    EXIT_OK,
    Context,
    PreflightNotes,
    UsageError,
    _check_strict_env,
    _strict_env_option,
    arguments,
    command,
)
from replay.terminal import printable

if TYPE_CHECKING:
    from replay.bisect import Progress


def _bisect_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("good", metavar="GOOD", help="a completed job: job id, job/history JSON file, recipe, or prompt")
    p.add_argument("bad", metavar="BAD", help="a failed job of the same workflow (job id, job/history JSON, recipe)")
    p.add_argument("--max-runs", metavar="N", type=int, default=32,
                   help="submit at most N prompts, the two ends included (default 32); then stop with the best "
                        "answer so far")
    p.add_argument("--dry-run", action="store_true",
                   help="list the changes and the worst-case number of runs; submit nothing")
    p.add_argument("--trust-ends", action="store_true",
                   help="do not run GOOD and BAD again when their records already say completed and failed")
    p.add_argument("-o", "--output", metavar="FILE|DIR|-",
                   help="write GOOD plus exactly the culprit changes as a recipe (a .yaml file, a folder: "
                        "<bad_id>.bisect.yaml, or -); the run log NAME.runs.jsonl beside it lets an interrupted "
                        "bisect resume")
    p.add_argument("--wait-timeout", metavar="S", type=float, default=600.0,
                   help="seconds to wait for each run (default 600); a run still going is unresolved")
    p.add_argument("--no-preflight", action="store_true",
                   help="submit candidates without checking them against the graph rules and /object_info first")
    p.add_argument("--force", action="store_true", help="overwrite a file at the -o path that is not a bisect recipe")
    _strict_env_option(p)


@command("bisect", "find which of BAD's changes make GOOD fail, with real runs (delta debugging)",
         "Diff GOOD (a completed job) and BAD (a failed one) node by node, then run GOOD with subsets of BAD's\n"
         "changes (ddmin) until a smallest set that still fails the way BAD failed is left. Each prompt runs once;\n"
         "with -o the runs are logged beside the recipe and an interrupted bisect resumes. Exit 0 when found,\n"
         "1 when the ends do not behave as claimed, 3 on server failure.\n"
         "Before the first run, GOOD's recorded environment (BAD's when GOOD has none) is compared with the\n"
         "server's once: drift is a warning, and --strict-env exits 2 before anything is submitted.\n"
         "Example: comfy-replay bisect 1a567a26-bc8d-43fa-ac59-6530fa6aead0 236fddc5-58cc-47dd-ba51-94740186d175 -o culprit.yaml")
@arguments(_bisect_args)
def cmd_bisect(ctx: Context) -> int:
    from replay.bisect import (  # noqa: PLC0415
        bisect_jobs,
        bisect_target,
        check_target,
        log_path,
        plan_bisect,
        write_bisect,
    )
    from replay.bisect_render import render_bisect, render_plan  # noqa: PLC0415

    a = ctx.args
    if a.max_runs < 1:
        raise UsageError(f"--max-runs must be at least 1, not {a.max_runs}")
    if a.output == "-" and ctx.as_json:
        raise UsageError("-o - and --json both write to stdout: write the recipe to a file with -o FILE")
    _check_strict_env(a)
    good = ctx.load_job(a.good)
    bad = ctx.load_job(a.bad)
    if a.dry_run:
        result = plan_bisect(good, bad)
        result.max_runs = a.max_runs
        if ctx.as_json:
            ctx.emit_json(result.to_json())
        else:
            ctx.stdout.write(printable(render_plan(result)))  # change values are the job's text
        return EXIT_OK
    target = bisect_target(a.output, bad.id) if a.output else None
    if target is not None:
        check_target(target, force=a.force)
    show = _progress(ctx)
    try:
        result = bisect_jobs(ctx.client(), good, bad, max_runs=a.max_runs, trust_ends=a.trust_ends,
                             log=log_path(target), wait_timeout=a.wait_timeout, preflight=not a.no_preflight,
                             on_progress=show, strict_env=a.strict_env, on_preflight=PreflightNotes(ctx))
    finally:
        if show is not None:
            ctx.stderr.write("\r\033[K")
    text = None
    if a.output and result.found:
        path, state = write_bisect(result, a.output, force=a.force, api_key=ctx.api_key)
        if path == "-":
            text = state
    if ctx.as_json:
        ctx.emit_json(result.to_json())
    else:
        rendered = printable(render_bisect(result, color=ctx.color()), colours=ctx.color())
        if text is not None:
            ctx.info(rendered.rstrip("\n"))
        else:
            ctx.stdout.write(rendered)
    if text is not None:
        ctx.stdout.write(text)
    # No answer at all (the ends misbehaved, or --max-runs ran out before they were confirmed) is a negative one.
    return EXIT_OK if result.found else EXIT_NEGATIVE


def _progress(ctx: Context) -> Callable[[Progress], None] | None:
    """A callback drawing `run 3 of at most 32: ...` on stderr, only on a terminal and not with -q or --json."""
    from replay.bisect_render import progress_line  # noqa: PLC0415

    isatty = getattr(ctx.stderr, "isatty", None)
    if not (isatty and isatty()) or getattr(ctx.args, "quiet", False) or ctx.as_json:
        return None

    def show(progress: Progress) -> None:
        ctx.stderr.write("\r\033[K" + progress_line(progress))
        ctx.stderr.flush()

    return show
