"""bisect: which of BAD's changes, applied to GOOD, make it fail (delta debugging with real runs, SPEC §10).

The changes and their groups come from `replay.changeset` (re-exported here). `bisect_jobs` confirms the two ends, then runs ddmin (Zeller and Hildebrandt 2002) over the groups; every candidate's
outcome is cached by its canonical prompt and appended to a `RunLog` as it comes, so no prompt runs twice and an
interrupted bisect resumes. `bisect_recipe` writes GOOD plus exactly the culprit changes with a `bisect` section.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from replay.changeset import BisectChange, ChangeGroup, apply_changes, find_changes, prompt_key
from replay.diff import diff_jobs
from replay.errors import EnvironmentDrift, GraphError, InputError, JobStateError, SubmitRejected, WaitTimeout
from replay.jobs import ExecutionError, Job
from replay.recipe import build_recipe
from replay.repro import check_failed, describe_error, error_fields, verdict

if TYPE_CHECKING:
    from replay.client import Client
    from replay.nodedefs import NodeDefs
    from replay.preflight import PreflightReport

Outcome = Literal["fail", "pass", "unresolved"]
DEFAULT_MAX_RUNS = 32
LOG_VERSION = 1


def worst_case_runs(groups: int) -> int:
    """The most submissions a bisect of `groups` change groups can need: the two ends plus ddmin's bound.

    ddmin needs at most n² + 3n tests (Zeller and Hildebrandt 2002) and never more than the 2^n - 2 proper,
    non-empty subsets (each prompt runs once).
    """
    if groups <= 0:
        return 0
    bound = groups * groups + 3 * groups
    if groups < 64:
        bound = min(bound, 2**groups - 2)
    return 2 + bound


def one_culprit_runs(groups: int) -> int:
    """The most submissions when one group alone is the culprit: the ends plus two per halving."""
    return 2 + (2 * math.ceil(math.log2(groups)) if groups > 1 else 0)


# ---------------------------------------------------------------------------------------------- ddmin


def _split(items: Sequence[int], n: int) -> list[list[int]]:
    parts: list[list[int]] = []
    start = 0
    for i in range(n):
        end = start + (len(items) - start) // (n - i)
        parts.append(list(items[start:end]))
        start = end
    return parts


class OutOfRuns(Exception):
    """Raised by a test function when the run budget is spent; ddmin stops with what it has."""


@dataclass
class DDResult:
    """What ddmin found: the smallest failing subset it reached, and whether it ran to the end."""

    items: list[int]
    finished: bool


def ddmin(count: int, test: Callable[[list[int]], Outcome], on_step: Callable[[list[int]], None] | None = None) -> DDResult:
    """Delta debugging: reduce items 0..count-1 (which fail together) to a 1-minimal failing subset.

    At each granularity n the complements are tried before the subsets (both are part of ddmin; trying
    complements first halves the runs when two changes only fail together). Unresolved outcomes count as
    not failing. `test` may raise OutOfRuns: the result is then the smallest failing set so far, unfinished.
    """
    current = list(range(count))
    n = 2
    try:
        while len(current) >= 2:
            if on_step is not None:
                on_step(current)
            parts = _split(current, n)
            found: tuple[list[int], int] | None = None
            if n > 2:
                for part in parts:
                    rest = [i for i in current if i not in part]
                    if test(rest) == "fail":
                        found = (rest, max(n - 1, 2))
                        break
            if found is None:
                for part in parts:
                    if test(part) == "fail":
                        found = (part, 2)
                        break
            if found is not None:
                current, n = found
                continue
            if n >= len(current):
                break
            n = min(len(current), 2 * n)
    except OutOfRuns:
        return DDResult(current, finished=False)
    return DDResult(current, finished=True)


# ---------------------------------------------------------------------------------------------- runs and the log


@dataclass
class Run:
    """One candidate and what happened to it. `posted` tells whether it cost a submission."""

    key: str
    changes: list[str]
    outcome: Outcome
    posted: bool
    job_id: str | None = None
    status: str | None = None
    error: dict[str, str] | None = None
    note: str | None = None
    resumed: bool = False

    def to_json(self) -> dict[str, Any]:
        """The run as plain data (log line, recipe section and --json)."""
        return {"key": self.key, "changes": list(self.changes), "outcome": self.outcome, "posted": self.posted,
                "job_id": self.job_id, "status": self.status, "error": self.error, "note": self.note}


class RunLog:
    """Outcomes by prompt key, appended to a JSON-lines file (when given) as they come; read back to resume.

    The first line names the two ends; a log of another bisect is refused. A line `{"key", "job_id",
    "submitted": true}` is written right after a POST, so a resumed bisect waits for that job instead of
    submitting the prompt again. A torn last line (the process was killed while writing) is ignored.
    """

    def __init__(self, path: str | None, good_key: str, bad_key: str) -> None:
        self.path = Path(path) if path else None
        self.runs: dict[str, Run] = {}
        self.pending: dict[str, str] = {}
        header = {"bisect": LOG_VERSION, "good": good_key, "bad": bad_key}
        if self.path is None:
            return
        if self.path.exists():
            self._load(header)
        else:
            if not self.path.parent.exists():
                self.path.parent.mkdir(parents=True, exist_ok=True)
            self._append(header)

    def _load(self, header: dict[str, Any]) -> None:
        assert self.path is not None
        lines = self.path.read_text(encoding="utf-8").splitlines()
        try:
            first = json.loads(lines[0]) if lines else None
        except ValueError:
            first = None
        if first != header:
            raise InputError(
                f"{self.path} is not the run log of this bisect (other ends or not a log); delete it or choose "
                "another -o"
            )
        for text in lines[1:]:
            try:
                entry = json.loads(text)
            except ValueError:
                continue  # a torn last line
            if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
                continue
            if entry.get("submitted"):
                self.pending[entry["key"]] = str(entry.get("job_id"))
            elif entry.get("outcome") in ("fail", "pass", "unresolved"):
                self.pending.pop(entry["key"], None)
                self.runs[entry["key"]] = Run(
                    key=entry["key"], changes=list(entry.get("changes") or []), outcome=entry["outcome"],
                    posted=bool(entry.get("posted")), job_id=entry.get("job_id"), status=entry.get("status"),
                    error=_error_in_order(entry.get("error")), note=entry.get("note"), resumed=True,
                )

    def _append(self, entry: dict[str, Any]) -> None:
        if self.path is None:
            return
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n")
            handle.flush()

    def submitted(self, key: str, job_id: str, changes: list[str]) -> None:
        """Note a POST the server accepted, before waiting for the job."""
        self.pending[key] = job_id
        self._append({"key": key, "job_id": job_id, "changes": changes, "submitted": True})

    def record(self, run: Run) -> None:
        """Keep an outcome and write it down."""
        self.pending.pop(run.key, None)
        self.runs[run.key] = run
        self._append(run.to_json())

    @property
    def posted(self) -> int:
        """How many submissions the bisect used (finished runs and runs still waited for)."""
        return sum(1 for run in self.runs.values() if run.posted) + len(self.pending)


_ERROR_KEYS = ("node_id", "node_type", "exception_type", "message")


def _error_in_order(error: Any) -> Any:
    """A logged error with its keys in `error_fields` order again (log lines are written with sorted keys), so a
    resumed bisect writes the same recipe as the one that made the runs."""
    if not isinstance(error, dict):
        return error
    return {**{k: error[k] for k in _ERROR_KEYS if k in error}, **{k: v for k, v in error.items() if k not in _ERROR_KEYS}}


def log_path(out: str | None) -> str | None:
    """Where the run log of a bisect writing its recipe to `out` goes: beside it, `NAME.runs.jsonl`."""
    if not out or out == "-":
        return None
    return str(Path(out).with_suffix(".runs.jsonl"))


# ---------------------------------------------------------------------------------------------- the bisect


@dataclass(frozen=True)
class Progress:
    """Reported before and after each submission: run n of at most N, changes in play, the candidate's size."""

    run: int
    max_runs: int
    in_play: int
    testing: int
    outcome: Outcome | None = None


