"""Editing pages: sign-in, scopes, CSRF, validation, history, uploads, worker reports, headers."""

from __future__ import annotations

import io
import json
import re
from datetime import datetime
from pathlib import Path

import pytest

from stationmap import reports
from stationmap.coords import wgs84_to_bd09, wgs84_to_gcj02
from stationmap.hours import TZ
from stationmap.model import Station
from tests.support.webforms import (
    PASSWORD,
    add_users,
    csrf_token,
    fresh_token,
    sign_in,
    signed_client,
    station_form,
    use_fast_hasher,
)

ZL_POINT = (119.93, 31.78)   # in 320404 Zhonglou
TN_POINT = (120.00, 31.80)   # in 320402 Tianning


def _stations():
    return [
        Station(id="zl-1", name="钟楼测试驿站", lon=ZL_POINT[0], lat=ZL_POINT[1], adcode="320404",
                kinds=("rest",), services=("drinking_water",)),
        Station(id="zl-closed", name="钟楼已关闭驿站", lon=119.931, lat=31.781, adcode="320404",
                kinds=("rest",), status="closed"),
        Station(id="tn-1", name="天宁测试驿站", lon=TN_POINT[0], lat=TN_POINT[1], adcode="320402",
                kinds=("hot_tea",)),
    ]


@pytest.fixture(autouse=True)
def _fast_hasher(monkeypatch):
    use_fast_hasher(monkeypatch)


@pytest.fixture
def app(make_web_app):
    app = make_web_app(_stations())
    add_users(app.extensions["stationmap"].store)
    return app


_client = signed_client


def _form(**over):
    return station_form(ZL_POINT, **over)


def _edit_form(store, sid, **over):
    s = store.get(sid)
    d = _form(name=s.name, kinds=list(s.kinds), services=list(s.services), lon=f"{s.lon:.7f}", lat=f"{s.lat:.7f}",
              adcode=s.adcode, opening_hours=s.opening_hours, status=s.status, address=s.address)
    d["base_rev"] = str(store.history(sid)[0]["rev"])
    d.update(over)
    return d


# every write route: (path, form data builder).  The station written is zl-1 (320404).
WRITES = {
    "new": ("/admin/stations/new", lambda store: _form()),
    "edit": ("/admin/stations/zl-1/edit", lambda store: _edit_form(store, "zl-1", name="改过的名字")),
    "close": ("/admin/stations/zl-1/close", lambda store: {"confirm": "1"}),  # (asked and confirmed)
    "reopen": ("/admin/stations/zl-closed/reopen", lambda store: {}),
    "verify": ("/admin/stations/zl-1/verify", lambda store: {}),
}


def _effect(store, route):
    """Whether ``route`` changed what it should have changed."""
    if route == "new":
        return any(s.name == "新驿站" for s in store.all())
    if route == "edit":
        return store.get("zl-1").name == "改过的名字"
    if route == "close":
        return store.get("zl-1").status == "closed"
    if route == "reopen":
        return store.get("zl-closed").status == "active"
    if route == "verify":
        return store.get("zl-1").verified_at == datetime.now(TZ).date()
    raise AssertionError(route)


@pytest.mark.parametrize("route", sorted(WRITES))
def test_anonymous_is_refused(app, store, route):
    path, data = WRITES[route]
    c = _client(app)
    rev = store.revision()
    r = c.post(path, data={**data(store), "csrf_token": fresh_token(c)})
    assert r.status_code == 401
    assert store.revision() == rev and not _effect(store, route)


@pytest.mark.parametrize("route", sorted(WRITES))
@pytest.mark.parametrize("user", ["tn", "sz"])
def test_editor_of_another_district_gets_403(app, store, route, user):
    path, data = WRITES[route]
    c = _client(app, user)
    rev = store.revision()
    r = c.post(path, data={**data(store), "csrf_token": fresh_token(c, "/admin/")})
    assert r.status_code == 403
    assert store.revision() == rev and not _effect(store, route)


@pytest.mark.parametrize("route", sorted(WRITES))
@pytest.mark.parametrize("user", ["zl", "cz", "admin"])
def test_right_editor_succeeds_and_history_records_who(app, store, route, user):
    path, data = WRITES[route]
    c = _client(app, user)
    r = c.post(path, data={**data(store), "csrf_token": fresh_token(c, "/admin/")})
    assert r.status_code == 302, r.get_data(as_text=True)[:2000]
    assert _effect(store, route)
    last = store.changes_since(0)[-1]
    assert last["user"] == user
    # the index of this process reflects the change on the next request
    c.get("/admin/")
    index = app.extensions["stationmap"].index
    assert index.revision == store.revision()
    sid = last["station_id"]
    assert index.get(sid) == store.get(sid)


@pytest.mark.parametrize("route", sorted(WRITES))
def test_missing_csrf_gives_400(app, store, route):
    path, data = WRITES[route]
    c = _client(app, "zl")
    rev = store.revision()
    r = c.post(path, data=data(store))
    assert r.status_code == 400
    r2 = c.post(path, data={**data(store), "csrf_token": "forged"})
    assert r2.status_code == 400
    assert store.revision() == rev and not _effect(store, route)


def test_csrf_token_of_another_session_is_refused(app, store):
    other = _client(app, "zl")
    token = fresh_token(other, "/admin/")
    c = _client(app, "zl")
    r = c.post("/admin/stations/zl-1/close", data={"csrf_token": token})
    assert r.status_code == 400 and store.get("zl-1").status == "active"


def test_logout_needs_csrf_and_ends_the_session(app):
    c = _client(app, "zl")
    assert c.post("/logout").status_code == 400
    assert c.get("/admin/").status_code == 200
    r = c.post("/logout", data={"csrf_token": fresh_token(c, "/admin/")})
    assert r.status_code == 302
    r = c.get("/admin/")
    assert r.status_code == 302 and "/login" in r.headers["Location"]


