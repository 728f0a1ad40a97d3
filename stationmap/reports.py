"""Check-ins: what people on the street say about a station, and what the editors did about it.

Anyone may check in, from a station's page or ``POST /api/v1/stations/<id>/checkins``, with one
outcome of :data:`REPORT_KINDS` (labels: :data:`stationmap.labels.REPORT_LABELS`): open and fine;
closed though it should be open; locked; cannot find it; moved (with a suggested WGS-84 position);
a service missing or broken (which one, of :data:`stationmap.model.SERVICES`); information wrong
(free text of at most :data:`~stationmap.config.CHECKIN_NOTE_MAX_CHARS` characters).  Check-ins
are anonymous and kept in the ``station_reports`` table (:data:`stationmap.schema.reports_table`;
"report" and "check-in" are one thing here): every one has its time, none is ever overwritten.
One device's identical check-in (same client address, station and outcome) within
:data:`~stationmap.config.REPORT_REPEAT_MINUTES` is counted once: the row keeps a keyed hash of
the three (:func:`reporter_key`, never the address itself) for that long, and the hash is erased after.

A *problem* check-in (any outcome but ``open_ok``) is an open item for the district's editors
until they resolve it with one of :data:`RESOLUTIONS` (fixed, edited, closed, not a problem):
one item (:func:`resolve_report`), or every open item of a station at once when they confirm
it is still correct (:func:`verify_station`: not a problem), close it (closed) or reopen it
(fixed); an ordinary edit resolves nothing.  A resolution adds when, who and how to the row;
the check-in itself stays as it was.  :func:`needs_visit` lists the stations of a district with
open items: the union's to-do list.

Times are stored in UTC and shown in Asia/Shanghai.  This module never imports Flask.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from stationmap.config import CHECKIN_NOTE_MAX_CHARS, FRESHNESS_WINDOWS, REPORT_REPEAT_MINUTES, STALE_DAYS
from stationmap.coords import in_china
from stationmap.errors import ConflictError, NotFoundError, ValidationError
from stationmap.hours import TZ
from stationmap.labels import AGE_LABELS, FRESHNESS_LABELS, PROBLEM_LABELS, REPORT_LABELS, RESOLUTION_LABELS, label
from stationmap.model import SERVICES, Station
from stationmap.schema import as_utc, reports_table, row_to_station, stations_table

if TYPE_CHECKING:
    from stationmap.store import StationStore

#: a check-in's outcomes (labels: :data:`stationmap.labels.REPORT_LABELS`)
REPORT_KINDS = tuple(REPORT_LABELS)
#: the outcome that confirms a station (counts toward its freshness)
CONFIRMING_KIND = "open_ok"
#: the outcomes that open an item for the district's editors
PROBLEM_KINDS = tuple(k for k in REPORT_KINDS if k != CONFIRMING_KIND)
#: how an editor resolves an item (labels: :data:`stationmap.labels.RESOLUTION_LABELS`)
RESOLUTIONS = tuple(RESOLUTION_LABELS)

#: how far back "recent" reports go, in days
RECENT_DAYS = 30


@dataclass(frozen=True)
class Report:
    """One worker report.  ``at`` and ``resolved_at`` are aware UTC datetimes."""

    id: int
    station_id: str
    kind: str
    at: datetime
    resolved_at: datetime | None = None
    resolved_by: str = ""
    #: ``service_missing``: which service (a key of :data:`stationmap.model.SERVICES`)
    service: str = ""
    #: ``moved``: the suggested position, WGS-84
    lon: float | None = None
    lat: float | None = None
    #: free text (required for ``info_wrong``)
    note: str = ""
    #: how the item was resolved (:data:`RESOLUTIONS`; "" while open, and for items resolved
    #: before resolutions were recorded)
    resolution: str = ""
    #: set by :func:`add_report` when this is an earlier identical report of the same device,
    #: within :data:`~stationmap.config.REPORT_REPEAT_MINUTES`, and nothing new was counted
    repeat: bool = field(default=False, compare=False)

    @property
    def is_problem(self) -> bool:
        """Whether the report flags a problem (any kind but ``ok``)."""
        return self.kind in PROBLEM_KINDS

    @property
    def is_open(self) -> bool:
        return self.is_problem and self.resolved_at is None

    @property
    def local_at(self) -> datetime:
        """``at`` in Asia/Shanghai."""
        return self.at.astimezone(TZ)

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (ISO 8601 times)."""
        return {"id": self.id, "station_id": self.station_id, "outcome": self.kind,
                "at": self.at.isoformat(), "problem": self.is_problem, "open": self.is_open,
                "service": self.service or None,
                "position": None if self.lon is None or self.lat is None else {"lon": self.lon, "lat": self.lat},
                "note": self.note, "resolution": self.resolution or None,
                "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None}


@dataclass
class VisitItem:
    """A station with open problem reports: which kinds, how many, the latest when."""

    station: Station
    counts: dict[str, int]
    latest: datetime

    def to_dict(self) -> dict[str, Any]:
        """The item as JSON-ready data."""
        return {"station": self.station.to_dict(), "counts": dict(self.counts), "latest": self.latest.isoformat()}


def check_report_kind(kind: object) -> str:
    """``kind`` if it is one of :data:`REPORT_KINDS`; ValidationError otherwise."""
    if not isinstance(kind, str) or kind not in REPORT_KINDS:
        raise ValidationError(f"outcome must be one of {tuple(REPORT_KINDS)}, got {kind!r}", field="outcome")
    return kind


def check_resolution(resolution: object) -> str:
    """``resolution`` if it is one of :data:`RESOLUTIONS`; ValidationError otherwise."""
    if not isinstance(resolution, str) or resolution not in RESOLUTIONS:
        raise ValidationError(f"resolution must be one of {tuple(RESOLUTIONS)}, got {resolution!r}",
                              field="resolution")
    return resolution


@dataclass(frozen=True)
class CheckinDetails:
    """What a check-in says besides its outcome, checked: service, position (WGS-84), note."""

    service: str = ""
    lon: float | None = None
    lat: float | None = None
    note: str = ""


def check_details(kind: str, *, service: object = "", lon: object = None, lat: object = None,
                  note: object = "", max_note: int = CHECKIN_NOTE_MAX_CHARS) -> CheckinDetails:
    """The details a check-in of outcome ``kind`` keeps, checked (ValidationError naming the field).

    ``service_missing`` needs ``service``; ``moved`` needs a WGS-84 position in China (convert
    other datums with :func:`stationmap.coords.to_wgs84` first); ``info_wrong`` needs a note.  A
    note (any outcome) is at most ``max_note`` characters.  Details another outcome does not
    use are dropped.
    """
    kind = check_report_kind(kind)
    text = "" if note is None else note
    if not isinstance(text, str):
        raise ValidationError(f"note must be text, got {text!r}", field="note")
    text = text.strip()
    if len(text) > max_note:
        raise ValidationError(f"note must be at most {max_note} characters, got {len(text)}", field="note")
    if kind == "info_wrong" and not text:
        raise ValidationError("note is missing", field="note")
    out = CheckinDetails(note=text)
    if kind == "service_missing":
        if not service:
            raise ValidationError("service is missing", field="service")
        if not isinstance(service, str) or service not in SERVICES:
            raise ValidationError(f"service must be one of {tuple(SERVICES)}, got {service!r}", field="service")
        out = replace(out, service=service)
    if kind == "moved":
        x, y = _coordinate(lon, "lon"), _coordinate(lat, "lat")
        if not bool(in_china(x, y)):
            raise ValidationError(f"point ({x}, {y}) is outside China", field="lon")
        out = replace(out, lon=x, lat=y)
    return out


#: an idempotency key as a client makes one: a UUID, or up to 64 letters, digits, ``-`` and ``_``
_CLIENT_KEY = re.compile(r"[A-Za-z0-9_-]{8,64}")


def check_client_key(key: object) -> str:
    """A check-in's idempotency key (``""``: none), checked: 8 to 64 letters, digits, ``-``, ``_``."""
    if key is None or key == "":
        return ""
    if not isinstance(key, str) or not _CLIENT_KEY.fullmatch(key):
        raise ValidationError("Idempotency-Key must be 8 to 64 letters, digits, '-' or '_' (a UUID)",
                              field="Idempotency-Key")
    return key


def _coordinate(v: object, name: str) -> float:
    if v is None or v == "":
        raise ValidationError(f"{name} is missing", field=name)
    try:
        x = float(v)  # type: ignore[arg-type]  # anything float() takes; the rest is refused below
    except (TypeError, ValueError):
        raise ValidationError(f"{name} must be a number, got {v!r}", field=name) from None
    if not math.isfinite(x):
        raise ValidationError(f"{name} must be a finite number, got {v!r}", field=name)
    return x


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _row_to_report(row: sa.Row[Any]) -> Report:
    m = row._mapping
    return Report(id=int(m["id"]), station_id=m["station_id"], kind=m["kind"], at=as_utc(m["at"]),
                  resolved_at=as_utc(m["resolved_at"]), resolved_by=m["resolved_by"] or "",
                  service=m["service"] or "", lon=m["lon"], lat=m["lat"], note=m["note"] or "",
                  resolution=m["resolution"] or "")


def reporter_key(secret: str | bytes, address: str, station_id: str, kind: str) -> str:
    """What recognises one device's repeated report: HMAC-SHA-256 (keyed with the instance's
    ``secret``) of the client ``address`` with the station and the kind, 32 hex digits; ``""``
    without an address.  The address cannot be read back from it (an unkeyed hash of an IPv4
    address could be, by trying all 2**32), and it matches nothing of another station or kind."""
    if not address:
        return ""
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    msg = "\x00".join((address, station_id, kind)).encode("utf-8")
    return hmac.new(key, msg, hashlib.sha256).hexdigest()[:32]


def add_report(store: StationStore, station_id: str, kind: str, *, at: datetime | None = None,
               reporter: str = "", repeat_minutes: float = REPORT_REPEAT_MINUTES,
               details: CheckinDetails | None = None, client_key: str = "") -> Report:
    """Record a check-in about an existing station (NotFoundError otherwise).

    ``details`` (:func:`check_details`; default: none) are checked against ``kind`` again here.

    ``reporter`` (:func:`reporter_key`): when a report with the same key was recorded within
    ``repeat_minutes`` before ``at``, nothing is added and that report is returned with
    ``repeat=True``.  Keys older than the window are erased here, in the same transaction.

    ``client_key`` (:func:`check_client_key`; the sender's idempotency key): a check-in with a key
    already recorded is not added again, whenever it comes, and the first one is returned with
    ``repeat=True`` (a check-in queued offline and sent twice is counted once).
    """
    kind = check_report_kind(kind)
    client_key = check_client_key(client_key)
    d = details or CheckinDetails()
    d = check_details(kind, service=d.service, lon=d.lon, lat=d.lat, note=d.note)
    when = as_utc(at) or _now()
    since = when - timedelta(minutes=repeat_minutes)
    try:
        return _add_report(store, station_id, kind, when, since, reporter, d, client_key)
    except sa.exc.IntegrityError:
        if not client_key:
            raise
        # the same key sent twice at once: the other request's row won the unique index
        return _add_report(store, station_id, kind, when, since, reporter, d, client_key)


def _add_report(store: StationStore, station_id: str, kind: str, when: datetime, since: datetime, reporter: str,
                d: CheckinDetails, client_key: str) -> Report:
    """:func:`add_report`'s transaction."""
    t = reports_table
    with store.begin() as conn:
        found = conn.execute(sa.select(stations_table.c.id).where(stations_table.c.id == station_id)).first()
        if found is None:
            raise NotFoundError(f"no station with id {station_id!r}", field="id")
        conn.execute(sa.update(t).where(t.c.reporter != "", t.c.at < since).values(reporter=""))
        if client_key:
            sent = conn.execute(sa.select(t).where(t.c.client_key == client_key)).first()
            if sent is not None:
                if sent._mapping["station_id"] != station_id:
                    raise ValidationError("Idempotency-Key was already used for another station's check-in",
                                          field="Idempotency-Key")
                return replace(_row_to_report(sent), repeat=True)
        if reporter:
            earlier = conn.execute(
                sa.select(t).where(t.c.station_id == station_id, t.c.kind == kind, t.c.reporter == reporter,
                                   t.c.at >= since, t.c.at <= when)
                .order_by(t.c.at.desc(), t.c.id.desc()).limit(1)).first()
            if earlier is not None:
                return replace(_row_to_report(earlier), repeat=True)
        res = conn.execute(sa.insert(t).values(station_id=station_id, kind=kind, at=when, resolved_at=None,
                                               resolved_by="", reporter=reporter, service=d.service,
                                               lon=d.lon, lat=d.lat, note=d.note, resolution="",
                                               client_key=client_key or None))
        rid = res.inserted_primary_key[0]  # type: ignore[index]  # a one-row INSERT always has its key
    return Report(id=int(rid), station_id=station_id, kind=kind, at=when, service=d.service, lon=d.lon,
                  lat=d.lat, note=d.note)


def recent_reports(store: StationStore, station_id: str, *, days: float = RECENT_DAYS, now: datetime | None = None,
                   limit: int = 50) -> list[Report]:
    """The station's reports of the last ``days`` days, newest first."""
    since = (as_utc(now) or _now()) - timedelta(days=days)
    q = (sa.select(reports_table)
         .where(reports_table.c.station_id == station_id, reports_table.c.at >= since)
         .order_by(reports_table.c.at.desc(), reports_table.c.id.desc()).limit(limit))
    with store.engine.connect() as conn:
        return [_row_to_report(r) for r in conn.execute(q)]


def report_counts(reports: Iterable[Report]) -> dict[str, int]:
    """``{kind: count}`` over ``reports``, every kind present (zeros included)."""
    out = dict.fromkeys(REPORT_KINDS, 0)
    for r in reports:
        out[r.kind] += 1
    return out


def resolve_reports(store: StationStore, station_id: str, *, user: str, resolution: str,
                    at: datetime | None = None, conn: sa.Connection | None = None) -> int:
    """Resolve every open item (problem check-in) of the station with ``resolution``; returns how many."""
    resolution = check_resolution(resolution)
    when = as_utc(at) or _now()
    stmt = (sa.update(reports_table)
            .where(reports_table.c.station_id == station_id, reports_table.c.resolved_at.is_(None),
                   reports_table.c.kind.in_(PROBLEM_KINDS))
            .values(resolved_at=when, resolved_by=str(user), resolution=resolution))
    if conn is not None:
        return conn.execute(stmt).rowcount
    with store.begin() as c:
        return c.execute(stmt).rowcount


def get_report(store: StationStore, report_id: int) -> Report:
    """The check-in ``report_id``; NotFoundError if there is none."""
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(reports_table).where(reports_table.c.id == int(report_id))).first()
    if row is None:
        raise NotFoundError(f"no check-in with id {report_id!r}", field="id")
    return _row_to_report(row)


