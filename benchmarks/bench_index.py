"""StationIndex speed: nearest k=5 one query at a time over 200,000 synthetic
stations against bare scipy cKDTree on the same points in the same run, and
the bulk build.  Goals (issue 2): nearest <= 1.5x cKDTree, with a kind filter
<= 2x; build of 200,000 stations <= 1 s.  rtree's own nearest is timed too:
it is why nearest uses cKDTree beside the rtree (stationmap/index.py)."""

from __future__ import annotations

import time

import numpy as np
from scipy.spatial import cKDTree

from stationmap.index import StationIndex, ecef
from stationmap.model import Station

N = 200_000
Q = 20_000


def synthetic(n=N, seed=42):
    rng = np.random.default_rng(seed)
    # clustered like real stations: 400 towns with normal spreads, in China's extent
    centres = np.column_stack([rng.uniform(100, 122, 400), rng.uniform(22, 42, 400)])
    which = rng.integers(0, 400, n)
    lon = centres[which, 0] + rng.normal(0, 0.15, n)
    lat = centres[which, 1] + rng.normal(0, 0.12, n)
    kinds = [("rest",), ("rest", "legal_aid"), ("hot_tea",), ("rest",), ("legal_aid",)]
    return [Station(id=f"s{i}", name="站", lon=float(lon[i]), lat=float(lat[i]), kinds=kinds[i % 5])
            for i in range(n)], rng


def best_of(f, repeat=3):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def main():
    stations, rng = synthetic()
    lon = np.array([s.lon for s in stations])
    lat = np.array([s.lat for s in stations])
    build = best_of(lambda: StationIndex.from_stations(stations))
    index = StationIndex.from_stations(stations)
    pick = rng.integers(0, N, Q)
    qlon = (lon[pick] + rng.normal(0, 0.05, Q)).tolist()
    qlat = (lat[pick] + rng.normal(0, 0.05, Q)).tolist()
    qxyz = ecef(qlon, qlat)
    pts = ecef(lon, lat)
    kd = cKDTree(pts)
    rest = np.array(["rest" in s.kinds for s in stations])
    kd_rest = cKDTree(pts[rest])

    def ours(kinds=None):
        nearest = index.nearest
        for x, y in zip(qlon, qlat):
            nearest(x, y, k=5, kinds=kinds)

    def base(tree):
        for q in qxyz:
            tree.query(q, 5)

    def rtree_nearest():
        rt = index._rtree
        for q in qxyz[:2000]:
            list(rt.nearest((*q, *q), 5))

    t_kd = best_of(lambda: base(kd)) / Q
    t_ours = best_of(ours) / Q
    t_kd_rest = best_of(lambda: base(kd_rest)) / Q
    t_ours_rest = best_of(lambda: ours(["rest"])) / Q
    t_rtree = best_of(rtree_nearest) / 2000
    r = {
        "stations": N,
        "build_s": round(build, 3),
        "nearest_us": round(t_ours * 1e6, 1),
        "ckdtree_us": round(t_kd * 1e6, 1),
        "nearest_ratio": round(t_ours / t_kd, 2),
        "nearest_kind_us": round(t_ours_rest * 1e6, 1),
        "ckdtree_kind_us": round(t_kd_rest * 1e6, 1),
        "nearest_kind_ratio": round(t_ours_rest / t_kd_rest, 2),
        "rtree_nearest_us": round(t_rtree * 1e6, 1),
    }
    print(f"build {N} stations: {build:.3f} s (goal <= 1 s)")
    print(f"nearest k=5: {r['nearest_us']} us vs cKDTree {r['ckdtree_us']} us -> {r['nearest_ratio']}x (goal <= 1.5x)")
    print(f"nearest k=5 kind=rest: {r['nearest_kind_us']} us vs cKDTree {r['ckdtree_kind_us']} us "
          f"-> {r['nearest_kind_ratio']}x (goal <= 2x)")
    print(f"rtree nearest k=5 (not used for nearest): {r['rtree_nearest_us']} us")
    return r


if __name__ == "__main__":
    main()
