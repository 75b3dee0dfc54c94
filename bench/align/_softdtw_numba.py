"""Numba CPU backend of ``soft_dtw``: the forward recursion and the backward per cell.

In the reference's units u = -r / gamma (bench.align.softdtw), with 1-based tables whose
border is -inf except u(0, 0) = 0, each pair b over its n_b x m_b cells, row by row:

    L(i, j) = lse(u(i-1, j), u(i, j-1), u(i-1, j-1)),   u(i, j) = -c(i, j) / gamma + L(i, j)
    soft-DTW = -gamma u(n_b, m_b)

with lse(a) = log sum_k exp(a_k), in float64 whatever the input dtype. The lse is taken
around its largest term t, so a cell costs two exp and one log: with the three shifted
weights w_p = exp(u(p) - t) (one of them exactly 1) and S = sum_p w_p, L = t + log S.
The same numbers give the normalised transitions (the softmax of s's predecessors, as
the reference takes them),

    P(p | s) = exp(u(p) - L(s)) = w_p / S,

which the forward stores for every cell s as three planes (up, left, diagonal). The
backward then needs no transcendental at all: the expected alignment runs from
E(n_b, m_b) = 1 over the cells in reverse row-major order (successors first),

    E(i, j) = E(i+1, j) P((i, j) | (i+1, j)) + E(i, j+1) P((i, j) | (i, j+1))
              + E(i+1, j+1) P((i, j) | (i+1, j+1)),

successors outside the pair contributing zero, and d soft-DTW / d c(i, j) = E(i, j),
zero on padding. This is the reference's log-space recursion exponentiated: normalised
transitions are in [0, 1] and conserve the flow, so E stays in [0, 1] without overflow
for any gamma, and matches exp(log E) to rounding (values below ~1e-308 underflow to 0).

Pairs are independent: batches with at least ``PARALLEL_MIN_CELLS`` valid cells split
them, balanced by cells, over NUMBA_NUM_THREADS Python threads running the kernels
without the GIL; smaller batches run them one after another. Not a ``prange``: numba's
threading layer is process-wide and here resolves to GNU OpenMP, whose idle threads spin
against torch's (8 pairs of 64 x 64 took 16 ms that way, 3 ms serially). All kernels are
compiled once and cached on disk.
"""
from __future__ import annotations

import math
from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
import torch
from numba import njit
from torch import Tensor
from torch.autograd.function import once_differentiable

from bench.errors import DataError

PARALLEL_MIN_CELLS = 8192
"""Total valid cells from which the pairs run in parallel (below it, threads cost more than they save)."""


@njit(cache=True, inline="always")
def _cell(up, left, diag, cost, scale, weights, i, j):
    """u(i, j) from its predecessors' u; stores P(. | (i, j)) at weights[:, i-1, j-1]."""
    if up >= left and up >= diag:
        top, w_up, w_left, w_diag = up, 1.0, math.exp(left - up), math.exp(diag - up)
    elif left >= diag:
        top, w_up, w_left, w_diag = left, math.exp(up - left), 1.0, math.exp(diag - left)
    else:
        top, w_up, w_left, w_diag = diag, math.exp(up - diag), math.exp(left - diag), 1.0
    total = w_up + w_left + w_diag
    inv = 1.0 / total
    weights[0, i - 1, j - 1] = w_up * inv
    weights[1, i - 1, j - 1] = w_left * inv
    weights[2, i - 1, j - 1] = w_diag * inv
    return cost[i - 1, j - 1] * scale + (top + math.log(total))


@njit(cache=True, inline="always")
def _forward_pair(cost, nb, mb, scale, weights):
    """u(n_b, m_b) of one pair (cost (N, M)); fills weights (3, N+1, M+1) at [:, i-1, j-1].

    Rows go two at a time, the second one cell behind the first ((i, j) and (i+1, j-1) are
    independent), so that two chains of exp and log are in flight instead of one.
    """
    prev = np.full(mb + 1, -np.inf)  # row i-1 of u
    row = np.full(mb + 1, -np.inf)  # row i
    nxt = np.full(mb + 1, -np.inf)  # row i+1
    prev[0] = 0.0  # u(0, 0)
    i = 1
    while i + 1 <= nb:
        row[1] = _cell(prev[1], -np.inf, prev[0], cost, scale, weights, i, 1)
        for j in range(2, mb + 1):
            row[j] = _cell(prev[j], row[j - 1], prev[j - 1], cost, scale, weights, i, j)
            nxt[j - 1] = _cell(row[j - 1], nxt[j - 2], row[j - 2], cost, scale, weights, i + 1, j - 1)
        nxt[mb] = _cell(row[mb], nxt[mb - 1], row[mb - 1], cost, scale, weights, i + 1, mb)
        prev, nxt = nxt, prev
        nxt[0] = -np.inf  # the old row i-1 held u(0, 0)
        i += 2
    if i == nb:  # an odd row left
        for j in range(1, mb + 1):
            row[j] = _cell(prev[j], row[j - 1], prev[j - 1], cost, scale, weights, i, j)
        return row[mb]
    return prev[mb]


