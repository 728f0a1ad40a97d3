"""The security audit log (issue 22): the library (append, filter, prune), account changes made
through `stationmap user ...` are audited, `stationmap audit [--user] [--since] [--event]` and
`stationmap audit prune [--days]`; the sessions and throttle library."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from stationmap import accounts, audit, sessions
from stationmap.store import StationStore
from tests.support.cli import run
from tests.support.webforms import use_fast_hasher


@pytest.fixture(autouse=True)
def _fast_hasher(monkeypatch):
    use_fast_hasher(monkeypatch)


@pytest.fixture
def store(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path}/audit.sqlite"
    monkeypatch.setenv("STATIONMAP_DATABASE_URL", url)
    s = StationStore(url)
    s.create_all()
    return s




def test_record_filter_and_prune(store):
    now = datetime.now(timezone.utc)
    audit.record(store, "login_failed", user="ghost", address="10.0.0.1", at=now - timedelta(days=200))
    audit.record(store, "login_ok", user="alice", address="10.0.0.2", at=now - timedelta(days=2))
    audit.record(store, "logout", user="alice", at=now)
    assert [e.event for e in audit.entries(store)] == ["logout", "login_ok", "login_failed"]
    assert [e.event for e in audit.entries(store, user="alice", since=now - timedelta(days=1))] == ["logout"]
    assert audit.count(store, event="login_ok") == 1
    with pytest.raises(ValueError):
        audit.record(store, "made_up")
    assert audit.prune(store) == 1  # 180 days by default
    assert [e.user for e in audit.entries(store)] == ["alice", "alice"]
    assert audit.prune(store, days=1) == 1


def test_user_commands_are_audited_with_who_ran_them(store):
    pw = "a long enough password\n"
    assert run("user", "add", "alice", "--role", "editor", "--scope", "3204", "--password-stdin", input=pw).exit_code == 0
    assert run("user", "set-role", "alice", "--role", "editor", "--scope", "320404").exit_code == 0
    assert run("user", "passwd", "alice", "--password-stdin", input="another long password\n").exit_code == 0
    res = run("user", "disable", "alice")
    assert res.exit_code == 0 and res.stdout.strip() == "disabled alice"
    assert run("user", "list").stdout.splitlines() == ["alice\teditor\t320404\tdisabled"]
    assert accounts.authenticate(store, "alice", "another long password") is None
    assert run("user", "disable", "alice", "--enable").exit_code == 0
    assert accounts.authenticate(store, "alice", "another long password") is not None
    assert run("user", "remove", "alice").exit_code == 0
    got = [(e.event, e.detail) for e in reversed(audit.entries(store))]
    assert got == [("user_added", "alice: editor (3204)"), ("role_changed", "alice: editor (320404)"),
                   ("password_changed", "alice"), ("user_disabled", "alice"), ("user_enabled", "alice"),
                   ("user_removed", "alice")]
    assert all(e.user.startswith("cli") for e in audit.entries(store))


def test_password_change_keeps_a_disabled_account_disabled(store):
    accounts.add_user(store, "bob", "a long enough password", role="admin")
    accounts.set_disabled(store, "bob", True)
    accounts.set_password(store, "bob", "a newer long password")
    assert accounts.get_user(store, "bob").disabled
    assert accounts.authenticate(store, "bob", "a newer long password") is None


def test_audit_command_prints_and_filters(store):
    old = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    audit.record(store, "login_failed", user="ghost", address="10.0.0.1", at=old)
    audit.record(store, "login_ok", user="alice", address="10.0.0.2", detail="")
    lines = run("audit").stdout.splitlines()
    assert len(lines) == 2 and lines[1] == "2026-01-02T03:04:05Z\tlogin_failed\tghost\t10.0.0.1\t"
    assert lines[0].split("\t")[1:] == ["login_ok", "alice", "10.0.0.2", ""]
    assert run("audit", "--user", "ghost").stdout.splitlines() == [lines[1]]
    assert run("audit", "--event", "login_ok").stdout.splitlines() == [lines[0]]
    assert run("audit", "--since", "2026-06-01").stdout.splitlines() == [lines[0]]
    res = run("audit", "--user", "nobody")
    assert res.stdout == "" and res.stderr.strip() == "no entries"
    assert run("audit", "--event", "nope").exit_code == 2
    assert run("audit", "--since", "soon").exit_code == 2


def test_audit_prune_command(store):
    now = datetime.now(timezone.utc)
    for days in (1, 100, 179, 181, 400):
        audit.record(store, "logout", user=f"d{days}", at=now - timedelta(days=days))
    res = run("audit", "prune")
    assert res.exit_code == 0 and res.stdout.strip() == "deleted 2 entries older than 180 days"
    assert run("audit", "prune", "--days", "30").stdout.strip() == "deleted 2 entries older than 30 days"
    assert [e.user for e in audit.entries(store)] == ["d1"]
    assert run("audit", "prune", "--days", "0").exit_code == 2


def test_throttle_counts_names_case_blind_and_forgets_after_the_lock(store, monkeypatch):
    t0 = datetime.now(timezone.utc)
    monkeypatch.setattr(sessions, "now", lambda: t0)
    for _ in range(4):
        sessions.record_failure(store, "Alice", "10.0.0.1")
    assert sessions.locked_for(store, "alice", "10.0.0.9") is None
    sessions.record_failure(store, " ALICE ", "10.0.0.2")
    assert sessions.locked_for(store, "alice", "10.0.0.9") == timedelta(minutes=15)
    monkeypatch.setattr(sessions, "now", lambda: t0 + timedelta(minutes=15, seconds=1))
    assert sessions.locked_for(store, "alice", "10.0.0.9") is None


def test_failures_spread_wider_than_the_window_do_not_lock(store, monkeypatch):
    t0 = datetime.now(timezone.utc)
    for i in range(8):  # one failure every 4 minutes: never 5 within 15 minutes
        monkeypatch.setattr(sessions, "now", lambda i=i: t0 + timedelta(minutes=4 * i))
        sessions.record_failure(store, "alice", f"10.0.0.{i}")
        assert sessions.locked_for(store, "alice", "10.0.1.1") is None


def test_exports_and_backups_are_audited(store, tmp_path):
    """Issue 22: an export of the data and a backup each leave an entry naming the file."""
    from stationmap.model import Station

    store.insert(Station(id="a1", name="甲站", lon=119.95, lat=31.78, kinds=("rest",), adcode="320404"))
    assert run("export", tmp_path / "all.csv").exit_code == 0
    assert run("export", tmp_path / "zl.geojson", "--adcode", "3204").exit_code == 0
    assert run("backup", tmp_path / "copy.sqlite").exit_code == 0
    got = [(e.event, e.detail) for e in reversed(audit.entries(store))]
    assert [g[0] for g in got] == ["data_exported", "data_exported", "backup_made"]
    assert got[0][1] == f"1 stations (all) to {tmp_path / 'all.csv'}"
    assert got[1][1].startswith("1 stations (3204) to ") and str(tmp_path / "copy.sqlite") in got[2][1]
    assert all(e.user.startswith("cli") for e in audit.entries(store))
