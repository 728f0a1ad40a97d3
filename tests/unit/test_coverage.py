"""stationmap.coverage against independent references: pyproj.Geod distances
(every cell against every station), pyproj/shapely lattices, networkx shortest
paths on the SIP road graph with its snap points inserted, networkx connected
components, and plain sums."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod, Transformer
from shapely.geometry import Polygon, box

from stationmap import config
from stationmap import coverage as cv
from stationmap.errors import NotFoundError, ValidationError
from stationmap.model import KINDS, Station
from tests.support.geodesic import geod_matrix

SETTINGS = config.load({"speeds_kmh": dict(config.DEFAULT_SPEEDS_KMH), "detour_factor": config.DETOUR_FACTOR,
                        "minutes": config.DEFAULT_MINUTES, "max_snap_m": 500.0})
GEOD = Geod(ellps="WGS84")
ROADS = Path(config.PACKAGE_DIR).parent / "data" / "roads" / "sip_roads.gpkg"

# two neighbouring synthetic districts near Changzhou (WGS-84)
WEST = box(119.950, 31.750, 119.985, 31.785)
EAST = box(119.985, 31.755, 120.015, 31.780)


def _areas():
    return [cv.Area("900001", "西测试区", "county", WEST, population=120_000),
            cv.Area("900002", "东测试区", "county", EAST, population=60_000)]


def _stations(seed=7, n=24):
    rng = np.random.default_rng(seed)
    out = []
    kinds = [("rest",), ("rest", "legal_aid"), ("hot_tea",), ("rest",), ("legal_aid",), ("rest", "hot_tea")]
    for i in range(n):
        out.append(Station(id=f"s{i}", name=f"站{i}", lon=float(rng.uniform(119.94, 120.025)),
                           lat=float(rng.uniform(31.745, 31.79)), kinds=kinds[i % len(kinds)]))
    return out


def _reference(lon, lat, stations, kind, *, mode, minutes, horizon):
    """Brute force: minutes to the nearest station of ``kind`` and stations in reach."""
    speed = SETTINGS.speed_kmh(mode) * 1000 / 60
    st = [s for s in stations if kind in s.kinds and s.status != "closed"]
    if not st:
        return np.full(len(lon), np.inf), np.zeros(len(lon), int)
    d = geod_matrix(lon, lat, [s.lon for s in st], [s.lat for s in st])
    t = d * SETTINGS.detour_factor / speed
    best = t.min(axis=1)
    best[best > horizon] = np.inf
    return best, (t <= minutes).sum(axis=1)


# -- grids -----------------------------------------------------------------------

def test_square_grid_is_the_lattice_of_centres_inside_each_district():
    areas = _areas()
    grid = cv.make_grid(areas, cell_m=250)
    crs = grid.crs
    assert crs == "EPSG:32650"          # 119.98 E is in UTM zone 50
    fwd = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    inv = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    want = {}
    for a in areas:
        ring = np.asarray(a.geometry.exterior.coords)
        x, y = fwd.transform(ring[:, 0], ring[:, 1])
        poly = Polygon(np.column_stack([x, y]))
        for i in range(math.floor(min(x) / 250) - 1, math.ceil(max(x) / 250) + 1):
            for j in range(math.floor(min(y) / 250) - 1, math.ceil(max(y) / 250) + 1):
                p = shapely.Point((i + 0.5) * 250, (j + 0.5) * 250)
                if poly.intersects(p) and (i, j) not in want:
                    want[(i, j)] = a.adcode
    got = {(int(i), int(j)): c for i, j, c in zip(grid.i, grid.j, grid.adcode)}
    assert got == want
    lon, lat = inv.transform((grid.i + 0.5) * 250, (grid.j + 0.5) * 250)
    np.testing.assert_allclose(grid.lon, lon, atol=1e-10)
    np.testing.assert_allclose(grid.lat, lat, atol=1e-10)
    # the cells add up to the districts' geodesic areas: boundary cells are in or out by their
    # centre, so the difference is at most half a cell along the perimeter; with 50 m cells, under 1 %
    fine = cv.make_grid(areas, cell_m=50)
    for a in areas:
        geod_area, perimeter = GEOD.geometry_area_perimeter(a.geometry)
        cells = grid.area_m2[grid.adcode == a.adcode].sum()
        assert abs(cells - abs(geod_area)) <= perimeter * 250 / 2
        assert fine.area_m2[fine.adcode == a.adcode].sum() == pytest.approx(abs(geod_area), rel=0.01)


def test_square_cell_polygons_are_squares_of_the_cell_size():
    grid = cv.make_grid(_areas()[:1], cell_m=500)
    polys = grid.polygons_wgs84()
    assert len(polys) == len(grid)
    for p, lon, lat in list(zip(polys, grid.lon, grid.lat))[:20]:
        assert p.contains(shapely.Point(lon, lat))
        assert abs(GEOD.geometry_area_perimeter(p)[0]) == pytest.approx(500 * 500, rel=0.003)


def test_h3_grid_centres_lie_inside_and_neighbours_match_h3():
    import h3

    areas = _areas()
    grid = cv.make_grid(areas, cell_m=250, shape="h3")
    assert grid.resolution == cv.h3_resolution_for(250) == 9
    for a in areas:
        m = grid.adcode == a.adcode
        assert shapely.contains_xy(a.geometry.buffer(1e-9), grid.lon[m], grid.lat[m]).all()
        geod_area = abs(GEOD.geometry_area_perimeter(a.geometry)[0])
        assert grid.area_m2[m].sum() == pytest.approx(geod_area, rel=0.08)
    adj = grid.adjacency().tocoo()
    got = {(int(r), int(c)) for r, c in zip(adj.row, adj.col)}
    ids = grid.cell_id.tolist()
    want = {(r, c) for r in range(len(ids)) for c in range(len(ids)) if r != c and h3.are_neighbor_cells(ids[r], ids[c])}
    assert got == want


def test_square_adjacency_is_edge_sharing():
    grid = cv.make_grid(_areas(), cell_m=500)
    adj = grid.adjacency().tocoo()
    got = {(int(r), int(c)) for r, c in zip(adj.row, adj.col)}
    n = len(grid)
    want = {(r, c) for r in range(n) for c in range(n)
            if abs(grid.i[r] - grid.i[c]) + abs(grid.j[r] - grid.j[c]) == 1}
    assert got == want


# -- minutes and counts against pyproj.Geod -----------------------------------------

@pytest.mark.parametrize("mode,minutes", [("walk", 15), ("ebike", 5), ("bike", 8)])
def test_circle_minutes_and_counts_equal_geod_brute_force(mode, minutes):
    stations = _stations()
    stations.append(Station(id="gone", name="closed", lon=119.97, lat=31.77, kinds=("rest",), status="closed"))
    cov = cv.analyse(_areas(), stations, mode=mode, minutes=minutes, settings=SETTINGS)
    assert cov.method == "circle" and cov.oneway_respected is None
    g = cov.grid
    for kind in KINDS:
        best, count = _reference(g.lon, g.lat, stations, kind, mode=mode, minutes=minutes,
                                 horizon=cov.horizon_minutes)
        np.testing.assert_array_equal(np.isfinite(cov.minutes[kind]), np.isfinite(best))
        fin = np.isfinite(best)
        np.testing.assert_allclose(cov.minutes[kind][fin], best[fin], rtol=1e-7)
        np.testing.assert_array_equal(cov.count[kind], count)


def test_covered_shares_equal_geod_brute_force():
    stations = _stations(seed=11, n=18)
    cov = cv.analyse(_areas(), stations, mode="walk", minutes=10, settings=SETTINGS)
    stats = cov.stats()
    g = cov.grid
    for kind in KINDS:
        best, count = _reference(g.lon, g.lat, stations, kind, mode="walk", minutes=10,
                                 horizon=cov.horizon_minutes)
        for a in cov.areas:
            m = g.adcode == a.adcode
            row = stats[(stats.adcode == a.adcode) & (stats.kind == kind)].iloc[0]
            area, dem = g.area_m2[m], cov.demand[m]
            assert row.area_covered == pytest.approx(area[count[m] >= 1].sum() / area.sum(), abs=1e-12)
            assert row.area_cross_covered == pytest.approx(area[count[m] >= 2].sum() / area.sum(), abs=1e-12)
            assert row.demand_covered == pytest.approx(dem[count[m] >= 1].sum() / dem.sum(), abs=1e-12)
            assert row.demand_cross_covered == pytest.approx(dem[count[m] >= 2].sum() / dem.sum(), abs=1e-12)
            inside = [s for s in stations if kind in s.kinds and a.geometry.intersects(shapely.Point(s.lon, s.lat))]
            assert row.stations == len(inside)
            assert row.population == a.population
            assert row.demand == pytest.approx(a.population)
            assert row.median_minutes == pytest.approx(np.percentile(best[m], 50, method="inverted_cdf"), rel=1e-7)
            assert row.p95_minutes == pytest.approx(np.percentile(best[m], 95, method="inverted_cdf"), rel=1e-7)
        total = stats[(stats.adcode == "all") & (stats.kind == kind)].iloc[0]
        assert total.demand_covered == pytest.approx(cov.demand[count >= 1].sum() / cov.demand.sum(), abs=1e-12)
        assert total.population == 180_000


def test_no_station_of_a_kind_means_nothing_covered():
    stations = [Station(id="a", name="a", lon=119.96, lat=31.76, kinds=("rest",))]
    cov = cv.analyse(_areas(), stations, kinds=["hot_tea", "rest"], settings=SETTINGS)
    assert cov.kinds == ("hot_tea", "rest")
    assert np.isinf(cov.minutes["hot_tea"]).all() and (cov.count["hot_tea"] == 0).all()
    row = cov.stats().query("kind == 'hot_tea' and adcode == '900001'").iloc[0]
    assert row.area_covered == 0 and row.stations == 0 and math.isinf(row.median_minutes)


def test_weighted_percentile_matches_numpy_inverted_cdf():
    rng = np.random.default_rng(3)
    v = rng.exponential(10, 500)
    w = rng.uniform(0, 5, 500)
    for q in (0, 5, 50, 95, 100):
        assert cv.weighted_percentile(v, w, q) == np.percentile(v, q, weights=w, method="inverted_cdf")
    assert math.isnan(cv.weighted_percentile(v, np.zeros(500), 50))


# -- gaps ---------------------------------------------------------------------------

def _gap_components(cov, kind):
    """Reference gaps (square grid): uncovered cells joined to an edge-sharing uncovered
    neighbour of the same district, by networkx."""
    g = cov.grid
    unc = np.nonzero(cov.count[kind] == 0)[0]
    G = nx.Graph()
    G.add_nodes_from(unc.tolist())
    pos = {(int(g.i[k]), int(g.j[k]), g.adcode[k]): int(k) for k in unc}
    for (i, j, code), k in pos.items():
        for nb in ((i + 1, j, code), (i, j + 1, code)):
            if nb in pos:
                G.add_edge(k, pos[nb])
    return list(nx.connected_components(G))


def _assert_gaps_split_by_district(cov, kind, *, outlines=True):
    """Each gap is one reference component of one district; per district the gaps' areas and
    demand add up to that district's uncovered cells; no gap's outline reaches into another district."""
    g = cov.grid
    comps = _gap_components(cov, kind)
    gaps = cov.gaps(kind=kind, geometry=outlines)
    assert len(gaps) == len(comps)
    want = sorted((g.adcode[next(iter(c))], len(c), round(float(g.area_m2[list(c)].sum()) / 1e6, 6),
                   round(float(cov.demand[list(c)].sum()), 4)) for c in comps)
    got = sorted((r.adcode, int(r.cells), round(r.area_km2, 6), round(r.demand, 4)) for r in gaps.itertuples())
    assert got == want
    assert all(len({g.adcode[k] for k in c}) == 1 for c in comps)
    unc = cov.count[kind] == 0
    for a in cov.areas:
        mine = gaps[gaps.adcode == a.adcode]
        in_a = unc & (g.adcode == a.adcode)
        assert mine.area_km2.sum() == pytest.approx(g.area_m2[in_a].sum() / 1e6, rel=1e-9, abs=1e-9)
        assert mine.demand.sum() == pytest.approx(cov.demand[in_a].sum(), rel=1e-9, abs=1e-9)
        # the centre of each gap is an uncovered cell of its district
        centres = set(zip(np.round(g.lon[in_a], 9), np.round(g.lat[in_a], 9)))
        assert all((round(x, 9), round(y, 9)) in centres for x, y in zip(mine.lon, mine.lat))
    # no gap spans two districts: its outline overlaps no other district's cells (but for the
    # slivers of reprojected shared edges, well under 1% of a cell)
    for r in gaps.itertuples() if outlines else ():
        others = shapely.union_all(g.subset(np.nonzero(g.adcode != r.adcode)[0]).polygons_wgs84())
        one_cell = shapely.area(r.geometry) / r.cells
        assert shapely.area(shapely.intersection(r.geometry, others)) < 0.01 * one_cell


def test_a_gap_stops_at_a_district_boundary():
    # no station: each district is one uncovered block, and the two touch along 119.985
    cov = cv.analyse(_areas(), [], kinds=["rest"], mode="walk", minutes=10, settings=SETTINGS)
    gaps = cov.gaps(kind="rest")
    assert sorted(gaps.adcode) == ["900001", "900002"]
    _assert_gaps_split_by_district(cov, "rest")
    # a station on the boundary leaves gaps that would have joined across it on either side
    st = [Station(id="b", name="b", lon=119.985, lat=31.77, kinds=("rest",))]
    cov = cv.analyse(_areas(), st, kinds=["rest"], mode="walk", minutes=10, settings=SETTINGS)
    _assert_gaps_split_by_district(cov, "rest")


def test_gaps_are_connected_uncovered_areas_ranked_by_demand():
    # a north-south line of stations cuts the west district in two; a ring of six encloses a hole
    stations = [Station(id=f"l{k}", name="l", lon=119.967, lat=31.748 + 0.0045 * k, kinds=("rest",))
                for k in range(10)]
    for k in range(6):
        a = 2 * math.pi * k / 6
        stations.append(Station(id=f"r{k}", name="r", lon=120.0 + 0.0095 * math.cos(a),
                                lat=31.7675 + 0.0081 * math.sin(a), kinds=("rest",)))
    cov = cv.analyse(_areas(), stations, kinds=["rest"], mode="walk", minutes=10, settings=SETTINGS)
    g = cov.grid
    unc = np.nonzero(cov.count["rest"] == 0)[0]
    comps = _gap_components(cov, "rest")
    assert len(comps) >= 3
    want = sorted(((round(cov.demand[list(c)].sum(), 6), len(c)) for c in comps), reverse=True)
    gaps = cov.gaps(kind="rest")
    got = [(round(d, 6), int(n)) for d, n in zip(gaps.demand, gaps.cells)]
    assert got == want
    assert list(gaps["rank"]) == list(range(1, len(comps) + 1))
    # each gap's centre is one of its own uncovered cells
    cells = set(zip(np.round(g.lon[unc], 9), np.round(g.lat[unc], 9)))
    assert all((round(x, 9), round(y, 9)) in cells for x, y in zip(gaps.lon, gaps.lat))
    geo = cov.gaps(kind="rest", geometry=True)
    for row, c in zip(geo.itertuples(), sorted(comps, key=lambda c: -cov.demand[list(c)].sum())):
        assert abs(GEOD.geometry_area_perimeter(row.geometry)[0]) == pytest.approx(row.area_km2 * 1e6, rel=0.003)


def test_no_gap_when_everything_is_covered():
    stations = [Station(id=f"x{i}", name="x", lon=119.95 + 0.01 * i, lat=31.77, kinds=("rest",)) for i in range(8)]
    cov = cv.analyse(_areas(), stations, kinds=["rest"], mode="ebike", minutes=15, settings=SETTINGS)
    assert (cov.count["rest"] >= 1).all()
    assert len(cov.gaps()) == 0
    assert len(cov.gaps(geometry=True)) == 0


# -- demand ---------------------------------------------------------------------------

def test_uniform_demand_spreads_each_population_by_area():
    cov = cv.analyse(_areas(), _stations(), settings=SETTINGS)
    g = cov.grid
    for a in cov.areas:
        m = g.adcode == a.adcode
        assert cov.demand[m].sum() == pytest.approx(a.population)
        np.testing.assert_allclose(cov.demand[m], a.population * g.area_m2[m] / g.area_m2[m].sum())


def test_point_and_polygon_demand_layers():
    import geopandas as gpd

    grid = cv.make_grid(_areas(), cell_m=500)
    rng = np.random.default_rng(1)
    lon, lat = rng.uniform(119.945, 120.02, 300), rng.uniform(31.748, 31.79, 300)
    w = rng.uniform(1, 10, 300)
    got = cv.demand_from_points(grid, lon, lat, w)
    polys = grid.polygons_wgs84()
    want = np.zeros(len(grid))
    for x, y, wi in zip(lon, lat, w):
        hit = [k for k, p in enumerate(polys) if p.covers(shapely.Point(x, y))]
        if hit:
            want[hit[0]] += wi
    np.testing.assert_allclose(got, want)
    # polygons: weight shared by the cells whose centres they contain
    blocks = [box(119.955, 31.752, 119.97, 31.765), box(119.99, 31.76, 120.0, 31.77), box(119.951, 31.751, 119.9511, 31.7511)]
    frame = gpd.GeoDataFrame({"pop": [900.0, 300.0, 7.0]}, geometry=blocks, crs="EPSG:4326")
    got = cv.demand_from_frame(grid, frame, column="pop")
    assert got.sum() == pytest.approx(1207.0)
    inside0 = shapely.contains_xy(blocks[0], grid.lon, grid.lat)
    np.testing.assert_allclose(got[inside0], 900.0 / inside0.sum())
    with pytest.raises(ValidationError, match="column 'people'"):
        cv.demand_from_frame(grid, frame, column="people")
    cov = cv.analyse(_areas(), _stations(), demand=frame, demand_column="pop", settings=SETTINGS)
    assert cov.demand.sum() == pytest.approx(1207.0) and "supplied layer" in cov.demand_source


@pytest.fixture(scope="module")
def sip():
    from stationmap.network import Network

    return Network.from_gpkg(ROADS, settings=SETTINGS)


def test_road_length_per_cell_matches_clipped_lengths(sip):
    area = cv.Area("", "sip-box", "polygon", box(120.70, 31.30, 120.73, 31.325))
    grid = cv.make_grid([area], cell_m=250)
    got = cv.road_length_per_cell(grid, sip)
    fwd = Transformer.from_crs("EPSG:4326", grid.crs, always_xy=True)
    ux, uy = fwd.transform(sip.lon[sip.edge_u], sip.lat[sip.edge_u])
    vx, vy = fwd.transform(sip.lon[sip.edge_v], sip.lat[sip.edge_v])
    lines = shapely.linestrings(np.stack([np.column_stack([ux, uy]), np.column_stack([vx, vy])], axis=1))
    scale = sip.edge_length_m / np.maximum(shapely.length(lines), 1e-9)
    cells = grid.polygons_metric()
    tree = shapely.STRtree(lines)
    want = np.zeros(len(grid))
    crossings = np.zeros(len(grid))
    for k, c in enumerate(cells):
        idx = tree.query(c, predicate="intersects")
        want[k] = (shapely.length(shapely.intersection(lines[idx], c)) * scale[idx]).sum()
        crossings[k] = shapely.intersects(lines[idx], c.exterior).sum()
    step = 250 / 5
    assert (np.abs(got - want) <= crossings * step + 1e-6).all()
    assert got.sum() == pytest.approx(want.sum(), rel=0.01)


# -- the network method against networkx --------------------------------------------------

def _nx_reference(net, cell_lon, cell_lat, st_lon, st_lat, *, mode, minutes, horizon):
    """Snap by brute force (nearest open segment in the network's UTM zone), insert the snap
    points into a networkx graph, and run Dijkstra from every station."""
    fwd = Transformer.from_crs("EPSG:4326", net.crs, always_xy=True)
    x, y = fwd.transform(net.lon, net.lat)
    speed = np.array([net.speed_kmh(mode, c) for c in net.classes])[net.edge_class] / 3.6
    open_e = np.nonzero(speed > 0)[0]
    walk = SETTINGS.speed_kmh("walk") / 3.6
    u, v = net.edge_u[open_e], net.edge_v[open_e]
    ax, ay, bx, by = x[u], y[u], x[v], y[v]

    def snap(lon, lat):
        px, py = fwd.transform(lon, lat)
        dx, dy = bx - ax, by - ay
        t = np.clip(((px - ax) * dx + (py - ay) * dy) / np.maximum(dx * dx + dy * dy, 1e-12), 0, 1)
        d = np.hypot(px - (ax + t * dx), py - (ay + t * dy))
        k = int(np.argmin(d))
        return int(open_e[k]), float(t[k]), float(d[k])

    G = nx.Graph()
    secs = net.edge_length_m / np.where(speed > 0, speed, np.nan)
    for e in open_e:
        G.add_edge(int(net.edge_u[e]), int(net.edge_v[e]), w=float(secs[e]))
    on_edge: dict = {}
    points = []
    for k, (lo, la) in enumerate(list(zip(cell_lon, cell_lat)) + list(zip(st_lon, st_lat))):
        e, t, d = snap(lo, la)
        if d > SETTINGS.max_snap_m:
            points.append(None)
            continue
        on_edge.setdefault(e, []).append((t, ("p", k)))
        points.append((("p", k), d / walk))
    for e, pts in on_edge.items():
        a, b, T = int(net.edge_u[e]), int(net.edge_v[e]), float(secs[e])
        G.remove_edge(a, b)
        chain = [(0.0, a)] + sorted(pts) + [(1.0, b)]
        for (t0, n0), (t1, n1) in zip(chain[:-1], chain[1:]):
            G.add_edge(n0, n1, w=(t1 - t0) * T)
    nc = len(cell_lon)
    tmat = np.full((nc, len(st_lon)), np.inf)
    for s in range(len(st_lon)):
        ps = points[nc + s]
        if ps is None:
            continue
        dist = nx.single_source_dijkstra_path_length(G, ps[0], weight="w")
        for c in range(nc):
            pc = points[c]
            if pc is not None and pc[0] in dist:
                tmat[c, s] = (dist[pc[0]] + pc[1] + ps[1]) / 60.0
    best = tmat.min(axis=1) if len(st_lon) else np.full(nc, np.inf)
    best[best > horizon] = np.inf
    return best, (tmat <= minutes).sum(axis=1), tmat


@pytest.mark.parametrize("mode,minutes", [("walk", 8), ("ebike", 3)])
def test_network_minutes_and_counts_equal_networkx(sip, mode, minutes):
    rng = np.random.default_rng(17)
    area = cv.Area("", "sip-box", "polygon", box(120.715, 31.305, 120.735, 31.322))
    grid = cv.make_grid([area], cell_m=200)
    # stations: some on road nodes, some off the road, one far off the network
    pick = rng.choice(np.nonzero((np.abs(sip.lon - 120.725) < 0.012) & (np.abs(sip.lat - 31.313) < 0.01))[0], 9)
    slon = np.concatenate([sip.lon[pick][:5], sip.lon[pick][5:] + rng.normal(0, 0.0008, 4), [120.60]])
    slat = np.concatenate([sip.lat[pick][:5], sip.lat[pick][5:] + rng.normal(0, 0.0008, 4), [31.31]])
    got_m, got_c = cv.network_minutes(sip, grid.lon, grid.lat, slon, slat, mode=mode, minutes=minutes)
    want_m, want_c, _t = _nx_reference(sip, grid.lon, grid.lat, slon, slat, mode=mode, minutes=minutes,
                                   horizon=cv.horizon_for(minutes))
    np.testing.assert_array_equal(np.isfinite(got_m), np.isfinite(want_m))
    fin = np.isfinite(want_m)
    assert fin.sum() > 20
    np.testing.assert_allclose(got_m[fin], want_m[fin], rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(got_c, want_c)
    assert want_c.max() >= 2


def test_network_reach_matrix_equals_networkx(sip):
    area = cv.Area("", "sip-box", "polygon", box(120.745, 31.30, 120.76, 31.312))
    grid = cv.make_grid([area], cell_m=250)
    sites_lon = grid.lon[::3]
    sites_lat = grid.lat[::3]
    A = cv.network_reach(sip, grid.lon, grid.lat, sites_lon, sites_lat, mode="walk", minutes=6).toarray()
    _m, _c, tmat = _nx_reference(sip, grid.lon, grid.lat, sites_lon, sites_lat, mode="walk", minutes=6,
                                 horizon=24)
    np.testing.assert_array_equal(A, (tmat <= 6).T)
    assert 0 < A.sum() < A.size


def test_node_minutes_is_one_search_from_every_station(sip):
    from scipy.sparse.csgraph import dijkstra

    from stationmap.network import reverse_graph

    pick = np.arange(0, sip.n_nodes, 997)
    got = cv.node_minutes(sip, sip.lon[pick], sip.lat[pick], mode="walk")
    real, _rev = reverse_graph(sip, "walk")
    want = dijkstra(real, directed=True, indices=pick, min_only=True) / 60.0
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9)


def test_zone_without_polygon_takes_the_network_extent(sip):
    from stationmap.districts import load_districts

    d = load_districts(SETTINGS)
    stations = [Station(id="z1", name="园区站", lon=120.725, lat=31.315, kinds=("rest",))]
    cov = cv.analyse("320571", stations, network=sip, kinds=["rest"], settings=SETTINGS, districts=d)
    assert cov.method == "network"
    assert cov.oneway_respected is False and cov.to_dict()["params"]["oneway_respected"] is False
    hull = shapely.convex_hull(shapely.multipoints(np.column_stack([sip.lon, sip.lat])))
    assert cov.areas[0].geometry.equals(hull)
    assert cov.notes and "convex hull" in cov.notes[0]
    assert "road length" in cov.demand_source
    assert cov.demand.sum() == pytest.approx(d.get("320571").population)
    # demand follows road length: cells without roads get none
    roads = cv.road_length_per_cell(cov.grid, sip)
    assert (cov.demand[roads == 0] == 0).all()
    with pytest.raises(NotFoundError, match="no boundary polygon"):
        cv.analyse("320571", stations, settings=config.load({"networks": {}}), districts=d)


# -- checks ---------------------------------------------------------------------------

@pytest.mark.parametrize("kw,field", [
    ({"mode": "plane"}, "mode"),
    ({"minutes": 0}, "minutes"),
    ({"minutes": "abc"}, "minutes"),
    ({"minutes": float("nan")}, "minutes"),
    ({"cell_m": 2}, "cell"),
    ({"shape": "triangle"}, "shape"),
    ({"kinds": ["toilet"]}, "kind"),
    ({"method": "magic"}, "method"),
    ({"h3_resolution": 16, "shape": "h3"}, "h3_resolution"),
    ({"demand_proxy": "guess"}, "demand_proxy"),
    ({"demand": [1.0, 2.0]}, "demand"),
])
def test_bad_parameters_name_the_field(kw, field):
    with pytest.raises(ValidationError) as exc:
        cv.analyse(_areas(), _stations(), settings=SETTINGS, **kw)
    assert exc.value.field == field


def test_bad_areas():
    with pytest.raises(ValidationError, match="WGS-84"):
        cv.analyse(box(500_000, 3_500_000, 510_000, 3_510_000), [], settings=SETTINGS)
    with pytest.raises(ValidationError, match="polygon"):
        cv.analyse(shapely.Point(120, 31), [], settings=SETTINGS)
    with pytest.raises(NotFoundError):
        cv.analyse("999999", [], settings=SETTINGS)
    with pytest.raises(ValidationError, match="too small|over"):
        cv.make_grid([cv.Area("", "big", "polygon", box(100, 20, 120, 40))], cell_m=10)


def test_to_dict_is_json_with_nulls_for_beyond_horizon():
    cov = cv.analyse(_areas(), _stations()[:2], mode="walk", minutes=3, settings=SETTINGS)
    d = cov.to_dict(cells=True)
    text = json.dumps(d, allow_nan=False)
    back = json.loads(text)
    assert back["params"]["method"] == "circle" and back["datum"] == "wgs84"
    assert len(back["cells"]["features"]) == len(cov.grid)
    assert any(r["p95_minutes"] is None for r in back["stats"])


# -- the sample data: Changzhou's six districts (circle) and the SIP core (network) ----------

@pytest.mark.slow
def test_sample_changzhou_six_districts_circle():
    from stationmap.districts import load_districts
    from stationmap.io.sample import load_sample

    stations = load_sample(settings=SETTINGS)
    cov = cv.analyse("320400", stations, mode="ebike", settings=SETTINGS)
    assert cov.sample and cov.params()["sample"] is True
    stats = cov.stats()
    codes = ["320402", "320404", "320411", "320412", "320413", "320481"]
    assert list(stats.adcode.unique()) == codes + ["320400"]
    d = load_districts(SETTINGS)
    rest = stats[stats.kind == "rest"].set_index("adcode")
    for code in codes:
        assert rest.loc[code, "population"] == d.get(code).population
        assert 0 < rest.loc[code, "demand_cross_covered"] <= rest.loc[code, "demand_covered"] <= 1
    assert rest.loc["320400", "population"] == 5_278_121
    # city figures are the demand-weighted mean of its districts
    w = rest.loc[codes, "demand"]
    assert rest.loc["320400", "demand_covered"] == pytest.approx((rest.loc[codes, "demand_covered"] * w).sum() / w.sum())
    # spot check against pyproj.Geod for a sample of cells
    rng = np.random.default_rng(0)
    pick = rng.choice(len(cov.grid), 300, replace=False)
    best, count = _reference(cov.grid.lon[pick], cov.grid.lat[pick], stations, "rest", mode="ebike", minutes=15,
                             horizon=cov.horizon_minutes)
    np.testing.assert_array_equal(cov.count["rest"][pick], count)
    # the city's gaps are split at its districts' boundaries
    _assert_gaps_split_by_district(cov, "rest", outlines=False)
    gaps = cov.gaps(kind="rest")
    assert (gaps.area_km2.to_numpy() <= rest.loc[gaps.adcode, "area_km2"].to_numpy() + 1e-9).all()


@pytest.mark.slow
def test_sample_outputs_from_the_cli(tmp_path):
    from click.testing import CliRunner

    from stationmap.cli import main

    runner = CliRunner()
    out = tmp_path / "sip"
    res = runner.invoke(main, ["coverage", "320571", "--sample", "--network", str(ROADS), "--kind", "rest",
                               "--mode", "walk", "--add", "3", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "SAMPLE" in res.output and "(network)" in res.output
    assert "note: This road network has no one-way data" in res.output      # the GeoPackage has none
    for name in ("coverage.gpkg", "figures.csv", "figures.xlsx", "coverage_by_district.png",
                 "minutes_distribution.png", "coverage_map.html", "summary.json"):
        assert (out / name).stat().st_size > 0, name
    fig = pd.read_csv(out / "figures.csv", encoding="utf-8-sig", dtype={"adcode": str})
    assert fig.sample_data.all() and set(fig.adcode) == {"320571"}
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["params"]["sample"] is True and len(summary["sites"]["sites"]) == 3
    import pyogrio

    layers = {r[0] for r in pyogrio.list_layers(out / "coverage.gpkg")}
    assert {"cells", "gaps", "sites", "districts"} <= layers
    html = (out / "coverage_map.html").read_text(encoding="utf-8")
    assert json.dumps("示例数据")[1:-1] in html              # the legend's sample banner (a JSON string)
    assert html.count('class=\\"sm-site\\"') == 3
    # Leaflet is inlined, so the file works offline: no script or style sheet from elsewhere
    assert not re.search(r'<script[^>]+src="http', html) and not re.search(r'<link[^>]+href="http', html)

    cz = tmp_path / "cz"
    res = runner.invoke(main, ["coverage", "320400", "--sample", "--cell", "1000", "--mode", "ebike",
                               "--lang", "en", "--out", str(cz)])
    assert res.exit_code == 0, res.output
    fig = pd.read_csv(cz / "figures.csv", encoding="utf-8-sig", dtype={"adcode": str})
    assert set(fig.adcode) == {"320402", "320404", "320411", "320412", "320413", "320481", "320400"}


def test_cli_says_why_fewer_sites_came_back(tmp_path):
    from click.testing import CliRunner

    from stationmap.cli import main

    runner = CliRunner()
    for lang, words in (("zh", "个站点（要求 50 个）：这"), ("en", "sites suggested (50 asked): these")):
        out = tmp_path / lang
        res = runner.invoke(main, ["coverage", "320402", "--sample", "--kind", "rest", "--mode", "ebike",
                                   "--add", "50", "--lang", lang, "--out", str(out)])
        assert res.exit_code == 0, res.output
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        given = len(summary["sites"]["sites"])
        assert summary["sites"]["shortfall"]["reason"] == "all_reachable_covered"
        assert summary["sites"]["shortfall"]["given"] == given < 50
        line = next(ln for ln in res.output.splitlines() if words in ln)
        assert str(given) in line
        about = pd.read_excel(out / "figures.xlsx", sheet_name="about")
        assert words in about.set_index("item").loc["sites_shortfall", "value"]


def test_cli_errors_are_clean(tmp_path):
    from click.testing import CliRunner

    from stationmap.cli import main

    runner = CliRunner()
    bad = tmp_path / "cand.csv"
    bad.write_text("lon,lat\n119.9,31.7\n119.9,north\n", encoding="utf-8")
    res = runner.invoke(main, ["coverage", "320402", "--sample", "--add", "2", "--candidates", str(bad),
                               "--out", str(tmp_path / "o")])
    assert res.exit_code == 1
    assert "cand.csv: row 3, field lat: not a number: 'north'" in res.output
    assert "Traceback" not in res.output
    res = runner.invoke(main, ["coverage", "123", "--sample", "--out", str(tmp_path / "o")])
    assert res.exit_code == 1 and "adcode must be 6 digits" in res.output
    res = runner.invoke(main, ["coverage", "320402", "--sample", "--mode", "plane", "--out", str(tmp_path / "o")])
    assert res.exit_code == 2


def test_cli_sites_for_cross_coverage(tmp_path):
    """--objective twice: the sites' figures in summary.json are the cross-covered (双15) share."""
    from click.testing import CliRunner

    from stationmap.cli import main

    out = tmp_path / "twice"
    res = CliRunner().invoke(main, ["coverage", "320402", "--sample", "--cell", "1000", "--minutes", "8",
                                    "--add", "2", "--objective", "twice", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "raise demand covered twice from" in res.output
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    sites = summary["sites"]
    assert sites["objective_name"] == "twice" and sites["covered_after"] > sites["covered_before"]
    fig = pd.read_csv(out / "figures.csv", encoding="utf-8-sig", dtype={"adcode": str})
    row = fig[(fig.adcode == "320402") & (fig.kind == sites["kind"])]
    assert len(row) == 1 and sites["covered_before"] == pytest.approx(row.demand_cross_covered.iloc[0])
    bad = CliRunner().invoke(main, ["coverage", "320402", "--sample", "--add", "2", "--objective", "thrice",
                                    "--out", str(tmp_path / "x")])
    assert bad.exit_code == 2 and "--objective" in bad.output


def test_cli_accessibility_outputs(tmp_path):
    """--accessibility: the E2SFCA scores in the cells layer, the accessibility sheet, summary.json
    and a map layer; the people-weighted mean of the summary is the cells' own."""
    import pyogrio
    from click.testing import CliRunner

    from stationmap.cli import main

    out = tmp_path / "acc"
    res = CliRunner().invoke(main, ["coverage", "320402", "--sample", "--cell", "1000", "--accessibility",
                                    "--out", str(out)])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    acc = summary["accessibility"]
    assert acc["method"] == "E2SFCA" and acc["capacity_assumed"] > 0 and acc["notes"]
    cells = pyogrio.read_dataframe(out / "coverage.gpkg", layer="cells")
    assert (cells.access >= 0).all() and (cells.access > 0).any()
    row = next(r for r in acc["summary"] if r["adcode"] == "320402")
    assert row["mean_score"] == pytest.approx((cells.demand * cells.access).sum() / cells.demand.sum())
    sheet = pd.read_excel(out / "figures.xlsx", sheet_name="accessibility", dtype={"adcode": str})
    assert sheet.adcode.iloc[0] == "320402"
    html = (out / "coverage_map.html").read_text(encoding="utf-8")
    assert "可达性指数（E2SFCA" in html
