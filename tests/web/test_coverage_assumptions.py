"""Issue 17: every coverage answer states the same assumptions (the API's JSON, the page,
summary.json, the XLSX "about" sheet, the chart captions, the HTML map's legend)."""

from __future__ import annotations

import html as html_lib
import io
import json
import re

import pytest
from openpyxl import load_workbook
from PIL import Image

from stationmap.planning import cjk_font

QUERY = "kind=rest&mode=walk&minutes=12&cell=1000"


def _legend_lines(text: str) -> list[str]:
    """The assumption lines of a folium map's legend (its body is a JSON string in the script)."""
    bodies = [json.loads(m) for m in re.findall(r'div\.innerHTML = ("(?:[^"\\]|\\.)*");', text)]
    assert len(bodies) == 1, "one legend"
    block = re.search(r"<details class='sm-assumptions'[^>]*>(.*?)</details>", bodies[0], re.S)
    assert block, "the legend states the assumptions"
    return [html_lib.unescape(x) for x in re.findall(r"<div[^>]*>(.*?)</div>", block.group(1))]


def _page_lines(text: str) -> list[str]:
    block = re.search(r'<section class="cov-assumptions" id="coverage-assumptions">(.*?)</section>', text, re.S)
    assert block, "the page states the assumptions"
    return [html_lib.unescape(x) for x in re.findall(r"<li>(.*?)</li>", block.group(1))]


def _caption_lines(png: bytes) -> list[str]:
    return Image.open(io.BytesIO(png)).text["Description"].split("\n")


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_every_output_carries_the_same_assumptions(ro_client, lang):
    q = f"{QUERY}&lang={lang}"
    api = ro_client.get(f"/api/v1/coverage?district=320404&{QUERY}", headers={"Accept-Language": lang}).get_json()
    rec = api["assumptions"]
    lines = rec["text"][lang]
    # the record says what was assumed
    assert rec["mode"] == "walk" and rec["minutes"] == 12 and rec["method"] == "circle"
    assert rec["detour_factor"] > 1 and rec["radius_m"] == pytest.approx(
        12 * rec["speed_kmh"] * 1000 / 60 / rec["detour_factor"])
    assert rec["demand"] == {"source": "census 2020", "spread": "area"} and rec["demand_even_over_area"]
    assert rec["shape"] == "square" and rec["cell_m"] == 1000 and rec["sample"] is True
    assert len(lines) == 7 and len(rec["text"]["zh"]) == len(rec["text"]["en"])
    assert f"{rec['radius_m']:,.0f} m" in lines[1]
    assert ("示例数据" if lang == "zh" else "SAMPLE DATA") in lines[-1]

    page = ro_client.get(f"/coverage/320404?{q}").get_data(as_text=True)
    assert _page_lines(page) == lines
    assert 'id="coverage-even-demand"' in page and "stationmap demand save 320404" in page   # said, and a way out

    summary = json.loads(ro_client.get(f"/coverage/320404/download/summary.json?{q}").get_data(as_text=True))
    assert summary["assumptions"] == rec

    wb = load_workbook(io.BytesIO(ro_client.get(f"/coverage/320404/download/figures.xlsx?{q}").data))
    about = [(r[0], r[1]) for r in wb["about"].iter_rows(values_only=True)][1:]
    assert [v for k, v in about if k == "assumption"] == lines

    chart_lang = lang if (lang == "en" or cjk_font()) else "en"  # Chinese charts need a CJK font
    for name in ("coverage_by_district.png", "minutes_distribution.png"):
        png = ro_client.get(f"/coverage/320404/download/{name}?{q}").data
        assert _caption_lines(png) == rec["text"][chart_lang]

    standalone = ro_client.get(f"/coverage/320404/download/coverage_map.html?{q}").get_data(as_text=True)
    assert _legend_lines(standalone) == lines
    assert _legend_lines(page) == lines                                  # the page's own map too


