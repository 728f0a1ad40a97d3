"""Editing pages for district unions (``/admin``) and the public report routes.

Every write route needs a signed-in user whose scope covers the station's
district (403 otherwise), a CSRF token (400 without), and goes through the
same validation as an import (:func:`stationmap.model.validate_record`).
Each write is one store transaction, logged in ``station_changes`` with the
user's name; the other workers' indexes catch up before their next request.

Public routes (blueprint ``reports``): a station's history, and anonymous, rate-limited
check-ins (:mod:`stationmap.reports`), from the station's page and as
``POST /api/v1/stations/<id>/checkins``; editors resolve the problem check-ins
(``/admin/checkins/<id>/resolve``).

Why one module of ~800 lines: the station form, the import flow (upload,
preview, problem list, confirm) and the history all turn on the same scope
checks and the same words for a station's fields, kept here once.  The import
flow is the part to move into its own blueprint when it grows.
"""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import re
import secrets
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TextIO, TypeGuard, cast

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_login import login_required

from stationmap import audit, station_requests
from stationmap import reports as _reports
from stationmap.accounts import PermissionDenied, User
from stationmap.config import CHECKIN_NOTE_MAX_CHARS, MAX_CAPACITY, PREVIEW_MAX_ROWS
from stationmap.coords import (
    DATUMS,
    check_datum,
    from_wgs84,
    to_wgs84,
)
from stationmap.errors import ConflictError, NotFoundError, TooLargeError, ValidationError
from stationmap.hours import hours_words
from stationmap.instance import FILE_MODE, private_dir, write_private
from stationmap.labels import (
    DATUM_LABELS,
    FIELD_LABELS,
    REPORT_LABELS,
    REQUEST_STATUS_LABELS,
    RESOLUTION_LABELS,
    field_value,
    label,
    say,
)
from stationmap.model import KINDS, SERVICES, STATUSES, Problem, Station, format_service_hours, validate_record
from stationmap.schema import as_utc
from stationmap.web.auth import client_address
from stationmap.web.state import districts as _districts
from stationmap.web.state import freshness, state
from stationmap.web.ui import district_name, lang, read_point, safe_next, scope_names, signed_in_user

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue
    from werkzeug.datastructures import MultiDict
    from werkzeug.wrappers import Response as WerkzeugResponse

    from stationmap.districts import District
    from stationmap.io.importer import Parsed
    from stationmap.io.readers import FileProblem

bp = Blueprint("admin", __name__, url_prefix="/admin")
public_bp = Blueprint("reports", __name__)

#: check-ins allowed per client address (the page's form and the API together)
REPORT_LIMIT = "6 per minute; 60 per day"
#: uploads older than this are deleted
UPLOAD_MAX_AGE_S = 6 * 3600
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
#: text fields of the station form, in order
TEXT_FIELDS = ("name", "name_en", "address", "host", "operator", "phone", "opening_hours")


# -- helpers -------------------------------------------------------------------

def _user() -> User:
    user = signed_in_user()
    if user is None:  # login_required ran first; this is a safety net
        abort(401)
    return user


def editable_districts(user: User) -> list[District]:
    """Counties and zones the user may edit, by adcode."""
    return [r for r in _districts().all() if r.level in ("county", "zone") and user.can_edit(r.adcode)]


def _station(station_id: str) -> Station:
    return state().store.get(station_id)


def _require_station_scope(station: Station) -> None:
    _user().require_edit(station.adcode)


def _latest_rev(station_id: str) -> int:
    hist = state().store.history(station_id)
    return hist[0]["rev"] if hist else 0


def _picker_points(station: Station | None) -> dict[str, list[float]]:
    """The station's position in every datum, for the map picker: {datum: [lon, lat]}."""
    if station is None:
        return {}
    return {d: [round(v, 7) for v in from_wgs84(station.lon, station.lat, d)] for d in DATUMS}


def _form_context(station: Station | None, *, values: dict[str, Any] | None = None, problems: Iterable[Problem] = (),
                  base_rev: int = 0, new: bool = False, status: int = 200,
                  confirm_close: bool = False, understood: Iterable[tuple[str, str, str]] = ()) -> tuple[str, int]:
    from stationmap.maps.tiles import basemaps

    user = _user()
    values = values or {}
    center = None
    if station is not None:
        center = [station.lon, station.lat]
    else:
        adcode = values.get("adcode") or request.args.get("adcode") or ""
        d = _districts()
        rec = d.get(adcode) if adcode and adcode in d else None
        if rec is None:
            choices = editable_districts(user)
            rec = next((r for r in choices if r.bbox), None)
        if rec is not None and rec.bbox:
            w, s, e, n = rec.bbox
            center = [(w + e) / 2, (s + n) / 2]
    bms = [{"name": b.name, "label": b.label(lang()), "datum": b.datum, "tiles": b.tiles,
            "attribution": b.attribution, "max_zoom": b.max_zoom}
           for b in basemaps(tianditu_key=state().settings.tianditu_key, lang=lang())]
    picker = {"basemaps": bms, "point": _picker_points(station),
              "boundaries": url_for("api.boundaries", level="county"), "read_point": url_for("admin.point_text"),
              "tiles_failed": _("底图无法加载（可能离线）：可按区县边界点选位置，"
                                "或在下面粘贴坐标、高德或百度的分享链接。"),
              "reading": _("正在识别……"), "read_failed": _("无法识别，请稍后重试。"),
              "center": {d: list(from_wgs84(center[0], center[1], d)) for d in DATUMS} if center else None}
    page_lang = lang()
    problems = [replace(p, message=say(p.message, page_lang)) for p in problems]  # the library says English
    by_field: dict = {}
    for p in problems:
        by_field.setdefault(p.field or "", []).append(p.message)
    return render_template(
        "admin/station_form.html", station=station, values=values, problems=list(problems),
        field_problems=by_field, base_rev=base_rev, new=new, kinds=KINDS, services=SERVICES,
        statuses=STATUSES, datums=DATUM_LABELS, districts=editable_districts(user),
        district_name=district_name, picker=picker, text_fields=TEXT_FIELDS, confirm_close=confirm_close,
        max_capacity=MAX_CAPACITY,
        understood=list(understood),
    ), status


