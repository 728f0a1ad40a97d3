"""Map tiles of stations: clusters per zoom level, and the stations themselves close up.

A :class:`ClusterIndex` is built once per data revision over every station and answers a
Web-Mercator tile ``z/x/y`` with what a map draws there: clusters (how many stations, where,
how many of each kind, the zoom at which they split) at low zoom, the stations at high zoom.

The clustering is supercluster's (Mapbox's JavaScript library, also behind Leaflet's and
Mapbox GL's point clustering): from the highest zoom down, each point not yet taken gathers
the points within ``radius_px`` pixels at that zoom into one cluster at their weighted
centre; the clusters of zoom ``z + 1`` are the points of zoom ``z``.  The Python options
(``pysupercluster``, a C++ port last released in 2022, and its one-person fork) answer counts
for the whole set only: every filter combination would need its own build.  So this is a
compact implementation (a numba kernel over a grid of cells of one radius) with one addition
that makes filters cheap:

Every cluster at every zoom holds a contiguous range of the stations in *leaf order* (the
stations sorted by their cluster at zoom 0, then zoom 1, ...).  A filter (kinds, services,
statuses, open at a moment) is a boolean mask over the stations in that order; its running
sums (:class:`Counts`, made once per filter and minute and kept in a small LRU) give any
cluster's matching count, its count per kind and the centre of its matching stations by two
subtractions.  A cluster with no matching station is not drawn, one with a single matching
station is drawn as that station.  The tree itself does not depend on the filters or the
time, so "open now" needs no rebuild: the mask is evaluated per distinct set of hours (a few
dozen), not per station.

A cluster belongs to the one tile that holds its (unfiltered) centre, and a station to the tile
that holds its point: over all the tiles of a zoom every matching station is counted exactly
once.  Tiles are found through Morton (Z-order) codes at zoom :data:`MORTON_ZOOM`: the nodes of
a level sorted by code, any tile at zoom <= MORTON_ZOOM is one range of them.

Tiles may be asked in the GCJ-02 grid (a map over Amap tiles): the tile's WGS-84 neighbourhood
is searched and a node kept when its centre, shifted to GCJ-02, lies in the tile.
"""

from __future__ import annotations

import math
import operator
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

from stationmap.config import TILE_CLUSTER_MAX_ZOOM, TILE_MAX_ZOOM, TILE_RADIUS_PX, TILE_SIZE_PX
from stationmap.coords import from_wgs84, to_wgs84
from stationmap.hours import open_checker
from stationmap.jit import compiled
from stationmap.model import KINDS, SERVICES, STATUSES, Station

#: Morton codes are taken at this zoom (2 x 24 bits): any tile up to it is one range of codes
MORTON_ZOOM = 24
#: filters whose running sums are kept (each ~ 6.4 MB at 200,000 stations)
COUNTS_KEPT = 8
#: a Web-Mercator map stops at this latitude
MAX_LAT = 85.0511287798066

_KIND_INDEX = {k: i for i, k in enumerate(KINDS)}
_SERVICE_BIT = {s: 1 << i for i, s in enumerate(SERVICES)}
_STATUS_CODE = {s: i for i, s in enumerate(STATUSES)}
#: what a station's open state depends on (:func:`stationmap.hours.open_checker`): stations alike in
#: these are open together (a few thousand groups among 200,000 sample stations)
_HOURS = operator.attrgetter("status", "opening_hours", "reopens_on", "service_hours")


# -- projection --------------------------------------------------------------------------------

