"""Hard dynamic time warping: the minimum-cost monotone path through a cost matrix.

For a cost matrix C (N, M) the accumulated cost is

    R[0, 0] = C[0, 0]
    R[i, j] = C[i, j] + min(R[i-1, j-1], R[i-1, j], R[i, j-1])   (out-of-range terms = +inf)

(Sakoe & Chiba 1978), so R[N-1, M-1] is the minimum over every path from (0, 0) to
(N-1, M-1) with steps (1, 0), (0, 1), (1, 1) of the sum of its cells. The path is recovered
by backtracking from (N-1, M-1).

Tie-breaking (deterministic): when predecessors have equal accumulated cost, backtracking
prefers the diagonal step (1, 1), then the step (1, 0) that advances the first sequence,
then (0, 1). Accumulation is in float64 whatever the input dtype.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from bench.errors import DataError


@njit(cache=True)
def _dtw_kernel(cost):
    n, m = cost.shape
    acc = np.empty((n, m))
    acc[0, 0] = cost[0, 0]
    for j in range(1, m):
        acc[0, j] = acc[0, j - 1] + cost[0, j]
    for i in range(1, n):
        acc[i, 0] = acc[i - 1, 0] + cost[i, 0]
        for j in range(1, m):
            acc[i, j] = cost[i, j] + min(acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1])
    path = np.empty((n + m - 1, 2), dtype=np.int64)
    i, j, k = n - 1, m - 1, 0
    path[0, 0], path[0, 1] = i, j
    while i > 0 or j > 0:
        if i == 0:
            j -= 1
        elif j == 0:
            i -= 1
        else:
            diag, up, left = acc[i - 1, j - 1], acc[i - 1, j], acc[i, j - 1]
            if diag <= up and diag <= left:
                i -= 1
                j -= 1
            elif up <= left:
                i -= 1
            else:
                j -= 1
        k += 1
        path[k, 0], path[k, 1] = i, j
    return path[: k + 1][::-1].copy(), acc[n - 1, m - 1]


def dtw_path(cost: np.ndarray) -> tuple[np.ndarray, float]:
    """The optimal DTW path through ``cost`` (N, M) and its total cost.

    Returns (path, total): path is an int64 array (K, 2) of cells (i, j) from (0, 0) to
    (N-1, M-1), each step one of (1, 0), (0, 1), (1, 1); total is the sum of ``cost`` over
    the path (float64).
    """
    cost = np.asarray(cost)
    if cost.ndim != 2 or cost.shape[0] == 0 or cost.shape[1] == 0:
        raise DataError(f"dtw_path needs a non-empty 2-D cost matrix, got shape {cost.shape}; "
                        "pass an (N, M) array with N, M >= 1")
    cost = np.ascontiguousarray(cost, dtype=np.float64)
    if not np.isfinite(cost).all():
        raise DataError("dtw_path got a cost matrix with NaN or infinite entries; "
                        "check the embeddings that produced it")
    path, total = _dtw_kernel(cost)
    return path, float(total)