def _values_from_form(form: MultiDict[str, str]) -> dict[str, Any]:
    v: dict[str, Any] = {f: (form.get(f) or "").strip() for f in TEXT_FIELDS}
    v["adcode"] = (form.get("adcode") or "").strip()
    v["status"] = (form.get("status") or "active").strip()
    v["kinds"] = form.getlist("kinds")
    v["services"] = form.getlist("services")
    v["lon"] = (form.get("lon") or "").strip()
    v["lat"] = (form.get("lat") or "").strip()
    v["datum"] = (form.get("datum") or "wgs84").strip()
    v["note"] = (form.get("note") or "").strip()[:500]
    v["reopens_on"] = (form.get("reopens_on") or "").strip()
    v["service_hours"] = (form.get("service_hours") or "").strip()
    v["capacity"] = (form.get("capacity") or "").strip()
    return v


def _values_from_station(station: Station) -> dict[str, Any]:
    v: dict[str, Any] = {f: getattr(station, f) for f in TEXT_FIELDS}
    v.update(adcode=station.adcode, status=station.status, kinds=list(station.kinds),
             services=list(station.services), lon=f"{station.lon:.7f}", lat=f"{station.lat:.7f}",
             datum="wgs84", note="", reopens_on=station.reopens_on.isoformat() if station.reopens_on else "",
             service_hours=format_service_hours(station.service_hours, sep="\n"),
             capacity="" if station.capacity is None else str(station.capacity))
    return v


def check_station_form(values: dict[str, Any], *,
                       existing: Station | None = None) -> tuple[Station | None, list[Problem]]:
    """Validate form ``values`` as an import row; returns ``(station, problems)``.

    The district (adcode) comes from the point by the rule of every write path
    (:meth:`stationmap.districts.Districts.assign_many`): the most specific
    district holding it when none is chosen (or when the station moved and
    its district was left as it was); a chosen district the point is not in
    is a problem on ``adcode`` naming both; a point in no known district keeps
    the district chosen.
    """
    problems: list = []
    try:
        datum = check_datum(values.get("datum") or "wgs84")
    except ValidationError as exc:
        return None, [Problem(None, "datum", exc.message)]
    rec = {k: values.get(k) for k in (*TEXT_FIELDS, "adcode", "status", "kinds", "services", "lon", "lat",
                                      "reopens_on", "service_hours", "capacity")}
    if existing is not None:
        rec.update(id=existing.id, verified_at=existing.verified_at, source=existing.source)
    else:
        rec.update(source="web")
    station, problems = validate_record(rec, datum=datum)
    if station is None:
        return None, problems
    d = _districts()
    said = station.adcode
    if existing is not None and said == existing.adcode and (station.lon, station.lat) != (existing.lon, existing.lat):
        said = ""  # the station moved and its district was left as it was: the district follows the point
    if said and said not in d:
        return None, [Problem(None, "adcode", _("未知的区划代码 %(code)s", code=said))]
    # the rule of every write path; a point in no known district keeps the district the editor chose
    (code,), where = d.assign_many([station.lon], [station.lat], [said], fallback=said or None)
    if where:
        located = d.locate(station.lon, station.lat)
        if located is None:
            return None, [Problem(None, "adcode", _("该位置不在任何区县内，请选择区县。"))]
        return None, [Problem(None, "adcode", _("该位置在%(where)s（%(code)s），不在所选区县%(name)s（%(adcode)s）内",
                                                 where=district_name(located), code=located,
                                                 name=district_name(said), adcode=said))]
    station = replace(station, adcode=code)
    return station, []


def hours_understood(values: dict[str, Any], station: Station) -> list[tuple[str, str, str]]:
    """What the form's typed hours were understood as, when that is not what was typed:
    ``(what, words, OSM)`` for the opening hours and each service's own hours
    (:func:`stationmap.hours.normalize_hours` wrote the OSM, :func:`~stationmap.hours.hours_words`
    says it); empty when the editor typed exactly what is stored."""
    page_lang = lang()
    out = []
    typed = (values.get("opening_hours") or "").strip()
    if typed and typed != station.opening_hours:
        out.append((label(FIELD_LABELS, "opening_hours", page_lang),
                    hours_words(station.opening_hours, page_lang), station.opening_hours))
    typed = "\n".join(line.strip() for line in (values.get("service_hours") or "").splitlines() if line.strip())
    if typed and typed != format_service_hours(station.service_hours, sep="\n"):
        out += [(label(SERVICES, s, page_lang), hours_words(h, page_lang), h) for s, h in station.service_hours]
    return out


def _confirm_hours(station: Station | None, values: dict[str, Any], understood: list[tuple[str, str, str]],
                   checked: Station, *, new: bool = False, base_rev: int = 0) -> tuple[str, int]:
    """The form again with the hours as understood (in words and in OSM, the OSM in the fields):
    a second "save" saves them."""
    values = {**values, "opening_hours": checked.opening_hours,
              "service_hours": format_service_hours(checked.service_hours, sep="\n")}
    return _form_context(station, values=values, new=new, base_rev=base_rev, understood=understood)


# -- dashboard and district pages ----------------------------------------------

@bp.get("/")
@login_required
def index() -> str:
    """The districts the signed-in user may edit, with counts, stations needing a visit and pending
    station requests; for an administrator, the pending requests in no known district."""
    user = _user()
    counts: dict = {}
    for s in state().index.stations():
        counts[s.adcode] = counts.get(s.adcode, 0) + 1
    visits: dict = {}
    for item in _reports.needs_visit(state().store):
        visits[item.station.adcode] = visits.get(item.station.adcode, 0) + 1
    pending = station_requests.list_requests(state().store, statuses=("pending",))
    asked: dict = {}
    for pin in pending:
        asked[pin.adcode] = asked.get(pin.adcode, 0) + 1
    rows = [{"adcode": r.adcode, "name": district_name(r.adcode), "stations": counts.get(r.adcode, 0),
             "visits": visits.get(r.adcode, 0), "requests": asked.get(r.adcode, 0)} for r in editable_districts(user)]
    if user.is_admin:
        rows = [r for r in rows if r["stations"] or r["visits"] or r["requests"]] + [
            r for r in rows if not (r["stations"] or r["visits"] or r["requests"])]
    # pins in no known district: an administrator decides them, here
    nowhere = [p for p in pending if not p.adcode] if user.is_admin else []
    return render_template("admin/index.html", rows=rows, user=user, nowhere=nowhere)


