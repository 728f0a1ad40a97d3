"""GET /api/v1/nearest against a brute-force reference (pyproj.Geod over every station)."""

from __future__ import annotations

import random
from urllib.parse import parse_qs, urlsplit

import pytest
from pyproj import Geod

from stationmap.config import DEFAULT_SPEEDS_KMH, DETOUR_FACTOR, MODES
from stationmap.coords import wgs84_to_bd09, wgs84_to_gcj02

GEOD = Geod(ellps="WGS84")


def brute(stations, lon, lat, *, kinds=(), services=(), keep=None):
    """(distance_m, id) of every eligible station, nearest first: never closed ones."""
    out = []
    for s in stations:
        if s.status == "closed":
            continue
        if kinds and not set(kinds) & set(s.kinds):
            continue
        if not set(services) <= set(s.services):
            continue
        if keep is not None and not keep(s):
            continue
        out.append((GEOD.inv(lon, lat, s.lon, s.lat)[2], s.id))
    return sorted(out)


def get(client, **params):
    r = client.get("/api/v1/nearest", query_string=params)
    assert r.status_code == 200, r.get_json()
    assert r.mimetype == "application/geo+json"
    return r.get_json()


def test_default_is_five_nearest_ebike_with_reference_distances_and_minutes(client, web_stations, web_query_point, xss_name):
    lon, lat = web_query_point
    body = get(client, lat=lat, lon=lon)
    ref = brute(web_stations, lon, lat)[:5]
    assert body["type"] == "FeatureCollection" and body["datum"] == "wgs84"
    assert [f["id"] for f in body["features"]] == [i for _, i in ref]
    speed_m_per_min = DEFAULT_SPEEDS_KMH["ebike"] * 1000 / 60   # the default mode
    for f, (d, sid) in zip(body["features"], ref):
        p = f["properties"]
        assert p["id"] == sid
        assert p["distance_m"] == pytest.approx(d, abs=0.06)
        assert p["minutes"] == pytest.approx(d * DETOUR_FACTOR / speed_m_per_min, abs=0.06)
        assert p["within_minutes"] is (d * DETOUR_FACTOR / speed_m_per_min <= 15)
    # the closed station is nearer than every other one, and never returned
    assert GEOD.inv(lon, lat, 119.9591, 31.7891)[2] < ref[0][0]
    assert "closed-near" not in [f["id"] for f in body["features"]]
    assert body["features"][0]["properties"]["name"] == xss_name


@pytest.mark.parametrize("mode", MODES)
def test_minutes_follow_the_mode_speed_and_detour_factor(client, web_stations, mode):
    lon, lat = 119.93, 31.80
    body = get(client, lat=lat, lon=lon, mode=mode, minutes=7, k=20)
    speed = DEFAULT_SPEEDS_KMH[mode] * 1000 / 60
    ref = brute(web_stations, lon, lat)[:20]
    assert [f["id"] for f in body["features"]] == [i for _, i in ref]
    for f, (d, _) in zip(body["features"], ref):
        expected = d * DETOUR_FACTOR / speed
        assert f["properties"]["minutes"] == pytest.approx(expected, abs=0.06)
        assert f["properties"]["within_minutes"] is (expected <= 7)
    assert body["query"]["mode"] == mode and body["query"]["minutes"] == 7
    assert body["reach"]["radius_m"] == pytest.approx(7 * speed / DETOUR_FACTOR, abs=0.06)
    assert body["reach"]["speed_kmh"] == DEFAULT_SPEEDS_KMH[mode]
    assert body["reach"]["detour_factor"] == DETOUR_FACTOR


def test_random_points_and_k_match_brute_force(client, web_stations):
    rng = random.Random(5)
    eligible = len(brute(web_stations, 0, 0))
    for _ in range(25):
        lon, lat = 119.85 + rng.random() * 0.25, 31.70 + rng.random() * 0.2
        k = rng.choice([1, 3, 5, 17, 100])
        body = get(client, lat=lat, lon=lon, k=k)
        ref = brute(web_stations, lon, lat)[:k]
        assert len(body["features"]) == min(k, eligible)
        assert [f["id"] for f in body["features"]] == [i for _, i in ref]
        got = [f["properties"]["distance_m"] for f in body["features"]]
        assert got == pytest.approx([d for d, _ in ref], abs=0.06)


