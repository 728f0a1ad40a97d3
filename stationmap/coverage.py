"""Coverage: how far is every part of a district from a station, and how many are in reach.

The question planners ask (the "双15" target): is every outdoor worker within
15 minutes of a station, and within 15 minutes of two (cross-coverage)?

How it works
------------
1. **A grid** over the study area (:func:`make_grid`): square cells of
   ``cell_m`` metres (default 250) laid out in a metric projection (the UTM
   zone of the area, :func:`stationmap.coords.utm_crs_for`), or H3 hexagons.
   A cell belongs to the district that contains its centre, so every place
   is in exactly one cell and one district.  Square cells are anchored at
   multiples of ``cell_m`` in their UTM zone, so grids of neighbouring
   districts in one zone line up.  ``area_m2`` is a cell's area in the UTM
   plane (within 0.2 % of the ellipsoidal area inside a zone).
2. **Minutes to the nearest station and stations in reach**, for each cell
   and each station kind, by one of two methods:

   * ``"circle"``: straight-line distance times :data:`~stationmap.config.DETOUR_FACTOR`
     at the mode's speed.  Distances are the straight (chord) distances
     between the points' ECEF positions in metres, which equal geodesic
     distances to under 1 mm at 15 km (see :mod:`stationmap.index`), so the
     result does not depend on the projection.
   * ``"network"``: travel time on a road graph (:mod:`stationmap.network`);
     a cell is reached through the road node nearest its centre, the walk
     from the centre to that node (and from a station to its node) counted
     as a straight line at the mode's speed.  Cells farther than
     ``max_snap_m`` from any road are unreachable.

   Minutes are reported up to a **horizon** (default four times the threshold);
   beyond it a cell's minutes are ``inf``.  The horizon is also the margin
   by which partitions of a large run overlap (:func:`analyse_many`), which
   is why a partitioned run equals a serial one exactly.
3. **Demand** per cell (:func:`spread_population` and friends): the census
   population of each district (``data/census``, 2020) spread over the
   district's cells by a proxy: road length in the cell where a road
   network covers the area (outdoor workers work on roads), the cell's area
   otherwise.  Any other demand layer (points or polygons with a weight)
   can be supplied instead (:func:`demand_from_points`,
   :func:`demand_from_polygons`).
4. **Figures** (:meth:`Coverage.stats`): per district and kind, stations,
   area and demand covered once and twice, median and 95th-percentile
   minutes.  **Gaps** (:meth:`Coverage.gaps`): connected uncovered areas
   (cells sharing an edge), ranked by uncovered demand.  **Sites**: see
   :mod:`stationmap.siting`.

Every coordinate in and out is WGS-84 lon/lat in degrees; distances are metres.
"""

from __future__ import annotations

import math
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable

import numpy as np

from stationmap import config as _config
from stationmap.config import MODES
from stationmap.coords import utm_crs_for
from stationmap.errors import NotFoundError, ValidationError, geodata_read_errors
from stationmap.model import KINDS, Station, check_kinds

SHAPES = ("square", "h3")
METHODS = ("auto", "circle", "network")
DEMAND_PROXIES = ("auto", "uniform", "roads")
#: default cell size, metres
DEFAULT_CELL_M = 250.0
#: minutes are reported up to this many times the threshold (the horizon)
HORIZON_FACTOR = 4.0
#: minute bands for maps and charts (upper bounds; the last band is "beyond")
MINUTE_BANDS = (5.0, 10.0, 15.0, 20.0, 30.0)
_MIN_CELL_M, _MAX_CELL_M = 10.0, 50_000.0
_MAX_CELLS = 20_000_000


# -- small checks -------------------------------------------------------------------

def _check_positive(value, name, *, hi=None):
    if isinstance(value, bool):
        raise ValidationError(f"{name} must be a positive number, got {value!r}", field=name)
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValidationError(f"{name} must be a positive number, got {value!r}", field=name) from None
    if not math.isfinite(x) or x <= 0 or (hi is not None and x > hi):
        rng = f"in (0, {hi:g}]" if hi is not None else "a positive number"
        raise ValidationError(f"{name} must be {rng}, got {value!r}", field=name)
    return x


def check_mode(mode) -> str:
    """``mode`` if it is one of :data:`stationmap.config.MODES`; ValidationError otherwise."""
    if mode not in MODES:
        raise ValidationError(f"mode must be one of {MODES}, got {mode!r}", field="mode")
    return mode


def check_minutes(minutes, *, name="minutes") -> float:
    """A travel-time threshold in minutes, in (0, 240]."""
    return _check_positive(minutes, name, hi=240.0)


def check_cell_m(cell_m) -> float:
    """A square cell size in metres, in [10, 50000]."""
    x = _check_positive(cell_m, "cell")
    if not _MIN_CELL_M <= x <= _MAX_CELL_M:
        raise ValidationError(f"cell must be in [{_MIN_CELL_M:g}, {_MAX_CELL_M:g}] metres, got {cell_m!r}",
                              field="cell")
    return x


def check_kind_list(kinds) -> tuple:
    """Canonical kinds (default: every kind in :data:`stationmap.model.KINDS`)."""
    if kinds is None or (not isinstance(kinds, str) and len(kinds) == 0):
        return tuple(KINDS)
    if isinstance(kinds, str):
        kinds = [k for k in kinds.replace(";", ",").split(",") if k.strip()]
    return check_kinds(kinds, field="kind")


def horizon_for(minutes: float, horizon_minutes: float | None = None) -> float:
    """The horizon in minutes: ``horizon_minutes`` (at least ``minutes``), default
    :data:`HORIZON_FACTOR` times ``minutes``."""
    if horizon_minutes is None:
        return HORIZON_FACTOR * minutes
    return max(_check_positive(horizon_minutes, "horizon_minutes", hi=1440.0), minutes)


def speed_m_per_min(mode: str, settings=None) -> float:
    """The mode's speed in metres per minute (``Settings.speed_kmh``)."""
    settings = settings or _config.load()
    return settings.speed_kmh(check_mode(mode)) * 1000.0 / 60.0


def reach_m(minutes: float, mode: str, *, settings=None, detour: float | None = None) -> float:
    """Straight-line radius in metres reached in ``minutes`` by the circle method."""
    settings = settings or _config.load()
    detour = settings.detour_factor if detour is None else detour
    return check_minutes(minutes) * speed_m_per_min(mode, settings) / detour


# -- metric projection helpers --------------------------------------------------------

_TLS = threading.local()


def _transformer(crs: str, inverse: bool = False):
    """A cached (per thread: pyproj transformers are not shared across threads)
    WGS-84 <-> ``crs`` transformer, always lon/lat order."""
    cache = getattr(_TLS, "cache", None)
    if cache is None:
        cache = _TLS.cache = {}
    key = (crs, inverse)
    t = cache.get(key)
    if t is None:
        from pyproj import Transformer

        t = (Transformer.from_crs(crs, "EPSG:4326", always_xy=True) if inverse
             else Transformer.from_crs("EPSG:4326", crs, always_xy=True))
        cache[key] = t
    return t


def to_metric(lon, lat, crs: str):
    """WGS-84 lon/lat (degrees) -> ``crs`` x, y (metres)."""
    x, y = _transformer(crs).transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float)


def to_wgs84(x, y, crs: str):
    """``crs`` x, y (metres) -> WGS-84 lon/lat (degrees)."""
    lon, lat = _transformer(crs, inverse=True).transform(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def geometry_to_metric(geom, crs: str):
    """A shapely geometry in WGS-84 -> the same in ``crs`` (metres)."""
    import shapely

    t = _transformer(crs)
    return shapely.transform(geom, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))


def geometry_to_wgs84(geom, crs: str):
    """A shapely geometry in ``crs`` (metres) -> the same in WGS-84."""
    import shapely

    t = _transformer(crs, inverse=True)
    return shapely.transform(geom, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))


def _ecef(lon, lat):
    from stationmap.index import ecef

    return ecef(lon, lat)


# -- study areas -----------------------------------------------------------------------

@dataclass(frozen=True)
class Area:
    """One district (or any polygon) of a coverage run.

    ``geometry`` is a shapely (Multi)Polygon in WGS-84; ``population`` the
    census population spread over its cells (None: unknown, demand is then
    relative and sums to 1).  ``note`` says anything a reader must know (for
    example that the polygon is a road network's extent).
    """

    adcode: str
    name: str
    level: str
    geometry: object = field(repr=False)
    population: float | None = None
    note: str = ""

    @classmethod
    def from_district(cls, d, *, geometry=None, note: str = "") -> "Area":
        return cls(adcode=d.adcode, name=d.name, level=d.level, geometry=geometry or d.geometry,
                   population=d.population, note=note)


def resolve_areas(area, *, districts=None, network=None, settings=None) -> list[Area]:
    """The :class:`Area` list for ``area``.

    ``area`` may be an adcode (str or int): a county gives itself; a city its
    counties and districts; the province every county.  A census zone with no
    polygon (320571 Suzhou Industrial Park) takes the extent of ``network``
    (the convex hull of its nodes) as its polygon.  ``area`` may also be an
    :class:`Area`, a shapely polygon in WGS-84, or a list of any of these.
    """
    if isinstance(area, Area):
        return [area]
    if isinstance(area, (list, tuple)):
        out = []
        for a in area:
            out += resolve_areas(a, districts=districts, network=network, settings=settings)
        # polygons without a code get their own: area1, area2, ... (in the order given)
        out = [replace(a, adcode=f"area{k + 1}", name=f"{a.name} {k + 1}") if not a.adcode else a
               for k, a in enumerate(out)]
        _check_unique(out)
        return out
    if hasattr(area, "geom_type"):
        if area.geom_type not in ("Polygon", "MultiPolygon") or area.is_empty:
            raise ValidationError(f"area must be a polygon in WGS-84, got a {area.geom_type}", field="area")
        _check_wgs84_bounds(area.bounds)
        return [Area(adcode="", name="polygon", level="polygon", geometry=area)]
    if districts is None:
        from stationmap.districts import load_districts

        districts = load_districts(settings)
    d = districts.get(area)
    if d.level == "county":
        return [Area.from_district(d)]
    if d.level == "city":
        return [Area.from_district(c) for c in districts.children(d.adcode)]
    if d.level == "province":
        out = []
        for c in districts.children(d.adcode):
            out += [Area.from_district(k) for k in districts.children(c.adcode)]
        return out
    # a zone: no polygon of its own
    if network is None:
        network = default_network_for(d, settings=settings, districts=districts)
    if network is None:
        raise NotFoundError(
            f"district {d.adcode} ({d.name}) has no boundary polygon and no road network covers it; "
            "give a polygon or a network", field="district")
    note = (f"{d.name} has no boundary polygon in the bundled data: the study area is the extent "
            "(convex hull) of its road network, and the census population of the whole unit is spread "
            "over it, so absolute demand overstates this area; shares are unaffected")
    return [Area.from_district(d, geometry=network_extent(network), note=note)]


