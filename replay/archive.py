"""Archive: a whole server's job history into a folder of recipes, concurrently, resumably and never destructively.

The job list is read page by page in the calling thread; the details are fetched by a few daemon worker
threads sharing the client's connection pool, and each recipe is written atomically as `DIR/<job_id>.yaml`.
On a machine with several cores, helper processes do the CPU part (validating, building and writing each
recipe) so the threads are not held up by the GIL. On Ctrl-C no new write starts, the writes in hand finish,
and the run reports what it did: no partial file is left and the next run picks up where this one stopped.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import TYPE_CHECKING, Any

from replay.artifacts import recipe_has_artifacts, recorded_artifacts
from replay.environment import CAPTURED_FETCH, capture_from_client, keep_first_capture
from replay.errors import InputError, MalformedResponse, ReplayError
from replay.fetching import FetchResult, check_job
from replay.jobs import JOB_STATUSES, TERMINAL_STATUSES, check_job_id, job_from_detail, split_workflow
from replay.recipe import build_recipe, write_recipe

if TYPE_CHECKING:
    from replay.client import Client
    from replay.outputs import OutputStore

DEFAULT_CONCURRENCY = 8
MAX_CONCURRENCY = 64
PAGE_SIZE = 1000  # the most Comfy Cloud serves per page; fewer round trips before the first fetch
# Below this many jobs to fetch, starting helper processes costs more than it saves.
MIN_JOBS_FOR_HELPERS = 64


class ArchiveInterrupted(KeyboardInterrupt):
    """Ctrl-C during an archive run; `result` holds what was done before it."""

    def __init__(self, result: ArchiveResult) -> None:
        super().__init__("interrupted")
        self.result = result


@dataclass
class ArchiveResult(FetchResult):
    """What an archive run did; `listed` counts the jobs the server listed."""

    listed: int = 0
    interrupted: bool = False
    outputs_dir: str | None = None
    """With `outputs`: the store the files went to, and how many files were recorded and missing on the server."""
    output_files: int = 0
    missing_files: int = 0


@dataclass
class Progress:
    """Where a run is, for a progress display: jobs done of `total`, and since when."""

    total: int
    done: int = 0
    started: float = field(default_factory=time.monotonic)

    @property
    def rate(self) -> float:
        """Jobs per second so far."""
        elapsed = time.monotonic() - self.started
        return self.done / elapsed if elapsed > 0 else 0.0


def parse_statuses(text: str | None) -> list[str] | None:
    """Turn `--status completed,failed` into a list; InputError naming the valid statuses on a typo."""
    if not text:
        return None
    statuses = [s.strip() for s in text.split(",") if s.strip()]
    unknown = [s for s in statuses if s not in JOB_STATUSES]
    if unknown or not statuses:
        raise InputError(f"--status: unknown status {', '.join(unknown) or repr(text)}; "
                         f"choose from {', '.join(JOB_STATUSES)}")
    return statuses


@dataclass
class _Plan:
    """The jobs to fetch, decided from the listing and what is on disk."""

    todo: list[str] = field(default_factory=list)
    on_disk: list[str] = field(default_factory=list)
    not_finished: list[str] = field(default_factory=list)
    bad_ids: list[dict[str, str]] = field(default_factory=list)
    listed: int = 0


def _plan(client: Client, folder: Path, *, statuses: list[str] | None, workflow_id: str | None,
          limit: int | None, refresh: bool, page_size: int, outputs: bool = False) -> _Plan:
    plan = _Plan()
    seen: set[str] = set()
    for entry in client.list_jobs(status=statuses, workflow_id=workflow_id, page_size=page_size, limit=limit):
        raw_id = str(entry.get("id"))
        try:
            job_id = check_job_id(raw_id)
        except InputError as exc:
            plan.bad_ids.append({"job_id": raw_id[:80], "error": f"the server listed an id that is not a UUID: {exc}"})
            continue
        if job_id in seen:  # the list is deduplicated already; this catches the same id in another letter case
            continue
        seen.add(job_id)
        plan.listed += 1
        if entry.get("status") not in TERMINAL_STATUSES:
            plan.not_finished.append(job_id)
        elif not refresh and (folder / f"{job_id}.yaml").exists() and (
                not outputs or recipe_has_artifacts(folder / f"{job_id}.yaml")):
            plan.on_disk.append(str(folder / f"{job_id}.yaml"))
        else:
            plan.todo.append(job_id)
    return plan


def _archive_detail(folder: str, job_id: str, detail: dict[str, Any], server: str,
                    api_key: str | None, environment: dict[str, Any] | None = None,
                    artifacts: list[dict[str, Any]] | None = None) -> tuple[str, str]:
    """Validate one fetched job detail and write its recipe: ("written"|"unchanged", path) or ("failed", why).

    `artifacts` are its downloaded outputs (with `--outputs`); without them a recipe on disk keeps its own.
    Runs in a helper process when there are some, so it takes and returns only plain values.
    """
    try:
        job = job_from_detail(detail)
        if job.id != job_id:
            raise MalformedResponse(f"the server answered job {job_id} with the record of job {job.id}")
        job.source = {"server": server}
        job.environment = environment
        check_job(job, job_id)
        target = os.path.join(folder, f"{job_id}.yaml")
        job.artifacts = artifacts if artifacts is not None else (
            recorded_artifacts(target, job.id) if os.path.exists(target) else None)
        recipe = keep_first_capture(target, build_recipe(job, server=server, api_key=api_key))
        return write_recipe(target, recipe), target
    except ReplayError as exc:
        return "failed", str(exc)
    except Exception as exc:  # noqa: BLE001 - a record we cannot handle must not stop the others
        return "failed", f"unexpected {type(exc).__name__} while archiving it: {exc}"


def _helper_main(conn: Connection) -> None:
    """A helper process: archive each job detail it is sent until the pipe closes. Ctrl-C is the parent's."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from replay.validate import warm_up  # noqa: PLC0415

    warm_up()  # compile the schemas now, while the parent waits for its first answers
    while True:
        try:
            args = conn.recv()
        except (EOFError, OSError):
            return
        conn.send(_archive_detail(*args))