@bp.get("/districts/<adcode>")
@login_required
def district(adcode: str) -> str:
    """A district's stations (each with its last confirmation), its open items, and its stale
    stations (not confirmed within ``Settings.stale_days``)."""
    user = _user()
    if not re.fullmatch(r"\d{6}", adcode or ""):
        raise ValidationError(f"adcode must be 6 digits, got {adcode!r}", field="adcode")
    user.require_edit(adcode)
    stations = sorted((s for s in state().index.stations() if s.adcode == adcode), key=lambda s: s.id)
    visits = _reports.needs_visit(state().store, adcode_prefix=adcode)
    fresh = freshness(stations)
    today = _reports.today_shanghai()
    stale_days = state().settings.stale_days
    stale = _reports.stale_stations(stations, fresh, max_age_days=stale_days, today=today)
    fresh_words = {sid: f.words(lang(), today) for sid, f in fresh.items()}
    items = _reports.open_items(state().store, [v.station.id for v in visits])
    names = {v.station.id: v.station.name for v in visits}
    pins = station_requests.list_requests(state().store, adcode_prefix=adcode, statuses=("pending", "approved"))
    return render_template("admin/district.html", adcode=adcode, name=district_name(adcode),
                           stations=stations, visits=visits, stale=stale, kinds=KINDS,
                           statuses=STATUSES, report_kinds=REPORT_LABELS, items=items, item_names=names,
                           resolutions=RESOLUTION_LABELS, fresh_words=fresh_words, stale_days=stale_days,
                           pending=[p for p in pins if p.status == "pending"],
                           approved=[p for p in pins if p.status == "approved"])


@bp.post("/checkins/<int:report_id>/resolve")
@login_required
def checkin_resolve(report_id: int) -> WerkzeugResponse:
    """Resolve one open item (a problem check-in) as fixed, edited, closed or not a problem.

    Only an editor of the station's district (403 otherwise); an item already resolved is a 409.
    """
    station, _item, resolution = _resolve_item(report_id, request.form.get("resolution", ""))
    flash(_("已处理：%(name)s（%(how)s）", name=station.name, how=label(RESOLUTION_LABELS, resolution, lang())))
    return _back_to(station)


def _resolve_item(report_id: int, resolution: object) -> tuple[Station, _reports.Report, str]:
    """Resolve one open item as the signed-in editor (the form's and the JSON API's one path): the
    station, the item as resolved and the resolution.  403 for another district's item; 404, 409, 400
    as :func:`stationmap.reports.resolve_report` and :func:`~stationmap.reports.check_resolution` say."""
    user = _user()
    item = _reports.get_report(state().store, report_id)
    station = state().store.get(item.station_id)
    user.require_edit(station.adcode)
    how = _reports.check_resolution(resolution)
    done = _reports.resolve_report(state().store, report_id, user=user.username, resolution=how)
    return station, done, how


def _item_json(item: _reports.Report, station: Station) -> dict[str, Any]:
    return {**item.to_dict(), "resolved_by": item.resolved_by or None,
            "station": {"id": station.id, "name": station.name, "adcode": station.adcode}}


@bp.get("/api/items")
@login_required
def api_items() -> ResponseReturnValue:
    """``GET /admin/api/items[?district=ADCODE]``: the open items (problem check-ins not resolved) of the
    stations the signed-in editor may edit (of ``district``'s, an adcode or its prefix, when given),
    newest first, and the session's ``csrf_token`` for the POSTs (``X-CSRFToken``).  A six-digit
    district the editor may not edit is a 403."""
    from flask_wtf.csrf import generate_csrf

    user = _user()
    prefix = request.args.get("district", "")
    if prefix and not (prefix.isascii() and prefix.isdigit() and len(prefix) <= 6):
        raise ValidationError(f"district must be 1 to 6 digits, got {prefix!r}", field="district")
    if len(prefix) == 6:
        user.require_edit(prefix)
    unknown = sorted(set(request.args) - {"district"})
    if unknown:
        raise ValidationError(f"unknown parameter {unknown[0]!r}", field=unknown[0])
    stations = {s.id: s for s in state().index.stations() if s.adcode.startswith(prefix) and user.can_edit(s.adcode)}
    items = [_item_json(r, stations[r.station_id]) for r in _reports.open_items(state().store, list(stations))]
    return jsonify({"items": items, "resolutions": list(RESOLUTION_LABELS), "csrf_token": generate_csrf()})


@bp.post("/api/items/<int:report_id>/resolve")
@login_required
def api_resolve(report_id: int) -> ResponseReturnValue:
    """``POST /admin/api/items/<id>/resolve`` with ``{"resolution": "fixed" | "edited" | "closed" |
    "not_a_problem"}`` and the ``X-CSRFToken`` header: resolve one open item; 200 with the item.  An
    editor of the station's district only (403); 404 no such item; 409 already resolved or no problem."""
    if not request.is_json:
        raise ValidationError("the body must be JSON (Content-Type: application/json)", field="body")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError("the body must be a JSON object", field="body")
    unknown = sorted(set(body) - {"resolution"})
    if unknown:
        raise ValidationError(f"unknown field {unknown[0]!r}", field=unknown[0])
    station, done, _how = _resolve_item(report_id, body.get("resolution"))
    return jsonify(_item_json(done, station))


@bp.post("/station-requests/<int:request_id>/decide")
@login_required
def station_request_decide(request_id: int) -> WerkzeugResponse:
    """Approve or reject a pending "a station is needed here" pin (``decision``: approved / rejected).

    Only an editor of the district the pin lies in (an administrator for a pin in no known district:
    :meth:`~stationmap.accounts.User.can_edit`; 403 otherwise); a pin already decided is a 409 (the
    first decision stands).
    """
    user = _user()
    pin = station_requests.get_request(state().store, request_id)
    user.require_edit(pin.adcode)
    decision = station_requests.check_decision(request.form.get("decision", ""))
    station_requests.decide_request(state().store, request_id, user=user.username, decision=decision)
    flash(_("已审核站点需求 %(id)s：%(how)s", id=request_id,
            how=label(REQUEST_STATUS_LABELS, decision, lang())))
    back = request.form.get("back")
    return redirect(back if _local(back) else url_for("admin.district", adcode=pin.adcode) if pin.adcode
                    else url_for("admin.index"))


