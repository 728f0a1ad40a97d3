"""GET /api/v1/stations, /stations/<id>, /districts and /districts/boundaries, against
references computed here (filters by hand, pyogrio / shapely over the boundary file)."""

from __future__ import annotations

import gzip
import json
from dataclasses import replace

import pytest

from stationmap.coords import wgs84_to_gcj02


def get(client, url, **params):
    r = client.get(url, query_string=params)
    assert r.status_code == 200, r.data[:300]
    return r.get_json()


def ids(body):
    return [f["id"] for f in body["features"]]


def test_all_stations_in_id_order_with_total(ro_client, web_stations):
    body = get(ro_client, "/api/v1/stations", limit=10000)
    assert ids(body) == sorted(s.id for s in web_stations)
    assert body["total"] == len(web_stations) and body["next"] is None
    assert body["datum"] == "wgs84" and body["sample"] is True
    by_id = {s.id: s for s in web_stations}
    for f in body["features"]:
        s = by_id[f["id"]]
        assert f["geometry"] == {"type": "Point", "coordinates": [pytest.approx(s.lon, abs=1e-6),
                                                                  pytest.approx(s.lat, abs=1e-6)]}
        p = f["properties"]
        assert (p["name"], p["kinds"], p["services"], p["status"]) == (s.name, list(s.kinds), list(s.services), s.status)
        assert p["sample"] is (s.source == "sample")
        assert p["url"] == "/station/" + s.id


