"""GeoJSON of stations and areas: the one definition of what a station's Feature is.

Every GeoJSON a station appears in is made here: the API's answers (through
:mod:`stationmap.web.features`, which keeps the JSON text of each feature per
station object and splices it), the file export
(:func:`stationmap.io.writers.stations_to_geojson`), the static site
(:func:`stationmap.publish.static_payload`) and an isochrone's answer
(:meth:`stationmap.reach.Isochrone.to_geojson`).

A station's Feature (RFC 7946): ``{"type": "Feature", "id": <station id>,
"geometry": {"type": "Point", "coordinates": [lon, lat]}, "properties": {...}}``,
properties last (the web cuts the text open there to add per-request ones).
Coordinates are longitude first, in WGS-84 unless another datum is asked for
(:func:`stationmap.coords.from_wgs84`; the caller says which in a ``datum`` member
of its own, never a ``crs`` member), rounded to :data:`PRECISION` decimals.

Two property sets:

* :func:`properties`, the public view (:data:`PROPERTIES` but ``open_now``, which
  depends on the time of a request and is added by the web): what the API, the
  static site and an isochrone's answer show.
* :func:`record_properties`, the stored record (every field of
  :class:`~stationmap.model.Station` but ``lon``/``lat``, ``source`` included,
  nothing derived): what a file export writes, so that it imports back
  unchanged (tests/unit/test_io.py's round trips).  Exports keep WGS-84
  coordinates as stored and round other datums to :data:`EXPORT_PRECISION`.

:func:`polygon_geometry` makes the RFC 7946 geometry of an area (an isochrone).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

from stationmap.coords import from_wgs84
from stationmap.labels import display_name
from stationmap.model import Station

if TYPE_CHECKING:
    from shapely.geometry.base import BaseGeometry

#: properties a station feature can carry in the API (``fields`` picks among them)
PROPERTIES = (
    "id", "name", "name_en", "kinds", "services", "address", "adcode", "host", "operator", "phone", "capacity",
    "opening_hours", "service_hours", "status", "reopens_on", "verified_at", "sample", "open_now", "closes_at",
    "opens_at", "url",
)
#: the properties that change with the moment asked about (the web adds them: :mod:`stationmap.hours`)
TIME_PROPERTIES = ("open_now", "closes_at", "opens_at")
#: the properties of :func:`properties`: all of :data:`PROPERTIES` but :data:`TIME_PROPERTIES`
STATIC_PROPERTIES = tuple(f for f in PROPERTIES if f not in TIME_PROPERTIES)
#: coordinates are rounded to 6 decimals (0.1 m)
PRECISION = 6
#: a file export's coordinates in a datum other than WGS-84 are rounded to 7 decimals
#: (1 cm: an export converted back to WGS-84 is within 2e-7 degrees of the stored point)
EXPORT_PRECISION = 7


def properties(st: Station, url: str | None = None) -> dict:
    """The public properties of station ``st`` (:data:`STATIC_PROPERTIES`, in that order).

    ``kinds``/``services`` as lists, ``verified_at`` as an ISO date or None,
    ``sample`` whether the station is sample data, ``url`` its page (None: no page,
    as in the static site).
    """
    return {
        "id": st.id, "name": st.name, "name_en": st.name_en, "kinds": list(st.kinds),
        "services": list(st.services), "address": st.address, "adcode": st.adcode, "host": st.host,
        "operator": st.operator, "phone": st.phone, "capacity": st.capacity, "opening_hours": st.opening_hours,
        "service_hours": dict(st.service_hours), "status": st.status,
        "reopens_on": st.reopens_on.isoformat() if st.reopens_on else None,
        "verified_at": st.verified_at.isoformat() if st.verified_at else None,
        "sample": st.is_sample, "url": url,
    }


#: what a reader of English gets besides ``name`` when asking with ``lang=en`` (:func:`display_properties`)
DISPLAY_PROPERTIES = ("display_name", "display_name_source")


def display_properties(st: Station, lang: str | None) -> dict[str, str]:
    """``display_name`` (the name a reader of ``lang`` sees) and ``display_name_source`` (how it was
    found: ``name_en``, ``pinyin`` or ``name``; :func:`stationmap.labels.display_name`) of ``st``
    in English; nothing in Chinese or without a language (the stored ``name`` is what they read)."""
    if lang != "en":
        return {}
    shown, source = display_name(st, lang)
    return {"display_name": shown, "display_name_source": source}


def record_properties(st: Station) -> dict:
    """The stored record of station ``st`` as properties: :meth:`Station.to_dict` without
    ``lon``/``lat`` (the point holds them)."""
    props = st.to_dict()
    del props["lon"], props["lat"]
    return props


def point(lon: float, lat: float, precision: int | None = PRECISION) -> dict:
    """A GeoJSON Point at ``lon, lat`` (degrees, already in the datum wanted), rounded to
    ``precision`` decimals (None: as given)."""
    if precision is None:
        return {"type": "Point", "coordinates": [lon, lat]}
    return {"type": "Point", "coordinates": [round(lon, precision), round(lat, precision)]}


def points(stations: Sequence[Station], datum: str = "wgs84", precision: int | None = PRECISION) -> list[dict]:
    """The GeoJSON Points of ``stations`` in ``datum`` (one vectorised conversion for all),
    rounded to ``precision`` decimals (None: as they come)."""
    if datum == "wgs84":
        return [point(s.lon, s.lat, precision) for s in stations]
    if not stations:
        return []
    import numpy as np

    lo, la = from_wgs84(np.fromiter((s.lon for s in stations), dtype=float, count=len(stations)),
                        np.fromiter((s.lat for s in stations), dtype=float, count=len(stations)), datum)
    return [point(x, y, precision) for x, y in zip(lo.tolist(), la.tolist())]


def feature(st: Station, geometry: dict, props: dict) -> dict:
    """The GeoJSON Feature of station ``st``: its id, ``geometry`` (:func:`point`) and
    ``props`` (:func:`properties` or :func:`record_properties`, picked and added to), in
    that order: properties last."""
    return {"type": "Feature", "id": st.id, "geometry": geometry, "properties": props}


def features(stations: Iterable[Station], *, datum: str = "wgs84", precision: int | None = PRECISION,
             fields: Sequence[str] | None = None, url: Callable[[Station], str] | None = None,
             extra: Sequence[dict] | None = None) -> list[dict]:
    """The Features of ``stations`` with their public :func:`properties`, coordinates in ``datum``.

    ``fields`` keeps only the properties named (in their order); ``url(station)``
    gives the ``url`` property (default None); ``extra[i]`` is merged into feature
    ``i``'s properties.
    """
    stations = list(stations)
    out = []
    for i, (st, geom) in enumerate(zip(stations, points(stations, datum, precision))):
        props = properties(st, url(st) if url is not None else None)
        if fields is not None:
            props = {f: props[f] for f in fields if f in props}
        if extra is not None:
            props.update(extra[i])
        out.append(feature(st, geom, props))
    return out


def record_features(stations: Iterable[Station], *, datum: str = "wgs84") -> list[dict]:
    """The Features of ``stations`` with their :func:`record_properties`, for a file export:
    WGS-84 coordinates as stored, other datums rounded to :data:`EXPORT_PRECISION`."""
    stations = list(stations)
    geoms = points(stations, datum, None if datum == "wgs84" else EXPORT_PRECISION)
    return [feature(st, geom, record_properties(st)) for st, geom in zip(stations, geoms)]


def feature_json(feat: dict) -> bytes:
    """The compact UTF-8 JSON text of a feature (:func:`feature`), ending in its properties'
    ``}}``: the text the web keeps per station and cuts open to add properties."""
    text = json.dumps(feat, ensure_ascii=False, separators=(",", ":")).encode()
    if not text.endswith(b"}}"):
        raise ValueError(f"a feature's JSON must end with its properties, got {text[-40:]!r}")
    return text


def geometry_to(geom: BaseGeometry, datum: str, precision: int = PRECISION) -> BaseGeometry:
    """A shapely geometry in WGS-84 moved to ``datum`` (every vertex, rounded to
    ``precision`` decimals); itself in WGS-84 or when empty."""
    if datum == "wgs84" or geom.is_empty:
        return geom
    import numpy as np
    import shapely

    def fn(xy: Any) -> Any:
        lo, la = from_wgs84(np.asarray(xy[:, 0]), np.asarray(xy[:, 1]), datum)
        return np.round(np.column_stack([lo, la]), precision)

    return shapely.transform(geom, fn)


def polygon_geometry(geom: BaseGeometry, *, datum: str = "wgs84", precision: int | None = PRECISION) -> dict:
    """The RFC 7946 geometry of a WGS-84 (Multi)Polygon: snapped to a grid of ``precision``
    decimals (None: not), exterior rings counter-clockwise (shapely >= 2.1; traced rings
    already are), moved to ``datum``; empty: an empty MultiPolygon."""
    import shapely
    from shapely.geometry import mapping

    if geom.is_empty:
        return {"type": "MultiPolygon", "coordinates": []}
    if precision is not None:
        geom = shapely.set_precision(geom, 10.0 ** -precision)
    if hasattr(shapely, "orient_polygons"):     # RFC 7946: exteriors counter-clockwise
        geom = shapely.orient_polygons(geom)
    geom = geometry_to(geom, datum, PRECISION if precision is None else precision)
    if geom.is_empty:
        return {"type": "MultiPolygon", "coordinates": []}
    return mapping(geom)
