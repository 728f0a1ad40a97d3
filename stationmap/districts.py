"""Administrative districts of Jiangsu: boundaries, census population, point lookup.

:class:`Districts` joins two bundled data sets:

* the boundaries in ``data/boundaries/jiangsu_admin_wgs84.gpkg`` (layer
  ``admin_wgs84``; one province, 13 cities, 95 counties/districts; WGS-84), and
* the 2020 (7th) census county populations in ``data/census/population.csv``.

Every record is a :class:`District`.  Levels:

``"province"``, ``"city"``, ``"county"``
    records with a boundary polygon (counties include urban districts 区 and
    county-level cities 市).
``"zone"``
    census units with **no polygon**: development zones such as 320571
    苏州工业园区 (Suzhou Industrial Park) and 320611 港闸区 (abolished in 2020).
    Their ``geometry`` and ``bbox`` are None; the census counts them apart
    from the county polygons that contain them.  A zone may have an *outline*
    (``data/boundaries/zone_outlines.geojson``, :meth:`Districts.zone_outline`):
    an approximate area, not a legal boundary, used to place points in the
    zone rather than in the county it was cut from.  The bundled file outlines
    320571 苏州工业园区 by the convex hull of the bundled SIP road graph (its core,
    about 55 km² of its 278 km²; see ``data/boundaries/PROVENANCE.md``).

Placing a point (:meth:`Districts.locate`, :meth:`Districts.place_many`): the
most specific district holding it, a zone outline before a county polygon.
:meth:`Districts.assign_many` is the rule every write path applies to a
station's adcode (import, upload, the editing form, ``stationmap
repair-districts``).

Population: a county's or zone's census ``POPU``; a city's is the sum over every
census unit of that city (zones included); the province's is the sum over all of
them.  With the bundled data, Changzhou sums to 5,278,121 and Jiangsu to
84,748,016, the published census totals.

Build once and share: :func:`load_districts` caches one instance per pair of
files (keyed by path and modification time).  Nothing is read at import time.
"""

from __future__ import annotations

import math
import os
import re
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from stationmap.errors import ConfigError, NotFoundError, ValidationError, geodata_read_errors

if TYPE_CHECKING:
    import geopandas as gpd
    import numpy.typing as npt
    from shapely.geometry.base import BaseGeometry

    from stationmap.config import Settings

#: Levels of :class:`District`, from largest to smallest.
LEVELS = ("province", "city", "county", "zone")

#: Name of the WGS-84 layer in the bundled boundaries GeoPackage.
LAYER = "admin_wgs84"

#: District outlines drawn on maps are simplified to about this many degrees
#: (~330 m) and rounded to this many decimals (:func:`simplified_boundaries`).
BOUNDARY_TOLERANCE_DEG = 0.003
BOUNDARY_DECIMALS = 4

_ADCODE = re.compile(r"^\d{6}$")
_REQUIRED = ("adcode", "level", "name", "province", "city", "geometry")


@dataclass(frozen=True)
class District:
    """One administrative unit.

    Attributes
    ----------
    adcode : str
        Six-digit administrative code, e.g. ``"320402"``.
    name : str
        Chinese name, e.g. ``"天宁区"``.
    level : str
        One of :data:`LEVELS`.
    province : str
        Province name (``"江苏省"``).
    city : str or None
        Name of the prefecture-level city (``"常州市"``) for cities, counties
        and zones; None for the province.
    city_adcode : str or None
        Code of that city (``"320400"``); None for the province.
    geometry : shapely (Multi)Polygon or None
        Boundary in WGS-84 lon/lat degrees; None for zones.
    bbox : tuple of float or None
        ``(west, south, east, north)`` of ``geometry`` in WGS-84 degrees; None
        for zones.
    population : int or None
        Resident population, 2020 census; None when unknown.
    """

    adcode: str
    name: str
    level: str
    province: str
    city: str | None
    city_adcode: str | None
    geometry: BaseGeometry | None = field(repr=False)
    bbox: tuple | None
    population: int | None

    @property
    def has_geometry(self) -> bool:
        """Whether the unit has a boundary polygon (zones have none)."""
        return self.geometry is not None

    @property
    def union_name(self) -> str:
        """The name of the unit's trade union: ``苏州市姑苏区总工会`` for a district of a city, ``昆山市总工会``
        or ``沛县总工会`` for a county-level city or a county, and a zone named after
        its city (they name themselves): ``苏州工业园区总工会``."""
        if self.level in ("province", "city") or self.name.endswith(("市", "县")) or not self.city \
                or self.name.startswith(self.city.removesuffix("市")):
            return f"{self.name}总工会"
        return f"{self.city}{self.name}总工会"

    def to_dict(self, *, geometry: bool = False) -> dict:
        """Plain JSON-ready dict; the boundary as a GeoJSON geometry when ``geometry``."""
        d: dict[str, Any] = {
            "adcode": self.adcode,
            "name": self.name,
            "level": self.level,
            "province": self.province,
            "city": self.city,
            "city_adcode": self.city_adcode,
            "bbox": list(self.bbox) if self.bbox is not None else None,
            "population": self.population,
        }
        if geometry:
            from shapely.geometry import mapping

            d["geometry"] = mapping(self.geometry) if self.geometry is not None else None
        return d


