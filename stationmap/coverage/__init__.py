"""Coverage: how far is every part of a district from a station, and how many are in reach.

The question planners ask (the "双15" target): is every outdoor worker within
15 minutes of a station, and within 15 minutes of two (cross-coverage)?

How it works
------------
1. **A grid** over the study area (:func:`make_grid`): square cells of
   ``cell_m`` metres (default 250) laid out in a metric projection (the UTM
   zone of the area, :func:`stationmap.coords.utm_crs_for`), or H3 hexagons.
   A cell belongs to the district that contains its centre, so every place
   is in exactly one cell and one district.  Square cells are anchored at
   multiples of ``cell_m`` in their UTM zone, so grids of neighbouring
   districts in one zone line up.  ``area_m2`` is a cell's area in the UTM
   plane (within 0.2 % of the ellipsoidal area inside a zone).
2. **Minutes to the nearest station and stations in reach**, for each cell
   and each station kind, by one of two methods:

   * ``"circle"``: straight-line distance times :data:`~stationmap.config.DETOUR_FACTOR`
     at the mode's speed.  Distances are the straight (chord) distances
     between the points' ECEF positions in metres, which equal geodesic
     distances to under 1 mm at 15 km (see :mod:`stationmap.index`), so the
     result does not depend on the projection.
   * ``"network"``: travel time on a road graph (:mod:`stationmap.network`);
     a cell is reached through the road node nearest its centre, the walk
     from the centre to that node (and from a station to its node) counted
     as a straight line at the mode's speed.  Cells farther than
     ``max_snap_m`` from any road are unreachable.

   Minutes are reported up to a **horizon** (default four times the threshold);
   beyond it a cell's minutes are ``inf``.  The horizon is also the margin
   by which partitions of a large run overlap (:func:`analyse_many`), which
   is why a partitioned run equals a serial one exactly.
3. **Demand** per cell (:func:`spread_population` and friends): the census
   population of each district (``data/census``, 2020) spread over the
   district's cells by a proxy: road length in the cell where a road
   network covers the area (outdoor workers work on roads), the cell's area
   otherwise.  Any other demand layer (points or polygons with a weight)
   can be supplied instead (:func:`demand_from_points`,
   :func:`demand_from_polygons`), or a population raster in any CRS whose pixels are
   shared among the cells by overlapping area (:func:`demand_from_raster`).  A raster
   saved for a district in the instance (:func:`save_demand_layer`) is that district's
   default on the page, the API and the CLI.
   What a run assumed (speed, detour factor and radius or network, minutes, moment,
   demand and how it was spread, cells, sample data) is :func:`assumptions`, stated
   in every output.
4. **Figures** (:meth:`Coverage.stats`): per district and kind, stations,
   area and demand covered once and twice, median and 95th-percentile
   minutes.  **Gaps** (:meth:`Coverage.gaps`): connected uncovered areas
   (cells sharing an edge), ranked by uncovered demand.  **Sites**: see
   :mod:`stationmap.siting`.
5. **When** (issue 15): a run counts every station but the closed ones, whatever
   their hours; ``analyse(..., at=moment)`` counts only those open at that moment
   (and with ``services``, offering them while available):
   :func:`~stationmap.coverage.minutes.counted_stations`.  :func:`time_profile`
   gives the figures at each hour of a week or on one day of each month, and the
   night, winter and summer figures.

Every coordinate in and out is WGS-84 lon/lat in degrees; distances are metres.

The package
    :mod:`~stationmap.coverage.params` limits, defaults and checks of a run;
    :mod:`~stationmap.coverage.areas` study areas and projection helpers;
    :mod:`~stationmap.coverage.grid` grids; :mod:`~stationmap.coverage.minutes` the two
    methods (the network one over :mod:`stationmap.network.matrix`);
    :mod:`~stationmap.coverage.demand` demand per cell; :mod:`~stationmap.coverage.analysis`
    :func:`analyse` and :class:`Coverage`; :mod:`~stationmap.coverage.dask` partitioned runs;
    :mod:`~stationmap.coverage.profile` coverage over a week or a year (:func:`time_profile`).
    Tables, charts and the written outputs of a run are in :mod:`stationmap.planning`, which
    imports this package and :mod:`stationmap.siting`; this package imports neither.
"""

from stationmap.coverage.analysis import Coverage, analyse, records, weighted_percentile
from stationmap.coverage.areas import (
    Area,
    check_unique,
    default_network,
    default_network_for,
    geometry_to_metric,
    geometry_to_wgs84,
    network_extent,
    points_in,
    resolve_areas,
    to_metric,
    to_wgs84,
)
from stationmap.coverage.assumptions import (
    DEMAND_SPREADS,
    assumption_lines,
    assumptions,
    even_over_area,
    run_assumptions,
)
from stationmap.coverage.dask import (
    ManyResult,
    analyse_many,
    margin_m,
    partition_stations,
    run_partition,
    run_partitions,
)
from stationmap.coverage.demand import (
    RASTER_SUFFIXES,
    PopulationRaster,
    demand_from_frame,
    demand_from_points,
    demand_from_polygons,
    demand_from_raster,
    is_raster,
    people_within,
    read_points,
    remove_demand_layer,
    road_length_per_cell,
    save_demand_layer,
    saved_demand_layer,
    saved_demand_layers,
    spread_population,
)
from stationmap.coverage.grid import Grid, crs_for, h3_resolution_for, locate_cells, make_grid
from stationmap.coverage.minutes import (
    StationArrays,
    circle_minutes,
    counted_stations,
    network_minutes,
    network_reach,
)
from stationmap.coverage.params import (
    DEFAULT_CELL_M,
    DEMAND_PROXIES,
    HORIZON_FACTOR,
    METHODS,
    MINUTE_BANDS,
    SHAPES,
    check_cell_m,
    check_kind_list,
    check_minutes,
    check_mode,
    horizon_for,
    reach_m,
    speed_m_per_min,
)
from stationmap.coverage.profile import Profile, moments_for, time_profile, week_moments, year_moments
from stationmap.network.matrix import node_minutes

__all__ = [
    "DEFAULT_CELL_M", "DEMAND_PROXIES", "DEMAND_SPREADS", "HORIZON_FACTOR", "METHODS", "MINUTE_BANDS",
    "RASTER_SUFFIXES", "SHAPES", "Area", "Coverage", "Grid", "ManyResult", "PopulationRaster", "Profile",
    "StationArrays", "analyse", "analyse_many", "assumption_lines", "assumptions", "check_cell_m", "check_kind_list",
    "check_minutes", "check_mode", "check_unique", "circle_minutes", "counted_stations", "crs_for",
    "default_network", "default_network_for", "demand_from_frame", "demand_from_points", "demand_from_polygons",
    "demand_from_raster", "even_over_area", "geometry_to_metric", "geometry_to_wgs84", "h3_resolution_for",
    "horizon_for", "is_raster", "locate_cells", "make_grid", "margin_m", "moments_for", "network_extent",
    "network_minutes", "network_reach", "node_minutes", "partition_stations", "people_within", "points_in",
    "reach_m", "read_points",
    "records", "remove_demand_layer", "resolve_areas", "road_length_per_cell", "run_assumptions", "run_partition",
    "run_partitions", "save_demand_layer", "saved_demand_layer", "saved_demand_layers", "speed_m_per_min",
    "spread_population", "time_profile", "to_metric", "to_wgs84", "week_moments", "weighted_percentile",
    "year_moments",
]