def _check_unique(areas):
    seen = set()
    for a in areas:
        if a.adcode and a.adcode in seen:
            raise ValidationError(f"district {a.adcode} is given twice", field="district")
        seen.add(a.adcode)


def _check_wgs84_bounds(bounds):
    w, s, e, n = bounds
    if not (-180 <= w <= e <= 180 and -90 <= s <= n <= 90):
        raise ValidationError(f"area must be in WGS-84 degrees, got bounds {tuple(round(b, 3) for b in bounds)}",
                              field="area")


# -- road networks ----------------------------------------------------------------------

def network_extent(network):
    """The convex hull (WGS-84) of a road network's nodes: the study polygon of a zone."""
    import shapely

    return shapely.convex_hull(shapely.multipoints(np.column_stack([network.lon, network.lat])))


_NET_CACHE: dict = {}
_NET_LOCK = threading.Lock()


def configured_networks(settings=None) -> dict:
    """The networks of ``Settings.networks`` ({name: Network}), loaded once per file version."""
    from pathlib import Path

    settings = settings or _config.load()
    out = {}
    for name, path in (settings.networks or {}).items():
        p = Path(path)
        try:
            key = (str(p.resolve()), p.stat().st_mtime_ns, str(name))
        except OSError:
            continue
        with _NET_LOCK:
            net = _NET_CACHE.get(key)
        if net is None:
            from stationmap.network import Network

            net = Network.load(p, name=str(name), settings=settings)
            with _NET_LOCK:
                _NET_CACHE[key] = net
        out[str(name)] = net
    return out


def default_network_for(district, *, settings=None, districts=None, networks=None):
    """The road network that delimits a census zone without a polygon (such as
    320571, Suzhou Industrial Park): among ``networks`` (default: the
    configured ones, :func:`configured_networks`), the first (by name) whose
    centre lies in the zone's city; None if there is none, or if ``district``
    is not a zone (a county has its own polygon: give a network explicitly
    to use one there)."""
    if district.level != "zone":
        return None
    nets = configured_networks(settings) if networks is None else networks
    if not nets:
        return None
    if districts is None:
        from stationmap.districts import load_districts

        districts = load_districts(settings)
    for name in sorted(nets):
        net = nets[name]
        w, s, e, n = net.bounds
        code = districts.locate((w + e) / 2.0, (s + n) / 2.0)
        if code is None:
            continue
        if code[:4] == district.adcode[:4]:
            return net
    return None


class _Pt:
    __slots__ = ("lon", "lat")

    def __init__(self, lon, lat):
        self.lon, self.lat = lon, lat


_GRAPHS: dict = {}


def _reverse_graph(network, mode):
    """The mode's real arcs (without the network's virtual node), reversed:
    ``rev[a, b]`` = seconds from ``b`` to ``a``.  Cached per network and mode."""
    import weakref

    from scipy.sparse import csr_matrix

    key = (id(network), mode)
    hit = _GRAPHS.get(key)
    if hit is not None and hit[0]() is network:
        return hit[1], hit[2]
    g = network.graph(mode)
    n = network.n_nodes
    nnz = int(g.csr.indptr[n])
    real = csr_matrix((g.csr.data[:nnz].copy(), g.csr.indices[:nnz].copy(), g.csr.indptr[:n + 1].copy()),
                      shape=(n, n))
    rev = real.T.tocsr()
    rev.sort_indices()
    _GRAPHS[key] = (weakref.ref(network), real, rev)
    return real, rev


def _snap_points(network, mode, lon, lat, max_snap_m):
    """(edge, t, access seconds) of WGS-84 points snapped onto ``mode``'s roads;
    edge -1 where a point is farther than ``max_snap_m`` from every road."""
    lon = np.asarray(lon, dtype=float)
    if lon.size == 0:
        return np.empty(0, np.int64), np.empty(0), np.empty(0)
    e, t, d = network.snap_stations([_Pt(a, b) for a, b in zip(lon.tolist(), np.asarray(lat, float).tolist())],
                                    mode=mode)
    off = (e < 0) | ~(d <= max_snap_m)
    e = np.where(off, -1, e)
    return e, t, np.where(off, np.inf, d / network.walk_mps())


def _source_arcs(network, g, e, t, access):
    """Arcs from a (virtual) source at each snapped station to the ends of its
    edge, in the reverse graph: weight = seconds from that end to the station."""
    T = g.edge_s[e]
    u, v = network.edge_u[e].astype(np.int64), network.edge_v[e].astype(np.int64)
    to_u = g.can_fwd[e]            # a worker at u reaches the station going u -> v
    to_v = g.can_back[e]
    return u, access + t * T, to_u, v, access + (1.0 - t) * T, to_v


def _augmented(rev, n_src, arcs_per_src):
    """``rev`` with ``n_src`` virtual source nodes appended (rows n..n+n_src-1)."""
    from scipy.sparse import csr_matrix

    n = rev.shape[0]
    counts = np.array([len(a[0]) for a in arcs_per_src], dtype=np.int64)
    indptr = np.concatenate([rev.indptr.astype(np.int64),
                             rev.indptr[-1] + np.cumsum(counts)])
    indices = np.concatenate([rev.indices.astype(np.int64)] + [np.asarray(a[0], np.int64) for a in arcs_per_src])
    data = np.concatenate([rev.data] + [np.asarray(a[1], float) for a in arcs_per_src])
    size = n + n_src
    return csr_matrix((data, indices, indptr), shape=(size, size))


def node_minutes(network, station_lon, station_lat, *, mode: str = "walk", limit_minutes: float = np.inf,
                 max_snap_m: float | None = None) -> np.ndarray:
    """Minutes from every node of ``network`` to the nearest station (WGS-84
    points snapped onto the roads, the off-road part at walking speed): one
    Dijkstra on the reversed graph from a virtual source joined to every
    station.  ``inf`` beyond ``limit_minutes`` and where no station is on the
    network."""
    from scipy.sparse.csgraph import dijkstra

    mode = check_mode(mode)
    max_snap = network.settings.max_snap_m if max_snap_m is None else float(max_snap_m)
    g = network.graph(mode)
    _real, rev = _reverse_graph(network, mode)
    n = network.n_nodes
    e, t, acc = _snap_points(network, mode, station_lon, station_lat, max_snap)
    on = e >= 0
    if not on.any():
        return np.full(n, np.inf)
    u, wu, ou, v, wv, ov = _source_arcs(network, g, e[on], t[on], acc[on])
    tgt = np.concatenate([u[ou], v[ov]])
    w = np.concatenate([wu[ou], wv[ov]])
    aug = _augmented(rev, 1, [(tgt, w)])
    d = dijkstra(aug, directed=True, indices=n, limit=float(limit_minutes) * 60.0)
    return d[:n] / 60.0


@dataclass
class _Legs:
    """Cells snapped onto a mode's roads: how each leaves its snap point."""

    ok: np.ndarray      # cells on the network
    e: np.ndarray       # their edges
    t: np.ndarray       # fraction along the edge from u
    cu: np.ndarray
    cv: np.ndarray
    lu: np.ndarray      # seconds from the snap point to u (inf if v -> u is closed)
    lv: np.ndarray      # seconds to v (inf if u -> v is closed)
    base: np.ndarray    # off-road seconds


def _cell_legs(network, g, mode, lon, lat, max_snap):
    ce, ct, cacc = _snap_points(network, mode, lon, lat, max_snap)
    ok = np.nonzero(ce >= 0)[0]
    e = ce[ok]
    T = g.edge_s[e]
    return _Legs(ok=ok, e=e, t=ct[ok], cu=network.edge_u[e].astype(np.int64), cv=network.edge_v[e].astype(np.int64),
                 lu=np.where(g.can_back[e], ct[ok] * T, np.inf), lv=np.where(g.can_fwd[e], (1.0 - ct[ok]) * T, np.inf),
                 base=cacc[ok])


def _via_graph(legs: _Legs, D):
    """(k, n) seconds from each node to the station(s) -> (k, cells on the network)."""
    return np.minimum(D[:, legs.cu] + legs.lu, D[:, legs.cv] + legs.lv) + legs.base


def _same_edge(legs: _Legs, g, se, st, sacc, k_idx):
    """(k, cells) seconds when a cell and a station share an edge and the trip stays on it."""
    out = np.full((len(k_idx), legs.ok.size), np.inf)
    by_edge: dict = {}
    for r, s in enumerate(np.asarray(k_idx).tolist()):
        by_edge.setdefault(int(se[s]), []).append((r, s))
    if not by_edge.keys() & set(legs.e.tolist()):
        return out
    for c, ed in enumerate(legs.e.tolist()):
        for r, s in by_edge.get(ed, ()):
            dt = st[s] - legs.t[c]
            if g.can_fwd[ed] if dt >= 0 else g.can_back[ed]:
                out[r, c] = abs(dt) * g.edge_s[ed] + sacc[s] + legs.base[c]
    return out


def _station_blocks(network, g, rev, legs, se, st, sacc, limit_s, block=128):
    """Seconds from every cell on the network to each station within ``limit_s``
    (one bounded search per station, in blocks): yields (station indices, (k, cells))."""
    from scipy.sparse.csgraph import dijkstra

    n = network.n_nodes
    u, wu, ou, v, wv, ov = _source_arcs(network, g, se, st, sacc)
    for start in range(0, se.size, block):
        k_idx = np.arange(start, min(se.size, start + block))
        arcs = []
        for s in k_idx.tolist():
            tg = [x for x, o in ((u[s], ou[s]), (v[s], ov[s])) if o]
            wt = [x for x, o in ((wu[s], ou[s]), (wv[s], ov[s])) if o]
            arcs.append((np.asarray(tg, np.int64), np.asarray(wt, float)))
        aug = _augmented(rev, k_idx.size, arcs)
        Dk = dijkstra(aug, directed=True, indices=n + np.arange(k_idx.size), limit=limit_s)[:, :n]
        tk = np.minimum(_via_graph(legs, Dk), _same_edge(legs, g, se, st, sacc, k_idx))
        yield k_idx, tk


