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
