"""Exporters: stations to CSV, XLSX, GeoJSON or GeoPackage.

Stations are stored in WGS-84; an export writes WGS-84 unless asked for
``gcj02`` (Amap, Tencent, WeChat) or ``bd09`` (Baidu), and always says which:

* **GeoJSON**: a FeatureCollection with a top-level ``"datum"`` member
  (``"wgs84"``, ``"gcj02"`` or ``"bd09"``); each feature's properties are
  :meth:`Station.to_dict` without ``lon``/``lat`` (the point geometry holds
  them), the feature ``id`` is the station id (:mod:`stationmap.geojson`).  Only a ``wgs84`` file is
  plain RFC 7946 GeoJSON; the others are for Chinese map SDKs.
* **CSV / XLSX**: one row per station, columns :data:`COLUMNS` (``lon``,
  ``lat`` and a ``datum`` column saying the datum on every row).  Lists
  (kinds, services) are joined with ``;``.  CSV is UTF-8 with a BOM so that
  Excel shows Chinese correctly.  ``lang="zh"`` writes Chinese headers
  (:data:`stationmap.io.readers.ZH_HEADERS`) and Chinese kinds, services and
  status (joined with ``、``); both read back with ``stationmap import``.
* **GeoPackage**: layer ``stations``, the CSV columns as attributes and a
  point geometry; CRS EPSG:4326 for ``wgs84``, no CRS for ``gcj02``/``bd09``
  (they are not a CRS any GIS knows; the ``datum`` column says which).

Values are written as text, never as formulas: a name starting with ``=`` is
stored as an XLSX string cell.  A CSV cell that a spreadsheet would run as a
formula (it starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return and is not a number) gets a leading ``'`` and text cells are
double-quoted (:mod:`stationmap.io.cells`, after OWASP); the CSV reader drops
that quote again, so an export imports back unchanged.
:func:`write_problems_csv` writes an import's problem list the same way.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, cast

import numpy as np

from stationmap.coords import check_datum, from_wgs84
from stationmap.errors import StationmapError, ValidationError
from stationmap.geojson import EXPORT_PRECISION, record_features
from stationmap.io.cells import write_csv
from stationmap.io.readers import FORMATS, ZH_HEADERS, format_for
from stationmap.model import FIELDS, KINDS, SERVICES, STATUSES, Problem, Station, format_service_hours

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

    from stationmap.store import StationStore

#: columns of CSV / XLSX / GeoPackage exports, in order
COLUMNS = (*(f for f in FIELDS if f not in ("lon", "lat")), "lon", "lat", "datum")
#: the columns that hold dates (a date cell in XLSX, ``YYYY-MM-DD`` elsewhere)
DATE_COLUMNS = ("verified_at", "reopens_on")
LANGS = ("en", "zh")


def _zh_label(table: dict, key: str) -> str:
    # the part before " / " ("纳凉 / 空调" -> "纳凉"): one word the importer's aliases know
    return table[key][0].split(" / ")[0] if key in table else key


def _coords(stations: Sequence[Station], datum: str) -> tuple[list[float], list[float]]:
    lon = np.fromiter((s.lon for s in stations), dtype=float, count=len(stations))
    lat = np.fromiter((s.lat for s in stations), dtype=float, count=len(stations))
    if datum != "wgs84" and len(stations):
        lon, lat = from_wgs84(lon, lat, datum)
        lon, lat = np.round(lon, EXPORT_PRECISION), np.round(lat, EXPORT_PRECISION)
    return lon.tolist(), lat.tolist()


def station_rows(stations: Iterable[Station], *, datum: str = "wgs84", lang: str = "en") -> list[dict[str, Any]]:
    """Flat rows (dicts keyed by :data:`COLUMNS`) for table formats.

    ``lon``/``lat`` are converted from WGS-84 to ``datum``; ``verified_at`` is
    a :class:`datetime.date` or None.
    """
    datum = check_datum(datum)
    if lang not in LANGS:
        raise ValidationError(f"lang must be one of {LANGS}, got {lang!r}", field="lang")
    stations = list(stations)
    lons, lats = _coords(stations, datum)
    out = []
    for s, x, y in zip(stations, lons, lats):
        if lang == "zh":
            kinds = "、".join(_zh_label(KINDS, k) for k in s.kinds)
            services = "、".join(_zh_label(SERVICES, k) for k in s.services)
            status = _zh_label(STATUSES, s.status)
        else:
            kinds, services, status = ";".join(s.kinds), ";".join(s.services), s.status
        out.append({
            "id": s.id, "name": s.name, "name_en": s.name_en, "kinds": kinds, "services": services,
            "address": s.address, "adcode": s.adcode, "host": s.host, "operator": s.operator,
            "phone": s.phone, "opening_hours": s.opening_hours, "status": status,
            "verified_at": s.verified_at, "source": s.source, "reopens_on": s.reopens_on,
            "service_hours": format_service_hours(s.service_hours), "capacity": s.capacity,
            "lon": x, "lat": y, "datum": datum,
        })
    return out


def stations_to_geojson(stations: Iterable[Station], *, datum: str = "wgs84") -> dict:
    """A GeoJSON FeatureCollection of the stations in ``datum`` (default WGS-84).

    The top-level ``"datum"`` member names the datum of every coordinate; the
    features are :func:`stationmap.geojson.record_features` (the stored record).
    """
    datum = check_datum(datum)
    return {"type": "FeatureCollection", "datum": datum, "features": record_features(stations, datum=datum)}


def _headers(lang: str) -> list[str]:
    return [ZH_HEADERS[c] for c in COLUMNS] if lang == "zh" else list(COLUMNS)


def _write_csv(rows: Iterable[dict[str, Any]], f: SupportsWrite[str], lang: str) -> None:
    write_csv(f, _headers(lang), ([(r[c].isoformat() if r[c] else "") if c in DATE_COLUMNS else r[c]
                                   for c in COLUMNS] for r in rows))


#: columns of a problem list (:func:`write_problems_csv`)
PROBLEM_COLUMNS = ("unit", "row", "field", "message", "value")


def write_problems_csv(problems: Iterable[Problem], f: SupportsWrite[str], *, header: bool = True) -> int:
    """Write problems (:class:`~stationmap.model.Problem`, e.g. an import's) as CSV to the text stream ``f``.

    Columns :data:`PROBLEM_COLUMNS`; ``value`` is the offending value as read,
    neutralised like every CSV cell (:func:`stationmap.io.cells.safe_cell`).
    ``header=False`` leaves out the header line: a long list may be written in
    parts, as its problems are found.  Returns the number of problems written.
    """
    rows = ((getattr(p, "unit", "row"), p.row, p.field or "", p.message, p.value) for p in problems)
    return write_csv(f, PROBLEM_COLUMNS if header else None, rows)


def _write_xlsx(rows: Iterable[dict[str, Any]], f: IO[bytes], lang: str) -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("stations")
    ws.freeze_panes = "A2"
    ws.append(_headers(lang))
    text_cols = [c for c in COLUMNS if c not in ("lon", "lat", *DATE_COLUMNS)]
    for r in rows:
        out = []
        for c in COLUMNS:
            v = r[c]
            if c in DATE_COLUMNS:
                if v:
                    cell = WriteOnlyCell(ws, value=v)
                    cell.number_format = "yyyy-mm-dd"
                    v = cell
                else:
                    v = None
            elif c in text_cols and isinstance(v, str) and v.startswith("="):
                cell = WriteOnlyCell(ws, value=v)
                cell.data_type = "s"  # text, never a formula
                v = cell
            elif c in text_cols and v == "":
                v = None
            out.append(v)
        ws.append(out)
    wb.save(f)


def _write_gpkg(rows: list[dict[str, Any]], path: str, datum: str) -> None:
    import geopandas as gpd
    import pandas as pd
    import pyogrio

    df = pd.DataFrame(rows, columns=list(COLUMNS))
    for c in DATE_COLUMNS:
        df[c] = [v.isoformat() if v else None for v in df[c]]
    geom = gpd.points_from_xy(df["lon"], df["lat"])
    gdf = gpd.GeoDataFrame(df, geometry=geom, crs="EPSG:4326" if datum == "wgs84" else None)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pyogrio.write_dataframe(gdf, path, layer="stations", driver="GPKG")


def write_stations(stations: Iterable[Station], target: str | os.PathLike[str] | IO[Any], *, fmt: str | None = None,
                   datum: str = "wgs84", lang: str = "en") -> int:
    """Write stations to a file; return how many.

    Parameters
    ----------
    stations : iterable of Station
        WGS-84 stations (as stored).
    target : str, Path or file-like
        A path (the format comes from its extension unless ``fmt`` is given;
        the file is written to a temporary name and renamed, so a failed
        export never leaves half a file), or a file-like object (needs
        ``fmt``; text for csv/geojson, binary for xlsx/gpkg).
    fmt : {"csv", "xlsx", "geojson", "gpkg"}, optional
    datum : {"wgs84", "gcj02", "bd09"}
        Datum of the written coordinates (default WGS-84).
    lang : {"en", "zh"}
        Header language of CSV / XLSX (GeoJSON and GeoPackage use field names).
    """
    datum = check_datum(datum)
    if fmt is None:
        if hasattr(target, "write"):
            raise ValidationError("a format is needed to write to a stream", field="format")
        fmt = format_for(target)
    elif fmt not in FORMATS:
        raise ValidationError(f"format must be one of {FORMATS}, got {fmt!r}", field="format")
    if lang not in LANGS:
        raise ValidationError(f"lang must be one of {LANGS}, got {lang!r}", field="lang")
    stations = list(stations)

    def emit(f: Any, path: str = "") -> None:  # f: a text (csv, geojson) or binary (xlsx) stream; gpkg: path
        if fmt == "geojson":
            json.dump(stations_to_geojson(stations, datum=datum), f, ensure_ascii=False)
            f.write("\n")
        elif fmt == "csv":
            _write_csv(station_rows(stations, datum=datum, lang=lang), f, lang)
        elif fmt == "xlsx":
            _write_xlsx(station_rows(stations, datum=datum, lang=lang), f, lang)
        else:
            _write_gpkg(station_rows(stations, datum=datum), path, datum)

    if hasattr(target, "write"):
        if fmt == "gpkg":
            with tempfile.TemporaryDirectory() as d:
                p = os.path.join(d, "stations.gpkg")
                emit(None, p)
                with open(p, "rb") as src:
                    shutil.copyfileobj(src, cast("IO[bytes]", target))   # (a stream: it has write)
        else:
            emit(target)
        return len(stations)

    path = Path(target)
    if path.is_dir():
        raise ValidationError(f"{target}: is a directory")
    if not path.parent.exists():
        raise ValidationError(f"{target}: folder {str(path.parent)!r} does not exist")
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp{path.suffix}")
    try:
        if fmt == "gpkg":
            emit(None, str(tmp))
        elif fmt == "xlsx":
            with open(tmp, "wb") as f:
                emit(f)
        else:
            with open(tmp, "w", encoding="utf-8-sig" if fmt == "csv" else "utf-8", newline="") as text:
                emit(text)
        os.replace(tmp, path)
    except OSError as exc:
        raise StationmapError(f"{target}: cannot be written ({exc.strerror or exc})") from None
    finally:
        if tmp.exists():
            tmp.unlink()
    return len(stations)


def export_file(store: StationStore, target: str | os.PathLike[str] | IO[Any], *, fmt: str | None = None,
                datum: str = "wgs84", lang: str = "en") -> int:
    """Write every station of ``store`` to ``target`` (see :func:`write_stations`)."""
    return write_stations(store.all(), target, fmt=fmt, datum=datum, lang=lang)

