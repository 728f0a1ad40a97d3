"""The finder with no network (issue 19), in chromium: visit once with signal, go offline
(``context.set_offline(True)``), reload, and get the list (ranked on the device, labelled as an
offline estimate), the hours and the navigation links; check in offline, come back online, and the
check-in reaches the server exactly once.  Service workers need a secure context: http://127.0.0.1 is one."""

from __future__ import annotations

import pytest

from stationmap import reports
from tests.browser.conftest import CHROMIUM_ARGS, Watch  # noqa: F401  (the shared launch arguments)
from tests.support.webforms import live_server, make_app

ROOT = "() => Object.assign({}, document.documentElement.dataset)"


@pytest.fixture(scope="module")
def offline_app(tmp_path_factory, web_stations_builder):
    return make_app(tmp_path_factory.mktemp("offline-browser"), web_stations_builder())


#: the paths the server was asked for, in order (offline, nothing may reach it)
HITS: list[str] = []


@pytest.fixture(scope="module")
def offline_url(offline_app):
    inner = offline_app.wsgi_app

    def counted(environ, start_response):
        HITS.append(environ.get("PATH_INFO", ""))
        return inner(environ, start_response)

    offline_app.wsgi_app = counted
    try:
        with live_server(offline_app) as base:
            yield base
    finally:
        offline_app.wsgi_app = inner


@pytest.fixture
def context(chromium, offline_url):
    ctx = chromium.new_context(viewport={"width": 390, "height": 800}, locale="zh-CN")
    # other sites (map tiles) are out of reach, as on an intranet; the app's own requests are not routed,
    # so its service worker sees them
    ctx.route(lambda url: not url.startswith(offline_url), lambda route: route.abort("internetdisconnected"))
    yield ctx
    ctx.close()


def _wait(page, js: str, timeout: int = 20_000) -> None:
    page.wait_for_function(js, polling=100, timeout=timeout)


def _list(page) -> list[dict]:
    return page.eval_on_selector_all("#nearest-list li", """els => els.map(li => ({
        id: li.dataset.id, open: li.dataset.open, when: li.querySelector('.when').textContent,
        offline: !!li.querySelector('.tag-offline') && li.querySelector('.tag-offline').textContent,
        mins: li.querySelector('.mins').textContent,
        nav: Array.from(li.querySelectorAll('.st-nav a')).map(a => a.href)}))""")


def _visit_with_signal(page, offline_url, path):
    page.goto(offline_url + path)
    _wait(page, "() => document.documentElement.dataset.sw === 'ready' && "
                "document.documentElement.dataset.offlineShell !== undefined")


def test_the_finder_opens_offline_with_the_list_hours_and_links(context, offline_url, web_query_point):
    lon, lat = web_query_point
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    path = f"/?lat={lat}&lon={lon}"
    HITS.clear()
    _visit_with_signal(page, offline_url, path)
    _wait(page, "() => document.documentElement.dataset.listSource === 'server' && "
                "document.documentElement.dataset.offlineArea !== undefined")
    online = _list(page)
    # the page came with its first list (drawn by the server, before any script) and the answer it was
    # drawn from, which finder.js took: it asked /api/v1/nearest nothing
    assert HITS.count("/api/v1/nearest") == 0
    assert page.get_attribute("#nearest-list", "data-first") == "server-rendered"
    assert online and not any(r["offline"] for r in online)

    context.set_offline(True)
    HITS.clear()
    page.reload()
    _wait(page, "() => document.documentElement.dataset.listSource === 'offline'")
    offline = _list(page)
    assert HITS == []   # the page, its files and the stations all came from the device
    root = page.evaluate(ROOT)
    # the same stations in the same order: the circle estimate with the server's speeds and detour factor
    assert [r["id"] for r in offline] == [r["id"] for r in online]
    assert all(r["offline"] == "离线估算" for r in offline)
    status = page.text_content("#finder-status")
    assert "离线" in status and "前保存" in status
    for a, b in zip(online, offline):
        assert a["open"] == b["open"], (a, b)      # open now, worked out on the device from the stored hours
        assert b["when"] and a["when"] == b["when"], (a, b)
        assert a["mins"] == b["mins"]
        apps = [h.split("/")[2] for h in b["nav"]]
        assert apps == ["uri.amap.com", "api.map.baidu.com", "maps.apple.com"]
    # the stored links are the server's for the mode, from the phone's position
    area = page.evaluate("() => stationmapOffline.lastArea()")
    by_id = {f["id"]: f["properties"]["nav"]["ebike"] for f in area["features"]}
    for r in offline:
        assert r["nav"] == [by_id[r["id"]][app] for app in ("amap", "baidu", "apple")]
    assert root.get("markersSource") in ("server", "offline") and int(root.get("stationsLoaded", "0")) > 0
    assert errors == []

    # back online: the list comes from the server again
    context.set_offline(False)
    _wait(page, "() => document.documentElement.dataset.listSource === 'server'")


