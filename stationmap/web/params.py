"""The JSON API's query parameters, declared once: the checks and the OpenAPI document read them.

Each parameter is a :class:`Param` (name, type, bounds, default, choices,
description); each endpoint's parameters are a tuple of them (:data:`NEAREST`,
:data:`REACH`, :data:`STATIONS`, ...).  A view checks its query string with
:class:`Params` (``Params(names(NEAREST))``, then ``p.number(LAT)``...: every
bad value is a :class:`~stationmap.errors.ValidationError` naming the
parameter, answered with 400), and :mod:`stationmap.web.openapi` writes the
same tuples into the document (:meth:`Param.openapi`).

Also here: reading date-times (:func:`parse_datetime`, from :mod:`stationmap.hours`) and the default ``at``
(:func:`now`, made once a second).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, overload

from stationmap.config import (
    API_MAX_K,
    AT_YEARS,
    DEFAULT_CELL_M,
    DEFAULT_K,
    DEFAULT_LIMIT,
    DEFAULT_MAX_DETOUR_MINUTES,
    DEFAULT_METHOD,
    DEFAULT_MINUTES,
    DEFAULT_MODE,
    DEFAULT_PROFILE_HOUR,
    FEED_DEFAULT_LIMIT,
    FEED_MAX_LIMIT,
    MAX_DETOUR_MINUTES,
    MAX_LIMIT,
    MAX_MINUTES,
    MAX_OFFSET,
    MAX_REACH_RANGES,
    MAX_SCENARIO_STATIONS,
    METHODS,
    MODES,
    NIGHT_FROM_HOUR,
    NIGHT_TO_HOUR,
    PROFILE_DAY,
    PROFILES,
    SITING_OBJECTIVES,
    WEB_MAX_ADD,
    WEB_MAX_CELL_M,
    WEB_MAX_GAPS,
    WEB_MIN_CELL_M,
    WEB_MIN_MINUTES,
)
from stationmap.coords import DATUMS
from stationmap.errors import ValidationError
from stationmap.hours import TZ, parse_datetime
from stationmap.labels import LANGS
from stationmap.model import KINDS, SERVICES, STATUSES
from stationmap.web.features import PROPERTIES

if TYPE_CHECKING:
    from stationmap.web.http import StationmapRequest

    #: flask's ``request``, of the app's request class (stationmap.web.http.StationmapFlask)
    request: StationmapRequest
else:
    from flask import request

_NUM = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_PLAIN_NUMBER = frozenset("0123456789.+-eE")
_INT = re.compile(r"[+-]?\d+")
_PREFIX = re.compile(r"\d{1,6}")


# -- declarations --------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Param:
    """One query parameter: what :class:`Params` checks and the OpenAPI document says.

    ``kind`` is how it is read: ``number``, ``integer``, ``boolean``, ``choice``
    (one of ``choices``), ``many`` (a repeatable list of ``choices``), ``datetime``,
    ``bbox``, ``prefix`` (an adcode prefix), ``adcode`` (six digits), ``points``
    (``lon,lat;lon,lat...``, at most ``hi`` of them) or ``ids`` (comma-separated station ids).  ``default``
    is the value when it is absent (a view may pass the instance's own, e.g. the
    settings' minutes); ``explode`` is the OpenAPI style of a list (``kind=a&kind=b``
    or ``kind=a,b``; both are read).
    """

    name: str
    kind: str
    description: str
    required: bool = False
    default: Any = None     # of the kind's type: float (number), int, bool, str (choice)...
    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    choices: tuple | dict = ()
    explode: bool | None = None

    def schema(self) -> dict:
        """The parameter's OpenAPI 3.0 schema."""
        kind = self.kind
        if kind in ("number", "integer"):
            s: dict = {"type": kind, "minimum": _doc_number(self.lo)}
            if self.lo_open:
                s["exclusiveMinimum"] = True
            s["maximum"] = _doc_number(self.hi)
        elif kind == "boolean":
            s = {"type": "boolean"}
        elif kind == "choice":
            s = {"type": "string", "enum": list(self.choices)}
        elif kind == "many":
            return {"type": "array", "items": {"type": "string", "enum": list(self.choices)}}
        elif kind == "datetime":
            return {"type": "string", "format": "date-time"}
        elif kind == "bbox":
            return {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4}
        elif kind == "prefix":
            return {"type": "string", "pattern": r"^[0-9]{1,6}$"}
        elif kind == "adcode":
            return {"type": "string", "pattern": r"^[0-9]{6}$"}
        elif kind == "numbers":
            return {"type": "array", "items": {"type": "number", "minimum": _doc_number(self.lo),
                                               "maximum": _doc_number(self.hi),
                                               **({"exclusiveMinimum": True} if self.lo_open else {})},
                    "minItems": 1, "maxItems": MAX_REACH_RANGES}
        elif kind == "points":
            return {"type": "string", "pattern": r"^-?[0-9.]+,-?[0-9.]+(;-?[0-9.]+,-?[0-9.]+)*$"}
        elif kind == "ids":
            return {"type": "array", "items": {"type": "string"}}
        else:
            raise ValueError(f"unknown parameter kind {kind!r}")
        if self.default is not None:
            s["default"] = _doc_number(self.default) if kind in ("number", "integer") else self.default
        return s

    def openapi(self) -> dict:
        """The OpenAPI 3.0 parameter object (``in: query``)."""
        d = {"name": self.name, "in": "query", "required": self.required, "description": self.description,
             "schema": self.schema()}
        if self.explode is not None:
            d["style"] = "form"
            d["explode"] = self.explode
        return d


