"""Readers for station lists: CSV, XLSX, GeoJSON and GeoPackage.

Each reader turns one file into a :class:`Table`: records (dicts keyed by
:data:`stationmap.model.FIELDS` names, plus ``datum`` where the file has a
datum column) with the row number each came from, as a spreadsheet shows it
(the header is row 1) or, for GeoJSON and GeoPackage, the feature number
starting at 1.  Readers check the *file* (exists, readable, the right format,
not empty, has the required columns) and raise
:class:`~stationmap.errors.ValidationError` naming the file; they do not check
the *rows*: :mod:`stationmap.io.importer` does that with
:func:`stationmap.model.validate_record`.

Column names
------------
Headers are matched after trimming, lower-casing, dropping a bracketed
suffix (``经度(GCJ-02)`` -> ``经度``), a required-field star (``*名称``) and
turning spaces and hyphens into ``_``.  Unknown columns are ignored with a
warning; a second column for the same field is ignored with a warning.

=================  ==========================================================
field              accepted headers (English field names always work)
=================  ==========================================================
``id``             id, 编号, 站点编号, 驿站编号, 站点ID
``name``           name, 名称, 站点名称, 驿站名称, 站名
``name_en``        name_en, english_name, 英文名称, 英文名
``kinds``          kinds, kind, type, types, 类型, 站点类型, 类别
``services``       services, service, 服务, 服务内容, 服务项目, 服务功能, 功能, 设施, 配套设施
``address``        address, 地址, 详细地址, 站点地址, 地点, 位置
``adcode``         adcode, 区划代码, 行政区划代码, 行政区划编码, 区划编码
``host``           host, 承办单位, 依托单位, 建设单位
``operator``       operator, 运营单位, 管理单位, 运维单位, 责任单位
``phone``          phone, tel, telephone, 电话, 联系电话, 联系方式, 服务电话
``opening_hours``  opening_hours, hours, 开放时间, 营业时间, 服务时间, 开放时段
``status``         status, 状态, 运营状态, 开放状态
``verified_at``    verified_at, verified, 核实日期, 更新日期, 核实时间, 更新时间
``source``         source, 来源, 数据来源
``lon``            lon, lng, long, longitude, x, 经度
``lat``            lat, latitude, y, 纬度
``datum``          datum, crs, 坐标系, 坐标系统 (wgs84 / gcj02 / bd09, per row)
=================  ==========================================================

``name``, ``lon`` and ``lat`` are required columns (GeoJSON and GeoPackage
take ``lon``/``lat`` from the point geometry).  A column ``序号`` (a running
row number in many Chinese lists) is deliberately *not* taken as the id: it
is renumbered from list to list and would make stations overwrite each other.
Values of ``kinds``, ``services`` and ``status`` may be Chinese or English
(see the alias tables in :mod:`stationmap.model`); lists are split on
``; , ， ； 、 | /`` and spaces.

Formats
-------
* **CSV** (``.csv``): UTF-8 (with or without BOM), else GB18030 (a superset of
  the GBK that Chinese Excel saves); comma-separated, or tab / semicolon when
  the header line has no comma.  Title lines above the header are skipped.
  The ``'`` that stationmap's CSV export puts before a formula-like cell
  (``'=1+1``) is dropped (:func:`stationmap.io.cells.restore_cell`).
* **XLSX** (``.xlsx``, ``.xlsm``): the first sheet with a recognisable header
  within its first 10 rows; title rows above it are skipped.  Legacy ``.xls``
  is refused with a hint to save as ``.xlsx``.
* **GeoJSON** (``.geojson``, ``.json``): a FeatureCollection (or one Feature)
  of Point features; properties are matched like headers.  The coordinates are
  WGS-84 (RFC 7946) unless a top-level ``"datum"`` member says ``gcj02`` or
  ``bd09`` (stationmap's exports write one).
* **GeoPackage** (``.gpkg``): the layer called ``stations``, else the first
  point layer.  A layer in another CRS is reprojected to EPSG:4326; a layer
  without a CRS is taken as WGS-84 unless its ``datum`` column says otherwise.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import warnings
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeAlias

from stationmap.errors import TooLargeError, ValidationError, geodata_read_errors
from stationmap.io.cells import restore_cell
from stationmap.labels import FIELD_LABELS
from stationmap.model import Problem

#: file extension -> format name
EXTENSIONS = {
    ".csv": "csv",
    ".xlsx": "xlsx",
    ".xlsm": "xlsx",
    ".geojson": "geojson",
    ".json": "geojson",
    ".gpkg": "gpkg",
}
FORMATS = ("csv", "xlsx", "geojson", "gpkg")

#: field -> accepted headers besides the field name itself (see module docstring)
HEADER_ALIASES = {
    "id": ("编号", "站点编号", "驿站编号", "站点id"),
    "name": ("名称", "站点名称", "驿站名称", "站名"),
    "name_en": ("english_name", "英文名称", "英文名"),
    "kinds": ("kind", "type", "types", "类型", "站点类型", "类别"),
    "services": ("service", "服务", "服务内容", "服务项目", "服务功能", "功能", "设施", "配套设施"),
    "address": ("地址", "详细地址", "站点地址", "地点", "位置"),
    "adcode": ("区划代码", "行政区划代码", "行政区划编码", "区划编码"),
    "host": ("承办单位", "依托单位", "建设单位"),
    "operator": ("运营单位", "管理单位", "运维单位", "责任单位"),
    "phone": ("tel", "telephone", "电话", "联系电话", "联系方式", "服务电话"),
    "opening_hours": ("hours", "开放时间", "营业时间", "服务时间", "开放时段"),
    "status": ("状态", "运营状态", "开放状态"),
    "verified_at": ("verified", "核实日期", "更新日期", "核实时间", "更新时间"),
    "source": ("来源", "数据来源"),
    "reopens_on": ("reopen_date", "reopens", "恢复开放日期", "预计恢复日期", "恢复日期", "重新开放日期"),
    "capacity": ("seats", "容量", "座位数", "可容纳人数", "服务能力"),
    "service_hours": ("分项服务时间", "服务项目时间", "各项服务时间"),
    "lon": ("lng", "long", "longitude", "x", "经度"),
    "lat": ("latitude", "y", "纬度"),
    "datum": ("crs", "坐标系", "坐标系统"),
}

#: the Chinese header written for each field by ``export --lang zh``: its label (:data:`stationmap.labels.FIELD_LABELS`)
ZH_HEADERS = {k: zh for k, (zh, _en) in FIELD_LABELS.items()}

REQUIRED = ("name", "lon", "lat")


class Readable(Protocol):
    """A file-like object the readers read whole: an upload, :class:`io.BytesIO`, an open file."""

    def read(self) -> bytes | str: ...


#: What a reader takes: a path, or a file-like object opened for reading (bytes; text is encoded as UTF-8).
Source: TypeAlias = "str | os.PathLike[str] | Readable"

_BRACKETS = re.compile(r"[(（\[【].*?[)）\]】]")
_SEPS = re.compile(r"[\s\-]+")


def _norm_header(h: object) -> str:
    key = _BRACKETS.sub("", str(h if h is not None else ""))
    key = key.strip().strip("*＊:：").strip().lower()
    return _SEPS.sub("_", key)


_HEADER_MAP: dict[str, str] = {}
for _f, _aliases in HEADER_ALIASES.items():
    for _a in (_f, *_aliases):
        _HEADER_MAP[_norm_header(_a)] = _f


def field_for_header(header: object) -> str | None:
    """The station field a column header stands for, or None if unknown."""
    return _HEADER_MAP.get(_norm_header(header))


def format_for(filename: str | os.PathLike[str]) -> str:
    """The format of a file from its extension; ValidationError if unsupported."""
    name = str(filename)
    ext = os.path.splitext(name)[1].lower()
    if ext in EXTENSIONS:
        return EXTENSIONS[ext]
    hint = ""
    if ext in (".xls", ".et", ".wps"):
        hint = "; save it from Excel / WPS as .xlsx (Excel workbook) or .csv"
    elif not ext:
        hint = "; the file name has no extension"
    raise ValidationError(
        f"{name}: unsupported file type {ext or '(none)'!r}: use one of "
        f"{', '.join(sorted(EXTENSIONS))}{hint}"
    )


@dataclass
class FileProblem(Problem):
    """A :class:`~stationmap.model.Problem` that knows what a "row" is called.

    ``unit`` is ``"row"`` for spreadsheets (row numbers as the spreadsheet
    shows them) and ``"feature"`` for GeoJSON / GeoPackage (from 1).
    """

    unit: str = "row"

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["unit"] = self.unit
        return d

    def __str__(self) -> str:
        where = f"{self.unit} {self.row}" if self.row is not None else "file"
        return f"{where}, field {self.field or '-'}: {self.message}"


@dataclass
class Table:
    """What a reader found in one file.

    ``records[i]`` came from row (or feature) ``rows[i]``; its keys are station
    field names (and ``datum``).  ``problems`` are per-row problems the reader
    itself found (a GeoJSON feature without a point, say).
    """

    source: str
    fmt: str
    unit: str
    fields: list[str]
    records: list[dict[str, Any]]
    rows: list[int]
    declared_datum: str | None = None
    warnings: list[str] = field(default_factory=list)
    problems: list[FileProblem] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)  # field -> header as written in the file


# -- helpers ---------------------------------------------------------------------

def _load_bytes(source: Source, name: str) -> bytes:
    if hasattr(source, "read"):
        data = source.read()
        if isinstance(data, str):
            data = data.encode("utf-8")
        return data
    p = Path(source)
    if not p.exists():
        raise ValidationError(f"{name}: no such file")
    if p.is_dir():
        raise ValidationError(f"{name}: is a directory, not a file")
    try:
        return p.read_bytes()
    except OSError as exc:
        raise ValidationError(f"{name}: cannot be read ({exc.strerror or exc})") from None


def _empty(name: str) -> ValidationError:
    return ValidationError(f"{name}: the file is empty")


def _no_rows(name: str, what: str = "rows") -> ValidationError:
    return ValidationError(f"{name}: the file has no station {what}")


def _map_headers(headers: Iterable[object], name: str, unit: str) -> tuple[dict[int, str], list[str], dict[str, str]]:
    """column index -> field, the warnings, field -> header."""
    mapping: dict[int, str] = {}
    warns: list[str] = []
    seen: dict[str, str] = {}
    for i, h in enumerate(headers):
        if h is None or (isinstance(h, float) and math.isnan(h)) or not str(h).strip():
            continue
        f = field_for_header(h)
        if f is None:
            warns.append(f"{name}: warning: column {str(h).strip()!r} is not a station field; ignored")
        elif f in seen:
            warns.append(f"{name}: warning: column {str(h).strip()!r} is another {f} column "
                         f"(after {seen[f]!r}); ignored")
        else:
            mapping[i] = f
            seen[f] = str(h).strip()
    return mapping, warns, seen


def _check_required(name: str, found: Mapping[str, str], headers: Iterable[object], *,
                    geometry: bool = False) -> None:
    need = [f for f in REQUIRED if f not in found and not (geometry and f in ("lon", "lat"))]
    if need:
        zh = {"name": "名称", "lon": "经度", "lat": "纬度"}
        cols = ", ".join(repr(str(h).strip()) for h in headers if h is not None and str(h).strip())
        what = "property" if geometry else "column"
        raise ValidationError(
            f"{name}: missing required {what}{'s' if len(need) > 1 else ''} "
            + ", ".join(f"{f} ({zh[f]})" for f in need)
            + f"; found: {cols or 'none'}",
            field=need[0],
        )


def _looks_like_header(values: Iterable[object]) -> bool:
    fields = {field_for_header(v) for v in values if v is not None and str(v).strip()}
    fields.discard(None)
    return "name" in fields or len(fields) >= 3


def _blank(v: object) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip())


# -- CSV -------------------------------------------------------------------------

def _decode(data: bytes, name: str) -> tuple[str, str]:
    """The text and its encoding: UTF-8 (with or without BOM), else GB18030."""
    if b"\x00" in data[:4096]:
        raise ValidationError(f"{name}: is not a text CSV file (it contains binary data)")
    try:
        return data.decode("utf-8-sig"), "utf-8-sig"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError as exc:
        raise ValidationError(
            f"{name}: is neither UTF-8 nor GBK/GB18030 text (byte {exc.start}); "
            "save it as 'CSV UTF-8' from Excel") from None


def read_csv(source: Source, *, name: str | None = None) -> Table:
    """Read a CSV station list (UTF-8 or GBK/GB18030)."""
    import pandas as pd

    name = name or str(source)
    data = _load_bytes(source, name)
    text, encoding = _decode(data, name)
    if not text.strip():
        raise _empty(name)
    # find the header line among the first lines (title lines may come first)
    head_lines = text[:65536].splitlines()[:10]
    del text  # pandas reads the bytes: the text (2 or 4 bytes a character) is not kept beside its cells
    header_idx, sep = 0, ","
    for i, line in enumerate(head_lines):
        s = "," if "," in line else ("\t" if "\t" in line else (";" if ";" in line else ","))
        try:
            cells = next(csv.reader([line], delimiter=s))
        except (csv.Error, StopIteration):
            continue
        if _looks_like_header(cells):
            header_idx, sep = i, s
            break
    else:
        first = head_lines[0] if head_lines else ""
        sep = "," if "," in first else ("\t" if "\t" in first else (";" if ";" in first else ","))
    try:
        df = pd.read_csv(
            io.BytesIO(data), encoding=encoding, sep=sep, dtype=object, keep_default_na=False, na_filter=False,
            skiprows=header_idx, header=None, skip_blank_lines=False, engine="c",
        )
    except pd.errors.EmptyDataError:
        raise _empty(name) from None
    except pd.errors.ParserError as exc:
        msg = str(exc).strip().splitlines()[0]
        m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", msg)
        if m:  # pandas counts records, as a spreadsheet counts rows
            msg = (f"row {m.group(2)} has {m.group(3)} fields but the header has "
                   f"{m.group(1)}; quote values that contain '{sep}'")
        raise ValidationError(f"{name}: is not a well-formed CSV file ({msg})") from None
    headers = df.iloc[0].tolist()
    mapping, warns, found = _map_headers(headers, name, "row")
    _check_required(name, found, headers)
    fields = [mapping[i] for i in mapping]
    cols = [df.iloc[1:, i].tolist() for i in mapping]
    quoted = b"'" in data
    del df, data
    if quoted:  # a leading ' that our exports put before a formula-like cell goes (stationmap.io.cells)
        cols = [[restore_cell(v) if v[:1] == "'" else v for v in c] for c in cols]
    first_row = header_idx + 2  # spreadsheet row of the first data line
    records, rows = [], []
    for n, vals in enumerate(zip(*cols)):
        if any(v and not v.isspace() for v in vals):  # skip blank lines, keep row numbers
            records.append(dict(zip(fields, vals)))
            rows.append(n + first_row)
    if not records:
        raise _no_rows(name)
    return Table(source=name, fmt="csv", unit="row", fields=fields, records=records,
                 rows=rows, warnings=warns, headers=found)


# -- XLSX ------------------------------------------------------------------------

def read_xlsx(source: Source, *, name: str | None = None, max_rows: int | None = None,
              max_bytes: int | None = None) -> Table:
    """Read an Excel workbook (.xlsx): the first sheet with a station header.

    ``max_rows`` / ``max_bytes`` refuse (:class:`~stationmap.errors.TooLargeError`)
    a sheet with more data rows, or a workbook that unpacks to more bytes, before it is
    parsed (:func:`_check_unpacked`).
    """
    import openpyxl
    from openpyxl.utils.exceptions import InvalidFileException

    name = name or str(source)
    data = _load_bytes(source, name)
    if not data.strip():
        raise _empty(name)
    if not data.startswith(b"PK"):
        hint = ""
        if data.startswith(b"\xd0\xcf\x11\xe0"):
            hint = " (it looks like an old .xls or an encrypted workbook: save it as .xlsx without a password)"
        raise ValidationError(f"{name}: is not a valid .xlsx workbook{hint}")
    if max_bytes is not None or max_rows is not None:
        _check_unpacked(data, name, max_bytes, max_rows)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, ValueError, TypeError, OSError,
            IndexError, AttributeError, SyntaxError) as exc:  # xml ParseError is a SyntaxError
        raise ValidationError(f"{name}: is not a valid .xlsx workbook ({type(exc).__name__}: {exc})") from None
    try:
        chosen = None
        for ws in wb.worksheets:
            if hasattr(ws, "reset_dimensions"):
                ws.reset_dimensions()
            it = ws.iter_rows(values_only=True)
            head = []
            for rownum, values in enumerate(it, start=1):
                head.append((rownum, values))
                if _looks_like_header(values):
                    chosen = (ws, rownum, values, it)
                    break
                if rownum >= _HEADER_SCAN_ROWS:
                    break
            if chosen:
                break
        if chosen is None:
            first = wb.worksheets[0] if wb.worksheets else None
            rows0 = [] if first is None else list(first.iter_rows(values_only=True, max_row=_HEADER_SCAN_ROWS))
            nonempty = [(i, r) for i, r in enumerate(rows0, start=1) if any(not _blank(v) for v in r)]
            if not nonempty:
                raise _empty(name)
            header_row, header = nonempty[0]
            mapping, warns, found = _map_headers(header, name, "row")
            _check_required(name, found, header)
            raise _no_rows(name)  # pragma: no cover - _check_required raised
        ws, header_row, header, it = chosen
        mapping, warns, found = _map_headers(header, name, "row")
        _check_required(name, found, header)
        if len(wb.worksheets) > 1:
            warns.append(f"{name}: warning: reading sheet {ws.title!r} only "
                         f"(the workbook has {len(wb.worksheets)} sheets)")
        records: list[dict[str, Any]] = []
        rows: list[int] = []
        items = list(mapping.items())
        for rownum, values in enumerate(it, start=header_row + 1):
            if max_rows is not None and len(records) >= max_rows:
                raise _too_many_rows(name, max_rows)
            n = len(values)
            rec = {f: (values[i] if i < n else None) for i, f in items}
            if all(_blank(v) for v in rec.values()):
                continue
            records.append(rec)
            rows.append(rownum)
    except TooLargeError:
        raise
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, OSError, SyntaxError) as exc:
        raise ValidationError(f"{name}: is not a valid .xlsx workbook ({type(exc).__name__}: {exc})") from None
    finally:
        wb.close()
    if not records:
        raise _no_rows(name)
    return Table(source=name, fmt="xlsx", unit="row", fields=[mapping[i] for i in mapping],
                 records=records, rows=rows, warnings=warns, headers=found)


def _too_many_rows(name: str, max_rows: int) -> TooLargeError:
    return TooLargeError(f"{name}: has more than {max_rows:,} rows; import it with `stationmap import`",
                         limit=max_rows, unit="rows")


def _too_many_bytes(name: str, max_bytes: int) -> TooLargeError:
    return TooLargeError(f"{name}: unpacks to more than {max_bytes / 1e6:,.0f} MB; import it with "
                         "`stationmap import`", limit=max_bytes, unit="bytes")


#: lines of a sheet looked at for its header row
_HEADER_SCAN_ROWS = 10
_ROW_TAG = re.compile(rb"<row[\s>/]")


def _check_unpacked(data: bytes, name: str, max_bytes: int | None, max_rows: int | None = None) -> None:
    """Refuse a zip whose members unpack to more than ``max_bytes``, or a worksheet with more
    than ``max_rows`` rows (and the few header lines a sheet may have above its rows).

    Sizes: the declared ones suffice, because :mod:`zipfile` never hands out more than a
    member declares (it stops there, and a lying member fails its CRC check), so a bomb is
    refused before anything is unpacked.  Rows: the sheets' ``<row`` tags are counted while
    they stream, in well under a second, before openpyxl parses a row (~20k rows a second).
    """
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            members = zf.infolist()
            if max_bytes is not None and sum(m.file_size for m in members) > max_bytes:
                raise _too_many_bytes(name, max_bytes)
            if max_rows is None:
                return
            for m in members:
                if m.filename.startswith("xl/worksheets/") and _count_rows(zf, m) > max_rows + _HEADER_SCAN_ROWS:
                    raise _too_many_rows(name, max_rows)
    except ValidationError:
        raise
    # NotImplementedError: zipfile's answer to a compression method it does not know
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError, ValueError) as exc:
        raise ValidationError(f"{name}: is not a valid .xlsx workbook ({type(exc).__name__}: {exc})") from None


def _count_rows(zf: zipfile.ZipFile, member: zipfile.ZipInfo) -> int:
    """How many ``<row>`` elements a worksheet's XML holds (read in 1 MiB pieces)."""
    rows, tail = 0, b""
    with zf.open(member) as fh:
        while chunk := fh.read(1 << 20):
            piece = tail + chunk
            rows += len(_ROW_TAG.findall(piece))
            tail = piece[-5:]  # a tag cut by the chunk's end is found with the next chunk ...
            rows -= len(_ROW_TAG.findall(tail))  # ... so one wholly in the tail counts there
    return rows + len(_ROW_TAG.findall(tail))


