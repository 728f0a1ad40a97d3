"""stationmap.bulk.no_gc: the collector paused for a build, and given back however the build ends."""

from __future__ import annotations

import gc

import pytest

from stationmap.bulk import no_gc


def test_paused_inside_and_given_back_after_an_error_and_as_a_decorator():
    assert gc.isenabled()
    with no_gc():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ValueError), no_gc():
        raise ValueError("the build failed")
    assert gc.isenabled()

    @no_gc()
    def build():
        return gc.isenabled()

    assert build() is False and build() is False and gc.isenabled()   # (each call pauses afresh)
    with no_gc(on=False):
        assert gc.isenabled()


def test_a_pause_inside_a_pause_leaves_the_outer_one_alone():
    with no_gc():
        with no_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()


def test_an_import_runs_with_the_collector_paused(tmp_path, monkeypatch):
    from stationmap.io import importer

    seen = []
    real = importer.parse_stations
    monkeypatch.setattr(importer, "parse_stations", lambda *a, **k: seen.append(gc.isenabled()) or real(*a, **k))
    path = tmp_path / "s.csv"
    path.write_text("name,lat,lon,kind,adcode\n钟楼驿站,31.78,119.95,rest,320404\n", encoding="utf-8")
    res = importer.import_file(None, path, dry_run=True)
    assert res.rows == 1 and seen == [False] and gc.isenabled()
