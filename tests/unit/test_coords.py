"""Datum conversions against values published by independent implementations."""

import numpy as np
import pytest
from pyproj import Geod

from stationmap import coords
from stationmap.coords import bd09_to_wgs84, gcj02_to_wgs84, parse_point_text, to_wgs84
from stationmap.errors import PointTextError, ValidationError
from tests.support.published_datums import COORDTRANSFORM, EVILTRANSFORM

GEOD = Geod(ellps="WGS84")


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


# ---- parse_point_text: typed or pasted coordinates and share links (issue 20) ----------------------

_LON, _LAT = 120.7, 31.3


def _close(p, lon, lat):
    return abs(p.lon - lon) < 1e-9 and abs(p.lat - lat) < 1e-9


@pytest.mark.parametrize(("text", "source", "datum", "order"), [
    ("https://uri.amap.com/marker?position=120.7,31.3&name=%E9%A9%BF%E7%AB%99&src=x", "amap", "gcj02", "lonlat"),
    ("https://ditu.amap.com/regeo?lng=120.7&lat=31.3&name=x", "amap", "gcj02", "lonlat"),
    ("https://uri.amap.com/navigation?to=120.7,31.3,%E9%A9%BF%E7%AB%99&mode=walk", "amap", "gcj02", "lonlat"),
    ("https://ditu.amap.com/?p=B0FFG5V2Q3,31.3,120.7,name,addr", "amap", "gcj02", "latlon"),
    ("uri.amap.com/marker?position=120.7,31.3", "amap", "gcj02", "lonlat"),
    ("https://uri.amap.com/marker?position=120.7,31.3&coordinate=wgs84", "amap", "wgs84", "lonlat"),
    ("https://api.map.baidu.com/marker?location=31.3,120.7&title=a&content=b&output=html&coord_type=bd09ll",
     "baidu", "bd09", "latlon"),
    ("https://api.map.baidu.com/marker?location=31.3,120.7&output=html", "baidu", "bd09", "latlon"),
    ("https://api.map.baidu.com/geocoder?latlng=31.3,120.7&output=html", "baidu", "bd09", "latlon"),
    ("https://api.map.baidu.com/marker?location=31.3,120.7&coord_type=gcj02&output=html", "baidu", "gcj02",
     "latlon"),
    ("https://api.map.baidu.com/marker?location=31.3,120.7&coord_type=wgs84&output=html", "baidu", "wgs84",
     "latlon"),
    ("https://api.map.baidu.com/direction?destination=latlng:31.3,120.7|name:x&mode=walking", "baidu", "bd09",
     "latlon"),
])
def test_share_links_are_read_in_their_own_datum(text, source, datum, order):
    p = parse_point_text(text, datum="wgs84")  # the link's datum, not the form's
    assert (p.source, p.datum, p.order, p.given) == (source, datum, order, (_LON, _LAT))
    assert _close(p, *to_wgs84(_LON, _LAT, datum))
    if datum == "gcj02":
        assert _close(p, *gcj02_to_wgs84(_LON, _LAT))
    elif datum == "bd09":
        assert _close(p, *bd09_to_wgs84(_LON, _LAT))
    else:
        assert _close(p, _LON, _LAT)


@pytest.mark.parametrize(("text", "order"), [
    ("31.3, 120.7", "latlon"), ("120.7,31.3", "lonlat"), ("31.3 120.7", "latlon"), ("120.7，31.3", "lonlat"),
    ("  N31.3  E120.7 ", "latlon"), ("(120.7; 31.3)", "lonlat"),
])
@pytest.mark.parametrize("datum", ["wgs84", "gcj02", "bd09"])
def test_two_numbers_in_either_order_in_the_chosen_datum(text, order, datum):
    p = parse_point_text(text, datum=datum)
    assert (p.source, p.datum, p.order, p.given) == ("text", datum, order, (_LON, _LAT))
    assert _close(p, *to_wgs84(_LON, _LAT, datum))
    assert (p.lon != _LON) == (datum != "wgs84")


@pytest.mark.parametrize(("text", "reason", "words"), [
    ("", "empty", "type or paste"),
    ("   ", "empty", "type or paste"),
    ("120.7", "no_numbers", "two numbers"),
    ("驿站在这里", "no_numbers", "two numbers"),
    ("33.5, 160.5", "outside_china", "not a point in China"),
    ("-31.3, -120.7", "outside_china", "not a point in China"),
    ("https://uri.amap.com/marker?name=x", "link_without_point", "names no point"),
    ("https://surl.amap.com/3Xb7cd", "short_link", "short Amap link"),
    ("https://api.map.baidu.com/marker?location=3480000,13430000&coord_type=bd09mc", "mercator", "Mercator"),
    ("https://api.map.baidu.com/marker?title=x", "link_without_point", "names no point"),
    ("https://example.org/?q=31.3,120.7", "link_without_point", "not read"),
    ("1" * 3000, "too_long", "at most"),
])
def test_bad_text_gives_a_clear_message(text, reason, words):
    with pytest.raises(PointTextError) as err:
        parse_point_text(text)
    assert err.value.reason == reason and words in err.value.message and err.value.field == "text"
    assert err.value.http_status == 400


def test_an_unknown_datum_is_refused():
    with pytest.raises(ValidationError, match="datum"):
        parse_point_text("31.3, 120.7", datum="mars")
