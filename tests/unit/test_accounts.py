"""Accounts: argon2id hashing, roles and scopes, storage, the `stationmap user` commands."""

from __future__ import annotations

import json

import pytest
from argon2 import Type, extract_parameters
from argon2.low_level import verify_secret
from click.testing import CliRunner

from stationmap import accounts
from stationmap.accounts import PermissionDenied, User
from stationmap.errors import ConflictError, NotFoundError, ValidationError
from stationmap.store import StationStore

PW = "correct horse battery"


@pytest.fixture
def store(db_url):
    s = StationStore(db_url)
    s.create_all()
    return s


@pytest.fixture
def fast_hasher(monkeypatch):
    """Cheap argon2id parameters for tests about storage, not about the hash itself."""
    from tests.support.webforms import use_fast_hasher

    use_fast_hasher(monkeypatch)


def test_hash_is_argon2id_with_salt_and_verifies_independently():
    """The production parameters (the only test that pays for them)."""
    h1 = accounts.hash_password(PW)
    h2 = accounts._HASHER.hash(PW)
    assert h1 != h2  # salted
    params = extract_parameters(h1)
    assert params.type is Type.ID
    assert params.memory_cost >= 19 * 1024 and params.time_cost >= 2  # at least OWASP's argon2id minimum
    assert (params.memory_cost, params.time_cost, params.parallelism) == (19 * 1024, 2, 1)  # OWASP's
    # the low-level reference implementation accepts it, and rejects another password
    assert verify_secret(h1.encode(), PW.encode(), Type.ID)
    assert accounts.verify_password(h1, PW)
    assert not accounts.verify_password(h1, PW + "x")
    assert not accounts.verify_password("not a hash", PW)
    assert PW not in h1


def test_a_hash_made_with_older_parameters_is_remade_at_sign_in(store):
    """A database from a release that used argon2-cffi's defaults (m=64 MiB, t=3, p=4): the user
    still signs in, and the stored hash is remade with today's parameters."""
    from argon2 import PasswordHasher
    import sqlalchemy as sa

    from stationmap.schema import users_table

    accounts.add_user(store, "old.editor", PW, role="editor", scopes=["3204"])
    with store.begin() as conn:
        conn.execute(sa.update(users_table).where(users_table.c.username == "old.editor")
                     .values(password_hash=PasswordHasher().hash(PW)))
    assert accounts.authenticate(store, "old.editor", PW) is not None
    with store.engine.connect() as conn:
        stored = conn.execute(sa.select(users_table.c.password_hash)
                              .where(users_table.c.username == "old.editor")).scalar_one()
    p = extract_parameters(stored)
    assert (p.memory_cost, p.time_cost, p.parallelism) == (19 * 1024, 2, 1)
    assert accounts.authenticate(store, "old.editor", PW) is not None


@pytest.mark.parametrize("pw", ["", "short", "x" * 9, "y" * 1025])
def test_bad_passwords_are_refused_without_echo(pw):
    with pytest.raises(ValidationError) as exc:
        accounts.hash_password(pw)
    assert exc.value.field == "password"
    if pw:
        assert pw not in exc.value.message


@pytest.mark.parametrize("name", ["", "a", "-lead", "has space", "名字", "x" * 65, "semi;colon"])
def test_bad_usernames(name):
    with pytest.raises(ValidationError) as exc:
        accounts.check_username(name)
    assert exc.value.field == "username" and repr(name) in exc.value.message


@pytest.mark.parametrize("role,scopes,expected", [
    ("editor", ["320404"], ("320404",)),
    ("editor", "3204, 320404", ("3204",)),          # a district already inside its city
    ("editor", ["320412", "3204", "32"], ("32",)),
    ("editor", ["320404", "320402"], ("320402", "320404")),
    ("admin", [], ()),
])
def test_scopes_are_canonical(role, scopes, expected):
    assert accounts.check_scopes(scopes, role=role) == expected


@pytest.mark.parametrize("role,scopes", [
    ("editor", []), ("editor", ["3"]), ("editor", ["32040"]), ("editor", ["abcd"]),
    ("editor", ["3204041"]), ("admin", ["3204"]),
])
def test_bad_scopes(role, scopes):
    with pytest.raises(ValidationError) as exc:
        accounts.check_scopes(scopes, role=role)
    assert exc.value.field == "scope"


def test_bad_role():
    with pytest.raises(ValidationError, match="role must be one of"):
        accounts.check_role("root")


# every Changzhou county-level unit and some neighbours; a city editor covers exactly the first group
CHANGZHOU = ["320402", "320404", "320411", "320412", "320413", "320481"]
OTHERS = ["320505", "320102", "330102", "", None]


@pytest.mark.parametrize("adcode", CHANGZHOU + OTHERS)
def test_scope_checks(adcode):
    city = User(id=1, username="cz", role="editor", scopes=("3204",))
    zhonglou = User(id=2, username="zl", role="editor", scopes=("320404",))
    admin = User(id=3, username="root", role="admin")
    assert city.can_edit(adcode) == (adcode in CHANGZHOU)
    assert zhonglou.can_edit(adcode) == (adcode == "320404")
    assert admin.can_edit(adcode)
    if adcode != "320404":
        with pytest.raises(PermissionDenied) as exc:
            zhonglou.require_edit(adcode)
        assert exc.value.http_status == 403
    else:
        zhonglou.require_edit(adcode)


