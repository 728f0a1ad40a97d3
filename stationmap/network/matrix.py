"""Many-to-many travel times for coverage: minutes from every cell of a grid to the nearest
station and the stations in reach, by multi-source Dijkstra on a mode's reversed graph.

Cells and stations are WGS-84 points snapped onto the roads (:func:`snap_points`); the
searches run on the mode graph's real arcs, reversed (:func:`reverse_graph`), with virtual
source nodes appended for the stations.  It reads the mode graph's CSR layout (the
real arcs end at ``indptr[n]``, where the virtual node's begin), as
:mod:`~stationmap.network.graph` and :mod:`~stationmap.network.search` do, so coverage
need not: :mod:`stationmap.coverage` calls :func:`node_minutes`, :func:`cell_minutes`
and :func:`reach_matrix`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import ArrayLike

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from scipy.sparse import csr_matrix

    from stationmap.network.graph import ModeGraph

from stationmap.checks import check_mode
from stationmap.config import DEFAULT_MODE
from stationmap.network.graph import Network


class _Pt:
    __slots__ = ("lat", "lon")

    def __init__(self, lon: float, lat: float) -> None:
        self.lon, self.lat = lon, lat


_GRAPHS: dict = {}


def reverse_graph(network: Network, mode: str) -> tuple:
    """``(real, rev)``: the mode's real arcs (without the network's virtual node) as an
    (n, n) CSR matrix, and reversed: ``rev[a, b]`` = seconds from ``b`` to ``a``.  Cached
    per network and mode."""
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
    # the network's reversed graph (Network.reverse) without its virtual node
    rv = network.reverse(mode).csr
    rnz = int(rv.indptr[n])
    rev = csr_matrix((rv.data[:rnz].copy(), rv.indices[:rnz].copy(), rv.indptr[:n + 1].copy()), shape=(n, n))
    _GRAPHS[key] = (weakref.ref(network), real, rev)
    return real, rev


def snap_points(network: Network, mode: str, lon: ArrayLike, lat: ArrayLike, max_snap_m: float) -> tuple:
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


def _source_arcs(network: Network, g: ModeGraph, e: np.ndarray, t: np.ndarray,
                 access: np.ndarray) -> tuple[np.ndarray, ...]:
    """Arcs from a (virtual) source at each snapped station to the ends of its
    edge, in the reverse graph: weight = seconds from that end to the station."""
    T = g.edge_s[e]
    u, v = network.edge_u[e].astype(np.int64), network.edge_v[e].astype(np.int64)
    to_u = g.can_fwd[e]            # a worker at u reaches the station going u -> v
    to_v = g.can_back[e]
    return u, access + t * T, to_u, v, access + (1.0 - t) * T, to_v


def _augmented(rev: csr_matrix, n_src: int, arcs_per_src: Sequence[tuple[np.ndarray, np.ndarray]]) -> csr_matrix:
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


def node_minutes(network: Network, station_lon: ArrayLike, station_lat: ArrayLike, *, mode: str = DEFAULT_MODE,
                 limit_minutes: float = np.inf, max_snap_m: float | None = None) -> np.ndarray:
    """Minutes from every node of ``network`` to the nearest station (WGS-84
    points snapped onto the roads, the off-road part at walking speed): one
    Dijkstra on the reversed graph from a virtual source joined to every
    station.  ``inf`` beyond ``limit_minutes`` and where no station is on the
    network."""
    from scipy.sparse.csgraph import dijkstra

    mode = check_mode(mode)
    max_snap = network.settings.max_snap_m if max_snap_m is None else float(max_snap_m)
    g = network.graph(mode)
    _real, rev = reverse_graph(network, mode)
    n = network.n_nodes
    e, t, acc = snap_points(network, mode, station_lon, station_lat, max_snap)
    on = e >= 0
    if not on.any():
        return np.full(n, np.inf)
    u, wu, ou, v, wv, ov = _source_arcs(network, g, e[on], t[on], acc[on])
    tgt = np.concatenate([u[ou], v[ov]])
    w = np.concatenate([wu[ou], wv[ov]])
    aug = _augmented(rev, 1, [(tgt, w)])
    d = dijkstra(aug, directed=True, indices=n, limit=float(limit_minutes) * 60.0)  # type: ignore[call-overload]
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


def _cell_legs(network: Network, g: ModeGraph, mode: str, lon: ArrayLike, lat: ArrayLike, max_snap: float) -> _Legs:
    ce, ct, cacc = snap_points(network, mode, lon, lat, max_snap)
    ok = np.nonzero(ce >= 0)[0]
    e = ce[ok]
    T = g.edge_s[e]
    return _Legs(ok=ok, e=e, t=ct[ok], cu=network.edge_u[e].astype(np.int64), cv=network.edge_v[e].astype(np.int64),
                 lu=np.where(g.can_back[e], ct[ok] * T, np.inf), lv=np.where(g.can_fwd[e], (1.0 - ct[ok]) * T, np.inf),
                 base=cacc[ok])


def _via_graph(legs: _Legs, D: np.ndarray) -> np.ndarray:
    """(k, n) seconds from each node to the station(s) -> (k, cells on the network)."""
    return np.minimum(D[:, legs.cu] + legs.lu, D[:, legs.cv] + legs.lv) + legs.base


def _same_edge(legs: _Legs, g: ModeGraph, se: np.ndarray, st: np.ndarray, sacc: np.ndarray,
               k_idx: np.ndarray) -> np.ndarray:
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


def _station_blocks(network: Network, g: ModeGraph, rev: csr_matrix, legs: _Legs, se: np.ndarray, st: np.ndarray,
                    sacc: np.ndarray, limit_s: float,
                    block: int = 128) -> Iterator[tuple[np.ndarray, np.ndarray]]:
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


def cell_minutes(network: Network, cell_lon: ArrayLike, cell_lat: ArrayLike, station_lon: ArrayLike,
                 station_lat: ArrayLike, *, mode: str, minutes: float, horizon_minutes: float,
                 max_snap_m: float | None = None, count: bool = True) -> tuple:
    """Minutes from each cell (WGS-84 centres) to the nearest station, and the stations
    within ``minutes``, on ``network``.

    Cell centres and stations are snapped onto the nearest road open to ``mode``; the
    off-road part is a straight walk at walking speed; the trip runs from the cell to
    the station (one-way streets respected).  A point farther than ``max_snap_m``
    (default the network's ``Settings.max_snap_m``) from every road is off the network:
    cells get ``inf`` and 0, stations are ignored.  ``minutes`` and ``horizon_minutes``
    are positive numbers, checked by the caller against its own limits
    (:func:`stationmap.coverage.network_minutes`).

    Returns ``(minutes, count)`` per cell; minutes beyond ``horizon_minutes`` are ``inf``.
    """
    from scipy.sparse.csgraph import dijkstra

    mode = check_mode(mode)
    horizon = float(horizon_minutes)
    max_snap = network.settings.max_snap_m if max_snap_m is None else float(max_snap_m)
    g = network.graph(mode)
    _real, rev = reverse_graph(network, mode)
    n = network.n_nodes
    n_cells = np.asarray(cell_lon).size
    out_min = np.full(n_cells, np.inf)
    cnt = np.zeros(n_cells, dtype=np.int32)
    se, st, sacc = snap_points(network, mode, station_lon, station_lat, max_snap)
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
    D = dijkstra(aug, directed=True, indices=n, limit=horizon * 60.0)[None, :n]  # type: ignore[call-overload]
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


def reach_matrix(network: Network, cell_lon: ArrayLike, cell_lat: ArrayLike, site_lon: ArrayLike,
                 site_lat: ArrayLike, *, mode: str, minutes: float, max_snap_m: float | None = None) -> csr_matrix:
    """Sparse boolean (sites, cells) matrix: which cells (WGS-84 centres) reach which
    sites within ``minutes`` on ``network`` (as :func:`cell_minutes`; ``minutes`` checked
    by the caller).  Sites off the network reach nothing."""
    from scipy.sparse import coo_matrix

    r, c, _sec = reach_pairs(network, cell_lon, cell_lat, site_lon, site_lat, mode=mode, minutes=minutes,
                             max_snap_m=max_snap_m)
    n_cells, n_sites = np.asarray(cell_lon).size, np.asarray(site_lon).size
    return coo_matrix((np.ones(r.size, bool), (r, c)), shape=(n_sites, n_cells)).tocsr()


def reach_pairs(network: Network, cell_lon: ArrayLike, cell_lat: ArrayLike, site_lon: ArrayLike,
                site_lat: ArrayLike, *, mode: str, minutes: float, max_snap_m: float | None = None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (site, cell) pairs of :func:`reach_matrix` with their trip times: ``(site index, cell
    index, seconds)`` arrays, every trip from the cell to the site within ``minutes``."""
    mode = check_mode(mode)
    max_snap = network.settings.max_snap_m if max_snap_m is None else float(max_snap_m)
    g = network.graph(mode)
    _real, rev = reverse_graph(network, mode)
    se, st, sacc = snap_points(network, mode, site_lon, site_lat, max_snap)
    on = np.nonzero(se >= 0)[0]
    legs = _cell_legs(network, g, mode, cell_lon, cell_lat, max_snap)
    rows, cols, secs = [], [], []
    if on.size and legs.ok.size:
        limit = minutes * 60.0
        for k_idx, tk in _station_blocks(network, g, rev, legs, se[on], st[on], sacc[on], limit):
            r, c = np.nonzero(tk <= limit)
            rows.append(on[k_idx[r]])
            cols.append(legs.ok[c])
            secs.append(tk[r, c])
    if not rows:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, float)
    return np.concatenate(rows), np.concatenate(cols), np.concatenate(secs).astype(float)
