"""GET /api/v1/tiles/{z}/{x}/{y}.geojson: clusters and stations by tile, filters, datum, caching."""

from __future__ import annotations

import random
from urllib.parse import quote

import numpy as np
import pytest

from stationmap.coords import from_wgs84
from stationmap.tiles import project
from tests.support.webforms import FINDER_NOON, Clock


@pytest.fixture
def noon(monkeypatch):
    clock = Clock(FINDER_NOON)
    monkeypatch.setattr("stationmap.web.api.now", clock.now)   # (the tiles' and the stations' clock)
    return clock


def _tile(lon: float, lat: float, z: int) -> tuple[int, int]:
    x, y = project(np.array([lon]), np.array([lat]))
    return int(x[0] * (1 << z)), int(y[0] * (1 << z))


def _around(points, z):
    top = (1 << z) - 1
    return {(min(top, max(0, x + dx)), min(top, max(0, y + dy)))
            for x, y in {_tile(lon, lat, z) for lon, lat in points} for dx in (-1, 0, 1) for dy in (-1, 0, 1)}


def _sum_zoom(client, z, query, points, datum="wgs84"):
    total, ids, clusters = 0, [], 0
    for x, y in _around(points, z):
        r = client.get(f"/api/v1/tiles/{z}/{x}/{y}.geojson?datum={datum}&{query}")
        assert r.status_code == 200, r.get_json()
        d = r.get_json()
        assert d["datum"] == datum and d["tile"] == {"z": z, "x": x, "y": y}
        for f in d["features"]:
            if f["properties"].get("cluster"):
                total += f["properties"]["count"]
                clusters += 1
            else:
                total += 1
                ids.append(f["id"])
        assert d["total"] == sum(f["properties"]["count"] if f["properties"].get("cluster") else 1
                                 for f in d["features"])
    return total, ids, clusters


def test_counts_at_every_zoom_match_the_stations_endpoint(ro_client, noon):
    """Every zoom: the tiles' counts add up to /api/v1/stations' total for the same filters, and no
    station is shown twice."""
    pts = [(f["geometry"]["coordinates"][0], f["geometry"]["coordinates"][1])
           for f in ro_client.get("/api/v1/stations?limit=10000&fields=kinds").get_json()["features"]]
    rng = random.Random(5)
    queries = ["status=active", "kind=hot_tea&service=toilet", f"open_now=true&at={quote(FINDER_NOON.isoformat())}",
               "kind=rest&kind=legal_aid&status=active&status=temporarily_closed"]
    for q in queries:
        want = ro_client.get(f"/api/v1/stations?limit=10000&{q}").get_json()["total"]
        for z in sorted(rng.sample(range(0, 20), 8)) + [0, 19]:
            total, ids, _ = _sum_zoom(ro_client, z, q, pts)
            assert total == want, (q, z)
            assert len(ids) == len(set(ids))
    # close up, every station is itself
    total, ids, clusters = _sum_zoom(ro_client, 19, "status=active", pts)
    assert clusters == 0 and len(ids) == total


def test_low_zoom_is_clusters_with_kinds_and_station_features_like_the_stations_endpoint(ro_client, noon):
    d = ro_client.get("/api/v1/tiles/3/6/3.geojson?status=active&fields=kinds,services,open_now").get_json()
    cl = [f for f in d["features"] if f["properties"].get("cluster")]
    assert cl and d["clusters"] == len(cl)
    c = cl[0]["properties"]
    assert c["count"] >= 2 and set(c["kinds"]) == {"rest", "hot_tea", "legal_aid"} and c["expansion_zoom"] > 3
    # at zoom 19 the station features are those of /api/v1/stations with the same fields
    one = ro_client.get("/api/v1/stations/office-hours").get_json()
    lon, lat = one["geometry"]["coordinates"]
    x, y = _tile(lon, lat, 19)
    d = ro_client.get(f"/api/v1/tiles/19/{x}/{y}.geojson?fields=kinds,services,open_now").get_json()
    f = next(f for f in d["features"] if f["id"] == "office-hours")
    assert f["properties"] == {"kinds": ["rest", "legal_aid"], "services": ["legal_aid", "toilet"], "open_now": True}
    assert f["geometry"]["coordinates"] == [lon, lat]


