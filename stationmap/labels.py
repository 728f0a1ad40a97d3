"""The words people read: zh/en labels of every vocabulary, and the babel catalogue for prose.

Vocabulary labels (kinds, services, statuses, hosts, travel modes, methods, datums, reports,
weekdays, months, time profiles and their named figures) are
``key -> (Chinese, English)`` tables here, and nowhere else; :func:`label` picks one.
:mod:`stationmap.model` keeps the vocabularies (their keys and the aliases an import
accepts) and re-exports the kind, service, status and host tables under their old names.

UI prose (titles, legends, chart axes) goes through babel, one mechanism for the web
layer (Flask-Babel) and the library (maps, charts, a published site): the Chinese text is
the message id and ``translations/en/LC_MESSAGES/messages.po`` holds the English.
A library module takes ``_ = translations(lang).gettext`` and writes ``_("…")``,
so ``pybabel extract`` finds its strings (list the module in
``translations/babel.cfg``).  One word per mode everywhere: 步行 / 自行车 /
电动车 / 汽车.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING, Protocol

from stationmap.config import (
    NIGHT_FROM_HOUR,
    NIGHT_TO_HOUR,
    PACKAGE_DIR,
    PROFILE_DAY,
    SUMMER_MONTHS,
    WINTER_MONTHS,
)

if TYPE_CHECKING:
    from datetime import datetime

    from babel.support import NullTranslations

#: where the catalogues live (``<lang>/LC_MESSAGES/messages.mo``)
TRANSLATIONS_DIR = PACKAGE_DIR / "translations"
#: the languages of the UI: Chinese (the message ids' language) first
LANGS = ("zh", "en")

#: kind -> (Chinese, English)
KIND_LABELS = {
    "rest": ("工会驿站", "Rest station"),
    "hot_tea": ("热茶点", "Hot-tea point"),
    "legal_aid": ("法律援助点", "Legal-aid post"),
}

#: service -> (Chinese, English).  The fixed vocabulary of what a station offers.
SERVICE_LABELS = {
    "drinking_water": ("饮用水", "Drinking water"),
    "hot_water": ("热水", "Hot water"),
    "toilet": ("卫生间", "Toilet"),
    "rest_seats": ("休息座椅", "Rest seats"),
    "heating": ("取暖", "Heating"),
    "cooling": ("纳凉 / 空调", "Cooling / air conditioning"),
    "phone_charging": ("手机充电", "Phone charging"),
    "ebike_charging": ("电动车充电", "E-bike charging"),
    "battery_swap": ("换电", "Battery swap"),
    "microwave": ("微波炉 / 热饭", "Microwave / meal heating"),
    "first_aid": ("急救药箱", "First-aid kit"),
    "legal_aid": ("法律援助", "Legal aid"),
    "reading": ("阅读", "Reading"),
    "wifi": ("无线网络", "Wi-Fi"),
    "umbrella": ("爱心雨伞", "Umbrella loan"),
    "repair_kit": ("打气筒 / 维修工具", "Tyre pump / repair kit"),
}

#: status -> (Chinese, English)
STATUS_LABELS = {
    "active": ("正常开放", "Active"),
    "temporarily_closed": ("暂停开放", "Temporarily closed"),
    "closed": ("已关闭", "Closed"),
}

#: typical hosts of a station (free text is allowed; these are suggestions)
HOST_LABELS = {
    "union": ("工会", "Trade union"),
    "bank": ("银行网点", "Bank branch"),
    "post_office": ("邮政网点", "Post office"),
    "telecom": ("通信营业厅", "Telecom shop"),
    "community": ("社区服务中心", "Community centre"),
    "shop": ("商铺 / 便利店", "Shop"),
    "hotel": ("酒店", "Hotel"),
    "gas_station": ("加油站", "Fuel station"),
    "government": ("党群服务中心", "Party-masses service centre"),
    "enterprise": ("企业", "Enterprise"),
    "park": ("公园", "Park"),
}

#: travel mode (:data:`stationmap.config.MODES`) -> (Chinese, English)
MODE_LABELS = {
    "walk": ("步行", "Walk"),
    "bike": ("自行车", "Bike"),
    "ebike": ("电动车", "E-bike"),
    "car": ("汽车", "Car"),
}

#: travel-time method (:data:`stationmap.config.METHODS`) -> (Chinese, English)
METHOD_LABELS = {
    "auto": ("自动", "auto"),
    "network": ("路网", "road network"),
    "circle": ("直线距离 × 绕行系数", "straight line x detour factor"),
    # (an outcome, not a choice: a coverage run whose cells a road network holds only in part)
    "mixed": ("混合：路网覆盖的网格按道路，其余按直线距离 × 绕行系数",
              "mixed: roads where a network covers the cell, straight line x detour factor elsewhere"),
}

#: a check-in's outcome (:data:`stationmap.reports.REPORT_KINDS`) -> (Chinese, English);
#: every outcome but ``open_ok`` is a problem for the district's editors
REPORT_LABELS = {
    "open_ok": ("正常开放", "Open and fine"),
    "closed_when_open": ("该开时没开", "Closed though it should be open"),
    "locked": ("锁着门/进不去", "Locked, cannot get in"),
    "not_found": ("找不到（位置不对）", "Cannot find it (wrong place)"),
    "moved": ("已搬到别处", "Moved elsewhere"),
    "service_missing": ("某项服务没有或坏了", "A service is missing or broken"),
    "info_wrong": ("信息有误", "Information is wrong"),
}

#: how an editor resolved a problem check-in (:data:`stationmap.reports.RESOLUTIONS`) -> (Chinese, English)
RESOLUTION_LABELS = {
    "fixed": ("已修好", "Fixed"),
    "edited": ("已更正信息", "Information edited"),
    "closed": ("站点已关闭", "Station closed"),
    "not_a_problem": ("不是问题", "Not a problem"),
}

#: a "station needed here" pin's state (:data:`stationmap.station_requests.REQUEST_STATUSES`) and the
#: editors' decisions (approved, rejected) -> (Chinese, English)
REQUEST_STATUS_LABELS = {
    "pending": ("待审核", "Pending"),
    "approved": ("已采纳", "Approved"),
    "rejected": ("不采纳", "Rejected"),
}

#: how a station was last confirmed (:class:`stationmap.reports.Freshness`) -> (Chinese, English);
#: ``{age}`` is an :data:`AGE_LABELS` phrase
FRESHNESS_LABELS = {
    "checkin": ("{age}骑手确认正常", "confirmed open by a worker {age}"),
    "district": ("{age}区工会核实", "verified by the district {age}"),
    "never": ("从未确认", "never confirmed"),
}

#: how long ago (:func:`stationmap.reports.age_words`) -> (Chinese, English); ``{n}`` the count
AGE_LABELS = {
    "today": ("今天", "today"),
    "yesterday": ("昨天", "yesterday"),
    "days": ("{n} 天前", "{n} days ago"),
    "month": ("{n} 个月前", "{n} month ago"),
    "months": ("{n} 个月前", "{n} months ago"),
    "year": ("{n} 年前", "{n} year ago"),
    "years": ("{n} 年前", "{n} years ago"),
}

#: a station's open problem check-ins -> (Chinese, English); ``{n}`` how many
PROBLEM_LABELS = {
    "one": ("有 {n} 个待处理的问题反馈", "{n} open problem reported"),
    "many": ("有 {n} 个待处理的问题反馈", "{n} open problems reported"),
}

#: the period of a rate limit (``limits``' granularity names) -> (Chinese, English)
PERIOD_LABELS = {
    "second": ("秒", "second"),
    "minute": ("分钟", "minute"),
    "hour": ("小时", "hour"),
    "day": ("天", "day"),
    "month": ("个月", "month"),
    "year": ("年", "year"),
}

#: datum (:data:`stationmap.coords.DATUMS`) -> (Chinese, English): which maps use it
DATUM_LABELS = {
    "wgs84": ("WGS-84（GPS、OpenStreetMap、天地图）", "WGS-84 (GPS, OpenStreetMap, Tianditu)"),
    "gcj02": ("GCJ-02（高德、腾讯、微信）", "GCJ-02 (Amap, Tencent, WeChat)"),
    "bd09": ("BD-09（百度）", "BD-09 (Baidu)"),
}


#: weekday (OSM's abbreviations, Monday first) -> (Chinese, English)
WEEKDAY_LABELS = {
    "Mo": ("周一", "Mon"), "Tu": ("周二", "Tue"), "We": ("周三", "Wed"), "Th": ("周四", "Thu"),
    "Fr": ("周五", "Fri"), "Sa": ("周六", "Sat"), "Su": ("周日", "Sun"),
}
WEEKDAYS = tuple(WEEKDAY_LABELS)
#: weekday -> its full name (Chinese, English): "the first Monday of the month"
WEEKDAY_LONG_LABELS = {
    "Mo": ("星期一", "Monday"), "Tu": ("星期二", "Tuesday"), "We": ("星期三", "Wednesday"),
    "Th": ("星期四", "Thursday"), "Fr": ("星期五", "Friday"), "Sa": ("星期六", "Saturday"), "Su": ("星期日", "Sunday"),
}

#: month (OSM's abbreviations) -> (Chinese, English)
MONTH_LABELS = {
    m: (f"{i}月", m) for i, m in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)
}
MONTHS = tuple(MONTH_LABELS)


def _months(months: tuple[int, ...], lang: str) -> str:
    first, last = MONTHS[months[0] - 1], MONTHS[months[-1] - 1]
    if lang == "en":
        return f"{first}–{last}"
    return f"{months[0]}–{months[-1]} 月"


#: time profile (:data:`stationmap.config.PROFILES`) -> (Chinese, English)
PROFILE_LABELS = {
    "week": ("一周（逐小时）", "Week (hourly)"),
    "year": (f"全年（每月 {PROFILE_DAY} 日）", f"Year (the {PROFILE_DAY}th of each month)"),
}

#: what the suggested sites maximise (:data:`stationmap.config.SITING_OBJECTIVES`) -> (Chinese, English)
OBJECTIVE_LABELS = {
    "once": ("覆盖人口最多（至少一个站点）", "Most people covered (by at least one station)"),
    "twice": ("交叉覆盖人口最多（至少两个站点，双15）", "Most people cross-covered (two or more stations, 双15)"),
}

#: the named figures of a time profile (:meth:`stationmap.coverage.Profile.figures`) -> (Chinese, English)
FIGURE_LABELS = {
    "night": (f"夜间（{NIGHT_FROM_HOUR:02d}:00–{NIGHT_TO_HOUR:02d}:00）",
              f"Night ({NIGHT_FROM_HOUR:02d}:00–{NIGHT_TO_HOUR:02d}:00)"),
    "winter": (f"冬季（{_months(WINTER_MONTHS, 'zh')}）", f"Winter ({_months(WINTER_MONTHS, 'en')})"),
    "summer": (f"夏季（{_months(SUMMER_MONTHS, 'zh')}）", f"Summer ({_months(SUMMER_MONTHS, 'en')})"),
}

#: statistics of the named figures -> (Chinese, English)
STATISTIC_LABELS = {
    "min": ("最低", "minimum"),
    "mean": ("平均", "mean"),
}


def moment_label(at: datetime, lang: str) -> str:
    """A moment in words: ``2026年12月7日（周一）22:00`` / ``Mon 7 Dec 2026, 22:00`` (its own
    wall-clock time: pass Asia/Shanghai times)."""
    day = label(WEEKDAY_LABELS, WEEKDAYS[at.weekday()], lang)
    if lang == "en":
        return f"{day} {at.day} {MONTHS[at.month - 1]} {at.year}, {at:%H:%M}"
    return f"{at.year}年{at.month}月{at.day}日（{day}）{at:%H:%M}"

#: a station's field -> (Chinese, English): the history's "what changed", the export's Chinese headers
FIELD_LABELS = {
    "id": ("编号", "ID"),
    "name": ("名称", "Name"),
    "name_en": ("英文名称", "English name"),
    "kinds": ("类型", "Kinds"),
    "services": ("服务", "Services"),
    "address": ("地址", "Address"),
    "adcode": ("行政区划代码", "District code"),
    "host": ("承办单位", "Host"),
    "operator": ("运营单位", "Operator"),
    "phone": ("电话", "Phone"),
    "opening_hours": ("开放时间", "Opening hours"),
    "status": ("状态", "Status"),
    "verified_at": ("核实日期", "Verified on"),
    "source": ("来源", "Source"),
    "reopens_on": ("恢复开放日期", "Reopens on"),
    "service_hours": ("分项服务时间", "Service hours"),
    "capacity": ("容量（人）", "Capacity (people)"),
    "lon": ("经度", "Longitude"),
    "lat": ("纬度", "Latitude"),
    "datum": ("坐标系", "Datum"),
}

#: how a list of labels is joined, per language
LIST_SEPARATORS = {"zh": "、", "en": ", "}
#: the vocabulary table of each field whose values are keys of one
_FIELD_VOCABULARIES = {"kinds": KIND_LABELS, "services": SERVICE_LABELS, "status": STATUS_LABELS,
                       "host": HOST_LABELS}


def label(table: dict[str, tuple[str, str]], key: str, lang: str) -> str:
    """The Chinese or English label of ``key`` in one of the tables above (the key itself
    when the table lacks it)."""
    zh, en = table.get(key, (key, key))
    return en if lang == "en" else zh


def labels(table: dict[str, tuple[str, str]], lang: str) -> dict[str, str]:
    """``{key: label}`` of a whole table in ``lang``."""
    i = 1 if lang == "en" else 0
    return {k: pair[i] for k, pair in table.items()}


def join_labels(table: dict[str, tuple[str, str]], keys: Iterable[str], lang: str) -> str:
    """The labels of ``keys`` joined as the language writes a list: ``热水、卫生间``, ``Hot water, Toilet``."""
    return LIST_SEPARATORS.get(lang, ", ").join(label(table, k, lang) for k in keys)


def field_value(field: str, value: object, lang: str) -> str:
    """A stored value of a station's ``field`` as the pages show it: vocabulary keys as their labels
    (lists joined by :func:`join_labels`), service hours as ``label hours`` entries, nothing as ``""``.

    For what a record of the change log holds (:meth:`stationmap.model.Station.to_dict`): lists, a
    ``{service: hours}`` dict, dates as ISO text.
    """
    if value is None or value == "" or value == [] or value == {}:
        return ""
    table = _FIELD_VOCABULARIES.get(field)
    if isinstance(value, dict):
        sep = "；" if lang == "zh" else "; "
        return sep.join(f"{label(SERVICE_LABELS, str(k), lang)} {v}" for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return join_labels(table, (str(v) for v in value), lang) if table else LIST_SEPARATORS.get(
            lang, ", ").join(str(v) for v in value)
    return label(table, str(value), lang) if table else str(value)


#: how :func:`display_name` found a name: the stored name, the stored English name, pinyin of the name
NAME_SOURCES = ("name", "name_en", "pinyin")

_HAN = re.compile(r"([\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+)")


class Named(Protocol):
    """What :func:`display_name` reads of a station."""

    @property
    def name(self) -> str: ...
    @property
    def name_en(self) -> str: ...


def display_name(station: Named, lang: str) -> tuple[str, str]:
    """The station's name as a reader of ``lang`` sees it, and how it was found (one of
    :data:`NAME_SOURCES`): in Chinese the stored name; in English the stored English name where
    one is given, else the name itself when it has no Chinese characters, else its pinyin
    (:func:`pinyin_name`; pages mark it as pinyin)."""
    if lang != "en":
        return station.name, "name"
    english = (station.name_en or "").strip()
    if english:
        return english, "name_en"
    if not _HAN.search(station.name or ""):
        return station.name, "name"
    return pinyin_name(station.name), "pinyin"


#: how a name shown to a reader of English was found, as a sentence says it beside the Chinese name
NAME_SOURCE_LABELS = {"pinyin": ("拼音", "pinyin"), "name_en": ("英文名称", "English name")}


def name_in_text(station: Named, lang: str) -> str:
    """A station's name inside a sentence for a reader of ``lang``: in English its :func:`display_name`
    with the Chinese name (the one on its sign) beside it, ``Tian Ning Re Cha Dian (pinyin, 天宁热茶点)``,
    ``Zhonglou West Station (钟楼西驿站)``; else its name."""
    shown, source = display_name(station, lang)
    if source == "name" or shown == station.name:
        return station.name
    if source == "pinyin":
        return f"{shown} ({label(NAME_SOURCE_LABELS, source, lang)}, {station.name})"
    return f"{shown} ({station.name})"


@lru_cache(maxsize=1 << 17)   # once per name: the API's lang=en lists whole districts (10,000 names ~ 3 MB)
def pinyin_name(name: str) -> str:
    """A Chinese name in pinyin for readers of English, by pypinyin (its phrase dictionary picks
    the reading of a character with several: 银行 yinhang): each syllable capitalised, without tone
    marks (ü kept), separated by spaces; other text (digits, Latin letters) kept, full-width
    forms folded (``钟楼邮政驿站３号`` -> ``Zhong Lou You Zheng Yi Zhan 3 Hao``)."""
    import unicodedata

    from pypinyin import Style, lazy_pinyin

    words: list[str] = []
    for k, run in enumerate(_HAN.split(name)):
        if k % 2:  # a run of Chinese characters
            words.extend(p.capitalize() for p in lazy_pinyin(run, style=Style.NORMAL, v_to_u=True))
        else:
            words.extend(unicodedata.normalize("NFKC", run).split())
    text = re.sub(r"\s+([)\]}、,.;:!?])", r"\1", " ".join(words))   # no space inside brackets, before marks
    return re.sub(r"([(\[{])\s+", r"\1", text)


def mode_labels(lang: str) -> dict[str, str]:
    """The travel modes' labels in ``lang``."""
    return labels(MODE_LABELS, lang)


