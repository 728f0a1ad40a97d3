"""Import speed: a synthetic 200,000-row CSV into a fresh SQLite store.

Goal: <= 10 s (wall clock) for the first import (200,000 new stations, one change-log row
each, one transaction).  The rows give no adcode: each is placed in the district its
point lies in (issue 20; one bulk point-in-polygon lookup per 20,000 rows); the box also covers
Shanghai, Anhui, Shandong and the sea, whose rows get ``district=`` (``--district``).
Also timed: the same file again (all unchanged: nothing written) and a GCJ-02 file of
the same size (vectorised datum conversion).  Run ``python benchmarks/bench_import.py [ROWS]``.
"""

from __future__ import annotations

import csv
import os
import sys
import tempfile
import time

import numpy as np

GOAL_S = 10.0
#: the district of rows outside the bundled (Jiangsu) boundaries (``stationmap import --district``)
OUTSIDE = "320000"


def make_csv(path: str, n: int, *, seed: int = 1) -> None:
    """A CSV of ``n`` valid stations spread over Jiangsu (WGS-84 or any datum: the box is the same)."""
    rng = np.random.default_rng(seed)
    lon = rng.uniform(116.4, 121.9, n).round(7)
    lat = rng.uniform(30.8, 35.1, n).round(7)
    kinds = ["rest", "rest;hot_tea", "hot_tea", "legal_aid", "rest;legal_aid"]
    services = ["drinking_water;hot_water;toilet", "phone_charging;microwave", "hot_water",
                "drinking_water;rest_seats;wifi;first_aid", ""]
    hours = ["24/7", "Mo-Fr 08:00-18:00", "Mo-Su 07:00-19:00", "Mo-Fr 08:30-17:30; Sa 09:00-12:00"]
    with open(path, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "name", "kinds", "services", "address", "adcode", "phone", "opening_hours",
                    "status", "verified_at", "lon", "lat"])
        for i in range(n):
            w.writerow([f"bench-{i:06d}", f"测试驿站{i}", kinds[i % 5], services[i % 5], f"江苏省某市某路{i}号",
                        "", f"0512-{i % 10000:04d}{i % 1000:04d}", hours[i % 4], "active",
                        "2024-05-01", lon[i], lat[i]])


def main(n: int = 200_000) -> dict:
    from stationmap.io.importer import import_file
    from stationmap.store import StationStore

    out = {"rows": n, "goal_s": GOAL_S}
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "stations.csv")
        t = time.perf_counter()
        make_csv(path, n)
        out["generate_s"] = round(time.perf_counter() - t, 2)

        store = StationStore(f"sqlite:///{d}/bench.sqlite")
        store.create_all()
        t, c = time.perf_counter(), time.process_time()
        res = import_file(store, path, district=OUTSIDE)
        out["import_new_s"] = round(time.perf_counter() - t, 2)
        out["import_new_cpu_s"] = round(time.process_time() - c, 2)
        assert res.new == n and store.count() == n

        t = time.perf_counter()
        res = import_file(store, path, district=OUTSIDE)
        out["reimport_unchanged_s"] = round(time.perf_counter() - t, 2)
        assert res.unchanged == n

        t = time.perf_counter()
        res = import_file(store, path, dry_run=True, district=OUTSIDE)
        out["dry_run_s"] = round(time.perf_counter() - t, 2)

        store2 = StationStore(f"sqlite:///{d}/bench_gcj.sqlite")
        store2.create_all()
        t = time.perf_counter()
        res = import_file(store2, path, datum="gcj02", district=OUTSIDE)
        out["import_new_gcj02_s"] = round(time.perf_counter() - t, 2)
        assert res.new == n
    out["meets_goal"] = out["import_new_s"] <= GOAL_S
    print(f"import of a {n:,}-row CSV into a new SQLite store: {out['import_new_s']:.2f} s "
          f"(goal <= {GOAL_S:.0f} s: {'met' if out['meets_goal'] else 'NOT met'}; "
          f"{out['import_new_cpu_s']:.2f} s of CPU: more wall time means a busy machine)")
    print(f"  same file again (all unchanged):        {out['reimport_unchanged_s']:.2f} s")
    print(f"  dry run (validate + compare):           {out['dry_run_s']:.2f} s")
    print(f"  GCJ-02 input (converted to WGS-84):     {out['import_new_gcj02_s']:.2f} s")
    print(f"  (writing the CSV took {out['generate_s']:.2f} s)")
    return out


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
