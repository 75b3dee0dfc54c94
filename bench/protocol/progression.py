"""Phase progression: how linearly the embedding encodes the time since each key event.

Dwibedi et al., "Temporal Cycle-Consistency Learning", CVPR 2019 (and its code). A key
event k of a video of length L sits at frame t_k; the target of frame t for event k is

    y_k(t) = (t - t_k) / L,

one regressor per event maps the embedding x_t to y_k(t), and its score is R^2 on the
evaluation frames,

    R^2_k = 1 - sum_t (y_k(t) - f_k(x_t))^2 / sum_t (y_k(t) - mean(y_k))^2;

progression = 100 * mean_k R^2_k over the events that can be scored. A video that lacks
event k contributes no frames to target k. Frames labelled -1 give no rows, but t and L
count every frame of the video.

Events (``progression_events``):

- ``phase_starts`` (the ``bench`` protocol): the events of a video are its phase boundaries,
  the first frame of every phase after the video's first phase, keyed by that phase's id; so
  the value does not depend on how phase ids are numbered. Event k is a target when it
  occurs in at least one training and one evaluation video.
- ``phase_ends`` (TCC's and CARL's code, ``regression_labels_for_class`` in
  evaluation/event_completion.py): event k, for k = 0 .. C-2, is the last frame labelled k,
  C the number of phase ids of the action (here: the highest id seen + 1).

Regressors (``progression_regressor``):

- ``ridge_cv`` (``bench``): per target, the embeddings are standardised with the mean and
  population standard deviation (ddof 0) of the target's training rows (a zero deviation
  counts as 1); ridge regression with an unpenalised intercept, minimising
  sum (y - b - x.w)^2 + alpha ||w||^2 (sklearn's Ridge), alpha chosen from ``ALPHAS`` by
  leave-one-video-out cross-validation over the training videos having the event (least
  squared error pooled over every held-out frame; errors within a relative 1e-12 tie and
  the larger alpha wins; with fewer than two videos alpha = 1), then refitted on all of them.
  Unregularised least squares on a few hundred frames of 128-dimensional embeddings
  extrapolates without bound (R^2 of -1e6 on the synthetic leaderboard).
- ``linear``: unregularised least squares with intercept (sklearn's LinearRegression), as
  the papers' code.

R^2 of a target whose evaluation targets are constant is undefined and skipped.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.linear_model import LinearRegression
from sklearn.metrics import r2_score

from bench.protocol.config import ProtocolConfig, VideoEmbedding

ALPHAS = (1e-3, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1000.0)
"""The ridge strengths the cross-validation chooses from (PROTOCOL.md)."""

TIE_TOLERANCE = 1e-12


def phase_start_events(labels: np.ndarray) -> dict[int, int]:
    """{phase id: its first frame} for every phase after the video's first labelled phase."""
    labels = np.asarray(labels)
    labelled = np.flatnonzero(labels != -1)
    if len(labelled) == 0:
        return {}
    first_phase = int(labels[labelled[0]])
    ids, firsts = np.unique(labels[labelled], return_index=True)
    return {int(k): int(labelled[i]) for k, i in zip(ids, firsts) if k != first_phase}


def phase_end_events(labels: np.ndarray, num_phases: int) -> dict[int, int]:
    """{k: last frame labelled k} for k = 0 .. num_phases - 2 present in the video."""
    labels = np.asarray(labels)
    out = {}
    for k in range(num_phases - 1):
        hits = np.flatnonzero(labels == k)
        if len(hits):
            out[k] = int(hits[-1])
    return out


def video_events(videos: list[VideoEmbedding], cfg: ProtocolConfig, num_phases: int) -> list[dict[int, int]]:
    if cfg.progression_events == "phase_ends":
        return [phase_end_events(v.labels, num_phases) for v in videos]
    return [phase_start_events(v.labels) for v in videos]


def event_rows(video: VideoEmbedding, frame: int) -> tuple[np.ndarray, np.ndarray]:
    """Embeddings and targets (t - frame) / L of the video's labelled frames."""
    labels = np.asarray(video.labels)
    keep = np.flatnonzero(labels != -1)
    return np.asarray(video.embedding, dtype=np.float64)[keep], (keep - frame) / len(labels)


