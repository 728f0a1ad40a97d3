"""When a station, or one of its services, is open: the one home of the time rules.

A station is open at a moment when all of these hold (Asia/Shanghai local time):

* its ``status`` lets it open: ``active``; or ``temporarily_closed`` with a
  ``reopens_on`` date on or before the day (from that date it counts as active
  again, as AFDC's "expected date"); never when ``closed``;
* its ``opening_hours`` (OpenStreetMap syntax) are open;
* for each service asked about that has its own hours (``service_hours``,
  OpenStreetMap syntax too: the lawyer on ``Th 14:00-17:00``, hot water
  ``Nov-Mar``, e-bike charging ``08:00-22:00``), those hours are open.

:func:`when` answers, for one moment, whether it is open, when it closes
(when open) and when it next opens (when closed), within :data:`HORIZON`;
:func:`open_checker` answers "open?" for many stations at one moment.  The
OSM rules are evaluated by opening-hours-py (:func:`parse_opening_hours`).
:func:`parse_datetime` reads a moment asked about (the API's, the pages' and the
CLI's ``at``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import opening_hours as _oh

from stationmap.config import AT_YEARS
from stationmap.errors import ValidationError
from stationmap.labels import MONTH_LABELS, WEEKDAY_LABELS, WEEKDAY_LONG_LABELS, label, translations

if TYPE_CHECKING:
    from stationmap.model import Station

#: the time zone of every station, of "now" and of naive times
TZ = ZoneInfo("Asia/Shanghai")

#: how far ahead :func:`when` looks for the next opening or closing
HORIZON = timedelta(days=366)
#: at most this many steps through the rules' changes (each step moves to a rule's next change):
#: enough for rules that change a few times a day throughout :data:`HORIZON` (a station's hours and a
#: service's that first overlap months ahead step day by day until then; 64 steps gave up after a
#: month and said "not within the horizon", issue 19)
_MAX_STEPS = 4096
ALWAYS = "24/7"


# -- one OSM rule -------------------------------------------------------------------------------

@lru_cache(maxsize=4096)
def parse_opening_hours(expr: str) -> _oh.OpeningHours:
    """Parse an OSM ``opening_hours`` expression; ValidationError if malformed."""
    try:
        return _oh.OpeningHours(expr)
    # (ParserError is raised at runtime; the package's generated stub leaves it out)
    except (SyntaxError, _oh.ParserError) as exc:  # type: ignore[attr-defined]
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else "syntax error"
        raise ValidationError(
            f"opening_hours is not valid OpenStreetMap syntax: {expr!r} ({first})",
            field="opening_hours",
        ) from None


_OPEN_CACHE: dict[tuple[str, tuple[int, ...]], bool] = {}
#: words of variable times (sun events): their answers are not cached per minute
_VARIABLE_TIMES = ("sun", "dawn", "dusk")


def hours_open(expr: str, local: datetime) -> bool:
    """Whether OSM ``opening_hours`` ``expr`` is open at ``local`` (naive Asia/Shanghai time).

    OSM times are whole minutes, so the answer is the same for every second of a
    minute: answers are kept per (expression, minute) (a /nearest answer asks five
    stations, most with the same few expressions; the check costs ~3 us, the
    lookup a tenth of that).  Expressions with sun times are not cached.
    """
    return hours_checker(local)(expr)


def hours_checker(local: datetime) -> Callable[[str], bool]:
    """``check(expr)``: :func:`hours_open` of ``expr`` at ``local``, the minute's cache
    key made once for many expressions (a /nearest answer checks five stations)."""
    minute = (local.year, local.month, local.day, local.hour, local.minute)

    def check(expr: str) -> bool:
        key = (expr, minute)
        hit = _OPEN_CACHE.get(key)
        if hit is None:
            hit = bool(parse_opening_hours(expr).is_open(local))
            if not any(w in expr for w in _VARIABLE_TIMES):
                if len(_OPEN_CACHE) > 100_000:
                    _OPEN_CACHE.clear()
                _OPEN_CACHE[key] = hit
        return hit

    return check


def to_shanghai(at: datetime | None) -> datetime:
    """``at`` as an aware Asia/Shanghai datetime; naive times are taken as Shanghai time."""
    if at is None:
        return datetime.now(TZ)
    if at.tzinfo is None:
        return at.replace(tzinfo=TZ)
    return at.astimezone(TZ)


# -- moments asked about ------------------------------------------------------------------------

_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?"
    r"([Zz]|[+-]\d{2}:?\d{2})?)?"
)


def parse_datetime(raw: str, *, field: str = "at") -> datetime:
    """``raw`` (ISO 8601 / RFC 3339) as an aware datetime; naive means Asia/Shanghai.

    A leap second (``:60``) is read as ``:59``.  ValidationError naming
    ``field`` for anything else.
    """
    m = _DATETIME.fullmatch(raw.strip())
    bad = ValidationError(
        f"{field} must be an ISO 8601 date-time such as 2024-05-01T12:30:00+08:00, got {raw!r}", field=field)
    if not m:
        raise bad
    y, mo, d, hh, mm, ss, frac, tz = m.groups()
    try:
        sec = min(int(ss or 0), 59)
        micro = int((frac or "0")[:6].ljust(6, "0"))
        tzinfo: ZoneInfo | timezone
        if tz is None:
            tzinfo = TZ
        elif tz in ("Z", "z"):
            tzinfo = timezone.utc
        else:
            sign = -1 if tz[0] == "-" else 1
            digits = tz[1:].replace(":", "")
            oh, om = int(digits[:2]), int(digits[2:])
            if oh > 23 or om > 59:
                raise ValueError("offset")
            tzinfo = timezone(sign * timedelta(hours=oh, minutes=om))
        at = datetime(int(y), int(mo), int(d), int(hh or 0), int(mm or 0), sec, micro, tzinfo=tzinfo)
        if not AT_YEARS[0] <= at.year <= AT_YEARS[1]:
            raise ValidationError(f"{field} must be in the years {AT_YEARS[0]}-{AT_YEARS[1]}, got {raw!r}",
                                  field=field)
        return at.astimezone(TZ)
    except (ValueError, OverflowError) as exc:
        if isinstance(exc, ValidationError):
            raise
        raise bad from None


# -- a station ----------------------------------------------------------------------------------

def _always(expr: str) -> bool:
    return not expr or expr.strip() == ALWAYS


def status_allows(station: Station, day: date) -> bool:
    """Whether ``station``'s status lets it open on ``day`` (local date)."""
    if station.status == "active":
        return True
    if station.status == "temporarily_closed" and station.reopens_on is not None:
        return day >= station.reopens_on
    return False


