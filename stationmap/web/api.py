"""JSON API, version 1 (``/api/v1``).

Views parse and check their arguments at the edge (:class:`Params`: every bad
value is a :class:`~stationmap.errors.ValidationError`, answered with 400 and
``{"error": {"code", "message", "field"}}``), call the library and return
GeoJSON / JSON.  The OpenAPI document is :mod:`stationmap.web.openapi`; the
prose is ``docs/api.md``.

Ranking: ``/nearest`` ranks with :func:`stationmap.reach.rank_stations` (by
road where a network covers the point, the circle estimate elsewhere).  Another
ranking plugs in as a function put in ``state().extra["rank"]`` (see :func:`ranker`).
"""

from __future__ import annotations

import gc
import gzip
import json
import math
import re
import time
import zlib
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple
from urllib.parse import quote

import orjson
from flask import Blueprint, Response, request, url_for
from werkzeug.datastructures import Headers

from stationmap.config import DEFAULT_K, MODES
from stationmap.coords import DATUMS, from_wgs84, to_wgs84
from stationmap.districts import BOUNDARY_DECIMALS, BOUNDARY_TOLERANCE_DEG
from stationmap.errors import NotFoundError, ValidationError
from stationmap.maps.nav import nav_links_many
from stationmap.model import KINDS, SERVICES, STATUSES, TZ, hours_checker, to_shanghai
from stationmap.reach import StationTime, circle_radius_m, isochrone, rank_stations
from stationmap.web import state
from stationmap.web.auth import DENY_HEADERS

bp = Blueprint("api", __name__, url_prefix="/api/v1")

#: limits of the query parameters (also in the OpenAPI document)
MAX_K = 100
MAX_MINUTES = 120.0
MAX_LIMIT = 10_000
DEFAULT_LIMIT = 1_000
MAX_OFFSET = 1_000_000_000
#: ``at`` must fall in these years (opening hours beyond them mean nothing)
AT_YEARS = (1900, 2200)
GEOJSON = "application/geo+json"
#: properties a station feature can carry (``fields`` picks among them)
PROPERTIES = (
    "id", "name", "name_en", "kinds", "services", "address", "adcode", "host", "operator", "phone",
    "opening_hours", "status", "verified_at", "sample", "open_now", "url",
)
#: coordinates are rounded to 6 decimals (0.1 m)
PRECISION = 6

_NUM = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_PLAIN_NUMBER = frozenset("0123456789.+-eE")
_INT = re.compile(r"[+-]?\d+")
_PREFIX = re.compile(r"\d{1,6}")
_DATETIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})"
    r"(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?"
    r"([Zz]|[+-]\d{2}:?\d{2})?)?"
)


# -- parameters ------------------------------------------------------------------------

class Params:
    """The query string of the current request, checked against what a view takes.

    An unknown parameter, a repeated single-valued one, a missing required
    one or a bad value raises ValidationError naming the parameter.
    """

    def __init__(self, allowed):
        self.args = args = request.arg_lists   # {name: [values]}: plain dict lookups below
        for key in args:
            if key not in allowed:
                raise ValidationError(
                    f"unknown parameter {key!r}; this endpoint takes {', '.join(sorted(allowed))}", field=key)

    def one(self, name: str) -> str | None:
        values = self.args.get(name)
        if values is None:
            return None
        if len(values) > 1:
            raise ValidationError(f"{name} must be given once, got {len(values)} values", field=name)
        return values[0] if values else None

    def number(self, name: str, *, required: bool = False, default: float | None = None,
               lo: float | None = None, hi: float | None = None, lo_open: bool = False) -> float | None:
        raw = self.one(name)
        if raw is None:
            if required:
                raise ValidationError(f"{name} is required", field=name)
            return default
        text = raw.strip()
        try:    # (what float() reads from these characters is what _NUM matches: skip the regex)
            x = float(text) if _PLAIN_NUMBER.issuperset(text) else None
        except ValueError:
            x = None
        if x is None:
            if not _NUM.fullmatch(text):
                raise ValidationError(f"{name} must be a number, got {raw!r}", field=name)
            x = float(text)
        if not math.isfinite(x):
            raise ValidationError(f"{name} must be a finite number, got {raw!r}", field=name)
        if (lo is not None and (x < lo or (lo_open and x == lo))) or (hi is not None and x > hi):
            left = "(" if lo_open else "["
            raise ValidationError(f"{name} must be in {left}{lo:g}, {hi:g}], got {raw!r}", field=name)
        return x

    def integer(self, name: str, *, default: int, lo: int, hi: int) -> int:
        raw = self.one(name)
        if raw is None:
            return default
        text = raw.strip()
        if not _INT.fullmatch(text) or len(text) > 12:
            if _INT.fullmatch(text):
                raise ValidationError(f"{name} must be an integer in [{lo}, {hi}], got {raw!r}", field=name)
            raise ValidationError(f"{name} must be an integer, got {raw!r}", field=name)
        x = int(text)
        if not lo <= x <= hi:
            raise ValidationError(f"{name} must be an integer in [{lo}, {hi}], got {raw!r}", field=name)
        return x

    def boolean(self, name: str, *, default: bool = False) -> bool:
        raw = self.one(name)
        if raw is None:
            return default
        if raw in ("true", "false"):
            return raw == "true"
        raise ValidationError(f"{name} must be true or false, got {raw!r}", field=name)

    def choice(self, name: str, choices, *, default: str) -> str:
        raw = self.one(name)
        if raw is None:
            return default
        if raw not in choices:
            raise ValidationError(f"{name} must be one of {tuple(choices)}, got {raw!r}", field=name)
        return raw

    def many(self, name: str, choices) -> tuple:
        """A repeatable parameter (``kind=a&kind=b`` or ``kind=a,b``), each value in ``choices``."""
        out = []
        for raw in self.args.get(name, ()):
            for v in raw.split(","):
                if v not in choices:
                    raise ValidationError(f"{name} must be one of {tuple(choices)}, got {v!r}", field=name)
                out.append(v)
        return tuple(dict.fromkeys(out))

    def when(self, name: str = "at") -> datetime | None:
        """An ISO 8601 / RFC 3339 date-time; without an offset it is Asia/Shanghai time."""
        raw = self.one(name)
        if raw is None:
            return None
        return parse_datetime(raw, field=name)

    def bbox(self, name: str = "bbox") -> tuple | None:
        raw = self.one(name)
        if raw is None:
            return None
        parts = raw.split(",")
        if len(parts) != 4 or not all(_NUM.fullmatch(p.strip()) for p in parts):
            raise ValidationError(f"{name} must be four numbers west,south,east,north, got {raw!r}", field=name)
        w, s, e, n = (float(p) for p in parts)
        if not all(math.isfinite(v) for v in (w, s, e, n)):
            raise ValidationError(f"{name} must be four finite numbers, got {raw!r}", field=name)
        if not (-180 <= w <= 180 and -180 <= e <= 180 and -90 <= s <= 90 and -90 <= n <= 90):
            raise ValidationError(f"{name} longitudes must be in [-180, 180] and latitudes in [-90, 90], "
                                  f"got {raw!r}", field=name)
        if w > e or s > n:
            raise ValidationError(f"{name} must have west <= east and south <= north, got {raw!r}", field=name)
        return w, s, e, n

    def prefix(self, name: str = "district") -> str | None:
        """An adcode prefix: 1-6 digits; a 6-digit city or province code ends in 00 / 0000
        and stands for everything in it (``320400`` -> ``3204``)."""
        raw = self.one(name)
        if raw is None:
            return None
        if not _PREFIX.fullmatch(raw):
            raise ValidationError(f"{name} must be an adcode or adcode prefix of 1-6 digits, got {raw!r}",
                                  field=name)
        if len(raw) == 6:
            while raw.endswith("00") and len(raw) > 2:
                raw = raw[:-2]
        return raw


