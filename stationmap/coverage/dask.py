"""Large runs: many districts partitioned by district on Dask (:func:`analyse_many`),
each partition the circle-method coverage of one district with the stations near it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from stationmap import config as _config
from stationmap.config import DEFAULT_MODE
from stationmap.coverage import params as limits
from stationmap.coverage.analysis import analyse
from stationmap.coverage.areas import Area, check_unique, resolve_areas
from stationmap.coverage.minutes import StationArrays
from stationmap.errors import ValidationError

if TYPE_CHECKING:
    from datetime import datetime

    import pandas as pd
    from distributed import Client, Future

    from stationmap.config import Settings
    from stationmap.coverage.areas import AreaSpec
    from stationmap.districts import Districts
    from stationmap.index import StationIndex
    from stationmap.model import Station


def margin_m(mode: str, minutes: float, *, horizon_minutes: float | None = None,
             settings: Settings | None = None) -> float:
    """How far (metres) beyond a partition's polygon stations can still matter:
    the circle-method distance of the horizon."""
    settings = settings or _config.load()
    return limits.horizon_for(limits.check_minutes(minutes), horizon_minutes) * limits.speed_m_per_min(mode, settings) \
        / settings.detour_factor


def partition_stations(areas: Sequence[Area], stations: StationArrays, margin: float) -> list[np.ndarray]:
    """For each area, the indices of the stations inside its WGS-84 bounding box
    grown by ``margin`` metres (a superset of every station within ``margin``
    of the area)."""
    import shapely

    if not len(stations):
        return [np.empty(0, np.int64) for _ in areas]
    boxes = []
    for a in areas:
        w, s, e, n = a.geometry.bounds
        dlat = margin / 110_574.0 * 1.01 + 1e-6
        top = min(89.9, max(abs(s), abs(n)) + dlat)
        dlon = min(180.0, margin / (111_320.0 * math.cos(math.radians(top))) * 1.01 + 1e-6)
        boxes.append(shapely.box(w - dlon, s - dlat, e + dlon, n + dlat))
    tree = shapely.STRtree(shapely.points(stations.lon, stations.lat))  # type: ignore[arg-type]  # an array of points
    a_idx, s_idx = tree.query(np.array(boxes, dtype=object), predicate="intersects")
    order = np.lexsort((s_idx, a_idx))
    a_idx, s_idx = a_idx[order], s_idx[order]
    cuts = np.searchsorted(a_idx, np.arange(len(areas) + 1))
    return [s_idx[cuts[k]:cuts[k + 1]] for k in range(len(areas))]


def run_partition(area: Area, stations: StationArrays, params: dict[str, Any]) -> dict[str, Any]:
    """One partition of :func:`analyse_many`: the coverage of one area (circle
    method, its own UTM grid) with the stations near it.  Returns its stats
    (and cells when ``params["keep_cells"]``) as DataFrames."""
    settings = params.get("settings") or _config.load()
    cov = analyse(area, stations, kinds=params["kinds"], mode=params["mode"], minutes=params["minutes"],
                  method="circle", cell_m=params["cell_m"], shape=params["shape"],
                  h3_resolution=params["h3_resolution"], horizon_minutes=params["horizon_minutes"],
                  settings=settings)
    out: dict[str, Any] = {"adcode": area.adcode, "stats": cov.stats(total=False), "cells": None,
                           "n_cells": len(cov.grid)}
    if params.get("keep_cells"):
        out["cells"] = cov.cells()
    return out


def run_partitions(batch: list[tuple[Area, StationArrays]], params: dict[str, Any]) -> list[dict[str, Any]]:
    """Several partitions in one task: ``[(area, stations), ...]`` -> their results.
    Batching keeps the scheduler's per-task overhead small next to the work."""
    return [run_partition(a, s, params) for a, s in batch]


@dataclass
class ManyResult:
    """The result of :func:`analyse_many`: figures per area (and cells if kept)."""

    stats: pd.DataFrame
    cells: pd.DataFrame | None
    params: dict[str, Any]
    n_cells: int
    seconds: float
    scheduler: str