def oneway_note(oneway_respected: bool | None, lang: str) -> str | None:
    """The sentence an answer carries when its road network has no one-way data (its
    ``oneway_respected`` is False: every street two-way, the times optimistic), in ``lang``;
    None otherwise."""
    if oneway_respected is not False:
        return None
    _ = translations(lang).gettext
    return _("该路网没有单行道数据：每条路都按双向计算，骑车和开车的时间可能偏短。")


def oneway_notes(oneway_respected: bool | None) -> dict[str, str] | None:
    """:func:`oneway_note` in every language, ``{lang: sentence}`` (the JSON API's form: an answer
    carries its words for people in each language, as ``none_within.message`` does); None when the
    network keeps to one-way streets or there is no network."""
    if oneway_respected is not False:
        return None
    return {lang: oneway_note(False, lang) or "" for lang in LANGS}


@lru_cache(maxsize=len(LANGS))
def translations(lang: str) -> NullTranslations:
    """Babel's catalogue of ``lang`` (a NullTranslations for Chinese, the message ids' language)."""
    from babel.support import Translations

    return Translations.load(str(TRANSLATIONS_DIR), [lang], "messages")




# -- the library's messages in Chinese -----------------------------------------------------------

#: The library's messages (English: what the CLI prints and the API answers) as the Chinese pages say
#: them: ``(English pattern, Chinese)``, most specific first.  In a pattern ``{x}`` stands for any text;
#: a ``{field}`` is said by its label (:data:`FIELD_LABELS`), ``{choices}`` and ``{value}`` by their
#: vocabulary labels where they are keys of one.  A message no pattern matches is shown as it is,
#: and ``tests/web/test_zh_errors.py`` walks the pages to catch one that reaches a person.
MESSAGE_LABELS: tuple[tuple[str, str], ...] = (
    ("{file}: unsupported file type {ext}: use one of {exts}",
     "{file}：不支持的文件类型 {ext}，请使用 {exts}（Excel / WPS 表格请另存为 .xlsx 或 .csv）"),
    ("{file}: is not a valid .xlsx workbook{detail}", "{file}：不是有效的 .xlsx 工作簿，请用 Excel / WPS 另存后重试"),
    ("{file}: is not a valid GeoPackage{detail}", "{file}：不是有效的 GeoPackage 文件"),
    ("{file}: the file is empty", "{file}：文件是空的"),
    ("{file}: missing required {what} {cols}; found: {found}",
     "{file}：缺少必需的列（名称、经度、纬度）；文件中的列：{found}"),
    ("{field} is missing (one or more of {choices})", "缺少{field}（可选：{choices}）"),
    ("{field} is missing", "缺少{field}"),
    ("{field} is required", "缺少{field}"),
    ("{field} must be given once, got {n} values", "{field}只能给一次，而不是 {n} 次"),
    ("{field} must be true or false, got {value}", "{field}必须是 true 或 false，而不是 {value}"),
    ("{field} must be an integer, got {value}", "{field}必须是整数，而不是 {value}"),
    ("{field} must be an adcode or adcode prefix of 1-6 digits, got {value}",
     "{field}必须是 1 到 6 位数字的区划代码或其前缀，而不是 {value}"),
    ("{field} must be four numbers west,south,east,north, got {value}",
     "{field}必须是四个数：西,南,东,北（经纬度），而不是 {value}"),
    ("{field} must be four finite numbers, got {value}", "{field}必须是四个有限的数，而不是 {value}"),
    ("{field} longitudes must be in [-180, 180] and latitudes in [-90, 90], got {value}",
     "{field}的经度必须在 -180 到 180 之间、纬度在 -90 到 90 之间，而不是 {value}"),
    ("{field} must have west <= east and south <= north, got {value}",
     "{field}必须西不大于东、南不大于北，而不是 {value}"),
    (("method=network: no road network covers the point (lon {lon}, lat {lat} WGS-84): {detail}; use "
      "method=auto or circle"), "没有路网覆盖该位置（经度 {lon}，纬度 {lat}，WGS-84）；请用 method=auto 或 circle"),
    (("method=network: no road network covers the {field} point (lon {lon}, lat {lat} WGS-84): {detail}; use "
      "method=auto or circle"), "没有路网覆盖{field}（经度 {lon}，纬度 {lat}，WGS-84）；请用 method=auto 或 circle"),
    ("method=network: no one road network covers both the from and the to point; use method=auto or circle",
     "没有一个路网同时覆盖起点和终点；请用 method=auto 或 circle"),
    (("no way along the roads of network {name} by {value} from the from point to the to point (one-way streets "
      "or closed roads)"), "路网 {name} 中没有从起点到终点的{value}路线（单行道或道路封闭）"),
    ("{field} must be a number in ({lo}, {hi}], got {value}",
     "{field}必须是大于 {lo}、不超过 {hi} 的数，而不是 {value}"),
    ("{field} must be an integer in [{lo}, {hi}], got {value}",
     "{field}必须是 {lo} 到 {hi} 之间的整数，而不是 {value}"),
    ("{field} must be an hour of the day, an integer in [0, 23], got {value}",
     "{field}必须是 0 到 23 之间的整点，而不是 {value}"),
    ("{field} must be a finite number, got {value}", "{field}必须是有限的数，而不是 {value}"),
    ("{field} must be a positive number, got {value}", "{field}必须是正数，而不是 {value}"),
    ("{field} must be a number, got {value}", "{field}必须是数字，而不是 {value}"),
    ("{field} must be in [{lo}, {hi}] metres, got {value}", "{field}必须在 {lo} 到 {hi} 米之间，而不是 {value}"),
    ("{field} must be in [{lo}, {hi}], got {value}", "{field}必须在 {lo} 到 {hi} 之间，而不是 {value}"),
    ("{field} must be in ({lo}, {hi}], got {value}", "{field}必须大于 {lo}、不超过 {hi}，而不是 {value}"),
    ("{field} must be a date YYYY-MM-DD, got {value}",
     "{field}必须是 YYYY-MM-DD 格式的日期（如 2026-03-01），而不是 {value}"),
    ("{field} must be an ISO 8601 date-time such as {example}, got {value}",
     "{field}必须是日期时间（如 {example}），而不是 {value}"),
    ("{field} must be at most {n} characters, got {value}", "{field}最多 {n} 个字，而不是 {value} 个字"),
    ("{field} must be 6 digits, got {value}", "{field}必须是 6 位数字，而不是 {value}"),
    ("{field} must be one of {choices}, got {value}", "{field}必须是以下之一：{choices}，而不是 {value}"),
    ("latitude and longitude look swapped (lon={lon}, lat={lat})", "经度和纬度似乎填反了（经度 {lon}，纬度 {lat}）"),
    ("point ({lon}, {lat}) is outside China", "位置（{lon}, {lat}）不在中国境内"),
    ("unknown kind {value} (allowed: {choices})", "未知的类型 {value}（可选：{choices}）"),
    ("unknown service {value} (allowed: {choices})", "未知的服务 {value}（可选：{choices}）"),
    ("unknown status {value} (allowed: {choices})", "未知的状态 {value}（可选：{choices}）"),
    ("{field} must be a telephone number {detail}, got {value}",
     "{field}必须是电话号码（数字、空格、+ - ( )，分机可写作 转123），而不是 {value}"),
    ("{field} is not valid OpenStreetMap syntax: {value} ({detail}); or write hours as {examples}",
     ("无法识别{field} {value}：请按 OpenStreetMap 格式填写（如 Mo-Fr 08:00-18:00），"
     "或写成 周一至周五 9:00-17:00、每天 8:00-20:00、24小时")),
    ("{field} is not valid OpenStreetMap syntax: {value} ({detail})",
     "无法识别{field} {value}：请按 OpenStreetMap 格式填写（如 Mo-Fr 08:00-18:00）"),
    ("service_hours entries are service=hours, got {value}",
     "分项服务时间每行写作 服务=时间（如 hot_water=Mo-Fr 08:00-18:00），而不是 {value}"),
    ("service_hours names {services}, which the station does not offer (add it to services)",
     "分项服务时间写了站点未提供的服务：{services}（请先在服务中勾选）"),
    (("the point lies in no known district (the bundled boundaries cover Jiangsu only); give the district to "
     "keep it (stationmap import --district)"),
     "该位置不在任何已知区县内（内置边界只包括江苏省）；如要保留，请指定区县（stationmap import --district）"),
    (("adcode {said} is given but the point lies in no known district and the district for such points is "
     "{fallback}"), "填写的区划代码为 {said}，但该位置不在任何已知区县内，此类位置的区县为 {fallback}"),
    ("no station with id {value}", "没有编号为 {value} 的站点"),
    ("no check-in with id {value}", "没有编号为 {value} 的现场反馈"),
    ("check-in {value} is not an open item", "反馈 {value} 不是待处理的问题（可能已处理）"),
    ("{field} must be text, got {value}", "{field}必须是文字，而不是 {value}"),
    ("no district with adcode {value}", "没有区划代码为 {value} 的区县"),
    ("unknown parameter {value}; this endpoint takes {choices}", "未知的参数 {value}；可用的参数：{choices}"),
    ("unknown parameter {value}; an embed takes {choices}", "未知的参数 {value}；嵌入地图可用的参数：{choices}"),
    ("The CSRF token is missing.", "缺少表单令牌"),
    ("The CSRF session token is missing.", "会话中没有表单令牌（可能已退出或 Cookie 被清除）"),
    ("The CSRF token has expired.", "表单令牌已过期"),
    ("The CSRF token is invalid.", "表单令牌无效"),
    ("The CSRF tokens do not match.", "表单令牌不匹配"),
)

