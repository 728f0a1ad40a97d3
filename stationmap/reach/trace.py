"""The isochrone's compiled kernels (numba; compiled on first use, cached on disk):
marking the cells of everything reached (:func:`_k_cells`) and tracing them into
rings (:func:`_k_trace`, marching squares with the tables of :func:`_case_tables`).

:func:`kernels` returns both compiled; :func:`stationmap.reach.prepare` compiles
(or loads) them at start.
"""

from __future__ import annotations

import math

import numpy as np

from stationmap.jit import compiled


def _case_tables() -> tuple[np.ndarray, ...]:
    """Marching-squares tables.  A cell's corners, counter-clockwise from the lower
    left, are bits 1, 2, 4, 8 of its case; its edges 0 bottom, 1 right, 2 top,
    3 left.  Each run of marked corners gets one segment, from the edge where
    the run ends to the edge where it begins, so the inside is on the left;
    the saddles (5, 10) keep their two marked corners apart.  Per case and
    segment (index: case + 16 for a saddle's second segment): its start and
    end edge, and its start and its step in doubled cell coordinates."""
    se = np.zeros((2, 2, 16), np.int64)
    two = np.zeros(32, np.bool_)
    for case in range(1, 15):
        on = [(case >> k) & 1 for k in range(4)]
        segs = []
        for q in range(4):
            if on[q] and not on[(q + 1) % 4]:
                p = q
                while on[(p - 1) % 4]:
                    p = (p - 1) % 4
                segs.append((q, (p - 1) % 4))
        se[0, :, case] = segs[0]
        if len(segs) == 2:
            two[case] = True
            se[1, :, case] = segs[1]
    mx = np.array([1, 2, 1, 0])     # doubled coordinates of each edge's midpoint
    my = np.array([0, 1, 2, 1])
    se = se.transpose(1, 0, 2).reshape(2, 32)     # [start | end edge, case + 16 * segment]
    x0, y0 = mx[se[0]], my[se[0]]
    dx, dy = mx[se[1]] - x0, my[se[1]] - y0
    return se[0].copy(), se[1].copy(), two, x0, y0, dx, dy, (dx + 2) * 8 + dy + 2


_SE0, _SE1, _TWO, _SX, _SY, _DX, _DY, _DIR = _case_tables()


# -- compiled kernels (numba; compiled on first use, cached on disk) ------------------------

