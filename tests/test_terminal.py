"""Terminal-safe text (replay/terminal.py): a job's control characters are shown, never acted on."""

from __future__ import annotations

import copy
import io
import json

from helpers import DATA

from replay.cli import main
from replay.terminal import one_line, printable

CLEAR_AND_RED = "\x1b[2J\x1b[31m"
RETITLE = "\x1b]0;pwned\x07"


def test_printable_escapes_control_characters_but_keeps_lines_and_tabs():
    assert printable(f"a{CLEAR_AND_RED}b\rc\n\td\x9be\x7f") == "a\\x1b[2J\\x1b[31mb\\rc\n\td\\x9be\\x7f"


def test_printable_keeps_only_comfy_replays_own_colours_and_only_when_asked():
    painted = "\x1b[32m+ added\x1b[0m " + RETITLE
    assert printable(painted, colours=True) == "\x1b[32m+ added\x1b[0m \\x1b]0;pwned\\x07"
    assert printable(painted) == "\\x1b[32m+ added\\x1b[0m \\x1b]0;pwned\\x07"


def test_one_line_escapes_newlines_too():
    assert one_line("x.png\nidentical prompt and results\r") == "x.png\\nidentical prompt and results\\r"


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdin=io.BytesIO(b""), stdout=out, stderr=err, env={})
    return code, out.getvalue(), err.getvalue()


def hostile_copy(tmp_path) -> tuple[str, str]:
    """A recorded ComfyUI job, and a copy whose output file name and text output carry escape sequences."""
    source = DATA / "outputs" / "success_a_run1.job.json"
    job = json.loads(source.read_text(encoding="utf-8"))
    hostile = copy.deepcopy(job)
    node = next(iter(hostile["outputs"]))
    hostile["outputs"][node]["images"][0]["filename"] = f"x{CLEAR_AND_RED}\nidentical prompt and results\r.png"
    hostile["outputs"]["99"] = {"text": [f"line 1{RETITLE}\nline 2"]}
    path = tmp_path / "hostile.job.json"
    path.write_text(json.dumps(hostile), encoding="utf-8")
    return str(source), str(path)


def test_diff_show_and_textconv_print_no_escape_sequence_from_a_job(tmp_path):
    plain, hostile = hostile_copy(tmp_path)
    for argv in (["diff", plain, hostile], ["show", hostile], ["textconv", hostile]):
        code, out, _ = run(argv)
        assert code == 0
        assert "\x1b" not in out and "\r" not in out and "\x07" not in out, argv
        assert "\\x1b[2J" in out, argv
    _, out, _ = run(["diff", plain, hostile])
    assert "identical prompt and results" not in out.splitlines()  # never a line of its own
    _, out, _ = run(["show", hostile])
    assert "x\\x1b[2J\\x1b[31m\\nidentical prompt and results\\r.png" in out


def test_validate_lines_and_error_lines_show_a_file_names_control_characters(tmp_path):
    hostile = tmp_path / f"job{CLEAR_AND_RED}.json"
    hostile.write_text(json.dumps({"1": {"class_type": "SaveImage", "inputs": {"images": ["7", 0]}}}))
    out, err = io.StringIO(), io.StringIO()
    assert main(["validate", str(hostile)], stdout=out, stderr=err, env={}) == 1
    assert "\x1b" not in out.getvalue() and "job\\x1b[2J\\x1b[31m.json: " in out.getvalue()
    out, err = io.StringIO(), io.StringIO()
    assert main(["submit", str(hostile), "--server", "http://127.0.0.1:9"], stdout=out, stderr=err, env={}) == 2
    assert "\x1b" not in err.getvalue() and "job\\x1b[2J\\x1b[31m.json" in err.getvalue()
