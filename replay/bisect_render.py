"""Text renderings of a bisect: the plan of a dry run, the answer, and the progress line."""

from __future__ import annotations

from replay.bisect import BisectResult, Progress, culprit_diff, one_culprit_runs, worst_case_runs
from replay.repro import describe_error


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def _ends(result: BisectResult) -> list[str]:
    return [f"good  {result.good.id or result.good.kind} ({result.good.status or 'no status'})",
            f"bad   {result.bad.id or result.bad.kind} (failed at {describe_error(result.bad.error)})"]


def _change_lines(result: BisectResult) -> list[str]:
    lines = []
    for number, group in enumerate(result.groups, 1):
        for index, change in enumerate(group.changes):
            head = f"{number:>3}." if index == 0 else "    "
            lines.append(f"{head} {change.describe()}" + (" (goes with the line above)" if index else ""))
    return lines


def render_plan(result: BisectResult) -> str:
    """What a dry run shows: the ends, the changes (numbered by group) and the run counts to expect."""
    n = len(result.groups)
    lines = _ends(result)
    lines.append(f"{_plural(len(result.changes), 'change')} in {_plural(n, 'group')} (a group is tried as a whole):")
    lines += _change_lines(result)
    lines.append(f"runs: at most {worst_case_runs(n)} in the worst case (ends included), "
                 f"{one_culprit_runs(n)} when one group alone is the culprit; --max-runs {result.max_runs}")
    lines.append("nothing was submitted (--dry-run)")
    return "\n".join(lines) + "\n"


def render_bisect(result: BisectResult, *, color: bool = False) -> str:
    """The answer: the ends, the culprit changes printed like `diff` output, the runs used and any caveat."""
    lines = _ends(result)
    runs = f"{_plural(result.submissions, 'run')} of at most {result.max_runs}"
    if result.ends_problem is not None:
        lines.append(f"ends: {result.ends_problem}")
        lines.append(f"{runs}; nothing was bisected: check the two jobs (is the failure flaky?)")
        return "\n".join(lines) + "\n"
    if not result.culprits:
        lines.append(f"stopped: {result.stopped}")
        lines.append(runs)
        return "\n".join(lines) + "\n"
    kind = "1-minimal" if result.minimal else "not proven minimal"
    lines.append(f"culprits ({_plural(len(result.culprits), 'change')} of {len(result.changes)}, {kind}):")
    lines += [f"  {change.describe()}" for change in result.culprits]
    lines.append("")
    lines += culprit_diff(result, color=color).rstrip("\n").splitlines()
    lines.append("")
    resumed = sum(1 for run in result.runs if run.resumed)
    lines.append(runs + (f" ({resumed} outcomes read back from the run log)" if resumed else ""))
    if result.stopped:
        lines.append(f"stopped: {result.stopped}")
    lines += [f"note: {note}" for note in result.notes]
    if result.recipe_path:
        lines.append(f"recipe {result.recipe_path}")
    return "\n".join(lines) + "\n"


def progress_line(progress: Progress) -> str:
    """`run 3 of at most 32: 4 of 16 changes in play` (and the outcome once known)."""
    text = f"run {progress.run} of at most {progress.max_runs}: testing {progress.testing} of " \
           f"{_plural(progress.in_play, 'change')} in play"
    return text + (f": {progress.outcome}" if progress.outcome else "")


__all__ = ["progress_line", "render_bisect", "render_plan"]
