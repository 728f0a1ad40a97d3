"""The coverage page's demand upload (issue 17): an editor of the district saves a population raster
as its demand layer, and the page's figures then count people by it; editors of other districts,
and visitors, cannot; a file that is not a raster is a clear 400; the layer can be removed."""

from __future__ import annotations

import io

import numpy as np
import pytest
import rasterio
from affine import Affine

from stationmap.model import Station
from tests.support.webforms import ZL, add_users, fresh_token, signed_client, use_fast_hasher


@pytest.fixture(autouse=True)
def _fast_hasher(monkeypatch):
    use_fast_hasher(monkeypatch)


@pytest.fixture
def app(make_web_app):
    app = make_web_app([Station(id="zl-1", name="钟楼测试驿站", lon=ZL[0], lat=ZL[1], adcode="320404")])
    add_users(app.extensions["stationmap"].store)
    return app


def _tif(tmp_path) -> bytes:
    """All of 10,000 people in one 0.01 degree pixel around the station: everyone covered."""
    path = tmp_path / "pop.tif"
    data = np.zeros((3, 3), "float32")
    data[1, 1] = 10_000
    with rasterio.open(path, "w", driver="GTiff", height=3, width=3, count=1, dtype="float32", crs="EPSG:4326",
                       transform=Affine(0.01, 0, ZL[0] - 0.015, 0, -0.01, ZL[1] + 0.015)) as dst:
        dst.write(data, 1)
    return path.read_bytes()


def _post(c, data, token_path="/coverage/320404"):
    data = {"csrf_token": fresh_token(c, token_path), **data}
    return c.post("/coverage/320404/demand", data=data, content_type="multipart/form-data")


def test_an_editor_saves_and_removes_the_districts_demand_layer(app, tmp_path):
    c = signed_client(app, "zl")
    page = c.get("/coverage/320404").get_data(as_text=True)
    assert 'id="coverage-demand-upload"' in page and 'id="coverage-even-demand"' in page
    before = c.get("/api/v1/coverage?district=320404&mode=walk").get_json()
    r = _post(c, {"file": (io.BytesIO(_tif(tmp_path)), "worldpop_zl.tif")})
    assert r.status_code == 302 and r.headers["Location"].endswith("/coverage/320404")
    page = c.get("/coverage/320404").get_data(as_text=True)
    assert "worldpop_zl.tif" in page and 'id="coverage-even-demand"' not in page
    after = c.get("/api/v1/coverage?district=320404&mode=walk").get_json()
    row = next(r for r in after["stats"] if r["adcode"] == "320404" and r["kind"] == "rest")
    assert after["params"]["demand"].startswith("population raster") and row["demand"] == pytest.approx(10_000, rel=1e-6)
    assert row["demand_covered"] == pytest.approx(1.0)
    assert before["params"]["demand"] != after["params"]["demand"]
    r = _post(c, {"remove": "1"})
    assert r.status_code == 302
    again = c.get("/api/v1/coverage?district=320404&mode=walk").get_json()
    assert again["params"]["demand"] == before["params"]["demand"]
    log = app.extensions["stationmap"].store
    from stationmap import audit

    assert [e.event for e in audit.entries(log)][:2] == ["demand_layer", "demand_layer"]


@pytest.mark.parametrize("user,status", [(None, 401), ("tn", 403), ("sz", 403)])
def test_only_the_districts_editors_may_upload(app, tmp_path, user, status):
    c = signed_client(app, user)
    assert 'id="coverage-demand-upload"' not in c.get("/coverage/320404").get_data(as_text=True)
    r = _post(c, {"file": (io.BytesIO(_tif(tmp_path)), "pop.tif")}, token_path="/login")
    assert r.status_code in (status, 302) if user is None else r.status_code == status


@pytest.mark.parametrize("name,body,message", [
    ("pop.csv", b"lon,lat\n1,2\n", "a demand layer is a population raster"),
    ("pop.tif", b"not a raster at all", "cannot read as a raster"),
])
def test_a_bad_file_is_a_clear_400(app, name, body, message):
    c = signed_client(app, "zl")
    r = _post(c, {"file": (io.BytesIO(body), name)})
    assert r.status_code == 400
    text = r.get_data(as_text=True)
    assert message in text and "upload.tif" not in text
