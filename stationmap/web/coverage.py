"""Coverage pages and API: ``/coverage/<adcode>`` and ``/api/v1/coverage``.

The page shows the coverage map (:func:`stationmap.maps.coverage.coverage_map`:
cells coloured by minutes to the nearest station, gaps, cross-covered area,
suggested sites, legend), the per-district figures with the run's assumptions
(:meth:`stationmap.coverage.Coverage.assumptions`; where demand is a census total spread
evenly over area, a note saying so and how to give a demand layer) and download links
for the files the CLI writes (GeoPackage, CSV, XLSX, charts, standalone map).  The API
returns the figures and ``assumptions`` as JSON, and the cells as GeoJSON with ``cells=true``.

``at`` makes every figure, gap and site those of that moment (only the stations open
then count; the page's time field), ``service`` counts only the stations offering it,
and ``profile=week|year`` adds the coverage over time (:mod:`stationmap.coverage.profile`):
the API returns it as ``profile``, the page shows its night or winter/summer figures,
heat-map and line chart ("时间分布"), and its table and charts are downloads.

Views only check their arguments and call the library; runs (and profiles) are cached per
(arguments, store revision), and the downloads are written once per run into
``<instance>/coverage/``.  The web refuses grids of more than
:data:`~stationmap.config.WEB_MAX_CELLS` cells (the CLI has no such limit).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar, cast

import numpy as np
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import login_required

from stationmap import audit, csp
from stationmap import coverage as cv
from stationmap.config import DEFAULT_CELL_M, MAX_SCENARIO_STATIONS, PROFILES, WEB_MAX_CELLS
from stationmap.errors import NotFoundError, ValidationError
from stationmap.instance import private_dir
from stationmap.labels import (
    FIGURE_LABELS,
    KIND_LABELS,
    METHOD_LABELS,
    OBJECTIVE_LABELS,
    PROFILE_LABELS,
    SERVICE_LABELS,
    STATISTIC_LABELS,
    label,
    labels,
    mode_labels,
    moment_label,
    oneway_note,
    oneway_notes,
)
from stationmap.web.auth import page_policy
from stationmap.web.features import json_response
from stationmap.web.params import COVERAGE, COVERAGE_PAGE, WHATIF, Params, names
from stationmap.web.state import state
from stationmap.web.ui import lang, signed_in_user

if TYPE_CHECKING:
    from stationmap.coverage import Coverage, Profile
    from stationmap.coverage.accessibility import Accessibility
    from stationmap.siting import Sites
    from stationmap.station_requests import StationRequest

bp = Blueprint("coverage", __name__)

DOWNLOADS = {
    "coverage.gpkg": "application/geopackage+sqlite3",
    "figures.csv": "text/csv; charset=utf-8",
    "figures.xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "coverage_by_district.png": "image/png",
    "minutes_distribution.png": "image/png",
    "coverage_map.html": "text/html; charset=utf-8",
    "summary.json": "application/json",
}
#: the files of a time profile (``profile=week`` or ``year``), as :func:`stationmap.planning.write_profile` names them
PROFILE_DOWNLOADS = {
    p: {f"profile_{p}.csv": "text/csv; charset=utf-8",
        f"profile_{p}.xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        f"profile_{p}_heatmap.png": "image/png",
        f"profile_{p}_lines.png": "image/png"}
    for p in PROFILES
}
_LOCK = threading.Lock()
T = TypeVar("T")
#: the parameters of a run, by name (declared in :data:`stationmap.web.params.COVERAGE`)
_PARAM = {p.name: p for p in COVERAGE}
_API_NAMES = names(COVERAGE)
_WHATIF = {p.name: p for p in WHATIF}
_WHATIF_NAMES = names(WHATIF)

def _texts() -> dict[str, str]:
    """The page's words in its language (Flask-Babel; Chinese is the message id)."""
    return {
        "title": _("覆盖分析"), "district": _("区县"), "kind": _("站点类型"), "mode": _("出行方式"),
        "minutes": _("分钟"), "cell": _("网格（米）"), "add": _("建议新增站点数"), "run": _("分析"),
        "stations": _("站点数"), "area": _("面积 km²"), "population": _("人口（2020 普查）"),
        "cov": _("人口覆盖率"), "cross": _("交叉覆盖率"), "acov": _("面积覆盖率"), "median": _("中位分钟"),
        "p95": _("95% 分钟"), "downloads": _("下载"), "sites": _("建议新增站点"), "rank": _("序号"),
        "new": _("新增覆盖人口"), "new_twice": _("新增交叉覆盖人口"), "objective": _("选址目标"),
        "sites_before_after": _("人口覆盖率 %.1f%% → %.1f%%"),
        "sites_before_after_twice": _("交叉覆盖率 %.1f%% → %.1f%%"),
        "method": _("方法"), "note": _("说明"), "gaps": _("主要覆盖空白"),
        "size": _("面积 km²"), "demand": _("未覆盖人口"), "centre": _("中心（WGS-84）"), "all": _("合计"),
        "at": _("时刻"), "service": _("服务"), "any_service": _("（不限）"), "profile": _("时间分布"),
        "no_profile": _("（不显示）"), "hour": _("全年的钟点"),
        "anytime": _("任意时刻：所有未关闭的站点都计入（不看营业时间）。选择时刻，只计入当时开放的站点。"),
        "time": _("时间分布"), "figure": _("指标"), "statistic": _("统计"), "across": _("面积交叉覆盖率"),
        "heatmap": _("热力图"), "lines": _("折线图"), "sets": _("不同的开放站点组合"),
        "assumptions": _("本次分析的假设"),
        "with_access": _("同时计算可达性指数（E2SFCA）"),
        "access": _("可达性指数（E2SFCA，每千人座位数）"), "access_mean": _("人口加权平均"),
        "access_median": _("中位数（按人口）"), "access_none": _("无站点可达的人口比例"),
        "access_how": _("每个站点的容量（座位数；未填写的按 1 计）按其服务范围内的人口分摊，"
                        "再按出行时间衰减（前三分之一 1.0，中间 0.68，最后 0.22）累加到每个网格。"),
        "even": _("人口是按面积平均分摊的：农田、水面与城区一样密集，所以上面的覆盖率、覆盖空白和建议站点"
                  "可能追着无人居住的地方走。请提供需求图层（如 WorldPop、GHS-POP 人口栅格），让数字更真实："),
    }


