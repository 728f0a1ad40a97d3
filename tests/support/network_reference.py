"""Independent references for road-network tests (shared by the network, reach and API
tests): networkx graphs, and whole-network scipy searches on a graph built here from the
edge list, with speeds written out as the issue and config document them."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import dijkstra

from stationmap import config
from stationmap.errors import ValidationError

SETTINGS = config.load(environ={})


def speed_kmh(mode, cls, settings=SETTINGS):
    """Speeds as the issue and config document them, written out here on purpose."""
    if mode == "car":
        return settings.car_speeds_kmh.get(cls, 0.0) if cls not in (
            "footway", "cycleway", "path", "steps", "pedestrian", "other") else 0.0
    if cls == "motorway" or (cls == "steps" and mode != "walk"):
        return 0.0
    if mode in ("bike", "ebike") and cls in ("footway", "pedestrian"):
        return settings.speeds_kmh["walk"]
    return settings.speeds_kmh[mode]


def nx_graph(net, mode, settings=SETTINGS):
    """networkx DiGraph of ``mode`` from the network's edge list: seconds per edge."""
    G = nx.DiGraph()
    bit = 1 << config.MODES.index(mode)
    for u, v, L, c, acc, ow in zip(net.edge_u.tolist(), net.edge_v.tolist(), net.edge_length_m.tolist(),
                                   net.edge_class.tolist(), net.edge_access.tolist(), net.edge_oneway.tolist()):
        v_kmh = speed_kmh(mode, net.classes[c], settings)
        if not (acc & bit) or v_kmh <= 0:
            continue
        s = L / (v_kmh / 3.6)
        if not ow & (bit << len(config.MODES)):     # not "only v -> u" for this mode
            G.add_edge(u, v, weight=s, length=L)
        if not ow & bit:                            # not "only u -> v"
            G.add_edge(v, u, weight=s, length=L)
    return G


def split_at(G, net, snap, mode):
    """``G`` with the snapped point as node "p" on its edge (the reference for a mid-edge start)."""
    H = G.copy()
    u, v = int(net.edge_u[snap.edge]), int(net.edge_v[snap.edge])
    L = float(net.edge_length_m[snap.edge])
    H.add_node("p")
    for a, b, frac in ((u, v, 1 - snap.t), (v, u, snap.t)):   # p -> b needs a -> b
        if G.has_edge(a, b):
            w = G[a][b]["weight"]
            H.add_edge("p", b, weight=w * frac, length=L * frac)
    return H


def whole_network_times(net, mode, lon, lat, stations, settings=SETTINGS):
    """Seconds and metres (arrays, inf where not reached) from a WGS-84 point to each station,
    as a search of the whole network gives them: one scipy Dijkstra without a limit on the
    mode's graph built here from the edge list (the snapped point a node on its edge, the
    speeds of :func:`speed_kmh`), and each route's metres summed down its search tree (a
    second Dijkstra, on the tree).  A station is reached from either end of its edge, or
    straight along the query's own edge; both off-road walks are added.
    """
    n = net.n_nodes
    walk = settings.speeds_kmh["walk"] / 3.6
    kmh = np.array([speed_kmh(mode, c, settings) for c in net.classes], dtype=float)[net.edge_class]
    bit = 1 << config.MODES.index(mode)
    fwd = ((net.edge_access & bit) != 0) & (kmh > 0)
    secs = np.where(fwd, net.edge_length_m / (np.where(fwd, kmh, 1.0) / 3.6), np.inf)
    ow = net.edge_oneway.astype(np.int64)
    back = fwd & ((ow & bit) == 0)
    fwd = fwd & ((ow & (bit << len(config.MODES))) == 0)
    sn = net.snap(lon, lat, mode=mode)
    e0, t0 = sn.edge, sn.t
    u, v, L = net.edge_u, net.edge_v, net.edge_length_m
    src = [u[fwd], v[back]]
    dst = [v[fwd], u[back]]
    w = [secs[fwd], secs[back]]
    lng = [L[fwd], L[back]]
    for ok, end, frac in ((fwd[e0], v[e0], 1.0 - t0), (back[e0], u[e0], t0)):   # from the point
        if ok:
            src.append([n])
            dst.append([end])
            w.append([secs[e0] * frac])
            lng.append([L[e0] * frac])
    src, dst, w, lng = (np.concatenate(a) for a in (src, dst, w, lng))
    G = sp.csr_matrix((w, (src, dst)), shape=(n + 1, n + 1))
    assert G.nnz == len(src)        # (the graph is simple: no two arcs summed into one)
    dist, pred = dijkstra(G, directed=True, indices=n, return_predecessors=True)
    # metres down the search tree: the tree's arcs with their lengths, searched from its root
    arc_len = sp.csr_matrix((lng, (src, dst)), shape=(n + 1, n + 1))
    child = np.flatnonzero(pred >= 0)
    tree = sp.csr_matrix((np.asarray(arc_len[pred[child], child]).ravel(), (pred[child], child)),
                         shape=(n + 1, n + 1))
    metres_to = dijkstra(tree, directed=True, indices=n)
    out_s = np.full(len(stations), np.inf)
    out_m = np.full(len(stations), np.inf)
    for i, st in enumerate(stations):
        try:
            ss = net.snap(st.lon, st.lat, mode=mode)
        except ValidationError:
            continue
        e, t = ss.edge, ss.t
        ways = []       # (road seconds, road metres): straight along the query's edge, through u, through v
        if e == e0 and ((t >= t0 and fwd[e]) or (t <= t0 and back[e])):
            ways.append((abs(t - t0) * secs[e], abs(t - t0) * L[e]))
        if fwd[e]:
            ways.append((dist[u[e]] + t * secs[e], metres_to[u[e]] + t * L[e]))
        if back[e]:
            ways.append((dist[v[e]] + (1.0 - t) * secs[e], metres_to[v[e]] + (1.0 - t) * L[e]))
        road_s, road_m = min(ways, default=(math.inf, math.inf), key=lambda x: x[0])
        if math.isfinite(road_s):
            out_s[i] = sn.distance_m / walk + road_s + ss.distance_m / walk
            out_m[i] = sn.distance_m + road_m + ss.distance_m
    return out_s, out_m


def with_points(G, net, snaps):
    """``G`` (:func:`nx_graph`) with each snapped point a node of its own on its edge: ``snaps``
    maps a name to a Snap; the points on one edge cut it into a chain in order of ``t``, each
    piece's seconds in proportion to its length (the reference for trips between points on the roads)."""
    H = G.copy()
    by_edge = {}
    for name, sn in snaps.items():
        by_edge.setdefault(sn.edge, []).append((sn.t, name))
    for e, pts in by_edge.items():
        u, v = int(net.edge_u[e]), int(net.edge_v[e])
        chain = [(0.0, u), *sorted(pts), (1.0, v)]
        for (ta, a), (tb, b) in zip(chain, chain[1:]):
            if G.has_edge(u, v):
                H.add_edge(a, b, weight=G[u][v]["weight"] * (tb - ta))
            if G.has_edge(v, u):
                H.add_edge(b, a, weight=G[v][u]["weight"] * (tb - ta))
    return H
