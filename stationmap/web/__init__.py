"""The Flask app: ``create_app(test_config=None)``.

The app is built by the factory, never at import time, and the factory only
registers: the app's state (:mod:`stationmap.web.state`, in
``app.extensions["stationmap"]``), the extensions, the blueprints and the error
handlers.  Every request first brings the index up to date with the store's
change log (:func:`stationmap.web.state.sync_index`), so a write made through
one gunicorn worker is seen by all of them.  What departs from stock Flask is
in :mod:`stationmap.web.http`.

Modules: ``state`` (the typed app state and what is derived from it),
``http`` (the shortcuts), ``params`` (query parameters, declared once),
``features`` (stations as GeoJSON), ``ui`` (what the pages share), ``openapi``,
``i18n``; the blueprints ``api``, ``pages``, ``embed``, ``coverage``, ``auth``
and ``admin``.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from flask import Flask, jsonify, render_template, request
from flask_babel import force_locale
from werkzeug.exceptions import HTTPException

from stationmap import config as _config
from stationmap.errors import StationmapError
from stationmap.instance import private_dir, tighten, write_private
from stationmap.web import admin, api, audit_log, auth, coverage, embed, http, i18n, pages, station_requests, tiles, ui
from stationmap.web.state import build_state, sync_index, warm

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue

    from stationmap.config import Settings


def create_app(test_config: dict | None = None) -> Flask:
    """Build the app.  ``test_config`` overrides settings (``database_url``...) and Flask config."""
    test_config = dict(test_config or {})
    app = http.StationmapFlask(__name__, static_folder=str(_config.PACKAGE_DIR.parent / "static"),
                               static_url_path="/static")
    settings = _config.load(test_config)
    tighten(settings.instance_path)  # files an older release left readable by other users
    app.config.update(
        SECRET_KEY=settings.secret_key or _secret_key(settings),
        JSON_AS_ASCII=False,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
    )
    app.config.update({k: v for k, v in test_config.items() if k.isupper()})
    app.json.ensure_ascii = False
    app.extensions["stationmap"] = build_state(settings)

    i18n.init_app(app)
    http.init_app(app)      # query-string decoding, gzip (in this place among the hooks)
    app.register_blueprint(api.bp)
    app.register_blueprint(pages.bp)

    # accounts, CSRF, rate limits, framing headers; editing, worker reports, embeds (issue 6)
    auth.init_app(app)
    admin.init_app(app)
    station_requests.init_app(app)  # "a station is needed here" pins (issue 18)
    app.register_blueprint(audit_log.bp)  # /admin/audit (issue 22)
    embed.init_app(app)
    coverage.init_app(app)  # coverage page + API (issue 5)
    tiles.init_app(app)     # map tiles of stations: clusters and stations by what the screen shows (issue 16)

    app.before_request(sync_index)
    _register_errors(app)
    http.lean_hooks(app)
    app.warm = partial(warm, app)
    return app


def _secret_key(settings: Settings) -> str:
    """A per-instance random key kept in the instance folder (created once)."""
    import os
    import secrets
    from pathlib import Path

    path = Path(settings.instance_path) / "secret_key"
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        private_dir(path.parent)
        # gunicorn's workers start at once: write aside, then link into place (atomic; the
        # first process wins) and read back what won, so every worker signs with one key
        tmp = path.with_name(f".secret_key.{os.getpid()}")
        write_private(tmp, secrets.token_hex(32))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
        return path.read_text().strip()


def _register_errors(app: Flask) -> None:
    app.jinja_env.globals["error_title"] = ui.error_title
    @app.errorhandler(StationmapError)
    def _stationmap_error(exc: StationmapError) -> ResponseReturnValue:
        if http.wants_json():
            body = exc.to_dict()
            lang = i18n.api_lang()
            with force_locale(lang):   # the English message for programs; the same in the reader's language
                body["error"].update(lang=lang, display_message=ui.error_text(exc, lang))
            return jsonify(body), exc.http_status
        return render_template("error.html", status=exc.http_status, message=ui.error_text(exc)), exc.http_status

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> ResponseReturnValue:
        # the exception's own headers (Allow on a 405, Retry-After, WWW-Authenticate), not its HTML type
        headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
        if http.wants_json():
            lang = i18n.api_lang()
            message = exc.description
            if exc.code == 413:     # say the limit (werkzeug's sentence does not)
                message = f"the request is larger than the limit of {ui.size_text(request.max_content_length)}"
            with force_locale(lang):
                display = ui.error_message(exc.code or 400)
            body = {"error": {"code": (exc.name or "error").lower().replace(" ", "_"),
                              "message": message, "field": None, "lang": lang, "display_message": display}}
            # (a None code keeps jsonify's status: Flask takes it, its ResponseReturnValue does not say so)
            return jsonify(body), exc.code, headers  # type: ignore[return-value]
        if exc.response is not None or exc.code is None:  # a response made for it, or a redirect
            return exc
        # the page in the page's language, with the site's header (werkzeug's own is English, untitled)
        return render_template("error.html", status=exc.code, message=ui.error_message(exc.code)), exc.code, headers