class _Args:
    """The run's arguments, checked at the edge.  On the page (``page``) an empty time, service or
    profile field means none (the form sends every field); the API refuses empty values."""

    def __init__(self, p: Params, *, adcode: str | None, page: bool = False) -> None:
        from stationmap.districts import check_adcode

        settings = state().settings
        checked = check_adcode(adcode if adcode is not None else p.one("district"), field="district") \
            if (adcode is not None or p.one("district")) else None
        if checked is None:
            raise ValidationError("district is required (a 6-digit adcode)", field="district")
        self.adcode = checked
        self.kind = p.choice(_PARAM["kind"])
        self.mode = p.choice(_PARAM["mode"])
        self.minutes = p.number(_PARAM["minutes"], settings.minutes)
        self.cell = p.number(_PARAM["cell"], DEFAULT_CELL_M)   # (its declared default)
        self.method = p.choice(_PARAM["method"])
        self.add = p.integer(_PARAM["add"])
        self.objective = p.choice(_PARAM["objective"])
        #: also the accessibility index (E2SFCA) on the page and in its downloads
        self.accessibility = p.boolean(_PARAM["accessibility"]) if page else False

        def given(name: str) -> bool:
            return name in p.args and not (page and p.args[name] in ([""], []))

        self.at = p.when(_PARAM["at"]) if given("at") else None
        self.services: tuple[str, ...] = p.many(_PARAM["service"]) if given("service") else ()
        self.profile: str | None = p.choice(_PARAM["profile"]) if given("profile") else None
        self.hour: int = p.integer(_PARAM["hour"]) if given("hour") else _PARAM["hour"].default
        if given("hour") and self.profile != "year" and not page:
            raise ValidationError("hour is the hour of the day of profile=year: add profile=year or drop hour",
                                  field="hour")
        #: the moments of the profile (its week or year: the key of its cache)
        self.moments = cv.moments_for(self.profile, self.at, self.hour) if self.profile else ()

    def key(self) -> tuple:
        """What the run (the snapshot at ``at``) depends on (and the district's saved demand layer)."""
        return (self.adcode, self.kind, self.mode, self.minutes, self.cell, self.method, self.add, self.objective,
                None if self.at is None else self.at.isoformat(), self.services, state().store.revision(),
                _demand_stamp(self.adcode))

    def profile_key(self) -> tuple:
        """What the profile depends on: the run's grid and parameters, and its moments."""
        return (*self.key(), self.profile, self.moments[0].isoformat() if self.moments else None,
                self.hour if self.profile == "year" else None)

    def query(self) -> dict:
        q = {"kind": self.kind, "mode": self.mode, "minutes": f"{self.minutes:g}", "cell": f"{self.cell:g}"}
        if self.method != "auto":
            q["method"] = self.method
        if self.add:
            q["add"] = str(self.add)
            if self.objective != "once":
                q["objective"] = self.objective
        if self.at is not None:
            q["at"] = self.at.isoformat(timespec="minutes" if not (self.at.second or self.at.microsecond)
                                        else "seconds")
        if self.services:
            q["service"] = ",".join(self.services)
        if self.accessibility:
            q["accessibility"] = "true"
        if self.profile:
            q["profile"] = self.profile
            if self.profile == "year":
                q["hour"] = str(self.hour)
        return q

    def at_field(self) -> str:
        """``at`` as the form's datetime-local field shows it (Asia/Shanghai wall-clock time)."""
        return "" if self.at is None else f"{self.at:%Y-%m-%dT%H:%M}"


