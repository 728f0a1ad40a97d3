"""Issue 17: demand from a population raster (a GeoTIFF in any CRS), each pixel shared among
the cells it overlaps by area.  The rasters are written here with rasterio; the references
are exact shares of an axis-aligned pixel and a smooth density sampled in two CRSs."""

from __future__ import annotations

import json

import numpy as np
import pytest
import rasterio
from pyproj import Geod, Transformer
from affine import Affine
from shapely.geometry import box

from stationmap import coverage as cv
from stationmap.errors import ValidationError

UTM = "EPSG:32651"
AREA = box(120.00, 31.70, 120.06, 31.75)          # about 5.7 km x 5.5 km near Changzhou
GEOD = Geod(ellps="WGS84")


def _grid(cell_m=250.0):
    return cv.make_grid(cv.resolve_areas(AREA), cell_m=cell_m, crs=UTM)


def from_origin(west, north, xsize, ysize):
    """rasterio.transform.from_origin without affine's deprecated ``*``."""
    return Affine(xsize, 0.0, west, 0.0, -ysize, north)


def _write(path, data, transform, crs, nodata=None):
    data = np.asarray(data, dtype="float32")
    with rasterio.open(path, "w", driver="GTiff", height=data.shape[0], width=data.shape[1], count=1,
                       dtype="float32", crs=crs, transform=transform, nodata=nodata) as dst:
        dst.write(data, 1)
    return path


def _cell(grid, i, j):
    k = np.nonzero((grid.i == i) & (grid.j == j))[0]
    assert k.size == 1
    return int(k[0])


@pytest.mark.parametrize("dx, dy, shares", [
    (-30.0, 50.0, {(-1, 0): 0.3, (0, 0): 0.7}),                                   # across a vertical edge
    (-50.0, -50.0, {(-1, -1): 0.25, (0, -1): 0.25, (-1, 0): 0.25, (0, 0): 0.25}),  # on a corner
    (20.0, 60.0, {(0, 0): 1.0}),                                                  # inside one cell
])
def test_one_peopled_pixel_goes_to_the_cells_it_overlaps_by_area(tmp_path, dx, dy, shares):
    grid = _grid()
    mid = len(grid) // 2
    i0, j0 = int(grid.i[mid]), int(grid.j[mid])
    # a 100 m pixel whose lower-left corner is (dx, dy) from the corner of cell (i0, j0), in a 5 x 5 raster
    x0, y0 = i0 * 250.0 + dx - 200.0, j0 * 250.0 + dy + 300.0    # raster's top-left: pixel (2, 2) is the one
    data = np.zeros((5, 5))
    data[2, 2] = 1000.0
    path = _write(tmp_path / "one.tif", data, from_origin(x0, y0, 100.0, 100.0), UTM)
    dem = cv.demand_from_raster(grid, path)
    want = np.zeros(len(grid))
    for (di, dj), s in shares.items():
        want[_cell(grid, i0 + di, j0 + dj)] = 1000.0 * s
    np.testing.assert_allclose(dem, want, rtol=0, atol=1e-6)


def _density(lon, lat):
    """People per m²: a smooth town around (120.03, 31.725) on a rural floor."""
    r2 = ((lon - 120.03) / 0.012) ** 2 + ((lat - 31.725) / 0.010) ** 2
    return 2e-4 + 8e-3 * np.exp(-r2)


def _raster_4326(path, step=0.0005):
    lon0, lat1 = 120.005, 31.745                        # inside AREA with a 500 m margin
    nx, ny = 100, 80
    lons = lon0 + (np.arange(nx) + 0.5) * step
    lats = lat1 - (np.arange(ny) + 0.5) * step
    lon, lat = np.meshgrid(lons, lats)
    # each pixel's exact ellipsoidal area
    area = np.array([[abs(GEOD.polygon_area_perimeter([x - step / 2, x + step / 2, x + step / 2, x - step / 2],
                                                      [y - step / 2, y - step / 2, y + step / 2, y + step / 2])[0])
                      for x in lons[:1]] for y in lats])      # constant along a row
    pop = _density(lon, lat) * area
    _write(path, pop, from_origin(lon0, lat1, step, step), "EPSG:4326")
    return pop, (lon0, lat1 - ny * step, lon0 + nx * step, lat1)


def _raster_utm(path, bounds, step=50.0):
    to = Transformer.from_crs("EPSG:4326", UTM, always_xy=True)
    x0, y0, x1, y1 = to.transform_bounds(*bounds)
    x0, y1 = np.floor(x0 / step) * step, np.ceil(y1 / step) * step
    nx, ny = int(np.ceil((x1 - x0) / step)), int(np.ceil((y1 - y0) / step))
    xs = x0 + (np.arange(nx) + 0.5) * step
    ys = y1 - (np.arange(ny) + 0.5) * step
    x, y = np.meshgrid(xs, ys)
    lon, lat = Transformer.from_crs(UTM, "EPSG:4326", always_xy=True).transform(x, y)
    # the same people: density inside the 4326 raster's extent, none outside it
    inside = (lon >= bounds[0]) & (lon <= bounds[2]) & (lat >= bounds[1]) & (lat <= bounds[3])
    pop = np.where(inside, _density(lon, lat) * step * step, 0.0)   # UTM plane area (scale ~0.9996)
    _write(path, pop, from_origin(x0, y1, step, step), UTM)


