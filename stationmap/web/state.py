"""The app's state (:class:`AppState`, in ``app.extensions["stationmap"]``) and what is derived from it.

One typed field per thing the app keeps: the settings, the store, the station
index, the road networks, an optional plug-in ranking, the districts, the
OpenAPI paths other blueprints register, and the caches of what is derived from
the stations.  The derived data (stations in id order, whether any is sample
data, per-district counts, simplified district boundaries) is built here,
cached until the index changes (its key: the index object, its revision and
size), and shared by every blueprint.

The web layer's caches and their bounds:

=========================  ==============================  ==============================================
cache                      where                           kept until / bound
=========================  ==============================  ==============================================
sorted_stations,           AppState (per app)              the index changes (one entry)
any_sample, district_
counts, center
boundaries                 AppState, and                   the boundary file changes (one per level)
                           ``<instance>/cache/``
boundary_bodies            AppState                        64 bodies, oldest dropped (:func:`evict`)
stations_bodies            AppState                        8 bodies, oldest dropped; keyed by the minute
scopes                     AppState                        16 districts' scopes, oldest dropped; per index
clusters                   AppState                        the index changes (one; an edit that moves no
                                                           station keeps its tree: ClusterIndex.with_stations)
tile_bodies                AppState                        4096 bodies (and their gzip), oldest dropped;
                                                           keyed by index and minute
finder_parts               AppState                        16 maps (per language and centre), then cleared
freshness                  AppState                        the database's next commit (any: a check-in
                                                           too; :meth:`AppState.sync`); one per station
freshness_members          AppState                        that, or the next day; one JSON text per station
coverage_runs /            AppState                        6 runs / maps, least recently used dropped
coverage_parts
networks                   module (per process)            4 sets of networks, oldest dropped
feature parts              :mod:`~stationmap.web.features`  per Station object; cleared past FEATURE_TEXT_KEPT_BYTES
gzip of static files and   :mod:`~stationmap.web.http`     256 / 16 bodies, oldest dropped
cached bodies
=========================  ==============================  ==============================================
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson
from flask import current_app

from stationmap import config as _config
from stationmap import reports
from stationmap.districts import BOUNDARY_DECIMALS, BOUNDARY_TOLERANCE_DEG, simplified_boundaries
from stationmap.errors import NotFoundError, ValidationError
from stationmap.index import StationIndex
from stationmap.instance import private_dir, write_private
from stationmap.model import KINDS, Station
from stationmap.store import StationStore
from stationmap.tiles import ClusterIndex
from stationmap.web.http import PID, evict

if TYPE_CHECKING:
    from flask import Flask

    from stationmap.districts import Districts
    from stationmap.reports import Freshness
    from stationmap.scope import Scope



class Ranked(NamedTuple):
    """A station with its straight-line (geodesic) distance in metres and travel minutes:
    what a plug-in ranking (:attr:`AppState.rank`) returns, quickest first."""

    station: object
    distance_m: float
    minutes: float


@dataclass
class AppState:
    """What the app keeps (one per app; ``app.extensions["stationmap"]``)."""

    settings: _config.Settings
    store: StationStore
    index: StationIndex
    #: the road networks of ``settings.networks`` ({name: Network}; empty when none is configured)
    networks: dict = field(default_factory=dict)
    #: a plug-in ranking for ``/api/v1/nearest``, or None: then it ranks with
    #: :func:`stationmap.reach.rank_stations` (road network where one covers the point,
    #: circle estimate elsewhere).  Called ``rank(index, lon, lat, *, k, mode, settings,
    #: kinds, services, open_at)`` (WGS-84), it returns :class:`Ranked`, quickest first;
    #: its ``method`` attribute, if any, is reported as the answer's method.
    rank: Callable[..., list] | None = None
    #: the district boundaries (:class:`stationmap.districts.Districts`), loaded on first use
    loaded_districts: Any = None
    #: OpenAPI path items other blueprints add (:func:`stationmap.web.openapi.register_paths`)
    openapi_paths: dict = field(default_factory=dict)

    # -- caches (see the module's table) --
    #: ``(pid, ChangeProbe)``: the store's change probe of this process
    change_probe: tuple | None = None
    #: how many times :meth:`sync` has seen that the database may have changed (any commit)
    generation: int = 0
    #: ``(generation, {station id: Freshness})`` of :func:`freshness`
    freshness: tuple | None = None
    #: ``((generation, day), {station id: JSON text})`` of :func:`freshness_members`
    freshness_members: tuple | None = None
    #: ``(index key, stations in id order)``
    sorted_stations: tuple | None = None
    #: ``(index key, any sample station)``
    any_sample: tuple | None = None
    #: ``(index key, rows)`` of :func:`district_counts`
    district_counts: tuple | None = None
    #: ``(index key, {code: [Station]})`` of :func:`district_members`
    district_members: tuple | None = None
    #: ``(key, zip bytes, file name)`` of ``/open-data.zip`` (key: revision, last check-in, day)
    open_data_zip: tuple | None = None
    #: ``(key, JSON text, ETag, Last-Modified)`` of ``/api/v1/districts`` (key: generation, index, day)
    districts_body: tuple | None = None
    #: ``{revision: when it was written}``: the Last-Modified of /api/v1/stations
    revision_times: dict = field(default_factory=dict)
    #: ``(id of the sorted stations, (lon, lat))``: where the finder opens
    center: tuple | None = None
    #: ``{level: features}`` of :func:`boundary_features`
    boundaries: dict = field(default_factory=dict)
    #: ``{key: JSON text}`` of ``/api/v1/districts/boundaries``
    boundary_bodies: dict = field(default_factory=dict)
    #: ``{key: JSON text}`` of ``/api/v1/stations`` answers without ``at``
    stations_bodies: dict = field(default_factory=dict)
    #: ``(index key, ClusterIndex)`` of :func:`cluster_index`
    clusters: tuple | None = None
    #: ``{key: JSON text and its gzip}`` of ``/api/v1/tiles`` answers without ``at``
    tile_bodies: dict = field(default_factory=dict)
    #: ``{(index key, adcode): (Scope, StationIndex of its stations)}`` of :func:`district_scope`
    scopes: dict = field(default_factory=dict)
    #: ``{key: rendered map parts}`` of the finder page
    finder_parts: dict = field(default_factory=dict)
    #: the network registry's stamp when :attr:`networks` was loaded, and when it was last looked at
    #: (:meth:`sync_networks`: a network fetched or removed while the server runs is used or dropped)
    networks_stamp: tuple | None = None
    networks_checked: float = 0.0
    #: coverage runs and their rendered maps (:mod:`stationmap.web.coverage`), least recently used first
    coverage_runs: OrderedDict = field(default_factory=OrderedDict)
    coverage_parts: OrderedDict = field(default_factory=OrderedDict)

    def sync(self) -> None:
        """Apply changes other processes wrote since this index was built (and, every
        :data:`~stationmap.config.NETWORKS_RECHECK_S`, networks registered or removed since)."""
        now = time.monotonic()
        if now - self.networks_checked >= _config.NETWORKS_RECHECK_S:
            self.sync_networks(now)
        if not self._may_have_changed():
            return
        self.generation += 1
        if self.store.revision() != self.index.revision:
            self.index.sync(self.store)

    def sync_networks(self, now: float) -> None:
        """Load the networks again when the registry changed (``stationmap network fetch`` or
        ``remove`` while the server runs): what each derived is read back from the instance's cache
        (the fetch wrote it), so a request pays for loading, not for preparing."""
        from stationmap.network.registry import registry_stamp

        self.networks_checked = now
        stamp = registry_stamp(self.settings)
        if stamp != self.networks_stamp:
            self.networks = app_networks(self.settings)
            self.networks_stamp = stamp
            self.coverage_runs.clear()
            self.coverage_parts.clear()

    def _may_have_changed(self) -> bool:
        """False only when the database surely has no new commit since the last call
        (:class:`stationmap.store.ChangeProbe`, one per process: a fork makes a new one)."""
        pid = PID[0]
        probe = self.change_probe
        if probe is None or probe[0] != pid:
            probe = self.change_probe = (pid, self.store.change_probe())
        return probe[1].changed()

    def index_key(self) -> tuple:
        """What the derived caches are kept for: the index object, its revision and size."""
        return (id(self.index), self.index.revision, len(self.index))


def state() -> AppState:
    """The current app's :class:`AppState`."""
    return current_app.extensions["stationmap"]


