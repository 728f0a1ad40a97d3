"""Demand per cell: the census population spread over a district's cells by road length
or area (:func:`spread_population`, :func:`road_length_per_cell`), a supplied layer of
points or polygons with a weight (:func:`demand_from_frame`, :func:`read_points`), or a
population raster (a GeoTIFF in any CRS: WorldPop, GHS-POP, LandScan) whose every pixel is
shared among the cells it overlaps in proportion to the overlapping area
(:class:`PopulationRaster`, :func:`demand_from_raster`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stationmap.coverage.areas import to_metric
from stationmap.coverage.grid import Grid, locate_cells
from stationmap.errors import ValidationError, geodata_read_errors

if TYPE_CHECKING:
    import geopandas as gpd
    import numpy.typing as npt
    from shapely.geometry.base import BaseGeometry

    from stationmap.config import Settings
    from stationmap.coverage.areas import Area
    from stationmap.districts import Districts
    from stationmap.network import Network


def spread_population(grid: Grid, areas: Iterable[Area], *, weights: npt.ArrayLike | None = None) -> np.ndarray:
    """Each area's population spread over its cells in proportion to ``weights``
    (default: cell area).  An area whose cells all weigh 0 falls back to area.
    An area without a population gets relative demand summing to 1."""
    w = grid.area_m2.astype(float) if weights is None else np.asarray(weights, dtype=float)
    out = np.zeros(len(grid))
    for a in areas:
        m = grid.adcode == a.adcode
        if not m.any():
            continue
        ww = w[m]
        if not ww.sum() > 0:
            ww = grid.area_m2[m].astype(float)
        total = 1.0 if a.population is None else float(a.population)
        out[m] = total * ww / ww.sum()
    return out


def road_length_per_cell(grid: Grid, network: Network, *, step_m: float | None = None) -> np.ndarray:
    """Metres of road in each cell: every edge of ``network`` cut into pieces
    of at most ``step_m`` (default a fifth of the cell), each piece counted
    in the cell holding its midpoint."""
    step = step_m or (grid.cell_m or math.sqrt(float(np.median(grid.area_m2)) if len(grid) else 250.0)) / 5.0
    lon, lat = np.asarray(network.lon), np.asarray(network.lat)
    eu, ev = np.asarray(network.edge_u, dtype=np.int64), np.asarray(network.edge_v, dtype=np.int64)
    ux, uy = to_metric(lon[eu], lat[eu], grid.crs)
    vx, vy = to_metric(lon[ev], lat[ev], grid.crs)
    seg = np.hypot(vx - ux, vy - uy)
    k = np.maximum(1, np.ceil(seg / step)).astype(np.int64)
    edge = np.repeat(np.arange(seg.size), k)
    starts = np.cumsum(k) - k
    t = (np.arange(edge.size) - starts[edge] + 0.5) / k[edge]
    px = ux[edge] + t * (vx - ux)[edge]
    py = uy[edge] + t * (vy - uy)[edge]
    piece = (np.asarray(network.edge_length_m, dtype=float) / k)[edge]
    return _sum_into_cells(grid, px, py, piece)


def _sum_into_cells(grid: Grid, px: np.ndarray, py: np.ndarray, weight: npt.ArrayLike) -> np.ndarray:
    """Sum ``weight`` of metric points (grid CRS) into the cells holding them."""
    out = np.zeros(len(grid))
    idx = locate_cells(grid, x=px, y=py)
    ok = idx >= 0
    np.add.at(out, idx[ok], np.asarray(weight, dtype=float)[ok])
    return out


def demand_from_points(grid: Grid, lon: npt.ArrayLike, lat: npt.ArrayLike,
                       weight: npt.ArrayLike | None = None) -> np.ndarray:
    """Demand from points (WGS-84) with weights (default 1): each point's
    weight goes to the cell holding it; points outside the grid are dropped."""
    lon = np.asarray(lon, dtype=float)
    w = np.ones(lon.size) if weight is None else np.asarray(weight, dtype=float)
    if w.shape != lon.shape:
        raise ValidationError(f"weight must have one value per point, got {w.size} for {lon.size}", field="weight")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValidationError("weight must be finite and non-negative", field="weight")
    return _sum_into_cells(grid, *to_metric(lon, lat, grid.crs), w)


def demand_from_polygons(grid: Grid, geometries: Iterable[BaseGeometry], weight: npt.ArrayLike) -> np.ndarray:
    """Demand from polygons (WGS-84) with weights: a polygon's weight is shared
    equally by the cells whose centres it contains (the cell holding its
    representative point when it contains no centre)."""
    import shapely

    geoms = np.asarray(list(geometries), dtype=object)
    w = np.asarray(weight, dtype=float)
    if w.shape != geoms.shape:
        raise ValidationError(f"weight must have one value per polygon, got {w.size} for {geoms.size}",
                              field="weight")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValidationError("weight must be finite and non-negative", field="weight")
    out = np.zeros(len(grid))
    if not geoms.size or not len(grid):
        return out
    pts = shapely.points(grid.lon, grid.lat)
    tree = shapely.STRtree(pts)  # type: ignore[arg-type]  # points of arrays are an array, not a Point
    g_idx, c_idx = tree.query(geoms, predicate="contains")
    counts = np.bincount(g_idx, minlength=geoms.size)
    np.add.at(out, c_idx, w[g_idx] / counts[g_idx])
    empty = np.nonzero(counts == 0)[0]
    if empty.size:
        rp = shapely.point_on_surface(geoms[empty])
        out += demand_from_points(grid, shapely.get_x(rp), shapely.get_y(rp), w[empty])
    return out


def demand_from_frame(grid: Grid, frame: gpd.GeoDataFrame, *, column: str = "weight") -> np.ndarray:
    """Demand from a GeoDataFrame of points or polygons with a weight ``column``."""
    if column not in frame.columns:
        raise ValidationError(f"demand layer has no column {column!r} (columns: {', '.join(map(str, frame.columns))})",
                              field="demand_column")
    if frame.crs is not None and frame.crs.to_epsg() != 4326:
        frame = frame.to_crs(4326)
    w = frame[column].to_numpy(dtype=float)
    types = set(frame.geometry.geom_type)
    if types <= {"Point"}:
        return demand_from_points(grid, frame.geometry.x.to_numpy(), frame.geometry.y.to_numpy(), w)
    if types <= {"Polygon", "MultiPolygon"}:
        return demand_from_polygons(grid, frame.geometry.to_numpy(), w)
    raise ValidationError(f"demand layer must be all points or all polygons, got {sorted(types)}", field="demand")


#: raster file names :func:`is_raster` takes for a population grid
RASTER_SUFFIXES = (".tif", ".tiff")


def is_raster(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` names a GeoTIFF (a population raster) rather than a vector layer."""
    return Path(path).suffix.lower() in RASTER_SUFFIXES