@dataclass
class BisectResult:
    """What a bisect found (or, for a dry run, would look at)."""

    good: Job
    bad: Job
    groups: list[ChangeGroup]
    culprits: list[BisectChange] = field(default_factory=list)
    runs: list[Run] = field(default_factory=list)
    submissions: int = 0
    max_runs: int = DEFAULT_MAX_RUNS
    ends_problem: str | None = None
    stopped: str | None = None
    notes: list[str] = field(default_factory=list)
    minimal: bool = False
    prompt: dict[str, Any] | None = None
    recipe_path: str | None = None
    dry_run: bool = False
    environment_drift: list[dict[str, Any]] = field(default_factory=list)
    """How the server differs from the recorded environment (GOOD's, else BAD's), found before the first POST."""
    environment: dict[str, Any] | None = None
    """The server's environment for the answer's prompt (`captured: run`), stamped with the time the runs began."""

    @property
    def changes(self) -> list[BisectChange]:
        """Every change, group by group."""
        return [c for g in self.groups for c in g.changes]

    @property
    def found(self) -> bool:
        """True when the ends behaved and a failing set of changes was reached."""
        return self.ends_problem is None and bool(self.culprits)

    def findings(self) -> dict[str, Any]:
        """What the recipe's `bisect` section and `--json` share: changes, groups, culprits, runs and their state."""
        return {
            "changes": [c.to_json() for c in self.changes],
            "groups": [g.ids for g in self.groups],
            "culprits": [c.id for c in self.culprits],
            "minimal": self.minimal,
            "stopped": self.stopped,
            "runs": self.submissions,
            "tested": [run.to_json() for run in self.runs],
        }

    def to_json(self) -> dict[str, Any]:
        """The SPEC §4 `bisect` shape, with a few more keys (groups, minimal, stopped, notes, the run list)."""
        return {
            "ends": {"good": self.good.id, "bad": self.bad.id},
            **self.findings(),
            "max_runs": self.max_runs,
            "recipe": self.recipe_path,
            "ends_problem": self.ends_problem,
            "notes": list(self.notes),
            "worst_case_runs": worst_case_runs(len(self.groups)),
            "environment_drift": list(self.environment_drift),
            "environment": self.environment,
        }


