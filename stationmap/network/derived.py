"""What a network's searches derive from it, kept on disk between starts (issue 21).

A compiled network (``.npz``) holds its roads; everything a server builds from them before it
answers -- each mode's travel-time graph, the snapping grid, the contracted graphs, the isochrone
drawing grid and its cells per mode (:func:`stationmap.reach.prepare`) -- took 27 s for a
million-node city on every start, in every process.  It is computed once and written to
``<instance>/cache/networks/<name>-<key>.pickle`` with the network's own arrays (uncompressed:
reading them back is a copy, not a decompression); a later start reads it back.  With
``stationmap serve`` the app is built once in gunicorn's master (``preload_app``) and every worker
shares that memory copy-on-write.

The key is a digest of the compiled file (real path, size, modification time), the settings the
derived data depend on (speeds, car speeds, snap limit, the isochrone cell) and the source of the
modules that build it: a rebuilt network, other speeds or a new release make a new file (the old
ones of that network are removed).  The file is private to the instance (0600 in a 0700 folder,
like the database): a pickle is only read from there.  A file that cannot be read is ignored
(and rebuilt), never trusted half-way.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stationmap.instance import private_dir

if TYPE_CHECKING:
    from stationmap.config import Settings
    from stationmap.network.graph import Network

#: bump when the layout of the cached objects changes in a way the source digest would not see
FORMAT = "stationmap-derived/1"
#: where the files go, under the instance folder
CACHE_DIR = ("cache", "networks")
#: the modules whose code builds what is cached (their source is part of the key)
_BUILDERS = ("network/graph.py", "network/snapping.py", "network/search.py", "reach/outline.py")


@lru_cache(maxsize=1)
def _code_digest() -> str:
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for rel in _BUILDERS:
        h.update((root / rel).read_bytes())
    return h.hexdigest()


def cache_file(path: str | os.PathLike[str], settings: Settings) -> Path | None:
    """Where the derived data of the network compiled at ``path`` are kept for these settings;
    None when the file cannot be read (``os.stat`` fails)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    key = json.dumps([FORMAT, os.path.realpath(path), st.st_size, st.st_mtime_ns,
                      sorted(settings.speeds_kmh.items()), sorted(settings.car_speeds_kmh.items()),
                      settings.max_snap_m, _code_digest()])
    digest = hashlib.sha256(key.encode()).hexdigest()[:20]
    stem = Path(path).name.split(".")[0]
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in stem)[:60] or "network"
    return Path(settings.instance_path).joinpath(*CACHE_DIR) / f"{safe}-{digest}.pickle"


def load(file: Path, name: str | None, settings: Settings) -> Network | None:
    """The network (named ``name``, default the name it was saved with) and everything derived
    from it as :func:`save` wrote them to ``file``, or None when there is no such file or it
    cannot be read whole."""
    from stationmap.network.graph import Network

    try:
        with open(file, "rb") as f:
            saved = pickle.load(f)
        if saved.get("format") != FORMAT:
            return None
        net = Network(name=name or saved["name"], settings=settings, **saved["arrays"])
        net.attach_derived(saved["derived"])
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, KeyError, TypeError, ValueError):
        return None
    return net


def save(net: Network, file: Path) -> None:
    """Write ``net`` and what it has derived to ``file`` (atomically, private to the instance), and
    remove the older files of the same network."""
    arrays = net.constructor_arrays()
    payload: dict[str, Any] = {"format": FORMAT, "name": net.name, "arrays": arrays,
                               "derived": net.derived_state()}
    folder = private_dir(file.parent)
    tmp = file.with_name(file.name + f".{os.getpid()}.part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        pickle.dump(payload, f, protocol=pickle.HIGHEST_PROTOCOL)
    os.replace(tmp, file)
    stem = file.name.rsplit("-", 1)[0]
    for old in folder.glob(f"{stem}-*.pickle"):
        if old != file:
            old.unlink(missing_ok=True)