def resolve_report(store: StationStore, report_id: int, *, user: str, resolution: str,
                   at: datetime | None = None) -> Report:
    """Resolve one open item (a problem check-in not yet resolved) with ``resolution``.

    NotFoundError if there is no such check-in; ConflictError if it is no problem or already
    resolved (the first resolution stands).  Returns the check-in as resolved.
    """
    resolution = check_resolution(resolution)
    when = as_utc(at) or _now()
    t = reports_table
    with store.begin() as conn:
        n = conn.execute(sa.update(t).where(t.c.id == int(report_id), t.c.resolved_at.is_(None),
                                            t.c.kind.in_(PROBLEM_KINDS))
                         .values(resolved_at=when, resolved_by=str(user), resolution=resolution)).rowcount
        row = conn.execute(sa.select(t).where(t.c.id == int(report_id))).first()
    if row is None:
        raise NotFoundError(f"no check-in with id {report_id!r}", field="id")
    if n == 0:
        raise ConflictError(f"check-in {report_id} is not an open item", field="id")
    return _row_to_report(row)


def open_items(store: StationStore, station_ids: Iterable[str] | None = None) -> list[Report]:
    """The open items (unresolved problem check-ins), of ``station_ids`` (default: all), newest first."""
    t = reports_table
    q = (sa.select(t).where(t.c.resolved_at.is_(None), t.c.kind.in_(PROBLEM_KINDS))
         .order_by(t.c.at.desc(), t.c.id.desc()))
    if station_ids is not None:
        ids = list(station_ids)
        if not ids:
            return []
        q = q.where(t.c.station_id.in_(ids))
    with store.engine.connect() as conn:
        return [_row_to_report(r) for r in conn.execute(q)]