def parse_datetime(raw: str, *, field: str = "at") -> datetime:
    """``raw`` (ISO 8601 / RFC 3339) as an aware datetime; naive means Asia/Shanghai.

    A leap second (``:60``) is read as ``:59``.  ValidationError naming
    ``field`` for anything else.
    """
    m = _DATETIME.fullmatch(raw.strip())
    bad = ValidationError(
        f"{field} must be an ISO 8601 date-time such as 2024-05-01T12:30:00+08:00, got {raw!r}", field=field)
    if not m:
        raise bad
    y, mo, d, hh, mm, ss, frac, tz = m.groups()
    try:
        sec = min(int(ss or 0), 59)
        micro = int((frac or "0")[:6].ljust(6, "0"))
        if tz is None:
            tzinfo = TZ
        elif tz in ("Z", "z"):
            tzinfo = timezone.utc
        else:
            sign = -1 if tz[0] == "-" else 1
            digits = tz[1:].replace(":", "")
            oh, om = int(digits[:2]), int(digits[2:])
            if oh > 23 or om > 59:
                raise ValueError("offset")
            tzinfo = timezone(sign * timedelta(hours=oh, minutes=om))
        at = datetime(int(y), int(mo), int(d), int(hh or 0), int(mm or 0), sec, micro, tzinfo=tzinfo)
        if not AT_YEARS[0] <= at.year <= AT_YEARS[1]:
            raise ValidationError(f"{field} must be in the years {AT_YEARS[0]}-{AT_YEARS[1]}, got {raw!r}",
                                  field=field)
        return at.astimezone(TZ)
    except (ValueError, OverflowError) as exc:
        if isinstance(exc, ValidationError):
            raise
        raise bad from None


_NOW: tuple = (None, None, "")


def now() -> tuple[datetime, str]:
    """The current second in Asia/Shanghai and its :func:`iso_time` (the views' default
    ``at``): made once a second, not per request (the time zone's look-ups cost more
    than most of a /nearest answer's steps)."""
    global _NOW
    sec = int(time.time())
    hit = _NOW
    if hit[0] != sec:
        at = datetime.fromtimestamp(sec, TZ)
        hit = _NOW = (sec, at, iso_time(at))
    return hit[1], hit[2]


def iso_time(at: datetime) -> str:
    """RFC 3339 text of ``at``; in UTC when its offset has seconds (Shanghai's
    local mean time, +08:05:43, before 1901), which RFC 3339 cannot write."""
    off = at.utcoffset()
    if off is not None and off.seconds % 60:
        at = at.astimezone(timezone.utc)
    return at.isoformat(timespec="seconds")


def _datums(p: Params) -> tuple[str, str]:
    return p.choice("datum", DATUMS, default="wgs84"), p.choice("out_datum", DATUMS, default="wgs84")


# -- ranking ------------------------------------------------------------------------------

class Ranked(NamedTuple):
    """A station with its straight-line (geodesic) distance in metres and travel minutes."""

    station: object
    distance_m: float
    minutes: float


def ranker(st=None):
    """The ranking function put in ``state().extra["rank"]`` (of ``st``, default the
    current app's state), or None: then ``/api/v1/nearest`` ranks with
    :func:`stationmap.reach.rank_stations` (road network where one covers the
    point, circle estimate elsewhere).

    A ranking is called ``rank(index, lon, lat, *, k, mode, settings, kinds, services,
    open_at)`` (WGS-84) and returns :class:`Ranked`, quickest first; its ``method``
    attribute, if any, is reported as the answer's method."""
    return (st or state()).extra.get("rank")


def app_networks(settings) -> dict:
    """The road networks of ``settings.networks``, loaded and prepared ({name: Network}).

    Loaded through :func:`stationmap.network.load_networks`, whose one cache is keyed by
    the files and the settings the networks use (speeds, snap limit): every app of a test
    run, and every app built over the same files, shares one set (preparing a prepared
    network costs little), so :func:`stationmap.web.create_app` pays for loading and
    preparing once.
    """
    from stationmap.network import load_networks
    from stationmap.reach import prepare

    hit = load_networks(settings)
    prepare(hit)
    return hit


