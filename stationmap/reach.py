"""Reach: how far a worker gets in so many minutes, and which stations are that close.

Two methods, and a chooser:

``network``
    Minutes on the roads of a :class:`~stationmap.network.Network`: the query
    point is snapped to the nearest road open to the mode (the off-road part
    walked), scipy's Dijkstra runs with a time limit, and stations (snapped
    the same way) get their travel time and the length of their route.
``circle``
    The straight-line estimate where no network covers the point:
    ``minutes = distance x detour_factor / speed`` (:func:`circle_minutes`).
``auto``
    ``network`` when a configured network covers the point (inside its extent
    and within ``settings.max_snap_m`` of a road), ``circle`` elsewhere.  Every
    result says which method it used.

The isochrone polygon is the set of reached road pieces (whole edges, and
edges cut where the time runs out) drawn onto a grid of ``resolution_m`` cells
in the network's UTM zone and traced (contourpy).  Each piece is sampled
every 0.7 cell and every sample marks the four corners of its cell, so every
reached piece lies inside the polygon and the band around a lone road is
about one cell wide on each side; holes smaller than ``min_hole_m2`` (city
blocks) are filled.  The samples of whole edges are computed once per
network on a fixed grid (:class:`_Raster`); a query only gathers them and
samples the few edges cut by the time limit.  This is two orders of magnitude
faster than buffering and unioning the pieces with GEOS (about 4 ms for a
15-minute e-bike isochrone on SIP, ``benchmarks/bench_network.py``) and draws
the same shape at a map's scale.  The area is measured in that UTM projection.

Stations are snapped like the query point; snaps are cached per network and
mode by the station's coordinates, so a moved or new station is snapped on
its next query and an unchanged one never again (no revision to track).

All coordinates in and out are WGS-84 (lon, lat); distances metres; times
minutes unless a name says seconds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import numpy as np

from stationmap import config as _config
from stationmap.config import MODES
from stationmap.coords import GEOD, utm_crs_for
from stationmap.errors import ValidationError
from stationmap.index import check_point, distances_m
from stationmap.model import Station

METHODS = ("auto", "network", "circle")
MAX_MINUTES = 180.0
MAX_K = 1000
#: default grid cell of the isochrone polygon, metres
RESOLUTION_M = 30.0
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

def circle_minutes(distance_m, mode: str = "ebike", settings=None):
    """Straight-line estimate of travel minutes: ``distance_m x detour_factor / speed``.

    ``distance_m`` is a geodesic distance in metres (a float or an array);
    speed and detour factor come from ``settings`` (default: :func:`stationmap.config.load`).
    """
    settings = settings or _config.load()
    v = settings.speed_kmh(check_mode(mode)) / 3.6
    d = np.asarray(distance_m, dtype=float) * settings.detour_factor / v / 60.0
    return float(d) if d.ndim == 0 else d


def circle_radius_m(minutes: float, mode: str = "ebike", settings=None) -> float:
    """The straight-line radius the circle estimate reaches in ``minutes`` (metres)."""
    settings = settings or _config.load()
    return float(minutes) * 60.0 * settings.speed_kmh(check_mode(mode)) / 3.6 / settings.detour_factor


# -- results ------------------------------------------------------------------------

@dataclass
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
    nothing is reached); ``area_km2`` is measured in a UTM projection;
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
        if hasattr(shapely, "orient_polygons"):     # shapely >= 2.1; contourpy's rings already are
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
    check_method(method)
    check_mode(mode)
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
    """One Dijkstra from a snapped point, with the budget left after the off-road walk."""

    def __init__(self, net, snap, mode, budget_s, lon, lat, *, predecessors=False):
        self.net, self.snap, self.mode = net, snap, mode
        self.lon_q, self.lat_q = lon, lat
        self.g = net.graph(mode)
        self.off_s = snap.distance_m / net.walk_mps()
        self.budget_s = budget_s
        self.limit_s = budget_s - self.off_s
        if self.limit_s < 0:
            n = net.n_nodes
            self.dist = np.full(n + 1, np.inf)
            self.pred = np.full(n + 1, -9999, np.int32)
        elif predecessors:
            self.dist, self.pred = net.search(snap, mode=mode, limit_s=self.limit_s, predecessors=True)
        else:
            self.dist, self.pred = net.search(snap, mode=mode, limit_s=self.limit_s), None
        self._lengths = None

    def lengths(self):
        if self._lengths is None:
            if self.pred is None:
                self.dist, self.pred = self.net.search(self.snap, mode=self.mode, limit_s=self.limit_s,
                                                       predecessors=True)
            self._lengths = self.net.path_lengths(self.snap, self.pred, mode=self.mode)
        return self._lengths

    def station_times(self, stations):
        """(seconds, metres) arrays for stations (inf where not reached within the budget)."""
        net, g, sn = self.net, self.g, self.snap
        if not stations:
            return np.empty(0), np.empty(0)
        e, t, d_off = net.snap_stations(stations, mode=self.mode)
        ok = (e >= 0) & (d_off <= net.settings.max_snap_m)
        e = np.where(ok, e, 0)
        u, v = net.edge_u[e], net.edge_v[e]
        T = g.edge_s[e]
        L = net.edge_length_m[e]
        dist = self.dist
        lens = self.lengths()
        with np.errstate(invalid="ignore"):
            via_u = np.where(g.can_fwd[e], dist[u] + t * T, np.inf)
            via_v = np.where(g.can_back[e], dist[v] + (1.0 - t) * T, np.inf)
            same = e == sn.edge
            ahead = same & (t >= sn.t) & g.can_fwd[e]
            behind = same & (t <= sn.t) & g.can_back[e]
            direct = np.where(ahead | behind, np.abs(t - sn.t) * T, np.inf)
        best = np.minimum(np.minimum(via_u, via_v), direct)
        road_m = np.where(best == direct, np.abs(t - sn.t) * L,
                          np.where(best == via_u, lens[u] + t * L, lens[v] + (1.0 - t) * L))
        secs = self.off_s + best + d_off / net.walk_mps()
        secs = np.where(ok & np.isfinite(best), secs, np.inf)
        metres = np.where(np.isfinite(secs), sn.distance_m + road_m + d_off, np.inf)
        return secs, metres

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
        qx, qy = net.to_xy(self.lon_q, self.lat_q)
        f0 = 1.0 if self.off_s <= self.budget_s else self.budget_s / self.off_s
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

    def polygon(self, *, resolution_m: float = RESOLUTION_M, min_hole_m2: float = MIN_HOLE_M2):
        """The reached area as ``(geometry in metric coordinates, cell_m)``.

        Same result as :func:`pieces_polygon` over :meth:`pieces`, faster: whole
        edges take their samples from the network's precomputed grid
        (:class:`_Raster`); only the pieces cut by the time limit are sampled here.
        """
        net = self.net
        ex0, ey0, edx, edy = self._extra()
        r, s, tt, f, full, arc = self._arcs()
        part = np.flatnonzero(~full)
        px0, py0 = net.x[s[part]], net.y[s[part]]
        pdx = (net.x[tt[part]] - px0) * f[part]
        pdy = (net.y[tt[part]] - py0) * f[part]
        # the bounding box: reached nodes, the ends of cut pieces and the extra pieces
        xs = [ex0, ex0 + edx, px0 + pdx]
        ys = [ey0, ey0 + edy, py0 + pdy]
        if len(r):
            xr, yr = net.x[r], net.y[r]
            xs += [xr.min(keepdims=True), xr.max(keepdims=True)]
            ys += [yr.min(keepdims=True), yr.max(keepdims=True)]
        xmin, xmax = min(float(a.min()) for a in xs if len(a)), max(float(a.max()) for a in xs if len(a))
        ymin, ymax = min(float(a.min()) for a in ys if len(a)), max(float(a.max()) for a in ys if len(a))
        ras = _raster(net, resolution_m)
        if ras is None or not (ras.x0 <= xmin and xmax < ras.x1 and ras.y0 <= ymin and ymax < ras.y1):
            return pieces_polygon(*self.pieces(), resolution_m=resolution_m, min_hole_m2=min_hole_m2)
        c = ras.c
        c0 = int((xmin - ras.x0) / c)
        r0 = int((ymin - ras.y0) / c)
        c1 = int((xmax - ras.x0) / c) + 2
        r1 = int((ymax - ras.y0) / c) + 2
        if (c1 - c0 + 1) * (r1 - r0 + 1) > _MAX_CELLS:     # a huge area: coarser cells
            return pieces_polygon(*self.pieces(), resolution_m=resolution_m, min_hole_m2=min_hole_m2)
        W = ras.W
        # whole edges: their interior samples, precomputed
        eid = self.g.arc_eid[arc[full]]
        a0 = ras.edge_ptr[eid]
        cnt = ras.edge_ptr[eid + 1] - a0
        cs = np.cumsum(cnt)
        tot = int(cs[-1]) if len(cs) else 0
        idx = np.arange(tot) + np.repeat(a0 - (cs - cnt), cnt)
        # cut pieces and the extra pieces: sampled now (start points included)
        gx, gy = _samples(np.concatenate([ex0, px0]), np.concatenate([ey0, py0]),
                          np.concatenate([edx, pdx]), np.concatenate([edy, pdy]), None, c,
                          ras.x0, ras.y0, starts=True)
        flat = np.concatenate([ras.node_flat[r], ras.flat[idx],
                               gy.astype(np.intp) * W + gx.astype(np.intp)]) - r0 * W
        m0 = np.zeros((r1 - r0 + 1) * W, dtype=bool)
        m0[flat] = True
        m0 = m0.reshape(r1 - r0 + 1, W)[:, c0:c1 + 1]
        geom = _trace(m0, c, ras.x0 + c0 * c, ras.y0 + r0 * c, min_hole_m2)
        return geom, c


class _Raster:
    """A network's fixed grid for drawing isochrones: the cell of every node and
    the interior samples of every edge (every <= 0.7 cell), as flat cell indices."""

    def __init__(self, net, c: float, margin_m: float):
        self.c = c
        self.x0 = float(net.x.min()) - margin_m
        self.y0 = float(net.y.min()) - margin_m
        self.W = int((float(net.x.max()) + margin_m - self.x0) / c) + 4
        self.H = int((float(net.y.max()) + margin_m - self.y0) / c) + 4
        self.x1 = self.x0 + (self.W - 3) * c
        self.y1 = self.y0 + (self.H - 3) * c
        u, v = net.edge_u, net.edge_v
        x0, y0 = net.x[u], net.y[u]
        gx, gy, kk = _samples(x0, y0, net.x[v] - x0, net.y[v] - y0, np.ones(len(u), bool), c, self.x0,
                              self.y0, starts=False, counts=True)
        self.flat = gy.astype(np.intp) * self.W + gx.astype(np.intp)
        self.edge_ptr = np.zeros(len(u) + 1, dtype=np.intp)
        np.cumsum(kk, out=self.edge_ptr[1:])
        self.node_flat = (((net.y - self.y0) / c).astype(np.intp) * self.W
                          + ((net.x - self.x0) / c).astype(np.intp))


def _raster(net, resolution_m):
    """The network's :class:`_Raster` for a cell size (built once), None if too large."""
    cache = net.derived.setdefault("raster", {})
    key = float(resolution_m)
    if key not in cache:
        margin = max(net.settings.max_snap_m, 500.0) + 4 * key
        cells = ((net.x.max() - net.x.min() + 2 * margin) / key) * ((net.y.max() - net.y.min() + 2 * margin) / key)
        if len(cache) >= 4:
            cache.clear()
        cache[key] = _Raster(net, key, margin) if cells <= 200_000_000 else None
    return cache[key]