def _demand_stamp(adcode: str) -> tuple | None:
    """The district's saved demand layer as (modified, size), None without one: a new layer is a new run."""
    layers = cv.saved_demand_layers(settings=state().settings)
    if adcode not in layers:
        return None
    st = layers[adcode].stat()
    return (st.st_mtime_ns, st.st_size)


def _run(args: _Args) -> tuple[Coverage, Sites | None]:
    """(coverage, sites) for ``args``, cached per arguments and store revision."""
    st = state()
    cache: OrderedDict = st.coverage_runs
    key = args.key()
    with _LOCK:
        hit = cache.get(key)
        if hit is not None:
            cache.move_to_end(key)
            return hit
    from stationmap import siting
    from stationmap.districts import load_districts
    from stationmap.network import load_networks

    districts = load_districts(st.settings)
    network = None
    try:
        d = districts.get(args.adcode)
    except NotFoundError:
        raise NotFoundError(f"no district with adcode {args.adcode!r}", field="district") from None
    if args.method != "circle":     # a zone's network, or the one fetched for the district (issue 21)
        network = cv.default_network_for(d, settings=st.settings, districts=districts)
    if network is None and args.method == "network":
        network = next(iter(load_networks(st.settings, skip_missing=True).values()), None)
    cov = cv.analyse(args.adcode, st.index.stations(), kinds=[args.kind], mode=args.mode, minutes=args.minutes,
                     method=args.method, network=network, cell_m=args.cell, settings=st.settings,
                     districts=districts, max_cells=WEB_MAX_CELLS, at=args.at, services=args.services,
                     demand=cv.saved_demand_layer(args.adcode, settings=st.settings))
    sites = siting.suggest_sites(cov, args.add, settings=st.settings, time_limit_s=20,
                                 objective=args.objective) if args.add else None
    with _LOCK:
        cache[key] = (cov, sites)
        while len(cache) > 6:
            cache.popitem(last=False)
    return cov, sites


def _demand_upload(adcode: str) -> dict[str, bool] | None:
    """For an editor of the district (a county or zone) signed in: whether it has a saved demand layer
    (the page then offers to upload one, and to remove it); None for anyone else."""
    user = signed_in_user()
    if user is None or not user.can_edit(adcode) or len(adcode) != 6 or adcode.endswith("00"):
        return None
    return {"saved": adcode in cv.saved_demand_layers(settings=state().settings)}


