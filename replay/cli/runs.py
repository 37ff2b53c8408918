"""Commands that run prompts on a server: repro, submit."""

from __future__ import annotations

import argparse
from pathlib import Path

from replay.cli._base import (
    EXIT_NEGATIVE,
    EXIT_OK,
    Context,
    PreflightNotes,
    UsageError,
    _check_strict_env,
    _end_progress,
    _progress,
    _set_option,
    _strict_env_option,
    _wait_options,
    arguments,
    command,
)
from replay.errors import GraphError
from replay.terminal import one_line, printable


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
    _strict_env_option(p)


@command("repro", "rebuild a failed job as a resubmittable recipe, optionally rerun it and judge the result",
         "From a failed job's execution_error, write a recipe that can run again: the whole prompt, or with\n"
         "--minimal only what is needed to hit the failure. --set tries a fix; --submit posts it; --wait follows\n"
         "it and prints the verdict: reproduced, different-failure or not-reproduced (all exit 0).\n"
         "Before --submit, environment drift from the recipe is a warning (--strict-env: exit 2, nothing posted).\n"
         "Example: comfy-replay repro f7838b83-aab4-48ed-96a5-1e0cb6760bc6 --minimal --submit --wait")
@arguments(_repro_args)
def cmd_repro(ctx: Context) -> int:
    from replay.jobs import is_job_id  # noqa: PLC0415
    from replay.repro import render_repro, rerun, write_repro  # noqa: PLC0415
    from replay.submit import server_defs  # noqa: PLC0415
    from replay.workflow import parse_set  # noqa: PLC0415

    a = ctx.args
    if a.wait and not a.submit:
        raise UsageError("--wait follows a submitted job: add --submit")
    _check_strict_env(a)
    sets = [parse_set(text) for text in a.sets]
    ctx.check_references(a.job)
    job = ctx.load_job(a.job)
    if job.source.get("server"):
        from replay.environment import ensure_environment  # noqa: PLC0415

        for note in ensure_environment(job, ctx.client()):
            ctx.info(f"note: {note}")
    defs = ctx.node_definitions(a.object_info, required=True) if a.object_info else None
    if defs is None and (a.submit or is_job_id(a.job) and not Path(a.job).exists()):
        # Only a job fetched now or a prompt about to be posted talks to the server; a local file stays local.
        defs = server_defs(ctx.client())
    run = write_repro(job, minimal=a.minimal, sets=sets, pin_inputs=a.pin_inputs, defs=defs, out=a.output,
                      force=a.force, api_key=ctx.api_key)
    if run.state == "printed":
        ctx.stdout.write(run.recipe_text)
    notes = PreflightNotes(ctx)
    if a.submit:
        progress = _progress(ctx, "the new job")
        try:
            rerun(run, ctx.client(), wait=a.wait, wait_timeout=a.wait_timeout, preflight=not a.no_preflight,
                  defs=defs, on_progress=progress, strict_env=a.strict_env, on_preflight=notes,
                  on_submitted=(lambda job_id: ctx.info(f"submitted job {job_id}")) if a.wait else None)
        except GraphError as exc:  # preflight refused it: the recipe is on disk all the same, say where
            if run.state == "printed":
                raise
            raise GraphError(f"{exc.message}; the recipe {run.recipe_path} was written: fix it there and "
                             f"`comfy-replay submit {run.recipe_path}`", problems=exc.problems) from exc
        finally:
            _end_progress(ctx, progress)
    if ctx.as_json:
        ctx.emit_json({**run.to_json(), **notes.json()})
    elif run.state == "printed":
        ctx.info(render_repro(run).rstrip("\n"))
    else:
        ctx.stdout.write(printable(render_repro(run)))  # the failure's message is the server's text
    return EXIT_OK


def _submit_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", metavar="RECIPE|FILE", help="a recipe, job JSON, history entry or API prompt (or -)")
    _set_option(p)
    p.add_argument("--wait", action="store_true", help="follow the job to the end; exit 1 if it fails or is cancelled")
    _wait_options(p)
    p.add_argument("--object-info", metavar="FILE",
                   help="node definitions for the preflight checks instead of the server's /object_info")
    _strict_env_option(p)


@command("submit", "post a recipe's or file's prompt to the server",
         "Post the prompt (with the UI graph as extra_pnginfo.workflow, and a repro recipe's targets) to\n"
         "/api/prompt after a preflight check, and print the new job id. --wait follows the job to the end.\n"
         "The preflight compares the recipe's environment with the server's: drift (other versions, missing node\n"
         "classes or model files) is a warning, and --strict-env exits 2 before anything is posted.\n"
         "Example: comfy-replay submit recipes/f7838b83-aab4-48ed-96a5-1e0cb6760bc6.repro.yaml --wait")
@arguments(_submit_args)
def cmd_submit(ctx: Context) -> int:
    from replay.repro import describe_error, error_fields  # noqa: PLC0415
    from replay.submit import submit_job, wait_for_job  # noqa: PLC0415
    from replay.workflow import parse_set  # noqa: PLC0415

    a = ctx.args
    _check_strict_env(a)
    sets = [parse_set(text) for text in a.sets]
    ctx.check_references(a.file)
    job = ctx.load_job(a.file)
    defs = ctx.node_definitions(a.object_info, required=True) if a.object_info else None
    notes = PreflightNotes(ctx)
    job_id = submit_job(ctx.client(), job, sets=sets, preflight=not a.no_preflight, defs=defs,
                        strict_env=a.strict_env, on_preflight=notes, on_note=lambda note: ctx.info(f"note: {note}"))
    if not a.wait:
        if ctx.as_json:
            ctx.emit_json({"job_id": job_id, "status": None, "error": None, **notes.json()})
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
        ctx.emit_json({"job_id": job_id, "status": new.status, "error": error_fields(new.error), **notes.json()})
    else:
        ctx.print(job_id)
        ctx.print(one_line(f"failed at {describe_error(new.error)}") if new.status == "failed" else str(new.status))
    return EXIT_OK if new.status == "completed" else EXIT_NEGATIVE