def last_activity(store: StationStore) -> datetime | None:
    """When a check-in was last recorded or resolved (None: never): with the stations' revision time
    and the date, when the freshness figures last changed (the Last-Modified of ``/api/v1/districts``)."""
    t = reports_table
    with store.engine.connect() as conn:
        at, resolved = conn.execute(sa.select(sa.func.max(t.c.at), sa.func.max(t.c.resolved_at))).one()
    times = [as_utc(x) for x in (at, resolved) if x is not None]
    return max(times) if times else None


def today_shanghai(now: datetime | None = None) -> date:
    """Today's date in Asia/Shanghai (``now`` naive is taken as UTC)."""
    return (as_utc(now) or _now()).astimezone(TZ).date()


def verify_station(store: StationStore, station_id: str, *, user: str, now: datetime | None = None) -> Station:
    """"Still correct": set ``verified_at`` to today (Asia/Shanghai) and resolve the station's open
    items as not a problem.

    The change is recorded in the store's history (unless the station was
    already verified today, which changes nothing).  One transaction.
    """
    with store.begin() as conn:
        row = conn.execute(sa.select(stations_table).where(stations_table.c.id == station_id)).first()
        if row is None:
            raise NotFoundError(f"no station with id {station_id!r}", field="id")
        station = replace(row_to_station(row), verified_at=today_shanghai(now))
        store.write_many([station], user=user, note="verified: still correct", mode="update", conn=conn)
        resolve_reports(store, station_id, user=user, resolution="not_a_problem", at=now, conn=conn)
    return station


