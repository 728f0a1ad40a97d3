"""Issue 20: English pages name stations so a foreign courier can read them, and the Chinese finder says
the API's refusals in Chinese.

In English the finder's list, popups and tooltips, an embed's district list and a published site opened
from file:// show each station's English name where one is given, else its name in pinyin marked
"(pinyin)", with the Chinese name beside it (the one on the station's sign); the Chinese pages are as
they were."""

from __future__ import annotations

import dataclasses

import pytest

from tests.support.webforms import live_server, make_app

#: id -> what an English reader sees (the name, its marker, the Chinese name beside it)
SHOWN = {
    "own": ("Zhong Lou Bian Jie Yi Zhan", "(pinyin)", "钟楼边界驿站"),
    "own-2": ("Zhonglou West Station", None, "钟楼西驿站"),
    "near": ("Tian Ning Bian Jie Yi Zhan", "(pinyin)", "天宁边界驿站"),
}


@pytest.fixture(scope="module")
def names_app(tmp_path_factory):
    from tests.support.border import border_stations

    stations = [dataclasses.replace(s, name_en="Zhonglou West Station") if s.id == "own-2" else s
                for s in border_stations()]
    return make_app(tmp_path_factory.mktemp("names"), stations)


@pytest.fixture(scope="module")
def names_site(names_app):
    with live_server(names_app) as base:
        yield base


def _open(chromium, url, point=None):
    opts = {"viewport": {"width": 390, "height": 760}}
    if point:
        opts.update(permissions=["geolocation"], geolocation={"longitude": point[0], "latitude": point[1]})
    ctx = chromium.new_context(**opts)
    page = ctx.new_page()
    page.errors = []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.goto(url)
    return ctx, page


def _names(page, selector):
    """{id: (name shown, marker or None, Chinese name beside it or None)} of the list's items."""
    return page.eval_on_selector_all(selector, """els => Object.fromEntries(els.map(li => [li.dataset.id, [
        li.querySelector('.st-name').textContent,
        (li.querySelector('.name-source') || {}).textContent || null,
        (li.querySelector('.name-zh') || {}).textContent || null]]))""")


def _expected(ids):
    return {i: list(SHOWN[i]) for i in ids}


def test_english_finder_lists_english_names_and_pinyin_with_the_chinese_name(chromium, names_site):
    from tests.support.border import BORDER_POINT

    lon, lat = BORDER_POINT
    ctx, page = _open(chromium, f"{names_site}/?lang=en&lat={lat}&lon={lon}")
    try:
        page.wait_for_function("() => document.documentElement.dataset.listVersion !== undefined", timeout=15000)
        shown = _names(page, "#nearest-list li.station")
        assert {i: shown[i] for i in ("own", "own-2", "near")} == _expected(("own", "own-2", "near"))
        # the popup (from the list) and the tooltip say the same
        page.click("#nearest-list li[data-id='own'] .st-facts")
        page.wait_for_function("() => /Zhong Lou Bian Jie Yi Zhan/.test("
                               "(document.querySelector('.leaflet-popup-content .st-name') || {}).textContent)",
                               timeout=5000)
        popup = page.locator(".leaflet-popup-content")
        assert popup.locator(".name-source").inner_text() == "(pinyin)"
        assert popup.locator(".name-zh").inner_text() == "钟楼边界驿站"
        page.evaluate("stationmapFinder.openTooltip('own-2')")
        page.wait_for_function("() => /Zhonglou West Station · 钟楼西驿站/.test("
                               "(document.querySelector('.leaflet-tooltip') || {}).textContent)", timeout=5000)
        assert not page.errors
    finally:
        ctx.close()


def test_chinese_finder_keeps_the_chinese_names(chromium, names_site):
    from tests.support.border import BORDER_POINT

    lon, lat = BORDER_POINT
    ctx, page = _open(chromium, f"{names_site}/?lang=zh&lat={lat}&lon={lon}")
    try:
        page.wait_for_function("() => document.documentElement.dataset.listVersion !== undefined", timeout=15000)
        shown = _names(page, "#nearest-list li.station")
        assert shown["own"] == ["钟楼边界驿站", None, None] and shown["own-2"] == ["钟楼西驿站", None, None]
    finally:
        ctx.close()


def _publish(app, out, lang):
    from stationmap.publish import EmbedPresets
    from stationmap.web.embed import export_district

    with app.test_request_context("/embed/320404"):
        export_district("320404", out, presets=EmbedPresets(lang=lang))
    return out


@pytest.mark.parametrize("where", ["embed", "published"])
def test_english_embed_and_published_site_name_stations_in_english(chromium, names_app, names_site, tmp_path,
                                                                  where):
    """The district's list (before a position) and the nearest list (after one) of the embed and of
    the published site opened from file://, in English."""
    from tests.support.border import BORDER_POINT

    lon, lat = BORDER_POINT
    if where == "embed":
        url = f"{names_site}/embed/320404?lang=en"
    else:
        url = (_publish(names_app, tmp_path / "site", "en") / "index.html").as_uri()
    ctx, page = _open(chromium, url, BORDER_POINT)
    try:
        page.wait_for_function("() => document.documentElement.dataset.embedList !== undefined", timeout=15000)
        # the district's own stations by their English names, then the neighbours' (labelled)
        assert page.eval_on_selector_all("#nearest-list li", "els => els.map(e => e.dataset.id)") == \
            ["own", "own-2", "near", "tea"]
        assert _names(page, "#nearest-list li[data-id^='o'], #nearest-list li[data-id='near']") == \
            _expected(("own", "own-2", "near"))
        if where == "embed":
            page.click(".leaflet-control-locate a")
        else:
            page.goto(url + f"?lat={lat}&lon={lon}")
        page.wait_for_function("() => document.querySelector('#nearest-list li.station .dist')", timeout=15000)
        shown = _names(page, "#nearest-list li.station")
        assert {i: shown[i] for i in ("own", "own-2", "near")} == _expected(("own", "own-2", "near"))
        page.hover(".leaflet-marker-icon.sm-neighbour[data-id='near']")
        page.wait_for_function("() => /Tian Ning Bian Jie Yi Zhan \\(pinyin\\) · 天宁边界驿站 · Neighbour/i.test("
                               "(document.querySelector('.leaflet-tooltip') || {}).textContent)", timeout=5000)
        assert not page.errors
    finally:
        ctx.close()


def test_published_site_in_chinese_carries_no_english_names(names_app, tmp_path):
    site = _publish(names_app, tmp_path / "zh", "zh")
    text = (site / "stations.js").read_text(encoding="utf-8")
    assert "display_name" not in text and "钟楼边界驿站" in text


def test_chinese_finder_says_an_api_refusal_in_chinese(chromium, names_site):
    """A request the API refuses (a latitude out of range): the Chinese finder shows the API's
    message in Chinese (it asks with lang=zh), the English one in English."""
    for lang, said in (("zh", "纬度必须在 -90 到 90 之间，而不是 '95.000000'"),
                       ("en", "lat must be in [-90, 90], got '95.000000'")):
        ctx, page = _open(chromium, f"{names_site}/?lang={lang}")
        try:
            page.wait_for_function("() => document.documentElement.dataset.stationsLoaded !== undefined",
                                   timeout=15000)
            page.evaluate("stationmapFinder.setPosition(95, 119.94)")
            page.wait_for_function("() => document.querySelector('#finder-status.warn')", timeout=10000)
            assert page.locator("#finder-status").inner_text() == said
        finally:
            ctx.close()
