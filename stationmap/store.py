"""StationStore: the stations in a real database, through SQLAlchemy.

SQLite by default (a file under ``instance/``), PostgreSQL when
``STATIONMAP_DATABASE_URL`` names one.  Every write runs in one transaction
and appends to ``station_changes`` (who, when, what before and after).  That
table is both the audit log and the feed that keeps every process's
:class:`~stationmap.index.StationIndex` in step (:meth:`StationStore.changes_since`).
"""

from __future__ import annotations

import json
import uuid
from contextlib import contextmanager
from datetime import date, datetime, timezone
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event

from stationmap.errors import ConfigError, ConflictError, NotFoundError
from stationmap.model import Station

metadata = sa.MetaData()

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
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)

changes_table = sa.Table(
    "station_changes",
    metadata,
    sa.Column("rev", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("station_id", sa.String(64), nullable=False, index=True),
    sa.Column("action", sa.String(16), nullable=False),  # insert | update | delete
    sa.Column("user", sa.Text, nullable=False, default=""),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("before", sa.Text, nullable=True),  # JSON of the record, or NULL
    sa.Column("after", sa.Text, nullable=True),
    sa.Column("note", sa.Text, nullable=False, default=""),
)

_COLUMNS = [c.name for c in stations_table.columns if c.name != "updated_at"]


def _now():
    return datetime.now(timezone.utc)


def station_to_row(s: Station) -> dict:
    row = {c: getattr(s, c) for c in _COLUMNS}
    row["kinds"] = ",".join(s.kinds)
    row["services"] = ",".join(s.services)
    return row


def row_to_station(row) -> Station:
    m = row._mapping if hasattr(row, "_mapping") else row
    verified = m["verified_at"]
    if isinstance(verified, datetime):
        verified = verified.date()
    elif isinstance(verified, str) and verified:
        verified = date.fromisoformat(verified[:10])
    return Station(
        id=m["id"], name=m["name"], name_en=m["name_en"] or "",
        lon=float(m["lon"]), lat=float(m["lat"]),
        kinds=tuple(k for k in (m["kinds"] or "").split(",") if k),
        services=tuple(k for k in (m["services"] or "").split(",") if k),
        address=m["address"] or "", adcode=m["adcode"] or "", host=m["host"] or "",
        operator=m["operator"] or "", phone=m["phone"] or "",
        opening_hours=m["opening_hours"] or "24/7", status=m["status"] or "active",
        verified_at=verified or None, source=m["source"] or "",
    )


def _json(s: Station | None):
    return None if s is None else json.dumps(s.to_dict(), ensure_ascii=False, sort_keys=True)


def new_id() -> str:
    """A fresh station id for a record that came without one."""
    return "st-" + uuid.uuid4().hex[:12]


class StationStore:
    """Stations in a SQL database.  ``url`` is an SQLAlchemy URL."""

    def __init__(self, url: str):
        self.url = url
        try:
            if url.startswith("sqlite:///"):
                path = url[len("sqlite:///"):]
                if path and path != ":memory:":
                    Path(path).parent.mkdir(parents=True, exist_ok=True)
            self.engine = sa.create_engine(url, future=True)
        except (sa.exc.ArgumentError, ImportError) as exc:
            raise ConfigError(f"database URL {url!r} cannot be used: {exc}") from None
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)

    @classmethod
    def from_settings(cls, settings) -> "StationStore":
        return cls(settings.database_url)

    # -- schema -----------------------------------------------------------
    def create_all(self) -> None:
        # modules that define more tables on `metadata` (users, worker reports)
        import stationmap.accounts  # noqa: F401
        import stationmap.reports  # noqa: F401

        metadata.create_all(self.engine)

    def exists(self) -> bool:
        return sa.inspect(self.engine).has_table("stations")

    @contextmanager
    def begin(self):
        with self.engine.begin() as conn:
            yield conn

    # -- reads ------------------------------------------------------------
    def all(self) -> list[Station]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(stations_table).order_by(stations_table.c.id))
            return [row_to_station(r) for r in rows]

    def get(self, station_id: str) -> Station:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(stations_table).where(stations_table.c.id == station_id)
            ).first()
        if row is None:
            raise NotFoundError(f"no station with id {station_id!r}", field="id")
        return row_to_station(row)

    def count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(stations_table)).scalar_one()

    def ids(self) -> set:
        with self.engine.connect() as conn:
            return {r[0] for r in conn.execute(sa.select(stations_table.c.id))}

    def revision(self) -> int:
        """The number of the latest change (0 for a store never written)."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.max(changes_table.c.rev))).scalar() or 0

    def changes_since(self, rev: int, *, limit: int | None = None) -> list[dict]:
        """Changes after ``rev``, oldest first: dicts with rev, station_id, action, ..."""
        q = sa.select(changes_table).where(changes_table.c.rev > rev).order_by(changes_table.c.rev)
        if limit:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def history(self, station_id: str) -> list[dict]:
        """Every recorded change of one station, newest first, with before/after records."""
        q = (sa.select(changes_table).where(changes_table.c.station_id == station_id)
             .order_by(changes_table.c.rev.desc()))
        with self.engine.connect() as conn:
            out = []
            for r in conn.execute(q):
                d = dict(r._mapping)
                d["before"] = json.loads(d["before"]) if d["before"] else None
                d["after"] = json.loads(d["after"]) if d["after"] else None
                out.append(d)
            return out

    # -- writes -----------------------------------------------------------
    def _log(self, conn, rows: list[dict]) -> None:
        if rows:
            conn.execute(sa.insert(changes_table), rows)

    def insert(self, station: Station, *, user: str = "", note: str = "") -> Station:
        return self.write_many([station], user=user, note=note, mode="insert")[0]

    def update(self, station: Station, *, user: str = "", note: str = "") -> Station:
        return self.write_many([station], user=user, note=note, mode="update")[0]

    def upsert(self, station: Station, *, user: str = "", note: str = "") -> Station:
        return self.write_many([station], user=user, note=note, mode="upsert")[0]

    def delete(self, station_id: str, *, user: str = "", note: str = "") -> Station:
        with self.begin() as conn:
            row = conn.execute(
                sa.select(stations_table).where(stations_table.c.id == station_id)
            ).first()
            if row is None:
                raise NotFoundError(f"no station with id {station_id!r}", field="id")
            before = row_to_station(row)
            conn.execute(sa.delete(stations_table).where(stations_table.c.id == station_id))
            self._log(conn, [dict(station_id=station_id, action="delete", user=user, at=_now(),
                                  before=_json(before), after=None, note=note)])
        return before

    def write_many(self, stations, *, user: str = "", note: str = "", mode: str = "upsert",
                   conn=None, log: bool = True) -> list[Station]:
        """Write stations in ONE transaction; all or nothing.

        ``mode``: ``insert`` (an existing id is a ConflictError), ``update`` (a
        missing id is a NotFoundError) or ``upsert``.  Stations without an id
        get a new one.
        """
        stations = list(stations)
        for s in stations:
            if not s.id:
                s.id = new_id()
        if conn is None:
            with self.begin() as c:
                return self._write_many(c, stations, user, note, mode, log)
        return self._write_many(conn, stations, user, note, mode, log)

    def _write_many(self, conn, stations, user, note, mode, log):
        ids = [s.id for s in stations]
        existing = {}
        for chunk_start in range(0, len(ids), 500):
            chunk = ids[chunk_start:chunk_start + 500]
            for r in conn.execute(sa.select(stations_table).where(stations_table.c.id.in_(chunk))):
                existing[r.id] = row_to_station(r)
        if mode == "insert" and existing:
            raise ConflictError(f"station id already exists: {sorted(existing)[0]!r}", field="id")
        if mode == "update":
            missing = [i for i in ids if i not in existing]
            if missing:
                raise NotFoundError(f"no station with id {missing[0]!r}", field="id")
        now = _now()
        new_rows, upd_rows, log_rows = [], [], []
        for s in stations:
            row = station_to_row(s)
            row["updated_at"] = now
            before = existing.get(s.id)
            if before is None:
                new_rows.append(row)
                action = "insert"
            else:
                if before == s:
                    continue
                upd_rows.append(row)
                action = "update"
            if log:
                log_rows.append(dict(station_id=s.id, action=action, user=user, at=now,
                                     before=_json(before), after=_json(s), note=note))
        if new_rows:
            conn.execute(sa.insert(stations_table), new_rows)
        if upd_rows:
            stmt = (sa.update(stations_table).where(stations_table.c.id == sa.bindparam("_id"))
                    .values({c: sa.bindparam(c) for c in _COLUMNS if c != "id"} | {"updated_at": sa.bindparam("updated_at")}))
            conn.execute(stmt, [{**r, "_id": r["id"]} for r in upd_rows])
        self._log(conn, log_rows)
        return stations


def _sqlite_pragmas(dbapi_conn, _record):
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()