def test_far_query_point_still_answers_nearest_first(client, web_stations):
    lon, lat = 116.397, 39.909  # Beijing, ~1000 km away
    body = get(client, lat=lat, lon=lon, k=3)
    ref = brute(web_stations, lon, lat)[:3]
    assert [f["id"] for f in body["features"]] == [i for _, i in ref]
    assert all(f["properties"]["within_minutes"] is False for f in body["features"])


@pytest.mark.parametrize("kinds, services", [
    (("hot_tea",), ()),
    (("legal_aid", "hot_tea"), ()),
    ((), ("toilet",)),
    ((), ("drinking_water", "microwave")),
    (("rest",), ("ebike_charging",)),
])
def test_kind_is_any_of_and_service_is_all_of(client, web_stations, kinds, services):
    lon, lat = 119.97, 31.79
    params = [("lat", lat), ("lon", lon), ("k", 10)] + [("kind", k) for k in kinds] + [("service", s) for s in services]
    r = client.get("/api/v1/nearest", query_string=params)
    assert r.status_code == 200
    ref = brute(web_stations, lon, lat, kinds=kinds, services=services)[:10]
    assert ref, "the fixture should have matching stations"
    assert [f["id"] for f in r.get_json()["features"]] == [i for _, i in ref]
    for f in r.get_json()["features"]:
        p = f["properties"]
        assert not kinds or set(kinds) & set(p["kinds"])
        assert set(services) <= set(p["services"])


def test_comma_separated_kinds_equal_repeated_ones(client):
    a = client.get("/api/v1/nearest?lat=31.79&lon=119.97&k=10&kind=hot_tea,legal_aid").get_json()
    b = client.get("/api/v1/nearest?lat=31.79&lon=119.97&k=10&kind=hot_tea&kind=legal_aid").get_json()
    assert [f["id"] for f in a["features"]] == [f["id"] for f in b["features"]]


def test_open_now_at_sunday_night_keeps_only_round_the_clock_stations(client, web_stations, web_query_point):
    # 2024-05-05 is a Sunday: at 03:00 only "24/7" hours are open (the fixture's
    # other hours all start at 07:00 or later), and only active stations open.
    lon, lat = web_query_point
    body = get(client, lat=lat, lon=lon, k=10, open_now="true", at="2024-05-05T03:00:00+08:00")
    ref = brute(web_stations, lon, lat, keep=lambda s: s.opening_hours == "24/7" and s.status == "active")[:10]
    assert [f["id"] for f in body["features"]] == [i for _, i in ref]
    assert all(f["properties"]["open_now"] for f in body["features"])
    # without open_now the same time reports office-hours as closed
    body = get(client, lat=lat, lon=lon, k=3, at="2024-05-05T03:00:00+08:00")
    by_id = {f["id"]: f["properties"]["open_now"] for f in body["features"]}
    assert by_id["office-hours"] is False and by_id["xss"] is True


def test_at_without_offset_is_shanghai_time_and_utc_is_converted(client, web_query_point):
    lon, lat = web_query_point
    # Wednesday 10:00 in Shanghai == 02:00 UTC: office hours (Mo-Fr 09-17) are open
    for at in ("2024-05-08T10:00:00", "2024-05-08T02:00:00Z", "2024-05-08 10:00"):
        body = get(client, lat=lat, lon=lon, k=3, at=at)
        assert {f["id"]: f["properties"]["open_now"] for f in body["features"]}["office-hours"] is True, at
        assert body["query"]["at"] == "2024-05-08T10:00:00+08:00"
    # Wednesday 18:00 in Shanghai: closed
    body = get(client, lat=lat, lon=lon, k=3, at="2024-05-08T10:00:00Z")
    assert {f["id"]: f["properties"]["open_now"] for f in body["features"]}["office-hours"] is False


