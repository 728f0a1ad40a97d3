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
from stationmap.maps.finder import DEFAULT_CENTER
from stationmap.maps.finder import finder_config as _finder_config
from stationmap.maps.finder import mode_labels as _mode_labels
from stationmap.maps.nav import nav_links
from stationmap.model import HOSTS, KINDS, SERVICES, STATUSES, TZ, parse_opening_hours
from stationmap.web import state
from stationmap.web.api import DEFAULT_K, any_sample, sorted_stations

bp = Blueprint("pages", __name__)



def _lang() -> str:
    from flask_babel import get_locale

    return "en" if str(get_locale() or "zh") == "en" else "zh"


def label(vocab: dict, key: str, lang: str) -> str:
    """The Chinese or English label of a vocabulary entry (kinds, services, statuses)."""
    zh, en = vocab.get(key, (key, key))
    return en if lang == "en" else zh


def mode_labels() -> dict:
    return _mode_labels(_)


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
    """What static/js/finder.js needs (:func:`stationmap.maps.finder.finder_config`), with this app's URLs."""
    return _finder_config(lang, gettext=_, urls={
        "nearest": url_for("api.nearest"),
        "reach": url_for("api.reach_area"),
        "stations": url_for("api.stations"),
        "station_api": url_for("api.stations") + "/",
        "station_page": url_for("pages.index") + "station/",
        "boundaries": url_for("api.boundaries", level="county"),
    }, static_url=url_for("static", filename=""), minutes=state().settings.minutes, k=DEFAULT_K)


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
