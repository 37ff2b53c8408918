"""`archive` against real local servers of every dialect: pages, filters, faults, resume after Ctrl-C, no rewrites."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from fakecomfy import FakeComfy
from fakecomfy_run import bulk_jobs

from replay.archive import archive
from replay.cli import main
from replay.client import Client
from replay.errors import InputError
from replay.recipe import export_job, loads_recipe

KEY = "comfyui-archive-test-key-0123"
TERMINAL = ("completed", "failed", "cancelled")


class NoSleep:
    """The client's sleep, recorded instead of slept (retries and Retry-After stay observable, tests stay fast)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def run(argv, env):
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdin=io.BytesIO(), stdout=out, stderr=err, env=env)
    return code, out.getvalue(), err.getvalue()


def env_for(server: FakeComfy) -> dict[str, str]:
    env = {"COMFY_SERVER": server.url}
    if server.dialect == "cloud":
        env["COMFY_API_KEY"] = KEY
    return env


def files(folder: Path) -> dict[str, bytes]:
    """The recipes of a folder by name; the environment's capture time is blanked: two archives made a second
    apart capture the same environment at different times (SPEC §9)."""
    return {p.name: re.sub(rb"(?m)^(  captured_at: ).*$", rb"\1-", p.read_bytes()) for p in sorted(folder.iterdir())}


@pytest.fixture(params=["cloud", "oss", "oss-legacy"])
def server(request):
    with FakeComfy(dialect=request.param, api_key=KEY) as fake:
        fake.add_jobs(bulk_jobs(40, 2))
        yield fake
        assert fake.errors == []


def statuses(server: FakeComfy) -> dict[str, str]:
    return {job_id: server.detail(job_id)["status"] for job_id in server.job_ids()}


def test_every_good_job_is_archived_and_the_bad_ones_reported(server, tmp_path):
    status = statuses(server)
    finished = sorted(j for j, s in status.items() if s in TERMINAL)
    broken, truncated = finished[0], finished[1]
    server.fault(None, "status", job_id=broken, code=500)  # every attempt, so retries run out
    server.fault(None, "truncated", job_id=truncated)
    list_route = r"^/history" if server.dialect == "oss-legacy" else r"^/api/jobs\?"
    server.fault(list_route, "status", times=1, code=429, retry_after=2)
    sleeps = NoSleep()
    key = KEY if server.dialect == "cloud" else None
    with Client(server.url, key, sleep=sleeps) as client:
        result = archive(client, tmp_path / "out", page_size=7, api_key=key)

    good = [j for j in finished if j not in (broken, truncated)]
    assert sorted(Path(p).stem for p in result.written) == good
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [f"{j}.yaml" for j in good]
    unfinished = sorted(j for j, s in status.items() if s not in TERMINAL)
    assert result.skipped == ([] if server.dialect == "oss-legacy" else unfinished)  # /history lists finished jobs only
    assert [f["job_id"] for f in result.failed] == sorted([broken, truncated])
    reasons = {f["job_id"]: f["error"] for f in result.failed}
    assert "HTTP 500" in reasons[broken] and "cut off its answer" in reasons[truncated]
    assert 2 in sleeps.waits  # the list's 429 Retry-After was honoured
    if server.dialect != "oss-legacy":
        pages = [r for r in server.requests if r.path.startswith("/api/jobs?") and "offset=" in r.path]
        assert len(pages) >= 40 // 7 and all("limit=7" in r.path for r in pages)
    for job_id in good[:5]:
        recipe = loads_recipe((tmp_path / "out" / f"{job_id}.yaml").read_bytes())
        expected = server.detail(job_id)
        if server.dialect == "oss-legacy":  # the history dialect has no detail route: compare what it carries
            assert recipe["job"]["status"] == expected["status"] and recipe["prompt"] == expected["workflow"]["prompt"]
        else:
            assert export_job(recipe) == expected


