"""TCN: time-contrastive networks (Sermanet et al., "Time-Contrastive Networks:
Self-Supervised Learning from Video", ICRA 2018), in the single-view n-pairs form that the
TCC and CARL code train as their TCN baseline.

Per video, K frame pairs (e_k, l_k), the earlier frame e_k at most w frames before the
later l_k; with rows r_k and columns c_k the two sides of the pairs (see ``rows``), every
other pair's column frame is a negative:

    logits_kl = r_k . c_l / tau
    L_npairs  = mean_k -log softmax_l(logits_kl)[l = k]        (cross-entropy, identity target)
    L_reg     = lambda / 4 * (mean_k ||r_k||^2 + mean_k ||c_k||^2)
    L         = mean over videos of (L_npairs + L_reg)

Which frames are the rows (``rows``): TCC's TensorFlow code calls
``npairs_loss(labels, embeddings_anchor=<earlier frames>, embeddings_positive=<later frames>)``,
so the softmax runs over the later frames for each earlier frame ("earlier", the default);
CARL's PyTorch port takes the later (anchor) frames as the rows ("later", variant
``carl_rows``). The two normalise the same logit matrix over different sides and are not
the same loss: on random inputs they differ (tests/test_tcn.py), by more the larger the
embeddings' norms.

L_reg is TensorFlow's npairs_loss regulariser as TCC's code calls it (lambda = 0.002), i.e.
lambda / 2 times the mean squared norm over anchors and positives; METHODS.md's shorthand
"0.002 * mean ||x||^2" drops that factor 1/2. tau = 1 is the reference (raw dot products,
no normalisation); it is searched.

Pairs within this harness: the method asks for 2K frames of one view (offset-uniform, so
sorted, distinct when the video has at least 2K frames) and pairs sampled frames 2k
(positive) and 2k+1 (anchor). A pair counts only when 1 <= s_anchor - s_positive <= w and
both frames are real; the other pairs leave the loss (rows and columns), and a video
without any valid pair is skipped. Departure from the reference: TCC's sampler draws the
anchors offset-uniform and then each positive uniformly in [s - w, s) (clamped at 0); here
the anchor-positive gap follows the spacing of the sorted sample. With 2K = 40 and w = 5
that keeps every pair of a video of up to ~60 frames, about 93% at 100 frames (the
synthetic videos have 40-100) and about 58% at 250, so long videos need a larger window
or more frames. A sampler that returns the reference's (positive, anchor) pairs would make
every pair valid and needs no change here.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch

from bench.batch import Batch, BatchSpec
from bench.bounds import bounded
from bench.errors import DataError
from bench.method import TCC_ENCODERS, Method
from bench.registry import register_method


def consecutive_pairs(indices: torch.Tensor, mask: torch.Tensor | None, window: int) -> torch.Tensor:
    """Which (positive 2k, anchor 2k+1) pairs of sorted samples are valid: (B, K) bool.

    indices: (B, 2K) original frame indices; mask: (B, 2K), False on padding. Valid iff both
    frames are real and 1 <= s_{2k+1} - s_{2k} <= window.
    """
    if indices.dim() != 2 or indices.shape[1] % 2:
        raise DataError(f"TCN pairs consecutive frames and needs (B, 2K) indices, got {tuple(indices.shape)}; "
                        "sample an even number of frames per view")
    gap = indices[:, 1::2] - indices[:, 0::2]
    valid = (gap >= 1) & (gap <= window)
    if mask is not None:
        valid &= mask[:, 0::2] & mask[:, 1::2]
    return valid


def npairs_loss(anchors: torch.Tensor, positives: torch.Tensor, valid: torch.Tensor | None = None, *,
                temperature: float = 1.0, reg_lambda: float = 0.002) -> dict[str, torch.Tensor]:
    """The n-pairs loss of each video's (anchor, positive) pairs, averaged over videos.

    anchors, positives: (B, K, D); valid: (B, K) bool, False on pairs to leave out (their
    rows and columns). Videos without a valid pair are skipped. Returns {"npairs": mean of
    the per-video cross-entropies, "regularizer": mean of the per-video L_reg}.
    """
    if anchors.dim() != 3 or anchors.shape != positives.shape:
        raise DataError(f"TCN needs anchors and positives (B, K, D) of one shape, got {tuple(anchors.shape)} and "
                        f"{tuple(positives.shape)}; pair every anchor with one positive")
    if valid is None:
        valid = torch.ones(anchors.shape[:2], dtype=torch.bool, device=anchors.device)
    counts = valid.sum(-1)
    used = counts > 0
    if not bool(used.any()):
        raise DataError("no anchor of the TCN batch has a positive within the window; raise method.window "
                        "or sample more frames per video")
    logits = anchors @ positives.transpose(-1, -2) / temperature
    logits = logits.masked_fill(~valid.unsqueeze(-2), float("-inf"))
    log_p = torch.log_softmax(logits.masked_fill(~valid.unsqueeze(-1), 0.0), dim=-1)
    weights = valid.to(anchors.dtype)
    per_video = -(torch.diagonal(log_p, dim1=-2, dim2=-1).masked_fill(~valid, 0.0)).sum(-1)
    norms = ((anchors ** 2).sum(-1) + (positives ** 2).sum(-1)) * weights
    regularizer = 0.25 * reg_lambda * norms.sum(-1)
    denominator = counts.clamp_min(1).to(anchors.dtype)
    return {"npairs": (per_video / denominator)[used].mean(), "regularizer": (regularizer / denominator)[used].mean()}


@register_method("tcn")
class TCN(Method):
    """Single-view time-contrastive n-pairs loss: nearby frames attract, other pairs repel."""

    variants: ClassVar[dict[str, dict[str, Any]]] = {"carl_rows": {"rows": "later"}}

    @dataclass
    class Config:
        window: int = bounded(5, ge=1)             # w, original frames (TCC code: POSITIVE_WINDOW)
        temperature: float = bounded(1.0, gt=0)    # reference: raw dot products; searched
        reg_lambda: float = bounded(0.002, ge=0)   # TCC code: REG_LAMBDA
        videos: int = bounded(2, ge=1)             # TCC code's batch size; METHODS.md: 2-4 videos of any action
        frames: int = bounded(20, ge=2, why="n-pairs needs 2 or more anchors")  # K anchors (2K frames sampled)
        rows: Literal["earlier", "later"] = "earlier"  # n-pairs rows: TCC's TF code "earlier", CARL "later"

    # TCC's paper trains its baselines (TCN among them) with its own encoder.
    paper_encoders = TCC_ENCODERS

    def batch_spec(self) -> BatchSpec:
        return BatchSpec(videos=self.cfg.videos, views=1, frames=2 * self.cfg.frames, sampling="offset_uniform",
                         same_action=False, augment=True)

    def loss(self, batch: Batch, emb: torch.Tensor) -> dict[str, torch.Tensor]:
        if emb.dim() != 4 or emb.shape[:3] != batch.mask.shape or emb.shape[1] != 1:
            raise DataError(f"TCN expects embeddings (B, 1, 2K, D) matching the batch mask "
                            f"{tuple(batch.mask.shape)}, got {tuple(emb.shape)}; use its batch_spec()")
        valid = consecutive_pairs(batch.indices[:, 0], batch.mask[:, 0], self.cfg.window)
        earlier, later = emb[:, 0, 0::2], emb[:, 0, 1::2]
        rows, columns = (earlier, later) if self.cfg.rows == "earlier" else (later, earlier)
        parts = npairs_loss(rows, columns, valid, temperature=self.cfg.temperature, reg_lambda=self.cfg.reg_lambda)
        return {"loss": parts["npairs"] + parts["regularizer"], **parts}

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {
            "window": trial.suggest_int("window", 1, 15),
            "temperature": trial.suggest_float("temperature", 0.05, 1.0, log=True),
            "reg_lambda": trial.suggest_float("reg_lambda", 1e-4, 1e-1, log=True),
        }
