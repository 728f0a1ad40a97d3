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
