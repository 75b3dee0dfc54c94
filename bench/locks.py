"""Lock files: one process at a time works on a run (or builds a dataset).

A lock is a small JSON file ``{"host", "pid", "pid_start", "started"}`` created
atomically: it is written completely under a unique temporary name and then hard-linked
to the lock's path, which fails if the path exists (``os.link`` is atomic on POSIX file
systems). A lock whose host is this machine and whose pid no longer runs (or runs a newer
process that reused the pid: its start time, field 22 of /proc/<pid>/stat, differs) is
stale: it is moved aside under a unique name (only one process can win that rename) and
the lock is taken again. A lock held by a live process is waited for (``wait=True``,
polling) or refused with RunInProgressError naming the holder.
"""
from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType

from bench.atomic import temporary_sibling
from bench.errors import RunInProgressError

POLL_SECONDS = 0.5


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine (signal 0 checks without sending)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True


def process_start(pid: int) -> str | None:
    """When process ``pid`` started (clock ticks since boot, Linux /proc), None elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # fields after the command name; field 22 overall


def read_owner(path: Path) -> dict | None:
    """The lock's content, None when it vanished; {} when it is not a lock we wrote."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def is_stale(owner: dict) -> bool:
    """A lock is stale when it names this host and a pid that is gone (or reused), or is unreadable."""
    if not isinstance(owner.get("pid"), int) or not isinstance(owner.get("host"), str):
        return True
    if owner["host"] != socket.gethostname():
        return False
    if not pid_alive(owner["pid"]):
        return True
    started = owner.get("pid_start")
    return started is not None and process_start(owner["pid"]) not in (None, started)


def this_process() -> dict:
    """Who holds a lock (or runs a tuning trial): host, pid, the pid's start time, since when."""
    return {"host": socket.gethostname(), "pid": os.getpid(), "pid_start": process_start(os.getpid()),
            "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}


def describe(owner: dict) -> str:
    return f"pid {owner.get('pid')} on host {owner.get('host')} (since {owner.get('started')})"


class FileLock:
    """``with FileLock(path, what="run 1a2b", on_wait=print): ...``"""

    def __init__(self, path: Path, what: str, wait: bool = True, on_wait: Callable[[str], None] | None = None):
        self.path = Path(path)
        self.what = what
        self.wait = wait
        self.on_wait = on_wait
        self.content = ""

    def _try_create(self) -> bool:
        self.content = json.dumps(this_process())
        tmp = temporary_sibling(self.path)
        tmp.write_text(self.content)
        try:
            os.link(tmp, self.path)
            return True
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)

    def _break_stale(self, owner: dict) -> None:
        """Move a stale lock aside; if the moved file is not the stale one we read (another
        process broke it and took the lock in between), put that one back."""
        aside = temporary_sibling(self.path)
        try:
            os.rename(self.path, aside)
        except FileNotFoundError:
            return
        if read_owner(aside) != owner:
            try:
                os.link(aside, self.path)
            except FileExistsError:
                pass
        aside.unlink(missing_ok=True)

    def acquire(self) -> None:
        told = False
        while True:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if self._try_create():
                return
            owner = read_owner(self.path)
            if owner is None:
                continue
            if is_stale(owner):
                self._break_stale(owner)
                continue
            message = (f"{self.what} is in progress in {describe(owner)}; lock {self.path} "
                       "(delete it if that process is no longer running)")
            if not self.wait:
                raise RunInProgressError(message + "; wait for it or run again later")
            if not told and self.on_wait is not None:
                self.on_wait(f"{message}; waiting for it")
                told = True
            time.sleep(POLL_SECONDS)

    def release(self) -> None:
        """Remove the lock if it is still ours."""
        try:
            if self.path.read_text() == self.content:
                self.path.unlink()
        except FileNotFoundError:
            pass

    def __enter__(self) -> FileLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.release()
