"""Every departure of the web app from stock Flask / werkzeug, in one place.

The JSON API's reads (``GET /api/...``, above all ``/api/v1/nearest``) are the
most frequent requests, and microseconds per request count there
(``benchmarks/bench_api.py``: /nearest at ~61-64% of a bare Flask endpoint's
throughput under gunicorn).  Each shortcut below replaces a stock behaviour by a
cheaper one that gives the same answer; each is pinned by a test comparing it
with the stock behaviour, and several rely on third-party internals that an
upgrade may change (the tests named fail first then).

Tests are in tests/web/ (``cheap`` is test_api_cheap.py, ``errors`` test_api_errors.py,
``pages`` test_pages.py, ``nearest`` test_api_nearest.py); figures from the code's
comments and commit messages (bench_api.py, A/B runs under gunicorn).

========================  ================================  ===========================  ==========================
shortcut                  what it saves                     pinned by                    relies on (internals)
========================  ================================  ===========================  ==========================
StationmapRequest         parse_qsl's ~10 calls a pair: a   cheap::test_request_args_    werkzeug: ``Request.args``
.arg_lists / .args        plain ASCII query string with no  are_what_werkzeug_parses     a ``cached_property``,
                          ``%`` or ``+`` is split on & and  (hypothesis vs werkzeug)     ``parameter_storage_class``
                          = into a plain dict, no MultiDict
decode_query_string       (not speed) a query string that   errors::test_query_string_   assigning ``request.args``
                          is not UTF-8 is read with U+FFFD  that_is_not_utf8_is_a_400_   over its cached value
                          for the bad bytes: a 400, not a   not_a_500
                          500
StationmapFlask           ``iscoroutinefunction`` per hook  cheap::test_ensure_sync_     Flask: ``ensure_sync`` is
.ensure_sync              and view a request (a few us      keeps_flasks_answer_for_     where each hook and view
                          each, four a request)             plain_functions              is wrapped
lean_hooks,               six hooks (CSRF, Flask-Login,     cheap::test_api_reads_*,     Flask: ``before_/after_/
skip_on_api_reads         Flask-Limiter x3, language        ::test_lang_query_           teardown_request_funcs
                          cookie) skipped on API reads, a   remembered_on_pages_not_on_  [None]``; which hooks the
                          few us each; one function per     api                          extensions add
                          kind of hook
AppSessionInterface,      an API read neither verifies nor  cheap::test_api_reads_of_a_  Flask: ``NullSession``,
ApiReadSession            signs a session cookie (and has   signed_in_client_neither_    ``SessionInterface.open_
                          no ``Vary: Cookie``)              set_nor_vary_on_cookies      session``
is_api_read               asked by several hooks: kept in   (as above); the rate         the ``stationmap.api_read``
                          the environ; the rate limiter's   limiter: cheap::test_api_    environ key (ours)
                          ``request_filter`` (auth.py)      reads_are_not_rate_limited_
                                                            but_sign_in_is
ApiResponse.of            ``Response.__init__``'s per-      cheap::test_api_response_    werkzeug: ``Headers._list``
                          header checks (10 us -> 2 us)     of_builds_what_the_          and the attributes
                                                            constructor_builds           ``__init__`` sets
ApiResponse.__call__      werkzeug's copy-and-scan of the   cheap::test_api_response_    werkzeug: ``_status_code``,
                          headers before each answer:       hands_over_what_werkzeug_    ``_status``, ``_on_close``,
                          +5% /nearest throughput (A/B in   would, ::test_api_response_  ``Headers.to_wsgi_list``
                          gunicorn, commit 10cb67a)         takes_werkzeugs_way_*
api_response,             final headers (framing, type,     cheap::test_head_of_an_api_  ours: ``deny_framing``,
DENY_HEADERS,             Vary, gzip) set at once, not by   read_*, ::test_api_reads_*,  ``encoded`` (read by
content_type              after-request hooks one by one;   ::test_framed_embed_still_   :func:`compress` and
                          Content-Type once per mimetype    drops_deny                   ``auth.frame_headers``);
                                                                                         ``get_content_type``
_gzip, compress,          small answers at ISA-L level 0    cheap::test_small_window_    ``isal.isal_zlib``
accepts_gzip              (50-95 us -> 10 us); a small      gzip_round_trips; pages::    (optional); werkzeug:
                          zlib window otherwise; gzip of    test_gzip_for_pages_api_and  ``direct_passthrough``,
                          static files and view-cached      _static_files, ::test_       ``is_streamed``; the WSGI
                          bodies kept; Accept-Encoding      static_gzip_keeps_*, ::test  ``HTTP_ACCEPT_ENCODING``
                          from the environ (3x cheaper      _small_and_error_responses_
                          than ``request.headers``), its    are_not_compressed
                          answer kept per value
PID                       ``os.getpid()`` (a system call)   nearest::test_a_write_       ``os.register_at_fork``
                          per request (ChangeProbe per      through_one_worker_is_seen_
                          process: state.AppState.sync)     by_another; test_multiworker
========================  ================================  ===========================  ==========================

Also here: :func:`wants_json` (is the answer JSON?) and :func:`evict`, the bound of the
web layer's dict caches (oldest first).
"""

