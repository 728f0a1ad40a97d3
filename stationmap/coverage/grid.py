"""Grids over study areas: square cells in a UTM lattice or H3 hexagons
(:func:`make_grid`), their polygons and adjacency, and which cell holds a point
(:func:`locate_cells`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

import numpy as np

from stationmap.coords import utm_crs_for
from stationmap.coverage.areas import Area, geometry_to_metric, to_metric, to_wgs84
from stationmap.coverage.params import DEFAULT_CELL_M, SHAPES, check_cell_m
from stationmap.errors import ValidationError

if TYPE_CHECKING:
    import numpy.typing as npt
    from scipy.sparse import csr_matrix

_MAX_CELLS = 20_000_000


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
    i: np.ndarray = None  # type: ignore[assignment]  # square grids only (None on H3 grids)
    j: np.ndarray = None  # type: ignore[assignment]  # square grids only (None on H3 grids)
    _xyz: np.ndarray | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return int(self.x.size)

    @property
    def cell_id(self) -> np.ndarray:
        if self.ids is None:
            self.ids = np.array([f"{a}_{b}" for a, b in zip(self.i.tolist(), self.j.tolist())], dtype=object)
        return self.ids

    def subset(self, mask: npt.ArrayLike) -> Grid:
        """The cells ``mask`` (booleans or indices) picks."""
        mask = np.asarray(mask)
        pick = lambda a: None if a is None else a[mask]  # noqa: E731
        return replace(self, ids=pick(self.ids), adcode=self.adcode[mask], x=self.x[mask],
                       y=self.y[mask], lon=self.lon[mask], lat=self.lat[mask], area_m2=self.area_m2[mask],
                       i=pick(self.i), j=pick(self.j), _xyz=pick(self._xyz))  # type: ignore[arg-type]

    def xyz(self) -> np.ndarray:
        """ECEF positions of the cell centres, metres, (n, 3) (computed once)."""
        if self._xyz is None:
            from stationmap.index import ecef

            self._xyz = ecef(self.lon, self.lat)
        return self._xyz

    def polygons_metric(self) -> np.ndarray:
        """Cell polygons in ``crs`` (metres), as a shapely array."""
        import shapely

        if self.shape == "square":
            c: float = self.cell_m  # type: ignore[assignment]  # square grids have one
            x0, y0 = self.i * c, self.j * c
            return shapely.box(x0, y0, x0 + c, y0 + c)
        return np.array([geometry_to_metric(p, self.crs) for p in self.polygons_wgs84()], dtype=object)

    def polygons_wgs84(self) -> np.ndarray:
        """Cell polygons in WGS-84 lon/lat, as a shapely array."""
        import shapely

        if len(self) == 0:
            return np.empty(0, dtype=object)
        if self.shape == "square":
            c: float = self.cell_m  # type: ignore[assignment]  # square grids have one
            x0, y0 = self.i * c, self.j * c
            xs = np.stack([x0, x0 + c, x0 + c, x0, x0], axis=1)
            ys = np.stack([y0, y0, y0 + c, y0 + c, y0], axis=1)
            lon, lat = to_wgs84(xs.ravel(), ys.ravel(), self.crs)
            coords = np.stack([lon.reshape(xs.shape), lat.reshape(xs.shape)], axis=2)
            return shapely.polygons(coords)  # type: ignore[return-value]  # an array, for an array
        import h3

        out = []
        for h in self.cell_id:
            ring = [(lng, lat) for lat, lng in h3.cell_to_boundary(h)]
            out.append(shapely.Polygon(ring))
        return np.array(out, dtype=object)

    def adjacency(self) -> csr_matrix:
        """Sparse symmetric (n, n) adjacency: squares sharing an edge, hexagons sharing a side."""
        from scipy.sparse import coo_matrix

        n = len(self)
        rows: list[np.ndarray] = []
        cols: list[np.ndarray] = []
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
            r_: list[int] = []
            c_: list[int] = []
            for k, h in enumerate(self.cell_id.tolist()):
                for nb in h3.grid_ring(h, 1):
                    m = where.get(nb)
                    if m is not None and m > k:
                        r_.append(k)
                        c_.append(m)
            rows.append(np.asarray(r_, dtype=np.int64))
            cols.append(np.asarray(c_, dtype=np.int64))
        r = np.concatenate(rows) if rows else np.empty(0, np.int64)
        c = np.concatenate(cols) if cols else np.empty(0, np.int64)
        data = np.ones(2 * r.size, dtype=np.int8)
        return coo_matrix((data, (np.concatenate([r, c]), np.concatenate([c, r]))), shape=(n, n)).tocsr()


def h3_resolution_for(cell_m: float) -> int:
    """The H3 resolution whose mean hexagon area is nearest (in ratio) to a ``cell_m`` square."""
    import h3

    target = math.log(float(cell_m) ** 2)
    return min(range(16), key=lambda r: abs(math.log(h3.average_hexagon_area(r, unit="m^2")) - target))


def make_grid(areas: Area | Sequence[Area], *, cell_m: float = DEFAULT_CELL_M, shape: str = "square",
              h3_resolution: int | None = None,
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
            I, J = (g.ravel() for g in np.meshgrid(ci, cj, indexing="xy"))
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


def crs_for(areas: Iterable[Area]) -> str:
    """The UTM zone (WGS-84) of the centre of ``areas``' combined bounds."""
    b = np.array([a.geometry.bounds for a in areas])
    if not len(b):
        raise ValidationError("no area to cover", field="area")
    return utm_crs_for((b[:, 0].min() + b[:, 2].max()) / 2.0, (b[:, 1].min() + b[:, 3].max()) / 2.0)


def _h3_grid(areas: Sequence[Area], *, cell_m: float, resolution: int | None, crs: str) -> Grid:
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


def locate_cells(grid: Grid, *, lon: npt.ArrayLike | None = None, lat: npt.ArrayLike | None = None,
                 x: npt.ArrayLike | None = None, y: npt.ArrayLike | None = None) -> np.ndarray:
    """Index of the cell holding each point (WGS-84 ``lon, lat`` or grid-CRS
    ``x, y``), -1 where no cell of the grid holds it."""
    if x is None:
        x, y = to_metric(lon, lat, grid.crs)
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if len(grid) == 0 or x.size == 0:
        return np.full(x.size, -1, dtype=np.int64)
    if grid.shape == "square":
        c: float = grid.cell_m  # type: ignore[assignment]  # square grids have one
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
