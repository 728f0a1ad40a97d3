"""`stationmap network fetch` (issue 21) against a loopback HTTP server this test starts: a fake
Geofabrik-style region index, a real PBF (the bundled SIP roads written with pyosmium, some
streets one-way), resuming a cut transfer, 404, checksum mismatch, bytes that are not a PBF,
no server at all, and the cache.

References: networkx Dijkstra on the ways as written here (not read back through stationmap).
"""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import networkx as nx
import numpy as np
import pyogrio
import pytest
from click.testing import CliRunner
from pyproj import Geod

from stationmap import config
from stationmap.cli import main
from stationmap.network import load_networks
from stationmap.network.fetch import margin_m
from stationmap.network.registry import entries
from tests.support.network_reference import speed_kmh

ROOT = Path(__file__).resolve().parents[2]
SIP_GPKG = ROOT / "data" / "roads" / "sip_roads.gpkg"
GEOD = Geod(ellps="WGS84")
PBF_PATH = "/asia/china/jiangsu-latest.osm.pbf"
OSM_DATE = "2026-12-06T21:21:02Z"
ONEWAY_EVERY = 7          # every 7th street is oneway=yes


@pytest.fixture(scope="module")
def sip_pbf(tmp_path_factory):
    """The SIP road graph as an OpenStreetMap PBF: (bytes, nodes {id: (lon, lat)}, ways [(u, v, highway, oneway)])."""
    import osmium

    nodes = pyogrio.read_dataframe(SIP_GPKG, layer="nodes", read_geometry=False)
    edges = pyogrio.read_dataframe(SIP_GPKG, layer="edges", read_geometry=False)
    coords = {int(i) + 1: (round(float(lo), 7), round(float(la), 7))
              for i, lo, la in zip(nodes.node_id, nodes.lon, nodes.lat)}
    ways = [(int(u) + 1, int(v) + 1, "road" if h == "other" else str(h), k % ONEWAY_EVERY == 0)
            for k, (u, v, h) in enumerate(zip(edges.u, edges.v, edges.highway))]
    path = tmp_path_factory.mktemp("pbf") / "sip.osm.pbf"
    header = osmium.io.Header()
    header.set("osmosis_replication_timestamp", OSM_DATE)
    w = osmium.SimpleWriter(str(path), 0, header)
    for i, (lo, la) in sorted(coords.items()):
        w.add_node(osmium.osm.mutable.Node(id=i, location=(lo, la), version=1))
    for k, (u, v, h, ow) in enumerate(ways):
        tags = {"highway": h, **({"oneway": "yes"} if ow else {})}
        w.add_way(osmium.osm.mutable.Way(id=k + 1, nodes=[u, v], tags=tags, version=1))
    w.close()
    return path.read_bytes(), coords, ways


