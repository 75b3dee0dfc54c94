"""Numba CPU backend of ``soft_dtw``: the forward recursion and the backward, all pairs side by side.

In the reference's units u = -r / gamma (bench.align.softdtw), with 1-based tables whose
border is -inf except u(0, 0) = 0, on each pair b's n_b x m_b cells:

    u(i, j) = -c(i, j) / gamma + lse(u(i-1, j), u(i, j-1), u(i-1, j-1)),
    soft-DTW = -gamma u(n_b, m_b),

with lse(a) = log sum_k exp(a_k), in float64 whatever the input dtype. Each cell also
keeps the normalised transitions, the softmax of its predecessors (as the reference
takes them),

    P(p | s) = exp(u(p) - lse(s)),   p in {up, left, diagonal},

so that the backward needs no transcendental: the expected alignment runs from
E(n_b, m_b) = 1 over the cells in reverse row-major order (successors first),

    E(i, j) = E(i+1, j) P((i, j) | (i+1, j)) + E(i, j+1) P((i, j) | (i, j+1))
              + E(i+1, j+1) P((i, j) | (i+1, j+1)),

and d soft-DTW / d c(i, j) = E(i, j). This is the reference's log-space recursion
exponentiated: normalised transitions lie in [0, 1] and conserve the flow, so E stays in
[0, 1] for any gamma and equals exp(log E) to rounding.

Layout (bench.align._lanes): costs, u, the transitions and E are skewed tables, one
anti-diagonal of all B pairs updated by one SIMD loop, with the exp and log of
``softmax3`` (two exp and one log per cell). Cells past a pair's lengths get cost 0, so
their u is finite; they never feed the pair's own cells, and their E is exactly 0 (only
the pair's last cell is seeded, and successors lie below and to the right). Measured on
2 cores (`make perf`): 8 pairs of 128 x 128, forward + backward, went from 10.6 ms
(pairs one after another, libm exp and log, two threads) to the time in
results/perf.md. All kernels are compiled once and cached on disk.
"""
from __future__ import annotations

import numpy as np
import torch
from numba import njit
from torch import Tensor
from torch.autograd.function import once_differentiable

from bench.align._lanes import (
    LANE_FLAGS,
    diagonal_span,
    from_lanes,
    lane_table,
    set_border,
    softmax3,
    to_lanes,
    zero_beside,
)
from bench.errors import DataError


@njit(**LANE_FLAGS)
def _forward_diagonal(u, prev, prev2, costs, transitions, d, start, stop, lanes):
    """u on diagonal d (columns start..stop) from diagonals d-1 (prev) and d-2 (prev2); P(. | cell) into transitions."""
    up, left, diagonal = transitions[0, d], transitions[1, d], transitions[2, d]
    cost = costs[d]
    step = np.uint64(lanes)
    for q in range(stop - start):
        k = np.uint64(start + q)
        lse, w_up, w_left, w_diag = softmax3(prev[k - step], prev[k], prev2[k - step])
        up[k] = w_up
        left[k] = w_left
        diagonal[k] = w_diag
        u[k] = cost[k] + lse


@njit(**LANE_FLAGS)
def _forward(costs, n, m, lengths_x, lengths_y, values, transitions):
    """values[b] = u(n_b, m_b) from flat skewed costs (units of -1/gamma); fills transitions (3, ...).

    u is kept for three diagonals only. Beyond a diagonal's cells the sweep reads its
    border cells (rows 0 and d, u = -inf but u(0, 0) = 0); transitions get zeros on the
    rows next to each diagonal's cells and on the two padding diagonals, which is all
    that the backward reads past the cells.
    """
    diagonals, width = costs.shape
    lanes = width // (n + 2)
    u = np.full((3, width), -np.inf)
    u[0, :lanes] = 0.0  # u(0, 0) on diagonal 0
    for d in range(2, n + m + 1):
        start, stop = diagonal_span(d, n, m, lanes)
        row = u[d % 3]
        set_border(row, d, n, lanes, -np.inf)
        _forward_diagonal(row, u[(d - 1) % 3], u[(d - 2) % 3], costs, transitions, d, start, stop, lanes)
        for plane in range(3):
            zero_beside(transitions[plane], d, start, stop, lanes)
        for b in range(lanes):
            if lengths_x[b] + lengths_y[b] == d:
                values[b] = row[lengths_x[b] * lanes + b]
    transitions[:, n + m + 1:] = 0.0


