"""Embeds in real headless chromium: framing allowed and refused, the builder's snippet,
escaped station names, and the static export opened from file://.

No internet: base-map tiles fail to load, the stations and boundaries still draw.
Waits are functions (``"() => ..."``): Playwright polls a bare expression with ``eval``,
which the pages' Content-Security-Policy refuses (no 'unsafe-eval').
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from pyproj import Geod

from tests.support.webforms import free_port, live_server, make_app, serve_pages

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DISTRICT = "320402"  # holds the XSS station of build_web_stations


@pytest.fixture(scope="module")
def ports():
    return {"allowed": free_port(), "other": free_port()}


@pytest.fixture(scope="module")
def app(tmp_path_factory, web_stations_builder, ports):
    return make_app(tmp_path_factory.mktemp("embed-browser"), web_stations_builder(),
                    embed_origins={DISTRICT: [f"http://127.0.0.1:{ports['allowed']}"]})


@pytest.fixture(scope="module")
def site(app):
    with live_server(app) as base:
        yield base


@pytest.fixture(scope="module")
def pages():
    return {}


@pytest.fixture(scope="module")
def allowed(pages, ports):
    """The parent site on the origin the district's allowlist names."""
    with serve_pages(ports["allowed"], pages) as base:
        yield base


@pytest.fixture(scope="module")
def other(pages, ports):
    """A parent site on an origin the allowlist does not name."""
    with serve_pages(ports["other"], pages) as base:
        yield base


@pytest.fixture
def page(chromium):
    ctx = chromium.new_context(viewport={"width": 1000, "height": 700})
    pg = ctx.new_page()
    pg.dialogs = []
    pg.errors = []
    pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
    pg.on("pageerror", lambda e: pg.errors.append(str(e)))
    yield pg
    ctx.close()


def _frame(page, prefix, *, tries=100):
    """The page's frame whose URL starts with ``prefix``, waited for (0.1 s a try); None if none comes."""
    for _ in range(tries):
        for f in page.frames:
            if f.url.startswith(prefix):
                return f
        page.wait_for_timeout(100)
    return None


def _scope(stations, *, kinds=(), statuses=("active",)):
    """Ids the district's embed shows (issue 20): its own stations and its neighbours' within reach
    (:mod:`stationmap.scope`), of ``statuses`` and ``kinds``; the neighbours' ids."""
    from stationmap import config, scope
    from stationmap.districts import load_districts

    settings = config.load()
    districts = load_districts(settings)
    d = districts.get(DISTRICT)
    sc = scope.district_scope(stations, d, DISTRICT, scope.district_shape(districts, d), scope.reach_m(settings))
    ok = [s for s in sc.stations() if s.status in statuses and (not kinds or set(kinds) & set(s.kinds))]
    return sorted(s.id for s in ok), {s.id for s in ok} & sc.neighbour_ids


def _active(stations, *, kinds=()):
    return _scope(stations, kinds=kinds)[0]


def _iframe_page(src, **attrs):
    extra = " ".join(f'{k}="{v}"' for k, v in attrs.items())
    return f'<!doctype html><html><body><h1>区总工会</h1><iframe id="m" src="{src}" width="900" height="560" {extra}></iframe></body></html>'


def test_embed_renders_in_an_allowed_parent(page, site, allowed, pages, web_stations):
    pages["/ok.html"] = _iframe_page(f"{site}/embed/{DISTRICT}")
    page.goto(f"{allowed}/ok.html")
    page.wait_for_function("() => document.querySelector('#m').contentWindow !== null")
    frame = _frame(page, f"{site}/embed/", tries=50)
    assert frame is not None
    frame.wait_for_function("() => document.documentElement.dataset.embed === 'ready'"
                            " && document.documentElement.dataset.stationsLoaded !== undefined", timeout=15000)
    want = _active(web_stations)
    assert int(frame.evaluate("document.documentElement.dataset.markers")) == len(want)
    ids = frame.eval_on_selector_all("#nearest-list li", "els => els.map(e => e.dataset.id)")
    assert sorted(ids) == want
    assert frame.evaluate("stationmapFinder.state.map.scrollWheelZoom.enabled()") is False
    assert not page.errors and not page.dialogs