class Server:
    """A loopback HTTP server: ``files`` {path: bytes}; ``cut`` {path: how many transfers to cut
    half-way}; ``log`` [(path, Range header)]."""

    def __init__(self):
        self.files: dict[str, bytes] = {}
        self.cut: dict[str, int] = {}
        self.log: list[tuple[str, str | None]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.log.append((self.path, self.headers.get("Range")))
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                start = 0
                rng = self.headers.get("Range")
                if rng and rng.startswith("bytes=") and rng.endswith("-"):
                    start = int(rng[6:-1])
                    if start >= len(body):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                part = body[start:]
                if server.cut.get(self.path, 0) > 0:
                    server.cut[self.path] -= 1
                    part = part[:len(part) // 2]       # then the connection closes: a cut transfer
                    self.close_connection = True
                self.wfile.write(part)

            def do_POST(self):
                from urllib.parse import parse_qs

                n = int(self.headers.get("Content-Length") or 0)
                query = parse_qs(self.rfile.read(n).decode())["data"][0]
                server.log.append((self.path, query))
                body = server.files.get(self.path)
                if body is None:
                    self.send_error(404, "Not Found")
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def gets(self, path):
        return [r for p, r in self.log if p == path]

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def box(w, s, e, n):
    return {"type": "Polygon", "coordinates": [[[w, s], [e, s], [e, n], [w, n], [w, s]]]}


def region_index(base):
    """A Geofabrik-style index: China (contains Jiangsu, larger), Jiangsu, Zhejiang (overlaps only)."""
    feats = [
        ("asia/china", "China", "asia", box(73, 18, 135, 54), "/asia/china-latest.osm.pbf"),
        ("asia/china/jiangsu", "Jiangsu", "asia/china", box(116.3, 30.7, 121.9, 35.2), PBF_PATH),
        ("asia/china/zhejiang", "Zhejiang", "asia/china", box(118, 27, 123, 31.3), "/asia/china/zhejiang.osm.pbf"),
        ("europe/monaco", "Monaco", "europe", box(7.4, 43.7, 7.5, 43.8), "/europe/monaco-latest.osm.pbf"),
    ]
    return {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": g,
         "properties": {"id": i, "name": n, "parent": p, "urls": {"pbf": base + u}}} for i, n, p, g, u in feats]}


@pytest.fixture
def server(sip_pbf):
    srv = Server()
    body = sip_pbf[0]
    srv.files["/index-v1.json"] = json.dumps(region_index(srv.base)).encode()
    srv.files[PBF_PATH] = body
    srv.files[PBF_PATH + ".md5"] = f"{hashlib.md5(body).hexdigest()}  jiangsu-latest.osm.pbf\n".encode()
    yield srv
    srv.close()


def env_for(tmp_path, index_url):
    return {"STATIONMAP_INSTANCE_PATH": str(tmp_path / "instance"), "STATIONMAP_OSM_INDEX_URL": index_url,
            "STATIONMAP_NETWORKS": "{}"}


def cli(env, *args):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def settings_of(env):
    return config.load(environ=env)


def reference_seconds(coords, ways, mode, source):
    """networkx seconds from OSM node ``source`` to every node, on the ways as written."""
    G = nx.DiGraph()
    for u, v, h, ow in ways:
        kmh = speed_kmh(mode, h)
        if kmh <= 0:
            continue
        s = GEOD.inv(*coords[u], *coords[v])[2] / (kmh / 3.6)
        G.add_edge(u, v, weight=s)
        if not (ow and mode != "walk"):
            G.add_edge(v, u, weight=s)
    return nx.single_source_dijkstra_path_length(G, source, weight="weight")