def test_input_datums_give_the_same_answer(client, web_query_point):
    lon, lat = web_query_point
    wgs = get(client, lat=lat, lon=lon, k=8)
    glon, glat = wgs84_to_gcj02(lon, lat)
    blon, blat = wgs84_to_bd09(lon, lat)
    for datum, (x, y) in (("gcj02", (glon, glat)), ("bd09", (blon, blat))):
        other = get(client, lat=y, lon=x, datum=datum, k=8)
        assert [f["id"] for f in other["features"]] == [f["id"] for f in wgs["features"]]
        assert [f["properties"]["distance_m"] for f in other["features"]] == pytest.approx(
            [f["properties"]["distance_m"] for f in wgs["features"]], abs=0.2)
        assert other["datum"] == "wgs84"  # output stays WGS-84 unless out_datum says otherwise
        assert other["query"]["lon"] == pytest.approx(lon, abs=2e-6)


@pytest.mark.parametrize("out_datum, convert", [("gcj02", wgs84_to_gcj02), ("bd09", wgs84_to_bd09)])
def test_out_datum_converts_coordinates_and_says_so(client, web_stations, out_datum, convert, web_query_point):
    lon, lat = web_query_point
    body = get(client, lat=lat, lon=lon, k=5, out_datum=out_datum)
    assert body["datum"] == out_datum
    by_id = {s.id: s for s in web_stations}
    for f in body["features"]:
        s = by_id[f["id"]]
        assert f["geometry"]["coordinates"] == pytest.approx(list(convert(s.lon, s.lat)), abs=1.5e-6)
    assert [body["query"]["lon"], body["query"]["lat"]] == pytest.approx(list(convert(lon, lat)), abs=1.5e-6)
    # the shift is real: 300-700 m in Changzhou
    wlon, wlat = body["features"][0]["geometry"]["coordinates"]
    s = by_id[body["features"][0]["id"]]
    assert 200 < GEOD.inv(s.lon, s.lat, wlon, wlat)[2] < 1200


def _q(url):
    parts = urlsplit(url)
    return parts.scheme + "://" + parts.netloc + parts.path, {k: v[0] for k, v in parse_qs(parts.query).items()}


@pytest.mark.parametrize("mode, amap, baidu, apple", [
    ("walk", "walk", "walking", "w"), ("bike", "ride", "riding", None),
    ("ebike", "ride", "riding", None), ("car", "car", "driving", "d"),
])
def test_nav_links_use_each_apps_datum_and_mode(client, web_stations, mode, amap, baidu, apple, web_query_point):
    lon, lat = web_query_point
    body = get(client, lat=lat, lon=lon, k=3, mode=mode)
    by_id = {s.id: s for s in web_stations}
    olon_g, olat_g = wgs84_to_gcj02(lon, lat)
    olon_b, olat_b = wgs84_to_bd09(lon, lat)
    for f in body["features"]:
        s = by_id[f["id"]]
        glon, glat = wgs84_to_gcj02(s.lon, s.lat)
        blon, blat = wgs84_to_bd09(s.lon, s.lat)
        nav = f["properties"]["nav"]
        base, q = _q(nav["amap"])
        assert base == "https://uri.amap.com/navigation"
        assert q["coordinate"] == "gaode" and q["mode"] == amap
        to_lon, to_lat, to_name = q["to"].split(",", 2)
        assert (float(to_lon), float(to_lat)) == pytest.approx((glon, glat), abs=1.5e-6)
        assert to_name == s.name.replace(",", " ")
        from_lon, from_lat, _ = q["from"].split(",", 2)
        assert (float(from_lon), float(from_lat)) == pytest.approx((olon_g, olat_g), abs=1.5e-6)
        base, q = _q(nav["baidu"])
        assert base == "https://api.map.baidu.com/direction"
        assert q["coord_type"] == "bd09ll" and q["mode"] == baidu
        dest = q["destination"]
        assert dest.startswith("latlng:")
        d_lat, d_lon = dest[len("latlng:"):].split("|")[0].split(",")
        assert (float(d_lat), float(d_lon)) == pytest.approx((blat, blon), abs=1.5e-6)
        o_lat, o_lon = q["origin"][len("latlng:"):].split("|")[0].split(",")
        assert (float(o_lat), float(o_lon)) == pytest.approx((olat_b, olon_b), abs=1.5e-6)
        assert q["origin"].split("|")[1] == "name:我的位置"
        assert dest.split("|", 1)[1] == "name:" + " ".join(s.name.replace("|", " ").replace(":", " ")
                                                         .replace(",", " ").split())
        base, q = _q(nav["apple"])
        assert base == "https://maps.apple.com/"
        d_lat, d_lon = q["daddr"].split(",")
        assert (float(d_lat), float(d_lon)) == pytest.approx((glat, glon), abs=1.5e-6)
        assert q.get("dirflg") == apple


