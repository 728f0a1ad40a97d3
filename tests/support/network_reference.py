"""Independent networkx references for road-network tests (shared by the network,
reach and API tests): speeds written out as the issue and config document them."""

from __future__ import annotations

import networkx as nx

from stationmap import config

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
        G.add_edge(u, v, weight=s, length=L)
        if not (ow and mode == "car"):
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
