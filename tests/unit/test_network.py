"""stationmap.network: building, saving, snapping and searching road networks.

References are independent of the code under test: the GeoPackage read with
pyogrio, OpenStreetMap read with pyrosm, travel times from networkx Dijkstra
on a graph built here from the edge list, nearest edges by brute force.
"""

from __future__ import annotations

import math
from pathlib import Path

import networkx as nx
import numpy as np
import pyogrio
import pytest
import shapely
from pyproj import Geod, Transformer

from stationmap import config
from stationmap.errors import ConfigError, NotFoundError, ValidationError
from stationmap.network import Network, road_class

ROOT = Path(__file__).resolve().parents[2]
SIP_GPKG = ROOT / "data" / "roads" / "sip_roads.gpkg"
SIP_NPZ = ROOT / "data" / "roads" / "sip.npz"
ONEWAY_OSM = ROOT / "tests" / "data" / "network_oneway.osm"
SETTINGS = config.load(environ={})
GEOD = Geod(ellps="WGS84")


@pytest.fixture(scope="module")
def sip():
    return Network.load(SIP_NPZ, settings=SETTINGS)


# -- reference helpers --------------------------------------------------------------

from tests.support.network_reference import nx_graph, split_at  # noqa: E402


def utm(net):
    return Transformer.from_crs("EPSG:4326", net.crs, always_xy=True)


# -- building ----------------------------------------------------------------------------

def test_sip_graph_matches_the_geopackage(sip):
    nodes = pyogrio.read_dataframe(SIP_GPKG, layer="nodes", read_geometry=False)
    edges = pyogrio.read_dataframe(SIP_GPKG, layer="edges", read_geometry=False)
    G = nx.Graph()
    G.add_edges_from(zip(edges.u, edges.v))
    big = max(nx.connected_components(G), key=len)
    assert sip.n_nodes == len(big) == 11029          # PROVENANCE.md: the largest piece
    inside = edges[edges.u.isin(big) & edges.v.isin(big)]
    assert sip.n_edges == len(inside)                # no parallel edges, no self-loops in SIP
    # the same segments, by coordinates
    lon = nodes.set_index("node_id").lon
    lat = nodes.set_index("node_id").lat
    want = {}
    for u, v, L, h in zip(inside.u, inside.v, inside.length_m, inside.highway):
        key = tuple(sorted([(round(lon[u], 6), round(lat[u], 6)), (round(lon[v], 6), round(lat[v], 6))]))
        want[key] = (L, "road" if h == "other" else h)
    got = {}
    for u, v, L, c in zip(sip.edge_u, sip.edge_v, sip.edge_length_m, sip.edge_class):
        a = (round(sip.lon[u], 6), round(sip.lat[u], 6))
        b = (round(sip.lon[v], 6), round(sip.lat[v], 6))
        got[tuple(sorted([a, b]))] = (L, sip.classes[c])
    assert got.keys() == want.keys()
    assert all(got[k][1] == want[k][1] for k in got)
    # geodesic lengths against the source's own (computed from its float32 coordinates: ~1 m)
    ours = np.array([got[k][0] for k in got])
    theirs = np.array([want[k][0] for k in got])
    assert np.abs(ours - theirs).max() < 6.0
    assert np.median(np.abs(ours - theirs)) < 0.3
    assert ours.sum() == pytest.approx(theirs.sum(), rel=2e-3)
    assert not sip.edge_oneway.any()                  # the GeoPackage has no one-way information
    assert not sip.oneway_known                        # ... and the network says so


def test_committed_sip_file_is_what_the_build_gives():
    # data/roads/PROVENANCE.md: the SIP roads are OpenStreetMap's (`network build --licence`)
    built = Network.build(SIP_GPKG, settings=SETTINGS, licence="© OpenStreetMap contributors, ODbL").arrays()
    with np.load(SIP_NPZ, allow_pickle=False) as z:
        saved = {k: z[k] for k in z.files}
    assert built.keys() == saved.keys()
    for k in built:
        np.testing.assert_array_equal(saved[k], built[k], err_msg=k)
    assert SIP_NPZ.stat().st_size < 1_000_000


