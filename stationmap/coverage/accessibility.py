"""Accessibility: the enhanced two-step floating catchment area (E2SFCA; Luo & Qi 2009).

Coverage counts the stations in reach; accessibility also weighs how many people
share them.  For a run (:class:`~stationmap.coverage.Coverage`) and one station kind:

1. each station's ratio ``R_j = S_j / sum_k W(t_kj) P_k``: its supply ``S_j`` over the
   people ``P_k`` of the cells in its catchment, each weighted by the decay ``W`` of
   the minutes ``t_kj`` from the cell to the station;
2. each cell's score ``A_i = sum_j W(t_ij) R_j`` over the stations in its catchment.

Reported per 1,000 people: the (decay-weighted) places at stations per thousand people
in reach.  Where every station's catchment lies inside the grid, ``sum_i P_i A_i`` is the
stations' whole supply (tests/unit/test_accessibility.py checks it).

- **Supply**: a station's ``capacity`` (people served at once); where a station states
  none, :data:`stationmap.config.DEFAULT_CAPACITY` (1), and the result says how many.
- **Catchment**: the run's threshold minutes, measured the run's way (circles with the
  detour factor, or the road network: :func:`stationmap.coverage.minutes.pair_minutes`).
- **Distance decay** (:data:`DECAY`): a step function over three equal zones of the
  catchment, weights 1, 0.68 and 0.22: Luo & Qi's weights for 0-10, 10-20 and 20-30
  minutes (a Gaussian with beta = 440), scaled to the threshold.

Computed by PySAL's ``access`` (``access.fca.two_stage_fca`` with ``weights.step_fn``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from stationmap.config import DEFAULT_CAPACITY
from stationmap.coverage.minutes import pair_minutes

if TYPE_CHECKING:
    import pandas as pd
    from shapely.geometry.base import BaseGeometry

    from stationmap.coverage.analysis import Coverage

#: the decay: (upper bound as a share of the catchment, weight), Luo & Qi 2009
DECAY = ((1 / 3, 1.0), (2 / 3, 0.68), (1.0, 0.22))
#: scores are places per this many people
PER_PEOPLE = 1000


@dataclass
class Accessibility:
    """E2SFCA scores of one run and kind (:func:`accessibility`)."""

    kind: str
    #: per cell of the run's grid: places per :data:`PER_PEOPLE` people, decay-weighted (0: no station in reach)
    score: np.ndarray
    #: per station of the kind counted (``station_id``): its supply over the weighted people in its catchment
    ratio: np.ndarray
    station_id: np.ndarray
    #: stations with a stated capacity, and those taken as :data:`DEFAULT_CAPACITY`
    capacity_stated: int
    capacity_assumed: int
    catchment_minutes: float
    decay: tuple[tuple[float, float], ...] = DECAY
    notes: list[str] = field(default_factory=list)

    def summary(self, coverage: Coverage) -> pd.DataFrame:
        """Per district of the run (and the whole, as :meth:`Coverage.stats` has it): ``adcode``,
        ``people``, ``mean_score`` (population-weighted), ``median_score`` (over people),
        ``share_none`` (people with no station in reach)."""
        import pandas as pd

        from stationmap.coverage.analysis import weighted_percentile

        g, w = coverage.grid, coverage.demand
        groups = [(a.adcode, a.name, g.adcode == a.adcode) for a in coverage.areas]
        if coverage.parent is not None or len(groups) > 1:
            whole = coverage.parent or {"adcode": "all", "name": "合计"}
            groups.append((whole["adcode"], whole["name"], np.ones(len(g), bool)))
        rows = []
        for adcode, name, m in groups:
            people = float(w[m].sum())
            rows.append({
                "adcode": adcode, "name": name, "kind": self.kind, "people": people,
                "mean_score": float((w[m] * self.score[m]).sum() / people) if people > 0 else float("nan"),
                "median_score": weighted_percentile(self.score[m], w[m], 50) if people > 0 else float("nan"),
                "share_none": float(w[m][self.score[m] <= 0].sum() / people) if people > 0 else float("nan"),
            })
        return pd.DataFrame(rows)

    def classes(self, coverage: Coverage, n: int = 5) -> list[tuple[float, float, BaseGeometry]]:
        """The cells with a station in reach in ``n`` classes of equal people (weighted quantiles
        of the score), each dissolved: ``(lowest score, highest score, polygon (WGS-84))``, lowest first."""
        from stationmap.coverage.analysis import dissolve_groups, weighted_percentile

        pos = (self.score > 0) & (coverage.demand > 0)
        if not pos.any():
            return []
        s, w = self.score[pos], coverage.demand[pos]
        edges = sorted({weighted_percentile(s, w, 100 * k / n) for k in range(1, n)})
        label = np.zeros(len(self.score), np.int64)
        label[self.score > 0] = 1 + np.searchsorted(edges, self.score[self.score > 0], side="left")
        wanted = np.unique(label[label > 0])
        geoms = dissolve_groups(coverage.grid, label, wanted)
        return [(float(self.score[label == k].min()), float(self.score[label == k].max()), g)
                for k, g in zip(wanted.tolist(), geoms)]

    def to_dict(self, coverage: Coverage) -> dict[str, Any]:
        """JSON-ready: the method, its parameters and the per-district summary."""
        from stationmap.coverage.analysis import records

        return {"method": "E2SFCA", "kind": self.kind, "per_people": PER_PEOPLE,
                "catchment_minutes": self.catchment_minutes,
                "decay": [{"up_to_minutes": round(f * self.catchment_minutes, 3), "weight": wt}
                          for f, wt in self.decay],
                "capacity_stated": self.capacity_stated, "capacity_assumed": self.capacity_assumed,
                "default_capacity": DEFAULT_CAPACITY, "notes": list(self.notes),
                "summary": records(self.summary(coverage))}


def decay_weight(minutes: np.ndarray, catchment: float) -> np.ndarray:
    """:data:`DECAY`'s weight of each trip of ``minutes`` (0 beyond the catchment)."""
    out = np.zeros(np.shape(minutes))
    for f, wt in reversed(DECAY):
        out[np.asarray(minutes) <= f * catchment] = wt
    return out


