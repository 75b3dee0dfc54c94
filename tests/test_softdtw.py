"""soft_dtw against brute force over every path, tslearn, gradcheck, padding and hard DTW."""
import math

import numpy as np
import pytest
import torch
from helpers import monotone_paths
from scipy.special import logsumexp, softmax

from bench.align.distances import valid_mask
from bench.align.dtw import dtw_path
from bench.align.softdtw import soft_dtw
from bench.errors import ConfigError, DataError, UnknownNameError


def brute_force(cost, gamma):
    """(-gamma log sum_paths exp(-cost(path)/gamma), expected alignment) by enumeration."""
    n, m = cost.shape
    paths = monotone_paths(n, m)
    path_costs = np.array([sum(cost[i, j] for i, j in p) for p in paths])
    weights = softmax(-path_costs / gamma)
    expected = np.zeros_like(cost)
    for w, p in zip(weights, paths):
        for i, j in p:
            expected[i, j] += w
    return -gamma * logsumexp(-path_costs / gamma), expected


def test_path_enumeration_counts():
    # Delannoy numbers: 3x3 -> 13 paths, 4x5 -> D(3, 4) = 129, 1xN -> 1
    assert len(monotone_paths(3, 3)) == 13
    assert len(monotone_paths(4, 5)) == 129
    assert len(monotone_paths(1, 5)) == 1 and len(monotone_paths(4, 1)) == 1