def _whatif_config(args: _Args, cov: Coverage, map_id: str, gaps_var: str | None, q: dict[str, str]) -> dict:
    """What static/js/coverage-whatif.js needs: the map's and the gaps layer's script names, the
    what-if API and CSV URLs for this run, the run's stations of its kind that the map shows (WGS-84:
    :func:`stationmap.maps.coverage.shown_stations`, each a toggle) and the words."""
    from stationmap.maps.coverage import shown_stations

    run: dict[str, Any] = {k: v for k, v in q.items() if k in _WHATIF_NAMES}
    st = cov.stations
    sel = shown_stations(cov, args.kind)
    names = st.name if st.name is not None else st.id
    return {
        "map": map_id, "gaps_layer": gaps_var, "max": MAX_SCENARIO_STATIONS,
        "api": url_for("coverage.whatif_api", district=args.adcode, **run),
        "csv": url_for("coverage.whatif_csv", adcode=args.adcode, **run),
        "stations": [{"id": i, "name": n, "lon": x, "lat": y}
                     for i, n, x, y in zip(st.id[sel].tolist(), names[sel].tolist(), st.lon[sel].tolist(),
                                           st.lat[sel].tolist())],
        "t": {"add": _("添加候选站点：点击地图"), "adding": _("点击地图放置候选站点（再点按钮结束）"),
              "clear": _("清除方案"), "csv": _("下载方案 CSV（可导入）"), "current": _("现状"),
              "scenario": _("方案"), "change": _("变化"), "covered": _("人口覆盖率"), "cross": _("交叉覆盖率"),
              "people": _("覆盖人口"), "uncovered": _("未覆盖人口"), "median": _("中位分钟"),
              "candidate": _("候选站点"), "remove_hint": _("点击现有站点可将其移出方案，再点一次放回。"),
              "removed": _("已移出方案"), "failed": _("计算失败"), "working": _("计算中…")},
    }


def _access_rows(access: Accessibility, cov: Coverage, t: dict[str, str]) -> list[dict[str, str]]:
    """The accessibility summary (per district, then the whole) as the page shows it."""
    return [{"name": t["all"] if r["adcode"] == "all" else r["name"], "adcode": r["adcode"],
             "mean": f"{r['mean_score']:.3g}" if r["mean_score"] == r["mean_score"] else "–",
             "median": f"{r['median_score']:.3g}" if r["median_score"] == r["median_score"] else "–",
             "none": _fmt_share(r["share_none"])}
            for r in cv.records(access.summary(cov))]


def _accessibility(args: _Args, cov: Coverage) -> Accessibility:
    """The E2SFCA scores of the run of ``args``, cached as the runs are."""
    from stationmap.coverage.accessibility import accessibility

    return _cached(("accessibility", *args.key()), lambda: accessibility(cov, args.kind))


def _profile(args: _Args, cov: Coverage) -> Profile | None:
    """The time profile ``args`` ask for (None without ``profile``), cached as the runs are."""
    if not args.profile:
        return None
    st = state()
    return _cached(("profile", *args.profile_key()),
                   lambda: cv.time_profile(cov, st.index.stations(), args.moments, name=args.profile,
                                           hour=args.hour))


def _cached(key: tuple, make: Callable[[], T]) -> T:
    """``make()``, kept under ``key`` with the last runs (``AppState.coverage_runs``, the 6 last used)."""
    cache: OrderedDict = state().coverage_runs
    with _LOCK:
        hit = cache.get(key)
        if hit is not None:
            cache.move_to_end(key)
            return cast(T, hit)
    made = make()
    with _LOCK:
        cache[key] = made
        while len(cache) > 6:
            cache.popitem(last=False)
    return made


def _fmt_share(x: float | None) -> str:
    return "–" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{100 * x:.1f}%"


def _fmt_min(x: float | None, horizon: float) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "–"
    if math.isinf(x):
        return _("超过 %(h)s", h=f"{horizon:g}")
    return f"{x:.1f}"


