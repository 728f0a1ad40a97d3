"""The finder page in real headless chromium, offline (tiles cannot load).

Checked against references computed here: the nearest stations by brute force
with pyproj.Geod, marker positions with stationmap.coords (GCJ-02 over Amap).
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from pyproj import Geod

from stationmap.config import DEFAULT_SPEEDS_KMH, DETOUR_FACTOR
from stationmap.coords import wgs84_to_gcj02
from stationmap.hours import open_at
from tests.browser.conftest import wait_map_still
from tests.support.webforms import FINDER_NOON

pytestmark = [pytest.mark.browser, pytest.mark.slow]

GEOD = Geod(ellps="WGS84")
#: screenshots are kept here (git ignores it)
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ROOT_DATA = "() => Object.assign({}, document.documentElement.dataset)"


def nearest_ids(stations, lon, lat, *, k=5, kinds=(), at=FINDER_NOON):
    """The finder's list by brute force: the k nearest open at ``at``, then the closed ones among
    the k nearest (``order=open_first``; one speed, so nearest is quickest)."""
    cand = [s for s in stations if s.status != "closed" and (not kinds or set(kinds) & set(s.kinds))]
    near = sorted(cand, key=lambda s: GEOD.inv(lon, lat, s.lon, s.lat)[2])
    return [s.id for s in [s for s in near if open_at(s, at)][:k] + [s for s in near[:k] if not open_at(s, at)]]


def shown_on_map(stations, *, kinds=()):
    """The finder draws active stations only (status=active in its marker query)."""
    return [s for s in stations if s.status == "active" and (not kinds or set(kinds) & set(s.kinds))]


def wait_js(page, expression):
    """Wait until the JavaScript ``expression`` is truthy (checked every 100 ms)."""
    page.wait_for_function(expression, polling=100)


def list_ids(page):
    return page.eval_on_selector_all("#nearest-list li", "els => els.map(e => e.dataset.id)")


def wait_list(page, version):
    wait_js(page, f"() => Number(document.documentElement.dataset.listVersion || 0) >= {version}")


def test_page_loads_offline_without_errors_and_draws_stations_and_boundaries(open_finder, web_stations):
    page, watch = open_finder("/")
    wait_js(page, "() => document.documentElement.dataset.stationsLoaded !== undefined")
    wait_js(page, "() => document.documentElement.dataset.boundaries !== undefined")
    wait_js(page, "() => document.documentElement.dataset.tiles === 'failed'")
    data = page.evaluate(ROOT_DATA)
    assert int(data["stationsLoaded"]) == len(shown_on_map(web_stations))
    assert int(data["boundaries"]) == 95  # Jiangsu's counties, drawn whatever the tiles do
    assert page.locator(".leaflet-overlay-pane path").count() >= 95
    # markers or clusters are on screen, and the offline notice is shown
    assert page.locator(".leaflet-marker-icon").count() > 0
    assert page.locator(".sm-notice").is_visible()
    # no geolocation answer (headless chromium leaves the permission prompt open): the
    # page says how to set a position instead, and shows no alert
    assert page.locator("#finder-status").text_content() in ("点击地图再点“设为我的位置”，或点定位按钮。", "正在定位……")
    assert page.locator("#nearest-list li").count() == 0
    assert page.locator(".sample-banner").is_visible()
    # mobile first: nothing wider than the 360 px screen
    assert page.evaluate("() => document.documentElement.scrollWidth") <= 360
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "finder-offline-360.png"), full_page=True)
    watch.assert_clean()


def test_geolocation_lists_the_nearest_stations_with_escaped_names(open_finder, web_stations, web_query_point,
                                                                    xss_name):
    lon, lat = web_query_point
    page, watch = open_finder("/", geolocation=(lon, lat))
    wait_list(page, 1)
    assert list_ids(page) == nearest_ids(web_stations, lon, lat)
    first = page.locator("#nearest-list li").first
    assert first.locator(".st-name").text_content() == xss_name
    # rendered as text: no element was made from the name
    assert page.locator('img[src="x"]').count() == 0
    # distance, minutes (e-bike is the default mode), open badge, services and nav buttons
    d = GEOD.inv(lon, lat, 119.96, 31.79)[2]
    # no road network here: the distance is the straight line, and says so (issue 20)
    assert first.locator(".dist").text_content() == f"直线距离 {round(d)} 米"
    assert first.locator(".dist-straight").count() == 0
    minutes = d * DETOUR_FACTOR / (DEFAULT_SPEEDS_KMH["ebike"] * 1000 / 60)
    assert first.locator(".mins").text_content() == f"约 {max(1, round(minutes))} 分钟"
    assert first.locator(".badge.open").count() == 1
    assert first.locator(".st-svc img").count() == 3  # water, toilet, microwave
    hrefs = first.locator(".st-nav a").evaluate_all("els => els.map(e => e.href)")
    assert [h.split("?")[0] for h in hrefs] == ["https://uri.amap.com/navigation", "https://api.map.baidu.com/direction",
                                                "https://maps.apple.com/"]
    assert page.evaluate(ROOT_DATA)["position"] == f"{lat:.6f},{lon:.6f}"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "finder-located-360.png"), full_page=True)
    watch.assert_clean()


def test_filter_chip_changes_the_list_and_the_markers(open_finder, web_stations, web_query_point):
    lon, lat = web_query_point
    page, watch = open_finder(f"/?lat={lat}&lon={lon}")
    wait_list(page, 1)
    wait_js(page, "() => document.documentElement.dataset.stationsLoaded !== undefined")
    before = list_ids(page)
    page.click('[data-filter="kind"][data-value="hot_tea"]')
    wait_list(page, 2)
    after = list_ids(page)
    assert after == nearest_ids(web_stations, lon, lat, kinds=("hot_tea",)) != before
    assert page.get_attribute('[data-filter="kind"][data-value="hot_tea"]', "aria-pressed") == "true"
    assert int(page.evaluate(ROOT_DATA)["markers"]) == len(shown_on_map(web_stations, kinds=("hot_tea",)))
    # and off again
    page.click('[data-filter="kind"][data-value="hot_tea"]')
    wait_list(page, 3)
    assert list_ids(page) == before
    assert int(page.evaluate(ROOT_DATA)["markers"]) == len(shown_on_map(web_stations))
    # the mode changes the minutes (and keeps the order)
    page.click('[data-mode="walk"]')
    wait_list(page, 4)
    assert list_ids(page) == before
    d = GEOD.inv(lon, lat, 119.96, 31.79)[2]
    walk = d * DETOUR_FACTOR / (DEFAULT_SPEEDS_KMH["walk"] * 1000 / 60)
    assert page.locator("#nearest-list li .mins").first.text_content() == f"约 {max(1, round(walk))} 分钟"
    watch.assert_clean()


def test_language_switch(open_finder, web_query_point):
    lon, lat = web_query_point
    page, watch = open_finder(f"/?lat={lat}&lon={lon}")
    wait_list(page, 1)
    assert page.locator("#results-title").text_content() == "最近的站点"
    with page.expect_navigation():  # the link loads a new page: wait for it before asking the new one
        page.click("nav.lang a")
    wait_js(page, "() => document.documentElement.lang === 'en'")
    assert page.locator("#results-title").text_content() == "Nearest stations"
    assert "Rest station" in page.locator('[data-filter="kind"][data-value="rest"]').text_content()
    assert page.locator('[data-mode="ebike"]').text_content() == "E-bike"
    # the script's strings are English too; the cookie keeps English on the next page
    page.goto(page.url.split("?")[0] + f"?lat={lat}&lon={lon}")
    wait_list(page, 1)
    assert page.locator("#nearest-list .badge").first.text_content() in ("Open", "Closed now")
    assert page.locator("#nearest-list .st-nav a").first.text_content() == "Amap"
    watch.assert_clean()


def test_markers_shift_to_gcj02_over_amap_and_back_over_osm(open_finder, web_stations):
    page, watch = open_finder("/")
    wait_js(page, "() => document.documentElement.dataset.stationsLoaded !== undefined")
    assert page.evaluate(ROOT_DATA)["datum"] == "gcj02"  # Amap is the default base map
    xss = next(s for s in web_stations if s.id == "xss")
    ll = page.evaluate("() => { const m = stationmapFinder.state.markerById['xss'].getLatLng(); return [m.lng, m.lat]; }")
    assert ll == pytest.approx(list(wgs84_to_gcj02(xss.lon, xss.lat)), abs=1e-9)
    # a point picked on the Amap map ("set my position here") is taken back to WGS-84 (the inverse of the shift)
    picked = page.evaluate("() => { const m = stationmapFinder.state.map, ll = m.containerPointToLatLng([180, 120]);"
                           " return [ll.lng, ll.lat, ll.lat - m.containerPointToLatLng([180, 121]).lat]; }")
    one_px = picked.pop()
    page.click(".folium-map", position={"x": 180, "y": 120})
    wait_map_still(page)  # the offer's auto-pan (a click aimed during it lands beside the button)
    page.click(".sm-setpos-btn")
    wait_js(page, "() => document.documentElement.dataset.listVersion === '1'")
    pos = page.evaluate("() => [stationmapFinder.state.pos.lon, stationmapFinder.state.pos.lat]")
    glon, glat = wgs84_to_gcj02(*pos)
    # the clicked pixel's point, to within a pixel (Playwright's click may land between pixels)
    assert [glon, glat] == pytest.approx(picked, abs=one_px)
    shift_m = GEOD.inv(pos[0], pos[1], glon, glat)[2]
    assert 200 < shift_m < 1200  # and the shift was undone: WGS-84 is 300-700 m from GCJ-02
    # switch to OpenStreetMap (WGS-84) with the layer control
    page.hover(".leaflet-control-layers")
    page.get_by_label("OpenStreetMap").check()
    wait_js(page, "() => document.documentElement.dataset.datum === 'wgs84'")
    ll = page.evaluate("() => { const m = stationmapFinder.state.markerById['xss'].getLatLng(); return [m.lng, m.lat]; }")
    assert ll == pytest.approx([xss.lon, xss.lat], abs=1e-12)
    watch.assert_clean()


def test_popup_and_tooltip_render_names_as_text(open_finder, xss_name):
    page, watch = open_finder("/")
    wait_js(page, "() => document.documentElement.dataset.stationsLoaded !== undefined")
    # zoom in past the clustering (no animation), then open the marker's tooltip and popup
    page.evaluate("""() => { const S = stationmapFinder.state, m = S.markerById['xss'];
        S.map.setView(m.getLatLng(), 18, {animate: false}); }""")
    wait_js(page, "() => !!stationmapFinder.state.markerById['xss']._map")
    # a real hover and click on the marker (popups and tooltips are bound on first use)
    # wait for the icon to end its cluster-to-marker animation (CSS transition) at its point
    icon_at_point = """() => { const S = stationmapFinder.state, m = S.markerById['xss'];
        const p = S.map.latLngToContainerPoint(m.getLatLng()), c = S.map.getContainer().getBoundingClientRect();
        const r = m._icon.getBoundingClientRect();
        return Math.abs(r.x + r.width / 2 - (c.x + p.x)) < 1 && Math.abs(r.y + 32 - (c.y + p.y)) < 1; }"""
    wait_js(page, icon_at_point)
    box = page.evaluate("() => { const r = stationmapFinder.state.markerById['xss']._icon.getBoundingClientRect();"
                        " return [r.x + r.width / 2, r.y + r.height / 2]; }")
    page.mouse.move(*box)
    # the name is fetched from /api/v1/stations/xss when the tooltip opens ('…' until then);
    # read it before the click, whose popup may pan the map and close the tooltip
    wait_js(page, "() => document.querySelector('.leaflet-tooltip') && "
                  "document.querySelector('.leaflet-tooltip').textContent !== '…'")
    assert page.locator(".leaflet-tooltip").text_content() == xss_name
    page.mouse.click(*box)
    # the popup's name and nav links come from the same (cached) answer
    page.wait_for_selector(".sm-popup .st-nav a")
    assert page.locator(".sm-popup .st-name").text_content() == xss_name
    assert page.locator('img[src="x"]').count() == 0
    watch.assert_clean()


def test_station_page_renders_the_name_as_text(open_finder, xss_name):
    page, watch = open_finder("/station/xss")
    assert page.locator(".station-name").text_content() == xss_name
    assert page.locator('img[src="x"]').count() == 0
    assert page.locator(".nav-buttons a").count() == 3
    watch.assert_clean()


def test_isochrone_polygon_replaces_the_circle_inside_sip_shifted_over_amap(open_finder, finder_app):
    lon, lat = 120.72, 31.32  # inside the SIP road network
    page, watch = open_finder(f"/?lat={lat}&lon={lon}")
    wait_js(page, "() => document.documentElement.dataset.reach === 'network'")
    assert page.evaluate(ROOT_DATA)["datum"] == "gcj02"
    assert page.locator(".leaflet-overlay-pane path.sm-reach-area").count() >= 1
    # the drawn polygon is the API's isochrone moved to GCJ-02 (vertex by vertex)
    drawn = page.evaluate("""() => { const out = [];
        stationmapFinder.state.posLayer.eachLayer(l => { if (l.eachLayer) l.eachLayer(p => {
            const ll = p.getLatLngs(); const ring = Array.isArray(ll[0][0]) ? ll[0][0] : ll[0];
            ring.forEach(q => out.push([q.lng, q.lat])); }); });
        return out; }""")
    mode = page.evaluate("() => stationmapFinder.state.mode")
    body = finder_app.test_client().get(f"/api/v1/reach?lat={lat}&lon={lon}&mode={mode}&minutes=15").get_json()
    geom = body["features"][0]["geometry"]
    ring = geom["coordinates"][0] if geom["type"] == "Polygon" else geom["coordinates"][0][0]
    want = [list(wgs84_to_gcj02(x, y)) for x, y in ring[:-1]]
    assert len(drawn) == len(want) > 10
    assert max(abs(a - b) for p, q in zip(drawn, want) for a, b in zip(p, q)) < 1e-7
    watch.assert_clean()


def test_circle_stays_where_no_network_covers_the_position(open_finder, web_query_point):
    page, watch = open_finder(f"/?lat={web_query_point[1]}&lon={web_query_point[0]}")
    wait_js(page, "() => document.documentElement.dataset.reach === 'circle'")
    assert page.locator(".leaflet-overlay-pane path.sm-reach-area").count() == 0
    assert page.evaluate("() => { let n = 0; stationmapFinder.state.posLayer.eachLayer(l => { "
                         "if (l instanceof L.Circle) n++; }); return n; }") == 1
    watch.assert_clean()


def test_at_dawn_open_stations_come_first_and_closed_ones_say_when_they_open(open_finder, finder_clock,
                                                                             web_stations, web_query_point):
    """06:30 on a Monday: the nearest stations are mostly shut; the list puts the open ones first and
    the closed ones after them, greyed, each with its opening time in words (issue 15)."""
    from datetime import datetime

    from stationmap.hours import TZ, when

    lon, lat = web_query_point
    dawn = datetime(2026, 12, 7, 6, 30, tzinfo=TZ)
    finder_clock.at = dawn
    try:
        page, watch = open_finder(f"/?lat={lat}&lon={lon}")
        wait_list(page, 1)
        expected = nearest_ids(web_stations, lon, lat, at=dawn)
        assert list_ids(page) == expected
        opened = page.eval_on_selector_all("#nearest-list li", "els => els.map(e => e.dataset.open)")
        n_open = opened.count("1")
        assert 0 < n_open < len(opened) and opened == ["1"] * n_open + ["0"] * (len(opened) - n_open)
        by_id = {s.id: s for s in web_stations}
        for li_id, text in zip(expected, page.locator("#nearest-list li .when").all_text_contents()):
            w = when(by_id[li_id], dawn)
            if w.open_now:
                assert text == (f"营业至 {w.closes_at:%H:%M}" if w.closes_at and w.closes_at.date() == dawn.date()
                                else text if w.closes_at else "24 小时营业"), (li_id, text)
            elif w.opens_at is not None and w.opens_at.date() == dawn.date():
                assert text == f"{w.opens_at:%H:%M} 开门", (li_id, text)
            else:
                assert text.endswith("开门") or text.endswith("开放") or text.startswith("暂停开放"), (li_id, text)
        assert page.locator("#nearest-list li.shut").count() == len(opened) - n_open
        # the "open now" chip narrows to the open ones
        page.click('[data-filter="open_now"]')
        wait_list(page, 2)
        assert list_ids(page) == expected[:n_open]
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "finder-dawn-360.png"), full_page=True)
        watch.assert_clean()
    finally:
        finder_clock.at = FINDER_NOON


#: where each filter chip is at 390 px: fully in the viewport, else whether its own strip scrolls
#: sideways *visibly* (a scrollbar shown) and, scrolled to it, shows it whole; and the page's own width
_CHIPS_AT_390 = """() => {
  const vw = document.documentElement.clientWidth;
  const inside = (r, box) => r.left >= box.left - 0.5 && r.right <= box.right + 0.5;
  const out = {vw, pageWidth: document.documentElement.scrollWidth, bad: [], chips: 0};
  for (const strip of document.querySelectorAll('.filters .chips')) {
    const cs = getComputedStyle(strip);
    const scrolls = strip.scrollWidth > strip.clientWidth + 0.5 && ['auto', 'scroll'].includes(cs.overflowX);
    const bar = strip.offsetHeight - strip.clientHeight - parseFloat(cs.borderTopWidth) - parseFloat(cs.borderBottomWidth);
    for (const chip of strip.querySelectorAll('.chip')) {
      out.chips += 1;
      if (inside(chip.getBoundingClientRect(), {left: 0, right: vw})) continue;
      let reached = false;
      if (scrolls && bar > 0) {
        chip.scrollIntoView({block: 'nearest', inline: 'nearest'});
        const r = chip.getBoundingClientRect();
        reached = inside(r, strip.getBoundingClientRect()) && inside(r, {left: 0, right: vw});
        strip.scrollLeft = 0;
      }
      if (!reached) out.bad.push(chip.textContent.trim());
    }
  }
  return out;
}"""


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_filter_chip_can_be_seen_at_390_px(open_finder, lang):
    """Issue 20: at 390 px the last chips were cut off by the screen's edge, in a strip whose
    scrollbar was hidden: nothing said there were more."""
    page, watch = open_finder(f"/?lang={lang}", width=390, height=844)
    wait_js(page, "() => document.documentElement.dataset.stationsLoaded !== undefined")
    got = page.evaluate(_CHIPS_AT_390)
    assert got["chips"] >= 13  # kinds, open now and the key services, modes
    assert got["bad"] == [], f"chips cut off at 390 px: {got['bad']}"
    assert got["pageWidth"] <= got["vw"], "the page itself scrolls sideways"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"finder-chips-390-{lang}.png"))
    watch.assert_clean()


#: a point of the map's own surface (no marker, control, popup or cluster) in the lower part of the map
_BARE_MAP_POINT = """() => {
  const map = stationmapFinder.state.map, box = map.getContainer().getBoundingClientRect();
  for (let y = Math.round(box.bottom) - 60; y > box.top + 120; y -= 13) {
    for (let x = Math.round(box.left) + 60; x < box.right - 60; x += 17) {
      const e = document.elementFromPoint(x, y);
      if (e && map.getContainer().contains(e) && !e.closest('.leaflet-marker-icon, .leaflet-control, .leaflet-popup')
          && !e.closest('.leaflet-interactive')) return [x, y];
    }
  }
  return null;
}"""


def _position(page):
    return page.evaluate("() => document.documentElement.dataset.position")


def test_a_tap_that_closes_a_popup_keeps_my_position(open_finder, web_query_point):
    """Issue 20: tapping the map to close a station's popup moved "my position" there. The position
    moves only by a deliberate act: "set my position here", a long press, or dragging its marker."""
    lon, lat = web_query_point
    page, watch = open_finder(f"/?lat={lat}&lon={lon}", width=390, height=740)
    wait_list(page, 1)
    wait_js(page, "() => document.documentElement.dataset.stationsLoaded !== undefined")
    start = _position(page)
    assert start == f"{lat:.6f},{lon:.6f}"
    # open a station's popup from the list, then tap the map elsewhere to close it
    page.locator("#nearest-list li .when").first.click()
    page.wait_for_selector(".sm-popup .st-nav a")
    page.wait_for_timeout(400)  # the popup's pan, if any
    wait_map_still(page)
    x, y = page.evaluate(_BARE_MAP_POINT)
    page.mouse.click(x, y)
    page.wait_for_timeout(500)
    assert page.locator(".sm-popup").count() == 0  # the popup closed
    assert page.locator(".sm-setpos-btn").count() == 0  # and nothing else opened
    assert _position(page) == start
    assert page.evaluate("() => document.documentElement.dataset.listVersion") == "1"
    # a tap with nothing open offers "set my position here"; the offer alone moves nothing
    x, y = page.evaluate(_BARE_MAP_POINT)
    picked = page.evaluate(f"""() => {{ const F = stationmapFinder, S = F.state;
        const r = S.map.getContainer().getBoundingClientRect(), c = [{x} - r.left, {y} - r.top];
        const w = F.fromDisp(S.map.containerPointToLatLng(c));
        return [w.lon, w.lat, w.lat - F.fromDisp(S.map.containerPointToLatLng([c[0], c[1] + 1])).lat]; }}""")
    one_px = picked.pop()
    page.mouse.click(x, y)
    btn = page.locator(".sm-setpos-btn")
    assert btn.text_content() == "设为我的位置"
    assert _position(page) == start
    wait_map_still(page)  # the offer's auto-pan
    btn.click()
    wait_list(page, 2)
    got = [float(v) for v in _position(page).split(",")]
    assert got == pytest.approx([picked[1], picked[0]], abs=one_px)  # the tapped point, to within a pixel
    page.wait_for_selector(".sm-setpos-btn", state="detached")  # the offer closed (after its fade)
    # a long press (contextmenu) moves it at once
    x, y = page.evaluate(_BARE_MAP_POINT)
    before = _position(page)
    page.mouse.click(x, y, button="right")
    wait_list(page, 3)
    assert _position(page) != before
    # dragging the position marker moves it
    before = _position(page)
    icon = page.locator(".sm-pos-icon").bounding_box()
    cx, cy = icon["x"] + icon["width"] / 2, icon["y"] + icon["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    for i in range(1, 11):
        page.mouse.move(cx + 4 * i, cy + 3 * i)
    page.mouse.up()
    wait_list(page, 4)
    assert _position(page) != before
    watch.assert_clean()


#: the open popup's box, the map's, and every visible map control's (viewport pixels)
_POPUP_AND_CONTROLS = """() => {
  const box = e => { const r = e.getBoundingClientRect(); return {l: r.left, t: r.top, r: r.right, b: r.bottom}; };
  const popup = document.querySelector('.leaflet-popup');
  const controls = [...document.querySelectorAll('.leaflet-control')]
    .filter(c => c.offsetWidth && c.offsetHeight && getComputedStyle(c).display !== 'none')
    .map(c => [c.className, box(c)]);
  return {popup: popup && box(popup), map: box(stationmapFinder.state.map.getContainer()), controls,
          vw: document.documentElement.clientWidth, vh: window.innerHeight};
}"""


def _stable_popup(page):
    """The popup's box once it has stopped moving (autoPan animates)."""
    last = None
    for _ in range(40):
        got = page.evaluate(_POPUP_AND_CONTROLS)
        if got["popup"] is not None and got == last:
            return got
        last = got
        page.wait_for_timeout(100)
    raise AssertionError(f"the popup did not settle: {last}")


