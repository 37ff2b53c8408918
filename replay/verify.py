"""`verify`: re-run recipes of completed jobs on one or more servers and check their outputs are still the same.

A suite is a list of recipes that recorded their outputs (`artifacts`, SPEC §7). Each recipe's prompt is
submitted exactly as recorded; on an open-source server the node cache is cleared first (`POST /api/free`), so
the run recomputes every node. The new outputs are downloaded and compared by content with the recorded ones. (ComfyUI applies `/api/free`
between two jobs; a worker still busy after the previous job may serve the next prompt from the cache first and
clear it after: such a run is submitted once more, and only a run served from the cache again is `cached`.)

Several servers share the suite: one worker thread per server takes the next recipe when its server is free, so
each server runs one job at a time (ComfyUI runs one at a time anyway) and every recipe runs exactly once. A
server that stops answering gets its recipe reported as `error` and takes no more work; the others go on.
Results come back in recipe order whatever the finish order. Ctrl-C (in the main thread) stops the run: the
jobs in hand are abandoned and VerifyInterrupted carries what was verified so far. This module never prints.

Before each POST the preflight (`replay.preflight.run_preflight`, through `submit_job`) compares the recipe's
`environment` with the server's: the drift and the server's environment, captured at run time, go into the
result (and into the recipe with `--update`). With `strict_env` every recipe is checked against every server
before anything is submitted. Either way a server costs two GETs (`/system_stats`, `/object_info`), cached by
its client. With `report`, the HTML report of the run is written while the new outputs are still on disk.
"""

from __future__ import annotations

import os
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from replay import canonical
from replay.errors import (
    AuthError,
    DocumentError,
    EnvironmentDrift,
    GraphError,
    InputError,
    ReplayError,
    ServerError,
    SubmitRejected,
    WaitTimeout,
)
from replay.jobs import Job, cached_nodes
from replay.recipe import dumps_recipe, job_from_recipe, loads_recipe, ordered_artifact
from replay.workflow import natural_key

if TYPE_CHECKING:
    from replay.client import Client
    from replay.nodedefs import NodeDefs
    from replay.outputs import OutputPair, OutputStore, Thresholds
    from replay.preflight import PreflightReport

RESULTS = ("match", "mismatch", "failed", "cached", "error")
DEFAULT_WAIT_TIMEOUT = 600.0
# A suite is many short jobs on servers we keep busy: poll sooner than `submit --wait` does (it starts at 0.5 s and
# backs off to 5 s), so a 0.3 s job is seen finished after 0.3-0.7 s rather than 1.5 s. A poll is one small GET.
FIRST_POLL, MAX_POLL = 0.1, 1.0
_FETCH_HINT = "fetch it again with its outputs: `comfy-replay fetch {ref} -o {path} --outputs`"


class VerifyInterrupted(KeyboardInterrupt):
    """Ctrl-C during a verify run; `run` holds the recipes verified before it."""

    def __init__(self, run: VerifyRun) -> None:
        super().__init__("interrupted")
        self.run = run


class _Stopped(Exception):
    """Raised inside a worker when the run is being stopped (Ctrl-C): the job in hand is abandoned."""


# ---------------------------------------------------------------------------------------------- the suite


@dataclass
class SuiteRecipe:
    """One recipe of the suite: where it is, what it holds, what it recorded, and where its outputs are stored."""

    path: Path
    recipe: dict[str, Any]
    job: Job
    artifacts: list[dict[str, Any]]

    @property
    def store_root(self) -> Path:
        """The content-addressed store of this recipe's outputs: `outputs/` beside it (as `fetch --outputs`)."""
        from replay.artifacts import store_dir_beside  # noqa: PLC0415

        return store_dir_beside(self.path)


def _recipe_files(ref: str) -> list[Path]:
    path = Path(ref)
    if path.is_dir():
        found = [p for p in path.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()
                 and not any(part.startswith(".") for part in p.relative_to(path).parts)]
        if not found:
            raise InputError(f"{ref}: no recipes (*.yaml, *.yml) in this folder")
        return sorted(found, key=lambda p: [natural_key(part) for part in p.relative_to(path).parts])
    if not path.exists():
        raise InputError(f"{ref}: no such file or folder")
    return [path]


