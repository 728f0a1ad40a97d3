"""Planning runs end to end: :func:`report` analyses a district, suggests sites and writes
every output (:func:`write_outputs`: GeoPackage, CSV/XLSX tables, charts, the standalone
map, a JSON summary) for the ``stationmap coverage`` command and the coverage pages.

It sits above :mod:`stationmap.coverage` and :mod:`stationmap.siting` (which consumes a
Coverage); neither imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeAlias

import numpy as np

from stationmap import siting
from stationmap.config import DEFAULT_MODE, NIGHT_FROM_HOUR, NIGHT_TO_HOUR, SUMMER_MONTHS, WINTER_MONTHS, Settings
from stationmap.coverage import DEFAULT_CELL_M, Coverage, Profile, analyse, records
from stationmap.hours import rfc3339
from stationmap.io.cells import frame_to_csv, frames_to_xlsx
from stationmap.labels import (
    FIGURE_LABELS,
    MONTH_LABELS,
    MONTHS,
    PROFILE_LABELS,
    WEEKDAY_LABELS,
    WEEKDAYS,
    label,
    translations,
)
from stationmap.network import Network

if TYPE_CHECKING:
    from datetime import datetime

    import pandas as pd
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from stationmap.coverage import StationArrays
    from stationmap.coverage.accessibility import Accessibility
    from stationmap.coverage.areas import AreaSpec
    from stationmap.index import StationIndex
    from stationmap.model import Station

#: where a chart goes: a file, or an open binary stream (the coverage page's inline image)
Target: TypeAlias = "str | Path | BinaryIO"

#: fonts with CJK glyphs, preferred first (fonts-wqy-microhei on Debian)
CJK_FONTS = ("WenQuanYi Micro Hei", "WenQuanYi Zen Hei", "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC",
             "Source Han Sans CN", "SimHei", "Microsoft YaHei", "PingFang SC", "Droid Sans Fallback",
             "AR PL UMing CN", "AR PL UKai CN")


def cjk_font() -> str | None:
    """The name of an installed font with CJK glyphs (matplotlib's list), or None."""
    from matplotlib import font_manager

    have = {f.name for f in font_manager.fontManager.ttflist}
    for name in CJK_FONTS:
        if name in have:
            return name
    return None


def _with_run(df: pd.DataFrame, columns: dict[str, Any], sample: bool) -> pd.DataFrame:
    """``df`` with the run's parameters as columns after its first three (district and kind), and
    ``sample_data`` last: how every figure table of a run says what it is."""
    for i, (name, value) in enumerate(columns.items(), 3):
        df.insert(i, name, value)
    df["sample_data"] = sample
    return df


def figures_table(coverage: Coverage) -> pd.DataFrame:
    """:meth:`Coverage.stats` with the run's parameters, for CSV/XLSX."""
    return _with_run(coverage.stats(), {"mode": coverage.mode, "minutes": coverage.threshold,
                                        "method": coverage.method}, coverage.sample)


def shortfall_text(shortfall: dict[str, Any], lang: str) -> str:
    """Why fewer sites came back than asked (:attr:`stationmap.siting.Sites.shortfall`), in words
    of ``lang``: the one wording of the CLI, the coverage page and the API."""
    _ = translations(lang).gettext
    f = {**shortfall, "cells": shortfall["uncovered_cells"], "people": f"{shortfall['uncovered_demand']:,.0f}",
         "reached": shortfall["reached_cells"],
         "reached_people": f"{shortfall['uncovered_demand'] - shortfall['unreachable_demand']:,.0f}",
         "left": f"{shortfall['left_demand']:,.0f}",
         "far": shortfall["unreachable_cells"], "far_people": f"{shortfall['unreachable_demand']:,.0f}"}
    reason = shortfall["reason"]
    if reason == "no_uncovered_demand":
        text = _("没有建议站点：现有站点已覆盖所有有人口的网格。") % f
    elif reason == "no_candidate_reaches":
        text = _("没有建议站点：%(cells)d 个未覆盖网格（%(people)s 人）都不在任何候选点的可达范围内。") % f
    elif reason == "all_reachable_covered" and shortfall["candidates"] < shortfall["asked"]:
        text = _("只建议 %(given)d 个站点（要求 %(asked)d 个）：只有 %(candidates)d 个候选点能到达未覆盖的网格；"
                 "这 %(given)d 个站点已覆盖它们可达的全部 %(reached)d 个未覆盖网格（%(reached_people)s 人），"
                 "其余候选点不再增加覆盖人口。") % f
    elif reason == "all_reachable_covered":
        text = _("只建议 %(given)d 个站点（要求 %(asked)d 个）：这 %(given)d 个站点已覆盖候选点可达的全部 "
                 "%(reached)d 个未覆盖网格（%(reached_people)s 人），其余候选点不再增加覆盖人口。") % f
    else:
        text = _("只建议 %(given)d 个站点（要求 %(asked)d 个）：求解器提前停止，可达范围内仍有 %(left)s 人未覆盖。") % f
    if reason != "no_candidate_reaches" and shortfall["unreachable_cells"]:
        text += _("另有 %(far)d 个网格（%(far_people)s 人）不在任何候选点的可达范围内。") % f
    return text


def _chart_setup(coverage: Coverage, kind: str | None, lang: str) -> tuple:
    """(kind, CJK font or None, whether the chart is in Chinese, its gettext): Chinese needs a CJK
    font, so a chart asked for in Chinese is drawn in English on a machine without one."""
    font = cjk_font()
    zh = lang == "zh" and font is not None
    return coverage.resolve_kind(kind), font, zh, translations("zh" if zh else "en").gettext


def chart_coverage_by_district(coverage: Coverage, path: str | Path, *, kind: str | None = None,
                               lang: str = "zh") -> Path:
    """Bar chart: share of demand covered once and twice (and of area) per district (PNG, Agg)."""
    kind, font, zh, _ = _chart_setup(coverage, kind, lang)
    df = coverage.stats()
    df = df[df.kind == kind].reset_index(drop=True)
    labels = [(f"{n}" if zh else f"{c}") for c, n in zip(df.adcode, df.name)]
    with _chart(coverage, kind, zh, font, path, (8, max(2.6, 1.2 + 0.45 * len(df)))) as ax:
        y = np.arange(len(df))[::-1]
        h = 0.27
        ax.barh(y + h, df.demand_covered.fillna(0) * 100, h, color="#1a9850",
                label=_("人口覆盖率（≥1 站）"))
        ax.barh(y, df.demand_cross_covered.fillna(0) * 100, h, color="#2c5aa0",
                label=_("交叉覆盖（≥2 站）"))
        ax.barh(y - h, df.area_covered.fillna(0) * 100, h, color="#bbbbbb",
                label=_("面积覆盖率"))
        ax.set_yticks(y, labels)
        ax.set_xlim(0, 100)
        ax.set_xlabel("%")
        ax.grid(axis="x", alpha=0.3)
        ax.legend(loc="lower right", fontsize=8)
    return Path(path)


def chart_minutes_distribution(coverage: Coverage, path: str | Path, *, kind: str | None = None,
                               lang: str = "zh") -> Path:
    """Cumulative share of demand within x minutes of a station, per district (PNG, Agg)."""
    kind, font, zh, _ = _chart_setup(coverage, kind, lang)
    x = np.linspace(0, coverage.horizon_minutes, 241)
    with _chart(coverage, kind, zh, font, path, (8, 4.6)) as ax:
        groups = [(a.name if zh else a.adcode, coverage.grid.adcode == a.adcode) for a in coverage.areas]
        if len(coverage.areas) > 1:
            groups.append(((coverage.parent or {}).get("name" if zh else "adcode", _("全部")),
                           np.ones(len(coverage.grid), bool)))
        for k, (label, mask) in enumerate(groups):
            mins, dem = coverage.minutes[kind][mask], coverage.demand[mask]
            tot = dem.sum()
            if tot <= 0:
                continue
            order = np.argsort(mins)
            cum = np.cumsum(dem[order]) / tot
            share = np.concatenate([[0.0], cum])[np.searchsorted(mins[order], x, side="right")]
            last = k == len(groups) - 1 and len(groups) > 1
            ax.plot(x, share * 100, lw=2.4 if last else 1.3, color="black" if last else None, label=label)
        ax.axvline(coverage.threshold, color="#d73027", ls="--", lw=1)
        ax.set_xlim(0, coverage.horizon_minutes)
        ax.set_ylim(0, 100)
        ax.set_xlabel(_("到最近站点的分钟数"))
        ax.set_ylabel(_("人口累计占比 %"))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8, ncol=2 if len(groups) > 6 else 1, loc="lower right")
    return Path(path)


