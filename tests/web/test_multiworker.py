"""A change made through one gunicorn worker is seen through the others at once.

Two gunicorn servers, each with two worker processes, over one SQLite
database: an edit made through server A (signed in, with its CSRF token) is
read back immediately through server B, whose processes never took the write,
and through fresh connections to both (so through every worker).
"""

from __future__ import annotations

import http.cookiejar
import os
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from stationmap.model import Station
from tests.support.webforms import PASSWORD, add_users, csrf_token, free_port

pytestmark = pytest.mark.slow


def _gunicorn() -> str:
    path = Path(sys.executable).parent / "gunicorn"
    assert path.exists(), "gunicorn is installed with the package"
    return str(path)


@pytest.fixture
def servers(tmp_path):
    from stationmap.store import StationStore

    url = f"sqlite:///{tmp_path}/mw.sqlite"
    store = StationStore(url)
    store.create_all()
    store.write_many([Station(id="zl-1", name="多进程测试驿站", lon=119.93, lat=31.78, adcode="320404"),
                      Station(id="zl-2", name="另一个驿站", lon=119.935, lat=31.781, adcode="320404")], user="test")
    add_users(store)
    env = {**os.environ, "STATIONMAP_DATABASE_URL": url, "STATIONMAP_INSTANCE_PATH": str(tmp_path / "instance"),
           "STATIONMAP_SECURE_COOKIES": "0"}
    procs, bases, logs = [], [], []
    try:
        for i in range(2):
            port = free_port()
            log = open(tmp_path / f"gunicorn-{i}.log", "wb")
            logs.append(log)
            procs.append(subprocess.Popen(
                [_gunicorn(), "--workers", "2", "--bind", f"127.0.0.1:{port}", "--timeout", "120",
                 "stationmap.web:create_app()"],
                env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path))
            bases.append(f"http://127.0.0.1:{port}")
        deadline = time.time() + 120
        for base, proc in zip(bases, procs):
            while True:
                try:
                    urllib.request.urlopen(base + "/login", timeout=30).read()
                    break
                except OSError:  # refused while booting (URLError), or slow to answer
                    if proc.poll() is not None:
                        raise RuntimeError(_logs(tmp_path)) from None
                    if time.time() > deadline:
                        raise
                    time.sleep(0.2)
        yield bases, store
    finally:
        print(_logs(tmp_path))  # pytest shows it when the test fails
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
        for log in logs:
            log.close()


def _logs(tmp_path) -> str:
    return "\n".join(f"--- {p.name}\n" + p.read_text(errors="replace")[-4000:]
                     for p in sorted(tmp_path.glob("gunicorn-*.log")))


class _Browser:
    """urllib with a cookie jar: enough of a browser for forms."""

    def __init__(self):
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar),
                                                  _NoRedirect())

    def get(self, url) -> tuple[int, str]:
        try:
            with self.opener.open(url, timeout=20) as r:
                return r.status, r.read().decode("utf-8")
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode("utf-8", "replace")

    def post(self, url, data: dict) -> int:
        body = urllib.parse.urlencode(data, doseq=True).encode()
        try:
            with self.opener.open(urllib.request.Request(url, data=body), timeout=20) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _fresh(url) -> str:
    """A GET on a new connection (no cookies, no keep-alive): any worker may answer."""
    with urllib.request.urlopen(urllib.request.Request(url, headers={"Connection": "close"}), timeout=20) as r:
        return r.read().decode("utf-8")


def test_a_write_through_one_worker_is_seen_through_every_other(servers):
    (a, b), store = servers
    # warm every worker of both servers (each builds its index before the write)
    for _ in range(8):
        assert "多进程测试驿站" in _fresh(f"{b}/stations/zl-1/reports")
        assert "多进程测试驿站" in _fresh(f"{a}/stations/zl-1/reports")

    br = _Browser()
    _status, page = br.get(f"{a}/login")
    assert br.post(f"{a}/login", {"username": "zl", "password": PASSWORD, "csrf_token": csrf_token(page)}) == 302
    status, form = br.get(f"{a}/admin/stations/zl-1/edit")
    assert status == 200
    rev = store.history("zl-1")[0]["rev"]
    data = {"csrf_token": csrf_token(form), "base_rev": str(rev), "name": "改名后的驿站", "kinds": "rest",
            "lon": "119.93", "lat": "31.78", "datum": "wgs84", "adcode": "320404", "status": "active",
            "opening_hours": "24/7", "note": "multi-worker test"}
    assert br.post(f"{a}/admin/stations/zl-1/edit", data) == 302

    # at once, through server B (whose two processes never took the write) ...
    page = _fresh(f"{b}/stations/zl-1/reports")
    assert "改名后的驿站" in page and "多进程测试驿站" not in page
    # ... and through fresh connections to every worker of both servers, from their indexes
    for _ in range(8):
        for base in (a, b):
            assert "改名后的驿站" in _fresh(f"{base}/stations/zl-1/reports")
            listed = _fresh(f"{base}/api/v1/stations?district=320404&status=active")
            assert "改名后的驿站" in listed and "多进程测试驿站" not in listed

    # the same session works on server B (one database, one secret key): close it there
    status, district = br.get(f"{b}/admin/districts/320404")
    assert status == 200 and "改名后的驿站" in district
    assert br.post(f"{b}/admin/stations/zl-1/close", {"csrf_token": csrf_token(district), "confirm": "1"}) == 302
    for _ in range(8):
        listed = _fresh(f"{a}/api/v1/stations?district=320404&status=active")
        assert "zl-1" not in listed and "zl-2" in listed
    assert [h["user"] for h in store.history("zl-1")[:2]] == ["zl", "zl"]


