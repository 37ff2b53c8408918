"""Downloading, storing and comparing outputs (replay/outputs.py, Client.view) over real HTTP to the fake server."""

from __future__ import annotations

import io
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fakecomfy import FakeComfy
from helpers import DATA, load
from PIL import Image

from replay.client import Client
from replay.errors import NotFound, ServerUnreachable
from replay.outputs import (
    ARTIFACT_KEYS,
    OutputStore,
    Thresholds,
    compare_artifacts,
    download_outputs,
    output_refs,
)

KEY = "outputs-test-key-0123456789"
FILES = DATA / "outputs" / "files"
RUN1 = "outputs/success_a_run1.job.json"
RUN3 = "outputs/success_a_run3_after_free.job.json"
MULTI = "outputs/multi_outputs.job.json"


def no_sleep(seconds: float) -> None:
    pass


def client_for(server: FakeComfy, **options) -> Client:
    return Client(server.url, KEY if server.dialect == "cloud" else None, sleep=no_sleep, **options)


def serve_recordings(server: FakeComfy) -> None:
    """The recorded jobs and their files; run 1's files are byte-identical to run 3's (fixtures README)."""
    for name in (RUN1, RUN3, MULTI):
        server.add_job(load(name))
    image = (FILES / "success_a_00002_.png").read_bytes()
    preview = (FILES / "ComfyUI_temp_dzllh_00001_.png").read_bytes()
    server.files.add("success_a_00001_.png", image, subfolder="reftest")
    server.files.add("success_a_00002_.png", image, subfolder="reftest")
    server.files.add("ComfyUI_temp_nagop_00001_.png", preview, type="temp")
    server.files.add("ComfyUI_temp_dzllh_00001_.png", preview, type="temp")
    for name in ("multi_00001_.png", "multi_00002_.png", "multi_00003_.png", "anim_00001_.webp"):
        server.files.add(name, (FILES / name).read_bytes(), subfolder="reftest")


@pytest.fixture(params=["oss", "cloud"])
def server(request):
    with FakeComfy(dialect=request.param, api_key=KEY) as fake:
        serve_recordings(fake)
        yield fake
        assert not fake.errors


def view_requests(server: FakeComfy) -> list:
    return [logged for logged in server.requests if "/view" in logged.path]


def stored_names(store: OutputStore) -> list[str]:
    return sorted(path.name for path in store.root.iterdir()) if store.root.exists() else []


# ---------------------------------------------------------------------------------------------- refs


def test_output_refs_list_files_in_the_jobs_order_and_skip_text_and_flags():
    refs = output_refs(load(MULTI)["outputs"])
    assert [(r["node"], r["key"], r["index"], r["filename"]) for r in refs] == [
        ("3", "images", 0, "multi_00001_.png"),
        ("3", "images", 1, "multi_00002_.png"),
        ("3", "images", 2, "multi_00003_.png"),
        ("4", "images", 0, "anim_00001_.webp"),
    ]
    assert refs[0]["subfolder"] == "reftest" and refs[0]["type"] == "output"


def test_output_refs_of_malformed_outputs_are_empty_not_an_error():
    assert output_refs({"1": "x", "2": {"images": "nope"}, "3": {"images": [1, None, {"filename": 7}]}}) == []


# ---------------------------------------------------------------------------------------------- downloads


def test_runs_1_and_3_are_identical_by_content_although_the_file_names_differ(server, tmp_path):
    store = OutputStore(tmp_path / "outputs")
    with client_for(server) as client:
        run1 = client.get_job(load(RUN1)["id"])
        run3 = client.get_job(load(RUN3)["id"])
        a = download_outputs(client, run1["outputs"], store)
        b = download_outputs(client, run3["outputs"], store)
    assert [x["filename"] for x in a] == ["ComfyUI_temp_nagop_00001_.png", "success_a_00001_.png"]
    assert [x["filename"] for x in b] == ["ComfyUI_temp_dzllh_00001_.png", "success_a_00002_.png"]
    pairs = compare_artifacts(a, b, store_a=store, store_b=store)
    assert [(p.node, p.result, p.within_tolerance) for p in pairs] == [("5", "identical", True),
                                                                       ("4", "identical", True)]
    # one file per distinct content: the image and the preview, each stored once for both runs
    assert stored_names(store) == sorted([a[0]["sha256"] + ".png", a[1]["sha256"] + ".png"])
    assert store.path_for(a[1]).read_bytes() == (FILES / "success_a_00002_.png").read_bytes()