def test_default_settings_load_the_sip_network():
    s = config.load(environ={})
    assert Path(s.networks["sip"]) == SIP_NPZ


def test_pbf_build_matches_pyrosm():
    import pyrosm
    path = pyrosm.get_data("test_pbf")
    net = Network.build(path, settings=SETTINGS)
    assert net.name == "test"
    whole = Network.from_osm(path, settings=SETTINGS, largest_only=False)
    _nodes, edges = pyrosm.OSM(path).get_network(network_type="all", nodes=True)
    # pyrosm keeps ways closed by access=private; stationmap closes them to every mode
    edges = edges[~edges["access"].isin(["private", "no"])]
    ref = {}
    for h, L in zip(edges["highway"], edges["length"]):
        c = road_class(h)
        n, tot = ref.get(c, (0, 0.0))
        ref[c] = (n + 1, tot + float(L))
    ours = {}
    for c, L in zip(whole.edge_class, whole.edge_length_m):
        n, tot = ours.get(whole.classes[c], (0, 0.0))
        ours[whole.classes[c]] = (n + 1, tot + float(L))
    assert ours.keys() == ref.keys()
    for c in ref:
        assert ours[c][0] == ref[c][0], c
        # pyrosm measures on a sphere, stationmap on the WGS-84 ellipsoid
        assert ours[c][1] == pytest.approx(ref[c][1], rel=6e-3), c
    assert 0 < net.n_nodes < whole.n_nodes
    # one-way tags reach the car graph
    assert net.edge_oneway.sum() > 0


def test_tags_and_modes_on_a_hand_made_grid():
    net = Network.build(ONEWAY_OSM, settings=SETTINGS)
    idx = {(round(lo, 4), round(la, 4)): i for i, (lo, la) in enumerate(zip(net.lon, net.lat))}
    node = {1: (120.7, 31.3), 2: (120.7011, 31.3), 3: (120.7022, 31.3), 4: (120.7, 31.301),
            5: (120.7011, 31.301), 6: (120.7022, 31.301), 7: (120.7, 31.302), 8: (120.7011, 31.302),
            9: (120.7022, 31.302)}
    nid = {k: idx[v] for k, v in node.items()}

    def arcs(mode):
        g = net.graph(mode)
        n = net.n_nodes
        out = set()
        for a in range(n):
            for j in range(g.csr.indptr[a], g.csr.indptr[a + 1]):
                out.add((a, int(g.csr.indices[j])))
        inv = {v: k for k, v in nid.items()}
        return {(inv[a], inv[b]) for a, b in out}

    both = lambda *pairs: {p for a, b in pairs for p in ((a, b), (b, a))}  # noqa: E731
    assert arcs("car") == {(1, 2), (2, 3), (7, 8), (8, 9), (6, 3)} | both((4, 5), (5, 6))
    assert arcs("walk") == both((1, 2), (2, 3), (4, 5), (5, 6), (1, 4), (4, 7), (3, 6), (6, 9), (5, 8))
    # riders keep to the one-way streets as cars do (issue 21: no riding against traffic, 逆行)
    assert arcs("bike") == arcs("ebike") == {(1, 2), (2, 3), (6, 3)} | both((4, 5), (5, 6), (1, 4), (4, 7), (5, 8))
    # bikes are pushed on the footway: walking speed there, riding speed elsewhere
    g = net.graph("bike")
    e14 = [e for e in range(net.n_edges) if {net.edge_u[e], net.edge_v[e]} == {nid[1], nid[4]}][0]
    e12 = [e for e in range(net.n_edges) if {net.edge_u[e], net.edge_v[e]} == {nid[1], nid[2]}][0]
    assert g.edge_s[e14] == pytest.approx(net.edge_length_m[e14] / (4.8 / 3.6))
    assert g.edge_s[e12] == pytest.approx(net.edge_length_m[e12] / (12.0 / 3.6))
    # cars on the motorway at its class speed
    e78 = [e for e in range(net.n_edges) if {net.edge_u[e], net.edge_v[e]} == {nid[7], nid[8]}][0]
    assert net.graph("car").edge_s[e78] == pytest.approx(net.edge_length_m[e78] / (60.0 / 3.6))
    # from 3 a car goes nowhere (one-way street in, one-way street out the wrong way)
    s3 = net.snap(*node[3], mode="car")
    d = net.search(s3, mode="car")
    assert np.isfinite(d[:net.n_nodes]).sum() == 1
    s3w = net.snap(*node[3], mode="walk")
    assert np.isfinite(net.search(s3w, mode="walk")[:net.n_nodes]).all()


