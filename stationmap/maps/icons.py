"""Colours and icons per station kind, and the key services shown as icons.

The icon files live in ``static/icons/`` (``kind-<kind>.svg``: white glyphs
drawn on the kind's colour; ``service-<service>.svg``: coloured glyphs).
"""

from __future__ import annotations

from collections.abc import Container

from stationmap.model import KINDS, SERVICES

#: kind -> marker colour (CSS)
KIND_COLORS = {
    "rest": "#c8102e",
    "hot_tea": "#d35400",
    "legal_aid": "#1f5fbf",
}

#: The services couriers filter by most (the finder's filter chips), in order.
KEY_SERVICES = ("drinking_water", "toilet", "ebike_charging", "microwave", "legal_aid")

if set(KIND_COLORS) != set(KINDS):
    raise RuntimeError("KIND_COLORS must give a colour to every kind and only to kinds")
if not set(KEY_SERVICES) <= set(SERVICES):
    raise RuntimeError("KEY_SERVICES must be services")


def kind_icon(kind: str) -> str:
    """Path of a kind's icon below the static folder: ``icons/kind-<kind>.svg``."""
    if kind not in KINDS:
        raise KeyError(kind)
    return f"icons/kind-{kind}.svg"


def service_icon(service: str) -> str | None:
    """Path of a key service's icon below the static folder, None for other services."""
    return f"icons/service-{service}.svg" if service in KEY_SERVICES else None


def primary_kind(kinds: Container[str]) -> str:
    """The kind a marker is drawn as: the first of ``kinds`` in :data:`KINDS` order."""
    for k in KINDS:
        if k in kinds:
            return k
    return "rest"