def test_artifacts_have_the_keys_in_recipe_order_and_the_right_description(oss_server, tmp_path):
    serve_recordings(oss_server)
    store = OutputStore(tmp_path)
    with client_for(oss_server) as client:
        artifacts = download_outputs(client, load(MULTI)["outputs"], store)
    assert [tuple(a) for a in artifacts] == [tuple(k for k in ARTIFACT_KEYS if k != "missing")] * 4
    png, anim = artifacts[0], artifacts[3]
    assert (png["media_type"], png["width"], png["height"], png["frames"], png["size"]) == \
        ("image/png", 64, 48, 1, 779)
    assert (anim["media_type"], anim["width"], anim["height"]) == ("image/webp", 64, 48)
    # three PNGs with the same bytes are one file in the store; the WebP holds the same pixels
    assert len({a["sha256"] for a in artifacts[:3]}) == 1 and len(stored_names(store)) == 2
    assert anim["pixels"] == png["pixels"]


def test_view_asks_for_the_original_file_never_a_preview(server, tmp_path):
    with client_for(server) as client:
        download_outputs(client, load(RUN1)["outputs"], OutputStore(tmp_path))
    paths = [logged.path for logged in view_requests(server)]
    assert len(paths) == 2
    assert all("preview" not in path and "channel" not in path for path in paths)
    assert any("filename=success_a_00001_.png&subfolder=reftest&type=output" in path for path in paths)


def test_cloud_redirect_to_storage_is_followed_without_the_api_key():
    with FakeComfy(dialect="cloud", api_key=KEY) as server:
        serve_recordings(server)
        store_dir = Path(__import__("tempfile").mkdtemp())
        with client_for(server) as client:
            artifacts = download_outputs(client, load(RUN1)["outputs"], OutputStore(store_dir))
        assert all(not a.get("missing") for a in artifacts)
        assert server.storage is not None
        assert server.storage.url != server.url  # another origin: another port
        at_storage = server.storage.requests
        assert len(at_storage) == 2
        assert all("x-api-key" not in logged.headers and "authorization" not in logged.headers
                   for logged in at_storage)
        assert all(logged.headers.get("x-api-key") == KEY for logged in view_requests(server))
        assert all(KEY not in logged.path for logged in at_storage)


def test_storage_refusing_a_signed_link_is_a_server_error_that_shows_no_signature(tmp_path):
    from replay.errors import AuthError, ServerError

    with FakeComfy(dialect="cloud", api_key=KEY) as server:
        serve_recordings(server)
        assert server.storage is not None
        server.storage.fault("/signed/", "status", code=403, body="<Error><Code>AccessDenied</Code></Error>")
        with client_for(server) as client, pytest.raises(ServerError) as caught:
            download_outputs(client, {"4": load(RUN1)["outputs"]["4"]}, OutputStore(tmp_path))
    assert not isinstance(caught.value, AuthError) and caught.value.status == 403
    assert "Signature" not in str(caught.value) and "Signature" not in (caught.value.url or "")
    assert KEY not in str(caught.value)


def test_cloud_view_without_the_key_is_refused_as_an_auth_error(tmp_path):
    with FakeComfy(dialect="cloud", api_key=KEY) as server:
        serve_recordings(server)
        with Client(server.url, "wrong-key", sleep=no_sleep) as client, pytest.raises(Exception) as caught:
            client.view("success_a_00001_.png", "reftest", "output", io.BytesIO())
        assert type(caught.value).__name__ == "AuthError"
        assert "wrong-key" not in str(caught.value)


def test_a_404_mid_batch_marks_only_that_file_missing(server, tmp_path):
    server.files.remove("multi_00002_.png", subfolder="reftest")  # the server cleaned it up
    store = OutputStore(tmp_path)
    with client_for(server) as client:
        artifacts = download_outputs(client, load(MULTI)["outputs"], store)
    assert [a.get("missing", False) for a in artifacts] == [False, True, False, False]
    assert artifacts[1] == {"node": "3", "key": "images", "index": 1, "filename": "multi_00002_.png",
                            "subfolder": "reftest", "type": "output", "missing": True}
    assert len(stored_names(store)) == 2


def test_a_404_is_not_found_from_client_view(oss_server):
    with client_for(oss_server) as client, pytest.raises(NotFound) as caught:
        client.view("gone.png", "", "temp", io.BytesIO())
    assert caught.value.status == 404


