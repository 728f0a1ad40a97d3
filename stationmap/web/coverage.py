"""Coverage pages and API: ``/coverage/<adcode>`` and ``/api/v1/coverage``.

The page shows the coverage map (:func:`stationmap.maps.coverage.coverage_map`:
cells coloured by minutes to the nearest station, gaps, cross-covered area,
suggested sites, legend), the per-district figures and download links for the
files the CLI writes (GeoPackage, CSV, XLSX, charts, standalone map).  The API
returns the figures as JSON, and the cells as GeoJSON with ``cells=true``.

Views only check their arguments and call the library; runs are cached per
(arguments, store revision), and the downloads are written once per run into
``<instance>/coverage/``.  The web refuses grids of more than
:data:`~stationmap.config.WEB_MAX_CELLS` cells (the CLI has no such limit).
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

from flask import Blueprint, Flask, Response, abort, current_app, render_template, send_file, url_for
from flask_babel import gettext as _

from stationmap import coverage as cv
from stationmap import csp
from stationmap.config import DEFAULT_CELL_M, WEB_MAX_CELLS
from stationmap.errors import NotFoundError, ValidationError
from stationmap.instance import private_dir
from stationmap.labels import KIND_LABELS, METHOD_LABELS, label, labels, mode_labels
from stationmap.web.auth import page_policy
from stationmap.web.features import json_response
from stationmap.web.params import COVERAGE, COVERAGE_PAGE, Params, names
from stationmap.web.state import state
from stationmap.web.ui import lang

if TYPE_CHECKING:
    from stationmap.coverage import Coverage
    from stationmap.siting import Sites

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
_LOCK = threading.Lock()
#: the parameters of a run, by name (declared in :data:`stationmap.web.params.COVERAGE`)
_PARAM = {p.name: p for p in COVERAGE}
_API_NAMES = names(COVERAGE)

def _texts() -> dict[str, str]:
    """The page's words in its language (Flask-Babel; Chinese is the message id)."""
    return {
        "title": _("覆盖分析"), "district": _("区县"), "kind": _("站点类型"), "mode": _("出行方式"),
        "minutes": _("分钟"), "cell": _("网格（米）"), "add": _("建议新增站点数"), "run": _("分析"),
        "stations": _("站点数"), "area": _("面积 km²"), "population": _("人口（2020 普查）"),
        "cov": _("人口覆盖率"), "cross": _("交叉覆盖率"), "acov": _("面积覆盖率"), "median": _("中位分钟"),
        "p95": _("95% 分钟"), "downloads": _("下载"), "sites": _("建议新增站点"), "rank": _("序号"),
        "new": _("新增覆盖人口"), "method": _("方法"), "note": _("说明"), "gaps": _("主要覆盖空白"),
        "size": _("面积 km²"), "demand": _("未覆盖人口"), "centre": _("中心（WGS-84）"), "all": _("合计"),
    }