def test_gcj02_tiles_are_shifted(ro_client, noon):
    """Over Amap: the tile z/x/y of the GCJ-02 grid, its stations at their GCJ-02 points."""
    one = ro_client.get("/api/v1/stations/office-hours").get_json()
    lon, lat = one["geometry"]["coordinates"]
    glon, glat = from_wgs84(lon, lat, "gcj02")
    x, y = _tile(glon, glat, 19)
    d = ro_client.get(f"/api/v1/tiles/19/{x}/{y}.geojson?datum=gcj02").get_json()
    f = next(f for f in d["features"] if f["id"] == "office-hours")
    assert f["geometry"]["coordinates"] == pytest.approx([glon, glat], abs=1e-6)
    # the same station is not in the WGS-84 grid's tile of that number (the shift is ~500 m)
    wx, wy = _tile(lon, lat, 19)
    assert (wx, wy) != (x, y)
    assert "office-hours" not in {f["id"] for f in
                                  ro_client.get(f"/api/v1/tiles/19/{x}/{y}.geojson").get_json()["features"]}
    # a zoom's counts are the same in both grids
    pts = [(f["geometry"]["coordinates"][0], f["geometry"]["coordinates"][1])
           for f in ro_client.get("/api/v1/stations?limit=10000&out_datum=gcj02").get_json()["features"]]
    assert _sum_zoom(ro_client, 12, "status=active", pts, datum="gcj02")[0] == \
        ro_client.get("/api/v1/stations?status=active").get_json()["total"]


def test_a_kept_tile_is_gzipped_the_same_each_time(ro_client, noon):
    """A tile served from the kept bodies, with and without gzip: the same JSON, the same ETag."""
    import gzip

    x, y = _tile(119.95, 31.78, 13)    # stations of Changzhou, themselves: a body worth gzipping
    url = f"/api/v1/tiles/13/{x}/{y}.geojson"
    plain = ro_client.get(url)
    assert plain.status_code == 200 and "Content-Encoding" not in plain.headers and len(plain.data) > 2000
    zipped = [ro_client.get(url, headers={"Accept-Encoding": "gzip"}) for _ in range(2)]
    for r in zipped:
        assert r.headers["Content-Encoding"] == "gzip" and r.headers["Vary"] == "Accept-Encoding"
        assert gzip.decompress(r.data) == plain.data and r.headers["ETag"] == plain.headers["ETag"]
        assert r.headers["Cache-Control"] == "public, no-cache"
    assert zipped[0].data == zipped[1].data and len(zipped[0].data) < len(plain.data)


def test_etag_304_and_an_edit_changes_the_tile(app, noon):
    client = app.test_client()
    url = "/api/v1/tiles/5/26/13.geojson?status=active"
    r = client.get(url)
    assert r.status_code == 200 and r.headers["Cache-Control"] == "public, no-cache"
    etag = r.headers["ETag"]
    assert etag.startswith('W/"r') and r.headers.get("Last-Modified")
    again = client.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.headers["ETag"] == etag and not again.data
    before = r.get_json()["total"]
    # close a station: the next request sees a new revision and one station less
    from dataclasses import replace

    st = app.extensions["stationmap"]
    station = st.store.get("w-001")
    st.store.write_many([replace(station, status="closed")], user="test")
    r2 = client.get(url, headers={"If-None-Match": etag})
    assert r2.status_code == 200 and r2.headers["ETag"] != etag
    assert r2.get_json()["total"] == before - 1
    # the next minute: a new validator (each station's open_now)
    noon.at = noon.at.replace(minute=1)
    assert client.get(url, headers={"If-None-Match": r2.headers["ETag"]}).status_code == 200


@pytest.mark.parametrize("path, field", [
    ("/api/v1/tiles/23/0/0.geojson", "z"),
    ("/api/v1/tiles/3/8/0.geojson", "x"),
    ("/api/v1/tiles/3/0/8.geojson", "y"),
    ("/api/v1/tiles/a/0/0.geojson", "z"),
    ("/api/v1/tiles/3/-1/0.geojson", "x"),
    ("/api/v1/tiles/3/0/0.geojson?datum=bd09", "datum"),
    ("/api/v1/tiles/3/0/0.geojson?kind=shop", "kind"),
    ("/api/v1/tiles/3/0/0.geojson?bbox=1,2,3,4", "bbox"),
])
def test_bad_tiles_and_parameters_are_400(ro_client, path, field):
    r = ro_client.get(path)
    assert r.status_code == 400
    assert r.get_json()["error"]["field"] == field


