"""What a network's searches derive from it, kept on disk between starts (issue 21).

A compiled network (``.npz``) holds its roads; everything a server builds from them before it
answers -- each mode's travel-time graph, the snapping grid, the contracted graphs, the isochrone
drawing grid and its cells per mode (:func:`stationmap.reach.prepare`) -- took 27 s for a
million-node city on every start, in every process.  It is computed once and written to
``<instance>/cache/networks/<name>-<key>.pickle`` with the network's own arrays; a later start
maps it into memory rather than reading it: the objects are a pickle (protocol 5) whose arrays
are kept out of band, each its own aligned stretch of the file, and come back as arrays over the
mapped file (copy-on-write: the searches' few in-place writes stay private to the process).
Pages are read as the searches touch them, from the page cache that every process of the server
shares; with ``stationmap serve`` the app is built once in gunicorn's master (``preload_app``) and
the workers share its mapping too.

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
import mmap
import os
import pickle
import struct
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stationmap.instance import private_dir

if TYPE_CHECKING:
    from stationmap.config import Settings
    from stationmap.network.graph import Network

#: bump when the layout of the cached objects changes in a way the source digest would not see
FORMAT = "stationmap-derived/3"
#: the file: MAGIC, then the header's offset and length (8 bytes each, little-endian); from
#: :data:`ALIGN` on, the pickle and the buffers, each at a multiple of :data:`ALIGN` bytes; last,
#: the header (JSON: the pickle's offset and length, each array buffer's offset and length)
MAGIC = b"SMDERIV3"
ALIGN = 64
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
            mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
        if mm[:len(MAGIC)] != MAGIC:
            return None
        at, n = struct.unpack_from("<QQ", mm, len(MAGIC))
        head = json.loads(bytes(mm[at:at + n]))
        view = memoryview(mm)
        po, pl = head["pickle"]
        saved = pickle.loads(view[po:po + pl],
                             buffers=[view[o:o + ln] for o, ln in head["buffers"]])
        if saved.get("format") != FORMAT:
            return None
        net = Network(name=name or saved["name"], settings=settings, **saved["arrays"])
        net.attach_derived(saved["derived"])
    except (OSError, EOFError, pickle.UnpicklingError, AttributeError, KeyError, TypeError, ValueError,
            struct.error, IndexError):
        return None
    return net


def _aligned(n: int) -> int:
    return -(-n // ALIGN) * ALIGN


def save(net: Network, file: Path) -> None:
    """Write ``net`` and what it has derived to ``file`` (atomically, private to the instance), and
    remove the older files of the same network."""
    arrays = net.constructor_arrays()
    payload: dict[str, Any] = {"format": FORMAT, "name": net.name, "arrays": arrays,
                               "derived": net.derived_state()}
    folder = private_dir(file.parent)
    buffers: list[pickle.PickleBuffer] = []
    body = pickle.dumps(payload, protocol=5, buffer_callback=buffers.append)
    raws = [b.raw() for b in buffers]
    pos = ALIGN
    spans = []
    for r in [memoryview(body), *raws]:
        spans.append((pos, r.nbytes))
        pos = _aligned(pos + r.nbytes)
    head = json.dumps({"pickle": spans[0], "buffers": spans[1:]}).encode()
    tmp = file.with_name(file.name + f".{os.getpid()}.part")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(MAGIC + struct.pack("<QQ", pos, len(head)))
        for (off, _n), r in zip(spans, [memoryview(body), *raws]):
            f.seek(off)
            f.write(r)
        f.seek(pos)
        f.write(head)
    os.replace(tmp, file)
    stem = file.name.rsplit("-", 1)[0]
    for old in folder.glob(f"{stem}-*.pickle"):
        if old != file:
            old.unlink(missing_ok=True)
