"""Schema migrations: a database made by the release before migrations is upgraded in place and
keeps every station, account, history row and report; the migrated schema equals the tables
the code defines (every schema change ships a migration); SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import datetime, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa

from stationmap import migrations
from stationmap.model import Station
from stationmap.store import StationStore
from tests.support.cli import run

LEGACY = Path(__file__).resolve().parents[1] / "data" / "legacy_v0.sqlite"
TABLES = ("stations", "station_changes", "users", "station_reports")


@pytest.fixture(scope="module")
def pg_server():
    from tests.support.postgres import temporary_postgres

    with temporary_postgres() as url:
        yield url


def _empty(url: str) -> StationStore:
    store = StationStore(url)
    with store.engine.begin() as conn:
        for t in ("alembic_version", "station_requests", "audit_log", "login_failures", "sessions", *reversed(TABLES)):
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {t}"))
    return store


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path):
    """The URL of an empty database: a SQLite file, or the throw-away PostgreSQL server's."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/empty.sqlite"
    url = request.getfixturevalue("pg_server")
    _empty(url).engine.dispose()
    return url




def _rows(path: Path) -> dict:
    """Every row of every table, read with plain sqlite3 (no stationmap code)."""
    conn = sqlite3.connect(path)
    try:
        return {t: sorted(conn.execute(f"SELECT * FROM {t}").fetchall(), key=repr) for t in TABLES}
    finally:
        conn.close()


def _assert_kept(before: dict, after: dict) -> None:
    """Every station, history row, account and report of ``before`` is in ``after`` byte for byte;
    stations and reports gain the columns of later revisions (0003: reopens_on, service_hours;
    0004: the reporter key; 0005: service, lon, lat, note, resolution; 0006: capacity; 0008: the client key),
    empty, but for 0005's
    report kinds becoming check-in outcomes (no_hot_water: service_missing of hot_water)."""
    outcome = {"ok": ("open_ok", ""), "closed": ("closed_when_open", ""),
               "no_hot_water": ("service_missing", "hot_water"), "charging_broken": ("service_missing", "ebike_charging")}
    after = dict(after)
    assert after.pop("stations") == [(*r, None, "", None) for r in before["stations"]]
    want = [(r[0], r[1], outcome[r[2]][0], *r[3:], "", outcome[r[2]][1], None, None, "", "", None)
            for r in before["station_reports"]]
    assert after.pop("station_reports") == sorted(want, key=repr)
    assert after == {t: rows for t, rows in before.items() if t not in ("stations", "station_reports")}


def _sqlite_schema(path: Path) -> list:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name").fetchall()
    finally:
        conn.close()


@pytest.fixture
def legacy(tmp_path, monkeypatch) -> Path:
    """A copy of the database made by the release before migrations, configured for the CLI."""
    path = tmp_path / "legacy.sqlite"
    shutil.copy(LEGACY, path)
    monkeypatch.setenv("STATIONMAP_DATABASE_URL", f"sqlite:///{path}")
    return path


# -- the release before migrations ----------------------------------------------------

def test_the_fixture_is_a_database_before_migrations():
    rows = _rows(LEGACY)
    assert [r[0] for r in rows["stations"]] == ["cz-001", "cz-002", "cz-003"]
    assert len(rows["station_changes"]) == 7 and len(rows["station_reports"]) == 3
    assert [r[1] for r in rows["users"]] == ["zhonglou.editor"]
    assert "alembic_version" not in {r[1] for r in _sqlite_schema(LEGACY)}


def test_db_upgrade_adopts_a_database_made_before_migrations_and_keeps_everything(legacy):
    from stationmap import accounts, reports

    before = _rows(legacy)
    assert run("db", "current").stdout.startswith("none: a database made before migrations")
    res = run("db", "upgrade")
    assert res.exit_code == 0, res.output
    assert "recognised as revision 0001 (baseline)" in res.stdout
    assert f"at revision {migrations.head()}" in res.stdout
    _assert_kept(before, _rows(legacy))
    assert run("db", "current").stdout.strip() == f"{migrations.head()} (head)"

    store = StationStore(f"sqlite:///{legacy}")
    assert store.ids() == {"cz-001", "cz-002", "cz-003"} and store.revision() == 7
    assert store.get("cz-003").name == "新北区法律援助点（改）" and store.get("cz-003").phone == "0519-85550000"
    assert store.get("cz-002").kinds == ("hot_tea", "rest") and str(store.get("cz-002").verified_at) == "2024-03-02"
    assert [h["action"] for h in store.history("cz-004")] == ["delete", "insert"]
    assert [h["user"] for h in store.history("cz-001")] == ["zhonglou.editor", "alice"]
    user = accounts.authenticate(store, "zhonglou.editor", "correct horse battery")
    assert user is not None and user.role == "editor" and user.scopes == ("320404",)
    got = {(r.station_id, r.kind, r.resolved_by) for r in reports.recent_reports(store, "cz-001", days=10**5)}
    assert got == {("cz-001", "service_missing", "zhonglou.editor"), ("cz-001", "open_ok", "")}
    # the app and the CLI go on writing to it
    accounts.add_user(store, "second.admin", "another long password", role="admin")
    assert run("user", "list").stdout.splitlines() == ["second.admin\tadmin\t*", "zhonglou.editor\teditor\t320404"]

    # a second upgrade is a no-op
    schema, rows = _sqlite_schema(legacy), _rows(legacy)
    res = run("db", "upgrade")
    assert res.exit_code == 0 and "nothing to do" in res.stdout and "recognised" not in res.stdout
    assert _sqlite_schema(legacy) == schema and _rows(legacy) == rows


