"""The example recipes committed in recipes/ are exactly what `fetch` makes from recipes/examples today."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from replay.cli import main

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "recipes" / "examples"
SOURCES = {
    "cc3ee95d-63a7-4daa-8072-651d053baf28.yaml": "success_a.job.json",
    "f7838b83-aab4-48ed-96a5-1e0cb6760bc6.yaml": "fail_runtime_zerodiv.job.json",
    "221facac-58f2-4343-906b-4c9f46323b3d.yaml": "interrupted_running.history.json",
    "prompt_success_a.yaml": "prompt_success_a.json",
    "ui_basic_datatype_conversion.yaml": "ui_basic_datatype_conversion.json",
}


@pytest.mark.parametrize(("recipe", "source"), sorted(SOURCES.items()))
def test_committed_example_recipe_is_what_fetch_makes(tmp_path, recipe, source):
    out, err = io.StringIO(), io.StringIO()
    code = main(["fetch", str(EXAMPLES / source), "-o", str(tmp_path), "--object-info",
                 str(ROOT / "tests" / "data" / "object_info.json.gz")],
                stdin=io.BytesIO(), stdout=out, stderr=err, env={})
    assert code == 0, err.getvalue()
    assert (tmp_path / recipe).read_bytes() == (ROOT / "recipes" / recipe).read_bytes()