@contextmanager
def _chart(coverage: Coverage, kind: str, zh: bool, font: str | None, path: Target,
           figsize: tuple[float, float]) -> Iterator[Axes]:
    """One chart's axes (matplotlib, Agg, ``font`` (:func:`cjk_font`) when there is one);
    on exit: the title, the sample-data mark, and the PNG written to ``path``."""
    with _charts(coverage, kind, zh, font, path, figsize) as axes:
        yield axes[0]


@contextmanager
def _charts(coverage: Coverage, kind: str, zh: bool, font: str | None, path: Target,
            figsize: tuple[float, float], rows: int = 1, *, subtitle: str = "",
            sample: bool | None = None, moment: bool = True,
            profile: str | None = None) -> Iterator[list[Axes]]:
    """:func:`_chart` with ``rows`` axes one above the other; the title (and ``subtitle``) over
    the first.  ``sample``: whether to mark the chart as sample data (default: the run's);
    ``moment``: whether the title names the run's moment (a profile's charts have their own);
    ``profile``: the time profile a chart shows (its caption says so)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    with plt.rc_context({"font.family": [font, "DejaVu Sans"] if font else ["DejaVu Sans"],
                         "axes.unicode_minus": False}):
        fig, axs = plt.subplots(rows, 1, figsize=figsize, dpi=110, squeeze=False)
        axes = [a for (a,) in axs]
        try:
            yield axes
            title = _chart_title(coverage, kind, zh, moment=moment)
            axes[0].set_title(f"{title}\n{subtitle}" if subtitle else title, fontsize=10)
            _sample_mark(fig, coverage, zh, sample)
            caption = chart_caption(coverage, "zh" if zh else "en", profile=profile)
            fig.tight_layout(rect=(0, 0.3 / figsize[1], 1, 1))
            fig.text(0.01, 0.005, _two_lines(caption), ha="left", va="bottom", fontsize=6.5, color="#444444",
                     wrap=True)
            fig.savefig(path, format="png", metadata={"Description": caption})
        finally:
            plt.close(fig)


def _chart_title(coverage: Coverage, kind: str, zh: bool, *, moment: bool = True) -> str:
    from stationmap.maps.coverage import coverage_title

    if zh:
        name = (coverage.parent or {}).get("name") or coverage.areas[0].name
    else:   # (the district's adcode: its Chinese name needs a CJK font)
        name = (coverage.parent or {}).get("adcode") or coverage.areas[0].adcode or "area"
    return coverage_title(name, kind, coverage.threshold, coverage.mode, "zh" if zh else "en",
                          at=coverage.at if moment else None)


def chart_caption(coverage: Coverage, lang: str, *, profile: str | None = None) -> str:
    """A chart's caption: the run's assumptions (:meth:`Coverage.assumptions`, with its time
    ``profile``) in ``lang``, one a line; also the PNG's ``Description``.  The chart draws
    them in two lines."""
    return "\n".join(coverage.assumptions(profile=profile)["text"][lang])


def _two_lines(caption: str) -> str:
    lines = caption.split("\n")
    half = (len(lines) + 1) // 2
    return " · ".join(lines[:half]) + "\n" + " · ".join(lines[half:])


def _sample_mark(fig: Figure, coverage: Coverage, zh: bool, sample: bool | None = None) -> None:
    if coverage.sample if sample is None else sample:
        fig.text(0.99, 0.01, translations("zh" if zh else "en").gettext("示例数据（非真实站点）"),
                 ha="right", va="bottom", fontsize=8, color="#b35900")


# -- coverage over time (stationmap.coverage.profile) ------------------------------------------

def profile_table(profile: Profile, coverage: Coverage) -> pd.DataFrame:
    """:attr:`Profile.table` with the run's parameters, for CSV/XLSX."""
    df = _with_run(profile.table.copy(), {"profile": profile.name, "mode": coverage.mode,
                                          "minutes": coverage.threshold, "method": coverage.method},
                   profile.sample)
    df.insert(len(df.columns) - 1, "services", ",".join(profile.services))
    return df


