"""The analysis: :func:`analyse` runs a coverage (areas, grid, minutes per kind, demand)
and returns a :class:`Coverage`, whose figures, gaps, minute bands and cells feed the
tables, maps and :mod:`stationmap.siting`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np

from stationmap import config as _config
from stationmap.checks import check_method
from stationmap.config import DEFAULT_MODE
from stationmap.coverage.areas import (
    default_network,
    default_network_for,
    geometry_to_wgs84,
    points_in,
    resolve_areas,
)
from stationmap.coverage.assumptions import assumptions
from stationmap.coverage.demand import (
    PopulationRaster,
    demand_from_frame,
    demand_from_raster,
    road_length_per_cell,
    spread_population,
)
from stationmap.coverage.grid import Grid, make_grid
from stationmap.coverage.minutes import CellNetworks, StationArrays, cell_networks, kind_minutes
from stationmap.coverage.params import (
    DEFAULT_CELL_M,
    DEMAND_PROXIES,
    MINUTE_BANDS,
    check_kind_list,
    check_minutes,
    check_mode,
    horizon_for,
)
from stationmap.errors import NotFoundError, ValidationError
from stationmap.hours import rfc3339, to_shanghai
from stationmap.model import check_kinds, check_services
from stationmap.network import load_networks

if TYPE_CHECKING:
    import geopandas as gpd
    import numpy.typing as npt
    import pandas as pd
    from shapely.geometry.base import BaseGeometry

    from stationmap.config import Settings
    from stationmap.coverage.areas import Area, AreaSpec
    from stationmap.districts import Districts
    from stationmap.index import StationIndex
    from stationmap.model import Station
    from stationmap.network import Network


@dataclass
class Coverage:
    """A coverage run: the grid, per-kind minutes and counts, demand, areas.

    ``minutes[kind]``: minutes to the nearest station of that kind (``inf``
    beyond ``horizon_minutes``); ``count[kind]``: stations of that kind
    within ``threshold`` minutes (>= 1 covered, >= 2 cross-covered).
    """

    grid: Grid
    areas: list[Area]
    kinds: tuple[str, ...]
    mode: str
    threshold: float
    horizon_minutes: float
    method: str
    minutes: dict[str, np.ndarray]
    count: dict[str, np.ndarray]
    demand: np.ndarray
    demand_source: str
    stations: StationArrays
    #: adcode and name of the city or province analysed as a whole (its counties are ``areas``)
    parent: dict[str, str] | None = None
    notes: list[str] = field(default_factory=list)
    #: the road network of a network-method run (not serialised)
    network: Network | None = field(default=None, repr=False)
    #: the moment of a run "at a moment" (aware, Asia/Shanghai): only the stations open then
    #: count; None: every station but the closed ones, whatever their hours
    at: datetime | None = None
    #: the services a station must offer to count (at ``at``: while available)
    services: tuple[str, ...] = ()
    #: the settings of the run (speeds, detour factor), for what is computed from it later
    settings: Settings | None = field(default=None, repr=False)
    #: how the demand was made: ``source`` (census, raster, layer, cells) and ``spread``
    #: (:data:`stationmap.coverage.assumptions.DEMAND_SPREADS`), with the file and its details
    demand_info: dict[str, Any] = field(default_factory=dict)
    #: the cells' road networks of a ``"mixed"`` run (each cell by the network holding it, the
    #: circle elsewhere); None for a circle or network run (not serialised)
    cell_networks: CellNetworks | None = field(default=None, repr=False)

    @property
    def networks(self) -> tuple[Network, ...]:
        """The road networks the run used: its network, the networks of a mixed run's cells, or none."""
        if self.cell_networks is not None:
            return self.cell_networks.networks
        return () if self.network is None else (self.network,)

    def network_parts(self) -> list[dict[str, Any]]:
        """Each road network the run used, JSON-ready: name, source, data date, licence, whether it
        keeps to one-way streets and (a mixed run) how many cells it covers."""
        out = []
        for i, net in enumerate(self.networks):
            cells = (int((self.cell_networks.index == i).sum()) if self.cell_networks is not None
                     else len(self.grid))
            out.append({"name": net.name, "source": net.source or None, "date": net.date or None,
                        "licence": net.licence or None, "oneway_respected": net.oneway_known, "cells": cells})
        return out

    @property
    def sample(self) -> bool:
        """True when any station counted is SAMPLE data (generated, not real)."""
        return bool(self.stations.sample.any()) if len(self.stations) else False

    def params(self) -> dict[str, Any]:
        """The run's parameters (mode, minutes, method, kinds, grid, demand source...), JSON-ready."""
        return {"mode": self.mode, "minutes": self.threshold, "horizon_minutes": self.horizon_minutes,
                "method": self.method, "kinds": list(self.kinds), "shape": self.grid.shape,
                "cell_m": self.grid.cell_m, "h3_resolution": self.grid.resolution, "crs": self.grid.crs,
                "demand": self.demand_source, "sample": self.sample, "cells": len(self.grid),
                "at": rfc3339(self.at), "services": list(self.services),
                "oneway_respected": self.oneway_respected,
                "network_licence": "; ".join(dict.fromkeys(n.licence for n in self.networks if n.licence)) or None,
                **({"networks": self.network_parts(),
                    "circle_cells": int((self.cell_networks.index < 0).sum())}
                   if self.cell_networks is not None else {})}

    @property
    def oneway_respected(self) -> bool | None:
        """The road network(s) of the run keep to one-way streets (False: a source had no one-way
        data and its minutes are optimistic); None for the circle method."""
        nets = self.networks
        return None if not nets else all(n.oneway_known for n in nets)

    # -- tables ---------------------------------------------------------------------
    @overload
    def cells(self, *, geometry: Literal[False] = False) -> pd.DataFrame: ...
    @overload
    def cells(self, *, geometry: Literal[True]) -> gpd.GeoDataFrame: ...
    @overload
    def cells(self, *, geometry: bool) -> pd.DataFrame: ...

    def cells(self, *, geometry: bool = False) -> pd.DataFrame:
        """One row per cell: ids, centre (WGS-84), area, demand, (a mixed run) the cell's
        ``method`` (``network`` or ``circle``) and ``network`` (its name, "" on the circle), and per
        kind ``minutes_<kind>``, ``count_<kind>``.  A GeoDataFrame (WGS-84 cell
        polygons) when ``geometry``, else a DataFrame."""
        import pandas as pd

        g = self.grid
        cols = {"cell_id": g.cell_id, "adcode": g.adcode, "lon": g.lon, "lat": g.lat,
                "area_m2": g.area_m2, "demand": self.demand}
        if self.cell_networks is not None:
            cols["method"] = self.cell_networks.method_of_cells()
            cols["network"] = self.cell_networks.network_of_cells()
        for k in self.kinds:
            cols[f"minutes_{k}"] = self.minutes[k]
            cols[f"count_{k}"] = self.count[k]
        df = pd.DataFrame(cols)
        if not geometry:
            return df
        import geopandas as gpd

        return gpd.GeoDataFrame(df, geometry=g.polygons_wgs84(), crs="EPSG:4326")

    def stats(self, *, total: bool = True) -> pd.DataFrame:
        """Figures per district and kind (a DataFrame).

        Columns: adcode, name, kind, stations (of that kind inside the
        district), cells, area_km2, population, demand, area_covered,
        area_cross_covered, demand_covered, demand_cross_covered (shares in
        [0, 1]), uncovered_demand, median_minutes, p95_minutes (over area),
        median_minutes_demand, p95_minutes_demand (over demand).  With
        ``total`` and several districts, a row per kind for all of them.
        """
        import pandas as pd

        rows: list[dict[str, Any]] = []
        groups = self.groups(total=total)
        st = self.stations
        inside = self.inside(st.lon, st.lat, groups)
        for code, name, pop, m in groups:
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

    def groups(self, *, total: bool = True) -> list[tuple[str, str, float | None, np.ndarray]]:
        """The rows of the figures: ``(adcode, name, population, which cells)`` per district,
        then (with ``total`` and several districts) the whole (the parent city's adcode and
        name, else ``"all"``; its population None when any district's is unknown)."""
        groups: list[tuple[str, str, float | None, np.ndarray]] = [
            (a.adcode, a.name, a.population, self.grid.adcode == a.adcode) for a in self.areas]
        if total and len(self.areas) > 1:
            p = self.parent or {}
            pops = [a.population for a in self.areas if a.population is not None]
            pop = float(sum(pops)) if len(pops) == len(self.areas) else None  # None: some unknown
            groups.append((p.get("adcode", "all"), p.get("name", "all"), pop, np.ones(len(self.grid), bool)))
        return groups

    def inside(self, lon: np.ndarray, lat: np.ndarray,
               groups: Sequence[tuple[str, str, float | None, np.ndarray]]) -> dict[str, np.ndarray]:
        """For each of ``groups`` (:meth:`groups`), which of the points (WGS-84) are inside it:
        a district's polygon; the whole: any district's."""
        by_code = {a.adcode: a for a in self.areas}
        out: dict[str, np.ndarray] = {}
        for code, *_rest in groups:
            if code in by_code:
                out[code] = points_in(by_code[code].geometry, lon, lat)
        for code, *_rest in groups:
            if code not in by_code:
                every = np.zeros(len(lon), bool)
                for a in self.areas:
                    every |= out[a.adcode] if a.adcode in out else points_in(a.geometry, lon, lat)
                out[code] = every
        return out

    @overload
    def gaps(self, *, kind: str | None = None, geometry: Literal[False] = False,
             min_cells: int = 1) -> pd.DataFrame: ...
    @overload
    def gaps(self, *, kind: str | None = None, geometry: Literal[True], min_cells: int = 1) -> gpd.GeoDataFrame: ...
    @overload
    def gaps(self, *, kind: str | None = None, geometry: bool, min_cells: int = 1) -> pd.DataFrame: ...

    def gaps(self, *, kind: str | None = None, geometry: bool = False, min_cells: int = 1) -> pd.DataFrame:
        """Connected uncovered areas for ``kind`` (default: the first kind), ranked
        by uncovered demand, then area.

        A gap stops at a district boundary: uncovered cells on both sides of
        one are two gaps, each in its own district with its own area and demand.

        Columns: rank, kind, cells, area_km2, demand, adcode (the district
        holding the gap), lon, lat (WGS-84 centre: the gap's cell
        nearest its area centroid, so it lies in the gap), max_minutes.
        With ``geometry``, a GeoDataFrame of the dissolved gap polygons.
        """
        import pandas as pd
        from scipy.sparse import coo_matrix
        from scipy.sparse.csgraph import connected_components

        kind = self.resolve_kind(kind)
        unc = np.nonzero(self.count[kind] == 0)[0]
        cols = ["rank", "kind", "cells", "area_km2", "demand", "adcode", "lon", "lat", "max_minutes"]
        if not unc.size:
            df = pd.DataFrame(columns=cols)
            return _maybe_geo(df, [] if geometry else None)
        sub = self.grid.subset(unc)
        # a gap stops at a district boundary: neighbours in different districts are not joined
        adj = sub.adjacency().tocoo()
        same = sub.adcode[adj.row] == sub.adcode[adj.col]
        adj = coo_matrix((adj.data[same], (adj.row[same], adj.col[same])), shape=adj.shape)
        ncomp, label = connected_components(adj.tocsr(), directed=False)
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
        df = pd.DataFrame({"kind": kind, "cells": n_cells, "area_km2": a_sum / 1e6, "demand": d_sum,
                           "adcode": sub.adcode[first], "lon": sub.lon[first], "lat": sub.lat[first],
                           "max_minutes": max_min})
        df["_label"] = np.arange(ncomp)
        df = df[df.cells >= int(min_cells)]
        df = df.sort_values(["demand", "area_km2", "lat", "lon"], ascending=[False, False, True, True],
                            kind="mergesort").reset_index(drop=True)
        df.insert(0, "rank", np.arange(1, len(df) + 1))
        geoms = None
        if geometry:
            geoms = dissolve_groups(sub, label, df["_label"].to_numpy())
        df = df.drop(columns="_label")
        return _maybe_geo(df, geoms)

    def bands(self, *, kind: str | None = None, bands: Iterable[float] = MINUTE_BANDS) -> gpd.GeoDataFrame:
        """Cells dissolved by minute band for maps: a GeoDataFrame (WGS-84) with
        lo, hi (minutes; hi inf for the last band), area_km2, demand."""
        import geopandas as gpd

        kind = self.resolve_kind(kind)
        edges = [0.0, *[float(b) for b in bands], np.inf]
        mins = self.minutes[kind]
        band = np.searchsorted(np.asarray(edges[1:-1]), mins, side="left")
        rows: list[dict[str, float]] = []
        geoms: list[BaseGeometry] = []
        labels = np.unique(band)
        polys = dissolve_groups(self.grid, band, labels)
        for lab, g in zip(labels.tolist(), polys):
            m = band == lab
            rows.append({"lo": edges[lab], "hi": edges[lab + 1], "cells": int(m.sum()),
                         "area_km2": float(self.grid.area_m2[m].sum() / 1e6),
                         "demand": float(self.demand[m].sum())})
            geoms.append(g)
        return gpd.GeoDataFrame(rows, geometry=geoms, crs="EPSG:4326")

    def cross_covered_area(self, *, kind: str | None = None) -> BaseGeometry | None:
        """The dissolved cross-covered (>= 2 stations in reach) area, WGS-84."""
        kind = self.resolve_kind(kind)
        m = self.count[kind] >= 2
        if not m.any():
            return None
        return dissolve_groups(self.grid, m.astype(np.int64), np.array([1]))[0]

    def resolve_kind(self, kind: str | None) -> str:
        """The kind ``kind`` names (canonical; default: the run's first kind); ValidationError
        (field ``kind``) when the run did not analyse it."""
        if kind is None:
            return self.kinds[0]
        kind = check_kinds([kind])[0]
        if kind not in self.kinds:
            raise ValidationError(f"kind must be one of {self.kinds}, got {kind!r}", field="kind")
        return kind

    def assumptions(self, *, profile: str | None = None) -> dict[str, Any]:
        """What the run assumed, as data and as words in each language
        (:func:`stationmap.coverage.assumptions.assumptions`)."""
        return assumptions(self, profile=profile)

    def to_dict(self, *, cells: bool = False, profile: str | None = None) -> dict[str, Any]:
        """JSON-ready figures (non-finite numbers as None) and the run's assumptions (with its
        time ``profile`` when one was asked for); the cells as a GeoJSON FeatureCollection
        (WGS-84) when ``cells``."""
        import json

        out = {"params": self.params(), "assumptions": self.assumptions(profile=profile), "datum": "wgs84",
               "districts": [{"adcode": a.adcode, "name": a.name, "level": a.level,
                              "population": a.population, "note": a.note or None} for a in self.areas],
               "stats": records(self.stats()), "notes": list(self.notes)}
        if cells:
            gdf = self.cells(geometry=True)
            for k in self.kinds:
                col = f"minutes_{k}"
                gdf[col] = gdf[col].astype(object).where(np.isfinite(gdf[col].to_numpy(float)), None)
            out["cells"] = json.loads(gdf.to_json(na="null", drop_id=True))
        return out


