"""SCL: the sequence contrastive loss of CARL (Chen et al., "Frame-wise Action
Representations for Long Videos via Sequence Contrastive Learning", CVPR 2022).

Two temporally augmented views of one video; z = L2-normalised projection of the frame
embeddings; s = original frame indices. For view 1 against view 2:

    P_ij = softmax_j( z1_i . z2_j / tau ),
    p_ij = exp(-(s1_i - s2_j)^2 / (2 sigma^2)) / sum_j' exp(-(s1_i - s2_j')^2 / (2 sigma^2)),
    L_12 = mean over real frames i (and videos) of KL(p_i. || P_i.),

and L_21 likewise; loss = (L_12 + L_21) / 2. The negatives of a frame are only the other
view's frames of the same video. The pieces are public so other objectives reuse them:
LRProp's L_same is ``sequence_contrastive_loss`` as is, its L_cross the same with prior
centres s^B_pi(i) in place of s^A_i; LAC's L_c is SCL with tau = 0.8; LAC's consistency
term uses ``gaussian_target`` and ``soft_target_kl`` on its own logits.

Departures from CARL's code (algos/scl.py), none of which changes the formula: the prior
is normalised in log space (a softmax), so a frame farther than ~45 frames (float32) from
every frame of the other view still gets a target (CARL's exp underflows to an all-zero row that
its safe_div then drops); log P is a log-softmax rather than log(P + 1e-6); padded frames
are excluded exactly rather than given weight 1e-6. CARL sums the KL of both directions
and divides by the number of real frames, which equals the mean of L_12 and L_21 when the
two views have the same number of real frames.

The projection head (Linear -> BatchNorm -> ReLU -> Linear, 128-128 as METHODS.md gives it;
CARL's base config uses a 512 hidden layer, ``projection_hidden``) lives in this method, so
the encoder's output, which the protocol evaluates, is the embedding before the
projection, as in the paper. BatchNorm sees only real (unpadded) frames.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bench.batch import Batch, BatchSpec
from bench.bounds import bounded
from bench.errors import DataError
from bench.method import Method
from bench.registry import register_method


def gaussian_target(centres: torch.Tensor, positions: torch.Tensor, sigma2: float,
                    key_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Row-normalised Gaussian prior p_ij proportional to exp(-(c_i - s_j)^2 / (2 sigma2)).

    centres: (..., N) prior centre c_i of each query row (SCL: s1_i; LRProp's L_cross:
    s^B_pi(i)); positions: (..., M) position s_j of each key; key_mask: (..., M), False on
    padding (probability 0 there; each row needs one real key). Returns (..., N, M), float
    (positions' dtype if floating, else float32); rows sum to 1.
    """
    dtype = positions.dtype if positions.is_floating_point() else torch.float32
    diff = centres.to(dtype).unsqueeze(-1) - positions.to(dtype).unsqueeze(-2)
    logits = -diff ** 2 / (2.0 * sigma2)
    if key_mask is not None:
        logits = logits.masked_fill(~key_mask.unsqueeze(-2), float("-inf"))
    return torch.softmax(logits, dim=-1)


def soft_target_kl(logits: torch.Tensor, target: torch.Tensor,
                   key_mask: torch.Tensor | None = None) -> torch.Tensor:
    """KL(target_i || softmax(logits_i)) per row: sum_j p_ij (log p_ij - log P_ij), (..., N).

    logits, target: (..., N, M); key_mask: (..., M), False on padded keys (excluded from
    the softmax; target must be 0 there). 0 log 0 = 0.
    """
    if key_mask is not None:
        logits = logits.masked_fill(~key_mask.unsqueeze(-2), float("-inf"))
    log_p = torch.log_softmax(logits, dim=-1)
    if key_mask is not None:
        log_p = log_p.masked_fill(~key_mask.unsqueeze(-2), 0.0)
    return (torch.xlogy(target, target) - target * log_p).sum(-1)


