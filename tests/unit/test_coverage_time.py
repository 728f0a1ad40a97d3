"""Coverage at a moment and over time (issue 15) against independent references.

* At a moment: the stations are chosen by evaluating their hours with opening-hours-py
  directly (not through stationmap.hours), then every cell is measured against every
  chosen station with pyproj.Geod and the circle method's formula (distance x detour
  factor / speed): across midnight, a season boundary (31 Oct 23:00 -> 1 Nov 08:00), a
  ``Mo[1]`` service day and a reopening date.
* Over time: a week profile equals its 168 runs made one by one, a year profile its 12
  (circle method), and a few moments of a road-network run.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import opening_hours
import pytest
from shapely.geometry import box

from stationmap import config
from stationmap import coverage as cv
from stationmap.checks import check_hour, check_profile
from stationmap.errors import ValidationError
from stationmap.model import Station
from tests.support.geodesic import geod_matrix

SETTINGS = config.load({"speeds_kmh": dict(config.DEFAULT_SPEEDS_KMH), "detour_factor": config.DETOUR_FACTOR,
                        "minutes": config.DEFAULT_MINUTES, "max_snap_m": 500.0})
SHANGHAI = ZoneInfo("Asia/Shanghai")
ROADS = Path(config.PACKAGE_DIR).parent / "data" / "roads" / "sip_roads.gpkg"
WEST = box(119.950, 31.750, 119.985, 31.785)
EAST = box(119.985, 31.755, 120.015, 31.780)
SHARES = ("area_covered", "area_cross_covered", "demand_covered", "demand_cross_covered")


def _areas():
    return [cv.Area("900001", "西测试区", "county", WEST, population=120_000),
            cv.Area("900002", "东测试区", "county", EAST, population=60_000)]


#: (hours, status, reopens_on, service_hours, kinds, services): the cases the moments below tell apart
CASES = [
    ("24/7", "active", None, (), ("rest",), ()),
    ("Mo-Su 08:00-20:00", "active", None, (), ("rest",), ()),
    ("Mo-Su 22:00-06:00", "active", None, (), ("rest",), ()),                 # overnight
    ("Mo-Fr 09:00-17:00; Sa 09:00-12:00", "active", None, (), ("rest", "legal_aid"), ("legal_aid",)),
    ("Nov-Mar 07:00-19:00", "active", None, (), ("hot_tea",), ("hot_water",)),  # hot tea in season
    ("Nov-Mar", "active", None, (), ("hot_tea",), ("hot_water",)),            # all day in season
    ("Mo-Su 08:00-18:00", "active", None, (("legal_aid", "Mo[1] 09:00-12:00"),), ("rest", "legal_aid"),
     ("legal_aid", "toilet")),                                                 # the lawyer's first Monday
    ("Mo-Su 08:00-18:00", "active", None, (("hot_water", "Nov-Mar"),), ("rest",), ("hot_water",)),
    ("24/7", "temporarily_closed", date(2026, 12, 8), (), ("rest", "hot_tea"), ()),  # reopens 8 Dec
    ("24/7", "temporarily_closed", None, (), ("rest",), ()),                  # no date: stays shut
    ("24/7", "closed", None, (), ("rest",), ()),
]

#: the moments, Asia/Shanghai time
MOMENTS = {
    "across midnight (Sunday 23:30)": datetime(2026, 11, 1, 23, 30),
    "across midnight (Monday 02:00)": datetime(2026, 11, 2, 2, 0),
    "season: 31 Oct 23:00": datetime(2026, 10, 31, 23, 0),
    "season: 1 Nov 08:00": datetime(2026, 11, 1, 8, 0),
    "Mo[1]: Monday 7 Dec 10:00": datetime(2026, 12, 7, 10, 0),
    "not Mo[1]: Monday 14 Dec 10:00": datetime(2026, 12, 14, 10, 0),
    "the day before reopening, 7 Dec 21:00": datetime(2026, 12, 7, 21, 0),
    "the reopening day, 8 Dec 21:00": datetime(2026, 12, 8, 21, 0),
}


def _stations(seed=11, per_case=3):
    rng = np.random.default_rng(seed)
    out = []
    for c, (hours, status, reopens, own, kinds, services) in enumerate(CASES):
        for r in range(per_case):
            out.append(Station(id=f"c{c}-{r}", name=f"站{c}-{r}", lon=float(rng.uniform(119.945, 120.02)),
                               lat=float(rng.uniform(31.748, 31.787)), kinds=kinds, services=services,
                               opening_hours=hours, status=status, reopens_on=reopens, service_hours=own))
    return out


def _open_reference(st, local, services=()):
    """Whether ``st`` (and each of ``services``) is open at naive Shanghai time ``local``, read
    with opening-hours-py directly: status and reopening date, then every rule that applies."""
    if st.status == "closed":
        return False
    if st.status == "temporarily_closed" and (st.reopens_on is None or local.date() < st.reopens_on):
        return False
    if not all(s in st.services for s in services):
        return False
    own = dict(st.service_hours)
    for expr in [st.opening_hours, *(own[s] for s in services if s in own)]:
        if expr and not opening_hours.OpeningHours(expr).is_open(local):
            return False
    return True


def _reference(grid, stations, kind, *, mode, minutes, horizon):
    speed = SETTINGS.speed_kmh(mode) * 1000 / 60
    st = [s for s in stations if kind in s.kinds]
    if not st:
        return np.full(len(grid), np.inf), np.zeros(len(grid), int)
    t = geod_matrix(grid.lon, grid.lat, [s.lon for s in st], [s.lat for s in st]) * SETTINGS.detour_factor / speed
    best = t.min(axis=1)
    best[best > horizon] = np.inf
    return best, (t <= minutes).sum(axis=1)


@pytest.mark.parametrize("services", [(), ("legal_aid",), ("hot_water",)], ids=["any", "legal_aid", "hot_water"])
def test_coverage_at_a_moment_equals_the_reference(services):
    stations = _stations()
    grid = cv.make_grid(_areas(), cell_m=250)
    open_sets = {}
    for label, local in MOMENTS.items():
        cov = cv.analyse(_areas(), stations, mode="walk", minutes=10, method="circle", grid=grid, settings=SETTINGS,
                         at=local, services=services)
        assert cov.at == local.replace(tzinfo=SHANGHAI) and cov.params()["at"] == local.isoformat() + "+08:00"
        chosen = [s for s in stations if _open_reference(s, local, services)]
        open_sets[label] = {s.id for s in chosen}
        assert set(cov.stations.id.tolist()) == open_sets[label], label
        stats = cov.stats().set_index(["adcode", "kind"])
        for kind in cov.kinds:
            best, count = _reference(grid, chosen, kind, mode="walk", minutes=10, horizon=cov.horizon_minutes)
            np.testing.assert_array_equal(cov.count[kind], count, err_msg=f"{label}, {kind}")
            np.testing.assert_allclose(cov.minutes[kind], best, rtol=1e-6, atol=1e-6, err_msg=f"{label}, {kind}")
            for a in _areas():
                m = grid.adcode == a.adcode
                row = stats.loc[(a.adcode, kind)]
                assert row.area_covered == pytest.approx((grid.area_m2[m] * (count[m] >= 1)).sum()
                                                         / grid.area_m2[m].sum(), abs=1e-12)
                assert row.area_cross_covered == pytest.approx((grid.area_m2[m] * (count[m] >= 2)).sum()
                                                               / grid.area_m2[m].sum(), abs=1e-12)
    # the moments tell the cases apart (so a run that ignored `at` would fail above)
    if not services:
        assert "c2-0" in open_sets["across midnight (Sunday 23:30)"] & open_sets["across midnight (Monday 02:00)"]
        assert "c1-0" not in open_sets["across midnight (Monday 02:00)"]
        assert "c5-0" not in open_sets["season: 31 Oct 23:00"] and "c5-0" in open_sets["season: 1 Nov 08:00"]
        assert "c4-0" in open_sets["season: 1 Nov 08:00"]
        assert "c8-0" not in open_sets["the day before reopening, 7 Dec 21:00"]
        assert "c8-0" in open_sets["the reopening day, 8 Dec 21:00"]
    if services == ("legal_aid",):
        assert "c6-0" in open_sets["Mo[1]: Monday 7 Dec 10:00"]
        assert "c6-0" not in open_sets["not Mo[1]: Monday 14 Dec 10:00"]
        assert "c3-0" in open_sets["not Mo[1]: Monday 14 Dec 10:00"]   # a lawyer without own hours
    if services == ("hot_water",):
        assert "c7-0" not in open_sets["season: 31 Oct 23:00"] and "c7-0" in open_sets["season: 1 Nov 08:00"]
    assert len({frozenset(v) for v in open_sets.values()}) >= 3


def test_without_at_every_station_but_the_closed_ones_counts():
    stations = _stations()
    cov = cv.analyse(_areas(), stations, mode="walk", minutes=10, cell_m=500, settings=SETTINGS)
    assert cov.at is None and cov.params()["at"] is None
    assert set(cov.stations.id.tolist()) == {s.id for s in stations if s.status != "closed"}
    cov = cv.analyse(_areas(), stations, mode="walk", minutes=10, cell_m=500, settings=SETTINGS,
                     services=["legal_aid"])
    assert set(cov.stations.id.tolist()) == {s.id for s in stations
                                             if s.status != "closed" and "legal_aid" in s.services}
    with pytest.raises(ValidationError) as e:
        cv.analyse(_areas(), stations, cell_m=500, settings=SETTINGS, services=["sauna"])
    assert e.value.field == "service"


def test_moments_of_a_week_and_a_year():
    week = cv.week_moments(datetime(2026, 11, 4, 15, 20))        # a Wednesday
    assert len(week) == 168 and week[0] == datetime(2026, 11, 2, 0, tzinfo=SHANGHAI)
    assert week[-1] == datetime(2026, 11, 8, 23, tzinfo=SHANGHAI)
    assert [m.hour for m in week[:25]] == [*range(24), 0] and week[24].weekday() == 1
    # an aware moment elsewhere is taken in Shanghai: Sunday 20:00 UTC is Monday 04:00 there
    from datetime import timezone

    assert cv.week_moments(datetime(2026, 11, 8, 20, tzinfo=timezone.utc))[0].day == 9
    year = cv.year_moments(datetime(2027, 3, 1), 21)
    assert [(m.year, m.month, m.day, m.hour) for m in year] == [(2027, mo, 15, 21) for mo in range(1, 13)]
    assert cv.moments_for("year", datetime(2027, 3, 1)) == cv.year_moments(datetime(2027, 3, 1), 12)
    for bad in ("month", "", None, "Week"):
        with pytest.raises(ValidationError) as e:
            check_profile(bad)
        assert e.value.field == "profile"
    for bad in (24, -1, "7pm", True, 3.0, "123"):
        with pytest.raises(ValidationError) as e:
            check_hour(bad)
        assert e.value.field == "hour"
    assert check_hour("07") == 7 and check_hour(np.int64(23)) == 23


def _snapshots(areas, stations, moments, *, grid, **kw):
    return [cv.analyse(areas, stations, grid=grid, settings=SETTINGS, at=m, **kw).stats() for m in moments]


def _assert_profile_equals(profile, snaps, moments):
    t = profile.table
    assert len(t) == sum(len(s) for s in snaps)
    for m, snap in zip(moments, snaps):
        rows = t[t.moment == m.isoformat()].reset_index(drop=True)
        assert rows.adcode.tolist() == snap.adcode.tolist() and rows.kind.tolist() == snap.kind.tolist()
        np.testing.assert_array_equal(rows.stations_open.to_numpy(), snap.stations.to_numpy(), err_msg=str(m))
        for col in SHARES:
            np.testing.assert_allclose(rows[col].to_numpy(float), snap[col].to_numpy(float), rtol=1e-12,
                                       atol=1e-15, err_msg=f"{m} {col}")


def _week_stations(seed=5, n=40):
    """Stations with the sample's kinds of hours: weekdays, weekends, evenings, nights, seasons."""
    rng = np.random.default_rng(seed)
    # (station i has hours[i % 10] and kinds[i % 5]: the hot-tea points keep office hours or the cold
    # months' (Dec-Feb, Nov-Mar), a few rest stations open in summer only)
    hours = ["24/7", "Mo-Fr 08:30-17:30", "Mo-Fr 08:00-12:00,13:30-17:30; Sa 09:00-12:00", "Mo-Su 06:00-22:00",
             "Mo-Fr 08:00-18:00; Sa,Su 09:00-17:00", "Mo-Su 22:00-06:00", "Mo-Su 07:00-23:00",
             "Dec-Feb Mo-Su 06:30-18:30", "Jun-Aug 10:00-22:00", "Nov-Mar 07:00-19:00"]
    kinds = [("rest",), ("rest", "legal_aid"), ("hot_tea",), ("rest",), ("rest", "hot_tea")]
    out = []
    for i in range(n):
        lawyer = i % 7 == 1     # legal aid in office hours; half of them on the 2nd and 4th Tuesday mornings only
        own = (("legal_aid", "Tu[2,4] 09:00-11:30"),) if i % 14 == 1 else ()
        out.append(Station(id=f"w{i}", name=f"站{i}", lon=float(rng.uniform(119.94, 120.025)),
                           lat=float(rng.uniform(31.745, 31.79)), kinds=kinds[i % len(kinds)],
                           services=("legal_aid",) if lawyer else ("toilet",),
                           opening_hours="Mo-Fr 08:00-18:00" if lawyer else hours[i % len(hours)],
                           status="temporarily_closed" if i % 13 == 4 else ("closed" if i % 17 == 9 else "active"),
                           reopens_on=date(2026, 12, 10) if i == 4 else None, service_hours=own))
    return out


