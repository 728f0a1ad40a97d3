"""The one rule for "nothing of the asked kind within the limit" (stationmap.within) and a
district's scope (stationmap.scope), issue 20."""

from __future__ import annotations

import pytest

from stationmap import config, scope
from stationmap.districts import load_districts
from stationmap.within import ROADS, STRAIGHT, none_within, words_table
from tests.support.border import border_stations


def test_one_within_the_limit_means_nothing_to_say():
    assert none_within([("a", "甲", 4.0, 900.0), ("b", "乙", 30.0, 9000.0)], 15) is None


def test_none_within_names_the_nearest_with_its_distance_in_each_language():
    nw = none_within([("b", "乙站", 290.0, 77_400.0), ("a", "甲站", 288.0, 77_000.0)], 15, kinds=["hot_tea"])
    assert nw is not None and nw.nearest is not None
    assert nw.nearest.id == "a" and nw.nearest.distance == STRAIGHT
    assert nw.words("zh") == "15 分钟范围内没有热茶点。最近的是甲站，直线距离 77 公里。"
    en = nw.words("en")
    assert en.startswith("No hot-tea point within 15 minutes.") and "甲站" in en and "77" in en
    d = nw.to_dict()
    assert d["nearest"]["distance_m"] == 77000.0 and d["message"]["zh"] == nw.words("zh")


def test_none_at_all_says_so_without_a_nearest_and_roads_are_labelled():
    nw = none_within([], 15, kinds=["legal_aid"], services=["hot_water"])
    assert nw is not None and nw.nearest is None
    assert nw.words("zh") == "15 分钟范围内没有提供热水的法律援助点。"
    road = none_within([("a", "甲", 20.0, 850.0)], 15, on_roads=True)
    assert road.nearest.distance == ROADS and "路网距离 850 米" in road.words("zh")


def test_words_table_has_the_templates_the_library_uses():
    w = words_table("en")
    assert w["none_within"] % {"m": "15", "what": "station"} == "No station within 15 minutes."
    assert w["kinds"]["hot_tea"] == "Hot-tea point" and w["lang"] == "en"


@pytest.fixture(scope="module")
def zhonglou():
    settings = config.load()
    districts = load_districts(settings)
    d = districts.get("320404")
    return settings, districts, d


def test_scope_holds_the_district_and_its_neighbours_within_reach_in_metres(zhonglou):
    settings, districts, d = zhonglou
    reach = scope.reach_m(settings)
    assert 3000 < reach < 3200  # 15 minutes by e-bike, straight line: the finder's own limit
    sc = scope.district_scope(border_stations(), d, "320404", scope.district_shape(districts, d), reach)
    assert [s.id for s in sc.own] == ["own", "own-2"]
    assert [s.id for s in sc.neighbours] == ["near", "tea"]   # 280 m and 2.2 km across; "far" is 4.7 km across
    assert [s.id for s in sc.stations()] == ["own", "own-2", "near", "tea"]
    # in metres: a reach of 5 km takes "far" too
    assert [s.id for s in scope.district_scope(border_stations(), d, "320404", d.geometry, 5000).neighbours] \
        == ["far", "near", "tea"]


def test_published_site_carries_its_neighbours_within_reach_marked(tmp_path):
    """stationmap publish: the district's stations and the neighbour 280 m across the border (marked),
    never the one 4.7 km across; and the words to say none within in the site's language."""
    import json

    from stationmap.publish import EmbedPresets, publish_district

    res = publish_district("320404", tmp_path, settings=config.load(), stations=border_stations(),
                           presets=EmbedPresets(lang="en"))
    assert res["stations"] == 2 and res["neighbours"] == 2
    text = (tmp_path / "stations.js").read_text(encoding="utf-8")
    data = json.loads(text[text.index("= ") + 2:].rstrip().rstrip(";"))
    assert {f["id"]: f["properties"]["neighbour"] for f in data["features"]} == \
        {"own": False, "own-2": False, "near": True, "tea": True}
    assert data["none_within"]["none_within"] == "No %(what)s within %(m)s minutes."
