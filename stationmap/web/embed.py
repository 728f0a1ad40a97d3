"""Embeds: ``/embed/<adcode>`` for an ``<iframe>``, the ``/embed`` builder, and the static export.

The embed *is* the courier finder map with presets: the same folium builder
(:func:`stationmap.maps.finder.finder_map`), the same ``static/js/finder.js``
and the same configuration (:func:`stationmap.web.ui.finder_config`),
narrowed to one district and the presets of the URL
(:class:`stationmap.publish.EmbedPresets`), with minimal chrome around it.
``static/js/embed.js`` applies what finder.js has no option for (preset
filters on the nearest-station list, the district's list before a position
is chosen); finder.js fits the district (``cfg.embed.fit_bounds``).  A
district whose scope holds :data:`~stationmap.config.FINDER_TILES_FROM`
stations or more is drawn by tile (``cfg.tiles``: ``/api/v1/tiles`` with
``scope``), as the finder is.

The static export (``stationmap publish``) renders the same page with Jinja
directly and relative asset URLs (:func:`stationmap.publish.publish_district`;
:func:`export_district` runs it with this app's settings and stations);
``static/js/embed-static.js`` answers finder.js's API requests from
``stations.js`` (a global), and for a site of many stations from its
pre-cut tiles (``tiles/z/x/y.js``), so the page needs no server and works
from ``file://``.

Framing: an embed response carries CSP ``frame-ancestors`` with the
district's allowlist (:func:`stationmap.publish.frame_ancestors`); every
other response refuses framing (:func:`stationmap.web.auth.frame_headers`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, Flask, g, render_template, request, url_for
from flask_babel import force_locale
from flask_babel import gettext as _

from stationmap import publish
from stationmap.config import FINDER_TILES_FROM
from stationmap.web.state import district_counts, district_scope, districts, freshness, state
from stationmap.web.ui import finder_config, lang, tiles_config

if TYPE_CHECKING:
    from pathlib import Path

    from stationmap.districts import District
    from stationmap.maps.finder import MapParts
    from stationmap.publish import EmbedPresets

bp = Blueprint("embed", __name__)

#: default iframe size in the builder, CSS pixels
DEFAULT_SIZE = (640, 480)


def basemap_names() -> tuple[str, ...]:
    return publish.basemap_names(state().settings.tianditu_key)


def get_district(adcode: str) -> District:
    """The district record of ``adcode`` (400 if malformed, 404 if unknown)."""
    return districts().get(adcode)


def presets_from_request() -> EmbedPresets:
    return publish.parse_presets(request.args, basemaps=basemap_names(),
                                 default_lang=state().settings.default_lang)


def _view(district: District, presets: EmbedPresets) -> tuple:
    """Centre (WGS-84), zoom, and the bounds to fit (:func:`stationmap.publish.view`)."""
    return publish.view(district, presets, state().index.stations())


def embed_config(district: District, presets: EmbedPresets) -> dict:
    """finder.js's configuration for an embed: the finder's own, narrowed to the district; with many
    stations in its scope (:data:`~stationmap.config.FINDER_TILES_FROM`, as the finder) the map asks for
    the scope's tiles, what the screen shows, rather than every station (issue 16)."""
    cfg = finder_config(presets.lang)
    prefix = publish.district_prefix(district)
    cfg["urls"] = dict(cfg["urls"], boundaries=url_for("api.boundaries", level="county", district=prefix))
    _center, _zoom, fit = _view(district, presets)
    cfg = publish.embed_config(cfg, district, presets, fit=fit, static=False, gettext=_)
    scope = district_scope(district.adcode)[0]
    if len(scope.own) + len(scope.neighbours) >= FINDER_TILES_FROM:
        cfg["tiles"] = tiles_config(cfg["marker_query"])
    return cfg


def _map_parts(district: District, presets: EmbedPresets) -> MapParts:
    from stationmap.maps.finder import finder_map, render_parts

    center, zoom, _fit = _view(district, presets)
    m = finder_map(center_wgs84=center, zoom=zoom, lang=presets.lang, tianditu_key=state().settings.tianditu_key,
                   config=embed_config(district, presets), static_url=url_for("static", filename="").rstrip("/"),
                   basemap=presets.basemap or None)
    m.options["scroll_wheel_zoom"] = bool(presets.scroll_zoom)
    return render_parts(m)


def render_embed(district: District, presets: EmbedPresets, *, sample: bool = False) -> str:
    """The embed page's HTML (a published site's: :func:`stationmap.publish.render_static_page`)."""
    with force_locale(presets.lang):
        parts = _map_parts(district, presets)
        return render_template(
            "embed/embed.html", parts=parts, presets=presets, district=district, static=False,
            asset=lambda p: url_for("static", filename=p), name=publish.full_name(district), sample=sample,
            lang=presets.lang, full_url=url_for("pages.index", _external=True),
        )


@bp.get("/embed/<adcode>")
def embed(adcode: str) -> str:
    """A district's stations on a map with minimal chrome, for an ``<iframe>``."""
    district = get_district(adcode)
    g.frame_ancestors = publish.frame_ancestors(state().settings.embed_origins, district.adcode)
    presets = presets_from_request()  # a bad preset is a 400 the parent page may show
    prefix = publish.district_prefix(district)
    sample = any(s.is_sample for s in state().index.stations() if s.adcode.startswith(prefix))
    return render_embed(district, presets, sample=sample)


@bp.get("/embed")
def builder() -> str:
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


def export_district(adcode: str, out_dir: str | Path, *, presets: EmbedPresets | None = None) -> dict:
    """Write the static site of a district with this app's settings and stations (needs an app context).

    :func:`stationmap.publish.publish_district` does the work (no request, no
    Flask); returns ``{"stations": n, "files": [...], "out": path}``.
    """
    st = state()
    every = st.store.all()
    return publish.publish_district(adcode, out_dir, settings=st.settings, stations=every, presets=presets,
                                    freshness=freshness(every))


def init_app(app: Flask) -> None:
    """Register the embed blueprint; check the framing allowlist once."""
    publish.check_embed_origins(app.extensions["stationmap"].settings.embed_origins)
    app.register_blueprint(bp)
