""""A station is needed here" (:mod:`stationmap.station_requests`): the public routes.

Anyone may drop a pin, with no account: the page ``/station-requests/new`` (a position typed, or an
Amap / Baidu share link pasted, read by :func:`stationmap.coords.parse_point_text`) and
``POST /api/v1/station-requests`` (JSON).  Both share one rate limit per client address,
:data:`~stationmap.config.STATION_REQUEST_LIMIT` (a count of its own, beside the check-ins').  A pin
belongs to the district its point lies in; that district's editors approve or reject it on their
district's page (``/admin/station-requests/<id>/decide``, in :mod:`stationmap.web.admin`).
``GET /api/v1/station-requests?district=ADCODE`` lists the approved pins, as the coverage page shows them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, Flask, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from stationmap import station_requests as _requests
from stationmap.config import REQUEST_REASON_MAX_CHARS, STATION_REQUEST_LIMIT
from stationmap.coords import check_datum, parse_point_text, to_wgs84
from stationmap.errors import ValidationError
from stationmap.labels import DATUM_LABELS
from stationmap.web.params import DISTRICT, LANG, STATION_REQUESTS, Params, names
from stationmap.web.state import districts as _districts
from stationmap.web.state import state

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

bp = Blueprint("station_requests", __name__)

#: the JSON body's members
BODY_FIELDS = ("lon", "lat", "datum", "reason")


def _district_of(lon: float, lat: float) -> str:
    """The adcode of the district holding the WGS-84 point ("" when none known holds it)."""
    return _districts().locate(lon, lat) or ""


def add_pin(lon: object, lat: object, reason: object) -> _requests.StationRequest:
    """Record a pin at the WGS-84 point (the form's and the API's one path), in the district holding it."""
    x, y, text = _requests.check_request(lon, lat, reason)
    return _requests.add_request(state().store, x, y, text, adcode=_district_of(x, y))


@bp.get("/station-requests/new")
def new() -> str:
    """The form: where (coordinates or a share link, in a datum) and why."""
    return render_template("admin/station_request.html", datums=DATUM_LABELS, reason_max=REQUEST_REASON_MAX_CHARS,
                           values={"datum": "gcj02"})


@bp.post("/station-requests")
def add_from_form() -> ResponseReturnValue:
    """A pin from the page's form (CSRF-protected, rate-limited): ``position`` (text or a share link),
    ``datum`` (for plain numbers), ``reason``."""
    try:
        p = parse_point_text(request.form.get("position", ""), request.form.get("datum") or "wgs84")
    except ValidationError as exc:
        raise ValidationError(exc.message, field="position") from None
    pin = add_pin(p.lon, p.lat, request.form.get("reason", ""))
    flash(_("谢谢！您的建议已记录，区工会审核后会在覆盖分析中显示（编号 %(id)s）。", id=pin.id))
    return redirect(url_for("station_requests.new"))


@bp.post("/api/v1/station-requests")
def api_add() -> ResponseReturnValue:
    """``POST /api/v1/station-requests``: a pin as JSON (``{"lon", "lat", "datum", "reason"}``);
    201 with the pin, pending.  Rate-limited with the page's form; no CSRF token (it carries no
    session's authority), but only ``application/json`` bodies, which a cross-site form cannot send."""
    if not request.is_json:
        raise ValidationError("the body must be JSON (Content-Type: application/json)", field="body")
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError("the body must be a JSON object", field="body")
    unknown = sorted(set(body) - set(BODY_FIELDS))
    if unknown:
        raise ValidationError(f"unknown field {unknown[0]!r}", field=unknown[0])
    datum = check_datum(body.get("datum") or "wgs84")
    lon, lat = body.get("lon"), body.get("lat")
    if datum != "wgs84":
        x, y = _requests.check_request(lon, lat, body.get("reason"))[:2]  # numbers first, then converted
        lon, lat = (float(v) for v in to_wgs84(x, y, datum))
    pin = add_pin(lon, lat, body.get("reason"))
    return jsonify(pin.to_dict()), 201


@bp.get("/api/v1/station-requests")
def api_approved() -> ResponseReturnValue:
    """``GET /api/v1/station-requests?district=ADCODE``: the approved pins of the districts whose adcode
    starts with ``district`` (all without it), newest first, WGS-84."""
    p = Params(names(STATION_REQUESTS))
    p.choice(LANG)    # (lang: the language of an error's display_message)
    prefix = p.prefix(DISTRICT) or ""
    pins = _requests.approved(state().store, prefix)
    body: dict[str, Any] = {"datum": "wgs84", "district": prefix or None, "requests": [p.to_dict() for p in pins]}
    return jsonify(body)


def init_app(app: Flask) -> None:
    """Register the blueprint with its rate limit (POST only; one count for the form and the API)."""
    limiter = app.extensions["stationmap_limiter"]
    limiter.shared_limit(STATION_REQUEST_LIMIT, scope="station_requests", methods=["POST"])(bp)
    app.extensions["csrf"].exempt(api_add)
    app.register_blueprint(bp)

