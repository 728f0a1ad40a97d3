"""The OpenAPI 3.0 document of the JSON API (served at ``/api/v1/openapi.json``).

Kept next to the views it describes; ``tests/web/test_fuzz.py`` generates
thousands of requests from it (schemathesis) and checks that none gives a 500,
that responses match the schemas here, and that bad input is refused.
"""

from __future__ import annotations

from functools import lru_cache

from stationmap import __version__
from stationmap.config import DETOUR_FACTOR, MODES
from stationmap.coords import DATUMS
from stationmap.model import KINDS, SERVICES, STATUSES


def _p(name, schema, description, *, required=False, explode=None):
    d = {"name": name, "in": "query", "required": required, "description": description, "schema": schema}
    if explode is not None:
        d["style"] = "form"
        d["explode"] = explode
    return d


def _array(items):
    return {"type": "array", "items": items}


def _error(description):
    return {"description": description, "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def register_paths(app, paths: dict) -> None:
    """Add OpenAPI path items of another blueprint (``{"/api/v1/x": {"get": {...}}}``).

    Call from that blueprint's ``init_app``; the served document then lists
    them, and the fuzz tests (tests/web/test_fuzz.py) exercise them too.
    Schemas may refer to ``#/components/schemas/Error``.
    """
    extra = app.extensions["stationmap"].extra.setdefault("openapi_paths", {})
    extra.update(paths)


def document_for_app(app) -> dict:
    """:func:`openapi_document` plus the paths registered with :func:`register_paths`."""
    extra = app.extensions["stationmap"].extra.get("openapi_paths") or {}
    doc = openapi_document()
    if not extra:
        return doc
    return {**doc, "paths": {**doc["paths"], **extra}}


@lru_cache(maxsize=1)
def openapi_document() -> dict:
    from stationmap.web import api

    datum_in = _p("datum", {"type": "string", "enum": list(DATUMS), "default": "wgs84"},
                  "Datum of the input coordinates: wgs84 (GPS, OpenStreetMap), gcj02 (Amap, Tencent, "
                  "WeChat, Apple Maps in China) or bd09 (Baidu).")
    datum_out = _p("out_datum", {"type": "string", "enum": list(DATUMS), "default": "wgs84"},
                   "Datum of the output coordinates (the response's top-level `datum`).")
    kind = _p("kind", _array({"type": "string", "enum": list(KINDS)}),
              "Only stations of any of these kinds (repeat the parameter or separate with commas).", explode=True)
    service = _p("service", _array({"type": "string", "enum": list(SERVICES)}),
                 "Only stations offering all of these services.", explode=True)
    open_now = _p("open_now", {"type": "boolean", "default": False},
                  "Only stations open at `at` (default: now), Asia/Shanghai time.")
    at = _p("at", {"type": "string", "format": "date-time"},
            "The time for `open_now` and for each feature's `open_now` (ISO 8601; without an offset it is "
            f"Asia/Shanghai time; years {api.AT_YEARS[0]}-{api.AT_YEARS[1]}). Default: now.")
    method = _p("method", {"type": "string", "enum": list(api.METHODS), "default": "auto"},
                "auto: minutes along the roads where a road network covers the point, the circle estimate "
                "(straight line x detour factor / speed) elsewhere; network: roads only (400 where no network "
                "covers the point); circle: the estimate only. The response's `method` says which was used.")
    nearest_params = [
        _p("lat", {"type": "number", "minimum": -90, "maximum": 90}, "Latitude of the query point.", required=True),
        _p("lon", {"type": "number", "minimum": -180, "maximum": 180}, "Longitude of the query point.",
           required=True),
        datum_in, datum_out, kind, service, open_now, at,
        _p("k", {"type": "integer", "minimum": 1, "maximum": api.MAX_K, "default": api.DEFAULT_K},
           "How many stations."),
        _p("mode", {"type": "string", "enum": list(MODES), "default": "walk"},
           "Travel mode for the `minutes` estimate."),
        _p("minutes", {"type": "number", "minimum": 0, "exclusiveMinimum": True, "maximum": api.MAX_MINUTES,
                       "default": 15},
           "The travel-time budget: `within_minutes` says whether a station is inside it."),
        method,
    ]
    reach_params = [p for p in nearest_params if p["name"] != "k"]
    reach_params = [dict(p, description="Travel time of the area.") if p["name"] == "minutes" else p
                    for p in reach_params]
    stations_params = [
        _p("bbox", {"type": "array", "items": {"type": "number"}, "minItems": 4, "maxItems": 4},
           "west,south,east,north in `datum` degrees, with west <= east and south <= north.", explode=False),
        datum_in, datum_out, kind, service,
        _p("status", _array({"type": "string", "enum": list(STATUSES)}),
           "Only stations with any of these statuses (default: all).", explode=True),
        _p("district", {"type": "string", "pattern": r"^[0-9]{1,6}$"},
           "Adcode prefix: 32 (a province), 3204 or 320400 (a city), 320402 (a county)."),
        open_now, at,
        _p("limit", {"type": "integer", "minimum": 1, "maximum": api.MAX_LIMIT, "default": api.DEFAULT_LIMIT},
           "Page size."),
        _p("offset", {"type": "integer", "minimum": 0, "maximum": api.MAX_OFFSET, "default": 0},
           "Features to skip (stations are in id order)."),
        _p("fields", _array({"type": "string", "enum": list(api.PROPERTIES)}),
           "Only these properties (the id is always the feature's `id`): a compact payload for maps.", explode=False),
    ]
    station_params = [
        {"name": "station_id", "in": "path", "required": True, "schema": {"type": "string", "minLength": 1},
         "description": "Station id."},
        datum_out, at,
        _p("mode", {"type": "string", "enum": list(MODES), "default": "walk"}, "Travel mode of the nav links."),
    ]
    nav = {"type": "object", "required": ["amap", "baidu", "apple"],
           "properties": {"amap": {"type": "string", "description": "Amap URI (GCJ-02, coordinate=gaode)"},
                          "baidu": {"type": "string", "description": "Baidu URI (BD-09, coord_type=bd09ll)"},
                          "apple": {"type": "string", "description": "Apple Maps URL (GCJ-02 in China)"}}}
    nullable_str = {"type": "string", "nullable": True}
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
            "role": {"type": "string", "enum": ["station"]},
            "within_minutes": {"type": "boolean"}, "nav": nav,
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
    nearest_fc = {
        "type": "object", "required": ["type", "datum", "method", "network", "sample", "query", "reach", "features"],
        "properties": {
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
        "type": "object", "required": ["type", "datum", "method", "network", "area_km2", "sample", "query",
                                       "features"],
        "properties": {
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
                '`{"error": {"code", "message", "field"}}` with a 4xx status. See docs/api.md.'),
        },
        "paths": {
            "/api/v1/nearest": {"get": {
                "operationId": "nearest", "summary": "The stations nearest a point, quickest first.",
                "parameters": nearest_params,
                "responses": {"200": {"description": "GeoJSON FeatureCollection, nearest first.",
                                      "content": {geo: {"schema": nearest_fc}}},
                              "400": bad},
            }},
            "/api/v1/reach": {"get": {
                "operationId": "reach",
                "summary": "The area reachable from a point in `minutes` (isochrone), and the stations in it.",
                "parameters": reach_params,
                "responses": {"200": {"description": "GeoJSON FeatureCollection: the area (a (Multi)Polygon "
                                                     "feature, role isochrone), then the stations in reach, "
                                                     "quickest first.",
                                      "content": {geo: {"schema": reach_fc}}},
                              "400": bad},
            }},
            "/api/v1/coverage": {"get": {
                "operationId": "coverage",
                "summary": "Coverage figures of a district: minutes to the nearest station, gaps, sites.",
                "parameters": [
                    _p("district", {"type": "string", "pattern": r"^[0-9]{6}$"}, "Adcode of the district.",
                       required=True),
                    _p("kind", {"type": "string", "enum": list(KINDS), "default": "rest"}, "Station kind."),
                    _p("mode", {"type": "string", "enum": list(MODES), "default": "walk"}, "Travel mode."),
                    _p("minutes", {"type": "number", "minimum": 1, "maximum": 120, "default": 15},
                       "Travel-time budget."),
                    _p("cell", {"type": "number", "minimum": 100, "maximum": 5000, "default": 250},
                       "Grid cell, metres."),
                    _p("method", {"type": "string", "enum": ["auto", "network", "circle"], "default": "auto"},
                       "Travel-time method."),
                    _p("add", {"type": "integer", "minimum": 0, "maximum": 50, "default": 0},
                       "Suggest this many new sites."),
                    _p("cells", {"type": "boolean", "default": False},
                       "Include the cells as a GeoJSON FeatureCollection (WGS-84)."),
                    _p("gaps", {"type": "integer", "minimum": 0, "maximum": 1000, "default": 20},
                       "How many gaps to list."),
                ],
                "responses": {"200": {"description": "Coverage figures.",
                                      "content": {"application/json": {"schema": {"type": "object"}}}},
                              "400": bad, "404": _error("No district with that adcode, or no boundary polygon.")},
            }},
            "/api/v1/stations": {"get": {
                "operationId": "stations", "summary": "Stations matching filters, in id order, a page at a time.",
                "parameters": stations_params,
                "responses": {"200": {"description": "GeoJSON FeatureCollection.",
                                      "content": {geo: {"schema": stations_fc}}},
                              "400": bad},
            }},
            "/api/v1/stations/{station_id}": {"get": {
                "operationId": "station", "summary": "One station, with navigation links to it.",
                "parameters": station_params,
                "responses": {"200": {"description": "GeoJSON Feature.",
                                      "content": {geo: {"schema": {"$ref": "#/components/schemas/StationFeature"}}}},
                              "400": bad, "404": _error("No station with that id.")},
            }},
            "/api/v1/districts": {"get": {
                "operationId": "districts", "summary": "Districts with stations: counts by kind and bounding box.",
                "parameters": [],
                "responses": {"200": {"description": "Districts.", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["datum", "districts"],
                    "properties": {"datum": datum_prop, "sample": {"type": "boolean"},
                                   "districts": {"type": "array", "items": district_row}}}}}},
                              "400": bad},
            }},
            "/api/v1/districts/boundaries": {"get": {
                "operationId": "boundaries", "summary": "District boundaries, simplified for drawing (WGS-84).",
                "parameters": [
                    _p("level", {"type": "string", "enum": ["county", "city"], "default": "county"}, "Level."),
                    _p("district", {"type": "string", "pattern": r"^[0-9]{1,6}$"}, "Adcode prefix."),
                ],
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
                "type": "object", "required": ["code", "message", "field"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "field": nullable_str}}}},
            "StationProperties": station_props,
            "StationFeature": feature,
        }},
    }
