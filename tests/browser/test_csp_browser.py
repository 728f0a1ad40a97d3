"""Every page type in headless chromium with the Content-Security-Policy on (stationmap.csp):
no violation anywhere, reported either way chromium reports one (a ``securitypolicyviolation``
event, registered in every frame before any script, or a console message).  Embeds still
render framed by a page of another origin on their allowlist, and are refused by frame-ancestors
in one that is not.

The header's exact text is tested in tests/web/test_csp.py.  No internet: tile requests that the
policy lets through are aborted (the map shows its offline notice), which is how the tests see
that the configured tile hosts are allowed (a blocked one would be a violation).
"""

from __future__ import annotations

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.browser.conftest import Watch, wait_map_still
from tests.support.webforms import PASSWORD, add_users, free_port, live_server, make_app, serve_pages, use_fast_hasher

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DISTRICT = "320402"
#: registered in every document (frames too) before its own scripts
LISTENER = """
document.addEventListener('securitypolicyviolation', function (e) {
  window.__cspViolation({directive: e.effectiveDirective, blocked: e.blockedURI, sample: e.sample,
                         source: e.sourceFile + ':' + e.lineNumber, page: String(location.href)});
}, true);
"""
CSV = "id,name,kinds,lon,lat,adcode\nup-1,上传驿站一,rest,119.98,31.79,320402\n"  # a point in 天宁区 (issue 20)


@pytest.fixture(scope="module")
def ports():
    return {"allowed": free_port(), "other": free_port()}


@pytest.fixture(scope="module")
def app(tmp_path_factory, web_stations_builder, ports):
    mp = pytest.MonkeyPatch()
    use_fast_hasher(mp)
    app = make_app(tmp_path_factory.mktemp("csp-browser"), web_stations_builder(), tianditu_key="test-key",
                   embed_origins={DISTRICT: [f"http://127.0.0.1:{ports['allowed']}"]})
    add_users(app.extensions["stationmap"].store)
    yield app
    mp.undo()


@pytest.fixture(scope="module")
def site(app):
    with live_server(app) as base:
        yield base


@pytest.fixture(scope="module")
def parents(ports):
    """Parent sites on two other local origins: ``pages[path]`` is the HTML served at ``path``."""
    pages: dict = {}
    with serve_pages(ports["allowed"], pages) as allowed, serve_pages(ports["other"], pages) as other:
        yield {"allowed": allowed, "other": other, "pages": pages}


@pytest.fixture(scope="module")
def published(app, tmp_path_factory):
    """The static site of ``stationmap publish``, served from its own local web server."""
    from werkzeug.exceptions import NotFound
    from werkzeug.middleware.shared_data import SharedDataMiddleware

    from stationmap.web.embed import export_district

    out = tmp_path_factory.mktemp("published")
    with app.test_request_context(f"/embed/{DISTRICT}"):
        export_district(DISTRICT, out)
    with live_server(SharedDataMiddleware(NotFound(), {"/": str(out)})) as base:
        yield {"url": base, "dir": out}


