"""Posters (issue 18): the QR code scans (rendered with pdfium, decoded with zxing-cpp, neither of which
wrote it) to the station's check-in address; the page's text holds the name and the hours; a name with
markup or of any length stays inside the page; `stationmap posters` writes a district's files."""

from __future__ import annotations

import os
import random
from dataclasses import replace

import pypdfium2 as pdfium
import pytest
import zxingcpp
from reportlab.pdfbase.pdfmetrics import stringWidth

from stationmap import posters
from stationmap.config import POSTER_FONT_PATHS
from stationmap.errors import ConfigError, ValidationError
from stationmap.hours import hours_words
from stationmap.model import Station
from stationmap.store import StationStore
from tests.support.cli import run

BASE = "https://stations.example.org"
ST = Station(id="zl-7", name="钟楼区南大街工会驿站", name_en="Nandajie Rest Station", lon=119.95, lat=31.78,
             adcode="320404", kinds=("rest", "hot_tea"), services=("hot_water", "toilet", "ebike_charging"),
             address="常州市钟楼区南大街 18 号", phone="0519-88886666", opening_hours="Mo-Fr 08:00-18:00; Sa 09:00-12:00",
             service_hours=(("hot_water", "Mo-Fr 08:00-11:00"),))


def _item(st: Station = ST, union: str = "常州市钟楼区总工会") -> posters.PosterStation:
    return posters.PosterStation(st, union, posters.checkin_url(BASE, st.id))


def _pages(pdf: bytes):
    doc = pdfium.PdfDocument(pdf)
    return doc, [doc[i] for i in range(len(doc))]


def _decoded(page) -> list[str]:
    image = page.render(scale=2).to_pil()
    return [b.text for b in zxingcpp.read_barcodes(image) if b.format == zxingcpp.BarcodeFormat.QRCode]


def _text(page) -> str:
    return page.get_textpage().get_text_range().replace("\r", "")


def _outside(page) -> list[tuple[str, tuple[float, ...]]]:
    """The characters whose box leaves the page's printable area (a 5 mm border)."""
    w, h = page.get_size()
    edge = 14.0
    tp = page.get_textpage()
    text = tp.get_text_range()
    out = []
    for i in range(tp.count_chars()):
        ch = text[i] if i < len(text) else "?"
        if ch.isspace():
            continue
        left, bottom, right, top = tp.get_charbox(i)
        if left < edge or bottom < edge or right > w - edge or top > h - edge:
            out.append((ch, (left, bottom, right, top)))
    return out


@pytest.mark.parametrize("size", ["a4", "a5"])
def test_the_qr_code_scans_to_the_check_in_page_and_the_text_has_name_and_hours(size):
    doc, (page,) = _pages(posters.poster_pdf([_item()], size=size))
    assert _decoded(page) == [f"{BASE}/stations/zl-7/reports"]
    text = _text(page)
    assert "钟楼区南大街工会驿站" in text.replace("\n", "")
    assert hours_words(ST.opening_hours, "zh") in text and hours_words(ST.opening_hours, "en") in text
    assert "常州市钟楼区总工会" in text and "热水" in text and "Hot water" in text
    assert text.index("开放时间") < text.index("Hours")  # Chinese first
    assert _outside(page) == []
    want_w = {"a4": 595, "a5": 420}[size]
    assert round(page.get_size()[0]) == want_w


def test_a_name_with_markup_or_of_any_length_stays_inside_the_page():
    long_name = "<b>钟楼</b><script>alert(1)</script>" + "超长站点名称" * 60 + " Averyveryverylongwordwithoutanyspace" * 8
    st = replace(ST, id="a b/c?d", name=long_name, address="地址" * 300, name_en="Long " * 200,
                 services=tuple(ST.services) + ("drinking_water", "rest_seats", "heating", "cooling", "phone_charging"))
    for size in ("a4", "a5"):
        doc, (page,) = _pages(posters.poster_pdf([_item(st)], size=size))
        assert _outside(page) == []
        text = _text(page).replace("\n", "")
        assert "<b>钟楼</b><script>alert(1)</script>" in text   # printed as typed, never read as markup
        assert "…" in text                                      # what did not fit was cut, and says so
        # the QR code still scans, to the id percent-encoded as one path segment
        assert _decoded(page) == [f"{BASE}/stations/a%20b%2Fc%3Fd/reports"]


def test_fit_lines_keeps_every_line_inside_its_box():
    font = posters._register(str(posters.find_font()))
    rng = random.Random(18)
    alphabet = "驿站工会钟楼 abcdefghij<>&/-1234567890，。"
    for _ in range(150):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 400)))
        width, height = rng.uniform(40, 500), rng.uniform(10, 300)
        fitted = posters.fit_lines([(text, 1.0), (text[::-1], 0.6)], font, width=width, height=height,
                                   size=30, min_size=6)
        assert fitted.height <= height + 1e-6
        assert all(stringWidth(t, font, s) <= width + 1e-6 for t, s in fitted.lines)
        if fitted.size > 6:   # set smaller than the floor only when all of it fits, none cut
            assert "".join(t for t, _s in fitted.lines if t).replace(" ", "").count("…") == text.count("…") * 2


