"""/coverage/<adcode> and /api/v1/coverage through the Flask test client."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import shapely
from pyproj import Geod

from stationmap import config
from stationmap import coverage as cv
from stationmap.districts import load_districts

GEOD = Geod(ellps="WGS84")
ROADS = Path(config.PACKAGE_DIR).parent / "data" / "roads" / "sip_roads.gpkg"


def _no_nan(text):
    def bad(c):
        raise AssertionError(f"non-JSON number {c}")
    return json.loads(text, parse_constant=bad)


def test_api_figures_match_brute_force(ro_client, web_stations):
    r = ro_client.get("/api/v1/coverage?district=320404&kind=rest&mode=walk&minutes=12&cell=500")
    assert r.status_code == 200 and r.mimetype == "application/json"
    body = _no_nan(r.get_data(as_text=True))
    assert body["params"]["method"] == "circle" and body["params"]["sample"] is True
    row = body["stats"][0]
    assert row["adcode"] == "320404" and row["kind"] == "rest"
    # brute force over the same 500 m cells: every cell against every active rest station
    grid = cv.make_grid(cv.resolve_areas("320404"), cell_m=500)
    st = [s for s in web_stations if "rest" in s.kinds and s.status != "closed"]
    n, m = len(grid), len(st)
    d = GEOD.inv(np.repeat(grid.lon, m), np.repeat(grid.lat, m), np.tile([s.lon for s in st], n),
                 np.tile([s.lat for s in st], n))[2].reshape(n, m)
    reach = 12 * config.DEFAULT_SPEEDS_KMH["walk"] * 1000 / 60 / config.DETOUR_FACTOR
    count = (d <= reach).sum(axis=1)
    assert row["cells"] == n
    assert row["area_covered"] == pytest.approx((count >= 1).mean(), abs=1e-12)
    assert row["area_cross_covered"] == pytest.approx((count >= 2).mean(), abs=1e-12)
    poly = load_districts().get("320404").geometry
    assert row["stations"] == sum(1 for s in st if poly.intersects(shapely.Point(s.lon, s.lat)))


def test_api_cells_as_geojson_and_sites(ro_client):
    r = ro_client.get("/api/v1/coverage?district=320402&cell=1000&minutes=5&cells=true&add=2&gaps=1")
    assert r.status_code == 200
    body = _no_nan(r.get_data(as_text=True))
    fc = body["cells"]
    assert fc["type"] == "FeatureCollection" and len(fc["features"]) == body["stats"][0]["cells"]
    props = fc["features"][0]["properties"]
    assert {"cell_id", "adcode", "lon", "lat", "minutes_rest", "count_rest", "demand"} <= set(props)
    assert any(f["properties"]["minutes_rest"] is None for f in fc["features"])   # beyond the horizon
    assert len(body["gaps"]) == 1 and body["gaps"][0]["rank"] == 1
    sites = body["sites"]
    assert len(sites["sites"]) == 2 and sites["covered_after"] > sites["covered_before"]
    assert sites["objective_name"] == "once"


def test_api_and_page_site_for_cross_coverage(ro_client):
    """objective=twice: the sites raise the share covered by two stations (the 双15 figure), the
    same one the coverage's own cross-covered figure reports before; the page says which aim."""
    once = ro_client.get("/api/v1/coverage?district=320402&cell=1000&minutes=8&add=2").get_json()
    body = ro_client.get("/api/v1/coverage?district=320402&cell=1000&minutes=8&add=2&objective=twice").get_json()
    sites = body["sites"]
    assert sites["objective_name"] == "twice" and len(sites["sites"]) == 2
    whole = body["stats"][-1]
    assert sites["covered_before"] == pytest.approx(whole["demand_cross_covered"], abs=1e-9)
    assert sites["covered_after"] > sites["covered_before"]
    assert once["sites"]["covered_before"] == pytest.approx(whole["demand_covered"], abs=1e-9)
    page = ro_client.get("/coverage/320402?cell=1000&minutes=8&add=2&objective=twice").get_data(as_text=True)
    assert "交叉覆盖人口最多" in page and "新增交叉覆盖人口" in page and 'value="twice" selected' in page
    en = ro_client.get("/coverage/320402?cell=1000&minutes=8&add=2&objective=twice&lang=en").get_data(as_text=True)
    assert "Newly cross-covered demand" in en and "Demand cross-covered (twice)" in en


