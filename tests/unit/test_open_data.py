"""`stationmap export --open-data DIR` (issue 18): the public dataset (every station not closed) as
CSV and GeoJSON with a data dictionary, licence, attribution, datum and export time; sample data
marked in the files and their names."""

from __future__ import annotations

import csv
import json
from dataclasses import replace
from datetime import datetime, timezone

import pytest

from stationmap import reports
from stationmap.io.opendata import OPEN_COLUMNS, write_open_data
from stationmap.model import Station
from stationmap.store import StationStore
from tests.support.cli import run


def _stations(source: str = "") -> list[Station]:
    return [
        Station(id="o-1", name="=HYPERLINK(\"x\")", lon=119.93, lat=31.78, kinds=("rest",), adcode="320404",
                services=("hot_water", "toilet"), source=source),
        Station(id="o-2", name="钟楼二站", lon=119.94, lat=31.78, kinds=("hot_tea",), adcode="320404",
                verified_at=datetime(2026, 3, 1).date(), source=source),
        Station(id="o-3", name="已关闭站", lon=119.95, lat=31.78, kinds=("rest",), adcode="320404", status="closed",
                source=source),
    ]


@pytest.fixture
def store(db_url, monkeypatch):
    monkeypatch.setenv("STATIONMAP_DATABASE_URL", db_url)
    s = StationStore(db_url)
    s.create_all()
    return s


def _csv(path):
    with open(path, encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def test_open_data_folder_holds_the_public_dataset_described(store, tmp_path, monkeypatch):
    store.write_many(_stations())
    reports.add_report(store, "o-1", "open_ok", at=datetime(2026, 12, 1, 2, 0, tzinfo=timezone.utc))
    out = tmp_path / "open"
    res = run("export", "--open-data", out)
    assert res.exit_code == 0, res.output
    assert "wrote 2 public stations" in res.stdout and "SAMPLE" not in res.stdout
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted(["stations.csv", "stations.geojson", "data_dictionary.csv", "LICENSE.txt",
                            "metadata.json", "README.md"])
    rows = _csv(out / "stations.csv")
    assert tuple(rows[0]) == OPEN_COLUMNS
    assert [r["id"] for r in rows] == ["o-1", "o-2"]          # the closed station is not public
    assert rows[0]["name"] == "'=HYPERLINK(\"x\")"             # formula-safe
    assert (rows[0]["last_confirmed"], rows[0]["confirmed_by"]) == ("2026-12-01", "checkin")
    assert (rows[1]["last_confirmed"], rows[1]["confirmed_by"]) == ("2026-03-01", "district")
    assert {r["datum"] for r in rows} == {"wgs84"} and {r["sample"] for r in rows} == {"false"}
    doc = json.loads((out / "stations.geojson").read_text(encoding="utf-8"))
    assert doc["datum"] == "wgs84" and doc["licence"]["id"] == "CC-BY-4.0" and not doc["sample"]
    assert [f["geometry"]["coordinates"] for f in doc["features"]] == [[119.93, 31.78], [119.94, 31.78]]
    assert doc["features"][0]["properties"]["last_confirmed"] == "2026-12-01"
    meta = json.loads((out / "metadata.json").read_text(encoding="utf-8"))
    assert meta["crs"] == "EPSG:4326" and meta["stations"] == 2 and meta["attribution"]["zh"]
    assert datetime.fromisoformat(meta["exported_at"]) <= datetime.now(timezone.utc)
    assert meta["exported_at"] == doc["exported_at"]
    dictionary = _csv(out / "data_dictionary.csv")
    assert [d["column"] for d in dictionary] == list(OPEN_COLUMNS)
    assert all(d["description_zh"] and d["description_en"] for d in dictionary)
    assert "hot_water=热水/Hot water" in next(d["values"] for d in dictionary if d["column"] == "services")
    assert "creativecommons.org/licenses/by/4.0" in (out / "LICENSE.txt").read_text(encoding="utf-8")
    readme = (out / "README.md").read_text(encoding="utf-8")
    assert "WGS-84 (EPSG:4326)" in readme and "CC-BY-4.0" in readme and meta["exported_at"] in readme
    # the csv imports back as the same public stations
    again = tmp_path / "again.sqlite"
    monkeypatch.setenv("STATIONMAP_DATABASE_URL", f"sqlite:///{again}")
    assert run("import", out / "stations.csv").exit_code == 0
    back = {s.id: s for s in StationStore(f"sqlite:///{again}").all()}
    assert set(back) == {"o-1", "o-2"} and back["o-1"].name == '=HYPERLINK("x")'


def test_sample_data_is_marked_in_the_files_and_their_names(store, tmp_path):
    store.write_many([replace(s, source="sample") for s in _stations()])
    done = write_open_data(store, tmp_path / "od")
    assert done.sample and done.stations == 2
    assert (tmp_path / "od" / "stations_SAMPLE.csv").exists() and (tmp_path / "od" / "stations_SAMPLE.geojson").exists()
    assert not (tmp_path / "od" / "stations.csv").exists()
    assert {r["sample"] for r in _csv(tmp_path / "od" / "stations_SAMPLE.csv")} == {"true"}
    doc = json.loads((tmp_path / "od" / "stations_SAMPLE.geojson").read_text(encoding="utf-8"))
    assert doc["sample"] and all(f["properties"]["sample"] for f in doc["features"])
    assert (tmp_path / "od" / "README.md").read_text(encoding="utf-8").startswith("> **示例数据")
    assert json.loads((tmp_path / "od" / "metadata.json").read_text(encoding="utf-8"))["sample"]


def test_open_data_refuses_other_options_and_bad_folders(store, tmp_path):
    res = run("export", "x.csv", "--open-data", tmp_path / "od")
    assert res.exit_code == 1 and "--open-data DIR takes no FILE" in res.stderr
    assert run("export", "--open-data", tmp_path / "od", "--datum", "gcj02").exit_code == 1
    (tmp_path / "file").write_text("x")
    res = run("export", "--open-data", tmp_path / "file")
    assert res.exit_code == 1 and "is not a folder" in res.stderr
    res = run("export", "--open-data", tmp_path / "no" / "such")
    assert res.exit_code == 1 and "does not exist" in res.stderr
    res = run("export")
    assert res.exit_code == 1 and "give FILE" in res.stderr