@bp.get("/coverage/<adcode>")
def page(adcode: str) -> str:
    """The coverage map, figures and downloads of a district."""
    from stationmap.maps import render_parts
    from stationmap.maps.coverage import coverage_map, gaps_layer_name, layer_names

    args = _Args(Params(COVERAGE_PAGE), adcode=adcode, page=True)
    page_lang = lang()
    t = _texts()
    cov, sites = _run(args)
    prof = _profile(args, cov)
    access = _accessibility(args, cov) if args.accessibility else None
    pins = approved_pins(cov)
    pin_marks = tuple((p.lon, p.lat, p.reason) for p in pins)
    cache = state().coverage_parts
    pkey = (args.key(), args.accessibility, page_lang, url_for("static", filename=""), pin_marks)
    hit = cache.get(pkey)
    if hit is None:
        m = coverage_map(cov, kind=args.kind, sites=sites, lang=page_lang, tianditu_key=state().settings.tianditu_key,
                         static_url=url_for("static", filename="").rstrip("/"), accessibility=access,
                         requests=pin_marks)
        hit = (render_parts(m), layer_names(m).get(gaps_layer_name(page_lang)))
        with _LOCK:
            cache[pkey] = hit
            while len(cache) > 6:
                cache.popitem(last=False)
    rows = [{"adcode": r["adcode"], "name": t["all"] if r["adcode"] == "all" else r["name"],
             "stations": r["stations"], "area": f"{r['area_km2']:.1f}",
             "population": "–" if r["population"] is None else f"{r['population']:,.0f}",
             "cov": _fmt_share(r["demand_covered"]), "cross": _fmt_share(r["demand_cross_covered"]),
             "acov": _fmt_share(r["area_covered"]),
             "median": _fmt_min(r["median_minutes_demand"], cov.horizon_minutes),
             "p95": _fmt_min(r["p95_minutes_demand"], cov.horizon_minutes),
             "total": r["adcode"] == (cov.parent or {}).get("adcode", "all")}
            for r in cv.records(cov.stats())]
    parts, gaps_var = hit
    gaps = cov.gaps(kind=args.kind).head(10)
    q = args.query()
    downloads = [(name, url_for("coverage.download", adcode=args.adcode, name=name, **q))
                 for name in _downloads(args)]
    title = (cov.parent or {}).get("name") or "、".join(a.name for a in cov.areas)
    moment = None if cov.at is None else moment_label(cov.at, page_lang)
    return render_template(
        "coverage.html", parts=parts, t=t, rows=rows, gaps=gaps.to_dict(orient="records"), sites=sites,
        access=None if access is None else _access_rows(access, cov, t), access_notes=access.notes if access else [],
        shortfall=_shortfall(sites, page_lang),
        downloads=downloads, args=args, title=title, any_sample=cov.sample or bool(prof and prof.sample),
        notes=_page_notes(cov, page_lang),
        method=label(METHOD_LABELS, cov.method, page_lang),
        kinds=list(labels(KIND_LABELS, page_lang).items()), modes=list(mode_labels(page_lang).items()),
        services=list(labels(SERVICE_LABELS, page_lang).items()),
        profiles=list(labels(PROFILE_LABELS, page_lang).items()),
        objectives=list(labels(OBJECTIVE_LABELS, page_lang).items()),
        objective_label=label(OBJECTIVE_LABELS, args.objective, page_lang), limits=_limits(), moment=moment,
        time=_time_section(args, cov, prof, page_lang) if prof is not None else None,
        assumptions=cov.assumptions(profile=args.profile)["text"][page_lang], even=cv.even_over_area(cov),
        api_url=url_for("coverage.api", district=args.adcode, **q),
        whatif=_whatif_config(args, cov, parts.map_id, gaps_var, q), demand_upload=_demand_upload(args.adcode),
        pins=pins, pins_url=url_for("station_requests.api_approved", district=args.adcode),
        new_pin_url=url_for("station_requests.new"))