@dataclass(frozen=True)
class PopulationRaster:
    """A population raster (people per pixel, band ``band``) to use as a run's demand.

    :meth:`open` checks the file and records its CRS and resolution, which the run's
    assumptions state."""

    path: Path
    crs_name: str
    resolution_text: str
    band: int = 1

    @property
    def name(self) -> str:
        return self.path.name

    @classmethod
    def open(cls, path: str | os.PathLike[str], *, band: int = 1) -> PopulationRaster:
        """The raster at ``path``; ValidationError (field ``demand``) when it is not a readable
        raster with a CRS and band ``band``."""
        import rasterio
        from rasterio.errors import RasterioError

        p = Path(path)
        if not p.is_file():
            raise ValidationError(f"{p}: file not found", field="demand")
        try:
            with rasterio.open(p) as src:
                if src.crs is None:
                    raise ValidationError(f"{p}: the raster has no coordinate reference system", field="demand")
                if not 1 <= band <= src.count:
                    raise ValidationError(f"{p}: no band {band} (the raster has {src.count})", field="demand")
                epsg = src.crs.to_epsg()
                crs_name = f"EPSG:{epsg}" if epsg else src.crs.to_string()
                rx, ry = src.res
                unit = "°" if src.crs.is_geographic else " m"
                res = f"{rx:.6g}{unit}" if math.isclose(rx, ry, rel_tol=1e-9) else f"{rx:.6g}{unit} × {ry:.6g}{unit}"
        except RasterioError as exc:
            raise ValidationError(f"{p}: cannot read as a raster: {exc}", field="demand") from None
        return cls(path=p, crs_name=crs_name, resolution_text=res, band=band)


