"""StationIndex against a brute-force pyproj.Geod reference."""

from dataclasses import replace
from datetime import datetime

import numpy as np
import pytest
from pyproj import Geod

from stationmap.errors import ValidationError
from stationmap.index import StationIndex
from stationmap.model import KINDS, SERVICES, Station
from stationmap.store import StationStore

GEOD = Geod(ellps="WGS84")
KIND_SETS = [("rest",), ("hot_tea",), ("legal_aid",), ("rest", "legal_aid"), ("rest", "hot_tea")]
HOURS = ["24/7", "Mo-Fr 08:00-18:00", "Nov-Mar 07:00-19:00", "Mo-Su 06:00-10:00,16:00-22:00"]


def random_stations(n, seed, lon_range=(73.6, 134.9), lat_range=(18.3, 53.4)):
    rng = np.random.default_rng(seed)
    lon = rng.uniform(*lon_range, n)
    lat = rng.uniform(*lat_range, n)
    services = list(SERVICES)
    out = []
    for i in range(n):
        svc = tuple(s for s in services if rng.random() < 0.4)
        out.append(Station(id=f"s{i}", name=f"站{i}", lon=float(lon[i]), lat=float(lat[i]),
                           kinds=KIND_SETS[i % len(KIND_SETS)], services=svc,
                           opening_hours=HOURS[i % len(HOURS)],
                           status="closed" if i % 97 == 0 else "active"))
    return out


def brute(stations, lon, lat, *, kinds=None, services=None, open_at=None, include_closed=False):
    ok = [s for s in stations
          if (include_closed or s.status != "closed")
          and (not kinds or set(kinds) & set(s.kinds))
          and (not services or set(services) <= set(s.services))
          and (open_at is None or s.open_at(open_at))]
    n = len(ok)
    d = GEOD.inv(np.full(n, lon), np.full(n, lat), [s.lon for s in ok], [s.lat for s in ok])[2]
    order = np.argsort(d, kind="stable")
    return [(ok[i].id, d[i]) for i in order]


@pytest.fixture(scope="module")
def china():
    stations = random_stations(20000, 1)
    return stations, StationIndex.from_stations(stations)


@pytest.fixture(scope="module")
def jiangsu():
    stations = random_stations(3000, 2, (116.3, 121.9), (30.7, 35.1))
    return stations, StationIndex.from_stations(stations)


def query_points(n, seed, lon_range=(74.0, 134.0), lat_range=(19.0, 53.0)):
    rng = np.random.default_rng(seed)
    return list(zip(rng.uniform(*lon_range, n), rng.uniform(*lat_range, n)))


def check(hits, ref, k):
    assert [h.station.id for h in hits] == [r[0] for r in ref[:k]]
    for h, (_, d) in zip(hits, ref):
        assert h.distance_m == pytest.approx(d, rel=1e-4, abs=0.01)


@pytest.mark.parametrize("k", [1, 5, 20])
def test_nearest_equals_geodesic_brute_force_anywhere_in_china(china, k):
    stations, index = china
    for lon, lat in query_points(60, k):
        check(index.nearest(float(lon), float(lat), k=k), brute(stations, lon, lat), k)


@pytest.mark.parametrize("kinds", [["rest"], ["hot_tea"], ["legal_aid"], ["hot_tea", "legal_aid"]])
def test_nearest_with_kind_filter(jiangsu, kinds):
    stations, index = jiangsu
    for lon, lat in query_points(40, 3, (116.5, 121.5), (31.0, 34.8)):
        check(index.nearest(lon, lat, k=5, kinds=kinds), brute(stations, lon, lat, kinds=kinds), 5)


def test_nearest_with_service_and_open_at_filters(jiangsu):
    stations, index = jiangsu
    winter_morning = datetime(2026, 12, 3, 7, 30)
    summer_night = datetime(2026, 7, 3, 23, 0)
    for lon, lat in query_points(30, 4, (116.5, 121.5), (31.0, 34.8)):
        for services, at in [(["ebike_charging"], None), (["toilet", "microwave"], winter_morning),
                             (None, summer_night)]:
            hits = index.nearest(lon, lat, k=5, services=services, open_at=at, kinds=["rest"])
            check(hits, brute(stations, lon, lat, kinds=["rest"], services=services, open_at=at), 5)


