"""What the HTML pages share: the page language, vocabulary labels, the finder's
configuration and where it opens, the signed-in user, safe redirect targets.

Blueprints (pages, embed, coverage, admin, auth) read these; none of them imports
another blueprint's helpers.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from stationmap.accounts import User
from stationmap.maps import KEY_SERVICES, KIND_COLORS, kind_icon, service_icon
from stationmap.model import KINDS, SERVICES
from stationmap.web.params import DEFAULT_K
from stationmap.web.state import sorted_stations, state

#: where the finder opens when there are no stations (Changzhou, WGS-84)
DEFAULT_CENTER = (119.974, 31.811)
#: stations per request when the finder loads its markers
MARKER_PAGE = 10_000


def lang() -> str:
    """The page's language: ``"en"`` or ``"zh"``."""
    return "en" if str(get_locale() or "zh") == "en" else "zh"


def label(vocab: dict, key: str, lang: str) -> str:
    """The Chinese or English label of a vocabulary entry (kinds, services, statuses)."""
    zh, en = vocab.get(key, (key, key))
    return en if lang == "en" else zh


def mode_labels() -> dict:
    """The travel modes' labels in the page's language."""
    return {"walk": _("步行"), "bike": _("自行车"), "ebike": _("电动车"), "car": _("汽车")}


def center() -> tuple[float, float]:
    """The median WGS-84 position of the stations (cached with them), else DEFAULT_CENTER."""
    st = state()
    stations = sorted_stations()
    key = id(stations)
    cached = st.center
    if cached is None or cached[0] != key:
        if stations:
            lons = sorted(s.lon for s in stations)
            lats = sorted(s.lat for s in stations)
            middle = (lons[len(lons) // 2], lats[len(lats) // 2])
        else:
            middle = DEFAULT_CENTER
        cached = st.center = (key, middle)
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


def signed_in_user() -> User | None:
    """The signed-in :class:`~stationmap.accounts.User`, or None."""
    if current_user and current_user.is_authenticated:
        return current_user.user
    return None


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site (no open redirects), else None."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target
