""""A station is needed here" (issue 18): workers drop pins (the page's form and the API, one rate
limit of their own, no account), the district's editors approve or reject them (an editor of another
district cannot: every route), approved pins are shown on the coverage page and listed by the API,
and the siting takes the approved pins, and only those, as demand (`--demand requests`)."""

from __future__ import annotations

import json

import pytest
import shapely
from click.testing import CliRunner

from stationmap import station_requests as sr
from stationmap.coords import wgs84_to_gcj02
from stationmap.model import Station
from tests.support.webforms import TN, ZL, fresh_token, signed_client


@pytest.fixture
def app(two_district_app):
    return two_district_app


def _form(c, position, reason="骑手多，没有驿站", datum="wgs84"):
    return c.post("/station-requests", data={"position": position, "datum": datum, "reason": reason,
                                             "csrf_token": fresh_token(c, "/station-requests/new")})


def test_a_worker_drops_a_pin_by_the_form_and_by_the_api(app, store):
    c = app.test_client()
    page = c.get("/station-requests/new").get_data(as_text=True)
    assert 'name="position"' in page and 'name="reason"' in page
    r = _form(c, "31.78, 119.93")   # latitude first, as people paste it: read either way
    assert r.status_code == 302
    x, y = wgs84_to_gcj02(*TN)
    r = c.post("/api/v1/station-requests", json={"lon": x, "lat": y, "datum": "gcj02", "reason": " 天宁  这里缺 "})
    assert r.status_code == 201, r.json
    assert r.json["status"] == "pending" and r.json["adcode"] == "320402" and r.json["reason"] == "天宁 这里缺"
    assert r.json["position"]["lon"] == pytest.approx(TN[0], abs=1e-6)
    pins = sr.list_requests(store)
    assert [(p.adcode, p.status) for p in pins] == [("320402", "pending"), ("320404", "pending")]
    assert pins[1].lon == pytest.approx(ZL[0]) and pins[1].lat == pytest.approx(ZL[1])
    # nothing is public before an editor approves it
    assert c.get("/api/v1/station-requests?district=3204").json["requests"] == []


def test_bad_pins_are_refused_with_a_reason(app, store):
    c = app.test_client()
    cases = [({"lon": 119.9, "lat": 31.7}, "reason"),
             ({"lon": 119.9, "lat": 31.7, "reason": "x" * 201}, "reason"),
             ({"lon": 2.35, "lat": 48.85, "reason": "巴黎"}, "lon"),
             ({"lon": "abc", "lat": 31.7, "reason": "x"}, "lon"),
             ({"lon": 119.9, "lat": 31.7, "reason": 5}, "reason"),
             ({"lon": 119.9, "lat": 31.7, "reason": "x", "who": "me"}, "who"),
             ({"lon": 119.9, "lat": 31.7, "reason": "x", "datum": "utm"}, "datum")]
    for i, (body, field) in enumerate(cases):   # each from its own address: a refused pin counts too
        r = c.post("/api/v1/station-requests", json=body, environ_base={"REMOTE_ADDR": f"10.0.0.{i}"})
        assert r.status_code == 400 and r.json["error"]["field"] == field, (body, r.json)
    assert c.post("/api/v1/station-requests", data="lon=1", environ_base={"REMOTE_ADDR": "10.0.1.1"}).status_code == 400
    assert c.post("/api/v1/station-requests", data="[1]", content_type="application/json",
                  environ_base={"REMOTE_ADDR": "10.0.1.2"}).status_code == 400
    assert sr.list_requests(store) == []


def test_a_limit_of_their_own_shared_by_the_form_and_the_api(app, store):
    c = app.test_client()
    codes = [_form(c, "119.93, 31.78").status_code]
    codes += [c.post("/api/v1/station-requests", json={"lon": 119.93, "lat": 31.78, "reason": "x"}).status_code
              for _ in range(3)]
    assert codes == [302, 201, 201, 429]
    assert len(sr.list_requests(store)) == 3
    # the check-ins count apart
    assert c.post("/api/v1/stations/zl-1/checkins", json={"outcome": "open_ok"}).status_code == 201


