"""stationmap.reach: isochrones, ranking by travel time, the circle fallback.

References: networkx Dijkstra on a graph built here from the edge list (the
query point and each station inserted as nodes on their edges), pieces of
reached edges cut by hand, shapely buffers, pyproj.Geod distances and areas.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import networkx as nx
import numpy as np
import pytest
import shapely
from pyproj import Geod, Transformer

from stationmap import config
from stationmap.errors import ValidationError
from stationmap.index import StationIndex
from stationmap.model import Station
from stationmap.network import Network
from stationmap.reach import (
    METHODS, choose_network, circle_minutes, circle_radius_m, isochrone, pieces_polygon, rank_stations,
)

ROOT = Path(__file__).resolve().parents[2]
SIP_NPZ = ROOT / "data" / "roads" / "sip.npz"
ONEWAY_OSM = ROOT / "tests" / "data" / "network_oneway.osm"
SETTINGS = config.load(environ={})
GEOD = Geod(ellps="WGS84")
WALK = SETTINGS.speeds_kmh["walk"] / 3.6


@pytest.fixture(scope="module")
def sip():
    return Network.load(SIP_NPZ, settings=SETTINGS)


@pytest.fixture(scope="module")
def stations(sip):
    """80 stations near SIP's roads (0-120 m off a random node) and two in Jinji Lake."""
    rng = np.random.default_rng(11)
    out = []
    for i, node in enumerate(rng.choice(sip.n_nodes, 80, replace=False)):
        out.append(Station(id=f"s{i:02d}", name=f"驿站{i}", lon=float(sip.lon[node] + rng.uniform(-1e-3, 1e-3)),
                           lat=float(sip.lat[node] + rng.uniform(-8e-4, 8e-4)),
                           kinds=("rest",) if i % 3 else ("hot_tea",)))
    out.append(Station(id="lake1", name="湖心", lon=120.693, lat=31.318))
    out.append(Station(id="lake2", name="湖心2", lon=120.690, lat=31.316, kinds=("hot_tea",)))
    return out


@pytest.fixture()
def index(stations):
    return StationIndex.from_stations(stations)


from tests.support.network_reference import nx_graph, split_at, whole_network_times  # noqa: E402


def utm(net):
    return Transformer.from_crs("EPSG:4326", net.crs, always_xy=True)


def to_metric(net, geom):
    tr = utm(net)
    return shapely.transform(geom, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1])))


def reference_times(net, mode, lon, lat, limit_s=None):
    """networkx seconds from a WGS-84 point to every node, the point inserted on its edge.

    Returns (dist {node: s}, H, snap, off-road seconds)."""
    sn = net.snap(lon, lat, mode=mode)
    tr = utm(net)
    qx, qy = tr.transform(lon, lat)
    px, py = tr.transform(sn.lon, sn.lat)
    off = math.hypot(qx - px, qy - py) / WALK
    H = split_at(nx_graph(net, mode), net, sn, mode)
    cutoff = None if limit_s is None else limit_s - off
    dist, paths = nx.single_source_dijkstra(H, "p", cutoff=cutoff, weight="weight") if (
        cutoff is None or cutoff >= 0) else ({}, {})
    H.graph["paths"] = paths
    return dist, H, sn, off


def reference_pieces(net, mode, lon, lat, minutes):
    """Reached road pieces (metric LineStrings) cut by hand from networkx times."""
    B = minutes * 60.0
    dist, H, sn, off = reference_times(net, mode, lon, lat, B)
    tr = utm(net)
    x, y = tr.transform(net.lon, net.lat)
    px, py = tr.transform(sn.lon, sn.lat)
    qx, qy = tr.transform(lon, lat)

    def xy(node):
        return (px, py) if node == "p" else (x[node], y[node])

    f0 = min(1.0, B / off) if off > 0 else 1.0
    pieces = [shapely.LineString([(qx, qy), (qx + (px - qx) * f0, qy + (py - qy) * f0)])]
    left = B - off
    for a, da in dist.items():
        for b, attr in H[a].items():
            f = 1.0 if attr["weight"] <= left - da else (left - da) / attr["weight"]
            if f <= 0:
                continue
            (ax, ay), (bx, by) = xy(a), xy(b)
            pieces.append(shapely.LineString([(ax, ay), (ax + (bx - ax) * f, ay + (by - ay) * f)]))
    return [p for p in pieces if p.length > 0]


def station_reference(net, mode, lon, lat, st, dist, H, sn, off):
    """networkx seconds and metres from the query to one station (inserted on its edge)."""
    try:
        ss = net.snap(st.lon, st.lat, mode=mode)
    except ValidationError:
        return math.inf, math.inf
    u, v = int(net.edge_u[ss.edge]), int(net.edge_v[ss.edge])
    L = float(net.edge_length_m[ss.edge])
    best = (math.inf, math.inf)
    G = H
    cand = []
    for a, frac in ((u, ss.t), (v, 1 - ss.t)):
        b = v if a == u else u
        if a in dist and G.has_edge(a, b):
            cand.append((dist[a] + G[a][b]["weight"] * frac, a, L * frac))
    if ss.edge == sn.edge:                       # on the query's own edge
        if ss.t >= sn.t and G.has_edge(u, v):
            cand.append((G[u][v]["weight"] * (ss.t - sn.t), "p", L * (ss.t - sn.t)))
        if ss.t <= sn.t and G.has_edge(v, u):
            cand.append((G[v][u]["weight"] * (sn.t - ss.t), "p", L * (sn.t - ss.t)))
    for secs, a, extra in cand:
        if secs < best[0]:
            if a == "p":
                road = extra
            else:
                path = H.graph["paths"][a]
                road = sum(H[i][j]["length"] for i, j in zip(path[:-1], path[1:])) + extra
            best = (secs, road)
    if not math.isfinite(best[0]):
        return best
    return off + best[0] + ss.distance_m / WALK, sn.distance_m + best[1] + ss.distance_m


