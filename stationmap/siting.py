"""Where to add stations: the maximal covering location problem (MCLP), covered once or twice.

Given a :class:`stationmap.coverage.Coverage`, choose up to ``n`` new sites
for one station kind so as to cover the most demand that no existing
station covers yet (existing stations stay where they are: the demand they
already cover is worth nothing more).  A cell is covered by a site when the
site is within the threshold minutes of it, measured the way the coverage
was (circles with the detour factor, or the road network).

Candidate sites: the grid's cell centres (default) or a supplied list of
host places (WGS-84 points: stations-to-be at banks, post offices, shops...).

Objectives (:data:`OBJECTIVES`)
    ``"once"``: the most demand covered at least once (the MCLP above).
    ``"twice"``: the most demand covered at least twice, the "双15" cross-coverage
    (backup coverage, after Hogan & ReVelle 1986): a cell one existing station
    covers needs one new site in reach, a cell none covers needs two; cells
    covered twice already are worth nothing more.  In the integer programme
    ``need_i y_i <= sum_{j in N_i} x_j`` with ``y_i`` binary where ``need_i = 2``
    (a continuous ``y_i`` would take half a cell for one site).  The greedy
    heuristic maximises the submodular surrogate
    ``sum_i w_i min(hits_i, need_i) / need_i`` (half a cell's demand for its
    first of two sites, so a lone first site is not worth nothing), which for
    ``"once"`` is the MCLP's own greedy; the figures reported are always the
    true objective (demand reaching its need).

Solvers
    ``"exact"``: the integer programme (Church & ReVelle 1974)

    .. math:: \\max \\sum_i w_i y_i \\quad\\text{s.t.}\\quad y_i \\le \\sum_{j \\in N_i} x_j,\\;
              \\sum_j x_j \\le n,\\; x_j \\in \\{0, 1\\},\\; 0 \\le y_i \\le 1

    solved by CBC through PuLP (the solver spopt uses), with a sparse
    coverage matrix: demand cells with identical candidate sets are merged
    and candidates that cover nothing uncovered are dropped first.  ``y``
    may be continuous: with integral ``x`` the optimum sets each
    ``y_i = min(1, sum x)``, which is integral.
    ``"greedy"``: repeatedly add the site covering the most still-uncovered
    demand (lazy evaluation).  Within ``1 - 1/e`` (63 %) of the optimum, in
    practice much closer; ``tests/unit/test_siting.py`` compares both with
    a brute-force search over every ``n``-subset on small cases.
    ``"auto"``: exact when the reduced problem is small enough
    (:data:`EXACT_MAX_NNZ` coverage pairs), else greedy; the result says
    which ran and whether it is proven optimal.
"""

from __future__ import annotations

import heapq
import math
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from stationmap.config import MAX_SITES
from stationmap.config import SITING_OBJECTIVES as OBJECTIVES
from stationmap.errors import ValidationError

if TYPE_CHECKING:
    import numpy.typing as npt
    import pandas as pd
    from scipy.sparse import csr_matrix

    from stationmap.config import Settings
    from stationmap.coverage import Coverage
    from stationmap.model import Station
    from stationmap.network import Network

SOLVERS = ("auto", "exact", "greedy")
#: how many stations in reach each objective asks of a cell
OBJECTIVE_TIMES = {"once": 1, "twice": 2}
#: why fewer sites came back than asked (``Sites.shortfall["reason"]``): no cell with demand is
#: uncovered; no candidate reaches any that is; the sites given already cover all the uncovered
#: demand any candidate reaches (the remaining candidates add none); the solver stopped early
SHORTFALL_REASONS = ("no_uncovered_demand", "no_candidate_reaches", "all_reachable_covered", "solver_stopped")
#: "auto" uses the exact solver up to this many (candidate, demand) coverage pairs
EXACT_MAX_NNZ = 1_000_000
#: default candidates (grid cells) are thinned to every k-th cell when the
#: coverage matrix would exceed this many pairs
MAX_PAIRS = 5_000_000


