"""The folium finder map (stationmap.maps): no CDN, datum-aware base maps, escaped config.

No Flask here: the map is library code; the page tests are in test_pages.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stationmap.config import PACKAGE_DIR
from stationmap.errors import ValidationError
from stationmap.maps import basemaps, finder_map, kind_icon, primary_kind, render_parts, service_icon
from stationmap.maps.finder import VENDOR
from stationmap.maps.nav import nav_links
from stationmap.model import KINDS

STATIC = PACKAGE_DIR.parent / "static"


def test_vendored_files_exist_and_are_the_declared_versions():
    for path in VENDOR.values():
        assert (STATIC / path).is_file(), path
    assert 't.version="1.9.4"' in (STATIC / VENDOR["leaflet_js"]).read_text()
    readme = (STATIC / "vendor" / "README.md").read_text()
    for name in ("leaflet", "leaflet.markercluster", "leaflet.locatecontrol"):
        assert f"`{name}`" in readme
    for folder in {Path(p).parts[1] for p in VENDOR.values()}:
        assert (STATIC / "vendor" / folder / "LICENSE").is_file(), folder


def test_rendered_map_loads_nothing_from_the_internet():
    parts = render_parts(finder_map(center_wgs84=(119.95, 31.78), config={}))
    html = parts.head + parts.body
    srcs = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert srcs and all(s.startswith("/static/") for s in srcs), srcs
    assert "cdn" not in html.lower() and "bootstrap" not in html.lower() and "jquery" not in html.lower()
    assert "user-scalable=no" not in html  # folium's zoom-forbidding viewport is dropped
    assert parts.map_id in parts.body and f"L.map(\n                \"{parts.map_id}\"" in parts.script


def test_basemaps_and_their_datums():
    names = {b.name: b for b in basemaps()}
    assert set(names) == {"amap", "osm"}  # Tianditu needs a key
    assert names["amap"].datum == "gcj02" and names["osm"].datum == "wgs84"
    with_key = {b.name: b for b in basemaps(tianditu_key="abc 123", lang="en")}
    assert with_key["tianditu"].datum == "wgs84"
    urls = [u for u, _ in with_key["tianditu"].tiles]
    assert len(urls) == 2 and all("tk=abc%20123" in u for u in urls)
    assert "T=eva_w" in urls[1]  # English labels in English
    assert "lang=en" in with_key["amap"].tiles[0][0]
    script = render_parts(finder_map(center_wgs84=(119.95, 31.78), tianditu_key="abc")).script
    assert script.count('"datum": "gcj02"') == 1 and 'name: "tianditu", datum: "wgs84"' in script


def test_default_basemap_can_be_chosen_and_is_checked():
    script = render_parts(finder_map(center_wgs84=(119.95, 31.78), basemap="osm", config={})).script
    assert '"basemap": "osm"' in script
    with pytest.raises(ValidationError, match="basemap"):
        finder_map(center_wgs84=(119.95, 31.78), basemap="tianditu")  # no key: not available
    with pytest.raises(ValidationError, match="lang"):
        finder_map(center_wgs84=(119.95, 31.78), lang="fr")
    with pytest.raises(ValidationError, match="center_wgs84"):
        finder_map(center_wgs84=(200, 31.78))


def test_config_is_escaped_for_the_script_context():
    parts = render_parts(finder_map(center_wgs84=(119.95, 31.78),
                                    config={"strings": {"x": "</script><script>alert(1)</script>"}}))
    assert "</script>" not in parts.script
    assert "\\u003c/script\\u003e" in parts.script


def test_icons_exist_for_every_kind_and_key_service():
    for k in KINDS:
        assert (STATIC / kind_icon(k)).is_file()
    for s in ("drinking_water", "toilet", "ebike_charging", "microwave", "legal_aid"):
        assert (STATIC / service_icon(s)).is_file()
    assert service_icon("wifi") is None
    assert primary_kind(("legal_aid", "rest")) == "rest" and primary_kind(("hot_tea",)) == "hot_tea"


def test_nav_link_names_cannot_break_the_apps_syntax():
    nav = nav_links(119.95, 31.78, "A,B|C:D", mode="car", origin_wgs84=(119.9, 31.7), origin_name="x|y")
    from urllib.parse import parse_qs, urlsplit

    q = {k: v[0] for k, v in parse_qs(urlsplit(nav["baidu"]).query).items()}
    assert q["destination"].endswith("|name:A B C D") and q["origin"].endswith("|name:x y")
    q = {k: v[0] for k, v in parse_qs(urlsplit(nav["amap"]).query).items()}
    assert q["to"].count(",") == 2 and q["to"].endswith(",A B|C:D")
    with pytest.raises(ValidationError, match="mode"):
        nav_links(119.95, 31.78, "x", mode="plane")