def test_a_projected_raster_gives_the_same_cells_as_the_same_raster_in_degrees(tmp_path):
    grid = _grid(500.0)
    pop, bounds = _raster_4326(tmp_path / "pop4326.tif")
    _raster_utm(tmp_path / "pop32651.tif", bounds)
    a = cv.demand_from_raster(grid, tmp_path / "pop4326.tif")
    b = cv.demand_from_raster(grid, tmp_path / "pop32651.tif")
    # the cells wholly inside the rasters' extent (the edge cells hold part-pixels of each)
    to = Transformer.from_crs("EPSG:4326", UTM, always_xy=True)
    x0, y0, x1, y1 = to.transform_bounds(*bounds)
    inner = ((grid.x - 250 > x0 + 100) & (grid.x + 250 < x1 - 100) & (grid.y - 250 > y0 + 100)
             & (grid.y + 250 < y1 - 100))
    assert inner.sum() >= 40
    np.testing.assert_allclose(b[inner], a[inner], rtol=0.01)
    # totals: all of the raster lies inside the district, so every person lands in a cell
    assert a.sum() == pytest.approx(pop.sum(), rel=1e-9)


def test_totals_are_preserved_inside_the_district_and_dropped_outside(tmp_path):
    grid = _grid()
    xs, ys = grid.i * 250.0, grid.j * 250.0
    x0, y1 = float(xs.min()) - 1000.0, float(ys.max()) + 1250.0       # reaching 1 km beyond the cells
    nx, ny = int((xs.max() - xs.min()) / 100) + 25, int((ys.max() - ys.min()) / 100) + 25
    rng = np.random.default_rng(3)
    data = rng.uniform(0, 50, size=(ny, nx))
    path = _write(tmp_path / "wide.tif", data, from_origin(x0, y1, 100.0, 100.0), UTM)
    dem = cv.demand_from_raster(grid, path)
    # the reference: each pixel's area inside the union of the cells, by shapely
    import shapely

    cells = shapely.union_all(grid.polygons_metric())
    cx = x0 + (np.arange(nx) + 0.5) * 100
    cy = y1 - (np.arange(ny) + 0.5) * 100
    X, Y = np.meshgrid(cx, cy)
    pix = shapely.box(X - 50, Y - 50, X + 50, Y + 50)
    inside = shapely.area(shapely.intersection(pix, cells)) / 1e4
    assert dem.sum() == pytest.approx(float((data * inside).sum()), rel=1e-9)
    assert dem.sum() < data.sum()


def test_nodata_counts_zero_and_bad_rasters_are_refused(tmp_path):
    grid = _grid()
    mid = len(grid) // 2
    i0, j0 = int(grid.i[mid]), int(grid.j[mid])
    data = np.array([[-99999.0, 10.0], [np.nan, 5.0]])
    path = _write(tmp_path / "nd.tif", data, from_origin(i0 * 250.0, (j0 + 1) * 250.0, 100.0, 100.0), UTM,
                  nodata=-99999.0)
    dem = cv.demand_from_raster(grid, path)
    assert dem.sum() == pytest.approx(15.0) and dem[_cell(grid, i0, j0)] == pytest.approx(15.0)
    neg = _write(tmp_path / "neg.tif", -data, from_origin(i0 * 250.0, (j0 + 1) * 250.0, 100.0, 100.0), UTM)
    with pytest.raises(ValidationError, match="population must be >= 0") as e:
        cv.demand_from_raster(grid, neg)
    assert e.value.field == "demand"
    far = _write(tmp_path / "far.tif", np.ones((3, 3)), from_origin(100.0, 10.0, 1.0, 1.0), "EPSG:4326")
    with pytest.raises(ValidationError, match="does not cover"):
        cv.demand_from_raster(grid, far)
    (tmp_path / "junk.tif").write_text("not a raster")
    with pytest.raises(ValidationError, match="cannot read as a raster"):
        cv.PopulationRaster.open(tmp_path / "junk.tif")
    with pytest.raises(ValidationError, match="not found"):
        cv.PopulationRaster.open(tmp_path / "missing.tif")


