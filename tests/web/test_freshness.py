"""Freshness (issue 18): when and how each station was last confirmed, on the station page, in
the finder's API answers and the district page; per-district figures in /api/v1/districts
checked against a brute-force count over the stored check-ins."""

from __future__ import annotations

import random
import sqlite3
from datetime import date, datetime, timedelta, timezone

import pytest

from stationmap import reports
from stationmap.hours import TZ
from stationmap.model import Station
from tests.support.webforms import add_users, signed_client, use_fast_hasher

ZL = (119.93, 31.78)     # 320404 Zhonglou
TN = (120.00, 31.80)     # 320402 Tianning


@pytest.fixture(autouse=True)
def _fast_hasher(monkeypatch):
    use_fast_hasher(monkeypatch)


def _today() -> date:
    return datetime.now(TZ).date()


def _stations(rng: random.Random) -> list[Station]:
    out = []
    for i in range(40):
        adcode, (lon, lat) = ("320404", ZL) if i % 2 else ("320402", TN)
        verified = None if rng.random() < 0.3 else _today() - timedelta(days=rng.randrange(0, 400))
        status = "closed" if rng.random() < 0.1 else "active"
        out.append(Station(id=f"s-{i:02d}", name=f"站点{i}", lon=lon + i * 1e-4, lat=lat, adcode=adcode,
                           kinds=("rest",), verified_at=verified, status=status))
    return out


@pytest.fixture
def app(make_web_app):
    rng = random.Random(18)
    app = make_web_app(_stations(rng))
    store = app.extensions["stationmap"].store
    add_users(store)
    now = datetime.now(timezone.utc)
    kinds = list(reports.REPORT_KINDS)
    for sid in sorted(store.ids()):
        for _ in range(rng.randrange(0, 4)):
            kind = rng.choice(kinds + ["open_ok"] * 3)
            if kind in ("moved", "service_missing", "info_wrong"):
                kind = "locked"
            r = reports.add_report(store, sid, kind, at=now - timedelta(days=rng.uniform(0, 300)))
            if r.is_problem and rng.random() < 0.4:
                reports.resolve_report(store, r.id, user="test", resolution="fixed")
    return app


def _brute_force(app) -> dict:
    """Per district: the figures counted from the stored rows with plain sqlite3 and Python."""
    path = app.extensions["stationmap"].store.engine.url.database
    today = _today()
    with sqlite3.connect(path) as conn:
        stations = conn.execute("SELECT id, adcode, status, verified_at FROM stations").fetchall()
        checkins = conn.execute("SELECT station_id, kind, at, resolved_at FROM station_reports").fetchall()
    out: dict = {}
    for sid, adcode, status, verified in stations:
        d = out.setdefault(adcode, {"stations": 0, "within": {30: 0, 90: 0, 180: 0}, "never": 0, "open": 0})
        mine = [c for c in checkins if c[0] == sid]
        d["open"] += sum(1 for c in mine if c[1] != "open_ok" and c[3] is None)
        if status == "closed":
            continue
        d["stations"] += 1
        days = [datetime.fromisoformat(c[2]).replace(tzinfo=timezone.utc).astimezone(TZ).date() for c in mine
                if c[1] == "open_ok"]
        if verified:
            days.append(date.fromisoformat(verified))
        if not days:
            d["never"] += 1
            continue
        age = (today - max(days)).days
        for w in (30, 90, 180):
            d["within"][w] += age <= w
    return out


def test_district_figures_equal_a_brute_force_count(app):
    body = app.test_client().get("/api/v1/districts").json
    assert body["stale_days"] == 180
    want = _brute_force(app)
    got = {r["adcode"]: r["freshness"] for r in body["districts"]}
    assert set(got) == set(want) == {"320402", "320404"}
    for code, w in want.items():
        g = got[code]
        assert (g["stations"], g["never_confirmed"], g["open_problems"]) == (w["stations"], w["never"], w["open"])
        for days in (30, 90, 180):
            assert g["confirmed_within"][str(days)] == round(w["within"][days] / w["stations"], 4)
    assert sum(w["open"] for w in want.values()) > 0 and any(g["confirmed_within"]["30"] for g in got.values())


