"""Alignment quality of embeddings: DTW accuracy and ground-truth alignment error.

Both align two videos' full embeddings (every frame) by hard DTW (``bench.align.dtw``) on the
Euclidean (not squared) distance matrix C[i, j] = ||a_i - b_j||_2. One path is computed per
unordered pair {A, B} (A before B in split order); the path of (B, A) is its transpose, which
is an optimal path of the transposed cost (tie-breaking aside).

dtw_accuracy (LRProp's metric: "Weakly-supervised Representation Learning for Video Alignment
and Analysis", WACV 2024): for each unordered pair, the fraction of path cells (i, j) with
y_A[i] == y_B[j], over the cells where neither label is -1 (a pair with no such cell is
dropped); 100 * the mean over pairs.

alignment_error (this harness's metric; it needs the canonical time c in [0, 1] that only
the synthetic dataset has): for every ordered pair (A, B) and each frame i of A, with M(i)
the frames of B matched to i,

    e_AB = mean_i mean_{j in M(i)} | c_A[i] - c_B[j] |,

every matched pair counted on its own: comparing c_A[i] with the mean of the matched times
instead would hide a frame matched to frames on both sides of its true time.
alignment_error = 100 * mean over ordered pairs of e_AB, in percent of the action's duration,
lower is better. ``alignment_error_dtw`` takes M(i) from the DTW path;
``alignment_error_nn`` takes M(i) = {nearest neighbour of a_i in B} (squared Euclidean, which
has the same argmin).
"""
from __future__ import annotations

import numpy as np
from scipy.spatial.distance import cdist

from bench.align.dtw import dtw_path
from bench.protocol.config import VideoEmbedding
from bench.protocol.retrieval import nan_mean, nearest_neighbours

PairPaths = list[tuple[int, int, np.ndarray]]


def dtw_paths(evaluation: list[VideoEmbedding]) -> PairPaths:
    """(a, b, path) for every unordered pair a < b, the DTW path on the Euclidean cost."""
    embeddings = [np.asarray(v.embedding, dtype=np.float64) for v in evaluation]
    return [(a, b, dtw_path(cdist(embeddings[a], embeddings[b], "euclidean"))[0])
            for a in range(len(embeddings)) for b in range(a + 1, len(embeddings))]


def dtw_accuracy(evaluation: list[VideoEmbedding], paths: PairPaths | None = None) -> float:
    """DTW accuracy (percent) over every unordered pair of one action's evaluation videos."""
    paths = dtw_paths(evaluation) if paths is None else paths
    scores = []
    for a, b, path in paths:
        label_a = np.asarray(evaluation[a].labels)[path[:, 0]]
        label_b = np.asarray(evaluation[b].labels)[path[:, 1]]
        known = (label_a != -1) & (label_b != -1)
        scores.append(float(np.mean(label_a[known] == label_b[known])) if known.any() else float("nan"))
    return 100.0 * nan_mean(scores)


def matched_time_error(time_a: np.ndarray, time_b: np.ndarray, cells: np.ndarray) -> float:
    """mean_i mean_{(i, j) in cells} |time_a[i] - time_b[j]|; every i must occur in ``cells``."""
    counts = np.bincount(cells[:, 0], minlength=len(time_a))
    gaps = np.abs(time_a[cells[:, 0]] - time_b[cells[:, 1]])
    return float(np.mean(np.bincount(cells[:, 0], weights=gaps, minlength=len(time_a)) / counts))


def alignment_error(evaluation: list[VideoEmbedding], paths: PairPaths | None = None) -> dict[str, float]:
    """alignment_error_dtw and alignment_error_nn (percent) over every ordered pair; needs canonical_time."""
    paths = dtw_paths(evaluation) if paths is None else paths
    times = [np.asarray(v.canonical_time, dtype=np.float64) for v in evaluation]
    embeddings = [np.asarray(v.embedding, dtype=np.float64) for v in evaluation]
    dtw_errors = []
    for a, b, path in paths:
        dtw_errors.append(matched_time_error(times[a], times[b], path))
        dtw_errors.append(matched_time_error(times[b], times[a], path[:, ::-1]))
    nn_errors = []
    for a in range(len(evaluation)):
        for b in range(len(evaluation)):
            if a != b:
                neighbours = nearest_neighbours(embeddings[a], embeddings[b])
                cells = np.stack([np.arange(len(neighbours)), neighbours], axis=1)
                nn_errors.append(matched_time_error(times[a], times[b], cells))
    return {"alignment_error_dtw": 100.0 * nan_mean(dtw_errors),
            "alignment_error_nn": 100.0 * nan_mean(nn_errors)}