def rules(station: Station, services: Iterable[str] = ()) -> tuple[str, ...]:
    """The OSM hour rules that must all be open: the station's, then each asked service's own
    (services without their own hours follow the station's)."""
    own = dict(station.service_hours)
    out = [station.opening_hours or ALWAYS]
    out += [own[s] for s in services if s in own]
    return tuple(r for r in dict.fromkeys(out) if not _always(r)) or (ALWAYS,)


def open_at(station: Station, at: datetime | None = None, services: Iterable[str] = ()) -> bool:
    """Whether ``station`` (and each of ``services`` it keeps hours for) is open at ``at``
    (default: now; naive times are Shanghai time).  For many stations at one moment,
    :func:`open_checker` (the time zone conversion made once)."""
    return open_checker(to_shanghai(at), services)(station)


def open_checker(at: datetime, services: Iterable[str] = ()) -> Callable[[Station], bool]:
    """``is_open(station)`` at ``at`` for many stations: the status (:func:`status_allows`), the
    station's hours and each of ``services``' own hours, with the time zone conversion and the
    minute's cache key made once."""
    local = to_shanghai(at).replace(tzinfo=None)
    day = local.date()
    check = hours_checker(local)
    services = tuple(services)

    def is_open(st: Station) -> bool:
        if st.status != "active" and not status_allows(st, day):
            return False
        if not (services and st.service_hours):
            return _always(st.opening_hours) or check(st.opening_hours)
        return all(_always(r) or check(r) for r in rules(st, services))

    return is_open