def test_fetch_builds_registers_and_equals_networkx(tmp_path, server, sip_pbf):
    _, coords, ways = sip_pbf
    env = env_for(tmp_path, server.base + "/index-v1.json")
    res = cli(env, "network", "fetch", "320571")
    assert res.exit_code == 0, res.output
    assert "region 'Jiangsu' (asia/china/jiangsu)" in res.output              # the smallest region holding it
    assert "© OpenStreetMap contributors, ODbL" in res.output
    assert len(server.gets(PBF_PATH)) == 1 and len(server.gets(PBF_PATH + ".md5")) == 1
    s = settings_of(env)
    e = entries(s)["320571"]
    assert e["source"] == server.base + PBF_PATH and e["osm_date"] == OSM_DATE and e["area"] == "苏州工业园区"
    assert e["margin_m"] == pytest.approx(60 / 3.6 * 15 * 60)      # 15 min at the fastest car speed (motorway)
    assert e["margin_m"] == pytest.approx(margin_m(s))
    # the app's loader sees it without an environment variable
    nets = load_networks(s)
    assert list(nets) == ["320571"]
    net = nets["320571"]
    assert net.oneway_known and e["nodes"] == net.n_nodes and e["edges"] == net.n_edges
    # the data's date travels with the compiled network into every coverage run's assumptions
    assert net.date == OSM_DATE
    from stationmap.coverage.assumptions import run_assumptions

    rec = run_assumptions(mode="walk", method="network", minutes=15, horizon_minutes=60, at=None, services=(),
                          demand_info={"source": "census 2020", "spread": "area"}, shape="square", cell_m=250,
                          h3_resolution=None, crs=None, sample=False, settings=s, network=net)
    assert rec["network"]["date"] == OSM_DATE and OSM_DATE in " ".join(rec["text"]["en"])
    # travel times equal networkx on the same OSM data (within 1 s), one-way streets kept by bikes and cars
    idx = {(round(float(lo), 7), round(float(la), 7)): i for i, (lo, la) in enumerate(zip(net.lon, net.lat))}
    rng = np.random.default_rng(3)
    osm_ids = [k for k in coords if coords[k] in idx]
    for mode in ("walk", "ebike", "car"):
        src = int(rng.choice(osm_ids))
        ref = reference_seconds(coords, ways, mode, src)
        ours = net.search(net.snap(*coords[src], mode=mode), mode=mode)
        got = {k: float(ours[idx[coords[k]]]) for k in osm_ids if np.isfinite(ours[idx[coords[k]]])}
        assert got.keys() == {k for k in ref if k in set(osm_ids)}, mode
        worst = max(abs(got[k] - ref[k]) for k in got)
        assert worst < 1.0, (mode, worst)
        assert len(got) > 1000
    # `network list` shows it; a second district of the province downloads nothing
    listed = cli(env, "network", "list").output
    assert "320571\t苏州工业园区\t" + server.base + PBF_PATH in listed and f"{net.n_nodes} nodes" in listed
    res = cli(env, "network", "fetch", "320506", "--mode", "ebike")
    assert res.exit_code == 0, res.output
    assert "cached:" in res.output
    assert len(server.gets(PBF_PATH)) == 1 and len(server.gets("/index-v1.json")) == 1
    e2 = entries(s)["320506"]
    assert e2["margin_m"] == pytest.approx(16 / 3.6 * 15 * 60)      # the e-bike's 15 minutes
    assert set(load_networks(s)) == {"320571", "320506"}
    check_several_networks(s)
    # ... and works offline: the server gone, the same command still builds from the cache
    server.close()
    assert cli(env, "network", "fetch", "320571").exit_code == 0
    # `network remove` forgets one and deletes its file
    path = Path(entries(s)["320506"]["path"])
    assert cli(env, "network", "remove", "320506").exit_code == 0
    assert set(entries(s)) == {"320571"} and not path.exists()
    bad = cli(env, "network", "remove", "nowhere")
    assert bad.exit_code == 1 and "no registered network 'nowhere' (320571)" in bad.output


def check_several_networks(s):
    """Two registered networks overlapping by their margins (320506 吴中区 holds the park 320571 was
    cut from): a point is served by the network of the district holding it, the smallest first, in
    whatever order they come; the coverage of a district uses its own network."""
    import shapely

    from stationmap import coverage as cv
    from stationmap.districts import load_districts
    from stationmap.index import StationIndex
    from stationmap.model import Station
    from stationmap.reach import choose_network, rank_stations

    nets = load_networks(s)
    sip, wz = nets["320571"], nets["320506"]
    d = load_districts(s)
    wuzhong = d.get("320506").geometry
    hull = d.zone_outline("320571")
    assert hull is not None and sip.home.equals(hull) and wz.home.equals(wuzhong)
    inside_sip = (120.72, 31.315)
    assert hull.contains(shapely.Point(inside_sip)) and wuzhong.contains(shapely.Point(inside_sip))
    # a road point of the park's network just outside the park, in Wuzhong
    c = hull.centroid
    outside = None
    for x, y in np.asarray(hull.exterior.coords):
        px, py = x + (x - c.x) * 0.01, y + (y - c.y) * 0.01
        if wuzhong.contains(shapely.Point(px, py)) and not hull.contains(shapely.Point(px, py)):
            outside = (px, py)
            break
    assert outside is not None
    for order in ([sip, wz], [wz, sip]):
        assert choose_network(order, *inside_sip, mode="ebike")[0] is sip
        assert choose_network(order, *outside, mode="ebike")[0] is wz
        # a station just across the park's border counts from inside it (the margin holds it)
        st = Station(id="x", name="跨界", lon=outside[0], lat=outside[1], kinds=("rest",), source="test")
        r = rank_stations(order, StationIndex.from_stations([st]), *inside_sip, mode="ebike", settings=s, k=1)
        assert r.network == "320571" and r.method == "network" and len(r.stations) == 1
    st = [Station(id="w", name="吴中站", lon=outside[0], lat=outside[1], kinds=("rest",), source="test")]
    cov = cv.analyse("320506", st, kinds=["rest"], mode="ebike", cell_m=2000, settings=s)
    assert cov.method == "network" and cov.network is wz and cov.oneway_respected is True
    cov = cv.analyse("320571", st, kinds=["rest"], mode="ebike", cell_m=1000, settings=s)
    assert cov.method == "network" and cov.network is sip


