"""The change feed over HTTP and the conditional /api/v1/stations (issue 18)."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from stationmap.model import Station

ZL = (119.93, 31.78)


def _st(i: int, **kw) -> Station:
    return Station(id=f"c-{i}", name=f"站{i}", lon=ZL[0] + i * 1e-4, lat=ZL[1], adcode="320404", kinds=("rest",), **kw)


@pytest.fixture
def app(make_web_app):
    return make_web_app([_st(i) for i in range(6)])


def _sync(client, copy: dict, cursor: int, rng: random.Random) -> int:
    while True:
        body = client.get(f"/api/v1/changes?since={cursor}&limit={rng.randint(1, 4)}").json
        for e in body["entries"]:
            if e["op"] == "upsert":
                copy[e["id"]] = e["station"]
            else:
                copy.pop(e["id"], None)
        assert body["next_url"].endswith(f"since={body['next']}&limit={body['next_url'].rsplit('=', 1)[1]}")
        cursor = body["next"]
        if not body["more"]:
            return cursor


def test_a_client_following_the_feed_over_http_has_the_public_stations(app, store):
    rng = random.Random(18)
    c = app.test_client()
    copy: dict = {}
    cursor = _sync(c, copy, 0, rng)
    for step in range(40):
        ids = sorted(store.ids())
        op = rng.choice(["create", "edit", "close", "delete", "import", "read"])
        if op == "create":
            store.insert(_st(100 + step))
        elif op == "edit" and ids:
            store.update(replace(store.get(rng.choice(ids)), phone=f"0519-{8000000 + step}"))
        elif op == "close" and ids:
            store.update(replace(store.get(rng.choice(ids)), status="closed"))
        elif op == "delete" and ids:
            store.delete(rng.choice(ids))
        elif op == "import":
            store.write_many([_st(i) for i in rng.sample(range(200), 5)], note="import")
        else:
            cursor = _sync(c, copy, cursor, rng)
    _sync(c, copy, cursor, rng)
    want = {s.id: s.to_dict() for s in store.all() if s.status != "closed"}
    assert copy == want and want
    # what the copy holds is what /api/v1/stations lists as not closed
    listed = c.get("/api/v1/stations?status=active&status=temporarily_closed&limit=10000").json
    assert sorted(f["id"] for f in listed["features"]) == sorted(copy)


@pytest.mark.parametrize("query", ["since=-1", "since=x", "limit=0", "limit=10001", "colour=red", "since=1&since=2"])
def test_bad_feed_queries_are_400(app, query):
    r = app.test_client().get(f"/api/v1/changes?{query}")
    assert r.status_code == 400 and r.json["error"]["field"] in ("since", "limit", "colour")


@pytest.mark.parametrize("extra", ["", "&at=2026-12-07T10:00:00%2B08:00"])
def test_stations_answer_etag_and_last_modified_and_304(app, store, extra):
    c = app.test_client()
    url = "/api/v1/stations?district=320404" + extra
    first = c.get(url)
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert first.status_code == 200 and etag.startswith('W/"r')
    again = c.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.data == b"" and again.headers["ETag"] == etag
    assert c.get(url, headers={"If-Modified-Since": modified}).status_code == 304
    assert c.get(url, headers={"If-None-Match": etag, "Accept-Encoding": "gzip"}).status_code == 304
    # another query is another resource
    assert c.get(url + "&kind=rest", headers={"If-None-Match": etag}).status_code == 200
    # a write: a new revision, a new ETag; the old one gets the new body
    store.update(replace(store.get("c-1"), name="改名"))
    changed = c.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200 and changed.headers["ETag"] != etag
    assert "改名" in changed.get_data(as_text=True)
    assert c.get(url, headers={"If-Modified-Since": "Mon, 01 Jan 2024 00:00:00 GMT"}).status_code == 200
    assert c.get(url, headers={"If-None-Match": changed.headers["ETag"]}).status_code == 304