@dataclass(frozen=True)
class When:
    """A station's state at one moment.  Times are aware Asia/Shanghai datetimes."""

    open_now: bool
    #: when it closes (open now; None: open throughout :data:`HORIZON`)
    closes_at: datetime | None = None
    #: when it next opens (closed now; None: not within :data:`HORIZON`)
    opens_at: datetime | None = None


def _next_change(expr: str, local: datetime) -> datetime | None:
    if _always(expr):
        return None
    return parse_opening_hours(expr).next_change(local)


def _opens(rs: tuple[str, ...], allowed_from: datetime | None, local: datetime, limit: datetime) -> datetime | None:
    """The first moment at or after ``local`` when every rule is open and the status allows it."""
    if allowed_from is None:
        return None
    t = max(local, allowed_from)
    for _ in range(_MAX_STEPS):
        if t > limit:
            return None
        check = hours_checker(t)
        shut = [r for r in rs if not _always(r) and not check(r)]
        if not shut:
            return t
        nexts = [n for n in (_next_change(r, t) for r in shut) if n is not None]
        if len(nexts) < len(shut):
            return None  # a rule that is closed now never changes again
        t = max(nexts)
    return None


def _closes(rs: tuple[str, ...], local: datetime, limit: datetime) -> datetime | None:
    """The first moment after ``local`` when a rule closes (every rule is open at ``local``)."""
    t = local
    for _ in range(_MAX_STEPS):
        nexts = [n for n in (_next_change(r, t) for r in rs) if n is not None]
        if not nexts:
            return None
        t = min(nexts)
        if t > limit:
            return None
        check = hours_checker(t)
        if not all(_always(r) or check(r) for r in rs):
            return t
    return None


def _allowed_from(station: Station, local: datetime) -> datetime | None:
    """The first local moment at or after ``local`` from which the status lets the station open."""
    if status_allows(station, local.date()):
        return local
    if station.status == "temporarily_closed" and station.reopens_on is not None:
        return datetime.combine(station.reopens_on, time())
    return None


def when(station: Station, at: datetime | None = None, services: Iterable[str] = ()) -> When:
    """Open now, and the next closing or opening, of ``station`` (and of each of ``services``
    with its own hours) at ``at`` (default: now)."""
    aware = to_shanghai(at)
    local = aware.replace(tzinfo=None, second=0, microsecond=0)
    limit = local + HORIZON
    rs = rules(station, services)
    if open_at(station, local, services):
        nxt = _closes(rs, local, limit)
        return When(True, closes_at=None if nxt is None else nxt.replace(tzinfo=TZ))
    nxt = _opens(rs, _allowed_from(station, local), local, limit)
    return When(False, opens_at=None if nxt is None else nxt.replace(tzinfo=TZ))


def rfc3339(dt: datetime | None) -> str | None:
    """``2026-12-07T08:00:00+08:00`` (seconds, Shanghai offset), or None."""
    return None if dt is None else dt.astimezone(TZ).isoformat(timespec="seconds")


def when_checker(at: datetime, services: Iterable[str] = ()) -> Callable[[Station], When]:
    """``when_of(station)``: :func:`when` at ``at`` for many stations.  Stations with the same
    hours, status, reopening date and (asked-about) service hours share one answer: a district's
    stations have a few dozen distinct hours between them."""
    aware = to_shanghai(at)
    services = tuple(services)
    memo: dict[tuple, When] = {}

    def when_of(st: Station) -> When:
        own = st.service_hours if services else ()
        key = (st.opening_hours, st.status, st.reopens_on, own)
        hit = memo.get(key)
        if hit is None:
            hit = memo[key] = when(st, aware, services)
        return hit

    return when_of


# -- hours as people write them -----------------------------------------------------------------
#
# A small grammar of the forms Chinese editors type (周一至周五 9:00-17:00, 每天 8:00-20:00,
# 24小时, 工作日, 11月-3月, 上午8点-下午6点, rules separated by ；or ，): the text is cut into tokens
# (months, days, times, "all day", "closed"), separators and a few filler words are skipped, and
# the tokens are put together as OSM rules ``[months] [days] [times | off]``; a selector (month
# or day) after a rule's times starts the next rule.  Anything else is refused, naming the part.

