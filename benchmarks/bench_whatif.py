"""What-if on the coverage page (issue 17): one update of the figures and gaps for one district at
250 m, goal <= 1 s.

The page's own request, ``GET /api/v1/coverage/whatif`` through the web app (Flask's test client,
the bundled SAMPLE stations in SQLite), with 5 candidate stations dropped and 1 station taken out:
the run itself is cached from the page (as when a planner works on it), so each update is the
scenario's minutes, its figures and its gaps.  Timed for Zhonglou (320404), walking and by e-bike,
circles; on the SIP core's roads (320571, network), walking; and Changzhou city as a whole (320400,
its six counties, ~70,000 cells) by e-bike.  Median of 7 updates, each with
other candidates (so nothing of the scenario is cached).  Also the first request (the run and its
grid built).  Run: ``python benchmarks/bench_whatif.py``.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
GOAL_S = 1.0
CASES = (("320404", "walk"), ("320404", "ebike"), ("320571", "walk"), ("320400", "ebike"))


def main() -> dict:
    sys.path.insert(0, str(ROOT))
    from stationmap.io.sample import load_sample
    from tests.support.webforms import make_app

    out: dict = {"goal_s": GOAL_S}
    with tempfile.TemporaryDirectory() as d:
        app = make_app(Path(d), load_sample())
        client = app.test_client()
        rng = np.random.default_rng(1)
        for adcode, mode in CASES:
            run = f"district={adcode}&kind=rest&mode={mode}&minutes=15&cell=250"
            t = time.perf_counter()
            cov = client.get(f"/api/v1/coverage?{run}&gaps=1").get_json()
            first = time.perf_counter() - t
            with app.test_request_context():
                from stationmap.web.state import state

                here = adcode[:4] if adcode.endswith("00") else adcode     # a city: its counties' stations
                inside = [s.id for s in state().index.stations() if s.adcode.startswith(here) and "rest" in s.kinds
                          and s.status != "closed"]
            lon0, lat0 = cov["gaps"][0]["lon"], cov["gaps"][0]["lat"]
            times = []
            for _ in range(7):
                pts = ";".join(f"{lon0 + dx:.6f},{lat0 + dy:.6f}" for dx, dy in rng.normal(0, 0.01, (5, 2)))
                t = time.perf_counter()
                r = client.get(f"/api/v1/coverage/whatif?{run}&new={pts}&without={inside[0]}")
                times.append(time.perf_counter() - t)
                assert r.status_code == 200, r.get_data(as_text=True)
            body = r.get_json()
            med = statistics.median(times)
            key = f"{adcode}_{mode}"
            out[key] = {"cells": body["params"]["cells"], "method": body["params"]["method"], "first_s": first,
                        "update_median_s": med, "update_max_s": max(times), "meets_goal": med <= GOAL_S}
            print(f"what-if {adcode} {mode} ({body['params']['method']}, {body['params']['cells']:,} cells at 250 m): "
                  f"update {med * 1000:.0f} ms median, {max(times) * 1000:.0f} ms max (goal <= {GOAL_S:g} s: "
                  f"{'met' if med <= GOAL_S else 'NOT met'}); first request with the run {first:.2f} s")
    return out


if __name__ == "__main__":
    main()
