"""The evaluation protocol's config, its named presets and the per-video embedding record.

``bench`` is the canonical protocol (docs/PROTOCOL.md); ``tcc``, ``carl`` and ``lav``
reproduce what those papers' evaluation code computes (each field's docstring in
``PRESET_SOURCES`` names the file it follows). A preset is a set of field values applied
before the dataset's and the user's values; every run record names the preset and stores
every resolved field.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from bench.bounds import bounded

HEADLINE_METRICS = ("classification@0.10", "classification@1.00", "progression",
                    "kendalls_tau", "ap@5", "dtw_accuracy")
"""The leaderboard columns and the default tuning objective (their mean), in percent."""

LOWER_IS_BETTER = ("alignment_error_dtw", "alignment_error_nn")


@dataclass
class ProtocolConfig:
    name: Literal["bench", "tcc", "carl", "lav"] = "bench"
    drop_unlabelled: bool = False
    """Remove frames labelled -1 from every video before every metric (CARL's loader does);
    otherwise they are only left out of the labelled metrics and still count in time."""
    classifier: Literal["svc", "logreg"] = "svc"
    svc_c: float = bounded(1.0, gt=0)
    svc_gamma: Literal["centred_scale", "scale"] = "centred_scale"
    classifier_fit_split: Literal["train", "evaluation"] = "train"
    """Where classification and few-shot take their labelled videos. "evaluation" is the LAV
    code's leak (the classifier is fitted on the videos it is scored on); only ``lav`` sets it."""
    fractions: tuple[float, ...] = bounded((0.10, 0.25, 0.50, 0.75, 1.00), gt=0, le=1)
    fraction_count: Literal["ceil", "floor"] = "ceil"
    """Videos per fraction: max(1, ceil(f N)) or, as every paper's code, max(1, floor(f N))."""
    fraction_selection: Literal["random", "first"] = "random"
    fraction_draws: int = bounded(5, ge=1)
    few_shot: tuple[int, ...] = bounded((1, 2, 5, 10), ge=1)
    few_shot_episodes: int = bounded(50, ge=1)
    tau_stride: int = bounded(5, ge=1)
    ap_stride: int = bounded(5, ge=1)
    ap_ks: tuple[int, ...] = bounded((1, 5, 10, 15), ge=1)
    ap_pool: Literal["other_videos", "own_video"] = "other_videos"
    """AP@K neighbours: the sampled frames of the other evaluation videos (CARL), or the
    query's own video with the query itself counted (the LAV code)."""
    progression: bool = True
    progression_events: Literal["phase_starts", "phase_ends"] = "phase_starts"
    """Key events: the first frame of every phase after the video's first phase, keyed by phase
    id; or, as TCC's and CARL's code, the last frame of phase k for k = 0 .. C-2."""
    progression_regressor: Literal["ridge_cv", "linear"] = "ridge_cv"
    kendalls_tau: bool = True
    dtw_accuracy: bool = True
    alignment_error: bool = True


_PAPER_CODE = {"fraction_count": "floor", "fraction_selection": "first", "fraction_draws": 1,
               "fractions": (0.10, 0.50, 1.00), "svc_gamma": "scale",
               "progression_events": "phase_ends", "progression_regressor": "linear"}

PRESETS: dict[str, dict[str, Any]] = {
    "bench": {},
    "tcc": dict(_PAPER_CODE),
    "carl": {**_PAPER_CODE, "classifier": "logreg", "drop_unlabelled": True},
    "lav": {**_PAPER_CODE, "classifier_fit_split": "evaluation", "ap_pool": "own_video", "ap_stride": 1,
            "ap_ks": (5, 10, 15), "progression": False},
}
"""Field values of each preset, applied before the dataset's and the user's values."""

PRESET_DESCRIPTIONS: dict[str, str] = {
    "bench": "The harness's canonical protocol (docs/PROTOCOL.md): random seeded label fractions, ridge "
             "progression on phase starts, CARL's cross-video AP@K.",
    "tcc": "TCC's evaluation code (google-research tcc/evaluation): SVC with sklearn's gamma, the first "
           "floor(f N) training videos, unregularised progression on phase ends.",
    "carl": "CARL's evaluation code (CARL_code evaluation/), which LRProp states and LAC runs: multinomial "
            "logistic regression, -1 frames removed before every metric, TCC's counts and progression.",
    "lav": "LAV's evaluation code (LAV-CVPR21 evals/): the SVC is fitted on the evaluation videos themselves "
           "(a leak: its classification numbers are not held-out accuracies), AP@K within the query's own video.",
}

PAPER_PRESETS = {"tcc": "tcc", "carl": "carl", "scl": "carl", "lrprop": "carl", "lac": "carl", "lav": "lav"}
"""Each paper's tables were computed with this preset's code: LRProp publishes no code and
states SCL's (CARL's) protocol; LAC evaluates with CARL's code."""

LEAKY_PRESETS = ("lav",)
"""Presets whose classification is fitted on the evaluation videos; every report says so."""


@dataclass
class VideoEmbedding:
    """A video's frozen per-frame embeddings and its labels, the protocol's only input.

    embedding: (L, D) float32; labels: (L,) int, -1 = unlabelled; canonical_time: (L,) in
    [0, 1] where the dataset has ground truth (synthetic), else None.
    """

    video_id: str
    action: str
    embedding: np.ndarray
    labels: np.ndarray
    canonical_time: np.ndarray | None = None

    def labelled_only(self) -> VideoEmbedding:
        """This video without its frames labelled -1 (the ``carl`` preset's input)."""
        keep = np.asarray(self.labels) != -1
        time = None if self.canonical_time is None else np.asarray(self.canonical_time)[keep]
        return VideoEmbedding(self.video_id, self.action, np.asarray(self.embedding)[keep],
                              np.asarray(self.labels)[keep], time)

    @property
    def has_labels(self) -> bool:
        return bool((np.asarray(self.labels) != -1).any())
