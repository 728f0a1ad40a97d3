"""Embed presets, the framing allowlist, district selection and the static site (no Flask)."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from urllib.parse import parse_qs

import pytest

from stationmap import publish
from stationmap.errors import ConfigError, ValidationError
from stationmap.hours import TZ
from stationmap.model import KINDS, SERVICES, Station

STATIC = Path(__file__).resolve().parents[2] / "static"


# -- presets ---------------------------------------------------------------------------

def test_default_presets():
    p = publish.parse_presets({})
    assert p == publish.EmbedPresets()
    assert p.show_list and p.locate and not p.scroll_zoom  # scroll-wheel zoom off inside an iframe
    assert p.to_query() == ""


@pytest.mark.parametrize("args,expected", [
    ({"kind": "rest,hot_tea"}, {"kinds": ("rest", "hot_tea")}),
    ({"service": "toilet", "lang": "en"}, {"services": ("toilet",), "lang": "en"}),
    ({"center": "119.95,31.78", "zoom": "14"}, {"center": (119.95, 31.78), "zoom": 14}),
    ({"list": "0", "locate": "false", "scroll": "1"}, {"show_list": False, "locate": False, "scroll_zoom": True}),
    ({"basemap": "osm"}, {"basemap": "osm"}),
])
def test_parse_presets(args, expected):
    p = publish.parse_presets(args)
    for k, v in expected.items():
        assert getattr(p, k) == v


@pytest.mark.parametrize("args,field", [
    ({"kind": "spa"}, "kind"), ({"service": "sauna"}, "service"), ({"lang": "fr"}, "lang"),
    ({"basemap": "google"}, "basemap"), ({"center": "abc"}, "center"), ({"center": "1,2,3"}, "center"),
    ({"center": "200,31"}, "center"), ({"center": "nan,31"}, "center"), ({"zoom": "25"}, "zoom"),
    ({"zoom": "1.5"}, "zoom"), ({"list": "maybe"}, "list"), ({"colour": "red"}, "colour"),
])
def test_bad_presets_name_the_parameter(args, field):
    with pytest.raises(ValidationError) as exc:
        publish.parse_presets(args)
    assert exc.value.field == field
    assert repr(list(args.values())[0]) in exc.value.message or field == "colour"


def test_query_round_trips():
    rng = random.Random(7)
    for _ in range(200):
        p = publish.EmbedPresets(
            kinds=tuple(rng.sample(list(KINDS), rng.randint(0, 2))),
            services=tuple(rng.sample(list(SERVICES), rng.randint(0, 3))),
            lang=rng.choice(["zh", "en"]), basemap=rng.choice(["", "amap", "osm"]),
            center=rng.choice([None, (round(rng.uniform(118, 122), 6), round(rng.uniform(30, 35), 6))]),
            zoom=rng.choice([None, rng.randint(3, 19)]), show_list=rng.random() < .5,
            locate=rng.random() < .5, scroll_zoom=rng.random() < .5)
        q = p.to_query()
        # what a browser sends: the parsed query string
        args = {k: v[0] for k, v in parse_qs(q, keep_blank_values=True).items()}
        assert publish.parse_presets(args) == p


# -- framing ---------------------------------------------------------------------------

ORIGINS = {"*": ["https://gonghui.example"], "3204": ["https://cz.example"],
           "320404": ["https://zl.example", "http://127.0.0.1:8080"], "3205": ["https://sz.example"]}


@pytest.mark.parametrize("adcode,expected", [
    ("320404", ["'self'", "https://gonghui.example", "https://cz.example", "https://zl.example", "http://127.0.0.1:8080"]),
    ("320402", ["'self'", "https://gonghui.example", "https://cz.example"]),
    ("320505", ["'self'", "https://gonghui.example", "https://sz.example"]),
    ("110101", ["'self'", "https://gonghui.example"]),
])
def test_frame_ancestors_by_prefix(adcode, expected):
    assert sorted(publish.frame_ancestors(ORIGINS, adcode)) == sorted(expected)
    assert publish.frame_ancestors({}, adcode) == ["'self'"]


@pytest.mark.parametrize("bad", [
    {"320404": ["https://a.example; script-src *"]}, {"320404": ["https://a.example/path"]},
    {"320404": ["javascript:alert(1)"]}, {"320404": ["https://a.example\r\nX-Evil: 1"]},
    {"32040": ["https://a.example"]}, {"320404": 5}, ["https://a.example"],
    {"320404": ["'none' https://a.example"]},
])
def test_bad_origins_are_config_errors(bad):
    with pytest.raises(ConfigError):
        publish.check_embed_origins(bad)


# -- the district's stations ---------------------------------------------------------------

@dataclass
class _D:
    adcode: str
    level: str


def _mk(i, adcode, **kw):
    return Station(id=f"s{i:03d}", name=f"站{i}", lon=119.9 + i * 1e-3, lat=31.7, adcode=adcode, **kw)


def test_select_stations_matches_brute_force():
    rng = random.Random(3)
    codes = ["320402", "320404", "320411", "320505", ""]
    stations = [_mk(i, rng.choice(codes), kinds=tuple(rng.sample(list(KINDS), rng.randint(1, 2))),
                    services=tuple(rng.sample(list(SERVICES), rng.randint(0, 12))),
                    status=rng.choice(["active", "active", "temporarily_closed", "closed"]))
                for i in range(300)]
    cases = [(_D("320404", "county"), publish.EmbedPresets()),
             (_D("320400", "city"), publish.EmbedPresets(kinds=("hot_tea",))),
             (_D("320404", "county"), publish.EmbedPresets(services=("toilet", "wifi"))),
             (_D("320000", "province"), publish.EmbedPresets(kinds=("rest", "legal_aid"), services=("toilet",)))]
    for district, presets in cases:
        got = [s.id for s in publish.select_stations(reversed(stations), district, presets)]
        want = []
        for s in sorted(stations, key=lambda s: s.id):
            in_district = (s.adcode == district.adcode if district.level == "county"
                           else s.adcode[:4] == district.adcode[:4] if district.level == "city"
                           else s.adcode[:2] == district.adcode[:2])
            kind_ok = not presets.kinds or any(k in presets.kinds for k in s.kinds)
            svc_ok = all(x in s.services for x in presets.services)
            if in_district and kind_ok and svc_ok and s.status != "closed":
                want.append(s.id)
        assert got == want and want


# -- opening hours of a page with no server -------------------------------------------------

def _open_in(h, t: datetime) -> bool:
    """Evaluate open_intervals' answer at ``t`` (aware) independently of the page script."""
    if h["always"]:
        return True
    if h["weekly"] is not None:
        local = t.astimezone(TZ)
        minute = local.weekday() * 1440 + local.hour * 60 + local.minute
        return any(a <= minute < b for a, b in h["weekly"])
    ms = t.timestamp() * 1000
    return any(a <= ms < b for a, b in h["open"])


