"""Worker reports: recording, recent window, the needs-a-visit list, verification."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from stationmap import reports
from stationmap.errors import NotFoundError, ValidationError
from stationmap.store import StationStore

T0 = datetime(2024, 6, 1, 8, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="module")
def pg_server():
    from tests.support.postgres import temporary_postgres

    with temporary_postgres() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, db_url, make_station):
    """The same tests on SQLite (the default) and on a real PostgreSQL server."""
    if request.param == "sqlite":
        s = StationStore(db_url)
    else:
        from stationmap.schema import metadata

        s = StationStore(request.getfixturevalue("pg_server"))
        s.create_all()
        metadata.drop_all(s.engine)
    s.create_all()
    s.write_many([
        make_station(id="zl-1", adcode="320404"),
        make_station(id="zl-2", adcode="320404"),
        make_station(id="tn-1", adcode="320402"),
        make_station(id="sz-1", adcode="320505", lon=120.6, lat=31.3),
    ], user="seed")
    return s


def test_add_and_recent(store):
    reports.add_report(store, "zl-1", "open_ok", at=T0 - timedelta(days=40))
    r1 = reports.add_report(store, "zl-1", "locked", at=T0 - timedelta(days=2))
    r2 = reports.add_report(store, "zl-1", "not_found", at=T0 - timedelta(hours=1))
    reports.add_report(store, "zl-2", "closed_when_open", at=T0)
    got = reports.recent_reports(store, "zl-1", now=T0)
    assert [r.id for r in got] == [r2.id, r1.id]  # newest first, the 40-day-old one is out
    assert got[0].at == T0 - timedelta(hours=1) and got[0].at.tzinfo is not None
    assert all(r.is_open for r in got)
    assert reports.report_counts(got) == {"open_ok": 0, "locked": 1, "not_found": 1, "closed_when_open": 0, "moved": 0, "service_missing": 0, "info_wrong": 0}
    assert len(reports.recent_reports(store, "zl-1", now=T0, days=60)) == 3


def test_bad_reports(store):
    with pytest.raises(ValidationError) as exc:
        reports.add_report(store, "zl-1", "on_fire")
    assert "'on_fire'" in exc.value.message and exc.value.field == "outcome"
    with pytest.raises(NotFoundError):
        reports.add_report(store, "nope", "open_ok")


def test_needs_visit_by_district_prefix(store):
    reports.add_report(store, "zl-1", "locked", at=T0 - timedelta(days=3))
    reports.add_report(store, "zl-1", "locked", at=T0 - timedelta(days=1))
    reports.add_report(store, "zl-2", "open_ok", at=T0)                      # fine: not a problem
    reports.add_report(store, "tn-1", "closed_when_open", at=T0 - timedelta(hours=2))
    reports.add_report(store, "sz-1", "not_found", at=T0 - timedelta(days=45))  # old, still open
    items = reports.needs_visit(store, now=T0, days=30)
    assert [i.station.id for i in items] == ["tn-1", "zl-1"]  # most recently reported first
    assert items[1].counts == {"locked": 2, "not_found": 0, "closed_when_open": 0, "moved": 0, "service_missing": 0, "info_wrong": 0}
    assert items[1].latest == T0 - timedelta(days=1)
    assert [i.station.id for i in reports.needs_visit(store, adcode_prefix="320404", now=T0)] == ["zl-1"]
    assert [i.station.id for i in reports.needs_visit(store, adcode_prefix="3204", now=T0)] == ["tn-1", "zl-1"]
    assert reports.needs_visit(store, adcode_prefix="3205", now=T0, days=30) == []
    assert [i.station.id for i in reports.needs_visit(store, adcode_prefix="3205", now=T0)] == ["sz-1"]


def test_verify_sets_shanghai_date_records_history_and_resolves(store):
    reports.add_report(store, "zl-1", "closed_when_open", at=T0 - timedelta(hours=3))
    # 17:30 UTC on 1 June is 01:30 on 2 June in Shanghai (UTC+8, no DST)
    at = datetime(2024, 6, 1, 17, 30, tzinfo=timezone.utc)
    st = reports.verify_station(store, "zl-1", user="zl-editor", now=at)
    assert st.verified_at == date(2024, 6, 2)
    assert store.get("zl-1").verified_at == date(2024, 6, 2)
    h = store.history("zl-1")[0]
    assert h["user"] == "zl-editor" and h["before"]["verified_at"] is None
    assert h["after"]["verified_at"] == "2024-06-02" and "verified" in h["note"]
    assert reports.needs_visit(store, now=T0) == []
    r = reports.recent_reports(store, "zl-1", now=T0)[0]
    assert not r.is_open and r.resolved_by == "zl-editor"
    # a report after the verification opens the station again
    reports.add_report(store, "zl-1", "locked", at=at + timedelta(minutes=5))
    assert [i.station.id for i in reports.needs_visit(store, now=at + timedelta(hours=1))] == ["zl-1"]
    with pytest.raises(NotFoundError):
        reports.verify_station(store, "nope", user="x")


def test_today_shanghai_boundaries():
    assert reports.today_shanghai(datetime(2024, 1, 1, 15, 59, tzinfo=timezone.utc)) == date(2024, 1, 1)
    assert reports.today_shanghai(datetime(2024, 1, 1, 16, 0, tzinfo=timezone.utc)) == date(2024, 1, 2)


def test_stale_stations(make_station):
    today = date(2024, 6, 1)
    sts = [
        make_station(id="a", verified_at=date(2024, 5, 1)),
        make_station(id="b", verified_at=date(2023, 5, 1)),
        make_station(id="c"),
        make_station(id="d", verified_at=date(2022, 1, 1), status="closed"),
        make_station(id="e", verified_at=date(2023, 6, 2)),  # 365 days ago: not yet stale at 365
        make_station(id="f", verified_at=date(2022, 1, 1)),  # verified long ago, but a worker confirmed it
    ]
    fresh = {s.id: reports.freshness_of(s.verified_at, None) for s in sts}
    fresh["f"] = reports.freshness_of(date(2022, 1, 1), datetime(2024, 5, 30, 2, 0, tzinfo=timezone.utc))
    assert [s.id for s in reports.stale_stations(sts, fresh, today=today, max_age_days=365)] == ["c", "b"]
    assert [s.id for s in reports.stale_stations(sts, fresh, today=today)] == ["c", "b", "e"]  # 180 days


# -- one device's identical report is counted once (issue 20) ---------------------------------

SECRET = "instance secret"


def _stored(store, station_id):
    """(kind, reporter key) of the station's stored reports, oldest first, read with plain SQL."""
    import sqlalchemy as sa

    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "SELECT kind, reporter FROM station_reports WHERE station_id = :s ORDER BY id"), {"s": station_id})]


