"""Benchmark: recipe write + read over the whole template corpus, next to plain libyaml and PyYAML's safe path.

Run as `python bench/recipe.py`. Each template is wrapped as a completed job and turned into a recipe; then,
on the same recipe data, best of a few rounds:
  - comfy-replay: `dumps_recipe` + `loads_recipe` (canonical bytes, strict safe reader);
  - libyaml: `yaml.dump(Dumper=CSafeDumper)` + `yaml.load(Loader=CSafeLoader)` (the fastest PyYAML path);
  - safe: `yaml.safe_dump` + `yaml.safe_load` (the pure-Python path most tools use).
Targets (issue 2): comfy-replay ≤ 1.5× libyaml, and ≥ 5× faster than safe_dump/safe_load.
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import comfyui_workflow_templates_json as package
import yaml

from replay.jobs import job_from_document
from replay.recipe import build_recipe, dumps_recipe, loads_recipe

ROUNDS = 3


def corpus_recipes() -> list[dict[str, Any]]:
    recipes = []
    for path in sorted((Path(package.__file__).parent / "templates").glob("*.json")):
        workflow = json.loads(path.read_text(encoding="utf-8"))
        if not (isinstance(workflow, dict) and isinstance(workflow.get("nodes"), list)):
            continue
        job_id = str(uuid.uuid5(uuid.NAMESPACE_URL, path.name))
        detail = {"id": job_id, "status": "completed", "create_time": 1767225600000, "outputs": {},
                  "workflow": {"prompt": {}, "extra_data": {"extra_pnginfo": {"workflow": workflow}}}}
        recipes.append(build_recipe(job_from_document(detail)))
    return recipes


def best(func: Any, recipes: list[dict[str, Any]]) -> float:
    fastest = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for recipe in recipes:
            func(recipe)
        fastest = min(fastest, time.perf_counter() - start)
    return fastest


def ours(recipe: dict[str, Any]) -> None:
    loads_recipe(dumps_recipe(recipe))


def libyaml(recipe: dict[str, Any]) -> None:
    yaml.load(yaml.dump(recipe, Dumper=yaml.CSafeDumper, allow_unicode=True, sort_keys=False), Loader=yaml.CSafeLoader)


def safe(recipe: dict[str, Any]) -> None:
    yaml.safe_load(yaml.safe_dump(recipe, allow_unicode=True, sort_keys=False))


def main() -> int:
    recipes = corpus_recipes()
    size = sum(len(dumps_recipe(r)) for r in recipes)
    print(f"recipes: {len(recipes)} from the template corpus, {size / 1e6:.1f} MB of YAML (best of {ROUNDS} rounds)")
    t_ours, t_libyaml = best(ours, recipes), best(libyaml, recipes)
    t_safe = best(safe, recipes[::4]) * len(recipes) / len(recipes[::4])  # the slow path, on a quarter, scaled
    print(f"comfy-replay dumps+loads:  {t_ours:7.2f} s")
    print(f"libyaml C dump+load:       {t_libyaml:7.2f} s")
    print(f"safe_dump+safe_load:       {t_safe:7.2f} s (measured on every 4th recipe, scaled)")
    vs_libyaml, vs_safe = t_ours / t_libyaml, t_safe / t_ours
    ok = vs_libyaml <= 1.5 and vs_safe >= 5
    print(f"ratio comfy-replay / libyaml: {vs_libyaml:.2f}x (target <= 1.5x)")
    print(f"speed-up over safe_dump/safe_load: {vs_safe:.1f}x (target >= 5x)")
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
