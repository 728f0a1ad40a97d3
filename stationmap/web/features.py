"""Stations as GeoJSON for the web: features, their cached JSON pieces, and JSON answers.

What a station's Feature is (properties, coordinates, precision) is defined in
:mod:`stationmap.geojson`; this module keeps what it makes per station object and
adds the per-request properties (``open_now``, ``extra``).
:func:`features` makes the GeoJSON Point features of stations (dicts);
:func:`collection` makes the JSON text of a whole FeatureCollection from pieces
kept per station object (:func:`feature_parts`: a page of 10,000 stations is one
join of cached bytes, bench_page.py), :func:`time_checker` gives the time properties
(open now, closes at, opens at) of many stations at once, and :func:`dumps` / :func:`geojson_response`
/ :func:`json_response` turn a body into an API answer
(:func:`stationmap.web.http.api_response`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Hashable, Iterable, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

import orjson
from flask import Response, request

from stationmap import config as _config
from stationmap import geojson
from stationmap.geojson import PRECISION, PROPERTIES, STATIC_PROPERTIES, TIME_PROPERTIES  # noqa: F401 (PRECISION, PROPERTIES re-exported)
from stationmap.hours import TZ, When, rfc3339, when_checker
from stationmap.model import Station
from stationmap.web.http import GEOJSON, api_response

_PROP_CACHE: dict[str, tuple[Station, dict[str, Any], str, dict[str, Any]]] = {}
_SAFE_ID = re.compile(r"[A-Za-z0-9_.~-]+")


def _quote_id(station_id: str) -> str:
    """A station id for a URL path segment (most ids need no escaping: skip quote's cost)."""
    return station_id if _SAFE_ID.fullmatch(station_id) else quote(station_id, safe="")


def _cached_feature(st: Station, root: str) -> tuple[Station, dict[str, Any], str, dict[str, Any]]:
    """``(station, properties, root, WGS-84 point geometry)`` of a station: its stored
    fields as feature properties, built once per Station object (a write makes a new
    one) and URL prefix (``request.script_root``); shared: never modify."""
    hit = _PROP_CACHE.get(st.id)
    if hit is not None and hit[0] is st and hit[2] == root:
        return hit
    props = geojson.properties(st, root + "/station/" + _quote_id(st.id))
    geom = geojson.point(st.lon, st.lat)
    if len(_PROP_CACHE) > 500_000:
        _PROP_CACHE.clear()
    hit = _PROP_CACHE[st.id] = (st, props, root, geom)
    return hit


_LAST_CHECKER: tuple = (None, (), None)


def time_checker(at: datetime, services: Sequence[str] = (),
                 times: Sequence[str] = TIME_PROPERTIES) -> Callable[[Station], bytes]:
    """``time_json(station)``: the JSON members ``"open_now"``, ``"closes_at"``, ``"opens_at"``
    (those of them in ``times``) of a station at ``at`` (:func:`stationmap.hours.when`; with
    ``services``, for those services' own hours too), made once per distinct set of hours; the
    last checker is kept for the same ``at`` (:func:`stationmap.web.params.now` gives one a second)."""
    global _LAST_CHECKER
    last = _LAST_CHECKER
    services, times = tuple(services), tuple(times)
    if last[0] is at and last[1] == (services, times):
        return last[2]
    when_of = when_checker(at, services)
    texts: dict[int, bytes] = {}

    def time_json(st: Station) -> bytes:
        w = when_of(st)
        hit = texts.get(id(w))
        if hit is None:
            members = time_members(w)
            hit = texts[id(w)] = orjson.dumps({f: members[f] for f in times})[1:-1]
        return hit

    _LAST_CHECKER = (at, (services, times), time_json)
    return time_json


def time_members(w: When) -> dict:
    """The time properties (:data:`stationmap.geojson.TIME_PROPERTIES`) of ``w``."""
    return {"open_now": w.open_now, "closes_at": rfc3339(w.closes_at), "opens_at": rfc3339(w.opens_at)}


def features(stations: Iterable[Station], *, out_datum: str = "wgs84", at: datetime | None = None,
             fields: Sequence[str] | None = None, extra: Sequence[dict] | None = None,
             services: Sequence[str] = (), lang: str | None = None) -> list[dict]:
    """GeoJSON Point features for ``stations``; coordinates in ``out_datum``.

    ``fields`` limits the properties to those named (default: all of
    :data:`PROPERTIES`; the station id is always the feature's ``id``);
    ``extra[i]`` (a dict) is merged into feature ``i``'s properties; ``lang="en"`` adds the
    English reader's name (:func:`stationmap.geojson.display_properties`) where ``name`` is shown.
    """
    stations = list(stations)
    if not stations:
        return []
    if out_datum != "wgs84":
        moved = geojson.points(stations, out_datum)
    when_of = when_checker(at or datetime.now(TZ), services)
    times = TIME_PROPERTIES if fields is None else tuple(f for f in TIME_PROPERTIES if f in fields)
    out = []
    root = request.script_root
    named = lang == "en" and (fields is None or "name" in fields)
    for i, st in enumerate(stations):
        _st, base, _root, geom = _cached_feature(st, root)
        props = base.copy() if fields is None else {f: base[f] for f in fields if f in base}
        if named:
            props.update(geojson.display_properties(st, lang))
        if times:
            members = time_members(when_of(st))
            props.update((f, members[f]) for f in times)
        if extra is not None:
            props.update(extra[i])
        out.append(geojson.feature(st, geom if out_datum == "wgs84" else moved[i], props))
    return out


#: per station id: (the station object, {(fields, datum[, "en"]): its feature's text, open for more properties})
_FRAGMENTS: dict[str, tuple[Station, dict[tuple, bytes]]] = {}
#: the bytes of text in _FRAGMENTS (at most config.FEATURE_TEXT_KEPT_BYTES)
_FRAGMENT_BYTES = [0]


def collection(head: dict, stations: Iterable[Station], **kwargs: Any) -> bytes:
    """The JSON text (UTF-8) of the FeatureCollection ``head`` (its last member
    ``"features": []``) with ``features(stations, **kwargs)`` in that place, built from
    cached pieces (:func:`feature_parts`) and joined once."""
    text = dumps(head)
    if not text.endswith(b'"features":[]}'):
        raise ValueError(f"a collection's head must end with \"features\": [], got {text[-40:]!r}")
    parts = [text[:-3]]
    feature_parts(parts, stations, **kwargs)
    parts.append(b"}")
    return b"".join(parts)


def feature_parts(parts: list[bytes], stations: Iterable[Station], *, out_datum: str = "wgs84",
                  at: datetime | None = None, fields: Sequence[str] | None = None,
                  extra: Sequence[dict] | None = None, services: Sequence[str] = (),
                  lang: str | None = None, members: Sequence[bytes] | None = None) -> None:
    """Append to ``parts`` the pieces of the JSON text of ``features(stations, ...)``, ``[`` to ``]``.

    A station's feature text, all but ``open_now``, is kept per station object,
    properties and datum: a page of 10,000 stations is then one join of cached
    pieces, not 10,000 ``json.dumps`` (bench_page.py), and a /nearest answer the
    JSON of its few per-request properties (``extra[i]``, merged into feature ``i``'s).
    ``members[i]``: more properties of feature ``i`` as JSON text the caller keeps
    (``"name":value`` pairs, comma-separated: :func:`stationmap.web.state.freshness_members`).
    """
    stations = list(stations)
    if not stations:
        parts.append(b"[]")
        return
    key: tuple[tuple[str, ...] | None, str] | tuple[tuple[str, ...] | None, str, str]
    if fields is None:
        static = STATIC_PROPERTIES
        key = (None, out_datum)     # (cheaper to hash than the tuple of all the names)
    else:
        static = tuple(f for f in fields if f not in TIME_PROPERTIES)
        key = (static, out_datum)
    if lang == "en":    # the English reader's name is a static property: kept in the piece
        key = (*key, lang)
    times = TIME_PROPERTIES if fields is None else tuple(f for f in TIME_PROPERTIES if f in fields)
    pieces = [b""] * len(stations)     # (each set below: from the cache or built)
    missing = []
    for i, st in enumerate(stations):
        hit = _FRAGMENTS.get(st.id)
        if hit is not None and hit[0] is st and key in hit[1]:
            pieces[i] = hit[1][key]
        else:
            missing.append(i)
    if missing:
        sub = [stations[i] for i in missing]
        for i, feat in zip(missing, features(sub, out_datum=out_datum, fields=static, lang=lang)):
            text = geojson.feature_json(feat)   # properties last: the piece is cut open there
            # open for more properties ("open_now"): ends in "," unless it has none
            piece = text[:-2] + (b"," if feat["properties"] else b"")
            st = stations[i]
            if _FRAGMENT_BYTES[0] + len(piece) > _config.FEATURE_TEXT_KEPT_BYTES:
                _FRAGMENTS.clear()
                _FRAGMENT_BYTES[0] = 0
            hit = _FRAGMENTS.get(st.id)
            if hit is None or hit[0] is not st:     # new, or an edited station: its old text goes
                if hit is not None:
                    _FRAGMENT_BYTES[0] -= sum(map(len, hit[1].values()))
                hit = _FRAGMENTS[st.id] = (st, {})
            _FRAGMENT_BYTES[0] += len(piece) - len(hit[1].get(key, b""))
            hit[1][key] = piece
            pieces[i] = piece
    time_json = time_checker(at or datetime.now(TZ), services, times) if times else None
    add = parts.append
    sep = b"["
    for i, p in enumerate(pieces):
        add(sep)
        sep = b","
        more = orjson.dumps(extra[i])[1:-1] if extra is not None and extra[i] else b""
        if members is not None and members[i]:
            more = more + b"," + members[i] if more else members[i]
        if time_json is not None:
            add(p)
            add(time_json(stations[i]))
            if more:
                add(b",")
                add(more)
        elif more:
            add(p)
            add(more)
        else:
            add(p[:-1] if p.endswith(b",") else p)
        add(b"}}")
    add(b"]")


def cached_response(body: bytes, key: Hashable | None) -> Response:
    """A GeoJSON response whose body the view caches under ``key`` (None: not cached):
    :func:`stationmap.web.http.compress` then keeps its gzip too (``gzip_key``)."""
    if key is None:
        return geojson_response(body)
    resp = api_response(body, 200, GEOJSON, encode=False)
    resp.gzip_key = key
    return resp


def dumps(obj: object) -> bytes:
    """Compact UTF-8 JSON text of ``obj``.

    orjson (a tenth of the standard library's time: a /nearest answer 60 us -> 5 us,
    bench_api.py); it writes NaN and infinity as null.  What orjson refuses (an
    integer beyond 64 bits, an unknown type) goes to the standard library.
    """
    try:
        return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)
    except TypeError:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=_plain).encode()


def _plain(obj: object) -> object:
    """The standard library's fallback for numpy scalars and arrays."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def geojson_response(obj: object, status: int = 200, *, vary: tuple[str, ...] = ()) -> Response:
    """``obj`` (or its JSON text) as ``application/geo+json`` (``vary``: :func:`api_response`'s)."""
    return api_response(obj if isinstance(obj, (str, bytes)) else dumps(obj), status, GEOJSON, vary=vary)


def json_response(obj: object, status: int = 200) -> Response:
    """``obj`` as ``application/json``."""
    return api_response(dumps(obj), status, "application/json")
