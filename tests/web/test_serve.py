"""`stationmap serve`: gunicorn with the app preloaded answers as soon as it says "serving"."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support.webforms import free_port

BOUND_S = 60.0


def _get(url: str):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.status, r.read()


@pytest.mark.slow
def test_serve_answers_when_it_says_serving(tmp_path):
    env = {**os.environ, "STATIONMAP_DATABASE_URL": f"sqlite:///{tmp_path}/serve.sqlite",
           "STATIONMAP_INSTANCE_PATH": str(tmp_path / "instance")}
    exe = [str(Path(sys.executable).parent / "stationmap")]  # the entry point installed with the package
    subprocess.run([*exe, "init"], env=env, check=True, capture_output=True, timeout=120)
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen([*exe, "serve", "--port", str(port), "--workers", "2"], env=env,
                                stdout=subprocess.DEVNULL, stderr=err)
    try:
        t0 = time.monotonic()
        said_serving_at = None
        while time.monotonic() - t0 < BOUND_S and proc.poll() is None:
            if "stationmap: serving on" in log.read_text(errors="replace"):
                said_serving_at = time.monotonic()
                break
            time.sleep(0.05)
        assert said_serving_at is not None, log.read_text(errors="replace")[-3000:]
        # the first request after "serving" is answered (not refused), and quickly
        status, body = _get(f"http://127.0.0.1:{port}/api/v1/districts")
        assert status == 200
        assert json.loads(body)["districts"], "the sample stations are served"
        assert time.monotonic() - said_serving_at < 15
        # gunicorn's control socket is this instance's own, in its instance folder (issue 20)
        ctl = tmp_path / "instance" / "gunicorn.ctl"
        t1 = time.monotonic()
        while not ctl.is_socket() and time.monotonic() - t1 < 10:
            time.sleep(0.05)
        assert ctl.is_socket(), log.read_text(errors="replace")[-3000:]
        shown = subprocess.run([str(Path(sys.executable).parent / "gunicornc"), "-s", str(ctl), "-j",
                                "-c", "show workers"], capture_output=True, text=True, timeout=30)
        assert shown.returncode == 0 and len(json.loads(shown.stdout)["workers"]) == 2, shown
        # both workers have their own database connections: many requests, all fine
        for _ in range(20):
            assert _get(f"http://127.0.0.1:{port}/api/v1/stations?limit=1")[0] == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    assert rc == 0, log.read_text(errors="replace")[-3000:]
    assert "Traceback" not in log.read_text(errors="replace")