def demand_from_raster(grid: Grid, raster: PopulationRaster | str | os.PathLike[str]) -> np.ndarray:
    """Demand per cell from a population raster: each pixel's value is shared among the
    cells it overlaps in proportion to the area of the overlap (in the grid's metric CRS),
    not given whole to the cell holding its centre.  The pixels' edges are densified before
    they are projected, so a raster in any CRS gives the same shares.  Nodata and NaN pixels
    count 0; the part of a pixel outside every cell is dropped (demand outside the area).
    ValidationError (field ``demand``) for a negative value or a raster that misses the area."""
    import rasterio
    import shapely
    from pyproj import Transformer
    from rasterio.windows import Window

    r = raster if isinstance(raster, PopulationRaster) else PopulationRaster.open(raster)
    out = np.zeros(len(grid))
    if not len(grid):
        return out
    cells = grid.polygons_metric()
    gx0, gy0, gx1, gy1 = shapely.total_bounds(cells)
    with rasterio.open(r.path) as src:
        to_src = Transformer.from_crs(grid.crs, src.crs, always_xy=True)
        bx0, by0, bx1, by1 = to_src.transform_bounds(gx0, gy0, gx1, gy1, densify_pts=41)
        # the pixels under the grid's bounds (the inverse of any affine transform), one more each side
        inv = ~src.transform
        wc, wr = zip(*((inv.a * x + inv.b * y + inv.c, inv.d * x + inv.e * y + inv.f)
                       for x in (bx0, bx1) for y in (by0, by1)))
        c0, c1 = max(int(np.floor(min(wc))) - 1, 0), min(int(np.ceil(max(wc))) + 1, src.width)
        r0, r1 = max(int(np.floor(min(wr))) - 1, 0), min(int(np.ceil(max(wr))) + 1, src.height)
        if c0 >= c1 or r0 >= r1 or not all(map(math.isfinite, (bx0, by0, bx1, by1))):
            raise ValidationError(f"{r.name}: the raster does not cover the area analysed", field="demand")
        win = Window(c0, r0, c1 - c0, r1 - r0)
        data = src.read(r.band, window=win, masked=True).astype(float)
        t = src.transform   # the window's transform (affine's `*` is deprecated: written out)
        tf = type(t)(t.a, t.b, t.c + t.a * c0 + t.b * r0, t.d, t.e, t.f + t.d * c0 + t.e * r0)
        to_grid = Transformer.from_crs(src.crs, grid.crs, always_xy=True)
    vals = np.ma.filled(data, 0.0)
    vals[~np.isfinite(vals)] = 0.0
    if (vals < 0).any():
        raise ValidationError(f"{r.name}: population must be >= 0, found {vals.min():g} (not marked nodata)",
                              field="demand")
    rows, cols = np.nonzero(vals > 0)
    if not rows.size:
        return out
    w = vals[rows, cols]
    # the pixels' corners (any affine transform), projected once as a lattice: a pixel is the quad
    # of its four projected corners (an edge bends under 2 cm over 1 km in a UTM zone)
    cc, rr = np.meshgrid(np.arange(vals.shape[1] + 1, dtype=float), np.arange(vals.shape[0] + 1, dtype=float))
    lx, ly = to_grid.transform(tf.a * cc + tf.b * rr + tf.c, tf.d * cc + tf.e * rr + tf.f)
    lx, ly = np.asarray(lx), np.asarray(ly)
    qx = np.stack([lx[rows, cols], lx[rows, cols + 1], lx[rows + 1, cols + 1], lx[rows + 1, cols]], axis=1)
    qy = np.stack([ly[rows, cols], ly[rows, cols + 1], ly[rows + 1, cols + 1], ly[rows + 1, cols]], axis=1)
    whole = np.zeros(rows.size, bool)
    if grid.shape == "square":
        # a pixel inside one lattice square goes whole to that cell (or nowhere: outside the area)
        c: float = grid.cell_m  # type: ignore[assignment]  # square grids have one
        i0, i1 = np.floor(qx.min(axis=1) / c), np.ceil(qx.max(axis=1) / c) - 1
        j0, j1 = np.floor(qy.min(axis=1) / c), np.ceil(qy.max(axis=1) / c) - 1
        whole = (i0 == i1) & (j0 == j1)
        k = locate_cells(grid, x=(i0[whole] + 0.5) * c, y=(j0[whole] + 0.5) * c)
        ok = k >= 0
        np.add.at(out, k[ok], w[whole][ok])
    part = np.nonzero(~whole)[0]
    if not part.size:
        return out
    ring = np.stack([np.column_stack([qx[part], qx[part, :1]]), np.column_stack([qy[part], qy[part, :1]])], axis=2)
    pix = np.asarray(shapely.polygons(ring))
    tree = shapely.STRtree(cells)
    p_idx, c_idx = tree.query(pix, predicate="intersects")
    if not p_idx.size:
        return out
    share = np.asarray(shapely.area(shapely.intersection(pix[p_idx], cells[c_idx]))) / np.asarray(
        shapely.area(pix))[p_idx]
    np.add.at(out, c_idx, w[part][p_idx] * share)
    return out


