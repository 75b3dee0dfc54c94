"""Numba CPU backend of ``smooth_sw``: the recursions and a hand-written backward, all pairs side by side.

In units of t (s = S / t, go = g_o / t, ge = g_e / t), lse(a) = log sum_k exp(a_k), and
1-based tables with a border (row 0, column 0), on each pair b's n_b x m_b cells:

    H(i, j)  = lse(0, D(i-1, j-1), Ix(i-1, j-1), Iy(i-1, j-1))
    D(i, j)  = s(i, j) + H(i, j)
    Ix(i, j) = lse(D(i, j-1) - go, Ix(i, j-1) - ge)
    Iy(i, j) = lse(D(i-1, j) - go, Ix(i-1, j) - go, Iy(i-1, j) - ge)
    Z        = lse over the pair's cells of D(i, j);   score = t Z, table = t D

exactly the "torch" reference's recursions (bench.align.smith_waterman), in float64
whatever the input dtype. The reference's -inf border is ``BORDER`` = -1e300 here: a
softmax of only -inf arguments is NaN, and with a finite border Ix(i, 1) and Iy(1, j)
need no special case. Every exp that reads the border is exactly 0, so D is unchanged,
and the border's own cells receive exactly zero adjoint.

Each lse keeps its softmax weights w_k = exp(a_k - lse) (8 per cell: D, Ix, Iy in H;
open, extend in Ix; open, cross-open, extend in Iy). The backward (reverse mode) starts
from the incoming gradients g_s on the score and g_T on the table and gathers, for each
cell, the adjoints of its readers (i, j+1), (i+1, j) and (i+1, j+1), whose weights say
how much of their output each argument made:

    a_D(i, j)  = t (g_s exp(D(i, j) - Z) + g_T(i, j)) + a_Ix(i, j+1) w_open(Ix(i, j+1))
                 + a_Iy(i+1, j) w_open(Iy(i+1, j)) + a_D(i+1, j+1) w_D(H(i+1, j+1))
    a_Ix(i, j) = a_Ix(i, j+1) w_ext(Ix(i, j+1)) + a_Iy(i+1, j) w_xopen(Iy(i+1, j))
                 + a_D(i+1, j+1) w_Ix(H(i+1, j+1))
    a_Iy(i, j) = a_Iy(i+1, j) w_ext(Iy(i+1, j)) + a_D(i+1, j+1) w_Iy(H(i+1, j+1))

with dL/dS(i, j) = a_D(i, j) / t, dL/dg_o = -(sum over cells of a_Ix w_open(Ix) +
a_Iy (w_open(Iy) + w_xopen(Iy))) / t and dL/dg_e = -(sum of a_Ix w_ext(Ix) + a_Iy
w_ext(Iy)) / t. exp(D - Z) is kept from the forward's Z pass.

Layout (bench.align._lanes): skewed tables, one anti-diagonal of all B pairs updated by
one SIMD loop; cells past a pair's lengths get s = ``PADDING``, stay finite, never feed the pair's
cells, are left out of Z and get zero adjoint. All kernels are compiled once and cached
on disk.
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
    exp_nonpositive,
    from_lanes,
    lane_table,
    set_border,
    softmax2,
    softmax3,
    softmax_with_zero,
    to_lanes,
    zero_beside,
)
from bench.errors import DataError

BORDER = -1e300
"""The tables' border value: the reference's -inf, finite so that no softmax sees only -inf."""
PADDING = -5e299
"""s on cells past a pair's lengths: their D stays near it (a softmax takes the max, never a sum), so that
their exp(D - Z) is exactly 0 and Z needs no mask."""

# the 8 softmax weights kept per cell, weights[k] being a flat skewed table
_H_D, _H_IX, _H_IY, _IX_OPEN, _IX_EXT, _IY_OPEN, _IY_XOPEN, _IY_EXT = range(8)


# Each diagonal's update is three loops (D, Ix, Iy): in one loop, its 20 arrays needed more
# run-time overlap checks than LLVM allows, and it stayed scalar (10x slower).


@njit(**LANE_FLAGS)
def _d_diagonal(d_table, ix2, iy2, sims, weights, top, d, start, stop, lanes):
    """D on diagonal d (columns start..stop) from diagonal d-2 and its H weights; top[k] = max of D."""
    previous, here, sim = d_table[d - 2], d_table[d], sims[d]
    w_d, w_ix, w_iy = weights[_H_D, d], weights[_H_IX, d], weights[_H_IY, d]
    step = np.uint64(lanes)
    for q in range(stop - start):
        k = np.uint64(start + q)
        h, w_d[k], w_ix[k], w_iy[k] = softmax_with_zero(previous[k - step], ix2[k - step], iy2[k - step])
        value = sim[k] + h
        here[k] = value
        top[k] = max(top[k], value)


@njit(**LANE_FLAGS)
def _ix_diagonal(d_table, ix, ix1, weights, d, start, stop, go, ge):
    """Ix on diagonal d from (i, j-1) on diagonal d-1, and its weights."""
    previous, w_open, w_ext = d_table[d - 1], weights[_IX_OPEN, d], weights[_IX_EXT, d]
    for q in range(stop - start):
        k = np.uint64(start + q)
        ix[k], w_open[k], w_ext[k] = softmax2(previous[k] - go, ix1[k] - ge)


@njit(**LANE_FLAGS)
def _iy_diagonal(d_table, iy, ix1, iy1, weights, d, start, stop, lanes, go, ge):
    """Iy on diagonal d from (i-1, j) on diagonal d-1, and its weights."""
    previous, w_open, w_xopen, w_ext = d_table[d - 1], weights[_IY_OPEN, d], weights[_IY_XOPEN, d], weights[_IY_EXT, d]
    step = np.uint64(lanes)
    for q in range(stop - start):
        k = np.uint64(start + q)
        iy[k], w_open[k], w_xopen[k], w_ext[k] = softmax3(previous[k - step] - go, ix1[k - step] - go,
                                                          iy1[k - step] - ge)


@njit(**LANE_FLAGS)
def _shares_diagonal(d_table, top, shares, total, d, start, stop):
    """shares[d, k] = exp(D - top[k]) (0 past a pair's lengths, where D is about PADDING), summed into total[k]."""
    here, out = d_table[d], shares[d]
    for q in range(stop - start):
        k = np.uint64(start + q)
        share = exp_nonpositive(here[k] - top[k])
        out[k] = share
        total[k] += share


@njit(**LANE_FLAGS)
def _per_pair(columns, lanes, reduce_max):
    """Reduce a per-column array (k = i B + b) to one value per pair b, by max or by sum."""
    out = columns[:lanes].copy()
    for k in range(lanes, len(columns)):
        b = k % lanes
        out[b] = max(out[b], columns[k]) if reduce_max else out[b] + columns[k]
    return out


@njit(**LANE_FLAGS)
def _forward(sims, n, m, go, ge, d_table, weights, shares):
    """Fill d_table, weights (8, ...) and shares (flat skewed); returns (Z (B,), sum of shares (B,)).

    Ix and Iy are kept for three diagonals. Every diagonal's border cells (rows 0 and d)
    are ``BORDER``; weights get zeros on the rows next to each diagonal's cells and on
    the two padding diagonals, all that the backward reads past the cells.
    """
    diagonals, width = sims.shape
    lanes = width // (n + 2)
    ix = np.full((3, width), BORDER)
    iy = np.full((3, width), BORDER)
    d_table[:2] = BORDER
    top = np.full(width, BORDER)
    for d in range(2, n + m + 1):
        start, stop = diagonal_span(d, n, m, lanes)
        for row in (d_table[d], ix[d % 3], iy[d % 3]):
            set_border(row, d, n, lanes, BORDER)
        ix0, ix1, ix2 = ix[d % 3], ix[(d - 1) % 3], ix[(d - 2) % 3]
        iy0, iy1, iy2 = iy[d % 3], iy[(d - 1) % 3], iy[(d - 2) % 3]
        _d_diagonal(d_table, ix2, iy2, sims, weights, top, d, start, stop, lanes)
        _ix_diagonal(d_table, ix0, ix1, weights, d, start, stop, go, ge)
        _iy_diagonal(d_table, iy0, ix1, iy1, weights, d, start, stop, lanes, go, ge)
        for plane in range(len(weights)):
            zero_beside(weights[plane], d, start, stop, lanes)
    weights[:, n + m + 1:] = 0.0
    top_pair = _per_pair(top, lanes, True)
    for k in range(width):
        top[k] = top_pair[k % lanes]
    total = np.zeros(width)
    for d in range(2, n + m + 1):
        start, stop = diagonal_span(d, n, m, lanes)
        _shares_diagonal(d_table, top, shares, total, d, start, stop)
    total_pair = _per_pair(total, lanes, False)
    return top_pair + np.log(total_pair), total_pair


@njit(**LANE_FLAGS)
def _backward_diagonal(a_d, a_ix, a_iy, weights, table_adjoint, shares, share_scale, acc_open, acc_ext, d, start,
                       stop, lanes):
    """The adjoints of D, Ix and Iy on diagonal d (columns start..stop), gathered from their readers."""
    step = np.uint64(lanes)
    for q in range(stop - start):
        k = np.uint64(start + q)
        from_ix = a_ix[d + 1, k]  # Ix(i, j+1)
        from_iy = a_iy[d + 1, k + step]  # Iy(i+1, j)
        from_d = a_d[d + 2, k + step]  # D(i+1, j+1)
        adj_d = (table_adjoint[d, k] + share_scale[k] * shares[d, k] + from_ix * weights[_IX_OPEN, d + 1, k]
                 + from_iy * weights[_IY_OPEN, d + 1, k + step] + from_d * weights[_H_D, d + 2, k + step])
        adj_ix = (from_ix * weights[_IX_EXT, d + 1, k] + from_iy * weights[_IY_XOPEN, d + 1, k + step]
                  + from_d * weights[_H_IX, d + 2, k + step])
        adj_iy = from_iy * weights[_IY_EXT, d + 1, k + step] + from_d * weights[_H_IY, d + 2, k + step]
        a_d[d, k] = adj_d
        a_ix[d, k] = adj_ix
        a_iy[d, k] = adj_iy
        acc_open[k] += adj_ix * weights[_IX_OPEN, d, k] + adj_iy * (weights[_IY_OPEN, d, k] + weights[_IY_XOPEN, d, k])
        acc_ext[k] += adj_ix * weights[_IX_EXT, d, k] + adj_iy * weights[_IY_EXT, d, k]


@njit(**LANE_FLAGS)
def _backward(weights, n, m, table_adjoint, shares, share_scale_pair, a_d):
    """Fill a_d (flat skewed: dL/dD in units of t); returns the per-pair sums (open terms, extend terms).

    table_adjoint is t g_T in lanes (0 on padding); share_scale_pair[b] = t g_s[b] / sum of shares.
    """
    _, diagonals, width = weights.shape
    lanes = width // (n + 2)
    share_scale = np.empty(width)
    for k in range(width):
        share_scale[k] = share_scale_pair[k % lanes]
    a_ix = np.empty((diagonals, width))
    a_iy = np.empty((diagonals, width))
    acc_open = np.zeros(width)
    acc_ext = np.zeros(width)
    for table in (a_d, a_ix, a_iy):
        table[n + m + 1:] = 0.0
    for d in range(n + m, 1, -1):
        start, stop = diagonal_span(d, n, m, lanes)
        _backward_diagonal(a_d, a_ix, a_iy, weights, table_adjoint, shares, share_scale, acc_open, acc_ext, d,
                           start, stop, lanes)
        for table in (a_d, a_ix, a_iy):
            zero_beside(table, d, start, stop, lanes)
    return _per_pair(acc_open, lanes, False), _per_pair(acc_ext, lanes, False)


def _numpy64(x: Tensor) -> np.ndarray:
    return x.detach().to(torch.float64).contiguous().numpy()


class _SmoothSWNumba(torch.autograd.Function):
    @staticmethod
    def forward(ctx, sim: Tensor, g_open: Tensor, g_ext: Tensor, t: float, lengths_x: Tensor, lengths_y: Tensor):
        lx, ly = lengths_x.numpy(), lengths_y.numpy()
        batch, n, m = sim.shape
        sims = lane_table(n, m, batch)
        to_lanes(_numpy64(sim), lx, ly, 1.0 / t, PADDING, sims)
        flat = (n + m + 3, (n + 2) * batch)
        d_table, weights, shares = np.empty(flat), np.empty((8, *flat)), np.empty(flat)
        z, total = _forward(sims.reshape(flat), n, m, float(g_open) / t, float(g_ext) / t, d_table, weights,
                            shares)
        ctx.saved = (weights, shares, total, lx, ly, t, n, m)
        table = np.empty((batch, n, m))
        from_lanes(d_table.reshape(sims.shape), lx, ly, np.full(batch, t), -np.inf, table)
        return torch.from_numpy(t * z).to(sim.dtype), torch.from_numpy(table).to(sim.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_score: Tensor, grad_table: Tensor):
        weights, shares, total, lx, ly, t, n, m = ctx.saved
        batch = len(lx)
        table_adjoint = lane_table(n, m, batch)
        to_lanes(_numpy64(grad_table), lx, ly, t, 0.0, table_adjoint)
        flat = weights.shape[1:]
        a_d = np.empty(flat)
        acc_open, acc_ext = _backward(weights, n, m, table_adjoint.reshape(flat), shares,
                                      t * _numpy64(grad_score) / total, a_d)
        grad_sim = np.empty((batch, n, m))
        from_lanes(a_d.reshape(table_adjoint.shape), lx, ly, np.full(batch, 1.0 / t), 0.0, grad_sim)
        dtype = grad_score.dtype
        return (torch.from_numpy(grad_sim).to(dtype), torch.tensor(-acc_open.sum() / t, dtype=dtype),
                torch.tensor(-acc_ext.sum() / t, dtype=dtype), None, None, None)


def smooth_sw_numba(
    sim: Tensor, g_open: Tensor, g_ext: Tensor, t: float, lengths_x: Tensor, lengths_y: Tensor
) -> tuple[Tensor, Tensor]:
    """The "numba" backend of ``smooth_sw`` (CPU tensors): same inputs and outputs as "torch"."""
    if sim.device.type != "cpu":
        raise DataError(f"smooth_sw's numba backend needs CPU tensors, got {sim.device}; use backend='auto' or 'torch'")
    return _SmoothSWNumba.apply(sim, g_open, g_ext, t, lengths_x, lengths_y)
