"""HTML pages: the courier finder (``/``), one station (``/station/<id>``), districts.

Views stay thin: the finder map is built by :mod:`stationmap.maps.finder`
(and cached per language); its stations come from the JSON API in the
browser.  Every page that shows sample data says so (``any_sample``).
"""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import TYPE_CHECKING, cast

from flask import Blueprint, current_app, jsonify, render_template, request, send_from_directory, url_for
from flask_babel import gettext as _
from markupsafe import Markup

from stationmap import reports
from stationmap.config import DEFAULT_K, DEFAULT_MODE, FINDER_DETOUR_CHOICES, FINDER_TILES_FROM, MODES
from stationmap.errors import NotFoundError, StationmapError
from stationmap.hours import TZ, When, hours_words, when
from stationmap.labels import DATUM_LABELS, display_name, label, labels
from stationmap.maps import KEY_SERVICES, KIND_COLORS, finder_map, kind_icon, primary_kind, render_parts, service_icon
from stationmap.maps.finder import MapParts
from stationmap.maps.nav import client_of, in_app_browser, nav_links
from stationmap.model import HOSTS, KINDS, SERVICES, STATUSES, Station
from stationmap.web.http import user_agent
from stationmap.web.state import any_sample, district_counts, freshness, state
from stationmap.web.ui import along_config, center, finder_config, lang, mode_labels, read_point, tiles_config

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
            cfg["tiles"] = tiles_config(cfg["marker_query"])
        m = finder_map(center_wgs84=center(), zoom=13, lang=page_lang, tianditu_key=st.settings.tianditu_key,
                       config=cfg, static_url=url_for("static", filename="").rstrip("/"))
        parts = render_parts(m)
        if len(cache) > 16:
            cache.clear()
        cache[key] = parts
    return parts


def _first_nearest(page_lang: str) -> str | None:
    """The URL of the finder's first ``/api/v1/nearest`` question when the page's URL gives the
    position (``?lat=&lon=``), written as static/js/finder.js's ``query()`` writes it (the same
    parameters in the same order, no filter on, the default mode), for a ``<link rel=preload>``:
    on a slow connection the answer travels while the scripts do (benchmarks/bench_slow3g.py).
    None without a position."""
    try:
        lat, lon = float(request.args.get("lat", "")), float(request.args.get("lon", ""))
    except ValueError:
        return None
    if not (math.isfinite(lat) and math.isfinite(lon) and abs(lat) <= 90 and abs(lon) <= 180):
        return None
    minutes = state().settings.minutes
    js_minutes = str(int(minutes)) if float(minutes).is_integer() else repr(float(minutes))  # String(x) in JS
    return (f"{url_for('api.nearest')}?lat={lat:.6f}&lon={lon:.6f}&k={DEFAULT_K}&mode={DEFAULT_MODE}"
            f"&minutes={js_minutes}&lang={page_lang}&order=open_first")


def _metres_words(m: float) -> str:
    """A distance as the finder's list says it (static/js/finder.js, ``formatDistance``)."""
    if m < 1000:
        return _("%(n)s 米", n=int(m + 0.5))
    return _("%(n)s 公里", n=f"{m / 1000:.{1 if m < 10000 else 0}f}")


def _first_list(page_lang: str) -> dict | None:
    """The finder's first list, drawn by the server when the page's URL gives the position: on a
    slow connection the courier reads the nearest stations before the map's scripts arrive
    (benchmarks/bench_slow3g.py); finder.js then draws the list again from the same answer, which
    the page carries (``json``; ``query``: the question, as finder.js asks it).  The answer is the
    API's own (``/api/v1/nearest``, asked inside this request); None without a position or when
    the API refuses the question."""
    path = _first_nearest(page_lang)
    view = current_app.view_functions.get("api.nearest")
    if path is None or view is None:
        return None
    with current_app.test_request_context(path, headers={"User-Agent": user_agent()}):
        try:
            resp = cast("Response", view())   # (the API's views answer a Response)
        except StationmapError:
            return None
    if resp.status_code != 200:
        return None
    data = json.loads(resp.get_data())
    now = datetime.now(TZ)
    on_roads = data["reach"]["method"] == "network"
    items = []
    for f in data["features"]:
        p = f["properties"]
        w = When(p["open_now"], closes_at=datetime.fromisoformat(p["closes_at"]) if p.get("closes_at") else None,
                 opens_at=datetime.fromisoformat(p["opens_at"]) if p.get("opens_at") else None)
        dist = _metres_words(p["distance_m"])
        items.append({
            "id": f["id"], "name": p.get("display_name") or p["name"], "url": p["url"],
            "color": KIND_COLORS[primary_kind(tuple(p["kinds"]))], "open_now": p["open_now"],
            "within": p["within_minutes"], "sample": p.get("sample", False), "nav": p["nav"],
            "distance": _("路网距离 %(d)s", d=dist) if on_roads else _("直线距离 %(d)s", d=dist),
            "minutes": _("约 %(n)s 分钟", n=max(1, int(p["minutes"] + 0.5))),
            "when": when_words(w, now, page_lang=page_lang, kinds=tuple(p["kinds"]), status=p["status"]),
        })
    # (a data block ends at the first "</script": every "<" written as its JSON escape)
    text = json.dumps(data, ensure_ascii=False).replace("<", "\\u003c")
    return {"stations": items, "json": Markup(text), "query": path.split("?", 1)[1],
            "apps": [("amap", _("高德")), ("baidu", _("百度")), ("apple", _("苹果地图"))]}


