"""The cluster index of map tiles (stationmap.tiles): counts against brute force over the stations,
every station once per zoom across tile edges, filters, open now, the GCJ-02 grid, edits."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from stationmap.coords import from_wgs84
from stationmap.hours import open_checker
from stationmap.model import KINDS, SERVICES, Station
from stationmap.tiles import ClusterIndex, Filters, project, tile_bounds

SH = ZoneInfo("Asia/Shanghai")
#: districts of the stations (two counties of one city, another city's, another province's)
ADCODES = ["320402", "320404", "320505", "310101"]
HOURS = ["24/7", "Mo-Fr 08:00-18:00", "Mo-Su 07:00-22:00", "Sa-Su 09:00-17:00", "Nov-Mar 07:00-19:00"]


def _stations(n: int, seed: int) -> list[Station]:
    """``n`` stations in a few dense towns and scattered over eastern China (some at one point)."""
    rng = random.Random(seed)
    towns = [(rng.uniform(104, 122), rng.uniform(22, 40)) for _ in range(8)]
    out = []
    for i in range(n):
        if i % 50 == 7:     # a few share a point with the one before
            lon, lat = out[-1].lon, out[-1].lat
        elif i % 3:
            tlon, tlat = rng.choice(towns)
            lon, lat = tlon + rng.gauss(0, 0.05), tlat + rng.gauss(0, 0.05)
        else:
            lon, lat = rng.uniform(98, 124), rng.uniform(20, 45)
        out.append(Station(id=f"s{i:05d}", name=f"站{i}", lon=lon, lat=lat,
                           kinds=tuple(rng.sample(list(KINDS), rng.choice([1, 1, 2]))),
                           services=tuple(rng.sample(list(SERVICES), rng.randint(0, 5))),
                           opening_hours=rng.choice(HOURS),
                           status=rng.choice(["active"] * 8 + ["temporarily_closed", "closed"]),
                           adcode=rng.choice(ADCODES)))
    return out


@pytest.fixture(scope="module")
def stations() -> list[Station]:
    return _stations(1000, 16)


@pytest.fixture(scope="module")
def index(stations) -> ClusterIndex:
    return ClusterIndex(stations)


def _tile_of(s: Station, z: int, datum: str = "wgs84") -> tuple[int, int]:
    lon, lat = (s.lon, s.lat) if datum == "wgs84" else from_wgs84(s.lon, s.lat, datum)
    x, y = project(np.array([lon]), np.array([lat]))
    return int(x[0] * (1 << z)), int(y[0] * (1 << z))


def _around(stations: list[Station], z: int, datum: str = "wgs84") -> set[tuple[int, int]]:
    """The tiles of zoom ``z`` holding a station and their neighbours: a cluster's centre lies
    within one tile of each of its stations (the radius is under a quarter of a tile, and the
    radii of the zooms above add up to less than twice that)."""
    top = (1 << z) - 1
    return {(min(top, max(0, x + dx)), min(top, max(0, y + dy)))
            for x, y in {_tile_of(s, z, datum) for s in stations} for dx in (-1, 0, 1) for dy in (-1, 0, 1)}


def _random_filters(rng: random.Random) -> Filters:
    at = datetime(2026, rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23), rng.choice([0, 30]), tzinfo=SH)
    return Filters(kinds=tuple(rng.sample(list(KINDS), rng.randint(0, 2))),
                   services=tuple(rng.sample(list(SERVICES), rng.choice([0, 0, 1, 2]))),
                   statuses=rng.choice([(), ("active",), ("active", "temporarily_closed")]),
                   open_at=rng.choice([None, at]))


def _district_filters(rng: random.Random, stations: list[Station]) -> Filters:
    """Random filters narrowed to a district (an adcode prefix) or to a scope (a set of ids)."""
    f = _random_filters(rng)
    if rng.random() < 0.5:
        return replace(f, adcode=rng.choice(["3204", "320402", "320505", "31", "44"]))
    return replace(f, ids=frozenset(s.id for s in rng.sample(stations, rng.randint(0, len(stations) // 3))))


def _brute(stations: list[Station], f: Filters) -> list[Station]:
    is_open = open_checker(f.open_at, f.services) if f.open_at is not None else None
    return [s for s in stations if f.matches(s, is_open)]


def test_every_zoom_counts_each_matching_station_once(stations, index):
    """Over the tiles of a zoom that hold a matching station, the clusters' counts and the single
    stations add up to the matching stations, each station in the tile its node belongs to."""
    rng = random.Random(1)
    fs = [Filters(), *(_random_filters(rng) for _ in range(2)), Filters(adcode="3204"),
          Filters(adcode="320505", kinds=("rest",)),
          Filters(ids=frozenset(s.id for s in stations[::7]) | {"not-a-station"}),
          *(_district_filters(rng, stations) for _ in range(2))]
    for f in fs:
        want = _brute(stations, f)
        for z in range(0, 19):
            tiles = _around(stations, z)
            total, shown = 0, []
            for x, y in tiles:
                t = index.tile(z, x, y, f)
                total += t.total
                shown.extend(t.stations)
                for c in t.clusters:
                    assert c.count >= 2 and sum(c.kinds.values()) >= c.count
                    members = [s for s in index.leaves(z, c.node) if f.matches(s, open_checker(f.open_at, f.services)
                                                                        if f.open_at else None)]
                    assert len(members) == c.count
                    assert c.kinds == {k: sum(k in s.kinds for s in members) for k in KINDS}
                    # the centre of the matching members
                    assert c.lon == pytest.approx(np.mean(project(np.array([s.lon for s in members]),
                                                                  np.array([s.lat for s in members]))[0]) * 360 - 180,
                                                  abs=1e-6)
            assert total == len(want), (z, f)
            assert len({s.id for s in shown}) == len(shown)     # no station twice
            assert {s.id for s in shown} <= {s.id for s in want}
        # above the clusters' zooms every matching station is itself, in the tile holding its point
        z = index.max_zoom + 2
        for s in rng.sample(want, min(20, len(want))):
            assert s.id in {t.id for t in index.tile(z, *_tile_of(s, z), f).stations}


def test_random_tiles_against_brute_force(stations, index):
    """Any tile: its total is the matching stations whose node's centre is in it, and a station
    shown alone lies in the tile (at the highest zooms its own point decides)."""
    rng = random.Random(2)
    for i in range(150):
        f = _random_filters(rng) if i % 3 else _district_filters(rng, stations)
        z = rng.randint(0, 22)
        s = rng.choice(stations)
        x, y = _tile_of(s, z)
        t = index.tile(z, x, y, f)
        w, so, e, n = tile_bounds(z, x, y)
        for st in t.stations:
            assert f.matches(st)
            if z > index.max_zoom:
                assert w <= st.lon <= e and so <= st.lat <= n
        if z > index.max_zoom:
            inside = [st for st in _brute(stations, f) if _tile_of(st, z) == (x, y)]
            assert sorted(st.id for st in t.stations) == sorted(st.id for st in inside)
            assert not t.clusters


def test_zooming_in_splits_a_cluster(index):
    f = Filters()
    big = max((c for c in index.tile(4, 13, 6, f).clusters), key=lambda c: c.count, default=None)
    assert big is not None and big.count > 10
    assert big.expansion_zoom > 4
    # at its expansion zoom, the cluster's stations are in more than one feature
    z = big.expansion_zoom
    members = {s.id for s in index.leaves(4, big.node)}
    tiles = {_tile_of(s, z) for s in index.leaves(4, big.node)}
    parts = 0
    for x, y in tiles:
        t = index.tile(z, x, y, f)
        parts += sum(1 for c in t.clusters if {s.id for s in index.leaves(z, c.node)} <= members)
        parts += sum(1 for s in t.stations if s.id in members)
    assert parts >= 2


def test_stations_at_one_point_stay_a_cluster_to_the_last_zoom(stations, index):
    twin = stations[57]
    assert (twin.lon, twin.lat) == (stations[56].lon, stations[56].lat)
    z = index.max_zoom
    t = index.tile(z, *_tile_of(twin, z), Filters())
    holding = [c for c in t.clusters if twin.id in {s.id for s in index.leaves(z, c.node)}]
    assert holding and holding[0].expansion_zoom == index.max_zoom + 1
    top = index.tile(index.max_zoom + 1, *_tile_of(twin, index.max_zoom + 1), Filters())
    assert {twin.id, stations[56].id} <= {s.id for s in top.stations}


def test_open_now_follows_the_clock(stations, index):
    office = [s for s in stations if s.opening_hours == "Mo-Fr 08:00-18:00" and s.status == "active"]
    monday_10 = datetime(2026, 12, 7, 10, 0, tzinfo=SH)
    sunday_10 = datetime(2026, 12, 6, 10, 0, tzinfo=SH)
    on = index.mask(Filters(open_at=monday_10))
    off = index.mask(Filters(open_at=sunday_10))
    at = {s.id: i for i, s in enumerate(index.stations)}
    assert all(on[at[s.id]] for s in office) and not any(off[at[s.id]] for s in office)
    assert index.tile(0, 0, 0, Filters(open_at=monday_10)).total == len(_brute(stations, Filters(open_at=monday_10)))
    assert index.tile(0, 0, 0, Filters(open_at=sunday_10)).total == len(_brute(stations, Filters(open_at=sunday_10)))


def test_gcj02_grid_shifts_clusters_and_stations(stations):
    """In the GCJ-02 grid (a map over Amap): every station once per zoom, each single station in the
    tile holding its GCJ-02 point, coordinates shifted to GCJ-02."""
    stations = stations[:300]
    index = ClusterIndex(stations)
    f = Filters(statuses=("active",))
    want = _brute(stations, f)
    for z in (3, 9, 14, 18):
        tiles = _around(stations, z, "gcj02")
        total, ids = 0, []
        for x, y in tiles:
            t = index.tile(z, x, y, f, datum="gcj02")
            total += t.total
            ids.extend(s.id for s in t.stations)
            if z > index.max_zoom:
                for s in t.stations:
                    assert _tile_of(s, z, "gcj02") == (x, y)
        assert total == len(want), z
        assert len(ids) == len(set(ids))
    # a cluster's position: the GCJ-02 shift of its WGS-84 centre (300-700 m east and north here)
    s = want[0]
    wgs = index.tile(18, *_tile_of(s, 18), f)
    gcj = index.tile(18, *_tile_of(s, 18, "gcj02"), f, datum="gcj02")
    assert s.id in {x.id for x in wgs.stations} and s.id in {x.id for x in gcj.stations}
    c = index.tile(5, *_tile_of(s, 5), f).clusters[0]
    g = [k for k in index.tile(5, *_tile_of(s, 5, "gcj02"), f, datum="gcj02").clusters if k.node == c.node]
    if g:
        glon, glat = from_wgs84(c.lon, c.lat, "gcj02")
        assert (g[0].lon, g[0].lat) == pytest.approx((glon, glat), abs=1e-7)


def test_an_edit_keeps_the_tree_and_a_move_rebuilds(stations, index):
    changed = list(stations)
    changed[10] = replace(changed[10], status="closed", kinds=("hot_tea",))
    kept = index.with_stations(changed)
    assert kept is not None and kept.levels is index.levels
    f = Filters(statuses=("active",), kinds=("hot_tea",))
    assert kept.tile(0, 0, 0, f).total == len(_brute(changed, f))
    assert kept.tile(0, 0, 0, Filters()).total == len(stations)
    moved = list(stations)
    moved[10] = replace(moved[10], lon=moved[10].lon + 0.5)
    assert index.with_stations(moved) is None
    assert index.with_stations(stations[:-1]) is None


def test_district_filters_follow_an_edit_of_the_district(stations, index):
    """An adcode filter counts a station by the district it has now: an edit that moves it to another
    district (same point) keeps the tree and changes the counts."""
    f = Filters(adcode="320402")
    before = index.tile(0, 0, 0, f).total
    assert before == len(_brute(stations, f)) > 0
    s = next(s for s in stations if s.adcode == "320404")
    changed = [replace(x, adcode="320402") if x.id == s.id else x for x in stations]
    kept = index.with_stations(changed)
    assert kept is not None and kept.levels is index.levels
    assert kept.tile(0, 0, 0, f).total == before + 1
    assert index.tile(0, 0, 0, f).total == before


def test_no_stations():
    empty = ClusterIndex([])
    t = empty.tile(3, 6, 3, Filters(open_at=datetime(2026, 1, 1, tzinfo=SH)))
    assert t.total == 0 and not t.clusters and not t.stations


def test_bad_tiles_are_refused(index):
    for z, x, y in [(23, 0, 0), (3, 8, 0), (3, 0, 8), (-1, 0, 0)]:
        with pytest.raises(ValueError):
            index.tile(z, x, y)
