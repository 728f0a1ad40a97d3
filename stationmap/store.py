"""StationStore: the stations in a real database, through SQLAlchemy.

SQLite by default (a file under ``instance/``), PostgreSQL when
``STATIONMAP_DATABASE_URL`` names one.  Every write runs in one transaction
and appends to ``station_changes`` (who, when, what before and after).  That
table is both the audit log and the feed that keeps every process's
:class:`~stationmap.index.StationIndex` in step (:meth:`StationStore.changes_since`).
The tables and the row <-> Station mapping are :mod:`stationmap.schema`'s.
"""

from __future__ import annotations

import json
import math
import mmap
import os
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import event

from stationmap import audit
from stationmap.errors import ConfigError, ConflictError, NotFoundError
from stationmap.instance import create_private_file, private_dir
from stationmap.model import Station
from stationmap.schema import (
    STATION_COLUMNS,
    changes_table,
    metadata,
    row_to_station,
    rows_to_stations,
    station_columns,
    station_json,
    station_select,
    station_to_row,
    stations_table,
)

if TYPE_CHECKING:
    from stationmap.config import Settings


def _now() -> datetime:
    return datetime.now(timezone.utc)


#: above this many rows an insert goes straight to the driver (see _insert_columns)
_BULK_ROWS = 1000


def _insert_columns(conn: sa.Connection, table: sa.Table, columns: dict[str, list[Any]]) -> None:
    """Insert rows given column-wise (``{name: [values]}``), in the open transaction.

    Equivalent to ``conn.execute(sa.insert(table), rows)``.  For many rows
    it is faster: SQLAlchemy builds and type-processes every parameter set
    in Python (about half the time of a 200,000-row import); here the
    statement is compiled once for the connection's dialect, each column's
    bind processor (the one SQLAlchemy would apply) runs once per value, or
    once for a column whose rows share one value (``updated_at``), and one
    DBAPI ``executemany`` sends the rows.
    """
    keys = list(columns)
    n = len(columns[keys[0]]) if keys else 0
    if not n:
        return
    if n < _BULK_ROWS:
        conn.execute(sa.insert(table), [dict(zip(keys, t)) for t in zip(*columns.values())])
        return
    dialect = conn.dialect
    compiled = sa.insert(table).compile(dialect=dialect, column_keys=keys)
    names = list(compiled.positiontup or ()) if compiled.positional else keys
    cols: list[list[Any]] = []
    for k in names:
        vals = columns[k]
        proc = table.c[k].type.dialect_impl(dialect).bind_processor(dialect)
        if proc is not None:
            first = vals[0]
            if all(v is first for v in vals):
                pv = proc(first)
                vals = [pv] * n
            else:
                vals = [proc(v) for v in vals]
        cols.append(vals)
    params: list[tuple[Any, ...]] | list[dict[str, Any]]
    params = list(zip(*cols)) if compiled.positional else [dict(zip(names, t)) for t in zip(*cols)]
    conn.exec_driver_sql(str(compiled), params)


def new_id() -> str:
    """A fresh station id for a record that came without one."""
    return "st-" + uuid.uuid4().hex[:12]