def profile_figures_table(profile: Profile, coverage: Coverage) -> pd.DataFrame:
    """:meth:`Profile.figures` (night; winter and summer) with the run's parameters, for CSV/XLSX."""
    return _with_run(profile.figures(), {"profile": profile.name, "mode": coverage.mode,
                                         "minutes": coverage.threshold}, profile.sample)


def whole_code(coverage: Coverage) -> str:
    """The adcode of the figures' row for the whole area: the parent's (or ``all``) for several
    districts, else the one district's."""
    return coverage.groups()[-1][0]


def _profile_setup(profile: Profile, coverage: Coverage, kind: str | None, lang: str) -> tuple:
    """(kind, font, zh, gettext, the profile's words) of a profile chart."""
    kind, font, zh, _ = _chart_setup(coverage, kind, lang)
    if kind not in profile.kinds:
        raise ValueError(f"the profile has no kind {kind!r}")
    lg = "zh" if zh else "en"
    what = label(PROFILE_LABELS, profile.name, lg)
    if profile.name == "year":
        what += f" {profile.hour:02d}:00"
    when = f"{profile.moments[0]:%Y-%m-%d} – {profile.moments[-1]:%Y-%m-%d}"
    return kind, font, zh, _, f"{what}, {when}"


def chart_profile_heatmap(profile: Profile, coverage: Coverage, path: Target, *, kind: str | None = None,
                          lang: str = "zh") -> Target:
    """Heat-map of the share of demand covered once (top) and twice (bottom): a week as
    weekday x hour of the whole area, the night hours marked; a year as district x month
    (PNG, Agg)."""
    kind, font, zh, _, sub = _profile_setup(profile, coverage, kind, lang)
    lg = "zh" if zh else "en"
    whole = whole_code(coverage)
    if profile.name == "week":
        size, rows_lab, cols_lab = (9.5, 6.4), [label(WEEKDAY_LABELS, d, lg) for d in WEEKDAYS], \
            [f"{h}" for h in range(24)]
    else:
        groups = coverage.groups()
        size = (9.5, 2.0 + 0.36 * len(groups) * 2)
        rows_lab = [(n if zh else c) for c, n, *_r in groups]
        cols_lab = [label(MONTH_LABELS, m, lg) for m in MONTHS]
    with _charts(coverage, kind, zh, font, path, size, 2, subtitle=sub,
                 sample=profile.sample or coverage.sample, moment=False, profile=profile.name) as axes:
        for ax, col, what in ((axes[0], "demand_covered", _("人口覆盖率（≥1 站）")),
                              (axes[1], "demand_cross_covered", _("交叉覆盖（≥2 站）"))):
            if profile.name == "week":
                data = profile.grid_of(col, kind=kind, adcode=whole) * 100
            else:
                data = np.array([profile.grid_of(col, kind=kind, adcode=c) for c, *_r in coverage.groups()]) * 100
            im = ax.imshow(np.ma.masked_invalid(data), aspect="auto", cmap="YlGn", vmin=0, vmax=100,
                           interpolation="nearest")
            ax.set_yticks(range(len(rows_lab)), rows_lab, fontsize=8)
            ax.set_xticks(range(len(cols_lab)), cols_lab, fontsize=8)
            if profile.name == "week":
                for h in (NIGHT_TO_HOUR - 0.5, NIGHT_FROM_HOUR - 0.5):
                    ax.axvline(h, color="#2c5aa0", lw=1, ls="--")
                ax.set_xlabel(_("时（%(night)s 为夜间）") % {
                    "night": f"{NIGHT_FROM_HOUR:02d}:00–{NIGHT_TO_HOUR:02d}:00"}, fontsize=8)
            ax.set_ylabel(what, fontsize=8)
            cb = ax.figure.colorbar(im, ax=ax, fraction=0.03, pad=0.01)
            cb.set_label("%", fontsize=8)
    return path


