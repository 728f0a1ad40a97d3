"""The Content-Security-Policy of the app's pages and of a published static site, built here only.

A page of the web app (any ``text/html`` answer) is sent::

    default-src 'self'; script-src 'self' 'nonce-N'; style-src 'self' 'unsafe-inline';
    img-src 'self' data: <tile hosts>; object-src 'none'; base-uri 'none'; form-action 'self';
    frame-ancestors 'none'

``script-src``
    Every script is a file of the app's own (``static/``: Leaflet and its
    plugins are vendored there, ``static/vendor/README.md``; nothing loads from
    a CDN), except the one inline script of a map page: the code folium writes
    to build the map with the page's configuration.  That one carries the
    request's nonce (``N``, :func:`stationmap.web.auth.csp_nonce`, only when a
    template asked for it; a page without inline script gets
    ``script-src 'self'``).  A document whose bytes are fixed has no request to
    take a nonce from, so its inline scripts are allowed by their SHA-256
    (:func:`script_hashes`): a published site's ``index.html`` and the
    coverage map download.  No ``'unsafe-inline'``, no ``'unsafe-eval'``:
    nothing here makes code from strings, and no template has an inline event
    handler or ``javascript:`` URL.
``style-src 'self' 'unsafe-inline'``
    The templates have ``<style>`` blocks, and ``style=""`` attributes whose
    values come from the data (a kind's colour on the finder's chips and the
    station page); folium writes a ``<style>`` for the map, and the coverage
    map's legend, site markers and tooltips are HTML with ``style``
    attributes that Leaflet inserts.  Nonces cannot cover attributes (only
    ``'unsafe-hashes'`` with a hash per value could), so inline styles are
    allowed; a style runs no script, and every value in one is the app's
    own or escaped.  (Leaflet positions tiles and markers through the CSSOM,
    ``element.style``, which CSP does not restrict.)
``img-src 'self' data: <tile hosts>``
    The app's icons and Leaflet's images, and the tiles of the configured base
    maps, host by host (:func:`stationmap.maps.tiles.tile_hosts`: Amap and
    OpenStreetMap, Tianditu with a key).  ``data:`` because Leaflet sets a tile
    it stops loading to a 1x1 ``data:`` GIF (``Util.emptyImageUrl``), the
    locate button's icons are ``data:`` SVGs in
    ``L.Control.Locate.min.css``, and the coverage map download inlines
    Leaflet's images as ``data:`` PNGs.
``default-src 'self'``
    What else a page loads is the app's own: ``fetch()`` of the JSON API
    (connect-src), the builder's preview of ``/embed`` (frame-src), CSS, the
    finder's web app manifest (manifest-src) and service worker ``/sw.js``
    (worker-src, which falls back to script-src ``'self'``: a same-origin file,
    no nonce needed; tests/browser/test_offline_browser.py registers it under
    this policy).  A page the worker keeps for offline use keeps the policy
    (and nonce) it was sent with: the copy is served with its own headers.
``object-src 'none'; base-uri 'none'; form-action 'self'``
    No plugins; no ``<base href>`` (the embed's ``<base target>`` has no URL,
    which base-uri leaves alone); forms post to the app only.
``frame-ancestors``
    ``'none'``, except an embed: its district's allowlist
    (:func:`stationmap.publish.frame_ancestors`).  A ``<meta>`` policy cannot
    carry it (browsers ignore frame-ancestors there), so a published site's
    meta tag leaves it out (:meth:`Policy.meta`); the static host can send it
    as a header.

The JSON API keeps the minimal set (``frame-ancestors 'none'``,
:data:`stationmap.web.http.DENY_HEADERS`): a JSON answer runs nothing, and
the API is the hot path.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterable

from stationmap.maps.tiles import tile_hosts

#: a CSP host source as this module writes one: scheme://host[:port], nothing that ends a directive
_SOURCE = re.compile(r"^https?://[A-Za-z0-9.*-]+(:\d{1,5})?$")
#: an inline classic script of an HTML document: its attributes and text (what the browser hashes)
_SCRIPT = re.compile(r"<script\b([^>]*)>(.*?)</script\s*>", re.S | re.I)
_JS_TYPES = ("", "text/javascript", "application/javascript", "module")


class Policy:
    """The policy of one configuration (its tile hosts), the fixed directives joined once."""

    __slots__ = ("_tail", "img_hosts")

    def __init__(self, img_hosts: Iterable[str]) -> None:
        hosts = tuple(img_hosts)
        bad = [h for h in hosts if not _SOURCE.match(h)]
        if bad:
            raise ValueError(f"not a host source (scheme://host[:port]): {bad!r}")
        self.img_hosts = hosts
        self._tail = ("; style-src 'self' 'unsafe-inline'; img-src " + " ".join(("'self'", "data:", *hosts))
                      + "; object-src 'none'; base-uri 'none'; form-action 'self'")

    def header(self, *, nonce: str | None = None, hashes: Iterable[str] = (),
               frame_ancestors: Iterable[str] | None = ("'none'",)) -> str:
        """The policy: scripts from the app's origin and those with ``nonce`` or one of
        ``hashes`` (``sha256-...``); ``frame_ancestors`` (sources; empty: ``'none'``;
        None: no directive, as in a meta tag)."""
        script = "script-src 'self'"
        if nonce:
            script += f" 'nonce-{nonce}'"
        for h in hashes:
            script += f" '{h}'"
        out = f"default-src 'self'; {script}{self._tail}"
        if frame_ancestors is not None:
            out += "; frame-ancestors " + (" ".join(frame_ancestors) or "'none'")
        return out

    def meta(self, *, hashes: Iterable[str] = ()) -> str:
        """The policy of a ``<meta http-equiv="Content-Security-Policy">`` tag: no
        frame-ancestors (ignored there) and no nonce (a static file has no request)."""
        return self.header(hashes=hashes, frame_ancestors=None)


def for_base_maps(tianditu_key: str = "") -> Policy:
    """The policy of the base maps configured (``Settings.tianditu_key``)."""
    return Policy(tile_hosts(tianditu_key=tianditu_key))


def script_hashes(html: str) -> list[str]:
    """``sha256-...`` of each inline script of the HTML document ``html``, in order, once each.

    The hash is of the script's text as the browser reads it (line breaks
    normalised to LF); scripts with a ``src`` and data blocks
    (``type="application/json"``) are left out.
    """
    out: list[str] = []
    for m in _SCRIPT.finditer(html):
        attrs = m.group(1)
        if re.search(r"\bsrc\s*=", attrs, re.I):
            continue
        kind = re.search(r"""\btype\s*=\s*["']?([^"'\s>]*)""", attrs, re.I)
        if kind and kind.group(1).lower() not in _JS_TYPES:
            continue
        text = m.group(2).replace("\r\n", "\n").replace("\r", "\n")
        digest = base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii")
        h = f"sha256-{digest}"
        if h not in out:
            out.append(h)
    return out