def needs_visit(store: StationStore, *, adcode_prefix: str = "", days: float | None = None,
                now: datetime | None = None) -> list[VisitItem]:
    """Stations (adcode starting with ``adcode_prefix``) with open items.

    An item stays open until resolved, however old; ``days`` counts only the check-ins of
    the last so many days.  Most recently reported first.
    """
    q = (sa.select(reports_table.c.station_id, reports_table.c.kind, reports_table.c.at)
         .join(stations_table, stations_table.c.id == reports_table.c.station_id)
         .where(reports_table.c.resolved_at.is_(None), reports_table.c.kind.in_(PROBLEM_KINDS)))
    if days is not None:
        q = q.where(reports_table.c.at >= (as_utc(now) or _now()) - timedelta(days=days))
    if adcode_prefix:
        q = q.where(stations_table.c.adcode.startswith(str(adcode_prefix), autoescape=True))
    agg: dict[str, dict[str, Any]] = {}
    with store.engine.connect() as conn:
        for sid, kind, at in conn.execute(q):
            a = agg.setdefault(sid, {"counts": dict.fromkeys(PROBLEM_KINDS, 0), "latest": None})
            a["counts"][kind] += 1
            at = as_utc(at)
            a["latest"] = at if a["latest"] is None or at > a["latest"] else a["latest"]
        if not agg:
            return []
        rows = conn.execute(sa.select(stations_table).where(stations_table.c.id.in_(list(agg))))
        stations = {r.id: row_to_station(r) for r in rows}
    items = [VisitItem(station=stations[sid], counts=a["counts"], latest=a["latest"])
             for sid, a in agg.items() if sid in stations]
    items.sort(key=lambda it: (it.latest, it.station.id), reverse=True)
    return items