@pytest.mark.parametrize("kind", ["truncated", "reset"])
def test_a_cut_off_download_is_retried_and_stored_whole(server, tmp_path, kind):
    # on Cloud the bytes come from the storage server
    (server.storage.fault if server.storage else server.fault)("/", kind, times=1)
    store = OutputStore(tmp_path)
    with client_for(server) as client:
        artifacts = download_outputs(client, {"4": load(RUN1)["outputs"]["4"]}, store)
    assert store.path_for(artifacts[0]).read_bytes() == (FILES / "success_a_00002_.png").read_bytes()
    assert stored_names(store) == [artifacts[0]["sha256"] + ".png"]  # no temporary file left behind


def test_a_body_that_is_always_cut_off_fails_and_leaves_nothing_half_written(oss_server, tmp_path):
    serve_recordings(oss_server)
    oss_server.fault("/view", "truncated")
    store = OutputStore(tmp_path)
    with client_for(oss_server, retries=2) as client, pytest.raises(ServerUnreachable) as caught:
        download_outputs(client, load(RUN1)["outputs"], store)
    assert "cut off" in str(caught.value)
    assert stored_names(store) == []


@pytest.mark.parametrize("announced", [+100, -100])
def test_a_wrong_content_length_is_never_stored_as_the_whole_file(oss_server, tmp_path, announced):
    image = (FILES / "success_a_00002_.png").read_bytes()
    oss_server.files.add("x.png", image, declared_length=len(image) + announced)
    store = OutputStore(tmp_path)
    outputs = {"9": {"images": [{"filename": "x.png", "subfolder": "", "type": "output"}]}}
    with client_for(oss_server, retries=1) as client:
        if announced > 0:  # fewer bytes than announced: a cut-off body
            with pytest.raises(ServerUnreachable):
                download_outputs(client, outputs, store)
            assert stored_names(store) == []
        else:  # more bytes than announced: only the announced ones are read, and they do not decode
            artifact, = download_outputs(client, outputs, store)
            assert artifact["size"] == len(image) - 100 and "pixels" not in artifact
            assert store.path_for(artifact).read_bytes() == image[:-100]


HOSTILE = [
    ("../../escape.png", ""),
    ("/tmp/absolute.png", ""),
    ("x.png", "../../.."),
    ("x.png", "/etc"),
    ("..\\..\\win.png", "C:\\Windows"),
]


def test_hostile_file_names_never_become_local_paths(tmp_path):
    """Cloud serves whatever it is asked for here, so every hostile name is downloaded: into the store only."""
    outputs = {"9": {"images": [{"filename": name, "subfolder": sub, "type": "output"} for name, sub in HOSTILE]}}
    image = Image.new("RGB", (3, 3), (1, 2, 3))
    with FakeComfy(dialect="cloud", api_key=KEY) as server:
        for offset, (name, sub) in enumerate(HOSTILE):
            buffer = io.BytesIO()
            image.resize((3 + offset, 3)).save(buffer, "PNG")
            server.files.add(name, buffer.getvalue(), subfolder=sub)
        store = OutputStore(tmp_path / "store")
        with client_for(server) as client:
            artifacts = download_outputs(client, outputs, store)
    assert [a["filename"] for a in artifacts] == [name for name, _ in HOSTILE]
    assert all(not a.get("missing") for a in artifacts)
    assert sorted(p.name for p in tmp_path.rglob("*")) == sorted(["store"] + stored_names(store))
    assert stored_names(store) == sorted(a["sha256"] + ".png" for a in artifacts)


def test_oss_refuses_hostile_names_and_they_are_recorded_missing(oss_server, tmp_path):
    outputs = {"9": {"images": [{"filename": name, "subfolder": sub, "type": "output"} for name, sub in HOSTILE]
                     + [{"filename": "x.png", "subfolder": "", "type": "secret"}]}}
    oss_server.files.add("x.png", b"\x89PNG", subfolder="")
    store = OutputStore(tmp_path)
    with client_for(oss_server) as client:
        artifacts = download_outputs(client, outputs, store)
    assert [a.get("missing") for a in artifacts] == [True] * 6
    statuses = [logged.path for logged in oss_server.requests]
    assert len(statuses) == 6 and stored_names(store) == []


