"""HTML pages with the Flask test client: the finder, a station, escaping, languages,
the sample banner, vendored assets and compression."""

from __future__ import annotations

import gzip
import re
from html.parser import HTMLParser

import pytest

from stationmap.maps.finder import VENDOR


class Assets(HTMLParser):
    """Collects script / stylesheet / image URLs of a page."""

    def __init__(self):
        super().__init__()
        self.urls = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.urls.append(a["src"])
        if tag == "link" and a.get("rel") == "stylesheet":
            self.urls.append(a["href"])
        if tag == "img" and a.get("src"):
            self.urls.append(a["src"])


def assets(html: str) -> list[str]:
    p = Assets()
    p.feed(html)
    return p.urls


def test_finder_page_is_small_and_loads_only_local_assets(ro_client):
    r = ro_client.get("/")
    assert r.status_code == 200 and r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    urls = assets(html)
    for path in VENDOR.values():
        assert "/static/" + path in urls
    assert "/static/js/finder.js" in urls
    assert all(u.startswith("/static/") for u in urls), [u for u in urls if not u.startswith("/static/")]
    for u in urls:  # every asset exists
        assert ro_client.get(u).status_code == 200, u
    # no station is inlined into the page: the data comes from the API
    assert "测试站点0" not in html and "L.marker(" not in html
    assert len(r.data) < 40_000
    assert "stationmapFinder.init(" in html
    # tile layers and their datums are in the map script
    assert '"datum": "gcj02"' in html and '"datum": "wgs84"' in html
    assert "tianditu" not in html  # no key configured


def test_finder_config_is_json_escaped_for_the_script_context(make_web_app, web_stations):
    app = make_web_app(web_stations, tianditu_key="k</script><b>")
    html = app.test_client().get("/").get_data(as_text=True)
    assert "</script><b>" not in html
    assert "tianditu.gov.cn" in html and "tk=k%3C%2Fscript%3E%3Cb%3E" in html


def test_finder_shows_filter_chips_modes_and_sample_banner(ro_client):
    html = ro_client.get("/").get_data(as_text=True)
    for kind in ("rest", "hot_tea", "legal_aid"):
        assert f'data-filter="kind" data-value="{kind}"' in html
    for service in ("drinking_water", "toilet", "ebike_charging", "microwave", "legal_aid"):
        assert f'data-filter="service" data-value="{service}"' in html
    assert 'data-filter="open_now"' in html
    for mode in ("walk", "bike", "ebike", "car"):
        assert f'data-mode="{mode}"' in html
    assert 'class="sample-banner"' in html


def test_no_sample_banner_without_sample_data(make_web_app, make_station):
    client = make_web_app([make_station(id="real-1", source="union")]).test_client()
    for url in ("/", "/station/real-1", "/districts"):
        assert 'class="sample-banner"' not in client.get(url).get_data(as_text=True), url


@pytest.mark.parametrize("url", ["/station/xss", "/station/xss?lang=en"])
def test_station_page_escapes_stored_text(ro_client, xss_name, url):
    html = ro_client.get(url).get_data(as_text=True)
    assert xss_name not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<script>alert" not in html
    assert "&lt;script&gt;alert(&#34;addr&#34;)&lt;/script&gt;" in html


def test_station_page_details_and_nav_links(ro_client, web_stations):
    html = ro_client.get("/station/office-hours").get_data(as_text=True)
    assert "工作日驿站" in html and "Mo-Fr 09:00-17:00" in html
    links = dict(re.findall(r'class="btn nav-(\w+)" href="([^"]+)"', html))
    assert set(links) == {"amap", "baidu", "apple"}
    assert links["amap"].startswith("https://uri.amap.com/navigation?") and "coordinate=gaode" in links["amap"]
    assert "coord_type=bd09ll" in links["baidu"]
    assert links["apple"].startswith("https://maps.apple.com/?daddr=")
    w = next(s for s in web_stations if s.id == "w-001")
    html = ro_client.get("/station/w-001").get_data(as_text=True)
    assert (w.verified_at.isoformat() in html) if w.verified_at else ("未核实" in html)


def test_unknown_station_page_is_a_404_page(ro_client):
    r = ro_client.get("/station/nope")
    assert r.status_code == 404 and r.mimetype == "text/html"
    assert "nope" in r.get_data(as_text=True)


