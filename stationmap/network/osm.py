"""OpenStreetMap roads: road classes, which modes may use them, the tags that open or close
a way, and building a :class:`~stationmap.network.Network` from an OpenStreetMap file, a
GeoPackage road graph or arrays (the :class:`Building` part of the class).

The rules per mode are in the package's docstring (:mod:`stationmap.network`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

import numpy as np

from stationmap.config import DEFAULT_CAR_SPEEDS_KMH, MODES
from stationmap.coords import GEOD
from stationmap.errors import NotFoundError, ValidationError, geodata_read_errors

if TYPE_CHECKING:
    import numpy.typing as npt
    from shapely.geometry.base import BaseGeometry

    from stationmap.config import Settings


class Tags(Protocol):
    """OpenStreetMap tags: a dict, or osmium's TagList (anything with ``get``)."""

    def get(self, key: str, default: Any = None, /) -> Any: ...

#: Road classes a network knows, in a fixed order (the compiled file stores
#: the names it used, so this order may grow without breaking old files).
ROAD_CLASSES = (
    "motorway", "trunk", "primary", "secondary", "tertiary", "unclassified", "residential",
    "road", "living_street", "service", "track", "pedestrian", "footway", "cycleway", "path",
    "steps", "other",
)

#: OpenStreetMap ``highway`` values that are not roads anyone travels on.
NOT_ROUTABLE = frozenset({
    "construction", "proposed", "planned", "abandoned", "disused", "razed", "platform",
    "raceway", "bus_guideway", "busway", "elevator", "corridor", "rest_area", "services",
    "emergency_bay", "escape", "bus_stop", "no", "emergency_access_point", "turning_circle",
})

_ALIASES = {
    "motorway_link": "motorway", "trunk_link": "trunk", "primary_link": "primary",
    "secondary_link": "secondary", "tertiary_link": "tertiary", "trail": "path",
    "bridleway": "path", "crossing": "footway", "sidewalk": "footway",
}

#: classes closed to each mode (car: every class without a car speed)
CLOSED = {
    "walk": frozenset({"motorway"}),
    "bike": frozenset({"motorway", "steps"}),
    "ebike": frozenset({"motorway", "steps"}),
}
#: classes where bikes are pushed (walking speed)
PUSHED = frozenset({"footway", "pedestrian"})

#: bit of each mode in an edge's access mask (:data:`stationmap.config.MODES` order)
MODE_BIT = {m: 1 << i for i, m in enumerate(MODES)}
_ALL_MODES = sum(MODE_BIT.values())
_YES = frozenset({"yes", "designated", "permissive", "official", "destination", "customers", "delivery"})
_NO = frozenset({"no", "private", "agricultural", "forestry", "discouraged", "use_sidepath"})
_ONEWAY_FWD = frozenset({"yes", "true", "1"})
_ONEWAY_REV = frozenset({"-1", "reverse"})
#: tags deciding access per mode, most specific first
_MODE_TAGS = {
    "walk": ("foot",),
    "bike": ("bicycle", "vehicle"),
    "ebike": ("bicycle", "vehicle"),
    "car": ("motorcar", "motor_vehicle", "vehicle"),
}


def road_class(highway: object) -> str | None:
    """The road class for an OpenStreetMap ``highway`` value; None if not routable."""
    h = str(highway or "").strip().lower()
    if not h or h in NOT_ROUTABLE:
        return None
    h = _ALIASES.get(h, h)
    return h if h in ROAD_CLASSES else "other"


def class_access(cls: str) -> int:
    """Bit mask of the modes (:data:`MODES` order) that may use a road class."""
    bits = 0
    for mode in MODES:
        ok = cls in DEFAULT_CAR_SPEEDS_KMH if mode == "car" else cls not in CLOSED[mode]
        if ok:
            bits |= MODE_BIT[mode]
    return bits


