"""The poster buttons of the admin pages (issue 18): a station's poster and its district's, for the
district's editors only (every route tried by an editor of another district), the QR code opening
the check-in page under the configured public address or the address asked on."""

from __future__ import annotations

import pypdfium2 as pdfium
import pytest
import zxingcpp

from stationmap.model import Station
from tests.support.webforms import add_users, signed_client, use_fast_hasher

ZL = (119.93, 31.78)     # 320404 Zhonglou
TN = (120.00, 31.80)     # 320402 Tianning


@pytest.fixture(autouse=True)
def _fast_hasher(monkeypatch):
    use_fast_hasher(monkeypatch)


def _stations():
    return [
        Station(id="zl-1", name="钟楼测试驿站", lon=ZL[0], lat=ZL[1], adcode="320404", kinds=("rest",),
                opening_hours="Mo-Fr 08:00-18:00", services=("hot_water",)),
        Station(id="zl-2", name="钟楼已关闭站", lon=ZL[0] + 0.01, lat=ZL[1], adcode="320404", status="closed"),
        Station(id="tn-1", name="天宁测试驿站", lon=TN[0], lat=TN[1], adcode="320402", kinds=("rest",)),
    ]


@pytest.fixture
def app(make_web_app):
    app = make_web_app(_stations())
    add_users(app.extensions["stationmap"].store)
    return app


def _codes(pdf: bytes) -> list[list[str]]:
    doc = pdfium.PdfDocument(pdf)
    return [[b.text for b in zxingcpp.read_barcodes(doc[i].render(scale=2).to_pil())] for i in range(len(doc))]


def test_the_districts_editor_prints_a_station_poster_and_the_districts(app):
    c = signed_client(app, "zl")
    r = c.get("/admin/stations/zl-1/poster.pdf?size=a5")
    assert r.status_code == 200 and r.mimetype == "application/pdf"
    assert 'filename=zl-1_A5.pdf' in r.headers["Content-Disposition"]
    assert r.headers["Cache-Control"] == "private, no-store"
    # no public address configured: the address the editor asked on
    assert _codes(r.data) == [["http://localhost/stations/zl-1/reports"]]
    r = c.get("/admin/districts/320404/posters.pdf")
    assert r.status_code == 200 and "posters_320404_A4.pdf" in r.headers["Content-Disposition"]
    assert _codes(r.data) == [["http://localhost/stations/zl-1/reports"]]  # the closed station has none
    # the buttons
    page = c.get("/admin/districts/320404").get_data(as_text=True)
    assert 'href="/admin/districts/320404/posters.pdf?size=a4"' in page
    assert 'href="/admin/districts/320404/posters.pdf?size=a5"' in page
    assert 'href="/admin/stations/zl-1/poster.pdf?size=a4"' in page
    assert 'href="/admin/stations/zl-2/poster.pdf' not in page
    form = c.get("/admin/stations/zl-1/edit").get_data(as_text=True)
    assert 'href="/admin/stations/zl-1/poster.pdf?size=a5"' in form


def test_the_public_address_setting_makes_the_codes(make_web_app):
    app = make_web_app(_stations(), public_url="https://stations.example.org/")
    add_users(app.extensions["stationmap"].store)
    c = signed_client(app, "cz")   # the city union edits its districts
    r = c.get("/admin/stations/tn-1/poster.pdf")
    assert _codes(r.data) == [["https://stations.example.org/stations/tn-1/reports"]]
    # the code's address is the check-in page, which answers
    assert c.get("/stations/tn-1/reports").status_code == 200


@pytest.mark.parametrize("user", ["tn", "sz"])
def test_an_editor_of_another_district_gets_no_poster(app, user):
    c = signed_client(app, user)
    assert c.get("/admin/stations/zl-1/poster.pdf").status_code == 403
    assert c.get("/admin/stations/zl-1/poster.pdf?size=a5").status_code == 403
    assert c.get("/admin/districts/320404/posters.pdf").status_code == 403
    assert c.get("/admin/districts/320404/posters.pdf?size=a5").status_code == 403


def test_signed_out_is_sent_to_sign_in(app):
    c = app.test_client()
    for path in ("/admin/stations/zl-1/poster.pdf", "/admin/districts/320404/posters.pdf"):
        r = c.get(path)
        assert r.status_code in (302, 401) and "application/pdf" not in r.headers.get("Content-Type", "")


def test_bad_requests_are_4xx_with_a_reason(app):
    c = signed_client(app, "zl")
    r = c.get("/admin/stations/zl-1/poster.pdf?size=letter", headers={"Accept": "application/json"})
    assert r.status_code == 400 and "size" in r.get_data(as_text=True)
    assert c.get("/admin/districts/320404/posters.pdf?size=A3").status_code == 400
    assert c.get("/admin/stations/zl-1/poster.pdf?size=A5").status_code == 200  # either case
    r = c.get("/admin/stations/zl-2/poster.pdf")
    assert r.status_code == 409 and "已关闭" in r.get_data(as_text=True)
    assert c.get("/admin/stations/nope/poster.pdf").status_code == 404
    assert c.get("/admin/districts/32040/posters.pdf").status_code == 400
    admin = signed_client(app, "admin")
    r = admin.get("/admin/districts/320411/posters.pdf")   # Xinbei: no stations here
    assert r.status_code == 404 and "没有开放的站点" in r.get_data(as_text=True)
