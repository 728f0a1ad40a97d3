"""The coverage map: cells coloured by minutes to the nearest station.

:func:`coverage_map` builds a folium map from a
:class:`stationmap.coverage.Coverage` (and optionally
:class:`stationmap.siting.Sites`):

* the cells, dissolved into minute bands (a few polygons rather than tens of
  thousands of squares, so the page stays small), coloured from green (near)
  to dark red (beyond the horizon);
* the gaps (connected uncovered areas) outlined in red, with their rank,
  size and uncovered demand;
* the cross-covered area (two or more stations in reach) hatched in blue;
* the stations of the kind analysed, and the suggested sites as numbered
  star markers;
* district boundaries, a legend (with the run's assumptions:
  :meth:`stationmap.coverage.Coverage.assumptions`), and a "sample data" banner when the
  stations are generated samples.

Everything is drawn in WGS-84, so only WGS-84 base maps are offered
(OpenStreetMap; Tianditu with a key); Amap tiles (GCJ-02) would put every
overlay 300-700 m off.  User text (station and district names) is
HTML-escaped.

``standalone=True`` inlines Leaflet from ``static/vendor`` so the HTML file
works offline; otherwise the page links the vendored files under
``static_url``.
"""

from __future__ import annotations

import base64
import html
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import folium
from branca.element import Element, MacroElement
from folium.template import Template

from stationmap.config import FINDER_TILES_FROM
from stationmap.errors import ValidationError
from stationmap.labels import KIND_LABELS, LANGS, MODE_LABELS, label, moment_label, translations
from stationmap.maps.icons import KIND_COLORS
from stationmap.maps.tiles import basemaps

if TYPE_CHECKING:
    from datetime import datetime

    import geopandas as gpd
    import numpy as np
    from branca.element import Figure

    from stationmap.coverage import Coverage
    from stationmap.coverage.accessibility import Accessibility
    from stationmap.siting import Sites

#: colours of the minute bands, near to far (the last: beyond the horizon)
BAND_COLORS = ("#1a9850", "#91cf60", "#d9ef8b", "#fee08b", "#fc8d59", "#d73027", "#7f0000")
GAP_COLOR = "#b2182b"
CROSS_COLOR = "#2c5aa0"
SITE_COLOR = "#6a1b9a"
#: the accessibility classes (E2SFCA), lowest to highest (ColorBrewer PuBuGn)
ACCESS_COLORS = ("#d0d1e6", "#a6bddb", "#67a9cf", "#1c9099", "#016c59")
REQUEST_COLOR = "#e08214"

_STATIC = Path(__file__).resolve().parents[2] / "static"
_LEAFLET = ("vendor/leaflet-1.9.4/leaflet.js", "vendor/leaflet-1.9.4/leaflet.css")
_CDN = ("https://cdn.jsdelivr.net/npm/leaflet@1.9.4/dist/leaflet.js",
        "https://cdn.jsdelivr.net/npm/leaflet@1.9.4/dist/leaflet.css")

#: the map shows the stations this far (degrees) beyond its cells
STATIONS_PAD_DEG = 0.05


def map_bounds(coverage: Coverage) -> tuple[float, float, float, float]:
    """``(west, south, east, north)`` of the coverage map: its cells (or its first area's bounds)."""
    g = coverage.grid
    if len(g):
        return float(g.lon.min()), float(g.lat.min()), float(g.lon.max()), float(g.lat.max())
    west, south, east, north = coverage.areas[0].geometry.bounds
    return float(west), float(south), float(east), float(north)


def shown_stations(coverage: Coverage, kind: str) -> np.ndarray:
    """The positions in ``coverage.stations`` of the stations the map shows: the run's stations of
    ``kind`` within :data:`STATIONS_PAD_DEG` of its cells (a run counts stations from far around; at
    200,000 stations a county's run holds ~100,000 of one kind, its map ~9,000)."""
    import numpy as np

    st = coverage.stations
    if not len(st):
        return np.zeros(0, np.int64)
    kind = coverage.resolve_kind(kind)
    west, south, east, north = map_bounds(coverage)
    pad = STATIONS_PAD_DEG
    lon, lat = np.asarray(st.lon), np.asarray(st.lat)
    mask = (np.asarray(st.of_kind(kind), bool) & (west - pad <= lon) & (lon <= east + pad)
            & (south - pad <= lat) & (lat <= north + pad))
    return np.flatnonzero(mask)


