"""Reading and writing station files (importers, exporters) and the sample-data generator.

* :func:`import_file` / :func:`parse_stations`: CSV, XLSX, GeoJSON, GeoPackage
  -> validated WGS-84 stations -> the store, in one transaction
  (:mod:`stationmap.io.importer`; header names in :mod:`stationmap.io.readers`).
* :func:`write_stations` / :func:`export_file` / :func:`stations_to_geojson`:
  the same formats out, in WGS-84, GCJ-02 or BD-09 (:mod:`stationmap.io.writers`).
"""

from stationmap.io.importer import ImportResult, import_file, parse_stations  # noqa: F401
from stationmap.io.readers import FORMATS, HEADER_ALIASES, FileProblem, read_table  # noqa: F401
from stationmap.io.writers import COLUMNS, export_file, stations_to_geojson, write_stations  # noqa: F401
