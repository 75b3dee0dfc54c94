"""The figures beside the paper pages (matplotlib, PNG): paper vs measured bars per table, a
leaderboard chart of the headline metrics, and the training curves of a suite's runs.

Every chart draws what the page's tables print (means, sample std over seeds as error bars),
in a fixed order, so the same records give the same pictures.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from bench.figures import plt, save_figure
from bench.papers.measured import Measurement

PAPER_COLOUR, MEASURED_COLOUR = "#4c72b0", "#dd8452"
FLOOR = -100.0
"""The lowest value drawn: an unregularised progression R² on poor features reaches -1e6 and
would flatten every other bar; bars below the floor are cut there and labelled with their value."""


def _bars(values: list[float]) -> np.ndarray:
    """Heights with NaN (absent) kept: matplotlib draws no bar and no error bar for them."""
    return np.asarray(values, dtype=float)


def clip_axis(ax, x: np.ndarray, heights: np.ndarray) -> None:
    """Limit the y axis to [max(FLOOR, lowest), 100 + margin]; label the bars cut at the floor."""
    finite = heights[np.isfinite(heights)]
    bottom = max(FLOOR, min(0.0, float(finite.min()) if len(finite) else 0.0))
    ax.set_ylim(bottom * 1.05 if bottom < 0 else 0.0, 105.0)
    for position, height in zip(x, heights):
        if np.isfinite(height) and height < bottom:
            ax.text(position, bottom * 0.95, f"{height:.1e}", rotation=90, fontsize=6, ha="center", va="bottom")


def plot_paper_vs_measured(panels: list[tuple[str, list[str], list[float], list[float], list[float]]],
                           path: Path, title: str, measured_on: str) -> Path:
    """One panel per metric: for each row, the paper's bar and the measured mean with its std.

    panels: (metric label, row names, paper values, measured means, measured stds); NaN = absent.
    """
    fig, axes = plt.subplots(len(panels), 1, figsize=(max(6.0, 0.9 * max(len(p[1]) for p in panels) + 2),
                                                      2.8 * len(panels)), squeeze=False)
    for ax, (metric, rows, paper, means, stds) in zip(axes[:, 0], panels):
        x = np.arange(len(rows))
        ax.bar(x - 0.2, _bars(paper), 0.4, color=PAPER_COLOUR, label="paper")
        ax.bar(x + 0.2, _bars(means), 0.4, yerr=_bars(stds), capsize=3, color=MEASURED_COLOUR,
               label=f"measured ({measured_on})")
        clip_axis(ax, np.concatenate([x - 0.2, x + 0.2]), np.concatenate([_bars(paper), _bars(means)]))
        ax.set_xticks(x, rows, rotation=20, ha="right", fontsize=8)
        ax.set_ylabel(metric, fontsize=8)
        ax.axhline(0, color="black", linewidth=0.5)
    axes[0, 0].set_title(title, fontsize=9)
    axes[0, 0].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    fig.tight_layout()
    return save_figure(fig, path)


def plot_leaderboard(measurements: list[Measurement], metrics: tuple[str, ...], path: Path, title: str) -> Path:
    """Grouped bars: one group per headline metric, one bar per run label, mean ± std over seeds."""
    fig, ax = plt.subplots(figsize=(max(7.0, 1.4 * len(metrics) + 0.3 * len(measurements)), 3.8))
    width = 0.8 / max(1, len(measurements))
    x = np.arange(len(metrics))
    colours = plt.get_cmap("tab20")
    positions, heights = [], []
    for i, measurement in enumerate(measurements):
        stats = [measurement.mean_std(metric) for metric in metrics]
        ax.bar(x - 0.4 + (i + 0.5) * width, _bars([m for m, _ in stats]), width, yerr=_bars([s for _, s in stats]),
               capsize=2, color=colours(i % 20), label=measurement.label)
        positions += list(x - 0.4 + (i + 0.5) * width)
        heights += [m for m, _ in stats]
    clip_axis(ax, np.array(positions), _bars(heights))
    ax.set_xticks(x, metrics, fontsize=8)
    ax.set_ylabel("percent")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, ncol=2, bbox_to_anchor=(1.01, 1), loc="upper left")
    return save_figure(fig, path)


def read_loss_log(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(steps, total loss) of one run's loss_log.csv, the mean over its per-action models where
    it has them (an ``action`` column); empty arrays for an untrained method."""
    with Path(path).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    by_step: dict[int, list[float]] = {}
    for row in rows:
        by_step.setdefault(int(row["step"]), []).append(float(row["loss"]))
    steps = np.array(sorted(by_step), dtype=int)
    return steps, np.array([np.mean(by_step[s]) for s in steps])


def plot_training_curves(measurements: list[Measurement], path: Path, title: str) -> Path:
    """Every run's total loss against the step on one axis, one colour per label (a moving
    average over 1/20 of the run; the seeds of a label share its colour)."""
    fig, ax = plt.subplots(figsize=(7, 4))
    colours = plt.get_cmap("tab10")
    positive = True
    for i, measurement in enumerate(measurements):
        for k, run in enumerate(sorted(measurement.runs, key=lambda r: r.record["seed"])):
            steps, loss = read_loss_log(run.directory / "loss_log.csv")
            if len(steps) == 0:
                continue
            window = max(1, len(steps) // 20)
            smooth = np.convolve(loss, np.ones(window) / window, mode="valid")
            positive = positive and bool((smooth > 0).all())
            ax.plot(steps[window - 1:], smooth, color=colours(i % 10), linewidth=1,
                    label=measurement.label if k == 0 else None)
    ax.set_yscale("log" if positive else "symlog")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (moving average)")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    return save_figure(fig, path)
