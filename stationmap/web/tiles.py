"""``GET /api/v1/tiles/{z}/{x}/{y}.geojson``: what a map shows of the stations in one tile.

Clusters at low zoom, the stations themselves at high zoom (:mod:`stationmap.tiles`), for the
finder's filters, as GeoJSON.  GeoJSON rather than Mapbox Vector Tiles: the maps are Leaflet
maps that draw markers with popups, icons and filters from GeoJSON features today (MVT would
need a vector-tile renderer and a protobuf decoder in the page, and a second way to draw a
station); a tile holds points only, a few dozen features, where MVT's gain (quantised
geometry of lines and polygons) is small, and gzip takes the rest.

Caching: the answer depends on the data revision, the tile, the query and (without ``at``) the
minute (each station's ``open_now``): its weak ``ETag`` says so (the same validators as
``/api/v1/stations``: :func:`stationmap.web.api.validators`), with ``Last-Modified`` and
``Cache-Control: public, no-cache``: a browser or CDN keeps the tile and asks again each time,
answered 304 while nothing changed; an edit through any worker changes the revision the next
request sees (:meth:`stationmap.web.state.AppState.sync`).  Bodies are kept per index and minute
(:attr:`~stationmap.web.state.AppState.tile_bodies`), with their gzip.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from flask import Blueprint, Response, request
from werkzeug.http import is_resource_modified

from stationmap.config import TILE_MAX_AGE_S, TILE_MAX_ZOOM
from stationmap.errors import ValidationError
from stationmap.tiles import Filters, Tile, check_tile, cluster_feature, tile_collection
from stationmap.web import params
from stationmap.web.api import layer_query, not_modified, validated, validators
from stationmap.web.features import PRECISION, dumps, feature_parts
from stationmap.web.http import GEOJSON, api_response, evict, gzip_small
from stationmap.web.openapi import register_paths
from stationmap.web.params import (
    TILE_DATUM,
    Params,
    names,
)
from stationmap.web.state import any_sample, cluster_index, district_scope, state

if TYPE_CHECKING:
    from datetime import datetime

    from flask import Flask

bp = Blueprint("tiles", __name__, url_prefix="/api/v1")

_TILES = names(params.TILES)
_INT = re.compile(r"\d{1,8}")
#: tile bodies kept per process (each a few kB: ~1 kB gzipped at 200,000 stations): enough for the
#: tiles a busy minute asks (bench_tiles: 3,000 tiles over China; with 512 kept, most requests
#: built their tile again)
BODIES_KEPT = 4096
#: the tiles' Cache-Control, written once (werkzeug's cache_control object parses and writes the
#: header again on each change: a tenth of a cached tile's time)
CACHE_CONTROL = f"public, max-age={TILE_MAX_AGE_S}" if TILE_MAX_AGE_S else "public, no-cache"


def _coordinate(name: str, raw: str) -> int:
    if not _INT.fullmatch(raw):
        raise ValidationError(f"{name} must be a whole number 0 or more, got {raw!r}", field=name)
    return int(raw)


@bp.get("/tiles/<z>/<x>/<y>.geojson")
def tile(z: str, x: str, y: str) -> Response:
    """Clusters and stations of tile z/x/y (GeoJSON FeatureCollection)."""
    zi, xi, yi = _coordinate("z", z), _coordinate("x", x), _coordinate("y", y)
    try:
        check_tile(zi, xi, yi)
    except ValueError as exc:
        bad = "z" if zi > TILE_MAX_ZOOM else "x" if xi >= (1 << zi) else "y"
        raise ValidationError(str(exc), field=bad) from None
    p = Params(_TILES)
    datum = p.choice(TILE_DATUM)
    kinds, services, open_now, at, statuses, prefix, scope_adcode, fields, lang, at_ = layer_query(p)
    st = state()
    etag, modified = validators(st, None if at else at_)
    if not is_resource_modified(request.environ, etag=etag, last_modified=modified):
        return _cache_headers(not_modified(etag, modified))
    key = None
    if at is None:
        key = ("tile", st.index_key(), at_.strftime("%Y%m%d%H%M"), request.script_root, request.path,
               tuple(sorted(request.args.items(multi=True))))
        hit = st.tile_bodies.get(key)
        if hit is not None:
            return _answer(hit, etag, modified)
    ids, neighbours = None, None
    if scope_adcode is not None:  # a district's embed: its stations and its neighbours' within reach
        sc = district_scope(scope_adcode)[0]
        ids, neighbours = sc.ids, sc.neighbour_ids
    filters = Filters(kinds=kinds, services=services, statuses=statuses, open_at=at_ if open_now else None,
                      adcode=prefix or "", ids=ids)
    answer = cluster_index().tile(zi, xi, yi, filters, datum=datum)
    kept = _Kept(tile_json(answer, at=at_, fields=fields, services=services, lang=lang, sample=any_sample(),
                           neighbours=neighbours))
    if key is not None:
        evict(st.tile_bodies, BODIES_KEPT)
        st.tile_bodies[key] = kept
    return _answer(kept, etag, modified)


class _Kept:
    """A tile's JSON text and, once a client that accepts gzip has asked, its gzip."""

    __slots__ = ("body", "gz")

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.gz: bytes | None = None

    def gzipped(self) -> bytes:
        if self.gz is None:
            self.gz = gzip_small(self.body)
        return self.gz


