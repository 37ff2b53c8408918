"""Issue 15 items 4-9: the smaller defects found using the tool as a new user would, one test or more each."""

from __future__ import annotations

import copy
import gzip
import io
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakecomfy import FakeComfy
from helpers import DATA, load

from replay.cli import main

ROOT = Path(__file__).resolve().parent.parent
JOB_ID = "f7838b83-aab4-48ed-96a5-1e0cb6760bc6"
JOB_FILE = str(DATA / "oss/fail_runtime_zerodiv.job.json")
OBJECT_INFO = str(DATA / "object_info.json.gz")


def run(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(args, stdin=io.BytesIO(b""), stdout=out, stderr=err, env=env or {})
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def fake() -> Iterator[FakeComfy]:
    info = json.loads(gzip.decompress((DATA / "object_info.json.gz").read_bytes()))
    server = FakeComfy(dialect="oss", object_info=info, run_polls=0).start()
    server.add_job(load("oss/fail_runtime_zerodiv.job.json"))
    yield server
    server.stop()
    assert not server.errors, "\n".join(server.errors)


# --- item 4: validate --strict holds the job inside a recipe to the Cloud schema -------------------------------


@pytest.mark.parametrize("dialect", ["oss", "cloud"])
def test_strict_validation_finds_the_same_problems_in_a_job_file_and_in_its_recipe(tmp_path: Path, dialect: str):
    job_file = str(DATA / dialect / "fail_runtime_zerodiv.job.json")
    recipe = str(tmp_path / "r.yaml")
    assert run(["fetch", job_file, "-o", recipe])[0] == 0
    code, out, _ = run(["validate", recipe])
    assert code == 0 and out == ""
    _, job_out, _ = run(["validate", "--strict", job_file])
    code, recipe_out, _ = run(["validate", "--strict", recipe])
    job_lines = [line.split(": ", 1)[1] for line in job_out.splitlines()]
    recipe_lines = [line.split(": ", 1)[1] for line in recipe_out.splitlines()]
    if dialect == "cloud":  # a Cloud job passes in both forms
        assert code == 0 and job_lines == recipe_lines == []
    else:  # an OSS job lacks update_time and sends current_outputs as a list: found in both, located in each
        assert code == 1
        assert job_lines == ["$: 'update_time' is a required property",
                             "$.execution_error.current_outputs: expected object, got array"]
        assert recipe_lines == ["$.job: 'update_time' is a required property",
                                "$.job.execution_error.current_outputs: expected object, got array"]


# --- item 5: a not-found error shows the URL used and hints at a wrong path -------------------------------------


def test_a_job_not_found_under_a_wrong_path_names_the_url_and_the_path(fake: FakeComfy):
    code, _, err = run(["show", JOB_ID, "--server", f"{fake.url}/nope"])
    assert code == 3
    assert f"{fake.url}/nope/" in err
    assert "the path /nope in the server address may be wrong" in err
    code, _, err = run(["show", JOB_ID, "--server", fake.url])
    assert code == 0, err


# --- item 7: diff --ignore with a bare word ---------------------------------------------------------------------


def test_a_bare_word_as_ignore_pattern_is_refused_with_the_forms_to_use():
    success = str(DATA / "oss/success_a.job.json")
    code, out, err = run(["diff", JOB_FILE, success, "--ignore", "width"])
    assert code == 2 and out == ""
    assert err == ("comfy-replay: error: --ignore width: a bare word matches nothing; write root[**]['width'] for "
                   "every key named width, or root['width'] for node width\n")
    _, plain, _ = run(["diff", JOB_FILE, success, "--json"])
    code, ignored, err = run(["diff", JOB_FILE, success, "--json", "--ignore", "root[**]['width']"])
    assert code == 0, err
    assert '"name": "width"' in json.dumps(json.loads(plain)["nodes"])
    assert '"name": "width"' not in json.dumps(json.loads(ignored)["nodes"])


# --- item 8: textconv lists outputs in node order -------------------------------------------------------------


def test_textconv_lists_outputs_in_node_order_whatever_order_the_server_sent(tmp_path: Path):
    detail = load("oss/success_a.job.json")
    assert list(detail["outputs"]) == ["5", "4"]  # the server's (execution) order
    reordered = copy.deepcopy(detail)
    reordered["outputs"] = {"4": detail["outputs"]["4"], "5": detail["outputs"]["5"]}
    (tmp_path / "a.json").write_text(json.dumps(detail), encoding="utf-8")
    (tmp_path / "b.json").write_text(json.dumps(reordered), encoding="utf-8")
    _, text_a, _ = run(["textconv", str(tmp_path / "a.json")])
    _, text_b, _ = run(["textconv", str(tmp_path / "b.json")])
    assert text_a == text_b
    assert re.findall(r"^output (\d+) ", text_a, flags=re.MULTILINE) == ["4", "5"]


# --- item 9: the smaller ones ------------------------------------------------------------------------------------


def test_repro_says_dropped_node_not_a_bare_number():
    code, out, err = run(["repro", JOB_FILE, "--minimal", "-o", "-"])
    assert code == 0, err
    assert "rebuilt    minimal: 7 of 8 nodes kept, dropped node 3\n" in err


def test_a_dangling_link_is_reported_once_with_definitions(tmp_path: Path):
    prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}},
              "2": {"class_type": "PreviewImage", "inputs": {"images": ["9", 0]}}}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(prompt), encoding="utf-8")
    code, out, _ = run(["validate", str(path), "--object-info", OBJECT_INFO])
    assert code == 1
    assert out == f'{path}: $["2"].inputs.images: links to node "9", which does not exist\n'


