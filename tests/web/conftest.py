"""Fixtures of the web tests: an app over a temporary database with known stations."""

from __future__ import annotations

import pytest

from stationmap.model import Station
from tests.support.webforms import TN, ZL, add_users, make_app, use_fast_hasher


@pytest.fixture
def make_web_app(tmp_path_factory):
    """Factory: ``make_web_app(stations, **config)`` -> an app over a fresh database."""

    def make(stations, **config):
        return make_app(tmp_path_factory.mktemp("web"), stations, **config)

    return make


@pytest.fixture
def app(make_web_app, web_stations):
    """The app over the known stations of ``build_web_stations`` (tests/conftest.py)."""
    return make_web_app(web_stations)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def store(app):
    """The store of the test's ``app``."""
    return app.extensions["stationmap"].store


@pytest.fixture
def two_district_app(make_web_app, monkeypatch):
    """An app over a station in Zhonglou (``zl-1``, 320404) and one in Tianning (``tn-1``, 320402),
    with the test users (:func:`~tests.support.webforms.add_users`: an editor of each district, the
    city union, an admin) and the fast password hasher: the editors' tests."""
    use_fast_hasher(monkeypatch)
    app = make_web_app([
        Station(id="zl-1", name="钟楼测试驿站", lon=ZL[0], lat=ZL[1], adcode="320404", kinds=("rest",)),
        Station(id="tn-1", name="天宁测试驿站", lon=TN[0], lat=TN[1], adcode="320402", kinds=("rest",)),
    ])
    add_users(app.extensions["stationmap"].store)
    return app


@pytest.fixture(scope="module")
def ro_app(tmp_path_factory, web_stations_builder):
    """One app per test module over the known stations, for tests that never write."""
    return make_app(tmp_path_factory.mktemp("web-ro"), web_stations_builder())


@pytest.fixture
def ro_client(ro_app):
    return ro_app.test_client()
