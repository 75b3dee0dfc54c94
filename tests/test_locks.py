"""Lock files: atomic, holding host and pid, stale when the pid is gone, waited for or refused."""
import json
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from bench.errors import RunInProgressError
from bench.locks import FileLock, is_stale, process_start


def dead_pid() -> int:
    """The pid of a process that has exited."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_lock_holds_host_and_pid_and_is_removed(tmp_path):
    path = tmp_path / "locks" / "run.lock"
    with FileLock(path, "run x"):
        owner = json.loads(path.read_text())
        assert owner["host"] == socket.gethostname() and owner["pid"] == os.getpid()
    assert not path.exists() and list(path.parent.iterdir()) == []


def test_live_lock_is_refused_with_one_line_naming_the_holder(tmp_path):
    path = tmp_path / "run.lock"
    with FileLock(path, "run x"), pytest.raises(RunInProgressError) as err:
        FileLock(path, "run x", wait=False).acquire()
    message = str(err.value)
    assert "\n" not in message and f"pid {os.getpid()}" in message and str(path) in message


def test_live_lock_is_waited_for(tmp_path):
    path = tmp_path / "run.lock"
    said, order = [], []
    holder = FileLock(path, "run x")
    holder.acquire()

    def second():
        with FileLock(path, "run x", on_wait=said.append):
            order.append("second")

    thread = threading.Thread(target=second)
    thread.start()
    time.sleep(0.3)
    order.append("first done")
    holder.release()
    thread.join(5)
    assert order == ["first done", "second"] and len(said) == 1 and "waiting for it" in said[0]


def test_stale_lock_of_a_dead_process_is_taken_over(tmp_path):
    path = tmp_path / "run.lock"
    stale = {"host": socket.gethostname(), "pid": dead_pid(), "started": "2020-01-01T00:00:00+00:00"}
    path.write_text(json.dumps(stale))
    assert is_stale(stale)
    with FileLock(path, "run x", wait=False):
        assert json.loads(path.read_text())["pid"] != stale["pid"]
    assert not path.exists()


def test_lock_of_a_reused_pid_is_stale():
    me = {"host": socket.gethostname(), "pid": os.getpid(), "started": ""}
    assert not is_stale({**me, "pid_start": process_start(os.getpid())})
    if process_start(os.getpid()) is not None:  # Linux: the pid now runs a process that started later
        assert is_stale({**me, "pid_start": "1"})


def test_lock_of_another_host_or_unreadable():
    assert not is_stale({"host": "elsewhere", "pid": 1, "started": ""})  # cannot check: treated as live
    assert is_stale({})
