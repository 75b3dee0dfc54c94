"""Soft nearest neighbour and cycle-back: TCC's differentiable cycle-consistency operator.

Dwibedi et al., "Temporal Cycle-Consistency Learning", CVPR 2019, Sec. 3.2. For a frame
embedding u_i of sequence U and the frames v_1..v_M of sequence V:

    alpha_ij = softmax_j( -||u_i - v_j||^2 / (D * tau) ),    v~_i = sum_j alpha_ij v_j    (soft NN)
    beta_ik  = softmax_k( -||v~_i - u_k||^2 / (D * tau) )                               (cycle back)

D is the embedding size: TCC's code divides the squared distance by the number of channels
as well as by the temperature ("helps with optimization"), and so does this module. Every
function broadcasts over leading dimensions ``...``; masks are True on real frames and
exclude padded frames from every softmax. Squared distances use the expansion
|x|^2 + |y|^2 - 2 x.y (one matmul, no (..., N, M, D) intermediate), clamped at 0 against
rounding.
"""
from __future__ import annotations

import torch


def squared_distances(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """||x_i - y_j||^2 for x (..., N, D) and y (..., M, D): (..., N, M)."""
    sq = (x * x).sum(-1).unsqueeze(-1) + (y * y).sum(-1).unsqueeze(-2) - 2.0 * (x @ y.transpose(-1, -2))
    return sq.clamp_min(0.0)


def similarity_logits(x: torch.Tensor, y: torch.Tensor, temperature: float,
                      y_mask: torch.Tensor | None = None) -> torch.Tensor:
    """TCC's scaled similarity -||x_i - y_j||^2 / (D * tau), (..., N, M); -inf where y_mask is False."""
    logits = -squared_distances(x, y) / (x.shape[-1] * temperature)
    if y_mask is not None:
        logits = logits.masked_fill(~y_mask.unsqueeze(-2), float("-inf"))
    return logits


def soft_nearest_neighbour(u: torch.Tensor, v: torch.Tensor, temperature: float,
                           v_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft nearest neighbour of each u_i among the v_j.

    u: (..., N, D), v: (..., M, D), v_mask: (..., M) or None. Returns (v~ (..., N, D),
    alpha (..., N, M)), alpha = softmax_j(-||u_i - v_j||^2 / (D tau)), zero on masked v_j.
    Every row of v_mask needs at least one True entry.
    """
    alpha = torch.softmax(similarity_logits(u, v, temperature, v_mask), dim=-1)
    return alpha @ v, alpha


def cycle_back_logits(u: torch.Tensor, v: torch.Tensor, temperature: float,
                      u_mask: torch.Tensor | None = None,
                      v_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Logits of TCC's cycle-back distribution beta: U -> soft NN in V -> back to U.

    u: (..., N, D), v: (..., M, D), masks (..., N) / (..., M). Returns (..., N, N) logits
    -||v~_i - u_k||^2 / (D tau), -inf at padded u_k; beta_i = softmax over the last axis.
    Row i is the cycle that starts at u_i (rows of padded u_i are computed but meaningless).
    """
    v_tilde, _ = soft_nearest_neighbour(u, v, temperature, v_mask)
    return similarity_logits(v_tilde, u, temperature, u_mask)