def chart_profile_lines(profile: Profile, coverage: Coverage, path: Target, *, kind: str | None = None,
                        lang: str = "zh") -> Target:
    """Line chart over the profile's moments: the share of demand covered once and twice and
    of area covered once for the whole area (bold), demand covered once per district (thin);
    the night hours shaded (PNG, Agg)."""
    kind, font, zh, _, sub = _profile_setup(profile, coverage, kind, lang)
    lg = "zh" if zh else "en"
    t = profile.table[profile.table.kind == kind]
    n = len(profile.moments)
    x = np.arange(n)
    groups = coverage.groups()
    whole = whole_code(coverage)
    with _charts(coverage, kind, zh, font, path, (11, 4.8), 1, subtitle=sub,
                 sample=profile.sample or coverage.sample, moment=False, profile=profile.name) as (ax,):
        if profile.name == "week":
            for d in range(7):
                ax.axvspan(d * 24 - 0.5, d * 24 + NIGHT_TO_HOUR - 0.5, color="#dde3f0", lw=0)
                ax.axvspan(d * 24 + NIGHT_FROM_HOUR - 0.5, d * 24 + 23.5, color="#dde3f0", lw=0)
            ax.set_xticks(np.arange(0, n, 24), [label(WEEKDAY_LABELS, d, lg) for d in WEEKDAYS])
            ax.set_xticks(np.arange(0, n, 6), minor=True)
            ax.set_xlim(-0.5, n - 0.5)
            ax.set_xlabel(_("一周（逐小时），阴影为夜间 %(night)s") % {
                "night": f"{NIGHT_FROM_HOUR:02d}:00–{NIGHT_TO_HOUR:02d}:00"})
        else:
            for months, color in ((WINTER_MONTHS, "#dde3f0"), (SUMMER_MONTHS, "#f6e3cf")):
                for m in months:
                    ax.axvspan(m - 1.5, m - 0.5, color=color, lw=0)
            ax.set_xticks(x, [label(MONTH_LABELS, m, lg) for m in MONTHS])
            ax.set_xlim(-0.5, n - 0.5)
            ax.set_xlabel(_("每月 %(day)s 日 %(hour)s，阴影为%(winter)s与%(summer)s") % {
                "day": f"{profile.moments[0].day}", "hour": f"{profile.hour:02d}:00",
                "winter": label(FIGURE_LABELS, "winter", lg), "summer": label(FIGURE_LABELS, "summer", lg)})
        if len(groups) > 1:
            for code, name, *_r in groups[:-1]:
                v = t[t.adcode == code].demand_covered.to_numpy(float) * 100
                ax.plot(x, v, lw=0.9, alpha=0.8, label=name if zh else code)
        w = t[t.adcode == whole]
        ax.plot(x, w.demand_covered.to_numpy(float) * 100, lw=2.4, color="black", label=_("人口覆盖率（≥1 站）"))
        ax.plot(x, w.demand_cross_covered.to_numpy(float) * 100, lw=2.0, color="#2c5aa0", ls="--",
                label=_("交叉覆盖（≥2 站）"))
        ax.plot(x, w.area_covered.to_numpy(float) * 100, lw=1.6, color="#888888", ls=":", label=_("面积覆盖率"))
        ax.set_ylim(0, 100)
        ax.set_ylabel("%")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    return path


