"""Layout and arithmetic shared by the numba kernels that run a batch of pairs side by side ("lanes").

Layout. The soft-DTW and smooth Smith-Waterman recursions read, at 1-based cell (i, j),
the cells (i-1, j), (i, j-1) and (i-1, j-1): every cell of an anti-diagonal d = i + j
depends only on the two diagonals before it. Their kernels therefore store a table of a
batch of B pairs skewed, T[d, i, b] with shape (N + M + 3, N + 2, B), and viewed flat as
(N + M + 3, (N + 2) B): cell (i, d - i) of pair b sits in column k = i B + b, its
predecessors at [d-1, k-B] (up), [d-1, k] (left) and [d-2, k-B] (diagonal), its
successors at [d+1, k+B], [d+1, k] and [d+2, k+B]. The cells of diagonal d, for all
pairs, are the contiguous columns ``diagonal_span(d, N, M, B)``, so one loop updates
them with SIMD instructions, for a single pair as well as many. Row 0 and column 0 of
the cells are the recursions' border; the last row and the two last diagonals are
padding that backward sweeps read past the table's edge. All pairs run over the largest
shape: cells past a pair's lengths get a neutral input and never feed the pair's cells.

What keeps LLVM vectorising those loops: column indices are unsigned (``np.uint64``;
with a signed index numba emits negative-index wraparound, and the loop stayed scalar,
4.5x slower), and each diagonal's loop is a small function of its own (inlined into the
sweep, it vectorised too but ran 15% slower).

Arithmetic. A call to libm's exp or log inside the loop would stop vectorisation too
(numba has no vector math library here), so this module gives both as plain
arithmetic, on the ranges the recursions need:

    exp(x), x <= 0:       x = k ln 2 + r, |r| <= ln(2) / 2 (k = round(x / ln 2), ln 2
                          split in two parts so that r is exact), exp(r) by its Taylor
                          polynomial to degree 13 (truncation below 4e-18 relative;
                          both polynomials by Estrin's scheme),
                          times 2^k built from its bits; 0 below -708 (where 2^k would
                          be subnormal; exp(-708) = 3e-308), NaN stays NaN;
    log(s), 1 <= s <= 4:  s = 2^e m with m in [0.75, 1.5], log m = 2 atanh(z) with
                          z = (m - 1) / (m + 1), |z| <= 0.2, by its series to z^27
                          (truncation below 1e-20).

Both are within a few ulp of libm (tests/test_lanes.py). On top of them, the softmax
of two to four log-weights, the operation of every cell of both recursions: with t the
largest argument, lse = t + log sum_k exp(a_k - t), and the weights exp(a_k - lse). A
sorting network finds which argument is the largest, so that k-1 exponentials suffice
(the largest term's is exactly 1). The arguments must not all be -inf.

Functions are compiled with ``error_model="numpy"`` (a float division by zero is not a
Python exception, which would stop vectorisation) and ``fastmath={"contract"}`` (fused
multiply-add, which only removes roundings).
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

from bench.align import _cache  # noqa: F401 - registers the cache locator before any kernel is defined

LANE_FLAGS = {"cache": True, "error_model": "numpy", "fastmath": {"contract"}}
"""The njit options of every lane kernel (see the module docstring)."""

_LOG2_E = 1.4426950408889634
_LN2_HI = 0.6931471803691238  # ln 2 to 32 bits: k * _LN2_HI is exact for |k| < 2^20
_LN2_LO = 1.9082149292705877e-10  # ln 2 - _LN2_HI
_LN2 = 0.6931471805599453
EXP_MIN = -708.0
"""Below this argument ``exp_nonpositive`` returns 0 (exp(-708) = 3.3e-308, near the smallest normal)."""


@intrinsic
def _float_from_bits(typingctx, bits):
    """The float64 whose IEEE-754 bit pattern is the int64 ``bits``."""
    signature = types.float64(types.int64)

    def codegen(context, builder, sig, args):
        return builder.bitcast(args[0], ir.DoubleType())

    return signature, codegen


@njit(inline="always", **LANE_FLAGS)
def _polynomial(x, c0, c1, c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12, c13):
    """sum_k c_k x^k by Estrin's scheme: pairs, then pairs of pairs, a dependency chain of 4
    multiply-adds instead of Horner's 13 (measured 10% faster lane kernels)."""
    x2 = x * x
    x4 = x2 * x2
    x8 = x4 * x4
    low = (c0 + x * c1 + x2 * (c2 + x * c3)) + x4 * (c4 + x * c5 + x2 * (c6 + x * c7))
    high = (c8 + x * c9 + x2 * (c10 + x * c11)) + x4 * (c12 + x * c13)
    return low + x8 * high