def _samples(x0, y0, dx, dy, full, c, ox, oy, *, starts: bool, counts: bool = False):
    """Grid coordinates (floats; floor them for the cell) of samples along segments.

    A segment of length L gets k = ceil(L / 0.7c) + 1 evenly spaced samples,
    both ends included; the start is left out unless ``starts``, the end where
    ``full`` (it is a node, drawn anyway).
    """
    k = np.ceil(np.hypot(dx, dy) / (0.7 * c)).astype(np.intp) + 1
    kk = k - 1
    if full is not None:
        kk = np.maximum(kk - np.asarray(full, dtype=bool), 0)
    cs = np.cumsum(kk)
    S = int(cs[-1]) if len(cs) else 0
    j = np.arange(1, S + 1, dtype=np.float64) - np.repeat((cs - kk).astype(np.float64), kk)
    j *= np.repeat(1.0 / np.maximum(k - 1, 1), kk)
    gx0, gy0 = (x0 - ox) / c, (y0 - oy) / c
    gx = np.repeat(gx0, kk) + j * np.repeat(dx / c, kk)
    gy = np.repeat(gy0, kk) + j * np.repeat(dy / c, kk)
    if starts:
        gx = np.concatenate([gx0, gx])
        gy = np.concatenate([gy0, gy])
    return (gx, gy, kk) if counts else (gx, gy)


