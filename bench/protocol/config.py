"""The evaluation protocol's config, its named presets and the per-video embedding record.

``bench`` is the canonical protocol (PROTOCOL.md); ``tcc`` and ``carl`` reproduce what those
papers' code computes. A preset is a set of field values applied before the user's
overrides; every run record names the preset and the resolved fields.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

HEADLINE_METRICS = ("classification@0.10", "classification@1.00", "progression",
                    "kendalls_tau", "ap@5", "dtw_accuracy")
"""The leaderboard columns and the default tuning objective (their mean), in percent."""

LOWER_IS_BETTER = ("alignment_error_dtw", "alignment_error_nn")


@dataclass
class ProtocolConfig:
    name: Literal["bench", "tcc", "carl"] = "bench"
    classifier: Literal["svc", "logreg"] = "svc"
    svc_c: float = 1.0
    svc_gamma: Literal["centred_scale", "scale"] = "centred_scale"
    fractions: tuple[float, ...] = (0.10, 0.25, 0.50, 0.75, 1.00)
    fraction_selection: Literal["random", "first"] = "random"
    fraction_draws: int = 5
    few_shot: tuple[int, ...] = (1, 2, 5, 10)
    few_shot_episodes: int = 50
    stride: int = 5
    ap_ks: tuple[int, ...] = (1, 5, 10, 15)
    progression: bool = True
    kendalls_tau: bool = True
    dtw_accuracy: bool = True
    alignment_error: bool = True


PRESETS: dict[str, dict[str, Any]] = {
    "bench": {},
    "tcc": {"fractions": (0.10, 0.50, 1.00), "fraction_selection": "first", "fraction_draws": 1,
            "svc_gamma": "scale"},
    "carl": {"classifier": "logreg", "svc_gamma": "scale", "fractions": (0.10, 0.50, 1.00), "fraction_selection": "first",
             "fraction_draws": 1},
}


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