@pytest.mark.parametrize("corner_x", [30, 195, 360])
def test_a_popup_opens_fully_visible_clear_of_the_controls_at_390_px(open_finder, web_query_point, corner_x):
    """Issue 20: at 390 px a marker near the map's top edge opened its popup under the zoom,
    locate and layer controls (and off the map). It opens panned into view, clear of every control."""
    lon, lat = web_query_point
    page, watch = open_finder(f"/?lat={lat}&lon={lon}", width=390, height=740)
    wait_list(page, 1)
    sid = list_ids(page)[0]
    # put the station's marker at the top edge of the map, under the controls
    page.evaluate(f"""() => {{ const S = stationmapFinder.state, m = S.listed['{sid}'] || S.markerById['{sid}'];
        const p = S.map.latLngToContainerPoint(m.getLatLng());
        S.map.panBy([p.x - {corner_x}, p.y - 12], {{animate: false}}); }}""")
    page.evaluate(f"() => stationmapFinder.openPopup('{sid}')")
    page.wait_for_selector(".sm-popup .st-nav a")  # the popup at its full size (name, hours, links)
    got = _stable_popup(page)
    p, mp = got["popup"], got["map"]
    assert p["l"] >= 0 and p["r"] <= got["vw"] and p["t"] >= 0 and p["b"] <= got["vh"], got
    assert mp["l"] <= p["l"] and p["r"] <= mp["r"] and mp["t"] <= p["t"] and p["b"] <= mp["b"], got
    assert len(got["controls"]) >= 3  # zoom, locate, layers (and the scale, attribution, offline notice)
    for name, c in got["controls"]:
        overlap = min(p["r"], c["r"]) - max(p["l"], c["l"]) > 0 and min(p["b"], c["b"]) - max(p["t"], c["t"]) > 0
        assert not overlap, (name, c, p)
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"finder-popup-390-{corner_x}.png"))
    watch.assert_clean()