def test_helper_processes_write_the_same_recipes_and_report_the_same_failures(tmp_path):
    with FakeComfy(dialect="oss") as server:
        details = bulk_jobs(80, 4)
        server.add_jobs(details)
        bad = next(d["id"] for d in details if d["status"] == "failed")
        server.fault(None, "html", job_id=bad, status=200)  # a sign-in page instead of the job
        with Client(server.url) as client:
            threads = archive(client, tmp_path / "threads", helpers=0)
            helpers = archive(client, tmp_path / "helpers", helpers=2)
    assert len(helpers.written) == len(threads.written) > 50
    assert helpers.failed == threads.failed and [f["job_id"] for f in helpers.failed] == [bad]
    assert files(tmp_path / "helpers") == files(tmp_path / "threads")


def test_filters_go_to_the_server_and_limit_stops_the_listing(tmp_path):
    with FakeComfy(dialect="oss") as server:
        details = bulk_jobs(40, 2)
        server.add_jobs(details)
        workflow = details[0]["workflow_id"]
        with Client(server.url) as client:
            failed = archive(client, tmp_path / "failed", statuses=["failed"], page_size=5)
            of_workflow = archive(client, tmp_path / "wf", workflow_id=workflow, page_size=5)
            limited = archive(client, tmp_path / "limited", limit=3, page_size=2)
        assert any("status=failed" in r.path for r in server.requests)
        assert any(f"workflow_id={workflow}" in r.path for r in server.requests)
    want_failed = sorted(d["id"] for d in details if d["status"] == "failed")
    assert sorted(Path(p).stem for p in failed.written) == want_failed and failed.skipped == []
    want_wf = {d["id"] for d in details if d["workflow_id"] == workflow}
    assert {Path(p).stem for p in of_workflow.written} | set(of_workflow.skipped) == want_wf
    assert limited.listed == 3


def test_a_second_run_writes_nothing_and_refresh_rewrites_only_changed_bytes(tmp_path):
    out = tmp_path / "out"
    with FakeComfy(dialect="oss") as server:
        server.add_jobs(bulk_jobs(20, 2))
        with Client(server.url) as client:
            first = archive(client, out)
            for path in out.iterdir():
                os.utime(path, (1_000_000, 1_000_000))
            server.clear_log()
            second = archive(client, out)
            assert not [r for r in server.requests if r.path.startswith("/api/jobs/")]  # nothing fetched again
            refreshed = archive(client, out, refresh=True)
    assert first.written and second.written == [] and sorted(second.unchanged) == sorted(first.written)
    assert refreshed.written == [] and sorted(refreshed.unchanged) == sorted(first.written)
    assert {p.stat().st_mtime for p in out.iterdir()} == {1_000_000}


def test_refresh_rewrites_a_recipe_whose_job_changed(tmp_path):
    detail = next(d for d in bulk_jobs(20, 2) if d["status"] == "completed")
    with FakeComfy(dialect="oss") as server:
        server.add_job(detail)
        with Client(server.url) as client:
            archive(client, tmp_path)
            changed = dict(detail, priority=99)
            server.add_job(changed)
            plain = archive(client, tmp_path)
            refreshed = archive(client, tmp_path, refresh=True)
    assert plain.written == [] and refreshed.written == [str(tmp_path / f"{detail['id']}.yaml")]
    assert loads_recipe((tmp_path / f"{detail['id']}.yaml").read_bytes())["job"]["priority"] == 99


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"concurrency": 0}, "--concurrency"), ({"concurrency": 65}, "--concurrency"), ({"limit": 0}, "--limit")])
def test_bad_settings_are_refused_before_any_request(tmp_path, kwargs, words):
    with FakeComfy(dialect="oss") as server, Client(server.url) as client, pytest.raises(InputError, match=words):
        archive(client, tmp_path / "out", **kwargs)
    assert not (tmp_path / "out").exists() and server.requests == []


def test_cli_archive_json_summary_and_exit_3_when_a_job_failed(server, tmp_path):
    finished = sorted(j for j, s in statuses(server).items() if s in TERMINAL)
    server.fault(None, "html", job_id=finished[0], status=200)  # a proxy's sign-in page: not JSON, not retried
    code, out, err = run(["archive", "-o", str(tmp_path), "--json", "--concurrency", "3"], env_for(server))
    assert code == 3, err
    summary = json.loads(out)
    assert set(summary) == {"written", "unchanged", "skipped", "failed"}
    assert len(summary["written"]) == len(finished) - 1 and summary["unchanged"] == []
    assert summary["failed"][0]["job_id"] == finished[0]
    assert f"{len(finished) - 1} written" in err and "1 failed" in err and finished[0] in err
    assert KEY not in out + err + "".join(p.read_text() for p in tmp_path.iterdir())
    code, out, err = run(["archive", "-o", str(tmp_path)], env_for(server))
    assert code == 3 and out == "" and f"0 written, {len(finished) - 1} unchanged" in err