# -- posters ------------------------------------------------------------------------

def poster_base_url() -> str:
    """The address the posters' QR codes start with: ``Settings.public_url`` (STATIONMAP_PUBLIC_URL), else
    the address this request came to (behind a proxy, as ``STATIONMAP_TRUSTED_PROXIES`` lets it say)."""
    return state().settings.public_url or request.host_url


def _poster(stations: list[Station], stem: str) -> WerkzeugResponse:
    from stationmap import posters

    size = posters.check_size(request.args.get("size", "a4"))
    pdf = posters.poster_pdf(posters.poster_items(stations, _districts(), poster_base_url()), size=size,
                             font_path=state().settings.poster_font)
    response = send_file(io.BytesIO(pdf), mimetype="application/pdf", as_attachment=False,
                         download_name=posters.poster_filename(stem, size))
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/stations/<station_id>/poster.pdf")
@login_required
def station_poster(station_id: str) -> WerkzeugResponse:
    """The printable poster of one station (``?size=a4|a5``): its name, hours, services, the district
    union, and a QR code that opens its check-in page.  An editor of its district only; a closed
    station has none (409)."""
    from stationmap.posters import poster_stem

    st = _station(station_id)
    _user().require_edit(st.adcode)
    if st.status == "closed":
        raise ConflictError(_("站点已关闭，不再张贴海报：%(name)s", name=st.name), field="status")
    return _poster([st], poster_stem(st))


@bp.get("/districts/<adcode>/posters.pdf")
@login_required
def district_posters(adcode: str) -> WerkzeugResponse:
    """Every poster of a district in one PDF, a page each (``?size=a4|a5``): its stations not closed."""
    from stationmap.posters import district_stations, district_stem

    if not re.fullmatch(r"\d{6}", adcode or ""):
        raise ValidationError(f"adcode must be 6 digits, got {adcode!r}", field="adcode")
    _user().require_edit(adcode)
    stations = district_stations(state().index.stations(), adcode)
    if not stations:
        raise NotFoundError(_("%(name)s没有开放的站点，没有海报可做。", name=district_name(adcode)), field="adcode")
    return _poster(stations, district_stem(adcode, stations))


# -- one station -----------------------------------------------------------------

@bp.route("/stations/new", methods=["GET", "POST"])
@login_required
def station_new() -> ResponseReturnValue:
    """Create a station: form, map picker, same validation as an import."""
    user = _user()
    if request.method == "GET":
        adcode = request.args.get("adcode", "")
        values: dict[str, Any] = {"adcode": adcode if user.can_edit(adcode) else "", "status": "active",
                                  "kinds": ["rest"], "services": [], "datum": "gcj02", "opening_hours": "24/7"}
        return _form_context(None, values=values, new=True)
    values = _values_from_form(request.form)
    station, problems = check_station_form(values)
    if station is None:     # (None exactly when there are problems)
        return _form_context(None, values=values, problems=problems, new=True, status=400)
    if not user.can_edit(station.adcode):  # the form again, as typed, with the problem on its field
        return _form_context(None, values=values, problems=[_scope_problem(user, station.adcode)], new=True,
                             status=403)
    understood = hours_understood(values, station)
    if understood:  # hours typed as people say them: shown as understood, saved by a second submit
        return _confirm_hours(None, values, understood, station, new=True)
    station = replace(station, id="")
    state().store.insert(station, user=user.username, note=values["note"] or "created on the web")
    flash(_("已新增站点：%(name)s", name=station.name))
    return redirect(url_for("admin.district", adcode=station.adcode))


@bp.get("/point")
@login_required
def point_text() -> ResponseReturnValue:
    """Typed or pasted coordinates or a share link, read for the picker by
    :func:`stationmap.coords.parse_point_text` (``?text=``, ``datum=`` for plain numbers): the point in
    WGS-84 and in every datum (to draw it over any base map), what was understood and, in words, how."""
    body, status = read_point(request.args.get("text", ""), request.args.get("datum") or "wgs84")
    return jsonify(body), status


@bp.route("/stations/<station_id>/edit", methods=["GET", "POST"])
@login_required
def station_edit(station_id: str) -> ResponseReturnValue:
    """Edit a station (both its old and its new district must be in the user's scope)."""
    user = _user()
    existing = _station(station_id)
    user.require_edit(existing.adcode)
    if request.method == "GET":
        return _form_context(existing, values=_values_from_station(existing), base_rev=_latest_rev(station_id))
    values = _values_from_form(request.form)
    base_rev = request.form.get("base_rev", type=int)
    station, problems = check_station_form(values, existing=existing)
    if station is None:     # (None exactly when there are problems)
        return _form_context(existing, values=values, problems=problems, base_rev=base_rev or 0, status=400)
    if not user.can_edit(station.adcode):  # moved out of the user's districts: the form again, as typed
        return _form_context(existing, values=values, problems=[_scope_problem(user, station.adcode)],
                             base_rev=base_rev or 0, status=403)
    understood = hours_understood(values, station)
    if understood:  # hours typed as people say them: shown as understood, saved by a second submit
        return _confirm_hours(existing, values, understood, station, base_rev=base_rev or 0)
    if station.status == "closed" and existing.status != "closed" and request.form.get("confirm_close") != "1":
        # closing by the form asks as the close button does: the form again, with the question
        return _form_context(existing, values=values, base_rev=base_rev or 0, confirm_close=True)
    latest = _latest_rev(station_id)
    if base_rev is not None and base_rev != latest:
        who = state().store.history(station_id)[0]["user"] or "?"
        raise ConflictError(_("站点在您打开表单后已被 %(who)s 修改；请重新打开后再编辑。", who=who), field="base_rev")
    if station == existing:
        flash(_("没有改动。"))
    else:
        state().store.update(station, user=user.username, note=values["note"] or "edited on the web")
        flash(_("已保存：%(name)s", name=station.name))
    return redirect(url_for("admin.district", adcode=station.adcode))