@dataclass(frozen=True)
class OnewayRule:
    """How one travel mode reads OpenStreetMap's one-way tags (a row of :data:`ONEWAY_RULES`).

    Attributes
    ----------
    own_keys : the mode's own keys (``oneway:bicycle``), read first: ``yes``/``true``/``1``
        one-way along the way, ``-1``/``reverse`` against it, ``no`` both ways, whatever ``oneway`` says
    obeys_oneway : the general ``oneway`` tag binds the mode
    implied : ``junction=roundabout``/``circular`` and motorways are one-way for the mode
        without a ``oneway`` tag (``oneway=no`` still opens them)
    opened_by : (key, values): any of these opens the other direction of a way that is one-way
        by ``oneway`` or by implication (a contraflow cycle lane); the own keys still win
    """

    own_keys: tuple[str, ...]
    obeys_oneway: bool
    implied: bool
    opened_by: tuple[tuple[str, frozenset[str]], ...] = ()


#: the licence and credit of OpenStreetMap data: recorded with every network built from it
OSM_LICENCE = "© OpenStreetMap contributors, ODbL"

_CONTRAFLOW = frozenset({"opposite", "opposite_lane", "opposite_track"})
_TWO_WAY = frozenset({"no"})

#: **The one-way rules, the one place they are written down** (README, "Road networks", points here).
#:
#: ========= ================================= ========================================================
#: mode      bound by                          opened the other way by
#: ========= ================================= ========================================================
#: walk      ``oneway:foot=yes|-1`` only;      (nothing else: ``oneway=*`` and roundabouts do not bind
#:           ``oneway:foot=no``                pedestrians)
#: bike      ``oneway:bicycle``, else          ``oneway:bicycle=no``; ``cycleway``, ``cycleway:left``,
#:           ``oneway=yes|true|1|-1|reverse``, ``cycleway:right``, ``cycleway:both`` =
#:           else ``junction=roundabout`` /    ``opposite|opposite_lane|opposite_track``;
#:           ``circular`` (implied one-way)    ``cycleway:left|right|both:oneway=no``
#: ebike     as bike (an e-bike is a non-motor vehicle, 非机动车: riding against traffic, 逆行, is illegal)
#: car       ``oneway=*``, else roundabouts    (nothing)
#:           and motorways (implied)
#: ========= ================================= ========================================================
#:
#: ``oneway=no`` (or a mode's own key ``=no``) keeps a roundabout or motorway two-way.  A network built
#: from a source without one-way tags (the bundled SIP GeoPackage) has every road two-way for every
#: mode and says so (:attr:`~stationmap.network.Network.oneway_known` is False).
ONEWAY_RULES: dict[str, OnewayRule] = {
    "walk": OnewayRule(own_keys=("oneway:foot",), obeys_oneway=False, implied=False),
    "bike": OnewayRule(
        own_keys=("oneway:bicycle",), obeys_oneway=True, implied=True,
        opened_by=(("cycleway", _CONTRAFLOW), ("cycleway:left", _CONTRAFLOW), ("cycleway:right", _CONTRAFLOW),
                   ("cycleway:both", _CONTRAFLOW), ("cycleway:left:oneway", _TWO_WAY),
                   ("cycleway:right:oneway", _TWO_WAY), ("cycleway:both:oneway", _TWO_WAY))),
    "car": OnewayRule(own_keys=(), obeys_oneway=True, implied=True),
}
ONEWAY_RULES["ebike"] = ONEWAY_RULES["bike"]

#: edge one-way bits: mode bit (:data:`MODE_BIT`) for "only u -> v", shifted by this for "only v -> u"
ONEWAY_BACK_SHIFT = len(MODES)


def _direction(value: object) -> int | None:
    """1 (along the way), -1 (against it), 0 (both ways) for a one-way value; None if unset or unknown."""
    v = str(value or "").strip().lower()
    if v in _ONEWAY_FWD:
        return 1
    if v in _ONEWAY_REV:
        return -1
    if v == "no" or v == "false" or v == "0":
        return 0
    return None


def mode_oneway(mode: str, cls: str, tags: Tags) -> int:
    """The one-way direction of a way for ``mode`` by :data:`ONEWAY_RULES`: 1 only along the
    way, -1 only against it, 0 both ways."""
    rule = ONEWAY_RULES[mode]
    for key in rule.own_keys:
        d = _direction(tags.get(key))
        if d is not None:
            return d
    d = _direction(tags.get("oneway")) if rule.obeys_oneway else None
    if d is None:
        general = _direction(tags.get("oneway"))
        implied = rule.implied and general is None and (
            str(tags.get("junction") or "").lower() in ("roundabout", "circular") or cls == "motorway")
        d = 1 if implied else 0
    if d and any(str(tags.get(k) or "").strip().lower() in vals for k, vals in rule.opened_by):
        return 0
    return d


