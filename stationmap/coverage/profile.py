"""Coverage over time: the figures of a run at every hour of a week, or on one day of
every month, and the figures planners quote from them (night, winter, summer).

A station only serves while it is open.  :func:`time_profile` takes a run
(:class:`~stationmap.coverage.analysis.Coverage`: its grid, demand, districts, mode,
threshold and method) and the stations, and gives, for each moment, district and
kind, the share of area and of demand within the threshold of one open station
(covered) and of two (cross-covered), and the open stations in each district: the
figures :meth:`Coverage.stats` gives for a run at that moment
(:func:`~stationmap.coverage.analysis.analyse` with ``at``), moment by moment
(``tests/unit/test_profile.py`` checks they are equal).

* ``week`` (:func:`week_moments`): the 168 hours, Monday 00:00 to Sunday 23:00
  (Asia/Shanghai), of the week holding ``at`` (default: this week).  Its named
  figures: **night** coverage, the minimum and the mean over the night hours
  (22:00 to 06:00, :data:`~stationmap.config.NIGHT_FROM_HOUR`), every night of the week.
* ``year`` (:func:`year_moments`): the :data:`~stationmap.config.PROFILE_DAY` of
  each month of ``at``'s year at one hour of the day.  Its named figures: **winter**
  (December to February) and **summer** (June to August) coverage, means over
  those months: hot tea and heating, cooling.

How it stays cheap (a week costs little more than one run): which stations are in
reach of which cells does not depend on the moment, so it is found once, as pairs
(cell, station) within the threshold (the circle method's radius, or the road
network's :func:`~stationmap.network.matrix.reach_matrix`); a cell's count at a
moment is then the number of its pairs whose station is open.  The stations'
hours are read once per distinct set of hours, status and reopening date per
moment (:func:`stationmap.hours.open_checker`), and each distinct set of open
stations (a week of real hours has a few dozen) is counted once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from stationmap.checks import check_hour, check_profile
from stationmap.config import (
    DEFAULT_PROFILE_HOUR,
    NIGHT_FROM_HOUR,
    NIGHT_TO_HOUR,
    PROFILE_DAY,
    SUMMER_MONTHS,
    WINTER_MONTHS,
)
from stationmap.coverage.analysis import records
from stationmap.coverage.minutes import counted_stations, pair_minutes
from stationmap.errors import ValidationError
from stationmap.hours import TZ, open_checker, rfc3339, to_shanghai
from stationmap.model import KINDS, check_services

if TYPE_CHECKING:
    import pandas as pd

    from stationmap.coverage.analysis import Coverage
    from stationmap.index import StationIndex
    from stationmap.model import Station

#: the shares of a profile's rows, as :meth:`Coverage.stats` names them
SHARES = ("area_covered", "area_cross_covered", "demand_covered", "demand_cross_covered")


# -- the moments ------------------------------------------------------------------------------

def week_moments(at: datetime | None = None) -> tuple[datetime, ...]:
    """The 168 hours, Monday 00:00 to Sunday 23:00 (aware, Asia/Shanghai), of the week
    holding ``at`` (default: now; naive: Shanghai time)."""
    local = to_shanghai(at)
    monday = local.date() - timedelta(days=local.weekday())
    return tuple(datetime.combine(monday + timedelta(days=d), time(h), tzinfo=TZ)
                 for d in range(7) for h in range(24))


def year_moments(at: datetime | None = None, hour: int = DEFAULT_PROFILE_HOUR) -> tuple[datetime, ...]:
    """The :data:`~stationmap.config.PROFILE_DAY` of each month of ``at``'s year (default:
    this year) at ``hour``:00, Asia/Shanghai."""
    year = to_shanghai(at).year
    hour = check_hour(hour)
    return tuple(datetime(year, m, PROFILE_DAY, hour, tzinfo=TZ) for m in range(1, 13))


def moments_for(profile: str, at: datetime | None = None,
                hour: int = DEFAULT_PROFILE_HOUR) -> tuple[datetime, ...]:
    """The moments of ``profile`` (``week`` or ``year``) around ``at``."""
    return week_moments(at) if check_profile(profile) == "week" else year_moments(at, hour)


def is_night(hour: int) -> bool:
    """Whether the hour starting at ``hour``:00 is a night hour (22:00 to 06:00)."""
    return hour >= NIGHT_FROM_HOUR or hour < NIGHT_TO_HOUR


# -- the profile ------------------------------------------------------------------------------

@dataclass
class Profile:
    """Coverage at each of a series of moments (:func:`time_profile`).

    ``table``: one row per moment, district (then the whole, as in :meth:`Coverage.stats`)
    and kind: adcode, name, kind, moment (RFC 3339, +08:00), weekday (0 Monday), hour,
    month, stations_open (of the kind, inside the district), and the shares
    area_covered, area_cross_covered, demand_covered, demand_cross_covered (in [0, 1];
    None where the district has no area or demand).
    """

    name: str
    moments: tuple[datetime, ...]
    table: pd.DataFrame
    kinds: tuple[str, ...]
    services: tuple[str, ...]
    #: the year profile's hour of the day (None for a week)
    hour: int | None
    #: stations considered: of the kinds, offering the services, not closed, in reach of a cell
    stations: int
    #: per kind, how many distinct sets of open stations (in reach) the moments have
    distinct_sets: dict[str, int]
    #: distinct sets of open stations in reach, whatever their kind
    distinct_sets_all: int
    sample: bool = False
    params: dict[str, Any] = field(default_factory=dict)

    def figures(self) -> pd.DataFrame:
        """The named figures, per district and kind: for a week, ``night`` (the night hours,
        22:00 to 06:00: ``min`` and ``mean``); for a year, ``winter`` (December to February) and
        ``summer`` (June to August) (``mean``).  Columns: adcode, name, kind, figure,
        statistic, moments (how many were summarised) and the four shares."""
        import pandas as pd

        t = self.table
        parts: list[tuple[str, pd.DataFrame, tuple[str, ...]]]
        if self.name == "week":
            parts = [("night", t[t.hour.map(is_night)], ("min", "mean"))]
        else:
            parts = [("winter", t[t.month.isin(WINTER_MONTHS)], ("mean",)),
                     ("summer", t[t.month.isin(SUMMER_MONTHS)], ("mean",))]
        rows: list[dict[str, Any]] = []
        for figure, sub, stats in parts:
            for (code, name, kind), g in sub.groupby(["adcode", "name", "kind"], sort=False):
                for stat in stats:
                    row: dict[str, Any] = {"adcode": code, "name": name, "kind": kind, "figure": figure,
                                           "statistic": stat, "moments": len(g)}
                    for col in SHARES:
                        v = g[col].to_numpy(float)
                        ok = v[~np.isnan(v)]
                        row[col] = float(ok.min() if stat == "min" else ok.mean()) if ok.size else float("nan")
                    rows.append(row)
        cols = ["adcode", "name", "kind", "figure", "statistic", "moments", *SHARES]
        return pd.DataFrame(rows, columns=cols)

    def grid_of(self, column: str, *, kind: str, adcode: str) -> np.ndarray:
        """One share as an array over the moments of one district and kind: a week as
        7 x 24 (Monday first, by hour), a year as 12 (January first)."""
        t = self.table
        v = t[(t.kind == kind) & (t.adcode == adcode)][column].to_numpy(float)
        if v.size != len(self.moments):
            raise ValidationError(f"the profile has no rows for kind {kind!r} in {adcode!r}", field="kind")
        return v.reshape(7, 24) if self.name == "week" else v

    def to_dict(self, *, rows: bool = True) -> dict[str, Any]:
        """JSON-ready: the profile's moments and parameters, its rows (with ``rows``) and its
        named figures (non-finite numbers as None)."""
        out: dict[str, Any] = {
            "profile": self.name, "from": rfc3339(self.moments[0]), "to": rfc3339(self.moments[-1]),
            "hour": self.hour, "moments": [rfc3339(m) for m in self.moments], "kinds": list(self.kinds),
            "services": list(self.services), "stations": self.stations, "distinct_sets": dict(self.distinct_sets),
            "distinct_sets_all": self.distinct_sets_all, "sample": self.sample,
            "night_hours": [NIGHT_FROM_HOUR, NIGHT_TO_HOUR] if self.name == "week" else None,
            "winter_months": list(WINTER_MONTHS) if self.name == "year" else None,
            "summer_months": list(SUMMER_MONTHS) if self.name == "year" else None,
            "figures": records(self.figures()),
        }
        if rows:
            out["rows"] = records(self.table)
        return out


def _hours_key(st: Station, services: tuple[str, ...]) -> tuple:
    """What decides when a station is open (for ``services``): stations with the same key
    open and close together."""
    own = tuple((s, h) for s, h in st.service_hours if s in services) if services else ()
    return (st.opening_hours, st.status, st.reopens_on, own)


def open_matrix(stations: Sequence[Station], moments: Sequence[datetime],
                services: Iterable[str] = ()) -> np.ndarray:
    """Booleans (moments, stations): which station is open at which moment, for ``services``
    (:func:`stationmap.hours.open_checker`), read once per distinct hours key and moment."""
    services = tuple(services)
    keys: dict[tuple, int] = {}
    which = np.empty(len(stations), np.int64)
    reps: list[Station] = []
    for i, st in enumerate(stations):
        k = _hours_key(st, services)
        g = keys.get(k)
        if g is None:
            g = keys[k] = len(reps)
            reps.append(st)
        which[i] = g
    by_key = np.zeros((len(moments), len(reps)), bool)
    for t, m in enumerate(moments):
        is_open = open_checker(m, services)
        by_key[t] = [is_open(r) for r in reps]
    return by_key[:, which]


def reach_pairs(coverage: Coverage, lon: np.ndarray, lat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(cell, station)`` index pairs: each station (WGS-84) within the run's threshold of
    each cell, as the run counts them (:func:`stationmap.coverage.minutes.pair_minutes`)."""
    cells, stations, _minutes = pair_minutes(coverage, lon, lat)
    return cells, stations


