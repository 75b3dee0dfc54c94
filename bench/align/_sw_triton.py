"""Triton GPU backend of ``smooth_sw``: one program per pair, a wavefront over anti-diagonals.

The recursions are the numba backend's (bench.align._sw_numba), in units of t on
1-based tables with a -inf border:

    H(i, j)  = lse(0, D(i-1, j-1), Ix(i-1, j-1), Iy(i-1, j-1)),   D(i, j) = s(i, j) + H(i, j)
    Ix(i, j) = lse(D(i, j-1) - go, Ix(i, j-1) - ge)                      (j >= 2, else -inf)
    Iy(i, j) = lse(D(i-1, j) - go, Ix(i-1, j) - go, Iy(i-1, j) - ge)    (i >= 2, else -inf)

and Z = logsumexp of D over the pair's cells (on the host). The backward gathers each
cell's adjoints from its readers, with every softmax weight read off the stored tables
as exp(argument - output):

    a_D(i, j)  = t (g_s exp(D - Z) + g_T) + a_Ix(i, j+1) exp(D - go - Ix(i, j+1))
                 + a_Iy(i+1, j) exp(D - go - Iy(i+1, j)) + a_D(i+1, j+1) exp(D - H(i+1, j+1))
    a_Ix(i, j) = a_Ix(i, j+1) exp(Ix - ge - Ix(i, j+1)) + a_Iy(i+1, j) exp(Ix - go - Iy(i+1, j))
                 + a_D(i+1, j+1) exp(Ix - H(i+1, j+1))
    a_Iy(i, j) = a_Iy(i+1, j) exp(Iy - ge - Iy(i+1, j)) + a_D(i+1, j+1) exp(Iy - H(i+1, j+1))

(readers outside the pair contribute nothing), dL/dS = a_D / t, and the gap gradients
sum each cell's adjoints times its own open / extend weights, as in the numba backend.
Program b walks its pair's diagonals (bench.align._triton_wavefront) in blocks of
``BLOCK`` rows and synchronises between diagonals; the tables are (B, N+2, M+2), no (B, N, M, D) intermediate.

Tested on CPU tensors by Triton's interpreter (TRITON_INTERPRET=1, tests/test_triton.py).
"""
from __future__ import annotations

import math

import torch
import triton
import triton.language as tl
from torch import Tensor
from torch.autograd.function import once_differentiable

from bench.align._triton_wavefront import block_cells, dense_offsets, diagonal_rows, pair_table

BLOCK = 128
"""Rows of a diagonal updated at once by one program."""


@triton.jit
def _lse2(a, b):
    top = tl.maximum(a, b)
    return top + tl.log(tl.exp(a - top) + tl.exp(b - top))


@triton.jit
def _lse3(a, b, c):
    top = tl.maximum(tl.maximum(a, b), c)
    return top + tl.log(tl.exp(a - top) + tl.exp(b - top) + tl.exp(c - top))


@triton.jit
def _lse_with_zero(a, b, c):
    top = tl.maximum(tl.maximum(tl.maximum(a, b), c), 0.0)
    return top + tl.log(tl.exp(-top) + tl.exp(a - top) + tl.exp(b - top) + tl.exp(c - top))