def test_the_same_report_of_one_device_within_the_window_is_counted_once(store):
    from stationmap.config import REPORT_REPEAT_MINUTES

    key = reports.reporter_key(SECRET, "203.0.113.7", "zl-1", "closed_when_open")
    first = reports.add_report(store, "zl-1", "closed_when_open", at=T0, reporter=key)
    again = reports.add_report(store, "zl-1", "closed_when_open", at=T0 + timedelta(minutes=REPORT_REPEAT_MINUTES - 1),
                               reporter=key)
    assert not first.repeat and again.repeat and again.id == first.id
    assert _stored(store, "zl-1") == [("closed_when_open", key)]
    # another device, another kind, another station: each counted
    other = reports.reporter_key(SECRET, "203.0.113.8", "zl-1", "closed_when_open")
    assert not reports.add_report(store, "zl-1", "closed_when_open", at=T0 + timedelta(minutes=2), reporter=other).repeat
    ok_key = reports.reporter_key(SECRET, "203.0.113.7", "zl-1", "open_ok")
    assert not reports.add_report(store, "zl-1", "open_ok", at=T0 + timedelta(minutes=3), reporter=ok_key).repeat
    zl2 = reports.reporter_key(SECRET, "203.0.113.7", "zl-2", "closed_when_open")
    assert not reports.add_report(store, "zl-2", "closed_when_open", at=T0 + timedelta(minutes=3), reporter=zl2).repeat
    assert [k for k, _r in _stored(store, "zl-1")] == ["closed_when_open", "closed_when_open", "open_ok"]
    # after the window the same device's report counts again, and the keys of the window before are erased
    later = reports.add_report(store, "zl-1", "closed_when_open", at=T0 + timedelta(minutes=REPORT_REPEAT_MINUTES + 5),
                               reporter=key)
    assert not later.repeat
    assert _stored(store, "zl-1") == [("closed_when_open", ""), ("closed_when_open", ""), ("open_ok", ""), ("closed_when_open", key)]
    assert len(reports.recent_reports(store, "zl-1", now=T0 + timedelta(hours=1))) == 4


