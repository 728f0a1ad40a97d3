"""Accounts: users, roles, password hashing and scope checks.

Two roles:

``admin``
    may do everything, in every district, and manage users.
``editor``
    may edit the stations of the districts whose adcode starts with one of the
    user's *scopes*: adcode prefixes of 2, 4 or 6 digits.  ``"3204"`` is the
    Changzhou city union (every Changzhou district), ``"320404"`` only
    Zhonglou (钟楼区), ``"32"`` the whole province.

Passwords are hashed with argon2id (:mod:`argon2`, RFC 9106 parameters); a
hash made with older parameters is upgraded at the next successful login.
Every user has an ``epoch`` that changes whenever the password, the role or
the scopes change, so a session that remembers the old epoch stops working;
such a change also ends the user's server-side sessions
(:func:`stationmap.sessions.end_all`) and is written to the audit log
(:mod:`stationmap.audit`; ``by``: who made it).  A disabled account keeps its
row with its password hash prefixed by ``!`` (as a locked Unix account): no
password matches it until it is enabled again.

The users live in the ``users`` table (:data:`stationmap.schema.users_table`),
which :meth:`stationmap.store.StationStore.create_all` creates.  The functions
here take a :class:`~stationmap.store.StationStore` (for its engine).  This
module never imports Flask.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2 import exceptions as _argon2_exc

from stationmap import audit, sessions
from stationmap.errors import ConflictError, NotFoundError, StationmapError, ValidationError
from stationmap.schema import users_table

if TYPE_CHECKING:
    from stationmap.store import StationStore

#: role -> (Chinese, English)
ROLES = {
    "admin": ("管理员", "Administrator"),
    "editor": ("编辑", "Editor"),
}

MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024

_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{1,63}$")
_SCOPE = re.compile(r"^(\d{2}|\d{4}|\d{6})$")

#: argon2id with OWASP's recommended parameters (Password Storage Cheat Sheet: m=19 MiB, t=2, p=1).
#: Not argon2-cffi's default (RFC 9106's low-memory profile, m=64 MiB, t=3, p=4): that costs ~175 ms
#: of CPU over four threads a sign-in, so on a two-core server each sign-in stalls both workers
#: (``make soak``: sign-ins at 2% of the requests took half the CPU, p99 1.6 s); this costs ~23 ms
#: on one core.  Hashes made with other parameters are re-hashed at their next sign-in.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1)
_DUMMY_HASH: str | None = None


class PermissionDenied(StationmapError, PermissionError):
    """A signed-in user asked for something outside their role or scopes.

    ``adcode``: the district the user may not edit (``""``: a station without one), or None
    when the refusal is not about a district; so a page can say it in its own language.
    """

    http_status = 403
    code = "forbidden"

    def __init__(self, message: str, *, field: str | None = None, adcode: str | None = None) -> None:
        super().__init__(message, field=field)
        self.adcode = adcode


@dataclass(frozen=True)
class User:
    """One account.  ``scopes`` are adcode prefixes (empty for admins)."""

    id: int
    username: str
    role: str
    scopes: tuple[str, ...] = ()
    epoch: int = 1
    disabled: bool = False

    @property
    def is_admin(self) -> bool:
        """Whether the user is an administrator."""
        return self.role == "admin"

    def can_edit(self, adcode: str | None) -> bool:
        """Whether this user may change a station of district ``adcode``.

        Admins may edit everything, stations without a district included;
        an editor only stations whose adcode starts with one of the scopes.
        """
        if self.is_admin:
            return True
        code = str(adcode or "")
        return bool(code) and any(code.startswith(p) for p in self.scopes)

    def require_edit(self, adcode: str | None) -> None:
        """Raise :class:`PermissionDenied` unless :meth:`can_edit` ``adcode``."""
        if not self.can_edit(adcode):
            where = f"district {adcode}" if adcode else "stations without a district"
            raise PermissionDenied(f"user {self.username!r} may not edit {where}", field="adcode", adcode=adcode or "")

    def require_admin(self) -> None:
        """Raise :class:`PermissionDenied` unless the user is an administrator."""
        if not self.is_admin:
            raise PermissionDenied(f"user {self.username!r} is not an administrator", field="role")

    def to_dict(self) -> dict[str, Any]:
        """The user as JSON-ready data (no password hash, no epoch)."""
        return {"id": self.id, "username": self.username, "role": self.role, "scopes": list(self.scopes)}


# -- checks -------------------------------------------------------------------

def check_username(username: object) -> str:
    """A valid user name (2-64 letters, digits, ``_ . @ -``); ValidationError otherwise."""
    name = str(username or "").strip()
    if not _USERNAME.match(name):
        raise ValidationError(
            f"username must be 2-64 characters of letters, digits, '_', '.', '@' or '-' "
            f"starting with a letter or digit, got {username!r}", field="username")
    return name


def check_role(role: object) -> str:
    """``role`` if it is one of :data:`ROLES`; ValidationError otherwise."""
    if not isinstance(role, str) or role not in ROLES:
        raise ValidationError(f"role must be one of {tuple(ROLES)}, got {role!r}", field="role")
    return role


def check_scopes(scopes: str | Iterable[object] | None, *, role: str) -> tuple[str, ...]:
    """Canonical scopes for ``role``: sorted adcode prefixes, none covered by another.

    An editor needs at least one; an admin has none (any given is an error,
    since it would suggest a limit that does not apply).
    """
    if isinstance(scopes, str):
        scopes = [s for s in re.split(r"[\s,;，；]+", scopes) if s]
    items = [str(s).strip() for s in (scopes or ()) if str(s).strip()]
    for s in items:
        if not _SCOPE.match(s):
            raise ValidationError(
                f"scope must be an adcode prefix of 2, 4 or 6 digits (32, 3204, 320404), got {s!r}",
                field="scope")
    if role == "admin":
        if items:
            raise ValidationError(f"an admin edits every district; scopes must be empty, got {items!r}",
                                  field="scope")
        return ()
    if not items:
        raise ValidationError("an editor needs at least one scope (an adcode prefix such as 3204)",
                              field="scope")
    items = sorted(set(items))
    # drop prefixes covered by a shorter one: ("3204", "320404") -> ("3204",)
    return tuple(s for s in items if not any(o != s and s.startswith(o) for o in items))


def check_password(password: object) -> str:
    """A password long enough; ValidationError otherwise (the password is never echoed)."""
    if not isinstance(password, str):
        raise ValidationError("password must be text", field="password")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationError(
            f"password must be at least {MIN_PASSWORD_LENGTH} characters, got {len(password)}",
            field="password")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationError(
            f"password must be at most {MAX_PASSWORD_LENGTH} characters, got {len(password)}",
            field="password")
    return password


# -- hashing ------------------------------------------------------------------

def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (PHC string with salt and parameters)."""
    return _HASHER.hash(check_password(password))