def load_suite(refs: Iterable[str | Path]) -> list[SuiteRecipe]:
    """Read the recipes named by files and folders (searched recursively, hidden folders skipped), in order.

    Raises InputError naming the recipe when one cannot be verified: not a recipe, a job that did not
    complete, no prompt, or no recorded `artifacts` (the message says how to get them).
    """
    suite: list[SuiteRecipe] = []
    seen: set[Path] = set()
    for ref in refs:
        for path in _recipe_files(str(ref)):
            key = path.resolve()
            if key in seen:
                continue
            seen.add(key)
            suite.append(_load_one(path))
    if not suite:
        raise InputError("no recipes to verify: name recipe files or folders of them")
    return suite


def _load_one(path: Path) -> SuiteRecipe:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DocumentError(f"cannot read: {exc.strerror or exc}", file=str(path)) from exc
    recipe = loads_recipe(raw, file=str(path))
    job = job_from_recipe(recipe)
    ref = (recipe.get("source") or {}).get("job_id") or "JOB"
    if not isinstance(recipe.get("job"), dict):
        raise InputError(f"{path}: the recipe holds no job record, so there are no outputs to compare with; "
                         f"verify needs the recipe of a completed job: {_FETCH_HINT.format(ref='JOB', path=path)}")
    if job.status != "completed":
        raise InputError(f"{path}: the recorded job is {job.status or 'of unknown status'}, not completed: verify "
                         "re-runs completed jobs and compares their outputs (for a failed job, see `comfy-replay "
                         "repro`)")
    if not job.prompt:
        raise InputError(f"{path}: the recipe has no API prompt to run")
    if not job.artifacts:
        raise InputError(f"{path}: the recipe records no outputs (no `artifacts`); "
                         f"{_FETCH_HINT.format(ref=ref, path=path)}")
    return SuiteRecipe(path, recipe, job, job.artifacts)


# ---------------------------------------------------------------------------------------------- results


@dataclass
class VerifyResult:
    """What re-running one recipe gave: `result` is one of RESULTS.

    `outputs` are the compared pairs (recorded = a, new = b); `failure` the failing node of a `failed` rerun
    (`node_id`, `node_type`, `exception_type`, `message`); `error` says in words why a recipe is `failed`,
    `cached` or `error`. `artifacts` are the new outputs (what `--update` records). `environment_drift` is how
    the server differs from the recipe's `environment` (SPEC §9, `Drift.to_json()` each); `environment` is the
    server's environment for this prompt captured at submit time (`captured: run`; None without a preflight).
    """

    recipe: str
    result: str
    server: str | None = None
    job_id: str | None = None
    outputs: list[OutputPair] = field(default_factory=list)
    cached_nodes: list[str] = field(default_factory=list)
    error: str | None = None
    failure: dict[str, str] | None = None
    seconds: float = 0.0
    artifacts: list[dict[str, Any]] = field(default_factory=list)
    updated: bool = False
    environment_drift: list[dict[str, Any]] = field(default_factory=list)
    environment: dict[str, Any] | None = None
    server_lost: bool = field(default=False, repr=False)

    @property
    def differing(self) -> list[OutputPair]:
        """The output pairs that count as changed."""
        return [pair for pair in self.outputs if not pair.within_tolerance]

    def to_json(self) -> dict[str, Any]:
        """The SPEC §4 `verify` result shape (plus `failure`, `seconds`, `updated` and the SPEC §9
        `environment_drift` and run-time `environment`)."""
        return {"recipe": self.recipe, "result": self.result, "server": self.server, "job_id": self.job_id,
                "outputs": [pair.to_json() for pair in self.outputs], "cached_nodes": list(self.cached_nodes),
                "error": self.error, "failure": self.failure, "seconds": round(self.seconds, 3),
                "updated": self.updated, "environment_drift": list(self.environment_drift),
                "environment": self.environment}


@dataclass
class ServerReport:
    """How one server took part: the jobs it ran, and why it stopped taking work (None: it never did)."""

    server: str
    jobs: int = 0
    lost: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"server": self.server, "jobs": self.jobs, "lost": self.lost}