def networks(st=None):
    """The app's road networks ({name: Network}; empty when none is configured), of
    the AppState ``st`` (default: the current app's)."""
    return (st or state()).extra.get("networks") or {}


def _rank_by_time(st, lon: float, lat: float, *, k: int, mode: str, kinds=(), services=(),
                  open_at=None, method: str = "auto"):
    """:func:`stationmap.reach.rank_stations` over the networks and index of the
    AppState ``st``, for a WGS-84 point.

    ``method="network"`` where no network covers the point raises
    ValidationError naming ``method`` and the point.
    """
    try:
        return rank_stations(networks(st), st.index, lon, lat, mode=mode, k=k, kinds=kinds or None,
                             services=services or None, open_at=open_at, method=method, settings=st.settings)
    except ValidationError as exc:
        raise _no_network(exc, method, lon, lat) from None


def _no_network(exc: ValidationError, method: str, lon: float, lat: float) -> ValidationError:
    """With ``method=network``, a snapping failure becomes a 400 on ``method``; else ``exc`` as is."""
    if method != "network" or exc.field not in ("method", "point"):
        return exc
    return ValidationError(f"method=network: no road network covers the point (lon {lon:.6f}, "
                           f"lat {lat:.6f} WGS-84): {exc.message}; use method=auto or circle", field="method")


# -- features -------------------------------------------------------------------------------

_PROP_CACHE: dict = {}
_SAFE_ID = re.compile(r"[A-Za-z0-9_.~-]+")


def _quote_id(station_id: str) -> str:
    """A station id for a URL path segment (most ids need no escaping: skip quote's cost)."""
    return station_id if _SAFE_ID.fullmatch(station_id) else quote(station_id, safe="")


def _cached_feature(st, root: str) -> tuple:
    """``(station, properties, root, WGS-84 point geometry)`` of a station: its stored
    fields as feature properties, built once per Station object (a write makes a new
    one) and URL prefix (``request.script_root``); shared: never modify."""
    hit = _PROP_CACHE.get(st.id)
    if hit is not None and hit[0] is st and hit[2] == root:
        return hit
    props = {
        "id": st.id, "name": st.name, "name_en": st.name_en, "kinds": list(st.kinds),
        "services": list(st.services), "address": st.address, "adcode": st.adcode, "host": st.host,
        "operator": st.operator, "phone": st.phone, "opening_hours": st.opening_hours,
        "status": st.status, "verified_at": st.verified_at.isoformat() if st.verified_at else None,
        "sample": st.is_sample, "url": root + "/station/" + _quote_id(st.id),
    }
    geom = {"type": "Point", "coordinates": [round(st.lon, PRECISION), round(st.lat, PRECISION)]}
    if len(_PROP_CACHE) > 500_000:
        _PROP_CACHE.clear()
    hit = _PROP_CACHE[st.id] = (st, props, root, geom)
    return hit


_LAST_CHECKER: tuple = (None, None)


def open_checker(at: datetime):
    """``is_open(station)`` at ``at``: :meth:`Station.open_at` with the time zone
    conversion done once rather than per station (it costs more than the check);
    the last one is kept for the same ``at`` (:func:`now` gives one a second)."""
    global _LAST_CHECKER
    last = _LAST_CHECKER
    if last[0] is at:
        return last[1]
    check = hours_checker((at if at.tzinfo is TZ else to_shanghai(at)).replace(tzinfo=None))

    def is_open(st) -> bool:
        if st.status != "active":
            return False
        hours = st.opening_hours
        if not hours or hours.strip() == "24/7":
            return True
        return check(hours)

    _LAST_CHECKER = (at, is_open)
    return is_open


def features(stations, *, out_datum: str = "wgs84", at: datetime | None = None,
             fields=None, extra=None) -> list[dict]:
    """GeoJSON Point features for ``stations``; coordinates in ``out_datum``.

    ``fields`` limits the properties to those named (default: all of
    :data:`PROPERTIES`; the station id is always the feature's ``id``);
    ``extra[i]`` (a dict) is merged into feature ``i``'s properties.
    """
    stations = list(stations)
    if not stations:
        return []
    if out_datum != "wgs84":
        import numpy as np

        lo, la = from_wgs84(np.asarray([s.lon for s in stations]), np.asarray([s.lat for s in stations]),
                            out_datum)
        moved = [{"type": "Point", "coordinates": [round(x, PRECISION), round(y, PRECISION)]}
                 for x, y in zip(lo.tolist(), la.tolist())]
    is_open = open_checker(at or datetime.now(TZ))
    want_open = fields is None or "open_now" in fields
    out = []
    root = request.script_root
    for i, st in enumerate(stations):
        _st, base, _root, geom = _cached_feature(st, root)
        props = base.copy() if fields is None else {f: base[f] for f in fields if f in base}
        if want_open:
            props["open_now"] = is_open(st)
        if extra is not None:
            props.update(extra[i])
        out.append({"type": "Feature", "id": st.id, "geometry": geom if out_datum == "wgs84" else moved[i],
                    "properties": props})
    return out


_FRAGMENTS: dict = {}
#: the properties of a feature that do not change with the time of the request
_STATIC_PROPERTIES = tuple(f for f in PROPERTIES if f != "open_now")


def _evict(cache: dict, room: int) -> None:
    """Drop the oldest entries of ``cache`` until it has fewer than ``room``
    (safe when another thread of a threaded server evicts at the same time)."""
    while len(cache) >= room:
        try:
            cache.pop(next(iter(cache)), None)
        except (RuntimeError, StopIteration):  # changed under us: try again / now empty
            continue