@pytest.mark.parametrize("gamma", [0.01, 0.1, 1.0, 10.0])
def test_value_and_gradient_equal_brute_force_on_every_shape(gamma):
    gen = torch.Generator().manual_seed(0)
    for n in range(1, 5):
        for m in range(1, 6):
            cost = (torch.rand(2, n, m, generator=gen, dtype=torch.float64) * 2).requires_grad_()
            value = soft_dtw(cost, gamma)
            value.sum().backward()
            for b in range(2):
                want, expected = brute_force(cost[b].detach().numpy(), gamma)
                assert value[b].item() == pytest.approx(want, rel=1e-10, abs=1e-10), (n, m)
                np.testing.assert_allclose(cost.grad[b].numpy(), expected, rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("gamma", [0.05, 0.5, 2.0])
def test_gradcheck_unequal_lengths(gamma):
    gen = torch.Generator().manual_seed(1)
    cost = torch.rand(3, 4, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    lengths_x, lengths_y = torch.tensor([4, 2, 1]), torch.tensor([5, 3, 4])
    assert torch.autograd.gradcheck(lambda c: soft_dtw(c, gamma, lengths_x, lengths_y), (cost,))


def test_padding_equals_each_pair_cropped():
    gen = torch.Generator().manual_seed(2)
    lengths_x, lengths_y = torch.tensor([6, 3, 1, 6]), torch.tensor([2, 7, 4, 7])
    cost = torch.rand(4, 6, 7, generator=gen, dtype=torch.float64)
    padding = ~valid_mask(lengths_x, lengths_y, 6, 7)
    cost[padding] = math.nan  # padding must not matter, even NaN
    cost.requires_grad_()
    weights = torch.rand(4, generator=gen, dtype=torch.float64)
    value = soft_dtw(cost, 0.3, lengths_x, lengths_y)
    (value * weights).sum().backward()
    assert torch.all(cost.grad[padding] == 0)
    for b, (n, m) in enumerate(zip(lengths_x.tolist(), lengths_y.tolist())):
        alone = cost.detach()[b : b + 1, :n, :m].clone().requires_grad_()
        single = soft_dtw(alone, 0.3)
        (single * weights[b]).sum().backward()
        assert value[b].item() == pytest.approx(single.item(), rel=1e-12)
        torch.testing.assert_close(cost.grad[b, :n, :m], alone.grad[0], rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("gamma", [0.01, 0.1, 1.0])
def test_agrees_with_tslearn(gamma):
    from tslearn.metrics import SoftDTW

    gen = torch.Generator().manual_seed(3)
    for n, m in [(7, 9), (12, 5), (1, 8), (16, 16)]:
        cost = (torch.rand(1, n, m, generator=gen, dtype=torch.float64) * 3).requires_grad_()
        value = soft_dtw(cost, gamma)
        value.backward()
        # tslearn's per-cell loops on its torch backend (its numpy backend would add a numba JIT)
        ref = SoftDTW(cost.detach()[0].clone(), gamma=gamma, be="pytorch")
        assert value.item() == pytest.approx(ref.compute().item(), rel=1e-10)
        np.testing.assert_allclose(cost.grad[0].numpy(), ref.grad().numpy(), rtol=1e-7, atol=1e-10)


def test_float32_matches_float64():
    gen = torch.Generator().manual_seed(4)
    cost64 = torch.rand(3, 20, 17, generator=gen, dtype=torch.float64)
    cost32 = cost64.float()
    for c in (cost64, cost32):
        c.requires_grad_()
        soft_dtw(c, 0.1).sum().backward()
    torch.testing.assert_close(soft_dtw(cost32, 0.1).double(), soft_dtw(cost64, 0.1), rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(cost32.grad.double(), cost64.grad, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("gamma", [0.001, 0.01])
def test_small_gamma_is_finite_and_approaches_hard_dtw(dtype, gamma):
    gen = torch.Generator().manual_seed(5)
    n, m = 9, 12
    cost = (torch.rand(2, n, m, generator=gen, dtype=torch.float64) * 4).to(dtype).requires_grad_()
    value = soft_dtw(cost, gamma)
    value.sum().backward()
    assert torch.isfinite(value).all() and torch.isfinite(cost.grad).all()
    for b in range(2):
        path, hard = dtw_path(cost.detach()[b].double().numpy())
        # min over paths - gamma log(#paths) <= soft-DTW <= min over paths; #paths < 3^(n+m)
        slack = 1e-4 if dtype == torch.float32 else 1e-9
        assert hard - gamma * (n + m) * math.log(3) - slack <= value[b].item() <= hard + slack
        hard_alignment = np.zeros((n, m))
        hard_alignment[path[:, 0], path[:, 1]] = 1.0
        # these random costs have a unique best path, far ahead of the next at this gamma
        np.testing.assert_allclose(cost.grad[b].double().numpy(), hard_alignment, atol=1e-3)


def test_large_unnormalised_costs_stay_finite_in_float32():
    gen = torch.Generator().manual_seed(6)
    cost = (torch.rand(2, 64, 64, generator=gen) * 50).requires_grad_()
    value = soft_dtw(cost, 0.01)
    value.sum().backward()
    assert torch.isfinite(value).all() and torch.isfinite(cost.grad).all()
    # every cell of a path is hit with probability at most 1; the end cells with 1
    assert cost.grad.min() >= 0 and cost.grad.max() <= 1 + 1e-5
    torch.testing.assert_close(cost.grad[:, 0, 0], torch.ones(2))
    cost64 = cost.detach().double().requires_grad_()
    soft_dtw(cost64, 0.01).sum().backward()
    torch.testing.assert_close(cost.grad.double(), cost64.grad, rtol=0, atol=1e-3)


def test_bad_input_raises_one_line_errors():
    cost = torch.rand(2, 3, 4)
    for bad in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ConfigError):
            soft_dtw(cost, bad)
    with pytest.raises(DataError):
        soft_dtw(torch.rand(3, 4), 0.1)
    with pytest.raises(DataError):
        soft_dtw(cost.long(), 0.1)
    with pytest.raises(DataError):
        soft_dtw(cost, 0.1, lengths_x=torch.tensor([3, 0]))
    with pytest.raises(DataError):
        soft_dtw(cost, 0.1, lengths_y=torch.tensor([5, 4]))
    with pytest.raises(DataError):
        soft_dtw(cost, 0.1, lengths_x=torch.tensor([3.0, 2.0]))
    with pytest.raises(UnknownNameError) as err:
        soft_dtw(cost, 0.1, backend="cuda-magic")
    assert "\n" not in str(err.value)


def test_backend_dispatch_passes_validated_inputs(monkeypatch):
    import bench.align.softdtw as module

    seen = {}

    def probe(cost, gamma, lengths_x, lengths_y):
        seen.update(gamma=gamma, lengths_x=lengths_x, lengths_y=lengths_y)
        return cost.sum((1, 2))

    monkeypatch.setitem(module.BACKENDS, "probe", probe)
    out = soft_dtw(torch.ones(2, 3, 4), 1, lengths_x=torch.tensor([3, 1], dtype=torch.int32), backend="probe")
    assert out.tolist() == [12.0, 12.0]
    assert seen["gamma"] == 1.0 and isinstance(seen["gamma"], float)
    assert seen["lengths_x"].dtype == torch.long and seen["lengths_x"].tolist() == [3, 1]
    assert seen["lengths_y"].tolist() == [4, 4]