def tag_access(cls: str, tags: Tags) -> tuple[int, int]:
    """(mode bit mask, one-way bits) for an OpenStreetMap way.

    ``tags`` is any mapping with ``get``.  The one-way bits hold, for each mode that is
    one-way on the way (:func:`mode_oneway`), its bit (:data:`MODE_BIT`) when it may go only
    along the way, or that bit shifted by :data:`ONEWAY_BACK_SHIFT` when only against it.
    """
    bits = class_access(cls)
    general = str(tags.get("access") or "").lower()
    for mode in MODES:
        verdict = None
        for key in _MODE_TAGS[mode]:
            v = str(tags.get(key) or "").lower()
            if v in _YES or v in _NO:
                verdict = v in _YES
                break
        if verdict is None and general in _NO:
            verdict = False
        if verdict is False:
            bits &= ~MODE_BIT[mode]
        elif verdict is True and (mode != "car" or cls in DEFAULT_CAR_SPEEDS_KMH) and cls not in CLOSED.get(mode, ()):
            bits |= MODE_BIT[mode]
    oneway = 0
    for mode in MODES:
        d = mode_oneway(mode, cls, tags)
        if d:
            oneway |= MODE_BIT[mode] << (0 if d > 0 else ONEWAY_BACK_SHIFT)
    return bits, oneway


def reverse_oneway(bits: npt.ArrayLike) -> np.ndarray:
    """One-way bits of edges turned round (u and v swapped): "only u -> v" and "only v -> u" trade places."""
    b = np.asarray(bits, dtype=np.int64)
    low = (1 << ONEWAY_BACK_SHIFT) - 1
    return ((b & low) << ONEWAY_BACK_SHIFT) | ((b >> ONEWAY_BACK_SHIFT) & low)


_Net = TypeVar("_Net", bound="Building")


