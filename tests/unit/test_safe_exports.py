"""Exports a spreadsheet opens safely (issue 22): no CSV cell we write starts a formula.

A cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return and is not wholly a number must start with ``'`` when the file is
parsed by Python's csv module (OWASP, "CSV Injection"); XLSX cells holding
such text are text cells, never formulas.  Expected values are written out by
hand.
"""

from __future__ import annotations

import csv
import dataclasses
import io
from pathlib import Path

import pandas as pd
import pytest

from stationmap.errors import ImportReportError
from stationmap.io import export_file, import_file, parse_stations, write_stations
from stationmap.io.cells import frame_to_csv, frames_to_xlsx, restore_cell, safe_cell
from stationmap.model import Station
from stationmap.store import StationStore

PAYLOADS = ['=HYPERLINK("http://x.example","y")', "+cmd|calc!A0", "@SUM(1)", "=1+1", "-2+3", "\tTAB", "\rCR"]
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def _read(path: Path) -> list[dict]:
    with open(path, encoding="utf-8-sig", newline="") as fh:
        return list(csv.DictReader(fh))


def _hostile_stations():
    out = [Station(id=f"h{i}", name=p, address=p, lon=round(119.95 + i * 0.001, 7), lat=31.78, kinds=("rest",),
                   phone="=1+1" if i == 0 else "+86 519 1234",  # h0: a row stored before phones were checked
                   adcode="320404" if i < 4 else "320402")  # the districts their points are in
           for i, p in enumerate(PAYLOADS)]
    out.append(Station(id="n1", name="-12.5", address="1e3", lon=119.9, lat=31.7, kinds=("rest",), phone="+86",
                       adcode="320412"))
    return out


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_station_csv_export_neutralises_formula_cells(tmp_path, lang):
    path = tmp_path / "s.csv"
    write_stations(_hostile_stations(), path, lang=lang)
    rows = _read(path)
    name, address, phone = ("name", "address", "phone") if lang == "en" else ("名称", "地址", "电话")
    for r, p in zip(rows, PAYLOADS):
        assert r[name] == "'" + p and r[address] == "'" + p
    assert rows[0][phone] == "'=1+1" and rows[1][phone] == "'+86 519 1234"
    for r in rows:
        for value in r.values():
            assert not value.startswith(TRIGGERS) or value in ("-12.5", "+86"), (value, r)
    last = rows[-1]
    assert (last[name], last[address], last[phone]) == ("-12.5", "1e3", "+86")  # numbers stay as they are
    raw = path.read_text(encoding="utf-8-sig").splitlines()
    assert raw[0].split(",")[-3:] == (["lon", "lat", "datum"] if lang == "en" else ["经度", "纬度", "坐标系"])
    assert raw[-1].startswith('"n1","-12.5",') and ",119.9,31.7," in raw[-1]  # text quoted, numbers not


def test_exported_csv_imports_back_unchanged(tmp_path):
    stations = [dataclasses.replace(s, phone="+86 519 1234")
                for s in _hostile_stations() if not s.name.startswith(("\t", "\r"))]  # import trims those
    stations.append(Station(id="q", name="'=already quoted", address="'abc", lon=119.91, lat=31.7, kinds=("rest",),
                            adcode="320412"))
    write_stations(stations, tmp_path / "s.csv")
    assert _read(tmp_path / "s.csv")[-1]["name"] == "''=already quoted"
    t = parse_stations(tmp_path / "s.csv")
    assert not t.problems
    assert sorted(t.stations, key=lambda s: s.id) == sorted(stations, key=lambda s: s.id)


def test_old_rows_with_formula_phones_are_still_neutralised_from_the_store(tmp_path):
    store = StationStore(f"sqlite:///{tmp_path}/s.sqlite")
    store.create_all()
    store.write_many(_hostile_stations())
    export_file(store, tmp_path / "all.csv")
    by_id = {r["id"]: r for r in _read(tmp_path / "all.csv")}
    assert by_id["h0"]["phone"] == "'=1+1" and by_id["h0"]["name"] == "'" + PAYLOADS[0]


def test_xlsx_export_keeps_formula_text_as_text(tmp_path):
    from openpyxl import load_workbook

    write_stations(_hostile_stations(), tmp_path / "s.xlsx")
    ws = load_workbook(tmp_path / "s.xlsx").active
    header = [c.value for c in ws[1]]
    name, address, phone = (header.index(h) for h in ("name", "address", "phone"))
    row = list(ws[5])  # h3: "=1+1"
    assert row[name].value == "=1+1" and row[name].data_type == "s"
    assert row[address].value == "=1+1" and row[address].data_type == "s"
    assert ws[2][phone].value == "=1+1" and ws[2][phone].data_type == "s"
    assert not [c.coordinate for r in ws.iter_rows() for c in r if c.data_type == "f"]


