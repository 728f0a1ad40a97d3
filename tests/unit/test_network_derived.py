"""What a server derives from a network is kept on disk and read back at the next start (issue 21):
the same answers, none of it built again; a new file, other speeds or a damaged cache are never
served from the old one."""

from __future__ import annotations

import os
import shutil
import stat

import numpy as np
import pytest

from stationmap import config
from stationmap.index import StationIndex
from stationmap.model import Station
from stationmap.network import load_networks, loader
from stationmap.network.graph import Network
from stationmap.reach import isochrone, prepare, rank_stations

SIP = config.PACKAGE_DIR.parent / "data" / "roads" / "sip.npz"
POINT = (120.72, 31.32)


@pytest.fixture
def settings(tmp_path):
    npz = tmp_path / "sip.npz"
    shutil.copyfile(SIP, npz)
    loader._CACHE.clear()
    yield config.load({"instance_path": str(tmp_path / "instance"), "networks": {"sip": str(npz)}})
    loader._CACHE.clear()


def _start(settings):
    loader._CACHE.clear()                  # (a new process)
    nets = load_networks(settings)
    prepare(nets)
    return nets


def _answers(nets, settings):
    idx = StationIndex.from_stations([Station(id=f"s{i}", name="s", lon=POINT[0] + 0.004 * i, lat=POINT[1] - 0.003 * i)
                                      for i in range(5)])
    iso = isochrone(*POINT, 12, "ebike", network=nets, settings=settings)
    ranked = rank_stations(nets, idx, *POINT, mode="car", k=5, settings=settings)
    return iso.polygon.wkb, iso.area_km2, [(s.station.id, round(s.minutes, 9)) for s in ranked.stations]


def test_a_later_start_reads_it_back_and_answers_the_same(settings, monkeypatch):
    first = _start(settings)
    file = first["sip"].cache_file
    assert file is not None and file.is_file() and stat.S_IMODE(file.stat().st_mode) == 0o600
    want = _answers(first, settings)

    def never(*a, **k):
        raise AssertionError("built again")
    monkeypatch.setattr(Network, "_build_mode", never)
    monkeypatch.setattr(Network, "_build_core", never)
    second = _start(settings)
    assert second["sip"] is not first["sip"] and second["sip"].cache_file == file
    assert _answers(second, settings) == want
    g = second["sip"].graph("walk")
    assert g.lock is not None and g.core is not None and g.grid is not None


def test_a_new_file_or_other_speeds_make_a_new_cache(settings):
    a = _start(settings)["sip"].cache_file
    other = config.load({"instance_path": settings.instance_path, "networks": settings.networks,
                         "speeds_kmh": {**settings.speeds_kmh, "ebike": 20.0}})
    b = _start(other)["sip"].cache_file
    assert b != a and b.is_file()
    npz = settings.networks["sip"]
    os.utime(npz, ns=(os.stat(npz).st_atime_ns, os.stat(npz).st_mtime_ns + 10**9))     # a rebuilt network
    c = _start(settings)["sip"].cache_file
    assert c not in (a, b) and c.is_file() and not a.exists()      # the old one of those speeds... gone


def test_a_damaged_cache_is_built_again(settings):
    file = _start(settings)["sip"].cache_file
    whole = file.read_bytes()
    file.write_bytes(whole[: len(whole) // 3])
    nets = _start(settings)
    assert nets["sip"].n_nodes == Network.load(SIP).n_nodes
    assert file.stat().st_size == len(whole)                 # written whole again
    assert np.isfinite(isochrone(*POINT, 5, "walk", network=nets, settings=settings).area_km2)
