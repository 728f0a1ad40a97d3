"""The :class:`Network` class: node and edge arrays, the travel-time graph of each mode
(CSR with one virtual source node), its contracted core, speeds, and the compiled file
(``.npz``).  Snapping, searching and building are its mixins
(:mod:`~stationmap.network.snapping`, :mod:`~stationmap.network.search`,
:mod:`~stationmap.network.osm`).
"""

from __future__ import annotations

import math
import os
import threading
import weakref
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stationmap import config as _config
from stationmap.checks import check_mode
from stationmap.config import DEFAULT_CAR_SPEEDS_KMH, MODES
from stationmap.coords import utm_crs_for
from stationmap.errors import ConfigError, NotFoundError, ValidationError
from stationmap.locks import FreshLocks
from stationmap.network.osm import CLOSED, MODE_BIT, ONEWAY_BACK_SHIFT, PUSHED, ROAD_CLASSES, Building
from stationmap.network.search import Searching
from stationmap.network.snapping import Snap, Snapping

if TYPE_CHECKING:
    import numpy.typing as npt
    from scipy.sparse import csr_matrix

    from stationmap.config import Settings

#: the compiled file's format: version 2 holds one-way bits per mode (riders keep to one-way
#: streets, issue 21) and whether the source had one-way data; a version 1 file is refused with
#: the command that rebuilds it
FORMAT = "stationmap-network/2"


@dataclass
class ModeGraph(FreshLocks):
    """The CSR travel-time graph of one mode, with one virtual source node (index n)."""

    csr: csr_matrix        # (n+1, n+1), seconds
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
    arc_twoway: np.ndarray = None  # type: ignore[assignment]  # the arc's edge is open both ways (always set)
    all_twoway: bool = True
    grid: Any = None       # _SegmentGrid over ``edges`` (lazy)
    snaps: dict | None = None  # (lon, lat) -> (edge, t, distance_m), stations
    slot_snaps: Any = None  # StationIndex -> (edge, t, distance_m) arrays by slot (weak keys)
    core: _Core | None = None  # the graph with its two-way chains contracted (lazy)
    reverse: ReverseGraph | None = None  # the graph with its arcs turned round (lazy)

    def __getstate__(self) -> dict:
        """For the derived-data cache (:mod:`stationmap.network.derived`): without the lock and the
        snaps of stations and indexes (weak references), which a loaded graph makes afresh."""
        return {**super().__getstate__(), "slot_snaps": None, "snaps": {}}

    def __setstate__(self, d: dict) -> None:
        super().__setstate__(d)
        self.slot_snaps = weakref.WeakKeyDictionary()


@dataclass
class ReverseGraph(FreshLocks):
    """A mode graph with every real arc turned round (``csr[a, b]`` = seconds from ``b`` to
    ``a``), with one virtual node (index n) whose two arcs are set per search to the ends of
    the edge a destination snapped onto: a search from it gives every node's time *to* the
    destination (:meth:`~stationmap.network.Network.search_to`)."""

    csr: csr_matrix        # (n+1, n+1), seconds
    lock: threading.Lock


@dataclass
class _Core(FreshLocks):
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
    csr: csr_matrix        # (nk+1, nk+1): super-arcs in seconds; row nk: virtual source
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


