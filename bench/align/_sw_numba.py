"""Numba CPU backend of ``smooth_sw``: the recursions per cell, with a hand-written backward.

In units of t (s = S / t, go = g_o / t, ge = g_e / t), lse(a) = log sum_k exp(a_k), and
1-based tables with a -inf border (row 0, column 0), each pair b over its n_b x m_b cells:

    H(i, j)  = lse(0, D(i-1, j-1), Ix(i-1, j-1), Iy(i-1, j-1))
    D(i, j)  = s(i, j) + H(i, j)
    Ix(i, j) = lse(D(i, j-1) - go, Ix(i, j-1) - ge)                     (j >= 2, else -inf)
    Iy(i, j) = lse(D(i-1, j) - go, Ix(i-1, j) - go, Iy(i-1, j) - ge)   (i >= 2, else -inf)
    Z        = lse over the pair's cells of D(i, j);   score = t Z, table = t D

exactly the "torch" reference's recursions (bench.align.smith_waterman), accumulated in
float64 whatever the input dtype; cells past a pair's lengths stay -inf.

Backward (reverse mode). The adjoint a_X(i, j) = dL/dX(i, j) starts from the incoming
gradients g_s on the score and g_T on the table,

    a_D(i, j) = t (g_s exp(D(i, j) - Z) + g_T(i, j)),   a_Ix = a_Iy = 0,

and the cells are visited in reverse row-major order (every reader of cell (i, j) sits at
(i, j+1), (i+1, j) or (i+1, j+1), so its adjoints are complete when it is reached). Each
lse hands its output's adjoint to its arguments in proportion to their softmax weights
w_k = exp(a_k - lse), read off the stored outputs H, Ix and Iy:

    D(i, j):  a_{D,Ix,Iy}(i-1, j-1) += a_D(i, j) exp({D,Ix,Iy}(i-1, j-1) - H(i, j))
    Ix(i, j): a_D(i, j-1)  += a_Ix(i, j) w_open,  a_Ix(i, j-1) += a_Ix(i, j) w_ext
    Iy(i, j): a_D(i-1, j)  += a_Iy(i, j) w_open,  a_Ix(i-1, j) += a_Iy(i, j) w_xopen,
              a_Iy(i-1, j) += a_Iy(i, j) w_ext

and dL/dS(i, j) = a_D(i, j) / t, dL/dg_o = -(sum of a w over every go term) / t, dL/dg_e
likewise over the ge terms. Both kernels are compiled once and cached on disk. Pairs run
one after another: a prange over them (numba's OpenMP layer) measured 40 ms instead of 3 ms
for 8 pairs of 32 x 32 on a 2-core machine, its threads contending with torch's.
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
def _lse2(a, b):
    top = max(a, b)
    return top + math.log(math.exp(a - top) + math.exp(b - top))


@njit(cache=True)
def _lse3(a, b, c):
    top = max(a, b, c)
    return top + math.log(math.exp(a - top) + math.exp(b - top) + math.exp(c - top))


@njit(cache=True)
def _lse4(a, b, c, e):
    top = max(a, b, c, e)
    return top + math.log(math.exp(a - top) + math.exp(b - top) + math.exp(c - top) + math.exp(e - top))


@njit(cache=True)
def _sw_forward(sim, lengths_x, lengths_y, t, go, ge):
    """Tables D, H, Ix, Iy (B, N+1, M+1) and Z (B,) in units of t; sim (B, N, M) float64."""
    batch, n, m = sim.shape
    d = np.full((batch, n + 1, m + 1), -np.inf)
    h = np.full((batch, n + 1, m + 1), -np.inf)
    ix = np.full((batch, n + 1, m + 1), -np.inf)
    iy = np.full((batch, n + 1, m + 1), -np.inf)
    z = np.empty(batch)
    for b in range(batch):
        nb, mb = lengths_x[b], lengths_y[b]
        top = -np.inf
        for i in range(1, nb + 1):
            for j in range(1, mb + 1):
                start = _lse4(0.0, d[b, i - 1, j - 1], ix[b, i - 1, j - 1], iy[b, i - 1, j - 1])
                h[b, i, j] = start
                d[b, i, j] = sim[b, i - 1, j - 1] / t + start
                top = max(top, d[b, i, j])
                if j >= 2:
                    ix[b, i, j] = _lse2(d[b, i, j - 1] - go, ix[b, i, j - 1] - ge)
                if i >= 2:
                    iy[b, i, j] = _lse3(d[b, i - 1, j] - go, ix[b, i - 1, j] - go, iy[b, i - 1, j] - ge)
        total = 0.0
        for i in range(1, nb + 1):
            for j in range(1, mb + 1):
                total += math.exp(d[b, i, j] - top)
        z[b] = top + math.log(total)
    return d, h, ix, iy, z


@njit(cache=True)
def _sw_backward(grad_score, grad_table, d, h, ix, iy, z, lengths_x, lengths_y, t, go, ge):
    """(dL/dS (B, N, M), dL/dg_o (B,), dL/dg_e (B,)) per pair, from the forward's tables."""
    batch, n1, m1 = d.shape
    grad_sim = np.zeros((batch, n1 - 1, m1 - 1))
    grad_open = np.zeros(batch)
    grad_ext = np.zeros(batch)
    a_d = np.zeros((batch, n1, m1))
    a_ix = np.zeros((batch, n1, m1))
    a_iy = np.zeros((batch, n1, m1))
    for b in range(batch):
        nb, mb = lengths_x[b], lengths_y[b]
        for i in range(1, nb + 1):
            for j in range(1, mb + 1):
                a_d[b, i, j] = t * (grad_score[b] * math.exp(d[b, i, j] - z[b]) + grad_table[b, i - 1, j - 1])
        acc_open, acc_ext = 0.0, 0.0
        for i in range(nb, 0, -1):
            for j in range(mb, 0, -1):
                if i >= 2:
                    adj, out = a_iy[b, i, j], iy[b, i, j]
                    w_open = math.exp(d[b, i - 1, j] - go - out)
                    w_xopen = math.exp(ix[b, i - 1, j] - go - out)
                    w_ext = math.exp(iy[b, i - 1, j] - ge - out)
                    a_d[b, i - 1, j] += adj * w_open
                    a_ix[b, i - 1, j] += adj * w_xopen
                    a_iy[b, i - 1, j] += adj * w_ext
                    acc_open += adj * (w_open + w_xopen)
                    acc_ext += adj * w_ext
                if j >= 2:
                    adj, out = a_ix[b, i, j], ix[b, i, j]
                    w_open = math.exp(d[b, i, j - 1] - go - out)
                    w_ext = math.exp(ix[b, i, j - 1] - ge - out)
                    a_d[b, i, j - 1] += adj * w_open
                    a_ix[b, i, j - 1] += adj * w_ext
                    acc_open += adj * w_open
                    acc_ext += adj * w_ext
                adj, out = a_d[b, i, j], h[b, i, j]
                grad_sim[b, i - 1, j - 1] = adj / t
                if i >= 2 and j >= 2:
                    a_d[b, i - 1, j - 1] += adj * math.exp(d[b, i - 1, j - 1] - out)
                    a_ix[b, i - 1, j - 1] += adj * math.exp(ix[b, i - 1, j - 1] - out)
                    a_iy[b, i - 1, j - 1] += adj * math.exp(iy[b, i - 1, j - 1] - out)
        grad_open[b] = -acc_open / t
        grad_ext[b] = -acc_ext / t
    return grad_sim, grad_open, grad_ext


