"""Check-ins (issue 18): every outcome through the station page's form and the API, the shared
rate limit, and the district editors resolving the items they open (only their own district's)."""

from __future__ import annotations

import sqlite3

import pytest

from stationmap import reports
from stationmap.coords import wgs84_to_gcj02
from tests.support.webforms import fresh_token, signed_client

#: outcome -> the details a check-in of it sends (besides the outcome)
DETAILS = {
    "open_ok": {}, "closed_when_open": {}, "locked": {}, "not_found": {},
    "moved": {"lon": "119.9312", "lat": "31.7811", "datum": "wgs84"},
    "service_missing": {"service": "hot_water"},
    "info_wrong": {"note": "电话号码已停机"},
}


@pytest.fixture
def app(two_district_app):
    return two_district_app


def _rows(store, station_id):
    """(kind, service, lon, lat, note) of the stored check-ins, read with plain sqlite3."""
    with sqlite3.connect(store.engine.url.database) as conn:
        return [tuple(r) for r in conn.execute(
            "SELECT kind, service, lon, lat, note FROM station_reports WHERE station_id = ? ORDER BY id",
            (station_id,))]


def _want(kind):
    d = DETAILS[kind]
    lon = float(d["lon"]) if "lon" in d else None
    lat = float(d["lat"]) if "lat" in d else None
    return (kind, d.get("service", ""), lon, lat, d.get("note", ""))


@pytest.mark.parametrize("kind", sorted(DETAILS))
def test_every_outcome_through_the_form(app, store, kind):
    c = app.test_client()
    r = c.post("/stations/zl-1/reports", data={"kind": kind, **DETAILS[kind],
                                               "csrf_token": fresh_token(c, "/stations/zl-1/reports")})
    assert r.status_code == 302
    assert _rows(store, "zl-1") == [_want(kind)]
    assert [i.station.id for i in reports.needs_visit(store)] == ([] if kind == "open_ok" else ["zl-1"])


@pytest.mark.parametrize("kind", sorted(DETAILS))
def test_every_outcome_through_the_api(app, store, kind):
    c = app.test_client()
    body = {"outcome": kind, **DETAILS[kind]}
    if "lon" in body:
        body["lon"], body["lat"] = float(body["lon"]), float(body["lat"])
    r = c.post("/api/v1/stations/zl-1/checkins", json=body)
    assert r.status_code == 201, r.json
    assert r.json["outcome"] == kind and r.json["counted"] and r.json["open"] == (kind != "open_ok")
    assert _rows(store, "zl-1") == [_want(kind)]
    again = c.post("/api/v1/stations/zl-1/checkins", json=body)   # the same device again: counted once
    assert again.status_code == 200 and not again.json["counted"] and again.json["id"] == r.json["id"]
    assert len(_rows(store, "zl-1")) == 1


def test_moved_takes_any_datum_and_stores_wgs84(app, store):
    gx, gy = (float(v) for v in wgs84_to_gcj02(119.9312, 31.7811))
    c = app.test_client()
    r = c.post("/api/v1/stations/zl-1/checkins", json={"outcome": "moved", "lon": gx, "lat": gy, "datum": "gcj02"})
    assert r.status_code == 201
    (row,) = _rows(store, "zl-1")
    assert row[2] == pytest.approx(119.9312, abs=1e-7) and row[3] == pytest.approx(31.7811, abs=1e-7)
    assert r.json["position"]["lon"] == pytest.approx(119.9312, abs=1e-7)


@pytest.mark.parametrize(("body", "field"), [
    ({"outcome": "teleported"}, "outcome"),
    ({}, "outcome"),
    ({"outcome": "service_missing"}, "service"),
    ({"outcome": "service_missing", "service": "sauna"}, "service"),
    ({"outcome": "moved"}, "lon"),
    ({"outcome": "moved", "lon": 119.9, "lat": "north"}, "lat"),
    ({"outcome": "moved", "lon": 2.35, "lat": 48.85}, "lon"),
    ({"outcome": "moved", "lon": 119.9, "lat": 31.7, "datum": "mars"}, "datum"),
    ({"outcome": "info_wrong"}, "note"),
    ({"outcome": "info_wrong", "note": "x" * 501}, "note"),
    ({"outcome": "open_ok", "colour": "red"}, "colour"),
])
def test_bad_check_ins_are_400_naming_the_field(app, store, body, field):
    r = app.test_client().post("/api/v1/stations/zl-1/checkins", json=body)
    assert r.status_code == 400 and r.json["error"]["field"] == field, r.json
    assert _rows(store, "zl-1") == []


