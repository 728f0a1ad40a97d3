"""Hours as editors type them and hours in words on the pages (issue 20): the admin form shows
what it understood before saving, an uploaded row is stored normalised, the station page says
the hours in words and keeps the station's status apart from whether it is open now."""

from __future__ import annotations

import io
import re
from datetime import datetime

import pytest

from stationmap.hours import TZ
from stationmap.model import Station
from tests.support.webforms import add_users, csrf_token, fresh_token, signed_client, station_form, use_fast_hasher

ZL_POINT = (119.93, 31.78)   # in 320404 Zhonglou


def _stations():
    return [
        Station(id="zl-1", name="钟楼测试驿站", lon=ZL_POINT[0], lat=ZL_POINT[1], adcode="320404",
                kinds=("rest",), services=("drinking_water", "legal_aid"), opening_hours="Mo-Fr 08:00-18:00"),
        Station(id="season", name="冬季热茶点", lon=119.931, lat=31.781, adcode="320404", kinds=("hot_tea",),
                services=("hot_water", "legal_aid"), opening_hours="Nov-Mar 07:00-19:00",
                service_hours=(("legal_aid", "Mo[1] 09:00-12:00"),)),
        Station(id="moon", name="日出驿站", lon=119.932, lat=31.782, adcode="320404", kinds=("rest",),
                opening_hours="sunrise-sunset"),
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
    return station_form(ZL_POINT, **{"services": ["toilet", "legal_aid"], **over})


def _field(html: str, name: str) -> str:
    m = re.search(rf'name="{name}" value="([^"]*)"', html) or re.search(
        rf'name="{name}"[^>]*>([^<]*)</textarea>', html)
    assert m, name
    return m.group(1)


# -- the admin form ----------------------------------------------------------------------

def test_the_form_shows_the_hours_as_understood_and_a_second_save_stores_them(app, store):
    c = _client(app, "zl")
    n = store.count()
    r = c.post("/admin/stations/new", data={**_form(opening_hours="周一至周五 9:00-17:00"),
                                             "csrf_token": fresh_token(c, "/admin/")})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and store.count() == n  # nothing saved yet
    assert "理解为：周一至周五 9:00–17:00（Mo-Fr 09:00-17:00）" in html
    assert _field(html, "opening_hours") == "Mo-Fr 09:00-17:00" and "确认并保存" in html
    # the second submit (the form as shown) saves
    r = c.post("/admin/stations/new", data={**_form(opening_hours=_field(html, "opening_hours")),
                                             "csrf_token": csrf_token(html)})
    assert r.status_code == 302 and store.count() == n + 1
    s = next(s for s in store.all() if s.name == "新驿站")
    assert s.opening_hours == "Mo-Fr 09:00-17:00"
    # OSM typed as stored is saved at once
    r = c.post("/admin/stations/new", data={**_form(name="又一驿站", opening_hours="Mo-Fr 08:00-18:00"),
                                             "csrf_token": fresh_token(c, "/admin/")})
    assert r.status_code == 302 and store.count() == n + 2


def test_the_form_says_in_english_what_it_understood(app, store):
    c = _client(app, "zl")
    r = c.post("/admin/stations/new?lang=en", data={**_form(opening_hours="每天 8:00-20:00"),
                                                     "csrf_token": fresh_token(c, "/admin/")})
    html = r.get_data(as_text=True)
    assert r.status_code == 200
    assert "understood as: Daily 8:00–20:00 (08:00-20:00)" in html and "Confirm and save" in html


def test_service_hours_typed_in_chinese_are_understood_then_saved(app, store):
    c = _client(app, "zl")
    s = store.get("zl-1")
    base = {**_form(name=s.name, kinds=list(s.kinds), services=list(s.services), lon=f"{s.lon:.7f}",
                    lat=f"{s.lat:.7f}", adcode=s.adcode, opening_hours=s.opening_hours),
            "base_rev": str(store.history("zl-1")[0]["rev"])}
    r = c.post("/admin/stations/zl-1/edit", data={**base, "service_hours": "法律援助=周四 14:00-17:00",
                                                   "csrf_token": fresh_token(c, "/admin/")})
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and store.get("zl-1").service_hours == ()
    assert "法律援助：理解为：周四 14:00–17:00（Th 14:00-17:00）" in html
    assert _field(html, "service_hours") == "legal_aid=Th 14:00-17:00"
    r = c.post("/admin/stations/zl-1/edit", data={**base, "service_hours": _field(html, "service_hours"),
                                                   "csrf_token": csrf_token(html)})
    assert r.status_code == 302
    assert store.get("zl-1").service_hours == (("legal_aid", "Th 14:00-17:00"),)


def test_hours_not_understood_are_refused_naming_the_part(app, store):
    c = _client(app, "zl")
    n = store.count()
    r = c.post("/admin/stations/new", data={**_form(opening_hours="周一至周五 看情况"),
                                             "csrf_token": fresh_token(c, "/admin/")})
    assert r.status_code == 400 and store.count() == n
    assert "not understood: &#39;看情况&#39;" in r.get_data(as_text=True)


# -- an upload ---------------------------------------------------------------------------

def test_an_uploaded_row_with_chinese_hours_is_stored_normalised(app, store):
    c = _client(app, "zl")
    text = ("id,name,lon,lat,kinds,adcode,opening_hours\n"
            f"up-9,上传驿站,{ZL_POINT[0] + 0.002},{ZL_POINT[1]},rest,320404,每天 8:00-20:00\n")
    data = {"file": (io.BytesIO(text.encode("utf-8")), "s.csv"), "datum": "auto",
            "csrf_token": fresh_token(c, "/admin/import")}
    r = c.post("/admin/import", data=data, content_type="multipart/form-data")
    html = r.get_data(as_text=True)
    assert r.status_code == 200, html
    token = re.search(r'action="/admin/import/([A-Za-z0-9_-]+)(?:/cancel)?"', html).group(1)
    r = c.post(f"/admin/import/{token}", data={"csrf_token": csrf_token(html)})
    assert r.status_code == 302
    assert store.get("up-9").opening_hours == "08:00-20:00"


# -- the station page --------------------------------------------------------------------

def _dd(html: str, cls: str) -> str:
    m = re.search(rf'<dd class="{cls}"[^>]*>(.*?)</dd>', html, re.S)
    assert m, cls
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", m.group(1))).strip()


@pytest.mark.parametrize("sid, lang, words", [
    ("zl-1", "zh", "周一至周五 8:00–18:00"),
    ("zl-1", "en", "Mon–Fri 8:00–18:00"),
    ("season", "zh", "11月–3月 每天 7:00–19:00"),
    ("season", "en", "Nov–Mar daily 7:00–19:00"),
    ("moon", "zh", "sunrise-sunset"),  # beyond the words: the OSM text
])
def test_the_station_page_says_the_hours_in_words(app, sid, lang, words):
    html = _client(app).get(f"/station/{sid}?lang={lang}").get_data(as_text=True)
    assert _dd(html, "hours") == words
    if sid != "moon":
        assert "<code" not in html.split('class="hours"')[1].split("</dd>")[0]


def test_service_hours_in_words_on_the_station_page(app):
    html = _client(app).get("/station/season").get_data(as_text=True)
    assert "法律援助：" in html and "每月第一个周一 9:00–12:00" in html
    en = _client(app).get("/station/season?lang=en").get_data(as_text=True)
    assert "First Monday of the month 9:00–12:00" in en


def test_status_and_open_now_are_said_apart(app, monkeypatch):
    """正常开放 is the station's status; 未营业 (and when it opens) is now: two lines, not 正常开放 · 未营业."""
    from stationmap.web import pages

    saturday = datetime(2026, 12, 12, 10, 0, tzinfo=TZ)

    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):
            return saturday

    monkeypatch.setattr(pages, "datetime", Clock)
    html = _client(app).get("/station/zl-1").get_data(as_text=True)
    assert _dd(html, "status") == "正常开放"
    now = _dd(html, "now")
    assert now.startswith("未营业") and "12月14日 08:00 开门" in now
    assert "现在" in html and "正常开放 ·" not in html
    en = _client(app).get("/station/zl-1?lang=en").get_data(as_text=True)
    assert _dd(en, "status") == "Active" and _dd(en, "now").startswith("Closed")
