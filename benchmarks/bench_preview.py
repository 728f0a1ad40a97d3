"""The import preview of a large upload: time, page size and the worker's peak memory (issue 22).

A store holding 60 % of the file's stations (half of them as the file has them,
half with another name and phone) and a CSV of ``n`` rows: 30 % unchanged,
30 % changed, 30 % new and 10 % with a problem (a bad coordinate, a formula-like
phone, an unknown kind).  Each size runs in fresh Python processes: one makes the
store and the file, another starts the app over the store (road networks off:
the preview does not use them), signs an editor in through the Flask test client
and then, timed, ``POST /admin/import`` with the file; the page's size; and the
peak RSS of the upload (``resource.getrusage().ru_maxrss``, started afresh
just before it through ``/proc/self/clear_refs`` where Linux allows it).  A
20-row upload goes first: what any upload loads once per worker (the district
boundaries, pandas' reader) is then loaded, as in a worker that has served one.

The RSS before the upload is the worker's own: the app with its station index
(here 60 % of ``n`` stations) and numba's compiled code, 450-560 MB for these
sizes; the preview's memory is the peak minus that.  The test client builds
the multipart body in memory (a gunicorn worker spools it to a temporary file),
so the peak includes about twice the file's size that a real worker does not use.
Then ``GET /admin/import/<token>/problems.csv`` (the full problem list), when
the code has that route, timed with its own peak.  Last, the largest size again
with six problems in every row (no name, a bad kind, a formula for a phone, an
unknown status, no coordinates) and an empty store: the worst case for memory.

Goal: the preview's memory (peak RSS minus the RSS before the upload) < 300 MB
for 200,000 rows (``Settings.upload_max_rows``).  Run
``python benchmarks/bench_preview.py [ROWS ...] [--src CHECKOUT] [--no-worst]``:
``--src`` runs the children on another checkout's code (``PYTHONPATH``), e.g.
main's for a before/after comparison; ``--no-worst`` leaves out the worst case.
"""

from __future__ import annotations

import csv
import gc
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GOAL_MB = 300.0
SIZES = (100_000, 200_000)
PASSWORD = "a long benchmark password"
_HEADER = ["id", "name", "kinds", "services", "address", "adcode", "phone", "opening_hours",
           "status", "verified_at", "lon", "lat"]


def _row(i: int, *, changed: bool = False) -> list:
    kinds = ["rest", "rest;hot_tea", "hot_tea", "legal_aid", "rest;legal_aid"]
    services = ["drinking_water;hot_water;toilet", "phone_charging;microwave", "hot_water",
                "drinking_water;rest_seats;wifi;first_aid", ""]
    hours = ["24/7", "Mo-Fr 08:00-18:00", "Mo-Su 07:00-19:00", "Mo-Fr 08:30-17:30; Sa 09:00-12:00"]
    lon = round(120.60 + (i % 997) * 0.0002, 7)   # Suzhou Industrial Park (320571)
    lat = round(31.25 + (i % 991) * 0.0002, 7)
    return [f"bench-{i:06d}", f"测试驿站{i}{'（新名）' if changed else ''}", kinds[i % 5], services[i % 5],
            f"江苏省苏州市某路{i}号", "320571", f"0512-{(i + (1 if changed else 0)) % 10000:04d}{i % 1000:04d}",
            hours[i % 4], "active", "2024-05-01", lon, lat]


