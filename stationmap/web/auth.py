"""Sign-in and the security plumbing of the web app.

* Flask-Login sessions.  The session remembers ``"<user id>:<epoch>"``; a
  user whose password, role or scopes changed (or who was removed) is signed
  out at their next request (:mod:`stationmap.accounts`).
* Flask-WTF's CSRFProtect on every POST/PUT/PATCH/DELETE of the app: forms
  carry ``{{ csrf_token() }}``, scripts send it as ``X-CSRFToken``.  A missing
  or wrong token is a 400.
* Flask-Limiter: sign-in attempts (per address and per user name) and
  worker reports are rate-limited.  The default storage (``memory://``)
  counts per worker process; ``STATIONMAP_RATELIMIT_STORAGE_URI`` (redis)
  shares the counts between workers.
* Session cookie: HttpOnly, SameSite=Lax, Secure per
  ``STATIONMAP_SECURE_COOKIES`` (see :func:`secure_cookies`).
* Framing: every response refuses to be framed (``X-Frame-Options: DENY``
  and CSP ``frame-ancestors 'none'``) unless the view set
  ``g.frame_ancestors`` (the embeds do, from the per-district allowlist).
* Read-only API requests (GET/HEAD/OPTIONS under ``/api/``, see
  :func:`stationmap.web.http.is_api_read`) are kept cheap: no session is
  opened, signed or written (:class:`stationmap.web.http.AppSessionInterface`),
  the rate limiter skips them (its limits are on sign-in and worker-report
  POSTs), and CSRF only ever checks unsafe methods.  They get the framing
  headers like every response.
"""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, flash, g, jsonify, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_limiter import Limiter
from flask_limiter.errors import RateLimitExceeded
from flask_limiter.util import get_remote_address
from flask_login import LoginManager, UserMixin, login_user, logout_user
from flask_wtf.csrf import CSRFError, CSRFProtect

from stationmap import accounts
from stationmap.web.http import DENY_HEADERS, AppSessionInterface, is_api_read, skip_on_api_reads, wants_json
from stationmap.web.state import state
from stationmap.web.ui import safe_next, signed_in_user

bp = Blueprint("auth", __name__)

#: sign-in attempts (POST /login) allowed per client address, and per user name
LOGIN_LIMIT_PER_ADDRESS = "10 per minute; 100 per day"
LOGIN_LIMIT_PER_USERNAME = "5 per minute; 50 per day"


class LoginUser(UserMixin):
    """A :class:`stationmap.accounts.User` as Flask-Login wants it."""

    def __init__(self, user: accounts.User):
        self.user = user

    def get_id(self) -> str:
        return f"{self.user.id}:{self.user.epoch}"

    def __getattr__(self, name):  # username, role, scopes, can_edit, require_edit...
        return getattr(self.user, name)


def secure_cookies(app: Flask, setting: str) -> bool:
    """Whether session cookies get the Secure flag.

    ``"1"``/``"0"`` (true/false, on/off, yes/no) force it; ``"auto"`` (the
    default) turns it on except in debug or testing mode.  ``stationmap serve``
    on a loopback address (``make serve``: http://127.0.0.1:8000) sets
    ``STATIONMAP_SECURE_COOKIES=0`` unless it is set, because a browser does
    not send a Secure cookie back over plain http; anything served to others
    sits behind HTTPS and keeps the default.
    """
    v = str(setting or "auto").strip().lower()
    if v in ("1", "true", "on", "yes"):
        return True
    if v in ("0", "false", "off", "no"):
        return False
    return not (app.debug or app.testing)


def _username_key() -> str:
    return "user:" + (request.form.get("username") or "").strip().lower()[:64]


