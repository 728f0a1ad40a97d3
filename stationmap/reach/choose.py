"""Which network serves a WGS-84 point, if any: the ``auto`` / ``network`` / ``circle``
choice of :mod:`stationmap.reach` (:func:`choose_network`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, TypeAlias

from stationmap.checks import check_method, check_mode
from stationmap.config import DEFAULT_METHOD, DEFAULT_MODE
from stationmap.errors import ValidationError

if TYPE_CHECKING:
    from stationmap.config import Settings
    from stationmap.network import Network, Snap

#: What reach takes for ``network``: a Network, a list or tuple of them, a {name: Network}
#: mapping (the first that covers the point serves), or None (the circle estimate only).
Networks: TypeAlias = "Network | list[Network] | tuple[Network, ...] | Mapping[str, Network] | None"


def network_list(networks: Networks) -> list[Network]:
    """``networks`` (None, a Network, a list or tuple of them, a {name: Network} mapping) as a list."""
    if networks is None:
        return []
    if isinstance(networks, Mapping):
        return list(networks.values())
    if isinstance(networks, (list, tuple)):
        return list(networks)
    return [networks]


def choose_network(networks: Networks, lon: float, lat: float, *, mode: str = DEFAULT_MODE,
                   method: str = DEFAULT_METHOD,
                   settings: Settings | None = None) -> tuple[Network, Snap] | tuple[None, None]:
    """``(network, snap)`` for a WGS-84 point, or ``(None, None)`` for the circle method.

    ``networks``: a Network, a list of them or a {name: Network} mapping (the
    first that covers the point wins; a network whose ``home`` district holds the
    point, one fetched for it, before the others).  ``method="network"`` raises
    ValidationError when none covers it (naming the distance and the limit).
    """
    return choose_network_checked(networks, lon, lat, check_mode(mode), check_method(method), settings)


def choose_network_checked(networks: Networks, lon: float, lat: float, mode: str, method: str,
                           settings: Settings | None) -> tuple[Network, Snap] | tuple[None, None]:
    """:func:`choose_network` for a checked mode and method."""
    if method == "circle":
        return None, None
    nets = network_list(networks)
    if not nets:
        if method == "network":
            raise ValidationError("method 'network' needs a road network, and none is configured "
                                  "(settings.networks)", field="method")
        return None, None
    first_error: ValidationError | None = None
    # the network fetched for the district holding the point first, the smallest district first (a
    # zone before the county it was cut from; registered networks overlap by their margins); then
    # the others, in their order
    if len(nets) > 1:
        import shapely

        homes = sorted((net for net in nets if net.home is not None and shapely.contains_xy(net.home, lon, lat)),
                       key=lambda net: net.home.area)
        nets = homes + [net for net in nets if net not in homes]
    for net in nets:
        limit = (settings or net.settings).max_snap_m
        w, s, e, n = net.bounds
        pad_lat = limit / 111_000.0
        pad_lon = pad_lat / max(math.cos(math.radians(lat)), 1e-6)
        inside = w - pad_lon <= lon <= e + pad_lon and s - pad_lat <= lat <= n + pad_lat
        if not inside and method == "auto":
            continue
        try:
            return net, net.snap(lon, lat, mode=mode, max_snap_m=limit)
        except ValidationError as exc:
            first_error = first_error or exc
    if method == "network" and first_error is not None:     # (always set here: "network" tries every one)
        raise first_error
    return None, None
