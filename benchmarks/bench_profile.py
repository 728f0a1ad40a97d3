"""Coverage over time (issue 15): a week profile against one run at a moment, in the same run.

Changzhou city (320400: six districts), 250 m cells, circle method, every kind, e-bike
(the default mode), 15 minutes, the bundled SAMPLE stations, the week of Monday
7 December 2026 (hot tea in season, a few stations reopening that month):

* one run at a moment (``analyse(..., at=...)``, grid built: what a page or a CLI run
  at a moment costs);
* the week profile end to end as the CLI and the page make it: that run, then
  ``time_profile`` over its 168 hours.  Goal: at most 3x the run at a moment;
* the year profile (the 15th of each month at 12:00) the same way;
* for scale, runs at a moment one by one (a day of them, grid given), extrapolated to
  the week's 168.

Each is the best of three.  It prints the distinct sets of open stations the week has,
and the night (22:00-06:00) and winter / summer figures of hot tea for the whole city.
"""

from __future__ import annotations

import time
from datetime import datetime

# a sibling (benchmarks/ is on the path): it times the snapshot the same way
from bench_coverage import best_of

AT = datetime(2026, 12, 7, 10)   # Asia/Shanghai
GOAL_RATIO = 3.0


def main():
    from stationmap import config
    from stationmap import coverage as cv
    from stationmap.districts import load_districts
    from stationmap.io.sample import load_sample

    settings = config.load()
    districts = load_districts(settings)
    stations = load_sample(settings=settings)
    week, year = cv.week_moments(AT), cv.year_moments(AT, 12)

    def snapshot():
        return cv.analyse("320400", stations, settings=settings, districts=districts, at=AT)

    def profile(moments, name):
        cov = snapshot()
        return cov, cv.time_profile(cov, stations, moments, name=name, hour=12)

    snapshot()                                                   # warm the caches (hours, imports)
    snap_s, cov = best_of(snapshot)
    week_s, (_c, prof) = best_of(lambda: profile(week, "week"))
    step_s, _p = best_of(lambda: cv.time_profile(cov, stations, week, name="week"))
    year_s, (_c, yprof) = best_of(lambda: profile(year, "year"))
    grid = cov.grid
    day = week[:24]
    t = time.perf_counter()
    for m in day:
        cv.analyse("320400", stations, settings=settings, districts=districts, at=m, grid=grid)
    one_by_one = (time.perf_counter() - t) / len(day)
    ratio = week_s / snap_s

    whole = cov.groups()[-1][0]
    fig = prof.figures()
    night = fig[(fig.adcode == whole) & (fig.kind == "hot_tea")].set_index("statistic")
    yfig = yprof.figures()
    seasons = yfig[(yfig.adcode == whole) & (yfig.kind == "hot_tea")].set_index("figure")
    rnight = fig[(fig.adcode == whole) & (fig.kind == "rest")].set_index("statistic")
    out = {
        "cells": len(grid), "stations": len(stations), "stations_in_reach": prof.stations, "kinds": list(cov.kinds),
        "mode": cov.mode, "at": AT.isoformat(), "snapshot_s": snap_s, "week_profile_s": week_s,
        "week_profile_step_s": step_s, "ratio": ratio, "goal_ratio": GOAL_RATIO, "meets_goal": ratio <= GOAL_RATIO,
        "distinct_sets": prof.distinct_sets, "distinct_sets_all_kinds": prof.distinct_sets_all,
        "year_profile_s": year_s, "year_distinct_sets": yprof.distinct_sets,
        "one_run_at_a_moment_grid_given_s": one_by_one, "week_one_by_one_estimate_s": one_by_one * 168,
        "hot_tea_night": {s: {c: float(night.loc[s, c]) for c in ("demand_covered", "demand_cross_covered",
                                                                   "area_covered", "area_cross_covered")}
                          for s in ("min", "mean")},
        "hot_tea_seasons": {f: {c: float(seasons.loc[f, c]) for c in ("demand_covered", "demand_cross_covered",
                                                                       "area_covered", "area_cross_covered")}
                            for f in ("winter", "summer")},
        "rest_night_demand_covered": {s: float(rnight.loc[s, "demand_covered"]) for s in ("min", "mean")},
    }
    if ratio > GOAL_RATIO:
        out["failures"] = [f"the week profile cost {ratio:.2f}x one run at a moment (goal <= {GOAL_RATIO:g}x)"]
    sets = ", ".join(f"{k} {n}" for k, n in prof.distinct_sets.items())
    print(f"Changzhou, 250 m, circle, {len(cov.kinds)} kinds, {cov.mode}: {len(grid):,} cells, {prof.stations} "
          f"stations in reach; one run at a moment {snap_s:.3f} s; week profile (that run + 168 hours) "
          f"{week_s:.3f} s = {ratio:.2f}x  [goal <= {GOAL_RATIO:g}x] (the profile step alone {step_s:.3f} s); "
          f"distinct sets of open stations in the week: {sets} ({prof.distinct_sets_all} over all kinds); "
          f"year profile (run + 12 months) {year_s:.3f} s; runs one by one {one_by_one:.3f} s each "
          f"(a week of them ~{one_by_one * 168:.1f} s)")
    n, s_ = out["hot_tea_night"], out["hot_tea_seasons"]
    print(f"hot tea, Changzhou city (SAMPLE stations): night 22:00-06:00 demand covered min "
          f"{n['min']['demand_covered']:.1%} mean {n['mean']['demand_covered']:.1%} (cross-covered mean "
          f"{n['mean']['demand_cross_covered']:.1%}); "
          f"winter (Dec-Feb, 12:00) demand covered {s_['winter']['demand_covered']:.1%} (cross "
          f"{s_['winter']['demand_cross_covered']:.1%}, area {s_['winter']['area_covered']:.1%}); summer (Jun-Aug) "
          f"{s_['summer']['demand_covered']:.1%}; rest stations at night: demand covered min "
          f"{out['rest_night_demand_covered']['min']:.1%}, mean {out['rest_night_demand_covered']['mean']:.1%}")
    return out


if __name__ == "__main__":
    main()