def sequence_contrastive_loss(z_query: torch.Tensor, z_key: torch.Tensor, centres: torch.Tensor,
                              positions: torch.Tensor, temperature: float, sigma2: float,
                              query_mask: torch.Tensor | None = None,
                              key_mask: torch.Tensor | None = None) -> torch.Tensor:
    """One direction of SCL: mean over real query frames of KL(p_i. || P_i.) (module docstring).

    z_query: (..., N, D), z_key: (..., M, D) (L2-normalised here, so logits are cosine
    similarity / tau); centres: (..., N) prior centre of each query frame (SCL: its own
    frame index); positions: (..., M) frame index of each key; sigma2 in the units of
    centres^2; masks False on padding. The mean pools all real query frames of all leading
    dimensions (videos). Returns a scalar.
    """
    if z_query.shape[:-2] != z_key.shape[:-2] or z_query.shape[-1] != z_key.shape[-1]:
        raise DataError(f"query {tuple(z_query.shape)} and key {tuple(z_key.shape)} embeddings disagree; "
                        "pass (..., N, D) and (..., M, D) with the same leading dimensions and D")
    if key_mask is not None and not key_mask.any(-1).all():
        raise DataError("a key sequence has no real (unmasked) frame; drop empty views from the batch")
    if query_mask is not None and not query_mask.any():
        raise DataError("every query frame is masked; the batch holds no real frame")
    logits = F.normalize(z_query, dim=-1) @ F.normalize(z_key, dim=-1).transpose(-1, -2) / temperature
    target = gaussian_target(centres, positions.to(logits.dtype), sigma2, key_mask)
    kl = soft_target_kl(logits, target, key_mask)
    return kl.mean() if query_mask is None else kl[query_mask].mean()


@register_method("scl")
class SCL(Method):
    """CARL's sequence contrastive loss between two views of a video, with a BN projection head."""

    @dataclass
    class Config:
        temperature: float = bounded(0.1, gt=0)
        sigma2: float = bounded(10.0, gt=0)        # frames^2 of the original frame indices s
        projection_hidden: int = bounded(128, ge=1)
        projection_dim: int = bounded(128, ge=1)
        videos: int = bounded(2, ge=1)             # METHODS.md: 1-2 videos per step
        frames: int = bounded(80, ge=2, why="too few to contrast")  # PennAction; Pouring 240 (per_dataset_defaults)
        crop_min: float = bounded(0.5, gt=0, le=1)  # not given by the paper; the harness's choice, tuned

    # CARL's encoder: 2 transformer layers for Pouring, 3 for PennAction (METHODS.md).
    paper_encoders = {"pouring": {"name": "resnet50_transformer", "layers": 2},
                      "penn_action": {"name": "resnet50_transformer", "layers": 3}}
    per_dataset_defaults = {
        "pouring": {"frames": 240},
        "penn_action": {"frames": 80},
        # The harness's CPU-sized choice for the built-in synthetic videos, not a paper value.
        "synthetic": {"frames": 32},
    }

    def __init__(self, cfg: Any, embed_dim: int, num_classes: int = 0):
        super().__init__(cfg, embed_dim, num_classes)
        self.projection = nn.Sequential(
            nn.Linear(embed_dim, cfg.projection_hidden),
            nn.BatchNorm1d(cfg.projection_hidden),
            nn.ReLU(),
            nn.Linear(cfg.projection_hidden, cfg.projection_dim),
        )

    def batch_spec(self) -> BatchSpec:
        return BatchSpec(videos=self.cfg.videos, views=2, frames=self.cfg.frames, sampling="time_augment",
                         same_action=False, augment=True, crop_min=self.cfg.crop_min)

    def project(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Projection of the real frames of emb (..., D) (BatchNorm sees no padding); 0 on padding."""
        z = emb.new_zeros(*emb.shape[:-1], self.cfg.projection_dim)
        z[mask] = self.projection(emb[mask])
        return z

    def loss(self, batch: Batch, emb: torch.Tensor) -> dict[str, torch.Tensor]:
        if emb.dim() != 4 or emb.shape[:3] != batch.mask.shape or emb.shape[1] != 2:
            raise DataError(f"SCL expects embeddings (B, 2, T, D) matching the batch mask "
                            f"{tuple(batch.mask.shape)}, got {tuple(emb.shape)}; use its batch_spec()")
        mask, s = batch.mask, batch.indices
        z = self.project(emb, mask)
        kwargs = {"temperature": self.cfg.temperature, "sigma2": self.cfg.sigma2}
        l12 = sequence_contrastive_loss(z[:, 0], z[:, 1], s[:, 0], s[:, 1], query_mask=mask[:, 0],
                                        key_mask=mask[:, 1], **kwargs)
        l21 = sequence_contrastive_loss(z[:, 1], z[:, 0], s[:, 1], s[:, 0], query_mask=mask[:, 1],
                                        key_mask=mask[:, 0], **kwargs)
        return {"loss": 0.5 * (l12 + l21), "scl_12": l12, "scl_21": l21}

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {
            "temperature": trial.suggest_float("temperature", 0.03, 1.0, log=True),
            "sigma2": trial.suggest_float("sigma2", 1.0, 100.0, log=True),
            "crop_min": trial.suggest_float("crop_min", 0.3, 1.0),
        }