def accessibility(coverage: Coverage, kind: str | None = None) -> Accessibility:
    """E2SFCA scores of ``coverage``'s cells for ``kind`` (default the run's first kind).

    Raises ValidationError for a kind the run did not analyse, or a network-method run
    without its network.
    """
    import pandas as pd
    from access import weights
    from access.fca import two_stage_fca

    kind = coverage.resolve_kind(kind)
    st = coverage.stations.subset(coverage.stations.of_kind(kind))
    cap = st.capacity if st.capacity is not None else np.full(len(st), np.nan)
    assumed = int(np.isnan(cap).sum())
    supply = np.where(np.isnan(cap), float(DEFAULT_CAPACITY), cap)
    t = float(coverage.threshold)
    notes = []
    if assumed:
        notes.append(f"{assumed} of {len(st)} stations state no capacity: each is taken as {DEFAULT_CAPACITY}")
    cells, stations, minutes = pair_minutes(coverage, st.lon, st.lat)
    score = np.zeros(len(coverage.grid))
    ratio = np.zeros(len(st))
    if cells.size:
        cost = pd.DataFrame({"origin": cells, "dest": stations, "cost": minutes})
        demand = pd.DataFrame({"geoid": np.arange(len(coverage.grid)), "demand": coverage.demand})
        supply_df = pd.DataFrame({"supply": supply}, index=pd.RangeIndex(len(st), name="geoid"))
        step = weights.step_fn({f * t: wt for f, wt in DECAY})
        a = two_stage_fca(demand, supply_df, cost, max_cost=t, demand_index="geoid", demand_name="demand",
                          supply_name="supply", cost_origin="origin", cost_dest="dest", cost_name="cost",
                          weight_fn=step)
        a = a.replace([np.inf, -np.inf], np.nan).fillna(0.0)   # (a station whose catchment holds nobody)
        score[a.index.to_numpy(np.int64)] = a.to_numpy(float) * PER_PEOPLE
        # step 1 again, for the stations' own ratios (the library keeps them inside)
        wpeople = np.bincount(stations, weights=coverage.demand[cells] * decay_weight(minutes, t), minlength=len(st))
        ratio = np.divide(supply, wpeople, out=np.zeros(len(st)), where=wpeople > 0)
    return Accessibility(kind=kind, score=score, ratio=ratio, station_id=st.id,
                         capacity_stated=len(st) - assumed, capacity_assumed=assumed, catchment_minutes=t,
                         notes=notes)
