"""The command line: init, import, export, nearest.

Each test points STATIONMAP_DATABASE_URL at a temporary SQLite file.  Errors
must be one clear line naming file, row and field, exit status 1, and never
a traceback.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from pyproj import Geod

from stationmap.model import Station
from stationmap.store import StationStore
from tests.support.cli import run

DATA = Path(__file__).resolve().parents[1] / "data"
SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample" / "stations.geojson"


@pytest.fixture
def url(tmp_path, monkeypatch):
    u = f"sqlite:///{tmp_path}/cli.sqlite"
    monkeypatch.setenv("STATIONMAP_DATABASE_URL", u)
    return u




def link_bundled_places(data_dir: Path) -> None:
    """The bundled boundaries and census in ``data_dir``: imports place each station in its district."""
    for sub in ("boundaries", "census"):
        (data_dir / sub).symlink_to(SAMPLE.parents[1] / sub)


def tiny_data_dir(tmp_path: Path) -> Path:
    """A data dir whose sample file holds 3 stations (WGS-84); the bundled boundaries and census
    (where imported stations are placed)."""
    d = tmp_path / "data"
    (d / "sample").mkdir(parents=True)
    link_bundled_places(d)
    feats = [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [lon, lat]},
         "properties": {"id": sid, "name": name, "kinds": ["rest"], "source": "sample"}}
        for sid, name, lon, lat in [("s1", "一号", 120.60, 31.30), ("s2", "二号", 120.62, 31.31),
                                    ("s3", "三号", 120.70, 31.35)]
    ]
    (d / "sample" / "stations.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": feats}, ensure_ascii=False), encoding="utf-8")
    return d


# -- init ------------------------------------------------------------------------------

def test_init_loads_the_bundled_sample_once(url):
    n = len(json.loads(SAMPLE.read_text(encoding="utf-8"))["features"])
    res = run("init")
    assert res.exit_code == 0 and f"sample: {n} added" in res.stdout
    store = StationStore(url)
    first = (store.all(), store.revision())
    assert len(first[0]) == n and first[1] == n and all(s.source == "sample" for s in first[0])
    res = run("init")
    assert res.exit_code == 0 and f"sample: 0 added, {n} already there" in res.stdout
    assert (store.all(), store.revision()) == first


def test_init_keeps_edits_and_deletions_of_sample_stations(url, tmp_path, monkeypatch):
    monkeypatch.setenv("STATIONMAP_DATA_DIR", str(tiny_data_dir(tmp_path)))
    assert run("init").exit_code == 0
    store = StationStore(url)
    store.update(Station(id="s1", name="一号（改名）", lon=120.60, lat=31.30, source="sample", adcode="320508"))
    store.delete("s2")
    rev = store.revision()
    assert run("init").exit_code == 0
    assert store.ids() == {"s1", "s3"} and store.get("s1").name == "一号（改名）" and store.revision() == rev


def test_init_no_sample_and_missing_sample_file(url, tmp_path, monkeypatch):
    res = run("init", "--no-sample")
    assert res.exit_code == 0 and "(0 stations)" in res.stdout
    assert StationStore(url).exists() and StationStore(url).count() == 0
    monkeypatch.setenv("STATIONMAP_DATA_DIR", str(tmp_path / "nowhere"))
    res = run("init")
    assert res.exit_code == 0 and "no sample stations file" in res.stderr
    assert StationStore(url).count() == 0


# -- import ------------------------------------------------------------------------------

def test_import_reports_every_bad_row_and_writes_nothing(url):
    run("init", "--no-sample")
    res = run("import", DATA / "stations_bad.csv")
    assert res.exit_code == 1
    f = DATA / "stations_bad.csv"
    lines = res.stderr.splitlines()
    assert lines[0] == f"{f}: row 3, field name: name is missing"
    assert f"{f}: row 6, field lat: latitude and longitude look swapped (lon=31.34, lat=120.64)" in lines
    assert f"{f}: row 11, field id: duplicate id 'b-01' (also in row 2)" in lines
    assert len([ln for ln in lines if ln.startswith(f"{f}: row ")]) == 9
    assert lines[-1].startswith("error: ") and "nothing was imported" in lines[-1]
    assert StationStore(url).count() == 0


def test_import_xlsx_error_names_file_row_and_field(url, tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["名称", "经度", "纬度", "类型"])
    for i in range(2, 7):
        ws.append([f"站{i}", 120.6 + i / 100, 31.3, "驿站"])
    ws.append(["颠倒站", 31.34, 120.64, "驿站"])  # row 7
    path = tmp_path / "stations.xlsx"
    wb.save(path)
    res = run("import", path)
    assert res.exit_code == 1
    assert f"{path}: row 7, field lat: latitude and longitude look swapped (" in res.stderr


def test_import_skip_invalid_and_dry_run(url):
    run("init", "--no-sample")
    store = StationStore(url)
    res = run("import", DATA / "stations_bad.csv", "--dry-run")
    assert res.exit_code == 1  # the real import would fail
    assert "dry run, nothing written: 11 rows: 2 new, 0 updated, 0 unchanged, 9 invalid" in res.stdout
    assert store.count() == 0 and store.revision() == 0
    res = run("import", DATA / "stations_bad.csv", "--skip-invalid", "--user", "tester")
    assert res.exit_code == 0 and "imported: 11 rows: 2 new" in res.stdout
    assert "row 6, field lat" in res.stderr
    assert store.ids() == {"b-01", "b-10"} and store.history("b-10")[0]["user"] == "tester"
    res = run("import", DATA / "stations_bad.csv", "--skip-invalid", "--dry-run")
    assert res.exit_code == 0 and "0 new, 0 updated, 2 unchanged, 9 invalid" in res.stdout


def test_import_chinese_xlsx_gbk_csv_and_gcj02(url, tmp_path):
    res = run("import", DATA / "stations_zh.xlsx")
    assert res.exit_code == 0 and "4 new" in res.stdout and "'序号' is not a station field" in res.stderr
    res = run("import", DATA / "stations_gbk.csv")
    assert res.exit_code == 0 and "2 new" in res.stdout
    f = tmp_path / "amap.csv"
    f.write_text("编号,名称,经度,纬度,类型\np,天安门,116.41024449916938,39.91640428150164,驿站\n", encoding="utf-8")
    res = run("import", f, "--datum", "gcj02", "--district", "110101")  # Beijing: outside the boundaries
    assert res.exit_code == 0 and "converted from gcj02 to WGS-84" in res.stdout
    s = StationStore(url).get("p")
    assert abs(s.lon - 116.404) < 2e-7 and abs(s.lat - 39.915) < 2e-7
    assert StationStore(url).count() == 7


@pytest.mark.parametrize("name, content, expect", [
    ("nope.csv", None, "nope.csv: no such file"),
    ("stations.txt", "name,lon,lat\n", "unsupported file type '.txt'"),
    ("stations.xlsx", "名称,经度,纬度\n", "stations.xlsx: is not a valid .xlsx workbook"),
    ("empty.csv", "", "empty.csv: the file is empty"),
    ("nolat.csv", "名称,经度\n甲,120\n", "nolat.csv: missing required column lat (纬度)"),
])
def test_import_file_errors_are_one_clear_line(url, tmp_path, name, content, expect):
    run("init", "--no-sample")
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")
    res = run("import", path)
    assert res.exit_code == 1
    (line,) = res.stderr.splitlines()
    assert line.startswith("error: ") and expect in line and str(path) in line


def test_import_geojson_from_stdin(url):
    doc = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [120.6, 31.3]},
         "properties": {"id": "in-1", "name": "标准输入", "kinds": ["rest"]}}]}
    res = run("import", "-", input=json.dumps(doc))
    assert res.exit_code == 0 and "<stdin>: imported: 1 feature: 1 new" in res.stdout
    assert StationStore(url).get("in-1").name == "标准输入"


# -- export ------------------------------------------------------------------------------

def test_export_stdout_is_geojson(url):
    run("import", DATA / "stations_zh.xlsx")
    stored = {s.id: s for s in StationStore(url).all()}
    res = run("export", "-")
    assert res.exit_code == 0
    doc = json.loads(res.stdout)
    assert doc["type"] == "FeatureCollection" and doc["datum"] == "wgs84" and len(doc["features"]) == 4
    for f in doc["features"]:
        s = stored[f["id"]]
        assert f["geometry"]["coordinates"] == [s.lon, s.lat] and f["properties"]["name"] == s.name


def test_export_files_datum_and_round_trip(url, tmp_path, monkeypatch):
    run("import", DATA / "stations_zh.xlsx")
    before = StationStore(url).all()
    for ext in ("csv", "xlsx", "geojson", "gpkg"):
        out = tmp_path / f"out_gcj.{ext}"
        res = run("export", out, "--datum", "gcj02")
        assert res.exit_code == 0 and f"wrote 4 stations to {out} (gcj02 coordinates)" in res.stdout
        monkeypatch.setenv("STATIONMAP_DATABASE_URL", f"sqlite:///{tmp_path}/rt_{ext}.sqlite")
        res = run("import", out)  # the datum written in the file is honoured
        assert res.exit_code == 0, res.output
        after = StationStore(f"sqlite:///{tmp_path}/rt_{ext}.sqlite").all()
        assert [s.id for s in after] == [s.id for s in before]
        for a, b in zip(before, after):
            assert abs(a.lon - b.lon) < 2e-7 and abs(a.lat - b.lat) < 2e-7 and a.name == b.name
        monkeypatch.setenv("STATIONMAP_DATABASE_URL", url)
    header = (tmp_path / "out_gcj.csv").read_text(encoding="utf-8-sig").splitlines()[0]
    assert header.split(",")[-3:] == ["lon", "lat", "datum"]


def test_export_chinese_headers_and_adcode_filter(url, tmp_path):
    run("import", DATA / "stations_zh.xlsx")
    run("import", DATA / "stations_gbk.csv")
    out = tmp_path / "zh.csv"
    res = run("export", out, "--lang", "zh", "--adcode", "3204")
    assert res.exit_code == 0 and "wrote 2 stations" in res.stdout
    lines = out.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("编号,名称,英文名称,类型,服务") and lines[0].endswith("经度,纬度,坐标系")
    assert "驿站" in lines[1] or "工会驿站" in lines[1]
    res = run("export", out, "--adcode", "32x")
    assert res.exit_code == 1 and "adcode must be 1 to 6 digits" in res.stderr


def test_export_errors(url, tmp_path):
    res = run("export", tmp_path / "x.csv")
    assert res.exit_code == 1 and "run `stationmap init` first" in res.stderr
    run("init", "--no-sample")
    res = run("export", tmp_path / "x.shp")
    assert res.exit_code == 1 and "unsupported file type '.shp'" in res.stderr
    res = run("export", tmp_path / "missing" / "x.csv")
    assert res.exit_code == 1 and "does not exist" in res.stderr
    res = run("export", tmp_path / "x.csv", "--datum", "utm")
    assert res.exit_code == 2  # a usage error, from click


# -- nearest ------------------------------------------------------------------------------

def test_nearest_matches_a_brute_force_geodesic_search(url, tmp_path, monkeypatch):
    data = tmp_path / "d"
    (data / "sample").mkdir(parents=True)
    shutil.copy(SAMPLE, data / "sample" / "stations.geojson")
    link_bundled_places(data)
    monkeypatch.setenv("STATIONMAP_DATA_DIR", str(data))
    run("init")
    stations = StationStore(url).all()
    lon, lat = 119.97, 31.78
    geod = Geod(ellps="WGS84")
    ref = sorted((geod.inv(lon, lat, s.lon, s.lat)[2], s.id) for s in stations)[:5]
    res = run("nearest", "--lon", lon, "--lat", lat, "--k", 5, "--format", "json")
    assert res.exit_code == 0
    got = json.loads(res.stdout)["stations"]
    assert [g["id"] for g in got] == [sid for _, sid in ref]
    for g, (d, _) in zip(got, ref):
        assert abs(g["distance_m"] - d) < 0.1
    text = run("nearest", "--lon", lon, "--lat", lat, "--k", 1)
    assert text.exit_code == 0 and ref[0][1] in text.stdout and "[sample data]" in text.stdout


def test_nearest_says_when_each_station_opens_or_closes_at_a_moment(url):
    run("import", "-", input=json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [119.95, 31.78]},
         "properties": {"id": "day", "name": "日间驿站", "kinds": ["rest"], "opening_hours": "Mo-Su 08:00-20:00"}},
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [119.96, 31.78]},
         "properties": {"id": "night", "name": "夜间驿站", "kinds": ["rest"], "opening_hours": "22:00-06:00"}}]}))
    res = run("nearest", "--lon", 119.95, "--lat", 31.78, "--at", "2026-12-07T06:30", "--format", "json")
    assert res.exit_code == 0, res.output
    body = json.loads(res.stdout)
    assert body["query"]["at"] == "2026-12-07T06:30:00+08:00"
    day, night = body["stations"]
    assert (day["open_now"], day["opens_at"], day["closes_at"]) == (False, "2026-12-07T08:00:00+08:00", None)
    assert (night["open_now"], night["closes_at"]) == (False, None) and night["opens_at"] == "2026-12-07T22:00:00+08:00"
    only = run("nearest", "--lon", 119.95, "--lat", 31.78, "--at", "2026-12-07T23:00", "--open-now", "--format", "json")
    assert [s["id"] for s in json.loads(only.stdout)["stations"]] == ["night"]
    text = run("nearest", "--lon", 119.95, "--lat", 31.78, "--at", "2026-12-07T12:00", "--k", 1)
    assert "open until 2026-12-07 20:00" in text.stdout
    bad = run("nearest", "--lon", 119.95, "--lat", 31.78, "--at", "tomorrow")
    assert bad.exit_code == 1 and bad.stderr.count("\n") == 1 and "--at" in bad.stderr


def test_nearest_in_gcj02_and_before_init(url):
    res = run("nearest", "--lon", 120.6, "--lat", 31.3)
    assert res.exit_code == 1 and "run `stationmap init` first" in res.stderr
    run("import", "-", "--district", "110101", input=json.dumps({"type": "FeatureCollection", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": [116.404, 39.915]},
         "properties": {"id": "tam", "name": "天安门", "kinds": ["rest"]}}]}))
    # the GCJ-02 coordinates of the same place (coordtransform's published value): distance ~0
    res = run("nearest", "--lon", 116.41024449916938, "--lat", 39.91640428150164, "--datum", "gcj02",
              "--format", "json")
    (hit,) = json.loads(res.stdout)["stations"]
    assert hit["id"] == "tam" and hit["distance_m"] < 0.05


# -- serve: gunicorn's control socket (issue 20) -------------------------------------

def _gunicorn_cfg(argv: list[str], monkeypatch):
    """gunicorn's settings as gunicorn itself reads them from ``argv`` (its config module reloaded)."""
    import importlib
    import sys

    from gunicorn.app.wsgiapp import WSGIApplication

    import stationmap.gunicorn_conf

    importlib.reload(stationmap.gunicorn_conf)  # it reads STATIONMAP_INSTANCE_PATH when loaded
    monkeypatch.setattr(sys, "argv", ["gunicorn", *argv])
    return WSGIApplication("%(prog)s [OPTIONS] [APP_MODULE]").cfg


