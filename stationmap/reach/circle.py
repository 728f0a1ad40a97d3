"""The circle estimate: travel minutes from straight-line distance, where no road network
covers a point.

``minutes = distance x detour_factor / speed`` (:func:`circle_minutes`); the area
reached is a geodesic circle (:func:`circle_polygon`), cut at the antimeridian for
GeoJSON (:func:`cut_at_antimeridian`).  Coordinates WGS-84 (lon, lat); distances metres.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, overload

import numpy as np

from stationmap import config as _config
from stationmap.checks import check_mode
from stationmap.config import DEFAULT_MODE
from stationmap.coords import GEOD

if TYPE_CHECKING:
    import shapely

    from stationmap.config import Settings


def minutes_per_metre(mode: str = DEFAULT_MODE, settings: Settings | None = None) -> float:
    """The circle estimate's minutes per metre of geodesic distance: the detour factor
    (road distance / straight-line distance) over the mode's speed in metres per minute."""
    settings = settings or _config.load()
    return settings.detour_factor / (settings.speed_kmh(check_mode(mode)) * (1000.0 / 60.0))


@overload
def circle_minutes(distance_m: float, mode: str = ..., settings: Settings | None = ...) -> float: ...
@overload
def circle_minutes(distance_m: np.ndarray, mode: str = ..., settings: Settings | None = ...) -> np.ndarray: ...


def circle_minutes(distance_m: float | np.ndarray, mode: str = DEFAULT_MODE,
                   settings: Settings | None = None) -> float | np.ndarray:
    """Straight-line estimate of travel minutes: ``distance_m x detour_factor / speed``.

    ``distance_m`` is a geodesic distance in metres (a float or an array);
    speed and detour factor come from ``settings`` (default: :func:`stationmap.config.load`).
    """
    per_m = minutes_per_metre(mode, settings)
    if type(distance_m) is float:
        return distance_m * per_m
    d = np.asarray(distance_m, dtype=float) * per_m
    return float(d) if d.ndim == 0 else d


def circle_radius_m(minutes: float, mode: str = DEFAULT_MODE, settings: Settings | None = None) -> float:
    """The straight-line radius the circle estimate reaches in ``minutes`` (metres)."""
    return float(minutes) / minutes_per_metre(mode, settings)


def circle_polygon(lon: float, lat: float, radius_m: float, n: int = 72) -> shapely.Polygon:
    """The geodesic circle as a lon/lat polygon, its longitudes continuous around the
    centre (near the antimeridian they pass ±180: see :func:`cut_at_antimeridian`)."""
    import shapely

    az = np.linspace(0.0, 360.0, n, endpoint=False)
    plon, plat, _ = GEOD.fwd(np.full(n, lon), np.full(n, lat), az, np.full(n, radius_m))
    plon = lon + (plon - lon + 180.0) % 360.0 - 180.0
    return shapely.Polygon(np.column_stack([plon, plat])[::-1])


def cut_at_antimeridian(poly: shapely.Polygon) -> shapely.Polygon | shapely.MultiPolygon:
    """``poly`` with the parts beyond ±180° moved back by 360° (a MultiPolygon then), as
    GeoJSON wants it (RFC 7946, 3.1.9); ``poly`` itself where it stays within."""
    import shapely
    from shapely import affinity

    w, _s, e, _n = poly.bounds
    if w >= -180.0 and e <= 180.0:
        return poly
    parts: list[Any] = []   # shapely geometries; the polygons among them are kept
    for shift in (-360.0, 0.0, 360.0):
        piece = poly.intersection(shapely.box(-180.0 - shift, -90.0, 180.0 - shift, 90.0))
        if not piece.is_empty:
            piece = affinity.translate(piece, xoff=shift)
            parts.extend(getattr(piece, "geoms", [piece]))
    return shapely.MultiPolygon([p for p in parts if p.geom_type == "Polygon" and p.area > 0])
