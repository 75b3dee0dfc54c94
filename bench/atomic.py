"""Atomic writes: every file and directory is written under a name unique to this process
(``.<name>.tmp-<pid>-<random>``), then renamed into place, so readers see it complete or
absent and two processes never write the same temporary file.

A full disk (ENOSPC), an exhausted quota (EDQUOT) or a file-size limit (EFBIG) while
writing becomes ``DiskFullError``: one line naming the file, with the temporary file
removed and the previous version (e.g. the last good checkpoint) left untouched.
"""
from __future__ import annotations

import errno
import io
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

from bench.errors import DiskFullError

NO_SPACE = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)


def temporary_sibling(path: Path) -> Path:
    """A hidden name next to ``path``, unique to this process and call."""
    path = Path(path)
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")


@contextmanager
def no_space_is_an_error(path: Path, consequence: str = "") -> Iterator[None]:
    """Turn a no-space OSError raised inside the block into one DiskFullError line."""
    try:
        yield
    except OSError as err:
        if err.errno not in NO_SPACE:
            raise
        raise DiskFullError(f"no space left to write {path} ({err.strerror}){consequence}; "
                            "free some disk space and run the same command again") from err


def write_bytes(path: Path, data: bytes, consequence: str = "") -> None:
    """Write ``data`` to ``path`` atomically (a unique temporary file, then os.replace);
    ``consequence`` is added to the no-space message (e.g. what was kept)."""
    path = Path(path)
    tmp = temporary_sibling(path)
    try:
        with no_space_is_an_error(path, consequence), tmp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_text(path: Path, text: str) -> None:
    write_bytes(path, text.encode("utf-8"))


def torch_bytes(obj: Any) -> bytes:
    """``torch.save`` into memory, so that writing the bytes raises a plain OSError on a full
    disk (torch's own writer raises an unspecific RuntimeError)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def save_torch(obj: Any, path: Path, consequence: str = "") -> None:
    """``torch.save`` atomically."""
    write_bytes(path, torch_bytes(obj), consequence)


def replace_directory(tmp: Path, final: Path) -> None:
    """Move the complete directory ``tmp`` to ``final``. An existing ``final`` is first
    renamed aside (atomic) and removed afterwards, so ``final`` is never a mix of two
    versions, and a concurrent writer's rename cannot be deleted half-way."""
    final.parent.mkdir(parents=True, exist_ok=True)
    while True:
        old = temporary_sibling(final)
        try:
            os.rename(final, old)
        except FileNotFoundError:
            old = None
        try:
            os.rename(tmp, final)
        except OSError as err:
            if err.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            continue  # another process renamed its version in between: move that aside too
        finally:
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        return
