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
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

import opening_hours as _oh

from stationmap.config import AT_YEARS
from stationmap.errors import ValidationError

if TYPE_CHECKING:
    from stationmap.model import Station

#: the time zone of every station, of "now" and of naive times
TZ = ZoneInfo("Asia/Shanghai")

#: how far ahead :func:`when` looks for the next opening or closing
HORIZON = timedelta(days=366)
#: at most this many steps through the rules' changes (each step moves to a rule's next change)
_MAX_STEPS = 64
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
    (default: now; naive times are Shanghai time)."""
    local = to_shanghai(at).replace(tzinfo=None)
    if station.status != "active" and not status_allows(station, local.date()):
        return False
    check = hours_checker(local)
    if not (services and station.service_hours):
        return _always(station.opening_hours) or check(station.opening_hours)
    return all(_always(r) or check(r) for r in rules(station, services))


def open_checker(at: datetime, services: Iterable[str] = ()) -> Callable[[Station], bool]:
    """``is_open(station)`` at ``at`` for many stations: :func:`open_at` with the time zone
    conversion and the minute's cache key made once."""
    local = to_shanghai(at).replace(tzinfo=None)
    day = local.date()
    check = hours_checker(local)
    services = tuple(services)

    def is_open(st: Station) -> bool:
        if st.status != "active" and not status_allows(st, day):
            return False
        hours = st.opening_hours
        if not (not hours or hours.strip() == ALWAYS or check(hours)):
            return False
        if services and st.service_hours:
            own = dict(st.service_hours)
            return all(check(own[s]) for s in services if s in own and not _always(own[s]))
        return True

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