@njit(cache=True, inline="always")
def _backward_pair(weights, nb, mb, expected):
    """Fill expected (N+1, M+1) at [i-1, j-1] for the pair's cells; the rest stays zero."""
    w_up, w_left, w_diag = weights[0], weights[1], weights[2]
    expected[nb - 1, mb - 1] = 1.0
    for j in range(mb - 2, -1, -1):  # last row: only the right successor
        expected[nb - 1, j] = expected[nb - 1, j + 1] * w_left[nb - 1, j + 1]
    for i in range(nb - 2, -1, -1):
        below, here = expected[i + 1], expected[i]
        up_i, left_i, diag_i = w_up[i + 1], w_left[i], w_diag[i + 1]
        # column mb-1: successors (i+1, j) only (the padded column of weights and E is zero)
        for j in range(mb - 1, -1, -1):
            here[j] = below[j] * up_i[j] + here[j + 1] * left_i[j + 1] + below[j + 1] * diag_i[j + 1]


@njit(cache=True, nogil=True)
def _forward_pairs(cost, lengths_x, lengths_y, scale, values, weights, pairs):
    for b in pairs:
        values[b] = _forward_pair(cost[b], lengths_x[b], lengths_y[b], scale, weights[b])


@njit(cache=True, nogil=True)
def _backward_pairs(weights, lengths_x, lengths_y, expected, pairs):
    for b in pairs:
        _backward_pair(weights[b], lengths_x[b], lengths_y[b], expected[b])


_POOL: list[ThreadPoolExecutor] = []


def _split(lengths_x: np.ndarray, lengths_y: np.ndarray) -> list[np.ndarray]:
    """The pair indices per thread: one chunk below ``PARALLEL_MIN_CELLS``, else balanced by cells."""
    cells = lengths_x * lengths_y
    threads = min(len(cells), numba.config.NUMBA_NUM_THREADS)
    if threads < 2 or int(cells.sum()) < PARALLEL_MIN_CELLS:
        return [np.arange(len(cells))]
    load, chunks = [0] * threads, [[] for _ in range(threads)]
    for b in np.argsort(-cells, kind="stable"):  # largest pair first onto the least-loaded thread
        k = load.index(min(load))
        chunks[k].append(b)
        load[k] += int(cells[b])
    return [np.sort(np.array(c, dtype=np.int64)) for c in chunks]


def _run(kernel, chunks: list[np.ndarray], *args) -> None:
    if len(chunks) == 1:
        kernel(*args, chunks[0])
        return
    if not _POOL:
        _POOL.append(ThreadPoolExecutor(numba.config.NUMBA_NUM_THREADS, thread_name_prefix="softdtw"))
    done = [_POOL[0].submit(kernel, *args, c) for c in chunks[1:]]
    kernel(*args, chunks[0])
    for future in done:
        future.result()


class _SoftDTWNumba(torch.autograd.Function):
    @staticmethod
    def forward(ctx, cost: Tensor, gamma: float, lengths_x: Tensor, lengths_y: Tensor) -> Tensor:
        lx, ly = lengths_x.numpy(), lengths_y.numpy()
        batch, n, m = cost.shape
        values = np.empty(batch)
        # padded by one row and column of zeros, read (times a zero E) past each pair's end
        weights = np.zeros((batch, 3, n + 1, m + 1))
        chunks = _split(lx, ly)
        cost64 = cost.detach().to(torch.float64).contiguous().numpy()
        _run(_forward_pairs, chunks, cost64, lx, ly, -1.0 / gamma, values, weights)
        ctx.saved = (weights, lx, ly, chunks)
        return torch.from_numpy(-gamma * values).to(cost.dtype)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_out: Tensor):
        weights, lx, ly, chunks = ctx.saved
        batch, _, n1, m1 = weights.shape
        expected = np.zeros((batch, n1, m1))
        _run(_backward_pairs, chunks, weights, lx, ly, expected)
        expected = torch.from_numpy(expected[:, :-1, :-1]).to(grad_out.dtype)
        return grad_out.view(-1, 1, 1) * expected, None, None, None


def soft_dtw_numba(cost: Tensor, gamma: float, lengths_x: Tensor, lengths_y: Tensor) -> Tensor:
    """The "numba" backend of ``soft_dtw`` (CPU tensors): same inputs and output as "torch"."""
    if cost.device.type != "cpu":
        raise DataError(f"soft_dtw's numba backend needs CPU tensors, got {cost.device}; use backend='auto' or 'torch'")
    return _SoftDTWNumba.apply(cost, gamma, lengths_x, lengths_y)