class _Args:
    """The run's arguments, checked at the edge."""

    def __init__(self, p: Params, *, adcode: str | None) -> None:
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

    def key(self) -> tuple:
        return (self.adcode, self.kind, self.mode, self.minutes, self.cell, self.method, self.add,
                state().store.revision())

    def query(self) -> dict:
        q = {"kind": self.kind, "mode": self.mode, "minutes": f"{self.minutes:g}", "cell": f"{self.cell:g}"}
        if self.method != "auto":
            q["method"] = self.method
        if self.add:
            q["add"] = str(self.add)
        return q


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
    if d.level == "zone" or args.method == "network":
        network = cv.default_network_for(d, settings=st.settings, districts=districts) if d.level == "zone" \
            else next(iter(load_networks(st.settings, skip_missing=True).values()), None)
    cov = cv.analyse(args.adcode, st.index.stations(), kinds=[args.kind], mode=args.mode, minutes=args.minutes,
                     method=args.method, network=network, cell_m=args.cell, settings=st.settings,
                     districts=districts, max_cells=WEB_MAX_CELLS)
    sites = siting.suggest_sites(cov, args.add, settings=st.settings, time_limit_s=20) if args.add else None
    with _LOCK:
        cache[key] = (cov, sites)
        while len(cache) > 6:
            cache.popitem(last=False)
    return cov, sites


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
    from stationmap.maps.coverage import coverage_map

    args = _Args(Params(COVERAGE_PAGE), adcode=adcode)
    page_lang = lang()
    t = _texts()
    cov, sites = _run(args)
    cache = state().coverage_parts
    pkey = (args.key(), page_lang, url_for("static", filename=""))
    parts = cache.get(pkey)
    if parts is None:
        m = coverage_map(cov, kind=args.kind, sites=sites, lang=page_lang, tianditu_key=state().settings.tianditu_key,
                         static_url=url_for("static", filename="").rstrip("/"))
        parts = render_parts(m)
        with _LOCK:
            cache[pkey] = parts
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
    gaps = cov.gaps(kind=args.kind).head(10)
    q = args.query()
    downloads = [(name, url_for("coverage.download", adcode=args.adcode, name=name, **q)) for name in DOWNLOADS]
    title = (cov.parent or {}).get("name") or "、".join(a.name for a in cov.areas)
    return render_template(
        "coverage.html", parts=parts, t=t, rows=rows, gaps=gaps.to_dict(orient="records"), sites=sites,
        downloads=downloads, args=args, title=title, any_sample=cov.sample, notes=cov.notes,
        method=label(METHOD_LABELS, cov.method, page_lang), kinds=list(labels(KIND_LABELS, page_lang).items()),
        modes=list(mode_labels(page_lang).items()), limits=_limits(),
        api_url=url_for("coverage.api", district=args.adcode, **q))


@bp.get("/coverage/<adcode>/download/<name>")
def download(adcode: str, name: str) -> Response:
    """One of the files the CLI writes, for this run (written on first request)."""
    if name not in DOWNLOADS:
        abort(404)
    args = _Args(Params(COVERAGE_PAGE), adcode=adcode)
    page_lang = lang()
    cov, sites = _run(args)
    digest = hashlib.sha256(repr((args.key(), page_lang)).encode()).hexdigest()[:20]
    folder = Path(state().settings.instance_path) / "coverage" / digest
    done = folder / ".done"
    with _LOCK:
        if not done.exists():
            from stationmap.planning import write_outputs

            private_dir(folder)
            write_outputs(cov, folder, kind=args.kind, sites=sites, lang=page_lang)
            done.write_text("ok")
    stem = f"{args.adcode}_{args.kind}_{args.mode}_{args.minutes:g}min_{name}"
    resp = send_file(folder / name, mimetype=DOWNLOADS[name], as_attachment=not name.endswith(".html"),
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
    (the cells as a GeoJSON FeatureCollection, WGS-84), ``gaps`` (how many, default 20)."""
    p = Params(_API_NAMES)
    args = _Args(p, adcode=None)
    want_cells = p.boolean(_PARAM["cells"])
    n_gaps = p.integer(_PARAM["gaps"])
    cov, sites = _run(args)
    body = cov.to_dict(cells=want_cells)
    body["gaps"] = cv.records(cov.gaps(kind=args.kind).head(n_gaps)) if n_gaps else []
    if sites is not None:
        body["sites"] = sites.to_dict()
    return json_response(body)


def _limits() -> dict[str, dict[str, float | None]]:
    """The form's bounds, from the run's declared parameters (:data:`stationmap.web.params.COVERAGE`)."""
    return {name: {"min": _PARAM[name].lo, "max": _PARAM[name].hi} for name in ("minutes", "cell", "add")}


def init_app(app: Flask) -> None:
    """Register the blueprint (called from :func:`stationmap.web.create_app`)."""
    app.register_blueprint(bp)

