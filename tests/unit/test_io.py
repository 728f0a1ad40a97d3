"""Importers and exporters (stationmap.io): every bad input reported with row and
field, nothing written on failure, Chinese spreadsheets, datums, round trips.

Expected values are written out by hand (fixtures in tests/data, made by
tests/data/make_io_fixtures.py) or come from coordtransform's published
reference points, never from the code under test.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from stationmap.errors import ImportReportError, ValidationError
from stationmap.io import export_file, import_file, parse_stations, stations_to_geojson, write_stations
from stationmap.io.readers import FileProblem, field_for_header
from stationmap.model import Station
from stationmap.store import StationStore

DATA = Path(__file__).resolve().parents[1] / "data"

# coordtransform (wandergis) published values for the point (116.404, 39.915) WGS-84
REF_WGS = (116.404, 39.915)
REF_GCJ = (116.41024449916938, 39.91640428150164)
REF_BD = (116.41662724378733, 39.922699552216216)
#: the reference points are in Beijing, outside the bundled (Jiangsu) boundaries: imported under 东城区
BEIJING = "110101"


@pytest.fixture
def store(db_url):
    s = StationStore(db_url)
    s.create_all()
    return s


def state(store):
    """Everything an import could change: the stations and the change log."""
    return store.all(), store.revision()


def seed(store):
    """A store with one station already in it."""
    store.insert(Station(id="old-1", name="老驿站", lon=120.5, lat=31.2, kinds=("rest",)), user="t")
    return state(store)


def write(path: Path, text: str, encoding="utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def csv_to_xlsx(lines: list[str], path: Path) -> Path:
    """The same table as an Excel sheet, numbers as number cells (as Excel would have them)."""
    import csv

    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    for cells in csv.reader(lines):
        out = []
        for c in cells:
            try:
                out.append(float(c))
            except ValueError:
                out.append(c or None)
        ws.append(out)
    wb.save(path)
    return path


# -- header names --------------------------------------------------------------------

@pytest.mark.parametrize("header, field", [
    ("名称", "name"), ("站点名称", "name"), ("经度", "lon"), ("纬度", "lat"), ("经度(GCJ-02)", "lon"),
    ("纬度（高德）", "lat"), ("*名称", "name"), ("类型", "kinds"), ("服务", "services"),
    ("开放时间", "opening_hours"), ("电话", "phone"), ("联系电话", "phone"), ("区划代码", "adcode"),
    ("行政区划代码", "adcode"), ("承办单位", "host"), ("依托单位", "host"), ("运营单位", "operator"),
    ("管理单位", "operator"), ("状态", "status"), ("核实日期", "verified_at"), ("更新日期", "verified_at"),
    ("编号", "id"), ("ID", "id"), ("英文名称", "name_en"), ("地址", "address"), ("Longitude", "lon"),
    ("LAT", "lat"), (" name ", "name"), ("opening hours", "opening_hours"), ("坐标系", "datum"),
    ("序号", None), ("备注", None),
])
def test_header_names(header, field):
    assert field_for_header(header) == field


# -- Chinese spreadsheets ------------------------------------------------------------

def test_chinese_xlsx_with_title_row_and_odd_cells(store):
    res = import_file(store, DATA / "stations_zh.xlsx")
    assert (res.new, res.invalid, res.rows) == (4, 0, 4)
    assert any("'序号'" in w for w in res.warnings) and any("'备注'" in w for w in res.warnings)
    got = {s.id: s for s in store.all()}
    assert got["sip-001"] == Station(
        id="sip-001", name="星海街工会驿站", name_en="Xinghai Street rest station", lon=120.6712345,
        lat=31.3123456, kinds=("rest",), services=("drinking_water", "hot_water", "phone_charging", "microwave"),
        address="苏州工业园区星海街9号", adcode="320571", host="工商银行星海支行", operator="苏州工业园区总工会",
        phone="0512-66681234", opening_hours="Mo-Fr 08:00-18:00", status="active", verified_at=date(2024, 5, 1))
    assert got["sip-002"].kinds == ("hot_tea", "rest") and got["sip-002"].services == ("hot_water", "rest_seats")
    assert got["sip-002"].status == "temporarily_closed" and got["sip-002"].verified_at == date(2024, 6, 15)
    s3 = got["sip-003"]
    assert (s3.kinds, s3.services, s3.phone, s3.adcode, s3.host) == (("legal_aid",), ("legal_aid", "wifi"),
                                                                       "12345", "320571", "")
    assert (s3.opening_hours, s3.status, s3.verified_at) == ("24/7", "active", None)
    # the row without an id (after a blank row) got a stable id
    (derived,) = [s for s in got.values() if s.name == "独墅湖驿站"]
    assert derived.id.startswith("st-") and len(derived.id) == 15 and derived.kinds == ("rest",)


def test_gbk_csv(store):
    raw = (DATA / "stations_gbk.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")  # the fixture really is GBK
    res = import_file(store, DATA / "stations_gbk.csv")
    assert res.new == 2 and not res.warnings
    a, b = store.all()
    assert a == Station(id="cz-101", name="钟楼区邮政驿站", lon=119.9501, lat=31.7802, kinds=("rest",),
                        services=("drinking_water", "toilet", "phone_charging"), address="常州市钟楼区南大街1号",
                        adcode="320404", host="中国邮政钟楼支局", operator="钟楼区总工会", phone="0519-88880001",
                        opening_hours="Mo-Fr 08:30-17:30", status="active", verified_at=date(2024, 3, 1))
    assert (b.id, b.kinds, b.status, b.host) == ("cz-102", ("hot_tea",), "closed", "天宁区便利店")


def test_utf8_bom_csv_with_title_line_and_blank_lines(store, tmp_path):
    text = ("\ufeff常州市驿站名单\r\n名称,经度,纬度,类型\r\n甲,119.95,31.78,驿站\r\n\r\n乙,abc,31.79,驿站\r\n")
    with pytest.raises(ImportReportError) as ei:
        import_file(store, write(tmp_path / "list.csv", text))
    assert [(p.row, p.field) for p in ei.value.problems] == [(5, "lon")]


# -- bad rows ------------------------------------------------------------------------

BAD_EXPECTED = [
    (3, "name", "name is missing"),
    (4, "lon", "must be a number"),
    (5, "lat", "must be in [-90, 90]"),
    (6, "lat", "latitude and longitude look swapped"),
    (7, "lon", "outside China"),
    (8, "kinds", "unknown kind 'cafe'"),
    (9, "services", "unknown service 'massage'"),
    (10, "opening_hours", "opening_hours is not valid"),
    (11, "id", "duplicate id 'b-01' (also in row 2)"),
]


@pytest.fixture(params=["csv", "xlsx"])
def bad_file(request, tmp_path):
    if request.param == "csv":
        return DATA / "stations_bad.csv"
    lines = (DATA / "stations_bad.csv").read_text(encoding="utf-8").splitlines()
    return csv_to_xlsx(lines, tmp_path / "stations_bad.xlsx")


def test_every_bad_row_is_reported_and_nothing_written(store, bad_file):
    before = seed(store)
    with pytest.raises(ImportReportError) as ei:
        import_file(store, bad_file)
    exc = ei.value
    got = [(p.row, p.field) for p in exc.problems]
    assert got == [(r, f) for r, f, _ in BAD_EXPECTED]
    for p, (_, _, text) in zip(exc.problems, BAD_EXPECTED):
        assert text in p.message
    assert exc.source == str(bad_file) and "9 of 11 rows are invalid" in exc.message
    assert str(exc.problems[3]).startswith("row 6, field lat: latitude and longitude look swapped")
    assert state(store) == before


def test_skip_invalid_imports_exactly_the_valid_rows(store, bad_file):
    seed(store)
    res = import_file(store, bad_file, skip_invalid=True)
    assert store.ids() == {"old-1", "b-01", "b-10"}
    assert store.get("b-01").name == "好驿站"  # the first b-01, not its duplicate in row 11
    assert (res.new, res.invalid, len(res.problems)) == (2, 9, 9) and res.written


def test_dry_run_counts_and_writes_nothing(store, tmp_path):
    store.write_many([Station(id="a", name="甲", lon=120.1, lat=31.1, adcode="320506"),  # 吴中区, as imported
                      Station(id="b", name="乙", lon=120.2, lat=31.2, adcode="320506")])
    before = state(store)
    f = write(tmp_path / "s.csv", "id,name,lon,lat,kinds\n"
                                  "a,甲,120.1,31.1,rest\n"      # unchanged
                                  "b,乙改,120.2,31.2,rest\n"    # updated
                                  "c,丙,120.3,31.3,rest\n"      # new
                                  "d,,120.4,31.4,rest\n")       # invalid
    res = import_file(store, f, dry_run=True)
    assert (res.new, res.updated, res.unchanged, res.invalid) == (1, 1, 1, 1)
    assert not res.written and [(p.row, p.field) for p in res.problems] == [(5, "name")]
    assert "dry run" in res.summary() and "1 new, 1 updated, 1 unchanged, 1 invalid" in res.summary()
    assert state(store) == before


def test_geojson_problems_use_feature_numbers(store):
    before = seed(store)
    with pytest.raises(ImportReportError) as ei:
        import_file(store, DATA / "stations_bad.geojson")
    probs = ei.value.problems
    assert [(p.row, p.field) for p in probs] == [(2, "geometry"), (3, "geometry"), (4, "name")]
    assert str(probs[0]).startswith("feature 2, field geometry: geometry must be a Point, got 'Polygon'")
    assert all(isinstance(p, FileProblem) and p.to_dict()["unit"] == "feature" for p in probs)
    assert state(store) == before
    res = import_file(store, DATA / "stations_bad.geojson", skip_invalid=True)
    assert store.ids() == {"old-1", "g-1", "g-5"}
    assert any("'colour'" in w for w in res.warnings)


def test_long_id_and_duplicate_station_without_ids(store, tmp_path):
    f = write(tmp_path / "s.csv", "id,name,address,lon,lat,kinds\n"
                                  f"{'x' * 65},甲,,120.1,31.1,rest\n"
                                  ",乙,某路1号,120.2,31.2,rest\n"
                                  ",乙,某路1号,120.3,31.3,rest\n")
    with pytest.raises(ImportReportError) as ei:
        import_file(store, f)
    assert [(p.row, p.field) for p in ei.value.problems] == [(2, "id"), (4, "name")]
    assert "same name and address as row 3" in ei.value.problems[1].message


def test_rows_without_ids_reimport_without_copies(store, tmp_path):
    f = write(tmp_path / "s.csv", "名称,地址,经度,纬度\n甲,某路1号,120.1,31.1\n乙,,120.2,31.2\n")
    first = import_file(store, f)
    rev = store.revision()
    again = import_file(store, f)
    assert (first.new, again.new, again.unchanged) == (2, 0, 2)
    assert store.count() == 2 and store.revision() == rev
    assert any("no kinds column" in w for w in first.warnings)
    assert {s.kinds for s in store.all()} == {("rest",)}


def test_reimport_with_a_change_updates_and_logs_once(store, tmp_path):
    f = write(tmp_path / "s.csv", "id,name,lon,lat,kinds\na,甲,120.1,31.1,rest\nb,乙,120.2,31.2,rest\n")
    import_file(store, f)
    rev = store.revision()
    write(f, "id,name,lon,lat,kinds\na,甲,120.1,31.1,rest\nb,乙,120.2,31.2,hot_tea\n")
    res = import_file(store, f, user="alice")
    assert (res.new, res.updated, res.unchanged) == (0, 1, 1)
    assert store.revision() == rev + 1
    h = store.history("b")[0]
    assert (h["action"], h["user"], h["before"]["kinds"], h["after"]["kinds"]) == ("update", "alice", ["rest"],
                                                                                   ["hot_tea"])


# -- file-level errors ---------------------------------------------------------------

@pytest.mark.parametrize("name, content, expect", [
    ("missing.csv", None, "no such file"),
    ("stations.txt", "name,lon,lat\n", "unsupported file type '.txt'"),
    ("stations.xls", b"\xd0\xcf\x11\xe0junk", "save it from Excel / WPS as .xlsx"),
    ("empty.csv", b"", "the file is empty"),
    ("blank.csv", "\n \n", "the file is empty"),
    ("header_only.csv", "name,lon,lat\n", "no station rows"),
    ("binary.csv", b"PK\x03\x04\x00\x00binary", "not a text CSV file"),
    ("no_lat.csv", "名称,经度,地址\n甲,120,某路\n", "missing required column lat (纬度)"),
    ("no_coords.csv", "名称,地址\n甲,某路\n", "missing required columns lon (经度), lat (纬度)"),
    ("ragged.csv", "name,lon,lat\n甲,120,31\n乙,120,31,x\n", "row 3 has 4 fields but the header has 3"),
    ("empty.xlsx", b"", "the file is empty"),
    ("encrypted.xlsx", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1junk", "not a valid .xlsx workbook"),
    ("broken.xlsx", b"PK\x03\x04 this is not really a zip", "not a valid .xlsx workbook"),
    ("bad.json", "{not json", "not valid JSON (line 1"),
    ("list.geojson", "[1, 2]", "not a GeoJSON FeatureCollection"),
    ("nofeatures.geojson", '{"type": "FeatureCollection", "features": []}', "no station features"),
    ("badatum.geojson", '{"type": "FeatureCollection", "datum": "utm", "features": []}', '"datum" must be one of'),
    ("noname.geojson", '{"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": '
                       '{"type": "Point", "coordinates": [120, 31]}, "properties": {"名字": "x"}}]}',
     "missing required property name (名称)"),
    ("broken.gpkg", b"SQLite format 3\x00 but broken", "not a valid GeoPackage"),
])
def test_file_level_errors_name_the_file(store, tmp_path, name, content, expect):
    before = seed(store)
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    with pytest.raises(ValidationError) as ei:
        import_file(store, path)
    assert not isinstance(ei.value, ImportReportError)
    assert ei.value.message.startswith(f"{path}: ") and expect in ei.value.message
    assert state(store) == before


def test_not_a_zip_xlsx_fixture(store):
    with pytest.raises(ValidationError, match="not_a_zip.xlsx: is not a valid .xlsx workbook"):
        import_file(store, DATA / "not_a_zip.xlsx")


def test_xlsx_header_only_and_wrong_headers(store, tmp_path):
    with pytest.raises(ValidationError, match="no station rows"):
        import_file(store, csv_to_xlsx(["名称,经度,纬度"], tmp_path / "h.xlsx"))
    with pytest.raises(ValidationError, match=r"missing required columns name \(名称\), lon.*found: 'a', 'b'"):
        import_file(store, csv_to_xlsx(["a,b", "1,2"], tmp_path / "w.xlsx"))


def test_xlsx_row_numbers_count_blank_and_title_rows(store, tmp_path):
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(["某区驿站一览表"])
    ws.append([])
    ws.append(["名称", "经度", "纬度", "类型"])          # row 3
    ws.append(["甲", 120.6, 31.3, "驿站"])                # row 4
    ws.append([])                                        # row 5
    ws.append([])                                        # row 6
    ws.append(["乙", 31.34, 120.64, "驿站"])              # row 7: swapped
    wb.save(tmp_path / "stations.xlsx")
    with pytest.raises(ImportReportError) as ei:
        import_file(store, tmp_path / "stations.xlsx")
    assert [str(p) for p in ei.value.problems] == [
        "row 7, field lat: latitude and longitude look swapped (lon=31.34, lat=120.64)"]


def test_unknown_and_repeated_columns_warn(store, tmp_path):
    f = write(tmp_path / "s.csv", "name,lon,lat,kinds,colour,名称\n甲,120.1,31.1,rest,red,乙\n")
    res = import_file(store, f)
    assert res.new == 1 and store.all()[0].name == "甲"
    assert res.warnings == [f"{f}: warning: column 'colour' is not a station field; ignored",
                            f"{f}: warning: column '名称' is another name column (after 'name'); ignored"]


def test_file_like_upload(store):
    data = (DATA / "stations_zh.xlsx").read_bytes()
    res = import_file(store, io.BytesIO(data), filename="上传.xlsx")
    assert res.new == 4 and res.source == "上传.xlsx"
    with pytest.raises(ImportReportError) as ei:
        import_file(store, io.BytesIO((DATA / "stations_bad.csv").read_bytes()), filename="upload.csv")
    assert ei.value.source == "upload.csv"
    with pytest.raises(ValidationError, match="upload.doc: unsupported file type"):
        import_file(store, io.BytesIO(b"x"), filename="upload.doc")


# -- datums ----------------------------------------------------------------------------

@pytest.mark.parametrize("datum, point", [("gcj02", REF_GCJ), ("bd09", REF_BD), ("wgs84", REF_WGS)])
def test_declared_datum_is_converted_to_wgs84(store, tmp_path, datum, point):
    f = write(tmp_path / "s.csv", f"id,name,lon,lat,kinds\np,天安门,{point[0]!r},{point[1]!r},rest\n")
    res = import_file(store, f, datum=datum, district=BEIJING)
    s = store.get("p")
    assert abs(s.lon - REF_WGS[0]) < 2e-7 and abs(s.lat - REF_WGS[1]) < 2e-7
    assert res.datums == (datum,)
    assert ("converted from" in res.summary()) == (datum != "wgs84")


def test_datum_column_and_geojson_datum_member(store, tmp_path):
    f = write(tmp_path / "s.csv", "id,name,lon,lat,kinds,坐标系\n"
                                  f"w,甲,{REF_WGS[0]},{REF_WGS[1]},rest,WGS-84\n"
                                  f"g,乙,{REF_GCJ[0]},{REF_GCJ[1]},rest,gcj02\n"
                                  f"b,丙,{REF_BD[0]},{REF_BD[1]},rest,BD09\n"
                                  f"x,丁,{REF_WGS[0]},{REF_WGS[1]},rest,utm\n")
    with pytest.raises(ImportReportError) as ei:
        import_file(store, f, district=BEIJING)
    assert [(p.row, p.field) for p in ei.value.problems] == [(5, "datum")]
    import_file(store, f, skip_invalid=True, district=BEIJING)
    for s in store.all():
        assert abs(s.lon - REF_WGS[0]) < 2e-7 and abs(s.lat - REF_WGS[1]) < 2e-7, s
    # a datum column that contradicts the datum asked for is a row problem
    with pytest.raises(ImportReportError) as ei:
        import_file(store, f, datum="wgs84", skip_invalid=False, district=BEIJING)
    assert [(p.row, p.field) for p in ei.value.problems] == [(3, "datum"), (4, "datum"), (5, "datum")]

    doc = {"type": "FeatureCollection", "datum": "gcj02", "features": [
        {"type": "Feature", "geometry": {"type": "Point", "coordinates": list(REF_GCJ)},
         "properties": {"id": "j", "name": "戊", "kinds": ["rest"]}}]}
    g = write(tmp_path / "s.geojson", json.dumps(doc))
    import_file(store, g, district=BEIJING)
    assert abs(store.get("j").lon - REF_WGS[0]) < 2e-7 and abs(store.get("j").lat - REF_WGS[1]) < 2e-7
    with pytest.raises(ValidationError, match="declares its coordinates as gcj02 but datum bd09"):
        import_file(store, g, datum="bd09", district=BEIJING)


def test_mixed_datums_keep_each_station_its_own_point_in_row_order(tmp_path):
    """Rows in WGS-84 are built at once and the others after their datum's vectorised conversion:
    each station still gets its own point, in row order, and the records are let go once checked."""
    from stationmap.coords import from_wgs84

    points = [(116.40 + i * 0.01, 39.90 + i * 0.005) for i in range(7)]
    datums = ["wgs84", "gcj02", "bd09", "gcj02", "wgs84", "bd09", "wgs84"]
    lines = ["id,name,lon,lat,kinds,datum"]
    for i, ((lon, lat), d) in enumerate(zip(points, datums)):
        x, y = from_wgs84(lon, lat, d)
        lines.append(f"s{i},站{i},{float(x)!r},{float(y)!r},rest,{d}")
        if i == 2:
            lines.append("bad,坏,abc,39.9,rest,gcj02")
    parsed = parse_stations(write(tmp_path / "m.csv", "\n".join(lines) + "\n"), district=BEIJING)
    assert [s.id for s in parsed.stations] == [f"s{i}" for i in range(7)]
    assert parsed.station_rows == [2, 3, 4, 6, 7, 8, 9]
    assert [(p.row, p.field) for p in parsed.problems] == [(5, "lon")]
    for s, (lon, lat) in zip(parsed.stations, points):
        assert abs(s.lon - lon) < 1e-6 and abs(s.lat - lat) < 1e-6, s
    assert parsed.datums == ("bd09", "gcj02", "wgs84")
    assert parsed.table.records == [] and len(parsed.table.rows) == 8


def test_problems_can_go_to_a_callback_as_they_are_found(tmp_path):
    """The web preview keeps the first problems only: ``on_problem`` gets each, in row order, and the
    counts stay whole; the problem list writes them in parts with one header."""
    from stationmap.io.writers import PROBLEM_COLUMNS, write_problems_csv

    path = write(tmp_path / "p.csv", "id,name,lon,lat,kinds,phone\n"
                                     "a,甲,120.1,31.1,rest,\n"
                                     "b,,abc,31.2,rest,=1+1\n"
                                     "c,丙,120.3,31.3,rest,\n"
                                     "d,丁,120.4,31.4,spa,\n")
    kept = parse_stations(path)
    got: list = []
    parsed = parse_stations(path, on_problem=got.append)
    assert [(p.row, p.field) for p in got] == [(3, "name"), (3, "lon"), (3, "phone"), (5, "kinds")]
    assert got == kept.problems and parsed.problems == []
    assert (parsed.problem_count, parsed.invalid_rows) == (kept.problem_count, kept.invalid_rows) == (4, 2)
    assert [s.id for s in parsed.stations] == [s.id for s in kept.stations] == ["a", "c"]
    out = io.StringIO()
    assert write_problems_csv(got[:1], out) + write_problems_csv(got[1:], out, header=False) == 4
    lines = out.getvalue().splitlines()
    assert lines[0] == ",".join(PROBLEM_COLUMNS) and len(lines) == 5 and lines[3].endswith('"\'=1+1"')


@pytest.mark.parametrize("datum, point", [("gcj02", REF_GCJ), ("bd09", REF_BD), ("wgs84", REF_WGS)])
def test_export_datum_matches_reference(tmp_path, datum, point):
    st_ = [Station(id="p", name="天安门", lon=REF_WGS[0], lat=REF_WGS[1])]
    gj = stations_to_geojson(st_, datum=datum)
    assert gj["datum"] == datum
    x, y = gj["features"][0]["geometry"]["coordinates"]
    assert abs(x - point[0]) < 1e-7 and abs(y - point[1]) < 1e-7
    write_stations(st_, tmp_path / "p.csv", datum=datum)
    import csv

    with open(tmp_path / "p.csv", encoding="utf-8-sig", newline="") as fh:
        (row,) = list(csv.DictReader(fh))
    assert row["datum"] == datum
    assert abs(float(row["lon"]) - point[0]) < 1e-7 and abs(float(row["lat"]) - point[1]) < 1e-7


# -- round trips ----------------------------------------------------------------------

def varied_stations():
    return [
        Station(id="007", name="星海街工会驿站", name_en="Xinghai St., \"rest\" station", lon=120.6712345,
                lat=31.3123456, kinds=("rest", "hot_tea"),
                services=("drinking_water", "cooling", "microwave", "repair_kit"),
                address="苏州工业园区星海街9号, 一楼\n大厅", adcode="320571", host="工商银行", operator="园区总工会",
                phone="0512-66681234", opening_hours="Mo-Fr 08:00-12:00,13:30-17:30; Sa 09:00-12:00",
                status="temporarily_closed", verified_at=date(2024, 5, 1), source="union list 2024",
                reopens_on=date(2027, 1, 4), capacity=8,
                service_hours=(("cooling", "Jun-Sep 10:00-16:00"), ("microwave", "Mo[1] 11:00-13:00 || Tu off"))),
        Station(id="cz-2", name="=SUM(A1:A9)", lon=119.95, lat=31.78, kinds=("legal_aid",), services=(),
                phone="+86 519 1234", status="closed", adcode="320404"),
        Station(id="cz-3", name="热茶点", lon=119.9000001, lat=31.7000001, kinds=("hot_tea",),
                services=("hot_water",), adcode="320412", opening_hours="Nov-Mar 07:00-19:00", source="sample"),
    ]


@pytest.mark.parametrize("ext", ["csv", "xlsx", "geojson", "gpkg"])
@pytest.mark.parametrize("datum", ["wgs84", "gcj02"])
def test_export_import_round_trip(tmp_path, ext, datum):
    src = StationStore(f"sqlite:///{tmp_path}/src.sqlite")
    src.create_all()
    src.write_many(varied_stations())
    path = tmp_path / f"out.{ext}"
    assert export_file(src, path, datum=datum) == 3
    dst = StationStore(f"sqlite:///{tmp_path}/dst.sqlite")
    dst.create_all()
    res = import_file(dst, path)  # the file itself says its datum
    assert res.new == 3 and not res.problems and not res.warnings
    a, b = src.all(), dst.all()
    if datum == "wgs84":
        assert b == a
    else:
        for x, y in zip(a, b):
            assert abs(x.lon - y.lon) < 2e-7 and abs(x.lat - y.lat) < 2e-7
        a = [replace(x, lon=y.lon, lat=y.lat) for x, y in zip(a, b)]
        assert b == a


@pytest.mark.parametrize("ext", ["csv", "xlsx"])
def test_chinese_export_round_trip(tmp_path, ext):
    stations = varied_stations()
    path = tmp_path / f"out.{ext}"
    write_stations(stations, path, lang="zh")
    t = parse_stations(path)
    assert t.table.headers["name"] == "名称" and t.table.headers["lon"] == "经度"
    assert not t.problems and sorted(t.stations, key=lambda s: s.id) == sorted(stations, key=lambda s: s.id)


def test_xlsx_export_never_writes_formulas(tmp_path):
    from openpyxl import load_workbook

    write_stations(varied_stations(), tmp_path / "x.xlsx")
    ws = load_workbook(tmp_path / "x.xlsx").active
    cell = ws.cell(row=3, column=2)
    assert cell.value == "=SUM(A1:A9)" and cell.data_type == "s"
    assert ws.cell(row=2, column=1).value == "007"


def test_export_refuses_bad_targets(tmp_path):
    with pytest.raises(ValidationError, match="unsupported file type '.shp'"):
        write_stations(varied_stations(), tmp_path / "x.shp")
    with pytest.raises(ValidationError, match="does not exist"):
        write_stations(varied_stations(), tmp_path / "no" / "x.csv")
    with pytest.raises(ValidationError, match="datum must be one of"):
        write_stations(varied_stations(), tmp_path / "x.csv", datum="utm")


# -- the store under an import -------------------------------------------------------

def test_change_log_json_is_to_dict(store):
    """schema.station_json (a fast path) must write exactly json.dumps(to_dict(), sort_keys=True)."""
    import_file(store, DATA / "stations_zh.xlsx")
    for s in store.all():
        (h,) = store.history(s.id)
        assert h["after"] == s.to_dict() and h["before"] is None


text_ = st.text(max_size=12)


@settings(max_examples=150, deadline=None)
@given(name=text_, address=text_, phone=text_, kinds=st.lists(text_, max_size=3),
       lon=st.floats(allow_nan=False, allow_infinity=False), lat=st.floats(-90, 90),
       verified=st.one_of(st.none(), st.dates()), reopens=st.one_of(st.none(), st.dates()))
def test_fast_change_log_json_equals_json_dumps(name, address, phone, kinds, lon, lat, verified, reopens):
    from stationmap.schema import station_json as _json

    s = Station(id="x", name=name, lon=lon, lat=lat, kinds=tuple(kinds), services=tuple(reversed(kinds)),
                address=address, phone=phone, verified_at=verified, reopens_on=reopens)
    assert _json(s) == json.dumps(s.to_dict(), ensure_ascii=False, sort_keys=True)


def test_the_fast_change_log_json_is_taken(monkeypatch):
    """A plain station takes the fast path: a field added to Station without adding it there
    silently sent every import through json.dumps (3x slower; issue 20's +10%)."""
    from stationmap import schema

    def slow(s):
        raise AssertionError("station_json took the slow path")

    monkeypatch.setattr(schema, "station_json_slow", slow)
    s = Station(id="x", name="驿站", lon=120.7, lat=31.3, kinds=("rest",), verified_at=date(2024, 5, 1),
                reopens_on=date(2027, 1, 1))
    assert json.loads(schema.station_json(s)) == s.to_dict()


def big_csv(path: Path, n: int, *, start: int = 0, name: str = "驿站") -> Path:
    lines = ["id,name,lon,lat,kinds,services,verified_at"]
    for i in range(start, start + n):
        lines.append(f"s{i:05d},{name}{i},{120.3 + i * 1e-4:.7f},{31.5 + i * 1e-4:.7f},rest,"
                     f"{'hot_water;toilet' if i % 2 else ''},{'2024-05-01' if i % 3 else ''}")
    return write(path, "\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def pg_url():
    from tests.support.postgres import temporary_postgres

    with temporary_postgres() as url:
        yield url


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_large_import_uses_the_bulk_path_correctly(tmp_path, backend, request):
    """1,500 rows: past the store's bulk-insert threshold, on both databases."""
    if backend == "sqlite":
        store = StationStore(f"sqlite:///{tmp_path}/big.sqlite")
    else:
        from stationmap.schema import metadata

        store = StationStore(request.getfixturevalue("pg_url"))
        metadata.drop_all(store.engine)
    store.create_all()
    f = big_csv(tmp_path / "big.csv", 1500)
    res = import_file(store, f, user="bulk")
    assert res.new == 1500 and store.count() == 1500 and store.revision() == 1500
    s = store.get("s00007")
    assert (s.name, s.lon, s.lat, s.services, s.verified_at) == ("驿站7", 120.3007, 31.5007,
                                                                ("hot_water", "toilet"), date(2024, 5, 1))
    assert store.get("s00009").verified_at is None
    (h,) = store.history("s00007")
    assert (h["action"], h["user"], h["after"]) == ("insert", "bulk", s.to_dict())
    assert h["at"].year >= 2024
    # the change log is what the index follows: every row, oldest first
    ch = store.changes_since(0)
    assert [c["station_id"] for c in ch] == [f"s{i:05d}" for i in range(1500)]
    big_csv(f, 1500, name="新驿站")
    res = import_file(store, f)
    assert (res.new, res.updated) == (0, 1500) and store.get("s00007").name == "新驿站7"
    assert store.revision() == 3000


def test_update_existing_false_adds_only_never_seen_stations(store, tmp_path):
    f = write(tmp_path / "s.csv", "id,name,lon,lat,kinds\na,甲,120.1,31.1,rest\nb,乙,120.2,31.2,rest\n"
                                  "c,丙,120.3,31.3,rest\n")
    import_file(store, f, update_existing=False)
    store.update(Station(id="a", name="甲（已改）", lon=120.1, lat=31.1))
    store.delete("b")
    res = import_file(store, f, update_existing=False)
    assert (res.new, res.kept) == (0, 3)
    assert store.ids() == {"a", "c"} and store.get("a").name == "甲（已改）"


def test_no_nan_or_inf_slips_through(store, tmp_path):
    f = write(tmp_path / "s.csv", "name,lon,lat,kinds\n甲,nan,31.1,rest\n乙,120.1,inf,rest\n")
    with pytest.raises(ImportReportError) as ei:
        import_file(store, f)
    assert [(p.row, p.field) for p in ei.value.problems] == [(2, "lon"), (3, "lat")]
    assert store.count() == 0 and not any(math.isnan(s.lon) for s in store.all())
