"""Hours as editors type them (:func:`stationmap.hours.normalize_hours`) and hours in words
(:func:`stationmap.hours.hours_words`), issue 20.

Each typed form is checked against opening-hours-py: the normalised OSM must parse, and at many
random moments its open/closed state must equal what the Chinese text means, written here
independently as a Python predicate of the local time.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable
from datetime import datetime, timedelta

import opening_hours
import pytest

from stationmap.errors import ValidationError
from stationmap.hours import hours_words, normalize_hours
from stationmap.model import parse_service_hours, validate_record


def hm(t: datetime) -> int:
    return t.hour * 60 + t.minute


#: (typed, the OSM expected, what it means: open at local time t)
CASES: list[tuple[str, str, Callable[[datetime], bool]]] = [
    ("周一至周五 9:00-17:00", "Mo-Fr 09:00-17:00", lambda t: t.weekday() < 5 and 9 * 60 <= hm(t) < 17 * 60),
    ("每天 8:00-20:00", "08:00-20:00", lambda t: 8 * 60 <= hm(t) < 20 * 60),
    ("24小时", "24/7", lambda t: True),
    ("全天", "24/7", lambda t: True),
    ("7×24小时", "24/7", lambda t: True),
    ("工作日", "Mo-Fr", lambda t: t.weekday() < 5),
    ("周一到周五 8:30-17:30", "Mo-Fr 08:30-17:30", lambda t: t.weekday() < 5 and 510 <= hm(t) < 1050),
    ("周一至五 9-17", "Mo-Fr 09:00-17:00", lambda t: t.weekday() < 5 and 540 <= hm(t) < 1020),
    ("周末 10:00-16:00", "Sa,Su 10:00-16:00", lambda t: t.weekday() >= 5 and 600 <= hm(t) < 960),
    ("周六日 9:00-17:00", "Sa,Su 09:00-17:00", lambda t: t.weekday() >= 5 and 540 <= hm(t) < 1020),
    ("8:00—20:00", "08:00-20:00", lambda t: 480 <= hm(t) < 1200),
    ("８：００－２０：００", "08:00-20:00", lambda t: 480 <= hm(t) < 1200),
    ("开放时间：每天 8：00～20：00", "08:00-20:00", lambda t: 480 <= hm(t) < 1200),
    ("上午8点-下午6点", "08:00-18:00", lambda t: 480 <= hm(t) < 1080),
    ("下午2点半-6点", "14:30-18:00", lambda t: 870 <= hm(t) < 1080),
    ("11月-3月 7:00-19:00", "Nov-Mar 07:00-19:00", lambda t: t.month in (11, 12, 1, 2, 3) and 420 <= hm(t) < 1140),
    ("11月至次年3月", "Nov-Mar", lambda t: t.month in (11, 12, 1, 2, 3)),
    ("11月1日-3月31日 每天 7:00-19:00", "Nov 01-Mar 31 07:00-19:00",
     lambda t: t.month in (11, 12, 1, 2, 3) and 420 <= hm(t) < 1140),
    ("周一至周五 9:00-17:00；周六 10:00-14:00", "Mo-Fr 09:00-17:00; Sa 10:00-14:00",
     lambda t: (t.weekday() < 5 and 540 <= hm(t) < 1020) or (t.weekday() == 5 and 600 <= hm(t) < 840)),
    ("周一至周五 9:00-17:00，周六 10:00-14:00", "Mo-Fr 09:00-17:00; Sa 10:00-14:00",
     lambda t: (t.weekday() < 5 and 540 <= hm(t) < 1020) or (t.weekday() == 5 and 600 <= hm(t) < 840)),
    ("每天 8:00-20:00，周一休息", "08:00-20:00; Mo off", lambda t: t.weekday() != 0 and 480 <= hm(t) < 1200),
    ("周一至周五 9:00-12:00，14:00-18:00", "Mo-Fr 09:00-12:00,14:00-18:00",
     lambda t: t.weekday() < 5 and (540 <= hm(t) < 720 or 840 <= hm(t) < 1080)),
    # the same days' second span, after ；, adds to the first (as people mean it)
    ("周一至周五 9:00-12:00；14:00-18:00", "Mo-Fr 09:00-12:00,14:00-18:00",
     lambda t: t.weekday() < 5 and (540 <= hm(t) < 720 or 840 <= hm(t) < 1080)),
    ("周一、周三、周五 9点半-17点", "Mo,We,Fr 09:30-17:00",
     lambda t: t.weekday() in (0, 2, 4) and 570 <= hm(t) < 1020),
    ("每月第一个周一 9:00-12:00", "Mo[1] 09:00-12:00",
     lambda t: t.weekday() == 0 and t.day <= 7 and 540 <= hm(t) < 720),
    ("每月最后一个周五", "Fr[-1]", lambda t: t.weekday() == 4 and (t + timedelta(days=7)).month != t.month),
    ("22:00-次日6:00", "22:00-06:00", lambda t: hm(t) >= 1320 or hm(t) < 360),
    ("全年无休", "24/7", lambda t: True),
]


def moments(n: int, seed: int) -> list[datetime]:
    rng = random.Random(seed)
    start = datetime(2026, 1, 1)
    return [start + timedelta(minutes=rng.randrange(0, 2 * 366 * 24 * 60)) for _ in range(n)]


@pytest.mark.parametrize("typed, osm, means", CASES, ids=[c[0] for c in CASES])
def test_typed_hours_normalise_to_osm_that_means_the_same(typed, osm, means):
    out = normalize_hours(typed)
    assert out == osm
    rule = opening_hours.OpeningHours(out)
    wrong = [t for t in moments(600, zlib.crc32(typed.encode())) if bool(rule.is_open(t)) != means(t)]
    assert not wrong, f"{typed!r} -> {out!r} disagrees at {wrong[:3]}"


@pytest.mark.parametrize("osm", ["Mo-Fr 08:00-18:00", "Mo-Fr 08:00-18:00; PH off", "24/7", "Nov-Mar",
                                 "sunrise-sunset", "Mo-Su 07:00-22:00"])
def test_osm_syntax_is_kept_as_typed(osm):
    assert normalize_hours(osm) == osm


def test_holidays_and_weekends_in_one_rule():
    assert normalize_hours("周一至周五 8:30-17:30，周末及节假日 9:00-16:00") == "Mo-Fr 08:30-17:30; Sa,Su,PH 09:00-16:00"
    assert normalize_hours("法定节假日休息") == "PH off"


@pytest.mark.parametrize("typed, named", [
    ("随时", "随时"),
    ("有空就开", "有空就开"),
    ("周八 9:00-17:00", "周八"),
    ("13月", "13月"),
    ("周一 9:00-9:00", "9:00-9:00"),
    ("每天 8:00-20:00 看情况", "看情况"),
    ("whenever", "whenever"),
    ("25:00-26:00", "25:00-26:00"),
])
def test_refusals_name_what_was_not_understood(typed, named):
    with pytest.raises(ValidationError) as ei:
        normalize_hours(typed)
    assert named in ei.value.message and ei.value.field == "opening_hours"


def test_empty_hours_are_refused():
    with pytest.raises(ValidationError):
        normalize_hours("  ")


def test_an_import_row_and_service_hours_are_stored_normalised():
    fields, problems = validate_record({"name": "驿站", "lon": 119.95, "lat": 31.78, "kinds": "rest",
                                        "services": "legal_aid", "opening_hours": "每天 8:00-20:00",
                                        "service_hours": "法律援助=周四 14:00-17:00"})
    assert not problems and fields is not None
    assert fields.opening_hours == "08:00-20:00"
    assert fields.service_hours == (("legal_aid", "Th 14:00-17:00"),)
    assert parse_service_hours("hot_water=11月-3月") == (("hot_water", "Nov-Mar"),)
    _f, problems = validate_record({"name": "驿站", "lon": 119.95, "lat": 31.78, "kinds": "rest",
                                    "opening_hours": "看心情"})
    assert [(p.field, "看心情" in p.message) for p in problems] == [("opening_hours", True)]


# -- in words -----------------------------------------------------------------------------

@pytest.mark.parametrize("osm, zh, en", [
    ("Mo-Fr 08:00-18:00", "周一至周五 8:00–18:00", "Mon–Fri 8:00–18:00"),
    ("24/7", "24 小时", "24 hours"),
    ("", "24 小时", "24 hours"),
    ("08:00-20:00", "每天 8:00–20:00", "Daily 8:00–20:00"),
    ("Nov-Mar 07:00-19:00", "11月–3月 每天 7:00–19:00", "Nov–Mar daily 7:00–19:00"),
    ("Nov-Mar", "11月–3月 全天", "Nov–Mar all day"),
    ("Nov 01-Mar 31 07:00-19:00", "11月1日–3月31日 每天 7:00–19:00", "1 Nov–31 Mar daily 7:00–19:00"),
    ("Mo[1]", "每月第一个周一 全天", "First Monday of the month all day"),
    ("Mo[1] 09:00-12:00", "每月第一个周一 9:00–12:00", "First Monday of the month 9:00–12:00"),
    ("Fr[-1] off", "每月最后一个周五 休息", "Last Friday of the month closed"),
    ("08:00-20:00; Mo off", "每天 8:00–20:00；周一 休息", "Daily 8:00–20:00; Mon closed"),
    ("Mo-Fr 08:30-17:30; Sa,Su,PH 09:00-16:00", "周一至周五 8:30–17:30；周六、周日、法定节假日 9:00–16:00",
     "Mon–Fri 8:30–17:30; Sat, Sun, public holidays 9:00–16:00"),
    ("Mo-Sa 09:00-12:00,14:00-20:00", "周一至周六 9:00–12:00、14:00–20:00", "Mon–Sat 9:00–12:00, 14:00–20:00"),
    ("22:00-06:00", "每天 22:00–次日 6:00", "Daily 22:00–6:00 next day"),
    ("Mo 00:00-24:00", "周一 24 小时", "Mon 24 hours"),
])
def test_hours_in_words(osm, zh, en):
    assert hours_words(osm, "zh") == zh
    assert hours_words(osm, "en") == en


@pytest.mark.parametrize("osm", ["sunrise-sunset", "Mo-Fr 08:00-18:00 || Sa 10:00-12:00",
                                 "week 1-10 Mo 08:00-10:00", "Mo-Fr 08:00-18:00 \"by appointment\"",
                                 "2027 Jan-Mar 08:00-12:00", "Mo-Fr 08:00+"])
def test_rules_beyond_the_words_give_the_raw_text(osm):
    assert hours_words(osm, "zh") == osm and hours_words(osm, "en") == osm


@pytest.mark.parametrize("typed", [c[0] for c in CASES])
def test_every_normalised_form_has_words(typed):
    """What the normaliser writes, the words say (no OSM abbreviations left)."""
    osm = normalize_hours(typed)
    for lang in ("zh", "en"):
        said = hours_words(osm, lang)
        assert said != osm or osm in ("24/7",), (typed, lang, said)
    zh = hours_words(osm, "zh")
    assert not any(d in zh for d in ("Mo", "Tu", "We", "Th", "Fr", "Sa", "Su", "Nov", "off")), zh
