"""StationStore: transactions, change log, configuration."""

import pytest

from stationmap.config import load
from stationmap.errors import ConfigError, ConflictError, NotFoundError
from stationmap.store import StationStore


@pytest.fixture(scope="module")
def pg_server():
    from tests.support.postgres import temporary_postgres

    with temporary_postgres() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, db_url):
    """The same tests on SQLite (the default) and on a real PostgreSQL server."""
    if request.param == "sqlite":
        s = StationStore(db_url)
    else:
        s = StationStore(request.getfixturevalue("pg_server"))
        from stationmap.schema import metadata
        metadata.drop_all(s.engine)
    s.create_all()
    return s


def test_crud_and_history(store, make_station):
    a = store.insert(make_station(id="a"), user="alice")
    assert store.get("a") == a and store.count() == 1
    with pytest.raises(ConflictError):
        store.insert(make_station(id="a"))
    b = make_station(id="a", name="改名")
    store.update(b, user="bob", note="renamed")
    store.delete("a", user="carol")
    with pytest.raises(NotFoundError):
        store.get("a")
    hist = store.history("a")
    assert [h["action"] for h in hist] == ["delete", "update", "insert"]
    assert hist[1]["before"]["name"] == "测试驿站" and hist[1]["after"]["name"] == "改名"
    assert [h["user"] for h in hist] == ["carol", "bob", "alice"]
    assert store.revision() == 3


def test_all_reads_every_field_back_and_shares_repeated_values(store, make_station):
    """store.all() (rows_to_stations) gives what one row's reader (row_to_station) gives, field by
    field, with one object per repeated value (kinds, services, hours, dates)."""
    from datetime import date

    import sqlalchemy as sa

    from stationmap.schema import row_to_station, stations_table

    stations = [
        make_station(id="a", kinds=("rest",), services=("toilet", "wifi"), opening_hours="Mo-Fr 09:00-17:00",
                     verified_at=date(2026, 3, 1), capacity=12, adcode="320402", host="post_office",
                     service_hours=(("wifi", "Mo-Su 08:00-20:00"),)),
        make_station(id="b", kinds=("rest",), services=("toilet", "wifi"), opening_hours="Mo-Fr 09:00-17:00",
                     verified_at=date(2026, 3, 1), capacity=0, adcode="320402", host="post_office",
                     status="temporarily_closed", reopens_on=date(2026, 4, 1)),
        make_station(id="c", kinds=("rest", "ebike"), services=(), name_en="C", phone="0519-1",
                     operator="工会", source="import"),
    ]
    store.write_many(stations, user="t")
    with store.engine.connect() as conn:
        one_by_one = [row_to_station(r) for r in conn.execute(sa.select(stations_table).order_by(stations_table.c.id))]
    got = store.all()
    assert got == one_by_one == stations
    a, b, _c = got
    assert a.services is b.services and a.kinds is b.kinds and a.opening_hours is b.opening_hours
    assert a.verified_at is b.verified_at and a.adcode is b.adcode


def test_write_many_is_all_or_nothing(store, make_station):
    store.insert(make_station(id="x"))
    with pytest.raises(ConflictError):
        store.write_many([make_station(id="y"), make_station(id="x")], mode="insert")
    assert store.ids() == {"x"}


def test_unchanged_upsert_logs_nothing(store, make_station):
    store.write_many([make_station(id="a"), make_station(id="b")])
    rev = store.revision()
    store.write_many([make_station(id="a"), make_station(id="b")])
    assert store.revision() == rev


def test_new_ids_are_assigned(store, make_station):
    s = store.insert(make_station(id=""))
    assert s.id.startswith("st-") and store.get(s.id).name == "测试驿站"


def test_database_url_from_environment(tmp_path):
    url = f"sqlite:///{tmp_path}/env.sqlite"
    settings = load(environ={"STATIONMAP_DATABASE_URL": url})
    assert settings.database_url == url
    default = load(environ={"STATIONMAP_INSTANCE_PATH": str(tmp_path / "inst")})
    assert default.database_url == f"sqlite:///{tmp_path}/inst/stationmap.sqlite"


def test_bad_database_url_is_a_config_error():
    with pytest.raises(ConfigError, match="cannot be used"):
        StationStore("nosuchdb://x")


class _Counting:
    """A sqlite3 connection that counts its execute calls."""

    def __init__(self, conn):
        self.conn, self.calls = conn, 0

    def execute(self, *args):
        self.calls += 1
        return self.conn.execute(*args)


def _two_stores(tmp_path):
    url = f"sqlite:///{tmp_path}/probe.sqlite"
    writer = StationStore(url)
    writer.create_all()
    return writer, StationStore(url)


def test_change_probe_sees_every_commit_of_another_connection(tmp_path, make_station):
    writer, reader = _two_stores(tmp_path)
    probe = reader.change_probe()
    assert probe.changed() is True      # the first call knows nothing yet
    assert probe.changed() is False
    for i in range(60):                 # every commit, each seen by the next call and only then
        if i % 20 == 10:                # a checkpoint that restarts the WAL from its start
            with writer.engine.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            probe.changed()
        writer.insert(make_station(id=f"s{i}"))
        assert probe.changed() is True, i
        assert probe.changed() is False, i


def test_change_probe_skips_the_pragma_while_the_wal_header_stands(tmp_path, make_station, monkeypatch):
    writer, reader = _two_stores(tmp_path)
    probe = reader.change_probe()
    probe.changed()
    assert probe._shm is not None       # the database is in WAL mode: its -shm is mapped
    probe._conn = counting = _Counting(probe._conn)
    for _ in range(5):
        assert probe.changed() is False
    assert counting.calls == 0          # no commit: the header alone answered
    writer.insert(make_station(id="a"))
    assert probe.changed() is True and counting.calls == 1
    monkeypatch.setattr(probe, "RECHECK_S", 0.0)    # past the recheck time: the PRAGMA is asked again
    assert probe.changed() is False and counting.calls == 2


def test_change_probe_without_wal_asks_every_time(tmp_path, make_station):
    """A SQLite file in rollback-journal mode (another tool made it so) has no -shm:
    the PRAGMA alone answers, every call."""
    import sqlite3

    writer, reader = _two_stores(tmp_path)
    writer.engine.dispose()
    raw = sqlite3.connect(f"{tmp_path}/probe.sqlite", isolation_level=None)
    assert raw.execute("PRAGMA journal_mode=DELETE").fetchone()[0] == "delete"
    probe = reader.change_probe()
    assert probe.changed() is True and probe._shm is None
    assert probe.changed() is False
    raw.execute("CREATE TABLE other (x)")
    assert probe.changed() is True and probe.changed() is False


def test_change_probe_of_other_databases_always_says_changed(tmp_path):
    assert StationStore("sqlite://").change_probe().changed() is True
