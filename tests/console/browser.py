"""Debian's Chromium driven by Playwright, for the tests of pages; and where screenshots go.

The browser is the one ``make test`` installs (``make browser``: apt-get when /usr/bin/chromium
is missing); Playwright's own browser download is never used. Missing, it is a failure, not a
skip. The flags keep Chromium from calling home, which a closed network refuses.
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import BrowserContext, Page, sync_playwright

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "build" / "screenshots"
FLAGS = [
    "--headless",
    "--no-sandbox",  # root in CI
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1280, "height": 800}


@contextmanager
def chromium() -> Iterator[BrowserContext]:
    """A fresh headless Chromium (its own profile directory), closed at the end."""
    if not CHROMIUM.exists():
        raise AssertionError(
            f"{CHROMIUM} is missing: `make browser` (part of `make test`) installs Debian's "
            "chromium package"
        )
    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile,
            executable_path=str(CHROMIUM),
            headless=True,
            args=FLAGS,
            viewport=VIEWPORT,  # type: ignore[arg-type]
            locale="en-GB",
            timezone_id="UTC",
        )
        try:
            yield context
        finally:
            context.close()


def screenshot(page: Page, name: str, *, full_page: bool = True) -> Path:
    """The page (``full_page``: all of it, else what the window shows) as
    ``build/screenshots/<name>.png``."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path
