"""HTML pages: the courier finder (``/``), one station (``/station/<id>``), districts.

Views stay thin: the finder map is built by :mod:`stationmap.maps.finder`
(and cached per language); its stations come from the JSON API in the
browser.  Every page that shows sample data says so (``any_sample``).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from flask import Blueprint, current_app, render_template, request, send_from_directory, url_for
from flask_babel import gettext as _

from stationmap import reports
from stationmap.config import DEFAULT_MODE, FINDER_TILES_FROM, MODES, TILE_MAX_ZOOM
from stationmap.errors import NotFoundError
from stationmap.hours import TZ, When, hours_words, when
from stationmap.labels import display_name, label
from stationmap.maps import KEY_SERVICES, KIND_COLORS, finder_map, kind_icon, primary_kind, render_parts, service_icon
from stationmap.maps.finder import MapParts
from stationmap.maps.nav import nav_links
from stationmap.model import HOSTS, KINDS, SERVICES, STATUSES, Station
from stationmap.web.state import any_sample, district_counts, freshness, state
from stationmap.web.ui import center, finder_config, lang, mode_labels

if TYPE_CHECKING:
    from flask import Response

bp = Blueprint("pages", __name__)


def _finder_parts(page_lang: str) -> MapParts:
    st = state()
    tiled = len(st.index) >= FINDER_TILES_FROM
    key = (page_lang, st.settings.tianditu_key, url_for("static", filename=""), center(), tiled)
    cache = st.finder_parts
    parts = cache.get(key)
    if parts is None:
        cfg = finder_config(page_lang)
        if tiled:   # many stations: the finder asks for what the screen shows, by tile (issue 16)
            cfg["tiles"] = {"url": url_for("tiles.tile", z=0, x=0, y=0).rsplit("/0/0/0.geojson", 1)[0] + "/",
                            "query": {k: v for k, v in cfg["marker_query"].items() if k != "limit"},
                            "max_zoom": TILE_MAX_ZOOM}
        m = finder_map(center_wgs84=center(), zoom=13, lang=page_lang, tianditu_key=st.settings.tianditu_key,
                       config=cfg, static_url=url_for("static", filename="").rstrip("/"))
        parts = render_parts(m)
        if len(cache) > 16:
            cache.clear()
        cache[key] = parts
    return parts


@bp.get("/")
def index() -> str:
    """The courier finder: map, filters, the nearest stations."""
    page_lang = lang()
    parts = _finder_parts(page_lang)
    kinds = [(k, label(KINDS, k, page_lang), KIND_COLORS[k]) for k in KINDS]
    services = [(s, label(SERVICES, s, page_lang), url_for("static", filename=service_icon(s)))
                for s in KEY_SERVICES]
    return render_template("finder.html", parts=parts, kinds=kinds, services=services,
                           modes=[(m, mode_labels()[m]) for m in MODES], default_mode=DEFAULT_MODE,
                           any_sample=any_sample(), total=len(state().index))


_MONTHS_EN = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
              "October", "November", "December")


def _day_words(dt: datetime, page_lang: str) -> str:
    return f"{dt.day} {_MONTHS_EN[dt.month - 1]}" if page_lang == "en" else f"{dt.month}月{dt.day}日"


def when_words(w: When, now: datetime, *, page_lang: str, kinds: tuple = (), status: str = "active") -> str:
    """A station's :class:`~stationmap.hours.When` in words, as the finder's list says it
    (``static/js/finder.js``, ``whenWords``: the same strings): 营业至 20:00, 明天 08:00 开门,
    11月1日起开放（冬季热茶）."""
    def at(t: datetime) -> str:
        days = (t.date() - now.date()).days
        hm = t.strftime("%H:%M")
        if days <= 0:
            return hm
        if days == 1:
            return _("明天 %(t)s", t=hm)
        return _("%(d)s %(t)s", d=_day_words(t, page_lang), t=hm)

    if w.open_now:
        return _("营业至 %(t)s", t=at(w.closes_at)) if w.closes_at else _("24 小时营业")
    if w.opens_at is None:
        return _("已关闭") if status == "closed" else _("暂停开放，恢复时间未定")
    if (w.opens_at.date() - now.date()).days > 6:
        season = _("（冬季热茶）") if "hot_tea" in kinds and status == "active" else ""
        return _("%(d)s起开放", d=_day_words(w.opens_at, page_lang)) + season
    return _("%(t)s 开门", t=at(w.opens_at))


def _hours_info(station: Station, now: datetime, page_lang: str) -> dict:
    """The hours in words (:func:`~stationmap.hours.hours_words`, the raw OSM text beside them),
    open now and when that changes, in words, for the station page; each service's own hours."""
    w = when(station, now)
    own = [(label(SERVICES, s, page_lang), h, hours_words(h, page_lang),
            when_words(when(station, now, [s]), now, page_lang=page_lang, kinds=station.kinds,
                       status=station.status))
           for s, h in station.service_hours]
    raw = (station.opening_hours or "").strip() or "24/7"
    return {"open_now": w.open_now, "raw": raw, "text": hours_words(raw, page_lang),
            "words": when_words(w, now, page_lang=page_lang, kinds=station.kinds, status=station.status),
            "services": own}


@bp.get("/station/<path:station_id>", merge_slashes=False)
def station(station_id: str) -> str:
    """One station: details, hours, services, its last confirmation and open problems, navigation links."""
    st = state().index.get(station_id)
    if st is None:
        raise NotFoundError(_("没有编号为 %(id)s 的站点", id=station_id), field="id")
    page_lang = lang()
    asked = request.args.get("mode")
    mode = asked if asked in MODES else DEFAULT_MODE
    now = datetime.now(TZ)
    nav = nav_links(st.lon, st.lat, st.name, mode=mode)
    services = [(s, label(SERVICES, s, page_lang),
                 url_for("static", filename=service_icon(s)) if service_icon(s) else None)
                for s in st.services]
    kinds = [(k, label(KINDS, k, page_lang), KIND_COLORS.get(k, "#666")) for k in st.kinds]
    shown_name, name_source = display_name(st, page_lang)
    fresh = freshness([st])[st.id]
    today = reports.today_shanghai()
    return render_template(
        "station.html", st=st, shown_name=shown_name, name_source=name_source, kinds=kinds, services=services,
        status=label(STATUSES, st.status, page_lang),
        host=label(HOSTS, st.host, page_lang) if st.host else "",
        hours=_hours_info(st, now, page_lang), nav=nav, any_sample=st.is_sample, lang_name=page_lang,
        primary_color=KIND_COLORS[primary_kind(st.kinds)],
        primary_icon=url_for("static", filename=kind_icon(primary_kind(st.kinds))),
        freshness=fresh.words(page_lang, today), problems=fresh.problem_words(page_lang),
        stale=fresh.on is None or (fresh.age_days(today) or 0) > state().settings.stale_days,
    )


@bp.get("/favicon.ico")
def favicon() -> Response:
    """The site's icon where browsers look for it first.

    ``static/favicon.ico`` is ``static/icons/favicon.svg`` (the rest-station house on the header's
    red) drawn at 16, 32 and 48 px with Pillow; pages link both (base.html).
    """
    return send_from_directory(str(current_app.static_folder), "favicon.ico", mimetype="image/vnd.microsoft.icon",
                               max_age=7 * 24 * 3600)


@bp.get("/districts")
def districts() -> str:
    """Districts and their station counts."""
    rows = district_counts()
    return render_template("districts.html", rows=rows, any_sample=any(r["sample"] for r in rows),
                           total=len(state().index))
