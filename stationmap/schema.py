"""The database schema: the ONE :data:`metadata`, every table, and the row <-> Station mapping.

Tables
------
``stations``
    one row per station (WGS-84 ``lon``/``lat``; ``kinds`` and ``services``
    comma-separated canonical names).
``station_changes``
    every write to ``stations``: who, when, the record before and after (the
    JSON of :func:`station_json`).  The audit log, and the feed that keeps
    every process's index in step.
``users``
    accounts (:mod:`stationmap.accounts`).
``station_reports``
    anonymous check-ins (worker reports) and their resolutions (:mod:`stationmap.reports`).
``sessions``
    signed-in sessions, by the hash of their random id (:mod:`stationmap.sessions`).
``login_failures``
    failed sign-ins, per account name tried and client address: the throttle
    (:mod:`stationmap.sessions`).
``audit_log``
    the security audit log: sign-ins, sign-outs, account changes, imports,
    station closures (:mod:`stationmap.audit`).

:mod:`stationmap.store`, :mod:`stationmap.accounts` and :mod:`stationmap.reports`
import their tables from here; this module imports none of them, so every
table is on :data:`metadata` as soon as it is imported (no registration by
import side effect).  Times in every ``DateTime`` column are UTC
(:func:`as_utc` reads them back).  This module never imports Flask.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime, timezone
from typing import Any, overload

import sqlalchemy as sa

from stationmap.model import Station, build_station

metadata = sa.MetaData()


def _serial(name: str) -> sa.Column[int]:
    """An autoincrementing integer primary key."""
    return sa.Column(name, sa.Integer, primary_key=True, autoincrement=True)


def _utc(name: str, *, nullable: bool = False, index: bool | None = None) -> sa.Column[datetime]:
    """A UTC time (timezone-aware ``DateTime``)."""
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable, index=index)


def _station_ref() -> sa.Column[str]:
    """``station_id``: the station a log or report row is about (no foreign key: it outlives deletes)."""
    return sa.Column("station_id", sa.String(64), nullable=False, index=True)


stations_table = sa.Table(
    "stations",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("name_en", sa.Text, nullable=False, default=""),
    sa.Column("kinds", sa.Text, nullable=False),  # comma-separated, canonical names
    sa.Column("services", sa.Text, nullable=False, default=""),
    sa.Column("address", sa.Text, nullable=False, default=""),
    sa.Column("adcode", sa.String(6), nullable=False, default="", index=True),
    sa.Column("host", sa.Text, nullable=False, default=""),
    sa.Column("operator", sa.Text, nullable=False, default=""),
    sa.Column("phone", sa.Text, nullable=False, default=""),
    sa.Column("opening_hours", sa.Text, nullable=False, default="24/7"),
    sa.Column("status", sa.String(32), nullable=False, default="active"),
    sa.Column("verified_at", sa.Date, nullable=True),
    sa.Column("source", sa.Text, nullable=False, default=""),
    sa.Column("lon", sa.Float, nullable=False),  # WGS-84
    sa.Column("lat", sa.Float, nullable=False),  # WGS-84
    sa.Column("reopens_on", sa.Date, nullable=True),  # a temporarily closed station reopens (migration 0003)
    sa.Column("service_hours", sa.Text, nullable=False, default="", server_default=""),  # JSON {service: hours}
    sa.Column("capacity", sa.Integer, nullable=True),  # people served at once (migration 0006)
    _utc("updated_at"),
)

changes_table = sa.Table(
    "station_changes",
    metadata,
    _serial("rev"),
    _station_ref(),
    sa.Column("action", sa.String(16), nullable=False),  # insert | update | delete
    sa.Column("user", sa.Text, nullable=False, default=""),
    _utc("at"),
    sa.Column("before", sa.Text, nullable=True),  # JSON of the record, or NULL
    sa.Column("after", sa.Text, nullable=True),
    sa.Column("note", sa.Text, nullable=False, default=""),
)

users_table = sa.Table(
    "users",
    metadata,
    _serial("id"),
    sa.Column("username", sa.String(64), nullable=False, unique=True),
    sa.Column("password_hash", sa.Text, nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("scopes", sa.Text, nullable=False, default=""),  # comma-separated adcode prefixes
    sa.Column("epoch", sa.Integer, nullable=False, default=1),
    _utc("created_at"),
    _utc("updated_at"),
)

reports_table = sa.Table(
    "station_reports",
    metadata,
    _serial("id"),
    _station_ref(),
    sa.Column("kind", sa.String(32), nullable=False),
    _utc("at", index=True),
    _utc("resolved_at", nullable=True),
    sa.Column("resolved_by", sa.Text, nullable=False, default=""),
    # a keyed hash of the reporter's address with the station and kind, kept only for
    # config.REPORT_REPEAT_MINUTES to count a repeat once, then erased (migration 0004)
    sa.Column("reporter", sa.String(64), nullable=False, default="", server_default=""),
    # check-ins (migration 0005): a service_missing's service, a moved's suggested position
    # (WGS-84), a note, and how an editor resolved the item
    sa.Column("service", sa.String(32), nullable=False, default="", server_default=""),
    sa.Column("lon", sa.Float, nullable=True),
    sa.Column("lat", sa.Float, nullable=True),
    sa.Column("note", sa.Text, nullable=False, default="", server_default=""),
    sa.Column("resolution", sa.String(16), nullable=False, default="", server_default=""),
    # the sender's idempotency key (migration 0008): a check-in queued offline and sent again is
    # recorded once (the API's Idempotency-Key header); NULL for the form's
    sa.Column("client_key", sa.String(64), nullable=True),
    sa.Index("ux_station_reports_client_key", "client_key", unique=True),
)

sessions_table = sa.Table(
    "sessions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),  # sha256 hex of the cookie's random token
    sa.Column("user_id", sa.Integer, nullable=False, index=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
    sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
    sa.Column("end_reason", sa.String(32), nullable=False, default=""),
    sa.Column("address", sa.String(64), nullable=False, default=""),
)

login_failures_table = sa.Table(
    "login_failures",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("username", sa.String(64), nullable=False, index=True),  # as tried, lower case
    sa.Column("address", sa.String(64), nullable=False, index=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
)

#: "a station is needed here" (migration 0007): a pin dropped by a worker with a short reason,
#: moderated by the editors of the district it lies in (:mod:`stationmap.station_requests`)
requests_table = sa.Table(
    "station_requests",
    metadata,
    _serial("id"),
    sa.Column("lon", sa.Float, nullable=False),   # WGS-84
    sa.Column("lat", sa.Float, nullable=False),
    sa.Column("adcode", sa.String(6), nullable=False, default="", index=True),  # "" in no known district
    sa.Column("reason", sa.Text, nullable=False, default=""),
    _utc("at", index=True),
    sa.Column("status", sa.String(16), nullable=False, default="pending", index=True),
    _utc("decided_at", nullable=True),
    sa.Column("decided_by", sa.Text, nullable=False, default=""),
)

audit_table = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("event", sa.String(32), nullable=False, index=True),
    sa.Column("user", sa.String(64), nullable=False, default="", index=True),  # who (or the name tried)
    sa.Column("address", sa.String(64), nullable=False, default=""),
    sa.Column("detail", sa.Text, nullable=False, default=""),
)

#: the ``stations`` columns a Station fills (all but ``updated_at``), in table order
STATION_COLUMNS = tuple(c.name for c in stations_table.columns if c.name != "updated_at")


@overload
def as_utc(dt: datetime | str) -> datetime: ...
@overload
def as_utc(dt: None) -> None: ...
@overload
def as_utc(dt: datetime | str | None) -> datetime | None: ...


def as_utc(dt: datetime | str | None) -> datetime | None:
    """An aware UTC datetime; naive values (SQLite returns them) are taken as UTC.

    ISO 8601 text is parsed; None stays None.
    """
    if dt is None:
        return None
    if isinstance(dt, str):
        dt = datetime.fromisoformat(dt)
    return dt.replace(tzinfo=timezone.utc) if dt.tzinfo is None else dt.astimezone(timezone.utc)


# -- row <-> Station ------------------------------------------------------------

def station_to_row(s: Station) -> dict[str, Any]:
    """The ``stations`` row of ``s`` (without ``updated_at``)."""
    row = {c: getattr(s, c) for c in STATION_COLUMNS}
    row["kinds"] = ",".join(s.kinds)
    row["services"] = ",".join(s.services)
    row["service_hours"] = _service_hours_json(s.service_hours)
    return row


def _service_hours_json(pairs: tuple[tuple[str, str], ...]) -> str:
    """The ``service_hours`` column: JSON of ``{service: hours}``, "" for none."""
    return json.dumps(dict(pairs), ensure_ascii=False, sort_keys=True) if pairs else ""


def _service_hours(text: str | None) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(json.loads(text).items())) if text else ()


def station_columns(stations: list[Station], updated_at: datetime) -> dict[str, list[Any]]:
    """The ``stations`` columns of ``stations``, column-wise (``{name: [values]}``),
    as :func:`station_to_row` makes rows; every row's ``updated_at`` is ``updated_at``."""
    cols = {c: [getattr(s, c) for s in stations] for c in STATION_COLUMNS
            if c not in ("kinds", "services", "service_hours")}
    cols["kinds"] = [",".join(s.kinds) for s in stations]
    cols["services"] = [",".join(s.services) for s in stations]
    cols["service_hours"] = [_service_hours_json(s.service_hours) for s in stations]
    cols["updated_at"] = [updated_at] * len(stations)
    return cols


