"""The instance folder's files are private: 0700 folders, 0600 files.

The instance folder holds the secret key, the SQLite database (password
hashes, history), pending uploads and caches.  Other local users must not
read them (等保 2.0 residual information; OWASP ASVS V14): everything the
project creates there goes through :func:`private_dir` / :func:`write_private`,
and :func:`tighten` narrows what an older release (or a loose umask) left
readable, saying so in the log.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

#: modes of what stationmap keeps in the instance folder
DIR_MODE = 0o700
FILE_MODE = 0o600

log = logging.getLogger("stationmap.instance")


def private_dir(path: str | os.PathLike) -> Path:
    """``path`` as a folder only its owner may enter (created with its parents if missing)."""
    p = Path(path)
    p.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    if stat.S_IMODE(p.stat().st_mode) & 0o077:
        os.chmod(p, DIR_MODE)
    return p


def write_private(path: str | os.PathLike, data: str | bytes) -> Path:
    """Write ``data`` to ``path`` readable by its owner only (0600 from the first byte)."""
    p = Path(path)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)  # an existing, looser file too
        os.write(fd, raw)
    finally:
        os.close(fd)
    return p


def create_private_file(path: str | os.PathLike) -> Path:
    """Create ``path`` empty with mode 0600 unless it exists (e.g. a SQLite file before its first connection)."""
    p = Path(path)
    with contextlib.suppress(FileExistsError):
        os.close(os.open(p, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    return p


def tighten(folder: str | os.PathLike) -> list[Path]:
    """Narrow the instance folder and everything in it to 0700 / 0600; log each change.

    Returns the paths whose mode changed.  Links are left alone; a path that
    cannot be changed (another owner) is logged and skipped.
    """
    root = Path(folder)
    if not root.is_dir():
        return []
    changed = []
    for path in [root, *sorted(root.rglob("*"))]:
        try:
            st = path.lstat()
        except OSError:
            continue
        if stat.S_ISLNK(st.st_mode):
            continue
        want = DIR_MODE if stat.S_ISDIR(st.st_mode) else FILE_MODE
        have = stat.S_IMODE(st.st_mode)
        if have & 0o077 == 0:
            continue
        try:
            os.chmod(path, have & want)
        except OSError as exc:
            log.warning("instance: cannot make %s private (%s)", path, exc.strerror)
            continue
        log.warning("instance: %s was readable by other users (mode %o); now %o", path, have, have & want)
        changed.append(path)
    return changed
