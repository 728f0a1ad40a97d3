"""JSON API, version 1 (``/api/v1``): the views.

Views check their arguments at the edge (:mod:`stationmap.web.params`: every
bad value is a :class:`~stationmap.errors.ValidationError`, answered with 400 and
``{"error": {"code", "message", "field"}}``), call the library and answer
GeoJSON / JSON (:mod:`stationmap.web.features`).  The OpenAPI document is
:mod:`stationmap.web.openapi`; the prose is ``docs/api.md``.

Ranking: ``/nearest`` ranks with :func:`stationmap.reach.rank_stations` (by
road where a network covers the point, the circle estimate elsewhere).  Another
ranking plugs in as a function put in ``state().rank`` (see
:attr:`stationmap.web.state.AppState.rank`).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, NamedTuple, cast

from flask import Blueprint, Response, current_app, request, url_for
from werkzeug.http import is_resource_modified

from stationmap import feed, reports
from stationmap.along import along_route
from stationmap.bulk import no_gc
from stationmap.config import MODES, OFFLINE_RADIUS_M
from stationmap.coords import from_wgs84, to_wgs84
from stationmap.districts import BOUNDARY_TOLERANCE_DEG
from stationmap.errors import NotFoundError, ValidationError
from stationmap.geojson import polygon_geometry
from stationmap.hours import open_checker
from stationmap.labels import oneway_notes
from stationmap.maps.nav import client_of, in_app_browser, nav_links_many
from stationmap.reach import StationTime, circle_radius_m, isochrone, rank_stations
from stationmap.web.features import (
    PRECISION,
    cached_response,
    collection,
    dumps,
    features,
    geojson_response,
    json_response,
)
from stationmap.web.http import api_response, evict, user_agent
from stationmap.web.openapi import document_for_app
from stationmap.web.params import (
    ALONG,
    AT,
    BBOX,
    BOUNDARIES,
    CHANGES,
    DATUM,
    DISTRICT,
    DISTRICTS,
    FIELDS,
    FROM_LAT,
    FROM_LON,
    KIND,
    LANG,
    LAT,
    LEVEL,
    LIMIT,
    LON,
    MAX_DETOUR,
    METHOD,
    MINUTES,
    MODE,
    NEAREST,
    OFFLINE,
    OFFSET,
    OPEN_NOW,
    ORDER,
    OUT_DATUM,
    REACH,
    REACH_MINUTES,
    SCOPE,
    SERVICE,
    SINCE,
    STATION,
    STATIONS,
    STATUS,
    TO_LAT,
    TO_LON,
    K,
    Params,
    iso_time,
    names,
    now,
)
from stationmap.web.state import (
    boundary_features,
    district_counts,
    district_members,
    district_scope,
    freshness,
    freshness_members,
    sorted_stations,
    state,
)
from stationmap.within import none_within

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from stationmap.config import Settings
    from stationmap.index import StationIndex
    from stationmap.reach import Ranking
    from stationmap.web.state import AppState

bp = Blueprint("api", __name__, url_prefix="/api/v1")

_NEAREST = names(NEAREST)
_OFFLINE = names(OFFLINE)
_REACH = names(REACH)
_ALONG = names(ALONG)
_STATIONS = names(STATIONS)
_STATION = names(STATION)
_DISTRICTS = names(DISTRICTS)
_BOUNDARIES = names(BOUNDARIES)
_CHANGES = names(CHANGES)
_FEED_LIMIT = next(p for p in CHANGES if p.name == "limit")


def _point_query(p: Params, settings: Settings, *, ranges: bool = False) -> tuple:
    """The arguments /nearest and /reach share, checked: lat, lon, datum, out_datum,
    kinds, services, open_now, at, mode, minutes (default: ``settings.minutes``; with
    ``ranges``, a list: /reach's several ranges), method."""
    lat = p.number(LAT)
    lon = p.number(LON)
    datum, out_datum = p.choice(DATUM), p.choice(OUT_DATUM)
    kinds, services, open_now, at = _filters(p)
    mode = p.choice(MODE)
    minutes = p.numbers(REACH_MINUTES, settings.minutes) if ranges else p.number(MINUTES, settings.minutes)
    method = p.choice(METHOD)
    return lat, lon, datum, out_datum, kinds, services, open_now, at, mode, minutes, method


def _filters(p: Params) -> tuple[tuple[str, ...], tuple[str, ...], bool, datetime | None]:
    """The station filters every search shares, checked: kinds, services, open_now, at."""
    return p.many(KIND), p.many(SERVICE), p.boolean(OPEN_NOW), p.when(AT)


class LayerQuery(NamedTuple):
    """What the map layers' answers (``/stations``, ``/tiles``) ask, checked: the station filters,
    the features' fields and language, and the moment (``at`` as asked; ``when``: it, else now)."""

    kinds: tuple[str, ...]
    services: tuple[str, ...]
    open_now: bool
    at: datetime | None
    statuses: tuple[str, ...]
    prefix: str | None
    scope: str | None
    fields: tuple[str, ...] | None
    lang: str | None
    when: datetime


def layer_query(p: Params) -> LayerQuery:
    """The :class:`LayerQuery` of a request's parameters ``p``."""
    kinds, services, open_now, at = _filters(p)
    return LayerQuery(kinds, services, open_now, at, p.many(STATUS), p.prefix(DISTRICT), p.one(SCOPE.name),
                      p.many(FIELDS) or None, p.choice(LANG), at or now()[0])


def _rank_by_time(st: AppState, lon: float, lat: float, *, k: int, mode: str, kinds: Iterable[str] = (),
                  services: Iterable[str] = (), open_at: datetime | None = None, method: str = "auto",
                  index: StationIndex | None = None) -> Ranking:
    """:func:`stationmap.reach.rank_stations` over the networks and index (default: the whole
    index) of the AppState ``st``, for a WGS-84 point.

    ``method="network"`` where no network covers the point raises
    ValidationError naming ``method`` and the point.
    """
    try:
        return rank_stations(st.networks, st.index if index is None else index, lon, lat, mode=mode, k=k,
                             kinds=kinds or None, services=services or None, open_at=open_at, method=method,
                             settings=st.settings)
    except ValidationError as exc:
        raise _no_network(exc, method, lon, lat) from None


def _no_network(exc: ValidationError, method: str, lon: float, lat: float) -> ValidationError:
    """With ``method=network``, a snapping failure becomes a 400 on ``method``; else ``exc`` as is."""
    if method != "network" or exc.field not in ("method", "point"):
        return exc
    return ValidationError(f"method=network: no road network covers the point (lon {lon:.6f}, "
                           f"lat {lat:.6f} WGS-84): {exc.message}; use method=auto or circle", field="method")


@bp.get("/nearest")
def nearest() -> Response:
    """The stations quickest to reach from a point, quickest first (GeoJSON FeatureCollection).

    Minutes by road where a network covers the point (``method=auto``, the
    default, or ``network``), the circle estimate elsewhere (or ``circle``).
    """
    st = state()
    settings = st.settings
    p = Params(_NEAREST)
    lat, lon, datum, out_datum, kinds, services, open_now, at, mode, minutes, method = _point_query(p, settings)
    k = p.integer(K)
    order = p.choice(ORDER)
    lang: str | None = p.choice(LANG)
    wlon, wlat = (lon, lat) if datum == "wgs84" else to_wgs84(lon, lat, datum)
    at_, at_text = (at, iso_time(at)) if at else now()
    open_at = at_ if open_now else None
    index, neighbours = st.index, None
    if (scope_adcode := p.one(SCOPE.name)) is not None:  # a district's embed: its stations and its neighbours'
        sc, index = district_scope(scope_adcode)
        neighbours = sc.neighbour_ids

    def ranked_times(open_at: datetime | None) -> tuple:
        rank = st.rank
        if rank is not None:  # a ranking put in state().rank
            ranked = rank(index, wlon, wlat, k=k, mode=mode, settings=settings, kinds=kinds, services=services,
                          open_at=open_at)
            return (getattr(rank, "method", "custom"), None, None,
                    [StationTime(r.station, r.minutes, r.distance_m, r.distance_m) for r in ranked], None, None)
        ranking = _rank_by_time(st, wlon, wlat, k=k, mode=mode, kinds=kinds, services=services,
                                open_at=open_at, method=method, index=index)
        return (ranking.method, ranking.network, ranking.snap_m, ranking.stations, ranking.oneway_respected,
                ranking.licence)

    used, net_name, snap_m, times, oneway_respected, licence = ranked_times(open_at)
    if order == "open_first" and open_at is None:
        # the k quickest open then; after them the closed ones among the k quickest overall
        is_open = open_checker(at_, services)
        closed = [t for t in times if not is_open(t.station)]
        if closed:
            times = ranked_times(at_)[3] + closed
    stations = [t.station for t in times]
    ua = user_agent()
    navs = nav_links_many([s.lon for s in stations], [s.lat for s in stations], [s.name for s in stations],
                          mode=mode, origin_wgs84=(wlon, wlat), origin_name="我的位置", client=client_of(ua))
    on_roads = used == "network"    # distance_m: along the roads; else the geodesic distance
    extra = [{"distance_m": round(t.distance_m if on_roads else t.straight_m, 1), "straight_m": round(t.straight_m, 1),
              "minutes": round(t.minutes, 1), "within_minutes": bool(t.minutes <= minutes), "nav": nav}
             for t, nav in zip(times, navs)]
    if neighbours is not None:
        for s, e in zip(stations, extra):
            e["neighbour"] = s.id in neighbours
    # nothing of the asked kind within the limit: say so and name the nearest (one rule everywhere)
    nothing = none_within(((t.station.id, t.station.name, t.minutes, t.distance_m if on_roads else t.straight_m)
                           for t in times), minutes, kinds=kinds, services=services, on_roads=on_roads)
    if nothing is not None and nothing.nearest is not None:   # its English name, for the English sentence
        name_en = next((t.station.name_en for t in times if t.station.id == nothing.nearest.id), "")
        if name_en:
            nothing = replace(nothing, nearest=replace(nothing.nearest, name_en=name_en))
    qlon, qlat = (wlon, wlat) if out_datum == "wgs84" else from_wgs84(wlon, wlat, out_datum)
    speed = settings.speed_kmh(mode)
    head = {
        "type": "FeatureCollection",
        "datum": out_datum,
        "method": used,
        "network": net_name,
        "oneway_respected": oneway_respected,
        "oneway_note": oneway_notes(oneway_respected),
        "network_licence": licence,
        "sample": any(s.is_sample for s in stations),
        "query": {"lon": round(qlon, PRECISION), "lat": round(qlat, PRECISION), "mode": mode,
                  "minutes": minutes, "k": k, "order": order, "at": at_text, "method": method},
        "reach": {
            "method": used,
            "network": net_name,
            "snap_m": None if snap_m is None else round(snap_m, 1),
            "speed_kmh": speed,
            "detour_factor": settings.detour_factor,
            "radius_m": round(circle_radius_m(minutes, mode, settings), 1),
        },
        "none_within": None if nothing is None else nothing.to_dict(),
        # the nav links were built for this browser: an in-app one (WeChat, QQ, ...) gets web pages
        "in_app_browser": in_app_browser(ua),
        "features": [],
    }
    # the features from their cached pieces (features.feature_parts), with this request's properties
    # the nav links were made for this browser (User-Agent)
    return geojson_response(collection(head, stations, out_datum=out_datum, at=at_, extra=extra, services=services,
                                       lang=lang, members=freshness_members(stations)), vary=("User-Agent",))


@bp.get("/offline")
def offline_area() -> Response:
    """What the finder keeps on the device to work with no network: every station not closed
    within :data:`~stationmap.config.OFFLINE_RADIUS_M` of a point, nearest first, with its hours
    (``opening_hours``, ``service_hours``, ``status``, ``reopens_on``: the device works out open
    now from them, ``static/js/offline.js``) and its navigation links for each travel mode (from
    the phone's position, for this browser: :func:`stationmap.maps.nav.client_of`), and the circle
    estimate's speeds and detour factor (the device ranks by them), with the time it was made."""
    st = state()
    settings = st.settings
    p = Params(_OFFLINE)
    # (required: Params refuses a request without them)
    lat, lon = cast("float", p.number(LAT)), cast("float", p.number(LON))
    datum = p.choice(DATUM)
    lang: str | None = p.choice(LANG)
    wlon, wlat = (lon, lat) if datum == "wgs84" else to_wgs84(lon, lat, datum)
    hits = st.index.within(wlon, wlat, OFFLINE_RADIUS_M)
    stations = [h.station for h in hits]
    ua = user_agent()
    client = client_of(ua)
    lons, lats, labels_ = [s.lon for s in stations], [s.lat for s in stations], [s.name for s in stations]
    by_mode = {m: nav_links_many(lons, lats, labels_, mode=m, client=client) for m in MODES}
    extra = [{"nav": {m: by_mode[m][i] for m in MODES}} for i in range(len(stations))]
    at_, at_text = now()
    head = {
        "type": "FeatureCollection",
        "datum": "wgs84",
        "fetched_at": at_text,
        "center": {"lon": round(wlon, PRECISION), "lat": round(wlat, PRECISION)},
        "radius_m": OFFLINE_RADIUS_M,
        "speeds_kmh": {m: settings.speed_kmh(m) for m in MODES},
        "detour_factor": settings.detour_factor,
        "minutes": settings.minutes,
        "in_app_browser": in_app_browser(ua),
        "sample": any(s.is_sample for s in stations),
        "features": [],
    }
    return geojson_response(collection(head, stations, out_datum="wgs84", at=at_, extra=extra, lang=lang),
                            vary=("User-Agent",))


@bp.get("/reach")
def reach_area() -> Response:
    """The area reachable from a point in ``minutes`` (isochrone), and the stations in it (GeoJSON).

    By road where a network covers the point, else the circle of radius
    minutes x speed / detour factor.  Several ranges (``minutes=5,10,15``) give one
    nested area each, smallest first.  Each area says the people in it
    (:func:`stationmap.coverage.people_within`: the districts' demand layers, else the census).
    """
    from stationmap.coverage.demand import people_within

    st = state()
    p = Params(_REACH)
    lat, lon, datum, out_datum, kinds, services, open_now, at, mode, ranges, method = _point_query(
        p, st.settings, ranges=True)
    lang: str | None = p.choice(LANG)
    wlon, wlat = (lon, lat) if datum == "wgs84" else to_wgs84(lon, lat, datum)
    wlon, wlat = float(wlon), float(wlat)
    at_, at_text = (at, iso_time(at)) if at else now()
    try:
        isos = [isochrone(wlon, wlat, minutes, mode, network=st.networks, index=st.index, method=method,
                          kinds=kinds or None, services=services or None, open_at=at_ if open_now else None,
                          settings=st.settings) for minutes in ranges]
    except ValidationError as exc:
        raise _no_network(exc, method, wlon, wlat) from None
    iso = isos[-1]     # the largest: its method, network and stations answer
    qlon, qlat = (wlon, wlat) if out_datum == "wgs84" else from_wgs84(wlon, wlat, out_datum)
    areas: list[dict[str, Any]] = []
    for one in isos:
        people = people_within(one.polygon, settings=st.settings)
        areas.append({"type": "Feature", "id": "isochrone" if len(isos) == 1 else f"isochrone-{one.minutes:g}",
                      "geometry": polygon_geometry(one.polygon, datum=out_datum),
                      "properties": {"role": "isochrone", "method": one.method, "network": one.network,
                                     "minutes": one.minutes, "mode": mode, "area_km2": round(one.area_km2, 4),
                                     "snap_m": None if one.snap_m is None else round(one.snap_m, 1),
                                     "resolution_m": one.resolution_m, "stations": len(one.stations),
                                     "people": None if people["people"] is None else round(people["people"]),
                                     "people_from": {"raster": people["raster"], "census": people["census"]}}})
    stations = [s.station for s in iso.stations]
    extra = [{"role": "station", "minutes": round(s.minutes, 1),
              "distance_m": round(s.distance_m if iso.method == "network" else s.straight_m, 1),
              "straight_m": round(s.straight_m, 1)} for s in iso.stations]
    feats = [*areas, *features(stations, out_datum=out_datum, at=at_, extra=extra, services=services, lang=lang)]
    return geojson_response({
        "type": "FeatureCollection",
        "datum": out_datum,
        "method": iso.method,
        "network": iso.network,
        "oneway_respected": iso.oneway_respected,
        "oneway_note": oneway_notes(iso.oneway_respected),
        "network_licence": iso.licence,
        "area_km2": round(iso.area_km2, 4),
        "people": areas[-1]["properties"]["people"],
        "sample": any(s.is_sample for s in stations),
        "query": {"lon": round(float(qlon), PRECISION), "lat": round(float(qlat), PRECISION), "mode": mode,
                  "minutes": ranges[0] if len(ranges) == 1 else ranges, "method": method, "at": at_text},
        "features": feats,
    })


@bp.get("/along")
def along() -> Response:
    """The stations on the way from a start to a destination that cost the fewest extra minutes
    (detour: time to the station and on to the destination, less the direct way's), least detour
    first, within ``max_detour`` (GeoJSON FeatureCollection; :func:`stationmap.along.along_route`).

    Along the roads where one network covers both points (``method=auto``, the default, or
    ``network``), the circle estimate elsewhere (or ``circle``).
    """
    st = state()
    p = Params(_ALONG)
    # (required: a missing one is a 400, so the NaN default is never returned)
    flat, flon, tlat, tlon = (p.number(spec, math.nan) for spec in (FROM_LAT, FROM_LON, TO_LAT, TO_LON))
    datum, out_datum = p.choice(DATUM), p.choice(OUT_DATUM)
    kinds, services, open_now, at = _filters(p)
    k = p.integer(K)
    mode = p.choice(MODE)
    max_detour = p.number(MAX_DETOUR, MAX_DETOUR.default)
    method = p.choice(METHOD)
    lang: str | None = p.choice(LANG)
    if datum == "wgs84":
        (alon, alat), (blon, blat) = (flon, flat), (tlon, tlat)
    else:
        (alon, alat), (blon, blat) = to_wgs84(flon, flat, datum), to_wgs84(tlon, tlat, datum)
    alon, alat, blon, blat = float(alon), float(alat), float(blon), float(blat)
    at_, at_text = (at, iso_time(at)) if at else now()
    route = along_route(st.networks, st.index, alon, alat, blon, blat, mode=mode, max_detour=max_detour, k=k,
                        kinds=kinds, services=services, open_at=at_ if open_now else None, method=method,
                        settings=st.settings)
    stations = [s.station for s in route.stations]
    ua = user_agent()
    navs = nav_links_many([s.lon for s in stations], [s.lat for s in stations], [s.name for s in stations],
                          mode=mode, origin_wgs84=(alon, alat), origin_name="我的位置", client=client_of(ua))
    extra = [{"detour_minutes": round(s.detour_minutes, 1), "minutes": round(s.minutes, 1),
              "onward_minutes": round(s.onward_minutes, 1), "straight_m": round(s.straight_m, 1), "nav": nav}
             for s, nav in zip(route.stations, navs)]

    def out(lon: float, lat: float) -> dict:
        x, y = (lon, lat) if out_datum == "wgs84" else from_wgs84(lon, lat, out_datum)
        return {"lon": round(float(x), PRECISION), "lat": round(float(y), PRECISION)}

    head: dict[str, Any] = {
        "type": "FeatureCollection",
        "datum": out_datum,
        "method": route.method,
        "network": route.network,
        "oneway_respected": route.oneway_respected,
        "oneway_note": oneway_notes(route.oneway_respected),
        "network_licence": route.licence,
        "sample": any(s.is_sample for s in stations),
        "query": {"from": out(alon, alat), "to": out(blon, blat), "mode": mode, "max_detour": max_detour, "k": k,
                  "at": at_text, "method": method},
        "route": {
            "minutes": round(route.route_minutes, 1),
            "straight_m": round(route.straight_m, 1),
            "snap_from_m": None if route.snap_from_m is None else round(route.snap_from_m, 1),
            "snap_to_m": None if route.snap_to_m is None else round(route.snap_to_m, 1),
            "speed_kmh": st.settings.speed_kmh(mode),
            "detour_factor": st.settings.detour_factor,
        },
        "in_app_browser": in_app_browser(ua),   # the nav links were built for this browser
        "features": [],
    }
    return geojson_response(collection(head, stations, out_datum=out_datum, at=at_, extra=extra, services=services,
                                       lang=lang, members=freshness_members(stations)), vary=("User-Agent",))


@bp.get("/stations")
def stations() -> Response:
    """Stations matching filters, in id order, a page at a time (GeoJSON FeatureCollection)."""
    p = Params(_STATIONS)
    datum, out_datum = p.choice(DATUM), p.choice(OUT_DATUM)
    bbox = p.bbox(BBOX)
    kinds, services, open_now, at, statuses, prefix, scope_adcode, fields, lang, at_ = layer_query(p)
    limit = p.integer(LIMIT)
    offset = p.integer(OFFSET)
    # Without ``at`` the answer depends on the minute (open_now) and the stations
    # only: the finder's marker layer (10,000 stations) is built once a minute.
    st = state()
    etag, modified = validators(st, None if at else at_)
    if not is_resource_modified(request.environ, etag=etag, last_modified=modified):
        return not_modified(etag, modified)
    cache_key = None
    if at is None:
        cache_key = (id(st.index), st.index.revision, len(st.index), at_.strftime("%Y%m%d%H%M"),
                     request.script_root, tuple(sorted(request.args.items(multi=True))))
        hit = st.stations_bodies.get(cache_key)
        if hit is not None:
            return validated(cached_response(hit, cache_key), etag, modified)
    if bbox is not None and datum != "wgs84":
        # the box's corners to WGS-84; the box around them (the shift is smooth over a city)
        import numpy as np

        lons, lats = to_wgs84(np.asarray([bbox[0], bbox[2], bbox[0], bbox[2]], dtype=float),
                              np.asarray([bbox[1], bbox[3], bbox[3], bbox[1]], dtype=float), datum)
        bbox = (float(min(lons)), float(min(lats)), float(max(lons)), float(max(lats)))
    kind_set, service_set = set(kinds), set(services)
    is_open = open_checker(at_, services)
    matched = []
    candidates, neighbours = sorted_stations(), None
    if scope_adcode is not None:  # a district's embed: its own stations first, then its neighbours'
        sc = district_scope(scope_adcode)[0]
        candidates, neighbours = sc.stations(), sc.neighbour_ids
    for s in candidates:
        if bbox is not None and not (bbox[0] <= s.lon <= bbox[2] and bbox[1] <= s.lat <= bbox[3]):
            continue
        if kind_set and kind_set.isdisjoint(s.kinds):
            continue
        if service_set and not service_set.issubset(s.services):
            continue
        if statuses and s.status not in statuses:
            continue
        if prefix is not None and not s.adcode.startswith(prefix):
            continue
        if open_now and not is_open(s):
            continue
        matched.append(s)
    page = matched[offset:offset + limit]
    nxt = None
    if offset + limit < len(matched):
        args: dict[str, Any] = request.args.to_dict(flat=False)
        args["offset"] = [str(offset + limit)]
        nxt = url_for("api.stations", _external=False, **args)
    head = {
        "type": "FeatureCollection",
        "datum": out_datum,
        "sample": any(s.is_sample for s in page),
        "total": len(matched),
        "limit": limit,
        "offset": offset,
        "next": nxt,
        "features": [],
    }
    with no_gc(len(page) > 1000):
        extra = None if neighbours is None else [{"neighbour": s.id in neighbours} for s in page]
        body = collection(head, page, out_datum=out_datum, at=at_, fields=fields, services=services, extra=extra,
                          lang=lang)
    if cache_key is not None:
        evict(st.stations_bodies, 8)
        st.stations_bodies[cache_key] = body
    return validated(cached_response(body, cache_key), etag, modified)


def validators(st: AppState, minute: datetime | None) -> tuple[str, datetime | None]:
    """The ``ETag`` and ``Last-Modified`` of a /stations or /tiles answer: what it depends on is the
    data revision (the index's, in step with the store's change log), the path and query and,
    without ``at``, the minute (``minute``: its ``open_now``).  Last-Modified is when that revision
    was written (and, without ``at``, no earlier than the minute began); None for a store never written."""
    rev = st.index.revision
    args = tuple(sorted(request.args.items(multi=True)))
    tag = hashlib.blake2b(repr((rev, len(st.index), request.script_root, request.path, args,
                                None if minute is None else minute.strftime("%Y%m%d%H%M"))).encode(),
                          digest_size=12).hexdigest()
    modified = _revision_time(st, rev)
    if minute is not None:
        start = minute.astimezone(timezone.utc).replace(second=0, microsecond=0)
        modified = start if modified is None or start > modified else modified
    return f"r{rev}-{tag}", modified


def _revision_time(st: AppState, rev: int) -> datetime | None:
    """When the store's revision ``rev`` was written (None for a store never written), remembered."""
    times = st.revision_times
    if rev not in times:
        evict(times, 64)
        times[rev] = st.store.revision_time(rev)
    return cast("datetime | None", times[rev])


def validated(resp: Response, etag: str, modified: datetime | None) -> Response:
    resp.set_etag(etag, weak=True)  # weak: the same for the gzip and the identity encodings
    if modified is not None:
        resp.last_modified = modified
    return resp


def not_modified(etag: str, modified: datetime | None) -> Response:
    """304 Not Modified with the validators (no body)."""
    return validated(Response(status=304), etag, modified)


@bp.get("/stations/<path:station_id>", merge_slashes=False)
def station(station_id: str) -> Response:
    """One station as a GeoJSON Feature, with navigation links to it."""
    p = Params(_STATION)
    out_datum = p.choice(OUT_DATUM)
    at = p.when(AT)
    mode = p.choice(MODE)
    lang: str | None = p.choice(LANG)
    st = state().index.get(station_id)
    if st is None:
        raise NotFoundError(f"no station with id {station_id!r}", field="id")
    ua = user_agent()
    nav = nav_links_many([st.lon], [st.lat], [st.name], mode=mode, client=client_of(ua))[0]
    fresh = freshness([st])[st.id].to_dict(reports.today_shanghai())
    feat = features([st], out_datum=out_datum, at=at, extra=[{"nav": nav, "freshness": fresh}], lang=lang)[0]
    feat["datum"] = out_datum
    feat["in_app_browser"] = in_app_browser(ua)
    return geojson_response(feat, vary=("User-Agent",))


@bp.get("/districts")
def districts() -> Response:
    """Districts with stations: adcode, name, counts by kind, bbox (WGS-84), freshness figures.

    With ``ETag`` (a hash of the answer: the same from every worker) and ``Last-Modified`` (the
    latest of the stations' last write, the last check-in or resolution, and the start of today in
    Asia/Shanghai, when the figures' ages move on); ``304 Not Modified`` to a client that has it."""
    Params(_DISTRICTS).choice(LANG)    # (lang: the language of an error's display_message)
    st = state()
    today = reports.today_shanghai()
    key = (st.generation, id(st.index), st.index.revision, today)
    if st.districts_body is None or st.districts_body[0] != key:
        rows, members = district_counts(), district_members()
        fresh = freshness(st.index.stations())
        rows = [{**r, "freshness": reports.freshness_figures(members.get(r["adcode"], []), fresh, today=today)}
                for r in rows]
        body = dumps({"datum": "wgs84", "sample": any(r["sample"] for r in rows),
                      "stale_days": st.settings.stale_days, "districts": rows})
        etag = "d-" + hashlib.blake2b(body, digest_size=12).hexdigest()
        day_start = datetime.combine(today, datetime.min.time(), tzinfo=reports.TZ).astimezone(timezone.utc)
        times = [t for t in (_revision_time(st, st.index.revision), reports.last_activity(st.store), day_start)
                 if t is not None]
        st.districts_body = (key, body, etag, max(times))
    _key, body, etag, modified = st.districts_body
    if not is_resource_modified(request.environ, etag=etag, last_modified=modified):
        return not_modified(etag, modified)
    return validated(api_response(body, 200, "application/json", encode=False), etag, modified)


@bp.get("/districts/boundaries")
def boundaries() -> Response:
    """District boundaries, simplified for drawing (GeoJSON FeatureCollection, WGS-84)."""
    p = Params(_BOUNDARIES)
    p.choice(LANG)
    level = p.choice(LEVEL)
    prefix = p.prefix(DISTRICT)
    feats = boundary_features(level)
    key = ("boundaries", level, prefix, id(feats))
    bodies = state().boundary_bodies
    body = bodies.get(key)
    if body is None:
        if prefix:
            feats = [f for f in feats if f["properties"]["adcode"].startswith(prefix)]
        body = dumps({"type": "FeatureCollection", "datum": "wgs84",
                      "simplified_m": round(BOUNDARY_TOLERANCE_DEG * 111_000), "features": feats})
        evict(bodies, 64)
        bodies[key] = body
    resp = cached_response(body, key)
    resp.cache_control.public = True
    resp.cache_control.max_age = 3600
    return resp


@bp.get("/changes")
def changes() -> Response:
    """The change feed (:mod:`stationmap.feed`): created, updated and deleted (or closed) stations
    in order after the cursor ``since``, a page at a time, with the next cursor."""
    p = Params(_CHANGES)
    p.choice(LANG)    # (lang: the language of an error's display_message)
    since = p.integer(SINCE)
    limit = p.integer(_FEED_LIMIT)
    page = feed.changes(state().store, since, limit)
    return json_response({"datum": "wgs84", **page.to_dict(),
                          "next_url": url_for("api.changes", since=page.next, limit=limit)})


@bp.get("/openapi.json")
def openapi() -> Response:
    """The OpenAPI 3 document of this API."""
    Params(frozenset())
    return json_response(document_for_app(current_app))
