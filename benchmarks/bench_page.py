"""The finder page at 10,000 and at 200,000 stations in headless chromium: bytes and time to markers.

Served as ``stationmap serve`` serves it (gunicorn, 2 workers, SQLite, the app built before the
workers fork) with the national SAMPLE (``stationmap sample national``, bench_tiles.national_stations)
of 10,000 and of 200,000 stations, both served at once, their loads taking turns: from 5,000 stations the finder
asks for the tiles it shows (/api/v1/tiles), so the figures should not grow with N.  Each load is a fresh browser
context (empty cache), 360 x 740 px, offline (requests that leave 127.0.0.1, the
map tiles, are aborted).  Measured per load:

* bytes transferred: the sum of Chromium's ``encodedDataLength`` (headers and
  body as sent, gzip where the server compressed) over every response: the
  page, scripts, styles, icons, the station layer and the district boundaries;
* time to first rendered markers: from navigation start to the frame after the
  one in which static/js/finder.js added the markers to the map
  (``performance.mark('stationmap-markers-painted')``).

* a zoom-in step: the bytes of the answers after ``map.zoomIn()``, and the time from it to the
  frame after the tiles of the new zoom are drawn.

The first load after the server starts builds each filter's counts; later loads are reported apart.
Goals (issue 16): first view <= 300 KB and <= 1.0 s median to first rendered markers; a zoom
step <= 60 KB and <= 300 ms; the figures at 10,000 and 200,000 within 20% of each other.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

LOADS = 9
#: the national SAMPLE at these sizes, in one run (issue 16: the figures must not grow with N)
SIZES = (10_000, 200_000)
GOAL_BYTES = 300_000
GOAL_SECONDS = 1.0
GOAL_STEP_BYTES = 60_000
GOAL_STEP_SECONDS = 0.3
GOAL_N_DIFF = 0.20


def load_once(browser, base: str) -> dict:
    ctx = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN")
    try:
        page = ctx.new_page()
        page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(base) else r.abort())
        cdp = ctx.new_cdp_session(page)
        cdp.send("Network.enable")
        urls, sizes = {}, {}
        cdp.on("Network.responseReceived", lambda e: urls.__setitem__(e["requestId"], e["response"]["url"]))
        cdp.on("Network.loadingFinished", lambda e: sizes.__setitem__(e["requestId"], e["encodedDataLength"]))
        page.goto(base + "/")
        page.wait_for_function("() => performance.getEntriesByName('stationmap-markers-painted').length > 0",
                               polling=50, timeout=60_000)
        page.wait_for_function("() => document.documentElement.dataset.boundaries !== undefined",
                               polling=50, timeout=60_000)
        painted = page.evaluate("() => performance.getEntriesByName('stationmap-markers-painted')[0].startTime")
        markers = int(page.evaluate("() => document.documentElement.dataset.stationsLoaded"))
        page.wait_for_load_state("networkidle")
        by_kind: dict = {}
        total = 0
        for rid, n in sizes.items():
            url = urls.get(rid, "")
            if not url.startswith(base):
                continue
            total += n
            path = url[len(base):].split("?")[0]
            kind = ("station layer" if path == "/api/v1/stations" else
                    "station tiles" if path.startswith("/api/v1/tiles/") else
                    "boundaries" if path.startswith("/api/v1/districts/boundaries") else
                    "vendored JS/CSS" if path.startswith("/static/vendor/") else
                    "page" if path == "/" else
                    "finder JS/CSS, icons" if path.startswith("/static/") else "other API")
            by_kind[kind] = by_kind.get(kind, 0) + n
        step = None
        if page.evaluate("() => document.documentElement.dataset.tilesVersion !== undefined"):
            # a zoom-in step: bytes of the answers that finish after it, time to the drawn markers
            before = set(sizes)
            version = int(page.evaluate("() => document.documentElement.dataset.tilesVersion"))
            t0 = page.evaluate("() => { window.__step = performance.now(); stationmapFinder.state.map.zoomIn(1,"
                               " {animate: false}); return window.__step; }")
            page.wait_for_function(f"() => +document.documentElement.dataset.tilesVersion > {version}"
                                   " && document.documentElement.dataset.tilesPending === '0'", polling=10,
                                   timeout=60_000)
            t1 = page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame("
                               "() => r(performance.now()))))")
            page.wait_for_load_state("networkidle")
            step = {"seconds": (t1 - t0) / 1000.0, "bytes": sum(n for rid, n in sizes.items() if rid not in before)}
        return {"bytes": total, "by_kind": by_kind, "seconds_to_markers": painted / 1000.0, "markers": markers,
                "step": step}
    finally:
        ctx.close()


def serve(stations, tmp: Path):
    """``stationmap serve`` (2 workers: the app and the tile clusters built before they fork) over
    ``stations`` in SQLite in ``tmp``; returns (process, base URL)."""
    import os
    import subprocess
    import sys

    import bench_api as api
    db = api.make_database(tmp, stations)
    env = {"STATIONMAP_DATABASE_URL": db, "STATIONMAP_INSTANCE_PATH": str(tmp / "instance")}
    exe = str(Path(sys.executable).parent / "stationmap")
    subprocess.run([exe, "db", "upgrade"], env={**os.environ, **env}, check=True, capture_output=True)
    port = api.free_port()
    server = api.start([exe, "serve", "--port", str(port), "--workers", "2"], port=port, env=env, cwd=str(tmp),
                       settle=False)
    return server, f"http://127.0.0.1:{port}"


def report(label: str, n_stations: int, runs: list) -> dict:
    """Print and return the figures of one size's ``runs`` (the first: the load that built the counts)."""
    first, rest = runs[0], runs[1:]
    warm_t = statistics.median(r["seconds_to_markers"] for r in rest)
    worst_t = max(r["seconds_to_markers"] for r in runs)
    worst_bytes = max(r["bytes"] for r in runs)
    steps = [r["step"] for r in runs if r.get("step")]
    print(f"{label}: stations {n_stations}, markers drawn (stations and clusters' counts on screen): "
          f"{first['markers']}, {len(runs)} loads, each with an empty cache")
    print(f"  bytes transferred: {worst_bytes / 1000:.0f} kB (goal <= {GOAL_BYTES / 1000:.0f} kB)")
    for kind, n in sorted(first["by_kind"].items(), key=lambda kv: -kv[1]):
        print(f"    {kind:<22} {n / 1000:7.1f} kB")
    print(f"  time to first rendered markers: first load {first['seconds_to_markers']:.2f} s, later loads median "
          f"{warm_t:.2f} s, slowest {worst_t:.2f} s (goal <= {GOAL_SECONDS} s)")
    if steps:
        step_bytes = max(s["bytes"] for s in steps)
        step_t = statistics.median(s["seconds"] for s in steps)
        print(f"  a zoom-in step: {step_bytes / 1000:.1f} kB at most (goal <= {GOAL_STEP_BYTES / 1000:.0f} kB), "
              f"median {step_t * 1000:.0f} ms to drawn markers (goal <= {GOAL_STEP_SECONDS * 1000:.0f} ms)")
    else:
        step_bytes, step_t = None, None
    return {"stations": n_stations, "markers": first["markers"], "bytes": worst_bytes,
            "bytes_by_kind": first["by_kind"], "seconds_first_load": first["seconds_to_markers"],
            "seconds_median_later_loads": warm_t, "seconds_slowest": worst_t, "runs": runs,
            "step_bytes": step_bytes, "step_seconds_median": step_t,
            "goal_bytes_met": worst_bytes <= GOAL_BYTES, "goal_seconds_met": worst_t <= GOAL_SECONDS}