@triton.jit
def _forward_kernel(sim_ptr, d_ptr, ix_ptr, iy_ptr, h_ptr, lengths_x_ptr, lengths_y_ptr, inv_t, go, ge, n, m,
                    BLOCK: tl.constexpr):
    b, nb, mb, width, table = pair_table(lengths_x_ptr, lengths_y_ptr, n, m)
    for d in range(2, nb + mb + 1):
        lo, hi = diagonal_rows(d, nb, mb)
        for first in range(lo, hi + 1, BLOCK):
            i, j, cell, at = block_cells(d, first, hi, width, table, BLOCK)
            diag = at - width - 1
            h = _lse_with_zero(tl.load(d_ptr + diag, mask=cell, other=0.0), tl.load(ix_ptr + diag, mask=cell, other=0.0),
                               tl.load(iy_ptr + diag, mask=cell, other=0.0))
            value = tl.load(sim_ptr + dense_offsets(b, i, j, n, m), mask=cell, other=0.0) * inv_t + h
            has_left = cell & (j >= 2)
            ix = _lse2(tl.load(d_ptr + at - 1, mask=has_left, other=0.0) - go,
                       tl.load(ix_ptr + at - 1, mask=has_left, other=0.0) - ge)
            has_up = cell & (i >= 2)
            up = at - width
            iy = _lse3(tl.load(d_ptr + up, mask=has_up, other=0.0) - go, tl.load(ix_ptr + up, mask=has_up, other=0.0)
                       - go, tl.load(iy_ptr + up, mask=has_up, other=0.0) - ge)
            tl.store(h_ptr + at, h, mask=cell)
            tl.store(d_ptr + at, value, mask=cell)
            tl.store(ix_ptr + at, tl.where(has_left, ix, -float("inf")), mask=cell)
            tl.store(iy_ptr + at, tl.where(has_up, iy, -float("inf")), mask=cell)
        tl.debug_barrier()


@triton.jit
def _weighted(adjoint_ptr, value_ptr, at, mask, argument):
    """adjoint(at) * exp(argument - value(at)) where mask, else 0."""
    adjoint = tl.load(adjoint_ptr + at, mask=mask, other=0.0)
    value = tl.load(value_ptr + at, mask=mask, other=0.0)
    return tl.where(mask, adjoint * tl.exp(argument - value), 0.0)


@triton.jit
def _backward_kernel(d_ptr, ix_ptr, iy_ptr, h_ptr, a_d_ptr, a_ix_ptr, a_iy_ptr, grad_table_ptr, grad_score_ptr, z_ptr,
                     gaps_ptr, lengths_x_ptr, lengths_y_ptr, t, go, ge, n, m, BLOCK: tl.constexpr):
    b, nb, mb, width, table = pair_table(lengths_x_ptr, lengths_y_ptr, n, m)
    grad_score = tl.load(grad_score_ptr + b)
    z = tl.load(z_ptr + b)
    acc_open = tl.zeros((BLOCK,), dtype=tl.float64)
    acc_ext = tl.zeros((BLOCK,), dtype=tl.float64)
    for back in range(0, nb + mb - 1):  # diagonals nb + mb down to 2
        d = nb + mb - back
        lo, hi = diagonal_rows(d, nb, mb)
        for first in range(lo, hi + 1, BLOCK):
            i, j, cell, at = block_cells(d, first, hi, width, table, BLOCK)
            dv = tl.load(d_ptr + at, mask=cell, other=0.0)
            ixv = tl.load(ix_ptr + at, mask=cell, other=-float("inf"))
            iyv = tl.load(iy_ptr + at, mask=cell, other=-float("inf"))
            right = cell & (j < mb)
            below = cell & (i < nb)
            both = right & below
            g_table = tl.load(grad_table_ptr + dense_offsets(b, i, j, n, m), mask=cell, other=0.0)
            a_d = t * (grad_score * tl.exp(dv - z) + g_table)
            a_d += _weighted(a_ix_ptr, ix_ptr, at + 1, right, dv - go)
            a_d += _weighted(a_iy_ptr, iy_ptr, at + width, below, dv - go)
            a_d += _weighted(a_d_ptr, h_ptr, at + width + 1, both, dv)
            a_ix = _weighted(a_ix_ptr, ix_ptr, at + 1, right, ixv - ge)
            a_ix += _weighted(a_iy_ptr, iy_ptr, at + width, below, ixv - go)
            a_ix += _weighted(a_d_ptr, h_ptr, at + width + 1, both, ixv)
            a_iy = _weighted(a_iy_ptr, iy_ptr, at + width, below, iyv - ge)
            a_iy += _weighted(a_d_ptr, h_ptr, at + width + 1, both, iyv)
            tl.store(a_d_ptr + at, a_d, mask=cell)
            tl.store(a_ix_ptr + at, a_ix, mask=cell)
            tl.store(a_iy_ptr + at, a_iy, mask=cell)
            # the cell's own gap weights: Ix(i, j) (j >= 2) and Iy(i, j) (i >= 2)
            has_left = cell & (j >= 2)
            x_out = tl.where(has_left, ixv, 0.0)
            x_open = tl.exp(tl.load(d_ptr + at - 1, mask=has_left, other=0.0) - go - x_out)
            x_ext = tl.exp(tl.load(ix_ptr + at - 1, mask=has_left, other=0.0) - ge - x_out)
            has_up = cell & (i >= 2)
            y_out = tl.where(has_up, iyv, 0.0)
            y_open = tl.exp(tl.load(d_ptr + at - width, mask=has_up, other=0.0) - go - y_out)
            y_xopen = tl.exp(tl.load(ix_ptr + at - width, mask=has_up, other=0.0) - go - y_out)
            y_ext = tl.exp(tl.load(iy_ptr + at - width, mask=has_up, other=0.0) - ge - y_out)
            acc_open += tl.where(has_left, a_ix * x_open, 0.0) + tl.where(has_up, a_iy * (y_open + y_xopen), 0.0)
            acc_ext += tl.where(has_left, a_ix * x_ext, 0.0) + tl.where(has_up, a_iy * y_ext, 0.0)
        tl.debug_barrier()
    tl.store(gaps_ptr + 2 * b, tl.sum(acc_open, axis=0))
    tl.store(gaps_ptr + 2 * b + 1, tl.sum(acc_ext, axis=0))