def test_a_non_image_with_a_png_name_is_stored_but_incomparable_as_an_image(oss_server, tmp_path):
    serve_recordings(oss_server)
    oss_server.files.add("success_a_00009_.png", b"<html>not an image</html>", subfolder="reftest")
    store = OutputStore(tmp_path)
    fake_outputs = {"4": {"images": [{"filename": "success_a_00009_.png", "subfolder": "reftest", "type": "output"}]}}
    with client_for(oss_server) as client:
        real = download_outputs(client, {"4": load(RUN1)["outputs"]["4"]}, store)
        fake = download_outputs(client, fake_outputs, store)
    assert fake[0]["media_type"] == "image/png" and "pixels" not in fake[0]
    pair, = compare_artifacts(real, fake, store_a=store, store_b=store)
    assert pair.result == "incomparable" and not pair.within_tolerance
    assert pair.why == "B (image/png) cannot be decoded as an image"


def test_known_artifacts_in_the_store_are_not_downloaded_again(server, tmp_path):
    store = OutputStore(tmp_path)
    outputs = load(MULTI)["outputs"]
    with client_for(server) as client:
        first = download_outputs(client, outputs, store)
        before = len(view_requests(server))
        again = download_outputs(client, outputs, store, known=first)
        assert len(view_requests(server)) == before
        assert again == first
        store.path_for(first[3]).unlink()  # the WebP left the store: only it is fetched again
        third = download_outputs(client, outputs, store, known=first)
        assert len(view_requests(server)) == before + 1
        assert third == first


def test_downloads_on_a_shared_pool_cannot_deadlock_even_with_one_worker(oss_server, tmp_path):
    serve_recordings(oss_server)
    pool = ThreadPoolExecutor(1)
    store = OutputStore(tmp_path)
    with client_for(oss_server) as client:
        # the pool's only worker runs a job that shares the pool for its downloads
        future = pool.submit(download_outputs, client, load(MULTI)["outputs"], store, executor=pool)
        artifacts = future.result(timeout=60)
    pool.shutdown()
    assert [a["filename"] for a in artifacts] == ["multi_00001_.png", "multi_00002_.png", "multi_00003_.png",
                                                  "anim_00001_.webp"]


