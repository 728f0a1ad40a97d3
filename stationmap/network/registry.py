"""The road networks registered for an instance (by ``stationmap network fetch``), so the app,
the CLI and coverage use them without an environment variable.

The registry is one JSON file, ``<instance>/networks/registry.json``
(:attr:`stationmap.config.Settings.networks_dir`)::

    {"networks": {"320571": {"path": "320571.npz", "area": "苏州工业园区", "adcode": "320571",
                             "source": "https://…/jiangsu-latest.osm.pbf", "osm_date": "2026-12-06T21:21:02Z",
                             "nodes": 11029, "edges": 14382, "licence": "© OpenStreetMap contributors, ODbL",
                             "registered_at": "2026-12-07T17:40:00+08:00"}}}

A relative ``path`` is relative to that folder.  It is written whole to a temporary file and
renamed, so a reader never sees half of it.  :func:`stationmap.network.loader.load_networks`
adds the registered networks after those of ``Settings.networks`` (which win a shared name).
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stationmap.errors import ConfigError, NotFoundError

if TYPE_CHECKING:
    from stationmap.config import Settings

REGISTRY_FILE = "registry.json"
_LOCK = threading.Lock()


def registry_path(settings: Settings) -> Path:
    """The registry file of ``settings``' instance."""
    return Path(settings.networks_dir) / REGISTRY_FILE


def registry_stamp(settings: Settings) -> tuple[int, int] | None:
    """The registry file's (modification time, size), None without one: what a running server
    compares to see networks fetched or removed since it started."""
    try:
        st = os.stat(registry_path(settings))
    except OSError:
        return None
    return st.st_mtime_ns, st.st_size


def entries(settings: Settings) -> dict[str, dict[str, Any]]:
    """{name: entry} of the registered networks (empty when nothing is registered), each
    entry's ``path`` made absolute."""
    path = registry_path(settings)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the network registry ({exc})") from None
    try:
        nets = json.loads(text)["networks"]
        out = {}
        for name, e in nets.items():
            p = Path(e["path"])
            out[str(name)] = {**e, "path": str(p if p.is_absolute() else path.parent / p)}
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ConfigError(f"{path}: not a network registry ({exc}); remove it and fetch the networks again") from None
    return out


def registered(settings: Settings) -> dict[str, str]:
    """{name: path to the compiled file} of the registered networks."""
    return {name: e["path"] for name, e in entries(settings).items()}


def _write(settings: Settings, nets: dict[str, dict[str, Any]]) -> None:
    path = registry_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    for e in nets.values():      # paths inside the folder are kept relative (the instance may move)
        p = Path(e["path"])
        if p.is_absolute() and p.parent == path.parent:
            e["path"] = p.name
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"networks": nets}, ensure_ascii=False, indent=2), encoding="utf-8")
    os.chmod(tmp, 0o600)
    tmp.replace(path)


def register(settings: Settings, name: str, entry: dict[str, Any]) -> None:
    """Register (or replace) the network ``name``; ``entry`` holds at least ``path``."""
    if "path" not in entry:
        raise TypeError("register: the entry needs a path")
    with _LOCK:
        nets = entries(settings)
        nets[str(name)] = dict(entry)
        _write(settings, nets)


def unregister(settings: Settings, name: str, *, delete_file: bool = True) -> dict[str, Any]:
    """Forget the network ``name`` (and delete its compiled file inside the networks folder);
    returns its entry."""
    with _LOCK:
        nets = entries(settings)
        if name not in nets:
            known = ", ".join(sorted(nets)) or "none registered"
            raise NotFoundError(f"no registered network {name!r} ({known})", field="name")
        entry = nets.pop(name)
        _write(settings, nets)
    p = Path(entry["path"])
    if delete_file and p.parent == Path(settings.networks_dir):
        p.unlink(missing_ok=True)
    return entry
