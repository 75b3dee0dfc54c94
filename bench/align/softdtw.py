"""Soft-DTW (Cuturi & Blondel, ICML 2017), batched over pairs with per-pair lengths.

    r(i, j) = c(i, j) + min_gamma{ r(i-1, j), r(i, j-1), r(i-1, j-1) },
    min_gamma(a) = -gamma log sum_k exp(-a_k / gamma),
    r(0, 0) = 0,  r(i, 0) = r(0, j) = +inf otherwise (1-based cells),

and soft-DTW of pair b is r(n_b, m_b): the soft minimum, over every monotone path from
(1, 1) to (n_b, m_b) with steps (1,0), (0,1), (1,1), of the path's total cost. It is the
alignment term of LAV and LRProp.

Its gradient with respect to the cost is the expected alignment matrix E (the
probability that the Gibbs distribution over paths passes through each cell), obtained
by the backward recursion of Cuturi & Blondel (their Algorithm 2),

    E(i, j) = sum over successors s in {(i+1, j), (i, j+1), (i+1, j+1)} of
              E(s) P((i, j) | s),        E(n, m) = 1,
    P(p | s) = exp((r(s) - c(s) - r(p)) / gamma) = softmax_p(-r(p) / gamma) over the
               three predecessors p of s.

Departures from the paper's and the reference code's numerics (same mathematics): they
multiply E by exp(...) factors, which overflows or gives 0 * inf = NaN for small gamma;
here the recursion runs on log E, so E = exp(log E) stays in [0, 1]. And P(. | s) is
taken as the softmax of the stored predecessor values rather than as
exp((r(s) - c(s) - r(p)) / gamma): in float32 that subtraction loses about
eps * |r| / gamma per step, which compounds along the sweep (64 x 64 costs in [0, 50]
at gamma = 0.01 gave E(1, 1) = 1.015 instead of 1, though every path starts there);
normalised transitions conserve the flow, so gamma = 0.001 is as well behaved as 1. The table is stored
as u = -r / gamma, which turns every soft minimum into a plain logaddexp.

Both sweeps loop over anti-diagonals (N + M - 1 steps) with the batch and the diagonal
vectorised. Cells beyond a pair's lengths never influence r(n_b, m_b) (only cells
(i' <= i, j' <= j) feed r(i, j)); their cost is zeroed so that NaN or inf padding stays
harmless, and they receive exactly zero gradient.

``BACKENDS`` is the dispatch point for faster kernels: a backend takes the validated
(cost, gamma, lengths_x, lengths_y) and returns the (B,) values, differentiable in cost,
and must equal the "torch" reference. "torch" is this module's sweep (any device);
"numba" (bench.align._softdtw_numba) runs the same recursions on CPU tensors, in
float64; "triton" (bench.align._softdtw_triton) on CUDA tensors. The default, "auto",
picks one by device (bench.align.backends).
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from bench.align._softdtw_numba import soft_dtw_numba
from bench.align.backends import auto_backend, require_triton_device
from bench.align.distances import check_pairs, diagonal_range, skew, unskew, valid_mask
from bench.errors import ConfigError, UnknownNameError


def soft_dtw(
    cost: Tensor,
    gamma: float,
    lengths_x: Tensor | None = None,
    lengths_y: Tensor | None = None,
    backend: str = "auto",
) -> Tensor:
    """Soft-DTW value of each pair: cost (B, N, M) -> (B,), differentiable in ``cost``.

    lengths_x / lengths_y: (B,) long, the valid rows / columns of each pair (None = all).
    gamma > 0 is the smoothing; ``backend`` picks an implementation from ``BACKENDS``, or
    "auto" (by device: bench.align.backends).
    """
    lengths_x, lengths_y = check_pairs(cost, lengths_x, lengths_y, "soft_dtw")
    gamma = float(gamma)
    if not (gamma > 0 and math.isfinite(gamma)):
        raise ConfigError(f"soft_dtw needs a finite gamma > 0, got {gamma}; use e.g. gamma=0.1")
    if backend == "auto":
        backend = auto_backend(cost.device.type, "soft_dtw")
    if backend not in BACKENDS:
        raise UnknownNameError(f"unknown soft_dtw backend {backend!r}; choose 'auto' or one of {sorted(BACKENDS)}")
    return BACKENDS[backend](cost, gamma, lengths_x, lengths_y)


def _forward_table(cost: Tensor, gamma: float) -> Tensor:
    """The skewed table of u = -r / gamma: (B, N+M+1, N+1), u(i, j) at [i + j, i].

    In these units the recursion is u(i, j) = -c(i, j) / gamma + log sum_p exp(u(p)) over
    the predecessors p, with u(0, 0) = 0 and -inf on the rest of the border.
    """
    n, m = cost.shape[1:]
    neg_cost_s = skew(cost, 0.0).mul_(-1.0 / gamma)
    u = torch.full_like(neg_cost_s, -math.inf)
    u[:, 0, 0] = 0.0
    for d in range(2, n + m + 1):
        lo, hi = diagonal_range(d, n, m)
        prev, prev2 = u[:, d - 1], u[:, d - 2]
        # predecessors of (i, d-i): (i-1, j) and (i, j-1) on diagonal d-1, (i-1, j-1) on d-2
        soft = torch.logaddexp(torch.logaddexp(prev[:, lo - 1 : hi], prev[:, lo : hi + 1]), prev2[:, lo - 1 : hi])
        u[:, d, lo : hi + 1] = neg_cost_s[:, d, lo : hi + 1] + soft
    return u


def _log_transitions(u_s: Tensor, valid: Tensor) -> Tensor:
    """log P(p | s) for the predecessors p = (up, left, diagonal) of every cell s.

    (3, B, N+M+3, N+2), indexed by s's skewed position [i + j, i] (padded by two
    diagonals and one row so that the backward sweep can slice past the last cell);
    -inf where s is outside the matrix or on padding.
    """
    batch, n, m = valid.shape
    # s = [d, i] for d >= 2, i >= 1: up = [d-1, i-1], left = [d-1, i], diagonal = [d-2, i-1]
    log_p = torch.log_softmax(torch.stack((u_s[:, 1:-1, :-1], u_s[:, 1:-1, 1:], u_s[:, :-2, :-1])), dim=0)
    valid_s = skew(valid.to(u_s.dtype), 0.0)[:, 2:, 1:] > 0
    out = u_s.new_full((3, batch, n + m + 3, n + 2), -math.inf)
    out[:, :, 2 : n + m + 1, 1 : n + 1] = torch.where(valid_s, log_p, -math.inf)
    return out


def _expected_alignment(u_s: Tensor, lengths_x: Tensor, lengths_y: Tensor, n: int, m: int) -> Tensor:
    """E = d r(n_b, m_b) / d cost, (B, N, M), by the backward recursion in log space."""
    batch = u_s.shape[0]
    up, left, diag = _log_transitions(u_s, valid_mask(lengths_x, lengths_y, n, m))
    last = u_s.new_full((batch, n, m), -math.inf)
    last[torch.arange(batch, device=u_s.device), lengths_x - 1, lengths_y - 1] = 0.0
    last_s = skew(last, -math.inf)
    end_diagonals = set((lengths_x + lengths_y).tolist())
    log_e = torch.full_like(up, -math.inf)
    for d in range(n + m, 1, -1):
        lo, hi = diagonal_range(d, n, m)
        # successors of (i, d-i): (i+1, j) and (i, j+1) on diagonal d+1, (i+1, j+1) on d+2
        flow = torch.logaddexp(
            torch.logaddexp(
                log_e[:, d + 1, lo + 1 : hi + 2] + up[:, d + 1, lo + 1 : hi + 2],
                log_e[:, d + 1, lo : hi + 1] + left[:, d + 1, lo : hi + 1],
            ),
            log_e[:, d + 2, lo + 1 : hi + 2] + diag[:, d + 2, lo + 1 : hi + 2],
        )
        if d in end_diagonals:  # a pair's last cell: no successor, E = 1
            flow = torch.maximum(flow, last_s[:, d, lo : hi + 1])
        log_e[:, d, lo : hi + 1] = flow
    return unskew(log_e[:, : n + m + 1, : n + 1], n, m).exp()


class _SoftDTW(torch.autograd.Function):
    @staticmethod
    def forward(ctx, cost: Tensor, gamma: float, lengths_x: Tensor, lengths_y: Tensor) -> Tensor:
        batch, n, m = cost.shape
        cost = torch.where(valid_mask(lengths_x, lengths_y, n, m), cost, torch.zeros_like(cost))
        u_s = _forward_table(cost, gamma)
        ctx.save_for_backward(u_s, lengths_x, lengths_y)
        ctx.shape = (n, m)
        return -gamma * u_s[torch.arange(batch, device=cost.device), lengths_x + lengths_y, lengths_x]

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor):
        u_s, lengths_x, lengths_y = ctx.saved_tensors
        e = _expected_alignment(u_s, lengths_x, lengths_y, *ctx.shape)
        return grad_out.view(-1, 1, 1) * e, None, None, None


def _soft_dtw_torch(cost: Tensor, gamma: float, lengths_x: Tensor, lengths_y: Tensor) -> Tensor:
    return _SoftDTW.apply(cost, gamma, lengths_x, lengths_y)


def _soft_dtw_triton(cost: Tensor, gamma: float, lengths_x: Tensor, lengths_y: Tensor) -> Tensor:
    require_triton_device(cost, "soft_dtw")
    from bench.align._softdtw_triton import soft_dtw_triton  # imported on first use (see bench.align.backends)

    return soft_dtw_triton(cost, gamma, lengths_x, lengths_y)


BACKENDS: dict[str, Callable[[Tensor, float, Tensor, Tensor], Tensor]] = {
    "torch": _soft_dtw_torch,
    "numba": soft_dtw_numba,
    "triton": _soft_dtw_triton,
}