@dataclass
class VerifyRun:
    """A whole verify run: results in recipe order (only those verified when `interrupted`)."""

    results: list[VerifyResult]
    total: int
    seconds: float
    servers: list[ServerReport]
    interrupted: bool = False

    @property
    def counts(self) -> dict[str, int]:
        """How many recipes ended in each result (every result named, zeros included)."""
        counts = dict.fromkeys(RESULTS, 0)
        for result in self.results:
            counts[result.result] += 1
        return counts

    @property
    def exit_code(self) -> int:
        """SPEC §8: 0 every recipe matches, 1 any mismatch/failed/cached, 3 any error and none of those."""
        counts = self.counts
        if counts["mismatch"] or counts["failed"] or counts["cached"]:
            return 1
        if counts["error"]:
            return 3
        return 0

    def to_json(self) -> dict[str, Any]:
        """The SPEC §4 `verify` shape: results and counts (plus servers, seconds, total, interrupted)."""
        return {"results": [result.to_json() for result in self.results], "counts": self.counts,
                "total": self.total, "seconds": round(self.seconds, 3), "interrupted": self.interrupted,
                "servers": [server.to_json() for server in self.servers]}


@dataclass
class Progress:
    """Where a run is, for a progress display: recipes done of `total`, the counts so far, and since when."""

    total: int
    done: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(RESULTS, 0))
    started: float = field(default_factory=time.monotonic)


# ---------------------------------------------------------------------------------------------- one recipe


@dataclass
class _Server:
    """A worker's view of its server: the client, what it learned when it started, and whether it is lost."""

    client: Client
    report: ServerReport
    can_free: bool = True  # False on Comfy Cloud, and on a server that answered /api/free with 404 or 405
    defs: NodeDefs | None = None
    prepared: bool = False


@dataclass(frozen=True)
class _Settings:
    thresholds: Thresholds
    keep_cache: bool
    wait_timeout: float
    preflight: bool
    update: bool
    strict_env: bool = False


def _describe_failure(job: Job, redact: Callable[[str], str]) -> tuple[str, dict[str, str] | None]:
    err = job.error
    if err is None:
        return "the rerun failed without an execution_error from the server", None
    failure = {"node_id": err.node_id, "node_type": err.node_type, "exception_type": err.exception_type,
               "message": redact(err.first_line)}
    where = f"node {err.node_id}" + (f" ({err.node_type})" if err.node_type else "")
    return f"{where}: {err.exception_type}: {failure['message']}".rstrip(": "), failure


def _verify_one(server: _Server, item: SuiteRecipe, settings: _Settings, new_store: OutputStore,
                sleep: Callable[[float], None]) -> VerifyResult:
    from replay.jobs import all_outputs_cached  # noqa: PLC0415
    from replay.outputs import OutputStore, compare_artifacts, download_outputs  # noqa: PLC0415
    from replay.submit import submit_job, wait_for_job  # noqa: PLC0415

    client = server.client
    result = VerifyResult(recipe=str(item.path), result="error", server=client.server)
    start = time.monotonic()

    def keep(report: PreflightReport) -> None:
        result.environment_drift, result.environment = report.drift_json(), report.environment

    clear = not settings.keep_cache and server.can_free
    try:
        if clear:
            try:
                client.free()
            except ServerError as exc:
                if exc.status not in (404, 405):
                    raise
                # A server without the route: its runs are judged by what it says it took from its cache.
                server.can_free = clear = False
        result.job_id = submit_job(client, item.job, preflight=settings.preflight, defs=server.defs,
                                   strict_env=settings.strict_env, on_preflight=keep)
        server.report.jobs += 1
        new = wait_for_job(client, result.job_id, wait_timeout=settings.wait_timeout, sleep=sleep,
                           first_poll=FIRST_POLL, max_poll=MAX_POLL)
        if clear and new.status == "completed" and all_outputs_cached(new):
            # ComfyUI applies /api/free between two jobs, when its worker next looks at its flags. A worker still
            # busy after the previous job (garbage collection) takes our prompt first and serves it from the cache,
            # then clears the cache (seen on a real 0.33 server in about 1 run of 6). Now it is cleared: run again.
            result.job_id = submit_job(client, item.job, preflight=False, defs=server.defs)
            new = wait_for_job(client, result.job_id, wait_timeout=settings.wait_timeout, sleep=sleep,
                               first_poll=FIRST_POLL, max_poll=MAX_POLL)
        if new.status == "failed":
            result.result = "failed"
            result.error, result.failure = _describe_failure(new, client.redact)
        elif new.status != "completed":
            result.error = f"the rerun ended {new.status} (cancelled on the server), so it checked nothing"
        else:
            result.cached_nodes = sorted(cached_nodes(new) or [], key=natural_key)
            if all_outputs_cached(new):
                result.result = "cached"
                result.error = ("the server took every output from its cache and recomputed nothing, so nothing "
                                "was verified" + (" (--keep-cache)" if settings.keep_cache else ""))
            else:
                result.artifacts = download_outputs(client, new.outputs, new_store)
                recorded = OutputStore(item.store_root) if item.store_root.is_dir() else None
                result.outputs = compare_artifacts(item.artifacts, result.artifacts, store_a=recorded,
                                                   store_b=new_store, thresholds=settings.thresholds)
                result.result = "mismatch" if result.differing else "match"
    except (SubmitRejected, GraphError) as exc:
        lines = list(getattr(exc, "lines", None) or getattr(exc, "problems", None) or [])
        result.error = str(exc) + ("".join(f"; {line}" for line in lines[:5]))
    except WaitTimeout as exc:
        result.error = str(exc)
    except (ServerError, AuthError) as exc:
        result.error = str(exc)
        result.server_lost = True
    except ReplayError as exc:  # anything else the library raises about this recipe
        result.error = str(exc)
    result.seconds = time.monotonic() - start
    return result


