"""Smooth affine Smith-Waterman local alignment (the LAC loss, 2024), batched over pairs.

With smax_t(a) = t log sum_k exp(a_k / t), similarities S, gap penalties g_o (open) and
g_e (extend), on 1-based cells (i, j):

    D(i, j)  = S(i, j) + smax_t(0, D(i-1, j-1), Ix(i-1, j-1), Iy(i-1, j-1))
    Ix(i, j) = smax_t(D(i, j-1) - g_o, Ix(i, j-1) - g_e)
    Iy(i, j) = smax_t(D(i-1, j) - g_o, Ix(i-1, j) - g_o, Iy(i-1, j) - g_e)
    score    = smax_t over every valid cell (i, j) of D(i, j)

as in the LAC paper's supplement (Eq. 15-16) and its reference code (the Iy recursion
admits a gap in x right after a gap in y, not the reverse). The reference code's latest
version learns one penalty per cell (N, M); this operator takes one shared scalar pair,
as the paper describes.

Boundary conditions: D, Ix and Iy are -inf outside the matrix (row 0 and column 0), so
Ix(i, 1) = Iy(1, j) = -inf, and the literal 0 inside D's smax lets an alignment start at
any cell. As t -> 0 the score tends to the best local alignment score of classic affine
Smith-Waterman (from above: every smax_t is >= the max).

Departures from the reference code, whose hand-written backward uses softmaxes without
the temperature and returns no gradient for D (so LAC's consistency term, built on D,
trains nothing): here autograd differentiates the anti-diagonal recurrence, so the score
and D are both exactly differentiable w.r.t. S, g_o and g_e, at any t. Cells whose smax
would only see -inf (Ix on column 1, Iy on row 1) are not computed but left at their
boundary value, so no smax ever sees only -inf inputs and no NaN gradient can appear.

Padding: cells beyond a pair's lengths never feed a valid cell (D, Ix, Iy at (i, j)
only read cells (i' <= i, j' <= j)); their similarity is zeroed so that NaN or inf
padding stays harmless; they are excluded from the score, returned as D = -inf, and
receive zero gradient.

``BACKENDS`` is the dispatch point for faster kernels: a backend takes the validated
(sim, gap_open, gap_extend, temperature, lengths_x, lengths_y) and returns (score, D),
both differentiable, equal to the "torch" reference. "torch" is the reference (any
device, autograd through the anti-diagonal sweep); "numba" (bench.align._sw_numba) runs
the recursions on CPU tensors with a hand-written backward, in float64; "triton"
(bench.align._sw_triton) on CUDA tensors. The default, "auto", picks one by device
(bench.align.backends).
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from bench.align._sw_numba import smooth_sw_numba
from bench.align.backends import auto_backend, require_triton_device
from bench.align.distances import check_pairs, diagonal_range, skew, unskew, valid_mask
from bench.errors import ConfigError, UnknownNameError


def smooth_sw(
    sim: Tensor,
    gap_open: Tensor | float,
    gap_extend: Tensor | float,
    temperature: float,
    lengths_x: Tensor | None = None,
    lengths_y: Tensor | None = None,
    backend: str = "auto",
) -> tuple[Tensor, Tensor]:
    """Smooth local alignment of each pair: sim (B, N, M) -> (score (B,), D (B, N, M)).

    gap_open / gap_extend: one-element tensors (learnable) or numbers; temperature t > 0.
    lengths_x / lengths_y: (B,) long valid rows / columns (None = all). D is -inf on
    padding. Both outputs are differentiable w.r.t. sim, gap_open and gap_extend.
    backend: a name in ``BACKENDS``, or "auto" (by device: bench.align.backends).
    """
    lengths_x, lengths_y = check_pairs(sim, lengths_x, lengths_y, "smooth_sw")
    temperature = float(temperature)
    if not (temperature > 0 and math.isfinite(temperature)):
        raise ConfigError(f"smooth_sw needs a finite temperature > 0, got {temperature}; LAC uses 0.8")
    gaps = []
    for name, gap in (("gap_open", gap_open), ("gap_extend", gap_extend)):
        gap = torch.as_tensor(gap, dtype=sim.dtype, device=sim.device)
        if gap.numel() != 1:
            raise ConfigError(
                f"smooth_sw needs {name} as a number or a one-element tensor, got shape "
                f"{tuple(gap.shape)}; pass one penalty shared by all pairs"
            )
        gaps.append(gap.reshape(()))
    if backend == "auto":
        backend = auto_backend(sim.device.type, "smooth_sw")
    if backend not in BACKENDS:
        raise UnknownNameError(f"unknown smooth_sw backend {backend!r}; choose 'auto' or one of {sorted(BACKENDS)}")
    return BACKENDS[backend](sim, gaps[0], gaps[1], temperature, lengths_x, lengths_y)


def _smooth_sw_torch(
    sim: Tensor, g_open: Tensor, g_ext: Tensor, t: float, lengths_x: Tensor, lengths_y: Tensor
) -> tuple[Tensor, Tensor]:
    # Everything in units of t (S / t, g / t, D / t), so each smax_t is a plain logaddexp
    # chain; the first argument of each chain is finite on the cells computed, so no
    # logaddexp(-inf, -inf) (whose gradient is NaN) ever occurs.
    batch, n, m = sim.shape
    valid = valid_mask(lengths_x, lengths_y, n, m)
    # per-diagonal views: slicing the whole skewed tensor inside the loop would make autograd
    # materialise a table-sized zero gradient per diagonal (cubic work)
    sim_diag = (skew(torch.where(valid, sim, torch.zeros_like(sim)), 0.0) / t).unbind(1)
    g_open, g_ext = g_open / t, g_ext / t
    border = sim.new_full((batch, n + 1), -math.inf)
    zeros = sim.new_zeros((batch, n + 1))
    # one (B, N+1) vector per anti-diagonal d = i + j, indexed by the 1-based row i
    d_diag, ix_diag, iy_diag = [border, border], [border, border], [border, border]

    def placed(values: Tensor, lo: int) -> Tensor:
        """values for rows lo..lo+len-1 of a diagonal, -inf on its other rows."""
        return torch.cat((border[:, :lo], values, border[:, lo + values.shape[1] :]), dim=1)

    for d in range(2, n + m + 1):
        lo, hi = diagonal_range(d, n, m)
        d1, ix1, iy1 = d_diag[d - 1], ix_diag[d - 1], iy_diag[d - 1]
        d2, ix2, iy2 = d_diag[d - 2], ix_diag[d - 2], iy_diag[d - 2]
        # D(i, j): from (i-1, j-1), row i-1 of diagonal d-2
        rows = slice(lo - 1, hi)
        start = torch.logaddexp(torch.logaddexp(zeros[:, rows], d2[:, rows]), ix2[:, rows])
        start = torch.logaddexp(start, iy2[:, rows])
        d_diag.append(placed(sim_diag[d][:, lo : hi + 1] + start, lo))
        opened = d1 - g_open
        # Ix(i, j) for j >= 2 (rows i <= d-2): from (i, j-1), row i of diagonal d-1
        ix_hi = min(n, d - 2)
        if ix_hi >= lo:
            rows = slice(lo, ix_hi + 1)
            ix_diag.append(placed(torch.logaddexp(opened[:, rows], ix1[:, rows] - g_ext), lo))
        else:
            ix_diag.append(border)
        # Iy(i, j) for i >= 2: from (i-1, j), row i-1 of diagonal d-1
        iy_lo = max(2, lo)
        if hi >= iy_lo:
            rows = slice(iy_lo - 1, hi)
            new_iy = torch.logaddexp(torch.logaddexp(opened[:, rows], ix1[:, rows] - g_open), iy1[:, rows] - g_ext)
            iy_diag.append(placed(new_iy, iy_lo))
        else:
            iy_diag.append(border)
    table = unskew(torch.stack(d_diag, dim=1), n, m)
    table = torch.where(valid, table, torch.full_like(table, -math.inf))
    score = t * torch.logsumexp(table.reshape(batch, -1), dim=1)
    return score, t * table


def _smooth_sw_triton(
    sim: Tensor, g_open: Tensor, g_ext: Tensor, t: float, lengths_x: Tensor, lengths_y: Tensor
) -> tuple[Tensor, Tensor]:
    require_triton_device(sim, "smooth_sw")
    from bench.align._sw_triton import smooth_sw_triton  # imported on first use (see bench.align.backends)

    return smooth_sw_triton(sim, g_open, g_ext, t, lengths_x, lengths_y)


BACKENDS: dict[str, Callable[..., tuple[Tensor, Tensor]]] = {
    "torch": _smooth_sw_torch,
    "numba": smooth_sw_numba,
    "triton": _smooth_sw_triton,
}