def make_files(folder: str, n: int, *, invalid: bool = False) -> tuple[str, str]:
    """(stored.csv: what the store holds, upload.csv: the ``n``-row upload) in ``folder``.

    ``invalid``: every row of the upload has six problems, and the store holds none of them.
    """
    stored, upload = os.path.join(folder, "stored.csv"), os.path.join(folder, "upload.csv")
    with open(stored, "w", encoding="utf-8", newline="") as fs, open(upload, "w", encoding="utf-8", newline="") as fu:
        ws, wu = csv.writer(fs), csv.writer(fu)
        ws.writerow(_HEADER)
        wu.writerow(_HEADER)
        for i in range(n):
            part = i % 10
            if invalid:  # no name, a bad kind, a formula for a phone, an unknown status, no coordinates
                r = _row(i)
                r[1], r[2], r[6], r[8], r[10], r[11] = "", "spa", f"=1+{i}", "maybe", "abc", "xyz"
                wu.writerow(r)
            elif part < 6:  # stored: 0-2 unchanged, 3-5 changed
                ws.writerow(_row(i))
                wu.writerow(_row(i, changed=part >= 3))
            elif part < 9:  # new
                wu.writerow(_row(i))
            else:  # a problem
                r = _row(i)
                if i % 3 == 0:
                    r[-2] = "abc"
                elif i % 3 == 1:
                    r[6] = "=HYPERLINK(\"http://example.invalid\")"
                else:
                    r[2] = "spa"
                wu.writerow(r)
    return stored, upload


def _prepare(folder: str, n: int, invalid: bool) -> None:
    """The store and the upload (run in a child: the code under test makes them)."""
    from stationmap import accounts
    from stationmap.io.importer import import_file
    from stationmap.store import StationStore

    stored, _upload = make_files(folder, n, invalid=invalid)
    store = StationStore(f"sqlite:///{folder}/bench.sqlite")
    store.create_all()
    if not invalid:
        import_file(store, stored, user="bench")
    accounts.add_user(store, "bench", PASSWORD, role="editor", scopes=["3205"])


def _maxrss_mb() -> float:
    """The process's peak RSS in MB (since the last :func:`_reset_peak`)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _rss_mb() -> float:
    """The process's RSS now, in MB."""
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:")) / 1024.0


