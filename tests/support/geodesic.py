"""Independent geodesic reference for tests: pyproj.Geod, every pair."""

from __future__ import annotations

import numpy as np
from pyproj import Geod

GEOD = Geod(ellps="WGS84")


def geod_matrix(lon1, lat1, lon2, lat2) -> np.ndarray:
    """Every-to-every geodesic distances in metres, shape (len1, len2)."""
    a = np.repeat(np.asarray(lon1, float), len(lon2))
    b = np.repeat(np.asarray(lat1, float), len(lon2))
    c = np.tile(np.asarray(lon2, float), len(lon1))
    d = np.tile(np.asarray(lat2, float), len(lon1))
    return GEOD.inv(a, b, c, d)[2].reshape(len(lon1), len(lon2))
