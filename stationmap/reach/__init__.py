"""Reach: how far a worker gets in so many minutes, and which stations are that close.

Two methods, and a chooser:

``network``
    Minutes on the roads of a :class:`~stationmap.network.Network`: the query
    point is snapped to the nearest road open to the mode (the off-road part
    walked), Dijkstra runs with a time limit (scipy's for the isochrone; for
    stations, :meth:`~stationmap.network.Network.nearest_targets`, which also
    stops once the ``k`` fastest are known), and stations (snapped the same
    way) get their travel time and the length of their route.
``circle``
    The straight-line estimate where no network covers the point:
    ``minutes = distance x detour_factor / speed`` (:func:`circle_minutes`).
``auto``
    ``network`` when a configured network covers the point (inside its extent
    and within ``settings.max_snap_m`` of a road), ``circle`` elsewhere.  Every
    result says which method it used.

The package, one concern a module (this module holds :func:`isochrone`,
:class:`Isochrone` and :func:`prepare`, and re-exports the public names of the others):

``circle``   the straight-line estimate and its circle
``choose``   which network, if any, serves a point (:func:`choose_network`)
``ranking``  stations ranked by travel time (:func:`rank_stations`, :class:`Ranking`, :class:`StationTime`)
``outline``  the reached road pieces (:class:`~stationmap.reach.outline.ReachSearch`), drawn on a grid and traced
``trace``    the compiled kernels that mark the cells and trace them

The isochrone polygon is the set of reached road pieces (whole edges, and
edges cut where the time runs out) drawn onto a grid of ``resolution_m``
cells (default 50 m) in the network's UTM zone and traced.  Each piece is
sampled every 0.7 cell and every sample marks the four corners of its cell,
so every reached piece lies inside the polygon and the band around a lone
road reaches half a cell to a cell and a half from it (about a 50 m buffer
at 50 m cells); holes smaller than ``min_hole_m2`` (city blocks) are filled.

What a query does, and what is done once per network (``prepare``):

* the search runs on the mode's *contracted* graph
  (:meth:`~stationmap.network.Network.core`: the middle nodes of two-way
  chains taken out, half of SIP's nodes), so Dijkstra visits only junctions;
* a junction whose every road out is travelled in full contributes its
  precomputed *star*: the cells of itself and of the roads drawn from it
  (``outline._ModeCells``); only the few roads cut by the time limit, the
  query's own road and the off-road walk are sampled per query;
* marking the cells and tracing them (marching squares, half way between
  marked and unmarked grid nodes) are two compiled loops (numba:
  ``trace._k_cells``, ``trace._k_trace``; compiled on first use, cached on disk,
  ``prepare`` compiles them at start);
* only the final vertices go back to WGS-84, through a polynomial fitted to
  pyproj over the network's extent (error below 1 mm:
  :meth:`~stationmap.network.Network.to_lonlat_fast`).

A 15-minute e-bike isochrone takes about 1.6 times a bare scipy Dijkstra
with the same limit on SIP and 1.5 times on a 90,000-node grid
(``benchmarks/bench_network.py``).  The area is measured in the UTM
projection (the shoelace sum of the traced rings).

Stations are snapped like the query point; snaps are cached per network, mode
and station index slot (:meth:`~stationmap.network.Network.snap_slots`; a moved
or new station takes a new slot), so a moved or new station is snapped on its
next query and an unchanged one never again (no revision to track).

All coordinates in and out are WGS-84 (lon, lat); distances metres; times
minutes unless a name says seconds.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from stationmap import config as _config
from stationmap.checks import check_k, check_method, check_minutes, check_mode, check_point
from stationmap.config import DEFAULT_METHOD, DEFAULT_MINUTES, DEFAULT_MODE, MAX_K, MAX_MINUTES, METHODS, MODES
from stationmap.coords import GEOD
from stationmap.errors import ValidationError
from stationmap.geojson import PRECISION, features, polygon_geometry
from stationmap.network import derived
from stationmap.reach.choose import choose_network, choose_network_checked, network_list
from stationmap.reach.circle import (
    circle_minutes,
    circle_polygon,
    circle_radius_m,
    cut_at_antimeridian,
    minutes_per_metre,
)
from stationmap.reach.outline import MIN_HOLE_M2, RESOLUTION_M, ReachSearch, pieces_outline, pieces_polygon, raster
from stationmap.reach.ranking import Ranking, StationTime, circle_times, rank_stations, rank_within

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from collections.abc import Iterable

    import shapely

    from stationmap.config import Settings
    from stationmap.index import StationIndex
    from stationmap.reach.choose import Networks

__all__ = [
    "MAX_K", "MAX_MINUTES", "METHODS", "MIN_HOLE_M2", "RESOLUTION_M", "Isochrone", "Ranking", "StationTime",
    "check_k", "check_method", "check_minutes", "check_mode", "choose_network", "circle_minutes",
    "circle_radius_m", "isochrone", "minutes_per_metre", "pieces_polygon", "prepare", "rank_stations",
]


@dataclass
class Isochrone:
    """The area reachable from a WGS-84 point in ``minutes``.

    ``polygon`` is a shapely Polygon or MultiPolygon in WGS-84 (empty when
    nothing is reached); ``area_km2`` is measured in the network's metric
    projection (the circle's on the ellipsoid, pyproj.Geod);
    ``stations`` are those reached within ``minutes``, fastest first.
    """

    lon: float
    lat: float
    minutes: float
    mode: str
    method: str
    polygon: shapely.Polygon | shapely.MultiPolygon
    area_km2: float
    stations: list[StationTime] = field(default_factory=list)
    network: str | None = None
    snap_m: float | None = None
    resolution_m: float | None = None
    #: the network keeps to one-way streets (False: its source had no one-way data, every street
    #: counts as two-way and the times are optimistic); None for the circle method
    oneway_respected: bool | None = None
    #: the network data's licence and credit (network method; None when unknown or for the circle)
    licence: str | None = None

    def properties(self) -> dict:
        """The GeoJSON properties of the area (query, mode, method, network, area, counts)."""
        return {"datum": "wgs84", "lon": self.lon, "lat": self.lat, "minutes": self.minutes,
                "mode": self.mode, "method": self.method, "network": self.network,
                "area_km2": round(self.area_km2, 4),
                "snap_m": None if self.snap_m is None else round(self.snap_m, 1),
                "resolution_m": self.resolution_m, "stations": len(self.stations),
                "oneway_respected": self.oneway_respected, "licence": self.licence}

    def to_geojson(self, *, precision: int | None = PRECISION) -> dict:
        """A GeoJSON FeatureCollection (WGS-84): the area (``role: isochrone``,
        :func:`stationmap.geojson.polygon_geometry`), then each station's Feature
        (:func:`stationmap.geojson.features`, ``role: station``, with ``minutes``,
        ``distance_m`` and ``straight_m``); coordinates rounded to ``precision``
        decimals (None: not)."""
        feats = [{"type": "Feature", "geometry": polygon_geometry(self.polygon, precision=precision),
                  "properties": {"role": "isochrone", **self.properties()}}]
        feats += features([s.station for s in self.stations], precision=precision,
                          extra=[{"role": "station", "minutes": round(s.minutes, 2),
                                  "distance_m": round(s.distance_m, 1), "straight_m": round(s.straight_m, 1)}
                                 for s in self.stations])
        return {"type": "FeatureCollection", "features": feats}


def prepare(networks: Networks, *, resolution_m: float = RESOLUTION_M) -> None:
    """Build everything the first query would (mode graphs, snapping grids and the
    ranking's compiled searches: :meth:`Network.prepare`; the contracted graphs, the
    isochrone grid and its cells per mode, the fast lon/lat transform, the isochrone's
    compiled kernels) now: call it once at start, so no request pays for it."""
    for net in network_list(networks):
        kept = net.cache_file is not None and net.cache_file.is_file()
        net.prepare()
        ras = raster(net, float(resolution_m))
        for mode in MODES:
            net.core(mode)
            if ras is not None:
                ras.mode_cells(net, mode)
        net.to_lonlat_fast(net.x[:1], net.y[:1])
        if ras is not None:
            # compile the kernels (or load them from the disk cache): a short isochrone at the first node
            lon, lat = float(net.lon[0]), float(net.lat[0])
            for mode in MODES:
                try:
                    sn = net.snap(lon, lat, mode=mode, max_snap_m=math.inf)
                except ValidationError:     # no road open to the mode
                    continue
                ReachSearch(net, sn, mode, 1.0, lon, lat).outline(resolution_m=float(resolution_m))
                break
        if net.cache_file is not None and not kept:
            try:
                derived.save(net, net.cache_file)      # the next start reads all of it back
            except OSError as exc:
                log.warning("could not keep what was derived from network %s in %s: %s", net.name,
                            net.cache_file, exc)


def isochrone(lon: float, lat: float, minutes: float = DEFAULT_MINUTES, mode: str = DEFAULT_MODE, *,
              network: Networks = None, index: StationIndex | None = None, method: str = DEFAULT_METHOD,
              kinds: Iterable[str] | None = None, services: Iterable[str] | None = None,
              open_at: datetime | None = None, resolution_m: float = RESOLUTION_M, min_hole_m2: float = MIN_HOLE_M2,
              settings: Settings | None = None) -> Isochrone:
    """The area reachable from a WGS-84 point in ``minutes`` by ``mode``, and the stations in it.

    Parameters
    ----------
    lon, lat : float
        The start, WGS-84 degrees.
    minutes : float
        Travel time, in (0, :data:`MAX_MINUTES`].
    mode : str
        One of :data:`stationmap.config.MODES`.
    network : Network, list of Network or dict of str to Network, optional
        The road networks; the first that covers the point is used.  None: the circle
        estimate.
    index : StationIndex, optional
        The stations to report; without it, ``stations`` is empty.
    method : {"auto", "network", "circle"}
        ``auto``: a network where one covers the point, else the circle estimate.
    kinds, services, open_at
        Filters on the stations, as in :meth:`StationIndex.nearest` (``kinds``: any of
        them; ``services``: all of them; ``open_at``: open then); closed stations are left out.
    resolution_m : float
        Grid cell of the polygon, metres, in [1, 1000].
    min_hole_m2 : float
        Holes smaller than this (m²) are filled.
    settings : Settings, optional
        Speeds and detour factor (default: the network's, else :func:`stationmap.config.load`).

    Returns
    -------
    Isochrone
        The area (WGS-84; ``method`` says which was used), its km², and the stations
        reached, fastest first.

    Raises
    ------
    ValidationError
        For an argument out of range, or ``method="network"`` where no network covers
        the point (the message names the distance and the limit).

    Examples
    --------
    >>> iso = isochrone(120.6, 31.3, 10, "walk", method="circle")
    >>> iso.method, round(iso.area_km2, 1)
    ('circle', 1.2)
    """
    lon, lat = check_point(lon, lat)
    minutes = check_minutes(minutes)
    check_mode(mode)
    check_method(method)
    try:
        resolution_m = float(resolution_m)
    except (TypeError, ValueError):
        resolution_m = float("nan")
    if not (math.isfinite(resolution_m) and 1.0 <= resolution_m <= 1000.0):
        raise ValidationError(f"resolution_m must be a number in [1, 1000], got {resolution_m!r}",
                              field="resolution_m")
    net, snap = choose_network_checked(network, lon, lat, mode, method, settings)
    settings = settings or (net.settings if net is not None else _config.load())
    budget = minutes * 60.0
    if net is None or snap is None:     # (both or neither)
        return _circle_isochrone(lon, lat, minutes, mode, index, kinds, services, open_at, settings)
    search = ReachSearch(net, snap, mode, budget, lon, lat)
    out = search.outline(resolution_m=resolution_m, min_hole_m2=min_hole_m2)
    if out is None:     # beyond the network's grid: the reached pieces on a grid of their own
        out = pieces_outline(*search.pieces(), resolution_m=resolution_m, min_hole_m2=min_hole_m2)
    poly, area, cell = out.geometry(net.lonlat_points), out.area_m2 / 1e6, out.cell
    filters = {"kinds": kinds, "services": services, "open_at": open_at}
    stations = rank_within(net, snap, index, lon, lat, mode, budget, None, filters)
    return Isochrone(lon, lat, minutes, mode, "network", poly, area, stations, net.name,
                     snap.distance_m, cell, oneway_respected=net.oneway_known, licence=net.licence or None)


def _circle_isochrone(lon: float, lat: float, minutes: float, mode: str, index: StationIndex | None,
                      kinds: Iterable[str] | None, services: Iterable[str] | None, open_at: datetime | None,
                      settings: Settings) -> Isochrone:
    r = circle_radius_m(minutes, mode, settings)
    poly = circle_polygon(lon, lat, r)
    area = abs(GEOD.geometry_area_perimeter(poly)[0]) / 1e6    # on the ellipsoid (whatever the longitude)
    stations = []
    if index is not None:
        stations = circle_times(index.within(lon, lat, r, kinds=kinds, services=services, open_at=open_at),
                                 mode, settings)
    return Isochrone(lon, lat, minutes, mode, "circle", cut_at_antimeridian(poly), float(area), stations)
