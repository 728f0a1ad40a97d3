"""Demand per cell: the census population spread over a district's cells by road length
or area (:func:`spread_population`, :func:`road_length_per_cell`), or a supplied layer of
points or polygons with a weight (:func:`demand_from_frame`, :func:`read_points`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from stationmap.coverage.areas import to_metric
from stationmap.coverage.grid import Grid, locate_cells
from stationmap.errors import ValidationError, geodata_read_errors

if TYPE_CHECKING:
    import geopandas as gpd
    import numpy.typing as npt
    from shapely.geometry.base import BaseGeometry

    from stationmap.coverage.areas import Area
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
