"""Read-only API requests skip the session, the rate limiter and the language cookie,
and still get every framing header; writes and sign-in keep all of them.  The lean
parts they use (ApiResponse, StationmapRequest.args) answer as werkzeug does (issue 3)."""

from __future__ import annotations

import gzip
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as hst

from stationmap.web.auth import LOGIN_LIMIT_PER_USERNAME
from tests.support.webforms import add_users, fresh_token, sign_in, use_fast_hasher

FRAMING = {"X-Frame-Options": "DENY", "Content-Security-Policy": "frame-ancestors 'none'",
           "X-Content-Type-Options": "nosniff", "Referrer-Policy": "strict-origin-when-cross-origin"}


@pytest.fixture
def signed_in(app, monkeypatch):
    use_fast_hasher(monkeypatch)
    add_users(app.extensions["stationmap"].store)
    c = app.test_client()
    assert sign_in(c, "admin").status_code == 302
    return c


def _cookie_headers(resp) -> list:
    return resp.headers.getlist("Set-Cookie")


@pytest.mark.parametrize("path", ["/api/v1/districts", "/api/v1/stations?limit=2",
                                  "/api/v1/nearest?lat=31.78&lon=119.95", "/api/v1/nearest?bad=1"])
def test_api_reads_of_a_signed_in_client_neither_set_nor_vary_on_cookies(signed_in, path):
    r = signed_in.get(path, headers={"Accept-Encoding": "gzip"})
    assert r.status_code in (200, 400)
    assert _cookie_headers(r) == []
    assert "cookie" not in {v.strip().lower() for v in r.headers.get("Vary", "").split(",")}
    for name, value in FRAMING.items():
        assert r.headers.get(name) == value, name
    # the same client's HTML pages still have their session (the sign-in was kept)
    page = signed_in.get("/admin/")
    assert page.status_code == 200
    assert "Cookie" in page.headers.get("Vary", "")


def test_api_reads_are_not_rate_limited_but_sign_in_is(client):
    per_minute = int(LOGIN_LIMIT_PER_USERNAME.split()[0])
    for _ in range(per_minute * 3):
        r = client.get("/api/v1/districts")
        assert r.status_code == 200
        assert not any(h.lower().startswith("x-ratelimit") for h in r.headers.keys())
    token = fresh_token(client)
    statuses = [client.post("/login", data={"username": "nobody", "password": "x", "csrf_token": token}).status_code
                for _ in range(per_minute + 1)]
    assert statuses == [401] * per_minute + [429]
    assert client.get("/api/v1/districts").status_code == 200


def test_lang_query_remembered_on_pages_not_on_api(client):
    assert any(c.startswith("lang=en") for c in _cookie_headers(client.get("/?lang=en")))
    r = client.get("/api/v1/districts?lang=en")    # (lang: the language of the API's error messages)
    assert r.status_code == 200
    assert _cookie_headers(r) == []
    r = client.get("/api/v1/districts?lang=fr")
    assert r.status_code == 400 and r.get_json()["error"]["field"] == "lang"
    assert _cookie_headers(r) == []


def test_framed_embed_still_drops_deny(app):
    """A view that allows framing (g.frame_ancestors) gets its allowlist, not DENY."""
    from flask import g

    @app.get("/_framed_probe")
    def _probe():
        g.frame_ancestors = ["https://union.example.org"]
        return "ok", {"Content-Type": "text/plain"}

    @app.get("/_framed_page_probe")
    def _page_probe():
        g.frame_ancestors = ["https://union.example.org"]
        return "<p>ok</p>"

    r = app.test_client().get("/_framed_probe")
    assert "X-Frame-Options" not in r.headers
    assert r.headers["Content-Security-Policy"] == "frame-ancestors https://union.example.org"
    r = app.test_client().get("/_framed_page_probe")   # a page: the whole policy (tests/web/test_csp.py)
    assert "X-Frame-Options" not in r.headers
    assert r.headers["Content-Security-Policy"].startswith("default-src 'self'; ")
    assert r.headers["Content-Security-Policy"].endswith("; frame-ancestors https://union.example.org")