def test_import_refuses_formula_phones_naming_row_and_field(tmp_path):
    from stationmap.io.writers import write_problems_csv

    store = StationStore(f"sqlite:///{tmp_path}/s.sqlite")
    store.create_all()
    f = tmp_path / "in.csv"
    f.write_text("id,name,lon,lat,kinds,phone\n"
                 "a,甲,120.1,31.1,rest,0519-8888 8888\n"
                 "b,乙,120.2,31.2,rest,=1+1\n"
                 "c,丙,120.3,31.3,rest,abc\n"
                 "d,丁,120.4,31.4,rest,12345转678\n", encoding="utf-8")
    with pytest.raises(ImportReportError) as ei:
        import_file(store, f)
    assert [(p.row, p.field) for p in ei.value.problems] == [(3, "phone"), (4, "phone")]
    assert store.count() == 0
    out = io.StringIO()
    assert write_problems_csv(ei.value.problems, out) == 2
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert [(r["unit"], r["row"], r["field"], r["value"]) for r in rows] == [
        ("row", "3", "phone", "'=1+1"), ("row", "4", "phone", "abc")]
    assert rows[0]["message"].startswith("phone must be a telephone number") and "'=1+1'" in rows[0]["message"]


def _frame():
    return pd.DataFrame({"adcode": ["900001", "900002"], "name": ["=1+1", "-12.5"], "demand": [-1.5, float("inf")],
                         "population": [None, 3.0], "sample_data": [False, False]})


def test_frame_csv_and_xlsx_never_hold_formulas(tmp_path):
    from openpyxl import load_workbook

    frame_to_csv(_frame(), tmp_path / "f.csv")
    rows = _read(tmp_path / "f.csv")
    assert [(r["name"], r["demand"], r["population"]) for r in rows] == [("'=1+1", "-1.5", ""), ("-12.5", "inf", "3.0")]
    assert (tmp_path / "f.csv").read_text(encoding="utf-8-sig").splitlines()[0] == \
        "adcode,name,demand,population,sample_data"
    frames_to_xlsx({"figures": _frame()}, tmp_path / "f.xlsx")
    cell = load_workbook(tmp_path / "f.xlsx")["figures"]["B2"]
    assert cell.value == "=1+1" and cell.data_type == "s"


def test_coverage_figures_neutralise_a_district_name(tmp_path):
    from openpyxl import load_workbook
    from shapely.geometry import box

    from stationmap import config
    from stationmap import coverage as cv
    from stationmap.planning import write_outputs

    settings = config.load({"speeds_kmh": dict(config.DEFAULT_SPEEDS_KMH), "detour_factor": config.DETOUR_FACTOR,
                            "minutes": config.DEFAULT_MINUTES})
    areas = [cv.Area("900001", '=HYPERLINK("http://x.example","y")', "county", box(119.950, 31.750, 119.985, 31.785),
                     population=1000),
             cv.Area("900002", "@SUM(1)", "county", box(119.985, 31.755, 120.015, 31.780), population=500)]
    stations = [Station(id="s", name="站", lon=119.96, lat=31.76, kinds=("rest",))]
    cov = cv.analyse(areas, stations, kinds=["rest"], mode="walk", minutes=10, cell_m=500, settings=settings)
    paths = write_outputs(cov, tmp_path, kind="rest")
    names = [r["name"] for r in _read(paths["csv"])]
    assert names[:2] == ['\'=HYPERLINK("http://x.example","y")', "'@SUM(1)"]
    ws = load_workbook(paths["xlsx"])["figures"]
    assert ws["B2"].value == '=HYPERLINK("http://x.example","y")' and ws["B2"].data_type == "s"
    assert not [c.coordinate for r in ws.iter_rows() for c in r if c.data_type == "f"]


@pytest.mark.parametrize("value, cell", [
    ("=1+1", "'=1+1"), ("+86 10 1234", "'+86 10 1234"), ("-2+3", "'-2+3"), ("@SUM(1)", "'@SUM(1)"),
    ("\tx", "'\tx"), ("\rx", "'\rx"), ("'=x", "''=x"),
    ("-12.5", "-12.5"), ("+86", "+86"), ("1e3", "1e3"), ("-.5E-3", "-.5E-3"), ("abc", "abc"), ("'abc", "'abc"),
    ("", ""), ("-inf", "'-inf"), ("-nan", "'-nan"), ("- 1", "'- 1"),
])
def test_safe_cell_and_restore_cell(value, cell):
    assert safe_cell(value) == cell
    assert restore_cell(cell) == value


def test_safe_cell_keeps_numbers_and_blanks_missing():
    import numpy as np

    values = (-3, 2.5, True, None, float("nan"), float("-inf"))
    assert [safe_cell(v) for v in values] == [-3, 2.5, True, "", "", "'-inf"]
    v = safe_cell(np.float64(-0.25))
    assert v == -0.25 and type(v) is float
