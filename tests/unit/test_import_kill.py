"""An import is one transaction: a process killed half-way leaves the store as it was.

The import runs in a subprocess (``python -m stationmap.cli import``) with the
documented test hook ``STATIONMAP_TEST_IMPORT_PAUSE``: after writing every
row, inside the still-open transaction, it says how many stations the
transaction sees and sleeps.  The test waits for that line, SIGKILLs the
process and checks the store against the state it recorded before.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stationmap.io import import_file
from stationmap.store import StationStore


def station_csv(path: Path, n: int, *, name: str) -> Path:
    lines = ["id,name,lon,lat,kinds"]
    lines += [f"k{i:05d},{name}{i},{120.3 + i * 1e-4:.7f},{31.5 + i * 1e-4:.7f},rest" for i in range(n)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def wait_for_line(proc, needle: str, timeout: float) -> str:
    sel = selectors.DefaultSelector()
    sel.register(proc.stderr, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        if not sel.select(timeout=0.5):
            if proc.poll() is not None:
                break
            continue
        line = proc.stderr.readline()
        if not line:
            break
        seen.append(line)
        if needle in line:
            return line
    proc.kill()
    raise AssertionError(f"no {needle!r} from the import within {timeout} s; stderr: {''.join(seen)!r}")


@pytest.mark.slow
def test_sigkilled_import_leaves_the_store_unchanged(tmp_path):
    url = f"sqlite:///{tmp_path}/kill.sqlite"
    store = StationStore(url)
    store.create_all()
    import_file(store, station_csv(tmp_path / "first.csv", 300, name="旧"))
    before = (store.all(), store.revision())
    assert len(before[0]) == 300 and before[1] == 300

    # 300 updates and 4,700 new stations
    second = station_csv(tmp_path / "second.csv", 5000, name="新")
    env = {**os.environ, "STATIONMAP_DATABASE_URL": url, "STATIONMAP_TEST_IMPORT_PAUSE": "120"}
    proc = subprocess.Popen([sys.executable, "-m", "stationmap.cli", "import", str(second)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = wait_for_line(proc, "stationmap test hook:", timeout=120)
        # every row is written, inside the transaction, when the process dies
        assert "5000 stations in the open import transaction (5000 written)" in line
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL

    after = StationStore(url)
    assert (after.all(), after.revision()) == before
    # the database is not left locked or damaged: the same import now goes through
    res = import_file(after, second)
    assert (res.new, res.updated) == (4700, 300) and after.count() == 5000


def test_failed_import_rolls_back_a_started_transaction(tmp_path, monkeypatch):
    """An error raised inside the transaction (here: by the store) undoes every row written before it."""
    url = f"sqlite:///{tmp_path}/err.sqlite"
    store = StationStore(url)
    store.create_all()
    import_file(store, station_csv(tmp_path / "first.csv", 10, name="旧"))
    before = (store.all(), store.revision())

    import stationmap.store as store_mod

    real = store_mod._insert_columns
    calls = []

    def failing(conn, table, columns):
        real(conn, table, columns)  # the stations go in ...
        calls.append(table.name)
        if table.name == "station_changes":
            raise OSError("disk full")  # ... and the change log fails

    monkeypatch.setattr(store_mod, "_insert_columns", failing)
    with pytest.raises(OSError, match="disk full"):
        import_file(store, station_csv(tmp_path / "second.csv", 50, name="新"))
    assert calls == ["stations", "station_changes"]
    assert (store.all(), store.revision()) == before