def approved_pins(cov: Coverage) -> list[StationRequest]:
    """The approved "a station is needed here" pins inside the run's districts, for the planners."""
    import shapely

    from stationmap.station_requests import approved_in

    geoms = [a.geometry for a in cov.areas if a.geometry is not None]
    return approved_in(state().store, shapely.union_all(geoms) if geoms else None,
                       cov.areas[0].adcode if cov.areas else "")


def _page_notes(cov: cv.Coverage, page_lang: str) -> list[str]:
    """The notes under the coverage page's figures: the run's, the one-way note of a network
    without one-way data, and the road data's credit of each network the run used (one, or
    those of a mixed run's cells)."""
    notes = [*cov.notes, *filter(None, [oneway_note(cov.oneway_respected, page_lang)])]
    notes += [_("路网数据 %(credit)s", credit=credit)
              for credit in dict.fromkeys(n.licence for n in cov.networks if n.licence)]
    return notes


def _shortfall(sites: Sites | None, page_lang: str) -> str | None:
    """Why fewer sites came back than asked, in the page's language (None when all did)."""
    from stationmap.planning import shortfall_text

    return shortfall_text(sites.shortfall, page_lang) if sites is not None and sites.shortfall else None


def _downloads(args: _Args) -> dict[str, str]:
    """The files of a run (and of its profile): name -> media type."""
    return {**DOWNLOADS, **(PROFILE_DOWNLOADS[args.profile] if args.profile else {})}


def _time_section(args: _Args, cov: Coverage, prof: Profile, page_lang: str) -> dict:
    """The page's "时间分布" section: the heat-map and the line chart (PNG as data: URLs, drawn once
    per profile and language) and the named figures (night; winter and summer) per district."""
    import base64
    import io

    from stationmap.planning import chart_profile_heatmap, chart_profile_lines

    cache = state().coverage_parts
    key = ("profile-charts", args.profile_key(), page_lang)
    charts = cache.get(key)
    if charts is None:
        charts = {}
        for name, draw in (("heatmap", chart_profile_heatmap), ("lines", chart_profile_lines)):
            buf = io.BytesIO()
            draw(prof, cov, buf, kind=args.kind, lang=page_lang)
            charts[name] = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
        with _LOCK:
            cache[key] = charts
            while len(cache) > 6:
                cache.popitem(last=False)
    whole = (cov.parent or {}).get("adcode", "all")
    figures = [{"name": _("合计") if r["adcode"] == "all" else r["name"], "adcode": r["adcode"],
                "figure": label(FIGURE_LABELS, r["figure"], page_lang),
                "statistic": label(STATISTIC_LABELS, r["statistic"], page_lang),
                "cov": _fmt_share(r["demand_covered"]), "cross": _fmt_share(r["demand_cross_covered"]),
                "acov": _fmt_share(r["area_covered"]), "across": _fmt_share(r["area_cross_covered"]),
                "total": r["adcode"] == whole}
               for r in cv.records(prof.figures()) if r["kind"] == args.kind]
    first, last = prof.moments[0], prof.moments[-1]
    return {"charts": charts, "figures": figures, "sets": prof.distinct_sets.get(args.kind, 0),
            "what": label(PROFILE_LABELS, prof.name, page_lang)
            + (f" {prof.hour:02d}:00" if prof.hour is not None else ""),
            "span": f"{moment_label(first, page_lang)} – {moment_label(last, page_lang)}"}


def _scenario(p: Params, adcode: str | None) -> tuple[_Args, Coverage, Coverage, list[tuple[float, float]],
                                                       tuple[str, ...]]:
    """The run of the query's parameters, and the same run for its scenario: ``new`` stations
    (in ``datum``, converted to WGS-84) and ``without`` existing ones."""
    from stationmap.coords import to_wgs84
    from stationmap.coverage.scenario import what_if

    args = _Args(p, adcode=adcode, page=adcode is not None)
    datum = p.choice(_WHATIF["datum"])
    new = p.points(_WHATIF["new"])
    if datum != "wgs84" and new:
        lon, lat = to_wgs84(np.array([x for x, _ in new]), np.array([y for _, y in new]), datum)
        new = list(zip(np.round(lon, 7).tolist(), np.round(lat, 7).tolist()))
    without = p.ids(_WHATIF["without"])
    cov, _sites = _run(args)
    return args, cov, what_if(cov, kind=args.kind, add=new, remove=without), new, without


