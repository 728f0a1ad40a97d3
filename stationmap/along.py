"""Stations along a route: the stations a courier riding from A to B can stop at for the
fewest extra minutes (issue 19, "Along my route"): :func:`along_route`.

A station's **detour** is ``time(A -> station) + time(station -> B) - time(A -> B)``.

``network``
    Where one road network covers both A and B (each within ``max_snap_m`` of a road open
    to the mode): one Dijkstra from A (:meth:`~stationmap.network.Network.search`) and one
    to B on the reversed graph (:meth:`~stationmap.network.Network.search_to`), both bounded
    by the direct time plus the detour allowed (the first by a guess, widened when B lies
    beyond it), then each station's two times are looked up at the ends of the road it
    snapped onto.  One-way streets bind as the mode keeps them
    (the network's ``oneway_known`` says whether it has one-way data).  Every off-road
    part is walked, as in :func:`stationmap.reach.rank_stations`: A to its road, the road
    to the station and back, B's road to B (A's and B's cancel out of the detour).
``circle``
    Elsewhere, the straight-line estimate (:func:`stationmap.reach.circle_minutes`: geodesic
    metres x detour factor / speed), so the detour is ``(d(A, s) + d(s, B) - d(A, B))`` x the
    circle's minutes per metre: the stations inside an ellipse with foci A and B.

No Flask: ``/api/v1/along``, ``stationmap along`` and the finder's "顺路找驿站" call this.
Coordinates WGS-84 (lon, lat); times in minutes in the results.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import numpy as np

from stationmap import config as _config
from stationmap.checks import check_k, check_method, check_mode, check_point, check_positive
from stationmap.config import DEFAULT_K, DEFAULT_MAX_DETOUR_MINUTES, DEFAULT_METHOD, DEFAULT_MODE, MAX_DETOUR_MINUTES
from stationmap.errors import ValidationError
from stationmap.index import distances_m
from stationmap.model import Station
from stationmap.reach.choose import choose_network_checked, network_list
from stationmap.reach.circle import minutes_per_metre

if TYPE_CHECKING:
    from stationmap.config import Settings
    from stationmap.index import StationIndex
    from stationmap.network import Network, Snap
    from stationmap.network.graph import ModeGraph
    from stationmap.reach.choose import Networks

#: the two ends of a route, as the library and the API name their coordinates
ENDS = ("from", "to")


@dataclass(slots=True)
class AlongStation:
    """A station on the way: ``detour_minutes`` it adds to the trip, ``minutes`` from the start to
    it, ``onward_minutes`` from it to the destination, ``straight_m`` geodesic metres from the start."""

    station: Station
    detour_minutes: float
    minutes: float
    onward_minutes: float
    straight_m: float

    def to_dict(self) -> dict:
        """The station's dict with the four figures (rounded)."""
        d = self.station.to_dict()
        d.update(detour_minutes=round(self.detour_minutes, 2), minutes=round(self.minutes, 2),
                 onward_minutes=round(self.onward_minutes, 2), straight_m=round(self.straight_m, 1))
        return d


@dataclass
class AlongRoute:
    """Stations ranked by detour on the way from one WGS-84 point to another."""

    from_lon: float
    from_lat: float
    to_lon: float
    to_lat: float
    mode: str
    method: str                  # "network" or "circle"
    max_detour: float            # minutes
    route_minutes: float         # the direct way, start to destination
    straight_m: float            # geodesic metres, start to destination
    stations: list[AlongStation] = field(default_factory=list)   # least detour first
    network: str | None = None
    snap_from_m: float | None = None     # start to its road (network method)
    snap_to_m: float | None = None       # destination to its road
    #: the network keeps to one-way streets (False: no one-way data, optimistic times); None: circle
    oneway_respected: bool | None = None
    licence: str | None = None

    def to_dict(self) -> dict:
        return {"datum": "wgs84", "from": {"lon": self.from_lon, "lat": self.from_lat},
                "to": {"lon": self.to_lon, "lat": self.to_lat}, "mode": self.mode, "method": self.method,
                "network": self.network, "max_detour": self.max_detour,
                "route_minutes": round(self.route_minutes, 2), "straight_m": round(self.straight_m, 1),
                "snap_from_m": None if self.snap_from_m is None else round(self.snap_from_m, 1),
                "snap_to_m": None if self.snap_to_m is None else round(self.snap_to_m, 1),
                "oneway_respected": self.oneway_respected, "licence": self.licence,
                "stations": [s.to_dict() for s in self.stations]}


