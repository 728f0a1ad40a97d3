"""Headless chromium for the page benchmarks (bench_page.py, bench_slow3g.py): Debian's chromium
driven by Playwright, as the browser tests run it (tests/browser/conftest.py).  A module of its
own, not a bench_*.py that run.py would run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


@contextmanager
def browser() -> Iterator:
    """A launched browser whose renderer and network processes have started (their start-up is
    the browser's, not the page's: a first page is loaded and closed before it is given out)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            warm = b.new_context()
            warm.new_page().goto("data:text/html,<p>warm-up</p>")
            warm.close()
            yield b
        finally:
            b.close()
