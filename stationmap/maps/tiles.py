"""Base maps, each with the datum its tiles are drawn in.

=========  ==========  =============================================
name       datum       notes
=========  ==========  =============================================
``osm``    WGS-84      OpenStreetMap standard tiles
``amap``   GCJ-02      Amap / Gaode road map: anything drawn over it
                       (markers, circles, boundaries) must be shifted
                       to GCJ-02 first, or it lands 300-700 m off
``tianditu`` WGS-84    Tianditu (天地图) vector map and labels; CGCS2000,
                       which is WGS-84 to within centimetres.  Needs a
                       key (``Settings.tianditu_key``); without one the
                       layer is left out.
=========  ==========  =============================================

The datum travels with each layer as the Leaflet option ``datum`` so that the
page script knows which coordinates to draw in (see ``static/js/finder.js``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import folium

from stationmap.errors import ValidationError

BASEMAPS = ("amap", "osm", "tianditu")


@dataclass(frozen=True)
class Basemap:
    """One base map: a name, labels, the datum of its tiles, its tile URLs."""

    name: str
    label_zh: str
    label_en: str
    datum: str
    #: (url template, subdomains) of each tile layer, bottom first
    tiles: tuple[tuple[str, str], ...]
    attribution: str
    max_zoom: int = 18

    def label(self, lang: str) -> str:
        """The label in ``lang`` ("en"; anything else: Chinese)."""
        return self.label_en if lang == "en" else self.label_zh


def basemaps(*, tianditu_key: str = "", lang: str = "zh") -> list[Basemap]:
    """The available base maps, default first; Tianditu only with a key."""
    amap_lang = "en" if lang == "en" else "zh_cn"
    amap_url = (f"https://webrd0{{s}}.is.autonavi.com/appmaptile?lang={amap_lang}&size=1&scale=1&style=8"
                "&x={x}&y={y}&z={z}")
    out = [
        Basemap(
            "amap", "高德地图", "Amap", "gcj02",
            ((amap_url, "1234"),),
            '&copy; <a href="https://www.amap.com/">高德地图 AutoNavi</a>',
            max_zoom=18,
        ),
        Basemap(
            "osm", "OpenStreetMap", "OpenStreetMap", "wgs84",
            (("https://tile.openstreetmap.org/{z}/{x}/{y}.png", ""),),
            '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
            max_zoom=19,
        ),
    ]
    key = (tianditu_key or "").strip()
    if key:
        tk = quote(key, safe="")
        labels = "eva_w" if lang == "en" else "cva_w"
        out.append(Basemap(
            "tianditu", "天地图", "Tianditu", "wgs84",
            ((f"https://t{{s}}.tianditu.gov.cn/DataServer?T=vec_w&x={{x}}&y={{y}}&l={{z}}&tk={tk}", "01234567"),
             (f"https://t{{s}}.tianditu.gov.cn/DataServer?T={labels}&x={{x}}&y={{y}}&l={{z}}&tk={tk}", "01234567")),
            '&copy; <a href="https://www.tianditu.gov.cn/">天地图</a>',
            max_zoom=18,
        ))
    return out


def tile_hosts(*, tianditu_key: str = "") -> tuple[str, ...]:
    """The origins (``https://host``) the base maps' tiles load from, each ``{s}`` subdomain
    spelled out, in base-map order; Tianditu's only with a key, as :func:`basemaps`.

    A page's Content-Security-Policy lets images load from these and no other
    host (:mod:`stationmap.csp`).  The hosts do not depend on the language.
    """
    out: list[str] = []
    for bm in basemaps(tianditu_key=tianditu_key):
        for url, subdomains in bm.tiles:
            # "abc" without subdomains, as add_basemaps (and Leaflet) take it
            for sub in (subdomains or "abc") if "{s}" in url else ("",):
                parts = urlsplit(url.replace("{s}", sub))
                origin = f"{parts.scheme}://{parts.netloc}"
                if origin not in out:
                    out.append(origin)
    return tuple(out)


def check_basemap(name: str, *, available: Iterable[Basemap]) -> str:
    """``name`` when it names one of the ``available`` base maps, else ValidationError (field ``basemap``)."""
    names = tuple(b.name for b in available)
    if name not in names:
        raise ValidationError(f"basemap must be one of {names}, got {name!r}", field="basemap")
    return name


def add_basemaps(m: folium.Map, *, tianditu_key: str = "", lang: str = "zh",
                 default: str | None = None) -> list[tuple[folium.map.Layer, Basemap]]:
    """Add every base map to ``m`` as a base layer; returns ``[(layer, basemap)]``.

    ``default`` (a name in :data:`BASEMAPS`) is shown first; the others are
    switchable with a layer control.  A base map of several tile layers
    (Tianditu: map + labels) becomes one FeatureGroup.
    """
    available = basemaps(tianditu_key=tianditu_key, lang=lang)
    default = check_basemap(default or available[0].name, available=available)
    out: list[tuple[folium.map.Layer, Basemap]] = []
    layer: folium.map.Layer
    for bm in available:
        show = bm.name == default
        if len(bm.tiles) == 1:
            url, subdomains = bm.tiles[0]
            layer = folium.TileLayer(
                tiles=url, attr=bm.attribution, name=bm.label(lang), overlay=False, control=True,
                show=show, max_zoom=bm.max_zoom, max_native_zoom=bm.max_zoom, subdomains=subdomains or "abc",
                datum=bm.datum, basemap=bm.name,
            )
        else:
            layer = folium.FeatureGroup(name=bm.label(lang), overlay=False, control=True, show=show)
            for url, subdomains in bm.tiles:
                folium.TileLayer(
                    tiles=url, attr=bm.attribution, overlay=False, control=False,
                    max_zoom=bm.max_zoom, max_native_zoom=bm.max_zoom, subdomains=subdomains,
                    datum=bm.datum, basemap=bm.name,
                ).add_to(layer)
        layer.add_to(m)
        out.append((layer, bm))
    return out