from __future__ import annotations

import gzip
import os
import zlib
from collections.abc import Callable, Hashable, Iterable
from functools import lru_cache
from types import FunctionType, ModuleType
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import parse_qsl

from flask import Flask, Request, Response
from flask.json.provider import DefaultJSONProvider
from flask.sessions import NullSession, SecureCookieSession, SecureCookieSessionInterface
from werkzeug.datastructures import Headers, ImmutableMultiDict, MultiDict
from werkzeug.utils import cached_property, get_content_type

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment
    from flask.typing import ResponseReturnValue

    #: flask's ``request``, of this app's request class (StationmapFlask.request_class)
    request: StationmapRequest
else:
    from flask import request

#: the media type of the API's GeoJSON answers
GEOJSON = "application/geo+json"

#: this process's id, kept current across forks (os.getpid() is a system call: every request asks)
PID = [os.getpid()]
os.register_at_fork(after_in_child=lambda: PID.__setitem__(0, os.getpid()))


def evict(cache: dict[Any, Any], room: int) -> None:
    """Drop the oldest entries of ``cache`` until it has fewer than ``room``
    (safe when another thread of a threaded server evicts at the same time)."""
    while len(cache) >= room:
        try:
            cache.pop(next(iter(cache)), None)
        except (RuntimeError, StopIteration):  # noqa: PERF203 (a race's handler; the loop runs once or twice)
            continue


# -- the request ----------------------------------------------------------------------------

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
    def arg_lists(self) -> dict[str, list[str]]:
        """The query string as ``{name: [values]}`` (what ``args.lists()`` gives, as a
        plain dict: the API's parameter checks read it; never modify)."""
        qs = self.environ.get("QUERY_STRING", "")
        if qs.isascii() and "%" not in qs and "+" not in qs:
            out: dict[str, list[str]] = {}
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
    def args(self) -> MultiDict[str, str]:
        qs = self.environ.get("QUERY_STRING", "")
        if qs.isascii() and "%" not in qs and "+" not in qs:
            return self.parameter_storage_class(self.arg_lists)
        return super().args


def decode_query_string() -> None:
    """Before each request: a query string that is not UTF-8 (raw bytes, not %-escaped)
    would make ``request.args`` raise UnicodeDecodeError, a 500 wherever it is read:
    read it with U+FFFD for the bad bytes instead, so the parameter checks refuse it with a 400."""
    try:
        request.arg_lists  # noqa: B018  (parse once; cached)
    except UnicodeDecodeError:
        pairs = parse_qsl(request.query_string.decode("utf-8", "replace"), keep_blank_values=True,
                          errors="replace")
        request.args = ImmutableMultiDict(pairs)


SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
"""Methods that never change anything (CSRF checks none of them)."""


def is_api_read(req: Request | None = None) -> bool:
    """Whether ``req`` (default: the current request) is a read-only JSON API request
    (asked by several hooks per request: the answer is kept in the request's environ)."""
    # (the proxy's own method: flask types ``request`` as the Request it stands for)
    req = request._get_current_object() if req is None else req  # type: ignore[attr-defined]
    env = req.environ
    flag = env.get("stationmap.api_read")
    if flag is None:
        flag = env["stationmap.api_read"] = req.method in SAFE_METHODS and req.path.startswith("/api/")
    return flag


def wants_json() -> bool:
    """Whether the current request is answered in JSON (errors too): any path under ``/api/``, and the
    editors' JSON API under ``/admin/api/`` (:mod:`stationmap.web.admin`)."""
    return request.path.startswith(("/api/", "/admin/api/"))