@pytest.mark.parametrize("query,status,field", [
    ("district=abc", 400, "district"),
    ("", 400, "district"),
    ("district=320402&mode=plane", 400, "mode"),
    ("district=320402&kind=toilet", 400, "kind"),
    ("district=320402&minutes=0", 400, "minutes"),
    ("district=320402&minutes=NaN", 400, "minutes"),
    ("district=320402&cell=10", 400, "cell"),
    ("district=320402&add=-1", 400, "add"),
    ("district=320402&add=999", 400, "add"),
    ("district=320402&add=2&objective=thrice", 400, "objective"),
    ("district=320402&cells=1", 400, "cells"),
    ("district=320402&foo=1", 400, "foo"),
    ("district=320402&mode=walk&mode=bike", 400, "mode"),
    ("district=320000&cell=100", 400, "cell"),
    ("district=999999", 404, "district"),
])
def test_api_bad_input_is_a_clean_4xx(ro_client, query, status, field):
    r = ro_client.get("/api/v1/coverage?" + query)
    assert r.status_code == status
    err = r.get_json()["error"]
    assert err["field"] == field and err["message"]


def test_page_shows_map_table_and_downloads_and_escapes_names(ro_client, xss_name):
    r = ro_client.get("/coverage/320402?kind=rest&mode=ebike&add=2")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert xss_name not in html                      # the station named <img ...> is escaped
    assert "coverage-figures" in html and "天宁区" in html and "sm-site" in html
    assert "示例数据" in html                          # sample stations are labelled
    for name in ("coverage.gpkg", "figures.csv", "figures.xlsx", "coverage_by_district.png",
                 "minutes_distribution.png", "coverage_map.html"):
        assert f"/coverage/320402/download/{name}?" in html
    assert "/static/vendor/leaflet-1.9.4/leaflet.js" in html
    en = ro_client.get("/coverage/320402?lang=en").get_data(as_text=True)
    assert "Demand covered" in en


def test_downloads(ro_client):
    r = ro_client.get("/coverage/320404/download/figures.csv?cell=1000&minutes=10")
    assert r.status_code == 200 and "attachment" in r.headers["Content-Disposition"]
    text = r.get_data().decode("utf-8-sig")
    head = text.splitlines()[0].split(",")
    assert head[:3] == ["adcode", "name", "kind"] and "sample_data" in head
    r = ro_client.get("/coverage/320404/download/coverage_map.html?cell=1000&minutes=10")
    assert r.status_code == 200 and r.mimetype == "text/html"
    r = ro_client.get("/coverage/320404/download/coverage.gpkg?cell=1000&minutes=10")
    assert r.status_code == 200 and r.data[:16] == b"SQLite format 3\x00"
    assert ro_client.get("/coverage/320404/download/etc-passwd?cell=1000").status_code == 404
    assert ro_client.get("/coverage/320404/download/figures.csv?cell=abc").status_code == 400


