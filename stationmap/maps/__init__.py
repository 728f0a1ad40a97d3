"""folium map builders: the courier finder, datum-aware base maps, icons per kind.

The library builds maps from data; the web layer renders them.  Coordinates
given to a builder are WGS-84; tiles are chosen at the drawing step, in the
datum they need (see :mod:`stationmap.maps.tiles`).
"""

from stationmap.maps.finder import MapParts, finder_map, render_parts  # noqa: F401
from stationmap.maps.icons import KEY_SERVICES, KIND_COLORS, kind_icon, primary_kind, service_icon  # noqa: F401
from stationmap.maps.tiles import BASEMAPS, Basemap, basemaps  # noqa: F401