def test_documented_in_openapi(ro_client):
    doc = ro_client.get("/api/v1/openapi.json").get_json()
    op = doc["paths"]["/api/v1/tiles/{z}/{x}/{y}.geojson"]["get"]
    assert {p["name"] for p in op["parameters"]} >= {"z", "x", "y", "datum", "kind", "service", "open_now", "status"}


def test_the_finder_asks_for_tiles_from_many_stations_on(make_web_app, web_stations, monkeypatch):
    """Below FINDER_TILES_FROM the finder loads every station (its config has no tiles); from it
    on, its config names the tile URL and the marker query without a page size."""
    app = make_web_app(web_stations)
    page = app.test_client().get("/").get_data(as_text=True)
    assert '"tiles":' not in page and "/api/v1/tiles/" not in page
    monkeypatch.setattr("stationmap.web.pages.FINDER_TILES_FROM", len(web_stations))
    page = app.test_client().get("/").get_data(as_text=True)
    assert ('"tiles": {"max_zoom": 22, "query": {"fields": "kinds,services,open_now", "status": "active"}, '
            '"url": "/api/v1/tiles/"}') in page


def test_a_district_and_a_scope_count_as_the_stations_endpoint(ro_client, noon):
    """``district`` (an adcode prefix) and ``scope`` (an embed's district and its neighbours within
    reach) narrow the tiles as they narrow /api/v1/stations, at every zoom; a scope's stations carry
    ``neighbour`` as the stations endpoint's do."""
    every = ro_client.get("/api/v1/stations?limit=10000&fields=adcode").get_json()["features"]
    pts = [(f["geometry"]["coordinates"][0], f["geometry"]["coordinates"][1]) for f in every]
    counts: dict[str, int] = {}
    for f in every:
        counts[f["properties"]["adcode"]] = counts.get(f["properties"]["adcode"], 0) + 1
    adcode = max(counts, key=counts.__getitem__)
    for q in [f"district={adcode}", f"district={adcode[:4]}&kind=rest", f"scope={adcode}",
              f"scope={adcode}&status=active"]:
        want = ro_client.get(f"/api/v1/stations?limit=10000&{q}").get_json()
        assert 0 < want["total"] < len(every), q
        for z in (0, 6, 10, 13, 19):
            total, ids, _ = _sum_zoom(ro_client, z, q, pts)
            assert total == want["total"], (q, z)
        if q.startswith("scope"):
            flags = {f["id"]: f["properties"]["neighbour"] for f in want["features"]}
            assert any(flags.values()), "the scope has neighbours"
            shown = {}
            for x, y in _around(pts, 19):
                for f in ro_client.get(f"/api/v1/tiles/19/{x}/{y}.geojson?{q}").get_json()["features"]:
                    shown[f["id"]] = f["properties"]["neighbour"]
            assert shown == flags
    r = ro_client.get("/api/v1/tiles/3/6/3.geojson?scope=999999")
    assert r.status_code in (400, 404) and r.get_json()["error"]["field"] == "scope"
    assert ro_client.get("/api/v1/tiles/3/6/3.geojson?district=32x").status_code == 400


def test_an_embed_asks_for_its_scope_s_tiles_from_many_stations_on(make_web_app, web_stations, monkeypatch):
    """An embed whose scope (its district and its neighbours within reach) holds FINDER_TILES_FROM stations
    or more asks for the scope's tiles, with its presets as the page's filters; below, every station."""
    import json
    import re

    app = make_web_app(web_stations)
    client = app.test_client()
    adcode = "320402"
    n = len(client.get(f"/api/v1/stations?scope={adcode}&limit=10000").get_json()["features"])
    assert n > 1

    def config(url: str) -> dict:
        page = client.get(url).get_data(as_text=True)
        m = re.search(r'stationmapFinder\.init\([^,]+, (\{.*?\}), \{', page, re.S)
        assert m, page[:2000]
        return json.loads(m.group(1))

    monkeypatch.setattr("stationmap.web.embed.FINDER_TILES_FROM", n + 1)
    assert "tiles" not in config(f"/embed/{adcode}")
    monkeypatch.setattr("stationmap.web.embed.FINDER_TILES_FROM", n)
    cfg = config(f"/embed/{adcode}?kind=rest")
    assert cfg["tiles"]["url"] == "/api/v1/tiles/"
    assert cfg["tiles"]["query"]["scope"] == adcode and "kind" not in cfg["tiles"]["query"]
    assert cfg["filters"]["kind"] == ["rest"]