@contextmanager
def _no_gc(on: bool = True):
    """Pause the cyclic garbage collector while building thousands of acyclic dicts and
    strings: its passes over the app's large heap cost more than the build (a 10,000-
    station page: ~0.25 s -> ~0.1 s)."""
    if not on or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def _collection(head: dict, stations, **kwargs) -> bytes:
    """The JSON text (UTF-8) of the FeatureCollection ``head`` (its last member
    ``"features": []``) with ``features(stations, **kwargs)`` in that place, built from
    cached pieces (:func:`_feature_parts`) and joined once."""
    text = dumps(head)
    assert text.endswith(b'"features":[]}')
    parts = [text[:-3]]
    _feature_parts(parts, stations, **kwargs)
    parts.append(b"}")
    return b"".join(parts)


def _feature_parts(parts: list, stations, *, out_datum: str = "wgs84", at: datetime | None = None,
                   fields=None, extra=None) -> None:
    """Append to ``parts`` the pieces of the JSON text of ``features(stations, ...)``, ``[`` to ``]``.

    A station's feature text, all but ``open_now``, is kept per station object,
    properties and datum: a page of 10,000 stations is then one join of cached
    pieces, not 10,000 ``json.dumps`` (bench_page.py), and a /nearest answer the
    JSON of its few per-request properties (``extra[i]``, merged into feature ``i``'s).
    """
    stations = list(stations)
    if not stations:
        parts.append(b"[]")
        return
    if fields is None:
        static, want_open = _STATIC_PROPERTIES, True
        key = (None, out_datum)     # (cheaper to hash than the tuple of all the names)
    else:
        static = tuple(f for f in fields if f != "open_now")
        want_open = "open_now" in fields
        key = (static, out_datum)
    pieces = [None] * len(stations)
    missing = []
    for i, st in enumerate(stations):
        hit = _FRAGMENTS.get(st.id)
        if hit is not None and hit[0] is st and key in hit[1]:
            pieces[i] = hit[1][key]
        else:
            missing.append(i)
    if missing:
        sub = [stations[i] for i in missing]
        for i, feat in zip(missing, features(sub, out_datum=out_datum, fields=static)):
            text = json.dumps(feat, ensure_ascii=False, separators=(",", ":")).encode()
            assert text.endswith(b"}}")
            # open for more properties ("open_now"): ends in "," unless it has none
            piece = text[:-2] + (b"," if feat["properties"] else b"")
            st = stations[i]
            hit = _FRAGMENTS.get(st.id)
            if hit is None or hit[0] is not st:
                if len(_FRAGMENTS) > 500_000:
                    _FRAGMENTS.clear()
                hit = _FRAGMENTS[st.id] = (st, {})
            hit[1][key] = piece
            pieces[i] = piece
    is_open = open_checker(at or datetime.now(TZ)) if want_open else None
    add = parts.append
    sep = b"["
    for i, p in enumerate(pieces):
        add(sep)
        sep = b","
        more = orjson.dumps(extra[i])[1:-1] if extra is not None and extra[i] else b""
        if is_open is not None:
            add(p)
            add(b'"open_now":true' if is_open(stations[i]) else b'"open_now":false')
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


def _cached_response(body, key) -> Response:
    """A GeoJSON response whose body is cached under ``key``: :func:`compress`
    then keeps its gzip too (``gzip_key``)."""
    if key is None:
        return geojson_response(body)
    resp = api_response(body, 200, GEOJSON, encode=False)
    resp.gzip_key = key
    return resp


def dumps(obj) -> bytes:
    """Compact UTF-8 JSON text of ``obj``.

    orjson (a tenth of the standard library's time: a /nearest answer 60 us -> 5 us,
    bench_api.py); it writes NaN and infinity as null.  What orjson refuses (an
    integer beyond 64 bits, an unknown type) goes to the standard library.
    """
    try:
        return orjson.dumps(obj, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)
    except TypeError:
        return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), default=_plain).encode()


def _plain(obj):
    """The standard library's fallback for numpy scalars and arrays."""
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable")


def geojson_response(obj, status: int = 200) -> Response:
    """``obj`` (or its JSON text) as ``application/geo+json``."""
    return api_response(obj if isinstance(obj, (str, bytes)) else dumps(obj), status, GEOJSON)


def json_response(obj, status: int = 200) -> Response:
    return api_response(dumps(obj), status, "application/json")


_CONTENT_TYPES: dict = {}


def _content_type(mimetype: str) -> str:
    """The Content-Type of ``mimetype`` (werkzeug's charset rule, applied once per mimetype)."""
    hit = _CONTENT_TYPES.get(mimetype)
    if hit is None:
        from werkzeug.utils import get_content_type

        hit = _CONTENT_TYPES[mimetype] = get_content_type(mimetype, "utf-8")
    return hit


class ApiResponse(Response):
    """A werkzeug Response that hands its headers to the server as they are.

    werkzeug's ``Response.__call__`` copies the headers and scans them for
    Location, Content-Location and Content-Length before every answer (tens of
    microseconds on a busy server, bench_api.py).  The API's answers are a
    buffered body with its Content-Length set (``set_data``) and neither
    Location header; an answer that is not (a HEAD request, a bodiless status,
    a body an after-request hook replaced by an iterator, a close callback) takes
    werkzeug's way.
    """

    @classmethod
    def of(cls, data: bytes, status: int, headers: list) -> "ApiResponse":
        """The response of ``data`` with ``headers`` (clean ``(name, str)`` pairs, the
        Content-Type among them) and a Content-Length: what ``Response(data,
        status, headers)`` builds (the same attributes: tests/web/test_api_cheap.py),
        without its per-header checks and lookups (10 us -> 2 us)."""
        self = cls.__new__(cls)
        h = Headers()
        h._list = [*headers, ("Content-Length", str(len(data)))]
        self.headers = h
        self.status = status
        self.direct_passthrough = False
        self._on_close = []
        self.response = [data]
        return self

    def __call__(self, environ, start_response):
        body = self.response
        code = self._status_code
        if (type(body) is not list or self._on_close or not 200 <= code < 300 or code == 204
                or environ["REQUEST_METHOD"] == "HEAD"):
            return super().__call__(environ, start_response)
        headers = self.headers.to_wsgi_list()
        names = {k.lower() for k, _v in headers}
        if "content-length" not in names or "location" in names or "content-location" in names:
            return super().__call__(environ, start_response)
        start_response(self._status, headers)
        return body