# -- the app ----------------------------------------------------------------------------------

class StationmapFlask(Flask):
    """Flask, asking once per function whether it is a coroutine function.

    Flask wraps every hook and view in ``ensure_sync`` on every request, and
    the question (``inspect.iscoroutinefunction``) costs microseconds each time
    (four times a request here).  Plain functions known to be synchronous are
    kept in a set; anything else takes Flask's way."""

    request_class = StationmapRequest
    json: DefaultJSONProvider   # (Flask's default json_provider_class)
    _SYNC_CAP = 4096
    #: builds what the first requests would (:func:`stationmap.web.state.warm`, set by
    #: ``create_app``): gunicorn's master calls it before the workers fork (``gunicorn_conf.when_ready``)
    warm: Callable[[], None] | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._sync_funcs: set[Callable[..., Any]] = set()

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        known = self._sync_funcs
        if func in known:
            return func
        out = super().ensure_sync(func)
        if out is func and type(func) is FunctionType and len(known) < self._SYNC_CAP:
            known.add(func)
        return out


def init_app(app: Flask) -> None:
    """Hook the query-string decoding (before each request) and :func:`compress` (after)."""
    app.before_request(decode_query_string)
    app.after_request(compress)


_API_READ_NOOPS = "stationmap_api_read_noops"


def skip_on_api_reads(app: Flask, *hooks: Callable[..., Any]) -> None:
    """Mark before/after/teardown-request ``hooks`` as doing nothing for a read-only API request
    (:func:`is_api_read`): :func:`lean_hooks` leaves them out there."""
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
    noops = app.extensions.get(_API_READ_NOOPS, [])
    if not noops:
        return
    before: list[Callable[[], Any]] = list(app.before_request_funcs.get(None, []))  # (called as they are: all sync)
    after = list(reversed(app.after_request_funcs.get(None, [])))
    teardown = list(reversed(app.teardown_request_funcs.get(None, [])))
    api_before = [f for f in before if f not in noops]
    api_after = [f for f in after if f not in noops]
    api_teardown = [f for f in teardown if f not in noops]

    def _before_request() -> ResponseReturnValue | None:
        for fn in (api_before if is_api_read() else before):
            rv = fn()
            if rv is not None:
                return rv
        return None

    def _after_request(resp: Response) -> Response:
        for fn in (api_after if is_api_read() else after):
            resp = fn(resp)
        return resp

    def _teardown_request(exc: BaseException | None = None) -> None:
        for fn in (api_teardown if is_api_read() else teardown):
            fn(exc)

    app.before_request_funcs[None] = [_before_request]
    app.after_request_funcs[None] = [_after_request]
    app.teardown_request_funcs[None] = [_teardown_request]


# -- sessions ----------------------------------------------------------------------------------