def check_adcode(adcode: object, *, field: str = "adcode") -> str:
    """``adcode`` as a six-digit string (ints accepted); ValidationError otherwise."""
    if isinstance(adcode, bool):
        raise ValidationError(f"{field} must be 6 digits, got {adcode!r}", field=field)
    if isinstance(adcode, (int, np.integer)):
        code = str(int(adcode))
    elif isinstance(adcode, str):
        code = adcode.strip()
    else:
        raise ValidationError(f"{field} must be 6 digits, got {adcode!r}", field=field)
    if not _ADCODE.match(code):
        raise ValidationError(f"{field} must be 6 digits, got {adcode!r}", field=field)
    return code


def _city_code(adcode: str) -> str:
    return adcode[:4] + "00"


def _province_code(adcode: str) -> str:
    return adcode[:2] + "0000"


class Districts:
    """The districts of the bundled boundaries, with population and point lookup.

    Build with :func:`load_districts` (cached) or :meth:`from_files`; the
    constructor takes data already in memory.

    Parameters
    ----------
    frame : geopandas.GeoDataFrame
        Boundaries with columns ``adcode, level, name, province, city`` and
        (Multi)Polygon geometry; reprojected to WGS-84 if it has another CRS.
    census : dict, optional
        ``{adcode: (name, resident population or None)}`` of census units
        (counties and zones), as :func:`read_census` returns.  Units of the
        frame's provinces that have no polygon become ``"zone"`` records.
    source : str, optional
        Where the data came from, for error messages.
    """

    def __init__(self, frame: gpd.GeoDataFrame, census: dict | None = None, *, source: str | None = None) -> None:
        self.source = source or "boundaries"
        missing = [c for c in _REQUIRED if c not in frame.columns]
        if missing:
            raise ConfigError(f"{self.source}: boundaries lack column(s) {', '.join(missing)}")
        if frame.crs is None:
            raise ConfigError(f"{self.source}: boundaries have no CRS (expected WGS-84, EPSG:4326)")
        if frame.crs.to_epsg() != 4326:
            frame = frame.to_crs(4326)
        names: dict[str, str] = {}
        self._census: dict[str, int] = {}
        for k, (name, pop) in (census or {}).items():
            code = check_adcode(k)
            names[code] = str(name)
            if pop is not None and not (isinstance(pop, float) and math.isnan(pop)):
                self._census[code] = int(pop)

        records: dict[str, District] = {}
        city_names: dict[str, str] = {}
        province_names: dict[str, str] = {}
        rows = frame.sort_values("adcode")
        for adcode, level, name, province, city, geom in zip(
            rows["adcode"], rows["level"], rows["name"], rows["province"], rows["city"], rows.geometry
        ):
            code = check_adcode(adcode)
            if level not in LEVELS[:3]:
                raise ConfigError(f"{self.source}: adcode {code} has level {level!r}, "
                                  f"expected one of {LEVELS[:3]}")
            if code in records:
                raise ConfigError(f"{self.source}: adcode {code} appears twice")
            province_names.setdefault(_province_code(code), str(province))
            if level == "city":
                city_names[code] = str(name)
            records[code] = District(
                adcode=code, name=str(name), level=level, province=str(province),
                city=None if level == "province" else _clean(city),
                city_adcode=None if level == "province" else _city_code(code),
                geometry=geom, bbox=tuple(float(b) for b in geom.bounds) if geom is not None else None,
                population=None,
            )
        # census units of the same provinces without a polygon: zones
        for code in sorted(names):
            if code in records or _province_code(code) not in province_names:
                continue
            city_code = _city_code(code)
            if city_code == code:
                continue
            records[code] = District(
                adcode=code, name=names[code] or code, level="zone",
                province=province_names[_province_code(code)], city=city_names.get(city_code),
                city_adcode=city_code, geometry=None, bbox=None, population=None,
            )
        # populations: county/zone from the census; city and province as sums
        sums: dict[str, int] = {}
        for code, pop in self._census.items():
            for parent in (_city_code(code), _province_code(code)):
                if parent != code:
                    sums[parent] = sums.get(parent, 0) + pop
        for code, rec in list(records.items()):
            pop = self._census.get(code) if rec.level in ("county", "zone") else sums.get(code)
            object.__setattr__(rec, "population", pop)
        self._records = dict(sorted(records.items()))
        records = self._records
        self._by_level = {lv: [r for r in records.values() if r.level == lv] for lv in LEVELS}
        self._geoms: np.ndarray | None = None
        self._tree_codes: np.ndarray | None = None
        self._outlines: dict[str, BaseGeometry] = {}
        self._zone_geoms: np.ndarray | None = None
        self._zone_codes: np.ndarray | None = None
        self._lock = threading.Lock()

    def set_zone_outlines(self, outlines: Mapping[str, BaseGeometry]) -> None:
        """Give zones (census units without a polygon) an outline: ``{adcode: (Multi)Polygon}``
        in WGS-84.  Points in an outline are placed in the zone (:meth:`place_many`)."""
        checked: dict[str, BaseGeometry] = {}
        for code, geom in outlines.items():
            rec = self.get(code)
            if rec.level != "zone":
                raise ConfigError(f"{self.source}: an outline is given for {rec.adcode} ({rec.name}), "
                                  f"which is a {rec.level} with its own polygon, not a zone")
            if geom is None or geom.is_empty or geom.geom_type not in ("Polygon", "MultiPolygon"):
                raise ConfigError(f"{self.source}: the outline of zone {rec.adcode} is not a polygon")
            checked[rec.adcode] = geom
        with self._lock:
            self._outlines = dict(sorted(checked.items()))
            self._zone_geoms = self._zone_codes = None

    def zone_outline(self, adcode: str | int) -> BaseGeometry | None:
        """The outline of a zone (:meth:`set_zone_outlines`), or None."""
        return self._outlines.get(check_adcode(adcode))

    # -- construction ------------------------------------------------------------

    @classmethod
    def from_files(cls, boundaries_path: str | os.PathLike, population_path: str | os.PathLike | None = None, *,
                   layer: str = LAYER) -> Districts:
        """Read the boundaries GeoPackage (and the census CSV, if given); not cached."""
        import geopandas as gpd

        bpath = Path(boundaries_path)
        if not bpath.is_file():
            raise ConfigError(f"boundaries file not found: {bpath}")
        try:
            frame = gpd.read_file(bpath, layer=layer)
        except geodata_read_errors() as exc:
            raise ConfigError(f"{bpath}: cannot read layer {layer!r}: {exc}") from None
        census = read_census(population_path) if population_path is not None else None
        return cls(frame, census, source=str(bpath))

    # -- lookups -----------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._records)

    def __iter__(self) -> Iterator[District]:
        return iter(self._records.values())

    def __contains__(self, adcode: object) -> bool:
        try:
            return check_adcode(adcode) in self._records
        except ValidationError:
            return False

    def get(self, adcode: str | int) -> District:
        """The record of ``adcode`` (str or int); NotFoundError if there is none."""
        code = check_adcode(adcode)
        try:
            return self._records[code]
        except KeyError:
            raise NotFoundError(f"no district with adcode {code!r}", field="adcode") from None

    def all(self, level: str | None = None) -> list[District]:
        """Every record, or those of one ``level`` (see :data:`LEVELS`), by adcode."""
        if level is None:
            return list(self._records.values())
        if level not in LEVELS:
            raise ValidationError(f"level must be one of {LEVELS}, got {level!r}", field="level")
        return list(self._by_level[level])

    def children(self, adcode: str | int, *, include_zones: bool = False) -> list[District]:
        """The units directly under ``adcode``, by adcode.

        A city's counties (and its zones when ``include_zones``); the province's
        cities; nothing for a county or zone.
        """
        rec = self.get(adcode)
        if rec.level == "province":
            prefix = rec.adcode[:2]
            return [r for r in self._by_level["city"] if r.adcode.startswith(prefix)]
        if rec.level == "city":
            levels = ("county", "zone") if include_zones else ("county",)
            return [r for r in self._records.values()
                    if r.level in levels and r.city_adcode == rec.adcode]
        return []

    def parent(self, adcode: str | int) -> District | None:
        """The city of a county or zone, the province of a city; None for the province."""
        rec = self.get(adcode)
        if rec.level == "province":
            return None
        code = _province_code(rec.adcode) if rec.level == "city" else rec.city_adcode
        return self._records.get(code)  # type: ignore[arg-type]  # counties and zones have a city

    def find(self, name: str) -> list[District]:
        """Records whose Chinese name is exactly ``name`` (names repeat: 鼓楼区)."""
        name = str(name).strip()
        return [r for r in self._records.values() if r.name == name]

    def population(self, adcode: str | int) -> int | None:
        """2020 census resident population of ``adcode``; None when unknown."""
        return self.get(adcode).population

    # -- point in polygon -------------------------------------------------------------

    def _zone_index(self) -> tuple[np.ndarray | None, np.ndarray]:
        if self._zone_geoms is None and self._outlines:
            with self._lock:
                if self._zone_geoms is None and self._outlines:
                    import shapely

                    geoms = np.array(list(self._outlines.values()), dtype=object)
                    shapely.prepare(geoms)
                    self._zone_codes = np.array(list(self._outlines), dtype=object)
                    self._zone_geoms = geoms
        return self._zone_geoms, self._zone_codes  # type: ignore[return-value]  # built above (or no outlines)

    def _index(self) -> tuple[np.ndarray, np.ndarray]:
        if self._geoms is None:
            with self._lock:
                if self._geoms is None:
                    import shapely

                    counties = self._by_level["county"]
                    geoms = np.array([r.geometry for r in counties], dtype=object)
                    shapely.prepare(geoms)
                    self._tree_codes = np.array([r.adcode for r in counties], dtype=object)
                    self._geoms = geoms
        return self._geoms, self._tree_codes  # type: ignore[return-value]  # built above

    def locate(self, lon: float, lat: float, *, zones: bool = True) -> str | None:
        """Adcode of the most specific district containing the WGS-84 point ``(lon, lat)``, or None.

        A zone whose outline holds the point (320571 苏州工业园区 with the
        bundled outlines), else the county whose polygon holds it; with
        ``zones=False`` always the county (320506 吴中区 for a point in
        Suzhou Industrial Park, in the bundled data).  Points on a shared
        border go to the lower adcode.
        """
        for name, v in (("lon", lon), ("lat", lat)):
            if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)) \
                    or not math.isfinite(float(v)):
                raise ValidationError(f"{name} must be a finite number, got {v!r}", field=name)
        return self.locate_many([float(lon)], [float(lat)], zones=zones)[0]

    def locate_many(self, lons: npt.ArrayLike, lats: npt.ArrayLike, *, zones: bool = True) -> np.ndarray:
        """Vectorised :meth:`locate` over WGS-84 arrays.

        Returns an object array of adcodes, None where a point is in no district
        or is not finite.
        """
        specific, county = self.place_many(lons, lats)
        return specific if zones else county

    def place_many(self, lons: npt.ArrayLike, lats: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """``(most specific district, county)`` of each WGS-84 point: two object arrays of
        adcodes, None where a point is in none (or is not finite).

        One bulk lookup over the county polygons (and one over the zone outlines,
        :func:`_lookup`), not one point-in-polygon test per point.
        """
        lons = np.asarray(lons, dtype=float).ravel()
        lats = np.asarray(lats, dtype=float).ravel()
        if lons.shape != lats.shape:
            raise ValidationError(
                f"lons and lats must have the same length, got {lons.size} and {lats.size}", field="lats")
        geoms, codes = self._index()
        county = _lookup(geoms, codes, lons, lats)
        zgeoms, zcodes = self._zone_index()
        if zgeoms is None:
            return county, county
        zone = _lookup(zgeoms, zcodes, lons, lats)
        return np.where(zone != None, zone, county), county  # noqa: E711  (elementwise)

    def assign_many(self, lons: npt.ArrayLike, lats: npt.ArrayLike, stated: Sequence[str], *,
                    fallback: str | None = None) -> tuple[list[str], dict[int, str]]:
        """The adcode each station gets from its WGS-84 point and the adcode it states.

        The rule of every write path.  Per point:

        * no stated adcode: the most specific district holding the point (:meth:`place_many`);
        * a stated adcode is kept when the point agrees with it: it names that
          district or the county whose polygon holds the point, or it names a
          zone of that county's city (a zone without an outline, or whose outline
          does not hold the point: the bundled data do not know the zone's full
          extent); a stated adcode naming another district is a problem that
          names both;
        * a point in no known district (the bundled boundaries cover Jiangsu
          only) is a problem, unless ``fallback`` is given: then it gets
          ``fallback`` (a stated adcode other than ``fallback`` is a problem).

        Returns ``(adcodes, problems)``: an adcode per point (``""`` where there
        is a problem) and ``{index: message}`` (English, naming the codes).
        """
        specific, county = self.place_many(lons, lats)
        if len(stated) != len(specific):
            raise ValidationError(f"stated adcodes: expected {len(specific)}, got {len(stated)}", field="adcode")
        said_all = np.array([c or "" for c in stated], dtype=object)
        here_all = specific.copy()
        # the common case at once: no adcode given, the point in a district
        plain = (said_all == "") & (specific != None)  # noqa: E711  (elementwise)
        if fallback is not None:  # ... and points in no district, given none or the fallback
            outside = (specific == None) & ((said_all == "") | (said_all == fallback))  # noqa: E711
            here_all[outside] = fallback
            plain |= outside
        problems: dict[int, str] = {}
        for i in np.flatnonzero(~plain).tolist():
            said, here, cty = said_all[i], specific[i], county[i]
            if here is None:
                if fallback is None:
                    problems[i] = ("the point lies in no known district (the bundled boundaries cover "
                                   "Jiangsu only); give the district to keep it (stationmap import --district)")
                elif said and said != fallback:
                    problems[i] = (f"adcode {said} is given but the point lies in no known district and "
                                   f"the district for such points is {fallback}")
                else:
                    here_all[i] = fallback
                    continue
                here_all[i] = ""
            elif said == here or self._agrees(said, here, cty):
                here_all[i] = said
            else:
                problems[i] = (f"adcode {said} ({self._label(said)}) disagrees with the point, "
                               f"which lies in {here} ({self._label(here)})")
                here_all[i] = ""
        return here_all.tolist(), problems

    def _agrees(self, said: str, here: str, county: str | None) -> bool:
        if said == county:
            return True
        rec = self._records.get(said)
        if rec is None or rec.level != "zone" or county is None or said[:4] != county[:4]:
            return False
        return here == county  # not inside another zone's outline

    def _label(self, code: str) -> str:
        rec = self._records.get(code)
        return rec.name if rec is not None else "unknown district"


def _lookup(geoms: np.ndarray, codes: np.ndarray, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
    """The code of the first (lowest index) of the prepared ``geoms`` holding each point; None outside.

    No point geometries are made (creating 200,000 of them costs more than the
    whole lookup): the points are sorted by longitude once, each geometry takes
    the slice within its bounding box (a binary search, then a latitude test)
    and tests it with its prepared form (``shapely.intersects_xy``).
    """
    import shapely

    out = np.full(lons.size, None, dtype=object)
    idx = np.flatnonzero(np.isfinite(lons) & np.isfinite(lats))
    if not idx.size:
        return out
    order = idx[np.argsort(lons[idx], kind="stable")]
    xs = lons[order]
    done = np.zeros(lons.size, dtype=bool)
    for j, (x0, y0, x1, y1) in enumerate(shapely.bounds(geoms).tolist()):
        cand = order[np.searchsorted(xs, x0, "left"):np.searchsorted(xs, x1, "right")]
        if not cand.size:
            continue
        y = lats[cand]
        cand = cand[(y >= y0) & (y <= y1) & ~done[cand]]  # the lowest index wins: skip points placed
        if cand.size:
            hit = cand[shapely.intersects_xy(geoms[j], lons[cand], lats[cand])]
            out[hit] = codes[j]
            done[hit] = True
    return out


def _clean(v: object) -> str | None:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    s = str(v).strip()
    return s or None


def simplified_boundaries(districts: Districts, level: str, *, prefix: str = "") -> list[dict]:
    """Outlines of the ``level`` districts (adcode starting with ``prefix``) for drawing.

    GeoJSON features (WGS-84, by adcode; properties ``adcode``, ``name``,
    ``level``, ``city``), simplified by :data:`BOUNDARY_TOLERANCE_DEG` keeping
    their topology and rounded to :data:`BOUNDARY_DECIMALS`.  Districts
    without a polygon (zones) are left out.
    """
    import shapely
    from shapely.geometry import mapping

    out = []
    for d in districts.all(level):
        if d.geometry is None or not d.adcode.startswith(prefix):
            continue
        g = d.geometry.simplify(BOUNDARY_TOLERANCE_DEG, preserve_topology=True)
        g = shapely.transform(g, lambda c: np.round(c, BOUNDARY_DECIMALS))
        out.append({"type": "Feature", "id": d.adcode,
                    "properties": {"adcode": d.adcode, "name": d.name, "level": d.level, "city": d.city},
                    "geometry": mapping(g)})
    return out


def read_census(path: str | os.PathLike) -> dict[str, tuple[str, int | None]]:
    """``{adcode: (name, population or None)}`` from the census CSV.

    The file is UTF-8 with a BOM, with columns ``CODE, NAME, POPU`` (the
    bundled ``data/census/population.csv``).
    """
    import pandas as pd

    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"census file not found: {p}")
    try:
        df = pd.read_csv(p, dtype={"CODE": str}, encoding="utf-8-sig", usecols=["CODE", "NAME", "POPU"])
    except (ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise ConfigError(f"{p}: cannot read census columns CODE, NAME, POPU: {exc}") from None
    out: dict = {}
    for code, name, pop in zip(df["CODE"], df["NAME"], df["POPU"]):
        code = str(code).strip()
        if not _ADCODE.match(code):
            continue
        name = name.strip() if isinstance(name, str) else ""
        ok = pop is not None and not (isinstance(pop, float) and math.isnan(pop))
        out[code] = (name, round(float(pop)) if ok else None)
    return out


def read_zone_outlines(path: str | os.PathLike) -> dict[str, BaseGeometry]:
    """``{adcode: polygon}`` from a zone-outline GeoJSON (WGS-84; each feature's
    ``adcode`` property; the bundled ``data/boundaries/zone_outlines.geojson``)."""
    import json

    from shapely.geometry import shape

    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
        return {check_adcode(f["properties"]["adcode"]): shape(f["geometry"]) for f in data["features"]}
    except (OSError, ValueError, KeyError, TypeError, AttributeError, ValidationError) as exc:
        raise ConfigError(f"{p}: cannot read zone outlines (GeoJSON features with an adcode): {exc}") from None


_CACHE: dict = {}
_CACHE_LOCK = threading.Lock()


def _stamp(path: str | os.PathLike) -> tuple:
    p = Path(path).resolve()
    try:
        return str(p), p.stat().st_mtime_ns
    except OSError:
        return str(p), None


def load_districts(settings: Settings | None = None) -> Districts:
    """The :class:`Districts` of ``settings`` (default: :func:`stationmap.config.load`).

    Zones get the outlines of ``settings.zone_outlines_path`` when that file exists.
    Cached per boundaries, census and outline file (path and modification time), so
    repeated calls are free and an edited file is read again.
    """
    if settings is None:
        from stationmap import config

        settings = config.load()
    bpath, ppath = Path(settings.boundaries_path), Path(settings.population_path)
    zpath = Path(settings.zone_outlines_path)
    key = (_stamp(bpath), _stamp(ppath), _stamp(zpath))
    with _CACHE_LOCK:
        hit = _CACHE.get(key)
    if hit is not None:
        return hit
    districts = Districts.from_files(bpath, ppath)
    if zpath.is_file():
        districts.set_zone_outlines(read_zone_outlines(zpath))
    with _CACHE_LOCK:
        _CACHE[key] = districts
    return districts