def _check_ends(good: Job, bad: Job) -> ExecutionError:
    if not good.prompt:
        raise InputError("GOOD has no API prompt to bisect from (a UI workflow: convert it first)")
    if good.status is not None and good.status != "completed":
        raise JobStateError(f"GOOD (job {good.id}) is {good.status}, not completed; bisect needs a job that "
                            "worked and one that failed", status=good.status)
    try:
        return check_failed(bad)
    except JobStateError as exc:
        raise JobStateError(f"BAD: {exc}", status=exc.status) from exc


def plan_bisect(good: Job, bad: Job) -> BisectResult:
    """Check the two ends and list the change groups, submitting nothing (`--dry-run`)."""
    _check_ends(good, bad)
    assert good.prompt is not None and bad.prompt is not None
    groups = find_changes(good.prompt, bad.prompt)
    if not groups:
        raise InputError("GOOD and BAD run the same prompt (no input, link or node differs); nothing to bisect")
    return BisectResult(good, bad, groups, dry_run=True)


class _Runner:
    """Runs candidates on the server once each, through the cache and the log, within the run budget."""

    def __init__(self, client: Client, result: BisectResult, log: RunLog, reference: ExecutionError, *,
                 wait_timeout: float, preflight: bool, defs: NodeDefs | None,
                 on_progress: Callable[[Progress], None] | None) -> None:
        self.client = client
        self.result = result
        self.log = log
        self.reference = reference
        self.wait_timeout = wait_timeout
        self.preflight = preflight
        self.defs = defs
        self.on_progress = on_progress
        self.in_play = len(result.changes)

    def run(self, groups: Sequence[int]) -> Run:
        result = self.result
        assert result.good.prompt is not None and result.bad.prompt is not None
        changes = [c for i in sorted(groups) for c in result.groups[i].changes]
        prompt = apply_changes(result.good.prompt, result.bad.prompt, changes)
        key = prompt_key(prompt)
        ids = [c.id for c in changes]
        known = self.log.runs.get(key)
        if known is not None:
            if known not in result.runs:
                result.runs.append(known)
            return known
        job_id = self.log.pending.get(key)
        if job_id is None and self.log.posted >= result.max_runs:
            raise OutOfRuns
        number = self.log.posted + (1 if job_id is None else 0)
        if self.on_progress is not None:
            self.on_progress(Progress(number, result.max_runs, self.in_play, len(ids)))
        run = self._submit_and_wait(prompt, key, ids, job_id)
        self.log.record(run)
        result.runs.append(run)
        result.submissions = self.log.posted
        if self.on_progress is not None:
            self.on_progress(Progress(number, result.max_runs, self.in_play, len(ids), run.outcome))
        return run

    def _submit_and_wait(self, prompt: dict[str, Any], key: str, ids: list[str], job_id: str | None) -> Run:
        from replay.submit import submit_prompt, wait_for_job  # noqa: PLC0415 - submit needs the HTTP client

        if job_id is None:
            try:
                job_id = submit_prompt(self.client, prompt, preflight=self.preflight, defs=self.defs)
            except GraphError as exc:
                first = exc.problems[0] if exc.problems else str(exc)
                return Run(key, ids, "unresolved", False, note=f"preflight refused it: {first}")
            except SubmitRejected as exc:
                return Run(key, ids, "unresolved", True, note=f"the server rejected it: {exc}")
            self.log.submitted(key, job_id, ids)
        try:
            job = wait_for_job(self.client, job_id, wait_timeout=self.wait_timeout)
        except WaitTimeout:
            return Run(key, ids, "unresolved", True, job_id, note=f"not finished after {self.wait_timeout:g} s")
        judged = verdict(self.reference, job)
        outcome: Outcome = {"reproduced": "fail", "not-reproduced": "pass"}.get(judged, "unresolved")  # type: ignore[assignment]
        note = None
        if outcome == "unresolved":
            note = f"failed otherwise: {describe_error(job.error)}" if job.status == "failed" else str(job.status)
        return Run(key, ids, outcome, True, job_id, job.status, error_fields(job.error), note)

    def test(self, groups: list[int]) -> Outcome:
        return self.run(groups).outcome


