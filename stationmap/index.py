"""StationIndex: nearest-k, within-radius and bbox queries over the stations.

Stations are indexed by their **ECEF position on the WGS-84 ellipsoid**
(metres).  The straight-line (chord) distance between two points on the
ellipsoid differs from the geodesic by less than d³/(24R²): under 1 mm at
15 km and under 1e-5 relative at 100 km.  So a Euclidean tree over ECEF
points answers geodesic nearest and radius queries directly, in metres; past
100 km stationmap measures with pyproj.Geod (Karney's exact geodesic) and
re-ranks.  Results equal a brute-force pyproj.Geod search
(``tests/unit/test_index.py``).

Two trees over those points, each doing what it is fastest at
(``benchmarks/bench_index.py`` shows the figures):

* an **rtree** (libspatialindex) answers within-radius queries and takes every
  insert, update and delete as it happens;
* **scipy cKDTrees** (all stations, and one per kind) answer nearest-k: from
  Python, rtree's nearest costs about 4x cKDTree's.  A cKDTree is immutable, so
  writes since its build sit in a small "delta", searched by brute force, and
  are folded in (an O(n log n) build, ~0.1 s for 200,000 stations) only when
  the delta outgrows max(1024, 5%) of the index.

All coordinates in and out are WGS-84 degrees; distances are metres.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple, cast

import numpy as np
from rtree import index as rtree_index
from scipy.spatial import cKDTree

from stationmap.checks import check_point
from stationmap.config import MAX_K, OPENING_CELL_M
from stationmap.coords import EARTH_RADIUS_M, GEOD
from stationmap.errors import ValidationError
from stationmap.hours import open_checker
from stationmap.jit import compiled
from stationmap.model import KINDS, Station, check_kinds, check_services

if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Protocol

    import numpy.typing as npt

    class StationSource(Protocol):
        """What :meth:`StationIndex.from_store` and :meth:`StationIndex.sync` read of a
        store (:class:`stationmap.store.StationStore`)."""

        def all(self) -> list[Station]: ...
        def revision(self) -> int: ...
        def changes_since(self, rev: int) -> list[dict]: ...

_KIND_BIT = {k: 1 << i for i, k in enumerate(KINDS)}
_WGS_A = 6378137.0
_WGS_E2 = 0.00669437999014
_RAD = math.pi / 180.0
#: beyond this chord length distances are measured with pyproj.Geod
FAR_M = 100_000.0
#: the nearest query's compiled fast path serves while the kd trees hold at most this many
#: removed slots (an edit or a delete removes one; past 1024 or 5% of the stations, they are rebuilt)
_STALE_FAST = 64


class Hit(NamedTuple):
    """A query result: the station and its geodesic distance in metres."""

    station: Station
    distance_m: float




def ecef(lon: float | npt.ArrayLike, lat: float | npt.ArrayLike) -> np.ndarray:
    """WGS-84 lon/lat (degrees, on the ellipsoid) -> ECEF x, y, z in metres; (n, 3)."""
    lam = np.radians(np.asarray(lon, dtype=float))
    phi = np.radians(np.asarray(lat, dtype=float))
    sphi = np.sin(phi)
    n = _WGS_A / np.sqrt(1.0 - _WGS_E2 * sphi * sphi)
    cphi = np.cos(phi)
    return np.column_stack([n * cphi * np.cos(lam), n * cphi * np.sin(lam), n * (1.0 - _WGS_E2) * sphi])


def _ecef1(lon: float, lat: float) -> tuple[float, float, float]:
    """ECEF x, y, z (metres) of one WGS-84 point, as a tuple of floats (a numpy array
    costs more to make than the arithmetic)."""
    lam, phi = lon * _RAD, lat * _RAD
    sphi, cphi = math.sin(phi), math.cos(phi)
    n = _WGS_A / math.sqrt(1.0 - _WGS_E2 * sphi * sphi)
    return n * cphi * math.cos(lam), n * cphi * math.sin(lam), n * (1.0 - _WGS_E2) * sphi


def _kind_mask(kinds: Iterable[str]) -> int:
    m = 0
    for k in kinds:
        m |= _KIND_BIT[k]
    return m


def _check_metres(v: Any, name: str) -> float:
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise ValidationError(f"{name} must be a number, got {v!r}", field=name) from None
    if not math.isfinite(x) or x < 0:
        raise ValidationError(f"{name} must be a non-negative number of metres, got {v!r}", field=name)
    return x


def distances_m(lon: float, lat: float, lons: npt.ArrayLike, lats: npt.ArrayLike) -> np.ndarray:
    """Geodesic distances in metres from one WGS-84 point to many (pyproj.Geod)."""
    lons = np.asarray(lons, dtype=float)
    n = lons.size
    return GEOD.inv(np.full(n, float(lon)), np.full(n, float(lat)), lons, np.asarray(lats, dtype=float))[2]


def densest_area(lons: npt.ArrayLike, lats: npt.ArrayLike, *,
                 cell_m: float = OPENING_CELL_M) -> tuple[float, float] | None:
    """The middle (lon, lat) of the densest area of points: the square cell of ``cell_m`` metres that
    holds the most of them, in metres on a plane tangent at their median (equirectangular; within
    1 % over a province), and the mean of the points in that cell.  None for no points.

    Where the finder opens when it does not know where the user is: a median of stations spread over
    several cities can fall on an empty field between them; the densest cell has stations around it.
    Ties go to the cell with the most points in its eight neighbours, then to the lowest cell.
    """
    x_deg = np.asarray(lons, dtype=float).ravel()
    y_deg = np.asarray(lats, dtype=float).ravel()
    if x_deg.size == 0:
        return None
    cell = _check_metres(cell_m, "cell_m")
    if cell <= 0:
        raise ValidationError(f"cell_m must be positive, got {cell_m!r}", field="cell_m")
    lat0 = float(np.median(y_deg))
    per_deg = math.pi * EARTH_RADIUS_M / 180.0
    x = x_deg * per_deg * math.cos(math.radians(lat0))
    y = y_deg * per_deg
    ix = np.floor((x - x.min()) / cell).astype(np.int64)
    iy = np.floor((y - y.min()) / cell).astype(np.int64)
    # one code per cell, in (ix, iy) order, with room for the neighbours' codes (iy - 1 .. iy + 1)
    width = int(iy.max()) + 3
    keys, inverse, counts = np.unique(ix * width + (iy + 1), return_inverse=True, return_counts=True)
    # the points in each cell's eight neighbours and itself: each neighbour's code looked up among
    # the cells (vectorised: 1.1 s -> 0.1 s at 200,000 national stations, the finder's opening)
    around = np.zeros(len(keys), np.int64)
    for dx in (-1, 0, 1):
        for dy in (-1, 0, 1):
            at = np.minimum(np.searchsorted(keys, keys + dx * width + dy), len(keys) - 1)
            around += np.where(keys[at] == keys + dx * width + dy, counts[at], 0)
    # the most points, then the most around, then the lowest cell
    best = int(np.lexsort((np.arange(len(keys)), -around, -counts))[0])
    inside = inverse.ravel() == best
    return float(x_deg[inside].mean()), float(y_deg[inside].mean())


class StationIndex:
    """Spatial index over stations (WGS-84).  Build with :meth:`from_stations`."""

    def __init__(self) -> None:
        self._stations: list[Station | None] = []
        self._slot: dict[str, int] = {}
        self._xyz = np.empty((0, 3))
        self._ll = np.empty((0, 2))     # lon, lat per slot (bbox queries)
        self._shut = np.empty(0, dtype=bool)    # per slot: a live closed station
        #: ``(at, services, is_open)`` of the last query that asked who is open (:meth:`_open_checker`)
        self._last_checker: tuple[datetime, tuple[str, ...], Callable[[Station], bool]] | None = None
        self._kmask = np.empty(0, dtype=np.int64)
        self._n = 0
        #: removed slots still in the kd trees (until the next rebuild)
        self._stale: set[int] = set()
        #: {None: every kind, kind: that kind} -> (cKDTree or None, its points' slots)
        self._kd: dict[str | None, tuple[cKDTree | None, list[int]]] = {}
        self._kd_all: dict[str | None, tuple[cKDTree | None, list[int]]] = {}
        self._flat: dict[int, _FlatTree] = {}
        self._delta: set[int] = set()
        prop = rtree_index.Property()
        prop.dimension = 3
        self._rtree_props = prop
        self._rtree = rtree_index.Index(properties=prop)
        #: the store revision this index reflects (see :meth:`sync`)
        self.revision = 0

    # -- building ---------------------------------------------------------
    @classmethod
    def from_stations(cls, stations: Iterable[Station], *, revision: int = 0) -> StationIndex:
        """Bulk-load an index (the rtree by numpy bulk loading, the kd trees at once).

        Parameters
        ----------
        stations : iterable of Station
            The stations, with distinct ids.
        revision : int
            The store revision they reflect (see :meth:`sync`).

        Returns
        -------
        StationIndex
            A new index; call :meth:`prepare` before serving to compile its search.
        """
        self = cls()
        loaded = list(stations)
        n = len(loaded)
        self._stations = cast("list[Station | None]", loaded)
        self._slot = {s.id: i for i, s in enumerate(loaded)}
        lon = np.fromiter((s.lon for s in loaded), float, n)
        lat = np.fromiter((s.lat for s in loaded), float, n)
        self._xyz = ecef(lon, lat) if n else np.empty((0, 3))
        self._ll = np.column_stack([lon, lat]) if n else np.empty((0, 2))
        self._kmask = np.fromiter((_kind_mask(s.kinds) for s in loaded), np.int64, n)
        self._shut = np.fromiter((s.status == "closed" for s in loaded), bool, n)
        self._n = n
        if n:
            self._rtree = rtree_index.Index(
                (np.arange(n, dtype=np.int64), self._xyz, self._xyz), properties=self._rtree_props)
        self._build_kd()
        self.revision = revision
        return self

    @classmethod
    def from_store(cls, store: StationSource) -> StationIndex:
        """An index of every station in ``store``, at its current revision."""
        rev = store.revision()
        return cls.from_stations(store.all(), revision=rev)

    def _build_kd(self) -> None:
        """(Re)build the cKDTrees over every live slot and empty the delta."""
        n = self._n
        alive = np.fromiter((s is not None for s in self._stations[:n]), bool, n)
        shut = self._shut[:n]
        self._kd = self._kd_groups(alive & ~shut)
        self._kd_all = self._kd_groups(alive) if shut.any() else self._kd
        self._flat = {}     # id(cKDTree) -> _FlatTree, built on first use
        self._delta = set()
        self._stale = set()

    def prepare(self) -> StationIndex:
        """Do now what the first nearest query would (flatten the kd trees, load the compiled
        search): a server calls it at start, so no request pays for it."""
        for groups in (self._kd, self._kd_all):
            for tree, _slots in groups.values():
                if tree is not None:
                    self._flat_tree(tree, _slots).query((0.0, 0.0, 0.0), 1)
        return self

    def _flat_tree(self, tree: cKDTree, slots: list[int]) -> _FlatTree:
        """The :class:`_FlatTree` of one of the cKDTrees (labelled with its points' ``slots``),
        built on first use."""
        flat = self._flat.get(id(tree))
        if flat is None:
            flat = self._flat[id(tree)] = _FlatTree(tree, slots)
        return flat

    def _kd_groups(self, mask: np.ndarray) -> dict[str | None, tuple[cKDTree | None, list[int]]]:
        """{None: all, kind: that kind} -> (cKDTree, slots) over the slots in ``mask``."""
        groups: dict[str | None, np.ndarray] = {None: np.nonzero(mask)[0]}
        for kind, bit in _KIND_BIT.items():
            groups[kind] = np.nonzero(mask & ((self._kmask[:self._n] & bit) != 0))[0]
        out: dict[str | None, tuple[cKDTree | None, list[int]]] = {}
        for key, slots in groups.items():
            out[key] = (cKDTree(self._xyz[slots]) if len(slots) else None, slots.tolist())
        return out

    def _grow(self, need: int) -> None:
        cap = len(self._kmask)
        if need <= cap:
            return
        new = max(need, int(cap * 1.5) + 64)
        km = np.zeros(new, dtype=np.int64)
        km[:cap] = self._kmask
        xyz = np.zeros((new, 3))
        xyz[:cap] = self._xyz
        ll = np.full((new, 2), np.nan)
        ll[:cap] = self._ll
        shut = np.zeros(new, dtype=bool)
        shut[:cap] = self._shut
        self._kmask, self._xyz, self._ll, self._shut = km, xyz, ll, shut

    # -- writes (kept in step with the store) -------------------------------
    def __len__(self) -> int:
        return len(self._slot)

    def __contains__(self, station_id: object) -> bool:
        return station_id in self._slot

    def get(self, station_id: str) -> Station | None:
        """The station with this id, or None."""
        slot = self._slot.get(station_id)
        return None if slot is None else self._stations[slot]

    def stations(self) -> list[Station]:
        """Every station, in slot (load) order."""
        return [self._stations[i] for i in sorted(self._slot.values())]  # type: ignore[misc]  # live slots

    def add(self, station: Station) -> None:
        """Insert a station, or replace the one with its id (no rebuild)."""
        if station.id in self._slot:
            self.remove(station.id)
        slot = self._n
        self._grow(slot + 1)
        self._stations.append(station)
        self._xyz[slot] = _ecef1(station.lon, station.lat)
        self._ll[slot] = (station.lon, station.lat)
        self._kmask[slot] = _kind_mask(station.kinds)
        self._shut[slot] = station.status == "closed"
        self._n += 1
        self._slot[station.id] = slot
        v = self._xyz[slot]
        self._rtree.insert(slot, (*v, *v))
        self._delta.add(slot)
        if len(self._delta) > max(1024, 0.05 * len(self._slot)):
            self._build_kd()

    update = add

    def remove(self, station_id: str) -> None:
        """Delete a station (no rebuild).  Unknown ids are ignored."""
        slot = self._slot.pop(station_id, None)
        if slot is None:
            return
        v = self._xyz[slot]
        self._rtree.delete(slot, (*v, *v))
        self._stations[slot] = None
        self._ll[slot] = np.nan      # never inside a box
        self._shut[slot] = False
        if slot in self._delta:
            self._delta.discard(slot)
        else:
            self._stale.add(slot)
            if len(self._stale) > max(1024, 0.05 * len(self._slot)):
                self._build_kd()

    def sync(self, store: StationSource) -> int:
        """Apply the store's changes since :attr:`revision`; returns how many.

        This is how every worker process sees a write made by another one.
        """
        changes = store.changes_since(self.revision)
        for ch in changes:
            if ch["action"] == "delete" or not ch["after"]:
                self.remove(ch["station_id"])
            else:
                self.add(Station.from_dict(json.loads(ch["after"])))
            self.revision = ch["rev"]
        return len(changes)

    # -- queries ------------------------------------------------------------
    def _accept(self, st: Station, services: tuple[str, ...] | None, open_at: datetime | None) -> bool:
        if services and not all(s in st.services for s in services):
            return False
        return open_at is None or self._open_checker(open_at, services or ())(st)

    def _open_checker(self, at: datetime, services: tuple[str, ...]) -> Callable[[Station], bool]:
        """:func:`stationmap.hours.open_checker` of ``at``, kept for the next station of the same
        query (its time zone conversion costs more than the check)."""
        last = self._last_checker
        if last is None or last[0] is not at or last[1] != services:
            last = self._last_checker = (at, services, open_checker(at, services))
        return last[2]

    def nearest(self, lon: float, lat: float, *, k: int = 1, kinds: Iterable[str] | None = None,
                services: Iterable[str] | None = None, open_at: datetime | None = None,
                max_m: float | None = None, include_closed: bool = False) -> list[Hit]:
        """The ``k`` stations nearest a WGS-84 point, nearest first.

        Distances are geodesic (WGS-84 ellipsoid): the chord through the earth up to
        100 km (under 1 mm off at 15 km), pyproj.Geod's exact geodesic beyond.

        Parameters
        ----------
        lon, lat : float
            The query point, WGS-84 degrees.
        k : int
            How many stations, 1 to :data:`MAX_K`.
        kinds : iterable of str, optional
            Only stations of any of these kinds (names or aliases, see
            :func:`stationmap.model.check_kinds`).
        services : iterable of str, optional
            Only stations offering all of these services.
        open_at : datetime, optional
            Only stations open at that time (naive times are Asia/Shanghai).
        max_m : float, optional
            No farther than this many metres.
        include_closed : bool
            Also stations whose status is ``closed``.

        Returns
        -------
        list of Hit
            ``(station, distance_m)`` pairs, nearest first, ties in load order; fewer
            than ``k`` when fewer stations qualify.

        Raises
        ------
        ValidationError
            For a point out of range, ``k`` not an integer in range, an unknown kind or
            service, or a negative ``max_m``.

        Examples
        --------
        >>> from stationmap.model import Station
        >>> index = StationIndex.from_stations([
        ...     Station(id="a", name="A", lon=120.60, lat=31.30),
        ...     Station(id="b", name="B", lon=120.70, lat=31.30)])
        >>> [(h.station.id, round(h.distance_m)) for h in index.nearest(120.61, 31.30, k=2)]
        [('a', 952), ('b', 8568)]
        """
        st: list[Station] = self._stations  # type: ignore[assignment]  # the slots asked are live
        return [Hit(st[slot], d) for d, slot in self._nearest(lon, lat, k, kinds, services, open_at, max_m,
                                                             include_closed)]

    def nearest_slots(self, lon: float, lat: float, *, k: int = 1, kinds: Iterable[str] | None = None,
                      services: Iterable[str] | None = None, open_at: datetime | None = None,
                      max_m: float | None = None, include_closed: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`nearest` as arrays ``(slots, distances_m)``, nearest first (see :meth:`station_at`)."""
        pairs = self._nearest(lon, lat, k, kinds, services, open_at, max_m, include_closed)
        return (np.fromiter((p[1] for p in pairs), np.int64, len(pairs)),
                np.fromiter((p[0] for p in pairs), float, len(pairs)))

    def _nearest(self, lon: float, lat: float, k: int, kinds: Any, services: Any, open_at: datetime | None,
                 max_m: float | None, include_closed: bool) -> list[tuple[float, int]]:
        """[(distance_m, slot)] of :meth:`nearest`."""
        lon, lat = check_point(lon, lat)
        if type(k) is not int or not 1 <= k <= MAX_K:
            if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= MAX_K:
                raise ValidationError(f"k must be an integer in [1, {MAX_K}], got {k!r}", field="k")
            k = int(k)
        if kinds:
            kinds = check_kinds(kinds, field="kind")
        if services:
            services = check_services(services, field="service")
        bound = math.inf if max_m is None else _check_metres(max_m, "max_m") * 1.0001 + 1e-6
        q = _ecef1(lon, lat)
        key = kinds[0] if kinds and len(kinds) == 1 else None
        tree, tree_slots = (self._kd_all if include_closed else self._kd)[key]
        kmask = _kind_mask(kinds) if kinds else 0
        multi = kmask if key is None and kinds else 0  # several kinds: filter the all-kinds tree
        plain = not services and open_at is None
        dead = self._stale
        stations: list[Station] = self._stations  # type: ignore[assignment]  # the slots asked are live
        if (plain and not multi and max_m is None and tree is not None and len(dead) <= _STALE_FAST
                and tree.n > k + len(dead)):
            # Fast path: the tree's nearest (as many more as it holds removed slots), and the
            # stations written since it was built.  Chord order is geodesic order up to ties
            # closer than d**3/(24 R**2) (< 1 mm at 15 km); ties in slot order, as below.
            fd, fs = self._flat_tree(tree, tree_slots).query(q, k + len(dead))
            hits = list(zip(fd.tolist(), fs.tolist()))
            if dead:
                hits = [h for h in hits if h[1] not in dead][:k]
            if self._delta:
                hits = sorted(hits + self._delta_hits(q, kmask, math.inf, None, None, include_closed))[:k]
            if hits[-1][0] <= FAR_M * 0.5:
                return hits
        want = k + 1 if plain and not multi else 4 * k + 8
        while True:
            found, far, exhausted = [], math.inf, True
            if tree is not None:
                kk = min(want, tree.n)
                qd, qi = tree.query(q, kk, distance_upper_bound=bound)
                n_tree = tree.n
                dd: list[float]
                ii: list[int]
                if kk == 1:
                    dd, ii = [float(qd)], [int(qi)]
                else:   # arrays when kk > 1
                    dd, ii = qd.tolist(), qi.tolist()  # type: ignore[union-attr,assignment]
                if kk < n_tree and ii[-1] < n_tree:
                    exhausted, far = False, dd[-1]
                for d, i in zip(dd, ii):
                    if i >= n_tree:
                        break
                    slot = tree_slots[i]
                    if dead and slot in dead:   # (closed slots are not in self._kd's trees:
                        continue                # a slot's status is fixed when it is added)
                    if multi and not self._kmask[slot] & multi:
                        continue
                    if plain or self._accept(stations[slot], services, open_at):
                        found.append((d, slot))
            if self._delta:
                found += self._delta_hits(q, kmask, bound, services, open_at, include_closed)
                found.sort()
            hits = found[:k]
            if hits and hits[-1][0] > FAR_M * 0.5:
                hits = self._regeodesic(lon, lat, found, k)
            if max_m is not None:
                hits = [h for h in hits if h[0] <= max_m]
            # done when nothing unseen can be nearer than the k-th (chord <= geodesic <= chord * (1 + 1e-5))
            if exhausted or (len(hits) == k and hits[-1][0] * (1 + 1e-5) <= far):
                return hits
            want *= 4

    def _delta_hits(self, q: tuple[float, float, float], kmask: int, bound: float, services: Any,
                    open_at: datetime | None, include_closed: bool) -> list[tuple[float, int]]:
        km, shut = self._kmask, self._shut
        slots = [s for s in self._delta if (not kmask or km[s] & kmask) and (include_closed or not shut[s])]
        if not slots:
            return []
        d = np.linalg.norm(self._xyz[slots] - q, axis=1).tolist()
        st: list[Station] = self._stations  # type: ignore[assignment]  # the slots asked are live
        return [(di, s) for di, s in zip(d, slots)
                if di <= bound and self._accept(st[s], services, open_at)]

    def _regeodesic(self, lon: float, lat: float, found: list[tuple[float, int]], k: int) -> list[tuple[float, int]]:
        """Exact pyproj.Geod distances for far candidates, re-ranked."""
        slots = [s for _, s in found]
        d = distances_m(lon, lat, *self.lonlat(slots))
        return sorted(zip(d.tolist(), slots))[:k]

    def within(self, lon: float, lat: float, radius_m: float, *, kinds: Iterable[str] | None = None,
               services: Iterable[str] | None = None, open_at: datetime | None = None,
               include_closed: bool = False) -> list[Hit]:
        """Every station within ``radius_m`` metres (geodesic) of a WGS-84 point, nearest first.

        Parameters
        ----------
        lon, lat : float
            The query point, WGS-84 degrees.
        radius_m : float
            The radius, metres (geodesic).
        kinds, services, open_at, include_closed
            Filters, as in :meth:`nearest`.

        Returns
        -------
        list of Hit
            ``(station, distance_m)`` pairs, nearest first, ties in load order.

        Raises
        ------
        ValidationError
            For a point out of range, a negative radius, an unknown kind or service.

        Examples
        --------
        >>> from stationmap.model import Station
        >>> index = StationIndex.from_stations(
        ...     [Station(id=i, name=i.upper(), lon=lon, lat=31.30) for i, lon in (("a", 120.60), ("b", 120.70))])
        >>> [h.station.id for h in index.within(120.61, 31.30, 5000)]
        ['a']
        """
        slots, d = self.within_slots(lon, lat, radius_m, kinds=kinds, services=services, open_at=open_at,
                                     include_closed=include_closed)
        order = np.lexsort((slots, d))
        st: list[Station] = self._stations  # type: ignore[assignment]  # the slots asked are live
        return [Hit(st[s], di) for s, di in zip(slots[order].tolist(), d[order].tolist())]

    def within_slots(self, lon: float, lat: float, radius_m: float, *, kinds: Iterable[str] | None = None,
                     services: Iterable[str] | None = None, open_at: datetime | None = None,
                     include_closed: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`within` as arrays, in no order: ``(slots, distances_m)``; a slot's station
        is :meth:`station_at`, its coordinates :meth:`lonlat` (no Station objects are
        touched unless ``services`` or ``open_at`` need them)."""
        lon, lat = check_point(lon, lat)
        radius_m = _check_metres(radius_m, "radius_m")
        kinds = check_kinds(kinds, field="kind") if kinds else ()
        services = check_services(services, field="service") if services else ()
        q = _ecef1(lon, lat)
        r = radius_m * 1.0001 + 1e-6
        slots = np.fromiter(self._rtree.intersection((q[0] - r, q[1] - r, q[2] - r, q[0] + r, q[1] + r, q[2] + r)),
                            np.int64)
        if kinds and len(slots):
            slots = slots[(self._kmask[slots] & _kind_mask(kinds)) != 0]
        if not include_closed and len(slots):
            slots = slots[~self._shut[slots]]
        d = np.linalg.norm(self._xyz[slots] - q, axis=1) if len(slots) else np.empty(0)
        keep = d <= r
        slots, d = slots[keep], d[keep]
        far = d > FAR_M * 0.5
        if far.any():
            d[far] = distances_m(lon, lat, *self.lonlat(slots[far]))
        keep = d <= radius_m
        slots, d = slots[keep], d[keep]
        if (services or open_at is not None) and len(slots):
            st: list[Station] = self._stations  # type: ignore[assignment]  # the slots asked are live
            keep = np.fromiter((self._accept(st[s], services, open_at) for s in slots.tolist()), bool, len(slots))
            slots, d = slots[keep], d[keep]
        return slots, d

    def station_at(self, slot: int) -> Station:
        """The station in ``slot`` (from :meth:`within_slots` / :meth:`bbox_slots`)."""
        return self._stations[slot]  # type: ignore[return-value]  # a live slot

    def lonlat(self, slots: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """WGS-84 lon and lat arrays of ``slots``."""
        ll = self._ll[np.asarray(slots, dtype=np.int64)]
        return ll[:, 0], ll[:, 1]

    def bbox(self, west: float, south: float, east: float, north: float, *, kinds: Iterable[str] | None = None,
             services: Iterable[str] | None = None, open_at: datetime | None = None,
             include_closed: bool = True) -> list[Station]:
        """Stations inside a WGS-84 lon/lat box (``west <= lon <= east``), in id order.

        Parameters
        ----------
        west, south, east, north : float
            The box, WGS-84 degrees, edges included (a box across the antimeridian is
            two queries).
        kinds, services, open_at
            Filters, as in :meth:`nearest`.
        include_closed : bool
            Also closed stations (the default here: a map shows them greyed).

        Returns
        -------
        list of Station
            In id order.

        Raises
        ------
        ValidationError
            For corners out of range or ``west > east`` / ``south > north``.

        Examples
        --------
        >>> from stationmap.model import Station
        >>> index = StationIndex.from_stations([Station(id="a", name="A", lon=120.60, lat=31.30)])
        >>> [s.id for s in index.bbox(120.5, 31.0, 120.65, 31.5)], index.bbox(120.65, 31.0, 120.8, 31.5)
        (['a'], [])
        """
        st: list[Station] = self._stations  # type: ignore[assignment]  # the slots asked are live
        out = [st[s] for s in self.bbox_slots(west, south, east, north, kinds=kinds, services=services,
                                                open_at=open_at, include_closed=include_closed).tolist()]
        return sorted(out, key=lambda s: s.id)

    def bbox_slots(self, west: float, south: float, east: float, north: float, *,
                   kinds: Iterable[str] | None = None, services: Iterable[str] | None = None,
                   open_at: datetime | None = None, include_closed: bool = True) -> np.ndarray:
        """The slots of :meth:`bbox`'s stations (ascending slot order; see :meth:`station_at`)."""
        west, south = check_point(west, south)
        east, north = check_point(east, north)
        if west > east or south > north:
            raise ValidationError(
                "bbox must be west,south,east,north with west<=east and south<=north, "
                f"got {west},{south},{east},{north}", field="bbox")
        kinds = check_kinds(kinds, field="kind") if kinds else ()
        services = check_services(services, field="service") if services else ()
        n = self._n
        ll = self._ll[:n]
        with np.errstate(invalid="ignore"):     # removed slots are NaN: never inside
            inside = (ll[:, 0] >= west) & (ll[:, 0] <= east) & (ll[:, 1] >= south) & (ll[:, 1] <= north)
        if kinds:
            inside &= (self._kmask[:n] & _kind_mask(kinds)) != 0
        if not include_closed:
            inside &= ~self._shut[:n]
        slots = np.flatnonzero(inside)
        if (services or open_at is not None) and len(slots):
            st: list[Station] = self._stations  # type: ignore[assignment]  # the slots asked are live
            keep = np.fromiter((self._accept(st[s], services, open_at) for s in slots.tolist()), bool, len(slots))
            slots = slots[keep]
        return slots


class _FlatTree:
    """A cKDTree's nodes as flat arrays, for one-point nearest-k queries in compiled code.

    ``cKDTree.query`` spends most of a one-point query checking and reshaping its
    arguments in Python (14 us of 16 here; 50 us when the caches are cold, as
    they are between two requests of a busy server: bench_api.py); the search
    itself is a few hundred instructions.  This keeps scipy's tree (its build,
    its splits) and walks it with :func:`_k_query`: the same neighbours
    (tests/unit/test_index.py), ties in point order.  A point is answered by its
    label (``labels[i]`` for the tree's point ``i``; default ``i``): an ascending
    labelling keeps the order of ties.
    """

    def __init__(self, tree: cKDTree, labels: npt.ArrayLike | None = None) -> None:
        stack: list[Any] = [tree.tree]
        nodes: list[Any] = []
        while stack:    # number the nodes depth-first
            node = stack.pop()
            nodes.append(node)
            if node.split_dim != -1:
                stack.append(node.greater)
                stack.append(node.lesser)
        pos = {id(nd): i for i, nd in enumerate(nodes)}
        # one row per node (split dimension, -1 for a leaf; lesser and greater child;
        # first and past-the-last point): a node's fields share a cache line
        self.nodes = np.array([(nd.split_dim, pos[id(nd.lesser)], pos[id(nd.greater)], nd.start_idx, nd.end_idx)
                               if nd.split_dim != -1 else (-1, -1, -1, nd.start_idx, nd.end_idx) for nd in nodes],
                              dtype=np.int64).reshape(-1, 5)
        self.split = np.array([nd.split for nd in nodes], dtype=np.float64)
        order = np.asarray(tree.indices, dtype=np.int64)
        self.points = np.ascontiguousarray(tree.data[order], dtype=np.float64)
        self.order = np.ascontiguousarray(order if labels is None else np.asarray(labels, dtype=np.int64)[order])

    def query(self, q: tuple[float, float, float], k: int) -> tuple[np.ndarray, np.ndarray]:
        """(distances, labels) of the ``k`` points nearest ``q`` (x, y, z), nearest first."""
        return compiled(_k_query)(self.nodes, self.split, self.order, self.points, q[0], q[1], q[2], k)


def _k_query(nodes: np.ndarray, split: np.ndarray, order: np.ndarray, points: np.ndarray, q0: float, q1: float,
             q2: float, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact k-nearest search of a kd tree (see :class:`_FlatTree`); few arguments, each
    of a type numba checks quickly (its dispatch is most of a small query's time)."""
    best_d = np.full(k, np.inf)     # squared distances, ascending
    best_i = np.full(k, -1, np.int64)
    stack_n = np.empty(128, np.int64)
    stack_b = np.empty(128)
    stack_n[0] = 0
    stack_b[0] = 0.0
    top = 1
    while top > 0:
        top -= 1
        node = stack_n[top]
        nb = stack_b[top]       # a lower bound of the squared distance to anything in the node
        if nb > best_d[k - 1]:
            continue
        sd = nodes[node, 0]
        if sd == -1:
            for j in range(nodes[node, 3], nodes[node, 4]):
                a = points[j, 0] - q0
                b = points[j, 1] - q1
                c = points[j, 2] - q2
                d = a * a + b * b + c * c
                i = order[j]
                if d < best_d[k - 1] or (d == best_d[k - 1] and i < best_i[k - 1]):
                    p = k - 1
                    while p > 0 and (best_d[p - 1] > d or (best_d[p - 1] == d and best_i[p - 1] > i)):
                        best_d[p] = best_d[p - 1]
                        best_i[p] = best_i[p - 1]
                        p -= 1
                    best_d[p] = d
                    best_i[p] = i
            continue
        diff = (q0 if sd == 0 else q1 if sd == 1 else q2) - split[node]
        if diff < 0:
            near, far = nodes[node, 1], nodes[node, 2]
        else:
            near, far = nodes[node, 2], nodes[node, 1]
        if top + 2 > stack_n.shape[0]:
            grown_n = np.empty(2 * stack_n.shape[0], np.int64)
            grown_b = np.empty(2 * stack_n.shape[0])
            grown_n[:top] = stack_n[:top]
            grown_b[:top] = stack_b[:top]
            stack_n, stack_b = grown_n, grown_b
        stack_n[top] = far      # beyond the split plane: at least diff away
        stack_b[top] = max(nb, diff * diff)
        stack_n[top + 1] = near     # popped first
        stack_b[top + 1] = nb
        top += 2
    return np.sqrt(best_d), best_i