def test_api_bad_bodies_and_unknown_station(app, store):
    c = app.test_client()
    assert c.post("/api/v1/stations/zl-1/checkins", data="outcome=open_ok",
                  content_type="application/x-www-form-urlencoded").status_code == 400
    assert c.post("/api/v1/stations/zl-1/checkins", data="[1]", content_type="application/json").status_code == 400
    assert c.post("/api/v1/stations/zl-1/checkins", data="{", content_type="application/json").status_code == 400
    r = c.post("/api/v1/stations/nope/checkins", json={"outcome": "open_ok"})
    assert r.status_code == 404 and r.json["error"]["code"] == "not_found"


def test_the_form_and_the_api_share_one_rate_limit(app, store):
    c = app.test_client()
    token = fresh_token(c, "/stations/zl-1/reports")
    codes = [c.post("/stations/zl-1/reports", data={"kind": k, "csrf_token": token}).status_code
             for k in ("open_ok", "closed_when_open", "locked")]
    codes += [c.post("/api/v1/stations/tn-1/checkins", json={"outcome": k}).status_code
              for k in ("open_ok", "closed_when_open", "locked", "not_found")]
    assert codes == [302, 302, 302, 201, 201, 201, 429]
    assert len(_rows(store, "zl-1")) + len(_rows(store, "tn-1")) == 6


def test_the_openapi_document_describes_the_check_in(app):
    doc = app.test_client().get("/api/v1/openapi.json").json
    post = doc["paths"]["/api/v1/stations/{station_id}/checkins"]["post"]
    props = post["requestBody"]["content"]["application/json"]["schema"]["properties"]
    assert set(props["outcome"]["enum"]) == set(reports.REPORT_KINDS)
    assert {"201", "200", "400", "404", "429"} <= set(post["responses"])


# -- items: the district's editors resolve them -----------------------------------------------

def _item(store, station_id="zl-1", kind="locked"):
    return reports.add_report(store, station_id, kind).id


def test_district_page_lists_open_items_and_its_editor_resolves_one(app, store):
    rid = _item(store)
    reports.add_report(store, "zl-1", "service_missing", details=reports.check_details("service_missing",
                                                                                       service="toilet"))
    c = signed_client(app, "zl")
    page = c.get("/admin/districts/320404").get_data(as_text=True)
    assert 'id="items"' in page and "锁着门/进不去" in page and "卫生间" in page
    assert f'action="/admin/checkins/{rid}/resolve"' in page
    r = c.post(f"/admin/checkins/{rid}/resolve", data={"resolution": "fixed",
                                                       "csrf_token": fresh_token(c, "/admin/")})
    assert r.status_code == 302
    done = reports.get_report(store, rid)
    assert (done.resolution, done.resolved_by) == ("fixed", "zl")
    assert len(reports.open_items(store)) == 1
    # resolved once: a second resolution is a 409, the first stands
    again = c.post(f"/admin/checkins/{rid}/resolve", data={"resolution": "not_a_problem",
                                                           "csrf_token": fresh_token(c, "/admin/")})
    assert again.status_code == 409 and reports.get_report(store, rid).resolution == "fixed"
    bad = c.post(f"/admin/checkins/{_item(store)}/resolve", data={"resolution": "shrug",
                                                                  "csrf_token": fresh_token(c, "/admin/")})
    assert bad.status_code == 400
    assert c.post("/admin/checkins/999999/resolve", data={"resolution": "fixed",
                                                          "csrf_token": fresh_token(c, "/admin/")}).status_code == 404


@pytest.mark.parametrize("user", ["tn", "sz"])
def test_an_editor_of_another_district_cannot_resolve(app, store, user):
    rid = _item(store)
    c = signed_client(app, user)
    r = c.post(f"/admin/checkins/{rid}/resolve", data={"resolution": "fixed",
                                                       "csrf_token": fresh_token(c, "/admin/")})
    assert r.status_code == 403
    assert reports.get_report(store, rid).is_open
    assert c.get("/admin/districts/320404").status_code == 403