def check_end(lon: object, lat: object, end: str) -> tuple[float, float]:
    """:func:`~stationmap.checks.check_point` for one end of a route (``end``: ``from`` or
    ``to``), its message and field naming ``from_lon``, ``to_lat``..."""
    try:
        return check_point(lon, lat)
    except ValidationError as exc:
        raise ValidationError(f"{end}_{exc.message}", field=f"{end}_{exc.field}") from None


def check_max_detour(max_detour: object) -> float:
    """``max_detour`` minutes in (0, :data:`~stationmap.config.MAX_DETOUR_MINUTES`]."""
    return check_positive(max_detour, "max_detour", hi=MAX_DETOUR_MINUTES)


def route_network(networks: Networks, start: tuple[float, float], end: tuple[float, float], mode: str,
                  method: str, settings: Settings | None) -> tuple[Network, Snap, Snap] | None:
    """The network that covers both ends (the one :func:`~stationmap.reach.choose_network` picks
    for the start first, then the others in order) with the two snaps; None for the circle.

    ``method="network"`` raises ValidationError (field ``method``) when none covers both.
    """
    if method == "circle":
        return None
    nets = network_list(networks)
    first, first_snap = choose_network_checked(nets, *start, mode, "auto", settings)
    for net in ([first] if first is not None else []) + [n for n in nets if n is not first]:
        sa = first_snap if net is first else choose_network_checked([net], *start, mode, "auto", settings)[1]
        if sa is None:
            continue
        sb = choose_network_checked([net], *end, mode, "auto", settings)[1]
        if sb is not None:
            return net, sa, sb
    if method == "network":
        for name, point in zip(ENDS, (start, end)):
            _must_be_covered(nets, point, name, mode, settings)
        raise ValidationError("method=network: no one road network covers both the from and the to point; "
                              "use method=auto or circle", field="method")
    return None


def _must_be_covered(nets: list[Network], point: tuple[float, float], end: str, mode: str,
                     settings: Settings | None) -> None:
    """ValidationError (field ``method``) naming the ``end`` when no network covers ``point``."""
    lon, lat = point
    try:
        choose_network_checked(nets, lon, lat, mode, "network", settings)
    except ValidationError as exc:
        raise ValidationError(f"method=network: no road network covers the {end} point (lon {lon:.6f}, "
                              f"lat {lat:.6f} WGS-84): {exc.message}; use method=auto or circle",
                              field="method") from None