def test_init_upgrades_a_database_made_before_migrations(legacy, tmp_path, monkeypatch):
    monkeypatch.setenv("STATIONMAP_DATA_DIR", str(tmp_path / "no-data"))  # no sample stations to add
    before = _rows(legacy)
    res = run("init")
    assert res.exit_code == 0 and "recognised as revision 0001" in res.stdout and "(3 stations)" in res.stdout
    _assert_kept(before, _rows(legacy))
    assert migrations.current(StationStore(f"sqlite:///{legacy}").engine) == migrations.head()
    res = run("init")
    assert res.exit_code == 0 and "schema:" not in res.output


def test_serve_refuses_a_database_that_is_not_upgraded(legacy):
    res = run("serve", "--port", "1")
    assert res.exit_code == 1
    assert res.stderr.strip() == ("error: the database has no migration record yet: run `stationmap db upgrade` "
                                  "(or `stationmap init`)")


def test_an_older_database_without_the_later_tables_gets_them(legacy):
    conn = sqlite3.connect(legacy)  # as the first releases left it: stations and history only
    conn.execute("DROP TABLE users")
    conn.execute("DROP TABLE station_reports")
    conn.commit()
    conn.close()
    res = run("db", "upgrade")
    assert res.exit_code == 0 and "created users, station_reports" in res.stdout
    with StationStore(f"sqlite:///{legacy}").engine.connect() as c:
        assert migrations.differences(c, migrations.target_metadata()) == []
    assert len(_rows(legacy)["stations"]) == 3


def test_a_database_that_is_neither_is_refused_with_the_difference(legacy):
    conn = sqlite3.connect(legacy)
    conn.execute("ALTER TABLE stations DROP COLUMN phone")
    conn.commit()
    conn.close()
    res = run("db", "upgrade")
    assert res.exit_code == 1
    (line,) = res.stderr.splitlines()
    assert line.startswith("error: the database has stationmap's tables but no migration record")
    assert "stations.phone" in line
    assert migrations.current(StationStore(f"sqlite:///{legacy}").engine) is None  # nothing stamped


def test_unknown_revision_is_one_clear_line(legacy):
    res = run("db", "upgrade", "9999")
    assert res.exit_code == 1 and res.stderr.startswith("error: cannot upgrade the database:")
    assert len(res.stderr.splitlines()) == 1


def test_db_history_lists_the_revisions():
    res = run("db", "history")
    lines = res.stdout.splitlines()
    assert lines[0].startswith(f"{migrations.head()} (head)")
    assert lines[-1].startswith("0001") and lines[-1].endswith("baseline: the schema of the last release before migrations")


# -- the models and the migrated schema do not differ (SQLite and PostgreSQL) -----------------

def test_migrated_schema_equals_the_models(empty_url):
    """Every schema change ships a migration: upgrading an empty database to the head must give
    exactly the tables, columns, types, indexes and constraints the code defines."""
    store = StationStore(empty_url)
    res = migrations.upgrade(store.engine)
    assert (res.before, res.after, res.adopted) == (None, migrations.head(), "")
    with store.engine.connect() as conn:
        assert migrations.differences(conn, migrations.target_metadata()) == []
    store.engine.dispose()


def test_baseline_is_the_schema_create_all_made(empty_url):
    """Revision 0001 equals the tables as the release before migrations created them, and a
    database made by create_all is adopted; a second upgrade is a no-op."""
    store = StationStore(empty_url)
    migrations.baseline_metadata().create_all(store.engine)  # what create_all made before migrations
    with store.engine.connect() as conn:
        assert migrations.differences(conn, migrations.baseline_metadata()) == []
    with store.engine.begin() as conn:  # a station as the release before migrations stored it
        conn.execute(sa.insert(migrations.baseline_metadata().tables["stations"]).values(
            id="keep", name="留", name_en="", kinds="rest", services="", address="", adcode="", host="",
            operator="", phone="", opening_hours="24/7", status="active", source="", lon=120.0, lat=31.0,
            updated_at=datetime.now(timezone.utc)))
    res = migrations.upgrade(store.engine)
    assert res.adopted == "baseline" and res.after == migrations.head()
    again = migrations.upgrade(store.engine)
    assert not again.changed and again.before == again.after == migrations.head()
    assert store.ids() == {"keep"}
    with store.engine.connect() as conn:
        assert migrations.differences(conn, migrations.target_metadata()) == []
    store.engine.dispose()


def test_a_database_made_by_this_releases_create_all_is_the_head(empty_url):
    store = StationStore(empty_url)
    store.create_all()
    res = migrations.upgrade(store.engine)
    assert res.adopted == "head" and res.after == migrations.head()
    with store.engine.connect() as conn:
        assert migrations.differences(conn, migrations.target_metadata()) == []
    store.engine.dispose()


def test_upgrade_from_nothing_then_again_is_a_no_op(empty_url):
    store = StationStore(empty_url)
    assert migrations.current(store.engine) is None
    first = migrations.upgrade(store.engine, migrations.BASELINE)
    assert first.after == migrations.BASELINE and first.changed
    second = migrations.upgrade(store.engine)
    third = migrations.upgrade(store.engine)
    assert second.after == third.after == migrations.head() and not third.changed
    assert migrations.table_names(store.engine) >= set(TABLES) | {"alembic_version"}
    store.engine.dispose()
