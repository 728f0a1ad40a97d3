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

``src`` names the caller: Amap takes any name, Baidu requires
``webapp.<company>.<app>``. ``tests/unit/test_nav_uri_apis.py`` checks every link
against each app's documented URI API (parameter names, mode names, datum,
coordinate order and precision).

Inside an in-app browser (WeChat, QQ, Weibo, DingTalk, Alipay, Douyin, ...: :func:`in_app_browser`
reads the user agent) Amap's and Baidu's app-launch attempts do not work (Amap's URI API
documentation: ``callnative`` cannot open the app from WeChat), so there (``client="in_app"``)
the links are the apps' web pages that show the route: Amap's ``callnative=0`` and Baidu's
``output=html`` (as everywhere); Apple Maps has no web route page, so its link stays and the
page shows the "open in the browser" hint (在浏览器中打开) beside the buttons.

Travel modes map to each app's own: walk -> walk / walking / ``dirflg=w``;
bike and ebike -> ride / riding / (Apple Maps' URL scheme has no cycling
flag, so none is sent); car -> car / driving / ``dirflg=d``.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import quote

import numpy as np

from stationmap.config import DEFAULT_MODE, MODES
from stationmap.coords import gcj02_to_bd09, wgs84_to_gcj02
from stationmap.errors import ValidationError

APPS = ("amap", "baidu", "apple")
#: the clients a link is built for: a phone's browser (``app``: the links may open the apps) or
#: an in-app browser (``in_app``: web pages that work there)
CLIENTS = ("app", "in_app")
#: in-app browsers by a token of their user agent (case-sensitive, as they send it)
IN_APP_BROWSERS = (
    ("MicroMessenger", "wechat"),   # WeChat (and WeChat Work: wxwork also sends MicroMessenger)
    (" QQ/", "qq"),                 # QQ's own browser view (not QQ Browser: MQQBrowser/)
    ("Weibo", "weibo"),
    ("DingTalk", "dingtalk"),
    ("AlipayClient", "alipay"),
    ("aweme", "douyin"),            # Douyin / TikTok
    ("Lark/", "lark"),              # Feishu / Lark
    ("baiduboxapp", "baidu_app"),   # the Baidu app
    ("XiaoHongShu", "xiaohongshu"),
)



@lru_cache(maxsize=1024)
def in_app_browser(user_agent: str | None) -> str | None:
    """The in-app browser ``user_agent`` names (``wechat``, ``qq``, ... of
    :data:`IN_APP_BROWSERS`), or None (a browser: Chrome, Safari, QQ Browser, ...); kept per
    User-Agent (a phone sends the same one with every request)."""
    ua = user_agent or ""
    return next((name for token, name in IN_APP_BROWSERS if token in ua), None)


def client_of(user_agent: str | None) -> str:
    """The :data:`CLIENTS` value for ``user_agent``: ``in_app`` inside an in-app browser."""
    return "in_app" if in_app_browser(user_agent) else "app"


_AMAP_MODE = {"walk": "walk", "bike": "ride", "ebike": "ride", "car": "car"}
_BAIDU_MODE = {"walk": "walking", "bike": "riding", "ebike": "riding", "car": "driving"}
_APPLE_FLAG = {"walk": "w", "bike": None, "ebike": None, "car": "d"}
SOURCE = "stationmap"
# Baidu's URI API requires ``src`` in the form ``webapp.<company>.<app>`` for web callers
BAIDU_SOURCE = "webapp.stationmap.finder"


def _baidu_text(s: str) -> str:
    """Baidu's ``latlng:..|name:..`` mini-syntax breaks on ``|``, ``:`` and ``,``."""
    return " ".join(str(s).replace("|", " ").replace(":", " ").replace(",", " ").split())


def _amap_text(s: str) -> str:
    """Amap's ``to=lon,lat,name`` breaks on commas in the name."""
    return " ".join(str(s).replace(",", " ").replace("，", " ").split())