class _Helpers:
    """Processes that do the CPU part (validating, building and writing recipes) beside the fetching threads.

    Threads alone share one core through the GIL, and the CPU part is most of an archive's work; each helper
    takes one job at a time over its own pipe. They come from a fork server, which is safe beside threads.
    """

    def __init__(self, count: int) -> None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["replay.archive", "replay.validate"])
        self.free: queue.SimpleQueue[Connection] = queue.SimpleQueue()
        self.processes = []
        for _ in range(count):
            ours, theirs = context.Pipe()
            process = context.Process(target=_helper_main, args=(theirs,), name="comfy-replay-archive", daemon=True)
            process.start()
            theirs.close()
            self.processes.append(process)
            self.free.put(ours)
        self.alive = count
        self.lock = threading.Lock()

    def archive_detail(self, *args: Any) -> tuple[str, str]:
        """Hand one job to the next free helper and wait for its answer (in-process if none is left)."""
        with self.lock:
            if not self.alive:
                return _archive_detail(*args)
        conn = self.free.get()
        try:
            conn.send(args)
            answer: tuple[str, str] = conn.recv()
        except (EOFError, OSError):  # the helper died: the others go on, this job is reported
            with self.lock:
                self.alive -= 1
            conn.close()
            return "failed", "the helper process handling it stopped unexpectedly"
        self.free.put(conn)
        return answer

    def close(self) -> None:
        while True:
            try:
                self.free.get_nowait().close()
            except queue.Empty:
                break
        for process in self.processes:
            process.join(timeout=5)
            if process.is_alive():
                process.terminate()


def _helpers_for(jobs: int, helpers: int | None) -> _Helpers | None:
    """Helper processes for a run of `jobs` jobs: `helpers` of them, or by default one per core (at most 4)
    when there are at least two cores and enough jobs to pay for starting them."""
    if helpers is None:
        cores = os.cpu_count() or 1
        helpers = min(cores, 4) if cores >= 2 and jobs >= MIN_JOBS_FOR_HELPERS else 0
    if helpers <= 0 or "forkserver" not in multiprocessing.get_all_start_methods():
        return None
    return _Helpers(helpers)


def _fetch_environment(client: Client, detail: dict[str, Any]) -> dict[str, Any] | None:
    """The fetch-time environment of a job detail, from the client's cached /system_stats and /object_info."""
    prompt, _extra, ui = split_workflow(detail.get("workflow"))  # the graphs `fetch` captures from, read alike
    environment, _notes = capture_from_client(client, prompt, ui, captured=CAPTURED_FETCH)
    return environment


