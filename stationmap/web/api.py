"""JSON API, version 1 (``/api/v1``).  Views parse and check their arguments,
call the library and return GeoJSON / JSON; errors become
``{"error": {"code", "message", "field"}}`` with a 4xx status."""

from __future__ import annotations

from flask import Blueprint, jsonify

from stationmap.web import state

bp = Blueprint("api", __name__, url_prefix="/api/v1")


def district_counts() -> list[dict]:
    """Per county: adcode, name, station counts by kind, bbox (WGS-84)."""
    from stationmap.districts import load_districts
    from stationmap.model import KINDS

    st = state()
    districts = st.extra.get("districts")
    if districts is None:
        districts = st.extra["districts"] = load_districts(st.settings)
    counts: dict[str, dict] = {}
    sample: dict[str, bool] = {}
    for s in st.index.stations():
        c = counts.setdefault(s.adcode, {k: 0 for k in KINDS})
        for k in s.kinds:
            c[k] += 1
        sample[s.adcode] = sample.get(s.adcode, False) or s.is_sample
    out = []
    for adcode in sorted(counts):
        rec = districts.get(adcode) if adcode in districts else None
        out.append({
            "adcode": adcode,
            "name": rec.name if rec else adcode,
            "city": rec.city if rec else None,
            "counts": counts[adcode],
            "total": sum(1 for s in st.index.stations() if s.adcode == adcode),
            "bbox": list(rec.bbox) if rec else None,
            "sample": sample[adcode],
        })
    return out


@bp.get("/districts")
def districts():
    """Districts with stations: adcode, name, counts by kind, bbox (WGS-84)."""
    return jsonify({"datum": "wgs84", "districts": district_counts()})