def test_other_mode_or_minutes_state_other_assumptions(ro_client):
    base = ro_client.get(f"/api/v1/coverage?district=320404&{QUERY}").get_json()["assumptions"]
    bike = ro_client.get("/api/v1/coverage?district=320404&kind=rest&mode=bike&minutes=12&cell=1000"
                         ).get_json()["assumptions"]
    longer = ro_client.get("/api/v1/coverage?district=320404&kind=rest&mode=walk&minutes=20&cell=1000"
                           ).get_json()["assumptions"]
    assert bike["mode"] == "bike" and bike["speed_kmh"] > base["speed_kmh"] and bike["radius_m"] > base["radius_m"]
    assert bike["text"]["zh"][0] != base["text"]["zh"][0] and bike["text"]["zh"][1] != base["text"]["zh"][1]
    assert longer["minutes"] == 20 and longer["radius_m"] == pytest.approx(base["radius_m"] * 20 / 12)
    assert longer["text"]["en"][2].startswith("Threshold: 20 minutes")
    assert base["text"]["en"][2].startswith("Threshold: 12 minutes")
    page = ro_client.get("/coverage/320404?kind=rest&mode=walk&minutes=20&cell=1000").get_data(as_text=True)
    assert "20 分钟" in _page_lines(page)[2]


def test_a_saved_demand_layer_is_the_pages_and_the_apis_default(make_web_app, web_stations, tmp_path):
    import numpy as np
    import rasterio
    from affine import Affine

    from stationmap import coverage as cv
    from stationmap.districts import load_districts

    app = make_web_app(web_stations)
    client = app.test_client()
    before = client.get(f"/api/v1/coverage?district=320404&{QUERY}").get_json()
    assert before["assumptions"]["demand_even_over_area"]
    x0, y0, x1, y1 = load_districts().get("320404").geometry.bounds
    step = 0.002
    data = np.full((int((y1 - y0) / step) + 2, int((x1 - x0) / step) + 2), 3.0, dtype="float32")
    with rasterio.open(tmp_path / "pop.tif", "w", driver="GTiff", height=data.shape[0], width=data.shape[1],
                       count=1, dtype="float32", crs="EPSG:4326",
                       transform=Affine(step, 0, x0 - step, 0, -step, y1 + step)) as dst:
        dst.write(data, 1)
    with app.app_context():
        from stationmap.web.state import state

        cv.save_demand_layer("320404", tmp_path / "pop.tif", settings=state().settings)
    after = client.get(f"/api/v1/coverage?district=320404&{QUERY}").get_json()   # not the cached run
    assert after["assumptions"]["demand"]["spread"] == "pixel_area"
    assert after["stats"][0]["demand"] != pytest.approx(before["stats"][0]["demand"])
    page = client.get(f"/coverage/320404?{QUERY}").get_data(as_text=True)
    assert any("320404.tif" in x for x in _page_lines(page)) and 'id="coverage-even-demand"' not in page


def test_a_network_run_states_its_network_and_a_moment_run_its_moment():
    from datetime import datetime
    from pathlib import Path

    from stationmap import config
    from stationmap import coverage as cv
    from stationmap.model import Station
    from stationmap.network import Network

    net = Network.from_gpkg(Path(config.PACKAGE_DIR).parent / "data" / "roads" / "sip_roads.gpkg")
    st = [Station(id="a", name="A", lon=120.72, lat=31.31, kinds=("rest",))]
    cov = cv.analyse("320571", st, network=net, mode="walk", minutes=10, cell_m=500,
                     at=datetime(2026, 12, 7, 22, 0), demand_proxy="roads")
    rec = cov.assumptions()
    assert rec["method"] == "network" and "radius_m" not in rec and rec["network"]["name"] == net.name
    assert rec["network"]["source"] == (net.source or None) and rec["network"]["date"] is None
    en = rec["text"]["en"]
    assert en[1] == f"Method: road network {net.name} (source: {net.source or 'not recorded'}; date: not recorded)"
    assert en[3].startswith("Moment: only the stations open on") and "22:00" in en[3]
    assert en[4] == "Demand: the 2020 census total spread over the cells by road length"
    assert en[-1] == "Stations: real station data (not sample data)"
    assert not rec["demand_even_over_area"]
