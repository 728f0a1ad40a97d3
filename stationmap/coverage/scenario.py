"""What-if: a coverage run again with stations added and removed, compared with the run as it is.

A planner drops candidate stations on the coverage page and takes existing ones out of the
scenario; :func:`what_if` answers with the run for that scenario on the same grid, demand,
moment and settings (only the scenario's kind is measured again), and :func:`comparison` puts
the two side by side: people covered once and twice, their shares, the median minutes over
people, the uncovered people.  :func:`scenario_stations` writes the scenario as station
records that ``stationmap import`` takes (the added ones new, the removed ones closed).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from stationmap import config as _config
from stationmap.config import MAX_SCENARIO_STATIONS
from stationmap.coverage.minutes import StationArrays, kind_minutes
from stationmap.errors import ValidationError
from stationmap.model import KINDS, Station

if TYPE_CHECKING:
    from stationmap.coverage.analysis import Coverage

#: the figures of :func:`comparison`, in order
FIGURES = ("people", "covered_people", "covered", "cross_covered_people", "cross_covered", "uncovered_people",
           "median_minutes")


def what_if(coverage: Coverage, *, kind: str | None = None, add: Sequence[tuple[float, float]] = (),
            remove: Iterable[str] = ()) -> Coverage:
    """``coverage`` again for ``kind`` (default its first) with stations of that kind at ``add``
    (WGS-84 ``(lon, lat)``) and without the stations whose ids are in ``remove``.

    Raises ValidationError (field ``add`` or ``remove``) for more than
    :data:`~stationmap.config.MAX_SCENARIO_STATIONS` of either, a point that is not
    WGS-84 lon/lat, or an id that is not a counted station of ``kind``.
    """
    kind = coverage.resolve_kind(kind)
    add = list(add)
    removed = list(dict.fromkeys(remove))
    for what, items in (("add", add), ("remove", removed)):
        if len(items) > MAX_SCENARIO_STATIONS:
            raise ValidationError(f"{what}: at most {MAX_SCENARIO_STATIONS} stations in a scenario, got {len(items)}",
                                  field=what)
    lon = np.array([float(p[0]) for p in add], dtype=float)
    lat = np.array([float(p[1]) for p in add], dtype=float)
    if not (np.isfinite(lon).all() and np.isfinite(lat).all() and (np.abs(lon) <= 180).all()
            and (np.abs(lat) <= 90).all()):
        raise ValidationError("add: every point must be a WGS-84 (lon, lat) pair", field="add")
    st = coverage.stations
    of_kind = st.of_kind(kind) if len(st) else np.zeros(0, bool)
    known = set(st.id[of_kind].tolist())
    unknown = [i for i in removed if i not in known]
    if unknown:
        raise ValidationError(f"remove: {unknown[0]!r} is not a station of kind {kind} counted in this run",
                              field="remove")
    keep = of_kind & ~np.isin(st.id, np.asarray(removed, dtype=object))
    s_lon = np.concatenate([st.lon[keep], lon])
    s_lat = np.concatenate([st.lat[keep], lat])
    settings = coverage.settings or _config.load()
    g = coverage.grid
    mins, count = kind_minutes(coverage.method, coverage.network, g.lon, g.lat, s_lon, s_lat,
                               mode=coverage.mode, minutes=coverage.threshold, horizon=coverage.horizon_minutes,
                               settings=settings, cell_xyz=g.xyz(), parts=coverage.cell_networks)
    n = len(add)
    bit = 1 << tuple(KINDS).index(kind)
    new = StationArrays(
        id=np.concatenate([st.id[keep], np.array([f"candidate-{i + 1}" for i in range(n)], dtype=object)]),
        lon=s_lon, lat=s_lat, kinds=np.concatenate([st.kinds[keep], np.full(n, bit, np.int64)]),
        sample=np.concatenate([st.sample[keep], np.zeros(n, bool)]),
        name=None if st.name is None else np.concatenate([st.name[keep], np.array(
            [f"候选站点 {i + 1}" for i in range(n)], dtype=object)]),
    )
    return replace(coverage, kinds=(kind,), minutes={kind: mins}, count={kind: count}, stations=new,
                   notes=[*coverage.notes, f"what-if: {n} added, {len(removed)} removed"])


def comparison(before: Coverage, after: Coverage, kind: str | None = None) -> dict[str, Any]:
    """The whole run's figures for ``kind`` before and after (:data:`FIGURES`: people, covered once
    and twice as people and shares, uncovered people, median minutes over people) and their changes."""
    from stationmap.coverage.analysis import weighted_percentile

    kind = before.resolve_kind(kind)

    def figures(cov: Coverage) -> dict[str, float | None]:
        w, c = cov.demand, cov.count[kind]
        people = float(w.sum())
        med = weighted_percentile(cov.minutes[kind], w, 50) if people > 0 else float("nan")
        return {"people": people, "covered_people": float(w[c >= 1].sum()),
                "covered": float(w[c >= 1].sum() / people) if people > 0 else None,
                "cross_covered_people": float(w[c >= 2].sum()),
                "cross_covered": float(w[c >= 2].sum() / people) if people > 0 else None,
                "uncovered_people": float(w[c == 0].sum()),
                "median_minutes": med if np.isfinite(med) else None}

    a, b = figures(before), figures(after)
    change = {k: (None if a[k] is None or b[k] is None else b[k] - a[k]) for k in FIGURES}  # type: ignore[operator]
    return {"kind": kind, "current": a, "scenario": b, "change": change}


def scenario_stations(coverage: Coverage, stations: Iterable[Station], *, kind: str | None = None,
                      add: Sequence[tuple[float, float]] = (), remove: Iterable[str] = (),
                      prefix: str = "whatif") -> list[Station]:
    """The scenario as records ``stationmap import`` takes: a new station of ``kind`` at each
    point of ``add`` (id ``<prefix>-<adcode>-<n>``, named 候选站点 n, source ``what-if``) and each
    station of ``stations`` whose id is in ``remove``, closed."""
    kind = coverage.resolve_kind(kind)
    gone = set(remove)
    area = (coverage.parent or {}).get("adcode") or (coverage.areas[0].adcode if coverage.areas else "")
    out = [Station(id=f"{prefix}-{area}-{i + 1}", name=f"候选站点 {i + 1}", lon=round(float(x), 7),
                   lat=round(float(y), 7), kinds=(kind,), source="what-if")
           for i, (x, y) in enumerate(add)]
    out += [replace(s, status="closed") for s in stations if s.id in gone]
    return out