def freshness(stations: Iterable[Station]) -> dict[str, Freshness]:
    """:func:`stationmap.reports.freshness_many` of ``stations``, kept until the database's next
    commit (a check-in or an edit through any worker: :meth:`AppState.sync` counts them): the
    check-in queries cost half of a /api/v1/nearest answer (0.4 of 0.84 ms, 5 stations)."""
    st = state()
    gen, cache = st.freshness if st.freshness is not None else (None, {})
    if gen != st.generation:
        cache = {}
        st.freshness = (st.generation, cache)
    stations = list(stations)
    missing = [s for s in stations if s.id not in cache]
    if missing:
        cache.update(reports.freshness_many(st.store, missing))
    return {s.id: cache[s.id] for s in stations}


def freshness_members(stations: Sequence[Station]) -> list[bytes]:
    """Each station's ``"freshness":{...}`` member, the JSON text of its :func:`freshness` today
    (``Freshness.to_dict``; today in Asia/Shanghai, not the answer's ``at``: how long ago a station
    was confirmed is counted from the real day), for :func:`stationmap.web.features.collection`'s
    ``members``.  Kept per station until the database's next commit or the next day: a
    /api/v1/nearest answer then joins five kept texts (the look-ups, the words and their JSON were a
    tenth of its time under gunicorn, bench_api.py)."""
    st = state()
    key = (st.generation, reports.today_shanghai())
    kept = st.freshness_members
    if kept is None or kept[0] != key:
        kept = st.freshness_members = (key, {})
    texts = kept[1]
    missing = [s for s in stations if s.id not in texts]
    if missing:
        fresh, today = freshness(missing), key[1]
        for s in missing:
            texts[s.id] = b'"freshness":' + orjson.dumps(fresh[s.id].to_dict(today))
    return [texts[s.id] for s in stations]


