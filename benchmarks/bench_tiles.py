"""/api/v1/tiles/{z}/{x}/{y}.geojson at 200,000 stations under gunicorn, against a bare Flask endpoint.

Ours runs as ``stationmap serve`` runs it (gunicorn, 2 sync workers, the app and the cluster
index built in the master before the workers fork), over the national SAMPLE dataset
(``stationmap sample national --n 200000``, seed 1, kept in the temporary folder between runs) in
SQLite; the bare app is bench_api's ``Flask`` view returning a constant JSON body.  The load
(bench_api.load, in a second process) is 8 connections, one request each, loopback, over random
tiles over China at zooms 4-16 (each the tile holding a random station, so hardly any is empty),
with the finder's query (``status=active&fields=kinds,services,open_now``); rounds alternate
between the two servers and the figure is the median of the rounds' throughput ratios.

Also measured: the cluster index's build time and size in this process, the start-up time of
``stationmap serve`` (the command started to the first HTTP answer), and each worker's memory
(RSS, and PSS: its share of the pages it shares with the master and the other worker).

Goals (issue 16): tiles >= 60% of the bare endpoint's requests per second, p99 <= 20 ms;
<= 600 MB RSS per worker, start-up <= 10 s (reported).
"""

from __future__ import annotations

import os
import pickle
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

N_STATIONS = 200_000
SEED = 1
WORKERS = 2
CONCURRENCY = 8
ROUNDS = 4
SECONDS = 6.0
ZOOMS = (4, 16)
QUERY = "status=active&fields=kinds,services,open_now"
GOAL_RATIO = 0.60
GOAL_P99_MS = 20.0
GOAL_RSS_MB = 600
GOAL_START_S = 10.0


def national_stations(n: int = N_STATIONS, seed: int = SEED) -> list:
    """``stationmap sample national`` stations, kept in the temporary folder (generating 200,000
    takes half a minute; the file's name carries the Station fields, so a pickle of an older model
    is not read back)."""
    import dataclasses
    import hashlib

    from stationmap.model import Station

    model = hashlib.blake2b(repr([f.name for f in dataclasses.fields(Station)]).encode(), digest_size=4).hexdigest()
    cache = Path(tempfile.gettempdir()) / f"stationmap-bench-national-{n}-{seed}-{model}.pickle"
    try:
        return pickle.loads(cache.read_bytes())
    except (OSError, pickle.UnpicklingError, EOFError):
        pass
    from stationmap.io.sample import national

    stations, _info = national(n, seed=seed)
    tmp = cache.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(pickle.dumps(stations, protocol=pickle.HIGHEST_PROTOCOL))
    tmp.replace(cache)
    return stations


def tile_paths(stations, n: int = 3000, seed: int = 11, query: str = QUERY) -> list:
    """Random tiles at zooms 4-16, each holding a random station."""
    import numpy as np

    from stationmap.tiles import project

    rng = random.Random(seed)
    out = []
    for _ in range(n):
        s = rng.choice(stations)
        z = rng.randint(*ZOOMS)
        x, y = project(np.array([s.lon]), np.array([s.lat]))
        out.append(f"/api/v1/tiles/{z}/{int(x[0] * (1 << z))}/{int(y[0] * (1 << z))}.geojson?{query}")
    return out


def memory(master_pid: int) -> list[dict]:
    """RSS and PSS (MB) of the master's child processes (the workers), from /proc."""
    out = []
    for child in Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split():
        row = {"pid": int(child)}
        for name, field in (("status", "VmRSS:"), ("smaps_rollup", "Pss:")):
            for line in _lines(Path(f"/proc/{child}/{name}")):
                if line.startswith(field):
                    row["rss_mb" if field == "VmRSS:" else "pss_mb"] = int(line.split()[1]) / 1024
        out.append(row)
    return out


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except OSError:
        return []


def build_figures(stations) -> dict:
    """The cluster index's build (and an edit's rebuild) in this process."""
    from dataclasses import replace

    from stationmap.tiles import ClusterIndex, describe

    ClusterIndex(stations[:500])    # the numba kernel loaded
    t = time.perf_counter()
    index = ClusterIndex(stations)
    built = time.perf_counter() - t
    edited = list(stations)
    edited[7] = replace(edited[7], status="closed")
    t = time.perf_counter()
    index.with_stations(edited)
    kept = time.perf_counter() - t
    d = describe(index)
    return {"build_s": built, "edit_s": kept, "nodes_per_zoom": d["nodes"], "index_mb": d["bytes"] / 1e6}


