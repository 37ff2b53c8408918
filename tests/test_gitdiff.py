"""git integration: the textconv rendering of recipes, git-setup, and a real `git diff` through the driver."""

from __future__ import annotations

import io
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from replay.cli import main
from replay.gitdiff import render_textconv, textconv
from replay.jobs import job_from_document
from replay.recipe import build_recipe, dumps_recipe

EXAMPLES = Path(__file__).parent.parent / "recipes" / "examples"
ATTRIBUTE = "recipes/**/*.yaml diff=comfy-replay"

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def run(argv):
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdin=io.BytesIO(b""), stdout=out, stderr=err, env={})
    return code, out.getvalue(), err.getvalue()


def render(doc):
    return render_textconv(job_from_document(doc))


PROMPT = {
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.safetensors"}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a red fox\nin the snow\nat dawn", "clip": ["4", 1]},
          "_meta": {"title": "Positive"}},
    "10": {"class_type": "KSampler", "inputs": {"seed": 42, "model": ["4", 0], "positive": ["6", 0]}},
    "3": {"class_type": "SaveImage", "inputs": {"images": ["10", 0], "filename_prefix": "fox"}},
}


# ---------------------------------------------------------------------------------------------- textconv


def test_each_prompt_input_is_one_line_naming_node_and_class():
    lines = render(PROMPT).splitlines()
    assert "node 10 KSampler seed: 42" in lines
    assert 'node 3 SaveImage filename_prefix: "fox"' in lines


def test_links_are_shown_as_node_and_slot():
    lines = render(PROMPT).splitlines()
    assert "node 10 KSampler model: 4[0]" in lines
    assert "node 6 CLIPTextEncode clip: 4[1]" in lines


def test_nodes_come_in_natural_id_order():
    heads = [line for line in render(PROMPT).splitlines() if line.startswith("node ") and line.count(" ") == 2]
    assert heads == ["node 3 SaveImage", "node 4 CheckpointLoaderSimple", "node 6 CLIPTextEncode", "node 10 KSampler"]


def test_multi_line_text_is_a_block_so_one_changed_line_is_one_changed_line():
    before = render(PROMPT).splitlines()
    assert before[before.index("node 6 CLIPTextEncode text: |-") + 1:][:3] == [
        "    a red fox", "    in the snow", "    at dawn"]
    changed = json.loads(json.dumps(PROMPT))
    changed["6"]["inputs"]["text"] = "a red fox\nin the rain\nat dawn"
    after = render(changed).splitlines()
    assert sorted(set(before) ^ set(after)) == ["    in the rain", "    in the snow"]


def test_a_recipe_with_a_dangling_link_still_renders(tmp_path):
    recipe = build_recipe(job_from_document(PROMPT))
    recipe["prompt"]["10"]["inputs"]["model"] = ["99", 0]
    path = tmp_path / "broken.yaml"
    path.write_text(dumps_recipe(recipe), encoding="utf-8")
    assert "node 10 KSampler model: 99[0]" in textconv(str(path)).splitlines()


def test_titles_are_lines_of_their_own():
    assert 'node 6 CLIPTextEncode _meta.title: "Positive"' in render(PROMPT).splitlines()


def test_ui_layout_is_left_out_but_widgets_links_and_modes_are_shown():
    ui = json.loads((EXAMPLES / "ui_basic_datatype_conversion.json").read_text())
    text = render(ui)
    for word in ("pos", "size", "ds", "order", "flags", "bgcolor", "groups", "offset"):
        assert f" {word}" not in text and f".{word}" not in text, word
    assert "ui 3 ComfyNumberConvert input value: 2[0]" in text.splitlines()
    assert 'ui 2 PrimitiveStringMultiline widget 0: "1"' in text.splitlines()
    moved = json.loads(json.dumps(ui))
    for node in moved["nodes"]:
        node["pos"] = [node["pos"][0] + 500, 7] if isinstance(node.get("pos"), list) else [1, 2]
        node["size"] = [1, 1]
        node["color"] = "#123"
    moved["extra"]["ds"] = {"scale": 3.0, "offset": [9, 9]}
    assert render(moved) == text
    moved["nodes"][0]["mode"] = 4
    assert f"ui {moved['nodes'][0]['id']} {moved['nodes'][0]['type']} mode: 4 (bypass)" in render(moved)