def _k_cells(kd: np.ndarray, B: float, out_max: np.ndarray, kp: np.ndarray, sa_dst: np.ndarray, sa_tw: np.ndarray,
             sa_s: np.ndarray, sa_ptr: np.ndarray, ca_tau: np.ndarray, star_ptr: np.ndarray, star_cells: np.ndarray,
             own: np.ndarray, sc_ptr: np.ndarray, sc_cells: np.ndarray, ca_x: np.ndarray, ca_y: np.ndarray,
             ca_dx: np.ndarray, ca_dy: np.ndarray, ca_w: np.ndarray, snap_sa: int, tau_s: float, wx: float, wy: float,
             wdx: float, wdy: float, ox: float, oy: float, inv_c: float, W: int) -> np.ndarray:
    """The cells (flat indices on a network's grid) of everything reached: see
    :meth:`stationmap.reach.outline.ReachSearch.outline`.  ``kd``: seconds to
    the kept nodes (inf: not reached); ``B``: the seconds left at the road;
    ``(wx, wy, wdx, wdy)``: the off-road walk."""

    def room(cells: np.ndarray, n: int, more: int) -> np.ndarray:
        """``cells`` (``n`` used) if ``more`` fit, else a copy of twice ``n + more``."""
        if n + more <= cells.shape[0]:
            return cells
        grown = np.empty(2 * (n + more), np.int64)
        grown[:n] = cells[:n]
        return grown

    def take(cells: np.ndarray, n: int, src: np.ndarray, a: int, b: int) -> None:
        """Copy ``src[a:b]`` into ``cells`` after its ``n`` used (``room`` made space for them).  It returns
        nothing: a closure that calls another or returns an array is not inlined as cheaply (~10 %)."""
        for i in range(a, b):
            cells[n + i - a] = src[i]

    def room2(pieces: np.ndarray, npc: int, more: int) -> np.ndarray:
        """``pieces`` (``npc`` used) if ``more`` fit, else a copy twice as long."""
        if npc + more <= pieces.shape[0]:
            return pieces
        grown = np.empty((2 * pieces.shape[0], 4))
        grown[:npc] = pieces[:npc]
        return grown

    nk = out_max.shape[0]
    cells = np.empty(16384, np.int64)
    n = 0
    pieces = np.empty((256, 4))
    pieces[0, 0], pieces[0, 1], pieces[0, 2], pieces[0, 3] = wx, wy, wdx, wdy
    npc = 1
    if B >= 0:
        for k in range(nk):
            d = kd[k]
            if not d <= B:
                continue
            left = B - d
            if left >= out_max[k]:
                a, b = star_ptr[k], star_ptr[k + 1]
                cells = room(cells, n, b - a)
                take(cells, n, star_cells, a, b)
                n += b - a
                continue
            cells = room(cells, n, 1)
            cells[n] = own[k]
            n += 1
            for s in range(kp[k], kp[k + 1]):
                T = sa_s[s]
                lb = -1.0                       # seconds left at the far end, going back (two-way)
                if sa_tw[s]:
                    db = kd[sa_dst[s]]
                    if db <= B:
                        lb = B - db
                if left + max(lb, 0.0) >= T:    # travelled in full, from one end or the two
                    a, b = sc_ptr[s], sc_ptr[s + 1]
                    cells = room(cells, n, b - a)
                    take(cells, n, sc_cells, a, b)
                    n += b - a
                    continue
                for a in range(sa_ptr[s], sa_ptr[s + 1]):
                    w = ca_w[a]
                    if not w > 0:
                        continue
                    t0 = ca_tau[a]
                    fa = min((left - t0) / w, 1.0)
                    fb = min((lb - (T - t0 - w)) / w, 1.0) if lb >= 0 else 0.0
                    pieces = room2(pieces, npc, 2)
                    if fa > 0:                  # from the arc's start
                        pieces[npc, 0], pieces[npc, 1] = ca_x[a], ca_y[a]
                        pieces[npc, 2], pieces[npc, 3] = ca_dx[a] * fa, ca_dy[a] * fa
                        npc += 1
                    if fb > 0:                  # back from its end
                        pieces[npc, 0], pieces[npc, 1] = ca_x[a] + ca_dx[a], ca_y[a] + ca_dy[a]
                        pieces[npc, 2], pieces[npc, 3] = -ca_dx[a] * fb, -ca_dy[a] * fb
                        npc += 1
        # the query's own super-arc, from the point on it, both ways (back only if two-way)
        lo = tau_s - B if sa_tw[snap_sa] else tau_s
        hi = tau_s + B
        for a in range(sa_ptr[snap_sa], sa_ptr[snap_sa + 1]):
            w = ca_w[a]
            if not w > 0:
                continue
            g0 = max((lo - ca_tau[a]) / w, 0.0)
            g1 = min((hi - ca_tau[a]) / w, 1.0)
            if g1 > g0:
                pieces = room2(pieces, npc, 1)
                pieces[npc, 0], pieces[npc, 1] = ca_x[a] + ca_dx[a] * g0, ca_y[a] + ca_dy[a] * g0
                pieces[npc, 2], pieces[npc, 3] = ca_dx[a] * (g1 - g0), ca_dy[a] * (g1 - g0)
                npc += 1
    # sample the pieces every <= 0.7 cell, both ends included
    step = 0.7 / inv_c
    for p in range(npc):
        x, y, dx, dy = pieces[p, 0], pieces[p, 1], pieces[p, 2], pieces[p, 3]
        m = int(math.ceil(math.sqrt(dx * dx + dy * dy) / step)) + 1  # noqa: RUF046 (numba kernel: types spelled out)
        cells = room(cells, n, m)
        for j in range(m):
            f = j / (m - 1) if m > 1 else 0.0
            cells[n] = int((y + f * dy - oy) * inv_c) * W + int((x + f * dx - ox) * inv_c)
            n += 1
    return cells[:n]


