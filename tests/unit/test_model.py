"""Station record, vocabularies, opening hours and validation."""

from datetime import date, datetime, timezone

import pytest

from stationmap.errors import ValidationError
from stationmap.model import KINDS, SERVICES, Station, validate, validate_record

REQUIRED_SERVICES = {"drinking_water", "hot_water", "toilet", "rest_seats", "heating", "cooling",
                     "phone_charging", "ebike_charging", "battery_swap", "microwave", "first_aid",
                     "legal_aid", "reading", "wifi"}


def test_vocabularies():
    assert set(KINDS) == {"rest", "hot_tea", "legal_aid"}
    assert REQUIRED_SERVICES <= set(SERVICES)
    for zh, en in SERVICES.values():
        assert zh and en


@pytest.mark.parametrize("hours,at,expected", [
    ("24/7", datetime(2026, 1, 1, 3, 0), True),
    ("Mo-Fr 08:00-12:00,14:00-18:00", datetime(2026, 11, 23, 9, 0), True),   # Monday morning
    ("Mo-Fr 08:00-12:00,14:00-18:00", datetime(2026, 11, 23, 13, 0), False),  # lunch break
    ("Mo-Fr 08:00-12:00,14:00-18:00", datetime(2026, 11, 22, 9, 0), False),   # Sunday
    ("Mo-Fr 08:00-18:00; Sa 09:00-12:00", datetime(2026, 11, 28, 10, 0), True),  # Saturday
    ("Nov-Mar 07:00-19:00", datetime(2026, 12, 15, 8, 0), True),   # winter: hot tea
    ("Nov-Mar 07:00-19:00", datetime(2026, 7, 15, 8, 0), False),   # summer: none
    ("Nov-Mar 07:00-19:00", datetime(2026, 12, 15, 20, 0), False),
])
def test_open_at(hours, at, expected):
    assert Station(id="x", name="x", lon=120.0, lat=31.0, opening_hours=hours).open_at(at) is expected


def test_open_at_uses_shanghai_time():
    s = Station(id="x", name="x", lon=120.0, lat=31.0, opening_hours="Mo-Su 08:00-09:00")
    # 00:30 UTC is 08:30 in Shanghai
    assert s.open_at(datetime(2026, 11, 23, 0, 30, tzinfo=timezone.utc))
    assert not s.open_at(datetime(2026, 11, 23, 8, 30, tzinfo=timezone.utc))


def test_open_answers_cached_per_minute_equal_the_parser():
    """hours_open keeps answers per (expression, minute); over random seconds, near every
    boundary, its answers equal opening-hours-py's, asked fresh each time."""
    import random
    from datetime import timedelta

    import opening_hours

    from stationmap.hours import hours_open

    exprs = ["Mo-Fr 08:00-18:00", "Mo-Su 07:30-11:59,13:01-20:00", "Sa,Su 10:00-16:00; PH off",
             "24/7", "Mo-Su 22:00-06:00", "Mo-Su sunrise-sunset"]
    rng = random.Random(4)
    t0 = datetime(2026, 11, 23, 0, 0)
    for _ in range(4000):
        expr = rng.choice(exprs)
        at = t0 + timedelta(minutes=rng.randrange(7 * 24 * 60), seconds=rng.choice([0, 1, 29, 59, 59.999]))
        assert hours_open(expr, at) == bool(opening_hours.OpeningHours(expr).is_open(at)), (expr, at)
    # the last second before closing is open, the first second of the closing minute is not
    assert hours_open("Mo-Su 08:00-18:00", datetime(2026, 11, 23, 17, 59, 59))
    assert not hours_open("Mo-Su 08:00-18:00", datetime(2026, 11, 23, 18, 0, 0))
    assert not hours_open("Mo-Su 08:00-18:00", datetime(2026, 11, 23, 18, 0, 30))


def test_not_active_is_never_open():
    for status in ("temporarily_closed", "closed"):
        assert not Station(id="x", name="x", lon=120.0, lat=31.0, status=status).open_at(datetime(2026, 1, 1, 12))


def test_validate_record_normalises_chinese_values():
    s, problems = validate_record({"name": "钟楼区邮政驿站", "lon": "119.93", "lat": "31.78", "kinds": "驿站、法律援助点",
                                   "services": "饮用水,微波炉；电动车充电", "status": "正常开放",
                                   "verified_at": "2026-10-01", "adcode": "320404"}, row=2)
    assert problems == []
    assert s.kinds == ("rest", "legal_aid")
    assert s.services == ("drinking_water", "microwave", "ebike_charging")
    assert s.status == "active" and s.verified_at == date(2026, 10, 1)


def test_validate_record_reports_every_problem_with_row_and_field():
    _, problems = validate_record({"name": " ", "lon": "abc", "lat": "31", "kinds": "bar",
                                   "services": "sauna", "opening_hours": "whenever", "adcode": "32"}, row=7)
    fields = {p.field for p in problems}
    assert fields == {"name", "lon", "kinds", "services", "opening_hours", "adcode"}
    assert all(p.row == 7 for p in problems)