def write_profile(profile: Profile, coverage: Coverage, out_dir: str | Path, *, kind: str | None = None,
                  lang: str = "zh") -> dict[str, Path]:
    """Write a profile's outputs into ``out_dir``; returns {name: path}.  ``<p>`` is
    ``week`` or ``year``:

    * ``profile_<p>.csv`` (UTF-8 with BOM) and ``profile_<p>.xlsx`` (sheets profile,
      figures, about): every moment, district and kind; the named figures (night;
      winter and summer);
    * ``profile_<p>_heatmap.png`` and ``profile_<p>_lines.png`` for ``kind`` (default:
      the run's first).
    """
    import pandas as pd

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    kind = coverage.resolve_kind(kind)
    stem = f"profile_{profile.name}"
    table, figures = profile_table(profile, coverage), profile_figures_table(profile, coverage)
    paths = {f"{stem}_csv": frame_to_csv(table, out / f"{stem}.csv")}
    about = {"profile": profile.name, "from": rfc3339(profile.moments[0]), "to": rfc3339(profile.moments[-1]),
             "moments": len(profile.moments), "hour": profile.hour, "services": ",".join(profile.services) or "-",
             "night": f"{NIGHT_FROM_HOUR:02d}:00-{NIGHT_TO_HOUR:02d}:00" if profile.name == "week" else "-",
             "winter_months": ",".join(map(str, WINTER_MONTHS)) if profile.name == "year" else "-",
             "summer_months": ",".join(map(str, SUMMER_MONTHS)) if profile.name == "year" else "-",
             "stations_in_reach": profile.stations,
             "distinct_open_sets": ", ".join(f"{k} {v}" for k, v in profile.distinct_sets.items()),
             **{k: v for k, v in coverage.params().items() if k not in ("at", "sample")},
             "time_zone": "Asia/Shanghai", "datum": "WGS-84 (EPSG:4326)"}
    if profile.sample:
        about["SAMPLE DATA"] = "the stations are generated samples, not real stations"
    lines = coverage.assumptions(profile=profile.name)["text"][lang]
    paths[f"{stem}_xlsx"] = frames_to_xlsx(
        {"profile": table, "figures": figures,
         "about": pd.DataFrame({"item": ["assumption"] * len(lines) + list(about),
                                "value": lines + [str(v) for v in about.values()]})},
        out / f"{stem}.xlsx")
    paths[f"{stem}_heatmap"] = Path(chart_profile_heatmap(  # type: ignore[arg-type]  # a path in, a path out
        profile, coverage, out / f"{stem}_heatmap.png", kind=kind, lang=lang))
    paths[f"{stem}_lines"] = Path(chart_profile_lines(  # type: ignore[arg-type]  # a path in, a path out
        profile, coverage, out / f"{stem}_lines.png", kind=kind, lang=lang))
    return paths


