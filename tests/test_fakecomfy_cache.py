"""The fake server's execution cache, `POST /free` and one-job-at-a-time timing (tests/fakecomfy_cache.py)."""

from __future__ import annotations

import copy
from typing import Any

import requests
from fakecomfy import FakeComfy
from fakecomfy_run import sample_prompt


def submit(server: FakeComfy, prompt: dict[str, Any]) -> str:
    response = requests.post(f"{server.url}/api/prompt", json={"prompt": prompt}, timeout=10,
                             headers={"X-API-Key": server.api_key or ""})
    assert response.status_code == 200, response.text
    return str(response.json()["prompt_id"])


def finished(server: FakeComfy, job_id: str) -> dict[str, Any]:
    detail = server.detail(job_id)
    for _ in range(5):
        if detail["status"] == "completed":
            break
        detail = requests.get(f"{server.url}/api/jobs/{job_id}", timeout=10,
                              headers={"X-API-Key": server.api_key or ""}).json()
    assert detail["status"] == "completed"
    return detail


def cached_nodes(detail: dict[str, Any]) -> list[str]:
    messages = detail["execution_status"]["messages"]
    return [n for kind, data in messages if kind == "execution_cached" for n in data["nodes"]]


def test_a_repeated_prompt_comes_from_the_cache_with_the_first_file_names_until_free() -> None:
    with FakeComfy("oss", caching=True, run_polls=0) as server:
        prompt = sample_prompt()
        first = finished(server, submit(server, prompt))
        second = finished(server, submit(server, prompt))
        assert cached_nodes(first) == []
        # Every node of the prompt (1 EmptyImage, 10 ImageBlur, 2 ImageInvert, 3 SaveImage, 4 PreviewImage) ran before.
        assert sorted(cached_nodes(second)) == ["1", "10", "2", "3", "4"]
        assert second["outputs"] == first["outputs"]
        assert first["outputs"]["3"]["images"][0]["filename"] == "ComfyUI_00001_.png"

        response = requests.post(f"{server.url}/api/free", json={"free_memory": True}, timeout=10)
        assert response.status_code == 200
        third = finished(server, submit(server, prompt))
        assert cached_nodes(third) == []
        assert third["outputs"]["3"]["images"][0]["filename"] == "ComfyUI_00003_.png"


def test_a_changed_input_recomputes_that_node_and_what_follows_it_only() -> None:
    with FakeComfy("oss", caching=True, run_polls=0) as server:
        prompt = sample_prompt()
        finished(server, submit(server, prompt))
        changed = copy.deepcopy(prompt)
        changed["10"]["inputs"]["blur_radius"] = 5  # 10 -> 2 -> 3 change; 1 and 4 (preview of 1) do not
        detail = finished(server, submit(server, changed))
        assert sorted(cached_nodes(detail)) == ["1", "4"]


def test_only_the_latest_prompts_nodes_stay_cached_as_in_comfyui() -> None:
    with FakeComfy("oss", caching=True, run_polls=0) as server:
        first, other = sample_prompt(), sample_prompt(color=0)
        finished(server, submit(server, first))
        finished(server, submit(server, other))
        again = finished(server, submit(server, first))
        # `other` shares no node with `first` (its EmptyImage colour differs, and everything hangs off it).
        assert cached_nodes(again) == []


def test_free_without_free_memory_keeps_the_cache_and_a_bad_body_is_a_500() -> None:
    with FakeComfy("oss", caching=True, run_polls=0) as server:
        prompt = sample_prompt()
        finished(server, submit(server, prompt))
        assert requests.post(f"{server.url}/free", json={"unload_models": True}, timeout=10).status_code == 200
        assert len(cached_nodes(finished(server, submit(server, prompt)))) == 5
        assert requests.post(f"{server.url}/api/free", data=b"{not json", timeout=10).status_code == 500


def test_cloud_has_no_free_route_and_no_cache() -> None:
    with FakeComfy("cloud", caching=True, run_polls=0) as server:
        response = requests.post(f"{server.url}/api/free", json={"free_memory": True}, timeout=10,
                                 headers={"X-API-Key": "k"})
        assert response.status_code == 404
        prompt = sample_prompt()
        finished(server, submit(server, prompt))
        assert server.cache.frees == 0 and len(server.cache) == 0


def test_without_caching_every_run_recomputes() -> None:
    with FakeComfy("oss", run_polls=0) as server:
        prompt = sample_prompt()
        finished(server, submit(server, prompt))
        assert cached_nodes(finished(server, submit(server, prompt))) == []


def test_job_seconds_runs_jobs_one_after_another() -> None:
    with FakeComfy("oss", job_seconds=30.0) as server:
        first = submit(server, sample_prompt())
        second = submit(server, sample_prompt(color=0))
        runs = [server._jobs[first].run, server._jobs[second].run]
        assert runs[0] is not None and runs[1] is not None
        assert runs[0].finish_at is not None and runs[1].finish_at is not None
        # The second starts when the first ends: its end is one job length after the first's.
        assert abs((runs[1].finish_at - runs[0].finish_at) - 30.0) < 1e-6
        assert requests.get(f"{server.url}/api/jobs/{first}", timeout=10).json()["status"] == "in_progress"
