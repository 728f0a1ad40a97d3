"""What the HTML pages share: the page language, vocabulary labels, the finder's
configuration and where it opens, the signed-in user, safe redirect targets.

Blueprints (pages, embed, coverage, admin, auth) read these; none of them imports
another blueprint's helpers.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_login import current_user

from stationmap import labels
from stationmap.accounts import PermissionDenied, User
from stationmap.config import DEFAULT_K, DEFAULT_MAX_DETOUR_MINUTES, FINDER_DETOUR_CHOICES, TILE_MAX_ZOOM
from stationmap.coords import CHINA_LAT, CHINA_LON, DATUMS, PointText, from_wgs84, parse_point_text
from stationmap.errors import StationmapError, ValidationError
from stationmap.index import densest_area
from stationmap.maps import finder
from stationmap.maps.finder import DEFAULT_CENTER
from stationmap.publish import tiles_query
from stationmap.web.state import districts, sorted_stations, state


def lang() -> str:
    """The page's language: ``"en"`` or ``"zh"``."""
    return "en" if str(get_locale() or "zh") == "en" else "zh"


def mode_labels() -> dict:
    """The travel modes' labels in the page's language (:data:`stationmap.labels.MODE_LABELS`)."""
    return labels.mode_labels(lang())


def center() -> tuple[float, float]:
    """Where the finder opens before it knows where the user is: the middle of the densest area of
    stations (:func:`stationmap.index.densest_area`; cached with them), else DEFAULT_CENTER."""
    st = state()
    stations = sorted_stations()
    key = id(stations)
    cached = st.center
    if cached is None or cached[0] != key:
        middle = densest_area([s.lon for s in stations], [s.lat for s in stations]) or DEFAULT_CENTER
        cached = st.center = (key, middle)
    return cached[1]


def finder_config(lang: str) -> dict:
    """What static/js/finder.js needs (:func:`stationmap.maps.finder.finder_config`), with this app's URLs."""
    return finder.finder_config(lang, gettext=_, urls={
        "nearest": url_for("api.nearest"),
        "reach": url_for("api.reach_area"),
        "stations": url_for("api.stations"),
        "station_api": url_for("api.stations") + "/",
        "station_page": url_for("pages.index") + "station/",
        "boundaries": url_for("api.boundaries", level="county"),
        "offline": url_for("api.offline_area"),
    }, static_url=url_for("static", filename=""), minutes=state().settings.minutes, k=DEFAULT_K)


def tiles_config(marker_query: dict) -> dict:
    """finder.js's ``cfg.tiles`` (many stations, :data:`~stationmap.config.FINDER_TILES_FROM`: the map asks
    ``/api/v1/tiles`` for what the screen shows): the tiles' URL, the marker layer's query for them (its
    kinds and services are the page's filters, which finder.js adds), the highest zoom asked."""
    return {"url": url_for("tiles.tile", z=0, x=0, y=0).rsplit("/0/0/0.geojson", 1)[0] + "/",
            "query": tiles_query(marker_query),
            "max_zoom": TILE_MAX_ZOOM}


def along_config() -> dict:
    """What static/js/finder-along.js ("顺路找驿站 / stations on my way") needs: URLs, how many stations
    to list, the detours to choose from, and its words in the page's language (the form itself is in
    templates/finder.html)."""
    return {
        "urls": {"along": url_for("api.along"), "point": url_for("pages.point")},
        "k": DEFAULT_K,
        "max_detour": DEFAULT_MAX_DETOUR_MINUTES,
        "detours": list(FINDER_DETOUR_CHOICES),
        "strings": {
            "help": _("在地图上点目的地，再点“设为目的地”；"
                      "或输入目的地的坐标（任意坐标系，也可粘贴高德、百度的位置分享链接）。"),
            "set_destination": _("设为目的地"),
            "destination": _("目的地"),
            "need_position": _("先设置我的位置（起点），再找顺路的站点。"),
            "searching": _("正在查找顺路的站点……"),
            "failed": _("查找顺路站点失败，请稍后重试。"),
            "reading": _("正在读取坐标……"),
            "route": _("%(mode)s直达目的地约 %(m)s 分钟（%(how)s）"),
            "on_roads": _("按路网计算"),
            "straight": _("按直线距离估算"),
            "none": _("绕路 %(n)s 分钟以内没有符合条件的站点。"),
            "detour": _("绕路约 %(n)s 分钟"),
            "no_detour": _("几乎不用绕路"),
            "reach": _("约 %(n)s 分钟到达"),
        },
    }


def signed_in_user() -> User | None:
    """The signed-in :class:`~stationmap.accounts.User`, or None."""
    if current_user and current_user.is_authenticated:
        return current_user.user
    return None


def district_name(adcode: str) -> str:
    """``"常州市 钟楼区"`` for an adcode, or the adcode itself when unknown."""
    if not adcode:
        return ""
    d = districts()
    if adcode in d:
        rec = d.get(adcode)
        return f"{rec.city} {rec.name}" if rec.city and rec.city != rec.name else rec.name
    return adcode


def scope_names(user: User) -> str:
    """The districts an editor may edit, by name, as a list in the page's language
    (``常州市``: scope ``3204``; ``常州市 钟楼区``: ``320404``); ``-`` for none."""
    names = []
    for prefix in user.scopes:
        code = prefix.ljust(6, "0")
        name = district_name(code)
        names.append(name if name != code else prefix)
    return labels.LIST_SEPARATORS[lang()].join(names) or "-"