@pytest.mark.parametrize("size", [512, 1000, 1024, 5000, 8192, 20000, 32767, 32768, 200_000])
@pytest.mark.parametrize("level", [0, 1, 6, 9])
@pytest.mark.parametrize("isal", [True, False])
def test_small_window_gzip_round_trips(size, level, isal, monkeypatch):
    """gzip with ISA-L (levels 0-1) or zlib (the rest, and all when isal is missing: level
    0 is then zlib's 1, never a stored stream) reads back with the standard library."""
    from stationmap.web import http
    from stationmap.web.http import _gzip

    if not isal:
        monkeypatch.setattr(http, "_isal_zlib", None)
    elif http._isal_zlib is None:
        pytest.fail("isal is in install_requires but cannot be imported")
    rng = random.Random(size)
    words = ["驿站", "station", '"lon":', "120.123456", "nav", "amap://", "{", "}"]
    raw = "".join(rng.choice(words) for _ in range(size)).encode()[:size]
    data = _gzip(raw, level)
    assert data[:2] == b"\x1f\x8b"
    assert gzip.decompress(data) == raw  # the standard library's reader is the reference
    # level 0 (ISA-L's fastest) is real compression: within 40% of zlib's level 1 (80% under 4 KB)
    slack = 1.02 if level or not isal else (1.4 if size >= 4096 else 1.8)
    assert len(data) <= len(gzip.compress(raw, compresslevel=max(level, 1))) * slack + 16
    assert len(data) < 0.7 * len(raw)


def _wsgi(resp, method="GET"):
    """(status, headers, body) of a response called as a WSGI app."""
    from werkzeug.test import create_environ

    seen = {}

    def start_response(status, headers, exc_info=None):
        seen["status"], seen["headers"] = status, list(headers)

    it = resp(create_environ("/api/v1/x", "http://localhost/", method=method), start_response)
    body = b"".join(it)
    if hasattr(it, "close"):  # as a WSGI server does
        it.close()
    return seen["status"], seen["headers"], body


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("status", [200, 201, 204, 400, 404])
def test_api_response_hands_over_what_werkzeug_would(app, method, status):
    """ApiResponse's shortcut gives the server the status, headers and body werkzeug's
    Response.__call__ gives, whatever the method and status."""
    from flask import Response

    from stationmap.web.http import ApiResponse, api_response

    with app.test_request_context(headers={"Accept-Encoding": "gzip"}):
        ours = api_response('{"a": "' + "x" * 600 + '"}', status, "application/json")
        assert type(ours) is ApiResponse
        plain = Response(ours.get_data(), status=status, headers=list(ours.headers))
        assert _wsgi(ours, method) == _wsgi(plain, method)


def test_api_response_takes_werkzeugs_way_for_what_a_hook_changed(app):
    """A Location header, a streamed body or a close callback set after the view: werkzeug's way."""
    from stationmap.web.http import api_response

    with app.test_request_context():
        r = api_response("{}", 200, "application/json")
        r.headers["Location"] = "/api/v1/stations/a b"
        assert dict(_wsgi(r)[1])["Location"] == "/api/v1/stations/a%20b"  # werkzeug made it a URI
        r = api_response("{}", 200, "application/json")
        r.response = iter([b"[", b"]"])
        del r.headers["Content-Length"]
        assert _wsgi(r)[2] == b"[]"
        closed = []
        r = api_response("{}", 200, "application/json")
        r.call_on_close(lambda: closed.append(True))
        assert _wsgi(r)[2] == b"{}" and closed == [True]


def test_head_of_an_api_read_has_the_headers_and_no_body(client):
    get = client.get("/api/v1/nearest?lat=31.78&lon=119.95", headers={"Accept-Encoding": "gzip"})
    head = client.head("/api/v1/nearest?lat=31.78&lon=119.95", headers={"Accept-Encoding": "gzip"})
    assert get.status_code == head.status_code == 200 and head.data == b""
    assert head.headers["Content-Encoding"] == "gzip" and int(head.headers["Content-Length"]) > 0
    assert head.headers["Content-Type"] == get.headers["Content-Type"] == "application/geo+json"


