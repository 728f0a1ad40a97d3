"""Bad input: every one a 4xx JSON error naming the parameter, never a 500."""

from __future__ import annotations

import pytest

OK = "lat=31.79&lon=119.96"


def check_error(r, status, field, *words):
    assert r.status_code == status, (r.status_code, r.data[:300])
    assert r.mimetype == "application/json"
    err = r.get_json()["error"]
    assert set(err) == {"code", "message", "field", "lang", "display_message"}
    # a client that asks no language (no lang, no Accept-Language) reads the English message twice
    assert err["lang"] == "en" and err["display_message"] == err["message"]
    assert err["field"] == field
    for w in words:
        assert w in err["message"], (w, err["message"])
    return err


@pytest.mark.parametrize("query, field, words", [
    ("lon=119.96", "lat", ["lat", "required"]),
    ("lat=31.79", "lon", ["lon", "required"]),
    ("lat=&lon=119.96", "lat", ["lat", "number"]),
    ("lat=abc&lon=119.96", "lat", ["lat", "number", "'abc'"]),
    ("lat=NaN&lon=119.96", "lat", ["lat", "'NaN'"]),
    ("lat=nan&lon=119.96", "lat", ["lat"]),
    ("lat=31.79&lon=inf", "lon", ["lon", "'inf'"]),
    ("lat=31.79&lon=-Infinity", "lon", ["lon"]),
    ("lat=1e400&lon=119.96", "lat", ["lat", "finite"]),
    ("lat=91&lon=119.96", "lat", ["lat", "[-90, 90]", "'91'"]),
    ("lat=-90.0001&lon=119.96", "lat", ["lat"]),
    ("lat=31.79&lon=180.5", "lon", ["lon", "[-180, 180]"]),
    ("lat=0x1f&lon=119.96", "lat", ["lat"]),
    ("lat=1_0&lon=119.96", "lat", ["lat"]),
    ("lat=31.79&lat=31.8&lon=119.96", "lat", ["lat", "once"]),
    (OK + "&k=0", "k", ["k", "[1, 100]"]),
    (OK + "&k=101", "k", ["k"]),
    (OK + "&k=1000000000000000000000000", "k", ["k"]),
    (OK + "&k=-3", "k", ["k"]),
    (OK + "&k=2.5", "k", ["k", "integer"]),
    (OK + "&k=five", "k", ["k", "integer"]),
    (OK + "&kind=bar", "kind", ["kind", "'bar'", "rest"]),
    (OK + "&kind=rest,", "kind", ["kind", "''"]),
    (OK + "&kind=REST", "kind", ["kind"]),
    (OK + "&service=sauna", "service", ["service", "'sauna'", "toilet"]),
    (OK + "&mode=teleport", "mode", ["mode", "walk"]),
    (OK + "&datum=mars", "datum", ["datum", "gcj02"]),
    (OK + "&out_datum=utm", "out_datum", ["out_datum"]),
    (OK + "&open_now=yes", "open_now", ["open_now", "true or false"]),
    (OK + "&open_now=", "open_now", ["open_now"]),
    (OK + "&minutes=0", "minutes", ["minutes", "(0, 120]"]),
    (OK + "&minutes=-5", "minutes", ["minutes"]),
    (OK + "&minutes=121", "minutes", ["minutes"]),
    (OK + "&minutes=NaN", "minutes", ["minutes"]),
    (OK + "&at=yesterday", "at", ["at", "ISO 8601", "'yesterday'"]),
    (OK + "&at=2024-13-01T00:00:00", "at", ["at"]),
    (OK + "&at=2024-02-30T10:00:00", "at", ["at"]),
    (OK + "&at=2024-05-01T25:00:00", "at", ["at"]),
    (OK + "&at=2024-05-01T10:00:00%2B25:00", "at", ["at"]),
    (OK + "&at=0001-01-01T00:00:00", "at", ["at", "1900-2200"]),
    (OK + "&at=9999-12-31T23:59:59-12:00", "at", ["at"]),
    (OK + "&foo=1", "foo", ["unknown parameter", "'foo'"]),
    (OK + "&Lat=1", "Lat", ["unknown parameter"]),
])
def test_nearest_bad_parameters(ro_client, query, field, words):
    check_error(ro_client.get("/api/v1/nearest?" + query), 400, field, *words)


