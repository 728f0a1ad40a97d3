"""/api/v1/coverage and /coverage/<adcode> at a moment (``at``) and over time (``profile``), issue 15."""

from __future__ import annotations

import base64
import json
import re
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from stationmap import coverage as cv

SHANGHAI = ZoneInfo("Asia/Shanghai")
#: Monday 7 December 2026, 03:00: the stations open 24/7 (and the 22:00-06:00 ones) only
NIGHT = "2026-12-07T03:00"


def _json(r):
    def bad(c):
        raise AssertionError(f"non-JSON number {c}")
    return json.loads(r.get_data(as_text=True), parse_constant=bad)


def test_api_at_counts_the_stations_open_then(ro_client, web_stations):
    r = ro_client.get(f"/api/v1/coverage?district=320404&cell=500&minutes=10&at={NIGHT}")
    assert r.status_code == 200
    body = _json(r)
    assert body["params"]["at"] == NIGHT + ":00+08:00" and body["params"]["services"] == []
    at = datetime(2026, 12, 7, 3, tzinfo=SHANGHAI)
    want = cv.analyse("320404", web_stations, kinds=["rest"], cell_m=500, minutes=10, at=at).stats()
    assert [row["demand_covered"] for row in body["stats"]] == pytest.approx(want.demand_covered.tolist(), abs=1e-12)
    assert [row["stations"] for row in body["stats"]] == want.stations.tolist()
    anytime = _json(ro_client.get("/api/v1/coverage?district=320404&cell=500&minutes=10"))
    assert anytime["params"]["at"] is None
    assert body["stats"][0]["demand_covered"] < anytime["stats"][0]["demand_covered"]
    assert body["stats"][0]["stations"] < anytime["stats"][0]["stations"]
    # the same moment in UTC is the same answer
    utc = _json(ro_client.get("/api/v1/coverage?district=320404&cell=500&minutes=10&at=2026-12-06T19:00:00Z"))
    assert utc["stats"] == body["stats"]


def test_api_service_counts_only_the_stations_offering_it(ro_client, web_stations):
    body = _json(ro_client.get("/api/v1/coverage?district=320402&cell=1000&service=toilet,microwave"))
    assert body["params"]["services"] == ["toilet", "microwave"]
    want = cv.analyse("320402", web_stations, kinds=["rest"], cell_m=1000, services=["toilet", "microwave"]).stats()
    assert body["stats"][0]["demand_covered"] == pytest.approx(want.demand_covered.item(), abs=1e-12)
    assert body["stats"][0]["stations"] == want.stations.item()
    assert want.stations.item() < cv.analyse("320402", web_stations, kinds=["rest"], cell_m=1000).stats()\
        .stations.item()


def test_api_week_profile(ro_client):
    r = ro_client.get(f"/api/v1/coverage?district=320400&cell=2000&minutes=10&profile=week&at={NIGHT}")
    assert r.status_code == 200
    prof = _json(r)["profile"]
    assert prof["profile"] == "week" and len(prof["moments"]) == 168 and prof["hour"] is None
    assert prof["from"] == "2026-12-07T00:00:00+08:00" and prof["to"] == "2026-12-13T23:00:00+08:00"
    assert prof["night_hours"] == [22, 6] and prof["kinds"] == ["rest"]
    assert 1 <= prof["distinct_sets"]["rest"] < 168
    codes = ["320402", "320404", "320411", "320412", "320413", "320481", "320400"]
    assert len(prof["rows"]) == 168 * len(codes)
    assert [row["adcode"] for row in prof["rows"][:7]] == codes
    # each hour's figures are those of a run at that hour
    for k in (3, 10, 100):
        moment = prof["moments"][k]
        snap = _json(ro_client.get("/api/v1/coverage", query_string={
            "district": "320400", "cell": "2000", "minutes": "10", "at": moment}))
        rows = [row for row in prof["rows"] if row["moment"] == moment]
        assert [row["demand_covered"] for row in rows] == pytest.approx(
            [row["demand_covered"] for row in snap["stats"]], abs=1e-12)
        assert [row["stations_open"] for row in rows] == [row["stations"] for row in snap["stats"]]
    night = [f for f in prof["figures"] if f["adcode"] == "320400"]
    assert [(f["figure"], f["statistic"]) for f in night] == [("night", "min"), ("night", "mean")]
    values = [row["demand_covered"] for row in prof["rows"]
              if row["adcode"] == "320400" and (row["hour"] >= 22 or row["hour"] < 6)]
    assert len(values) == 56 and night[0]["demand_covered"] == pytest.approx(min(values))


def test_api_year_profile(ro_client):
    body = _json(ro_client.get("/api/v1/coverage?district=320402&cell=1000&kind=hot_tea&profile=year&hour=9"
                               "&at=2027-06-01"))
    prof = body["profile"]
    assert prof["moments"] == [f"2027-{m:02d}-15T09:00:00+08:00" for m in range(1, 13)] and prof["hour"] == 9
    assert [f["figure"] for f in prof["figures"]] == ["winter", "summer"]
    assert prof["winter_months"] == [12, 1, 2] and prof["summer_months"] == [6, 7, 8]


