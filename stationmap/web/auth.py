"""Sign-in and the security plumbing of the web app.

* Server-side sessions (:mod:`stationmap.sessions`).  A sign-in starts a
  session row and a new random token; Flask-Login keeps only that token in
  the session cookie (``_user_id``), the database its hash.  Sign-out ends the
  row, so a copied cookie opens nothing afterwards; so do the idle timeout
  (``STATIONMAP_SESSION_IDLE_MINUTES``, 30) and the absolute lifetime
  (``STATIONMAP_SESSION_MAX_HOURS``, 12), and a change of the user's
  password, role or scopes, or disabling them (:mod:`stationmap.accounts`
  ends their sessions).  Only requests that ask who is signed in read the
  row (one query, as the user lookup before); API reads open no session.
* Sign-in throttling in the database (:mod:`stationmap.sessions`): failures
  per account name tried (existing or not) and per client address, shared by
  every worker and kept across restarts; while locked, every sign-in for that
  name (the right password too) is a 429 saying how long to wait.
* The client address (:func:`client_address`): the peer address, unless
  ``STATIONMAP_TRUSTED_PROXIES`` names the proxies in front (a hop count:
  werkzeug's ProxyFix; addresses: their X-Forwarded-For only).
* Every sign-in, failed sign-in and sign-out goes to the audit log (:mod:`stationmap.audit`).
* Flask-WTF's CSRFProtect on every POST/PUT/PATCH/DELETE of the app: forms
  carry ``{{ csrf_token() }}``, scripts send it as ``X-CSRFToken``.  A missing
  or wrong token is a 400.
* Flask-Limiter: check-ins are rate-limited (admin.py).  The default
  storage (``memory://``) counts per worker process;
  ``STATIONMAP_RATELIMIT_STORAGE_URI`` (redis) shares the counts between workers.
* Session cookie: HttpOnly, SameSite=Lax, Secure per
  ``STATIONMAP_SECURE_COOKIES`` (see :func:`secure_cookies`).
* Framing: every response refuses to be framed (``X-Frame-Options: DENY``
  and CSP ``frame-ancestors 'none'``) unless the view set
  ``g.frame_ancestors`` (the embeds do, from the per-district allowlist).
* Content-Security-Policy: every page (``text/html``) gets the whole policy
  of :mod:`stationmap.csp` (scripts from the app's origin and the request's
  nonce, images from the app and the configured tile hosts, ...), built by
  :func:`frame_headers`; templates write :func:`csp_nonce` on their inline
  scripts.  Other answers keep ``frame-ancestors 'none'`` alone.
* Read-only API requests (GET/HEAD/OPTIONS under ``/api/``, see
  :func:`stationmap.web.http.is_api_read`) are kept cheap: no session is
  opened, signed or written (:class:`stationmap.web.http.AppSessionInterface`),
  the rate limiter skips them, and CSRF only ever checks unsafe methods.
  They get the framing headers like every response.
"""

from __future__ import annotations