def time_profile(coverage: Coverage, stations: Iterable[Station] | StationIndex, moments: Sequence[datetime], *,
                 name: str | None = None, hour: int | None = None,
                 services: Sequence[str] | None = None) -> Profile:
    """Coverage of ``coverage``'s run at each of ``moments``.

    Parameters
    ----------
    coverage : Coverage
        The run whose grid, demand, districts, kinds, mode, threshold and method are used
        (its own ``at`` is not: each moment chooses its stations).
    stations : iterable of Station or StationIndex
        Every station (with their hours), as :func:`~stationmap.coverage.analysis.analyse` takes them.
    moments : datetimes
        Naive ones are Asia/Shanghai time.  :func:`week_moments`, :func:`year_moments`.
    name : "week" or "year", optional
        Which named figures :meth:`Profile.figures` gives (default: ``week`` for 168
        moments, else ``year``).
    hour : int, optional
        The hour of the day of a year profile (recorded).
    services : list of str, optional
        Only stations offering these count, while each is available (default: the run's).

    Returns
    -------
    Profile
    """
    import pandas as pd

    if not moments:
        raise ValidationError("a profile needs at least one moment", field="at")
    moments = tuple(to_shanghai(m) for m in moments)
    name = check_profile(name if name is not None else ("week" if len(moments) == 168 else "year"))
    services = coverage.services if services is None else (
        check_services(services, field="service") if services else ())
    kinds = coverage.kinds
    bits = {k: 1 << i for i, k in enumerate(KINDS)}
    want = sum(bits[k] for k in kinds)
    cand = [s for s in counted_stations(stations, services=services)
            if sum(bits.get(k, 0) for k in s.kinds) & want]
    lon = np.array([s.lon for s in cand], float)
    lat = np.array([s.lat for s in cand], float)
    kbits = np.array([sum(bits.get(k, 0) for k in s.kinds) for s in cand], np.int64)
    opened = open_matrix(cand, moments, services)                     # (moments, stations)
    cell, stn = reach_pairs(coverage, lon, lat)
    used = np.unique(stn)                                             # the stations in reach of a cell

    grid = coverage.grid
    groups = coverage.groups()
    inside = coverage.inside(lon, lat, groups)
    # the cells in reach of any station, numbered 0..n-1 with their district, area and demand
    # (every other cell is uncovered at every moment)
    reached, local = np.unique(cell, return_inverse=True)
    codes = np.array([a.adcode for a in coverage.areas], dtype=object)
    by_code = np.argsort(codes)
    district = by_code[np.searchsorted(codes[by_code], grid.adcode[reached])].astype(np.int64)
    area_r, dem_r = grid.area_m2[reached], coverage.demand[reached]
    area_tot = np.array([float(grid.area_m2[m].sum()) for *_r, m in groups])
    dem_tot = np.array([float(coverage.demand[m].sum()) for *_r, m in groups])
    n_a = len(codes)
    whole = len(groups) > n_a                       # the last group is every district

    def by_group(covered: np.ndarray, weight: np.ndarray) -> np.ndarray:
        part = np.bincount(district[covered], weights=weight[covered], minlength=n_a)
        return np.append(part, part.sum()) if whole else part

    n_t, n_g = len(moments), len(groups)
    frames = []
    distinct: dict[str, int] = {}
    all_keys = {np.packbits(row[used]).tobytes() for row in opened}
    for kind in kinds:
        of_kind = (kbits & bits[kind]) != 0
        pair_kind = of_kind[stn]
        kused = used[of_kind[used]]
        keys: dict[bytes, int] = {}
        set_of = np.empty(n_t, np.int64)
        for t in range(n_t):
            key = np.packbits(opened[t, kused]).tobytes()
            set_of[t] = keys.setdefault(key, len(keys))
        distinct[kind] = len(keys)
        shares = np.full((len(keys), 4, n_g), np.nan)
        first = {k_set: t for t, k_set in reversed(list(enumerate(set_of.tolist())))}   # a moment of each set
        for k_set, t in first.items():
            live = pair_kind & opened[t][stn]
            count = np.bincount(local[live], minlength=reached.size)
            once, twice = count >= 1, count >= 2
            with np.errstate(invalid="ignore", divide="ignore"):
                shares[k_set, 0] = np.where(area_tot > 0, by_group(once, area_r) / area_tot, np.nan)
                shares[k_set, 1] = np.where(area_tot > 0, by_group(twice, area_r) / area_tot, np.nan)
                shares[k_set, 2] = np.where(dem_tot > 0, by_group(once, dem_r) / dem_tot, np.nan)
                shares[k_set, 3] = np.where(dem_tot > 0, by_group(twice, dem_r) / dem_tot, np.nan)
        in_kind = np.array([inside[code] & of_kind for code, *_r in groups])  # (groups, stations)
        open_n = opened.astype(np.int64) @ in_kind.T.astype(np.int64)      # (moments, groups)
        per = shares[set_of]                                                # (moments, 4, groups)
        frames.append(pd.DataFrame({
            "adcode": np.tile([c for c, *_r in groups], n_t),
            "name": np.tile([nm for _c, nm, *_r in groups], n_t),
            "kind": kind,
            "moment": np.repeat([rfc3339(m) for m in moments], n_g),
            "weekday": np.repeat([m.weekday() for m in moments], n_g),
            "hour": np.repeat([m.hour for m in moments], n_g),
            "month": np.repeat([m.month for m in moments], n_g),
            "stations_open": open_n.reshape(-1),
            **{col: per[:, i, :].reshape(-1) for i, col in enumerate(SHARES)},
        }))
    table = pd.concat(frames, ignore_index=True)
    # the rows of a moment together, by district then kind (as Coverage.stats orders them)
    n_k = len(kinds)
    order = np.lexsort((np.repeat(np.arange(n_k), n_t * n_g),                 # kind, within
                        np.tile(np.arange(n_g), n_t * n_k),                   # district, within
                        np.tile(np.repeat(np.arange(n_t), n_g), n_k)))        # moment
    table = table.iloc[order].reset_index(drop=True)
    return Profile(name=name, moments=moments, table=table, kinds=kinds, services=tuple(services),
                   hour=(check_hour(hour) if hour is not None else moments[0].hour) if name == "year" else None,
                   stations=int(used.size), distinct_sets=distinct, distinct_sets_all=len(all_keys),
                   sample=bool(any(cand[i].is_sample for i in used.tolist())), params=coverage.params())
