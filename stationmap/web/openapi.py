"""The OpenAPI 3.0 document of the JSON API (served at ``/api/v1/openapi.json``).

The query parameters are :mod:`stationmap.web.params`' declarations (the same
ones the views check); the responses' schemas are written here.
``tests/web/test_fuzz.py`` generates
thousands of requests from it (schemathesis) and checks that none gives a 500,
that responses match the schemas here, and that bad input is refused.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Any

from stationmap import __version__
from stationmap.config import (
    CHECKIN_NOTE_MAX_CHARS,
    DETOUR_FACTOR,
    FRESHNESS_WINDOWS,
    MODES,
    REQUEST_REASON_MAX_CHARS,
    STATION_REQUEST_LIMIT,
)
from stationmap.coords import DATUMS
from stationmap.labels import LANGS, REPORT_LABELS, REQUEST_STATUS_LABELS, RESOLUTION_LABELS
from stationmap.model import KINDS, SERVICES, STATUSES
from stationmap.web import params

if TYPE_CHECKING:
    from flask import Flask


def _error(description: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Error"}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def register_paths(app: Flask, paths: dict) -> None:
    """Add OpenAPI path items of another blueprint (``{"/api/v1/x": {"get": {...}}}``).

    Call from that blueprint's ``init_app``; the served document then lists
    them, and the fuzz tests (tests/web/test_fuzz.py) exercise them too.
    Schemas may refer to ``#/components/schemas/Error``.
    """
    app.extensions["stationmap"].openapi_paths.update(paths)


def document_for_app(app: Flask) -> dict:
    """:func:`openapi_document` plus the paths registered with :func:`register_paths`."""
    extra = app.extensions["stationmap"].openapi_paths
    doc = openapi_document()
    if not extra:
        return doc
    return {**doc, "paths": {**doc["paths"], **extra}}


@lru_cache(maxsize=1)
def openapi_document() -> dict:
    station_params = [
        {"name": "station_id", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1},
         "description": "Station id."},
        *(p.openapi() for p in params.STATION),
    ]
    nav = {"type": "object", "required": ["amap", "baidu", "apple"],
           "properties": {"amap": {"type": "string", "description": "Amap URI (GCJ-02, coordinate=gaode)"},
                          "baidu": {"type": "string", "description": "Baidu URI (BD-09, coord_type=bd09ll)"},
                          "apple": {"type": "string", "description": "Apple Maps URL (GCJ-02 in China)"}}}
    nullable_str = {"type": "string", "nullable": True}
    zh_en = {"type": "object", "required": ["zh", "en"],
             "properties": {"zh": {"type": "string"}, "en": {"type": "string"}}}
    freshness = {
        "type": "object", "required": ["confirmed_on", "by", "age_days", "open_problems", "text"],
        "description": "when and how the station was last confirmed: the later of its last open_ok check-in "
                       "(by checkin) and the district's verification (by district); the day in Asia/Shanghai",
        "properties": {"confirmed_on": {"type": "string", "format": "date", "nullable": True},
                       "by": {"type": "string", "enum": ["checkin", "district", None], "nullable": True},
                       "age_days": {"type": "integer", "minimum": 0, "nullable": True},
                       "open_problems": {"type": "integer", "minimum": 0}, "text": zh_en,
                       "problems_text": {**zh_en, "nullable": True}}}
    station_props = {
        "type": "object",
        "properties": {
            "id": {"type": "string"}, "name": {"type": "string"}, "name_en": {"type": "string"},
            "kinds": {"type": "array", "items": {"type": "string", "enum": list(KINDS)}},
            "services": {"type": "array", "items": {"type": "string", "enum": list(SERVICES)}},
            "address": {"type": "string"}, "adcode": {"type": "string"}, "host": {"type": "string"},
            "operator": {"type": "string"}, "phone": {"type": "string"}, "opening_hours": {"type": "string"},
            "status": {"type": "string", "enum": list(STATUSES)},
            "verified_at": {"type": "string", "format": "date", "nullable": True},
            "sample": {"type": "boolean"}, "open_now": {"type": "boolean"}, "url": {"type": "string"},
            "distance_m": {"type": "number", "minimum": 0}, "minutes": {"type": "number", "minimum": 0},
            "straight_m": {"type": "number", "minimum": 0},
            "detour_minutes": {"type": "number", "minimum": 0, "description": "/along: the extra minutes the "
                               "station costs (to it and on to the destination, less the direct way)"},
            "onward_minutes": {"type": "number", "minimum": 0, "description": "/along: minutes from the station "
                               "to the destination"},
            "role": {"type": "string", "enum": ["station"]},
            "within_minutes": {"type": "boolean"}, "nav": nav, "freshness": freshness,
            "neighbour": {"type": "boolean", "description": "with scope: true for a neighbouring district's "
                                                            "station within reach of the district (邻区)"},
            "display_name": {"type": "string", "description": "with lang=en, where `name` is given: the name "
                             "a reader of English sees: the station's English name, else its name in pinyin"},
            "display_name_source": {"type": "string", "enum": ["name_en", "pinyin", "name"],
                                    "description": "with lang=en: where `display_name` comes from (name: the "
                                                   "name has no Chinese characters)"},
        },
    }
    point = {"type": "object", "required": ["type", "coordinates"],
             "properties": {"type": {"type": "string", "enum": ["Point"]},
                            "coordinates": {"type": "array", "items": {"type": "number"}, "minItems": 2,
                                            "maxItems": 2}}}
    feature = {"type": "object", "required": ["type", "id", "geometry", "properties"],
               "properties": {"type": {"type": "string", "enum": ["Feature"]}, "id": {"type": "string"},
                              "geometry": point, "properties": {"$ref": "#/components/schemas/StationProperties"},
                              "datum": {"type": "string", "enum": list(DATUMS)}}}
    datum_prop = {"type": "string", "enum": list(DATUMS)}
    used = {"type": "string", "enum": ["network", "circle"]}
    oneway = {"oneway_respected": {"type": "boolean", "nullable": True,
                                   "description": "the road network keeps to one-way streets; false: its source "
                                                  "has no one-way data, every street counts as two-way and times "
                                                  "are optimistic; null for the circle method"},
              "oneway_note": {"type": "object", "nullable": True,
                              "properties": {"zh": {"type": "string"}, "en": {"type": "string"}},
                              "description": "when oneway_respected is false: the sentence that says so, "
                                             "in Chinese and in English (as none_within.message)"},
              "network_licence": {"type": "string", "nullable": True,
                                  "description": "the road data's licence and credit (network method), e.g. "
                                                 "\"© OpenStreetMap contributors, ODbL\""}}
    nearest_fc = {
        "type": "object", "required": ["type", "datum", "method", "network", "oneway_respected", "oneway_note",
                                       "sample", "query", "reach", "none_within", "features"],
        "properties": {
            **oneway,
            "type": {"type": "string", "enum": ["FeatureCollection"]}, "datum": datum_prop,
            "method": {"type": "string", "description": "network or circle (the method used)"},
            "network": nullable_str,
            "sample": {"type": "boolean", "description": "true when any returned station is sample data"},
            "query": {"type": "object", "required": ["lon", "lat", "mode", "minutes", "k", "at"],
                      "properties": {"lon": {"type": "number"}, "lat": {"type": "number"},
                                     "mode": {"type": "string", "enum": list(MODES)},
                                     "minutes": {"type": "number"}, "k": {"type": "integer"},
                                     "at": {"type": "string", "format": "date-time"}}},
            "reach": {"type": "object", "required": ["method", "speed_kmh", "detour_factor", "radius_m"],
                      "properties": {"method": {"type": "string"}, "speed_kmh": {"type": "number"},
                                     "detour_factor": {"type": "number"}, "radius_m": {"type": "number"}}},
            "none_within": {
                "type": "object", "nullable": True,
                "description": "null when a station of the asked kinds and services is within the minutes; "
                               "else: none is (stationmap.within), the nearest one (null: none at all) with its "
                               "distance (roads or straight_line), and the sentence to show in zh and en",
                "required": ["minutes", "kinds", "services", "nearest", "message"],
                "properties": {
                    "minutes": {"type": "number"},
                    "kinds": {"type": "array", "items": {"type": "string", "enum": list(KINDS)}},
                    "services": {"type": "array", "items": {"type": "string", "enum": list(SERVICES)}},
                    "nearest": {"type": "object", "nullable": True,
                                "required": ["id", "name", "minutes", "distance_m", "distance"],
                                "properties": {"id": {"type": "string"}, "name": {"type": "string"},
                                               "minutes": {"type": "number"}, "distance_m": {"type": "number"},
                                               "distance": {"type": "string", "enum": ["roads", "straight_line"]}}},
                    "message": {"type": "object", "required": ["zh", "en"],
                                "properties": {"zh": {"type": "string"}, "en": {"type": "string"}}},
                },
            },
            "features": {"type": "array", "items": {"$ref": "#/components/schemas/StationFeature"}},
        },
    }
    lonlat = {"type": "object", "required": ["lon", "lat"],
              "properties": {"lon": {"type": "number"}, "lat": {"type": "number"}}}
    along_fc = {
        "type": "object", "required": ["type", "datum", "method", "network", "oneway_respected", "oneway_note",
                                       "sample", "query", "route", "features"],
        "properties": {
            **oneway,
            "type": {"type": "string", "enum": ["FeatureCollection"]}, "datum": datum_prop, "method": used,
            "network": nullable_str, "sample": {"type": "boolean"},
            "query": {"type": "object", "required": ["from", "to", "mode", "max_detour", "k", "at", "method"],
                      "properties": {"from": lonlat, "to": lonlat, "mode": {"type": "string", "enum": list(MODES)},
                                     "max_detour": {"type": "number"}, "k": {"type": "integer"},
                                     "at": {"type": "string", "format": "date-time"},
                                     "method": {"type": "string"}}},
            "route": {"type": "object", "required": ["minutes", "straight_m", "speed_kmh", "detour_factor"],
                      "description": "the direct way from the start to the destination: its minutes (along the "
                                     "roads, or the circle estimate), its straight-line metres, and how far each "
                                     "end is from its road (network method)",
                      "properties": {"minutes": {"type": "number", "minimum": 0},
                                     "straight_m": {"type": "number", "minimum": 0},
                                     "snap_from_m": {"type": "number", "nullable": True},
                                     "snap_to_m": {"type": "number", "nullable": True},
                                     "speed_kmh": {"type": "number"}, "detour_factor": {"type": "number"}}},
            "features": {"type": "array", "items": {"$ref": "#/components/schemas/StationFeature"}},
        },
    }
    polygon = {"type": "object", "required": ["type", "coordinates"],
               "properties": {"type": {"type": "string", "enum": ["Polygon", "MultiPolygon"]},
                              "coordinates": {"type": "array"}}}
    area_feature = {
        "type": "object", "required": ["type", "geometry", "properties"],
        "properties": {
            "type": {"type": "string", "enum": ["Feature"]}, "id": {"type": "string"}, "geometry": polygon,
            "properties": {"type": "object",
                           "required": ["role", "method", "network", "minutes", "mode", "area_km2"],
                           "properties": {"role": {"type": "string", "enum": ["isochrone"]}, "method": used,
                                          "network": nullable_str, "minutes": {"type": "number"},
                                          "mode": {"type": "string", "enum": list(MODES)},
                                          "area_km2": {"type": "number", "minimum": 0},
                                          "snap_m": {"type": "number", "nullable": True},
                                          "resolution_m": {"type": "number", "nullable": True},
                                          "stations": {"type": "integer", "minimum": 0}}}}}
    reach_fc = {
        "type": "object", "required": ["type", "datum", "method", "network", "oneway_respected", "oneway_note",
                                       "area_km2", "sample", "query", "features"],
        "properties": {
            **oneway,
            "type": {"type": "string", "enum": ["FeatureCollection"]}, "datum": datum_prop, "method": used,
            "network": nullable_str, "area_km2": {"type": "number", "minimum": 0}, "sample": {"type": "boolean"},
            "query": {"type": "object", "required": ["lon", "lat", "mode", "minutes", "method", "at"]},
            "features": {"type": "array", "minItems": 1,
                         "items": {"oneOf": [area_feature, {"$ref": "#/components/schemas/StationFeature"}]}},
        },
    }
    stations_fc = {
        "type": "object", "required": ["type", "datum", "sample", "total", "limit", "offset", "next", "features"],
        "properties": {
            "type": {"type": "string", "enum": ["FeatureCollection"]}, "datum": datum_prop,
            "sample": {"type": "boolean"}, "total": {"type": "integer", "minimum": 0},
            "limit": {"type": "integer"}, "offset": {"type": "integer"}, "next": nullable_str,
            "features": {"type": "array", "items": {"$ref": "#/components/schemas/StationFeature"}},
        },
    }
    district_row = {
        "type": "object", "required": ["adcode", "name", "counts", "total", "bbox", "sample"],
        "properties": {
            "adcode": {"type": "string"}, "name": {"type": "string"}, "city": nullable_str, "level": nullable_str,
            "counts": {"type": "object", "properties": {k: {"type": "integer", "minimum": 0} for k in KINDS},
                       "required": list(KINDS)},
            "total": {"type": "integer", "minimum": 0},
            "bbox": {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4, "nullable": True},
            "sample": {"type": "boolean"},
            "freshness": {
                "type": "object", "required": ["stations", "confirmed_within", "never_confirmed", "open_problems"],
                "description": "of the district's stations not closed: the share confirmed (open_ok check-in or "
                               "the district's verification) within 30, 90 and 180 days (null: no such station), "
                               "how many never were; open_problems: its open items",
                "properties": {"stations": {"type": "integer", "minimum": 0},
                               "confirmed_within": {"type": "object", "properties": {
                                   str(w): {"type": "number", "minimum": 0, "maximum": 1, "nullable": True}
                                   for w in FRESHNESS_WINDOWS}},
                               "never_confirmed": {"type": "integer", "minimum": 0},
                               "open_problems": {"type": "integer", "minimum": 0}}},
        },
    }
    checkin_in = {
        "type": "object", "required": ["outcome"], "additionalProperties": False,
        "properties": {
            "outcome": {"type": "string", "enum": list(REPORT_LABELS),
                        "description": "open_ok confirms the station; every other outcome opens an item for "
                                       "the district's editors"},
            "service": {"type": "string", "enum": list(SERVICES), "description": "service_missing: which one"},
            "lon": {"type": "number", "description": "moved: the suggested position, in `datum`"},
            "lat": {"type": "number"},
            "datum": {"type": "string", "enum": list(DATUMS), "default": "wgs84"},
            "note": {"type": "string", "maxLength": CHECKIN_NOTE_MAX_CHARS,
                     "description": "free text; required for info_wrong"},
        },
    }
    request_in = {
        "type": "object", "required": ["lon", "lat", "reason"], "additionalProperties": False,
        "properties": {
            "lon": {"type": "number", "description": "where a station is needed, in `datum`"},
            "lat": {"type": "number"},
            "datum": {"type": "string", "enum": list(DATUMS), "default": "wgs84"},
            "reason": {"type": "string", "minLength": 1, "maxLength": REQUEST_REASON_MAX_CHARS,
                       "description": "why (spaces collapsed)"},
        },
    }
    request_out = {
        "type": "object", "required": ["id", "position", "datum", "adcode", "reason", "at", "status", "decided_at"],
        "properties": {
            "id": {"type": "integer"},
            "position": {"type": "object", "required": ["lon", "lat"],
                         "properties": {"lon": {"type": "number"}, "lat": {"type": "number"}}},
            "datum": {"type": "string", "enum": ["wgs84"]},
            "adcode": {"type": "string", "nullable": True,
                       "description": "the district the pin lies in (its editors decide it); null: none known"},
            "reason": {"type": "string"}, "at": {"type": "string", "format": "date-time"},
            "status": {"type": "string", "enum": list(REQUEST_STATUS_LABELS)},
            "decided_at": {"type": "string", "format": "date-time", "nullable": True},
        },
    }
    checkin_out = {
        "type": "object",
        "required": ["id", "station_id", "outcome", "at", "problem", "open", "service", "position", "note",
                     "resolution", "resolved_at", "counted"],
        "properties": {
            "id": {"type": "integer"}, "station_id": {"type": "string"},
            "outcome": {"type": "string", "enum": list(REPORT_LABELS)},
            "at": {"type": "string", "format": "date-time"}, "problem": {"type": "boolean"},
            "open": {"type": "boolean"}, "service": nullable_str,
            "position": {"type": "object", "nullable": True, "description": "WGS-84",
                         "properties": {"lon": {"type": "number"}, "lat": {"type": "number"}}},
            "note": {"type": "string"},
            "resolution": {"type": "string", "nullable": True, "enum": [*RESOLUTION_LABELS, None]},
            "resolved_at": {"type": "string", "format": "date-time", "nullable": True},
            "counted": {"type": "boolean", "description": "false: the same device sent the same outcome "
                                                          "within the repeat window; nothing new was counted"},
        },
    }
    geo = "application/geo+json"
    bad = _error("A parameter is missing, unknown, repeated or has a bad value; `field` names it.")
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "stationmap API",
            "version": __version__,
            "description": (
                "Trade-union rest stations (工会驿站) for outdoor workers. Coordinates are WGS-84 unless "
                "`datum` / `out_datum` say otherwise. Travel minutes are along the roads where a road network "
                "covers the point, elsewhere straight-line estimates: geodesic "
                f"distance x a detour factor ({DETOUR_FACTOR} by default) / the mode's speed. Errors are "
                '`{"error": {"code", "message", "field", "lang", "display_message"}}` with a 4xx status: '
                "`message` in English, `display_message` in `lang` (else the Accept-Language, else English). "
                "See docs/api.md."),
        },
        "paths": {
            "/api/v1/nearest": {"get": {
                "operationId": "nearest", "summary": "The stations nearest a point, quickest first.",
                "parameters": [p.openapi() for p in params.NEAREST],
                "responses": {"200": {"description": "GeoJSON FeatureCollection, nearest first.",
                                      "content": {geo: {"schema": nearest_fc}}},
                              "400": bad},
            }},
            "/api/v1/offline": {"get": {
                "operationId": "offline",
                "summary": "What the finder keeps on the device to work offline: every station not closed within "
                           "20 km of a point, nearest first, with its hours and its navigation links per travel "
                           "mode (`nav.walk`, `nav.bike`, ...), and the circle estimate's `speeds_kmh` and "
                           "`detour_factor`, with `fetched_at`. Links are web pages inside in-app browsers "
                           "(`in_app_browser`: wechat, qq, ...; by the User-Agent).",
                "parameters": [p.openapi() for p in params.OFFLINE],
                "responses": {"200": {"description": "GeoJSON FeatureCollection (WGS-84), nearest first.",
                                      "content": {geo: {"schema": {"type": "object",
                                                                   "required": ["type", "features", "fetched_at",
                                                                                "speeds_kmh", "detour_factor"]}}}},
                              "400": bad},
            }},
            "/api/v1/reach": {"get": {
                "operationId": "reach",
                "summary": "The area reachable from a point in `minutes` (isochrone), and the stations in it.",
                "parameters": [p.openapi() for p in params.REACH],
                "responses": {"200": {"description": "GeoJSON FeatureCollection: the area (a (Multi)Polygon "
                                                     "feature, role isochrone), then the stations in reach, "
                                                     "quickest first.",
                                      "content": {geo: {"schema": reach_fc}}},
                              "400": bad},
            }},
            "/api/v1/along": {"get": {
                "operationId": "along",
                "summary": "The stations on the way from a start to a destination that cost the fewest extra "
                           "minutes (detour), least detour first.",
                "parameters": [p.openapi() for p in params.ALONG],
                "responses": {"200": {"description": "GeoJSON FeatureCollection, least detour first (ties: the "
                                                     "station reached sooner); each station's detour_minutes, "
                                                     "minutes (to reach it), onward_minutes, nav links from the "
                                                     "start.",
                                      "content": {geo: {"schema": along_fc}}},
                              "400": bad},
            }},
            "/api/v1/coverage": {"get": {
                "operationId": "coverage",
                "summary": "Coverage figures of a district: minutes to the nearest station, gaps, sites.",
                "parameters": [p.openapi() for p in params.COVERAGE],
                "responses": {"200": {"description": "Coverage figures, and the run's assumptions (assumptions: "
                                                     "speed, radius or network, minutes, demand, cells; zh and en).",
                                      "content": {"application/json": {"schema": {"type": "object"}}}},
                              "400": bad, "404": _error("No district with that adcode, or no boundary polygon.")},
            }},
            "/api/v1/stations": {"get": {
                "operationId": "stations", "summary": "Stations matching filters, in id order, a page at a time.",
                "parameters": [p.openapi() for p in params.STATIONS],
                "responses": {"200": {"description": "GeoJSON FeatureCollection. `ETag` (weak) and "
                                                     "`Last-Modified` follow the data revision (and, without `at`, "
                                                     "the minute).",
                                      "headers": {"ETag": {"schema": {"type": "string"}},
                                                  "Last-Modified": {"schema": {"type": "string"}}},
                                      "content": {geo: {"schema": stations_fc}}},
                              "304": {"description": "Not Modified: `If-None-Match` names the current ETag, or "
                                                     "(without it) `If-Modified-Since` is not before Last-Modified."},
                              "400": bad},
            }},
            "/api/v1/changes": {"get": {
                "operationId": "changes",
                "summary": "The change feed: created, updated and deleted stations in order after a cursor, a page "
                           "at a time. Apply each entry in order to a copy (upsert: put `station` under `id`; "
                           "delete: remove `id`); from `since=0` on an empty copy, the copy ends with exactly the "
                           "public stations (all but the closed: a closure is a delete with reason closed).",
                "parameters": [p.openapi() for p in params.CHANGES],
                "responses": {"200": {"description": "A page of entries.", "content": {"application/json": {
                    "schema": {
                        "type": "object", "required": ["datum", "entries", "next", "more", "revision", "next_url"],
                        "properties": {
                            "datum": datum_prop,
                            "entries": {"type": "array", "items": {
                                "type": "object", "required": ["rev", "id", "at", "op"],
                                "properties": {
                                    "rev": {"type": "integer"}, "id": {"type": "string"},
                                    "at": {"type": "string", "format": "date-time", "nullable": True},
                                    "op": {"type": "string", "enum": ["upsert", "delete"]},
                                    "reason": {"type": "string", "enum": ["deleted", "closed"],
                                               "description": "delete: why the station is no longer public"},
                                    "station": {"type": "object", "description": "upsert: the station's record "
                                                "as written (lon/lat WGS-84)"}}}},
                            "next": {"type": "integer", "minimum": 0,
                                     "description": "the cursor to ask with next (`since`)"},
                            "more": {"type": "boolean", "description": "more entries after `next` exist already"},
                            "revision": {"type": "integer", "minimum": 0,
                                         "description": "the change log's latest number"},
                            "next_url": {"type": "string"}}}}}},
                    "400": bad},
            }},
            "/api/v1/stations/{station_id}": {"get": {
                "operationId": "station", "summary": "One station, with navigation links to it.",
                "parameters": station_params,
                "responses": {"200": {"description": "GeoJSON Feature.",
                                      "content": {geo: {"schema": {"$ref": "#/components/schemas/StationFeature"}}}},
                              "400": bad, "404": _error("No station with that id.")},
            }},
            "/api/v1/stations/{station_id}/checkins": {"post": {
                "operationId": "checkin",
                "summary": "Check in at a station: anonymous, rate-limited per client address (with the "
                           "station page's form), no CSRF token; the body must be application/json.",
                "parameters": [*station_params[:1], {
                    "name": "Idempotency-Key", "in": "header", "required": False,
                    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_-]{8,64}$"},
                    "description": "The sender's key of this check-in (a UUID): sent again, whenever, it is "
                                   "answered 200 with the first one and recorded once (the finder's offline queue)."}],
                "requestBody": {"required": True, "content": {"application/json": {"schema": checkin_in}}},
                "responses": {
                    "201": {"description": "Recorded.", "content": {"application/json": {"schema": checkin_out}}},
                    "200": {"description": "The same check-in of this device within the repeat window: "
                                           "received, counted once (the earlier one is returned).",
                            "content": {"application/json": {"schema": checkin_out}}},
                    "400": _error("A bad body; `field` names what is wrong."),
                    "404": _error("No station with that id."),
                    "429": _error("Too many check-ins from this address."),
                },
            }},
            "/api/v1/station-requests": {
                "post": {
                    "operationId": "stationRequest",
                    "summary": "\"A station is needed here\": drop a pin with a short reason; anonymous, "
                               f"rate-limited per client address ({STATION_REQUEST_LIMIT}, with the page's form), "
                               "no CSRF token; the body must be application/json.  Pending until an editor of "
                               "the district it lies in approves or rejects it.",
                    "requestBody": {"required": True, "content": {"application/json": {"schema": request_in}}},
                    "responses": {
                        "201": {"description": "Recorded, pending.",
                                "content": {"application/json": {"schema": request_out}}},
                        "400": _error("A bad body; `field` names what is wrong."),
                        "429": _error("Too many pins from this address."),
                    },
                },
                "get": {
                    "operationId": "stationRequests",
                    "summary": "The approved pins (newest first, WGS-84): demand points for the siting.",
                    "parameters": [p.openapi() for p in params.STATION_REQUESTS],
                    "responses": {
                        "200": {"description": "Approved pins.", "content": {"application/json": {"schema": {
                            "type": "object", "required": ["datum", "district", "requests"],
                            "properties": {"datum": {"type": "string", "enum": ["wgs84"]},
                                           "district": nullable_str,
                                           "requests": {"type": "array", "items": request_out}}}}}},
                        "400": _error("A bad parameter."),
                    },
                },
            },
            "/api/v1/districts": {"get": {
                "operationId": "districts",
                "summary": "Districts with stations: counts by kind, bounding box, freshness figures.",
                "parameters": [p.openapi() for p in params.DISTRICTS],
                "responses": {"200": {"description": "Districts. `ETag` (weak: a hash of the answer) and "
                                                     "`Last-Modified` (the latest of the stations' last write, the "
                                                     "last check-in or resolution, and the start of today in "
                                                     "Asia/Shanghai).",
                                      "headers": {"ETag": {"schema": {"type": "string"}},
                                                  "Last-Modified": {"schema": {"type": "string"}}},
                                      "content": {"application/json": {"schema": {
                    "type": "object", "required": ["datum", "districts"],
                    "properties": {"datum": datum_prop, "sample": {"type": "boolean"},
                                   "stale_days": {"type": "integer", "description": "a station not confirmed "
                                                  "within so many days is stale (STATIONMAP_STALE_DAYS)"},
                                   "districts": {"type": "array", "items": district_row}}}}}},
                              "304": {"description": "Not Modified: `If-None-Match` names the current ETag, or "
                                                     "(without it) `If-Modified-Since` is not before Last-Modified."},
                              "400": bad},
            }},
            "/api/v1/districts/boundaries": {"get": {
                "operationId": "boundaries", "summary": "District boundaries, simplified for drawing (WGS-84).",
                "parameters": [p.openapi() for p in params.BOUNDARIES],
                "responses": {"200": {"description": "GeoJSON FeatureCollection of (Multi)Polygons.",
                                      "content": {geo: {"schema": {
                                          "type": "object", "required": ["type", "features"],
                                          "properties": {"type": {"type": "string", "enum": ["FeatureCollection"]},
                                                         "features": {"type": "array"}}}}}},
                              "400": bad},
            }},
        },
        "components": {"schemas": {
            "Error": {"type": "object", "required": ["error"], "properties": {"error": {
                "type": "object", "required": ["code", "message", "field", "lang", "display_message"],
                "properties": {
                    "code": {"type": "string"},
                    "message": {"type": "string", "description": "English, stable: for programs"},
                    "field": nullable_str,
                    "lang": {"type": "string", "enum": list(LANGS), "description": "the language of "
                             "display_message: `lang`, else the Accept-Language, else en"},
                    "display_message": {"type": "string", "description": "the message in `lang`, for people"},
                }}}},
            "StationProperties": station_props,
            "StationFeature": feature,
        }},
    }
