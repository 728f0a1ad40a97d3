"""Soak: 50 clients for 60 s against the server ``make serve`` runs, one worker SIGKILLed at 20 s.

The server is started as ``make serve`` starts it, in a fresh temporary
instance folder: ``stationmap init`` (SQLite, the sample stations), then
``stationmap serve --workers 2`` on a free loopback port (gunicorn with
stationmap/gunicorn_conf.py; started and stopped by bench_api's helpers).
An editor account is added with ``stationmap user add ... --password-stdin``.

CLIENTS threads, each one request at a time with no pause between (a closed
loop: every client always waits on the server), repeat an action drawn from
MIX for SECONDS seconds: the finder page ``/``; ``/api/v1/nearest`` around a
sample station, with the finder's parameters and now and then its filters;
``/api/v1/reach`` in the Suzhou Industrial Park (the road-network isochrone,
which the finder asks for where a network covers the point); a district's
stations (``/api/v1/stations?district=...``); an embed page
(``/embed/<adcode>`` with presets); and a sign-in: the form (GET /login), the
POST with its CSRF token and the right password, the admin page (GET
/admin/, whose sign-out form has the new token) and the sign-out (POST
/logout).  Every request is a new connection (gunicorn's sync workers close
each one), timed from connect to last byte.  A request fails when it gets no
answer (a reset, a timeout of TIMEOUT s) or not the one its step expects
(200; the sign-in and sign-out POSTs a 302 to the admin page and to the
sign-in page; the sign-in form and the admin page a CSRF token).

At KILL_AT seconds one worker (a child of the gunicorn master, from /proc) is
SIGKILLed; the master forks a new one.  A sync worker serves one request at a
time, and connections not yet accepted wait in the listening socket, which
the master keeps: only the request the killed worker was serving should fail.
A failed request counts as "in flight at the kill" when it started before the
kill and ended within KILL_WINDOW seconds after it; every other failure
counts against the goal.  Every SAMPLE_EVERY s the workers' memory is
sampled from /proc: the peak of their VmRSS together and of the largest one,
and the peak of their PSS together (RSS counts the pages a worker shares with
the master and the other worker in each of them).  Their CPU time is
sampled too: what a request costs the server, and how much of the machine
the workers got (on a shared machine, less than its cores).

With no pause between requests, each client's request waits behind the
others' (about CLIENTS / throughput on average): p99 <= 1 s for 50 clients
asks for some 100 requests/s or more from the 2 workers, steadily.

The API's reads are not rate-limited and a right password is never
throttled (failed sign-ins are counted in the database; a rate limit applies
to worker reports only, which the mix leaves out), so the server needs no
setting changed for 50 clients from one address.

Goal (issue 22): no failures except requests in flight on the killed worker,
p99 <= 1 s over every request.  A run that misses it exits with status 1
(``make soak``; ``benchmarks/run.py`` exits 1 when a benchmark's ``failures``
is not empty).  Run: ``make soak``, or ``python benchmarks/bench_soak.py
[--clients N] [--seconds S] [--kill-at S] [--weight ACTION=N]`` (``--help``).
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import itertools
import json
import math
import os
import random
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

CLIENTS = 50
SECONDS = 60.0
KILL_AT = 20.0
KILL_WINDOW = 2.0
SAMPLE_EVERY = 0.5
TIMEOUT = 30.0
WORKERS = 2
WINDOW_S = 10.0
GOAL_P99_MS = 1000.0
USERNAME = "soak"

#: actions and their weights (shares of the actions the clients start).  A courier's visit is the
#: finder page and then a few nearest queries (a mode or filter changed), with the reach area where
#: a road network covers the position; embeds are the finder on the district unions' own sites.
#: Sign-ins are the district editors': far fewer than the public's visits, and each is dear
#: (argon2id, RFC 9106 parameters: it holds a sync worker for ~0.2-0.5 s).
MIX = {"finder": 12, "nearest": 40, "reach": 15, "district": 15, "embed": 12, "signin": 2}
#: the request kinds reported (a sign-in is four requests)
KINDS = ("finder", "nearest", "reach", "district", "embed", "login form", "sign in", "admin page", "sign out")
#: the road network the bundled settings load: Suzhou Industrial Park (data/roads/sip.npz)
SIP_ADCODE = "320571"

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


# -- the server ------------------------------------------------------------------------------

def _exe(name: str) -> str:
    exe = shutil.which(name, path=str(Path(sys.executable).parent))
    if exe is None:
        raise RuntimeError(f"no {name} next to {sys.executable}: run `make venv`")
    return exe


def prepare(tmp: Path, password: str) -> dict:
    """A fresh instance folder as ``make serve``'s (``stationmap init``) with the editor
    USERNAME; returns the environment that points the CLI and the server at it."""
    instance = tmp / "instance"
    env = {"STATIONMAP_INSTANCE_PATH": str(instance),
           "STATIONMAP_DATABASE_URL": f"sqlite:///{instance}/stationmap.sqlite"}  # the default for that folder
    for args, stdin in ((["init"], ""),
                        (["user", "add", USERNAME, "--role", "editor", "--scope", "3204", "--password-stdin"],
                         password + "\n")):
        done = subprocess.run([_exe("stationmap"), *args], input=stdin, text=True, env={**os.environ, **env},
                              cwd=tmp, capture_output=True, timeout=300, check=False)
        if done.returncode:
            raise RuntimeError(f"stationmap {' '.join(args)} failed: {done.stderr[-2000:]}")
    return env


def serve(api, tmp: Path, env: dict, port: int, workers: int = WORKERS) -> subprocess.Popen:
    """``stationmap serve`` (which becomes the gunicorn master) on 127.0.0.1:``port``."""
    return api.start([_exe("stationmap"), "serve", "--host", "127.0.0.1", "--port", str(port),
                      "--workers", str(workers)], port=port, env=env, cwd=str(tmp), ready_path="/login",
                     settle=False)


def children(pid: int) -> list:
    """The pids whose parent is ``pid`` (the gunicorn master's workers), from /proc/*/stat."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
        except OSError:  # gone meanwhile
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'
        if int(stat[stat.rindex(")") + 2:].split()[1]) == pid:
            out.append(int(d))
    return sorted(out)


def _proc_kb(path: str, key: str) -> int | None:
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1])
    except OSError:  # gone
        return None
    return None