def test_pages_cover_everything_once(ro_client, web_stations):
    seen, url, pages = [], "/api/v1/stations?limit=7&fields=name", 0
    while url:
        r = ro_client.get(url)
        body = r.get_json()
        assert body["limit"] == 7 and body["offset"] == pages * 7
        seen += ids(body)
        url = body["next"]
        pages += 1
    assert seen == sorted(s.id for s in web_stations)
    assert pages == -(-len(web_stations) // 7)


@pytest.mark.parametrize("bbox", [(119.95, 31.78, 119.99, 31.80), (119.0, 31.0, 121.0, 33.0), (0, 0, 1, 1)])
def test_bbox_filter(ro_client, web_stations, bbox):
    body = get(ro_client, "/api/v1/stations", bbox=",".join(map(str, bbox)))
    w, s, e, n = bbox
    assert ids(body) == sorted(x.id for x in web_stations if w <= x.lon <= e and s <= x.lat <= n)


def test_bbox_in_gcj02_selects_the_same_stations(ro_client, web_stations):
    w, s, e, n = 119.95, 31.78, 119.99, 31.80
    (gw, gs), (ge, gn) = wgs84_to_gcj02(w, s), wgs84_to_gcj02(e, n)
    body = get(ro_client, "/api/v1/stations", bbox=f"{gw},{gs},{ge},{gn}", datum="gcj02")
    expected = sorted(x.id for x in web_stations if w <= x.lon <= e and s <= x.lat <= n)
    assert ids(body) == expected and expected


def test_kind_service_status_and_district_filters(ro_client, web_stations):
    body = get(ro_client, "/api/v1/stations", kind="hot_tea", service="toilet")
    assert ids(body) == sorted(x.id for x in web_stations if "hot_tea" in x.kinds and "toilet" in x.services)
    body = get(ro_client, "/api/v1/stations", status="temporarily_closed")
    assert ids(body) == sorted(x.id for x in web_stations if x.status == "temporarily_closed") != []
    for district, prefix in (("320404", "320404"), ("3204", "3204"), ("320400", "3204"), ("32", "32"),
                             ("320000", "32"), ("3205", "3205")):
        body = get(ro_client, "/api/v1/stations", district=district)
        assert ids(body) == sorted(x.id for x in web_stations if x.adcode.startswith(prefix)), district


def test_open_now_at_a_time(ro_client, web_stations):
    body = get(ro_client, "/api/v1/stations", open_now="true", at="2024-05-05T03:00:00+08:00")
    assert ids(body) == sorted(x.id for x in web_stations if x.opening_hours == "24/7" and x.status == "active")


def test_fields_give_a_compact_payload(ro_client):
    body = get(ro_client, "/api/v1/stations", fields="kinds,open_now", limit=3)
    for f in body["features"]:
        assert set(f["properties"]) == {"kinds", "open_now"} and f["id"]
    full = ro_client.get("/api/v1/stations?limit=3").data
    assert len(ro_client.get("/api/v1/stations?limit=3&fields=kinds").data) < len(full) / 2


def test_out_datum(ro_client, web_stations):
    body = get(ro_client, "/api/v1/stations", out_datum="gcj02", limit=5)
    assert body["datum"] == "gcj02"
    by_id = {s.id: s for s in web_stations}
    for f in body["features"]:
        s = by_id[f["id"]]
        assert f["geometry"]["coordinates"] == pytest.approx(list(wgs84_to_gcj02(s.lon, s.lat)), abs=1.5e-6)


def test_one_station_with_nav_links_and_escaping_left_to_the_client(ro_client, xss_name):
    body = get(ro_client, "/api/v1/stations/xss")
    assert body["type"] == "Feature" and body["id"] == "xss" and body["datum"] == "wgs84"
    p = body["properties"]
    assert p["name"] == xss_name  # JSON carries the text as it is; pages escape it
    assert p["verified_at"] == "2024-05-01"
    assert p["nav"]["amap"].startswith("https://uri.amap.com/navigation?")
    assert "from=" not in p["nav"]["amap"]  # no origin: the app starts from the phone's position
    assert p["nav"]["baidu"].startswith("https://api.map.baidu.com/marker?")
    assert "coord_type=bd09ll" in p["nav"]["baidu"]
    assert "<" not in p["nav"]["amap"] + p["nav"]["baidu"] + p["nav"]["apple"]  # URL-encoded


def test_station_ids_with_odd_characters(make_web_app, make_station):
    client = make_web_app([make_station(id="a/b c%", name="odd")]).test_client()
    body = get(client, "/api/v1/stations")
    assert body["features"][0]["properties"]["url"] == "/station/a%2Fb%20c%25"
    assert get(client, "/api/v1/stations/a%2Fb%20c%25")["id"] == "a/b c%"
    assert client.get("/station/a%2Fb%20c%25").status_code == 200


# -- districts ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def boundary_frame():
    import pyogrio

    from stationmap import config

    return pyogrio.read_dataframe(config.load().boundaries_path, layer="admin_wgs84")


def test_districts_counts_and_bboxes(ro_client, web_stations, boundary_frame):
    body = get(ro_client, "/api/v1/districts")
    assert body["datum"] == "wgs84" and body["sample"] is True
    rows = {r["adcode"]: r for r in body["districts"]}
    expected_codes = sorted({s.adcode for s in web_stations})
    assert sorted(rows) == expected_codes
    frame = boundary_frame.set_index("adcode")
    for code in expected_codes:
        mine = [s for s in web_stations if s.adcode == code]
        r = rows[code]
        assert r["total"] == len(mine)
        for k in ("rest", "hot_tea", "legal_aid"):
            assert r["counts"][k] == sum(k in s.kinds for s in mine)
        assert r["name"] == frame.loc[code, "name"]
        assert r["bbox"] == pytest.approx(list(frame.loc[code].geometry.bounds), abs=1e-6)
        assert r["sample"] is any(s.source == "sample" for s in mine)


def test_districts_locate_stations_without_adcode(make_web_app, make_station, boundary_frame):
    frame = boundary_frame.set_index("adcode")
    a = frame.loc["320402"].geometry.representative_point()
    b = frame.loc["320508"].geometry.representative_point()
    client = make_web_app([make_station(id="a", lon=a.x, lat=a.y, adcode=""),
                           make_station(id="b", lon=b.x, lat=b.y, adcode=""),
                           make_station(id="c", lon=100.0, lat=45.0, adcode="")]).test_client()
    rows = {r["adcode"]: r["total"] for r in get(client, "/api/v1/districts")["districts"]}
    assert rows == {"320402": 1, "320508": 1, "": 1}


def test_boundaries_are_simplified_counties(ro_client, boundary_frame):
    from shapely.geometry import shape

    r = ro_client.get("/api/v1/districts/boundaries", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 200 and r.headers["Content-Encoding"] == "gzip"
    body = json.loads(gzip.decompress(r.data))
    counties = boundary_frame[boundary_frame["level"] == "county"].set_index("adcode")
    assert sorted(f["id"] for f in body["features"]) == sorted(counties.index)
    assert len(r.data) < 120_000  # small enough for the page
    for f in body["features"][::10]:
        g = shape(f["geometry"])
        orig = counties.loc[f["id"]].geometry
        assert g.is_valid
        # within the simplification tolerance (0.003 deg) plus rounding (0.00005 deg)
        assert g.hausdorff_distance(orig) <= 0.0031
        assert abs(g.area - orig.area) / orig.area < 0.05
    only = get(ro_client, "/api/v1/districts/boundaries", district="3204")
    assert sorted(f["id"] for f in only["features"]) == sorted(c for c in counties.index if c.startswith("3204"))
    cities = get(ro_client, "/api/v1/districts/boundaries", level="city")
    assert len(cities["features"]) == int((boundary_frame["level"] == "city").sum())


def test_cached_list_follows_writes(make_web_app, make_station):
    app = make_web_app([make_station(id="a")])
    client = app.test_client()
    params = {"fields": "kinds,open_now", "status": "active"}
    assert ids(get(client, "/api/v1/stations", **params)) == ["a"]
    assert ids(get(client, "/api/v1/stations", **params)) == ["a"]  # served again (from the per-minute cache)
    store = app.extensions["stationmap"].store
    store.insert(make_station(id="b", lon=119.96))
    assert ids(get(client, "/api/v1/stations", **params)) == ["a", "b"]
    store.delete("a")
    assert ids(get(client, "/api/v1/stations", **params)) == ["b"]
    b = replace(store.get("b"), status="closed")
    store.update(b)
    assert ids(get(client, "/api/v1/stations", **params)) == []
