"""Sessions end when they should (issue 22): sign-out ends the session server-side (a copied cookie
opens nothing), idle and absolute expiry, a new session id at sign-in, account changes end every
session; sign-in throttling in the database (per account name, existing or not, and per address,
across apps over one database); the client address behind trusted proxies; /admin/audit."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from stationmap import accounts, audit, sessions
from stationmap.model import Station
from stationmap.schema import sessions_table
from stationmap.web import create_app
from tests.support.webforms import PASSWORD, add_users, csrf_token, fresh_token, sign_in, use_fast_hasher


@pytest.fixture(autouse=True)
def _fast_hasher(monkeypatch):
    use_fast_hasher(monkeypatch)


@pytest.fixture
def app(make_web_app):
    app = make_web_app([Station(id="zl-1", name="钟楼测试驿站", lon=119.93, lat=31.78, adcode="320404",
                                kinds=("rest",))])
    add_users(app.extensions["stationmap"].store)
    return app


@pytest.fixture
def clock(monkeypatch):
    """Move the sessions' clock: ``clock(minutes=31)`` puts it that far after the real now."""
    real = sessions.now

    def move(**delta):
        monkeypatch.setattr(sessions, "now", lambda: real() + timedelta(**delta))

    return move


def _signed_in(app, user="admin"):
    c = app.test_client()
    r = sign_in(c, user)
    assert r.status_code == 302, r.get_data(as_text=True)
    return c


def _events(store, **kw):
    return [e.event for e in audit.entries(store, **kw)]


def _is_login_redirect(r):
    return r.status_code == 302 and "/login" in r.headers["Location"]


# -- sign-out, fixation ------------------------------------------------------------------------

def test_a_cookie_copied_before_sign_out_opens_nothing_after_it(app):
    c = _signed_in(app)
    cookie = c.get_cookie("session").value
    assert c.get("/admin/").status_code == 200
    thief = app.test_client()
    thief.set_cookie("session", cookie)
    assert thief.get("/admin/").status_code == 200  # the copy works while the session lasts
    assert c.post("/logout", data={"csrf_token": fresh_token(c, "/admin/")}).status_code == 302
    assert _is_login_redirect(thief.get("/admin/"))
    assert _is_login_redirect(c.get("/admin/"))


def test_the_cookie_carries_a_random_token_and_the_database_only_its_hash(app, store):
    c = _signed_in(app)
    with app.test_request_context():
        data = app.session_interface.get_signing_serializer(app).loads(c.get_cookie("session").value)
    token = data["_user_id"]
    assert len(token) >= 40 and str(accounts.get_user(store, "admin").id) not in token.split(":")
    with store.engine.connect() as conn:
        ids = conn.execute(sa.select(sessions_table.c.id)).scalars().all()
    assert ids == [sessions.token_hash(token)] and token not in ids


def test_sign_in_gets_a_new_session_id_and_ends_the_previous_one(app):
    c = _signed_in(app)
    before = c.get_cookie("session").value
    r = sign_in(c, "admin")
    assert r.status_code == 302
    old = app.test_client()
    old.set_cookie("session", before)
    assert _is_login_redirect(old.get("/admin/"))
    assert c.get("/admin/").status_code == 200


# -- expiry --------------------------------------------------------------------------------------

def test_an_idle_session_ends_after_the_idle_timeout(app, store, clock):
    c = _signed_in(app)
    clock(minutes=29)
    assert c.get("/admin/").status_code == 200
    clock(minutes=58)  # 29 minutes after the last request: still open (last_seen was touched)
    assert c.get("/admin/").status_code == 200
    clock(minutes=89)  # 31 minutes idle
    assert _is_login_redirect(c.get("/admin/"))
    assert "会话已过期" in c.get("/login").get_data(as_text=True)
    (e,) = audit.entries(store, event="session_expired")
    assert (e.user, e.detail) == ("admin", "idle")


