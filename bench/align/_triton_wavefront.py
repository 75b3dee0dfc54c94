"""The wavefront walk shared by the Triton kernels: one program per pair, its anti-diagonals in turn.

Program b owns pair b's tables, each (N+2, M+2) with the 1-based cells (i, j) at row i,
column j and a border around them. It visits the diagonals d = i + j one after another,
each in blocks of BLOCK rows (the cells of a diagonal are independent), and synchronises
its threads between diagonals, since a diagonal reads the two before it (or, backwards,
after it) from global memory.
"""
from __future__ import annotations

import triton
import triton.language as tl


@triton.jit
def pair_table(lengths_x_ptr, lengths_y_ptr, n, m):
    """(b, n_b, m_b, the tables' row width, the offset of pair b's table) for this program's pair b."""
    b = tl.program_id(0)
    return b, tl.load(lengths_x_ptr + b), tl.load(lengths_y_ptr + b), m + 2, b * (n + 2) * (m + 2)


@triton.jit
def diagonal_rows(d, nb, mb):
    """(first, last) row of the pair's cells on diagonal d."""
    return tl.maximum(1, d - mb), tl.minimum(nb, d - 1)


@triton.jit
def block_cells(d, first, last, width, table, BLOCK: tl.constexpr):
    """(i, j, whether (i, j) is a cell, its offset in the tables) for rows first .. first+BLOCK-1 of diagonal d."""
    i = first + tl.arange(0, BLOCK)
    j = d - i
    return i, j, (i <= last) & (j >= 1), table + i * width + j


@triton.jit
def dense_offsets(b, i, j, n, m):
    """The offsets of cells (i, j) of pair b in a contiguous (B, N, M) input."""
    return (b * n + i - 1) * m + j - 1
