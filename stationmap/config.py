"""Defaults and configuration: the settings, and the ONE table of limits, defaults,
modes and methods.

The library, the CLI, the API (and its OpenAPI document), the pages and the charts
read the limits and defaults below from here; :mod:`stationmap.checks` checks
arguments against them and :mod:`stationmap.labels` holds their zh/en labels.

Every setting has a default here and may be overridden by an environment
variable ``STATIONMAP_<NAME>`` (for example ``STATIONMAP_DATABASE_URL``) or,
in the web app, by ``create_app(test_config)`` / the instance config file.
The CLI and the app read the same settings through :func:`load`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from stationmap.errors import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parent
_CHECKOUT = PACKAGE_DIR.parent

#: Travel modes and their default speeds in km/h (straight-line estimates use
#: these with :data:`DETOUR_FACTOR`; road networks use per-class speeds).
MODES = ("walk", "bike", "ebike", "car")
DEFAULT_SPEEDS_KMH = {"walk": 4.8, "bike": 12.0, "ebike": 16.0, "car": 30.0}
#: The mode when none is asked for, everywhere (library, CLI, API, pages, nav links):
#: the stations serve couriers and delivery riders, who ride e-bikes.
DEFAULT_MODE = "ebike"

#: How travel minutes are found: ``auto`` (the road network where one covers the
#: point, else the circle estimate), ``network`` (roads only), ``circle`` (straight
#: line x :data:`DETOUR_FACTOR` / speed only).
METHODS = ("auto", "network", "circle")
DEFAULT_METHOD = "auto"

#: The travel-time budget when none is asked for (``Settings.minutes`` overrides it)
#: and the largest one anything accepts (library, CLI, API, coverage page).
DEFAULT_MINUTES = 15.0
MAX_MINUTES = 120.0

#: Stations along a route (``/api/v1/along``, ``stationmap along``): the detour a station may cost
#: when none is asked for, and the largest one anything accepts (minutes: time from the start to the
#: station and on to the destination, less the time of the direct way).
DEFAULT_MAX_DETOUR_MINUTES = 3.0
MAX_DETOUR_MINUTES = 60.0
#: the detours the finder's "顺路找驿站" offers to choose from (minutes; the default among them)
FINDER_DETOUR_CHOICES = (1.0, 3.0, 5.0, 10.0)

#: How many nearest stations an answer lists unless asked otherwise (``/api/v1/nearest``'s
#: ``k``; the finder's list, in the web app and on a published site).
DEFAULT_K = 5

#: The finder keeps the stations within this many metres of the last position on the device
#: (``/api/v1/offline``), to list them with no network (issue 19).
OFFLINE_RADIUS_M = 20_000.0
#: The most stations the library ranks or the index lists in one call (``--k`` of the CLI).
MAX_K = 1000
#: The most stations one API answer lists (``/api/v1/nearest``'s ``k``): a bound on a
#: request's work, below the library's :data:`MAX_K`.
API_MAX_K = 100

#: Pages of ``/api/v1/stations``: default and largest ``limit``, largest ``offset``.
DEFAULT_LIMIT = 1_000
MAX_LIMIT = 10_000
MAX_OFFSET = 1_000_000_000

#: Map tiles of stations (``/api/v1/tiles/{z}/{x}/{y}.geojson``, :mod:`stationmap.tiles`): the highest
#: zoom with clusters (above it the stations themselves), the cluster radius in pixels of a tile
#: of ``TILE_SIZE_PX`` (Leaflet's), the highest zoom asked, and how long a browser or CDN may
#: keep a tile before asking again (it then gets a 304 while the data and the minute are the same).
TILE_CLUSTER_MAX_ZOOM = 16
TILE_RADIUS_PX = 60.0
TILE_SIZE_PX = 256
TILE_MAX_ZOOM = 22
TILE_MAX_AGE_S = 0
#: the finder asks for tiles (clusters made by the server, what the screen shows) from this many
#: stations on; below it, it loads every station once and clusters them itself
FINDER_TILES_FROM = 5_000
#: a published site (``stationmap publish``) of FINDER_TILES_FROM stations or more is cut into tiles
#: (``tiles/{z}/{x}/{y}.js``) with clusters up to the zoom before this one and every station itself from
#: it on (a tile of ~2 km at 32°N: the list's nearest stations come from the few tiles around the position)
PUBLISH_STATIONS_ZOOM = 14
#: bytes of stations' feature text a worker keeps for the API's answers (stationmap.web.features):
#: beyond it the kept text is dropped and built again as asked (a worker browsing 200,000 stations
#: would otherwise keep growing past its start-up size)
FEATURE_TEXT_KEPT_BYTES = 64 * 2**20

#: Coverage grids: default cell size and the sizes the library accepts, metres.
DEFAULT_CELL_M = 250.0
MIN_CELL_M = 10.0
MAX_CELL_M = 50_000.0
#: What a web request may ask of a coverage run (the CLI has none of these limits):
#: cell sizes in metres, grid cells, suggested sites, listed gaps, and the smallest budget.
WEB_MIN_CELL_M = 100.0
WEB_MAX_CELL_M = 5_000.0
WEB_MAX_CELLS = 250_000
WEB_MAX_ADD = 50
WEB_MAX_GAPS = 1000
WEB_MIN_MINUTES = 1.0
#: The most sites :func:`stationmap.siting.suggest_sites` suggests in one run.
MAX_SITES = 1000
#: The largest ``capacity`` a station may state (people it serves at once: seats, beds); the
#: accessibility index (E2SFCA) takes a station without one as 1 (:data:`DEFAULT_CAPACITY`)
MAX_CAPACITY = 10_000
DEFAULT_CAPACITY = 1
#: How often (seconds) a running server looks whether networks were fetched or removed
#: (``stationmap network fetch`` / ``remove``): it then uses them without a restart
NETWORKS_RECHECK_S = 5.0
#: The most ranges one isochrone request asks at once (``/api/v1/reach?minutes=5,10,15``, ``reach --minutes``)
MAX_REACH_RANGES = 5
#: The most stations a what-if scenario adds, and the most it takes out (:mod:`stationmap.coverage.scenario`)
MAX_SCENARIO_STATIONS = 200
#: What :func:`stationmap.siting.suggest_sites` maximises (``--objective``, ``objective=``): demand
#: covered at least once, or at least twice (the 双15 cross-coverage)
SITING_OBJECTIVES = ("once", "twice")
#: Rows the import preview (``/admin/import``) lists per outcome (new, changed, unchanged,
#: problem); its counts are always whole, and the full problem list is a CSV download.
PREVIEW_MAX_ROWS = 200

#: Coverage over time (``stationmap coverage --profile``, the API's and the page's ``profile``):
#: ``week`` is the 168 hours, Monday 00:00 to Sunday 23:00, of the week holding ``at`` (default:
#: this week); ``year`` is the :data:`PROFILE_DAY` of each month of ``at``'s year at one hour of
#: the day (default :data:`DEFAULT_PROFILE_HOUR`).
PROFILES = ("week", "year")
PROFILE_DAY = 15
DEFAULT_PROFILE_HOUR = 12
#: The night of the night-coverage figures: the hours from 22:00 to 06:00 (those starting at
#: 22, 23, 0, ... 5), every night of the week.
NIGHT_FROM_HOUR = 22
NIGHT_TO_HOUR = 6
#: The months of the winter and summer coverage figures (means over them, from a year profile):
#: hot tea and heating in winter, cooling in summer.
WINTER_MONTHS = (12, 1, 2)
SUMMER_MONTHS = (6, 7, 8)
#: A moment asked about (``at``) must fall in these years: opening hours beyond them mean nothing.
AT_YEARS = (1900, 2200)

#: One device's identical check-in (same address, station and outcome) within this many minutes
#: is counted once (:func:`stationmap.reports.add_report`); the hash that recognises it is erased after.
REPORT_REPEAT_MINUTES = 10.0
#: A station not confirmed (an open_ok check-in, or the district's "still correct") within this
#: many days is stale: listed on its district's page (``Settings.stale_days``, STATIONMAP_STALE_DAYS).
STALE_DAYS = 180
#: The windows of the per-district freshness figures (``/api/v1/districts``), in days.
FRESHNESS_WINDOWS = (30, 90, 180)
#: The change feed (``/api/v1/changes``): its page size, default and most.
FEED_DEFAULT_LIMIT = 1000
FEED_MAX_LIMIT = 10_000
#: The open-data export (``stationmap export --open-data``): the licence of the station data and
#: the attribution it asks for.  CC BY 4.0: anyone (a map app, a city's portal, a researcher) may
#: reuse and combine the stations, commercially too, naming the source; no share-alike, which
#: would keep the stations out of the commercial maps couriers use.  (Data taken from
#: OpenStreetMap would have to stay ODbL; the stations are the unions' own records.)
OPEN_DATA_LICENCE = ("CC-BY-4.0", "Creative Commons Attribution 4.0 International",
                     "https://creativecommons.org/licenses/by/4.0/")
OPEN_DATA_ATTRIBUTION = ("工会驿站数据：各区县总工会，经 stationmap 发布",
                         "Station data: the district trade unions, published with stationmap")
#: The longest note a check-in may carry ("information wrong" needs one), in characters.
CHECKIN_NOTE_MAX_CHARS = 500

#: "A station is needed here" (:mod:`stationmap.station_requests`): the longest reason a pin may carry,
#: in characters, and how many pins one client address may drop (the page's form and the API together;
#: a limit of its own, beside the check-ins').
REQUEST_REASON_MAX_CHARS = 200
STATION_REQUEST_LIMIT = "3 per minute; 20 per day"

#: Posters at a station's door (``stationmap posters``, the admin pages' poster buttons): the paper
#: sizes, and where the CJK font is looked for when ``Settings.poster_font`` names none (Debian's
#: ``fonts-wqy-microhei``, which ``make system-deps`` installs, first; a ``.ttc`` collection's
#: first face).
POSTER_SIZES = ("a4", "a5")
POSTER_FONT_PATHS = (
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/wqy-microhei/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
)

#: Side of the square cells (metres) in which the finder looks for the densest area of stations to open
#: on when it does not know where the user is (:func:`stationmap.index.densest_area`): about what a phone
#: shows at the finder's opening zoom (13), so the cell it picks fills the first view.
OPENING_CELL_M = 3_000.0

#: Ratio of road distance to straight-line distance used by the circle
#: estimate.  Measured circuity of urban road networks is 1.2-1.4; 1.3 is the
#: usual planning value (Ballou et al. 2002; Boeing 2019 for Chinese cities).
DETOUR_FACTOR = 1.3

#: Car speed on road networks, km/h, per road class (OpenStreetMap ``highway``
#: values; ``*_link`` ramps count as their road).  These are effective urban
#: speeds with signals, junctions and traffic, well below the design speeds
#: of CJJ 37-2012 (expressway 60-100, arterial 40-60, collector 30-50, local
#: 20-40 km/h).  A class not listed here is closed to cars (footway, cycleway,
#: path, steps, pedestrian).  ``road`` is an unknown class.  Walk, bike and
#: e-bike use one speed each (``speeds_kmh``) on every road open to them;
#: bikes are pushed at walking speed on footways and pedestrian streets.
#:
#: ============== ====== ===================================
#: class          km/h   typical road in a Chinese city
#: ============== ====== ===================================
#: motorway       60     urban expressway (快速路), elevated
#: trunk          50     trunk road (城市主干道, 国道)
#: primary        40     arterial (主干路)
#: secondary      35     collector (次干路)
#: tertiary       30     local distributor (支路)
#: unclassified   25     minor road
#: residential    20     residential street (小区道路)
#: road           20     road of unknown class
#: service        15     service road, campus, car park
#: living_street  10     shared street
#: track          10     track
#: ============== ====== ===================================
DEFAULT_CAR_SPEEDS_KMH = {
    "motorway": 60.0, "trunk": 50.0, "primary": 40.0, "secondary": 35.0, "tertiary": 30.0,
    "unclassified": 25.0, "residential": 20.0, "road": 20.0, "service": 15.0,
    "living_street": 10.0, "track": 10.0,
}


def _default_root() -> Path:
    """The source checkout when running from one, else the working directory."""
    if (_CHECKOUT / "setup.cfg").exists() and (_CHECKOUT / "data").is_dir():
        return _CHECKOUT
    return Path.cwd()


@dataclass(frozen=True)
class Settings:
    """Resolved settings.  Build with :func:`load`; never mutate, use ``replace``."""

    instance_path: Path = field(default_factory=lambda: _default_root() / "instance")
    data_dir: Path = field(default_factory=lambda: _default_root() / "data")
    database_url: str = ""
    minutes: float = DEFAULT_MINUTES
    detour_factor: float = DETOUR_FACTOR
    speeds_kmh: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_SPEEDS_KMH))
    #: car speed per road class on road networks, km/h (:data:`DEFAULT_CAR_SPEEDS_KMH`)
    car_speeds_kmh: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_CAR_SPEEDS_KMH))
    #: road networks the app loads at start: {name: path to a compiled .npz}
    networks: dict[str, str] = field(default_factory=dict)
    #: farthest a query point may be from a road before the network refuses it
    max_snap_m: float = 500.0
    tianditu_key: str = ""
    secret_key: str = ""
    default_lang: str = "zh"
    #: Secure flag of the session cookie: "auto" (on, except when the app is in
    #: debug or testing mode, and `stationmap serve` on a loopback address sets
    #: it to "0" for plain http://127.0.0.1), "1" or "0"
    secure_cookies: str = "auto"
    #: parent origins allowed to frame the embeds, by adcode prefix ("*": every
    #: district): {"320404": ["https://example.org"]}; JSON in the environment
    embed_origins: dict[str, list[str]] = field(default_factory=dict)
    #: Flask-Limiter storage: "memory://" counts per worker process (so N workers
    #: allow N times the limits); "redis://host:6379" shares the counts
    ratelimit_storage_uri: str = "memory://"
    #: the web upload's limits (`stationmap import` has none): data rows, and megabytes of data
    #: once unpacked (an XLSX workbook is a zip); beyond them the page points to the CLI
    upload_max_rows: int = 200_000
    upload_max_mb: float = 100.0
    #: a signed-in session ends after this many minutes without a request (issue 22)
    session_idle_minutes: float = 30.0
    #: ... and this many hours after sign-in, whatever happens
    session_max_hours: float = 12.0
    #: reverse proxies whose X-Forwarded-For names the client: "" (none: the peer address is the
    #: client), a hop count ("1": werkzeug's ProxyFix) or proxy addresses ("10.0.0.5,10.0.0.6")
    trusted_proxies: str = ""
    #: the region index of OpenStreetMap extracts `stationmap network fetch` looks a district's
    #: province up in (Geofabrik's ``index-v1.json`` format: features with ``id``, ``name``,
    #: ``parent``, ``urls.pbf`` and a polygon)
    osm_index_url: str = "https://download.geofabrik.de/index-v1.json"
    #: the Overpass API `stationmap network fetch --source overpass` asks for a small area's roads
    overpass_url: str = "https://overpass-api.de/api/interpreter"
    #: a station not confirmed within this many days is stale (its district's page lists it)
    stale_days: int = STALE_DAYS
    #: the site's public address (``https://stations.example.org``), from which links that leave the
    #: site are made absolute: the QR code of a poster opens ``<public_url>/stations/<id>/reports``.
    #: Empty: the web app uses the address it was asked on; `stationmap posters` then needs ``--base-url``
    public_url: str = ""
    #: the CJK font (TrueType ``.ttf`` or collection ``.ttc``) of the posters; empty: the first of
    #: :data:`POSTER_FONT_PATHS` that exists
    poster_font: str = ""

    def __post_init__(self) -> None:
        if not self.database_url:
            url = "sqlite:///" + str(Path(self.instance_path) / "stationmap.sqlite")
            object.__setattr__(self, "database_url", url)

    @property
    def osm_cache_dir(self) -> Path:
        """Where `stationmap network fetch` keeps downloaded extracts (by URL) and the region index."""
        return Path(self.instance_path) / "osm"

    @property
    def networks_dir(self) -> Path:
        """Where `stationmap network fetch` writes the networks it builds, and their registry
        (``registry.json``: :mod:`stationmap.network.registry`)."""
        return Path(self.instance_path) / "networks"

    @property
    def boundaries_path(self) -> Path:
        """The district boundaries (GeoPackage) under ``data_dir``."""
        return Path(self.data_dir) / "boundaries" / "jiangsu_admin_wgs84.gpkg"

    @property
    def zone_outlines_path(self) -> Path:
        """Outlines of census zones without a polygon (GeoJSON) under ``data_dir``
        (:meth:`stationmap.districts.Districts.set_zone_outlines`)."""
        return Path(self.data_dir) / "boundaries" / "zone_outlines.geojson"

    @property
    def population_path(self) -> Path:
        """The census population table (CSV) under ``data_dir``."""
        return Path(self.data_dir) / "census" / "population.csv"

    def speed_kmh(self, mode: str) -> float:
        """The speed of ``mode`` in km/h; ConfigError (field ``mode``) for an unknown mode."""
        if mode not in self.speeds_kmh:
            raise ConfigError(f"mode must be one of {MODES}, got {mode!r}", field="mode")
        return float(self.speeds_kmh[mode])


#: setting -> how its environment variable's text becomes a value (str when not listed)
_CASTS: dict[str, Callable[[str], Any]] = {
    "instance_path": Path,
    "data_dir": Path,
    "minutes": float,
    "detour_factor": float,
    "max_snap_m": float,
    "upload_max_rows": int,
    "stale_days": int,
    "upload_max_mb": float,
    "speeds_kmh": json.loads,
    "car_speeds_kmh": json.loads,
    "networks": json.loads,
    "embed_origins": json.loads,
    "session_idle_minutes": float,
    "session_max_hours": float,
}


def load(overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
    """Settings from defaults, then ``STATIONMAP_*`` variables (of ``environ``, default
    ``os.environ``), then ``overrides``."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in fields(Settings):
        raw = environ.get("STATIONMAP_" + f.name.upper())
        if raw is None or raw == "":
            continue
        try:
            values[f.name] = _CASTS.get(f.name, str)(raw)
        except ValueError as exc:
            raise ConfigError(f"STATIONMAP_{f.name.upper()} is not valid: {exc}") from None
    if "speeds_kmh" in values:
        values["speeds_kmh"] = {**DEFAULT_SPEEDS_KMH, **values["speeds_kmh"]}
    if "car_speeds_kmh" in values:
        values["car_speeds_kmh"] = {**DEFAULT_CAR_SPEEDS_KMH, **values["car_speeds_kmh"]}
    for k, v in (overrides or {}).items():
        if k in {f.name for f in fields(Settings)}:
            values[k] = _CASTS.get(k, lambda x: x)(v) if isinstance(v, str) and k in _CASTS else v
    settings = Settings(**values)
    if "networks" not in values:
        default_net = Path(settings.data_dir) / "roads" / "sip.npz"
        nets = {"sip": str(default_net)} if default_net.exists() else {}
        settings = replace(settings, networks=nets)
    return settings