def _scope_problem(user: User, adcode: str) -> Problem:
    """The problem of a station placed in a district ``user`` may not edit, on the district field."""
    return Problem(None, "adcode", _("该位置在%(district)s（%(code)s），不在您可编辑的区县（%(scopes)s）内："
                                     "请在地图上选择您负责区县内的位置，或选择区县。",
                                     district=district_name(adcode) or "-", code=adcode or "-",
                                     scopes=scope_names(user)))


def _set_status(station_id: str, status: str, note: str) -> Station:
    user = _user()
    st = _station(station_id)
    user.require_edit(st.adcode)
    store = state().store
    with store.begin() as conn:
        if st.status != status:
            store.write_many([replace(st, status=status)], user=user.username, note=note, mode="update", conn=conn)
            audit.record(conn, "station_closed" if status == "closed" else "station_reopened", user=user.username,
                         address=client_address(), detail=f"{st.id} {st.name}: {note}")
        _reports.resolve_reports(store, station_id, user=user.username, conn=conn,
                                 resolution="closed" if status == "closed" else "fixed")
    return st


@bp.route("/stations/<station_id>/close", endpoint="station_close", defaults={"status": "closed"},
          methods=["GET", "POST"])
@bp.post("/stations/<station_id>/reopen", endpoint="station_reopen", defaults={"status": "active"})
@login_required
def station_status(station_id: str, status: str) -> ResponseReturnValue:
    """Close or reopen a station (note: the form's, else "closed" / "reopened"); resolves open reports.

    Closing asks first: a GET, or a POST without ``confirm=1``, changes nothing and answers the
    question page (what closing changes, the note, confirm or cancel); reopening puts a station back
    and is not asked.
    """
    closing = status == "closed"
    if closing and (request.method == "GET" or request.form.get("confirm") != "1"):
        return _confirm_close(station_id)
    note = (request.form.get("note") or ("closed" if closing else "reopened")).strip()[:500]
    st = _set_status(station_id, status, note)
    flash(_("已关闭：%(name)s", name=st.name) if closing else _("已重新开放：%(name)s", name=st.name))
    return _back_to(st)


def _confirm_close(station_id: str) -> ResponseReturnValue:
    """The question before closing: the station, what closing changes, a note; confirm or cancel."""
    st = _station(station_id)
    _user().require_edit(st.adcode)
    back = request.values.get("back")
    back = back if _local(back) else url_for("admin.district", adcode=st.adcode)
    return render_template("admin/confirm_close.html", station=st, back=back,
                           note=(request.values.get("note") or "").strip()[:500])


@bp.post("/stations/<station_id>/verify")
@login_required
def station_verify(station_id: str) -> WerkzeugResponse:
    """"Still correct": verified today (Asia/Shanghai); resolves open reports."""
    user = _user()
    st = _station(station_id)
    user.require_edit(st.adcode)
    _reports.verify_station(state().store, station_id, user=user.username)
    flash(_("已确认信息无误：%(name)s", name=st.name))
    return _back_to(st)


def _back_to(st: Station) -> WerkzeugResponse:
    """Redirect to the form's ``back`` (a path on this site), else to the station's district."""
    back = request.form.get("back")
    return redirect(back if _local(back) else url_for("admin.district", adcode=st.adcode))


def _local(target: str | None) -> TypeGuard[str]:
    return safe_next(target) is not None


# -- upload and import -------------------------------------------------------------

def _upload_dir() -> Path:
    p = private_dir(Path(state().settings.instance_path) / "uploads")
    now = time.time()
    for f in p.glob("*"):  # forget abandoned uploads
        with contextlib.suppress(OSError):
            if now - f.stat().st_mtime > UPLOAD_MAX_AGE_S:
                f.unlink()
    return p


_SUFFIXES = (".csv", ".xlsx", ".geojson", ".json", ".gpkg")


def _upload_paths(token: str, suffix: str | None = None) -> tuple[Path, Path]:
    """(the uploaded file, its ``.meta`` JSON); the file keeps its extension (GDAL wants it)."""
    if not _TOKEN.match(token or ""):
        raise NotFoundError(f"no upload {token!r}", field="token")
    d = _upload_dir()
    if suffix is None:
        found = [p for p in d.glob(f"{token}.*") if p.suffix != ".meta"]
        data = found[0] if found else d / f"{token}.data"
    else:
        data = d / f"{token}{suffix if suffix in _SUFFIXES else '.data'}"
    return data, d / f"{token}.meta"


def _load_upload(token: str) -> tuple[Path, dict]:
    data, meta_path = _upload_paths(token)
    try:
        meta = json.loads(meta_path.read_text())
    except (OSError, ValueError):
        raise NotFoundError(_("上传的文件已过期或不存在，请重新上传。"), field="token") from None
    if meta.get("user_id") != _user().id or not data.exists():
        raise NotFoundError(_("上传的文件已过期或不存在，请重新上传。"), field="token")
    return data, meta


def scope_problems(user: User, stations: Sequence[Station], rows: Sequence[int], *,
                   unit: str = "row") -> Iterator[FileProblem]:
    """Problems for stations outside the user's scope (new district or stored one), in the stations' order.

    A generator: it asks the store for the stored districts of :data:`_CHUNK`
    stations at a time, and keeps nothing per station.
    """
    from stationmap.io.readers import FileProblem

    store = state().store
    for start in range(0, len(stations), _CHUNK):
        chunk = stations[start:start + _CHUNK]
        stored = store.adcodes([s.id for s in chunk])
        for s, row in zip(chunk, rows[start:start + _CHUNK]):
            code = s.adcode  # every parsed station has its district (the importer placed it)
            if not user.can_edit(code):
                yield FileProblem(row, "adcode", _("区划代码 %(code)s 不在您可编辑的范围（%(scopes)s）内",
                                                   code=code or "-", scopes=", ".join(user.scopes) or "-"),
                                  code, unit=unit)
            elif s.id in stored and not user.can_edit(stored[s.id]):
                yield FileProblem(row, "id", _("站点 %(id)s 属于 %(code)s，不在您可编辑的范围内",
                                               id=s.id, code=stored[s.id] or "-"), s.id, unit=unit)