def network_minutes(network, cell_lon, cell_lat, station_lon, station_lat, *, mode: str = "walk",
                    minutes: float = _config.DEFAULT_MINUTES, horizon_minutes: float | None = None,
                    max_snap_m: float | None = None, count: bool = True):
    """Network method: minutes to the nearest station and stations within ``minutes``.

    ``network`` is a :class:`stationmap.network.Network`.  Cell centres and
    stations (WGS-84) are snapped onto the nearest road open to ``mode``; the
    off-road part is a straight walk at walking speed (as in
    :mod:`stationmap.network`); the trip runs from the cell to the station
    (one-way streets respected).  A point farther than ``max_snap_m`` (default
    the network's ``Settings.max_snap_m``) from every road is off the network:
    cells get ``inf`` and 0, stations are ignored.

    Returns ``(minutes, count)`` per cell; minutes beyond ``horizon_minutes``
    (default ``4 * minutes``) are ``inf``.
    """
    from scipy.sparse.csgraph import dijkstra

    mode = check_mode(mode)
    minutes = check_minutes(minutes)
    horizon = horizon_for(minutes, horizon_minutes)
    max_snap = network.settings.max_snap_m if max_snap_m is None else float(max_snap_m)
    g = network.graph(mode)
    _real, rev = _reverse_graph(network, mode)
    n = network.n_nodes
    n_cells = np.asarray(cell_lon).size
    out_min = np.full(n_cells, np.inf)
    cnt = np.zeros(n_cells, dtype=np.int32)
    se, st, sacc = _snap_points(network, mode, station_lon, station_lat, max_snap)
    on = se >= 0
    se, st, sacc = se[on], st[on], sacc[on]
    if not se.size or not n_cells:
        return out_min, cnt
    legs = _cell_legs(network, g, mode, cell_lon, cell_lat, max_snap)
    if not legs.ok.size:
        return out_min, cnt
    # minutes to the nearest station: one search from a source joined to them all
    u, wu, ou, v, wv, ov = _source_arcs(network, g, se, st, sacc)
    aug = _augmented(rev, 1, [(np.concatenate([u[ou], v[ov]]), np.concatenate([wu[ou], wv[ov]]))])
    D = dijkstra(aug, directed=True, indices=n, limit=horizon * 60.0)[None, :n]
    best = _via_graph(legs, D)[0]
    best = np.minimum(best, _same_edge(legs, g, se, st, sacc, np.arange(se.size)).min(axis=0))
    m = best / 60.0
    m[m > horizon] = np.inf
    out_min[legs.ok] = m
    if count:
        limit = minutes * 60.0
        for _k, tk in _station_blocks(network, g, rev, legs, se, st, sacc, limit):
            cnt[legs.ok] += (tk <= limit).sum(axis=0).astype(np.int32)
    return out_min, cnt


def network_reach(network, cell_lon, cell_lat, site_lon, site_lat, *, mode: str = "walk",
                  minutes: float = _config.DEFAULT_MINUTES, max_snap_m: float | None = None):
    """Sparse boolean (sites, cells) matrix: which cells (WGS-84 centres) reach
    which sites within ``minutes`` on ``network`` (as :func:`network_minutes`).
    Sites off the network reach nothing."""
    from scipy.sparse import coo_matrix

    mode = check_mode(mode)
    minutes = check_minutes(minutes)
    max_snap = network.settings.max_snap_m if max_snap_m is None else float(max_snap_m)
    g = network.graph(mode)
    _real, rev = _reverse_graph(network, mode)
    n_cells, n_sites = np.asarray(cell_lon).size, np.asarray(site_lon).size
    se, st, sacc = _snap_points(network, mode, site_lon, site_lat, max_snap)
    on = np.nonzero(se >= 0)[0]
    legs = _cell_legs(network, g, mode, cell_lon, cell_lat, max_snap)
    rows, cols = [], []
    if on.size and legs.ok.size:
        limit = minutes * 60.0
        for k_idx, tk in _station_blocks(network, g, rev, legs, se[on], st[on], sacc[on], limit):
            r, c = np.nonzero(tk <= limit)
            rows.append(on[k_idx[r]])
            cols.append(legs.ok[c])
    r = np.concatenate(rows) if rows else np.empty(0, np.int64)
    c = np.concatenate(cols) if cols else np.empty(0, np.int64)
    return coo_matrix((np.ones(r.size, bool), (r, c)), shape=(n_sites, n_cells)).tocsr()


# -- grids ----------------------------------------------------------------------------------

@dataclass
class Grid:
    """Cells over one or more areas.

    Arrays are aligned, one entry per cell: ``cell_id`` (str: ``"i_j"`` for
    squares, the H3 index for hexagons), ``adcode`` (the area containing the
    centre), ``x, y`` (centre in ``crs``, metres), ``lon, lat`` (centre,
    WGS-84), ``area_m2``.  Square grids also carry ``i, j``, the cell's column
    and row in the ``crs`` lattice (``x = (i + 0.5) * cell_m``).
    """

    shape: str
    crs: str
    cell_m: float | None
    resolution: int | None
    ids: np.ndarray | None  # H3 indexes; None for squares (built from i, j on use)
    adcode: np.ndarray
    x: np.ndarray
    y: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    area_m2: np.ndarray
    i: np.ndarray | None = None
    j: np.ndarray | None = None
    _xyz: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return int(self.x.size)

    @property
    def cell_id(self) -> np.ndarray:
        if self.ids is None:
            self.ids = np.array([f"{a}_{b}" for a, b in zip(self.i.tolist(), self.j.tolist())], dtype=object)
        return self.ids

    def subset(self, mask) -> "Grid":
        mask = np.asarray(mask)
        pick = lambda a: None if a is None else a[mask]  # noqa: E731
        return replace(self, ids=pick(self.ids), adcode=self.adcode[mask], x=self.x[mask],
                       y=self.y[mask], lon=self.lon[mask], lat=self.lat[mask], area_m2=self.area_m2[mask],
                       i=pick(self.i), j=pick(self.j), _xyz=pick(self._xyz))

    def xyz(self):
        """ECEF positions of the cell centres, metres, (n, 3) (computed once)."""
        if self._xyz is None:
            self._xyz = _ecef(self.lon, self.lat)
        return self._xyz

    def polygons_metric(self):
        """Cell polygons in ``crs`` (metres), as a shapely array."""
        import shapely

        if self.shape == "square":
            c = self.cell_m
            x0, y0 = self.i * c, self.j * c
            return shapely.box(x0, y0, x0 + c, y0 + c)
        return np.array([geometry_to_metric(p, self.crs) for p in self.polygons_wgs84()], dtype=object)

    def polygons_wgs84(self):
        """Cell polygons in WGS-84 lon/lat, as a shapely array."""
        import shapely

        if len(self) == 0:
            return np.empty(0, dtype=object)
        if self.shape == "square":
            c = self.cell_m
            x0, y0 = self.i * c, self.j * c
            xs = np.stack([x0, x0 + c, x0 + c, x0, x0], axis=1)
            ys = np.stack([y0, y0, y0 + c, y0 + c, y0], axis=1)
            lon, lat = to_wgs84(xs.ravel(), ys.ravel(), self.crs)
            coords = np.stack([lon.reshape(xs.shape), lat.reshape(xs.shape)], axis=2)
            return shapely.polygons(coords)
        import h3

        out = []
        for h in self.cell_id:
            ring = [(lng, lat) for lat, lng in h3.cell_to_boundary(h)]
            out.append(shapely.Polygon(ring))
        return np.array(out, dtype=object)

    def adjacency(self):
        """Sparse symmetric (n, n) adjacency: squares sharing an edge, hexagons sharing a side."""
        from scipy.sparse import coo_matrix

        n = len(self)
        rows, cols = [], []
        if self.shape == "square":
            if n:
                off = int(min(self.i.min(), 0)) - 1, int(min(self.j.min(), 0)) - 1
                span = int(self.j.max()) - off[1] + 2
                key = (self.i - off[0]) * span + (self.j - off[1])
                order = np.argsort(key)
                skey = key[order]
                for di, dj in ((1, 0), (0, 1)):
                    nk = (self.i + di - off[0]) * span + (self.j + dj - off[1])
                    pos = np.searchsorted(skey, nk)
                    pos = np.minimum(pos, n - 1)
                    hit = skey[pos] == nk
                    rows.append(np.nonzero(hit)[0])
                    cols.append(order[pos[hit]])
        else:
            import h3

            where = {h: k for k, h in enumerate(self.cell_id.tolist())}
            r, c = [], []
            for k, h in enumerate(self.cell_id.tolist()):
                for nb in h3.grid_ring(h, 1):
                    m = where.get(nb)
                    if m is not None and m > k:
                        r.append(k)
                        c.append(m)
            rows.append(np.asarray(r, dtype=np.int64))
            cols.append(np.asarray(c, dtype=np.int64))
        r = np.concatenate(rows) if rows else np.empty(0, np.int64)
        c = np.concatenate(cols) if cols else np.empty(0, np.int64)
        data = np.ones(2 * r.size, dtype=np.int8)
        return coo_matrix((data, (np.concatenate([r, c]), np.concatenate([c, r]))), shape=(n, n)).tocsr()


def h3_resolution_for(cell_m: float) -> int:
    """The H3 resolution whose mean hexagon area is nearest (in ratio) to a ``cell_m`` square."""
    import h3

    target = math.log(float(cell_m) ** 2)
    return min(range(0, 16), key=lambda r: abs(math.log(h3.average_hexagon_area(r, unit="m^2")) - target))