def test_a_week_profile_equals_its_168_runs():
    areas, stations = _areas(), _week_stations()
    at = datetime(2026, 12, 9, 15)            # the week of Monday 7 December: one station reopens on the 10th
    base = cv.analyse(areas, stations, mode="ebike", minutes=5, cell_m=500, settings=SETTINGS, at=at)
    moments = cv.week_moments(at)
    prof = cv.time_profile(base, stations, moments)
    assert prof.name == "week" and prof.moments == moments and prof.hour is None
    snaps = _snapshots(areas, stations, moments, grid=base.grid, mode="ebike", minutes=5)
    _assert_profile_equals(prof, snaps, moments)
    assert 1 < prof.distinct_sets["rest"] < 168
    assert len({tuple(s.demand_covered.round(12)) for s in snaps}) > 3      # the hours matter here
    # the night: the hours from 22:00 to 06:00, min and mean over the week's nights
    fig = prof.figures().set_index(["adcode", "kind", "figure", "statistic"])
    night = [k for k, m in enumerate(moments) if m.hour >= 22 or m.hour < 6]
    assert len(night) == 56
    for code in ("900001", "900002", "all"):
        for kind in ("rest", "hot_tea"):
            for col in SHARES:
                vals = [s.set_index(["adcode", "kind"]).loc[(code, kind), col] for s in (snaps[k] for k in night)]
                assert fig.loc[(code, kind, "night", "min"), col] == pytest.approx(min(vals), abs=1e-12)
                assert fig.loc[(code, kind, "night", "mean"), col] == pytest.approx(np.mean(vals), abs=1e-12)
    assert fig.loc[("all", "rest", "night", "min"), "moments"] == 56
    heat = prof.grid_of("demand_covered", kind="rest", adcode="all")
    assert heat.shape == (7, 24) and heat[0, 23] == pytest.approx(
        snaps[23].set_index(["adcode", "kind"]).loc[("all", "rest"), "demand_covered"])
    d = prof.to_dict()
    assert len(d["moments"]) == 168 and d["night_hours"] == [22, 6] and len(d["rows"]) == len(prof.table)
    assert d["from"] == "2026-12-07T00:00:00+08:00" and d["to"] == "2026-12-13T23:00:00+08:00"


