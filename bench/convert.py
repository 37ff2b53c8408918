"""Benchmark: convert every UI workflow of the template corpus, next to json.loads of the same files.

Run as `python bench/convert.py`. Prints the mean time per workflow of each and their ratio, which
must stay within TARGET (issue 14). The definitions are today's 886 classes as recorded (keys sorted,
so dynamic-combo input orders are inferred: the slower path). Templates with node types missing from
them are converted with allow_unknown, so every workflow is timed.
"""

from __future__ import annotations

import time
from pathlib import Path

import comfyui_workflow_templates_json as package

from replay.convert import convert_workflow
from replay.nodedefs import load_object_info

ROUNDS = 11
TARGET = 2.0
OBJECT_INFO = Path(__file__).resolve().parent.parent / "tests" / "data" / "object_info_with_api_nodes.json.gz"


def main() -> int:
    import json

    defs = load_object_info(OBJECT_INFO)
    texts = []
    for path in sorted((Path(package.__file__).parent / "templates").glob("*.json")):
        text = path.read_text(encoding="utf-8")
        doc = json.loads(text)
        if isinstance(doc, dict) and isinstance(doc.get("nodes"), list):
            texts.append(text)
    docs = [json.loads(t) for t in texts]

    best_parse = best_convert = float("inf")
    for _ in range(ROUNDS):
        start = time.perf_counter()
        for text in texts:
            json.loads(text)
        best_parse = min(best_parse, time.perf_counter() - start)
        start = time.perf_counter()
        for doc in docs:
            convert_workflow(doc, defs, allow_unknown=True)
        best_convert = min(best_convert, time.perf_counter() - start)

    count = len(texts)
    print(f"workflows: {count} (best of {ROUNDS} rounds)")
    print(f"json.loads:        {best_parse / count * 1e3:8.3f} ms per workflow")
    print(f"convert_workflow:  {best_convert / count * 1e3:8.3f} ms per workflow")
    ratio = best_convert / best_parse
    print(f"ratio convert / json.loads: {ratio:.2f}")
    print(f"{'PASS' if ratio <= TARGET else 'FAIL'}: convert within {TARGET:.0f}x json.loads")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