# -- circle ----------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", config.MODES)
def test_circle_minutes_is_distance_times_detour_over_speed(mode):
    v = {"walk": 4.8, "bike": 12.0, "ebike": 16.0, "car": 30.0}[mode]
    assert circle_minutes(1000.0, mode, SETTINGS) == pytest.approx(1000 * 1.3 / (v * 1000 / 60))
    np.testing.assert_allclose(circle_minutes(np.array([0.0, 500.0]), mode, SETTINGS),
                               [0.0, 500 * 1.3 / (v * 1000 / 60)])
    assert circle_radius_m(15, mode, SETTINGS) == pytest.approx(15 * v * 1000 / 60 / 1.3)


def test_circle_isochrone_far_from_any_network(sip, index):
    lon, lat = 119.95, 31.78                       # Changzhou: no network there
    iso = isochrone(lon, lat, 15, "ebike", network=sip, index=index, settings=SETTINGS)
    assert iso.method == "circle" and iso.network is None
    r = 15 * 16000 / 60 / 1.3
    assert iso.area_km2 == pytest.approx(math.pi * r * r / 1e6, rel=0.01)
    geod_area = abs(GEOD.geometry_area_perimeter(iso.polygon)[0]) / 1e6
    assert iso.area_km2 == pytest.approx(geod_area, rel=0.005)
    edge = np.array(iso.polygon.exterior.coords)
    d = GEOD.inv(np.full(len(edge), lon), np.full(len(edge), lat), edge[:, 0], edge[:, 1])[2]
    np.testing.assert_allclose(d, r, rtol=1e-9)
    assert iso.stations == []                      # all stations are in SIP, 100 km away


def test_circle_ranking_uses_straight_line_estimate(index, stations):
    lon, lat = 120.72, 31.31
    res = rank_stations(None, index, lon, lat, mode="bike", k=5, settings=SETTINGS)
    assert res.method == "circle"
    d = np.asarray(GEOD.inv(np.full(len(stations), lon), np.full(len(stations), lat),
                            np.array([s.lon for s in stations]), np.array([s.lat for s in stations]))[2])
    order = np.argsort(d)[:5]
    assert [s.station.id for s in res.stations] == [stations[i].id for i in order]
    for got, i in zip(res.stations, order):
        assert got.straight_m == pytest.approx(d[i], abs=1e-3)
        assert got.minutes == pytest.approx(d[i] * 1.3 / (12000 / 60), rel=1e-9)
        assert got.distance_m == pytest.approx(d[i] * 1.3, rel=1e-9)
    within = rank_stations(None, index, lon, lat, mode="bike", k=100, minutes=5, settings=SETTINGS)
    assert all(s.minutes <= 5 + 1e-9 for s in within.stations)
    assert len(within.stations) == int((d * 1.3 / 200 <= 5).sum())


# -- network isochrones ----------------------------------------------------------------------

SOURCES = [(120.72, 31.31), (120.705, 31.326), (120.75, 31.33), (120.688, 31.3005)]


@pytest.mark.slow
@pytest.mark.parametrize("mode", config.MODES)
def test_isochrone_holds_the_reached_edges_and_stays_close_to_them(sip, mode):
    for lon, lat in SOURCES:
        minutes = 15 if mode != "car" else 6
        iso = isochrone(lon, lat, minutes, mode, network=sip, settings=SETTINGS)
        assert iso.method == "network" and iso.network == "sip"
        poly = to_metric(sip, iso.polygon)
        assert poly.is_valid and not poly.is_empty
        pieces = np.array(reference_pieces(sip, mode, lon, lat, minutes))
        assert len(pieces) > 100
        lengths = shapely.length(pieces)
        shapely.prepare(poly)
        whole = shapely.contains(poly, pieces)
        inside = np.where(whole, lengths, 0.0)
        inside[~whole] = shapely.length(shapely.intersection(pieces[~whole], poly))
        assert inside.sum() / lengths.sum() >= 0.99, (mode, lon, lat)
        # (quad_segs=2 draws the buffers a little small: the check only gets stricter)
        buffered = shapely.union_all(shapely.buffer(pieces, 50.0, quad_segs=2))
        assert poly.area <= 1.5 * buffered.area, (mode, lon, lat, poly.area / buffered.area)
        assert iso.area_km2 == pytest.approx(poly.area / 1e6, rel=1e-6)
        geod_area = abs(GEOD.geometry_area_perimeter(iso.polygon)[0]) / 1e6
        assert iso.area_km2 == pytest.approx(geod_area, rel=2e-3)