class Network(Snapping, Searching, Building):
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
    edge_oneway : ndarray (m,)  one-way bits per mode (:func:`~stationmap.network.osm.tag_access`,
        :data:`~stationmap.network.osm.ONEWAY_RULES`)
    home_adcode : str  the district the network was fetched for (``stationmap network fetch``), or ""
    home : shapely (Multi)Polygon or None  that district's WGS-84 polygon: a point inside it is served
        by this network before any other that reaches it (:func:`stationmap.reach.choose_network`)
    oneway_known : bool  the source had one-way data; False: every street is two-way here and
        times are optimistic (every answer that uses the network says so)
    """

    def __init__(self, *, name: str, lon: npt.ArrayLike, lat: npt.ArrayLike, edge_u: npt.ArrayLike,
                 edge_v: npt.ArrayLike, edge_length_m: npt.ArrayLike, edge_class: npt.ArrayLike,
                 classes: Iterable[str], edge_access: npt.ArrayLike, edge_oneway: npt.ArrayLike,
                 arc_indptr: npt.ArrayLike | None = None, arc_dst: npt.ArrayLike | None = None,
                 arc_eid: npt.ArrayLike | None = None, source: str = "", settings: Settings | None = None,
                 oneway_known: bool = True, home_adcode: str = "", home: Any = None, licence: str = "",
                 date: str = "") -> None:
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
        self.edge_oneway = np.ascontiguousarray(edge_oneway, dtype=np.uint8)
        self.oneway_known = bool(oneway_known)
        self.home_adcode = str(home_adcode or "")
        #: the data's licence and credit ("© OpenStreetMap contributors, ODbL"), shown by every page
        #: and answer that uses the network; "" when unknown
        self.licence = str(licence or "")
        #: the date of the data (an OpenStreetMap file's replication timestamp), "" when not recorded:
        #: every coverage run on the network states it
        self.date = str(date or "")
        self.home = home
        if home is not None:
            import shapely

            shapely.prepare(home)
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
        self._modes: dict[str, ModeGraph] = {}
        self._max_mps: dict[str, float] = {}
        self._lonlat_fit = None
        #: data derived from the network by other modules (built lazily, e.g. isochrone grids)
        self.derived: dict = {}
        #: where what is derived from the network is kept between starts (set by the loader;
        #: written by :func:`stationmap.reach.prepare`: :mod:`stationmap.network.derived`)
        self.cache_file: Path | None = None
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
        check_mode(mode)
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
            v = float(v)  # type: ignore[arg-type]  # None or junk are refused below
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
    def graph(self, mode: str) -> ModeGraph:
        """The travel-time graph of ``mode`` (built on first use, then cached)."""
        g = self._modes.get(mode)
        if g is None:
            check_mode(mode)
            with self._build_lock:
                g = self._modes.get(mode)
                if g is None:
                    g = self._build_mode(mode)
                    self._modes[mode] = g
        return g

    def prepare(self, modes: Iterable[str] = MODES) -> Network:
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

    def _build_mode(self, mode: str) -> ModeGraph:
        import scipy.sparse as sp

        n = self.n_nodes
        bit = MODE_BIT[mode]
        speeds = np.array([self.speed_kmh(mode, c) for c in self.classes], dtype=np.float64)
        sp_e = speeds[self.edge_class]
        open_e = ((self.edge_access & bit) != 0) & (sp_e > 0)
        with np.errstate(divide="ignore"):
            edge_s = np.where(open_e, self.edge_length_m / (np.where(open_e, sp_e, 1.0) / 3.6), np.inf)
        can_fwd = open_e & ((self.edge_oneway & (bit << ONEWAY_BACK_SHIFT)) == 0)
        can_back = open_e & ((self.edge_oneway & bit) == 0)
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
        return ModeGraph(csr=csr, arc_eid=eid, arc_fwd=fwd, arc_rev=rev, arc_src=src, arc_key=key, edge_s=edge_s,
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

    def reverse(self, mode: str) -> ReverseGraph:
        """The reversed graph of ``mode`` (:class:`ReverseGraph`; built on first use, then cached)."""
        g = self.graph(mode)
        if g.reverse is None:
            with self._build_lock:
                if g.reverse is None:
                    g.reverse = self._build_reverse(g)
        return g.reverse

    def _build_reverse(self, g: ModeGraph) -> ReverseGraph:
        import scipy.sparse as sp

        n = self.n_nodes
        nnz = int(g.csr.indptr[n])
        real = sp.csr_matrix((g.csr.data[:nnz], g.csr.indices[:nnz], g.csr.indptr[:n + 1]), shape=(n, n))
        rev = real.T.tocsr()
        rev.sort_indices()
        indptr = np.empty(n + 2, dtype=np.int32)     # (int32 and float64, as the mode graph's: scipy's
        indptr[:n + 1] = rev.indptr                 # Dijkstra then searches it without a copy)
        indptr[n + 1] = indptr[n] + 2          # the virtual node's two arcs
        indices = np.concatenate([rev.indices.astype(np.int32), np.full(2, n, np.int32)])
        data = np.concatenate([rev.data.astype(np.float64), np.zeros(2)])
        csr = sp.csr_matrix((data, indices, indptr), shape=(n + 1, n + 1))
        return ReverseGraph(csr=csr, lock=threading.Lock())

    def _build_core(self, g: ModeGraph) -> _Core:
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
        # two edges meet there, both open both ways: two arcs out, both two-way, and no third arc in
        # (a one-way street ending at a node of a two-way road: riders and cars keep to one-way streets)
        contracted = ((deg == 2) & (np.bincount(src[twoway], minlength=n) == 2)
                      & (np.bincount(dst, minlength=n) == 2))
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

    # -- files --------------------------------------------------------------------
    def arrays(self) -> dict:
        """The arrays that define the network (what :meth:`save` writes)."""
        return {
            "format": np.array(FORMAT), "name": np.array(self.name), "source": np.array(self.source),
            "classes": np.array(self.classes), "oneway_known": np.array(self.oneway_known),
            "home_adcode": np.array(self.home_adcode), "home_wkb": _wkb(self.home),
            "licence": np.array(self.licence), "date": np.array(self.date),
            "lon": self.lon, "lat": self.lat,
            "edge_u": self.edge_u, "edge_v": self.edge_v, "edge_length_m": self.edge_length_m,
            "edge_class": self.edge_class, "edge_access": self.edge_access, "edge_oneway": self.edge_oneway,
            "arc_indptr": self.arc_indptr, "arc_dst": self.arc_dst, "arc_eid": self.arc_eid,
        }

    def constructor_arrays(self) -> dict[str, Any]:
        """What the constructor takes, besides ``name`` and ``settings``, to make this network again
        (the derived-data cache keeps it uncompressed: :mod:`stationmap.network.derived`)."""
        return {"source": self.source, "lon": self.lon, "lat": self.lat, "edge_u": self.edge_u,
                "edge_v": self.edge_v, "edge_length_m": self.edge_length_m, "edge_class": self.edge_class,
                "classes": self.classes, "edge_access": self.edge_access, "edge_oneway": self.edge_oneway,
                "arc_indptr": self.arc_indptr, "arc_dst": self.arc_dst, "arc_eid": self.arc_eid,
                "oneway_known": self.oneway_known, "home_adcode": self.home_adcode, "home": self.home,
                "licence": self.licence, "date": self.date}

    def derived_state(self) -> dict[str, Any]:
        """What the network has derived so far (mode graphs with their grids and contracted graphs,
        and :attr:`derived`: snapping grids, isochrone rasters), for :meth:`attach_derived`."""
        return {"modes": dict(self._modes), "derived": dict(self.derived)}

    def attach_derived(self, state: dict[str, Any]) -> None:
        """Take back what :meth:`derived_state` gave (for a network made from the same arrays and
        settings: :func:`stationmap.network.derived.load` checks that)."""
        self._modes.update(state["modes"])
        self.derived.update(state["derived"])

    def save(self, path: str | os.PathLike) -> Path:
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
    def load(cls, path: str | os.PathLike, *, name: str | None = None, settings: Settings | None = None) -> Network:
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
                   settings=settings, oneway_known=bool(a["oneway_known"]),
                   home_adcode=str(a.get("home_adcode", "")), home=_from_wkb(a.get("home_wkb")),
                   licence=str(a.get("licence", "")), date=str(a.get("date", "")))


def _wkb(geom: Any) -> np.ndarray:
    """A geometry as WKB bytes in a uint8 array (empty for None): what the compiled file stores."""
    if geom is None:
        return np.zeros(0, np.uint8)
    import shapely

    return np.frombuffer(shapely.to_wkb(geom), dtype=np.uint8)


def _from_wkb(arr: np.ndarray | None) -> Any:
    if arr is None or not len(arr):
        return None
    import shapely

    return shapely.from_wkb(np.asarray(arr, dtype=np.uint8).tobytes())


def _arcs(n: int, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Both arcs of every edge, sorted by (source, target): CSR indptr, targets, edge ids."""
    m = len(u)
    src = np.concatenate([u, v]).astype(np.int64)
    dst = np.concatenate([v, u]).astype(np.int64)
    eid = np.concatenate([np.arange(m), np.arange(m)])
    order = np.lexsort((dst, src))
    indptr = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n), out=indptr[1:])
    return indptr, dst[order], eid[order]