def make_grid(areas, *, cell_m: float = DEFAULT_CELL_M, shape: str = "square", h3_resolution: int | None = None,
              crs: str | None = None, max_cells: int | None = None) -> Grid:
    """Cells over ``areas`` (a list of :class:`Area`, or one; WGS-84 polygons).

    Parameters
    ----------
    cell_m : float
        Square side in metres (default 250).  For H3 it picks the resolution
        unless ``h3_resolution`` is given.
    shape : {"square", "h3"}
    crs : str, optional
        Metric CRS of the square lattice and of ``x, y``; default: the UTM
        zone of the areas' centre (:func:`stationmap.coords.utm_crs_for`).

    A cell goes to the first area (in the order given) that contains its
    centre (centres on a border: the first area touching it).  With
    ``max_cells``, a grid that would be larger is refused (ValidationError on
    ``cell``) before it is built.
    """
    import shapely

    if isinstance(areas, Area):
        areas = [areas]
    areas = list(areas)
    if shape not in SHAPES:
        raise ValidationError(f"shape must be one of {SHAPES}, got {shape!r}", field="shape")
    cell_m = check_cell_m(cell_m)
    if crs is None:
        crs = crs_for(areas)
    if max_cells is not None:
        area_m2 = sum(geometry_to_metric(a.geometry, crs).area for a in areas)
        unit = cell_m * cell_m
        if shape == "h3":
            import h3

            res = h3_resolution if isinstance(h3_resolution, int) and 0 <= h3_resolution <= 15 \
                else h3_resolution_for(cell_m)
            unit = h3.average_hexagon_area(res, unit="m^2")
        if area_m2 / unit > max_cells * 1.02:
            raise ValidationError(f"cell {cell_m:g} m gives about {area_m2 / unit:,.0f} cells here, over the limit "
                                  f"of {max_cells:,}: use larger cells or a smaller district", field="cell")
    if shape == "h3":
        return _h3_grid(areas, cell_m=cell_m, resolution=h3_resolution, crs=crs)
    ii, jj, codes = [], [], []
    total = 0
    for a in areas:
        gm = geometry_to_metric(a.geometry, crs)
        minx, miny, maxx, maxy = gm.bounds
        i0, i1 = math.ceil(minx / cell_m - 0.5), math.floor(maxx / cell_m - 0.5)
        j0, j1 = math.ceil(miny / cell_m - 0.5), math.floor(maxy / cell_m - 0.5)
        if i1 < i0 or j1 < j0:
            continue
        n_i, n_j = i1 - i0 + 1, j1 - j0 + 1
        total += n_i * n_j
        if total > _MAX_CELLS * 4:
            raise ValidationError(f"cell {cell_m:g} m is too small for this area (over {_MAX_CELLS:,} cells); "
                                  "use a larger cell or partition the run", field="cell")
        shapely.prepare(gm)
        ci = np.arange(i0, i1 + 1, dtype=np.int64)
        rows_per_chunk = max(1, 2_000_000 // n_i)
        for js in range(j0, j1 + 1, rows_per_chunk):
            cj = np.arange(js, min(j1, js + rows_per_chunk - 1) + 1, dtype=np.int64)
            I, J = np.meshgrid(ci, cj, indexing="xy")
            I, J = I.ravel(), J.ravel()
            inside = shapely.intersects_xy(gm, (I + 0.5) * cell_m, (J + 0.5) * cell_m)
            ii.append(I[inside])
            jj.append(J[inside])
            codes.append(np.full(int(inside.sum()), a.adcode, dtype=object))
    if ii:
        I, J, A = np.concatenate(ii), np.concatenate(jj), np.concatenate(codes)
    else:
        I, J, A = np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, dtype=object)
    # keep the first area's claim on a cell whose centre two areas touch
    if I.size and len(areas) > 1:
        span = int(J.max()) - int(J.min()) + 1
        _, first = np.unique((I - I.min()) * span + (J - J.min()), return_index=True)
        first.sort()
        I, J, A = I[first], J[first], A[first]
    if I.size > _MAX_CELLS:
        raise ValidationError(f"cell {cell_m:g} m gives {I.size:,} cells (over {_MAX_CELLS:,}); "
                              "use a larger cell or partition the run", field="cell")
    x, y = (I + 0.5) * cell_m, (J + 0.5) * cell_m
    lon, lat = to_wgs84(x, y, crs)
    return Grid(shape="square", crs=crs, cell_m=cell_m, resolution=None, ids=None, adcode=A,
                x=x, y=y, lon=lon, lat=lat, area_m2=np.full(I.size, cell_m * cell_m), i=I, j=J)


def crs_for(areas) -> str:
    """The UTM zone (WGS-84) of the centre of ``areas``' combined bounds."""
    b = np.array([a.geometry.bounds for a in areas])
    if not len(b):
        raise ValidationError("no area to cover", field="area")
    return utm_crs_for((b[:, 0].min() + b[:, 2].max()) / 2.0, (b[:, 1].min() + b[:, 3].max()) / 2.0)


def _h3_grid(areas, *, cell_m, resolution, crs) -> Grid:
    import h3

    if resolution is None:
        resolution = h3_resolution_for(cell_m)
    if isinstance(resolution, bool) or not isinstance(resolution, (int, np.integer)) or not 0 <= resolution <= 15:
        raise ValidationError(f"h3_resolution must be an integer in [0, 15], got {resolution!r}",
                              field="h3_resolution")
    seen: dict = {}
    for a in areas:
        for h in sorted(h3.geo_to_cells(a.geometry, int(resolution))):
            seen.setdefault(h, a.adcode)
    ids = np.array(list(seen.keys()), dtype=object)
    codes = np.array(list(seen.values()), dtype=object)
    if ids.size > _MAX_CELLS:
        raise ValidationError(f"h3 resolution {resolution} gives {ids.size:,} cells (over {_MAX_CELLS:,})",
                              field="h3_resolution")
    ll = np.array([h3.cell_to_latlng(h) for h in ids.tolist()], dtype=float).reshape(-1, 2)
    lat, lon = ll[:, 0], ll[:, 1]
    x, y = to_metric(lon, lat, crs)
    area = np.array([h3.cell_area(h, unit="m^2") for h in ids.tolist()], dtype=float)
    return Grid(shape="h3", crs=crs, cell_m=None, resolution=int(resolution), ids=ids, adcode=codes,
                x=x, y=y, lon=lon, lat=lat, area_m2=area)


# -- stations as arrays -------------------------------------------------------------

@dataclass
class StationArrays:
    """Stations as numpy arrays (what partitions ship to workers).  WGS-84."""

    id: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    kinds: np.ndarray  # bit mask over KINDS
    sample: np.ndarray
    name: np.ndarray | None = None

    @classmethod
    def from_stations(cls, stations: Iterable[Station], *, include_closed: bool = False) -> "StationArrays":
        """Stations (closed ones left out unless ``include_closed``)."""
        if isinstance(stations, StationArrays):
            return stations
        if hasattr(stations, "stations") and callable(stations.stations):
            stations = stations.stations()
        st = [s for s in stations if include_closed or s.status != "closed"]
        bits = {k: 1 << i for i, k in enumerate(KINDS)}
        return cls(
            id=np.array([s.id for s in st], dtype=object),
            lon=np.array([s.lon for s in st], dtype=float),
            lat=np.array([s.lat for s in st], dtype=float),
            kinds=np.array([sum(bits.get(k, 0) for k in s.kinds) for s in st], dtype=np.int64),
            sample=np.array([s.is_sample for s in st], dtype=bool),
            name=np.array([s.name for s in st], dtype=object),
        )

    def __len__(self) -> int:
        return int(self.lon.size)

    def of_kind(self, kind: str) -> np.ndarray:
        return (self.kinds & (1 << tuple(KINDS).index(kind))) != 0

    def subset(self, mask) -> "StationArrays":
        return StationArrays(self.id[mask], self.lon[mask], self.lat[mask], self.kinds[mask], self.sample[mask],
                             None if self.name is None else self.name[mask])


# -- minutes and counts ------------------------------------------------------------------

def circle_minutes(cell_lon, cell_lat, station_lon, station_lat, *, mode: str = "walk",
                   minutes: float = _config.DEFAULT_MINUTES, horizon_minutes: float | None = None,
                   settings=None, detour: float | None = None, cell_xyz=None):
    """Circle method: minutes to the nearest station and stations within ``minutes``.

    All coordinates WGS-84.  Time = straight-line distance x detour factor /
    mode speed.  Returns ``(minutes_to_nearest, count)``; minutes beyond
    ``horizon_minutes`` (default ``4 * minutes``) are ``inf``.
    """
    from scipy.spatial import cKDTree

    settings = settings or _config.load()
    minutes = check_minutes(minutes)
    horizon = horizon_for(minutes, horizon_minutes)
    detour = settings.detour_factor if detour is None else float(detour)
    speed = speed_m_per_min(mode, settings)
    cells = _ecef(cell_lon, cell_lat) if cell_xyz is None else cell_xyz
    n = cells.shape[0]
    out_min = np.full(n, np.inf)
    count = np.zeros(n, dtype=np.int32)
    if n == 0 or len(station_lon) == 0:
        return out_min, count
    tree = cKDTree(_ecef(station_lon, station_lat))
    horizon_m = horizon * speed / detour
    d, _ = tree.query(cells, k=1, distance_upper_bound=horizon_m * (1 + 1e-9) + 1e-6)
    m = d * detour / speed
    m[m > horizon] = np.inf
    out_min[:] = m
    radius = minutes * speed / detour
    count[:] = tree.query_ball_point(cells, r=radius, return_length=True)
    return out_min, count


# -- demand -----------------------------------------------------------------------------

def spread_population(grid: Grid, areas, *, weights=None) -> np.ndarray:
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


def road_length_per_cell(grid: Grid, network, *, step_m: float | None = None) -> np.ndarray:
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


def _sum_into_cells(grid: Grid, px, py, weight) -> np.ndarray:
    """Sum ``weight`` of metric points (grid CRS) into the cells holding them."""
    out = np.zeros(len(grid))
    idx = locate_cells(grid, x=px, y=py)
    ok = idx >= 0
    np.add.at(out, idx[ok], np.asarray(weight, dtype=float)[ok])
    return out


