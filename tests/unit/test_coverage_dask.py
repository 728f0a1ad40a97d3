"""Partitioned coverage on Dask equals the serial run with every station.

The reference is :func:`stationmap.coverage.analyse` district by district with
*all* stations; the partitioned run gives each district only the stations in
its box grown by the horizon distance, so equality shows the margin is right.
Small and quick: a local cluster of threads (processes=False)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Geod

from stationmap import config
from stationmap import coverage as cv
from stationmap.model import Station

SETTINGS = config.load({"speeds_kmh": dict(config.DEFAULT_SPEEDS_KMH), "detour_factor": config.DETOUR_FACTOR,
                        "minutes": config.DEFAULT_MINUTES})
GEOD = Geod(ellps="WGS84")
CODES = ["320402", "320404", "320411"]


def _stations():
    """Sample stations plus a dense band of extra ones along the districts' borders."""
    from stationmap.districts import load_districts
    from stationmap.io.sample import load_sample

    d = load_districts(SETTINGS)
    rng = np.random.default_rng(8)
    extra = []
    for code in CODES:
        ring = d.get(code).geometry.boundary
        for k, t in enumerate(rng.uniform(0, 1, 60)):
            p = ring.interpolate(t, normalized=True)
            extra.append(Station(id=f"b{code}-{k}", name="边界站", lon=p.x + rng.normal(0, 0.01),
                                 lat=p.y + rng.normal(0, 0.01), kinds=(("rest",), ("hot_tea",), ("legal_aid",))[k % 3]))
    return load_sample(settings=SETTINGS) + extra


@pytest.fixture(scope="module")
def client():
    from distributed import Client, LocalCluster

    cluster = LocalCluster(n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None)
    c = Client(cluster)
    yield c
    c.close()
    cluster.close()


def _serial_reference(stations, **kw):
    stats, cells = [], []
    for code in CODES:
        cov = cv.analyse(code, stations, settings=SETTINGS, **kw)
        stats.append(cov.stats(total=False))
        cells.append(cov.cells())
    return pd.concat(stats, ignore_index=True), pd.concat(cells, ignore_index=True)


@pytest.mark.parametrize("mode,minutes,shape", [("ebike", 15, "square"), ("walk", 10, "h3")])
def test_dask_run_equals_serial_run_with_all_stations(client, mode, minutes, shape):
    stations = _stations()
    kw = {"mode": mode, "minutes": minutes, "cell_m": 500, "shape": shape}
    want_stats, want_cells = _serial_reference(stations, **kw)
    got = cv.analyse_many(CODES, stations, scheduler=client, keep_cells=True, settings=SETTINGS, **kw)
    assert got.scheduler.startswith("cluster")
    pd.testing.assert_frame_equal(got.stats, want_stats, check_exact=True)
    pd.testing.assert_frame_equal(got.cells, want_cells, check_exact=True)
    # the margin mattered: some cells are reached only from stations outside their district
    assert (got.cells["count_rest"] > 0).any()
    serial = cv.analyse_many(CODES, stations, scheduler="serial", keep_cells=True, settings=SETTINGS, **kw)
    pd.testing.assert_frame_equal(serial.stats, want_stats, check_exact=True)


def test_own_local_cluster_and_progress():
    stations = _stations()
    seen = []
    got = cv.analyse_many("320400", stations, mode="walk", cell_m=1000, processes=False, n_workers=2,
                          settings=SETTINGS, progress=lambda done, total: seen.append((done, total)))
    assert got.scheduler == "local cluster (2 threads)"
    assert seen[-1] == (6, 6) and len(seen) == 6
    assert sorted(got.stats.adcode.unique()) == ["320402", "320404", "320411", "320412", "320413", "320481"]
    want = cv.analyse("320412", stations, mode="walk", cell_m=1000, settings=SETTINGS).stats(total=False)
    pd.testing.assert_frame_equal(got.stats[got.stats.adcode == "320412"].reset_index(drop=True), want,
                                  check_exact=True)


@pytest.mark.slow
def test_partition_keeps_every_station_within_the_margin():
    from stationmap.districts import load_districts

    d = load_districts(SETTINGS)
    areas = [cv.Area.from_district(d.get(c)) for c in CODES]
    st = cv.StationArrays.from_stations(_stations())
    margin = cv.margin_m("ebike", 15, settings=SETTINGS)
    assert margin == pytest.approx(60 * 16000 / 60 / 1.3)
    subsets = cv.partition_stations(areas, st, margin)
    for a, idx in zip(areas, subsets):
        # brute force: geodesic distance from each station to the nearest boundary vertex (densified)
        ring = shapely.segmentize(a.geometry.boundary, 0.005)   # vertices <= ~500 m apart: <= 3 m high
        xy = shapely.get_coordinates(ring)
        out = np.setdiff1d(np.arange(len(st)), idx)
        assert not shapely.contains_xy(a.geometry, st.lon[out], st.lat[out]).any()
        n, m = out.size, len(xy)
        d = GEOD.inv(np.repeat(st.lon[out], m), np.repeat(st.lat[out], m), np.tile(xy[:, 0], n),
                     np.tile(xy[:, 1], n))[2].reshape(n, m)
        assert (d.min(axis=1) > margin).all()
        # and the box is not much bigger than it needs to be
        assert (d.min(axis=1) < 2 * margin).any()


def test_bad_scheduler():
    from stationmap.errors import ValidationError

    with pytest.raises(ValidationError) as exc:
        cv.analyse_many(CODES, [], scheduler=42, settings=SETTINGS)
    assert exc.value.field == "scheduler"
