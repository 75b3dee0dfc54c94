"""Hard DTW alignments as binary matrices, and LRProp's position propagation helper.

``dtw_alignment`` runs ``bench.align.dtw.dtw_path`` (numba, CPU, float64) on each pair's
valid block and marks the optimal path's cells. LRProp (Bar-Shalom et al., WACV 2024,
Eq. 5-9) uses it without gradient to build its cross-video prior, propagating each frame
i of A to pi(i), the first frame of B aligned with it (``first_match``).
"""
from __future__ import annotations

import torch
from torch import Tensor

from bench.align.distances import check_pairs
from bench.align.dtw import dtw_path
from bench.errors import DataError


def dtw_alignment(cost: Tensor, lengths_x: Tensor | None = None, lengths_y: Tensor | None = None) -> Tensor:
    """Binary alignment matrices (B, N, M) of the hard-DTW path of each pair (no gradient).

    Cell (i, j) of pair b is True iff it lies on the minimum-cost monotone path from
    (0, 0) to (lengths_x[b]-1, lengths_y[b]-1) through ``cost[b]``; cells beyond the
    lengths are False. Ties break as in ``dtw_path``. Returned on ``cost``'s device.
    """
    lengths_x, lengths_y = check_pairs(cost, lengths_x, lengths_y, "dtw_alignment")
    costs = cost.detach().to(device="cpu", dtype=torch.float64).numpy()
    alignment = torch.zeros(cost.shape, dtype=torch.bool)
    for b, (n, m) in enumerate(zip(lengths_x.tolist(), lengths_y.tolist())):
        path, _ = dtw_path(costs[b, :n, :m])
        alignment[b, path[:, 0], path[:, 1]] = True
    return alignment.to(cost.device)


def first_match(alignment: Tensor) -> Tensor:
    """pi (B, N) long: for each row i the smallest column j with alignment[b, i, j] True.

    Rows with no aligned column (padding rows) get -1.
    """
    if alignment.dim() != 3 or alignment.shape[2] == 0 or alignment.dtype != torch.bool:
        raise DataError(
            f"first_match needs a (B, N, M) bool alignment with M >= 1, got shape {tuple(alignment.shape)} "
            f"{alignment.dtype}; pass the output of dtw_alignment"
        )
    # argmax returns the first maximal index, i.e. the first True of each row
    first = alignment.to(torch.uint8).argmax(dim=-1)
    return torch.where(alignment.any(dim=-1), first, torch.full_like(first, -1))
