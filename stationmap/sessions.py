"""Server-side sign-in sessions and the sign-in throttle (tables ``sessions`` and ``login_failures``).

Sessions
    A sign-in makes a random token (:func:`start`); the browser's cookie
    carries the token, the database only its SHA-256 (a copy of the database
    opens no session).  :func:`check` answers who a token belongs to, or why
    it no longer opens anything: ended by sign-out (:func:`end`), by an
    account change (:func:`end_all`: a disabled account, a new password, role
    or scopes), or expired (idle longer than the idle timeout, or older than
    the absolute lifetime).  ``last_seen`` is written at most once a
    :data:`TOUCH_EVERY` (no write per request).  Rows of sessions that can no
    longer open anything are deleted :data:`KEEP_ENDED` after they ended
    (:func:`prune`, run at each sign-in); who signed in and out stays in the
    audit log.

Throttle
    Every failed sign-in is a row (the account name tried, lower case, whether
    or not it exists, and the client address).  An account name with
    :data:`MAX_FAILURES_PER_NAME` failures within :data:`WINDOW` is locked for
    :data:`LOCK` from the last of them; an address with
    :data:`MAX_FAILURES_PER_ADDRESS` likewise.  The counts live in the database,
    so every worker and a restarted server see them.

Times come from :func:`now` (tests replace it).  This module never imports Flask.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa

from stationmap import audit
from stationmap.schema import as_utc, login_failures_table, sessions_table, users_table

#: a :class:`stationmap.store.StationStore` (not imported here: the store writes through this module)
Store = Any

#: ``last_seen`` is written when it is older than this (no write per request)
TOUCH_EVERY = timedelta(minutes=1)
#: an ended session's row is deleted this long after it ended (the audit log keeps the events)
KEEP_ENDED = timedelta(days=1)
#: failed sign-ins counted within this window ...
WINDOW = timedelta(minutes=15)
#: ... this many for one account name lock its sign-in ...
MAX_FAILURES_PER_NAME = 5
#: ... this many from one client address lock that address ...
MAX_FAILURES_PER_ADDRESS = 20
#: ... for this long after the last of them
LOCK = timedelta(minutes=15)


def now() -> datetime:
    """The current time, UTC (tests monkeypatch this to move time)."""
    return datetime.now(timezone.utc)


def token_hash(token: str) -> str:
    """The stored id of a session token (SHA-256, hex)."""
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


# -- sessions ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Check:
    """What :func:`check` found: the user id (None when the token opens nothing) and, for a
    session that ended at this check, why (``idle``, ``max_age``)."""

    user_id: int | None
    expired: str = ""


def start(store: Store, user_id: int, *, address: str = "") -> str:
    """A new session for ``user_id``; returns its token (for the cookie; never stored)."""
    token = secrets.token_urlsafe(32)
    t = now()
    with store.begin() as conn:
        conn.execute(sa.insert(sessions_table).values(
            id=token_hash(token), user_id=int(user_id), created_at=t, last_seen=t, ended_at=None,
            end_reason="", address=str(address or "")[:64]))
    return token


def check(store: Store, token: str, *, idle: timedelta, max_age: timedelta) -> Check:
    """Whom ``token`` signs in, ending it here if it is idle or too old (one read; a write only
    to touch ``last_seen`` once a :data:`TOUCH_EVERY` or to end it)."""
    if not token or len(token) > 128:
        return Check(None)
    sid = token_hash(token)
    c = sessions_table.c
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(c.user_id, c.created_at, c.last_seen, c.ended_at)
                           .where(c.id == sid)).first()
    if row is None or row.ended_at is not None:
        return Check(None)
    t = now()
    reason = ""
    if t - as_utc(row.created_at) > max_age:
        reason = "max_age"
    elif t - as_utc(row.last_seen) > idle:
        reason = "idle"
    if reason:
        with store.begin() as wconn:
            res = wconn.execute(sa.update(sessions_table).where(c.id == sid, c.ended_at.is_(None))
                                .values(ended_at=t, end_reason=reason))
            if res.rowcount:
                audit.record(wconn, "session_expired", user=_username(wconn, row.user_id), detail=reason, at=t)
        return Check(None, reason)
    if t - as_utc(row.last_seen) >= TOUCH_EVERY:
        with store.begin() as wconn:
            wconn.execute(sa.update(sessions_table).where(c.id == sid).values(last_seen=t))
    return Check(int(row.user_id))


def _username(conn: sa.Connection, user_id: int) -> str:
    return conn.execute(sa.select(users_table.c.username).where(users_table.c.id == user_id)).scalar() or ""


def end(store: Store, token: str, *, reason: str = "logout") -> bool:
    """End the session of ``token``; whether it was open."""
    if not token:
        return False
    c = sessions_table.c
    with store.begin() as conn:
        res = conn.execute(sa.update(sessions_table).where(c.id == token_hash(token), c.ended_at.is_(None))
                           .values(ended_at=now(), end_reason=reason))
    return bool(res.rowcount)


def end_all(conn: sa.Connection, user_id: int, *, reason: str) -> int:
    """End every open session of ``user_id`` (inside the caller's transaction); how many."""
    c = sessions_table.c
    res = conn.execute(sa.update(sessions_table).where(c.user_id == int(user_id), c.ended_at.is_(None))
                       .values(ended_at=now(), end_reason=reason[:32]))
    return int(res.rowcount or 0)


def prune(store: Store, *, max_age: timedelta, idle: timedelta | None = None) -> int:
    """Delete the rows of sessions that ended more than :data:`KEEP_ENDED` ago, and of those
    never ended that can no longer open anything (idle longer than ``idle``, or older than
    ``max_age``) for :data:`KEEP_ENDED` too; how many."""
    c = sessions_table.c
    cut = now() - KEEP_ENDED
    dead = sa.or_(c.ended_at < cut, c.created_at < cut - max_age)
    if idle is not None:
        dead = sa.or_(dead, c.last_seen < cut - idle)
    with store.begin() as conn:
        return int(conn.execute(sa.delete(sessions_table).where(dead)).rowcount or 0)


def open_sessions(store: Store, user_id: int) -> int:
    """How many sessions of ``user_id`` are open (not ended; expiry is checked on use)."""
    c = sessions_table.c
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(sessions_table)
                                .where(c.user_id == int(user_id), c.ended_at.is_(None))).scalar_one())