def sample(pid: int) -> tuple | None:
    """``(VmRSS kB, Pss kB, CPU seconds)`` of ``pid``, or None when it is gone.  RSS counts every
    page the process maps, the pages it shares with the master (the app, preloaded) too; PSS
    divides a shared page among the processes that map it, so the workers' PSS add up."""
    rss = _proc_kb(f"/proc/{pid}/status", "VmRSS:")
    pss = _proc_kb(f"/proc/{pid}/smaps_rollup", "Pss:")
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    except (OSError, IndexError):
        return None
    return None if rss is None else (rss, pss, cpu)


# -- the requests ----------------------------------------------------------------------------

class Failed(Exception):
    """A request that got no answer or not the one expected."""


class Client:
    """One client: a connection per request, a cookie jar, and the record of every request as
    ``(kind, start, end, status, error)`` (times on the soak's clock; error None when it succeeded)."""

    def __init__(self, port: int, t0: float):
        self.port = port
        self.t0 = t0
        self.cookies: dict = {}
        self.records: list = []

    def request(self, kind: str, method: str, path: str, *, form: dict | None = None,
                expect: int = 200, location: str | None = None, token: bool = False) -> str:
        """Send one request; returns the body as text, or with ``token`` the page's CSRF token.
        Raises Failed (after recording it) when there is no answer, the status is not ``expect``,
        the redirect is not to ``location`` or (``token``) the page has no CSRF token."""
        headers = {"Host": f"127.0.0.1:{self.port}", "Accept-Encoding": "gzip", "User-Agent": "stationmap-soak",
                   "Accept-Language": "zh-CN,zh;q=0.9"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        start = time.perf_counter() - self.t0
        status, error, text, end = 0, None, "", None
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            end = time.perf_counter() - self.t0  # the last byte: the rest is the client's work
            status = resp.status
            for value in resp.headers.get_all("Set-Cookie") or ():
                self._set_cookie(value)
            if status != expect:
                error = f"status {status}, expected {expect}"
            elif location is not None and urllib.parse.urlsplit(resp.getheader("Location", "")).path != location:
                error = f"redirected to {resp.getheader('Location')!r}, expected {location}"
            if resp.getheader("Content-Encoding") == "gzip":
                data = gzip.decompress(data)
            text = data.decode("utf-8", errors="replace")
            if token and error is None:
                m = _TOKEN.search(text)
                text = m.group(1) if m else ""
                error = None if m else "no csrf_token in the page"
        except (OSError, EOFError, http.client.HTTPException) as exc:  # EOFError: a cut gzip body
            error = f"{type(exc).__name__}: {exc}"
        finally:
            conn.close()
        if end is None:
            end = time.perf_counter() - self.t0
        self.records.append((kind, start, end, status, error))
        if error is not None:
            raise Failed(error)
        return text

    def _set_cookie(self, header: str) -> None:
        name, _, rest = header.partition("=")
        value = rest.split(";", 1)[0]
        gone = not value or "max-age=0" in header.lower() or "expires=thu, 01 jan 1970" in header.lower()
        if gone:
            self.cookies.pop(name.strip(), None)
        else:
            self.cookies[name.strip()] = value


class Mix:
    """The request paths of each action, drawn from the sample stations (seeded)."""

    def __init__(self, stations, rng: random.Random, weights: dict | None = None):
        self.rng = rng
        self.stations = stations
        self.sip = [s for s in stations if s.adcode == SIP_ADCODE]
        self.adcodes = sorted({s.adcode for s in stations if s.adcode})
        weights = weights or MIX
        self.actions = [a for a in MIX if weights.get(a)]
        self.weights = [weights[a] for a in self.actions]

    def action(self) -> str:
        return self.rng.choices(self.actions, self.weights)[0]

    def _near(self, stations, sigma: float) -> tuple:
        s = self.rng.choice(stations)
        return s.lat + self.rng.gauss(0, sigma), s.lon + self.rng.gauss(0, sigma)

    def nearest(self) -> str:
        """As the finder asks: position, k=5, mode, 15 minutes, sometimes a filter."""
        lat, lon = self._near(self.stations, 0.015)
        q = [("lat", f"{lat:.6f}"), ("lon", f"{lon:.6f}"), ("k", "5"),
             ("mode", self.rng.choice(["ebike", "walk", "bike"])), ("minutes", "15")]
        r = self.rng.random()
        if r < 0.15:
            q.append(("kind", "rest"))
        elif r < 0.25:
            q.append(("service", self.rng.choice(["hot_water", "toilet", "ebike_charging"])))
        elif r < 0.30:
            q.append(("open_now", "true"))
        return "/api/v1/nearest?" + urllib.parse.urlencode(q)

    def reach(self) -> str:
        """As the finder asks where a road network covers the position (lat, lon, mode, minutes)."""
        lat, lon = self._near(self.sip, 0.005)
        q = {"lat": f"{lat:.6f}", "lon": f"{lon:.6f}", "mode": self.rng.choice(["ebike", "walk", "bike"]),
             "minutes": "15"}
        return "/api/v1/reach?" + urllib.parse.urlencode(q)

    def district(self) -> str:
        """A district's stations (a county, or a city by its 4-digit prefix), sometimes one kind."""
        code = self.rng.choice(self.adcodes)
        q = [("district", code if self.rng.random() < 0.7 else code[:4])]
        if self.rng.random() < 0.3:
            q.append(("kind", "rest"))
        return "/api/v1/stations?" + urllib.parse.urlencode(q)

    def embed(self) -> str:
        """A district's embed, with presets as the builder writes them now and then."""
        q = []
        if self.rng.random() < 0.3:
            q.append(("lang", "en"))
        if self.rng.random() < 0.3:
            q.append(("kind", "rest"))
        if self.rng.random() < 0.2:
            q.append(("list", "0"))
        path = f"/embed/{self.rng.choice(self.adcodes)}"
        return path + ("?" + urllib.parse.urlencode(q) if q else "")


def run_action(client: Client, mix: Mix, action: str, password: str) -> bool:
    """One action of the mix; False when a request failed (it is recorded, and a sign-in
    stops at its first failed step)."""
    try:
        if action == "finder":
            client.request("finder", "GET", "/")
        elif action in ("nearest", "reach", "district", "embed"):
            client.request(action, "GET", getattr(mix, action)())
        else:  # sign in, look at the admin page, sign out: a browser's session
            client.cookies.clear()
            token = client.request("login form", "GET", "/login", token=True)
            client.request("sign in", "POST", "/login", form={"csrf_token": token, "username": USERNAME,
                                                             "password": password},
                           expect=302, location="/admin/")
            token = client.request("admin page", "GET", "/admin/", token=True)
            client.request("sign out", "POST", "/logout", form={"csrf_token": token}, expect=302,
                           location="/login")
    except Failed:
        return False
    return True


# -- the soak --------------------------------------------------------------------------------

def split_failures(records: list, kill_at: float | None) -> tuple:
    """The failed requests among ``records`` (``(kind, start, end, status, error)``): those in
    flight at the kill (started before ``kill_at``, ended within KILL_WINDOW s after it), the others."""
    failed = [r for r in records if r[4] is not None]
    if kill_at is None:
        return [], failed
    at_kill = [r for r in failed if r[1] <= kill_at <= r[2] <= kill_at + KILL_WINDOW]
    return at_kill, [r for r in failed if r not in at_kill]


def _pct(values: list, p: float) -> float:
    """The p-th percentile (nearest rank) of sorted ``values``, in ms."""
    if not values:
        return float("nan")
    return values[max(0, math.ceil(p / 100 * len(values)) - 1)] * 1000


def _latency(records: list) -> dict:
    lat = sorted(r[2] - r[1] for r in records)
    return {"n": len(lat), "p50_ms": _pct(lat, 50), "p95_ms": _pct(lat, 95), "p99_ms": _pct(lat, 99),
            "max_ms": lat[-1] * 1000 if lat else float("nan")}


def soak(port: int, master: int, *, password: str, stations, clients: int = CLIENTS, seconds: float = SECONDS,
         kill_at: float | None = KILL_AT, mix: dict | None = None, seed: int = 22) -> dict:
    """Load the server for ``seconds`` with ``clients`` threads, SIGKILL one worker of ``master`` at
    ``kill_at`` (None: none), sample the workers' memory; returns the figures.  ``mix``: the
    actions' weights (default MIX)."""
    mix = {**MIX, **(mix or {})}
    workers = len(children(master))
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    deadline = seconds
    done = threading.Event()
    kill: dict = {}
    samples: list = []   # (t, {pid: sample(pid)})
    cpu_before = time.process_time()

    def monitor():
        next_sample = 0.0
        while not done.is_set():
            t = time.perf_counter() - t0
            if kill_at is not None and not kill and t >= kill_at:
                alive = children(master)
                if alive:
                    os.kill(alive[0], signal.SIGKILL)
                    kill.update(pid=alive[0], at=time.perf_counter() - t0, workers=alive)
            waiting = bool(kill) and "replaced_by" not in kill
            if waiting:
                new = sorted(set(children(master)) - set(kill["workers"]))
                if new:
                    kill.update(replaced_by=new[0], replaced_after=time.perf_counter() - t0 - kill["at"])
            if t >= next_sample:
                samples.append((t, {pid: m for pid in children(master) if (m := sample(pid)) is not None}))
                next_sample += SAMPLE_EVERY
            # wake for the next sample, the kill, or (till it is seen) the new worker
            wake = min(next_sample, kill_at if kill_at is not None and not kill else next_sample)
            done.wait(0.02 if waiting else max(0.0, wake - (time.perf_counter() - t0)))

    all_clients = [Client(port, t0) for _ in range(clients)]

    def run(client: Client, k: int):
        paths = Mix(stations, random.Random(seed * 1000 + k), mix)
        while time.perf_counter() - t0 < deadline:
            run_action(client, paths, paths.action(), password)

    mon = threading.Thread(target=monitor, daemon=True)
    mon.start()
    threads = [threading.Thread(target=run, args=(c, k)) for k, c in enumerate(all_clients)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - t0
    client_cpu = time.process_time() - cpu_before
    done.set()
    mon.join()

    records = sorted((r for c in all_clients for r in c.records), key=lambda r: r[1])
    failed = [r for r in records if r[4] is not None]
    kill_errors, other_errors = split_failures(records, kill.get("at"))
    overall = _latency(records)
    per_kind = {k: _latency([r for r in records if r[0] == k]) for k in KINDS}
    # by WINDOW_S-second window of their start: drift over the run, and the kill's window
    per_window = [_latency([r for r in records if w * WINDOW_S <= r[1] < (w + 1) * WINDOW_S])
                  for w in range(math.ceil(seconds / WINDOW_S))]
    rss_sum = max((sum(m[0] for m in s.values()) for _, s in samples), default=0)
    rss_max = max((m[0] for _, s in samples for m in s.values()), default=0)
    pss_sum = max((sum(m[1] or 0 for m in s.values()) for _, s in samples), default=0)
    # the workers' CPU time between samples (a new worker's from its start; the killed one's last
    # half second is lost), in total and by window
    cpu_by_window = [0.0] * len(per_window)
    for (_, before), (t, now) in itertools.pairwise(samples):
        used = sum(m[2] - (before[pid][2] if pid in before else 0.0) for pid, m in now.items())
        cpu_by_window[min(len(per_window) - 1, int(t // WINDOW_S))] += used
    server_cpu = sum(cpu_by_window)
    failures = []
    if other_errors:
        failures.append(f"{len(other_errors)} failed requests besides those in flight at the kill "
                        f"(first: {other_errors[0][0]} at {other_errors[0][1]:.1f} s: {other_errors[0][4]})")
    if not overall["p99_ms"] <= GOAL_P99_MS:
        failures.append(f"p99 {overall['p99_ms']:.0f} ms > {GOAL_P99_MS:.0f} ms")
    if kill_at is not None and not kill:
        failures.append("no worker to kill was found")
    elif kill_at is not None and "replaced_by" not in kill:
        failures.append(f"gunicorn did not replace the killed worker {kill['pid']}")
    return {
        "clients": clients, "seconds": seconds, "mix": mix,
        "load_average": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "wall_s": wall, "workers": workers, "cores": os.cpu_count(),
        "requests": len(records), "rps": len(records) / wall,
        "workers_cpu_s": server_cpu, "client_cpu_s": client_cpu,
        "errors": len(failed), "errors_in_flight_at_kill": len(kill_errors), "errors_other": len(other_errors),
        "error_samples": [{"kind": r[0], "start_s": round(r[1], 3), "end_s": round(r[2], 3), "error": r[4]}
                          for r in (kill_errors + other_errors)[:20]],
        "kill": {k: v for k, v in kill.items() if k != "workers"},
        "latency": overall, "latency_by_kind": per_kind, "latency_by_window": per_window,
        "workers_cpu_s_by_window": cpu_by_window,
        "peak_workers_rss_mb": rss_sum / 1024, "peak_worker_rss_mb": rss_max / 1024,
        "peak_workers_pss_mb": pss_sum / 1024,
        "memory_samples": len(samples),
        "failures": failures,
    }


def report(r: dict) -> None:
    print(f"{r['clients']} clients for {r['seconds']:.0f} s against `stationmap serve` ({r['workers']} workers, "
          f"SQLite, the sample stations), closed loop; cores: {r['cores']}, load average (1 min) "
          f"{r['load_average'][0]:.1f} before, {r['load_average'][1]:.1f} after")
    print("  mix (weights of the actions): " + ", ".join(f"{a} {w}" for a, w in r["mix"].items()))
    k = r["kill"]
    if k:
        rep = (f"; replacement {k['replaced_by']} seen {k['replaced_after']:.2f} s later"
               if "replaced_by" in k else "; no replacement seen")
        print(f"  worker {k['pid']} SIGKILLed at {k['at']:.1f} s{rep}")
    print(f"  requests: {r['requests']} ({r['rps']:.1f}/s); errors: {r['errors_in_flight_at_kill']} in flight at "
          f"the kill, {r['errors_other']} other")
    for e in r["error_samples"]:
        print(f"    {e['kind']:<11} {e['start_s']:7.3f}-{e['end_s']:7.3f} s  {e['error']}")
    print(f"  {'latency (ms)':<14}{'n':>7}{'p50':>8}{'p95':>8}{'p99':>8}{'max':>8}")
    rows = [("all", r["latency"]), *r["latency_by_kind"].items()]
    for name, s in rows:
        print(f"  {name:<14}{s['n']:>7}{s['p50_ms']:>8.0f}{s['p95_ms']:>8.0f}{s['p99_ms']:>8.0f}{s['max_ms']:>8.0f}")
    windows = []
    for i, w in enumerate(r["latency_by_window"]):
        a, b = i * WINDOW_S, min((i + 1) * WINDOW_S, r["seconds"])
        cores = r["workers_cpu_s_by_window"][i] / (b - a)
        windows.append(f"{a:.0f}-{b:.0f} s: {w['n'] / (b - a):.0f}/s {w['p50_ms']:.0f}/{w['p99_ms']:.0f} ms "
                       f"{cores:.2f} cores")
    print(f"  by {WINDOW_S:.0f} s window (requests started per s, p50/p99, the workers' CPU):")
    for i in range(0, len(windows), 3):
        print("    " + "; ".join(windows[i:i + 3]))
    print(f"  peak worker memory (every {SAMPLE_EVERY} s): VmRSS {r['peak_workers_rss_mb']:.0f} MB the workers "
          f"together, {r['peak_worker_rss_mb']:.0f} MB the largest; PSS (shared pages counted once) "
          f"{r['peak_workers_pss_mb']:.0f} MB together")
    print(f"  CPU: the workers {r['workers_cpu_s']:.1f} s ({1000 * r['workers_cpu_s'] / max(1, r['requests']):.1f} ms "
          f"a request, {r['workers_cpu_s'] / r['wall_s']:.2f} cores on average); the clients "
          f"{r['client_cpu_s']:.1f} s ({r['client_cpu_s'] / r['wall_s']:.2f} cores)")
    print(f"  tracebacks in the server's error log: {r.get('server_tracebacks', 0)}")
    verdict = "met" if not r["failures"] else "NOT met: " + "; ".join(r["failures"])
    print(f"  goal (no errors but those in flight at the kill, p99 <= {GOAL_P99_MS:.0f} ms): {verdict}")


def run(*, clients: int = CLIENTS, seconds: float = SECONDS, kill_at: float | None = KILL_AT,
        workers: int = WORKERS, mix: dict | None = None) -> dict:
    """Set up the instance, serve it, soak it, stop it; returns :func:`soak`'s figures."""
    import bench_api as api

    from stationmap.io.sample import load_sample
    tmp = Path(tempfile.mkdtemp(prefix="stationmap-soak-"))
    password = secrets.token_urlsafe(18)
    try:
        env = prepare(tmp, password)
        port = api.free_port()
        server = serve(api, tmp, env, port, workers)
        try:
            r = soak(port, server.pid, password=password, stations=load_sample(), clients=clients,
                     seconds=seconds, kill_at=kill_at, mix=mix)
        finally:
            api.stop(server)
        # an exception the app did not handle is a bug, even when the client saw a 500 only
        r["server_tracebacks"] = api.error_log(server).count("Traceback (most recent call last)")
        if r["server_tracebacks"]:
            r["failures"].append(f"{r['server_tracebacks']} tracebacks in the server's error log")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return r


def main(argv: list | None = None) -> dict:
    """``benchmarks/run.py`` calls it without arguments: the full soak."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, default=CLIENTS)
    ap.add_argument("--seconds", type=float, default=SECONDS)
    ap.add_argument("--kill-at", type=float, default=KILL_AT, help="seconds; negative: kill no worker")
    ap.add_argument("--workers", type=int, default=WORKERS)
    ap.add_argument("--weight", action="append", default=[], metavar="ACTION=N",
                    help=f"an action's weight in the mix (repeatable; default {MIX})")
    ap.add_argument("--json", action="store_true", help="print the figures as JSON too")
    a = ap.parse_args([] if argv is None else argv)
    mix = {}
    for w in a.weight:
        name, _, n = w.partition("=")
        if name not in MIX or not n.isdigit():
            ap.error(f"--weight {w!r}: want ACTION=N with ACTION one of {', '.join(MIX)}")
        mix[name] = int(n)
    r = run(clients=a.clients, seconds=a.seconds, kill_at=a.kill_at if a.kill_at >= 0 else None, workers=a.workers,
            mix=mix)
    report(r)
    if a.json:
        print(json.dumps(r, indent=2, default=str))
    return r


if __name__ == "__main__":
    sys.exit(1 if main(sys.argv[1:])["failures"] else 0)