@bp.get("/")
def index() -> str:
    """The courier finder: map, filters, the nearest stations."""
    page_lang = lang()
    parts = _finder_parts(page_lang)
    kinds = [(k, label(KINDS, k, page_lang), KIND_COLORS[k]) for k in KINDS]
    services = [(s, label(SERVICES, s, page_lang), url_for("static", filename=service_icon(s)))
                for s in KEY_SERVICES]
    along = along_config()
    return render_template("finder.html", parts=parts, kinds=kinds, services=services,
                           modes=[(m, mode_labels()[m]) for m in MODES], default_mode=DEFAULT_MODE,
                           any_sample=any_sample(), total=len(state().index), along=along,
                           datums=labels(DATUM_LABELS, page_lang), detours=FINDER_DETOUR_CHOICES,
                           first=_first_list(page_lang))


@bp.get("/point")
def point() -> tuple[Response, int]:
    """The finder's destination picker ("顺路找驿站"): typed coordinates in any datum or an Amap /
    Baidu share link, read as the station form's picker reads them (:func:`stationmap.web.ui.read_point`;
    public: it reads no stored data)."""
    body, status = read_point(request.args.get("text", ""), request.args.get("datum") or "wgs84")
    return jsonify(body), status


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
    ua = user_agent()
    nav = nav_links(st.lon, st.lat, st.name, mode=mode, client=client_of(ua))
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
        hours=_hours_info(st, now, page_lang), nav=nav, in_app=in_app_browser(ua) is not None,
        any_sample=st.is_sample, lang_name=page_lang,
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


@bp.get("/sw.js")
def service_worker() -> Response:
    """The service worker (``static/js/sw.js``) from the site's root, so that its scope (``/``)
    covers the finder and the station pages; revalidated on every visit (``no-cache``), as
    browsers do for workers anyway, so that a new release's worker is found at once."""
    resp = send_from_directory(str(current_app.static_folder), "js/sw.js", mimetype="text/javascript", max_age=0)
    resp.cache_control.no_cache = True
    return resp


@bp.get("/manifest.webmanifest")
def manifest() -> Response:
    """The web app manifest: the finder installs as an app (its name in Chinese first, then in the
    page's language), opening on the finder, with the house icon (``static/icons/app-*.png``,
    drawn from ``favicon.svg`` by ``tests/support/app_icons.py``)."""
    page_lang = lang()
    name_zh = "工会驿站地图"
    name = name_zh if page_lang == "zh" else f"{name_zh} · {_('工会驿站地图')}"
    icon = lambda size: {"src": url_for("static", filename=f"icons/app-{size}.png"),  # noqa: E731
                         "sizes": f"{size}x{size}", "type": "image/png", "purpose": "any"}
    body = {
        "name": name,
        "short_name": "工会驿站",
        "description": _("附近的工会驿站、热茶点和法律援助点；离线也能查看上次看过的区域。"),
        "lang": "zh-CN" if page_lang == "zh" else "en",
        "start_url": url_for("pages.index"),
        "scope": url_for("pages.index"),
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": "#c8102e",
        "icons": [icon(192), icon(512),
                  {"src": url_for("static", filename="icons/favicon.svg"), "sizes": "any", "type": "image/svg+xml"}],
    }
    resp = current_app.response_class(json.dumps(body, ensure_ascii=False), mimetype="application/manifest+json")
    resp.vary.add("Cookie")
    return resp


@bp.get("/districts")
def districts() -> str:
    """Districts and their station counts, and the open-data download."""
    from stationmap.config import OPEN_DATA_LICENCE

    rows = district_counts()
    return render_template("districts.html", rows=rows, any_sample=any(r["sample"] for r in rows),
                           total=len(state().index), licence=OPEN_DATA_LICENCE)


@bp.get("/open-data.zip")
def open_data() -> Response:
    """The public dataset as ``stationmap export --open-data`` writes it (every station not closed, CSV
    and GeoJSON in WGS-84, the data dictionary, licence, attribution, metadata and README), zipped:
    made once per data revision, last check-in and day (the last-confirmed column counts days)."""
    import io
    import tempfile
    import zipfile
    from pathlib import Path

    from flask import send_file

    from stationmap.io.opendata import write_open_data

    st = state()
    key = (st.store.revision(), reports.last_activity(st.store), reports.today_shanghai())
    if st.open_data_zip is None or st.open_data_zip[0] != key:
        with tempfile.TemporaryDirectory() as tmp:
            done = write_open_data(st.store, Path(tmp) / "open-data")
            folder = "stationmap-open-data" + ("-SAMPLE" if done.sample else "")
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
                for name in done.files:
                    z.write(done.folder / name, f"{folder}/{name}")
        st.open_data_zip = (key, buf.getvalue(), f"{folder}.zip")
    _key, data, name = st.open_data_zip
    response = send_file(io.BytesIO(data), mimetype="application/zip", as_attachment=True, download_name=name)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response