def _trace(m0, c, ox, oy, min_hole_m2):
    """Trace a grid of marks (each mark: the lower-left node of a marked cell) into
    a polygon in metric coordinates; ``(ox, oy)`` is the position of node [0, 0]."""
    import contourpy
    import shapely

    # each mark stands for the four nodes of its cell
    m = m0.copy()
    m[:, 1:] |= m0[:, :-1]
    m1 = m.copy()
    m1[1:, :] |= m[:-1, :]
    gen = contourpy.contour_generator(z=m1.astype(np.float64), name="serial",
                                      fill_type=contourpy.FillType.OuterOffset, corner_mask=False)
    pts, offs = gen.filled(0.5, 2.0)
    if not pts:
        return shapely.MultiPolygon()
    # every ring of every polygon, end to end (rings are closed: last point == first)
    if len(pts) > 1:
        P = np.concatenate(pts)
        sizes = np.fromiter((len(p) for p in pts), np.intp, len(pts))
        base = np.cumsum(sizes) - sizes
        starts = np.concatenate([o[:-1] + b for o, b in zip(offs, base.tolist())])
        nring = np.fromiter((len(o) - 1 for o in offs), np.intp, len(offs))
    else:
        P = pts[0]
        starts = offs[0][:-1].astype(np.intp)
        nring = np.array([len(starts)])
    N = len(P)
    ends = np.append(starts[1:], N)
    outer = np.zeros(len(starts), dtype=bool)
    outer[np.cumsum(nring) - nring] = True
    ring_of_pt = np.repeat(np.arange(len(starts)), ends - starts)
    x, y = P[:, 0], P[:, 1]
    cross = np.zeros(N)
    cross[:-1] = x[:-1] * y[1:] - x[1:] * y[:-1]
    area_cells = 0.5 * (np.add.reduceat(cross, starts) - cross[ends - 1])
    keep_ring = outer | (np.abs(area_cells) * (c * c) >= min_hole_m2)
    # drop the rings of small holes, and vertices in the middle of straight runs
    # (grid coordinates are exact multiples of 0.5, so the test is exact)
    d = P[1:] - P[:-1]
    keep = keep_ring[ring_of_pt]
    mid = (d[:-1, 0] * d[1:, 1] == d[:-1, 1] * d[1:, 0])
    mid &= (ring_of_pt[:-2] == ring_of_pt[1:-1]) & (ring_of_pt[1:-1] == ring_of_pt[2:])
    keep[1:-1] &= ~mid
    new_ring = np.cumsum(keep_ring) - 1
    coords = P[keep] * c
    coords[:, 0] += ox
    coords[:, 1] += oy
    rings = shapely.linearrings(coords, indices=new_ring[ring_of_pt[keep]])
    polys = shapely.polygons(rings, indices=(np.cumsum(outer) - 1)[keep_ring])
    return polys[0] if len(polys) == 1 else shapely.MultiPolygon(list(polys))