def test_reports_without_a_reporter_key_are_each_counted(store):
    for _ in range(3):
        assert not reports.add_report(store, "tn-1", "open_ok", at=T0).repeat
    assert len(_stored(store, "tn-1")) == 3


def test_reporter_key_keeps_no_address():
    key = reports.reporter_key(SECRET, "203.0.113.7", "zl-1", "closed_when_open")
    assert len(key) == 32 and "203" not in key and int(key, 16) >= 0
    assert key == reports.reporter_key(SECRET.encode(), "203.0.113.7", "zl-1", "closed_when_open")
    assert len({key, reports.reporter_key("another secret", "203.0.113.7", "zl-1", "closed_when_open"),
                reports.reporter_key(SECRET, "203.0.113.7", "zl-2", "closed_when_open"),
                reports.reporter_key(SECRET, "203.0.113.7", "zl-1", "open_ok")}) == 4
    assert reports.reporter_key(SECRET, "", "zl-1", "closed_when_open") == ""


# -- check-ins: outcomes with details, items resolved and kept (issue 18) -----------------------

def test_every_outcome_keeps_its_details(store):
    from stationmap.errors import ConflictError

    d = {
        "open_ok": {}, "closed_when_open": {}, "locked": {"note": "铁门锁着"}, "not_found": {},
        "moved": {"lon": 119.95, "lat": 31.79}, "service_missing": {"service": "hot_water"},
        "info_wrong": {"note": "电话打不通"},
    }
    assert set(d) == set(reports.REPORT_KINDS)
    for i, (kind, details) in enumerate(d.items()):
        reports.add_report(store, "zl-1", kind, at=T0 + timedelta(minutes=i),
                           details=reports.check_details(kind, **details))
    got = {r.kind: r for r in reports.recent_reports(store, "zl-1", now=T0)}
    assert (got["moved"].lon, got["moved"].lat) == (119.95, 31.79)
    assert got["service_missing"].service == "hot_water" and got["info_wrong"].note == "电话打不通"
    assert got["locked"].note == "铁门锁着" and got["open_ok"].service == "" and got["open_ok"].lon is None
    assert sorted(k for k, r in got.items() if r.is_open) == sorted(k for k in d if k != "open_ok")
    # an editor resolves one item; the check-in itself stays as it was, and a second resolution is refused
    done = reports.resolve_report(store, got["locked"].id, user="zl-editor", resolution="fixed", at=T0)
    assert (done.resolution, done.resolved_by, done.note, done.kind) == ("fixed", "zl-editor", "铁门锁着", "locked")
    with pytest.raises(ConflictError):
        reports.resolve_report(store, got["locked"].id, user="other", resolution="not_a_problem")
    with pytest.raises(ConflictError):  # open_ok is no item
        reports.resolve_report(store, got["open_ok"].id, user="zl-editor", resolution="fixed")
    with pytest.raises(NotFoundError):
        reports.resolve_report(store, 10**6, user="zl-editor", resolution="fixed")
    with pytest.raises(ValidationError):
        reports.resolve_report(store, got["moved"].id, user="zl-editor", resolution="ignored")
    assert len(reports.open_items(store, ["zl-1"])) == 5
    # verify resolves the rest as not a problem; every check-in is still there
    reports.verify_station(store, "zl-1", user="zl-editor", now=T0)
    after = reports.recent_reports(store, "zl-1", now=T0)
    assert len(after) == 7 and reports.open_items(store) == []
    assert {r.kind: r.resolution for r in after if r.is_problem} == {
        "locked": "fixed", "closed_when_open": "not_a_problem", "not_found": "not_a_problem",
        "moved": "not_a_problem", "service_missing": "not_a_problem", "info_wrong": "not_a_problem"}


