"""Issue 20: every message a user can reach is in the page's language.

The test walks every error path a person can reach in Chinese (the admin's forms, sign-in, the
report page, the import upload, the coverage parameters, the finder's API answers with
``lang=zh``, the 403/404/405/413/429 pages, a failed CSRF check) and fails on a visible English
sentence (:func:`tests.support.visible.untranslated`)."""

from __future__ import annotations

import io

import pytest

from stationmap.model import Station
from tests.support.visible import english_sentences, untranslated
from tests.support.webforms import add_users, fresh_token, signed_client, use_fast_hasher

ZL = (119.93, 31.78)


@pytest.fixture(autouse=True)
def _fast_hasher(monkeypatch):
    use_fast_hasher(monkeypatch)


@pytest.fixture
def app(make_web_app):
    app = make_web_app([Station(id="zl-1", name="钟楼测试驿站", lon=ZL[0], lat=ZL[1], adcode="320404",
                                kinds=("rest",))], MAX_CONTENT_LENGTH=200_000)
    add_users(app.extensions["stationmap"].store)
    return app


def _form(**over):
    d = {"name": "新驿站", "kinds": ["rest"], "lon": str(ZL[0] + 0.001), "lat": str(ZL[1]), "datum": "wgs84",
         "adcode": "", "opening_hours": "", "status": "active", "note": ""}
    d.update(over)
    return d


#: station forms that are refused, each for another reason
BAD_FORMS = {
    "empty": {"name": "", "kinds": [], "lon": "", "lat": ""},
    "not numbers": {"lon": "东经", "lat": "abc"},
    "out of range": {"lon": "500", "lat": "100"},
    "swapped": {"lon": str(ZL[1]), "lat": str(ZL[0])},
    "outside China": {"lon": "2.35", "lat": "48.85"},
    "bad kind": {"kinds": ["pub"]},
    "bad service": {"services": ["sauna"]},
    "bad hours": {"opening_hours": "whenever we like"},
    "bad service hours": {"services": ["toilet"], "service_hours": "toilet: sometimes"},
    "hours of a service not offered": {"service_hours": "toilet: Mo-Fr 08:00-18:00"},
    "bad phone": {"phone": "call us maybe"},
    "bad status": {"status": "sleeping"},
    "bad reopening date": {"status": "temporarily_closed", "reopens_on": "next spring"},
    "bad adcode": {"adcode": "12"},
    "unknown adcode": {"adcode": "999999"},
    "adcode of another place": {"adcode": "320402"},
    "point in the sea": {"lon": "123.5", "lat": "33.5"},
    "bad datum": {"datum": "mars"},
    "out of scope": {"adcode": "320402", "lon": "120.00", "lat": "31.80"},
}