def _doc_number(x: object) -> object:
    """A bound or default as the document writes it: ``15.0`` as ``15``."""
    return int(x) if isinstance(x, float) and x.is_integer() else x


def names(params: Iterable[Param]) -> frozenset[str]:
    """The names of ``params`` (what :class:`Params` allows)."""
    return frozenset(p.name for p in params)


LAT = Param("lat", "number", "Latitude of the query point.", required=True, lo=-90.0, hi=90.0)
LON = Param("lon", "number", "Longitude of the query point.", required=True, lo=-180.0, hi=180.0)
DATUM = Param("datum", "choice", "Datum of the input coordinates: wgs84 (GPS, OpenStreetMap), gcj02 (Amap, "
              "Tencent, WeChat, Apple Maps in China) or bd09 (Baidu).", choices=DATUMS, default="wgs84")
OUT_DATUM = Param("out_datum", "choice", "Datum of the output coordinates (the response's top-level `datum`).",
                  choices=DATUMS, default="wgs84")
KIND = Param("kind", "many", "Only stations of any of these kinds (repeat the parameter or separate with "
             "commas).", choices=KINDS, explode=True)
SERVICE = Param("service", "many", "Only stations offering all of these services.", choices=SERVICES,
                explode=True)
STATUS = Param("status", "many", "Only stations with any of these statuses (default: all).",
               choices=STATUSES, explode=True)
OPEN_NOW = Param("open_now", "boolean", "Only stations open at `at` (default: now), Asia/Shanghai time.",
                 default=False)
AT = Param("at", "datetime", "The time for `open_now` and for each feature's `open_now`, `closes_at` and "
           "`opens_at` (ISO 8601; without an "
           f"offset it is Asia/Shanghai time; years {AT_YEARS[0]}-{AT_YEARS[1]}). Default: now.")
ORDER = Param("order", "choice", "time: the k quickest stations, quickest first, open or not (each feature "
              "says `open_now`, `closes_at`, `opens_at`). open_first: the k quickest stations open at `at`, "
              "quickest first, then those of the k quickest overall that are closed then, quickest first (at "
              "most 2k; the finder's list).", choices=("time", "open_first"), default="time")
K = Param("k", "integer", "How many stations.", lo=1, hi=API_MAX_K, default=DEFAULT_K)
MODE = Param("mode", "choice", "Travel mode for the `minutes` estimate.", choices=MODES, default=DEFAULT_MODE)
MINUTES = Param("minutes", "number", "The travel-time budget: `within_minutes` says whether a station is "
                "inside it.", lo=0.0, hi=MAX_MINUTES, lo_open=True, default=DEFAULT_MINUTES)