def records(df: pd.DataFrame) -> list[dict[Hashable, Any]]:
    """A DataFrame's rows as JSON-ready dicts: numpy scalars as Python numbers, non-finite
    floats as None."""
    return [{k: (None if isinstance(v, float) and not math.isfinite(v) else
                 (v.item() if hasattr(v, "item") else v)) for k, v in r.items()}
            for r in df.to_dict(orient="records")]


def _maybe_geo(df: pd.DataFrame, geoms: Iterable[BaseGeometry] | None) -> pd.DataFrame:
    if geoms is None:
        return df
    import geopandas as gpd

    return gpd.GeoDataFrame(df, geometry=list(geoms), crs="EPSG:4326")


def dissolve_groups(grid: Grid, label: np.ndarray, wanted: npt.ArrayLike) -> list[BaseGeometry]:
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


def _share(part: float, whole: float) -> float:
    return float(part) / float(whole) if whole > 0 else float("nan")


def _percentiles(values: np.ndarray, weights: npt.ArrayLike, order: np.ndarray,
                 qs: Iterable[float]) -> tuple[float, ...]:
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


def weighted_percentile(values: npt.ArrayLike, weights: npt.ArrayLike, q: float) -> float:
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


def analyse(area: AreaSpec, stations: Iterable[Station] | StationIndex | StationArrays, *,
            kinds: str | Sequence[str] | None = None, mode: str = DEFAULT_MODE, minutes: float | None = None,
            method: str = "auto", network: Network | None = None, cell_m: float = DEFAULT_CELL_M,
            shape: str = "square", h3_resolution: int | None = None, crs: str | None = None,
            horizon_minutes: float | None = None, demand: Any = None, demand_column: str = "weight",
            demand_proxy: str = "auto", districts: Districts | None = None, settings: Settings | None = None,
            grid: Grid | None = None, max_cells: int | None = None, at: datetime | None = None,
            services: Sequence[str] = (), progress: Callable[[str], object] | None = None) -> Coverage:
    """Coverage of ``area`` by ``stations``.

    Parameters
    ----------
    area : adcode, Area, shapely polygon (WGS-84) or a list of them
        See :func:`resolve_areas`.  A city gives one row per county in
        :meth:`Coverage.stats` and one for the whole city.
    stations : iterable of Station, StationIndex or StationArrays
        Closed stations are left out.  Stations outside the area count too
        (a worker may cross a border); pass them all.  Which ones count is
        :func:`stationmap.coverage.minutes.counted_stations`'s choice.
    kinds : list of str, optional
        Station kinds to analyse (default: every kind).
    mode : str
        One of :data:`stationmap.config.MODES`; speed from ``settings``.
    minutes : float, optional
        The threshold (default ``Settings.minutes``, 15).
    method : {"auto", "circle", "network"}
        ``"auto"``: the network when ``network`` is given (or the area is a
        zone that only a network delimits, or a county with a network fetched
        for it); else, when some configured or registered network holds some of
        the cells (:func:`~stationmap.coverage.minutes.cell_networks`), a
        ``"mixed"`` run: those cells by their network, the others by circles
        (``Coverage.method`` is then ``"mixed"`` and ``Coverage.cell_networks``
        says which cell used what); else circles.
    cell_m, shape, h3_resolution, crs
        The grid (:func:`make_grid`).
    horizon_minutes : float, optional
        Minutes are reported up to this (default ``4 * minutes``).
    demand : GeoDataFrame, PopulationRaster or array, optional
        A demand layer (points or polygons with ``demand_column``), a population
        raster (:class:`~stationmap.coverage.demand.PopulationRaster`: each pixel
        shared among the cells it overlaps by area) or an array with one value per
        cell; default the census population spread
        by ``demand_proxy``: ``"roads"`` (road length per cell, needs a
        network), ``"uniform"`` (cell area) or ``"auto"`` (roads when a
        network is used, else uniform).
    network : Network, optional
        The road network of the network method.
    districts : Districts, optional
        Default :func:`stationmap.districts.load_districts`.
    settings : Settings, optional
        Speeds, detour factor, threshold (default :func:`stationmap.config.load`).
    grid : Grid, optional
        Use this grid rather than make one (a partitioned run shares one).
    max_cells : int, optional
        Refuse (ValidationError on ``cell``) a grid of more cells than this.
    at : datetime, optional
        Coverage at this moment (naive: Asia/Shanghai time): only the stations open
        then count (status, reopening date, opening hours: :mod:`stationmap.hours`),
        for every figure, gap and band.  Default: every station but the closed ones,
        whatever their hours.  ``stations`` must then be Station objects (or an index).
    services : list of str, optional
        Only the stations offering all of these services count (at ``at``: only while
        each service with its own hours is available).
    progress : callable, optional
        Called with a short label as each step starts (the CLI's progress bar).

    Returns
    -------
    Coverage
        The grid, minutes to the nearest station and stations within ``minutes``
        per kind and cell, demand; tables from :meth:`Coverage.stats`,
        :meth:`Coverage.gaps`, :meth:`Coverage.bands`.

    Raises
    ------
    ValidationError
        For an argument out of range (the field named), or a grid too large.
    NotFoundError
        For an unknown adcode, or a zone no polygon or network delimits.

    Examples
    --------
    >>> from stationmap.model import Station
    >>> cov = analyse("320402", [Station(id="a", name="A", lon=119.98, lat=31.78)], minutes=10)  # doctest: +SKIP
    >>> cov.stats()[["adcode", "covered_share"]]  # doctest: +SKIP
    """
    settings = settings or _config.load()
    minutes = check_minutes(settings.minutes if minutes is None else minutes)
    mode = check_mode(mode)
    kinds = check_kind_list(kinds)
    check_method(method)
    if demand_proxy not in DEMAND_PROXIES:
        raise ValidationError(f"demand_proxy must be one of {DEMAND_PROXIES}, got {demand_proxy!r}",
                              field="demand_proxy")
    horizon = horizon_for(minutes, horizon_minutes)
    step = progress or (lambda label: None)

    step("districts")
    parent: dict[str, str] | None = None
    if isinstance(area, (str, int, np.integer)) and not isinstance(area, bool):
        if districts is None:
            from stationmap.districts import load_districts

            districts = load_districts(settings)
        d = districts.get(area)
        if d.level in ("city", "province"):
            parent = {"adcode": d.adcode, "name": d.name}
        if network is None and method != "circle":     # a zone's network, or one fetched for the district
            network = default_network_for(d, settings=settings, districts=districts)
    areas = resolve_areas(area, districts=districts, network=network, settings=settings)
    mixed_auto = method == "auto" and network is None
    if method == "auto":
        method = "network" if network is not None else "circle"
    if method == "network" and network is None:
        network = default_network(settings)
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
    parts: CellNetworks | None = None
    if mixed_auto:      # each cell by the network that holds it, circles elsewhere (issue 21)
        nets = load_networks(settings, skip_missing=True)
        parts = cell_networks([nets[k] for k in sorted(nets)], grid.lon, grid.lat, mode=mode) if nets else None
        if parts is not None:
            method = "mixed"
            notes.append("mixed methods: the cells a road network holds by its roads ("
                         + ", ".join(f"{p['name']}: {p['cells']:,} cells" for p in _parts_summary(parts))
                         + f"), the other {int((parts.index < 0).sum()):,} by straight line x detour factor")
    at = None if at is None else to_shanghai(at)
    services = check_services(services, field="service") if services else ()
    st = StationArrays.from_stations(stations, at=at, services=services)

    mins: dict[str, np.ndarray] = {}
    cnts: dict[str, np.ndarray] = {}
    for k in kinds:
        step(f"minutes: {k}")
        sel = st.of_kind(k) if len(st) else np.zeros(0, bool)
        mins[k], cnts[k] = kind_minutes(method, network, grid.lon, grid.lat, st.lon[sel], st.lat[sel], mode=mode,
                                        minutes=minutes, horizon=horizon, settings=settings, cell_xyz=grid.xyz(),
                                        parts=parts)

    step("demand")
    info: dict[str, Any]
    if demand is None:
        proxy = demand_proxy
        if proxy == "auto":
            proxy = "roads" if (network is not None and method == "network") else "uniform"
        if proxy == "roads":
            if network is None:
                raise ValidationError("demand_proxy 'roads' needs a road network", field="demand_proxy")
            dem = spread_population(grid, areas, weights=road_length_per_cell(grid, network))
            source = "census 2020 population spread over cells by road length"
            info = {"source": "census 2020", "spread": "roads"}
        else:
            dem = spread_population(grid, areas)
            source = "census 2020 population spread uniformly over cell area"
            info = {"source": "census 2020", "spread": "area"}
        if any(a.population is None for a in areas):
            source += " (relative demand where the population is unknown)"
            info["relative"] = True
    elif isinstance(demand, PopulationRaster):
        dem = demand_from_raster(grid, demand)
        source = f"population raster {demand.name} ({demand.crs_name}, {demand.resolution_text})"
        info = {"source": "raster", "spread": "pixel_area", "file": demand.name, "crs": demand.crs_name,
                "resolution": demand.resolution_text}
    elif isinstance(demand, (np.ndarray, list, tuple)):
        dem = np.asarray(demand, dtype=float)
        if dem.shape != (len(grid),):
            raise ValidationError(f"demand must have one value per cell ({len(grid)}), got shape {dem.shape}",
                                  field="demand")
        source = "supplied per cell"
        info = {"source": "cells", "spread": "cells"}
    else:
        dem = demand_from_frame(grid, demand, column=demand_column)
        source = f"supplied layer ({len(demand)} features, column {demand_column!r})"
        points = set(demand.geometry.geom_type) <= {"Point"}
        info = {"source": "layer", "spread": "points" if points else "polygons", "features": len(demand),
                "column": demand_column}
    return Coverage(grid=grid, areas=areas, kinds=kinds, mode=mode, threshold=minutes, horizon_minutes=horizon,
                    method=method, minutes=mins, count=cnts, demand=dem, demand_source=source, stations=st,
                    parent=parent, notes=notes, network=network if method == "network" else None, at=at,
                    services=services, settings=settings, demand_info=info, cell_networks=parts)


def _parts_summary(parts: CellNetworks) -> list[dict[str, Any]]:
    return [{"name": n.name, "cells": int((parts.index == i).sum())} for i, n in enumerate(parts.networks)]
