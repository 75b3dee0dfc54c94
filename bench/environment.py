"""What a run record says about where it ran: git sha and dirty flag, versions, device,
peak memory."""
from __future__ import annotations

import platform
import resource
import subprocess
from importlib import metadata
from pathlib import Path

import torch

PROJECT_ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("alignbench", "torch", "numpy", "scipy", "scikit-learn", "optuna", "numba", "pandas")


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def git_state() -> dict[str, object]:
    """{"sha": HEAD or None outside a checkout, "dirty": tracked files modified?}."""
    sha = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain", "--untracked-files=no") if sha else None
    return {"sha": sha, "dirty": bool(status) if status is not None else None}


def versions() -> dict[str, str | None]:
    found: dict[str, str | None] = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = None
    return found


def describe_device(device: torch.device) -> dict[str, object]:
    if device.type == "cuda":
        return {"type": "cuda", "name": torch.cuda.get_device_name(device), "torch_cuda": torch.version.cuda}
    return {"type": "cpu", "name": platform.processor() or platform.machine(), "threads": torch.get_num_threads()}


def peak_memory_mb(device: torch.device) -> dict[str, float]:
    """Peak resident memory of this process (and peak CUDA allocation on a GPU), in MiB."""
    peak = {"host_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0}
    if device.type == "cuda":
        peak["cuda_allocated_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return peak


def environment(device: torch.device) -> dict[str, object]:
    return {"git": git_state(), "versions": versions(), "device": describe_device(device),
            "platform": platform.platform()}
