"""Issue 20: the API's ``lang``: English names (``display_name``) for readers of English, and error
messages for people in their language (``display_message``), with the English ``message`` unchanged."""

from __future__ import annotations

import pytest

from stationmap.model import Station

SIP = (120.72, 31.31)
STATIONS = [
    Station(id="a", name="星湖街驿站", lon=SIP[0], lat=SIP[1], adcode="320571", kinds=("rest",)),
    Station(id="b", name="钟楼驿站", name_en="Zhonglou Station", lon=SIP[0] + 0.01, lat=SIP[1], adcode="320571",
            kinds=("rest",)),
    Station(id="c", name="Starbucks 2", lon=SIP[0] + 0.02, lat=SIP[1], adcode="320571", kinds=("rest",)),
]
ENGLISH = {"a": ("Xing Hu Jie Yi Zhan", "pinyin"), "b": ("Zhonglou Station", "name_en"), "c": ("Starbucks 2", "name")}


@pytest.fixture
def client(make_web_app):
    return make_web_app(STATIONS).test_client()


def _names(features):
    return {f["id"]: (f["properties"].get("display_name"), f["properties"].get("display_name_source"))
            for f in features if f["properties"].get("role", "station") == "station"}


Q = f"lat={SIP[1]}&lon={SIP[0]}"


@pytest.mark.parametrize("url", [f"/api/v1/nearest?{Q}&k=3", f"/api/v1/reach?{Q}", "/api/v1/stations",
                                 "/api/v1/stations?fields=name,kinds", f"/api/v1/nearest?{Q}&k=3&scope=320571"])
def test_lang_en_adds_the_english_readers_name(client, url):
    sep = "&" if "?" in url else "?"
    en = client.get(url + sep + "lang=en")
    assert en.status_code == 200, en.get_json()
    assert _names(en.get_json()["features"]) == ENGLISH
    for f in en.get_json()["features"]:
        if "name" in f["properties"]:
            assert f["properties"]["name"] in {"星湖街驿站", "钟楼驿站", "Starbucks 2"}   # the stored name stays
    for other in ("", sep + "lang=zh"):
        body = client.get(url + other).get_json()
        assert _names(body["features"]) == {k: (None, None) for k in ENGLISH}


def test_one_station_in_english(client):
    p = client.get("/api/v1/stations/a?lang=en").get_json()["properties"]
    assert (p["name"], p["display_name"], p["display_name_source"]) == ("星湖街驿站", "Xing Hu Jie Yi Zhan", "pinyin")
    assert "display_name" not in client.get("/api/v1/stations/a").get_json()["properties"]


def test_fields_without_name_carry_no_english_name(client):
    feats = client.get("/api/v1/stations?fields=kinds,open_now&lang=en").get_json()["features"]
    assert all(set(f["properties"]) == {"kinds", "open_now"} for f in feats)


def test_the_default_answer_is_what_it_was(client):
    """Without lang the bytes are those of lang=zh (the cached pieces are shared), and an English
    answer between them does not leak its names into the Chinese ones."""
    url = f"/api/v1/nearest?{Q}&k=3&at=2026-12-07T10:00"
    before = client.get(url).data
    client.get(url + "&lang=en")
    assert client.get(url).data == before == client.get(url + "&lang=zh").data
    assert b"display_name" not in before


def test_lang_is_checked(client):
    r = client.get(f"/api/v1/nearest?{Q}&lang=fr")
    assert r.status_code == 400
    err = r.get_json()["error"]
    assert err["field"] == "lang" and err["message"] == "lang must be one of ('zh', 'en'), got 'fr'"


# -- error messages ---------------------------------------------------------------------------------