def test_show_on_a_repro_recipe_tells_what_it_reproduces(tmp_path: Path):
    recipe = str(tmp_path / "r.repro.yaml")
    assert run(["repro", JOB_FILE, "--minimal", "--set", "6.value=2", "-o", recipe])[0] == 0
    code, out, err = run(["show", recipe])
    assert code == 0, err
    assert out.splitlines() == [
        "status        (a repro recipe, not run yet)",
        "nodes         7",
        "outputs       none",
        f"repro of      job {JOB_ID}",
        "which failed  node 5 (ComfyMathExpression): ZeroDivisionError: division by zero",
        "rebuilt       minimal, target 8",
        "set           6.value=2",
    ]
    code, out, _ = run(["show", recipe, "--json"])
    assert json.loads(out)["repro"]["targets"] == ["8"]
    assert json.loads(run(["show", JOB_FILE, "--json"])[1])["repro"] is None


def test_export_job_of_a_prompt_file_does_not_call_it_a_recipe(tmp_path: Path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps(load("oss/fail_runtime_zerodiv.job.json")["workflow"]["prompt"]), encoding="utf-8")
    code, _, err = run(["export", str(path), "--job"])
    assert code == 2
    assert err == "comfy-replay: error: this is an API prompt file: it holds no job record; try --prompt\n"


def test_diff_refuses_json_with_another_format():
    code, out, err = run(["diff", JOB_FILE, JOB_FILE, "--json", "--format", "md"])
    assert code == 2 and out == ""
    assert err.startswith("comfy-replay: error: --json and --format md ask for two formats")
    assert run(["diff", JOB_FILE, JOB_FILE, "--json", "--format", "json"])[0] == 0


def test_quiet_archive_prints_no_summary(fake: FakeComfy, tmp_path: Path):
    code, out, err = run(["archive", "-o", str(tmp_path), "-q"], {"COMFY_SERVER": fake.url})
    assert code == 0, err
    assert out == f"{tmp_path / JOB_ID}.yaml\n" and err == ""
    code, _, err = run(["archive", "-o", str(tmp_path / "again")], {"COMFY_SERVER": fake.url})
    assert err.startswith("1 written, 0 unchanged")


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "soon"])
def test_a_timeout_that_is_not_a_positive_number_is_refused(value: str, fake: FakeComfy):
    code, _, err = run(["show", JOB_ID, "--server", fake.url, "--timeout", value])
    assert code == 2 and err.startswith("comfy-replay: error: argument --timeout:")
    assert fake.requests == []


def test_repro_says_its_recipe_was_written_when_preflight_refuses_to_submit_it(fake: FakeComfy, tmp_path: Path):
    recipe = tmp_path / "r.yaml"
    code, out, err = run(["repro", JOB_FILE, "--set", "1.width=-5", "--submit", "-o", str(recipe)],
                         {"COMFY_SERVER": fake.url})
    assert code == 2 and out == ""
    assert err.splitlines()[0] == (
        f"comfy-replay: error: preflight found 1 problem in the prompt; nothing was submitted (fix them, or pass "
        f"--no-preflight); the recipe {recipe} was written: fix it there and `comfy-replay submit {recipe}`")
    assert recipe.exists() and fake.submissions == []


def test_the_readme_example_job_ids_are_job_ids_not_workflow_ids():
    ids = set(re.findall(r"comfy-replay \w+ ([0-9a-f-]{36})", (ROOT / "README.md").read_text(encoding="utf-8")))
    examples = [json.loads(p.read_text(encoding="utf-8")) for p in (ROOT / "recipes/examples").glob("*.job.json")]
    assert ids and ids <= {d["id"] for d in examples}


def test_the_no_preflight_example_shows_what_the_real_server_answered():
    text = (ROOT / "docs/cli.md").read_text(encoding="utf-8")
    block = text.split("comfy-replay submit bad_prompt.json --no-preflight\n", 1)[1].split("```", 1)[0]
    # recorded from ComfyUI 0.33.0 (2026-12-03) with the bad_prompt.json the text describes
    assert block.splitlines() == [
        "comfy-replay: error: the server rejected the prompt: Prompt outputs failed validation (Required input is "
        "missing: images)",
        "  node 1 (EmptyImage): Value -5 smaller than min of 1: width",
        "  node 3 (SaveImage): Required input is missing: images",
    ]
    preflight = text.split("comfy-replay submit bad_prompt.json\n", 1)[1].split("$ ", 1)[0]
    assert preflight.splitlines()[1:] == ['  $["1"].inputs.width: -5 is below the minimum 1',
                                          '  $["3"].inputs.images: required input is missing']




def test_a_client_that_hangs_up_leaves_no_traceback_in_the_test_output(capfd: pytest.CaptureFixture[str]):
    from replay.client import Client
    from replay.errors import ServerUnreachable

    with FakeComfy(dialect="oss", delay=0.5) as server:
        with Client(server.url, timeout=0.1, retries=0) as client, pytest.raises(ServerUnreachable):
            client.get_job(JOB_ID)
        server.delay = 0.0
        with Client(server.url) as client:  # the server still answers after that
            assert client.has_jobs_api()
    assert server.errors == []
    captured = capfd.readouterr()
    assert "Traceback" not in captured.err and "-" * 40 not in captured.err