def _count(app, station_id: str) -> int:
    return len(reports.recent_reports(app.extensions["stationmap"].store, station_id))


def test_a_check_in_made_offline_reaches_the_server_exactly_once(context, offline_url, offline_app, web_stations):
    sid = next(s.id for s in web_stations if s.status == "active")
    before = _count(offline_app, sid)
    page = context.new_page()
    _visit_with_signal(page, offline_url, f"/station/{sid}")

    context.set_offline(True)
    HITS.clear()
    page.reload()
    page.wait_for_selector("form.report-form button[value=open_ok]")
    page.click("form.report-form button[value=open_ok]")
    _wait(page, "() => document.documentElement.dataset.checkinsQueued === '1'")
    assert "联网后自动发送" in page.text_content(".checkin-queued")
    assert _count(offline_app, sid) == before and HITS == []

    context.set_offline(False)
    _wait(page, "() => document.documentElement.dataset.checkinsQueued === '0'")
    assert _count(offline_app, sid) == before + 1
    assert "已发送" in page.text_content(".checkin-queued")
    # another visit (another tab, a reload) sends nothing again
    page.reload()
    other = context.new_page()
    other.goto(offline_url + "/")
    _wait(other, "() => document.documentElement.dataset.sw === 'ready'")
    page.wait_for_timeout(500)
    assert _count(offline_app, sid) == before + 1


WECHAT = ("Mozilla/5.0 (Linux; Android 12; V2118A Build/SP1A.210812.003; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Version/4.0 Chrome/86.0.4240.99 XWEB/4317 MMWEBSDK/20220903 Mobile Safari/537.36 MMWEBID/6170 "
          "MicroMessenger/8.0.28.2240(0x28001C57) WeChat/arm64 Weixin NetType/WIFI Language/zh_CN ABI/arm64")


@pytest.mark.parametrize("ua,in_app", [(WECHAT, True), (None, False)])
def test_inside_wechat_the_list_links_are_web_pages_with_the_open_in_browser_hint(chromium, offline_url,
                                                                                 web_query_point, ua, in_app):
    lon, lat = web_query_point
    kw = {"user_agent": ua} if ua else {}
    ctx = chromium.new_context(viewport={"width": 390, "height": 800}, locale="zh-CN", service_workers="block", **kw)
    try:
        ctx.route(lambda url: not url.startswith(offline_url), lambda route: route.abort("internetdisconnected"))
        page = ctx.new_page()
        page.goto(offline_url + f"/?lat={lat}&lon={lon}")
        _wait(page, "() => document.documentElement.dataset.listSource === 'server'")
        rows = _list(page)
        assert rows
        for r in rows:
            assert ("callnative=0" in r["nav"][0]) == in_app and ("callnative=1" in r["nav"][0]) != in_app
        hints = page.eval_on_selector_all(".results .nav-inapp-hint", "els => els.map(e => e.textContent)")
        assert len(hints) == (1 if in_app else 0)
        assert all("在浏览器中打开" in h for h in hints)
        assert page.is_visible("#nav-inapp-hint") == in_app
    finally:
        ctx.close()