def locate_cells(grid: Grid, *, lon=None, lat=None, x=None, y=None) -> np.ndarray:
    """Index of the cell holding each point (WGS-84 ``lon, lat`` or grid-CRS
    ``x, y``), -1 where no cell of the grid holds it."""
    if x is None:
        x, y = to_metric(lon, lat, grid.crs)
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(grid) == 0 or x.size == 0:
        return np.full(x.size, -1, dtype=np.int64)
    if grid.shape == "square":
        c = grid.cell_m
        pi, pj = np.floor(x / c).astype(np.int64), np.floor(y / c).astype(np.int64)
        off_i, off_j = min(int(grid.i.min()), int(pi.min())) - 1, min(int(grid.j.min()), int(pj.min())) - 1
        span = max(int(grid.j.max()), int(pj.max())) - off_j + 2
        key = (grid.i - off_i) * span + (grid.j - off_j)
        order = np.argsort(key)
        skey = key[order]
        pk = (pi - off_i) * span + (pj - off_j)
        pos = np.minimum(np.searchsorted(skey, pk), len(grid) - 1)
        return np.where(skey[pos] == pk, order[pos], -1)
    import h3

    lon, lat = to_wgs84(x, y, grid.crs) if lon is None else (np.asarray(lon, float), np.asarray(lat, float))
    where = {h: k for k, h in enumerate(grid.cell_id.tolist())}
    res = grid.resolution
    return np.array([where.get(h3.latlng_to_cell(b, a, res), -1) for a, b in zip(lon.tolist(), lat.tolist())],
                    dtype=np.int64)


def demand_from_points(grid: Grid, lon, lat, weight=None) -> np.ndarray:
    """Demand from points (WGS-84) with weights (default 1): each point's
    weight goes to the cell holding it; points outside the grid are dropped."""
    lon = np.asarray(lon, dtype=float)
    w = np.ones(lon.size) if weight is None else np.asarray(weight, dtype=float)
    if w.shape != lon.shape:
        raise ValidationError(f"weight must have one value per point, got {w.size} for {lon.size}", field="weight")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValidationError("weight must be finite and non-negative", field="weight")
    return _sum_into_cells(grid, *to_metric(lon, lat, grid.crs), w)


def demand_from_polygons(grid: Grid, geometries, weight) -> np.ndarray:
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
    tree = shapely.STRtree(pts)
    g_idx, c_idx = tree.query(geoms, predicate="contains")
    counts = np.bincount(g_idx, minlength=geoms.size)
    np.add.at(out, c_idx, w[g_idx] / counts[g_idx])
    empty = np.nonzero(counts == 0)[0]
    if empty.size:
        rp = shapely.point_on_surface(geoms[empty])
        out += demand_from_points(grid, shapely.get_x(rp), shapely.get_y(rp), w[empty])
    return out


def demand_from_frame(grid: Grid, frame, *, column: str = "weight") -> np.ndarray:
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


# -- the result -----------------------------------------------------------------------

@dataclass
class Coverage:
    """A coverage run: the grid, per-kind minutes and counts, demand, areas.

    ``minutes[kind]``: minutes to the nearest station of that kind (``inf``
    beyond ``horizon_minutes``); ``count[kind]``: stations of that kind
    within ``threshold`` minutes (>= 1 covered, >= 2 cross-covered).
    """

    grid: Grid
    areas: list
    kinds: tuple
    mode: str
    threshold: float
    horizon_minutes: float
    method: str
    minutes: dict
    count: dict
    demand: np.ndarray
    demand_source: str
    stations: StationArrays
    parent: dict | None = None
    notes: list = field(default_factory=list)
    #: the road network of a network-method run (not serialised)
    network: object = field(default=None, repr=False)

    @property
    def sample(self) -> bool:
        """True when any station counted is SAMPLE data (generated, not real)."""
        return bool(self.stations.sample.any()) if len(self.stations) else False

    def params(self) -> dict:
        return {"mode": self.mode, "minutes": self.threshold, "horizon_minutes": self.horizon_minutes,
                "method": self.method, "kinds": list(self.kinds), "shape": self.grid.shape,
                "cell_m": self.grid.cell_m, "h3_resolution": self.grid.resolution, "crs": self.grid.crs,
                "demand": self.demand_source, "sample": self.sample, "cells": len(self.grid)}

    # -- tables ---------------------------------------------------------------------
    def cells(self, *, geometry: bool = False):
        """One row per cell: ids, centre (WGS-84), area, demand, and per kind
        ``minutes_<kind>``, ``count_<kind>``.  A GeoDataFrame (WGS-84 cell
        polygons) when ``geometry``, else a DataFrame."""
        import pandas as pd

        g = self.grid
        cols = {"cell_id": g.cell_id, "adcode": g.adcode, "lon": g.lon, "lat": g.lat,
                "area_m2": g.area_m2, "demand": self.demand}
        for k in self.kinds:
            cols[f"minutes_{k}"] = self.minutes[k]
            cols[f"count_{k}"] = self.count[k]
        df = pd.DataFrame(cols)
        if not geometry:
            return df
        import geopandas as gpd

        return gpd.GeoDataFrame(df, geometry=g.polygons_wgs84(), crs="EPSG:4326")

    def stats(self, *, total: bool = True):
        """Figures per district and kind (a DataFrame).

        Columns: adcode, name, kind, stations (of that kind inside the
        district), cells, area_km2, population, demand, area_covered,
        area_cross_covered, demand_covered, demand_cross_covered (shares in
        [0, 1]), uncovered_demand, median_minutes, p95_minutes (over area),
        median_minutes_demand, p95_minutes_demand (over demand).  With
        ``total`` and several districts, a row per kind for all of them.
        """
        import pandas as pd

        rows = []
        groups = [(a.adcode, a.name, a.population, self.grid.adcode == a.adcode, a.geometry) for a in self.areas]
        if total and len(self.areas) > 1:
            p = self.parent or {}
            pops = [a.population for a in self.areas]
            pop = None if any(x is None for x in pops) else float(sum(pops))
            groups.append((p.get("adcode", "all"), p.get("name", "all"), pop, np.ones(len(self.grid), bool),
                           None))
        st = self.stations
        inside = {}
        for code, _name, _pop, _m, geom in groups:
            inside[code] = _points_in(geom, st.lon, st.lat) if geom is not None else None
        if total and len(self.areas) > 1:
            code = groups[-1][0]
            inside[code] = np.zeros(len(st), bool)
            for a in self.areas:
                inside[code] |= inside[a.adcode]
        for code, name, pop, m, _geom in groups:
            area = self.grid.area_m2[m]
            dem = self.demand[m]
            for k in self.kinds:
                mins, cnt = self.minutes[k][m], self.count[k][m]
                cov, cross = cnt >= 1, cnt >= 2
                a_tot, d_tot = float(area.sum()), float(dem.sum())
                rows.append({
                    "adcode": code, "name": name, "kind": k,
                    "stations": int((inside[code] & st.of_kind(k)).sum()) if len(st) else 0,
                    "cells": int(m.sum()), "area_km2": a_tot / 1e6,
                    "population": pop, "demand": d_tot,
                    "area_covered": _share(area[cov].sum(), a_tot),
                    "area_cross_covered": _share(area[cross].sum(), a_tot),
                    "demand_covered": _share(dem[cov].sum(), d_tot),
                    "demand_cross_covered": _share(dem[cross].sum(), d_tot),
                    "uncovered_demand": float(dem[~cov].sum()),
                })
                order = np.argsort(mins, kind="stable")
                (rows[-1]["median_minutes"], rows[-1]["p95_minutes"]) = _percentiles(mins, area, order, (50, 95))
                (rows[-1]["median_minutes_demand"], rows[-1]["p95_minutes_demand"]) = _percentiles(
                    mins, dem, order, (50, 95))
        return pd.DataFrame(rows)

    def gaps(self, *, kind: str | None = None, geometry: bool = False, min_cells: int = 1):
        """Connected uncovered areas for ``kind`` (default: the first kind), ranked
        by uncovered demand, then area.

        Columns: rank, kind, cells, area_km2, demand, adcode (the district
        holding most of the gap), lon, lat (WGS-84 centre: the gap's cell
        nearest its area centroid, so it lies in the gap), max_minutes.
        With ``geometry``, a GeoDataFrame of the dissolved gap polygons.
        """
        import pandas as pd
        from scipy.sparse.csgraph import connected_components

        kind = self._kind(kind)
        unc = np.nonzero(self.count[kind] == 0)[0]
        cols = ["rank", "kind", "cells", "area_km2", "demand", "adcode", "lon", "lat", "max_minutes"]
        if not unc.size:
            df = pd.DataFrame(columns=cols)
            return _maybe_geo(df, [] if geometry else None)
        sub = self.grid.subset(unc)
        ncomp, label = connected_components(sub.adjacency(), directed=False)
        area, dem = sub.area_m2, self.demand[unc]
        a_sum = np.bincount(label, weights=area, minlength=ncomp)
        d_sum = np.bincount(label, weights=dem, minlength=ncomp)
        n_cells = np.bincount(label, minlength=ncomp)
        cx = np.bincount(label, weights=area * sub.x, minlength=ncomp) / a_sum
        cy = np.bincount(label, weights=area * sub.y, minlength=ncomp) / a_sum
        # the member cell nearest each centroid
        dist = np.hypot(sub.x - cx[label], sub.y - cy[label])
        order = np.lexsort((dist, label))
        first = order[np.r_[True, label[order][1:] != label[order][:-1]]]
        mins = self.minutes[kind][unc]
        max_min = np.full(ncomp, -np.inf)
        np.maximum.at(max_min, label, mins)
        main_code = _majority(label, sub.adcode, area, ncomp)
        df = pd.DataFrame({"kind": kind, "cells": n_cells, "area_km2": a_sum / 1e6, "demand": d_sum,
                           "adcode": main_code, "lon": sub.lon[first], "lat": sub.lat[first],
                           "max_minutes": max_min})
        df["_label"] = np.arange(ncomp)
        df = df[df.cells >= int(min_cells)]
        df = df.sort_values(["demand", "area_km2", "lat", "lon"], ascending=[False, False, True, True],
                            kind="mergesort").reset_index(drop=True)
        df.insert(0, "rank", np.arange(1, len(df) + 1))
        geoms = None
        if geometry:
            geoms = _dissolve_groups(sub, label, df["_label"].to_numpy())
        df = df.drop(columns="_label")
        return _maybe_geo(df, geoms)

    def bands(self, *, kind: str | None = None, bands=MINUTE_BANDS):
        """Cells dissolved by minute band for maps: a GeoDataFrame (WGS-84) with
        lo, hi (minutes; hi inf for the last band), area_km2, demand."""
        import geopandas as gpd

        kind = self._kind(kind)
        edges = [0.0, *[float(b) for b in bands], np.inf]
        mins = self.minutes[kind]
        band = np.searchsorted(np.asarray(edges[1:-1]), mins, side="left")
        rows, geoms = [], []
        labels = np.unique(band)
        polys = _dissolve_groups(self.grid, band, labels)
        for lab, g in zip(labels.tolist(), polys):
            m = band == lab
            rows.append({"lo": edges[lab], "hi": edges[lab + 1], "cells": int(m.sum()),
                         "area_km2": float(self.grid.area_m2[m].sum() / 1e6),
                         "demand": float(self.demand[m].sum())})
            geoms.append(g)
        return gpd.GeoDataFrame(rows, geometry=geoms, crs="EPSG:4326")

    def cross_covered_area(self, *, kind: str | None = None):
        """The dissolved cross-covered (>= 2 stations in reach) area, WGS-84."""
        kind = self._kind(kind)
        m = self.count[kind] >= 2
        if not m.any():
            return None
        return _dissolve_groups(self.grid, m.astype(np.int64), np.array([1]))[0]

    def _kind(self, kind):
        if kind is None:
            return self.kinds[0]
        kind = check_kinds([kind])[0]
        if kind not in self.kinds:
            raise ValidationError(f"kind must be one of {self.kinds}, got {kind!r}", field="kind")
        return kind

    def to_dict(self, *, cells: bool = False) -> dict:
        """JSON-ready figures (non-finite numbers as None); the cells as a
        GeoJSON FeatureCollection (WGS-84) when ``cells``."""
        import json

        out = {"params": self.params(), "datum": "wgs84",
               "districts": [{"adcode": a.adcode, "name": a.name, "level": a.level,
                              "population": a.population, "note": a.note or None} for a in self.areas],
               "stats": _records(self.stats()), "notes": list(self.notes)}
        if cells:
            gdf = self.cells(geometry=True)
            for k in self.kinds:
                col = f"minutes_{k}"
                gdf[col] = gdf[col].astype(object).where(np.isfinite(gdf[col].to_numpy(float)), None)
            out["cells"] = json.loads(gdf.to_json(na="null", drop_id=True))
        return out