def test_parallel_edges_get_a_middle_node_and_keep_both_speeds():
    lon = [120.0, 120.01]
    lat = [31.0, 31.0]
    net = Network.from_arrays(lon, lat, [0, 1, 0], [1, 0, 1], highway=["primary", "residential", "footway"],
                              settings=SETTINGS)
    assert net.n_nodes == 4 and net.n_edges == 5
    L = GEOD.inv(120.0, 31.0, 120.01, 31.0)[2]
    s = net.snap(120.0, 31.0, mode="car")
    d = net.search(s, mode="car")
    far = int(np.argmin(np.abs(net.lon - 120.01)))
    assert d[far] == pytest.approx(L / (40 / 3.6), rel=1e-6)      # the primary, not the residential
    s = net.snap(120.0, 31.0, mode="walk")
    assert net.search(s, mode="walk")[far] == pytest.approx(L / (4.8 / 3.6), rel=1e-6)


# -- files ----------------------------------------------------------------------------

def test_save_load_round_trip(tmp_path, sip):
    p = sip.save(tmp_path / "x.npz")
    back = Network.load(p, settings=SETTINGS)
    for k, v in sip.arrays().items():
        np.testing.assert_array_equal(back.arrays()[k], v)
    assert back.name == "sip"
    assert Network.load(p, name="other", settings=SETTINGS).name == "other"


def test_bad_files_give_clear_errors(tmp_path):
    with pytest.raises(NotFoundError, match="not found"):
        Network.load(tmp_path / "missing.npz")
    bad = tmp_path / "bad.npz"
    bad.write_bytes(b"not a zip at all")
    with pytest.raises(ConfigError, match="not a compiled road network"):
        Network.load(bad)
    other = tmp_path / "other.npz"
    np.savez(other, a=np.arange(3))
    with pytest.raises(ConfigError, match="stationmap network build"):
        Network.load(other)
    with pytest.raises(ValidationError, match="source must be"):
        Network.build(tmp_path / "roads.csv")
    with pytest.raises(NotFoundError):
        Network.build(tmp_path / "nothing.gpkg")
    with pytest.raises(ValidationError, match="out must be a .npz"):
        Network.from_arrays([0, 0.001], [0, 0], [0], [1], settings=SETTINGS).save(tmp_path / "x.txt")
    notosm = tmp_path / "x.osm"
    notosm.write_text("<html>no</html>")
    with pytest.raises(ValidationError, match="x.osm"):
        Network.build(notosm)


# -- snapping -----------------------------------------------------------------------------

def test_snap_finds_the_nearest_open_edge_by_brute_force(sip):
    rng = np.random.default_rng(7)
    w, s, e, n = sip.bounds
    tr = utm(sip)
    for mode in ("walk", "car"):
        g = sip.graph(mode)
        ux, uy = tr.transform(sip.lon[sip.edge_u[g.edges]], sip.lat[sip.edge_u[g.edges]])
        vx, vy = tr.transform(sip.lon[sip.edge_v[g.edges]], sip.lat[sip.edge_v[g.edges]])
        segs = shapely.linestrings(np.stack([np.column_stack([ux, uy]), np.column_stack([vx, vy])], axis=1))
        for lon, lat in zip(rng.uniform(w, e, 25), rng.uniform(s, n, 25)):
            qx, qy = tr.transform(lon, lat)
            dist = shapely.distance(segs, shapely.Point(qx, qy))
            best = dist.min()
            if best > SETTINGS.max_snap_m:
                with pytest.raises(ValidationError):
                    sip.snap(lon, lat, mode=mode)
                continue
            sn = sip.snap(lon, lat, mode=mode)
            assert sn.distance_m == pytest.approx(best, abs=1e-6)
            px, py = tr.transform(sn.lon, sn.lat)
            assert math.hypot(px - qx, py - qy) == pytest.approx(best, abs=1e-3)
            assert dist[np.searchsorted(g.edges, sn.edge)] == pytest.approx(best, abs=1e-6)


