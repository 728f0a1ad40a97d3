"""Stations on both sides of the 钟楼区 (320404) / 天宁区 (320402) border, for the scope and
none-within tests (issue 20): one a district's own, one 280 m across the border (a neighbour),
one 4.7 km across (beyond the 3.1 km reach), and the only hot-tea point, a neighbour 2.2 km across:
6.9 km (27 minutes by e-bike) from :data:`WEST_POINT`."""

from __future__ import annotations

from stationmap.model import Station

#: a point in 钟楼区 300 m from the border with 天宁区 (WGS-84 lon, lat)
BORDER_POINT = (119.9391, 31.7689)
#: a point in the west of 钟楼区, 4.7 km from that border: no hot-tea point within 15 minutes
WEST_POINT = (119.8921, 31.7689)


def border_stations() -> list[Station]:
    return [
        Station(id="own", name="钟楼边界驿站", lon=119.9391, lat=31.76915, kinds=("rest",), adcode="320404",
                opening_hours="24/7", source="test"),
        Station(id="own-2", name="钟楼西驿站", lon=119.8921, lat=31.76915, kinds=("rest",), adcode="320404",
                opening_hours="24/7", source="test"),
        Station(id="near", name="天宁边界驿站", lon=119.9451, lat=31.76915, kinds=("rest",), adcode="320402",
                opening_hours="24/7", source="test"),
        Station(id="far", name="天宁远驿站", lon=119.9921, lat=31.76915, kinds=("rest",), adcode="320402",
                opening_hours="24/7", source="test"),
        Station(id="tea", name="天宁热茶点", lon=119.9651, lat=31.76915, kinds=("hot_tea",), adcode="320402",
                opening_hours="24/7", source="test"),
    ]
