"""A city-sized road network (issue 21): ~1 million nodes.

No city PBF is at hand offline, so one is written here with osmium: a SIDE x SIDE lattice
of nodes 60 m apart with 9 m of jitter near Changzhou (one street in ten a primary road,
one in seven one-way for vehicles, the rest residential), every row and column a way.

* Build: ``stationmap network build`` of that PBF in a fresh process: wall time and peak
  memory (goals <= 60 s, <= 4 GB).
* Load: ``create_app`` with the network configured, from a fresh process, twice: the first
  start after a build (what is derived -- mode graphs, contraction, the isochrone grid -- is
  computed once and kept on disk next to the network), then a later start (every worker's,
  every restart's), to the first /nearest answer.  Goal <= 1 s for the later start.
* Coverage: minutes to the nearest station at every node (``coverage.node_minutes``) from
  500 stations against bare scipy multi-source Dijkstra (``min_only=True``) on the same graph
  in the same run (goal <= 2x, as the SIP figure); and a coverage run of a 20 km square at
  250 m cells on it (reported).

Run: ``python benchmarks/bench_bignet.py [SIDE]`` (default 1000: 1,000,000 nodes).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SIDE = 1000
SPACING_M = 60.0
LON0, LAT0 = 119.70, 31.55
BUILD_GOAL_S, BUILD_GOAL_GB, LOAD_GOAL_S, COVER_GOAL = 60.0, 4.0, 1.0, 2.0


def write_pbf(path: Path, side: int = SIDE, seed: int = 0) -> int:
    """The lattice as an OpenStreetMap PBF; returns its node count."""
    import osmium

    rng = np.random.default_rng(seed)
    dlat = SPACING_M / 111_320.0
    dlon = SPACING_M / (111_320.0 * np.cos(np.radians(LAT0)))
    jit = rng.normal(0, 9.0 / SPACING_M, (side, side, 2))
    writer = osmium.SimpleWriter(str(path))
    try:
        nid = lambda r, c: r * side + c + 1     # noqa: E731
        for r in range(side):
            for c in range(side):
                writer.add_node(osmium.osm.mutable.Node(
                    id=nid(r, c), location=(LON0 + (c + jit[r, c, 0]) * dlon, LAT0 + (r + jit[r, c, 1]) * dlat)))
        wid = 1
        for k in range(side):
            tags = {"highway": "primary" if k % 10 == 0 else "residential"}
            if k % 7 == 3:
                tags["oneway"] = "yes"
            writer.add_way(osmium.osm.mutable.Way(id=wid, nodes=[nid(k, c) for c in range(side)], tags=tags))
            writer.add_way(osmium.osm.mutable.Way(id=wid + 1, nodes=[nid(r, k) for r in range(side)], tags=tags))
            wid += 2
    finally:
        writer.close()
    return side * side


def _run(code: str, env: dict | None = None) -> dict:
    """``code`` in a fresh Python (the repository on its path): its last stdout line as JSON, with
    its wall time and peak memory (ru_maxrss of the child)."""
    import resource

    t = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True,
                         env={**os.environ, **(env or {})}, check=False)
    wall = time.perf_counter() - t
    if out.returncode:
        raise RuntimeError(out.stderr[-3000:])
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    res = json.loads(out.stdout.strip().splitlines()[-1])
    res.update(wall_s=wall, peak_gb=max(peak, before) / 1024 / 1024)
    return res


def main(side: int = SIDE) -> dict:
    out: dict = {"side": side}
    with tempfile.TemporaryDirectory() as d:
        pbf, npz = Path(d) / "city.osm.pbf", Path(d) / "city.npz"
        t = time.perf_counter()
        out["nodes_written"] = write_pbf(pbf, side)
        out["write_pbf_s"] = time.perf_counter() - t
        build = _run(f"""
            import json, time
            from stationmap.network import Network
            t = time.perf_counter()
            net = Network.build({str(pbf)!r}, name="city")
            net.save({str(npz)!r})
            print(json.dumps({{"s": time.perf_counter() - t, "nodes": net.n_nodes, "edges": net.n_edges}}))
        """)
        out["build"] = build
        print(f"build of a {build['nodes']:,}-node PBF ({build['edges']:,} edges): {build['wall_s']:.1f} s "
              f"(network {build['s']:.1f} s), peak {build['peak_gb']:.2f} GB "
              f"[goals <= {BUILD_GOAL_S:g} s, <= {BUILD_GOAL_GB:g} GB]")
        start = f"""
            import json, tempfile, time
            t = time.perf_counter()
            from stationmap.web import create_app
            from stationmap.store import StationStore
            d = tempfile.mkdtemp()
            url = f"sqlite:///{{d}}/s.sqlite"
            StationStore(url).create_all()
            app = create_app({{"database_url": url, "instance_path": d + "/instance",
                              "networks": {{"city": {str(npz)!r}}}}})
            r = app.test_client().get("/api/v1/nearest?lat={LAT0 + 0.2}&lon={LON0 + 0.2}&mode=ebike")
            assert r.status_code == 200, r.get_data(as_text=True)
            print(json.dumps({{"s": time.perf_counter() - t, "method": r.get_json()["method"]}}))
        """
        first, later = _run(start), _run(start)
        out["load_first"], out["load_later"] = first, later
        print(f"start to the first /nearest (method {later['method']}): after the build {first['s']:.2f} s, "
              f"later starts {later['s']:.2f} s, peak {later['peak_gb']:.2f} GB [goal <= {LOAD_GOAL_S:g} s]")
        cover = _run(f"""
            import json, time
            import numpy as np
            from scipy.sparse.csgraph import dijkstra
            from stationmap import coverage as cv
            from stationmap.network import Network
            net = Network.load({str(npz)!r})
            g = net.graph("ebike")
            rng = np.random.default_rng(1)
            nodes = rng.choice(net.n_nodes, 500, replace=False)
            lon, lat = net.lon[nodes], net.lat[nodes]
            cv.node_minutes(net, lon, lat, mode="ebike")          # (first call: compiles)
            def best(f, n=3):
                ts = []
                for _ in range(n):
                    t = time.perf_counter(); f(); ts.append(time.perf_counter() - t)
                return min(ts)
            ours = best(lambda: cv.node_minutes(net, lon, lat, mode="ebike"))
            A = g.csr.transpose().tocsr()       # (to the stations: searches from them on the reversed graph)
            bare = best(lambda: dijkstra(A, indices=nodes, min_only=True))
            print(json.dumps({{"ours_s": ours, "bare_s": bare, "ratio": ours / bare}}))
        """)
        out["coverage"] = cover
        print(f"minutes to the nearest of 500 stations at every node: {cover['ours_s']:.2f} s vs bare scipy "
              f"min_only {cover['bare_s']:.2f} s = {cover['ratio']:.2f}x [goal <= {COVER_GOAL:g}x]")
    return out


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else SIDE)
