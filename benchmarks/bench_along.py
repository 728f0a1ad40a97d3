"""Stations along a route (issue 19): one ``along_route`` query on the SIP network against two
bare scipy Dijkstra searches on the same graph, in the same run.  Goal: <= 2x.

An along query snaps both ends, runs one Dijkstra from the start (on the e-bike graph, the whole
network) and one to the destination on the reversed graph (bounded by the direct time plus the
detour allowed), then looks up each station's two times and ranks them.  The reference is what a
program that knows how would do at the least: two unbounded
``scipy.sparse.csgraph.dijkstra`` calls from a node on the mode graph (the same CSR matrix), one
from each end.  750 stations near SIP's roads (snapped once before timing, as a server does:
snaps are cached per station slot); eight random pairs of ends 3-8 km apart; for each pair the
best of ``REPEAT`` runs (the machine is shared: the median is printed too), and the ratio of the
sums over the pairs.

Also, reported: the same on the 90,000-node grid of bench_network.py (15 km square, 2,000 stations,
ends 3-5 km apart), where the searches, bounded by the direct time plus the detour, cover a part of
the network only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from bench_network import timings  # (a sibling: benchmarks/ is on the path)
from pyproj import Geod
from scipy.sparse.csgraph import dijkstra

from stationmap import config
from stationmap.along import along_route
from stationmap.index import StationIndex
from stationmap.model import Station
from stationmap.network import Network

ROOT = Path(__file__).resolve().parents[1]
SIP_NPZ = ROOT / "data" / "roads" / "sip.npz"
REPEAT = 30
PAIRS = 8
GOAL = 2.0


def _pairs(net, n, rng, lo_m, hi_m):
    geod = Geod(ellps="WGS84")
    out = []
    while len(out) < n:
        a, b = rng.choice(net.n_nodes, 2, replace=False)
        d = geod.inv(net.lon[a], net.lat[a], net.lon[b], net.lat[b])[2]
        if lo_m <= d <= hi_m:
            out.append((int(a), int(b), d))
    return out


def compare(net, n_stations, pairs, lo_m, hi_m, settings, label):
    """One along query against two bare Dijkstra searches, for ``pairs`` random pairs of ends."""
    g = net.graph("ebike")
    rng = np.random.default_rng(19)
    nodes = rng.choice(net.n_nodes, n_stations, replace=False)
    stations = [Station(id=f"b{i}", name="站", lon=float(net.lon[k] + rng.uniform(-5e-4, 5e-4)),
                        lat=float(net.lat[k] + rng.uniform(-5e-4, 5e-4))) for i, k in enumerate(nodes)]
    index = StationIndex.from_stations(stations)
    rows = []
    for a, b, d in _pairs(net, pairs, rng, lo_m, hi_m):
        # the ends a little off their nodes (snapped mid-edge, as a courier's position is)
        ends = (float(net.lon[a]) + 1e-4, float(net.lat[a]) + 1e-4, float(net.lon[b]) - 1e-4, float(net.lat[b]) + 1e-4)

        def ours(ends=ends):
            return along_route(net, index, *ends, mode="ebike", max_detour=3, k=5, settings=settings)

        def bare(a=a, b=b):
            dijkstra(g.csr, indices=a)
            dijkstra(g.csr, indices=b)

        first = ours()      # (snaps the stations and builds the reversed graph once, untimed)
        assert first.method == "network"
        t_bare, m_bare = timings(bare, REPEAT)
        t_ours, m_ours = timings(ours, REPEAT)
        rows.append({"straight_m": round(d), "route_minutes": round(first.route_minutes, 1),
                     "stations": len(first.stations), "two_dijkstra_ms": round(t_bare * 1e3, 2),
                     "along_ms": round(t_ours * 1e3, 2), "ratio": round(t_ours / t_bare, 2),
                     "median_ms": {"two_dijkstra": round(m_bare * 1e3, 2), "along": round(m_ours * 1e3, 2)}})
        print(f"  {d / 1000:4.1f} km, {first.route_minutes:4.1f} min by e-bike, {len(first.stations)} stations within "
              f"3 min: along {rows[-1]['along_ms']} ms (median {rows[-1]['median_ms']['along']}) vs two dijkstra "
              f"{rows[-1]['two_dijkstra_ms']} ms (median {rows[-1]['median_ms']['two_dijkstra']}) -> "
              f"{rows[-1]['ratio']}x")
    total_ours = sum(r["along_ms"] for r in rows)
    total_bare = sum(r["two_dijkstra_ms"] for r in rows)
    ratio = round(total_ours / total_bare, 2)
    out = {"nodes": net.n_nodes, "stations": len(stations), "pairs": rows, "along_ms_total": round(total_ours, 2),
           "two_dijkstra_ms_total": round(total_bare, 2), "ratio": ratio,
           "worst_pair_ratio": max(r["ratio"] for r in rows)}
    print(f"{label} ({net.n_nodes} nodes, {len(stations)} stations): one along query vs two bare scipy Dijkstra "
          f"searches: {ratio}x over {pairs} pairs (worst pair {out['worst_pair_ratio']}x)")
    return out


def main():
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_network import grid_network

    settings = config.load()
    sip = Network.load(SIP_NPZ, settings=settings).prepare(["ebike"])
    out = {"sip": compare(sip, 750, PAIRS, 3000, 8000, settings, "SIP"), "goal": GOAL}
    print(f"SIP: {out['sip']['ratio']}x (goal <= {GOAL:g}x)")
    grid = grid_network(settings=settings).prepare(["ebike"])
    out["grid"] = compare(grid, 2000, 4, 3000, 5000, settings, "grid")
    return out


if __name__ == "__main__":
    main()
