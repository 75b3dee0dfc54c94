"""Which implementation of an alignment operator runs where: the "auto" backend choice.

    CPU tensors                      -> "numba"  (bench.align._softdtw_numba, _sw_numba)
    CUDA tensors, Triton importable  -> "triton" (bench.align._softdtw_triton, _sw_triton)
    anything else                    -> "torch", the reference sweep, with a one-time notice

Triton ships with the CUDA builds of torch; the CPU build has none, so its modules are
imported on first use only. The "triton" backends also run CPU tensors under Triton's
interpreter (TRITON_INTERPRET=1), which is how the test suite checks them without a GPU.
"""
from __future__ import annotations

import functools
import importlib.util
import os
import warnings

from torch import Tensor

from bench.errors import DataError

_FALLBACK_NOTICED: set[str] = set()


@functools.cache
def triton_available() -> bool:
    """Whether the ``triton`` package can be imported here (looked up once per process)."""
    return importlib.util.find_spec("triton") is not None


def auto_backend(device_type: str, op: str) -> str:
    """The "auto" choice for operator ``op`` on a tensor on ``device_type`` (see the module docstring).

    The first fallback of each operator in the process says so once (a RuntimeWarning).
    """
    if device_type == "cpu":
        return "numba"
    if device_type == "cuda" and triton_available():
        return "triton"
    if op not in _FALLBACK_NOTICED:
        _FALLBACK_NOTICED.add(op)
        warnings.warn(
            f"{op}: no {device_type} kernel here (Triton is missing or the device is not CUDA), falling back to "
            f"the torch reference sweep (backend='torch', one small kernel launch per anti-diagonal); "
            f"this notice is shown once",
            RuntimeWarning,
            stacklevel=3,
        )
    return "torch"


def require_triton_device(tensor: Tensor, op: str) -> None:
    """Refuse a tensor that the "triton" backend cannot run: not CUDA, outside the interpreter."""
    if tensor.device.type != "cuda" and os.environ.get("TRITON_INTERPRET") != "1":
        raise DataError(f"{op}'s triton backend needs CUDA tensors, got {tensor.device}; use backend='auto'")
    if not triton_available():
        raise DataError(f"{op}'s triton backend needs the triton package (it ships with CUDA builds of torch); "
                        f"use backend='auto'")
