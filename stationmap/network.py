"""Road networks: OpenStreetMap roads as a travel-time graph per mode.

A :class:`Network` is built once from an OpenStreetMap ``.osm.pbf`` / ``.osm``
file (read with osmium) or from a GeoPackage road graph (layers ``nodes`` and
``edges``, as ``data/roads/sip_roads.gpkg``), and compiled into a compact
``.npz`` file that loads in milliseconds (``stationmap network build``).

The graph
    Nodes are WGS-84 points.  Every edge is a **straight segment** between two
    nodes (an OpenStreetMap way is split at each of its nodes), so a partly
    travelled edge is cut exactly, and the geometry needs no other arrays.
    Lengths are geodesic metres (pyproj.Geod).  Two edges joining the same two
    nodes are kept apart by a node at the middle of the second one, so the
    graph is simple.  Only the largest connected piece is kept (fragments cut
    off at the edge of an extract would trap whoever is snapped onto them).

Modes and their rules (speeds from :mod:`stationmap.config`, applied at load,
so changing a speed needs no rebuild)

    ========= ============================================ =========================
    mode      roads                                        speed
    ========= ============================================ =========================
    walk      every class except motorway                  ``speeds_kmh["walk"]``
    bike      every class except motorway and steps;       ``speeds_kmh["bike"]``;
              both ways on one-way streets                 walking speed on footway
                                                           and pedestrian (pushed)
    ebike     as bike                                      ``speeds_kmh["ebike"]``
    car       classes with a car speed; one-way respected  ``car_speeds_kmh[class]``
    ========= ============================================ =========================

    OpenStreetMap ``access``, ``foot``, ``bicycle``, ``motor_vehicle``,
    ``motorcar`` and ``vehicle`` tags close or open a way per mode;
    ``oneway`` (``yes``, ``-1``), ``junction=roundabout`` and motorways make a
    way one-way for cars.  E-bikes are non-motor vehicles (非机动车) in China and
    follow the ``bicycle`` tags.  The GeoPackage graph has no one-way or access
    information, so on it every road is two-way for every mode.

Searches run :func:`scipy.sparse.csgraph.dijkstra` with ``limit`` on a CSR
matrix per mode.  The matrix has one extra "virtual" node whose two arcs are
set, per query, to the two ends of the edge the query point snapped onto, so a
search starts from the exact point on the road without copying the graph.
Searches that need times at junctions only (isochrones) run on a contracted
copy (:meth:`Network.core`, :meth:`Network.search_core`): the middle nodes of
two-way chains are taken out and each chain becomes one arc, so Dijkstra
visits junctions only (half of SIP's nodes) and finds the same times there.

Every coordinate in and out is WGS-84 (lon, lat in degrees); distances are
metres and times seconds unless a name says otherwise.  Geometry work happens
in the UTM zone of the network's centre (:func:`stationmap.coords.utm_crs_for`);
many points go back to WGS-84 through polynomials fitted to pyproj over the
network's extent (:meth:`Network.to_lonlat_fast`, error below 1 mm).
"""

from __future__ import annotations

import math
import threading
import weakref
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np

from stationmap import config as _config
from stationmap.config import DEFAULT_CAR_SPEEDS_KMH, MODES
from stationmap.coords import GEOD, utm_crs_for
from stationmap.errors import ConfigError, NotFoundError, ValidationError, geodata_read_errors
from stationmap.index import check_point
from stationmap.jit import compiled

FORMAT = "stationmap-network/1"

#: Road classes a network knows, in a fixed order (the compiled file stores
#: the names it used, so this order may grow without breaking old files).
ROAD_CLASSES = (
    "motorway", "trunk", "primary", "secondary", "tertiary", "unclassified", "residential",
    "road", "living_street", "service", "track", "pedestrian", "footway", "cycleway", "path",
    "steps", "other",
)

#: OpenStreetMap ``highway`` values that are not roads anyone travels on.
NOT_ROUTABLE = frozenset({
    "construction", "proposed", "planned", "abandoned", "disused", "razed", "platform",
    "raceway", "bus_guideway", "busway", "elevator", "corridor", "rest_area", "services",
    "emergency_bay", "escape", "bus_stop", "no", "emergency_access_point", "turning_circle",
})

_ALIASES = {
    "motorway_link": "motorway", "trunk_link": "trunk", "primary_link": "primary",
    "secondary_link": "secondary", "tertiary_link": "tertiary", "trail": "path",
    "bridleway": "path", "crossing": "footway", "sidewalk": "footway",
}

#: classes closed to each mode (car: every class without a car speed)
CLOSED = {
    "walk": frozenset({"motorway"}),
    "bike": frozenset({"motorway", "steps"}),
    "ebike": frozenset({"motorway", "steps"}),
}
#: classes where bikes are pushed (walking speed)
PUSHED = frozenset({"footway", "pedestrian"})

_MODE_BIT = {m: 1 << i for i, m in enumerate(MODES)}
_ALL_MODES = sum(_MODE_BIT.values())
_YES = frozenset({"yes", "designated", "permissive", "official", "destination", "customers", "delivery"})
_NO = frozenset({"no", "private", "agricultural", "forestry", "discouraged", "use_sidepath"})
_ONEWAY_FWD = frozenset({"yes", "true", "1"})
_ONEWAY_REV = frozenset({"-1", "reverse"})
#: tags deciding access per mode, most specific first
_MODE_TAGS = {
    "walk": ("foot",),
    "bike": ("bicycle", "vehicle"),
    "ebike": ("bicycle", "vehicle"),
    "car": ("motorcar", "motor_vehicle", "vehicle"),
}


def road_class(highway) -> str | None:
    """The road class for an OpenStreetMap ``highway`` value; None if not routable."""
    h = str(highway or "").strip().lower()
    if not h or h in NOT_ROUTABLE:
        return None
    h = _ALIASES.get(h, h)
    return h if h in ROAD_CLASSES else "other"


def class_access(cls: str) -> int:
    """Bit mask of the modes (:data:`MODES` order) that may use a road class."""
    bits = 0
    for mode in MODES:
        if mode == "car":
            ok = cls in DEFAULT_CAR_SPEEDS_KMH
        else:
            ok = cls not in CLOSED[mode]
        if ok:
            bits |= _MODE_BIT[mode]
    return bits


def tag_access(cls: str, tags) -> tuple[int, int]:
    """(mode bit mask, oneway) for an OpenStreetMap way: oneway 1 forward, -1 backward, 0 both.

    ``tags`` is any mapping with ``get``.  One-way applies to cars only.
    """
    bits = class_access(cls)
    general = str(tags.get("access") or "").lower()
    for mode in MODES:
        verdict = None
        for key in _MODE_TAGS[mode]:
            v = str(tags.get(key) or "").lower()
            if v in _YES or v in _NO:
                verdict = v in _YES
                break
        if verdict is None and general in _NO:
            verdict = False
        if verdict is False:
            bits &= ~_MODE_BIT[mode]
        elif verdict is True and (mode != "car" or cls in DEFAULT_CAR_SPEEDS_KMH) and cls not in CLOSED.get(mode, ()):
            bits |= _MODE_BIT[mode]
    ow = str(tags.get("oneway") or "").lower()
    if ow in _ONEWAY_FWD:
        oneway = 1
    elif ow in _ONEWAY_REV:
        oneway = -1
    elif ow == "no":
        oneway = 0
    elif str(tags.get("junction") or "").lower() in ("roundabout", "circular") or cls == "motorway":
        oneway = 1
    else:
        oneway = 0
    return bits, oneway


class Snap(NamedTuple):
    """Where a point meets the road: ``edge`` index, fraction ``t`` from its ``u`` end,
    ``distance_m`` from the point, and the point on the road (``lon``, ``lat``, WGS-84;
    ``x``, ``y`` in the network's metric CRS)."""

    edge: int
    t: float
    distance_m: float
    lon: float
    lat: float
    x: float
    y: float


def _check_mode(mode) -> str:
    if mode not in MODES:
        raise ValidationError(f"mode must be one of {MODES}, got {mode!r}", field="mode")
    return mode


@dataclass
class _ModeGraph:
    """The CSR travel-time graph of one mode, with one virtual source node (index n)."""

    csr: object            # scipy.sparse.csr_matrix (n+1, n+1), seconds
    arc_eid: np.ndarray    # edge of each real arc
    arc_fwd: np.ndarray    # arc goes u -> v
    arc_rev: np.ndarray    # index of the reverse arc, -1 if none
    arc_src: np.ndarray
    arc_key: np.ndarray    # src * (n + 1) + dst, sorted
    edge_s: np.ndarray     # seconds to travel each edge (inf where closed)
    can_fwd: np.ndarray    # u -> v allowed
    can_back: np.ndarray   # v -> u allowed
    edges: np.ndarray      # edges open in at least one direction (snapping targets)
    lock: threading.Lock
    arc_twoway: np.ndarray = None   # the arc's edge is open both ways
    all_twoway: bool = True
    grid: object = None    # _SegmentGrid over ``edges`` (lazy)
    snaps: dict | None = None  # (lon, lat) -> (edge, t, distance_m), stations
    slot_snaps: object = None  # StationIndex -> (edge, t, distance_m) arrays by slot (weak keys)
    core: object = None    # _Core: the graph with its two-way chains contracted (lazy)


