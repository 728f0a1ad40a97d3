"""The parameters of a coverage run: shapes, methods and demand proxies, default cell
size, horizon and minute bands, and the checks of minutes, cell size, kinds and mode;
speeds and circle radii from the settings.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

from stationmap import config as _config
from stationmap.config import MODES
from stationmap.errors import ValidationError
from stationmap.model import KINDS, check_kinds

if TYPE_CHECKING:
    from stationmap.config import Settings

SHAPES = ("square", "h3")
METHODS = ("auto", "circle", "network")
DEMAND_PROXIES = ("auto", "uniform", "roads")
#: default cell size, metres
DEFAULT_CELL_M = 250.0
#: minutes are reported up to this many times the threshold (the horizon)
HORIZON_FACTOR = 4.0
#: minute bands for maps and charts (upper bounds; the last band is "beyond")
MINUTE_BANDS = (5.0, 10.0, 15.0, 20.0, 30.0)
_MIN_CELL_M, _MAX_CELL_M = 10.0, 50_000.0


def _check_positive(value, name, *, hi=None):
    if isinstance(value, bool):
        raise ValidationError(f"{name} must be a positive number, got {value!r}", field=name)
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ValidationError(f"{name} must be a positive number, got {value!r}", field=name) from None
    if not math.isfinite(x) or x <= 0 or (hi is not None and x > hi):
        rng = f"in (0, {hi:g}]" if hi is not None else "a positive number"
        raise ValidationError(f"{name} must be {rng}, got {value!r}", field=name)
    return x


def check_mode(mode: str) -> str:
    """``mode`` if it is one of :data:`stationmap.config.MODES`; ValidationError otherwise."""
    if mode not in MODES:
        raise ValidationError(f"mode must be one of {MODES}, got {mode!r}", field="mode")
    return mode


def check_minutes(minutes: object, *, name: str = "minutes") -> float:
    """A travel-time threshold in minutes, in (0, 240]."""
    return _check_positive(minutes, name, hi=240.0)


def check_cell_m(cell_m: object) -> float:
    """A square cell size in metres, in [10, 50000]."""
    x = _check_positive(cell_m, "cell")
    if not _MIN_CELL_M <= x <= _MAX_CELL_M:
        raise ValidationError(f"cell must be in [{_MIN_CELL_M:g}, {_MAX_CELL_M:g}] metres, got {cell_m!r}",
                              field="cell")
    return x


def check_kind_list(kinds: str | Sequence[str] | None) -> tuple[str, ...]:
    """Canonical kinds (default: every kind in :data:`stationmap.model.KINDS`)."""
    if kinds is None or (not isinstance(kinds, str) and len(kinds) == 0):
        return tuple(KINDS)
    if isinstance(kinds, str):
        kinds = [k for k in kinds.replace(";", ",").split(",") if k.strip()]
    return check_kinds(kinds, field="kind")


def horizon_for(minutes: float, horizon_minutes: float | None = None) -> float:
    """The horizon in minutes: ``horizon_minutes`` (at least ``minutes``), default
    :data:`HORIZON_FACTOR` times ``minutes``."""
    if horizon_minutes is None:
        return HORIZON_FACTOR * minutes
    return max(_check_positive(horizon_minutes, "horizon_minutes", hi=1440.0), minutes)


def speed_m_per_min(mode: str, settings: Settings | None = None) -> float:
    """The mode's speed in metres per minute (``Settings.speed_kmh``)."""
    settings = settings or _config.load()
    return settings.speed_kmh(check_mode(mode)) * 1000.0 / 60.0


def reach_m(minutes: float, mode: str, *, settings: Settings | None = None, detour: float | None = None) -> float:
    """Straight-line radius in metres reached in ``minutes`` by the circle method."""
    settings = settings or _config.load()
    detour = settings.detour_factor if detour is None else detour
    return check_minutes(minutes) * speed_m_per_min(mode, settings) / detour