def test_a_week_profile_with_a_service_equals_its_runs():
    areas, stations = _areas(), _week_stations()
    at = datetime(2026, 12, 9, 15)
    base = cv.analyse(areas, stations, kinds=["legal_aid", "rest"], minutes=10, cell_m=500, settings=SETTINGS,
                      services=["legal_aid"])
    moments = cv.week_moments(at)
    prof = cv.time_profile(base, stations, moments)
    assert prof.services == ("legal_aid",)
    snaps = _snapshots(areas, stations, moments, grid=base.grid, kinds=["legal_aid", "rest"], minutes=10,
                       services=["legal_aid"])
    _assert_profile_equals(prof, snaps, moments)
    # half of the lawyers sit on the second and fourth Tuesday mornings only (the 8th is the second
    # Tuesday), the others in office hours
    t = prof.table
    day = t[(t.kind == "legal_aid") & (t.adcode == "all")]
    tue, wed = day[day.weekday == 1], day[day.weekday == 2]
    assert tue[tue.hour == 10].stations_open.item() > tue[tue.hour == 14].stations_open.item() > 0
    assert wed[wed.hour == 10].stations_open.item() == tue[tue.hour == 14].stations_open.item()


def test_a_year_profile_equals_its_12_runs_and_gives_winter_and_summer():
    areas, stations = _areas(), _week_stations()
    base = cv.analyse(areas, stations, minutes=5, cell_m=500, settings=SETTINGS)
    moments = cv.year_moments(datetime(2027, 5, 1), 12)
    prof = cv.time_profile(base, stations, moments, hour=12)
    assert prof.name == "year" and prof.hour == 12
    snaps = _snapshots(areas, stations, moments, grid=base.grid, minutes=5)
    _assert_profile_equals(prof, snaps, moments)
    fig = prof.figures().set_index(["adcode", "kind", "figure", "statistic"])
    for figure, months in (("winter", (12, 1, 2)), ("summer", (6, 7, 8))):
        for col in SHARES:
            vals = [snaps[mo - 1].set_index(["adcode", "kind"]).loc[("all", "hot_tea"), col] for mo in months]
            assert fig.loc[("all", "hot_tea", figure, "mean"), col] == pytest.approx(np.mean(vals), abs=1e-12)
    # the hot-tea points of the cold months cover more in winter than in summer
    assert fig.loc[("all", "hot_tea", "winter", "mean"), "demand_covered"] > \
        fig.loc[("all", "hot_tea", "summer", "mean"), "demand_covered"]
    assert prof.grid_of("area_covered", kind="rest", adcode="900001").shape == (12,)


