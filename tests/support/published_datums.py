"""Datum conversions published by independent implementations (not computed by stationmap):
the datum tests of coords (tests/unit/test_coords.py) and of the navigation links
(tests/unit/test_nav_in_app.py) check against them."""

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
