"""Every write path places a station in the district its point lies in (issue 20).

`stationmap import` of a file without an adcode column, a stated adcode the
point disagrees with, a point in the sea, `--district` for points outside the
bundled (Jiangsu) boundaries, and `stationmap repair-districts` / `init` for
stations stored before with an empty adcode.  The expected districts are
checked against the boundary polygons with shapely directly, not through
:mod:`stationmap.districts`.
"""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from stationmap import config
from stationmap.io import import_file
from stationmap.model import Station
from stationmap.store import StationStore
from tests.support.cli import run

SETTINGS = config.load()
#: (id, name, lon, lat): Changzhou 钟楼区 and 天宁区, Nanjing 玄武区, Suzhou Industrial Park
POINTS = [("a", "钟楼驿站", 119.93, 31.78), ("b", "天宁驿站", 119.98, 31.79), ("c", "紫金山驿站", 118.84, 32.07),
          ("d", "园区驿站", 120.72, 31.32)]
SEA = (123.5, 33.5)  # the Yellow Sea


@pytest.fixture(scope="module")
def counties():
    frame = gpd.read_file(SETTINGS.boundaries_path, layer="admin_wgs84")
    return frame[frame.level == "county"]


def county_of(counties, lon: float, lat: float) -> str:
    """The one county polygon holding the point (the points are away from borders)."""
    (code,) = [c for c, g in zip(counties.adcode, counties.geometry) if g.contains(shapely.Point(lon, lat))]
    return code


@pytest.fixture
def url(tmp_path, monkeypatch):
    u = f"sqlite:///{tmp_path}/placing.sqlite"
    monkeypatch.setenv("STATIONMAP_DATABASE_URL", u)
    return u


