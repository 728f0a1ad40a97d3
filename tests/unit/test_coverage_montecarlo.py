"""Covered shares against an independent Monte Carlo (issue 17): random points over the district's
own polygon, each covered when a station lies within the circle method's radius by pyproj.Geod
(brute force, every station), weighted by how the run spreads its demand (the census evenly over
area; a population raster pixel by pixel).  The grid's figures differ from the continuous truth by
its cells (100 m here) and the sample by chance (20,000 points: 0.35 points of a share at most one
standard deviation): both well inside the tolerance, which a metres/degrees mix-up or a wrong
radius (a detour factor left out is 30 %) would break by far."""

from __future__ import annotations

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
