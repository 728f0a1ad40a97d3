"""The station record, its vocabularies and its validation.

A station is one place a worker can go: a union rest station (驿站), a hot-tea
point (热茶点) or a legal-aid post (法律援助点); a place may be several kinds at
once.  Coordinates are WGS-84.  Opening hours use OpenStreetMap's
``opening_hours`` syntax, evaluated in Asia/Shanghai time; hours typed as Chinese
editors write them (周一至周五 9:00-17:00) are stored normalised to it.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache

from stationmap import hours as _hours
from stationmap.config import MAX_CAPACITY
from stationmap.errors import ValidationError
from stationmap.hours import normalize_hours
from stationmap.labels import HOST_LABELS, KIND_LABELS, SERVICE_LABELS, STATUS_LABELS

#: the vocabularies: kind, service, status and (suggested) host -> (Chinese, English);
#: the labels live in :mod:`stationmap.labels`, these names are the vocabularies' keys
KINDS = KIND_LABELS
SERVICES = SERVICE_LABELS
STATUSES = STATUS_LABELS
HOSTS = HOST_LABELS

_ALIASES_KIND = {
    **{k: k for k in KINDS},
    "驿站": "rest", "工会驿站": "rest", "户外劳动者服务站点": "rest", "户外劳动者服务站": "rest",
    "爱心驿站": "rest", "rest station": "rest",
    "热茶点": "hot_tea", "热茶供应点": "hot_tea", "热茶": "hot_tea", "hot tea": "hot_tea", "hot-tea": "hot_tea",
    "法律援助点": "legal_aid", "法律援助": "legal_aid", "法援": "legal_aid", "legal aid": "legal_aid",
    "legal-aid": "legal_aid",
}
_ALIASES_SERVICE = {
    **{s: s for s in SERVICES},
    **{zh: s for s, (zh, _en) in SERVICES.items()},
    **{en.lower(): s for s, (_zh, en) in SERVICES.items()},
    "饮水": "drinking_water", "喝水": "drinking_water", "water": "drinking_water",
    "厕所": "toilet", "如厕": "toilet", "座椅": "rest_seats", "休息": "rest_seats",
    "暖气": "heating", "空调": "cooling", "纳凉": "cooling", "充电": "phone_charging",
    "电动车充电": "ebike_charging", "电瓶车充电": "ebike_charging", "换电": "battery_swap",
    "微波炉": "microwave", "热饭": "microwave", "加热": "microwave", "药箱": "first_aid",
    "急救箱": "first_aid", "医药箱": "first_aid", "图书": "reading", "书报": "reading",
    "wifi": "wifi", "wi-fi": "wifi", "无线网": "wifi", "雨伞": "umbrella", "打气筒": "repair_kit",
}
_ALIASES_STATUS = {
    **{s: s for s in STATUSES},
    **{zh: s for s, (zh, _en) in STATUSES.items()},
    "开放": "active", "正常": "active", "open": "active", "暂停": "temporarily_closed",
    "暂停服务": "temporarily_closed", "关闭": "closed", "撤销": "closed",
}

#: China's extent, for "a point outside China" checks (WGS-84 degrees).
CHINA_BOUNDS = (73.4, 18.1, 135.1, 53.6)
_ADCODE = re.compile(r"^\d{6}$")
_SPLIT = re.compile(r"[;,，；、|/\s]+")
# one telephone number: digits, spaces, + - and parentheses (also full-width), then maybe an
# extension (转123, 分机123, ext. 123, x123; a "-123" after the number is part of it)
_PHONE_ONE = r"\+?[(（]?\d(?:[\d ()（）-]*\d)?[)）]?(?: ?(?:转|分机|ext\.?|x) ?\d{1,6})?"
#: a valid ``phone`` field (fullmatch): one or more numbers separated by / , ; 、 and 3 digits at least
PHONE = re.compile(rf"(?=(?:\D*\d){{3}}){_PHONE_ONE}(?: ?[/,，;；、] ?{_PHONE_ONE})*", re.IGNORECASE)

FIELDS = (
    "id", "name", "name_en", "kinds", "services", "address", "adcode", "host", "operator",
    "phone", "opening_hours", "status", "verified_at", "source", "lon", "lat", "reopens_on", "service_hours",
    "capacity",
)


@dataclass(frozen=True, slots=True)
class Station:
    """One station.  ``lon``/``lat`` are WGS-84 degrees.

    Frozen: caches key on a station object's identity, so a changed station
    is a new object (:func:`dataclasses.replace`).  Slotted: 160 bytes an
    object, no per-object dict; an index holds every station in memory.
    Loaders that build many stations at once use :func:`build_station`.
    """

    id: str
    name: str
    lon: float
    lat: float
    kinds: tuple = ("rest",)
    services: tuple = ()
    name_en: str = ""
    address: str = ""
    adcode: str = ""
    host: str = ""
    operator: str = ""
    phone: str = ""
    opening_hours: str = "24/7"
    status: str = "active"
    verified_at: date | None = None
    source: str = ""
    #: a ``temporarily_closed`` station counts as active again from this date (local)
    reopens_on: date | None = None
    #: ``((service, OSM opening_hours), ...)`` sorted by service: a service's own hours inside the
    #: station's (a tuple, so a Station stays hashable); :meth:`to_dict` gives a dict
    service_hours: tuple[tuple[str, str], ...] = ()
    #: people the station serves at once (seats, beds), for the accessibility index; None: not known
    capacity: int | None = None

    def open_at(self, at: datetime | None = None) -> bool:
        """Whether the station is open at ``at`` (Asia/Shanghai; default: now).

        A station that is not ``active`` is closed whatever its hours say (a
        ``temporarily_closed`` one is active again from its ``reopens_on``):
        :func:`stationmap.hours.open_at`.
        """
        return _hours.open_at(self, at)

    @property
    def is_sample(self) -> bool:
        return self.source == "sample"

    @classmethod
    def from_dict(cls, d: dict) -> Station:
        """The inverse of :meth:`to_dict` (trusted input: no validation)."""
        names = {f.name for f in dataclasses.fields(cls)}
        d = {k: v for k, v in d.items() if k in names}
        d["kinds"] = tuple(d.get("kinds") or ())
        d["services"] = tuple(d.get("services") or ())
        v = d.get("verified_at")
        d["verified_at"] = date.fromisoformat(v[:10]) if isinstance(v, str) and v else (v or None)
        v = d.get("reopens_on")
        d["reopens_on"] = date.fromisoformat(v[:10]) if isinstance(v, str) and v else (v or None)
        sh = d.get("service_hours") or ()
        d["service_hours"] = tuple(sorted(sh.items() if isinstance(sh, dict) else (tuple(p) for p in sh)))
        if cls is Station:  # the index follows the change log through here: build_station, for speed
            return build_station(**(_STATION_DEFAULTS | d))
        return cls(**d)

    def to_dict(self) -> dict:
        # a shallow copy (dataclasses.asdict deep-copies every field: 4x slower, and every
        # value below is replaced by a fresh list, dict or string anyway)
        d = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        d["kinds"] = list(self.kinds)
        d["services"] = list(self.services)
        d["verified_at"] = self.verified_at.isoformat() if self.verified_at else None
        d["reopens_on"] = self.reopens_on.isoformat() if self.reopens_on else None
        d["service_hours"] = dict(self.service_hours)
        return d


def _station_builder() -> Callable[..., Station]:
    """Generate :func:`build_station` from Station's fields (so a new field is never left out).

    The frozen ``__init__`` sets each field with ``object.__setattr__(self,
    name, value)`` (a global and an attribute lookup, then the generic
    attribute machinery, per field); this sets each field through its slot's
    own descriptor, looked up once here.  The object is complete when it is
    returned and frozen from then on, as one made by ``Station(...)``.
    """
    names = [f.name for f in dataclasses.fields(Station)]
    env: dict = {"__name__": __name__, "_new": object.__new__, "_cls": Station}
    env.update({f"_set_{n}": Station.__dict__[n].__set__ for n in names})
    src = (f"def build_station({', '.join(names)}):\n    s = _new(_cls)\n"
           + "".join(f"    _set_{n}(s, {n})\n" for n in names) + "    return s\n")
    exec(src, env)
    return env["build_station"]


build_station: Callable[..., Station] = _station_builder()
#: the fields that have a default, with it
_STATION_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Station)
                     if f.default is not dataclasses.MISSING}
build_station.__doc__ = """``Station(...)`` with every field given (no defaults), for bulk loaders.

