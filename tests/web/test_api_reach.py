"""Road-network travel times in the API: /api/v1/nearest (method) and /api/v1/reach.

References: networkx Dijkstra on a graph built from the SIP network's edge
list (the helpers of tests/unit/test_reach.py), pyproj.Geod for the circle,
shapely for "the polygon holds the reached stations".
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import shapely
from pyproj import Geod
from shapely.geometry import shape

from stationmap.config import DEFAULT_SPEEDS_KMH, DETOUR_FACTOR
from stationmap.coords import wgs84_to_gcj02
from stationmap.model import Station
from stationmap.network import Network
from tests.support.webforms import make_app
from tests.unit.test_reach import SETTINGS, SIP_NPZ, reference_times, station_reference

GEOD = Geod(ellps="WGS84")
SIP_POINT = (120.72, 31.32)
CZ_POINT = (119.95, 31.78)


def sip_stations():
    """60 stations near SIP's roads (0-120 m off a random node) and one in Jinji Lake."""
    net = Network.load(SIP_NPZ, settings=SETTINGS)
    rng = np.random.default_rng(7)
    out = []
    for i, node in enumerate(rng.choice(net.n_nodes, 60, replace=False)):
        out.append(Station(id=f"sip{i:02d}", name=f"园区驿站{i}", lon=float(net.lon[node] + rng.uniform(-1e-3, 1e-3)),
                           lat=float(net.lat[node] + rng.uniform(-8e-4, 8e-4)),
                           kinds=("rest",) if i % 3 else ("hot_tea",), source="test"))
    out.append(Station(id="lake", name="湖心", lon=120.693, lat=31.318, source="test"))
    return net, out


@pytest.fixture(scope="module")
def sip():
    return sip_stations()


@pytest.fixture(scope="module")
def net_client(tmp_path_factory, web_stations_builder, sip):
    app = make_app(tmp_path_factory.mktemp("web-net"), web_stations_builder() + sip[1],
                   networks={"sip": str(SIP_NPZ)})
    assert list(app.extensions["stationmap"].networks) == ["sip"]
    return app.test_client()


def get(client, path, **params):
    r = client.get(path, query_string=params)
    assert r.status_code == 200, r.get_json()
    assert r.mimetype == "application/geo+json"
    return r.get_json()


def reference(net, stations, mode, lon, lat):
    """[(seconds, road metres, id)] by networkx, quickest first (unreachable left out)."""
    dist, H, sn, off = reference_times(net, mode, lon, lat)
    ref = sorted(station_reference(net, mode, lon, lat, st, dist, H, sn, off) + (st.id,) for st in stations)
    return [r for r in ref if math.isfinite(r[0])]


@pytest.mark.parametrize("mode", ["walk", "ebike"])
def test_nearest_inside_sip_uses_network_minutes_equal_to_networkx(net_client, sip, mode):
    net, stations = sip
    lon, lat = SIP_POINT
    body = get(net_client, "/api/v1/nearest", lon=lon, lat=lat, mode=mode, k=8)
    assert body["method"] == "network" and body["network"] == "sip" and body["reach"]["method"] == "network"
    ref = reference(net, stations, mode, lon, lat)[:8]
    assert [f["id"] for f in body["features"]] == [r[2] for r in ref]
    for f, (secs, metres, sid) in zip(body["features"], ref):
        p = f["properties"]
        assert p["minutes"] == pytest.approx(secs / 60, abs=0.051)
        assert p["distance_m"] == pytest.approx(metres, abs=0.051)
        st = next(s for s in stations if s.id == sid)
        assert p["straight_m"] == pytest.approx(GEOD.inv(lon, lat, st.lon, st.lat)[2], abs=0.051)
        assert p["distance_m"] >= p["straight_m"] - 1.0
        assert p["within_minutes"] is (secs / 60 <= 15)