def test_pieces_polygon_holds_random_segments():
    rng = np.random.default_rng(3)
    for res in (7.0, 25.0, 60.0):
        n = 400
        x0 = rng.uniform(0, 3000, n)
        y0 = rng.uniform(0, 2000, n)
        ang = rng.uniform(0, 2 * np.pi, n)
        L = rng.exponential(80, n)
        dx, dy = L * np.cos(ang), L * np.sin(ang)
        geom, cell = pieces_polygon(x0, y0, dx, dy, resolution_m=res, min_hole_m2=0)
        assert cell == res and geom.is_valid
        segs = shapely.linestrings(np.stack([np.column_stack([x0, y0]), np.column_stack([x0 + dx, y0 + dy])], 1))
        inside = shapely.length(shapely.intersection(segs, geom))
        np.testing.assert_allclose(inside, L, rtol=1e-9, atol=1e-6)
        # and no farther from them than two cell diagonals
        near = shapely.union_all(shapely.buffer(segs, 2.0 * res * math.sqrt(2)))
        assert shapely.difference(geom, near).area < 1e-6 * geom.area


def test_traced_rings_match_contourpy_on_random_grids():
    """The tracer (marching squares, compiled) against contourpy's filled contours at 0.5
    on the same grid of nodes: the same shape except inside saddle cells (two marked
    corners facing each other, which the two may join or not), every marked node inside."""
    import contourpy

    from stationmap.reach.outline import Outline

    rng = np.random.default_rng(21)
    for trial in range(60):
        H, W = rng.integers(6, 40, 2)
        m0 = rng.random((H, W)) < rng.uniform(0.05, 0.6)
        m0[:2] = m0[-2:] = False
        m0[:, :2] = m0[:, -2:] = False
        cells = np.flatnonzero(m0.ravel())
        if not len(cells):
            continue
        out = Outline.trace(cells, W, 1.0, 0.0, 0.0, 0.0)
        geom = out.geometry()
        assert geom.is_valid, trial
        assert out.area_m2 == pytest.approx(geom.area, abs=1e-9)
        # the nodes: the four corners of each marked cell (cell (i, j) has its lower-left corner at (j, i))
        M = np.zeros((H + 1, W + 1))
        for di in (0, 1):
            for dj in (0, 1):
                M[di:di + H, dj:dj + W] = np.maximum(M[di:di + H, dj:dj + W], m0)
        gen = contourpy.contour_generator(z=M, name="serial", fill_type=contourpy.FillType.OuterOffset,
                                          corner_mask=False)
        pts, offs = gen.filled(0.5, 2.0)
        ref = shapely.union_all([shapely.Polygon(p[o[0]:o[1]], [p[a:b] for a, b in zip(o[1:-1], o[2:])])
                                 for p, o in zip(pts, offs)])
        b = M.astype(int)
        case = b[:-1, :-1] + 2 * b[:-1, 1:] + 4 * b[1:, 1:] + 8 * b[1:, :-1]
        saddles = int(((case == 5) | (case == 10)).sum())
        assert shapely.symmetric_difference(geom, ref).area <= 0.5 * saddles + 1e-9, trial
        ii, jj = np.nonzero(M)
        assert shapely.contains_xy(geom, jj, ii).all()
    # holes below the limit are filled, larger ones kept
    m0 = np.zeros((20, 20), bool)
    m0[3:17, 3:17] = True         # 15 x 15 nodes: 225 cell², less four corners cut by 1/8
    m0[6:8, 6:8] = False          # a hole of one node: 0.5 cell²
    m0[10:15, 10:15] = False      # 4 x 4 nodes: 16 cell², less four corners: 15.5
    geom = Outline.trace(np.flatnonzero(m0.ravel()), 20, 1.0, 0.0, 0.0, 1.0).geometry()
    assert geom.exterior.is_ccw and len(geom.interiors) == 1 and not geom.interiors[0].is_ccw
    assert geom.area == pytest.approx(225 - 0.5 - 15.5)


@pytest.mark.parametrize("mode", ["walk", "ebike", "car"])
def test_isochrone_on_the_contracted_graph_draws_what_the_full_graph_draws(sip, mode):
    """The fast path (junction times, precomputed stars, compiled kernels) against the
    plain one: every reached arc of the full graph cut by hand-written numpy and drawn
    by :func:`pieces_polygon` on the same grid."""
    from stationmap.reach.outline import ReachSearch

    for lon, lat in SOURCES:
        minutes = 15 if mode != "car" else 6
        sn = sip.snap(lon, lat, mode=mode)
        fast = ReachSearch(sip, sn, mode, minutes * 60.0, lon, lat)
        out = fast.outline()
        assert out is not None
        full = ReachSearch(sip, sn, mode, minutes * 60.0, lon, lat)
        ref, _ = pieces_polygon(*full.pieces())
        geom = out.geometry()
        assert geom.is_valid
        # (the two grids are offset: compare areas, and the shapes up to a band of two cells)
        assert out.area_m2 == pytest.approx(ref.area, rel=0.03)
        c = out.cell
        assert shapely.difference(geom, shapely.buffer(ref, 2 * c)).area < 1e-6 * geom.area
        assert shapely.difference(ref, shapely.buffer(geom, 2 * c)).area < 1e-6 * ref.area