@dataclass
class _Core:
    """A mode graph with its chains contracted, for searches that need times at
    junctions only (isochrones).

    A node is *contracted* when exactly two edges meet there and both are open
    both ways to the mode (a bend or a split in the middle of a road); the
    others are *kept*.  A **super-arc** is a maximal run of arcs from a kept
    node through contracted nodes to the next kept node; its time is the sum
    of theirs, so times between kept nodes are exactly those of the full
    graph.  Every arc of the mode graph lies on exactly one super-arc.
    """

    keep: np.ndarray       # (nk,) node index of each kept node
    csr: object            # scipy.sparse.csr_matrix (nk+1, nk+1): super-arcs in seconds; row nk: virtual source
    sa_src: np.ndarray     # (S,) kept index of each super-arc's start (sorted: CSR order)
    sa_dst: np.ndarray     # (S,) kept index of its end
    sa_s: np.ndarray       # (S,) seconds along it
    sa_twoway: np.ndarray  # (S,) open both ways (its reverse is a super-arc too)
    sa_drawn: np.ndarray   # (S,) one per road: one-way ones, and of a two-way pair the one from the lower node
    sa_ptr: np.ndarray     # (S+1,) its arcs: ca_*[sa_ptr[s]:sa_ptr[s+1]], in order
    ca_arc: np.ndarray     # mode-graph arc (index into the CSR's real arcs)
    ca_sa: np.ndarray      # super-arc of each
    ca_tau: np.ndarray     # seconds from the super-arc's start to the arc's start
    edge_ca: np.ndarray    # (m,) position in ca_* of each open edge's u -> v arc (-1: closed)
    out_max_s: np.ndarray  # (nk,) the longest super-arc leaving each kept node (0 if none), seconds
    lock: threading.Lock

    def locate(self, snap: Snap, edge_s: np.ndarray) -> tuple[int, float]:
        """Where a snapped point lies: its super-arc and the seconds along it from its start
        to the point (``edge_s``: the mode graph's seconds per edge)."""
        ci = int(self.edge_ca[snap.edge])
        return int(self.ca_sa[ci]), float(self.ca_tau[ci]) + snap.t * float(edge_s[snap.edge])


