"""The editors' JSON API for open items (issue 18): list a district's open items, resolve one; the
session of /login and its CSRF token (X-CSRFToken), an editor of another district refused on every
route, and errors as JSON."""

from __future__ import annotations

import pytest

from stationmap import reports
from tests.support.webforms import signed_client


@pytest.fixture
def app(two_district_app):
    return two_district_app


@pytest.fixture
def items(store):
    """Two open items (one per district), a confirmation (no item) and a resolved item."""
    zl = reports.add_report(store, "zl-1", "locked")
    tn = reports.add_report(store, "tn-1", "service_missing",
                            details=reports.CheckinDetails(service="hot_water"))
    reports.add_report(store, "zl-1", "open_ok")
    done = reports.add_report(store, "zl-1", "not_found")
    reports.resolve_report(store, done.id, user="admin", resolution="not_a_problem")
    return {"zl": zl.id, "tn": tn.id, "done": done.id}


def _list(c, query=""):
    r = c.get("/admin/api/items" + query)
    return r, (r.json or {})


def test_an_editor_lists_and_resolves_the_districts_items(app, store, items):
    c = signed_client(app, "zl")
    r, body = _list(c)
    assert r.status_code == 200 and r.mimetype == "application/json"
    assert [i["id"] for i in body["items"]] == [items["zl"]]   # its own district's, open, problems only
    item = body["items"][0]
    assert item["outcome"] == "locked" and item["open"] and item["station"] == {
        "id": "zl-1", "name": "钟楼测试驿站", "adcode": "320404"}
    assert body["resolutions"] == list(reports.RESOLUTIONS)
    token = body["csrf_token"]
    r = c.post(f"/admin/api/items/{items['zl']}/resolve", json={"resolution": "fixed"},
               headers={"X-CSRFToken": token})
    assert r.status_code == 200, r.json
    assert (r.json["resolution"], r.json["resolved_by"], r.json["open"]) == ("fixed", "zl", False)
    assert reports.get_report(store, items["zl"]).resolution == "fixed"
    assert _list(c)[1]["items"] == []
    # resolved once: the first stands
    again = c.post(f"/admin/api/items/{items['zl']}/resolve", json={"resolution": "edited"},
                   headers={"X-CSRFToken": token})
    assert again.status_code == 409 and again.json["error"]["code"] == "conflict"


def test_a_city_editor_and_the_district_filter(app, items):
    c = signed_client(app, "cz")   # 3204: both districts
    assert sorted(i["id"] for i in _list(c)[1]["items"]) == sorted([items["zl"], items["tn"]])
    assert [i["id"] for i in _list(c, "?district=320402")[1]["items"]] == [items["tn"]]
    assert [i["id"] for i in _list(c, "?district=32")[1]["items"]] == sorted([items["zl"], items["tn"]],
                                                                              reverse=True)
    assert _list(c, "?district=320500")[0].status_code == 403


@pytest.mark.parametrize("user", ["tn", "sz"])
def test_an_editor_of_another_district_is_refused(app, store, items, user):
    c = signed_client(app, user)
    r, body = _list(c, "?district=320404")
    assert r.status_code == 403 and body["error"]["code"] == "forbidden"
    assert items["zl"] not in [i["id"] for i in _list(c)[1]["items"]]
    token = _list(c)[1]["csrf_token"]
    r = c.post(f"/admin/api/items/{items['zl']}/resolve", json={"resolution": "fixed"},
               headers={"X-CSRFToken": token})
    assert r.status_code == 403 and r.json["error"]["code"] == "forbidden"
    assert reports.get_report(store, items["zl"]).is_open


def test_signed_out_and_without_a_token(app, store, items):
    anon = app.test_client()
    r = anon.get("/admin/api/items")
    assert r.status_code == 401 and r.json["error"]["code"] == "unauthorized"
    r = anon.post(f"/admin/api/items/{items['zl']}/resolve", json={"resolution": "fixed"})
    assert r.status_code in (400, 401) and r.mimetype == "application/json"
    c = signed_client(app, "zl")
    r = c.post(f"/admin/api/items/{items['zl']}/resolve", json={"resolution": "fixed"})
    assert r.status_code == 400 and r.json["error"]["code"] == "csrf"
    assert reports.get_report(store, items["zl"]).is_open


def test_bad_requests_are_400_naming_the_field(app, items):
    c = signed_client(app, "zl")
    token = _list(c)[1]["csrf_token"]
    h = {"X-CSRFToken": token}
    url = f"/admin/api/items/{items['zl']}/resolve"
    for body, field in (({"resolution": "shrug"}, "resolution"), ({}, "resolution"),
                        ({"resolution": "fixed", "x": 1}, "x")):
        r = c.post(url, json=body, headers=h)
        assert r.status_code == 400 and r.json["error"]["field"] == field, (body, r.json)
    assert c.post(url, data="resolution=fixed", headers=h).status_code == 400
    assert c.post("/admin/api/items/999999/resolve", json={"resolution": "fixed"}, headers=h).status_code == 404
    r = c.post(f"/admin/api/items/{items['done']}/resolve", json={"resolution": "fixed"}, headers=h)
    assert r.status_code == 409
    assert _list(c, "?district=32x")[0].status_code == 400
    assert _list(c, "?x=1")[0].status_code == 400
