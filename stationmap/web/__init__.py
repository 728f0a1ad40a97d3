"""The Flask app: ``create_app(test_config=None)``.

The app is built by the factory, never at import time.  Shared state (the
settings, the store and the station index) lives in
``app.extensions["stationmap"]``; every request first brings the index up to
date with the store's change log, so a write made through one gunicorn worker
is seen by all of them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from types import FunctionType

from flask import Flask, Request, current_app, jsonify, request
from werkzeug.utils import cached_property

from stationmap import config as _config
from stationmap.errors import StationmapError
from stationmap.index import StationIndex
from stationmap.store import StationStore


#: this process's id, kept current across forks (os.getpid() is a system call: every request asks)
_PID = [os.getpid()]
os.register_at_fork(after_in_child=lambda: _PID.__setitem__(0, os.getpid()))


@dataclass
class AppState:
    settings: _config.Settings
    store: StationStore
    index: StationIndex
    extra: dict = field(default_factory=dict)

    def sync(self) -> None:
        """Apply changes other processes wrote since this index was built."""
        if not self._may_have_changed():
            return
        if self.store.revision() != self.index.revision:
            self.index.sync(self.store)

    def _may_have_changed(self) -> bool:
        """False only when the database surely has no new commit since the last call
        (:class:`stationmap.store.ChangeProbe`, one per process: a fork makes a new one)."""
        pid = _PID[0]
        probe = self.extra.get("_change_probe")
        if probe is None or probe[0] != pid:
            probe = self.extra["_change_probe"] = (pid, self.store.change_probe())
        return probe[1].changed()


class StationmapRequest(Request):
    """Flask's request, with the query string parsed without ``urllib.parse.parse_qsl``'s
    per-pair unquoting where there is nothing to unquote.

    Every API request reads its query string, and parse_qsl makes some ten calls
    a pair.  A query string of plain ASCII with no ``%`` or ``+`` (the API's
    numbers and names: what the finder and most clients send) is split on ``&``
    and ``=`` here, which is what parse_qsl does to it (keeping blank values,
    as werkzeug asks); anything else goes to werkzeug (tests/web/test_api_cheap.py
    compares the two)."""

    @cached_property
    def arg_lists(self) -> dict:
        """The query string as ``{name: [values]}`` (what ``args.lists()`` gives, as a
        plain dict: the API's parameter checks read it; never modify)."""
        qs = self.environ.get("QUERY_STRING", "")
        if qs.isascii() and "%" not in qs and "+" not in qs:
            out: dict = {}
            for part in qs.split("&"):
                if part:
                    k, _, v = part.partition("=")
                    if k in out:
                        out[k].append(v)
                    else:
                        out[k] = [v]
            return out
        return dict(self.args.lists())

    @cached_property
    def args(self):
        qs = self.environ.get("QUERY_STRING", "")
        if qs.isascii() and "%" not in qs and "+" not in qs:
            return self.parameter_storage_class(self.arg_lists)
        return super().args


class StationmapFlask(Flask):
    """Flask, asking once per function whether it is a coroutine function.

    Flask wraps every hook and view in ``ensure_sync`` on every request, and
    the question (``inspect.iscoroutinefunction``) costs microseconds each time
    (four times a request here).  Plain functions known to be synchronous are
    kept in a set; anything else takes Flask's way."""

    request_class = StationmapRequest
    _SYNC_CAP = 4096

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._sync_funcs: set = set()

    def ensure_sync(self, func):
        known = self._sync_funcs
        if func in known:
            return func
        out = super().ensure_sync(func)
        if out is func and type(func) is FunctionType and len(known) < self._SYNC_CAP:
            known.add(func)
        return out


def state() -> AppState:
    """The current app's :class:`AppState`."""
    return current_app.extensions["stationmap"]


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app.  ``test_config`` overrides settings (``database_url``...) and Flask config."""
    test_config = dict(test_config or {})
    app = StationmapFlask(__name__, static_folder=str(_config.PACKAGE_DIR.parent / "static"), static_url_path="/static")
    settings = _config.load(test_config)
    app.config.update(
        SECRET_KEY=settings.secret_key or _secret_key(settings),
        JSON_AS_ASCII=False,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.config.update({k: v for k, v in test_config.items() if k.isupper()})
    app.json.ensure_ascii = False

    store = StationStore.from_settings(settings)
    store.create_all()
    index = StationIndex.from_store(store).prepare()
    app.extensions["stationmap"] = AppState(settings=settings, store=store, index=index)
    # road networks (issue 4): loaded and prepared once per process and settings
    from stationmap.web.api import app_networks
    app.extensions["stationmap"].extra["networks"] = app_networks(settings)

    from stationmap.web import i18n
    i18n.init_app(app)

    from stationmap.web.api import bp as api_bp
    from stationmap.web.pages import bp as pages_bp
    app.register_blueprint(api_bp)
    app.register_blueprint(pages_bp)

    # accounts, CSRF, rate limits, framing headers; editing, worker reports, embeds (issue 6)
    from stationmap.web import admin, auth, embed
    auth.init_app(app)
    admin.init_app(app)
    embed.init_app(app)
    __import__("stationmap.web.coverage", fromlist=["init_app"]).init_app(app)  # coverage page + API (issue 5)

    @app.before_request
    def _sync_index():
        state().sync()

    _register_errors(app)
    lean_hooks(app)
    return app


_API_READ_NOOPS = "stationmap_api_read_noops"


def skip_on_api_reads(app: Flask, *hooks) -> None:
    """Mark before/after/teardown-request ``hooks`` as doing nothing for a read-only API request
    (:func:`stationmap.web.auth.is_api_read`): :func:`lean_hooks` leaves them out there."""
    app.extensions.setdefault(_API_READ_NOOPS, []).extend(hooks)


def lean_hooks(app: Flask) -> None:
    """Run the app's request hooks through one before-, one after- and one teardown function.

    Flask pays a few microseconds per hook per request (it checks each for a
    coroutine); the app has ten, and six of them (CSRF, the sign-in cookie, the
    rate limiter's three, the language cookie) do nothing for a read-only API
    request, the most frequent request there is.  The three functions run the same hooks in
    Flask's order (before: as registered, stopping at the first that answers;
    after and teardown: in reverse), leaving out those :func:`skip_on_api_reads` marked when
    the request is a read-only API one (bench_api.py).  Hooks registered later
    are run by Flask as usual.
    """
    from stationmap.web.auth import is_api_read

    noops = app.extensions.get(_API_READ_NOOPS, [])
    if not noops:
        return
    before = list(app.before_request_funcs.get(None, []))
    after = list(reversed(app.after_request_funcs.get(None, [])))
    teardown = list(reversed(app.teardown_request_funcs.get(None, [])))
    api_before = [f for f in before if f not in noops]
    api_after = [f for f in after if f not in noops]
    api_teardown = [f for f in teardown if f not in noops]

    def _before_request():
        for fn in (api_before if is_api_read() else before):
            rv = fn()
            if rv is not None:
                return rv
        return None

    def _after_request(resp):
        for fn in (api_after if is_api_read() else after):
            resp = fn(resp)
        return resp

    def _teardown_request(exc=None):
        for fn in (api_teardown if is_api_read() else teardown):
            fn(exc)

    app.before_request_funcs[None] = [_before_request]
    app.after_request_funcs[None] = [_after_request]
    app.teardown_request_funcs[None] = [_teardown_request]


def _secret_key(settings) -> str:
    """A per-instance random key kept in the instance folder (created once)."""
    import secrets
    from pathlib import Path

    path = Path(settings.instance_path) / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_hex(32)
        path.write_text(key)
        return key


def wants_json() -> bool:
    return request.path.startswith("/api/")


def _register_errors(app: Flask) -> None:
    from werkzeug.exceptions import HTTPException

    @app.errorhandler(StationmapError)
    def _stationmap_error(exc: StationmapError):
        if wants_json():
            return jsonify(exc.to_dict()), exc.http_status
        from flask import render_template
        return render_template("error.html", status=exc.http_status, message=exc.message), exc.http_status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        if wants_json():
            body = {"error": {"code": (exc.name or "error").lower().replace(" ", "_"),
                              "message": exc.description, "field": None}}
            return jsonify(body), exc.code
        return exc