METHOD = Param("method", "choice", "auto: minutes along the roads where a road network covers the point, the "
               "circle estimate (straight line x detour factor / speed) elsewhere; network: roads only (400 "
               "where no network covers the point); circle: the estimate only. The response's `method` says "
               "which was used.", choices=METHODS, default=DEFAULT_METHOD)
BBOX = Param("bbox", "bbox", "west,south,east,north in `datum` degrees, with west <= east and south <= north.",
             explode=False)
DISTRICT = Param("district", "prefix", "Adcode prefix: 32 (a province), 3204 or 320400 (a city), 320402 "
                 "(a county).")
LIMIT = Param("limit", "integer", "Page size.", lo=1, hi=MAX_LIMIT, default=DEFAULT_LIMIT)
OFFSET = Param("offset", "integer", "Features to skip (stations are in id order).", lo=0, hi=MAX_OFFSET,
               default=0)
FIELDS = Param("fields", "many", "Only these properties (the id is always the feature's `id`): a compact "
               "payload for maps.", choices=PROPERTIES, explode=False)
LEVEL = Param("level", "choice", "Level.", choices=("city", "county"), default="county")

LANG = Param("lang", "choice", "The reader's language: the language of an error's `display_message` (without "
             "`lang`: the request's Accept-Language, else English); with `en`, each station also carries "
             "`display_name` (its English name where one is given, else its name in pinyin) and "
             "`display_name_source` (`name_en`, `pinyin`, or `name` for a name without Chinese characters) "
             "wherever it carries `name`.", choices=LANGS)

#: the parameters of each endpoint, in the document's order
SCOPE = Param("scope", "adcode", "Adcode of a district: only its stations and the stations of neighbouring "
              "districts within reach of its boundary (the finder's minutes at the default mode, straight line), "
              "each with the property neighbour (true for a neighbour's); what an embed of the district shows.")
NEAREST = (LAT, LON, DATUM, OUT_DATUM, KIND, SERVICE, OPEN_NOW, AT, K, ORDER, MODE, MINUTES, METHOD, SCOPE, LANG)
#: /reach's minutes: one range, or several at once (``5,10,15``: nested areas)
REACH_MINUTES = replace(MINUTES, kind="numbers", explode=False,
                        description="Travel time of the area; several ranges at once, comma-separated (`5,10,15`, at "
                                    f"most {MAX_REACH_RANGES}), give one nested area each.")
REACH = tuple(REACH_MINUTES if p is MINUTES else p for p in NEAREST if p not in (K, ORDER, SCOPE))
FROM_LAT = Param("from_lat", "number", "Latitude of the start (where the courier is).", required=True, lo=-90.0,
                 hi=90.0)
FROM_LON = Param("from_lon", "number", "Longitude of the start.", required=True, lo=-180.0, hi=180.0)
TO_LAT = Param("to_lat", "number", "Latitude of the destination.", required=True, lo=-90.0, hi=90.0)
TO_LON = Param("to_lon", "number", "Longitude of the destination.", required=True, lo=-180.0, hi=180.0)
MAX_DETOUR = Param("max_detour", "number", "The most extra minutes a station may cost: time from the start to the "
                   "station and on to the destination, less the time of the direct way.", lo=0.0,
                   hi=MAX_DETOUR_MINUTES, lo_open=True, default=DEFAULT_MAX_DETOUR_MINUTES)
ALONG = (FROM_LAT, FROM_LON, TO_LAT, TO_LON, replace(DATUM, description="Datum of the input coordinates (both "
         "points): wgs84 (GPS, OpenStreetMap), gcj02 (Amap, Tencent, WeChat, Apple Maps in China) or bd09 (Baidu)."),
         OUT_DATUM, KIND, SERVICE, OPEN_NOW, AT, replace(K, description="How many stations, least detour first."),
         replace(MODE, description="Travel mode."), MAX_DETOUR,
         replace(METHOD, description="auto: along the roads where one road network covers both the start and the "
                 "destination, the circle estimate (straight line x detour factor / speed) elsewhere; network: roads "
                 "only (400 where no one network covers both); circle: the estimate only. The response's `method` "
                 "says which was used."), LANG)