def _numpy64(x: Tensor) -> np.ndarray:
    return x.detach().to(torch.float64).contiguous().numpy()


class _SmoothSWNumba(torch.autograd.Function):
    @staticmethod
    def forward(ctx, sim: Tensor, g_open: Tensor, g_ext: Tensor, t: float, lengths_x: Tensor, lengths_y: Tensor):
        lx, ly = lengths_x.numpy(), lengths_y.numpy()
        go, ge = float(g_open) / t, float(g_ext) / t
        d, h, ix, iy, z = _sw_forward(_numpy64(sim), lx, ly, t, go, ge)
        ctx.saved = (d, h, ix, iy, z, lx, ly, t, go, ge)
        score = torch.from_numpy(t * z).to(sim.dtype)
        return score, torch.from_numpy(t * d[:, 1:, 1:]).to(sim.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_score: Tensor, grad_table: Tensor):
        d, h, ix, iy, z, lx, ly, t, go, ge = ctx.saved
        grad_sim, grad_open, grad_ext = _sw_backward(_numpy64(grad_score), _numpy64(grad_table), d, h, ix, iy, z,
                                                     lx, ly, t, go, ge)
        dtype = grad_score.dtype
        return (torch.from_numpy(grad_sim).to(dtype), torch.tensor(grad_open.sum(), dtype=dtype),
                torch.tensor(grad_ext.sum(), dtype=dtype), None, None, None)


def smooth_sw_numba(
    sim: Tensor, g_open: Tensor, g_ext: Tensor, t: float, lengths_x: Tensor, lengths_y: Tensor
) -> tuple[Tensor, Tensor]:
    """The "numba" backend of ``smooth_sw`` (CPU tensors): same inputs and outputs as "torch"."""
    if sim.device.type != "cpu":
        raise DataError(f"smooth_sw's numba backend needs CPU tensors, got {sim.device}; use backend='auto' or 'torch'")
    return _SmoothSWNumba.apply(sim, g_open, g_ext, t, lengths_x, lengths_y)