def test_api_nearest_uses_the_fetched_network(tmp_path, server):
    from stationmap.model import Station
    from tests.support.webforms import make_app

    env = env_for(tmp_path, server.base + "/index-v1.json")
    assert cli(env, "network", "fetch", "320571").exit_code == 0
    stations = [Station(id="a", name="园区驿站", lon=120.72, lat=31.315, kinds=("rest",), source="test")]
    app = make_app(tmp_path, stations, networks={})       # the instance folder of the fetch (tmp_path / instance)
    r = app.test_client().get("/api/v1/nearest", query_string={"lon": 120.721, "lat": 31.316, "mode": "ebike"})
    body = r.get_json()
    assert r.status_code == 200 and body["method"] == "network" and body["network"] == "320571"
    assert body["oneway_respected"] is True and body["oneway_note"] is None
    assert body["network_licence"] == "© OpenStreetMap contributors, ODbL"          # credited
    page = app.test_client().get("/coverage/320571?mode=ebike&cell=1000").get_data(as_text=True)
    assert "路网数据 © OpenStreetMap contributors, ODbL" in page
    # ... and the CLI's nearest
    env = {**env, "STATIONMAP_DATABASE_URL": f"sqlite:///{tmp_path}/cli.sqlite"}
    assert cli(env, "db", "upgrade").exit_code == 0
    gj = {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": {
        "type": "Point", "coordinates": [120.72, 31.315]}, "properties": {"id": "a", "name": "园区驿站", "kinds": ["rest"]}}]}
    assert CliRunner().invoke(main, ["import", "-"], input=json.dumps(gj), env=env).exit_code == 0
    res = cli(env, "nearest", "--lon", "120.721", "--lat", "31.316", "--format", "json")
    out = json.loads(res.output)
    assert out["method"] == "network" and out["network"] == "320571" and out["oneway_respected"] is True
    assert out["stations"][0]["id"] == "a" and out["stations"][0]["distance_m"] >= out["stations"][0]["straight_m"]
    text = cli(env, "nearest", "--lon", "120.721", "--lat", "31.316").output
    assert "along the roads of network '320571'" in text and "one-way" not in text
    r = app.test_client().get("/api/v1/coverage", query_string={"district": "320571", "mode": "ebike", "cell": 1000})
    body = r.get_json()
    assert r.status_code == 200 and body["params"]["method"] == "network"
    assert body["params"]["oneway_respected"] is True and body["oneway_note"] is None


