"""Phase classification from frozen embeddings: label fractions and few-shot episodes.

A classifier maps one frame's embedding to its phase label. It is fitted on every labelled
frame (label != -1) of a subset S of the training videos and scored on every labelled frame
of the evaluation videos of the same action:

    accuracy(S) = 100 * #{evaluation frames t : clf_S(x_t) == y_t} / #{labelled evaluation frames}

(pooled over frames, not averaged per video).

- classification@f (Dwibedi et al., "Temporal Cycle-Consistency Learning", CVPR 2019, and
  its code): |S| = max(1, ceil(f * N)) (``fraction_count="ceil"``, the ``bench`` protocol) or
  max(1, floor(f * N)) (``"floor"``, every paper's code: ``int(fraction * num_samples)`` in
  TCC's and CARL's evaluation/classification.py). ``fraction_selection="random"``: S is
  redrawn ``fraction_draws`` times from a seeded generator and the accuracies are averaged
  (``bench``); ``"first"`` takes the first videos in split order once (the paper presets).
- few_shot@n (TCC's few-shot protocol): |S| = n, ``few_shot_episodes`` seeded episodes; the
  mean and the half-width of its 95 % Student-t interval, t_{0.975, E-1} * s / sqrt(E), s the
  episodes' sample standard deviation (ddof 1). n > N is not an n-shot measurement: both
  keys are NaN then.

N counts the candidate videos that have at least one labelled frame: the caller passes only
those (``evaluate_action``), so one unlabelled training video cannot make a draw score NaN.
The candidates are the training videos, except under ``classifier_fit_split="evaluation"``
(the ``lav`` preset), which fits on the evaluation videos themselves as the LAV code does
(evals/phase_classification.py, called with train = val in evaluations.py): a leak, kept to
show what it adds.

Classifier: ``svc`` = sklearn SVC(kernel="rbf", C=svc_c) as in TCC's and LAV's code (their
``decision_function_shape="ovo"`` changes no prediction: SVC always predicts by one-vs-one votes);
``logreg`` = LogisticRegression(lbfgs, multinomial, C=1, max_iter=10000) as in the CARL code
(Chen et al., "Frame-wise Action Representations for Long Videos via Sequence Contrastive
Learning", CVPR 2022), which the ``carl`` preset selects. A subset whose labelled frames hold
a single phase cannot fit either model; it predicts that phase for every frame. A subset
with no labelled frame (or an evaluation split with none) scores NaN.

The fitted classifier depends only on the set S, so ``SubsetScorer`` caches the accuracy per
S: the fraction 1.00 is fitted once whatever the number of draws, and episodes or draws that
repeat a subset are not refitted. The SVC is fitted on its precomputed RBF kernel
exp(-gamma * ||x_i - x_j||^2), gamma = 1 / (D * v) (1 when v is 0), from squared distances computed once per action (by cdist; per subset
when the action has too many frames to hold them): the same model as SVC(kernel="rbf") up to
floating-point rounding (tested), and it halves the protocol's time on the synthetic suite.

The RBF width v (``svc_gamma``): "scale" is sklearn's default, v = Var(X_S) over every entry
of the matrix, which counts the spread of the per-dimension means as if it were signal: for
embeddings with small per-frame variation around large per-dimension offsets it makes the
kernel nearly constant, and the SVC predicts the majority phase whatever the embedding
encodes (measured: TCC, LAV, LRProp and LAC on the synthetic suite sat at the majority
class). "centred_scale", the ``bench`` protocol's choice, is "scale" on centred features,
v = mean_d Var(X_S[:, d]): invariant to translating the embedding, like the RBF kernel
itself, and equal to "scale" when the dimensions share one mean. The paper presets keep
sklearn's "scale".
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import scipy.stats
import sklearn
from scipy.spatial.distance import cdist
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC

from bench.protocol.config import ProtocolConfig, VideoEmbedding

DISTANCE_CACHE_ENTRIES = 2**24
"""Largest train x (train + evaluation) squared-distance table kept per action (128 MiB)."""


@dataclass
class LabelledFrames:
    """The labelled frames of a list of videos, stacked: video v owns rows offsets[v]:offsets[v+1]."""

    features: np.ndarray
    labels: np.ndarray
    offsets: np.ndarray

    @classmethod
    def of(cls, videos: list[VideoEmbedding]) -> LabelledFrames:
        keep = [np.asarray(v.labels) != -1 for v in videos]
        features = [np.asarray(v.embedding, dtype=np.float64)[k] for v, k in zip(videos, keep)]
        labels = [np.asarray(v.labels, dtype=np.int64)[k] for v, k in zip(videos, keep)]
        offsets = np.concatenate([[0], np.cumsum([len(y) for y in labels])]).astype(np.int64)
        return cls(np.concatenate(features), np.concatenate(labels), offsets)

    def rows(self, videos: tuple[int, ...]) -> np.ndarray:
        return np.concatenate([np.arange(self.offsets[v], self.offsets[v + 1]) for v in videos])


class SubsetScorer:
    """Accuracy (percent) on the evaluation frames of a classifier fitted on a training subset, cached."""

    def __init__(self, train: list[VideoEmbedding], evaluation: list[VideoEmbedding], cfg: ProtocolConfig):
        self.train = LabelledFrames.of(train)
        self.evaluation = LabelledFrames.of(evaluation)
        self.cfg = cfg
        self.fits = 0
        self._cache: dict[tuple[int, ...], float] = {}
        self._distances: tuple[np.ndarray, np.ndarray] | None = None
        frames = len(self.train.labels)
        if cfg.classifier == "svc" and frames * (frames + len(self.evaluation.labels)) <= DISTANCE_CACHE_ENTRIES:
            self._distances = self._squared_distances(np.arange(frames))

    @property
    def num_train(self) -> int:
        return len(self.train.offsets) - 1

    def accuracy(self, videos: tuple[int, ...]) -> float:
        key = tuple(sorted(int(v) for v in videos))
        if key not in self._cache:
            self._cache[key] = self._score(key)
        return self._cache[key]

    def _squared_distances(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(train rows x train rows, evaluation x train rows) squared Euclidean distances."""
        if self._distances is not None:
            within, across = self._distances
            return within[np.ix_(rows, rows)], across[:, rows]
        x = self.train.features[rows]
        return cdist(x, x, "sqeuclidean"), cdist(self.evaluation.features, x, "sqeuclidean")

    def _predict(self, rows: np.ndarray) -> np.ndarray:
        x, y = self.train.features[rows], self.train.labels[rows]
        if self.cfg.classifier == "logreg":
            model = LogisticRegression(C=1.0, solver="lbfgs", max_iter=10_000).fit(x, y)
            return model.predict(self.evaluation.features)
        variance = x.var(axis=0).mean() if self.cfg.svc_gamma == "centred_scale" else x.var()
        gamma = 1.0 / (x.shape[1] * variance) if variance != 0 else 1.0
        within, across = self._squared_distances(rows)
        with sklearn.config_context(assume_finite=True):  # finite by construction; skips two full scans
            model = SVC(kernel="precomputed", C=self.cfg.svc_c).fit(np.exp(-gamma * within, out=within), y)
            return model.predict(np.exp(-gamma * across, out=across))

    def _score(self, videos: tuple[int, ...]) -> float:
        rows = self.train.rows(videos)
        if len(rows) == 0 or len(self.evaluation.labels) == 0:
            return float("nan")
        classes = np.unique(self.train.labels[rows])
        if len(classes) == 1:
            predicted = np.full(len(self.evaluation.labels), classes[0])
        else:
            self.fits += 1
            predicted = self._predict(rows)
        return 100.0 * float(np.mean(predicted == self.evaluation.labels))


