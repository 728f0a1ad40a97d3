"""A throw-away PostgreSQL server for tests: initdb in a temporary folder,
listening on a unix socket and a free loopback port, removed afterwards.

PostgreSQL refuses to run as root, so as root the server runs as the
``postgres`` system user (which Debian's package creates)."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager


def _bindir() -> str:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: `make test` installs Debian's postgresql package")
    return os.path.dirname(found[-1])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def temporary_postgres():
    """Yield an SQLAlchemy URL of a fresh database on a private server."""
    bindir = _bindir()
    root = tempfile.mkdtemp(prefix="stationmap-pg-")
    as_root = os.geteuid() == 0
    if as_root:
        shutil.chown(root, "postgres", "postgres")
    os.chmod(root, 0o755)
    data = os.path.join(root, "data")
    port = _free_port()

    def run(*cmd):
        full = list(cmd)
        if as_root:
            full = ["runuser", "-u", "postgres", "--", *full]
        subprocess.run(full, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=root)

    try:
        run(f"{bindir}/initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale")
        run(f"{bindir}/pg_ctl", "-D", data, "-w", "-t", "60", "-l", os.path.join(root, "log"), "-o",
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
        url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        deadline = time.time() + 30
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(0.2)
        yield url
    finally:
        if os.path.isdir(data):
            try:
                run(f"{bindir}/pg_ctl", "-D", data, "-m", "immediate", "stop")
            except subprocess.CalledProcessError:
                pass
        shutil.rmtree(root, ignore_errors=True)