def write_csv(path: Path, rows: list[tuple], header: str = "name,lat,lon,kind") -> Path:
    path.write_text(header + "\n" + "".join(",".join(str(v) for v in r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_cli_import_without_an_adcode_column_places_each_row(url, tmp_path, counties):
    f = write_csv(tmp_path / "s.csv", [(name, lat, lon, "rest") for _, name, lon, lat in POINTS])
    res = run("import", f)
    assert res.exit_code == 0, res.stderr
    stored = {s.name: s for s in StationStore(url).all()}
    assert len(stored) == 4
    for _, name, lon, lat in POINTS[:3]:
        assert stored[name].adcode == county_of(counties, lon, lat), name
    # the most specific district: the zone (inside its outline), not the county polygon it was cut from
    assert county_of(counties, 120.72, 31.32) == "320506" and stored["园区驿站"].adcode == "320571"
    outline = json.loads((Path(SETTINGS.data_dir) / "boundaries" / "zone_outlines.geojson").read_text())
    (sip,) = [shapely.from_geojson(json.dumps(f["geometry"])) for f in outline["features"]
              if f["properties"]["adcode"] == "320571"]
    assert sip.contains(shapely.Point(120.72, 31.32))
    assert [stored[n].adcode for n in ("钟楼驿站", "天宁驿站", "紫金山驿站")] == ["320404", "320402", "320102"]


def test_a_point_in_the_sea_is_a_row_problem_and_nothing_is_written(url, tmp_path):
    rows = [(name, lat, lon, "rest") for _, name, lon, lat in POINTS[:2]]
    rows.insert(1, ("海上驿站", SEA[1], SEA[0], "rest"))
    f = write_csv(tmp_path / "s.csv", rows)
    res = run("import", f)
    assert res.exit_code == 1
    assert f"{f}: row 3, field adcode: the point lies in no known district" in res.stderr
    assert "nothing was imported" in res.stderr
    assert StationStore(url).count() == 0  # all or nothing
    res = run("import", f, "--skip-invalid")  # the good rows only, the sea row still reported
    assert res.exit_code == 0 and "row 3, field adcode" in res.stderr
    assert sorted(s.name for s in StationStore(url).all()) == ["天宁驿站", "钟楼驿站"]


def test_district_option_keeps_rows_outside_the_boundaries(url, tmp_path):
    shanghai = (121.475, 31.232)  # People's Square: in China, outside the bundled (Jiangsu) boundaries
    f = write_csv(tmp_path / "s.csv", [("海上驿站", SEA[1], SEA[0], "rest"), ("人民广场驿站", shanghai[1], shanghai[0], "rest"),
                                       ("钟楼驿站", 31.78, 119.93, "rest")])
    res = run("import", f, "--district", "310101")
    assert res.exit_code == 0, res.stderr
    got = {s.name: s.adcode for s in StationStore(url).all()}
    assert got == {"海上驿站": "310101", "人民广场驿站": "310101", "钟楼驿站": "320404"}  # inside: from the point
    res = run("import", f, "--district", "31010")
    assert res.exit_code != 0 and "district must be 6 digits" in res.stderr


def test_a_stated_adcode_the_point_disagrees_with_is_a_row_problem(url, tmp_path):
    f = write_csv(tmp_path / "s.csv", [("钟楼驿站", 31.78, 119.93, "rest", "320402"),   # the point is in 钟楼区
                                       ("天宁驿站", 31.79, 119.98, "rest", "320402"),   # agrees
                                       ("园区驿站", 31.32, 120.72, "rest", "320506"),   # the county SIP was cut from
                                       ("湖西驿站", 31.30, 120.60, "rest", "320571")],  # SIP, beyond its outline
                  header="name,lat,lon,kind,adcode")
    res = run("import", f)
    assert res.exit_code == 1
    (line,) = [ln for ln in res.stderr.splitlines() if ", field adcode:" in ln]
    assert line.startswith(f"{f}: row 2, field adcode: adcode 320402 (天宁区)") and "320404 (钟楼区)" in line
    assert StationStore(url).count() == 0
    with pytest.raises(Exception) as ei:
        import_file(StationStore(url), f)
    assert [(p.row, p.field, p.value) for p in ei.value.problems] == [(2, "adcode", "320402")]


def test_repair_districts_fixes_empty_adcodes_and_the_history_shows_it(url, tmp_path):
    from stationmap.repair import REPAIR_NOTE

    store = StationStore(url)
    store.create_all()
    store.write_many([Station(id=sid, name=name, lon=lon, lat=lat) for sid, name, lon, lat in POINTS]
                     + [Station(id="sea", name="海上", lon=SEA[0], lat=SEA[1]),
                        Station(id="kept", name="已有", lon=119.93, lat=31.78, adcode="320404")], user="old")
    res = run("repair-districts", "--dry-run")
    assert res.exit_code == 1 and "dry run, nothing written" in res.stdout
    assert {s.id for s in store.without_adcode()} == {"a", "b", "c", "d", "sea"}
    res = run("repair-districts", "--user", "fixer")
    assert res.exit_code == 1  # one station could not be placed
    assert "districts repaired: 4 stations given their adcode; 1 could not be placed" in res.stdout
    assert "could not place sea (海上) at lon 123.5, lat 33.5" in res.stderr
    assert {s.id: s.adcode for s in store.all()} == {"a": "320404", "b": "320402", "c": "320102", "d": "320571",
                                                     "sea": "", "kept": "320404"}
    h = store.history("d")  # newest first
    assert (h[0]["user"], h[0]["note"], h[0]["before"]["adcode"], h[0]["after"]["adcode"]) == \
        ("fixer", REPAIR_NOTE, "", "320571")
    assert len(store.history("kept")) == 1  # untouched
    store.delete("sea")
    assert run("repair-districts").exit_code == 0


def test_init_repairs_empty_adcodes(url):
    assert run("init", "--no-sample").exit_code == 0
    store = StationStore(url)
    store.insert(Station(id="a", name="钟楼驿站", lon=119.93, lat=31.78))
    res = run("init", "--no-sample")
    assert res.exit_code == 0 and "districts repaired: 1 station given their adcode" in res.stdout
    assert store.get("a").adcode == "320404" and store.history("a")[0]["user"] == "stationmap init"
    assert "districts repaired" not in run("init", "--no-sample").stdout  # nothing to repair: quiet
