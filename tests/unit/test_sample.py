"""The sample station generator and the bundled data/sample/stations.geojson.

References are independent of the generator: hand-computed allocations, the
boundaries and road graph read directly with geopandas, pyproj.Geod distances,
and stationmap.model.validate_record.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import fields, replace
from datetime import date, datetime

import geopandas as gpd
import numpy as np
import pytest
import shapely
from click.testing import CliRunner
from pyproj import Geod
from shapely.ops import nearest_points

from stationmap import config
from stationmap.cli import main as cli_main
from stationmap.errors import ConfigError, ValidationError
from stationmap.io import sample
from stationmap.model import HOSTS, SERVICES, STATUSES, Station, validate_record

SETTINGS = config.load()
GEOD = Geod(ellps="WGS84")

# 312 stations over Changzhou's districts by 2020 population, largest remainder, by hand:
# quotas 39.54 38.93 52.20 100.34 34.59 46.41 -> floors 309, the 3 left go to .93 .59 .54
CZ_REST = {"320402": 40, "320404": 39, "320411": 52, "320412": 100, "320413": 35, "320481": 46}
OTHERS = {("yz", "321003"): 200, ("ha", "320803"): 60, ("xs", "320921"): 52}
AREA_CODES = {"cz": "0519-8", "sip": "0512-6", "yz": "0514-8", "ha": "0517-8", "gn": "0518-8", "xs": "0515-8"}


@pytest.fixture(scope="module")
def stations():
    return sample.generate()


@pytest.fixture(scope="module")
def bundled():
    return sample.load_sample()


@pytest.fixture(scope="module")
def boundaries():
    g = gpd.read_file(SETTINGS.boundaries_path, layer="admin_wgs84")
    return dict(zip(g.adcode, g.geometry))


def prefix(s: Station) -> str:
    return s.id.split("-")[0]


# -- the file ------------------------------------------------------------------------

def test_regenerating_gives_the_bundled_file_byte_for_byte(stations, tmp_path):
    out = sample.write_geojson(stations, tmp_path / "stations.geojson")
    assert out == tmp_path / "stations.geojson"
    assert out.read_bytes() == sample.SAMPLE_PATH.read_bytes()


def test_file_format():
    raw = sample.SAMPLE_PATH.read_bytes()
    assert raw.endswith(b"}\n") and b"\r" not in raw
    text = raw.decode("utf-8")
    assert "驿站" in text and "\\u" not in text  # ensure_ascii=False
    doc = json.loads(text)
    assert doc["type"] == "FeatureCollection"
    assert doc["name"] == "stationmap sample stations (generated, not real)"
    assert doc["sample"] is True
    assert "OpenStreetMap" in doc["attribution"]
    assert list(doc) == sorted(doc)
    expected_props = {f.name for f in fields(Station)} - {"lon", "lat"}
    for feat in doc["features"]:
        assert feat["type"] == "Feature" and feat["geometry"]["type"] == "Point"
        assert set(feat["properties"]) == expected_props
        assert feat["id"] == feat["properties"]["id"]
        for c in feat["geometry"]["coordinates"]:
            assert isinstance(c, float) and round(c, 7) == c
        assert list(feat["properties"]) == sorted(feat["properties"])


def test_load_sample_round_trips(stations, bundled):
    assert bundled == stations
    assert all(isinstance(s.verified_at, date) for s in bundled)


def test_sample_path_follows_settings(tmp_path, monkeypatch):
    assert sample.SAMPLE_PATH == SETTINGS.data_dir / "sample" / "stations.geojson"
    monkeypatch.setenv("STATIONMAP_DATA_DIR", str(tmp_path))
    assert sample.SAMPLE_PATH == tmp_path / "sample" / "stations.geojson"
    assert sample.sample_path(replace(SETTINGS, data_dir=tmp_path / "x")) == tmp_path / "x" / "sample" / "stations.geojson"
    with pytest.raises(ConfigError, match=r"sample stations not found: .*stations.geojson"):
        sample.load_sample()


def test_load_sample_rejects_bad_files(tmp_path):
    bad = tmp_path / "bad.geojson"
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(ConfigError, match="bad.geojson: not readable GeoJSON"):
        sample.load_sample(bad)
    bad.write_text('{"type": "Feature"}', encoding="utf-8")
    with pytest.raises(ConfigError, match="expected a GeoJSON FeatureCollection"):
        sample.load_sample(bad)
    bad.write_text('{"type": "FeatureCollection", "features": [{"type": "Feature"}]}', encoding="utf-8")
    with pytest.raises(ConfigError, match="feature 0 has no Point geometry"):
        sample.load_sample(bad)


def test_write_to_an_impossible_path_is_a_clear_error(stations, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValidationError, match="cannot write .*file/x.geojson"):
        sample.write_geojson(stations[:2], tmp_path / "file" / "x.geojson")


# -- the records ---------------------------------------------------------------------

def test_every_record_validates(stations):
    for s in stations:
        station, problems = validate_record(s.to_dict())
        assert problems == [], (s.id, [str(p) for p in problems])
        assert station == s


def test_ids_names_and_source(stations):
    ids = [s.id for s in stations]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"(cz|sip|yz|ha|gn|xs)-\d{4}", i) for i in ids)
    for p in AREA_CODES:
        nums = [int(i.split("-")[1]) for i in ids if i.startswith(p + "-")]
        assert nums == list(range(1, len(nums) + 1)), p
    assert len({s.name for s in stations}) == len(stations)
    assert all(s.source == "sample" and s.is_sample for s in stations)


def test_counts_per_district(stations):
    rest = Counter(s.adcode for s in stations if prefix(s) == "cz" and "rest" in s.kinds)
    assert dict(rest) == CZ_REST
    assert sum(rest.values()) == 312
    for (p, code), n in OTHERS.items():
        got = [s for s in stations if prefix(s) == p]
        assert len(got) == n and {s.adcode for s in got} == {code}
        assert all(s.kinds == ("rest",) for s in got)
    sip = [s for s in stations if prefix(s) == "sip"]
    assert 60 <= len(sip) <= 100 and {s.adcode for s in sip} == {"320571"}
    gn = [s for s in stations if prefix(s) == "gn"]
    assert len(gn) == 40 and {s.adcode for s in gn} == {"320724"}
    assert all(s.kinds == ("hot_tea",) for s in gn)
    assert len(stations) == 312 + 6 + len(sip) + 200 + 60 + 40 + 52


def test_changzhou_legal_aid_and_hot_tea(stations):
    cz = [s for s in stations if prefix(s) == "cz"]
    legal = [s for s in cz if "legal_aid" in s.kinds]
    assert 8 <= len(legal) <= 12
    assert all(s.kinds == ("rest", "legal_aid") and "legal_aid" in s.services for s in legal)
    assert {s.adcode for s in legal} == set(CZ_REST)
    assert not any("legal_aid" in s.services for s in stations if "legal_aid" not in s.kinds)
    tea = [s for s in cz if s.kinds == ("hot_tea",)]
    assert 3 <= len(tea) <= 8
    assert all("hot_water" in s.services for s in tea)


def test_guannan_hot_tea_is_open_in_winter_only(stations):
    gn = [s for s in stations if prefix(s) == "gn" and s.status == "active"]
    assert gn
    winter = datetime(2027, 1, 13, 10, 0)   # a Wednesday morning in January
    summer = datetime(2026, 7, 15, 10, 0)   # a Wednesday morning in July
    assert all(s.open_at(winter) for s in gn)
    assert not any(s.open_at(summer) for s in gn)


def test_vocabularies_and_realism(stations):
    assert {s.host for s in stations} <= set(HOSTS)
    assert len({s.host for s in stations}) >= 8
    assert all(set(s.services) <= set(SERVICES) for s in stations)
    rest = [s for s in stations if "rest" in s.kinds]
    for svc in ("drinking_water", "hot_water", "rest_seats", "phone_charging"):
        assert sum(svc in s.services for s in rest) / len(rest) > 0.9, svc
    for svc in ("ebike_charging", "battery_swap", "heating", "cooling", "reading", "umbrella", "repair_kit"):
        share = sum(svc in s.services for s in rest) / len(rest)
        assert 0.02 < share < 0.7, svc
    hours = Counter(s.opening_hours for s in stations)
    assert {"24/7", "Mo-Fr 08:30-17:30"} <= set(hours) and len(hours) >= 8
    status = Counter(s.status for s in stations)
    assert set(status) <= set(STATUSES)
    assert 1 <= status["closed"] <= 2
    assert 3 <= status["temporarily_closed"] <= 0.06 * len(stations)
    assert all(s.verified_at.year == 2026 and s.verified_at <= date(2026, 11, 22) for s in stations)
    for s in stations:
        assert s.phone == "" or re.fullmatch(re.escape(AREA_CODES[prefix(s)]) + r"\d{7}", s.phone), s.phone
        assert re.search(r"[\u4e00-\u9fff]", s.name) and s.address.endswith("号")
        assert s.operator.endswith("总工会")
    assert sum(s.phone != "" for s in stations) > 0.8 * len(stations)


def test_no_markup_in_the_bundled_data(stations):
    for s in stations:
        for v in s.to_dict().values():
            if isinstance(v, str):
                assert not re.search(r"[<>&\"`]|script|javascript", v, re.I), (s.id, v)  # Huai'an keeps its apostrophe


# -- positions -----------------------------------------------------------------------

def test_stations_lie_inside_their_district(stations, boundaries):
    checked = 0
    for s in stations:
        if s.adcode == "320571":  # Suzhou Industrial Park: no polygon, so inside Suzhou city
            assert shapely.contains_xy(boundaries["320500"], s.lon, s.lat), s.id
            continue
        assert shapely.contains_xy(boundaries[s.adcode], s.lon, s.lat), s.id
        checked += 1
    assert checked == len(stations) - sum(s.adcode == "320571" for s in stations)


def test_stations_keep_off_the_district_border(stations, boundaries):
    """At least ~35 m inside (the generator keeps 40 m in a local plane)."""
    for s in stations:
        if s.adcode == "320571":
            continue
        border = boundaries[s.adcode].boundary
        near = nearest_points(border, shapely.Point(s.lon, s.lat))[0]
        d = GEOD.inv(s.lon, s.lat, near.x, near.y)[2]
        assert d > 35.0, (s.id, d)


def test_sip_stations_sit_on_the_road_network(stations):
    nodes = gpd.read_file(SETTINGS.data_dir / "roads" / "sip_roads.gpkg", layer="nodes")
    nx_, ny_ = nodes.geometry.x.to_numpy(), nodes.geometry.y.to_numpy()
    sip = [s for s in stations if prefix(s) == "sip"]
    for s in sip:
        assert 120.679 <= s.lon <= 120.782 and 31.292 <= s.lat <= 31.345
        d = GEOD.inv(np.full(nx_.size, s.lon), np.full(ny_.size, s.lat), nx_, ny_)[2]
        assert d.min() <= 30.0, (s.id, d.min())


def test_stations_are_spread_out(stations):
    lon = np.array([s.lon for s in stations])
    lat = np.array([s.lat for s in stations])
    i, j = np.triu_indices(lon.size, k=1)
    close = (np.abs(lon[i] - lon[j]) < 0.01) & (np.abs(lat[i] - lat[j]) < 0.01)
    d = GEOD.inv(lon[i[close]], lat[i[close]], lon[j[close]], lat[j[close]])[2]
    assert d.min() > 140.0


def test_changzhou_is_denser_near_the_urban_core(stations, boundaries):
    """The four urban districts' stations sit closer to the city centre than uniform points would."""
    core = (119.955, 31.78)  # 南大街, central Changzhou
    codes = ["320402", "320404", "320411", "320412"]
    pts = [s for s in stations if s.adcode in codes]
    d_st = GEOD.inv(np.full(len(pts), core[0]), np.full(len(pts), core[1]),
                    [s.lon for s in pts], [s.lat for s in pts])[2]
    union = shapely.union_all([boundaries[c] for c in codes])
    rng = np.random.default_rng(1)
    w, s_, e, n = union.bounds
    xs, ys = rng.uniform(w, e, 20000), rng.uniform(s_, n, 20000)
    inside = shapely.contains_xy(union, xs, ys)
    d_uni = GEOD.inv(np.full(inside.sum(), core[0]), np.full(inside.sum(), core[1]), xs[inside], ys[inside])[2]
    assert np.median(d_st) < 0.7 * np.median(d_uni)