def along_route(networks: Networks, index: StationIndex | None, from_lon: float, from_lat: float, to_lon: float,
                to_lat: float, *, mode: str = DEFAULT_MODE, max_detour: float = DEFAULT_MAX_DETOUR_MINUTES,
                k: int = DEFAULT_K, kinds: Iterable[str] | None = None, services: Iterable[str] | None = None,
                open_at: datetime | None = None, method: str = DEFAULT_METHOD,
                settings: Settings | None = None) -> AlongRoute:
    """The ``k`` stations that cost the fewest extra minutes on the way from one WGS-84 point
    to another, within ``max_detour`` minutes, least detour first (ties: the one reached
    sooner, then by id).

    Parameters
    ----------
    networks : Network, list or mapping of them, or None
        The road networks (one that covers both ends serves); None: the circle estimate.
    index : StationIndex or None
        The stations (None: an empty answer).
    from_lon, from_lat, to_lon, to_lat : float
        The start and the destination, WGS-84 degrees.
    mode : str
        One of :data:`stationmap.config.MODES`.
    max_detour : float
        The most extra minutes a station may cost, in (0, :data:`MAX_DETOUR_MINUTES`].
    k : int
        How many, 1 to :data:`~stationmap.config.MAX_K`.
    kinds, services, open_at
        As in :meth:`StationIndex.nearest`; closed stations are left out.
    method : {"auto", "network", "circle"}
        The result's ``method`` says which was used.
    settings : Settings, optional
        Speeds and detour factor (default: the network's, else :func:`stationmap.config.load`).

    Raises
    ------
    ValidationError
        For an argument out of range; ``method="network"`` where no one network covers both
        ends; no way along the roads from the start to the destination (one-way streets).

    Examples
    --------
    >>> from stationmap.index import StationIndex
    >>> index = StationIndex.from_stations([Station(id="a", name="A", lon=120.605, lat=31.301),
    ...                                     Station(id="b", name="B", lon=120.605, lat=31.32)])
    >>> r = along_route(None, index, 120.60, 31.30, 120.61, 31.30, mode="walk")
    >>> r.method, [(s.station.id, round(s.detour_minutes, 2)) for s in r.stations]
    ('circle', [('a', 0.41)])
    """
    a = check_end(from_lon, from_lat, "from")
    b = check_end(to_lon, to_lat, "to")
    check_mode(mode)
    budget = check_max_detour(max_detour)
    k = check_k(k)
    check_method(method)
    straight = float(distances_m(a[0], a[1], [b[0]], [b[1]])[0])
    chosen = route_network(networks, a, b, mode, method, settings)
    filters = {"kinds": kinds or None, "services": services or None, "open_at": open_at}
    if chosen is None:
        settings = settings or _config.load()
        route_min, found = _circle(index, a, b, straight, mode, budget, settings, filters)
        out = AlongRoute(*a, *b, mode, "circle", budget, route_min, straight)
    else:
        net, sa, sb = chosen
        route_min, found = _network(net, sa, sb, index, mode, budget, filters)
        out = AlongRoute(*a, *b, mode, "network", budget, route_min, straight, network=net.name,
                         snap_from_m=sa.distance_m, snap_to_m=sb.distance_m, oneway_respected=net.oneway_known,
                         licence=net.licence or None)
    if index is not None and found:
        slots, detour, reach, onward = found
        stations = [index.station_at(s) for s in slots.tolist()]
        order = sorted(range(len(stations)), key=lambda i: (detour[i], reach[i], stations[i].id))[:k]
        lons, lats = index.lonlat(slots[order])
        metres = distances_m(a[0], a[1], lons, lats).tolist()
        out.stations = [AlongStation(stations[i], float(detour[i]), float(reach[i]), float(onward[i]), m)
                        for i, m in zip(order, metres)]
    return out


_Found = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _circle(index: StationIndex | None, a: tuple[float, float], b: tuple[float, float], straight: float, mode: str,
            budget: float, settings: Settings, filters: dict) -> tuple[float, _Found | None]:
    """The direct minutes and ``(slots, detour, reach, onward)`` minutes of the stations within
    the detour, by the circle estimate (only those in the ellipse can be: all within
    ``d(A, B) + budget`` metres of A)."""
    per_m = minutes_per_metre(mode, settings)
    route = straight * per_m
    if index is None:
        return route, None
    slots, _ = index.within_slots(a[0], a[1], straight + budget / per_m, **filters)
    if not len(slots):
        return route, None
    lons, lats = index.lonlat(slots)
    reach = distances_m(a[0], a[1], lons, lats) * per_m
    onward = distances_m(b[0], b[1], lons, lats) * per_m
    detour = reach + onward - route
    keep = detour <= budget * (1.0 + 1e-12)
    return route, (slots[keep], np.maximum(detour[keep], 0.0), reach[keep], onward[keep])


def _network(net: Network, sa: Snap, sb: Snap, index: StationIndex | None, mode: str, budget: float,
             filters: dict) -> tuple[float, _Found | None]:
    """The direct minutes and the stations within the detour, on the roads of ``net``: one search
    from the start, one (on the reversed graph) to the destination, each station looked up at
    the ends of its road.

    Both searches stop at the direct time plus the detour allowed: no station farther than that
    from the start (or from the destination) can be within the detour.  The direct time is not
    known before the search from the start, so that search is bounded by a guess (twice the
    circle estimate, plus the detour) and runs again, further, only when the destination lies
    beyond it (:func:`_search_from`).
    """
    g = net.graph(mode)
    walk = net.walk_mps()
    budget_s = budget * 60.0
    fwd, route_road = _search_from(net, g, sa, sb, mode, budget_s)
    if not math.isfinite(route_road):
        raise ValidationError(f"no way along the roads of network {net.name!r} by {mode} from the from point to "
                              "the to point (one-way streets or closed roads)", field="to")
    route = (sa.distance_m / walk + route_road + sb.distance_m / walk) / 60.0
    if index is None:
        return route, None
    back = net.search_to(sb, mode=mode, limit_s=route_road + budget_s)
    w, s, e, n = net.bounds
    limit = net.settings.max_snap_m
    pad = limit / 111_000.0
    padx = pad / max(math.cos(math.radians((s + n) / 2.0)), 1e-6)
    slots = index.bbox_slots(max(w - padx, -180), max(s - pad, -90), min(e + padx, 180), min(n + pad, 90),
                             include_closed=False, **filters)
    if not len(slots):
        return route, None
    ed, t, d_off = net.snap_slots(index, slots, mode=mode)
    on = (ed >= 0) & (d_off <= limit)
    slots, ed, t, d_off = slots[on], ed[on], t[on], d_off[on]
    to_x = _road_s(net, g, fwd, sa, ed, t, arrive=True)      # start -> the station's point on the road
    from_x = _road_s(net, g, back, sb, ed, t, arrive=False)  # that point -> destination
    off = d_off / walk
    reach_s = sa.distance_m / walk + to_x + off
    onward_s = off + from_x + sb.distance_m / walk
    detour_s = reach_s + onward_s - route * 60.0
    keep = np.isfinite(detour_s) & (detour_s <= budget_s * (1.0 + 1e-12))
    return route, (slots[keep], np.maximum(detour_s[keep], 0.0) / 60.0, reach_s[keep] / 60.0, onward_s[keep] / 60.0)