def test_sign_in_throttling_and_sign_out_hold_across_workers(servers):
    """Failures counted in the database: 6 wrong passwords spread over two servers (four worker
    processes) lock the account; the 6th and the right password get 429 (issue 22).  A session
    ended through one server opens nothing through the other."""
    (a, b), store = servers
    br = _Browser()
    _status, page = br.get(f"{a}/login")
    token = csrf_token(page)
    codes = []
    for i in range(6):
        codes.append(br.post(f"{(a, b)[i % 2]}/login", {"username": "zl", "password": f"wrong {i}",
                                                         "csrf_token": token}))
    assert codes == [401] * 5 + [429]
    assert br.post(f"{b}/login", {"username": "zl", "password": PASSWORD, "csrf_token": token}) == 429
    assert br.post(f"{a}/login", {"username": "zl", "password": PASSWORD, "csrf_token": token}) == 429
    # an account name that does not exist is locked the same way
    ghost = [br.post(f"{(b, a)[i % 2]}/login", {"username": "no.such.user", "password": "x", "csrf_token": token})
             for i in range(6)]
    assert ghost == [401] * 5 + [429]

    # sign in on A, copy the cookie, sign out on B: the copy no longer opens /admin/ anywhere
    assert br.post(f"{a}/login", {"username": "tn", "password": PASSWORD, "csrf_token": token}) == 302
    copy = _Browser()
    for c in br.jar:
        copy.jar.set_cookie(c)
    assert copy.get(f"{a}/admin/")[0] == 200
    _status, admin_page = br.get(f"{b}/admin/")
    assert br.post(f"{b}/logout", {"csrf_token": csrf_token(admin_page)}) == 302
    for base in (a, b, a, b):
        assert copy.get(f"{base}/admin/")[0] == 302


def test_a_write_through_one_worker_is_seen_in_the_tiles_of_every_other(servers):
    """Map tiles (issue 16): a station closed through server A is gone from the tiles that server B's
    workers serve (each keeps a cluster index per data revision), and the tiles' ETag changes."""
    import json

    from tests.web.test_api_tiles import _tile

    (a, b), store = servers
    x, y = _tile(119.93, 31.78, 18)
    tile = f"/api/v1/tiles/18/{x}/{y}.geojson?status=active"
    world = "/api/v1/tiles/0/0/0.geojson?status=active"
    x2, y2 = _tile(119.935, 31.781, 18)
    other = f"/api/v1/tiles/18/{x2}/{y2}.geojson?status=active"
    for _ in range(8):     # every worker of both servers builds its clusters before the write
        for base in (a, b):
            assert "zl-1" in {f["id"] for f in json.loads(_fresh(base + tile))["features"]}
            assert json.loads(_fresh(base + world))["total"] == 2
    with urllib.request.urlopen(b + tile, timeout=20) as r:
        etag = r.headers["ETag"]

    br = _Browser()
    _status, page = br.get(f"{a}/login")
    assert br.post(f"{a}/login", {"username": "zl", "password": PASSWORD, "csrf_token": csrf_token(page)}) == 302
    _status, district = br.get(f"{a}/admin/districts/320404")
    assert br.post(f"{a}/admin/stations/zl-1/close", {"csrf_token": csrf_token(district), "confirm": "1"}) == 302

    for _ in range(8):
        for base in (b, a):
            assert "zl-1" not in {f["id"] for f in json.loads(_fresh(base + tile))["features"]}
            assert "zl-2" in {f["id"] for f in json.loads(_fresh(base + other))["features"]}
            assert json.loads(_fresh(base + world))["total"] == 1
    req = urllib.request.Request(b + tile, headers={"If-None-Match": etag, "Connection": "close"})
    with urllib.request.urlopen(req, timeout=20) as r:
        assert r.status == 200 and r.headers["ETag"] != etag
