"""Helpers of the issue-6 web and browser tests: users, CSRF tokens, sign-in, live servers."""

from __future__ import annotations

import re
import socket
import threading
from contextlib import contextmanager
from datetime import datetime
from zoneinfo import ZoneInfo

PASSWORD = "a long test password"
_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


#: a point in each of two neighbouring districts of Changzhou (WGS-84 lon, lat)
ZL = (119.93, 31.78)     # 320404 Zhonglou
TN = (120.00, 31.80)     # 320402 Tianning


def csrf_token(html: str) -> str:
    """The CSRF token of the first form in ``html``."""
    m = _TOKEN.search(html)
    assert m, "no csrf_token in the page"
    return m.group(1)


def add_users(store) -> dict:
    """admin; cz (city union 3204); zl (320404 Zhonglou); tn (320402 Tianning); sz (3205 Suzhou)."""
    from stationmap import accounts

    out = {"admin": accounts.add_user(store, "admin", PASSWORD, role="admin")}
    for name, scope in (("cz", "3204"), ("zl", "320404"), ("tn", "320402"), ("sz", "3205")):
        out[name] = accounts.add_user(store, name, PASSWORD, role="editor", scopes=[scope])
    return out


def sign_in(client, username: str, password: str = PASSWORD):
    """Sign ``client`` in through the form; returns the response of the POST."""
    token = csrf_token(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token})


def fresh_token(client, path: str = "/login") -> str:
    """A valid CSRF token of ``client``'s session (from any page with a form)."""
    return csrf_token(client.get(path).get_data(as_text=True))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def live_server(app, port: int | None = None):
    """Serve ``app`` (a WSGI app) on 127.0.0.1 in a thread; yields its base URL."""
    from werkzeug.serving import make_server

    port = port or free_port()
    server = make_server("127.0.0.1", port, app, threaded=True)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        t.join(5)


def serve_pages(port: int, pages: dict):
    """A static server on another local origin (``live_server``); ``pages[path]`` is the HTML
    served at ``path``, 404 for anything else."""
    def parent_site(environ, start_response):
        body = pages.get(environ.get("PATH_INFO", ""))
        if body is None:
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"not found"]
        data = body.encode("utf-8")
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(data)))])
        return [data]

    return live_server(parent_site, port=port)


def station_form(point, **over) -> dict:
    """The admin's new-station form, filled in for a point just east of WGS-84 ``point`` (lon, lat);
    ``over`` replaces fields."""
    d = {"name": "新驿站", "kinds": ["rest"], "services": ["toilet", "hot_water"], "lon": str(point[0] + 0.001),
         "lat": str(point[1]), "datum": "wgs84", "adcode": "", "opening_hours": "Mo-Fr 08:00-18:00",
         "status": "active", "address": "测试路1号", "note": "test"}
    d.update(over)
    return d


def signed_client(app, user: str | None = None):
    """A test client of ``app``, signed in as ``user`` through the form (None: signed out)."""
    c = app.test_client()
    if user:
        r = sign_in(c, user)
        assert r.status_code == 302, r.get_data(as_text=True)
    return c


def use_fast_hasher(monkeypatch) -> None:
    """Cheaper argon2id parameters for web tests that create many users (still argon2id).

    The production parameters (64 MiB, t=3) cost 0.15-0.5 s a hash on the test
    machine; tests/unit/test_accounts.py checks those.
    """
    from argon2 import PasswordHasher

    from stationmap import accounts

    monkeypatch.setattr(accounts, "_HASHER", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    monkeypatch.setattr(accounts, "_DUMMY_HASH", None)


def make_app(path, stations=(), **config):
    """The web app over a fresh SQLite database in ``path`` holding ``stations``;
    ``config``: settings and Flask config of ``create_app``."""
    from stationmap.store import StationStore
    from stationmap.web import create_app

    url = f"sqlite:///{path}/web.sqlite"
    store = StationStore(url)
    store.create_all()
    if stations:
        store.write_many(stations, user="test", note="fixture")
    return create_app({"database_url": url, "instance_path": str(path / "instance"), "TESTING": True, **config})


#: the finder server's clock in these tests: a Monday at 10:00 Shanghai time, unless a test moves it
#: (``finder_clock``): which stations are open, and so the list's order, must not hang on when CI runs
FINDER_NOON = datetime(2026, 12, 7, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


class Clock:
    """The finder server's "now" (``stationmap.web.api.now``), settable."""

    def __init__(self, at: datetime):
        self.at = at

    def now(self) -> tuple:
        from stationmap.web.params import iso_time

        return self.at, iso_time(self.at)
