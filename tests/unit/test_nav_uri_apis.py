"""Each navigation link checked against the URI API of the app that opens it.

The specs below are transcribed from each vendor's documentation, not from
:mod:`stationmap.maps.nav`, so a change in how the links are built that breaks
an app's contract fails here:

* Amap URI API, route planning (``uri.amap.com/navigation``): ``from``/``to`` are
  ``lon,lat,name``; ``mode`` is one of car, bus, walk, ride; ``coordinate`` is
  gaode (GCJ-02) or wgs84; ``callnative`` is 0 or 1; ``src`` names the caller.
* Baidu Maps URI API, web (``api.map.baidu.com/direction`` and ``/marker``):
  ``origin``/``destination`` are ``latlng:lat,lng|name:NAME`` (latitude first);
  ``mode`` is one of transit, driving, walking, riding; ``coord_type`` one of
  bd09ll, bd09mc, gcj02, wgs84; ``output=html``; ``src`` is required and has the
  form ``webapp.companyName.appName``; ``marker`` takes ``location=lat,lng`` with
  ``title`` and ``content``; coordinates carry at most 6 decimals.
* Apple Map Links (``maps.apple.com``): ``saddr``/``daddr`` are ``lat,lon``;
  ``dirflg`` is d (car), w (walk) or r (transit); there is no cycling flag.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from stationmap.config import MODES
from stationmap.coords import wgs84_to_bd09, wgs84_to_gcj02
from stationmap.maps.nav import nav_links

AMAP = {"base": "https://uri.amap.com/navigation", "mode": {"car", "bus", "walk", "ride"},
        "coordinate": {"gaode", "wgs84"}, "callnative": {"0", "1"},
        "allowed": {"from", "to", "via", "mode", "policy", "src", "coordinate", "callnative"}}
BAIDU = {"direction": "https://api.map.baidu.com/direction", "marker": "https://api.map.baidu.com/marker",
         "mode": {"transit", "driving", "walking", "riding"},
         "coord_type": {"bd09ll", "bd09mc", "gcj02", "wgs84"},
         "src": re.compile(r"^webapp\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"),
         "direction_allowed": {"origin", "destination", "mode", "region", "origin_region",
                               "destination_region", "coord_type", "zoom", "output", "src"},
         "marker_allowed": {"location", "title", "content", "coord_type", "zoom", "output", "src"}}
APPLE = {"base": "https://maps.apple.com/", "dirflg": {"d", "w", "r"},
         "allowed": {"saddr", "daddr", "dirflg", "q", "ll", "z", "t"}}
# what each app calls our travel modes (None: the app has no such mode)
MODE_NAMES = {"walk": ("walk", "walking", "w"), "bike": ("ride", "riding", None),
              "ebike": ("ride", "riding", None), "car": ("car", "driving", "d")}
SIX_DECIMALS = re.compile(r"^-?\d+\.\d{1,6}$")
STATION = (120.7321, 31.3205, "星湖街驿站, 东|门:1")
ORIGIN = (120.7001, 31.3102)


def _split(url: str) -> tuple[str, dict[str, str]]:
    parts = urlsplit(url)
    q = parse_qs(parts.query, keep_blank_values=True, strict_parsing=True)
    assert all(len(v) == 1 for v in q.values()), f"a parameter repeats in {url}"
    return f"{parts.scheme}://{parts.netloc}{parts.path}", {k: v[0] for k, v in q.items()}


def _num(text: str) -> float:
    assert SIX_DECIMALS.match(text), f"{text!r} is not a number with at most 6 decimals"
    return float(text)


def _check_amap(url: str, mode: str, with_origin: bool) -> None:
    base, q = _split(url)
    assert base == AMAP["base"]
    assert set(q) <= AMAP["allowed"] and {"to", "mode", "src", "coordinate"} <= set(q)
    assert q["mode"] in AMAP["mode"] and q["mode"] == MODE_NAMES[mode][0]
    assert q["coordinate"] in AMAP["coordinate"] and q["callnative"] in AMAP["callnative"]
    assert q["src"]
    points = [("to", STATION)] + ([("from", (*ORIGIN, ""))] if with_origin else [])
    assert ("from" in q) == with_origin
    for key, (lon, lat, name) in points:
        x, y, label = q[key].split(",", 2)
        want = wgs84_to_gcj02(lon, lat) if q["coordinate"] == "gaode" else (lon, lat)
        assert (_num(x), _num(y)) == pytest.approx(want, abs=1.5e-6)  # lon first
        assert "," not in label and (key == "from" or label.split() == name.replace(",", " ").split())


def _baidu_point(value: str) -> tuple[float, float, str]:
    m = re.fullmatch(r"latlng:([^,|]+),([^,|]+)\|name:([^|:]+)", value)
    assert m, f"{value!r} is not latlng:LAT,LNG|name:NAME"
    return _num(m.group(1)), _num(m.group(2)), m.group(3)


def _check_baidu(url: str, mode: str, with_origin: bool) -> None:
    base, q = _split(url)
    assert BAIDU["src"].match(q["src"]), q["src"]
    assert q["output"] == "html" and q["coord_type"] in BAIDU["coord_type"]
    want = {"bd09ll": wgs84_to_bd09, "gcj02": wgs84_to_gcj02, "wgs84": lambda x, y: (x, y)}[q["coord_type"]]
    lon, lat, name = STATION
    if not with_origin:
        assert base == BAIDU["marker"] and set(q) <= BAIDU["marker_allowed"]
        y, x = (_num(v) for v in q["location"].split(","))  # latitude first
        assert (x, y) == pytest.approx(want(lon, lat), abs=1.5e-6)
        assert q["title"] == name and q["content"] == name
        return
    assert base == BAIDU["direction"] and set(q) <= BAIDU["direction_allowed"]
    assert q["mode"] in BAIDU["mode"] and q["mode"] == MODE_NAMES[mode][1]
    y, x, label = _baidu_point(q["destination"])
    assert (x, y) == pytest.approx(want(lon, lat), abs=1.5e-6)
    assert label.split() == re.sub(r"[,|:]", " ", name).split()
    y, x, _ = _baidu_point(q["origin"])
    assert (x, y) == pytest.approx(want(*ORIGIN), abs=1.5e-6)


def _check_apple(url: str, mode: str, with_origin: bool) -> None:
    base, q = _split(url)
    assert base == APPLE["base"] and set(q) <= APPLE["allowed"]
    flag = MODE_NAMES[mode][2]
    assert q.get("dirflg") == flag and (flag is None or flag in APPLE["dirflg"])
    points = [("daddr", STATION[:2])] + ([("saddr", ORIGIN)] if with_origin else [])
    assert ("saddr" in q) == with_origin
    for key, (lon, lat) in points:
        y, x = (_num(v) for v in q[key].split(","))  # latitude first; GCJ-02 inside China
        assert (x, y) == pytest.approx(wgs84_to_gcj02(lon, lat), abs=1.5e-6)


@pytest.mark.parametrize("with_origin", [False, True], ids=["from-phone", "from-my-position"])
@pytest.mark.parametrize("mode", MODES)
def test_every_link_keeps_its_apps_uri_contract(mode: str, with_origin: bool) -> None:
    lon, lat, name = STATION
    links = nav_links(lon, lat, name, mode=mode, origin_wgs84=ORIGIN if with_origin else None,
                      origin_name="我的位置")
    assert set(links) == {"amap", "baidu", "apple"}
    _check_amap(links["amap"], mode, with_origin)
    _check_baidu(links["baidu"], mode, with_origin)
    _check_apple(links["apple"], mode, with_origin)


def test_the_checks_catch_a_broken_link() -> None:
    """The contract checks fail on the mistakes they exist for."""
    lon, lat, name = STATION
    good = nav_links(lon, lat, name, mode="walk", origin_wgs84=ORIGIN)
    broken = {
        "amap": [good["amap"].replace("mode=walk", "mode=walking")],
        "baidu": [good["baidu"].replace("src=webapp.stationmap.finder", "src=stationmap"),
                  good["baidu"].replace("mode=walking", "mode=walk")],
        "apple": [good["apple"].replace("dirflg=w", "dirflg=b")],
    }
    check = {"amap": _check_amap, "baidu": _check_baidu, "apple": _check_apple}
    for app, urls in broken.items():
        for url in urls:
            assert url != good[app]
            with pytest.raises(AssertionError):
                check[app](url, "walk", True)
