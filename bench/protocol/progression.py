"""Phase progression: how linearly the embedding encodes the time since each key event.

Dwibedi et al., "Temporal Cycle-Consistency Learning", CVPR 2019 (and its code). Key event k
(k >= 1, a phase index of the action seen in the training labels) of a video of length L
is the first frame t_k labelled k; the target of frame t for event k is

    y_k(t) = (t - t_k) / L.

One unregularised least-squares LinearRegression (with intercept) per event, fitted on the
labelled frames of the training videos that have that event, maps the embedding x_t to
y_k(t); its score is R^2 on the labelled frames of the evaluation videos that have the event,

    R^2_k = 1 - sum_t (y_k(t) - f_k(x_t))^2 / sum_t (y_k(t) - mean(y_k))^2,

and progression = 100 * mean_k R^2_k over the events that can be scored (at least one
training frame, at least two evaluation frames with distinct targets). A joint regression
onto all targets is the same as one per target for unregularised least squares; separate
fits let a video lacking event k contribute no frames to target k only.

Departures from the papers' code: TCC's code takes the last frame of phase k-1 as the event
(one frame earlier for contiguous phases); CARL's code crashes when a video lacks a phase;
the LAV code has the metric commented out.
Frames labelled -1 are dropped on both sides (the protocol's rule for labelled metrics),
but t and L count every frame of the video.
"""
from __future__ import annotations

import numpy as np
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score

from bench.protocol.config import VideoEmbedding


def event_frame(labels: np.ndarray, event: int) -> int | None:
    """The first frame labelled ``event``, or None when the video lacks that phase."""
    hits = np.flatnonzero(labels == event)
    return int(hits[0]) if len(hits) else None


def progression_frames(videos: list[VideoEmbedding], event: int) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings (F, D) and targets (F,) of the labelled frames of the videos that have ``event``."""
    features, targets = [], []
    for video in videos:
        labels = np.asarray(video.labels)
        start = event_frame(labels, event)
        if start is None:
            continue
        keep = labels != -1
        frames = np.arange(len(labels))[keep]
        features.append(np.asarray(video.embedding, dtype=np.float64)[keep])
        targets.append((frames - start) / len(labels))
    if not features:
        return np.empty((0, videos[0].embedding.shape[1] if videos else 0)), np.empty(0)
    return np.concatenate(features), np.concatenate(targets)


def phase_progression(train: list[VideoEmbedding], evaluation: list[VideoEmbedding]) -> float:
    """progression (percent): mean R^2 over the key events of one action's videos; NaN if none can be scored."""
    events = sorted({int(k) for v in train for k in np.unique(v.labels) if k >= 1})
    scores = []
    for event in events:
        x_train, y_train = progression_frames(train, event)
        x_eval, y_eval = progression_frames(evaluation, event)
        if len(y_train) == 0 or len(y_eval) < 2 or np.ptp(y_eval) == 0:
            continue
        model = LinearRegression().fit(x_train, y_train)
        scores.append(r2_score(y_eval, model.predict(x_eval)))
    return 100.0 * float(np.mean(scores)) if scores else float("nan")