def pieces_polygon(x0, y0, dx, dy, full=None, *, resolution_m: float = RESOLUTION_M,
                   min_hole_m2: float = MIN_HOLE_M2):
    """A polygon (metric coordinates) holding every segment ``(x0, y0) -> (x0 + dx, y0 + dy)``.

    Each segment is sampled every 0.7 cell or closer, both ends included
    (``full`` may mark segments whose end point starts another segment: it
    is not sampled twice).  Every sample marks the four grid nodes of its
    cell and the grid is traced at level 0.5 (contourpy), so each segment
    lies inside: a cell a segment crosses without a sample is a corner clip
    shorter than 0.7 cell, where the traced surface is still above 0.5.
    Holes smaller than ``min_hole_m2`` are filled.  Returns ``(geometry,
    cell_m)``; ``cell_m`` grows past ``resolution_m`` only for areas beyond
    4 million cells.
    """
    import shapely

    x0, y0, dx, dy = (np.asarray(a, dtype=np.float64) for a in (x0, y0, dx, dy))
    if len(x0) == 0:
        return shapely.MultiPolygon(), resolution_m
    x1, y1 = x0 + dx, y0 + dy
    xmin = float(min(x0.min(), x1.min()))
    ymin = float(min(y0.min(), y1.min()))
    xmax = float(max(x0.max(), x1.max()))
    ymax = float(max(y0.max(), y1.max()))
    c = float(resolution_m)
    if (xmax - xmin) * (ymax - ymin) / (c * c) > _MAX_CELLS:
        c = math.sqrt((xmax - xmin) * (ymax - ymin) / _MAX_CELLS)
    ox, oy = xmin - c, ymin - c
    W = int((xmax - ox) / c) + 3
    H = int((ymax - oy) / c) + 3
    gx, gy = _samples(x0, y0, dx, dy, full, c, ox, oy, starts=True)
    m0 = np.zeros(H * W, dtype=bool)
    m0[gy.astype(np.intp) * W + gx.astype(np.intp)] = True
    return _trace(m0.reshape(H, W), c, ox, oy, min_hole_m2), c


