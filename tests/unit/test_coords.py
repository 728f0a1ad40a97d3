"""Datum conversions against values published by independent implementations."""

import numpy as np
import pytest
from pyproj import Geod

from stationmap import coords
from stationmap.errors import ValidationError

GEOD = Geod(ellps="WGS84")

# googollee/eviltransform go/transform_test.go: (wgs lat, wgs lng, gcj lat, gcj lng)
EVILTRANSFORM = [
    (31.1774276, 121.5272106, 31.17530398364597, 121.531541859215),  # Shanghai
    (22.543847, 113.912316, 22.540796131694766, 113.9171764808363),  # Shenzhen
    (39.911954, 116.377817, 39.91334545536069, 116.38404722455657),  # Beijing
]
# wandergis/coordtransform README, input (116.404, 39.915)
COORDTRANSFORM = {
    "bd09togcj02": (116.39762729119315, 39.90865673957631),
    "gcj02tobd09": (116.41036949371029, 39.92133699351021),
    "wgs84togcj02": (116.41024449916938, 39.91640428150164),
}


def metres(lon1, lat1, lon2, lat2):
    return GEOD.inv(lon1, lat1, lon2, lat2)[2]


@pytest.mark.parametrize("wlat,wlon,glat,glon", EVILTRANSFORM)
def test_wgs84_to_gcj02_matches_eviltransform(wlat, wlon, glat, glon):
    lon, lat = coords.wgs84_to_gcj02(wlon, wlat)
    assert metres(lon, lat, glon, glat) < 0.01


@pytest.mark.parametrize("wlat,wlon,glat,glon", EVILTRANSFORM)
def test_gcj02_inverse_is_exact_to_half_a_metre(wlat, wlon, glat, glon):
    lon, lat = coords.gcj02_to_wgs84(glon, glat)
    assert metres(lon, lat, wlon, wlat) < 0.5
    # the one-step inverse (what many libraries ship) is metres off: ours is not it
    dlon, dlat = np.subtract(coords.wgs84_to_gcj02(glon, glat), (glon, glat))
    one_step = (glon - dlon, glat - dlat)
    assert metres(*one_step, wlon, wlat) > metres(lon, lat, wlon, wlat)


def test_coordtransform_published_values():
    assert metres(*coords.wgs84_to_gcj02(116.404, 39.915), *COORDTRANSFORM["wgs84togcj02"]) < 0.01
    assert metres(*coords.gcj02_to_bd09(116.404, 39.915), *COORDTRANSFORM["gcj02tobd09"]) < 0.01
    # Baidu's published BD-09 -> GCJ-02 is a one-step approximation; ours iterates, so within 0.5 m
    assert metres(*coords.bd09_to_gcj02(116.404, 39.915), *COORDTRANSFORM["bd09togcj02"]) < 0.5


def test_shift_is_hundreds_of_metres_in_jiangsu():
    lon, lat = 119.95, 31.78  # Changzhou
    for f in (coords.wgs84_to_gcj02, coords.wgs84_to_bd09):
        d = metres(lon, lat, *f(lon, lat))
        assert 300 < d < 1500


def test_outside_china_passes_through():
    for lon, lat in [(2.35, 48.85), (-74.0, 40.7), (139.7, 35.7)]:  # Paris, New York, Tokyo
        assert coords.wgs84_to_gcj02(lon, lat) == (lon, lat)
        assert coords.gcj02_to_wgs84(lon, lat) == (lon, lat)


def test_vectorised_round_trips_under_a_centimetre():
    rng = np.random.default_rng(7)
    lon = rng.uniform(74, 134, 2000)
    lat = rng.uniform(19, 53, 2000)
    for fwd, inv in [(coords.wgs84_to_gcj02, coords.gcj02_to_wgs84),
                     (coords.wgs84_to_bd09, coords.bd09_to_wgs84),
                     (coords.gcj02_to_bd09, coords.bd09_to_gcj02)]:
        blon, blat = fwd(lon, lat)
        assert blon.shape == lon.shape
        rlon, rlat = inv(blon, blat)
        assert np.max(metres(rlon, rlat, lon, lat)) < 0.01


def test_scalar_in_scalar_out():
    out = coords.wgs84_to_gcj02(120.0, 31.0)
    assert isinstance(out[0], float) and isinstance(out[1], float)


def test_scalar_path_equals_the_array_path():
    """One point (Python floats) takes a math-module path; it must give what the arrays give,
    inside China, outside it and on the edges of its box."""
    rng = np.random.default_rng(3)
    lon = np.concatenate([rng.uniform(60, 150, 3000), [72.004, 137.8347, 72.0039, 137.8348, 105.0]])
    lat = np.concatenate([rng.uniform(-5, 60, 3000), [0.8293, 55.8271, 0.8292, 55.8272, 35.0]])
    for fn in (coords.wgs84_to_gcj02, coords.gcj02_to_bd09):
        alon, alat = fn(lon, lat)
        one = np.array([fn(float(x), float(y)) for x, y in zip(lon, lat)])
        np.testing.assert_allclose(one[:, 0], alon, rtol=0, atol=1e-12)
        np.testing.assert_allclose(one[:, 1], alat, rtol=0, atol=1e-12)
        assert all(type(v) is float for v in fn(120.5, 31.3))


@pytest.mark.parametrize("bad", ["utm", "", None, "EPSG:3857"])
def test_unknown_datum_names_the_allowed_ones(bad):
    with pytest.raises(ValidationError, match="wgs84"):
        coords.check_datum(bad)


def test_datum_aliases():
    assert coords.check_datum("GCJ-02") == "gcj02"
    assert coords.check_datum("baidu") == "bd09"
    assert coords.to_wgs84(*coords.from_wgs84(120.5, 31.3, "bd09"), "bd09") == pytest.approx((120.5, 31.3), abs=1e-8)