def test_embed_is_refused_in_another_parent(page, site, other, pages):
    pages["/other.html"] = _iframe_page(f"{site}/embed/{DISTRICT}")
    served = []
    page.on("response", lambda r: served.append(r) if r.url.startswith(f"{site}/embed/") else None)
    page.goto(f"{other}/other.html")
    page.wait_for_timeout(2500)
    # the server answered; the browser refused to show it here
    assert served and served[0].status == 200
    assert other not in served[0].headers["content-security-policy"]
    frames = [f for f in page.frames if f != page.main_frame]
    assert len(frames) == 1
    frame = frames[0]
    assert not frame.url.startswith(site)  # chromium replaced the refused document with an error page
    assert frame.evaluate("document.documentElement.dataset.embed || ''") == ""


def test_other_pages_refuse_framing_even_in_the_allowed_parent(page, site, allowed, pages):
    pages["/login.html"] = _iframe_page(f"{site}/login")
    page.goto(f"{allowed}/login.html")
    page.wait_for_timeout(2000)
    frame = [f for f in page.frames if f != page.main_frame][0]
    assert not frame.url.startswith(site)
    assert frame.evaluate("document.querySelector('input[name=password]') === null")


def test_builder_snippet_works(chromium, site, allowed, pages, web_stations):
    ctx = chromium.new_context(viewport={"width": 1200, "height": 900})
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=site)
    page = ctx.new_page()
    try:
        page.goto(f"{site}/embed?adcode={DISTRICT}")
        page.check('input[name="kind"][value="rest"]')
        page.uncheck("#b-list")
        page.wait_for_function("() => document.querySelector('#b-snippet').value.includes('list=0')")
        preview = _frame(page, f"{site}/embed/{DISTRICT}?kind=rest")
        assert preview is not None  # the live preview follows the form
        preview.wait_for_function("() => document.documentElement.dataset.stationsLoaded !== undefined", timeout=15000)
        page.click("#b-copy")
        page.wait_for_function("() => document.querySelector('#b-copied').textContent !== ''")
        snippet = page.input_value("#b-snippet")
        assert page.evaluate("navigator.clipboard.readText()") == snippet
        assert snippet.startswith(f'<iframe src="{site}/embed/{DISTRICT}?kind=rest&amp;list=0"')
        # the snippet, pasted into the union's own page, shows the map with the presets
        pages["/snippet.html"] = f"<!doctype html><html><body><p>我们的驿站</p>{snippet}</body></html>"
        page.goto(f"{allowed}/snippet.html")
        frame = _frame(page, f"{site}/embed/")
        frame.wait_for_function("() => document.documentElement.dataset.stationsLoaded !== undefined", timeout=15000)
        want = _active(web_stations, kinds=("rest",))
        assert int(frame.evaluate("document.documentElement.dataset.markers")) == len(want)
        assert frame.evaluate("document.querySelector('.embed-list').hidden") is True
        assert frame.evaluate("Object.keys(stationmapFinder.state.filters.kind)") == ["rest"]
    finally:
        ctx.close()


def _check_xss(frame, xss_name, page):
    """The XSS station's name shows as text in the list and in its popup; nothing ran."""
    btn = frame.locator("#nearest-list li[data-id='xss'] button")
    assert btn.text_content() == xss_name
    btn.click()
    frame.wait_for_selector(".sm-popup .st-name", timeout=10000)
    assert frame.text_content(".sm-popup .st-name") == xss_name
    assert frame.evaluate("document.querySelectorAll('img[src=\"x\"]').length") == 0
    page.wait_for_timeout(300)
    assert page.dialogs == []


def test_xss_station_renders_as_text_in_the_embed(page, site, allowed, pages, xss_name):
    pages["/xss.html"] = _iframe_page(f"{site}/embed/{DISTRICT}")
    page.goto(f"{allowed}/xss.html")
    frame = _frame(page, f"{site}/embed/")
    frame.wait_for_function("() => document.documentElement.dataset.embedList !== undefined", timeout=15000)
    _check_xss(frame, xss_name, page)
    assert not page.errors


@pytest.fixture(scope="module")
def export(app, tmp_path_factory):
    from stationmap.web.embed import export_district

    out = tmp_path_factory.mktemp("published")
    with app.test_request_context(f"/embed/{DISTRICT}"):
        export_district(DISTRICT, out)
    return out