def _pages(app) -> list[tuple[str, int, str]]:
    """(what, status, html) of every error path in Chinese."""
    out = []

    def seen(what, r):
        out.append((what, r.status_code, r.get_data(as_text=True)))

    c = signed_client(app, "zl")
    c.get("/?lang=zh")
    for what, over in BAD_FORMS.items():
        seen(f"new station: {what}", c.post("/admin/stations/new", data={
            **_form(**over), "csrf_token": fresh_token(c, "/admin/")}))
        seen(f"edit station: {what}", c.post("/admin/stations/zl-1/edit", data={
            **_form(**over), "base_rev": "1", "csrf_token": fresh_token(c, "/admin/")}))
    seen("stale edit", c.post("/admin/stations/zl-1/edit", data={
        **_form(), "base_rev": "0", "csrf_token": fresh_token(c, "/admin/")}))
    seen("no such station", c.get("/admin/stations/nope/edit"))
    seen("another district's station", c.get("/admin/stations/zl-1/edit".replace("zl-1", "zl-1")))
    seen("district outside the scope", c.get("/admin/districts/320402"))
    seen("unknown district", c.get("/admin/districts/999999"))
    seen("audit log (admins only)", c.get("/admin/audit"))
    # the import upload
    for what, name, body in (
            ("no file", None, b""),
            ("unknown type", "s.txt", b"hello"),
            ("not a workbook", "s.xlsx", b"not a zip"),
            ("empty csv", "s.csv", b""),
            ("no name column", "s.csv", b"foo,bar\n1,2\n"),
            ("bad rows", "s.csv", "name,lat,lon,kind,phone,opening_hours\n驿站,abc,119.9,rest,,\n"
                                  "驿站2,31.78,119.93,pub,call me,\n驿站3,33.5,123.5,rest,,\n"
                                  "驿站4,31.78,119.93,rest,,whenever\n".encode()),
            ("too large", "s.csv", b"x" * 300_000)):
        data = {"datum": "auto", "csrf_token": fresh_token(c, "/admin/import")}
        if name:
            data["file"] = (io.BytesIO(body), name)
        seen(f"import: {what}", c.post("/admin/import", data=data, content_type="multipart/form-data"))
    seen("import: bad datum", c.post("/admin/import", data={
        "datum": "mars", "file": (io.BytesIO("name,lat,lon,kind\n驿站,31.78,119.93,rest\n".encode()), "s.csv"),
        "csrf_token": fresh_token(c, "/admin/import")}, content_type="multipart/form-data"))
    seen("import: unknown upload", c.post("/admin/import/" + "x" * 20, data={"csrf_token": fresh_token(c, "/admin/")}))
    # CSRF: no token, a token of no session, a wrong token
    seen("csrf: missing", c.post("/admin/stations/new", data=_form()))
    seen("csrf: wrong", c.post("/admin/stations/new", data={**_form(), "csrf_token": "x.y.z"}))
    other = app.test_client()
    seen("csrf: no session", other.post("/login?lang=zh", data={"username": "zl", "password": "x",
                                                                "csrf_token": "abc"}))
    # sign-in
    anon = app.test_client()
    anon.get("/?lang=zh")
    seen("sign-in: wrong password", anon.post("/login", data={
        "username": "zl", "password": "wrong", "csrf_token": fresh_token(anon)}))
    seen("sign-in: empty", anon.post("/login", data={"username": "", "password": "",
                                                      "csrf_token": fresh_token(anon)}))
    seen("sign-in needed (POST)", anon.post("/admin/stations/zl-1/verify",
                                            data={"csrf_token": fresh_token(anon)}))
    # the report page
    seen("report: unknown kind", anon.post("/stations/zl-1/reports", data={
        "kind": "ufo", "csrf_token": fresh_token(anon, "/stations/zl-1/reports")}))
    seen("report: unknown station", anon.post("/stations/nope/reports", data={
        "kind": "open_ok", "csrf_token": fresh_token(anon, "/stations/zl-1/reports")}))
    seen("reports of an unknown station", anon.get("/stations/nope/reports"))
    seen("history of an unknown station", anon.get("/stations/nope/history"))
    # the coverage page's parameters
    for q in ("minutes=abc", "minutes=100000", "mode=plane", "kind=pub", "method=guess", "grid_m=1",
              "weights=x", "at=yesterday", "profile=sometimes", "sites=-1"):
        seen(f"coverage: {q}", anon.get(f"/coverage/320404?{q}"))
    seen("coverage: unknown district", anon.get("/coverage/999999"))
    # pages: 404, 405, station pages
    seen("404", anon.get("/no/such/page"))
    seen("unknown station page", anon.get("/station/nope"))
    seen("405", anon.put("/login"))
    seen("embed: unknown district", anon.get("/embed/999999"))
    seen("embed: bad parameter", anon.get("/embed/320404?k=abc"))
    seen("finder: bad parameter", anon.get("/?lat=abc&lon=1"))
    # 429: the report limit (6 a minute)
    for _ in range(7):
        r = anon.post("/stations/zl-1/reports", data={"kind": "open_ok",
                                                       "csrf_token": fresh_token(anon, "/stations/zl-1/reports")})
    seen("429", r)
    return out


def test_every_error_page_a_person_reaches_in_chinese_is_chinese(app):
    pages = _pages(app)
    assert {s for _w, s, _h in pages} >= {400, 401, 403, 404, 405, 409, 413, 429}
    found = {}
    for what, status, html in pages:
        bad = untranslated(html)
        if bad:
            found[f"{what} ({status})"] = bad
    assert not found, found


