"""The open-data export: the whole public dataset in a folder, described (``stationmap export --open-data DIR``).

The public dataset is every station that is not closed (the change feed's public stations,
:mod:`stationmap.feed`), each with when and how it was last confirmed
(:class:`stationmap.reports.Freshness`).  The folder holds:

* ``stations.csv``: one row per station, the export's columns
  (:data:`stationmap.io.writers.COLUMNS`, WGS-84) and ``last_confirmed``, ``confirmed_by``,
  ``sample``; UTF-8 with a BOM, formula-safe cells (:mod:`stationmap.io.cells`);
* ``stations.geojson``: the same as RFC 7946 GeoJSON (WGS-84), with the licence, the attribution
  and the export time as top-level members;
* ``data_dictionary.csv``: every column, its type and its meaning in Chinese and English, and the
  values of its vocabulary;
* ``LICENSE.txt`` and ``metadata.json`` (licence, attribution, datum, export time, counts, files);
  ``README.md`` says it all in Chinese and English.

Sample data is marked in the files and their names: when any station is sample data, the
station files are ``stations_SAMPLE.csv`` / ``stations_SAMPLE.geojson``, every row has
``sample`` true or false, and the metadata and README say so first.  Licence and attribution:
:data:`stationmap.config.OPEN_DATA_LICENCE`, :data:`~stationmap.config.OPEN_DATA_ATTRIBUTION`.
Every file is written under a temporary name and renamed.  This module never imports Flask.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import date, datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stationmap.config import OPEN_DATA_ATTRIBUTION, OPEN_DATA_LICENCE
from stationmap.errors import StationmapError, ValidationError
from stationmap.geojson import record_features
from stationmap.io.cells import write_csv
from stationmap.io.writers import COLUMNS, DATE_COLUMNS, station_rows
from stationmap.labels import FIELD_LABELS, HOST_LABELS, KIND_LABELS, SERVICE_LABELS, STATUS_LABELS
from stationmap.reports import freshness_many

if TYPE_CHECKING:
    from stationmap.store import StationStore

#: the columns of ``stations.csv``, in order
OPEN_COLUMNS = (*COLUMNS, "last_confirmed", "confirmed_by", "sample")

#: column -> (type, Chinese, English, vocabulary) of the data dictionary
_DICTIONARY: dict[str, tuple[str, str, str, dict[str, tuple[str, str]] | None]] = {
    "id": ("text", "站点编号（稳定，不复用）", "Station id (stable, never reused)", None),
    "name": ("text", "站点名称", "Station name (Chinese)", None),
    "name_en": ("text", "英文名称（可为空）", "English name (may be empty)", None),
    "kinds": ("list ;", "站点类型，多个用 ; 分隔", "Kinds of station, separated by ;", KIND_LABELS),
    "services": ("list ;", "提供的服务，多个用 ; 分隔", "Services offered, separated by ;", SERVICE_LABELS),
    "address": ("text", "地址", "Address", None),
    "adcode": ("text(6)", "所在区县的行政区划代码", "Administrative code (adcode) of the district", None),
    "host": ("text", "承办单位（类别或名称）", "Host (kind of place, or its name)", HOST_LABELS),
    "operator": ("text", "运营单位", "Operator", None),
    "phone": ("text", "联系电话", "Telephone", None),
    "opening_hours": ("text", "开放时间，OpenStreetMap opening_hours 格式，时区 Asia/Shanghai",
                      "Opening hours, OpenStreetMap opening_hours syntax, in Asia/Shanghai time", None),
    "status": ("text", "状态（已关闭的站点不在本数据集中）", "Status (closed stations are not in this dataset)",
               STATUS_LABELS),
    "verified_at": ("date", "区县工会最近一次核实信息的日期", "When the district union last verified the record",
                    None),
    "source": ("text", "数据来源；sample 表示生成的示例数据", "Source of the record; sample: generated sample data",
               None),
    "reopens_on": ("date", "暂停开放的站点预计恢复开放的日期", "When a temporarily closed station reopens", None),
    "service_hours": ("text", "分项服务时间，服务=时间，以 | 分隔",
                      "A service's own hours, service=hours, separated by |", None),
    "capacity": ("integer", "同时可服务的人数（座位等）；空表示未知", "People served at once (seats); empty: not known",
                 None),
    "lon": ("number", "经度（WGS-84，EPSG:4326）", "Longitude (WGS-84, EPSG:4326)", None),
    "lat": ("number", "纬度（WGS-84，EPSG:4326）", "Latitude (WGS-84, EPSG:4326)", None),
    "datum": ("text", "坐标系，本数据集均为 wgs84", "Datum of lon/lat: wgs84 throughout", None),
    "last_confirmed": ("date", "最近一次确认的日期（骑手现场确认正常，或区县工会核实；北京时间）",
                       ("Last confirmed on (a worker checked in 'open and fine', or the district verified; "
                        "Asia/Shanghai)"), None),
    "confirmed_by": ("text", "最近一次确认的方式：checkin 现场反馈，district 区县工会核实，空为从未确认",
                     "How: checkin (a worker on site), district (the union verified), empty: never", None),
    "sample": ("boolean", "是否为生成的示例数据（不是真实站点）",
               "Whether the record is generated sample data (not a real station)", None),
}
if tuple(_DICTIONARY) != OPEN_COLUMNS:
    raise ImportError("stationmap.io.opendata: the data dictionary must describe every column, in order")


@dataclass(frozen=True)
class OpenDataExport:
    """What :func:`write_open_data` wrote: the folder, the file names, how many stations, whether sample."""

    folder: Path
    files: tuple[str, ...]
    stations: int
    sample: bool
    exported_at: datetime


def _write_text(path: Path, text: str, *, bom: bool = False) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8-sig" if bom else "utf-8", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_open_data(store: StationStore, folder: str | os.PathLike[str], *,
                    now: datetime | None = None) -> OpenDataExport:
    """Write the public dataset of ``store`` into ``folder`` (created if missing; its parent must exist)."""
    import io

    out = Path(folder)
    if out.exists() and not out.is_dir():
        raise ValidationError(f"{folder}: is not a folder")
    if not out.parent.exists():
        raise ValidationError(f"{folder}: folder {str(out.parent)!r} does not exist")
    out.mkdir(exist_ok=True)
    when = (now or datetime.now(timezone.utc)).astimezone(timezone.utc).replace(microsecond=0)
    stations = [s for s in store.all() if s.status != "closed"]
    fresh = freshness_many(store, stations)
    sample = any(s.is_sample for s in stations)
    stem = "stations_SAMPLE" if sample else "stations"
    licence_id, licence_name, licence_url = OPEN_DATA_LICENCE
    meta: dict[str, Any] = {
            "title": "工会驿站（户外劳动者服务站点）开放数据 / Trade-union rest stations for outdoor workers",
            "sample": sample, "stations": len(stations), "exported_at": when.isoformat(),
            "datum": "wgs84", "crs": "EPSG:4326",
            "licence": {"id": licence_id, "name": licence_name, "url": licence_url},
            "attribution": {"zh": OPEN_DATA_ATTRIBUTION[0], "en": OPEN_DATA_ATTRIBUTION[1]},
            "files": [f"{stem}.csv", f"{stem}.geojson", "data_dictionary.csv", "LICENSE.txt", "metadata.json",
                      "README.md"]}
    if sample:
        meta["sample_note"] = {"zh": "示例数据：站点为程序生成，不是真实站点。",
                               "en": "Sample data: the stations are generated, not real stations."}
    try:
        # stations.csv
        buf = io.StringIO()
        rows = station_rows(stations)
        table = []
        for s, r in zip(stations, rows):
            f = fresh[s.id]
            cells = [(r[c].isoformat() if r[c] else "") if c in DATE_COLUMNS else r[c] for c in COLUMNS]
            table.append([*cells, f.on.isoformat() if f.on else "", f.by, "true" if s.is_sample else "false"])
        write_csv(buf, OPEN_COLUMNS, table)
        _write_text(out / f"{stem}.csv", buf.getvalue(), bom=True)
        # stations.geojson
        feats = record_features(stations)
        for s, feat in zip(stations, feats):
            f = fresh[s.id]
            feat["properties"].update(last_confirmed=f.on.isoformat() if f.on else None, confirmed_by=f.by or None,
                                      sample=s.is_sample)
        doc = {"type": "FeatureCollection", "datum": "wgs84", "sample": sample, "exported_at": meta["exported_at"],
               "licence": meta["licence"], "attribution": meta["attribution"], "features": feats}
        _write_text(out / f"{stem}.geojson", json.dumps(doc, ensure_ascii=False) + "\n")
        # data_dictionary.csv
        buf = io.StringIO()
        write_csv(buf, ("column", "type", "label_zh", "label_en", "description_zh", "description_en", "values"), [
            (c, typ, FIELD_LABELS.get(c, (c, c))[0], FIELD_LABELS.get(c, (c, c))[1], zh, en,
             "; ".join(f"{k}={v[0]}/{v[1]}" for k, v in vocab.items()) if vocab else "")
            for c, (typ, zh, en, vocab) in _DICTIONARY.items()])
        _write_text(out / "data_dictionary.csv", buf.getvalue(), bom=True)
        _write_text(out / "LICENSE.txt", _licence_text(when.date()))
        _write_text(out / "metadata.json", json.dumps(meta, ensure_ascii=False, indent=2) + "\n")
        _write_text(out / "README.md", _readme(meta, stem))
    except OSError as exc:
        raise StationmapError(f"{folder}: cannot be written ({exc.strerror or exc})") from None
    return OpenDataExport(out, tuple(meta["files"]), len(stations), sample, when)


def _licence_text(day: date) -> str:
    licence_id, name, url = OPEN_DATA_LICENCE
    return (f"{name} ({licence_id})\n{url}\n\n"
            f"本数据集以 {licence_id} 许可发布：可自由复制、分发、改编和商业使用，须注明来源：\n"
            f"  {OPEN_DATA_ATTRIBUTION[0]}（{day.isoformat()} 导出）\n\n"
            f"This dataset is published under {licence_id}: you may copy, redistribute, adapt and use it "
            "commercially, giving credit:\n"
            f"  {OPEN_DATA_ATTRIBUTION[1]} (exported {day.isoformat()})\n\n"
            f"The full legal code: {url}legalcode\n")


def _readme(meta: dict[str, Any], stem: str) -> str:
    lines = []
    if meta["sample"]:
        lines += [f"> **{meta['sample_note']['zh']}** {meta['sample_note']['en']}", ""]
    lines += [f"# {meta['title']}", "",
              f"- 导出时间 / Exported: {meta['exported_at']} (UTC)",
              f"- 站点数 / Stations: {meta['stations']}（不含已关闭的站点 / closed stations left out）",
              ("- 坐标系 / Datum: WGS-84 (EPSG:4326)。高德、腾讯地图使用 GCJ-02，百度地图使用 BD-09，需转换后使用 / "
               "Amap and Tencent use GCJ-02, Baidu BD-09: convert before drawing on them."),
              f"- 许可 / Licence: {meta['licence']['name']} ({meta['licence']['id']}), {meta['licence']['url']}",
              f"- 署名 / Attribution: {meta['attribution']['zh']} / {meta['attribution']['en']}", "",
              "| 文件 / file | 内容 / contents |", "| --- | --- |",
              f"| `{stem}.csv` | 站点表（UTF-8）/ the stations as a table (UTF-8 with BOM) |",
              f"| `{stem}.geojson` | 站点 GeoJSON（RFC 7946）/ the stations as GeoJSON (RFC 7946) |",
              "| `data_dictionary.csv` | 字段说明 / every column: type, meaning, values |",
              "| `LICENSE.txt` | 许可 / the licence |", "| `metadata.json` | 元数据 / machine-readable metadata |", ""]
    return "\n".join(lines)
