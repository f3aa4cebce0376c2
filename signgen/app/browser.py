"""Debian's headless Chromium driven by Playwright: how the page's tests and its README
screenshot open it. Playwright's own browser download is not used (`playwright install` is
never needed): the system binary is launched directly, with everything that phones home off."""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

CHROMIUM = os.environ.get("SIGNGEN_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@contextmanager
def open_page(url: str, width: int = 1400, height: int = 900, timeout_ms: int | None = None) -> Iterator[object]:
    """A Playwright page showing `url`, closed (with its browser) on exit. `timeout_ms`: how long
    any one step (a click, a wait) may take, instead of Playwright's 30 s (a busy 2-core machine
    can need more to show an upload)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            if timeout_ms is not None:
                page.set_default_timeout(timeout_ms)
            page.goto(url)
            yield page
        finally:
            browser.close()