def bisect_jobs(
    client: Client,
    good: Job,
    bad: Job,
    *,
    max_runs: int = DEFAULT_MAX_RUNS,
    trust_ends: bool = False,
    log: str | None = None,
    wait_timeout: float = 600.0,
    preflight: bool = True,
    defs: NodeDefs | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    strict_env: bool = False,
    on_preflight: Callable[[PreflightReport], None] | None = None,
    clock: Callable[[], float] = time.time,
) -> BisectResult:
    """Find a 1-minimal set of BAD's changes that makes GOOD fail the way BAD failed, with real runs.

    Confirms the ends first (GOOD completes, BAD fails the same way; with `trust_ends` this is skipped when the
    jobs' own records already say so), then runs ddmin over the change groups. A candidate's outcome is the
    verdict of SPEC §5 against BAD's error: reproduced = fail, completed = pass, anything else (another
    failure, a cancelled job, a prompt the server or the preflight refuses, a wait timeout) = unresolved.
    Outcomes go to the run log at `log` as they come, and are read back from it: a resumed bisect never
    submits a prompt again. At most `max_runs` submissions; then the best answer so far, with `stopped` set.
    When the ends do not behave, `ends_problem` says what happened and nothing else is run.

    With `preflight`, before anything is posted the recorded environment (GOOD's, else BAD's) is compared once
    with the server's (`replay.preflight.run_preflight` on GOOD's prompt and on GOOD with all of BAD's changes):
    `on_preflight` gets the report, `environment_drift` keeps the drift, and with `strict_env` drift raises
    EnvironmentDrift before any POST or log line. The candidates' own checks reuse the client's cached GETs.
    `environment` is the server's environment for the answer's prompt (`captured: run`, stamped by `clock` when
    the runs began); the recipe of the answer records it.
    Raises InputError / JobStateError for unusable ends, ServerError when the server fails.
    """
    if max_runs < 1:
        raise InputError(f"--max-runs must be at least 1, not {max_runs}")
    if strict_env and not preflight:
        raise InputError("--strict-env needs the preflight checks: drop --no-preflight")
    result = plan_bisect(good, bad)
    result.dry_run = False
    result.max_runs = max_runs
    reference = _check_ends(good, bad)
    assert good.prompt is not None and bad.prompt is not None
    everything = list(range(len(result.groups)))
    full = apply_changes(good.prompt, bad.prompt, result.changes)
    if preflight:
        if defs is None:
            from replay.submit import server_defs  # noqa: PLC0415

            defs = server_defs(client)
        report = ends_preflight(client, good, bad, full, defs=defs)
        result.environment_drift = report.drift_json()
        if on_preflight is not None:
            on_preflight(report)
        if strict_env and report.drift:
            raise EnvironmentDrift(report.drift)
    began = clock()
    runlog = RunLog(log, prompt_key(good.prompt), prompt_key(full))
    runner = _Runner(client, result, runlog, reference, wait_timeout=wait_timeout, preflight=preflight, defs=defs,
                     on_progress=on_progress)
    result.submissions = runlog.posted
    trusted = trust_ends and good.status == "completed" and bad.status == "failed"
    if trust_ends and not trusted:
        result.notes.append("--trust-ends needs GOOD's record to say completed and BAD's to say failed; "
                            "the ends were run to confirm them")
    try:
        if trusted:
            for groups, outcome in (([], "pass"), (everything, "fail")):
                ids = [c.id for i in groups for c in result.groups[i].changes]
                prompt = apply_changes(good.prompt, bad.prompt, [c for i in groups for c in result.groups[i].changes])
                key = prompt_key(prompt)
                if key not in runlog.runs:
                    runlog.runs[key] = Run(key, ids, outcome, False, note="trusted from the job record")  # type: ignore[arg-type]
        else:
            first = runner.run([])
            if first.outcome != "pass":
                again = " again" if good.status else ""
                result.ends_problem = f"GOOD did not complete when run{again}: {_what_happened(first)}"
                return result
            last = runner.run(everything)
            if last.outcome != "fail":
                result.ends_problem = (f"BAD did not fail the same way when run again ({describe_error(reference)} "
                                       f"expected): {_what_happened(last)}")
                return result
    except OutOfRuns:
        result.stopped = f"--max-runs {max_runs} was spent before the ends were confirmed"
        return result

    def step(current: list[int]) -> None:
        runner.in_play = sum(len(result.groups[i].changes) for i in current)

    found = ddmin(len(result.groups), runner.test, step)
    chosen = sorted(found.items)
    result.culprits = [c for i in chosen for c in result.groups[i].changes]
    result.prompt = apply_changes(good.prompt, bad.prompt, result.culprits)
    result.environment = _run_environment(client, result.prompt, began)
    result.submissions = runlog.posted
    if not found.finished:
        result.stopped = (f"--max-runs {max_runs} reached: the answer is the smallest failing set found so far "
                          "and may not be minimal (raise --max-runs and run again: done runs are not repeated)")
        return result
    result.minimal = True
    for i in chosen:
        rest = [j for j in chosen if j != i]
        try:
            outcome = runner.run(rest).outcome if rest else "pass"
        except OutOfRuns:
            outcome = "unresolved"
        if outcome != "pass":
            result.minimal = False
            result.notes.append(f"without {', '.join(result.groups[i].ids)} the outcome was {outcome}: "
                                "1-minimality is not proven for it")
    return result