#: Station's fields in declaration order: :func:`row_to_station` gives them to
#: :func:`~stationmap.model.build_station` positionally
_STATION_ORDER = ("id", "name", "lon", "lat", "kinds", "services", "name_en", "address", "adcode", "host",
                  "operator", "phone", "opening_hours", "status", "verified_at", "source", "reopens_on",
                  "service_hours", "capacity")
if tuple(f.name for f in dataclasses.fields(Station)) != _STATION_ORDER:
    raise ImportError("Station's fields changed: update stationmap.schema.row_to_station and _STATION_ORDER")


def row_to_station(row: sa.Row[Any] | Mapping[str, Any]) -> Station:
    """The Station of a ``stations`` row (a SQLAlchemy Row or a mapping)."""
    m = row._mapping if isinstance(row, sa.Row) else row
    verified = _as_date(m["verified_at"])
    # build_station, positionally (_STATION_ORDER): Station(...) without the frozen __init__'s
    # cost or keyword matching (store.all() and every import's comparison read every row)
    return build_station(
        m["id"], m["name"], float(m["lon"]), float(m["lat"]),
        tuple(k for k in (m["kinds"] or "").split(",") if k),
        tuple(k for k in (m["services"] or "").split(",") if k),
        m["name_en"] or "", m["address"] or "", m["adcode"] or "", m["host"] or "",
        m["operator"] or "", m["phone"] or "", m["opening_hours"] or "24/7", m["status"] or "active",
        verified or None, m["source"] or "", _as_date(m.get("reopens_on")) or None,
        _service_hours(m.get("service_hours")), m.get("capacity"),
    )


