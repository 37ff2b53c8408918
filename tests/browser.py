"""Headless Chromium (Debian's `chromium` and `chromium-driver`) driven by Selenium, for report tests and shots.

Nothing is downloaded: the browser and its driver are the system's (`make test` installs them when missing).
`python tests/browser.py REPORT.html SHOT.png` saves a screenshot of a whole page (how docs/ got its picture).
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service

INSTALL = "apt-get install -y chromium chromium-driver (make test does it when they are missing)"


def find(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} is not installed: {INSTALL}")
    return path


def start(width: int = 1300, height: int = 1000) -> webdriver.Chrome:
    """A headless Chromium that records its network events (read them with `requests_made`)."""
    options = webdriver.ChromeOptions()
    options.binary_location = find("chromium")
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--no-first-run", "--disable-extensions", "--disable-background-networking",
                f"--window-size={width},{height}"):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    return webdriver.Chrome(service=Service(find("chromedriver")), options=options)


def requests_made(driver: webdriver.Chrome) -> list[str]:
    """URLs the page asked for since the last call (Chrome DevTools `Network.requestWillBeSent` events)."""
    urls = []
    for entry in driver.get_log("performance"):
        message: dict[str, Any] = json.loads(entry["message"])["message"]
        if message.get("method") == "Network.requestWillBeSent":
            urls.append(str(message["params"]["request"]["url"]))
    return urls


def screenshot(driver: webdriver.Chrome, page: Path, out: Path, width: int = 1300) -> None:
    """Save the whole of `page` (not just the window) as a PNG."""
    driver.get(page.resolve().as_uri())
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.set_window_size(width, height + 120)
    driver.save_screenshot(str(out))


if __name__ == "__main__":
    browser = start()
    try:
        screenshot(browser, Path(sys.argv[1]), Path(sys.argv[2]))
    finally:
        browser.quit()
