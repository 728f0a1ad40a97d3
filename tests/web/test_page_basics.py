"""What every page has (issue 20, "polish"): an icon, a title that names the page in its language,
one charset declaration, and one way to sign out."""

from __future__ import annotations

import re

import pytest

from tests.support.webforms import add_users, sign_in, use_fast_hasher

SITE = {"zh": "工会驿站地图", "en": "Union rest stations map"}
_TITLE = re.compile(r"<title>(.*?)</title>", re.S)
_META_CHARSET = re.compile(r"<meta\s+charset=", re.I)
_HTTP_EQUIV_TYPE = re.compile(r"<meta[^>]+http-equiv=[\"']?content-type", re.I)
_CJK = re.compile(r"[\u3400-\u9fff]")

#: a page of every type anyone can open
PUBLIC_PAGES = ["/", "/station/office-hours", "/districts", "/embed", "/embed/320402", "/login",
                "/stations/office-hours/history", "/stations/office-hours/reports",
                "/no-such-page", "/station/no-such-station"]
#: ... and those of a signed-in editor or administrator
ADMIN_PAGES = ["/admin/", "/admin/districts/320402", "/admin/stations/new", "/admin/stations/office-hours/edit",
               "/admin/import", "/admin/audit"]


@pytest.fixture
def admin_client(app, monkeypatch):
    use_fast_hasher(monkeypatch)
    add_users(app.extensions["stationmap"].store)
    c = app.test_client()
    assert sign_in(c, "admin").status_code == 302
    return c


def _check_page(r, lang: str) -> str:
    html = r.get_data(as_text=True)
    assert r.mimetype == "text/html"
    assert r.headers["Content-Type"].lower().count("charset=") == 1, r.headers["Content-Type"]
    assert len(_META_CHARSET.findall(html)) == 1, "exactly one <meta charset>"
    assert not _HTTP_EQUIV_TYPE.search(html), "no second declaration by http-equiv"
    titles = _TITLE.findall(html)
    assert len(titles) == 1
    title = titles[0].strip()
    assert title and title != SITE[lang], f"{r.request.path}: the title names the page, got {title!r}"
    return title


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_public_page_has_a_title_and_one_charset(client, lang):
    for path in PUBLIC_PAGES:
        r = client.get(path, query_string={"lang": lang})
        title = _check_page(r, lang)
        if r.status_code >= 400:  # an error page: its status and what it means, in the page's language
            assert title.startswith(str(r.status_code)) and title.endswith(SITE[lang]), title
            assert bool(_CJK.search(title)) == (lang == "zh"), title


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_admin_page_has_a_title_one_charset_and_one_sign_out(admin_client, lang):
    for path in ADMIN_PAGES + PUBLIC_PAGES:
        r = admin_client.get(path, query_string={"lang": lang})
        assert r.status_code in (200, 404), (path, r.status_code)
        _check_page(r, lang)
        html = r.get_data(as_text=True)
        framed = path.startswith("/embed/")  # an embed has no site header: it signs nobody in or out
        assert html.count('action="/logout"') == (0 if framed else 1), f"{path}: sign-out is offered once"


def test_404_page_is_the_sites_page_in_its_language(client):
    zh = client.get("/no-such-page?lang=zh")
    html = zh.get_data(as_text=True)
    assert zh.status_code == 404 and '<header class="top">' in html and "未找到" in html
    assert "The requested URL" not in html  # werkzeug's English page
    en = client.get("/no-such-page?lang=en").get_data(as_text=True)
    assert "Not found" in en and not _CJK.search(en.split("<main>", 1)[1])


def test_405_page_keeps_its_allow_header(client):
    r = client.put("/districts")
    assert r.status_code == 405 and "GET" in r.headers["Allow"] and "<title>405 " in r.get_data(as_text=True)


def test_favicon_is_served_and_linked(client):
    r = client.get("/favicon.ico")
    assert r.status_code == 200 and r.mimetype in ("image/vnd.microsoft.icon", "image/x-icon")
    assert r.data[:4] == b"\x00\x00\x01\x00", "an ICO file"
    html = client.get("/").get_data(as_text=True)
    icons = re.findall(r'<link rel="icon" href="([^"]+)"', html)
    assert "/favicon.ico" in icons
    for href in icons:
        assert client.get(href).status_code == 200, href