import math
import secrets
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from flask import (
    Blueprint,
    Flask,
    Response,
    current_app,
    flash,
    g,
    jsonify,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_limiter import Limiter
from flask_limiter.errors import RateLimitExceeded
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.middleware.proxy_fix import ProxyFix

from stationmap import accounts, audit, csp, sessions
from stationmap.labels import PERIOD_LABELS, label, say
from stationmap.web.http import DENY_HEADERS, AppSessionInterface, is_api_read, skip_on_api_reads, wants_json
from stationmap.web.state import state
from stationmap.web.ui import lang, safe_next, signed_in_user

if TYPE_CHECKING:
    from flask.typing import ResponseReturnValue
    from limits import RateLimitItem

bp = Blueprint("auth", __name__)

#: failed sign-ins allowed per account name (the DB throttle: stationmap.sessions), as text
LOGIN_LIMIT_PER_USERNAME = f"{sessions.MAX_FAILURES_PER_NAME} failures per {sessions.WINDOW} per account name"
#: ... and per client address
LOGIN_LIMIT_PER_ADDRESS = f"{sessions.MAX_FAILURES_PER_ADDRESS} failures per {sessions.WINDOW} per address"


class LoginUser(UserMixin):
    """A :class:`stationmap.accounts.User` as Flask-Login wants it, with its session's token."""

    def __init__(self, user: accounts.User, token: str) -> None:
        self.user = user
        self.token = token

    def get_id(self) -> str:
        return self.token  # what the cookie carries: the session's random token, nothing else

    def __getattr__(self, name: str) -> Any:  # username, role, scopes, can_edit, require_edit...
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


_TRUSTED = "stationmap_trusted_proxies"


def client_address() -> str:
    """The client's address: the peer's, or from X-Forwarded-For when the peer is a trusted
    proxy (``STATIONMAP_TRUSTED_PROXIES``: the rightmost address that is not one of them)."""
    addr = request.remote_addr or ""
    trusted = current_app.extensions.get(_TRUSTED)
    if trusted and addr in trusted:
        for hop in reversed(request.headers.get("X-Forwarded-For", "").split(",")):
            hop = hop.strip()
            if hop and hop not in trusted:
                return hop[:64]
    return addr


def _proxies(app: Flask, setting: str) -> None:
    """Honour the trusted proxies: a hop count wraps the app in ProxyFix; addresses are kept
    for :func:`client_address`."""
    value = str(setting or "").strip()
    if value.isdigit():
        if int(value) > 0:
            app.wsgi_app = ProxyFix(app.wsgi_app, x_for=int(value), x_proto=int(value))  # type: ignore[method-assign]
        return
    app.extensions[_TRUSTED] = frozenset(p.strip() for p in value.split(",") if p.strip())


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

    idle = timedelta(minutes=settings.session_idle_minutes)
    max_age = timedelta(hours=settings.session_max_hours)

    @lm.user_loader
    def _load(token: str) -> LoginUser | None:
        store = state().store
        found = sessions.check(store, str(token), idle=idle, max_age=max_age)
        if found.user_id is None:
            if found.expired:
                flash(_("会话已过期，请重新登录。"))
            return None
        user = accounts.get_user_by_id(store, found.user_id)
        if user is None or user.disabled:
            return None
        return LoginUser(user, str(token))

    @lm.unauthorized_handler
    def _unauthorized() -> ResponseReturnValue:
        if wants_json():   # the editors' JSON API: a 401 a program can read, never the sign-in page
            return jsonify({"error": {"code": "unauthorized", "field": None,
                                      "message": "sign in first: the editors' API uses the session of /login"}}), 401
        if request.method in ("GET", "HEAD"):
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return render_template("error.html", status=401, message=_("请先登录。")), 401

    limiter = Limiter(client_address, app=app, default_limits=[])
    app.extensions["stationmap_limiter"] = limiter
    limiter.request_filter(is_api_read)  # no limit on reading the API
    # what CSRFProtect, LoginManager and Limiter hooked in does nothing for a read-only API
    # request (no unsafe method, no session, no limits): stationmap.web.http.lean_hooks leaves it out
    skip_on_api_reads(app, *[f for f in app.before_request_funcs.get(None, []) if f not in before0],
                      *[f for f in app.after_request_funcs.get(None, []) if f not in after0],
                      *[f for f in app.teardown_request_funcs.get(None, []) if f not in teardown0])
    _proxies(app, settings.trusted_proxies)
    app.register_blueprint(bp)

    @app.errorhandler(CSRFError)
    def _csrf_error(exc: CSRFError) -> ResponseReturnValue:
        if wants_json():
            return jsonify({"error": {"code": "csrf", "field": "X-CSRFToken",
                                      "message": f"the CSRF token is missing or wrong ({exc.description}): "
                                                 "send the csrf_token of GET /admin/api/items as X-CSRFToken"}}), 400
        return render_template("error.html", status=400,
                               message=_("表单已过期或来自其他网站（%(reason)s）。请刷新页面后重试。",
                                         reason=say(str(exc.description), lang()))), 400

    @app.errorhandler(RateLimitExceeded)
    def _rate_limited(exc: RateLimitExceeded) -> ResponseReturnValue:
        msg = _("请求太频繁，请稍后再试（限制：%(limit)s）。", limit=limit_words(exc.limit.limit))
        if wants_json():
            return jsonify({"error": {"code": "rate_limited", "message": msg, "field": None}}), 429
        return render_template("error.html", status=429, message=msg), 429

    @app.context_processor
    def _auth_context() -> dict[str, Any]:
        return {"signed_in_user": signed_in_user()}

    app.extensions[_POLICY] = csp.for_base_maps(settings.tianditu_key)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.after_request(frame_headers)


def limit_words(item: RateLimitItem) -> str:
    """A rate limit in the page's language: ``每分钟 6 次``, ``6 per minute`` (Flask-Limiter's own
    description, ``6 per 1 minute``, is English only)."""
    unit = label(PERIOD_LABELS, item.GRANULARITY.name, lang())
    if item.multiples == 1:
        return _("每%(unit)s %(n)s 次", unit=unit, n=item.amount)
    return _("每 %(m)s %(unit)s %(n)s 次", m=item.multiples, unit=unit, n=item.amount)


_DENY_NAMES = frozenset(k.lower() for k, _v in DENY_HEADERS)
_POLICY = "stationmap_csp"


def csp_nonce() -> str:
    """This request's CSP nonce, made on first use (``secrets.token_urlsafe``: 128 random bits).

    Templates write it on their inline scripts (``<script nonce="{{ csp_nonce() }}">``);
    :func:`frame_headers` puts it in the page's policy.
    """
    nonce = g.get("csp_nonce")
    if nonce is None:
        nonce = g.csp_nonce = secrets.token_urlsafe(16)
    return nonce


def page_policy(app: Flask) -> csp.Policy:
    """The app's Content-Security-Policy (:mod:`stationmap.csp`, for its base maps' tile hosts)."""
    return app.extensions[_POLICY]


def frame_headers(resp: Response) -> Response:
    """The Content-Security-Policy of a page, and framing refused unless the view allowed it
    (``g.frame_ancestors``).

    A page (``text/html``) without a policy of its own gets :mod:`stationmap.csp`'s,
    with the request's nonce if a template asked for one (:func:`csp_nonce`) and
    ``frame-ancestors`` from ``g.frame_ancestors``.  To a policy a view set
    itself, ``frame-ancestors`` is appended rather than replaced.  Anything else
    (static files, downloads, JSON outside the API) gets :data:`DENY_HEADERS`.
    """
    if getattr(resp, "deny_framing", False):  # built with DENY_HEADERS (the JSON API's answers)
        return resp
    allowed = g.get("frame_ancestors")
    headers = resp.headers
    if "Content-Security-Policy" not in headers and headers.get("Content-Type", "").startswith("text/html"):
        headers["Content-Security-Policy"] = page_policy(current_app).header(
            nonce=g.get("csp_nonce"), frame_ancestors=allowed or ("'none'",))
    elif not allowed and not any(k.lower() in _DENY_NAMES for k, _v in headers.items()):
        headers.extend(DENY_HEADERS)  # none of them set yet: add the four at once
        return resp
    directive = "frame-ancestors " + (" ".join(allowed) if allowed else "'none'")
    policy = resp.headers.get("Content-Security-Policy", "")
    if "frame-ancestors" not in policy:
        resp.headers["Content-Security-Policy"] = f"{policy.rstrip('; ')}; {directive}" if policy.strip() else directive
    if allowed:
        resp.headers.pop("X-Frame-Options", None)
    else:
        resp.headers["X-Frame-Options"] = "DENY"
    resp.headers.setdefault("X-Content-Type-Options", "nosniff")
    resp.headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    return resp


def _locked_page(wait: timedelta) -> Response:
    minutes = max(1, math.ceil(wait.total_seconds() / 60))
    msg = _("登录尝试失败次数过多，该账号已暂时锁定。请在 %(minutes)s 分钟后再试。", minutes=minutes)
    resp = make_response(render_template("error.html", status=429, message=msg), 429)
    resp.headers["Retry-After"] = str(max(1, math.ceil(wait.total_seconds())))
    return resp


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """Sign in with user name and password (throttled per account name and address)."""
    nxt = safe_next(request.values.get("next"))
    error = None
    status = 200
    if request.method == "POST":
        store = state().store
        username = (request.form.get("username") or "").strip()
        password = request.form.get("password") or ""
        address = client_address()
        wait = sessions.locked_for(store, username, address)
        if wait is not None:  # even the right password: the same answer for every name
            audit.record(store, "login_locked", user=username[:64], address=address)
            return _locked_page(wait)
        user = accounts.authenticate(store, username, password)
        if user is None:
            error = _("用户名或密码不正确。")
            status = 401
            sessions.record_failure(store, username, address)
            audit.record(store, "login_failed", user=username[:64], address=address)
            current_app.logger.warning("failed sign-in for %r from %s", username[:64], address)
        else:
            sessions.clear_failures(store, username)
            if current_user.is_authenticated:  # signing in again: the old session ends
                sessions.end(store, current_user.token, reason="replaced")
            token = sessions.start(store, user.id, address=address)  # a new id: no fixation
            settings = state().settings
            sessions.prune(store, max_age=timedelta(hours=settings.session_max_hours),
                           idle=timedelta(minutes=settings.session_idle_minutes))
            lang = session.get("lang")
            session.clear()  # a fresh session (and CSRF token) for the signed-in user
            if lang:
                session["lang"] = lang
            login_user(LoginUser(user, token))
            audit.record(store, "login_ok", user=user.username, address=address)
            return redirect(nxt or url_for("admin.index"))
    return render_template("admin/login.html", error=error, next=nxt), status


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """Sign out (a POST with the CSRF token, so other sites cannot sign anyone out): the
    session ends in the database too, so a copy of the cookie opens nothing."""
    store = state().store
    if current_user.is_authenticated:
        sessions.end(store, current_user.token, reason="logout")
        audit.record(store, "logout", user=current_user.username, address=client_address())
    logout_user()
    session.clear()
    flash(_("已退出登录。"))
    return redirect(url_for("auth.login"))
