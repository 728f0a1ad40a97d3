"""Stations ranked by travel time from a WGS-84 point: :func:`rank_stations`.

On a road network, one search (:meth:`~stationmap.network.Network.nearest_targets`)
times the candidate stations and stops once the ``k`` fastest are known
(:func:`rank_within` under a time limit; without one, candidates by straight line
first, then more, as :func:`_rank_nearest` explains); elsewhere the circle estimate
(:func:`circle_times`).  Results: :class:`Ranking` of :class:`StationTime`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from stationmap import config as _config
from stationmap.checks import check_k, check_method, check_minutes, check_mode, check_point
from stationmap.config import DEFAULT_METHOD, DEFAULT_MODE, MAX_K
from stationmap.index import distances_m
from stationmap.model import Station
from stationmap.reach.choose import choose_network_checked
from stationmap.reach.circle import circle_radius_m, minutes_per_metre

if TYPE_CHECKING:
    from stationmap.config import Settings
    from stationmap.index import Hit, StationIndex
    from stationmap.network import Network, Snap
    from stationmap.reach.choose import Networks


@dataclass(slots=True)
class StationTime:
    """A station with its travel time.

    ``minutes``: network minutes (or the circle estimate); ``distance_m``: the
    length of the route (off-road parts included; the circle method reports
    ``straight_m x detour_factor``); ``straight_m``: geodesic distance.
    """

    station: Station
    minutes: float
    distance_m: float
    straight_m: float

    def to_dict(self) -> dict:
        """The station's dict with ``minutes``, ``distance_m`` and ``straight_m`` (rounded)."""
        d = self.station.to_dict()
        d.update(minutes=round(self.minutes, 2), distance_m=round(self.distance_m, 1),
                 straight_m=round(self.straight_m, 1))
        return d


@dataclass
class Ranking:
    """Stations ranked by travel time from one WGS-84 point."""

    lon: float
    lat: float
    mode: str
    method: str                 # "network" or "circle"
    minutes: float | None       # the limit asked for (None: no limit)
    stations: list[StationTime] = field(default_factory=list)    # fastest first
    network: str | None = None
    snap_m: float | None = None   # query point to the road (network method)
    #: the network keeps to one-way streets (False: no one-way data, optimistic times); None: circle
    oneway_respected: bool | None = None
    #: the network data's licence and credit (network method; None when unknown or for the circle)
    licence: str | None = None

    def to_dict(self) -> dict:
        return {"datum": "wgs84", "query": {"lon": self.lon, "lat": self.lat}, "mode": self.mode,
                "method": self.method, "network": self.network, "minutes": self.minutes,
                "snap_m": None if self.snap_m is None else round(self.snap_m, 1),
                "oneway_respected": self.oneway_respected, "licence": self.licence,
                "stations": [s.to_dict() for s in self.stations]}


def circle_times(hits: Iterable[Hit], mode: str, settings: Settings) -> list[StationTime]:
    """StationTime of index hits (``station``, ``distance_m``) by the circle estimate
    (:func:`circle_minutes`; the route ``straight_m x detour_factor``), in their order
    (on Python floats: a ranking has a handful, where numpy costs more than it saves)."""
    per_m, detour = minutes_per_metre(mode, settings), settings.detour_factor
    return [StationTime(h.station, h.distance_m * per_m, h.distance_m * detour, h.distance_m) for h in hits]