def verify_password(password_hash: str, password: str) -> bool:
    """Whether ``password`` matches ``password_hash`` (constant time)."""
    try:
        return _HASHER.verify(password_hash, password)
    except (_argon2_exc.VerificationError, _argon2_exc.InvalidHashError):
        return False


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = _HASHER.hash("not-a-password-of-anyone")
    return _DUMMY_HASH


# -- storage ------------------------------------------------------------------

def _now() -> datetime:
    return datetime.now(timezone.utc)


def _row_to_user(row: sa.Row[Any]) -> User:
    m = row._mapping
    return User(id=int(m["id"]), username=m["username"], role=m["role"],
                scopes=tuple(s for s in (m["scopes"] or "").split(",") if s), epoch=int(m["epoch"]),
                disabled=str(m["password_hash"]).startswith(_DISABLED))


#: the prefix of a disabled account's password hash
_DISABLED = "!"


def add_user(store: StationStore, username: str, password: str, *, role: str, scopes: Iterable[str] = (),
             by: str = "") -> User:
    """Create a user; ConflictError if the name is taken.  ``by``: who (for the audit log)."""
    username = check_username(username)
    role = check_role(role)
    canonical = check_scopes(scopes, role=role)
    pw_hash = hash_password(password)
    now = _now()
    with store.begin() as conn:
        if conn.execute(sa.select(users_table.c.id).where(users_table.c.username == username)).first():
            raise ConflictError(f"user {username!r} already exists", field="username")
        conn.execute(sa.insert(users_table).values(
            username=username, password_hash=pw_hash, role=role, scopes=",".join(canonical),
            epoch=1, created_at=now, updated_at=now))
        audit.record(conn, "user_added", user=by, detail=_describe(username, role, scopes))
    return get_user(store, username)


def _describe(username: str, role: str, scopes: Iterable[str]) -> str:
    return f"{username}: {role}" + (f" ({','.join(scopes)})" if scopes else "")


def get_user(store: StationStore, username: str) -> User:
    """The user called ``username``; NotFoundError if there is none."""
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(users_table).where(users_table.c.username == str(username))).first()
    if row is None:
        raise NotFoundError(f"no user {username!r}", field="username")
    return _row_to_user(row)