class StationStore:
    """Stations in a SQL database.  ``url`` is an SQLAlchemy URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        try:
            if url.startswith("sqlite:///"):
                path = url[len("sqlite:///"):]
                if path and path != ":memory:" and "?" not in path and not path.startswith("file:"):
                    private_dir(Path(path).parent)
                    create_private_file(path)  # SQLite gives its -wal and -shm files the same mode
            self.engine = sa.create_engine(url, future=True)
        except (sa.exc.ArgumentError, ImportError) as exc:
            raise ConfigError(f"database URL {url!r} cannot be used: {exc}") from None
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)

    @classmethod
    def from_settings(cls, settings: Settings) -> StationStore:
        """The store at ``settings.database_url``."""
        return cls(settings.database_url)

    # -- schema -----------------------------------------------------------
    def create_all(self) -> None:
        """Create every table of :data:`stationmap.schema.metadata` that does not exist yet."""
        metadata.create_all(self.engine)

    def exists(self) -> bool:
        """Whether the ``stations`` table is there."""
        return sa.inspect(self.engine).has_table("stations")

    @contextmanager
    def begin(self) -> Iterator[sa.Connection]:
        """A connection in a transaction, committed on leaving (rolled back on an error)."""
        with self.engine.begin() as conn:
            yield conn

    # -- reads ------------------------------------------------------------
    def all(self) -> list[Station]:
        """Every stored station, in id order."""
        with self.engine.connect() as conn:
            return rows_to_stations(conn.execute(station_select().order_by(stations_table.c.id)))

    def without_adcode(self, *, conn: sa.Connection | None = None) -> list[Station]:
        """The stored stations with no district code (empty or NULL ``adcode``), in id order
        (read on ``conn``, inside its transaction, when given)."""
        c = stations_table.c
        q = sa.select(stations_table).where(sa.or_(c.adcode == "", c.adcode.is_(None))).order_by(c.id)
        if conn is not None:
            return [row_to_station(r) for r in conn.execute(q)]
        with self.engine.connect() as own:
            return [row_to_station(r) for r in own.execute(q)]

    def get(self, station_id: str) -> Station:
        """The stored station ``station_id``; NotFoundError if there is none."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(stations_table).where(stations_table.c.id == station_id)
            ).first()
        if row is None:
            raise NotFoundError(f"no station with id {station_id!r}", field="id")
        return row_to_station(row)

    def count(self) -> int:
        """How many stations are stored."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.count()).select_from(stations_table)).scalar_one()

    def ids(self) -> set[str]:
        """The stored stations' ids."""
        with self.engine.connect() as conn:
            return {r[0] for r in conn.execute(sa.select(stations_table.c.id))}

    def adcodes(self, ids: Iterable[str]) -> dict[str, str]:
        """``{id: adcode}`` of those of ``ids`` that are stored (the districts a write would touch)."""
        ids = list(ids)
        out: dict[str, str] = {}
        if not ids:
            return out
        with self.engine.connect() as conn:
            for i in range(0, len(ids), 500):
                q = sa.select(stations_table.c.id, stations_table.c.adcode).where(
                    stations_table.c.id.in_(ids[i:i + 500]))
                out.update({r.id: r.adcode for r in conn.execute(q)})
        return out

    def revision(self) -> int:
        """The number of the latest change (0 for a store never written)."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(sa.func.max(changes_table.c.rev))).scalar() or 0

    def revision_time(self, rev: int) -> datetime | None:
        """When change ``rev`` was written (aware UTC); None for 0 or an unknown number."""
        with self.engine.connect() as conn:
            at = conn.execute(sa.select(changes_table.c.at).where(changes_table.c.rev == rev)).scalar()
        if at is None:
            return None
        return at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at.astimezone(timezone.utc)

    def change_probe(self) -> ChangeProbe:
        """A :class:`ChangeProbe` of this store, for this process (make a new one after a fork)."""
        return ChangeProbe(self)

    def changes_since(self, rev: int, *, limit: int | None = None) -> list[dict[str, Any]]:
        """Changes after ``rev``, oldest first: dicts with rev, station_id, action, ..."""
        q = sa.select(changes_table).where(changes_table.c.rev > rev).order_by(changes_table.c.rev)
        if limit:
            q = q.limit(limit)
        with self.engine.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]

    def history(self, station_id: str) -> list[dict[str, Any]]:
        """Every recorded change of one station, newest first, with before/after records."""
        q = (sa.select(changes_table).where(changes_table.c.station_id == station_id)
             .order_by(changes_table.c.rev.desc()))
        with self.engine.connect() as conn:
            out: list[dict[str, Any]] = []
            for r in conn.execute(q):
                d = dict(r._mapping)
                d["before"] = json.loads(d["before"]) if d["before"] else None
                d["after"] = json.loads(d["after"]) if d["after"] else None
                out.append(d)
            return out

    # -- writes -----------------------------------------------------------
    @staticmethod
    def _serialize_writes(conn: sa.Connection) -> None:
        """Make the change log's numbers commit in order (first thing in a writing transaction).

        SQLite has one writer at a time already.  PostgreSQL hands out the numbers (``rev``) as
        rows are inserted, so two writers could commit out of order and a reader (the change
        feed, another process's index) could see rev 11 before rev 10 and move past it; an
        EXCLUSIVE lock on ``station_changes`` (readers go on) makes one writer wait for the
        other: every number below a committed one is committed or rolled back.
        """
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("LOCK TABLE station_changes IN EXCLUSIVE MODE"))

    def _log(self, conn: sa.Connection, rows: list[dict[str, Any]]) -> None:
        if rows:
            conn.execute(sa.insert(changes_table), rows)

    def insert(self, station: Station, *, user: str = "", note: str = "") -> Station:
        """Insert one station (ConflictError if its id is stored); the station as stored."""
        return self.write_many([station], user=user, note=note, mode="insert")[0]

    def update(self, station: Station, *, user: str = "", note: str = "") -> Station:
        """Update one stored station (NotFoundError if its id is not stored); the station as stored."""
        return self.write_many([station], user=user, note=note, mode="update")[0]

    def upsert(self, station: Station, *, user: str = "", note: str = "") -> Station:
        """Insert or update one station; the station as stored."""
        return self.write_many([station], user=user, note=note, mode="upsert")[0]

    def delete(self, station_id: str, *, user: str = "", note: str = "") -> Station:
        """Delete one stored station (NotFoundError if there is none); the station it was."""
        with self.begin() as conn:
            self._serialize_writes(conn)
            row = conn.execute(
                sa.select(stations_table).where(stations_table.c.id == station_id)
            ).first()
            if row is None:
                raise NotFoundError(f"no station with id {station_id!r}", field="id")
            before = row_to_station(row)
            conn.execute(sa.delete(stations_table).where(stations_table.c.id == station_id))
            self._log(conn, [{"station_id": station_id, "action": "delete", "user": user, "at": _now(),
                              "before": station_json(before), "after": None, "note": note}])
            audit.record(conn, "station_deleted", user=user, detail=f"{station_id} {before.name}")
        return before

    def write_many(self, stations: Iterable[Station], *, user: str = "", note: str = "", mode: str = "upsert",
                   conn: sa.Connection | None = None, log: bool = True,
                   stats: dict[str, int] | None = None) -> list[Station]:
        """Write stations in ONE transaction; all or nothing.

        ``mode``: ``insert`` (an existing id is a ConflictError), ``update`` (a
        missing id is a NotFoundError) or ``upsert``.  Stations without an id
        get a new one.  ``stats``, if given, is filled with the number of
        stations inserted, updated and left unchanged (``"insert"``,
        ``"update"``, ``"unchanged"``).
        """
        todo = [s if s.id else replace(s, id=new_id()) for s in stations]
        if conn is None:
            with self.begin() as c:
                return self._write_many(c, todo, user, note, mode, log, stats)
        return self._write_many(conn, todo, user, note, mode, log, stats)

    def _existing(self, conn: sa.Connection, ids: list[str]) -> dict[str, Station]:
        """{id: stored Station} for those of ``ids`` that are stored."""
        existing: dict[str, Station] = {}
        for chunk_start in range(0, len(ids), 500):
            chunk = ids[chunk_start:chunk_start + 500]
            for r in conn.execute(sa.select(stations_table).where(stations_table.c.id.in_(chunk))):
                existing[r.id] = row_to_station(r)
        return existing

    def classify(self, stations: Iterable[Station], *, conn: sa.Connection | None = None,
                 ) -> tuple[list[Station], list[Station], list[Station]]:
        """Split stations into (new, changed, unchanged) against the stored ones.

        What :meth:`write_many` in ``upsert`` mode would insert, update and
        skip; writes nothing (dry runs use it).
        """
        todo = list(stations)
        if conn is None:
            with self.engine.connect() as c:
                existing = self._existing(c, [s.id for s in todo])
        else:
            existing = self._existing(conn, [s.id for s in todo])
        new: list[Station] = []
        changed: list[Station] = []
        same: list[Station] = []
        for s in todo:
            before = existing.get(s.id)
            (new if before is None else same if before == s else changed).append(s)
        return new, changed, same

    def _write_many(self, conn: sa.Connection, stations: list[Station], user: str, note: str, mode: str,
                    log: bool, stats: dict[str, int] | None = None) -> list[Station]:
        self._serialize_writes(conn)
        ids = [s.id for s in stations]
        existing = self._existing(conn, ids)
        if mode == "insert" and existing:
            raise ConflictError(f"station id already exists: {sorted(existing)[0]!r}", field="id")
        if mode == "update":
            missing = [i for i in ids if i not in existing]
            if missing:
                raise NotFoundError(f"no station with id {missing[0]!r}", field="id")
        now = _now()
        new: list[Station] = []
        changed: list[Station] = []
        logged: list[tuple[Station, str, Station | None]] = []
        for s in stations:
            before = existing.get(s.id)
            if before is None:
                new.append(s)
                action = "insert"
            else:
                if before == s:
                    continue
                changed.append(s)
                action = "update"
            if log:
                logged.append((s, action, before))
        if new:
            _insert_columns(conn, stations_table, station_columns(new, now))
        if changed:
            stmt = (sa.update(stations_table).where(stations_table.c.id == sa.bindparam("_id"))
                    .values({c: sa.bindparam(c) for c in STATION_COLUMNS if c != "id"}
                            | {"updated_at": sa.bindparam("updated_at")}))
            conn.execute(stmt, [{**station_to_row(s), "updated_at": now, "_id": s.id} for s in changed])
        if stats is not None:
            stats.update(insert=len(new), update=len(changed), unchanged=len(stations) - len(new) - len(changed))
        if logged:
            n = len(logged)
            _insert_columns(conn, changes_table, {
                "station_id": [s.id for s, _, _ in logged], "action": [a for _, a, _ in logged],
                "user": [user] * n, "at": [now] * n, "before": [station_json(b) for _, _, b in logged],
                "after": [station_json(s) for s, _, _ in logged], "note": [note] * n,
            })
        return stations


class ChangeProbe:
    """``changed()``: False only when the database surely has no commit since the last call.

    Every request of the web app asks (a write through one gunicorn worker must
    be seen by the next request to any other), so the question must cost less
    than asking for the revision (~0.15 ms a request, bench_api.py):

    - SQLite: ``PRAGMA data_version`` on a connection of the probe's own, which
      changes whenever another connection commits; and before it, in WAL mode,
      a look at the WAL-index header in the ``-shm`` file, mapped into memory.
      SQLite rewrites that header at every commit (its change counter, frame
      count and checksums: https://www.sqlite.org/walformat.html); while it is
      byte for byte what it was at the last PRAGMA, nothing was committed, and
      the PRAGMA (a read transaction: file locks, ~25 us on a busy server) is
      not needed.  The header is SQLite's documented file format, not its API,
      so the PRAGMA is still asked at least every :attr:`RECHECK_S` seconds.
    - Other databases: always True (the revision is asked every request).
    """

    #: the longest the WAL-index header alone answers, in seconds
    RECHECK_S = 1.0
    _HEADER = 48     # one copy of the WAL-index header (WalIndexHdr)

    def __init__(self, store: StationStore) -> None:
        self._conn: sqlite3.Connection | None = None
        self._shm: mmap.mmap | None = None
        self._mapped = False
        self._version: int | None = None
        self._header: bytes | None = None
        self._checked = -math.inf
        url = store.engine.url
        path = url.database if url.get_backend_name() == "sqlite" else None
        if not path or path == ":memory:" or path.startswith("file:"):
            return
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._path = path

    def _map_shm(self) -> mmap.mmap | None:
        """The ``-shm`` file's first page, mapped read-only (None: not in WAL mode, or not yet there)."""
        try:
            fd = os.open(self._path + "-shm", os.O_RDONLY)
        except OSError:
            return None
        try:
            if os.fstat(fd).st_size < mmap.PAGESIZE:
                return None
            return mmap.mmap(fd, mmap.PAGESIZE, prot=mmap.PROT_READ)
        except (OSError, ValueError):
            return None
        finally:
            os.close(fd)

    def changed(self) -> bool:
        """False only when no commit can have happened since the last call (see the class)."""
        if self._conn is None:
            return True
        if not self._mapped:
            self._mapped = True
            self._conn.execute("PRAGMA data_version")  # opens the database (and, in WAL mode, its -shm)
            self._shm = self._map_shm()
        now = time.monotonic()
        # (the header is read before the PRAGMA: a commit in between is seen by this PRAGMA,
        # and then again as a changed header by the next call, which only asks once more)
        header = self._shm[:self._HEADER] if self._shm is not None else None
        if header is not None and header == self._header and now - self._checked < self.RECHECK_S:
            return False
        version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        changed = version != self._version
        self._version, self._header, self._checked = version, header, now
        return changed


def _sqlite_pragmas(dbapi_conn: sqlite3.Connection, _record: object) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()
