"""The finder over 200,000 stations: it asks for tiles (clusters made by the server) rather than every
station, zooming in breaks the clusters into stations with their popups, the filter chips change
the counts, and the nearest list works as before (issue 16)."""

from __future__ import annotations

import random
from dataclasses import replace
from urllib.parse import quote

import pytest

from stationmap.coords import wgs84_to_gcj02
from tests.support.webforms import FINDER_NOON, Clock, live_server, make_app

pytestmark = pytest.mark.slow

N = 200_000
#: a point inside the dense area around Changzhou (the finder opens on the densest area)
HERE = (119.9590, 31.7890)


def _many(base: list, n: int, seed: int = 16) -> list:
    """``n`` stations: the web tests' stations, then copies of them with new ids, a tenth
    spread around Changzhou (sigma ~5 km), the rest over eastern China."""
    rng = random.Random(seed)
    out = list(base)
    for i in range(n - len(base)):
        s = base[i % len(base)]
        if i % 10 == 0:
            lon, lat = s.lon + rng.gauss(0, 0.05), s.lat + rng.gauss(0, 0.05)
        else:
            lon, lat = rng.uniform(105, 122), rng.uniform(22, 41)
        out.append(replace(s, id=f"m-{i:06d}", name=f"{s.name}{i}", lon=round(lon, 6), lat=round(lat, 6),
                           adcode="", status="active" if s.status == "closed" else s.status))
    return out


@pytest.fixture(scope="module")
def big_url(tmp_path_factory, web_stations_builder):
    app = make_app(tmp_path_factory.mktemp("tiles-browser"), _many(web_stations_builder(), N))
    clock = Clock(FINDER_NOON)
    from stationmap.web import api
    from stationmap.web.state import warm

    warm(app)   # as `stationmap serve` does before its workers fork

    with pytest.MonkeyPatch.context() as mp, live_server(app) as base:
        mp.setattr(api, "now", clock.now)     # (the tiles' clock too: api.layer_query)
        yield base


@pytest.fixture
def big_page(chromium, big_url):
    ctx = chromium.new_context(viewport={"width": 360, "height": 740}, locale="zh-CN")
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith(big_url) else r.abort("internetdisconnected"))
    asked = []
    page.on("request", lambda r: asked.append(r.url) if r.url.startswith(big_url + "/api/") else None)
    errors = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(big_url + "/")
    page.wait_for_function("() => document.documentElement.dataset.stationsLoaded !== undefined")
    yield page, asked, big_url
    assert errors == []
    ctx.close()


def _data(page) -> dict:
    return page.evaluate("() => ({...document.documentElement.dataset})")


def _settle(page, version: int) -> dict:
    """The dataset once the tiles asked after ``version`` are drawn."""
    page.wait_for_function(f"() => +(document.documentElement.dataset.tilesVersion || 0) > {version}"
                           " && document.documentElement.dataset.tilesPending === '0'", timeout=60_000)
    page.wait_for_timeout(100)
    return _data(page)


def _clickable(page, selector: str) -> list | None:
    """The middle of the element of ``selector`` nearest the map's middle that a click would reach
    (not under a control or a notice), or None."""
    return page.evaluate("""(selector) => {
        const m = stationmapFinder.state.map.getContainer().getBoundingClientRect();
        let best = null, bd = 1e9;
        document.querySelectorAll(selector).forEach(e => {
          const r = e.getBoundingClientRect(), x = r.left + r.width / 2, y = r.top + r.height / 2;
          const dd = Math.hypot(x - (m.left + m.width / 2), y - (m.top + m.height / 2));
          const onTop = y > 0 && y < innerHeight && e.contains(document.elementFromPoint(x, y));
          if (onTop && dd < bd) { bd = dd; best = [x, y]; }
        });
        return best;
    }""", selector)


def _tile_total(client_get, base: str, keys: str, query: str) -> int:
    return sum(client_get(f"{base}/api/v1/tiles/{k}.geojson?{query}")["total"] for k in keys.split())


def _get(url: str) -> dict:
    import json
    import urllib.request

    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