#: the query parameters of the pages a message may name (besides a station's fields)
PARAMETER_LABELS = {
    "minutes": ("分钟数", "Minutes"), "mode": ("出行方式", "Mode"), "kind": ("类型", "Kind"),
    "method": ("计算方法", "Method"), "profile": ("时段", "Profile"), "at": ("时间", "Time"),
    "hour": ("小时", "Hour"), "cell": ("网格大小", "Cell size"), "k": ("数量", "Count"),
    "report": ("反馈", "Report"), "outcome": ("反馈", "Outcome"), "note": ("说明", "Note"),
    "resolution": ("处理结果", "Resolution"), "service": ("服务", "Service"), "lang": ("语言", "Language"),
    "basemap": ("底图", "Base map"), "zoom": ("缩放级别", "Zoom"), "center": ("中心", "Centre"),
    "open_now": ("正在营业", "Open now"), "order": ("排序", "Order"), "out_datum": ("输出坐标系", "Output datum"),
    "bbox": ("范围", "Bounding box"), "district": ("区划代码", "District"), "scope": ("区县范围", "Scope"),
    "limit": ("每页数量", "Page size"), "offset": ("偏移量", "Offset"), "fields": ("属性", "Fields"),
    "level": ("级别", "Level"), "add": ("建议站点数", "Sites to add"), "cells": ("网格", "Cells"),
    "gaps": ("空白区数量", "Gaps"), "objective": ("选址目标", "Siting objective"),
    "from": ("起点", "Start"), "to": ("终点", "Destination"), "from_lat": ("起点纬度", "Start latitude"),
    "from_lon": ("起点经度", "Start longitude"), "to_lat": ("终点纬度", "Destination latitude"),
    "to_lon": ("终点经度", "Destination longitude"), "max_detour": ("最多绕路分钟数", "Largest detour"),
}