@pytest.mark.parametrize(("kind", "details", "field"), [
    ("service_missing", {}, "service"),
    ("service_missing", {"service": "jacuzzi"}, "service"),
    ("moved", {}, "lon"),
    ("moved", {"lon": 119.9}, "lat"),
    ("moved", {"lon": "east", "lat": 31.7}, "lon"),
    ("moved", {"lon": "nan", "lat": 31.7}, "lon"),
    ("moved", {"lon": 2.35, "lat": 48.85}, "lon"),   # Paris: outside China
    ("info_wrong", {}, "note"),
    ("info_wrong", {"note": "   "}, "note"),
    ("info_wrong", {"note": "字" * 501}, "note"),
    ("open_ok", {"note": 5}, "note"),
    ("teleported", {}, "outcome"),
])
def test_bad_details_name_their_field(kind, details, field):
    with pytest.raises(ValidationError) as exc:
        reports.check_details(kind, **details)
    assert exc.value.field == field


def test_details_another_outcome_does_not_use_are_dropped():
    d = reports.check_details("open_ok", service="hot_water", lon=119.9, lat=31.7, note=" ok ")
    assert d == reports.CheckinDetails(note="ok")
    assert reports.check_details("info_wrong", note="字" * 500).note == "字" * 500


# -- freshness (issue 18) ---------------------------------------------------------------------------

def test_freshness_is_the_later_of_check_in_and_verification_in_words():
    today = date(2024, 6, 1)
    ok = datetime(2024, 5, 29, 17, 0, tzinfo=timezone.utc)   # 30 May 01:00 in Shanghai
    f = reports.freshness_of(date(2024, 4, 1), ok)
    assert (f.on, f.by, f.age_days(today)) == (date(2024, 5, 30), "checkin", 2)
    assert f.words("zh", today) == "2 天前骑手确认正常" and f.words("en", today) == "confirmed open by a worker 2 days ago"
    f = reports.freshness_of(date(2024, 3, 20), datetime(2024, 1, 1, tzinfo=timezone.utc), open_problems=2)
    assert (f.on, f.by) == (date(2024, 3, 20), "district")
    assert f.words("zh", today) == "2 个月前区工会核实" and f.words("en", today) == "verified by the district 2 months ago"
    assert f.problem_words("zh") == "有 2 个待处理的问题反馈" and f.problem_words("en") == "2 open problems reported"
    same_day = reports.freshness_of(date(2024, 5, 30), ok)
    assert same_day.by == "checkin"
    never = reports.freshness_of(None, None)
    assert never.words("zh", today) == "从未确认" and never.age_days(today) is None and never.problem_words("en") == ""
    assert [reports.age_words(d, "en") for d in (0, 1, 5, 31, 45, 61, 365, 800)] == [
        "today", "yesterday", "5 days ago", "1 month ago", "1 month ago", "2 months ago", "1 year ago", "2 years ago"]
    assert reports.age_words(0, "zh") + "骑手确认正常" == reports.freshness_of(None, ok).words("zh", date(2024, 5, 30))


def test_freshness_many_reads_the_stored_check_ins(store):
    reports.add_report(store, "zl-1", "open_ok", at=T0 - timedelta(days=3))
    reports.add_report(store, "zl-1", "open_ok", at=T0 - timedelta(days=1))
    reports.add_report(store, "zl-1", "locked", at=T0)
    r = reports.add_report(store, "tn-1", "not_found", at=T0)
    reports.resolve_report(store, r.id, user="tn", resolution="fixed")
    fresh = reports.freshness_many(store, store.all())
    assert fresh["zl-1"] == reports.Freshness(date(2024, 5, 31), "checkin", 1)
    assert fresh["tn-1"] == reports.Freshness(None, "", 0) and fresh["sz-1"].open_problems == 0
    assert reports.freshness(store, store.get("zl-1")) == fresh["zl-1"]