def _candidate_slots(index: StationIndex | None, lon: float, lat: float, radius_m: float | None, *,
                     kinds: Iterable[str] | None, services: Iterable[str] | None, open_at: datetime | None,
                     net: Network | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Index slots and straight-line metres (arrays) of the stations that may be reached: within
    ``radius_m`` (None: anywhere on ``net``), filtered as :meth:`StationIndex.within_slots`."""
    if index is None:
        return np.empty(0, np.int64), np.empty(0)
    if radius_m is not None:
        return index.within_slots(lon, lat, radius_m, kinds=kinds, services=services, open_at=open_at)
    if net is None:
        raise TypeError("_candidate_slots: radius_m=None (anywhere on the network) needs net")
    w, s, e, n = net.bounds
    pad = net.settings.max_snap_m / 111_000.0
    padx = pad / max(math.cos(math.radians(lat)), 1e-6)
    slots = index.bbox_slots(max(w - padx, -180), max(s - pad, -90), min(e + padx, 180), min(n + pad, 90),
                             kinds=kinds, services=services, open_at=open_at, include_closed=False)
    if not len(slots):
        return slots, np.empty(0)
    lons, lats = index.lonlat(slots)
    return slots, distances_m(lon, lat, lons, lats)


def rank_within(net: Network, snap: Snap, index: StationIndex | None, lon: float, lat: float, mode: str,
                budget_s: float, k: int | None, filters: dict) -> list[StationTime]:
    """The first ``k`` stations (None: all) reached within ``budget_s`` seconds, fastest
    first: only stations inside the straight-line radius the fastest road speed covers in
    that time can be reached, and the search goes no farther than the budget."""
    if index is None:   # (no stations to reach)
        return []
    radius = net.max_speed_mps(mode) * budget_s * (1.0 + 1e-6) + 1.0
    slots, straight = _candidate_slots(index, lon, lat, radius, **filters)
    return _fastest(net, snap, mode, index, slots, straight, len(slots) if k is None else k, budget_s)


def _fastest(net: Network, snap: Snap, mode: str, index: StationIndex, slots: np.ndarray, straight: np.ndarray,
             k: int, budget_s: float = np.inf, *, strict: bool = False) -> list[StationTime]:
    """The ``k`` fastest of the candidate stations (index ``slots``, ``straight`` metres away)
    reached within ``budget_s`` (``strict``: in less; StationTime, fastest first, ties by id): one
    :meth:`~stationmap.network.Network.nearest_targets` search, which stops once the
    ``k`` fastest are known; metres along the way for those ``k`` only."""
    if not len(slots):
        return []
    off_s = snap.distance_m / net.walk_mps()
    e, t, d_off = net.snap_slots(index, slots, mode=mode)
    att_node, att_target, att_s, n_fwd, direct, cost = net.attachments(snap, e, t, d_off, mode=mode)
    tgt, total, _, att, pred = net.nearest_targets(
        snap, mode=mode, k=k, att_node=att_node, att_target=att_target, att_s=att_s, direct_s=direct,
        cost_s=cost, limit_s=budget_s - off_s)
    keep = np.isfinite(total) & ((total < budget_s) if strict else (total <= budget_s + 1e-9))
    tgt, total, att = tgt[keep], total[keep], att[keep]
    if not len(tgt):
        return []
    stations = [index.station_at(s) for s in slots[tgt].tolist()]
    minutes = (total / 60.0).tolist()
    order = sorted(range(len(tgt)), key=lambda i: (minutes[i], stations[i].id))[:k]
    tgt, total, att = tgt[order], total[order], att[order]
    stations = [stations[i] for i in order]
    # metres: to the node the way came through, then along the edge (or just along it)
    L = net.edge_length_m[e[tgt]]
    tt = t[tgt]
    via = np.where(att >= 0, att_node[np.maximum(att, 0)], 0)
    at_node = net.node_lengths(snap, pred, via, mode=mode)
    road_m = np.where(att < 0, np.abs(tt - snap.t) * L,
                      at_node + np.where((att >= 0) & (att < n_fwd), tt, 1.0 - tt) * L)
    metres = snap.distance_m + road_m + d_off[tgt]
    return [StationTime(st, s / 60.0, m, d)
            for st, s, m, d in zip(stations, total.tolist(), metres.tolist(), straight[tgt].tolist())]


#: rounds of :func:`_rank_nearest` with more candidates before it takes every station on the network
_ROUNDS = 3
#: :func:`_rank_nearest`'s first candidates: this many times ``k``
_FIRST_CANDIDATES = 8


def _rank_nearest(net: Network, snap: Snap, index: StationIndex | None, lon: float, lat: float, mode: str, k: int,
                  filters: dict[str, Any]) -> list[StationTime]:
    """The ``k`` stations fastest to reach, with no time limit (exact).

    Timing every station on the network costs milliseconds; the answer is
    usually a few minutes away.  So: the ``8 k`` stations nearest by straight
    line are the candidates.  Every other station is at least as far as the
    farthest of them, ``d``, and no way to it (off-road walks included) is
    faster than the mode's top speed, so it takes at least ``d / top speed``:
    the candidates timed faster than that (:func:`_fastest`, whose search stops
    there too) are the fastest of all stations.  If fewer than ``k`` are, four
    times the candidates, and so on; after :data:`_ROUNDS` rounds, every
    station on the network.
    """
    if index is None:
        return []
    vmax = net.max_speed_mps(mode)
    want = _FIRST_CANDIDATES * k
    nearest_kw = {"kinds": filters["kinds"] or None, "services": filters["services"] or None,
                  "open_at": filters["open_at"]}
    for _ in range(_ROUNDS):
        slots, straight = index.nearest_slots(lon, lat, k=min(want, MAX_K), **nearest_kw)
        if not len(slots):
            return []
        everyone = len(slots) < min(want, MAX_K)
        # (straight-line metres from the index are geodesic; road lengths are measured in the
        # network's projection: a thousandth of slack covers its scale error)
        bound = np.inf if everyone else float(straight[-1]) / vmax * (1.0 - 1e-3)
        ranked = _fastest(net, snap, mode, index, slots, straight, k, bound, strict=True)
        if len(ranked) >= k or everyone:
            return ranked
        if want >= MAX_K:
            break
        want *= 4
    slots, straight = _candidate_slots(index, lon, lat, None, net=net, **filters)
    return _fastest(net, snap, mode, index, slots, straight, k)


def rank_stations(network: Networks, index: StationIndex | None, lon: float, lat: float, *, mode: str = DEFAULT_MODE,
                  minutes: float | None = None, k: int = 5, kinds: Iterable[str] | None = None,
                  services: Iterable[str] | None = None, open_at: datetime | None = None, method: str = DEFAULT_METHOD,
                  settings: Settings | None = None) -> Ranking:
    """The ``k`` stations fastest to reach from a WGS-84 point, fastest first.

    Parameters
    ----------
    network : Network, list of Network, dict of str to Network, or None
        The road networks (the first that covers the point serves); None: the circle
        estimate only.
    index : StationIndex or None
        The stations (None: an empty ranking).
    lon, lat : float
        The start, WGS-84 degrees.
    mode : str
        One of :data:`stationmap.config.MODES`.
    minutes : float, optional
        Only stations within this many minutes (None: no limit).
    k : int
        How many, 1 to :data:`MAX_K`.
    kinds, services, open_at
        As in :meth:`StationIndex.nearest`; closed stations are left out.
    method : {"auto", "network", "circle"}
        The result's ``method`` says which was used.
    settings : Settings, optional
        Speeds and detour factor (default: the network's, else :func:`stationmap.config.load`).

    Returns
    -------
    Ranking
        ``stations``: :class:`StationTime` (minutes, distance_m along the roads,
        straight_m), fastest first, ties by id.

    Raises
    ------
    ValidationError
        For an argument out of range, or ``method="network"`` where no network covers
        the point.

    Examples
    --------
    >>> from stationmap.index import StationIndex
    >>> from stationmap.model import Station
    >>> index = StationIndex.from_stations([Station(id="a", name="A", lon=120.61, lat=31.30)])
    >>> r = rank_stations(None, index, 120.60, 31.30, mode="walk")
    >>> r.method, [(s.station.id, round(s.minutes)) for s in r.stations]
    ('circle', [('a', 15)])
    """
    lon, lat = check_point(lon, lat)
    check_mode(mode)
    minutes = check_minutes(minutes, allow_none=True)
    k = check_k(k)
    check_method(method)
    net, snap = choose_network_checked(network, lon, lat, mode, method, settings)
    settings = settings or (net.settings if net is not None else _config.load())
    if net is None or snap is None:     # (both or neither)
        if index is None:
            hits = []
        elif minutes is None:
            hits = index.nearest(lon, lat, k=k, kinds=kinds or None, services=services or None,
                                 open_at=open_at)
        else:
            hits = index.within(lon, lat, circle_radius_m(minutes, mode, settings), kinds=kinds,
                                services=services, open_at=open_at)[:k]
        return Ranking(lon, lat, mode, "circle", minutes, circle_times(hits, mode, settings))
    filters = {"kinds": kinds, "services": services, "open_at": open_at}
    if minutes is not None:
        ranked = rank_within(net, snap, index, lon, lat, mode, minutes * 60.0, k, filters)
    else:
        ranked = _rank_nearest(net, snap, index, lon, lat, mode, k, filters)
    return Ranking(lon, lat, mode, "network", minutes, ranked, net.name, snap.distance_m,
                   oneway_respected=net.oneway_known, licence=net.licence or None)