#: the folder of the instance holding the saved demand layers, ``<adcode>.tif``
DEMAND_DIR = "demand"


def _saved_path(adcode: str, settings: Settings | None) -> Path:
    from stationmap import config as _config
    from stationmap.districts import check_adcode

    settings = settings or _config.load()
    code = check_adcode(adcode, field="district")
    return Path(settings.instance_path) / DEMAND_DIR / f"{code}.tif"


def save_demand_layer(adcode: str, path: str | os.PathLike[str], *, settings: Settings | None = None) -> Path:
    """Save the population raster at ``path`` as district ``adcode``'s demand layer in the
    instance (``<instance>/demand/<adcode>.tif``, replacing any before): the default of that
    district's runs on the page, the API and the CLI.  Returns where it went."""
    import shutil

    from stationmap.instance import private_dir

    if not is_raster(path):
        raise ValidationError(f"{path}: a saved demand layer is a population raster (.tif)", field="demand")
    PopulationRaster.open(path)                      # readable, with a CRS
    dest = _saved_path(adcode, settings)
    private_dir(dest.parent)
    tmp = dest.with_suffix(".tif.part")
    shutil.copyfile(path, tmp)
    os.replace(tmp, dest)
    return dest


def saved_demand_layer(adcode: str, *, settings: Settings | None = None) -> PopulationRaster | None:
    """District ``adcode``'s saved demand layer (:func:`save_demand_layer`), or None."""
    dest = _saved_path(adcode, settings)
    return PopulationRaster.open(dest) if dest.is_file() else None


def remove_demand_layer(adcode: str, *, settings: Settings | None = None) -> bool:
    """Forget district ``adcode``'s saved demand layer; True when there was one."""
    dest = _saved_path(adcode, settings)
    if dest.is_file():
        dest.unlink()
        return True
    return False


def saved_demand_layers(*, settings: Settings | None = None) -> dict[str, Path]:
    """{adcode: file} of every saved demand layer of the instance."""
    from stationmap import config as _config

    folder = Path((settings or _config.load()).instance_path) / DEMAND_DIR
    return {p.stem: p for p in sorted(folder.glob("*.tif"))} if folder.is_dir() else {}


