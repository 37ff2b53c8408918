"""The verify command: re-run a folder of recipes as a regression suite on one or more servers."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from replay.cli._base import (
    EXIT_INTERRUPTED,
    Context,
    UsageError,
    _is_terminal,
    _ProgressBar,
    _threshold_options,
    arguments,
    command,
)

if TYPE_CHECKING:
    from replay.client import Client


def _verify_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="RECIPE|DIR",
                   help="recipes with recorded outputs, or folders of them (searched recursively)")
    p.add_argument("--server", dest="servers", action="append", default=[], metavar="URL",
                   help="a server to run on (repeat to spread the recipes over several, one job at a time each; "
                        "default: env COMFY_SERVER, else as for every command)")
    p.add_argument("--update", action="store_true",
                   help="record the new outputs of mismatching recipes as their artifacts (never a failed or "
                        "cached run)")
    p.add_argument("--junit", metavar="FILE", help="also write JUnit XML (a test case per recipe) for CI systems")
    p.add_argument("--report", metavar="FILE", help="also write an HTML report (not available yet)")
    _threshold_options(p)
    p.add_argument("--wait-timeout", type=float, default=600.0, metavar="S",
                   help="seconds to wait for each job (default 600)")
    p.add_argument("--keep-cache", action="store_true",
                   help="do not clear the server's node cache first (POST /api/free); a run served from cache "
                        "is reported as cached, never as a match")


@command("verify", "re-run recipes and check their outputs are still the same",
         "Re-run the recipes of completed jobs that recorded their outputs (fetch --outputs) and compare\n"
         "the new outputs with the recorded ones by content: match, mismatch (with the numbers), failed,\n"
         "cached (nothing recomputed) or error. Several --server values share the recipes, one job at a\n"
         "time per server. Exit 0 all match, 1 any mismatch/failed/cached, 3 any error (and none of those),\n"
         "2 bad input.\n"
         "Example: comfy-replay verify recipes/ --server http://gpu1:8188 --server http://gpu2:8188")
@arguments(_verify_args)
def cmd_verify(ctx: Context) -> int:
    from replay.artifacts import make_thresholds  # noqa: PLC0415
    from replay.client import Client  # noqa: PLC0415
    from replay.verify import VerifyInterrupted, verify  # noqa: PLC0415
    from replay.verify_render import render_text, write_junit  # noqa: PLC0415

    a = ctx.args
    if a.report:
        raise UsageError("--report: the HTML report is not part of this version of comfy-replay yet; "
                         "use --junit FILE or --json for now")
    if a.junit:
        folder = os.path.dirname(os.path.abspath(a.junit))
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            raise UsageError(f"--junit {a.junit}: cannot write a file in {folder}")
    thresholds = make_thresholds(a.pixel_threshold, a.max_diff_ratio, a.min_psnr)
    if not a.wait_timeout > 0:
        raise UsageError(f"--wait-timeout must be a positive number of seconds, not {a.wait_timeout:g}")
    urls = list(dict.fromkeys(a.servers)) or [ctx.server]
    timeout = getattr(a, "timeout", None) or 30.0
    clients: list[Client] = []
    bar = (_ProgressBar(ctx, "verify", lambda p: ", ".join(f"{n} {name}" for name, n in p.counts.items() if n))
           if _is_terminal(ctx.stderr) and not getattr(a, "quiet", False) and not ctx.as_json else None)
    try:
        for url in urls:
            client = Client(url, ctx.api_key, timeout=timeout, pool_size=4)
            if any(c.server == client.server for c in clients):
                client.close()  # the same server twice would run two jobs at once on it
                continue
            clients.append(client)
        try:
            run = verify(a.paths, clients, thresholds=thresholds, keep_cache=a.keep_cache,
                         wait_timeout=a.wait_timeout, update=a.update, on_progress=bar.show if bar else None)
        except VerifyInterrupted as stop:
            run = stop.run
    finally:
        if bar:
            bar.end()
        for client in clients:
            client.close()
    if a.junit:
        write_junit(run, a.junit)
    if ctx.as_json:
        ctx.emit_json(run.to_json())
    else:
        ctx.stdout.write(render_text(run, update=a.update))
    if run.interrupted:
        return EXIT_INTERRUPTED
    return run.exit_code
