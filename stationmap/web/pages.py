"""HTML pages."""

from __future__ import annotations

from flask import Blueprint, render_template

from stationmap.web import state

bp = Blueprint("pages", __name__)


@bp.get("/districts")
def districts():
    """Districts and their station counts."""
    from stationmap.web.api import district_counts

    rows = district_counts()
    return render_template("districts.html", rows=rows, any_sample=any(r["sample"] for r in rows),
                           total=len(state().index))


@bp.get("/")
def index():
    return districts()
