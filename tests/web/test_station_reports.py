"""The station page offers anonymous worker reports; the header signs in and out."""

from __future__ import annotations

import re
import sqlite3

import pytest

from tests.support.webforms import add_users, csrf_token, sign_in, use_fast_hasher

_FORM = re.compile(r'<form method="post" action="([^"]+)" class="report-form"[^>]*>(.*?)</form>', re.S)


@pytest.fixture
def users(app, monkeypatch):
    use_fast_hasher(monkeypatch)
    add_users(app.extensions["stationmap"].store)


def _report_rows(app, station_id):
    """The stored reports of ``station_id``, read with sqlite3 (not through the app's code)."""
    path = app.extensions["stationmap"].store.engine.url.database
    with sqlite3.connect(path) as conn:
        return [r[0] for r in conn.execute("SELECT kind FROM station_reports WHERE station_id = ?", (station_id,))]


def test_station_page_reports_panel_posts_a_report(app, client):
    html = client.get("/station/w-001").get_data(as_text=True)
    m = _FORM.search(html)
    assert m, "no report form on the station page"
    action, form = m.groups()
    assert action == "/stations/w-001/reports"
    kinds = re.findall(r'name="kind" value="([^"]+)"', form)
    assert kinds == ["open_ok", "closed_when_open", "locked", "not_found", "service_missing", "moved", "info_wrong"]
    assert "最近 30 天没有反馈。" in html
    token = csrf_token(form)
    r = client.post(action, data={"kind": "locked", "csrf_token": token})
    assert r.status_code == 302
    assert _report_rows(app, "w-001") == ["locked"]
    again = client.get("/station/w-001").get_data(as_text=True)
    assert "锁着门/进不去" in again.split('class="recent-reports"', 1)[1].split("</ul>", 1)[0]
    en = client.get("/station/w-001?lang=en").get_data(as_text=True)
    assert "Locked, cannot get in" in en and "Open and fine" in en


def test_report_from_station_page_without_token_is_refused(app, client):
    r = client.post("/stations/w-001/reports", data={"kind": "closed_when_open"})
    assert r.status_code == 400
    assert _report_rows(app, "w-001") == []


@pytest.mark.parametrize("lang, sign_in_text, admin_text, sign_out_text",
                         [("zh", "登录", "管理", "退出登录"), ("en", "Sign in", "Admin", "Sign out")])
def test_header_sign_in_admin_sign_out(app, users, lang, sign_in_text, admin_text, sign_out_text):
    c = app.test_client()
    header = c.get(f"/station/w-001?lang={lang}").get_data(as_text=True).split("</header>")[0]
    assert f'<a href="/login" class="login-link">{sign_in_text}</a>' in header
    assert "/logout" not in header and "/admin/" not in header
    assert sign_in(c, "zl").status_code == 302
    for page in ("/", "/station/w-001", "/districts"):
        header = c.get(page).get_data(as_text=True).split("</header>")[0]
        assert f'<a href="/admin/" class="admin-link">{admin_text}</a>' in header
        assert f">{sign_out_text}</button>" in header and 'action="/logout"' in header
        assert "login-link" not in header
    token = csrf_token(header)
    assert c.post("/logout", data={"csrf_token": token}).status_code == 302
    header = c.get("/districts").get_data(as_text=True).split("</header>")[0]
    assert "login-link" in header and "admin-link" not in header
    assert c.get("/admin/").status_code == 302  # signed out for real


def test_report_page_of_a_sample_station_shows_the_sample_banner(client, web_stations):
    """Issue 20: every other page said the station was sample data; its report page did not."""
    sample = next(s for s in web_stations if s.is_sample)
    real = next(s for s in web_stations if not s.is_sample)
    html = client.get(f"/stations/{sample.id}/reports").get_data(as_text=True)
    assert 'class="sample-banner"' in html and "示例数据" in html
    station_page = client.get(f"/station/{sample.id}").get_data(as_text=True)
    banner = re.search(r'<div class="sample-banner"[^>]*>.*?</div>', station_page).group(0)
    assert banner in html  # the same banner as the station's own page
    assert 'class="sample-banner"' not in client.get(f"/stations/{real.id}/reports").get_data(as_text=True)
    en = client.get(f"/stations/{sample.id}/reports?lang=en").get_data(as_text=True)
    assert 'class="sample-banner"' in en and "Sample data" in en


def test_the_same_report_sent_again_is_counted_once_and_still_received(app, client):
    page = client.get("/stations/w-001/reports").get_data(as_text=True)
    token = csrf_token(page)
    for _ in range(3):
        r = client.post("/stations/w-001/reports", data={"kind": "closed_when_open", "csrf_token": token},
                        follow_redirects=True)
        html = r.get_data(as_text=True)
        assert r.status_code == 200 and "谢谢！您的反馈已记录：该开时没开" in html  # received, every time
    assert _report_rows(app, "w-001") == ["closed_when_open"]
    # another kind from the same device, and the same kind from another device, count
    client.post("/stations/w-001/reports", data={"kind": "open_ok", "csrf_token": token})
    other = app.test_client()
    other_token = csrf_token(other.get("/stations/w-001/reports").get_data(as_text=True))
    r = other.post("/stations/w-001/reports", data={"kind": "closed_when_open", "csrf_token": other_token},
                   environ_base={"REMOTE_ADDR": "198.51.100.20"})
    assert r.status_code == 302
    assert sorted(_report_rows(app, "w-001")) == ["closed_when_open", "closed_when_open", "open_ok"]


def test_a_repeated_report_answers_json_as_received_and_not_counted(app, client):
    token = csrf_token(client.get("/stations/w-002/reports").get_data(as_text=True))
    headers = {"Accept": "application/json"}
    first = client.post("/stations/w-002/reports", data={"kind": "locked", "csrf_token": token}, headers=headers)
    again = client.post("/stations/w-002/reports", data={"kind": "locked", "csrf_token": token}, headers=headers)
    assert first.status_code == 201 and first.json["ok"] and first.json["counted"]
    assert again.status_code == 200 and again.json["ok"] and not again.json["counted"]
    assert _report_rows(app, "w-002") == ["locked"]
    path = app.extensions["stationmap"].store.engine.url.database
    with sqlite3.connect(path) as conn:  # the address is never stored, only a keyed hash of it
        (key,) = conn.execute("SELECT reporter FROM station_reports WHERE station_id = 'w-002'").fetchone()
    assert len(key) == 32 and "127.0.0.1" not in key