def test_a_cut_transfer_is_resumed_with_a_range_request(tmp_path, server, sip_pbf):
    server.cut[PBF_PATH] = 2
    env = env_for(tmp_path, server.base + "/index-v1.json")
    res = cli(env, "network", "fetch", "320571")
    assert res.exit_code == 0, res.output
    ranges = server.gets(PBF_PATH)
    n = len(sip_pbf[0])
    assert ranges[0] is None and ranges[1] == f"bytes={n // 2}-" and len(ranges) == 3
    cached = list((tmp_path / "instance" / "osm").glob("*-jiangsu-latest.osm.pbf"))
    assert len(cached) == 1 and cached[0].read_bytes() == sip_pbf[0]


def test_a_transfer_cut_every_time_stops_with_a_clear_line(tmp_path, server):
    server.cut[PBF_PATH] = 100
    env = env_for(tmp_path, server.base + "/index-v1.json")
    res = cli(env, "network", "fetch", "320571")
    assert res.exit_code == 1
    assert f"error: {server.base}{PBF_PATH}: the transfer stopped at" in res.output
    assert "run the command again to resume it" in res.output and "Traceback" not in res.output
    assert entries(settings_of(env)) == {}
    # the next run resumes from the part kept
    server.cut[PBF_PATH] = 0
    before = len(server.gets(PBF_PATH))
    assert cli(env, "network", "fetch", "320571").exit_code == 0
    assert server.gets(PBF_PATH)[before] is not None         # a Range request


@pytest.mark.parametrize("what, message", [
    ("404", "HTTP 404"),
    ("md5", "checksum mismatch"),
    ("html", "not an OpenStreetMap PBF file"),
    ("no server", "cannot connect"),
    ("no such host", "cannot connect"),
])
def test_failures_are_one_line_naming_the_url_and_register_nothing(tmp_path, server, what, message):
    index_url = server.base + "/index-v1.json"
    url = server.base + PBF_PATH
    if what == "404":
        del server.files[PBF_PATH]
    elif what == "md5":
        server.files[PBF_PATH + ".md5"] = b"0123456789abcdef0123456789abcdef  jiangsu-latest.osm.pbf\n"
    elif what == "html":
        server.files[PBF_PATH] = b"<html><body>Please log in</body></html>" * 10
        del server.files[PBF_PATH + ".md5"]
    elif what == "no server":
        index_url = url = "http://127.0.0.1:9/index-v1.json"       # the discard port: nothing listens
    else:
        index_url = url = "http://stationmap.invalid/index-v1.json"  # .invalid never resolves (RFC 2606)
    env = env_for(tmp_path, index_url)
    res = cli(env, "network", "fetch", "320571")
    assert res.exit_code == 1
    lines = res.output.strip().splitlines()
    assert lines[-1].startswith(f"error: {url}: ") and message in lines[-1], res.output
    assert "--source FILE" in lines[-1] and "Traceback" not in res.output
    assert entries(settings_of(env)) == {}
    assert not list((tmp_path / "instance" / "osm").glob("*.osm.pbf"))      # no (corrupt) file cached


def test_a_local_file_and_a_url_as_source(tmp_path, server, sip_pbf):
    env = env_for(tmp_path, "http://127.0.0.1:9/index-v1.json")        # the index is not needed
    local = tmp_path / "jiangsu.osm.pbf"
    local.write_bytes(sip_pbf[0])
    res = cli(env, "network", "fetch", "320571", "--source", str(local), "--name", "sip-local")
    assert res.exit_code == 0, res.output
    assert entries(settings_of(env))["sip-local"]["source"] == str(local.resolve())
    res = cli(env, "network", "fetch", "320571", "--source", server.base + PBF_PATH, "--name", "sip-url")
    assert res.exit_code == 0, res.output
    assert set(entries(settings_of(env))) == {"sip-local", "sip-url"}
    bad = tmp_path / "bad.osm.pbf"
    bad.write_bytes(b"not a pbf")
    res = cli(env, "network", "fetch", "320571", "--source", str(bad))
    assert res.exit_code == 1 and "not an OpenStreetMap PBF" in res.output


