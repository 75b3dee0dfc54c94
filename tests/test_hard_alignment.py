"""dtw_alignment (hard DTW paths as binary matrices) and first_match."""
import itertools

import numpy as np
import pytest
import torch

from bench.align.dtw import dtw_path
from bench.align.hard import dtw_alignment, first_match
from bench.errors import DataError


def assert_monotone_path(cells, n, m):
    """cells: the True cells of one alignment, sorted; a path (0,0) -> (n-1,m-1) of unit steps."""
    assert cells[0] == (0, 0) and cells[-1] == (n - 1, m - 1)
    for (i0, j0), (i1, j1) in itertools.pairwise(cells):
        assert (i1 - i0, j1 - j0) in {(1, 0), (0, 1), (1, 1)}


def test_alignment_is_the_dtw_path_of_each_cropped_pair():
    gen = torch.Generator().manual_seed(0)
    lengths_x, lengths_y = torch.tensor([6, 1, 4, 6]), torch.tensor([7, 5, 1, 3])
    cost = torch.rand(4, 6, 7, generator=gen)
    alignment = dtw_alignment(cost, lengths_x, lengths_y)
    assert alignment.dtype == torch.bool and alignment.shape == (4, 6, 7)
    for b, (n, m) in enumerate(zip(lengths_x.tolist(), lengths_y.tolist())):
        assert not alignment[b, n:].any() and not alignment[b, :, m:].any()
        cells = sorted(map(tuple, alignment[b].nonzero().tolist()))
        assert_monotone_path(cells, n, m)
        path, total = dtw_path(cost[b, :n, :m].double().numpy())
        assert cells == [tuple(c) for c in path.tolist()]
        assert cost[b][alignment[b]].double().sum().item() == pytest.approx(total, rel=1e-6)


def test_full_lengths_default_and_no_gradient():
    cost = torch.rand(2, 5, 3, requires_grad=True)
    alignment = dtw_alignment(cost)
    assert not alignment.requires_grad
    for b in range(2):
        assert_monotone_path(sorted(map(tuple, alignment[b].nonzero().tolist())), 5, 3)


def test_hand_case_follows_the_cheap_cells():
    # cost 3x4: zeros on the path (0,0) (1,0) (2,1) (2,2) (2,3), ones elsewhere. From each
    # zero cell exactly one step reaches the next zero cell, so this is the only path of
    # cost 0 (every other path costs >= 1): it is the DTW path.
    cost = torch.ones(1, 3, 4)
    path = [(0, 0), (1, 0), (2, 1), (2, 2), (2, 3)]
    want = torch.zeros(1, 3, 4, dtype=torch.bool)
    for i, j in path:
        cost[0, i, j] = 0.0
        want[0, i, j] = True
    alignment = dtw_alignment(cost)
    assert torch.equal(alignment, want)
    # pi(i) = smallest j aligned with i: row 0 -> 0, row 1 -> 0, row 2 -> 1 (cells 1, 2, 3)
    assert first_match(alignment).tolist() == [[0, 0, 1]]


def test_first_match_marks_empty_rows():
    alignment = torch.tensor(
        [[[False, True, True], [False, False, True], [False, False, False]]]
    )
    # rows: first True at 1, first True at 2, none -> -1
    assert first_match(alignment).tolist() == [[1, 2, -1]]
    assert first_match(alignment).dtype == torch.long


def test_bad_input_raises_one_line_errors():
    with pytest.raises(DataError):
        first_match(torch.ones(2, 3, 4))
    with pytest.raises(DataError):
        first_match(torch.ones(3, 4, dtype=torch.bool))
    with pytest.raises(DataError):
        dtw_alignment(torch.rand(2, 3, 4), lengths_x=torch.tensor([1, 4]))
    with pytest.raises(DataError) as err:
        dtw_alignment(torch.rand(3, 4))
    assert "\n" not in str(err.value)


def test_matches_brute_force_minimum_on_small_matrices():
    # the marked cells' total equals the minimum over every monotone path (enumerated)
    gen = np.random.default_rng(1)

    def min_path_cost(c):
        n, m = c.shape
        best = np.full((n, m), np.inf)
        for i in range(n):
            for j in range(m):
                prev = [best[i - a, j - b] for a, b in ((1, 0), (0, 1), (1, 1)) if i - a >= 0 and j - b >= 0]
                best[i, j] = c[i, j] + (min(prev) if prev else 0.0)
        return best[-1, -1]

    for n, m in [(1, 1), (1, 4), (4, 1), (3, 5), (5, 5)]:
        c = gen.random((n, m))
        alignment = dtw_alignment(torch.from_numpy(c)[None])
        assert c[alignment[0].numpy()].sum() == pytest.approx(min_path_cost(c), rel=1e-12)
