"""The isochrone's outline: the road pieces reached from a snapped point, drawn onto a grid
and traced.

:class:`ReachSearch` runs the time-limited Dijkstra from the query point and gives the
reached road pieces (:meth:`~ReachSearch.pieces`) or, on the network's fixed grid
(:func:`raster`: a :class:`_Raster` per cell size, with the precomputed cells of each
mode's contracted graph, :class:`_ModeCells`), the traced outline
(:meth:`~ReachSearch.outline`).  :func:`pieces_polygon` / :func:`pieces_outline`
draw any pieces on a grid of their own.  The compiled loops live in
:mod:`stationmap.reach.trace`; :class:`Outline` is their result in metric coordinates.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from stationmap.locks import FreshLocks
from stationmap.reach.trace import kernels

if TYPE_CHECKING:
    import numpy.typing as npt
    import shapely

    from stationmap.network import Network, Snap

#: reached road pieces in metric coordinates: ``(x0, y0, dx, dy, full)`` (see :meth:`ReachSearch.pieces`)
Pieces = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]

#: default grid cell of the isochrone polygon, metres
RESOLUTION_M = 50.0
#: holes smaller than this (m²) are filled: the insides of city blocks
MIN_HOLE_M2 = 20_000.0
_MAX_CELLS = 4_000_000


class ReachSearch:
    """One Dijkstra from a snapped point, with the budget left after the off-road walk.

    Nothing is searched up front: :meth:`outline` runs the search on the contracted
    graph (:meth:`kept_dist`), :meth:`pieces` the one on the whole graph (:attr:`dist`).
    """

    def __init__(self, net: Network, snap: Snap, mode: str, budget_s: float, lon: float, lat: float) -> None:
        self.net, self.snap, self.mode = net, snap, mode
        self.g = net.graph(mode)
        self.off_s = snap.distance_m / net.walk_mps()
        self.budget_s = budget_s
        self.limit_s = budget_s - self.off_s
        # the query point (metric) and the part of the walk to the road done within the budget
        self.qx, self.qy = net.to_xy(lon, lat)
        self.f0 = 1.0 if self.off_s <= budget_s else budget_s / self.off_s
        self._dist: np.ndarray | None = None
        self._kept: np.ndarray | None = None
        if self.limit_s < 0:
            self._dist = np.full(net.n_nodes + 1, np.inf)

    @property
    def dist(self) -> np.ndarray:
        """Seconds to every node (n+1; index n is the snapped point), searched on first use."""
        if self._dist is None:
            self._dist = self.net.search(self.snap, mode=self.mode, limit_s=self.limit_s)
        return self._dist

    def kept_dist(self) -> np.ndarray:
        """Seconds to the kept nodes of the mode's contracted graph (``core.keep``), searched
        there on first use."""
        if self._kept is None:
            self._kept = self.net.search_core(self.snap, mode=self.mode, limit_s=self.limit_s)
        return self._kept

    def _arcs(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
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

    def _extra(self) -> tuple[np.ndarray, ...]:
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

    def pieces(self) -> Pieces:
        """Reached road pieces in metric coordinates.

        Returns ``(x0, y0, dx, dy, full)``: segments from ``(x0, y0)`` to
        ``(x0 + dx, y0 + dy)``; ``full`` marks whole edges, the others stop
        where the time runs out.  The first piece is the off-road walk from
        the query point to the road.
        """
        net = self.net
        ex0, ey0, edx, edy = self._extra()
        _r, s, tt, f, full, _ = self._arcs()
        x0, y0 = net.x[s], net.y[s]
        return (np.concatenate([ex0, x0]), np.concatenate([ey0, y0]),
                np.concatenate([edx, (net.x[tt] - x0) * f]), np.concatenate([edy, (net.y[tt] - y0) * f]),
                np.concatenate([np.zeros(len(ex0), bool), full]))

    def outline(self, *, resolution_m: float = RESOLUTION_M, min_hole_m2: float = MIN_HOLE_M2) -> Outline | None:
        """The reached area traced on the network's grid (:class:`Outline`), or None
        where that grid cannot hold it (no grid for so large a network, a query
        point beyond its margin, an area beyond ``_MAX_CELLS`` cells).

        The cells (:func:`stationmap.reach.trace._k_cells`): a kept node whose
        every super-arc is travelled in full gives its precomputed *star*
        (:class:`_ModeCells`); the super-arcs of the others are taken whole
        where travelled in full from one end or the two, else cut arc by arc
        and sampled; so are the pieces on the query's own super-arc and the
        off-road walk.
        """
        net, sn = self.net, self.snap
        c = float(resolution_m)
        ras = raster(net, c)
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
        k_cells, _ = kernels()
        cells = k_cells(
            kd, float(B), core.out_max_s, core.csr.indptr, core.sa_dst, core.sa_twoway, core.sa_s, core.sa_ptr,
            core.ca_tau, mc.star_ptr, mc.star_cells, mc.own, mc.sa_ptr, mc.sa_cells, mc.ca_x, mc.ca_y,
            mc.ca_dx, mc.ca_dy, mc.ca_w, s, tau_s, qx, qy, (sn.x - qx) * f0, (sn.y - qy) * f0,
            ras.x0, ras.y0, 1.0 / c, ras.W)
        return Outline.trace(cells, ras.W, c, ras.x0, ras.y0, min_hole_m2)


def _ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The concatenated ``arange(starts[i], ends[i])``."""
    cnt = ends - starts
    cs = np.cumsum(cnt)
    if not len(cs) or cs[-1] == 0:
        return np.empty(0, np.intp)
    return np.arange(cs[-1]) + np.repeat(starts - (cs - cnt), cnt)


