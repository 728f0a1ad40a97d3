"""When a station (or a service of it) is open: hand-checked cases, and opening-hours-py's own
answers on random stations as the reference (issue 15)."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

import opening_hours
import pytest

from stationmap import hours
from stationmap.errors import ValidationError
from stationmap.hours import TZ, When, open_at, when
from stationmap.model import Station, parse_service_hours, validate_record


def st(hours_: str = "24/7", **kw) -> Station:
    return Station(id="t", name="测试", lon=119.95, lat=31.78, opening_hours=hours_, **kw)


def sh(y, mo, d, h=0, mi=0) -> datetime:
    return datetime(y, mo, d, h, mi, tzinfo=TZ)


# 2026-12-07 is a Monday (the first of December), 2026-12-10 a Thursday


@pytest.mark.parametrize("case, at, expected", [
    ("24/7", sh(2026, 12, 7, 3), When(True)),
    ("Mo-Su 08:00-20:00", sh(2026, 12, 7, 6, 30), When(False, opens_at=sh(2026, 12, 7, 8))),
    ("Mo-Su 08:00-20:00", sh(2026, 12, 7, 12), When(True, closes_at=sh(2026, 12, 7, 20))),
    ("Mo-Su 08:00-20:00", sh(2026, 12, 7, 20), When(False, opens_at=sh(2026, 12, 8, 8))),
    # overnight hours: open across midnight
    ("22:00-06:00", sh(2026, 12, 7, 23), When(True, closes_at=sh(2026, 12, 8, 6))),
    ("22:00-06:00", sh(2026, 12, 8, 2), When(True, closes_at=sh(2026, 12, 8, 6))),
    ("22:00-06:00", sh(2026, 12, 8, 6, 30), When(False, opens_at=sh(2026, 12, 8, 22))),
    # a season: hot tea Nov-Mar, asked in July and on the boundary
    ("Nov-Mar 07:00-19:00", sh(2026, 7, 15, 12), When(False, opens_at=sh(2026, 11, 1, 7))),
    ("Nov-Mar 07:00-19:00", sh(2026, 10, 31, 23, 59), When(False, opens_at=sh(2026, 11, 1, 7))),
    ("Nov-Mar 07:00-19:00", sh(2027, 3, 31, 18), When(True, closes_at=sh(2027, 3, 31, 19))),
    ("Nov-Mar 07:00-19:00", sh(2027, 3, 31, 19), When(False, opens_at=sh(2027, 11, 1, 7))),
    # weekdays only, asked on Saturday
    ("Mo-Fr 08:30-17:30", sh(2026, 12, 12, 10), When(False, opens_at=sh(2026, 12, 14, 8, 30))),
    # lunch break
    ("Mo-Fr 08:00-12:00,13:30-17:30", sh(2026, 12, 7, 11), When(True, closes_at=sh(2026, 12, 7, 12))),
    ("Mo-Fr 08:00-12:00,13:30-17:30", sh(2026, 12, 7, 12), When(False, opens_at=sh(2026, 12, 7, 13, 30))),
    # the first Monday of the month
    ("Mo[1] 09:00-12:00", sh(2026, 12, 7, 10), When(True, closes_at=sh(2026, 12, 7, 12))),
    ("Mo[1] 09:00-12:00", sh(2026, 12, 14, 10), When(False, opens_at=sh(2027, 1, 4, 9))),
    ("off", sh(2026, 12, 7, 10), When(False)),
])
def test_when_hand_checked(case, at, expected):
    assert when(st(case), at) == expected
    assert open_at(st(case), at) is expected.open_now


def test_a_closed_station_never_opens_and_a_temporarily_closed_one_opens_on_its_date():
    closed = st("Mo-Su 08:00-20:00", status="closed")
    assert when(closed, sh(2026, 12, 7, 12)) == When(False)
    paused = st("Mo-Su 08:00-20:00", status="temporarily_closed")
    assert when(paused, sh(2026, 12, 7, 12)) == When(False)  # no reopening date: not known
    reopening = st("Mo-Su 08:00-20:00", status="temporarily_closed", reopens_on=date(2027, 1, 4))
    assert when(reopening, sh(2026, 12, 7, 12)) == When(False, opens_at=sh(2027, 1, 4, 8))
    assert not reopening.open_at(sh(2027, 1, 3, 12))
    assert reopening.open_at(sh(2027, 1, 4, 12))  # from that date it counts as active again
    assert when(reopening, sh(2027, 1, 4, 12)) == When(True, closes_at=sh(2027, 1, 4, 20))
    always = st("24/7", status="temporarily_closed", reopens_on=date(2027, 1, 4))
    assert when(always, sh(2026, 12, 7, 12)) == When(False, opens_at=sh(2027, 1, 4, 0))


def test_service_hours_narrow_the_station_hours():
    s = st("Mo-Fr 08:30-17:30", services=("legal_aid", "toilet"),
           service_hours=(("legal_aid", "Th 14:00-17:00"),))
    mon = sh(2026, 12, 7, 10)
    assert open_at(s, mon) and open_at(s, mon, ["toilet"])  # the toilet follows the station
    assert not open_at(s, mon, ["legal_aid"])
    assert when(s, mon, ["legal_aid"]) == When(False, opens_at=sh(2026, 12, 10, 14))
    assert when(s, sh(2026, 12, 10, 15), ["legal_aid"]) == When(True, closes_at=sh(2026, 12, 10, 17))
    # both must be open: the lawyer's evening hours outside the station's give nothing that day
    late = st("Mo-Fr 08:30-17:30", services=("legal_aid",), service_hours=(("legal_aid", "Th 16:00-19:00"),))
    assert when(late, sh(2026, 12, 10, 17), ["legal_aid"]) == When(True, closes_at=sh(2026, 12, 10, 17, 30))
    assert when(late, sh(2026, 12, 10, 18), ["legal_aid"]) == When(False, opens_at=sh(2026, 12, 17, 16))
    monthly = st("Mo-Fr 08:30-17:30", services=("legal_aid",), service_hours=(("legal_aid", "Mo[1] 09:00-12:00"),))
    assert open_at(monthly, sh(2026, 12, 7, 10), ["legal_aid"])
    assert not open_at(monthly, sh(2026, 12, 14, 10), ["legal_aid"])
    assert when(monthly, sh(2026, 12, 14, 10), ["legal_aid"]).opens_at == sh(2027, 1, 4, 9)


def test_checkers_agree_with_open_at_on_the_sample_stations():
    from stationmap.io.sample import load_sample

    stations = load_sample()
    rng = random.Random(15)
    for _ in range(12):
        at = sh(2026, 1, 1) + timedelta(minutes=rng.randrange(2 * 365 * 24 * 60))
        for services in ((), ("legal_aid",), ("hot_water", "ebike_charging")):
            is_open, when_of = hours.open_checker(at, services), hours.when_checker(at, services)
            for s in stations:
                assert is_open(s) is open_at(s, at, services) is when_of(s).open_now, (s.id, at, services)


RULES = ["Mo-Fr 08:30-17:30", "Mo-Fr 08:00-12:00,13:30-17:30; Sa 09:00-12:00", "Mo-Su 08:00-20:00",
         "Mo-Fr 09:00-17:00; Sa,Su 09:00-16:00", "Nov-Mar 07:00-19:00", "Dec-Feb Mo-Su 06:30-18:30",
         "22:00-06:00", "Mo-Su 06:00-22:00", "Th 14:00-17:00", "Mo[1] 09:00-12:00", "Tu[2,4] 09:00-11:30",
         "Sa-Su 10:00-02:00", "Apr-Oct Mo-Fr 07:00-21:00; Nov-Mar Mo-Fr 08:00-18:00"]


def test_next_change_agrees_with_opening_hours_py_on_random_stations():
    """For one rule, open now / closes at / opens at are opening-hours-py's own state and next change."""
    rng = random.Random(7)
    for _ in range(400):
        rule = rng.choice(RULES)
        local = datetime(2026, 1, 1) + timedelta(minutes=rng.randrange(2 * 365 * 24 * 60))
        oh = opening_hours.OpeningHours(rule)
        w = when(st(rule), local.replace(tzinfo=TZ))
        nxt = oh.next_change(local)
        assert w.open_now is oh.is_open(local)
        got = w.closes_at if w.open_now else w.opens_at
        assert got == (nxt.replace(tzinfo=TZ) if nxt else None), (rule, local)


