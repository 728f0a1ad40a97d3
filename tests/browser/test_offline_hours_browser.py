"""The device's hours evaluator (static/js/offline.js, ``stationmapOffline.hours.when``) run in
chromium agrees with the server's (:func:`stationmap.hours.when`, opening-hours-py) over many random
station records and moments: seasons (hot tea Nov-Mar), dates, nth weekdays, hours past midnight,
"off" rules, public holidays, services with their own hours, temporary closures with and without a
reopening date."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta

import pytest

from stationmap.errors import ValidationError
from stationmap.hours import TZ, parse_opening_hours, rfc3339, when
from stationmap.model import Station

_PROBE_START = datetime(2026, 1, 1)
MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
DAYS = ["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"]
SERVICE_HOURS = {"hot_water": ["Nov-Mar", "Dec-Feb 07:00-19:00"], "ebike_charging": ["Mo-Su 08:00-22:00", "22:00-06:00"],
                 "legal_aid": ["Tu[2,4] 09:00-11:30", "Mo[1] 09:00-12:00", "Th 14:00-17:00", "We[-1] 14:00-17:30"]}


def _months(r: random.Random) -> str:
    a, b = r.randrange(12), r.randrange(12)
    pick = r.randrange(5)
    if pick == 0:
        return MONTHS[a]
    if pick == 1:
        return f"{MONTHS[a]}-{MONTHS[b]}"
    if pick == 2:
        return f"{MONTHS[a]} {r.randint(1, 28):02d}-{MONTHS[b]} {r.randint(1, 28):02d}"
    if pick == 3:
        return f"{MONTHS[a]} {r.randint(1, 28):02d}"
    return f"{MONTHS[a]},{MONTHS[b]}-{MONTHS[(b + 2) % 12]}"


def _days(r: random.Random) -> str:
    parts = []
    for _ in range(r.choice([1, 1, 2])):
        pick = r.randrange(5)
        a, b = r.randrange(7), r.randrange(7)
        if pick == 0:
            parts.append(DAYS[a])
        elif pick in (1, 2):
            parts.append(f"{DAYS[a]}-{DAYS[b]}" if a != b else DAYS[a])
        elif pick == 3:
            nth = sorted(r.sample([1, 2, 3, 4, 5, -1, -2], r.choice([1, 2])))
            parts.append(f"{DAYS[a]}[{','.join(str(n) for n in nth)}]")
        else:
            parts.append("PH")
    return ",".join(dict.fromkeys(parts))


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _times(r: random.Random) -> str:
    spans = []
    for _ in range(r.choice([1, 1, 2])):
        pick = r.randrange(6)
        if pick == 0:  # past midnight
            s = r.randrange(18 * 60, 24 * 60, 30)
            e = r.randrange(60, 9 * 60, 30)
        elif pick == 1:
            s, e = 0, 24 * 60
        elif pick == 2:  # written past 24:00
            s = r.randrange(18 * 60, 23 * 60, 30)
            e = r.randrange(24 * 60 + 30, 30 * 60, 30)
        else:
            s = r.randrange(0, 22 * 60, 15)
            e = r.randrange(s + 15, 24 * 60 + 1, 15)
        spans.append(f"{_clock(s)}-{_clock(e)}")
    return ",".join(spans)


def _rule(r: random.Random, first: bool) -> str:
    parts = []
    if r.random() < 0.35:
        parts.append(_months(r))
    if r.random() < 0.7:
        parts.append(_days(r))
    if r.random() < 0.8 or not parts:
        times = _times(r)
        if "00:00-24:00" in times and not parts:  # all day every day: 24/7, below
            times = "08:00-18:00"
        parts.append(times)
    if not first and r.random() < 0.2:  # (a first rule "off" closes nothing: the records never write one)
        parts.append("off")
    return " ".join(parts)


def _hours(r: random.Random) -> str:
    """An expression of the forms the station records use; not one that is never open or always
    open written otherwise than 24/7 (opening-hours-py looks for their next change until the year
    10000, seconds each)."""
    if r.random() < 0.08:
        return "24/7"
    return "; ".join(_rule(r, i == 0) for i in range(r.choice([1, 1, 2, 3])))


def _record(r: random.Random, i: int) -> Station | None:
    hours = _hours(r)
    service_hours = tuple(sorted((s, r.choice(h)) for s, h in SERVICE_HOURS.items() if r.random() < 0.3))
    for h in [hours, *(h for _s, h in service_hours)]:
        try:
            oh = parse_opening_hours(h)
        except ValidationError:
            return None
        # never open, or always open written otherwise than 24/7: opening-hours-py looks for the next
        # change of such an expression until the year 10000 (seconds each); the records have 24/7
        states = {oh.is_open(_PROBE_START + timedelta(minutes=m)) for m in range(0, 366 * 24 * 60, 997)}
        if h != "24/7" and len(states) < 2:
            return None
    status = r.choices(["active", "temporarily_closed", "closed"], [8, 3, 1])[0]
    reopens = (date(2026, 12, 7) + timedelta(days=r.randint(-90, 200))) if status == "temporarily_closed" and \
        r.random() < 0.7 else None
    return Station(id=f"h{i}", name="x", lon=120.0, lat=31.0, opening_hours=hours, status=status, reopens_on=reopens,
                   service_hours=service_hours, kinds=("rest",))


def _cases(seed: int, n: int) -> list[tuple[Station, datetime, tuple[str, ...]]]:
    r = random.Random(seed)
    out: list[tuple[Station, datetime, tuple[str, ...]]] = []
    i = 0
    while len(out) < n:
        i += 1
        st = _record(r, i)
        if st is None:
            continue
        at = datetime(2026, 1, 1, tzinfo=TZ) + timedelta(minutes=r.randrange(0, 2 * 366 * 24 * 60))
        if r.random() < 0.3:  # on a rule's edge
            at = at.replace(minute=0)
        services = tuple(s for s, _h in st.service_hours if r.random() < 0.5)
        out.append((st, at, services))
    return out


def _props(st: Station) -> dict:
    return {"opening_hours": st.opening_hours, "service_hours": dict(st.service_hours), "status": st.status,
            "reopens_on": st.reopens_on.isoformat() if st.reopens_on else None}


@pytest.mark.parametrize("seed", [1, 2])
def test_the_device_evaluator_agrees_with_the_server_on_random_records(open_finder, seed):
    page, watch = open_finder("/")
    page.wait_for_function("window.stationmapOffline !== undefined")
    cases = _cases(seed, 1500)
    batch = [{"p": _props(st), "ms": int(at.timestamp() * 1000), "services": list(services)}
             for st, at, services in cases]
    got = page.evaluate("""(batch) => batch.map(c => stationmapOffline.hours.when(c.p, c.ms, c.services))""", batch)
    wrong = []
    for (st, at, services), g in zip(cases, got):
        w = when(st, at, services)
        want = {"open_now": w.open_now, "closes_at": rfc3339(w.closes_at), "opens_at": rfc3339(w.opens_at)}
        if g != want:
            wrong.append((st.opening_hours, dict(st.service_hours), st.status, st.reopens_on, services,
                          at.isoformat(), want, g))
    assert wrong == [], f"{len(wrong)} of {len(cases)} differ, e.g. {wrong[:5]}"


@pytest.mark.parametrize("expr", ["Mo-Fr 08:00-18:00; PH off", "Nov-Mar 07:00-19:00", "Mo-Su 22:00-06:00",
                                  "Tu[2,4] 09:00-11:30", "Dec 24-Jan 02 off", "24/7"])
def test_the_forms_the_records_use_are_all_read(open_finder, expr):
    page, _watch = open_finder("/")
    page.wait_for_function("window.stationmapOffline !== undefined")
    assert page.evaluate("(e) => stationmapOffline.hours.parse(e) !== null", expr)


@pytest.mark.parametrize("expr", ["Mo-Fr sunrise-sunset", "week 01-10 Mo 08:00-12:00", "Mo 08:00-12:00 || 09:00-10:00",
                                  'Mo 08:00-12:00 "by appointment"'])
def test_what_it_does_not_read_is_unknown_not_guessed(open_finder, expr):
    page, _watch = open_finder("/")
    page.wait_for_function("window.stationmapOffline !== undefined")
    assert page.evaluate("(e) => stationmapOffline.hours.when({opening_hours: e, status: 'active'}, 0, [])",
                         expr) is None