def test_a_district_pdf_has_a_page_per_station_each_with_its_code():
    items = [_item(replace(ST, id=f"zl-{i}", name=f"钟楼第{i}站")) for i in range(3)]
    doc, pages = _pages(posters.poster_pdf(items, size="a5"))
    assert len(pages) == 3
    assert [_decoded(p) for p in pages] == [[f"{BASE}/stations/zl-{i}/reports"] for i in range(3)]
    assert [f"钟楼第{i}站" in _text(p) for i, p in enumerate(pages)] == [True] * 3


def test_sample_stations_say_so_on_the_poster_and_in_the_file_name():
    st = replace(ST, source="sample")
    _doc, (page,) = _pages(posters.poster_pdf([_item(st)]))
    assert "SAMPLE DATA" in _text(page) and "示例数据" in _text(page)
    assert posters.poster_filename(posters.poster_stem(st), "a5") == "zl-7_SAMPLE_A5.pdf"
    assert posters.poster_filename(posters.district_stem("320404", [ST]), "a4") == "posters_320404_A4.pdf"


def test_bad_arguments_are_refused_clearly(tmp_path):
    with pytest.raises(ValidationError, match="size must be one of"):
        posters.poster_pdf([_item()], size="letter")
    with pytest.raises(ValidationError, match="no stations"):
        posters.poster_pdf([], size="a4")
    for bad in ("", "stations.example.org", "ftp://x", "javascript:alert(1)"):
        with pytest.raises(ValidationError, match="base URL"):
            posters.checkin_url(bad, "x")
    with pytest.raises(ConfigError, match="does not exist"):
        posters.find_font(tmp_path / "none.ttc")
    not_a_font = tmp_path / "bad.ttf"
    not_a_font.write_bytes(b"not a font")
    with pytest.raises(ConfigError, match="cannot be read"):
        posters.poster_pdf([_item()], font_path=not_a_font)


def test_a_missing_font_names_the_package_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(posters, "POSTER_FONT_PATHS", (str(tmp_path / "nothing.ttc"),))
    with pytest.raises(ConfigError, match="fonts-wqy-microhei.*STATIONMAP_POSTER_FONT"):
        posters.find_font()
    assert any(os.path.exists(p) for p in POSTER_FONT_PATHS)  # make system-deps installed one


def test_union_names():
    from stationmap import config
    from stationmap.districts import load_districts

    d = load_districts(config.load())
    assert d.get("320404").union_name == "常州市钟楼区总工会"
    assert d.get("320583").union_name == "昆山市总工会"
    assert d.get("320322").union_name == "沛县总工会"
    assert d.get("320571").union_name == "苏州工业园区总工会"


# -- the command ---------------------------------------------------------------------------------

@pytest.fixture
def store(db_url, monkeypatch):
    monkeypatch.setenv("STATIONMAP_DATABASE_URL", db_url)
    monkeypatch.delenv("STATIONMAP_PUBLIC_URL", raising=False)
    s = StationStore(db_url)
    s.create_all()
    s.write_many([ST, replace(ST, id="zl-8", name="钟楼二站"), replace(ST, id="zl-9", status="closed"),
                   replace(ST, id="tn-1", adcode="320402", lon=120.0, lat=31.8)])
    return s


def test_the_command_writes_each_station_and_the_district(store, tmp_path, monkeypatch):
    out = tmp_path / "p"
    res = run("posters", "320404", "--out", out, "--base-url", BASE + "/")
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in out.iterdir()) == sorted(
        ["zl-7_A4.pdf", "zl-7_A5.pdf", "zl-8_A4.pdf", "zl-8_A5.pdf", "posters_320404_A4.pdf", "posters_320404_A5.pdf"])
    _doc, (page,) = _pages((out / "zl-8_A5.pdf").read_bytes())
    assert _decoded(page) == [f"{BASE}/stations/zl-8/reports"] and "钟楼二站" in _text(page)
    _doc, pages = _pages((out / "posters_320404_A4.pdf").read_bytes())
    assert len(pages) == 2   # the closed station has none
    # the public address from the settings; one size
    monkeypatch.setenv("STATIONMAP_PUBLIC_URL", "https://cz.example.org")
    res = run("posters", "320402", "--out", tmp_path / "q", "--size", "a5")
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "q").iterdir()) == ["posters_320402_A5.pdf", "tn-1_A5.pdf"]
    _doc, (page,) = _pages((tmp_path / "q" / "tn-1_A5.pdf").read_bytes())
    assert _decoded(page) == ["https://cz.example.org/stations/tn-1/reports"]


def test_the_command_refuses_what_cannot_work(store, tmp_path):
    res = run("posters", "320404", "--out", tmp_path / "p")
    assert res.exit_code == 1 and "--base-url" in res.stderr and "STATIONMAP_PUBLIC_URL" in res.stderr
    res = run("posters", "320404", "--out", tmp_path / "p", "--base-url", "stations.example.org")
    assert res.exit_code == 1 and "absolute http(s) address" in res.stderr
    res = run("posters", "320411", "--out", tmp_path / "p", "--base-url", BASE)
    assert res.exit_code == 1 and "no station" in res.stderr
    res = run("posters", "3204", "--out", tmp_path / "p", "--base-url", BASE)
    assert res.exit_code == 1 and "6 digits" in res.stderr
    assert not (tmp_path / "p").exists()
