"""The security audit log: writing, reading and pruning the ``audit_log`` table.

One row per security event: sign-in succeeded or failed (the name tried and
the client address), sign-out, a session that expired, an account created,
disabled, enabled, removed, or its role, scopes or password changed, an import
confirmed (file name, rows), a station closed, reopened or deleted.  The app
only ever appends (nothing in it edits or deletes a row); ``stationmap audit
prune`` deletes entries older than the retention (:data:`KEEP_DAYS`, 180 days:
graded protection asks for at least six months).

The web layer (``/admin/audit``), the CLI (``stationmap audit``), accounts,
the sessions and the store write and read through this module only.  It never
imports Flask.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa

from stationmap.schema import as_utc, audit_table

#: a :class:`stationmap.store.StationStore` (not imported here: the store writes through this module)
Store = Any

#: entries younger than this many days are kept by :func:`prune`
KEEP_DAYS = 180

#: event -> (Chinese, English) label
EVENTS = {
    "login_ok": ("登录成功", "Signed in"),
    "login_failed": ("登录失败", "Sign-in failed"),
    "login_locked": ("登录被锁定时尝试", "Sign-in refused (locked)"),
    "logout": ("退出登录", "Signed out"),
    "session_expired": ("会话过期", "Session expired"),
    "user_added": ("创建账号", "Account created"),
    "user_disabled": ("停用账号", "Account disabled"),
    "user_enabled": ("启用账号", "Account enabled"),
    "user_removed": ("删除账号", "Account removed"),
    "role_changed": ("角色或范围变更", "Role or scope changed"),
    "password_changed": ("密码变更", "Password changed"),
    "import_confirmed": ("确认导入", "Import confirmed"),
    "station_closed": ("关闭站点", "Station closed"),
    "station_reopened": ("重新开放站点", "Station reopened"),
    "station_deleted": ("删除站点", "Station deleted"),
    "data_exported": ("导出全部数据", "Data exported"),
    "backup_made": ("备份数据库", "Backup made"),
    "demand_layer": ("保存或删除需求图层", "Demand layer saved or removed"),
}


@dataclass(frozen=True)
class Entry:
    """One row of the audit log."""

    id: int
    at: datetime
    event: str
    user: str
    address: str
    detail: str

    def to_dict(self) -> dict:
        return {"id": self.id, "at": self.at.isoformat(), "event": self.event, "user": self.user,
                "address": self.address, "detail": self.detail}


def now() -> datetime:
    """The current time, UTC."""
    return datetime.now(timezone.utc)


def record(store_or_conn: Store | sa.Connection, event: str, *, user: str = "", address: str = "", detail: str = "",
           at: datetime | None = None) -> None:
    """Append one entry.  ``store_or_conn``: a StationStore (own transaction) or an open
    connection (the entry commits with the caller's change)."""
    if event not in EVENTS:
        raise ValueError(f"unknown audit event {event!r}")
    values = {"at": at or now(), "event": event, "user": str(user or "")[:64],
              "address": str(address or "")[:64], "detail": str(detail or "")[:2000]}
    if isinstance(store_or_conn, sa.Connection):
        store_or_conn.execute(sa.insert(audit_table).values(**values))
        return
    with store_or_conn.begin() as conn:
        conn.execute(sa.insert(audit_table).values(**values))


def _where(*, user: str | None, event: str | None, since: datetime | None, until: datetime | None) -> list:
    c = audit_table.c
    conds = []
    if user:
        conds.append(c.user == user)
    if event:
        conds.append(c.event == event)
    if since is not None:
        conds.append(c.at >= since)
    if until is not None:
        conds.append(c.at < until)
    return conds


def entries(store: Store, *, user: str | None = None, event: str | None = None, since: datetime | None = None,
            until: datetime | None = None, limit: int | None = None, offset: int = 0) -> list[Entry]:
    """Entries matching every filter given, newest first."""
    q = sa.select(audit_table).where(*_where(user=user, event=event, since=since, until=until)) \
        .order_by(audit_table.c.at.desc(), audit_table.c.id.desc()).offset(offset)
    if limit is not None:
        q = q.limit(limit)
    with store.engine.connect() as conn:
        return [Entry(id=int(r.id), at=as_utc(r.at), event=r.event, user=r.user, address=r.address,
                      detail=r.detail) for r in conn.execute(q)]


def count(store: Store, *, user: str | None = None, event: str | None = None, since: datetime | None = None,
          until: datetime | None = None) -> int:
    """How many entries match the filters."""
    q = sa.select(sa.func.count()).select_from(audit_table) \
        .where(*_where(user=user, event=event, since=since, until=until))
    with store.engine.connect() as conn:
        return int(conn.execute(q).scalar_one())


def prune(store: Store, *, days: int = KEEP_DAYS, at: datetime | None = None) -> int:
    """Delete entries older than ``days`` days; return how many."""
    if days < 1:
        raise ValueError("days must be at least 1")
    cutoff = (at or now()) - timedelta(days=days)
    with store.begin() as conn:
        return int(conn.execute(sa.delete(audit_table).where(audit_table.c.at < cutoff)).rowcount or 0)
