"""Pictures people would rather look at than read: training curves (more in report.py)."""
from __future__ import annotations

import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bench.atomic import temporary_sibling  # noqa: E402


def save_figure(fig: plt.Figure, path: Path, dpi: float | None = 110, bbox_inches: str | None = "tight") -> Path:
    """Save atomically (a temporary name unique to this process, then rename) in the format
    of ``path``'s suffix, and close the figure."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(path)
    try:
        fig.savefig(tmp, format=path.suffix.lstrip(".") or "png", dpi=dpi, bbox_inches=bbox_inches)
        os.replace(tmp, path)
    finally:
        plt.close(fig)
        tmp.unlink(missing_ok=True)
    return path


def curves(loss_log: list[dict]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """name -> (steps, values): every loss part, or, where rows carry an ``action`` (one model
    per action), each action's total loss."""
    if loss_log and "action" in loss_log[0]:
        actions = dict.fromkeys(r["action"] for r in loss_log)
        return {a: (np.array([r["step"] for r in loss_log if r["action"] == a]),
                    np.array([r["loss"] for r in loss_log if r["action"] == a])) for a in actions}
    steps = np.array([r["step"] for r in loss_log])
    parts = [k for k in loss_log[0] if k not in ("step", "lr")] if loss_log else []
    return {name: (steps, np.array([r[name] for r in loss_log])) for name in parts}


def plot_training_curve(loss_log: list[dict], path: Path, title: str) -> Path:
    """Every loss part (or each per-action model's loss) against the step, raw (faint) and as a
    moving average."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    lines = curves(loss_log)
    for name, (steps, values) in lines.items():
        window = max(1, len(steps) // 20)
        line, = ax.plot(steps, values, alpha=0.25, linewidth=0.8)
        smooth = np.convolve(values, np.ones(window) / window, mode="valid")
        ax.plot(steps[window - 1:], smooth, color=line.get_color(), label=name)
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title)
    if lines:
        ax.legend(fontsize=8)
    return save_figure(fig, path)