def main() -> dict:
    """Both sizes served at once, their loads alternating (the first load of each, then in turns,
    each turn's order reversed), so that drift in the machine's speed hits both sizes alike; each
    load a fresh context (empty cache) with a zoom step."""
    import bench_api as api
    import bench_tiles as tiles
    import headless

    sets = [(f"national {n:,}", tiles.national_stations(n)) for n in SIZES]
    servers, tmps = [], []
    try:
        for _label, stations in sets:
            tmps.append(Path(tempfile.mkdtemp(prefix="stationmap-bench-page-")))
            servers.append(serve(stations, tmps[-1]))
        runs: list[list] = [[] for _ in sets]
        with headless.browser() as browser:
            for turn in range(LOADS):
                order = range(len(sets)) if turn % 2 == 0 else reversed(range(len(sets)))
                for i in order:
                    runs[i].append(load_once(browser, servers[i][1]))
                    time.sleep(0.2)
    finally:
        for server, _base in servers:
            api.stop(server)
        for tmp in tmps:
            shutil.rmtree(tmp, ignore_errors=True)
    out = {label: report(label, len(stations), r) for (label, stations), r in zip(sets, runs)}
    if len(out) == 2:
        (a, ra), (b, rb) = out.items()
        for what in ("bytes", "seconds_median_later_loads"):
            x, y = ra[what], rb[what]
            diff = abs(y - x) / max(x, 1e-9)
            print(f"  {what}: {a} {x:.3g}, {b} {y:.3g}: they differ by {diff:.0%} (goal <= {GOAL_N_DIFF:.0%})")
            out[f"{what}_difference"] = diff
    return out


if __name__ == "__main__":
    main()
