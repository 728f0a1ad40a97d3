""""A station is needed here": pins that workers drop where they miss a station.

Anyone may drop a pin (no account; rate-limited by the web layer with
:data:`~stationmap.config.STATION_REQUEST_LIMIT`) at a WGS-84 point in China, with a short reason
(at most :data:`~stationmap.config.REQUEST_REASON_MAX_CHARS` characters).  The pin belongs to the
district its point lies in (its ``adcode``, "" when in none known: then only an administrator
decides it) and is ``pending`` until an editor of that district approves or rejects it, once
(as a problem check-in is resolved once, :mod:`stationmap.reports`).  Approved pins are shown to
planners on the coverage page and are demand points for the siting (``stationmap coverage --demand
requests``: :func:`demand_frame`).  Pins are kept in ``station_requests``
(:data:`stationmap.schema.requests_table`), never overwritten; a decision adds when and who.

This module never imports Flask.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from stationmap.config import REQUEST_REASON_MAX_CHARS
from stationmap.coords import in_china
from stationmap.errors import ConflictError, NotFoundError, ValidationError
from stationmap.hours import TZ
from stationmap.labels import REQUEST_STATUS_LABELS
from stationmap.schema import as_utc, requests_table

if TYPE_CHECKING:
    import geopandas as gpd
    from shapely.geometry.base import BaseGeometry

    from stationmap.store import StationStore

#: a pin's states (labels: :data:`stationmap.labels.REQUEST_STATUS_LABELS`)
REQUEST_STATUSES = tuple(REQUEST_STATUS_LABELS)
#: what an editor may decide
DECISIONS = ("approved", "rejected")


@dataclass(frozen=True)
class StationRequest:
    """One pin.  ``lon``/``lat`` WGS-84; ``at`` and ``decided_at`` aware UTC datetimes."""

    id: int
    lon: float
    lat: float
    adcode: str
    reason: str
    at: datetime
    status: str = "pending"
    decided_at: datetime | None = None
    decided_by: str = ""

    @property
    def local_at(self) -> datetime:
        """``at`` in Asia/Shanghai."""
        return self.at.astimezone(TZ)

    def to_dict(self, *, who: bool = False) -> dict[str, Any]:
        """JSON-ready (ISO 8601 times, WGS-84 position); the deciding editor's name only with ``who``."""
        d: dict[str, Any] = {"id": self.id, "position": {"lon": self.lon, "lat": self.lat}, "datum": "wgs84",
                             "adcode": self.adcode or None, "reason": self.reason, "at": self.at.isoformat(),
                             "status": self.status,
                             "decided_at": self.decided_at.isoformat() if self.decided_at else None}
        if who:
            d["decided_by"] = self.decided_by or None
        return d


def _number(v: object, name: str) -> float:
    if v is None or v == "":
        raise ValidationError(f"{name} is missing", field=name)
    if isinstance(v, bool):
        raise ValidationError(f"{name} must be a number, got {v!r}", field=name)
    try:
        x = float(v)  # type: ignore[arg-type]  # anything float() takes; the rest is refused below
    except (TypeError, ValueError):
        raise ValidationError(f"{name} must be a number, got {v!r}", field=name) from None
    if not math.isfinite(x):
        raise ValidationError(f"{name} must be a finite number, got {v!r}", field=name)
    return x


def check_request(lon: object, lat: object, reason: object, *,
                  max_reason: int = REQUEST_REASON_MAX_CHARS) -> tuple[float, float, str]:
    """``(lon, lat, reason)`` checked: a WGS-84 point in China and a reason of 1 to ``max_reason``
    characters (ValidationError naming the field otherwise)."""
    x, y = _number(lon, "lon"), _number(lat, "lat")
    if not bool(in_china(x, y)):
        raise ValidationError(f"point ({x}, {y}) is outside China", field="lon")
    if reason is None:
        reason = ""
    if not isinstance(reason, str):
        raise ValidationError(f"reason must be text, got {reason!r}", field="reason")
    text = " ".join(reason.split())
    if not text:
        raise ValidationError("reason is missing", field="reason")
    if len(text) > max_reason:
        raise ValidationError(f"reason must be at most {max_reason} characters, got {len(text)}", field="reason")
    return x, y, text