class Browser:
    """A chromium context whose pages report every CSP violation (events and console)."""

    def __init__(self, chromium, local):
        self.local = tuple(local)
        self.ctx = chromium.new_context(viewport={"width": 1100, "height": 900}, locale="zh-CN")
        self.violations: list = []
        self.console: list = []
        self.ctx.expose_binding("__cspViolation", lambda source, v: self.violations.append(v))
        self.ctx.add_init_script(LISTENER)
        self.remote: list = []   # what left the machine (tiles): aborted, as offline
        self.ctx.route("**/*", lambda route: route.continue_() if route.request.url.startswith(self.local)
                       else (self.remote.append(route.request.url), route.abort("internetdisconnected")))
        self.page = self.ctx.new_page()
        self.page.set_default_timeout(20_000)
        self.page.on("console", lambda m: self.console.append(f"{m.type}: {m.text}"))
        self.watch = Watch(self.page, self.local[0])

    def open(self, url, ready=None):
        self.page.goto(url)
        if ready:
            try:
                self.page.wait_for_function(ready, polling=100)
            except PlaywrightTimeout:
                raise AssertionError(f"{url} never got ready ({ready}); CSP violations: {self.violations}, "
                                     f"console: {self.csp_messages()}") from None
        return self.page

    def open_error_page(self, url, status):
        """Open a page answered with an error ``status``: that failure is the expected one."""
        resp = self.page.goto(url)
        assert resp.status == status
        self.page.wait_for_timeout(200)
        self.watch.failed.remove(url)
        self.watch.console_errors.remove(f"Failed to load resource: the server responded with a status of {status} "
                                         f"(NOT FOUND)")
        return self.page

    def csp_messages(self):
        return [m for m in self.console if "Content Security Policy" in m or "Content-Security-Policy" in m]

    def assert_clean(self):
        self.page.wait_for_timeout(300)  # (the binding's calls are asynchronous)
        assert self.violations == []
        assert self.csp_messages() == []
        self.watch.assert_clean()


@pytest.fixture
def browser(chromium, site, parents, published):
    b = Browser(chromium, (site, parents["allowed"], parents["other"], published["url"], "file://"))
    yield b
    b.ctx.close()


def _sign_in(b, site):
    page = b.open(f"{site}/login")
    page.fill("#username", "admin")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{site}/admin/")


STATIONS = "() => document.documentElement.dataset.stationsLoaded !== undefined"
TILES_TRIED = "() => document.documentElement.dataset.tiles === 'failed'"


def test_public_pages(browser, site):
    b = browser
    page = b.open(f"{site}/", STATIONS)
    page.wait_for_function(TILES_TRIED, polling=100)   # Amap's tiles were asked for (and aborted)
    # the map opens on the stations (a tap at its centre finds a marker): the "position unknown"
    # box's button offers the map's centre, then "set my position here": the list
    page.click(".sm-nopos-btn")
    wait_map_still(page)
    page.click(".sm-setpos-btn")
    page.wait_for_function("() => Number(document.documentElement.dataset.listVersion || 0) >= 1", polling=100)
    # a station's tooltip and popup (built on first use): zoomed in past the clustering
    page.evaluate("""() => { const S = stationmapFinder.state, m = S.markerById['xss'];
        S.map.setView(m.getLatLng(), 18, {animate: false}); }""")
    page.wait_for_function("() => !!stationmapFinder.state.markerById['xss']._icon", polling=100)
    page.wait_for_timeout(500)  # the cluster-to-marker animation
    box = page.evaluate("() => { const r = stationmapFinder.state.markerById['xss']._icon.getBoundingClientRect();"
                        " return [r.x + r.width / 2, r.y + r.height / 2]; }")
    page.mouse.move(*box)
    page.mouse.click(*box)
    page.wait_for_selector(".sm-popup .st-nav a")
    b.open(f"{site}/?lang=en", STATIONS)
    for path in ("/station/xss", "/stations/xss/history", "/districts"):
        b.open(site + path)
    b.open_error_page(f"{site}/no/such/page", 404)
    page = b.open(f"{site}/stations/xss/reports")
    page.locator("form.report-form button").first.click()   # a form posted (form-action)
    page.wait_for_load_state()
    assert page.url.startswith(f"{site}/stations/xss/")
    b.assert_clean()


def test_coverage_page_and_its_map_download(browser, site):
    b = browser
    page = b.open(f"{site}/coverage/{DISTRICT}?cell=1000&add=2")
    page.wait_for_selector(".sm-coverage-legend")
    page.wait_for_selector(".sm-site")   # suggested sites: markers with inline styles
    page.wait_for_function("() => document.querySelectorAll('.leaflet-tile').length > 0")  # OpenStreetMap's
    href = page.get_attribute("a[href*='coverage_map.html']", "href")
    page = b.open(site + href)
    page.wait_for_selector(".sm-coverage-legend")
    assert page.locator(".leaflet-overlay-pane path").count() > 0
    b.assert_clean()