class Network:
    """A compiled road network.  Build with :meth:`build` / :meth:`from_gpkg` /
    :meth:`from_osm` / :meth:`from_arrays`; save with :meth:`save`; load with :meth:`load`.

    Attributes
    ----------
    name : str
    lon, lat : ndarray (n,)  WGS-84 node coordinates
    x, y : ndarray (n,)  node coordinates in :attr:`crs` (UTM, metres)
    edge_u, edge_v : ndarray (m,)  node indices (one-way edges run u -> v)
    edge_length_m : ndarray (m,)  geodesic length
    edge_class : ndarray (m,)  index into :attr:`classes`
    edge_access : ndarray (m,)  bit mask of modes (:data:`stationmap.config.MODES` order)
    edge_oneway : ndarray (m,)  bool, one-way u -> v for cars
    """

    def __init__(self, *, name, lon, lat, edge_u, edge_v, edge_length_m, edge_class, classes,
                 edge_access, edge_oneway, arc_indptr=None, arc_dst=None, arc_eid=None,
                 source="", settings=None):
        self.name = str(name)
        self.source = str(source)
        self.lon = np.ascontiguousarray(lon, dtype=np.float64)
        self.lat = np.ascontiguousarray(lat, dtype=np.float64)
        self.edge_u = np.ascontiguousarray(edge_u, dtype=np.int32)
        self.edge_v = np.ascontiguousarray(edge_v, dtype=np.int32)
        self.edge_length_m = np.ascontiguousarray(edge_length_m, dtype=np.float64)
        self.edge_class = np.ascontiguousarray(edge_class, dtype=np.uint8)
        self.classes = tuple(str(c) for c in classes)
        self.edge_access = np.ascontiguousarray(edge_access, dtype=np.uint8)
        self.edge_oneway = np.ascontiguousarray(edge_oneway, dtype=bool)
        if arc_indptr is None:
            arc_indptr, arc_dst, arc_eid = _arcs(len(self.lon), self.edge_u, self.edge_v)
        self.arc_indptr = np.ascontiguousarray(arc_indptr, dtype=np.int32)
        self.arc_dst = np.ascontiguousarray(arc_dst, dtype=np.int32)
        self.arc_eid = np.ascontiguousarray(arc_eid, dtype=np.int32)
        unknown = set(self.classes) - set(ROAD_CLASSES)
        if unknown:
            raise ConfigError(f"network {self.name!r} has unknown road classes {sorted(unknown)}")
        self.settings = settings or _config.load()
        lon0 = 0.5 * (float(self.lon.min()) + float(self.lon.max())) if len(self.lon) else 0.0
        lat0 = 0.5 * (float(self.lat.min()) + float(self.lat.max())) if len(self.lat) else 0.0
        self.crs = utm_crs_for(lon0, lat0)
        from pyproj import Transformer

        self._to_xy = Transformer.from_crs("EPSG:4326", self.crs, always_xy=True)
        self._to_lonlat = Transformer.from_crs(self.crs, "EPSG:4326", always_xy=True)
        self.x, self.y = self._to_xy.transform(self.lon, self.lat)
        self.x = np.ascontiguousarray(self.x)
        self.y = np.ascontiguousarray(self.y)
        #: WGS-84 bounding box of the nodes: west, south, east, north
        self.bounds = (float(self.lon.min()), float(self.lat.min()),
                       float(self.lon.max()), float(self.lat.max())) if len(self.lon) else (0, 0, 0, 0)
        self._modes: dict = {}
        self._max_mps: dict = {}
        self._lonlat_fit = None
        #: data derived from the network by other modules (built lazily, e.g. isochrone grids)
        self.derived: dict = {}
        self._build_lock = threading.Lock()

    # -- sizes ------------------------------------------------------------------
    @property
    def n_nodes(self) -> int:
        return len(self.lon)

    @property
    def n_edges(self) -> int:
        return len(self.edge_u)

    def __repr__(self) -> str:
        return f"<Network {self.name!r}: {self.n_nodes} nodes, {self.n_edges} edges, {self.crs}>"

    # -- speeds -----------------------------------------------------------------
    def speed_kmh(self, mode: str, cls: str) -> float:
        """Speed of ``mode`` on road class ``cls`` (km/h); 0 where the class is closed to it."""
        _check_mode(mode)
        s = self.settings
        if mode == "car":
            if cls not in DEFAULT_CAR_SPEEDS_KMH:
                return 0.0
            v, where = s.car_speeds_kmh.get(cls), f"car_speeds_kmh[{cls!r}]"
        elif cls in CLOSED[mode]:
            return 0.0
        elif mode in ("bike", "ebike") and cls in PUSHED:
            v, where = s.speeds_kmh.get("walk"), "speeds_kmh['walk']"
        else:
            v, where = s.speeds_kmh.get(mode), f"speeds_kmh[{mode!r}]"
        try:
            v = float(v)
        except (TypeError, ValueError):
            v = float("nan")
        if not (math.isfinite(v) and v > 0):
            raise ConfigError(f"{where} must be a positive speed in km/h, got {v!r}", field=where.split("[")[0])
        return v

    def walk_mps(self) -> float:
        """Walking speed in m/s (the off-road part of every trip)."""
        return self.settings.speed_kmh("walk") / 3.6

    def max_speed_mps(self, mode: str) -> float:
        """The fastest speed of ``mode`` anywhere on this network, at least walking speed (m/s;
        kept per mode, as the mode graphs are: a network's settings do not change)."""
        v = self._max_mps.get(mode)
        if v is None:
            v = self._max_mps[mode] = max([self.speed_kmh(mode, c) for c in self.classes]
                                          + [self.settings.speed_kmh("walk")]) / 3.6
        return v

    # -- mode graphs --------------------------------------------------------------
    def graph(self, mode: str) -> _ModeGraph:
        """The travel-time graph of ``mode`` (built on first use, then cached)."""
        g = self._modes.get(mode)
        if g is None:
            _check_mode(mode)
            with self._build_lock:
                g = self._modes.get(mode)
                if g is None:
                    g = self._build_mode(mode)
                    self._modes[mode] = g
        return g

    def prepare(self, modes=MODES) -> "Network":
        """Build the mode graphs and snapping grids now rather than on first use, and compile
        the searches of :meth:`snap`, :meth:`nearest_targets` and :meth:`node_lengths` (or load
        them from the disk cache): a server calls it at start, so no request pays for them."""
        warm = None
        for m in modes:
            g = self.graph(m)
            self._grid(g)
            if warm is None and len(g.edges):
                warm = m
        if warm is not None:
            # a query at the first node of the mode's first road, typed as a ranking's
            u = int(self.edge_u[self.graph(warm).edges[0]])
            sn = self.snap(float(self.lon[u]), float(self.lat[u]), mode=warm, max_snap_m=math.inf)
            self.attachments(sn, np.array([sn.edge]), np.array([sn.t]), np.array([0.0]), mode=warm)
            *_, pred = self.nearest_targets(sn, mode=warm, k=1, att_node=[u], att_target=[0], att_s=[0.0],
                                            direct_s=[np.inf], cost_s=[0.0], limit_s=1.0)
            self.node_lengths(sn, pred, [u], mode=warm)
        return self

    def _build_mode(self, mode: str) -> _ModeGraph:
        import scipy.sparse as sp

        n = self.n_nodes
        bit = _MODE_BIT[mode]
        speeds = np.array([self.speed_kmh(mode, c) for c in self.classes], dtype=np.float64)
        sp_e = speeds[self.edge_class]
        open_e = ((self.edge_access & bit) != 0) & (sp_e > 0)
        with np.errstate(divide="ignore"):
            edge_s = np.where(open_e, self.edge_length_m / (np.where(open_e, sp_e, 1.0) / 3.6), np.inf)
        can_fwd = open_e.copy()
        can_back = open_e & (~self.edge_oneway if mode == "car" else True)
        src_all = np.repeat(np.arange(n, dtype=np.int32), np.diff(self.arc_indptr))
        fwd_all = self.arc_dst == self.edge_v[self.arc_eid]
        ok = np.where(fwd_all, can_fwd[self.arc_eid], can_back[self.arc_eid])
        src = src_all[ok]
        dst = self.arc_dst[ok]
        eid = self.arc_eid[ok]
        fwd = fwd_all[ok]
        counts = np.bincount(src, minlength=n + 1)
        indptr = np.zeros(n + 2, dtype=np.int32)
        np.cumsum(counts, out=indptr[1:])
        indptr[n + 1] = indptr[n] + 2          # the virtual node's two arcs
        indices = np.empty(len(dst) + 2, dtype=np.int32)
        indices[:-2] = dst
        indices[-2:] = n
        data = np.empty(len(dst) + 2, dtype=np.float64)
        data[:-2] = edge_s[eid]
        data[-2:] = 0.0
        csr = sp.csr_matrix((data, indices, indptr), shape=(n + 1, n + 1))
        # the reverse of each arc (arcs are sorted by (src, dst), so keys are sorted)
        key = src.astype(np.int64) * (n + 1) + dst
        rkey = dst.astype(np.int64) * (n + 1) + src
        pos = np.minimum(np.searchsorted(key, rkey), max(len(key) - 1, 0))
        rev = np.where(key[pos] == rkey, pos, -1).astype(np.int32) if len(key) else np.empty(0, np.int32)
        edges = np.flatnonzero(can_fwd | can_back).astype(np.int32)
        twoway = can_fwd & can_back
        arc_twoway = twoway[eid]
        return _ModeGraph(csr=csr, arc_eid=eid, arc_fwd=fwd, arc_rev=rev, arc_src=src, arc_key=key, edge_s=edge_s,
                          can_fwd=can_fwd, can_back=can_back, edges=edges, lock=threading.Lock(), snaps={},
                          slot_snaps=weakref.WeakKeyDictionary(),
                          arc_twoway=arc_twoway, all_twoway=bool(arc_twoway.all()))

    def core(self, mode: str) -> _Core:
        """The contracted graph of ``mode`` (:class:`_Core`; built on first use, then cached)."""
        g = self.graph(mode)
        if g.core is None:
            with self._build_lock:
                if g.core is None:
                    g.core = self._build_core(g)
        return g.core

    def _build_core(self, g: _ModeGraph) -> _Core:
        import scipy.sparse as sp

        n = self.n_nodes
        indptr = g.csr.indptr[:n + 1].astype(np.int64)
        A = int(indptr[n])
        dst = g.csr.indices[:A].astype(np.int64)
        w = np.asarray(g.csr.data[:A], dtype=np.float64)
        src = g.arc_src.astype(np.int64)
        rev = g.arc_rev.astype(np.int64)
        twoway = np.asarray(g.arc_twoway, dtype=bool)
        ids = np.arange(A, dtype=np.int64)
        deg = np.diff(indptr)
        contracted = (deg == 2) & (np.bincount(src[twoway], minlength=n) == 2)
        rounds = max(int(A).bit_length(), 1) + 1
        while True:
            # the arc after one entering a contracted node: that node's other arc
            first = indptr[dst]
            other = np.where(first == rev, first + 1, first)
            succ = np.where(contracted[dst], other, -1)
            pred = np.full(A, -1, np.int64)
            has = succ >= 0
            pred[succ[has]] = ids[has]
            # pointer jumping back to each run's first arc: seconds and arcs before each arc
            par = np.where(pred >= 0, pred, ids)
            tau = np.where(pred >= 0, w[np.maximum(pred, 0)], 0.0)
            rank = (pred >= 0).astype(np.int64)
            for _ in range(rounds):
                pp = par[par]
                if np.array_equal(pp, par):
                    break
                tau = tau + tau[par]
                rank = rank + rank[par]
                par = pp
            ring = pred[par] >= 0          # a ring of contracted nodes only: keep its nodes
            if not ring.any():
                break
            contracted[src[ring]] = False
        keep = np.flatnonzero(~contracted)
        nk = len(keep)
        kid = np.full(n, -1, np.int64)
        kid[keep] = np.arange(nk)
        head = pred < 0
        heads = ids[head]
        S = len(heads)
        sa = (np.cumsum(head) - 1)[par]
        order = np.lexsort((rank, sa))
        inv = np.empty(A, np.int64)
        inv[order] = ids
        end_arc = np.empty(S, np.int64)
        last = succ < 0
        end_arc[sa[last]] = ids[last]
        sa_src = kid[src[heads]]
        sa_dst = kid[dst[end_arc]]
        sa_s = tau[end_arc] + w[end_arc]
        sa_twoway = twoway[heads]
        sa_drawn = ~sa_twoway | (sa_src < sa_dst) | ((sa_src == sa_dst) & (heads < rev[end_arc]))
        sa_ptr = np.zeros(S + 1, np.int64)
        np.cumsum(np.bincount(sa, minlength=S), out=sa_ptr[1:])
        kindptr = np.zeros(nk + 2, np.int32)
        np.cumsum(np.bincount(sa_src, minlength=nk), out=kindptr[1:nk + 1])
        kindptr[nk + 1] = kindptr[nk] + 2
        indices = np.empty(S + 2, np.int32)
        indices[:S] = sa_dst
        indices[S:] = nk
        data = np.zeros(S + 2, np.float64)
        data[:S] = sa_s
        csr = sp.csr_matrix((data, indices, kindptr), shape=(nk + 1, nk + 1))
        out_max = np.zeros(nk)
        rows = np.flatnonzero(np.diff(kindptr[:nk + 1]) > 0)
        if len(rows):
            out_max[rows] = np.maximum.reduceat(sa_s, kindptr[rows])
        edge_ca = np.full(self.n_edges, -1, np.int64)
        fwd = np.asarray(g.arc_fwd, dtype=bool)
        edge_ca[g.arc_eid[fwd]] = inv[fwd]
        return _Core(keep=keep, csr=csr, sa_src=sa_src, sa_dst=sa_dst, sa_s=sa_s, sa_twoway=sa_twoway,
                     sa_drawn=sa_drawn, sa_ptr=sa_ptr, ca_arc=order, ca_sa=sa[order], ca_tau=tau[order],
                     edge_ca=edge_ca, out_max_s=out_max, lock=threading.Lock())

    # -- snapping ----------------------------------------------------------------
    def _grid(self, g: _ModeGraph) -> "_SegmentGrid":
        """The :class:`_SegmentGrid` of the mode's open edges (metric); modes open on the
        same edges share one."""
        if g.grid is None:
            import hashlib

            key = hashlib.sha1(g.edges.tobytes()).hexdigest()
            with self._build_lock:
                grid = self.derived.setdefault("grids", {}).get(key)
                if grid is None:
                    u, v = self.edge_u[g.edges], self.edge_v[g.edges]
                    grid = self.derived["grids"][key] = _SegmentGrid(self.x[u], self.y[u], self.x[v], self.y[v])
                g.grid = grid
        return g.grid

    def to_xy(self, lon, lat):
        """WGS-84 lon/lat -> metres in :attr:`crs`."""
        return self._to_xy.transform(lon, lat)

    def to_lonlat(self, x, y):
        """Metres in :attr:`crs` -> WGS-84 lon/lat."""
        return self._to_lonlat.transform(x, y)

    def to_lonlat_fast(self, x, y):
        """Metres in :attr:`crs` -> WGS-84 lon/lat (arrays), as :meth:`to_lonlat` but
        from polynomials fitted to it over the network's extent and a margin
        (:class:`_LonLatFit`: error below 1 mm, checked when fitted); exact
        :meth:`to_lonlat` for points outside that rectangle or where no
        polynomial is that close (a very large network)."""
        fit = self._lonlat_fit
        if fit is None:
            with self._build_lock:
                if self._lonlat_fit is None:
                    pad = max(float(self.settings.max_snap_m), 500.0) + 5000.0
                    x0, x1 = float(self.x.min()) - pad, float(self.x.max()) + pad
                    y0, y1 = float(self.y.min()) - pad, float(self.y.max()) + pad
                    self._lonlat_fit = _LonLatFit(x0, y0, x1, y1, self._to_lonlat)
                fit = self._lonlat_fit
        x = np.asarray(x, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        if fit.ok and x.size and fit.covers(x, y):
            return fit(x, y)
        return self.to_lonlat(x, y)

    def lonlat_points(self, x, y) -> np.ndarray:
        """As :meth:`to_lonlat_fast`, for 1-d arrays, as one (n, 2) array."""
        lon, lat = self.to_lonlat_fast(x, y)
        out = np.empty((len(lon), 2))
        out[:, 0] = lon
        out[:, 1] = lat
        return out

    def _snap_xy(self, g, qx, qy):
        """Nearest open edge, fraction along it and distance (metres) for metric points (arrays)."""
        qx = np.atleast_1d(np.asarray(qx, dtype=np.float64))
        qy = np.atleast_1d(np.asarray(qy, dtype=np.float64))
        pos, t, d = self._grid(g).nearest_many(qx, qy)
        e = np.full(len(pos), -1, np.int64)
        found = pos >= 0
        e[found] = g.edges[pos[found]]
        return e, t, d

    def snap(self, lon: float, lat: float, *, mode: str = "ebike", max_snap_m: float | None = None) -> Snap:
        """Snap a WGS-84 point to the nearest road open to ``mode``.

        Raises
        ------
        ValidationError
            if the point is farther than ``max_snap_m`` (default
            ``settings.max_snap_m``) from every such road; the message names
            the distance and the limit.
        """
        lon, lat = check_point(lon, lat)
        g = self.graph(_check_mode(mode))
        limit = self.settings.max_snap_m if max_snap_m is None else float(max_snap_m)
        qx, qy = self.to_xy(lon, lat)
        pos, t, d, px, py = self._grid(g).nearest(qx, qy)
        # (a point far outside the projection's zone can map to inf: then there is no road near)
        if pos < 0 or not d <= limit:
            far = "far from every road" if pos < 0 else f"{d:.0f} m from the nearest road"
            raise ValidationError(
                f"point (lon {lon:.6f}, lat {lat:.6f}) is {far} open to {mode} in network "
                f"{self.name!r}; the limit is {limit:.0f} m (max_snap_m)", field="point")
        plon, plat = self.to_lonlat(px, py)
        return Snap(int(g.edges[pos]), t, d, float(plon), float(plat), px, py)

    def covers(self, lon: float, lat: float, *, mode: str = "ebike", max_snap_m: float | None = None) -> bool:
        """Whether a WGS-84 point is inside the network's extent and within
        ``max_snap_m`` of a road open to ``mode``."""
        limit = self.settings.max_snap_m if max_snap_m is None else float(max_snap_m)
        w, s, e, n = self.bounds
        pad_lat = limit / 111_000.0
        pad_lon = pad_lat / max(math.cos(math.radians(lat)), 1e-6)
        if not (w - pad_lon <= lon <= e + pad_lon and s - pad_lat <= lat <= n + pad_lat):
            return False
        try:
            self.snap(lon, lat, mode=mode, max_snap_m=limit)
        except ValidationError:
            return False
        return True

    def snap_stations(self, stations, *, mode: str):
        """(edge, t, distance_m) arrays for stations (anything with WGS-84 ``lon``/``lat``).

        Results are cached per mode by the station's coordinates, so an edited
        or moved station is snapped again and an unchanged one never is.
        """
        g = self.graph(_check_mode(mode))
        cache = g.snaps
        keys = [(s.lon, s.lat) for s in stations]
        todo = [k for k in dict.fromkeys(keys) if k not in cache]
        if todo:
            if len(cache) > 4 * max(len(todo), 50_000):
                cache.clear()
            lon = np.fromiter((k[0] for k in todo), float, len(todo))
            lat = np.fromiter((k[1] for k in todo), float, len(todo))
            qx, qy = self.to_xy(lon, lat)
            e, t, d = self._snap_xy(g, qx, qy)
            for k, ei, ti, di in zip(todo, e.tolist(), t.tolist(), d.tolist()):
                cache[k] = (ei, ti, di)
        if not keys:
            return np.empty(0, np.int64), np.empty(0), np.empty(0)
        rows = [cache[k] for k in keys]
        e = np.fromiter((r[0] for r in rows), np.int64, len(rows))
        t = np.fromiter((r[1] for r in rows), float, len(rows))
        d = np.fromiter((r[2] for r in rows), float, len(rows))
        return e, t, d

    def snap_slots(self, index, slots, *, mode: str):
        """(edge, t, distance_m) arrays for the stations in ``slots`` of a StationIndex
        (:meth:`snap_stations` without Station objects: vectorised).

        A slot never changes its station (a write takes a new slot), so each is
        snapped once per index and mode and kept in arrays by slot.
        """
        g = self.graph(_check_mode(mode))
        slots = np.asarray(slots, dtype=np.int64)
        if not len(slots):
            return np.empty(0, np.int64), np.empty(0), np.empty(0)
        cache = g.slot_snaps.get(index)
        need = int(slots.max()) + 1
        if cache is None or len(cache[0]) < need:
            size = max(need, int(len(cache[0]) * 1.5) if cache is not None else 0, 1024)
            grown = (np.full(size, -2, np.int64), np.zeros(size), np.full(size, np.inf))
            if cache is not None:
                for new, old in zip(grown, cache):
                    new[:len(old)] = old
            cache = g.slot_snaps[index] = grown
        e_all, t_all, d_all = cache
        e = e_all[slots]
        fresh = e == -2     # -2: not snapped yet
        if fresh.any():
            todo = np.unique(slots[fresh])
            lon, lat = index.lonlat(todo)
            qx, qy = self.to_xy(lon, lat)
            e, t, d = self._snap_xy(g, qx, qy)
            t_all[todo], d_all[todo] = t, d
            e_all[todo] = e
            return e_all[slots], t_all[slots], d_all[slots]
        return e, t_all[slots], d_all[slots]

    # -- searching ---------------------------------------------------------------
    def search(self, snap: Snap, *, mode: str, limit_s: float = np.inf, predecessors: bool = False):
        """Dijkstra from a snapped point: seconds to every node (inf beyond ``limit_s``).

        Returns ``dist`` (n+1: index n is the snapped point itself), and with
        ``predecessors`` also the predecessor array (scipy's convention, -9999
        for none).  The off-road part is not included: add it yourself.
        """
        from scipy.sparse.csgraph import dijkstra

        g = self.graph(_check_mode(mode))
        n = self.n_nodes
        e, t = snap.edge, snap.t
        T = g.edge_s[e]
        csr = g.csr
        with g.lock:
            # virtual arcs: toward u needs v -> u, toward v needs u -> v; else a harmless self-loop
            csr.indices[-2] = self.edge_u[e] if g.can_back[e] else n
            csr.indices[-1] = self.edge_v[e] if g.can_fwd[e] else n
            csr.data[-2] = t * T if g.can_back[e] else 0.0
            csr.data[-1] = (1.0 - t) * T if g.can_fwd[e] else 0.0
            res = dijkstra(csr, directed=True, indices=n, limit=float(limit_s),
                           return_predecessors=predecessors)
        return res

    def search_core(self, snap: Snap, *, mode: str, limit_s: float = np.inf) -> np.ndarray:
        """Dijkstra from a snapped point on the contracted graph (:meth:`core`):
        seconds to every kept node (``core.keep``; inf beyond ``limit_s``), the
        same times as :meth:`search` gives those nodes.  Index nk is the point itself."""
        from scipy.sparse.csgraph import dijkstra

        core = self.core(_check_mode(mode))
        nk = len(core.keep)
        s, tau = core.locate(snap, self.graph(mode).edge_s)
        T = float(core.sa_s[s])
        csr = core.csr
        with core.lock:
            # toward the super-arc's start needs it two-way; else a harmless self-loop
            back = bool(core.sa_twoway[s])
            csr.indices[-2] = core.sa_src[s] if back else nk
            csr.data[-2] = min(max(tau, 0.0), T) if back else 0.0
            csr.indices[-1] = core.sa_dst[s]
            csr.data[-1] = min(max(T - tau, 0.0), T)
            return dijkstra(csr, directed=True, indices=nk, limit=float(limit_s))

    def nearest_targets(self, snap: Snap, *, mode: str, k: int, att_node, att_target, att_s, direct_s, cost_s,
                        limit_s: float = np.inf):
        """The targets fastest to reach from a snapped point: Dijkstra that stops as soon as
        the ``k`` fastest are known.

        Targets (stations, in practice) hang off the graph: attachment ``i`` reaches
        target ``att_target[i]`` from node ``att_node[i]`` in ``att_s[i]`` seconds;
        ``direct_s[j]`` is target ``j``'s time straight from the snapped point (inf:
        none); ``cost_s[j]`` is added to every way to ``j`` (the walks off the road).
        A target's time is its fastest way plus its cost.

        Returns ``(target, total_s, road_s, att, pred)``: every target whose time is
        final when the search stopped (at least the ``k`` fastest, and every one tied
        with the ``k``-th; ``att``: the attachment used, -1 for the direct way), and the
        search tree (:meth:`search`'s convention) for :meth:`node_lengths`.  With a
        ``limit_s``, nodes farther than that are not searched: then the targets
        reached within it (their road part), fewer than ``k`` perhaps.

        It stops when the ``k``-th fastest time is below what any unsettled way can
        take (the search's frontier plus the smallest cost); the times equal a full
        search's (tests/unit/test_network.py), at the cost of the nodes nearer than
        the ``k``-th target, not all of them.
        """
        g = self.graph(_check_mode(mode))
        e = snap.edge
        T = float(g.edge_s[e])
        s_nodes = np.array([self.edge_u[e], self.edge_v[e]], dtype=np.int64)
        s_times = np.array([snap.t * T if g.can_back[e] else np.inf,
                            (1.0 - snap.t) * T if g.can_fwd[e] else np.inf])
        att_node = np.asarray(att_node, dtype=np.int64)
        order = np.argsort(att_node, kind="stable")
        cost_s = np.asarray(cost_s, dtype=np.float64)
        floor = float(cost_s.min()) if len(cost_s) else 0.0
        csr = g.csr
        out = compiled(_k_targets)(csr.indptr, csr.indices, csr.data, self.n_nodes, s_nodes, s_times,
                                float(limit_s), att_node[order], np.asarray(att_target, np.int64)[order],
                                np.asarray(att_s, np.float64)[order], np.asarray(direct_s, np.float64),
                                cost_s, int(k), floor)
        target, total, road, att, pred = out
        att = np.where(att >= 0, order[np.maximum(att, 0)], -1)   # back to the caller's attachment order
        return target, total, road, att, pred

    def attachments(self, snap: Snap, e, t, d_off, *, mode: str) -> tuple:
        """How targets snapped to the roads hang off the graph, for :meth:`nearest_targets`.

        Target ``j`` snapped to edge ``e[j]`` (int64; -1: none) at fraction ``t[j]``,
        ``d_off[j]`` metres off the road (beyond ``settings.max_snap_m``: not reachable).
        Returns ``(att_node, att_target, att_s, n_fwd, direct_s, cost_s)``: the attachments
        through the edge's start ``u`` (then along ``u -> v``; the first ``n_fwd``), then
        those through its end ``v``, each in target order; the time straight along the
        query's own edge where its direction allows (else inf); the walks off the road,
        the query's and the target's.  Compiled: a few dozen numpy steps on a few dozen
        targets cost more than the search that follows.
        """
        g = self.graph(_check_mode(mode))
        walk = self.walk_mps()
        return compiled(_k_attach)(
            np.asarray(e, dtype=np.int64), np.asarray(t, dtype=np.float64), np.asarray(d_off, dtype=np.float64),
            float(self.settings.max_snap_m), self.edge_u, self.edge_v, g.edge_s, g.can_fwd, g.can_back,
            int(snap.edge), float(snap.t), float(snap.distance_m / walk), float(walk))

    def node_lengths(self, snap: Snap, pred: np.ndarray, nodes, *, mode: str) -> np.ndarray:
        """Metres along the roads from the snapped point to ``nodes``, on the search tree ``pred``
        (what :meth:`path_lengths` gives those nodes, inf where not reached).

        Walks each node's branch back to the start (compiled): for a few nodes this
        costs microseconds where :meth:`path_lengths` costs a pass over the network.
        """
        g = self.graph(mode)
        e = snap.edge
        return compiled(_k_chain)(np.ascontiguousarray(nodes, dtype=np.int64), np.asarray(pred), self.n_nodes,
                               g.csr.indptr, g.csr.indices, g.arc_eid, self.edge_length_m, int(self.edge_u[e]),
                               float(snap.t), float(self.edge_length_m[e]))

    def path_lengths(self, snap: Snap, pred: np.ndarray, *, mode: str) -> np.ndarray:
        """Metres along the roads from the snapped point to every node, on the search tree ``pred``.

        inf where a node was not reached.  (Pointer jumping: log2(depth) vector steps.)
        """
        g = self.graph(mode)
        n = self.n_nodes
        p = np.asarray(pred, dtype=np.int64).copy()
        reached = p >= 0
        reached[n] = True
        p[n] = n
        acc = np.zeros(n + 1)
        idx = np.flatnonzero(reached[:n])
        if len(idx):
            pi = p[idx]
            virt = pi == n
            real = ~virt
            # arc pred -> node: search the sorted (src, dst) keys
            pos = np.searchsorted(g.arc_key, pi[real] * (n + 1) + idx[real])
            acc[idx[real]] = self.edge_length_m[g.arc_eid[pos]]
            e = snap.edge
            L = self.edge_length_m[e]
            acc[idx[virt]] = np.where(idx[virt] == self.edge_u[e], snap.t * L, (1.0 - snap.t) * L)
        p[~reached] = np.arange(n + 1)[~reached]
        acc[~reached] = np.inf
        while True:
            pp = p[p]
            if np.array_equal(pp, p):
                break
            acc = acc + acc[p]     # acc[root] is 0; unreached nodes stay inf
            p = pp
        return acc[:n]

    # -- files --------------------------------------------------------------------
    def arrays(self) -> dict:
        """The arrays that define the network (what :meth:`save` writes)."""
        return {
            "format": np.array(FORMAT), "name": np.array(self.name), "source": np.array(self.source),
            "classes": np.array(self.classes),
            "lon": self.lon, "lat": self.lat,
            "edge_u": self.edge_u, "edge_v": self.edge_v, "edge_length_m": self.edge_length_m,
            "edge_class": self.edge_class, "edge_access": self.edge_access, "edge_oneway": self.edge_oneway,
            "arc_indptr": self.arc_indptr, "arc_dst": self.arc_dst, "arc_eid": self.arc_eid,
        }

    def save(self, path) -> Path:
        """Write the compiled network to ``path`` (a compressed ``.npz``)."""
        path = Path(path)
        if path.suffix != ".npz":
            raise ValidationError(f"out must be a .npz file, got {str(path)!r}", field="out")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp.npz")
        np.savez_compressed(tmp, **self.arrays())
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path, *, name: str | None = None, settings=None) -> "Network":
        """Load a network compiled by :meth:`save` / ``stationmap network build``."""
        path = Path(path)
        if not path.exists():
            raise NotFoundError(f"road network file not found: {str(path)!r}", field="network")
        try:
            with np.load(path, allow_pickle=False) as z:
                a = {k: z[k] for k in z.files}
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise ConfigError(f"{path}: not a compiled road network ({exc})", field="network") from None
        if str(a.get("format", "")) != FORMAT:
            raise ConfigError(f"{path}: not a compiled road network (format {str(a.get('format'))!r}, "
                              f"expected {FORMAT!r}); rebuild it with `stationmap network build`",
                              field="network")
        return cls(name=name or str(a["name"]), source=str(a["source"]), lon=a["lon"], lat=a["lat"],
                   edge_u=a["edge_u"], edge_v=a["edge_v"], edge_length_m=a["edge_length_m"],
                   edge_class=a["edge_class"], classes=[str(c) for c in a["classes"]],
                   edge_access=a["edge_access"], edge_oneway=a["edge_oneway"],
                   arc_indptr=a["arc_indptr"], arc_dst=a["arc_dst"], arc_eid=a["arc_eid"],
                   settings=settings)

    # -- building -----------------------------------------------------------------
    @classmethod
    def from_arrays(cls, lon, lat, u, v, *, highway="residential", access=None, oneway=None,
                    name: str = "network", source: str = "", largest_only: bool = True,
                    settings=None) -> "Network":
        """Compile a network from WGS-84 node coordinates and an edge list.

        Parameters
        ----------
        lon, lat : array (n,)  WGS-84 node coordinates
        u, v : array (m,)  node indices of each straight edge
        highway : str or array (m,)  OpenStreetMap ``highway`` value per edge
        access : array (m,) of int, optional  mode bit masks (default: by road class)
        oneway : array (m,) of int, optional  1 one-way u -> v, -1 one-way v -> u, 0 both (cars only)
        largest_only : keep only the largest connected piece
        """
        lon = np.asarray(lon, dtype=np.float64)
        lat = np.asarray(lat, dtype=np.float64)
        u = np.asarray(u, dtype=np.int64)
        v = np.asarray(v, dtype=np.int64)
        m = len(u)
        if lon.shape != lat.shape or u.shape != v.shape:
            raise ValidationError("lon/lat and u/v must have matching lengths", field="edges")
        if not (np.isfinite(lon).all() and np.isfinite(lat).all()) or (len(lon) and (
                np.abs(lon).max() > 180 or np.abs(lat).max() > 90)):
            raise ValidationError("node coordinates must be finite WGS-84 degrees", field="nodes")
        if m and (min(u.min(), v.min()) < 0 or max(u.max(), v.max()) >= len(lon)):
            raise ValidationError("edges refer to nodes that do not exist", field="edges")
        hw = np.broadcast_to(np.asarray(highway, dtype=object), (m,))
        names = np.array([road_class(h) or "" for h in hw], dtype=object)
        keep = names != ""
        if access is None:
            acc = np.array([class_access(c) if c else 0 for c in names], dtype=np.int64)
        else:
            acc = np.asarray(access, dtype=np.int64)
        ow = np.zeros(m, np.int64) if oneway is None else np.asarray(oneway, dtype=np.int64)
        keep &= (u != v) & (acc != 0)
        u, v, names, acc, ow = u[keep], v[keep], names[keep], acc[keep], ow[keep]
        # one-way backwards: turn the edge round
        back = ow < 0
        u, v = np.where(back, v, u), np.where(back, u, v)
        ow = ow != 0
        # parallel edges: a node at the middle of every repeat keeps the graph simple
        a, b = np.minimum(u, v), np.maximum(u, v)
        order = np.lexsort((b, a))
        dup = np.zeros(len(u), bool)
        if len(u) > 1:
            same = (a[order][1:] == a[order][:-1]) & (b[order][1:] == b[order][:-1])
            dup[order[1:][same]] = True
        if dup.any():
            di = np.flatnonzero(dup)
            mid = len(lon) + np.arange(len(di))
            mlon = 0.5 * (lon[u[di]] + lon[v[di]])
            mlat = 0.5 * (lat[u[di]] + lat[v[di]])
            lon = np.concatenate([lon, mlon])
            lat = np.concatenate([lat, mlat])
            u2, v2 = u[di].copy(), v[di].copy()
            v = v.copy()
            v[di] = mid
            u = np.concatenate([u, mid])
            v = np.concatenate([v, v2])
            names = np.concatenate([names, names[di]])
            acc = np.concatenate([acc, acc[di]])
            ow = np.concatenate([ow, ow[di]])
            del u2
        # the largest connected piece
        n = len(lon)
        used = np.zeros(n, bool)
        used[u] = True
        used[v] = True
        if largest_only and len(u):
            import scipy.sparse as sp
            from scipy.sparse.csgraph import connected_components

            adj = sp.coo_matrix((np.ones(len(u)), (u, v)), shape=(n, n)).tocsr()
            _, lab = connected_components(adj, directed=False)
            sizes = np.bincount(lab[used], minlength=lab.max() + 1)
            big = np.argmax(sizes)
            used &= lab == big
            ke = used[u]
            u, v, names, acc, ow = u[ke], v[ke], names[ke], acc[ke], ow[ke]
        new = np.full(n, -1, np.int64)
        new[used] = np.arange(int(used.sum()))
        lon, lat = lon[used], lat[used]
        u, v = new[u], new[v]
        # edges in a canonical order: by (u, v)
        order = np.lexsort((v, u))
        u, v, names, acc, ow = u[order], v[order], names[order], acc[order], ow[order]
        classes = [c for c in ROAD_CLASSES if c in set(names.tolist())]
        cidx = {c: i for i, c in enumerate(classes)}
        ecls = np.array([cidx[c] for c in names], dtype=np.uint8)
        length = GEOD.inv(lon[u], lat[u], lon[v], lat[v])[2] if len(u) else np.empty(0)
        return cls(name=name, source=source, lon=lon, lat=lat, edge_u=u, edge_v=v,
                   edge_length_m=np.asarray(length, dtype=np.float64), edge_class=ecls, classes=classes,
                   edge_access=acc, edge_oneway=ow, settings=settings)

    @classmethod
    def from_gpkg(cls, path, *, name: str | None = None, settings=None, largest_only: bool = True) -> "Network":
        """A road graph from a GeoPackage with layers ``nodes`` (node_id, lon, lat)
        and ``edges`` (u, v, highway), coordinates WGS-84.  Every edge is two-way."""
        import pyogrio

        path = Path(path)
        if not path.exists():
            raise NotFoundError(f"road network source not found: {str(path)!r}", field="source")
        try:
            layers = {str(r[0]) for r in pyogrio.list_layers(path)}
        except geodata_read_errors() as exc:
            raise ValidationError(f"{path}: cannot read as a GeoPackage ({exc})", field="source") from None
        for need in ("nodes", "edges"):
            if need not in layers:
                raise ValidationError(f"{path}: no layer {need!r} (layers: {sorted(layers)})", field="source")
        nodes = pyogrio.read_dataframe(path, layer="nodes", read_geometry=False)
        edges = pyogrio.read_dataframe(path, layer="edges", read_geometry=False)
        for lay, df, cols in (("nodes", nodes, ("node_id", "lon", "lat")), ("edges", edges, ("u", "v", "highway"))):
            missing = [c for c in cols if c not in df.columns]
            if missing:
                raise ValidationError(f"{path}: layer {lay!r} lacks column(s) {missing}", field="source")
        ids = nodes["node_id"].to_numpy(np.int64)
        order = np.argsort(ids, kind="stable")
        ids = ids[order]
        if len(ids) > 1 and (np.diff(ids) == 0).any():
            raise ValidationError(f"{path}: layer 'nodes' has repeated node_id values", field="source")
        eu = edges["u"].to_numpy(np.int64)
        ev = edges["v"].to_numpy(np.int64)
        iu = np.searchsorted(ids, eu)
        iv = np.searchsorted(ids, ev)
        iu_c, iv_c = np.minimum(iu, len(ids) - 1), np.minimum(iv, len(ids) - 1)
        bad = (ids[iu_c] != eu) | (ids[iv_c] != ev)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            missing = int(eu[row]) if ids[iu_c[row]] != eu[row] else int(ev[row])
            raise ValidationError(f"{path}: layer 'edges' row {row + 1}: node {missing} is not in layer 'nodes'",
                                  field="source")
        lon = nodes["lon"].to_numpy(np.float64)[order]
        lat = nodes["lat"].to_numpy(np.float64)[order]
        hw = edges["highway"].astype(str).to_numpy(object)
        hw = np.where(hw == "other", "road", hw)   # the TMAP "other" class: an unknown road
        return cls.from_arrays(lon, lat, iu, iv, highway=hw, name=name or path.stem.split("_")[0],
                               source=path.name, largest_only=largest_only, settings=settings)

    @classmethod
    def from_osm(cls, path, *, name: str | None = None, settings=None, largest_only: bool = True) -> "Network":
        """A road graph from an OpenStreetMap file (``.osm.pbf``, ``.osm``), read with osmium.

        Ways with a routable ``highway`` tag become edges (split at every node);
        nodes missing from the extract split the way there.
        """
        import osmium

        path = Path(path)
        if not path.exists():
            raise NotFoundError(f"road network source not found: {str(path)!r}", field="source")
        refs, lons, lats = [], [], []
        eu_ref, ev_ref, hw_list, acc_list, ow_list = [], [], [], [], []
        try:
            fp = osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY).with_locations()
            for obj in fp:
                if not obj.is_way():
                    continue
                tags = obj.tags
                cls_ = road_class(tags.get("highway"))
                if cls_ is None or str(tags.get("area", "")).lower() == "yes":
                    continue    # a square or a car park drawn as an area: no line to follow
                bits, oneway = tag_access(cls_, tags)
                if not bits:
                    continue
                prev = None
                for nd in obj.nodes:
                    loc = nd.location
                    if not loc.valid():
                        prev = None
                        continue
                    ref = nd.ref
                    refs.append(ref)
                    lons.append(loc.lon)
                    lats.append(loc.lat)
                    if prev is not None:
                        eu_ref.append(prev)
                        ev_ref.append(ref)
                        hw_list.append(cls_)
                        acc_list.append(bits)
                        ow_list.append(oneway)
                    prev = ref
        except RuntimeError as exc:
            raise ValidationError(f"{path}: cannot read as OpenStreetMap data ({exc})", field="source") from None
        if not eu_ref:
            raise ValidationError(f"{path}: no routable highway in this file", field="source")
        refs = np.asarray(refs, dtype=np.int64)
        uniq, first = np.unique(refs, return_index=True)
        lon = np.asarray(lons)[first]
        lat = np.asarray(lats)[first]
        u = np.searchsorted(uniq, np.asarray(eu_ref, dtype=np.int64))
        v = np.searchsorted(uniq, np.asarray(ev_ref, dtype=np.int64))
        stem = path.name.split(".")[0]
        return cls.from_arrays(lon, lat, u, v, highway=np.asarray(hw_list, dtype=object),
                               access=np.asarray(acc_list), oneway=np.asarray(ow_list),
                               name=name or stem, source=path.name, largest_only=largest_only,
                               settings=settings)

    @classmethod
    def build(cls, source, *, name: str | None = None, settings=None) -> "Network":
        """Build from a ``.gpkg`` road graph or an OpenStreetMap ``.osm.pbf`` / ``.osm`` / ``.pbf`` file."""
        p = Path(source)
        low = p.name.lower()
        if low.endswith(".gpkg"):
            return cls.from_gpkg(p, name=name, settings=settings)
        if low.endswith((".pbf", ".osm", ".osm.bz2", ".osm.gz", ".o5m")):
            return cls.from_osm(p, name=name, settings=settings)
        raise ValidationError(
            f"source must be a .gpkg road graph or an OpenStreetMap .osm.pbf/.osm file, got {str(source)!r}",
            field="source")


