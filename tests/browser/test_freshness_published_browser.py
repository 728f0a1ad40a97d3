"""Freshness on a published site (issue 18): the export records when and how each station was last
confirmed; the page (embed-static.js) says it as the API does (stationmap.reports.Freshness.words),
counting the days to the day it is read, and finder.js's freshness line shows it in the popup; the
embed (the live API through finder.js) shows the same line."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from stationmap import reports
from stationmap.model import Station
from tests.support.webforms import make_app

pytestmark = pytest.mark.browser

ZL = (119.93, 31.78)   # 320404 Zhonglou
DISTRICT = "320404"


@pytest.fixture(scope="module")
def fresh_app(tmp_path_factory):
    app = make_app(tmp_path_factory.mktemp("fresh"), [
        Station(id="f-1", name="三天前确认站", lon=ZL[0], lat=ZL[1], adcode=DISTRICT, kinds=("rest",)),
        Station(id="f-2", name="区工会核实站", lon=ZL[0] + 0.01, lat=ZL[1], adcode=DISTRICT, kinds=("rest",),
                verified_at=reports.today_shanghai() - timedelta(days=70)),
        Station(id="f-3", name="从未确认站", lon=ZL[0] + 0.02, lat=ZL[1], adcode=DISTRICT, kinds=("rest",)),
    ])
    store = app.extensions["stationmap"].store
    reports.add_report(store, "f-1", "open_ok", at=datetime.now(timezone.utc) - timedelta(days=3))
    reports.add_report(store, "f-3", "locked")
    reports.add_report(store, "f-3", "not_found")
    return app


@pytest.fixture(scope="module")
def published(fresh_app, tmp_path_factory):
    from stationmap.web.embed import export_district

    out = tmp_path_factory.mktemp("published-fresh")
    with fresh_app.test_request_context(f"/embed/{DISTRICT}"):
        export_district(DISTRICT, out)
    return out


@pytest.fixture
def page(chromium):
    ctx = chromium.new_context(viewport={"width": 1000, "height": 700})
    pg = ctx.new_page()
    pg.errors = []
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    yield pg
    ctx.close()


def _open_popup(page, sid):
    page.evaluate("() => stationmapFinder.state.map.closePopup()")
    page.wait_for_selector(".sm-popup", state="detached")
    page.evaluate("""(sid) => { const S = stationmapFinder.state, m = S.markerById[sid];
        S.map.setView(m.getLatLng(), 18, {animate: false}); stationmapFinder.openPopup(sid); }""", sid)
    page.wait_for_selector(".sm-popup .st-fresh")
    return page.locator(".sm-popup .st-fresh").text_content()


def test_the_published_site_says_how_fresh_each_station_is(page, published):
    page.goto((published / "index.html").as_uri())
    page.wait_for_function("() => document.documentElement.dataset.stationsLoaded !== undefined", timeout=15000)
    assert _open_popup(page, "f-1") == "3 天前骑手确认正常"
    assert _open_popup(page, "f-2") == "2 个月前区工会核实"
    assert _open_popup(page, "f-3") == "从未确认 · 有 2 个待处理的问题反馈"
    assert page.locator(".sm-popup .st-fresh.has-problems .st-problems").count() == 1
    assert not page.errors


def test_the_page_counts_the_days_as_the_server_does(page, published):
    """embed-static.js's words for every age and manner, read on several days, equal Python's."""
    page.goto((published / "index.html").as_uri())
    page.wait_for_function("() => window.stationmapStatic !== undefined")
    on = date(2025, 3, 1)
    for by in ("checkin", "district", ""):
        for problems in (0, 1, 3):
            for days in (0, 1, 2, 30, 31, 59, 60, 61, 364, 365, 729, 730, 1200):
                read_on = on + timedelta(days=days)
                # noon in Shanghai of the day it is read, as ms since the epoch
                t = int(datetime(read_on.year, read_on.month, read_on.day, 4, tzinfo=timezone.utc).timestamp() * 1000)
                got = page.evaluate("([c, t]) => stationmapStatic.freshness(c, t)",
                                    [{"on": on.isoformat() if by else None, "by": by, "problems": problems}, t])
                want = reports.Freshness(on if by else None, by, problems).to_dict(read_on)
                assert got == want, (by, problems, days)


def test_the_embed_shows_the_same_line(chromium, fresh_app):
    from tests.support.webforms import live_server

    with live_server(fresh_app) as base:
        ctx = chromium.new_context(viewport={"width": 1000, "height": 700})
        try:
            page = ctx.new_page()
            page.goto(f"{base}/embed/{DISTRICT}")
            page.wait_for_function("() => document.documentElement.dataset.stationsLoaded !== undefined",
                                   timeout=15000)
            assert _open_popup(page, "f-1") == "3 天前骑手确认正常"
        finally:
            ctx.close()