def test_segment_grid_equals_brute_force_with_ties_and_far_points():
    """The compiled snapping grid finds what shapely's distance to every segment finds:
    points inside, between and far outside the segments, ties to the lower position,
    zero-length segments, and no answer for a point that is not finite."""
    from stationmap.network.snapping import _SegmentGrid

    rng = np.random.default_rng(11)
    for n, spread in ((1, 10.0), (7, 500.0), (400, 5000.0), (3000, 20000.0)):
        a = rng.uniform(0, spread, (n, 2))
        b = a + rng.normal(0, spread / 20, (n, 2))
        b[::9] = a[::9]                     # points, not lines
        if n > 2:
            a[2], b[2] = a[1], b[1]         # a duplicate: a tie, the lower position wins
        grid = _SegmentGrid(a[:, 0], a[:, 1], b[:, 0], b[:, 1])
        segs = shapely.linestrings(np.stack([a, b], axis=1))
        q = np.concatenate([rng.uniform(-0.2 * spread, 1.2 * spread, (300, 2)),
                            rng.uniform(-50 * spread, 50 * spread, (30, 2)), a[:5] + 1e-3])
        pos, t, d = grid.nearest_many(q[:, 0], q[:, 1])
        for k, (x, y) in enumerate(q):
            dist = shapely.distance(segs, shapely.Point(x, y))
            assert d[k] == pytest.approx(dist.min(), rel=1e-12, abs=1e-9)
            assert pos[k] == int(np.flatnonzero(dist <= dist.min() * (1 + 1e-12) + 1e-12)[0])
            one = grid.nearest(x, y)
            assert one[:3] == (pos[k], t[k], d[k])
            assert math.hypot(one[3] - x, one[4] - y) == pytest.approx(d[k], rel=1e-9, abs=1e-9)
    assert grid.nearest(math.nan, 0.0)[0] == -1 and grid.nearest(math.inf, 0.0)[2] == math.inf
    # a hundred long diagonals across many short segments: bigger cells, not millions of entries
    a = np.concatenate([rng.uniform(0, 1e5, (20000, 2)), rng.uniform(0, 1e4, (100, 2))])
    b = np.concatenate([a[:20000] + rng.normal(0, 30, (20000, 2)), rng.uniform(9e4, 1e5, (100, 2))])
    long = _SegmentGrid(a[:, 0], a[:, 1], b[:, 0], b[:, 1])
    assert len(long.items) <= 1 << 20 and long.cell > 2 * math.sqrt(1e10 / len(a))
    segs = shapely.linestrings(np.stack([a, b], axis=1))
    for x, y in rng.uniform(-1e4, 1.1e5, (150, 2)).tolist():
        dist = shapely.distance(segs, shapely.Point(x, y))
        assert long.nearest(x, y)[2] == pytest.approx(dist.min(), rel=1e-12, abs=1e-9)
    # a tie between cells: position 1 is in the query's own cell, position 0 (as near) in the next
    xs = np.concatenate([[-10.0, 10.0], np.arange(-500.0, 500.0, 5.0)])
    ys = np.concatenate([[0.0, 0.0], np.full(200, 500.0)])
    tie = _SegmentGrid(xs, ys, xs, ys)
    assert tie.nearest(0.0, 0.0)[:3] == (0, 0.0, 10.0)
    empty = _SegmentGrid(np.zeros(0), np.zeros(0), np.zeros(0), np.zeros(0))
    assert empty.nearest(1.0, 2.0)[0] == -1