def test_a_walk_to_the_road_longer_than_the_time_is_cut_where_the_time_runs_out(sip):
    sn = sip.snap(120.7005, 31.3078, mode="walk")          # a point ~190 m from the road
    walk = sn.distance_m / WALK
    assert 100 < sn.distance_m < SETTINGS.max_snap_m and walk > 60
    minutes = 0.5 * walk / 60.0
    iso = isochrone(120.7005, 31.3078, minutes, "walk", network=sip, settings=SETTINGS, resolution_m=10)
    poly = to_metric(sip, iso.polygon)
    tr = utm(sip)
    qx, qy = tr.transform(120.7005, 31.3078)
    px, py = tr.transform(sn.lon, sn.lat)
    half = shapely.LineString([(qx, qy), (0.5 * (qx + px), 0.5 * (qy + py))])
    assert shapely.intersection(half, poly).length == pytest.approx(half.length, rel=1e-9)
    assert shapely.distance(shapely.Point(px, py), poly) > 0.5 * half.length - 30   # the road is not reached
    c = iso.resolution_m
    assert poly.area < (half.length + 4 * c) * 4 * c


def test_isochrone_stations_match_networkx(sip, index, stations):
    lon, lat, minutes = 120.72, 31.31, 15
    for mode in ("walk", "ebike"):
        iso = isochrone(lon, lat, minutes, mode, network=sip, index=index, settings=SETTINGS)
        dist, H, sn, off = reference_times(sip, mode, lon, lat)
        ref = {st.id: station_reference(sip, mode, lon, lat, st, dist, H, sn, off) for st in stations}
        got = {s.station.id: s for s in iso.stations}
        want = {k for k, (secs, _) in ref.items() if secs <= minutes * 60 - 1e-6}
        edge = {k for k, (secs, _) in ref.items() if abs(secs - minutes * 60) < 1e-6}
        assert want <= got.keys() <= want | edge
        assert len(want) >= 3
        for k, s in got.items():
            assert s.minutes * 60 == pytest.approx(ref[k][0], abs=1.0)
            assert s.distance_m == pytest.approx(ref[k][1], rel=1e-6, abs=0.01)
        assert [s.minutes for s in iso.stations] == sorted(s.minutes for s in iso.stations)
        assert "lake1" not in got


@pytest.mark.parametrize("mode", config.MODES)
def test_rank_stations_matches_networkx(sip, index, stations, mode):
    lon, lat = 120.745, 31.318
    res = rank_stations(sip, index, lon, lat, mode=mode, k=8, settings=SETTINGS)
    assert res.method == "network" and res.network == "sip"
    dist, H, sn, off = reference_times(sip, mode, lon, lat)
    ref = sorted((station_reference(sip, mode, lon, lat, st, dist, H, sn, off) + (st.id,) for st in stations))
    ref = [r for r in ref if math.isfinite(r[0])][:8]
    assert [s.station.id for s in res.stations] == [r[2] for r in ref]
    for s, (secs, metres, _) in zip(res.stations, ref):
        assert s.minutes * 60 == pytest.approx(secs, abs=1.0)
        assert s.distance_m == pytest.approx(metres, rel=1e-6, abs=0.01)
    assert res.snap_m == pytest.approx(sn.distance_m)
    # a time limit keeps the fastest ones only
    lim = rank_stations(sip, index, lon, lat, mode=mode, k=50, minutes=ref[2][0] / 60 + 1e-6, settings=SETTINGS)
    assert [s.station.id for s in lim.stations] == [r[2] for r in ref[:3]]


def _whole_network_ranking(net, index, lon, lat, mode):
    """Every station on the network timed by one unlimited search of the whole network
    (what rank_stations did before it searched with a growing budget): a function of the
    kinds asked for and k, giving (minutes, id, metres) fastest first, ties by id."""
    sts = index.stations()
    secs, metres = whole_network_times(net, mode, lon, lat, sts)
    rows = sorted((t / 60.0, s.id, m, s.kinds) for s, t, m in zip(sts, secs.tolist(), metres.tolist())
                  if math.isfinite(t))

    def ranking(k, kinds=None):
        return [r[:3] for r in rows if not kinds or set(kinds) & set(r[3])][:k]
    return ranking


@pytest.mark.parametrize("mode", config.MODES)
def test_budgeted_ranking_equals_the_whole_network_search(sip, index, mode):
    """rank_stations searches with a growing time budget; its answer must be the one a
    search of the whole network gives: 30 random points, k from 1 to all stations."""
    rng = np.random.default_rng(5)
    w, s, e, n = sip.bounds
    done = 0
    for _ in range(60):
        lon, lat = float(rng.uniform(w, e)), float(rng.uniform(s, n))
        if not sip.covers(lon, lat, mode=mode):
            continue
        whole = _whole_network_ranking(sip, index, lon, lat, mode)
        for k in (1, 5, 40, 100):
            kinds = ["hot_tea"] if k == 40 else None
            got = rank_stations(sip, index, lon, lat, mode=mode, k=k, kinds=kinds, settings=SETTINGS)
            want = whole(k, kinds)
            assert [x.station.id for x in got.stations] == [r[1] for r in want], (lon, lat, k)
            assert [x.minutes for x in got.stations] == pytest.approx([r[0] for r in want], abs=1e-9)
            assert [x.distance_m for x in got.stations] == pytest.approx([r[2] for r in want], abs=1e-6)
        done += 1
        if done == 30:
            break
    assert done == 30


