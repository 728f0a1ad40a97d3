"""Schema migrations: the database outlives a release.

This package owns the Alembic environment (``env.py``), the revision template
(``script.py.mako``) and one revision per schema change (``versions/``); they
ship inside the package, and the Alembic configuration is built here in
code, so no ``alembic.ini`` is needed.  ``stationmap db upgrade`` /
``current`` / ``history`` and ``stationmap init`` call the functions below.

A database made before migrations existed has the baseline tables (revision
0001) and no ``alembic_version`` table; :func:`upgrade` recognises it by
comparing its tables with the baseline, stamps it 0001 and goes on from
there.  A database made by ``StationStore.create_all`` of this release (the
tests' fresh databases) is recognised the same way, as the baseline or as
the head.  Anything else is refused with the differences listed.

Every change of a table in :func:`target_metadata` ships a revision here
(``stationmap db revision MESSAGE`` writes one; tests/unit/test_migrations.py
fails while the migrated schema and the tables differ).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from stationmap.errors import ConfigError

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import Script, ScriptDirectory

HERE = Path(__file__).resolve().parent

#: the revision of the schema of the last release before migrations
BASELINE = "0001"


def target_metadata() -> sa.MetaData:
    """The library's MetaData, with every table on it: what the migrated schema must equal.

    The one place migrations learn where the tables live.
    """
    from stationmap.schema import metadata

    return metadata


def database_url() -> str:
    """The database the app's settings name (``STATIONMAP_DATABASE_URL``, else the instance SQLite file)."""
    from stationmap import config

    return config.load().database_url


def alembic_config(*, connection: sa.Connection | None = None, url: str | None = None) -> Config:
    """An Alembic ``Config`` for this package's revisions, built in code (no alembic.ini).

    With ``connection`` the migrations run on it, inside its transaction;
    else on ``url``, else on :func:`database_url`.
    """
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(HERE).replace("%", "%%"))
    cfg.set_main_option("path_separator", "os")
    if connection is not None:
        cfg.attributes["connection"] = connection
    if url is not None:
        cfg.attributes["url"] = url  # not a main option: configparser would read % in a password
    return cfg


@functools.lru_cache(maxsize=1)
def script_directory() -> ScriptDirectory:
    """Alembic's ScriptDirectory of the revisions in ``versions/`` (read once per process)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config())


def head() -> str:
    """The newest revision: the schema this release's code expects."""
    return script_directory().get_current_head()  # type: ignore[return-value]  # versions/ is never empty


def history() -> list[Script]:
    """Every revision, newest first (Alembic ``Script`` objects: ``revision``, ``down_revision``, ``doc``)."""
    return list(script_directory().walk_revisions())


def baseline_metadata() -> sa.MetaData:
    """The schema of revision 0001 (the last release before migrations) as a MetaData."""
    return script_directory().get_revision(BASELINE).module.baseline_metadata()


def current(engine: sa.Engine) -> str | None:
    """The database's revision (None: no ``alembic_version``: empty, or made before migrations)."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def table_names(engine_or_conn: sa.Engine | sa.Connection) -> set[str]:
    """The names of the tables in the database."""
    return set(sa.inspect(engine_or_conn).get_table_names())


def differences(conn: sa.Connection, metadata: sa.MetaData, *, ignore_other_tables: bool = False) -> list[Any]:
    """What Alembic's autogenerate finds between the database and ``metadata`` ([] when they agree).

    ``ignore_other_tables``: tables in the database that ``metadata`` lacks
    are not differences.
    """
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    def include(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
        return not (ignore_other_tables and type_ == "table" and reflected and compare_to is None)

    ctx = MigrationContext.configure(conn, opts={"compare_type": True, "include_object": include})
    return compare_metadata(ctx, metadata)


def describe(diffs: list[Any], limit: int = 5) -> str:
    """A short text for the first ``limit`` differences of :func:`differences`."""
    def one(d: Any) -> str:
        if isinstance(d, list):  # column modifications come in lists
            d = d[0]
        op = d[0]
        if op in ("add_table", "remove_table"):
            return f"{op} {d[1].name}"
        if op in ("add_column", "remove_column"):
            return f"{op} {d[2]}.{d[3].name}"
        if op.startswith("modify_"):
            return f"{op} {d[2]}.{d[3]}"
        if op in ("add_index", "remove_index", "add_constraint", "remove_constraint"):
            return f"{op} {d[1].name or d[1]}"
        return str(op)

    text = "; ".join(one(d) for d in diffs[:limit])
    return text + (f"; and {len(diffs) - limit} more" if len(diffs) > limit else "")


@dataclass
class UpgradeResult:
    """What :func:`upgrade` did."""

    before: str | None
    after: str | None
    #: "baseline" or "head" when an unversioned database was recognised and stamped, else ""
    adopted: str = ""
    #: baseline tables an older unversioned database lacked and that were created
    created: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        """True when the database's revision moved or it was adopted (stamped)."""
        return self.before != self.after or bool(self.adopted)