def _texts(lang: str) -> dict[str, str]:
    """The map's words in ``lang`` (the babel catalogue; Chinese is the message id)."""
    _ = translations(lang).gettext
    return {
        "bands": _("到最近站点的时间"),
        "gaps": _("覆盖空白（未覆盖区域）"), "cross": _("交叉覆盖（≥2 个站点）"), "stations": _("现有站点"),
        "sites": _("建议新增站点"), "districts": _("行政区界"), "sample": _("示例数据（生成的，并非真实站点）"),
        "rank": _("排名"), "area": _("面积"), "demand": _("未覆盖人口"), "site": _("建议站点"),
        "new": _("新增覆盖人口"), "new_twice": _("新增交叉覆盖人口"), "uncovered": _("未覆盖"), "covered": _("已覆盖"),
        "assumptions": _("本次分析的假设"),
        "access": _("可达性指数（E2SFCA，每千人座位数）"),
        "requests": _("站点需求（已采纳的骑手建议）"),
    }


def band_edges(threshold: float, horizon: float) -> list[float]:
    """Band edges in minutes: thirds of the threshold, then 4/3 and 2 times it,
    the horizon, and infinity."""
    t = float(threshold)
    inner = [t / 3.0, 2.0 * t / 3.0, t, 4.0 * t / 3.0, 2.0 * t]
    inner = [x for x in inner if x < horizon] + [float(horizon)]
    return [0.0, *inner, math.inf]


class _Legend(MacroElement):
    """A legend box as a Leaflet control (bottom right); its HTML is built and
    escaped in Python and passed to the script as a JSON string."""

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        var {{ this.get_name() }} = L.control({position: "bottomright"});
        {{ this.get_name() }}.onAdd = function () {
            var div = L.DomUtil.create("div", "sm-coverage-legend");
            div.style.cssText = "background:rgba(255,255,255,.93);padding:8px 10px;border-radius:4px;"
                + "font:12px/1.45 sans-serif;box-shadow:0 1px 4px rgba(0,0,0,.3);max-width:260px";
            div.innerHTML = {{ this.body|tojson }};
            return div;
        };
        {{ this.get_name() }}.addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self, body: str) -> None:
        super().__init__()
        self._name = "CoverageLegend"
        self.body = body


def _swatch(color: str, *, border: str | None = None, dash: bool = False, fill: bool = True) -> str:
    b = border or color
    style = (f"display:inline-block;width:14px;height:10px;margin-right:6px;vertical-align:middle;"
             f"border:2px {'dashed' if dash else 'solid'} {b};background:{color if fill else 'transparent'}")
    return f'<span style="{style}"></span>'


