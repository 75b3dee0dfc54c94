"""A real PostgreSQL server for the tests: initdb into a temporary directory, pg_ctl on a
free loopback port, as the ``postgres`` user when the tests run as root (PostgreSQL refuses
root). Debian's postgresql-15 puts the binaries in /usr/lib/postgresql/<version>/bin."""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SEARCH = ("/usr/lib/postgresql/*/bin", "/usr/local/pgsql/bin", "/usr/bin")


def postgres_bin() -> Path | None:
    """The directory holding initdb and pg_ctl, None where PostgreSQL is not installed."""
    for pattern in SEARCH:
        for directory in sorted(glob.glob(pattern), reverse=True):
            if all(os.access(Path(directory) / tool, os.X_OK) for tool in ("initdb", "pg_ctl")):
                return Path(directory)
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _as_server_user(command: list[str]) -> list[str]:
    """Run as ``postgres`` when we are root (the server refuses to run as root)."""
    return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command


@contextmanager
def postgres_server(bin_dir: Path) -> Iterator[str]:
    """Start a throwaway server; yield its URL (trust auth, user postgres, database postgres)."""
    root = Path(tempfile.mkdtemp(prefix="alignbench-pg-"))
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    os.chmod(root, 0o700)
    port = free_port()
    run = lambda *args: subprocess.run(_as_server_user([str(a) for a in args]), check=True,  # noqa: E731
                                       capture_output=True, text=True, timeout=120)
    try:
        run(bin_dir / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "--no-sync", "-E", "UTF8")
        run(bin_dir / "pg_ctl", "-D", data, "-l", root / "server.log", "-w", "-t", "60", "-o",
            f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off", "start")
        try:
            yield f"postgresql://postgres@127.0.0.1:{port}/postgres"
        finally:
            run(bin_dir / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(root, ignore_errors=True)
