"""A coverage run over an area that one road network holds only in part (issue 21): each cell by
the network that holds it, circles elsewhere (``method == "mixed"``), and what reads a run
(siting, what-if, accessibility, figures, assumptions) on such a run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from shapely.geometry import box

from stationmap import config, siting
from stationmap import coverage as cv
from stationmap.coverage.accessibility import accessibility, decay_weight
from stationmap.coverage.minutes import pair_minutes
from stationmap.coverage.scenario import what_if
from stationmap.model import Station
from stationmap.network import load_networks, snap_points
from stationmap.network.matrix import reach_pairs

SIP_NPZ = Path(config.PACKAGE_DIR).parent / "data" / "roads" / "sip.npz"


@pytest.fixture(scope="module")
def settings(tmp_path_factory):
    """The bundled SIP network only (an empty instance: nothing registered)."""
    return config.load({"speeds_kmh": dict(config.DEFAULT_SPEEDS_KMH), "detour_factor": config.DETOUR_FACTOR,
                        "minutes": config.DEFAULT_MINUTES, "max_snap_m": 500.0,
                        "networks": {"sip": str(SIP_NPZ)},
                        "instance_path": str(tmp_path_factory.mktemp("instance"))})


@pytest.fixture(scope="module")
def sip(settings):
    return load_networks(settings, skip_missing=True)["sip"]


#: the north-east corner of SIP's network and the fields east of it (WGS-84)
AREA = cv.Area("900021", "混合测试区", "county", box(120.755, 31.318, 120.800, 31.345), population=50_000)
MODE, MINUTES = "walk", 10.0


@pytest.fixture(scope="module")
def edge_station(sip):
    """A station 190 m east of SIP's easternmost road node: outside the network's extent, within
    its snapping distance."""
    i = int(np.argmax(sip.lon))
    return Station(id="edge", name="边界外", lon=float(sip.lon[i]) + 0.002, lat=float(sip.lat[i]), kinds=("rest",))


@pytest.fixture(scope="module")
def stations(sip, edge_station):
    inside = np.nonzero((sip.lon > 120.76) & (sip.lon < 120.775) & (sip.lat > 31.322) & (sip.lat < 31.34))[0]
    pick = inside[:: max(1, inside.size // 4)][:4]
    out = [Station(id=f"in{k}", name=f"园区{k}", lon=float(sip.lon[i]), lat=float(sip.lat[i]), kinds=("rest",))
           for k, i in enumerate(pick.tolist())]
    out += [Station(id="east1", name="东1", lon=120.792, lat=31.330, kinds=("rest",)),
            Station(id="east2", name="东2", lon=120.797, lat=31.340, kinds=("rest",)), edge_station]
    return out


@pytest.fixture(scope="module")
def cov(stations, settings):
    return cv.analyse([AREA], stations, kinds=["rest"], mode=MODE, minutes=MINUTES, cell_m=250, settings=settings)


def _arrays(stations):
    return np.array([s.lon for s in stations]), np.array([s.lat for s in stations])


def test_a_run_part_on_a_network_is_mixed_and_says_which_cell_used_what(cov, sip):
    parts = cov.cell_networks
    assert cov.method == "mixed" and parts is not None and [n.name for n in parts.networks] == ["sip"]
    g = cov.grid
    on = parts.index == 0
    assert 0 < on.sum() < len(g)
    # a network cell: centre inside the network's extent and within max_snap_m of a road open to walkers
    hull = cv.network_extent(sip)
    assert cv.points_in(hull, g.lon[on], g.lat[on]).all()
    edge, _t, _a = snap_points(sip, MODE, g.lon, g.lat, 500.0)
    inside = cv.points_in(hull, g.lon, g.lat)
    assert np.array_equal(on, inside & (edge >= 0))
    cells = cov.cells()
    assert set(cells.loc[on, "method"]) == {"network"} and set(cells.loc[~on, "method"]) == {"circle"}
    assert set(cells.loc[on, "network"]) == {"sip"} and set(cells.loc[~on, "network"]) == {""}


def test_cells_on_the_network_equal_the_network_run_and_the_others_circles(cov, sip, stations, settings):
    g = cov.grid
    on = np.nonzero(cov.cell_networks.index == 0)[0]
    off = np.nonzero(cov.cell_networks.index < 0)[0]
    slon, slat = _arrays(stations)
    want_m, want_c = cv.network_minutes(sip, g.lon[on], g.lat[on], slon, slat, mode=MODE, minutes=MINUTES)
    assert np.array_equal(cov.minutes["rest"][on], want_m) and np.array_equal(cov.count["rest"][on], want_c)
    want_m, want_c = cv.circle_minutes(g.lon[off], g.lat[off], slon, slat, mode=MODE, minutes=MINUTES,
                                       settings=settings)
    assert np.array_equal(cov.minutes["rest"][off], want_m) and np.array_equal(cov.count["rest"][off], want_c)
    # the same cells as a network run of the whole area
    whole = cv.analyse([AREA], stations, kinds=["rest"], mode=MODE, minutes=MINUTES, cell_m=250, network=sip,
                       settings=settings)
    assert whole.method == "network"
    assert np.array_equal(whole.minutes["rest"][on], cov.minutes["rest"][on])
    assert np.array_equal(whole.count["rest"][on], cov.count["rest"][on])


def test_a_station_just_across_the_network_edge_counts_for_cells_inside(cov, stations, edge_station, settings, sip):
    assert not cv.points_in(cv.network_extent(sip), np.array([edge_station.lon]), np.array([edge_station.lat]))[0]
    without = cv.analyse([AREA], [s for s in stations if s.id != "edge"], kinds=["rest"], mode=MODE,
                         minutes=MINUTES, cell_m=250, settings=settings)
    on = cov.cell_networks.index == 0
    gained = on & (cov.count["rest"] > without.count["rest"])
    assert gained.any()
    assert (cov.count["rest"][on] - without.count["rest"][on]).max() == 1


def test_figures_are_the_sums_of_the_parts(cov, sip, stations, settings):
    """The area's figures from the parts computed apart: the network's cells on the network alone,
    the others by circles."""
    row = cov.stats(total=False).iloc[0]
    g, d = cov.grid, cov.demand
    parts = [cov.cell_networks.index == 0, cov.cell_networks.index < 0]
    slon, slat = _arrays(stations)
    c = np.zeros(len(g), np.int64)
    c[parts[0]] = cv.network_minutes(sip, g.lon[parts[0]], g.lat[parts[0]], slon, slat, mode=MODE,
                                     minutes=MINUTES)[1]
    c[parts[1]] = cv.circle_minutes(g.lon[parts[1]], g.lat[parts[1]], slon, slat, mode=MODE, minutes=MINUTES,
                                    settings=settings)[1]
    people = sum(float(d[p].sum()) for p in parts)
    covered = sum(float(d[p & (c >= 1)].sum()) for p in parts)
    cross = sum(float(d[p & (c >= 2)].sum()) for p in parts)
    area = sum(float(cov.grid.area_m2[p & (c >= 1)].sum()) for p in parts)
    assert row["demand"] == pytest.approx(people) and people == pytest.approx(50_000)
    assert row["demand_covered"] == pytest.approx(covered / people)
    assert row["demand_cross_covered"] == pytest.approx(cross / people)
    assert row["area_covered"] == pytest.approx(area / float(cov.grid.area_m2.sum()))
    assert 0 < covered < people


def test_the_run_says_its_method_each_network_with_its_credit_and_the_circle(cov, settings):
    p = cov.params()
    assert p["method"] == "mixed" and p["oneway_respected"] is False
    assert p["network_licence"] == "© OpenStreetMap contributors, ODbL"
    assert [n["name"] for n in p["networks"]] == ["sip"]
    assert p["networks"][0]["cells"] + p["circle_cells"] == len(cov.grid)
    rec = cov.assumptions()
    assert rec["method"] == "mixed" and rec["detour_factor"] == settings.detour_factor
    assert rec["networks"][0]["name"] == "sip"
    en = " ".join(rec["text"]["en"])
    assert "Method (mixed): the" in en and "road network sip covers by its roads" in en
    assert "the other cells by straight line x detour factor" in en
    assert any("混合" in line for line in rec["text"]["zh"])
    assert any(n.startswith("mixed methods:") for n in cov.notes)
    d = cov.to_dict(cells=True)
    assert {f["properties"]["method"] for f in d["cells"]["features"]} == {"network", "circle"}


def test_no_network_in_the_area_is_a_circle_run_and_circle_stays_circle(stations, settings):
    far = cv.Area("900022", "常州测试", "county", box(119.95, 31.75, 119.98, 31.77), population=1000)
    c = cv.analyse([far], stations, kinds=["rest"], cell_m=250, settings=settings)
    assert c.method == "circle" and c.cell_networks is None and "method" not in c.cells().columns
    c = cv.analyse([AREA], stations, kinds=["rest"], mode=MODE, minutes=MINUTES, cell_m=250, method="circle",
                   settings=settings)
    assert c.method == "circle" and c.cell_networks is None


def test_what_if_on_a_mixed_run_equals_the_run_with_the_station(cov, stations, settings):
    new = (120.785, 31.333)
    after = what_if(cov, add=[new])
    assert after.method == "mixed"
    again = cv.analyse([AREA], [*stations, Station(id="n", name="n", lon=new[0], lat=new[1], kinds=("rest",))],
                       kinds=["rest"], mode=MODE, minutes=MINUTES, cell_m=250, settings=settings)
    assert np.array_equal(after.minutes["rest"], again.minutes["rest"])
    assert np.array_equal(after.count["rest"], again.count["rest"])


def test_siting_on_a_mixed_run_reaches_each_cell_by_its_part(cov, sip, settings):
    sites = siting.suggest_sites(cov, 2, settings=settings)
    assert len(sites.table) >= 1 and sites.covered_after > sites.covered_before
    cand = [(120.77, 31.33), (120.79, 31.335), (120.7815, 31.341)]
    A, rows, clon, clat, _ids = siting.coverage_matrix(cov, candidates=cand, settings=settings)
    g, part = cov.grid, cov.cell_networks.index[rows]
    on, off = np.nonzero(part == 0)[0], np.nonzero(part < 0)[0]
    assert on.size and off.size
    want_on = cv.network_reach(sip, g.lon[rows[on]], g.lat[rows[on]], clon, clat, mode=MODE, minutes=MINUTES)
    assert np.array_equal(A[:, on].toarray(), want_on.toarray())
    radius = cv.reach_m(MINUTES, MODE, settings=settings)
    d = np.array([[cv.circle_minutes([x], [y], np.array([sx]), np.array([sy]), mode=MODE, minutes=MINUTES,
                                     settings=settings)[1][0] for x, y in zip(g.lon[rows[off]], g.lat[rows[off]])]
                  for sx, sy in cand])
    assert radius > 0 and np.array_equal(A[:, off].toarray(), d >= 1)
    # the sites brought to the run reach what siting said they would
    after = cv.analyse([AREA], [*cov_stations(cov), *sites.stations()], kinds=["rest"], mode=MODE,
                       minutes=MINUTES, cell_m=250, settings=settings)
    assert float(after.demand[after.count["rest"] >= 1].sum()) == pytest.approx(sites.covered_after * after.demand.sum())


def cov_stations(cov):
    st = cov.stations
    return [Station(id=str(i), name=str(i), lon=float(x), lat=float(y), kinds=("rest",))
            for i, x, y in zip(st.id, st.lon, st.lat)]


def test_accessibility_on_a_mixed_run_uses_each_cells_part(cov, sip, stations, settings):
    slon, slat = _arrays(stations)
    cells, st, mins = pair_minutes(cov, slon, slat)
    g = cov.grid
    on = np.nonzero(cov.cell_networks.index == 0)[0]
    s_net, c_net, sec = reach_pairs(sip, g.lon[on], g.lat[on], slon, slat, mode=MODE, minutes=MINUTES)
    got = {(int(c), int(s)): m for c, s, m in zip(cells, st, mins) if cov.cell_networks.index[c] == 0}
    want = {(int(on[c]), int(s)): t / 60.0 for s, c, t in zip(s_net, c_net, sec)}
    assert got.keys() == want.keys() and all(got[k] == pytest.approx(want[k]) for k in want)
    acc = accessibility(cov)
    assert acc.score.shape == (len(g),) and acc.score.max() > 0
    # step 1 by hand: each station's places over the people weighted by the decay, over both parts
    w = np.bincount(st, weights=cov.demand[cells] * decay_weight(mins, MINUTES), minlength=len(stations))
    supply = np.where(np.isnan(cov.stations.capacity), float(config.DEFAULT_CAPACITY), cov.stations.capacity)
    ratio = np.divide(supply, w, out=np.zeros(len(stations)), where=w > 0)
    assert np.allclose(acc.ratio, ratio)


def test_a_profile_of_a_mixed_run_equals_its_runs_at_each_moment(stations, settings):
    from dataclasses import replace
    from datetime import datetime

    hours = ["Mo-Fr 08:00-18:00", "Mo-Su 22:00-06:00", "24/7"]
    timed = [replace(s, opening_hours=hours[k % 3]) for k, s in enumerate(stations)]
    base = cv.analyse([AREA], timed, kinds=["rest"], mode=MODE, minutes=MINUTES, cell_m=250, settings=settings)
    assert base.method == "mixed"
    moments = [datetime(2026, 12, 7, 3), datetime(2026, 12, 7, 12), datetime(2026, 12, 6, 12)]
    prof = cv.time_profile(base, timed, moments, name="year")
    t = prof.table
    seen = set()
    for m in moments:
        snap = cv.analyse([AREA], timed, kinds=["rest"], mode=MODE, minutes=MINUTES, grid=base.grid,
                          settings=settings, at=m)
        assert snap.method == "mixed"
        want = snap.stats(total=False).iloc[0]
        got = t[t.moment.str.startswith(m.isoformat())].iloc[0]
        assert got["stations_open"] == want["stations"]
        for col in ("demand_covered", "demand_cross_covered", "area_covered"):
            assert got[col] == pytest.approx(want[col], rel=1e-12, abs=1e-15)
        seen.add(round(float(want["demand_covered"]), 12))
    assert len(seen) > 1


def test_a_network_s_extent_is_its_nodes_hull_made_once(sip):
    import shapely

    from stationmap.coverage import network_extent

    hull = network_extent(sip)
    assert hull.equals(shapely.MultiPoint(list(zip(sip.lon.tolist(), sip.lat.tolist()))).convex_hull)
    assert network_extent(sip) is hull     # kept for the network (each mixed run asks for it)