def test_nearest_in_changzhou_uses_the_circle_with_the_detour_factor(net_client, web_stations_builder):
    lon, lat = CZ_POINT
    body = get(net_client, "/api/v1/nearest", lon=lon, lat=lat, mode="ebike", k=6)
    assert body["method"] == "circle" and body["network"] is None
    ref = sorted((GEOD.inv(lon, lat, s.lon, s.lat)[2], s.id) for s in web_stations_builder() if s.status != "closed")
    speed = DEFAULT_SPEEDS_KMH["ebike"] * 1000 / 60
    assert [f["id"] for f in body["features"]] == [i for _, i in ref[:6]]
    for f, (d, _) in zip(body["features"], ref):
        assert f["properties"]["minutes"] == pytest.approx(d * DETOUR_FACTOR / speed, abs=0.051)
        assert f["properties"]["straight_m"] == pytest.approx(d, abs=0.051)


def test_method_network_where_none_covers_the_point_is_a_400_naming_it(net_client):
    for path in ("/api/v1/nearest", "/api/v1/reach"):
        r = net_client.get(path, query_string={"lon": CZ_POINT[0], "lat": CZ_POINT[1], "method": "network"})
        assert r.status_code == 400
        err = r.get_json()["error"]
        assert err["field"] == "method" and "119.95" in err["message"] and "31.78" in err["message"]


def test_method_circle_inside_sip_is_the_estimate(net_client, sip):
    lon, lat = SIP_POINT
    body = get(net_client, "/api/v1/nearest", lon=lon, lat=lat, method="circle", k=3)
    assert body["method"] == "circle"
    speed = DEFAULT_SPEEDS_KMH["ebike"] * 1000 / 60   # the default mode
    for f in body["features"]:
        x, y = f["geometry"]["coordinates"]
        d = GEOD.inv(lon, lat, x, y)[2]
        assert f["properties"]["minutes"] == pytest.approx(d * DETOUR_FACTOR / speed, abs=0.051)


@pytest.mark.parametrize("bad", [{"method": "roads"}, {"minutes": "0"}, {"minutes": "121"},
                                 {"mode": "plane"}, {"lat": "91"}, {"k": "3"}, {"minutes": "5,abc"},
                                 {"minutes": "0,5"}, {"minutes": "5,10,15,20,25,30"}, {"minutes": "5,,10"}])
def test_reach_bad_input_is_a_400(net_client, bad):
    params = {"lon": SIP_POINT[0], "lat": SIP_POINT[1], **bad}
    r = net_client.get("/api/v1/reach", query_string=params)
    assert r.status_code == 400
    assert r.get_json()["error"]["field"] == next(iter(bad))


@pytest.mark.parametrize("mode", ["walk", "ebike"])
def test_reach_inside_sip_holds_the_stations_networkx_reaches(net_client, sip, mode):
    net, stations = sip
    lon, lat = SIP_POINT
    minutes = {"walk": 30, "ebike": 10}[mode]
    body = get(net_client, "/api/v1/reach", lon=lon, lat=lat, mode=mode, minutes=minutes)
    assert body["datum"] == "wgs84" and body["method"] == "network" and body["network"] == "sip"
    area, *points = body["features"]
    props = area["properties"]
    assert props["method"] == "network" and props["mode"] == mode and props["minutes"] == minutes
    assert props["area_km2"] == body["area_km2"] > 0
    poly = shape(area["geometry"])
    assert poly.is_valid and poly.contains(shapely.Point(lon, lat))
    ref = {sid: secs for secs, _, sid in reference(net, stations, mode, lon, lat)}
    want = {k for k, s in ref.items() if s <= minutes * 60 - 1}
    got = {f["id"]: f for f in points}
    assert want <= got.keys() <= {k for k, s in ref.items() if s <= minutes * 60 + 1}
    assert len(want) >= 2
    for sid, f in got.items():
        assert f["properties"]["minutes"] == pytest.approx(ref[sid] / 60, abs=0.051)
        assert poly.buffer(1e-5).contains(shape(f["geometry"]))  # about 1 m of rounding
    # the area measured independently: geodesic area of the polygon
    geod_area = abs(GEOD.geometry_area_perimeter(poly)[0]) / 1e6
    assert geod_area == pytest.approx(body["area_km2"], rel=0.01)