def test_fewer_sites_than_asked_are_explained_on_the_page_and_in_the_api(ro_client, web_stations):
    import html as html_mod

    from stationmap import siting

    q = "kind=rest&mode=ebike&add=50"
    body = _no_nan(ro_client.get(f"/api/v1/coverage?district=320402&{q}").get_data(as_text=True))
    sites = body["sites"]
    given = len(sites["sites"])
    sf = sites["shortfall"]
    assert 0 < given < 50 and sf["reason"] == "all_reachable_covered" and (sf["asked"], sf["given"]) == (50, given)
    # true: the sites leave no cell with people uncovered
    cov = cv.analyse("320402", web_stations, kinds=["rest"], mode="ebike")
    new = siting.suggest_sites(cov, 50)
    after = cv.analyse("320402", [*web_stations, *new.stations()], kinds=["rest"], mode="ebike")
    assert len(new.table) == given and not ((after.count["rest"] == 0) & (after.demand > 0)).any()
    assert sf["uncovered_cells"] == int(((cov.count["rest"] == 0) & (cov.demand > 0)).sum())
    assert f"只建议 {given} 个站点（要求 50 个）" in sf["text"]
    # the API words it in the language the pages use (the lang cookie)
    ro_client.set_cookie("lang", "en")
    try:
        en = _no_nan(ro_client.get(f"/api/v1/coverage?district=320402&{q}").get_data(as_text=True))
    finally:
        ro_client.delete_cookie("lang")
    assert en["sites"]["shortfall"]["text"].startswith(f"Only {given} sites suggested (50 asked)")
    for lang, words in (("zh", f"只建议 {given} 个站点"), ("en", f"Only {given} sites suggested")):
        page = ro_client.get(f"/coverage/320402?{q}&lang={lang}").get_data(as_text=True)
        i = page.index('id="coverage-sites-shortfall"')
        assert words in html_mod.unescape(page[i:page.index("</p>", i)])
    ro_client.delete_cookie("lang")        # ?lang=en is remembered: forget it for the next tests
    page = ro_client.get("/coverage/320402?kind=rest&mode=ebike&add=2").get_data(as_text=True)
    assert "coverage-sites-shortfall" not in page


def test_page_bad_input_is_not_a_500(ro_client):
    assert ro_client.get("/coverage/320402?mode=plane").status_code == 400
    assert ro_client.get("/coverage/12?").status_code == 400
    assert ro_client.get("/coverage/999999").status_code == 404


def test_zone_uses_the_configured_network(make_web_app, web_stations, tmp_path):
    from stationmap.io.sample import load_sample
    from stationmap.network import Network

    npz = Network.from_gpkg(ROADS).save(tmp_path / "sip.npz")
    sip_stations = [s for s in load_sample() if s.adcode == "320571"][:20]
    app = make_web_app(web_stations + sip_stations, networks={"sip": str(npz)})
    r = app.test_client().get("/api/v1/coverage?district=320571&mode=walk&cell=500")
    assert r.status_code == 200
    body = r.get_json()
    assert body["params"]["method"] == "network" and "road length" in body["params"]["demand"]
    assert body["districts"][0]["note"] and 0 < body["stats"][0]["demand_covered"] < 1
    # the SIP roads have no one-way data: the answer and the page say so (issue 21)
    assert body["params"]["oneway_respected"] is False and "单行道" in body["oneway_note"]["zh"]
    client = app.test_client()
    page = client.get("/coverage/320571?mode=walk&cell=500").get_data(as_text=True)
    assert "该路网没有单行道数据" in page
    page = client.get("/coverage/320571?mode=walk&cell=500&lang=en").get_data(as_text=True)
    assert "This road network has no one-way data" in page
    bare = make_web_app(web_stations, networks={})
    r = bare.test_client().get("/api/v1/coverage?district=320571")
    assert r.status_code == 404 and "no boundary polygon" in r.get_json()["error"]["message"]
    assert math.isfinite(body["stats"][0]["area_km2"])


def test_api_and_page_accessibility(ro_client):
    """accessibility=true: the E2SFCA summary per district (the API, with each cell's score), a
    table and a map layer on the page; the people-weighted mean is the cells' own."""
    body = ro_client.get("/api/v1/coverage?district=320402&cell=1000&cells=true&accessibility=true").get_json()
    acc = body["accessibility"]
    assert acc["method"] == "E2SFCA" and acc["catchment_minutes"] == body["params"]["minutes"]
    feats = body["cells"]["features"]
    demand = [f["properties"]["demand"] for f in feats]
    score = [f["properties"]["access"] for f in feats]
    row = next(r for r in acc["summary"] if r["adcode"] == "320402")
    assert row["mean_score"] == pytest.approx(sum(d * s for d, s in zip(demand, score)) / sum(demand))
    assert "accessibility" not in ro_client.get("/api/v1/coverage?district=320402&cell=1000").get_json()
    page = ro_client.get("/coverage/320402?cell=1000&accessibility=true").get_data(as_text=True)
    assert 'id="coverage-access"' in page and "可达性指数（E2SFCA" in page and 'name="accessibility" value="true" checked' in page
    assert "accessibility=true" in page            # the downloads carry it
    plain = ro_client.get("/coverage/320402?cell=1000").get_data(as_text=True)
    assert 'id="coverage-access"' not in plain


