"""Navigation links inside in-app browsers (WeChat, QQ, ...), by user agent, and each link's
datum against conversions published by independent implementations
(:mod:`tests.support.published_datums`), not against :mod:`stationmap.coords`."""

from __future__ import annotations

import math
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from pyproj import Geod

from stationmap.config import MODES
from stationmap.errors import ValidationError
from stationmap.maps.nav import client_of, in_app_browser, nav_links, nav_links_many
from tests.support.published_datums import COORDTRANSFORM, EVILTRANSFORM

GEOD = Geod(ellps="WGS84")

# user agents as the apps send them (Android and iOS)
WECHAT_ANDROID = ("Mozilla/5.0 (Linux; Android 12; V2118A Build/SP1A.210812.003; wv) AppleWebKit/537.36 (KHTML, like "
                  "Gecko) Version/4.0 Chrome/86.0.4240.99 XWEB/4317 MMWEBSDK/20220903 Mobile Safari/537.36 "
                  "MMWEBID/6170 MicroMessenger/8.0.28.2240(0x28001C57) WeChat/arm64 Weixin NetType/WIFI "
                  "Language/zh_CN ABI/arm64")
WECHAT_IOS = ("Mozilla/5.0 (iPhone; CPU iPhone OS 16_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
              "Mobile/15E148 MicroMessenger/8.0.30(0x18001e31) NetType/WIFI Language/zh_CN")
QQ_ANDROID = ("Mozilla/5.0 (Linux; Android 11; M2012K11AC Build/RKQ1.200826.002; wv) AppleWebKit/537.36 (KHTML, "
              "like Gecko) Version/4.0 Chrome/89.0.4389.72 MQQBrowser/6.2 TBS/046011 Mobile Safari/537.36 "
              "V1_AND_SQ_8.8.68_2538_YYB_D A_8086800 QQ/8.8.68.7265 NetType/WIFI WebP/0.3.0 Pixel/1080 "
              "StatusBarHeight/101 SimpleUISwitch/0 QQTheme/1000 InMagicWin/0")
WEIBO_IOS = ("Mozilla/5.0 (iPhone; CPU iPhone OS 15_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
             "Mobile/15E148 Weibo (iPhone13,2__weibo__12.4.0__iphone__os15.4)")
DINGTALK = ("Mozilla/5.0 (Linux; U; Android 10; zh-CN; HMA-AL00 Build/HUAWEIHMA-AL00) AppleWebKit/537.36 (KHTML, "
            "like Gecko) Version/4.0 Chrome/69.0.3497.100 UWS/3.22.0.36 Mobile Safari/537.36 AliApp(DingTalk/6.0.5) "
            "com.alibaba.android.rimet/15206477 Channel/10002068 language/zh-CN DingTalk/6.0.5")
ALIPAY = ("Mozilla/5.0 (Linux; U; Android 10; zh-CN; V1981A Build/QP1A.190711.020) AppleWebKit/537.36 (KHTML, like "
          "Gecko) Version/4.0 Chrome/69.0.3497.100 UWS/3.21.0.174 Mobile Safari/537.36 UCBS/3.21.0.174_200813194500 "
          "NebulaSDK/1.8.100112 Nebula AlipayDefined(nt:WIFI,ws:360|0|3.0) AliApp(AP/10.2.0.8026) AlipayClient/10.2.0.8026")
# browsers: keep the app links
CHROME_ANDROID = ("Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
                  "Chrome/119.0.0.0 Mobile Safari/537.36")
SAFARI_IOS = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
              "Version/17.1 Mobile/15E148 Safari/604.1")
QQ_BROWSER = ("Mozilla/5.0 (Linux; U; Android 11; zh-cn; PCAM00 Build/RKQ1.201217.002) AppleWebKit/537.36 (KHTML, "
              "like Gecko) Version/4.0 Chrome/87.0.4280.141 Mobile Safari/537.36 MQQBrowser/12.1 Mobile")
UC = ("Mozilla/5.0 (Linux; U; Android 10; zh-CN; V1981A) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 "
      "Chrome/78.0.3904.108 UCBrowser/13.4.0.1306 Mobile Safari/537.36")

IN_APP = [(WECHAT_ANDROID, "wechat"), (WECHAT_IOS, "wechat"), (QQ_ANDROID, "qq"), (WEIBO_IOS, "weibo"),
          (DINGTALK, "dingtalk"), (ALIPAY, "alipay")]
BROWSERS = [CHROME_ANDROID, SAFARI_IOS, QQ_BROWSER, UC, "", None]