@pytest.mark.parametrize("argv", [["--status", "done"], ["--concurrency", "0"], ["--limit", "-1"]])
def test_cli_bad_options_exit_2_with_one_line_and_write_nothing(tmp_path, argv):
    with FakeComfy(dialect="oss") as server:
        server.add_jobs(bulk_jobs(5, 2))
        code, out, err = run(["archive", "-o", str(tmp_path / "out"), *argv], {"COMFY_SERVER": server.url})
    assert code == 2 and len(err.strip().splitlines()) == 1 and not (tmp_path / "out").exists()


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_drawn_only_on_a_terminal(tmp_path):
    with FakeComfy(dialect="oss") as server:
        server.add_jobs(bulk_jobs(20, 2))
        env = {"COMFY_SERVER": server.url}
        quiet_err, tty_err = io.StringIO(), Terminal()
        assert main(["archive", "-o", str(tmp_path / "a")], stdout=io.StringIO(), stderr=quiet_err, env=env) == 0
        assert main(["archive", "-o", str(tmp_path / "b")], stdout=io.StringIO(), stderr=tty_err, env=env) == 0
    assert "\r" not in quiet_err.getvalue()
    assert "\rarchive " in tty_err.getvalue() and "jobs/s" in tty_err.getvalue()


def test_ctrl_c_stops_leaves_no_partial_file_and_a_second_run_completes_the_folder(tmp_path):
    """SIGINT to the real process midway; then the resumed folder equals an uninterrupted run's, byte for byte."""
    with FakeComfy(dialect="oss", delay=0.03) as server:
        server.add_jobs(bulk_jobs(100, 4))
        env = {**os.environ, "COMFY_SERVER": server.url}
        env.pop("COMFY_API_KEY", None)
        command = [sys.executable, "-m", "replay", "archive", "--concurrency", "2"]
        whole, resumed = tmp_path / "whole", tmp_path / "resumed"
        assert subprocess.run([*command, "-o", str(whole)], env=env, capture_output=True).returncode == 0

        proc = subprocess.Popen([*command, "-o", str(resumed)], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(list(resumed.glob("*.yaml"))) < 5:
            time.sleep(0.02)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
        assert proc.returncode == 130, err
        assert "interrupted" in err and "run the same command again" in err
        done = sorted(resumed.glob("*.yaml"))
        assert 5 <= len(done) < len(list(whole.glob("*.yaml")))
        assert [p for p in resumed.iterdir() if p.name.endswith(".tmp")] == []
        assert sorted(out.split()) == sorted(str(p) for p in done)  # it said what it wrote before it stopped

        again = subprocess.run([*command, "-o", str(resumed)], env=env, capture_output=True, text=True)
        assert again.returncode == 0, again.stderr
    assert files(resumed) == files(whole)


def test_a_server_that_ignores_offset_does_not_make_the_listing_loop_forever():
    """A real HTTP server whose job list always answers the same page, claiming there is more."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    page = json.dumps({"jobs": [{"id": "0b5b8f5e-3f1a-4a57-9a43-6c1f5e0f2f11", "status": "completed"},
                                {"id": "1c6c9f6f-4f2b-4b68-8b54-7d2f6f1f3f22", "status": "failed"}],
                       "pagination": {"offset": 0, "limit": 2, "total": 99, "has_more": True}}).encode()

    class SamePage(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server API
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), SamePage)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        with Client(f"http://127.0.0.1:{httpd.server_address[1]}") as client:
            listed = list(client.list_jobs(page_size=2))
    finally:
        httpd.shutdown()
        httpd.server_close()
    assert [job["status"] for job in listed] == ["completed", "failed"]

