"""Diff speed: `replay.diff.diff_jobs` against plain `DeepDiff(a, b)` on the largest template workflows.

Each template is compared with a copy holding 3 changed widget values and 10 moved nodes. Parsing is excluded
from both timings. Target: on the largest template, diff_jobs is at least 10x faster than DeepDiff and reports
the same 3 widget changes (DeepDiff also reports the moves, which diff_jobs ignores as layout).
"""

from __future__ import annotations

import copy
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from deepdiff import DeepDiff
from deepdiff.path import _path_to_elements

from replay.diff import diff_jobs
from replay.jobs import job_from_document

TARGET = 10.0
TEMPLATES = 20
WIDGET_CHANGES = 3
MOVED = 10
OURS_RUNS = 5


def workflows_by_size() -> list[tuple[str, int, dict[str, Any]]]:
    import comfyui_workflow_templates_json as pkg

    found = []
    for path in (Path(pkg.__file__).parent / "templates").glob("*.json"):
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
        if isinstance(data, dict) and isinstance(data.get("nodes"), list):
            found.append((path.name, len(text), data))
    return sorted(found, key=lambda item: -item[1])


def graphs(workflow: dict[str, Any]) -> list[tuple[str | None, tuple[Any, ...], dict[str, Any]]]:
    """(subgraph id, path prefix of its nodes list in the document, graph) for the top graph and each subgraph."""
    subgraphs = (workflow.get("definitions") or {}).get("subgraphs") or []
    return [(None, ("nodes",), workflow)] + [
        (sg["id"], ("definitions", "subgraphs", i, "nodes"), sg) for i, sg in enumerate(subgraphs)
    ]


def changed_value(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value + 1
    return value + " (edited)" if isinstance(value, str) else None


def make_copy(workflow: dict[str, Any], rng: random.Random) -> tuple[dict[str, Any], set[tuple[Any, ...]]]:
    """A copy with 3 widget values changed (on 3 different nodes) and 10 nodes moved; the planted widget changes."""
    changed = copy.deepcopy(workflow)
    spots = {}
    for graph_id, _prefix, graph in graphs(changed):
        for node in graph["nodes"]:
            values = node.get("widgets_values")
            if isinstance(values, list):
                usable = [i for i, v in enumerate(values) if changed_value(v) is not None]
                if usable:
                    spots[(graph_id, str(node["id"]))] = (node, usable)
    planted = set()
    for key in rng.sample(sorted(spots, key=str), min(WIDGET_CHANGES, len(spots))):
        node, usable = spots[key]
        index = rng.choice(usable)
        old = node["widgets_values"][index]
        node["widgets_values"][index] = changed_value(old)
        planted.add((*key, f"widgets_values[{index}]", json.dumps(old), json.dumps(node["widgets_values"][index])))
    nodes = [n for _, _, graph in graphs(changed) for n in graph["nodes"]]
    for node in rng.sample(nodes, min(MOVED, len(nodes))):
        node["pos"] = [node["pos"][0] + rng.randint(50, 500), node["pos"][1] - rng.randint(50, 500)]
    return changed, planted


def ours(a: dict[str, Any], b: dict[str, Any]) -> tuple[float, set[tuple[Any, ...]]]:
    job_a, job_b = job_from_document(a), job_from_document(b)  # shape detection only: no copying, no parsing
    best = float("inf")
    for _ in range(OURS_RUNS):
        start = time.perf_counter()
        result = diff_jobs(job_a, job_b)
        best = min(best, time.perf_counter() - start)
    found = {(n.subgraph, n.id, c.name, json.dumps(c.a), json.dumps(c.b))
             for n in result.nodes.changed for c in n.inputs}
    return best, found


def baseline(a: dict[str, Any], b: dict[str, Any]) -> tuple[float, set[tuple[Any, ...]]]:
    start = time.perf_counter()
    result = DeepDiff(a, b)
    elapsed = time.perf_counter() - start
    found = set()
    for report in ("values_changed", "type_changes"):
        for path, change in result.get(report, {}).items():
            steps = [step for step, _kind in _path_to_elements(path)][1:]
            if "widgets_values" not in steps:
                continue
            at = steps.index("widgets_values")
            for graph_id, prefix, graph in graphs(a):
                if tuple(steps[: at - 1]) == prefix:
                    node = graph["nodes"][steps[at - 1]]
                    found.add((graph_id, str(node["id"]), f"widgets_values[{steps[at + 1]}]",
                               json.dumps(change["old_value"]), json.dumps(change["new_value"])))
    return elapsed, found


def main() -> int:
    rng = random.Random(20261128)
    rows = []
    ok = True
    print(f"{'template':58} {'KB':>5} {'nodes':>5} {'diff_jobs ms':>12} {'DeepDiff ms':>11} {'ratio':>7}  same 3")
    for name, size, workflow in workflows_by_size()[:TEMPLATES]:
        changed, planted = make_copy(workflow, rng)
        ours_t, ours_found = ours(workflow, changed)
        base_t, base_found = baseline(workflow, changed)
        same = ours_found == planted == base_found and len(planted) == WIDGET_CHANGES
        ok = ok and same
        nodes = sum(len(g["nodes"]) for _, _, g in graphs(workflow))
        rows.append((name, base_t / ours_t))
        print(f"{name[:58]:58} {size // 1024:5} {nodes:5} {ours_t * 1000:12.2f} {base_t * 1000:11.1f} "
              f"{base_t / ours_t:6.0f}x  {'yes' if same else 'NO'}")
    ratios = [r for _, r in rows]
    print(f"\nratios over the {len(rows)} largest templates: min {min(ratios):.0f}x, "
          f"median {statistics.median(ratios):.0f}x, max {max(ratios):.0f}x")
    largest_name, largest_ratio = rows[0]
    passed = largest_ratio >= TARGET and ok
    print(f"{'PASS' if passed else 'FAIL'}: largest template {largest_name}: diff_jobs {largest_ratio:.0f}x faster "
          f"than DeepDiff (target {TARGET:.0f}x); same {WIDGET_CHANGES} widget changes on all: {'yes' if ok else 'NO'}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
