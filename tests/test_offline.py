"""Commands on local files make no request; optional lookups are short and say so; a dead server fails at once.

Issue 15 items 2 and 6. Two kinds of server: the recording fake (`tests/fakecomfy.py`, every request in
`.requests`) and a bare listener that accepts connections and never answers (as a hung server does).
"""

from __future__ import annotations

import gzip
import io
import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakecomfy import FakeComfy
from helpers import DATA

from replay.cli import main
from replay.client import Client
from replay.errors import ServerUnreachable
from replay.recipe import build_recipe, write_recipe
from replay.repro import write_repro
from replay.sources import load_job

JOB_FILE = str(DATA / "oss/fail_runtime_zerodiv.job.json")
JOB_ID = "f7838b83-aab4-48ed-96a5-1e0cb6760bc6"
UI_FILE = str(DATA / "convert/mute.ui.json")


class SilentListener:
    """A TCP listener that never accepts: connections complete in the kernel's backlog and wait forever."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}"

    def connections_waiting(self) -> int:
        """How many connections were made to it (each is taken off the backlog and closed)."""
        self.sock.setblocking(False)
        count = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                return count
            conn.close()
            count += 1


@pytest.fixture
def listener() -> Iterator[SilentListener]:
    silent = SilentListener()
    yield silent
    silent.sock.close()


@pytest.fixture
def fake() -> Iterator[FakeComfy]:
    info = json.loads(gzip.decompress((DATA / "object_info.json.gz").read_bytes()))
    server = FakeComfy(dialect="oss", object_info=info, run_polls=0).start()
    server.add_job(json.loads(Path(JOB_FILE).read_text(encoding="utf-8")))
    yield server
    server.stop()
    assert not server.errors, "\n".join(server.errors)


def run(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(args, stdout=out, stderr=err, env=env)
    return code, out.getvalue(), err.getvalue()


def dead_url() -> str:
    """An address where nothing listens (a port just released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def local_commands(tmp_path: Path) -> dict[str, list[str]]:
    # a recipe as `fetch JOB_ID` writes it: its source names the server it came from
    recipe = str(tmp_path / "fetched.yaml")
    write_recipe(recipe, build_recipe(load_job(JOB_FILE), server="http://127.0.0.1:8188"))
    repro = write_repro(load_job(JOB_FILE), out=str(tmp_path / "full.repro.yaml")).recipe_path
    assert repro is not None
    return {
        "repro --minimal": ["repro", JOB_FILE, "--minimal", "-o", str(tmp_path / "a.yaml")],
        "repro of a recipe": ["repro", recipe, "--minimal", "--set", "5.expression=a * b", "-o", "-"],
        "diff of a repro": ["diff", JOB_FILE, repro],
        "fetch": ["fetch", JOB_FILE, "-o", str(tmp_path / "c.yaml")],
        "show": ["show", JOB_FILE],
        "export": ["export", JOB_FILE],
        "diff": ["diff", JOB_FILE, recipe],
        "textconv": ["textconv", recipe],
    }


@pytest.mark.parametrize("with_key", [False, True])
def test_commands_on_local_files_make_no_request(tmp_path: Path, fake: FakeComfy, listener: SilentListener,
                                                 with_key: bool) -> None:
    for server in (fake.url, listener.url):
        env = {"COMFY_SERVER": server, **({"COMFY_API_KEY": "secret-key"} if with_key else {})}
        for name, args in local_commands(tmp_path).items():
            code, _, err = run(args, env)
            assert code == 0, f"{name}: {err}"
            assert "note: no node definitions" not in err, name
    assert fake.requests == []
    assert listener.connections_waiting() == 0


def test_repro_of_a_job_id_asks_the_server_for_definitions(tmp_path: Path, fake: FakeComfy) -> None:
    code, _, err = run(["repro", JOB_ID, "--minimal", "-o", str(tmp_path / "r.yaml")], {"COMFY_SERVER": fake.url})
    assert code == 0, err
    assert "/api/object_info" in [r.path for r in fake.requests]


def test_fetch_asks_for_definitions_once_per_job_and_for_a_ui_workflow_without_a_prompt(tmp_path: Path,
                                                                                        fake: FakeComfy) -> None:
    env = {"COMFY_SERVER": fake.url}
    code, _, err = run(["fetch", JOB_ID, "-o", str(tmp_path / "a.yaml")], env)
    assert code == 0, err
    # once, for the environment's node packs (SPEC §9), and never retried as an optional lookup
    assert [r.path for r in fake.requests].count("/api/object_info") == 1
    code, out, err = run(["fetch", UI_FILE, "-o", "-"], env)
    assert code == 0, err
    assert [r.path for r in fake.requests].count("/api/object_info") == 2
    assert "\nprompt:\n" in out


def test_an_optional_lookup_from_a_server_that_never_answers_is_short_and_says_so(listener: SilentListener) -> None:
    code, _, err = run(["validate", JOB_FILE, "--timeout", "0.5"], {"COMFY_SERVER": listener.url})
    assert code == 0, err
    assert err.splitlines()[0] == (
        f"note: no node definitions ({listener.url} did not answer GET /api/object_info within 0.5 s; check the "
        "server or raise --timeout); the optional node-type, input and range checks are skipped")
    assert listener.connections_waiting() == 1  # one attempt, no retry


def test_a_refused_connection_is_not_retried_and_later_requests_fail_at_once() -> None:
    waits: list[float] = []
    client = Client(dead_url(), sleep=waits.append)
    with pytest.raises(ServerUnreachable, match=r"connection refused: no server is listening there"):
        client.get_job(JOB_ID)
    with pytest.raises(ServerUnreachable, match=r"connection refused"):
        client.object_info()
    assert waits == []


def test_fetch_of_a_job_from_a_dead_server_says_so_once(tmp_path: Path) -> None:
    url = dead_url()
    code, out, err = run(["fetch", JOB_ID, "-o", str(tmp_path)], {"COMFY_SERVER": url})
    assert code == 3
    assert err == (f"comfy-replay: error: cannot reach {url} (connection refused: no server is listening there); "
                   "check --server / COMFY_SERVER and that the server is running\n")
    assert list(tmp_path.iterdir()) == []


def test_a_refusal_from_a_server_that_answered_before_is_a_restart_and_is_retried(fake: FakeComfy) -> None:
    port = int(fake.url.rsplit(":", 1)[1])
    waits: list[float] = []

    def sleep_and_restart(seconds: float) -> None:
        waits.append(seconds)
        fake.start(port=port)  # back up while the client waits

    client = Client(fake.url, sleep=sleep_and_restart)
    assert client.has_jobs_api()
    fake.stop()
    client.close()  # drop the kept-alive connection (its handler thread outlives the listener): the next one is new
    assert client.get_job(JOB_ID)["id"] == JOB_ID
    assert len(waits) == 1