class ApiReadSession(NullSession):
    """The session of a read-only API request: empty, and writing to it is a bug."""

    def _fail(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise RuntimeError("read-only API requests (GET /api/...) have no session; "
                           "do not read or write the session in an API view")

    __setitem__ = __delitem__ = clear = pop = popitem = update = setdefault = _fail


class AppSessionInterface(SecureCookieSessionInterface):
    """Signed-cookie sessions, except for read-only API requests (:func:`is_api_read`):
    those neither verify the cookie's signature nor ever send a cookie back.
    The API answers the same to everyone; nothing in it depends on who is signed in."""

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if is_api_read(request):
            return ApiReadSession()
        return super().open_session(app, request)


# -- responses ---------------------------------------------------------------------------------

#: the headers of a response nobody may frame (the common case), built once; a page (text/html)
#: gets the whole Content-Security-Policy instead (stationmap.csp, sent by auth.frame_headers)
DENY_HEADERS = (
    ("Content-Security-Policy", "frame-ancestors 'none'"),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
)

_CONTENT_TYPES: dict[str, str] = {}


def content_type(mimetype: str) -> str:
    """The Content-Type of ``mimetype`` (werkzeug's charset rule, applied once per mimetype)."""
    hit = _CONTENT_TYPES.get(mimetype)
    if hit is None:
        hit = _CONTENT_TYPES[mimetype] = get_content_type(mimetype, "utf-8")
    return hit


class ApiResponse(Response):
    """A werkzeug Response that hands its headers to the server as they are.

    werkzeug's ``Response.__call__`` copies the headers and scans them for
    Location, Content-Location and Content-Length before every answer (tens of
    microseconds on a busy server, bench_api.py).  The API's answers are a
    buffered body with its Content-Length set (``set_data``) and neither
    Location header; an answer that is not (a HEAD request, a bodiless status,
    a body an after-request hook replaced by an iterator, a close callback) takes
    werkzeug's way.
    """

    # set by api_response and features.cached_response (compress and auth.frame_headers read them)
    deny_framing: bool
    encoded: bool
    gzip_key: Hashable | None

    @classmethod
    def of(cls, data: bytes, status: int, headers: list[tuple[str, str]]) -> ApiResponse:
        """The response of ``data`` with ``headers`` (clean ``(name, str)`` pairs, the
        Content-Type among them) and a Content-Length: what ``Response(data,
        status, headers)`` builds (the same attributes: tests/web/test_api_cheap.py),
        without its per-header checks and lookups (10 us -> 2 us)."""
        self = cls.__new__(cls)
        h = Headers()
        h._list = [*headers, ("Content-Length", str(len(data)))]
        self.headers = h
        self.status = status
        self.direct_passthrough = False
        self._on_close = []
        self.response = [data]
        return self

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        body = self.response
        code = self._status_code
        if (type(body) is not list or self._on_close or not 200 <= code < 300 or code == 204
                or environ["REQUEST_METHOD"] == "HEAD"):
            return super().__call__(environ, start_response)
        headers = self.headers.to_wsgi_list()
        names = {k.lower() for k, _v in headers}
        if "content-length" not in names or "location" in names or "content-location" in names:
            return super().__call__(environ, start_response)
        start_response(self._status, headers)
        return body


def api_response(body: str | bytes, status: int, mimetype: str, *, encode: bool = True,
                 vary: tuple[str, ...] = (), gzipped: Callable[[], bytes] | None = None) -> ApiResponse:
    """A JSON API answer with its final headers set at once.

    What the after-request hooks would add one by one, the API's answers carry
    from the start (they are the most frequent answers, and each header set on a
    werkzeug response costs): the framing headers (nothing of the API is ever
    framed: ``frame_headers`` leaves them), and for a body under 64 KB, gzip
    (:func:`compress`'s rules) with ``Vary``.  Larger bodies, and any with
    ``encode=False`` (a body the view caches), are left to :func:`compress`,
    which keeps the gzip of cached ones.  ``vary``: the request headers the answer depends
    on besides Accept-Encoding (``("User-Agent",)``: navigation links made for the browser),
    set with the rest (``resp.vary.add`` parses and writes the header back: ~4 us).
    ``gzipped()``, when given, is the gzip of ``body`` the caller keeps (asked only of a client
    that accepts gzip): used instead of compressing.
    """
    data = body.encode() if isinstance(body, str) else body
    headers = [*DENY_HEADERS, ("Content-Type", content_type(mimetype))]
    encode = encode and (status != 200 or len(data) < 65536)
    compressible = encode and status == 200 and len(data) >= _MIN_SIZE
    if compressible or vary:
        headers.append(("Vary", ", ".join((*vary, "Accept-Encoding") if compressible else vary)))
    if compressible and accepts_gzip():
        # the fastest for a small answer built for one request; a kept body's kept gzip
        data = _gzip(data, 0) if gzipped is None else gzipped()
        headers.append(("Content-Encoding", "gzip"))
    resp = ApiResponse.of(data, status, headers)
    resp.deny_framing = True
    resp.encoded = encode   # then compress() has nothing left to do
    return resp


# -- compression -------------------------------------------------------------------------------

_isal_zlib: ModuleType | None
try:    # ISA-L deflate (optional: zlib does the same, slower)
    from isal import isal_zlib as _isal_zlib
except ImportError:  # pragma: no cover - isal is in install_requires
    _isal_zlib = None

_COMPRESSIBLE = {"application/json", GEOJSON, "text/html", "text/css", "text/javascript",
                 "application/javascript", "image/svg+xml", "text/plain"}
_MIN_SIZE = 512
_STATIC_GZ: dict[Hashable, bytes] = {}
_BODY_GZ: dict[Hashable, bytes] = {}


def user_agent() -> str:
    """The current request's User-Agent, "" without one (``request.user_agent`` makes an object of it)."""
    return request.environ.get("HTTP_USER_AGENT", "")


def accepts_gzip() -> bool:
    """Whether the current request's client takes gzip."""
    return _gzip_accepted(request.environ.get("HTTP_ACCEPT_ENCODING", ""))  # (request.headers: 3x the time)


@lru_cache(maxsize=256)
def _gzip_accepted(header: str) -> bool:
    """Whether an ``Accept-Encoding`` value takes gzip (kept: clients send a few values)."""
    if ";" not in header:  # no q-values (what browsers send): a plain look for the name
        return any(part.strip().lower() in ("gzip", "*") for part in header.split(","))
    for part in header.split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() in ("gzip", "*"):
            q = params.strip()
            if q.startswith("q="):
                try:
                    return float(q[2:]) > 0
                except ValueError:
                    return False
            return True
    return False


def _gzip(raw: bytes, level: int) -> bytes:
    """``gzip.compress(raw, level, mtime=0)``.

    Levels 0 and 1 (small dynamic answers) with ISA-L's deflate (``isal``) where
    it is installed: a quarter of zlib's time for the same bytes at level 1, and
    level 0 (ISA-L's fastest, still real compression: an 8 KB /nearest answer
    becomes 2.3 KB, against 1.9 KB at level 1) half of that again (50-95 us ->
    10 us, bench_api.py).  Otherwise zlib (level 0 taken as 1), with a deflate
    window no bigger than ``raw`` needs: for a few-KB answer, setting up zlib's
    default 32 KB window and hash tables costs more than compressing."""
    if level <= 1 and _isal_zlib is not None:
        return _isal_zlib.compress(raw, level, 31)     # (31: a gzip header and trailer)
    level = max(level, 1)
    if len(raw) >= 32768:
        return gzip.compress(raw, compresslevel=level, mtime=0)
    wbits = max(10, min(15, (len(raw) - 1).bit_length()))
    co = zlib.compressobj(level, zlib.DEFLATED, 16 + wbits, 4)
    return co.compress(raw) + co.flush()


def gzip_small(raw: bytes) -> bytes:
    """The gzip of a small answer a view keeps (level 1: a third fewer bytes than the level 0 of an
    answer made for one request, e.g. a map tile 650 -> 450 B)."""
    return _gzip(raw, 1)


def compress(resp: Response) -> Response:
    """After each request: gzip text responses (HTML, JSON, GeoJSON, CSS, JS, SVG) for
    clients that accept it."""
    if getattr(resp, "encoded", False):     # an api_response: encoded when it was built
        return resp
    headers = resp.headers
    if (resp.status_code != 200 or "Content-Encoding" in headers
            or headers.get("Content-Type", "").partition(";")[0].strip().lower() not in _COMPRESSIBLE
            or (resp.is_streamed and not resp.direct_passthrough)):
        return resp
    vary = headers.get("Vary")  # (resp.vary parses it into a set: ten times the cost)
    if not vary:
        headers["Vary"] = "Accept-Encoding"
    elif "accept-encoding" not in vary.lower():
        headers["Vary"] = f"{vary}, Accept-Encoding"
    if not accepts_gzip():
        return resp
    etag = resp.get_etag()[0] if "ETag" in headers else None
    static = resp.direct_passthrough  # a file from the static folder
    cache: dict[Hashable, bytes] | None
    key: Hashable | None
    if static and etag:
        cache, key, room = _STATIC_GZ, (request.path, etag), 256
    elif (gzip_key := getattr(resp, "gzip_key", None)) is not None:  # a body the view serves from its cache
        cache, key, room = _BODY_GZ, gzip_key, 16
    else:
        cache = key = None
    resp.direct_passthrough = False
    if cache is not None and key in cache:
        data = cache[key]
    else:
        raw = resp.get_data()
        if len(raw) < _MIN_SIZE:
            return resp
        # static files: best compression, once; small dynamic answers: fastest (level 1
        # costs a quarter of level 5 for a few % more bytes); big ones (the finder's
        # 10,000-station layer, cached a minute): level 6
        level = 9 if static else (1 if len(raw) < 65536 else 6)
        data = _gzip(raw, level)
        if cache is not None:
            evict(cache, room)
            cache[key] = data
    resp.set_data(data)
    resp.headers["Content-Encoding"] = "gzip"
    if etag:
        resp.set_etag(etag, weak=True)
    return resp