@pytest.mark.parametrize("mode", config.MODES)
def test_isochrone_stations_equal_the_whole_network_search(sip, index, mode):
    """An isochrone's stations (a search that stops at the time limit) are those a search of
    the whole network reaches within the minutes, with its times and route lengths, fastest
    first (ties by id): 12 random points, 5 to 20 minutes."""
    rng = np.random.default_rng(17)
    w, s, e, n = sip.bounds
    sts = index.stations()
    done = found = 0
    for _ in range(40):
        lon, lat = float(rng.uniform(w, e)), float(rng.uniform(s, n))
        if not sip.covers(lon, lat, mode=mode):
            continue
        minutes = float(rng.choice([5.0, 10.0, 20.0]))
        iso = isochrone(lon, lat, minutes, mode, network=sip, index=index, settings=SETTINGS)
        secs, metres = whole_network_times(sip, mode, lon, lat, sts)
        B = minutes * 60.0
        ref = {st.id: (t, m) for st, t, m in zip(sts, secs.tolist(), metres.tolist())}
        want = {k for k, (t, _) in ref.items() if t <= B - 1e-6}
        edge = {k for k, (t, _) in ref.items() if abs(t - B) < 1e-6}
        got = [x.station.id for x in iso.stations]
        assert want <= set(got) <= want | edge, (lon, lat, minutes)
        assert got == sorted(got, key=lambda k: (ref[k][0] / 60.0, k))
        assert [x.minutes for x in iso.stations] == pytest.approx([ref[k][0] / 60.0 for k in got], abs=1e-9)
        assert [x.distance_m for x in iso.stations] == pytest.approx([ref[k][1] for k in got], abs=1e-6)
        found += len(got)
        done += 1
        if done == 12:
            break
    assert done == 12 and found >= 5


def test_rank_filters_kinds(sip, index):
    res = rank_stations(sip, index, 120.745, 31.318, mode="ebike", k=5, kinds=["hot_tea"], settings=SETTINGS)
    assert res.stations and all("hot_tea" in s.station.kinds for s in res.stations)


def test_across_jinji_lake_the_network_time_exceeds_the_straight_line_estimate(sip):
    """金鸡湖: from the lake's west shore (120.6805, 31.3180) to a station on its east shore
    (120.7060, 31.3225), 2.5 km apart over the water.  The roads go round the lake
    (or through the 金鸡湖隧道 tunnel road south of it), so the network time must
    exceed the circle estimate (straight line x 1.3 / speed), for every mode."""
    west = (120.6805, 31.3180)
    east = Station(id="east-shore", name="湖东驿站", lon=120.7060, lat=31.3225)
    idx = StationIndex.from_stations([east])
    straight = GEOD.inv(*west, east.lon, east.lat)[2]
    assert 2400 < straight < 2600
    for mode in config.MODES:
        net = rank_stations(sip, idx, *west, mode=mode, k=1, method="network", settings=SETTINGS)
        circ = rank_stations(sip, idx, *west, mode=mode, k=1, method="circle", settings=SETTINGS)
        assert net.method == "network" and circ.method == "circle"
        (n1,), (c1,) = net.stations, circ.stations
        assert c1.minutes == pytest.approx(circle_minutes(straight, mode, SETTINGS))
        assert n1.minutes > c1.minutes, mode
        assert n1.distance_m > 2 * straight        # independent check below with networkx
    dist, H, sn, off = reference_times(sip, "walk", *west)
    secs, metres = station_reference(sip, "walk", *west, east, dist, H, sn, off)
    assert metres > 2 * straight and secs / 60 > circle_minutes(straight, "walk", SETTINGS)


# -- choosing a method -----------------------------------------------------------------------

def test_auto_uses_the_network_where_it_covers_the_point(sip, index):
    nets = {"sip": sip}
    assert choose_network(nets, 120.72, 31.31, mode="ebike", settings=SETTINGS)[0] is sip
    assert choose_network(nets, 119.95, 31.78, mode="ebike", settings=SETTINGS) == (None, None)
    # inside the extent, but in the middle of Jinji Lake: farther than max_snap_m from any road
    assert choose_network(nets, 120.693, 31.318, mode="ebike", settings=SETTINGS) == (None, None)
    r = rank_stations(nets, index, 120.693, 31.318, mode="ebike", settings=SETTINGS)
    assert r.method == "circle"
    assert rank_stations(nets, index, 120.72, 31.31, settings=SETTINGS).method == "network"
    assert rank_stations(nets, index, 120.72, 31.31, method="circle", settings=SETTINGS).method == "circle"
    with pytest.raises(ValidationError, match=r"m from the nearest road .* limit is 500 m"):
        rank_stations(nets, index, 120.693, 31.318, method="network", settings=SETTINGS)
    with pytest.raises(ValidationError, match="none is configured"):
        rank_stations({}, index, 120.72, 31.31, method="network", settings=SETTINGS)
    wide = replace(SETTINGS, max_snap_m=2000.0)
    assert choose_network(nets, 120.693, 31.318, mode="ebike", settings=wide)[0] is sip
    assert METHODS == ("auto", "network", "circle")


