"""Navigation links that open a station in Amap, Baidu Maps or Apple Maps.

Each app wants its own datum, so the WGS-84 coordinates are converted here:

=========  =======  ==========================================================
app        datum    URL
=========  =======  ==========================================================
Amap       GCJ-02   ``https://uri.amap.com/navigation?to=LON,LAT,NAME&...&coordinate=gaode``
Baidu      BD-09    ``https://api.map.baidu.com/direction?...&coord_type=bd09ll`` (with an
                    origin) or ``.../marker?...&coord_type=bd09ll`` (without)
Apple      GCJ-02   ``https://maps.apple.com/?daddr=LAT,LON&...`` (Apple Maps uses
                    GCJ-02 inside China)
=========  =======  ==========================================================

Travel modes map to each app's own: walk -> walk / walking / ``dirflg=w``;
bike and ebike -> ride / riding / (Apple Maps' URL scheme has no cycling
flag, so none is sent); car -> car / driving / ``dirflg=d``.
"""

from __future__ import annotations

from urllib.parse import urlencode

import numpy as np

from stationmap.config import MODES
from stationmap.coords import wgs84_to_bd09, wgs84_to_gcj02
from stationmap.errors import ValidationError

APPS = ("amap", "baidu", "apple")

_AMAP_MODE = {"walk": "walk", "bike": "ride", "ebike": "ride", "car": "car"}
_BAIDU_MODE = {"walk": "walking", "bike": "riding", "ebike": "riding", "car": "driving"}
_APPLE_FLAG = {"walk": "w", "bike": None, "ebike": None, "car": "d"}
SOURCE = "stationmap"


def _fmt(x: float) -> str:
    return f"{x:.6f}"


def _baidu_text(s: str) -> str:
    """Baidu's ``latlng:..|name:..`` mini-syntax breaks on ``|``, ``:`` and ``,``."""
    return " ".join(str(s).replace("|", " ").replace(":", " ").replace(",", " ").split())


def _amap_text(s: str) -> str:
    """Amap's ``to=lon,lat,name`` breaks on commas in the name."""
    return " ".join(str(s).replace(",", " ").replace("，", " ").split())


def nav_links_many(lons_wgs84, lats_wgs84, names, *, mode: str = "walk",
                   origin_wgs84: tuple[float, float] | None = None,
                   origin_name: str = "") -> list[dict]:
    """Navigation links for many WGS-84 destinations at once (vectorised conversions).

    Parameters
    ----------
    lons_wgs84, lats_wgs84 : sequences of float
        Destinations, WGS-84 degrees.
    names : sequence of str
        Destination names (shown by the apps; URL-encoded here).
    mode : str
        One of :data:`stationmap.config.MODES`.
    origin_wgs84 : (lon, lat), optional
        Start point in WGS-84; without it the apps start from the phone's position.
    origin_name : str
        Label of the start point.

    Returns
    -------
    list of dict
        ``{"amap": url, "baidu": url, "apple": url}`` per destination.
    """
    if mode not in MODES:
        raise ValidationError(f"mode must be one of {MODES}, got {mode!r}", field="mode")
    lons = np.asarray(lons_wgs84, dtype=float).ravel()
    lats = np.asarray(lats_wgs84, dtype=float).ravel()
    names = list(names)
    if not (lons.size == lats.size == len(names)):
        raise ValidationError("lons, lats and names must have the same length", field="names")
    if lons.size == 0:
        return []
    glon, glat = wgs84_to_gcj02(lons, lats)
    blon, blat = wgs84_to_bd09(lons, lats)
    glon, glat, blon, blat = glon.tolist(), glat.tolist(), blon.tolist(), blat.tolist()
    if origin_wgs84 is not None:
        olon, olat = float(origin_wgs84[0]), float(origin_wgs84[1])
        ogl, ogt = wgs84_to_gcj02(olon, olat)
        obl, obt = wgs84_to_bd09(olon, olat)
    out = []
    for i, name in enumerate(names):
        name = str(name)
        amap = {"to": f"{_fmt(glon[i])},{_fmt(glat[i])},{_amap_text(name)}"}
        if origin_wgs84 is not None:
            amap["from"] = f"{_fmt(ogl)},{_fmt(ogt)},{_amap_text(origin_name)}"
        amap.update(mode=_AMAP_MODE[mode], src=SOURCE, coordinate="gaode", callnative="1")
        if origin_wgs84 is not None:
            baidu_url = "https://api.map.baidu.com/direction?" + urlencode({
                "origin": f"latlng:{_fmt(obt)},{_fmt(obl)}|name:{_baidu_text(origin_name) or '-'}",
                "destination": f"latlng:{_fmt(blat[i])},{_fmt(blon[i])}|name:{_baidu_text(name) or '-'}",
                "mode": _BAIDU_MODE[mode], "coord_type": "bd09ll", "output": "html", "src": SOURCE,
            })
        else:
            baidu_url = "https://api.map.baidu.com/marker?" + urlencode({
                "location": f"{_fmt(blat[i])},{_fmt(blon[i])}", "title": name, "content": name,
                "coord_type": "bd09ll", "output": "html", "src": SOURCE,
            })
        apple = {"daddr": f"{_fmt(glat[i])},{_fmt(glon[i])}"}
        if origin_wgs84 is not None:
            apple["saddr"] = f"{_fmt(ogt)},{_fmt(ogl)}"
        if _APPLE_FLAG[mode]:
            apple["dirflg"] = _APPLE_FLAG[mode]
        out.append({
            "amap": "https://uri.amap.com/navigation?" + urlencode(amap),
            "baidu": baidu_url,
            "apple": "https://maps.apple.com/?" + urlencode(apple),
        })
    return out


def nav_links(lon_wgs84: float, lat_wgs84: float, name: str, *, mode: str = "walk",
              origin_wgs84: tuple[float, float] | None = None, origin_name: str = "") -> dict:
    """Navigation links to one WGS-84 destination; see :func:`nav_links_many`."""
    return nav_links_many([lon_wgs84], [lat_wgs84], [name], mode=mode,
                          origin_wgs84=origin_wgs84, origin_name=origin_name)[0]
