"""gunicorn settings of ``stationmap serve`` (``--config python:stationmap.gunicorn_conf``).

The app is built once, in the master, before gunicorn listens (``preload_app``):
a request that reaches the port finds a worker with the app built, and
``stationmap serve`` says "serving" only when gunicorn is ready
(:func:`when_ready`).  Each forked worker gets the master's station index
copy-on-write, but must not share its database connections: :func:`post_fork`
drops the inherited pool (SQLAlchemy's advice for forked processes).
"""

from __future__ import annotations

import os
import sys
from typing import Any

preload_app = True

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
    """The app is built and the port is listening: tell the user."""
    banner = os.environ.get("STATIONMAP_SERVE_BANNER")
    if banner:
        print(banner, file=sys.stderr, flush=True)
