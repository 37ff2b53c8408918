"""The HTTP client against real local servers of both dialects: auth, 404s, fallbacks, retries, faults."""

from __future__ import annotations

import io
import json
import socket

import pytest
from fakecomfy import FakeComfy
from helpers import load

from replay.cli import main
from replay.client import Client
from replay.errors import (
    AuthError,
    InputError,
    JobNotFound,
    MalformedResponse,
    ServerError,
    ServerUnreachable,
)

ZERODIV = "f7838b83-aab4-48ed-96a5-1e0cb6760bc6"
UNKNOWN = "0b5b8f5e-3f1a-4a57-9a43-6c1f5e0f2f11"
KEY = "comfyui-test-key-0123456789"


class Sleeps:
    """Records the waits the client asks for instead of sleeping (the client's sleep is injectable)."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def client_for(server: FakeComfy, **kw) -> Client:
    key = KEY if server.dialect == "cloud" else None
    return Client(server.url, key, **kw)


def run(argv, env):
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdin=io.BytesIO(), stdout=out, stderr=err, env=env)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(params=["cloud", "oss", "oss-legacy"])
def server(request):
    with FakeComfy(dialect=request.param, api_key=KEY) as fake:
        fake.add_job(load("oss/fail_runtime_zerodiv.job.json"))
        fake.add_job(load("oss/success_a.job.json"))
        yield fake


def test_get_job_returns_the_detail_in_every_dialect(server):
    with client_for(server) as client:
        detail = client.get_job(ZERODIV)
    assert detail["id"] == ZERODIV and detail["status"] == "failed"
    assert detail["workflow"]["prompt"] == load("oss/fail_runtime_zerodiv.job.json")["workflow"]["prompt"]
    if server.dialect == "cloud":
        assert detail["create_time"] == 1795869262 and "update_time" in detail
    else:
        assert detail["create_time"] == 1795869262083


def test_legacy_server_is_read_through_history(server):
    with client_for(server) as client:
        client.get_job(ZERODIV)
        assert client.has_jobs_api() is (server.dialect != "oss-legacy")
    if server.dialect == "oss-legacy":
        assert server.hits.get(f"/history/{ZERODIV}") == 1


def test_unknown_job_is_not_found_naming_the_server(server):
    with client_for(server) as client, pytest.raises(JobNotFound) as info:
        client.get_job(UNKNOWN)
    assert UNKNOWN in str(info.value) and server.url in str(info.value)
    assert info.value.exit_code == 3


def test_cloud_without_a_key_is_refused_with_a_hint_and_no_key_in_the_message():
    with FakeComfy(dialect="cloud", api_key="the-right-key") as fake:
        fake.add_job(load("oss/success_a.job.json"))
        with Client(fake.url, "wrong-key-value") as client, pytest.raises(AuthError) as info:
            client.get_job("cc3ee95d-63a7-4daa-8072-651d053baf28")
    message = str(info.value)
    assert info.value.exit_code == 4 and "401" in message and "COMFY_API_KEY" in message
    assert "wrong-key-value" not in message and "the-right-key" not in message


def test_cloud_job_of_another_user_is_forbidden():
    with FakeComfy(dialect="cloud", api_key=KEY) as fake:
        job_id = fake.add_job(load("oss/success_a.job.json"), owner_ok=False)
        with Client(fake.url, KEY) as client, pytest.raises(AuthError) as info:
            client.get_job(job_id)
    assert "403" in str(info.value)


def test_the_api_key_is_sent_as_x_api_key_and_hidden_from_repr():
    with FakeComfy(dialect="cloud", api_key=KEY) as fake:
        fake.add_job(load("oss/success_a.job.json"))
        client = Client(fake.url, KEY)
        client.get_job("cc3ee95d-63a7-4daa-8072-651d053baf28")
        assert KEY not in repr(client).replace("Client", "")
        assert fake.requests and all(r.headers.get("x-api-key") == KEY for r in fake.requests)


def test_a_non_uuid_id_is_refused_before_any_request(oss_server):
    with Client(oss_server.url) as client, pytest.raises(InputError):
        client.get_job("../../etc/passwd")
    assert oss_server.requests == []


def test_429_with_retry_after_is_honoured_then_succeeds(oss_server):
    oss_server.add_job(load("oss/success_a.job.json"))
    oss_server.fault(r"^/api/jobs/", "status", times=2, code=429, retry_after=3)
    sleeps = Sleeps()
    with Client(oss_server.url, sleep=sleeps) as client:
        assert client.get_job("cc3ee95d-63a7-4daa-8072-651d053baf28")["status"] == "completed"
    assert sleeps.waits == [3.0, 3.0]


@pytest.mark.parametrize("code", [500, 502, 503, 504])
def test_5xx_is_retried_with_growing_backoff(oss_server, code):
    oss_server.add_job(load("oss/success_a.job.json"))
    oss_server.fault(r"^/api/jobs/", "status", times=3, code=code)
    sleeps = Sleeps()
    with Client(oss_server.url, sleep=sleeps) as client:
        assert client.get_job("cc3ee95d-63a7-4daa-8072-651d053baf28")["id"]
    assert len(sleeps.waits) == 3
    assert all(0 <= w <= 0.5 * 2**i for i, w in enumerate(sleeps.waits))


def test_retries_are_bounded_in_attempts(oss_server):
    oss_server.add_job(load("oss/success_a.job.json"))
    oss_server.fault(r"^/api/jobs/", "html", status=502)
    sleeps = Sleeps()
    with Client(oss_server.url, retries=3, sleep=sleeps) as client, pytest.raises(ServerError) as info:
        client.get_job("cc3ee95d-63a7-4daa-8072-651d053baf28")
    assert "502" in str(info.value) and len(sleeps.waits) == 3
    assert oss_server.hits["/api/jobs/cc3ee95d-63a7-4daa-8072-651d053baf28"] == 4
    assert "<html" not in str(info.value).lower()


def test_retries_are_bounded_in_total_time(oss_server):
    oss_server.add_job(load("oss/success_a.job.json"))
    oss_server.fault(r"^/api/jobs/", "status", code=503, retry_after=40)
    sleeps = Sleeps()
    with Client(oss_server.url, retries=10, retry_budget=60, sleep=sleeps) as client, pytest.raises(ServerError):
        client.get_job("cc3ee95d-63a7-4daa-8072-651d053baf28")
    assert sleeps.waits == [40.0]


@pytest.mark.parametrize("kind", ["truncated", "reset"])
def test_cut_off_responses_are_retried(oss_server, kind):
    oss_server.add_job(load("oss/success_a.job.json"))
    oss_server.fault(r"^/api/jobs/", kind, times=2)
    sleeps = Sleeps()
    with Client(oss_server.url, sleep=sleeps) as client:
        assert client.get_job("cc3ee95d-63a7-4daa-8072-651d053baf28")["status"] == "completed"
    assert len(sleeps.waits) == 2


def test_an_html_page_with_200_is_a_malformed_response(oss_server):
    oss_server.add_job(load("oss/success_a.job.json"))
    oss_server.fault(r"^/api/jobs/", "html", status=200)
    with Client(oss_server.url) as client, pytest.raises(MalformedResponse) as info:
        client.get_job("cc3ee95d-63a7-4daa-8072-651d053baf28")
    assert info.value.exit_code == 3 and "not valid JSON" in str(info.value)


def test_a_slow_server_times_out_after_retries(oss_server):
    oss_server.add_job(load("oss/success_a.job.json"))
    oss_server.fault(r"^/api/jobs/", "delay", seconds=2)
    sleeps = Sleeps()
    with Client(oss_server.url, timeout=0.2, retries=1, sleep=sleeps) as client, \
            pytest.raises(ServerUnreachable) as info:
        client.get_job("cc3ee95d-63a7-4daa-8072-651d053baf28")
    assert "0.2 s" in str(info.value) and len(sleeps.waits) == 1


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_server_is_named(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    with Client(url, retries=1, sleep=Sleeps()) as client, pytest.raises(ServerUnreachable) as info:
        client.get_job(UNKNOWN)
    assert url in str(info.value) and info.value.exit_code == 3


def test_list_jobs_reads_every_page_and_sends_limit(server):
    for i in range(7):
        detail = load("oss/success_a.job.json")
        detail["id"] = f"00000000-0000-4000-8000-{i:012d}"
        detail["create_time"] += i
        server.add_job(detail)
    with client_for(server) as client:
        ids = [job["id"] for job in client.list_jobs(page_size=3)]
    assert len(ids) == 9 and len(set(ids)) == 9
    if server.dialect != "oss-legacy":
        listed = [r.path for r in server.requests if r.path.startswith("/api/jobs?")]
        assert len(listed) >= 4 and all("limit=" in p for p in listed)


def test_list_jobs_filters_by_status(server):
    with client_for(server) as client:
        assert [job["id"] for job in client.list_jobs(status=["failed"])] == [ZERODIV]


def test_submit_is_never_retried(oss_server):
    oss_server.fault(r"prompt", "status", code=503, method="POST")
    with Client(oss_server.url, sleep=Sleeps()) as client, pytest.raises(ServerError):
        client.submit({"prompt": load("oss/success_a.job.json")["workflow"]["prompt"]})
    assert sum(1 for r in oss_server.requests if r.method == "POST") == 1


# ---------------------------------------------------------------------------- the CLI end to end


def env_for(server: FakeComfy) -> dict[str, str]:
    env = {"COMFY_SERVER": server.url}
    if server.dialect == "cloud":
        env["COMFY_API_KEY"] = KEY
    return env


def test_cli_fetch_show_export_by_id(server, tmp_path):
    env = env_for(server)
    code, out, err = run(["fetch", ZERODIV, "-o", str(tmp_path), "--raw"], env)
    assert code == 0, err
    recipe = tmp_path / f"{ZERODIV}.yaml"
    assert out.strip() == str(recipe)
    text = recipe.read_text()
    origin = server.url
    assert f'server: "{origin}"' in text  # a URL holds ':', so it is quoted
    code, out, _ = run(["show", ZERODIV, "--json"], env)
    assert code == 0 and json.loads(out)["error"]["node_type"] == "ComfyMathExpression"
    code, out, _ = run(["export", str(recipe), "--job"], env)
    exported = json.loads(out)
    assert code == 0
    if server.dialect == "oss-legacy":
        # built from the history entry: the fields a history entry holds are the same as the jobs API's
        modern = server.detail(ZERODIV)
        for key in ("id", "status", "priority", "create_time", "execution_start_time", "execution_end_time",
                    "execution_error", "outputs", "outputs_count", "workflow", "workflow_id", "execution_status"):
            assert exported[key] == modern[key], key
    else:
        assert exported == server.detail(ZERODIV)
    # fetching again changes nothing on disk
    code, out, _ = run(["fetch", ZERODIV, "-o", str(tmp_path)], env)
    assert code == 0 and "unchanged" in out and recipe.read_text() == text


def test_cli_exit_codes_for_server_failures(tmp_path):
    with FakeComfy(dialect="cloud", api_key="right") as fake:
        fake.add_job(load("oss/success_a.job.json"))
        code, _, err = run(["show", "cc3ee95d-63a7-4daa-8072-651d053baf28"],
                           {"COMFY_SERVER": fake.url, "COMFY_API_KEY": "wrong-secret"})
        assert code == 4 and "wrong-secret" not in err and err.count("\n") == 1
        code, _, err = run(["show", UNKNOWN], {"COMFY_SERVER": fake.url, "COMFY_API_KEY": "right"})
        assert code == 3 and "not found" in err and "right" not in err.replace("COMFY_", "")
    code, _, err = run(["fetch", UNKNOWN, "-o", str(tmp_path / "o"), "--timeout", "1"],
                       {"COMFY_SERVER": f"http://127.0.0.1:{free_port()}"})
    assert code == 3 and "cannot reach" in err and not (tmp_path / "o").exists()


def test_cli_fetch_of_several_ids_writes_the_good_ones_and_reports_the_bad(oss_server, tmp_path):
    oss_server.add_job(load("oss/fail_runtime_zerodiv.job.json"))
    code, out, err = run(["fetch", ZERODIV, UNKNOWN, "-o", str(tmp_path), "--json"], env_for(oss_server))
    result = json.loads(out)
    assert code == 3
    assert result["written"] == [str(tmp_path / f"{ZERODIV}.yaml")]
    assert result["failed"][0]["job_id"] == UNKNOWN and "not found" in result["failed"][0]["error"]


def test_validate_uses_the_named_server_definitions(tmp_path):
    import gzip

    from helpers import DATA

    object_info = json.loads(gzip.decompress((DATA / "object_info.json.gz").read_bytes()))
    prompt = load("oss/success_a.request.json")["prompt"]
    prompt["2"]["inputs"]["blur_radius"] = 1000
    path = tmp_path / "p.json"
    path.write_text(json.dumps(prompt))
    with FakeComfy(dialect="oss", object_info=object_info) as fake:
        code, out, _ = run(["validate", str(path)], {"COMFY_SERVER": fake.url})
        assert fake.hits.get("/api/object_info") == 1
    assert code == 1 and '$["2"].inputs.blur_radius' in out
    code, out, _ = run(["validate", str(path)], {})
    assert code == 0
