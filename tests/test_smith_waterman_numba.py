"""The "numba" smooth_sw backend against the "torch" reference: values, gradients, padding, dispatch."""
import math

import pytest
import torch
from helpers import unequal_lengths

from bench.align.distances import valid_mask
from bench.align.smith_waterman import smooth_sw
from bench.errors import DataError

# (N, M, lengths_x, lengths_y): length-1 pairs, unequal lengths in one batch, long thin and square
SHAPES = [
    (1, 1, [1, 1], [1, 1]),
    (1, 17, [1, 1, 1], [17, 1, 9]),
    (23, 2, [23, 1, 12], [2, 2, 1]),
    (16, 16, [16, 16], [16, 16]),
    (7, 9, [7, 1, 4, 7], [9, 5, 1, 2]),
]


def forward_backward(backend, sim, g_open, g_ext, t, lengths_x, lengths_y, weights):
    """score, table and d(score . weights_s + table . weights_t)/d(sim, g_open, g_ext) (table masked)."""
    sim, g_open, g_ext = (x.detach().clone().requires_grad_() for x in (sim, g_open, g_ext))
    score, table = smooth_sw(sim, g_open, g_ext, t, lengths_x, lengths_y, backend=backend)
    valid = valid_mask(lengths_x, lengths_y, *sim.shape[1:])
    loss = (weights[0] * score).sum() + (weights[1] * torch.where(valid, table, torch.zeros_like(table))).sum()
    return (score, table, *torch.autograd.grad(loss, (sim, g_open, g_ext), allow_unused=True, materialize_grads=True))


def random_case(n, m, lengths_x, lengths_y, dtype, seed, scale=2.0):
    gen = torch.Generator().manual_seed(seed)
    batch = len(lengths_x)
    lengths_x, lengths_y = torch.tensor(lengths_x), torch.tensor(lengths_y)
    sim = (torch.rand(batch, n, m, generator=gen, dtype=torch.float64) * 2 - 1) * scale
    sim[~valid_mask(lengths_x, lengths_y, n, m)] = math.nan  # padding must not matter
    weights = (torch.randn(batch, generator=gen, dtype=torch.float64),
               torch.randn(batch, n, m, generator=gen, dtype=torch.float64))
    g_open = torch.tensor(0.1 + torch.rand((), generator=gen, dtype=torch.float64).item())
    g_ext = g_open * torch.rand((), generator=gen, dtype=torch.float64)
    return (sim.to(dtype), g_open.to(dtype), g_ext.to(dtype), lengths_x, lengths_y,
            tuple(w.to(dtype) for w in weights))


@pytest.mark.parametrize("t", [0.05, 0.8, 3.0])
def test_float64_equals_torch_reference(t):
    for seed, (n, m, lengths_x, lengths_y) in enumerate(SHAPES):
        sim, g_open, g_ext, lx, ly, weights = random_case(n, m, lengths_x, lengths_y, torch.float64, seed)
        want = forward_backward("torch", sim, g_open, g_ext, t, lx, ly, weights)
        got = forward_backward("numba", sim, g_open, g_ext, t, lx, ly, weights)
        for name, a, b in zip(("score", "table", "d sim", "d g_open", "d g_ext"), got, want):
            assert a.dtype == b.dtype and a.shape == b.shape, name
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12, msg=f"{name} differs on {n}x{m}, t={t}")


def test_float64_equals_torch_reference_on_lac_similarities():
    # LAC's inverted distances 1 / (d^2 + eps) reach 1e6: the tables span many orders of magnitude
    gen = torch.Generator().manual_seed(7)
    x, y = torch.randn(3, 12, 4, generator=gen, dtype=torch.float64), torch.randn(3, 10, 4, generator=gen,
                                                                                   dtype=torch.float64)
    sim = 1.0 / (torch.cdist(x, y).pow(2) + 1e-6)
    sim[0, 3, 4] = 1e6
    lx, ly = torch.tensor([12, 5, 9]), torch.tensor([10, 10, 3])
    weights = (torch.ones(3, dtype=torch.float64), torch.randn(3, 12, 10, generator=gen, dtype=torch.float64))
    g_open, g_ext = torch.tensor(1.0, dtype=torch.float64), torch.tensor(0.5, dtype=torch.float64)
    want = forward_backward("torch", sim, g_open, g_ext, 0.8, lx, ly, weights)
    got = forward_backward("numba", sim, g_open, g_ext, 0.8, lx, ly, weights)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("t", [0.1, 0.8])