STATIONS = (BBOX, DATUM, OUT_DATUM, KIND, SERVICE, STATUS, DISTRICT, SCOPE, OPEN_NOW, AT, LIMIT, OFFSET, FIELDS,
            LANG)
OFFLINE = (replace(LAT, description="Latitude of the position whose area the device keeps."),
           replace(LON, description="Longitude of the position whose area the device keeps."), DATUM, LANG)
#: a tile's grid and its answer's coordinates share one datum (a map over Amap tiles asks gcj02)
TILE_DATUM = Param("datum", "choice", "Datum of the tile grid and of the answer's coordinates: wgs84 (OpenStreetMap, "
                   "Tianditu) or gcj02 (Amap, Tencent): the tile z/x/y of a map drawn over that datum's tiles, "
                   "its clusters and stations shifted to it.", choices=("wgs84", "gcj02"), default="wgs84")
TILES = (TILE_DATUM, KIND, SERVICE, STATUS, DISTRICT, SCOPE, OPEN_NOW, AT, FIELDS, LANG)
STATION = (OUT_DATUM, AT, replace(MODE, description="Travel mode of the nav links."), LANG)
_ERRORS_IN = replace(LANG, description="The language of an error's `display_message` (without `lang`: the "
                     "request's Accept-Language, else English).")
DISTRICTS: tuple[Param, ...] = (_ERRORS_IN,)
BOUNDARIES = (LEVEL, replace(DISTRICT, description="Adcode prefix."), _ERRORS_IN)
STATION_REQUESTS = (replace(DISTRICT, description="Only the districts whose adcode starts with this (a 6-digit "
                            "city or province code stands for everything in it)."), _ERRORS_IN)
SINCE = Param("since", "integer", "Cursor: the `next` of the previous page (the change log's number of the last "
              "entry applied); 0 (the default) starts from the beginning.", lo=0, hi=2**62, default=0)
CHANGES = (SINCE, Param("limit", "integer", "Entries per page.", lo=1, hi=FEED_MAX_LIMIT, default=FEED_DEFAULT_LIMIT),
           _ERRORS_IN)
COVERAGE = (
    Param("district", "adcode", "Adcode of the district.", required=True),
    Param("kind", "choice", "Station kind.", choices=tuple(KINDS), default="rest"),
    replace(MODE, description="Travel mode."),
    Param("minutes", "number", "Travel-time budget.", lo=WEB_MIN_MINUTES, hi=MAX_MINUTES, default=DEFAULT_MINUTES),
    Param("cell", "number", "Grid cell, metres.", lo=WEB_MIN_CELL_M, hi=WEB_MAX_CELL_M, default=DEFAULT_CELL_M),
    Param("method", "choice", "Travel-time method.", choices=METHODS, default=DEFAULT_METHOD),
    Param("add", "integer", "Suggest this many new sites.", lo=0, hi=WEB_MAX_ADD, default=0),
    Param("objective", "choice", "What the suggested sites maximise: the people covered by at least one station "
          "(once), or by at least two (twice: the 双15 cross-coverage; existing stations count, and a place no "
          "station reaches needs two new sites).", choices=SITING_OBJECTIVES, default="once"),
    Param("cells", "boolean", "Include the cells as a GeoJSON FeatureCollection (WGS-84).", default=False),
    Param("accessibility", "boolean", "Also the accessibility index (E2SFCA: places per 1,000 people in reach, "
          "from each station's capacity, 1 where none is stated; decay 1 / 0.68 / 0.22 over thirds of `minutes`), "
          "per district; with `cells=true`, each cell's `access`.", default=False),
    Param("gaps", "integer", "How many gaps to list.", lo=0, hi=WEB_MAX_GAPS, default=20),
    replace(AT, description="Coverage at this moment (ISO 8601; without an offset it is Asia/Shanghai time; years "
            f"{AT_YEARS[0]}-{AT_YEARS[1]}): only the stations open then count, for every figure, gap and site "
            "(the response's `params.at` says which moment). Default: every station but the closed ones, whatever "
            "their hours. With `profile`, the week or year it falls in (default: this week, this year)."),
    replace(SERVICE, description="Only stations offering all of these services count; with `at` or `profile`, "
            "only while each service that keeps its own hours is available."),
    Param("profile", "choice", "Also the coverage over time, as `profile`: week = the 168 hours, Monday 00:00 to "
          "Sunday 23:00 (Asia/Shanghai), of the week holding `at`, with the night figures (the minimum and mean "
          f"over the hours from {NIGHT_FROM_HOUR:02d}:00 to {NIGHT_TO_HOUR:02d}:00); year = day {PROFILE_DAY} of "
          "each month of `at`'s year at `hour`, with the winter (Dec-Feb) and summer (Jun-Aug) means.",
          choices=PROFILES),
    Param("hour", "integer", "The hour of the day of `profile=year`.", lo=0, hi=23, default=DEFAULT_PROFILE_HOUR),
    _ERRORS_IN,
)
#: the what-if of a run (``/api/v1/coverage/whatif``, ``/coverage/<adcode>/whatif.csv``): the run's own
#: parameters, stations dropped on the map and stations taken out
WHATIF = (
    *(p for p in COVERAGE if p.name not in ("add", "objective", "cells", "gaps", "profile", "hour",
                                               "accessibility")),
    Param("new", "points", "Candidate stations of `kind`: `lon,lat;lon,lat...` in `datum`.",
          hi=MAX_SCENARIO_STATIONS),
    replace(DATUM, description="Datum of `new`: wgs84, gcj02 or bd09."),
    Param("without", "ids", "Existing stations of `kind` taken out of the scenario (ids, comma-separated).",
          hi=MAX_SCENARIO_STATIONS),
)
#: the coverage page (HTML) takes the run's parameters and ``lang``
COVERAGE_PAGE = frozenset({p.name for p in COVERAGE if p.name not in ("district", "cells", "gaps")} | {"lang"})


