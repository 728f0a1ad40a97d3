"""Instance files are private (issue 22): 0700 folders, 0600 files, tightened at start with a log line."""

from __future__ import annotations

import logging
import os
import stat

from stationmap.instance import create_private_file, private_dir, tighten, write_private
from stationmap.store import StationStore


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_private_dir_and_files_are_created_owner_only(tmp_path):
    old = os.umask(0o022)  # the usual umask, under which open() makes 0644 files
    try:
        d = private_dir(tmp_path / "a" / "b")
        assert _mode(d) == 0o700
        assert _mode(write_private(d / "k", "secret")) == 0o600
        (d / "loose").write_text("x")
        os.chmod(d / "loose", 0o644)
        assert _mode(write_private(d / "loose", b"y")) == 0o600 and (d / "loose").read_bytes() == b"y"
        assert _mode(create_private_file(d / "db")) == 0o600
    finally:
        os.umask(old)


def test_tighten_narrows_what_an_older_release_left_and_logs_it(tmp_path, caplog):
    inst = tmp_path / "instance"
    (inst / "uploads").mkdir(parents=True)
    for name in ("secret_key", "stationmap.sqlite", "uploads/x.csv"):
        (inst / name).write_text("x")
        os.chmod(inst / name, 0o644)
    os.chmod(inst / "uploads", 0o755)
    os.chmod(inst, 0o755)
    with caplog.at_level(logging.WARNING, logger="stationmap.instance"):
        changed = tighten(inst)
    assert len(changed) == 5
    assert _mode(inst) == _mode(inst / "uploads") == 0o700
    assert {_mode(inst / n) for n in ("secret_key", "stationmap.sqlite", "uploads/x.csv")} == {0o600}
    assert sum("readable by other users" in r.getMessage() for r in caplog.records) == 5
    assert tighten(inst) == []  # nothing left to narrow


def test_a_new_sqlite_store_and_its_wal_are_private(tmp_path):
    old = os.umask(0o022)
    try:
        path = tmp_path / "inst" / "s.sqlite"
        store = StationStore(f"sqlite:///{path}")
        store.create_all()
        store.count()
        assert _mode(path.parent) == 0o700
        files = [p for p in path.parent.iterdir()]
        assert files and {_mode(p) for p in files} == {0o600}, [(p.name, oct(_mode(p))) for p in files]
    finally:
        os.umask(old)