def test_far_point_is_refused_with_distance_and_limit(sip):
    lon, lat = 120.74, 31.36          # 1.8 km north of the network's northern edge
    with pytest.raises(ValidationError) as ei:
        sip.snap(lon, lat, mode="ebike")
    msg = ei.value.message
    assert ei.value.field == "point"
    assert "500 m" in msg and "max_snap_m" in msg and "sip" in msg
    metres = float(msg.split(" is ")[1].split(" m ")[0])
    assert 1500 < metres < 2500
    assert not sip.covers(lon, lat, mode="ebike")
    assert sip.covers(120.72, 31.31, mode="ebike")
    assert sip.covers(lon, lat, mode="ebike", max_snap_m=5000)
    assert not sip.covers(100.0, 30.0, mode="ebike", max_snap_m=5000)
    with pytest.raises(ValidationError, match="mode must be one of"):
        sip.snap(120.72, 31.31, mode="horse")
    with pytest.raises(ValidationError, match="lat must be in"):
        sip.snap(120.72, 95, mode="walk")


# -- travel times against networkx ------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("mode", config.MODES)
def test_travel_times_equal_networkx_dijkstra(sip, mode):
    rng = np.random.default_rng(config.MODES.index(mode))
    G = nx_graph(sip, mode)
    limit = 20 * 60.0
    checked = 0
    for node in rng.choice(sip.n_nodes, 6, replace=False):
        # a point 0-60 m off a random node, snapped mid-edge
        lon = sip.lon[node] + rng.uniform(-6e-4, 6e-4)
        lat = sip.lat[node] + rng.uniform(-5e-4, 5e-4)
        sn = sip.snap(lon, lat, mode=mode)
        d = sip.search(sn, mode=mode, limit_s=limit)[:sip.n_nodes]
        ref = nx.single_source_dijkstra_path_length(split_at(G, sip, sn, mode), "p", cutoff=limit,
                                                    weight="weight")
        ref.pop("p")
        got = {i: d[i] for i in np.flatnonzero(np.isfinite(d)).tolist()}
        inner = {k for k, v in ref.items() if v < limit - 1e-6}
        assert inner <= got.keys() <= ref.keys()
        err = max((abs(got[k] - ref[k]) for k in got), default=0.0)
        assert err < 1.0, (mode, node, err)         # within 1 second (in fact ~1e-9)
        checked += len(got)
    assert checked > 500


def _core_check(net, mode, points, limit):
    """search_core against networkx at the kept nodes, and which nodes are kept; returns nodes checked."""
    G = nx_graph(net, mode)
    core = net.core(mode)
    # kept: every node except those where exactly two edges meet, both open both ways to the mode
    # (a ring of such nodes keeps some of them)
    U = G.to_undirected()
    two = {x for x in U.nodes if U.degree(x) == 2 and all(G.has_edge(x, y) and G.has_edge(y, x) for y in U[x])}
    kept = set(core.keep.tolist())
    assert set(U.nodes) - two <= kept
    assert not kept & two or len(two) == U.number_of_nodes()
    checked = 0
    for lon, lat in points:
        sn = net.snap(lon, lat, mode=mode)
        d = net.search_core(sn, mode=mode, limit_s=limit)[:len(core.keep)]
        ref = nx.single_source_dijkstra_path_length(split_at(G, net, sn, mode), "p", cutoff=limit,
                                                    weight="weight")
        kept = {int(k): i for i, k in enumerate(core.keep.tolist())}
        ref = {kept[k]: v for k, v in ref.items() if k in kept}
        got = {i: d[i] for i in np.flatnonzero(np.isfinite(d)).tolist()}
        inner = {k for k, v in ref.items() if v < limit - 1e-6}
        assert inner <= got.keys() <= ref.keys()
        assert max((abs(got[k] - ref[k]) for k in got), default=0.0) < 1.0
        checked += len(got)
    return checked


@pytest.mark.slow
@pytest.mark.parametrize("mode", config.MODES)
def test_contracted_search_equals_networkx_at_the_junctions(sip, mode):
    rng = np.random.default_rng(10 + config.MODES.index(mode))
    nodes = rng.choice(sip.n_nodes, 5, replace=False)
    pts = [(sip.lon[k] + rng.uniform(-6e-4, 6e-4), sip.lat[k] + rng.uniform(-5e-4, 5e-4)) for k in nodes]
    assert _core_check(sip, mode, pts, 15 * 60.0) > 500
    core = sip.core(mode)
    assert len(core.keep) < 0.6 * sip.n_nodes             # about half of SIP's nodes are inside chains
    # every arc of the mode graph on exactly one super-arc, in order, times adding up
    g = sip.graph(mode)
    A = int(g.csr.indptr[sip.n_nodes])
    assert np.array_equal(np.sort(core.ca_arc), np.arange(A))
    w = g.csr.data[core.ca_arc]
    ends = core.sa_ptr[1:] - 1
    np.testing.assert_allclose(core.ca_tau[ends] + w[ends], core.sa_s, rtol=1e-12)