@pytest.mark.parametrize("status", [200, 400])
def test_api_response_of_builds_what_the_constructor_builds(status):
    """ApiResponse.of skips Response.__init__: the same attributes, headers, status and body
    (a werkzeug upgrade that adds an attribute to __init__ fails here)."""
    from stationmap.web.http import ApiResponse

    headers = [("X-Frame-Options", "DENY"), ("Content-Type", "application/geo+json"), ("Vary", "Accept-Encoding")]
    fast = ApiResponse.of(b'{"a":1}', status, headers)
    slow = ApiResponse(b'{"a":1}', status=status, headers=headers)
    assert set(vars(fast)) == set(vars(slow))
    assert sorted(fast.headers.items()) == sorted(slow.headers.items())
    assert (fast.status, fast.status_code, fast.get_data(), fast.direct_passthrough) == \
        (slow.status, slow.status_code, slow.get_data(), slow.direct_passthrough)
    fast.headers["X-Added"] = "1"   # the headers still work as werkzeug's
    assert fast.headers.getlist("x-added") == ["1"]


@settings(max_examples=500, deadline=None)
@given(hst.text(alphabet="ab=&%+.;-_ 09E4é\x7f", max_size=24))
def test_request_args_are_what_werkzeug_parses(qs):
    """StationmapRequest.args (a split where nothing needs unquoting) against werkzeug's."""
    from flask import Request
    from werkzeug.test import create_environ

    from stationmap.web.http import StationmapRequest

    env = create_environ("/api/v1/stations")
    env["QUERY_STRING"] = qs.encode().decode("latin-1")   # as a WSGI server gives it
    try:
        want = list(Request(dict(env)).args.items(multi=True))
    except UnicodeDecodeError:
        want = UnicodeDecodeError
    try:
        got = list(StationmapRequest(dict(env)).args.items(multi=True))
    except UnicodeDecodeError:
        got = UnicodeDecodeError
    assert got == want
    try:
        lists = StationmapRequest(dict(env)).arg_lists
    except UnicodeDecodeError:
        lists = UnicodeDecodeError
    assert lists == (want if want is UnicodeDecodeError else dict(Request(dict(env)).args.lists()))


def test_now_is_this_second_in_shanghai_and_its_checker_is_kept(monkeypatch):
    """api.now(): the current second as an Asia/Shanghai datetime with its RFC 3339 text,
    made again when the second changes; time_checker keeps the checker of that same ``at``."""
    from datetime import datetime

    from stationmap.hours import TZ
    from stationmap.web import features, params

    clock = [1_800_000_000.25]
    monkeypatch.setattr(params.time, "time", lambda: clock[0])
    at, text = params.now()
    assert at == datetime(2027, 1, 15, 16, 0, tzinfo=TZ) and at.tzinfo is TZ
    assert text == "2027-01-15T16:00:00+08:00" and params.now()[0] is at
    assert features.time_checker(at) is features.time_checker(at)
    clock[0] += 1.0
    later, text = params.now()
    assert later is not at and text == "2027-01-15T16:00:01+08:00"
    assert features.time_checker(later) is not features.time_checker(at)


@settings(max_examples=3000, deadline=None)
@given(hst.text(alphabet="0123456789.+-eE", max_size=12))
def test_plain_numbers_need_no_regex(text):
    """Params.number skips its regex for text of digits, '.', signs and 'e': over those
    characters, what float() reads is exactly what the regex takes."""
    from stationmap.web.params import _NUM

    try:
        float(text)
        reads = True
    except ValueError:
        reads = False
    assert reads == bool(_NUM.fullmatch(text))


def test_ensure_sync_keeps_flasks_answer_for_plain_functions():
    """StationmapFlask.ensure_sync answers as Flask's does: a plain function as it is (then
    remembered), a coroutine function Flask's way (wrapped, or refused without asgiref), never kept."""
    from flask import Flask

    from stationmap.web.http import StationmapFlask

    ours, stock = StationmapFlask("ours"), Flask("stock")

    def plain():
        return "ok"

    async def coro():
        return "ok"

    assert stock.ensure_sync(plain) is plain
    assert ours.ensure_sync(plain) is plain and plain in ours._sync_funcs
    assert ours.ensure_sync(plain) is plain

    def outcome(app):
        try:
            out = app.ensure_sync(coro)
        except RuntimeError as exc:     # Flask without its async extra
            return RuntimeError, str(exc)
        return type(out), out is coro

    assert outcome(ours) == outcome(stock)
    assert coro not in ours._sync_funcs
