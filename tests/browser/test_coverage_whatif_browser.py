"""What-if on the coverage page in real headless chromium (issue 17): a tap drops a candidate,
a tap on a station takes it out; the figures beside today's and the gaps follow, as the API
computes them; the scenario downloads as an importable CSV link."""

from __future__ import annotations

import io
import json
import urllib.request

import pytest

from stationmap.io.importer import parse_stations
from tests.browser.conftest import Watch
from tests.support.webforms import live_server, make_app

pytestmark = [pytest.mark.browser, pytest.mark.slow]

RUN = "kind=rest&mode=walk&minutes=10&cell=250"


@pytest.fixture(scope="module")
def site(tmp_path_factory, web_stations_builder):
    app = make_app(tmp_path_factory.mktemp("whatif-browser"), web_stations_builder())
    with live_server(app) as base:
        yield base


def test_a_tap_adds_a_candidate_and_the_figures_follow(chromium, site):
    ctx = chromium.new_context(viewport={"width": 1100, "height": 900}, locale="zh-CN")
    try:
        page = ctx.new_page()
        page.set_default_timeout(30_000)
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(site)
                   else route.abort("internetdisconnected"))
        watch = Watch(page, site)
        page.goto(f"{site}/coverage/320402?{RUN}")
        page.wait_for_function("() => document.querySelector('#whatif').dataset.updated === '1'")
        assert page.locator("#whatif-table tr[data-figure=covered] .change").text_content() == "0.0%"
        with urllib.request.urlopen(f"{site}/api/v1/coverage?district=320402&{RUN}&gaps=1") as r:
            gap = json.load(r)["gaps"][0]
        page.click("#whatif-add")
        # tap the largest gap's centre
        xy = page.evaluate("""([lon, lat]) => { const m = window.stationmapWhatif.map;
            m.setView([lat, lon], 14, {animate: false});
            const p = m.latLngToContainerPoint([lat, lon]), c = m.getContainer().getBoundingClientRect();
            return [c.x + p.x, c.y + p.y]; }""", [gap["lon"], gap["lat"]])
        page.mouse.click(*xy)
        page.wait_for_function("() => +document.querySelector('#whatif').dataset.updated >= 2 && "
                               "window.stationmapWhatif.state.added.length === 1")
        added = page.evaluate("() => window.stationmapWhatif.state.added[0]")
        assert abs(added["lon"] - gap["lon"]) < 1e-4 and abs(added["lat"] - gap["lat"]) < 1e-4
        new = f"{added['lon']:.6f},{added['lat']:.6f}"
        with urllib.request.urlopen(f"{site}/api/v1/coverage/whatif?district=320402&{RUN}&new={new}") as r:
            want = json.load(r)
        shown = page.locator("#whatif-table tr[data-figure=covered] .scenario").text_content()
        assert shown == f"{100 * want['scenario']['covered']:.1f}%"
        assert want["change"]["covered_people"] > 0
        assert page.locator("#whatif-table tr[data-figure=covered] .change").text_content().startswith("+")
        assert page.locator("path.whatif-gap").count() == len(want["gaps"]["features"])
        # the scenario's CSV is importable and holds the candidate
        href = page.get_attribute("#whatif-csv", "href")
        assert not page.locator("#whatif-csv").is_hidden()
        with urllib.request.urlopen(site + href) as r:
            t = parse_stations(io.BytesIO(r.read()), filename="whatif.csv")
        assert not t.problems and [s.name for s in t.stations] == ["候选站点 1"]
        # take the candidate away again: back to today
        page.click("#whatif-add")   # (stop adding)
        page.click("#whatif-clear")
        page.wait_for_function("() => window.stationmapWhatif.state.added.length === 0 && "
                               "document.querySelectorAll('path.whatif-gap').length === 0")
        # a tap on a station takes it out of the scenario: people lose their cover
        sid, xy = page.evaluate("""() => { const W = window.stationmapWhatif, m = W.map;
            const c = m.getContainer().getBoundingClientRect();
            let hit = null;
            m.eachLayer(l => { if (!hit && l.stationId && l._path) hit = l; });
            m.setView(hit.getLatLng(), 15, {animate: false});
            const p = m.latLngToContainerPoint(hit.getLatLng());
            return [hit.stationId, [c.x + p.x, c.y + p.y]]; }""")
        seen = int(page.get_attribute("#whatif", "data-updated"))
        page.mouse.click(*xy)
        page.wait_for_function(f"() => +document.querySelector('#whatif').dataset.updated > {seen}")
        assert page.evaluate("() => Object.keys(window.stationmapWhatif.state.without)") == [sid]
        with urllib.request.urlopen(f"{site}/api/v1/coverage/whatif?district=320402&{RUN}&without={sid}") as r:
            want = json.load(r)
        assert page.locator("#whatif-table tr[data-figure=covered_people] .scenario").text_content() == \
            f"{round(want['scenario']['covered_people']):,}"
        watch.assert_clean()
    finally:
        ctx.close()