class _Shared(dict):
    """``{raw column value: the station's value}``, the value made by ``make`` on first sight: one
    object per distinct value (a lookup in C when it is known)."""

    def __init__(self, make: Callable[[Any], Any]) -> None:
        super().__init__()
        self.make = make

    def __missing__(self, raw: Any) -> Any:
        v = self[raw] = self.make(raw)
        return v


def station_select() -> sa.Select[Any]:
    """``SELECT`` of the ``stations`` columns in Station's field order, the rows
    :func:`rows_to_stations` reads."""
    return sa.select(*(stations_table.c[name] for name in _STATION_ORDER))


def rows_to_stations(rows: Iterable[Sequence[Any]]) -> list[Station]:
    """The Stations of many rows of :func:`station_select`, as :func:`row_to_station` makes them,
    with one object per distinct value of the columns whose values repeat across stations (kinds,
    services, hours, district, host, operator, dates...), each distinct text parsed once.

    Measured at 200,000 national sample stations (benchmarks/bench_tiles.py, this machine): the
    stations take 370 -> 118 MB (in the server's master and so in every worker's RSS).
    """
    text, dates = _Shared(lambda v: v or ""), _Shared(lambda v: _as_date(v) or None)
    kinds, services = _Shared(_split), _Shared(_split)
    hours, status = _Shared(lambda v: v or "24/7"), _Shared(lambda v: v or "active")
    service_hours = _Shared(_service_hours)
    out: list[Station] = []
    append = out.append
    for (id_, name, lon, lat, kinds_, services_, name_en, address, adcode, host, operator, phone, hours_,
         status_, verified_at, source, reopens_on, service_hours_, capacity) in rows:
        append(build_station(
            id_, name, float(lon), float(lat), kinds[kinds_], services[services_], text[name_en],
            address or "", text[adcode], text[host], text[operator], text[phone], hours[hours_],
            status[status_], dates[verified_at], text[source], dates[reopens_on], service_hours[service_hours_],
            capacity))
    return out


