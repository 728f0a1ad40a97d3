"""What-if on the coverage page's run: stations dropped and taken out, figures side by side,
checked against a whole new run with the scenario's stations; the scenario as an importable CSV."""

from __future__ import annotations

import io

import numpy as np
import pytest

from stationmap import coverage as cv
from stationmap.io.importer import parse_stations

Q = "district=320402&kind=rest&mode=walk&minutes=10&cell=250"


def test_whatif_equals_a_new_run_with_the_scenario_stations(ro_client, ro_app):
    from stationmap.model import Station

    base = ro_client.get(f"/api/v1/coverage/whatif?{Q}").get_json()
    assert base["current"] == base["scenario"] and all(v in (0, 0.0, None) for v in base["change"].values())
    cov = ro_client.get(f"/api/v1/coverage?{Q}&gaps=3").get_json()
    spots = [(g["lon"], g["lat"]) for g in cov["gaps"][:2]]     # two gap centres: where new stations help
    new = ";".join(f"{x:.6f},{y:.6f}" for x, y in spots)
    with ro_app.test_request_context():
        from stationmap.web.state import state

        stations = state().index.stations()
        inside = [s for s in stations if s.adcode == "320402" and "rest" in s.kinds and s.status != "closed"]
    out = inside[0].id
    r = ro_client.get(f"/api/v1/coverage/whatif?{Q}&new={new}&without={out}")
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()
    # the same figures from a whole run with the scenario's stations
    scen = [s for s in stations if s.id != out] + [Station(id=f"n{i}", name="n", lon=x, lat=y, kinds=("rest",))
                                                   for i, (x, y) in enumerate(spots)]
    ref = cv.analyse("320402", scen, kinds=["rest"], mode="walk", minutes=10, cell_m=250)
    w, c = ref.demand, ref.count["rest"]
    assert body["scenario"]["covered"] == pytest.approx(w[c >= 1].sum() / w.sum(), rel=1e-12)
    assert body["scenario"]["cross_covered"] == pytest.approx(w[c >= 2].sum() / w.sum(), rel=1e-12)
    assert body["scenario"]["uncovered_people"] == pytest.approx(w[c == 0].sum(), rel=1e-9)
    assert body["current"]["covered"] == pytest.approx(cov["stats"][-1]["demand_covered"], rel=1e-12)
    assert body["change"]["covered_people"] == pytest.approx(
        body["scenario"]["covered_people"] - body["current"]["covered_people"])
    assert body["change"]["covered_people"] > 0 and body["gaps"]["type"] == "FeatureCollection"


def test_whatif_takes_gcj02_points(ro_client):
    from stationmap.coords import wgs84_to_gcj02

    x, y = 119.95, 31.78
    gx, gy = wgs84_to_gcj02(x, y)
    a = ro_client.get(f"/api/v1/coverage/whatif?{Q}&new={x},{y}").get_json()
    b = ro_client.get(f"/api/v1/coverage/whatif?{Q}&new={gx:.7f},{gy:.7f}&datum=gcj02").get_json()
    assert b["new"][0]["lon"] == pytest.approx(x, abs=2e-6) and b["new"][0]["lat"] == pytest.approx(y, abs=2e-6)
    assert a["scenario"]["covered_people"] == pytest.approx(b["scenario"]["covered_people"], rel=1e-9)


@pytest.mark.parametrize("query,field", [
    ("new=120", "new"), ("new=120,31;abc,1", "new"), ("new=200,31", "new"), ("without=nope", "remove"),
    ("new=" + ";".join(["120,31"] * 201), "new"), ("datum=mars", "datum"), ("add=3", "add"),
])
def test_whatif_bad_input_is_a_clean_400(ro_client, query, field):
    r = ro_client.get(f"/api/v1/coverage/whatif?{Q}&{query}")
    assert r.status_code == 400
    assert r.get_json()["error"]["field"] == field


def test_whatif_csv_is_importable(ro_client, ro_app):
    with ro_app.test_request_context():
        from stationmap.web.state import state

        out = next(s for s in state().index.stations() if s.adcode == "320402" and "rest" in s.kinds
                   and s.status != "closed")
    r = ro_client.get(f"/coverage/320402/whatif.csv?kind=rest&mode=walk&minutes=10&cell=250"
                      f"&new=119.95,31.78;119.96,31.79&without={out.id}")
    assert r.status_code == 200 and r.mimetype == "text/csv"
    t = parse_stations(io.BytesIO(r.data), filename="whatif.csv")
    assert not t.problems
    got = {s.id: s for s in t.stations}
    assert {s.name for s in got.values() if s.source == "what-if"} == {"候选站点 1", "候选站点 2"}
    assert got[out.id].status == "closed" and got[out.id].name == out.name
    assert np.isclose(got["whatif-320402-1"].lon, 119.95)
