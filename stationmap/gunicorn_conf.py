"""gunicorn settings of ``stationmap serve`` (``--config python:stationmap.gunicorn_conf``).

The app is built once, in the master, before gunicorn listens (``preload_app``):
a request that reaches the port finds a worker with the app built, and
``stationmap serve`` says "serving" only when gunicorn is ready
(:func:`when_ready`).  Each forked worker gets the master's station index
copy-on-write, but must not share its database connections: :func:`post_fork`
drops the inherited pool (SQLAlchemy's advice for forked processes).

gunicorn (25.1 and later) opens a control socket for ``gunicornc``; its default,
``$XDG_RUNTIME_DIR/gunicorn.ctl`` or ``~/.gunicorn/gunicorn.ctl``, is one path
for every gunicorn of the user, so a second instance on the machine would take it
over from the first (and remove it when it stops).  Each instance keeps its own in
its instance folder (:func:`control_socket_settings`); older gunicorns ignore the
two settings.
"""

from __future__ import annotations

import gc
import os
import sys
from pathlib import Path
from typing import Any

from stationmap import config as _config
from stationmap.instance import private_dir

#: the control socket's file in the instance folder (``gunicornc -s <instance>/gunicorn.ctl``)
CONTROL_SOCKET_NAME = "gunicorn.ctl"
#: the longest path a Unix socket may have (``sun_path``: 108 bytes on Linux, its NUL included)
MAX_SOCKET_PATH_BYTES = 107


def control_socket_settings(instance_path: str | os.PathLike) -> tuple[str, bool]:
    """``(control_socket, control_socket_disable)``: the socket in the instance folder, or
    none when that path is too long for a Unix socket (the server runs the same without it)."""
    path = Path(instance_path).resolve() / CONTROL_SOCKET_NAME
    return str(path), len(os.fsencode(path)) > MAX_SOCKET_PATH_BYTES


preload_app = True
_instance = _config.load().instance_path
control_socket, control_socket_disable = control_socket_settings(_instance)
if not control_socket_disable:
    private_dir(_instance)  # 0700, before gunicorn would make it with its own mode

# gunicorn ships no type hints: its Arbiter (``server``) and Worker are typed Any here.


def _app(server: Any) -> object | None:
    """The Flask app the master built (preload), or None."""
    return getattr(server.app, "callable", None)


def post_fork(server: Any, worker: Any) -> None:
    """In the new worker: forget the master's pooled connections (without closing them:
    they belong to the master), so the worker opens its own."""
    app = _app(server)
    state = getattr(app, "extensions", {}).get("stationmap") if app is not None else None
    if state is not None:
        state.store.engine.dispose(close=False)


def when_ready(server: Any) -> None:
    """The app is built and the port is listening: build what the workers share (the map tiles'
    clusters, the finder page: the app's ``warm``, before they fork), then tell the user."""
    warm = getattr(_app(server), "warm", None)     # stationmap.web.http.StationmapFlask.warm
    if warm is not None:
        warm()
    # what the master built outlives every request: out of the collector's sight (gc.freeze), a
    # worker's collections neither walk it (their pauses) nor write its objects' GC headers, which
    # would copy the pages it shares with the master into every worker
    gc.collect()
    gc.freeze()
    banner = os.environ.get("STATIONMAP_SERVE_BANNER")
    if banner:
        print(banner, file=sys.stderr, flush=True)
