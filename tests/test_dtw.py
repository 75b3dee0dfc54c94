"""Hard DTW (bench.align.dtw) against brute force over every monotone path."""
from __future__ import annotations

import numpy as np
import pytest
from helpers import monotone_paths

from bench.align.dtw import dtw_path
from bench.errors import DataError


def check_valid(path: np.ndarray, n: int, m: int) -> None:
    assert path.dtype == np.int64 and path.ndim == 2 and path.shape[1] == 2
    assert tuple(path[0]) == (0, 0) and tuple(path[-1]) == (n - 1, m - 1)
    steps = {tuple(s) for s in np.diff(path, axis=0)}
    assert steps <= {(1, 0), (0, 1), (1, 1)}


SHAPES = [(1, 1), (1, 5), (4, 1), (2, 2), (2, 3), (3, 2), (3, 3), (3, 4), (4, 4), (4, 5), (5, 4)]


@pytest.mark.parametrize("shape", SHAPES)
def test_matches_brute_force(shape):
    rng = np.random.default_rng(sum(shape))
    n, m = shape
    paths = monotone_paths(n, m)
    for _ in range(20):
        cost = rng.random(shape)
        path, total = dtw_path(cost)
        check_valid(path, n, m)
        best = min(sum(cost[i, j] for i, j in p) for p in paths)
        assert total == pytest.approx(best, rel=1e-12)
        assert cost[path[:, 0], path[:, 1]].sum() == pytest.approx(total, rel=1e-12)


def test_brute_force_enumerates_delannoy_numbers():
    # Delannoy numbers D(n-1, m-1): D(1,1)=3, D(2,2)=13, D(3,4)=129.
    assert [len(monotone_paths(*s)) for s in ((2, 2), (3, 3), (4, 5))] == [3, 13, 129]


def test_integer_costs_with_integer_optimum():
    # Hand: cost [[0,9,9],[9,0,9],[9,9,0]]: the diagonal costs 0, any other path >= 9.
    cost = np.array([[0, 9, 9], [9, 0, 9], [9, 9, 0]])
    path, total = dtw_path(cost)
    assert path.tolist() == [[0, 0], [1, 1], [2, 2]] and total == 0.0


def test_tie_breaking_prefers_diagonal_then_first_axis():
    # All-zero 2x3: from (1,2) the predecessors (0,1), (0,2), (1,1) all have acc 0; the
    # diagonal (0,1) wins, then only (0,0) is left. 3x2: from (2,1) the diagonal (1,0) wins,
    # then from (1,0) only (0,0).
    path, total = dtw_path(np.zeros((2, 3)))
    assert path.tolist() == [[0, 0], [0, 1], [1, 2]] and total == 0.0
    path, _ = dtw_path(np.zeros((3, 2)))
    assert path.tolist() == [[0, 0], [1, 0], [2, 1]]
    # Negative costs [[0,-1],[-1,0]]: acc = [[0,-1],[-1,-1]]; at (1,1) the predecessors
    # (0,1) and (1,0) tie at -1 below the diagonal's 0; the step (1,0) (from (0,1)) wins.
    path, total = dtw_path(np.array([[0.0, -1.0], [-1.0, 0.0]]))
    assert path.tolist() == [[0, 0], [0, 1], [1, 1]] and total == -1.0


def test_float32_input_accumulates_in_float64():
    cost = np.full((1, 3), 0.1, dtype=np.float32)
    _, total = dtw_path(cost)
    assert total == pytest.approx(3 * float(np.float32(0.1)), rel=1e-15)


@pytest.mark.parametrize("bad", [np.zeros((0, 3)), np.zeros(4), np.array([[0.0, np.nan]])])
def test_bad_cost_raises(bad):
    with pytest.raises(DataError):
        dtw_path(bad)
