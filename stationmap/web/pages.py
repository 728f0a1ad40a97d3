"""HTML pages: the courier finder (``/``), one station (``/station/<id>``), districts.

Views stay thin: the finder map is built by :mod:`stationmap.maps.finder`
(and cached per language); its stations come from the JSON API in the
browser.  Every page that shows sample data says so (``any_sample``).
"""

from __future__ import annotations

from datetime import datetime

from flask import Blueprint, render_template, request, url_for
from flask_babel import gettext as _

from stationmap.config import MODES
from stationmap.errors import NotFoundError
from stationmap.maps import KEY_SERVICES, KIND_COLORS, finder_map, kind_icon, primary_kind, render_parts, service_icon
from stationmap.maps.nav import nav_links
from stationmap.model import HOSTS, KINDS, SERVICES, STATUSES, TZ, parse_opening_hours
from stationmap.web import state
from stationmap.web.api import DEFAULT_K, any_sample, sorted_stations

bp = Blueprint("pages", __name__)

#: where the finder opens when there are no stations (Changzhou, WGS-84)
DEFAULT_CENTER = (119.974, 31.811)
#: stations per request when the finder loads its markers
MARKER_PAGE = 10_000


def _lang() -> str:
    from flask_babel import get_locale

    return "en" if str(get_locale() or "zh") == "en" else "zh"


def label(vocab: dict, key: str, lang: str) -> str:
    """The Chinese or English label of a vocabulary entry (kinds, services, statuses)."""
    zh, en = vocab.get(key, (key, key))
    return en if lang == "en" else zh


def mode_labels() -> dict:
    return {"walk": _("步行"), "bike": _("自行车"), "ebike": _("电动车"), "car": _("汽车")}


