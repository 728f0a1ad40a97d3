"""Embeds: presets, framing headers, the builder page, the static export command."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from stationmap.errors import ConfigError

ORIGINS = {"320402": ["http://parent.example:8001"], "3204": ["https://cz.example"]}


@pytest.fixture
def app(make_web_app, web_stations):
    return make_web_app(web_stations, embed_origins=ORIGINS)


@pytest.fixture
def client(app):
    return app.test_client()


def _config(html: str) -> dict:
    """The finder configuration the page passes to stationmapFinder.init."""
    m = re.search(r"stationmapFinder\.init\([^,]+,\s*(\{.*?\})\s*,\s*\{\s*cluster:", html, re.S)
    assert m, "no stationmapFinder.init call"
    return json.loads(m.group(1))


def test_embed_page_and_frame_ancestors(client, web_stations):
    r = client.get("/embed/320402")
    assert r.status_code == 200
    csp = r.headers["Content-Security-Policy"]
    assert "frame-ancestors 'self' http://parent.example:8001 https://cz.example" in csp
    assert "X-Frame-Options" not in r.headers
    html = r.get_data(as_text=True)
    cfg = _config(html)
    assert cfg["marker_query"]["scope"] == "320402"   # its stations and its neighbours' within reach
    assert cfg["nearest_query"] == {"scope": "320402"}  # the list: the same scope as the map
    assert cfg["embed"]["adcode"] == "320402" and cfg["autolocate"] is False
    assert cfg["urls"]["boundaries"].endswith("district=320402")
    assert '"scrollWheelZoom": false' in html  # off by default inside an iframe
    assert cfg["embed"]["fit_bounds"] is not None  # no centre given: fit the district
    assert "示例数据" in html  # the district has sample stations
    # another district of the city: only the city-wide origin
    csp = client.get("/embed/320411").headers["Content-Security-Policy"]
    assert "https://cz.example" in csp and "parent.example" not in csp
    # a district of another city: this site only
    csp = client.get("/embed/320505").headers["Content-Security-Policy"]
    assert csp.endswith("frame-ancestors 'self'")


def test_presets_reach_the_map(client):
    r = client.get("/embed/320404?kind=hot_tea,legal_aid&service=toilet&lang=en&basemap=osm"
                   "&center=119.95,31.78&zoom=15&list=0&locate=0&scroll=1")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    cfg = _config(html)
    assert cfg["marker_query"]["kind"] == "hot_tea,legal_aid" and cfg["marker_query"]["service"] == "toilet"
    assert cfg["embed"]["list"] is False and cfg["embed"]["locate"] is False and cfg["embed"]["fit_bounds"] is None
    assert cfg["lang"] == "en" and '<html lang="en">' in html
    assert '"scrollWheelZoom": true' in html
    assert re.search(r'<aside class="embed-list"[^>]*hidden', html)
    assert "center: [31.78, 119.95]" in html and '"zoom": 15' in html


@pytest.mark.parametrize("path,status,field", [
    ("/embed/320404?zoom=40", 400, "zoom"), ("/embed/320404?kind=spa", 400, "kind"),
    ("/embed/320404?basemap=google", 400, "basemap"), ("/embed/320404?what=1", 400, "what"),
    ("/embed/999999", 404, None), ("/embed/12ab", 400, None),
])
def test_bad_embed_requests(client, path, status, field):
    r = client.get(path + ("&" if "?" in path else "?") + "lang=en")  # the parameters' own names
    assert r.status_code == status
    if field:
        assert f"{field}" in r.get_data(as_text=True)


def test_stored_text_never_reaches_embed_html(client, xss_name):
    html = client.get("/embed/320402").get_data(as_text=True)
    assert "<img src=x" not in html and "<script>alert" not in html


def test_builder_page(client):
    r = client.get("/embed?adcode=320404")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert 'value="320404" selected' in html
    assert 'data-base-url="http://localhost/embed/ADCODE"' in html
    data = json.loads(re.search(r'<script type="application/json" id="builder-data">(.*?)</script>', html, re.S).group(1))
    assert data["origins"]["320402"] == ["http://parent.example:8001", "https://cz.example"]
    assert data["origins"]["320404"] == ["https://cz.example"]
    assert r.headers["X-Frame-Options"] == "DENY"


def test_bad_origin_config_stops_the_app(make_web_app):
    with pytest.raises(ConfigError):
        make_web_app([], embed_origins={"320404": ["https://a.example; script-src *"]})


# -- stationmap publish ------------------------------------------------------------------

@pytest.fixture
def cli_env(tmp_path, web_stations):
    from stationmap.store import StationStore

    url = f"sqlite:///{tmp_path}/pub.sqlite"
    store = StationStore(url)
    store.create_all()
    store.write_many(web_stations, user="test")
    return {"STATIONMAP_DATABASE_URL": url, "STATIONMAP_INSTANCE_PATH": str(tmp_path / "instance")}


def _run(env, *args):
    from stationmap.cli import main

    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def _read_js(path):
    text = path.read_text(encoding="utf-8")
    return json.loads(text[text.index("= ") + 2:].rstrip().rstrip(";"))


def test_publish_writes_a_self_contained_site(cli_env, tmp_path, web_stations, xss_name):
    out = tmp_path / "site"
    r = _run(cli_env, "publish", "320402", "--out", str(out), "--kind", "rest")
    assert r.exit_code == 0, r.output
    data = _read_js(out / "stations.js")
    want = sorted(s.id for s in web_stations if s.adcode == "320402" and s.status != "closed" and "rest" in s.kinds)
    own = [f["id"] for f in data["features"] if not f["properties"]["neighbour"]]
    assert sorted(own) == want and "xss" in want
    # the neighbouring districts' stations near the boundary come too, marked (issue 20)
    near = [f for f in data["features"] if f["properties"]["neighbour"]]
    assert near and all(f["properties"]["adcode"] != "320402" and "rest" in f["properties"]["kinds"] for f in near)
    gj = json.loads((out / "stations.geojson").read_text(encoding="utf-8"))
    assert sorted(f["id"] for f in gj["features"]) == want and gj["datum"] == "wgs84"
    html = (out / "index.html").read_text(encoding="utf-8")
    assert '<script src="stations.js"></script>' in html and "assets/js/embed-static.js" in html
    assert "/static/" not in html and "http://localhost" not in html  # nothing points back at a server
    assert xss_name not in html
    cfg = _config(html)
    assert cfg["urls"]["stations"] == "api/v1/stations"
    assert all(v["icon"].startswith("assets/") for v in cfg["kinds"].values())
    assert (out / "assets/vendor/leaflet-1.9.4/leaflet.js").is_file()
    assert "SAMPLE DATA" in (out / "README.txt").read_text()


@pytest.mark.parametrize("args,message", [
    (["publish", "999999", "--out", "X"], "no district with adcode '999999'"),
    (["publish", "32040", "--out", "X"], "adcode must be 6 digits"),
    (["publish", "320402", "--out", "X", "--basemap", "google"], "basemap must be one of"),
])
def test_publish_errors_are_clean(cli_env, tmp_path, args, message):
    args = [str(tmp_path / "o") if a == "X" else a for a in args]
    r = _run(cli_env, *args)
    assert r.exit_code == 1 and message in r.output and "Traceback" not in r.output