@pytest.mark.parametrize("query, field, words", [
    ("bbox=1,2,3", "bbox", ["bbox", "four numbers"]),
    ("bbox=1,2,3,4,5", "bbox", ["bbox"]),
    ("bbox=a,b,c,d", "bbox", ["bbox"]),
    ("bbox=119,31,NaN,32", "bbox", ["bbox"]),
    ("bbox=119,31,1e999,32", "bbox", ["bbox", "finite"]),
    ("bbox=120,31,119,32", "bbox", ["bbox", "west <= east"]),
    ("bbox=119,32,120,31", "bbox", ["bbox", "south <= north"]),
    ("bbox=119,-91,120,31", "bbox", ["bbox", "[-90, 90]"]),
    ("bbox=", "bbox", ["bbox"]),
    ("limit=0", "limit", ["limit", "[1, 10000]"]),
    ("limit=10001", "limit", ["limit"]),
    ("offset=-1", "offset", ["offset"]),
    ("district=32a", "district", ["district", "adcode"]),
    ("district=3204001", "district", ["district"]),
    ("district=", "district", ["district"]),
    ("status=gone", "status", ["status", "active"]),
    ("fields=name,secret", "fields", ["fields", "'secret'"]),
    ("kind=rest&kind=nope", "kind", ["kind", "'nope'"]),
    ("at=2024-05-01T10:00:00+0800x", "at", ["at"]),
    ("lat=31", "lat", ["unknown parameter"]),
])
def test_stations_bad_parameters(ro_client, query, field, words):
    check_error(ro_client.get("/api/v1/stations?" + query), 400, field, *words)


def test_station_errors(ro_client):
    check_error(ro_client.get("/api/v1/stations/nope"), 404, "id", "'nope'")
    check_error(ro_client.get("/api/v1/stations/xss?out_datum=x"), 400, "out_datum")
    check_error(ro_client.get("/api/v1/stations/xss?mode=fly"), 400, "mode")
    check_error(ro_client.get("/api/v1/stations/xss?bbox=1,2,3,4"), 400, "bbox", "unknown parameter")


def test_other_endpoints_refuse_unknown_parameters(ro_client):
    check_error(ro_client.get("/api/v1/districts?x=1"), 400, "x")
    check_error(ro_client.get("/api/v1/districts/boundaries?level=street"), 400, "level")
    check_error(ro_client.get("/api/v1/districts/boundaries?district=x"), 400, "district")


def test_unknown_route_and_method_are_json(ro_client):
    r = ro_client.get("/api/v1/nowhere")
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found"
    r = ro_client.post("/api/v1/nearest?" + OK)
    assert r.status_code == 405 and "error" in r.get_json()


def test_query_string_that_is_not_utf8_is_a_400_not_a_500(ro_client):
    # raw bytes, not %-escaped: werkzeug cannot decode them as UTF-8
    r = ro_client.get("/api/v1/nearest", environ_overrides={"QUERY_STRING": "lat=\x80&lon=119.96"})
    check_error(r, 400, "lat", "number")
    assert ro_client.get("/", environ_overrides={"QUERY_STRING": "lang=\xff"}).status_code == 200
    assert ro_client.get("/api/v1/stations/%FF").status_code == 404


def test_at_in_1900_is_answered_in_rfc3339(ro_client):
    # Shanghai's offset before 1901 was +08:05:43 (local mean time): not writable in RFC 3339
    r = ro_client.get("/api/v1/nearest?lat=31.79&lon=119.96&at=1900-02-17T02:26:32%2B09:05")
    assert r.status_code == 200
    assert r.get_json()["query"]["at"] == "1900-02-16T17:21:32+00:00"


def test_every_405_names_the_allowed_methods(ro_app):
    """RFC 9110: a 405 carries Allow; the JSON error body must not lose the exception's headers."""
    client = ro_app.test_client()
    samples = {"station_id": "x", "adcode": "320404", "filename": "css/x.css", "name": "figures.csv",
               "token": "t", "user_id": "1", "username": "u"}
    checked = 0
    for rule in ro_app.url_map.iter_rules():
        url = rule.build(samples, append_unknown=False)[1] if rule.arguments <= set(samples) else None
        if url is None:
            continue
        for method in ("DELETE", "PUT", "PATCH", "POST", "GET"):
            if method in rule.methods:
                continue
            r = client.open(url, method=method)
            if r.status_code != 405:
                continue  # another rule answers this method at this URL
            checked += 1
            allowed = {m.strip() for m in r.headers.get("Allow", "").split(",") if m.strip()}
            assert allowed and method not in allowed, (method, url, r.headers)
    assert checked > 20
