"""Reports opened in a real browser (headless Chromium): images decode, tables are there, nothing is fetched,
hostile text stays text, and the a / b / difference views work without JavaScript.

A missing browser is an error, not a skip: `make test` installs Debian's chromium and chromium-driver.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import browser
from PIL import Image
from reportcases import (
    HOSTILE,
    artifact,
    gradient,
    hostile_report,
    image_pair,
    real_jobs,
    serve_live_runs,
    serve_patch_runs,
)
from selenium.webdriver.common.by import By

from replay.diff import diff_jobs
from replay.outputs import OutputStore
from replay.report import render_diff_report, render_verify_report


def open_page(chrome: Any, tmp_path: Path, page: str, name: str = "report.html") -> list[str]:
    """Load a report from a file and return the URLs the browser asked for (inline data: URIs left out)."""
    path = tmp_path / name
    path.write_text(page, encoding="utf-8")
    browser.requests_made(chrome)  # drop the events of earlier pages
    chrome.get(path.as_uri())
    chrome.execute_script("return document.readyState")
    return [url for url in browser.requests_made(chrome) if not url.startswith("data:")]


def images(chrome: Any) -> list[list[Any]]:
    return chrome.execute_script(
        "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight])")


def real_report(tmp_path: Path) -> str:
    """Two recorded ComfyUI runs, with their real output image and a changed copy of it."""
    a, b = real_jobs("success_a_run1.job.json", "success_a_run3_after_free.job.json")
    store = OutputStore(tmp_path / "store")
    files = Path(__file__).parent / "data" / "outputs" / "files"
    real = Image.open(files / "success_a_00002_.png").convert("RGB")
    changed = real.copy()
    changed.putpixel((5, 5), (255, 0, 0))
    pair = image_pair(store, real, changed, metrics={"changed_pixels": 1, "changed_ratio": 1 / 16384,
                                                     "max_diff": 255, "mean_diff": 0.01, "psnr": 52.3})
    anim = artifact(store, (files / "anim_00001_.webp").read_bytes(), node="4", media_type="image/webp",
                    ext=".webp", size=(64, 48))
    same = {"node": "4", "key": "images", "index": 0, "result": "identical", "a": anim, "b": anim,
            "metrics": None, "why": None, "within_tolerance": True}
    return render_diff_report(diff_jobs(a, b), a, b, pairs=[pair, same], stores=[store],
                              labels=("run1.json", "run3.json"))


def test_every_image_of_a_real_report_decodes_and_nothing_is_fetched(chrome, tmp_path):
    requested = open_page(chrome, tmp_path, real_report(tmp_path))
    found = images(chrome)
    assert [i[0] for i in found] == ["a image", "b image", "diff image"] * 2
    assert all(complete and width > 0 and height > 0 for _, complete, width, height in found)
    assert requested == [(tmp_path / "report.html").as_uri()]  # the page itself, nothing else
    rows = chrome.execute_script("return document.querySelectorAll('table.jobs tbody tr').length")
    # reference, document, job id, status, created, started, ended, duration, from cache (no server: files)
    assert rows == 9
    assert chrome.find_element(By.CSS_SELECTOR, ".pair h3").text.startswith("node 9 images[0]")


def test_hostile_text_in_a_job_does_not_run_and_is_shown_as_text(chrome, tmp_path):
    requested = open_page(chrome, tmp_path, hostile_report(tmp_path))
    assert chrome.execute_script("return window.__pwned") is None
    assert chrome.execute_script("return document.scripts.length") == 0
    assert HOSTILE in chrome.find_element(By.TAG_NAME, "body").text
    assert requested == [(tmp_path / "report.html").as_uri()]
    node_rows = chrome.execute_script("return document.querySelectorAll('table.nodes tbody tr').length")
    assert node_rows == 3
    assert all(complete and width > 0 for _, complete, width, _ in images(chrome))


def test_the_views_switch_between_a_b_and_difference_without_javascript(chrome, tmp_path):
    open_page(chrome, tmp_path, real_report(tmp_path))

    def visible() -> list[str]:
        return chrome.execute_script(
            "return Array.from(document.querySelectorAll('.pair')[0].querySelectorAll('figure'))"
            ".filter(f => f.offsetParent !== null).map(f => f.className)")

    assert visible() == ["fa", "fb", "fd"]
    chrome.find_element(By.CSS_SELECTOR, "label[for='p1-b']").click()
    assert visible() == ["fb"]
    chrome.find_element(By.CSS_SELECTOR, "label[for='p1-d']").click()
    assert visible() == ["fd"]
    chrome.find_element(By.CSS_SELECTOR, "label[for='p1-all']").click()
    assert visible() == ["fa", "fb", "fd"]


def test_a_verify_report_shows_its_summary_and_mismatches_in_the_browser(chrome, tmp_path):
    store = OutputStore(tmp_path / "store")
    image = gradient(96)
    changed = image.copy()
    changed.putpixel((1, 1), (0, 0, 0))
    results = [
        {"recipe": "recipes/a.yaml", "result": "match", "server": "http://127.0.0.1:8188", "job_id": "j1",
         "outputs": [image_pair(store, image, image, result="identical")], "cached_nodes": [], "error": None},
        {"recipe": "recipes/b.yaml", "result": "mismatch", "server": "http://127.0.0.1:8188", "job_id": "j2",
         "outputs": [image_pair(store, image, changed)], "cached_nodes": [], "error": None},
        {"recipe": f"recipes/{HOSTILE}.yaml", "result": "error", "server": None, "job_id": None, "outputs": [],
         "cached_nodes": [], "error": HOSTILE},
    ]
    requested = open_page(chrome, tmp_path, render_verify_report(results, stores=[store]))
    assert requested == [(tmp_path / "report.html").as_uri()]
    assert chrome.execute_script("return document.querySelectorAll('table.summary tbody tr').length") == 3
    assert chrome.execute_script("return window.__pwned") is None
    found = images(chrome)
    assert len(found) == 3 and all(complete and width > 0 for _, complete, width, _ in found)


def test_the_report_of_two_real_comfyui_runs_made_by_the_command_line_renders(chrome, oss_server, tmp_path):
    import io

    from replay.cli import main

    run3, run4 = serve_live_runs(oss_server)
    report = tmp_path / "real.html"
    err = io.StringIO()
    code = main(["diff", run3, run4, f"--outputs={tmp_path / 'store'}", "--format", "html", "-o", str(report)],
                stdin=io.BytesIO(b""), stdout=io.StringIO(), stderr=err, env={"COMFY_SERVER": oss_server.url})
    assert code == 0, err.getvalue()
    browser.requests_made(chrome)
    chrome.get(report.as_uri())
    assert [u for u in browser.requests_made(chrome) if not u.startswith("data:")] == [report.as_uri()]
    found = images(chrome)
    assert len(found) == 6 and all(complete and width > 0 for _, complete, width, _ in found)
    # the prompt changed in one input (ImageBlur sigma): one row
    rows = chrome.execute_script(
        "return Array.from(document.querySelectorAll('table.nodes tbody tr')).map(r => r.innerText)")
    assert len(rows) == 1 and "sigma" in rows[0] and "1.5" in rows[0] and "1.6" in rows[0]


def test_a_red_patch_pasted_by_a_real_comfyui_job_is_what_the_report_shows(chrome, oss_server, tmp_path):
    import io

    from replay.cli import main

    job_a, job_b = serve_patch_runs(oss_server)
    env = {"COMFY_SERVER": oss_server.url}
    recipes = tmp_path / "recipes"
    assert main(["fetch", job_a, job_b, "-o", str(recipes), "--outputs"], stdin=io.BytesIO(b""),
                stdout=io.StringIO(), stderr=io.StringIO(), env=env) == 0
    report = tmp_path / "patch.html"
    assert main(["diff", str(recipes / f"{job_a}.yaml"), str(recipes / f"{job_b}.yaml"), "--format", "html",
                 "-o", str(report)], stdin=io.BytesIO(b""), stdout=io.StringIO(), stderr=io.StringIO(), env={}) == 0
    browser.requests_made(chrome)
    chrome.get(report.as_uri())
    assert [u for u in browser.requests_made(chrome) if not u.startswith("data:")] == [report.as_uri()]
    found = images(chrome)
    assert len(found) == 6 and all(complete and width == 512 for _, complete, width, _ in found)
    pairs = chrome.execute_script(
        "return Array.from(document.querySelectorAll('.pair')).map(p => p.querySelector('h3').innerText)")
    assert pairs == ["node 4 images[0] different", "node 6 images[0] same-pixels"]
    numbers = chrome.find_elements(By.CSS_SELECTOR, ".pair table.metrics td")
    assert numbers[1].text == "9216 (3.5156 %)"  # the 96 x 96 patch: 9216 of 512 x 512 pixels
    changes = chrome.execute_script(
        "return Array.from(document.querySelectorAll('table.nodes tbody tr'))"
        ".map(r => Array.from(r.cells).slice(0, 3).map(c => c.innerText).join(' '))")
    assert changes == ["9 EmptyImage added", "10 ImageCompositeMasked added", "4 SaveImage images",
                       "7 PrimitiveString value"]
    cache = chrome.execute_script(
        "return Array.from(document.querySelectorAll('table.jobs tr')).filter(r => r.cells[0].innerText == "
        "'from cache').map(r => [r.cells[1].innerText, r.cells[2].innerText])")
    assert cache == [["nothing (every node ran)", "5 of 10 nodes: 1, 2, 7, 8, 9"]]