class _SegmentGrid:
    """Line segments (metric) in a uniform grid of square cells, for nearest-segment
    queries in compiled code: :meth:`nearest` for one point (what a request snaps:
    a few microseconds, where a shapely STRtree query spends tens in Python around
    its search), :meth:`nearest_many` for arrays.

    Each segment is listed in every cell its bounding box touches.  A query looks
    at the cells in square rings around its own; once the nearest segment found is
    no farther than the ring's inner edge, no unseen segment can be nearer.  Ties go
    to the lower segment position, so the answer is the brute-force one
    (tests/unit/test_network.py).
    """

    def __init__(self, ax, ay, bx, by):
        ax, ay, bx, by = (np.ascontiguousarray(a, dtype=np.float64) for a in (ax, ay, bx, by))
        self.ax, self.ay, self.bx, self.by = ax, ay, bx, by
        n = len(ax)
        if n == 0:
            self.x0 = self.y0 = 0.0
            self.cell, self.nx, self.ny = 1.0, 1, 1
            self.start, self.items = np.zeros(2, np.int64), np.zeros(0, np.int64)
            return
        x0, y0 = float(min(ax.min(), bx.min())), float(min(ay.min(), by.min()))
        x1, y1 = float(max(ax.max(), bx.max())), float(max(ay.max(), by.max()))
        # cells about as long as a typical segment, and about as many as segments; larger
        # where a few very long segments would be listed in too many cells
        typical = float(np.median(np.hypot(bx - ax, by - ay)))
        cell = max(typical, math.sqrt(max((x1 - x0) * (y1 - y0), 1.0) / n), 1.0)
        while True:
            cx0 = ((np.minimum(ax, bx) - x0) // cell).astype(np.int64)
            cx1 = ((np.maximum(ax, bx) - x0) // cell).astype(np.int64)
            cy0 = ((np.minimum(ay, by) - y0) // cell).astype(np.int64)
            cy1 = ((np.maximum(ay, by) - y0) // cell).astype(np.int64)
            reps = (cx1 - cx0 + 1) * (cy1 - cy0 + 1)
            if int(reps.sum()) <= max(16 * n, 1 << 20):
                break
            cell *= 2.0
        self.x0, self.y0, self.cell = x0, y0, cell
        self.nx, self.ny = int((x1 - x0) // cell) + 1, int((y1 - y0) // cell) + 1
        seg = np.repeat(np.arange(n, dtype=np.int64), reps)
        k = np.arange(len(seg)) - np.repeat(np.cumsum(reps) - reps, reps)    # rank within its segment
        w = np.repeat(cx1 - cx0 + 1, reps)
        cells = (np.repeat(cy0, reps) + k // w) * self.nx + np.repeat(cx0, reps) + k % w
        order = np.lexsort((seg, cells))
        self.items = seg[order]
        self.start = np.searchsorted(cells[order], np.arange(self.nx * self.ny + 1)).astype(np.int64)

    def nearest(self, qx: float, qy: float) -> tuple:
        """``(position, t, distance, px, py)`` of the segment nearest the point: its
        position, the fraction along it of the nearest point ``(px, py)``, and the
        distance (Python numbers); position -1 (distance inf) when there is none or the
        point is not finite."""
        pos, t, d = self.nearest_many(np.array((qx,)), np.array((qy,)))
        i, t, d = int(pos[0]), float(t[0]), float(d[0])
        if i < 0:
            return -1, 0.0, math.inf, float(qx), float(qy)
        ax, ay = float(self.ax[i]), float(self.ay[i])
        return i, t, d, ax + t * (float(self.bx[i]) - ax), ay + t * (float(self.by[i]) - ay)

    def nearest_many(self, qx, qy):
        """The segment nearest each point: ``(positions, t, distances)`` arrays (as :meth:`nearest`)."""
        return compiled(_grid_nearest)(self.start, self.items, self.x0, self.y0, self.cell, self.nx, self.ny,
                                       self.ax, self.ay, self.bx, self.by,
                                       np.ascontiguousarray(qx, dtype=np.float64),
                                       np.ascontiguousarray(qy, dtype=np.float64))


def _grid_nearest(start, items, x0, y0, cell, nx, ny, ax, ay, bx, by, qx, qy):
    """See :class:`_SegmentGrid`.

    The rings are centred on the cell of the point's projection onto the grid's
    rectangle, p; for any point z of the rectangle, |q - z|^2 >= |p - z|^2 + gap^2
    (gap = |q - p|), and every segment not in rings 0..r is more than r cells from p.
    """
    n = len(qx)
    pos = np.full(n, -1, np.int64)
    tt = np.zeros(n)
    dd = np.full(n, np.inf)
    if len(items) == 0:
        return pos, tt, dd
    for q in range(n):
        px, py = qx[q], qy[q]
        if not (np.isfinite(px) and np.isfinite(py)):
            continue
        fx, fy = (px - x0) / cell, (py - y0) / cell
        cx = int(min(max(np.floor(fx), 0.0), nx - 1.0))
        cy = int(min(max(np.floor(fy), 0.0), ny - 1.0))
        gx = max(0.0, -fx, fx - nx) * cell
        gy = max(0.0, -fy, fy - ny) * cell
        gap2 = gx * gx + gy * gy
        best, best_t, best_d = -1, 0.0, np.inf
        r = 0
        while True:
            for y in range(max(cy - r, 0), min(cy + r, ny - 1) + 1):
                whole_row = y == cy - r or y == cy + r
                for x in range(max(cx - r, 0), min(cx + r, nx - 1) + 1):
                    if not whole_row and x != cx - r and x != cx + r:
                        continue
                    c = y * nx + x
                    for j in range(start[c], start[c + 1]):
                        i = items[j]
                        sx, sy = ax[i], ay[i]
                        dx, dy = bx[i] - sx, by[i] - sy
                        ll = dx * dx + dy * dy
                        t = 0.0
                        if ll > 0.0:
                            t = min(max(((px - sx) * dx + (py - sy) * dy) / ll, 0.0), 1.0)
                        ex, ey = px - (sx + t * dx), py - (sy + t * dy)
                        d = np.sqrt(ex * ex + ey * ey)
                        if d < best_d or (d == best_d and i < best):
                            best, best_t, best_d = i, t, d
            ring = r * cell
            if best >= 0 and best_d * best_d < ring * ring + gap2:
                break
            if cx - r <= 0 and cy - r <= 0 and cx + r >= nx - 1 and cy + r >= ny - 1:
                break   # the rings cover the grid
            r += 1
        pos[q], tt[q], dd[q] = best, best_t, best_d
    return pos, tt, dd


class _LonLatFit:
    """WGS-84 lon/lat as polynomials in metric x, y over a rectangle, fitted to a
    pyproj transformer (``xy -> lonlat``) on Chebyshev points; the lowest
    degree (2..8) whose error on a finer check grid is below ``tol_m``
    metres.  ``ok`` is False when no degree is that close."""

    def __init__(self, x0, y0, x1, y1, transformer, *, tol_m: float = 1e-3):
        self.x0, self.y0, self.x1, self.y1 = x0, y0, x1, y1
        self.cx, self.cy = 0.5 * (x0 + x1), 0.5 * (y0 + y1)
        self.hx, self.hy = max(0.5 * (x1 - x0), 1.0), max(0.5 * (y1 - y0), 1.0)
        self.ok = False
        chk = np.linspace(-1.0, 1.0, 41)
        cu, cv = (a.ravel() for a in np.meshgrid(chk, chk))
        clon, clat = transformer.transform(self.cx + cu * self.hx, self.cy + cv * self.hy)
        self.lon0, self.lat0 = float(np.mean(clon)), float(np.mean(clat))
        m_lat = 111_320.0
        m_lon = m_lat * math.cos(math.radians(self.lat0))
        for deg in range(2, 9):
            k = 2 * deg + 4
            nodes = np.cos(np.pi * (np.arange(k) + 0.5) / k)
            fu, fv = (a.ravel() for a in np.meshgrid(nodes, nodes))
            flon, flat = transformer.transform(self.cx + fu * self.hx, self.cy + fv * self.hy)
            i, j = np.meshgrid(np.arange(deg + 1), np.arange(deg + 1), indexing="ij")
            i, j = i.ravel(), j.ravel()
            tot = (i + j) <= deg
            V = fu[:, None] ** i[tot] * fv[:, None] ** j[tot]
            rhs = np.column_stack([np.asarray(flon) - self.lon0, np.asarray(flat) - self.lat0])
            sol = np.linalg.lstsq(V, rhs, rcond=None)[0]
            coef = np.zeros((deg + 1, deg + 1, 2))
            coef[i[tot], j[tot]] = sol
            # C[j, 2 * i + o]: the coefficient of u^i v^j for output o (lon, lat)
            self.deg = deg
            self.C = np.ascontiguousarray(coef.transpose(1, 0, 2).reshape(deg + 1, 2 * (deg + 1)))
            glon, glat = self._eval(cu, cv)
            err = np.hypot((glon - clon) * m_lon, (glat - clat) * m_lat)
            self.max_error_m = float(err.max())
            if self.max_error_m <= tol_m:
                self.ok = True
                break

    def covers(self, x, y) -> bool:
        return bool(x.min() >= self.x0 and x.max() <= self.x1 and y.min() >= self.y0 and y.max() <= self.y1)

    def _eval(self, u, v):
        d = self.deg
        vp = np.empty((d + 1, len(v)))
        vp[0] = 1.0
        for k in range(1, d + 1):
            np.multiply(vp[k - 1], v, out=vp[k])
        Q = self.C.T @ vp            # Q[2i + o]: the coefficient of u^i for output o, at each point
        out = []
        for o in (0, 1):             # Horner in u, on contiguous rows
            acc = Q[2 * d + o].copy()
            for k in range(d - 1, -1, -1):
                acc *= u
                acc += Q[2 * k + o]
            out.append(acc)
        return out[0] + self.lon0, out[1] + self.lat0

    def __call__(self, x, y):
        """lon, lat (arrays) for metric x, y (arrays inside the rectangle)."""
        shape = np.shape(x)
        u = (np.ravel(x) - self.cx) * (1.0 / self.hx)
        v = (np.ravel(y) - self.cy) * (1.0 / self.hy)
        lon, lat = self._eval(u, v)
        return lon.reshape(shape), lat.reshape(shape)


def _arcs(n: int, u: np.ndarray, v: np.ndarray):
    """Both arcs of every edge, sorted by (source, target): CSR indptr, targets, edge ids."""
    m = len(u)
    src = np.concatenate([u, v]).astype(np.int64)
    dst = np.concatenate([v, u]).astype(np.int64)
    eid = np.concatenate([np.arange(m), np.arange(m)])
    order = np.lexsort((dst, src))
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    return indptr, dst[order], eid[order]


def load_networks(settings=None) -> dict:
    """The networks named in ``settings.networks`` ({name: path}), loaded: {name: Network}."""
    settings = settings or _config.load()
    out = {}
    for name, path in (settings.networks or {}).items():
        out[str(name)] = Network.load(path, name=str(name), settings=settings)
    return out


# -- compiled kernels ------------------------------------------------------------------------

def _k_attach(e, t, d_off, max_snap_m, edge_u, edge_v, edge_s, can_fwd, can_back, snap_edge, snap_t, off_s, walk):
    """See :meth:`Network.attachments`."""
    n = len(e)
    att_node = np.empty(2 * n, np.int64)
    att_target = np.empty(2 * n, np.int64)
    att_s = np.empty(2 * n)
    direct = np.full(n, np.inf)
    cost = np.empty(n)
    n_fwd = 0
    for j in range(n):
        cost[j] = off_s + d_off[j] / walk
        ej = e[j]
        if ej >= 0 and d_off[j] <= max_snap_m and can_fwd[ej]:
            att_node[n_fwd] = edge_u[ej]
            att_target[n_fwd] = j
            att_s[n_fwd] = t[j] * edge_s[ej]
            n_fwd += 1
    m = n_fwd
    for j in range(n):
        ej = e[j]
        if ej < 0 or not d_off[j] <= max_snap_m:
            continue
        if can_back[ej]:
            att_node[m] = edge_v[ej]
            att_target[m] = j
            att_s[m] = (1.0 - t[j]) * edge_s[ej]
            m += 1
        if ej == snap_edge and ((t[j] >= snap_t and can_fwd[ej]) or (t[j] <= snap_t and can_back[ej])):
            direct[j] = abs(t[j] - snap_t) * edge_s[ej]
    return att_node[:m], att_target[:m], att_s[:m], n_fwd, direct, cost


def _k_chain(nodes, pred, n, indptr, indices, arc_eid, edge_len, snap_u, snap_t, snap_len):
    """Metres from the search's start to each of ``nodes`` along the predecessor tree
    (index ``n`` is the snapped point; its virtual arcs run along the snapped edge).  The
    arc ``p -> v`` is found in ``p``'s row of the mode graph's CSR (the graph is simple)."""
    out = np.empty(nodes.shape[0])
    for i in range(nodes.shape[0]):
        v = nodes[i]
        acc = 0.0
        while v != n:
            p = pred[v]
            if p < 0:       # not reached
                acc = np.inf
                break
            if p == n:      # the first step, from the snapped point along its edge
                acc += snap_t * snap_len if v == snap_u else (1.0 - snap_t) * snap_len
                break
            a = indptr[p]
            end = indptr[p + 1]
            while a < end - 1 and indices[a] != v:
                a += 1
            acc += edge_len[arc_eid[a]]
            v = p
        out[i] = acc
    return out


def _k_targets(indptr, indices, data, n, s_nodes, s_times, limit, att_node, att_target, att_s,
               direct_s, cost_s, k, floor):
    """See :meth:`Network.nearest_targets` (``att_*`` sorted by node).  The CSR's row ``n``
    (the virtual source's two arcs, set by :meth:`Network.search`) is never read: the
    search starts from ``s_nodes``/``s_times``, and the real rows lead to real nodes only."""
    N = n + 1
    na = att_node.shape[0]
    nt = direct_s.shape[0]
    dist = np.full(N, np.inf)
    pred = np.full(N, -9999, np.int64)
    first = np.full(N, -1, np.int64)
    for i in range(na - 1, -1, -1):
        first[att_node[i]] = i
    cap = indices.shape[0] + na + nt + 8
    hk = np.empty(cap)
    hv = np.empty(cap, np.int64)
    # heap values: a node (>= 0), or -(1 + event) for the event of attachment `event`
    # (event < na) or of target event - na's direct way

    def push(size, key, val):
        """Push (key, val) on the heap of ``size`` entries; returns the new size."""
        i = size
        while i > 0:
            p = (i - 1) >> 1
            if hk[p] <= key:
                break
            hk[i] = hk[p]
            hv[i] = hv[p]
            i = p
        hk[i] = key
        hv[i] = val
        return size + 1

    size = 0
    done = np.zeros(nt, np.bool_)
    out_t = np.empty(nt, np.int64)
    out_total = np.empty(nt)
    out_road = np.empty(nt)
    out_att = np.empty(nt, np.int64)
    m = 0
    best = np.full(max(k, 1), np.inf)   # the k smallest totals so far, ascending
    dist[n] = 0.0
    for j in range(2):                  # the two ends of the snapped edge
        key = s_times[j]
        x = s_nodes[j]
        if key <= limit and key < np.inf and key < dist[x]:
            dist[x] = key
            pred[x] = n
            size = push(size, key, x)
    for j in range(nt):                 # the targets straight along it
        key = direct_s[j]
        if key <= limit and key < np.inf:
            size = push(size, key, -(1 + na + j))
    while size > 0:
        key = hk[0]         # pop
        val = hv[0]
        size -= 1
        if size > 0:
            lk = hk[size]
            lv = hv[size]
            i = 0
            while True:
                c = 2 * i + 1
                if c >= size:
                    break
                if c + 1 < size and hk[c + 1] < hk[c]:
                    c += 1
                if hk[c] >= lk:
                    break
                hk[i] = hk[c]
                hv[i] = hv[c]
                i = c
            hk[i] = lk
            hv[i] = lv
        if key > limit:
            break
        if best[k - 1] < key + floor:   # nothing unsettled can beat (or tie) the k-th
            break
        if val < 0:
            ev = -val - 1
            j = att_target[ev] if ev < na else ev - na
            if done[j]:
                continue
            done[j] = True
            total = key + cost_s[j]
            out_t[m] = j
            out_total[m] = total
            out_road[m] = key
            out_att[m] = ev if ev < na else -1
            m += 1
            if total < best[k - 1]:
                q = k - 1
                while q > 0 and best[q - 1] > total:
                    best[q] = best[q - 1]
                    q -= 1
                best[q] = total
            continue
        x = val
        if key > dist[x]:
            continue
        a = first[x]
        if a >= 0:
            while a < na and att_node[a] == x:
                if not done[att_target[a]]:
                    nk = key + att_s[a]
                    if nk <= limit and nk < np.inf:
                        size = push(size, nk, -(1 + a))
                a += 1
        for a in range(indptr[x], indptr[x + 1]):
            y = indices[a]
            nd = key + data[a]
            if nd < dist[y] and nd <= limit:     # (nd < dist[y] <= inf: finite)
                dist[y] = nd
                pred[y] = x
                size = push(size, nd, y)
    return out_t[:m], out_total[:m], out_road[:m], out_att[:m], pred
