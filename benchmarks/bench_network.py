"""Road networks and isochrones (issue 4).

* One 15-minute e-bike isochrone (query point snapped mid-edge, Dijkstra with
  a limit on the contracted graph, reached and cut edges drawn into a polygon
  at the default 50 m cells, polygon back to WGS-84) on a 90,000-node
  synthetic grid and on the SIP graph, against bare
  ``scipy.sparse.csgraph.dijkstra(limit=...)`` from a node of the same graph
  in the same run, and against that search plus a convex hull of the reached
  nodes (scipy.spatial.ConvexHull).  Goal: <= 2x.  The first query (not
  timed) builds the drawing grid and compiles the kernels (numba; cached on
  disk after the first run).
* Loading a compiled 90,000-node network: goal <= 200 ms.  Building SIP from
  its GeoPackage: reported.
* Ranking the 10 fastest of 750 stations by network time: reported.

The grid is 300 x 300 nodes, 50 m apart with 7 m of jitter (a 15 km square
near Suzhou; one street in ten is a primary road), so a 15-minute e-bike
search reaches about 14,000 nodes.  Times are the best of ``REPEAT`` runs
(the median is printed too: the machine is shared).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.sparse.csgraph import dijkstra
from scipy.spatial import ConvexHull

from stationmap import config
from stationmap.index import StationIndex
from stationmap.model import Station
from stationmap.network import Network
from stationmap.reach import isochrone, rank_stations

ROOT = Path(__file__).resolve().parents[1]
SIP_GPKG = ROOT / "data" / "roads" / "sip_roads.gpkg"
N = 300
SPACING_M = 50.0
REPEAT = 40


def grid_network(n=N, spacing=SPACING_M, seed=0, settings=None) -> Network:
    """A jittered n x n street grid (WGS-84, near Suzhou), compiled."""
    rng = np.random.default_rng(seed)
    idx = np.arange(n * n).reshape(n, n)
    u = np.concatenate([idx[:, :-1].ravel(), idx[:-1, :].ravel()])
    v = np.concatenate([idx[:, 1:].ravel(), idx[1:, :].ravel()])
    col, row = np.arange(n * n) % n, np.arange(n * n) // n
    x = col * spacing + rng.normal(0, spacing * 0.14, n * n)
    y = row * spacing + rng.normal(0, spacing * 0.14, n * n)
    lat0, lon0 = 31.20, 120.55
    lat = lat0 + y / 111_195.0
    lon = lon0 + x / (111_195.0 * np.cos(np.radians(lat0)))
    street = np.where(rng.random(len(u)) < 0.1, "primary", "residential")
    return Network.from_arrays(lon, lat, u, v, highway=street, name="grid", settings=settings)


def timings(f, repeat=REPEAT):
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        out.append(time.perf_counter() - t)
    return min(out), statistics.median(out)


def _isochrone_figures(net, lon, lat, label):
    g = net.graph("ebike")
    sn = net.snap(lon, lat, mode="ebike")
    src = int(net.edge_u[sn.edge])
    budget = 15 * 60.0
    isochrone(lon, lat, 15, "ebike", network=net)          # first call builds the grid, compiles the kernels
    dist = dijkstra(g.csr, indices=src, limit=budget)
    reached = np.isfinite(dist[:net.n_nodes])
    pts = np.column_stack([net.x[reached], net.y[reached]])

    def bare():
        dijkstra(g.csr, indices=src, limit=budget)

    def bare_hull():
        d = dijkstra(g.csr, indices=src, limit=budget)
        r = np.isfinite(d[:net.n_nodes])
        ConvexHull(np.column_stack([net.x[r], net.y[r]]))

    def ours():
        isochrone(lon, lat, 15, "ebike", network=net)

    t_bare, m_bare = timings(bare)
    t_hull, m_hull = timings(bare_hull)
    t_ours, m_ours = timings(ours)
    iso = isochrone(lon, lat, 15, "ebike", network=net)
    r = {
        "nodes": net.n_nodes, "reached_nodes": int(reached.sum()),
        "dijkstra_ms": round(t_bare * 1e3, 2), "dijkstra_hull_ms": round(t_hull * 1e3, 2),
        "isochrone_ms": round(t_ours * 1e3, 2),
        "ratio_vs_dijkstra": round(t_ours / t_bare, 2), "ratio_vs_dijkstra_hull": round(t_ours / t_hull, 2),
        "median_ms": {"dijkstra": round(m_bare * 1e3, 2), "dijkstra_hull": round(m_hull * 1e3, 2),
                      "isochrone": round(m_ours * 1e3, 2)},
        "area_km2": round(iso.area_km2, 2), "resolution_m": iso.resolution_m,
        "vertices": int(__import__("shapely").get_num_coordinates(iso.polygon)),
        "hull_points": len(pts),
    }
    print(f"{label}: 15-min e-bike isochrone {r['isochrone_ms']} ms (median {r['median_ms']['isochrone']}) "
          f"vs bare dijkstra {r['dijkstra_ms']} ms -> {r['ratio_vs_dijkstra']}x; "
          f"vs dijkstra + convex hull {r['dijkstra_hull_ms']} ms -> {r['ratio_vs_dijkstra_hull']}x (goal <= 2x); "
          f"{r['reached_nodes']} nodes reached, {r['area_km2']} km2, {r['vertices']} vertices")
    return r


def main():
    settings = config.load()
    out = {}
    # -- the 90,000-node grid --------------------------------------------------------------
    t = time.perf_counter()
    grid = grid_network(settings=settings)
    build_grid = time.perf_counter() - t
    with tempfile.TemporaryDirectory() as tmp:
        path = grid.save(Path(tmp) / "grid.npz")
        size = path.stat().st_size
        t_load, m_load = timings(lambda: Network.load(path, settings=settings), repeat=10)
        t_prep, _ = timings(lambda: Network.load(path, settings=settings).prepare(), repeat=3)
        t_one, _ = timings(lambda: Network.load(path, settings=settings).prepare(["ebike"]), repeat=3)
    out["grid_build_s"] = round(build_grid, 2)
    out["grid_file_mb"] = round(size / 1e6, 2)
    out["grid_load_ms"] = round(t_load * 1e3, 1)
    out["grid_load_median_ms"] = round(m_load * 1e3, 1)
    out["grid_load_prepare_ebike_ms"] = round(t_one * 1e3, 1)
    out["grid_load_prepare_all_ms"] = round(t_prep * 1e3, 1)
    print(f"grid {grid.n_nodes} nodes, {grid.n_edges} edges: compiled in {out['grid_build_s']} s, "
          f"file {out['grid_file_mb']} MB; load {out['grid_load_ms']} ms (median {out['grid_load_median_ms']}; "
          f"goal <= 200 ms); load + e-bike graph and snapping grid {out['grid_load_prepare_ebike_ms']} ms; "
          f"load + all four modes {out['grid_load_prepare_all_ms']} ms")
    w, s, e, n = grid.bounds
    out["grid_isochrone"] = _isochrone_figures(grid, (w + e) / 2 + 1e-4, (s + n) / 2 + 1e-4, "grid")
    # -- SIP --------------------------------------------------------------------------------
    t = time.perf_counter()
    sip = Network.build(SIP_GPKG, settings=settings)
    out["sip_build_from_gpkg_s"] = round(time.perf_counter() - t, 2)
    with tempfile.TemporaryDirectory() as tmp:
        path = sip.save(Path(tmp) / "sip.npz")
        t_load, _ = timings(lambda: Network.load(path, settings=settings), repeat=10)
    out["sip_load_ms"] = round(t_load * 1e3, 1)
    print(f"SIP {sip.n_nodes} nodes: built from the GeoPackage in {out['sip_build_from_gpkg_s']} s; "
          f"load {out['sip_load_ms']} ms")
    sip.prepare(["ebike"])
    out["sip_isochrone"] = _isochrone_figures(sip, 120.72, 31.31, "SIP")
    # -- ranking stations ----------------------------------------------------------------------
    rng = np.random.default_rng(5)
    nodes = rng.choice(sip.n_nodes, 750, replace=False)
    stations = [Station(id=f"b{i}", name="站", lon=float(sip.lon[k] + rng.uniform(-5e-4, 5e-4)),
                        lat=float(sip.lat[k] + rng.uniform(-5e-4, 5e-4))) for i, k in enumerate(nodes)]
    index = StationIndex.from_stations(stations)
    rank_stations(sip, index, 120.72, 31.31, mode="ebike", k=10)      # snaps the stations once
    t_rank, _ = timings(lambda: rank_stations(sip, index, 120.72, 31.31, mode="ebike", k=10))
    t_rank15, _ = timings(lambda: rank_stations(sip, index, 120.72, 31.31, mode="ebike", k=10, minutes=15))
    out["sip_rank_10_of_750_ms"] = round(t_rank * 1e3, 2)
    out["sip_rank_10_of_750_within_15_min_ms"] = round(t_rank15 * 1e3, 2)
    print(f"SIP rank 10 fastest of 750 stations by e-bike: {out['sip_rank_10_of_750_ms']} ms (whole network), "
          f"{out['sip_rank_10_of_750_within_15_min_ms']} ms (within 15 minutes)")
    return out


if __name__ == "__main__":
    main()