# ---------------------------------------------------------------------------------------------- the run


class _Run:
    """The shared state of a run: the next recipe to hand out, the results queue, the stop flag."""

    def __init__(self, suite: list[SuiteRecipe], settings: _Settings, new_store: OutputStore) -> None:
        self.suite = suite
        self.settings = settings
        self.new_store = new_store
        self.stop = threading.Event()
        self.results: queue.Queue[tuple[int, VerifyResult]] = queue.Queue()
        self.crash: BaseException | None = None  # an unexpected exception in a worker, raised again by verify()
        self._next = 0
        self._lock = threading.Lock()

    def take(self) -> int | None:
        """The index of the next recipe nobody has taken, or None when all are taken (or the run stops)."""
        with self._lock:
            if self.stop.is_set() or self._next >= len(self.suite):
                return None
            self._next += 1
            return self._next - 1

    def sleep(self, seconds: float) -> None:
        if self.stop.wait(seconds):
            raise _Stopped

    def worker(self, server: _Server) -> None:
        if server.report.lost:
            return  # lost while the environments were checked (strict_env)
        try:
            _prepare(server)
        except (ServerError, AuthError) as exc:
            server.report.lost = str(exc)
            return
        while True:
            index = self.take()
            if index is None:
                return
            try:
                result = _verify_one(server, self.suite[index], self.settings, self.new_store, self.sleep)
            except _Stopped:
                return
            except Exception as exc:  # a bug, or a store we cannot write to: stop the run and say so
                self.crash = exc
                self.stop.set()
                return
            self.results.put((index, result))
            if result.server_lost:
                server.report.lost = result.error
                return


def _prepare(server: _Server) -> None:
    """Ask the server once what it is (Cloud has no /api/free) and for its node definitions (preflight)."""
    from replay.submit import server_defs  # noqa: PLC0415

    if server.prepared:
        return
    client = server.client
    try:
        system = client.system_stats().get("system")
    except ServerError as exc:
        if exc.status is None or exc.status >= 500:
            raise  # unreachable or failing: this server takes no work
        system = None  # a proxy or an old server without the route: still worth trying
    server.can_free = not ((isinstance(system, dict) and "cloud_version" in system)
                           or client.server == "https://cloud.comfy.org")
    server.defs = server_defs(client)
    server.prepared = True


