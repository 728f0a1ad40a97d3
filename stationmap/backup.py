"""Backups of the database, made while the server serves and editors save, and putting one back.

SQLite: SQLite's online backup API (:meth:`sqlite3.Connection.backup`) copies
every page in one step, inside one read transaction, so the copy is the
database as it was at one commit; in WAL mode (how the store opens it) the
writers go on meanwhile.  The copy is a single self-contained file (no
``-wal``), checked with ``PRAGMA integrity_check`` before it replaces FILE.
Restoring copies it back through the same API, under SQLite's locks, so
open connections see the restored database and nothing is half-written.

PostgreSQL: ``pg_dump --format=custom`` (one snapshot, the writers go on),
and ``pg_restore --clean --if-exists --single-transaction`` to put it back.

A backup holds password hashes: it is written readable by its owner only.
Library code: the CLI (``stationmap backup`` / ``restore``) asks for the
confirmation and prints the outcome.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from stationmap.errors import ConfigError, NotFoundError, StationmapError, ValidationError

SQLITE_MAGIC = b"SQLite format 3\x00"
PGDUMP_MAGIC = b"PGDMP"
#: tables a file must hold to be taken for a stationmap SQLite backup
REQUIRED_TABLES = ("stations", "station_changes")


@dataclass
class BackupInfo:
    """A backup file: where, which kind, how big; for SQLite also what it holds."""

    path: Path
    kind: str                      # "sqlite" | "postgresql"
    size: int
    stations: int | None = None
    revision: str | None = None    # the schema revision (alembic_version), None before migrations
    seconds: float = 0.0

    def summary(self) -> str:
        """One line: kind, stations, schema revision, size."""
        what = f"{self.stations} stations, " if self.stations is not None else ""
        rev = f"schema {self.revision}, " if self.revision else ""
        size = f"{self.size / 1e6:.1f} MB" if self.size >= 1e6 else f"{self.size / 1e3:.0f} kB"
        return f"{self.kind}, {what}{rev}{size}"


def _dialect(url: str) -> str:
    try:
        return sa.engine.make_url(url).get_backend_name()
    except sa.exc.ArgumentError as exc:
        raise ConfigError(f"database URL {url!r} cannot be used: {exc}") from None


def _sqlite_path(url: str) -> Path:
    path = sa.engine.make_url(url).database
    if not path or path == ":memory:" or path.startswith("file:"):
        raise ConfigError(f"the database {url!r} is not a SQLite file: nothing to back up or restore")
    return Path(path)


def _check_dest(dest: Path, live: Path | None) -> Path:
    dest = Path(dest)
    if dest.is_dir():
        raise ValidationError(f"{dest} is a folder: give the backup file's name")
    if not dest.parent.is_dir():
        raise NotFoundError(f"folder {dest.parent} does not exist")
    if live is not None and dest.exists() and live.exists() and os.path.samefile(dest, live):
        raise ValidationError(f"{dest} is the database itself: choose another file")
    return dest


def _private_tmp(dest: Path) -> Path:
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    return tmp


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sqlite_facts(conn: sqlite3.Connection, path: Path) -> tuple[int, str | None]:
    """(stations, revision) of an open SQLite copy; ValidationError unless it is a sound stationmap database."""
    try:
        check = [r[0] for r in conn.execute("PRAGMA integrity_check")]
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    except sqlite3.DatabaseError as exc:
        raise ValidationError(f"{path} is not a stationmap backup: {exc}") from None
    if check != ["ok"]:
        raise ValidationError(f"{path} is damaged: integrity_check says {check[0]!r}")
    missing = [t for t in REQUIRED_TABLES if t not in tables]
    if missing:
        raise ValidationError(f"{path} is not a stationmap backup: a SQLite database without the "
                              f"{missing[0]} table")
    stations = conn.execute("SELECT count(*) FROM stations").fetchone()[0]
    revision = None
    if "alembic_version" in tables:
        row = conn.execute("SELECT version_num FROM alembic_version").fetchone()
        revision = row[0] if row else None
    return stations, revision


def backup_kind(path: str | os.PathLike[str]) -> str:
    """"sqlite" or "postgresql", from the file's first bytes; NotFoundError / ValidationError
    when it is missing or neither."""
    path = Path(path)
    if not path.exists():
        raise NotFoundError(f"no such file: {path}")
    if not path.is_file():
        raise ValidationError(f"{path} is not a file")
    with open(path, "rb") as f:
        head = f.read(len(SQLITE_MAGIC))
    if head.startswith(SQLITE_MAGIC):
        return "sqlite"
    if head.startswith(PGDUMP_MAGIC):
        return "postgresql"
    raise ValidationError(f"{path} is not a stationmap backup: neither a SQLite database nor a "
                          "pg_dump custom-format file")


def inspect_backup(path: str | os.PathLike[str]) -> BackupInfo:
    """What a backup file is; NotFoundError / ValidationError when it is missing or not a backup."""
    path = Path(path)
    kind = backup_kind(path)
    size = path.stat().st_size
    if kind == "sqlite":
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            stations, revision = _sqlite_facts(conn, path)
        finally:
            conn.close()
        return BackupInfo(path, "sqlite", size, stations, revision)
    try:
        listing = _run([_pg_tool("pg_restore"), "--list", str(path)], what="pg_restore --list")
    except ConfigError:
        raise
    except StationmapError as exc:
        raise ValidationError(f"{path} is not a stationmap backup: {exc.message}") from None
    if not re.search(r"\bTABLE \S+ stations\b", listing):
        raise ValidationError(f"{path} is not a stationmap backup: a pg_dump file without the stations table")
    return BackupInfo(path, "postgresql", size)


# -- SQLite -------------------------------------------------------------------

def _connect_live(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def _backup_sqlite(url: str, dest: Path) -> BackupInfo:
    live = _sqlite_path(url)
    if not live.exists():
        raise NotFoundError(f"no database at {live}: nothing to back up")
    dest = _check_dest(dest, live)
    t0 = time.monotonic()
    tmp = _private_tmp(dest)
    try:
        src = _connect_live(live)
        dst = sqlite3.connect(tmp, isolation_level=None)
        try:
            src.backup(dst)  # every page in one step: one read transaction, one commit's state
            dst.execute("PRAGMA journal_mode=DELETE")  # a single file, no -wal beside it
            stations, revision = _sqlite_facts(dst, dest)
        finally:
            dst.close()
            src.close()
        _fsync(tmp)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()
    return BackupInfo(dest, "sqlite", dest.stat().st_size, stations, revision, time.monotonic() - t0)


def _restore_sqlite(url: str, info: BackupInfo) -> None:
    live = _sqlite_path(url)
    if live.exists() and os.path.samefile(live, info.path):
        raise ValidationError(f"{info.path} is the database itself")
    live.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{info.path}?mode=ro", uri=True)
    dst = _connect_live(live)
    try:
        src.backup(dst)  # under the destination's write lock: readers see the old or the new, whole
        check = dst.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":  # pragma: no cover - the source passed the same check
            raise StationmapError(f"the restored database fails integrity_check: {check}")
        dst.execute("PRAGMA journal_mode=WAL")
    finally:
        dst.close()
        src.close()


# -- PostgreSQL ---------------------------------------------------------------

def _pg_tool(name: str) -> str:
    """``pg_dump`` / ``pg_restore``: on PATH, else the newest of Debian's /usr/lib/postgresql/*/bin."""
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
                      key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0)
    if versions:
        return versions[-1]
    raise ConfigError(f"{name} is not installed (Debian: apt-get install postgresql-client)")


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """(a libpq connection URI without the password, environment with PGPASSWORD) for an SQLAlchemy URL."""
    u = sa.engine.make_url(url)
    env = dict(os.environ)
    if u.password is not None:
        env["PGPASSWORD"] = str(u.password)
    plain = u.set(drivername="postgresql", password=None)
    return plain.render_as_string(hide_password=False), env


