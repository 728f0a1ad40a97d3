"""Minutes from each cell to the nearest station and the stations in reach, by the
two methods: ``"circle"`` (straight line x detour factor, :func:`circle_minutes`) and
``"network"`` (road travel time, :func:`network_minutes` over
:mod:`stationmap.network.matrix`), or both in one run (``"mixed"``: each cell by the road
network that holds it, the circle elsewhere, :class:`CellNetworks`); and stations as
arrays (:class:`StationArrays`).

Which stations count in a run is decided here, in :func:`counted_stations`, and
nowhere else: every station but the closed ones, or, at a moment (``at``), those
open then; with services, those offering them (and, at a moment, while each is
available).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal, overload

import numpy as np

from stationmap import config as _config
from stationmap.config import DEFAULT_MODE
from stationmap.coverage.params import check_minutes, check_mode, horizon_for, reach_m, speed_m_per_min
from stationmap.errors import ValidationError
from stationmap.hours import open_checker
from stationmap.model import KINDS, Station, check_services
from stationmap.network.matrix import cell_minutes, reach_matrix, snap_points
from stationmap.network.matrix import reach_pairs as network_pairs

if TYPE_CHECKING:
    import numpy.typing as npt
    from scipy.sparse import csr_matrix

    from stationmap.config import Settings
    from stationmap.coverage.analysis import Coverage
    from stationmap.index import StationIndex
    from stationmap.network import Network


@dataclass
class StationArrays:
    """Stations as numpy arrays (what partitions ship to workers).  WGS-84."""

    id: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    kinds: np.ndarray  # bit mask over KINDS
    sample: np.ndarray
    name: np.ndarray | None = None
    #: people served at once (:attr:`stationmap.model.Station.capacity`), NaN where not known
    capacity: np.ndarray | None = None

    @classmethod
    def from_stations(cls, stations: Iterable[Station] | StationIndex | StationArrays, *,
                      include_closed: bool = False, at: datetime | None = None,
                      services: Iterable[str] = ()) -> StationArrays:
        """The stations that count (:func:`counted_stations`) as arrays; StationArrays come
        back as they are (they keep no hours or services: ``at`` and ``services`` need stations)."""
        if isinstance(stations, StationArrays):
            if at is not None or tuple(services):
                raise TypeError("at and services choose among Station objects; StationArrays keep no hours")
            return stations
        st = counted_stations(stations, include_closed=include_closed, at=at, services=services)
        bits = {k: 1 << i for i, k in enumerate(KINDS)}
        return cls(
            id=np.array([s.id for s in st], dtype=object),
            lon=np.array([s.lon for s in st], dtype=float),
            lat=np.array([s.lat for s in st], dtype=float),
            kinds=np.array([sum(bits.get(k, 0) for k in s.kinds) for s in st], dtype=np.int64),
            sample=np.array([s.is_sample for s in st], dtype=bool),
            name=np.array([s.name for s in st], dtype=object),
            capacity=np.array([np.nan if s.capacity is None else s.capacity for s in st], dtype=float),
        )

    def __len__(self) -> int:
        return int(self.lon.size)

    def of_kind(self, kind: str) -> np.ndarray:
        """Booleans: which stations are of ``kind``."""
        return (self.kinds & (1 << tuple(KINDS).index(kind))) != 0

    def subset(self, mask: np.ndarray) -> StationArrays:
        """The stations ``mask`` (booleans or indices) picks."""
        return StationArrays(self.id[mask], self.lon[mask], self.lat[mask], self.kinds[mask], self.sample[mask],
                             None if self.name is None else self.name[mask],
                             None if self.capacity is None else self.capacity[mask])


def counted_stations(stations: Iterable[Station] | StationIndex, *, include_closed: bool = False,
                     at: datetime | None = None, services: Iterable[str] = ()) -> list[Station]:
    """The stations that count in a coverage run, in their order.

    * Without ``at``: every station but the closed ones (every one with ``include_closed``),
      whatever their hours: coverage "at any time".
    * With ``at`` (naive: Asia/Shanghai): only the stations open at that moment
      (:func:`stationmap.hours.open_checker`: status and reopening date, opening hours).
    * With ``services``: only the stations offering all of them; with ``at`` too, only
      while each service that keeps its own hours is available
      (:func:`stationmap.hours.open_at` with ``services``).
    """
    if hasattr(stations, "stations") and callable(stations.stations):
        stations = stations.stations()
    wanted = check_services(services, field="service") if services else ()
    st = [s for s in stations  # type: ignore[union-attr]  # an index was replaced by its stations above
          if (include_closed or s.status != "closed") and all(w in s.services for w in wanted)]
    if at is not None:
        is_open = open_checker(at, wanted)
        st = [s for s in st if is_open(s)]
    return st


def circle_minutes(cell_lon: npt.ArrayLike, cell_lat: npt.ArrayLike, station_lon: np.ndarray,
                   station_lat: np.ndarray, *, mode: str = DEFAULT_MODE, minutes: float = _config.DEFAULT_MINUTES,
                   horizon_minutes: float | None = None, settings: Settings | None = None,
                   detour: float | None = None, cell_xyz: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Circle method: minutes to the nearest station and stations within ``minutes``.

    All coordinates WGS-84.  Time = straight-line distance x detour factor /
    mode speed.  Returns ``(minutes_to_nearest, count)``; minutes beyond
    ``horizon_minutes`` (default ``4 * minutes``) are ``inf``.
    """
    from scipy.spatial import cKDTree

    from stationmap.index import ecef

    settings = settings or _config.load()
    minutes = check_minutes(minutes)
    horizon = horizon_for(minutes, horizon_minutes)
    detour = settings.detour_factor if detour is None else float(detour)
    speed = speed_m_per_min(mode, settings)
    cells = ecef(cell_lon, cell_lat) if cell_xyz is None else cell_xyz
    n = cells.shape[0]
    out_min = np.full(n, np.inf)
    count = np.zeros(n, dtype=np.int32)
    if n == 0 or len(station_lon) == 0:
        return out_min, count
    tree = cKDTree(ecef(station_lon, station_lat))
    horizon_m = horizon * speed / detour
    d, _ = tree.query(cells, k=1, distance_upper_bound=horizon_m * (1 + 1e-9) + 1e-6)
    m = np.asarray(d * detour / speed)
    m[m > horizon] = np.inf
    out_min[:] = m
    radius = minutes * speed / detour
    count[:] = tree.query_ball_point(cells, r=radius, return_length=True)
    return out_min, count