Fields by keyword, or all positionally in declaration order (faster still:
no keyword matching).  Returns the same frozen Station as the constructor,
about half the cost (the frozen ``__init__`` pays ``object.__setattr__`` per
field; see :func:`_station_builder`).  An import builds one per row, and so
does every read of the store (:func:`stationmap.schema.row_to_station`).  A
missing or unknown field is a TypeError.
"""


@dataclass
class Problem:
    """One thing wrong with one input row.  ``row`` counts as a spreadsheet does."""

    row: int | None
    field: str | None
    message: str
    value: object = None

    def to_dict(self) -> dict:
        return {"row": self.row, "field": self.field, "message": self.message}

    def __str__(self) -> str:
        where = f"row {self.row}" if self.row is not None else "record"
        return f"{where}, field {self.field or '-'}: {self.message}"


def _blank(v: object) -> bool:
    if type(v) is str:
        return not v.strip()
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip())


def _text(v: object) -> str:
    if type(v) is str:
        return v.strip()
    if _blank(v):
        return ""
    if isinstance(v, float) and v.is_integer():
        v = int(v)
    return str(v).strip()


def _split(v: object) -> list[str]:
    if _blank(v):
        return []
    items = list(v) if isinstance(v, (list, tuple, set)) else _SPLIT.split(str(v))
    return [str(i).strip() for i in items if str(i).strip()]


def _number(v: object, name: str, problems: list[Problem], row: int | None) -> float | None:
    if _blank(v):
        problems.append(Problem(row, name, f"{name} is missing"))
        return None
    try:
        x = float(str(v).strip()) if not isinstance(v, (int, float)) else float(v)
    except ValueError:
        problems.append(Problem(row, name, f"{name} must be a number, got {v!r}", v))
        return None
    if not math.isfinite(x):
        problems.append(Problem(row, name, f"{name} must be a finite number, got {v!r}", v))
        return None
    return x


@lru_cache(maxsize=4096)
def _vocab(raw: str | tuple, what: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(canonical values without repeats, unknown values) of a kinds/services cell."""
    norm = normalize_kind if what == "kinds" else normalize_service
    good: list[str] = []
    bad: list[str] = []
    for v in _split(raw):
        n = norm(v)
        (bad if n is None else good).append(v if n is None else n)
    return tuple(dict.fromkeys(good)), tuple(bad)


