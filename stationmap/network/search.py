"""Searches from a snapped point: Dijkstra on a mode graph or its contracted core, the
k-nearest-targets search of a ranking and the lengths along its tree (the
:class:`Searching` part of :class:`~stationmap.network.Network`), and their compiled kernels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal, overload

import numpy as np

from stationmap.checks import check_mode
from stationmap.jit import compiled
from stationmap.network.snapping import Snap

if TYPE_CHECKING:
    import numpy.typing as npt

    from stationmap.config import Settings


def _point_arcs(csr: Any, n: int, u: int, v: int, t: float, T: float, *, to_u: bool, to_v: bool) -> None:
    """Set the last two arcs of ``csr`` (its row ``n``: a snapped point at ``t`` along the edge u -> v
    of ``T`` seconds) to the edge's ends the mode may take: to ``u`` in ``t * T``, to ``v`` in
    ``(1 - t) * T``; an end it may not take is a harmless self-loop of 0 s."""
    csr.indices[-2] = u if to_u else n
    csr.indices[-1] = v if to_v else n
    csr.data[-2] = t * T if to_u else 0.0
    csr.data[-1] = (1.0 - t) * T if to_v else 0.0


class Searching:
    """Searches from a snapped point (mixed into :class:`~stationmap.network.Network`)."""

    if TYPE_CHECKING:   # what it uses of Network (declared for the type checker only)
        settings: Settings
        edge_u: np.ndarray
        edge_v: np.ndarray
        edge_length_m: np.ndarray

        @property
        def n_nodes(self) -> int: ...
        def graph(self, mode: str) -> Any: ...
        def core(self, mode: str) -> Any: ...
        def reverse(self, mode: str) -> Any: ...
        def walk_mps(self) -> float: ...

    @overload
    def search(self, snap: Snap, *, mode: str, limit_s: float = ...,
               predecessors: Literal[False] = ...) -> np.ndarray: ...
    @overload
    def search(self, snap: Snap, *, mode: str, limit_s: float = ...,
               predecessors: Literal[True]) -> tuple[np.ndarray, np.ndarray]: ...

    def search(self, snap: Snap, *, mode: str, limit_s: float = np.inf,
               predecessors: bool = False) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Dijkstra from a snapped point: seconds to every node (inf beyond ``limit_s``).

        Returns ``dist`` (n+1: index n is the snapped point itself), and with
        ``predecessors`` also the predecessor array (scipy's convention, -9999
        for none).  The off-road part is not included: add it yourself.
        """
        from scipy.sparse.csgraph import dijkstra

        g = self.graph(check_mode(mode))
        n = self.n_nodes
        e, t = snap.edge, snap.t
        T = g.edge_s[e]
        csr = g.csr
        with g.lock:
            # from the point: toward u needs v -> u, toward v needs u -> v
            _point_arcs(csr, n, int(self.edge_u[e]), int(self.edge_v[e]), t, T, to_u=g.can_back[e], to_v=g.can_fwd[e])
            res = dijkstra(csr, directed=True, indices=n, limit=float(limit_s),  # type: ignore[call-overload]
                           return_predecessors=predecessors)    # (scipy-stubs: no scalar ``indices``)
        return res

    def search_to(self, snap: Snap, *, mode: str, limit_s: float = np.inf) -> np.ndarray:
        """Dijkstra *to* a snapped point, on the reversed graph (:meth:`reverse`): seconds
        from every node to the point (inf beyond ``limit_s``; one-way streets as the mode
        keeps them), the times a :meth:`search` from each node would find.

        Returns ``dist`` (n+1: index n is the point itself).  The off-road part is not
        included: add it yourself.
        """
        from scipy.sparse.csgraph import dijkstra

        g = self.graph(check_mode(mode))
        rv = self.reverse(mode)
        n = self.n_nodes
        e, t = snap.edge, snap.t
        T = g.edge_s[e]
        csr = rv.csr
        with rv.lock:
            # (reversed) to the point: from u going u -> v, from v going v -> u
            _point_arcs(csr, n, int(self.edge_u[e]), int(self.edge_v[e]), t, T, to_u=g.can_fwd[e], to_v=g.can_back[e])
            return dijkstra(csr, directed=True, indices=n, limit=float(limit_s))  # type: ignore[call-overload]

    def search_core(self, snap: Snap, *, mode: str, limit_s: float = np.inf) -> np.ndarray:
        """Dijkstra from a snapped point on the contracted graph (:meth:`core`):
        seconds to every kept node (``core.keep``; inf beyond ``limit_s``), the
        same times as :meth:`search` gives those nodes.  Index nk is the point itself."""
        from scipy.sparse.csgraph import dijkstra

        core = self.core(check_mode(mode))
        nk = len(core.keep)
        s, tau = core.locate(snap, self.graph(mode).edge_s)
        T = float(core.sa_s[s])
        csr = core.csr
        with core.lock:
            # toward the super-arc's start needs it two-way; else a harmless self-loop
            back = bool(core.sa_twoway[s])
            csr.indices[-2] = core.sa_src[s] if back else nk
            csr.data[-2] = min(max(tau, 0.0), T) if back else 0.0
            csr.indices[-1] = core.sa_dst[s]
            csr.data[-1] = min(max(T - tau, 0.0), T)
            return dijkstra(csr, directed=True, indices=nk, limit=float(limit_s))  # type: ignore[call-overload]

    def nearest_targets(self, snap: Snap, *, mode: str, k: int, att_node: npt.ArrayLike,
                        att_target: npt.ArrayLike, att_s: npt.ArrayLike, direct_s: npt.ArrayLike,
                        cost_s: npt.ArrayLike, limit_s: float = np.inf,
                        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The targets fastest to reach from a snapped point: Dijkstra that stops as soon as
        the ``k`` fastest are known.

        Targets (stations, in practice) hang off the graph: attachment ``i`` reaches
        target ``att_target[i]`` from node ``att_node[i]`` in ``att_s[i]`` seconds;
        ``direct_s[j]`` is target ``j``'s time straight from the snapped point (inf:
        none); ``cost_s[j]`` is added to every way to ``j`` (the walks off the road).
        A target's time is its fastest way plus its cost.

        Returns ``(target, total_s, road_s, att, pred)``: every target whose time is
        final when the search stopped (at least the ``k`` fastest, and every one tied
        with the ``k``-th; ``att``: the attachment used, -1 for the direct way), and the
        search tree (:meth:`search`'s convention) for :meth:`node_lengths`.  With a
        ``limit_s``, nodes farther than that are not searched: then the targets
        reached within it (their road part), fewer than ``k`` perhaps.

        It stops when the ``k``-th fastest time is below what any unsettled way can
        take (the search's frontier plus the smallest cost); the times equal a full
        search's (tests/unit/test_network.py), at the cost of the nodes nearer than
        the ``k``-th target, not all of them.
        """
        g = self.graph(check_mode(mode))
        e = snap.edge
        T = float(g.edge_s[e])
        s_nodes = np.array([self.edge_u[e], self.edge_v[e]], dtype=np.int64)
        s_times = np.array([snap.t * T if g.can_back[e] else np.inf,
                            (1.0 - snap.t) * T if g.can_fwd[e] else np.inf])
        att_node = np.asarray(att_node, dtype=np.int64)
        order = np.argsort(att_node, kind="stable")
        cost_s = np.asarray(cost_s, dtype=np.float64)
        floor = float(cost_s.min()) if len(cost_s) else 0.0
        csr = g.csr
        out = compiled(_k_targets)(csr.indptr, csr.indices, csr.data, self.n_nodes, s_nodes, s_times,
                                float(limit_s), att_node[order], np.asarray(att_target, np.int64)[order],
                                np.asarray(att_s, np.float64)[order], np.asarray(direct_s, np.float64),
                                cost_s, int(k), floor)
        target, total, road, att, pred = out
        att = np.where(att >= 0, order[np.maximum(att, 0)], -1)   # back to the caller's attachment order
        return target, total, road, att, pred

    def attachments(self, snap: Snap, e: npt.ArrayLike, t: npt.ArrayLike, d_off: npt.ArrayLike, *,
                    mode: str) -> tuple:
        """How targets snapped to the roads hang off the graph, for :meth:`nearest_targets`.

        Target ``j`` snapped to edge ``e[j]`` (int64; -1: none) at fraction ``t[j]``,
        ``d_off[j]`` metres off the road (beyond ``settings.max_snap_m``: not reachable).
        Returns ``(att_node, att_target, att_s, n_fwd, direct_s, cost_s)``: the attachments
        through the edge's start ``u`` (then along ``u -> v``; the first ``n_fwd``), then
        those through its end ``v``, each in target order; the time straight along the
        query's own edge where its direction allows (else inf); the walks off the road,
        the query's and the target's.  Compiled: a few dozen numpy steps on a few dozen
        targets cost more than the search that follows.
        """
        g = self.graph(check_mode(mode))
        walk = self.walk_mps()
        return compiled(_k_attach)(
            np.asarray(e, dtype=np.int64), np.asarray(t, dtype=np.float64), np.asarray(d_off, dtype=np.float64),
            float(self.settings.max_snap_m), self.edge_u, self.edge_v, g.edge_s, g.can_fwd, g.can_back,
            int(snap.edge), float(snap.t), float(snap.distance_m / walk), float(walk))

    def node_lengths(self, snap: Snap, pred: np.ndarray, nodes: npt.ArrayLike, *, mode: str) -> np.ndarray:
        """Metres along the roads from the snapped point to ``nodes``, on the search tree ``pred``
        (what :meth:`path_lengths` gives those nodes, inf where not reached).

        Walks each node's branch back to the start (compiled): for a few nodes this
        costs microseconds where :meth:`path_lengths` costs a pass over the network.
        """
        g = self.graph(mode)
        e = snap.edge
        return compiled(_k_chain)(np.ascontiguousarray(nodes, dtype=np.int64), np.asarray(pred), self.n_nodes,
                               g.csr.indptr, g.csr.indices, g.arc_eid, self.edge_length_m, int(self.edge_u[e]),
                               float(snap.t), float(self.edge_length_m[e]))

    def path_lengths(self, snap: Snap, pred: np.ndarray, *, mode: str) -> np.ndarray:
        """Metres along the roads from the snapped point to every node, on the search tree ``pred``.

        inf where a node was not reached.  (Pointer jumping: log2(depth) vector steps.)
        """
        g = self.graph(mode)
        n = self.n_nodes
        p = np.asarray(pred, dtype=np.int64).copy()
        reached = p >= 0
        reached[n] = True
        p[n] = n
        acc = np.zeros(n + 1)
        idx = np.flatnonzero(reached[:n])
        if len(idx):
            pi = p[idx]
            virt = pi == n
            real = ~virt
            # arc pred -> node: search the sorted (src, dst) keys
            pos = np.searchsorted(g.arc_key, pi[real] * (n + 1) + idx[real])
            acc[idx[real]] = self.edge_length_m[g.arc_eid[pos]]
            e = snap.edge
            L = self.edge_length_m[e]
            acc[idx[virt]] = np.where(idx[virt] == self.edge_u[e], snap.t * L, (1.0 - snap.t) * L)
        p[~reached] = np.arange(n + 1)[~reached]
        acc[~reached] = np.inf
        while True:
            pp = p[p]
            if np.array_equal(pp, p):
                break
            acc = acc + acc[p]     # acc[root] is 0; unreached nodes stay inf
            p = pp
        return acc[:n]


# -- compiled kernels ------------------------------------------------------------------------

def _k_attach(e: np.ndarray, t: np.ndarray, d_off: np.ndarray, max_snap_m: float, edge_u: np.ndarray,
              edge_v: np.ndarray, edge_s: np.ndarray, can_fwd: np.ndarray, can_back: np.ndarray, snap_edge: int,
              snap_t: float, off_s: float,
              walk: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, np.ndarray, np.ndarray]:
    """See :meth:`Network.attachments`."""
    n = len(e)
    att_node = np.empty(2 * n, np.int64)
    att_target = np.empty(2 * n, np.int64)
    att_s = np.empty(2 * n)
    direct = np.full(n, np.inf)
    cost = np.empty(n)
    n_fwd = 0
    for j in range(n):
        cost[j] = off_s + d_off[j] / walk
        ej = e[j]
        if ej >= 0 and d_off[j] <= max_snap_m and can_fwd[ej]:
            att_node[n_fwd] = edge_u[ej]
            att_target[n_fwd] = j
            att_s[n_fwd] = t[j] * edge_s[ej]
            n_fwd += 1
    m = n_fwd
    for j in range(n):
        ej = e[j]
        if ej < 0 or not d_off[j] <= max_snap_m:
            continue
        if can_back[ej]:
            att_node[m] = edge_v[ej]
            att_target[m] = j
            att_s[m] = (1.0 - t[j]) * edge_s[ej]
            m += 1
        if ej == snap_edge and ((t[j] >= snap_t and can_fwd[ej]) or (t[j] <= snap_t and can_back[ej])):
            direct[j] = abs(t[j] - snap_t) * edge_s[ej]
    return att_node[:m], att_target[:m], att_s[:m], n_fwd, direct, cost


def _k_chain(nodes: np.ndarray, pred: np.ndarray, n: int, indptr: np.ndarray, indices: np.ndarray,
             arc_eid: np.ndarray, edge_len: np.ndarray, snap_u: int, snap_t: float, snap_len: float) -> np.ndarray:
    """Metres from the search's start to each of ``nodes`` along the predecessor tree
    (index ``n`` is the snapped point; its virtual arcs run along the snapped edge).  The
    arc ``p -> v`` is found in ``p``'s row of the mode graph's CSR (the graph is simple)."""
    out = np.empty(nodes.shape[0])
    for i in range(nodes.shape[0]):
        v = nodes[i]
        acc = 0.0
        while v != n:
            p = pred[v]
            if p < 0:       # not reached
                acc = np.inf
                break
            if p == n:      # the first step, from the snapped point along its edge
                acc += snap_t * snap_len if v == snap_u else (1.0 - snap_t) * snap_len
                break
            a = indptr[p]
            end = indptr[p + 1]
            while a < end - 1 and indices[a] != v:
                a += 1
            acc += edge_len[arc_eid[a]]
            v = p
        out[i] = acc
    return out


def _k_targets(indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, n: int, s_nodes: np.ndarray,
               s_times: np.ndarray, limit: float, att_node: np.ndarray, att_target: np.ndarray, att_s: np.ndarray,
               direct_s: np.ndarray, cost_s: np.ndarray, k: int,
               floor: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """See :meth:`Network.nearest_targets` (``att_*`` sorted by node).  The CSR's row ``n``
    (the virtual source's two arcs, set by :meth:`Network.search`) is never read: the
    search starts from ``s_nodes``/``s_times``, and the real rows lead to real nodes only."""
    N = n + 1
    na = att_node.shape[0]
    nt = direct_s.shape[0]
    dist = np.full(N, np.inf)
    pred = np.full(N, -9999, np.int64)
    first = np.full(N, -1, np.int64)
    for i in range(na - 1, -1, -1):
        first[att_node[i]] = i
    cap = indices.shape[0] + na + nt + 8
    hk = np.empty(cap)
    hv = np.empty(cap, np.int64)
    # heap values: a node (>= 0), or -(1 + event) for the event of attachment `event`
    # (event < na) or of target event - na's direct way

    def put(i: int, key: float, val: int) -> None:
        """Heap slot ``i`` holds (key, val)."""
        hk[i] = key
        hv[i] = val

    def push(size: int, key: float, val: int) -> int:
        """Push (key, val) on the heap of ``size`` entries; returns the new size."""
        i = size
        while i > 0:
            p = (i - 1) >> 1
            if hk[p] <= key:
                break
            put(i, hk[p], hv[p])
            i = p
        put(i, key, val)
        return size + 1

    size = 0
    done = np.zeros(nt, np.bool_)
    out_t = np.empty(nt, np.int64)
    out_total = np.empty(nt)
    out_road = np.empty(nt)
    out_att = np.empty(nt, np.int64)
    m = 0
    best = np.full(max(k, 1), np.inf)   # the k smallest totals so far, ascending
    dist[n] = 0.0
    for j in range(2):                  # the two ends of the snapped edge
        key = s_times[j]
        x = s_nodes[j]
        if key <= limit and key < np.inf and key < dist[x]:
            dist[x] = key
            pred[x] = n
            size = push(size, key, x)
    for j in range(nt):                 # the targets straight along it
        key = direct_s[j]
        if key <= limit and key < np.inf:
            size = push(size, key, -(1 + na + j))
    while size > 0:
        key = hk[0]         # pop
        val = hv[0]
        size -= 1
        if size > 0:
            lk = hk[size]
            lv = hv[size]
            i = 0
            while True:
                c = 2 * i + 1
                if c >= size:
                    break
                if c + 1 < size and hk[c + 1] < hk[c]:
                    c += 1
                if hk[c] >= lk:
                    break
                put(i, hk[c], hv[c])
                i = c
            put(i, lk, lv)
        if key > limit:
            break
        if best[k - 1] < key + floor:   # nothing unsettled can beat (or tie) the k-th
            break
        if val < 0:
            ev = -val - 1
            j = att_target[ev] if ev < na else ev - na
            if done[j]:
                continue
            done[j] = True
            total = key + cost_s[j]
            out_t[m] = j
            out_total[m] = total
            out_road[m] = key
            out_att[m] = ev if ev < na else -1
            m += 1
            if total < best[k - 1]:
                q = k - 1
                while q > 0 and best[q - 1] > total:
                    best[q] = best[q - 1]
                    q -= 1
                best[q] = total
            continue
        x = val
        if key > dist[x]:
            continue
        a = first[x]
        if a >= 0:
            while a < na and att_node[a] == x:
                if not done[att_target[a]]:
                    nk = key + att_s[a]
                    if nk <= limit and nk < np.inf:
                        size = push(size, nk, -(1 + a))
                a += 1
        for a in range(indptr[x], indptr[x + 1]):
            y = indices[a]
            nd = key + data[a]
            if nd < dist[y] and nd <= limit:     # (nd < dist[y] <= inf: finite)
                dist[y] = nd
                pred[y] = x
                size = push(size, nd, y)
    return out_t[:m], out_total[:m], out_road[:m], out_att[:m], pred