def _split(text: str | None) -> tuple[str, ...]:
    """A comma-separated column (kinds, services) as a tuple, empty items dropped."""
    return tuple(k for k in (text or "").split(",") if k)


def _as_date(v: Any) -> date | None:
    """A Date column's value as a date (SQLite may hand back text)."""
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, str) and v:
        return date.fromisoformat(v[:10])
    return v or None


# -- the change log's JSON of a station ------------------------------------------

def station_json_slow(s: Station) -> str:
    """``json.dumps(s.to_dict(), ensure_ascii=False, sort_keys=True)``: what :func:`station_json` writes."""
    return json.dumps(s.to_dict(), ensure_ascii=False, sort_keys=True)


_jstr = json.encoder.encode_basestring  # the C implementation where there is one
_FAST_FIELDS = ("adcode", "address", "capacity", "host", "id", "kinds", "lat", "lon", "name", "name_en",
                "opening_hours", "operator", "phone", "reopens_on", "service_hours", "services", "source", "status",
                "verified_at")
_FAST_JSON = tuple(sorted(f.name for f in dataclasses.fields(Station))) == _FAST_FIELDS


def station_json(s: Station | None) -> str | None:
    """The ``before``/``after`` text of a change-log row: :func:`station_json_slow`, 3x faster.

    None (no record) stays None.  An import logs one of these per station
    (200,000 for a large list).  The fast path writes the same text for the
    fields Station has today (``tests/unit/test_io.py`` checks it against
    :func:`station_json_slow`); any other shape or value type takes the slow path.
    """
    if s is None:
        return None
    if _FAST_JSON and type(s) is Station:
        try:
            lon, lat, v = s.lon, s.lat, s.verified_at
            r, c = s.reopens_on, s.capacity
            if type(lon) is float and type(lat) is float and math.isfinite(lon) and math.isfinite(lat) \
                    and (v is None or type(v) is date) and (r is None or type(r) is date) and not s.service_hours \
                    and (c is None or type(c) is int):
                return (
                    f'{{"adcode": {_jstr(s.adcode)}, "address": {_jstr(s.address)}, '
                    f'"capacity": {"null" if c is None else c}, "host": {_jstr(s.host)}, '
                    f'"id": {_jstr(s.id)}, "kinds": [{", ".join(map(_jstr, s.kinds))}], '
                    f'"lat": {float.__repr__(lat)}, "lon": {float.__repr__(lon)}, "name": {_jstr(s.name)}, '
                    f'"name_en": {_jstr(s.name_en)}, "opening_hours": {_jstr(s.opening_hours)}, '
                    f'"operator": {_jstr(s.operator)}, "phone": {_jstr(s.phone)}, '
                    f'"reopens_on": {"null" if r is None else _jstr(r.isoformat())}, '
                    f'"service_hours": {{}}, '
                    f'"services": [{", ".join(map(_jstr, s.services))}], "source": {_jstr(s.source)}, '
                    f'"status": {_jstr(s.status)}, '
                    f'"verified_at": {"null" if v is None else _jstr(v.isoformat())}}}'
                )
        except TypeError:  # a value that is not a str: let json decide
            pass
    return station_json_slow(s)