#: stations the preview compares with the store at a time (it holds their stored versions only)
_CHUNK = 5000
#: a problem list larger than this goes from memory to a temporary file
_SPOOL_BYTES = 1 << 20


@dataclass
class Outcome:
    """How many rows of an upload have one outcome, and the first :data:`PREVIEW_MAX_ROWS` of them."""

    count: int = 0
    first: list = field(default_factory=list)

    def add(self, items: Sequence) -> None:
        """Count ``items``; keep the first of them while there is room."""
        self.count += len(items)
        self.first.extend(items[:PREVIEW_MAX_ROWS - len(self.first)])

    def append(self, item: Any) -> None:
        """Count ``item``; keep it while there is room."""
        self.count += 1
        if len(self.first) < PREVIEW_MAX_ROWS:
            self.first.append(item)


def _parse_upload(data: Path, meta: dict, on_problem: Callable[[FileProblem], object]) -> Parsed:
    """The upload parsed as the preview and the problem list see it (the web upload's limits);
    its problems, in row order, go to ``on_problem`` (a file may have several in every row)."""
    from stationmap.io.importer import parse_stations

    settings = state().settings
    return parse_stations(data, filename=meta["filename"], datum=meta["datum"], on_problem=on_problem,
                          max_rows=settings.upload_max_rows, max_bytes=int(settings.upload_max_mb * 1e6),
                          districts=_districts())


def _preview(data: Path, meta: dict) -> dict:
    """What importing the upload would do: per outcome (new, changed, unchanged, problem) an
    :class:`Outcome`, its count and its first rows (each station with the district it lands in, as
    the import records it); the changed ones with their changed fields.
    The problems are the file's, in row order, then those of rows outside the user's scope (as in
    :func:`import_problems`).

    Nothing is kept for the other rows: the stations are compared with the store
    :data:`_CHUNK` at a time, and only the first rows' stored versions are read.
    """
    user = _user()
    file_problems = Outcome()
    parsed = _parse_upload(data, meta, file_problems.append)
    store = state().store
    unit = parsed.table.unit
    stations, rows = parsed.stations, parsed.station_rows
    new, changed, same = Outcome(), Outcome(), Outcome()
    for start in range(0, len(stations), _CHUNK):
        chunk = stations[start:start + _CHUNK]
        with_row = {id(s): (s, r) for s, r in zip(chunk, rows[start:start + _CHUNK])}
        for outcome, found in zip((new, changed, same), store.classify(chunk)):
            outcome.add([with_row[id(s)] for s in found])
    diffs = []
    page_lang = lang()
    for s, row in changed.first:
        before, after = store.get(s.id).to_dict(), s.to_dict()
        # labels and values as the pages show them (as the history does), never the stored codes
        diffs.append({"station": s, "row": row,
                      "fields": [(label(FIELD_LABELS, k, page_lang), _shown(k, before.get(k), page_lang),
                                  _shown(k, after.get(k), page_lang))
                                 for k in after if before.get(k) != after.get(k)]})
    changed.first = diffs
    scope = Outcome()
    for p in scope_problems(user, stations, rows, unit=unit):
        scope.append(p)
    problems = Outcome(file_problems.count + scope.count, (file_problems.first + scope.first)[:PREVIEW_MAX_ROWS])
    return {"new": new, "changed": changed, "unchanged": same, "problems": problems, "scope_problems": scope,
            "invalid_rows": parsed.invalid_rows, "unit": unit,
            "warnings": parsed.warnings, "rows": len(parsed.table.rows)}


@bp.route("/import", methods=["GET", "POST"])
@login_required
def import_upload() -> ResponseReturnValue:
    """Upload a file (CSV, XLSX, GeoJSON, GeoPackage); nothing is written before confirming."""
    user = _user()
    if request.method == "GET":
        return render_template("admin/import.html", datums=DATUM_LABELS, user=user)
    f = request.files.get("file")
    if f is None or not f.filename:
        return render_template("admin/import.html", datums=DATUM_LABELS, user=user,
                               error=_("请选择要上传的文件。")), 400
    datum = request.form.get("datum") or "auto"
    if datum != "auto":
        check_datum(datum)
    filename = Path(f.filename).name[:200]
    token = secrets.token_urlsafe(18)
    data, meta_path = _upload_paths(token, Path(filename).suffix.lower())
    with open(os.open(data, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE), "wb") as out:
        f.save(out)  # readable by stationmap's user only, from the first byte
    meta = {"user_id": user.id, "filename": filename, "datum": None if datum == "auto" else datum,
            "skip_invalid": bool(request.form.get("skip_invalid")), "at": time.time()}
    write_private(meta_path, json.dumps(meta))
    try:
        pv = _preview(data, meta)
    except ValidationError as exc:
        data.unlink(missing_ok=True)
        meta_path.unlink(missing_ok=True)
        if isinstance(exc, TooLargeError):
            settings = state().settings
            message = _("文件太大：网页上传最多 %(rows)s 行、解压后 %(mb)s MB。更大的文件请在服务器上用命令 "
                        "stationmap import 导入。", rows=f"{settings.upload_max_rows:,}",
                        mb=f"{settings.upload_max_mb:g}")
            return render_template("admin/import.html", datums=DATUM_LABELS, user=user, error=message), 413
        return render_template("admin/import.html", datums=DATUM_LABELS, user=user, error=say(exc.message, lang())), 400
    can_import = not pv["scope_problems"].count and (meta["skip_invalid"] or not pv["invalid_rows"]) \
        and bool(pv["new"].count or pv["changed"].count)
    return render_template("admin/import_preview.html", pv=pv, meta=meta, token=token, can_import=can_import,
                           district_name=district_name)