def fraction_video_count(fraction: float, total: int, rounding: str) -> int:
    """max(1, ceil(f N)) (1e-9 absorbs 0.7 * 10 = 7.000000000000001) or, as the papers' code
    computes it, max(1, int(f * N))."""
    if rounding == "ceil":
        return max(1, math.ceil(fraction * total - 1e-9))
    return max(1, int(fraction * total))


def fraction_key(fraction: float) -> str:
    return f"classification@{fraction:.2f}"


def phase_classification(train: list[VideoEmbedding], evaluation: list[VideoEmbedding], cfg: ProtocolConfig,
                         seed: int, scorer: SubsetScorer | None = None) -> dict[str, float]:
    """classification@f for every f in cfg.fractions (percent); one action's videos."""
    scorer = scorer or SubsetScorer(train, evaluation, cfg)
    n = scorer.num_train
    out = {}
    for fraction in cfg.fractions:
        count = fraction_video_count(fraction, n, cfg.fraction_count)
        if cfg.fraction_selection == "first":
            subsets = [tuple(range(count))]
        else:
            rng = np.random.default_rng([seed, 0, round(fraction * 10_000)])
            subsets = [tuple(rng.choice(n, size=count, replace=False)) for _ in range(cfg.fraction_draws)]
        out[fraction_key(fraction)] = float(np.mean([scorer.accuracy(s) for s in subsets]))
    return out


def few_shot(train: list[VideoEmbedding], evaluation: list[VideoEmbedding], cfg: ProtocolConfig,
             seed: int, scorer: SubsetScorer | None = None) -> dict[str, float]:
    """few_shot@n and few_shot@n_ci95 for every n in cfg.few_shot (percent); one action's videos."""
    scorer = scorer or SubsetScorer(train, evaluation, cfg)
    out = {}
    for shots in cfg.few_shot:
        mean = half_width = float("nan")
        if shots <= scorer.num_train:
            rng = np.random.default_rng([seed, 1, shots])
            scores = np.array([scorer.accuracy(tuple(rng.choice(scorer.num_train, size=shots, replace=False)))
                               for _ in range(cfg.few_shot_episodes)])
            mean = float(scores.mean())
            if len(scores) > 1:
                sem = scores.std(ddof=1) / math.sqrt(len(scores))
                half_width = float(scipy.stats.t.ppf(0.975, len(scores) - 1) * sem)
        out[f"few_shot@{shots}"] = mean
        out[f"few_shot@{shots}_ci95"] = half_width
    return out
