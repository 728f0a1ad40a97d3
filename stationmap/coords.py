"""Datum conversions between WGS-84, GCJ-02 and BD-09, and metric helpers.

* **WGS-84** (EPSG:4326): GPS, OpenStreetMap, Tianditu (CGCS2000, which differs
  from WGS-84 by centimetres).  stationmap stores and computes in WGS-84.
* **GCJ-02** ("火星坐标"): Amap / Gaode, Tencent, WeChat, Apple Maps in China.
  WGS-84 plus a non-linear obfuscation of 300-700 m.  pyproj cannot convert it.
* **BD-09**: Baidu; GCJ-02 with one more shift.

Every function takes ``lon, lat`` (in that order) as floats or numpy arrays
and returns the same shape.  The GCJ-02 shift applies only inside China's
rough bounding box (lon 72.004-137.8347, lat 0.8293-55.8271, the limits used
by every public implementation); outside it points pass through unchanged.

The inverses are iterated to convergence (below 1e-9 degree, about 0.1 mm),
not the one-step approximations (1-2 m off) found in many libraries.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any, NamedTuple, TypeVar
from urllib.parse import parse_qs, urlsplit

import numpy as np
from pyproj import Geod

from stationmap.errors import PointTextError, ValidationError

DATUMS = ("wgs84", "gcj02", "bd09")

#: A longitude or latitude in degrees: a float, or a numpy array of them.  The
#: converters return what they are given (floats for floats, arrays for arrays).
Deg = TypeVar("Deg", float, np.ndarray)

#: Krasovsky 1940 ellipsoid used by the GCJ-02 formula.
_A = 6378245.0
_EE = 0.00669342162296594323
_X_PI = math.pi * 3000.0 / 180.0

GEOD = Geod(ellps="WGS84")
#: Mean Earth radius (IUGG), metres.
EARTH_RADIUS_M = 6371008.8


def _as_arrays(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    scalar = np.isscalar(lon) and np.isscalar(lat)
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float), scalar


def _out(lon: np.ndarray, lat: np.ndarray, scalar: bool) -> tuple[Any, Any]:
    if scalar:
        return float(lon), float(lat)
    return lon, lat


#: China's rough bounding box, where the GCJ-02 shift applies (degrees).
_CHINA_WEST, _CHINA_EAST = 72.004, 137.8347
_CHINA_SOUTH, _CHINA_NORTH = 0.8293, 55.8271


def in_china(lon: float | np.ndarray, lat: float | np.ndarray) -> np.ndarray:
    """True where the GCJ-02 shift applies (China's rough bounding box).

    Parameters
    ----------
    lon, lat : float or numpy.ndarray
        WGS-84 degrees.

    Returns
    -------
    numpy.ndarray
        Booleans, of the inputs' (broadcast) shape; a 0-d array for floats.
    """
    lon = np.asarray(lon, dtype=float)
    lat = np.asarray(lat, dtype=float)
    return (lon >= _CHINA_WEST) & (lon <= _CHINA_EAST) & (lat >= _CHINA_SOUTH) & (lat <= _CHINA_NORTH)


def _gcj_raw(lon: Any, lat: Any, m: Any) -> tuple[Any, Any]:
    """The GCJ-02 offset (dlon, dlat) in degrees at a WGS-84 point, by the formula alone
    (no bounding box): ``m`` is :mod:`math` for Python floats or :mod:`numpy` for arrays."""
    sin, pi = m.sin, m.pi
    x = lon - 105.0
    y = lat - 35.0
    sqrt_abs_x = m.sqrt(abs(x))
    common = (20.0 * sin(6.0 * x * pi) + 20.0 * sin(2.0 * x * pi)) * 2.0 / 3.0
    dlat = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt_abs_x + common
    dlat += (20.0 * sin(y * pi) + 40.0 * sin(y / 3.0 * pi)) * 2.0 / 3.0
    dlat += (160.0 * sin(y / 12.0 * pi) + 320.0 * sin(y * pi / 30.0)) * 2.0 / 3.0
    dlon = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt_abs_x + common
    dlon += (20.0 * sin(x * pi) + 40.0 * sin(x / 3.0 * pi)) * 2.0 / 3.0
    dlon += (150.0 * sin(x / 12.0 * pi) + 300.0 * sin(x / 30.0 * pi)) * 2.0 / 3.0
    radlat = lat / 180.0 * pi
    magic = 1.0 - _EE * sin(radlat) ** 2
    sqrt_magic = m.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1.0 - _EE)) / (magic * sqrt_magic) * pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * m.cos(radlat) * pi)
    return dlon, dlat


def _gcj_delta(lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The GCJ-02 offset (dlon, dlat) in degrees at WGS-84 points (arrays); 0 outside China."""
    dlon, dlat = _gcj_raw(lon, lat, np)
    inside = in_china(lon, lat)
    return np.where(inside, dlon, 0.0), np.where(inside, dlat, 0.0)


def _gcj_delta1(lon: float, lat: float) -> tuple[float, float]:
    """:func:`_gcj_delta` for one point, on Python floats (a fifth of numpy's time there)."""
    if not (_CHINA_WEST <= lon <= _CHINA_EAST and _CHINA_SOUTH <= lat <= _CHINA_NORTH):
        return 0.0, 0.0
    return _gcj_raw(lon, lat, math)


def wgs84_to_gcj02(lon: Deg, lat: Deg) -> tuple[Deg, Deg]:
    """WGS-84 -> GCJ-02 (Amap, Tencent, WeChat).

    Parameters
    ----------
    lon, lat : float or numpy.ndarray
        WGS-84 degrees.  Outside China's rough bounding box points pass unchanged.

    Returns
    -------
    (lon, lat)
        GCJ-02 degrees: floats for floats, arrays of the inputs' shape for arrays.

    Examples
    --------
    >>> lon, lat = wgs84_to_gcj02(120.0, 31.0)
    >>> round(lon - 120.0, 4), round(lat - 31.0, 4)
    (0.0047, -0.0022)
    """
    if type(lon) is float and type(lat) is float:
        dlon, dlat = _gcj_delta1(lon, lat)
        return lon + dlon, lat + dlat
    x, y, scalar = _as_arrays(lon, lat)
    dx, dy = _gcj_delta(x, y)
    return _out(x + dx, y + dy, scalar)


_Pair = tuple[np.ndarray, np.ndarray]


def _invert(forward: Callable[[np.ndarray, np.ndarray], _Pair], tx: np.ndarray, ty: np.ndarray,
            x: np.ndarray, y: np.ndarray, tol_deg: float, max_iter: int) -> _Pair:
    """Invert ``forward`` at ``(tx, ty)`` by fixed-point iteration from the guess ``(x, y)``:
    step by the forward transform's error until it is below ``tol_deg`` on both axes
    (at most ``max_iter`` steps)."""
    for _ in range(max_iter):
        fx, fy = forward(x, y)
        ex, ey = fx - tx, fy - ty
        x, y = x - ex, y - ey
        if np.all(np.abs(ex) < tol_deg) and np.all(np.abs(ey) < tol_deg):
            break
    return x, y


def gcj02_to_wgs84(lon: Deg, lat: Deg, *, tol_deg: float = 1e-9, max_iter: int = 30) -> tuple[Deg, Deg]:
    """GCJ-02 -> WGS-84, iterated until the forward transform hits the input.

    Converges to well below a millimetre in 3-6 iterations.  Points outside
    China pass through unchanged.

    Parameters
    ----------
    lon, lat : float or numpy.ndarray
        GCJ-02 degrees (Amap, Tencent, WeChat).
    tol_deg : float
        Stop when the forward transform of the answer is this close to the input (degrees).
    max_iter : int
        At most this many iterations.

    Returns
    -------
    (lon, lat)
        WGS-84 degrees, of the inputs' type (float or array) and shape.

    Examples
    --------
    >>> [round(deg, 9) for deg in gcj02_to_wgs84(*wgs84_to_gcj02(120.0, 31.0))]
    [120.0, 31.0]
    """
    glon, glat, scalar = _as_arrays(lon, lat)
    return _out(*_invert(wgs84_to_gcj02, glon, glat, glon, glat, tol_deg, max_iter), scalar)


def gcj02_to_bd09(lon: Deg, lat: Deg) -> tuple[Deg, Deg]:
    """GCJ-02 -> BD-09 (Baidu), by Baidu's published formula.

    ``lon, lat`` in GCJ-02 degrees give ``(lon, lat)`` in BD-09 degrees, floats for floats and arrays for
    arrays, as every converter here does.
    """
    if type(lon) is float and type(lat) is float:
        z = math.sqrt(lon * lon + lat * lat) + 0.00002 * math.sin(lat * _X_PI)
        theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * _X_PI)
        return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006
    x, y, scalar = _as_arrays(lon, lat)
    z = np.sqrt(x * x + y * y) + 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) + 0.000003 * np.cos(x * _X_PI)
    return _out(z * np.cos(theta) + 0.0065, z * np.sin(theta) + 0.006, scalar)