def ends_preflight(
    client: Client, good: Job, bad: Job, full: dict[str, Any], *, defs: NodeDefs | None = None
) -> PreflightReport:
    """The one environment check of a bisect: the recorded environment (GOOD's, else BAD's) against the server.

    Candidates mix nodes and values of both ends, so GOOD's prompt and GOOD with all of BAD's changes (`full`)
    are both checked: classes and model files of either end that the server lacks are drift. Each difference is
    reported once. Costs no GET beyond the client's cached `/system_stats` and `/object_info`.
    """
    from replay.preflight import WARNING, Finding, run_preflight  # noqa: PLC0415

    assert good.prompt is not None
    recorded = good.environment if good.environment is not None else bad.environment
    report = run_preflight(good.prompt, client=client, defs=defs, environment=recorded)
    seen = {json.dumps(d.to_json(), sort_keys=True, default=str) for d in report.drift}
    for drift in run_preflight(full, client=client, defs=defs, environment=recorded).drift:
        key = json.dumps(drift.to_json(), sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            report.drift.append(drift)
            report.findings.append(Finding(WARNING, "environment", drift.subject, drift.message))
    return report


def _run_environment(client: Client, prompt: dict[str, Any], began: float) -> dict[str, Any] | None:
    """The server's environment for `prompt`, captured at run time from the client's cached GETs."""
    from replay.environment import CAPTURED_RUN, capture_from_client  # noqa: PLC0415

    environment, _notes = capture_from_client(client, prompt, None, captured=CAPTURED_RUN, clock=lambda: began)
    return environment


def _what_happened(run: Run) -> str:
    if run.status == "failed" and run.error:
        e = run.error
        text = f"failed at node {e['node_id']} ({e['node_type'] or '?'}): {e['exception_type']}: {e['message']}"
    else:
        text = run.status or run.outcome
    return text + (f" ({run.note})" if run.note and run.status != "failed" else "") + (
        f", job {run.job_id}" if run.job_id else "")


# ---------------------------------------------------------------------------------------------- the answer


def bisect_section(result: BisectResult) -> dict[str, Any]:
    """The recipe's `bisect` section: both ends, the changes, the culprits, and every run with its outcome."""
    return {
        "good": {"job_id": result.good.id, "prompt": prompt_key(result.good.prompt or {})},
        "bad": {"job_id": result.bad.id, "error": error_fields(result.bad.error)},
        **result.findings(),
    }


def bisect_recipe(result: BisectResult, *, api_key: str | None = None) -> dict[str, Any]:
    """A recipe of GOOD plus exactly the culprit changes, derived from both ends, with a `bisect` section."""
    if result.prompt is None:
        raise InputError("the bisect found no failing set of changes; there is no recipe to write")
    good = result.good
    derived = Job(
        kind="prompt",
        id=None,
        prompt=result.prompt,
        extra_data={k: v for k, v in (good.extra_data or {}).items() if k != "extra_pnginfo"} or None,
        source={"derived_from": "bisect", "good": good.id, "bad": result.bad.id},
        environment=result.environment,
    )
    recipe = build_recipe(derived, server=good.source.get("server") or result.bad.source.get("server"), api_key=api_key)
    recipe["bisect"] = bisect_section(result)
    return recipe


def bisect_target(out: str, bad_id: str | None) -> str:
    """The recipe file for `-o`: a .yaml/.yml path as given, else `<bad job id>.bisect.yaml` in that folder."""
    from replay.fetching import is_file_target  # noqa: PLC0415

    if out == "-" or is_file_target(out):
        return out
    return str(Path(out) / f"{bad_id or 'bad'}.bisect.yaml")


def check_target(target: str, *, force: bool = False) -> None:
    """Refuse, before any run, a recipe path that holds something other than a bisect's answer (unless `force`)."""
    from replay import canonical  # noqa: PLC0415
    from replay.errors import DocumentError, TargetExistsError  # noqa: PLC0415

    path = Path(target)
    if force or target == "-" or not path.exists():
        return
    try:
        data = canonical.loads(path.read_bytes(), file=target)
    except (DocumentError, OSError):
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("bisect"), dict):
        raise TargetExistsError(f"{target} exists and is not the recipe of a bisect; refusing to overwrite it "
                                "(choose another -o path, or pass --force)", path=target)