def _records(df) -> list:
    out = []
    for r in df.to_dict(orient="records"):
        out.append({k: (None if isinstance(v, float) and not math.isfinite(v) else
                        (v.item() if hasattr(v, "item") else v)) for k, v in r.items()})
    return out


def _maybe_geo(df, geoms):
    if geoms is None:
        return df
    import geopandas as gpd

    return gpd.GeoDataFrame(df, geometry=list(geoms), crs="EPSG:4326")


def _majority(label, codes, weight, ncomp):
    import pandas as pd

    t = pd.DataFrame({"l": label, "c": codes, "w": weight}).groupby(["l", "c"], sort=True)["w"].sum()
    t = t.reset_index().sort_values(["l", "w", "c"], ascending=[True, False, True], kind="mergesort")
    best = t.drop_duplicates("l")
    out = np.empty(ncomp, dtype=object)
    out[best["l"].to_numpy()] = best["c"].to_numpy()
    return out


def _dissolve_groups(grid: Grid, label, wanted) -> list:
    """Union of the cells of each wanted label, in WGS-84 (squares: exact coverage union)."""
    import shapely

    polys = grid.polygons_metric()
    out = []
    for lab in np.asarray(wanted).tolist():
        members = polys[label == lab]
        if grid.shape == "square":
            g = shapely.coverage_union_all(members)
        else:
            g = shapely.union_all(members, grid_size=0.01)
        g = shapely.simplify(g, 0.0)
        out.append(geometry_to_wgs84(g, grid.crs))
    return out


def _points_in(geom, lon, lat):
    import shapely

    if geom is None or not len(lon):
        return np.zeros(len(lon), bool)
    shapely.prepare(geom)
    return shapely.intersects_xy(geom, lon, lat)


def _share(part, whole):
    return float(part) / float(whole) if whole > 0 else float("nan")


def _percentiles(values, weights, order, qs):
    """:func:`weighted_percentile` for several ``qs`` given the sort ``order`` of ``values``."""
    v, w = values[order], np.asarray(weights, dtype=float)[order]
    keep = w > 0
    if not keep.any():
        return tuple(float("nan") for _ in qs)
    v, c = v[keep], np.cumsum(w[keep])
    out = []
    for q in qs:
        k = int(np.searchsorted(c, q / 100.0 * c[-1] * (1 - 1e-12), side="left"))
        out.append(float(v[min(k, v.size - 1)]))
    return tuple(out)


def weighted_percentile(values, weights, q):
    """The smallest value whose cumulative weight share reaches ``q`` percent
    (numpy's ``inverted_cdf``); NaN when the weights sum to 0."""
    values = np.asarray(values, dtype=float)
    weights = np.asarray(weights, dtype=float)
    keep = weights > 0
    if not keep.any():
        return float("nan")
    v, w = values[keep], weights[keep]
    order = np.argsort(v, kind="stable")
    v, c = v[order], np.cumsum(w[order])
    k = int(np.searchsorted(c, q / 100.0 * c[-1] * (1 - 1e-12), side="left"))
    return float(v[min(k, v.size - 1)])


# -- running it --------------------------------------------------------------------------

def analyse(area, stations, *, kinds=None, mode: str = "walk", minutes: float | None = None,
            method: str = "auto", network=None, cell_m: float = DEFAULT_CELL_M, shape: str = "square",
            h3_resolution: int | None = None, crs: str | None = None, horizon_minutes: float | None = None,
            demand=None, demand_column: str = "weight", demand_proxy: str = "auto", districts=None,
            settings=None, grid: Grid | None = None, max_cells: int | None = None, progress=None) -> Coverage:
    """Coverage of ``area`` by ``stations``.

    Parameters
    ----------
    area : adcode, Area, shapely polygon (WGS-84) or a list of them
        See :func:`resolve_areas`.  A city gives one row per county in
        :meth:`Coverage.stats` and one for the whole city.
    stations : iterable of Station, StationIndex or StationArrays
        Closed stations are left out.  Stations outside the area count too
        (a worker may cross a border); pass them all.
    kinds : list of str, optional
        Station kinds to analyse (default: every kind).
    mode : str
        One of :data:`stationmap.config.MODES`; speed from ``settings``.
    minutes : float, optional
        The threshold (default ``Settings.minutes``, 15).
    method : {"auto", "circle", "network"}
        ``"auto"``: the network when ``network`` is given (or the area is a
        zone that only a network delimits), else circles.
    cell_m, shape, h3_resolution, crs
        The grid (:func:`make_grid`).
    horizon_minutes : float, optional
        Minutes are reported up to this (default ``4 * minutes``).
    demand : GeoDataFrame or array, optional
        A demand layer (points or polygons with ``demand_column``) or an
        array with one value per cell; default the census population spread
        by ``demand_proxy``: ``"roads"`` (road length per cell, needs a
        network), ``"uniform"`` (cell area) or ``"auto"`` (roads when a
        network is used, else uniform).
    max_cells : int, optional
        Refuse (ValidationError on ``cell``) a grid of more cells than this.
    progress : callable, optional
        Called with a short label as each step starts (the CLI's progress bar).
    """
    settings = settings or _config.load()
    minutes = check_minutes(settings.minutes if minutes is None else minutes)
    mode = check_mode(mode)
    kinds = check_kind_list(kinds)
    if method not in METHODS:
        raise ValidationError(f"method must be one of {METHODS}, got {method!r}", field="method")
    if demand_proxy not in DEMAND_PROXIES:
        raise ValidationError(f"demand_proxy must be one of {DEMAND_PROXIES}, got {demand_proxy!r}",
                              field="demand_proxy")
    horizon = horizon_for(minutes, horizon_minutes)
    step = progress or (lambda label: None)

    step("districts")
    parent = None
    if isinstance(area, (str, int, np.integer)) and not isinstance(area, bool):
        if districts is None:
            from stationmap.districts import load_districts

            districts = load_districts(settings)
        d = districts.get(area)
        if d.level in ("city", "province"):
            parent = {"adcode": d.adcode, "name": d.name}
        if d.level == "zone" and network is None:
            network = default_network_for(d, settings=settings, districts=districts)
    areas = resolve_areas(area, districts=districts, network=network, settings=settings)
    if method == "auto":
        method = "network" if network is not None else "circle"
    if method == "network" and network is None:
        network = _default_network(settings)
        if network is None:
            raise NotFoundError("method 'network' needs a road network and none is configured", field="method")
    notes = [a.note for a in areas if a.note]

    step("grid")
    if grid is None:
        grid = make_grid(areas, cell_m=cell_m, shape=shape, h3_resolution=h3_resolution, crs=crs,
                         max_cells=max_cells)
    if max_cells is not None and len(grid) > max_cells:
        raise ValidationError(f"cell {cell_m:g} m gives {len(grid):,} cells here, over the limit of {max_cells:,}: "
                              "use larger cells or a smaller district", field="cell")
    st = StationArrays.from_stations(stations)

    mins, cnts = {}, {}
    for k in kinds:
        step(f"minutes: {k}")
        sel = st.of_kind(k) if len(st) else np.zeros(0, bool)
        if method == "circle":
            mins[k], cnts[k] = circle_minutes(grid.lon, grid.lat, st.lon[sel], st.lat[sel], mode=mode,
                                              minutes=minutes, horizon_minutes=horizon, settings=settings,
                                              cell_xyz=grid.xyz())
        else:
            mins[k], cnts[k] = network_minutes(network, grid.lon, grid.lat, st.lon[sel], st.lat[sel],
                                               mode=mode, minutes=minutes, horizon_minutes=horizon)

    step("demand")
    if demand is None:
        proxy = demand_proxy
        if proxy == "auto":
            proxy = "roads" if (network is not None and method == "network") else "uniform"
        if proxy == "roads":
            if network is None:
                raise ValidationError("demand_proxy 'roads' needs a road network", field="demand_proxy")
            dem = spread_population(grid, areas, weights=road_length_per_cell(grid, network))
            source = "census 2020 population spread over cells by road length"
        else:
            dem = spread_population(grid, areas)
            source = "census 2020 population spread uniformly over cell area"
        if any(a.population is None for a in areas):
            source += " (relative demand where the population is unknown)"
    elif isinstance(demand, np.ndarray) or isinstance(demand, (list, tuple)):
        dem = np.asarray(demand, dtype=float)
        if dem.shape != (len(grid),):
            raise ValidationError(f"demand must have one value per cell ({len(grid)}), got shape {dem.shape}",
                                  field="demand")
        source = "supplied per cell"
    else:
        dem = demand_from_frame(grid, demand, column=demand_column)
        source = f"supplied layer ({len(demand)} features, column {demand_column!r})"
    return Coverage(grid=grid, areas=areas, kinds=kinds, mode=mode, threshold=minutes, horizon_minutes=horizon,
                    method=method, minutes=mins, count=cnts, demand=dem, demand_source=source, stations=st,
                    parent=parent, notes=notes, network=network if method == "network" else None)


