"""Headless Chromium for tests of the map page: Debian's `chromium` (/usr/bin/chromium) driven by
Playwright with the system browser (never `playwright install`); tests skip when either is missing."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]


@contextlib.contextmanager
def chromium() -> Iterator:
    """A Playwright browser, or a skip saying what to install."""
    if not CHROMIUM.is_file():
        pytest.skip("no /usr/bin/chromium: install Debian's chromium package (apt-get install -y chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def wait_ready(page) -> None:
    page.wait_for_function("() => window.roadscan && window.roadscan.ready && window.roadscanMap.loaded()"
                           " && window.roadscanMap.areTilesLoaded()", timeout=30_000)


def wait_rendered(page, n: int) -> None:
    """Until the map draws n distinct defects (or 15 s: the assertion after it says what differs)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    with contextlib.suppress(PlaywrightTimeout):  # the assertion that follows reports the difference
        page.wait_for_function("n => new Set(window.roadscanMap.queryRenderedFeatures({layers: ['defects']})"
                               ".map(f => f.properties.id)).size === n", arg=n, timeout=15_000)


def rendered_ids(page) -> set[int]:
    # A point near a tile edge is drawn by both tiles: count defects, not drawings.
    return set(page.evaluate("() => window.roadscanMap.queryRenderedFeatures({layers: ['defects']})"
                             ".map(f => f.properties.id)"))
