"""Fixtures of the finder's browser tests: a real local server and headless chromium.

Chromium is Debian's (``/usr/bin/chromium``, installed by ``make test`` (``make system-deps``)),
driven by Playwright; requests that leave 127.0.0.1 (map tiles) are aborted, as
they would fail offline or on an intranet.
"""

from __future__ import annotations

import pytest

from tests.support.webforms import FINDER_NOON, Clock
from tests.support.webforms import live_server, make_app

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="module")
def finder_app(tmp_path_factory, web_stations_builder):
    return make_app(tmp_path_factory.mktemp("finder-browser"), web_stations_builder())


@pytest.fixture(scope="module")
def finder_clock():
    return Clock(FINDER_NOON)


@pytest.fixture(scope="module")
def finder_url(finder_app, finder_clock):
    from stationmap.web import api

    with pytest.MonkeyPatch.context() as mp, live_server(finder_app) as base:
        mp.setattr(api, "now", finder_clock.now)
        yield base


@pytest.fixture(scope="module")
def chromium():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def wait_map_still(page):
    """Wait until no pan animation moves the finder's map (a popup's auto-pan): a click computed or
    aimed before it ends can land beside its target on a loaded machine."""
    page.wait_for_function("() => { const a = stationmapFinder.state.map._panAnim; return !(a && a._inProgress); }",
                           polling=100)


class Watch:
    """What went wrong in a page: uncaught errors, console errors, dialogs, failed requests."""

    def __init__(self, page, base):
        self.base = base
        self.page_errors, self.console_errors, self.dialogs, self.failed = [], [], [], []
        page.on("pageerror", lambda e: self.page_errors.append(str(e)))
        page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        # ERR_ABORTED: the browser dropped a request itself (an icon whose marker was re-clustered)
        page.on("requestfailed", lambda r: self.failed.append(r.url) if "ERR_ABORTED" not in (r.failure or "")
                else None)
        page.on("response", lambda r: self.failed.append(r.url) if r.status >= 400 else None)

    def assert_clean(self):
        """No JavaScript error, no dialog, and nothing local failed (remote tiles may)."""
        assert self.page_errors == [], self.page_errors
        assert self.dialogs == [], self.dialogs
        local = [u for u in self.failed if u.startswith(self.base)]
        assert local == [], local
        remote_failures = len([u for u in self.failed if not u.startswith(self.base)])
        unexplained = [m for m in self.console_errors if not m.startswith("Failed to load resource")]
        assert unexplained == [], unexplained
        assert len(self.console_errors) <= remote_failures


@pytest.fixture
def open_finder(chromium, finder_url):
    """``open_finder(path="/", geolocation=(lon, lat) | None, width=360)`` -> (page, watch)."""
    contexts = []

    def _open(path="/", *, geolocation=None, width=360, height=740):
        kw = {"viewport": {"width": width, "height": height}, "locale": "zh-CN"}
        if geolocation is not None:
            kw.update(geolocation={"longitude": geolocation[0], "latitude": geolocation[1]},
                      permissions=["geolocation"])
        ctx = chromium.new_context(**kw)
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(15_000)
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(finder_url)
                   else route.abort("internetdisconnected"))
        watch = Watch(page, finder_url)
        page.goto(finder_url + path)
        return page, watch

    yield _open
    for ctx in contexts:
        ctx.close()