def project(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WGS-84 (or any datum's) degrees to Web-Mercator world coordinates in [0, 1] (y down)."""
    lat = np.clip(np.asarray(lat, dtype=float), -MAX_LAT, MAX_LAT)
    x = np.asarray(lon, dtype=float) / 360.0 + 0.5
    s = np.sin(np.radians(lat))
    y = 0.5 - 0.25 * np.log((1.0 + s) / (1.0 - s)) / math.pi
    return np.clip(x, 0.0, 1.0), np.clip(y, 0.0, 1.0)


def unproject(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The inverse of :func:`project`: degrees from world coordinates."""
    lon = (np.asarray(x, dtype=float) - 0.5) * 360.0
    lat = np.degrees(2.0 * np.arctan(np.exp((0.5 - np.asarray(y, dtype=float)) * 2.0 * math.pi)) - math.pi / 2.0)
    return lon, lat


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """``(west, south, east, north)`` degrees of tile ``z/x/y`` (in the datum of its grid)."""
    n = float(1 << z)
    lon, lat = unproject(np.array([x / n, (x + 1) / n]), np.array([(y + 1) / n, y / n]))
    return float(lon[0]), float(lat[0]), float(lon[1]), float(lat[1])


def _spread(v: Any) -> Any:
    """The bits of ``v`` (< 2**24; a Python int, a tile's column or row, or an int64 array) spread
    to the even bit positions."""
    v = v & 0xFFFFFF
    v = (v | (v << 16)) & 0x0000FFFF0000FFFF
    v = (v | (v << 8)) & 0x00FF00FF00FF00FF
    v = (v | (v << 4)) & 0x0F0F0F0F0F0F0F0F
    v = (v | (v << 2)) & 0x3333333333333333
    return (v | (v << 1)) & 0x5555555555555555


def morton(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Morton codes at :data:`MORTON_ZOOM` of world coordinates."""
    scale = float(1 << MORTON_ZOOM)
    top = (1 << MORTON_ZOOM) - 1
    tx = np.clip(np.floor(np.asarray(x) * scale), 0, top).astype(np.int64)
    ty = np.clip(np.floor(np.asarray(y) * scale), 0, top).astype(np.int64)
    return _spread(tx) | (_spread(ty) << 1)


def _tile_range(z: int, x: int, y: int) -> tuple[int, int]:
    """The Morton codes ``[lo, hi)`` of tile ``z/x/y``."""
    shift = 2 * (MORTON_ZOOM - z)
    lo = (_spread(x) | (_spread(y) << 1)) << shift
    return lo, lo + (1 << shift)


# -- building ----------------------------------------------------------------------------------

def _greedy_kernel(x: np.ndarray, y: np.ndarray, w: np.ndarray, cx: np.ndarray, cy: np.ndarray,
                   order: np.ndarray, keys: np.ndarray, m_cols: int, r2: float) -> tuple:
    """One zoom of supercluster: each point not yet taken, in input order, takes every point
    not yet taken within ``sqrt(r2)`` (looked up in the 3 x 3 cells of side r around it: the
    points sorted by cell ``keys``, ``order`` their indices); with any, they make a cluster at
    their weighted centre.  Returns ``(parent, x, y, weight)``: each point's node at this zoom
    and the nodes."""
    n = x.shape[0]
    parent = np.full(n, -1, np.int64)
    ox = np.empty(n)
    oy = np.empty(n)
    ow = np.empty(n, np.int64)
    buf = np.empty(n, np.int64)
    m = 0
    for i in range(n):
        if parent[i] >= 0:
            continue
        k = 0
        ws = w[i]
        sx = x[i] * w[i]
        sy = y[i] * w[i]
        for dx in range(-1, 2):
            base = (cx[i] + dx) * m_cols + cy[i]
            lo = np.searchsorted(keys, base - 1)
            hi = np.searchsorted(keys, base + 2)
            for t in range(lo, hi):
                j = order[t]
                if j == i or parent[j] >= 0:
                    continue
                ddx = x[j] - x[i]
                ddy = y[j] - y[i]
                if ddx * ddx + ddy * ddy <= r2:
                    buf[k] = j
                    k += 1
                    ws += w[j]
                    sx += x[j] * w[j]
                    sy += y[j] * w[j]
        parent[i] = m
        for t in range(k):
            parent[buf[t]] = m
        ox[m] = sx / ws
        oy[m] = sy / ws
        ow[m] = ws
        m += 1
    return parent, ox[:m], oy[:m], ow[:m]


def cluster_level(x: np.ndarray, y: np.ndarray, w: np.ndarray, r: float) -> tuple:
    """:func:`_greedy_kernel` over points ``x, y`` (world coordinates) of weights ``w``, radius ``r``."""
    cx = np.floor(x / r).astype(np.int64)
    cy = np.floor(y / r).astype(np.int64)
    m_cols = int(1.0 / r) + 4
    keys = cx * m_cols + cy
    order = np.argsort(keys, kind="stable")
    return compiled(_greedy_kernel)(x, y, w.astype(np.int64), cx, cy, order, keys[order], m_cols, float(r * r))


@dataclass
class Level:
    """The nodes of one zoom: clusters (and single stations) of the zoom, or the stations."""

    #: world coordinates of each node's centre (unfiltered)
    x: np.ndarray
    y: np.ndarray
    #: each node's stations: leaf positions ``[start, end)``
    start: np.ndarray
    end: np.ndarray
    #: the zoom at which the node's stations (unfiltered) first split (-1: a single station)
    expansion: np.ndarray
    #: the nodes sorted by Morton code, and the codes
    by_code: np.ndarray
    codes: np.ndarray


@dataclass
class Counts:
    """Running sums over the leaves of one filter's mask: matching stations, per kind, and
    their world coordinates (sums ``[i]`` cover leaves ``[0, i)``)."""

    n: np.ndarray
    kinds: np.ndarray
    x: np.ndarray
    y: np.ndarray


@dataclass(frozen=True)
class Filters:
    """What a tile counts and shows: stations of any of ``kinds`` (empty: all), offering all of
    ``services``, of any of ``statuses`` (empty: all), and, with ``open_at``, open then; with
    ``adcode``, only the stations whose adcode starts with it (a district: ``3204`` a city, ``320402``
    a county); with ``ids``, only those stations (a district's scope, :mod:`stationmap.scope`: its own
    and its neighbours' within reach)."""

    kinds: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    open_at: datetime | None = None
    adcode: str = ""
    ids: frozenset[str] | None = None

    def key(self) -> tuple:
        """The key of its :class:`Counts` (the moment to the minute: hours are in minutes)."""
        minute = None if self.open_at is None else self.open_at.replace(second=0, microsecond=0).isoformat()
        return (tuple(sorted(self.kinds)), tuple(sorted(self.services)), tuple(sorted(self.statuses)), minute,
                self.adcode, self.ids)

    def matches(self, st: Station, is_open: Callable[[Station], bool] | None = None) -> bool:
        """Whether one station matches (the rule the masks vectorise; ``is_open``: the open
        check at ``open_at``, made by the caller once for many stations)."""
        if self.kinds and not set(self.kinds) & set(st.kinds):
            return False
        if self.services and not set(self.services) <= set(st.services):
            return False
        if self.statuses and st.status not in self.statuses:
            return False
        if self.adcode and not st.adcode.startswith(self.adcode):
            return False
        if self.ids is not None and st.id not in self.ids:
            return False
        if self.open_at is not None:
            check = is_open or open_checker(self.open_at, self.services)
            if not check(st):
                return False
        return True


@dataclass
class Cluster:
    """A cluster of a tile: its matching stations' count, centre (degrees, in the tile's
    datum), count per kind, and the zoom at which it splits."""

    count: int
    lon: float
    lat: float
    kinds: dict[str, int]
    expansion_zoom: int
    node: int


def cluster_feature(z: int, c: Cluster, precision: int) -> dict[str, Any]:
    """A cluster of a tile of zoom ``z`` as a GeoJSON feature (``/api/v1/tiles`` and a published
    site's tiles): ``cluster: true``, ``count``, ``kinds``, ``expansion_zoom``."""
    return {"type": "Feature", "id": f"cluster-{z}-{c.node}",
            "geometry": {"type": "Point", "coordinates": [round(c.lon, precision), round(c.lat, precision)]},
            "properties": {"cluster": True, "count": c.count, "kinds": c.kinds, "expansion_zoom": c.expansion_zoom}}


def tile_collection(t: Tile, features: list[dict[str, Any]], **more: Any) -> dict[str, Any]:
    """A tile's GeoJSON FeatureCollection (``/api/v1/tiles`` and a published site's tiles): its datum,
    ``tile``, ``total``, how many clusters and stations, members ``more``, then ``features``."""
    return {"type": "FeatureCollection", "datum": t.datum, **more, "tile": {"z": t.z, "x": t.x, "y": t.y},
            "total": t.total, "clusters": len(t.clusters), "stations": len(t.stations), "features": features}


def tiles_with_stations(index: ClusterIndex, z: int) -> list[tuple[int, int]]:
    """The tiles ``(x, y)`` of zoom ``z`` that hold a node (a cluster or a station) of the index, unfiltered."""
    lvl = index.levels[min(z, index.max_zoom + 1)]
    if not len(lvl.x):
        return []
    top = (1 << z) - 1
    tx = np.clip(np.floor(lvl.x * (1 << z)), 0, top).astype(np.int64)
    ty = np.clip(np.floor(lvl.y * (1 << z)), 0, top).astype(np.int64)
    keys = np.unique(tx * (1 << z) + ty)
    return [(int(k) >> z, int(k) & top) for k in keys]


@dataclass
class Tile:
    """What tile ``z/x/y`` shows for some filters: clusters and single stations."""

    z: int
    x: int
    y: int
    datum: str
    clusters: list[Cluster] = field(default_factory=list)
    stations: list[Station] = field(default_factory=list)

    @property
    def total(self) -> int:
        """The matching stations it stands for."""
        return sum(c.count for c in self.clusters) + len(self.stations)


class ClusterIndex:
    """The clusters of every zoom ``0..max_zoom`` over ``stations``, and the stations themselves
    above it (see the module)."""

    def __init__(self, stations: Sequence[Station], *, max_zoom: int = TILE_CLUSTER_MAX_ZOOM,
                 radius_px: float = TILE_RADIUS_PX, tile_px: int = TILE_SIZE_PX) -> None:
        self.max_zoom = max_zoom
        self.radius_px = radius_px
        self.tile_px = tile_px
        n = len(stations)
        self.size = n
        lon = np.fromiter((s.lon for s in stations), float, n)
        lat = np.fromiter((s.lat for s in stations), float, n)
        x, y = project(lon, lat)
        # from the stations (zoom max_zoom + 1) down to zoom 0: each node's parent one zoom up
        levels_xy: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = [(x, y, np.ones(n, np.int64))]
        parents: list[np.ndarray] = []
        for z in range(max_zoom, -1, -1):
            px, py, pw = levels_xy[-1]
            r = radius_px / (tile_px * float(1 << z))
            if len(px):
                parent, nx, ny, nw = cluster_level(px, py, pw, r)
            else:
                parent, nx, ny, nw = (np.empty(0, np.int64), px, py, pw)
            parents.append(parent)
            levels_xy.append((nx, ny, nw))
        levels_xy.reverse()      # [zoom 0, ..., zoom max_zoom, stations]
        parents.reverse()        # parents[z]: the node at zoom z of each node at zoom z + 1
        top = max_zoom + 1
        anc = [np.empty(0, np.int64)] * (top + 1)
        anc[top] = np.arange(n, dtype=np.int64)
        for z in range(max_zoom, -1, -1):
            anc[z] = parents[z][anc[z + 1]]
        order = np.lexsort(tuple(anc[::-1])) if n else np.empty(0, np.int64)  # zoom 0 the primary key
        self.order = order
        self.stations: list[Station] = [stations[i] for i in order]
        self.lon, self.lat = lon[order], lat[order]
        self.x, self.y = x[order], y[order]
        self.levels: list[Level] = []
        for z in range(top + 1):
            nx, ny, _nw = levels_xy[z]
            m = len(nx)
            start = np.zeros(m, np.int32)     # (int32, int8: a third less memory than int64)
            end = np.zeros(m, np.int32)
            if n:
                a = anc[z][order]
                cut = np.flatnonzero(np.diff(a)) + 1
                starts = np.concatenate(([0], cut))
                start[a[starts]] = starts
                end[a[starts]] = np.concatenate((cut, [n]))
            codes = morton(nx, ny)
            by_code = np.argsort(codes, kind="stable")
            self.levels.append(Level(nx, ny, start, end, np.full(m, -1, np.int8), by_code.astype(np.int32),
                                     codes[by_code]))
        # expansion zoom: a node with two children or more splits one zoom up, else where its child does
        self.levels[top].expansion[:] = -1
        for z in range(max_zoom, -1, -1):
            lvl, up = self.levels[z], self.levels[z + 1]
            children = np.bincount(parents[z], minlength=len(lvl.x))
            exp = np.full(len(lvl.x), z + 1, np.int8)
            lone = np.flatnonzero(children[parents[z]] == 1)    # nodes of z + 1 alone in their parent
            if z < max_zoom:
                exp[parents[z][lone]] = up.expansion[lone]
            else:
                exp[parents[z][lone]] = top
            exp[(lvl.end - lvl.start) <= 1] = -1
            lvl.expansion = exp
        self._attributes()

    def _attributes(self) -> None:
        """The leaves' filter attributes, in leaf order (each computed once per distinct value)."""
        st = self.stations
        groups, reps = _groups(st, operator.attrgetter("kinds"))
        self.kind_bits = np.array([_kind_bits(s.kinds) for s in reps], np.int64)[groups]
        groups, reps = _groups(st, operator.attrgetter("services"))
        self.service_bits = np.array([_service_bits(s.services) for s in reps], np.int64)[groups]
        groups, reps = self._hours = _groups(st, _HOURS)
        self.status = np.array([_STATUS_CODE.get(s.status, -1) for s in reps], np.int64)[groups]
        self._districts: tuple[np.ndarray, list[Station]] | None = None    # (made when a filter asks)
        self._leaf_of: dict[str, int] | None = None
        self._counts: OrderedDict[tuple, Counts] = OrderedDict()
        self._lock = threading.Lock()

    def with_stations(self, stations: Sequence[Station]) -> ClusterIndex | None:
        """This index for ``stations`` when they are the same stations at the same points (an edit
        of anything but the point: a status, hours, services): the tree is kept and only the
        leaves' attributes made again (a fraction of a build).  None when a station was added,
        removed or moved: then build anew."""
        if len(stations) != self.size:
            return None
        by_id = {s.id: s for s in stations}
        if len(by_id) != self.size:
            return None
        try:
            leaves = [by_id[s.id] for s in self.stations]
        except KeyError:
            return None
        old = self.stations
        changed = [i for i, (a, b) in enumerate(zip(leaves, old)) if a is not b]
        if any(leaves[i].lon != old[i].lon or leaves[i].lat != old[i].lat for i in changed):
            return None
        new = object.__new__(ClusterIndex)
        new.__dict__.update({k: v for k, v in self.__dict__.items() if k not in ("_counts", "_lock")})
        new.stations = leaves
        new._districts = None      # (an edit may change a station's district; the ids stay in place)
        new._counts = OrderedDict()
        new._lock = threading.Lock()
        if changed:
            at = np.asarray(changed, np.int64)
            sub = [leaves[i] for i in changed]
            new.kind_bits = self.kind_bits.copy()
            new.kind_bits[at] = [_kind_bits(s.kinds) for s in sub]
            new.service_bits = self.service_bits.copy()
            new.service_bits[at] = [_service_bits(s.services) for s in sub]
            new.status = self.status.copy()
            new.status[at] = [_STATUS_CODE.get(s.status, -1) for s in sub]
            groups, reps = self._hours
            groups, reps = groups.copy(), list(reps)
            known = {_HOURS(r): g for g, r in enumerate(reps)}
            for i, s in zip(changed, sub):
                g = known.get(_HOURS(s))
                if g is None:
                    g = known[_HOURS(s)] = len(reps)
                    reps.append(s)
                groups[i] = g
            new._hours = (groups, reps)
        return new

    # -- filters -------------------------------------------------------------------------------

    def mask(self, f: Filters) -> np.ndarray:
        """Which stations (in leaf order) match ``f``."""
        n = self.size
        keep = np.ones(n, bool)
        if f.kinds:
            keep &= (self.kind_bits & _kind_bits(f.kinds)) != 0
        if f.services:
            if any(v not in _SERVICE_BIT for v in f.services):
                return np.zeros(n, bool)
            bits = _service_bits(f.services)
            keep &= (self.service_bits & bits) == bits
        if f.statuses:
            keep &= np.isin(self.status, [_STATUS_CODE[s] for s in f.statuses if s in _STATUS_CODE])
        if f.adcode:
            if self._districts is None:
                self._districts = _groups(self.stations, operator.attrgetter("adcode"))
            groups, reps = self._districts
            inside = np.fromiter((s.adcode.startswith(f.adcode) for s in reps), bool, len(reps))
            keep &= inside[groups] if n else keep
        if f.ids is not None:
            if self._leaf_of is None:
                self._leaf_of = {s.id: i for i, s in enumerate(self.stations)}
            leaf_of = self._leaf_of
            chosen = np.zeros(n, bool)
            chosen[np.fromiter((leaf_of[i] for i in f.ids if i in leaf_of), np.int64)] = True
            keep &= chosen
        if f.open_at is not None:
            groups, reps = self._hours
            is_open = open_checker(f.open_at, f.services)
            open_group = np.fromiter((is_open(s) for s in reps), bool, len(reps))
            keep &= open_group[groups] if n else keep
        return keep

    def counts(self, f: Filters) -> Counts:
        """The running sums of ``f``'s mask, kept for the last :data:`COUNTS_KEPT` filters."""
        key = f.key()
        with self._lock:
            hit = self._counts.get(key)
            if hit is not None:
                self._counts.move_to_end(key)
                return hit
        keep = self.mask(f)
        hit = Counts(n=_runsum(keep.astype(np.int32)),
                     kinds=_runsum(np.stack([keep & ((self.kind_bits >> i) & 1).astype(bool)
                                             for i in range(len(KINDS))], axis=1).astype(np.int32)),
                     x=_runsum(np.where(keep, self.x, 0.0)), y=_runsum(np.where(keep, self.y, 0.0)))
        with self._lock:
            self._counts[key] = hit
            while len(self._counts) > COUNTS_KEPT:
                self._counts.popitem(last=False)
        return hit

    # -- tiles ---------------------------------------------------------------------------------

    def nodes(self, z: int, x: int, y: int) -> tuple[Level, np.ndarray]:
        """The level shown at zoom ``z`` and its nodes whose centre lies in WGS-84 tile z/x/y."""
        lvl = self.levels[min(z, self.max_zoom + 1)]
        lo, hi = _tile_range(z, x, y)
        a, b = np.searchsorted(lvl.codes, [lo, hi])
        return lvl, lvl.by_code[a:b]

    def tile(self, z: int, x: int, y: int, f: Filters = Filters(), *, datum: str = "wgs84") -> Tile:
        """Tile ``z/x/y`` of the grid in ``datum`` (wgs84, gcj02 or bd09: a map over Amap or
        Baidu tiles), with clusters and stations matching ``f``; positions in ``datum``."""
        check_tile(z, x, y)
        if datum == "wgs84":
            lvl, nodes = self.nodes(z, x, y)
        else:
            lvl, nodes = self._shifted_nodes(z, x, y, datum)
        c = self.counts(f)
        s, e = lvl.start[nodes], lvl.end[nodes]
        cnt = c.n[e] - c.n[s]
        live = cnt > 0
        nodes, s, e, cnt = nodes[live], s[live], e[live], cnt[live]
        out = Tile(z, x, y, datum)
        one = cnt == 1
        # a single matching station: the first leaf of the range whose running sum steps up
        leaf = np.searchsorted(c.n, c.n[s[one]] + 1, side="left") - 1
        many = ~one
        ns, ne, nc = s[many], e[many], cnt[many]
        cx = (c.x[ne] - c.x[ns]) / nc
        cy = (c.y[ne] - c.y[ns]) / nc
        lon, lat = unproject(cx, cy)
        if datum != "wgs84" and len(lon):
            lon, lat = from_wgs84(lon, lat, datum)
        kinds = c.kinds[ne] - c.kinds[ns]
        cluster_nodes = nodes[many]
        exp = lvl.expansion[cluster_nodes]
        for i in range(len(nc)):
            out.clusters.append(Cluster(count=int(nc[i]), lon=float(lon[i]), lat=float(lat[i]),
                                        kinds={k: int(kinds[i, j]) for j, k in enumerate(KINDS)},
                                        expansion_zoom=int(exp[i]), node=int(cluster_nodes[i])))
        out.stations = [self.stations[i] for i in leaf.tolist()]
        return out

    def _shifted_nodes(self, z: int, x: int, y: int, datum: str) -> tuple[Level, np.ndarray]:
        """The nodes whose centre, shifted to ``datum``, lies in tile z/x/y of that datum's grid:
        looked for in the WGS-84 tiles around it (the shift is under a kilometre)."""
        w, s, e, n = tile_bounds(z, x, y)
        lons, lats = to_wgs84(np.array([w, e, w, e]), np.array([s, s, n, n]), datum)
        pad = 0.002  # degrees beyond the corners' shift: the shift varies by far less over a tile
        x0, y1 = project(np.array([float(np.min(lons)) - pad]), np.array([float(np.min(lats)) - pad]))
        x1, y0 = project(np.array([float(np.max(lons)) + pad]), np.array([float(np.max(lats)) + pad]))
        scale = 1 << z
        txs = range(max(0, int(x0[0] * scale)), min(scale - 1, int(x1[0] * scale)) + 1)
        tys = range(max(0, int(y0[0] * scale)), min(scale - 1, int(y1[0] * scale)) + 1)
        lvl = self.levels[min(z, self.max_zoom + 1)]
        found = [self.nodes(z, tx, ty)[1] for tx in txs for ty in tys]
        cand = np.concatenate(found) if found else np.empty(0, np.int64)
        if not len(cand):
            return lvl, cand
        lon, lat = unproject(lvl.x[cand], lvl.y[cand])
        slon, slat = from_wgs84(lon, lat, datum)
        sx, sy = project(slon, slat)
        inside = ((np.floor(sx * scale) == x) & (np.floor(sy * scale) == y))
        return lvl, cand[inside]

    def leaves(self, z: int, node: int) -> list[Station]:
        """Every station (unfiltered) of node ``node`` of the level shown at zoom ``z``."""
        lvl = self.levels[min(z, self.max_zoom + 1)]
        return self.stations[int(lvl.start[node]):int(lvl.end[node])]

    def memory_bytes(self) -> int:
        """The bytes of its arrays (the stations are the index's; the kept counts included)."""
        total = sum(a.nbytes for a in (self.order, self.lon, self.lat, self.x, self.y, self.kind_bits,
                                       self.service_bits, self.status, self._hours[0]))
        for lvl in self.levels:
            total += sum(a.nbytes for a in (lvl.x, lvl.y, lvl.start, lvl.end, lvl.expansion, lvl.by_code, lvl.codes))
        for c in self._counts.values():
            total += c.n.nbytes + c.kinds.nbytes + c.x.nbytes + c.y.nbytes
        return total


def _kind_bits(kinds: Sequence[str]) -> int:
    return sum(1 << _KIND_INDEX[k] for k in set(kinds) if k in _KIND_INDEX)


def _service_bits(services: Sequence[str]) -> int:
    return sum(_SERVICE_BIT.get(k, 0) for k in set(services))


def _groups(stations: Sequence[Station], key: Callable[[Station], tuple]) -> tuple[np.ndarray, list[Station]]:
    """``(group of each station, a station of each group)``: the stations of one group share ``key``."""
    ids: dict[tuple, int] = {}
    reps: list[Station] = []
    out = np.empty(len(stations), np.int64)
    for i, s in enumerate(stations):
        k = key(s)
        g = ids.get(k)
        if g is None:
            g = ids[k] = len(reps)
            reps.append(s)
        out[i] = g
    return out, reps


def _runsum(a: np.ndarray) -> np.ndarray:
    """Running sums with a leading zero (``out[i]`` = sum of ``a[:i]``), along the first axis."""
    out = np.zeros((a.shape[0] + 1, *a.shape[1:]), dtype=np.float64 if a.dtype.kind == "f" else np.int32)
    np.cumsum(a, axis=0, out=out[1:])
    return out


def check_tile(z: int, x: int, y: int) -> None:
    """ValueError unless ``z/x/y`` is a tile: 0 <= z <= TILE_MAX_ZOOM, 0 <= x, y < 2**z."""
    if not 0 <= z <= TILE_MAX_ZOOM:
        raise ValueError(f"zoom {z} is outside 0..{TILE_MAX_ZOOM}")
    if not (0 <= x < (1 << z) and 0 <= y < (1 << z)):
        raise ValueError(f"tile {z}/{x}/{y} does not exist: x and y run from 0 to {(1 << z) - 1} at zoom {z}")


def describe(index: ClusterIndex) -> dict[str, Any]:
    """Figures of an index: stations, nodes per zoom, bytes."""
    return {"stations": index.size, "nodes": [len(lvl.x) for lvl in index.levels],
            "bytes": index.memory_bytes()}