def _check_environments(suite: Sequence[SuiteRecipe], servers: Sequence[_Server]) -> None:
    """`strict_env`: compare every recipe with every server that answers, before anything is submitted; raise
    EnvironmentDrift (each difference named with its recipe, and its server when there are several) on drift.

    A server that does not answer is marked lost here, as its worker would have found. The GETs are the client's
    cached two, which the workers then reuse.
    """
    from replay.preflight import run_preflight  # noqa: PLC0415

    found = []
    for server in servers:
        try:
            _prepare(server)
        except (ServerError, AuthError) as exc:
            server.report.lost = str(exc)
            continue
        where = f" on {server.client.server}" if len(servers) > 1 else ""
        for item in suite:
            report = run_preflight(item.job.prompt or {}, client=server.client, defs=server.defs,
                                   ui_workflow=item.job.ui_workflow, environment=item.job.environment)
            found += [replace(d, message=f"{item.path}{where}: {d.message}") for d in report.drift]
    if found:
        raise EnvironmentDrift(found)


def verify(
    recipes: Iterable[str | Path],
    clients: Sequence[Client],
    *,
    thresholds: Thresholds | None = None,
    keep_cache: bool = False,
    wait_timeout: float = DEFAULT_WAIT_TIMEOUT,
    update: bool = False,
    preflight: bool = True,
    strict_env: bool = False,
    outputs_dir: str | Path | None = None,
    report: str | Path | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    on_result: Callable[[VerifyResult], None] | None = None,
) -> VerifyRun:
    """Re-run every recipe (files, or folders searched recursively) on the servers of `clients`; return the run.

    The suite is read and checked first (InputError, before anything is sent, for a recipe that cannot be
    verified). Each server runs one job at a time; `keep_cache` skips `POST /api/free`. Before each POST the
    preflight compares the recipe's environment with the server's (drift and the run-time environment go into
    the result); `strict_env` first checks every recipe against every server and raises EnvironmentDrift before
    anything is submitted. New outputs are downloaded into `outputs_dir` (default: a temporary folder removed at
    the end); with `update`, a `mismatch` recipe's new files are copied into its store and its `artifacts` and
    `environment` rewritten, atomically (`failed`, `cached` and `error` runs are never recorded; a `match` leaves
    the recipe and its store as they are). `report`: write the HTML report of the run there (also of an
    interrupted run), while the new outputs still exist. `on_result` is called in the calling thread as each
    recipe finishes (in finish order). Ctrl-C raises VerifyInterrupted carrying what was verified.
    """
    from replay.archive import _ctrl_c_sets  # noqa: PLC0415
    from replay.outputs import OutputStore, Thresholds  # noqa: PLC0415

    if not clients:
        raise InputError("verify needs at least one server")
    if wait_timeout <= 0:
        raise InputError(f"--wait-timeout must be a positive number of seconds, not {wait_timeout:g}")
    if strict_env and not preflight:
        raise InputError("--strict-env needs the preflight checks (preflight=True)")
    if report is not None:
        check_writable(report, "--report")
    suite = load_suite(recipes)
    settings = _Settings(thresholds if thresholds is not None else Thresholds(), keep_cache, wait_timeout,
                         preflight, update, strict_env)
    servers = [_Server(client, ServerReport(client.server)) for client in clients]
    if strict_env:
        _check_environments(suite, servers)
    scratch = tempfile.mkdtemp(prefix="comfy-replay-verify-") if outputs_dir is None else None
    new_store = OutputStore(Path(scratch) if scratch else Path(outputs_dir or "."))
    run = _Run(suite, settings, new_store)
    progress = Progress(total=len(suite))
    done: dict[int, VerifyResult] = {}
    start = time.monotonic()
    try:
        with _ctrl_c_sets(run.stop):
            threads = [threading.Thread(target=run.worker, args=(server,), name=f"verify-{i}", daemon=True)
                       for i, server in enumerate(servers)]
            for thread in threads:
                thread.start()
            while len(done) < len(suite) and not run.stop.is_set():
                try:
                    index, result = run.results.get(timeout=0.25)
                except queue.Empty:
                    if not any(thread.is_alive() for thread in threads) and run.results.empty():
                        break  # every server is lost: the recipes nobody took are reported below
                    if on_progress is not None:
                        on_progress(progress)
                    continue
                done[index] = _finish(suite[index], result, update, new_store)
                progress.done += 1
                progress.counts[result.result] += 1
                if on_result is not None:
                    on_result(result)
                if on_progress is not None:
                    on_progress(progress)
            interrupted = run.stop.is_set() and len(done) < len(suite)
            run.stop.set()
            for thread in threads:
                thread.join(timeout=0.5)
        if run.crash is not None:
            raise run.crash
        if not interrupted:
            lost = "; ".join(f"{s.report.server}: {s.report.lost}" for s in servers if s.report.lost)
            for index in range(len(suite)):
                if index not in done:
                    done[index] = VerifyResult(recipe=str(suite[index].path), result="error",
                                               error=f"not run: no server was left to run it ({lost or 'none answered'})")
        results = [done[index] for index in sorted(done)]
        verified = VerifyRun(results, len(suite), time.monotonic() - start, [s.report for s in servers], interrupted)
        if report is not None:
            write_report(verified, report, suite=suite, new_store=new_store,
                         pixel_threshold=settings.thresholds.pixel_threshold)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    if interrupted:
        raise VerifyInterrupted(verified)
    return verified