@pytest.mark.parametrize("kw, field", [
    ({"minutes": 0}, "minutes"), ({"minutes": -3}, "minutes"), ({"minutes": "soon"}, "minutes"),
    ({"minutes": 1e9}, "minutes"), ({"minutes": float("nan")}, "minutes"), ({"mode": "horse"}, "mode"),
    ({"method": "teleport"}, "method"), ({"lat": 91}, "lat"), ({"lon": "x"}, "lon"),
    ({"resolution_m": 0}, "resolution_m"),
])
def test_bad_isochrone_arguments(sip, kw, field):
    args = {"lon": 120.72, "lat": 31.31, "minutes": 15, "mode": "ebike"}
    args.update(kw)
    with pytest.raises(ValidationError) as ei:
        isochrone(args.pop("lon"), args.pop("lat"), network=sip, settings=SETTINGS, **args)
    assert ei.value.field == field


@pytest.mark.parametrize("kw, field", [({"k": 0}, "k"), ({"k": 1001}, "k"), ({"k": True}, "k"),
                                        ({"minutes": -1}, "minutes"), ({"mode": "plane"}, "mode")])
def test_bad_rank_arguments(sip, index, kw, field):
    with pytest.raises(ValidationError) as ei:
        rank_stations(sip, index, 120.72, 31.31, settings=SETTINGS, **kw)
    assert ei.value.field == field


# -- stations change ----------------------------------------------------------------------------

def test_moved_and_new_stations_are_snapped_again(sip, index, stations):
    lon, lat = 120.72, 31.31
    before = {s.station.id: s.minutes for s in rank_stations(sip, index, lon, lat, k=1000, settings=SETTINGS).stations}
    first = min(before, key=before.get)
    st = index.get(first)
    moved = replace(st, lon=120.765, lat=31.335)          # 5 km away
    index.update(moved)
    after = {s.station.id: s.minutes for s in rank_stations(sip, index, lon, lat, k=1000, settings=SETTINGS).stations}
    assert after[first] > before[first] + 5
    index.add(Station(id="new", name="新驿站", lon=lon + 1e-4, lat=lat))
    top = rank_stations(sip, index, lon, lat, k=1, settings=SETTINGS).stations[0]
    assert top.station.id == "new" and top.minutes < 1
    index.remove("new")
    assert all(s.station.id != "new" for s in rank_stations(sip, index, lon, lat, k=1000, settings=SETTINGS).stations)


# -- one-way streets, GeoJSON ------------------------------------------------------------------------

def test_car_isochrone_follows_one_way_streets():
    net = Network.build(ONEWAY_OSM, settings=SETTINGS)
    iso = isochrone(120.7000, 31.3000, 5, "car", network=net, settings=SETTINGS, resolution_m=10)
    poly = to_metric(net, iso.polygon)
    tr = utm(net)

    def seg(a, b):
        return shapely.LineString([tr.transform(*a), tr.transform(*b)])

    east = seg((120.7000, 31.3000), (120.7022, 31.3000))       # one-way, the right way
    north = seg((120.7000, 31.3010), (120.7022, 31.3010))      # reached only through the footway or private road
    assert shapely.intersection(east, poly).length == pytest.approx(east.length, rel=1e-9)
    assert shapely.intersection(north, poly).length < 1e-9
    walk = to_metric(net, isochrone(120.7022, 31.3000, 5, "walk", network=net, settings=SETTINGS).polygon)
    assert shapely.intersection(east, walk).length == pytest.approx(east.length, rel=1e-9)