def test_contracted_search_on_one_way_streets_and_a_ring():
    net = Network.build(ONEWAY_OSM, settings=SETTINGS)
    for mode in config.MODES:
        _core_check(net, mode, [(120.7000, 31.3000), (120.7022, 31.3005), (120.7011, 31.3010)], 600.0)
    # a ring of six nodes, every one where two two-way edges meet: some must be kept
    ang = np.arange(6) * np.pi / 3
    ring = Network.from_arrays(120.7 + 0.002 * np.cos(ang), 31.3 + 0.002 * np.sin(ang), np.arange(6),
                               (np.arange(6) + 1) % 6, settings=SETTINGS)
    assert len(ring.core("walk").keep) >= 1
    _core_check(ring, "walk", [(120.7021, 31.3001), (120.699, 31.3005)], 600.0)


def test_fast_lonlat_matches_pyproj_within_a_millimetre(sip):
    rng = np.random.default_rng(4)
    pad = 3000.0
    x = rng.uniform(sip.x.min() - pad, sip.x.max() + pad, 5000)
    y = rng.uniform(sip.y.min() - pad, sip.y.max() + pad, 5000)
    back = Transformer.from_crs(sip.crs, "EPSG:4326", always_xy=True)
    lon_ref, lat_ref = back.transform(x, y)
    lon, lat = sip.to_lonlat_fast(x, y)
    err = GEOD.inv(lon, lat, lon_ref, lat_ref)[2]
    assert err.max() < 1e-3
    assert sip._lonlat_fit.ok                               # the polynomial, not the fallback
    pts = sip.lonlat_points(x[:10], y[:10])
    assert pts.shape == (10, 2) and np.allclose(pts[:, 0], lon[:10]) and np.allclose(pts[:, 1], lat[:10])
    # far outside the fitted rectangle: pyproj itself
    far_lon, far_lat = sip.to_lonlat_fast(np.array([sip.x.max() + 200_000.0]), np.array([sip.y.min()]))
    ref = back.transform(sip.x.max() + 200_000.0, sip.y.min())
    assert GEOD.inv(far_lon[0], far_lat[0], *ref)[2] < 1e-6


def test_search_without_limit_reaches_the_whole_connected_network(sip):
    sn = sip.snap(120.72, 31.31, mode="walk")
    d = sip.search(sn, mode="walk")[:sip.n_nodes]
    G = nx_graph(sip, "walk")
    comp = nx.node_connected_component(G.to_undirected(), int(sip.edge_u[sn.edge]))
    assert set(np.flatnonzero(np.isfinite(d)).tolist()) == comp


def test_speeds_come_from_settings(sip):
    from dataclasses import replace

    fast = replace(SETTINGS, speeds_kmh={**SETTINGS.speeds_kmh, "ebike": 20.0})
    net2 = Network.load(SIP_NPZ, settings=fast)
    a = sip.search(sip.snap(120.72, 31.31, mode="ebike"), mode="ebike", limit_s=600)[:sip.n_nodes]
    b = net2.search(net2.snap(120.72, 31.31, mode="ebike"), mode="ebike", limit_s=600)[:sip.n_nodes]
    ok = np.isfinite(a)
    np.testing.assert_allclose(b[ok], a[ok] * 16.0 / 20.0, rtol=1e-9)
    bad = replace(SETTINGS, car_speeds_kmh={**SETTINGS.car_speeds_kmh, "primary": -5})
    with pytest.raises(ConfigError, match="car_speeds_kmh"):
        Network.load(SIP_NPZ, settings=bad).graph("car")