def api_response(body, status: int, mimetype: str, *, encode: bool = True) -> Response:
    """A JSON API answer with its final headers set at once.

    What the after-request hooks would add one by one, the API's answers carry
    from the start (they are the most frequent answers, and each header set on a
    werkzeug response costs): the framing headers (nothing of the API is ever
    framed: ``frame_headers`` leaves them), and for a body under 64 KB, gzip
    (:func:`compress`'s rules) with ``Vary``.  Larger bodies, and any with
    ``encode=False`` (a body the view caches), are left to :func:`compress`,
    which keeps the gzip of cached ones.
    """
    data = body.encode() if isinstance(body, str) else body
    headers = [*DENY_HEADERS, ("Content-Type", _content_type(mimetype))]
    encode = encode and (status != 200 or len(data) < 65536)
    if encode and status == 200 and len(data) >= _MIN_SIZE:
        headers.append(("Vary", "Accept-Encoding"))
        if _accepts_gzip():
            data = _gzip(data, 0)     # the fastest: a small answer built for one request
            headers.append(("Content-Encoding", "gzip"))
    resp = ApiResponse.of(data, status, headers)
    resp.deny_framing = True
    resp.encoded = encode   # then compress() has nothing left to do
    return resp


# -- views -------------------------------------------------------------------------------------

_NEAREST_PARAMS = frozenset({"lat", "lon", "datum", "out_datum", "kind", "service", "open_now", "at", "k",
                             "mode", "minutes", "method"})
#: ``method`` values of /nearest and /reach (:data:`stationmap.reach.METHODS`)
METHODS = ("auto", "network", "circle")


def _point_query(p: Params, settings) -> tuple:
    """The arguments /nearest and /reach share, checked: lat, lon, datum, out_datum,
    kinds, services, open_now, at, mode, minutes (default: ``settings.minutes``), method."""
    lat = p.number("lat", required=True, lo=-90.0, hi=90.0)
    lon = p.number("lon", required=True, lo=-180.0, hi=180.0)
    datum, out_datum = _datums(p)
    kinds = p.many("kind", KINDS)
    services = p.many("service", SERVICES)
    open_now = p.boolean("open_now")
    at = p.when("at")
    mode = p.choice("mode", MODES, default="walk")
    minutes = p.number("minutes", default=settings.minutes, lo=0.0, hi=MAX_MINUTES, lo_open=True)
    method = p.choice("method", METHODS, default="auto")
    return lat, lon, datum, out_datum, kinds, services, open_now, at, mode, minutes, method


@bp.get("/nearest")
def nearest():
    """The stations quickest to reach from a point, quickest first (GeoJSON FeatureCollection).

    Minutes by road where a network covers the point (``method=auto``, the
    default, or ``network``), the circle estimate elsewhere (or ``circle``).
    """
    st = state()
    settings = st.settings
    p = Params(_NEAREST_PARAMS)
    lat, lon, datum, out_datum, kinds, services, open_now, at, mode, minutes, method = _point_query(p, settings)
    k = p.integer("k", default=DEFAULT_K, lo=1, hi=MAX_K)
    wlon, wlat = (lon, lat) if datum == "wgs84" else to_wgs84(lon, lat, datum)
    at_, at_text = (at, iso_time(at)) if at else now()
    open_at = at_ if open_now else None
    rank = ranker(st)
    net_name = snap_m = None
    if rank is not None:  # a ranking put in state().extra["rank"]
        ranked = rank(st.index, wlon, wlat, k=k, mode=mode, settings=settings, kinds=kinds, services=services,
                      open_at=open_at)
        used = getattr(rank, "method", "custom")
        times = [StationTime(r.station, r.minutes, r.distance_m, r.distance_m) for r in ranked]
    else:
        ranking = _rank_by_time(st, wlon, wlat, k=k, mode=mode, kinds=kinds, services=services,
                                open_at=open_at, method=method)
        used, net_name, snap_m, times = ranking.method, ranking.network, ranking.snap_m, ranking.stations
    stations = [t.station for t in times]
    navs = nav_links_many([s.lon for s in stations], [s.lat for s in stations], [s.name for s in stations],
                          mode=mode, origin_wgs84=(wlon, wlat), origin_name="我的位置")
    on_roads = used == "network"    # distance_m: along the roads; else the geodesic distance
    extra = [{"distance_m": round(t.distance_m if on_roads else t.straight_m, 1), "straight_m": round(t.straight_m, 1),
              "minutes": round(t.minutes, 1), "within_minutes": bool(t.minutes <= minutes), "nav": nav}
             for t, nav in zip(times, navs)]
    qlon, qlat = (wlon, wlat) if out_datum == "wgs84" else from_wgs84(wlon, wlat, out_datum)
    speed = settings.speed_kmh(mode)
    head = {
        "type": "FeatureCollection",
        "datum": out_datum,
        "method": used,
        "network": net_name,
        "sample": any(s.is_sample for s in stations),
        "query": {"lon": round(qlon, PRECISION), "lat": round(qlat, PRECISION), "mode": mode,
                  "minutes": minutes, "k": k, "at": at_text, "method": method},
        "reach": {
            "method": used,
            "network": net_name,
            "snap_m": None if snap_m is None else round(snap_m, 1),
            "speed_kmh": speed,
            "detour_factor": settings.detour_factor,
            "radius_m": round(circle_radius_m(minutes, mode, settings), 1),
        },
        "features": [],
    }
    # the features from their cached pieces (_feature_parts), with this request's properties
    return geojson_response(_collection(head, stations, out_datum=out_datum, at=at_, extra=extra))


