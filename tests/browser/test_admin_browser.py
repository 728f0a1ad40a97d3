"""The station form in headless chromium: sign in, click the map to place a station, save.

No internet: the base-map tiles fail, the map still takes clicks.
"""

from __future__ import annotations

import pytest
from pyproj import Geod

from stationmap.coords import gcj02_to_wgs84
from stationmap.model import Station
from tests.support.webforms import PASSWORD, add_users, live_server, make_app, use_fast_hasher

pytestmark = [pytest.mark.browser, pytest.mark.slow]



@pytest.fixture
def app(tmp_path, monkeypatch):
    use_fast_hasher(monkeypatch)
    app = make_app(tmp_path, [Station(id="zl-1", name="钟楼测试驿站", lon=119.93, lat=31.78, adcode="320404")])
    add_users(app.extensions["stationmap"].store)
    return app


def test_place_a_station_by_clicking_the_map(app, chromium):
    store = app.extensions["stationmap"].store
    with live_server(app) as base:
        page = chromium.new_page(viewport={"width": 1100, "height": 1400})
        try:
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{base}/admin/stations/new?adcode=320404")
            assert page.url.startswith(f"{base}/login")  # signed out: to the sign-in form first
            page.fill("#username", "zl")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/admin/stations/new?adcode=320404")
            page.wait_for_selector("#picker.leaflet-container")
            box = page.locator("#picker").bounding_box()
            page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
            lon = float(page.input_value("#f-lon"))
            lat = float(page.input_value("#f-lat"))
            assert page.input_value("#f-datum") == "gcj02"  # the default base map (Amap) draws GCJ-02
            page.fill("#f-name", "点选的驿站")
            page.check('input[name="kinds"][value="rest"]')
            page.click("form.station-form button[type=submit]")
            page.wait_for_url(f"{base}/admin/districts/320404")
            assert "点选的驿站" in page.content()
            s = next(s for s in store.all() if s.name == "点选的驿站")
            wlon, wlat = gcj02_to_wgs84(lon, lat)
            geod = Geod(ellps="WGS84")
            assert geod.inv(wlon, wlat, s.lon, s.lat)[2] < 0.05   # stored = the click, converted to WGS-84
            assert geod.inv(lon, lat, s.lon, s.lat)[2] > 100      # ... and not taken as WGS-84
            assert s.adcode == "320404" and store.history(s.id)[0]["user"] == "zl"
            # on the OpenStreetMap base map a click is WGS-84
            page.goto(f"{base}/admin/stations/zl-1/edit")
            page.wait_for_selector("#picker.leaflet-container")
            page.click("text=OpenStreetMap")
            before = page.input_value("#f-lon")
            box = page.locator("#picker").bounding_box()
            page.mouse.click(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)
            assert page.input_value("#f-datum") == "wgs84" and page.input_value("#f-lon") != before
            assert not errors
        finally:
            page.close()


def test_with_no_tiles_the_picker_draws_outlines_and_places_a_pasted_amap_link(app, chromium):
    """Issue 20: offline the picker was blind.  With every tile refused it draws the district
    outlines (the finder's code) and reads a pasted Amap share link (GCJ-02) on the server, says what
    it understood, and the station is saved at the link's point in WGS-84."""
    store = app.extensions["stationmap"].store
    with live_server(app) as base:
        ctx = chromium.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")
        page = ctx.new_page()
        try:
            errors = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            tiles = []
            # (the last route added runs first)
            page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base)
                       else route.abort("internetdisconnected"))
            page.route("**/*tile*", lambda route: (tiles.append(route.request.url), route.abort("failed")))
            page.goto(f"{base}/admin/stations/new?adcode=320404")
            page.fill("#username", "zl")
            page.fill("#password", PASSWORD)
            page.click("button[type=submit]")
            page.wait_for_url(f"{base}/admin/stations/new?adcode=320404")
            page.wait_for_function("() => document.documentElement.dataset.tiles === 'failed'")
            page.wait_for_function("() => document.documentElement.dataset.boundaries === '95'")
            assert tiles  # the base map's tiles were asked for, and refused
            assert page.locator("#picker .leaflet-overlay-pane path").count() >= 95  # the outlines
            assert "底图无法加载" in page.locator("#picker .sm-notice").text_content()

            link = "https://uri.amap.com/marker?position=119.9412,31.7756&name=%E9%A9%BF%E7%AB%99&src=share"
            page.fill("#f-paste", link)
            page.click("#paste-read")
            page.wait_for_function("() => document.documentElement.dataset.pastedPoint !== undefined")
            wlon, wlat = gcj02_to_wgs84(119.9412, 31.7756)
            said = page.locator("#paste-understood").text_content()
            assert said.startswith(f"理解为 WGS-84 纬度 {wlat:.7f}，经度 {wlon:.7f}（高德分享链接：GCJ-02")
            assert page.input_value("#f-datum") == "wgs84"
            assert (float(page.input_value("#f-lon")), float(page.input_value("#f-lat"))) == (
                round(wlon, 7), round(wlat, 7))
            assert page.locator("#picker .leaflet-marker-icon").count() == 1
            # a bad paste says why, and keeps the point
            page.fill("#f-paste", "https://uri.amap.com/marker?name=x")
            page.click("#paste-read")
            page.wait_for_function("() => document.getElementById('paste-understood').textContent"
                                   ".indexOf('没有位置') >= 0")
            assert float(page.input_value("#f-lon")) == round(wlon, 7)

            page.fill("#f-name", "粘贴链接的驿站")
            page.check('input[name="kinds"][value="rest"]')
            page.click("form.station-form button[type=submit]")
            page.wait_for_url(f"{base}/admin/districts/320404")
            s = next(s for s in store.all() if s.name == "粘贴链接的驿站")
            geod = Geod(ellps="WGS84")
            assert geod.inv(wlon, wlat, s.lon, s.lat)[2] < 0.05  # the link's GCJ-02 point, in WGS-84
            assert geod.inv(119.9412, 31.7756, s.lon, s.lat)[2] > 100  # ... not the GCJ-02 numbers as WGS-84
            assert s.adcode == "320404"
            assert not errors
        finally:
            ctx.close()