def test_the_idle_timeout_is_a_setting(make_web_app, clock):
    app = make_web_app([], session_idle_minutes=5)
    add_users(app.extensions["stationmap"].store)
    c = _signed_in(app)
    clock(minutes=6)
    assert _is_login_redirect(c.get("/admin/"))


def test_a_session_ends_after_its_absolute_lifetime_however_busy(app, store, clock):
    c = _signed_in(app)
    for step in range(1, 36):  # a request every 20 minutes, for 11 h 40 min
        clock(minutes=20 * step)
        assert c.get("/admin/").status_code == 200, step
    clock(hours=12, minutes=1)
    assert _is_login_redirect(c.get("/admin/"))
    assert audit.entries(store, event="session_expired")[0].detail == "max_age"


def test_last_seen_is_written_at_most_once_a_minute(app, store, clock):
    c = _signed_in(app)

    def last_seen():
        with store.engine.connect() as conn:
            return conn.execute(sa.select(sessions_table.c.last_seen)).scalar_one()

    first = last_seen()
    for _ in range(5):
        assert c.get("/admin/").status_code == 200
    assert last_seen() == first
    clock(minutes=2)
    assert c.get("/admin/").status_code == 200
    assert last_seen() != first


def test_rows_of_sessions_that_open_nothing_are_deleted_a_day_later(app, store, clock):
    """Sign-in prunes: an ended session's row goes a day after it ended, an abandoned one a day
    after it stopped being able to open anything; open ones stay (the audit log keeps the events)."""
    ended = _signed_in(app)
    assert ended.post("/logout", data={"csrf_token": fresh_token(ended, "/admin/")}).status_code == 302
    abandoned = _signed_in(app, "zl")  # never used again: idles out without a check
    clock(minutes=30, hours=24, seconds=10)  # the day after the idle timeout: both are dead
    fresh = _signed_in(app)  # prunes
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(sessions_table.c.id, sessions_table.c.user_id)).all()
    assert len(rows) == 1
    assert fresh.get("/admin/").status_code == 200
    assert abandoned.get("/admin/").status_code == 302


def test_api_reads_touch_no_session(app, store, clock):
    c = _signed_in(app)
    clock(minutes=5)
    with store.engine.connect() as conn:
        before = conn.execute(sa.select(sessions_table)).all()
    assert c.get("/api/v1/districts").status_code == 200
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sessions_table)).all() == before


# -- account changes end every session ----------------------------------------------------------

@pytest.mark.parametrize("change", ["password", "role", "disable", "remove"])
def test_an_account_change_ends_all_its_sessions(app, store, change):
    a, b = _signed_in(app, "zl"), _signed_in(app, "zl")
    other = _signed_in(app, "tn")
    assert a.get("/admin/").status_code == b.get("/admin/").status_code == 200
    if change == "password":
        accounts.set_password(store, "zl", "a brand new password", by="admin")
    elif change == "role":
        accounts.set_role(store, "zl", role="editor", scopes=["3204"], by="admin")
    elif change == "disable":
        accounts.set_disabled(store, "zl", True, by="admin")
    else:
        accounts.remove_user(store, "zl", by="admin")
    assert _is_login_redirect(a.get("/admin/")) and _is_login_redirect(b.get("/admin/"))
    assert other.get("/admin/").status_code == 200
    event = {"password": "password_changed", "role": "role_changed", "disable": "user_disabled",
             "remove": "user_removed"}[change]
    assert _events(store, event=event, user="admin") == [event]


def test_a_disabled_user_cannot_sign_in_until_enabled(app, store):
    accounts.set_disabled(store, "zl", True)
    assert sign_in(app.test_client(), "zl").status_code == 401
    accounts.set_disabled(store, "zl", False)
    assert sign_in(app.test_client(), "zl").status_code == 302


# -- throttling -----------------------------------------------------------------------------------

