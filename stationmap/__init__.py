"""stationmap: find, map and plan rest stations for outdoor workers (工会驿站).

Coordinates are stored and returned in WGS-84 unless a function says otherwise;
see :mod:`stationmap.coords` for GCJ-02 (Amap, Tencent, WeChat) and BD-09 (Baidu).
"""

__version__ = "0.1.0"

from stationmap.errors import (  # noqa: F401
    ConfigError,
    ConflictError,
    ImportReportError,
    NotFoundError,
    StationmapError,
    ValidationError,
)