def test_static_export_works_from_file_url(page, export, web_stations, xss_name):
    page.goto((export / "index.html").as_uri())
    page.wait_for_function("() => document.documentElement.dataset.embedList !== undefined", timeout=15000)
    want = _active(web_stations)
    assert int(page.evaluate("document.documentElement.dataset.markers")) == len(want)
    assert int(page.evaluate("document.documentElement.dataset.boundaries")) == 1
    _check_xss(page.main_frame, xss_name, page)
    # a point set on the map ("set my position here"): the nearest stations, computed in the page, quickest first
    page.keyboard.press("Escape")
    box = page.locator(".folium-map").bounding_box()
    before = datetime.now(timezone.utc)
    page.mouse.click(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.6)
    if page.locator(".sm-setpos-btn").count() == 0:  # that tap closed the station's popup: tap again
        page.mouse.click(box["x"] + box["width"] * 0.4, box["y"] + box["height"] * 0.6)
    page.click(".sm-setpos-btn")
    page.wait_for_function("() => document.querySelectorAll('#nearest-list li.station .dist').length > 0", timeout=10000)
    after = datetime.now(timezone.utc)
    lat, lon = (float(v) for v in page.evaluate("document.documentElement.dataset.position").split(","))
    got = page.eval_on_selector_all("#nearest-list li", "els => els.map(e => e.dataset.id)")
    is_open = page.eval_on_selector_all("#nearest-list li", "els => els.map(e => e.dataset.open === '1')")
    by_id = {s.id: s for s in web_stations}
    geod = Geod(ellps="WGS84")
    # listed as the server lists them: every station but the closed ones (temporarily closed: closed now)
    listable = _scope(web_stations, statuses=("active", "temporarily_closed"))[0]  # with the neighbours
    dist = {i: geod.inv(lon, lat, by_id[i].lon, by_id[i].lat)[2] for i in listable}
    near = sorted(listable, key=dist.get)

    def open_first(at):  # the k=5 nearest open at ``at``, then the closed among the 5 nearest
        return ([i for i in near if by_id[i].open_at(at)][:5] + [i for i in near[:5] if not by_id[i].open_at(at)])

    expected = open_first(before) if open_first(before) == got else open_first(after)
    assert len(got) == len(expected) >= 5
    # the open ones first; the same stations, the order differing only between near-ties (sphere vs ellipsoid)
    n_open = sum(is_open)
    assert is_open == [True] * n_open + [False] * (len(got) - n_open)
    assert set(got) == set(expected) or all(abs(dist[a] - dist[b]) < 0.005 * dist[b] for a, b in zip(got, expected))
    for group in (got[:n_open], got[n_open:]):
        assert all(dist[a] <= dist[b] * 1.005 for a, b in zip(group, group[1:]))
    assert page.locator("#nearest-list li .when").count() == len(got)  # each says when it closes or opens
    assert not page.errors


def test_static_hours_and_week_clock(page, export):
    page.goto((export / "index.html").as_uri())
    page.wait_for_function("() => window.stationmapStatic !== undefined")
    # minute of the week in Asia/Shanghai, against Python's calendar
    start = datetime(2024, 1, 1, tzinfo=timezone.utc)
    for h in range(0, 24 * 9, 7):
        t = start + timedelta(hours=h, minutes=13)
        local = t + timedelta(hours=8)
        want = local.weekday() * 1440 + local.hour * 60 + local.minute
        assert page.evaluate(f"stationmapStatic.minuteOfWeek({int(t.timestamp() * 1000)})") == want
    # a 24/7 station is open; a temporarily closed one never is
    assert page.evaluate("stationmapStatic.openNow({always: true, weekly: null, open: []}, Date.now())") is True
    feats = page.evaluate("STATIONMAP_STATIC.features.map(f => [f.id, f.properties.status, "
                          "stationmapStatic.openNow(f.properties.hours, Date.now())])")
    assert feats and all(not is_open for _id, status, is_open in feats if status != "active")


def _listed_on_screen(page, web_stations):
    """After the nearest list appears: every station it names is a marker on screen (issue 20)."""
    from tests.support.mapview import listed_off_map

    page.wait_for_function("() => document.querySelectorAll('#nearest-list li.station .dist').length > 0",
                           timeout=15000)
    page.wait_for_function("() => document.documentElement.dataset.stationsLoaded !== undefined", timeout=15000)
    ids, missing = listed_off_map(page.main_frame)
    assert len(ids) >= 5 and set(ids) <= {s.id for s in web_stations}
    assert missing == [], f"listed but not drawn on screen: {missing} of {ids}"


