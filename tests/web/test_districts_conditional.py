"""The conditional district collection (issue 18): ``/api/v1/districts`` answers ``ETag`` and
``Last-Modified`` and ``304 Not Modified``; a check-in, its resolution or a station write changes
them; every worker (app) gives the same ETag for the same data.  The per-district station
collections (``/api/v1/stations?district=``) are tested in test_changes_api.py."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime, parsedate_to_datetime

import pytest

from stationmap import reports
from stationmap.model import Station

ZL = (119.93, 31.78)
URL = "/api/v1/districts"


def _stations():
    return [Station(id=f"d-{i}", name=f"站{i}", lon=ZL[0] + i * 1e-4, lat=ZL[1], adcode="320404", kinds=("rest",))
            for i in range(3)]


@pytest.fixture
def app(make_web_app):
    return make_web_app(_stations())


def _assert_not_modified(c, etag, modified):
    again = c.get(URL, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == etag
    assert c.get(URL, headers={"If-Modified-Since": modified}).status_code == 304
    assert c.get(URL, headers={"If-None-Match": etag, "Accept-Encoding": "gzip"}).status_code == 304


def test_districts_answer_etag_last_modified_and_304(app, store):
    c = app.test_client()
    first = c.get(URL)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert first.status_code == 200 and etag.startswith('W/"d-') and first.json["districts"]
    _assert_not_modified(c, etag, modified)
    # a check-in changes the freshness figures: a new ETag, a later Last-Modified
    rid = reports.add_report(store, "d-1", "locked").id
    after = c.get(URL, headers={"If-None-Match": etag})
    assert after.status_code == 200 and after.headers["ETag"] != etag
    row = next(r for r in after.json["districts"] if r["adcode"] == "320404")
    assert row["freshness"]["open_problems"] == 1
    assert parsedate_to_datetime(after.headers["Last-Modified"]) >= parsedate_to_datetime(modified)
    _assert_not_modified(c, after.headers["ETag"], after.headers["Last-Modified"])
    # its resolution too
    tag = after.headers["ETag"]
    reports.resolve_report(store, rid, user="zl", resolution="fixed")
    resolved = c.get(URL, headers={"If-None-Match": tag})
    assert resolved.status_code == 200 and resolved.headers["ETag"] != tag
    # and a station's write
    tag = resolved.headers["ETag"]
    store.update(replace(store.get("d-2"), kinds=("rest", "hot_tea")))
    written = c.get(URL, headers={"If-None-Match": tag})
    assert written.status_code == 200 and written.headers["ETag"] != tag
    # an old date is older than the data
    assert c.get(URL, headers={"If-Modified-Since": "Mon, 01 Jan 2024 00:00:00 GMT"}).status_code == 200


def test_last_modified_is_no_earlier_than_today_in_shanghai(app):
    """The figures count days: at midnight (Asia/Shanghai) they may change with no write."""
    r = app.test_client().get(URL)
    today = reports.today_shanghai()
    start = datetime.combine(today, datetime.min.time(), tzinfo=reports.TZ).astimezone(timezone.utc)
    assert parsedate_to_datetime(r.headers["Last-Modified"]) >= start.replace(microsecond=0)
    yesterday = format_datetime(start.replace(microsecond=0) - timedelta(seconds=1), usegmt=True)
    assert app.test_client().get(URL, headers={"If-Modified-Since": yesterday}).status_code == 200


def test_every_worker_gives_the_same_etag(app, store, tmp_path):
    """Two apps over one database (two gunicorn workers): the ETag is the answer's, not the process's."""
    from stationmap.web import create_app

    other = create_app({"database_url": str(store.engine.url), "instance_path": str(tmp_path / "w2"),
                        "TESTING": True})   # the same database
    reports.add_report(store, "d-0", "open_ok")
    a, b = app.test_client().get(URL), other.test_client().get(URL)
    assert a.json == b.json
    assert a.headers["ETag"] == b.headers["ETag"]
    assert other.test_client().get(URL, headers={"If-None-Match": a.headers["ETag"]}).status_code == 304


def test_the_openapi_document_says_so(app):
    doc = app.test_client().get("/api/v1/openapi.json").json
    got = doc["paths"]["/api/v1/districts"]["get"]["responses"]
    assert "304" in got and {"ETag", "Last-Modified"} <= set(got["200"]["headers"])