def _pin(store, point, reason="需要"):
    from stationmap.districts import load_districts

    return sr.add_request(store, *point, reason, adcode=load_districts().locate(*point) or "")


def test_the_districts_editor_approves_and_rejects_once(app, store):
    a, b = _pin(store, ZL, "南大街骑手多</script>"), _pin(store, (ZL[0] + 0.01, ZL[1]), "<script>x</script>")
    c = signed_client(app, "zl")
    page = c.get("/admin/districts/320404").get_data(as_text=True)
    assert "南大街骑手多" in page and "&lt;script&gt;x&lt;/script&gt;" in page and "<script>x</script>" not in page
    assert f'action="/admin/station-requests/{a.id}/decide"' in page
    token = fresh_token(c, "/admin/districts/320404")
    r = c.post(f"/admin/station-requests/{a.id}/decide", data={"decision": "approved", "csrf_token": token})
    assert r.status_code == 302 and r.headers["Location"].endswith("/admin/districts/320404")
    r = c.post(f"/admin/station-requests/{b.id}/decide", data={"decision": "rejected", "csrf_token": token})
    assert r.status_code == 302
    assert (sr.get_request(store, a.id).status, sr.get_request(store, a.id).decided_by) == ("approved", "zl")
    assert sr.get_request(store, b.id).status == "rejected"
    # once: the first decision stands
    again = c.post(f"/admin/station-requests/{a.id}/decide", data={"decision": "rejected", "csrf_token": token})
    assert again.status_code == 409 and sr.get_request(store, a.id).status == "approved"
    bad = c.post(f"/admin/station-requests/{a.id}/decide", data={"decision": "maybe", "csrf_token": token})
    assert bad.status_code == 400
    assert c.post("/admin/station-requests/99999/decide",
                  data={"decision": "approved", "csrf_token": token}).status_code == 404
    assert c.post(f"/admin/station-requests/{a.id}/decide", data={"decision": "approved"}).status_code == 400  # CSRF
    # the approved pin is public: the API, and the coverage page's list and map
    listed = app.test_client().get("/api/v1/station-requests?district=320404").json
    assert [p["id"] for p in listed["requests"]] == [a.id] and "decided_by" not in listed["requests"][0]
    cov = app.test_client().get("/coverage/320404?cell=1000").get_data(as_text=True)
    assert 'id="coverage-requests"' in cov and "南大街骑手多&lt;/script&gt;" in cov
    assert "骑手多</script>" not in cov and "<script>x" not in cov and "&lt;script&gt;x" not in cov  # rejected: not shown
    assert "sm-request" in cov and "--demand requests" in cov   # drawn on the map too


@pytest.mark.parametrize("user", ["tn", "sz"])
def test_an_editor_of_another_district_cannot_decide(app, store, user):
    a = _pin(store, ZL)
    c = signed_client(app, user)
    token = fresh_token(c, "/admin/")
    r = c.post(f"/admin/station-requests/{a.id}/decide", data={"decision": "approved", "csrf_token": token})
    assert r.status_code == 403
    assert c.get("/admin/districts/320404").status_code == 403
    assert sr.get_request(store, a.id).status == "pending"


def test_a_pin_in_no_known_district_is_for_an_administrator(app, store):
    far = sr.add_request(store, 87.6, 43.8, "乌鲁木齐", adcode="")   # outside the bundled boundaries
    for user in ("cz", "zl"):
        c = signed_client(app, user)
        r = c.post(f"/admin/station-requests/{far.id}/decide",
                   data={"decision": "approved", "csrf_token": fresh_token(c, "/admin/")})
        assert r.status_code == 403
    assert "乌鲁木齐" not in signed_client(app, "cz").get("/admin/").get_data(as_text=True)
    c = signed_client(app, "admin")
    index = c.get("/admin/").get_data(as_text=True)   # listed for the administrator, with the buttons
    assert 'id="requests-nowhere"' in index and "乌鲁木齐" in index
    assert f'action="/admin/station-requests/{far.id}/decide"' in index
    r = c.post(f"/admin/station-requests/{far.id}/decide",
               data={"decision": "rejected", "csrf_token": fresh_token(c, "/admin/"), "back": "/admin/"})
    assert r.status_code == 302 and r.headers["Location"].endswith("/admin/")
    assert sr.get_request(store, far.id).status == "rejected"