def test_language_switch_and_cookie(make_web_app, web_stations):
    client = make_web_app(web_stations).test_client()
    zh = client.get("/").get_data(as_text=True)
    assert 'lang="zh-CN"' in zh and "最近的站点" in zh and "正在营业" in zh
    r = client.get("/?lang=en")
    en = r.get_data(as_text=True)
    assert 'lang="en"' in en and "Nearest stations" in en and "Open now" in en and "Rest station" in en
    assert "最近的站点" not in en
    assert "lang=en" in r.headers.get("Set-Cookie", "")
    # the cookie keeps English on the next page, and the finder's JS strings follow
    again = client.get("/").get_data(as_text=True)
    assert "Nearest stations" in again and "Tap the map, then “Set as my position”" in again
    assert "Opening hours" in client.get("/station/xss").get_data(as_text=True)


def test_districts_page_moved_and_finder_is_home(ro_client):
    r = ro_client.get("/districts")
    assert r.status_code == 200 and "天宁区" in r.get_data(as_text=True)
    assert 'id="finder"' in ro_client.get("/").get_data(as_text=True)


def test_gzip_for_pages_api_and_static_files(ro_client):
    for url in ("/", "/api/v1/stations?limit=50", "/static/vendor/leaflet-1.9.4/leaflet.js", "/static/js/finder.js"):
        plain = ro_client.get(url)
        packed = ro_client.get(url, headers={"Accept-Encoding": "gzip, deflate"})
        assert packed.headers.get("Content-Encoding") == "gzip", url
        assert "Accept-Encoding" in packed.headers.get("Vary", "")
        assert int(packed.headers["Content-Length"]) == len(packed.data) < len(plain.data)
        unpacked, body = gzip.decompress(packed.data), plain.data
        if url == "/":  # a page's inline script carries a nonce of each request's own
            nonce = re.compile(rb'nonce="[^"]+"')
            unpacked, body = nonce.sub(b"", unpacked), nonce.sub(b"", body)
        assert unpacked == body, url
    # q=0 refuses gzip
    r = ro_client.get("/api/v1/stations?limit=50", headers={"Accept-Encoding": "gzip;q=0"})
    assert "Content-Encoding" not in r.headers


def test_static_gzip_keeps_conditional_requests_working(ro_client):
    url = "/static/vendor/leaflet-1.9.4/leaflet.js"
    r = ro_client.get(url, headers={"Accept-Encoding": "gzip"})
    etag = r.headers["ETag"]
    assert etag.startswith("W/")
    again = ro_client.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": etag})
    assert again.status_code == 304


def test_small_and_error_responses_are_not_compressed(ro_client):
    r = ro_client.get("/api/v1/nearest?lat=x&lon=1", headers={"Accept-Encoding": "gzip"})
    assert r.status_code == 400 and "Content-Encoding" not in r.headers
    assert r.get_json()["error"]["field"] == "lat"


def test_english_station_page_names_the_station_in_english_or_pinyin(make_web_app, make_station):
    client = make_web_app([make_station(id="py-1", name="钟楼邮政驿站"),
                           make_station(id="en-1", name="钟楼邮政驿站", name_en="Zhonglou Post Office Rest Station",
                                        lon=119.96)]).test_client()

    def heading(html):
        title = re.search(r"<title>(.*?)</title>", html, re.S).group(1)
        h1 = re.search(r"<h1>(.*?)</h1>", html, re.S).group(1)
        return title, re.sub(r"<[^>]+>", "", h1)

    title, h1 = heading(client.get("/station/py-1?lang=en").get_data(as_text=True))
    assert title.startswith("Zhong Lou You Zheng Yi Zhan · ") and "Zhong Lou You Zheng Yi Zhan (pinyin)" in h1
    html = client.get("/station/py-1?lang=en").get_data(as_text=True)
    assert '<p class="name-zh" lang="zh">钟楼邮政驿站</p>' in html   # the Chinese name, to show a local
    title, h1 = heading(client.get("/station/en-1?lang=en").get_data(as_text=True))
    assert title.startswith("Zhonglou Post Office Rest Station · ") and "pinyin" not in h1
    assert "Zhonglou Post Office Rest Station" in h1
    for sid in ("py-1", "en-1"):   # Chinese pages keep the stored name, with nothing beside it
        html = client.get(f"/station/{sid}?lang=zh").get_data(as_text=True)
        title, h1 = heading(html)
        assert title.startswith("钟楼邮政驿站 · ") and "钟楼邮政驿站" in h1 and "拼音" not in h1
        assert 'class="name-zh"' not in html


def test_station_page_shows_the_host_label_not_its_key(db_url, make_station):
    from stationmap.store import StationStore
    from stationmap.web import create_app

    store = StationStore(db_url)
    store.create_all()
    store.insert(make_station(id="h-1", host="post_office"))
    client = create_app({"database_url": db_url, "TESTING": True}).test_client()
    html = client.get("/station/h-1").get_data(as_text=True)
    assert "邮政网点" in html and ">post_office<" not in html
    assert "Post office" in client.get("/station/h-1?lang=en").get_data(as_text=True)