def test_sign_in_wrong_password_and_open_redirect(app):
    c = app.test_client()
    r = sign_in(c, "zl", "wrong password!")
    assert r.status_code == 401 and "用户名或密码不正确" in r.get_data(as_text=True)
    token = fresh_token(c)
    r = c.post("/login", data={"username": "zl", "password": PASSWORD, "csrf_token": token,
                               "next": "https://evil.example/steal"})
    assert r.status_code == 302 and r.headers["Location"] == "/admin/"
    c2 = app.test_client()
    token = fresh_token(c2)
    r = c2.post("/login", data={"username": "zl", "password": PASSWORD, "csrf_token": token,
                                "next": "/admin/districts/320404"})
    assert r.headers["Location"] == "/admin/districts/320404"


def test_role_change_ends_sessions(app, store):
    from stationmap import accounts

    c = _client(app, "zl")
    assert c.get("/admin/districts/320404").status_code == 200
    accounts.set_role(store, "zl", role="editor", scopes=["320402"])
    r = c.get("/admin/districts/320404")
    assert r.status_code == 302 and "/login" in r.headers["Location"]  # signed out: sign in again
    sign_in(c, "zl")
    assert c.get("/admin/districts/320404").status_code == 403
    assert c.get("/admin/districts/320402").status_code == 200


def test_pages_need_sign_in_and_scope(app):
    anon = _client(app)
    for path in ("/admin/", "/admin/districts/320404", "/admin/stations/zl-1/edit", "/admin/import",
                 "/admin/stations/new"):
        r = anon.get(path)
        assert r.status_code == 302 and r.headers["Location"].startswith("/login?next=")
    tn = _client(app, "tn")
    assert tn.get("/admin/districts/320404").status_code == 403
    assert tn.get("/admin/stations/zl-1/edit").status_code == 403
    assert tn.get("/admin/districts/320402").status_code == 200
    assert tn.get("/admin/districts/abc").status_code == 400
    assert tn.get("/admin/stations/nope/edit").status_code == 404
    page = tn.get("/admin/").get_data(as_text=True)
    assert "320402" in page and "320404" not in page


# -- validation: the same as an import ---------------------------------------------------

@pytest.mark.parametrize("over,field,message", [
    ({"name": ""}, "name", "name is missing"),
    ({"kinds": []}, "kinds", "kinds is missing"),
    ({"kinds": ["spa"]}, "kinds", "unknown kind &#39;spa&#39;"),
    ({"services": ["sauna"]}, "services", "unknown service &#39;sauna&#39;"),
    ({"lon": "abc"}, "lon", "lon must be a number"),
    ({"lat": "95"}, "lat", "lat must be in [-90, 90]"),
    ({"lon": "31.78", "lat": "119.93"}, "lat", "look swapped"),
    ({"lon": "2.35", "lat": "48.85"}, "lon", "outside China"),
    ({"opening_hours": "whenever"}, "opening_hours", "not valid OpenStreetMap syntax"),
    ({"status": "sleeping"}, "status", "unknown status"),
    ({"datum": "mars"}, "datum", "datum must be one of"),
    ({"adcode": "12345"}, "adcode", "adcode must be 6 digits"),
    ({"adcode": "320505"}, "lon", "320505"),  # a Suzhou adcode for a point in Changzhou
])
def test_form_validation_errors_name_the_field(app, store, over, field, message):
    c = _client(app, "admin")
    n = store.count()
    # the library's words in an English page (tests/web/test_zh_errors.py: the same in Chinese)
    r = c.post("/admin/stations/new?lang=en", data={**_form(**over), "csrf_token": fresh_token(c, "/admin/")})
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert message in html
    assert store.count() == n