@pytest.mark.parametrize("user", ["zl", "cz", "admin"])
def test_editors_of_the_district_resolve(app, store, user):
    rid = _item(store)
    c = signed_client(app, user)
    r = c.post(f"/admin/checkins/{rid}/resolve", data={"resolution": "not_a_problem",
                                                       "csrf_token": fresh_token(c, "/admin/")})
    assert r.status_code == 302 and not reports.get_report(store, rid).is_open


def test_resolving_needs_sign_in_and_csrf(app, store):
    rid = _item(store)
    anon = app.test_client()
    assert anon.post(f"/admin/checkins/{rid}/resolve",
                     data={"resolution": "fixed", "csrf_token": fresh_token(anon)}).status_code == 401
    c = signed_client(app, "zl")
    assert c.post(f"/admin/checkins/{rid}/resolve", data={"resolution": "fixed"}).status_code == 400
    assert reports.get_report(store, rid).is_open


def test_closing_and_reopening_resolve_with_their_resolution(app, store):
    rid = _item(store, kind="closed_when_open")
    c = signed_client(app, "zl")
    c.post("/admin/stations/zl-1/close", data={"confirm": "1", "csrf_token": fresh_token(c, "/admin/")})
    assert reports.get_report(store, rid).resolution == "closed"
    rid2 = _item(store, kind="not_found")
    c.post("/admin/stations/zl-1/reopen", data={"csrf_token": fresh_token(c, "/admin/")})
    assert reports.get_report(store, rid2).resolution == "fixed"


def _count(app) -> int:
    store = app.extensions["stationmap"].store
    return len(reports.recent_reports(store, "zl-1")) + len(reports.recent_reports(store, "tn-1"))


def test_an_idempotency_key_counts_a_resent_check_in_once_whenever_it_comes(app):
    """The offline queue (static/js/offline.js) sends each check-in with its own key: a resend (its
    answer lost) is answered with the first, and only one is recorded; another key is another check-in."""
    c = app.test_client()
    key = "7d1c2f0e-4b7a-4a55-9d7e-0c2b8f1e9a31"
    body = {"outcome": "info_wrong", "note": "电话号码已停机"}
    first = c.post("/api/v1/stations/zl-1/checkins", json=body, headers={"Idempotency-Key": key})
    assert first.status_code == 201 and first.json["counted"] is True
    again = c.post("/api/v1/stations/zl-1/checkins", json=body, headers={"Idempotency-Key": key})
    assert again.status_code == 200 and again.json["counted"] is False and again.json["id"] == first.json["id"]
    assert _count(app) == 1
    # the repeat window would not catch this one (another outcome); the key does
    other = c.post("/api/v1/stations/zl-1/checkins", json={"outcome": "locked"}, headers={"Idempotency-Key": key})
    assert other.status_code == 200 and other.json["id"] == first.json["id"]
    assert _count(app) == 1
    new = c.post("/api/v1/stations/zl-1/checkins", json={"outcome": "locked"},
                 headers={"Idempotency-Key": "0f6a7c1e-aaaa-4bbb-8ccc-123456789abc"})
    assert new.status_code == 201 and _count(app) == 2


@pytest.mark.parametrize("key", ["short", "has space in it", "x" * 65, "ключ-ключ-ключ"])
def test_a_bad_idempotency_key_is_a_400_naming_it(app, key):
    r = app.test_client().post("/api/v1/stations/zl-1/checkins", json={"outcome": "open_ok"},
                               headers={"Idempotency-Key": key})
    assert r.status_code == 400 and r.json["error"]["field"] == "Idempotency-Key"
    assert _count(app) == 0


def test_an_idempotency_key_of_another_station_is_refused(app):
    c = app.test_client()
    key = "5b0d9a34-1111-4222-8333-444455556666"
    assert c.post("/api/v1/stations/zl-1/checkins", json={"outcome": "open_ok"},
                  headers={"Idempotency-Key": key}).status_code == 201
    r = c.post("/api/v1/stations/tn-1/checkins", json={"outcome": "open_ok"}, headers={"Idempotency-Key": key})
    assert r.status_code == 400 and r.json["error"]["field"] == "Idempotency-Key"
    assert _count(app) == 1
