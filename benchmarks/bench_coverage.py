"""Coverage speed (issue 5).

* Changzhou, six districts, 250 m cells, circle method, every kind (the
  bundled SAMPLE stations): goal <= 1 s.  Timed cold (grid built) and with
  the grid already built; loading the boundaries is reported apart.
* Suzhou Industrial Park core, network method: minutes to the nearest
  station at every node (stationmap.coverage.node_minutes) against bare
  scipy multi-source Dijkstra (``min_only=True``) from the stations' nodes
  on the same graph, in the same run: goal <= 2x.  The whole analysis too.
* Sites: Changzhou (greedy, large) and the SIP core (exact, CBC), covered once and
  twice (the 双15 backup objective, issue 17).
* Accessibility (E2SFCA, issue 17) on Changzhou city (every county, 250 m) and on the SIP
  core's roads.
* A synthetic national run: 2,990 square "counties" over China's extent
  (65 x 46, each with a 2020 census county population in file order),
  200,000 clustered stations, 1 km cells, walk 15 minutes, every kind,
  partitioned by county: serially in one process, then on a local Dask
  cluster of one worker process per core, then of one thread per core.
  The three give identical figures (checked here too).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def best_of(f, repeat=3):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = f()
        times.append(time.perf_counter() - t)
    return min(times), out


def changzhou(settings):
    from stationmap import coverage as cv
    from stationmap.districts import load_districts
    from stationmap.io.sample import load_sample

    t = time.perf_counter()
    districts = load_districts(settings)
    load_s = time.perf_counter() - t
    stations = load_sample(settings=settings)
    cold, cov = best_of(lambda: cv.analyse("320400", stations, mode="walk", settings=settings,
                                           districts=districts))
    grid = cov.grid
    warm, cov = best_of(lambda: cv.analyse("320400", stations, mode="walk", settings=settings,
                                           districts=districts, grid=grid))
    stats_s, _ = best_of(lambda: cov.stats())
    gaps_s, gaps = best_of(lambda: cov.gaps(kind="rest"))
    ebike, _ = best_of(lambda: cv.analyse("320400", stations, mode="ebike", settings=settings,
                                          districts=districts, grid=grid))
    out = {"cells": len(grid), "kinds": list(cov.kinds), "stations": len(stations),
           "analyse_cold_s": cold, "analyse_warm_s": warm, "analyse_warm_ebike_s": ebike, "stats_s": stats_s,
           "gaps_s": gaps_s, "gaps": len(gaps), "load_boundaries_s": load_s, "goal_s": 1.0,
           "meets_goal": cold <= 1.0}
    print(f"Changzhou, 250 m, circle, {len(cov.kinds)} kinds: {len(grid):,} cells; analyse {cold:.3f} s cold "
          f"(grid built), {warm:.3f} s with the grid (ebike {ebike:.3f} s); stats {stats_s:.3f} s, "
          f"gaps {gaps_s:.3f} s; loading boundaries {load_s:.2f} s (once)  [goal <= 1 s]")
    return out, cov


def sip(settings):
    from scipy.sparse.csgraph import dijkstra

    from stationmap import coverage as cv
    from stationmap.io.sample import load_sample
    from stationmap.network import Network, reverse_graph, snap_points

    net = Network.from_gpkg(ROOT / "data" / "roads" / "sip_roads.gpkg", settings=settings)
    stations = [s for s in load_sample(settings=settings) if s.adcode == "320571"]
    lon = np.array([s.lon for s in stations])
    lat = np.array([s.lat for s in stations])
    cv.node_minutes(net, lon, lat, mode="walk")           # warm the caches (graph, snapping grid)
    _real, rev = reverse_graph(net, "walk")
    e, _t, _a = snap_points(net, "walk", lon, lat, settings.max_snap_m)
    src = np.unique(net.edge_u[e[e >= 0]])
    ours, _got = best_of(lambda: cv.node_minutes(net, lon, lat, mode="walk"), repeat=7)
    bare, _ref = best_of(lambda: dijkstra(rev, directed=True, indices=src, min_only=True), repeat=7)
    full, cov = best_of(lambda: cv.analyse("320571", stations, network=net, mode="walk", settings=settings))
    ratio = ours / bare
    out = {"nodes": net.n_nodes, "stations": len(stations), "node_minutes_s": ours, "scipy_min_only_s": bare,
           "ratio": ratio, "goal_ratio": 2.0, "meets_goal": ratio <= 2.0, "analyse_s": full,
           "cells": len(cov.grid)}
    print(f"SIP core, network (walk): minutes to nearest at {net.n_nodes:,} nodes from {len(stations)} stations: "
          f"{ours * 1e3:.2f} ms vs bare scipy min_only {bare * 1e3:.2f} ms = {ratio:.2f}x  [goal <= 2x]; "
          f"whole analysis ({len(cov.grid)} cells, 3 kinds) {full:.3f} s")
    return out, cov, net


def sites(cz, sip_cov, settings):
    from stationmap import siting

    t_cz, s_cz = best_of(lambda: siting.suggest_sites(cz, 10, kind="rest", settings=settings), repeat=1)
    t_sip, s_sip = best_of(lambda: siting.suggest_sites(sip_cov, 5, kind="rest", settings=settings), repeat=1)
    t_cz2, s_cz2 = best_of(lambda: siting.suggest_sites(cz, 10, kind="rest", settings=settings,
                                                        objective="twice"), repeat=1)
    t_sip2, s_sip2 = best_of(lambda: siting.suggest_sites(sip_cov, 5, kind="rest", settings=settings,
                                                          objective="twice"), repeat=1)
    print(f"sites: Changzhou 10 ({s_cz.method}) {t_cz:.2f} s; SIP core 5 ({s_sip.method}, "
          f"optimal={s_sip.optimal}) {t_sip:.2f} s")
    print(f"sites covered twice (双15): Changzhou 10 ({s_cz2.method}) {t_cz2:.2f} s; SIP core 5 ({s_sip2.method}, "
          f"optimal={s_sip2.optimal}) {t_sip2:.2f} s")
    return {"changzhou_10_s": t_cz, "changzhou_method": s_cz.method, "sip_5_s": t_sip, "sip_method": s_sip.method,
            "sip_optimal": s_sip.optimal, "twice_changzhou_10_s": t_cz2, "twice_changzhou_method": s_cz2.method,
            "twice_sip_5_s": t_sip2, "twice_sip_method": s_sip2.method, "twice_sip_optimal": s_sip2.optimal}


def access(cz, sip_cov):
    from stationmap.coverage.accessibility import accessibility

    t_cz, a_cz = best_of(lambda: accessibility(cz, "rest"), repeat=1)
    t_sip, _a = best_of(lambda: accessibility(sip_cov, "rest"), repeat=1)
    print(f"accessibility (E2SFCA): Changzhou, {len(cz.grid):,} cells, {len(a_cz.station_id)} stations: "
          f"{t_cz:.2f} s; SIP core on its roads: {t_sip:.2f} s")
    return {"changzhou_s": t_cz, "changzhou_cells": len(cz.grid), "sip_s": t_sip}


def national(settings, *, n_stations=200_000, cell_m=1000.0, workers=None):
    import pandas as pd
    from shapely.geometry import box

    from stationmap import coverage as cv
    from stationmap.model import Station

    pop = pd.read_csv(ROOT / "data" / "census" / "population.csv", encoding="utf-8-sig", dtype={"CODE": str})
    nx_, ny_ = 65, 46
    lons = np.linspace(73.5, 134.5, nx_ + 1)
    lats = np.linspace(18.5, 53.5, ny_ + 1)
    areas = []
    for j in range(ny_):
        for i in range(nx_):
            k = j * nx_ + i
            areas.append(cv.Area(f"9{k:05d}", f"county {k}", "county",
                                 box(lons[i], lats[j], lons[i + 1], lats[j + 1]),
                                 population=float(pop.POPU.iloc[k % len(pop)])))
    rng = np.random.default_rng(42)
    centres = np.column_stack([rng.uniform(75, 133, 600), rng.uniform(20, 52, 600)])
    which = rng.integers(0, 600, n_stations)
    slon = centres[which, 0] + rng.normal(0, 0.15, n_stations)
    slat = centres[which, 1] + rng.normal(0, 0.12, n_stations)
    kinds = [("rest",), ("rest", "legal_aid"), ("hot_tea",), ("rest",), ("legal_aid",)]
    stations = [Station(id=f"n{i}", name="站", lon=float(slon[i]), lat=float(slat[i]), kinds=kinds[i % 5])
                for i in range(n_stations)]
    arrays = cv.StationArrays.from_stations(stations)
    workers = workers or os.cpu_count() or 1
    runs = {}
    for label, kw in (("serial", {"scheduler": "serial"}),
                      ("dask_processes", {"n_workers": workers, "processes": True}),
                      ("dask_threads", {"n_workers": workers, "processes": False})):
        t = time.perf_counter()
        res = cv.analyse_many(areas, arrays, mode="walk", cell_m=cell_m, settings=settings, **kw)
        runs[label] = (time.perf_counter() - t, res)
    serial_s, ref = runs["serial"]
    for label in ("dask_processes", "dask_threads"):
        same = runs[label][1].stats.equals(ref.stats)
        if not same:
            raise AssertionError(f"{label} figures differ from the serial run")
    stats = ref.stats
    rest = stats[stats.kind == "rest"]
    covered = float((rest.demand_covered.fillna(0) * rest.demand).sum() / rest.demand.sum())
    out = {"counties": len(areas), "stations": n_stations, "cell_m": cell_m, "cells": ref.n_cells,
           "workers": workers, "demand_covered_rest": covered, "identical_to_serial": True}
    for label, (secs, res) in runs.items():
        out[f"{label}_s"] = secs
        out[f"{label}_scheduler"] = res.scheduler
    print(f"national (synthetic): {len(areas):,} counties, {n_stations:,} stations, {cell_m:g} m cells "
          f"({ref.n_cells:,} cells, 3 kinds), walk 15 min: serial {serial_s:.1f} s; "
          f"Dask {runs['dask_processes'][1].scheduler} {runs['dask_processes'][0]:.1f} s; "
          f"Dask {runs['dask_threads'][1].scheduler} {runs['dask_threads'][0]:.1f} s (wall, cluster start "
          f"included; figures identical to the serial run); {os.cpu_count()} cores, load average "
          f"{os.getloadavg()[0]:.1f}; rest-station demand covered {covered:.1%}")
    return out


def main():
    from stationmap import config

    settings = config.load()
    cz_out, cz = changzhou(settings)
    sip_out, sip_cov, _net = sip(settings)
    site_out = sites(cz, sip_cov, settings)
    access_out = access(cz, sip_cov)
    nat = national(settings)
    return {"changzhou": cz_out, "sip": sip_out, "sites": site_out, "accessibility": access_out, "national": nat}


if __name__ == "__main__":
    main()