@pytest.mark.parametrize("width", [390, 1000])
def test_embed_draws_every_listed_station_at_first_paint(chromium, site, web_stations, web_query_point, width):
    """Issue 20: the embed drew one of the five nearest; the others only once the map was panned."""
    lon, lat = web_query_point
    ctx = chromium.new_context(viewport={"width": width, "height": 700}, permissions=["geolocation"],
                               geolocation={"longitude": lon, "latitude": lat})
    try:
        page = ctx.new_page()
        page.goto(f"{site}/embed/{DISTRICT}")  # the embed takes no position in its URL: the visitor locates
        page.wait_for_function("() => document.documentElement.dataset.embedList !== undefined", timeout=15000)
        page.click(".leaflet-control-locate a")
        _listed_on_screen(page, web_stations)
    finally:
        ctx.close()


@pytest.mark.parametrize("width", [390, 1000])
def test_published_site_draws_every_listed_station_at_first_paint(chromium, export, web_stations, web_query_point,
                                                                   width):
    """The same, for the published site opened from file://."""
    lon, lat = web_query_point
    ctx = chromium.new_context(viewport={"width": width, "height": 700})
    try:
        page = ctx.new_page()
        page.goto((export / "index.html").as_uri() + f"?lat={lat}&lon={lon}")
        _listed_on_screen(page, web_stations)
    finally:
        ctx.close()


# -- one scope for list and map, neighbours labelled; nothing of a kind within reach (issue 20) --------------

def _list_and_map(page):
    """(ids the nearest list names, ids drawn as listed markers, ids labelled 邻区 in the list, neighbour markers)."""
    page.wait_for_function("() => document.querySelectorAll('#nearest-list li.station .dist').length > 0",
                           timeout=15000)
    page.wait_for_function("() => document.documentElement.dataset.stationsLoaded !== undefined", timeout=15000)
    listed = page.eval_on_selector_all("#nearest-list li.station", "els => els.map(e => e.dataset.id)")
    drawn = page.eval_on_selector_all(".leaflet-marker-icon.sm-listed", "els => els.map(e => e.dataset.id)")
    labelled = page.eval_on_selector_all("#nearest-list li.station",
                                         "els => els.filter(e => e.querySelector('.tag-neighbour')"
                                         " && e.querySelector('.tag-neighbour').textContent === '邻区')"
                                         ".map(e => e.dataset.id)")
    hollow = page.eval_on_selector_all(".leaflet-marker-icon.sm-neighbour", "els => els.map(e => e.dataset.id)")
    return listed, drawn, labelled, hollow


@pytest.fixture(scope="module")
def border_app(tmp_path_factory):
    from tests.support.border import border_stations

    return make_app(tmp_path_factory.mktemp("border"), border_stations())


@pytest.fixture(scope="module")
def border_site(border_app):
    with live_server(border_app) as base:
        yield base


def _publish(app, out, presets=None):
    from stationmap.web.embed import export_district

    with app.test_request_context("/embed/320404"):
        export_district("320404", out, presets=presets)
    return out


def _open(chromium, url, point):
    lon, lat = point
    ctx = chromium.new_context(viewport={"width": 390, "height": 760}, permissions=["geolocation"],
                               geolocation={"longitude": lon, "latitude": lat})
    page = ctx.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(url)
    return ctx, page