def _bd09_to_gcj02_step(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = x - 0.0065
    y = y - 0.006
    z = np.sqrt(x * x + y * y) - 0.00002 * np.sin(y * _X_PI)
    theta = np.arctan2(y, x) - 0.000003 * np.cos(x * _X_PI)
    return z * np.cos(theta), z * np.sin(theta)


def bd09_to_gcj02(lon: Deg, lat: Deg, *, tol_deg: float = 1e-10, max_iter: int = 20) -> tuple[Deg, Deg]:
    """BD-09 -> GCJ-02: Baidu's published one-step inverse, then refined by iteration.

    Parameters
    ----------
    lon, lat : float or numpy.ndarray
        BD-09 degrees (Baidu).
    tol_deg, max_iter
        As in :func:`gcj02_to_wgs84`.

    Returns
    -------
    (lon, lat)
        GCJ-02 degrees, floats for floats, arrays for arrays.
    """
    bx, by, scalar = _as_arrays(lon, lat)
    return _out(*_invert(gcj02_to_bd09, bx, by, *_bd09_to_gcj02_step(bx, by), tol_deg, max_iter), scalar)


def wgs84_to_bd09(lon: Deg, lat: Deg) -> tuple[Deg, Deg]:
    """WGS-84 -> BD-09 (Baidu): :func:`wgs84_to_gcj02`, then :func:`gcj02_to_bd09`.

    ``lon, lat`` in WGS-84 degrees give ``(lon, lat)`` in BD-09 degrees, floats for floats and arrays for arrays,
    as every converter here does.
    """
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def bd09_to_wgs84(lon: Deg, lat: Deg) -> tuple[Deg, Deg]:
    """BD-09 (Baidu) -> WGS-84: :func:`bd09_to_gcj02`, then :func:`gcj02_to_wgs84`.

    ``lon, lat`` in BD-09 degrees give ``(lon, lat)`` in WGS-84 degrees, floats for floats and arrays for arrays,
    as every converter here does.
    """
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


_Convert = Callable[[Any, Any], tuple[Any, Any]]
_TO_WGS84: dict[str, _Convert] = {"wgs84": lambda lon, lat: (lon, lat), "gcj02": gcj02_to_wgs84,
                                  "bd09": bd09_to_wgs84}
_FROM_WGS84: dict[str, _Convert] = {"wgs84": lambda lon, lat: (lon, lat), "gcj02": wgs84_to_gcj02,
                                    "bd09": wgs84_to_bd09}

_DATUM_ALIASES = {
    "wgs84": "wgs84", "wgs-84": "wgs84", "wgs": "wgs84", "epsg:4326": "wgs84", "gps": "wgs84",
    "gcj02": "gcj02", "gcj-02": "gcj02", "gcj": "gcj02", "amap": "gcj02", "gaode": "gcj02",
    "bd09": "bd09", "bd-09": "bd09", "bd09ll": "bd09", "baidu": "bd09",
}


def check_datum(datum: object, *, field: str = "datum") -> str:
    """The canonical datum name (one of :data:`DATUMS`) for a name or alias.

    Parameters
    ----------
    datum : str
        A datum name or alias, any case: ``wgs84``, ``WGS-84``, ``gps``, ``gcj02``,
        ``amap``, ``gaode``, ``bd09``, ``baidu``, ...
    field : str
        The field named in the error.

    Returns
    -------
    str
        ``"wgs84"``, ``"gcj02"`` or ``"bd09"``.

    Raises
    ------
    ValidationError
        If ``datum`` is not a known name or alias.

    Examples
    --------
    >>> check_datum("Amap")
    'gcj02'
    """
    key = str(datum).strip().lower() if datum is not None else ""
    if key not in _DATUM_ALIASES:
        raise ValidationError(f"{field} must be one of {DATUMS}, got {datum!r}", field=field)
    return _DATUM_ALIASES[key]


def to_wgs84(lon: Deg, lat: Deg, datum: str) -> tuple[Deg, Deg]:
    """Convert ``lon, lat`` given in ``datum`` to WGS-84.

    Parameters
    ----------
    lon, lat : float or numpy.ndarray
        Degrees in ``datum``.
    datum : str
        A name or alias accepted by :func:`check_datum`.

    Returns
    -------
    (lon, lat)
        WGS-84 degrees, floats for floats, arrays for arrays.

    Raises
    ------
    ValidationError
        If ``datum`` is not known.

    Examples
    --------
    >>> to_wgs84(120.0, 31.0, "wgs84")
    (120.0, 31.0)
    """
    return _TO_WGS84[check_datum(datum)](lon, lat)


def from_wgs84(lon: Deg, lat: Deg, datum: str) -> tuple[Deg, Deg]:
    """Convert WGS-84 ``lon, lat`` to ``datum``.

    Parameters
    ----------
    lon, lat : float or numpy.ndarray
        WGS-84 degrees.
    datum : str
        A name or alias accepted by :func:`check_datum`.

    Returns
    -------
    (lon, lat)
        Degrees in ``datum``, floats for floats, arrays for arrays.

    Raises
    ------
    ValidationError
        If ``datum`` is not known.
    """
    return _FROM_WGS84[check_datum(datum)](lon, lat)


def geodesic_m(lon1: Deg, lat1: Deg, lon2: Deg, lat2: Deg) -> Deg:
    """Geodesic distance in metres on the WGS-84 ellipsoid (pyproj.Geod); vectorised."""
    _, _, d = GEOD.inv(lon1, lat1, lon2, lat2)
    return d


def unit_vectors(lon: float | np.ndarray, lat: float | np.ndarray) -> np.ndarray:
    """Unit-sphere ECEF vectors (n, 3) for WGS-84 lon/lat in degrees.

    Chord length between unit vectors orders points exactly as great-circle
    distance does, so a Euclidean tree over them answers spherical nearest
    queries; :mod:`stationmap.index` then measures the winners geodesically.
    """
    lam = np.radians(np.asarray(lon, dtype=float))
    phi = np.radians(np.asarray(lat, dtype=float))
    cphi = np.cos(phi)
    return np.column_stack([cphi * np.cos(lam), cphi * np.sin(lam), np.sin(phi)])


def chord_for_metres(metres: float | np.ndarray) -> np.ndarray:
    """Unit-sphere chord length for a great-circle distance in metres."""
    return 2.0 * np.sin(np.minimum(np.asarray(metres, dtype=float) / (2.0 * EARTH_RADIUS_M), np.pi / 2))


def metres_for_chord(chord: float | np.ndarray) -> np.ndarray:
    """Great-circle distance in metres (mean-radius sphere) for a unit chord."""
    return 2.0 * EARTH_RADIUS_M * np.arcsin(np.clip(np.asarray(chord, dtype=float) / 2.0, 0.0, 1.0))


def utm_crs_for(lon: float, lat: float) -> str:
    """A metric CRS (UTM zone, WGS-84) for a WGS-84 point: ``EPSG:326NN``."""
    zone = int((lon + 180.0) // 6.0) + 1
    return f"EPSG:{32600 + zone if lat >= 0 else 32700 + zone}"


# ---- coordinates as people type or paste them ---------------------------------------------------

#: China's longitudes and latitudes (with a margin): they do not overlap, so the order of two
#: numbers inside China is never in doubt.
CHINA_LON = (73.0, 136.0)
CHINA_LAT = (3.0, 54.0)
#: the longest text :func:`parse_point_text` reads (a share link with a long place name)
POINT_TEXT_MAX = 2000

_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")


class PointText(NamedTuple):
    """What :func:`parse_point_text` understood: the point in WGS-84, and how it was read."""

    lon: float
    lat: float
    #: the datum the text gave the point in (one of :data:`DATUMS`)
    datum: str
    #: ``"amap"`` (an Amap share link), ``"baidu"`` (a Baidu one) or ``"text"`` (two numbers)
    source: str
    #: ``"latlon"`` or ``"lonlat"``: the order the numbers were written in
    order: str
    #: the point as written, (lon, lat) in ``datum``
    given: tuple[float, float]


def _in(v: float, bounds: tuple[float, float]) -> bool:
    return bounds[0] <= v <= bounds[1]


def _pair(text: str, *, order: str | None = None) -> tuple[float, float, str]:
    """(lon, lat, order) of the first two numbers in ``text``; ``order`` given, or guessed from
    China's ranges."""
    nums = [float(x) for x in _NUMBER.findall(text)][:2]
    if len(nums) < 2:
        raise PointTextError(f"expected two numbers (longitude and latitude), got {text[:80]!r}",
                             reason="no_numbers")
    a, b = nums
    if order is None:
        if _in(a, CHINA_LAT) and _in(b, CHINA_LON):
            order = "latlon"
        elif _in(a, CHINA_LON) and _in(b, CHINA_LAT):
            order = "lonlat"
        else:
            raise PointTextError(f"{a:g}, {b:g} is not a point in China (longitude {CHINA_LON[0]:g}-"
                                 f"{CHINA_LON[1]:g}, latitude {CHINA_LAT[0]:g}-{CHINA_LAT[1]:g})",
                                 reason="outside_china")
    lon, lat = (b, a) if order == "latlon" else (a, b)
    if not (_in(lon, CHINA_LON) and _in(lat, CHINA_LAT)):
        raise PointTextError(f"longitude {lon:g}, latitude {lat:g} is not a point in China", reason="outside_china")
    return lon, lat, order


def _first(query: dict[str, list[str]], *names: str) -> str | None:
    for n in names:
        if query.get(n) and query[n][0].strip():
            return query[n][0]
    return None


def _amap(parts: Any, query: dict[str, list[str]]) -> tuple[float, float, str, str]:
    """An Amap link: ``position=lng,lat`` (uri.amap.com/marker), ``lng=&lat=`` (ditu.amap.com/regeo),
    ``to=``/``from=``/``location=``/``center=`` ``lng,lat[,name]``, or ``p=poiid,lat,lng,...``
    (ditu.amap.com); GCJ-02 unless ``coordinate=wgs84``."""
    datum = "wgs84" if (_first(query, "coordinate") or "").lower() == "wgs84" else "gcj02"
    if (lng := _first(query, "lng", "lon")) and (lat := _first(query, "lat")):
        lon, la, order = _pair(f"{lng},{lat}", order="lonlat")
        return lon, la, datum, order
    if v := _first(query, "position", "location", "to", "center", "from"):
        lon, la, order = _pair(v, order="lonlat")
        return lon, la, datum, order
    if v := _first(query, "p"):
        fields = v.split(",")
        if len(fields) >= 3:
            lon, la, order = _pair(f"{fields[1]},{fields[2]}", order="latlon")
            return lon, la, datum, order
    if parts.netloc.lower().split(".")[0] in ("surl", "f", "t"):
        raise PointTextError("a short Amap link cannot be read offline: open it and copy the long link, "
                             "or the coordinates", reason="short_link")
    raise PointTextError("this Amap link names no point (position=, lng= and lat=, to= ...)",
                         reason="link_without_point")


def _baidu(parts: Any, query: dict[str, list[str]]) -> tuple[float, float, str, str]:
    """A Baidu link: ``location=lat,lng`` or ``latlng=lat,lng`` (``api.map.baidu.com/marker``,
    ``/geocoder``, ``/direction`` ``destination=latlng:lat,lng|name:..``); BD-09 unless ``coord_type``
    says ``gcj02`` or ``wgs84``; ``bd09mc`` (Mercator metres) is refused."""
    ct = (_first(query, "coord_type", "coordtype") or "bd09ll").strip().lower()
    if ct == "bd09mc":
        raise PointTextError("the link gives Baidu Mercator metres (coord_type=bd09mc), not degrees",
                             reason="mercator")
    datum = {"gcj02": "gcj02", "wgs84": "wgs84"}.get(ct, "bd09")
    for name in ("location", "latlng", "destination", "origin"):
        v = _first(query, name)
        if v:
            v = v.split("|")[0].removeprefix("latlng:")
            lon, lat, order = _pair(v, order="latlon")
            return lon, lat, datum, order
    if parts.netloc.lower().split(".")[0] in ("j", "surl", "dwz"):
        raise PointTextError("a short Baidu link cannot be read offline: open it and copy the long link, "
                             "or the coordinates", reason="short_link")
    raise PointTextError("this Baidu link names no point (location= or latlng=)", reason="link_without_point")


def parse_point_text(text: object, datum: str = "wgs84") -> PointText:
    """A point from what an editor types or pastes, converted to WGS-84 with :func:`to_wgs84`.

    * an Amap share link (``https://uri.amap.com/marker?position=120.7,31.3``,
      ``https://ditu.amap.com/regeo?lng=120.7&lat=31.3``, ...): longitude first, GCJ-02;
    * a Baidu share link (``https://api.map.baidu.com/marker?location=31.3,120.7&coord_type=bd09ll``,
      ``...?latlng=31.3,120.7``): latitude first, BD-09 unless ``coord_type`` says otherwise;
    * two numbers in either order (``31.3, 120.7``, ``120.7 31.3``, ``120.7，31.3``), in ``datum``;
      which is the latitude is told by China's ranges (:data:`CHINA_LON`, :data:`CHINA_LAT`),
      which do not overlap.

    Raises
    ------
    PointTextError
        With a ``reason`` and a message saying what is wrong: no text, fewer than two numbers,
        a point outside China, a short link (it needs the internet to resolve), a link with no point.

    Examples
    --------
    >>> p = parse_point_text("31.3, 120.7")
    >>> (p.lon, p.lat, p.order, p.datum)
    (120.7, 31.3, 'latlon', 'wgs84')
    """
    s = str(text if text is not None else "").strip()
    if not s:
        raise PointTextError("type or paste coordinates or a map link", reason="empty")
    if len(s) > POINT_TEXT_MAX:
        raise PointTextError(f"at most {POINT_TEXT_MAX} characters", reason="too_long")
    given_datum = check_datum(datum)
    url = s if "://" in s else ("https://" + s if re.match(r"^[\w.-]+\.(com|cn)/", s) else "")
    if url:
        parts = urlsplit(url)
        host = parts.netloc.lower()
        query = parse_qs(parts.query)
        if host.endswith(("amap.com", "gaode.com")):
            lon, lat, given_datum, order = _amap(parts, query)
            source = "amap"
        elif host.endswith("baidu.com"):
            lon, lat, given_datum, order = _baidu(parts, query)
            source = "baidu"
        else:
            raise PointTextError(f"links from {host or url[:40]!r} are not read: paste an Amap or Baidu link, "
                                 "or the coordinates", reason="link_without_point")
    else:
        lon, lat, order = _pair(s)
        source = "text"
    wlon, wlat = to_wgs84(lon, lat, given_datum)
    return PointText(float(wlon), float(wlat), given_datum, source, order, (lon, lat))
