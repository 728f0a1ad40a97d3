"""stationmap.districts against the census figures in data/census/PROVENANCE.md,
known places, and a brute-force point-in-polygon over the GeoPackage read directly."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from dataclasses import replace

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import box

from stationmap import config
from stationmap.districts import LEVELS, District, Districts, load_districts
from stationmap.errors import ConfigError, NotFoundError, ValidationError

SETTINGS = config.load()
OUTLINES = SETTINGS.zone_outlines_path

# data/census/PROVENANCE.md, "Verification"
CHANGZHOU = {
    "320402": ("天宁区", 668_906),
    "320404": ("钟楼区", 658_537),
    "320411": ("新北区", 883_125),
    "320412": ("武进区", 1_697_380),
    "320413": ("金坛区", 585_081),
    "320481": ("溧阳市", 785_092),
}
CHANGZHOU_TOTAL = 5_278_121
JIANGSU_TOTAL = 84_748_016


@pytest.fixture(scope="module")
def districts():
    return load_districts(SETTINGS)


@pytest.fixture(scope="module")
def raw():
    """The boundaries read directly, the independent reference."""
    g = gpd.read_file(SETTINGS.boundaries_path, layer="admin_wgs84")
    return g


def test_counts_by_level(districts):
    assert len(districts.all("province")) == 1
    assert len(districts.all("city")) == 13
    assert len(districts.all("county")) == 95
    # census units without a polygon, 320571 苏州工业园区 among them
    zones = {d.adcode for d in districts.all("zone")}
    assert "320571" in zones and "320611" in zones
    assert len(districts.all()) == 1 + 13 + 95 + len(zones)
    assert [d.adcode for d in districts.all()] == sorted(d.adcode for d in districts.all())


def test_changzhou_populations_match_the_census(districts):
    kids = districts.children("320400")
    assert [(k.adcode, k.name, k.population) for k in kids] == [
        (code, name, pop) for code, (name, pop) in sorted(CHANGZHOU.items())
    ]
    assert sum(k.population for k in kids) == CHANGZHOU_TOTAL
    assert districts.population("320400") == CHANGZHOU_TOTAL
    for code, (_, pop) in CHANGZHOU.items():
        assert districts.population(code) == pop


def test_jiangsu_total_and_city_sums(districts):
    assert districts.population("320000") == JIANGSU_TOTAL
    assert sum(c.population for c in districts.all("city")) == JIANGSU_TOTAL
    # Suzhou includes its zone, Suzhou Industrial Park (1,133,927)
    assert districts.population("320571") == 1_133_927
    suzhou = districts.children("320500", include_zones=True)
    assert sum(d.population for d in suzhou) == districts.population("320500") == 12_748_262
    assert "320571" not in {d.adcode for d in districts.children("320500")}


def test_city_population_equals_census_prefix_sum(districts):
    census = pd.read_csv(SETTINGS.population_path, dtype={"CODE": str}, encoding="utf-8-sig")
    for city in districts.all("city"):
        expect = census[census.CODE.str.startswith(city.adcode[:4])].POPU.sum()
        assert city.population == int(expect), city.adcode


def test_get_record(districts, raw):
    d = districts.get("320402")
    assert isinstance(d, District)
    assert (d.adcode, d.name, d.level, d.city, d.city_adcode, d.province) == (
        "320402", "天宁区", "county", "常州市", "320400", "江苏省")
    row = raw[raw.adcode == "320402"].iloc[0]
    assert d.geometry.equals(row.geometry)
    assert d.bbox == pytest.approx(row.geometry.bounds)
    w, s, e, n = d.bbox
    assert 119.9 < w < e < 120.2 and 31.7 < s < n < 31.9
    assert districts.get(320402) is d  # ints are accepted
    assert districts.get(" 320402 ") is d
    city = districts.get("320400")
    assert (city.level, city.city, city.city_adcode) == ("city", "常州市", "320400")
    prov = districts.get("320000")
    assert (prov.level, prov.city, prov.city_adcode) == ("province", None, None)


def test_zone_has_no_geometry(districts):
    sip = districts.get("320571")
    assert (sip.name, sip.level, sip.city, sip.city_adcode) == ("苏州工业园区", "zone", "苏州市", "320500")
    assert sip.geometry is None and sip.bbox is None and not sip.has_geometry
    assert sip.to_dict(geometry=True)["geometry"] is None


def test_to_dict(districts):
    d = districts.get("320404").to_dict()
    assert d["name"] == "钟楼区" and d["population"] == 658_537 and len(d["bbox"]) == 4
    assert "geometry" not in d
    g = districts.get("320404").to_dict(geometry=True)["geometry"]
    assert g["type"] == "MultiPolygon"


def test_children_parent_find(districts):
    assert [c.name for c in districts.children("320000")][:3] == ["南京市", "无锡市", "徐州市"]
    assert len(districts.children("320000")) == 13
    assert districts.children("320402") == []
    assert districts.parent("320402").adcode == "320400"
    assert districts.parent("320571").adcode == "320500"
    assert districts.parent("320400").adcode == "320000"
    assert districts.parent("320000") is None
    assert {d.adcode for d in districts.find("鼓楼区")} == {"320106", "320302"}  # Nanjing and Xuzhou
    assert districts.find("nowhere") == []


def test_unknown_and_bad_adcodes(districts):
    with pytest.raises(NotFoundError, match="320499"):
        districts.get("320499")
    with pytest.raises(NotFoundError, match="110101"):  # Beijing: in the census, not in these boundaries
        districts.population("110101")
    with pytest.raises(NotFoundError, match="999999"):
        districts.children("999999")
    for bad in ("abc", "32040", "3204021", "", None, 3.5, True):
        with pytest.raises(ValidationError, match="adcode must be 6 digits"):
            districts.get(bad)
    assert "320402" in districts and "999999" not in districts and "x" not in districts
    with pytest.raises(ValidationError, match=r"level must be one of .*'town'"):
        districts.all("town")
    assert set(LEVELS) == {"province", "city", "county", "zone"}


# known places (WGS-84), far from any district border
KNOWN = [
    (120.627, 31.325, "320508"),   # 拙政园, Suzhou old town: 姑苏区
    (120.232, 31.520, "320211"),   # 鼋头渚, Wuxi: 滨湖区
    (118.840, 32.070, "320102"),   # 紫金山, Nanjing: 玄武区
    (119.575, 31.745, "320413"),   # Jintan town
    (119.430, 31.290, "320481"),   # 天目湖, Liyang
    (120.720, 31.320, "320571"),   # Suzhou Industrial Park: no polygon of its own, inside its outline
    (121.475, 31.232, None),       # People's Square, Shanghai
    (116.397, 39.908, None),       # Tian'anmen, Beijing
    (122.500, 33.000, None),       # Yellow Sea
]


@pytest.mark.parametrize("lon,lat,expect", KNOWN)
def test_locate_known_places(districts, lon, lat, expect):
    assert districts.locate(lon, lat) == expect


def test_locate_many_equals_brute_force(districts, raw):
    rng = np.random.default_rng(7)
    counties = raw[raw.level == "county"].sort_values("adcode")
    # random points, plus polygon vertices: on shared borders and on bounding-box edges
    corners = shapely.get_coordinates(counties.geometry.to_numpy())
    corners = corners[rng.choice(len(corners), 600, replace=False)]
    lons = np.r_[rng.uniform(116.0, 122.2, 3000), corners[:, 0]]
    lats = np.r_[rng.uniform(30.6, 35.2, 3000), corners[:, 1]]
    expect = np.full(lons.size, None, dtype=object)
    hits = np.zeros(lons.size, dtype=int)
    for code, geom in zip(counties.adcode, counties.geometry):
        inside = shapely.intersects_xy(geom, lons, lats)
        hits += inside
        expect[inside & (expect == None)] = code  # noqa: E711  lowest adcode on shared borders
    got = districts.locate_many(lons, lats, zones=False)
    assert (hits > 0).sum() > 1000  # the sample really exercises Jiangsu
    assert list(got) == list(expect)
    assert [districts.locate(x, y, zones=False) for x, y in zip(lons[:200], lats[:200])] == list(expect[:200])
    # the most specific district: a zone outline before the county it was cut from
    sip = shapely.from_geojson(json.dumps(json.loads(OUTLINES.read_text())["features"][0]["geometry"]))
    in_sip = shapely.intersects_xy(sip, lons, lats)
    assert list(districts.locate_many(lons, lats)) == list(np.where(in_sip, "320571", expect))


def test_a_point_in_suzhou_industrial_park_is_placed_in_the_zone(districts):
    """320571 has no polygon: its outline (the convex hull of the bundled SIP road graph) places points."""
    assert districts.locate(120.72, 31.32, zones=False) == "320506"  # the county polygon it was cut from
    specific, county = districts.place_many([120.72, 119.95, 123.5], [31.32, 31.78, 33.5])
    assert list(specific) == ["320571", "320404", None] and list(county) == ["320506", "320404", None]
    assert districts.zone_outline("320571").contains(shapely.Point(120.72, 31.32))
    assert districts.zone_outline("320671") is None


def test_assign_many_is_the_rule_of_every_write_path(districts):
    codes, problems = districts.assign_many(
        [120.72, 120.72, 119.95, 123.5, 120.60, 120.72],
        [31.32, 31.32, 31.78, 33.5, 31.30, 31.32],
        ["", "320506", "320402", "", "320571", "320505"])
    assert codes[:3] == ["320571", "320506", ""] and codes[4] == "320571"
    assert "320402 (天宁区)" in problems[2] and "320404 (钟楼区)" in problems[2]  # names both
    assert "no known district" in problems[3]
    assert set(problems) == {2, 3, 5}  # 虎丘区 is another county than the one holding the point
    codes, problems = districts.assign_many([123.5, 123.5], [33.5, 33.5], ["", "320402"], fallback="320707")
    assert codes == ["320707", ""] and "320707" in problems[1]


def test_every_county_contains_its_representative_point(districts, raw):
    counties = raw[raw.level == "county"]
    pts = counties.geometry.representative_point()
    got = districts.locate_many(pts.x.to_numpy(), pts.y.to_numpy())
    assert list(got) == list(counties.adcode)


def test_locate_bad_input(districts):
    out = districts.locate_many([np.nan, 119.575, np.inf], [31.7, 31.745, 31.7])
    assert list(out) == [None, "320413", None]
    assert list(districts.locate_many([], [])) == []
    with pytest.raises(ValidationError, match="same length"):
        districts.locate_many([1.0, 2.0], [1.0])
    for bad in (math.nan, "119.5", None, math.inf):
        with pytest.raises(ValidationError, match="lon must be a finite number"):
            districts.locate(bad, 31.7)


def test_load_is_cached_per_file(districts, tmp_path):
    assert load_districts(SETTINGS) is districts
    assert load_districts() is districts  # default settings: the same files
    (tmp_path / "boundaries").mkdir()
    (tmp_path / "census").mkdir()
    shutil.copy(SETTINGS.boundaries_path, tmp_path / "boundaries")
    shutil.copy(SETTINGS.population_path, tmp_path / "census")
    other = load_districts(replace(SETTINGS, data_dir=tmp_path))
    assert other is not districts
    assert other.population("320400") == CHANGZHOU_TOTAL
    assert load_districts(replace(SETTINGS, data_dir=tmp_path)) is other


def test_missing_files_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="boundaries file not found: .*jiangsu_admin_wgs84.gpkg"):
        load_districts(replace(SETTINGS, data_dir=tmp_path))
    (tmp_path / "boundaries").mkdir()
    shutil.copy(SETTINGS.boundaries_path, tmp_path / "boundaries")
    with pytest.raises(ConfigError, match="census file not found: .*population.csv"):
        load_districts(replace(SETTINGS, data_dir=tmp_path))


def test_constructor_reprojects_and_checks_columns():
    # a square county in UTM 51N metres around (120.5E, 31.5N)
    square = box(-500.0, -500.0, 500.0, 500.0)
    x0, y0 = Transformer.from_crs(4326, 32651, always_xy=True).transform(120.5, 31.5)
    geom = shapely.affinity.translate(square, x0, y0)
    frame = gpd.GeoDataFrame(
        {"adcode": ["329901"], "level": ["county"], "name": ["测试县"], "province": ["江苏省"], "city": ["某市"]},
        geometry=[geom], crs="EPSG:32651",
    )
    d = Districts(frame, {"329901": ("测试县", 1234)})
    assert d.locate(120.5, 31.5) == "329901"
    assert d.locate(120.52, 31.5) is None  # 1.9 km east: outside the 1 km square
    assert d.locate(120.504, 31.5) == "329901"  # 380 m east: inside
    assert d.population("329901") == 1234
    w, s, e, n = d.get("329901").bbox
    assert 120.49 < w < 120.5 < e < 120.51 and 31.49 < s < 31.5 < n < 31.51
    with pytest.raises(ConfigError, match="lack column.*level"):
        Districts(frame.drop(columns=["level"]))
    with pytest.raises(ConfigError, match="no CRS"):
        Districts(frame.set_crs(None, allow_override=True))


def test_import_reads_nothing(tmp_path):
    env = {**os.environ, "STATIONMAP_DATA_DIR": str(tmp_path / "missing")}
    code = "import stationmap.districts, stationmap.io.sample; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
