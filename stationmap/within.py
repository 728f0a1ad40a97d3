"""When nothing of the asked kind is within the limit: one rule for every place that answers.

The finder's list, the embed, a published site, ``/api/v1/nearest`` and ``stationmap nearest``
all say the same: when no station of the asked kinds and services is within the limit
(``Settings.minutes``, or the minutes asked), they say so ("15 分钟范围内没有热茶点") and
name the nearest one with its distance, labelled straight line or along the roads as the
distances of the lists are.  :func:`none_within` decides and :meth:`NoneWithin.words` says it
in zh or en; :meth:`NoneWithin.to_dict` is the API's ``none_within`` field.
:func:`words_table` gives a published site (``static/js/embed-static.js``, which answers
without a server) the same words to say it with.  No Flask.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from stationmap.labels import KIND_LABELS, LANGS, NAME_SOURCE_LABELS, SERVICE_LABELS, label, name_in_text, translations

#: a distance along the roads (a road network served) or the straight line
ROADS, STRAIGHT = "roads", "straight_line"


@dataclass(frozen=True)
class Nearest:
    """The nearest station of the asked kind, beyond the limit."""

    id: str
    name: str
    minutes: float
    distance_m: float
    distance: str  # ROADS or STRAIGHT
    name_en: str = ""   # its English name, if given: an English sentence names it so (else in pinyin)

    def to_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "minutes": round(self.minutes, 1),
                "distance_m": round(self.distance_m, 1), "distance": self.distance}


@dataclass(frozen=True)
class NoneWithin:
    """No station of ``kinds`` / ``services`` within ``minutes``; ``nearest`` the nearest one (None: none at all)."""

    minutes: float
    kinds: tuple[str, ...]
    services: tuple[str, ...]
    nearest: Nearest | None

    def words(self, lang: str) -> str:
        """"15 分钟范围内没有热茶点。最近的是…，直线距离 77 公里。" in ``lang``."""
        _ = translations(lang).gettext
        m = f"{self.minutes:g}"
        text = _("%(m)s 分钟范围内没有%(what)s。") % {"m": m, "what": what_words(self.kinds, self.services, lang)}
        if self.nearest is not None:
            d = distance_words(self.nearest.distance_m, self.nearest.distance, lang)
            text += (" " if lang == "en" else "") + _("最近的是%(name)s，%(d)s。") % {
                "name": name_in_text(self.nearest, lang), "d": d}
        return text

    def to_dict(self) -> dict:
        """The API's ``none_within`` field: the limit, the filters, the nearest and the sentence in each language."""
        return {"minutes": self.minutes, "kinds": list(self.kinds), "services": list(self.services),
                "nearest": self.nearest.to_dict() if self.nearest else None,
                "message": {lang: self.words(lang) for lang in LANGS}}


def none_within(found: Iterable[tuple[str, str, float, float]], minutes: float, *, kinds: Iterable[str] = (),
                services: Iterable[str] = (), on_roads: bool = False) -> NoneWithin | None:
    """None when one of ``found`` is within ``minutes``; else what to say.

    ``found``: ``(id, name, minutes, distance_m)`` of the stations of the asked kinds and
    services, quickest first (a ranking); ``on_roads``: its distances are along the roads.
    """
    first: tuple[str, str, float, float] | None = None
    for row in found:
        if row[2] <= minutes:
            return None
        if first is None or row[2] < first[2]:
            first = row
    nearest = None
    if first is not None:
        nearest = Nearest(first[0], first[1], float(first[2]), float(first[3]), ROADS if on_roads else STRAIGHT)
    return NoneWithin(float(minutes), tuple(kinds), tuple(services), nearest)


def what_words(kinds: Iterable[str], services: Iterable[str], lang: str) -> str:
    """"热茶点", "提供热水的工会驿站", "station": what was asked for, in ``lang``."""
    _ = translations(lang).gettext
    kinds, services = list(kinds), list(services)
    joiner = " or " if lang == "en" else "或"
    what = joiner.join(label(KIND_LABELS, k, lang) for k in kinds) if kinds else _("站点")
    if services:
        what = _("提供%(services)s的%(what)s") % {
            "what": what, "services": ("、" if lang == "zh" else ", ").join(label(SERVICE_LABELS, s, lang)
                                                                          for s in services)}
    return what.lower() if lang == "en" else what


def distance_words(distance_m: float, distance: str, lang: str) -> str:
    """"直线距离 1.2 公里" / "路网距离 850 米", as the finder's list writes its distances."""
    _ = translations(lang).gettext
    if distance_m < 1000:
        d = _("%(n)s 米") % {"n": round(distance_m)}
    else:
        d = _("%(n)s 公里") % {"n": f"{distance_m / 1000:.{1 if distance_m < 10000 else 0}f}"}
    return (_("路网距离 %(d)s") if distance == ROADS else _("直线距离 %(d)s")) % {"d": d}


def words_table(lang: str) -> dict:
    """The words :meth:`NoneWithin.words` uses, for a script that says it without a server
    (``static/js/embed-static.js``): the templates (``%(name)s`` placeholders) and the labels."""
    _ = translations(lang).gettext
    return {"lang": lang, "none_within": _("%(m)s 分钟范围内没有%(what)s。"),
            "nearest_is": _("最近的是%(name)s，%(d)s。"),
            "station": _("站点"), "with_services": _("提供%(services)s的%(what)s"),
            "or": " or " if lang == "en" else "或", "and": ", " if lang == "en" else "、",
            "space": " " if lang == "en" else "", "lower": lang == "en",
            "metres": _("%(n)s 米"), "kilometres": _("%(n)s 公里"),
            "dist_straight": _("直线距离 %(d)s"), "dist_roads": _("路网距离 %(d)s"),
            "kinds": {k: label(KIND_LABELS, k, lang) for k in KIND_LABELS},
            "services": {s: label(SERVICE_LABELS, s, lang) for s in SERVICE_LABELS},
            "pinyin": label(NAME_SOURCE_LABELS, "pinyin", lang)}   # (names: labels.name_in_text)
