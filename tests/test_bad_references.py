"""Bad job references are refused with exit 2 before any request reaches the server (issue 14)."""

from __future__ import annotations

import io

import pytest
from helpers import DATA

from replay.cli import main

JOB_ID = "f7838b83-aab4-48ed-96a5-1e0cb6760bc6"
BAD_IDS = ["not-a-uuid", "../../etc/passwd", "1234", JOB_ID[:-1]]
RECIPE = str(DATA / "oss/fail_runtime_zerodiv.job.json")

COMMANDS = {
    "fetch": lambda ref: ["fetch", ref, "-o", "out"],
    "show": lambda ref: ["show", ref],
    "export": lambda ref: ["export", ref],
    "repro": lambda ref: ["repro", ref, "-o", "out", "--submit"],
    "submit": lambda ref: ["submit", ref],
    "diff A": lambda ref: ["diff", ref, RECIPE],
    "diff B": lambda ref: ["diff", RECIPE, ref],
    "validate": lambda ref: ["validate", ref],
    "convert": lambda ref: ["convert", ref],
    "textconv": lambda ref: ["textconv", ref],
}


def run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdin=io.BytesIO(b""), stdout=out, stderr=err, env={})
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("ref", BAD_IDS)
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_a_bad_job_id_exits_2_before_any_request(tmp_path, monkeypatch, oss_server, command, ref):
    monkeypatch.chdir(tmp_path)
    code, out, err = run([*COMMANDS[command](ref), "--server", oss_server.url])
    assert code == 2, err
    assert err.startswith(f"comfy-replay: error: {ref}: no such file") and err.count("\n") == 1, err
    assert oss_server.requests == [] and oss_server.connections == 0
    assert out == "" and list(tmp_path.iterdir()) == []


def test_a_good_job_id_still_reaches_the_server(tmp_path, monkeypatch, oss_server):
    monkeypatch.chdir(tmp_path)
    code, _, err = run(["show", JOB_ID, "--server", oss_server.url])
    assert code == 3 and "not found" in err
    assert any(r.path.endswith(JOB_ID) for r in oss_server.requests)