@dataclass
class Sites:
    """Suggested sites.

    ``table``: a DataFrame, one row per site in order of added demand
    (rank, lon, lat (WGS-84), candidate, cell_id, adcode, new_demand,
    cumulative_demand).  ``objective``: demand the sites bring to the
    coverage asked (``objective_name``: once, or twice); ``uncovered_before``:
    demand short of it before.  ``covered_before`` / ``covered_after``: share of
    all demand covered once (twice with ``objective_name="twice"``).
    """

    kind: str
    n: int
    method: str
    optimal: bool
    status: str
    table: pd.DataFrame
    objective: float
    uncovered_before: float
    total_demand: float
    covered_before: float
    covered_after: float
    #: booleans per grid cell: covered by the sites and by no existing station (:func:`suggest_sites` sets it)
    newly_covered: np.ndarray | None = field(repr=False, default=None)
    notes: list[str] = field(default_factory=list)
    #: when fewer sites than asked came back, why: ``reason`` (one of :data:`SHORTFALL_REASONS`),
    #: ``asked``, ``given``, ``uncovered_cells`` / ``uncovered_demand`` (cells with demand no existing
    #: station covers), ``candidates`` (candidate sites reaching any of them), ``reached_cells``
    #: (uncovered cells some candidate reaches), ``left_demand`` (reachable demand the sites leave
    #: uncovered), ``unreachable_cells`` / ``unreachable_demand`` (beyond every candidate's reach);
    #: None when all ``n`` came back
    shortfall: dict[str, Any] | None = None
    #: the objective maximised (:data:`OBJECTIVES`): demand covered "once" or "twice"
    objective_name: str = "once"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the figures, notes, the shortfall and the sites' table as records."""
        from stationmap.coverage import records

        return {"kind": self.kind, "n": self.n, "method": self.method, "optimal": self.optimal,
                "status": self.status, "objective_name": self.objective_name, "objective": self.objective,
                "uncovered_before": self.uncovered_before,
                "total_demand": self.total_demand, "covered_before": _finite(self.covered_before),
                "covered_after": _finite(self.covered_after), "notes": list(self.notes),
                "shortfall": dict(self.shortfall) if self.shortfall is not None else None,
                "sites": records(self.table)}

    def stations(self, *, prefix: str = "new") -> list[Station]:
        """The sites as :class:`stationmap.model.Station` records (``source="suggested"``),
        to run the coverage again with them."""
        from stationmap.model import Station

        rows: Iterable[Any] = self.table.itertuples()  # pandas' named tuples: fields untyped
        return [Station(id=f"{prefix}-{int(r.rank)}", name=f"建议站点 {int(r.rank)}", lon=float(r.lon),
                        lat=float(r.lat), kinds=(self.kind,), adcode=str(r.adcode or ""), source="suggested")
                for r in rows]


def _finite(x: float | None) -> float | None:
    return float(x) if x is not None and math.isfinite(x) else None


# -- the coverage matrix -----------------------------------------------------------

