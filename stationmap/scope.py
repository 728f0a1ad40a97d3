"""A district's map scope: its own stations, and its neighbours' within reach of its boundary.

An embed (``/embed/<adcode>``) and a published site show one district, but a courier at its
border should still find the station 300 m across it.  Their list and map share one scope:
the district's stations first, then the stations of neighbouring districts within
:func:`reach_m` of the district's boundary, marked as neighbours (``neighbour: true``; 邻区).

"Within reach" is the finder's own limit (``Settings.minutes``, :data:`stationmap.config.DEFAULT_MINUTES`)
at the default travel mode (:data:`stationmap.config.DEFAULT_MODE`) as the straight-line
estimate :func:`stationmap.reach.circle.circle_radius_m` turns it into metres (15 minutes by
e-bike: about 3.1 km), measured from the boundary in metres on a local equirectangular
projection (well under 1 % off over a district), not in degrees.  A district without a shape
(a development zone with no bundled outline) has no neighbours.  No Flask.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from stationmap.config import DEFAULT_MODE

if TYPE_CHECKING:
    from shapely.geometry.base import BaseGeometry

    from stationmap.config import Settings
    from stationmap.districts import District, Districts
    from stationmap.model import Station

#: metres per degree of latitude (mean), and of longitude at the equator (WGS-84)
_M_PER_DEG_LAT = 110_946.0
_M_PER_DEG_LON = 111_319.5


def reach_m(settings: Settings) -> float:
    """The reach of a district's scope beyond its boundary, metres: the finder's minutes at the default mode."""
    from stationmap.reach.circle import circle_radius_m

    return float(circle_radius_m(settings.minutes, DEFAULT_MODE, settings))


def district_shape(districts: Districts, district: District) -> BaseGeometry | None:
    """The district's polygon, or a zone's outline; None when it has neither."""
    if district.geometry is not None:
        return district.geometry
    return districts.zone_outline(district.adcode)


@dataclass(frozen=True)
class Scope:
    """A district's stations (``own``) and its neighbours' within reach (``neighbours``), each by id."""

    prefix: str
    own: tuple[Station, ...]
    neighbours: tuple[Station, ...]
    reach_m: float

    @cached_property
    def neighbour_ids(self) -> frozenset[str]:
        return frozenset(s.id for s in self.neighbours)

    @cached_property
    def ids(self) -> frozenset[str]:
        """Every station of the scope, own and neighbours' (a tile filter: :class:`stationmap.tiles.Filters`)."""
        return frozenset(s.id for s in self.stations())

    def stations(self) -> list[Station]:
        """Own first, then the neighbours."""
        return [*self.own, *self.neighbours]


def _metric(shape: BaseGeometry, lat0: float) -> BaseGeometry:
    """``shape`` in metres on the equirectangular projection at latitude ``lat0``."""
    import shapely

    kx = _M_PER_DEG_LON * math.cos(math.radians(lat0))
    return shapely.transform(shape, lambda xy: xy * [kx, _M_PER_DEG_LAT])


def district_scope(stations: Iterable[Station], district: District, prefix: str, shape: BaseGeometry | None,
                   reach: float) -> Scope:
    """The scope of ``district`` (adcode ``prefix``) among ``stations`` (closed ones left out).

    ``shape`` (:func:`district_shape`) in WGS-84 degrees; ``reach`` metres (:func:`reach_m`).
    Both lists in id order.
    """
    import numpy as np
    import shapely

    every = [s for s in stations if s.status != "closed"]
    own = sorted((s for s in every if s.adcode.startswith(prefix)), key=lambda s: s.id)
    near: list[Station] = []
    if shape is not None and not shape.is_empty and reach > 0:
        west, south, east, north = shape.bounds
        lat0 = (south + north) / 2
        dlat = reach / _M_PER_DEG_LAT
        dlon = reach / (_M_PER_DEG_LON * max(math.cos(math.radians(max(abs(south), abs(north)) + dlat)), 1e-6))
        cands = [s for s in every if not s.adcode.startswith(prefix)
                 and west - dlon <= s.lon <= east + dlon and south - dlat <= s.lat <= north + dlat]
        if cands:
            kx = _M_PER_DEG_LON * math.cos(math.radians(lat0))
            pts = shapely.points(np.array([[s.lon * kx, s.lat * _M_PER_DEG_LAT] for s in cands]))
            dist = np.asarray(shapely.distance(_metric(shape, lat0), pts), dtype=float)
            near = sorted((s for s, d in zip(cands, dist.tolist()) if d <= reach), key=lambda s: s.id)
    return Scope(prefix, tuple(own), tuple(near), float(reach))
