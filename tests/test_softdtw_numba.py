"""The "numba" soft_dtw backend against the "torch" reference: values, gradients, padding, dispatch."""
import math

import pytest
import torch
from helpers import unequal_lengths

from bench.align.distances import valid_mask
from bench.align.softdtw import soft_dtw
from bench.errors import DataError

# (N, M, lengths_x, lengths_y): length-1 pairs, unequal lengths in one batch, long thin and square
SHAPES = [
    (1, 1, [1, 1], [1, 1]),
    (1, 17, [1, 1, 1], [17, 1, 9]),
    (23, 2, [23, 1, 12], [2, 2, 1]),
    (16, 16, [16, 16], [16, 16]),
    (7, 9, [7, 1, 4, 7], [9, 5, 1, 2]),
]


def value_and_grad(backend, cost, gamma, lengths_x, lengths_y, weights):
    cost = cost.detach().clone().requires_grad_()
    value = soft_dtw(cost, gamma, lengths_x, lengths_y, backend=backend)
    (grad,) = torch.autograd.grad((weights * value).sum(), cost)
    return value, grad


def random_case(n, m, lengths_x, lengths_y, dtype, seed):
    gen = torch.Generator().manual_seed(seed)
    batch = len(lengths_x)
    lengths_x, lengths_y = torch.tensor(lengths_x), torch.tensor(lengths_y)
    cost = torch.rand(batch, n, m, generator=gen, dtype=torch.float64) * 3
    cost[~valid_mask(lengths_x, lengths_y, n, m)] = math.nan  # padding must not matter
    weights = torch.randn(batch, generator=gen, dtype=torch.float64)
    return cost.to(dtype), lengths_x, lengths_y, weights.to(dtype)


@pytest.mark.parametrize("gamma", [0.001, 0.1, 1.0, 10.0])
def test_float64_equals_torch_reference(gamma):
    for seed, (n, m, lengths_x, lengths_y) in enumerate(SHAPES):
        cost, lx, ly, weights = random_case(n, m, lengths_x, lengths_y, torch.float64, seed)
        want = value_and_grad("torch", cost, gamma, lx, ly, weights)
        got = value_and_grad("numba", cost, gamma, lx, ly, weights)
        for name, a, b in zip(("value", "gradient"), got, want):
            assert a.dtype == b.dtype and a.shape == b.shape, name
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12, msg=f"{name} differs on {n}x{m}, gamma={gamma}")


@pytest.mark.parametrize("gamma", [0.01, 1.0])
def test_float32_is_the_float64_reference_rounded(gamma):
    # numba accumulates float32 inputs in float64 and rounds once at the end, so it matches the
    # float64 reference on the same (upcast) inputs to float32's half ulp, 6e-8 relative: rtol 1e-6
    # leaves room for that; the float32 torch reference itself drifts by ~1e-5 relative over the sweep
    for seed, (n, m, lengths_x, lengths_y) in enumerate(SHAPES):
        cost, lx, ly, weights = random_case(n, m, lengths_x, lengths_y, torch.float32, seed)
        got = value_and_grad("numba", cost, gamma, lx, ly, weights)
        want = value_and_grad("torch", cost.double(), gamma, lx, ly, weights.double())
        for a, b in zip(got, want):
            assert a.dtype == torch.float32
            torch.testing.assert_close(a.double(), b, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("gamma", [0.05, 2.0])
def test_gradcheck_through_numba(gamma):
    gen = torch.Generator().manual_seed(9)
    cost = torch.rand(3, 4, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    lengths_x, lengths_y = torch.tensor([4, 2, 1]), torch.tensor([5, 3, 4])
    assert torch.autograd.gradcheck(lambda c: soft_dtw(c, gamma, lengths_x, lengths_y, backend="numba"), (cost,))


def test_auto_backend_is_numba_on_cpu(monkeypatch):
    import bench.align.softdtw as module

    calls = []
    monkeypatch.setitem(module.BACKENDS, "numba", lambda cost, *rest: calls.append("numba") or cost.sum((1, 2)))
    soft_dtw(torch.ones(2, 3, 4), 0.1)
    assert calls == ["numba"]


def test_numba_backend_refuses_non_cpu_tensors():
    with pytest.raises(DataError) as err:
        soft_dtw(torch.ones(1, 2, 2, device="meta"), 0.1, torch.tensor([2]), torch.tensor([2]), backend="numba")
    assert "\n" not in str(err.value)


def test_many_lanes_of_unequal_lengths_equal_torch_reference():
    # more pairs than a SIMD vector holds, lengths all different, one pair the full size
    lengths_x, lengths_y = unequal_lengths(11, 40, 32, seed=11, full=3)
    cost, lx, ly, weights = random_case(40, 32, lengths_x, lengths_y, torch.float64, 11)
    for gamma in (0.01, 1.0):
        want = value_and_grad("torch", cost, gamma, lx, ly, weights)
        got = value_and_grad("numba", cost, gamma, lx, ly, weights)
        for a, b in zip(got, want):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_nan_cost_gives_nan_value_not_a_finite_one():
    # a NaN inside a pair must reach its value, as in the reference, so that training stops on it
    cost = torch.rand(2, 5, 6, dtype=torch.float64)
    cost[0, 2, 3] = math.nan
    values = soft_dtw(cost, 0.1, backend="numba")
    assert torch.isnan(values[0]) and torch.isfinite(values[1])