def read_points(path: str | os.PathLike[str], *, weight_column: str | None = None) -> gpd.GeoDataFrame:
    """Points from a CSV (columns ``lon``, ``lat`` in WGS-84, optional ``id`` /
    ``name`` and the weight column), a GeoJSON or a GeoPackage.  Returns a
    GeoDataFrame in WGS-84; errors name the file, row and field."""
    import geopandas as gpd
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise ValidationError(f"{p}: file not found", field="file")
    if p.suffix.lower() in (".csv", ".txt"):
        try:
            df = pd.read_csv(p, encoding="utf-8-sig", dtype=str, keep_default_na=False)
        except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise ValidationError(f"{p}: cannot read as CSV: {exc}", field="file") from None
        need = ["lon", "lat"] + ([weight_column] if weight_column else [])
        missing = [c for c in need if c not in df.columns]
        if missing:
            raise ValidationError(f"{p}: missing column(s) {', '.join(missing)} (columns: {', '.join(df.columns)})",
                                  field=missing[0])
        vals = {}
        for col in need:
            out = []
            for row, v in enumerate(df[col].tolist(), start=2):
                try:
                    x = float(str(v).strip())
                except ValueError:
                    raise ValidationError(f"{p}: row {row}, field {col}: not a number: {v!r}", field=col) from None
                lim = {"lon": 180.0, "lat": 90.0}.get(col)
                if not math.isfinite(x) or (lim is not None and abs(x) > lim) or (col == weight_column and x < 0):
                    what = f"must be in [-{lim:g}, {lim:g}]" if lim else "must be a finite number >= 0"
                    raise ValidationError(f"{p}: row {row}, field {col}: {what}, got {v!r}", field=col)
                out.append(x)
            vals[col] = out
        gdf = gpd.GeoDataFrame(df, geometry=gpd.points_from_xy(vals["lon"], vals["lat"]), crs="EPSG:4326")
        if weight_column:
            gdf[weight_column] = vals[weight_column]
        return gdf
    try:
        gdf = gpd.read_file(p)
    except geodata_read_errors() as exc:
        raise ValidationError(f"{p}: cannot read: {exc}", field="file") from None
    if gdf.crs is not None and gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs(4326)
    if weight_column and weight_column not in gdf.columns:
        raise ValidationError(f"{p}: no column {weight_column!r} (columns: {', '.join(map(str, gdf.columns))})",
                              field=weight_column)
    if weight_column:
        w = pd.to_numeric(gdf[weight_column], errors="coerce")
        bad = np.nonzero(~np.isfinite(w.to_numpy(float)) | (w.to_numpy(float) < 0))[0]
        if bad.size:
            k = int(bad[0])
            raise ValidationError(f"{p}: feature {k + 1}, field {weight_column}: must be a finite number >= 0, "
                                  f"got {gdf[weight_column].iloc[k]!r}", field=weight_column)
        gdf[weight_column] = w.astype(float)
    return gdf


#: {id of a boundary: (the boundary, its area in m² on the ellipsoid)}: a county's area is asked by
#: every isochrone that reaches it (/api/v1/reach), and its boundary never changes in a process
_AREAS: dict[int, tuple[BaseGeometry, float]] = {}


def _geodesic_area_m2(geom: BaseGeometry) -> float:
    hit = _AREAS.get(id(geom))
    if hit is None or hit[0] is not geom:
        from stationmap.coords import GEOD

        if len(_AREAS) > 4096:
            _AREAS.clear()
        hit = _AREAS[id(geom)] = (geom, abs(GEOD.geometry_area_perimeter(geom)[0]))
    return hit[1]


def people_within(polygon: BaseGeometry, *, settings: Settings | None = None, districts: Districts | None = None,
                  cell_m: float = 100.0) -> dict[str, Any]:
    """The people inside ``polygon`` (WGS-84), county by county, from the demand each county's runs use:

    - its saved demand layer (a population raster, :func:`saved_demand_layer`): the pixels shared
      among cells of ``cell_m`` over the part inside (:func:`demand_from_raster`);
    - else the 2020 census spread evenly over the county's area: its people times the share of its
      area inside (areas on the ellipsoid, pyproj.Geod).

    Returns ``{"people": float or None (the polygon touches no county with a figure),
    "raster": [adcodes], "census": [adcodes], "unknown": [adcodes with no census figure]}``.
    """
    import shapely

    from stationmap.coords import GEOD
    from stationmap.coverage.areas import Area
    from stationmap.coverage.grid import make_grid

    if districts is None:
        from stationmap.districts import load_districts

        districts = load_districts(settings)
    out: dict[str, Any] = {"people": None, "raster": [], "census": [], "unknown": []}
    if polygon is None or polygon.is_empty:
        return out
    w, s, e, n = polygon.bounds
    total = 0.0
    for d in districts.all("county"):
        if d.geometry is None or d.bbox is None:
            continue
        bw, bs, be, bn = d.bbox
        if bw > e or be < w or bs > n or bn < s or not shapely.intersects(d.geometry, polygon):
            continue
        part = shapely.intersection(d.geometry, polygon)
        if part.is_empty:
            continue
        raster = saved_demand_layer(d.adcode, settings=settings)
        if raster is not None:
            grid = make_grid([Area(d.adcode, d.name, d.level, part)], cell_m=cell_m)
            total += float(demand_from_raster(grid, raster).sum())
            out["raster"].append(d.adcode)
        elif d.population is not None:
            share = abs(GEOD.geometry_area_perimeter(part)[0]) / _geodesic_area_m2(d.geometry)
            total += d.population * share
            out["census"].append(d.adcode)
        else:
            out["unknown"].append(d.adcode)
    if out["raster"] or out["census"]:
        out["people"] = total
    return out
