"""HTML reports (replay/report.py): self-contained, escaped, within the size limit, with the right content.

What a browser makes of them is checked in tests/test_report_browser.py; these tests read the HTML itself.
"""

from __future__ import annotations

import base64
import io
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from helpers import DATA
from PIL import Image
from reportcases import (
    HOSTILE,
    HOSTILE_IMG,
    artifact,
    gradient,
    hostile_jobs,
    hostile_report,
    image_pair,
    png,
    real_jobs,
    serve_live_runs,
)

from replay.cli import main
from replay.diff import diff_jobs
from replay.outputs import OutputStore
from replay.report import ReportLimits, render_diff_report, render_verify_report

MiB = 1024 * 1024


class Tags(HTMLParser):
    """Every start tag with its attributes, and the page's text."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(page)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def named(self, tag: str) -> list[dict[str, str | None]]:
        return [attrs for name, attrs in self.tags if name == tag]


def decode_img(src: str | None) -> Image.Image:
    assert src is not None and src.startswith("data:image/")
    return Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))


def one_pixel_report(tmp_path: Path, size: int = 64, **kwargs: Any) -> str:
    a, b = real_jobs("success_a_run1.job.json", "success_a_run3_after_free.job.json")
    store = OutputStore(tmp_path / "store")
    image = gradient(size)
    changed = image.copy()
    changed.putpixel((size // 2, size // 3), (255, 0, 0))
    pair = image_pair(store, image, changed)
    return render_diff_report(diff_jobs(a, b), a, b, pairs=[pair], stores=[store], **kwargs)


# ---------------------------------------------------------------------------------------------- escaping


def test_markup_from_a_job_is_shown_as_text_never_as_markup(tmp_path):
    page = hostile_report(tmp_path)
    tags = Tags(page)
    assert tags.named("script") == []
    assert all(attrs.get("src", "").startswith("data:") for attrs in tags.named("img"))  # type: ignore[union-attr]
    assert not any("onerror" in attrs for _, attrs in tags.tags)
    text = "".join(tags.text)
    assert HOSTILE in text  # the title, the prompt text, the error message: shown literally
    assert HOSTILE_IMG in text


def test_the_page_allows_no_script_and_no_fetch():
    a, b = hostile_jobs()
    page = render_diff_report(diff_jobs(a, b), a, b)
    csp = [attrs["content"] for attrs in Tags(page).named("meta") if attrs.get("http-equiv") == "Content-Security-Policy"]
    assert len(csp) == 1
    policy = {part.split()[0]: part.split()[1:] for part in csp[0].split("; ")}
    assert policy["default-src"] == ["'none'"]
    assert policy["img-src"] == ["data:"]
    assert "script-src" not in policy  # so default-src 'none' forbids every script
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)


# ---------------------------------------------------------------------------------------------- content


def test_the_jobs_table_shows_ids_status_and_the_nodes_that_came_from_cache():
    a, b = real_jobs("success_a_run1.job.json", "success_a_run2_cached.job.json")
    page = render_diff_report(diff_jobs(a, b), a, b, labels=("run1.json", "run2.json"))
    text = " ".join(Tags(page).text)
    assert "342b42de-2ad8-4b4b-81be-998c9fda324f" in text and "4e77db29-0535-41d3-8bc0-0143d9c71cca" in text
    assert "5 of 5 nodes: 1, 2, 3, 4, 5 (nothing was recomputed)" in text  # run 2 recomputed nothing
    assert "nothing (every node ran)" in text


def test_node_changes_are_a_table_with_one_row_per_change_like_markdown():
    a, b = hostile_jobs()
    page = render_diff_report(diff_jobs(a, b), a, b)
    table = re.search(r'<table class="nodes">.*?</table>', page, re.S)
    assert table is not None
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(0), re.S)[1:]
    # node 3 filename_prefix, node 5 expression (a text diff), node 1 title: three rows, in that order
    assert [re.sub(r"<[^>]+>", "", r.split("</td>")[2]) for r in rows] == ["filename_prefix", "expression", "title"]
    assert '<td colspan="2"><pre class="diff">' in rows[1] and '<span class="add">+' in rows[1]


def test_the_error_of_each_job_names_node_class_and_exception():
    a, b = hostile_jobs()
    text = " ".join(Tags(render_diff_report(diff_jobs(a, b), a, b)).text)
    assert "ZeroDivisionError" in text and "division by zero" in text
    assert "ComfyMathExpression" in text


def test_text_outputs_are_a_line_diff(tmp_path):
    a, b = hostile_jobs()
    a.outputs["9"] = {"text": ["line one\nline two"]}
    page = render_diff_report(diff_jobs(a, b), a, b)
    section = page.split("<h2>Text outputs</h2>", 1)[1]
    assert '<span class="del">-line two</span>' in section
    assert '<span class="add">+&lt;script&gt;window.__pwned = 1&lt;/script&gt;</span>' in section
    assert "<span> line one</span>" in section


def test_without_content_comparison_the_outputs_are_listed_by_file_name():
    a, b = hostile_jobs()
    page = render_diff_report(diff_jobs(a, b), a, b)
    table = re.search(r'<table class="outputs">.*?</table>', page, re.S)
    assert table is not None and "fail_partial_00001_.png" in table.group(0) and "renamed" in table.group(0)


# ---------------------------------------------------------------------------------------------- images


def test_an_image_pair_shows_a_b_and_a_difference_with_the_changed_pixel_in_red(tmp_path):
    page = one_pixel_report(tmp_path, size=64)
    imgs = Tags(page).named("img")
    assert [i["alt"] for i in imgs] == ["a image", "b image", "diff image"]
    diff = decode_img(imgs[2]["src"]).convert("RGB")
    assert diff.size == (64, 64)
    red = [xy for xy in ((x, y) for x in range(64) for y in range(64)) if diff.getpixel(xy) == (220, 20, 60)]
    assert red == [(32, 21)]
    a = decode_img(imgs[0]["src"]).convert("RGB")
    assert a.getpixel((0, 0)) == gradient(64).getpixel((0, 0))  # small images are embedded unscaled (PNG)


def _reddish(pixel: tuple[int, int, int]) -> bool:
    red, green, blue = pixel
    return red > 170 and green < 90 and blue < 110


def test_a_single_changed_pixel_survives_the_scaling_down_of_a_large_image(tmp_path):
    page = one_pixel_report(tmp_path, size=2048)
    imgs = Tags(page).named("img")
    diff = decode_img(imgs[2]["src"]).convert("RGB")
    assert diff.size == (512, 512)
    # a large page image is a JPEG: the marked pixel is red enough, and the only one
    red = [(x, y) for x in range(512) for y in range(512) if _reddish(diff.getpixel((x, y)))]
    assert red == [(1024 // 4, 682 // 4)]  # the changed pixel (1024, 682) lands in this 4x4 box
    assert decode_img(imgs[0]["src"]).size == (512, 512)


def test_the_difference_image_ignores_changes_within_the_pixel_threshold(tmp_path):
    a, b = real_jobs("success_a_run1.job.json", "success_a_run3_after_free.job.json")
    store = OutputStore(tmp_path / "store")
    image = Image.new("RGB", (32, 32), (100, 100, 100))
    slightly = Image.new("RGB", (32, 32), (103, 100, 100))
    pair = image_pair(store, image, slightly)
    def red_pixels(threshold: int) -> int:
        page = render_diff_report(diff_jobs(a, b), a, b, pairs=[pair], stores=[store], pixel_threshold=threshold)
        diff = decode_img(Tags(page).named("img")[2]["src"]).convert("RGB")
        return {color: count for count, color in diff.getcolors(1 << 20)}.get((220, 20, 60), 0)

    assert red_pixels(3) == 0
    assert red_pixels(2) == 32 * 32


def test_images_of_different_sizes_are_shown_without_a_difference_image(tmp_path):
    a, b = real_jobs("success_a_run1.job.json", "success_a_run3_after_free.job.json")
    store = OutputStore(tmp_path / "store")
    pair = image_pair(store, gradient(32), gradient(48), result="incomparable")
    pair["why"] = "size changed: 32x32 -> 48x48"
    page = render_diff_report(diff_jobs(a, b), a, b, pairs=[pair], stores=[store])
    assert len(Tags(page).named("img")) == 2
    assert "no difference image: sizes differ" in page and "size changed: 32x32 -&gt; 48x48" in page


def test_a_corrupt_or_unstored_file_becomes_a_note_not_a_crash(tmp_path):
    a, b = real_jobs("success_a_run1.job.json", "success_a_run3_after_free.job.json")
    store = OutputStore(tmp_path / "store")
    data = png(gradient(32))
    broken = artifact(store, data[: len(data) // 2], size=(32, 32))
    absent = dict(broken, sha256="0" * 64)
    pair = {"node": "9", "key": "images", "index": 0, "result": "incomparable", "a": broken, "b": absent,
            "metrics": None, "why": "a is truncated", "within_tolerance": False}
    page = render_diff_report(diff_jobs(a, b), a, b, pairs=[pair], stores=[store])
    assert Tags(page).named("img") == []
    assert "not shown: " in page and "file not stored" in page


def test_real_outputs_of_comfyui_are_embedded_and_decode(tmp_path):
    a, b = real_jobs("success_a_run1.job.json", "success_a_run3_after_free.job.json")
    store = OutputStore(tmp_path / "store")
    files = Path(__file__).parent / "data" / "outputs" / "files"
    data = (files / "success_a_00002_.png").read_bytes()
    art_a = artifact(store, data, node="4", filename="success_a_00001_.png", size=(128, 128))
    art_b = artifact(store, data, node="4", filename="success_a_00002_.png", size=(128, 128))
    anim = artifact(store, (files / "anim_00001_.webp").read_bytes(), node="4", media_type="image/webp",
                    ext=".webp", size=(64, 48))
    pairs = [{"node": "4", "key": "images", "index": 0, "result": "identical", "a": art_a, "b": art_b,
              "metrics": None, "why": None, "within_tolerance": True},
             {"node": "5", "key": "images", "index": 0, "result": "identical", "a": anim, "b": anim,
              "metrics": None, "why": None, "within_tolerance": True}]
    page = render_diff_report(diff_jobs(a, b), a, b, pairs=pairs, stores=[store])
    imgs = Tags(page).named("img")
    assert len(imgs) == 6
    for img in imgs:
        decode_img(img["src"]).load()
    diff = decode_img(imgs[2]["src"]).convert("RGB")
    assert (220, 20, 60) not in {color for _, color in diff.getcolors(1 << 20)}  # identical: nothing marked


# ---------------------------------------------------------------------------------------------- media


def test_small_videos_play_inline_and_large_ones_are_links_with_their_hash(tmp_path):
    a, b = real_jobs("success_a_run1.job.json", "success_a_run3_after_free.job.json")
    store = OutputStore(tmp_path / "store")
    small = artifact(store, b"\x00\x00\x00\x18ftypmp42" + b"v" * 1000, key="video", media_type="video/mp4",
                     ext=".mp4", filename="clip.mp4")
    large = artifact(store, b"\x00\x00\x00\x18ftypmp42" + b"w" * 300_000, key="video", media_type="video/mp4",
                     ext=".mp4", filename="big.mp4")
    sound = artifact(store, b"RIFF" + b"a" * 500, key="audio", media_type="audio/wav", ext=".wav")
    mesh = artifact(store, b"glTF" + b"m" * 500, key="3d", media_type="model/gltf-binary", ext=".glb")
    pairs = [{"node": "9", "key": k, "index": 0, "result": "different", "a": x, "b": y, "metrics": None,
              "why": None, "within_tolerance": False}
             for k, x, y in (("video", small, large), ("audio", sound, sound), ("3d", mesh, mesh))]
    page = render_diff_report(diff_jobs(a, b), a, b, pairs=pairs, stores=[store],
                              limits=ReportLimits(media_bytes=100_000))
    tags = Tags(page)
    assert [v["src"][:22] for v in tags.named("video")] == ["data:video/mp4;base64,"]  # type: ignore[index]
    assert len(tags.named("audio")) == 2
    links = [x["href"] for x in tags.named("a")]
    assert links == [store.path_for(large).as_uri(), store.path_for(mesh).as_uri(),  # type: ignore[union-attr]
                     store.path_for(mesh).as_uri()]  # type: ignore[union-attr]
    assert large["sha256"] in page and mesh["sha256"] in page


# ---------------------------------------------------------------------------------------------- size limit


def test_twenty_outputs_of_2048_pixels_stay_under_the_size_limit(tmp_path):
    a, b = real_jobs("success_a_run1.job.json", "success_a_run3_after_free.job.json")
    store = OutputStore(tmp_path / "store")
    noise = Image.effect_noise((2048, 2048), 60).convert("RGB")  # compresses badly: the worst case
    same_a = artifact(store, png(noise), size=noise.size)
    pairs = []
    for index in range(20):
        changed = noise.copy()
        changed.putpixel((index, index), (0, 0, 0))
        art_b = artifact(store, png(changed), index=index, size=changed.size)
        pairs.append({"node": "9", "key": "images", "index": index, "result": "different",
                      "a": dict(same_a, index=index), "b": art_b, "metrics": None, "why": None,
                      "within_tolerance": False})
    page = render_diff_report(diff_jobs(a, b), a, b, pairs=pairs, stores=[store])
    limit = ReportLimits().max_bytes
    assert len(page.encode("utf-8")) <= limit
    imgs = Tags(page).named("img")
    assert len(imgs) == 60  # every image is shown, none dropped
    assert "not shown" not in page


def test_a_small_limit_shrinks_the_images_and_still_holds(tmp_path):
    limits = ReportLimits(max_bytes=400_000)
    page = one_pixel_report(tmp_path, size=1024, limits=limits)
    assert len(page.encode("utf-8")) <= limits.max_bytes
    imgs = Tags(page).named("img")
    assert len(imgs) == 3
    assert max(decode_img(imgs[0]["src"]).size) <= 512


# ---------------------------------------------------------------------------------------------- verify


def verify_results(store: OutputStore) -> list[dict[str, Any]]:
    image = gradient(64)
    changed = image.copy()
    changed.putpixel((1, 1), (0, 0, 0))
    same = image_pair(store, image, image, result="identical")
    off = image_pair(store, image, changed, metrics={"changed_pixels": 1, "changed_ratio": 1 / 4096,
                                                     "max_diff": 255, "mean_diff": 0.06, "psnr": 49.9})
    return [
        {"recipe": "recipes/a.yaml", "result": "match", "server": "http://127.0.0.1:8188", "job_id": "j1",
         "outputs": [same], "cached_nodes": [], "error": None},
        {"recipe": "recipes/b.yaml", "result": "mismatch", "server": "http://me:s3cret@127.0.0.1:8189/x?token=t0k",
         "job_id": "j2",
         "outputs": [same, off], "cached_nodes": [], "error": None},
        {"recipe": "recipes/f.yaml", "result": "failed", "server": "http://127.0.0.1:8188", "job_id": "j4",
         "outputs": [], "cached_nodes": [], "error": "the rerun failed",
         "failure": {"node_id": "5", "node_type": "ComfyMathExpression", "exception_type": "ZeroDivisionError",
                     "message": HOSTILE}},
        {"recipe": "recipes/c.yaml", "result": "cached", "server": "http://127.0.0.1:8188", "job_id": "j3",
         "outputs": [], "cached_nodes": ["1", "2"], "error": None},
        {"recipe": f"recipes/{HOSTILE}.yaml", "result": "error", "server": None, "job_id": None, "outputs": [],
         "cached_nodes": [], "error": f"rejected: {HOSTILE}"},
    ]


def test_a_verify_report_has_a_summary_row_per_recipe_and_each_non_match_in_full(tmp_path):
    store = OutputStore(tmp_path / "store")
    page = render_verify_report(verify_results(store), stores=[store])
    summary = re.search(r'<table class="summary">.*?</table>', page, re.S)
    assert summary is not None
    rows = re.findall(r"<tr>(.*?)</tr>", summary.group(0), re.S)[1:]
    assert [re.sub(r"<[^>]+>", "", r.split("</td>")[1]) for r in rows] == [
        "match", "mismatch", "failed", "cached", "error"]
    assert "1 of 2 differ" in rows[1]
    headings = re.findall(r"<h2>(.*?)</h2>", page)
    assert [re.sub(r"<[^>]+>", "", h).split(" ")[0] for h in headings] == [
        "Summary", "recipes/b.yaml", "recipes/f.yaml", "recipes/c.yaml", "recipes/&lt;script&gt;window.__pwned"]
    assert "<strong>ZeroDivisionError</strong>: &lt;script&gt;" in page
    assert len(Tags(page).named("img")) == 6  # the mismatch's two pairs, a, b and difference each
    assert Tags(page).named("script") == []
    assert "http://127.0.0.1:8189" in page and "s3cret" not in page and "t0k" not in page


def test_verify_results_may_be_objects_with_to_json(tmp_path):
    store = OutputStore(tmp_path / "store")

    class Result:
        def __init__(self, data: dict[str, Any]) -> None:
            self.data = data

        def to_json(self) -> dict[str, Any]:
            return self.data

    results = verify_results(store)
    assert render_verify_report([Result(r) for r in results], stores=[store]).count("<h2>") == 5

    class Run:
        interrupted = True

        def __init__(self, results: list[Result]) -> None:
            self.results = results

    page = render_verify_report(Run([Result(r) for r in results[:2]]), stores=[store])
    assert "1 match, 1 mismatch (interrupted" in page


@pytest.mark.parametrize("count", [0, 1])
def test_an_empty_or_single_run_still_makes_a_page(tmp_path, count):
    store = OutputStore(tmp_path / "store")
    page = render_verify_report(verify_results(store)[:count], stores=[store])
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")


# ---------------------------------------------------------------------------------------------- command line


def run(argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, stdin=io.BytesIO(b""), stdout=out, stderr=err, env=env or {})
    return code, out.getvalue(), err.getvalue()


def test_diff_format_html_writes_a_report_of_two_real_runs_with_their_images(oss_server, tmp_path):
    run3, run4 = serve_live_runs(oss_server)
    report = tmp_path / "report.html"
    code, out, err = run(["diff", run3, run4, f"--outputs={tmp_path / 'store'}", "--format", "html",
                          "-o", str(report)], env={"COMFY_SERVER": oss_server.url})
    assert code == 0, err
    assert out == "" and f"wrote {report}" in err
    page = report.read_text(encoding="utf-8")
    assert len(Tags(page).named("img")) == 6  # the preview and the saved image: a, b and difference each
    results = re.findall(r'<h3>node <code>(\d+)</code> images\[0\] <span class="badge r-([a-z-]+)"', page)
    assert results == [("5", "different"), ("4", "same-pixels")]
    assert "49152 (100 %)" in page  # every pixel of the 256x192 preview changed by one level
    assert "52.90 dB" in page
    assert f"<td>server</td><td>{oss_server.url}</td><td>{oss_server.url}</td>" in page


def test_diff_html_goes_to_stdout_without_o(tmp_path):
    code, out, _ = run(["diff", str(DATA / "outputs" / "success_a_run1.job.json"),
                        str(DATA / "outputs" / "success_a_run2_cached.job.json"), "--format", "html"])
    assert code == 0 and out.startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("target", ["folder", "missing/report.html"])
def test_diff_o_to_a_folder_or_a_missing_folder_is_refused_and_writes_nothing(tmp_path, target):
    (tmp_path / "folder").mkdir()
    code, out, err = run(["diff", str(DATA / "outputs" / "success_a_run1.job.json"),
                          str(DATA / "outputs" / "success_a_run2_cached.job.json"), "--format", "html",
                          "-o", str(tmp_path / target)])
    assert code == 2 and out == ""
    assert err.startswith("comfy-replay: error: -o ") and err.count("\n") == 1
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["folder"]


def test_diff_o_writes_the_other_formats_too(tmp_path):
    target = tmp_path / "diff.md"
    code, _, _ = run(["diff", str(DATA / "outputs" / "success_a_run1.job.json"),
                      str(DATA / "outputs" / "success_a_run2_cached.job.json"), "--format", "md", "-o", str(target)])
    assert code == 0 and target.read_text(encoding="utf-8").startswith("### comfy-replay diff")


# ---------------------------------------------------------------------------------------------- page images


def test_a_marked_pixel_survives_shrinking_a_very_wide_mask():
    from replay.images import shrink

    mask = Image.new("L", (20000, 4), 0)
    mask.putpixel((12345, 2), 255)
    small = shrink(mask, 512, mask=True)
    assert small.size == (512, 1)  # 4 * 512 / 20000 rounds to 0: at least one row
    marked = [x for x in range(512) if small.getpixel((x, 0))]
    assert marked and all(abs(x - 12345 * 512 / 20000) <= 1.5 for x in marked)
    assert {value for _, value in small.getcolors()} <= {0, 255}


def test_first_frame_of_a_real_animated_webp_is_its_first_picture():
    from replay.images import first_frame

    path = DATA / "outputs" / "files" / "anim_00001_.webp"
    frame = first_frame(path)
    with Image.open(path) as image:
        expected = image.convert(frame.mode)
    assert frame.size == (64, 48) and frame.tobytes() == expected.tobytes()


@pytest.mark.parametrize(("name", "media_type", "ext"), [("anim2_0000{}_.webp", "image/webp", ".webp"),
                                                     ("apng_0000{}_.png", "image/png", ".png")])
def test_an_animation_that_changes_in_a_later_frame_shows_that_frame_with_the_change_in_red(
        tmp_path, name, media_type, ext):
    # Real ComfyUI outputs: frame 1 (red) is the same in both runs, frame 2 (blue) changed by one level. The
    # first frames alone would show a and b alike and a difference image without any red.
    a, b = real_jobs("success_a_run1.job.json", "success_a_run3_after_free.job.json")
    store = OutputStore(tmp_path / "store")
    sides = [artifact(store, (DATA / "animations" / name.format(n)).read_bytes(), filename=name.format(n),
                      media_type=media_type, ext=ext, size=(64, 48)) for n in (1, 2)]
    pair = {"node": "4", "key": "images", "index": 0, "result": "different", "a": sides[0], "b": sides[1],
            "metrics": None, "why": None, "within_tolerance": False}
    page = render_diff_report(diff_jobs(a, b), a, b, pairs=[pair], stores=[store])
    shown_a, shown_b, diff = (decode_img(img["src"]).convert("RGB") for img in Tags(page).named("img"))
    assert shown_a.getpixel((0, 0)) == (0, 0, 255) and shown_b.getpixel((0, 0)) == (0, 0, 254)
    assert diff.getcolors() == [(diff.width * diff.height, (220, 20, 60))]  # every pixel of frame 2 changed
    assert page.count("frame 2, the first that differs") == 3


def test_an_animation_whose_frames_all_agree_shows_its_first_frame_without_a_frame_note(tmp_path):
    a, b = real_jobs("success_a_run1.job.json", "success_a_run3_after_free.job.json")
    store = OutputStore(tmp_path / "store")
    data = (DATA / "animations" / "apng_00001_.png").read_bytes()
    sides = [artifact(store, data, filename=f"apng_0000{n}_.png", size=(64, 48)) for n in (1, 2)]
    pair = {"node": "5", "key": "images", "index": 0, "result": "identical", "a": sides[0], "b": sides[1],
            "metrics": None, "why": None, "within_tolerance": True}
    page = render_diff_report(diff_jobs(a, b), a, b, pairs=[pair], stores=[store])
    shown_a, _, diff = (decode_img(img["src"]).convert("RGB") for img in Tags(page).named("img"))
    assert shown_a.getpixel((0, 0)) == (255, 0, 0)
    assert (220, 20, 60) not in {color for _, color in diff.getcolors()}
    assert "the first that differs" not in page


def test_environment_changes_read_like_the_text_diff_with_a_dash_for_a_side_without_the_value():
    # two real captures: a recipe fetched from a local ComfyUI 0.33 and the same job from a Comfy Cloud dialect server
    from replay.environment_diff import diff_environments

    local = {"system": {"comfyui_version": "0.33.0", "python_version": "3.11.7", "deploy_environment": "local-git"},
             "devices": [{"name": "cpu", "type": "cpu", "vram_total": 25276071936}]}
    cloud = {"system": {"comfyui_version": "0.33.0", "cloud_version": "2026.11.1", "python_version": "3.12.3"},
             "devices": [{"name": "cloud", "type": "cuda", "vram_total": 0}]}
    a, b = real_jobs("success_a_run1.job.json", "success_a_run3_after_free.job.json")
    diff = diff_jobs(a, b)
    object.__setattr__(diff, "environment", tuple(diff_environments(local, cloud)))
    table = re.search(r'<table class="environment">.*?</table>', render_diff_report(diff, a, b), re.S)
    assert table is not None
    rows = [re.sub(r"<[^>]+>", "", row).split("|") for row in
            re.findall(r"<tr>(.*?)</tr>", table.group(0).replace("</td><td>", "|"))[1:]]
    assert ["system", "Comfy Cloud", "added", "-", "2026.11.1"] in rows
    assert ["system", "Python", "up", "3.11.7", "3.12.3"] in rows
    assert ["system", "deploy environment", "removed", "local-git", "-"] in rows
    assert "null" not in table.group(0) and "&quot;" not in table.group(0)


def test_environment_changes_of_the_diff_are_a_table_when_recipes_carry_them():
    from dataclasses import dataclass

    @dataclass
    class EnvChange:  # the shape of an environment change: what to_json gives
        def to_json(self) -> dict[str, Any]:
            return {"kind": "system", "name": "comfyui_version", "change": "up", "a": "0.3.0", "b": HOSTILE}

    a, b = hostile_jobs()
    diff = diff_jobs(a, b)
    object.__setattr__(diff, "environment", (EnvChange(),))
    page = render_diff_report(diff, a, b)
    table = re.search(r'<table class="environment">.*?</table>', page, re.S)
    assert table is not None
    assert "<td><code>comfyui_version</code></td><td>up</td><td><code>0.3.0</code></td>" in table.group(0)
    assert "&lt;script&gt;" in table.group(0)
    assert "environment" not in render_diff_report(diff_jobs(a, b), a, b).split("<main>")[1]