def _default_network(settings):
    nets = configured_networks(settings)
    return nets[sorted(nets)[0]] if nets else None


# -- large runs: partitions on Dask ---------------------------------------------------

def margin_m(mode: str, minutes: float, *, horizon_minutes: float | None = None, settings=None) -> float:
    """How far (metres) beyond a partition's polygon stations can still matter:
    the circle-method distance of the horizon."""
    settings = settings or _config.load()
    return horizon_for(check_minutes(minutes), horizon_minutes) * speed_m_per_min(mode, settings) \
        / settings.detour_factor


def partition_stations(areas, stations: StationArrays, margin: float) -> list:
    """For each area, the indices of the stations inside its WGS-84 bounding box
    grown by ``margin`` metres (a superset of every station within ``margin``
    of the area)."""
    import shapely

    if not len(stations):
        return [np.empty(0, np.int64) for _ in areas]
    boxes = []
    for a in areas:
        w, s, e, n = a.geometry.bounds
        dlat = margin / 110_574.0 * 1.01 + 1e-6
        top = min(89.9, max(abs(s), abs(n)) + dlat)
        dlon = min(180.0, margin / (111_320.0 * math.cos(math.radians(top))) * 1.01 + 1e-6)
        boxes.append(shapely.box(w - dlon, s - dlat, e + dlon, n + dlat))
    tree = shapely.STRtree(shapely.points(stations.lon, stations.lat))
    a_idx, s_idx = tree.query(np.array(boxes, dtype=object), predicate="intersects")
    order = np.lexsort((s_idx, a_idx))
    a_idx, s_idx = a_idx[order], s_idx[order]
    cuts = np.searchsorted(a_idx, np.arange(len(areas) + 1))
    return [s_idx[cuts[k]:cuts[k + 1]] for k in range(len(areas))]


def run_partition(area: Area, stations: StationArrays, params: dict) -> dict:
    """One partition of :func:`analyse_many`: the coverage of one area (circle
    method, its own UTM grid) with the stations near it.  Returns its stats
    (and cells when ``params["keep_cells"]``) as DataFrames."""
    settings = params.get("settings") or _config.load()
    cov = analyse(area, stations, kinds=params["kinds"], mode=params["mode"], minutes=params["minutes"],
                  method="circle", cell_m=params["cell_m"], shape=params["shape"],
                  h3_resolution=params["h3_resolution"], horizon_minutes=params["horizon_minutes"],
                  settings=settings)
    out = {"adcode": area.adcode, "stats": cov.stats(total=False), "cells": None, "n_cells": len(cov.grid)}
    if params.get("keep_cells"):
        out["cells"] = cov.cells()
    return out


def run_partitions(batch: list, params: dict) -> list:
    """Several partitions in one task: ``[(area, stations), ...]`` -> their results.
    Batching keeps the scheduler's per-task overhead small next to the work."""
    return [run_partition(a, s, params) for a, s in batch]


@dataclass
class ManyResult:
    """The result of :func:`analyse_many`: figures per area (and cells if kept)."""

    stats: object
    cells: object
    params: dict
    n_cells: int
    seconds: float
    scheduler: str


def analyse_many(areas, stations, *, kinds=None, mode: str = "walk", minutes: float | None = None,
                 cell_m: float = DEFAULT_CELL_M, shape: str = "square", h3_resolution: int | None = None,
                 horizon_minutes: float | None = None, scheduler=None, n_workers: int | None = None,
                 processes: bool = True, keep_cells: bool = False, batch_size: int | None = None, districts=None,
                 settings=None, progress=None) -> ManyResult:
    """Coverage of many districts, partitioned by district, on Dask.

    Each district is one task, with the stations inside its bounding box
    grown by the horizon distance (:func:`margin_m`), so cells near a border
    see the stations across it: the figures equal those of a serial run with
    every station (``tests/unit/test_coverage_dask.py``).  Each district has
    its own UTM grid.  The circle method only.

    Parameters
    ----------
    areas : adcode (a city or the province gives its counties), list of
        adcodes or :class:`Area`
    scheduler : None, "serial", an address or a ``distributed.Client``
        None: a local cluster (``n_workers`` processes, or threads when
        ``processes`` is False) started and closed here; an address
        (``tcp://host:8786``): that cluster; ``"serial"``: a loop in this
        process (for comparison and small runs).
    batch_size : int, optional
        Partitions per Dask task (default: about a sixteenth of the
        partitions per worker thread).
    progress : callable, optional
        Called with (done, total) as partitions finish.
    """
    import time

    import pandas as pd

    settings = settings or _config.load()
    minutes = check_minutes(settings.minutes if minutes is None else minutes)
    mode = check_mode(mode)
    kinds = check_kind_list(kinds)
    check_cell_m(cell_m)
    if shape not in SHAPES:
        raise ValidationError(f"shape must be one of {SHAPES}, got {shape!r}", field="shape")
    horizon = horizon_for(minutes, horizon_minutes)
    if not isinstance(areas, (list, tuple)):
        areas = [areas]
    resolved = []
    for a in areas:
        if isinstance(a, Area):
            resolved.append(a)
        else:
            resolved += resolve_areas(a, districts=districts, settings=settings)
    _check_unique(resolved)
    st = StationArrays.from_stations(stations)
    subsets = partition_stations(resolved, st, margin_m(mode, minutes, horizon_minutes=horizon, settings=settings))
    params = {"kinds": kinds, "mode": mode, "minutes": minutes, "cell_m": cell_m, "shape": shape,
              "h3_resolution": h3_resolution, "horizon_minutes": horizon, "keep_cells": keep_cells,
              "settings": settings}
    total = len(resolved)
    tick = progress or (lambda done, total: None)
    t0 = time.perf_counter()
    results: list = [None] * total
    if scheduler == "serial":
        label = "serial"
        for k, (a, idx) in enumerate(zip(resolved, subsets)):
            results[k] = run_partition(a, st.subset(idx), params)
            tick(k + 1, total)
    else:
        from distributed import Client, LocalCluster, as_completed

        own = None
        if scheduler is None:
            import os

            workers = n_workers or max(1, os.cpu_count() or 1)
            own = LocalCluster(n_workers=workers if processes else 1,
                               threads_per_worker=1 if processes else workers,
                               processes=processes, dashboard_address=None)
            client = Client(own)
            label = f"local cluster ({workers} {'processes' if processes else 'threads'})"
        elif isinstance(scheduler, Client):
            client, label = scheduler, f"cluster {scheduler.scheduler.address}"
        elif isinstance(scheduler, str):
            try:
                client = Client(scheduler, timeout="10s")
            except (OSError, TimeoutError) as exc:
                raise ValidationError(f"scheduler {scheduler!r} cannot be reached: {exc}", field="scheduler") \
                    from None
            label = f"cluster {scheduler}"
        else:
            raise ValidationError(f"scheduler must be None, 'serial', an address or a Client, got {scheduler!r}",
                                  field="scheduler")
        try:
            # batches of about 1/16 of the partitions per worker thread, largest districts first
            threads = max(1, sum(client.nthreads().values()))
            size = math.ceil(total / (16 * threads)) if batch_size is None else max(1, int(batch_size))
            order = sorted(range(total), key=lambda k: -resolved[k].geometry.area)
            futures = {}
            for b in range(0, total, size):
                ks = order[b:b + size]
                batch = [(resolved[k], st.subset(subsets[k])) for k in ks]
                f = client.submit(run_partitions, batch, params, pure=False, key=f"coverage-{b // size}-{ks[0]}")
                futures[f] = ks
            done = 0
            for f in as_completed(futures):
                for k, r in zip(futures[f], f.result()):
                    results[k] = r
                done += len(futures[f])
                tick(done, total)
        finally:
            if own is not None:
                client.close()
                own.close()
            elif not isinstance(scheduler, Client):
                client.close()
    stats = pd.concat([r["stats"] for r in results], ignore_index=True) if results else pd.DataFrame()
    cells = None
    if keep_cells:
        cells = pd.concat([r["cells"] for r in results], ignore_index=True) if results else pd.DataFrame()
    return ManyResult(stats=stats, cells=cells, n_cells=int(sum(r["n_cells"] for r in results)),
                      params={k: v for k, v in params.items() if k != "settings"},
                      seconds=time.perf_counter() - t0, scheduler=label)


# -- exports: GeoPackage, tables, charts, map ----------------------------------------------

#: fonts with CJK glyphs, preferred first (fonts-wqy-microhei on Debian)
CJK_FONTS = ("WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC",
             "Source Han Sans CN", "SimHei", "Microsoft YaHei", "PingFang SC", "Droid Sans Fallback",
             "AR PL UMing CN", "AR PL UKai CN")


def cjk_font() -> str | None:
    """The name of an installed font with CJK glyphs (matplotlib's list), or None."""
    from matplotlib import font_manager

    have = {f.name for f in font_manager.fontManager.ttflist}
    for name in CJK_FONTS:
        if name in have:
            return name
    return None


def figures_table(coverage):
    """:meth:`Coverage.stats` with the run's parameters, for CSV/XLSX."""
    df = coverage.stats()
    df.insert(3, "mode", coverage.mode)
    df.insert(4, "minutes", coverage.threshold)
    df.insert(5, "method", coverage.method)
    df["sample_data"] = coverage.sample
    return df


