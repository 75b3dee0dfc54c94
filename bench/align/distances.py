"""Pair matrices (B, N, M) shared by the alignment operators.

A batch of B sequence pairs is held as one (B, N, M) matrix (a cost or a similarity)
padded to the longest pair, with per-pair lengths ``lengths_x`` (rows) and ``lengths_y``
(columns). This module builds such matrices (``pairwise_sq_dist``), checks them together
with their lengths (``check_pairs``), marks their valid cells (``valid_mask``) and
converts them to and from the anti-diagonal layout the dynamic programs sweep over
(``skew`` / ``unskew``, ``diagonal_range``).
"""
from __future__ import annotations

import torch
from torch import Tensor

from bench.errors import DataError

FLOAT_DTYPES = (torch.float32, torch.float64)


def pairwise_sq_dist(x: Tensor, y: Tensor) -> Tensor:
    """Squared Euclidean distances d(i, j) = ||x_i - y_j||^2, shape (B, N, M).

    Computed as ||x_i||^2 + ||y_j||^2 - 2 x_i . y_j (one batched matrix product, no
    (B, N, M, D) intermediate) for every size, then clamped at 0: the expansion cancels
    to slightly negative values for nearly equal rows. Its absolute error is about
    machine epsilon times the squared norms (~1e-7 for L2-normalised float32 rows), so
    it is not meant for distances far smaller than the norms. Differentiable.

    x: (B, N, D), y: (B, M, D), both float32 or float64 on one device.
    """
    if x.dim() != 3 or y.dim() != 3 or x.shape[0] != y.shape[0] or x.shape[2] != y.shape[2]:
        raise DataError(
            f"pairwise_sq_dist needs x (B, N, D) and y (B, M, D) with equal B and D, got "
            f"{tuple(x.shape)} and {tuple(y.shape)}; reshape the embeddings to (pairs, frames, dim)"
        )
    if x.dtype not in FLOAT_DTYPES or y.dtype != x.dtype:
        raise DataError(
            f"pairwise_sq_dist needs float32 or float64 inputs of one dtype, got {x.dtype} and "
            f"{y.dtype}; cast both with .float() or .double()"
        )
    sq_x = x.pow(2).sum(-1)
    sq_y = y.pow(2).sum(-1)
    dist = torch.baddbmm(sq_x.unsqueeze(2) + sq_y.unsqueeze(1), x, y.transpose(1, 2), alpha=-2.0)
    return dist.clamp_min(0.0)


def check_pairs(
    matrix: Tensor, lengths_x: Tensor | None, lengths_y: Tensor | None, where: str
) -> tuple[Tensor, Tensor]:
    """Validate a (B, N, M) pair matrix and its lengths; return both lengths as long tensors.

    ``None`` lengths mean full (N for every row length, M for every column length).
    Lengths must be integer tensors of shape (B,) with values in [1, N] (resp. [1, M]);
    they are returned on ``matrix``'s device.
    """
    if matrix.dim() != 3 or matrix.shape[1] == 0 or matrix.shape[2] == 0:
        raise DataError(
            f"{where} needs a (B, N, M) matrix with N, M >= 1, got shape {tuple(matrix.shape)}; "
            f"add a batch dimension with .unsqueeze(0) for a single pair"
        )
    if matrix.dtype not in FLOAT_DTYPES:
        raise DataError(f"{where} needs a float32 or float64 matrix, got {matrix.dtype}; cast it with .float()")
    batch, n, m = matrix.shape
    return (
        _check_lengths(lengths_x, batch, n, "lengths_x", where, matrix.device),
        _check_lengths(lengths_y, batch, m, "lengths_y", where, matrix.device),
    )


def _check_lengths(
    lengths: Tensor | None, batch: int, size: int, name: str, where: str, device: torch.device
) -> Tensor:
    if lengths is None:
        return torch.full((batch,), size, dtype=torch.long, device=device)
    if not isinstance(lengths, Tensor) or lengths.shape != (batch,) or lengths.is_floating_point():
        raise DataError(
            f"{where}: {name} must be an integer tensor of shape ({batch},), got "
            f"{getattr(lengths, 'shape', type(lengths).__name__)}; pass one length per pair or None"
        )
    if batch and (int(lengths.min()) < 1 or int(lengths.max()) > size):
        raise DataError(
            f"{where}: {name} must lie in [1, {size}], got {lengths.tolist()}; "
            f"lengths count the unpadded frames of each sequence"
        )
    return lengths.to(device=device, dtype=torch.long)


def valid_mask(lengths_x: Tensor, lengths_y: Tensor, n: int, m: int) -> Tensor:
    """(B, N, M) bool: True on cell (i, j) of pair b iff i < lengths_x[b] and j < lengths_y[b]."""
    rows = torch.arange(n, device=lengths_x.device) < lengths_x.unsqueeze(1)
    cols = torch.arange(m, device=lengths_y.device) < lengths_y.unsqueeze(1)
    return rows.unsqueeze(2) & cols.unsqueeze(1)


def diagonal_range(d: int, n: int, m: int) -> tuple[int, int]:
    """First and last 1-based row i of the cells (i, d - i) of anti-diagonal d of an (n, m) matrix."""
    return max(1, d - m), min(n, d - 1)


def _skew_index(n: int, m: int, device: torch.device) -> Tensor:
    """Flat index into the (N+M+1, N+1) skewed layout of every cell of an (N, M) matrix."""
    i = torch.arange(1, n + 1, device=device).unsqueeze(1)
    j = torch.arange(1, m + 1, device=device).unsqueeze(0)
    return ((i + j) * (n + 1) + i).reshape(-1)


def skew(matrix: Tensor, fill: float) -> Tensor:
    """Anti-diagonal layout of a (B, N, M) matrix: (B, N+M+1, N+1).

    With 1-based cells, ``out[:, i + j, i] = matrix[:, i-1, j-1]``; every other entry
    (the row/column 0 border and the slots past the matrix) is ``fill``. In this layout
    the three DP predecessors of the cells of diagonal d are slices of diagonals d-1 and
    d-2, and the three successors slices of d+1 and d+2.
    """
    batch, n, m = matrix.shape
    out = matrix.new_full((batch, (n + m + 1) * (n + 1)), fill)
    out[:, _skew_index(n, m, matrix.device)] = matrix.reshape(batch, -1)
    return out.view(batch, n + m + 1, n + 1)


def unskew(skewed: Tensor, n: int, m: int) -> Tensor:
    """Inverse of ``skew``: the (B, N, M) matrix held in a (B, N+M+1, N+1) skewed tensor.

    A gather, so it is differentiable (autograd carries gradients back to ``skewed``).
    """
    batch = skewed.shape[0]
    return skewed.reshape(batch, -1)[:, _skew_index(n, m, skewed.device)].view(batch, n, m)