class _Run:
    """One run: fetching threads, the work and results queues, and the count of jobs being written."""

    def __init__(self, client: Client, folder: Path, job_ids: Sequence[str], api_key: str | None,
                 helpers: _Helpers | None, store: OutputStore | None = None,
                 downloads: Executor | None = None) -> None:
        self.client = client
        self.store = store
        self.downloads = downloads
        self.folder = str(folder)
        self.api_key = api_key
        self.process = helpers.archive_detail if helpers else _archive_detail
        self.work: queue.SimpleQueue[str] = queue.SimpleQueue()
        for job_id in job_ids:
            self.work.put(job_id)
        self.results: queue.SimpleQueue[tuple[str, str, str]] = queue.SimpleQueue()
        self.lock = threading.Condition()
        self.files = self.missing = 0
        self.writing = 0
        self.closed = False

    def worker(self) -> None:
        while not self.closed:
            try:
                job_id = self.work.get_nowait()
            except queue.Empty:
                return
            try:
                detail = self.client.get_job(job_id)
                artifacts = self._download(job_id, detail)
            except ReplayError as exc:
                self.results.put((job_id, "failed", str(exc)))
                continue
            except Exception as exc:  # noqa: BLE001 - one bad job must not stop the others
                self.results.put((job_id, "failed", f"unexpected {type(exc).__name__}: {exc}"))
                continue
            with self.lock:
                if self.closed:
                    return
                self.writing += 1
            try:
                environment = _fetch_environment(self.client, detail)
                self.results.put((job_id, *self.process(self.folder, job_id, detail, self.client.server, self.api_key,
                                                        environment, artifacts)))
            finally:
                with self.lock:
                    self.writing -= 1
                    self.lock.notify_all()

    def _download(self, job_id: str, detail: dict[str, Any]) -> list[dict[str, Any]] | None:
        """With `--outputs`: the job's output files, downloaded on this worker thread into the store."""
        if self.store is None:
            return None
        from replay.outputs import download_outputs  # noqa: PLC0415

        outputs = detail.get("outputs")
        target = os.path.join(self.folder, f"{job_id}.yaml")
        known = (recorded_artifacts(target, job_id) or []) if os.path.exists(target) else []
        artifacts = download_outputs(self.client, outputs if isinstance(outputs, dict) else {}, self.store,
                                     executor=self.downloads, known=known)
        with self.lock:
            self.files += len(artifacts)
            self.missing += sum(1 for a in artifacts if a.get("missing"))
        return artifacts

    def close(self) -> None:
        """Start no new write, and wait for the writes in hand to finish."""
        with self.lock:
            self.closed = True
            while self.writing:
                self.lock.wait(timeout=1.0)


def archive(
    client: Client,
    out_dir: str | os.PathLike[str] = "recipes",
    *,
    statuses: list[str] | None = None,
    workflow_id: str | None = None,
    limit: int | None = None,
    concurrency: int = DEFAULT_CONCURRENCY,
    refresh: bool = False,
    api_key: str | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    helpers: int | None = 0,
    page_size: int = PAGE_SIZE,
    outputs: str | os.PathLike[str] | None = None,
) -> ArchiveResult:
    """Archive every finished job the server lists (filtered by `statuses` / `workflow_id`, at most `limit`).

    Recipes already in `out_dir` are not fetched again unless `refresh` (then they are rewritten only when
    their bytes change). Jobs still pending or running are skipped; a job the server fails to deliver is
    listed in `failed` with the reason and the others go on. Nothing is ever deleted. Ctrl-C (in the main
    thread) stops the run between two jobs: the writes in hand finish, then ArchiveInterrupted is raised
    carrying the result so far. `helpers` is the
    number of helper processes for the CPU part (0, the default: none; None: one per core when it pays off,
    as the command line does). Helper processes start from a fork server, so a script that asks for them must
    be safe to import (`if __name__ == "__main__":`), as with any multiprocessing. `page_size` is the number
    of jobs asked for per page of the list. With `outputs` (a folder; "" for `outputs/` inside `out_dir`),
    each job's output files are downloaded by the same worker threads into that content-addressed store and
    recorded as the recipe's `artifacts`; recipes on disk without artifacts are fetched again for them, and
    files already in the store are not downloaded again.
    """
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise InputError(f"--concurrency must be between 1 and {MAX_CONCURRENCY}, not {concurrency}")
    if limit is not None and limit < 1:
        raise InputError(f"--limit must be a positive number of jobs, not {limit}")
    folder = Path(out_dir)
    if folder.exists() and not folder.is_dir():
        raise InputError(f"-o {folder}: exists and is not a folder")

    store = None
    if outputs is not None:
        from replay.artifacts import OUTPUTS_DIR, open_store  # noqa: PLC0415 - Pillow only with --outputs

        store = open_store(os.fspath(outputs) or folder / OUTPUTS_DIR)
    plan = _plan(client, folder, statuses=statuses, workflow_id=workflow_id, limit=limit, refresh=refresh,
                 page_size=page_size, outputs=store is not None)
    result = ArchiveResult(listed=plan.listed, unchanged=list(plan.on_disk), skipped=list(plan.not_finished),
                           failed=list(plan.bad_ids))
    if plan.todo:
        folder.mkdir(parents=True, exist_ok=True)
        if not os.access(folder, os.W_OK | os.X_OK):
            raise InputError(f"-o {folder}: cannot write in this folder")
    stop = threading.Event()
    with _ctrl_c_sets(stop):
        pool = _helpers_for(len(plan.todo), helpers)
        try:
            interrupted = _run(client, folder, plan.todo, api_key, pool, concurrency, stop, result, on_progress,
                               store)
        finally:
            if pool is not None:
                pool.close()
    if interrupted:
        result.interrupted = True
        raise ArchiveInterrupted(_sorted(result))
    return _sorted(result)


