"""Commands that read jobs and write recipes: fetch, archive, show, validate, export."""

from __future__ import annotations

import argparse
import json

from replay.cli._base import (
    EXIT_INTERRUPTED,
    EXIT_NEGATIVE,
    EXIT_OK,
    EXIT_SERVER,
    PROG,
    Context,
    _is_terminal,
    _ProgressBar,
    arguments,
    command,
)
from replay.terminal import printable


def _fetch_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("jobs", nargs="+", metavar="JOB", help="job id, job/history/prompt/UI JSON file, recipe, or -")
    p.add_argument("-o", "--output", default="recipes", metavar="DIR|FILE|-",
                   help="folder (default recipes/), one .yaml file, or - for stdout")
    p.add_argument("--raw", action="store_true", help="also keep the job's JSON (secrets removed) beside the recipe")
    p.add_argument("--force", action="store_true", help="overwrite a recipe of another job at the target path")
    p.add_argument("--object-info", metavar="FILE",
                   help="node definitions (/object_info JSON, plain or .gz): UI-only files get a converted prompt")
    _outputs_option(p)


def _outputs_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--outputs", nargs="?", const="", default=None, metavar="DIR",
                   help="also download the files each job produced (GET /api/view) into a content-addressed folder "
                        "(default outputs/ beside the recipes) and record them as the recipe's artifacts; "
                        "write it after the jobs, or as --outputs=DIR")


@command("fetch", "get jobs, validate them and write their recipes",
         "Get each job (by id from the server, or from a file), validate it and write its recipe.\n"
         "--outputs also downloads the files the job produced and records them by content (artifacts).\n"
         "Example: comfy-replay fetch f7838b83-aab4-48ed-96a5-1e0cb6760bc6 -o recipes/ --outputs")
@arguments(_fetch_args)
def cmd_fetch(ctx: Context) -> int:
    from replay.fetching import fetch  # noqa: PLC0415

    a = ctx.args
    ctx.check_references(*a.jobs)
    defs = ctx.node_definitions(a.object_info, required=False) if a.object_info else None
    result = fetch(a.jobs, out=a.output, raw=a.raw, force=a.force, client_factory=ctx.client,
                   api_key=ctx.api_key, defs=defs, stdin=ctx.stdin, outputs=a.outputs,
                   defs_factory=lambda: ctx.node_definitions(None, required=False))
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
    _outputs_option(p)


@command("archive", "write a recipe for every finished job on the server",
         "List the server's jobs (every page of /api/jobs, or /history on older servers), fetch the finished\n"
         "ones concurrently and write DIR/<job_id>.yaml for each. Recipes already on disk are not fetched\n"
         "again (unless --refresh); nothing is ever deleted; Ctrl-C stops at once and a second run resumes.\n"
         "--outputs also downloads every job's output files (each content stored once) and records them.\n"
         "Exit 3 when any job could not be archived (each is listed with its reason).\n"
         "Example: comfy-replay archive -o recipes/ --status completed,failed")
@arguments(_archive_args)
def cmd_archive(ctx: Context) -> int:
    from replay.archive import ArchiveInterrupted, archive, parse_statuses, summary_lines  # noqa: PLC0415

    a = ctx.args
    statuses = parse_statuses(a.status)
    bar = _ProgressBar(ctx) if _is_terminal(ctx.stderr) and not getattr(a, "quiet", False) else None
    try:
        # with --outputs, as many download threads as fetching threads share the pool
        connections = max(a.concurrency, 1) * (2 if a.outputs is not None else 1)
        result = archive(ctx.client(pool_size=connections), a.output, statuses=statuses,
                         workflow_id=a.workflow_id, limit=a.limit, concurrency=a.concurrency, refresh=a.refresh,
                         api_key=ctx.api_key, on_progress=bar.show if bar else None, helpers=None,
                         outputs=a.outputs)
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
    quiet = getattr(a, "quiet", False)  # -q: the failures only, which are errors (no counts, no outputs line)
    if not quiet:
        ctx.stderr.write(f"{lines[0]}\n")
    for line in lines[1:]:
        if not (quiet and line.startswith("outputs: ")):
            ctx.stderr.write(f"  {line}\n")
    if result.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_SERVER if result.failed else EXIT_OK


def _show_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("job", metavar="JOB", help="job id, job/history/prompt/UI JSON file, recipe, or -")


@command("show", "a short human summary of a job",
         "Print a job's id, status, times, node count and outputs, which nodes ComfyUI took from its cache\n"
         "(when the server reports it), and for a failure the failing node, its class, the exception and the\n"
         "last traceback frame; for a repro recipe, the job it reproduces.\n"
         "Example: comfy-replay show recipes/fail_runtime_zerodiv.job.json")
@arguments(_show_args)
def cmd_show(ctx: Context) -> int:
    from replay.summary import render_summary, summarize  # noqa: PLC0415

    ctx.check_references(ctx.args.job)
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
    ctx.check_references(*a.files, job_ids=False)
    defs = ctx.node_definitions(a.object_info, required=False)
    problems = validate_files(a.files, strict=a.strict, defs=defs, stdin=ctx.stdin)
    if ctx.as_json:
        ctx.emit_json({"valid": not problems, "problems": [
            {"file": p.file, "location": p.location, "message": p.message} for p in problems]})
    else:
        for problem in problems:
            ctx.print(printable(str(problem)))  # a message can quote the document's text
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

    ctx.check_references(ctx.args.recipe)
    doc = export_document(ctx.load_job(ctx.args.recipe), ctx.args.what or "prompt", api_key=ctx.api_key)
    ctx.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    return EXIT_OK


