"""Shared pytest fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

# --- fake ComfyUI servers (tests/fakecomfy.py): started on 127.0.0.1, stopped after the test -------------------
from fakecomfy import FakeComfy


def _serve(dialect: str) -> Iterator[FakeComfy]:
    with FakeComfy(dialect=dialect) as server:
        yield server
    assert not server.errors, f"the fake {dialect} server crashed:\n" + "\n".join(server.errors)


@pytest.fixture
def cloud_server() -> Iterator[FakeComfy]:
    """A started Comfy Cloud double; requests need the header `X-API-Key: <server.api_key>`."""
    yield from _serve("cloud")


@pytest.fixture
def oss_server() -> Iterator[FakeComfy]:
    """A started open-source ComfyUI (>= 0.6, with /api/jobs) double."""
    yield from _serve("oss")


@pytest.fixture
def legacy_server() -> Iterator[FakeComfy]:
    """A started open-source ComfyUI older than 0.6: no /api/jobs, only the history routes."""
    yield from _serve("oss-legacy")


# --- a real browser (tests/browser.py): Debian's headless Chromium; a missing browser fails, never skips ---------
@pytest.fixture(scope="module")
def chrome() -> Iterator[Any]:
    """A headless Chromium driven by Selenium, one per test module."""
    import browser  # selenium only for the tests that open a page

    try:
        driver = browser.start()
    except Exception as exc:  # noqa: BLE001 - say how to get a browser, and fail
        pytest.fail(f"headless Chromium could not start: {exc}\n{browser.INSTALL}")
    yield driver
    driver.quit()