def check_writable(path: str | Path, option: str) -> None:
    """Raise InputError when no file can be written at `path` (its folder is missing or read-only)."""
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        raise InputError(f"{option} {path}: cannot write a file in {folder}")
    if os.path.isdir(path):
        raise InputError(f"{option} {path}: is a folder; name the file to write")


def write_report(run: VerifyRun, path: str | Path, *, suite: Sequence[SuiteRecipe], new_store: OutputStore,
                 pixel_threshold: int = 0) -> None:
    """Write the HTML report of `run` (SPEC §11) atomically; the recorded files come from each recipe's store,
    the new ones from `new_store`, so it must be called before a temporary `new_store` is removed."""
    from replay.outputs import OutputStore  # noqa: PLC0415
    from replay.report import render_verify_report  # noqa: PLC0415

    roots = dict.fromkeys(item.store_root for item in suite if item.store_root.is_dir())
    stores = [new_store, *(OutputStore(root) for root in roots)]
    page = render_verify_report(run, stores=stores, pixel_threshold=pixel_threshold)
    canonical.atomic_write(path, page.encode("utf-8"))


def _finish(item: SuiteRecipe, result: VerifyResult, update: bool, new_store: OutputStore) -> VerifyResult:
    """With --update, record a mismatching run's outputs as the recipe's artifacts: their files go into the
    recipe's store first, then the recipe is rewritten (each atomically), with the environment of the run that
    made them. Nothing else touches the store."""
    if update and result.result == "mismatch":
        from replay.outputs import OutputStore  # noqa: PLC0415

        store = OutputStore(item.store_root)
        for artifact in result.artifacts:
            source = new_store.path_for(artifact)
            if source is not None and not store.has(artifact):
                fd, temp = store.temporary()
                with os.fdopen(fd, "wb") as out, open(source, "rb") as data:
                    shutil.copyfileobj(data, out)
                store.adopt(temp, str(artifact["sha256"]), str(artifact.get("filename") or ""))
        write_artifacts(item.path, item.recipe, result.artifacts, environment=result.environment)
        result.updated = True
    return result


def write_artifacts(path: str | Path, recipe: Mapping[str, Any], artifacts: Sequence[Mapping[str, Any]], *,
                    environment: Mapping[str, Any] | None = None) -> bool:
    """Rewrite a recipe with new `artifacts` (temporary file and rename); return True when its bytes changed.

    `environment`: where the new artifacts were made (a run's capture), replacing the recorded section; None
    keeps it as it is.
    """
    updated = dict(recipe)
    updated["artifacts"] = [ordered_artifact(dict(item)) for item in artifacts]
    if environment is not None:
        updated["environment"] = dict(environment)
    return canonical.write_if_changed(path, dumps_recipe(updated).encode("utf-8"))


# The package exports `verify` under this name: `replay.verify` is also this module's name.
verify_recipes = verify

__all__ = ["DEFAULT_WAIT_TIMEOUT", "RESULTS", "Progress", "ServerReport", "SuiteRecipe", "VerifyInterrupted",
           "VerifyResult", "VerifyRun", "load_suite", "verify", "verify_recipes",
           "write_artifacts"]
