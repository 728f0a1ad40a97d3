"""Worker reports and verification: what people on the street say about a station.

Anyone may report, from a station's page, one of :data:`REPORT_KINDS`:
"open and fine", "closed", "no hot water", "charging broken".  Reports are
anonymous and kept in the ``station_reports`` table
(:data:`stationmap.schema.reports_table`).  One device's identical report (same
client address, station and kind) within :data:`~stationmap.config.REPORT_REPEAT_MINUTES`
is counted once: the report keeps a keyed hash of the three (:func:`reporter_key`,
never the address itself) for that long, and the hash is erased after.

A *problem* report (any kind but ``ok``) stays open until an editor deals
with the station: confirming it is still correct (:func:`verify_station`),
closing or reopening it resolves every open report of that station
(:func:`resolve_reports`); an ordinary edit does not.  :func:`needs_visit` lists the stations of a
district with open problem reports: the union's to-do list.

Times are stored in UTC and shown in Asia/Shanghai.  This module never
imports Flask.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from stationmap.config import REPORT_REPEAT_MINUTES
from stationmap.errors import NotFoundError, ValidationError
from stationmap.hours import TZ
from stationmap.labels import REPORT_LABELS
from stationmap.model import Station
from stationmap.schema import as_utc, reports_table, row_to_station, stations_table

if TYPE_CHECKING:
    from stationmap.store import StationStore

#: what a worker may report (labels: :data:`stationmap.labels.REPORT_LABELS`)
REPORT_KINDS = tuple(REPORT_LABELS)
#: the kinds that flag a station for a visit
PROBLEM_KINDS = tuple(k for k in REPORT_KINDS if k != "ok")

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
        return {"id": self.id, "station_id": self.station_id, "kind": self.kind,
                "at": self.at.isoformat(), "open": self.is_open,
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
        raise ValidationError(f"report must be one of {tuple(REPORT_KINDS)}, got {kind!r}", field="kind")
    return kind


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _row_to_report(row: sa.Row[Any]) -> Report:
    m = row._mapping
    return Report(id=int(m["id"]), station_id=m["station_id"], kind=m["kind"], at=as_utc(m["at"]),
                  resolved_at=as_utc(m["resolved_at"]), resolved_by=m["resolved_by"] or "")


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
               reporter: str = "", repeat_minutes: float = REPORT_REPEAT_MINUTES) -> Report:
    """Record a worker report about an existing station (NotFoundError otherwise).

    ``reporter`` (:func:`reporter_key`): when a report with the same key was recorded within
    ``repeat_minutes`` before ``at``, nothing is added and that report is returned with
    ``repeat=True``.  Keys older than the window are erased here, in the same transaction.
    """
    kind = check_report_kind(kind)
    when = as_utc(at) or _now()
    since = when - timedelta(minutes=repeat_minutes)
    t = reports_table
    with store.begin() as conn:
        found = conn.execute(sa.select(stations_table.c.id).where(stations_table.c.id == station_id)).first()
        if found is None:
            raise NotFoundError(f"no station with id {station_id!r}", field="id")
        conn.execute(sa.update(t).where(t.c.reporter != "", t.c.at < since).values(reporter=""))
        if reporter:
            earlier = conn.execute(
                sa.select(t).where(t.c.station_id == station_id, t.c.kind == kind, t.c.reporter == reporter,
                                   t.c.at >= since, t.c.at <= when)
                .order_by(t.c.at.desc(), t.c.id.desc()).limit(1)).first()
            if earlier is not None:
                return replace(_row_to_report(earlier), repeat=True)
        res = conn.execute(sa.insert(t).values(station_id=station_id, kind=kind, at=when, resolved_at=None,
                                               resolved_by="", reporter=reporter))
        rid = res.inserted_primary_key[0]  # type: ignore[index]  # a one-row INSERT always has its key
    return Report(id=int(rid), station_id=station_id, kind=kind, at=when)


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


def resolve_reports(store: StationStore, station_id: str, *, user: str, at: datetime | None = None,
                    conn: sa.Connection | None = None) -> int:
    """Mark the station's open problem reports as dealt with; returns how many."""
    when = as_utc(at) or _now()
    stmt = (sa.update(reports_table)
            .where(reports_table.c.station_id == station_id, reports_table.c.resolved_at.is_(None),
                   reports_table.c.kind.in_(PROBLEM_KINDS))
            .values(resolved_at=when, resolved_by=str(user)))
    if conn is not None:
        return conn.execute(stmt).rowcount
    with store.begin() as c:
        return c.execute(stmt).rowcount


def today_shanghai(now: datetime | None = None) -> date:
    """Today's date in Asia/Shanghai (``now`` naive is taken as UTC)."""
    return (as_utc(now) or _now()).astimezone(TZ).date()


def verify_station(store: StationStore, station_id: str, *, user: str, now: datetime | None = None) -> Station:
    """"Still correct": set ``verified_at`` to today (Asia/Shanghai) and resolve open reports.

    The change is recorded in the store's history (unless the station was
    already verified today, which changes nothing).  One transaction.
    """
    with store.begin() as conn:
        row = conn.execute(sa.select(stations_table).where(stations_table.c.id == station_id)).first()
        if row is None:
            raise NotFoundError(f"no station with id {station_id!r}", field="id")
        station = replace(row_to_station(row), verified_at=today_shanghai(now))
        store.write_many([station], user=user, note="verified: still correct", mode="update", conn=conn)
        resolve_reports(store, station_id, user=user, at=now, conn=conn)
    return station


def needs_visit(store: StationStore, *, adcode_prefix: str = "", days: float = RECENT_DAYS,
                now: datetime | None = None) -> list[VisitItem]:
    """Stations (adcode starting with ``adcode_prefix``) with open problem reports.

    Only reports of the last ``days`` days count.  Most recently reported first.
    """
    since = (as_utc(now) or _now()) - timedelta(days=days)
    q = (sa.select(reports_table.c.station_id, reports_table.c.kind, reports_table.c.at)
         .join(stations_table, stations_table.c.id == reports_table.c.station_id)
         .where(reports_table.c.resolved_at.is_(None), reports_table.c.kind.in_(PROBLEM_KINDS),
                reports_table.c.at >= since))
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


def stale_stations(stations: Iterable[Station], *, max_age_days: int = 365, today: date | None = None) -> list[Station]:
    """Stations not verified in ``max_age_days`` days (or never), oldest first."""
    today = today or today_shanghai()
    limit = today - timedelta(days=max_age_days)
    out = [s for s in stations if s.status != "closed" and (s.verified_at is None or s.verified_at < limit)]
    out.sort(key=lambda s: (s.verified_at is not None, s.verified_at or date.min, s.id))
    return out