def sync_index() -> None:
    """Before each request: bring the index up to date with the store's change log."""
    state().sync()


def build_state(settings: _config.Settings) -> AppState:
    """The store (its tables created), the prepared index and the road networks of ``settings``."""
    store = StationStore.from_settings(settings)
    store.create_all()
    index = StationIndex.from_store(store).prepare()
    # road networks (issue 4): loaded and prepared once per process and settings
    from stationmap.network.registry import registry_stamp

    stamp = registry_stamp(settings)
    return AppState(settings=settings, store=store, index=index, networks=app_networks(settings),
                    networks_stamp=stamp, networks_checked=time.monotonic())


def app_networks(settings: _config.Settings) -> dict:
    """The road networks of ``settings.networks``, loaded and prepared ({name: Network}).

    Loaded through :func:`stationmap.network.load_networks`, whose one cache is keyed by
    the files and the settings the networks use (speeds, snap limit): every app of a test
    run, and every app built over the same files, shares one set (preparing a prepared
    network costs little), so :func:`stationmap.web.create_app` pays for loading and
    preparing once.
    """
    from stationmap.network import load_networks
    from stationmap.reach import prepare

    hit = load_networks(settings)
    prepare(hit)
    return hit


# -- derived from the stations -----------------------------------------------------------------

def sorted_stations() -> list:
    """Every station in id order (cached until the index changes)."""
    st = state()
    key = st.index_key()
    cached = st.sorted_stations
    if cached is None or cached[0] != key:
        cached = st.sorted_stations = (key, sorted(st.index.stations(), key=lambda s: s.id))
    return cached[1]


_CLUSTERS_LOCK = threading.Lock()


def cluster_index() -> ClusterIndex:
    """The clusters of every zoom over every station (:class:`stationmap.tiles.ClusterIndex`),
    kept until the index changes; an edit that moves, adds or removes no station keeps the
    tree (:meth:`~stationmap.tiles.ClusterIndex.with_stations`: ~0.3 s at 200,000 stations
    against ~2 s for a build)."""
    st = state()
    key = st.index_key()
    hit = st.clusters
    if hit is not None and hit[0] == key:
        return hit[1]
    with _CLUSTERS_LOCK:    # one build: a threaded server's other requests wait for it
        hit = st.clusters
        if hit is not None and hit[0] == key:
            return hit[1]
        stations = st.index.stations()
        made = hit[1].with_stations(stations) if hit is not None else None
        if made is None:
            made = ClusterIndex(stations)
        st.clusters = (key, made)
    return made


def warm(app: Flask) -> None:
    """Build what the first requests would: the tiles' :func:`cluster_index` and the finder page's
    parts (its centre, the densest area: ~2 s at 200,000 stations).  ``stationmap serve`` does it in
    gunicorn's master, so every worker forks with them (copy-on-write)."""
    with app.app_context():
        cluster_index()
    app.test_client().get("/", headers={"Accept-Language": "zh-CN"})


def any_sample() -> bool:
    """Whether any stored station is sample data (cached until the index changes)."""
    st = state()
    key = st.index_key()
    cached = st.any_sample
    if cached is None or cached[0] != key:
        cached = st.any_sample = (key, any(s.is_sample for s in st.index.stations()))
    return cached[1]


def district_scope(adcode: str) -> tuple[Scope, StationIndex]:
    """The scope of district ``adcode`` (:func:`stationmap.scope.district_scope`: its stations and its
    neighbours' within reach) and an index of its stations, kept per index revision (ValidationError on
    ``scope`` if the adcode is malformed or unknown)."""
    from stationmap import scope
    from stationmap.publish import district_prefix

    st = state()
    try:
        district = districts().get(adcode)
    except (ValidationError, NotFoundError) as exc:  # a bad parameter: a 400 naming it
        raise ValidationError(f"scope: {exc.message}", field="scope") from None
    key = (st.index_key(), district.adcode)
    hit = st.scopes.get(key)
    if hit is None:
        sc = scope.district_scope(st.index.stations(), district, district_prefix(district),
                                  scope.district_shape(districts(), district), scope.reach_m(st.settings))
        hit = (sc, StationIndex.from_stations(sc.stations()).prepare())
        evict(st.scopes, 16)
        st.scopes[key] = hit
    return hit