@bp.post("/import/<token>")
@login_required
def import_confirm(token: str) -> WerkzeugResponse:
    """Import a previewed upload (checked again: the store may have changed since)."""
    from stationmap.io.importer import import_file

    user = _user()
    data, meta = _load_upload(token)
    pv = _preview(data, meta)
    if pv["scope_problems"].count:
        raise _scope_error(pv["scope_problems"])
    res = import_file(state().store, data, filename=meta["filename"], datum=meta["datum"],
                      skip_invalid=meta["skip_invalid"], user=user.username,
                      note=f"web import {meta['filename']}", districts=_districts())
    audit.record(state().store, "import_confirmed", user=user.username, address=client_address(),
                 detail=f"{meta['filename']}: {res.new} new, {res.updated} updated, {res.unchanged} unchanged, "
                        f"{res.invalid} invalid")
    data.unlink(missing_ok=True)
    _upload_paths(token)[1].unlink(missing_ok=True)
    flash(_("导入完成：新增 %(new)s，更新 %(updated)s，未变 %(same)s，无效 %(invalid)s",
            new=res.new, updated=res.updated, same=res.unchanged, invalid=res.invalid))
    return redirect(url_for("admin.index"))


class _ProblemsCsv:
    """A problem list written as CSV to ``f`` (:func:`~stationmap.io.writers.write_problems_csv`)
    as its problems come, :data:`_CHUNK` at a time."""

    def __init__(self, f: TextIO) -> None:
        self.f = f
        self.batch: list[FileProblem] = []
        self.header = True

    def append(self, problem: FileProblem) -> None:
        self.batch.append(problem)
        if len(self.batch) >= _CHUNK:
            self.flush()

    def flush(self) -> None:
        from stationmap.io.writers import write_problems_csv

        write_problems_csv(self.batch, self.f, header=self.header)
        self.batch.clear()
        self.header = False


@bp.get("/import/<token>/problems.csv")
@login_required
def import_problems(token: str) -> WerkzeugResponse:
    """Every problem of a previewed upload as CSV (the preview lists the first ones): the file's, in
    row order, then those of rows outside the user's scope.

    The upload is checked again, as on confirming.  The problems are written as
    they are found, to a temporary file (in memory while small), and sent from there.
    """
    user = _user()
    data, meta = _load_upload(token)
    with contextlib.ExitStack() as on_error:  # the file is closed if writing it fails; else the response closes it
        out = on_error.enter_context(tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES))
        # a BOM: Excel then reads UTF-8 (typeshed does not take a SpooledTemporaryFile for a binary file)
        text = io.TextIOWrapper(cast("IO[bytes]", out), encoding="utf-8-sig", newline="")
        problems = _ProblemsCsv(text)
        parsed = _parse_upload(data, meta, problems.append)
        for p in scope_problems(user, parsed.stations, parsed.station_rows, unit=parsed.table.unit):
            problems.append(p)
        problems.flush()
        text.flush()
        text.detach()
        on_error.pop_all()
    out.seek(0)
    response = send_file(out, mimetype="text/csv", as_attachment=True,
                         download_name=f"{Path(meta['filename']).stem}-problems.csv")
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.post("/import/<token>/cancel")
@login_required
def import_cancel(token: str) -> WerkzeugResponse:
    data, _meta = _load_upload(token)
    data.unlink(missing_ok=True)
    _upload_paths(token)[1].unlink(missing_ok=True)
    flash(_("已取消导入，没有写入任何数据。"))
    return redirect(url_for("admin.import_upload"))


def _scope_error(problems: Outcome) -> PermissionDenied:
    """The refusal of an import with rows outside the user's districts, in the page's language."""
    first = "; ".join(_("第 %(row)s 行：%(message)s", row=p.row, message=p.message) for p in problems.first[:5])
    more = _("（另有 %(n)s 行）", n=problems.count - 5) if problems.count > 5 else ""
    said = _("%(n)s 行不在您可编辑的区县内，没有导入任何数据。", n=problems.count)
    return PermissionDenied(f"{said} {first}{more}", field="adcode")


# -- public: history and check-ins --------------------------------------------------

def _shown(field: str, value: object, page_lang: str) -> str:
    """A stored value as the pages show it: labels for vocabulary keys (:func:`stationmap.labels.field_value`),
    a district's name with its code, hours in words (:func:`stationmap.hours.hours_words`)."""
    if field == "adcode" and value:
        name = district_name(str(value))
        return f"{name}（{value}）" if name != value else str(value)
    if field == "opening_hours" and value:
        return hours_words(str(value), page_lang)
    if field == "service_hours" and isinstance(value, dict) and value:
        return field_value(field, {k: hours_words(str(v), page_lang) for k, v in value.items()}, page_lang)
    return field_value(field, value, page_lang)


def history_rows(station_id: str) -> list[dict]:
    """The station's changes, newest first, each with the fields that changed: ``(label, before, after)``
    in the page's language, as the pages show them (never the stored codes or Python lists)."""
    page_lang = lang()
    out = []
    for h in state().store.history(station_id):
        before, after = h["before"] or {}, h["after"] or {}
        keys = [k for k in (after or before) if before.get(k) != after.get(k)] if (before and after) else []
        at = as_utc(h["at"])
        out.append({**h, "at_local": at.astimezone(_reports.TZ) if at else None,
                    "fields": [(label(FIELD_LABELS, k, page_lang), _shown(k, before.get(k), page_lang),
                                _shown(k, after.get(k), page_lang)) for k in keys]})
    return out


@public_bp.get("/stations/<station_id>/history")
def history(station_id: str) -> str:
    """Every recorded change of a station (who, when, before and after).

    Editors' names are shown to signed-in users only.
    """
    rows = history_rows(station_id)
    current = state().index.get(station_id)
    if current is None and not rows:
        raise NotFoundError(_("没有编号为 %(id)s 的站点", id=station_id), field="id")
    user = signed_in_user()
    return render_template("admin/history.html", station=current, rows=rows, station_id=station_id,
                           show_users=user is not None,
                           can_edit=bool(user and current and user.can_edit(current.adcode)),
                           reports=_reports.recent_reports(state().store, station_id),
                           report_kinds=REPORT_LABELS)