def _run(cmd: list[str], *, what: str, env: dict[str, str] | None = None) -> str:
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    except OSError as exc:
        raise ConfigError(f"{what} cannot run: {exc}") from None
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.strip().splitlines() if ln.strip()]
        raise StationmapError(f"{what} failed: {lines[-1] if lines else f'exit status {done.returncode}'}")
    return done.stdout


def _backup_postgres(url: str, dest: Path) -> BackupInfo:
    dest = _check_dest(dest, None)
    conninfo, env = _libpq(url)
    t0 = time.monotonic()
    tmp = _private_tmp(dest)
    try:
        _run([_pg_tool("pg_dump"), "--format=custom", "--file", str(tmp), "--dbname", conninfo],
             what="pg_dump", env=env)
        _fsync(tmp)
        os.replace(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()
    return BackupInfo(dest, "postgresql", dest.stat().st_size, seconds=time.monotonic() - t0)


def _restore_postgres(url: str, info: BackupInfo) -> None:
    conninfo, env = _libpq(url)
    _run([_pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--single-transaction",
          "--exit-on-error", "--dbname", conninfo, str(info.path)], what="pg_restore", env=env)


# -- public ---------------------------------------------------------------------

def backup(url: str, dest: str | os.PathLike[str]) -> BackupInfo:
    """Copy the database at ``url`` into the file ``dest`` (replaced if there), consistently, while
    others keep writing.  SQLite: the online backup API; PostgreSQL: ``pg_dump --format=custom``."""
    dialect = _dialect(url)
    if dialect == "sqlite":
        return _backup_sqlite(url, Path(dest))
    if dialect == "postgresql":
        return _backup_postgres(url, Path(dest))
    raise ConfigError(f"backups of {dialect} databases are not supported (SQLite and PostgreSQL are)")


def check_restorable(url: str, path: str | os.PathLike[str]) -> BackupInfo:
    """:func:`inspect_backup`, and that the backup fits the database at ``url`` and this release."""
    kind, dialect = backup_kind(path), _dialect(url)
    if kind != dialect:
        raise ValidationError(f"{path} is a {kind} backup but the database is {dialect}: "
                              "restore it into a database of its kind")
    info = inspect_backup(path)
    if info.revision is not None:
        from stationmap import migrations

        known = {s.revision for s in migrations.history()}
        if info.revision not in known:
            raise ValidationError(f"{info.path} has schema revision {info.revision}, unknown to this "
                                  "release (made by a newer one): restore it with that release")
    return info


def restore(url: str, path: str | os.PathLike[str]) -> BackupInfo:
    """Replace the database at ``url`` with the backup ``path`` (checked by :func:`check_restorable`)."""
    info = check_restorable(url, path)
    t0 = time.monotonic()
    if info.kind == "sqlite":
        _restore_sqlite(url, info)
    else:
        _restore_postgres(url, info)
    info.seconds = time.monotonic() - t0
    return info
