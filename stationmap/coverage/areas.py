"""Study areas of a coverage run: :class:`Area` (a district or any polygon), resolving an
adcode into areas, the road network that delimits a census zone without a polygon, and
the WGS-84 <-> metric projection helpers every part of a run uses.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, TypeAlias, cast

import numpy as np

from stationmap.config import Settings
from stationmap.errors import NotFoundError, ValidationError
from stationmap.network import Network, load_networks

if TYPE_CHECKING:
    from pyproj import Transformer
    from shapely.geometry.base import BaseGeometry

    from stationmap.districts import District, Districts

#: What a coverage run takes for ``area``: an adcode (str or int), an :class:`Area`, a shapely
#: polygon in WGS-84, or a list of any of these (see :func:`resolve_areas`).
AreaSpec: TypeAlias = "str | int | Area | BaseGeometry | Sequence[str | int | Area | BaseGeometry]"

_TLS = threading.local()


def _transformer(crs: str, inverse: bool = False) -> Transformer:
    """A cached (per thread: pyproj transformers are not shared across threads)
    WGS-84 <-> ``crs`` transformer, always lon/lat order."""
    cache = getattr(_TLS, "cache", None)
    if cache is None:
        cache = _TLS.cache = {}
    key = (crs, inverse)
    t = cache.get(key)
    if t is None:
        from pyproj import Transformer

        t = (Transformer.from_crs(crs, "EPSG:4326", always_xy=True) if inverse
             else Transformer.from_crs("EPSG:4326", crs, always_xy=True))
        cache[key] = t
    return t


def to_metric(lon: Any, lat: Any, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """WGS-84 lon/lat (degrees) -> ``crs`` x, y (metres)."""
    x, y = _transformer(crs).transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return np.asarray(x, dtype=float), np.asarray(y, dtype=float)


def to_wgs84(x: Any, y: Any, crs: str) -> tuple[np.ndarray, np.ndarray]:
    """``crs`` x, y (metres) -> WGS-84 lon/lat (degrees)."""
    lon, lat = _transformer(crs, inverse=True).transform(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    return np.asarray(lon, dtype=float), np.asarray(lat, dtype=float)


def geometry_to_metric(geom: BaseGeometry, crs: str) -> BaseGeometry:
    """A shapely geometry in WGS-84 -> the same in ``crs`` (metres)."""
    import shapely

    t = _transformer(crs)
    return shapely.transform(geom, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))


def geometry_to_wgs84(geom: BaseGeometry, crs: str) -> BaseGeometry:
    """A shapely geometry in ``crs`` (metres) -> the same in WGS-84."""
    import shapely

    t = _transformer(crs, inverse=True)
    return shapely.transform(geom, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))


@dataclass(frozen=True)
class Area:
    """One district (or any polygon) of a coverage run.

    ``geometry`` is a shapely (Multi)Polygon in WGS-84; ``population`` the
    census population spread over its cells (None: unknown, demand is then
    relative and sums to 1).  ``note`` says anything a reader must know (for
    example that the polygon is a road network's extent).
    """

    adcode: str
    name: str
    level: str
    geometry: BaseGeometry = field(repr=False)
    population: float | None = None
    note: str = ""

    @classmethod
    def from_district(cls, d: District, *, geometry: BaseGeometry | None = None, note: str = "") -> Area:
        """The area of a district (its own polygon unless ``geometry`` is given)."""
        return cls(adcode=d.adcode, name=d.name, level=d.level,
                   geometry=geometry or d.geometry,  # type: ignore[arg-type]  # (a zone comes with ``geometry``)
                   population=d.population, note=note)


def resolve_areas(area: AreaSpec, *, districts: Districts | None = None, network: Network | None = None,
                  settings: Settings | None = None) -> list[Area]:
    """The :class:`Area` list for ``area``.

    ``area`` may be an adcode (str or int): a county gives itself; a city its
    counties and districts; the province every county.  A census zone with no
    polygon (320571 Suzhou Industrial Park) takes the extent of ``network``
    (the convex hull of its nodes) as its polygon.  ``area`` may also be an
    :class:`Area`, a shapely polygon in WGS-84, or a list of any of these.
    """
    if isinstance(area, Area):
        return [area]
    if isinstance(area, (list, tuple)):
        out = []
        for a in area:
            out += resolve_areas(a, districts=districts, network=network, settings=settings)
        # polygons without a code get their own: area1, area2, ... (in the order given)
        out = [replace(a, adcode=f"area{k + 1}", name=f"{a.name} {k + 1}") if not a.adcode else a
               for k, a in enumerate(out)]
        check_unique(out)
        return out
    if hasattr(area, "geom_type"):
        geom: BaseGeometry = area  # type: ignore[assignment]  # a shapely geometry
        if geom.geom_type not in ("Polygon", "MultiPolygon") or geom.is_empty:
            raise ValidationError(f"area must be a polygon in WGS-84, got a {geom.geom_type}", field="area")
        _check_wgs84_bounds(geom.bounds)
        return [Area(adcode="", name="polygon", level="polygon", geometry=geom)]
    if districts is None:
        from stationmap.districts import load_districts

        districts = load_districts(settings)
    d = districts.get(area)  # type: ignore[arg-type]  # an adcode by now
    if d.level == "county":
        return [Area.from_district(d)]
    if d.level == "city":
        return [Area.from_district(c) for c in districts.children(d.adcode)]
    if d.level == "province":
        out = []
        for c in districts.children(d.adcode):
            out += [Area.from_district(k) for k in districts.children(c.adcode)]
        return out
    # a zone: no polygon of its own
    if network is None:
        network = default_network_for(d, settings=settings, districts=districts)
    if network is None:
        raise NotFoundError(
            f"district {d.adcode} ({d.name}) has no boundary polygon and no road network covers it; "
            "give a polygon or a network", field="district")
    note = (f"{d.name} has no boundary polygon in the bundled data: the study area is the extent "
            "(convex hull) of its road network, and the census population of the whole unit is spread "
            "over it, so absolute demand overstates this area; shares are unaffected")
    return [Area.from_district(d, geometry=network_extent(network), note=note)]


def check_unique(areas: Iterable[Area]) -> None:
    """ValidationError (field ``district``) when two areas have the same adcode."""
    seen = set()
    for a in areas:
        if a.adcode and a.adcode in seen:
            raise ValidationError(f"district {a.adcode} is given twice", field="district")
        seen.add(a.adcode)


def _check_wgs84_bounds(bounds: tuple[float, float, float, float]) -> None:
    w, s, e, n = bounds
    if not (-180 <= w <= e <= 180 and -90 <= s <= n <= 90):
        raise ValidationError(f"area must be in WGS-84 degrees, got bounds {tuple(round(b, 3) for b in bounds)}",
                              field="area")


#: each network's extent, kept while the network is (a mixed coverage asks for it every run: 2 s at a
#: million nodes)
_EXTENTS: weakref.WeakKeyDictionary[Network, BaseGeometry] = weakref.WeakKeyDictionary()


def network_extent(network: Network) -> BaseGeometry:
    """The convex hull (WGS-84) of a road network's nodes: the study polygon of a zone, and where a
    mixed coverage (:func:`stationmap.coverage.minutes.cell_networks`) looks for its cells."""
    import shapely

    hull = _EXTENTS.get(network)
    if hull is None:
        points = shapely.multipoints(np.column_stack([network.lon, network.lat]))
        hull = _EXTENTS[network] = cast("BaseGeometry", shapely.convex_hull(points))
    return hull


def default_network_for(district: District, *, settings: Settings | None = None, districts: Districts | None = None,
                        networks: Mapping[str, Network] | None = None) -> Network | None:
    """The road network of a district: among ``networks`` (default: the configured and
    registered ones that exist, :func:`stationmap.network.load_networks`), the one fetched for it
    (``stationmap network fetch``: its ``home_adcode``); else, for a census zone without a polygon
    (such as 320571, Suzhou Industrial Park), the first (by name) whose centre lies in the zone's
    city; None if there is none (a county with no network fetched for it: give a network
    explicitly to use one there)."""
    if district.level not in ("zone", "county"):
        return None
    nets = load_networks(settings, skip_missing=True) if networks is None else networks
    if not nets:
        return None
    for name in sorted(nets):
        if nets[name].home_adcode == district.adcode:
            return nets[name]
    if district.level != "zone":
        return None
    if districts is None:
        from stationmap.districts import load_districts

        districts = load_districts(settings)
    for name in sorted(nets):
        net = nets[name]
        w, s, e, n = net.bounds
        code = districts.locate((w + e) / 2.0, (s + n) / 2.0)
        if code is None:
            continue
        if code[:4] == district.adcode[:4]:
            return net
    return None


def default_network(settings: Settings | None = None) -> Network | None:
    """The first configured network (by name) that exists, or None: what the network
    method uses when no network is given."""
    nets = load_networks(settings, skip_missing=True)
    return nets[sorted(nets)[0]] if nets else None


def points_in(geom: BaseGeometry | None, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
    """Booleans: which of the points (WGS-84) are in ``geom`` (its boundary included); none
    when ``geom`` is None."""
    import shapely

    if geom is None or not len(lon):
        return np.zeros(len(lon), bool)
    shapely.prepare(geom)
    return shapely.intersects_xy(geom, lon, lat)