def analyse_many(areas: AreaSpec, stations: Iterable[Station] | StationIndex | StationArrays, *,
                 kinds: str | Sequence[str] | None = None, mode: str = DEFAULT_MODE, minutes: float | None = None,
                 cell_m: float = limits.DEFAULT_CELL_M, shape: str = "square", h3_resolution: int | None = None,
                 horizon_minutes: float | None = None, scheduler: str | Client | None = None,
                 n_workers: int | None = None, processes: bool = True, keep_cells: bool = False,
                 batch_size: int | None = None, districts: Districts | None = None, settings: Settings | None = None,
                 at: datetime | None = None, services: Sequence[str] = (),
                 progress: Callable[[int, int], object] | None = None) -> ManyResult:
    """Coverage of many districts, partitioned by district, on Dask.

    Each district is one task, with the stations inside its bounding box
    grown by the horizon distance (:func:`margin_m`), so cells near a border
    see the stations across it: the figures equal those of a serial run with
    every station (``tests/unit/test_coverage_dask.py``).  Each district has
    its own UTM grid.  The circle method only.

    Parameters
    ----------
    areas : adcode (a city or the province gives its counties), list of
        adcodes or :class:`Area`
    scheduler : None, "serial", an address or a ``distributed.Client``
        None: a local cluster (``n_workers`` processes, or threads when
        ``processes`` is False) started and closed here; an address
        (``tcp://host:8786``): that cluster; ``"serial"``: a loop in this
        process (for comparison and small runs).
    batch_size : int, optional
        Partitions per Dask task (default: about a sixteenth of the
        partitions per worker thread).
    at, services : optional
        Only the stations open at ``at`` / offering ``services`` count, as in
        :func:`~stationmap.coverage.analysis.analyse` (chosen once, before partitioning).
    progress : callable, optional
        Called with (done, total) as partitions finish.
    """
    import time

    import pandas as pd

    settings = settings or _config.load()
    minutes = limits.check_minutes(settings.minutes if minutes is None else minutes)
    mode = limits.check_mode(mode)
    kinds = limits.check_kind_list(kinds)
    limits.check_cell_m(cell_m)
    if shape not in limits.SHAPES:
        raise ValidationError(f"shape must be one of {limits.SHAPES}, got {shape!r}", field="shape")
    horizon = limits.horizon_for(minutes, horizon_minutes)
    resolved: list[Area] = []
    for a in (areas if isinstance(areas, (list, tuple)) else [areas]):
        if isinstance(a, Area):
            resolved.append(a)
        else:
            resolved += resolve_areas(a, districts=districts, settings=settings)
    check_unique(resolved)
    st = StationArrays.from_stations(stations, at=at, services=services)
    subsets = partition_stations(resolved, st, margin_m(mode, minutes, horizon_minutes=horizon, settings=settings))
    params = {"kinds": kinds, "mode": mode, "minutes": minutes, "cell_m": cell_m, "shape": shape,
              "h3_resolution": h3_resolution, "horizon_minutes": horizon, "keep_cells": keep_cells,
              "settings": settings}
    total = len(resolved)
    tick = progress or (lambda done, total: None)
    t0 = time.perf_counter()
    results: list[Any] = [None] * total  # each partition's dict, by area
    if scheduler == "serial":
        label = "serial"
        for k, (a, idx) in enumerate(zip(resolved, subsets)):
            results[k] = run_partition(a, st.subset(idx), params)
            tick(k + 1, total)
    else:
        from distributed import Client, LocalCluster, as_completed

        own = None
        if scheduler is None:
            import os

            workers = n_workers or max(1, os.cpu_count() or 1)
            own = LocalCluster(n_workers=workers if processes else 1,
                               threads_per_worker=1 if processes else workers,
                               processes=processes, dashboard_address=None)
            client = Client(own)
            label = f"local cluster ({workers} {'processes' if processes else 'threads'})"
        elif isinstance(scheduler, Client):
            client, label = scheduler, f"cluster {scheduler.scheduler.address}"  # type: ignore[union-attr]  # connected
        elif isinstance(scheduler, str):
            try:
                client = Client(scheduler, timeout="10s")
            except (OSError, TimeoutError) as exc:
                raise ValidationError(f"scheduler {scheduler!r} cannot be reached: {exc}", field="scheduler") \
                    from None
            label = f"cluster {scheduler}"
        else:
            raise ValidationError(f"scheduler must be None, 'serial', an address or a Client, got {scheduler!r}",
                                  field="scheduler")
        try:
            # batches of about 1/16 of the partitions per worker thread, largest districts first
            threads = max(1, sum(client.nthreads().values()))
            size = math.ceil(total / (16 * threads)) if batch_size is None else max(1, int(batch_size))
            order = sorted(range(total), key=lambda k: -resolved[k].geometry.area)
            futures: dict[Future, list[int]] = {}
            for b in range(0, total, size):
                ks = order[b:b + size]
                batch = [(resolved[k], st.subset(subsets[k])) for k in ks]
                f = client.submit(run_partitions, batch, params, pure=False, key=f"coverage-{b // size}-{ks[0]}")
                futures[f] = ks
            done = 0
            for f in as_completed(futures):
                for k, r in zip(futures[f], f.result()):
                    results[k] = r
                done += len(futures[f])
                tick(done, total)
        finally:
            if own is not None:
                client.close()
                own.close()
            elif not isinstance(scheduler, Client):
                client.close()
    stats = pd.concat([r["stats"] for r in results], ignore_index=True) if results else pd.DataFrame()
    cells = None
    if keep_cells:
        cells = pd.concat([r["cells"] for r in results], ignore_index=True) if results else pd.DataFrame()
    return ManyResult(stats=stats, cells=cells, n_cells=int(sum(r["n_cells"] for r in results)),
                      params={k: v for k, v in params.items() if k != "settings"},
                      seconds=time.perf_counter() - t0, scheduler=label)
