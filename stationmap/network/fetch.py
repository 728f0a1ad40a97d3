"""Roads for a district in one command (``stationmap network fetch ADCODE``): find the
OpenStreetMap extract that covers it, download it (resuming, checked, cached), clip it to the
district and a margin, build the travel-time network and register it for the instance.

The source
    ``geofabrik`` (default): the region index at ``Settings.osm_index_url`` (Geofabrik's
    ``index-v1.json`` format: GeoJSON features whose properties hold ``id``, ``name``,
    ``parent`` and ``urls.pbf``) is read, and the district goes to the smallest region whose
    polygon contains it (else the one that overlaps it most): a province's extract, found by
    geometry, never by a written-in URL.  An ``http(s)://…`` URL of a ``.osm.pbf``, or a local
    file, are taken as they are.

The download
    Into the cache folder (``--cache``, default ``<instance>/osm``), named by the URL's hash, so a
    second district of the same province downloads nothing (and works offline; the region
    index is kept there too).  A transfer goes to ``<file>.part``; a cut transfer is resumed
    with an HTTP ``Range`` request (a few times, then the next run resumes it).  The file is
    checked: its size against ``Content-Length``, its MD5 against ``<url>.md5`` where the source
    publishes one (Geofabrik does), and in every case a readable PBF header (the first blob an
    ``OSMHeader``).  Any failure is a :class:`~stationmap.errors.FetchError` whose one line
    names the URL and what to do; nothing is registered then.

The clip
    The district's polygon plus a margin of :func:`margin_m`: the distance the fastest of the
    modes asked for covers in ``Settings.minutes`` at its top speed, buffered in the district's
    UTM zone, so a trip of that length starting in the district is never cut.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import sys
import urllib.error
import urllib.request
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlparse

from stationmap.config import DEFAULT_CAR_SPEEDS_KMH, MODES
from stationmap.errors import FetchError, NotFoundError, ValidationError

if TYPE_CHECKING:
    from shapely.geometry.base import BaseGeometry

    from stationmap.config import Settings
    from stationmap.network.graph import Network

#: what to do when a download fails (the end of every FetchError's line)
ADVICE = "download the file elsewhere and pass --source FILE"
#: how many times one run resumes a transfer the server cut
RESUME_TRIES = 4
CHUNK = 1 << 16
TIMEOUT_S = 60.0


# -- the region index -------------------------------------------------------------------------

def _open(url: str, *, headers: dict[str, str] | None = None, data: bytes | None = None) -> http.client.HTTPResponse:
    """``urlopen`` (a POST of ``data`` when given) with the errors turned into one FetchError line each."""
    req = urllib.request.Request(url, data=data, headers={"User-Agent": "stationmap", **(headers or {})})
    try:
        return urllib.request.urlopen(req, timeout=TIMEOUT_S)  # (http(s): download() checks)
    except urllib.error.HTTPError as exc:
        raise FetchError(f"{url}: HTTP {exc.code} {exc.reason}; check the URL, or {ADVICE}") from None
    except urllib.error.URLError as exc:
        raise FetchError(f"{url}: cannot connect ({exc.reason}); check the network, or {ADVICE}") from None
    except (OSError, http.client.HTTPException) as exc:
        raise FetchError(f"{url}: cannot connect ({exc}); check the network, or {ADVICE}") from None


def region_index(settings: Settings, cache_dir: Path) -> dict:
    """The region index (GeoJSON), from the cache folder when it holds one, else downloaded there."""
    url = settings.osm_index_url
    cached = cache_dir / f"index-{_url_key(url)}.json"
    if not cached.exists():
        with _open(url) as resp:
            body = resp.read()
        try:
            json.loads(body)
        except ValueError:
            raise FetchError(f"{url}: not a region index (not JSON); check STATIONMAP_OSM_INDEX_URL, "
                             f"or {ADVICE}") from None
        cache_dir.mkdir(parents=True, exist_ok=True)
        tmp = cached.with_name(cached.name + ".part")
        tmp.write_bytes(body)
        tmp.replace(cached)
    try:
        index = json.loads(cached.read_text(encoding="utf-8"))
        if not isinstance(index.get("features"), list):
            raise ValueError("no features")
    except ValueError as exc:
        cached.unlink(missing_ok=True)
        raise FetchError(f"{url}: not a region index ({exc}); {ADVICE}") from None
    return index


def find_region(index: dict, area: BaseGeometry, *, base_url: str = "") -> dict[str, Any]:
    """The region of ``index`` for ``area`` (WGS-84): the smallest whose polygon contains it,
    else the one overlapping it most.  Returns ``{"id", "name", "parent", "pbf"}`` (the ``.osm.pbf``
    URL, made absolute against ``base_url``).

    Raises
    ------
    NotFoundError
        When no region with a ``.osm.pbf`` overlaps the area.
    """
    import shapely
    from shapely.geometry import shape

    best: tuple[int, float, dict] | None = None
    area = shapely.make_valid(area)
    for feat in index.get("features", []):
        props = feat.get("properties") or {}
        pbf = (props.get("urls") or {}).get("pbf")
        if not pbf or not feat.get("geometry"):
            continue
        try:
            geom = shapely.make_valid(shape(feat["geometry"]))
        except (ValueError, TypeError, AttributeError, shapely.errors.ShapelyError):
            continue
        overlap = geom.intersection(area).area
        if overlap <= 0:
            continue
        contains = geom.covers(area)
        # containing regions first, the smallest of them; else the largest overlap
        key = (0, geom.area, props) if contains else (1, -overlap, props)
        if best is None or key[:2] < best[:2]:
            best = key
    if best is None:
        raise NotFoundError("no region of the index covers this district: pass --source with a .osm.pbf URL or "
                            "FILE", field="source")
    props = best[2]
    return {"id": props.get("id"), "name": props.get("name"), "parent": props.get("parent"),
            "pbf": urljoin(base_url, props["urls"]["pbf"])}


# -- downloading ------------------------------------------------------------------------------

def _url_key(url: str) -> str:
    return hashlib.sha256(url.encode("utf-8")).hexdigest()[:16]


def cached_path(url: str, cache_dir: Path) -> Path:
    """Where the file of ``url`` is kept in ``cache_dir`` (by the URL: one file per URL)."""
    base = Path(urlparse(url).path).name or "extract.osm.pbf"
    return cache_dir / f"{_url_key(url)}-{base}"


class _Progress:
    """tqdm's bar on a terminal (stderr), nothing otherwise."""

    def __init__(self, total: int | None, initial: int, desc: str, show: bool) -> None:
        self.bar = None
        if show:
            from tqdm import tqdm

            self.bar = tqdm(total=total, initial=initial, unit="B", unit_scale=True, unit_divisor=1024,
                            desc=desc, file=sys.stderr, leave=False)

    def update(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _published_md5(url: str) -> str | None:
    """The MD5 the source publishes beside the file (``<url>.md5``: "<hex>  <name>"), or None
    when it publishes none (an HTTP error)."""
    try:
        with _open(url + ".md5") as resp:
            text = resp.read(4096).decode("ascii", "replace")
    except FetchError:
        return None
    word = text.strip().split()[0].lower() if text.strip() else ""
    return word if len(word) == 32 and all(c in "0123456789abcdef" for c in word) else None


def _transfer(url: str, part: Path, progress: bool) -> int | None:
    """One attempt to bring ``part`` up to the whole file (resuming from its size); the
    file's total size when the server says it (None otherwise)."""
    have = part.stat().st_size if part.exists() else 0
    headers = {"Range": f"bytes={have}-"} if have else {}
    try:
        resp = _open(url, headers=headers)
    except FetchError as exc:
        if have and "HTTP 416" in exc.message:       # the part is whole already (or stale): start again
            part.unlink()
            return _transfer(url, part, progress)
        raise
    with resp:
        length = resp.headers.get("Content-Length")
        if have and resp.status == 206:
            total = None
            rng = resp.headers.get("Content-Range", "")
            if "/" in rng and rng.rsplit("/", 1)[1].isdigit():
                total = int(rng.rsplit("/", 1)[1])
            mode = "ab"
        else:
            have, mode = 0, "wb"
            total = int(length) if length and length.isdigit() else None
        bar = _Progress(total, have, Path(urlparse(url).path).name, progress)
        try:
            with open(part, mode) as out:
                while True:
                    try:
                        chunk = resp.read(CHUNK)
                    except (http.client.IncompleteRead, OSError):   # (TimeoutError is an OSError)
                        break          # cut: what came is kept for the next attempt
                    if not chunk:
                        break
                    out.write(chunk)
                    bar.update(len(chunk))
        finally:
            bar.close()
    return total


def check_pbf(path: Path, *, url: str) -> None:
    """Raise FetchError unless ``path`` starts as an OpenStreetMap PBF does: a 4-byte length,
    then a BlobHeader whose type is ``OSMHeader``."""
    with open(path, "rb") as f:
        head = f.read(4)
        n = int.from_bytes(head, "big") if len(head) == 4 else 0
        blob = f.read(n) if 0 < n <= 64 * 1024 else b""
    if not blob.startswith(b"\x0a\x09OSMHeader"):
        raise FetchError(f"{url}: not an OpenStreetMap PBF file (no OSMHeader at its start); check the URL "
                         f"(an .osm.pbf), or {ADVICE}")


def download(url: str, cache_dir: Path, *, progress: bool = False) -> tuple[Path, bool]:
    """The file of ``url`` in ``cache_dir``: (path, downloaded now).  A cached file is used as
    is (no network).  See the module's docstring for the resuming and the checks."""
    if urlparse(url).scheme not in ("http", "https"):
        raise ValidationError(f"only http(s) URLs are downloaded, got {url!r}", field="source")
    dest = cached_path(url, cache_dir)
    if dest.exists():
        return dest, False
    cache_dir.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    total = None
    for _ in range(RESUME_TRIES):
        total = _transfer(url, part, progress) or total
        if total is None or part.stat().st_size >= total:
            break
    size = part.stat().st_size if part.exists() else 0
    if total is not None and size != total:
        raise FetchError(f"{url}: the transfer stopped at {size:,} of {total:,} bytes; run the command again to "
                         f"resume it, or {ADVICE}")
    md5 = _published_md5(url)
    if md5 is not None:
        h = hashlib.md5(usedforsecurity=False)
        with open(part, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        if h.hexdigest() != md5:
            part.unlink()
            raise FetchError(f"{url}: checksum mismatch (MD5 {h.hexdigest()}, published {md5}): the file was "
                             f"deleted; run the command again, or {ADVICE}")
    try:
        check_pbf(part, url=url)
    except FetchError:
        part.unlink()
        raise
    part.replace(dest)
    return dest, True


def overpass(url: str, area: BaseGeometry, cache_dir: Path) -> tuple[Path, bool]:
    """The roads (ways with a ``highway`` tag and their nodes) in ``area``'s bounding box from the
    Overpass API at ``url``, as OpenStreetMap XML in ``cache_dir`` (by URL and box: asked once):
    (path, asked now).  For a small area: Overpass servers refuse or time out on a province."""
    from urllib.parse import urlencode

    if urlparse(url).scheme not in ("http", "https"):
        raise ValidationError(f"the Overpass URL must be http(s), got {url!r}", field="overpass_url")
    w, s, e, n = (round(float(b), 6) for b in area.bounds)
    query = f'[out:xml][timeout:600];way["highway"]({s},{w},{n},{e});(._;>;);out body;'
    dest = cache_dir / f"overpass-{_url_key(url + query)}.osm"
    if dest.exists():
        return dest, False
    cache_dir.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    with _open(url, data=urlencode({"data": query}).encode("ascii")) as resp, open(part, "wb") as out:
        while chunk := resp.read(CHUNK):
            out.write(chunk)
    with open(part, "rb") as f:
        head = f.read(4096)
        f.seek(max(part.stat().st_size - 4096, 0))
        tail = f.read()
    if b"<osm" not in head or b"</osm>" not in tail:
        part.unlink()
        raise FetchError(f"{url}: the answer is not (whole) OpenStreetMap XML; try a smaller area, or {ADVICE}")
    if b"<remark>" in tail and b"error" in tail.split(b"<remark>")[-1].lower():
        part.unlink()
        raise FetchError(f"{url}: Overpass stopped with an error (the area may be too large); {ADVICE}")
    part.replace(dest)
    return dest, True


# -- the clip and the build -------------------------------------------------------------------

def margin_m(settings: Settings, modes: Iterable[str] = MODES) -> float:
    """Metres the fastest of ``modes`` covers in ``settings.minutes`` at its top speed (cars:
    the fastest road class) - the margin around a district that no trip starting in it leaves."""
    top = 0.0
    for m in modes:
        if m == "car":
            top = max(top, max(float(settings.car_speeds_kmh.get(c, 0.0)) for c in DEFAULT_CAR_SPEEDS_KMH))
        else:
            top = max(top, float(settings.speed_kmh(m)))
    return top / 3.6 * float(settings.minutes) * 60.0


def clip_area(polygon: BaseGeometry, distance_m: float) -> BaseGeometry:
    """``polygon`` (WGS-84) buffered by ``distance_m`` metres in its UTM zone, back in WGS-84."""
    import shapely
    from pyproj import Transformer

    from stationmap.coords import utm_crs_for

    c = polygon.centroid
    crs = utm_crs_for(c.x, c.y)
    fwd = Transformer.from_crs("EPSG:4326", crs, always_xy=True)
    back = Transformer.from_crs(crs, "EPSG:4326", always_xy=True)
    metric = shapely.transform(polygon, lambda xy: _stack(fwd.transform(xy[:, 0], xy[:, 1])))
    grown = shapely.buffer(metric, distance_m, quad_segs=16)
    return shapely.transform(grown, lambda xy: _stack(back.transform(xy[:, 0], xy[:, 1])))


def _stack(xy: tuple) -> Any:
    import numpy as np

    return np.column_stack(xy)


def district_polygon(adcode: str, settings: Settings) -> tuple[str, BaseGeometry]:
    """(name, WGS-84 polygon) of a district: its boundary, or a zone's outline."""
    from stationmap.districts import load_districts

    d = load_districts(settings)
    rec = d.get(adcode)
    geom = rec.geometry if rec.geometry is not None else d.zone_outline(rec.adcode)
    if geom is None:
        raise NotFoundError(f"district {rec.adcode} ({rec.name}) has no boundary polygon in the bundled data: "
                            "pass its extract with --source and build it with `stationmap network build`",
                            field="adcode")
    return rec.name, geom


def fetch(adcode: str, settings: Settings, *, source: str = "geofabrik", modes: Iterable[str] = MODES,
          cache_dir: Path | None = None, name: str | None = None, progress: bool = False,
          echo: Any = None) -> tuple[Network, dict[str, Any]]:
    """Fetch, clip, build, save and register the road network of district ``adcode``.

    Returns the network and its registry entry (:mod:`~stationmap.network.registry`).
    ``source``: ``geofabrik``, ``overpass`` (the roads of the clip area's bounding box from
    ``Settings.overpass_url``), an http(s) URL of a ``.osm.pbf``, or a local file.
    ``echo``: called with a line of progress now and then (None: silent).
    """
    from stationmap.checks import check_mode
    from stationmap.network.graph import Network
    from stationmap.network.osm import OSM_LICENCE, osm_date
    from stationmap.network.registry import register

    say = echo or (lambda _line: None)
    modes = tuple(check_mode(m) for m in modes) or MODES
    cache_dir = Path(cache_dir) if cache_dir is not None else Path(settings.osm_cache_dir)
    area_name, polygon = district_polygon(adcode, settings)
    name = name or str(adcode)
    region = None
    margin = margin_m(settings, modes)
    clip = clip_area(polygon, margin)
    if source == "overpass":
        url = ""
        path, fresh = overpass(settings.overpass_url, clip, cache_dir)
        say(f"{'asked Overpass' if fresh else 'cached'}: {path}")
        origin = settings.overpass_url
    elif source == "geofabrik":
        index = region_index(settings, cache_dir)
        region = find_region(index, polygon, base_url=settings.osm_index_url)
        say(f"{area_name} ({adcode}) lies in region {region['name']!r} ({region['id']}): {region['pbf']}")
        url = region["pbf"]
    elif source.startswith(("http://", "https://")):
        url = source
    else:
        url = ""
    if url:
        path, fresh = download(url, cache_dir, progress=progress)
        say(f"{'downloaded' if fresh else 'cached'}: {path}")
        origin = url
    elif source != "overpass":
        path = Path(source)
        if not path.is_file():
            raise NotFoundError(f"--source must be geofabrik, overpass, an http(s) URL or an existing .osm.pbf "
                                f"file, got {source!r}", field="source")
        check_pbf(path, url=str(path))
        origin = str(path.resolve())
    say(f"clipping to {area_name} and {margin / 1000:.1f} km around it ({settings.minutes:g} min of the fastest "
        f"of {', '.join(modes)})")
    net = Network.from_osm(path, name=name, settings=settings, clip=clip, source=origin)
    net.home_adcode, net.home = str(adcode), polygon
    out = Path(settings.networks_dir) / f"{name}.npz"
    net.save(out)
    entry = {"path": str(out), "area": area_name, "adcode": str(adcode), "source": origin,
             "region": None if region is None else region["id"], "osm_date": osm_date(path),
             "nodes": net.n_nodes, "edges": net.n_edges, "modes": list(modes), "margin_m": round(margin, 1),
             "licence": OSM_LICENCE, "registered_at": datetime.now().astimezone().isoformat(timespec="seconds")}
    register(settings, name, entry)
    return net, entry


__all__ = ["ADVICE", "check_pbf", "clip_area", "download", "fetch", "find_region", "margin_m",
           "region_index"]
