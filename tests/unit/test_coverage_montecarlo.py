"""Covered shares against an independent Monte Carlo (issue 17): random points over the district's
own polygon, each covered when a station lies within the circle method's radius by pyproj.Geod
(brute force, every station), weighted by how the run spreads its demand (the census evenly over
area; a population raster pixel by pixel).  The grid's figures differ from the continuous truth by
its cells (100 m here) and the sample by chance (20,000 points: 0.35 points of a share at most one
standard deviation): both well inside the tolerance, which a metres/degrees mix-up or a wrong
radius (a detour factor left out is 30 %) would break by far."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine

from stationmap import config
from stationmap import coverage as cv
from stationmap.districts import load_districts
from stationmap.io.sample import load_sample
from tests.support.geodesic import GEOD

SETTINGS = config.load({"speeds_kmh": dict(config.DEFAULT_SPEEDS_KMH), "detour_factor": config.DETOUR_FACTOR,
                        "minutes": config.DEFAULT_MINUTES})
N = 20_000
TOLERANCE = 0.02
pytestmark = pytest.mark.slow


def _random_points(poly, n, rng):
    """``n`` points uniform over ``poly`` (WGS-84; uniform in degrees is uniform in area within
    0.1 % over a district's few tens of km of latitude: cos(lat) weighting below makes it exact)."""
    w, s, e, nn = poly.bounds
    out_x, out_y = [], []
    while sum(len(x) for x in out_x) < n:
        x = rng.uniform(w, e, 4 * n)
        y = np.degrees(np.arcsin(rng.uniform(np.sin(np.radians(s)), np.sin(np.radians(nn)), 4 * n)))
        keep = shapely.contains_xy(poly, x, y)
        out_x.append(x[keep])
        out_y.append(y[keep])
    return np.concatenate(out_x)[:n], np.concatenate(out_y)[:n]


def _counts(px, py, stations, radius):
    """Stations within ``radius`` metres (pyproj.Geod) of each point, brute force."""
    sx = np.array([s.lon for s in stations])
    sy = np.array([s.lat for s in stations])
    count = np.zeros(len(px), np.int64)
    for x, y in zip(sx, sy):
        near = (np.abs(px - x) < 0.2) & (np.abs(py - y) < 0.2)
        d = GEOD.inv(np.full(near.sum(), x), np.full(near.sum(), y), px[near], py[near])[2]
        count[np.nonzero(near)[0][d <= radius]] += 1
    return count


@pytest.mark.parametrize("adcode,mode", [("320404", "walk"), ("320402", "ebike")])
def test_census_shares_equal_a_monte_carlo(adcode, mode):
    stations = [s for s in load_sample() if s.status != "closed"]
    rest = [s for s in stations if "rest" in s.kinds]
    cov = cv.analyse(adcode, stations, kinds=["rest"], mode=mode, minutes=15, cell_m=100, settings=SETTINGS)
    row = cov.stats().iloc[0]
    poly = load_districts().get(adcode).geometry
    px, py = _random_points(poly, N, np.random.default_rng(7))
    count = _counts(px, py, rest, cv.reach_m(15, mode, settings=SETTINGS))
    assert 0.05 < (count >= 1).mean() < 0.98            # neither trivially covered nor empty
    assert row.demand_covered == pytest.approx((count >= 1).mean(), abs=TOLERANCE)
    assert row.demand_cross_covered == pytest.approx((count >= 2).mean(), abs=TOLERANCE)
    assert row.area_covered == pytest.approx((count >= 1).mean(), abs=TOLERANCE)


def test_raster_shares_equal_a_monte_carlo(tmp_path):
    """A population raster (500 m pixels in EPSG:4326, people in a few blocks): points drawn pixel
    by pixel in proportion to its people, kept inside the district; the share covered of them."""
    adcode, mode = "320404", "walk"
    poly = load_districts().get(adcode).geometry
    w, s, e, n = poly.bounds
    res = 0.005
    width, height = int(np.ceil((e - w) / res)), int(np.ceil((n - s) / res))
    rng = np.random.default_rng(11)
    data = np.zeros((height, width), "float32")
    for _ in range(12):                                          # a dozen peopled blocks, the rest empty
        r, c = rng.integers(0, height - 4), rng.integers(0, width - 4)
        data[r:r + 4, c:c + 4] += rng.uniform(100, 5000)
    path = tmp_path / "pop.tif"
    with rasterio.open(path, "w", driver="GTiff", height=height, width=width, count=1, dtype="float32",
                       crs="EPSG:4326", transform=Affine(res, 0, w, 0, -res, n)) as dst:
        dst.write(data, 1)
    stations = [st for st in load_sample() if st.status != "closed"]
    cov = cv.analyse(adcode, stations, kinds=["rest"], mode=mode, minutes=15, cell_m=100, settings=SETTINGS,
                     demand=cv.PopulationRaster.open(path))
    row = cov.stats().iloc[0]
    # the sample: pixels by their people (times their area, which is all but equal here), uniform inside
    people = data.ravel().astype(float)
    pick = rng.choice(people.size, size=6 * N, p=people / people.sum())
    rr, cc = np.divmod(pick, width)
    px = w + (cc + rng.random(pick.size)) * res
    py = n - (rr + rng.random(pick.size)) * res
    inside = shapely.contains_xy(poly, px, py)
    px, py = px[inside][:N], py[inside][:N]
    assert len(px) > 5000
    count = _counts(px, py, [st for st in stations if "rest" in st.kinds], cv.reach_m(15, mode, settings=SETTINGS))
    assert 0.02 < (count >= 1).mean() < 0.98
    assert row.demand_covered == pytest.approx((count >= 1).mean(), abs=TOLERANCE)
    assert row.demand_cross_covered == pytest.approx((count >= 2).mean(), abs=TOLERANCE)


def test_network_area_share_equals_a_monte_carlo_with_networkx():
    """The SIP core on its roads, walking 10 minutes: points uniform over the zone, each covered when
    networkx (a graph built here from the edge list, the point inserted on its edge) reaches a
    station within 10 minutes, off-road walks included.  1,000 points: 1.6 points of a share is one
    standard deviation, so the tolerance is 5 points (measured: 0.5 apart); walking at bike speed
    would be tens of points off."""
    import math

    import networkx as nx
    from stationmap.errors import ValidationError
    from stationmap.network import Network
    from tests.support.network_reference import nx_graph

    roads = Path(config.PACKAGE_DIR).parent / "data" / "roads" / "sip.npz"
    net = Network.load(roads, settings=SETTINGS)
    minutes, mode = 10, "walk"
    stations = [s for s in load_sample() if s.status != "closed" and "rest" in s.kinds]
    cov = cv.analyse("320571", stations, kinds=["rest"], mode=mode, minutes=minutes, cell_m=100, method="network",
                     network=net, settings=SETTINGS, demand_proxy="uniform")
    row = cov.stats().iloc[0]
    zone = load_districts().zone_outline("320571")
    px, py = _random_points(zone, 1000, np.random.default_rng(5))
    G = nx_graph(net, mode, SETTINGS)
    walk = SETTINGS.speeds_kmh["walk"] / 3.6
    limit = minutes * 60.0
    snaps = []
    for s in stations:
        try:
            snaps.append(net.snap(s.lon, s.lat, mode=mode))
        except ValidationError:
            continue

    def covered(lon, lat):
        try:
            sn = net.snap(lon, lat, mode=mode)
        except ValidationError:
            return False
        off = sn.distance_m / walk
        if off > limit:
            return False
        # the point as node "p" on its edge (as tests.support.network_reference.split_at, without a copy)
        u0, v0 = int(net.edge_u[sn.edge]), int(net.edge_v[sn.edge])
        for a, b, frac in ((u0, v0, 1 - sn.t), (v0, u0, sn.t)):
            if G.has_edge(a, b):
                G.add_edge("p", b, weight=G[a][b]["weight"] * frac)
        try:
            dist = nx.single_source_dijkstra_path_length(G, "p", cutoff=limit - off, weight="weight")
        finally:
            G.remove_node("p")
        for ss in snaps:
            u, v = int(net.edge_u[ss.edge]), int(net.edge_v[ss.edge])
            best = math.inf
            for a, frac in ((u, ss.t), (v, 1 - ss.t)):
                b = v if a == u else u
                if a in dist and G.has_edge(a, b):
                    best = min(best, dist[a] + G[a][b]["weight"] * frac)
            if ss.edge == sn.edge:
                best = min(best, abs(ss.t - sn.t) * float(net.edge_length_m[ss.edge]) / walk)
            if off + best + ss.distance_m / walk <= limit:
                return True
        return False

    got = np.array([covered(x, y) for x, y in zip(px, py)])
    assert 0.05 < got.mean() < 0.95
    assert row.area_covered == pytest.approx(got.mean(), abs=0.05)