@pytest.mark.parametrize("where", ["embed", "published"])
def test_list_and_map_share_one_scope_with_the_neighbour_across_the_border(chromium, border_app, border_site,
                                                                           tmp_path, where):
    """钟楼区's embed and published site at 390 px, 300 m from 天宁区: the station 280 m across the border
    is listed and drawn, labelled 邻区 with a marker of its own style; the one 4.7 km across is neither
    (the embed's list used to name stations of any district while its map showed only its own; the
    published site knew only its own district)."""
    from tests.support.border import BORDER_POINT

    lon, lat = BORDER_POINT
    if where == "embed":
        ctx, page = _open(chromium, f"{border_site}/embed/320404", BORDER_POINT)
    else:
        site = _publish(border_app, tmp_path / "site")
        ctx, page = _open(chromium, (site / "index.html").as_uri(), BORDER_POINT)
    try:
        page.wait_for_function("() => document.documentElement.dataset.embedList !== undefined", timeout=15000)
        # before a position: the district's list, its own stations first, the neighbours after, labelled
        assert page.eval_on_selector_all("#nearest-list li", "els => els.map(e => e.dataset.id)") == \
            ["own", "own-2", "near", "tea"]  # (by name, pinyin order: 钟楼边界, 钟楼西; 天宁边界, 天宁热茶点)
        assert page.locator("#nearest-list li[data-id='near'] .tag-neighbour").inner_text() == "邻区"
        if where == "embed":
            page.click(".leaflet-control-locate a")
        else:
            page.goto((site / "index.html").as_uri() + f"?lat={lat}&lon={lon}")
        listed, drawn, labelled, hollow = _list_and_map(page)
        assert sorted(listed) == sorted(drawn) == ["near", "own", "own-2", "tea"]     # never "far"
        assert sorted(labelled) == sorted(hollow) == ["near", "tea"]
        assert int(page.evaluate("document.documentElement.dataset.markers")) == 4
        page.hover(".leaflet-marker-icon.sm-neighbour[data-id='near']")
        page.wait_for_function("() => /天宁边界驿站 · 邻区/.test("
                               "(document.querySelector('.leaflet-tooltip') || {}).textContent)", timeout=5000)
        assert not page.errors
    finally:
        ctx.close()


HOT_TEA_ZH = "15 分钟范围内没有热茶点。最近的是天宁热茶点，直线距离 6.9 公里。"
HOT_TEA_EN = "No hot-tea point within 15 minutes. The nearest is Tian Ning Re Cha Dian (pinyin, 天宁热茶点), 6.9 km in a straight line."


def test_finder_says_no_hot_tea_within_reach_and_names_the_nearest(chromium, border_site):
    """The finder at 390 px, in the west of 钟楼区: no hot-tea point within 15 minutes; the sentence names
    the nearest with its straight-line distance, and the list shows it first."""
    from tests.support.border import WEST_POINT

    lon, lat = WEST_POINT
    ctx, page = _open(chromium, f"{border_site}/?lat={lat}&lon={lon}", WEST_POINT)
    try:
        page.wait_for_function("() => document.documentElement.dataset.listVersion !== undefined", timeout=15000)
        assert page.evaluate("document.documentElement.dataset.noneWithin") == "0"
        page.click("[data-filter='kind'][data-value='hot_tea']")
        page.wait_for_function("() => document.documentElement.dataset.noneWithin === '1'", timeout=10000)
        assert page.locator("#finder-status").inner_text() == HOT_TEA_ZH
        assert page.eval_on_selector_all("#nearest-list li.station", "els => els.map(e => e.dataset.id)") == ["tea"]
        assert not page.errors
    finally:
        ctx.close()


@pytest.mark.parametrize("where", ["embed", "published"])
def test_embed_and_published_site_say_no_hot_tea_within_reach(chromium, border_app, border_site, tmp_path, where):
    """The same rule in the district's embed and its published site (English, kind=hot_tea): the same
    sentence, naming the same station (a neighbour, labelled) with its distance."""
    from stationmap.publish import EmbedPresets
    from tests.support.border import WEST_POINT

    lon, lat = WEST_POINT
    if where == "embed":
        ctx, page = _open(chromium, f"{border_site}/embed/320404?kind=hot_tea&lang=en", WEST_POINT)
        page.wait_for_function("() => document.documentElement.dataset.embedList !== undefined", timeout=15000)
        page.click(".leaflet-control-locate a")
    else:
        site = _publish(border_app, tmp_path / "tea-site", EmbedPresets(kinds=("hot_tea",), lang="en"))
        ctx, page = _open(chromium, (site / "index.html").as_uri() + f"?lat={lat}&lon={lon}", WEST_POINT)
    try:
        page.wait_for_function("() => document.documentElement.dataset.noneWithin === '1'", timeout=15000)
        assert page.locator("#finder-status").inner_text() == HOT_TEA_EN
        assert page.eval_on_selector_all("#nearest-list li.station", "els => els.map(e => e.dataset.id)") == ["tea"]
        assert page.locator("#nearest-list li[data-id='tea'] .tag-neighbour").inner_text() == "neighbouring district"
        assert not page.errors
    finally:
        ctx.close()
