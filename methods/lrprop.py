"""LRProp: learning representations by position propagation (Bar-Shalom, Leifman, Elad, WACV 2024).

No public code; the formulas follow the paper (its Eq. 1-12, reconstructed in METHODS.md).
Two different videos A, B of one action, two temporally augmented views of each (CARL's
sampling); e are embeddings, s original frame indices. For a query sequence and a key
sequence, Eq. 1: P(j|i) = softmax_j(cos(e_i, e'_j) / tau), and a loss is
sum_i KL(p(.|i) || P(.|i)) against a Gaussian prior p:

- same video, views alpha, beta (Eq. 2-4): p(j|i) ∝ exp(-(s^alpha_i - s^beta_j)^2 / (2 sigma^2)),
  which is SCL's loss (``methods.scl.sequence_contrastive_loss``); L_same;
- different videos (Eq. 5-9): the hard DTW path between A's and B's embeddings on the
  Euclidean cost (no gradient through it, ``bench.align.hard``) aligns frame i of A with
  pi(i), the smallest j on the path in row i ("pair-wise position propagation"); then
  p(j|i) ∝ exp(-(s^B_j - s^B_pi(i))^2 / (2 sigma^2)); L_cross, A -> B and B -> A
  (``cross_video_loss``);
- Eq. 10-11: dtw_gamma(A, B), soft-DTW (``bench.align.softdtw``) on the squared Euclidean
  cost, as in LAV;
- Eq. 12, per pair of sequences: L = delta_AB L_same + (1 - delta_AB)(w_cross L_cross + w_dtw dtw_gamma).

A step holds both kinds of pair (2 views of each video, 2+ videos), so its loss adds them:

    loss = L_same + w_cross L_cross + w_dtw dtw_gamma / T,

L_same the mean over the same-video view pairs, L_cross the mean over the cross-video
pairs, both directions averaged and each a mean over query frames (the paper's sums over
i divided by T), dtw_gamma the mean over the cross-video pairs, divided by T likewise. So
Eq. 12's weights act between terms on one per-frame scale whatever the number of pairs.
Cross-video pairs: every view of A with every view of B (4 pairs for 2 videos), as Eq. 12
is written for any two sampled sequences; none is privileged.

Choices where the paper is silent (tunable, see ``search_space``):
- tau = 0.1 and sigma^2 = 10 frames^2 are SCL's values (the paper's values were lost in the
  text extraction); gamma = 0.1 is LAV's (the paper gives none);
- the embeddings are L2-normalised before both DTWs (on unit vectors the Euclidean
  distance is a function of the cosine the KL terms use): soft-DTW on raw embeddings
  is minimised by shrinking every embedding, which the scale-free cosine terms cannot resist;
- no projection head (the paper describes none);
- w_dtw and w_cross: Table 5 (its "reg1", the small one, is read as the SoftDTW weight, as
  METHODS.md reasons; per PennAction action in datasets/penn_action.yaml, applied by its
  per_action mode). Its Pouring row prints no weights, so the defaults
  are the most common values, w_dtw = 0.001 and w_cross = 0.4; frames = 240 is its Pouring T.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from bench.align.distances import pairwise_sq_dist
from bench.align.hard import dtw_alignment, first_match
from bench.align.softdtw import soft_dtw
from bench.batch import Batch, BatchSpec
from bench.bounds import bounded
from bench.errors import DataError
from bench.method import Method, paper_encoder
from bench.registry import register_method
from methods.scl import sequence_contrastive_loss


def cross_video_loss(z_a: torch.Tensor, z_b: torch.Tensor, s_a: torch.Tensor, s_b: torch.Tensor,
                     temperature: float, sigma2: float, mask_a: torch.Tensor | None = None,
                     mask_b: torch.Tensor | None = None) -> torch.Tensor:
    """LRProp's L_cross (Eq. 5-9) of pairs of sequences of different videos, both ways averaged.

    z_a: (P, N, D), z_b: (P, M, D) embeddings; s_a: (P, N), s_b: (P, M) original frame
    indices; masks False on padding (padding at the end). The hard DTW path (Euclidean
    cost between the L2-normalised embeddings, no gradient) gives pi; A's frame i gets the
    prior centred on s_b[pi(i)], B's frame j on s_a[pi'(j)]. Returns a scalar: the mean of
    the two directions' means over real query frames.
    """
    if z_a.dim() != 3 or z_b.dim() != 3 or s_a.shape != z_a.shape[:2] or s_b.shape != z_b.shape[:2]:
        raise DataError(f"L_cross needs embeddings (P, N, D), (P, M, D) and indices (P, N), (P, M), got "
                        f"{tuple(z_a.shape)}, {tuple(z_b.shape)}, {tuple(s_a.shape)}, {tuple(s_b.shape)}; "
                        "pass one row per pair of sequences")
    lengths_a = None if mask_a is None else mask_a.sum(-1)
    lengths_b = None if mask_b is None else mask_b.sum(-1)
    with torch.no_grad():
        unit_a, unit_b = F.normalize(z_a, dim=-1), F.normalize(z_b, dim=-1)
        path = dtw_alignment(pairwise_sq_dist(unit_a, unit_b).sqrt(), lengths_a, lengths_b)
    centres_ab = s_b.gather(-1, first_match(path).clamp_min(0))                 # s^B_pi(i)
    centres_ba = s_a.gather(-1, first_match(path.transpose(1, 2)).clamp_min(0))
    l_ab = sequence_contrastive_loss(z_a, z_b, centres_ab, s_b, temperature, sigma2, mask_a, mask_b)
    l_ba = sequence_contrastive_loss(z_b, z_a, centres_ba, s_a, temperature, sigma2, mask_b, mask_a)
    return 0.5 * (l_ab + l_ba)


@register_method("lrprop")
class LRProp(Method):
    """Same-video SCL, cross-video position propagation and soft-DTW (LRProp's Eq. 12)."""

    @dataclass
    class Config:
        temperature: float = bounded(0.1, gt=0)    # tau of Eq. 1; not given: SCL's
        sigma2: float = bounded(10.0, gt=0)        # sigma^2 of Eq. 2 and 7, frames^2; not given: SCL's
        gamma: float = bounded(0.1, gt=0)          # soft-DTW smoothing; not given: LAV's
        w_cross: float = bounded(0.4, ge=0)        # Table 5's most common L_cross weight
        w_dtw: float = bounded(0.001, ge=0)        # Table 5's most common SoftDTW weight
        videos: int = bounded(2, ge=2, why="LRProp pairs different videos")  # the paper's batch of 2 videos
        frames: int = bounded(240, ge=2, why="too few to align")  # Table 5, Pouring
        crop_min: float = bounded(0.5, gt=0, le=1)  # SCL's sampling; not given, tuned

    variants = {
        "same+cross": {"w_dtw": 0.0},
        "same+dtw": {"w_cross": 0.0},
        "same+cross+dtw": {},
    }
    # BYOL ResNet-50 + a 7-layer transformer, width 256, 8 heads (its Sec. 4.2).
    paper_encoders = paper_encoder("resnet50_transformer", layers=7)
    per_dataset_defaults = {
        "pouring": {"frames": 240},
        # Table 5's T for 8 of its 13 actions; per-action values: datasets/penn_action.yaml.
        "penn_action": {"frames": 80},
        # The harness's CPU-sized choice for the built-in synthetic videos, not a paper value.
        "synthetic": {"frames": 32},
    }

    def batch_spec(self) -> BatchSpec:
        return BatchSpec(videos=self.cfg.videos, views=2, frames=self.cfg.frames, sampling="time_augment",
                         same_action=True, augment=True, crop_min=self.cfg.crop_min)

    def loss(self, batch: Batch, emb: torch.Tensor) -> dict[str, torch.Tensor]:
        if emb.dim() != 4 or emb.shape[:3] != batch.mask.shape or emb.shape[1] != 2 or emb.shape[0] < 2:
            raise DataError(f"LRProp expects embeddings (B >= 2, 2, T, D) matching the batch mask "
                            f"{tuple(batch.mask.shape)}, got {tuple(emb.shape)}; use its batch_spec()")
        cfg = self.cfg
        mask, s = batch.mask, batch.indices
        kwargs = {"temperature": cfg.temperature, "sigma2": cfg.sigma2}
        same = 0.5 * (sequence_contrastive_loss(emb[:, 0], emb[:, 1], s[:, 0], s[:, 1], query_mask=mask[:, 0],
                                                key_mask=mask[:, 1], **kwargs)
                      + sequence_contrastive_loss(emb[:, 1], emb[:, 0], s[:, 1], s[:, 0], query_mask=mask[:, 1],
                                                  key_mask=mask[:, 0], **kwargs))
        parts = {"same": same}
        # every (video, view) sequence against every sequence of a later video
        seq, seq_s, seq_mask = emb.flatten(0, 1), s.flatten(0, 1), mask.flatten(0, 1)
        video = torch.arange(emb.shape[0], device=emb.device).repeat_interleave(2)
        p, q = torch.nonzero(video.unsqueeze(1) < video.unsqueeze(0), as_tuple=True)
        if cfg.w_cross > 0:
            parts["cross"] = cross_video_loss(seq[p], seq[q], seq_s[p], seq_s[q], mask_a=seq_mask[p],
                                              mask_b=seq_mask[q], **kwargs)
        if cfg.w_dtw > 0:
            unit = F.normalize(seq, dim=-1)
            lengths = seq_mask.sum(-1)
            values = soft_dtw(pairwise_sq_dist(unit[p], unit[q]), cfg.gamma, lengths[p], lengths[q])
            parts["dtw"] = values.mean() / emb.shape[2]
        total = same + cfg.w_cross * parts.get("cross", 0.0) + cfg.w_dtw * parts.get("dtw", 0.0)
        return {"loss": total, **parts}

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {
            "temperature": trial.suggest_float("temperature", 0.03, 1.0, log=True),
            "sigma2": trial.suggest_float("sigma2", 1.0, 100.0, log=True),
            "gamma": trial.suggest_float("gamma", 0.01, 1.0, log=True),
            "w_cross": trial.suggest_float("w_cross", 0.05, 2.0, log=True),
            "w_dtw": trial.suggest_float("w_dtw", 1e-4, 0.1, log=True),
            "crop_min": trial.suggest_float("crop_min", 0.3, 1.0),
        }