# -- the generator -------------------------------------------------------------------

def test_another_seed_gives_other_stations(stations):
    other = sample.generate(seed=1)
    assert [s.id for s in other] == [s.id for s in stations]
    assert Counter(s.adcode for s in other) == Counter(s.adcode for s in stations)
    moved = sum((a.lon, a.lat) != (b.lon, b.lat) for a, b in zip(other, stations))
    assert moved > 0.95 * len(stations)


@pytest.mark.parametrize("seed", ["1", 1.5, None, True])
def test_bad_seed(seed):
    with pytest.raises(ValidationError, match="seed must be an integer"):
        sample.generate(seed=seed)


def test_allocate_by_hand():
    pops = {"320402": 668_906, "320404": 658_537, "320411": 883_125, "320412": 1_697_380,
            "320413": 585_081, "320481": 785_092}
    assert sample.allocate(312, pops) == CZ_REST
    assert sample.allocate(10, {"b": 1, "a": 1, "c": 1}) == {"a": 4, "b": 3, "c": 3}
    assert sample.allocate(0, {"a": 1}) == {"a": 0}


def test_allocate_properties():
    rng = np.random.default_rng(3)
    for _ in range(200):
        k = int(rng.integers(1, 9))
        w = {f"d{i}": float(rng.uniform(0.1, 100)) for i in range(k)}
        total = int(rng.integers(0, 500))
        got = sample.allocate(total, w)
        assert sum(got.values()) == total
        wsum = sum(w.values())
        for key, n in got.items():
            quota = total * w[key] / wsum
            assert np.floor(quota) <= n <= np.ceil(quota)


def test_allocate_bad_input():
    with pytest.raises(ValidationError, match="total must be >= 0, got -1"):
        sample.allocate(-1, {"a": 1})
    with pytest.raises(ValidationError, match="weights must have a positive sum"):
        sample.allocate(3, {"a": 0})


def test_cli_sample_generate(tmp_path):
    out = tmp_path / "s.geojson"
    res = CliRunner().invoke(cli_main, ["sample", "generate", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "wrote" in res.output and str(out) in res.output
    assert out.read_bytes() == sample.SAMPLE_PATH.read_bytes()
    res = CliRunner().invoke(cli_main, ["sample", "generate", "--out", str(out), "--seed", "nope"])
    assert res.exit_code == 2 and "--seed" in res.output
