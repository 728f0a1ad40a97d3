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
  (:class:`_ModeCells`); only the few roads cut by the time limit, the
  query's own road and the off-road walk are sampled per query;
* marking the cells and tracing them (marching squares, half way between
  marked and unmarked grid nodes) are two compiled loops (numba:
  :func:`_k_cells`, :func:`_k_trace`; compiled on first use, cached on disk,
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

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from stationmap import config as _config
from stationmap.config import MODES
from stationmap.coords import GEOD
from stationmap.errors import ValidationError
from stationmap.index import check_point, distances_m
from stationmap.jit import compiled
from stationmap.model import Station

METHODS = ("auto", "network", "circle")
MAX_MINUTES = 180.0
MAX_K = 1000
#: default grid cell of the isochrone polygon, metres
RESOLUTION_M = 50.0
#: holes smaller than this (m²) are filled: the insides of city blocks
MIN_HOLE_M2 = 20_000.0
_MAX_CELLS = 4_000_000


# -- checks ---------------------------------------------------------------------

def check_mode(mode) -> str:
    if mode not in MODES:
        raise ValidationError(f"mode must be one of {MODES}, got {mode!r}", field="mode")
    return mode


def check_method(method) -> str:
    if method not in METHODS:
        raise ValidationError(f"method must be one of {METHODS}, got {method!r}", field="method")
    return method


def check_minutes(minutes, *, allow_none: bool = False):
    if minutes is None and allow_none:
        return None
    try:
        x = float(minutes)
    except (TypeError, ValueError):
        raise ValidationError(f"minutes must be a number, got {minutes!r}", field="minutes") from None
    if isinstance(minutes, bool) or not math.isfinite(x) or not 0 < x <= MAX_MINUTES:
        raise ValidationError(f"minutes must be a number in (0, {MAX_MINUTES:g}], got {minutes!r}",
                              field="minutes")
    return x


def check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= MAX_K:
        raise ValidationError(f"k must be an integer in [1, {MAX_K}], got {k!r}", field="k")
    return int(k)


# -- circle estimate --------------------------------------------------------------

def minutes_per_metre(mode: str = "ebike", settings=None) -> float:
    """The circle estimate's minutes per metre of geodesic distance: the detour factor
    (road distance / straight-line distance) over the mode's speed in metres per minute."""
    settings = settings or _config.load()
    return settings.detour_factor / (settings.speed_kmh(check_mode(mode)) * (1000.0 / 60.0))


def circle_minutes(distance_m, mode: str = "ebike", settings=None):
    """Straight-line estimate of travel minutes: ``distance_m x detour_factor / speed``.

    ``distance_m`` is a geodesic distance in metres (a float or an array);
    speed and detour factor come from ``settings`` (default: :func:`stationmap.config.load`).
    """
    per_m = minutes_per_metre(mode, settings)
    if type(distance_m) is float:
        return distance_m * per_m
    d = np.asarray(distance_m, dtype=float) * per_m
    return float(d) if d.ndim == 0 else d


def circle_radius_m(minutes: float, mode: str = "ebike", settings=None) -> float:
    """The straight-line radius the circle estimate reaches in ``minutes`` (metres)."""
    return float(minutes) / minutes_per_metre(mode, settings)


# -- results ------------------------------------------------------------------------

@dataclass(slots=True)
class StationTime:
    """A station with its travel time.

    ``minutes``: network minutes (or the circle estimate); ``distance_m``: the
    length of the route (off-road parts included; the circle method reports
    ``straight_m x detour_factor``); ``straight_m``: geodesic distance.
    """

    station: Station
    minutes: float
    distance_m: float
    straight_m: float

    def to_dict(self) -> dict:
        d = self.station.to_dict()
        d.update(minutes=round(self.minutes, 2), distance_m=round(self.distance_m, 1),
                 straight_m=round(self.straight_m, 1))
        return d


@dataclass
class Ranking:
    """Stations ranked by travel time from one WGS-84 point."""

    lon: float
    lat: float
    mode: str
    method: str                 # "network" or "circle"
    minutes: float | None       # the limit asked for (None: no limit)
    stations: list = field(default_factory=list)    # [StationTime], fastest first
    network: str | None = None
    snap_m: float | None = None   # query point to the road (network method)

    def to_dict(self) -> dict:
        return {"datum": "wgs84", "query": {"lon": self.lon, "lat": self.lat}, "mode": self.mode,
                "method": self.method, "network": self.network, "minutes": self.minutes,
                "snap_m": None if self.snap_m is None else round(self.snap_m, 1),
                "stations": [s.to_dict() for s in self.stations]}


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
    polygon: object
    area_km2: float
    stations: list = field(default_factory=list)
    network: str | None = None
    snap_m: float | None = None
    resolution_m: float | None = None

    def properties(self) -> dict:
        return {"datum": "wgs84", "lon": self.lon, "lat": self.lat, "minutes": self.minutes,
                "mode": self.mode, "method": self.method, "network": self.network,
                "area_km2": round(self.area_km2, 4),
                "snap_m": None if self.snap_m is None else round(self.snap_m, 1),
                "resolution_m": self.resolution_m, "stations": len(self.stations)}

    def to_geojson(self, *, precision: int = 6) -> dict:
        """A GeoJSON FeatureCollection: the area (``role: isochrone``), then one point
        per station (``role: station``, with ``minutes`` and ``distance_m``)."""
        import shapely

        geom = shapely.set_precision(self.polygon, 10.0 ** -precision) if precision is not None else self.polygon
        if hasattr(shapely, "orient_polygons"):     # shapely >= 2.1; traced rings already are
            geom = shapely.orient_polygons(geom)     # RFC 7946: exteriors counter-clockwise
        feats = [{"type": "Feature", "geometry": shapely.geometry.mapping(geom) if not geom.is_empty
                  else {"type": "MultiPolygon", "coordinates": []},
                  "properties": {"role": "isochrone", **self.properties()}}]
        for s in self.stations:
            st = s.station
            feats.append({"type": "Feature",
                          "geometry": {"type": "Point", "coordinates": [st.lon, st.lat]},
                          "properties": {"role": "station", "id": st.id, "name": st.name,
                                         "kinds": list(st.kinds), "minutes": round(s.minutes, 2),
                                         "distance_m": round(s.distance_m, 1),
                                         "straight_m": round(s.straight_m, 1)}})
        return {"type": "FeatureCollection", "features": feats}


# -- choosing a network -----------------------------------------------------------------

def _networks(networks) -> list:
    if networks is None:
        return []
    if isinstance(networks, Mapping):
        return list(networks.values())
    if isinstance(networks, (list, tuple)):
        return list(networks)
    return [networks]


def choose_network(networks, lon: float, lat: float, *, mode: str = "ebike", method: str = "auto",
                   settings=None):
    """``(network, snap)`` for a WGS-84 point, or ``(None, None)`` for the circle method.

    ``networks``: a Network, a list of them or a {name: Network} mapping (the
    first that covers the point wins).  ``method="network"`` raises
    ValidationError when none covers it (naming the distance and the limit).
    """
    return _choose_network(networks, lon, lat, check_mode(mode), check_method(method), settings)


def _choose_network(networks, lon, lat, mode, method, settings):
    """:func:`choose_network` for a checked mode and method."""
    if method == "circle":
        return None, None
    nets = _networks(networks)
    if not nets:
        if method == "network":
            raise ValidationError("method 'network' needs a road network, and none is configured "
                                  "(settings.networks)", field="method")
        return None, None
    first_error = None
    for net in nets:
        limit = (settings or net.settings).max_snap_m
        w, s, e, n = net.bounds
        pad_lat = limit / 111_000.0
        pad_lon = pad_lat / max(math.cos(math.radians(lat)), 1e-6)
        inside = w - pad_lon <= lon <= e + pad_lon and s - pad_lat <= lat <= n + pad_lat
        if not inside and method == "auto":
            continue
        try:
            return net, net.snap(lon, lat, mode=mode, max_snap_m=limit)
        except ValidationError as exc:
            first_error = first_error or exc
    if method == "network":
        raise first_error
    return None, None


# -- network searches ------------------------------------------------------------------

class _Search:
    """One Dijkstra from a snapped point, with the budget left after the off-road walk.

    Nothing is searched up front: :meth:`outline` runs the search on the contracted
    graph (:meth:`kept_dist`), :meth:`pieces` the one on the whole graph (:attr:`dist`).
    """

    def __init__(self, net, snap, mode, budget_s, lon, lat):
        self.net, self.snap, self.mode = net, snap, mode
        self.g = net.graph(mode)
        self.off_s = snap.distance_m / net.walk_mps()
        self.budget_s = budget_s
        self.limit_s = budget_s - self.off_s
        # the query point (metric) and the part of the walk to the road done within the budget
        self.qx, self.qy = net.to_xy(lon, lat)
        self.f0 = 1.0 if self.off_s <= budget_s else budget_s / self.off_s
        self._dist = self._kept = None
        if self.limit_s < 0:
            self._dist = np.full(net.n_nodes + 1, np.inf)

    @property
    def dist(self):
        """Seconds to every node (n+1; index n is the snapped point), searched on first use."""
        if self._dist is None:
            self._dist = self.net.search(self.snap, mode=self.mode, limit_s=self.limit_s)
        return self._dist

    def kept_dist(self):
        """Seconds to the kept nodes of the mode's contracted graph (``core.keep``), searched
        there on first use."""
        if self._kept is None:
            self._kept = self.net.search_core(self.snap, mode=self.mode, limit_s=self.limit_s)
        return self._kept

    def _arcs(self):
        """Arcs leaving the reached nodes, each edge drawn once: (r, s, tt, f, full, arc)."""
        net, g = self.net, self.g
        n = net.n_nodes
        B = self.limit_s
        dist = self.dist
        r = np.flatnonzero(dist[:n] <= B)
        if not len(r):
            e = np.empty(0, np.intp)
            return r, e, e, np.empty(0), np.empty(0, bool), e
        indptr = g.csr.indptr
        st = indptr[r]
        cnt = indptr[r + 1] - st
        cs = np.cumsum(cnt)
        arc = np.arange(cs[-1]) + np.repeat(st - (cs - cnt), cnt)
        s = np.repeat(r, cnt)
        tt = g.csr.indices[arc]
        w = g.csr.data[arc]
        left = B - dist[s]
        full = w <= left
        # an edge travelled in full both ways is drawn once, from its lower node
        # (both arcs of a two-way edge take the same time)
        dup = full & (s > tt) & (dist[tt] + w <= B)
        if not g.all_twoway:
            dup &= g.arc_twoway[arc]
        keep = np.flatnonzero(~dup)
        s, tt, full, arc = s[keep], tt[keep], full[keep], arc[keep]
        with np.errstate(divide="ignore", invalid="ignore"):
            f = np.minimum(left[keep] / w[keep], 1.0)
        f[np.isnan(f)] = 1.0
        return r, s, tt, f, full, arc

    def _extra(self):
        """The off-road walk to the road and the two ways along the snapped edge: x0, y0, dx, dy."""
        net, g, sn = self.net, self.g, self.snap
        qx, qy, f0 = self.qx, self.qy, self.f0
        rows = [(qx, qy, (sn.x - qx) * f0, (sn.y - qy) * f0)]
        B = self.limit_s
        if B >= 0:
            e = sn.edge
            T = g.edge_s[e]
            for end, ok, w in ((net.edge_u[e], g.can_back[e], sn.t * T),
                               (net.edge_v[e], g.can_fwd[e], (1 - sn.t) * T)):
                if ok:
                    f = 1.0 if w <= B else B / w
                    rows.append((sn.x, sn.y, (net.x[end] - sn.x) * f, (net.y[end] - sn.y) * f))
        return tuple(np.array([float(r_[i]) for r_ in rows]) for i in range(4))

    def pieces(self):
        """Reached road pieces in metric coordinates.

        Returns ``(x0, y0, dx, dy, full)``: segments from ``(x0, y0)`` to
        ``(x0 + dx, y0 + dy)``; ``full`` marks whole edges, the others stop
        where the time runs out.  The first piece is the off-road walk from
        the query point to the road.
        """
        net = self.net
        ex0, ey0, edx, edy = self._extra()
        r, s, tt, f, full, _ = self._arcs()
        x0, y0 = net.x[s], net.y[s]
        return (np.concatenate([ex0, x0]), np.concatenate([ey0, y0]),
                np.concatenate([edx, (net.x[tt] - x0) * f]), np.concatenate([edy, (net.y[tt] - y0) * f]),
                np.concatenate([np.zeros(len(ex0), bool), full]))

    def outline(self, *, resolution_m: float = RESOLUTION_M, min_hole_m2: float = MIN_HOLE_M2):
        """The reached area traced on the network's grid (:class:`_Outline`), or None
        where that grid cannot hold it (no grid for so large a network, a query
        point beyond its margin, an area beyond ``_MAX_CELLS`` cells).

        The cells (:func:`_k_cells`): a kept node whose every super-arc is
        travelled in full gives its precomputed *star* (:class:`_ModeCells`);
        the super-arcs of the others are taken whole where travelled in full
        from one end or the two, else cut arc by arc and sampled; so are the
        pieces on the query's own super-arc and the off-road walk.
        """
        net, sn = self.net, self.snap
        c = float(resolution_m)
        ras = _raster(net, c)
        if ras is None:
            return None
        qx, qy, f0 = self.qx, self.qy, self.f0
        if not (ras.x0 <= qx < ras.x1 and ras.y0 <= qy < ras.y1):
            return None
        core = net.core(self.mode)
        mc = ras.mode_cells(net, self.mode)
        B = self.limit_s
        if B >= 0:
            kd = self.kept_dist()
            s, tau_s = core.locate(sn, self.g.edge_s)
        else:
            kd, s, tau_s = mc.own[:0].astype(np.float64), 0, 0.0
        k_cells, _ = _kernels()
        cells = k_cells(
            kd, float(B), core.out_max_s, core.csr.indptr, core.sa_dst, core.sa_twoway, core.sa_s, core.sa_ptr,
            core.ca_tau, mc.star_ptr, mc.star_cells, mc.own, mc.sa_ptr, mc.sa_cells, mc.ca_x, mc.ca_y,
            mc.ca_dx, mc.ca_dy, mc.ca_w, s, tau_s, qx, qy, (sn.x - qx) * f0, (sn.y - qy) * f0,
            ras.x0, ras.y0, 1.0 / c, ras.W)
        return _Outline.trace(cells, ras.W, c, ras.x0, ras.y0, min_hole_m2)


def _ranges(starts, ends):
    """The concatenated ``arange(starts[i], ends[i])``."""
    cnt = ends - starts
    cs = np.cumsum(cnt)
    if not len(cs) or cs[-1] == 0:
        return np.empty(0, np.intp)
    return np.arange(cs[-1]) + np.repeat(starts - (cs - cnt), cnt)


class _Raster:
    """A network's fixed grid for drawing isochrones, for one cell size: its
    origin and size (metric CRS, a margin around the nodes), the cell of every
    node, and per mode the cells of the contracted graph (:class:`_ModeCells`)."""

    def __init__(self, net, c: float, margin_m: float):
        self.c = c
        self.x0 = float(net.x.min()) - margin_m
        self.y0 = float(net.y.min()) - margin_m
        self.W = int((float(net.x.max()) + margin_m - self.x0) / c) + 4
        self.H = int((float(net.y.max()) + margin_m - self.y0) / c) + 4
        self.x1 = self.x0 + (self.W - 3) * c
        self.y1 = self.y0 + (self.H - 3) * c
        self.node_flat = (((net.y - self.y0) / c).astype(np.int64) * self.W
                          + ((net.x - self.x0) / c).astype(np.int64))
        self._modes: dict = {}
        self._lock = threading.Lock()

    def mode_cells(self, net, mode):
        mc = self._modes.get(mode)
        if mc is None:
            with self._lock:
                mc = self._modes.get(mode)
                if mc is None:
                    mc = self._modes[mode] = _ModeCells(self, net, mode)
        return mc


class _ModeCells:
    """The cells of a mode's contracted graph (:meth:`Network.core`) on a :class:`_Raster`.

    ``sa_cells[sa_ptr[s]:sa_ptr[s + 1]]``: the cells of super-arc ``s`` (its
    start, the nodes inside, samples every <= 0.7 cell; not its end), each once.
    ``star_cells[star_ptr[k]:star_ptr[k + 1]]``: the *star* of kept node ``k``:
    its own cell and those of the super-arcs drawn from it
    (:attr:`_Core.sa_drawn`), each once.  ``ca_*``: each arc of each super-arc
    (in ``core.ca_*`` order): start, vector (metres), seconds.
    """

    def __init__(self, ras, net, mode):
        core = net.core(mode)
        g = net.graph(mode)
        W, NC = ras.W, ras.W * ras.H
        S = len(core.sa_s)
        nk = len(core.keep)
        a_s, a_t = g.arc_src[core.ca_arc], g.csr.indices[core.ca_arc]
        self.ca_x, self.ca_y = net.x[a_s], net.y[a_s]
        self.ca_dx, self.ca_dy = net.x[a_t] - self.ca_x, net.y[a_t] - self.ca_y
        self.ca_w = np.asarray(g.csr.data[core.ca_arc], dtype=np.float64)
        self.own = ras.node_flat[core.keep]
        gx, gy, cnt = _along(self.ca_x, self.ca_y, self.ca_dx, self.ca_dy, ras.c, ras.x0, ras.y0, end=False)
        key = np.unique(np.repeat(core.ca_sa.astype(np.int64), cnt) * NC
                        + gy.astype(np.int64) * W + gx.astype(np.int64))
        sa_of = key // NC
        self.sa_cells = key - sa_of * NC
        self.sa_ptr = np.zeros(S + 1, np.int64)
        np.cumsum(np.bincount(sa_of, minlength=S), out=self.sa_ptr[1:])
        drawn = np.flatnonzero(core.sa_drawn)
        idx = _ranges(self.sa_ptr[drawn], self.sa_ptr[drawn + 1])
        node = np.concatenate([np.arange(nk), np.repeat(core.sa_src[drawn], np.diff(self.sa_ptr)[drawn])])
        key = np.unique(node.astype(np.int64) * NC + np.concatenate([self.own, self.sa_cells[idx]]))
        node = key // NC
        self.star_cells = key - node * NC
        self.star_ptr = np.zeros(nk + 1, np.int64)
        np.cumsum(np.bincount(node, minlength=nk), out=self.star_ptr[1:])


def _raster(net, resolution_m):
    """The network's :class:`_Raster` for a cell size (built once), None if too large."""
    cache = net.derived.setdefault("raster", {})
    key = float(resolution_m)
    ras = cache.get(key)
    if ras is None and key not in cache:
        margin = max(net.settings.max_snap_m, 500.0) + 4 * key
        cells = ((net.x.max() - net.x.min() + 2 * margin) / key) * ((net.y.max() - net.y.min() + 2 * margin) / key)
        if len(cache) >= 4:
            cache.clear()
        ras = cache[key] = _Raster(net, key, margin) if cells <= 200_000_000 else None
    return ras


def _along(x0, y0, dx, dy, c, ox, oy, *, end: bool = True):
    """Grid coordinates ``(gx, gy, count)`` of samples along segments (floats: floor
    them for the cell; ``count`` per segment).

    A segment of length L gets k = ceil(L / 0.7c) + 1 evenly spaced samples,
    both ends included (the end left out unless ``end``).
    """
    k = np.ceil(np.hypot(dx, dy) * (1.0 / (0.7 * c))).astype(np.intp) + 1
    kk = k if end else k - 1
    cs = np.cumsum(kk)
    S = int(cs[-1]) if len(cs) else 0
    j = np.arange(S, dtype=np.float64) - np.repeat((cs - kk).astype(np.float64), kk)
    j *= np.repeat(1.0 / np.maximum(k - 1, 1), kk)
    gx = np.repeat((x0 - ox) * (1.0 / c), kk) + j * np.repeat(dx * (1.0 / c), kk)
    gy = np.repeat((y0 - oy) * (1.0 / c), kk) + j * np.repeat(dy * (1.0 / c), kk)
    return gx, gy, kk


def _case_tables():
    """Marching-squares tables.  A cell's corners, counter-clockwise from the lower
    left, are bits 1, 2, 4, 8 of its case; its edges 0 bottom, 1 right, 2 top,
    3 left.  Each run of marked corners gets one segment, from the edge where
    the run ends to the edge where it begins, so the inside is on the left;
    the saddles (5, 10) keep their two marked corners apart.  Per case and
    segment (index: case + 16 for a saddle's second segment): its start and
    end edge, and its start and its step in doubled cell coordinates."""
    se = np.zeros((2, 2, 16), np.int64)
    two = np.zeros(32, np.bool_)
    for case in range(1, 15):
        on = [(case >> k) & 1 for k in range(4)]
        segs = []
        for q in range(4):
            if on[q] and not on[(q + 1) % 4]:
                p = q
                while on[(p - 1) % 4]:
                    p = (p - 1) % 4
                segs.append((q, (p - 1) % 4))
        se[0, :, case] = segs[0]
        if len(segs) == 2:
            two[case] = True
            se[1, :, case] = segs[1]
    mx = np.array([1, 2, 1, 0])     # doubled coordinates of each edge's midpoint
    my = np.array([0, 1, 2, 1])
    se = se.transpose(1, 0, 2).reshape(2, 32)     # [start | end edge, case + 16 * segment]
    x0, y0 = mx[se[0]], my[se[0]]
    dx, dy = mx[se[1]] - x0, my[se[1]] - y0
    return se[0].copy(), se[1].copy(), two, x0, y0, dx, dy, (dx + 2) * 8 + dy + 2


_SE0, _SE1, _TWO, _SX, _SY, _DX, _DY, _DIR = _case_tables()


# -- compiled kernels (numba; compiled on first use, cached on disk) ------------------------

def _k_cells(kd, B, out_max, kp, sa_dst, sa_tw, sa_s, sa_ptr, ca_tau, star_ptr, star_cells, own,
            sc_ptr, sc_cells, ca_x, ca_y, ca_dx, ca_dy, ca_w, snap_sa, tau_s, wx, wy, wdx, wdy, ox, oy, inv_c, W):
    """The cells (flat indices on a network's grid) of everything reached: see
    :meth:`_Search.outline`.  ``kd``: seconds to the kept nodes (inf: not
    reached); ``B``: the seconds left at the road; ``(wx, wy, wdx, wdy)``: the
    off-road walk."""

    def room(cells, n, more):
        """``cells`` (``n`` used) if ``more`` fit, else a copy of twice ``n + more``."""
        if n + more <= cells.shape[0]:
            return cells
        grown = np.empty(2 * (n + more), np.int64)
        grown[:n] = cells[:n]
        return grown

    def room2(pieces, npc, more):
        """``pieces`` (``npc`` used) if ``more`` fit, else a copy twice as long."""
        if npc + more <= pieces.shape[0]:
            return pieces
        grown = np.empty((2 * pieces.shape[0], 4))
        grown[:npc] = pieces[:npc]
        return grown

    nk = out_max.shape[0]
    cells = np.empty(16384, np.int64)
    n = 0
    pieces = np.empty((256, 4))
    pieces[0, 0], pieces[0, 1], pieces[0, 2], pieces[0, 3] = wx, wy, wdx, wdy
    npc = 1
    if B >= 0:
        for k in range(nk):
            d = kd[k]
            if not d <= B:
                continue
            left = B - d
            if left >= out_max[k]:
                a, b = star_ptr[k], star_ptr[k + 1]
                cells = room(cells, n, b - a)
                for i in range(a, b):
                    cells[n] = star_cells[i]
                    n += 1
                continue
            cells = room(cells, n, 1)
            cells[n] = own[k]
            n += 1
            for s in range(kp[k], kp[k + 1]):
                T = sa_s[s]
                lb = -1.0                       # seconds left at the far end, going back (two-way)
                if sa_tw[s]:
                    db = kd[sa_dst[s]]
                    if db <= B:
                        lb = B - db
                if left + max(lb, 0.0) >= T:    # travelled in full, from one end or the two
                    a, b = sc_ptr[s], sc_ptr[s + 1]
                    cells = room(cells, n, b - a)
                    for i in range(a, b):
                        cells[n] = sc_cells[i]
                        n += 1
                    continue
                for a in range(sa_ptr[s], sa_ptr[s + 1]):
                    w = ca_w[a]
                    if not w > 0:
                        continue
                    t0 = ca_tau[a]
                    fa = min((left - t0) / w, 1.0)
                    fb = min((lb - (T - t0 - w)) / w, 1.0) if lb >= 0 else 0.0
                    pieces = room2(pieces, npc, 2)
                    if fa > 0:                  # from the arc's start
                        pieces[npc, 0], pieces[npc, 1] = ca_x[a], ca_y[a]
                        pieces[npc, 2], pieces[npc, 3] = ca_dx[a] * fa, ca_dy[a] * fa
                        npc += 1
                    if fb > 0:                  # back from its end
                        pieces[npc, 0], pieces[npc, 1] = ca_x[a] + ca_dx[a], ca_y[a] + ca_dy[a]
                        pieces[npc, 2], pieces[npc, 3] = -ca_dx[a] * fb, -ca_dy[a] * fb
                        npc += 1
        # the query's own super-arc, from the point on it, both ways (back only if two-way)
        lo = tau_s - B if sa_tw[snap_sa] else tau_s
        hi = tau_s + B
        for a in range(sa_ptr[snap_sa], sa_ptr[snap_sa + 1]):
            w = ca_w[a]
            if not w > 0:
                continue
            g0 = max((lo - ca_tau[a]) / w, 0.0)
            g1 = min((hi - ca_tau[a]) / w, 1.0)
            if g1 > g0:
                pieces = room2(pieces, npc, 1)
                pieces[npc, 0], pieces[npc, 1] = ca_x[a] + ca_dx[a] * g0, ca_y[a] + ca_dy[a] * g0
                pieces[npc, 2], pieces[npc, 3] = ca_dx[a] * (g1 - g0), ca_dy[a] * (g1 - g0)
                npc += 1
    # sample the pieces every <= 0.7 cell, both ends included
    step = 0.7 / inv_c
    for p in range(npc):
        x, y, dx, dy = pieces[p, 0], pieces[p, 1], pieces[p, 2], pieces[p, 3]
        m = int(math.ceil(math.sqrt(dx * dx + dy * dy) / step)) + 1
        cells = room(cells, n, m)
        for j in range(m):
            f = j / (m - 1) if m > 1 else 0.0
            cells[n] = int((y + f * dy - oy) * inv_c) * W + int((x + f * dx - ox) * inv_c)
            n += 1
    return cells[:n]


def _k_trace(cells, W, max_cells, min_hole_cells):
    """Trace the marked cells (flat indices on a grid ``W`` wide, not on its
    edge): each marks its four corner nodes, and the boundary runs half way
    between marked and unmarked nodes (marching squares on 0/1, what
    contourpy draws at level 0.5; saddles keep their two marked corners
    apart, so marked nodes are 4-connected inside).

    Returns ``(xy, ring_off, poly_off, area, (row, col))``: closed rings (last
    vertex = first) in doubled node coordinates of a lattice whose node
    [0, 0] is the lower-left corner of grid cell ``(row, col)``, vertices in
    the middle of straight runs left out; each polygon's shell
    (counter-clockwise) followed by its holes (clockwise); ``area`` in
    cells², holes smaller than ``min_hole_cells`` filled (their rings left
    out).  ``area`` is -1 (and nothing traced) when the lattice would have
    more than ``max_cells`` nodes.
    """
    inv_w = 1.0 / W
    r0, r1, c0, c1 = 1 << 62, -1, 1 << 62, -1
    for i in range(cells.shape[0]):
        r = int((cells[i] + 0.5) * inv_w)
        col = cells[i] - r * W
        r0, r1, c0, c1 = min(r0, r), max(r1, r), min(c0, col), max(c1, col)
    h = r1 - r0 + 4
    w = c1 - c0 + 4
    hw = h * w
    if cells.shape[0] == 0 or hw > max_cells:
        return np.zeros((0, 2), np.int64), np.zeros(1, np.int64), np.zeros(1, np.int64), -1.0, (0, 0)
    M = np.zeros(hw, np.uint8)              # the nodes: every corner of a marked cell
    for i in range(cells.shape[0]):
        r = int((cells[i] + 0.5) * inv_w)
        q = (r - r0 + 1) * w + (cells[i] - r * W - c0 + 1)
        M[q] = 1
        M[q + 1] = 1
        M[q + w] = 1
        M[q + w + 1] = 1
    C = np.zeros(hw, np.uint8)              # the case of each cell; the cells on the boundary
    bq = np.empty(hw, np.int64)
    nq = 0
    nb = 0
    for q in range(hw - w - 1):
        case = M[q] | (M[q + 1] << 1) | (M[q + w + 1] << 2) | (M[q + w] << 3)
        C[q] = case
        if 0 < case < 15:
            bq[nq] = q
            nq += 1
            nb += 2 if case == 5 or case == 10 else 1
    step_q = np.array([-w, 1, w, -1])        # out through edge e: the next cell, row and column
    step_i = np.array([-1, 0, 1, 0])
    step_j = np.array([0, 1, 0, -1])
    seen = np.zeros(hw, np.uint8)           # bit 1: the cell's (first) segment followed, bit 2: its second
    vx = np.empty(nb + nb // 4 + 2, np.int64)
    vy = np.empty(nb + nb // 4 + 2, np.int64)
    nv = 0
    r_start = np.empty(nb // 4 + 1, np.int64)   # each ring: its vertices vx[r_start:r_end], area, a node inside
    r_end = np.empty(nb // 4 + 1, np.int64)
    r_area = np.empty(nb // 4 + 1)
    r_node = np.empty(nb // 4 + 1, np.int64)
    nr = 0
    for b in range(nq):
        q0 = bq[b]
        case0 = C[q0]
        for second in range(2):
            if second and not _TWO[case0]:
                break
            if seen[q0] & (1 << second):
                continue
            code0 = case0 + 16 * second
            # a node inside: the marked end of the segment's start edge
            e = _SE0[code0]
            a = q0 if e == 0 or e == 3 else (q0 + 1 if e == 1 else q0 + w + 1)
            r_node[nr] = a if M[a] else (q0 + 1 if e == 0 else (q0 + w + 1 if e == 1 else q0 + w))
            i = q0 // w
            j = q0 - i * w
            q, code = q0, code0
            start = nv
            area = 0
            first_dir = _DIR[code0]
            last_dir = -1
            while True:
                seen[q] |= 2 if code >= 16 else 1
                x2 = 2 * j + _SX[code]
                y2 = 2 * i + _SY[code]
                area += x2 * _DY[code] - _DX[code] * y2
                d = _DIR[code]
                if d != last_dir:
                    vx[nv] = x2
                    vy[nv] = y2
                    nv += 1
                    last_dir = d
                e = _SE1[code]                  # out through this edge, into the next cell
                q += step_q[e]
                i += step_i[e]
                j += step_j[e]
                case = C[q]
                code = case if _SE0[case] == (e + 2) % 4 else case + 16
                if q == q0 and code == code0:
                    break
            if last_dir == first_dir:           # the first vertex is in the middle of a run
                start += 1
            vx[nv] = vx[start]                  # close the ring
            vy[nv] = vy[start]
            nv += 1
            r_start[nr], r_end[nr], r_area[nr] = start, nv, area * 0.125
            nr += 1
    # polygons: a shell, then the holes kept in it (a hole and its shell bound the same
    # 4-connected piece of marked nodes)
    shells = 0
    for r in range(nr):
        if r_area[r] > 0:
            shells += 1
    poly_of = np.full(nr, -1, np.int64)
    p = 0
    if shells == 1:
        for r in range(nr):
            if r_area[r] > 0 or r_area[r] <= -min_hole_cells:
                poly_of[r] = 0
    else:
        lab = np.zeros(hw, np.int64)
        stack = np.empty(hw, np.int64)
        nl = 0
        for q in range(hw):
            if M[q] and lab[q] == 0:
                nl += 1
                lab[q] = nl
                stack[0] = q
                top = 1
                while top:
                    top -= 1
                    t = stack[top]
                    for u in (t - 1, t + 1, t - w, t + w):
                        if M[u] and lab[u] == 0:
                            lab[u] = nl
                            stack[top] = u
                            top += 1
        poly_of_lab = np.full(nl + 1, -1, np.int64)
        for r in range(nr):
            if r_area[r] > 0:
                poly_of_lab[lab[r_node[r]]] = p
                p += 1
        for r in range(nr):
            if r_area[r] > 0 or r_area[r] <= -min_hole_cells:
                poly_of[r] = poly_of_lab[lab[r_node[r]]]
    # rings in order: by polygon, the shell first
    nkept = 0
    count = np.zeros(shells + 1, np.int64)
    for r in range(nr):
        if poly_of[r] >= 0:
            count[poly_of[r] + 1] += 1
            nkept += 1
    for k in range(shells):
        count[k + 1] += count[k]
    order = np.empty(nkept, np.int64)
    fill = count[:shells].copy()
    for r in range(nr):                         # shells first within each polygon
        if poly_of[r] >= 0 and r_area[r] > 0:
            order[fill[poly_of[r]]] = r
            fill[poly_of[r]] += 1
    for r in range(nr):
        if poly_of[r] >= 0 and not r_area[r] > 0:
            order[fill[poly_of[r]]] = r
            fill[poly_of[r]] += 1
    xy = np.empty((nv, 2), np.int64)
    ring_off = np.zeros(nkept + 1, np.int64)
    no = 0
    total = 0.0
    for k in range(nkept):
        r = order[k]
        for t in range(r_start[r], r_end[r]):
            xy[no, 0] = vx[t]
            xy[no, 1] = vy[t]
            no += 1
        ring_off[k + 1] = no
        total += r_area[r]
    return xy[:no], ring_off, count, total, (r0 - 1, c0 - 1)


def _kernels():
    """``(k_cells, k_trace)`` compiled (:func:`stationmap.jit.compiled`)."""
    return compiled(_k_cells), compiled(_k_trace)


class _Outline:
    """A traced isochrone: closed rings in metric coordinates (``xy``; ring ``i``
    is ``xy[ring_off[i]:ring_off[i + 1]]``, polygon ``j`` the rings
    ``poly_off[j]:poly_off[j + 1]``, shell first), its area (m²) and the cell size."""

    def __init__(self, xy, ring_off, poly_off, area_m2, cell):
        self.xy, self.ring_off, self.poly_off = xy, ring_off, poly_off
        self.area_m2, self.cell = area_m2, cell

    @classmethod
    def trace(cls, cells, W, c, ox, oy, min_hole_m2, *, max_cells: int = _MAX_CELLS):
        """Trace marked cells (flat indices on a grid ``W`` wide whose cell
        ``(i, j)`` has its lower-left corner at ``(ox + j c, oy + i c)``; none
        on the grid's edge).  None when the area would take more than
        ``max_cells`` cells."""
        _, k_trace = _kernels()
        xy2, ring_off, poly_off, area, (row, col) = k_trace(cells, W, max_cells, float(min_hole_m2) / (c * c))
        if area < 0 and len(cells):
            return None
        xy = np.empty(xy2.shape)
        xy[:, 0] = xy2[:, 0] * (0.5 * c) + (ox + col * c)
        xy[:, 1] = xy2[:, 1] * (0.5 * c) + (oy + row * c)
        return cls(xy, ring_off, poly_off, max(area, 0.0) * c * c, c)

    def geometry(self, transform=None):
        """A shapely Polygon or MultiPolygon (empty MultiPolygon if nothing), in metric
        coordinates or through ``transform(x, y) -> (n, 2) array`` (such as
        :meth:`Network.lonlat_points`)."""
        import shapely

        if len(self.poly_off) < 2:
            return shapely.MultiPolygon()
        xy = self.xy
        if transform is not None:
            xy = transform(xy[:, 0], xy[:, 1])
        polys = shapely.from_ragged_array(shapely.GeometryType.POLYGON, xy, (self.ring_off, self.poly_off))
        return polys[0] if len(polys) == 1 else shapely.MultiPolygon(list(polys))


def _samples(x0, y0, dx, dy, full, c, ox, oy):
    """Grid coordinates of samples along segments (as :func:`_along`): the end left
    out where ``full`` (a node, drawn anyway)."""
    if full is None:
        gx, gy, _ = _along(x0, y0, dx, dy, c, ox, oy)
        return gx, gy
    full = np.asarray(full, dtype=bool)
    a = _along(x0[full], y0[full], dx[full], dy[full], c, ox, oy, end=False)
    b = _along(x0[~full], y0[~full], dx[~full], dy[~full], c, ox, oy)
    return np.concatenate([a[0], b[0]]), np.concatenate([a[1], b[1]])


def pieces_polygon(x0, y0, dx, dy, full=None, *, resolution_m: float = RESOLUTION_M,
                   min_hole_m2: float = MIN_HOLE_M2):
    """A polygon (metric coordinates) holding every segment ``(x0, y0) -> (x0 + dx, y0 + dy)``.

    Each segment is sampled every 0.7 cell or closer, both ends included
    (``full`` may mark segments whose end point starts another segment: it
    is not sampled twice).  Every sample marks the four grid nodes of its
    cell and the grid is traced half way between marked and unmarked nodes
    (:func:`_k_trace`), so each segment lies inside: a cell a segment crosses
    without a sample is a corner clip shorter than 0.7 cell between two
    sampled cells, and three of its four nodes are marked.  Holes smaller
    than ``min_hole_m2`` are filled.  Returns ``(geometry, cell_m)``;
    ``cell_m`` grows past ``resolution_m`` only for areas beyond 4 million cells.
    """
    out = _pieces_outline(x0, y0, dx, dy, full, resolution_m=resolution_m, min_hole_m2=min_hole_m2)
    return out.geometry(), out.cell


def _pieces_outline(x0, y0, dx, dy, full=None, *, resolution_m: float = RESOLUTION_M,
                    min_hole_m2: float = MIN_HOLE_M2):
    """:func:`pieces_polygon` as an :class:`_Outline` (on a grid of its own)."""
    x0, y0, dx, dy = (np.asarray(a, dtype=np.float64) for a in (x0, y0, dx, dy))
    if len(x0) == 0:
        return _Outline(np.empty((0, 2)), np.zeros(1, np.int64), np.zeros(1, np.int64), 0.0, resolution_m)
    x1, y1 = x0 + dx, y0 + dy
    xmin = float(min(x0.min(), x1.min()))
    ymin = float(min(y0.min(), y1.min()))
    xmax = float(max(x0.max(), x1.max()))
    ymax = float(max(y0.max(), y1.max()))
    c = float(resolution_m)
    if (xmax - xmin) * (ymax - ymin) / (c * c) > _MAX_CELLS:
        c = math.sqrt((xmax - xmin) * (ymax - ymin) / _MAX_CELLS)
    ox, oy = xmin - 1.5 * c, ymin - 1.5 * c       # (a margin: samples are computed with rounding)
    W = int((xmax - ox) / c) + 3
    gx, gy = _samples(x0, y0, dx, dy, full, c, ox, oy)
    cells = gy.astype(np.int64) * W + gx.astype(np.int64)
    return _Outline.trace(cells, W, c, ox, oy, min_hole_m2, max_cells=1 << 62)


def _candidate_slots(index, lon, lat, radius_m, *, kinds, services, open_at, net=None):
    """Index slots and straight-line metres (arrays) of the stations that may be reached: within
    ``radius_m`` (None: anywhere on ``net``), filtered as :meth:`StationIndex.within_slots`."""
    if index is None:
        return np.empty(0, np.int64), np.empty(0)
    if radius_m is not None:
        return index.within_slots(lon, lat, radius_m, kinds=kinds, services=services, open_at=open_at)
    w, s, e, n = net.bounds
    pad = net.settings.max_snap_m / 111_000.0
    padx = pad / max(math.cos(math.radians(lat)), 1e-6)
    slots = index.bbox_slots(max(w - padx, -180), max(s - pad, -90), min(e + padx, 180), min(n + pad, 90),
                             kinds=kinds, services=services, open_at=open_at, include_closed=False)
    if not len(slots):
        return slots, np.empty(0)
    lons, lats = index.lonlat(slots)
    return slots, distances_m(lon, lat, lons, lats)


# -- the public functions ------------------------------------------------------------------

def prepare(networks, *, resolution_m: float = RESOLUTION_M) -> None:
    """Build everything the first query would (mode graphs, snapping grids and the
    ranking's compiled searches: :meth:`Network.prepare`; the contracted graphs, the
    isochrone grid and its cells per mode, the fast lon/lat transform, the isochrone's
    compiled kernels) now: call it once at start, so no request pays for it."""
    for net in _networks(networks):
        net.prepare()
        ras = _raster(net, float(resolution_m))
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
                _Search(net, sn, mode, 1.0, lon, lat).outline(resolution_m=float(resolution_m))
                break


def isochrone(lon: float, lat: float, minutes: float = 15.0, mode: str = "ebike", *, network=None,
              index=None, method: str = "auto", kinds=None, services=None,
              open_at: datetime | None = None, resolution_m: float = RESOLUTION_M,
              min_hole_m2: float = MIN_HOLE_M2, settings=None) -> Isochrone:
    """The area reachable from a WGS-84 point in ``minutes`` by ``mode``, and the stations in it.

    Parameters
    ----------
    lon, lat : WGS-84 degrees
    minutes : travel time, in (0, 180]
    mode : one of :data:`stationmap.config.MODES`
    network : a Network, a list or a {name: Network} mapping (the first covering the point is used)
    index : a StationIndex (optional); stations filtered by ``kinds`` (any), ``services`` (all),
        ``open_at`` (open then); closed stations are left out
    method : "auto" (network where one covers the point, else circle), "network" or "circle"
    resolution_m : grid cell of the polygon, metres
    min_hole_m2 : holes smaller than this are filled
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
    net, snap = _choose_network(network, lon, lat, mode, method, settings)
    settings = settings or (net.settings if net is not None else _config.load())
    budget = minutes * 60.0
    if net is None:
        return _circle_isochrone(lon, lat, minutes, mode, index, kinds, services, open_at, settings)
    search = _Search(net, snap, mode, budget, lon, lat)
    out = search.outline(resolution_m=resolution_m, min_hole_m2=min_hole_m2)
    if out is None:     # beyond the network's grid: the reached pieces on a grid of their own
        out = _pieces_outline(*search.pieces(), resolution_m=resolution_m, min_hole_m2=min_hole_m2)
    poly, area, cell = out.geometry(net.lonlat_points), out.area_m2 / 1e6, out.cell
    filters = {"kinds": kinds, "services": services, "open_at": open_at}
    stations = _rank_within(net, snap, index, lon, lat, mode, budget, None, filters)
    return Isochrone(lon, lat, minutes, mode, "network", poly, area, stations, net.name,
                     snap.distance_m, cell)


def _circle_polygon(lon, lat, radius_m, n=72):
    """The geodesic circle as a lon/lat polygon, its longitudes continuous around the
    centre (near the antimeridian they pass ±180: see :func:`_cut_at_antimeridian`)."""
    import shapely

    az = np.linspace(0.0, 360.0, n, endpoint=False)
    plon, plat, _ = GEOD.fwd(np.full(n, lon), np.full(n, lat), az, np.full(n, radius_m))
    plon = lon + (plon - lon + 180.0) % 360.0 - 180.0
    return shapely.Polygon(np.column_stack([plon, plat])[::-1])


def _cut_at_antimeridian(poly):
    """``poly`` with the parts beyond ±180° moved back by 360° (a MultiPolygon then), as
    GeoJSON wants it (RFC 7946, 3.1.9); ``poly`` itself where it stays within."""
    import shapely
    from shapely import affinity

    w, _s, e, _n = poly.bounds
    if w >= -180.0 and e <= 180.0:
        return poly
    parts = []
    for shift in (-360.0, 0.0, 360.0):
        piece = poly.intersection(shapely.box(-180.0 - shift, -90.0, 180.0 - shift, 90.0))
        if not piece.is_empty:
            piece = affinity.translate(piece, xoff=shift)
            parts.extend(getattr(piece, "geoms", [piece]))
    return shapely.MultiPolygon([p for p in parts if p.geom_type == "Polygon" and p.area > 0])


def _circle_times(hits, mode, settings) -> list:
    """StationTime of index hits (``station``, ``distance_m``) by the circle estimate
    (:func:`circle_minutes`; the route ``straight_m x detour_factor``), in their order
    (on Python floats: a ranking has a handful, where numpy costs more than it saves)."""
    per_m, detour = minutes_per_metre(mode, settings), settings.detour_factor
    return [StationTime(h.station, h.distance_m * per_m, h.distance_m * detour, h.distance_m) for h in hits]


def _circle_isochrone(lon, lat, minutes, mode, index, kinds, services, open_at, settings):
    r = circle_radius_m(minutes, mode, settings)
    poly = _circle_polygon(lon, lat, r)
    area = abs(GEOD.geometry_area_perimeter(poly)[0]) / 1e6    # on the ellipsoid (whatever the longitude)
    stations = []
    if index is not None:
        stations = _circle_times(index.within(lon, lat, r, kinds=kinds, services=services, open_at=open_at),
                                 mode, settings)
    return Isochrone(lon, lat, minutes, mode, "circle", _cut_at_antimeridian(poly), float(area), stations)


def _rank_within(net, snap, index, lon, lat, mode, budget_s, k, filters):
    """The first ``k`` stations (None: all) reached within ``budget_s`` seconds, fastest
    first: only stations inside the straight-line radius the fastest road speed covers in
    that time can be reached, and the search goes no farther than the budget."""
    radius = net.max_speed_mps(mode) * budget_s * (1.0 + 1e-6) + 1.0
    slots, straight = _candidate_slots(index, lon, lat, radius, **filters)
    return _fastest(net, snap, mode, index, slots, straight, len(slots) if k is None else k, budget_s)


def _fastest(net, snap, mode, index, slots, straight, k, budget_s=np.inf, *, strict=False):
    """The ``k`` fastest of the candidate stations (index ``slots``, ``straight`` metres away)
    reached within ``budget_s`` (``strict``: in less; StationTime, fastest first, ties by id): one
    :meth:`~stationmap.network.Network.nearest_targets` search, which stops once the
    ``k`` fastest are known; metres along the way for those ``k`` only."""
    if not len(slots):
        return []
    off_s = snap.distance_m / net.walk_mps()
    e, t, d_off = net.snap_slots(index, slots, mode=mode)
    att_node, att_target, att_s, n_fwd, direct, cost = net.attachments(snap, e, t, d_off, mode=mode)
    tgt, total, _, att, pred = net.nearest_targets(
        snap, mode=mode, k=k, att_node=att_node, att_target=att_target, att_s=att_s, direct_s=direct,
        cost_s=cost, limit_s=budget_s - off_s)
    keep = np.isfinite(total) & ((total < budget_s) if strict else (total <= budget_s + 1e-9))
    tgt, total, att = tgt[keep], total[keep], att[keep]
    if not len(tgt):
        return []
    stations = [index.station_at(s) for s in slots[tgt].tolist()]
    minutes = (total / 60.0).tolist()
    order = sorted(range(len(tgt)), key=lambda i: (minutes[i], stations[i].id))[:k]
    tgt, total, att = tgt[order], total[order], att[order]
    stations = [stations[i] for i in order]
    # metres: to the node the way came through, then along the edge (or just along it)
    L = net.edge_length_m[e[tgt]]
    tt = t[tgt]
    via = np.where(att >= 0, att_node[np.maximum(att, 0)], 0)
    at_node = net.node_lengths(snap, pred, via, mode=mode)
    road_m = np.where(att < 0, np.abs(tt - snap.t) * L,
                      at_node + np.where((att >= 0) & (att < n_fwd), tt, 1.0 - tt) * L)
    metres = snap.distance_m + road_m + d_off[tgt]
    return [StationTime(st, s / 60.0, m, d)
            for st, s, m, d in zip(stations, total.tolist(), metres.tolist(), straight[tgt].tolist())]


#: rounds of :func:`_rank_nearest` with more candidates before it takes every station on the network
_ROUNDS = 3
#: :func:`_rank_nearest`'s first candidates: this many times ``k``
_FIRST_CANDIDATES = 8


def _rank_nearest(net, snap, index, lon, lat, mode, k, filters):
    """The ``k`` stations fastest to reach, with no time limit (exact).

    Timing every station on the network costs milliseconds; the answer is
    usually a few minutes away.  So: the ``8 k`` stations nearest by straight
    line are the candidates.  Every other station is at least as far as the
    farthest of them, ``d``, and no way to it (off-road walks included) is
    faster than the mode's top speed, so it takes at least ``d / top speed``:
    the candidates timed faster than that (:func:`_fastest`, whose search stops
    there too) are the fastest of all stations.  If fewer than ``k`` are, four
    times the candidates, and so on; after :data:`_ROUNDS` rounds, every
    station on the network.
    """
    if index is None:
        return []
    vmax = net.max_speed_mps(mode)
    want = _FIRST_CANDIDATES * k
    nearest_kw = {"kinds": filters["kinds"] or None, "services": filters["services"] or None,
                  "open_at": filters["open_at"]}
    for _ in range(_ROUNDS):
        slots, straight = index.nearest_slots(lon, lat, k=min(want, MAX_K), **nearest_kw)
        if not len(slots):
            return []
        everyone = len(slots) < min(want, MAX_K)
        # (straight-line metres from the index are geodesic; road lengths are measured in the
        # network's projection: a thousandth of slack covers its scale error)
        bound = np.inf if everyone else float(straight[-1]) / vmax * (1.0 - 1e-3)
        ranked = _fastest(net, snap, mode, index, slots, straight, k, bound, strict=True)
        if len(ranked) >= k or everyone:
            return ranked
        if want >= MAX_K:
            break
        want *= 4
    slots, straight = _candidate_slots(index, lon, lat, None, net=net, **filters)
    return _fastest(net, snap, mode, index, slots, straight, k)


def rank_stations(network, index, lon: float, lat: float, *, mode: str = "ebike",
                  minutes: float | None = None, k: int = 5, kinds=None, services=None,
                  open_at: datetime | None = None, method: str = "auto", settings=None) -> Ranking:
    """The ``k`` stations fastest to reach from a WGS-84 point, fastest first.

    Parameters
    ----------
    network : a Network, a list, a {name: Network} mapping, or None (circle only)
    index : StationIndex
    lon, lat : WGS-84 degrees
    mode : one of :data:`stationmap.config.MODES`
    minutes : only stations within this many minutes (None: no limit)
    k : how many, 1..1000
    kinds, services, open_at : as :meth:`StationIndex.nearest`; closed stations are left out
    method : "auto", "network" or "circle"; the result's ``method`` says which was used

    Returns
    -------
    Ranking
        ``stations``: StationTime (minutes, distance_m along the roads, straight_m).
    """
    lon, lat = check_point(lon, lat)
    check_mode(mode)
    minutes = check_minutes(minutes, allow_none=True)
    k = check_k(k)
    check_method(method)
    net, snap = _choose_network(network, lon, lat, mode, method, settings)
    settings = settings or (net.settings if net is not None else _config.load())
    if net is None:
        if index is None:
            hits = []
        elif minutes is None:
            hits = index.nearest(lon, lat, k=k, kinds=kinds or None, services=services or None,
                                 open_at=open_at)
        else:
            hits = index.within(lon, lat, circle_radius_m(minutes, mode, settings), kinds=kinds,
                                services=services, open_at=open_at)[:k]
        return Ranking(lon, lat, mode, "circle", minutes, _circle_times(hits, mode, settings))
    filters = {"kinds": kinds, "services": services, "open_at": open_at}
    if minutes is not None:
        ranked = _rank_within(net, snap, index, lon, lat, mode, minutes * 60.0, k, filters)
    else:
        ranked = _rank_nearest(net, snap, index, lon, lat, mode, k, filters)
    return Ranking(lon, lat, mode, "network", minutes, ranked, net.name, snap.distance_m)