def _capacity(v: object, problems: list[Problem], row: int | None) -> int | None:
    """A ``capacity`` cell: a whole number of people, 1 to :data:`stationmap.config.MAX_CAPACITY`;
    None when blank or wrong (a problem)."""
    if _blank(v):
        return None
    try:
        x = float(str(v).strip()) if not isinstance(v, (int, float)) else float(v)
    except ValueError:
        x = math.nan
    if not (x.is_integer() and 1 <= x <= MAX_CAPACITY):
        problems.append(Problem(row, "capacity", f"capacity must be a whole number of people from 1 to "
                                f"{MAX_CAPACITY}, got {v!r}", v))
        return None
    return int(x)


def _date(v: object, name: str, problems: list[Problem], row: int | None) -> date | None:
    """A date cell (a date, a datetime or ``YYYY-MM-DD`` text); None when blank or wrong (a problem)."""
    if _blank(v):
        return None
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    try:
        return date.fromisoformat(str(v).strip()[:10])
    except ValueError:
        problems.append(Problem(row, name, f"{name} must be a date YYYY-MM-DD, got {v!r}", v))
        return None


#: between entries of a service_hours cell: a new line, or a single ``|`` (``||`` is OSM's own)
_SERVICE_HOURS_SPLIT = re.compile(r"\n|(?<!\|)\|(?!\|)")


