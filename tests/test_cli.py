"""The command line, offline: bad input gets one clear line and exit 2, and nothing is written."""

from __future__ import annotations

import io
import json

import pytest
from helpers import DATA, load

from replay.cli import main

JOB_ID = "f7838b83-aab4-48ed-96a5-1e0cb6760bc6"


def run(argv, *, stdin: bytes = b"", env=None):
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdin=io.BytesIO(stdin), stdout=out, stderr=err, env=env if env is not None else {})
    return code, out.getvalue(), err.getvalue()


PROMPT_OK = {"1": {"class_type": "EmptyImage", "inputs": {"width": 8}},
             "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0]}}}

BAD_FILES = {
    "not_json.json": b"this is { not json",
    "truncated.json": json.dumps(load("oss/success_a.job.json")).encode()[:500],
    "a_list.json": b"[1, 2, 3]",
    "a_number.json": b"42",
    "python_tag.yaml": b"recipe: 1\nprompt: !!python/object/apply:os.system ['echo pwned']\n",
    "alias_bomb.yaml": (b"a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
                        b"c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
                        b"recipe: 1\nprompt: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"),
    "duplicate_keys.yaml": b"recipe: 1\nprompt:\n  '1': {class_type: A, inputs: {}}\n  '1': {class_type: B, inputs: {}}\n",
    "duplicate_keys.json": b'{"1": {"class_type": "A", "inputs": {}}, "1": {"class_type": "B", "inputs": {}}}',
    "int_node_id.yaml": b"recipe: 1\nprompt:\n  1: {class_type: A, inputs: {}}\n",
    "empty.json": b"",
    "binary.json": bytes(range(256)) * 4,
    "dangling_link.json": json.dumps({"1": {"class_type": "SaveImage", "inputs": {"images": ["9", 0]}}}).encode(),
    "cycle.json": json.dumps({
        "1": {"class_type": "A", "inputs": {"x": ["3", 0]}},
        "2": {"class_type": "B", "inputs": {"x": ["1", 0]}},
        "3": {"class_type": "C", "inputs": {"x": ["2", 0]}},
    }).encode(),
}


@pytest.mark.parametrize("name", sorted(BAD_FILES))
@pytest.mark.parametrize("command", ["fetch", "show", "export"])
def test_bad_file_exits_2_with_one_line_and_writes_nothing(tmp_path, monkeypatch, name, command):
    monkeypatch.chdir(tmp_path)
    (tmp_path / name).write_bytes(BAD_FILES[name])
    argv = [command, name] + (["-o", "out"] if command == "fetch" else [])
    code, out, err = run(argv)
    assert code == 2, err
    assert err.startswith("comfy-replay: error: ") and err.count("\n") == 1, err
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


@pytest.mark.parametrize("ref", ["1234", "../../etc/passwd", "not-a-uuid", JOB_ID[:-1]])
def test_bad_job_id_exits_2_and_sends_nothing(tmp_path, monkeypatch, ref):
    monkeypatch.chdir(tmp_path)
    # The server address points nowhere: a request would fail with exit 3, not 2.
    code, _, err = run(["fetch", ref, "--server", "http://127.0.0.1:9"])
    assert code == 2 and "not a job id" in err
    assert list(tmp_path.iterdir()) == []


def test_fetch_writes_recipes_and_a_second_fetch_changes_nothing(tmp_path):
    out_dir = tmp_path / "r"
    code, out, err = run(["fetch", str(DATA / "oss/fail_runtime_zerodiv.job.json"), "-o", str(out_dir)])
    assert code == 0, err
    path = out_dir / f"{JOB_ID}.yaml"
    assert out.strip() == str(path)
    first = path.read_bytes()
    code, out, _ = run(["fetch", str(DATA / "oss/fail_runtime_zerodiv.job.json"), "-o", str(out_dir), "--json"])
    assert code == 0 and json.loads(out) == {"written": [], "unchanged": [str(path)], "skipped": [], "failed": []}
    assert path.read_bytes() == first


def test_fetch_to_stdout_and_from_stdin(tmp_path):
    raw = (DATA / "oss/success_a.job.json").read_bytes()
    code, out, _ = run(["fetch", "-", "-o", "-"], stdin=raw)
    assert code == 0 and out.startswith("recipe: 1\n")
    code, exported, _ = run(["export", "-", "--job"], stdin=out.encode())
    assert code == 0 and json.loads(exported) == json.loads(raw)


def test_fetch_raw_keeps_the_json_beside_the_recipe(tmp_path):
    code, _, _ = run(["fetch", str(DATA / "oss/success_a.job.json"), "-o", str(tmp_path), "--raw"])
    assert code == 0
    (json_file,) = tmp_path.glob("*.json")
    assert json.loads(json_file.read_text()) == load("oss/success_a.job.json")


def test_fetch_refuses_one_file_for_several_jobs(tmp_path):
    code, _, err = run(["fetch", str(DATA / "oss/success_a.job.json"), str(DATA / "oss/pending.job.json"),
                        "-o", str(tmp_path / "one.yaml")])
    assert code == 2 and "one recipe file" in err and not (tmp_path / "one.yaml").exists()


def test_show_of_a_completed_job_lists_its_output(tmp_path):
    code, out, _ = run(["show", str(DATA / "oss/success_a.job.json")])
    assert code == 0
    lines = dict(line.split(None, 1) for line in out.splitlines() if line and not line.startswith(" "))
    assert lines["status"].strip() == "completed"
    assert "ComfyUI_" in out and ".png" in out


def test_show_json_of_a_failure_names_node_class_and_exception():
    code, out, _ = run(["show", str(DATA / "oss/fail_runtime_zerodiv.job.json"), "--json"])
    summary = json.loads(out)
    assert code == 0 and summary["status"] == "failed" and summary["nodes"] == 8
    assert summary["error"]["node_id"] == "5"
    assert summary["error"]["node_type"] == "ComfyMathExpression"
    assert summary["error"]["exception_type"] == "ZeroDivisionError"
    assert summary["error"]["message"] == "division by zero"


def test_export_ui_and_prompt_of_a_recipe(tmp_path):
    run(["fetch", str(DATA / "oss/success_a.job.json"), "-o", str(tmp_path)])
    (recipe,) = tmp_path.glob("*.yaml")
    detail = load("oss/success_a.job.json")
    code, out, _ = run(["export", str(recipe)])
    assert code == 0 and json.loads(out) == detail["workflow"]["prompt"]
    code, out, _ = run(["export", str(recipe), "--ui"])
    assert code == 0 and json.loads(out) == detail["workflow"]["extra_data"]["extra_pnginfo"]["workflow"]


def test_export_prompt_of_a_ui_only_file_says_what_to_do():
    code, _, err = run(["export", str(DATA.parent.parent / "recipes/examples/ui_basic_datatype_conversion.json")])
    assert code == 2 and "convert" in err


def test_unknown_command_and_missing_arguments_are_usage_errors():
    assert run(["frobnicate"])[0] == 2
    assert run(["fetch"])[0] == 2
    assert run([])[0] == 2


def test_version_and_help_exit_0():
    code, out, _ = run(["--version"])
    assert code == 0 and out.startswith("comfy-replay ")
    code, out, _ = run(["fetch", "--help"])
    assert code == 0 and "--raw" in out


def test_validate_prints_one_line_per_problem_and_exits_1(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"1": {"class_type": "SaveImage", "inputs": {"images": ["9", 0]}},
                               "2": {"class_type": "X", "inputs": {"a": ["2", -1]}}}))
    code, out, _ = run(["validate", str(bad), str(DATA / "oss/success_a.job.json")])
    assert code == 1
    lines = out.splitlines()
    assert len(lines) >= 2 and all(line.startswith(f"{bad}: $[") for line in lines)
    assert any('$["1"].inputs.images' in line and '"9"' in line for line in lines)