@bp.get("/api/v1/coverage/whatif")
def whatif_api() -> Response:
    """The run of ``/api/v1/coverage``'s parameters as it is and with a scenario (``new`` stations
    dropped on the map, ``without`` existing ones), side by side (covered once, twice, people,
    median minutes), and the scenario's gaps (GeoJSON, WGS-84)."""
    from stationmap.coverage.scenario import comparison

    p = Params(_WHATIF_NAMES)
    p.choice(_PARAM["lang"])     # (the language of an error's display_message)
    args, cov, after, new, without = _scenario(p, None)
    gaps = after.gaps(kind=args.kind, geometry=True).head(50)
    body = {"datum": "wgs84", "params": cov.params(), **comparison(cov, after, args.kind),
            "new": [{"lon": x, "lat": y} for x, y in new], "without": list(without),
            "gaps": json.loads(gaps.to_json(drop_id=True)) if len(gaps) else
            {"type": "FeatureCollection", "features": []}}
    return json_response(body)


@bp.get("/coverage/<adcode>/whatif.csv")
def whatif_csv(adcode: str) -> Response:
    """The scenario as a CSV ``stationmap import`` takes: the new stations (kind, point, named
    候选站点 n, source what-if) and the stations taken out, closed."""
    from stationmap.coverage.scenario import scenario_stations
    from stationmap.io.writers import write_stations

    p = Params(_WHATIF_NAMES | COVERAGE_PAGE)
    args, cov, _after, new, without = _scenario(p, adcode)
    taken = [s for s in (state().index.get(i) for i in without) if s is not None]
    rows = scenario_stations(cov, taken, kind=args.kind, add=new, remove=without)
    buf = io.StringIO()
    write_stations(rows, buf, fmt="csv")
    resp = Response(buf.getvalue().encode("utf-8-sig"), mimetype="text/csv")
    resp.headers["Content-Disposition"] = f'attachment; filename="{args.adcode}_whatif_{args.kind}.csv"'
    return resp


@bp.post("/coverage/<adcode>/demand")
@login_required
def demand_upload(adcode: str) -> ResponseReturnValue:
    """Save an uploaded population raster (GeoTIFF, any CRS) as the district's demand layer
    (:func:`stationmap.coverage.save_demand_layer`): from then on the default demand of its runs on
    this page, the API and the CLI.  An editor of the district only; ``remove=1`` forgets the layer."""
    import tempfile

    from stationmap.districts import check_adcode

    code = check_adcode(adcode, field="district")
    user = signed_in_user()
    if user is None:
        abort(401)
    user.require_edit(code)
    settings = state().settings
    back = url_for("coverage.page", adcode=code)
    if request.form.get("remove"):
        if cv.remove_demand_layer(code, settings=settings):
            audit.record(state().store, "demand_layer", user=user.username, detail=f"{code}: removed")
            flash(_("已删除本区的需求图层：覆盖分析改用普查人口按面积平均分摊。"))
        return redirect(back)
    f = request.files.get("file")
    if f is None or not f.filename:
        raise ValidationError("choose a population raster (GeoTIFF .tif) to upload", field="file")
    if not cv.is_raster(f.filename):
        raise ValidationError(f"{Path(f.filename).name}: a demand layer is a population raster (.tif, .tiff)",
                              field="file")
    with tempfile.TemporaryDirectory(dir=private_dir(Path(settings.instance_path) / "uploads")) as d:
        tmp = Path(d) / "upload.tif"
        f.save(tmp)
        try:
            cv.save_demand_layer(code, tmp, settings=settings)
        except ValidationError as exc:
            raise ValidationError(exc.message.replace(str(tmp), Path(f.filename).name), field="file") from None
    audit.record(state().store, "demand_layer", user=user.username,
                 detail=f"{code}: {Path(f.filename).name[:200]}")
    flash(_("已保存需求图层 %(name)s：本区的覆盖分析现按它计算人口。", name=Path(f.filename).name[:200]))
    return redirect(back)


