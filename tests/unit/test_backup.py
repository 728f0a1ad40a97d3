"""`stationmap backup` / `restore`: a consistent copy while editors keep saving, and putting it back.

The concurrent tests write stations one commit at a time in another thread
while the backup runs; the copy must pass ``integrity_check``, hold every
station committed before the backup began, and be one commit's state (each
station it holds has its history row, nothing half-written).
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from stationmap import accounts, migrations
from stationmap.cli import main
from stationmap.errors import StationmapError
from stationmap.model import Station
from stationmap.store import StationStore

#: stations in the database before the concurrent backup (so that the copy takes a while)
BULK = 40_000


def run(*args, input=None):
    res = CliRunner().invoke(main, [str(a) for a in args], input=input)
    assert res.exception is None or isinstance(res.exception, SystemExit), (res.exception, res.output)
    assert "Traceback" not in res.output
    return res


@pytest.fixture
def url(tmp_path, monkeypatch):
    u = f"sqlite:///{tmp_path}/live.sqlite"
    monkeypatch.setenv("STATIONMAP_DATABASE_URL", u)
    return u


@pytest.fixture(scope="module")
def pg_server():
    from tests.support.postgres import temporary_postgres

    with temporary_postgres() as url:
        yield url


def _bulk(n: int, prefix: str = "bulk") -> list:
    return [Station(id=f"{prefix}-{i:06d}", name=f"站点{i}", lon=119.9 + (i % 1000) / 10000,
                    lat=31.7 + (i // 1000) / 10000, kinds=("rest",), address="常州市某路" + str(i) * 3,
                    adcode="320404", source="test") for i in range(n)]


class Writer(threading.Thread):
    """Inserts one station per transaction, as fast as it can, until stopped; ``committed``
    lists (monotonic time the commit returned, id) in order."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.store = StationStore(url)
        self.committed: list = []
        self.stop = threading.Event()
        self.error = None

    def run(self):
        i = 0
        try:
            while not self.stop.is_set():
                sid = f"live-{i:06d}"
                self.store.insert(Station(id=sid, name=f"边写边备份{i}", lon=120.0, lat=31.0, source="test"),
                                  user="editor", note="concurrent")
                self.committed.append((time.monotonic(), sid))
                i += 1
        except (sa.exc.SQLAlchemyError, StationmapError) as exc:  # a failed commit: wait_for reports it
            self.error = exc
        finally:
            self.store.engine.dispose()

    def wait_for(self, n: int, timeout: float = 60.0) -> None:
        t0 = time.monotonic()
        while len(self.committed) < n:
            assert self.error is None, self.error
            assert time.monotonic() - t0 < timeout, "the writer is stuck"
            time.sleep(0.005)


def _backup_during_writes(url: str, dest: Path):
    """Run `stationmap backup dest` while a Writer inserts; return (committed before it began,
    committed while it ran, every id committed, the CLI result)."""
    writer = Writer(url)
    writer.start()
    try:
        writer.wait_for(20)
        started = time.monotonic()
        before = {sid for _, sid in list(writer.committed)}
        res = run("backup", dest)
        ended = time.monotonic()
        n_end = len(writer.committed)
        writer.wait_for(n_end + 5)  # the writer was never blocked for good
    finally:
        writer.stop.set()
        writer.join(30)
    assert writer.error is None, writer.error
    during = [sid for t, sid in writer.committed if started < t < ended]
    return before, during, {sid for _, sid in writer.committed}, res


def test_sqlite_backup_while_editors_save_is_consistent(url, tmp_path):
    store = StationStore(url)
    store.create_all()
    store.write_many(_bulk(BULK), user="import", note="bulk")
    accounts.add_user(store, "admin.one", "a long enough password", role="admin")
    dest = tmp_path / "backups" / "copy.sqlite"
    dest.parent.mkdir()
    before, during, every, res = _backup_during_writes(url, dest)
    assert res.exit_code == 0, res.output
    assert res.stdout.startswith(f"backed up {url} to {dest} (sqlite, ")
    assert os.stat(dest).st_mode & 0o777 == 0o600 and not Path(f"{dest}-wal").exists()
    assert [p.name for p in dest.parent.iterdir()] == ["copy.sqlite"]  # no temporary file left

    conn = sqlite3.connect(dest)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        ids = {r[0] for r in conn.execute("SELECT id FROM stations")}
        logged = {r[0] for r in conn.execute("SELECT station_id FROM station_changes WHERE action = 'insert'")}
        users = [r[0] for r in conn.execute("SELECT username FROM users")]
    finally:
        conn.close()
    live_ids = {i for i in ids if i.startswith("live-")}
    assert before <= live_ids <= every                  # everything committed before the backup began
    assert len(ids) - len(live_ids) == BULK and users == ["admin.one"]
    assert ids == logged                                # one commit's state: stations and history agree
    # the writer went on while the copy was made (WAL: readers do not block writers)
    assert len(every) > len(before)
    # the live database is untouched and still written to
    assert StationStore(url).count() == BULK + len(every)
    print(f"backup: {len(during)} commits while it ran")


