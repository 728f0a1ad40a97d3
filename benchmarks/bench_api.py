"""/api/v1/nearest under gunicorn, against a bare Flask endpoint in the same run.

Ours runs under ``stationmap serve`` itself (gunicorn, 2 sync workers, its settings file:
the app built before the workers fork, then out of the collector's sight), the bare app
under gunicorn with the same workers; both on 127.0.0.1, access log on (to /dev/null
here).  Ours serves 10,000 stations (the bundled sample stations, jittered and
repeated) from SQLite; the bare app is ``Flask`` with one view returning a
constant JSON body.  A second
process loads each server for a bounded time with CONCURRENCY connections
(one request per connection: gunicorn's sync workers close every connection)
and records each request's latency, connect to last byte.  The two servers are
measured in alternating rounds (bare first, then ours first, and so on) so
that drift in the machine's load hits both;
the figure is the median of the rounds' throughput ratios.  Before the rounds,
each server is warmed up (ours until the queries have gone round five times: what
it keeps per station is built on first use, as in a long-running server).

Goals (issue 3): nearest >= 60% of the bare endpoint's requests per second,
p99 <= 25 ms.  Run: ``python benchmarks/bench_api.py`` (or ``make bench``).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

N_STATIONS = 10_000
WORKERS = 2
CONCURRENCY = 4
ROUNDS = 5
SECONDS = 6.0
WARMUP_SECONDS = 1.5
WARMUP_PASSES = 5
GOAL_RATIO = 0.60
GOAL_P99_MS = 25.0

BARE_APP = '''
from flask import Flask, jsonify

app = Flask(__name__)
BODY = {"type": "FeatureCollection", "datum": "wgs84", "features": []}


@app.get("/ping")
def ping():
    return jsonify(BODY)
'''


def bench_stations(n: int = N_STATIONS, seed: int = 3):
    """``n`` stations like the bundled sample ones (WGS-84): each sample station
    repeated, moved by a few km (Gaussian, sigma 0.03 degree), with a new id and
    a numbered name; deterministic for a seed."""
    from dataclasses import replace

    from stationmap.io.sample import load_sample

    base = load_sample()
    rng = random.Random(seed)
    out = []
    for i in range(n):
        s = base[i % len(base)]
        rep = i // len(base)
        out.append(replace(
            s, id=f"st-{rng.getrandbits(48):012x}", name=s.name if rep == 0 else f"{s.name}（{rep + 1}）",
            lon=round(s.lon + (rng.gauss(0, 0.03) if rep else 0.0), 7),
            lat=round(s.lat + (rng.gauss(0, 0.03) if rep else 0.0), 7),
        ))
    return out


def make_database(path: Path, stations) -> str:
    from stationmap.store import StationStore

    url = f"sqlite:///{path}/bench.sqlite"
    store = StationStore(url)
    store.create_all()
    store.write_many(stations, user="bench")
    return url


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gunicorn(target: str, *, port: int, env: dict, cwd: str, workers: int = WORKERS,
             ready_path: str = "/nowhere") -> subprocess.Popen:
    """Start gunicorn as ``stationmap serve`` does; returns once its workers have booted (:func:`start`)."""
    exe = shutil.which("gunicorn", path=str(Path(sys.executable).parent)) or "gunicorn"
    return start([exe, "--workers", str(workers), "--bind", f"127.0.0.1:{port}", "--access-logfile", "-", target],
                 port=port, env=env, cwd=cwd, ready_path=ready_path)


def serve(port: int, *, env: dict, cwd: str, workers: int = WORKERS) -> subprocess.Popen:
    """Start ``stationmap serve`` (its database upgraded first, as the command requires) on
    127.0.0.1:``port``; returns once it answers (:func:`start`)."""
    exe = str(Path(sys.executable).parent / "stationmap")
    subprocess.run([exe, "db", "upgrade"], env={**os.environ, **env}, cwd=cwd, check=True, capture_output=True)
    return start([exe, "serve", "--port", str(port), "--workers", str(workers)], port=port, env=env, cwd=cwd,
                 settle=False)


def start(argv: list, *, port: int, env: dict, cwd: str, ready_path: str = "/nowhere",
          settle: bool = True) -> subprocess.Popen:
    """Start the server ``argv`` (gunicorn, or ``stationmap serve``, which becomes gunicorn) that listens
    on 127.0.0.1:``port``; returns once its workers have booted.

    gunicorn listens before its workers have built the app; a worker that is
    still booting just does not accept.  So wait for the first HTTP answer (to
    ``ready_path``, any status), then as long again: the workers boot side by side.
    ``settle=False`` skips that second wait, for a server that builds the app before it
    listens (``stationmap serve``: gunicorn's ``preload_app``, so its workers fork ready).
    The server's stdout (the access log) is dropped; its stderr (gunicorn's
    error log) is kept in a temporary file: :func:`error_log` reads it.
    """
    log = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the server) gunicorn's error log (a pipe nobody reads could fill up)
    proc = subprocess.Popen(argv, cwd=cwd, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=log)
    proc.error_log = log  # type: ignore[attr-defined]
    t0 = time.time()
    deadline = t0 + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{' '.join(argv)} exited: {error_log(proc)[-2000:]}")
        try:
            _request(port, ready_path)
        except OSError:
            time.sleep(0.1)
            continue
        if settle:
            time.sleep(max(0.5, time.time() - t0))
        return proc
    proc.kill()
    raise RuntimeError(f"{' '.join(argv)} did not start")


def error_log(proc: subprocess.Popen) -> str:
    """What the server started by :func:`start` wrote to its stderr so far."""
    log = proc.error_log  # type: ignore[attr-defined]
    log.seek(0)
    return log.read().decode(errors="replace")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


# -- the load generator (runs in its own process: `bench_api.py --load JSON`) -------------------

def _request(port: int, path: str) -> tuple[float, int, int]:
    req = (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept-Encoding: gzip\r\n"
           "User-Agent: stationmap-bench\r\nConnection: close\r\n\r\n").encode()
    t = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(req)
        chunks = []
        while True:
            b = s.recv(65536)
            if not b:
                break
            chunks.append(b)
    elapsed = time.perf_counter() - t
    data = b"".join(chunks)
    status = int(data[9:12]) if data[:5] == b"HTTP/" else 0
    return elapsed, status, len(data)


def load(port: int, paths: list, seconds: float, concurrency: int) -> dict:
    """Closed-loop load: ``concurrency`` threads, each one request at a time, for ``seconds``."""
    lat, errors, sizes = [], [0], []
    lock = threading.Lock()
    deadline = time.perf_counter() + seconds

    def worker(offset):
        mine, bad, size, i = [], 0, 0, offset
        while time.perf_counter() < deadline:
            try:
                t, status, n = _request(port, paths[i % len(paths)])
            except OSError:
                bad += 1
                continue
            i += concurrency
            if status != 200:
                bad += 1
            mine.append(t)
            size += n
        with lock:
            lat.extend(mine)
            errors[0] += bad
            sizes.append(size)

    t0 = time.perf_counter()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(concurrency)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    lat.sort()

    def pct(p):
        return lat[min(len(lat) - 1, int(p / 100 * len(lat)))] * 1000 if lat else float("nan")

    return {"requests": len(lat), "errors": errors[0], "rps": len(lat) / wall, "p50_ms": pct(50),
            "p90_ms": pct(90), "p99_ms": pct(99), "max_ms": lat[-1] * 1000 if lat else float("nan"),
            "bytes_per_response": sum(sizes) / max(1, len(lat))}


def run_load(port: int, paths: list, seconds: float, concurrency: int = CONCURRENCY) -> dict:
    """:func:`load` in a second process (its threads must not share a GIL with anything here)."""
    arg = json.dumps({"port": port, "paths": paths, "seconds": seconds, "concurrency": concurrency})
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--load"], input=arg, text=True,
                         capture_output=True, check=True, timeout=seconds + 120)
    return json.loads(out.stdout)


def nearest_paths(stations, n: int = 2000, seed: int = 7) -> list:
    """Finder-like queries: around random stations (within ~2 km), e-bike or walk, k=5."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        s = rng.choice(stations)
        lat, lon = s.lat + rng.gauss(0, 0.015), s.lon + rng.gauss(0, 0.015)
        mode = rng.choice(["ebike", "walk", "bike"])
        out.append(f"/api/v1/nearest?lat={lat:.6f}&lon={lon:.6f}&k=5&mode={mode}&minutes=15")
    return out


