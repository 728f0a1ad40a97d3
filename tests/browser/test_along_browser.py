"""The finder's "顺路找驿站 / stations on my way" in headless chromium, offline (issue 19).

The stations listed are checked against the detour computed here by brute force (pyproj.Geod, the
documented speed and detour factor: no road network covers Changzhou), and the destination typed in
GCJ-02 against stationmap.coords.
"""

from __future__ import annotations

import pytest
from pyproj import Geod

from stationmap.config import DEFAULT_K, DEFAULT_MAX_DETOUR_MINUTES, DEFAULT_SPEEDS_KMH, DETOUR_FACTOR
from stationmap.coords import wgs84_to_gcj02
from tests.browser.test_finder_browser import (  # noqa: F401  (sip_url: a fixture)
    _BARE_MAP_POINT,
    ARTIFACTS,
    ROOT_DATA,
    sip_url,
    wait_js,
    wait_list,
    wait_map_still,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

GEOD = Geod(ellps="WGS84")
DEST = (120.030, 31.820)     # WGS-84, north-east of the query point, across the Changzhou stations


def along_ids(stations, start, end, *, max_detour=DEFAULT_MAX_DETOUR_MINUTES, k=DEFAULT_K, kinds=(), mode="ebike"):
    """The stations on the way by brute force: the circle's detour, least first (ties: reached sooner)."""
    per_m = DETOUR_FACTOR / (DEFAULT_SPEEDS_KMH[mode] * 1000 / 60)
    direct = GEOD.inv(*start, *end)[2]
    rows = []
    for s in stations:
        if s.status == "closed" or (kinds and not set(kinds) & set(s.kinds)):
            continue
        da, db = GEOD.inv(*start, s.lon, s.lat)[2], GEOD.inv(s.lon, s.lat, *end)[2]
        detour = (da + db - direct) * per_m
        if detour <= max_detour:
            rows.append((detour, da, s.id))
    return [sid for _d, _a, sid in sorted(rows)[:k]]


def wait_along(page, version):
    wait_js(page, f"() => Number(document.documentElement.dataset.alongVersion || 0) >= {version}")


def along_list(page):
    return page.eval_on_selector_all("#along-list li", "els => els.map(e => e.dataset.id)")


def test_typed_destination_in_gcj02_lists_the_stations_on_the_way(open_finder, web_stations, web_query_point, xss_name):
    lon, lat = web_query_point
    page, watch = open_finder(f"/?lat={lat}&lon={lon}")
    wait_list(page, 1)
    toggle = page.locator("#along-toggle")
    assert toggle.text_content() == "顺路找驿站"
    assert page.locator("#along-panel").is_hidden()
    toggle.click()
    assert toggle.get_attribute("aria-expanded") == "true" and page.locator("#along-panel").is_visible()
    assert "设为目的地" in page.locator("#along-status").text_content()
    # the destination typed in GCJ-02 (as Amap shows it), latitude first
    glon, glat = (float(v) for v in wgs84_to_gcj02(*DEST))
    page.fill("#along-text", f"{glat:.7f}, {glon:.7f}")
    page.select_option("#along-datum", "gcj02")
    page.click(".along-go")
    wait_along(page, 1)
    data = page.evaluate(ROOT_DATA)
    got_lat, got_lon = (float(v) for v in data["alongDestination"].split(","))
    assert (got_lon, got_lat) == pytest.approx(DEST, abs=2e-6)     # back to WGS-84 on the server
    assert data["alongMethod"] == "circle"
    want = along_ids(web_stations, (lon, lat), DEST)
    assert len(want) >= 2
    assert along_list(page) == want
    status = page.locator("#along-status").text_content()
    assert "理解为 WGS-84" in status and "按直线距离估算" in status and "电动车直达目的地约" in status
    # each entry: its detour, when it is reached, the same nav links as the nearest list
    first = page.locator("#along-list li").first
    assert first.locator(".detour").text_content().startswith(("绕路约", "几乎不用绕路"))
    assert first.locator(".mins").text_content().endswith("分钟到达")
    hrefs = first.locator(".st-nav a").evaluate_all("els => els.map(e => e.href)")
    assert [h.split("?")[0] for h in hrefs] == ["https://uri.amap.com/navigation", "https://api.map.baidu.com/direction",
                                                "https://maps.apple.com/"]
    # on the map: a numbered pin per station and the destination's flag
    assert page.locator(".sm-along-pin").count() == len(want)
    assert page.locator(".sm-along-dest").count() == 1
    # names are text, never HTML
    names = page.eval_on_selector_all("#along-list .st-name", "els => els.map(e => e.textContent)")
    if "xss" in want:
        assert xss_name in names
    assert page.locator('img[src="x"]').count() == 0
    # a tap on an entry opens its pin's popup, with the links
    page.locator("#along-list li .when").first.click()
    page.wait_for_selector(".sm-along-popup .st-nav a")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "finder-along-360.png"), full_page=True)
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 360
    watch.assert_clean()


