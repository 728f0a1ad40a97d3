"""The parameters of a coverage run: shapes and demand proxies, horizon and minute
bands; speeds and circle radii from the settings.  (Methods, the default cell size and
the checks of minutes, cell size, kinds and mode live in :mod:`stationmap.config` and
:mod:`stationmap.checks`; they are re-exported here.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stationmap import config as _config
from stationmap.checks import check_cell_m, check_kind_list, check_minutes, check_mode, check_positive
from stationmap.config import DEFAULT_CELL_M, METHODS

__all__ = ["DEFAULT_CELL_M", "DEMAND_PROXIES", "HORIZON_FACTOR", "METHODS", "MINUTE_BANDS", "SHAPES",
           "check_cell_m", "check_kind_list", "check_minutes", "check_mode", "horizon_for", "reach_m",
           "speed_m_per_min"]

if TYPE_CHECKING:
    from stationmap.config import Settings

SHAPES = ("square", "h3")
DEMAND_PROXIES = ("auto", "uniform", "roads")
#: minutes are reported up to this many times the threshold (the horizon)
HORIZON_FACTOR = 4.0
#: minute bands for maps and charts (upper bounds; the last band is "beyond")
MINUTE_BANDS = (5.0, 10.0, 15.0, 20.0, 30.0)


def horizon_for(minutes: float, horizon_minutes: float | None = None) -> float:
    """The horizon in minutes: ``horizon_minutes`` (at least ``minutes``), default
    :data:`HORIZON_FACTOR` times ``minutes``."""
    if horizon_minutes is None:
        return HORIZON_FACTOR * minutes
    return max(check_positive(horizon_minutes, "horizon_minutes", hi=1440.0), minutes)


def speed_m_per_min(mode: str, settings: Settings | None = None) -> float:
    """The mode's speed in metres per minute (``Settings.speed_kmh``)."""
    settings = settings or _config.load()
    return settings.speed_kmh(check_mode(mode)) * 1000.0 / 60.0


def reach_m(minutes: float, mode: str, *, settings: Settings | None = None, detour: float | None = None) -> float:
    """Straight-line radius in metres reached in ``minutes`` by the circle method."""
    settings = settings or _config.load()
    detour = settings.detour_factor if detour is None else detour
    return check_minutes(minutes) * speed_m_per_min(mode, settings) / detour
