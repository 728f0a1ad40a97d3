"""The API's and the station page's navigation links by the browser's user agent: web pages inside
WeChat / QQ (with the "open in the browser" hint), the app links elsewhere."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.unit.test_nav_in_app import CHROME_ANDROID, QQ_ANDROID, SAFARI_IOS, WECHAT_ANDROID, WECHAT_IOS

HINT = "在浏览器中打开"


def _callnative(url: str) -> str:
    return parse_qs(urlsplit(url).query)["callnative"][0]


@pytest.mark.parametrize("ua,in_app,native", [(WECHAT_ANDROID, "wechat", "0"), (WECHAT_IOS, "wechat", "0"),
                                              (QQ_ANDROID, "qq", "0"), (CHROME_ANDROID, None, "1"),
                                              (SAFARI_IOS, None, "1")])
def test_nearest_and_station_links_follow_the_user_agent(ro_client, web_query_point, ua, in_app, native):
    lon, lat = web_query_point
    r = ro_client.get("/api/v1/nearest", query_string={"lat": lat, "lon": lon, "mode": "walk"},
                      headers={"User-Agent": ua})
    assert r.status_code == 200
    d = r.get_json()
    assert d["in_app_browser"] == in_app and "User-Agent" in r.headers["Vary"]
    # (one Vary header, naming both what the links and what the encoding depend on)
    gz = ro_client.get("/api/v1/nearest", query_string={"lat": lat, "lon": lon, "mode": "walk"},
                       headers={"User-Agent": ua, "Accept-Encoding": "gzip"})
    assert gz.headers.get_all("Vary") == ["User-Agent, Accept-Encoding"]
    assert gz.headers["Content-Encoding"] == "gzip"
    assert d["features"] and all(_callnative(f["properties"]["nav"]["amap"]) == native for f in d["features"])
    sid = d["features"][0]["id"]
    one = ro_client.get(f"/api/v1/stations/{sid}", headers={"User-Agent": ua})
    assert one.get_json()["in_app_browser"] == in_app
    assert _callnative(one.get_json()["properties"]["nav"]["amap"]) == native
    # stations on the way (finder-along.js): the same links for the same browser
    along = ro_client.get("/api/v1/along", headers={"User-Agent": ua}, query_string={
        "from_lat": lat, "from_lon": lon, "to_lat": lat + 0.02, "to_lon": lon + 0.02, "max_detour": 10})
    assert along.status_code == 200 and "User-Agent" in along.headers["Vary"]
    assert along.get_json()["in_app_browser"] == in_app and along.get_json()["features"]
    assert all(_callnative(f["properties"]["nav"]["amap"]) == native for f in along.get_json()["features"])
    page = ro_client.get(f"/station/{sid}", headers={"User-Agent": ua}).get_data(as_text=True)
    assert (HINT in page) == (in_app is not None)
    assert f"callnative={native}" in page
