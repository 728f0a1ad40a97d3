"""stationmap.siting against brute force: the best of every n-subset of
candidates, with coverage measured independently by pyproj.Geod; spopt's
MCLP as a second reference; and the greedy heuristic beside the optimum."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy.sparse import csr_matrix
from shapely.geometry import box

from stationmap import config
from stationmap import coverage as cv
from stationmap import siting
from stationmap.errors import ValidationError
from stationmap.model import Station
from tests.support.geodesic import geod_matrix

SETTINGS = config.load({"speeds_kmh": dict(config.DEFAULT_SPEEDS_KMH), "detour_factor": config.DETOUR_FACTOR,
                        "minutes": config.DEFAULT_MINUTES})
AREA = cv.Area("900001", "测试区", "county", box(119.95, 31.75, 119.99, 31.78), population=50_000)


def _coverage(stations, *, minutes=5, mode="walk", cell_m=500, seed=3):
    rng = np.random.default_rng(seed)
    cov = cv.analyse([AREA], stations, kinds=["rest"], mode=mode, minutes=minutes, cell_m=cell_m, settings=SETTINGS)
    cov.demand = rng.uniform(0, 100, len(cov.grid)) * (rng.random(len(cov.grid)) < 0.8)
    return cov


def _brute_force(cov, cand_lon, cand_lat, n, *, minutes, mode="walk"):
    """Best uncovered demand over every n-subset (and every smaller one) of the candidates."""
    radius = minutes * SETTINGS.speed_kmh(mode) * 1000 / 60 / SETTINGS.detour_factor
    g = cov.grid
    unc = cov.count["rest"] == 0
    covers = geod_matrix(cand_lon, cand_lat, g.lon, g.lat) <= radius          # (candidates, cells)
    w = np.where(unc, cov.demand, 0.0)
    best, best_set = 0.0, ()
    for k in range(1, n + 1):
        for sub in itertools.combinations(range(len(cand_lon)), k):
            v = w[covers[list(sub)].any(axis=0)].sum()
            if v > best + 1e-9:
                best, best_set = v, sub
    return best, best_set


EXISTING = [Station(id="e1", name="现有", lon=119.958, lat=31.757, kinds=("rest",)),
            Station(id="e2", name="现有", lon=119.982, lat=31.772, kinds=("rest",))]


@pytest.mark.parametrize("n", [1, 2, 3])
def test_exact_equals_brute_force_over_host_places(n):
    rng = np.random.default_rng(10 + n)
    cand = [(float(x), float(y), f"h{k}") for k, (x, y) in
            enumerate(zip(rng.uniform(119.95, 119.99, 12), rng.uniform(31.75, 31.78, 12)))]
    cov = _coverage(EXISTING, minutes=6)
    best, _ = _brute_force(cov, [c[0] for c in cand], [c[1] for c in cand], n, minutes=6)
    sites = siting.suggest_sites(cov, n, candidates=cand, method="exact", settings=SETTINGS)
    assert sites.optimal and sites.method == "exact"
    assert sites.objective == pytest.approx(best, rel=1e-9)
    assert len(sites.table) <= n
    # the table's sites really cover that much (independent check of the chosen places)
    again, _ = _brute_force(cov, sites.table.lon.to_numpy(), sites.table.lat.to_numpy(), len(sites.table),
                            minutes=6)
    assert again == pytest.approx(best, rel=1e-9)
    assert set(sites.table.candidate) <= {c[2] for c in cand}
    greedy = siting.suggest_sites(cov, n, candidates=cand, method="greedy", settings=SETTINGS)
    assert (1 - 1 / math.e) * best - 1e-9 <= greedy.objective <= best + 1e-9


@pytest.mark.parametrize("n", [1, 2])
def test_exact_equals_brute_force_over_grid_cells(n):
    cov = _coverage(EXISTING, minutes=4)
    A, rows, clon, clat, cids = siting.coverage_matrix(cov, settings=SETTINGS)
    assert len(clon) > 10
    # every cell that could help is a candidate: compare with all cells of the grid
    best, _ = _brute_force(cov, cov.grid.lon, cov.grid.lat, n, minutes=4)
    sites = siting.suggest_sites(cov, n, method="exact", settings=SETTINGS)
    assert sites.optimal
    assert sites.objective == pytest.approx(best, rel=1e-9)
    assert set(sites.table.cell_id) <= set(cov.grid.cell_id)
    assert sites.covered_after == pytest.approx(sites.covered_before + best / cov.demand.sum())


def test_exact_matches_spopt_mclp():
    import pulp
    from pulp import PULP_CBC_CMD
    from spopt.locate import MCLP

    rng = np.random.default_rng(4)
    cand = list(zip(rng.uniform(119.95, 119.99, 15), rng.uniform(31.75, 31.78, 15)))
    cov = _coverage([], minutes=5)
    radius = 5 * SETTINGS.speed_kmh("walk") * 1000 / 60 / SETTINGS.detour_factor
    cost = geod_matrix(cov.grid.lon, cov.grid.lat, [c[0] for c in cand], [c[1] for c in cand])
    model = MCLP.from_cost_matrix(cost, cov.demand, radius, p_facilities=3)
    model = model.solve(PULP_CBC_CMD(msg=False))
    chosen = [j for j, x in enumerate(model.fac_vars) if x.value() > 0.5]
    spopt_value = float(cov.demand[(cost[:, chosen] <= radius).any(axis=1)].sum())
    assert spopt_value == pytest.approx(pulp.value(model.problem.objective), rel=1e-9)
    sites = siting.suggest_sites(cov, 3, candidates=cand, method="exact", settings=SETTINGS)
    assert sites.objective == pytest.approx(spopt_value, rel=1e-9)


def test_existing_stations_stay_and_their_demand_counts_for_nothing():
    # all demand sits next to an existing station, except one small pocket far away
    cov = _coverage(EXISTING, minutes=5)
    near = cov.count["rest"] > 0
    cov.demand = np.where(near, 1000.0, 0.0)
    far_cell = int(np.argmax(np.where(near, -1, np.hypot(cov.grid.lon - 119.99, cov.grid.lat - 31.75))))
    cov.demand[far_cell] = 3.0
    cand = [(float(cov.grid.lon[near][0]), float(cov.grid.lat[near][0]), "by-existing"),
            (float(cov.grid.lon[far_cell]), float(cov.grid.lat[far_cell]), "far")]
    sites = siting.suggest_sites(cov, 1, candidates=cand, settings=SETTINGS)
    assert list(sites.table.candidate) == ["far"]
    assert sites.objective == pytest.approx(3.0)
    assert sites.uncovered_before == pytest.approx(3.0)
    assert sites.newly_covered[far_cell] and not sites.newly_covered[near].any()


def test_fewer_sites_when_fewer_suffice():
    cov = _coverage(EXISTING, minutes=5)
    cov.demand[:] = 0.0
    cov.demand[np.nonzero(cov.count["rest"] == 0)[0][:1]] = 10.0
    sites = siting.suggest_sites(cov, 5, settings=SETTINGS)
    assert len(sites.table) == 1 and sites.objective == pytest.approx(10.0)
    sf = sites.shortfall
    assert sf["reason"] == "all_reachable_covered" and (sf["asked"], sf["given"]) == (5, 1)
    assert (sf["uncovered_cells"], sf["reached_cells"], sf["unreachable_cells"]) == (1, 1, 0)
    assert sf["uncovered_demand"] == pytest.approx(10.0) and sf["left_demand"] == 0.0
    assert sites.to_dict()["shortfall"] == sf
    assert siting.suggest_sites(cov, 1, settings=SETTINGS).shortfall is None


def test_fifty_sites_asked_in_a_small_district_says_why_fewer_came():
    from stationmap.io.sample import load_sample
    from stationmap.planning import shortfall_text

    stations = load_sample(settings=SETTINGS)
    cov = cv.analyse("320402", stations, kinds=["rest"], mode="ebike", settings=SETTINGS)
    sites = siting.suggest_sites(cov, 50, settings=SETTINGS)
    sf = sites.shortfall
    assert 0 < len(sites.table) < 50 and sf is not None
    assert sf["reason"] == "all_reachable_covered" and (sf["asked"], sf["given"]) == (50, len(sites.table))
    # true: the uncovered cells with people are what the coverage says ...
    unc = (cov.count["rest"] == 0) & (cov.demand > 0)
    assert sf["uncovered_cells"] == int(unc.sum()) > 0
    assert sf["uncovered_demand"] == pytest.approx(float(cov.demand[unc].sum()))
    # ... and with the suggested sites added, every one of them is covered: another site adds nothing
    after = cv.analyse("320402", [*stations, *sites.stations()], kinds=["rest"], mode="ebike", settings=SETTINGS)
    assert not ((after.count["rest"] == 0) & (after.demand > 0)).any()
    assert (sf["reached_cells"], sf["unreachable_cells"], sf["left_demand"]) == (int(unc.sum()), 0, 0.0)
    zh, en = shortfall_text(sf, "zh"), shortfall_text(sf, "en")
    assert f"只建议 {len(sites.table)} 个站点（要求 50 个）" in zh and f"{int(unc.sum())} 个未覆盖网格" in zh
    assert f"Only {len(sites.table)} sites suggested (50 asked)" in en and "add no people" in en


def test_shortfall_when_nothing_is_uncovered_or_no_candidate_reaches():
    cov = _coverage(EXISTING, minutes=5)
    unc = (cov.count["rest"] == 0) & (cov.demand > 0)
    # host places far outside the district reach none of the uncovered cells
    sites = siting.suggest_sites(cov, 3, candidates=[(121.5, 31.2), (118.8, 32.0)], settings=SETTINGS)
    sf = sites.shortfall
    assert len(sites.table) == 0 and sf["reason"] == "no_candidate_reaches" and sf["candidates"] == 0
    assert (sf["uncovered_cells"], sf["unreachable_cells"]) == (int(unc.sum()), int(unc.sum()))
    assert sf["unreachable_demand"] == pytest.approx(float(cov.demand[unc].sum()))
    # one host place: it covers what it reaches (by pyproj.Geod), the rest is out of reach
    radius = 5 * SETTINGS.speed_kmh("walk") * 1000 / 60 / SETTINGS.detour_factor
    k = int(np.nonzero(unc)[0][0])
    host = (float(cov.grid.lon[k]), float(cov.grid.lat[k]))
    sites = siting.suggest_sites(cov, 3, candidates=[host], settings=SETTINGS)
    reach = (geod_matrix([host[0]], [host[1]], cov.grid.lon, cov.grid.lat)[0] <= radius) & unc
    sf = sites.shortfall
    assert sf["reason"] == "all_reachable_covered" and (sf["given"], sf["candidates"]) == (1, 1)
    assert (sf["reached_cells"], sf["unreachable_cells"]) == (int(reach.sum()), int((unc & ~reach).sum()))
    assert sf["unreachable_demand"] == pytest.approx(float(cov.demand[unc & ~reach].sum()))
    # nothing uncovered has people
    cov.demand[cov.count["rest"] == 0] = 0.0
    sf = siting.suggest_sites(cov, 2, settings=SETTINGS).shortfall
    assert sf["reason"] == "no_uncovered_demand" and (sf["given"], sf["uncovered_cells"]) == (0, 0)


def test_greedy_can_miss_the_optimum_and_exact_does_not():
    # candidates: L covers {a, b}, R covers {c, d}, M covers {a, c, e}; weights a..d = 1, e = 0.5
    A = csr_matrix(np.array([[1, 1, 0, 0, 0],
                             [0, 0, 1, 1, 0],
                             [1, 0, 1, 0, 1]], dtype=bool))
    w = np.array([1, 1, 1, 1, 0.5])
    chosen, added = siting.solve_greedy(A, w, 2)
    assert chosen[0] == 2 and sum(added) == pytest.approx(3.5)
    exact, status, optimal = siting.solve_exact(A, w, 2)
    assert sorted(exact) == [0, 1] and optimal and status == "Optimal"
    assert siting._value(A, w, exact) == pytest.approx(4.0)


def test_greedy_against_brute_force_on_random_small_cases():
    rng = np.random.default_rng(99)
    worst = 1.0
    for _ in range(40):
        nc, nd, n = 9, 25, 3
        A = csr_matrix(rng.random((nc, nd)) < 0.25)
        w = rng.uniform(0, 10, nd)
        best = max(w[np.asarray(A[list(s)].sum(axis=0)).ravel() > 0].sum()
                   for k in range(1, n + 1) for s in itertools.combinations(range(nc), k))
        exact, _s, _o = siting.solve_exact(A, w, n)
        assert siting._value(A, w, exact) == pytest.approx(best, rel=1e-9)
        chosen, added = siting.solve_greedy(A, w, n)
        assert sum(added) == pytest.approx(siting._value(A, w, chosen))
        assert sum(added) >= (1 - 1 / math.e) * best - 1e-9
        worst = min(worst, sum(added) / best if best else 1.0)
    assert worst < 1.0     # the cases do include some where greedy is not optimal


def test_reduce_problem_merges_identical_demand_and_drops_useless_candidates():
    A = csr_matrix(np.array([[1, 1, 0, 0],
                             [0, 0, 0, 0],
                             [1, 1, 1, 0]], dtype=bool))
    w = np.array([2.0, 3.0, 1.0, 7.0])
    A2, w2, cand, members, _need = siting.reduce_problem(A, w)
    assert list(cand) == [0, 2]
    assert sorted(w2.tolist()) == [1.0, 5.0]
    assert sorted(sorted(m.tolist()) for m in members) == [[0, 1], [2]]


def test_network_sites_equal_brute_force():
    from pathlib import Path

    from stationmap.network import Network

    net = Network.from_gpkg(Path(config.PACKAGE_DIR).parent / "data" / "roads" / "sip_roads.gpkg", settings=SETTINGS)
    area = cv.Area("", "sip-box", "polygon", box(120.72, 31.305, 120.735, 31.318))
    st = [Station(id="e", name="e", lon=120.7255, lat=31.3105, kinds=("rest",))]
    cov = cv.analyse([area], st, kinds=["rest"], mode="walk", network=net, minutes=4, cell_m=250,
                     settings=SETTINGS)
    assert cov.method == "network"
    rng = np.random.default_rng(2)
    cov.demand = rng.uniform(1, 50, len(cov.grid))
    reach = cv.network_reach(net, cov.grid.lon, cov.grid.lat, cov.grid.lon, cov.grid.lat, mode="walk",
                             minutes=4).toarray()
    w = np.where(cov.count["rest"] == 0, cov.demand, 0.0)
    best = max(w[reach[list(s)].any(axis=0)].sum() for s in itertools.combinations(range(len(cov.grid)), 2))
    sites = siting.suggest_sites(cov, 2, settings=SETTINGS)
    assert sites.optimal and sites.objective == pytest.approx(best, rel=1e-9)


def _brute_force_twice(cov, cand_lon, cand_lat, n, *, minutes, mode="walk"):
    """Best demand newly covered twice (existing stations count) over every subset of at most
    ``n`` candidates, with reach by pyproj.Geod."""
    radius = minutes * SETTINGS.speed_kmh(mode) * 1000 / 60 / SETTINGS.detour_factor
    g = cov.grid
    ex = np.array([[s.lon, s.lat] for s in EXISTING])
    existing = (geod_matrix(ex[:, 0], ex[:, 1], g.lon, g.lat) <= radius).sum(axis=0)
    covers = geod_matrix(cand_lon, cand_lat, g.lon, g.lat) <= radius
    w = np.where(existing < 2, cov.demand, 0.0)
    best = 0.0
    for k in range(1, n + 1):
        for sub in itertools.combinations(range(len(cand_lon)), k):
            best = max(best, w[existing + covers[list(sub)].sum(axis=0) >= 2].sum())
    return best, existing


@pytest.mark.parametrize("n", [1, 2, 3, 4])
def test_twice_exact_equals_brute_force_over_host_places(n):
    """双15 siting: the most demand brought to two stations in reach, against every n-subset."""
    rng = np.random.default_rng(40 + n)
    cand = [(float(x), float(y), f"h{k}") for k, (x, y) in
            enumerate(zip(rng.uniform(119.95, 119.99, 11), rng.uniform(31.75, 31.78, 11)))]
    cov = _coverage(EXISTING, minutes=8)
    best, existing = _brute_force_twice(cov, [c[0] for c in cand], [c[1] for c in cand], n, minutes=8)
    assert (existing == 1).any() and (existing == 0).any()   # both needs occur: one site, or two
    sites = siting.suggest_sites(cov, n, candidates=cand, method="exact", settings=SETTINGS, objective="twice")
    assert sites.optimal and sites.objective_name == "twice"
    assert sites.objective == pytest.approx(best, rel=1e-9)
    assert sites.table.new_demand.sum() == pytest.approx(best, rel=1e-9)
    # the chosen places, measured again independently, cover that much twice
    again, _ = _brute_force_twice(cov, sites.table.lon.to_numpy(), sites.table.lat.to_numpy(), len(sites.table),
                                  minutes=8)
    assert again == pytest.approx(best, rel=1e-9)
    total = cov.demand.sum()
    assert sites.covered_before == pytest.approx(cov.demand[existing >= 2].sum() / total)
    assert sites.covered_after == pytest.approx(sites.covered_before + best / total)
    # the heuristic: never better than the optimum, and its reported value is what its sites achieve
    greedy = siting.suggest_sites(cov, n, candidates=cand, method="greedy", settings=SETTINGS, objective="twice")
    g_again, _ = _brute_force_twice(cov, greedy.table.lon.to_numpy(), greedy.table.lat.to_numpy(),
                                    len(greedy.table), minutes=8) if len(greedy.table) else (0.0, None)
    assert greedy.objective == pytest.approx(g_again, rel=1e-9, abs=1e-9) and greedy.objective <= best + 1e-9


def test_twice_needs_two_sites_where_no_station_reaches():
    """A gap no station covers: one site there brings nothing twice; two bring all of it."""
    A = csr_matrix(np.array([[1, 0], [1, 0], [0, 1]], bool))   # candidates 0 and 1 reach cell 0; 2 reaches cell 1
    w = np.array([10.0, 4.0])
    need = np.array([2, 1])
    chosen, status, optimal = siting.solve_exact(A, w, 1, need=need)
    assert optimal and chosen == [2]                      # alone, a site for cell 0 is worth nothing
    chosen, status, optimal = siting.solve_exact(A, w, 2, need=need)
    assert optimal and sorted(chosen) == [0, 1] and siting._value(A, w, chosen, need) == pytest.approx(10.0)
    g_chosen, g_added = siting.solve_greedy(A, w, 2, need)
    assert sorted(g_chosen) == [0, 1] and sum(g_added) == pytest.approx(10.0)


@pytest.mark.parametrize("kw,field", [
    ({"n": 2, "objective": "thrice"}, "objective"),
    ({"n": 0}, "add"), ({"n": 1001}, "add"), ({"n": 2.5}, "add"), ({"n": True}, "add"),
    ({"n": 2, "method": "genetic"}, "method"),
    ({"n": 2, "candidates": [("east", 31.0)]}, "candidates"),
    ({"n": 2, "candidates": [(300.0, 31.0)]}, "candidates"),
    ({"n": 2, "kind": "hot_tea"}, "kind"),
])
def test_bad_input_names_the_field(kw, field):
    cov = _coverage(EXISTING)
    n = kw.pop("n")
    with pytest.raises(ValidationError) as exc:
        siting.suggest_sites(cov, n, settings=SETTINGS, **kw)
    assert exc.value.field == field


def test_sites_become_stations_that_close_the_gap():
    cov = _coverage(EXISTING, minutes=5)
    sites = siting.suggest_sites(cov, 3, settings=SETTINGS)
    new = sites.stations()
    assert [s.source for s in new] == ["suggested"] * len(new) and new[0].kinds == ("rest",)
    after = cv.analyse([AREA], EXISTING + new, kinds=["rest"], mode="walk", minutes=5, cell_m=500, settings=SETTINGS)
    now = after.count["rest"] > 0
    assert (now | ~sites.newly_covered).all()
    assert (cov.demand[now & (cov.count["rest"] == 0)]).sum() == pytest.approx(sites.objective)
