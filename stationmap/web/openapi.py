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
from stationmap.config import DETOUR_FACTOR, MODES
from stationmap.coords import DATUMS
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
            "neighbour": {"type": "boolean", "description": "with scope: true for a neighbouring district's "
                                                            "station within reach of the district (邻区)"},
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
        "type": "object", "required": ["type", "datum", "method", "network", "sample", "query", "reach",
                                       "none_within", "features"],
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
                "parameters": [p.openapi() for p in params.NEAREST],
                "responses": {"200": {"description": "GeoJSON FeatureCollection, nearest first.",
                                      "content": {geo: {"schema": nearest_fc}}},
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
                "parameters": [p.openapi() for p in params.DISTRICTS],
                "responses": {"200": {"description": "Districts.", "content": {"application/json": {"schema": {
                    "type": "object", "required": ["datum", "districts"],
                    "properties": {"datum": datum_prop, "sample": {"type": "boolean"},
                                   "districts": {"type": "array", "items": district_row}}}}}},
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
                "type": "object", "required": ["code", "message", "field"],
                "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "field": nullable_str}}}},
            "StationProperties": station_props,
            "StationFeature": feature,
        }},
    }