@pytest.mark.parametrize("url, message, zh", [
    (f"/api/v1/nearest?lat=abc&lon={SIP[0]}", "lat must be a number, got 'abc'", "纬度必须是数字，而不是 'abc'"),
    (f"/api/v1/nearest?{Q}&kind=pub", "kind must be one of ('rest', 'hot_tea', 'legal_aid'), got 'pub'",
     "类型必须是以下之一：工会驿站、热茶点、法律援助点，而不是 'pub'"),
    (f"/api/v1/nearest?{Q}&k=500", "k must be an integer in [1, 100], got '500'",
     "数量必须是 1 到 100 之间的整数，而不是 '500'"),
    ("/api/v1/stations?knd=rest", None, "未知的参数 'knd'"),
    ("/api/v1/stations/nope", "no station with id 'nope'", "没有编号为 'nope' 的站点"),
    (f"/api/v1/nearest?lon={SIP[0]}", "lat is required", "缺少纬度"),
    ("/api/v1/stations?open_now=yes", "open_now must be true or false, got 'yes'", "正在营业必须是 true 或 false，而不是 'yes'"),
    ("/api/v1/districts/boundaries?district=abc", "district must be an adcode or adcode prefix of 1-6 digits, got 'abc'",
     "区划代码必须是 1 到 6 位数字的区划代码或其前缀，而不是 'abc'"),
    ("/api/v1/coverage?district=320571&minutes=0", None, "分钟数必须在"),
])
def test_api_errors_in_chinese_and_english(client, url, message, zh):
    sep = "&" if "?" in url else "?"
    for ask, headers in ((sep + "lang=zh", {}), ("", {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"})):
        r = client.get(url + ask, headers=headers)
        assert 400 <= r.status_code < 500
        err = r.get_json()["error"]
        assert err["lang"] == "zh" and err["display_message"].startswith(zh), err
        if message:
            assert err["message"] == message    # the English message stays, for programs
    for ask, headers in ((sep + "lang=en", {"Accept-Language": "zh-CN"}), ("", {}),
                         ("", {"Accept-Language": "en-GB,en;q=0.9,zh;q=0.5"}), ("", {"Accept-Language": "*"}),
                         ("", {"Accept-Language": "fr-FR"})):
        r = client.get(url + ask, headers=headers)
        err = r.get_json()["error"]
        assert err["lang"] == "en" and err["display_message"] == err["message"], (ask, headers, err)
        if message:
            assert err["message"] == message


def test_route_and_method_errors_in_chinese(client):
    r = client.get("/api/v1/nowhere?lang=zh")
    assert r.status_code == 404 and r.get_json()["error"]["display_message"].startswith("找不到")
    r = client.post("/api/v1/nearest?lang=zh")
    assert r.status_code == 405 and r.get_json()["error"]["display_message"] == "此地址不接受这种请求方式。"
    r = client.post("/api/v1/nearest?lang=en")
    assert r.get_json()["error"]["display_message"] == "This address does not take this kind of request."


def test_the_openapi_document_says_lang_and_the_error_members(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    for path, op in doc["paths"].items():
        if "get" not in op:  # (a POST with a JSON body: check-ins)
            continue
        names = [p["name"] for p in op["get"]["parameters"]]
        assert "lang" in names, path
    err = doc["components"]["schemas"]["Error"]["properties"]["error"]
    assert {"lang", "display_message"} <= set(err["required"])
    props = doc["components"]["schemas"]["StationProperties"]["properties"]
    assert props["display_name_source"]["enum"] == ["name_en", "pinyin", "name"]


def test_pinyin_is_made_once_per_name(client, monkeypatch):
    """The English answers do not run pypinyin per request: once per name, then kept."""
    import pypinyin

    from stationmap import labels

    labels.pinyin_name.cache_clear()
    calls = []
    real = pypinyin.lazy_pinyin
    monkeypatch.setattr(pypinyin, "lazy_pinyin", lambda *a, **k: calls.append(a[0]) or real(*a, **k))
    for _ in range(5):
        client.get(f"/api/v1/nearest?{Q}&k=3&lang=en")
        client.get("/api/v1/stations?lang=en&at=2026-12-07T10:00")
    assert calls == ["星湖街驿站"]     # (钟楼驿站 has its English name; Starbucks 2 no Chinese)


@pytest.mark.parametrize("lon, english", [(SIP[0] - 0.05, "Xing Hu Jie Yi Zhan (pinyin, 星湖街驿站)"),
                                          (SIP[0] + 0.01, "Zhonglou Station (钟楼驿站)")])
def test_none_within_names_the_nearest_in_english_beside_the_chinese_name(client, lon, english):
    lat = SIP[1] + (0 if lon < SIP[0] else 0.05)
    nw = client.get(f"/api/v1/nearest?lat={lat}&lon={lon}&k=3&minutes=1&method=circle").get_json()["none_within"]
    assert f"The nearest is {english}, " in nw["message"]["en"]
    chinese = english.split("(")[-1].split(", ")[-1].rstrip(")")
    assert f"最近的是{chinese}，" in nw["message"]["zh"]
    assert nw["nearest"]["name"] == chinese


def test_a_413_says_the_limit_in_both_languages(make_web_app):
    """A request body over the limit, on a JSON path (a probe route that reads its body: the API's own
    routes are GET only): the message and display_message name the limit."""
    from flask import request

    app = make_web_app(STATIONS, MAX_CONTENT_LENGTH=200_000)

    @app.post("/api/v1/_probe")
    def _probe():
        return {"n": len(request.get_data())}

    c = app.test_client()
    for lang, said in (("zh", "发送的内容超过了允许的大小（最大 195 KB）。"),
                       ("en", "What was sent is larger than allowed (at most 195 KB).")):
        r = c.post(f"/api/v1/_probe?lang={lang}", data=b"x" * 300_000)
        err = r.get_json()["error"]
        assert r.status_code == 413 and err["display_message"] == said
        assert err["message"] == "the request is larger than the limit of 195 KB"