# -- GeoJSON ---------------------------------------------------------------------

def _declared_datum(value: object, name: str) -> str | None:
    from stationmap.coords import check_datum

    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        return check_datum(value)
    except ValidationError:
        from stationmap.coords import DATUMS

        raise ValidationError(f"{name}: \"datum\" must be one of {DATUMS}, got {value!r}",
                              field="datum") from None


def read_geojson(source: Source, *, name: str | None = None) -> Table:
    """Read a GeoJSON FeatureCollection of Point features."""
    name = name or str(source)
    data = _load_bytes(source, name)
    if not data.strip():
        raise _empty(name)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ValidationError(f"{name}: is not UTF-8 text (byte {exc.start}); GeoJSON must be UTF-8") from None
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValidationError(f"{name}: is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    if isinstance(doc, dict) and doc.get("type") == "FeatureCollection":
        feats = doc.get("features")
        if not isinstance(feats, list):
            raise ValidationError(f"{name}: \"features\" must be a list", field="features")
    elif isinstance(doc, dict) and doc.get("type") == "Feature":
        feats = [doc]
    else:
        kind = doc.get("type") if isinstance(doc, dict) else type(doc).__name__
        raise ValidationError(f"{name}: is not a GeoJSON FeatureCollection (type {kind!r})", field="type")
    declared = _declared_datum(doc.get("datum"), name)
    if not feats:
        raise _no_rows(name, "features")
    records: list[dict[str, Any]] = []
    rows: list[int] = []
    problems: list[FileProblem] = []
    warns: list[str] = []
    unknown: dict[str, int] = {}  # property -> first feature with it
    keymap: dict[str, str | None] = {}  # property -> field
    present: dict[str, str] = {}  # field -> property
    for n, feat in enumerate(feats, start=1):
        rec: dict[str, Any] = {}
        if not isinstance(feat, dict) or feat.get("type") != "Feature":
            problems.append(FileProblem(n, "type", "is not a GeoJSON Feature", unit="feature"))
            records.append({"name": None, "lon": None, "lat": None})
            rows.append(n)
            continue
        props = feat.get("properties") or {}
        if not isinstance(props, dict):
            problems.append(FileProblem(n, "properties", "properties must be an object", unit="feature"))
            props = {}
        for k, v in props.items():
            if k in keymap:
                f = keymap[k]
            else:
                f = keymap[k] = field_for_header(k)
            if f is None:
                unknown.setdefault(k, n)
            elif f not in rec:
                rec[f] = v
                present.setdefault(f, k)
        if _blank(rec.get("id")) and feat.get("id") is not None:
            rec["id"] = feat["id"]
        geom = feat.get("geometry")
        if geom is None:
            if _blank(rec.get("lon")) and _blank(rec.get("lat")):
                problems.append(FileProblem(n, "geometry", "has no geometry (a Point is needed)", unit="feature"))
        elif not isinstance(geom, dict) or geom.get("type") != "Point":
            gtype = geom.get("type") if isinstance(geom, dict) else type(geom).__name__
            problems.append(FileProblem(n, "geometry", f"geometry must be a Point, got {gtype!r}", unit="feature"))
        else:
            c = geom.get("coordinates")
            if not isinstance(c, (list, tuple)) or len(c) < 2:
                problems.append(FileProblem(n, "geometry", f"Point coordinates must be [lon, lat], got {c!r}",
                                            unit="feature"))
            else:
                rec["lon"], rec["lat"] = c[0], c[1]
        records.append(rec)
        rows.append(n)
    warns.extend(f"{name}: warning: property {k!r} is not a station field; ignored" for k in unknown)
    _check_required(name, present, list(keymap), geometry=True)
    fields = list(dict.fromkeys([*present, "lon", "lat"]))
    return Table(source=name, fmt="geojson", unit="feature", fields=fields, records=records, rows=rows,
                 declared_datum=declared, warnings=warns, problems=problems, headers=present)


# -- GeoPackage ------------------------------------------------------------------

def read_gpkg(source: Source, *, name: str | None = None) -> Table:
    """Read the station layer of a GeoPackage."""
    import pyogrio

    name = name or str(source)
    data = _load_bytes(source, name)
    if not data.strip():
        raise _empty(name)
    buf = io.BytesIO(data)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            layers = pyogrio.list_layers(buf)
            if not len(layers):
                raise _no_rows(name, "layers")
            names = [str(lyr[0]) for lyr in layers]
            points = [str(lyr[0]) for lyr in layers if str(lyr[1]) in ("Point", "Point Z", "MultiPoint")]
            layer = "stations" if "stations" in names else (points[0] if points else names[0])
            buf.seek(0)
            gdf = pyogrio.read_dataframe(buf, layer=layer)
    except geodata_read_errors() as exc:
        msg = str(exc).split(";")[0].replace(str(getattr(buf, "name", "")), "")
        if "not recognized" in msg:
            msg = "not a GeoPackage"
        raise ValidationError(f"{name}: is not a valid GeoPackage ({msg})") from None
    warns: list[str] = []
    if len(layers) > 1:
        warns.append(f"{name}: warning: reading layer {layer!r} only (the file has {len(layers)} layers)")
    if not len(gdf):
        raise _no_rows(name, "features")
    declared = None
    if gdf.crs is not None:
        epsg = gdf.crs.to_epsg()
        if epsg not in (4326, 4490) and not (gdf.crs.is_geographic and gdf.crs.equals("OGC:CRS84")):
            gdf = gdf.to_crs(4326)  # any projected / other CRS -> WGS-84
            declared = "wgs84"
    headers = [c for c in gdf.columns if c != gdf.geometry.name]
    mapping, warns2, found = _map_headers(headers, name, "feature")
    warns += [w.replace("column", "attribute", 1) for w in warns2]
    _check_required(name, found, headers, geometry=True)
    import shapely

    geoms = gdf.geometry.values
    gtypes = shapely.get_type_id(geoms)
    records: list[dict[str, Any]] = []
    rows: list[int] = []
    problems: list[FileProblem] = []
    cols = [(headers[i], f) for i, f in mapping.items()]
    values = {h: gdf[h].tolist() for h, _ in cols}
    xs: list[float | None] = []
    ys: list[float | None] = []
    for g, t in zip(geoms, gtypes):
        if g is None or t != 0 or shapely.is_empty(g):
            xs.append(None)
            ys.append(None)
        else:
            xs.append(g.x)
            ys.append(g.y)
    for n in range(len(gdf)):
        rec = {f: values[h][n] for h, f in cols}
        for f in ("verified_at", "reopens_on"):
            if hasattr(rec.get(f), "to_pydatetime"):
                rec[f] = rec[f].to_pydatetime()
        if xs[n] is None:
            what = "has no geometry" if geoms[n] is None else f"geometry must be a Point, got {geoms[n].geom_type!r}"
            problems.append(FileProblem(n + 1, "geometry", what, unit="feature"))
        rec["lon"], rec["lat"] = xs[n], ys[n]
        records.append(rec)
        rows.append(n + 1)
    fields = list(dict.fromkeys([*found, "lon", "lat"]))
    return Table(source=name, fmt="gpkg", unit="feature", fields=fields, records=records, rows=rows,
                 declared_datum=declared, warnings=warns, problems=problems, headers=found)


class _Reader(Protocol):
    def __call__(self, source: Source, *, name: str | None = None) -> Table: ...


_READERS: dict[str, _Reader] = {"csv": read_csv, "xlsx": read_xlsx, "geojson": read_geojson, "gpkg": read_gpkg}


def read_table(source: Source, *, filename: str | None = None, fmt: str | None = None,
               max_rows: int | None = None, max_bytes: int | None = None) -> Table:
    """Read a station list from a path or a binary file-like object.

    Parameters
    ----------
    source : str, Path or file-like
        The file.  A file-like object (an upload) needs ``filename`` or ``fmt``.
    filename : str, optional
        The name shown in messages and used to pick the format.
    fmt : {"csv", "xlsx", "geojson", "gpkg"}, optional
        The format; by default from the extension of ``filename`` / ``source``.
    max_rows, max_bytes : int, optional
        Limits (the web upload's): more rows (or features), or more bytes of
        data (an XLSX workbook's unpacked size), raise
        :class:`~stationmap.errors.TooLargeError`.  An XLSX sheet is refused
        while it streams, before the rows beyond the limit are read.

    Raises
    ------
    ValidationError
        The file cannot be read (with its name and what is wrong).
    TooLargeError
        The file is beyond ``max_rows`` or ``max_bytes``.
    """
    name = filename or (getattr(source, "name", None) if hasattr(source, "read") else None) or str(source)
    if fmt is None:
        fmt = format_for(name)
    elif fmt not in _READERS:
        raise ValidationError(f"format must be one of {FORMATS}, got {fmt!r}", field="format")
    if fmt == "xlsx":
        return read_xlsx(source, name=str(name), max_rows=max_rows, max_bytes=max_bytes)
    if max_bytes is not None:
        size = _source_size(source)
        if size is not None and size > max_bytes:
            raise _too_many_bytes(str(name), max_bytes)
    table = _READERS[fmt](source, name=str(name))
    if max_rows is not None and len(table.records) > max_rows:
        raise _too_many_rows(str(name), max_rows)
    return table


def _source_size(source: Source) -> int | None:
    """Bytes in a path or a seekable file-like object (None if unknown)."""
    try:
        if hasattr(source, "read"):
            pos = source.tell()  # type: ignore[union-attr]
            end = source.seek(0, os.SEEK_END)  # type: ignore[union-attr]
            source.seek(pos)  # type: ignore[union-attr]
            return int(end) - int(pos)
        return Path(source).stat().st_size
    except (OSError, AttributeError, ValueError):
        return None
