"""bisect economy: runs (submissions, the two ends included) to find the culprits among 8, 16, 32 and 64 changes.

Counted, not timed. For every place of one culprit, and every pair of places of two culprits that only fail
together, ddmin runs against an oracle with the same cache as `replay.bisect` (a candidate runs once); the
two ends add 2. The baseline, measured in the same run, is undoing changes by hand: one run per change for one
culprit, one run per pair of changes for two. A few cases are then run for real through `replay.bisect.bisect`
against the test suite's fake ComfyUI server, to check that the counts are real submissions.
Targets (issue 12): one culprit among 32 in at most 12 runs; two interacting culprits among 32 in at most 30.
"""

from __future__ import annotations

import os
import sys

# Run as a script, this file's folder comes first on sys.path and its name hides the standard `bisect`
# module that `random` (and so `statistics`) imports: drop the folder before importing anything else.
_HERE = os.path.dirname(os.path.realpath(__file__))
sys.path[:] = [entry for entry in sys.path if os.path.realpath(entry or ".") != _HERE]

import itertools  # noqa: E402
import statistics  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from replay.bisect import ddmin  # noqa: E402

SIZES = (8, 16, 32, 64)
TARGETS = {1: 12, 2: 30}
ENDS = 2


def runs(count: int, culprits: set[int]) -> int:
    """Submissions of a bisect of `count` changes whose failure needs all of `culprits` (ends included)."""
    seen: dict[frozenset[int], str] = {}

    def test(items: list[int]) -> Any:
        key = frozenset(items)
        if key not in seen:
            seen[key] = "fail" if culprits <= key else "pass"
        return seen[key]

    found = ddmin(count, test)
    assert set(found.items) == culprits, (count, culprits, found)
    return ENDS + len(seen)


def by_hand(count: int, culprits: int) -> int:
    """Undoing changes by hand: every single change (or every pair) tried on GOOD, plus the two ends."""
    return ENDS + (count if culprits == 1 else count * (count - 1) // 2)


def real_runs(count: int, culprits: set[int]) -> int:
    """Submissions `replay.bisect.bisect` makes against the fake server for a blur chain with `count` changes."""
    sys.path.insert(0, str(Path(__file__).parent.parent / "tests"))
    from fakecomfy import FakeComfy  # noqa: PLC0415
    from fakecomfy_rules import PromptRule, has_values  # noqa: PLC0415
    from fakecomfy_run import make_job  # noqa: PLC0415
    from graphs import link, node  # noqa: PLC0415

    from replay.bisect import bisect_jobs  # noqa: PLC0415
    from replay.client import Client  # noqa: PLC0415
    from replay.jobs import job_from_document  # noqa: PLC0415

    def chain(radius: int) -> dict[str, Any]:
        prompt: dict[str, Any] = {"1": node("EmptyImage", width=64, height=64, batch_size=1, color=0)}
        for i in range(count):
            prompt[str(10 + i)] = node("ImageBlur", image=link(str(10 + i - 1) if i else "1"), blur_radius=radius,
                                       sigma=1.0)
        prompt["2"] = node("ImageInvert", image=link(str(10 + count - 1)))
        prompt["3"] = node("SaveImage", images=link("2"), filename_prefix="bench")
        return prompt

    error = {"exception_type": "RuntimeError", "message": "bench"}
    with FakeComfy(dialect="oss", run_polls=0) as server:
        server.rules.append(PromptRule(node_id="2", when=has_values({(str(10 + i), "blur_radius"): 2
                                                                     for i in culprits}), **error))
        good = job_from_document(make_job("completed", prompt=chain(1)))
        bad = job_from_document(make_job("failed", prompt=chain(2), fail_node="2", **error))
        with Client(server.url, retries=1) as client:
            result = bisect_jobs(client, good, bad, max_runs=1000)
        assert sorted(int(c.node) - 10 for c in result.culprits) == sorted(culprits)
        assert result.submissions == len(server.submissions)
        return result.submissions


def main() -> int:
    ok = True
    print(f"{'changes':>8} {'culprits':>8} {'worst':>6} {'mean':>6} {'by hand':>8} {'ratio':>6}")
    for culprits in (1, 2):
        for count in SIZES:
            places = [set(p) for p in itertools.combinations(range(count), culprits)]
            counts = [runs(count, p) for p in places]
            worst, mean, hand = max(counts), statistics.mean(counts), by_hand(count, culprits)
            print(f"{count:>8} {culprits:>8} {worst:>6} {mean:>6.1f} {hand:>8} {worst / hand:>6.2f}")
            if count == 32:
                target = TARGETS[culprits]
                passed = worst <= target
                ok = ok and passed
                print(f"{'PASS' if passed else 'FAIL'}: {culprits} culprit(s) among 32 in at most {worst} runs "
                      f"(target <= {target}, by hand {hand})")
    for count, culprits in ((32, {0}), (32, {31}), (32, {17}), (32, {3, 28}), (32, {0, 31})):
        real, counted = real_runs(count, culprits), runs(count, culprits)
        same = real == counted
        ok = ok and same
        print(f"{'PASS' if same else 'FAIL'}: real bisect against the fake server, culprits {sorted(culprits)} of "
              f"{count}: {real} submissions (counted {counted})")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