class Building:
    """How a :class:`~stationmap.network.Network` is built (mixed into it): from arrays, a
    GeoPackage road graph or an OpenStreetMap file."""

    if TYPE_CHECKING:   # Network's constructor (declared for the type checker only)
        def __init__(self, **arrays: Any) -> None: ...

    @classmethod
    def from_arrays(cls: type[_Net], lon: npt.ArrayLike, lat: npt.ArrayLike, u: npt.ArrayLike, v: npt.ArrayLike,
                    *, highway: str | npt.ArrayLike = "residential", access: npt.ArrayLike | None = None,
                    oneway: npt.ArrayLike | None = None, oneway_known: bool | None = None,
                    name: str = "network", source: str = "",
                    largest_only: bool = True, settings: Settings | None = None) -> _Net:
        """Compile a network from WGS-84 node coordinates and an edge list.

        Parameters
        ----------
        lon, lat : array (n,)  WGS-84 node coordinates
        u, v : array (m,)  node indices of each straight edge
        highway : str or array (m,)  OpenStreetMap ``highway`` value per edge
        access : array (m,) of int, optional  mode bit masks (default: by road class)
        oneway : array (m,) of int, optional  one-way bits per edge (:func:`tag_access`: a mode's
            :data:`MODE_BIT` for "only u -> v", shifted by :data:`ONEWAY_BACK_SHIFT` for "only v -> u");
            default every edge two-way for every mode
        oneway_known : bool, optional  the source says which ways are one-way (default: ``oneway`` given);
            False marks the network's times as optimistic (every street two-way)
        largest_only : keep only the largest connected piece
        """
        lon = np.asarray(lon, dtype=np.float64)
        lat = np.asarray(lat, dtype=np.float64)
        u = np.asarray(u, dtype=np.int64)
        v = np.asarray(v, dtype=np.int64)
        m = len(u)
        if lon.shape != lat.shape or u.shape != v.shape:
            raise ValidationError("lon/lat and u/v must have matching lengths", field="edges")
        if not (np.isfinite(lon).all() and np.isfinite(lat).all()) or (len(lon) and (
                np.abs(lon).max() > 180 or np.abs(lat).max() > 90)):
            raise ValidationError("node coordinates must be finite WGS-84 degrees", field="nodes")
        if m and (min(u.min(), v.min()) < 0 or max(u.max(), v.max()) >= len(lon)):
            raise ValidationError("edges refer to nodes that do not exist", field="edges")
        hw = np.broadcast_to(np.asarray(highway, dtype=object), (m,))
        names = np.array([road_class(h) or "" for h in hw], dtype=object)
        keep = names != ""
        if access is None:
            acc = np.array([class_access(c) if c else 0 for c in names], dtype=np.int64)
        else:
            acc = np.asarray(access, dtype=np.int64)
        ow = np.zeros(m, np.int64) if oneway is None else np.asarray(oneway, dtype=np.int64)
        keep &= (u != v) & (acc != 0)
        u, v, names, acc, ow = u[keep], v[keep], names[keep], acc[keep], ow[keep]
        # one-way against the way only (oneway=-1): turn the edge round, so one-way edges run u -> v
        low = (1 << ONEWAY_BACK_SHIFT) - 1
        back = ((ow & low) == 0) & ((ow >> ONEWAY_BACK_SHIFT) != 0)
        u, v = np.where(back, v, u), np.where(back, u, v)
        ow = np.where(back, reverse_oneway(ow), ow)
        # parallel edges: a node at the middle of every repeat keeps the graph simple
        a, b = np.minimum(u, v), np.maximum(u, v)
        order = np.lexsort((b, a))
        dup = np.zeros(len(u), bool)
        if len(u) > 1:
            same = (a[order][1:] == a[order][:-1]) & (b[order][1:] == b[order][:-1])
            dup[order[1:][same]] = True
        if dup.any():
            di = np.flatnonzero(dup)
            mid = len(lon) + np.arange(len(di))
            mlon = 0.5 * (lon[u[di]] + lon[v[di]])
            mlat = 0.5 * (lat[u[di]] + lat[v[di]])
            lon = np.concatenate([lon, mlon])
            lat = np.concatenate([lat, mlat])
            u2, v2 = u[di].copy(), v[di].copy()
            v = v.copy()
            v[di] = mid  # type: ignore[index]  # an array by now
            u = np.concatenate([u, mid])
            v = np.concatenate([v, v2])
            names = np.concatenate([names, names[di]])
            acc = np.concatenate([acc, acc[di]])
            ow = np.concatenate([ow, ow[di]])
            del u2
        # the largest connected piece
        n = len(lon)
        used = np.zeros(n, bool)
        used[u] = True
        used[v] = True
        if largest_only and len(u):
            import scipy.sparse as sp
            from scipy.sparse.csgraph import connected_components

            adj = sp.coo_matrix((np.ones(len(u)), (u, v)), shape=(n, n)).tocsr()
            _, lab = connected_components(adj, directed=False)
            sizes = np.bincount(lab[used], minlength=lab.max() + 1)
            big = np.argmax(sizes)
            used &= lab == big
            ke = used[u]
            u, v, names, acc, ow = u[ke], v[ke], names[ke], acc[ke], ow[ke]
        new = np.full(n, -1, np.int64)
        new[used] = np.arange(int(used.sum()))
        lon, lat = lon[used], lat[used]
        u, v = new[u], new[v]
        # edges in a canonical order: by (u, v)
        order = np.lexsort((v, u))
        u, v, names, acc, ow = u[order], v[order], names[order], acc[order], ow[order]
        classes = [c for c in ROAD_CLASSES if c in set(names.tolist())]
        cidx = {c: i for i, c in enumerate(classes)}
        ecls = np.array([cidx[c] for c in names], dtype=np.uint8)
        length = GEOD.inv(lon[u], lat[u], lon[v], lat[v])[2] if len(u) else np.empty(0)
        return cls(name=name, source=source, lon=lon, lat=lat, edge_u=u, edge_v=v,
                   edge_length_m=np.asarray(length, dtype=np.float64), edge_class=ecls, classes=classes,
                   edge_access=acc, edge_oneway=ow, settings=settings,
                   oneway_known=(oneway is not None) if oneway_known is None else bool(oneway_known))

    @classmethod
    def from_gpkg(cls: type[_Net], path: str | os.PathLike, *, name: str | None = None,
                  settings: Settings | None = None, largest_only: bool = True) -> _Net:
        """A road graph from a GeoPackage with layers ``nodes`` (node_id, lon, lat)
        and ``edges`` (u, v, highway), coordinates WGS-84.  Every edge is two-way: the layers
        carry no one-way data, so the network says its times are optimistic (``oneway_known``)."""
        import pyogrio

        path = Path(path)
        if not path.exists():
            raise NotFoundError(f"road network source not found: {str(path)!r}", field="source")
        try:
            layers = {str(r[0]) for r in pyogrio.list_layers(path)}
        except geodata_read_errors() as exc:
            raise ValidationError(f"{path}: cannot read as a GeoPackage ({exc})", field="source") from None
        for need in ("nodes", "edges"):
            if need not in layers:
                raise ValidationError(f"{path}: no layer {need!r} (layers: {sorted(layers)})", field="source")
        nodes = pyogrio.read_dataframe(path, layer="nodes", read_geometry=False)
        edges = pyogrio.read_dataframe(path, layer="edges", read_geometry=False)
        for lay, df, cols in (("nodes", nodes, ("node_id", "lon", "lat")), ("edges", edges, ("u", "v", "highway"))):
            missing = [c for c in cols if c not in df.columns]
            if missing:
                raise ValidationError(f"{path}: layer {lay!r} lacks column(s) {missing}", field="source")
        ids = nodes["node_id"].to_numpy(np.int64)
        order = np.argsort(ids, kind="stable")
        ids = ids[order]
        if len(ids) > 1 and (np.diff(ids) == 0).any():
            raise ValidationError(f"{path}: layer 'nodes' has repeated node_id values", field="source")
        eu = edges["u"].to_numpy(np.int64)
        ev = edges["v"].to_numpy(np.int64)
        iu = np.searchsorted(ids, eu)
        iv = np.searchsorted(ids, ev)
        iu_c, iv_c = np.minimum(iu, len(ids) - 1), np.minimum(iv, len(ids) - 1)
        bad = (ids[iu_c] != eu) | (ids[iv_c] != ev)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            absent = int(eu[row]) if ids[iu_c[row]] != eu[row] else int(ev[row])
            raise ValidationError(f"{path}: layer 'edges' row {row + 1}: node {absent} is not in layer 'nodes'",
                                  field="source")
        lon = nodes["lon"].to_numpy(np.float64)[order]
        lat = nodes["lat"].to_numpy(np.float64)[order]
        hw = edges["highway"].astype(str).to_numpy(object)
        hw = np.where(hw == "other", "road", hw)   # the TMAP "other" class: an unknown road
        return cls.from_arrays(lon, lat, iu, iv, highway=hw, name=name or path.stem.split("_")[0],
                               source=path.name, largest_only=largest_only, settings=settings,
                               oneway_known=False)

    @classmethod
    def from_osm(cls: type[_Net], path: str | os.PathLike, *, name: str | None = None,
                 settings: Settings | None = None, largest_only: bool = True,
                 clip: BaseGeometry | None = None, source: str | None = None) -> _Net:
        """A road graph from an OpenStreetMap file (``.osm.pbf``, ``.osm``), read with osmium.

        Ways with a routable ``highway`` tag become edges (split at every node);
        nodes missing from the extract split the way there.  ``clip`` (a WGS-84
        polygon): only the edges with an end inside it are kept (a province's
        extract cut to a district and its margin).  ``source``: what the network
        records as its source (default the file's name).
        """
        import osmium
        import osmium.filter

        path = Path(path)
        if not path.exists():
            raise NotFoundError(f"road network source not found: {str(path)!r}", field="source")
        refs, lons, lats = [], [], []
        eu_ref, ev_ref, hw_list, acc_list, ow_list = [], [], [], [], []
        try:
            highways = osmium.filter.KeyFilter("highway")   # ways without one skipped in C++ (nodes all kept)
            highways.enable_for(osmium.osm.WAY)
            fp = osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY).with_locations().with_filter(
                highways)
            for obj in fp:     # (nodes and ways only: no changesets, areas or relations)
                if not obj.is_way():  # type: ignore[union-attr]
                    continue
                tags = obj.tags
                cls_ = road_class(tags.get("highway"))
                if cls_ is None or str(tags.get("area", "")).lower() == "yes":
                    continue    # a square or a car park drawn as an area: no line to follow
                bits, oneway = tag_access(cls_, tags)
                if not bits:
                    continue
                prev = None
                for nd in obj.nodes:  # type: ignore[union-attr]  # a way
                    loc = nd.location
                    if not loc.valid():
                        prev = None
                        continue
                    ref = nd.ref
                    refs.append(ref)
                    lons.append(loc.lon)
                    lats.append(loc.lat)
                    if prev is not None:
                        eu_ref.append(prev)
                        ev_ref.append(ref)
                        hw_list.append(cls_)
                        acc_list.append(bits)
                        ow_list.append(oneway)
                    prev = ref
        except RuntimeError as exc:
            raise ValidationError(f"{path}: cannot read as OpenStreetMap data ({exc})", field="source") from None
        if not eu_ref:
            raise ValidationError(f"{path}: no routable highway in this file", field="source")
        uniq, first = np.unique(np.asarray(refs, dtype=np.int64), return_index=True)
        lon = np.asarray(lons)[first]
        lat = np.asarray(lats)[first]
        u = np.searchsorted(uniq, np.asarray(eu_ref, dtype=np.int64))
        v = np.searchsorted(uniq, np.asarray(ev_ref, dtype=np.int64))
        hw, acc, ow = np.asarray(hw_list, dtype=object), np.asarray(acc_list), np.asarray(ow_list)
        if clip is not None:
            import shapely

            inside = shapely.contains_xy(clip, lon, lat)
            keep = inside[u] | inside[v]
            if not keep.any():
                raise ValidationError(f"{path}: no routable highway inside the area asked for", field="source")
            u, v, hw, acc, ow = u[keep], v[keep], hw[keep], acc[keep], ow[keep]
        stem = path.name.split(".")[0]
        net = cls.from_arrays(lon, lat, u, v, highway=hw, access=acc, oneway=ow, oneway_known=True,
                              name=name or stem, source=source or path.name, largest_only=largest_only,
                              settings=settings)
        net.licence = OSM_LICENCE     # type: ignore[attr-defined]  # (a Network's attribute)
        net.date = osm_date(path) or ""     # type: ignore[attr-defined]  # (a Network's attribute)
        return net

    @classmethod
    def build(cls: type[_Net], source: str | os.PathLike, *, name: str | None = None,
              settings: Settings | None = None, licence: str | None = None) -> _Net:
        """Build from a ``.gpkg`` road graph or an OpenStreetMap ``.osm.pbf`` / ``.osm`` / ``.pbf`` file.
        ``licence``: the data's licence and credit (default: OpenStreetMap's for an OpenStreetMap
        file, none for a GeoPackage, which does not say)."""
        p = Path(source)
        low = p.name.lower()
        if low.endswith(".gpkg"):
            net = cls.from_gpkg(p, name=name, settings=settings)
        elif low.endswith((".pbf", ".osm", ".osm.bz2", ".osm.gz", ".o5m")):
            net = cls.from_osm(p, name=name, settings=settings)
        else:
            net = None
        if net is not None:
            if licence is not None:
                net.licence = licence     # type: ignore[attr-defined]  # (a Network's attribute)
            return net
        raise ValidationError(
            f"source must be a .gpkg road graph or an OpenStreetMap .osm.pbf/.osm file, got {str(source)!r}",
            field="source")


def osm_date(path: str | os.PathLike[str]) -> str | None:
    """The date of the OpenStreetMap data in a PBF (its header's replication timestamp) or in an
    Overpass answer (its ``<meta osm_base>``), or None."""
    import re

    import osmium

    path = Path(path)
    if path.suffix == ".osm":
        with open(path, "rb") as f:
            m = re.search(rb'<meta\s+osm_base="([^"]+)"', f.read(4096))
        return m.group(1).decode("ascii", "replace") if m else None

    try:
        reader = osmium.io.Reader(str(path), osmium.osm.osm_entity_bits.NOTHING)
        try:
            stamp = reader.header().get("osmosis_replication_timestamp")
        finally:
            reader.close()
    except RuntimeError:
        return None
    return stamp or None