def parse_service_hours(v: object) -> tuple[tuple[str, str], ...]:
    """A station's ``service_hours`` from a dict ``{service: hours}``, pairs, JSON of a dict, or
    text ``service=hours`` entries separated by new lines or ``|`` (services by any of their
    names, hours in OpenStreetMap ``opening_hours`` syntax or as Chinese editors write them,
    stored normalised: :func:`stationmap.hours.normalize_hours`); sorted by service.
    ValidationError naming the entry that is wrong."""
    if _blank(v):
        return ()
    if isinstance(v, str) and v.strip().startswith("{"):
        import json

        try:
            v = json.loads(v)
        except ValueError:
            raise ValidationError(f"service_hours is not valid JSON: {v!r}", field="service_hours") from None
    if isinstance(v, dict):
        pairs = list(v.items())
    elif isinstance(v, (list, tuple)):
        pairs = [tuple(p) for p in v]
    else:
        pairs = []
        for entry in _SERVICE_HOURS_SPLIT.split(str(v)):
            if not entry.strip():
                continue
            name, eq, hours = entry.partition("=")
            if not eq:
                raise ValidationError(f"service_hours entries are service=hours, got {entry.strip()!r}",
                                      field="service_hours")
            pairs.append((name, hours))
    out: dict[str, str] = {}
    for name, hours in pairs:
        service = normalize_service(str(name).strip())
        if service is None:
            raise ValidationError(f"unknown service {str(name).strip()!r} in service_hours "
                                  f"(allowed: {', '.join(SERVICES)})", field="service_hours")
        hours = str(hours or "").strip() or "24/7"
        try:
            hours = normalize_hours(hours, field="service_hours")
        except ValidationError as exc:
            raise ValidationError(f"service_hours of {service}: {exc.message}", field="service_hours") from None
        out[service] = hours
    return tuple(sorted(out.items()))


def format_service_hours(pairs: tuple[tuple[str, str], ...], sep: str = " | ") -> str:
    """The text form :func:`parse_service_hours` reads: ``service=hours | service=hours``
    (``sep="\\n"``: one a line, as the station form shows them)."""
    return sep.join(f"{sv}={h}" for sv, h in pairs)


def normalize_kind(v: object) -> str | None:
    return _ALIASES_KIND.get(str(v).strip().lower()) or _ALIASES_KIND.get(str(v).strip())


def normalize_service(v: object) -> str | None:
    return _ALIASES_SERVICE.get(str(v).strip().lower()) or _ALIASES_SERVICE.get(str(v).strip())


def _canonical(values: Iterable[object], normalize: Callable[[object], str | None], allowed: Iterable[str],
               field: str) -> tuple[str, ...]:
    """Canonical names of ``values`` (first seen first); ValidationError naming the allowed ones."""
    out = []
    for v in values:
        name = normalize(v)
        if name is None:
            raise ValidationError(f"{field} must be one of {tuple(allowed)}, got {v!r}", field=field)
        out.append(name)
    return tuple(dict.fromkeys(out))


def check_kinds(values: Iterable[object], *, field: str = "kind") -> tuple[str, ...]:
    """Canonical kinds for user input; ValidationError listing the allowed ones."""
    return _canonical(values, normalize_kind, KINDS, field)


def check_services(values: Iterable[object], *, field: str = "service") -> tuple[str, ...]:
    """Canonical services for user input; ValidationError listing the allowed ones."""
    return _canonical(values, normalize_service, SERVICES, field)


def validate_record(rec: dict, *, row: int | None = None,
                    datum: str = "wgs84") -> tuple[Station | None, list[Problem]]:
    """Check one input record (already mapped to field names).

    Returns ``(station, problems)``: ``station`` is None when any problem was
    found.  Every problem is reported, not only the first.  ``lon``/``lat``
    are taken in ``datum`` and converted to WGS-84.
    """
    fields, problems = validated_fields(rec, row=row, datum=datum)
    return (None, problems) if fields is None else (build_station(**fields), problems)