def nav_links_many(lons_wgs84: Iterable[float], lats_wgs84: Iterable[float], names: Iterable[str], *,
                   mode: str = DEFAULT_MODE, origin_wgs84: tuple[float, float] | None = None,
                   origin_name: str = "", client: str = "app") -> list[dict[str, str]]:
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
    client : {"app", "in_app"}
        Who opens the links (:func:`client_of`): ``in_app`` gives Amap's web route page
        (``callnative=0``) for an in-app browser, where launching the app fails.

    Returns
    -------
    list of dict
        ``{"amap": url, "baidu": url, "apple": url}`` per destination.
    """
    if mode not in MODES:
        raise ValidationError(f"mode must be one of {MODES}, got {mode!r}", field="mode")
    lons = [float(x) for x in lons_wgs84]
    lats = [float(y) for y in lats_wgs84]
    names = [str(n) for n in names]
    if not (len(lons) == len(lats) == len(names)):
        raise ValidationError("lons, lats and names must have the same length", field="names")
    if client not in CLIENTS:
        raise ValidationError(f"client must be one of {CLIENTS}, got {client!r}", field="client")
    if not lons:
        return []
    native = "0" if client == "in_app" else "1"
    dests = _destinations(lons, lats, names)
    amap_mode, baidu_mode, apple_flag = _AMAP_MODE[mode], _BAIDU_MODE[mode], _APPLE_FLAG[mode]
    apple_tail = f"&dirflg={apple_flag}" if apple_flag else ""
    if origin_wgs84 is None:
        amap_tail = f"&mode={amap_mode}&src={SOURCE}&coordinate=gaode&callnative={native}"
        return [{
            "amap": f"https://uri.amap.com/navigation?to={d.amap_to}{amap_tail}",
            "baidu": (f"https://api.map.baidu.com/marker?location={d.baidu_location}&title={d.name_q}"
                      f"&content={d.name_q}&coord_type=bd09ll&output=html&src={BAIDU_SOURCE}"),
            "apple": f"https://maps.apple.com/?daddr={d.apple}{apple_tail}",
        } for d in dests]
    o = _place(float(origin_wgs84[0]), float(origin_wgs84[1]), origin_name)
    # what follows each destination, the same for all of them
    amap_tail = f"&from={o.amap_to}&mode={amap_mode}&src={SOURCE}&coordinate=gaode&callnative={native}"
    baidu_tail = f"&mode={baidu_mode}&coord_type=bd09ll&output=html&src={BAIDU_SOURCE}"
    baidu_head = f"https://api.map.baidu.com/direction?origin={o.baidu_latlng}&destination="
    apple_tail = f"&saddr={o.apple}{apple_tail}"
    return [{
        "amap": f"https://uri.amap.com/navigation?to={d.amap_to}{amap_tail}",
        "baidu": f"{baidu_head}{d.baidu_latlng}{baidu_tail}",
        "apple": f"https://maps.apple.com/?daddr={d.apple}{apple_tail}",
    } for d in dests]


class _Dest(NamedTuple):
    """The URL pieces of one place, converted and %-encoded (query-value safe)."""

    amap_to: str         # GCJ-02 "lon,lat,name"
    baidu_latlng: str    # BD-09 "latlng:lat,lon|name:name"
    baidu_location: str  # BD-09 "lat,lon"
    apple: str           # GCJ-02 "lat,lon"
    name_q: str


_DEST_CACHE: dict[tuple[float, float, str], _Dest] = {}


def _destinations(lons: list[float], lats: list[float], names: list[str]) -> list[_Dest]:
    """:class:`_Dest` of each WGS-84 place, cached (a station's datum conversions
    cost more than building its URLs)."""
    out: list[_Dest] = []
    missing: list[int] = []
    get = _DEST_CACHE.get
    for key in zip(lons, lats, names):
        d = get(key)
        if d is None:
            missing.append(len(out))
        out.append(d)  # type: ignore[arg-type]  # a None (not cached) is filled below
    if len(missing) == 1:       # coords' scalar path is 3x quicker than its array path
        i = missing[0]
        out[i] = _place(lons[i], lats[i], names[i])
    elif missing:
        glon, glat = wgs84_to_gcj02(np.asarray([lons[i] for i in missing]),
                                    np.asarray([lats[i] for i in missing]))
        blon, blat = gcj02_to_bd09(glon, glat)
        for i, gx, gy, bx, by in zip(missing, glon.tolist(), glat.tolist(), blon.tolist(), blat.tolist()):
            out[i] = _dest(gx, gy, bx, by, names[i])
    if missing:
        if len(_DEST_CACHE) + len(missing) > 200_000:
            _DEST_CACHE.clear()
        for i in missing:
            _DEST_CACHE[(lons[i], lats[i], names[i])] = out[i]
    return out


def _place(lon: float, lat: float, name: str) -> _Dest:
    """:class:`_Dest` of one WGS-84 place (not cached: an origin is new every time)."""
    glon, glat = wgs84_to_gcj02(lon, lat)
    blon, blat = gcj02_to_bd09(glon, glat)
    return _dest(glon, glat, blon, blat, name)


def _dest(glon: float, glat: float, blon: float, blat: float, name: str) -> _Dest:
    """:class:`_Dest` of a place at GCJ-02 ``glon, glat`` and BD-09 ``blon, blat``."""
    gx, gy, bx, by = f"{glon:.6f}", f"{glat:.6f}", f"{blon:.6f}", f"{blat:.6f}"
    amap_name, baidu_name, name_q = _name_pieces(name)
    return _Dest(
        amap_to=f"{gx}%2C{gy}%2C{amap_name}",
        # = quote(f"latlng:{by},{bx}|name:{name}"): numbers need no escaping
        baidu_latlng=f"latlng%3A{by}%2C{bx}%7Cname%3A{baidu_name}",
        baidu_location=f"{by}%2C{bx}",
        apple=f"{gy}%2C{gx}",
        name_q=name_q,
    )


@lru_cache(maxsize=65536)
def _name_pieces(name: str) -> tuple[str, str, str]:
    """A name %-encoded for Amap's ``to=``, Baidu's ``name:`` and a plain query value
    (cached: station names repeat, and so does an origin's label)."""
    return quote(_amap_text(name), safe=""), quote(_baidu_text(name) or "-", safe=""), quote(name, safe="")


def nav_links(lon_wgs84: float, lat_wgs84: float, name: str, *, mode: str = DEFAULT_MODE,
              origin_wgs84: tuple[float, float] | None = None, origin_name: str = "",
              client: str = "app") -> dict[str, str]:
    """Navigation links to one WGS-84 destination; see :func:`nav_links_many`."""
    return nav_links_many([lon_wgs84], [lat_wgs84], [name], mode=mode,
                          origin_wgs84=origin_wgs84, origin_name=origin_name, client=client)[0]