@pytest.mark.parametrize("datum,convert", [("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)])
def test_typed_coordinates_in_another_datum_are_stored_in_wgs84(app, store, datum, convert):
    from pyproj import Geod

    lon, lat = ZL_POINT[0] + 0.002, ZL_POINT[1] + 0.001
    glon, glat = convert(lon, lat)
    c = _client(app, "zl")
    r = c.post("/admin/stations/new", data={**_form(lon=f"{glon:.7f}", lat=f"{glat:.7f}", datum=datum),
                                             "csrf_token": fresh_token(c, "/admin/")})
    assert r.status_code == 302
    s = next(s for s in store.all() if s.name == "新驿站")
    d = Geod(ellps="WGS84").inv(lon, lat, s.lon, s.lat)[2]
    assert d < 0.05  # metres
    shift = Geod(ellps="WGS84").inv(glon, glat, s.lon, s.lat)[2]
    assert shift > 100  # the datum was applied, not ignored
    assert s.adcode == "320404" and s.source == "web"  # district from the point


def test_editor_cannot_move_a_station_out_of_scope(app, store):
    c = _client(app, "zl")
    form = _edit_form(store, "zl-1", lon=str(TN_POINT[0]), lat=str(TN_POINT[1]), adcode="320402")
    r = c.post("/admin/stations/zl-1/edit", data={**form, "csrf_token": fresh_token(c, "/admin/")})
    assert r.status_code == 403 and store.get("zl-1").adcode == "320404"
    form = _edit_form(store, "zl-1", lon=str(TN_POINT[0]), lat=str(TN_POINT[1]), adcode="")
    r = c.post("/admin/stations/zl-1/edit", data={**form, "csrf_token": fresh_token(c, "/admin/")})
    assert r.status_code == 403 and store.get("zl-1").lon == ZL_POINT[0]


def test_stale_edit_is_a_conflict(app, store):
    c = _client(app, "zl")
    stale = _edit_form(store, "zl-1", name="第一次")
    other = _client(app, "cz")
    r = other.post("/admin/stations/zl-1/edit", data={**_edit_form(store, "zl-1", name="别人改的"),
                                                       "csrf_token": fresh_token(other, "/admin/")})
    assert r.status_code == 302
    r = c.post("/admin/stations/zl-1/edit", data={**stale, "csrf_token": fresh_token(c, "/admin/")})
    assert r.status_code == 409 and "cz" in r.get_data(as_text=True)
    assert store.get("zl-1").name == "别人改的"


def test_history_page_shows_who_when_before_after(app, store):
    c = _client(app, "zl")
    c.post("/admin/stations/zl-1/edit", data={**_edit_form(store, "zl-1", name="新名字", phone="0519-1234"),
                                              "csrf_token": fresh_token(c, "/admin/")})
    c.post("/admin/stations/zl-1/verify", data={"csrf_token": fresh_token(c, "/admin/")})
    html = c.get("/stations/zl-1/history").get_data(as_text=True)
    assert html.count("<tr>") >= 4  # header + verify + edit + insert
    assert "钟楼测试驿站" in html and "新名字" in html and "0519-1234" in html
    assert ">zl<" in html and "verified: still correct" in html
    anon = app.test_client().get("/stations/zl-1/history").get_data(as_text=True)
    assert "新名字" in anon and ">zl<" not in anon  # editors' names only for signed-in users
    assert app.test_client().get("/stations/nope/history").status_code == 404


@pytest.mark.parametrize("lang, expect", [
    ("zh", ["<strong>类型</strong>：<del>工会驿站</del> → <ins>工会驿站、热茶点</ins>",
            "<strong>服务</strong>：<del>饮用水</del> → <ins>热水、卫生间</ins>",
            "<strong>状态</strong>：<del>正常开放</del> → <ins>暂停开放</ins>"]),
    ("en", ["<strong>Kinds</strong>：<del>Rest station</del> → <ins>Rest station, Hot-tea point</ins>",
            "<strong>Services</strong>：<del>Drinking water</del> → <ins>Hot water, Toilet</ins>",
            "<strong>Status</strong>：<del>Active</del> → <ins>Temporarily closed</ins>"]),
])
def test_history_shows_labels_not_codes_or_python_lists(app, store, lang, expect):
    """Issue 20: the history showed ``['rest']`` and ``hot_water``; it shows what the pages show."""
    from dataclasses import replace

    st = store.get("zl-1")
    store.update(replace(st, kinds=("rest", "hot_tea"), services=("hot_water", "toilet"),
                         status="temporarily_closed"), user="zl", note="kinds, services, status")
    html = app.test_client().get(f"/stations/zl-1/history?lang={lang}").get_data(as_text=True)
    changes = html.split("<tbody>", 1)[1]
    for line in expect:
        assert line in changes, changes
    for code in ("[", "&#39;rest&#39;", "hot_water", "hot_tea", "temporarily_closed", "drinking_water"):
        assert code not in changes, code
    for field in ("kinds", "services", "status"):
        assert f"<strong>{field}</strong>" not in changes


def test_history_shows_a_moved_stations_districts_by_name(app, store):
    from dataclasses import replace

    store.update(replace(store.get("zl-1"), adcode="320402"), user="cz", note="moved")
    html = app.test_client().get("/stations/zl-1/history").get_data(as_text=True)
    assert "<del>常州市 钟楼区（320404）</del> → <ins>常州市 天宁区（320402）</ins>" in html


def test_history_shows_hours_in_words(app, store):
    from dataclasses import replace

    store.update(replace(store.get("zl-1"), opening_hours="Mo-Fr 08:00-18:00", services=("legal_aid",),
                         service_hours=(("legal_aid", "Th 14:00-17:00"),)), user="zl", note="hours")
    html = app.test_client().get("/stations/zl-1/history").get_data(as_text=True)
    changes = html.split("<tbody>", 1)[1]
    assert "<ins>周一至周五 8:00–18:00</ins>" in changes and "法律援助 周四 14:00–17:00" in changes
    assert "Mo-Fr 08:00-18:00" not in changes and "Th 14:00" not in changes


def test_close_reopen_and_verify_resolve_reports(app, store):
    reports.add_report(store, "zl-1", "locked")
    c = _client(app, "zl")
    page = c.get("/admin/districts/320404").get_data(as_text=True)
    assert 'id="visits"' in page and page.index("钟楼测试驿站") < page.index("全部站点")
    c.post("/admin/stations/zl-1/verify", data={"csrf_token": fresh_token(c, "/admin/")})
    assert reports.needs_visit(store) == []
    reports.add_report(store, "zl-1", "closed_when_open")
    c.post("/admin/stations/zl-1/close", data={"csrf_token": fresh_token(c, "/admin/"), "confirm": "1"})
    assert reports.needs_visit(store) == [] and store.get("zl-1").status == "closed"
    notes = [h["note"] for h in store.history("zl-1")]
    assert notes[0] == "closed"


@pytest.mark.parametrize("phone", ["=1+1", "<script>", "abc"])
def test_form_refuses_a_phone_that_is_not_a_number_on_the_field(app, store, phone):
    c = _client(app, "admin")
    n = store.count()
    r = c.post("/admin/stations/new?lang=en", data={**_form(phone=phone), "csrf_token": fresh_token(c, "/admin/")})
    assert r.status_code == 400 and store.count() == n
    html = r.get_data(as_text=True)
    assert re.search(r'id="f-phone"[^>]*><div class="field-error" role="alert">phone must be a telephone number',
                     html)
    assert "<script>" not in html.split('id="f-phone"')[1].split("</form>")[0]
    before = store.get("zl-1")
    r = c.post("/admin/stations/zl-1/edit?lang=en", data={**_edit_form(store, "zl-1", phone=phone),
                                                   "csrf_token": fresh_token(c, "/admin/")})
    assert r.status_code == 400 and store.get("zl-1") == before
    assert 'id="f-phone"' in r.get_data(as_text=True) and "phone must be a telephone number" in r.get_data(as_text=True)


@pytest.mark.parametrize("phone", ["0519-8888 8888", "+86 (519) 8888-8888", "12345转678", "13800138000"])
def test_form_accepts_telephone_numbers(app, store, phone):
    c = _client(app, "admin")
    r = c.post("/admin/stations/zl-1/edit?lang=en", data={**_edit_form(store, "zl-1", phone=phone),
                                                   "csrf_token": fresh_token(c, "/admin/")})
    assert r.status_code == 302 and store.get("zl-1").phone == phone


# -- upload and import -----------------------------------------------------------------

CSV_OK = ("id,name,kinds,lon,lat,adcode,services\n"
          "up-1,上传驿站一,rest,119.935,31.785,320404,饮用水\n"
          "zl-1,钟楼测试驿站改,rest,119.93,31.78,320404,drinking_water\n")
CSV_BAD = ("id,name,kinds,lon,lat,adcode\n"
           "up-1,上传驿站一,rest,119.935,31.785,320404\n"
           "up-2,,rest,119.936,31.785,320404\n"
           "up-3,坏坐标,rest,abc,31.785,320404\n"
           "up-4,坏类型,spa,119.937,31.785,320404\n")
CSV_OTHER = ("id,name,kinds,lon,lat,adcode\n"
             "up-9,天宁上传,rest,120.0,31.8,320402\n")


def _upload(c, text, name="stations.csv", **extra):
    data = {"file": (io.BytesIO(text.encode("utf-8")), name), "datum": "auto",
            "csrf_token": fresh_token(c, "/admin/import"), **extra}
    return c.post("/admin/import", data=data, content_type="multipart/form-data")


def _token(html):
    m = re.search(r'action="/admin/import/([A-Za-z0-9_-]+)(?:/cancel)?"', html)
    assert m
    return m.group(1)


def test_upload_previews_then_imports_on_confirm(app, store):
    c = _client(app, "zl")
    rev = store.revision()
    r = _upload(c, CSV_OK)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert store.revision() == rev  # nothing written by the preview
    assert "上传驿站一" in html and "钟楼测试驿站改" in html and 'id="new"' in html and 'id="changed"' in html
    token = _token(html)
    r = c.post(f"/admin/import/{token}", data={"csrf_token": csrf_token(html)})
    assert r.status_code == 302
    assert store.get("up-1").name == "上传驿站一" and store.get("zl-1").name == "钟楼测试驿站改"
    assert {h["user"] for h in store.changes_since(rev)} == {"zl"}
    # the upload is gone: confirming again is a 404
    assert c.post(f"/admin/import/{token}", data={"csrf_token": csrf_token(html)}).status_code == 404


def test_upload_lists_every_invalid_row_and_writes_nothing(app, store):
    c = _client(app, "zl")
    rev = store.revision()
    r = _upload(c, CSV_BAD)
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    rows = re.findall(r"<tr><td>(\d+)</td><td>(\w*)</td>", html.split('id="problems"')[1].split("</table>")[0])
    assert {(int(a), b) for a, b in rows} >= {(3, "名称"), (4, "经度"), (5, "类型")}  # the fields' labels
    assert "确认导入" not in html  # no confirm button with invalid rows
    token = _token(html)
    r = c.post(f"/admin/import/{token}", data={"csrf_token": csrf_token(html)})
    assert r.status_code == 400 and store.revision() == rev
    # with "skip invalid rows" the valid one goes in
    r = _upload(c, CSV_BAD, skip_invalid="1")
    html = r.get_data(as_text=True)
    assert "确认导入" in html
    c.post(f"/admin/import/{_token(html)}", data={"csrf_token": csrf_token(html)})
    assert "up-1" in store.ids() and not {"up-2", "up-3", "up-4"} & store.ids()


def test_upload_refuses_a_phone_that_is_not_a_number(app, store):
    c = _client(app, "zl")
    rev = store.revision()
    text = ("id,name,kinds,lon,lat,adcode,phone\n"
            "up-1,上传驿站一,rest,119.935,31.785,320404,0519-8888 8888\n"
            "up-2,上传驿站二,rest,119.936,31.785,320404,=1+1\n"
            "up-3,上传驿站三,rest,119.937,31.785,320404,<script>\n")
    html = _upload(c, text).get_data(as_text=True)
    rows = re.findall(r"<tr><td>(\d+)</td><td>(\w*)</td>", html.split('id="problems"')[1].split("</table>")[0])
    assert {(int(a), b) for a, b in rows} == {(3, "电话"), (4, "电话")}
    assert "确认导入" not in html
    r = c.post(f"/admin/import/{_token(html)}", data={"csrf_token": csrf_token(html)})
    assert r.status_code == 400 and store.revision() == rev


def test_upload_scope(app, store):
    anon = _client(app)
    r = anon.post("/admin/import", data={"csrf_token": fresh_token(anon)})
    assert r.status_code == 401
    c = _client(app, "zl")
    r = _upload(c, CSV_OTHER)
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "320402" in html and "确认导入" not in html
    rev = store.revision()
    r = c.post(f"/admin/import/{_token(html)}", data={"csrf_token": csrf_token(html)})
    assert r.status_code == 403 and store.revision() == rev
    # another user cannot confirm zl's upload
    r = _upload(c, CSV_OK)
    token = _token(r.get_data(as_text=True))
    tn = _client(app, "tn")
    assert tn.post(f"/admin/import/{token}", data={"csrf_token": fresh_token(tn, "/admin/")}).status_code == 404
    assert c.post(f"/admin/import/{token}", data={}).status_code == 400  # no CSRF
    # an editor may not overwrite another district's station by reusing its id
    tn_csv = "id,name,kinds,lon,lat,adcode\nzl-1,抢来的,rest,120.0,31.8,320402\n"
    r = _upload(tn, tn_csv)
    assert "确认导入" not in r.get_data(as_text=True)


def test_upload_bad_file_is_a_clear_400(app):
    c = _client(app, "zl")
    r = _upload(c, "not,a\nstation,file\n", name="x.csv")
    assert r.status_code == 400 and "x.csv" in r.get_data(as_text=True)
    r = _upload(c, "whatever", name="x.pdf")
    assert r.status_code == 400


# -- worker reports ------------------------------------------------------------------------

def test_anonymous_report_needs_csrf_and_shows_up(app, store):
    c = app.test_client()
    page = c.get("/stations/zl-1/reports")
    assert page.status_code == 200
    assert c.post("/stations/zl-1/reports", data={"kind": "locked"}).status_code == 400
    r = c.post("/stations/zl-1/reports", data={"kind": "locked", "csrf_token": csrf_token(page.get_data(as_text=True))})
    assert r.status_code == 302
    assert [x.kind for x in reports.recent_reports(store, "zl-1")] == ["locked"]
    assert "锁着门/进不去" in c.get("/stations/zl-1/reports").get_data(as_text=True)
    ed = _client(app, "zl")
    assert "锁着门/进不去" in ed.get("/admin/districts/320404").get_data(as_text=True)
    bad = c.post("/stations/zl-1/reports", data={"kind": "on_fire", "csrf_token": fresh_token(c)})
    assert bad.status_code == 400
    assert c.post("/stations/nope/reports", data={"kind": "open_ok", "csrf_token": fresh_token(c)}).status_code == 404


def test_reports_are_rate_limited(app, store):
    c = app.test_client()
    token = fresh_token(c)
    # eight different reports (an identical one is counted once, but limited all the same)
    sent = [(sid, kind) for sid in ("zl-1", "tn-1") for kind in ("open_ok", "closed_when_open", "locked", "not_found")]
    codes = [c.post(f"/stations/{sid}/reports", data={"kind": kind, "csrf_token": token}).status_code
             for sid, kind in sent]
    assert codes[:6] == [302] * 6 and codes[6:] == [429, 429]
    assert len(reports.recent_reports(store, "zl-1")) + len(reports.recent_reports(store, "tn-1")) == 6


def test_sign_in_is_rate_limited(app):
    c = app.test_client()
    token = fresh_token(c)
    codes = [c.post("/login", data={"username": "zl", "password": f"wrong {i}", "csrf_token": token}).status_code
             for i in range(7)]
    assert codes[:5] == [401] * 5 and codes[5:] == [429, 429]
    # even the right password is refused while limited: the limit is per user name
    r = c.post("/login", data={"username": "zl", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 429
    # another name from the same address still works (per-address limit is higher)
    r = c.post("/login", data={"username": "tn", "password": PASSWORD, "csrf_token": token})
    assert r.status_code == 302


# -- cookies and framing ------------------------------------------------------------------------

def _session_cookie(resp):
    return next(h for h in resp.headers.getlist("Set-Cookie") if h.startswith("session="))


@pytest.mark.parametrize("config,secure", [
    ({"TESTING": True}, False),                 # auto + testing: off
    ({"TESTING": False}, True),                 # auto, not debugging or testing: on
    ({"TESTING": True, "secure_cookies": "1"}, True),
    ({"TESTING": False, "secure_cookies": "0"}, False),
])
def test_session_cookie_flags(make_web_app, config, secure):
    app = make_web_app(_stations(), **config)
    add_users(app.extensions["stationmap"].store)
    c = app.test_client()
    r = sign_in(c, "zl")
    cookie = _session_cookie(r)
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert ("Secure" in cookie) == secure


@pytest.mark.parametrize("path", ["/", "/login", "/admin/", "/stations/zl-1/history", "/api/v1/districts",
                                  "/embed", "/no-such-page"])
def test_every_other_page_refuses_framing(app, path):
    r = app.test_client().get(path)
    assert r.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]


def test_password_never_in_a_page_or_log(app, caplog):
    c = app.test_client()
    r = sign_in(c, "zl", "secret wrong pw")
    assert "secret wrong pw" not in r.get_data(as_text=True)
    assert "secret wrong pw" not in caplog.text
    assert json.dumps(PASSWORD) not in caplog.text


@pytest.mark.parametrize("ext,datum", [("geojson", "gcj02"), ("gpkg", "wgs84"), ("xlsx", "bd09"), ("csv", "gcj02")])
def test_upload_every_format_and_datum(app, store, tmp_path, ext, datum):
    """A file written by the exporter in a datum comes back in WGS-84 through the upload form."""
    from pyproj import Geod

    from stationmap.io.writers import write_stations

    new = [Station(id=f"f-{i}", name=f"格式测试{i}", lon=119.92 + i * 0.003, lat=31.78, adcode="320404",
                   kinds=("rest",), services=("toilet",)) for i in range(3)]
    path = tmp_path / f"up.{ext}"
    write_stations(new, path, datum=datum)
    c = _client(app, "zl")
    form = {"file": (io.BytesIO(path.read_bytes()), path.name), "csrf_token": fresh_token(c, "/admin/import"),
            "datum": "auto"}
    r = c.post("/admin/import", data=form, content_type="multipart/form-data")
    html = r.get_data(as_text=True)
    assert r.status_code == 200, html[-2000:]
    assert "确认导入" in html
    r = c.post(f"/admin/import/{_token(html)}", data={"csrf_token": csrf_token(html)})
    assert r.status_code == 302
    geod = Geod(ellps="WGS84")
    for s in new:
        got = store.get(s.id)
        assert geod.inv(s.lon, s.lat, got.lon, got.lat)[2] < 0.05


def test_pending_uploads_are_readable_by_their_owner_only(app):
    """Issue 22: the uploaded file and its metadata are 0600 in a 0700 folder, whatever the umask."""
    import os
    import stat
    from pathlib import Path

    old = os.umask(0o022)
    try:
        c = _client(app, "zl")
        token = _token(_upload(c, CSV_OK).get_data(as_text=True))
    finally:
        os.umask(old)
    folder = Path(app.extensions["stationmap"].settings.instance_path) / "uploads"
    files = sorted(folder.glob(f"{token}.*"))
    assert len(files) == 2  # the file and its .meta
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    assert {stat.S_IMODE(f.stat().st_mode) for f in files} == {0o600}


def test_create_app_makes_the_secret_key_private_and_tightens_the_folder(tmp_path):
    """Issue 22: the secret key is 0600; a folder an older release left 0755 is narrowed at start."""
    import os
    import stat

    from stationmap.web import create_app

    def _mode(p):
        return stat.S_IMODE(os.stat(p).st_mode)

    inst = tmp_path / "instance"
    inst.mkdir(mode=0o755)
    os.chmod(inst, 0o755)
    (inst / "old.sqlite").write_text("")
    os.chmod(inst / "old.sqlite", 0o644)
    create_app({"TESTING": True, "instance_path": str(inst), "database_url": f"sqlite:///{inst}/s.sqlite"})
    assert _mode(inst) == 0o700
    assert _mode(inst / "secret_key") == 0o600 and _mode(inst / "old.sqlite") == 0o600


@pytest.mark.parametrize("lang, words", [("zh", "文件太大"), ("en", "The file is too large")])
def test_an_xlsx_bomb_upload_is_refused_quickly_in_the_page_language(app, lang, words):
    """Issue 22: a 1.5 MB workbook that unpacks to 3 million rows gets a 413 page, not a dead worker."""
    import time

    from tests.support.bombs import xlsx_bomb

    c = _client(app, "zl")
    data = {"file": (io.BytesIO(xlsx_bomb(3_000_000)), "bomb.xlsx"), "datum": "auto",
            "csrf_token": fresh_token(c, "/admin/import")}
    t = time.perf_counter()
    r = c.post(f"/admin/import?lang={lang}", data=data, content_type="multipart/form-data")
    assert time.perf_counter() - t < 2.0
    html = r.get_data(as_text=True)
    assert r.status_code == 413 and words in html and "stationmap import" in html
    assert "Internal Server Error" not in html
    folder = Path(app.extensions["stationmap"].settings.instance_path) / "uploads"
    assert list(folder.glob("*")) == []  # nothing pending is left behind


# -- closing asks first (issue 20) ---------------------------------------------------

@pytest.mark.parametrize("lang, question, leaves, kept", [
    ("zh", "确定要关闭「钟楼测试驿站」吗？", "从公开地图", "修改历史会保留"),
    ("en", "Close “钟楼测试驿站”?", "leaves the public map", "history keeps it"),
])
def test_closing_asks_once_saying_what_it_changes(app, store, lang, question, leaves, kept):
    c = _client(app, "zl")
    rev = store.revision()
    # the district page's button only opens the question
    district = c.get(f"/admin/districts/320404?lang={lang}").get_data(as_text=True)
    assert 'method="post" action="/admin/stations/zl-1/close"' not in district
    assert 'method="get" action="/admin/stations/zl-1/close"' in district
    for r in (c.get("/admin/stations/zl-1/close"),  # ... and a POST without the confirmation changes nothing
              c.post("/admin/stations/zl-1/close", data={"csrf_token": fresh_token(c, "/admin/"), "note": "拆除"})):
        html = r.get_data(as_text=True)
        assert r.status_code == 200 and question in html and leaves in html and kept in html
        assert 'name="confirm" value="1"' in html and 'href="/admin/districts/320404"' in html  # confirm or cancel
        assert store.revision() == rev and store.get("zl-1").status == "active"
    assert 'value="拆除"' in html  # the note typed before is kept
    r = c.post("/admin/stations/zl-1/close", data={"csrf_token": csrf_token(html), "confirm": "1", "note": "拆除",
                                                   "back": "/admin/districts/320404"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/admin/districts/320404")
    assert store.get("zl-1").status == "closed" and store.history("zl-1")[0]["note"] == "拆除"
    history = c.get("/stations/zl-1/history").get_data(as_text=True)
    assert "钟楼测试驿站" in history  # the history keeps it


def test_the_close_question_is_for_editors_of_the_station_only(app, store):
    assert _client(app, "tn").get("/admin/stations/zl-1/close").status_code == 403
    assert _client(app).get("/admin/stations/zl-1/close").status_code == 302  # to sign in
    assert _client(app, "zl").get("/admin/stations/nope/close").status_code == 404


def test_reopening_is_not_asked(app, store):
    c = _client(app, "zl")
    r = c.post("/admin/stations/zl-closed/reopen", data={"csrf_token": fresh_token(c, "/admin/")})
    assert r.status_code == 302 and store.get("zl-closed").status == "active"


def test_closing_through_the_edit_form_asks_too(app, store):
    c = _client(app, "zl")
    form = _edit_form(store, "zl-1", status="closed", note="暂停使用")
    r = c.post("/admin/stations/zl-1/edit", data={**form, "csrf_token": fresh_token(c, "/admin/")})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and "确定要关闭「钟楼测试驿站」吗？" in html and "从公开地图" in html
    assert 'name="confirm_close" value="1"' in html and 'value="暂停使用"' in html  # the form as typed
    assert store.get("zl-1").status == "active"
    r = c.post("/admin/stations/zl-1/edit", data={**form, "confirm_close": "1", "csrf_token": csrf_token(html)})
    assert r.status_code == 302 and store.get("zl-1").status == "closed"


# -- a station outside the editor's districts: the form is kept (issue 20) ----------------

@pytest.mark.parametrize("lang, said", [("zh", "不在您可编辑的区县（常州市 钟楼区）内"),
                                        ("en", "outside the districts you may edit (常州市 钟楼区)")])
def test_out_of_scope_create_keeps_the_form_with_the_problem_on_the_district(app, store, lang, said):
    c = _client(app, "zl")
    rev = store.revision()
    form = _form(name="天宁新驿站", lon=str(TN_POINT[0]), lat=str(TN_POINT[1]), address="天宁路8号",
                 phone="0519-8888 8888", services=["toilet", "wifi"], opening_hours="Mo-Su 07:00-22:00",
                 note="新建")
    r = c.post(f"/admin/stations/new?lang={lang}", data={**form, "csrf_token": fresh_token(c, "/admin/")})
    html = r.get_data(as_text=True)
    assert r.status_code == 403 and store.revision() == rev
    assert 'class="station-form"' in html  # the form, not an error page
    for typed in ('value="天宁新驿站"', 'value="天宁路8号"', 'value="0519-8888 8888"', 'value="Mo-Su 07:00-22:00"',
                  f'value="{TN_POINT[0]}"', f'value="{TN_POINT[1]}"', 'value="新建"',
                  'name="services" value="toilet" checked', 'name="services" value="wifi" checked'):
        assert typed in html, typed
    # the problem is named on the district field, saying where the point is and what the user may edit
    after_adcode = html.split('<select id="f-adcode" name="adcode">', 1)[1].split("</fieldset>", 1)[0]
    error = re.search(r'<div class="field-error" role="alert">(.*?)</div>', after_adcode).group(1)
    assert "天宁区" in error and "320402" in error and said in error
    listed = html.split('class="problems"', 1)[1].split("</div>")[0]
    assert ("<li>行政区划代码：" if lang == "zh" else "<li>District code: ") in listed, listed


def test_moving_a_station_out_of_scope_keeps_the_edit_form(app, store):
    c = _client(app, "zl")
    form = _edit_form(store, "zl-1", name="搬走的驿站", lon=str(TN_POINT[0]), lat=str(TN_POINT[1]), adcode="")
    r = c.post("/admin/stations/zl-1/edit", data={**form, "csrf_token": fresh_token(c, "/admin/")})
    html = r.get_data(as_text=True)
    assert r.status_code == 403 and 'value="搬走的驿站"' in html and "天宁区" in html
    assert store.get("zl-1").name == "钟楼测试驿站"


# -- the 403 and rate-limit pages speak the page's language (issue 20) -----------------------

_CJK = re.compile(r"[\u3400-\u9fff]")
_WORD = re.compile(r"[A-Za-z]{2,}")


def _main_text(html: str) -> str:
    """The visible text of the page's <main> and its <title>."""
    main = html.split("<main>", 1)[1].split("</main>", 1)[0]
    title = re.search(r"<title>(.*?)</title>", html, re.S).group(1)
    return re.sub(r"<[^>]+>", " ", title + " " + main)


def _in_language(text: str, lang: str, *, names=()) -> None:
    """zh: not one English word; en: no Chinese but the proper ``names`` (districts, stations)."""
    for name in names:
        text = text.replace(name, "")
    if lang == "zh":
        assert not _WORD.findall(text), text
    else:
        assert not _CJK.search(text), text


def _403_pages(app, store, lang):
    """Every way to a 403 page: a district, a station, the close question and the audit log of
    another's, and an import with rows outside the user's districts."""
    tn = _client(app, "tn")
    yield tn.get(f"/admin/stations/zl-1/edit?lang={lang}"), ("常州市 钟楼区", "常州市 天宁区")
    yield tn.get(f"/admin/districts/320404?lang={lang}"), ("常州市 钟楼区", "常州市 天宁区")
    yield tn.get(f"/admin/stations/zl-1/close?lang={lang}"), ("常州市 钟楼区", "常州市 天宁区")
    yield tn.get(f"/admin/audit?lang={lang}"), ()
    data = {"file": (io.BytesIO("id,name,kinds,lon,lat,adcode\nzz-1,外区,rest,119.931,31.781,320404\n".encode()),
                     "list.csv"), "datum": "auto", "csrf_token": fresh_token(tn, "/admin/import")}
    html = tn.post("/admin/import", data=data, content_type="multipart/form-data").get_data(as_text=True)
    # the preview offers no import (its cancel form names the upload): confirming it anyway is refused
    token = re.search(r'action="/admin/import/([A-Za-z0-9_-]+)/cancel"', html).group(1)
    yield tn.post(f"/admin/import/{token}?lang={lang}", data={"csrf_token": csrf_token(html)}), ()


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_403_pages_are_in_the_pages_language(app, store, lang):
    said = {"zh": ("没有权限", "您的账号不能编辑常州市 钟楼区（320404）的站点；您可以编辑：常州市 天宁区。"),
            "en": ("Not allowed", "Your account may not edit the stations of 常州市 钟楼区 (320404); "
                                  "you may edit: 常州市 天宁区.")}[lang]
    pages = list(_403_pages(app, store, lang))
    for r, names in pages:
        html = r.get_data(as_text=True)
        assert r.status_code == 403, html
        assert f"<h1>403 {said[0]}</h1>" in html
        _in_language(_main_text(html), lang, names=names)
    assert said[1] in pages[0][0].get_data(as_text=True)
    assert ("只有管理员" if lang == "zh" else "Only an administrator") in pages[3][0].get_data(as_text=True)
    assert ("1 行不在您可编辑的区县内" if lang == "zh" else "1 rows are outside") in pages[4][0].get_data(as_text=True)
    assert "zz-1" not in store.ids()


@pytest.mark.parametrize("lang, limit", [("zh", "每分钟 6 次"), ("en", "6 per minute")])
def test_the_rate_limit_page_is_in_the_pages_language(app, lang, limit):
    c = app.test_client()
    token = fresh_token(c)
    sent = [("zl-1", k) for k in ("open_ok", "closed_when_open", "locked", "not_found")] + [("tn-1", "open_ok"),
                                                                                        ("tn-1", "closed_when_open")]
    assert [c.post(f"/stations/{sid}/reports", data={"kind": k, "csrf_token": token}).status_code
            for sid, k in sent] == [302] * 6
    r = c.post(f"/stations/tn-1/reports?lang={lang}", data={"kind": "locked", "csrf_token": token})
    html = r.get_data(as_text=True)
    assert r.status_code == 429 and limit in html and "per 1 minute" not in html
    assert ("请求太频繁" if lang == "zh" else "Too many requests") in html
    _in_language(_main_text(html), lang)


def test_a_moved_station_takes_the_district_of_its_new_point(app, store):
    """Issue 20: an edit that moves a station places it by its point, as every write path does."""
    c = _client(app, "cz")  # editor of every Changzhou district
    form = _edit_form(store, "zl-1", lon=str(TN_POINT[0]), lat=str(TN_POINT[1]))  # district left as it was
    assert form["adcode"] == "320404"
    r = c.post("/admin/stations/zl-1/edit", data={**form, "csrf_token": fresh_token(c, "/admin/")})
    assert r.status_code == 302 and store.get("zl-1").adcode == "320402"
    # a district chosen that the point is not in: the form again, the problem on the district, naming both
    form = _edit_form(store, "tn-1", adcode="320411")
    r = c.post("/admin/stations/tn-1/edit", data={**form, "csrf_token": fresh_token(c, "/admin/")})
    html = r.get_data(as_text=True)
    assert r.status_code == 400 and store.get("tn-1").adcode == "320402"
    assert "该位置在常州市 天宁区（320402），不在所选区县常州市 新北区（320411）内" in html


# -- the picker's paste box: typed coordinates and share links, read on the server (issue 20) --

def test_point_text_reads_a_share_link_and_says_what_it_understood(app):
    from stationmap.coords import from_wgs84, gcj02_to_wgs84

    c = _client(app, "zl")
    r = c.get("/admin/point", query_string={"text": "https://uri.amap.com/marker?position=119.94,31.775&name=x",
                                            "datum": "bd09"})
    assert r.status_code == 200
    d = r.get_json()
    lon, lat = gcj02_to_wgs84(119.94, 31.775)
    assert (d["lon"], d["lat"]) == (round(lon, 7), round(lat, 7))
    assert (d["datum"], d["source"], d["order"], d["given"]) == ("gcj02", "amap", "lonlat", [119.94, 31.775])
    assert d["points"]["gcj02"] == pytest.approx([119.94, 31.775], abs=1e-7)
    assert d["points"]["bd09"] == pytest.approx(list(from_wgs84(lon, lat, "bd09")), abs=1e-7)
    assert d["words"] == (f"理解为 WGS-84 纬度 {lat:.7f}，经度 {lon:.7f}（高德分享链接：GCJ-02（高德、腾讯、微信），"
                          "经度在前 119.94, 31.775）")
    # plain numbers take the chosen datum; in English the words are English
    r = c.get("/admin/point", query_string={"text": "31.775, 119.94", "datum": "wgs84", "lang": "en"})
    d = r.get_json()
    assert (d["lon"], d["lat"], d["order"], d["datum"]) == (119.94, 31.775, "latlon", "wgs84")
    assert d["words"].startswith("Understood as WGS-84 latitude 31.7750000, longitude 119.9400000 (typed coordinates: "
                                 "WGS-84") and "latitude first 31.775, 119.94" in d["words"]


@pytest.mark.parametrize(("text", "datum", "field", "words"), [
    ("", "wgs84", "text", "请输入或粘贴坐标"),
    ("31.775", "wgs84", "text", "没有找到两个数字"),
    ("33.5, 170.5", "wgs84", "text", "不是中国境内的位置（经度 73–136，纬度 3–54）"),
    ("https://surl.amap.com/abc123", "wgs84", "text", "短链接要联网才能打开"),
    ("https://api.map.baidu.com/marker?location=3480000,13430000&coord_type=bd09mc", "wgs84", "text", "墨卡托"),
    ("31.775, 119.94", "mars", "datum", "请选择坐标系"),
])
def test_point_text_refuses_bad_text_with_a_message_in_the_page_language(app, text, datum, field, words):
    r = _client(app, "zl").get("/admin/point", query_string={"text": text, "datum": datum})
    assert r.status_code == 400
    err = r.get_json()["error"]
    assert err["field"] == field and words in err["message"]


def test_point_text_needs_a_signed_in_editor(app):
    r = app.test_client().get("/admin/point", query_string={"text": "31.775, 119.94"})
    assert r.status_code in (302, 401)