def _k_trace(cells: np.ndarray, W: int, max_cells: int,
             min_hole_cells: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, tuple[int, int]]:
    """Trace the marked cells (flat indices on a grid ``W`` wide, not on its
    edge): each marks its four corner nodes, and the boundary runs half way
    between marked and unmarked nodes (marching squares on 0/1, what
    contourpy draws at level 0.5; saddles keep their two marked corners
    apart, so marked nodes are 4-connected inside).

    Returns ``(xy, ring_off, poly_off, area, (row, col))``: closed rings (last
    vertex = first) in doubled node coordinates of a lattice whose node
    [0, 0] is the lower-left corner of grid cell ``(row, col)``, vertices in
    the middle of straight runs left out; each polygon's shell
    (counter-clockwise) followed by its holes (clockwise); ``area`` in
    cells², holes smaller than ``min_hole_cells`` filled (their rings left
    out).  ``area`` is -1 (and nothing traced) when the lattice would have
    more than ``max_cells`` nodes.
    """
    inv_w = 1.0 / W
    r0, r1, c0, c1 = 1 << 62, -1, 1 << 62, -1
    for i in range(cells.shape[0]):
        r = int((cells[i] + 0.5) * inv_w)
        col = cells[i] - r * W
        r0, r1, c0, c1 = min(r0, r), max(r1, r), min(c0, col), max(c1, col)
    h = r1 - r0 + 4
    w = c1 - c0 + 4
    hw = h * w
    if cells.shape[0] == 0 or hw > max_cells:
        return np.zeros((0, 2), np.int64), np.zeros(1, np.int64), np.zeros(1, np.int64), -1.0, (0, 0)
    M = np.zeros(hw, np.uint8)              # the nodes: every corner of a marked cell
    for i in range(cells.shape[0]):
        r = int((cells[i] + 0.5) * inv_w)
        q = (r - r0 + 1) * w + (cells[i] - r * W - c0 + 1)
        M[q] = 1
        M[q + 1] = 1
        M[q + w] = 1
        M[q + w + 1] = 1
    C = np.zeros(hw, np.uint8)              # the case of each cell; the cells on the boundary
    bq = np.empty(hw, np.int64)
    nq = 0
    nb = 0
    for q in range(hw - w - 1):
        case = M[q] | (M[q + 1] << 1) | (M[q + w + 1] << 2) | (M[q + w] << 3)
        C[q] = case
        if 0 < case < 15:
            bq[nq] = q
            nq += 1
            nb += 2 if case == 5 or case == 10 else 1
    step_q = np.array([-w, 1, w, -1])        # out through edge e: the next cell, row and column
    step_i = np.array([-1, 0, 1, 0])
    step_j = np.array([0, 1, 0, -1])
    seen = np.zeros(hw, np.uint8)           # bit 1: the cell's (first) segment followed, bit 2: its second
    vx = np.empty(nb + nb // 4 + 2, np.int64)
    vy = np.empty(nb + nb // 4 + 2, np.int64)
    nv = 0
    r_start = np.empty(nb // 4 + 1, np.int64)   # each ring: its vertices vx[r_start:r_end], area, a node inside
    r_end = np.empty(nb // 4 + 1, np.int64)
    r_area = np.empty(nb // 4 + 1)
    r_node = np.empty(nb // 4 + 1, np.int64)
    nr = 0
    for b in range(nq):
        q0 = bq[b]
        case0 = C[q0]
        for second in range(2):
            if second and not _TWO[case0]:
                break
            if seen[q0] & (1 << second):
                continue
            code0 = case0 + 16 * second
            # a node inside: the marked end of the segment's start edge
            e = _SE0[code0]
            a = q0 if e == 0 or e == 3 else (q0 + 1 if e == 1 else q0 + w + 1)
            r_node[nr] = a if M[a] else (q0 + 1 if e == 0 else (q0 + w + 1 if e == 1 else q0 + w))
            i = q0 // w
            j = q0 - i * w
            q, code = q0, code0
            start = nv
            area = 0
            first_dir = _DIR[code0]
            last_dir = -1
            while True:
                seen[q] |= 2 if code >= 16 else 1
                x2 = 2 * j + _SX[code]
                y2 = 2 * i + _SY[code]
                area += x2 * _DY[code] - _DX[code] * y2
                d = _DIR[code]
                if d != last_dir:
                    vx[nv] = x2
                    vy[nv] = y2
                    nv += 1
                    last_dir = d
                e = _SE1[code]                  # out through this edge, into the next cell
                q += step_q[e]
                i += step_i[e]
                j += step_j[e]
                case = C[q]
                code = case if _SE0[case] == (e + 2) % 4 else case + 16
                if q == q0 and code == code0:
                    break
            if last_dir == first_dir:           # the first vertex is in the middle of a run
                start += 1
            vx[nv] = vx[start]                  # close the ring
            vy[nv] = vy[start]
            nv += 1
            r_start[nr], r_end[nr], r_area[nr] = start, nv, area * 0.125
            nr += 1
    # polygons: a shell, then the holes kept in it (a hole and its shell bound the same
    # 4-connected piece of marked nodes)
    shells = 0
    for r in range(nr):
        if r_area[r] > 0:
            shells += 1
    poly_of = np.full(nr, -1, np.int64)
    p = 0
    if shells == 1:
        for r in range(nr):
            if r_area[r] > 0 or r_area[r] <= -min_hole_cells:
                poly_of[r] = 0
    else:
        lab = np.zeros(hw, np.int64)
        stack = np.empty(hw, np.int64)
        nl = 0
        for q in range(hw):
            if M[q] and lab[q] == 0:
                nl += 1
                lab[q] = nl
                stack[0] = q
                top = 1
                while top:
                    top -= 1
                    t = stack[top]
                    for u in (t - 1, t + 1, t - w, t + w):
                        if M[u] and lab[u] == 0:
                            lab[u] = nl
                            stack[top] = u
                            top += 1
        poly_of_lab = np.full(nl + 1, -1, np.int64)
        for r in range(nr):
            if r_area[r] > 0:
                poly_of_lab[lab[r_node[r]]] = p
                p += 1
        for r in range(nr):
            if r_area[r] > 0 or r_area[r] <= -min_hole_cells:
                poly_of[r] = poly_of_lab[lab[r_node[r]]]
    # rings in order: by polygon, the shell first
    nkept = 0
    count = np.zeros(shells + 1, np.int64)
    for r in range(nr):
        if poly_of[r] >= 0:
            count[poly_of[r] + 1] += 1
            nkept += 1
    for k in range(shells):
        count[k + 1] += count[k]
    order = np.empty(nkept, np.int64)
    fill = count[:shells].copy()
    for r in range(nr):                         # shells first within each polygon
        if poly_of[r] >= 0 and r_area[r] > 0:
            order[fill[poly_of[r]]] = r
            fill[poly_of[r]] += 1
    for r in range(nr):
        if poly_of[r] >= 0 and not r_area[r] > 0:
            order[fill[poly_of[r]]] = r
            fill[poly_of[r]] += 1
    xy = np.empty((nv, 2), np.int64)
    ring_off = np.zeros(nkept + 1, np.int64)
    no = 0
    total = 0.0
    for k in range(nkept):
        r = order[k]
        for t in range(r_start[r], r_end[r]):
            xy[no, 0] = vx[t]
            xy[no, 1] = vy[t]
            no += 1
        ring_off[k + 1] = no
        total += r_area[r]
    return xy[:no], ring_off, count, total, (r0 - 1, c0 - 1)


def kernels() -> tuple:
    """``(k_cells, k_trace)`` compiled (:func:`stationmap.jit.compiled`)."""
    return compiled(_k_cells), compiled(_k_trace)