@pytest.mark.parametrize("hours", [
    "24/7", "Mo-Fr 08:00-12:00,13:30-17:30; Sa 09:00-12:00", "Mo-Su 20:00-08:00",
    "Su 22:00-24:00; Mo 00:00-02:00", "Jun-Aug Mo-Fr 08:00-18:00", "Mo-Fr 09:00-17:00; 2024 Jun 10 off",
])
@pytest.mark.parametrize("status", ["active", "temporarily_closed", "reopening"])
def test_open_intervals_agree_with_the_model(hours, status):
    """The page's answer equals :mod:`stationmap.hours` at 400 random moments; "reopening":
    temporarily closed until 2024-06-20, 22 days into the span."""
    reopening = status == "reopening"
    st = Station(id="a", name="a", lon=120.0, lat=31.8, opening_hours=hours,
                 status="temporarily_closed" if reopening else status,
                 reopens_on=date(2024, 6, 20) if reopening else None)
    start = datetime(2024, 5, 29, 6, 17, tzinfo=TZ)
    h = publish.open_intervals(st, start=start, days=60)
    rng = random.Random(11)
    for _ in range(400):
        t = start + timedelta(minutes=rng.randrange(0, 60 * 24 * 60))
        assert _open_in(h, t) == st.open_at(t), (hours, t)
    if reopening:
        assert h["weekly"] is None and h["open"] and min(a for a, _b in h["open"]) >= datetime(
            2024, 6, 20, tzinfo=TZ).timestamp() * 1000
    elif status != "active":
        assert h["weekly"] == [] and not h["always"]
    elif hours.startswith("Mo-Fr 08:00"):
        assert h["weekly"] is not None and h["open"] == []  # compact: one week
    elif "Jun-Aug" in hours or "off" in hours:
        assert h["weekly"] is None and h["open"]  # not weekly: listed intervals


# -- the site ---------------------------------------------------------------------------------

XSS = "<img src=x onerror=alert(1)>"


def _payload(stations):
    return publish.static_payload(stations, boundaries=[], speeds_kmh={"walk": 4.8, "bike": 12, "ebike": 16, "car": 30},
                                  detour_factor=1.3, minutes=15, title="测试区",
                                  now=datetime(2024, 6, 1, tzinfo=timezone.utc))