@njit(inline="always", **LANE_FLAGS)
def exp_nonpositive(x):
    """exp(x) for x <= 0 (x = -inf gives 0; x > 0 is outside the contract)."""
    reduced = EXP_MIN if x < EXP_MIN else x  # keeps NaN
    k = math.floor(reduced * _LOG2_E + 0.5)
    r = (reduced - k * _LN2_HI) - k * _LN2_LO
    p = _polynomial(r, 1.0, 1.0, 1.0 / 2.0, 1.0 / 6.0, 1.0 / 24.0, 1.0 / 120.0, 1.0 / 720.0, 1.0 / 5040.0,
                    1.0 / 40320.0, 1.0 / 362880.0, 1.0 / 3628800.0, 1.0 / 39916800.0, 1.0 / 479001600.0,
                    1.0 / 6227020800.0)
    two_to_k = _float_from_bits((np.int64(k) + 1023) << 52)
    return 0.0 if x < EXP_MIN else p * two_to_k


@njit(inline="always", **LANE_FLAGS)
def log_1_to_4(s):
    """log(s) for 1 <= s <= 4 (the sum of a softmax's shifted terms)."""
    halve_once = s > 1.5
    m = s * 0.5 if halve_once else s
    halve_twice = m > 1.5
    m = m * 0.5 if halve_twice else m
    halvings = (1.0 if halve_once else 0.0) + (1.0 if halve_twice else 0.0)
    z = (m - 1.0) / (m + 1.0)
    # 2 atanh(z) = 2 z sum_k z^2k / (2k + 1), here to k = 13
    p = _polynomial(z * z, 1.0, 1.0 / 3.0, 1.0 / 5.0, 1.0 / 7.0, 1.0 / 9.0, 1.0 / 11.0, 1.0 / 13.0, 1.0 / 15.0,
                    1.0 / 17.0, 1.0 / 19.0, 1.0 / 21.0, 1.0 / 23.0, 1.0 / 25.0, 1.0 / 27.0)
    return halvings * _LN2 + 2.0 * z * p


@njit(inline="always", **LANE_FLAGS)
def softmax2(a, b):
    """(lse, w_a, w_b): lse = log(e^a + e^b), w = exp(arg - lse); one exp."""
    a_top = a >= b
    top = a if a_top else b
    other = exp_nonpositive((b if a_top else a) - top)
    total = 1.0 + other
    inv = 1.0 / total
    return top + log_1_to_4(total), (1.0 if a_top else other) * inv, (other if a_top else 1.0) * inv


@njit(inline="always", **LANE_FLAGS)
def softmax3(a, b, c):
    """(lse, w_a, w_b, w_c) of three log-weights; two exp.

    p = max(a, b) and q = min(a, b); the largest is max(p, c); the two others are q and
    min(p, c), whose exponentials are mapped back to a, b, c by the same comparisons.
    """
    a_over_b = a >= b
    p = a if a_over_b else b
    q = b if a_over_b else a
    c_top = c >= p
    top = c if c_top else p
    e_q = exp_nonpositive(q - top)
    e_r = exp_nonpositive((p if c_top else c) - top)
    total = 1.0 + e_q + e_r
    inv = 1.0 / total
    w_p = e_r if c_top else 1.0
    w_c = 1.0 if c_top else e_r
    w_a = w_p if a_over_b else e_q
    w_b = e_q if a_over_b else w_p
    return top + log_1_to_4(total), w_a * inv, w_b * inv, w_c * inv