@overload
def network_minutes(network: Network, cell_lon: npt.ArrayLike, cell_lat: npt.ArrayLike, station_lon: npt.ArrayLike,
                    station_lat: npt.ArrayLike, *, mode: str = ..., minutes: float = ...,
                    horizon_minutes: float | None = ..., max_snap_m: float | None = ...,
                    count: Literal[True] = ...) -> tuple[np.ndarray, np.ndarray]: ...
@overload
def network_minutes(network: Network, cell_lon: npt.ArrayLike, cell_lat: npt.ArrayLike, station_lon: npt.ArrayLike,
                    station_lat: npt.ArrayLike, *, mode: str = ..., minutes: float = ...,
                    horizon_minutes: float | None = ..., max_snap_m: float | None = ...,
                    count: bool) -> tuple[np.ndarray, np.ndarray | None]: ...


def network_minutes(network: Network, cell_lon: npt.ArrayLike, cell_lat: npt.ArrayLike, station_lon: npt.ArrayLike,
                    station_lat: npt.ArrayLike, *, mode: str = DEFAULT_MODE, minutes: float = _config.DEFAULT_MINUTES,
                    horizon_minutes: float | None = None, max_snap_m: float | None = None,
                    count: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
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
    mode = check_mode(mode)
    minutes = check_minutes(minutes)
    return cell_minutes(network, cell_lon, cell_lat, station_lon, station_lat, mode=mode, minutes=minutes,
                        horizon_minutes=horizon_for(minutes, horizon_minutes), max_snap_m=max_snap_m, count=count)


def network_reach(network: Network, cell_lon: npt.ArrayLike, cell_lat: npt.ArrayLike, site_lon: npt.ArrayLike,
                  site_lat: npt.ArrayLike, *, mode: str = DEFAULT_MODE, minutes: float = _config.DEFAULT_MINUTES,
                  max_snap_m: float | None = None) -> csr_matrix:
    """Sparse boolean (sites, cells) matrix: which cells (WGS-84 centres) reach
    which sites within ``minutes`` on ``network`` (as :func:`network_minutes`).
    Sites off the network reach nothing."""
    mode = check_mode(mode)
    minutes = check_minutes(minutes)
    return reach_matrix(network, cell_lon, cell_lat, site_lon, site_lat, mode=mode, minutes=minutes,
                        max_snap_m=max_snap_m)


@dataclass(frozen=True)
class CellNetworks:
    """Which road network covers each cell of a ``"mixed"`` run (issue 21).

    ``networks``: the networks that hold at least one cell; ``index``: per cell, the index of
    its network in ``networks``, -1 where no network holds the cell (the circle method there).
    """

    networks: tuple[Network, ...]
    index: np.ndarray

    def cells_of(self, i: int) -> np.ndarray:
        """Indices of the cells network ``i`` covers (``i=-1``: the circle's cells)."""
        return np.nonzero(self.index == i)[0]

    def parts(self) -> list[tuple[int, np.ndarray]]:
        """``(network index or -1, cell indices)`` of each part with cells, the circle's first."""
        return [(i, c) for i in range(-1, len(self.networks)) if (c := self.cells_of(i)).size]

    def method_of_cells(self) -> np.ndarray:
        """Per cell ``"network"`` or ``"circle"``."""
        return np.where(self.index >= 0, "network", "circle").astype(object)

    def network_of_cells(self) -> np.ndarray:
        """Per cell the name of its network, ``""`` on the circle's cells."""
        names = np.array([n.name for n in self.networks] + [""], dtype=object)
        return names[self.index]      # (-1 picks the last: "")


def cell_networks(networks: Iterable[Network], cell_lon: np.ndarray, cell_lat: np.ndarray, *,
                  mode: str) -> CellNetworks | None:
    """The network holding each cell (WGS-84 centres), as :func:`stationmap.reach.choose_network`
    picks one for a point: first a network fetched for the district holding the cell (its
    ``home``; the smallest district first), then any network whose extent (the convex hull of
    its nodes: a fetched network's margin, the bundled SIP graph) holds it, in the order given;
    in both cases only if the cell's centre is within the network's ``max_snap_m`` of a road open
    to ``mode``.  None when no network holds any cell (a circle run)."""
    import shapely

    from stationmap.coverage.areas import network_extent

    nets = list(networks)
    lon = np.asarray(cell_lon, dtype=float)
    lat = np.asarray(cell_lat, dtype=float)
    index = np.full(lon.size, -1, dtype=np.int64)
    if not nets or not lon.size:
        return None
    homes = sorted((n for n in nets if n.home is not None), key=lambda n: n.home.area)
    order = [(n, n.home) for n in homes] + [(n, network_extent(n)) for n in nets]
    for net, shape in order:
        free = np.nonzero(index < 0)[0]
        if not free.size:
            break
        w, s, e, n = shape.bounds
        box = free[(lon[free] >= w) & (lon[free] <= e) & (lat[free] >= s) & (lat[free] <= n)]
        if not box.size:
            continue
        inside = box[shapely.contains_xy(shape, lon[box], lat[box])]
        if not inside.size:
            continue
        edge, _t, _acc = snap_points(net, mode, lon[inside], lat[inside], net.settings.max_snap_m)
        index[inside[edge >= 0]] = nets.index(net)
    used = sorted(set(index[index >= 0].tolist()))
    if not used:
        return None
    remap = np.full(len(nets) + 1, -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    return CellNetworks(networks=tuple(nets[i] for i in used), index=remap[index])


def kind_minutes(method: str, network: Network | None, cell_lon: np.ndarray, cell_lat: np.ndarray,
                 station_lon: np.ndarray, station_lat: np.ndarray, *, mode: str, minutes: float, horizon: float,
                 settings: Settings, cell_xyz: np.ndarray | None = None,
                 parts: CellNetworks | None = None) -> tuple[np.ndarray, np.ndarray]:
    """``(minutes to the nearest, count within minutes)`` per cell by the run's ``method``
    (:func:`circle_minutes` or, for ``"network"``, :func:`network_minutes` on ``network``; for
    ``"mixed"``, each cell of ``parts`` by its network and the others by the circle: every
    station is offered to each part, so a station across a network's edge counts where that
    network reaches it, as in a run on that network alone)."""
    if method == "mixed":
        if parts is None:
            raise ValidationError("a mixed run needs its cells' networks", field="method")
        out_min = np.full(len(cell_lon), np.inf)
        out_cnt = np.zeros(len(cell_lon), dtype=np.int32)
        for i, c in parts.parts():
            out_min[c], out_cnt[c] = kind_minutes(
                "circle" if i < 0 else "network", None if i < 0 else parts.networks[i], cell_lon[c], cell_lat[c],
                station_lon, station_lat, mode=mode, minutes=minutes, horizon=horizon, settings=settings,
                cell_xyz=None if cell_xyz is None else cell_xyz[c])
        return out_min, out_cnt
    if method == "circle":
        return circle_minutes(cell_lon, cell_lat, station_lon, station_lat, mode=mode, minutes=minutes,
                              horizon_minutes=horizon, settings=settings, cell_xyz=cell_xyz)
    if network is None:
        raise ValidationError("the network method needs its road network", field="method")
    return network_minutes(network, cell_lon, cell_lat, station_lon, station_lat, mode=mode, minutes=minutes,
                           horizon_minutes=horizon)


def pair_minutes(coverage: Coverage, lon: np.ndarray, lat: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(cell, station, minutes)``: each station (WGS-84 ``lon``/``lat``) within the run's threshold
    of each cell, as the run counts them (the circle method's radius on ECEF chords, minutes =
    chord x detour factor / speed; the road network's travel times, cell to station; a mixed run's
    cells each by their part)."""
    g = coverage.grid
    if not len(lon) or not len(g):
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, float)
    if coverage.method == "mixed":
        if coverage.cell_networks is None:
            raise ValidationError("a mixed run without its cells' networks", field="method")
        cells_of: list[np.ndarray] = []
        stations: list[np.ndarray] = []
        mins: list[np.ndarray] = []
        for i, c in coverage.cell_networks.parts():
            if i < 0:
                ci, si, mi = _circle_pairs(coverage, g.xyz()[c], lon, lat)
            else:
                si, ci, sec = network_pairs(coverage.cell_networks.networks[i], g.lon[c], g.lat[c], lon, lat,
                                            mode=coverage.mode, minutes=coverage.threshold)
                mi = sec / 60.0
            cells_of.append(c[ci.astype(np.int64)])
            stations.append(si.astype(np.int64))
            mins.append(mi)
        return np.concatenate(cells_of), np.concatenate(stations), np.concatenate(mins)
    if coverage.method == "network":
        if coverage.network is None:
            raise ValidationError("a network-method run without its network: pass the run with its network",
                                  field="method")
        st, cells, sec = network_pairs(coverage.network, g.lon, g.lat, lon, lat, mode=coverage.mode,
                                       minutes=coverage.threshold)
        return cells.astype(np.int64), st.astype(np.int64), sec / 60.0
    return _circle_pairs(coverage, g.xyz(), lon, lat)


def _circle_pairs(coverage: Coverage, cell_xyz: np.ndarray, lon: np.ndarray, lat: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`pair_minutes` by the circle method for the cells at ``cell_xyz`` (ECEF)."""
    from scipy.spatial import cKDTree

    from stationmap.index import ecef

    settings = coverage.settings or _config.load()
    radius = reach_m(coverage.threshold, coverage.mode, settings=settings)
    # (an unbalanced tree builds in half the time and answers this one query as fast)
    tree = cKDTree(cell_xyz, balanced_tree=False, compact_nodes=False)
    pairs = tree.sparse_distance_matrix(cKDTree(ecef(lon, lat)), radius, output_type="ndarray")
    per_min = speed_m_per_min(coverage.mode, settings) / settings.detour_factor
    return pairs["i"].astype(np.int64), pairs["j"].astype(np.int64), pairs["v"] / per_min