@bp.get("/coverage/<adcode>/download/<name>")
def download(adcode: str, name: str) -> Response:
    """One of the files the CLI writes, for this run (written on first request)."""
    args = _Args(Params(COVERAGE_PAGE), adcode=adcode, page=True)
    files = _downloads(args)
    if name not in files:
        abort(404)
    page_lang = lang()
    cov, sites = _run(args)
    prof = _profile(args, cov)
    access = _accessibility(args, cov) if args.accessibility else None
    digest = hashlib.sha256(repr((args.profile_key(), args.accessibility, page_lang)).encode()).hexdigest()[:20]
    folder = Path(state().settings.instance_path) / "coverage" / digest
    done = folder / ".done"
    with _LOCK:
        if not done.exists():
            from stationmap.planning import write_outputs, write_profile

            private_dir(folder)
            write_outputs(cov, folder, kind=args.kind, sites=sites, lang=page_lang, accessibility=access)
            if prof is not None:
                write_profile(prof, cov, folder, kind=args.kind, lang=page_lang)
            done.write_text("ok")
    when = f"_{cov.at:%Y%m%dT%H%M}" if cov.at is not None else ""
    stem = f"{args.adcode}_{args.kind}_{args.mode}_{args.minutes:g}min{when}_{name}"
    resp = send_file(folder / name, mimetype=files[name], as_attachment=not name.endswith(".html"),
                     download_name=stem)
    if name.endswith(".html"):  # the standalone map, shown in the browser: its inline scripts
        # (Leaflet, the map) are fixed text, allowed by their hashes (stationmap.csp)
        text = (folder / name).read_text(encoding="utf-8")
        resp.headers["Content-Security-Policy"] = page_policy(current_app).header(hashes=csp.script_hashes(text))
    return resp


@bp.get("/api/v1/coverage")
def api() -> Response:
    """Coverage figures as JSON: ``district`` (adcode, required), ``kind``, ``mode``,
    ``minutes``, ``cell`` (metres), ``method``, ``add`` (suggest sites), ``cells=true``
    (the cells as a GeoJSON FeatureCollection, WGS-84), ``gaps`` (how many, default 20),
    ``at`` (coverage at that moment: only the stations open then count), ``service``,
    ``profile`` (``week`` or ``year``: the coverage over time, as ``profile``) and ``hour``."""
    p = Params(_API_NAMES)
    p.choice(_PARAM["lang"])     # (the language of an error's display_message, and of the shortfall's text)
    args = _Args(p, adcode=None)
    want_cells = p.boolean(_PARAM["cells"])
    want_access = p.boolean(_PARAM["accessibility"])
    n_gaps = p.integer(_PARAM["gaps"])
    cov, sites = _run(args)
    body = cov.to_dict(cells=want_cells, profile=args.profile)
    if want_access:
        access = _accessibility(args, cov)
        body["accessibility"] = access.to_dict(cov)
        if want_cells:
            for f, score in zip(body["cells"]["features"], access.score.tolist()):
                f["properties"]["access"] = score
    body["gaps"] = cv.records(cov.gaps(kind=args.kind).head(n_gaps)) if n_gaps else []
    body["oneway_note"] = oneway_notes(cov.oneway_respected)
    if sites is not None:
        body["sites"] = sites.to_dict()
        if sites.shortfall is not None:
            body["sites"]["shortfall"]["text"] = _shortfall(sites, lang())
    prof = _profile(args, cov)
    if prof is not None:
        body["profile"] = prof.to_dict()
    return json_response(body)


def _limits() -> dict[str, dict[str, float | None]]:
    """The form's bounds, from the run's declared parameters (:data:`stationmap.web.params.COVERAGE`)."""
    return {name: {"min": _PARAM[name].lo, "max": _PARAM[name].hi} for name in ("minutes", "cell", "add")}


def init_app(app: Flask) -> None:
    """Register the blueprint (called from :func:`stationmap.web.create_app`)."""
    app.register_blueprint(bp)

