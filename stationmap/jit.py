"""Compiled kernels: ``compiled(fn)`` is ``fn`` compiled by numba on first use.

nopython, without the GIL, cached on disk next to the module (or in numba's
user cache where that is read-only), so a new process loads rather than
compiles.  The kernels themselves live beside the code that calls them
(``reach``, ``network``, ``index``); a server calls their ``prepare`` at
start so no request pays for the first compilation or load.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, TypeVar

_F = TypeVar("_F", bound=Callable[..., Any])

_COMPILED: dict[Callable[..., Any], Any] = {}  # kernel -> its numba dispatcher
_LOCK = threading.Lock()


def compiled(fn: _F) -> _F:
    """``fn`` compiled with ``numba.njit(cache=True, nogil=True)``, once per process."""
    jit = _COMPILED.get(fn)
    if jit is None:
        with _LOCK:
            jit = _COMPILED.get(fn)
            if jit is None:
                import numba

                jit = _COMPILED[fn] = numba.njit(cache=True, nogil=True)(fn)
    return jit  # type: ignore[return-value]  # a numba Dispatcher is called as fn is