# -- throttle -------------------------------------------------------------------------------------

def name_key(username: str) -> str:
    """The account name as the throttle counts it (stripped, lower case, at most 64 characters)."""
    return str(username or "").strip().lower()[:64]


def _locked_until(times: list, limit: int) -> datetime | None:
    """The end of the latest lock the failure ``times`` (ascending) earned, or None."""
    until = None
    for i in range(limit - 1, len(times)):
        if times[i] - times[i - limit + 1] <= WINDOW:
            until = times[i] + LOCK
    return until


def locked_for(store: Store, username: str, address: str) -> timedelta | None:
    """How long sign-in stays locked for ``username`` from ``address`` (None: not locked)."""
    t = now()
    c = login_failures_table.c
    since = t - WINDOW - LOCK
    with store.engine.connect() as conn:
        by_name = [as_utc(x) for x in conn.execute(
            sa.select(c.at).where(c.username == name_key(username), c.at >= since).order_by(c.at)).scalars()]
        by_addr = [as_utc(x) for x in conn.execute(
            sa.select(c.at).where(c.address == str(address or "")[:64], c.at >= since).order_by(c.at)).scalars()]
    ends = [u for u in (_locked_until(by_name, MAX_FAILURES_PER_NAME),
                        _locked_until(by_addr, MAX_FAILURES_PER_ADDRESS)) if u is not None and u > t]
    return max(ends) - t if ends else None


def record_failure(store: Store, username: str, address: str) -> None:
    """Count one failed sign-in for ``username`` (existing or not) from ``address``; old rows
    (older than the window and the lock together) are dropped on the way."""
    t = now()
    with store.begin() as conn:
        conn.execute(sa.insert(login_failures_table).values(
            username=name_key(username), address=str(address or "")[:64], at=t))
        conn.execute(sa.delete(login_failures_table).where(login_failures_table.c.at < t - WINDOW - LOCK))


def clear_failures(store: Store, username: str) -> None:
    """Forget the failures of ``username`` (after a successful sign-in)."""
    with store.begin() as conn:
        conn.execute(sa.delete(login_failures_table).where(login_failures_table.c.username == name_key(username)))
