"""Numba CPU backend of ``soft_dtw``: the forward recursion and the log-space backward per cell.

In the reference's units u = -r / gamma (bench.align.softdtw), with 1-based tables whose
border is -inf except u(0, 0) = 0, each pair b over its n_b x m_b cells:

    L(i, j) = lse(u(i-1, j), u(i, j-1), u(i-1, j-1)),   u(i, j) = -c(i, j) / gamma + L(i, j)
    soft-DTW = -gamma u(n_b, m_b)

with lse(a) = log sum_k exp(a_k), in float64 whatever the input dtype. L is stored, so the
normalised transition log P(p | s) = u(p) - L(s) (the log-softmax of s's predecessors, as
the reference takes it) needs no subtraction of the cost. The expected alignment runs on
log E from log E(n_b, m_b) = 0 over the cells in reverse row-major order (every
successor before its predecessors):

    log E(i, j) = u(i, j) + lse over the successors s in {(i+1, j), (i, j+1), (i+1, j+1)}
                  inside the pair of (log E(s) - L(s)),

and d soft-DTW / d c(i, j) = E(i, j) = exp(log E(i, j)), zero on padding. Pairs run one
after another (see bench.align._sw_numba on prange); both kernels are compiled once and
cached on disk.
"""
from __future__ import annotations

import math

import numpy as np
import torch
from numba import njit
from torch import Tensor
from torch.autograd.function import once_differentiable

from bench.errors import DataError


@njit(cache=True)
def _lse3(a, b, c):
    top = max(a, b, c)
    return top + math.log(math.exp(a - top) + math.exp(b - top) + math.exp(c - top))


@njit(cache=True)
def _softdtw_forward(cost, lengths_x, lengths_y, gamma):
    """Tables u and L (B, N+1, M+1); cost (B, N, M) float64."""
    batch, n, m = cost.shape
    u = np.full((batch, n + 1, m + 1), -np.inf)
    soft = np.full((batch, n + 1, m + 1), -np.inf)
    for b in range(batch):
        u[b, 0, 0] = 0.0
        for i in range(1, lengths_x[b] + 1):
            for j in range(1, lengths_y[b] + 1):
                soft[b, i, j] = _lse3(u[b, i - 1, j], u[b, i, j - 1], u[b, i - 1, j - 1])
                u[b, i, j] = cost[b, i - 1, j - 1] * (-1.0 / gamma) + soft[b, i, j]
    return u, soft


@njit(cache=True)
def _softdtw_backward(u, soft, lengths_x, lengths_y):
    """E (B, N, M): the expected alignment of each pair, zero on padding."""
    batch, n1, m1 = u.shape
    expected = np.zeros((batch, n1 - 1, m1 - 1))
    log_e = np.full((n1 + 1, m1 + 1), -np.inf)
    for b in range(batch):
        nb, mb = lengths_x[b], lengths_y[b]
        log_e[:] = -np.inf
        log_e[nb, mb] = 0.0
        expected[b, nb - 1, mb - 1] = 1.0
        for i in range(nb, 0, -1):
            for j in range(mb, 0, -1):
                if i == nb and j == mb:
                    continue
                down = log_e[i + 1, j] - soft[b, i + 1, j] if i < nb else -np.inf
                right = log_e[i, j + 1] - soft[b, i, j + 1] if j < mb else -np.inf
                diag = log_e[i + 1, j + 1] - soft[b, i + 1, j + 1] if i < nb and j < mb else -np.inf
                log_e[i, j] = u[b, i, j] + _lse3(down, right, diag)
                expected[b, i - 1, j - 1] = math.exp(log_e[i, j])
    return expected


class _SoftDTWNumba(torch.autograd.Function):
    @staticmethod
    def forward(ctx, cost: Tensor, gamma: float, lengths_x: Tensor, lengths_y: Tensor) -> Tensor:
        lx, ly = lengths_x.numpy(), lengths_y.numpy()
        u, soft = _softdtw_forward(cost.detach().to(torch.float64).contiguous().numpy(), lx, ly, gamma)
        ctx.saved = (u, soft, lx, ly)
        return torch.from_numpy(-gamma * u[np.arange(len(lx)), lx, ly]).to(cost.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor):
        expected = torch.from_numpy(_softdtw_backward(*ctx.saved)).to(grad_out.dtype)
        return grad_out.view(-1, 1, 1) * expected, None, None, None


def soft_dtw_numba(cost: Tensor, gamma: float, lengths_x: Tensor, lengths_y: Tensor) -> Tensor:
    """The "numba" backend of ``soft_dtw`` (CPU tensors): same inputs and output as "torch"."""
    if cost.device.type != "cpu":
        raise DataError(f"soft_dtw's numba backend needs CPU tensors, got {cost.device}; use backend='auto' or 'torch'")
    return _SoftDTWNumba.apply(cost, gamma, lengths_x, lengths_y)
