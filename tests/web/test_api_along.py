"""/api/v1/along: stations ranked by detour from a start to a destination (issue 19).

References: networkx on SIP's edge list (tests/unit/test_along.py) and pyproj.Geod with the
documented speeds and detour factor for the circle estimate.
"""

from __future__ import annotations

import pytest
from pyproj import Geod

from stationmap.config import DEFAULT_SPEEDS_KMH, DETOUR_FACTOR, MAX_DETOUR_MINUTES
from stationmap.coords import wgs84_to_gcj02
from tests.support.webforms import make_app
from tests.unit.test_along import reference
from tests.unit.test_reach import SIP_NPZ
from tests.web.test_api_errors import check_error
from tests.web.test_api_reach import sip_stations

GEOD = Geod(ellps="WGS84")
SIP_A, SIP_B = (120.700, 31.300), (120.745, 31.330)
CZ_A, CZ_B = (119.92, 31.76), (120.02, 31.82)
OK = f"from_lon={CZ_A[0]}&from_lat={CZ_A[1]}&to_lon={CZ_B[0]}&to_lat={CZ_B[1]}"


@pytest.fixture(scope="module")
def sip():
    return sip_stations()


@pytest.fixture(scope="module")
def net_client(tmp_path_factory, web_stations_builder, sip):
    app = make_app(tmp_path_factory.mktemp("web-along"), web_stations_builder() + sip[1],
                   networks={"sip": str(SIP_NPZ)})
    return app.test_client()


def get(client, **params):
    r = client.get("/api/v1/along", query_string=params)
    assert r.status_code == 200, r.get_json()
    assert r.mimetype == "application/geo+json"
    return r.get_json()


def q(a, b, **kw):
    return {"from_lon": a[0], "from_lat": a[1], "to_lon": b[0], "to_lat": b[1], **kw}


@pytest.mark.parametrize("mode", ["ebike", "walk"])
def test_along_inside_sip_is_on_the_roads_and_equals_networkx(net_client, sip, mode):
    net, stations = sip
    max_detour = 8.0 if mode == "ebike" else 25.0
    body = get(net_client, **q(SIP_A, SIP_B, mode=mode, max_detour=max_detour, k=100))
    assert body["method"] == "network" and body["network"] == "sip"
    assert body["oneway_respected"] is False and "no one-way data" in body["oneway_note"]["en"]
    route_s, ref = reference(net, mode, SIP_A, SIP_B, stations)
    assert body["route"]["minutes"] == pytest.approx(route_s / 60, abs=0.05 + 1 / 60)
    want = {sid for sid, (d, _r) in ref.items() if d <= max_detour * 60 - 4}
    got = [f["id"] for f in body["features"]]
    assert want <= set(got) and len(got) >= 3
    for f in body["features"]:
        p = f["properties"]
        d, r = ref[f["id"]]
        assert p["detour_minutes"] == pytest.approx(max(d, 0) / 60, abs=0.05 + 1 / 60)
        assert p["minutes"] == pytest.approx(r / 60, abs=0.05 + 1 / 60)
        assert set(p["nav"]) == {"amap", "baidu", "apple"}
        assert "open_now" in p and "freshness" in p and "opening_hours" in p
    assert [f["properties"]["detour_minutes"] for f in body["features"]] == sorted(
        f["properties"]["detour_minutes"] for f in body["features"])


def test_along_outside_any_network_is_the_circle_estimate(ro_client, web_stations):
    body = get(ro_client, **q(CZ_A, CZ_B, max_detour=5, k=100))
    assert body["method"] == "circle" and body["network"] is None and body["oneway_respected"] is None
    per_m = DETOUR_FACTOR / (DEFAULT_SPEEDS_KMH["ebike"] * 1000 / 60)
    direct = GEOD.inv(*CZ_A, *CZ_B)[2]
    assert body["route"]["minutes"] == pytest.approx(direct * per_m, abs=0.05)
    want = {}
    for s in web_stations:
        if s.status == "closed":
            continue
        da, db = GEOD.inv(*CZ_A, s.lon, s.lat)[2], GEOD.inv(s.lon, s.lat, *CZ_B)[2]
        want[s.id] = ((da + db - direct) * per_m, da * per_m)
    got = {f["id"]: f["properties"] for f in body["features"]}
    assert {k for k, (d, _r) in want.items() if d <= 5 - 1e-6} == set(got)
    assert len(got) >= 3
    gx, gy = wgs84_to_gcj02(*CZ_A)
    for sid, p in got.items():
        assert p["detour_minutes"] == pytest.approx(want[sid][0], abs=0.051)
        assert p["minutes"] == pytest.approx(want[sid][1], abs=0.051)
        # the nav links start from the courier's start (Amap's: GCJ-02)
        assert f"from={float(gx):.6f}%2C{float(gy):.6f}" in p["nav"]["amap"]