def test_validate_reports_yaml_parse_errors_at_line_and_column(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("recipe: 1\nprompt:\n  '1': {class_type: A, inputs: {}\n")
    code, out, _ = run(["validate", str(bad)])
    assert code == 1
    (line,) = out.splitlines()
    file, location, _message = line.split(": ", 2)
    assert file == str(bad) and location.split(":")[0].isdigit() and ":" in location


def test_validate_strict_holds_oss_jobs_to_the_cloud_schema():
    code, out, _ = run(["validate", "--strict", "--json", str(DATA / "oss/success_a.job.json")])
    result = json.loads(out)
    assert code == 1 and result["valid"] is False
    assert {"file": str(DATA / "oss/success_a.job.json"), "location": "$",
            "message": "'update_time' is a required property"} in result["problems"]
    code, out, _ = run(["validate", "--strict", "--json", str(DATA / "cloud/success_a.job.json")])
    assert code == 0 and json.loads(out) == {"valid": True, "problems": []}


def test_validate_with_object_info_checks_values_against_definitions(tmp_path):
    prompt = json.loads((DATA / "oss/success_a.request.json").read_text())["prompt"]
    prompt["2"]["inputs"]["blur_radius"] = 1000  # ImageBlur blur_radius has max 31
    path = tmp_path / "p.json"
    path.write_text(json.dumps(prompt))
    code, out, _ = run(["validate", str(path), "--object-info", str(DATA / "object_info.json.gz")])
    assert code == 1 and '$["2"].inputs.blur_radius' in out


def test_validate_of_a_missing_file_is_a_usage_error(tmp_path):
    code, _, err = run(["validate", str(tmp_path / "nope.json")])
    assert code == 2 and "no such file" in err


def test_fetch_with_object_info_gives_a_ui_file_a_prompt(tmp_path):
    ui = DATA.parent.parent / "recipes/examples/ui_basic_datatype_conversion.json"
    code, _, err = run(["fetch", str(ui), "-o", str(tmp_path), "--object-info", str(DATA / "object_info.json.gz")])
    assert code == 0, err
    code, out, _ = run(["export", str(tmp_path / "ui_basic_datatype_conversion.yaml")])
    prompt = json.loads(out)
    assert code == 0 and prompt and all("class_type" in node for node in prompt.values())