def main() -> dict:
    import bench_api as api
    stations = national_stations()
    build = build_figures(stations)
    print(f"stations: {len(stations)} (national SAMPLE, seed {SEED}); cluster index: built in "
          f"{build['build_s']:.2f} s, an edit that moves no station {build['edit_s']:.2f} s, "
          f"arrays {build['index_mb']:.0f} MB")
    tmp = Path(tempfile.mkdtemp(prefix="stationmap-bench-tiles-"))
    try:
        db = api.make_database(tmp, stations)
        (tmp / "bare_app.py").write_text(api.BARE_APP)
        env = {"STATIONMAP_DATABASE_URL": db, "STATIONMAP_INSTANCE_PATH": str(tmp / "instance")}
        subprocess_env = {**os.environ, **env}
        exe = str(Path(sys.executable).parent / "stationmap")
        import subprocess

        subprocess.run([exe, "db", "upgrade"], env=subprocess_env, check=True, capture_output=True)
        ours_port, bare_port = api.free_port(), api.free_port()
        t = time.perf_counter()
        ours = api.start([exe, "serve", "--port", str(ours_port), "--workers", str(WORKERS)], port=ours_port,
                         env=env, cwd=str(tmp), settle=False)
        start_s = time.perf_counter() - t
        bare = api.gunicorn("bare_app:app", port=bare_port, env={}, cwd=str(tmp))
        try:
            paths = tile_paths(stations)
            api.run_load(ours_port, paths, 3.0, CONCURRENCY)   # each worker's first filter and minute
            api.run_load(bare_port, ["/ping"], 1.5, CONCURRENCY)
            r_ours, r_bare = [], []
            for i in range(ROUNDS):
                pair = [(r_bare, bare_port, ["/ping"]), (r_ours, ours_port, paths)]
                for out, port, p in (pair if i % 2 == 0 else pair[::-1]):
                    out.append(api.run_load(port, p, SECONDS, CONCURRENCY))
            mem = memory(_gunicorn_master(ours))
        finally:
            api.stop(ours)
            api.stop(bare)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    o, b = api._summary(r_ours), api._summary(r_bare)
    ratios = sorted(x["rps"] / y["rps"] for x, y in zip(r_ours, r_bare) if y["rps"])
    ratio = ratios[len(ratios) // 2] if ratios else float("nan")
    worst_rss = max((m.get("rss_mb", 0) for m in mem), default=float("nan"))
    print(f"  gunicorn workers: {WORKERS}, connections: {CONCURRENCY}, {ROUNDS} rounds x {SECONDS:.0f} s, "
          f"cores: {os.cpu_count()}, tiles at zooms {ZOOMS[0]}-{ZOOMS[1]}, query {QUERY}")
    for name, r in (("bare /ping", b), ("/api/v1/tiles", o)):
        print(f"  {name:<14} {r['rps']:8.0f} req/s  p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms  "
              f"errors {r['errors']}  ({r['requests']} requests, {r['bytes_per_response']:.0f} B/response)")
    print(f"  tiles / bare throughput per round: {', '.join(f'{x:.0%}' for x in ratios)}; median {ratio:.0%} "
          f"(goal >= {GOAL_RATIO:.0%}); tiles p99 {o['p99_ms']:.1f} ms (goal <= {GOAL_P99_MS:.0f} ms)")
    print(f"  start-up (stationmap serve to the first answer): {start_s:.1f} s (goal <= {GOAL_START_S:.0f} s)")
    for m in mem:
        print(f"  worker {m['pid']}: RSS {m.get('rss_mb', float('nan')):.0f} MB, "
              f"PSS {m.get('pss_mb', float('nan')):.0f} MB (goal <= {GOAL_RSS_MB} MB RSS)")
    return {"stations": len(stations), "build": build, "workers": WORKERS, "concurrency": CONCURRENCY,
            "bare": b, "tiles": o, "ratio": ratio, "ratios": ratios, "start_s": start_s, "memory": mem,
            "goal_ratio_met": ratio >= GOAL_RATIO, "goal_p99_met": o["p99_ms"] <= GOAL_P99_MS,
            "goal_rss_met": worst_rss <= GOAL_RSS_MB, "goal_start_met": start_s <= GOAL_START_S}


def _gunicorn_master(proc) -> int:
    """``stationmap serve`` runs gunicorn in its own process (exec or child): the master's pid."""
    kids = Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split()
    cmd = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
    return proc.pid if b"gunicorn" in cmd or not kids else int(kids[0])


if __name__ == "__main__":
    main()