@njit(**LANE_FLAGS)
def _backward_diagonal(expected, transitions, d, start, stop, lanes):
    """E on diagonal d, columns start..stop, from the successors' E and transitions."""
    up, left, diagonal = transitions[0], transitions[1], transitions[2]
    step = np.uint64(lanes)
    for q in range(stop - start):
        k = np.uint64(start + q)
        expected[d, k] = (expected[d + 1, k + step] * up[d + 1, k + step] + expected[d + 1, k] * left[d + 1, k]
                          + expected[d + 2, k + step] * diagonal[d + 2, k + step])


@njit(**LANE_FLAGS)
def _backward(transitions, n, m, lengths_x, lengths_y, grad_out, grad_cost):
    """grad_cost (B, N, M) = grad_out[b] * E(i, j), from the forward's transitions.

    Like the transitions, E is zero next to each diagonal's cells and on the padding
    diagonals, so every read past the cells sees E = 0.
    """
    _, diagonals, width = transitions.shape
    lanes = width // (n + 2)
    expected = np.empty((diagonals, width))
    expected[n + m + 1:] = 0.0
    for d in range(n + m, 1, -1):
        start, stop = diagonal_span(d, n, m, lanes)
        _backward_diagonal(expected, transitions, d, start, stop, lanes)
        zero_beside(expected, d, start, stop, lanes)
        for b in range(lanes):
            if lengths_x[b] + lengths_y[b] == d:  # the pair's last cell: no successor, E = 1
                expected[d, lengths_x[b] * lanes + b] = 1.0
    from_lanes(expected.reshape(diagonals, n + 2, lanes), lengths_x, lengths_y, grad_out, 0.0, grad_cost)


class _SoftDTWNumba(torch.autograd.Function):
    @staticmethod
    def forward(ctx, cost: Tensor, gamma: float, lengths_x: Tensor, lengths_y: Tensor) -> Tensor:
        lx, ly = lengths_x.numpy(), lengths_y.numpy()
        batch, n, m = cost.shape
        costs = lane_table(n, m, batch)
        to_lanes(cost.detach().to(torch.float64).contiguous().numpy(), lx, ly, -1.0 / gamma, 0.0, costs)
        values = np.empty(batch)
        transitions = np.empty((3, n + m + 3, (n + 2) * batch))
        _forward(costs.reshape(n + m + 3, -1), n, m, lx, ly, values, transitions)
        ctx.saved = (transitions, lx, ly, n, m)
        return torch.from_numpy(-gamma * values).to(cost.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor):
        transitions, lx, ly, n, m = ctx.saved
        grad_cost = np.empty((len(lx), n, m))
        _backward(transitions, n, m, lx, ly, grad_out.detach().to(torch.float64).contiguous().numpy(), grad_cost)
        return torch.from_numpy(grad_cost).to(grad_out.dtype), None, None, None


def soft_dtw_numba(cost: Tensor, gamma: float, lengths_x: Tensor, lengths_y: Tensor) -> Tensor:
    """The "numba" backend of ``soft_dtw`` (CPU tensors): same inputs and output as "torch"."""
    if cost.device.type != "cpu":
        raise DataError(f"soft_dtw's numba backend needs CPU tensors, got {cost.device}; use backend='auto' or 'torch'")
    return _SoftDTWNumba.apply(cost, gamma, lengths_x, lengths_y)
