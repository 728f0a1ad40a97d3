""""A station is needed here" pins in the library (no Flask): checks, one decision each, the
approved ones by district and by area, and as a demand layer; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
import shapely

from stationmap import station_requests as sr
from stationmap.errors import ConflictError, NotFoundError, ValidationError
from stationmap.store import StationStore

T0 = datetime(2026, 6, 1, 8, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def pg_server():
    from tests.support.postgres import temporary_postgres

    with temporary_postgres() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, db_url):
    if request.param == "sqlite":
        s = StationStore(db_url)
    else:
        from stationmap.schema import metadata

        s = StationStore(request.getfixturevalue("pg_server"))
        s.create_all()
        metadata.drop_all(s.engine)
    s.create_all()
    return s


@pytest.mark.parametrize("lon, lat, reason, field", [
    (None, 31.7, "x", "lon"), (119.9, "", "x", "lat"), ("nan", 31.7, "x", "lon"), (True, 31.7, "x", "lon"),
    (2.35, 48.85, "x", "lon"), (119.9, 31.7, "", "reason"), (119.9, 31.7, "   ", "reason"),
    (119.9, 31.7, None, "reason"), (119.9, 31.7, ["x"], "reason"), (119.9, 31.7, "字" * 201, "reason"),
])
def test_bad_pins_are_refused_naming_the_field(lon, lat, reason, field):
    with pytest.raises(ValidationError) as exc:
        sr.check_request(lon, lat, reason)
    assert exc.value.field == field


def test_a_reason_keeps_its_words_and_its_limit():
    assert sr.check_request("119.9", 31.7, "  骑手\n多   没有驿站 ") == (119.9, 31.7, "骑手 多 没有驿站")
    assert sr.check_request(119.9, 31.7, "字" * 200)[2] == "字" * 200


def test_one_decision_each_and_the_lists(store):
    a = sr.add_request(store, 119.93, 31.78, "钟楼", adcode="320404", at=T0)
    b = sr.add_request(store, 120.00, 31.80, "天宁", adcode="320402", at=T0 + timedelta(hours=1))
    c = sr.add_request(store, 119.94, 31.78, "钟楼二", adcode="320404", at=T0 + timedelta(hours=2))
    assert (a.status, a.decided_at, a.adcode) == ("pending", None, "320404")
    assert [p.id for p in sr.list_requests(store)] == [c.id, b.id, a.id]          # newest first
    assert [p.id for p in sr.list_requests(store, adcode_prefix="320404")] == [c.id, a.id]
    done = sr.decide_request(store, a.id, user="zl", decision="approved", at=T0 + timedelta(days=1))
    assert (done.status, done.decided_by, done.decided_at) == ("approved", "zl", T0 + timedelta(days=1))
    with pytest.raises(ConflictError, match="already decided"):
        sr.decide_request(store, a.id, user="zl", decision="rejected")
    sr.decide_request(store, c.id, user="zl", decision="rejected")
    with pytest.raises(ValidationError):
        sr.decide_request(store, b.id, user="zl", decision="pending")
    with pytest.raises(NotFoundError):
        sr.decide_request(store, 10_000, user="zl", decision="approved")
    with pytest.raises(NotFoundError):
        sr.get_request(store, 10_000)
    assert sr.get_request(store, a.id).status == "approved" and sr.get_request(store, c.id).status == "rejected"
    assert [p.id for p in sr.approved(store)] == [a.id]
    assert [p.id for p in sr.approved(store, "320402")] == []
    assert [p.id for p in sr.list_requests(store, statuses=("pending",))] == [b.id]
    assert a.to_dict()["position"] == {"lon": 119.93, "lat": 31.78}
    assert "decided_by" not in done.to_dict() and done.to_dict(who=True)["decided_by"] == "zl"


def test_approved_by_area_and_as_demand(store):
    inside = sr.add_request(store, 119.93, 31.78, "里面", adcode="320404")
    outside = sr.add_request(store, 119.99, 31.78, "外面", adcode="320402")
    for p in (inside, outside):
        sr.decide_request(store, p.id, user="cz", decision="approved")
    box = shapely.box(119.90, 31.75, 119.95, 31.80)
    assert [p.id for p in sr.approved_in(store, box)] == [inside.id]
    assert [p.id for p in sr.approved_in(store, None, "320402")] == [outside.id]   # no geometry: by district
    frame = sr.demand_frame(sr.approved_in(store, box), column="w")
    assert list(frame["w"]) == [1.0] and frame.crs.to_epsg() == 4326
    assert (frame.geometry.x[0], frame.geometry.y[0]) == (119.93, 31.78)