def get_user_by_id(store: StationStore, user_id: int) -> User | None:
    """The user with ``user_id``, or None (a removed user)."""
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(users_table).where(users_table.c.id == int(user_id))).first()
    return None if row is None else _row_to_user(row)


def list_users(store: StationStore) -> list[User]:
    """Every user, by name."""
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(users_table).order_by(users_table.c.username))
        return [_row_to_user(r) for r in rows]


def _update(store: StationStore, username: str, values: dict[str, Any], *, event: str, by: str,
            detail: str = "") -> User:
    """Change a user's row (a new epoch), end their sessions and write ``event`` to the audit log."""
    username = str(username)
    with store.begin() as conn:
        uid = conn.execute(sa.select(users_table.c.id).where(users_table.c.username == username)).scalar()
        if uid is None:
            raise NotFoundError(f"no user {username!r}", field="username")
        new = {k: (v(conn, uid) if callable(v) else v) for k, v in values.items()}
        conn.execute(sa.update(users_table).where(users_table.c.id == uid)
                     .values(**new, epoch=users_table.c.epoch + 1, updated_at=_now()))
        sessions.end_all(conn, uid, reason=event)
        audit.record(conn, event, user=by, detail=detail or username)
    return get_user(store, username)


def set_role(store: StationStore, username: str, *, role: str, scopes: Iterable[str] = (),
             by: str = "") -> User:
    """Change a user's role and scopes (their sessions end)."""
    role = check_role(role)
    scopes = check_scopes(scopes, role=role)
    return _update(store, username, {"role": role, "scopes": ",".join(scopes)}, event="role_changed", by=by,
                   detail=_describe(str(username), role, scopes))


def set_password(store: StationStore, username: str, password: str, *, by: str = "") -> User:
    """Change a user's password (their sessions end; a disabled account stays disabled)."""
    new_hash = hash_password(password)

    def keep_disabled(conn: sa.Connection, uid: int) -> str:
        old = conn.execute(sa.select(users_table.c.password_hash).where(users_table.c.id == uid)).scalar()
        return _DISABLED + new_hash if str(old).startswith(_DISABLED) else new_hash

    return _update(store, username, {"password_hash": keep_disabled}, event="password_changed", by=by)


def set_disabled(store: StationStore, username: str, disabled: bool, *, by: str = "") -> User:
    """Disable (every session ends, no password opens it) or enable a user again."""
    def flip(conn: sa.Connection, uid: int) -> str:
        old = str(conn.execute(sa.select(users_table.c.password_hash).where(users_table.c.id == uid)).scalar())
        bare = old.lstrip(_DISABLED)
        return _DISABLED + bare if disabled else bare

    return _update(store, username, {"password_hash": flip}, event="user_disabled" if disabled else "user_enabled",
                   by=by)


def remove_user(store: StationStore, username: str, *, by: str = "") -> None:
    """Delete a user; NotFoundError if there is none.  Their edits keep their name; their sessions end."""
    with store.begin() as conn:
        uid = conn.execute(sa.select(users_table.c.id).where(users_table.c.username == str(username))).scalar()
        if uid is None:
            raise NotFoundError(f"no user {username!r}", field="username")
        conn.execute(sa.delete(users_table).where(users_table.c.id == uid))
        sessions.end_all(conn, uid, reason="user_removed")
        audit.record(conn, "user_removed", user=by, detail=str(username))


def authenticate(store: StationStore, username: str, password: str) -> User | None:
    """The user if ``password`` is theirs, else None.

    An unknown user costs the same hashing time as a wrong password, so the
    answer time does not tell which names exist.  A hash made with outdated
    parameters is replaced.
    """
    name = str(username or "").strip()
    with store.engine.connect() as conn:
        row = conn.execute(sa.select(users_table).where(users_table.c.username == name)).first()
    if row is None or not isinstance(password, str) or len(password) > MAX_PASSWORD_LENGTH:
        verify_password(_dummy_hash(), "x" if not isinstance(password, str) else password[:MAX_PASSWORD_LENGTH])
        return None
    stored = row._mapping["password_hash"]
    if stored.startswith(_DISABLED):  # the same time as a wrong password
        verify_password(_dummy_hash(), password)
        return None
    if not verify_password(stored, password):
        return None
    if _HASHER.check_needs_rehash(stored):
        with store.begin() as conn:
            conn.execute(sa.update(users_table).where(users_table.c.id == row._mapping["id"])
                         .values(password_hash=_HASHER.hash(password)))
    return _row_to_user(row)
