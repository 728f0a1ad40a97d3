"""The open-data download linked from /districts (issue 18): the public dataset of `stationmap export
--open-data`, zipped, made again after a write or a check-in, sample data marked in its name."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import replace

from stationmap import reports
from stationmap.model import Station

ZL = (119.93, 31.78)


def _stations(source=""):
    return [Station(id="o-1", name="钟楼一站", lon=ZL[0], lat=ZL[1], adcode="320404", source=source),
            Station(id="o-2", name="钟楼二站", lon=ZL[0] + 0.01, lat=ZL[1], adcode="320404", source=source),
            Station(id="o-3", name="已关闭", lon=ZL[0] + 0.02, lat=ZL[1], adcode="320404", status="closed",
                    source=source)]


def _open(r):
    z = zipfile.ZipFile(io.BytesIO(r.data))
    return {name.split("/", 1)[1]: z.read(name) for name in z.namelist()}


def _rows(data: bytes):
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def test_districts_page_links_the_open_data_and_it_downloads(make_web_app):
    app = make_web_app(_stations())
    c = app.test_client()
    page = c.get("/districts").get_data(as_text=True)
    assert 'href="/open-data.zip"' in page and "CC-BY-4.0" in page
    r = c.get("/open-data.zip")
    assert r.status_code == 200 and r.mimetype == "application/zip"
    assert "stationmap-open-data.zip" in r.headers["Content-Disposition"]
    files = _open(r)
    assert sorted(files) == sorted(["stations.csv", "stations.geojson", "data_dictionary.csv", "LICENSE.txt",
                                    "metadata.json", "README.md"])
    assert sorted(row["id"] for row in _rows(files["stations.csv"])) == ["o-1", "o-2"]   # not the closed one
    assert json.loads(files["metadata.json"])["licence"]["id"] == "CC-BY-4.0"
    # a check-in (last confirmed) and a write: the download follows
    reports.add_report(app.extensions["stationmap"].store, "o-1", "open_ok")
    store = app.extensions["stationmap"].store
    store.update(replace(store.get("o-2"), name="改名站"))
    rows = {row["id"]: row for row in _rows(_open(c.get("/open-data.zip"))["stations.csv"])}
    assert rows["o-1"]["confirmed_by"] == "checkin" and rows["o-2"]["name"] == "改名站"


def test_sample_data_is_marked_in_the_download(make_web_app):
    app = make_web_app(_stations("sample"))
    r = app.test_client().get("/open-data.zip")
    assert "stationmap-open-data-SAMPLE.zip" in r.headers["Content-Disposition"]
    files = _open(r)
    assert "stations_SAMPLE.csv" in files and "SAMPLE" in files["README.md"].decode()
    assert "示例数据" in app.test_client().get("/districts").get_data(as_text=True)
