"""GET /api/v1/offline: the area the finder keeps on the device, against a brute-force reference."""

from __future__ import annotations

from pyproj import Geod

from stationmap.config import DEFAULT_SPEEDS_KMH, DETOUR_FACTOR, MODES, OFFLINE_RADIUS_M
from stationmap.coords import wgs84_to_gcj02
from stationmap.maps.nav import nav_links
from tests.unit.test_nav_in_app import WECHAT_IOS

GEOD = Geod(ellps="WGS84")


def test_the_area_is_every_open_or_reopening_station_within_20_km_with_hours_and_links(ro_client, web_stations,
                                                                                       web_query_point):
    lon, lat = web_query_point
    r = ro_client.get("/api/v1/offline", query_string={"lat": lat, "lon": lon})
    assert r.status_code == 200, r.get_json()
    d = r.get_json()
    want = sorted((GEOD.inv(lon, lat, s.lon, s.lat)[2], s.id) for s in web_stations
                  if s.status != "closed" and GEOD.inv(lon, lat, s.lon, s.lat)[2] <= OFFLINE_RADIUS_M)
    assert [f["id"] for f in d["features"]] == [i for _d, i in want]
    assert d["speeds_kmh"] == {m: DEFAULT_SPEEDS_KMH[m] for m in MODES} and d["detour_factor"] == DETOUR_FACTOR
    assert d["fetched_at"] and d["radius_m"] == OFFLINE_RADIUS_M and d["in_app_browser"] is None
    by_id = {s.id: s for s in web_stations}
    for f in d["features"]:
        p, s = f["properties"], by_id[f["id"]]
        assert p["opening_hours"] == s.opening_hours and p["status"] == s.status
        assert p["service_hours"] == dict(s.service_hours)
        assert set(p["nav"]) == set(MODES)
        for m in MODES:
            assert p["nav"][m] == nav_links(s.lon, s.lat, s.name, mode=m)


def test_a_gcj02_point_and_an_in_app_browser(ro_client, web_query_point):
    lon, lat = web_query_point
    glon, glat = wgs84_to_gcj02(lon, lat)
    a = ro_client.get("/api/v1/offline", query_string={"lat": lat, "lon": lon}).get_json()
    b = ro_client.get("/api/v1/offline", query_string={"lat": glat, "lon": glon, "datum": "gcj02"},
                      headers={"User-Agent": WECHAT_IOS}).get_json()
    assert [f["id"] for f in a["features"]] == [f["id"] for f in b["features"]]
    assert b["in_app_browser"] == "wechat"
    assert all("callnative=0" in f["properties"]["nav"]["car"]["amap"] for f in b["features"])


def test_bad_points_are_refused(ro_client):
    for q in ({"lat": 95, "lon": 120}, {"lon": 120}, {"lat": "x", "lon": 120}):
        r = ro_client.get("/api/v1/offline", query_string=q)
        assert r.status_code == 400 and r.get_json()["error"]["field"] in ("lat", "lon")
