"""Road networks: OpenStreetMap roads as a travel-time graph per mode.

A :class:`Network` is built once from an OpenStreetMap ``.osm.pbf`` / ``.osm``
file (read with osmium) or from a GeoPackage road graph (layers ``nodes`` and
``edges``, as ``data/roads/sip_roads.gpkg``), and compiled into a compact
``.npz`` file that loads in milliseconds (``stationmap network build``).

The graph
    Nodes are WGS-84 points.  Every edge is a **straight segment** between two
    nodes (an OpenStreetMap way is split at each of its nodes), so a partly
    travelled edge is cut exactly, and the geometry needs no other arrays.
    Lengths are geodesic metres (pyproj.Geod).  Two edges joining the same two
    nodes are kept apart by a node at the middle of the second one, so the
    graph is simple.  Only the largest connected piece is kept (fragments cut
    off at the edge of an extract would trap whoever is snapped onto them).

Modes and their rules (speeds from :mod:`stationmap.config`, applied at load,
so changing a speed needs no rebuild)

    ========= ============================================ =========================
    mode      roads                                        speed
    ========= ============================================ =========================
    walk      every class except motorway                  ``speeds_kmh["walk"]``
    bike      every class except motorway and steps;       ``speeds_kmh["bike"]``;
              keeps to one-way streets (see below)         walking speed on footway
                                                           and pedestrian (pushed)
    ebike     as bike                                      ``speeds_kmh["ebike"]``
    car       classes with a car speed; one-way respected  ``car_speeds_kmh[class]``
    ========= ============================================ =========================

    OpenStreetMap ``access``, ``foot``, ``bicycle``, ``motor_vehicle``,
    ``motorcar`` and ``vehicle`` tags close or open a way per mode;
    One-way streets: :data:`~stationmap.network.osm.ONEWAY_RULES` is the one
    table of which tags bind and open each mode (cars, bikes and e-bikes keep
    to ``oneway``, roundabouts and ``oneway=-1``; contraflow cycle lanes and
    ``oneway:bicycle=no`` open a street to riders; walkers only to
    ``oneway:foot``).  E-bikes are non-motor vehicles (非机动车) in China and
    follow the ``bicycle`` tags.  The GeoPackage graph has no one-way or access
    information, so on it every road is two-way for every mode and the network
    says so (``oneway_known`` False; every answer using it carries
    ``oneway_respected: false``).

Searches run :func:`scipy.sparse.csgraph.dijkstra` with ``limit`` on a CSR
matrix per mode.  The matrix has one extra "virtual" node whose two arcs are
set, per query, to the two ends of the edge the query point snapped onto, so a
search starts from the exact point on the road without copying the graph.
The same with every arc turned round (:meth:`Network.reverse`, :meth:`Network.search_to`) gives
every node's time *to* a point: the stations along a route (:mod:`stationmap.along`) take one
search from the start and one to the destination.
Searches that need times at junctions only (isochrones) run on a contracted
copy (:meth:`Network.core`, :meth:`Network.search_core`): the middle nodes of
two-way chains are taken out and each chain becomes one arc, so Dijkstra
visits junctions only (half of SIP's nodes) and finds the same times there.

Every coordinate in and out is WGS-84 (lon, lat in degrees); distances are
metres and times seconds unless a name says otherwise.  Geometry work happens
in the UTM zone of the network's centre (:func:`stationmap.coords.utm_crs_for`);
many points go back to WGS-84 through polynomials fitted to pyproj over the
network's extent (:meth:`Network.to_lonlat_fast`, error below 1 mm).

The package
    :mod:`~stationmap.network.osm` road classes, access rules, OpenStreetMap tags and building;
    :mod:`~stationmap.network.graph` the :class:`Network` class, its mode graphs and contracted
    cores, the compiled file; :mod:`~stationmap.network.snapping` snapping points onto the roads
    and the coordinate transforms; :mod:`~stationmap.network.search` the searches from a snapped
    point and their compiled kernels; :mod:`~stationmap.network.matrix` the many-to-many searches
    of coverage; :mod:`~stationmap.network.loader` the one loader and cache of networks (used by
    the app, the CLI and coverage; it adds the networks of :mod:`~stationmap.network.registry`,
    those ``stationmap network fetch`` registered for the instance); :mod:`~stationmap.network.fetch`
    fetching, clipping and building a district's roads from OpenStreetMap.  Outside this
    package, only :mod:`stationmap.reach` reads a mode graph's arrays (its real arcs, to draw
    isochrones); nothing reads its virtual node.
"""

from stationmap.network.graph import FORMAT, Network
from stationmap.network.loader import load_networks, open_network
from stationmap.network.matrix import cell_minutes, node_minutes, reach_matrix, reverse_graph, snap_points
from stationmap.network.osm import (
    CLOSED,
    NOT_ROUTABLE,
    ONEWAY_RULES,
    PUSHED,
    ROAD_CLASSES,
    class_access,
    mode_oneway,
    road_class,
    tag_access,
)
from stationmap.network.snapping import Snap

__all__ = [
    "CLOSED", "FORMAT", "NOT_ROUTABLE", "ONEWAY_RULES", "PUSHED", "ROAD_CLASSES", "Network", "Snap", "cell_minutes",
    "class_access", "load_networks", "mode_oneway", "node_minutes", "open_network", "reach_matrix", "reverse_graph",
    "road_class", "snap_points", "tag_access",
]