def test_path_lengths_follow_the_search_tree(sip):
    G = nx_graph(sip, "car")
    sn = sip.snap(120.75, 31.32, mode="car")
    d, pred = sip.search(sn, mode="car", limit_s=600, predecessors=True)
    lens = sip.path_lengths(sn, pred, mode="car")
    H = split_at(G, sip, sn, "car")
    _, paths = nx.single_source_dijkstra(H, "p", cutoff=600, weight="weight")
    for node in list(np.flatnonzero(np.isfinite(d[:sip.n_nodes])))[::50]:
        p = paths[int(node)]
        ref = sum(H[a][b]["length"] for a, b in zip(p[:-1], p[1:]))
        assert lens[node] == pytest.approx(ref, rel=1e-9, abs=1e-6)
    # node_lengths walks single branches back (the ranking asks for a few nodes)
    nodes = np.arange(0, sip.n_nodes, 7)
    got = sip.node_lengths(sn, pred, nodes, mode="car")
    np.testing.assert_array_equal(np.isinf(got), np.isinf(lens[nodes]))
    assert np.isinf(got).any() and np.isfinite(got).sum() > 100
    ok = np.isfinite(got)
    np.testing.assert_allclose(got[ok], lens[nodes][ok], rtol=1e-12, atol=1e-9)
    assert sip.node_lengths(sn, pred, [sip.edge_u[sn.edge], sip.edge_v[sn.edge]], mode="car").tolist() == \
        pytest.approx([sn.t * sip.edge_length_m[sn.edge], (1 - sn.t) * sip.edge_length_m[sn.edge]])


@pytest.mark.parametrize("mode", ["walk", "car"])
def test_nearest_targets_equal_a_full_search(sip, mode):
    """nearest_targets stops early; the k fastest targets and their times must be those a
    full scipy search gives, with attachments, direct ways, costs, ties and a limit."""
    rng = np.random.default_rng(8)
    for trial in range(25):
        node = int(rng.integers(sip.n_nodes))
        try:
            sn = sip.snap(float(sip.lon[node]) + 2e-4, float(sip.lat[node]), mode=mode)
        except ValidationError:
            continue
        dist = sip.search(sn, mode=mode)
        nt = 60
        att_node = rng.integers(0, sip.n_nodes, 90)
        att_target = rng.integers(0, nt, 90)
        att_s = rng.uniform(0, 60, 90)
        direct = np.full(nt, np.inf)
        direct[:3] = rng.uniform(0, 30, 3)
        cost = rng.uniform(0, 200, nt)
        cost[7] = cost[8]                  # a tie, if both are reached the same way
        att_node[att_target == 8] = att_node[att_target == 7][:1] if (att_target == 7).any() else 0
        att_s[att_target == 8] = att_s[att_target == 7][:1] if (att_target == 7).any() else 0.0
        want = np.minimum(direct, np.full(nt, np.inf))
        for a in range(90):
            want[att_target[a]] = min(want[att_target[a]], dist[att_node[a]] + att_s[a])
        want_total = want + cost
        limit = np.inf if trial % 2 else float(rng.uniform(60, 900))
        for k in (1, 5, 20):
            tgt, total, road, att, pred = sip.nearest_targets(
                sn, mode=mode, k=k, att_node=att_node, att_target=att_target, att_s=att_s, direct_s=direct,
                cost_s=cost, limit_s=limit)
            assert len(set(tgt.tolist())) == len(tgt)
            np.testing.assert_allclose(total, want_total[tgt], rtol=1e-12)
            np.testing.assert_allclose(road, want[tgt], rtol=1e-12)
            assert (road <= limit).all()
            ok = np.isfinite(want) & (want <= limit)
            ref = np.sort(want_total[ok])[:k]
            got = np.sort(total)[:k]
            np.testing.assert_allclose(got, ref, rtol=1e-12)
            if len(ref) == k:       # every target tied with the k-th is there
                assert (np.isin(np.flatnonzero(ok & (want_total <= ref[-1])), tgt)).all()
            # the way each came: its attachment (or the direct one) and the search tree behind it
            for j, r, a in zip(tgt.tolist(), road.tolist(), att.tolist()):
                if a < 0:
                    assert r == pytest.approx(direct[j])
                else:
                    assert att_target[a] == j and r == pytest.approx(dist[att_node[a]] + att_s[a])
                    x = att_node[a]
                    while pred[x] != sip.n_nodes:
                        x = pred[x]
                        assert x >= 0