def test_nearest_max_m_and_include_closed(jiangsu):
    stations, index = jiangsu
    lon, lat = 119.95, 31.78
    ref = brute(stations, lon, lat)
    hits = index.nearest(lon, lat, k=50, max_m=ref[3][1] + 1)
    assert [h.station.id for h in hits] == [r[0] for r in ref[:4]]
    ref_all = brute(stations, lon, lat, include_closed=True)
    check(index.nearest(lon, lat, k=10, include_closed=True), ref_all, 10)


def test_within_radius_equals_brute_force(jiangsu):
    stations, index = jiangsu
    for lon, lat in query_points(30, 5, (116.5, 121.5), (31.0, 34.8)):
        for radius in (2_000, 15_000, 60_000):
            ref = [r for r in brute(stations, lon, lat, kinds=["rest"]) if r[1] <= radius]
            hits = index.within(lon, lat, radius, kinds=["rest"])
            assert [h.station.id for h in hits] == [r[0] for r in ref]


def test_distances_within_half_a_percent_of_geodesic_at_all_ranges(china):
    stations, index = china
    for lon, lat in query_points(20, 6):
        for h in index.nearest(lon, lat, k=3) + index.within(lon, lat, 150_000)[:50]:
            ref = GEOD.inv(lon, lat, h.station.lon, h.station.lat)[2]
            assert abs(h.distance_m - ref) <= 0.005 * ref + 0.01


def test_index_kept_in_step_with_writes_without_rebuild(jiangsu):
    stations, _ = jiangsu
    index = StationIndex.from_stations(stations[:500])
    trees_before = index._kd[None][0]
    live = {s.id: s for s in stations[:500]}
    rng = np.random.default_rng(9)
    for i in range(300):
        op = rng.integers(3)
        if op == 0:  # insert
            s = Station(id=f"new{i}", name="新", lon=float(rng.uniform(117, 121)), lat=float(rng.uniform(31, 34)),
                        kinds=("hot_tea",))
            index.add(s)
            live[s.id] = s
        elif op == 1 and live:  # update: move and change kind
            sid = sorted(live)[int(rng.integers(len(live)))]
            s = replace(live[sid], lon=float(rng.uniform(117, 121)), kinds=("legal_aid",))
            index.update(s)
            live[sid] = s
        elif live:  # delete
            sid = sorted(live)[int(rng.integers(len(live)))]
            index.remove(sid)
            del live[sid]
    assert index._kd[None][0] is trees_before  # small deltas: no rebuild
    assert len(index) == len(live)
    for lon, lat in query_points(20, 10, (117, 121), (31, 34)):
        for kinds in (None, ["legal_aid"], ["hot_tea"]):
            check(index.nearest(lon, lat, k=5, kinds=kinds), brute(list(live.values()), lon, lat, kinds=kinds), 5)
        ref = [r for r in brute(list(live.values()), lon, lat) if r[1] <= 30_000]
        assert [h.station.id for h in index.within(lon, lat, 30_000)] == [r[0] for r in ref]


def test_sync_follows_another_process_writes(db_url, make_station):
    store = StationStore(db_url)
    store.create_all()
    store.write_many([make_station(id="a", lon=119.9), make_station(id="b", lon=120.1)])
    index = StationIndex.from_store(store)
    other = StationStore(db_url)  # stands for another worker
    other.insert(make_station(id="c", lon=119.96, lat=31.78))
    other.delete("a")
    assert index.sync(store) == 2
    assert [h.station.id for h in index.nearest(119.95, 31.78, k=5)] == ["c", "b"]
    assert index.revision == store.revision()


def test_bbox(jiangsu):
    stations, index = jiangsu
    box = (118.0, 31.5, 119.0, 32.5)
    ref = sorted(s.id for s in stations if box[0] <= s.lon <= box[2] and box[1] <= s.lat <= box[3])
    assert [s.id for s in index.bbox(*box)] == ref
    with pytest.raises(ValidationError, match="bbox"):
        index.bbox(119.0, 31.5, 118.0, 32.5)


