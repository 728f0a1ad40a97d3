"""Riders keep to one-way streets (issue 21): every one-way tag of the rule table
(:data:`stationmap.network.osm.ONEWAY_RULES`) pinned on a tiny OpenStreetMap file.

Each case is a square of two-way residential streets A-D-C-B with one tagged residential
way A -> B across it.  The expected directions are written out here per tag (the
reference, independent of the code's table); networkx searches the same ways with them,
and the network built by stationmap must give the same seconds from A to B and from B to
A, for every mode.
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
from pyproj import Geod

from stationmap import config
from stationmap.errors import ConfigError
from stationmap.network import Network

SETTINGS = config.load(environ={})
GEOD = Geod(ellps="WGS84")
MODES = ("walk", "bike", "ebike", "car")
# A (0, 0), B (east 200 m), C (east 200 m, north 300 m), D (north 300 m): the detour A-D-C-B is 800 m
NODES = {1: (120.7, 31.3), 2: (120.7021, 31.3), 3: (120.7021, 31.3027), 4: (120.7, 31.3027)}
DETOUR = ((1, 4), (4, 3), (3, 2))

# tags of the way A -> B: its direction per mode (walk, bike, ebike, car):
# 1 only A -> B, -1 only B -> A, 0 both ways
CASES = [
    ({}, (0, 0, 0, 0)),
    ({"oneway": "yes"}, (0, 1, 1, 1)),
    ({"oneway": "true"}, (0, 1, 1, 1)),
    ({"oneway": "1"}, (0, 1, 1, 1)),
    ({"oneway": "-1"}, (0, -1, -1, -1)),
    ({"oneway": "reverse"}, (0, -1, -1, -1)),
    ({"oneway": "no"}, (0, 0, 0, 0)),
    ({"junction": "roundabout"}, (0, 1, 1, 1)),
    ({"junction": "circular"}, (0, 1, 1, 1)),
    ({"junction": "roundabout", "oneway": "no"}, (0, 0, 0, 0)),
    ({"oneway": "yes", "oneway:bicycle": "no"}, (0, 0, 0, 1)),
    ({"oneway": "-1", "oneway:bicycle": "no"}, (0, 0, 0, -1)),
    ({"junction": "roundabout", "oneway:bicycle": "no"}, (0, 0, 0, 1)),
    ({"oneway": "yes", "cycleway": "opposite"}, (0, 0, 0, 1)),
    ({"oneway": "yes", "cycleway": "opposite_lane"}, (0, 0, 0, 1)),
    ({"oneway": "yes", "cycleway": "opposite_track"}, (0, 0, 0, 1)),
    ({"oneway": "yes", "cycleway:left": "opposite_lane"}, (0, 0, 0, 1)),
    ({"oneway": "yes", "cycleway:right": "opposite_track"}, (0, 0, 0, 1)),
    ({"oneway": "yes", "cycleway:both": "opposite_lane"}, (0, 0, 0, 1)),
    ({"oneway": "-1", "cycleway": "opposite_lane"}, (0, 0, 0, -1)),
    ({"oneway": "yes", "cycleway:left:oneway": "no"}, (0, 0, 0, 1)),
    ({"oneway": "yes", "cycleway:right:oneway": "no"}, (0, 0, 0, 1)),
    ({"oneway": "yes", "cycleway:both:oneway": "no"}, (0, 0, 0, 1)),
    ({"oneway": "yes", "cycleway": "lane"}, (0, 1, 1, 1)),             # a lane along: still one-way
    ({"oneway": "yes", "cycleway:left:oneway": "yes"}, (0, 1, 1, 1)),
    ({"oneway": "yes", "oneway:bicycle": "yes", "cycleway": "opposite"}, (0, 1, 1, 1)),  # own key wins
    ({"oneway:bicycle": "yes"}, (0, 1, 1, 0)),
    ({"oneway:foot": "yes"}, (1, 0, 0, 0)),
    ({"oneway": "yes", "oneway:foot": "yes"}, (1, 1, 1, 1)),
    ({"oneway": "yes", "oneway:foot": "-1"}, (-1, 1, 1, 1)),           # two directions on one way
    ({"oneway": "-1", "oneway:foot": "yes"}, (1, -1, -1, -1)),
    ({"junction": "roundabout", "oneway:foot": "no"}, (0, 1, 1, 1)),
]


def osm_xml(tags: dict) -> str:
    nodes = "".join(f'<node id="{k}" lat="{la}" lon="{lo}" version="1"/>' for k, (lo, la) in NODES.items())
    ways = [f'<way id="{100 + i}" version="1"><nd ref="{a}"/><nd ref="{b}"/>'
            f'<tag k="highway" v="residential"/></way>' for i, (a, b) in enumerate(DETOUR)]
    tagged = "".join(f'<tag k="{k}" v="{v}"/>' for k, v in tags.items())
    ways.append(f'<way id="200" version="1"><nd ref="1"/><nd ref="2"/><tag k="highway" v="residential"/>'
                f'{tagged}</way>')
    return f'<?xml version="1.0"?><osm version="0.6">{nodes}{"".join(ways)}</osm>'


def reference_seconds(mode: str, direction: int) -> tuple[float, float]:
    """networkx: seconds A -> B and B -> A on the same four ways, the tagged one in ``direction``."""
    kmh = SETTINGS.car_speeds_kmh["residential"] if mode == "car" else SETTINGS.speeds_kmh[mode]
    G = nx.DiGraph()

    def add(a: int, b: int) -> None:
        L = GEOD.inv(*NODES[a], *NODES[b])[2]
        G.add_edge(a, b, weight=L / (kmh / 3.6))

    for a, b in DETOUR:
        add(a, b)
        add(b, a)
    if direction >= 0:
        add(1, 2)
    if direction <= 0:
        add(2, 1)
    return (nx.shortest_path_length(G, 1, 2, weight="weight"), nx.shortest_path_length(G, 2, 1, weight="weight"))


@pytest.mark.parametrize(("tags", "want"), CASES, ids=[",".join(f"{k}={v}" for k, v in t.items()) or "untagged"
                                                       for t, _ in CASES])
def test_each_one_way_tag_per_mode_against_networkx(tmp_path, tags, want):
    path = tmp_path / "way.osm"
    path.write_text(osm_xml(tags))
    net = Network.build(path, settings=SETTINGS)
    assert net.oneway_known
    idx = {(round(lo, 4), round(la, 4)): i for i, (lo, la) in enumerate(zip(net.lon, net.lat))}
    a, b = idx[NODES[1]], idx[NODES[2]]
    for mode, direction in zip(MODES, want):
        ab_ref, ba_ref = reference_seconds(mode, direction)
        ab = net.search(net.snap(*NODES[1], mode=mode), mode=mode)[b]
        ba = net.search(net.snap(*NODES[2], mode=mode), mode=mode)[a]
        assert ab == pytest.approx(ab_ref, abs=1e-6), (mode, "A->B")
        assert ba == pytest.approx(ba_ref, abs=1e-6), (mode, "B->A")
        # the tagged way itself: one-way where it should be (the detour is 4x longer)
        assert (ab < ba) == (direction == 1) and (ba < ab) == (direction == -1), mode
    # the same through the saved file
    back = Network.load(net.save(tmp_path / "way.npz"), settings=SETTINGS)
    assert back.oneway_known
    np.testing.assert_array_equal(back.edge_oneway, net.edge_oneway)


def test_a_network_without_one_way_data_says_so(tmp_path):
    net = Network.from_arrays([120.7, 120.701], [31.3, 31.3], [0], [1], settings=SETTINGS)
    assert not net.oneway_known
    assert not Network.load(net.save(tmp_path / "x.npz"), settings=SETTINGS).oneway_known
    known = Network.from_arrays([120.7, 120.701], [31.3, 31.3], [0], [1], oneway=[0], settings=SETTINGS)
    assert known.oneway_known


def test_a_network_built_before_the_rule_is_refused_with_how_to_rebuild(tmp_path):
    net = Network.from_arrays([120.7, 120.701], [31.3, 31.3], [0], [1], settings=SETTINGS)
    a = net.arrays()
    a["format"] = np.array("stationmap-network/1")      # what releases before issue 21 wrote
    del a["oneway_known"]
    a["edge_oneway"] = a["edge_oneway"].astype(bool)
    old = tmp_path / "old.npz"
    np.savez_compressed(old, **a)
    with pytest.raises(ConfigError, match=r"stationmap-network/1.*rebuild it with `stationmap network build`"):
        Network.load(old, settings=SETTINGS)