@njit(inline="always", **LANE_FLAGS)
def softmax_with_zero(a, b, c):
    """(lse, w_a, w_b, w_c) of the four log-weights (0, a, b, c), the zero's weight left out; three exp.

    The largest of the four is max(max(0, a), max(b, c)); the three others are the
    losers of the three comparisons, mapped back as in ``softmax3``.
    """
    a_over_0 = a >= 0.0
    p = a if a_over_0 else 0.0
    q = 0.0 if a_over_0 else a
    b_over_c = b >= c
    r = b if b_over_c else c
    s = c if b_over_c else b
    r_top = r >= p
    top = r if r_top else p
    e_q = exp_nonpositive(q - top)
    e_s = exp_nonpositive(s - top)
    e_loser = exp_nonpositive((p if r_top else r) - top)
    total = 1.0 + e_q + e_s + e_loser
    inv = 1.0 / total
    w_p = e_loser if r_top else 1.0
    w_r = 1.0 if r_top else e_loser
    w_a = w_p if a_over_0 else e_q
    w_b = w_r if b_over_c else e_s
    w_c = e_s if b_over_c else w_r
    return top + log_1_to_4(total), w_a * inv, w_b * inv, w_c * inv


@njit(inline="always", **LANE_FLAGS)
def diagonal_span(d, n, m, lanes):
    """(start, stop): the flat columns of diagonal d's cells (i from max(1, d-m) to min(n, d-1))."""
    return max(1, d - m) * lanes, (min(n, d - 1) + 1) * lanes


@njit(**LANE_FLAGS)
def set_border(row, d, n, lanes, value):
    """Give diagonal d's border cells, (0, d) and (d, 0) when d <= n, the value ``value`` (row: its flat row)."""
    row[:lanes] = value
    if d <= n:
        row[d * lanes:(d + 1) * lanes] = value


@njit(**LANE_FLAGS)
def zero_beside(table, d, start, stop, lanes):
    """Zero the rows just outside diagonal d's cells (columns start..stop) of a flat table.

    With the two padding diagonals zeroed too, that is everything a backward sweep reads
    past the cells, so tables can be allocated uninitialised.
    """
    table[d, start - lanes:start] = 0.0
    table[d, stop:stop + lanes] = 0.0


@njit(**LANE_FLAGS)
def to_lanes(values, lengths_x, lengths_y, scale, padding, out):
    """out[i+j, i, b] = scale * values[b, i-1, j-1] on each pair's valid cells, ``padding`` past them (NaN-safe).

    values (B, N, M); out (N + M + 3, N + 2, B), written on the cells only.
    """
    batch, n, m = values.shape
    for i in range(n):  # this order measured fastest of four (pair, row or diagonal outermost)
        for b in range(batch):
            nb, mb = lengths_x[b], lengths_y[b]
            for j in range(m):
                out[i + j + 2, i + 1, b] = scale * values[b, i, j] if (i < nb and j < mb) else padding


@njit(**LANE_FLAGS)
def from_lanes(table, lengths_x, lengths_y, scale, fill, out):
    """out[b, i-1, j-1] = scale[b] * table[i+j, i, b] on each pair's valid cells, ``fill`` on padding."""
    batch, n, m = out.shape
    for b in range(batch):
        nb, mb, factor = lengths_x[b], lengths_y[b], scale[b]
        for i in range(n):
            for j in range(m):
                out[b, i, j] = factor * table[i + j + 2, i + 1, b] if (i < nb and j < mb) else fill


def lane_table(n: int, m: int, lanes: int) -> np.ndarray:
    """An uninitialised skewed table (N + M + 3, N + 2, B) for N x M cells of B pairs."""
    return np.empty((n + m + 3, n + 2, lanes))
