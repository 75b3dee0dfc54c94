"""Pictures people would rather look at than read: training curves (more in report.py)."""
from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def save_figure(fig: plt.Figure, path: Path) -> Path:
    """Save atomically (temp file, then rename) and close the figure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, path)
    return path


def plot_training_curve(loss_log: list[dict[str, float]], path: Path, title: str) -> Path:
    """Every loss part against the step, raw (faint) and as a moving average."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    steps = np.array([r["step"] for r in loss_log])
    parts = [k for k in loss_log[0] if k not in ("step", "lr")] if loss_log else []
    window = max(1, len(steps) // 20)
    for name in parts:
        values = np.array([r[name] for r in loss_log])
        line, = ax.plot(steps, values, alpha=0.25, linewidth=0.8)
        smooth = np.convolve(values, np.ones(window) / window, mode="valid")
        ax.plot(steps[window - 1:], smooth, color=line.get_color(), label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    if parts:
        ax.legend(fontsize=8)
    return save_figure(fig, path)