def _adopt(conn: sa.Connection, existing: set[str]) -> tuple[str, list[str]]:
    """Recognise an unversioned database; return (the revision to stamp, tables created)."""
    base = baseline_metadata()
    if existing >= set(target_metadata().tables) and not differences(conn, target_metadata(),
                                                                      ignore_other_tables=True):
        return "head", []  # made by this release's create_all (the tests' fresh databases)
    present = sa.MetaData()
    for t in base.sorted_tables:
        if t.name in existing:
            t.to_metadata(present)
    if present.tables and not differences(conn, present, ignore_other_tables=True):
        missing = [t for name, t in base.tables.items() if name not in existing]
        base.create_all(conn, tables=missing)  # tables the release that made it had not yet
        return BASELINE, [t.name for t in missing]
    diffs_base = differences(conn, base, ignore_other_tables=True)
    raise ConfigError(
        "the database has stationmap's tables but no migration record (alembic_version), and they "
        f"match neither revision {BASELINE} nor this release's schema: {describe(diffs_base)}")


def upgrade(engine: sa.Engine, revision: str = "head") -> UpgradeResult:
    """Migrate the database to ``revision`` (default: the head), in one transaction where the
    database allows it (PostgreSQL; SQLite commits each DDL statement).

    An unversioned database with the baseline tables (made before migrations)
    is stamped 0001 first; one with no tables is built from nothing.  Running
    it again is a no-op.
    """
    from alembic import command
    from alembic.runtime.migration import MigrationContext
    from alembic.util.exc import CommandError

    result = UpgradeResult(before=None, after=None)
    try:
        with engine.begin() as conn:
            result.before = MigrationContext.configure(conn).get_current_revision()
            cfg = alembic_config(connection=conn)
            if result.before is None:
                existing = table_names(conn) & (set(target_metadata().tables) | set(baseline_metadata().tables))
                if existing:
                    stamp, result.created = _adopt(conn, existing)
                    command.stamp(cfg, stamp)
                    result.adopted = "baseline" if stamp == BASELINE else "head"
            command.upgrade(cfg, revision)
            result.after = MigrationContext.configure(conn).get_current_revision()
    except CommandError as exc:  # an unknown revision, a database from a newer release
        raise ConfigError(f"cannot upgrade the database: {exc}") from None
    return result


def require_head(engine: sa.Engine) -> None:
    """Raise ConfigError unless the database is at this release's revision (checked before serving)."""
    cur, want = current(engine), head()
    if cur == want:
        return
    if cur is None:
        raise ConfigError("the database has no migration record yet: run `stationmap db upgrade` "
                          "(or `stationmap init`)")
    raise ConfigError(f"the database schema is at revision {cur}, this release needs {want}: "
                      "run `stationmap db upgrade` (after `stationmap backup FILE`)")


def new_revision(message: str) -> Path:
    """Write a new revision into ``versions/`` for the difference between the head and the tables
    (autogenerated against a scratch SQLite database at the head); return its path.  For developers."""
    from alembic import command

    engine = sa.create_engine("sqlite://")
    try:
        with engine.begin() as conn:
            cfg = alembic_config(connection=conn)
            command.upgrade(cfg, "head")
            number = max(int(s.revision) for s in history() if s.revision.isdigit()) + 1
            script = command.revision(cfg, message=message, autogenerate=True, rev_id=f"{number:04d}")
    finally:
        engine.dispose()
    script_directory.cache_clear()
    return Path(script.path)  # type: ignore[union-attr]  # one head, no directives hook: one Script
