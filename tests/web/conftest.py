"""Fixtures of the web tests: an app over a temporary database with known stations."""

from __future__ import annotations

import pytest

from tests.support.webforms import make_app


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


@pytest.fixture(scope="module")
def ro_app(tmp_path_factory, web_stations_builder):
    """One app per test module over the known stations, for tests that never write."""
    return make_app(tmp_path_factory.mktemp("web-ro"), web_stations_builder())


@pytest.fixture
def ro_client(ro_app):
    return ro_app.test_client()