_DAY_CHARS = {"一": "Mo", "二": "Tu", "三": "We", "四": "Th", "五": "Fr", "六": "Sa", "日": "Su", "天": "Su",
              "1": "Mo", "2": "Tu", "3": "We", "4": "Th", "5": "Fr", "6": "Sa", "7": "Su"}
_NTH = {"一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "1": 1, "2": 2, "3": 3, "4": 4, "5": 5, "最后一": -1}
_DAY = r"(?:周|星期|礼拜)([一二三四五六日天1-7])"
#: a dash as people type it (after NFKC): ASCII, hyphen, non-breaking hyphen, en and em dash,
#: horizontal bar, tildes, 至, 到
_DASH = r"\s*(?:[-\u2010\u2011\u2013\u2014\u2015~\u301c]+|至|到)\s*"
_PERIOD = r"(上午|早上|早晨|中午|下午|晚上|傍晚|凌晨)?\s*"
#: a clock time: 9:00, 9.30, 9点, 9点半, 9点30分, 9时, 下午6点, and a bare hour (9-17)
_CLOCK = _PERIOD + r"(\d{1,2})(?:[:.](\d{2})|点(半|\d{1,2}分?)?|时(\d{1,2}分?)?)?"
_NEXT_YEAR = r"(?:次年|翌年|第二年)?"
_TOKENS = [  # (kind, pattern), tried in order at each position
    ("nth", rf"每月\s*第?\s*(一|二|三|四|五|[1-5]|最后一)\s*个?\s*{_DAY}"),
    ("always", r"(?:(?:7\s*[x×*]\s*)?24\s*(?:小时|h|H)|全天候?|全日|通宵|昼夜)(?:开放|营业|服务)?"),
    ("daterange", rf"(\d{{1,2}})月(\d{{1,2}})[日号]{_DASH}{_NEXT_YEAR}(?:(\d{{1,2}})月)?(\d{{1,2}})[日号]"),
    ("monthrange", rf"(\d{{1,2}})月?{_DASH}{_NEXT_YEAR}(\d{{1,2}})月(?:份)?"),
    ("month", r"(\d{1,2})月(?:份)?"),
    ("timerange", rf"{_CLOCK}{_DASH}(?:次日\s*)?{_CLOCK}"),
    ("weekend", r"周末|双休日|周六日"),
    ("dayrange", rf"{_DAY}{_DASH}(?:周|星期|礼拜)?([一二三四五六日天1-7])"),
    ("day", _DAY),
    ("weekdays", r"工作日"),
    ("holidays", r"(?:法定)?节假日"),
    ("everyday", r"每天|每日|天天|全周|全年无休|周一至周日|一周七天"),
    ("off", r"休息|闭馆|休馆|关闭|不开放|闭店|停业|不营业"),
    ("sep", r"[;；]"),
    ("skip", r"[\s,，、:/()（）]+|及|和|与|以及|开放时间|营业时间|服务时间|开放|营业|服务|全年|均|为|时间|次日"),
]
_PATTERNS = dict(_TOKENS)
_TOKEN = re.compile("|".join(f"(?P<{k}>{p})" for k, p in _TOKENS))
_MONTH_ABBR = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_PM = ("下午", "晚上", "傍晚")
_CJK = re.compile(r"[\u3000-\u9fff\uff00-\uffef]")


def _minutes(period: str | None, hour: str, colon: str | None, half: str | None, shi: str | None) -> int:
    """Minutes after midnight of one clock time of :data:`_CLOCK`'s groups."""
    h = int(hour)
    extra = half or shi or ""
    m = int(colon) if colon else 30 if extra == "半" else int(extra.rstrip("分") or 0)
    if (period in _PM and h < 12) or (period == "中午" and h < 6):
        h += 12
    if h > 24 or m > 59 or (h == 24 and m):
        raise ValueError(f"{hour}:{m:02d}")
    return h * 60 + m


@dataclass
class _Rule:
    months: str = ""
    days: list[str] | None = None
    times: list[str] | None = None
    off: bool = False

    def has_when(self) -> bool:
        return bool(self.times) or self.off

    def selectors(self) -> str:
        return " ".join(p for p in (self.months, ",".join(self.days or ())) if p)

    def osm(self) -> str:
        what = "off" if self.off and not self.times else ",".join(self.times or ())
        if self.off and self.times:
            what += " off"
        return " ".join(p for p in (self.selectors(), what) if p)


def _hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _time_range(g: tuple[str | None, ...]) -> str:
    p1, h1, c1, half1, shi1, p2, h2, c2, half2, shi2 = g
    start = _minutes(p1, str(h1), c1, half1, shi1)
    end = _minutes(p2 or (p1 if p1 in _PM else None), str(h2), c2, half2, shi2)
    if p2 is None and end < start and end < 12 * 60 and start < end + 12 * 60 <= 24 * 60:
        end += 12 * 60  # 9点-5点: the afternoon, as people mean it
    if end == start:
        raise ValueError("empty")
    return f"{_hhmm(start)}-{_hhmm(end)}"


def _chinese_hours(text: str) -> str:
    """The OSM rules of ``text`` written as Chinese editors write hours; ValueError naming
    the first part that is not understood."""
    rules: list[_Rule] = []
    cur = _Rule()

    def flush() -> None:
        nonlocal cur
        if rules and cur.times and not (cur.months or cur.days is not None or cur.off):
            cur.months, cur.days = rules[-1].months, rules[-1].days  # 周一至周五 9-12点；14-18点
        if cur.days == [] and not (cur.months or cur.has_when()):
            cur.times = ["00:00-24:00"]  # 每天, 全年无休: every day, all day
        if cur.months or cur.days or cur.has_when():
            same = next((r for r in rules if r.selectors() == cur.selectors() and r.times and cur.times
                         and not r.off and not cur.off), None)
            if same is not None and same.times is not None and cur.times is not None:
                same.times += [t for t in cur.times if t not in same.times]  # 9-12；14-18 the same days
            else:
                rules.append(cur)
        cur = _Rule()

    def selector() -> None:
        if cur.has_when():
            flush()

    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise ValueError(text[pos:pos + 12])
        kind = str(m.lastgroup)
        part = re.fullmatch(_PATTERNS[kind], m.group(kind))  # (the token's own groups)
        g = part.groups() if part is not None else ()
        try:
            if kind in ("month", "monthrange", "daterange"):
                selector()
                if cur.days:
                    raise ValueError(m.group(kind))  # months come before days
                if kind == "month":
                    cur.months = _MONTH_ABBR[int(g[0]) - 1] if 1 <= int(g[0]) <= 12 else ""
                elif kind == "monthrange":
                    a, b = int(g[0]), int(g[1])
                    if not (1 <= a <= 12 and 1 <= b <= 12):
                        raise ValueError(m.group(kind))
                    cur.months = f"{_MONTH_ABBR[a - 1]}-{_MONTH_ABBR[b - 1]}"
                else:
                    ma, da, mb, db = int(g[0]), int(g[1]), int(g[2] or g[0]), int(g[3])
                    date(2024, ma, da)
                    date(2024, mb, db)  # (ValueError for 2月30日)
                    cur.months = f"{_MONTH_ABBR[ma - 1]} {da:02d}-{_MONTH_ABBR[mb - 1]} {db:02d}"
                if not cur.months:
                    raise ValueError(m.group(kind))
            elif kind in ("day", "dayrange", "weekdays", "weekend", "holidays", "nth", "everyday"):
                selector()
                if kind == "everyday":
                    cur.days = cur.days or []
                else:
                    day = (_DAY_CHARS[str(g[0])] if kind == "day"
                           else f"{_DAY_CHARS[str(g[0])]}-{_DAY_CHARS[str(g[1])]}" if kind == "dayrange"
                           else f"{_DAY_CHARS[str(g[1])]}[{_NTH[str(g[0])]}]" if kind == "nth"
                           else {"weekdays": "Mo-Fr", "weekend": "Sa,Su", "holidays": "PH"}[kind])
                    cur.days = [*(cur.days or []), day]
            elif kind == "timerange":
                cur.times = [*(cur.times or []), _time_range(g)]
            elif kind == "always":
                cur.times = [*(cur.times or []), "00:00-24:00"]
            elif kind == "off":
                cur.off = True
            elif kind == "sep":
                flush()
        except (ValueError, KeyError, IndexError):
            raise ValueError(m.group(kind)) from None
        pos = m.end()
    flush()
    out = "; ".join(r.osm() for r in rules)
    if not out:
        raise ValueError(text)
    return ALWAYS if out == "00:00-24:00" else out


@lru_cache(maxsize=4096)
def normalize_hours(text: str, *, field: str = "opening_hours") -> str:
    """Opening hours as an editor types them, as OpenStreetMap ``opening_hours``.

    The text is read as Chinese editors write hours: ``周一至周五 9:00-17:00`` -> ``Mo-Fr 09:00-17:00``,
    ``每天 8:00-20:00`` -> ``08:00-20:00``, ``24小时`` / ``全天`` -> ``24/7``, ``工作日`` ->
    ``Mo-Fr``, ``周末`` -> ``Sa,Su``, ``11月-3月`` -> ``Nov-Mar``, ``上午8点-下午6点`` ->
    ``08:00-18:00``, ``每月第一个周一`` -> ``Mo[1]``, ``周一休息`` -> ``Mo off``; full-width
    colons and digits, Chinese dashes and 至/到 are read as their ASCII forms, and rules
    separated by ``；`` or ``，`` become ``;``-separated rules (a later one narrows the earlier
    ones, as OSM reads them; the same days twice add their times: ``9-12点；14-18点``).
    Text this grammar does not read, in OSM syntax (ASCII) that opening-hours-py reads, is kept
    as typed (``Mo-Fr 08:00-18:00; PH off``).  ValidationError naming the part that is not
    understood (``field`` names the field).
    """
    raw = unicodedata.normalize("NFKC", text or "").strip()
    if not raw:
        raise ValidationError(f"{field} is empty", field=field)
    try:
        out = _chinese_hours(raw)
        parse_opening_hours(out)
        return out
    except ValidationError as exc:
        part = exc.message
    except ValueError as exc:
        part = str(exc)
    if raw.isascii():  # OSM syntax as typed; else its parser's complaint
        try:
            parse_opening_hours(raw)
        except ValidationError as exc:
            raise ValidationError(f"{exc.message.replace('opening_hours', field, 1)}; or write hours as "
                                  "周一至周五 9:00-17:00, 每天 8:00-20:00, 24小时", field=field) from None
        return raw
    raise ValidationError(
        f"{field} is not valid OpenStreetMap syntax, nor hours written as 周一至周五 9:00-17:00, "
        f"每天 8:00-20:00 or 24小时: {text.strip()!r} (not understood: {part.strip()!r})", field=field)


# -- hours in words ---------------------------------------------------------------------------

_M = "(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_MD = rf"{_M}(?: \d{{1,2}})?"
_D = r"(?:Mo|Tu|We|Th|Fr|Sa|Su)"
_DAYSEL = rf"(?:{_D}\[-?[1-5]\]|{_D}(?:-{_D})?|PH)"
_HM = r"\d{2}:\d{2}"
_WORDS_RULE = re.compile(
    rf"(?:(?P<months>{_MD}(?:-{_MD})?(?:,{_MD}(?:-{_MD})?)*)(?:\s+|$))?"
    rf"(?:(?P<days>{_DAYSEL}(?:,{_DAYSEL})*)(?:\s+|$))?"
    rf"(?P<times>{_HM}-{_HM}(?:,{_HM}-{_HM})*)?\s*(?P<off>off|closed)?")


def _clock(hm: str) -> str:
    """``08:00`` as ``8:00``."""
    return hm[1:] if hm.startswith("0") and hm != "00:00" and len(hm) == 5 else hm


def hours_words(expr: str, lang: str) -> str:
    """OSM ``opening_hours`` in words, in ``lang`` (``zh``, ``en``).

    ``Mo-Fr 08:00-18:00`` -> ``周一至周五 8:00–18:00`` / ``Mon–Fri 8:00–18:00``; ``24/7`` ->
    ``24 小时`` / ``24 hours``; ``Nov-Mar 07:00-19:00`` -> ``11月–3月 每天 7:00–19:00`` /
    ``Nov–Mar daily 7:00–19:00``; ``Mo[1]`` -> ``每月第一个周一`` / ``first Monday of the month``;
    ``PH off`` -> ``法定节假日 休息`` / ``public holidays closed``; rules joined by ``；`` / ``; ``.

    The words cover rules of the form ``[months or dates] [weekdays, nth weekdays, PH] [times |
    off]``, which is what :func:`normalize_hours` writes and what most stations have.  A rule
    beyond them (sun times, week numbers, ``+``, comments, ``||`` fallbacks, years) gives the
    raw OSM text, whole: words for part of the rules would mislead.
    """
    _ = translations(lang).gettext
    en = lang == "en"
    text = (expr or "").strip() or ALWAYS
    if text == ALWAYS:
        return _("24 小时")
    out = []
    for rule in (r.strip() for r in text.split(";")):
        m = _WORDS_RULE.fullmatch(rule)
        if not rule or m is None or "||" in rule:
            return text
        words = []
        if m["months"]:
            words.append((", " if en else "、").join(_month_range(r, lang) for r in m["months"].split(",")))
        if m["days"]:
            days = []
            for d in m["days"].split(","):
                if d == "PH":
                    days.append(_("法定节假日"))
                elif "[" in d:
                    nth = int(d[3:-1])
                    day = label(WEEKDAY_LONG_LABELS if en else WEEKDAY_LABELS, d[:2], lang)
                    days.append({1: _("每月第一个%(day)s") % {"day": day}, 2: _("每月第二个%(day)s") % {"day": day},
                                 3: _("每月第三个%(day)s") % {"day": day}, 4: _("每月第四个%(day)s") % {"day": day},
                                 5: _("每月第五个%(day)s") % {"day": day}, -1: _("每月最后一个%(day)s") % {"day": day}
                                 }.get(nth, d))
                else:
                    a, _dash, b = d.partition("-")
                    first = label(WEEKDAY_LABELS, a, lang)
                    days.append(first if not b else f"{first}–{label(WEEKDAY_LABELS, b, lang)}" if en
                                else f"{first}至{label(WEEKDAY_LABELS, b, lang)}")
            words.append((", " if en else "、").join(days))
        elif m["times"]:
            words.append(_("每天"))
        if m["times"]:
            spans = []
            for span in m["times"].split(","):
                a, b = span.split("-")
                if (a, b) == ("00:00", "24:00"):
                    spans.append(_("24 小时"))
                elif b <= a:
                    spans.append(_("%(a)s–次日 %(b)s") % {"a": _clock(a), "b": _clock(b)})
                else:
                    spans.append(f"{_clock(a)}–{_clock(b)}")
            words.append((", " if en else "、").join(spans))
        if m["off"]:
            words.append(_("休息"))
        elif not m["times"]:
            words.append(_("全天"))
        said = " ".join(words)
        out.append(said[:1].upper() + said[1:] if en else said)
    return ("; " if en else "；").join(out)


def _month_range(text: str, lang: str) -> str:
    """``Nov-Mar`` -> ``11月–3月`` / ``Nov–Mar``; ``Nov 01-Mar 31`` -> ``11月1日–3月31日`` / ``1 Nov–31 Mar``."""
    def one(md: str) -> str:
        mon, _sp, day = md.partition(" ")
        name = label(MONTH_LABELS, mon, lang)
        if not day:
            return name
        return f"{int(day)} {name}" if lang == "en" else f"{name}{int(day)}日"

    return "–".join(one(p) for p in text.split("-"))