def test_opens_at_against_minute_by_minute_search():
    """Two rules together (a station's and a service's): the first open minute found by stepping."""
    rng = random.Random(11)
    for _ in range(40):
        a, b = rng.choice(RULES), rng.choice(RULES)
        s = st(a, services=("legal_aid",), service_hours=(("legal_aid", b),))
        local = datetime(2026, 1, 1) + timedelta(minutes=rng.randrange(365 * 24 * 60))
        w = when(s, local.replace(tzinfo=TZ), ["legal_aid"])
        oa, ob = opening_hours.OpeningHours(a), opening_hours.OpeningHours(b)
        t, step = local, timedelta(minutes=30)
        found = None
        while t < local + timedelta(days=70):
            if oa.is_open(t) and ob.is_open(t):
                found = t
                break
            t += step
        if w.open_now:
            assert found == local
        elif found is not None:
            # the true first opening is at or before the first half hour found, within 30 minutes
            assert w.opens_at is not None
            opened = w.opens_at.replace(tzinfo=None)
            assert found - step < opened <= found and oa.is_open(opened) and ob.is_open(opened), (a, b, local)


def test_service_hours_parse_from_text_json_and_chinese_names():
    assert parse_service_hours("legal_aid=Th 14:00-17:00 | 热水=Nov-Mar") == (
        ("hot_water", "Nov-Mar"), ("legal_aid", "Th 14:00-17:00"))
    assert parse_service_hours('{"ebike_charging": "08:00-22:00"}') == (("ebike_charging", "08:00-22:00"),)
    assert parse_service_hours("法律援助=Mo[1] 09:00-12:00\n电动车充电=Mo-Su 08:00-22:00") == (
        ("ebike_charging", "Mo-Su 08:00-22:00"), ("legal_aid", "Mo[1] 09:00-12:00"))
    assert parse_service_hours("legal_aid=Mo 10:00-12:00 || Tu off") == (("legal_aid", "Mo 10:00-12:00 || Tu off"),)
    assert parse_service_hours("") == ()
    for bad, words in (("legal_aid Th 14:00", "service=hours"), ("spa=Mo 10:00-12:00", "unknown service 'spa'"),
                       ("legal_aid=Thursday", "service_hours of legal_aid"), ("{not json", "not valid JSON")):
        with pytest.raises(ValidationError, match=words):
            parse_service_hours(bad)