def about_frame(coverage: Coverage, lang: str) -> pd.DataFrame:
    """The XLSX "about" sheet of a run: its assumptions in words of ``lang`` (one row each,
    item ``assumption``), then its parameters, notes and datum."""
    import pandas as pd

    lines = coverage.assumptions()["text"][lang]
    params = coverage.params()
    return pd.DataFrame({"item": [*(["assumption"] * len(lines)), *params.keys(), "notes", "datum"],
                         "value": [*lines, *(str(v) for v in params.values()),
                                   " | ".join(coverage.notes) or "-", "WGS-84 (EPSG:4326)"]})


def write_outputs(coverage: Coverage, out_dir: str | Path, *, kind: str | None = None,
                  sites: siting.Sites | None = None, lang: str = "zh",
                  progress: Callable[[str], None] | None = None,
                  accessibility: Accessibility | None = None) -> dict[str, Path]:
    """Write every output of a run into ``out_dir``; returns {name: path}.

    * ``coverage.gpkg``: layers ``cells`` (polygons: minutes and counts per
      kind, demand), ``gaps`` (dissolved, ranked), ``sites`` (points, when
      ``sites``), ``districts`` (boundaries); WGS-84.
    * ``figures.csv`` (UTF-8 with BOM, for Excel) and ``figures.xlsx``
      (sheets figures, gaps, sites, about): the per-district figures.
    * ``coverage_by_district.png``, ``minutes_distribution.png``.
    * ``coverage_map.html``: the standalone map.
    * ``summary.json``: parameters and figures.

    With ``accessibility`` (E2SFCA), its scores too: the ``access`` column of the
    ``cells`` layer, the ``accessibility`` sheet (per district), a map layer and
    ``summary.json``'s ``accessibility``.
    """
    import json

    import geopandas as gpd
    import pandas as pd

    from stationmap.maps.coverage import coverage_map, save_html

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    kind = coverage.resolve_kind(kind)
    step = progress or (lambda label: None)
    paths: dict[str, Path] = {}

    step("tables")
    fig = figures_table(coverage)
    gaps = coverage.gaps(kind=kind, geometry=True)
    paths["csv"] = out / "figures.csv"
    frame_to_csv(fig, paths["csv"])
    about = about_frame(coverage, lang)
    if coverage.sample:
        about.loc[len(about)] = ["SAMPLE DATA", "the stations are generated samples, not real stations"]
    if sites is not None and sites.shortfall is not None:
        about.loc[len(about)] = ["sites_shortfall", shortfall_text(sites.shortfall, lang)]
    paths["xlsx"] = out / "figures.xlsx"
    frames_to_xlsx({"figures": fig, "gaps": pd.DataFrame(gaps.drop(columns="geometry")),
                    **({"sites": sites.table} if sites is not None else {}),
                    **({"accessibility": accessibility.summary(coverage)} if accessibility is not None else {}),
                    "about": about}, paths["xlsx"])

    step("geopackage")
    paths["gpkg"] = out / "coverage.gpkg"
    if paths["gpkg"].exists():
        paths["gpkg"].unlink()
    cells = coverage.cells(geometry=True)
    if accessibility is not None:
        cells["access"] = accessibility.score
    cells.to_file(paths["gpkg"], layer="cells", driver="GPKG")
    if len(gaps):
        gaps.to_file(paths["gpkg"], layer="gaps", driver="GPKG")
    if sites is not None and len(sites.table):
        sp = gpd.GeoDataFrame(sites.table.copy(), geometry=gpd.points_from_xy(sites.table.lon, sites.table.lat),
                              crs="EPSG:4326")
        sp["kind"] = sites.kind
        sp.to_file(paths["gpkg"], layer="sites", driver="GPKG")
    gpd.GeoDataFrame({"adcode": [a.adcode for a in coverage.areas], "name": [a.name for a in coverage.areas],
                      "population": [a.population for a in coverage.areas]},
                     geometry=[a.geometry for a in coverage.areas], crs="EPSG:4326").to_file(
        paths["gpkg"], layer="districts", driver="GPKG")

    step("charts")
    paths["chart_districts"] = chart_coverage_by_district(coverage, out / "coverage_by_district.png", kind=kind,
                                                          lang=lang)
    paths["chart_minutes"] = chart_minutes_distribution(coverage, out / "minutes_distribution.png", kind=kind,
                                                        lang=lang)

    step("map")
    paths["html"] = save_html(coverage_map(coverage, kind=kind, sites=sites, lang=lang, standalone=True,
                                           gaps=gaps, accessibility=accessibility), out / "coverage_map.html")
    summary = coverage.to_dict()
    summary["gaps"] = records(pd.DataFrame(gaps.drop(columns="geometry")).head(50))
    if sites is not None:
        summary["sites"] = sites.to_dict()
    if accessibility is not None:
        summary["accessibility"] = accessibility.to_dict(coverage)
    paths["json"] = out / "summary.json"
    paths["json"].write_text(json.dumps(summary, ensure_ascii=False, indent=1), encoding="utf-8")
    return paths