@pytest.mark.parametrize(("width", "height"), [(390, 740), (1280, 800)])
def test_every_station_the_list_names_is_a_marker_on_screen_at_first_paint(open_finder, web_stations,
                                                                             web_query_point, width, height):
    """Issue 20: the list named stations the map had clustered away or left out of view."""
    from tests.support.mapview import listed_off_map

    lon, lat = web_query_point
    page, watch = open_finder(f"/?lat={lat}&lon={lon}", width=width, height=height)
    wait_list(page, 1)
    wait_js(page, "() => document.documentElement.dataset.stationsLoaded !== undefined")
    ids, missing = listed_off_map(page)
    assert ids == nearest_ids(web_stations, lon, lat) and len(ids) >= 5
    assert missing == []
    # the kind filter changes the list: the new list's stations are drawn, the old ones rejoin the clusters
    page.click('[data-filter="kind"][data-value="hot_tea"]')
    wait_list(page, 2)
    ids2, missing = listed_off_map(page)
    assert ids2 == nearest_ids(web_stations, lon, lat, kinds=("hot_tea",)) and missing == []
    assert int(page.evaluate(ROOT_DATA)["markers"]) == len(shown_on_map(web_stations, kinds=("hot_tea",)))
    # a listed station's marker opens its popup like any other
    page.locator(f'.leaflet-marker-icon[data-id="{ids2[0]}"]').click()
    page.wait_for_selector(".sm-popup .st-nav a")
    watch.assert_clean()