def _to_lonlat_geom(net, geom):
    import shapely

    if geom.is_empty:
        return shapely.MultiPolygon()

    def fn(xy):
        lon, lat = net.to_lonlat(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    return shapely.transform(geom, fn)


def _candidates(index, lon, lat, radius_m, *, kinds, services, open_at, net=None):
    """[(station, straight_m)] that may be reached: within ``radius_m`` (None: anywhere on ``net``)."""
    if index is None:
        return []
    if radius_m is not None:
        return [(h.station, h.distance_m) for h in
                index.within(lon, lat, radius_m, kinds=kinds, services=services, open_at=open_at)]
    w, s, e, n = net.bounds
    pad = net.settings.max_snap_m / 111_000.0
    padx = pad / max(math.cos(math.radians(lat)), 1e-6)
    sts = index.bbox(max(w - padx, -180), max(s - pad, -90), min(e + padx, 180), min(n + pad, 90),
                     kinds=kinds, services=services, open_at=open_at, include_closed=False)
    if not sts:
        return []
    d = distances_m(lon, lat, [x.lon for x in sts], [x.lat for x in sts])
    return list(zip(sts, d.tolist()))


def _ranked(cands, secs, metres, limit_s=None):
    out = []
    for (st, straight), s_, m_ in zip(cands, secs.tolist(), metres.tolist()):
        if math.isfinite(s_) and (limit_s is None or s_ <= limit_s + 1e-9):
            out.append(StationTime(st, s_ / 60.0, m_, straight))
    out.sort(key=lambda x: (x.minutes, x.station.id))
    return out


# -- the public functions ------------------------------------------------------------------

def prepare(networks, *, resolution_m: float = RESOLUTION_M) -> None:
    """Build everything the first query would (mode graphs, snapping trees, the
    isochrone grid) now: call it once at start, so no request pays for it."""
    for net in _networks(networks):
        net.prepare()
        _raster(net, float(resolution_m))


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
    net, snap = choose_network(network, lon, lat, mode=mode, method=method, settings=settings)
    settings = settings or (net.settings if net is not None else _config.load())
    budget = minutes * 60.0
    if net is None:
        return _circle_isochrone(lon, lat, minutes, mode, index, kinds, services, open_at, settings)
    search = _Search(net, snap, mode, budget, lon, lat, predecessors=index is not None)
    geom_m, cell = search.polygon(resolution_m=resolution_m, min_hole_m2=min_hole_m2)
    area = float(geom_m.area) / 1e6
    poly = _to_lonlat_geom(net, geom_m)
    stations = []
    if index is not None:
        radius = net.max_speed_mps(mode) * budget + 1.0
        cands = _candidates(index, lon, lat, radius, kinds=kinds, services=services, open_at=open_at)
        secs, metres = search.station_times([c[0] for c in cands])
        stations = _ranked(cands, secs, metres, budget)
    return Isochrone(lon, lat, minutes, mode, "network", poly, area, stations, net.name,
                     snap.distance_m, cell)


def _circle_polygon(lon, lat, radius_m, n=72):
    import shapely

    az = np.linspace(0.0, 360.0, n, endpoint=False)
    plon, plat, _ = GEOD.fwd(np.full(n, lon), np.full(n, lat), az, np.full(n, radius_m))
    return shapely.Polygon(np.column_stack([plon, plat])[::-1])


def _circle_isochrone(lon, lat, minutes, mode, index, kinds, services, open_at, settings):
    from pyproj import Transformer
    import shapely

    r = circle_radius_m(minutes, mode, settings)
    poly = _circle_polygon(lon, lat, r)
    tr = Transformer.from_crs("EPSG:4326", utm_crs_for(lon, lat), always_xy=True)
    area = shapely.transform(poly, lambda xy: np.column_stack(tr.transform(xy[:, 0], xy[:, 1]))).area / 1e6
    stations = []
    if index is not None:
        for h in index.within(lon, lat, r, kinds=kinds, services=services, open_at=open_at):
            stations.append(StationTime(h.station, circle_minutes(h.distance_m, mode, settings),
                                        h.distance_m * settings.detour_factor, h.distance_m))
    return Isochrone(lon, lat, minutes, mode, "circle", poly, float(area), stations)


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
    net, snap = choose_network(network, lon, lat, mode=mode, method=method, settings=settings)
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
        out = [StationTime(h.station, circle_minutes(h.distance_m, mode, settings),
                           h.distance_m * settings.detour_factor, h.distance_m) for h in hits]
        return Ranking(lon, lat, mode, "circle", minutes, out)
    budget = np.inf if minutes is None else minutes * 60.0
    search = _Search(net, snap, mode, budget, lon, lat, predecessors=True)
    radius = None if minutes is None else net.max_speed_mps(mode) * budget + 1.0
    cands = _candidates(index, lon, lat, radius, kinds=kinds, services=services, open_at=open_at, net=net)
    secs, metres = search.station_times([c[0] for c in cands])
    ranked = _ranked(cands, secs, metres, None if minutes is None else budget)[:k]
    return Ranking(lon, lat, mode, "network", minutes, ranked, net.name, snap.distance_m)