def _run(client: Client, folder: Path, job_ids: list[str], api_key: str | None, pool: _Helpers | None,
         concurrency: int, stop: threading.Event, result: ArchiveResult,
         on_progress: Callable[[Progress], None] | None, store: OutputStore | None = None) -> bool:
    """Fetch and archive `job_ids`, counting each into `result`; return True when `stop` cut the run short."""
    # With outputs, one pool of download threads beside the fetching threads: a job's files download in parallel
    # (its worker thread takes one, the pool the others) over the client's one connection pool.
    downloads = ThreadPoolExecutor(concurrency, thread_name_prefix="archive-outputs") if store is not None else None
    run = _Run(client, folder, job_ids, api_key, pool, store, downloads)
    try:
        return _follow(run, job_ids, concurrency, stop, result, on_progress)
    finally:
        if downloads is not None:
            downloads.shutdown(wait=False, cancel_futures=True)
        if store is not None:
            result.outputs_dir = str(store.root)
            result.output_files, result.missing_files = run.files, run.missing


def _follow(run: _Run, job_ids: list[str], concurrency: int, stop: threading.Event, result: ArchiveResult,
            on_progress: Callable[[Progress], None] | None) -> bool:
    """Start the fetching threads and count their results into `result` until done or stopped."""
    progress = Progress(total=len(job_ids))
    for i in range(min(concurrency, len(job_ids))):
        threading.Thread(target=run.worker, name=f"archive-{i}", daemon=True).start()
    while progress.done < progress.total and not stop.is_set():
        try:
            job_id, outcome, what = run.results.get(timeout=0.25)
        except queue.Empty:
            if on_progress:
                on_progress(progress)
            continue
        progress.done += 1
        _record(result, job_id, outcome, what)
        if on_progress:
            on_progress(progress)
    if progress.done == progress.total:
        return False
    run.close()
    while True:  # jobs written before the run closed are on disk: count them
        try:
            _record(result, *run.results.get_nowait())
        except queue.Empty:
            return True


@contextlib.contextmanager
def _ctrl_c_sets(stop: threading.Event) -> Iterator[None]:
    """While inside, Ctrl-C (SIGINT) sets `stop` instead of raising KeyboardInterrupt at an arbitrary line, so
    the run stops between two jobs and counts every one it wrote. Only the main thread can take signals."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, lambda *_: stop.set())
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _record(result: ArchiveResult, job_id: str, outcome: str, detail: str) -> None:
    if outcome == "written":
        result.written.append(detail)
    elif outcome == "unchanged":
        result.unchanged.append(detail)
    elif outcome == "failed":
        result.failed.append({"job_id": job_id, "error": detail})


def _sorted(result: ArchiveResult) -> ArchiveResult:
    """Lists in a stable order, whatever order the jobs arrived in."""
    result.written.sort()
    result.unchanged.sort()
    result.skipped.sort()
    result.failed.sort(key=lambda item: item["job_id"])
    return result


def summary_lines(result: ArchiveResult) -> list[str]:
    """The end summary for people: counts, then each failure with its reason."""
    head = (f"{len(result.written)} written, {len(result.unchanged)} unchanged, {len(result.skipped)} skipped "
            f"(not finished), {len(result.failed)} failed, of {result.listed} listed")
    lines = [("interrupted: " if result.interrupted else "") + head]
    if result.outputs_dir is not None:
        missing = f", {result.missing_files} missing on the server" if result.missing_files else ""
        lines.append(f"outputs: {result.output_files} file(s) recorded in {result.outputs_dir}{missing}")
    lines.extend(f"failed {item['job_id']}: {item['error']}" for item in result.failed)
    if result.interrupted:
        lines.append("run the same command again to go on where this run stopped")
    return lines


# The package exports `archive` under this name: `replay.archive` is also this module's name.
archive_jobs = archive

__all__ = ["ArchiveInterrupted", "ArchiveResult", "Progress", "archive", "archive_jobs", "parse_statuses",
           "summary_lines"]
