"""Shared fixtures.  Helpers for building small stores and apps."""

from __future__ import annotations

import pytest

from stationmap.model import Station


@pytest.fixture
def db_url(tmp_path):
    """A fresh SQLite database URL in a temporary folder."""
    return f"sqlite:///{tmp_path}/stationmap.sqlite"


@pytest.fixture
def make_station():
    """Factory for valid stations with defaults (WGS-84, Changzhou)."""

    def _make(id="t-1", name="测试驿站", lon=119.95, lat=31.78, **kw):
        return Station(id=id, name=name, lon=lon, lat=lat, **kw)

    return _make


#: the name of the station that proves stored text is escaped (web and browser tests)
XSS_NAME = "<img src=x onerror=alert(1)>"
#: a WGS-84 point whose nearest station (of the web_stations set) is the XSS one
WEB_QUERY_POINT = (119.9590, 31.7890)


def build_web_stations() -> list:
    """The known stations of the web and browser tests (WGS-84, around Changzhou).

    72 generated ones (fixed seed: mixed kinds, services, hours, statuses,
    sample and non-sample) and special cases: ``xss`` (named :data:`XSS_NAME`,
    the nearest to :data:`WEB_QUERY_POINT`), ``closed-near`` (closed, even
    nearer), ``office-hours`` (Mo-Fr 09:00-17:00).
    """
    import random
    from datetime import date

    from stationmap.model import KINDS, SERVICES

    rng = random.Random(20240501)
    kinds = list(KINDS)
    services = list(SERVICES)
    hours = ["24/7", "Mo-Fr 08:00-18:00", "Mo-Su 07:00-22:00", "Mo-Sa 09:00-12:00,14:00-20:00"]
    out = [
        Station(id="xss", name=XSS_NAME, lon=119.9600, lat=31.7900, kinds=("rest",),
                services=("drinking_water", "toilet", "microwave"), address='<script>alert("addr")</script>',
                adcode="320402", opening_hours="24/7", source="sample", verified_at=date(2024, 5, 1)),
        Station(id="closed-near", name="已关闭驿站", lon=119.9591, lat=31.7891, kinds=("rest",),
                services=("drinking_water",), adcode="320402", status="closed", source="test"),
        Station(id="office-hours", name="工作日驿站", lon=119.9625, lat=31.7925, kinds=("rest", "legal_aid"),
                services=("legal_aid", "toilet"), adcode="320402", opening_hours="Mo-Fr 09:00-17:00",
                source="test"),
    ]
    adcodes = ["320402", "320404", "320411", "320412"]
    for i in range(72):
        k = rng.sample(kinds, rng.choice([1, 1, 1, 2]))
        out.append(Station(
            id=f"w-{i:03d}", name=f"测试站点{i:03d}", lon=round(119.90 + rng.random() * 0.14, 6),
            lat=round(31.74 + rng.random() * 0.10, 6), kinds=tuple(k),
            services=tuple(rng.sample(services, rng.randint(0, 6))),
            adcode=adcodes[i % len(adcodes)], opening_hours=rng.choice(hours),
            status="temporarily_closed" if i % 17 == 5 else "active",
            source="sample" if i % 3 == 0 else "test",
            verified_at=date(2024, 1 + i % 12, 1 + i % 28) if i % 4 else None,
        ))
    return out


@pytest.fixture
def web_stations():
    """A fresh list of :func:`build_web_stations`."""
    return build_web_stations()


@pytest.fixture(scope="session")
def web_stations_builder():
    """:func:`build_web_stations` itself, for fixtures of a wider scope."""
    return build_web_stations


@pytest.fixture
def web_query_point():
    """:data:`WEB_QUERY_POINT`: (lon, lat) WGS-84, nearest to the XSS station."""
    return WEB_QUERY_POINT


@pytest.fixture
def xss_name():
    """:data:`XSS_NAME`."""
    return XSS_NAME
