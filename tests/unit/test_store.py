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
        from stationmap.store import metadata
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