def test_reach_in_changzhou_is_the_geodesic_circle(net_client, web_stations_builder):
    lon, lat = CZ_POINT
    minutes = 12
    body = get(net_client, "/api/v1/reach", lon=lon, lat=lat, mode="bike", minutes=minutes)
    assert body["method"] == "circle" and body["network"] is None
    radius = minutes * DEFAULT_SPEEDS_KMH["bike"] * 1000 / 60 / DETOUR_FACTOR
    ring = body["features"][0]["geometry"]["coordinates"][0]
    for x, y in ring:
        assert GEOD.inv(lon, lat, x, y)[2] == pytest.approx(radius, abs=0.2)
    assert body["area_km2"] == pytest.approx(math.pi * radius ** 2 / 1e6, rel=0.01)
    want = {s.id for s in web_stations_builder() if s.status == "active" and GEOD.inv(lon, lat, s.lon, s.lat)[2] <= radius}
    assert {f["id"] for f in body["features"][1:]} == want


@pytest.mark.parametrize("path", ["/api/v1/nearest", "/api/v1/reach"])
def test_a_gcj02_query_gives_the_same_answer_as_its_wgs84_point(net_client, path):
    lon, lat = SIP_POINT
    glon, glat = wgs84_to_gcj02(lon, lat)
    at = "2024-05-01T10:00:00+08:00"
    a = get(net_client, path, lon=lon, lat=lat, mode="ebike", at=at)
    b = get(net_client, path, lon=f"{glon:.9f}", lat=f"{glat:.9f}", datum="gcj02", mode="ebike", at=at)
    assert a["method"] == b["method"] == "network"
    assert [f["id"] for f in a["features"]] == [f["id"] for f in b["features"]]
    for fa, fb in zip(a["features"], b["features"]):
        if "minutes" in fa["properties"]:
            assert fa["properties"]["minutes"] == pytest.approx(fb["properties"]["minutes"], abs=0.051)
    if path.endswith("reach"):
        pa, pb = shape(a["features"][0]["geometry"]), shape(b["features"][0]["geometry"])
        assert pa.symmetric_difference(pb).area <= 0.001 * pa.area


def test_reach_out_datum_moves_the_polygon_and_the_stations(net_client):
    lon, lat = SIP_POINT
    a = get(net_client, "/api/v1/reach", lon=lon, lat=lat, minutes=10, mode="ebike")
    g = get(net_client, "/api/v1/reach", lon=lon, lat=lat, minutes=10, mode="ebike", out_datum="gcj02")
    assert g["datum"] == "gcj02" and len(a["features"]) == len(g["features"]) >= 2
    ring_a = np.asarray(a["features"][0]["geometry"]["coordinates"][0])
    ring_g = np.asarray(g["features"][0]["geometry"]["coordinates"][0])
    # GCJ-02 here is WGS-84 moved a few hundred metres; every vertex moves, by about the same
    shift = ring_g - ring_a
    d = [GEOD.inv(x, y, x + dx, y + dy)[2] for (x, y), (dx, dy) in zip(ring_a, shift)]
    assert 200 < min(d) and max(d) < 800 and max(d) - min(d) < 5
    for fa, fg in zip(a["features"][1:], g["features"][1:]):
        (x, y), (xg, yg) = fa["geometry"]["coordinates"], fg["geometry"]["coordinates"]
        assert GEOD.inv(x, y, xg, yg)[2] == pytest.approx(np.median(d), abs=5)


# -- one-way data (issue 21): a network without it says so in every answer -------------------------