# -- command line --------------------------------------------------------------------------

def test_cli_network_build_writes_a_loadable_network(tmp_path):
    from click.testing import CliRunner

    from stationmap.cli import main

    out = tmp_path / "nets" / "sip.npz"
    res = CliRunner().invoke(main, ["network", "build", str(SIP_GPKG), "--out", str(out),
                                    "--licence", "© OpenStreetMap contributors, ODbL"])
    assert res.exit_code == 0, res.output
    assert "11029 nodes" in res.output and "STATIONMAP_NETWORKS" in res.output
    built = Network.load(out, settings=SETTINGS)
    with np.load(SIP_NPZ, allow_pickle=False) as z:
        for k in z.files:
            np.testing.assert_array_equal(built.arrays()[k], z[k], err_msg=k)
    res = CliRunner().invoke(main, ["network", "build", str(ONEWAY_OSM), "--out", str(tmp_path / "o.npz"),
                                    "--name", "grid"])
    assert Network.load(tmp_path / "o.npz").licence == "© OpenStreetMap contributors, ODbL"   # an OSM file says
    assert res.exit_code == 0 and "'grid'" in res.output and "5 one-way" in res.output   # 1-2, 2-3, 6-3 and the motorway 7-8, 8-9
    res = CliRunner().invoke(main, ["network", "build", str(SIP_GPKG), "--out", str(tmp_path / "d.npz"),
                                    "--date", "2026-03-01"])
    assert res.exit_code == 0 and "data of 2026-03-01" in res.output
    assert Network.load(tmp_path / "d.npz").date == "2026-03-01"


@pytest.mark.parametrize("args, message", [
    (["network", "build", "missing.gpkg", "--out", "x.npz"], "road network source not found: 'missing.gpkg'"),
    (["network", "build", str(ROOT / "data" / "roads" / "PROVENANCE.md"), "--out", "x.npz"], "source must be"),
    (["network", "build", str(ONEWAY_OSM), "--out", "x.txt"], "out must be a .npz file"),
])
def test_cli_network_build_errors_are_one_clear_line(tmp_path, monkeypatch, args, message):
    from click.testing import CliRunner

    from stationmap.cli import main

    monkeypatch.chdir(tmp_path)
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 1
    assert isinstance(res.exception, SystemExit)
    assert message in res.output and "Traceback" not in res.output


@pytest.mark.parametrize("lon,lat", [(25.0, 1.3), (-170.0, -80.0), (179.9, 89.9)])
def test_points_far_outside_the_projection_are_refused_not_crashing(sip, lon, lat):
    # found by fuzzing /api/v1/reach: such points project to inf in the network's UTM zone
    with pytest.raises(ValidationError, match="far from every road|from the nearest road") as exc:
        sip.snap(lon, lat, mode="walk")
    assert exc.value.field == "point"
    assert not sip.covers(lon, lat, mode="walk")


@pytest.mark.parametrize("mode", ["bike", "car"])
def test_contracted_search_where_one_way_streets_end_on_two_way_roads(sip, mode):
    """Every 7th SIP street made one-way (for bikes and cars, as OpenStreetMap's oneway=yes is): a
    one-way street ending in the middle of a two-way road must keep that node (issue 21)."""
    from stationmap.network.osm import MODE_BIT

    bits = MODE_BIT["bike"] | MODE_BIT["ebike"] | MODE_BIT["car"]
    ow = np.where(np.arange(sip.n_edges) % 7 == 0, bits, 0)
    net = Network.from_arrays(sip.lon, sip.lat, sip.edge_u, sip.edge_v,
                              highway=np.array([sip.classes[c] for c in sip.edge_class], dtype=object),
                              oneway=ow, settings=SETTINGS)
    assert (net.edge_oneway != 0).sum() > 1000
    rng = np.random.default_rng(5)
    nodes = rng.choice(net.n_nodes, 3, replace=False)
    assert _core_check(net, mode, [(net.lon[k] + 2e-4, net.lat[k] + 1e-4) for k in nodes], 10 * 60.0) > 300