def test_recipe_header_says_job_status_error_and_outputs(tmp_path):
    job = job_from_document(json.loads((EXAMPLES / "fail_runtime_zerodiv.job.json").read_text()))
    path = tmp_path / "r.yaml"
    path.write_text(dumps_recipe(build_recipe(job)), encoding="utf-8")
    lines = textconv(str(path)).splitlines()
    assert "job: f7838b83-aab4-48ed-96a5-1e0cb6760bc6" in lines
    assert "status: failed" in lines
    assert "error node: 5 ComfyMathExpression" in lines
    assert "error exception: ZeroDivisionError" in lines
    assert "output 3 images: reftest/fail_partial_00001_.png (output)" in lines
    assert "node 5 ComfyMathExpression values.b: 6[0]" in lines


def test_textconv_is_deterministic_and_the_same_from_recipe_and_job_json(tmp_path):
    source = EXAMPLES / "success_a.job.json"
    path = tmp_path / "r.yaml"
    path.write_text(dumps_recipe(build_recipe(job_from_document(json.loads(source.read_text())))), encoding="utf-8")
    first = textconv(str(path))
    assert textconv(str(path)) == first
    body = first[first.index("# prompt"):]
    assert textconv(str(source)).endswith(body)


def _artifact(node, index, sha):
    return {"node": node, "key": "images", "index": index, "filename": f"x_{node}_{index}.png", "subfolder": "",
            "type": "output", "sha256": sha * 64, "size": 10, "media_type": "image/png"}


def test_artifact_lines_keep_one_order_whatever_order_the_server_ran_the_nodes_in():
    # ComfyUI lists outputs in execution order, which changes between two runs of one prompt (seen on 0.33:
    # PreviewImage 5 before SaveImage 4 in one run, after it in the next); git diff must not see a change.
    job = job_from_document(PROMPT)
    job.artifacts = [_artifact("10", 0, "c"), _artifact("3", 1, "b"), _artifact("3", 0, "a")]
    first = render_textconv(job)
    job.artifacts = [_artifact("3", 0, "a"), _artifact("3", 1, "b"), _artifact("10", 0, "c")]
    assert render_textconv(job) == first
    labels = [line.split(":")[0] for line in first.splitlines() if line.startswith("artifact ")]
    assert labels == ["artifact 3 images[0]", "artifact 3 images[1]", "artifact 10 images[0]"]


@pytest.mark.parametrize("content", [b"recipe: [\n", b"{not json", b"", b"just a string\n", b"recipe: 7\nprompt: {}\n"])
def test_textconv_of_a_bad_file_exits_2_with_one_line(tmp_path, content):
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    code, out, err = run(["textconv", str(path)])
    assert code == 2 and out == ""
    assert err.startswith("comfy-replay: error: ") and err.count("\n") == 1, err


def test_textconv_of_a_missing_file_exits_2(tmp_path):
    code, _, err = run(["textconv", str(tmp_path / "nope.yaml")])
    assert code == 2 and "no such file" in err


# ---------------------------------------------------------------------------------------------- git-setup


@pytest.fixture
def git_env(tmp_path, monkeypatch):
    """An environment where git sees only what the test makes: no global config, no repo above tmp_path."""
    for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_CONFIG_GLOBAL", "GIT_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CEILING_DIRECTORIES", str(tmp_path))
    return tmp_path


def git(repo, *args):
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


def make_repo(path):
    path.mkdir()
    git(path, "init", "-q")
    git(path, "config", "user.name", "Test")
    git(path, "config", "user.email", "test@example.com")
    return path