def test_backup_then_restore_puts_everything_back(url, tmp_path):
    store = StationStore(url)
    assert run("init", "--no-sample").exit_code == 0
    store.write_many(_bulk(50), user="alice", note="first")
    accounts.add_user(store, "editor.one", "a long enough password", role="editor", scopes=("3204",))
    dest = tmp_path / "b.sqlite"
    assert run("backup", dest).exit_code == 0
    snapshot = (store.all(), store.revision(), [u.username for u in accounts.list_users(store)])

    # after the backup: more edits, a deletion, another user
    store.delete("bulk-000007", user="bob")
    store.insert(Station(id="after", name="备份之后", lon=120, lat=31))
    accounts.add_user(store, "editor.two", "another long password", role="admin")

    res = run("restore", dest, input="n\n")  # the prompt says what will be replaced; no changes nothing
    assert res.exit_code == 1 and "Replace everything in" in res.stdout and "50 stations" in res.stdout
    assert store.get("after").name == "备份之后"

    res = run("restore", dest, input="y\n")
    assert res.exit_code == 0 and f"restored {url} from {dest}" in res.stdout
    assert (store.all(), store.revision(), [u.username for u in accounts.list_users(store)]) == snapshot
    assert [h["action"] for h in store.history("bulk-000007")] == ["insert"]
    assert accounts.authenticate(store, "editor.one", "a long enough password") is not None

    store.insert(Station(id="after", name="又一次", lon=120, lat=31))  # the restored database takes writes
    res = run("restore", "--yes", dest)
    assert res.exit_code == 0 and store.ids() == {s.id for s in snapshot[0]}
    assert sqlite3.connect(dest).execute("SELECT count(*) FROM stations").fetchone() == (50,)  # untouched


def test_restore_of_a_backup_made_before_migrations_says_to_upgrade(url, tmp_path):
    legacy = Path(__file__).resolve().parents[1] / "data" / "legacy_v0.sqlite"
    assert run("init", "--no-sample").exit_code == 0
    res = run("restore", "--yes", legacy)
    assert res.exit_code == 0 and "(sqlite, 3 stations, 45 kB)" in res.stdout
    assert "run `stationmap db upgrade`" in res.stdout
    assert run("db", "upgrade").exit_code == 0 and StationStore(url).count() == 3


@pytest.mark.parametrize("name, content, expect", [
    ("missing.sqlite", None, "error: no such file: {path}"),
    ("notes.txt", b"just some text\n", "error: {path} is not a stationmap backup: neither a SQLite database "
                                        "nor a pg_dump custom-format file"),
    ("other.sqlite", "sqlite:create table t(x)", "error: {path} is not a stationmap backup: a SQLite database "
                                                  "without the stations table"),
    ("broken.sqlite", b"SQLite format 3\x00" + b"\x00" * 200, "error: {path} is not a stationmap backup: "),
    ("fake.dump", b"PGDMP" + b"\x00" * 100, "error: {path} is a postgresql backup but the database is sqlite"),
])
def test_restore_refuses_what_is_not_a_backup(url, tmp_path, name, content, expect):
    assert run("init", "--no-sample").exit_code == 0
    StationStore(url).insert(Station(id="keep", name="留", lon=120, lat=31))
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif isinstance(content, str):
        conn = sqlite3.connect(path)
        conn.execute(content.split(":", 1)[1])
        conn.commit()
        conn.close()
    res = run("restore", "--yes", path)
    assert res.exit_code == 1
    (line,) = res.stderr.splitlines()
    assert line.startswith(expect.format(path=path)), line
    assert StationStore(url).ids() == {"keep"}


def test_backup_errors_are_one_clear_line(url, tmp_path):
    res = run("backup", tmp_path / "b.sqlite")
    assert res.exit_code == 1 and res.stderr == "error: the database has no stations table yet: " \
                                                "run `stationmap init` first\n"
    assert run("init", "--no-sample").exit_code == 0
    for dest, expect in [(tmp_path / "nowhere" / "b.sqlite", f"error: folder {tmp_path / 'nowhere'} does not exist"),
                         (tmp_path / "live.sqlite", f"error: {tmp_path / 'live.sqlite'} is the database itself"),
                         (tmp_path, f"error: {tmp_path} is a folder")]:
        res = run("backup", dest)
        assert res.exit_code == 1 and len(res.stderr.splitlines()) == 1 and res.stderr.startswith(expect), res.stderr


# -- PostgreSQL: pg_dump --format=custom, pg_restore ---------------------------------------

def test_postgres_backup_while_editors_save_and_restore(pg_server, tmp_path, monkeypatch):
    monkeypatch.setenv("STATIONMAP_DATABASE_URL", pg_server)
    store = StationStore(pg_server)
    with store.engine.begin() as conn:
        for t in ("alembic_version", "audit_log", "login_failures", "sessions", "station_reports", "users",
                  "station_changes", "stations"):
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {t}"))
    assert run("init", "--no-sample").exit_code == 0
    store.write_many(_bulk(5000), user="import")
    dest = tmp_path / "pg.dump"
    before, _during, every, res = _backup_during_writes(pg_server, dest)
    assert res.exit_code == 0, res.output
    assert "(postgresql, " in res.stdout and dest.read_bytes()[:5] == b"PGDMP"
    assert os.stat(dest).st_mode & 0o777 == 0o600

    # put it back over a database that moved on; the copy holds what was committed before the backup
    n_live = store.count()
    store.insert(Station(id="after", name="备份之后", lon=120, lat=31))
    res = run("restore", "--yes", dest)
    assert res.exit_code == 0, res.output
    ids = store.ids()
    live_ids = {i for i in ids if i.startswith("live-")}
    assert before <= live_ids <= every and "after" not in ids and len(ids) <= n_live
    with store.engine.connect() as conn:
        logged = {r[0] for r in conn.execute(sa.text("SELECT station_id FROM station_changes"))}
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar_one() == migrations.head()
    assert ids == logged
    # a SQLite backup is refused here
    lite = tmp_path / "lite.sqlite"
    conn = sqlite3.connect(lite)
    conn.execute("CREATE TABLE stations (id)")
    conn.execute("CREATE TABLE station_changes (rev)")
    conn.commit()
    conn.close()
    res = run("restore", "--yes", lite)
    assert res.exit_code == 1 and res.stderr.startswith(f"error: {lite} is a sqlite backup but the database is "
                                                        "postgresql")
    store.engine.dispose()