def test_a_county_partly_on_a_network_is_covered_mixed(make_web_app, web_stations, tmp_path):
    """Huqiu (320505) holds a corner of the SIP graph: those cells by its roads, the rest by circles;
    the answer, the cells, the page and the what-if say so and credit the road data (issue 21)."""
    from stationmap.io.sample import load_sample

    npz = ROADS.with_name("sip.npz")        # the bundled compiled graph (it records the ODbL credit)
    sip_stations = [s for s in load_sample() if s.adcode == "320571"][:20]
    app = make_web_app(web_stations + sip_stations, networks={"sip": str(npz)})
    client = app.test_client()
    q = "district=320505&kind=rest&mode=walk&cell=500"
    body = _no_nan(client.get(f"/api/v1/coverage?{q}&cells=true").get_data(as_text=True))
    p = body["params"]
    assert p["method"] == "mixed" and [n["name"] for n in p["networks"]] == ["sip"]
    assert p["network_licence"] == "© OpenStreetMap contributors, ODbL" and p["oneway_respected"] is False
    feats = body["cells"]["features"]
    on = [f for f in feats if f["properties"]["method"] == "network"]
    assert len(on) == p["networks"][0]["cells"] > 0 and len(feats) - len(on) == p["circle_cells"] > 0
    assert {f["properties"]["network"] for f in on} == {"sip"}
    assert any("Method (mixed)" in line for line in body["assumptions"]["text"]["en"])
    page = client.get("/coverage/320505?kind=rest&mode=walk&cell=500").get_data(as_text=True)
    assert "混合：路网覆盖的网格按道路" in page and "路网数据 © OpenStreetMap contributors, ODbL" in page
    r = client.get(f"/api/v1/coverage/whatif?{q}&new=120.70,31.33")
    assert r.status_code == 200 and r.get_json()["change"]["covered_people"] >= 0
    assert client.get(f"/api/v1/coverage?{q}&method=circle").get_json()["params"]["method"] == "circle"


def test_many_stations_are_one_geojson_layer_not_a_script_each(make_web_app, web_stations, xss_name, monkeypatch):
    """From FINDER_TILES_FROM stations on the map, the station layer is one GeoJSON layer of the same
    circles (the points written once as data): the same stations, escaped names, fewer bytes."""
    import html
    import json
    import re

    app = make_web_app(web_stations)
    url = "/coverage/320402?kind=rest&cell=1000"
    few = app.test_client().get(url).get_data(as_text=True)
    n = few.count("L.circleMarker(")
    assert n > 5
    monkeypatch.setattr("stationmap.maps.coverage.FINDER_TILES_FROM", n)
    many = make_web_app(web_stations).test_client().get(url).get_data(as_text=True)
    assert many.count("L.circleMarker(") == 0 and many.count("new L.CircleMarker(latlng") == 1   # (its pointToLayer)
    dec = json.JSONDecoder()
    data = [dec.raw_decode(many, m.end())[0] for m in re.finditer(r"_add\((?=\{)", many)]
    points = [f for d in data for f in d["features"] if f["geometry"]["type"] == "Point" and "t" in f["properties"]]
    assert len(points) == n
    # the what-if toggles are the stations the map draws
    whatif = json.loads(re.search(r'<script type="application/json" id="whatif-config">(.*?)</script>', many,
                                  re.S).group(1))
    assert sorted(f"{s['name']} ({s['id']})" for s in whatif["stations"]) == sorted(
        html.unescape(f["properties"]["t"]) for f in points)
    assert xss_name not in many
    assert len(many) < len(few)
