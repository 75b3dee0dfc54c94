"""Numba's on-disk cache for the kernels of bench/align, kept fresh across all their sources.

numba stamps a cached kernel with its own source file only, so a kernel that inlines
helpers from another file (every lane kernel inlines bench.align._lanes) would keep
running the old helpers after that file changed. Importing this module registers a
cache locator for the functions defined in bench/align whose stamp is a digest of every
Python file there: editing any of them recompiles them all, once. Caches stay in the
usual __pycache__ next to the sources; where that is not writable, numba's own
locators take over (with their per-file stamps).
"""
from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from numba.core import caching

KERNEL_DIR = Path(__file__).resolve().parent


@functools.cache
def sources_digest() -> str:
    """sha256 over the names and contents of bench/align/*.py (read once per process)."""
    digest = hashlib.sha256()
    for path in sorted(KERNEL_DIR.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


class KernelSourcesLocator(caching.InTreeCacheLocator):
    """The in-tree cache of a bench/align function, stamped with ``sources_digest()``."""

    @classmethod
    def from_function(cls, py_func, py_file):
        if Path(py_file).resolve().parent != KERNEL_DIR:
            return None
        return super().from_function(py_func, py_file)

    def get_source_stamp(self):
        return sources_digest()


_LOCATORS = caching.CompileResultCacheImpl._locator_classes
if KernelSourcesLocator not in _LOCATORS:
    _LOCATORS.insert(0, KernelSourcesLocator)