def _attempts(c, name, n, password="wrong password"):
    token = fresh_token(c)
    return [c.post("/login", data={"username": name, "password": password, "csrf_token": token})
            for _ in range(n)]


@pytest.mark.parametrize("name", ["zl", "nobody.here"])
def test_five_failures_lock_an_account_name_existing_or_not(app, store, name):
    c = app.test_client()
    codes = [r.status_code for r in _attempts(c, name, 7)]
    assert codes == [401] * 5 + [429, 429]
    r = _attempts(c, name, 1, password=PASSWORD)[0]
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 14 * 60
    assert "15 分钟后再试" in r.get_data(as_text=True)
    # another account from the same address still signs in
    assert sign_in(c, "tn").status_code == 302


def test_unknown_and_existing_names_get_the_same_answers(app):
    def answers(name):
        c = app.test_client()
        return [(r.status_code, sorted(k for k in r.headers.keys() if k != "Set-Cookie"),
                 r.get_data(as_text=True).replace(name, "NAME").split("csrf_token")[0])
                for r in _attempts(c, name, 7)]

    assert answers("zl") == answers("zz")


def test_the_lock_message_is_in_the_pages_language(app):
    c = app.test_client()
    c.get("/login?lang=en")
    _attempts(c, "zl", 5)
    r = _attempts(c, "zl", 1, password=PASSWORD)[0]
    assert r.status_code == 429
    assert "Please try again in 15 minutes" in r.get_data(as_text=True)


def test_the_lock_lifts_after_fifteen_minutes(app, clock):
    c = app.test_client()
    _attempts(c, "zl", 5)
    assert _attempts(c, "zl", 1, password=PASSWORD)[0].status_code == 429
    clock(minutes=16)
    assert _attempts(c, "zl", 1, password=PASSWORD)[0].status_code == 302


def test_a_new_app_over_the_same_database_remembers_the_failures(app, store, tmp_path):
    c = app.test_client()
    assert [r.status_code for r in _attempts(c, "zl", 5)] == [401] * 5
    again = create_app({"database_url": store.engine.url.render_as_string(hide_password=False),
                        "instance_path": str(tmp_path / "instance2"), "TESTING": True})
    c2 = again.test_client()
    assert _attempts(c2, "zl", 1, password=PASSWORD)[0].status_code == 429


def test_twenty_failures_from_one_address_lock_that_address(app):
    c = app.test_client()
    token = fresh_token(c)
    codes = [c.post("/login", data={"username": f"guess{i}", "password": "x", "csrf_token": token}).status_code
             for i in range(21)]
    assert codes == [401] * 20 + [429]
    assert sign_in(c, "tn").status_code == 429
    other = app.test_client()
    assert sign_in(other, "tn", ).status_code == 429  # same address (127.0.0.1): locked too


def _audit_address(app, store, environ, name="someone"):
    c = app.test_client()
    token = fresh_token(c)
    c.post("/login", data={"username": name, "password": "x", "csrf_token": token}, environ_base=environ)
    return audit.entries(store, user=name, event="login_failed")[0].address


def test_the_client_address_is_the_peers_unless_a_proxy_is_trusted(make_web_app):
    xff = {"REMOTE_ADDR": "10.0.0.5", "HTTP_X_FORWARDED_FOR": "6.6.6.6, 1.2.3.4"}
    plain = make_web_app([])
    assert _audit_address(plain, plain.extensions["stationmap"].store, xff) == "10.0.0.5"
    listed = make_web_app([], trusted_proxies="10.0.0.5")
    assert _audit_address(listed, listed.extensions["stationmap"].store, xff) == "1.2.3.4"
    other = {**xff, "REMOTE_ADDR": "10.0.0.9"}  # not a trusted proxy: its header is ignored
    assert _audit_address(listed, listed.extensions["stationmap"].store, other, "b") == "10.0.0.9"
    hops = make_web_app([], trusted_proxies="1")
    assert _audit_address(hops, hops.extensions["stationmap"].store, xff) == "1.2.3.4"