def test_concurrent_downloads_of_the_same_content_store_it_once(oss_server, tmp_path):
    serve_recordings(oss_server)
    store = OutputStore(tmp_path)
    results = []
    with client_for(oss_server) as client:
        threads = [threading.Thread(target=lambda: results.append(
            download_outputs(client, load(MULTI)["outputs"], store))) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert len(results) == 4 and all(result == results[0] for result in results)
    assert len(stored_names(store)) == 2


def test_stored_files_get_the_usual_permissions_not_private_ones(oss_server, tmp_path):
    serve_recordings(oss_server)
    store = OutputStore(tmp_path)
    old = os.umask(0o022)
    try:
        with client_for(oss_server) as client:
            artifact, = download_outputs(client, {"4": load(RUN1)["outputs"]["4"]}, store)
    finally:
        os.umask(old)
    assert store.path_for(artifact).stat().st_mode & 0o777 == 0o644


def test_a_503_with_retry_after_is_waited_out_then_the_file_arrives(oss_server, tmp_path):
    serve_recordings(oss_server)
    oss_server.fault("/view", "status", times=1, code=503, retry_after=2)
    waits: list[float] = []
    store = OutputStore(tmp_path)
    with Client(oss_server.url, sleep=waits.append) as client:
        artifact, = download_outputs(client, {"4": load(RUN1)["outputs"]["4"]}, store)
    assert waits == [2.0]
    assert store.path_for(artifact).read_bytes() == (FILES / "success_a_00002_.png").read_bytes()


def test_temporary_files_of_downloads_abandoned_long_ago_are_swept_recent_ones_kept(oss_server, tmp_path):
    serve_recordings(oss_server)
    old, recent = tmp_path / ".download-0123.part", tmp_path / ".download-4567.part"
    for path in (old, recent):
        path.write_bytes(b"half a file")
    os.utime(old, (1, 1))
    with client_for(oss_server) as client:
        artifact, = download_outputs(client, {"4": load(RUN1)["outputs"]["4"]}, OutputStore(tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([recent.name, artifact["sha256"] + ".png"])


# ---------------------------------------------------------------------------------------------- comparing


LIVE = DATA / "outputs" / "live"


def live_artifacts(store: OutputStore, name: str, node: str) -> list[dict]:
    from replay.outputs import describe_file

    described = describe_file(LIVE / name, name)
    target = store.root / (described["sha256"] + ".png")
    target.write_bytes((LIVE / name).read_bytes())
    return [{"node": node, "key": "images", "index": 0, "filename": name, "subfolder": "", "type": "output",
             **described}]


def test_real_comfyui_files_differing_only_in_the_embedded_prompt_are_same_pixels(tmp_path):
    store = OutputStore(tmp_path)
    pair, = compare_artifacts(live_artifacts(store, "save_plain.png", "4"),
                              live_artifacts(store, "save_titled.png", "4"), store_a=store, store_b=store)
    assert (pair.result, pair.within_tolerance, pair.metrics) == ("same-pixels", True, None)


def test_real_comfyui_previews_of_blur_4_and_5_differ_by_one_level_everywhere(tmp_path):
    store = OutputStore(tmp_path)
    a = live_artifacts(store, "preview_blur4.png", "5")
    b = live_artifacts(store, "preview_blur5.png", "5")
    exact, = compare_artifacts(a, b, store_a=store, store_b=store)
    # every one of the 256 x 192 pixels has one of its three channels one level off:
    # mean 1/3, MSE 1/3, PSNR 10 log10(255^2 * 3) = 52.902 dB
    assert exact.result == "different" and not exact.within_tolerance
    assert exact.metrics == {"changed_pixels": 256 * 192, "changed_ratio": 1.0, "max_diff": 1,
                             "mean_diff": pytest.approx(1 / 3, abs=1e-6), "psnr": pytest.approx(52.902, abs=1e-3)}
    by_threshold, = compare_artifacts(a, b, store_a=store, store_b=store, thresholds=Thresholds(pixel_threshold=1))
    assert by_threshold.within_tolerance and by_threshold.metrics["changed_pixels"] == 0
    by_psnr, = compare_artifacts(a, b, store_a=store, store_b=store, thresholds=Thresholds(min_psnr=50))
    assert by_psnr.within_tolerance and by_psnr.result == "different"


def art(node="4", index=0, **fields):
    return {"node": node, "key": "images", "index": index, "filename": f"x_{index}.png", "subfolder": "",
            "type": "output", **fields}


SHA_A, SHA_B, PIX_A, PIX_B = "a" * 64, "b" * 64, "c" * 64, "d" * 64
IMAGE = {"media_type": "image/png", "width": 8, "height": 8, "frames": 1}


@pytest.mark.parametrize(("a", "b", "result", "why"), [
    (art(sha256=SHA_A, **IMAGE, pixels=PIX_A), art(sha256=SHA_A, **IMAGE, pixels=PIX_A), "identical", None),
    (art(sha256=SHA_A, **IMAGE, pixels=PIX_A), art(sha256=SHA_B, **IMAGE, pixels=PIX_A), "same-pixels", None),
    (art(sha256=SHA_A, **IMAGE, pixels=PIX_A), art(sha256=SHA_B, **IMAGE, pixels=PIX_B), "different",
     "pixels differ; the files are not stored, so there are no metrics"),
    (art(sha256=SHA_A, **IMAGE, pixels=PIX_A), art(sha256=SHA_B, **{**IMAGE, "width": 9}, pixels=PIX_B),
     "incomparable", "size changed: 8x8 -> 9x8"),
    (art(sha256=SHA_A, **IMAGE, pixels=PIX_A), art(sha256=SHA_B, media_type="video/mp4"), "incomparable",
     "kind changed: image/png -> video/mp4"),
    (art(sha256=SHA_A, media_type="audio/flac"), art(sha256=SHA_B, media_type="audio/flac"), "different", None),
    (art(sha256=SHA_A, **IMAGE, pixels=PIX_A), art(missing=True), "missing",
     "the server no longer had B's file 'x_0.png' (404)"),
    (dict(art(missing=True), filename="a_1.png"), dict(art(missing=True), filename="b_1.png"), "missing",
     "the server no longer had either file ('a_1.png', 'b_1.png': 404)"),
    (art(), art(), "incomparable", "content unknown: download the outputs of both jobs (--outputs)"),
])
def test_pairs_without_stored_files_are_judged_by_hashes(a, b, result, why):
    pair, = compare_artifacts([a], [b], store_a=None, store_b=None)
    assert (pair.result, pair.why, pair.metrics) == (result, why, None)
    assert pair.within_tolerance == (result in ("identical", "same-pixels"))


def test_pairs_are_matched_by_node_key_and_position_and_unmatched_ones_are_missing():
    a = [art("4", 0, sha256=SHA_A), art("4", 1, sha256=SHA_A)]
    b = [art("4", 0, sha256=SHA_A), art("7", 0, sha256=SHA_A)]
    pairs = compare_artifacts(a, b, store_a=None, store_b=None)
    assert [(p.node, p.index, p.result, p.why) for p in pairs] == [
        ("4", 0, "identical", None), ("4", 1, "missing", "only in A"), ("7", 0, "missing", "only in B")]
    assert pairs[1].b is None and pairs[2].a is None
    assert set(pairs[0].to_json()) == {"node", "key", "index", "result", "a", "b", "metrics", "why",
                                       "within_tolerance"}


def test_stored_images_get_metrics_and_thresholds_decide_tolerance(tmp_path):
    store = OutputStore(tmp_path)
    paths = []
    for value in (100, 104):
        image = Image.new("RGB", (10, 10), (100, 100, 100))
        image.putpixel((0, 0), (value, 100, 100))
        path = tmp_path / f"{value}.png"
        image.save(path)
        paths.append(path)
    from replay.outputs import describe_file
    artifacts = []
    for path in paths:
        described = describe_file(path, path.name)
        path.rename(tmp_path / (described["sha256"] + ".png"))
        artifacts.append([art(**described)])
    exact, = compare_artifacts(*artifacts, store_a=store, store_b=store)
    assert exact.result == "different" and not exact.within_tolerance
    assert exact.metrics == {"changed_pixels": 1, "changed_ratio": 0.01, "max_diff": 4,
                             "mean_diff": pytest.approx(4 / 300, abs=1e-6), "psnr": pytest.approx(60.861, abs=1e-3)}  # 10 log10(255² / (16 / 300))
    loose, = compare_artifacts(*artifacts, store_a=store, store_b=store, thresholds=Thresholds(max_diff_ratio=0.01))
    assert loose.result == "different" and loose.within_tolerance and loose.metrics == exact.metrics


# ---------------------------------------------------------------------------------------------- scripted runs


def run_prompt(server: FakeComfy, client: Client, prompt: dict) -> dict:
    job_id = client.submit({"prompt": prompt})["prompt_id"]
    for _ in range(20):
        job = client.get_job(job_id)
        if job["status"] == "completed":
            return job
    raise AssertionError("the fake run did not finish")


def image_prompt(color: int, invert: bool = False, batch: int = 1) -> dict:
    prompt = {"1": {"class_type": "EmptyImage", "inputs": {"width": 32, "height": 16, "batch_size": batch,
                                                            "color": color}}}
    last = "1"
    if invert:
        prompt["2"] = {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}}
        last = "2"
    prompt["9"] = {"class_type": "SaveImage", "inputs": {"images": [last, 0], "filename_prefix": "t/run"}}
    return prompt


def test_the_scripted_executor_serves_real_images_made_from_the_prompt(server, tmp_path):
    store = OutputStore(tmp_path)
    with client_for(server) as client:
        job = run_prompt(server, client, image_prompt(0x102030, invert=True, batch=2))
        artifacts = download_outputs(client, job["outputs"], store)
    assert [a["filename"] for a in artifacts] == ["run_00001_.png", "run_00002_.png"]
    assert (artifacts[0]["width"], artifacts[0]["height"]) == (32, 16)
    with Image.open(store.path_for(artifacts[0])) as image:
        assert image.convert("RGB").getpixel((5, 5)) == (255 - 0x10, 255 - 0x20, 255 - 0x30)


def test_same_prompt_twice_gives_same_pixels_and_a_changed_color_gives_all_pixels_different(server, tmp_path):
    store = OutputStore(tmp_path)
    with client_for(server) as client:
        first = download_outputs(client, run_prompt(server, client, image_prompt(0xFF0000))["outputs"], store)
        second = download_outputs(client, run_prompt(server, client, image_prompt(0xFF0000))["outputs"], store)
        other = download_outputs(client, run_prompt(server, client, image_prompt(0xFE0000))["outputs"], store)
    assert first[0]["filename"] != second[0]["filename"]
    same, = compare_artifacts(first, second, store_a=store, store_b=store)
    assert same.result in ("identical", "same-pixels") and same.within_tolerance
    changed, = compare_artifacts(first, other, store_a=store, store_b=store)
    assert changed.result == "different"
    assert changed.metrics is not None
    assert (changed.metrics["changed_pixels"], changed.metrics["max_diff"]) == (32 * 16, 1)
