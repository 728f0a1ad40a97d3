"""An embed's scope (its district and its neighbours within reach) and the none-within rule
through the API, the embed page's configuration and the CLI (issue 20)."""

from __future__ import annotations

import json

import pytest

from tests.support.border import BORDER_POINT, WEST_POINT, border_stations


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from tests.support.webforms import make_app

    return make_app(tmp_path_factory.mktemp("scope"), border_stations()).test_client()


def nearest(client, at=BORDER_POINT, **q):
    r = client.get("/api/v1/nearest", query_string={"lon": at[0], "lat": at[1], **q})
    assert r.status_code == 200, r.get_json()
    return r.get_json()


def test_nearest_says_none_within_and_names_the_nearest_hot_tea_point(client):
    d = nearest(client, WEST_POINT, kind="hot_tea")
    nw = d["none_within"]
    assert nw["minutes"] == 15 and nw["kinds"] == ["hot_tea"]
    assert nw["nearest"]["id"] == "tea" and nw["nearest"]["distance"] == "straight_line"
    assert 6_800 < nw["nearest"]["distance_m"] < 7_000 and nw["nearest"]["minutes"] > 15
    assert nw["message"]["zh"] == "15 分钟范围内没有热茶点。最近的是天宁热茶点，直线距离 6.9 公里。"
    assert nw["message"]["en"] == "No hot-tea point within 15 minutes. The nearest is Tian Ning Re Cha Dian (pinyin, 天宁热茶点), 6.9 km in a straight line."
    # the embed's scope holds it (a neighbour): the same answer there
    assert nearest(client, WEST_POINT, kind="hot_tea", scope="320404")["none_within"] == nw
    assert nearest(client, kind="hot_tea")["none_within"] is None     # from the border it is within 15 minutes
    assert nearest(client, WEST_POINT, kind="rest")["none_within"] is None


def test_scope_limits_nearest_to_the_district_and_marks_neighbours(client):
    d = nearest(client, scope="320404", k=5)
    ids = [f["properties"]["id"] for f in d["features"]]
    assert set(ids) == {"own", "near", "own-2", "tea"}          # never "far": not in the embed's scope
    assert {f["properties"]["id"]: f["properties"]["neighbour"] for f in d["features"]} == \
        {"own": False, "near": True, "own-2": False, "tea": True}
    # no legal-aid post at all: said, with no station named
    nw = nearest(client, scope="320404", kind="legal_aid")["none_within"]
    assert nw["nearest"] is None and nw["message"]["zh"] == "15 分钟范围内没有法律援助点。"
    assert nearest(client, k=5)["features"][0]["properties"].get("neighbour") is None


def test_stations_scope_lists_own_then_neighbours(client):
    r = client.get("/api/v1/stations", query_string={"scope": "320404"})
    assert r.status_code == 200
    feats = r.get_json()["features"]
    assert [(f["id"], f["properties"]["neighbour"]) for f in feats] == \
        [("own", False), ("own-2", False), ("near", True), ("tea", True)]


@pytest.mark.parametrize("bad", ["32x404", "999999"])
def test_bad_scope_is_a_400_naming_it(client, bad):
    for r in (client.get("/api/v1/stations", query_string={"scope": bad}),
              client.get("/api/v1/nearest", query_string={"lon": 119.9, "lat": 31.7, "scope": bad})):
        assert r.status_code == 400 and r.get_json()["error"]["field"] == "scope"


def test_embed_asks_for_its_scope_in_markers_and_list(client):
    html = client.get("/embed/320404").get_data(as_text=True)
    assert '"scope": "320404"' in html or '"scope":"320404"' in html
    assert '"nearest_query"' in html


def test_openapi_documents_scope_and_none_within(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    text = json.dumps(doc, ensure_ascii=False)
    assert "none_within" in text
    names = [p["name"] for p in doc["paths"]["/api/v1/nearest"]["get"]["parameters"]]
    assert "scope" in names


def test_cli_nearest_says_none_within_the_same_way(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from stationmap.cli import main
    from stationmap.store import StationStore

    url = f"sqlite:///{tmp_path}/cli.sqlite"
    store = StationStore(url)
    store.create_all()
    store.write_many(border_stations(), user="test", note="fixture")
    monkeypatch.setenv("STATIONMAP_DATABASE_URL", url)
    args = ["nearest", "--lon", str(WEST_POINT[0]), "--lat", str(WEST_POINT[1]), "--kind", "hot_tea"]
    out = CliRunner().invoke(main, args).output
    assert out.startswith("15 分钟范围内没有热茶点。最近的是天宁热茶点，直线距离 6.9 公里。\n"), out
    data = json.loads(CliRunner().invoke(main, [*args, "--format", "json"]).output)
    assert data["none_within"]["nearest"]["id"] == "tea"
    assert "没有" not in CliRunner().invoke(main, args[:-2]).output