def coverage_map(coverage: Coverage, *, kind: str | None = None, sites: Sites | None = None, lang: str = "zh",
                 tianditu_key: str = "", title: str | None = None, max_gaps: int = 50, standalone: bool = False,
                 static_url: str = "/static", gaps: gpd.GeoDataFrame | None = None,
                 accessibility: Accessibility | None = None,
                 requests: Sequence[tuple[float, float, str]] = ()) -> folium.Map:
    """A folium map of ``coverage`` for ``kind`` (default its first kind).

    Parameters
    ----------
    sites : stationmap.siting.Sites, optional
        Suggested sites, drawn as numbered stars.
    lang : {"zh", "en"}
    max_gaps : int
        Outline at most this many gaps (the largest by uncovered demand).
    standalone : bool
        Inline Leaflet (from ``static/vendor``) so the HTML works offline.
    gaps : GeoDataFrame, optional
        Precomputed ``coverage.gaps(kind=..., geometry=True)``.
    accessibility : stationmap.coverage.accessibility.Accessibility, optional
        Its scores as a layer (hidden at first): five classes of equal people.
    requests : sequence of (lon, lat, reason)
        Approved "a station is needed here" pins (WGS-84), drawn as orange squares with their reason.
    """
    if lang not in LANGS:
        raise ValidationError(f"lang must be one of {LANGS}, got {lang!r}", field="lang")
    tx = _texts(lang)
    _ = translations(lang).gettext
    kind = coverage.resolve_kind(kind)
    west, south, east, north = map_bounds(coverage)
    m = folium.Map(location=[(south + north) / 2, (west + east) / 2], zoom_start=11, tiles=None,
                   control_scale=True, max_zoom=19)
    _leaflet_assets(m, standalone=standalone, static_url=static_url)
    for bm in basemaps(tianditu_key=tianditu_key, lang=lang):
        if bm.datum != "wgs84":
            continue
        for k, (url, sub) in enumerate(bm.tiles):
            folium.TileLayer(tiles=url, attr=bm.attribution, name=bm.label(lang), overlay=False,
                             control=k == 0, max_zoom=bm.max_zoom, max_native_zoom=bm.max_zoom,
                             subdomains=sub or "abc").add_to(m)

    # minute bands
    edges = band_edges(coverage.threshold, coverage.horizon_minutes)
    bands = coverage.bands(kind=kind, bands=edges[1:-1])
    fg = folium.FeatureGroup(name=tx["bands"], show=True)
    labels = []
    for k in range(len(edges) - 1):
        lo, hi = edges[k], edges[k + 1]
        labels.append(_("超过 %(h)s 分钟") % {"h": f"{lo:g}"} if not math.isfinite(hi)
                      else _("%(lo)s–%(hi)s 分钟") % {"lo": f"{lo:.0f}", "hi": f"{hi:.0f}"})
    row: Any  # pandas' named tuples: fields untyped
    for row in bands.itertuples():
        k = edges.index(row.lo)
        color = BAND_COLORS[min(k, len(BAND_COLORS) - 1)] if math.isfinite(row.hi) else BAND_COLORS[-1]
        tip = f"{labels[k]} · {row.area_km2:.2f} km²"
        folium.GeoJson(row.geometry.__geo_interface__, style_function=_style(color, 0.55, color, 0.0),
                       tooltip=html.escape(tip), name=labels[k]).add_to(fg)
    fg.add_to(m)

    # cross-covered
    cross = coverage.cross_covered_area(kind=kind)
    if cross is not None:
        fgc = folium.FeatureGroup(name=tx["cross"], show=True)
        folium.GeoJson(cross.__geo_interface__, style_function=lambda _f: {
            "color": CROSS_COLOR, "weight": 1, "fill": True, "fillColor": CROSS_COLOR, "fillOpacity": 0.08,
            "dashArray": "2 4"}, tooltip=html.escape(tx["cross"])).add_to(fgc)
        fgc.add_to(m)

    # gaps
    gdf = gaps if gaps is not None else coverage.gaps(kind=kind, geometry=True)
    if len(gdf):
        fgg = folium.FeatureGroup(name=tx["gaps"], show=True)
        for row in gdf.head(max_gaps).itertuples():
            tip = (f"{tx['uncovered']} #{int(row.rank)} · {tx['area']} {row.area_km2:.2f} km² · "
                   f"{tx['demand']} {row.demand:,.0f}")
            folium.GeoJson(row.geometry.__geo_interface__,
                           style_function=_style(GAP_COLOR, 0.0, GAP_COLOR, 2.0, dash="6 4"),
                           tooltip=html.escape(tip)).add_to(fgg)
        fgg.add_to(m)

    # district boundaries
    fgd = folium.FeatureGroup(name=tx["districts"], show=True)
    for a in coverage.areas:
        folium.GeoJson(a.geometry.__geo_interface__, style_function=_style("#333333", 0.0, "#333333", 1.2),
                       tooltip=html.escape(f"{a.name} {a.adcode}".strip())).add_to(fgd)
    fgd.add_to(m)

    # stations of this kind
    st = coverage.stations
    color = KIND_COLORS.get(kind, "#c8102e")
    fgs = folium.FeatureGroup(name=tx["stations"], show=True)
    sel = shown_stations(coverage, kind)
    names = st.name if st.name is not None else st.id
    shown = [(sid, nm, float(lon), float(lat)) for sid, nm, lon, lat in zip(st.id[sel], names[sel], st.lon[sel],
                                                                             st.lat[sel])]
    if len(shown) >= FINDER_TILES_FROM:
        # many stations: one GeoJSON layer drawn as the same circles, the points written once as data
        # (~90 bytes a station) rather than a script of ~1.7 kB per marker (at 200,000 stations the 8,927
        # of 320404's map made a 15.5 MB page).  Not the finder's tiles: this map is a snapshot of one run
        # (the stations it counted, of its kind, moment and services), and its download works with no server.
        feats = [{"type": "Feature", "geometry": {"type": "Point", "coordinates": [round(lon, 5), round(lat, 5)]},
                  "properties": {"t": html.escape(f"{nm} ({sid})")}} for sid, nm, lon, lat in shown]
        folium.GeoJson({"type": "FeatureCollection", "features": feats}, name=tx["stations"],
                       marker=folium.CircleMarker(radius=4, color="#ffffff", weight=1, fill=True, fill_color=color,
                                                  fill_opacity=1.0),
                       tooltip=folium.GeoJsonTooltip(fields=["t"], labels=False)).add_to(fgs)
    else:
        for sid, nm, lon, lat in shown:
            folium.CircleMarker([lat, lon], radius=4, color="#ffffff", weight=1, fill=True,
                                fill_color=color, fill_opacity=1.0,
                                tooltip=html.escape(f"{nm} ({sid})")).add_to(fgs)
    fgs.add_to(m)

    # accessibility (E2SFCA), in classes of equal people
    access_rows = []
    if accessibility is not None:
        fga = folium.FeatureGroup(name=tx["access"], show=False)
        for k, (lo, hi, geom) in enumerate(accessibility.classes(coverage, n=len(ACCESS_COLORS))):
            c = ACCESS_COLORS[k]
            text = f"{lo:.3g}–{hi:.3g}"
            folium.GeoJson(geom.__geo_interface__, style_function=_style(c, 0.6, c, 0.0),
                           tooltip=html.escape(f"{tx['access']} · {text}")).add_to(fga)
            access_rows.append(f"<div>{_swatch(c)}{html.escape(text)}</div>")
        fga.add_to(m)

    # suggested sites
    if sites is not None and len(sites.table):
        fgn = folium.FeatureGroup(name=tx["sites"], show=True)
        r: Any
        for r in sites.table.itertuples():
            label = int(r.rank)
            icon = folium.DivIcon(
                html=(f'<div class="sm-site" style="width:26px;height:26px;line-height:26px;text-align:center;'
                      f'color:#fff;background:{SITE_COLOR};border:2px solid #fff;border-radius:50%;'
                      f'font:bold 12px sans-serif;box-shadow:0 1px 3px rgba(0,0,0,.5)">★{label}</div>'),
                icon_size=(30, 30), icon_anchor=(15, 15))
            new = tx["new_twice" if sites.objective_name == "twice" else "new"]
            tip = f"{tx['site']} {label} · {new} {r.new_demand:,.0f} · ({r.lon:.5f}, {r.lat:.5f})"
            folium.Marker([float(r.lat), float(r.lon)], icon=icon, tooltip=html.escape(tip)).add_to(fgn)
        fgn.add_to(m)

    # approved "a station is needed here" pins
    if requests:
        fgr = folium.FeatureGroup(name=tx["requests"], show=True)
        for lon, lat, reason in requests:
            icon = folium.DivIcon(
                html=(f'<div class="sm-request" style="width:12px;height:12px;background:{REQUEST_COLOR};'
                      f'border:2px solid #fff;box-shadow:0 1px 3px rgba(0,0,0,.5)"></div>'),
                icon_size=(16, 16), icon_anchor=(8, 8))
            folium.Marker([float(lat), float(lon)], icon=icon,
                          tooltip=html.escape(f"{tx['requests']}: {reason}")).add_to(fgr)
        fgr.add_to(m)

    # title, legend, layer control
    name = title or _title(coverage, kind, tx, lang)
    banner = f'<div style="font-weight:bold;margin-bottom:4px">{html.escape(name)}</div>'
    if coverage.sample:
        banner += (f'<div style="color:#fff;background:#b35900;padding:2px 4px;margin-bottom:4px;'
                   f'font-weight:bold">{html.escape(tx["sample"])}</div>')
    rows = [f"<div><b>{html.escape(tx['bands'])}</b></div>"]
    for k, lab in enumerate(labels):
        c = BAND_COLORS[min(k, len(BAND_COLORS) - 1)] if k < len(labels) - 1 else BAND_COLORS[-1]
        state = tx["covered"] if edges[k + 1] <= coverage.threshold else tx["uncovered"]
        rows.append(f"<div>{_swatch(c)}{html.escape(lab)} <span style='color:#666'>({html.escape(state)})"
                    "</span></div>")
    rows.append(f"<div>{_swatch(GAP_COLOR, dash=True, fill=False)}{html.escape(tx['gaps'])}</div>")
    rows.append(f"<div>{_swatch('rgba(44,90,160,.15)', border=CROSS_COLOR, dash=True)}"
                f"{html.escape(tx['cross'])}</div>")
    rows.append(f"<div><span style='display:inline-block;width:10px;height:10px;border-radius:50%;"
                f"background:{color};margin:0 8px 0 2px'></span>{html.escape(tx['stations'])}</div>")
    if sites is not None and len(sites.table):
        rows.append(f"<div><span style='display:inline-block;width:12px;height:12px;border-radius:50%;"
                    f"background:{SITE_COLOR};margin:0 6px 0 1px'></span>★ {html.escape(tx['sites'])}</div>")
    if access_rows:
        rows.append(f"<div style='margin-top:4px'><b>{html.escape(tx['access'])}</b></div>")
        rows.extend(access_rows)
    if requests:
        rows.append(f"<div><span style='display:inline-block;width:10px;height:10px;background:{REQUEST_COLOR};"
                    f"margin:0 8px 0 2px'></span>{html.escape(tx['requests'])}</div>")
    lines = coverage.assumptions()["text"][lang]
    rows.append(f"<details class='sm-assumptions'{' open' if standalone else ''} style='margin-top:4px'>"
                f"<summary><b>{html.escape(tx['assumptions'])}</b></summary>"
                + "".join(f"<div style='color:#333'>{html.escape(x)}</div>" for x in lines) + "</details>")
    _Legend(banner + "".join(rows)).add_to(m)
    folium.LayerControl(position="topright", collapsed=True).add_to(m)
    m.fit_bounds([[south, west], [north, east]])
    return m