_VOCABULARIES = (KIND_LABELS, SERVICE_LABELS, STATUS_LABELS, MODE_LABELS, METHOD_LABELS, REPORT_LABELS,
                 RESOLUTION_LABELS, DATUM_LABELS, PROFILE_LABELS, HOST_LABELS, OBJECTIVE_LABELS)


@lru_cache(maxsize=1)
def _message_patterns() -> tuple[tuple[re.Pattern[str], str], ...]:
    out = []
    for english, zh in MESSAGE_LABELS:
        parts = re.split(r"\{(\w+)\}", english)
        rx = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>.*?)" for i, p in enumerate(parts))
        out.append((re.compile(rx + r"\Z", re.S), zh))
    return tuple(out)


def _said(name: str, value: str, lang: str) -> str:
    """One part of a library message in ``lang``: a field by its label, keys by their labels."""
    if name == "field":
        table = FIELD_LABELS if value in FIELD_LABELS else PARAMETER_LABELS
        return label(table, value, lang) if value in table else value
    if name in ("choices", "value", "services"):
        keys = re.findall(r"[A-Za-z0-9_]+", value)
        tables = [next((t for t in _VOCABULARIES if k in t), None) for k in keys]
        if keys and all(tables):
            return LIST_SEPARATORS[lang].join(label(t, k, lang) for t, k in zip(tables, keys) if t)
    return value


def say(message: str, lang: str) -> str:
    """A library message (English) in ``lang``: as it is in English, in Chinese by
    :data:`MESSAGE_LABELS` (a ``file: `` or ``row N: `` prefix kept)."""
    if lang != "zh" or not message:
        return message
    for rx, zh in _message_patterns():
        m = rx.match(message)
        if m:
            return zh.format(**{k: _said(k, v, lang) for k, v in m.groupdict().items()})
    return message
