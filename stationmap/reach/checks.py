"""Reach's argument checks and limits: methods, modes, minutes, k.

Every check raises :class:`~stationmap.errors.ValidationError` naming the field and the
bad value.  (Other modules keep checks of their own; one table of them is a later step.)
"""

from __future__ import annotations

import math
from typing import Literal, overload

import numpy as np

from stationmap.config import MODES
from stationmap.errors import ValidationError

METHODS = ("auto", "network", "circle")
MAX_MINUTES = 180.0
MAX_K = 1000


def check_mode(mode: str) -> str:
    """``mode`` if it is one of :data:`stationmap.config.MODES`; ValidationError otherwise."""
    if mode not in MODES:
        raise ValidationError(f"mode must be one of {MODES}, got {mode!r}", field="mode")
    return mode


def check_method(method: str) -> str:
    """``method`` if it is one of :data:`METHODS`; ValidationError otherwise."""
    if method not in METHODS:
        raise ValidationError(f"method must be one of {METHODS}, got {method!r}", field="method")
    return method


@overload
def check_minutes(minutes: object, *, allow_none: Literal[False] = ...) -> float: ...
@overload
def check_minutes(minutes: object, *, allow_none: bool) -> float | None: ...


def check_minutes(minutes: object, *, allow_none: bool = False) -> float | None:
    """``minutes`` as a float in (0, :data:`MAX_MINUTES`] (None passes with ``allow_none``);
    ValidationError otherwise."""
    if minutes is None and allow_none:
        return None
    try:
        x = float(minutes)  # type: ignore[arg-type]  # anything float() takes; the rest is refused
    except (TypeError, ValueError):
        raise ValidationError(f"minutes must be a number, got {minutes!r}", field="minutes") from None
    if isinstance(minutes, bool) or not math.isfinite(x) or not 0 < x <= MAX_MINUTES:
        raise ValidationError(f"minutes must be a number in (0, {MAX_MINUTES:g}], got {minutes!r}",
                              field="minutes")
    return x


def check_k(k: object) -> int:
    """``k`` as an int in [1, :data:`MAX_K`] (numpy integers too, not bools); ValidationError otherwise."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= MAX_K:
        raise ValidationError(f"k must be an integer in [1, {MAX_K}], got {k!r}", field="k")
    return int(k)