def error_text(exc: StationmapError, in_lang: str | None = None) -> str:
    """What an error page says of ``exc`` in the page's language (or ``in_lang``: the API's, under
    ``force_locale(in_lang)``).

    The library's messages are English (the CLI's and the API's); a refusal of the user's role or
    districts (:class:`~stationmap.accounts.PermissionDenied`) is said from what it carries.
    """
    if isinstance(exc, PermissionDenied):
        if exc.field == "role":
            return _("只有管理员可以打开此页面或进行此操作。")
        if exc.adcode is not None:
            user = signed_in_user()
            if not exc.adcode:
                return _("您的账号不能编辑没有区县的站点。")
            return _("您的账号不能编辑%(district)s（%(code)s）的站点；您可以编辑：%(scopes)s。",
                     district=district_name(exc.adcode), code=exc.adcode,
                     scopes=scope_names(user) if user else "-")
    return labels.say(exc.message, in_lang or lang())


def size_text(n: int | None) -> str:
    """A size limit in bytes as people read it: ``64 MB``, ``195 KB``."""
    if n is None:
        return "-"
    if n >= 1 << 20:
        return f"{n / (1 << 20):.3g} MB"
    return f"{max(1, round(n / 1024))} KB"


def error_title(status: int) -> str:
    """What an error page's status means, in the page's language (its title and heading)."""
    titles = {
        400: _("请求有误"), 401: _("需要登录"), 403: _("没有权限"), 404: _("未找到"), 405: _("不支持的请求方式"),
        409: _("内容冲突"), 413: _("内容过大"), 429: _("请求太频繁"), 500: _("服务器出错"),
    }
    return titles.get(status) or (_("请求有误") if 400 <= status < 500 else _("服务器出错"))


def error_message(status: int) -> str:
    """The sentence of an error page whose error carries none in the page's language (werkzeug's
    own pages are English)."""
    messages = {
        400: _("请求的内容有误，请检查后重试。"), 401: _("请先登录。"), 403: _("您的账号没有权限进行此操作。"),
        404: _("找不到您要访问的页面。请检查地址，或回到首页查找站点。"),
        405: _("此地址不接受这种请求方式。"),
        413: _("发送的内容超过了允许的大小（最大 %(limit)s）。", limit=size_text(request.max_content_length)),
        429: _("请求太频繁，请稍后再试。"),
    }
    return messages.get(status) or (_("请求没有完成，请检查后重试。") if 400 <= status < 500
                                    else _("服务器出错了，请稍后再试。"))


def point_problem(exc: ValidationError) -> str:
    """What a picker says of text it could not read as a point, in the page's language."""
    reason = getattr(exc, "reason", "datum")
    return {
        "empty": _("请输入或粘贴坐标，或高德、百度地图的位置分享链接。"),
        "no_numbers": _("没有找到两个数字（经度和纬度）。"),
        "outside_china": _("这不是中国境内的位置（经度 %(lon)s，纬度 %(lat)s）。",
                           lon="{:g}–{:g}".format(*CHINA_LON), lat="{:g}–{:g}".format(*CHINA_LAT)),
        "short_link": _("短链接要联网才能打开：请在浏览器中打开它，再复制完整的链接或坐标。"),
        "mercator": _("链接给出的是百度墨卡托坐标（bd09mc），不是经纬度：请复制经纬度的链接或坐标。"),
        "link_without_point": _("这个链接里没有位置：请粘贴高德或百度地图的位置分享链接，或直接输入坐标。"),
        "too_long": _("内容太长。"),
    }.get(reason, _("请选择坐标系：WGS-84、GCJ-02 或 BD-09。"))


def point_words(p: PointText) -> str:
    """``理解为 WGS-84 31.3020510, 120.6956895（高德分享链接：GCJ-02 经度在前 120.7, 31.3）``: what a
    picker understood, said before it is used."""
    source = {"amap": _("高德分享链接"), "baidu": _("百度分享链接"), "text": _("输入的坐标")}[p.source]
    order = _("纬度在前") if p.order == "latlon" else _("经度在前")
    first, second = (p.given[1], p.given[0]) if p.order == "latlon" else p.given
    return _("理解为 WGS-84 纬度 %(lat)s，经度 %(lon)s（%(source)s：%(datum)s，%(order)s %(given)s）",
             lat=f"{p.lat:.7f}", lon=f"{p.lon:.7f}", source=source,
             datum=labels.label(labels.DATUM_LABELS, p.datum, lang()), order=order, given=f"{first:g}, {second:g}")


def read_point(text: str, datum: str) -> tuple[dict, int]:
    """Typed or pasted coordinates or an Amap / Baidu share link, read by
    :func:`stationmap.coords.parse_point_text` for a picker (the station form's, the finder's
    destination): ``(JSON body, status)``, the point in WGS-84 and in every datum (to draw it over any
    base map), what was understood and, in words, how; or a 400 saying what is wrong."""
    try:
        p = parse_point_text(text, datum)
    except ValidationError as exc:
        return {"error": {"code": exc.code, "message": point_problem(exc), "field": exc.field}}, 400
    return {"lon": round(p.lon, 7), "lat": round(p.lat, 7), "datum": p.datum, "source": p.source,
            "order": p.order, "given": list(p.given), "words": point_words(p),
            "points": {d: [round(v, 7) for v in from_wgs84(p.lon, p.lat, d)] for d in DATUMS}}, 200


def safe_next(target: str | None) -> str | None:
    """``target`` if it is a path on this site (no open redirects), else None."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target
