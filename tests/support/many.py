"""Many synthetic stations in one district (a publish or an embed of more than FINDER_TILES_FROM
stations, issue 16): the same kinds, services and hours mix, reproducible by seed."""

from __future__ import annotations

import random

from stationmap.model import KINDS, SERVICES, Station

#: 钟楼区 (Changzhou) and a point near its middle; 天宁区 beside it, whose stations near the border are its neighbours
DISTRICT, CENTRE = "320404", (119.925, 31.785)
NEIGHBOUR, NEIGHBOUR_AT = "320402", (119.985, 31.79)
HOURS = ["24/7", "Mo-Fr 08:00-18:00", "Mo-Su 07:00-22:00", "Sa-Su 09:00-17:00", "Mo-Fr 09:00-17:00"]


def many_in_district(n: int, *, seed: int = 16, neighbours: int = 40) -> list[Station]:
    """``n`` stations of :data:`DISTRICT` around :data:`CENTRE` (sigma ~2 km), and ``neighbours``
    stations of :data:`NEIGHBOUR` close to the border; a few closed ones (never published)."""
    rng = random.Random(seed)
    out = []
    for i in range(n + neighbours):
        own = i < n
        lon0, lat0 = CENTRE if own else NEIGHBOUR_AT
        sd = 0.02 if own else 0.004
        out.append(Station(id=f"p-{i:06d}", name=f"驿站{i}", lon=round(lon0 + rng.gauss(0, sd), 6),
                           lat=round(lat0 + rng.gauss(0, sd), 6), adcode=DISTRICT if own else NEIGHBOUR,
                           kinds=tuple(rng.sample(list(KINDS), rng.choice([1, 1, 2]))),
                           services=tuple(rng.sample(list(SERVICES), rng.randint(0, 4))),
                           opening_hours=rng.choice(HOURS), source="sample",
                           status="active" if i % 97 else ("temporarily_closed" if i % 2 else "closed")))
    return out