@pytest.fixture(scope="module")
def sip_url(tmp_path_factory, web_stations_builder, finder_clock):
    """A finder whose stations include three inside SIP's road network (the shared one has none there)."""
    from stationmap.model import Station
    from stationmap.web import api
    from tests.support.webforms import live_server, make_app

    sip = [Station(id=f"sip-{i}", name=f"园区驿站{i}", lon=lon, lat=lat, kinds=("rest",), services=("toilet",),
                   adcode="320571", opening_hours="24/7", source="test")
           for i, (lon, lat) in enumerate([(120.7260, 31.3235), (120.7105, 31.3150), (120.7330, 31.3290)])]
    app = make_app(tmp_path_factory.mktemp("finder-sip"), [*web_stations_builder(), *sip])
    with pytest.MonkeyPatch.context() as mp, live_server(app) as base:
        mp.setattr(api, "now", finder_clock.now)
        yield base, app


@pytest.mark.parametrize(("lang", "roads", "straight"), [("zh", "路网距离 ", "直线距离 "),
                                                          ("en", " along the roads", " in a straight line")])
def test_each_distance_says_whether_it_is_along_the_roads_or_the_straight_line(chromium, sip_url, lang,
                                                                               roads, straight):
    """Issue 20: the list and the reach area gave different distances for one station and point, with
    no word why. Inside SIP's road network the list shows both, each named."""
    from tests.browser.conftest import Watch

    base, app = sip_url
    lon, lat = 120.72, 31.32  # inside the SIP road network
    ctx = chromium.new_context(viewport={"width": 390, "height": 740}, locale="zh-CN")
    try:
        page = ctx.new_page()
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(base)
                   else route.abort("internetdisconnected"))
        watch = Watch(page, base)
        page.goto(f"{base}/?lat={lat}&lon={lon}&lang={lang}")
        wait_list(page, 1)
        asked = page.evaluate("() => document.querySelector('#nearest-list').dataset.query")
        body = app.test_client().get(f"/api/v1/nearest?{asked}").get_json()
        assert body["reach"]["method"] == "network"

        def words(m, label):  # as finder.js formats: Math.round (half up) metres, km to 0.1 below 10 km
            km, metres = f"{m / 1000:.{1 if m < 10000 else 0}f}", math.floor(m + 0.5)
            if lang == "en":
                return (f"{metres} m" if m < 1000 else f"{km} km") + label
            return label + (f"{metres} 米" if m < 1000 else f"{km} 公里")

        dists = page.locator("#nearest-list li .dist").all_text_contents()
        straights = page.locator("#nearest-list li .dist-straight").all_text_contents()
        feats = body["features"]
        assert len(dists) == len(straights) == len(feats) > 0
        assert dists == [words(f["properties"]["distance_m"], roads) for f in feats]
        assert straights == [words(f["properties"]["straight_m"], straight) for f in feats]
        assert any(f["properties"]["distance_m"] != f["properties"]["straight_m"] for f in feats)
        watch.assert_clean()
    finally:
        ctx.close()