def test_payload_and_stations_js():
    stations = [Station(id="x", name=XSS, lon=119.93, lat=31.78, adcode="320404", source="sample"),
                Station(id="y", name="普通驿站\u2028换行", lon=119.94, lat=31.79, adcode="320404")]
    p = _payload(stations)
    assert p["datum"] == "wgs84" and p["sample"] is True
    f = p["features"][0]
    assert f["geometry"]["coordinates"] == [119.93, 31.78] and f["properties"]["name"] == XSS
    nav = f["properties"]["nav"]
    assert set(nav) == {"walk", "bike", "ebike", "car"}
    assert nav["ebike"] == "bike" and isinstance(nav["bike"], dict)  # same links: named, not repeated
    assert "uri.amap.com" in nav["walk"]["amap"]
    js = publish.stations_js(p)
    prefix = f"window.{publish.GLOBAL} = "
    body = js[js.index(prefix) + len(prefix):].rstrip().rstrip(";")
    assert json.loads(body) == p
    assert "\u2028" not in js


def test_write_site(tmp_path):
    stations = [Station(id="x", name=XSS, lon=119.93, lat=31.78, adcode="320404")]
    out = tmp_path / "site"
    files = publish.write_site(out, index_html="<html></html>", payload=_payload(stations),
                               geojson={"type": "FeatureCollection", "features": []}, static_dir=STATIC,
                               readme="r\n")
    for rel in ("index.html", "stations.js", "stations.geojson", "README.txt",
                "assets/vendor/leaflet-1.9.4/leaflet.js", "assets/js/finder.js", "assets/js/embed.js",
                "assets/js/embed-static.js", "assets/css/finder.css", "assets/icons/kind-rest.svg"):
        assert (out / rel).is_file(), rel
    assert all(Path(f).is_file() for f in files)
    # again into the same folder: replaced, not duplicated
    publish.write_site(out, index_html="<html>2</html>", payload=_payload([]), geojson={}, static_dir=STATIC)
    assert (out / "index.html").read_text() == "<html>2</html>"
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValidationError):
        publish.write_site(tmp_path / "file", index_html="", payload={}, geojson={}, static_dir=STATIC)
    with pytest.raises(ConfigError):
        publish.write_site(tmp_path / "s2", index_html="", payload={}, geojson={}, static_dir=tmp_path)


PUBLISH_WITHOUT_FLASK = r"""
import json, sys
from datetime import datetime, timezone
from stationmap import config, publish
from stationmap.model import Station

stations = [Station(id="x", name=sys.argv[2], lon=119.93, lat=31.78, adcode="320404", source="sample"),
            Station(id="y", name="驿站", lon=119.94, lat=31.79, adcode="320404", kinds=("hot_tea",)),
            Station(id="z", name="关闭", lon=119.94, lat=31.79, adcode="320404", status="closed"),
            Station(id="o", name="别区", lon=119.99, lat=31.79, adcode="320402")]
res = publish.publish_district("320404", sys.argv[1], settings=config.load(), stations=stations,
                               presets=publish.EmbedPresets(lang="en"),
                               now=datetime(2024, 6, 1, tzinfo=timezone.utc))
print(json.dumps({"stations": res["stations"],
                  "flask": sorted(m for m in sys.modules if m.split(".")[0] in ("flask", "flask_babel"))}))
"""


def test_publish_district_renders_without_flask(tmp_path):
    """The static site is rendered with Jinja and Babel directly: no Flask module is imported."""
    import subprocess
    import sys

    out = tmp_path / "site"
    r = subprocess.run([sys.executable, "-c", PUBLISH_WITHOUT_FLASK, str(out), XSS], capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout.strip().splitlines()[-1])
    assert got == {"stations": 2, "flask": []}
    html = (out / "index.html").read_text(encoding="utf-8")
    assert '<script src="stations.js"></script>' in html and "assets/js/embed-static.js" in html
    assert "/static/" not in html and XSS not in html
    assert "Union rest stations map" in html and "Stations in this district" in html  # the English catalogue
    assert "SAMPLE DATA" in (out / "README.txt").read_text(encoding="utf-8")
    assert not (out / "tiles").exists()     # a few stations: one file, no tiles
    js = (out / "stations.js").read_text(encoding="utf-8")
    payload = json.loads(js[js.index("= ") + 2:].rstrip().rstrip(";"))
    assert sorted(f["id"] for f in payload["features"]) == ["x", "y"]
    assert payload["generated_at"] == "2024-06-01T08:00:00+08:00"