def check_decision(decision: object) -> str:
    """``decision`` if it is one of :data:`DECISIONS`; ValidationError otherwise."""
    if not isinstance(decision, str) or decision not in DECISIONS:
        raise ValidationError(f"decision must be one of {DECISIONS}, got {decision!r}", field="decision")
    return decision


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _row(row: sa.Row[Any]) -> StationRequest:
    m = row._mapping
    return StationRequest(id=int(m["id"]), lon=float(m["lon"]), lat=float(m["lat"]), adcode=m["adcode"] or "",
                          reason=m["reason"] or "", at=as_utc(m["at"]), status=m["status"],
                          decided_at=as_utc(m["decided_at"]), decided_by=m["decided_by"] or "")


def add_request(store: StationStore, lon: object, lat: object, reason: object, *, adcode: str = "",
                at: datetime | None = None) -> StationRequest:
    """Record a pin (checked by :func:`check_request`) in district ``adcode`` ("" when in none known), pending."""
    x, y, text = check_request(lon, lat, reason)
    when = as_utc(at) or _now()
    with store.begin() as conn:
        res = conn.execute(sa.insert(requests_table).values(lon=x, lat=y, adcode=adcode or "", reason=text, at=when,
                                                            status="pending", decided_at=None, decided_by=""))
        rid = res.inserted_primary_key[0]  # type: ignore[index]  # a one-row INSERT always has its key
    return StationRequest(id=int(rid), lon=x, lat=y, adcode=adcode or "", reason=text, at=when)


def get_request(store: StationStore, request_id: int) -> StationRequest:
    """The pin ``request_id``; NotFoundError if there is none."""
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(requests_table).where(requests_table.c.id == int(request_id))).first()
    if row is None:
        raise NotFoundError(f"no station request with id {request_id!r}", field="id")
    return _row(row)


def decide_request(store: StationStore, request_id: int, *, user: str, decision: str,
                   at: datetime | None = None) -> StationRequest:
    """Approve or reject a pending pin (the first decision stands: ConflictError after it)."""
    decision = check_decision(decision)
    when = as_utc(at) or _now()
    t = requests_table
    with store.begin() as conn:
        n = conn.execute(sa.update(t).where(t.c.id == int(request_id), t.c.status == "pending")
                         .values(status=decision, decided_at=when, decided_by=str(user))).rowcount
        row = conn.execute(sa.select(t).where(t.c.id == int(request_id))).first()
    if row is None:
        raise NotFoundError(f"no station request with id {request_id!r}", field="id")
    if n == 0:
        raise ConflictError(f"station request {request_id} was already decided ({row._mapping['status']})",
                            field="id")
    return _row(row)


def list_requests(store: StationStore, *, adcode_prefix: str = "", statuses: Sequence[str] | None = None,
                  limit: int | None = None) -> list[StationRequest]:
    """The pins of districts whose adcode starts with ``adcode_prefix`` (all when ""), of ``statuses``
    (default all), newest first."""
    t = requests_table
    q = sa.select(t).order_by(t.c.at.desc(), t.c.id.desc())
    if adcode_prefix:
        q = q.where(t.c.adcode.startswith(str(adcode_prefix), autoescape=True))
    if statuses is not None:
        q = q.where(t.c.status.in_(list(statuses)))
    if limit is not None:
        q = q.limit(int(limit))
    with store.engine.connect() as conn:
        return [_row(r) for r in conn.execute(q)]


def approved(store: StationStore, adcode_prefix: str = "") -> list[StationRequest]:
    """The approved pins of the districts under ``adcode_prefix``, newest first: what planners see."""
    return list_requests(store, adcode_prefix=adcode_prefix, statuses=("approved",))


def approved_in(store: StationStore, geometry: BaseGeometry | None, adcode: str = "") -> list[StationRequest]:
    """The approved pins inside ``geometry`` (WGS-84; a city's whole area, say), newest first; those of
    district ``adcode`` (by prefix) when there is no geometry (a zone without a polygon)."""
    if geometry is None:
        return approved(store, adcode)
    import shapely

    pins = approved(store)
    if not pins:
        return []
    inside = shapely.contains_xy(geometry, [p.lon for p in pins], [p.lat for p in pins])
    return [p for p, ok in zip(pins, inside) if ok]


def demand_frame(pins: Sequence[StationRequest], *, column: str = "weight") -> gpd.GeoDataFrame:
    """``pins`` as a demand layer of points (WGS-84), each of weight 1 in ``column``: the siting
    then places stations to reach as many of them as it can."""
    import geopandas as gpd

    return gpd.GeoDataFrame({"id": [p.id for p in pins], "reason": [p.reason for p in pins],
                             column: [1.0] * len(pins)},
                            geometry=gpd.points_from_xy([p.lon for p in pins], [p.lat for p in pins]), crs="EPSG:4326")