def test_serve_keeps_gunicorns_control_socket_in_its_instance_folder(tmp_path, monkeypatch):
    """Two instances on one machine must not share gunicorn's default ~/.gunicorn/gunicorn.ctl."""
    from stationmap.cli import gunicorn_args

    sockets = []
    for name in ("one", "two"):
        instance = tmp_path / name / "instance"
        monkeypatch.setenv("STATIONMAP_INSTANCE_PATH", str(instance))
        cfg = _gunicorn_cfg(gunicorn_args("127.0.0.1", 8000, 2), monkeypatch)
        assert cfg.control_socket == str(instance.resolve() / "gunicorn.ctl")
        assert not cfg.control_socket_disable
        assert instance.is_dir() and (instance.stat().st_mode & 0o777) == 0o700
        sockets.append(cfg.control_socket)
    assert sockets[0] != sockets[1]


def test_serve_has_no_control_socket_where_its_path_is_too_long_for_one(tmp_path, monkeypatch):
    from stationmap.cli import gunicorn_args

    instance = tmp_path / ("x" * 120) / "instance"
    monkeypatch.setenv("STATIONMAP_INSTANCE_PATH", str(instance))
    cfg = _gunicorn_cfg(gunicorn_args("127.0.0.1", 8000, 2), monkeypatch)
    assert cfg.control_socket_disable, "a Unix socket path is at most 107 bytes: none rather than a shared one"


def test_serve_warms_the_app_then_freezes_the_masters_objects_before_the_workers_fork(monkeypatch):
    """when_ready (in gunicorn's master, before it forks): the app's warm, then gc.freeze, so the
    workers' collections leave what the master built alone (shared pages stay shared)."""
    import gc
    from types import SimpleNamespace

    from stationmap import gunicorn_conf

    monkeypatch.delenv("STATIONMAP_SERVE_BANNER", raising=False)
    seen = []
    app = SimpleNamespace(warm=lambda: seen.append(gc.get_freeze_count()))
    gc.unfreeze()
    try:
        gunicorn_conf.when_ready(SimpleNamespace(app=SimpleNamespace(callable=app)))
        assert seen == [0]                          # warmed before the freeze
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
