"""Label-free and labelled frame retrieval across videos: Kendall's tau and AP@K.

Both sample every ``stride``-th frame (frames 0, stride, 2*stride, ...) and rank frames by
squared Euclidean distance (scipy cdist). Ties go to the lower index: numpy's argmin for the
nearest neighbour, a stable sort over the pool (videos in split order, frames in time order)
for the K nearest.

kendalls_tau (Dwibedi et al., "Temporal Cycle-Consistency Learning", CVPR 2019, and its
code): for every ordered pair (A, B) of distinct videos, each sampled frame a_i of A gets
its nearest sampled frame of B, nn(i); tau_AB is scipy's tau-b between (i) and (nn(i)),

    tau_b = (P - Q) / sqrt((P + Q + T_x) (P + Q + T_y)),

P / Q the concordant / discordant pairs, T_x / T_y the pairs tied only in i / only in nn(i).
Pairs with an undefined tau (e.g. every frame mapped to one neighbour) are dropped; the
metric is 100 * the mean over the remaining pairs.

AP@K, in fact precision@K (the papers' name; the CARL code's version, Chen et al., CVPR
2022): every sampled labelled frame q of video V is a query; the pool is every sampled
labelled frame of the other videos; the score of q is the fraction of its K nearest pool
frames with q's phase label (of its min(K, |pool|) nearest when the pool is smaller, as the
CARL code's top-k slice does). AP@K = 100 * mean over videos of the mean over their queries.
Frames labelled -1 are neither queries nor pool (the stride grid is over all frames, then
-1 frames are dropped). With ``pool="own_video"`` (the ``lav`` preset, LAV-CVPR21
evals/phase_classification.py ``compute_ap``: NearestNeighbors fitted on the query's own
video, no stride) the pool is the query's own video, the query itself included, so the
nearest frame is the query; the ``bench`` protocol follows CARL.
"""
from __future__ import annotations

import numpy as np
import scipy.stats
from scipy.spatial.distance import cdist

from bench.protocol.config import VideoEmbedding


def nearest_neighbours(queries: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Index of each query's nearest candidate by squared Euclidean distance (lowest index on ties)."""
    return np.argmin(cdist(queries, candidates, "sqeuclidean"), axis=1)


def nan_mean(values: list[float]) -> float:
    """Mean of the finite values; NaN when there are none."""
    finite = [v for v in values if np.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def kendalls_tau(evaluation: list[VideoEmbedding], stride: int) -> float:
    """Kendall's tau (percent) over every ordered pair of one action's evaluation videos."""
    sampled = [np.asarray(v.embedding, dtype=np.float64)[::stride] for v in evaluation]
    taus = []
    for a, queries in enumerate(sampled):
        for b, candidates in enumerate(sampled):
            if a != b and len(queries) > 1:
                neighbours = nearest_neighbours(queries, candidates)
                taus.append(scipy.stats.kendalltau(np.arange(len(neighbours)), neighbours).statistic)
    return 100.0 * nan_mean(taus)


def precision_at_k(evaluation: list[VideoEmbedding], stride: int, ks: tuple[int, ...],
                   pool: str = "other_videos") -> dict[str, float]:
    """ap@K (percent) for every K in ``ks`` over one action's evaluation videos."""
    features, labels, owner = [], [], []
    for index, video in enumerate(evaluation):
        frame_labels = np.asarray(video.labels)[::stride]
        keep = frame_labels != -1
        features.append(np.asarray(video.embedding, dtype=np.float64)[::stride][keep])
        labels.append(frame_labels[keep])
        owner.append(np.full(int(keep.sum()), index))
    features, labels, owner = np.concatenate(features), np.concatenate(labels), np.concatenate(owner)
    distances = cdist(features, features, "sqeuclidean")
    per_video = {k: [] for k in ks}
    for index in range(len(evaluation)):
        query = owner == index
        candidates = query if pool == "own_video" else ~query
        if not query.any() or not candidates.any():
            continue
        order = np.argsort(distances[np.ix_(query, candidates)], axis=1, kind="stable")
        hits = labels[candidates][order] == labels[query][:, None]
        for k in ks:
            per_video[k].append(float(hits[:, :k].mean()))
    return {f"ap@{k}": 100.0 * nan_mean(per_video[k]) for k in ks}
