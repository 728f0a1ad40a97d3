"""The Content-Security-Policy (stationmap.csp) through the Flask test client: the exact header of
each page type, a fresh nonce a request that matches the page's inline scripts, the JSON API's
minimal set, the coverage map download's hashes, and a published site's meta tag.

The browser side (no violation in chromium, embeds framed or refused) is
tests/browser/test_csp_browser.py.
"""

from __future__ import annotations

import re

import pytest

from stationmap import csp
from stationmap.maps.tiles import tile_hosts
from tests.support.webforms import add_users, sign_in, use_fast_hasher

TILES = ("https://webrd01.is.autonavi.com https://webrd02.is.autonavi.com https://webrd03.is.autonavi.com "
         "https://webrd04.is.autonavi.com https://tile.openstreetmap.org")
TIANDITU = " ".join(f"https://t{i}.tianditu.gov.cn" for i in range(8))
HEAD = "default-src 'self'; script-src 'self'"
TAIL = ("; style-src 'self' 'unsafe-inline'; img-src 'self' data: {tiles}; object-src 'none'; base-uri 'none'; "
        "form-action 'self'")
ORIGIN = "http://parent.example:8001"
#: an inline classic script: (its attributes, its text)
SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script>", re.S)


def expected(*, nonce=None, frame_ancestors="'none'", tiles=TILES, hashes=()):
    script = HEAD + (f" 'nonce-{nonce}'" if nonce else "") + "".join(f" '{h}'" for h in hashes)
    out = script + TAIL.format(tiles=tiles)
    return out if frame_ancestors is None else f"{out}; frame-ancestors {frame_ancestors}"


def inline_scripts(html):
    """(nonce or None, text) of each inline script that runs (no src, no data block)."""
    out = []
    for attrs, text in SCRIPT.findall(html):
        if "src=" in attrs or "application/json" in attrs:
            continue
        m = re.search(r'nonce="([^"]*)"', attrs)
        out.append((m.group(1) if m else None, text))
    return out


@pytest.fixture(scope="module")
def app(tmp_path_factory, web_stations_builder):
    from tests.support.webforms import make_app

    return make_app(tmp_path_factory.mktemp("csp"), web_stations_builder(),
                    embed_origins={"320402": [ORIGIN]})


@pytest.fixture(scope="module")
def admin_client(app):
    mp = pytest.MonkeyPatch()
    use_fast_hasher(mp)
    try:
        add_users(app.extensions["stationmap"].store)
        c = app.test_client()
        assert sign_in(c, "admin").status_code == 302
        yield c
    finally:
        mp.undo()


#: page -> (has the map's inline script, frame-ancestors)
PUBLIC = {
    "/": (True, "'none'"),
    "/?lang=en": (True, "'none'"),
    "/station/xss": (False, "'none'"),
    "/stations/xss/history": (False, "'none'"),
    "/stations/xss/reports": (False, "'none'"),
    "/districts": (False, "'none'"),
    "/coverage/320402?cell=1000": (True, "'none'"),
    "/embed/320402": (True, f"'self' {ORIGIN}"),
    "/embed/320411": (True, "'self'"),
    "/embed": (False, "'none'"),
    "/login": (False, "'none'"),
    "/no/such/page": (False, "'none'"),
}
ADMIN = ("/admin/", "/admin/districts/320402", "/admin/stations/new?adcode=320402", "/admin/stations/xss/edit",
         "/admin/import", "/admin/audit")


def _check_page(r, has_map, frame_ancestors):
    html = r.get_data(as_text=True)
    scripts = inline_scripts(html)
    header = r.headers["Content-Security-Policy"]
    if has_map:
        assert len(scripts) == 1, scripts  # the map's, and no other inline script
        nonce = scripts[0][0]
        assert nonce and len(nonce) >= 22   # 128 bits, base64url
        assert header == expected(nonce=nonce, frame_ancestors=frame_ancestors)
    else:
        assert scripts == []
        assert header == expected(frame_ancestors=frame_ancestors)  # no nonce where none is used
    assert ("X-Frame-Options" in r.headers) == (frame_ancestors == "'none'")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    return header


@pytest.mark.parametrize("path", list(PUBLIC))
def test_each_public_page_has_the_whole_policy(app, path):
    has_map, fa = PUBLIC[path]
    r = app.test_client().get(path)
    assert r.status_code == (404 if path == "/no/such/page" else 200)
    assert r.mimetype == "text/html"
    _check_page(r, has_map, fa)


@pytest.mark.parametrize("path", ADMIN)
def test_each_admin_page_has_the_whole_policy(admin_client, path):
    r = admin_client.get(path)
    assert r.status_code == 200, path
    _check_page(r, False, "'none'")


