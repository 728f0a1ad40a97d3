"""``make soak`` shortened: 8 clients for 5 s against ``stationmap serve``, a worker SIGKILLed at 2 s.

The server is the real one (``stationmap init``, ``stationmap user add``,
``stationmap serve`` with 2 gunicorn workers over SQLite) and the clients run
the soak's whole mix, sign-ins included.  Only the request the killed worker
was serving may fail; the latency goal is left to the full soak (this machine
may be busy).
"""

from __future__ import annotations

import pytest

import bench_soak  # (benchmarks/ is on the path, as when the benchmarks run: setup.cfg)

pytestmark = pytest.mark.slow


def test_only_the_request_in_flight_on_the_killed_worker_fails():
    r = bench_soak.run(clients=8, seconds=5, kill_at=2)
    kill = r["kill"]
    assert kill.get("pid"), "no worker was killed"
    assert "replaced_by" in kill and kill["replaced_by"] != kill["pid"], "gunicorn did not start a new worker"
    assert r["errors_other"] == 0, r["error_samples"]
    # a sync worker serves one request at a time: at most that one fails
    assert r["errors_in_flight_at_kill"] <= 1, r["error_samples"]
    assert r["server_tracebacks"] == 0
    # every step of the mix was exercised, the sign-in round trip included
    assert all(s["n"] > 0 for s in r["latency_by_kind"].values()), r["latency_by_kind"]
    assert r["requests"] == sum(s["n"] for s in r["latency_by_kind"].values())
    # and the memory of the workers was sampled
    assert r["memory_samples"] >= 8 and r["peak_worker_rss_mb"] > 0


def test_a_request_in_flight_at_the_kill_is_told_from_other_failures():
    # (kind, start, end, status, error): the soak's records
    records = [("nearest", 1.0, 1.1, 200, None),
               ("nearest", 1.9, 2.01, 0, "RemoteDisconnected"),     # on the killed worker
               ("reach", 2.5, 2.6, 500, "status 500, expected 200"),  # after the kill: a real failure
               ("embed", 0.5, 0.6, 0, "ConnectionRefusedError")]       # before it
    kill_errors, other = bench_soak.split_failures(records, kill_at=2.0)
    assert [r[0] for r in kill_errors] == ["nearest"]
    assert sorted(r[0] for r in other) == ["embed", "reach"]
    assert bench_soak.split_failures(records, kill_at=None)[0] == []