def test_the_library_messages_are_said_in_chinese_and_stay_english_in_english(app):
    c = signed_client(app, "zl")
    c.get("/?lang=zh")
    r = c.post("/admin/stations/new", data={**_form(lat="abc", kinds=["pub"], phone="call us"),
                                           "csrf_token": fresh_token(c, "/admin/")})
    html = r.get_data(as_text=True)
    assert r.status_code == 400
    assert "纬度必须是数字，而不是 &#39;abc&#39;" in html
    assert "未知的类型 &#39;pub&#39;（可选：工会驿站、热茶点、法律援助点）" in html
    r = c.post("/admin/stations/new", data=_form())
    assert r.status_code == 400 and "缺少表单令牌" in r.get_data(as_text=True)
    c.get("/?lang=en")
    r = c.post("/admin/stations/new", data={**_form(lat="abc"), "csrf_token": fresh_token(c, "/admin/")})
    html = r.get_data(as_text=True)
    assert "lat must be a number, got &#39;abc&#39;" in html
    r = c.post("/admin/stations/new", data=_form())
    assert "The CSRF token is missing." in r.get_data(as_text=True)


def test_the_walk_fails_on_an_english_sentence():
    assert untranslated("<p>没有权限</p><p>This field is required.</p>") == ["This field is required."]
    assert untranslated("<p>表单已过期（The CSRF token is missing.）</p>") == ["The CSRF token is missing."]
    assert not untranslated("<p>数据来自 OpenStreetMap 贡献者</p><p>Mo-Fr 08:00-18:00</p>"
                            "<script>var a = 'one two three';</script><p>必须是数字，而不是 'abc def ghi'</p>")
    assert english_sentences("<p>Only in English here</p>") == ["Only in English here"]


#: the finder's and embeds' API requests, refused, each for another reason
BAD_API = ("/api/v1/nearest?lat=abc&lon=119.93", "/api/v1/nearest?lon=119.93", "/api/v1/nearest?lat=95&lon=119.93",
           "/api/v1/nearest?lat=31.78&lon=119.93&k=0", "/api/v1/nearest?lat=31.78&lon=119.93&kind=pub",
           "/api/v1/nearest?lat=31.78&lon=119.93&mode=plane", "/api/v1/nearest?lat=31.78&lon=119.93&at=later",
           "/api/v1/nearest?lat=31.78&lon=119.93&lat=31.7", "/api/v1/nearest?lat=31.78&lon=119.93&scope=12",
           "/api/v1/reach?lat=31.78&lon=119.93&minutes=-1", "/api/v1/reach?lat=31.78&lon=119.93&method=guess",
           "/api/v1/stations?bbox=1,2,3", "/api/v1/stations?bbox=3,2,1,4", "/api/v1/stations?open_now=yes",
           "/api/v1/stations?service=sauna", "/api/v1/stations?limit=x", "/api/v1/stations?district=abc",
           "/api/v1/stations?fields=colour", "/api/v1/stations?knd=rest", "/api/v1/stations/nope",
           "/api/v1/districts/boundaries?level=planet", "/api/v1/nowhere",
           # the finder's "顺路找驿站" (issue 19)
           "/api/v1/along?from_lat=31.78&from_lon=119.93&to_lat=31.8", "/api/v1/along?from_lat=95&from_lon=119.93"
           "&to_lat=31.8&to_lon=119.95", "/api/v1/along?from_lat=31.78&from_lon=119.93&to_lat=31.8&to_lon=abc",
           "/api/v1/along?from_lat=31.78&from_lon=119.93&to_lat=31.8&to_lon=119.95&max_detour=0",
           "/api/v1/along?from_lat=31.78&from_lon=119.93&to_lat=31.8&to_lon=119.95&method=network")


def test_every_api_refusal_the_finder_shows_is_chinese_with_lang_zh(app):
    """The finder and embeds show the API's display_message: with lang=zh it is Chinese (the English
    message stays for programs)."""
    c = app.test_client()
    found = {}
    for url in BAD_API:
        r = c.get(url + ("&" if "?" in url else "?") + "lang=zh")
        assert 400 <= r.status_code < 500, url
        err = r.get_json()["error"]
        assert err["lang"] == "zh" and err["message"]
        bad = untranslated(f"<p>{err['display_message']}</p>")
        if bad:
            found[url] = bad
    assert not found, found


def test_the_413_page_says_the_limit_in_the_page_language(app):
    c = signed_client(app, "zl")
    for lang, said in (("zh", "发送的内容超过了允许的大小（最大 195 KB）。"),
                       ("en", "What was sent is larger than allowed (at most 195 KB).")):
        c.get(f"/?lang={lang}")
        r = c.post("/admin/import", data={"datum": "auto", "csrf_token": fresh_token(c, "/admin/import"),
                                          "file": (io.BytesIO(b"x" * 300_000), "s.csv")},
                   content_type="multipart/form-data")
        assert r.status_code == 413 and said in r.get_data(as_text=True), lang