class _Raster(FreshLocks):
    """A network's fixed grid for drawing isochrones, for one cell size: its
    origin and size (metric CRS, a margin around the nodes), the cell of every
    node, and per mode the cells of the contracted graph (:class:`_ModeCells`)."""

    _locks = ("_lock",)

    def __init__(self, net: Network, c: float, margin_m: float) -> None:
        self.c = c
        self.x0 = float(net.x.min()) - margin_m
        self.y0 = float(net.y.min()) - margin_m
        self.W = int((float(net.x.max()) + margin_m - self.x0) / c) + 4
        self.H = int((float(net.y.max()) + margin_m - self.y0) / c) + 4
        self.x1 = self.x0 + (self.W - 3) * c
        self.y1 = self.y0 + (self.H - 3) * c
        self.node_flat = (((net.y - self.y0) / c).astype(np.int64) * self.W
                          + ((net.x - self.x0) / c).astype(np.int64))
        self._modes: dict[str, _ModeCells] = {}
        self._lock = threading.Lock()

    def mode_cells(self, net: Network, mode: str) -> _ModeCells:
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

    def __init__(self, ras: _Raster, net: Network, mode: str) -> None:
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


def raster(net: Network, resolution_m: float) -> _Raster | None:
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


def _along(x0: np.ndarray, y0: np.ndarray, dx: np.ndarray, dy: np.ndarray, c: float, ox: float, oy: float, *,
           end: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


class Outline:
    """A traced isochrone: closed rings in metric coordinates (``xy``; ring ``i``
    is ``xy[ring_off[i]:ring_off[i + 1]]``, polygon ``j`` the rings
    ``poly_off[j]:poly_off[j + 1]``, shell first), its area (m²) and the cell size."""

    def __init__(self, xy: np.ndarray, ring_off: np.ndarray, poly_off: np.ndarray, area_m2: float,
                 cell: float) -> None:
        self.xy, self.ring_off, self.poly_off = xy, ring_off, poly_off
        self.area_m2, self.cell = area_m2, cell

    @classmethod
    def trace(cls, cells: np.ndarray, W: int, c: float, ox: float, oy: float, min_hole_m2: float, *,
              max_cells: int = _MAX_CELLS) -> Outline | None:
        """Trace marked cells (flat indices on a grid ``W`` wide whose cell
        ``(i, j)`` has its lower-left corner at ``(ox + j c, oy + i c)``; none
        on the grid's edge).  None when the area would take more than
        ``max_cells`` cells."""
        _, k_trace = kernels()
        xy2, ring_off, poly_off, area, (row, col) = k_trace(cells, W, max_cells, float(min_hole_m2) / (c * c))
        if area < 0 and len(cells):
            return None
        xy = np.empty(xy2.shape)
        xy[:, 0] = xy2[:, 0] * (0.5 * c) + (ox + col * c)
        xy[:, 1] = xy2[:, 1] * (0.5 * c) + (oy + row * c)
        return cls(xy, ring_off, poly_off, max(area, 0.0) * c * c, c)

    def geometry(self, transform: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
                 ) -> shapely.Polygon | shapely.MultiPolygon:
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


def _samples(x0: np.ndarray, y0: np.ndarray, dx: np.ndarray, dy: np.ndarray, full: npt.ArrayLike | None, c: float,
             ox: float, oy: float) -> tuple[np.ndarray, np.ndarray]:
    """Grid coordinates of samples along segments (as :func:`_along`): the end left
    out where ``full`` (a node, drawn anyway)."""
    if full is None:
        gx, gy, _ = _along(x0, y0, dx, dy, c, ox, oy)
        return gx, gy
    full = np.asarray(full, dtype=bool)
    a = _along(x0[full], y0[full], dx[full], dy[full], c, ox, oy, end=False)
    b = _along(x0[~full], y0[~full], dx[~full], dy[~full], c, ox, oy)
    return np.concatenate([a[0], b[0]]), np.concatenate([a[1], b[1]])


def pieces_polygon(x0: npt.ArrayLike, y0: npt.ArrayLike, dx: npt.ArrayLike, dy: npt.ArrayLike,
                   full: npt.ArrayLike | None = None, *, resolution_m: float = RESOLUTION_M,
                   min_hole_m2: float = MIN_HOLE_M2) -> tuple[shapely.Polygon | shapely.MultiPolygon, float]:
    """A polygon (metric coordinates) holding every segment ``(x0, y0) -> (x0 + dx, y0 + dy)``.

    Each segment is sampled every 0.7 cell or closer, both ends included
    (``full`` may mark segments whose end point starts another segment: it
    is not sampled twice).  Every sample marks the four grid nodes of its
    cell and the grid is traced half way between marked and unmarked nodes
    (:func:`stationmap.reach.trace._k_trace`), so each segment lies inside: a
    cell a segment crosses without a sample is a corner clip shorter than 0.7
    cell between two sampled cells, and three of its four nodes are marked.
    Holes smaller than ``min_hole_m2`` are filled.  Returns ``(geometry,
    cell_m)``; ``cell_m`` grows past ``resolution_m`` only for areas beyond 4
    million cells.
    """
    out = pieces_outline(x0, y0, dx, dy, full, resolution_m=resolution_m, min_hole_m2=min_hole_m2)
    return out.geometry(), out.cell


def pieces_outline(x0: npt.ArrayLike, y0: npt.ArrayLike, dx: npt.ArrayLike, dy: npt.ArrayLike,
                   full: npt.ArrayLike | None = None, *, resolution_m: float = RESOLUTION_M,
                   min_hole_m2: float = MIN_HOLE_M2) -> Outline:
    """:func:`pieces_polygon` as an :class:`Outline` (on a grid of its own)."""
    x0, y0, dx, dy = (np.asarray(a, dtype=np.float64) for a in (x0, y0, dx, dy))
    if len(x0) == 0:
        return Outline(np.empty((0, 2)), np.zeros(1, np.int64), np.zeros(1, np.int64), 0.0, resolution_m)
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
    return Outline.trace(cells, W, c, ox, oy, min_hole_m2, max_cells=1 << 62)  # type: ignore[return-value]  # no cell limit: never None
