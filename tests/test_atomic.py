"""Atomic writes: unique temporary names, directory replacement, a full disk as one line."""
import errno
import os

import pytest

import bench.atomic as atomic
from bench.errors import DiskFullError


def test_temporary_names_are_unique_and_name_the_process(tmp_path):
    a, b = atomic.temporary_sibling(tmp_path / "x.pt"), atomic.temporary_sibling(tmp_path / "x.pt")
    assert a != b and a.name.startswith(f".x.pt.tmp-{os.getpid()}-") and a.parent == tmp_path


def test_replace_directory_swaps_whole_directories(tmp_path):
    final = tmp_path / "store"
    for version in ("old", "new"):
        tmp = atomic.temporary_sibling(final)
        tmp.mkdir()
        (tmp / "version").write_text(version)
        atomic.replace_directory(tmp, final)
    assert (final / "version").read_text() == "new" and [p.name for p in tmp_path.iterdir()] == ["store"]


def test_full_disk_keeps_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = tmp_path / "checkpoint.pt"
    atomic.write_bytes(path, b"good")

    class FullDisk:
        def __init__(self, *args, **kwargs):
            pass

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(type(path), "open", lambda self, mode="r": FullDisk())
    with pytest.raises(DiskFullError) as err:
        atomic.write_bytes(path, b"new", "; the last good checkpoint is kept")
    monkeypatch.undo()
    assert str(err.value) == (f"no space left to write {path} (No space left on device); the last good checkpoint "
                              "is kept; free some disk space and run the same command again")
    assert path.read_bytes() == b"good" and [p.name for p in tmp_path.iterdir()] == ["checkpoint.pt"]
