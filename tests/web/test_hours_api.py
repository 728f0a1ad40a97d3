"""Time in the API (issue 15): every station carries open_now, closes_at and opens_at for the
query's ``at``; /nearest can put the open ones first; a service's own hours decide
``service=...&open_now=true``; a reopening date counts."""

from __future__ import annotations

from datetime import date

import pytest

from stationmap.model import Station

HERE = {"lon": "119.950", "lat": "31.780"}


def _st(sid, dx, hours, **kw):
    return Station(id=sid, name=f"站{sid}", lon=119.95 + dx, lat=31.78, adcode="320404", opening_hours=hours,
                   **kw)


STATIONS = [
    _st("day-near", 0.002, "Mo-Su 08:00-20:00"),
    _st("office", 0.004, "Mo-Fr 08:30-17:30", services=("legal_aid", "toilet"),
        service_hours=(("legal_aid", "Th 14:00-17:00"),)),
    _st("always-far", 0.03, "24/7"),
    _st("tea", 0.006, "Nov-Mar 07:00-19:00", kinds=("hot_tea",)),
    _st("night", 0.008, "22:00-06:00"),
    _st("paused", 0.001, "Mo-Su 08:00-20:00", status="temporarily_closed", reopens_on=date(2027, 1, 4)),
]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from tests.support.webforms import make_app

    return make_app(tmp_path_factory.mktemp("hours"), STATIONS).test_client()


def _props(resp):
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return {f["id"]: f["properties"] for f in resp.get_json()["features"]}


def test_every_station_says_when_it_closes_or_opens(client):
    # Monday 2026-12-07 06:30 Shanghai: the finder at dawn
    got = _props(client.get("/api/v1/nearest", query_string={**HERE, "k": 6, "at": "2026-12-07T06:30:00+08:00"}))
    assert got["day-near"]["open_now"] is False and got["day-near"]["opens_at"] == "2026-12-07T08:00:00+08:00"
    assert got["day-near"]["closes_at"] is None
    assert got["always-far"]["open_now"] is True and got["always-far"]["closes_at"] is None
    assert got["night"]["open_now"] is False and got["night"]["opens_at"] == "2026-12-07T22:00:00+08:00"
    assert got["paused"]["opens_at"] == "2027-01-04T08:00:00+08:00" and got["paused"]["reopens_on"] == "2027-01-04"
    one = client.get("/api/v1/stations/tea", query_string={"at": "2026-07-15T12:00:00+08:00"}).get_json()
    assert one["properties"]["open_now"] is False
    assert one["properties"]["opens_at"] == "2026-11-01T07:00:00+08:00"
    page = _props(client.get("/api/v1/stations", query_string={"at": "2026-12-07T23:00:00+08:00"}))
    assert page["night"]["closes_at"] == "2026-12-08T06:00:00+08:00"
    assert page["day-near"]["opens_at"] == "2026-12-08T08:00:00+08:00"
    # fields picks among them too
    compact = _props(client.get("/api/v1/stations", query_string={"at": "2026-12-07T23:00:00+08:00",
                                                                   "fields": "open_now,opens_at"}))
    assert compact["night"] == {"open_now": True, "opens_at": None}


def test_nearest_orders_by_time_and_open_first_on_request(client):
    q = {**HERE, "k": 3, "at": "2026-12-07T06:30:00+08:00"}
    by_time = client.get("/api/v1/nearest", query_string=q).get_json()
    assert [f["id"] for f in by_time["features"]] == ["paused", "day-near", "office"]
    assert by_time["query"]["order"] == "time"
    first = client.get("/api/v1/nearest", query_string={**q, "order": "open_first"}).get_json()
    ids = [f["id"] for f in first["features"]]
    # the open ones (only the 24/7 one is open at 06:30), then the closed among the 3 quickest
    assert ids == ["always-far", "paused", "day-near", "office"]
    assert [f["properties"]["open_now"] for f in first["features"]] == [True, False, False, False]
    # open_now=true: the open ones only, whatever the order
    only = client.get("/api/v1/nearest", query_string={**q, "open_now": "true", "order": "open_first"}).get_json()
    assert [f["id"] for f in only["features"]] == ["always-far"]
    bad = client.get("/api/v1/nearest", query_string={**q, "order": "nearest"})
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "order"


def test_a_service_with_its_own_hours_is_open_only_then(client):
    monday, thursday = "2026-12-07T10:00:00+08:00", "2026-12-10T15:00:00+08:00"
    q = {**HERE, "k": 5, "service": "legal_aid", "open_now": "true"}
    assert _props(client.get("/api/v1/nearest", query_string={**q, "at": monday})) == {}
    got = _props(client.get("/api/v1/nearest", query_string={**q, "at": thursday}))
    assert list(got) == ["office"] and got["office"]["closes_at"] == "2026-12-10T17:00:00+08:00"
    # without open_now the office is listed, closed for that service, with the lawyer's next afternoon
    got = _props(client.get("/api/v1/nearest", query_string={**HERE, "k": 5, "service": "legal_aid", "at": monday}))
    assert got["office"]["open_now"] is False and got["office"]["opens_at"] == "2026-12-10T14:00:00+08:00"
    # the station itself (no service asked) is open on Monday morning
    got = _props(client.get("/api/v1/stations", query_string={"at": monday}))
    assert got["office"]["open_now"] is True and got["office"]["service_hours"] == {"legal_aid": "Th 14:00-17:00"}
    listed = _props(client.get("/api/v1/stations", query_string={"service": "legal_aid", "open_now": "true",
                                                                  "at": monday}))
    assert listed == {}


def test_a_reopening_date_counts_from_that_day(client):
    q = {**HERE, "k": 1, "open_now": "true"}
    before = client.get("/api/v1/nearest", query_string={**q, "at": "2027-01-03T12:00:00+08:00"}).get_json()
    after = client.get("/api/v1/nearest", query_string={**q, "at": "2027-01-04T12:00:00+08:00"}).get_json()
    assert before["features"][0]["id"] == "day-near"
    assert after["features"][0]["id"] == "paused"