def _center() -> tuple[float, float]:
    """The median WGS-84 position of the stations (cached with them), else DEFAULT_CENTER."""
    st = state()
    stations = sorted_stations()
    key = id(stations)
    cached = st.extra.get("_center")
    if cached is None or cached[0] != key:
        if stations:
            lons = sorted(s.lon for s in stations)
            lats = sorted(s.lat for s in stations)
            center = (lons[len(lons) // 2], lats[len(lats) // 2])
        else:
            center = DEFAULT_CENTER
        cached = (key, center)
        st.extra["_center"] = cached
    return cached[1]


def finder_config(lang: str) -> dict:
    """What static/js/finder.js needs: API URLs, vocabularies with labels, UI strings."""
    settings = state().settings
    static = url_for("static", filename="")
    return {
        "lang": lang,
        "urls": {
            "nearest": url_for("api.nearest"),
            "reach": url_for("api.reach_area"),
            "stations": url_for("api.stations"),
            "station_api": url_for("api.stations") + "/",
            "station_page": url_for("pages.index") + "station/",
            "boundaries": url_for("api.boundaries", level="county"),
        },
        "marker_query": {"status": "active", "fields": "kinds,services,open_now", "limit": str(MARKER_PAGE)},
        "k": DEFAULT_K,
        "minutes": settings.minutes,
        "mode": "ebike",
        "autolocate": True,
        "kinds": {k: {"label": label(KINDS, k, lang), "color": KIND_COLORS[k], "icon": static + kind_icon(k)}
                  for k in KINDS},
        "services": {s: {"label": label(SERVICES, s, lang), "icon": (static + service_icon(s)) if service_icon(s) else None}
                     for s in SERVICES},
        "key_services": list(KEY_SERVICES),
        "modes": mode_labels(),
        "strings": {
            "locate_title": _("显示我的位置"),
            "my_position": _("我的位置"),
            "minutes": _("约 %(n)s 分钟"),
            "metres": _("%(n)s 米"),
            "kilometres": _("%(n)s 公里"),
            "open": _("营业中"),
            "closed": _("未营业"),
            "within": _("%(m)s 分钟内可达"),
            "amap": _("高德"),
            "baidu": _("百度"),
            "apple": _("苹果地图"),
            "navigate": _("导航"),
            "details": _("详情"),
            "no_results": _("附近没有符合条件的站点。"),
            "pick_position": _("点击地图或点定位按钮，设置我的位置。"),
            "locating": _("正在定位……"),
            "locate_failed": _("无法获取您的位置：请点击地图设置位置。"),
            "tiles_failed": _("底图无法加载（可能离线），仍可查看站点和区县边界。"),
            "loading": _("正在加载站点……"),
            "load_failed": _("站点数据加载失败，请稍后重试。"),
            "count": _("地图上共 %(n)s 个站点"),
            "reach": _("%(mode)s %(m)s 分钟范围"),
            "boundaries": _("区县边界"),
            "sample": _("示例"),
        },
    }


def _finder_parts(lang: str):
    st = state()
    key = (lang, st.settings.tianditu_key, url_for("static", filename=""), _center())
    cache = st.extra.setdefault("_finder_parts", {})
    parts = cache.get(key)
    if parts is None:
        m = finder_map(center_wgs84=_center(), zoom=13, lang=lang, tianditu_key=st.settings.tianditu_key,
                       config=finder_config(lang), static_url=url_for("static", filename="").rstrip("/"))
        parts = render_parts(m)
        if len(cache) > 16:
            cache.clear()
        cache[key] = parts
    return parts


@bp.get("/")
def index():
    """The courier finder: map, filters, the nearest stations."""
    lang = _lang()
    parts = _finder_parts(lang)
    kinds = [(k, label(KINDS, k, lang), KIND_COLORS[k]) for k in KINDS]
    services = [(s, label(SERVICES, s, lang), url_for("static", filename=service_icon(s))) for s in KEY_SERVICES]
    return render_template("finder.html", parts=parts, kinds=kinds, services=services,
                           modes=[(m, mode_labels()[m]) for m in MODES], default_mode="ebike",
                           any_sample=any_sample(), total=len(state().index))


def _hours_info(station, now: datetime) -> dict:
    """Open now, and the next change of state, for the station page."""
    info = {"open_now": station.open_at(now), "next_change": None, "always": False}
    hours = (station.opening_hours or "").strip()
    if station.status != "active":
        return info
    if not hours or hours == "24/7":
        info["always"] = True
        return info
    nxt = parse_opening_hours(hours).next_change(now.replace(tzinfo=None))
    if nxt is not None and (nxt - now.replace(tzinfo=None)).days < 366:
        info["next_change"] = nxt.strftime("%Y-%m-%d %H:%M")
    return info


@bp.get("/station/<path:station_id>", merge_slashes=False)
def station(station_id: str):
    """One station: details, hours, services, verified date, navigation links."""
    st = state().index.get(station_id)
    if st is None:
        raise NotFoundError(_("没有编号为 %(id)s 的站点", id=station_id), field="id")
    lang = _lang()
    mode = request.args.get("mode") if request.args.get("mode") in MODES else "walk"
    now = datetime.now(TZ)
    nav = nav_links(st.lon, st.lat, st.name, mode=mode)
    services = [(s, label(SERVICES, s, lang), url_for("static", filename=service_icon(s)) if service_icon(s) else None)
                for s in st.services]
    kinds = [(k, label(KINDS, k, lang), KIND_COLORS.get(k, "#666")) for k in st.kinds]
    return render_template(
        "station.html", st=st, kinds=kinds, services=services, status=label(STATUSES, st.status, lang),
        host=label(HOSTS, st.host, lang) if st.host else "",
        hours=_hours_info(st, now), nav=nav, any_sample=st.is_sample, lang_name=lang,
        primary_color=KIND_COLORS[primary_kind(st.kinds)],
        primary_icon=url_for("static", filename=kind_icon(primary_kind(st.kinds))),
    )


@bp.get("/districts")
def districts():
    """Districts and their station counts."""
    from stationmap.web.api import district_counts

    rows = district_counts()
    return render_template("districts.html", rows=rows, any_sample=any(r["sample"] for r in rows),
                           total=len(state().index))
