"""What a coverage run assumed, stated once for every output (issue 17).

:func:`assumptions` builds the record of a run: the mode and its speed; for the circle
method the detour factor and the straight-line radius it gives, for the network method
the network's name, source and date, for a mixed run both (each network with the cells it
covers, the circle for the others); the minutes (and horizon); the moment or the time
profile; the demand's source and how it was spread over the cells; the cells' size and
shape; and whether the stations are sample data.  It carries the same facts as words in
Chinese and English (``text``), so the API's JSON, the coverage page, ``summary.json``,
the XLSX "about" sheet, the chart captions and the HTML map's legend all say the same.

The demand of a run is described by :attr:`stationmap.coverage.Coverage.demand_info`
(``{"source": ..., "spread": ...}``, see :data:`DEMAND_SPREADS`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stationmap import config as _config
from stationmap.coverage.params import reach_m
from stationmap.hours import rfc3339
from stationmap.labels import LANGS, MODE_LABELS, PROFILE_LABELS, label, moment_label, translations

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from stationmap.config import Settings
    from stationmap.coverage.analysis import Coverage
    from stationmap.network import Network

#: how a run's demand was put into its cells (``demand_info["spread"]``)
DEMAND_SPREADS = ("area", "roads", "pixel_area", "points", "polygons", "cells")


def even_over_area(coverage: Coverage) -> bool:
    """True when the run's demand is a census total spread evenly over area (fields and
    water as dense as the town centre): figures a demand layer would make truer."""
    return coverage.demand_info.get("spread") == "area"


def assumptions(coverage: Coverage, *, profile: str | None = None) -> dict[str, Any]:
    """The assumptions of ``coverage`` (and of its time ``profile``, ``week`` or ``year``,
    when one was asked for), JSON-ready; ``text`` holds them as lines in each language
    (``{"zh": [...], "en": [...]}``)."""
    cov = coverage
    return run_assumptions(mode=cov.mode, method=cov.method, minutes=cov.threshold,
                           horizon_minutes=cov.horizon_minutes, at=cov.at, services=cov.services,
                           demand_info=cov.demand_info, shape=cov.grid.shape, cell_m=cov.grid.cell_m,
                           h3_resolution=cov.grid.resolution, crs=cov.grid.crs, sample=cov.sample,
                           settings=cov.settings, network=cov.network, profile=profile,
                           networks=cov.network_parts() if cov.method == "mixed" else None)


def run_assumptions(*, mode: str, method: str, minutes: float, horizon_minutes: float, at: datetime | None,
                    services: Sequence[str], demand_info: dict[str, Any], shape: str, cell_m: float | None,
                    h3_resolution: int | None, crs: str | None, sample: bool, settings: Settings | None = None,
                    network: Network | None = None, profile: str | None = None,
                    networks: Sequence[dict[str, Any]] | None = None) -> dict[str, Any]:
    """:func:`assumptions` from a run's parameters, for a run without one :class:`Coverage`
    (a partitioned run: ``crs`` None, each district in its own UTM zone).  A mixed run gives
    its ``networks`` (:meth:`~stationmap.coverage.Coverage.network_parts`)."""
    settings = settings or _config.load()
    rec: dict[str, Any] = {
        "mode": mode, "speed_kmh": settings.speed_kmh(mode), "method": method,
        "minutes": minutes, "horizon_minutes": horizon_minutes,
        "at": rfc3339(at), "profile": profile, "services": list(services),
        "demand": dict(demand_info), "demand_even_over_area": demand_info.get("spread") == "area",
        "shape": shape, "cell_m": cell_m, "h3_resolution": h3_resolution, "crs": crs, "sample": bool(sample),
    }
    if method in ("circle", "mixed"):
        rec["detour_factor"] = settings.detour_factor
        rec["radius_m"] = reach_m(minutes, mode, settings=settings)
        rec["network"] = None
    if method == "mixed":
        rec["networks"] = [{k: p.get(k) for k in ("name", "source", "date", "cells")} for p in networks or ()]
    elif method != "circle":
        rec["network"] = {"name": getattr(network, "name", None) or None,
                          "source": getattr(network, "source", None) or None,
                          "date": getattr(network, "date", None) or None}
    rec["text"] = {lg: assumption_lines(rec, lg) for lg in LANGS}
    return rec


def assumption_lines(rec: dict[str, Any], lang: str) -> list[str]:
    """The record of :func:`assumptions` as lines of ``lang``."""
    _ = translations(lang).gettext
    f: dict[str, Any] = {"mode": label(MODE_LABELS, rec["mode"], lang), "speed": f"{rec['speed_kmh']:g}",
                         "minutes": f"{rec['minutes']:g}", "horizon": f"{rec['horizon_minutes']:g}"}
    lines = [_("出行方式：%(mode)s，速度 %(speed)s km/h") % f]
    unknown = _("未记录")
    if rec["method"] == "circle":
        f.update(detour=f"{rec['detour_factor']:g}", radius=f"{rec['radius_m']:,.0f}")
        lines.append(_("方法：直线距离 × 绕行系数 %(detour)s，即直线半径 %(radius)s m") % f)
    elif rec["method"] == "mixed":
        f.update(detour=f"{rec['detour_factor']:g}", radius=f"{rec['radius_m']:,.0f}")
        lines += [_("方法（混合）：路网 %(name)s 覆盖的 %(cells)s 个网格按道路计算（来源：%(source)s；日期：%(date)s）")
                  % {"name": net.get("name") or unknown, "cells": f"{net.get('cells') or 0:,}",
                     "source": net.get("source") or unknown, "date": net.get("date") or unknown}
                  for net in rec["networks"]]
        lines.append(_("方法（混合）：其余网格按直线距离 × 绕行系数 %(detour)s，即直线半径 %(radius)s m") % f)
    else:
        net = rec["network"] or {}
        f.update(name=net.get("name") or unknown, source=net.get("source") or unknown,
                 date=net.get("date") or unknown)
        lines.append(_("方法：路网 %(name)s（来源：%(source)s；日期：%(date)s）") % f)
    lines.append(_("时间阈值：%(minutes)s 分钟（分钟数计算到 %(horizon)s 分钟为止）") % f)
    if rec["at"]:
        from stationmap.hours import parse_datetime

        lines.append(_("时刻：只计入 %(moment)s 开放的站点") % {
            "moment": moment_label(parse_datetime(rec["at"], field="at"), lang)})
    else:
        lines.append(_("时刻：任意时刻，所有未关闭的站点都计入（不看营业时间）"))
    if rec.get("profile"):
        lines.append(_("时间分布：%(profile)s") % {"profile": label(PROFILE_LABELS, rec["profile"], lang)})
    if rec["services"]:
        lines.append(_("服务：只计入提供 %(services)s 的站点") % {"services": ", ".join(rec["services"])})
    lines.append(demand_line(rec["demand"], lang))
    if rec["shape"] == "square" and rec["crs"]:
        lines.append(_("网格：%(cell)s m 正方形（%(crs)s）") % {"cell": f"{rec['cell_m']:g}", "crs": rec["crs"]})
    elif rec["shape"] == "square":
        lines.append(_("网格：%(cell)s m 正方形（每个区县在其所在的 UTM 带）") % {"cell": f"{rec['cell_m']:g}"})
    else:
        lines.append(_("网格：H3 第 %(res)s 级六边形") % {"res": rec["h3_resolution"]})
    lines.append(_("站点：示例数据（生成的，并非真实站点）") if rec["sample"]
                 else _("站点：真实站点数据（非示例数据）"))
    return lines


def demand_line(info: dict[str, Any], lang: str) -> str:
    """How the demand was made (:attr:`Coverage.demand_info`), as one line of ``lang``."""
    _ = translations(lang).gettext
    spread = info.get("spread")
    if spread == "area":
        text = _("需求：2020 年普查人口总数按面积平均分摊到网格（农田、水面与城区密度相同）")
    elif spread == "roads":
        text = _("需求：2020 年普查人口总数按道路长度分摊到网格")
    elif spread == "pixel_area":
        text = _("需求：人口栅格 %(file)s（%(crs)s，分辨率 %(res)s），每个像元按其面积落入各网格的比例分摊") % {
            "file": info.get("file"), "crs": info.get("crs"), "res": info.get("resolution")}
    elif spread in ("points", "polygons"):
        text = _("需求：提供的需求图层（%(n)s 个要素，权重列 %(column)s）") % {
            "n": info.get("features"), "column": info.get("column")}
    else:
        text = _("需求：逐网格提供的数值")
    if info.get("relative"):
        text += _("（人口未知的区县为相对需求）")
    return text
