"""Soft nearest neighbour and cycle-back: TCC's differentiable cycle-consistency operator.

Dwibedi et al., "Temporal Cycle-Consistency Learning", CVPR 2019, Sec. 3.2. For a frame
embedding u_i of sequence U and the frames v_1..v_M of sequence V:

    alpha_ij = softmax_j( -||u_i - v_j||^2 / (D * tau) ),    v~_i = sum_j alpha_ij v_j    (soft NN)
    beta_ik  = softmax_k( -||v~_i - u_k||^2 / (D * tau) )                               (cycle back)

D is the embedding size: TCC's code divides the squared distance by the number of channels
as well as by the temperature ("helps with optimization"), and so does this module. Every
function works on a batch of B sequence pairs, u (B, N, D) and v (B, M, D); masks are True
on real frames and exclude padded frames from every softmax. Squared distances come from
``bench.align.distances.pairwise_sq_dist`` (one batched matmul, no (B, N, M, D) intermediate).
"""
from __future__ import annotations

import torch

from bench.align.distances import pairwise_sq_dist


def similarity_logits(x: torch.Tensor, y: torch.Tensor, temperature: float,
                      y_mask: torch.Tensor | None = None) -> torch.Tensor:
    """TCC's scaled similarity -||x_i - y_j||^2 / (D * tau), (B, N, M); -inf where y_mask is False."""
    logits = -pairwise_sq_dist(x, y) / (x.shape[-1] * temperature)
    if y_mask is not None:
        logits = logits.masked_fill(~y_mask.unsqueeze(-2), float("-inf"))
    return logits


def soft_nearest_neighbour(u: torch.Tensor, v: torch.Tensor, temperature: float,
                           v_mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Soft nearest neighbour of each u_i among the v_j.

    u: (B, N, D), v: (B, M, D), v_mask: (B, M) or None. Returns (v~ (B, N, D),
    alpha (B, N, M)), alpha = softmax_j(-||u_i - v_j||^2 / (D tau)), zero on masked v_j.
    Every row of v_mask needs at least one True entry.
    """
    alpha = torch.softmax(similarity_logits(u, v, temperature, v_mask), dim=-1)
    return alpha @ v, alpha


def cycle_back_logits(u: torch.Tensor, v: torch.Tensor, temperature: float,
                      u_mask: torch.Tensor | None = None,
                      v_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Logits of TCC's cycle-back distribution beta: U -> soft NN in V -> back to U.

    u: (B, N, D), v: (B, M, D), masks (B, N) / (B, M). Returns (B, N, N) logits
    -||v~_i - u_k||^2 / (D tau), -inf at padded u_k; beta_i = softmax over the last axis.
    Row i is the cycle that starts at u_i (rows of padded u_i are computed but meaningless).
    """
    v_tilde, _ = soft_nearest_neighbour(u, v, temperature, v_mask)
    return similarity_logits(v_tilde, u, temperature, u_mask)
