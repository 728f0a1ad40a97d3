"""The one loader of road networks, with the one cache: the networks of
``Settings.networks`` (:func:`load_networks`) and any network a user names
(:func:`open_network`), used by the app, the CLI and coverage.

A network loaded from a compiled file is kept per process, keyed by its name, the
file (real path, size, modification time) and the settings a network routes with
(speeds, car speeds, snap limit): every app of a process (and of a test run), the
CLI and the coverage runs share one copy, a rebuilt file is loaded again, and other
speeds give another copy.  The cache keeps the last :data:`CACHE_SIZE` networks.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from pathlib import Path

from stationmap import config as _config
from stationmap.config import Settings
from stationmap.errors import NotFoundError
from stationmap.network import derived
from stationmap.network.graph import Network
from stationmap.network.registry import registered

#: how many loaded networks the cache keeps (least recently used go first)
CACHE_SIZE = 8
_CACHE: OrderedDict = OrderedDict()
_LOCK = threading.Lock()


def _cached(name: str | None, path: str | os.PathLike, settings: Settings) -> Network | None:
    """The network compiled at ``path`` (named ``name``, default the name it was saved
    with), from the cache or loaded into it; None when the file cannot be read
    (``os.stat`` fails)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    key = (name, os.path.realpath(path), st.st_size, st.st_mtime_ns,
           repr(sorted(settings.speeds_kmh.items())), repr(sorted(settings.car_speeds_kmh.items())),
           settings.max_snap_m)
    with _LOCK:
        net = _CACHE.get(key)
        if net is None:
            # what was derived from it at an earlier start, if kept (:mod:`stationmap.network.derived`)
            file = derived.cache_file(path, settings)
            net = derived.load(file, name, settings) if file is not None and file.is_file() else None
            if net is None:
                net = Network.load(path, name=name, settings=settings)
                if file is not None:
                    file.unlink(missing_ok=True)      # (unreadable: prepare writes it again)
            net.cache_file = file
            _CACHE[key] = net
            while len(_CACHE) > CACHE_SIZE:
                _CACHE.popitem(last=False)
        else:
            _CACHE.move_to_end(key)
    return net


def _load(name: str | None, path: str | os.PathLike, settings: Settings) -> Network:
    """:func:`_cached`, or the error :meth:`Network.load` gives for a file it cannot read."""
    net = _cached(name, path, settings)
    return net if net is not None else Network.load(path, name=name, settings=settings)


def configured(settings: Settings) -> dict[str, str]:
    """{name: compiled file} of every network the instance uses: ``settings.networks``, then
    the networks registered by ``stationmap network fetch`` (:mod:`~stationmap.network.registry`)
    under names ``settings.networks`` does not use."""
    out = {str(k): str(v) for k, v in (settings.networks or {}).items()}
    for name, path in registered(settings).items():
        out.setdefault(name, path)
    return out


def load_networks(settings: Settings | None = None, *, skip_missing: bool = False) -> dict[str, Network]:
    """The networks named in ``settings.networks``, loaded once per process (see the
    module's docstring).

    Parameters
    ----------
    settings : Settings, optional
        Whose ``networks`` ({name: path to a compiled ``.npz``}) to load (default
        :func:`stationmap.config.load`); their speeds and ``max_snap_m`` apply.
    skip_missing : bool
        Leave out a file that does not exist or cannot be read, rather than raise
        (what coverage does when it looks for a network that covers a district).

    Returns
    -------
    dict of str to Network
        {name: Network}, in the settings' order.

    Raises
    ------
    NotFoundError
        For a file that does not exist (unless ``skip_missing``).
    ConfigError
        For a file that is not a compiled network (unless ``skip_missing``).
    """
    settings = settings or _config.load()
    out = {}
    for name, path in configured(settings).items():
        net = _cached(str(name), path, settings) if skip_missing else _load(str(name), path, settings)
        if net is not None:
            out[str(name)] = net
    return out


def open_network(spec: str | os.PathLike, *, settings: Settings | None = None) -> Network:
    """A road network from a name, a compiled file or a road graph.

    Parameters
    ----------
    spec : str or os.PathLike
        A name in ``settings.networks`` or a compiled ``.npz`` (both loaded through the
        cache), or a ``.gpkg`` / OpenStreetMap road graph (built in memory, each time).
    settings : Settings, optional
        Default :func:`stationmap.config.load`.

    Returns
    -------
    Network

    Raises
    ------
    NotFoundError
        If ``spec`` is neither a configured name nor an existing file.
    ConfigError, ValidationError
        If the file cannot be read as a network.
    """
    settings = settings or _config.load()
    known = configured(settings)
    if spec in known:
        return _load(str(spec), known[spec], settings)
    p = Path(str(spec))
    if not p.exists():
        names = ", ".join(sorted(known)) or "none configured"
        raise NotFoundError(f"network must be a configured name ({names}) or a file, got {str(spec)!r}",
                            field="network")
    if p.suffix.lower() == ".npz":
        return _load(None, p, settings)
    return Network.build(p, settings=settings)