def test_answers_on_the_sip_network_say_it_has_no_one_way_data(net_client):
    lon, lat = SIP_POINT
    for path in ("/api/v1/nearest", "/api/v1/reach"):
        zh = get(net_client, path, lon=lon, lat=lat, mode="ebike")
        assert zh["method"] == "network" and zh["oneway_respected"] is False
        assert "单行道" in zh["oneway_note"]["zh"]
        assert zh["network_licence"] == "© OpenStreetMap contributors, ODbL"    # data/roads/PROVENANCE.md
        en = zh
        assert en["oneway_respected"] is False and "no one-way data" in en["oneway_note"]["en"]
    area = get(net_client, "/api/v1/reach", lon=lon, lat=lat, mode="walk")["features"][0]["properties"]
    assert area["role"] == "isochrone"
    # off every network: the circle, where one-way streets do not apply
    for path in ("/api/v1/nearest", "/api/v1/reach"):
        body = get(net_client, path, lon=CZ_POINT[0], lat=CZ_POINT[1])
        assert body["method"] == "circle" and body["oneway_respected"] is None and body["oneway_note"] is None
        assert body["network_licence"] is None


def test_answers_on_a_network_with_one_way_data_say_it_is_respected(tmp_path, web_stations_builder):
    from tests.unit.test_network import ONEWAY_OSM

    npz = Network.build(ONEWAY_OSM, settings=SETTINGS).save(tmp_path / "grid.npz")
    client = make_app(tmp_path / "inst", web_stations_builder(), networks={"grid": str(npz)}).test_client()
    for path in ("/api/v1/nearest", "/api/v1/reach"):
        body = get(client, path, lon=120.7011, lat=31.301, mode="bike")
        assert body["method"] == "network" and body["network"] == "grid"
        assert body["oneway_respected"] is True and body["oneway_note"] is None


@pytest.mark.parametrize("point,method", [(CZ_POINT, "circle"), (SIP_POINT, "network")])
def test_several_ranges_give_nested_areas_with_their_people(net_client, point, method):
    """minutes=5,10,15: three areas, smallest first, each inside the next, with the people in each
    (the census spread over the county's area: its people times the area's share of it)."""
    from stationmap.districts import load_districts

    lon, lat = point
    body = get(net_client, "/api/v1/reach", lon=lon, lat=lat, mode="walk", minutes="15,5,10,10")
    areas = [f for f in body["features"] if f["properties"]["role"] == "isochrone"]
    assert [f["id"] for f in areas] == ["isochrone-5", "isochrone-10", "isochrone-15"]
    assert body["method"] == method and body["query"]["minutes"] == [5, 10, 15]
    polys = [shape(f["geometry"]) for f in areas]
    for inner, outer in zip(polys, polys[1:]):
        assert inner.difference(outer).area <= 0.01 * inner.area      # nested (to the network's raster)
    people = [f["properties"]["people"] for f in areas]
    assert 0 < people[0] < people[1] < people[2] == body["people"]
    # the reference: each county's census people times the share of its area inside (pyproj.Geod)
    d = load_districts()
    want = 0.0
    for c in d.all("county"):
        part = c.geometry.intersection(polys[-1]) if c.geometry is not None else None
        if part is not None and not part.is_empty and c.population:
            want += c.population * abs(GEOD.geometry_area_perimeter(part)[0]) / abs(
                GEOD.geometry_area_perimeter(c.geometry)[0])
    assert people[-1] == pytest.approx(want, rel=1e-6, abs=1)
    assert areas[-1]["properties"]["people_from"]["census"]
    # the stations answer for the largest range
    one = get(net_client, "/api/v1/reach", lon=lon, lat=lat, mode="walk", minutes=15)
    assert [f["id"] for f in one["features"][1:]] == [f["id"] for f in body["features"][3:]]
    assert one["features"][0]["id"] == "isochrone" and one["people"] == body["people"]