def layer_names(m: folium.Map) -> dict[str, str]:
    """The map's overlays by their name in the layer control -> the script's variable of each
    (a page's script finds a layer of :func:`coverage_map` by it, e.g. to hide the gaps)."""
    return {c.layer_name: c.get_name() for c in m._children.values()
            if isinstance(c, folium.FeatureGroup) and getattr(c, "layer_name", None)}


def gaps_layer_name(lang: str) -> str:
    """The gaps overlay's name in the layer control, in ``lang``."""
    return _texts(lang)["gaps"]


def _title(coverage: Coverage, kind: str, tx: Mapping[str, str], lang: str) -> str:
    names = "、".join(a.name for a in coverage.areas[:3]) if lang == "zh" else ", ".join(
        a.name for a in coverage.areas[:3])
    if coverage.parent:
        names = coverage.parent.get("name", names)
    elif len(coverage.areas) > 3:
        names += " …"
    return coverage_title(names, kind, coverage.threshold, coverage.mode, lang, at=coverage.at)


def coverage_title(name: str, kind: str, minutes: float, mode: str, lang: str, *, at: datetime | None = None) -> str:
    """``"<name>：<kind> <minutes> 分钟<mode>覆盖"`` in ``lang``, and the moment of a run at a
    moment (``"· 2026年12月7日（周一）22:00"``): the map's and the charts' title."""
    _ = translations(lang).gettext
    title = _("%(name)s：%(kind)s %(minutes)s 分钟%(mode)s覆盖") % {
        "name": name, "kind": label(KIND_LABELS, kind, lang), "minutes": f"{minutes:g}",
        "mode": label(MODE_LABELS, mode, lang)}
    return title if at is None else f"{title} · {moment_label(at, lang)}"