@pytest.mark.parametrize("query,field", [
    ("at=tomorrow", "at"),
    ("at=", "at"),
    ("at=2026-02-30T10:00", "at"),
    ("at=3000-01-01T00:00", "at"),
    ("at=2026-12-07T03:00&at=2026-12-07T04:00", "at"),
    ("profile=month", "profile"),
    ("profile=", "profile"),
    ("profile=year&hour=24", "hour"),
    ("profile=year&hour=noon", "hour"),
    ("hour=5", "hour"),
    ("profile=week&hour=5", "hour"),
    ("service=sauna", "service"),
])
def test_api_bad_time_input_is_a_400_naming_the_field(ro_client, query, field):
    r = ro_client.get("/api/v1/coverage?district=320402&cell=1000&" + query)
    assert r.status_code == 400 and r.mimetype == "application/json"
    err = r.get_json()["error"]
    assert err["field"] == field and field in err["message"]


def test_openapi_documents_the_time_parameters(ro_client):
    doc = ro_client.get("/api/v1/openapi.json").get_json()
    params = {p["name"]: p for p in doc["paths"]["/api/v1/coverage"]["get"]["parameters"]}
    assert params["at"]["schema"] == {"type": "string", "format": "date-time"}
    assert params["profile"]["schema"]["enum"] == ["week", "year"]
    assert params["hour"]["schema"]["minimum"] == 0 and params["hour"]["schema"]["maximum"] == 23
    assert "only the stations open then count" in params["at"]["description"]


def _figures(html):
    body = re.search(r'<table class="cov" id="coverage-figures">.*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    return [re.sub(r"<[^>]+>", "|", row) for row in re.findall(r"<tr.*?</tr>", body, re.S)]


def test_page_at_a_moment_and_its_week(ro_client):
    anytime = ro_client.get("/coverage/320404?cell=500&minutes=10").get_data(as_text=True)
    assert "任意时刻" in anytime and 'name="at" type="datetime-local" step="60" value=""' in anytime
    assert 'id="coverage-time"' not in anytime
    r = ro_client.get(f"/coverage/320404?cell=500&minutes=10&at={NIGHT}&service=&profile=week&hour=12")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "只计入 2026年12月7日（周一）03:00 开放的站点" in html
    assert f'value="{NIGHT}"' in html and '<option value="week" selected>' in html
    assert _figures(html) != _figures(anytime)
    assert json.dumps("覆盖 · 2026年12月7日（周一）03:00")[1:-1] in html     # the map's title (in its script)
    section = html.split('id="coverage-time"')[1]
    assert "夜间（22:00–06:00）" in section and "最低" in section and "平均" in section
    for img in ("coverage-heatmap", "coverage-lines"):
        src = re.search(rf'id="{img}" src="data:image/png;base64,([^"]+)"', html).group(1)
        assert base64.b64decode(src)[:8] == b"\x89PNG\r\n\x1a\n"
    assert "/coverage/320404/download/profile_week.csv?" in html and "profile=week" in html
    en = ro_client.get(f"/coverage/320404?cell=500&minutes=10&at={NIGHT}&profile=week&lang=en").get_data(
        as_text=True)
    assert "Only the stations open on Mon 7 Dec 2026, 03:00 count" in en and "Night (22:00–06:00)" in en


def test_page_empty_time_fields_mean_any_time_and_bad_ones_are_400(ro_client):
    empty = ro_client.get("/coverage/320402?cell=1000&at=&service=&profile=&hour=12")
    assert empty.status_code == 200
    assert _figures(empty.get_data(as_text=True)) == _figures(
        ro_client.get("/coverage/320402?cell=1000").get_data(as_text=True))
    assert ro_client.get("/coverage/320402?cell=1000&at=soon").status_code == 400
    assert ro_client.get("/coverage/320402?cell=1000&profile=decade").status_code == 400
    assert ro_client.get("/coverage/320402?cell=1000&profile=year&hour=25").status_code == 400


def test_profile_downloads(ro_client):
    r = ro_client.get("/coverage/320404/download/profile_year.csv?cell=1000&profile=year&hour=8&at=2027-01-01")
    assert r.status_code == 200 and "attachment" in r.headers["Content-Disposition"]
    lines = r.get_data().decode("utf-8-sig").splitlines()
    assert lines[0].startswith("adcode,name,kind,profile,mode,minutes,method,moment")
    assert len(lines) == 1 + 12 and "2027-01-15T08:00:00+08:00" in lines[1]
    r = ro_client.get("/coverage/320404/download/profile_year_heatmap.png?cell=1000&profile=year&hour=8&at=2027-01-01")
    assert r.status_code == 200 and r.data[:4] == b"\x89PNG"
    # the files of a run at a moment name it; profile files need a profile
    r = ro_client.get(f"/coverage/320404/download/figures.csv?cell=1000&at={NIGHT}")
    assert "20261207T0300" in r.headers["Content-Disposition"]
    assert ro_client.get("/coverage/320404/download/profile_week.csv?cell=1000").status_code == 404
    assert ro_client.get("/coverage/320404/download/profile_year.csv?cell=1000&profile=week").status_code == 404
