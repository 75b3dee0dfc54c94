"""pairwise_sq_dist against loops; check_pairs, valid_mask and the anti-diagonal layout."""
import math

import pytest
import torch

from bench.align.distances import (
    check_pairs,
    pairwise_sq_dist,
    skew,
    unskew,
    valid_mask,
)
from bench.errors import DataError


def naive_sq_dist(x, y):
    out = torch.empty(x.shape[0], x.shape[1], y.shape[1], dtype=x.dtype)
    for b in range(x.shape[0]):
        for i in range(x.shape[1]):
            for j in range(y.shape[1]):
                out[b, i, j] = sum((x[b, i, k] - y[b, j, k]) ** 2 for k in range(x.shape[2]))
    return out


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_equals_loops_on_several_shapes(dtype):
    gen = torch.Generator().manual_seed(0)
    for b, n, m, d in [(1, 1, 1, 1), (2, 3, 5, 4), (3, 6, 2, 7), (1, 8, 8, 3)]:
        x = torch.randn(b, n, d, generator=gen, dtype=dtype)
        y = torch.randn(b, m, d, generator=gen, dtype=dtype)
        tol = 1e-5 if dtype == torch.float32 else 1e-12
        torch.testing.assert_close(pairwise_sq_dist(x, y), naive_sq_dist(x, y), rtol=tol, atol=tol)


def test_hand_case_and_clamp_at_zero():
    # x = (0, 0), (1, 1); y = (1, 0): distances 1 and 0 + 1 = 1
    x = torch.tensor([[[0.0, 0.0], [1.0, 1.0]]])
    y = torch.tensor([[[1.0, 0.0]]])
    assert pairwise_sq_dist(x, y).tolist() == [[[1.0], [1.0]]]
    # identical rows with large norms cancel to ~0 and must never come out negative
    z = torch.randn(2, 50, 16, generator=torch.Generator().manual_seed(1)) * 100
    dist = pairwise_sq_dist(z, z)
    assert dist.min() >= 0
    assert torch.diagonal(dist, dim1=1, dim2=2).abs().max() < 1e-2 * z.pow(2).sum(-1).max()


def test_gradcheck():
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(2, 3, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    y = torch.randn(2, 5, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(pairwise_sq_dist, (x, y))


def test_bad_shapes_and_dtypes():
    with pytest.raises(DataError):
        pairwise_sq_dist(torch.rand(2, 3, 4), torch.rand(2, 3, 5))
    with pytest.raises(DataError):
        pairwise_sq_dist(torch.rand(2, 3, 4), torch.rand(1, 3, 4))
    with pytest.raises(DataError):
        pairwise_sq_dist(torch.rand(3, 4), torch.rand(3, 4))
    with pytest.raises(DataError):
        pairwise_sq_dist(torch.rand(1, 3, 4), torch.rand(1, 3, 4).double())
    with pytest.raises(DataError) as err:
        pairwise_sq_dist(torch.ones(1, 3, 4, dtype=torch.long), torch.ones(1, 3, 4, dtype=torch.long))
    assert "\n" not in str(err.value)


def test_check_pairs_defaults_and_errors():
    matrix = torch.zeros(3, 4, 5)
    lx, ly = check_pairs(matrix, None, None, "op")
    assert lx.tolist() == [4, 4, 4] and ly.tolist() == [5, 5, 5] and lx.dtype == torch.long
    lx, ly = check_pairs(matrix, torch.tensor([1, 2, 4], dtype=torch.int32), None, "op")
    assert lx.dtype == torch.long and lx.tolist() == [1, 2, 4]
    bad_lengths = (torch.tensor([1, 2]), torch.tensor([0, 1, 2]), torch.tensor([1, 2, 5]), torch.tensor([1.0, 2.0, 3.0]), [1, 2, 3])
    for bad in bad_lengths:
        with pytest.raises(DataError):
            check_pairs(matrix, bad, None, "op")
    for bad_matrix in (torch.zeros(4, 5), torch.zeros(2, 0, 3), torch.zeros(2, 3, 3, dtype=torch.int64)):
        with pytest.raises(DataError):
            check_pairs(bad_matrix, None, None, "op")


def test_valid_mask_hand_case():
    mask = valid_mask(torch.tensor([1, 2]), torch.tensor([3, 1]), 2, 3)
    assert mask.int().tolist() == [[[1, 1, 1], [0, 0, 0]], [[1, 0, 0], [1, 0, 0]]]


def test_skew_hand_case_and_round_trip():
    # 2x3 matrix [[a, b, c], [d, e, f]] with 1-based cells: (1,1)=a sits at [2, 1],
    # (1,2)=b at [3, 1], (1,3)=c at [4, 1], (2,1)=d at [3, 2], (2,2)=e at [4, 2], (2,3)=f at [5, 2]
    matrix = torch.tensor([[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]])
    s = skew(matrix, -math.inf)
    assert s.shape == (1, 6, 3)
    inf = -math.inf
    assert s[0].tolist() == [
        [inf, inf, inf],
        [inf, inf, inf],
        [inf, 1.0, inf],
        [inf, 2.0, 4.0],
        [inf, 3.0, 5.0],
        [inf, inf, 6.0],
    ]
    gen = torch.Generator().manual_seed(3)
    for n, m in [(1, 1), (1, 6), (5, 1), (4, 7), (7, 4)]:
        x = torch.randn(2, n, m, generator=gen)
        assert torch.equal(unskew(skew(x, 0.0), n, m), x)


def test_skew_and_unskew_carry_gradients():
    x = torch.randn(2, 3, 4, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: unskew(skew(t, 0.0) * 2.0, 3, 4), (x,))