def init_app(app: Flask) -> None:
    """Sessions, CSRF, rate limits, cookie flags and the framing headers."""
    settings = app.extensions["stationmap"].settings
    # Flask has defaults for these, so they are set, not set-defaulted; the
    # Secure flag follows the setting (create_app(test_config={"secure_cookies": "1"}))
    app.config["SESSION_COOKIE_SECURE"] = secure_cookies(app, settings.secure_cookies)
    app.config["SESSION_COOKIE_HTTPONLY"] = True
    if not app.config.get("SESSION_COOKIE_SAMESITE"):
        app.config["SESSION_COOKIE_SAMESITE"] = "Lax"
    app.config.setdefault("WTF_CSRF_TIME_LIMIT", 8 * 3600)
    app.config.setdefault("RATELIMIT_STORAGE_URI", settings.ratelimit_storage_uri or "memory://")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", True)

    app.session_interface = AppSessionInterface()
    before0 = list(app.before_request_funcs.get(None, []))
    after0 = list(app.after_request_funcs.get(None, []))
    teardown0 = list(app.teardown_request_funcs.get(None, []))
    CSRFProtect(app)  # checks POST/PUT/PATCH/DELETE only (WTF_CSRF_METHODS)

    lm = LoginManager(app)
    lm.login_view = "auth.login"
    lm.login_message = None

    @lm.user_loader
    def _load(user_key: str):
        try:
            uid, epoch = (int(x) for x in str(user_key).split(":", 1))
        except ValueError:
            return None
        user = accounts.get_user_by_id(state().store, uid)
        if user is None or user.epoch != epoch:
            return None
        return LoginUser(user)

    @lm.unauthorized_handler
    def _unauthorized():
        if request.method in ("GET", "HEAD"):
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return render_template("error.html", status=401, message=_("请先登录。")), 401

    limiter = Limiter(get_remote_address, app=app, default_limits=[])
    app.extensions["stationmap_limiter"] = limiter
    limiter.request_filter(is_api_read)  # no limit on reading the API
    # what CSRFProtect, LoginManager and Limiter hooked in does nothing for a read-only API
    # request (no unsafe method, no session, no limits): stationmap.web.http.lean_hooks leaves it out
    skip_on_api_reads(app, *[f for f in app.before_request_funcs.get(None, []) if f not in before0],
                      *[f for f in app.after_request_funcs.get(None, []) if f not in after0],
                      *[f for f in app.teardown_request_funcs.get(None, []) if f not in teardown0])
    limiter.limit(LOGIN_LIMIT_PER_ADDRESS, methods=["POST"], scope="login-address")(bp)
    limiter.limit(LOGIN_LIMIT_PER_USERNAME, methods=["POST"], key_func=_username_key,
                  scope="login-user")(bp)
    app.register_blueprint(bp)

    @app.errorhandler(CSRFError)
    def _csrf_error(exc):
        return render_template("error.html", status=400,
                               message=_("表单已过期或来自其他网站（%(reason)s）。请刷新页面后重试。",
                                         reason=exc.description)), 400

    @app.errorhandler(RateLimitExceeded)
    def _rate_limited(exc):
        msg = _("请求太频繁，请稍后再试（限制：%(limit)s）。", limit=exc.description)
        if wants_json():
            return jsonify({"error": {"code": "rate_limited", "message": msg, "field": None}}), 429
        return render_template("error.html", status=429, message=msg), 429

    @app.context_processor
    def _auth_context():
        return {"signed_in_user": signed_in_user()}

    app.after_request(frame_headers)


_DENY_NAMES = frozenset(k.lower() for k, _v in DENY_HEADERS)


def frame_headers(resp):
    """Refuse framing unless the view allowed it (``g.frame_ancestors``).

    Appends ``frame-ancestors`` to a Content-Security-Policy another part of
    the app may have set, rather than replacing it.
    """
    if getattr(resp, "deny_framing", False):  # built with DENY_HEADERS (the JSON API's answers)
        return resp
    allowed = g.get("frame_ancestors")
    if not allowed and not any(k.lower() in _DENY_NAMES for k, _v in resp.headers.items()):
        resp.headers.extend(DENY_HEADERS)  # none of them set yet: add the four at once
        return resp
    directive = "frame-ancestors " + (" ".join(allowed) if allowed else "'none'")
    csp = resp.headers.get("Content-Security-Policy", "")
    if "frame-ancestors" not in csp:
        resp.headers["Content-Security-Policy"] = f"{csp.rstrip('; ')}; {directive}" if csp.strip() else directive
    if allowed:
        resp.headers.pop("X-Frame-Options", None)
    else:
        resp.headers["X-Frame-Options"] = "DENY"
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    return resp


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Sign in with user name and password."""
    nxt = safe_next(request.values.get("next"))
    error = None
    status = 200
    if request.method == "POST":
        username = (request.form.get("username") or "").strip()
        password = request.form.get("password") or ""
        user = accounts.authenticate(state().store, username, password)
        if user is None:
            error = _("用户名或密码不正确。")
            status = 401
            current_app.logger.warning("failed sign-in for %r from %s", username[:64], get_remote_address())
        else:
            lang = session.get("lang")
            session.clear()  # a fresh session (and CSRF token) for the signed-in user
            if lang:
                session["lang"] = lang
            login_user(LoginUser(user))
            return redirect(nxt or url_for("admin.index"))
    return render_template("admin/login.html", error=error, next=nxt), status


@bp.post("/logout")
def logout():
    """Sign out (a POST with the CSRF token, so other sites cannot sign anyone out)."""
    logout_user()
    session.clear()
    flash(_("已退出登录。"))
    return redirect(url_for("auth.login"))