@needs_git
def test_git_setup_adds_the_attribute_once_and_keeps_existing_content(git_env, monkeypatch):
    repo = make_repo(git_env / "repo")
    (repo / "sub").mkdir()
    (repo / ".gitattributes").write_text("*.png binary", encoding="utf-8")  # no final newline
    monkeypatch.chdir(repo / "sub")
    assert run(["git-setup"])[0] == 0
    code, out, _ = run(["git-setup", "--json"])
    assert code == 0 and json.loads(out)["line_added"] is False and json.loads(out)["config_changed"] is False
    assert (repo / ".gitattributes").read_text(encoding="utf-8") == f"*.png binary\n{ATTRIBUTE}\n"
    assert git(repo, "config", "--local", "--get", "diff.comfy-replay.textconv").strip() == "comfy-replay textconv"


@needs_git
def test_git_setup_creates_gitattributes_with_the_given_pattern(git_env, monkeypatch):
    repo = make_repo(git_env / "repo")
    monkeypatch.chdir(repo)
    code, out, _ = run(["git-setup", "--pattern", "*.recipe.yml"])
    assert code == 0 and "added" in out
    assert (repo / ".gitattributes").read_text(encoding="utf-8") == "*.recipe.yml diff=comfy-replay\n"


@needs_git
def test_git_setup_outside_a_repository_exits_2_and_writes_nothing(git_env, monkeypatch):
    folder = git_env / "plain"
    folder.mkdir()
    monkeypatch.chdir(folder)
    code, out, err = run(["git-setup"])
    assert code == 2 and out == ""
    assert "not inside a git work tree" in err and err.count("\n") == 1
    assert list(folder.iterdir()) == []


@needs_git
def test_git_setup_refuses_a_pattern_with_spaces(git_env, monkeypatch):
    repo = make_repo(git_env / "repo")
    monkeypatch.chdir(repo)
    assert run(["git-setup", "--pattern", "my recipes/*.yaml"])[0] == 2
    assert not (repo / ".gitattributes").exists()


# ---------------------------------------------------------------------------------------------- real git


def _point_git_at_this_interpreter(repo, monkeypatch):
    """Let git run `comfy-replay textconv` from the interpreter running the tests, installed or not."""
    bindir = os.path.dirname(sys.executable)
    monkeypatch.setenv("PATH", bindir + os.pathsep + os.environ.get("PATH", ""))
    if shutil.which("comfy-replay", path=bindir) is None:
        root = str(Path(__file__).parent.parent)
        monkeypatch.setenv("PYTHONPATH", root + os.pathsep + os.environ.get("PYTHONPATH", ""))
        git(repo, "config", "diff.comfy-replay.textconv", f"{shlex.quote(sys.executable)} -m replay textconv")


@needs_git
def test_git_diff_of_a_changed_seed_shows_only_that_input_line(git_env, monkeypatch):
    repo = make_repo(git_env / "repo")
    monkeypatch.chdir(repo)
    assert run(["git-setup"])[0] == 0
    _point_git_at_this_interpreter(repo, monkeypatch)
    recipe = repo / "recipes" / "fox.yaml"
    recipe.parent.mkdir()
    recipe.write_text(dumps_recipe(build_recipe(job_from_document(PROMPT))), encoding="utf-8")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "fox")
    text = recipe.read_text(encoding="utf-8")
    assert text.count("seed: 42\n") == 1
    recipe.write_text(text.replace("seed: 42\n", "seed: 43\n"), encoding="utf-8")

    expected = ["-node 10 KSampler seed: 42", "+node 10 KSampler seed: 43"]
    assert changed_lines(git(repo, "diff", "--no-color")) == expected
    git(repo, "commit", "-q", "-am", "new seed")
    assert changed_lines(git(repo, "log", "-p", "--no-color", "-1")) == expected


def changed_lines(patch):
    return [line for line in patch.splitlines() if line.startswith(("+", "-")) and not line.startswith(("+++", "---"))]