def test_sample_flag_is_true_only_when_a_returned_station_is_sample(client, web_stations, web_query_point):
    lon, lat = web_query_point
    body = get(client, lat=lat, lon=lon, k=1)
    assert body["features"][0]["id"] == "xss" and body["sample"] is True
    assert body["features"][0]["properties"]["sample"] is True
    # at office-hours (source "test"), k=1 returns only it
    body = get(client, lat=31.7925, lon=119.9625, k=1)
    assert body["features"][0]["id"] == "office-hours"
    assert body["sample"] is False and body["features"][0]["properties"]["sample"] is False


def test_ranking_is_one_replaceable_function(app, client, web_query_point):
    """The network ranking plugs in through state().rank."""
    from stationmap.web.state import Ranked

    calls = []

    def fake_rank(index, lon, lat, *, k, mode, settings, kinds=None, services=None, open_at=None):
        calls.append((lon, lat, k, mode))
        hits = index.nearest(lon, lat, k=k)
        return [Ranked(h.station, h.distance_m, 99.0) for h in reversed(hits)]

    fake_rank.method = "network"
    app.extensions["stationmap"].rank = fake_rank
    lon, lat = web_query_point
    body = get(client, lat=lat, lon=lon, k=3)
    assert calls == [(lon, lat, 3, "ebike")]
    assert body["reach"]["method"] == "network"
    assert [f["properties"]["minutes"] for f in body["features"]] == [99.0] * 3
    assert body["features"][-1]["id"] == "xss"  # the ranker's order is kept
    assert all(f["properties"]["within_minutes"] is False for f in body["features"])


def test_empty_database_gives_an_empty_collection(make_web_app):
    client = make_web_app([]).test_client()
    body = get(client, lat=31.79, lon=119.96)
    assert body["features"] == [] and body["sample"] is False


def test_written_station_is_found_by_the_next_request(app, client, make_station, web_query_point):
    store = app.extensions["stationmap"].store
    store.insert(make_station(id="new-1", name="新站", lon=web_query_point[0] + 0.0001, lat=web_query_point[1]))
    body = get(client, lat=web_query_point[1], lon=web_query_point[0], k=1)
    assert body["features"][0]["id"] == "new-1"


def test_a_write_through_one_worker_is_seen_by_another(tmp_path, make_station):
    """Two apps over one SQLite file stand for two gunicorn workers: the cheap
    change probe (PRAGMA data_version) must still notice the other's commit."""
    from stationmap.store import StationStore
    from stationmap.web import create_app

    url = f"sqlite:///{tmp_path}/shared.sqlite"
    StationStore(url).create_all()
    one = create_app({"database_url": url, "instance_path": str(tmp_path / "i"), "TESTING": True})
    two = create_app({"database_url": url, "instance_path": str(tmp_path / "i"), "TESTING": True})
    c1, c2 = one.test_client(), two.test_client()
    assert get(c2, lat=31.78, lon=119.95)["features"] == []
    assert get(c2, lat=31.78, lon=119.95)["features"] == []  # probe unchanged: no revision query needed
    one.extensions["stationmap"].store.insert(make_station(id="w1"))
    assert [f["id"] for f in get(c2, lat=31.78, lon=119.95)["features"]] == ["w1"]
    two.extensions["stationmap"].store.delete("w1")
    assert get(c1, lat=31.78, lon=119.95)["features"] == []