@pytest.mark.slow
def test_a_network_profile_equals_its_runs():
    from stationmap.io.sample import load_sample
    from stationmap.network import Network

    net = Network.from_gpkg(ROADS, settings=SETTINGS)
    stations = [s for s in load_sample(settings=SETTINGS) if s.adcode == "320571"]
    base = cv.analyse("320571", stations, network=net, mode="walk", cell_m=500, kinds=["rest"], settings=SETTINGS)
    assert base.method == "network"
    moments = [datetime(2026, 12, 7, h) for h in (3, 8, 12, 19, 23)] + [datetime(2026, 7, 5, 12)]
    prof = cv.time_profile(base, stations, moments, name="year")
    snaps = [cv.analyse("320571", stations, network=net, mode="walk", grid=base.grid, kinds=["rest"],
                        settings=SETTINGS, at=m).stats() for m in moments]
    _assert_profile_equals(prof, snaps, [m.replace(tzinfo=SHANGHAI) for m in moments])
    assert len({tuple(s.demand_covered.round(12)) for s in snaps}) > 1


# -- the command line ---------------------------------------------------------------------------

def test_cli_coverage_at_a_moment_and_its_week(tmp_path):
    import pandas as pd

    from stationmap.io.sample import load_sample
    from tests.support.cli import run

    out = tmp_path / "o"
    res = run("coverage", "320402", "--sample", "--kind", "rest", "--cell", "1000", "--at", "2026-12-07T03:00",
              "--profile", "week", "--out", out)
    assert res.exit_code == 0, res.output
    assert "at 2026-12-07 03:00 (Asia/Shanghai)" in res.output and "night (22:00-06:00) min, rest" in res.output
    stations = load_sample(settings=SETTINGS)
    at = datetime(2026, 12, 7, 3, tzinfo=SHANGHAI)
    want = cv.analyse("320402", stations, kinds=["rest"], cell_m=1000, settings=SETTINGS, at=at).stats()
    anytime = cv.analyse("320402", stations, kinds=["rest"], cell_m=1000, settings=SETTINGS).stats()
    fig = pd.read_csv(out / "figures.csv", encoding="utf-8-sig", dtype={"adcode": str})
    assert fig.demand_covered.tolist() == pytest.approx(want.demand_covered.tolist(), abs=1e-9)
    assert fig.demand_covered.item() < anytime.demand_covered.item()     # at 03:00 most stations are shut
    prof = pd.read_csv(out / "profile_week.csv", encoding="utf-8-sig", dtype={"adcode": str})
    assert len(prof) == 168 and prof.moment.iloc[0] == "2026-12-07T00:00:00+08:00" and prof.sample_data.all()
    assert prof.demand_covered.iloc[3] == pytest.approx(want.demand_covered.item(), abs=1e-9)
    sheets = pd.read_excel(out / "profile_week.xlsx", sheet_name=None)
    assert set(sheets) == {"profile", "figures", "about"}
    night = sheets["figures"]
    assert night.figure.tolist() == ["night", "night"] and night.statistic.tolist() == ["min", "mean"]
    assert night.demand_covered.iloc[0] == pytest.approx(prof[prof.hour.map(lambda h: h >= 22 or h < 6)]
                                                         .demand_covered.min(), abs=1e-9)
    for name in ("profile_week_heatmap.png", "profile_week_lines.png"):
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_year_profile_writes_winter_and_summer(tmp_path):
    import pandas as pd

    from tests.support.cli import run

    out = tmp_path / "y"
    res = run("coverage", "320404", "--sample", "--kind", "hot_tea", "--cell", "1000", "--at", "2027-03-01",
              "--profile", "year", "--hour", "9", "--lang", "en", "--out", out)
    assert res.exit_code == 0, res.output
    assert "the 15th of each month of 2027 at 09:00" in res.output and "winter (Dec-Feb) mean" in res.output
    prof = pd.read_csv(out / "profile_year.csv", encoding="utf-8-sig", dtype={"adcode": str})
    assert prof.moment.tolist() == [f"2027-{m:02d}-15T09:00:00+08:00" for m in range(1, 13)]
    fig = pd.read_csv(out / "figures.csv", encoding="utf-8-sig")
    assert len(fig) == 1
    figures = pd.read_excel(out / "profile_year.xlsx", sheet_name="figures")
    assert figures.figure.tolist() == ["winter", "summer"]
    winter = figures.set_index("figure").loc["winter", "demand_covered"]
    assert winter == pytest.approx(prof[prof.month.isin([12, 1, 2])].demand_covered.mean(), abs=1e-9)


