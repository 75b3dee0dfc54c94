"""Triton GPU backend of ``soft_dtw``: one program per pair, a wavefront over anti-diagonals.

The recursions are the numba backend's (bench.align._softdtw_numba), in the reference's
units u = -r / gamma on 1-based tables with a border (-inf, u(0, 0) = 0):

    L(i, j) = lse(u(i-1, j), u(i, j-1), u(i-1, j-1)),   u(i, j) = -c(i, j) / gamma + L(i, j)
    E(i, j) = sum over the successors s in the pair of E(s) exp(u(i, j) - L(s)),  E(n_b, m_b) = 1

exp(u(p) - L(s)) is the softmax of s's stored predecessors, as in the reference, so the
flow is conserved and E stays in [0, 1]. Program b walks the diagonals d = i + j of its
own pair (bench.align._triton_wavefront), the cells of a diagonal in blocks of ``BLOCK``
rows, and synchronises its threads between diagonals (a diagonal reads the two before it
from global memory). The
tables u, L and E are (B, N+2, M+2) in the input's dtype: nothing per feature, no
(B, N, M, D) intermediate. The host launches one program per pair for the forward and
one for the backward.

Tested on CPU tensors by Triton's interpreter (TRITON_INTERPRET=1, tests/test_triton.py);
``make perf`` times it when a GPU is present.
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
def _forward_kernel(cost_ptr, u_ptr, lse_ptr, lengths_x_ptr, lengths_y_ptr, values_ptr, neg_inv_gamma, n, m,
                    BLOCK: tl.constexpr):
    b, nb, mb, width, table = pair_table(lengths_x_ptr, lengths_y_ptr, n, m)
    for d in range(2, nb + mb + 1):
        lo, hi = diagonal_rows(d, nb, mb)
        for first in range(lo, hi + 1, BLOCK):
            i, j, cell, at = block_cells(d, first, hi, width, table, BLOCK)
            up = tl.load(u_ptr + at - width, mask=cell, other=-float("inf"))
            left = tl.load(u_ptr + at - 1, mask=cell, other=-float("inf"))
            diag = tl.load(u_ptr + at - width - 1, mask=cell, other=0.0)  # 0: no -inf - -inf off the cells
            top = tl.maximum(tl.maximum(up, left), diag)
            lse = top + tl.log(tl.exp(up - top) + tl.exp(left - top) + tl.exp(diag - top))
            cost = tl.load(cost_ptr + dense_offsets(b, i, j, n, m), mask=cell, other=0.0)
            tl.store(lse_ptr + at, lse, mask=cell)
            tl.store(u_ptr + at, cost * neg_inv_gamma + lse, mask=cell)
        tl.debug_barrier()
    tl.store(values_ptr + b, tl.load(u_ptr + table + nb * width + mb))


@triton.jit
def _backward_kernel(u_ptr, lse_ptr, e_ptr, lengths_x_ptr, lengths_y_ptr, n, m, BLOCK: tl.constexpr):
    b, nb, mb, width, table = pair_table(lengths_x_ptr, lengths_y_ptr, n, m)
    for back in range(0, nb + mb - 2):  # diagonals nb + mb - 1 down to 2; E(nb, mb) = 1 is set by the host
        d = nb + mb - 1 - back
        lo, hi = diagonal_rows(d, nb, mb)
        for first in range(lo, hi + 1, BLOCK):
            i, j, cell, at = block_cells(d, first, hi, width, table, BLOCK)
            u = tl.load(u_ptr + at, mask=cell, other=0.0)
            below = cell & (i < nb)
            right = cell & (j < mb)
            both = below & right
            flow = tl.where(below, tl.load(e_ptr + at + width, mask=below, other=0.0)
                            * tl.exp(u - tl.load(lse_ptr + at + width, mask=below, other=0.0)), 0.0)
            flow += tl.where(right, tl.load(e_ptr + at + 1, mask=right, other=0.0)
                             * tl.exp(u - tl.load(lse_ptr + at + 1, mask=right, other=0.0)), 0.0)
            flow += tl.where(both, tl.load(e_ptr + at + width + 1, mask=both, other=0.0)
                             * tl.exp(u - tl.load(lse_ptr + at + width + 1, mask=both, other=0.0)), 0.0)
            tl.store(e_ptr + at, flow, mask=cell)
        tl.debug_barrier()


class _SoftDTWTriton(torch.autograd.Function):
    @staticmethod
    def forward(ctx, cost: Tensor, gamma: float, lengths_x: Tensor, lengths_y: Tensor) -> Tensor:
        batch, n, m = cost.shape
        cost = cost.detach().contiguous()
        u = cost.new_full((batch, n + 2, m + 2), -math.inf)
        u[:, 0, 0] = 0.0
        lse = torch.zeros_like(u)
        values = cost.new_empty(batch)
        lengths_x, lengths_y = lengths_x.to(cost.device), lengths_y.to(cost.device)
        _forward_kernel[(batch,)](cost, u, lse, lengths_x, lengths_y, values, -1.0 / gamma, n, m, BLOCK=BLOCK)
        ctx.save_for_backward(u, lse, lengths_x, lengths_y)
        return -gamma * values

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor):
        u, lse, lengths_x, lengths_y = ctx.saved_tensors
        batch, n2, m2 = u.shape
        expected = torch.zeros_like(u)
        expected[torch.arange(batch, device=u.device), lengths_x, lengths_y] = 1.0
        _backward_kernel[(batch,)](u, lse, expected, lengths_x, lengths_y, n2 - 2, m2 - 2, BLOCK=BLOCK)
        return grad_out.view(-1, 1, 1) * expected[:, 1:-1, 1:-1], None, None, None


def soft_dtw_triton(cost: Tensor, gamma: float, lengths_x: Tensor, lengths_y: Tensor) -> Tensor:
    """The "triton" backend of ``soft_dtw`` (CUDA tensors, or any under TRITON_INTERPRET=1); inputs validated by the caller."""
    return _SoftDTWTriton.apply(cost, gamma, lengths_x, lengths_y)