def validated_fields(rec: dict, *, row: int | None = None,
                     datum: str = "wgs84") -> tuple[dict | None, list[Problem]]:
    """:func:`validate_record` without building the Station: ``(fields, problems)``.

    ``fields`` is the Station's fields by name (every one), None when any
    problem was found.  For loaders that settle a field later and build the
    frozen Station once (``build_station(**fields)``): the importer derives
    missing ids and converts datums a whole column at a time.
    """
    problems: list[Problem] = []
    name = _text(rec.get("name"))
    if not name:
        problems.append(Problem(row, "name", "name is missing"))

    lon = _number(rec.get("lon"), "lon", problems, row)
    lat = _number(rec.get("lat"), "lat", problems, row)
    if lon is not None and lat is not None:
        w, s, e, n = CHINA_BOUNDS
        if not (-180 <= lon <= 180):
            problems.append(Problem(row, "lon", f"lon must be in [-180, 180], got {lon!r}", lon))
        elif not (-90 <= lat <= 90):
            if -90 <= lon <= 90 and -180 <= lat <= 180 and w <= lat <= e and s <= lon <= n:
                problems.append(Problem(row, "lat", f"latitude and longitude look swapped (lon={lon}, lat={lat})"))
            else:
                problems.append(Problem(row, "lat", f"lat must be in [-90, 90], got {lat!r}", lat))
        elif not (w <= lon <= e and s <= lat <= n):
            if w <= lat <= e and s <= lon <= n:
                problems.append(Problem(row, "lat", f"latitude and longitude look swapped (lon={lon}, lat={lat})"))
            else:
                problems.append(Problem(row, "lon", f"point ({lon}, {lat}) is outside China"))
        elif datum != "wgs84":
            from stationmap.coords import to_wgs84  # (numpy and pyproj: only for a file in another datum)

            lon, lat = to_wgs84(lon, lat, datum)

    raw = rec.get("kinds")
    kinds, bad = _vocab(raw if type(raw) is str else tuple(_split(raw)), "kinds")
    if not kinds and not bad:
        problems.append(Problem(row, "kinds", f"kinds is missing (one or more of {', '.join(KINDS)})"))
    problems.extend(Problem(row, "kinds", f"unknown kind {k!r} (allowed: {', '.join(KINDS)})", k) for k in bad)

    raw = rec.get("services")
    services, bad = _vocab(raw if type(raw) is str else tuple(_split(raw)), "services")
    problems.extend(Problem(row, "services", f"unknown service {s!r} (allowed: {', '.join(SERVICES)})", s)
                    for s in bad)

    hours = _text(rec.get("opening_hours")) or "24/7"
    try:
        hours = normalize_hours(hours)
    except ValidationError as exc:
        problems.append(Problem(row, "opening_hours", exc.message, hours))

    status_raw = _text(rec.get("status")) or "active"
    status = _ALIASES_STATUS.get(status_raw.lower()) or _ALIASES_STATUS.get(status_raw)
    if status is None:
        problems.append(Problem(row, "status", f"unknown status {status_raw!r} (allowed: {', '.join(STATUSES)})"))

    phone = _text(rec.get("phone"))
    if phone and not PHONE.fullmatch(phone):
        problems.append(Problem(row, "phone", "phone must be a telephone number (digits, spaces, + - ( ) and an "
                                f"extension such as 转123 or ext. 123), got {phone!r}", phone))

    adcode = _text(rec.get("adcode"))
    if adcode and not _ADCODE.match(adcode):
        problems.append(Problem(row, "adcode", f"adcode must be 6 digits, got {adcode!r}", adcode))

    verified_at = _date(rec.get("verified_at"), "verified_at", problems, row)
    reopens_on = _date(rec.get("reopens_on"), "reopens_on", problems, row)
    capacity = _capacity(rec.get("capacity"), problems, row)
    service_hours: tuple[tuple[str, str], ...] = ()
    try:
        service_hours = parse_service_hours(rec.get("service_hours"))
    except ValidationError as exc:
        problems.append(Problem(row, "service_hours", exc.message, rec.get("service_hours")))
    missing = [sv for sv, _h in service_hours if sv not in services]
    if missing:
        problems.append(Problem(row, "service_hours", f"service_hours names {', '.join(missing)}, which the "
                                "station does not offer (add it to services)"))

    sid = _text(rec.get("id"))
    if problems or lon is None or lat is None:    # (a missing lon or lat is a problem)
        return None, problems
    fields = {  # a literal: a third of dict(...)'s cost, once per imported row
        "id": sid,
        "name": name,
        "name_en": _text(rec.get("name_en")),
        "lon": round(float(lon), 7),
        "lat": round(float(lat), 7),
        "kinds": kinds,
        "services": services,
        "address": _text(rec.get("address")),
        "adcode": adcode,
        "host": _text(rec.get("host")),
        "operator": _text(rec.get("operator")),
        "phone": phone,
        "opening_hours": hours,
        "status": status,
        "verified_at": verified_at,
        "source": _text(rec.get("source")),
        "reopens_on": reopens_on,
        "service_hours": service_hours,
        "capacity": capacity,
    }
    return fields, []


def validate(rec: dict, *, datum: str = "wgs84") -> Station:
    """Validate one record; raise ValidationError with every problem in the message."""
    station, problems = validate_record(rec, datum=datum)
    if station is None:     # (None exactly when there are problems)
        raise ValidationError("; ".join(p.message for p in problems), field=problems[0].field)
    return station