class _SmoothSWTriton(torch.autograd.Function):
    @staticmethod
    def forward(ctx, sim: Tensor, g_open: Tensor, g_ext: Tensor, t: float, lengths_x: Tensor, lengths_y: Tensor):
        batch, n, m = sim.shape
        sim = sim.detach().contiguous()
        tables = [sim.new_full((batch, n + 2, m + 2), -math.inf) for _ in range(4)]  # D, Ix, Iy, H
        go, ge = float(g_open) / t, float(g_ext) / t
        lengths_x, lengths_y = lengths_x.to(sim.device), lengths_y.to(sim.device)
        _forward_kernel[(batch,)](sim, *tables, lengths_x, lengths_y, 1.0 / t, go, ge, n, m, BLOCK=BLOCK)
        d_cells = tables[0][:, 1:-1, 1:-1]
        z = torch.logsumexp(d_cells.reshape(batch, -1), dim=1)
        ctx.save_for_backward(*tables, z, lengths_x, lengths_y)
        ctx.units = (t, go, ge)
        return t * z, t * d_cells

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_score: Tensor, grad_table: Tensor):
        *tables, z, lengths_x, lengths_y = ctx.saved_tensors
        t, go, ge = ctx.units
        batch, n2, m2 = tables[0].shape
        adjoints = [torch.zeros_like(tables[0]) for _ in range(3)]  # a_D, a_Ix, a_Iy
        # the gap sums accumulate in float64 inside the kernel
        gaps = torch.empty(batch, 2, dtype=torch.float64, device=z.device)
        _backward_kernel[(batch,)](*tables, *adjoints, grad_table.to(z.dtype).contiguous(),
                                   grad_score.to(z.dtype).contiguous(), z, gaps, lengths_x, lengths_y, t, go, ge,
                                   n2 - 2, m2 - 2, BLOCK=BLOCK)
        dtype = grad_score.dtype
        sums = -gaps.sum(0) / t
        return (adjoints[0][:, 1:-1, 1:-1] / t, sums[0].to(dtype), sums[1].to(dtype), None, None, None)


def smooth_sw_triton(
    sim: Tensor, g_open: Tensor, g_ext: Tensor, t: float, lengths_x: Tensor, lengths_y: Tensor
) -> tuple[Tensor, Tensor]:
    """The "triton" backend of ``smooth_sw`` (CUDA tensors, or any under TRITON_INTERPRET=1); inputs validated by the caller."""
    return _SmoothSWTriton.apply(sim, g_open, g_ext, t, lengths_x, lengths_y)
