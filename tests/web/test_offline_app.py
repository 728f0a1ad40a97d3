"""The installable finder (issue 19): the manifest, the service worker's route, the icons, and the
first list the server draws into the finder when its URL gives the position."""

from __future__ import annotations

import json
import re
from io import BytesIO

from PIL import Image, ImageChops

from tests.support.app_icons import ICONS, SIZES, draw


def test_the_manifest_names_the_app_in_chinese_first_and_opens_on_the_finder(ro_client):
    r = ro_client.get("/manifest.webmanifest")
    assert r.status_code == 200 and r.mimetype == "application/manifest+json"
    m = json.loads(r.get_data(as_text=True))
    assert m["name"].startswith("工会驿站地图") and m["short_name"] == "工会驿站"
    assert m["start_url"] == "/" and m["scope"] == "/" and m["display"] == "standalone"
    sizes = {i["sizes"] for i in m["icons"]}
    assert {"192x192", "512x512"} <= sizes
    for icon in m["icons"]:
        assert ro_client.get(icon["src"]).status_code == 200
    en = json.loads(ro_client.get("/manifest.webmanifest?lang=en").get_data(as_text=True))
    assert en["name"].startswith("工会驿站地图 · ") and en["lang"] == "en"


def test_the_service_worker_is_served_from_the_root_so_its_scope_covers_the_finder(ro_client):
    r = ro_client.get("/sw.js")
    assert r.status_code == 200 and r.mimetype == "text/javascript"
    assert "no-cache" in r.headers["Cache-Control"]
    assert "addEventListener('fetch'" in r.get_data(as_text=True)
    page = ro_client.get("/").get_data(as_text=True)
    assert 'data-sw="/sw.js"' in page and 'rel="manifest"' in page
    # the page's policy lets the worker and the manifest load: both fall back to default-src 'self'
    csp = ro_client.get("/").headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "worker-src" not in csp and "manifest-src" not in csp


def test_the_committed_icons_are_what_their_source_draws():
    for n in SIZES:
        committed = Image.open(ICONS / f"app-{n}.png").convert("RGBA")
        assert committed.size == (n, n)
        fresh = Image.open(BytesIO(_png(draw(n)))).convert("RGBA")
        assert ImageChops.difference(committed, fresh).getbbox() is None


def _png(img: Image.Image) -> bytes:
    out = BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def test_with_a_position_the_finder_comes_with_its_first_list_and_the_answer_it_was_drawn_from(
        ro_client, web_query_point, xss_name):
    lon, lat = web_query_point
    html = ro_client.get(f"/?lat={lat}&lon={lon}").get_data(as_text=True)
    api = ro_client.get("/api/v1/nearest", query_string={"lat": f"{lat:.6f}", "lon": f"{lon:.6f}", "k": 5,
                                                         "mode": "ebike", "minutes": 15, "lang": "zh",
                                                         "order": "open_first"}).get_json()
    ids = re.findall(r'<li class="station[^"]*" data-id="([^"]+)"', html)
    assert ids == [f["id"] for f in api["features"]]
    block = re.search(r'<script type="application/json" id="first-nearest" data-query="([^"]+)">(.*?)</script>',
                      html, re.S)
    assert block
    assert block.group(1).replace("&amp;", "&") == ("lat=%.6f&lon=%.6f&k=5&mode=ebike&minutes=15&lang=zh"
                                                   "&order=open_first" % (lat, lon))
    data = json.loads(block.group(2))
    assert [f["id"] for f in data["features"]] == ids
    assert "<" not in block.group(2)            # no "</script>" can end the block early
    assert xss_name not in html                 # names are escaped in the list and in the block
    # nav links of the list are the API's
    first_nav = api["features"][0]["properties"]["nav"]["amap"].replace("&", "&amp;")
    assert first_nav in html


def test_without_a_position_or_with_a_bad_one_there_is_no_first_list(ro_client):
    for q in ("", "?lat=x&lon=1", "?lat=95&lon=120", "?lat=31.7&lon=nan"):
        html = ro_client.get("/" + q).get_data(as_text=True)
        assert 'id="first-nearest"' not in html and 'data-first="server-rendered"' not in html