def test_store_roundtrip_and_sessions_epoch(store, fast_hasher):
    u = accounts.add_user(store, "zhonglou", PW, role="editor", scopes=["320404"])
    assert (u.username, u.role, u.scopes) == ("zhonglou", "editor", ("320404",))
    with pytest.raises(ConflictError):
        accounts.add_user(store, "zhonglou", PW, role="admin")
    assert accounts.authenticate(store, "zhonglou", PW) == u
    assert accounts.authenticate(store, "zhonglou", "wrong password") is None
    assert accounts.authenticate(store, "nobody", PW) is None
    assert accounts.authenticate(store, "zhonglou", None) is None

    u2 = accounts.set_role(store, "zhonglou", role="editor", scopes=["3204"])
    assert u2.scopes == ("3204",) and u2.epoch > u.epoch
    u3 = accounts.set_password(store, "zhonglou", "another long password")
    assert u3.epoch > u2.epoch
    assert accounts.authenticate(store, "zhonglou", PW) is None
    assert accounts.authenticate(store, "zhonglou", "another long password") == u3
    assert accounts.get_user_by_id(store, u.id) == u3

    accounts.add_user(store, "admin", PW, role="admin")
    assert [x.username for x in accounts.list_users(store)] == ["admin", "zhonglou"]
    accounts.remove_user(store, "zhonglou")
    assert accounts.get_user_by_id(store, u.id) is None
    with pytest.raises(NotFoundError):
        accounts.remove_user(store, "zhonglou")
    with pytest.raises(NotFoundError):
        accounts.set_role(store, "ghost", role="admin")


def test_stored_hash_is_not_the_password(store, fast_hasher):
    import sqlalchemy as sa

    accounts.add_user(store, "a1", PW, role="admin")
    with store.engine.connect() as conn:
        stored = conn.execute(sa.select(accounts.users_table.c.password_hash)).scalar_one()
    assert stored.startswith("$argon2id$") and PW not in stored


# -- the CLI ------------------------------------------------------------------------

@pytest.fixture
def cli(db_url, tmp_path, fast_hasher):
    from stationmap.cli import main

    env = {"STATIONMAP_DATABASE_URL": db_url, "STATIONMAP_INSTANCE_PATH": str(tmp_path)}

    def run(*args, input=None):
        return CliRunner().invoke(main, list(args), input=input, env=env, catch_exceptions=False)

    return run


def test_cli_user_lifecycle(cli, db_url):
    r = cli("user", "add", "cz", "--role", "editor", "--scope", "3204", "--password-stdin", input=PW + "\n")
    assert r.exit_code == 0, r.output
    r = cli("user", "add", "root", "--role", "admin", input=f"{PW}\n{PW}\n")  # prompted twice
    assert r.exit_code == 0, r.output
    r = cli("user", "list", "--format", "json")
    assert json.loads(r.output) == [
        {"id": 1, "username": "cz", "role": "editor", "scopes": ["3204"]},
        {"id": 2, "username": "root", "role": "admin", "scopes": []},
    ]
    store = StationStore(db_url)
    assert accounts.authenticate(store, "cz", PW) is not None

    r = cli("user", "set-role", "cz", "--role", "editor", "--scope", "320404", "--scope", "320402")
    assert r.exit_code == 0 and accounts.get_user(store, "cz").scopes == ("320402", "320404")
    r = cli("user", "passwd", "cz", "--password-stdin", input="a brand new password\n")
    assert r.exit_code == 0 and accounts.authenticate(store, "cz", "a brand new password") is not None
    r = cli("user", "remove", "cz")
    assert r.exit_code == 0
    assert cli("user", "list").output.strip() == "root\tadmin\t*"


@pytest.mark.parametrize("args,input,message", [
    (["user", "add", "x1", "--role", "editor", "--password-stdin"], PW + "\n", "at least one scope"),
    (["user", "add", "x1", "--role", "editor", "--scope", "32x", "--password-stdin"], PW + "\n", "'32x'"),
    (["user", "add", "x1", "--role", "admin", "--password-stdin"], "short\n", "at least 10 characters"),
    (["user", "add", "x1", "--role", "admin", "--password-stdin"], "\n", "no password on standard input"),
    (["user", "add", "bad name", "--role", "admin", "--password-stdin"], PW + "\n", "username must be"),
    (["user", "remove", "ghost"], None, "no user 'ghost'"),
    (["user", "set-role", "ghost", "--role", "admin"], None, "no user 'ghost'"),
])
def test_cli_errors_are_clean(cli, args, input, message):
    r = cli(*args, input=input)
    assert r.exit_code == 1
    assert message in r.output and "Traceback" not in r.output


def test_cli_refuses_password_on_the_command_line(cli):
    r = cli("user", "add", "x1", "--role", "admin", "--password", PW)
    assert r.exit_code == 2 and "No such option" in r.output


def test_cli_duplicate_user(cli):
    assert cli("user", "add", "x1", "--role", "admin", "--password-stdin", input=PW + "\n").exit_code == 0
    r = cli("user", "add", "x1", "--role", "admin", "--password-stdin", input=PW + "\n")
    assert r.exit_code == 1 and "already exists" in r.output