_REACH_PARAMS = frozenset({"lat", "lon", "datum", "out_datum", "kind", "service", "open_now", "at", "mode",
                           "minutes", "method"})


def _geometry_to(geom, out_datum: str):
    """A shapely geometry in WGS-84 moved to ``out_datum`` (every vertex)."""
    if out_datum == "wgs84" or geom.is_empty:
        return geom
    import numpy as np
    import shapely

    def fn(xy):
        lo, la = from_wgs84(np.asarray(xy[:, 0]), np.asarray(xy[:, 1]), out_datum)
        return np.round(np.column_stack([lo, la]), PRECISION)

    return shapely.transform(geom, fn)


@bp.get("/reach")
def reach_area():
    """The area reachable from a point in ``minutes`` (isochrone), and the stations in it (GeoJSON).

    By road where a network covers the point, else the circle of radius
    minutes x speed / detour factor.
    """
    import shapely
    from shapely.geometry import mapping

    st = state()
    p = Params(_REACH_PARAMS)
    lat, lon, datum, out_datum, kinds, services, open_now, at, mode, minutes, method = _point_query(p, st.settings)
    wlon, wlat = (lon, lat) if datum == "wgs84" else to_wgs84(lon, lat, datum)
    wlon, wlat = float(wlon), float(wlat)
    at_, at_text = (at, iso_time(at)) if at else now()
    try:
        iso = isochrone(wlon, wlat, minutes, mode, network=networks(st), index=st.index, method=method,
                        kinds=kinds or None, services=services or None, open_at=at_ if open_now else None,
                        settings=st.settings)
    except ValidationError as exc:
        raise _no_network(exc, method, wlon, wlat) from None
    geom = shapely.set_precision(iso.polygon, 10.0 ** -PRECISION) if not iso.polygon.is_empty else iso.polygon
    if hasattr(shapely, "orient_polygons"):
        geom = shapely.orient_polygons(geom)  # RFC 7946: exteriors counter-clockwise
    geom = _geometry_to(geom, out_datum)
    qlon, qlat = (wlon, wlat) if out_datum == "wgs84" else from_wgs84(wlon, wlat, out_datum)
    area_props = {"role": "isochrone", "method": iso.method, "network": iso.network, "minutes": minutes,
                  "mode": mode, "area_km2": round(iso.area_km2, 4),
                  "snap_m": None if iso.snap_m is None else round(iso.snap_m, 1),
                  "resolution_m": iso.resolution_m, "stations": len(iso.stations)}
    area = {"type": "Feature", "id": "isochrone",
            "geometry": mapping(geom) if not geom.is_empty else {"type": "MultiPolygon", "coordinates": []},
            "properties": area_props}
    stations = [s.station for s in iso.stations]
    extra = [{"role": "station", "minutes": round(s.minutes, 1),
              "distance_m": round(s.distance_m if iso.method == "network" else s.straight_m, 1),
              "straight_m": round(s.straight_m, 1)} for s in iso.stations]
    feats = [area] + features(stations, out_datum=out_datum, at=at_, extra=extra)
    return geojson_response({
        "type": "FeatureCollection",
        "datum": out_datum,
        "method": iso.method,
        "network": iso.network,
        "area_km2": round(iso.area_km2, 4),
        "sample": any(s.is_sample for s in stations),
        "query": {"lon": round(float(qlon), PRECISION), "lat": round(float(qlat), PRECISION), "mode": mode,
                  "minutes": minutes, "method": method, "at": at_text},
        "features": feats,
    })


_STATIONS_PARAMS = frozenset({"bbox", "datum", "out_datum", "kind", "service", "status", "district", "open_now",
                              "at", "limit", "offset", "fields"})


def sorted_stations() -> list:
    """Every station in id order (cached until the index changes)."""
    st = state()
    key = (id(st.index), st.index.revision, len(st.index))
    cached = st.extra.get("_sorted_stations")
    if cached is None or cached[0] != key:
        cached = (key, sorted(st.index.stations(), key=lambda s: s.id))
        st.extra["_sorted_stations"] = cached
    return cached[1]


def any_sample() -> bool:
    """Whether any stored station is sample data (cached until the index changes)."""
    st = state()
    key = (id(st.index), st.index.revision, len(st.index))
    cached = st.extra.get("_any_sample")
    if cached is None or cached[0] != key:
        cached = (key, any(s.is_sample for s in st.index.stations()))
        st.extra["_any_sample"] = cached
    return cached[1]


@bp.get("/stations")
def stations():
    """Stations matching filters, in id order, a page at a time (GeoJSON FeatureCollection)."""
    p = Params(_STATIONS_PARAMS)
    datum, out_datum = _datums(p)
    bbox = p.bbox()
    kinds = p.many("kind", KINDS)
    services = p.many("service", SERVICES)
    statuses = p.many("status", STATUSES)
    prefix = p.prefix("district")
    open_now = p.boolean("open_now")
    at = p.when("at")
    limit = p.integer("limit", default=DEFAULT_LIMIT, lo=1, hi=MAX_LIMIT)
    offset = p.integer("offset", default=0, lo=0, hi=MAX_OFFSET)
    fields = p.many("fields", PROPERTIES) or None
    at_ = at or now()[0]
    # Without ``at`` the answer depends on the minute (open_now) and the stations
    # only: the finder's marker layer (10,000 stations) is built once a minute.
    st = state()
    cache_key = None
    if at is None:
        cache_key = (id(st.index), st.index.revision, len(st.index), at_.strftime("%Y%m%d%H%M"),
                     request.script_root, tuple(sorted(request.args.items(multi=True))))
        hit = st.extra.get("_stations_cache", {}).get(cache_key)
        if hit is not None:
            return _cached_response(hit, cache_key)
    if bbox is not None and datum != "wgs84":
        # the box's corners to WGS-84; the box around them (the shift is smooth over a city)
        lons, lats = to_wgs84(_np_array([bbox[0], bbox[2], bbox[0], bbox[2]]),
                              _np_array([bbox[1], bbox[3], bbox[3], bbox[1]]), datum)
        bbox = (float(min(lons)), float(min(lats)), float(max(lons)), float(max(lats)))
    kind_set, service_set = set(kinds), set(services)
    is_open = open_checker(at_)
    matched = []
    for s in sorted_stations():
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
        args = request.args.to_dict(flat=False)
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
    with _no_gc(len(page) > 1000):
        body = _collection(head, page, out_datum=out_datum, at=at_, fields=fields)
    if cache_key is not None:
        cache = st.extra.setdefault("_stations_cache", {})
        _evict(cache, 8)
        cache[cache_key] = body
    return _cached_response(body, cache_key)


