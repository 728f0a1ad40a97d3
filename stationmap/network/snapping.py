"""Snapping: where a point meets the road (:class:`Snap`), the grid of road segments that
finds the nearest one in compiled code, and the transforms between WGS-84 and the
network's metric CRS (the :class:`Snapping` part of :class:`~stationmap.network.Network`).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

import numpy as np

from stationmap.checks import check_mode, check_point
from stationmap.errors import ValidationError
from stationmap.index import StationIndex
from stationmap.jit import compiled

if TYPE_CHECKING:
    import numpy.typing as npt
    from pyproj import Transformer

    from stationmap.config import Settings


class HasLonLat(Protocol):
    """Anything with WGS-84 ``lon`` and ``lat`` (a Station, for one)."""

    lon: float
    lat: float


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



class Snapping:
    """Snapping points onto the roads and converting coordinates (mixed into
    :class:`~stationmap.network.Network`)."""

    if TYPE_CHECKING:   # what it uses of Network (declared for the type checker only)
        name: str
        settings: Settings
        bounds: tuple[float, float, float, float]
        derived: dict
        x: np.ndarray
        y: np.ndarray
        edge_u: np.ndarray
        edge_v: np.ndarray
        _build_lock: threading.Lock
        _to_xy: Transformer
        _to_lonlat: Transformer
        _lonlat_fit: _LonLatFit | None

        def graph(self, mode: str) -> Any: ...

    def _grid(self, g: Any) -> _SegmentGrid:
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

    def to_xy(self, lon: Any, lat: Any) -> tuple[Any, Any]:
        """WGS-84 lon/lat -> metres in :attr:`crs`."""
        return self._to_xy.transform(lon, lat)

    def to_lonlat(self, x: Any, y: Any) -> tuple[Any, Any]:
        """Metres in :attr:`crs` -> WGS-84 lon/lat."""
        return self._to_lonlat.transform(x, y)

    def to_lonlat_fast(self, x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
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

    def lonlat_points(self, x: npt.ArrayLike, y: npt.ArrayLike) -> np.ndarray:
        """As :meth:`to_lonlat_fast`, for 1-d arrays, as one (n, 2) array."""
        lon, lat = self.to_lonlat_fast(x, y)
        out = np.empty((len(lon), 2))
        out[:, 0] = lon
        out[:, 1] = lat
        return out

    def _snap_xy(self, g: Any, qx: npt.ArrayLike, qy: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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

        Parameters
        ----------
        lon, lat : float
            WGS-84 degrees.
        mode : str
            One of :data:`stationmap.config.MODES`: only roads open to it.
        max_snap_m : float, optional
            The farthest the point may be from the road, metres (default
            ``settings.max_snap_m``).

        Returns
        -------
        Snap
            The edge, the fraction ``t`` along it from its ``u`` end, the distance in
            metres, and the point on the road (WGS-84 and metric).

        Raises
        ------
        ValidationError
            If the point is out of range, the mode unknown, or the point farther than
            ``max_snap_m`` from every road open to ``mode`` (the message names the
            distance and the limit).

        Examples
        --------
        >>> from stationmap.network import Network
        >>> net = Network.from_arrays([120.0, 120.01], [31.0, 31.0], [0], [1])
        >>> sn = net.snap(120.005, 31.0005, mode="walk")
        >>> sn.edge, round(sn.t, 2), round(sn.distance_m)
        (0, 0.5, 55)
        """
        lon, lat = check_point(lon, lat)
        g = self.graph(check_mode(mode))
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

    def snap_stations(self, stations: Iterable[HasLonLat], *, mode: str,
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(edge, t, distance_m) arrays for stations (anything with WGS-84 ``lon``/``lat``).

        Results are cached per mode by the station's coordinates, so an edited
        or moved station is snapped again and an unchanged one never is.
        """
        g = self.graph(check_mode(mode))
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

    def snap_slots(self, index: StationIndex, slots: npt.ArrayLike, *, mode: str,
                   ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(edge, t, distance_m) arrays for the stations in ``slots`` of a StationIndex
        (:meth:`snap_stations` without Station objects: vectorised).

        A slot never changes its station (a write takes a new slot), so each is
        snapped once per index and mode and kept in arrays by slot.
        """
        g = self.graph(check_mode(mode))
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

    def __init__(self, ax: npt.ArrayLike, ay: npt.ArrayLike, bx: npt.ArrayLike, by: npt.ArrayLike) -> None:
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
        pos, ts, ds = self.nearest_many(np.array((qx,)), np.array((qy,)))
        i, t, d = int(pos[0]), float(ts[0]), float(ds[0])
        if i < 0:
            return -1, 0.0, math.inf, float(qx), float(qy)
        ax, ay = float(self.ax[i]), float(self.ay[i])
        return i, t, d, ax + t * (float(self.bx[i]) - ax), ay + t * (float(self.by[i]) - ay)

    def nearest_many(self, qx: npt.ArrayLike, qy: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The segment nearest each point: ``(positions, t, distances)`` arrays (as :meth:`nearest`)."""
        return compiled(_grid_nearest)(self.start, self.items, self.x0, self.y0, self.cell, self.nx, self.ny,
                                       self.ax, self.ay, self.bx, self.by,
                                       np.ascontiguousarray(qx, dtype=np.float64),
                                       np.ascontiguousarray(qy, dtype=np.float64))


def _grid_nearest(start: np.ndarray, items: np.ndarray, x0: float, y0: float, cell: float, nx: int, ny: int,
                  ax: np.ndarray, ay: np.ndarray, bx: np.ndarray, by: np.ndarray, qx: np.ndarray,
                  qy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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

    def __init__(self, x0: float, y0: float, x1: float, y1: float, transformer: Transformer, *,
                 tol_m: float = 1e-3) -> None:
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
            i, j = (a.ravel() for a in np.meshgrid(np.arange(deg + 1), np.arange(deg + 1), indexing="ij"))
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

    def covers(self, x: np.ndarray, y: np.ndarray) -> bool:
        return bool(x.min() >= self.x0 and x.max() <= self.x1 and y.min() >= self.y0 and y.max() <= self.y1)

    def _eval(self, u: np.ndarray, v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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

    def __call__(self, x: npt.ArrayLike, y: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """lon, lat (arrays) for metric x, y (arrays inside the rectangle)."""
        shape = np.shape(x)
        u = (np.ravel(x) - self.cx) * (1.0 / self.hx)
        v = (np.ravel(y) - self.cy) * (1.0 / self.hy)
        lon, lat = self._eval(u, v)
        return lon.reshape(shape), lat.reshape(shape)