# -- freshness: when and how a station was last confirmed ------------------------------------

@dataclass(frozen=True)
class Freshness:
    """A station's last confirmation: the latest of its ``open_ok`` check-ins (``by="checkin"``)
    and the district's "still correct" (``verified_at``, ``by="district"``); ``on`` is that day
    in Asia/Shanghai (None, ``by=""``: never confirmed).  ``open_problems``: its open items."""

    on: date | None
    by: str
    open_problems: int = 0

    def age_days(self, today: date) -> int | None:
        """Days from ``on`` to ``today`` (None: never confirmed)."""
        return None if self.on is None else max(0, (today - self.on).days)

    def words(self, lang: str, today: date) -> str:
        """"3 天前骑手确认正常" / "verified by the district 2 months ago" / "从未确认"."""
        if self.on is None:
            return label(FRESHNESS_LABELS, "never", lang)
        return label(FRESHNESS_LABELS, self.by, lang).format(age=age_words(self.age_days(today) or 0, lang))

    def problem_words(self, lang: str) -> str:
        """"有 2 个待处理的问题反馈" / "2 open problems reported"; "" without any."""
        if not self.open_problems:
            return ""
        return label(PROBLEM_LABELS, "one" if self.open_problems == 1 else "many", lang).format(n=self.open_problems)

    def to_dict(self, today: date) -> dict[str, Any]:
        """JSON-ready: ``confirmed_on``, ``by``, ``age_days``, ``open_problems`` and the words in zh and en.

        Shared (cached per freshness and day: the words cost a fifth of a /nearest answer, and
        stations share a few values): read it, do not change it."""
        return _freshness_dict(self, today)


@lru_cache(maxsize=4096)
def _freshness_dict(f: Freshness, today: date) -> dict[str, Any]:
    return {"confirmed_on": f.on.isoformat() if f.on else None, "by": f.by or None,
            "age_days": f.age_days(today), "open_problems": f.open_problems,
            "text": {lang: f.words(lang, today) for lang in ("zh", "en")},
            "problems_text": {lang: f.problem_words(lang) for lang in ("zh", "en")} if f.open_problems
            else None}