def test_station_api_page_and_nearest_say_how_fresh(make_web_app):
    today = _today()
    app = make_web_app([Station(id="zl-1", name="钟楼驿站", lon=ZL[0], lat=ZL[1], adcode="320404", kinds=("rest",),
                                verified_at=today - timedelta(days=65)),
                        Station(id="zl-2", name="钟楼二站", lon=ZL[0] + 0.002, lat=ZL[1], adcode="320404",
                                kinds=("rest",))])
    c = app.test_client()
    fr = c.get("/api/v1/stations/zl-1").json["properties"]["freshness"]
    assert fr["by"] == "district" and fr["age_days"] == 65 and fr["open_problems"] == 0
    assert fr["text"] == {"zh": "2 个月前区工会核实", "en": "verified by the district 2 months ago"}
    page = c.get("/station/zl-1").get_data(as_text=True)
    assert "2 个月前区工会核实" in page and 'class="freshness"' in page
    en = app.test_client()  # (the language sticks to the session)
    assert "verified by the district 2 months ago" in en.get("/station/zl-1?lang=en").get_data(as_text=True)
    # a worker confirms it three days ago, another finds it locked: the check-in is the later, the problem shows
    store = app.extensions["stationmap"].store
    reports.add_report(store, "zl-1", "open_ok", at=datetime.now(timezone.utc) - timedelta(days=3))
    reports.add_report(store, "zl-1", "locked")
    fr = c.get("/api/v1/stations/zl-1").json["properties"]["freshness"]
    assert fr["text"]["zh"] == "3 天前骑手确认正常" and fr["text"]["en"] == "confirmed open by a worker 3 days ago"
    assert fr["open_problems"] == 1 and fr["problems_text"]["zh"] == "有 1 个待处理的问题反馈"
    page = c.get("/station/zl-1").get_data(as_text=True)
    assert "3 天前骑手确认正常" in page and "有 1 个待处理的问题反馈" in page
    near = c.get(f"/api/v1/nearest?lon={ZL[0]}&lat={ZL[1]}&k=2").json
    by_id = {f["id"]: f["properties"]["freshness"] for f in near["features"]}
    assert by_id["zl-1"]["by"] == "checkin" and by_id["zl-2"]["text"]["zh"] == "从未确认"
    never = c.get("/station/zl-2").get_data(as_text=True)
    assert 'class="freshness stale"' in never and "从未确认" in never


def test_district_page_lists_stale_stations_by_the_configured_days(make_web_app):
    today = _today()
    sts = [Station(id="a", name="新近核实站", lon=ZL[0], lat=ZL[1], adcode="320404", kinds=("rest",),
                   verified_at=today - timedelta(days=20)),
           Station(id="b", name="久未核实站", lon=ZL[0] + 0.001, lat=ZL[1], adcode="320404", kinds=("rest",),
                   verified_at=today - timedelta(days=200)),
           Station(id="c", name="从未核实站", lon=ZL[0] + 0.002, lat=ZL[1], adcode="320404", kinds=("rest",))]
    for stale_days, want in ((180, ["从未核实站", "久未核实站"]), (10, ["从未核实站", "久未核实站", "新近核实站"])):
        app = make_web_app(sts, stale_days=stale_days)
        add_users(app.extensions["stationmap"].store)
        page = signed_client(app, "zl").get("/admin/districts/320404").get_data(as_text=True)
        stale = page.split('id="stale"', 1)[1].split("</ul>", 1)[0]
        assert f"{stale_days} 天以上未确认的站点（{len(want)}）" in stale
        assert [n for n in ("从未核实站", "久未核实站", "新近核实站") if n in stale] == want
        assert stale.index("从未核实站") < stale.index("久未核实站")
    assert signed_client(app, "tn").get("/admin/districts/320404").status_code == 403


def test_freshness_is_read_once_until_the_database_changes(make_web_app, monkeypatch):
    """The check-in queries were half of a /nearest answer: they are kept until the next commit
    (a check-in or an edit, through any worker), then read again."""
    app = make_web_app([Station(id="zl-1", name="钟楼驿站", lon=ZL[0], lat=ZL[1], adcode="320404", kinds=("rest",))])
    calls = []
    real = reports.freshness_many
    monkeypatch.setattr(reports, "freshness_many", lambda store, sts: calls.append(1) or real(store, sts))
    c = app.test_client()
    url = f"/api/v1/nearest?lon={ZL[0]}&lat={ZL[1]}&k=1"
    for _ in range(3):
        assert c.get(url).json["features"][0]["properties"]["freshness"]["text"]["zh"] == "从未确认"
    assert len(calls) == 1
    reports.add_report(app.extensions["stationmap"].store, "zl-1", "open_ok")   # as another worker would
    assert c.get(url).json["features"][0]["properties"]["freshness"]["by"] == "checkin"
    assert len(calls) == 2


def test_nearest_freshness_text_is_kept_for_the_day_and_ages_at_midnight(make_web_app, monkeypatch):
    """/nearest joins each station's kept freshness text (state.freshness_members): the same text
    as the station's own answer, and a day older once the day changes (Asia/Shanghai)."""
    today = _today()
    app = make_web_app([Station(id="zl-1", name="钟楼驿站", lon=ZL[0], lat=ZL[1], adcode="320404", kinds=("rest",),
                                verified_at=today - timedelta(days=1))])
    c = app.test_client()
    url = f"/api/v1/nearest?lon={ZL[0]}&lat={ZL[1]}&k=1"
    first = c.get(url).json["features"][0]["properties"]["freshness"]
    assert first == c.get("/api/v1/stations/zl-1").json["properties"]["freshness"]
    assert first["age_days"] == 1 and first["text"]["en"] == "verified by the district yesterday"
    calls = []
    real = reports.freshness_many
    monkeypatch.setattr(reports, "freshness_many", lambda store, sts: calls.append(1) or real(store, sts))
    tomorrow = datetime.now(timezone.utc) + timedelta(days=1)
    monkeypatch.setattr(reports, "_now", lambda: tomorrow)
    later = c.get(url).json["features"][0]["properties"]["freshness"]
    assert later["age_days"] == 2 and later["text"]["zh"] == "2 天前区工会核实" and not calls