# -- checks --------------------------------------------------------------------------------

class Params:
    """The query string of the current request, checked against what a view takes.

    An unknown parameter, a repeated single-valued one, a missing required
    one or a bad value raises ValidationError naming the parameter.
    """

    def __init__(self, allowed: Collection[str]) -> None:
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

    @overload
    def number(self, spec: Param, default: float) -> float: ...
    @overload
    def number(self, spec: Param, default: None = None) -> float | None: ...

    def number(self, spec: Param, default: float | None = None) -> float | None:
        """A finite number in ``spec``'s bounds (``default``, else ``spec.default``, when absent)."""
        name = spec.name
        raw = self.one(name)
        if raw is None:
            if spec.required:
                raise ValidationError(f"{name} is required", field=name)
            return spec.default if default is None else default
        return _checked_number(spec, raw)

    def numbers(self, spec: Param, default: float | None = None) -> list[float]:
        """Comma-separated numbers, each as :meth:`number` checks one, ascending without repeats
        (at most :data:`~stationmap.config.MAX_REACH_RANGES`); ``[default]`` when absent."""
        raw = self.one(spec.name)
        if raw is None:
            first = self.number(spec, default)
            return [] if first is None else [first]
        parts = raw.split(",")
        if len(parts) > MAX_REACH_RANGES:
            raise ValidationError(f"{spec.name}: at most {MAX_REACH_RANGES} values, got {len(parts)}",
                                  field=spec.name)
        return sorted({_checked_number(spec, v) for v in parts})

    def integer(self, spec: Param) -> int:
        """An integer in ``spec``'s bounds (``spec.default`` when absent)."""
        name = spec.name
        raw = self.one(name)
        if raw is None:
            return spec.default
        lo, hi = spec.lo, spec.hi
        if lo is None or hi is None:
            raise ValueError(f"integer parameter {name!r} is declared without its bounds")
        text = raw.strip()
        if not _INT.fullmatch(text) or len(text) > 12:
            if _INT.fullmatch(text):
                raise ValidationError(f"{name} must be an integer in [{lo}, {hi}], got {raw!r}", field=name)
            raise ValidationError(f"{name} must be an integer, got {raw!r}", field=name)
        x = int(text)
        if not lo <= x <= hi:
            raise ValidationError(f"{name} must be an integer in [{lo}, {hi}], got {raw!r}", field=name)
        return x

    def boolean(self, spec: Param) -> bool:
        """``true`` or ``false`` (``spec.default`` when absent)."""
        name = spec.name
        raw = self.one(name)
        if raw is None:
            return spec.default
        if raw in ("true", "false"):
            return raw == "true"
        raise ValidationError(f"{name} must be true or false, got {raw!r}", field=name)

    def choice(self, spec: Param) -> str:
        """One of ``spec.choices`` (``spec.default`` when absent)."""
        name = spec.name
        raw = self.one(name)
        if raw is None:
            return spec.default
        choices = spec.choices
        if raw not in choices:
            raise ValidationError(f"{name} must be one of {tuple(choices)}, got {raw!r}", field=name)
        return raw

    def many(self, spec: Param) -> tuple:
        """A repeatable parameter (``kind=a&kind=b`` or ``kind=a,b``), each value in ``spec.choices``."""
        name, choices = spec.name, spec.choices
        out = []
        for raw in self.args.get(name, ()):
            for v in raw.split(","):
                if v not in choices:
                    raise ValidationError(f"{name} must be one of {tuple(choices)}, got {v!r}", field=name)
                out.append(v)
        return tuple(dict.fromkeys(out))

    def when(self, spec: Param = AT) -> datetime | None:
        """An ISO 8601 / RFC 3339 date-time; without an offset it is Asia/Shanghai time."""
        raw = self.one(spec.name)
        if raw is None:
            return None
        return parse_datetime(raw, field=spec.name)

    def bbox(self, spec: Param = BBOX) -> tuple | None:
        """``west, south, east, north`` (four ordered numbers), or None when absent."""
        name = spec.name
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

    def points(self, spec: Param) -> list[tuple[float, float]]:
        """``lon,lat;lon,lat...`` as pairs (at most ``spec.hi``); [] when absent."""
        name = spec.name
        raw = self.one(name)
        if not raw:
            return []
        out = []
        for k, part in enumerate(raw.split(";"), 1):
            xy = part.split(",")
            if len(xy) != 2 or not all(_NUM.fullmatch(v.strip()) for v in xy):
                raise ValidationError(f"{name}: point {k} must be lon,lat (points separated by ;), got {part!r}",
                                      field=name)
            x, y = float(xy[0]), float(xy[1])
            if not (math.isfinite(x) and math.isfinite(y) and -180 <= x <= 180 and -90 <= y <= 90):
                raise ValidationError(f"{name}: point {k} must have lon in [-180, 180] and lat in [-90, 90], "
                                      f"got {part!r}", field=name)
            out.append((x, y))
        if spec.hi is not None and len(out) > spec.hi:
            raise ValidationError(f"{name}: at most {spec.hi:g} points, got {len(out)}", field=name)
        return out

    def ids(self, spec: Param) -> tuple[str, ...]:
        """Comma-separated (or repeated) station ids, without repeats (at most ``spec.hi``)."""
        name = spec.name
        got = tuple(dict.fromkeys(v.strip() for raw in self.args.get(name, []) for v in raw.split(",") if v.strip()))
        if spec.hi is not None and len(got) > spec.hi:
            raise ValidationError(f"{name}: at most {spec.hi:g} stations, got {len(got)}", field=name)
        return got

    def prefix(self, spec: Param = DISTRICT) -> str | None:
        """An adcode prefix: 1-6 digits; a 6-digit city or province code ends in 00 / 0000
        and stands for everything in it (``320400`` -> ``3204``)."""
        name = spec.name
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


# -- date-times ----------------------------------------------------------------------------------
# (reading them: :func:`stationmap.hours.parse_datetime`, shared with the CLI)

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


def _checked_number(spec: Param, raw: str) -> float:
    """``raw`` as a finite number in ``spec``'s bounds; ValidationError naming ``spec`` else."""
    name = spec.name
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
    lo, hi, lo_open = spec.lo, spec.hi, spec.lo_open
    if (lo is not None and (x < lo or (lo_open and x == lo))) or (hi is not None and x > hi):
        left = "(" if lo_open else "["
        raise ValidationError(f"{name} must be in {left}{lo:g}, {hi:g}], got {raw!r}", field=name)
    return x