def _np_array(values):
    import numpy as np

    return np.asarray(values, dtype=float)


_STATION_PARAMS = frozenset({"out_datum", "at", "mode"})


@bp.get("/stations/<path:station_id>", merge_slashes=False)
def station(station_id: str):
    """One station as a GeoJSON Feature, with navigation links to it."""
    p = Params(_STATION_PARAMS)
    out_datum = p.choice("out_datum", DATUMS, default="wgs84")
    at = p.when("at")
    mode = p.choice("mode", MODES, default="walk")
    st = state().index.get(station_id)
    if st is None:
        raise NotFoundError(f"no station with id {station_id!r}", field="id")
    nav = nav_links_many([st.lon], [st.lat], [st.name], mode=mode)[0]
    feat = features([st], out_datum=out_datum, at=at, extra=[{"nav": nav}])[0]
    feat["datum"] = out_datum
    return geojson_response(feat)


def district_counts() -> list[dict]:
    """Per district with stations: adcode, name, city, counts by kind, total, bbox (WGS-84), sample.

    A station without an adcode is counted in the county whose polygon holds
    it; stations outside every polygon are counted under adcode ``""``.
    Cached until the index changes.
    """
    from stationmap.districts import load_districts

    st = state()
    key = (id(st.index), st.index.revision, len(st.index))
    cached = st.extra.get("_district_counts")
    if cached is not None and cached[0] == key:
        return cached[1]
    districts = st.extra.get("districts")
    if districts is None:
        districts = st.extra["districts"] = load_districts(st.settings)
    counts: dict[str, dict] = {}
    totals: dict[str, int] = {}
    sample: dict[str, bool] = {}
    all_st = st.index.stations()
    missing = [s for s in all_st if not s.adcode]
    located = {}
    if missing:
        codes = districts.locate_many([s.lon for s in missing], [s.lat for s in missing])
        located = {s.id: (c or "") for s, c in zip(missing, codes)}
    for s in all_st:
        code = s.adcode or located.get(s.id, "")
        c = counts.setdefault(code, {k: 0 for k in KINDS})
        for k in s.kinds:
            if k in c:
                c[k] += 1
        totals[code] = totals.get(code, 0) + 1
        sample[code] = sample.get(code, False) or s.is_sample
    out = []
    for adcode in sorted(counts):
        rec = districts.get(adcode) if adcode and adcode in districts else None
        out.append({
            "adcode": adcode,
            "name": rec.name if rec else adcode,
            "city": rec.city if rec else None,
            "level": rec.level if rec else None,
            "counts": counts[adcode],
            "total": totals[adcode],
            "bbox": [round(v, 6) for v in rec.bbox] if rec is not None and rec.bbox is not None else None,
            "sample": sample[adcode],
        })
    st.extra["_district_counts"] = (key, out)
    return out


@bp.get("/districts")
def districts():
    """Districts with stations: adcode, name, counts by kind, bbox (WGS-84)."""
    Params(frozenset())
    rows = district_counts()
    return json_response({"datum": "wgs84", "sample": any(r["sample"] for r in rows), "districts": rows})


def boundary_features(level: str) -> list[dict]:
    """Simplified district boundaries of ``level`` as GeoJSON features (WGS-84).

    Cached in memory and, across processes and restarts, in
    ``<instance>/cache/`` (keyed by the boundary file's size and modification
    time): reading the boundaries and simplifying them takes ~0.3 s.
    """
    import hashlib
    import os

    st = state()
    cache = st.extra.setdefault("_boundaries", {})
    if level in cache:
        return cache[level]
    src = Path(st.settings.boundaries_path)
    try:
        stat = src.stat()
        stamp = f"{src.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{level}|{BOUNDARY_TOLERANCE_DEG}|{BOUNDARY_DECIMALS}"
    except OSError:
        stamp = None
    disk = None
    if stamp is not None:
        disk = (Path(st.settings.instance_path) / "cache"
                / f"boundaries-{level}-{hashlib.sha256(stamp.encode()).hexdigest()[:16]}.json")
        try:
            cache[level] = json.loads(disk.read_text(encoding="utf-8"))
            return cache[level]
        except (OSError, ValueError):
            pass
    feats = _simplified_boundaries(level)
    cache[level] = feats
    if disk is not None:
        try:
            disk.parent.mkdir(parents=True, exist_ok=True)
            tmp = disk.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(feats, ensure_ascii=False, separators=(",", ":")), encoding="utf-8")
            tmp.replace(disk)  # atomic: another worker may be writing the same file
        except OSError:
            pass  # a read-only instance folder: keep the memory cache only
    return feats


def _simplified_boundaries(level: str) -> list[dict]:
    from stationmap.districts import load_districts, simplified_boundaries

    st = state()
    districts = st.extra.get("districts")
    if districts is None:
        districts = st.extra["districts"] = load_districts(st.settings)
    return simplified_boundaries(districts, level)


