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