def test_a_run_with_a_raster_uses_it_in_every_figure_and_says_so(tmp_path):
    pop, _bounds = _raster_4326(tmp_path / "worldpop.tif")
    raster = cv.PopulationRaster.open(tmp_path / "worldpop.tif")
    assert raster.crs_name == "EPSG:4326" and raster.resolution_text == "0.0005°"
    cov = cv.analyse(AREA, [], cell_m=500, crs=UTM, demand=raster)
    assert cov.demand.sum() == pytest.approx(pop.sum(), rel=1e-9)
    row = cov.stats().iloc[0]
    assert row.demand == pytest.approx(pop.sum(), rel=1e-9) and row.uncovered_demand == pytest.approx(row.demand)
    rec = cov.assumptions()
    assert rec["demand"] == {"source": "raster", "spread": "pixel_area", "file": "worldpop.tif",
                             "crs": "EPSG:4326", "resolution": "0.0005°"}
    assert not rec["demand_even_over_area"]
    assert "population raster worldpop.tif (EPSG:4326, 0.0005° pixels)" in " ".join(rec["text"]["en"])
    assert "人口栅格 worldpop.tif（EPSG:4326，分辨率 0.0005°）" in " ".join(rec["text"]["zh"])


def test_cli_takes_a_population_raster(tmp_path):
    from click.testing import CliRunner

    from stationmap.cli import main

    from stationmap.districts import load_districts

    geom = load_districts().get("320402").geometry
    x0, y0, x1, y1 = geom.bounds
    data = np.full((int((y1 - y0) / 0.002) + 2, int((x1 - x0) / 0.002) + 2), 7.0)
    _write(tmp_path / "pop.tif", data, from_origin(x0 - 0.002, y1 + 0.002, 0.002, 0.002), "EPSG:4326")
    out = tmp_path / "out"
    res = CliRunner().invoke(main, ["coverage", "320402", "--sample", "--cell", "1000", "--kind", "rest",
                                    "--demand", str(tmp_path / "pop.tif"), "--lang", "en", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "population raster pop.tif (EPSG:4326, 0.002° pixels)" in res.output   # the assumptions, said
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["assumptions"]["demand"]["spread"] == "pixel_area"
    assert summary["params"]["demand"].startswith("population raster pop.tif")
    res = CliRunner().invoke(main, ["coverage", "320402", "--sample", "--demand", str(tmp_path / "nope.tif"),
                                    "--out", str(out)])
    assert res.exit_code != 0 and "not found" in res.output and "Traceback" not in res.output


def test_hexagon_cells_share_pixels_by_area_too(tmp_path):
    pop, _bounds = _raster_4326(tmp_path / "pop.tif")
    grid = cv.make_grid(cv.resolve_areas(AREA), cell_m=500, shape="h3", crs=UTM)
    dem = cv.demand_from_raster(grid, tmp_path / "pop.tif")
    assert dem.sum() == pytest.approx(pop.sum(), rel=1e-6)        # all of it lies inside the area
    sq = cv.demand_from_raster(_grid(500.0), tmp_path / "pop.tif")
    # the town's peak cell holds more people than a rural one, on both grids
    assert dem.max() > 10 * np.median(dem[dem > 0]) and sq.max() > 10 * np.median(sq[sq > 0])


def _district_raster(path, code="320402", value=7.0, step=0.002):
    from stationmap.districts import load_districts

    x0, y0, x1, y1 = load_districts().get(code).geometry.bounds
    data = np.full((int((y1 - y0) / step) + 2, int((x1 - x0) / step) + 2), value)
    return _write(path, data, from_origin(x0 - step, y1 + step, step, step), "EPSG:4326")


def test_a_saved_layer_is_the_districts_default_in_the_cli(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from stationmap.cli import main

    monkeypatch.setenv("STATIONMAP_INSTANCE_PATH", str(tmp_path / "instance"))
    _district_raster(tmp_path / "pop.tif")
    runner = CliRunner()
    run = ["coverage", "320402", "--sample", "--cell", "1000", "--kind", "rest", "--lang", "en"]
    res = runner.invoke(main, [*run, "--out", str(tmp_path / "a")])
    assert res.exit_code == 0 and "census total spread evenly over area" in res.output   # the fallback, said
    res = runner.invoke(main, ["demand", "save", "320402", str(tmp_path / "pop.tif")])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "instance" / "demand" / "320402.tif").is_file()
    assert "320402" in runner.invoke(main, ["demand", "list"]).output
    res = runner.invoke(main, [*run, "--out", str(tmp_path / "b")])
    assert res.exit_code == 0 and "population raster 320402.tif" in res.output, res.output
    summary = json.loads((tmp_path / "b" / "summary.json").read_text(encoding="utf-8"))
    assert summary["assumptions"]["demand"]["spread"] == "pixel_area"
    # another district keeps the census
    res = runner.invoke(main, ["coverage", "320404", "--sample", "--cell", "1000", "--lang", "en",
                               "--out", str(tmp_path / "c")])
    assert res.exit_code == 0 and "census total spread evenly" in res.output
    assert runner.invoke(main, ["demand", "remove", "320402"]).exit_code == 0
    res = runner.invoke(main, [*run, "--out", str(tmp_path / "d")])
    assert "census total spread evenly over area" in res.output
    bad = runner.invoke(main, ["demand", "remove", "320402"])
    assert bad.exit_code != 0 and "no saved demand layer" in bad.output and "Traceback" not in bad.output
    bad = runner.invoke(main, ["demand", "save", "320402", str(tmp_path / "b" / "summary.json")])
    assert bad.exit_code != 0 and "population raster" in bad.output
