"""Commands that compare and convert workflows: diff, convert."""

from __future__ import annotations

import argparse
import json
import os
from typing import TYPE_CHECKING

from replay.cli._base import (
    EXIT_NEGATIVE,
    EXIT_OK,
    Context,
    UsageError,
    _threshold_options,
    arguments,
    command,
)
from replay.errors import InputError

if TYPE_CHECKING:
    from replay.diff import JobDiff


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
    ctx.check_references(a.ui_file, job_ids=False)
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
    p.add_argument("--format", choices=("text", "json", "md", "html"), default=None,
                   help="text (default), json (the --json shape), md (Markdown for a pull request) or html (one "
                        "self-contained page with the images side by side; use -o)")
    p.add_argument("-o", "--output", metavar="FILE", default="-",
                   help="write the result to FILE (atomically) instead of standard output")
    p.add_argument("--include-layout", action="store_true",
                   help="also compare UI layout (pos, size, extra.ds, order, colours, flags, groups)")
    p.add_argument("--ui", action="store_true", help="compare the UI workflows even when both sides have a prompt")
    p.add_argument("--tolerance", metavar="X", type=float, default=None, help="numbers within X of each other are equal")
    p.add_argument("--ignore", metavar="PATTERN", action="append", default=[],
                   help="deepdiff path to leave out, e.g. \"root[**]['seed']\" (repeatable; a bare word is refused)")
    p.add_argument("--exit-code", action="store_true", help="exit 1 when the two differ")
    p.add_argument("--outputs", nargs="?", const="", default=None, metavar="DIR",
                   help="compare output files by content, downloading (GET /api/view) what a side lacks into DIR "
                        "(default: outputs/ beside a recipe, else ./outputs); write it after A and B")
    _threshold_options(p)


@command("diff", "compare two jobs, recipes or workflows node by node",
         "Compare two jobs node by node: nodes added, removed and changed (each changed input's old and new value,\n"
         "links as node[slot]), titles, outputs, status and error. UI layout is ignored unless --include-layout.\n"
         "When both sides have artifacts (fetch --outputs), output files are compared by content, not name:\n"
         "identical, same-pixels, different (with pixel metrics), incomparable or missing; --outputs downloads\n"
         "what a side lacks. Nodes a run took from ComfyUI's cache are named.\n"
         "--format html -o report.html writes one self-contained page (images inline, no network, at most\n"
         "20 MiB): both jobs, node changes as tables, each output's a, b and difference image with its numbers.\n"
         "Example: comfy-replay diff recipes/examples/success_a.job.json recipes/examples/fail_runtime_zerodiv.job.json")
@arguments(_diff_args)
def cmd_diff(ctx: Context) -> int:
    from replay.diff import diff_jobs  # noqa: PLC0415
    from replay.diff_render import render_markdown, render_text, to_json  # noqa: PLC0415

    a = ctx.args
    if a.a == "-" and a.b == "-":
        raise UsageError("only one of A and B can be - (standard input)")
    if ctx.as_json and a.format not in (None, "json"):
        raise UsageError(f"--json and --format {a.format} ask for two formats: give one of them")
    ctx.check_references(a.a, a.b)
    jobs = ctx.load_job(a.a), ctx.load_job(a.b)
    thresholds = stores = None
    if any(job.artifacts is not None for job in jobs) or a.outputs is not None:
        from replay.artifacts import make_thresholds, side_store  # noqa: PLC0415 - Pillow only for outputs

        thresholds = make_thresholds(a.pixel_threshold, a.max_diff_ratio, a.min_psnr)
        stores = [side_store(job, ref, outputs=a.outputs, client_factory=ctx.client)
                  for job, ref in zip(jobs, (a.a, a.b), strict=True)]
    result = diff_jobs(*jobs, tolerance=a.tolerance, ignore=a.ignore, include_layout=a.include_layout, ui=a.ui,
                       thresholds=thresholds, stores=stores or (None, None))
    lacking = [name for name, job in zip("AB", jobs, strict=True) if job.artifacts is None and job.is_terminal]
    if len(lacking) == 1 and a.outputs is None:
        ctx.info(f"note: {lacking[0]} has no artifacts, so output files are compared by name; "
                 "add --outputs to download its files and compare them by content")
    elif len(lacking) == 2 and a.outputs is None and _renamed_files(result):
        # Two runs of one prompt always name their files apart: say how to learn whether the pictures differ.
        ctx.info("note: output files are compared by name only (neither side has artifacts); "
                 "add --outputs to download them and compare them by content")
    fmt = "json" if ctx.as_json else a.format or "text"
    if fmt == "json":
        text = json.dumps(to_json(result), indent=2, ensure_ascii=False) + "\n"
    elif fmt == "md":
        text = render_markdown(result, labels=(a.a, a.b))
    elif fmt == "html":
        from replay.report import render_diff_report  # noqa: PLC0415

        text = render_diff_report(result, *jobs, stores=stores or (), labels=(a.a, a.b),
                                  pixel_threshold=a.pixel_threshold or 0)
    else:
        from replay.terminal import printable  # noqa: PLC0415

        colours = ctx.color() and a.output == "-"
        text = printable(render_text(result, colours, labels=(a.a, a.b)), colours=colours)
    _write_result(ctx, text, a.output)
    return EXIT_NEGATIVE if a.exit_code and not result.identical else EXIT_OK


def _renamed_files(result: JobDiff) -> bool:
    """Whether the outputs differ in files that exist on both sides under other names (not only in texts)."""
    return result.outputs is not None and any(node.changed for node in result.outputs.nodes)


def _write_result(ctx: Context, text: str, output: str) -> None:
    """Write a command's result to stdout (`-`) or atomically to a file, saying where it went."""
    if output == "-":
        ctx.stdout.write(text)
        return
    from replay.canonical import atomic_write  # noqa: PLC0415

    if os.path.isdir(output):
        raise InputError(f"-o {output}: is a folder; name the file to write, e.g. -o {os.path.join(output, 'report.html')}")
    try:
        atomic_write(output, text.encode("utf-8"))
    except OSError as exc:
        raise InputError(f"-o {output}: cannot write it ({exc.strerror or exc})") from exc
    ctx.info(f"wrote {output} ({len(text.encode('utf-8')):,} bytes)")


