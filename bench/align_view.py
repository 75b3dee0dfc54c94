"""``bench align``: what a trained model does to two videos, as one PNG.

The run's encoder (restored from model.pt) embeds every frame of videos A and B; hard DTW
(``bench.align.dtw``) aligns them on the Euclidean cost C[i, j] = ||a_i - b_j||_2, as the
protocol's DTW accuracy and alignment error do. The picture:

- two rows of frames: evenly spaced frames of A, and under each the frame of B the path
  matches it to (the middle one where the path holds i against several j), with its phase;
- the cost matrix with the DTW path over it;
- where the dataset has canonical time (synthetic), beside it the ground-truth cost
  |c_A[i] - c_B[j]| with its own DTW path (the true alignment) and the embedding's path over it,
  titled with this pair's alignment error (mean |c_A[i] - c_B[j]| over the path, per frame of A,
  in percent of the action; ``bench.protocol.alignment.matched_time_error``).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.spatial.distance import cdist

from bench.align.dtw import dtw_path
from bench.errors import UnknownNameError
from bench.figures import plt, save_figure
from bench.protocol.alignment import matched_time_error
from bench.reevaluate import TrainedRun, open_trained_run
from bench.store import Video


@dataclass(frozen=True)
class Alignment:
    path: np.ndarray
    """(K, 2) cells (i, j) of the DTW path on the embeddings."""
    cost: np.ndarray
    truth_cost: np.ndarray | None
    truth_path: np.ndarray | None
    error: float | None
    """Alignment error of ``path`` against canonical time, percent; None without ground truth."""


def load_video(trained: TrainedRun, video_id: str) -> Video:
    if video_id not in trained.store.manifest["videos"]:
        known = sorted(trained.store.manifest["videos"])
        raise UnknownNameError(f"no video '{video_id}' in {trained.store.name} (run {trained.record['run_id'][:8]}); "
                               f"known ids include {', '.join(known[:6])} (see {trained.store.root / 'manifest.json'})")
    return trained.store.video(video_id)


def embed(trained: TrainedRun, video: Video) -> np.ndarray:
    return np.asarray(trained.encoder_for(video.action).embed_video(video.frames, trained.device), dtype=np.float64)


def align(emb_a: np.ndarray, emb_b: np.ndarray, time_a: np.ndarray | None, time_b: np.ndarray | None) -> Alignment:
    """The DTW path on the embeddings and, with canonical times, the true path and the error."""
    cost = cdist(emb_a, emb_b, "euclidean")
    path = dtw_path(cost)[0]
    if time_a is None or time_b is None:
        return Alignment(path, cost, None, None, None)
    time_a, time_b = np.asarray(time_a, dtype=np.float64), np.asarray(time_b, dtype=np.float64)
    truth_cost = np.abs(time_a[:, None] - time_b[None, :])
    return Alignment(path, cost, truth_cost, dtw_path(truth_cost)[0], 100.0 * matched_time_error(time_a, time_b, path))


def matched_frames(path: np.ndarray, shown: np.ndarray) -> np.ndarray:
    """For each frame i of A in ``shown``, the middle frame of B the path matches it to."""
    return np.array([int(np.median(path[path[:, 0] == i, 1])) for i in shown], dtype=int)


def phase_name(trained: TrainedRun, video: Video, frame: int) -> str:
    label = int(video.labels[frame])
    return trained.store.phases(video.action)[label] if label >= 0 else "unlabelled"


def _thumbnail(ax, image: np.ndarray, title: str) -> None:
    ax.imshow(image)
    ax.set_title(title, fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])


def _matrix(ax, matrix: np.ndarray, paths: list[tuple[np.ndarray, str, str]], title: str, a: str, b: str) -> None:
    ax.imshow(matrix, origin="upper", aspect="auto", cmap="viridis")
    for path, colour, name in paths:
        ax.plot(path[:, 1], path[:, 0], color=colour, linewidth=1.2, label=name)
    ax.set_xlabel(f"frame of {b}")
    ax.set_ylabel(f"frame of {a}")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="lower left")


def draw_alignment(trained: TrainedRun, video_a: Video, video_b: Video, result: Alignment, out: Path,
                   shown_frames: int = 8) -> Path:
    shown = np.unique(np.linspace(0, len(video_a.labels) - 1, shown_frames).round().astype(int))
    matched = matched_frames(result.path, shown)
    panels = 2 if result.truth_cost is not None else 1
    fig = plt.figure(figsize=(max(8.0, 1.2 * len(shown)), 8.5))
    grid = fig.add_gridspec(3, max(len(shown), 2), height_ratios=[1, 1, 3.2])
    for k, (i, j) in enumerate(zip(shown, matched)):
        _thumbnail(fig.add_subplot(grid[0, k]), video_a.frames[i], f"{video_a.video_id} {i}\n{phase_name(trained, video_a, i)}")
        _thumbnail(fig.add_subplot(grid[1, k]), video_b.frames[j], f"{video_b.video_id} {j}\n{phase_name(trained, video_b, j)}")
    columns = max(len(shown), 2)
    half = columns // panels
    _matrix(fig.add_subplot(grid[2, :half]), result.cost, [(result.path, "white", "DTW path")],
            "embedding cost ||a_i - b_j||", video_a.video_id, video_b.video_id)
    if result.truth_cost is not None:
        _matrix(fig.add_subplot(grid[2, half:]), result.truth_cost,
                [(result.truth_path, "red", "ground truth"), (result.path, "white", "DTW path")],
                f"canonical time |c_a - c_b|: alignment error {result.error:.2f} %", video_a.video_id, video_b.video_id)
    fig.suptitle(f"{trained.record['label']} (run {trained.record['run_id'][:8]}, seed {trained.record['seed']}): "
                 f"{video_a.video_id} aligned to {video_b.video_id}", fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out)


def align_videos(run: str, video_a: str, video_b: str, results_root: Path, data_root: Path,
                 out: Path | None = None) -> tuple[Path, Alignment]:
    """Draw the alignment of two videos under a finished run's model; return the PNG and the result."""
    trained = open_trained_run(run, results_root, data_root)
    first, second = load_video(trained, video_a), load_video(trained, video_b)
    result = align(embed(trained, first), embed(trained, second), first.canonical_time, second.canonical_time)
    out = out or Path(results_root) / "figures" / f"align_{trained.record['run_id'][:8]}_{video_a}_{video_b}.png"
    return draw_alignment(trained, first, second, result, out), result