@pytest.mark.parametrize("args,option", [
    (["--at", "tomorrow"], "--at"),
    (["--at", "2026-02-30T10:00"], "--at"),
    (["--profile", "month"], "--profile"),
    (["--profile", "year", "--hour", "24"], "--hour"),
    (["--profile", "year", "--hour", "noon"], "--hour"),
    (["--hour", "5"], "--hour"),
])
def test_cli_bad_time_input_is_one_clear_line(tmp_path, args, option):
    from tests.support.cli import run

    res = run("coverage", "320402", "--sample", *args, "--out", tmp_path / "o")
    assert res.exit_code == 1
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and option in lines[0], res.output
    assert not (tmp_path / "o").exists()


def test_a_partitioned_run_at_a_moment_counts_the_stations_open_then():
    import pandas as pd

    stations = _week_stations()
    at = datetime(2026, 12, 7, 23, 30)
    many = cv.analyse_many(_areas(), stations, minutes=5, cell_m=500, settings=SETTINGS, scheduler="serial", at=at)
    # each partition is its district's own run (its own grid) with the stations open then
    each = pd.concat([cv.analyse(a, stations, minutes=5, cell_m=500, settings=SETTINGS, at=at).stats(total=False)
                      for a in _areas()], ignore_index=True)
    assert many.stats.demand_covered.tolist() == pytest.approx(each.demand_covered.tolist(), abs=1e-12)
    assert many.stats.stations.tolist() == each.stations.tolist()
    anytime = cv.analyse_many(_areas(), stations, minutes=5, cell_m=500, settings=SETTINGS, scheduler="serial")
    assert many.stats.stations.tolist() != anytime.stats.stations.tolist()