def _search_from(net: Network, g: ModeGraph, sa: Snap, sb: Snap, mode: str,
                 budget_s: float) -> tuple[np.ndarray, float]:
    """``(dist, road)``: a search from ``sa`` that reaches at least ``road + budget_s`` seconds, and
    ``road``, the seconds along the roads from ``sa`` to ``sb`` (inf: no way).

    A search bounded by ``limit`` gives exact times up to it; the way to ``sb`` found in it is the
    fastest when it takes no more than ``limit``.  The first bound is a guess; when the way is
    longer, or the guess does not reach ``sb`` at all, the search runs again (four times as far,
    then without a bound).
    """
    straight = float(distances_m(sa.lon, sa.lat, [sb.lon], [sb.lat])[0])
    limit = 2.0 * straight * minutes_per_metre(mode, net.settings) * 60.0 + budget_s + 60.0
    for _ in range(3):
        dist = net.search(sa, mode=mode, limit_s=limit)
        road = float(_road_s(net, g, dist, sa, sb.edge, sb.t, arrive=True))
        if road + budget_s <= limit:
            return dist, road
        limit = road + budget_s if road <= limit else 4.0 * limit
    dist = net.search(sa, mode=mode)
    return dist, float(_road_s(net, g, dist, sa, sb.edge, sb.t, arrive=True))


def _road_s(net: Network, g: ModeGraph, dist: np.ndarray, sn: Snap, e: np.ndarray | int, t: np.ndarray | float, *,
            arrive: bool) -> np.ndarray:
    """Seconds along the roads between a searched point ``sn`` and points ``(e, t)`` on edges.

    ``arrive``: ``dist`` is a search *from* ``sn`` and the points are arrived at (from the
    edge's ``u`` going ``u -> v``, from ``v`` going ``v -> u``, or straight along ``sn``'s own
    edge); else ``dist`` is a search *to* ``sn`` and the points leave (``u -> v`` to ``v``,
    ``v -> u`` to ``u``, or straight along it).  inf where no way is open.
    """
    e = np.asarray(e, dtype=np.int64)
    t = np.asarray(t, dtype=np.float64)
    T = g.edge_s[e]
    fwd_ok = g.can_fwd[e]
    back_ok = g.can_back[e]
    u, v = net.edge_u[e], net.edge_v[e]
    with np.errstate(invalid="ignore"):
        if arrive:
            via_u = np.where(fwd_ok, dist[u] + t * T, np.inf)
            via_v = np.where(back_ok, dist[v] + (1.0 - t) * T, np.inf)
            ahead = t >= sn.t          # the point lies ahead of sn on the u -> v direction
        else:
            via_u = np.where(back_ok, t * T + dist[u], np.inf)
            via_v = np.where(fwd_ok, (1.0 - t) * T + dist[v], np.inf)
            ahead = sn.t >= t          # sn lies ahead of the point
        same = (e == sn.edge) & np.where(ahead, fwd_ok, back_ok)
        direct = np.where(same, np.abs(t - sn.t) * T, np.inf)
        return np.minimum(np.minimum(via_u, via_v), direct)
