"""The courier finder map: a folium map whose stations come from the JSON API.

The map itself holds no station: ``static/js/finder.js`` fetches them as
GeoJSON from ``/api/v1/stations`` and draws them, clustered, in the datum of
the base map on show (GCJ-02 over Amap, WGS-84 otherwise).  So the page stays
small with thousands of stations, and a write shows up on the next load.

Everything folium would fetch from CDNs (Leaflet, the marker-cluster and the
locate plugins) is served from ``static/vendor/`` instead (see its README), so
the page works offline and on intranets.

Build with :func:`finder_map`; a web page embeds the parts that
:func:`render_parts` returns (``head``: script and style links, ``body``: the
map's ``<div>``, ``script``: the code that builds the map).  What finder.js
needs to know (URLs, vocabularies with labels and icons, UI strings) is
:func:`finder_config`, the same for the web app and a published static site.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import folium
from branca.element import CssLink, JavascriptLink, MacroElement
from folium.plugins import LocateControl, MarkerCluster
from folium.template import Template

from stationmap.config import DEFAULT_MODE
from stationmap.coords import check_datum
from stationmap.errors import ValidationError
from stationmap.labels import KIND_LABELS, SERVICE_LABELS, label, mode_labels, oneway_note
from stationmap.maps.icons import KEY_SERVICES, KIND_COLORS, kind_icon, service_icon
from stationmap.maps.tiles import add_basemaps

if TYPE_CHECKING:
    from branca.element import Figure
    from folium.map import Layer

    from stationmap.maps.tiles import Basemap

#: Vendored assets, relative to the static folder (see static/vendor/README.md).
VENDOR = {
    "leaflet_js": "vendor/leaflet-1.9.4/leaflet.js",
    "leaflet_css": "vendor/leaflet-1.9.4/leaflet.css",
    "markercluster_js": "vendor/leaflet.markercluster-1.5.3/leaflet.markercluster.js",
    "markercluster_css": "vendor/leaflet.markercluster-1.5.3/MarkerCluster.css",
    "markercluster_default_css": "vendor/leaflet.markercluster-1.5.3/MarkerCluster.Default.css",
    "locate_js": "vendor/leaflet.locatecontrol-0.83.1/L.Control.Locate.min.js",
    "locate_css": "vendor/leaflet.locatecontrol-0.83.1/L.Control.Locate.min.css",
}
FINDER_JS = "js/finder.js"
#: where the finder opens when there are no stations (Changzhou, WGS-84)
DEFAULT_CENTER = (119.974, 31.811)
#: stations per request when the finder loads its markers
MARKER_PAGE = 10_000


def _url(static_url: str, path: str) -> str:
    return static_url.rstrip("/") + "/" + path


class FinderApp(MacroElement):
    """Starts ``stationmapFinder`` (static/js/finder.js) on the map it is added to.

    Add it last (after the layer control): its script refers to the other
    elements by their JavaScript names.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
            stationmapFinder.init({{ this._parent.get_name() }}, {{ this.config|tojson }}, {
                cluster: {{ this.cluster.get_name() }},
                locate: {{ this.locate.get_name() }},
                layers: {{ this.layer_control.get_name() }},
                bases: [
                {%- for layer, bm in this.bases %}
                    {layer: {{ layer.get_name() }}, name: {{ bm.name|tojson }}, datum: {{ bm.datum|tojson }}},
                {%- endfor %}
                ]
            });
        {% endmacro %}
        """
    )

    def __init__(self, *, config: dict[str, Any], cluster: MarkerCluster, locate: LocateControl,
                 layer_control: folium.LayerControl, bases: list[tuple[Layer, Basemap]], js_url: str) -> None:
        super().__init__()
        self._name = "FinderApp"
        self.config = config
        self.cluster = cluster
        self.locate = locate
        self.layer_control = layer_control
        self.bases = bases
        self.js_url = js_url

    def render(self, **kwargs: Any) -> None:  # type: ignore[override]  # as branca's MacroElement.render: no str
        figure = cast("Figure", self.get_root())  # the map's Figure
        figure.header.add_child(JavascriptLink(self.js_url), name="stationmap_finder_js")
        super().render(**kwargs)


def finder_map(*, center_wgs84: tuple[float, float], zoom: int = 12, lang: str = "zh",
               tianditu_key: str = "", config: dict[str, Any] | None = None, static_url: str = "/static",
               basemap: str | None = None) -> folium.Map:
    """The finder map, centred on ``center_wgs84`` = (lon, lat) in WGS-84.

    Parameters
    ----------
    center_wgs84 : (float, float)
        Initial centre, WGS-84 lon/lat; drawn in the default base map's datum.
    zoom : int
        Initial zoom level (0-19).
    lang : {"zh", "en"}
        Language of the base-map labels and layer names.
    tianditu_key : str
        Tianditu browser key; without one the Tianditu base map is left out.
    config : dict
        Passed to ``stationmapFinder.init`` as JSON: API URLs, UI strings,
        modes (see ``static/js/finder.js``).  Text in it is JSON-escaped for
        the ``<script>`` context.
    static_url : str
        URL of the static folder (vendored libraries, finder.js, icons).
    basemap : str, optional
        Name of the base map shown first (default: the first available).
    """
    lon, lat = (float(v) for v in center_wgs84)
    if not (-180 <= lon <= 180 and -90 <= lat <= 90):
        raise ValidationError(f"center_wgs84 must be (lon, lat) in range, got {center_wgs84!r}",
                              field="center_wgs84")
    if lang not in ("zh", "en"):
        raise ValidationError(f"lang must be one of ('zh', 'en'), got {lang!r}", field="lang")
    m = folium.Map(location=[lat, lon], zoom_start=int(zoom), tiles=None, control_scale=True,
                   prefer_canvas=False, max_zoom=19)
    m.default_js = [("leaflet", _url(static_url, VENDOR["leaflet_js"]))]
    m.default_css = [("leaflet_css", _url(static_url, VENDOR["leaflet_css"]))]
    bases = add_basemaps(m, tianditu_key=tianditu_key, lang=lang, default=basemap)
    default = next((bm for _, bm in bases if bm.name == (basemap or bases[0][1].name)))
    check_datum(default.datum)
    cluster = MarkerCluster(name="stations", control=False, options={
        "showCoverageOnHover": False, "chunkedLoading": True, "maxClusterRadius": 60,
        "disableClusteringAtZoom": 17, "spiderfyOnMaxZoom": True,
    })
    cluster.default_js = [("markerclusterjs", _url(static_url, VENDOR["markercluster_js"]))]
    cluster.default_css = [("markerclustercss", _url(static_url, VENDOR["markercluster_css"])),
                           ("markerclusterdefaultcss", _url(static_url, VENDOR["markercluster_default_css"]))]
    cluster.add_to(m)
    strings = (config or {}).get("strings", {})
    locate = LocateControl(
        auto_start=False, drawMarker=False, drawCircle=False, showPopup=False, setView=False,
        showCompass=False, position="topleft",
        strings={"title": strings.get("locate_title", "")},
        locateOptions={"enableHighAccuracy": True, "maximumAge": 30000, "timeout": 15000},
    )
    locate.default_js = [("Control_locate_min_js", _url(static_url, VENDOR["locate_js"]))]
    locate.default_css = [("Control_locate_min_css", _url(static_url, VENDOR["locate_css"]))]
    locate.add_to(m)
    layer_control = folium.LayerControl(position="topright", collapsed=True)
    layer_control.add_to(m)
    cfg = dict(config or {})
    cfg.setdefault("basemap", default.name)
    FinderApp(config=cfg, cluster=cluster, locate=locate, layer_control=layer_control,
              bases=bases, js_url=_url(static_url, FINDER_JS)).add_to(m)
    return m


@dataclass(frozen=True)
class MapParts:
    """A rendered folium map, in the pieces a page template places."""

    #: ``<script>`` and ``<link>`` tags (vendored libraries, finder.js) and the map's CSS
    head: str
    #: the map's ``<div>``
    body: str
    #: the JavaScript that builds the map (goes at the end of ``<body>``, in a ``<script>``
    #: with the page's CSP nonce)
    script: str
    #: the map's JavaScript name / element id
    map_id: str

    @property
    def head_styles(self) -> str:
        """The style links and the map's CSS of :attr:`head` (for the page's ``<head>``)."""
        return "\n".join(line for line in self.head.splitlines() if not line.lstrip().startswith("<script"))

    @property
    def head_scripts(self) -> str:
        """The script tags of :attr:`head`: a page that shows something before the map (the
        finder's first list) puts them at the end of ``<body>``, where they do not hold up its
        parsing; the map's own script (:attr:`script`) follows them."""
        return "\n".join(line for line in self.head.splitlines() if line.lstrip().startswith("<script"))


def render_parts(m: folium.Map) -> MapParts:
    """Render ``m`` into :class:`MapParts`.

    Only the script and style links of the header are kept: folium's page-level
    styles (``html, body {height: 100%}``, a viewport meta that forbids zooming)
    would fight the page's own layout and accessibility.  So is folium's inline
    ``L_NO_TOUCH = false; L_DISABLE_3D = false;``: it would run after leaflet.js,
    which reads the two globals when it loads (and false is what it takes
    without them), and a page's Content-Security-Policy allows no inline script
    but the one that builds the map (:mod:`stationmap.csp`).
    """
    root = cast("Figure", m.get_root())  # a map's root is its Figure
    root.render()
    links = [el.render() for el in root.header._children.values()
             if isinstance(el, (JavascriptLink, CssLink))]
    head = "\n".join(links) + (
        f"\n<style>#{m.get_name()} {{position: relative; width: 100%; height: 100%;}}"
        " .leaflet-container { font-size: 14px; }</style>"
    )
    return MapParts(head=head, body=root.html.render(), script=root.script.render(), map_id=m.get_name())


def finder_config(lang: str, *, gettext: Callable[[str], str], urls: dict, static_url: str,
                  minutes: float, k: int) -> dict:
    """What ``static/js/finder.js`` needs: API URLs, vocabularies with labels, UI strings.

    Parameters
    ----------
    lang : {"zh", "en"}
        Language of the vocabulary labels.
    gettext : callable
        Translates the UI strings into ``lang`` (Flask-Babel's ``gettext`` in
        the web app, a Babel catalogue's for a static site).
    urls : dict
        The URLs finder.js asks (``nearest``, ``stations``, ``boundaries``, ...).
    static_url : str
        Prefix of the icons' URLs: the static folder, ending in ``/``.
    minutes, k : float, int
        The reach circle's minutes and how many nearest stations to list.
    """
    _ = gettext
    return {
        "lang": lang,
        "urls": urls,
        "marker_query": {"status": "active", "fields": "kinds,services,open_now", "limit": str(MARKER_PAGE)},
        "k": k,
        "minutes": minutes,
        "mode": DEFAULT_MODE,
        "autolocate": True,
        "kinds": {kd: {"label": label(KIND_LABELS, kd, lang), "color": KIND_COLORS[kd],
                       "icon": static_url + kind_icon(kd)}
                  for kd in KIND_LABELS},
        "services": {s: {"label": label(SERVICE_LABELS, s, lang),
                         "icon": (static_url + icon) if (icon := service_icon(s)) else None}
                     for s in SERVICE_LABELS},
        "key_services": list(KEY_SERVICES),
        "modes": mode_labels(lang),
        "strings": {
            "locate_title": _("显示我的位置"),
            "my_position": _("我的位置"),
            "minutes": _("约 %(n)s 分钟"),
            "metres": _("%(n)s 米"),
            "kilometres": _("%(n)s 公里"),
            "open": _("营业中"),
            "closed": _("未营业"),
            "open_until": _("营业至 %(t)s"),
            "open_always": _("24 小时营业"),
            "opens_at": _("%(t)s 开门"),
            "opens_from": _("%(d)s起开放"),
            "tomorrow_at": _("明天 %(t)s"),
            "date_at": _("%(d)s %(t)s"),
            "hot_tea_season": _("（冬季热茶）"),
            "not_opening": _("暂停开放，恢复时间未定"),
            "closed_for_good": _("已关闭"),
            "within": _("%(m)s 分钟内可达"),
            "amap": _("高德"),
            "baidu": _("百度"),
            "apple": _("苹果地图"),
            "navigate": _("导航"),
            "details": _("详情"),
            "no_results": _("附近没有符合条件的站点。"),
            "pick_position": _("点击地图再点“设为我的位置”，或点定位按钮。"),
            "set_position": _("设为我的位置"),
            "position_unknown": _("您的位置未知"),
            "set_position_here": _("设置我的位置"),
            "set_position_help": _("在地图中心放一个“设为我的位置”按钮；也可点击地图任意处，或拖动蓝点"),
            "dist_straight": _("直线距离 %(d)s"),
            "dist_roads": _("路网距离 %(d)s"),
            "locating": _("正在定位……"),
            "locate_failed": _("无法获取您的位置：请点击地图，再点“设为我的位置”。"),
            "tiles_failed": _("底图无法加载（可能离线），仍可查看站点和区县边界。"),
            "loading": _("正在加载站点……"),
            "load_failed": _("站点数据加载失败，请稍后重试。"),
            "count": _("地图上共 %(n)s 个站点"),
            "reach": _("%(mode)s %(m)s 分钟范围"),
            "oneway_unknown": oneway_note(False, lang),
            "boundaries": _("区县边界"),
            "sample": _("示例"),
            "neighbour": _("邻区"),
            "neighbour_title": _("邻近区县的站点，在本区边界附近"),
            "pinyin": _("（拼音）"),
            "open_in_browser": _("在微信、QQ 等应用内，高德和百度打开网页版路线；"
                                 "要用苹果地图或地图 App 导航，请点右上角“···”，选择“在浏览器中打开”。"),
            "offline_estimate": _("离线估算"),
            "offline_status": _("离线：%(n)s 个站点，%(age)s前保存，直线距离按绕行系数估算时间。"),
            "offline_none": _("离线，且本机没有保存过附近的站点：联网后打开一次即可离线使用。"),
            "hours_unknown": _("开放时间：%(h)s"),
            "age_minutes": _("%(n)s 分钟"),
            "age_hours": _("%(n)s 小时"),
            "age_days": _("%(n)s 天"),

        },
    }