# -- the audit log in the app -----------------------------------------------------------------------

def test_sign_in_events_are_audited(app, store):
    c = app.test_client()
    _attempts(c, "zl", 1)
    sign_in(c, "zl")
    c.post("/logout", data={"csrf_token": fresh_token(c, "/admin/")})
    got = [(e.event, e.user, e.address) for e in reversed(audit.entries(store, user="zl"))]
    assert got == [("login_failed", "zl", "127.0.0.1"), ("login_ok", "zl", "127.0.0.1"),
                   ("logout", "zl", "127.0.0.1")]
    _attempts(c, "zl", 6)  # (the success cleared the earlier failure)
    assert _events(store, user="zl")[:2] == ["login_locked", "login_failed"]


def test_station_closure_reopening_and_import_are_audited(app, store):
    import io
    import re

    c = _signed_in(app, "zl")
    for action in ("close", "reopen"):
        r = c.post(f"/admin/stations/zl-1/{action}", data={"csrf_token": fresh_token(c, "/admin/"), "note": "test",
                                                           "confirm": "1"})
        assert r.status_code == 302
    data = {"file": (io.BytesIO("id,name,kinds,lon,lat,adcode\nup-1,上传,rest,119.931,31.781,320404\n".encode()),
                     "list.csv"), "datum": "auto", "csrf_token": fresh_token(c, "/admin/import")}
    html = c.post("/admin/import", data=data, content_type="multipart/form-data").get_data(as_text=True)
    token = re.search(r'action="/admin/import/([A-Za-z0-9_-]+)"', html).group(1)
    assert c.post(f"/admin/import/{token}", data={"csrf_token": csrf_token(html)}).status_code == 302
    store.delete("up-1", user="cli:test")
    got = [(e.event, e.user, e.detail) for e in audit.entries(store) if not e.event.startswith("log")]
    assert got[0] == ("station_deleted", "cli:test", "up-1 上传")
    assert got[1][:2] == ("import_confirmed", "zl") and got[1][2].startswith("list.csv: 1 new")
    assert got[2][:2] == ("station_reopened", "zl") and got[3][:2] == ("station_closed", "zl")
    assert "zl-1" in got[3][2]


def test_the_audit_page_is_for_admins_only(app, store):
    assert _is_login_redirect(app.test_client().get("/admin/audit"))
    assert _signed_in(app, "zl").get("/admin/audit").status_code == 403
    _attempts(app.test_client(), "ghost", 2)
    admin = _signed_in(app)
    html = admin.get("/admin/audit").get_data(as_text=True)
    assert "安全审计日志" in html and "ghost" in html and "登录失败" in html
    only = admin.get("/admin/audit?event=login_ok").get_data(as_text=True)
    assert "ghost" not in only and "登录成功" in only
    assert "ghost" in admin.get("/admin/audit?user=ghost").get_data(as_text=True)
    assert "ghost" not in admin.get("/admin/audit?until=2000-01-01").get_data(as_text=True)
    assert admin.get("/admin/audit?event=nope").status_code == 400
    assert admin.get("/admin/audit?since=yesterday").status_code == 400
    en = admin.get("/admin/audit?lang=en").get_data(as_text=True)
    assert "Security audit log" in en and "Sign-in failed" in en


def test_the_audit_page_is_paged(app, store):
    for i in range(60):
        audit.record(store, "login_failed", user=f"u{i:02d}")
    admin = _signed_in(app)
    first = admin.get("/admin/audit?event=login_failed").get_data(as_text=True)
    assert "u59" in first and "u00" not in first and 'rel="next"' in first
    second = admin.get("/admin/audit?event=login_failed&page=2").get_data(as_text=True)
    assert "u00" in second and "u59" not in second and 'rel="prev"' in second