def test_signed_out_cannot_decide(app, store):
    a = _pin(store, ZL)
    c = app.test_client()
    r = c.post(f"/admin/station-requests/{a.id}/decide", data={"decision": "approved"})
    assert r.status_code in (302, 400, 401) and sr.get_request(store, a.id).status == "pending"


def test_the_api_listing_checks_its_parameters(app):
    c = app.test_client()
    assert c.get("/api/v1/station-requests?district=32x").status_code == 400
    assert c.get("/api/v1/station-requests?district=1234567").status_code == 400
    assert c.get("/api/v1/station-requests?x=1").status_code == 400
    assert c.get("/api/v1/station-requests").json == {"datum": "wgs84", "district": None, "requests": []}


def test_the_openapi_document_describes_the_requests(app):
    doc = app.test_client().get("/api/v1/openapi.json").json
    path = doc["paths"]["/api/v1/station-requests"]
    assert {"201", "400", "429"} <= set(path["post"]["responses"])
    assert path["post"]["requestBody"]["content"]["application/json"]["schema"]["required"] == ["lon", "lat", "reason"]
    assert "200" in path["get"]["responses"]


# -- the siting takes the approved pins, and only those, as demand -----------------------------------

A = (119.76, 31.80)    # west Zhonglou, far from the one station
B = (119.86, 31.77)    # central Zhonglou


def test_siting_uses_the_approved_pins_only(db_url, tmp_path, monkeypatch):
    from stationmap.districts import load_districts
    from stationmap.store import StationStore

    monkeypatch.setenv("STATIONMAP_DATABASE_URL", db_url)
    store = StationStore(db_url)
    store.create_all()
    store.write_many([Station(id="zl-e", name="东", lon=119.95, lat=31.80, adcode="320404", kinds=("rest",))])
    zhonglou = load_districts().get("320404").geometry
    assert zhonglou.contains(shapely.Point(A)) and zhonglou.contains(shapely.Point(B))
    approved = [sr.add_request(store, A[0] + dx, A[1], "西边", adcode="320404") for dx in (0.0, 0.002, 0.004)]
    for p in approved:
        sr.decide_request(store, p.id, user="zl", decision="approved")
    # more pins, pending or rejected, at B: were they demand, the one site would go there
    others = [sr.add_request(store, B[0] + dx, B[1], "中间", adcode="320404") for dx in (0.0, 0.002, 0.004, 0.006)]
    sr.decide_request(store, others[0].id, user="zl", decision="rejected")
    from stationmap.cli import main

    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["coverage", "320404", "--kind", "rest", "--cell", "500", "--method", "circle",
                                    "--demand", "requests", "--add", "1", "--lang", "en", "--out", str(out)])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["assumptions"]["demand"]["features"] == 3
    (site,) = summary["sites"]["sites"]
    near_a = min(abs(site["lon"] - A[0]) + abs(site["lat"] - A[1]), 1)
    assert near_a < 0.04, site          # within reach of the approved pins (about 3 km)
    assert abs(site["lon"] - B[0]) > 0.05, site
    assert "raise demand covered from" in res.output and "to 100.0%" in res.output

    # none approved in a district: a clear error
    res = CliRunner().invoke(main, ["coverage", "320402", "--kind", "rest", "--demand", "requests", "--out",
                                    str(tmp_path / "o2")])
    assert res.exit_code != 0 and "no approved station requests" in res.output
