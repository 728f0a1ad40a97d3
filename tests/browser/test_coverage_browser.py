"""The coverage page's time control in real headless chromium (issue 15): choosing a moment
changes the map (only the stations open then are drawn, the title names the moment) and the
figures; choosing the week shows the 时间分布 section (night figures, heat-map, line chart).

No internet: base-map tiles fail to load, the cells, boundaries and stations still draw.
Waits are functions (``"() => ..."``): the pages' Content-Security-Policy refuses eval.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.browser.conftest import Watch
from tests.support.webforms import live_server, make_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
#: Monday 7 December 2026, 03:00 Shanghai time: only the 24/7 stations are open
NIGHT = "2026-12-07T03:00"
#: the station markers of the coverage map (white-edged circles)
MARKERS = "() => document.querySelectorAll('.cov-map path.leaflet-interactive[stroke=\"#ffffff\"]').length"
FIGURES = "() => document.querySelector('#coverage-figures tbody tr').innerText"


@pytest.fixture(scope="module")
def site(tmp_path_factory, web_stations_builder):
    app = make_app(tmp_path_factory.mktemp("coverage-browser"), web_stations_builder())
    with live_server(app) as base:
        yield base


@pytest.fixture
def open_page(chromium, site):
    contexts = []

    def _open(path):
        ctx = chromium.new_context(viewport={"width": 1100, "height": 900}, locale="zh-CN")
        contexts.append(ctx)
        page = ctx.new_page()
        page.set_default_timeout(30_000)
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(site)
                   else route.abort("internetdisconnected"))
        watch = Watch(page, site)
        page.goto(site + path)
        return page, watch

    yield _open
    for ctx in contexts:
        ctx.close()


def test_the_time_control_changes_the_map_and_the_figures(open_page, web_stations_builder):
    from datetime import datetime

    from stationmap import coverage as cv
    from stationmap.hours import TZ, open_at

    page, watch = open_page("/coverage/320404?kind=rest&cell=500&minutes=10")
    page.wait_for_function(f"() => ({MARKERS})() > 0")
    before_markers, before_figures = page.evaluate(MARKERS), page.evaluate(FIGURES)
    assert "任意时刻" in page.inner_text("#coverage-when")
    assert page.input_value("input[name=at]") == ""

    page.fill("input[name=at]", NIGHT)
    with page.expect_navigation():
        page.click(".cov-form button[type=submit]")
    page.wait_for_function(f"() => ({MARKERS})() >= 0 && document.querySelector('.leaflet-container') !== null")
    assert "at=2026-12-07T03%3A00" in page.url
    assert page.input_value("input[name=at]") == NIGHT
    assert "2026年12月7日（周一）03:00" in page.inner_text("#coverage-when")
    after_markers, after_figures = page.evaluate(MARKERS), page.evaluate(FIGURES)
    # the map draws the stations open at 03:00 only: as many as the hours say (the map draws those
    # within 0.05 degrees of its cells' extent)
    grid = cv.make_grid(cv.resolve_areas("320404"), cell_m=500)
    w, e, s, n = grid.lon.min() - 0.05, grid.lon.max() + 0.05, grid.lat.min() - 0.05, grid.lat.max() + 0.05
    night = datetime(2026, 12, 7, 3, tzinfo=TZ)
    rest = [st for st in web_stations_builder() if "rest" in st.kinds and st.status != "closed"
            and w <= st.lon <= e and s <= st.lat <= n]
    open_then = [st for st in rest if open_at(st, night)]
    assert 0 < len(open_then) < len(rest)
    assert (before_markers, after_markers) == (len(rest), len(open_then))
    assert after_figures != before_figures
    legend = page.inner_text(".cov-map")
    assert "2026年12月7日（周一）03:00" in legend                  # the map's title names the moment
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "coverage-at-night.png"), full_page=True)

    # the week around it: the 时间分布 section with its night figures and charts
    page.select_option("select[name=profile]", "week")
    with page.expect_navigation():
        page.click(".cov-form button[type=submit]")
    page.wait_for_function("() => document.querySelector('#coverage-heatmap') !== null "
                           "&& document.querySelector('#coverage-heatmap').complete "
                           "&& document.querySelector('#coverage-heatmap').naturalWidth > 300")
    section = page.inner_text("#coverage-time")
    assert "夜间（22:00–06:00）" in section and "最低" in section and "平均" in section
    assert page.evaluate("() => document.querySelector('#coverage-lines').naturalWidth") > 300
    assert page.evaluate(FIGURES) == after_figures              # the figures are still those of 03:00
    page.screenshot(path=str(ARTIFACTS / "coverage-week-profile.png"), full_page=True)

    # back to any time: the field emptied, every station that is not closed again
    page.fill("input[name=at]", "")
    page.select_option("select[name=profile]", "")
    with page.expect_navigation():
        page.click(".cov-form button[type=submit]")
    page.wait_for_function(f"() => ({MARKERS})() > 0")
    assert page.evaluate(MARKERS) == before_markers and page.evaluate(FIGURES) == before_figures
    watch.assert_clean()


#: the page's width against the viewport's, each control's box, the legend's box and whether each
#: table's own box is within the viewport (a table may scroll inside it)
PHONE_FIT = """() => ({
  scroll: document.documentElement.scrollWidth, inner: window.innerWidth,
  controls: [...document.querySelectorAll('.cov-form label, .cov-form button')].map(e => {
    const r = e.getBoundingClientRect(); return [r.left, r.right]; }),
  legend: (() => { const e = document.querySelector('.sm-coverage-legend'); if (!e) { return null; }
    const r = e.getBoundingClientRect(), m = document.querySelector('.cov-map').getBoundingClientRect();
    return [r.left, r.right, r.top, r.bottom, m.left, m.right, m.top, m.bottom, r.width * r.height]; })(),
  tables: [...document.querySelectorAll('table.cov')].map(t => {
    const r = t.parentElement.getBoundingClientRect(); return [r.left, r.right]; }),
})"""


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_the_coverage_page_fits_a_390_px_phone(chromium, site, lang):
    """Issue 20: the coverage page scrolled sideways on a phone; its controls and legend ran off screen."""
    ctx = chromium.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN", is_mobile=True,
                               has_touch=True)
    try:
        page = ctx.new_page()
        page.set_default_timeout(30_000)
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(site)
                   else route.abort("internetdisconnected"))
        watch = Watch(page, site)
        page.goto(f"{site}/coverage/320404?kind=rest&cell=500&minutes=10&add=3&profile=week&lang={lang}")
        page.wait_for_selector("#coverage-sites", state="attached")
        page.wait_for_selector(".sm-coverage-legend", state="attached")
        fit = page.evaluate(PHONE_FIT)
        assert fit["scroll"] <= fit["inner"] == 390
        assert fit["controls"] and all(0 <= left and right <= 390 for left, right in fit["controls"])
        left, right, top, bottom, mleft, mright, mtop, mbottom, area = fit["legend"]
        assert area > 0 and mleft <= left and right <= mright and mtop <= top and bottom <= mbottom
        assert 0 <= left and right <= 390
        assert page.locator(".sm-coverage-legend").is_visible()
        assert len(fit["tables"]) >= 3 and all(0 <= lf and rt <= 390 for lf, rt in fit["tables"])
        # every control can be reached and used: the submit button takes a tap
        page.locator(".cov-form button[type=submit]").scroll_into_view_if_needed()
        assert page.locator(".cov-form button[type=submit]").is_visible()
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"coverage-390-{lang}.png"), full_page=True)
        watch.assert_clean()
    finally:
        ctx.close()