def test_a_record_with_service_hours_for_a_service_it_lacks_is_a_problem():
    rec = {"name": "甲", "lon": 119.95, "lat": 31.78, "kinds": "rest", "services": "toilet",
           "service_hours": "legal_aid=Th 14:00-17:00", "reopens_on": "2027-01-04"}
    station, problems = validate_record(rec, row=3)
    assert station is None and [(p.row, p.field) for p in problems] == [(3, "service_hours")]
    assert "does not offer" in problems[0].message
    rec["services"] = "toilet, 法律援助"
    station, problems = validate_record(rec, row=3)
    assert problems == [] and station.service_hours == (("legal_aid", "Th 14:00-17:00"),)
    assert station.reopens_on == date(2027, 1, 4)
    rec["reopens_on"] = "next week"
    assert [p.field for p in validate_record(rec, row=3)[1]] == ["reopens_on"]


def test_a_service_whose_hours_first_meet_the_stations_months_ahead_opens_then():
    """The station's hours (daytime, but all day in winter) and the charger's (22:00-06:00) meet
    only from 1 December: found by stepping day by day through the rules' changes (64 steps gave
    up after a month and said it would not open within a year; issue 19's device evaluator found it)."""
    st = Station(id="x", name="x", lon=120.0, lat=31.0, opening_hours="Mar 17-Mar 06 Th-Sa 10:45-17:30; May,Dec-Feb",
                 service_hours=(("ebike_charging", "22:00-06:00"),))
    w = when(st, datetime(2027, 9, 14, 9, 1, tzinfo=TZ), ["ebike_charging"])
    assert w == When(False, opens_at=datetime(2027, 12, 1, 0, 0, tzinfo=TZ))