@pytest.mark.parametrize("kwargs,field", [
    ({"lon": float("nan"), "lat": 31.0}, "lon"),
    ({"lon": 120.0, "lat": 91.0}, "lat"),
    ({"lon": "x", "lat": 31.0}, "lon"),
    ({"lon": 120.0, "lat": 31.0, "k": 0}, "k"),
    ({"lon": 120.0, "lat": 31.0, "k": 10**6}, "k"),
    ({"lon": 120.0, "lat": 31.0, "kinds": ["bar"]}, "kind"),
    ({"lon": 120.0, "lat": 31.0, "services": ["spa"]}, "service"),
    ({"lon": 120.0, "lat": 31.0, "max_m": -1}, "max_m"),
])
def test_bad_arguments_name_the_field(jiangsu, kwargs, field):
    _, index = jiangsu
    with pytest.raises(ValidationError) as exc:
        index.nearest(**kwargs)
    assert exc.value.field == field


def test_empty_index():
    index = StationIndex.from_stations([])
    assert index.nearest(120.0, 31.0, k=3) == []
    assert index.within(120.0, 31.0, 1000) == []
    index.add(Station(id="x", name="x", lon=120.0, lat=31.0))
    assert [h.station.id for h in index.nearest(120.0, 31.0, k=3)] == ["x"]


def test_all_kinds_have_a_tree(china):
    _, index = china
    assert set(index._kd) == {None, *KINDS}


def test_flat_tree_query_equals_brute_force():
    """The compiled walk of scipy's kd tree (the nearest fast path) finds the same points as
    brute force, ties (duplicate points) in point order, for small and large trees."""
    from scipy.spatial import cKDTree

    from stationmap.index import _FlatTree

    rng = np.random.default_rng(1)
    for n in (3, 20, 1000, 30000):
        pts = rng.random((n, 3)) * 1e5
        pts[1] = pts[2]
        flat = _FlatTree(cKDTree(pts))
        for trial in range(200):
            q = pts[1].copy() if trial % 10 == 0 else rng.random(3) * 1e5
            k = int(rng.integers(1, min(n, 30) + 1))
            d, i = flat.query(q, k)
            dd = np.sqrt(((pts - q) ** 2).sum(1))
            ref = np.lexsort((np.arange(n), dd))[:k]
            assert i.tolist() == ref.tolist()
            np.testing.assert_allclose(d, dd[ref], rtol=1e-12, atol=1e-9)
        labels = np.sort(rng.choice(10 * n, n, replace=False))     # ascending, as the index's slots
        d2, lab = _FlatTree(cKDTree(pts), labels).query(q, k)
        assert lab.tolist() == labels[ref].tolist() and d2.tolist() == d.tolist()


@pytest.mark.parametrize("k", [1, 2, 5])
def test_nearest_ties_equal_brute_force_for_every_k(jiangsu, k):
    """Stations sharing a position tie exactly; for k=1 as for k>1 the index gives brute force's
    order (ties in load order), and k=1 takes the compiled fast path (not the scipy loop)."""
    stations, _ = jiangsu
    stations = list(stations[:1500])
    for j in range(0, 300, 3):      # triples at one point, some of them closed
        for t in (1, 2):
            stations[j + t] = replace(stations[j + t], lon=stations[j].lon, lat=stations[j].lat,
                                      status="closed" if j % 2 else "active")
    index = StationIndex.from_stations(stations)
    points = [(stations[j].lon, stations[j].lat) for j in range(0, 300, 3)]
    points += [(stations[j].lon + 1e-4, stations[j].lat - 1e-4) for j in range(0, 300, 15)]
    points += query_points(20, 11, (116.5, 121.5), (31.0, 34.8))
    for lon, lat in points:
        for kinds in (None, ["rest"]):
            for include_closed in (False, True):
                ref = brute(stations, lon, lat, kinds=kinds, include_closed=include_closed)
                check(index.nearest(float(lon), float(lat), k=k, kinds=kinds, include_closed=include_closed),
                      ref, k)
    assert id(index._kd[None][0]) in index._flat     # k=1 too: the _FlatTree walk


