"""The argument checks, one of each: points, modes, methods, minutes, k, cell sizes, kinds,
time profiles and hours of the day.

Each check returns the value in its canonical type or raises
:class:`~stationmap.errors.ValidationError` naming the field and showing the bad
value (``f"mode must be one of {MODES}, got {mode!r}"``).  The limits they check
against live in :mod:`stationmap.config`.  The library, the CLI and the pages call
these; the API's parameter declarations (:mod:`stationmap.web.params`) read the same
limits and check query strings with their own fast readers.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal, overload

import numpy as np

from stationmap.config import MAX_CELL_M, MAX_K, MAX_MINUTES, METHODS, MIN_CELL_M, MODES, PROFILES
from stationmap.errors import ValidationError
from stationmap.model import KINDS, check_kinds, check_services

__all__ = ["check_cell_m", "check_hour", "check_k", "check_kind_list", "check_kinds", "check_method",
           "check_minutes", "check_mode", "check_point", "check_positive", "check_profile", "check_services"]


def check_point(lon: object, lat: object) -> tuple[float, float]:
    """Finite WGS-84 lon/lat in range, as floats; ValidationError otherwise.

    Parameters
    ----------
    lon, lat : object
        Anything ``float()`` takes: floats, ints, numpy scalars, numeric strings.

    Returns
    -------
    (float, float)
        ``lon`` in [-180, 180], ``lat`` in [-90, 90].

    Raises
    ------
    ValidationError
        If either is not a number, not finite or out of range (``field`` names which).
    """
    if type(lon) is float and type(lat) is float and -180.0 <= lon <= 180.0 and -90.0 <= lat <= 90.0:
        return lon, lat     # (NaN fails the comparisons)
    out = []
    for name, v, lim in (("lon", lon, 180.0), ("lat", lat, 90.0)):
        try:
            x = float(v)  # type: ignore[arg-type]  # anything float() takes; the rest is refused
        except (TypeError, ValueError):
            raise ValidationError(f"{name} must be a number, got {v!r}", field=name) from None
        if not math.isfinite(x) or not -lim <= x <= lim:
            raise ValidationError(f"{name} must be in [-{lim:g}, {lim:g}], got {v!r}", field=name)
        out.append(x)
    return out[0], out[1]


def check_mode(mode: str) -> str:
    """``mode`` if it is one of :data:`stationmap.config.MODES`; ValidationError (field ``mode``) otherwise."""
    if mode not in MODES:
        raise ValidationError(f"mode must be one of {MODES}, got {mode!r}", field="mode")
    return mode


def check_method(method: str) -> str:
    """``method`` if it is one of :data:`stationmap.config.METHODS`; ValidationError otherwise."""
    if method not in METHODS:
        raise ValidationError(f"method must be one of {METHODS}, got {method!r}", field="method")
    return method


def check_positive(value: object, name: str, *, hi: float | None = None) -> float:
    """``value`` as a finite float in (0, ``hi``] (no upper bound without ``hi``); bools refused."""
    if isinstance(value, bool):
        raise ValidationError(f"{name} must be a positive number, got {value!r}", field=name)
    try:
        x = float(value)  # type: ignore[arg-type]  # anything float() takes; the rest is refused
    except (TypeError, ValueError):
        raise ValidationError(f"{name} must be a positive number, got {value!r}", field=name) from None
    if not math.isfinite(x) or x <= 0 or (hi is not None and x > hi):
        rng = f"in (0, {hi:g}]" if hi is not None else "a positive number"
        raise ValidationError(f"{name} must be {rng}, got {value!r}", field=name)
    return x


@overload
def check_minutes(minutes: object, *, allow_none: Literal[False] = ..., name: str = ...) -> float: ...
@overload
def check_minutes(minutes: object, *, allow_none: bool, name: str = ...) -> float | None: ...


def check_minutes(minutes: object, *, allow_none: bool = False, name: str = "minutes") -> float | None:
    """``minutes`` as a float in (0, :data:`~stationmap.config.MAX_MINUTES`] (None passes with
    ``allow_none``); ValidationError (field ``name``) otherwise."""
    if minutes is None and allow_none:
        return None
    try:
        x = float(minutes)  # type: ignore[arg-type]  # anything float() takes; the rest is refused
    except (TypeError, ValueError):
        raise ValidationError(f"{name} must be a number, got {minutes!r}", field=name) from None
    if isinstance(minutes, bool) or not math.isfinite(x) or not 0 < x <= MAX_MINUTES:
        raise ValidationError(f"{name} must be a number in (0, {MAX_MINUTES:g}], got {minutes!r}", field=name)
    return x


def check_k(k: object, *, hi: int = MAX_K) -> int:
    """``k`` as an int in [1, ``hi``] (default :data:`~stationmap.config.MAX_K`; numpy integers
    too, not bools); ValidationError otherwise."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= hi:
        raise ValidationError(f"k must be an integer in [1, {hi}], got {k!r}", field="k")
    return int(k)


def check_cell_m(cell_m: object) -> float:
    """A square cell size in metres, in [:data:`~stationmap.config.MIN_CELL_M`,
    :data:`~stationmap.config.MAX_CELL_M`]."""
    x = check_positive(cell_m, "cell")
    if not MIN_CELL_M <= x <= MAX_CELL_M:
        raise ValidationError(f"cell must be in [{MIN_CELL_M:g}, {MAX_CELL_M:g}] metres, got {cell_m!r}",
                              field="cell")
    return x


def check_kind_list(kinds: str | Sequence[str] | None) -> tuple[str, ...]:
    """Canonical kinds (default: every kind in :data:`stationmap.model.KINDS`); a string may
    list several, separated by commas or semicolons."""
    if kinds is None or (not isinstance(kinds, str) and len(kinds) == 0):
        return tuple(KINDS)
    if isinstance(kinds, str):
        kinds = [k for k in kinds.replace(";", ",").split(",") if k.strip()]
    return check_kinds(kinds, field="kind")


def check_profile(profile: object, *, field: str = "profile") -> str:
    """``profile`` if it is one of :data:`stationmap.config.PROFILES` (``week``, ``year``);
    ValidationError (field ``field``) otherwise."""
    if profile not in PROFILES:
        raise ValidationError(f"{field} must be one of {', '.join(PROFILES)}, got {profile!r}", field=field)
    return str(profile)


def check_hour(hour: object, *, field: str = "hour") -> int:
    """An hour of the day, 0-23 (an int, a numpy integer or a string of digits); ValidationError
    (field ``field``) otherwise."""
    x: object = hour
    if isinstance(hour, str) and hour.strip().isdigit() and len(hour.strip()) <= 2:
        x = int(hour.strip())
    if isinstance(x, bool) or not isinstance(x, (int, np.integer)) or not 0 <= x <= 23:
        raise ValidationError(f"{field} must be an hour of the day, an integer in [0, 23], got {hour!r}", field=field)
    return int(x)