def _reset_peak() -> bool:
    """Start the peak RSS afresh (Linux >= 4.0: ``5`` to /proc/self/clear_refs); whether it could."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        return False
    return True


def _measure(folder: str) -> dict:
    """Sign in, upload, time the preview; the figures as a dict (printed as JSON by the child)."""
    import stationmap
    from stationmap.web import create_app

    app = create_app({"TESTING": True, "database_url": f"sqlite:///{folder}/bench.sqlite",
                      "instance_path": f"{folder}/instance", "networks": {}})
    c = app.test_client()
    token_re = re.compile(r'name="csrf_token" value="([^"]+)"')
    csrf = token_re.search(c.get("/login").get_data(as_text=True)).group(1)
    r = c.post("/login", data={"username": "bench", "password": PASSWORD, "csrf_token": csrf})
    assert r.status_code == 302, r.status_code
    csrf = token_re.search(c.get("/admin/import").get_data(as_text=True)).group(1)
    data = Path(folder, "upload.csv").read_bytes()
    # a small upload first: what any upload loads once per worker (district boundaries, pandas' reader)
    head = b"\n".join(data.split(b"\n", 21)[:21]) + b"\n"
    r = c.post("/admin/import", data={"file": (io.BytesIO(head), "head.csv"), "datum": "auto", "csrf_token": csrf},
               content_type="multipart/form-data")
    assert r.status_code == 200, r.status_code
    out = {"code": str(Path(stationmap.__file__).parent.parent), "file_mb": round(len(data) / 1e6, 1),
           "peak_before_mb": round(_maxrss_mb(), 1)}
    gc.collect()
    out["peak_reset"] = _reset_peak()
    out["rss_before_mb"] = round(_rss_mb(), 1)
    t, cpu = time.perf_counter(), time.process_time()
    r = c.post("/admin/import", data={"file": (io.BytesIO(data), "upload.csv"), "datum": "auto",
                                      "csrf_token": csrf}, content_type="multipart/form-data")
    out["preview_s"] = round(time.perf_counter() - t, 2)
    out["preview_cpu_s"] = round(time.process_time() - cpu, 2)
    html = r.get_data()
    assert r.status_code == 200, r.status_code
    out["html_kb"] = round(len(html) / 1e3, 1)
    out["peak_rss_mb"] = round(_maxrss_mb(), 1)
    out["preview_mb"] = round(out["peak_rss_mb"] - out["rss_before_mb"], 1)
    token = re.search(rb'action="/admin/import/([A-Za-z0-9_-]+)/cancel"', html).group(1).decode()
    del r, html
    gc.collect()
    _reset_peak()
    rss = _rss_mb()
    t, cpu = time.perf_counter(), time.process_time()
    r = c.get(f"/admin/import/{token}/problems.csv")
    if r.status_code == 200:
        size = lines = 0
        for chunk in r.response:  # as a server sends it, not joined into one body here
            size += len(chunk)
            lines += chunk.count(b"\n")
        out["problems_csv_s"] = round(time.perf_counter() - t, 2)
        out["problems_csv_cpu_s"] = round(time.process_time() - cpu, 2)
        out["problems_csv_kb"] = round(size / 1e3, 1)
        out["problems_csv_rows"] = lines - 1
        out["problems_csv_peak_rss_mb"] = round(_maxrss_mb(), 1)
        out["problems_csv_mb"] = round(out["problems_csv_peak_rss_mb"] - rss, 1)
    return out


def run_size(n: int, src: str | None = None, *, invalid: bool = False) -> dict:
    """Prepare and measure ``n`` rows, each in a fresh process (on ``src``'s code if given)."""
    env = dict(os.environ)
    if src:
        env["PYTHONPATH"] = str(Path(src).resolve()) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    with tempfile.TemporaryDirectory() as d:
        for step in ("prepare", "measure"):
            p = subprocess.run([sys.executable, __file__, f"--{step}", d, str(n), str(int(invalid))], env=env,
                               capture_output=True, text=True, check=False)
            if p.returncode:
                raise RuntimeError(f"{step} {n} failed:\n{p.stderr[-3000:]}")
        out = json.loads(p.stdout.strip().splitlines()[-1])
    out["rows"] = n
    out["invalid"] = invalid
    return out


def main(sizes=SIZES, src: str | None = None, *, worst: bool = True) -> dict:
    """Each of ``sizes``; then (``worst``) the largest with six problems in every row."""
    results = {"goal_peak_mb": GOAL_MB, "runs": []}
    for n, invalid in [(n, False) for n in sizes] + ([(max(sizes), True)] if worst else []):
        r = run_size(n, src, invalid=invalid)
        results["runs"].append(r)
        met = r["preview_mb"] < GOAL_MB
        note = "" if r["peak_reset"] else "; could not be reset: the peak above includes it"
        what = "CSV, six problems in every row" if invalid else "CSV"
        print(f"preview of a {n:,}-row {what} ({r['file_mb']} MB; code: {r['code']}):\n"
              f"  {r['preview_s']:.2f} s ({r['preview_cpu_s']:.2f} s of CPU), page {r['html_kb']:,.0f} KB, "
              f"peak RSS {r['peak_rss_mb']:.0f} MB = {r['rss_before_mb']:.0f} MB before the upload "
              f"+ {r['preview_mb']:.0f} MB (goal < {GOAL_MB:.0f} MB: {'met' if met else 'NOT met'}; "
              f"peak before the upload {r['peak_before_mb']:.0f} MB{note})", flush=True)
        if "problems_csv_s" in r:
            print(f"  problems.csv: {r['problems_csv_rows']:,} rows, {r['problems_csv_kb']:,.0f} KB, "
                  f"{r['problems_csv_s']:.2f} s ({r['problems_csv_cpu_s']:.2f} s of CPU), "
                  f"peak RSS {r['problems_csv_peak_rss_mb']:.0f} MB (+ {r['problems_csv_mb']:.0f} MB)")
    return results


if __name__ == "__main__":
    args = sys.argv[1:]
    if args and args[0] in ("--prepare", "--measure"):
        if args[0] == "--prepare":
            _prepare(args[1], int(args[2]), args[3] == "1")
        else:
            print(json.dumps(_measure(args[1])))
        sys.exit(0)
    src_arg = None
    if "--src" in args:
        i = args.index("--src")
        src_arg = args[i + 1]
        del args[i:i + 2]
    no_worst = "--no-worst" in args
    if no_worst:
        args.remove("--no-worst")
    main(tuple(int(a) for a in args) or SIZES, src_arg, worst=not no_worst)