def test_closed_stations_written_after_the_build(jiangsu):
    """Stations added or updated as closed (in the delta, then after a rebuild) are left out
    of nearest, within and bbox unless include_closed, as brute force says."""
    stations, _ = jiangsu
    index = StationIndex.from_stations(stations[:400])
    live = {s.id: s for s in stations[:400]}
    rng = np.random.default_rng(13)
    tree_before = index._kd[None][0]

    def agree():
        ok = list(live.values())
        for lon, lat in query_points(10, 14, (117, 121), (31, 34)):
            for include_closed in (False, True):
                ref = brute(ok, lon, lat, include_closed=include_closed)
                check(index.nearest(lon, lat, k=5, include_closed=include_closed), ref, 5)
                got = index.within(lon, lat, 25_000, include_closed=include_closed)
                assert [h.station.id for h in got] == [r[0] for r in ref if r[1] <= 25_000]
            box = (lon - 0.3, lat - 0.3, lon + 0.3, lat + 0.3)
            assert [s.id for s in index.bbox(*box, include_closed=False)] == sorted(
                s.id for s in ok if s.status != "closed" and box[0] <= s.lon <= box[2] and box[1] <= s.lat <= box[3])

    for i in range(1600):
        if i % 4 == 3 and live:     # flip a station's status
            sid = sorted(live)[int(rng.integers(len(live)))]
            s = replace(live[sid], status="active" if live[sid].status == "closed" else "closed")
        else:
            s = Station(id=f"w{i}", name="新", lon=float(rng.uniform(117, 121)), lat=float(rng.uniform(31, 34)),
                        kinds=("rest",), status="closed" if i % 3 == 0 else "active")
        index.add(s)
        live[s.id] = s
        if i % 5 == 0:
            del live[s.id]
            index.remove(s.id)
        if i == 200:
            assert index._delta     # still unbuilt: the delta's closed stations
            agree()
    assert index._kd[None][0] is not tree_before and len(index) == len(live)   # rebuilt past 1024 writes
    agree()


def test_nearest_after_edits_stays_on_the_fast_path(jiangsu, monkeypatch):
    """Edits and deletes since the last build (stations moved, closed, removed, added) leave
    nearest equal to brute force, and still answered by the compiled walk of the kd tree
    (a long-running server edits stations; its queries must not all fall to scipy's loop)."""
    from stationmap import index as index_mod

    stations, _ = jiangsu
    live = {s.id: s for s in stations[:2000]}
    index = StationIndex.from_stations(list(live.values()))
    tree_before = index._kd[None][0]
    rng = np.random.default_rng(5)
    for i in range(60):
        sid = sorted(live)[int(rng.integers(len(live)))]
        if i % 3 == 0:
            index.remove(sid)
            del live[sid]
        else:   # moved (or closed), as an edit does
            s = replace(live[sid], lon=live[sid].lon + float(rng.normal(0, 0.05)),
                        status="closed" if i % 3 == 2 else "active")
            index.add(s)
            live[sid] = s
    assert index._kd[None][0] is tree_before and index._stale and index._delta   # not rebuilt
    calls = []
    real = index_mod._FlatTree.query
    monkeypatch.setattr(index_mod._FlatTree, "query", lambda self, q, k: calls.append(k) or real(self, q, k))
    points = query_points(40, 21, (117, 121), (31, 34)) + [(s.lon, s.lat) for s in list(live.values())[:40]]
    for lon, lat in points:
        for k in (1, 5):
            for kinds in (None, ["rest"]):
                for include_closed in (False, True):
                    ref = brute(list(live.values()), lon, lat, kinds=kinds, include_closed=include_closed)
                    check(index.nearest(float(lon), float(lat), k=k, kinds=kinds, include_closed=include_closed),
                          ref, k)
    assert len(calls) == len(points) * 2 * 2 * 2    # every query took the fast path


def test_densest_area_is_the_middle_of_the_fullest_cell_not_the_median():
    from stationmap.index import densest_area

    # 20 stations within 500 m in Suzhou, 20 spread over 8 km in Nanjing: the per-axis median
    # (Suzhou's longitude, Nanjing's latitude) is an empty field; the densest 3 km cell is Suzhou's
    lons = [120.620 + 0.001 * (i % 5) for i in range(20)] + [118.70 + 0.02 * (i % 5) for i in range(20)]
    lats = [31.300 + 0.001 * (i // 5) for i in range(20)] + [32.00 + 0.02 * (i // 5) for i in range(20)]
    lon, lat = densest_area(lons, lats)
    assert abs(lon - 120.622) < 1e-9 and abs(lat - 31.3015) < 1e-9
    # two stations 1 km apart outweigh a lone one; the answer is their mean
    assert densest_area([120.62, 118.7, 118.71], [31.3, 32.0, 32.0], cell_m=3000) == pytest.approx((118.705, 32.0))
    assert densest_area([], []) is None
    assert densest_area([119.9], [31.8]) == (119.9, 31.8)
    with pytest.raises(ValidationError):
        densest_area([119.9], [31.8], cell_m=0)