def test_payload_records_each_stations_freshness_when_given():
    from stationmap.labels import AGE_LABELS
    from stationmap.reports import Freshness

    stations = [Station(id="a", name="甲", lon=119.93, lat=31.78, adcode="320404"),
                Station(id="b", name="乙", lon=119.94, lat=31.78, adcode="320404")]
    plain = _payload(stations)
    assert plain["freshness_words"] is None and all("confirmed" not in f["properties"] for f in plain["features"])
    p = publish.static_payload(stations, boundaries=[], speeds_kmh={"walk": 4.8, "bike": 12, "ebike": 16, "car": 30},
                               detour_factor=1.3, minutes=15, now=datetime(2024, 6, 1, tzinfo=timezone.utc),
                               freshness={"a": Freshness(date(2024, 5, 29), "checkin", 2), "b": Freshness(None, "")})
    props = {f["id"]: f["properties"] for f in p["features"]}
    assert props["a"]["confirmed"] == {"on": "2024-05-29", "by": "checkin", "problems": 2}
    assert props["b"]["confirmed"] == {"on": None, "by": "", "problems": 0}
    assert json.loads(json.dumps(p["freshness_words"]))["age"]["days"] == list(AGE_LABELS["days"])


def _tile_payload(path: Path) -> tuple[str, dict]:
    text = path.read_text(encoding="utf-8")
    assert text.startswith("stationmapTile(") and text.endswith(");\n")
    key, _, body = text[len("stationmapTile("):-3].partition(",")
    return json.loads(key), json.loads(body)


def test_a_publish_of_many_stations_writes_tiles_that_count_every_station_at_every_zoom(tmp_path):
    """More than FINDER_TILES_FROM stations: stations.js holds none, the tiles (z/x/y.js) hold them, and at
    every zoom their clusters' counts and single stations add up to the published stations (the
    district's and its neighbours' within reach), each station once, with its published properties."""
    from stationmap import config
    from stationmap.config import FINDER_TILES_FROM, PUBLISH_STATIONS_ZOOM
    from tests.support.many import DISTRICT, many_in_district

    stations = many_in_district(FINDER_TILES_FROM + 500)
    out = tmp_path / "site"
    res = publish.publish_district(DISTRICT, out, settings=config.load(), stations=stations,
                                   now=datetime(2024, 6, 1, tzinfo=timezone.utc))
    published = res["stations"] + res["neighbours"]
    assert res["stations"] == sum(1 for s in stations if s.adcode == DISTRICT and s.status != "closed")
    assert res["neighbours"] > 0 and res["tiles"] > 0
    js = (out / "stations.js").read_text(encoding="utf-8")
    payload = json.loads(js[js.index("= ") + 2:].rstrip().rstrip(";"))
    assert payload["features"] == [] and payload["tiles"]["zoom"] == PUBLISH_STATIONS_ZOOM
    assert payload["tiles"]["stations"] == published
    html = (out / "index.html").read_text(encoding="utf-8")
    assert '"tiles": {"max_zoom": %d, "query": ' % PUBLISH_STATIONS_ZOOM in html
    files = sorted((out / "tiles").rglob("*.js"))
    assert len(files) == res["tiles"]
    by_zoom: dict[int, list[dict]] = {}
    for f in files:
        key, d = _tile_payload(f)
        assert f.relative_to(out / "tiles").as_posix() == key + ".js"
        assert d["tile"] == dict(zip("zxy", map(int, key.split("/"))))
        by_zoom.setdefault(d["tile"]["z"], []).append(d)
    assert sorted(by_zoom) == list(range(PUBLISH_STATIONS_ZOOM + 1))
    for z, tiles in by_zoom.items():
        counts = [f["properties"]["count"] if f["properties"].get("cluster") else 1 for d in tiles for f in d["features"]]
        assert sum(counts) == published, z
        assert sum(d["total"] for d in tiles) == published
        ids = [f["id"] for d in tiles for f in d["features"] if not f["properties"].get("cluster")]
        assert len(ids) == len(set(ids))
    assert by_zoom[0][0]["clusters"] >= 1
    top = [f for d in by_zoom[PUBLISH_STATIONS_ZOOM] for f in d["features"]]
    assert not any(f["properties"].get("cluster") for f in top)
    assert {f["id"] for f in top if not f["properties"]["neighbour"]} == {
        s.id for s in stations if s.adcode == DISTRICT and s.status != "closed"}
    assert sum(f["properties"]["neighbour"] for f in top) == res["neighbours"]
    assert {"hours", "nav", "neighbour", "kinds"} <= set(top[0]["properties"])
    assert "tiles/" in (out / "README.txt").read_text(encoding="utf-8")
    # a publish again over it with few stations: a single file again, the tiles gone
    small = publish.publish_district(DISTRICT, out, settings=config.load(), stations=stations[:50])
    assert small["tiles"] == 0 and not (out / "tiles").exists()
    js = (out / "stations.js").read_text(encoding="utf-8")
    assert len(json.loads(js[js.index("= ") + 2:].rstrip().rstrip(";"))["features"]) == small["stations"]