def standardiser(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population standard deviation per dimension (a zero deviation counts as 1)."""
    scale = x.std(axis=0)
    return x.mean(axis=0), np.where(scale == 0, 1.0, scale)


@dataclass
class RidgeStatistics:
    """Sufficient statistics of rows (X, y), so that the statistics of a union of videos are a sum.

    Ridge with an unpenalised intercept on rows (X, y): centre by the union's means,
    w = (Xc'Xc + alpha I)^-1 Xc'yc, b = mean(y) - mean(X).w, where Xc'Xc = S - n m m' and
    Xc'yc = s - n m mean(y) from S = X'X, s = X'y, the sums and n. Solving through the
    eigendecomposition of Xc'Xc gives every alpha of the grid from one factorisation.
    """

    n: int
    sum_x: np.ndarray
    sum_y: float
    xx: np.ndarray
    xy: np.ndarray

    @classmethod
    def of(cls, x: np.ndarray, y: np.ndarray) -> RidgeStatistics:
        return cls(len(y), x.sum(axis=0), float(y.sum()), x.T @ x, x.T @ y)

    def __add__(self, other: RidgeStatistics) -> RidgeStatistics:
        return RidgeStatistics(self.n + other.n, self.sum_x + other.sum_x, self.sum_y + other.sum_y,
                               self.xx + other.xx, self.xy + other.xy)

    def __sub__(self, other: RidgeStatistics) -> RidgeStatistics:
        return RidgeStatistics(self.n - other.n, self.sum_x - other.sum_x, self.sum_y - other.sum_y,
                               self.xx - other.xx, self.xy - other.xy)

    def solve(self, alphas: tuple[float, ...]) -> list[tuple[np.ndarray, float]]:
        """(w, b) for each alpha."""
        mean_x, mean_y = self.sum_x / self.n, self.sum_y / self.n
        gram = self.xx - self.n * np.outer(mean_x, mean_x)
        cross = self.xy - self.n * mean_x * mean_y
        values, vectors = np.linalg.eigh((gram + gram.T) / 2)
        projected = vectors.T @ cross
        out = []
        for alpha in alphas:
            w = vectors @ (projected / (np.maximum(values, 0.0) + alpha))
            out.append((w, mean_y - float(mean_x @ w)))
        return out


def choose_alpha(rows: list[tuple[np.ndarray, np.ndarray]]) -> float:
    """The ALPHAS entry with the least pooled leave-one-video-out squared error (ties: larger)."""
    if len(rows) < 2:
        return 1.0
    parts = [RidgeStatistics.of(x, y) for x, y in rows]
    total = sum(parts[1:], parts[0])
    errors = np.zeros(len(ALPHAS))
    for (x, y), part in zip(rows, parts):
        for index, (w, b) in enumerate((total - part).solve(ALPHAS)):
            errors[index] += float(np.sum((y - x @ w - b) ** 2))
    best = errors.min()
    tied = np.flatnonzero(errors <= best + TIE_TOLERANCE * abs(best))
    return ALPHAS[int(tied.max())]


def ridge_cv_predict(rows: list[tuple[np.ndarray, np.ndarray]], x_eval: np.ndarray) -> np.ndarray:
    """Standardise, choose alpha by leave-one-video-out, refit on every row, predict x_eval."""
    mean, scale = standardiser(np.concatenate([x for x, _ in rows]))
    rows = [((x - mean) / scale, y) for x, y in rows]
    alpha = choose_alpha(rows)
    parts = [RidgeStatistics.of(x, y) for x, y in rows]
    (w, b), = sum(parts[1:], parts[0]).solve((alpha,))
    return (x_eval - mean) / scale @ w + b


def linear_predict(rows: list[tuple[np.ndarray, np.ndarray]], x_eval: np.ndarray) -> np.ndarray:
    model = LinearRegression().fit(np.concatenate([x for x, _ in rows]), np.concatenate([y for _, y in rows]))
    return model.predict(x_eval)


def phase_progression(train: list[VideoEmbedding], evaluation: list[VideoEmbedding],
                      cfg: ProtocolConfig | None = None) -> float:
    """progression (percent): mean R^2 over the key events of one action's videos; NaN if none can be scored."""
    cfg = cfg or ProtocolConfig()
    num_phases = 1 + max((int(np.max(v.labels)) for v in train + evaluation if len(v.labels)), default=-1)
    train_events, eval_events = video_events(train, cfg, num_phases), video_events(evaluation, cfg, num_phases)
    predict = ridge_cv_predict if cfg.progression_regressor == "ridge_cv" else linear_predict
    targets = sorted(set().union(*train_events) & set().union(*eval_events))
    scores = []
    for k in targets:
        rows = [event_rows(v, e[k]) for v, e in zip(train, train_events) if k in e]
        rows = [(x, y) for x, y in rows if len(y)]
        held = [event_rows(v, e[k]) for v, e in zip(evaluation, eval_events) if k in e]
        x_eval, y_eval = np.concatenate([x for x, _ in held]), np.concatenate([y for _, y in held])
        if not rows or len(y_eval) == 0 or np.ptp(y_eval) == 0:
            continue
        scores.append(r2_score(y_eval, predict(rows, x_eval)))
    return 100.0 * float(np.mean(scores)) if scores else float("nan")