@pytest.mark.parametrize("lon,lat,field,text", [
    (31.78, 119.95, "lat", "swapped"),
    (2.35, 48.85, "lon", "outside China"),
    (200, 31, "lon", "[-180, 180]"),
    (120, 95, "lat", "[-90, 90]"),
    ("inf", 31, "lon", "finite"),
])
def test_coordinate_problems(lon, lat, field, text):
    _, problems = validate_record({"name": "x", "lon": lon, "lat": lat, "kinds": "rest"}, row=3)
    assert len(problems) == 1 and problems[0].field == field and text in problems[0].message


def test_datum_is_converted_to_wgs84():
    from stationmap.coords import wgs84_to_gcj02
    glon, glat = wgs84_to_gcj02(119.95, 31.78)
    s = validate({"name": "x", "lon": glon, "lat": glat, "kinds": "rest"}, datum="gcj02")
    assert s.lon == pytest.approx(119.95, abs=1e-7) and s.lat == pytest.approx(31.78, abs=1e-7)


def test_validate_raises_with_all_messages():
    with pytest.raises(ValidationError, match="name is missing.*unknown kind"):
        validate({"name": "", "lon": 120, "lat": 31, "kinds": "bar"})


def test_dict_round_trip():
    s = Station(id="a", name="甲", lon=120.1, lat=31.2, kinds=("rest", "hot_tea"), services=("toilet",),
                verified_at=date(2026, 5, 1), source="sample")
    assert Station.from_dict(s.to_dict()) == s
    assert s.is_sample


@pytest.mark.parametrize("phone", [
    "0519-8888 8888", "+86 (519) 8888-8888", "12345转678", "13800138000", "0519-88888888 ext. 123",
    "0519-88888888x123", "0519-88888888-123", "（0519）88888888", "0519-88880001、13800138000", "12351", "",
])
def test_phone_numbers_accepted(phone):
    s, problems = validate_record({"name": "x", "lon": 119.95, "lat": 31.78, "kinds": "rest", "phone": phone})
    assert problems == [] and s.phone == phone


@pytest.mark.parametrize("phone", ["=1+1", "<script>", "abc", "+cmd|calc!A0", "@SUM(1)", "-123", "12"])
def test_phone_numbers_refused_naming_the_field(phone):
    s, problems = validate_record({"name": "x", "lon": 119.95, "lat": 31.78, "kinds": "rest", "phone": phone}, row=4)
    assert s is None and [(p.row, p.field) for p in problems] == [(4, "phone")]
    assert "phone must be a telephone number" in problems[0].message and repr(phone) in problems[0].message


def test_station_is_frozen_and_build_station_equals_the_constructor():
    import dataclasses

    from stationmap.model import build_station

    fields = dict(id="a", name="甲", lon=120.1, lat=31.2, kinds=("rest", "hot_tea"), services=("toilet",),
                  name_en="A", address="路1号", adcode="320404", host="union", operator="总工会", phone="1",
                  opening_hours="Mo-Fr 08:00-18:00", status="temporarily_closed",
                  verified_at=date(2026, 5, 1), source="sample", reopens_on=date(2027, 1, 4),
                  service_hours=(("toilet", "08:00-20:00"),), capacity=12)
    s = Station(**fields)
    built = build_station(**fields)
    assert type(built) is Station and built == s and hash(built) == hash(s)
    assert build_station(*(fields[f.name] for f in dataclasses.fields(Station))) == s
    for obj in (s, built):
        with pytest.raises(dataclasses.FrozenInstanceError):
            obj.name = "乙"
        assert not hasattr(obj, "__dict__")
    assert dataclasses.replace(built, name="乙").name == "乙" and built.name == "甲"
    with pytest.raises(TypeError):
        build_station(id="a", name="甲", lon=120.1, lat=31.2)  # every field, no defaults
    with pytest.raises(TypeError):
        build_station(**fields, colour="red")


@pytest.mark.parametrize("value,want", [("12", 12), (12, 12), (12.0, 12), (" 3 ", 3), ("", None), (None, None),
                                        ("10000", 10000), (float("nan"), None)])
def test_capacity_is_a_whole_number_of_people(value, want):
    st = validate({"name": "甲", "lon": 120.1, "lat": 31.2, "kinds": "rest", "capacity": value})
    assert st.capacity == want


@pytest.mark.parametrize("value", ["0", "-2", "2.5", "many", "10001", "1e9", "inf"])
def test_a_bad_capacity_is_a_problem_naming_the_field(value):
    st, problems = validate_record({"name": "甲", "lon": 120.1, "lat": 31.2, "kinds": "rest", "capacity": value},
                                   row=7)
    assert st is None and [(p.row, p.field) for p in problems] == [(7, "capacity")]
    assert "capacity must be a whole number of people from 1 to 10000" in problems[0].message
