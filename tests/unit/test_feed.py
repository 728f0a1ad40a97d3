"""The change feed (issue 18): random sequences of creates, edits, closures, deletions and imports,
read through the feed in pages of random size (also in the middle of the writes), rebuild on an
empty copy exactly the store's public stations; a cursor from before a burst of writes loses nothing."""

from __future__ import annotations

import itertools
import json
import tempfile
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stationmap import feed
from stationmap.errors import ValidationError
from stationmap.model import Station
from stationmap.store import StationStore

IDS = [f"f-{i}" for i in range(8)]

_op = st.one_of(
    st.tuples(st.just("create"), st.sampled_from(IDS)),
    st.tuples(st.just("edit"), st.sampled_from(IDS)),
    st.tuples(st.just("close"), st.sampled_from(IDS)),
    st.tuples(st.just("reopen"), st.sampled_from(IDS)),
    st.tuples(st.just("delete"), st.sampled_from(IDS)),
    st.tuples(st.just("import"), st.lists(st.sampled_from(IDS), min_size=1, max_size=6, unique=True)),
    st.tuples(st.just("read"), st.integers(min_value=1, max_value=5)),
)


def _station(sid: str, n: int, status: str = "active") -> Station:
    return Station(id=sid, name=f"站{sid}-{n}", lon=119.9 + n * 1e-4, lat=31.78, kinds=("rest",), adcode="320404",
                   status=status)


def public(store: StationStore) -> dict:
    """The public stations as the feed carries them: ``{id: record}`` of those not closed."""
    return {s.id: json.loads(json.dumps(s.to_dict())) for s in store.all() if s.status != "closed"}


class Client:
    """A copy kept by the feed, read in pages of the sizes given, round robin."""

    def __init__(self, sizes: list[int]) -> None:
        self.copy: dict = {}
        self.cursor = 0
        self.sizes = itertools.cycle(sizes)

    def read(self, store: StationStore, pages: int | None = None) -> None:
        for _ in (itertools.count() if pages is None else range(pages)):
            page = feed.changes(store, self.cursor, next(self.sizes))
            prev = self.cursor
            for e in page.entries:
                assert e["rev"] > prev  # in order, none twice
                prev = e["rev"]
                if e["op"] == "upsert":
                    assert e["station"]["status"] != "closed"
                    self.copy[e["id"]] = e["station"]
                else:
                    assert e["reason"] in ("deleted", "closed")
                    self.copy.pop(e["id"], None)
            assert page.next >= self.cursor
            self.cursor = page.next
            if not page.more:
                return


def _apply(store: StationStore, op: tuple, n: int) -> None:
    kind, arg = op
    ids = store.ids()
    if kind == "create" and arg not in ids:
        store.insert(_station(arg, n), user="t")
    elif kind == "edit" and arg in ids:
        store.update(replace(store.get(arg), name=f"改{n}"), user="t")
    elif kind == "close" and arg in ids:
        store.update(replace(store.get(arg), status="closed"), user="t")
    elif kind == "reopen" and arg in ids:
        store.update(replace(store.get(arg), status="active"), user="t")
    elif kind == "delete" and arg in ids:
        store.delete(arg, user="t")
    elif kind == "import":
        store.write_many([_station(i, n, status="closed" if n % 5 == 0 else "active") for i in arg],
                         user="t", note="import", mode="upsert")


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(ops=st.lists(_op, max_size=30), sizes=st.lists(st.integers(min_value=1, max_value=7), min_size=1, max_size=5))
def test_random_writes_through_the_feed_rebuild_the_public_stations(ops, sizes):
    with tempfile.TemporaryDirectory() as tmp:
        store = StationStore(f"sqlite:///{tmp}/feed.sqlite")
        store.create_all()
        reader = Client(sizes)                      # reads now and then, in the middle of the writes
        early = Client(sizes[::-1])                 # its cursor is from before every write
        for n, op in enumerate(ops):
            if op[0] == "read":
                reader.read(store, pages=op[1])
            else:
                _apply(store, op, n)
        reader.read(store)
        early.read(store)
        assert reader.copy == public(store) == early.copy
        assert reader.cursor == early.cursor == store.revision()
        store.engine.dispose()


def test_a_cursor_from_before_a_burst_loses_nothing(db_url):
    store = StationStore(db_url)
    store.create_all()
    store.write_many([_station(f"b-{i}", i) for i in range(20)], user="t")
    client = Client([7])
    client.read(store)
    cursor = client.cursor
    # the burst: an import, edits, a closure, a deletion; the client reads a page in the middle
    store.write_many([_station(f"b-{i}", 100 + i) for i in range(10, 40)], user="t", note="import")
    client.read(store, pages=1)
    store.update(replace(store.get("b-3"), status="closed"), user="t")
    store.delete("b-4", user="t")
    client.read(store)
    assert client.copy == public(store) and "b-3" not in client.copy and "b-4" not in client.copy
    page = feed.changes(store, cursor, 1000)
    assert [e["rev"] for e in page.entries] == list(range(cursor + 1, store.revision() + 1))
    assert {e["id"]: e.get("reason") for e in page.entries if e["op"] == "delete"} == {"b-3": "closed",
                                                                                      "b-4": "deleted"}
    assert not page.more and page.next == page.revision == store.revision()
    assert feed.changes(store, page.next).entries == []


@pytest.mark.parametrize("since, limit", [(-1, 10), ("x", 10), (True, 10), (0, 0), (0, 10_001), (0, "5")])
def test_bad_cursors_and_limits(db_url, since, limit):
    store = StationStore(db_url)
    store.create_all()
    with pytest.raises(ValidationError):
        feed.changes(store, since, limit)


@pytest.fixture(scope="module")
def pg_server():
    from tests.support.postgres import temporary_postgres

    with temporary_postgres() as url:
        yield url


def test_concurrent_writers_on_postgresql_never_let_the_feed_skip(pg_server):
    """Two writers and a reader at once on PostgreSQL, where the log's numbers are handed out before
    commit: the writers commit them in order (the store's lock), so the reader skips nothing."""
    from concurrent.futures import ThreadPoolExecutor

    from stationmap.schema import metadata

    store = StationStore(pg_server)
    metadata.drop_all(store.engine)
    store.create_all()

    def writer(prefix: str) -> None:
        for n in range(25):
            store.write_many([_station(f"{prefix}-{n % 7}", n), _station(f"{prefix}-x{n}", n)], user=prefix)
            if n % 6 == 5:
                store.delete(f"{prefix}-x{n}", user=prefix)

    client = Client([3, 5])
    with ThreadPoolExecutor(2) as pool:
        writers = [pool.submit(writer, p) for p in ("a", "b")]
        while not all(w.done() for w in writers):
            client.read(store, pages=2)
        for w in writers:
            w.result()  # a writer's error fails the test here
    client.read(store)
    assert client.copy == public(store) and len(client.copy) == 2 * (7 + 25 - 4)
    store.engine.dispose()