def _summary(rounds: list) -> dict:
    rps = sum(r["rps"] * r["requests"] for r in rounds) / max(1, sum(r["requests"] for r in rounds))
    return {"rps": rps, "p50_ms": max(r["p50_ms"] for r in rounds), "p99_ms": max(r["p99_ms"] for r in rounds),
            "errors": sum(r["errors"] for r in rounds), "requests": sum(r["requests"] for r in rounds),
            "bytes_per_response": rounds[-1]["bytes_per_response"], "rounds": rounds}


def main() -> dict:
    tmp = Path(tempfile.mkdtemp(prefix="stationmap-bench-api-"))
    stations = bench_stations()
    db = make_database(tmp, stations)
    (tmp / "bare_app.py").write_text(BARE_APP)
    env = {"STATIONMAP_DATABASE_URL": db, "STATIONMAP_INSTANCE_PATH": str(tmp / "instance")}
    ours_port, bare_port = free_port(), free_port()
    ours = serve(ours_port, env=env, cwd=str(tmp))
    bare = gunicorn("bare_app:app", port=bare_port, env={}, cwd=str(tmp))
    try:
        paths = nearest_paths(stations)
        bare_paths = ["/ping"]
        # warm up until the queries have gone round five times (each of the two workers has
        # then seen nearly every one, and built what it keeps per station: feature text,
        # navigation link pieces, snaps to the roads; as a long-running server has)
        warm = 0
        while warm < WARMUP_PASSES * len(paths):
            warm += run_load(ours_port, paths, WARMUP_SECONDS)["requests"]
        run_load(bare_port, bare_paths, WARMUP_SECONDS)
        r_ours, r_bare = [], []
        for i in range(ROUNDS):   # the order alternates, so that drift in the machine's speed evens out
            if i % 2 == 0:
                r_bare.append(run_load(bare_port, bare_paths, SECONDS))
                r_ours.append(run_load(ours_port, paths, SECONDS))
            else:
                r_ours.append(run_load(ours_port, paths, SECONDS))
                r_bare.append(run_load(bare_port, bare_paths, SECONDS))
    finally:
        stop(ours)
        stop(bare)
        shutil.rmtree(tmp, ignore_errors=True)
    o, b = _summary(r_ours), _summary(r_bare)
    # the machine may be shared: the ratio of each round's pair (measured back to
    # back), and their median, say more than the ratio of the totals
    ratios = sorted(x["rps"] / y["rps"] for x, y in zip(r_ours, r_bare) if y["rps"])
    ratio = ratios[len(ratios) // 2] if ratios else float("nan")
    print(f"stations: {N_STATIONS}, gunicorn workers: {WORKERS}, concurrency: {CONCURRENCY}, "
          f"{ROUNDS} rounds x {SECONDS:.0f} s each, cores: {os.cpu_count()}")
    for name, r in (("bare /ping", b), ("/api/v1/nearest", o)):
        print(f"  {name:<16} {r['rps']:8.0f} req/s  p50 {r['p50_ms']:6.2f} ms  p99 {r['p99_ms']:6.2f} ms  "
              f"errors {r['errors']}  ({r['requests']} requests, {r['bytes_per_response']:.0f} B/response)")
    print(f"  nearest / bare throughput per round: {', '.join(f'{x:.0%}' for x in ratios)}")
    print(f"  nearest / bare throughput (median round): {ratio:.0%} (goal >= {GOAL_RATIO:.0%}); "
          f"nearest p99 {o['p99_ms']:.1f} ms (goal <= {GOAL_P99_MS:.0f} ms)")
    return {"stations": N_STATIONS, "workers": WORKERS, "concurrency": CONCURRENCY, "seconds": SECONDS * ROUNDS,
            "bare": b, "nearest": o, "ratio": ratio, "ratios": ratios,
            "goal_ratio_met": ratio >= GOAL_RATIO, "goal_p99_met": o["p99_ms"] <= GOAL_P99_MS}


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--load":
        a = json.loads(sys.stdin.read())
        print(json.dumps(load(a["port"], a["paths"], a["seconds"], a["concurrency"])))
    else:
        main()