def test_geojson_output(sip, index):
    iso = isochrone(120.72, 31.31, 10, "ebike", network=sip, index=index, settings=SETTINGS)
    gj = iso.to_geojson()
    assert gj["type"] == "FeatureCollection"
    area, *points = gj["features"]
    assert area["properties"]["role"] == "isochrone" and area["properties"]["method"] == "network"
    assert area["properties"]["datum"] == "wgs84" and area["properties"]["minutes"] == 10
    assert area["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert shapely.geometry.shape(area["geometry"]).is_valid
    assert len(points) == len(iso.stations) and all(p["properties"]["role"] == "station" for p in points)
    assert [p["properties"]["id"] for p in points] == [s.station.id for s in iso.stations]
    d = rank_stations(sip, index, 120.72, 31.31, k=3, settings=SETTINGS).to_dict()
    assert d["method"] == "network" and len(d["stations"]) == 3 and d["stations"][0]["minutes"] >= 0


# -- command line ---------------------------------------------------------------------------------

@pytest.fixture
def cli_db(tmp_path, monkeypatch, stations):
    from stationmap.store import StationStore

    url = f"sqlite:///{tmp_path}/reach.sqlite"
    monkeypatch.setenv("STATIONMAP_DATABASE_URL", url)
    store = StationStore(url)
    store.create_all()
    store.write_many(stations)
    return url


def _cli(*args):
    from click.testing import CliRunner

    from stationmap.cli import main

    res = CliRunner().invoke(main, [str(a) for a in args])
    assert res.exception is None or isinstance(res.exception, SystemExit), (res.exception, res.output)
    assert "Traceback" not in res.output
    return res


def test_cli_reach_geojson_matches_networkx(sip, cli_db, stations):
    lon, lat = 120.72, 31.31
    res = _cli("reach", "--lat", lat, "--lon", lon, "--minutes", 8, "--mode", "ebike", "--format", "geojson")
    assert res.exit_code == 0, res.output
    gj = json.loads(res.output)
    area, *points = gj["features"]
    assert area["properties"]["method"] == "network" and area["properties"]["network"] == "sip"
    assert area["properties"]["oneway_respected"] is False       # the SIP GeoPackage has no one-way data
    dist, H, sn, off = reference_times(sip, "ebike", lon, lat)
    byid = {s.id: s for s in stations}
    want = {s.id for s in stations
            if station_reference(sip, "ebike", lon, lat, s, dist, H, sn, off)[0] <= 8 * 60}
    assert {p["properties"]["id"] for p in points} == want and want
    for p in points:
        secs, _ = station_reference(sip, "ebike", lon, lat, byid[p["properties"]["id"]], dist, H, sn, off)
        assert p["properties"]["minutes"] * 60 == pytest.approx(secs, abs=1.0)


def test_cli_reach_text_and_datums(cli_db):
    from stationmap.coords import wgs84_to_gcj02

    res = _cli("reach", "--lat", 31.31, "--lon", 120.72, "--minutes", 10)
    assert res.exit_code == 0 and "on network 'sip'" in res.output and "km²" in res.output
    assert "station(s) within reach" in res.output
    assert "This road network has no one-way data" in res.output
    glon, glat = wgs84_to_gcj02(120.72, 31.31)
    res2 = _cli("reach", "--lat", glat, "--lon", glon, "--datum", "gcj02", "--minutes", 10)
    assert res2.output == res.output
    far = _cli("reach", "--lat", 31.78, "--lon", 119.95, "--minutes", 5)
    assert far.exit_code == 0 and "straight line x 1.3" in far.output and "no station within reach" in far.output
    assert "one-way" not in far.output


def test_cli_reach_several_ranges(cli_db):
    res = _cli("reach", "--lat", 31.31, "--lon", 120.72, "--minutes", "10,5")
    assert res.exit_code == 0, res.output
    lines = [ln for ln in res.output.splitlines() if ln.startswith("reachable in")]
    assert [ln.split(" min")[0] for ln in lines] == ["reachable in 5", "reachable in 10"]
    assert all("people" in ln for ln in lines)
    gj = json.loads(_cli("reach", "--lat", 31.31, "--lon", 120.72, "--minutes", "5,10", "--format", "geojson").output)
    areas = [f for f in gj["features"] if f["properties"]["role"] == "isochrone"]
    assert [a["properties"]["minutes"] for a in areas] == [5, 10]
    assert 0 < areas[0]["properties"]["people"] < areas[1]["properties"]["people"]


@pytest.mark.parametrize("args, message", [
    (["--lat", 31.318, "--lon", 120.693, "--method", "network"], "is 548 m from the nearest road"),
    (["--lat", 31.31, "--lon", 120.72, "--network", "nowhere"], "network must be a configured name (sip)"),
    (["--lat", 31.31, "--lon", 120.72, "--minutes", 0], "--minutes must be a number in (0, 120]"),
    (["--lat", 31.31, "--lon", 120.72, "--minutes", "5,x"], "--minutes must be a number"),
    (["--lat", 31.31, "--lon", 120.72, "--minutes", "1,2,3,4,5,6"], "--minutes: at most 5 ranges"),
    (["--lat", 95, "--lon", 120.72], "lat must be in"),
])
def test_cli_reach_errors(cli_db, args, message):
    res = _cli("reach", *args)
    assert res.exit_code in (1, 2) and message in res.output


def test_stations_on_the_query_edge_one_way_or_not():
    net = Network.build(ONEWAY_OSM, settings=SETTINGS)
    # the one-way street 1 -> 2 runs east along lat 31.3000 from lon 120.7000 to 120.7011
    q = (120.7000 + 0.3 * 0.0011, 31.30002)
    ahead = Station(id="ahead", name="前", lon=120.7000 + 0.7 * 0.0011, lat=31.29998)
    behind = Station(id="behind", name="后", lon=120.7000 + 0.1 * 0.0011, lat=31.30001)
    idx = StationIndex.from_stations([ahead, behind])
    for mode in ("car", "walk"):
        res = {s.station.id: s for s in rank_stations(net, idx, *q, mode=mode, k=2, settings=SETTINGS).stations}
        dist, H, sn, off = reference_times(net, mode, *q)
        for st in (ahead, behind):
            secs, metres = station_reference(net, mode, *q, st, dist, H, sn, off)
            if math.isfinite(secs):
                assert res[st.id].minutes * 60 == pytest.approx(secs, abs=1e-6)
                assert res[st.id].distance_m == pytest.approx(metres, abs=1e-6)
            else:
                assert st.id not in res
        if mode == "car":
            assert set(res) == {"ahead"}          # behind is against the one-way, and 2 -> 3 is a dead end
            assert res["ahead"].distance_m < 60
        else:
            assert set(res) == {"ahead", "behind"}


def test_prepare_builds_what_the_first_query_needs():
    from stationmap.reach import RESOLUTION_M, prepare, trace

    net = Network.load(SIP_NPZ, settings=SETTINGS)
    prepare({"sip": net})
    assert set(net._modes) == set(config.MODES)
    assert RESOLUTION_M in net.derived["raster"] and len(net.derived["grids"]) == 1
    assert all(net._modes[m].core is not None for m in config.MODES)
    assert set(net.derived["raster"][RESOLUTION_M]._modes) == set(config.MODES)
    assert net._lonlat_fit is not None
    from stationmap.jit import _COMPILED
    from stationmap.network.search import _k_attach, _k_chain, _k_targets
    from stationmap.network.snapping import _grid_nearest
    # the isochrone's kernels and the ranking's, compiled (or loaded) before any query
    assert {trace._k_cells, trace._k_trace, _k_chain, _k_targets, _k_attach, _grid_nearest} <= set(_COMPILED)


_PREPARED_KERNELS = """
import sys
from stationmap import config
from stationmap.index import StationIndex
from stationmap.jit import _COMPILED
from stationmap.model import Station
from stationmap.network import Network
from stationmap.network.search import _k_attach, _k_chain, _k_targets
from stationmap.network.snapping import _grid_nearest
import stationmap.reach as reach
from stationmap.reach import trace

S = config.load(environ={})
net = Network.load(sys.argv[1], settings=S)
idx = StationIndex.from_stations([Station(id="a", name="a", lon=120.72, lat=31.311),
                                  Station(id="b", name="b", lon=120.73, lat=31.32)])

def signatures(kernels):
    return [list(_COMPILED[k].signatures) if k in _COMPILED else None for k in kernels]

net.prepare()
RANKING = [_k_targets, _k_chain, _k_attach, _grid_nearest]
ranking = signatures(RANKING)
for mode in config.MODES:
    reach.rank_stations(net, idx, 120.72, 31.31, mode=mode, k=2, settings=S)
    reach.rank_stations(net, idx, 120.72, 31.31, mode=mode, k=2, minutes=15, settings=S)
assert signatures(RANKING) == ranking, (ranking, signatures(RANKING))
reach.prepare(net)
kernels = RANKING + [trace._k_cells, trace._k_trace]
before = signatures(kernels)
for mode in config.MODES:
    reach.isochrone(120.72, 31.31, 10, mode, network=net, index=idx, settings=S)
assert signatures(kernels) == before, (before, signatures(kernels))
print("ok", [len(x) for x in before])
"""


def test_prepare_compiles_the_kernels_queries_use():
    """In a new process, Network.prepare compiles (or loads) the ranking's searches with the
    argument types a ranking passes, and reach.prepare the isochrone's kernels: the queries
    after them compile nothing."""
    import subprocess
    import sys

    res = subprocess.run([sys.executable, "-c", _PREPARED_KERNELS, str(SIP_NPZ)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("ok [1, 1, 1, 1, 1, 1]"), res.stdout


@pytest.mark.parametrize("lon", [179.99, -179.99, 180.0])
def test_circle_near_the_antimeridian_is_cut_there(lon):
    """A circle crossing ±180° (a query there, or converted there from BD-09) is valid
    GeoJSON: cut at the antimeridian, every longitude within ±180, the area a circle's."""
    iso = isochrone(lon, 1.3, 15, "car", method="circle", settings=SETTINGS)
    poly = iso.polygon
    assert poly.is_valid and poly.geom_type == "MultiPolygon" and len(poly.geoms) == 2
    w, s, e, n = poly.bounds
    assert -180.0 <= w and e <= 180.0
    r = circle_radius_m(15, "car", SETTINGS)
    assert iso.area_km2 == pytest.approx(math.pi * r * r / 1e6, rel=0.01)
    # the two parts, measured on the ellipsoid, add up to the same area
    geod_area = sum(abs(GEOD.geometry_area_perimeter(g)[0]) for g in poly.geoms) / 1e6
    assert geod_area == pytest.approx(iso.area_km2, rel=0.01)



def test_cli_nearest_ranks_by_road_on_sip_and_says_it_has_no_one_way_data(sip, cli_db, stations):
    lon, lat = 120.72, 31.31
    res = _cli("nearest", "--lat", lat, "--lon", lon, "--mode", "ebike", "--k", 3, "--format", "json")
    assert res.exit_code == 0, res.output
    body = json.loads(res.output)
    assert body["method"] == "network" and body["network"] == "sip" and body["oneway_respected"] is False
    assert "no one-way data" in body["oneway_note"]
    dist, H, sn, off = reference_times(sip, "ebike", lon, lat)
    ref = sorted((station_reference(sip, "ebike", lon, lat, s, dist, H, sn, off)[0], s.id) for s in stations)[:3]
    assert [r["id"] for r in body["stations"]] == [sid for _, sid in ref]
    for r, (secs, _) in zip(body["stations"], ref):
        assert r["minutes"] * 60 == pytest.approx(secs, abs=1.0)
    text = _cli("nearest", "--lat", lat, "--lon", lon, "--mode", "ebike", "--k", 3)
    assert "along the roads of network 'sip'" in text.output and "no one-way data" in text.output
    far = _cli("nearest", "--lat", 31.78, "--lon", 119.95, "--format", "json")
    assert json.loads(far.output)["method"] == "circle" and json.loads(far.output)["oneway_note"] is None