def test_the_finder_draws_tiles_not_every_station(big_page):
    page, asked, base = big_page
    d = _data(page)
    # no request for the whole station list; tiles of the view's zoom instead
    assert not any("/api/v1/stations?" in u for u in asked)
    tile_urls = [u for u in asked if "/api/v1/tiles/" in u]
    assert tile_urls and len(tile_urls) == len(d["tileKeys"].split()) <= 16
    assert int(d["tileClusters"]) > 0
    bubbles = page.locator(".sm-tile-cluster")
    assert bubbles.count() == int(d["tileClusters"])
    # the tiles hold what the server counts for the finder's filters (active stations)
    assert int(d["tileTotal"]) == _tile_total(_get, base, d["tileKeys"], "status=active")
    assert 0 < int(d["markers"]) <= int(d["tileTotal"])


def test_zooming_in_breaks_clusters_into_stations_with_popups(big_page):
    page, _asked, _base = big_page
    d = _data(page)
    for _ in range(8):
        if int(d["tileStations"]) > 0 and page.locator(".leaflet-marker-pane .sm-marker").count():
            break
        # the bubble nearest the map's middle (not under a control or a notice): a click zooms to where it splits
        box = _clickable(page, ".sm-tile-cluster")
        assert box is not None, "no cluster bubble in view"
        zoom = page.evaluate("() => stationmapFinder.state.map.getZoom()")
        version = int(d["tilesVersion"])
        page.mouse.click(box[0], box[1])
        d = _settle(page, version)
        assert page.evaluate("() => stationmapFinder.state.map.getZoom()") > zoom
    assert int(d["tileStations"]) > 0
    # over Amap (the default base map) the WGS-84 tiles' stations are drawn shifted to GCJ-02
    assert d["datum"] == "gcj02"
    drawn = page.evaluate("""() => Object.values(stationmapFinder.state.markerById).filter(m => m.fromTile && m._map)
        .map(m => [m.feature.geometry.coordinates, [m.getLatLng().lng, m.getLatLng().lat]])""")
    assert drawn
    for (lon, lat), shown in drawn:
        assert shown == pytest.approx(list(wgs84_to_gcj02(lon, lat)), abs=1e-9)
    box = _clickable(page, ".leaflet-marker-pane .sm-marker")
    assert box is not None, "no station marker in view"
    # the page's long tasks from the click on: the popup's autopan must not ask for the tiles again
    # in the same task, again and again (a loop once held the page for a minute)
    page.evaluate("""() => { window.__long = [];
        new PerformanceObserver(l => l.getEntries().forEach(e => window.__long.push(e.duration)))
          .observe({entryTypes: ['longtask']}); }""")
    page.mouse.click(box[0], box[1])
    popup = page.locator(".leaflet-popup .sm-popup")
    popup.wait_for()
    page.wait_for_function("() => !document.querySelector('.leaflet-popup .sm-popup .st-name')"
                           " || document.querySelector('.leaflet-popup .sm-popup .st-name').textContent !== '…'")
    assert popup.locator(".badge").count() == 1
    page.wait_for_timeout(500)
    assert max(page.evaluate("() => window.__long"), default=0) < 2000


def test_filter_chips_change_the_counts(big_page):
    page, _asked, base = big_page
    page.evaluate("() => stationmapFinder.state.map.setZoom(9)")
    d = _settle(page, 1)
    everything = int(d["tileTotal"])
    version = int(d["tilesVersion"])
    page.locator('[data-filter="kind"][data-value="hot_tea"]').click()
    d = _settle(page, version)
    hot_tea = int(d["tileTotal"])
    assert 0 < hot_tea < everything
    assert hot_tea == _tile_total(_get, base, d["tileKeys"], "status=active&kind=hot_tea")
    version = int(d["tilesVersion"])
    page.locator('[data-filter="open_now"]').click()
    d = _settle(page, version)
    open_hot_tea = int(d["tileTotal"])
    assert open_hot_tea <= hot_tea
    at = quote(FINDER_NOON.isoformat())
    assert open_hot_tea == _tile_total(_get, base, d["tileKeys"], f"status=active&kind=hot_tea&open_now=true&at={at}")


def test_the_nearest_list_still_works(big_page):
    page, _asked, _base = big_page
    page.evaluate(f"() => stationmapFinder.setPosition({HERE[1]}, {HERE[0]})")
    page.wait_for_function("() => document.querySelectorAll('#nearest-list li.station').length > 0")
    ids = page.evaluate("() => [...document.querySelectorAll('#nearest-list li.station')].map(li => li.dataset.id)")
    assert len(ids) >= 5
    assert int(_data(page)["listed"]) == len(ids)
    # a listed station's entry opens its popup on the map
    page.locator("#nearest-list li.station .st-facts").first.click()
    page.locator(".leaflet-popup .sm-popup").wait_for()