def test_a_fresh_nonce_each_request_that_only_that_page_carries(app):
    c = app.test_client()
    seen = set()
    for _ in range(3):
        for path in ("/", "/embed/320402", "/coverage/320402?cell=1000"):
            r = c.get(path)
            [(nonce, _text)] = inline_scripts(r.get_data(as_text=True))
            assert f"'nonce-{nonce}'" in r.headers["Content-Security-Policy"]
            assert nonce not in seen
            seen.add(nonce)
    assert len(seen) == 9


def test_the_policy_lists_the_tile_hosts_the_map_loads_from(make_web_app, web_stations):
    """img-src names every host of the map's tile URL templates, and nothing else but 'self' and data:."""
    app = make_web_app(web_stations, tianditu_key="k3y")
    r = app.test_client().get("/")
    html = r.get_data(as_text=True)
    hosts = set()
    for template, subdomains in re.findall(r'L\.tileLayer\(\s*"([^"]+)",\s*\{.*?"subdomains": "([^"]*)"', html, re.S):
        for s in subdomains if "{s}" in template else "-":
            hosts.add(re.match(r"https://[^/]+", template.replace("{s}", s)).group(0))
    assert len(hosts) == 13  # Amap (4), OpenStreetMap, Tianditu (8)
    img = re.search(r"img-src ([^;]+)", r.headers["Content-Security-Policy"]).group(1).split()
    assert img[:2] == ["'self'", "data:"] and set(img[2:]) == hosts and len(img) == 15
    [(nonce, _text)] = inline_scripts(html)
    assert r.headers["Content-Security-Policy"] == expected(nonce=nonce, tiles=f"{TILES} {TIANDITU}")


def test_api_and_static_files_keep_the_minimal_set(app):
    c = app.test_client()
    for path in ("/api/v1/districts", "/api/v1/nearest?lon=119.96&lat=31.79", "/api/v1/openapi.json",
                 "/api/v1/nearest?lon=x", "/static/js/finder.js", "/coverage/320402/download/figures.csv?cell=1000"):
        r = c.get(path)
        assert r.headers["Content-Security-Policy"] == "frame-ancestors 'none'", path
        assert r.headers["X-Frame-Options"] == "DENY"


def test_coverage_map_download_allows_its_scripts_by_hash(app):
    r = app.test_client().get("/coverage/320402/download/coverage_map.html?cell=1000")
    assert r.status_code == 200 and r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    scripts = inline_scripts(html)
    assert len(scripts) >= 2 and all(nonce is None for nonce, _text in scripts)  # Leaflet, the map
    hashes = csp.script_hashes(html)
    assert len(hashes) == len({t for _n, t in scripts})
    assert r.headers["Content-Security-Policy"] == expected(hashes=hashes)


def test_script_hashes():
    # the hash chromium names in its report of this script, when it is blocked
    page = '<script>document.documentElement.dataset.b="ran"</script>'
    assert csp.script_hashes(page) == ["sha256-ZTtC1C+etNJCqqgU5U51dlpZhwyrxluj9sNgxmBhAFo="]
    # CR LF read as LF, as the browser does; scripts with src and data blocks left out; each once
    crlf = '<SCRIPT type="text/javascript">a();\r\nb();</SCRIPT>'
    assert csp.script_hashes(crlf) == csp.script_hashes("<script>a();\nb();</script>")
    assert csp.script_hashes('<script src="a.js"></script><script type="application/json">{}</script>') == []
    assert len(csp.script_hashes(page + page + "<script>x()</script>")) == 2


def test_policy_takes_host_sources_only():
    assert csp.Policy(tile_hosts()).meta() == expected(frame_ancestors=None)
    for bad in ("https://a.example; script-src *", "'unsafe-inline'", "https://a.example/path", "*"):
        with pytest.raises(ValueError, match="not a host source"):
            csp.Policy([bad])
    assert csp.Policy([]).header(frame_ancestors=[]).endswith("img-src 'self' data:; object-src 'none'; "
                                                              "base-uri 'none'; form-action 'self'; "
                                                              "frame-ancestors 'none'")


def test_published_site_carries_the_policy_in_a_meta_tag(app, tmp_path):
    from stationmap.web.embed import export_district

    with app.test_request_context("/embed/320402"):
        export_district("320402", tmp_path)
    html = (tmp_path / "index.html").read_text(encoding="utf-8")
    metas = re.findall(r'<meta http-equiv="Content-Security-Policy" content="([^"]+)">', html)
    assert len(metas) == 1
    assert html.index("Content-Security-Policy") < html.index("<base ") < html.index("<script")
    scripts = inline_scripts(html)
    assert len(scripts) == 1 and scripts[0][0] is None  # the map's script, with no nonce
    [h] = csp.script_hashes(html)
    # the page's policy: a hash for the nonce, no frame-ancestors (a meta tag cannot carry it)
    assert metas[0].replace("&#39;", "'") == expected(hashes=[h], frame_ancestors=None)
