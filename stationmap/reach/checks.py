"""Reach's argument checks and limits: methods, modes, minutes, k.

Every check raises :class:`~stationmap.errors.ValidationError` naming the field and the
bad value.  (Other modules keep checks of their own; one table of them is a later step.)
"""

from __future__ import annotations

import math

import numpy as np

from stationmap.config import MODES
from stationmap.errors import ValidationError

METHODS = ("auto", "network", "circle")
MAX_MINUTES = 180.0
MAX_K = 1000


def check_mode(mode) -> str:
    if mode not in MODES:
        raise ValidationError(f"mode must be one of {MODES}, got {mode!r}", field="mode")
    return mode


def check_method(method) -> str:
    if method not in METHODS:
        raise ValidationError(f"method must be one of {METHODS}, got {method!r}", field="method")
    return method


def check_minutes(minutes, *, allow_none: bool = False):
    if minutes is None and allow_none:
        return None
    try:
        x = float(minutes)
    except (TypeError, ValueError):
        raise ValidationError(f"minutes must be a number, got {minutes!r}", field="minutes") from None
    if isinstance(minutes, bool) or not math.isfinite(x) or not 0 < x <= MAX_MINUTES:
        raise ValidationError(f"minutes must be a number in (0, {MAX_MINUTES:g}], got {minutes!r}",
                              field="minutes")
    return x


def check_k(k) -> int:
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= MAX_K:
        raise ValidationError(f"k must be an integer in [1, {MAX_K}], got {k!r}", field="k")
    return int(k)