def districts() -> Districts:
    """The district boundaries of the app (:class:`stationmap.districts.Districts`), loaded once."""
    st = state()
    d = st.loaded_districts
    if d is None:
        from stationmap.districts import load_districts

        d = st.loaded_districts = load_districts(st.settings)
    return d


def district_members() -> dict[str, list[Station]]:
    """The stations of each district, by the code :func:`district_counts` counts them under (a
    station without an adcode: the district holding its point, ``""`` when none does).
    Cached until the index changes."""
    st = state()
    key = st.index_key()
    cached = st.district_members
    if cached is not None and cached[0] == key:
        return cached[1]
    all_st = st.index.stations()
    missing = [s for s in all_st if not s.adcode]
    located = {}
    if missing:
        codes = districts().locate_many([s.lon for s in missing], [s.lat for s in missing])
        located = {s.id: (c or "") for s, c in zip(missing, codes)}
    members: dict[str, list[Station]] = {}
    for s in all_st:
        members.setdefault(s.adcode or located.get(s.id, ""), []).append(s)
    st.district_members = (key, members)
    return members


def district_counts() -> list[dict]:
    """Per district with stations: adcode, name, city, counts by kind, total, bbox (WGS-84), sample.

    A station without an adcode (stored before every write path placed it) is counted in the
    most specific district holding its point (:meth:`Districts.locate_many`; `stationmap
    repair-districts` stores it); stations outside every district are counted under adcode ``""``.
    Cached until the index changes.
    """
    st = state()
    key = st.index_key()
    cached = st.district_counts
    if cached is not None and cached[0] == key:
        return cached[1]
    all_districts = districts()
    counts: dict[str, dict] = {}
    totals: dict[str, int] = {}
    sample: dict[str, bool] = {}
    for code, members in district_members().items():
        for s in members:
            c = counts.setdefault(code, dict.fromkeys(KINDS, 0))
            for k in s.kinds:
                if k in c:
                    c[k] += 1
            totals[code] = totals.get(code, 0) + 1
            sample[code] = sample.get(code, False) or s.is_sample
    out = []
    for adcode in sorted(counts):
        rec = all_districts.get(adcode) if adcode and adcode in all_districts else None
        out.append({
            "adcode": adcode,
            "name": rec.name if rec else adcode,
            "city": rec.city if rec else None,
            "level": rec.level if rec else None,
            "counts": counts[adcode],
            "total": totals[adcode],
            "bbox": [round(v, 6) for v in rec.bbox] if rec is not None and rec.bbox is not None else None,
            "sample": sample[adcode],
        })
    st.district_counts = (key, out)
    return out


def boundary_features(level: str) -> list[dict]:
    """Simplified district boundaries of ``level`` as GeoJSON features (WGS-84).

    Cached in memory and, across processes and restarts, in
    ``<instance>/cache/`` (keyed by the boundary file's size and modification
    time): reading the boundaries and simplifying them takes ~0.3 s.
    """
    st = state()
    cache = st.boundaries
    if level in cache:
        return cache[level]
    src = Path(st.settings.boundaries_path)
    try:
        stat = src.stat()
        stamp = (f"{src.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{level}"
                 f"|{BOUNDARY_TOLERANCE_DEG}|{BOUNDARY_DECIMALS}")
    except OSError:
        stamp = None
    disk = None
    if stamp is not None:
        disk = (Path(st.settings.instance_path) / "cache"
                / f"boundaries-{level}-{hashlib.sha256(stamp.encode()).hexdigest()[:16]}.json")
        try:
            cache[level] = json.loads(disk.read_text(encoding="utf-8"))
            return cache[level]
        except (OSError, ValueError):
            pass
    feats = _simplified_boundaries(level)
    cache[level] = feats
    if disk is not None:
        try:
            private_dir(disk.parent)
            tmp = disk.with_suffix(f".{os.getpid()}.tmp")
            write_private(tmp, json.dumps(feats, ensure_ascii=False, separators=(",", ":")))
            tmp.replace(disk)  # atomic: another worker may be writing the same file
        except OSError:
            pass  # a read-only instance folder: keep the memory cache only
    return feats


def _simplified_boundaries(level: str) -> list[dict]:
    return simplified_boundaries(districts(), level)
