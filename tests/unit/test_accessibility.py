"""The accessibility index (E2SFCA) against a case worked by hand, a brute-force reference
(pyproj.Geod distances, plain loops) and the conservation of supply."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from shapely.geometry import box

from stationmap import config
from stationmap import coverage as cv
from stationmap.coverage import accessibility as acc
from stationmap.model import Station
from tests.support.geodesic import geod_matrix

SETTINGS = config.load({"speeds_kmh": dict(config.DEFAULT_SPEEDS_KMH), "detour_factor": config.DETOUR_FACTOR,
                        "minutes": config.DEFAULT_MINUTES})
AREA = cv.Area("900001", "测试区", "county", box(119.95, 31.75, 119.99, 31.78), population=50_000)


def test_a_case_worked_by_hand(monkeypatch):
    """Three cells (100, 200 and 50 people), two stations (capacity 10, and one stating none: 1),
    15 minutes: weights 1 up to 5 min, 0.68 up to 10, 0.22 up to 15.

    Step 1: station 0 serves 100 x 1 + 200 x 0.68 = 236 weighted people: R0 = 10 / 236;
            station 1 serves 200 x 0.22 + 50 x 1 = 94: R1 = 1 / 94.
    Step 2: A0 = R0 = 0.0423729; A1 = 0.68 R0 + 0.22 R1 = 0.0311540; A2 = R1 = 0.0106383
            (per 1,000 people: 42.37, 31.15, 10.64).
    """
    st = [Station(id="a", name="甲", lon=119.96, lat=31.76, capacity=10),
          Station(id="b", name="乙", lon=119.98, lat=31.77)]
    cov = cv.analyse([AREA], st, kinds=["rest"], mode="walk", minutes=15, cell_m=500, settings=SETTINGS)
    cov.demand = np.zeros(len(cov.grid))
    cov.demand[:3] = [100, 200, 50]
    pairs = (np.array([0, 1, 1, 2]), np.array([0, 0, 1, 1]), np.array([3.0, 8.0, 12.0, 4.0]))
    monkeypatch.setattr(acc, "pair_minutes", lambda coverage, lon, lat: pairs)
    res = acc.accessibility(cov)
    assert res.score[:3] == pytest.approx([42.372881, 31.153985, 10.638298], abs=1e-6)
    assert (res.score[3:] == 0).all()
    assert res.ratio == pytest.approx([10 / 236, 1 / 94])
    assert (res.capacity_stated, res.capacity_assumed) == (1, 1)
    assert "1 of 2 stations state no capacity" in res.notes[0]
    # every place is somebody's: the people times their scores give back the supply
    assert (cov.demand * res.score).sum() / 1000 == pytest.approx(11.0)


def test_circle_scores_equal_brute_force():
    rng = np.random.default_rng(5)
    st = [Station(id=f"s{i}", name=f"站{i}", lon=float(x), lat=float(y), capacity=int(c) if c else None)
          for i, (x, y, c) in enumerate(zip(rng.uniform(119.955, 119.985, 6), rng.uniform(31.755, 31.775, 6),
                                             [4, 0, 12, 7, 0, 30]))]
    cov = cv.analyse([AREA], st, kinds=["rest"], mode="walk", minutes=12, cell_m=250, settings=SETTINGS)
    cov.demand = rng.uniform(0, 80, len(cov.grid))
    res = acc.accessibility(cov)
    # the reference: geodesic minutes (x detour / speed), the weights by zone, two plain loops
    per_min = SETTINGS.speed_kmh("walk") * 1000 / 60 / SETTINGS.detour_factor
    t = geod_matrix(cov.grid.lon, cov.grid.lat, [s.lon for s in st], [s.lat for s in st]) / per_min
    w = np.select([t <= 4, t <= 8, t <= 12], [1.0, 0.68, 0.22], 0.0)
    supply = np.array([s.capacity or 1 for s in st], float)
    r = [supply[j] / sum(cov.demand[i] * w[i, j] for i in range(len(cov.grid))) for j in range(len(st))]
    want = [1000 * sum(w[i, j] * r[j] for j in range(len(st))) for i in range(len(cov.grid))]
    assert res.score == pytest.approx(want, rel=1e-9)
    assert (res.score > 0).any() and (res.score == 0).any()
    assert res.capacity_assumed == 2


def test_supply_is_conserved_on_the_road_network():
    """On the SIP roads: where a station's catchment lies in the grid, its supply is shared out
    whole: sum over cells of people x score = the stations' capacity."""
    from stationmap.network import Network

    net = Network.from_gpkg(Path(config.PACKAGE_DIR).parent / "data" / "roads" / "sip_roads.gpkg",
                            settings=SETTINGS)
    area = cv.Area("", "sip-box", "polygon", box(120.70, 31.29, 120.76, 31.33))
    st = [Station(id="e", name="e", lon=120.7255, lat=31.3105, capacity=20),
          Station(id="f", name="f", lon=120.735, lat=31.315, capacity=5)]
    cov = cv.analyse([area], st, kinds=["rest"], mode="walk", network=net, minutes=5, cell_m=100,
                     settings=SETTINGS)
    assert cov.method == "network"
    cov.demand = np.random.default_rng(3).uniform(1, 50, len(cov.grid))
    res = acc.accessibility(cov)
    assert (cov.demand * res.score).sum() / 1000 == pytest.approx(25.0, rel=1e-9)
    # each cell's score is the sum over the stations it reaches within 5 minutes by road
    reach = cv.network_reach(net, cov.grid.lon, cov.grid.lat, [s.lon for s in st], [s.lat for s in st],
                             mode="walk", minutes=5).toarray().any(axis=0)
    assert ((res.score > 0) == reach).all()


def test_summary_and_json_per_district():
    st = [Station(id="a", name="甲", lon=119.96, lat=31.76, capacity=10)]
    cov = cv.analyse([AREA], st, kinds=["rest"], mode="walk", minutes=10, cell_m=500, settings=SETTINGS)
    res = acc.accessibility(cov)
    s = res.summary(cov)
    row = s.iloc[0]
    assert row.adcode == "900001" and row.people == pytest.approx(cov.demand.sum())
    assert row.mean_score == pytest.approx((cov.demand * res.score).sum() / cov.demand.sum())
    assert row.share_none == pytest.approx(cov.demand[res.score == 0].sum() / cov.demand.sum())
    d = res.to_dict(cov)
    assert d["method"] == "E2SFCA" and [z["weight"] for z in d["decay"]] == [1.0, 0.68, 0.22]
    assert d["decay"][-1]["up_to_minutes"] == 10 and d["capacity_stated"] == 1