def reports_context(station_id: str) -> dict:
    """Template context for the reports panel of a station page (``admin/_reports.html``)."""
    recent = _reports.recent_reports(state().store, station_id)
    return {"report_station_id": station_id, "recent_reports": recent,
            "report_counts": _reports.report_counts(recent), "report_kinds": REPORT_LABELS,
            "services": SERVICES, "datums": DATUM_LABELS, "note_max": CHECKIN_NOTE_MAX_CHARS}


@public_bp.get("/stations/<station_id>/reports")
def reports_page(station_id: str) -> str:
    """A station's recent check-ins and the form to add one."""
    station = state().index.get(station_id)
    if station is None:
        raise NotFoundError(_("没有编号为 %(id)s 的站点", id=station_id), field="id")
    return render_template("admin/reports.html", station=station, any_sample=station.is_sample)


def checkin_details(kind: str, values: Any) -> _reports.CheckinDetails:
    """The details of a check-in from a form or a JSON body (``values.get``): service, a moved's
    position in ``datum`` (default WGS-84, converted here with :func:`stationmap.coords.to_wgs84`),
    note; checked against ``kind`` (:func:`stationmap.reports.check_details`)."""
    lon, lat = values.get("lon"), values.get("lat")
    datum = check_datum(values.get("datum") or "wgs84")
    if kind == "moved" and datum != "wgs84":
        try:
            x, y = float(lon), float(lat)
        except (TypeError, ValueError):  # check_details says what is wrong with them
            x = y = math.nan
        if math.isfinite(x) and math.isfinite(y):
            lon, lat = (float(v) for v in to_wgs84(x, y, datum))
    return _reports.check_details(kind, service=values.get("service") or "", lon=lon, lat=lat,
                                  note=values.get("note") or "")


def add_checkin(station_id: str, kind: object, values: Any, client_key: str = "") -> _reports.Report:
    """Record an anonymous check-in (the web form's and the API's one path): its details
    (:func:`checkin_details`), the device's repeat key (:func:`stationmap.reports.reporter_key`),
    the sender's idempotency key (the API's ``Idempotency-Key``)."""
    kind = _reports.check_report_kind(kind)
    details = checkin_details(kind, values)
    key = _reports.reporter_key(current_app.secret_key or "", client_address(), station_id, kind)
    return _reports.add_report(state().store, station_id, kind, reporter=key, details=details,
                               client_key=_reports.check_client_key(client_key))


@public_bp.post("/stations/<station_id>/reports")
def report_add(station_id: str) -> ResponseReturnValue:
    """An anonymous check-in from the station's page (rate-limited per address; CSRF-protected).

    The same outcome from the same address within ``REPORT_REPEAT_MINUTES`` is counted once
    (:func:`stationmap.reports.add_report`) and answered as received all the same.
    """
    kind = request.form.get("kind", "")
    report = add_checkin(station_id, kind, request.form)
    if request.accept_mimetypes.best == "application/json":
        return jsonify({"ok": True, "station_id": station_id, "kind": kind, "counted": not report.repeat}), (
            200 if report.repeat else 201)
    flash(_("谢谢！您的反馈已记录：%(what)s",
            what=label(REPORT_LABELS, kind, lang())))
    return redirect(url_for("reports.reports_page", station_id=station_id))


@public_bp.post("/api/v1/stations/<station_id>/checkins")
def api_checkin(station_id: str) -> ResponseReturnValue:
    """``POST /api/v1/stations/<id>/checkins``: an anonymous check-in as JSON
    (``{"outcome", "service", "lon", "lat", "datum", "note"}``); 201 with the check-in, 200 with
    ``counted: false`` for a repeat.  Rate-limited with the station page's form (one limit);
    no CSRF token (it carries no session's authority), but only ``application/json`` bodies,
    which a cross-site form cannot send.  An ``Idempotency-Key`` header (a UUID) makes a resend
    of the same check-in (the finder's offline queue) answer 200 ``counted: false`` with the
    first one, whenever it comes."""
    if not request.is_json:
        raise ValidationError("the body must be JSON (Content-Type: application/json)", field="body")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError("the body must be a JSON object", field="body")
    unknown = sorted(set(body) - {"outcome", "service", "lon", "lat", "datum", "note"})
    if unknown:
        raise ValidationError(f"unknown field {unknown[0]!r}", field=unknown[0])
    # a check-in queued offline carries a key: sent again (a lost answer, a second tab) it counts once
    report = add_checkin(station_id, body.get("outcome"), body, request.headers.get("Idempotency-Key", ""))
    return jsonify({**report.to_dict(), "counted": not report.repeat}), 200 if report.repeat else 201


def _label_filter(table: dict[str, tuple[str, str]], key: str) -> str:
    return label(table, key, lang())


def init_app(app: Flask) -> None:
    """Register the blueprints, the report rate limit and the upload size limit."""
    limiter = app.extensions["stationmap_limiter"]
    limiter.shared_limit(REPORT_LIMIT, scope="reports", methods=["POST"])(public_bp)  # form and API: one count
    app.extensions["csrf"].exempt(api_checkin)
    if app.config.get("MAX_CONTENT_LENGTH") is None:
        app.config["MAX_CONTENT_LENGTH"] = 64 * 1024 * 1024
    app.register_blueprint(bp)
    app.register_blueprint(public_bp)

    # the page's-language label of a vocabulary key: {{ s.status|status_label }}
    for name, table in (("kind_label", KINDS), ("service_label", SERVICES), ("status_label", STATUSES),
                        ("report_label", REPORT_LABELS), ("resolution_label", RESOLUTION_LABELS)):
        app.add_template_filter(partial(_label_filter, table), name)

    @app.template_filter("field_label")
    def _field_label(v: str | None) -> str:
        return label(FIELD_LABELS, v, lang()) if v else ""

    @app.template_filter("local_time")
    def _local_time(dt: datetime | str | None) -> str:
        """An aware datetime as ``YYYY-MM-DD HH:MM`` in Asia/Shanghai."""
        dt = as_utc(dt)
        return dt.astimezone(_reports.TZ).strftime("%Y-%m-%d %H:%M") if dt else ""

    @app.template_filter("pick_lang")
    def _pick(pair: Sequence[str]) -> str:
        return pair[1 if lang() == "en" else 0]

    app.jinja_env.globals.setdefault("reports_context", reports_context)
