"""Preflight cost: checking many prompts against one server, with and without the environment drift check.

A fake OSS server (tests/fakecomfy.py, the recorded /object_info of ComfyUI 0.33.0) receives the checks of the
recorded `success_a` prompt repeated PROMPTS times, each against a recipe environment that records another
ComfyUI version. Baseline: the same checks with `check_environment=False`, on a fresh client.
Targets: the drift check adds at most 2 GETs in all (one /api/system_stats, one /api/object_info shared with the
definition checks), and at most 1.5x the time of the checks without it.
"""

from __future__ import annotations

import gzip
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from fakecomfy import FakeComfy  # noqa: E402

from replay.client import Client  # noqa: E402
from replay.environment import capture_environment  # noqa: E402
from replay.preflight import run_preflight  # noqa: E402

PROMPTS = 300
TARGET_RATIO = 1.5
TARGET_GETS = 2


def main() -> int:
    info: dict[str, Any] = json.loads(gzip.decompress((ROOT / "tests/data/object_info.json.gz").read_bytes()))
    stats: dict[str, Any] = json.loads((ROOT / "tests/data/oss/system_stats.json").read_text())
    detail = json.loads((ROOT / "tests/data/oss/success_a.job.json").read_text())
    prompt = detail["workflow"]["prompt"]
    recorded = capture_environment(stats=stats, object_info=info, prompt=prompt, captured="run")
    recorded["system"]["comfyui_version"] = "0.32.0"
    with FakeComfy(dialect="oss", object_info=info) as fake:
        timings = {}
        for label, check in (("without drift check", False), ("with drift check", True)):
            client = Client(fake.url)
            fake.clear_log()
            start = time.perf_counter()
            drift = 0
            for _ in range(PROMPTS):
                report = run_preflight(prompt, client=client, environment=recorded, check_environment=check)
                drift += len(report.drift)
            timings[label] = time.perf_counter() - start
            gets = sum(1 for r in fake.requests if r.method == "GET")
            print(f"{label:>20}: {PROMPTS} prompts in {timings[label]:.3f} s, {gets} GETs, {drift} drift findings")
            client.close()
    ratio = timings["with drift check"] / timings["without drift check"]
    print(f"ratio with/without: {ratio:.2f}x (target <= {TARGET_RATIO}x); GETs with the check: {gets} "
          f"(target <= {TARGET_GETS})")
    ok = ratio <= TARGET_RATIO and gets <= TARGET_GETS
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