def _style(fill: str, fill_opacity: float, line: str, weight: float,
           dash: str | None = None) -> Callable[[object], dict[str, Any]]:
    def f(_feature: object) -> dict[str, Any]:
        s: dict[str, Any] = {"fillColor": fill, "fillOpacity": fill_opacity, "color": line, "weight": weight,
             "fill": fill_opacity > 0}
        if dash:
            s["dashArray"] = dash
        return s
    return f


def _leaflet_assets(m: folium.Map, *, standalone: bool, static_url: str) -> None:
    js_path, css_path = (_STATIC / p for p in _LEAFLET)
    if standalone and js_path.is_file() and css_path.is_file():
        m.default_js = []
        m.default_css = []
        root = cast("Figure", m.get_root())  # a map's root is its Figure
        css = css_path.read_text(encoding="utf-8")
        for img in ("layers-2x.png", "layers.png", "marker-icon.png"):
            f = css_path.parent / "images" / img
            if f.is_file():
                data = base64.b64encode(f.read_bytes()).decode("ascii")
                css = css.replace(f"url(images/{img})", f"url(data:image/png;base64,{data})")
        root.header.add_child(Element(f"<style>{css}</style>"), name="leaflet_css")
        js = js_path.read_text(encoding="utf-8").replace("</script", "<\\/script")
        root.header.add_child(Element(f"<script>{js}</script>"), name="leaflet_js")
    elif standalone:
        m.default_js = [("leaflet", _CDN[0])]
        m.default_css = [("leaflet_css", _CDN[1])]
    else:
        base = static_url.rstrip("/")
        m.default_js = [("leaflet", f"{base}/{_LEAFLET[0]}")]
        m.default_css = [("leaflet_css", f"{base}/{_LEAFLET[1]}")]


def save_html(m: folium.Map, path: str | os.PathLike[str]) -> Path:
    """Write a map as one HTML file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    m.save(str(path))
    return path