def chart_coverage_by_district(coverage, path, *, kind=None, lang="zh"):
    """Bar chart: share of demand covered once and twice (and of area) per district (PNG, Agg)."""
    kind = coverage._kind(kind)
    font = cjk_font()
    zh = lang == "zh" and font is not None
    df = coverage.stats()
    df = df[df.kind == kind].reset_index(drop=True)
    labels = [(f"{n}" if zh else f"{c}") for c, n in zip(df.adcode, df.name)]
    with _chart(coverage, kind, zh, font, path, (8, max(2.6, 1.2 + 0.45 * len(df)))) as ax:
        y = np.arange(len(df))[::-1]
        h = 0.27
        ax.barh(y + h, df.demand_covered.fillna(0) * 100, h, color="#1a9850",
                label="人口覆盖率（≥1 站）" if zh else "demand covered (1+ station)")
        ax.barh(y, df.demand_cross_covered.fillna(0) * 100, h, color="#2c5aa0",
                label="交叉覆盖（≥2 站）" if zh else "demand cross-covered (2+)")
        ax.barh(y - h, df.area_covered.fillna(0) * 100, h, color="#bbbbbb",
                label="面积覆盖率" if zh else "area covered")
        ax.set_yticks(y, labels)
        ax.set_xlim(0, 100)
        ax.set_xlabel("%")
        ax.grid(axis="x", alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    return Path(path)


def chart_minutes_distribution(coverage, path, *, kind=None, lang="zh"):
    """Cumulative share of demand within x minutes of a station, per district (PNG, Agg)."""
    kind = coverage._kind(kind)
    font = cjk_font()
    zh = lang == "zh" and font is not None
    x = np.linspace(0, coverage.horizon_minutes, 241)
    with _chart(coverage, kind, zh, font, path, (8, 4.6)) as ax:
        groups = [(a.name if zh else a.adcode, coverage.grid.adcode == a.adcode) for a in coverage.areas]
        if len(coverage.areas) > 1:
            groups.append(((coverage.parent or {}).get("name", "全部") if zh else
                           (coverage.parent or {}).get("adcode", "all"), np.ones(len(coverage.grid), bool)))
        for k, (label, mask) in enumerate(groups):
            mins, dem = coverage.minutes[kind][mask], coverage.demand[mask]
            tot = dem.sum()
            if tot <= 0:
                continue
            order = np.argsort(mins)
            cum = np.cumsum(dem[order]) / tot
            share = np.concatenate([[0.0], cum])[np.searchsorted(mins[order], x, side="right")]
            last = k == len(groups) - 1 and len(groups) > 1
            ax.plot(x, share * 100, lw=2.4 if last else 1.3, color="black" if last else None, label=label)
        ax.axvline(coverage.threshold, color="#d73027", ls="--", lw=1)
        ax.set_xlim(0, coverage.horizon_minutes)
        ax.set_ylim(0, 100)
        ax.set_xlabel("到最近站点的分钟数" if zh else "minutes to the nearest station")
        ax.set_ylabel("人口累计占比 %" if zh else "share of demand within x minutes, %")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, ncol=2 if len(groups) > 6 else 1, loc="lower right")
    return Path(path)


@contextmanager
def _chart(coverage, kind, zh, font, path, figsize):
    """One chart's axes (matplotlib, Agg, ``font`` (:func:`cjk_font`) when there is one);
    on exit: the title, the sample-data mark, and the PNG written to ``path``."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    with plt.rc_context({"font.family": [font, "DejaVu Sans"] if font else ["DejaVu Sans"],
                         "axes.unicode_minus": False}):
        fig, ax = plt.subplots(figsize=figsize, dpi=110)
        try:
            yield ax
            ax.set_title(_chart_title(coverage, kind, zh), fontsize=10)
            _sample_mark(fig, coverage, zh)
            fig.tight_layout()
            fig.savefig(path)
        finally:
            plt.close(fig)


def _chart_title(coverage, kind, zh):
    name = (coverage.parent or {}).get("name") or coverage.areas[0].name
    if not zh:
        name = (coverage.parent or {}).get("adcode") or coverage.areas[0].adcode or "area"
        return f"{name}: {kind}, {coverage.threshold:g} min by {coverage.mode} ({coverage.method})"
    kinds = {"rest": "工会驿站", "hot_tea": "热茶点", "legal_aid": "法律援助点"}
    modes = {"walk": "步行", "bike": "骑行", "ebike": "电动车", "car": "驾车"}
    return f"{name}：{kinds.get(kind, kind)} {coverage.threshold:g} 分钟{modes.get(coverage.mode, coverage.mode)}覆盖"


def _sample_mark(fig, coverage, zh):
    if coverage.sample:
        fig.text(0.99, 0.01, "示例数据（非真实站点）" if zh else "SAMPLE DATA (generated, not real stations)",
                 ha="right", va="bottom", fontsize=8, color="#b35900")


def write_outputs(coverage, out_dir, *, kind=None, sites=None, lang="zh", progress=None) -> dict:
    """Write every output of a run into ``out_dir``; returns {name: path}.

    * ``coverage.gpkg``: layers ``cells`` (polygons: minutes and counts per
      kind, demand), ``gaps`` (dissolved, ranked), ``sites`` (points, when
      ``sites``), ``districts`` (boundaries); WGS-84.
    * ``figures.csv`` (UTF-8 with BOM, for Excel) and ``figures.xlsx``
      (sheets figures, gaps, sites, about): the per-district figures.
    * ``coverage_by_district.png``, ``minutes_distribution.png``.
    * ``coverage_map.html``: the standalone map.
    * ``summary.json``: parameters and figures.
    """
    import json

    import geopandas as gpd
    import pandas as pd

    from stationmap.maps.coverage import coverage_map, save_html

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    kind = coverage._kind(kind)
    step = progress or (lambda label: None)
    paths = {}

    step("tables")
    fig = figures_table(coverage)
    gaps = coverage.gaps(kind=kind, geometry=True)
    paths["csv"] = out / "figures.csv"
    fig.to_csv(paths["csv"], index=False, encoding="utf-8-sig")
    about = pd.DataFrame({"item": list(coverage.params().keys()) + ["notes", "datum"],
                          "value": [str(v) for v in coverage.params().values()]
                          + [" | ".join(coverage.notes) or "-", "WGS-84 (EPSG:4326)"]})
    if coverage.sample:
        about.loc[len(about)] = ["SAMPLE DATA", "the stations are generated samples, not real stations"]
    paths["xlsx"] = out / "figures.xlsx"
    with pd.ExcelWriter(paths["xlsx"], engine="openpyxl") as xw:
        fig.replace([np.inf, -np.inf], np.nan).to_excel(xw, sheet_name="figures", index=False)
        pd.DataFrame(gaps.drop(columns="geometry")).replace([np.inf, -np.inf], np.nan).to_excel(
            xw, sheet_name="gaps", index=False)
        if sites is not None:
            sites.table.to_excel(xw, sheet_name="sites", index=False)
        about.to_excel(xw, sheet_name="about", index=False)

    step("geopackage")
    paths["gpkg"] = out / "coverage.gpkg"
    if paths["gpkg"].exists():
        paths["gpkg"].unlink()
    cells = coverage.cells(geometry=True)
    cells.to_file(paths["gpkg"], layer="cells", driver="GPKG")
    if len(gaps):
        gaps.to_file(paths["gpkg"], layer="gaps", driver="GPKG")
    if sites is not None and len(sites.table):
        sp = gpd.GeoDataFrame(sites.table.copy(), geometry=gpd.points_from_xy(sites.table.lon, sites.table.lat),
                              crs="EPSG:4326")
        sp["kind"] = sites.kind
        sp.to_file(paths["gpkg"], layer="sites", driver="GPKG")
    gpd.GeoDataFrame({"adcode": [a.adcode for a in coverage.areas], "name": [a.name for a in coverage.areas],
                      "population": [a.population for a in coverage.areas]},
                     geometry=[a.geometry for a in coverage.areas], crs="EPSG:4326").to_file(
        paths["gpkg"], layer="districts", driver="GPKG")

    step("charts")
    paths["chart_districts"] = chart_coverage_by_district(coverage, out / "coverage_by_district.png", kind=kind,
                                                          lang=lang)
    paths["chart_minutes"] = chart_minutes_distribution(coverage, out / "minutes_distribution.png", kind=kind,
                                                        lang=lang)

    step("map")
    paths["html"] = save_html(coverage_map(coverage, kind=kind, sites=sites, lang=lang, standalone=True,
                                           gaps=gaps), out / "coverage_map.html")
    summary = coverage.to_dict()
    summary["gaps"] = _records(pd.DataFrame(gaps.drop(columns="geometry")).head(50))
    if sites is not None:
        summary["sites"] = sites.to_dict()
    paths["json"] = out / "summary.json"
    paths["json"].write_text(json.dumps(summary, ensure_ascii=False, indent=1), encoding="utf-8")
    return paths


# -- one call for the CLI and the web: analyse, site, write -------------------------------

def open_network(spec, *, settings=None):
    """A road network from a name in ``Settings.networks``, a compiled ``.npz``
    or a ``.gpkg`` road graph (built in memory)."""
    from stationmap.network import Network

    settings = settings or _config.load()
    nets = configured_networks(settings)
    if spec in nets:
        return nets[spec]
    p = Path(str(spec))
    if not p.exists():
        names = ", ".join(sorted(nets)) or "none configured"
        raise NotFoundError(f"network must be a configured name ({names}) or a file, got {str(spec)!r}",
                            field="network")
    if p.suffix.lower() == ".npz":
        return Network.load(p, settings=settings)
    return Network.build(p, settings=settings)


def read_points(path, *, weight_column: str | None = None):
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


def report(area, stations, out_dir, *, kinds=None, mode: str = "walk", minutes: float | None = None,
           method: str = "auto", network=None, cell_m: float = DEFAULT_CELL_M, shape: str = "square",
           h3_resolution: int | None = None, add: int | None = None, solver: str = "auto", candidates=None,
           demand=None, demand_column: str = "weight", lang: str = "zh", settings=None, progress=None):
    """Analyse ``area``, suggest ``add`` sites for the first kind, and write every
    output (:func:`write_outputs`).  Returns ``(coverage, sites or None, paths)``."""
    from stationmap import siting

    cov = analyse(area, stations, kinds=kinds, mode=mode, minutes=minutes, method=method, network=network,
                  cell_m=cell_m, shape=shape, h3_resolution=h3_resolution, demand=demand,
                  demand_column=demand_column, settings=settings, progress=progress)
    sites = None
    if add:
        (progress or (lambda label: None))("sites")
        sites = siting.suggest_sites(cov, add, candidates=candidates, method=solver, settings=settings)
    paths = write_outputs(cov, out_dir, sites=sites, lang=lang, progress=progress)
    return cov, sites, paths

