"""The finder on a slow connection: time to its first stations with Chromium throttled to "slow 3G".

Served as ``stationmap serve`` serves it (gunicorn, 2 workers, SQLite) with 10,000 stations
(bench_api.bench_stations).  Each load is a fresh browser context, 360 x 740 px, the courier's
position in the URL (``/?lat=&lon=``, as a shared link or the locate button gives it), throttled
through the DevTools protocol (``Network.emulateNetworkConditions``) to 400 kbit/s down and up with
a 400 ms round trip: the "slow 3G" of issue 19 (Chrome DevTools' own preset adds latency: 2 s).
Requests that leave 127.0.0.1 (map tiles) are aborted.  Measured per load:

* first stations: from navigation start to the first list of nearest stations painted: the list
  the server draws into the page (its first name carries ``elementtiming="first-stations"``:
  the Element Timing API's render time), or finder.js's (``performance.mark('stationmap-list')``),
  whichever comes first; finder.js's list and the markers of the whole layer painted
  (``stationmap-markers-painted``) are reported too;
* first visit: an empty cache; repeat visit: the same browser context again (its service worker
  and the area kept on the device from the first visit: static/js/offline.js), still throttled.

Goal (issue 19): the first stations within 3 s.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path

LOADS = 3
GOAL_SECONDS = 3.0
#: 400 kbit/s in bytes per second, 400 ms round trip
SLOW_3G = {"offline": False, "latency": 400, "downloadThroughput": 400_000 / 8, "uploadThroughput": 400_000 / 8}
#: a point among the bench stations (Jiangsu)
POSITION = (119.95, 31.78)


def _mark(page, name: str) -> float:
    page.wait_for_function(f"() => performance.getEntriesByName('{name}').length > 0", polling=50, timeout=120_000)
    return page.evaluate(f"() => performance.getEntriesByName('{name}')[0].startTime") / 1000.0


def _load(ctx, base: str) -> dict:
    page = ctx.new_page()
    try:
        cdp = ctx.new_cdp_session(page)
        cdp.send("Network.enable")
        cdp.send("Network.emulateNetworkConditions", SLOW_3G)
        sizes: list[int] = []
        cdp.on("Network.loadingFinished", lambda e: sizes.append(e["encodedDataLength"]))
        page.goto(f"{base}/?lat={POSITION[1]}&lon={POSITION[0]}", timeout=120_000)
        scripted = _mark(page, "stationmap-list")
        drawn = page.evaluate("""() => new Promise(resolve => {
            new PerformanceObserver(list => {
                const e = list.getEntries().find(x => x.identifier === 'first-stations');
                if (e) { resolve((e.renderTime || e.loadTime) / 1000); }
            }).observe({type: 'element', buffered: true});
            setTimeout(() => resolve(null), 2000);
        })""")
        listed = min(scripted, drawn) if drawn else scripted
        source = "page" if drawn and drawn <= scripted else page.evaluate(
            "() => document.documentElement.dataset.listSource")
        markers = _mark(page, "stationmap-markers-painted")
        # the list from the server after one from the device (a repeat visit): when it came
        page.wait_for_function("() => document.documentElement.dataset.listSource === 'server'", polling=50,
                               timeout=120_000)
        server_list = page.evaluate("() => performance.now()") / 1000.0 if source == "offline" else scripted
        page.wait_for_function("() => document.documentElement.dataset.offlineArea !== undefined || "
                               "window.stationmapOffline.lastArea() !== null", polling=100, timeout=120_000)
        return {"seconds_to_list": listed, "list_source": source, "seconds_to_scripted_list": scripted,
                "seconds_to_server_list": server_list,
                "seconds_to_markers": markers, "bytes": sum(sizes)}
    finally:
        page.close()


def main() -> dict:

    import bench_api as api
    import headless
    tmp = Path(tempfile.mkdtemp(prefix="stationmap-bench-slow3g-"))
    stations = api.bench_stations()
    db = api.make_database(tmp, stations)
    port = api.free_port()
    server = api.gunicorn("stationmap.web:create_app()", port=port, cwd=str(tmp),
                          env={"STATIONMAP_DATABASE_URL": db, "STATIONMAP_INSTANCE_PATH": str(tmp / "instance")})
    base = f"http://127.0.0.1:{port}"
    first, repeat = [], []
    try:
        with headless.browser() as browser:
            for _ in range(LOADS):
                ctx = browser.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN")
                ctx.route(lambda url: not url.startswith(base), lambda r: r.abort())
                try:
                    first.append(_load(ctx, base))
                    time.sleep(0.5)   # the service worker keeps the page's files
                    repeat.append(_load(ctx, base))
                finally:
                    ctx.close()
    finally:
        api.stop(server)
        shutil.rmtree(tmp, ignore_errors=True)

    def med(runs: list[dict], key: str) -> float:
        return statistics.median(r[key] for r in runs)

    worst_first = max(r["seconds_to_list"] for r in first)
    worst_repeat = max(r["seconds_to_list"] for r in repeat)
    print(f"stations: {len(stations)}; slow 3G (400 kbit/s, 400 ms RTT); {LOADS} browsers, "
          "each a first and a repeat visit")
    print(f"  first visit (empty cache): first stations painted median {med(first, 'seconds_to_list'):.2f} s, "
          f"slowest {worst_first:.2f} s (goal <= {GOAL_SECONDS} s; drawn by the {first[0]['list_source']}); "
          f"finder.js's list median {med(first, 'seconds_to_scripted_list'):.2f} s; all markers painted median "
          f"{med(first, 'seconds_to_markers'):.2f} s; {med(first, 'bytes') / 1000:.0f} kB in all "
          "(the offline area too)")
    print(f"  repeat visit: first stations painted median {med(repeat, 'seconds_to_list'):.2f} s "
          f"(drawn by the {repeat[0]['list_source']}), finder.js's list median "
          f"{med(repeat, 'seconds_to_scripted_list'):.2f} s; markers median {med(repeat, 'seconds_to_markers'):.2f} s "
          "(the service worker serves the files: its requests are not throttled by the page's emulation)")
    return {"stations": len(stations), "first_visit": first, "repeat_visit": repeat,
            "seconds_first_visit_slowest": worst_first, "seconds_repeat_visit_slowest": worst_repeat,
            "goal_seconds_met": worst_first <= GOAL_SECONDS and worst_repeat <= GOAL_SECONDS}


if __name__ == "__main__":
    main()