def test_overpass_for_a_small_area(tmp_path, server):
    """--source overpass: the roads of the clip area's box, asked once (then cached), built like any other."""
    from tests.unit.test_network import ONEWAY_OSM

    xml = ONEWAY_OSM.read_text().replace('generator="hand">', 'generator="hand">\n  <meta osm_base="2026-12-07T08:00:00Z"/>')
    server.files["/api/interpreter"] = xml.encode()
    env = {**env_for(tmp_path, "http://127.0.0.1:9/index-v1.json"),
           "STATIONMAP_OVERPASS_URL": server.base + "/api/interpreter"}
    res = cli(env, "network", "fetch", "320571", "--source", "overpass", "--mode", "walk", "--name", "grid")
    assert res.exit_code == 0, res.output
    (query,) = server.gets("/api/interpreter")
    assert 'way["highway"]' in query
    # the box: the park's outline grown by 15 min of walking (1.2 km), south, west, north, east
    s_, w_, n_, e_ = (float(x) for x in query.split("(")[1].split(")")[0].split(","))
    hull = config.load(environ=env)
    from stationmap.districts import load_districts
    from stationmap.network.fetch import clip_area

    want = clip_area(load_districts(hull).zone_outline("320571"), 4.8 / 3.6 * 15 * 60).bounds
    assert (w_, s_, e_, n_) == pytest.approx(want, abs=1e-6)
    e = entries(settings_of(env))["grid"]
    assert e["source"] == server.base + "/api/interpreter" and e["osm_date"] == "2026-12-07T08:00:00Z"
    assert e["nodes"] == 9
    assert cli(env, "network", "fetch", "320571", "--source", "overpass", "--mode", "walk").exit_code == 0
    assert len(server.gets("/api/interpreter")) == 1          # the same box: from the cache
    server.files["/api/interpreter"] = b'<?xml version="1.0"?><osm><remark> runtime error: out of memory </remark></osm>'
    res = cli(env, "network", "fetch", "320571", "--source", "overpass", "--name", "big")
    assert res.exit_code == 1 and "Overpass stopped with an error" in res.output and "big" not in entries(
        settings_of(env))


def test_a_running_server_takes_up_a_fetched_network_and_drops_a_removed_one(tmp_path, server):
    """The app starts with no network; `network fetch` registers one (and keeps what a server
    derives from it); within NETWORKS_RECHECK_S the running app answers by road there, reading
    that back rather than building it; after `network remove` it answers by the circle again."""
    from stationmap.model import Station
    from stationmap.network.graph import Network
    from tests.support.webforms import make_app

    env = env_for(tmp_path, server.base + "/index-v1.json")
    stations = [Station(id="a", name="园区驿站", lon=120.72, lat=31.315, kinds=("rest",), source="test")]
    app = make_app(tmp_path, stations, networks={})
    c = app.test_client()
    q = {"lon": 120.721, "lat": 31.316, "mode": "ebike"}
    assert c.get("/api/v1/nearest", query_string=q).get_json()["method"] == "circle"
    assert cli(env, "network", "fetch", "320571").exit_code == 0
    kept = list((tmp_path / "instance" / "cache" / "networks").glob("320571-*.pickle"))
    assert len(kept) == 1                                       # the fetch prepared it
    st = app.extensions["stationmap"]
    st.networks_checked = -1e9                                  # (as if NETWORKS_RECHECK_S had passed)
    from stationmap.network import loader

    loader._CACHE.clear()                                       # (the server is another process)
    built = []
    orig = Network._build_mode
    Network._build_mode = lambda self, mode: built.append(mode) or orig(self, mode)   # noqa: B023
    try:
        body = c.get("/api/v1/nearest", query_string=q).get_json()
    finally:
        Network._build_mode = orig
    assert body["method"] == "network" and body["network"] == "320571" and built == []
    assert cli(env, "network", "remove", "320571").exit_code == 0
    st.networks_checked = -1e9
    assert c.get("/api/v1/nearest", query_string=q).get_json()["method"] == "circle"