def test_a_tap_on_the_map_sets_the_destination_and_filters_ask_again(open_finder, web_stations, web_query_point):
    lon, lat = web_query_point
    page, watch = open_finder(f"/?lat={lat}&lon={lon}", width=390, height=844)
    wait_list(page, 1)
    wait_js(page, "() => document.documentElement.dataset.stationsLoaded !== undefined")
    page.click("#along-toggle")
    wait_map_still(page)
    x, y = page.evaluate(_BARE_MAP_POINT)
    picked = page.evaluate(f"""() => {{ const F = stationmapFinder, S = F.state;
        const r = S.map.getContainer().getBoundingClientRect(), c = [{x} - r.left, {y} - r.top];
        const w = F.fromDisp(S.map.containerPointToLatLng(c));
        return [w.lon, w.lat, w.lat - F.fromDisp(S.map.containerPointToLatLng([c[0], c[1] + 1])).lat]; }}""")
    one_px = picked.pop()
    page.mouse.click(x, y)
    dest_btn = page.locator(".along-setdest")
    assert dest_btn.text_content() == "设为目的地"
    assert page.locator(".sm-setpos-btn").text_content() == "设为我的位置"     # the finder's own offer stays
    wait_map_still(page)
    dest_btn.click()
    wait_along(page, 1)
    got_lat, got_lon = (float(v) for v in page.evaluate(ROOT_DATA)["alongDestination"].split(","))
    assert [got_lat, got_lon] == pytest.approx([picked[1], picked[0]], abs=one_px)
    assert page.evaluate(ROOT_DATA)["position"] == f"{lat:.6f},{lon:.6f}"     # my position did not move
    assert along_list(page) == along_ids(web_stations, (lon, lat), (got_lon, got_lat))
    # a kind chip: the finder asks again, and so does the route, with the same filter
    page.click("[data-filter=kind][data-value=hot_tea]")
    wait_list(page, 2)
    wait_along(page, 2)
    assert along_list(page) == along_ids(web_stations, (lon, lat), (got_lon, got_lat), kinds=("hot_tea",))
    # a larger detour: more stations
    page.select_option("#along-detour", "10")
    wait_along(page, 3)
    assert along_list(page) == along_ids(web_stations, (lon, lat), (got_lon, got_lat), kinds=("hot_tea",),
                                         max_detour=10)
    # the walking mode: the finder and the route ask again, the detour in walking minutes
    page.click("[data-mode=walk]")
    wait_along(page, 4)
    assert along_list(page) == along_ids(web_stations, (lon, lat), (got_lon, got_lat), kinds=("hot_tea",),
                                         max_detour=10, mode="walk")
    # clearing forgets the destination and the pins
    page.click("#along-clear")
    assert page.locator("#along-list li").count() == 0 and page.locator(".sm-along-pin").count() == 0
    assert "alongDestination" not in page.evaluate(ROOT_DATA)
    watch.assert_clean()


def test_unreadable_text_is_said_in_the_page_language(open_finder, web_query_point):
    lon, lat = web_query_point
    page, watch = open_finder(f"/?lat={lat}&lon={lon}&lang=en")
    wait_list(page, 1)
    toggle = page.locator("#along-toggle")
    assert toggle.text_content() == "Stations on my way"
    toggle.click()
    page.fill("#along-text", "somewhere near the station")
    page.click(".along-go")
    page.wait_for_function("() => document.getElementById('along-status').classList.contains('warn')")
    assert page.locator("#along-status").text_content() == "Two numbers (longitude and latitude) were not found."
    assert page.locator("#along-list li").count() == 0
    # (the refused text is a 400 from /point: expected, not a failure of the page)
    watch.failed = [u for u in watch.failed if "/point?" not in u]
    watch.console_errors = [m for m in watch.console_errors if "400" not in m]
    watch.assert_clean()


def test_inside_sip_the_route_is_along_the_roads(chromium, sip_url):
    """Inside SIP's road network the list is the road answer (the same as the API's for the query the
    page asked), and the page says the network has no one-way data."""
    from tests.browser.conftest import Watch

    base, app = sip_url
    start, dest = (120.7105, 31.3150), (120.7330, 31.3290)     # two of the SIP stations' places
    ctx = chromium.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
    try:
        page = ctx.new_page()
        page.set_default_timeout(15_000)
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base)
                   else route.abort("internetdisconnected"))
        watch = Watch(page, base)
        page.goto(f"{base}/?lat={start[1]}&lon={start[0]}")
        wait_list(page, 1)
        page.click("#along-toggle")
        page.fill("#along-text", f"{dest[0]}, {dest[1]}")      # longitude first, WGS-84
        page.click(".along-go")
        wait_along(page, 1)
        assert page.evaluate(ROOT_DATA)["alongMethod"] == "network"
        asked = page.evaluate("() => document.querySelector('#along-list').dataset.query")
        body = app.test_client().get(f"/api/v1/along?{asked}").get_json()
        assert body["method"] == "network" and body["network"] == "sip"
        assert along_list(page) == [f["id"] for f in body["features"]]
        assert "sip-2" in along_list(page)       # the station at the destination
        status = page.locator("#along-status").text_content()
        assert "按路网计算" in status and "没有单行道数据" in status
        watch.assert_clean()
    finally:
        ctx.close()