@pytest.mark.parametrize("ua,name", IN_APP)
def test_in_app_browsers_are_recognised(ua: str, name: str) -> None:
    assert in_app_browser(ua) == name
    assert client_of(ua) == "in_app"


@pytest.mark.parametrize("ua", BROWSERS)
def test_browsers_are_not_in_app(ua: str | None) -> None:
    assert in_app_browser(ua) is None
    assert client_of(ua) == "app"


def _q(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, strict_parsing=True).items()}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("origin", [None, (120.7001, 31.3102)], ids=["from-phone", "from-my-position"])
def test_in_app_links_are_web_pages_with_the_mode(mode: str, origin: tuple[float, float] | None) -> None:
    """In WeChat the Amap link asks for its web route page (callnative=0), everywhere else it may open the
    app (callnative=1); the other parameters (mode, datum, points) are the same."""
    web = nav_links(120.7321, 31.3205, "星湖街驿站", mode=mode, origin_wgs84=origin, client=client_of(WECHAT_IOS))
    app = nav_links(120.7321, 31.3205, "星湖街驿站", mode=mode, origin_wgs84=origin, client=client_of(SAFARI_IOS))
    qa, qw = _q(app["amap"]), _q(web["amap"])
    assert qa["callnative"] == "1" and qw["callnative"] == "0"
    assert {k: v for k, v in qa.items() if k != "callnative"} == {k: v for k, v in qw.items() if k != "callnative"}
    assert qw["mode"] == {"walk": "walk", "bike": "ride", "ebike": "ride", "car": "car"}[mode]
    for links in (web, app):
        assert urlsplit(links["amap"]).netloc == "uri.amap.com"
        assert urlsplit(links["baidu"]).netloc == "api.map.baidu.com"
        assert _q(links["baidu"])["output"] == "html"   # Baidu's web page, which works in WeChat
        if origin is not None:
            assert _q(links["baidu"])["mode"] == {"walk": "walking", "bike": "riding", "ebike": "riding",
                                                  "car": "driving"}[mode]
    assert web["baidu"] == app["baidu"] and web["apple"] == app["apple"]


def test_an_unknown_client_is_refused() -> None:
    with pytest.raises(ValidationError, match="client"):
        nav_links_many([120.7], [31.3], ["x"], client="wechat")


def _bd09_from_gcj02(lon: float, lat: float) -> tuple[float, float]:
    """Baidu's published GCJ-02 -> BD-09 formula (as in wandergis/coordtransform), written out here."""
    x_pi = math.pi * 3000.0 / 180.0
    z = math.sqrt(lon * lon + lat * lat) + 0.00002 * math.sin(lat * x_pi)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * x_pi)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


def test_the_bd09_formula_here_reproduces_the_published_value() -> None:
    x, y = _bd09_from_gcj02(116.404, 39.915)
    assert GEOD.inv(x, y, *COORDTRANSFORM["gcj02tobd09"])[2] < 0.01


def _metres(a: tuple[float, float], b: tuple[float, float]) -> float:
    return GEOD.inv(a[0], a[1], b[0], b[1])[2]


@pytest.mark.parametrize("client", ["app", "in_app"])
@pytest.mark.parametrize("wlat,wlon,glat,glon", EVILTRANSFORM)
def test_each_link_is_in_its_apps_datum(client: str, wlat: float, wlon: float, glat: float, glon: float) -> None:
    """Amap and Apple get GCJ-02, Baidu BD-09 (coord_type=bd09ll): each checked against the published
    GCJ-02 of the WGS-84 point (eviltransform) and Baidu's formula on it, to the links' 6 decimals."""
    origin = (wlon + 0.01, wlat + 0.01)
    for with_origin in (False, True):
        links = nav_links(wlon, wlat, "站", mode="ebike", origin_wgs84=origin if with_origin else None,
                          client=client)
        amap = _q(links["amap"])
        assert amap["coordinate"] == "gaode"
        x, y, _name = amap["to"].split(",", 2)
        assert _metres((float(x), float(y)), (glon, glat)) < 0.2
        apple = _q(links["apple"])
        y, x = apple["daddr"].split(",")
        assert _metres((float(x), float(y)), (glon, glat)) < 0.2
        baidu = _q(links["baidu"])
        assert baidu["coord_type"] == "bd09ll"
        if with_origin:
            m = re.fullmatch(r"latlng:([^,]+),([^|]+)\|name:.*", baidu["destination"])
            assert m
            y, x = m.group(1), m.group(2)
        else:
            y, x = baidu["location"].split(",")
        assert _metres((float(x), float(y)), _bd09_from_gcj02(glon, glat)) < 0.2
