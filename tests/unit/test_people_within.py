"""People in an area (issue 17: isochrones report the people in reach): a county's saved population
raster where it has one, else its 2020 census spread evenly over its area."""

from __future__ import annotations

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from pyproj import Geod

from stationmap import config
from stationmap import coverage as cv
from stationmap.districts import load_districts

GEOD = Geod(ellps="WGS84")


def _circle(lon, lat, r_m, n=128):
    az = np.linspace(0, 360, n, endpoint=False)
    x, y, _ = GEOD.fwd(np.full(n, lon), np.full(n, lat), az, np.full(n, r_m))
    return shapely.Polygon(zip(x, y))


def test_census_share_of_area_across_two_counties():
    d = load_districts()
    zl, tn = d.get("320404"), d.get("320402")
    # a circle on the border of Zhonglou and Tianning
    border = zl.geometry.boundary.intersection(tn.geometry.boundary)
    p = border.representative_point() if not border.is_empty else zl.geometry.centroid
    circle = _circle(p.x, p.y, 2000)
    got = cv.people_within(circle, districts=d)
    assert set(got["census"]) >= {"320404", "320402"} and not got["raster"]

    def share(c):
        return c.population * abs(GEOD.geometry_area_perimeter(c.geometry.intersection(circle))[0]) / abs(
            GEOD.geometry_area_perimeter(c.geometry)[0])
    want = sum(share(d.get(a)) for a in got["census"])
    assert got["people"] == pytest.approx(want, rel=1e-9)
    assert cv.people_within(_circle(126.0, 25.0, 1000), districts=d)["people"] is None   # at sea: nobody known


def test_a_saved_raster_counts_its_pixels_inside(tmp_path):
    """A uniform raster (D people per 0.005 degree pixel) saved for Zhonglou: the people in a
    2 km circle inside it are D x the circle's area / a pixel's area (geodesic), within 1 %."""
    settings = config.load({"instance_path": str(tmp_path / "instance")})
    zl = load_districts().get("320404")
    w, s, e, n = zl.geometry.bounds
    res, density = 0.005, 800.0
    width, height = int(np.ceil((e - w) / res)) + 2, int(np.ceil((n - s) / res)) + 2
    path = tmp_path / "pop.tif"
    with rasterio.open(path, "w", driver="GTiff", height=height, width=width, count=1, dtype="float32",
                       crs="EPSG:4326", transform=Affine(res, 0, w - res, 0, -res, n + res)) as dst:
        dst.write(np.full((height, width), density, "float32"), 1)
    cv.save_demand_layer("320404", path, settings=settings)
    c = zl.geometry.representative_point()
    circle = _circle(c.x, c.y, 2000)
    assert zl.geometry.contains(circle)
    got = cv.people_within(circle, settings=settings)
    assert got["raster"] == ["320404"] and not got["census"]
    pixel = abs(GEOD.polygon_area_perimeter([c.x, c.x + res, c.x + res, c.x], [c.y, c.y, c.y + res, c.y + res])[0])
    want = density * abs(GEOD.geometry_area_perimeter(circle)[0]) / pixel
    assert got["people"] == pytest.approx(want, rel=0.01)
