"""The verify command: re-run a folder of recipes as a regression suite on one or more servers."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from replay.cli._base import (
    EXIT_INTERRUPTED,
    PROG,
    Context,
    UsageError,
    _is_terminal,
    _ProgressBar,
    _strict_env_option,
    _threshold_options,
    arguments,
    command,
)
from replay.terminal import printable

if TYPE_CHECKING:
    from replay.client import Client
    from replay.verify import VerifyRun


def _verify_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="+", metavar="RECIPE|DIR",
                   help="recipes with recorded outputs, or folders of them (searched recursively)")
    p.add_argument("--server", dest="servers", action="append", default=[], metavar="URL",
                   help="a server to run on (repeat to spread the recipes over several, one job at a time each; "
                        "default: env COMFY_SERVER, else as for every command)")
    p.add_argument("--update", action="store_true",
                   help="record the new outputs of mismatching recipes as their artifacts, with the run's "
                        "environment (never a failed or cached run)")
    p.add_argument("--junit", metavar="FILE", help="also write JUnit XML (a test case per recipe) for CI systems")
    p.add_argument("--report", metavar="FILE",
                   help="also write one self-contained HTML page of the run: a summary table, then each recipe "
                        "that did not match in full (a, b and difference images, the numbers)")
    _threshold_options(p)
    p.add_argument("--wait-timeout", type=float, default=600.0, metavar="S",
                   help="seconds to wait for each job (default 600)")
    p.add_argument("--keep-cache", action="store_true",
                   help="do not clear the server's node cache first (POST /api/free); a run served from cache "
                        "is reported as cached, never as a match")
    _strict_env_option(p)


@command("verify", "re-run recipes and check their outputs are still the same",
         "Re-run the recipes of completed jobs that recorded their outputs (fetch --outputs) and compare\n"
         "the new outputs with the recorded ones by content: match, mismatch (with the numbers), failed,\n"
         "cached (nothing recomputed) or error. Several --server values share the recipes, one job at a\n"
         "time per server. Exit 0 all match, 1 any mismatch/failed/cached, 3 any error (and none of those),\n"
         "2 bad input. Before each POST the recipe's environment is compared with the server's: drift is a\n"
         "warning (and environment_drift in --json); --strict-env checks every recipe first and exits 2 on\n"
         "drift before anything is submitted. --report FILE writes an HTML report of the run.\n"
         "Example: comfy-replay verify recipes/ --server http://gpu1:8188 --server http://gpu2:8188")
@arguments(_verify_args)
def cmd_verify(ctx: Context) -> int:
    from replay.artifacts import make_thresholds  # noqa: PLC0415
    from replay.client import Client  # noqa: PLC0415
    from replay.errors import EnvironmentDrift  # noqa: PLC0415
    from replay.verify import VerifyInterrupted, check_writable, verify  # noqa: PLC0415
    from replay.verify_render import render_text, write_junit  # noqa: PLC0415

    a = ctx.args
    for option, path in (("--junit", a.junit), ("--report", a.report)):
        if path:
            check_writable(path, option)
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
                         wait_timeout=a.wait_timeout, update=a.update, strict_env=a.strict_env, report=a.report,
                         on_progress=bar.show if bar else None)
        except VerifyInterrupted as stop:
            run = stop.run
        except EnvironmentDrift as drift:
            for each in drift.drift:
                ctx.info(f"{PROG}: warning: environment drift: {each.message}")
            raise
    finally:
        if bar:
            bar.end()
        for client in clients:
            client.close()
    _warn_drift(ctx, run)
    if a.junit:
        write_junit(run, a.junit)
    if ctx.as_json:
        ctx.emit_json(run.to_json())
    else:
        ctx.stdout.write(printable(render_text(run, update=a.update)))  # error texts come from the server
    if run.interrupted:
        return EXIT_INTERRUPTED
    return run.exit_code


def _warn_drift(ctx: Context, run: VerifyRun) -> None:
    """One stderr warning per difference and server, naming the recipes it concerns (after the progress line)."""
    found: dict[tuple[str, str], list[str]] = {}
    for result in run.results:
        for drift in result.environment_drift:
            found.setdefault((str(result.server), str(drift["message"])), []).append(result.recipe)
    several = len({server for server, _ in found}) > 1
    for (server, message), recipes in found.items():
        where = f" on {server}" if several else ""
        names = ", ".join(recipes[:3]) + (f" and {len(recipes) - 3} more" if len(recipes) > 3 else "")
        ctx.info(f"{PROG}: warning: environment drift{where}: {message} ({names})")