#: markers (stations or clusters) whose icon's centre is inside the map and the viewport
MARKERS_IN_VIEW = """() => {
  const map = document.querySelector('.leaflet-container').getBoundingClientRect();
  return [...document.querySelectorAll('.leaflet-marker-icon')].filter(e => {
    const r = e.getBoundingClientRect(), cx = (r.left + r.right) / 2, cy = (r.top + r.bottom) / 2;
    return r.width > 0 && cx >= map.left && cx <= map.right && cy >= map.top && cy <= map.bottom
      && cy <= window.innerHeight;
  }).length;
}"""


@pytest.fixture(scope="module")
def two_cities_url(tmp_path_factory, finder_clock):
    """Stations in two cities whose per-axis median (Suzhou's longitude, Nanjing's latitude) is an
    empty field north of the Yangtze: where the finder opened before issue 20."""
    from stationmap.model import Station
    from stationmap.web import api
    from tests.support.webforms import live_server, make_app

    suzhou = [Station(id=f"sz-{i}", name=f"苏州驿站{i}", lon=120.620 + 0.001 * (i % 5), lat=31.300 + 0.001 * (i // 5),
                      kinds=("rest",), adcode="320508", opening_hours="24/7", source="test") for i in range(20)]
    nanjing = [Station(id=f"nj-{i}", name=f"南京驿站{i}", lon=118.70 + 0.02 * (i % 5), lat=32.00 + 0.02 * (i // 5),
                       kinds=("rest",), adcode="320106", opening_hours="24/7", source="test") for i in range(20)]
    app = make_app(tmp_path_factory.mktemp("finder-two-cities"), [*suzhou, *nanjing])
    with pytest.MonkeyPatch.context() as mp, live_server(app) as base:
        mp.setattr(api, "now", finder_clock.now)
        yield base


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_without_geolocation_the_map_opens_on_stations_and_says_the_position_is_unknown(chromium, two_cities_url,
                                                                                       lang):
    """Issue 20: with no position (geolocation not granted) the finder opened on an empty area."""
    from tests.browser.conftest import Watch

    ctx = chromium.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN" if lang == "zh" else "en-GB",
                               permissions=[])
    try:
        page = ctx.new_page()
        page.set_default_timeout(15_000)
        page.route("**/*", lambda route: route.continue_() if route.request.url.startswith(two_cities_url)
                   else route.abort("internetdisconnected"))
        watch = Watch(page, two_cities_url)
        page.goto(f"{two_cities_url}/?lang={lang}")
        wait_js(page, "() => document.documentElement.dataset.stationsLoaded !== undefined")
        assert page.evaluate(MARKERS_IN_VIEW) > 0  # stations on screen at first paint, before any pan
        box = page.locator(".sm-nopos")
        assert box.is_visible()
        unknown, button = ("您的位置未知", "设置我的位置") if lang == "zh" else ("Your position is unknown",
                                                                          "Set my position")
        assert unknown in box.text_content()
        btn = box.locator("button.sm-nopos-btn")
        assert btn.is_visible() and btn.text_content() == button
        # the button opens the deliberate "set my position here" control at the map's centre
        btn.click()
        wait_map_still(page)
        page.locator(".sm-setpos-btn").click()
        wait_list(page, 1)
        assert page.evaluate(ROOT_DATA)["positionKnown"] == "true"
        assert page.locator(".sm-nopos").count() == 0
        lat, lon = (float(v) for v in page.evaluate(ROOT_DATA)["position"].split(","))
        assert GEOD.inv(lon, lat, 120.622, 31.302)[2] < 3_000  # the densest cell: Suzhou's tight group
        watch.assert_clean()
    finally:
        ctx.close()


def test_list_and_popup_say_how_fresh_a_station_is(open_finder, finder_app, web_query_point):
    """Issue 18: the list and the popup say when and how a station was last confirmed, and its open
    problems, from the API's freshness (the words of stationmap.reports.Freshness)."""
    from datetime import datetime, timedelta, timezone

    from stationmap import reports

    store = finder_app.extensions["stationmap"].store
    reports.add_report(store, "xss", "open_ok", at=datetime.now(timezone.utc) - timedelta(days=3))
    item = reports.add_report(store, "xss", "locked")
    try:
        lon, lat = web_query_point
        page, watch = open_finder(f"/?lat={lat}&lon={lon}")
        wait_list(page, 1)
        first = page.locator("#nearest-list li").first
        assert first.get_attribute("data-id") == "xss"
        assert first.locator(".st-fresh").text_content() == "3 天前骑手确认正常 · 有 1 个待处理的问题反馈"
        assert first.locator(".st-fresh.has-problems .st-problems").count() == 1
        page.evaluate("""() => { const S = stationmapFinder.state, m = S.listed['xss'] || S.markerById['xss'];
            S.map.setView(m.getLatLng(), 18, {animate: false}); stationmapFinder.openPopup('xss'); }""")
        page.wait_for_selector(".sm-popup .st-fresh")
        assert page.locator(".sm-popup .st-fresh").text_content() == "3 天前骑手确认正常 · 有 1 个待处理的问题反馈"
        watch.assert_clean()
    finally:
        reports.resolve_report(store, item.id, user="test", resolution="not_a_problem")