def coverage_matrix(coverage: Coverage, *, kind: str | None = None, candidates: Any = None,
                    settings: Settings | None = None, network: Network | None = None,
                    notes: list[str] | None = None, times: int = 1
                    ) -> tuple[csr_matrix, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(A, demand rows, candidate lon, lat, ids) for the uncovered demand of ``kind``.

    ``A`` is a sparse boolean (candidates, demand rows) matrix.  Demand rows
    are the cells with demand > 0 that fewer than ``times`` existing stations of
    ``kind`` cover (``times=1``: none).
    """
    from stationmap import config as _config
    from stationmap import coverage as cv

    settings = settings or _config.load()
    kind = coverage.resolve_kind(kind)
    grid = coverage.grid
    rows = np.nonzero((coverage.count[kind] < times) & (coverage.demand > 0))[0]
    clon, clat, cids = _candidates(coverage, candidates, rows, settings, notes)
    if coverage.method == "mixed":
        A = _mixed_reach(coverage, rows, clon, clat, settings)
    elif coverage.method == "network":
        network = network if network is not None else coverage.network
        if network is None:
            raise ValidationError("this coverage used a road network: pass the same network", field="network")
        A = cv.network_reach(network, grid.lon[rows], grid.lat[rows], clon, clat, mode=coverage.mode,
                             minutes=coverage.threshold)
    else:
        A = _circle_reach(grid.lon[rows], grid.lat[rows], clon, clat, mode=coverage.mode,
                          minutes=coverage.threshold, settings=settings)
    return A, rows, clon, clat, cids


def _mixed_reach(coverage: Coverage, rows: np.ndarray, site_lon: np.ndarray, site_lat: np.ndarray,
                 settings: Settings) -> csr_matrix:
    """:func:`coverage_matrix`'s A for a mixed run: each demand row by the part its cell is in
    (its road network, or the circle), every site offered to each part."""
    from scipy.sparse import coo_matrix

    from stationmap import coverage as cv

    parts = coverage.cell_networks
    if parts is None:
        raise ValidationError("a mixed coverage without its cells' networks", field="method")
    grid = coverage.grid
    part_of = parts.index[rows]
    r_all, c_all = [], []
    for i in np.unique(part_of).tolist():
        cols = np.nonzero(part_of == i)[0]
        lon, lat = grid.lon[rows[cols]], grid.lat[rows[cols]]
        if i < 0:
            sub = _circle_reach(lon, lat, site_lon, site_lat, mode=coverage.mode, minutes=coverage.threshold,
                                settings=settings)
        else:
            sub = cv.network_reach(parts.networks[i], lon, lat, site_lon, site_lat, mode=coverage.mode,
                                   minutes=coverage.threshold)
        pairs = sub.tocoo()
        r_all.append(pairs.row.astype(np.int64))
        c_all.append(cols[pairs.col])
    r = np.concatenate(r_all) if r_all else np.empty(0, np.int64)
    c = np.concatenate(c_all) if c_all else np.empty(0, np.int64)
    return coo_matrix((np.ones(r.size, bool), (r, c)), shape=(len(site_lon), rows.size)).tocsr()


def _circle_reach(cell_lon: np.ndarray, cell_lat: np.ndarray, site_lon: np.ndarray, site_lat: np.ndarray, *,
                  mode: str, minutes: float, settings: Settings) -> csr_matrix:
    from scipy.sparse import coo_matrix
    from scipy.spatial import cKDTree

    from stationmap import coverage as cv
    from stationmap.index import ecef

    n_c, n_s = len(cell_lon), len(site_lon)
    if not n_c or not n_s:
        # scipy-stubs have no coo_matrix(shape, dtype=bool) overload
        return coo_matrix((n_s, n_c), dtype=bool).tocsr()  # type: ignore[arg-type, type-var]
    radius = cv.reach_m(minutes, mode, settings=settings)
    pairs = cKDTree(ecef(site_lon, site_lat)).sparse_distance_matrix(
        cKDTree(ecef(cell_lon, cell_lat)), radius, output_type="ndarray")
    r, c = pairs["i"].astype(np.int64), pairs["j"].astype(np.int64)
    return coo_matrix((np.ones(r.size, bool), (r, c)), shape=(n_s, n_c)).tocsr()


def _candidates(coverage: Coverage, candidates: Any, rows: np.ndarray, settings: Settings,
                notes: list[str] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Candidate lon, lat (WGS-84) and ids.

    Default: the cell centres within reach of some uncovered demand cell; when
    the coverage matrix would pass :data:`MAX_PAIRS` pairs, every k-th cell in
    each direction (squares) or the centre cells of coarser parents (H3).
    """
    grid = coverage.grid
    if candidates is not None:
        return _parse_candidates(candidates)
    from scipy.spatial import cKDTree

    from stationmap import coverage as cv
    from stationmap.index import ecef

    if not rows.size:
        return np.empty(0), np.empty(0), np.empty(0, dtype=object)
    if coverage.method != "circle":     # (network or mixed: the farthest a road trip may go)
        r = coverage.threshold * cv.speed_m_per_min(coverage.mode, settings)
    else:
        r = cv.reach_m(coverage.threshold, coverage.mode, settings=settings)
    t = cKDTree(ecef(grid.lon[rows], grid.lat[rows]))
    d, _ = t.query(grid.xyz(), k=1, distance_upper_bound=r * (1 + 1e-9) + 1e-6)
    near = np.isfinite(d)
    cell_area = float(np.median(grid.area_m2))
    est = rows.size * math.pi * r * r / cell_area
    k = max(1, math.ceil(math.sqrt(est / MAX_PAIRS))) if est > MAX_PAIRS else 1
    if k > 1:
        if grid.shape == "square":
            near &= (grid.i % k == 0) & (grid.j % k == 0)
            msg = (f"candidate sites: one cell in {k} each way "
                   f"({k * grid.cell_m:g} m apart) "  # type: ignore[operator]  # square grids have a cell size
                   "to keep the problem tractable")
        else:
            import h3

            up = max(1, math.ceil(math.log(k * k) / math.log(7)))
            res = max(0, grid.resolution - up)  # type: ignore[operator]  # H3 grids have a resolution
            centres = {h3.cell_to_center_child(h3.cell_to_parent(h, res), grid.resolution)
                       for h in grid.cell_id[near].tolist()}
            near &= np.fromiter((h in centres for h in grid.cell_id.tolist()), bool, len(grid))
            msg = f"candidate sites: centre cells of H3 resolution {res} to keep the problem tractable"
        if notes is not None:
            notes.append(msg)
    keep = np.nonzero(near)[0]
    return grid.lon[keep], grid.lat[keep], grid.cell_id[keep]


def _parse_candidates(candidates: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Host places: (lon, lat) pairs, objects with lon/lat (and id), or a
    GeoDataFrame of points; WGS-84."""
    if hasattr(candidates, "geometry") and hasattr(candidates, "crs"):
        gdf = candidates if candidates.crs is None or candidates.crs.to_epsg() == 4326 else candidates.to_crs(4326)
        if not set(gdf.geometry.geom_type) <= {"Point"}:
            raise ValidationError("candidates must be points", field="candidates")
        gids = gdf["id"].astype(str).to_numpy(object) if "id" in gdf.columns else \
            np.array([f"c{i + 1}" for i in range(len(gdf))], dtype=object)
        return gdf.geometry.x.to_numpy(float), gdf.geometry.y.to_numpy(float), gids
    lon: list[float] = []
    lat: list[float] = []
    ids: list[str] = []
    for i, c in enumerate(candidates):
        if hasattr(c, "lon") and hasattr(c, "lat"):
            x, y, cid = c.lon, c.lat, getattr(c, "id", None) or f"c{i + 1}"
        else:
            try:
                x, y = c[0], c[1]
            except (TypeError, IndexError, KeyError):
                raise ValidationError(f"candidate {i + 1} must be a (lon, lat) pair, got {c!r}",
                                      field="candidates") from None
            cid = c[2] if len(c) > 2 else f"c{i + 1}"
        try:
            x, y = float(x), float(y)
        except (TypeError, ValueError):
            raise ValidationError(f"candidate {i + 1} must have numeric lon/lat, got {c!r}",
                                  field="candidates") from None
        if not (-180 <= x <= 180 and -90 <= y <= 90):
            raise ValidationError(f"candidate {i + 1} is not a WGS-84 lon/lat, got ({x}, {y})", field="candidates")
        lon.append(x)
        lat.append(y)
        ids.append(str(cid))
    return np.asarray(lon, float), np.asarray(lat, float), np.asarray(ids, dtype=object)


# -- solvers ----------------------------------------------------------------------------

def reduce_problem(A: csr_matrix, w: npt.ArrayLike, need: npt.ArrayLike | None = None
                   ) -> tuple[csr_matrix, np.ndarray, np.ndarray, list[np.ndarray], np.ndarray]:
    """Drop candidates covering nothing and demand nobody can cover; merge demand
    rows with the same candidate set (and the same ``need``: new sites each row
    needs in reach, default 1).  Returns (A', w', candidate index, row groups, need')."""
    from scipy.sparse import csc_matrix, csr_matrix

    A = csr_matrix(A, dtype=bool)
    w = np.asarray(w, dtype=float)
    need = np.ones(len(w), np.int64) if need is None else np.asarray(need, dtype=np.int64)
    reach = np.asarray(A.sum(axis=0)).ravel()
    keep_d = np.nonzero((reach >= need) & (w > 0))[0]   # a row fewer candidates reach than it needs: lost
    A = A[:, keep_d]
    row_any = np.nonzero(np.asarray(A.sum(axis=1)).ravel() > 0)[0]
    A = A[row_any]
    C = csc_matrix(A)
    C.sort_indices()
    groups: dict[bytes, list[int]] = {}
    for k in range(C.shape[1]):
        key = bytes([int(need[keep_d[k]])]) + C.indices[C.indptr[k]:C.indptr[k + 1]].tobytes()
        groups.setdefault(key, []).append(k)
    reps = [g[0] for g in groups.values()]
    w2 = np.array([w[keep_d[g]].sum() for g in groups.values()], dtype=float)
    A2 = C[:, reps].tocsr()
    member = [keep_d[np.asarray(g)] for g in groups.values()]
    need2 = need[keep_d[np.asarray(reps, dtype=np.int64)]] if reps else np.empty(0, np.int64)
    return A2, w2, row_any, member, need2


def solve_greedy(A: csr_matrix, w: npt.ArrayLike, n: int, need: npt.ArrayLike | None = None
                 ) -> tuple[list[int], list[float]]:
    """Lazy greedy on a boolean (candidates, demand) matrix: the chosen candidate rows (in
    order) and the demand each brought to its need (``need``: sites each row needs, default 1).

    The gain maximised is the surrogate's, ``sum w_i / need_i`` over the rows still short of
    their need (for ``need=1`` the MCLP's own greedy); it is submodular, so lazy evaluation
    is exact and the surrogate is within ``1 - 1/e`` of its optimum."""
    from scipy.sparse import csr_matrix

    A = csr_matrix(A, dtype=bool)
    w = np.asarray(w, dtype=float)
    need = np.ones(A.shape[1], np.int64) if need is None else np.asarray(need, dtype=np.int64)
    unit = w / np.maximum(need, 1)
    hits = np.zeros(A.shape[1], np.int64)
    gains = np.asarray(A @ unit).ravel() if A.shape[1] else np.zeros(A.shape[0])
    heap = [(-g, j) for j, g in enumerate(gains.tolist()) if g > 0]
    heapq.heapify(heap)
    chosen: list[int] = []
    added: list[float] = []
    while heap and len(chosen) < n:
        _neg, j = heapq.heappop(heap)
        cols = A.indices[A.indptr[j]:A.indptr[j + 1]]
        short = cols[hits[cols] < need[cols]]
        g = float(unit[short].sum())
        if g <= 0:
            continue
        if heap and g < -heap[0][0] - 1e-12 * max(1.0, g):
            heapq.heappush(heap, (-g, j))
            continue
        chosen.append(j)
        hits[short] += 1
        added.append(float(w[short[hits[short] == need[short]]].sum()))
    return chosen, added


def solve_exact(A: csr_matrix, w: np.ndarray, n: int, *, time_limit_s: float = 60.0,
                warm: Sequence[int] | None = None, need: npt.ArrayLike | None = None) -> tuple[list[int], str, bool]:
    """MCLP by CBC (PuLP); with ``need`` (sites each demand row needs in reach, 1 or more) the
    backup-coverage form: ``need_i y_i <= sum x_j``, ``y_i`` binary where ``need_i > 1``.
    Returns (chosen candidate rows, status, optimal)."""
    import pulp
    from scipy.sparse import csc_matrix, csr_matrix

    A = csr_matrix(A, dtype=bool)
    n_c, n_d = A.shape
    if n_c == 0 or n_d == 0:
        return [], "nothing to cover", True
    if n_c <= n:
        return list(range(n_c)), "every candidate fits", True
    C = csc_matrix(A)
    prob = pulp.LpProblem("mclp", pulp.LpMaximize)
    # PuLP >= 3.3 attaches variables to the model (LpVariable(...) is deprecated there); older PuLP lacks it
    var = getattr(prob, "add_variable", None) or pulp.LpVariable
    need_ = [1] * n_d if need is None else np.asarray(need, dtype=np.int64).tolist()
    x = [var(f"x{j}", cat=pulp.LpBinary) for j in range(n_c)]
    # y continuous where one site suffices (integral at the optimum), binary where two are needed
    y = [var(f"y{i}", lowBound=0, upBound=1, cat=pulp.LpBinary if need_[i] > 1 else pulp.LpContinuous)
         for i in range(n_d)]
    prob += pulp.LpAffineExpression([(y[i], float(w[i])) for i in range(n_d)])
    for i in range(n_d):
        js = C.indices[C.indptr[i]:C.indptr[i + 1]]
        prob += pulp.LpAffineExpression([(y[i], float(need_[i]))] + [(x[j], -1.0) for j in js.tolist()]) <= 0
    prob += pulp.LpAffineExpression([(xj, 1.0) for xj in x]) <= n
    if warm:
        for j in warm:
            x[j].setInitialValue(1)
        for j in set(range(n_c)) - set(warm):
            x[j].setInitialValue(0)
    with warnings.catch_warnings():
        # PuLP 3.3 announces that its bundled CBC moves to an extra in PuLP 4; it is what spopt uses today
        warnings.simplefilter("ignore", DeprecationWarning)
        solver = pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit_s, warmStart=bool(warm), gapRel=0.0)
        prob.solve(solver)
    status = pulp.LpStatus[prob.status]
    optimal = prob.sol_status == pulp.LpSolutionOptimal
    chosen = [j for j in range(n_c) if (x[j].value() or 0) > 0.5]
    return chosen, status, optimal


def suggest_sites(coverage: Coverage, n: int, *, kind: str | None = None, candidates: Any = None,
                  method: str = "auto", time_limit_s: float = 60.0, network: Network | None = None,
                  settings: Settings | None = None, objective: str = "once") -> Sites:
    """Up to ``n`` new sites for ``kind`` covering the most uncovered demand (``objective="once"``),
    or bringing the most demand to two stations in reach (``"twice"``).

    Parameters
    ----------
    coverage : stationmap.coverage.Coverage
    n : int
        How many sites (1-1000).  Fewer come back when fewer suffice to
        cover every coverable uncovered cell; ``Sites.shortfall`` says why.
    kind : str, optional
        Default: the coverage's first kind.
    candidates : optional
        Host places (WGS-84): (lon, lat[, id]) tuples, objects with
        ``lon``/``lat`` (stations), or a GeoDataFrame of points.  Default:
        the grid's cell centres near uncovered demand.
    method : {"auto", "exact", "greedy"}
        ``exact``: a maximal covering problem solved by CBC (PuLP) within
        ``time_limit_s``, never worse than greedy; ``greedy``: the largest gain
        first; ``auto``: exact up to :data:`EXACT_MAX_NNZ` coverage pairs.
    time_limit_s : float
        CBC's time limit; ``Sites.optimal`` says whether it proved optimality.
    network : stationmap.network.Network, optional
        For a network-method coverage: default the coverage's own network.
    settings : Settings, optional
        Speeds and detour factor of the circle method (default :func:`stationmap.config.load`).
    objective : {"once", "twice"}
        ``once``: the most demand no existing station covers, covered; ``twice``: the
        most demand covered by at least two stations (existing ones count), the 双15
        cross-coverage (see the module's notes on the heuristic).

    Returns
    -------
    Sites
        The sites in the order they were chosen (largest gain first), the demand
        each adds, coverage before and after, the solver's status and notes.

    Raises
    ------
    ValidationError
        For ``n`` out of range, an unknown ``method`` or ``kind``, or unusable
        ``candidates``.

    Examples
    --------
    >>> from stationmap.coverage import analyse
    >>> from stationmap.model import Station
    >>> cov = analyse("320402", [Station(id="a", name="A", lon=119.98, lat=31.78)], minutes=10)  # doctest: +SKIP
    >>> sites = suggest_sites(cov, 3)  # doctest: +SKIP
    >>> len(sites.stations()) <= 3  # doctest: +SKIP
    True
    """
    import pandas as pd

    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or not 1 <= n <= MAX_SITES:
        raise ValidationError(f"add must be an integer in [1, {MAX_SITES}], got {n!r}", field="add")
    if method not in SOLVERS:
        raise ValidationError(f"method must be one of {SOLVERS}, got {method!r}", field="method")
    if objective not in OBJECTIVES:
        raise ValidationError(f"objective must be one of {OBJECTIVES}, got {objective!r}", field="objective")
    n = int(n)
    times = OBJECTIVE_TIMES[objective]
    kind = coverage.resolve_kind(kind)
    notes: list[str] = []
    A, rows, clon, clat, cids = coverage_matrix(coverage, kind=kind, candidates=candidates, settings=settings,
                                                network=network, notes=notes, times=times)
    w = coverage.demand[rows]
    need = times - np.asarray(coverage.count[kind][rows], dtype=np.int64)
    total = float(coverage.demand.sum())
    uncovered = float(w.sum())
    covered_before = (total - float(coverage.demand[coverage.count[kind] < times].sum())) / total if total > 0 \
        else float("nan")
    A2, w2, cand_idx, members, need2 = reduce_problem(A, w, need)
    if method == "auto":
        method = "exact" if A2.nnz <= EXACT_MAX_NNZ else "greedy"
        if method == "greedy":
            notes.append(f"the problem has {A2.nnz:,} coverage pairs (over {EXACT_MAX_NNZ:,}): greedy heuristic used")
    g_chosen, g_added = solve_greedy(A2, w2, n, need2)
    if method == "exact":
        chosen, status, optimal = solve_exact(A2, w2, n, time_limit_s=time_limit_s, warm=g_chosen, need=need2)
        if not optimal:
            notes.append(f"CBC stopped ({status}) before proving optimality within {time_limit_s:g} s")
        # keep the better of CBC's answer and the greedy one (CBC may stop early)
        if _value(A2, w2, chosen, need2) < _value(A2, w2, g_chosen, need2) - 1e-9:
            chosen, optimal = g_chosen, False
        order, added = _order_by_gain(A2, w2, chosen, need2)
    else:
        order, added, status, optimal = g_chosen, g_added, "greedy", False
    sel = cand_idx[np.asarray(order, dtype=np.int64)] if order else np.empty(0, np.int64)
    grid = coverage.grid
    cell_pos = {c: i for i, c in enumerate(grid.cell_id.tolist())} if candidates is None else {}
    adcodes = []
    for j in sel.tolist():
        if candidates is None:
            adcodes.append(grid.adcode[cell_pos[cids[j]]])
        else:
            adcodes.append(_area_of(coverage, clon[j], clat[j]))
    table = pd.DataFrame({
        "rank": np.arange(1, len(sel) + 1),
        "lon": clon[sel], "lat": clat[sel],
        "candidate": cids[sel] if len(sel) else np.empty(0, dtype=object),
        "cell_id": cids[sel] if candidates is None and len(sel) else [None] * len(sel),
        "adcode": adcodes,
        "new_demand": np.asarray(added, dtype=float),
        "cumulative_demand": np.cumsum(np.asarray(added, dtype=float)),
    })
    value = float(np.sum(added))
    newly = np.zeros(len(grid), bool)
    for k in np.nonzero(_reached(A2, order, need2))[0].tolist():
        newly[rows[members[k]]] = True
    shortfall = _shortfall(n, len(sel), A2, w2, order, members, w, need2) if len(sel) < n else None
    after = covered_before + value / total if total > 0 else float("nan")
    return Sites(kind=kind, n=n, method=method, optimal=bool(optimal), status=status, table=table,
                 objective=value, uncovered_before=uncovered, total_demand=total,
                 covered_before=covered_before, covered_after=after, newly_covered=newly, notes=notes,
                 shortfall=shortfall, objective_name=objective)


def _shortfall(n: int, given: int, A2: csr_matrix, w2: np.ndarray, order: Sequence[int],
               members: list[np.ndarray], w: np.ndarray, need2: np.ndarray) -> dict[str, Any]:
    """Why ``given`` < ``n`` sites came back (see :attr:`Sites.shortfall`), from the reduced problem:
    ``A2`` (useful candidates, merged demand rows), ``w2`` their demand, ``members`` the demand rows
    (indices into ``w``, the uncovered cells with demand) each merged row stands for."""
    reached = np.zeros(len(w), bool)
    for m in members:
        reached[m] = True
    left = float(w2[~_reached(A2, order, need2)].sum())
    if not len(w):
        reason = "no_uncovered_demand"
    elif not A2.shape[0]:
        reason = "no_candidate_reaches"
    elif left <= 1e-9 * max(1.0, float(w2.sum())):
        reason = "all_reachable_covered"
    else:
        reason = "solver_stopped"
    return {"reason": reason, "asked": int(n), "given": int(given), "uncovered_cells": len(w),
            "uncovered_demand": float(w.sum()), "candidates": int(A2.shape[0]),
            "reached_cells": int(reached.sum()), "left_demand": left,
            "unreachable_cells": int((~reached).sum()), "unreachable_demand": float(w[~reached].sum())}


def _reached(A: csr_matrix, chosen: Sequence[int], need: np.ndarray | None = None) -> np.ndarray:
    """Per demand row of ``A``: do the ``chosen`` candidates reach it as often as it ``need``s
    (default once)?"""
    if not len(chosen):
        return np.zeros(A.shape[1], bool)
    return np.asarray(A[np.asarray(chosen)].sum(axis=0)).ravel() >= (1 if need is None else need)


def _value(A: csr_matrix, w: np.ndarray, chosen: Sequence[int], need: np.ndarray | None = None) -> float:
    return float(w[_reached(A, chosen, need)].sum())


def _order_by_gain(A: csr_matrix, w: np.ndarray, chosen: Iterable[int], need: np.ndarray
                   ) -> tuple[list[int], list[float]]:
    """Order a chosen set by marginal gain (largest first) with the gains: the demand each
    brings to its need, ties (a first of two sites brings none) broken by the surrogate's
    gain (:func:`solve_greedy`).  Sites that bring nothing at all are left out."""
    from scipy.sparse import csr_matrix

    A = csr_matrix(A)
    unit = w / np.maximum(need, 1)
    left = list(chosen)
    hits = np.zeros(A.shape[1], np.int64)
    order: list[int] = []
    added: list[float] = []
    while left:
        gains = []
        for j in left:
            cols = A.indices[A.indptr[j]:A.indptr[j + 1]]
            short = cols[hits[cols] < need[cols]]
            gains.append((float(w[short[hits[short] + 1 == need[short]]].sum()), float(unit[short].sum())))
        k = max(range(len(left)), key=gains.__getitem__)
        j = left.pop(k)
        if gains[k][1] <= 0:
            continue
        order.append(j)
        added.append(gains[k][0])
        cols = A.indices[A.indptr[j]:A.indptr[j + 1]]
        hits[cols] += 1
    return order, added


def _area_of(coverage: Coverage, lon: float, lat: float) -> str | None:
    import shapely

    for a in coverage.areas:
        if shapely.intersects_xy(a.geometry, lon, lat):
            return a.adcode
    return None