@bp.get("/districts/boundaries")
def boundaries():
    """District boundaries, simplified for drawing (GeoJSON FeatureCollection, WGS-84)."""
    p = Params(frozenset({"level", "district"}))
    level = p.choice("level", ("city", "county"), default="county")
    prefix = p.prefix("district")
    feats = boundary_features(level)
    key = ("boundaries", level, prefix, id(feats))
    bodies = state().extra.setdefault("_boundary_bodies", {})
    body = bodies.get(key)
    if body is None:
        if prefix:
            feats = [f for f in feats if f["properties"]["adcode"].startswith(prefix)]
        body = dumps({"type": "FeatureCollection", "datum": "wgs84",
                      "simplified_m": round(BOUNDARY_TOLERANCE_DEG * 111_000), "features": feats})
        _evict(bodies, 64)
        bodies[key] = body
    resp = _cached_response(body, key)
    resp.cache_control.public = True
    resp.cache_control.max_age = 3600
    return resp


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3 document of this API."""
    from flask import current_app

    from stationmap.web.openapi import document_for_app

    Params(frozenset())
    return json_response(document_for_app(current_app))


# -- request hygiene ----------------------------------------------------------------------------

@bp.before_app_request
def _decode_query_string():
    """A query string that is not UTF-8 (raw bytes, not %-escaped) would make
    ``request.args`` raise UnicodeDecodeError, a 500 wherever it is read: read it
    with U+FFFD for the bad bytes instead, so the parameter checks refuse it with a 400."""
    try:
        request.arg_lists  # noqa: B018  (parse once; cached)
    except UnicodeDecodeError:
        from urllib.parse import parse_qsl

        from werkzeug.datastructures import ImmutableMultiDict

        pairs = parse_qsl(request.query_string.decode("utf-8", "replace"), keep_blank_values=True,
                          errors="replace")
        request.args = ImmutableMultiDict(pairs)


# -- compression -------------------------------------------------------------------------------

try:    # ISA-L deflate (optional: zlib does the same, slower)
    from isal import isal_zlib as _isal_zlib
except ImportError:  # pragma: no cover - isal is in install_requires
    _isal_zlib = None

_COMPRESSIBLE = {"application/json", GEOJSON, "text/html", "text/css", "text/javascript",
                 "application/javascript", "image/svg+xml", "text/plain"}
_MIN_SIZE = 512
_STATIC_GZ: dict = {}
_BODY_GZ: dict = {}


def _accepts_gzip() -> bool:
    return _gzip_accepted(request.environ.get("HTTP_ACCEPT_ENCODING", ""))  # (request.headers: 3x the time)


@lru_cache(maxsize=256)
def _gzip_accepted(header: str) -> bool:
    """Whether an ``Accept-Encoding`` value takes gzip (kept: clients send a few values)."""
    if ";" not in header:  # no q-values (what browsers send): a plain look for the name
        return any(part.strip().lower() in ("gzip", "*") for part in header.split(","))
    for part in header.split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() in ("gzip", "*"):
            q = params.strip()
            if q.startswith("q="):
                try:
                    return float(q[2:]) > 0
                except ValueError:
                    return False
            return True
    return False


def _gzip(raw: bytes, level: int) -> bytes:
    """``gzip.compress(raw, level, mtime=0)``.

    Levels 0 and 1 (small dynamic answers) with ISA-L's deflate (``isal``) where
    it is installed: a quarter of zlib's time for the same bytes at level 1, and
    level 0 (ISA-L's fastest, still real compression: an 8 KB /nearest answer
    becomes 2.3 KB, against 1.9 KB at level 1) half of that again (50-95 us ->
    10 us, bench_api.py).  Otherwise zlib (level 0 taken as 1), with a deflate
    window no bigger than ``raw`` needs: for a few-KB answer, setting up zlib's
    default 32 KB window and hash tables costs more than compressing."""
    if level <= 1 and _isal_zlib is not None:
        return _isal_zlib.compress(raw, level, 31)     # (31: a gzip header and trailer)
    level = max(level, 1)
    if len(raw) >= 32768:
        return gzip.compress(raw, compresslevel=level, mtime=0)
    wbits = max(10, min(15, (len(raw) - 1).bit_length()))
    co = zlib.compressobj(level, zlib.DEFLATED, 16 + wbits, 4)
    return co.compress(raw) + co.flush()


@bp.after_app_request
def compress(resp: Response) -> Response:
    """gzip text responses (HTML, JSON, GeoJSON, CSS, JS, SVG) for clients that accept it."""
    if getattr(resp, "encoded", False):     # an api_response: encoded when it was built
        return resp
    headers = resp.headers
    if (resp.status_code != 200 or "Content-Encoding" in headers
            or headers.get("Content-Type", "").partition(";")[0].strip().lower() not in _COMPRESSIBLE
            or resp.is_streamed and not resp.direct_passthrough):
        return resp
    vary = headers.get("Vary")  # (resp.vary parses it into a set: ten times the cost)
    if not vary:
        headers["Vary"] = "Accept-Encoding"
    elif "accept-encoding" not in vary.lower():
        headers["Vary"] = f"{vary}, Accept-Encoding"
    if not _accepts_gzip():
        return resp
    etag = resp.get_etag()[0] if "ETag" in headers else None
    static = resp.direct_passthrough  # a file from the static folder
    if static and etag:
        cache, key, room = _STATIC_GZ, (request.path, etag), 256
    elif getattr(resp, "gzip_key", None) is not None:  # a body the view serves from its cache
        cache, key, room = _BODY_GZ, resp.gzip_key, 16
    else:
        cache = key = None
    resp.direct_passthrough = False
    if cache is not None and key in cache:
        data = cache[key]
    else:
        raw = resp.get_data()
        if len(raw) < _MIN_SIZE:
            return resp
        # static files: best compression, once; small dynamic answers: fastest (level 1
        # costs a quarter of level 5 for a few % more bytes); big ones (the finder's
        # 10,000-station layer, cached a minute): level 6
        level = 9 if static else (1 if len(raw) < 65536 else 6)
        data = _gzip(raw, level)
        if cache is not None:
            _evict(cache, room)
            cache[key] = data
    resp.set_data(data)
    resp.headers["Content-Encoding"] = "gzip"
    if etag:
        resp.set_etag(etag, weak=True)
    return resp
