"""Stored values as the pages show them (issue 20: the history showed ``['rest']`` and ``hot_water``)."""

from __future__ import annotations

import pytest

from stationmap.labels import FIELD_LABELS, field_value, join_labels, label, KIND_LABELS, SERVICE_LABELS
from stationmap.model import Station


@pytest.mark.parametrize("field, value, lang, shown", [
    ("kinds", ["rest", "hot_tea"], "zh", "工会驿站、热茶点"),
    ("kinds", ["rest", "hot_tea"], "en", "Rest station, Hot-tea point"),
    ("services", ["hot_water"], "zh", "热水"),
    ("services", [], "zh", ""),
    ("status", "temporarily_closed", "en", "Temporarily closed"),
    ("host", "bank", "zh", "银行网点"),
    ("host", "某某银行常州分行", "zh", "某某银行常州分行"),   # free text stays as typed
    ("service_hours", {"legal_aid": "Th 14:00-17:00", "hot_water": "Nov-Mar"}, "zh",
     "法律援助 Th 14:00-17:00；热水 Nov-Mar"),
    ("service_hours", {"legal_aid": "Th 14:00-17:00"}, "en", "Legal aid Th 14:00-17:00"),
    ("name", "钟楼驿站", "en", "钟楼驿站"),
    ("reopens_on", None, "zh", ""),
    ("lon", 119.93, "zh", "119.93"),
])
def test_field_value_shows_labels(field, value, lang, shown):
    assert field_value(field, value, lang) == shown


def test_every_field_of_a_station_record_has_a_label_in_both_languages():
    for field in Station(id="x", name="x", lon=0, lat=0).to_dict():
        zh, en = FIELD_LABELS[field]
        assert zh and en and zh != field and en != field and label(FIELD_LABELS, field, "en") == en


def test_join_labels_writes_lists_as_each_language_does():
    assert join_labels(KIND_LABELS, ["legal_aid", "rest"], "zh") == "法律援助点、工会驿站"
    assert join_labels(SERVICE_LABELS, ["wifi", "toilet"], "en") == "Wi-Fi, Toilet"


# -- station names for readers of English (issue 20: English mode kept Chinese names) -----------

@pytest.mark.parametrize("name, pinyin", [
    ("钟楼邮政驿站", "Zhong Lou You Zheng Yi Zhan"),
    ("中国银行户外劳动者驿站（3号）", "Zhong Guo Yin Hang Hu Wai Lao Dong Zhe Yi Zhan (3 Hao)"),  # 行 as in 银行
    ("重庆路驿站", "Chong Qing Lu Yi Zhan"),                          # 重 as in 重庆, not zhong
    ("长江路行政服务中心", "Chang Jiang Lu Xing Zheng Fu Wu Zhong Xin"),  # 长 chang, 行 xing
    ("绿地驿站 A座", "Lü Di Yi Zhan A Zuo"),                            # ü kept, Latin text kept
    ("新北区１号驿站", "Xin Bei Qu 1 Hao Yi Zhan"),                      # full-width digit folded
])
def test_pinyin_name(name, pinyin):
    from stationmap.labels import pinyin_name

    assert pinyin_name(name) == pinyin


def test_display_name_says_where_the_name_comes_from():
    from stationmap.labels import NAME_SOURCES, display_name

    plain = Station(id="a", name="钟楼邮政驿站", lon=119.95, lat=31.78)
    named = Station(id="b", name="钟楼邮政驿站", name_en="Zhonglou Post Office Rest Station", lon=119.95, lat=31.78)
    latin = Station(id="c", name="Starbucks 7", lon=119.95, lat=31.78)
    assert display_name(plain, "zh") == ("钟楼邮政驿站", "name")
    assert display_name(named, "zh") == ("钟楼邮政驿站", "name")
    assert display_name(plain, "en") == ("Zhong Lou You Zheng Yi Zhan", "pinyin")
    assert display_name(named, "en") == ("Zhonglou Post Office Rest Station", "name_en")
    assert display_name(latin, "en") == ("Starbucks 7", "name")
    blank = Station(id="d", name="钟楼邮政驿站", name_en="  ", lon=119.95, lat=31.78)
    assert display_name(blank, "en")[1] == "pinyin"
    assert {display_name(s, "en")[1] for s in (plain, named, latin)} == set(NAME_SOURCES)


def test_each_library_message_pattern_says_only_what_its_english_holds():
    """A Chinese message names only the parts its English pattern captures (else ``say`` would fail)."""
    import re

    from stationmap.labels import MESSAGE_LABELS, say

    for english, zh in MESSAGE_LABELS:
        assert set(re.findall(r"\{(\w+)\}", zh)) <= set(re.findall(r"\{(\w+)\}", english)), english
    assert say("name is missing", "zh") == "缺少名称"
    assert say("name is missing", "en") == "name is missing"
    assert say("something the table does not know", "zh") == "something the table does not know"
    assert say("mode must be one of ('walk', 'car'), got 'x'", "zh") == "出行方式必须是以下之一：步行、汽车，而不是 'x'"


def test_a_name_inside_an_english_sentence_keeps_the_chinese_name_beside_it():
    from types import SimpleNamespace

    from stationmap.labels import name_in_text

    assert name_in_text(SimpleNamespace(name="天宁热茶点", name_en=""), "en") == "Tian Ning Re Cha Dian (pinyin, 天宁热茶点)"
    assert name_in_text(SimpleNamespace(name="钟楼驿站", name_en="Zhonglou Station"), "en") == "Zhonglou Station (钟楼驿站)"
    assert name_in_text(SimpleNamespace(name="Starbucks 2", name_en=""), "en") == "Starbucks 2"
    assert name_in_text(SimpleNamespace(name="钟楼驿站", name_en="Zhonglou Station"), "zh") == "钟楼驿站"