def test_float32_is_the_float64_reference_rounded(t):
    # numba accumulates float32 inputs in float64 and rounds once at the end, so it matches the
    # float64 reference on the same (upcast) inputs to float32's half ulp, 6e-8 relative: rtol 1e-6
    # leaves room for that; the float32 torch reference itself drifts by ~1e-6 relative over the sweep
    for seed, (n, m, lengths_x, lengths_y) in enumerate(SHAPES):
        sim, g_open, g_ext, lx, ly, weights = random_case(n, m, lengths_x, lengths_y, torch.float32, seed)
        got = forward_backward("numba", sim, g_open, g_ext, t, lx, ly, weights)
        want = forward_backward("torch", sim.double(), g_open.double(), g_ext.double(), t, lx, ly,
                                tuple(w.double() for w in weights))
        for a, b in zip(got, want):
            assert a.dtype == torch.float32
            torch.testing.assert_close(a.double(), b, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("t", [0.3, 1.0])
def test_gradcheck_through_numba(t):
    gen = torch.Generator().manual_seed(8)
    sim = (torch.rand(3, 4, 5, generator=gen, dtype=torch.float64) * 2 - 1).requires_grad_()
    g_open = torch.tensor(0.8, dtype=torch.float64, requires_grad=True)
    g_ext = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    lengths_x, lengths_y = torch.tensor([4, 2, 1]), torch.tensor([5, 5, 3])
    valid = valid_mask(lengths_x, lengths_y, 4, 5)

    def both(s, go, ge):
        score, table = smooth_sw(s, go, ge, t, lengths_x, lengths_y, backend="numba")
        return score, torch.where(valid, table, torch.zeros_like(table))

    assert torch.autograd.gradcheck(both, (sim, g_open, g_ext))


def test_auto_backend_is_numba_on_cpu(monkeypatch):
    import bench.align.smith_waterman as module

    calls = []
    monkeypatch.setitem(module.BACKENDS, "numba", lambda sim, *rest: calls.append("numba") or (sim.sum((1, 2)), sim))
    smooth_sw(torch.ones(2, 3, 4), 1.0, 0.5, 0.8)
    assert calls == ["numba"]


def test_numba_backend_refuses_non_cpu_tensors():
    with pytest.raises(DataError) as err:
        smooth_sw(torch.ones(1, 2, 2, device="meta"), 1.0, 0.5, 0.8, torch.tensor([2]), torch.tensor([2]),
                  backend="numba")
    assert "\n" not in str(err.value)


def test_many_lanes_of_unequal_lengths_equal_torch_reference():
    # more pairs than a SIMD vector holds, lengths all different, one pair the full size
    lengths_x, lengths_y = unequal_lengths(11, 30, 24, seed=12, full=5)
    sim, g_open, g_ext, lx, ly, weights = random_case(30, 24, lengths_x, lengths_y, torch.float64, 12)
    want = forward_backward("torch", sim, g_open, g_ext, 0.5, lx, ly, weights)
    got = forward_backward("numba", sim, g_open, g_ext, 0.5, lx, ly, weights)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


def test_nan_similarity_gives_nan_score_not_a_finite_one():
    sim = torch.rand(2, 5, 6, dtype=torch.float64)
    sim[1, 4, 0] = math.nan
    score, _ = smooth_sw(sim, 0.5, 0.1, 0.8, backend="numba")
    assert torch.isnan(score[1]) and torch.isfinite(score[0])
