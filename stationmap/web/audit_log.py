"""``/admin/audit``: administrators read the security audit log (:mod:`stationmap.audit`).

Filter by user, event and date range (Asia/Shanghai days, as the other admin
pages show times), newest first, paged.  Read-only: nothing in the app edits or
deletes an entry (``stationmap audit prune`` removes old ones).  Signed-out
visitors are sent to the sign-in page; an editor gets a 403.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from flask import Blueprint, render_template, request
from flask_login import login_required

from stationmap import audit
from stationmap.errors import ValidationError
from stationmap.hours import TZ
from stationmap.web.state import state
from stationmap.web.ui import lang, signed_in_user

bp = Blueprint("audit", __name__, url_prefix="/admin")

#: entries per page
PAGE_SIZE = 50


def _day(name: str) -> date | None:
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise ValidationError(f"{name} must be a date YYYY-MM-DD, got {raw!r}", field=name) from None


@bp.get("/audit")
@login_required
def audit_page() -> str:
    """The audit log, filtered and paged (admins only)."""
    user = signed_in_user()
    user.require_admin()  # type: ignore[union-attr]  # login_required ran first
    who = (request.args.get("user") or "").strip()[:64] or None
    event = (request.args.get("event") or "").strip() or None
    if event is not None and event not in audit.EVENTS:
        raise ValidationError(f"event must be one of {', '.join(audit.EVENTS)}, got {event!r}", field="event")
    since_day, until_day = _day("since"), _day("until")
    since = datetime.combine(since_day, time(), TZ) if since_day else None
    until = datetime.combine(until_day + timedelta(days=1), time(), TZ) if until_day else None
    try:
        page = max(1, int(request.args.get("page") or 1))
    except ValueError:
        raise ValidationError("page must be a whole number", field="page") from None
    store = state().store
    total = audit.count(store, user=who, event=event, since=since, until=until)
    rows = audit.entries(store, user=who, event=event, since=since, until=until, limit=PAGE_SIZE,
                         offset=(page - 1) * PAGE_SIZE)
    pick = 0 if lang() == "zh" else 1
    events = {k: v[pick] for k, v in audit.EVENTS.items()}
    filters = {"user": who or "", "event": event or "", "since": since_day or "", "until": until_day or ""}
    return render_template("admin/audit.html", rows=rows, events=events, filters=filters, page=page, total=total,
                           pages=max(1, -(-total // PAGE_SIZE)))
