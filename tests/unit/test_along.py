"""stationmap.along: stations ranked by detour on the way from A to B (issue 19).

References, independent of the code under test: networkx Dijkstra on the mode graph built from
the edge list (tests/support/network_reference.py), the points cut into their edges; the circle
estimate written out with pyproj.Geod and the documented speeds and detour factor.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
from pyproj import Geod

from stationmap import config
from stationmap.along import along_route
from stationmap.errors import ValidationError
from stationmap.index import StationIndex
from stationmap.model import Station
from stationmap.network import Network
from stationmap.network.osm import MODE_BIT, ONEWAY_BACK_SHIFT
from tests.support.network_reference import nx_graph, with_points

ROOT = Path(__file__).resolve().parents[2]
SIP_NPZ = ROOT / "data" / "roads" / "sip.npz"
SETTINGS = config.load(environ={})
GEOD = Geod(ellps="WGS84")
WALK_MPS = SETTINGS.speeds_kmh["walk"] / 3.6


@pytest.fixture(scope="module")
def sip():
    return Network.load(SIP_NPZ, settings=SETTINGS)


@pytest.fixture(scope="module")
def sip_oneway(sip):
    """SIP with a third of its streets made one-way for riders and cars (a sixth of them against
    the edge's direction): a network with one-way streets built for the test."""
    rng = np.random.default_rng(19)
    riders = MODE_BIT["bike"] | MODE_BIT["ebike"] | MODE_BIT["car"]
    pick = rng.random(sip.n_edges)
    ow = np.where(pick < 0.25, riders, np.where(pick < 0.33, riders << ONEWAY_BACK_SHIFT, 0)).astype(np.uint8)
    a = sip.arrays()
    return Network(name="sip-oneway", lon=a["lon"], lat=a["lat"], edge_u=a["edge_u"], edge_v=a["edge_v"],
                   edge_length_m=a["edge_length_m"], edge_class=a["edge_class"], classes=sip.classes,
                   edge_access=a["edge_access"], edge_oneway=ow, arc_indptr=a["arc_indptr"], arc_dst=a["arc_dst"],
                   arc_eid=a["arc_eid"], settings=SETTINGS, oneway_known=True)


def random_stations(net, n, seed):
    rng = np.random.default_rng(seed)
    w, s, e, nn = net.bounds
    return [Station(id=f"r{i:03d}", name=f"站{i}", lon=float(rng.uniform(w, e)), lat=float(rng.uniform(s, nn)))
            for i in range(n)]


def reference(net, mode, start, end, stations):
    """(route seconds, {station id: (detour s, reach s)}) by networkx on ``net``'s edge list;
    None for the route when the destination cannot be reached."""
    G = nx_graph(net, mode)
    snaps = {"A": net.snap(*start, mode=mode), "B": net.snap(*end, mode=mode)}
    for st in stations:
        try:
            snaps[st.id] = net.snap(st.lon, st.lat, mode=mode)
        except ValidationError:     # farther than max_snap_m from every road: off the network
            pass
    H = with_points(G, net, snaps)
    off = {k: sn.distance_m / WALK_MPS for k, sn in snaps.items()}
    from_a = nx.single_source_dijkstra_path_length(H, "A")
    to_b = nx.single_source_dijkstra_path_length(H.reverse(copy=False), "B")
    if "B" not in from_a:
        return None, {}
    route = off["A"] + from_a["B"] + off["B"]
    out = {}
    for st in stations:
        if st.id in snaps and st.id in from_a and st.id in to_b:
            reach = off["A"] + from_a[st.id] + off[st.id]
            onward = off[st.id] + to_b[st.id] + off["B"]
            out[st.id] = (reach + onward - route, reach)
    return route, out


def random_pairs(net, n, seed):
    rng = np.random.default_rng(seed)
    w, s, e, nn = net.bounds
    # starts and destinations near roads: random nodes, nudged off them a little
    nodes = rng.choice(net.n_nodes, size=(n, 2))
    jitter = rng.normal(0, 0.0003, size=(n, 2, 2))
    return [((float(net.lon[a] + ja[0]), float(net.lat[a] + ja[1])), (float(net.lon[b] + jb[0]),
             float(net.lat[b] + jb[1]))) for (a, b), (ja, jb) in zip(nodes, jitter)]


def check_against_reference(net, mode, start, end, stations, max_detour):
    index = StationIndex.from_stations(stations)
    route_s, ref = reference(net, mode, start, end, stations)
    if route_s is None:
        with pytest.raises(ValidationError, match="no way along the roads") as exc:
            along_route(net, index, *start, *end, mode=mode, max_detour=max_detour, k=config.MAX_K, method="network")
        assert exc.value.field == "to"
        return 0
    got = along_route(net, index, *start, *end, mode=mode, max_detour=max_detour, k=config.MAX_K,
                      method="network")
    assert got.method == "network" and got.network == net.name
    assert got.route_minutes * 60 == pytest.approx(route_s, abs=1.0)
    want = {sid for sid, (d, _r) in ref.items() if d <= max_detour * 60 - 1.0}
    maybe = {sid for sid, (d, _r) in ref.items() if d <= max_detour * 60 + 1.0}
    ids = [s.station.id for s in got.stations]
    assert want <= set(ids) <= maybe
    for s in got.stations:
        d, r = ref[s.station.id]
        assert s.detour_minutes * 60 == pytest.approx(max(d, 0.0), abs=1.0), s.station.id
        assert s.minutes * 60 == pytest.approx(r, abs=1.0), s.station.id
    assert [s.detour_minutes for s in got.stations] == sorted(s.detour_minutes for s in got.stations)
    return len(ids)


@pytest.mark.parametrize("mode", ["ebike", "walk"])
def test_sip_detours_equal_networkx(sip, mode):
    stations = random_stations(sip, 150, seed=7)
    listed = 0
    for start, end in random_pairs(sip, 4, seed=11 if mode == "ebike" else 12):
        listed += check_against_reference(sip, mode, start, end, stations, max_detour=6.0 if mode == "ebike" else 20)
    assert listed >= 10      # (the comparison is not empty)


@pytest.mark.parametrize("mode", ["ebike", "car"])
def test_one_way_detours_equal_networkx(sip_oneway, mode):
    stations = random_stations(sip_oneway, 150, seed=8)
    listed = 0
    for start, end in random_pairs(sip_oneway, 4, seed=21 if mode == "ebike" else 22):
        listed += check_against_reference(sip_oneway, mode, start, end, stations, max_detour=8.0)
    assert listed >= 10


@pytest.mark.parametrize("mode", ["ebike", "walk"])
def test_search_to_gives_every_nodes_time_to_the_point(sip_oneway, mode):
    """Network.search_to (the reversed graph) against networkx from every node to a mid-edge point."""
    G = nx_graph(sip_oneway, mode)
    for lon, lat in random_pairs(sip_oneway, 3, seed=31)[0]:
        sn = sip_oneway.snap(lon, lat, mode=mode)
        H = with_points(G, sip_oneway, {"P": sn})
        ref = nx.single_source_dijkstra_path_length(H.reverse(copy=False), "P")
        got = sip_oneway.search_to(sn, mode=mode)
        assert got.shape == (sip_oneway.n_nodes + 1,) and got[-1] == 0
        want = np.array([ref.get(i, np.inf) for i in range(sip_oneway.n_nodes)])
        assert np.array_equal(np.isinf(got[:-1]), np.isinf(want))
        assert np.isinf(want).any() == (mode != "walk")      # one-way streets cut some nodes off by e-bike
        fin = np.isfinite(want)
        assert np.allclose(got[:-1][fin], want[fin], atol=1e-6)
        # bounded: the nodes within the limit, the same times
        lim = float(np.median(want[fin]))
        part = sip_oneway.search_to(sn, mode=mode, limit_s=lim)
        inside = want <= lim
        assert np.allclose(part[:-1][inside], want[inside], atol=1e-6) and np.isinf(part[:-1][want > lim + 1e-6]).all()


def block(oneway_bits):
    """Two parallel streets 1 km apart joined at both ends and the middle:
    south  0 -- 1 -- 2   (a one-way street 2 -> 1 -> 0 with ``oneway_bits``)
           |    |    |
    north  3 -- 4 -- 5   (two-way)"""
    lon = [120.00, 120.01, 120.02, 120.00, 120.01, 120.02]
    lat = [31.00, 31.00, 31.00, 31.01, 31.01, 31.01]
    u = [1, 2, 0, 1, 2, 3, 4]    # the south street's edges run east -> west: (1, 0) and (2, 1)
    v = [0, 1, 3, 4, 5, 4, 5]
    ow = [oneway_bits, oneway_bits, 0, 0, 0, 0, 0]
    return Network.from_arrays(lon, lat, u, v, highway="residential", oneway=ow, oneway_known=True,
                               name="block", settings=SETTINGS)


def test_a_one_way_street_built_for_the_test():
    riders = MODE_BIT["bike"] | MODE_BIT["ebike"] | MODE_BIT["car"]
    net = block(riders)
    # from the west end of the one-way street to its east end, a station half way along it
    x = Station(id="x", name="半路驿站", lon=120.015, lat=31.0)
    index = StationIndex.from_stations([x])
    start, end = (120.0, 31.0), (120.02, 31.0)
    east_west = GEOD.inv(120.0, 31.0, 120.01, 31.0)[2]
    north_south = GEOD.inv(120.0, 31.0, 120.0, 31.01)[2]
    # walking ignores the one-way street: straight along it, the station on the way
    walk = along_route(net, index, *start, *end, mode="walk", max_detour=1, method="network")
    assert walk.route_minutes * 60 == pytest.approx(2 * east_west / WALK_MPS, abs=1.0)
    assert [s.detour_minutes for s in walk.stations] == [pytest.approx(0.0, abs=1 / 60)]
    # riding keeps to it: round by the north street, and the station costs a loop
    ride = along_route(net, index, *start, *end, mode="ebike", max_detour=30, method="network")
    v = SETTINGS.speeds_kmh["ebike"] / 3.6
    assert ride.oneway_respected is True
    assert ride.route_minutes * 60 == pytest.approx((2 * north_south + 2 * east_west) / v, abs=1.0)
    # to the station: the whole way round to 2, then back half a block along the one-way street;
    # on: to 1, up to 4, along to 5, down to 2
    reach = (2 * north_south + 2 * east_west + east_west / 2) / v
    onward = (east_west / 2 + 2 * north_south + east_west) / v
    [s] = ride.stations
    assert s.minutes * 60 == pytest.approx(reach, abs=1.0)
    assert s.detour_minutes * 60 == pytest.approx(reach + onward - ride.route_minutes * 60, abs=1.0)
    assert check_against_reference(net, "ebike", start, end, [x], max_detour=30) == 1
    # and the other way, riding with the traffic, the station is on the way
    back = along_route(net, index, *end, *start, mode="ebike", max_detour=1, method="network")
    assert back.route_minutes * 60 == pytest.approx(2 * east_west / v, abs=1.0)
    assert [s.station.id for s in back.stations] == ["x"]


def test_a_destination_across_a_river_is_reached_by_the_bridge_far_away():
    """The way is thirty times the straight line: the first, guessed bound of the search from the start
    falls short of the destination, the second of a station just past it; the search goes as far as
    the way plus the detour allowed, and every station on the way is found."""
    # west bank 0 - 1 - 2 (bridge) - 3 - 4 - 5 east bank, 200 m apart across the river at 0 / 5; then on
    # to 6 (150 m past 5) and 7
    lon = [120.000, 120.015, 120.0315, 120.0315, 120.015, 120.000, 119.99843, 119.9965]
    lat = [31.000, 31.000, 31.000, 31.0018, 31.0018, 31.0018, 31.0018, 31.0018]
    net = Network.from_arrays(lon, lat, [0, 1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6, 7], highway="residential",
                              name="river", settings=SETTINGS)
    stations = [Station(id="bridge", name="桥头驿站", lon=120.0316, lat=31.0009),
                Station(id="across", name="对岸驿站", lon=120.0, lat=31.0020),
                Station(id="beyond", name="过了目的地的驿站", lon=119.9979, lat=31.0018)]
    index = StationIndex.from_stations(stations)
    start, end = (120.0, 31.0), (120.0, 31.0018)
    got = along_route(net, index, *start, *end, mode="ebike", max_detour=3, method="network")
    road_m = 2 * GEOD.inv(120.0, 31.0, 120.0315, 31.0)[2] + GEOD.inv(120.0315, 31.0, 120.0315, 31.0018)[2]
    v = SETTINGS.speeds_kmh["ebike"] / 3.6
    assert got.route_minutes * 60 == pytest.approx(road_m / v, abs=1.0)
    assert got.straight_m < road_m / 25
    assert [s.station.id for s in got.stations] == ["bridge", "across", "beyond"]
    bridge, _across, beyond = got.stations
    assert bridge.detour_minutes * 60 == pytest.approx(
        2 * GEOD.inv(120.0316, 31.0009, 120.0315, 31.0009)[2] / WALK_MPS, abs=1.0)     # off the road and back
    past = GEOD.inv(120.0, 31.0018, 119.9979, 31.0018)[2]
    assert beyond.minutes * 60 == pytest.approx((road_m + past) / v, abs=1.0)
    assert beyond.detour_minutes * 60 == pytest.approx(2 * past / v, abs=1.0)
    assert check_against_reference(net, "ebike", start, end, stations, 3) == 3


def test_circle_detours_equal_the_geodesic_formula():
    rng = np.random.default_rng(5)
    stations = [Station(id=f"c{i:03d}", name=f"站{i}", lon=float(rng.uniform(119.5, 121.5)),
                        lat=float(rng.uniform(30.8, 32.2))) for i in range(400)]
    index = StationIndex.from_stations(stations)
    listed = 0
    for mode in config.MODES:
        per_m = SETTINGS.detour_factor / (SETTINGS.speeds_kmh[mode] * 1000 / 60)
        for _ in range(3):
            a = (float(rng.uniform(119.6, 121.4)), float(rng.uniform(30.9, 32.1)))
            b = (float(rng.uniform(119.6, 121.4)), float(rng.uniform(30.9, 32.1)))
            max_detour = 10.0 if mode != "walk" else 40.0
            got = along_route(None, index, *a, *b, mode=mode, max_detour=max_detour, k=config.MAX_K,
                              settings=SETTINGS)
            assert got.method == "circle" and got.network is None and got.oneway_respected is None
            direct = GEOD.inv(*a, *b)[2]
            assert got.route_minutes == pytest.approx(direct * per_m, rel=1e-9)
            want = {}
            for st in stations:
                da = GEOD.inv(a[0], a[1], st.lon, st.lat)[2]
                db = GEOD.inv(st.lon, st.lat, b[0], b[1])[2]
                want[st.id] = ((da + db - direct) * per_m, da * per_m, da)
            ids = [s.station.id for s in got.stations]
            assert set(ids) == {k for k, w in want.items() if w[0] <= max_detour}
            for s in got.stations:
                d, r, m = want[s.station.id]
                assert s.detour_minutes == pytest.approx(d, abs=1e-6)
                assert s.minutes == pytest.approx(r, abs=1e-6)
                assert s.straight_m == pytest.approx(m, abs=1e-3)
            listed += len(ids)
    assert listed >= 20


def test_k_keeps_the_least_detours_and_ties_go_to_the_sooner():
    # three stations on the straight line (detour 0): the one reached sooner first; k cuts the rest
    stations = [Station(id=i, name=i, lon=lon, lat=31.3) for i, lon in (("b", 120.62), ("a", 120.64), ("c", 120.61))]
    index = StationIndex.from_stations(stations)
    r = along_route(None, index, 120.60, 31.3, 120.70, 31.3, mode="ebike", k=2, settings=SETTINGS)
    assert [s.station.id for s in r.stations] == ["c", "b"]


def test_auto_uses_the_network_only_where_one_covers_both_ends(sip):
    stations = random_stations(sip, 50, seed=3)
    index = StationIndex.from_stations(stations)
    w, s, e, n = sip.bounds
    inside = (float(sip.lon[0]), float(sip.lat[0]))
    far = (e + 0.2, n + 0.2)
    assert along_route({"sip": sip}, index, *inside, float(sip.lon[50]), float(sip.lat[50])).method == "network"
    assert along_route({"sip": sip}, index, *inside, *far, settings=SETTINGS).method == "circle"
    with pytest.raises(ValidationError) as exc:
        along_route({"sip": sip}, index, *inside, *far, method="network")
    assert exc.value.field == "method" and "to point" in exc.value.message
    with pytest.raises(ValidationError) as exc:
        along_route({"sip": sip}, index, *far, *inside, method="network")
    assert exc.value.field == "method" and "from point" in exc.value.message


@pytest.mark.parametrize(("kw", "field"), [
    ({"from_lat": 95.0}, "from_lat"), ({"to_lon": math.nan}, "to_lon"), ({"to_lat": "x"}, "to_lat"),
    ({"max_detour": 0}, "max_detour"), ({"max_detour": config.MAX_DETOUR_MINUTES + 1}, "max_detour"),
    ({"mode": "horse"}, "mode"), ({"k": 0}, "k"), ({"method": "teleport"}, "method"),
])
def test_bad_arguments_name_their_field(kw, field):
    args = {"from_lon": 120.6, "from_lat": 31.3, "to_lon": 120.7, "to_lat": 31.3}
    args.update({k: v for k, v in kw.items() if k in args})
    rest = {k: v for k, v in kw.items() if k not in args}
    with pytest.raises(ValidationError) as exc:
        along_route(None, None, args["from_lon"], args["from_lat"], args["to_lon"], args["to_lat"], **rest)
    assert exc.value.field == field


# -- stationmap along ----------------------------------------------------------------------------

@pytest.fixture
def cli_stations(tmp_path, monkeypatch, sip):
    from stationmap.store import StationStore

    stations = random_stations(sip, 80, seed=9) + [
        Station(id="cz1", name="常州驿站", lon=119.97, lat=31.785, kinds=("hot_tea",), opening_hours="Mo-Su 08:00-20:00"),
        Station(id="cz2", name="常州夜站", lon=119.99, lat=31.80, kinds=("rest",), opening_hours="22:00-06:00")]
    url = f"sqlite:///{tmp_path}/along.sqlite"
    monkeypatch.setenv("STATIONMAP_DATABASE_URL", url)
    store = StationStore(url)
    store.create_all()
    store.write_many(stations)
    return stations


def test_cli_along_on_sip_equals_networkx(sip, cli_stations):
    from tests.support.cli import run

    start, end = (120.700, 31.300), (120.745, 31.330)
    res = run("along", "--from-lon", start[0], "--from-lat", start[1], "--to-lon", end[0], "--to-lat", end[1],
              "--max-detour", 6, "--k", 50, "--format", "json")
    assert res.exit_code == 0, res.output
    body = json.loads(res.stdout)
    assert body["method"] == "network" and body["network"] == "sip" and body["oneway_respected"] is False
    assert "no one-way data" in body["oneway_note"]
    route_s, ref = reference(sip, "ebike", start, end, cli_stations[:80])
    assert body["route_minutes"] * 60 == pytest.approx(route_s, abs=1.0)
    assert {r["id"] for r in body["stations"]} >= {k for k, (d, _r) in ref.items() if d <= 6 * 60 - 1}
    assert len(body["stations"]) >= 3
    for r in body["stations"]:
        assert r["detour_minutes"] * 60 == pytest.approx(max(ref[r["id"]][0], 0), abs=1.0)
        assert r["minutes"] * 60 == pytest.approx(ref[r["id"]][1], abs=1.0)
    text = run("along", "--from-lon", start[0], "--from-lat", start[1], "--to-lon", end[0], "--to-lat", end[1],
               "--max-detour", 6, "--k", 2)
    assert "along the roads of network 'sip'" in text.stdout and "no one-way data" in text.stdout
    assert body["stations"][0]["name"] in text.stdout and "min detour" in text.stdout


def test_cli_along_elsewhere_is_the_circle_in_any_datum(cli_stations):
    from stationmap.coords import wgs84_to_gcj02
    from tests.support.cli import run

    a, b = (119.95, 31.78), (120.00, 31.81)
    wgs = run("along", "--from-lon", a[0], "--from-lat", a[1], "--to-lon", b[0], "--to-lat", b[1], "--max-detour", 10,
              "--at", "2026-12-07T12:00", "--format", "json")
    assert wgs.exit_code == 0, wgs.output
    body = json.loads(wgs.stdout)
    assert body["method"] == "circle" and [s["id"] for s in body["stations"]] == ["cz2", "cz1"]   # cz2 nearer the line
    cz2, cz1 = body["stations"]
    assert cz1["open_now"] is True and cz2["open_now"] is False and cz2["opens_at"] == "2026-12-07T22:00:00+08:00"
    ga, gb = wgs84_to_gcj02(*a), wgs84_to_gcj02(*b)
    gcj = run("along", "--from-lon", ga[0], "--from-lat", ga[1], "--to-lon", gb[0], "--to-lat", gb[1], "--datum",
              "gcj02", "--max-detour", 10, "--at", "2026-12-07T12:00", "--format", "json")
    for x, y in zip(json.loads(gcj.stdout)["stations"], body["stations"]):
        assert x["id"] == y["id"] and x["detour_minutes"] == pytest.approx(y["detour_minutes"], abs=1e-3)
    night = run("along", "--from-lon", a[0], "--from-lat", a[1], "--to-lon", b[0], "--to-lat", b[1], "--max-detour",
                10, "--at", "2026-12-07T23:00", "--open-now", "--format", "json")
    assert [s["id"] for s in json.loads(night.stdout)["stations"]] == ["cz2"]
    none = run("along", "--from-lon", a[0], "--from-lat", a[1], "--to-lon", b[0], "--to-lat", b[1], "--kind",
               "legal_aid")
    assert none.exit_code == 0 and "no station within 3 min of detour" in none.stdout


def test_cli_along_errors_are_one_line(cli_stations):
    from tests.support.cli import run

    res = run("along", "--from-lon", 119.95, "--from-lat", 31.78, "--to-lon", 120.0, "--to-lat", 31.81,
              "--method", "network")
    assert res.exit_code == 1 and res.stderr.count("\n") == 1
    assert "no road network covers the from point" in res.stderr
    res = run("along", "--from-lon", 119.95, "--from-lat", 95, "--to-lon", 120.0, "--to-lat", 31.81)
    assert res.exit_code == 1 and "from_lat must be in [-90, 90]" in res.stderr
    res = run("along", "--from-lon", 119.95, "--from-lat", 31.78, "--to-lon", 120.0, "--to-lat", 31.81,
              "--max-detour", 0)
    assert res.exit_code == 2     # a usage error, from click