def test_datum_of_the_input_and_the_output(ro_client):
    wgs = get(ro_client, **q(CZ_A, CZ_B, max_detour=5))
    ga, gb = wgs84_to_gcj02(*CZ_A), wgs84_to_gcj02(*CZ_B)
    gcj = get(ro_client, **q(ga, gb, max_detour=5, datum="gcj02", out_datum="gcj02"))
    assert [f["id"] for f in gcj["features"]] == [f["id"] for f in wgs["features"]]
    assert gcj["datum"] == "gcj02"
    assert gcj["query"]["from"]["lon"] == pytest.approx(float(ga[0]), abs=1e-6)
    for fg, fw in zip(gcj["features"], wgs["features"]):
        assert fg["properties"]["detour_minutes"] == pytest.approx(fw["properties"]["detour_minutes"], abs=0.051)
        expect = wgs84_to_gcj02(*fw["geometry"]["coordinates"])
        assert fg["geometry"]["coordinates"] == pytest.approx([float(expect[0]), float(expect[1])], abs=1e-6)


def test_filters_and_k(ro_client):
    body = get(ro_client, **q(CZ_A, CZ_B, max_detour=20, kind="hot_tea", k=3))
    assert 0 < len(body["features"]) <= 3
    assert all("hot_tea" in f["properties"]["kinds"] for f in body["features"])
    opened = get(ro_client, **q(CZ_A, CZ_B, max_detour=20, open_now="true", at="2026-12-07T03:00:00", k=100))
    assert all(f["properties"]["open_now"] for f in opened["features"])
    everything = get(ro_client, **q(CZ_A, CZ_B, max_detour=20, at="2026-12-07T03:00:00", k=100))
    assert len(opened["features"]) < len(everything["features"])


@pytest.mark.parametrize("query, field, words", [
    (f"from_lat={CZ_A[1]}&to_lon={CZ_B[0]}&to_lat={CZ_B[1]}", "from_lon", ["from_lon", "required"]),
    (f"from_lon={CZ_A[0]}&from_lat={CZ_A[1]}&to_lon={CZ_B[0]}", "to_lat", ["to_lat", "required"]),
    (OK.replace(f"to_lon={CZ_B[0]}", "to_lon=abc"), "to_lon", ["to_lon", "number", "'abc'"]),
    (OK.replace(f"from_lat={CZ_A[1]}", "from_lat=91"), "from_lat", ["from_lat", "[-90, 90]"]),
    (OK.replace(f"from_lat={CZ_A[1]}", "from_lat=NaN"), "from_lat", ["from_lat"]),
    (OK + "&max_detour=0", "max_detour", ["max_detour", f"(0, {MAX_DETOUR_MINUTES:g}]"]),
    (OK + "&max_detour=-1", "max_detour", ["max_detour"]),
    (OK + f"&max_detour={MAX_DETOUR_MINUTES + 1:g}", "max_detour", ["max_detour"]),
    (OK + "&max_detour=inf", "max_detour", ["max_detour"]),
    (OK + "&mode=teleport", "mode", ["mode", "walk"]),
    (OK + "&method=fly", "method", ["method"]),
    (OK + "&k=0", "k", ["k"]),
    (OK + "&datum=mars", "datum", ["datum"]),
    (OK + "&kind=bar", "kind", ["kind"]),
    (OK + "&open_now=yes", "open_now", ["open_now"]),
    (OK + "&lat=31", "lat", ["unknown parameter", "from_lat"]),
    (OK + "&method=network", "method", ["no road network covers the from point"]),
])
def test_bad_input_is_a_400_naming_the_parameter(ro_client, query, field, words):
    check_error(ro_client.get("/api/v1/along?" + query), 400, field, *words)


def test_one_end_off_the_network_with_method_network_names_it(net_client):
    r = net_client.get("/api/v1/along", query_string=q(SIP_A, CZ_B, method="network"))
    err = check_error(r, 400, "method", "no road network covers the to point")
    assert err["message"].endswith("use method=auto or circle")
    # auto: the circle estimate, one network covering both ends or none
    assert get(net_client, **q(SIP_A, CZ_B))["method"] == "circle"


def test_errors_in_chinese(ro_client):
    r = ro_client.get("/api/v1/along?" + OK.replace(f"from_lat={CZ_A[1]}", "from_lat=91") + "&lang=zh")
    assert r.status_code == 400
    assert r.get_json()["error"]["display_message"] == "起点纬度必须在 -90 到 90 之间，而不是 '91'"
    r = ro_client.get("/api/v1/along?" + OK + "&method=network&lang=zh")
    assert r.get_json()["error"]["display_message"].startswith("没有路网覆盖起点")
    r = ro_client.get("/api/v1/along?" + OK + "&max_detour=0&lang=zh")
    assert r.get_json()["error"]["display_message"].startswith("最多绕路分钟数必须大于 0")


def test_the_openapi_document_describes_along(ro_client):
    doc = ro_client.get("/api/v1/openapi.json").get_json()
    op = doc["paths"]["/api/v1/along"]["get"]
    names = [p["name"] for p in op["parameters"]]
    assert names[:4] == ["from_lat", "from_lon", "to_lat", "to_lon"] and "max_detour" in names
    md = next(p for p in op["parameters"] if p["name"] == "max_detour")
    assert md["schema"]["default"] == 3 and md["schema"]["maximum"] == MAX_DETOUR_MINUTES