def age_words(days: int, lang: str) -> str:
    """How long ago ``days`` days is: today, yesterday, N days (under 31), N months (of 30 days,
    under 365), N years."""
    if days <= 0:
        return label(AGE_LABELS, "today", lang)
    if days == 1:
        return label(AGE_LABELS, "yesterday", lang)
    if days < 31:
        return label(AGE_LABELS, "days", lang).format(n=days)
    if days < 365:
        n = days // 30
        return label(AGE_LABELS, "month" if n == 1 else "months", lang).format(n=n)
    n = days // 365
    return label(AGE_LABELS, "year" if n == 1 else "years", lang).format(n=n)


def freshness_of(verified_at: date | None, last_ok: datetime | None, open_problems: int = 0) -> Freshness:
    """The rule: the later of the district's ``verified_at`` and the last ``open_ok`` check-in
    (its day in Asia/Shanghai); on the same day the check-in, which has a time, is the later."""
    ok_day = None if last_ok is None else as_utc(last_ok).astimezone(TZ).date()
    if ok_day is not None and (verified_at is None or ok_day >= verified_at):
        return Freshness(ok_day, "checkin", open_problems)
    if verified_at is not None:
        return Freshness(verified_at, "district", open_problems)
    return Freshness(None, "", open_problems)


def freshness_many(store: StationStore, stations: Iterable[Station]) -> dict[str, Freshness]:
    """``{id: Freshness}`` of ``stations`` (two grouped queries over the check-ins, however many stations)."""
    stations = list(stations)
    t = reports_table
    last_ok: dict[str, datetime] = {}
    problems: dict[str, int] = {}
    ids = [s.id for s in stations]
    many = len(ids) > 500  # a big batch: read every station's figures rather than a long IN list
    with store.engine.connect() as conn:
        q_ok = sa.select(t.c.station_id, sa.func.max(t.c.at)).where(t.c.kind == CONFIRMING_KIND)
        q_open = sa.select(t.c.station_id, sa.func.count()).where(t.c.resolved_at.is_(None),
                                                                   t.c.kind.in_(PROBLEM_KINDS))
        if not many:
            q_ok, q_open = q_ok.where(t.c.station_id.in_(ids)), q_open.where(t.c.station_id.in_(ids))
        for sid, at in conn.execute(q_ok.group_by(t.c.station_id)):
            last_ok[sid] = as_utc(at)
        for sid, n in conn.execute(q_open.group_by(t.c.station_id)):
            problems[sid] = int(n)
    return {s.id: freshness_of(s.verified_at, last_ok.get(s.id), problems.get(s.id, 0)) for s in stations}


def freshness(store: StationStore, station: Station) -> Freshness:
    """The :class:`Freshness` of one station."""
    return freshness_many(store, [station])[station.id]


def freshness_figures(stations: Iterable[Station], fresh: dict[str, Freshness], *, today: date,
                      windows: Iterable[int] = FRESHNESS_WINDOWS) -> dict[str, Any]:
    """A set of stations' figures: of those not closed (``stations``), the share confirmed
    within each of ``windows`` days (``{"30": 0.25, ...}``; None when there are none), how many
    are stale (not within :data:`~stationmap.config.STALE_DAYS`, or never), and their open problems."""
    live = [s for s in stations if s.status != "closed"]
    ages = [fresh[s.id].age_days(today) for s in live]
    share = {str(w): (round(sum(1 for a in ages if a is not None and a <= w) / len(live), 4) if live else None)
             for w in windows}
    return {"stations": len(live), "confirmed_within": share,
            "never_confirmed": sum(1 for a in ages if a is None),
            "open_problems": sum(fresh[s.id].open_problems for s in stations)}


def stale_stations(stations: Iterable[Station], fresh: dict[str, Freshness], *, max_age_days: int = STALE_DAYS,
                   today: date | None = None) -> list[Station]:
    """Stations not closed and not confirmed (:class:`Freshness`) in ``max_age_days`` days (or
    never), least recently confirmed first (never first)."""
    today = today or today_shanghai()
    out = [s for s in stations if s.status != "closed"
           and (fresh[s.id].on is None or (fresh[s.id].age_days(today) or 0) > max_age_days)]
    out.sort(key=lambda s: (fresh[s.id].on is not None, fresh[s.id].on or date.min, s.id))
    return out