def test_embeds_and_the_builder(browser, site):
    b = browser
    page = b.open(f"{site}/embed/{DISTRICT}", "() => document.documentElement.dataset.embed === 'ready'")
    page.wait_for_function(TILES_TRIED, polling=100)
    b.open(f"{site}/embed/{DISTRICT}?basemap=tianditu&lang=en", STATIONS)
    # Tianditu's tiles (the key configures its hosts), map and labels, through the policy
    page.wait_for_function("() => document.querySelectorAll('.leaflet-tile').length >= 12")
    tianditu = {u.split("/")[2] for u in b.remote if ".tianditu.gov.cn/" in u}
    assert len(tianditu) >= 4 and {u.split("T=")[1][:5] for u in b.remote if "tianditu" in u} == {"vec_w", "eva_w"}
    page = b.open(f"{site}/embed?adcode={DISTRICT}")
    page.wait_for_function("() => document.querySelector('#b-preview').src.includes('/embed/')")
    preview = page.frame_locator("#b-preview")
    preview.locator("html[data-embed='ready']").wait_for()
    b.assert_clean()


def test_admin_pages(browser, site):
    b = browser
    _sign_in(b, site)
    b.open(f"{site}/admin/districts/{DISTRICT}")
    b.open(f"{site}/admin/audit")
    for path in (f"/admin/stations/new?adcode={DISTRICT}", "/admin/stations/xss/edit"):
        page = b.open(site + path)
        page.wait_for_selector("#picker.leaflet-container")
        box = page.locator("#picker").bounding_box()
        page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
        assert page.input_value("#f-lon")
    page = b.open(f"{site}/admin/import")
    page.set_input_files("#f-file", files=[{"name": "stations.csv", "mimeType": "text/csv",
                                            "buffer": CSV.encode("utf-8")}])
    page.click("form.station-form button[type=submit]")
    page.wait_for_load_state()
    assert "上传驿站一" in page.content()   # the preview
    b.assert_clean()


def test_published_site_over_http_and_from_file(browser, published):
    b = browser
    ready = "() => document.documentElement.dataset.embedList !== undefined"
    page = b.open(f"{published['url']}/index.html", ready)
    page.wait_for_function(TILES_TRIED, polling=100)
    assert page.evaluate("document.querySelector('meta[http-equiv=Content-Security-Policy]').content"
                         ).startswith("default-src 'self'; script-src 'self' 'sha256-")
    b.open((published["dir"] / "index.html").as_uri(), ready)
    b.assert_clean()


def _iframe_page(src):
    return f'<!doctype html><html><body><h1>区总工会</h1><iframe id="m" src="{src}" width="900" height="560"></iframe></body></html>'


def test_embed_renders_framed_by_a_listed_origin(browser, site, parents):
    b = browser
    parents["pages"]["/csp-ok.html"] = _iframe_page(f"{site}/embed/{DISTRICT}")
    page = b.open(f"{parents['allowed']}/csp-ok.html")
    frame = page.frame_locator("#m")
    frame.locator("html[data-embed='ready']").wait_for()
    frame.locator("html[data-stations-loaded]").wait_for()
    assert frame.locator("#nearest-list li").count() > 0
    b.assert_clean()


def test_embed_is_refused_by_an_unlisted_origin(browser, site, parents):
    b = browser
    parents["pages"]["/csp-other.html"] = _iframe_page(f"{site}/embed/{DISTRICT}")
    page = b.open(f"{parents['other']}/csp-other.html")
    for _ in range(100):
        if any("frame-ancestors" in m for m in b.csp_messages()):
            break
        page.wait_for_timeout(100)
    refusals = b.csp_messages()
    assert len(refusals) == 1 and "frame-ancestors 'self' " + parents["allowed"] in refusals[0], refusals
    frame = next(f for f in page.frames if f != page.main_frame)
    assert not frame.url.startswith(site)   # chromium put an error page in its place
    assert frame.evaluate("document.documentElement.dataset.embed || ''") == ""