def _answer(kept: _Kept, etag: str, modified: datetime | None) -> Response:
    """The tile's answer: its validators and Cache-Control, its body (gzipped once, when kept)."""
    resp = validated(api_response(kept.body, 200, GEOJSON, gzipped=kept.gzipped), etag, modified)
    return _cache_headers(resp)


def _cache_headers(resp: Response) -> Response:
    resp.headers["Cache-Control"] = CACHE_CONTROL
    return resp


def tile_json(answer: Tile, *, at: datetime, fields: tuple[str, ...] | None, services: tuple[str, ...],
              lang: str | None, sample: bool, neighbours: frozenset[str] | None = None) -> bytes:
    """The JSON text of a tile: its clusters, then its stations (the features of ``/api/v1/stations``
    with ``fields``; with ``neighbours``, a district's scope, each with ``neighbour``), coordinates in
    the tile's datum."""
    head = dumps(tile_collection(answer, [], sample=sample))
    clusters = b",".join(dumps(cluster_feature(answer.z, c, PRECISION)) for c in answer.clusters)
    parts: list[bytes] = []
    extra = None if neighbours is None else [{"neighbour": s.id in neighbours} for s in answer.stations]
    feature_parts(parts, answer.stations, out_datum=answer.datum, at=at, fields=fields, services=services,
                  lang=lang, extra=extra)
    stations = b"".join(parts)[1:]          # "...]" without its "["
    sep = b"," if clusters and answer.stations else b""
    return head[:-3] + b"[" + clusters + sep + stations + b"}"


def _openapi() -> dict:
    coord = {"type": "array", "items": {"type": "number"}, "minItems": 2, "maxItems": 2}
    cluster_props = {
        "type": "object", "required": ["cluster", "count", "kinds", "expansion_zoom"],
        "properties": {
            "cluster": {"type": "boolean", "enum": [True]},
            "count": {"type": "integer", "minimum": 2, "description": "stations matching the filters"},
            "kinds": {"type": "object", "additionalProperties": {"type": "integer"},
                      "description": "of them, how many are of each kind (a station of two kinds counts in both)"},
            "expansion_zoom": {"type": "integer", "description": "the zoom at which its stations (unfiltered) "
                               "split into several clusters or stations"}}}
    cluster_feature = {"type": "object", "required": ["type", "geometry", "properties"],
                       "properties": {"type": {"type": "string", "enum": ["Feature"]},
                                      "id": {"type": "string"},
                                      "geometry": {"type": "object", "required": ["type", "coordinates"],
                                                   "properties": {"type": {"type": "string", "enum": ["Point"]},
                                                                  "coordinates": coord}},
                                      "properties": cluster_props}}
    path_params = [
        {"name": "z", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0,
                                                                 "maximum": TILE_MAX_ZOOM},
         "description": "Zoom."},
        {"name": "x", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0},
         "description": "Column, 0 to 2^z - 1, west to east."},
        {"name": "y", "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0},
         "description": "Row, 0 to 2^z - 1, north to south (the XYZ scheme of OpenStreetMap, Leaflet, Amap)."},
    ]
    return {"/api/v1/tiles/{z}/{x}/{y}.geojson": {"get": {
        "operationId": "tile",
        "summary": "What a map shows of the stations in one Web-Mercator tile: clusters at low zoom, the "
                   "stations at high zoom, for the filters.",
        "description": "Clusters are supercluster's (radius in pixels of a 256-pixel tile, zooms 0 to the "
                       "highest cluster zoom; above it every station is itself). A cluster's features are "
                       "`cluster: true` with `count`, `kinds` and `expansion_zoom`; a cluster with one matching "
                       "station is that station, a feature of `/api/v1/stations` (with `fields`). Each "
                       "station and each cluster belongs to the one tile holding its point: over the tiles "
                       "of a zoom every matching station is counted once. With `datum=gcj02` the tile is "
                       "one of the GCJ-02 grid (a map over Amap tiles) and coordinates are GCJ-02. Weak "
                       "ETag (data revision, tile, query, minute), Last-Modified, `Cache-Control: public, "
                       "no-cache`: If-None-Match gets a 304 while nothing changed. With `district` only that "
                       "district's stations count; with `scope` (an embed's) the district's and its neighbours' "
                       "within reach, each station with `neighbour`.",
        "parameters": [*path_params, *(p.openapi() for p in params.TILES)],
        "responses": {
            "200": {"description": "GeoJSON FeatureCollection: clusters first, then stations.",
                    "content": {"application/geo+json": {"schema": {
                        "type": "object", "required": ["type", "datum", "tile", "total", "features"],
                        "properties": {
                            "type": {"type": "string", "enum": ["FeatureCollection"]},
                            "datum": {"type": "string", "enum": ["wgs84", "gcj02"]},
                            "sample": {"type": "boolean"},
                            "tile": {"type": "object", "required": ["z", "x", "y"],
                                     "properties": {k: {"type": "integer"} for k in "zxy"}},
                            "total": {"type": "integer", "description": "matching stations in the tile"},
                            "clusters": {"type": "integer"},
                            "stations": {"type": "integer"},
                            "features": {"type": "array", "items": {"anyOf": [
                                cluster_feature,
                                {"$ref": "#/components/schemas/StationFeature"}]}}}}}}},
            "304": {"description": "Not modified (If-None-Match / If-Modified-Since)."},
            "400": {"description": "A bad tile or parameter.",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}},
        }}}}


def init_app(app: Flask) -> None:
    """Register the blueprint and its OpenAPI path (called from :func:`stationmap.web.create_app`)."""
    app.register_blueprint(bp)
    register_paths(app, _openapi())