def write_bisect(result: BisectResult, out: str, *, force: bool = False, api_key: str | None = None) -> tuple[str, str]:
    """Write the answer's recipe to `out` (see `bisect_target`); return (path, state) where state is
    "written", "unchanged" or, for `-`, the recipe text."""
    from replay.recipe import dumps_recipe, write_recipe  # noqa: PLC0415

    recipe = bisect_recipe(result, api_key=api_key)
    target = bisect_target(out, result.bad.id)
    if target == "-":
        return "-", dumps_recipe(recipe)
    _keep_first_capture(target, recipe)
    state = write_recipe(target, recipe, force=force)
    result.recipe_path = target
    return target, state


def _keep_first_capture(target: str, recipe: dict[str, Any]) -> None:
    """Keep the environment of the answer already at `target` when it is the same bisect's on the same server.

    A bisect resumed from its log wrote that recipe when its runs were made; its capture stands, so running the
    same command again leaves the file byte for byte as it was.
    """
    from replay import canonical  # noqa: PLC0415
    from replay.environment import first_capture_stands  # noqa: PLC0415
    from replay.errors import DocumentError  # noqa: PLC0415

    new = recipe.get("environment")
    try:
        old = canonical.loads(Path(target).read_bytes(), file=target)
    except (OSError, DocumentError):
        return
    if not isinstance(old, dict) or not isinstance(new, dict) or not isinstance(old.get("environment"), dict):
        return
    if old.get("source") != recipe.get("source") or old["environment"].get("server") != new.get("server"):
        return
    recipe["environment"] = first_capture_stands(old["environment"], new)


def culprit_diff(result: BisectResult, *, color: bool = False) -> str:
    """The culprit changes rendered like `comfy-replay diff` of GOOD and GOOD plus the culprits."""
    from replay.diff_render import render_text  # noqa: PLC0415

    if result.prompt is None or result.good.prompt is None:
        return ""
    d = diff_jobs(Job(kind="prompt", id=result.good.id, prompt=result.good.prompt),
                  Job(kind="prompt", prompt=result.prompt))
    return render_text(d, color, labels=("GOOD", "GOOD + culprits"))


__all__ = [
    "DEFAULT_MAX_RUNS",
    "BisectChange",
    "BisectResult",
    "ChangeGroup",
    "DDResult",
    "OutOfRuns",
    "Progress",
    "Run",
    "RunLog",
    "apply_changes",
    "bisect_jobs",
    "bisect_recipe",
    "bisect_section",
    "bisect_target",
    "check_target",
    "culprit_diff",
    "ddmin",
    "ends_preflight",
    "find_changes",
    "log_path",
    "one_culprit_runs",
    "plan_bisect",
    "prompt_key",
    "worst_case_runs",
    "write_bisect",
]