def report(area: AreaSpec, stations: Iterable[Station] | StationIndex | StationArrays, out_dir: str | Path, *,
           kinds: str | Sequence[str] | None = None, mode: str = DEFAULT_MODE, minutes: float | None = None,
           method: str = "auto", network: Network | None = None, cell_m: float = DEFAULT_CELL_M,
           shape: str = "square", h3_resolution: int | None = None, add: int | None = None, solver: str = "auto",
           candidates: Any = None, demand: Any = None, demand_column: str = "weight", lang: str = "zh",
           settings: Settings | None = None, at: datetime | None = None, services: Sequence[str] = (),
           progress: Callable[[str], None] | None = None, objective: str = "once", accessibility: bool = False
           ) -> tuple[Coverage, siting.Sites | None, dict[str, Path]]:
    """Analyse ``area``, suggest ``add`` sites for the first kind, and write every
    output (:func:`write_outputs`).  Returns ``(coverage, sites or None, paths)``.

    ``area``, ``stations``, ``kinds``, ``demand`` and the other parameters of the run are
    :func:`stationmap.coverage.analyse`'s (``at``: the run at that moment, only the stations open then
    count); ``add``, ``solver``, ``candidates`` and ``objective``
    :func:`stationmap.siting.suggest_sites`'s (``solver`` is its ``method``); ``accessibility``:
    also the E2SFCA scores of the first kind (:func:`stationmap.coverage.accessibility.accessibility`)."""
    cov = analyse(area, stations, kinds=kinds, mode=mode, minutes=minutes, method=method, network=network,
                  cell_m=cell_m, shape=shape, h3_resolution=h3_resolution, demand=demand,
                  demand_column=demand_column, settings=settings, at=at, services=services, progress=progress)
    sites = None
    if add:
        (progress or (lambda label: None))("sites")
        sites = siting.suggest_sites(cov, add, candidates=candidates, method=solver, settings=settings,
                                     objective=objective)
    access = None
    if accessibility:
        from stationmap.coverage.accessibility import accessibility as e2sfca

        (progress or (lambda label: None))("accessibility")
        access = e2sfca(cov)
    paths = write_outputs(cov, out_dir, sites=sites, lang=lang, progress=progress, accessibility=access)
    return cov, sites, paths
