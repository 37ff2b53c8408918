"""The real-world corpus: every Comfy-Org template workflow survives the recipe round trip byte for byte."""

from __future__ import annotations

import json
import uuid

import pytest
from helpers import corpus_files, corpus_workflows

from replay.jobs import job_from_document
from replay.recipe import build_recipe, dumps_recipe, export_job, loads_recipe, write_recipe

WORKFLOWS = corpus_workflows()


def wrap_as_job(name: str, workflow: dict) -> dict:
    """A job detail as an OSS server would return it for a run of this workflow."""
    job_id = str(uuid.uuid5(uuid.NAMESPACE_URL, name))
    return {
        "id": job_id,
        "status": "completed",
        "priority": 1,
        "create_time": 1767225600000,
        "execution_start_time": 1767225600100,
        "execution_end_time": 1767225609000,
        "outputs_count": 0,
        "workflow_id": workflow.get("id", job_id),
        "outputs": {},
        "workflow": {"prompt": {}, "extra_data": {"client_id": "corpus", "extra_pnginfo": {"workflow": workflow}}},
    }


def test_the_corpus_is_all_there():
    files = corpus_files()
    print(f"\ncorpus: {len(files)} files, {len(WORKFLOWS)} UI workflows, "
          f"{len(files) - len(WORKFLOWS)} index/metadata files (not workflows by shape)")
    assert len(WORKFLOWS) >= 600
    for path in files:
        data = json.loads(path.read_text(encoding="utf-8"))
        is_workflow = isinstance(data, dict) and isinstance(data.get("nodes"), list)
        assert is_workflow or path.name.startswith(("index", "fuse_")), f"{path.name} is neither workflow nor index"


@pytest.mark.parametrize(("name", "workflow"), WORKFLOWS, ids=[n for n, _ in WORKFLOWS])
def test_corpus_workflow_survives_the_recipe_round_trip(tmp_path, name, workflow):
    detail = wrap_as_job(name, workflow)
    recipe = build_recipe(job_from_document(detail))
    text = dumps_recipe(recipe)
    back = loads_recipe(text, file=name)
    assert export_job(back) == detail
    assert back["ui_workflow"] == workflow
    # byte-stable: writing what was read gives the same bytes, and writing again changes nothing
    assert dumps_recipe(build_recipe(job_from_document(export_job(back)))) == text
    path = tmp_path / "r.yaml"
    assert write_recipe(path, recipe) == "written"
    assert write_recipe(path, back) == "unchanged"
