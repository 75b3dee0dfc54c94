"""The Triton GPU backends, run on CPU tensors by Triton's interpreter, against the torch references.

TRITON_INTERPRET must be set before the kernels are defined; pytest imports this module
(collection) before any test runs, and nothing else in the suite imports them.
"""
import math
import os
import warnings

import pytest
import torch

os.environ["TRITON_INTERPRET"] = "1"
pytest.importorskip("triton")

from bench.align import backends  # noqa: E402
from bench.align.distances import valid_mask  # noqa: E402
from bench.align.smith_waterman import smooth_sw  # noqa: E402
from bench.align.softdtw import soft_dtw  # noqa: E402
from bench.errors import DataError  # noqa: E402

# (N, M, lengths_x, lengths_y): length 1, unequal lengths in one batch, long thin, more rows than BLOCK
SHAPES = [
    (1, 1, [1, 1], [1, 1]),
    (7, 9, [7, 1, 4], [9, 5, 1]),
    (11, 2, [11, 6], [2, 1]),
    (9, 6, [9, 9], [6, 3]),
]


@pytest.fixture(autouse=True)
def small_blocks(monkeypatch):
    # blocks of 4 rows: the shapes above need one to three blocks per diagonal
    from bench.align import _softdtw_triton, _sw_triton

    monkeypatch.setattr(_softdtw_triton, "BLOCK", 4)
    monkeypatch.setattr(_sw_triton, "BLOCK", 4)


def _case(n, m, lengths_x, lengths_y, seed, dtype=torch.float64):
    gen = torch.Generator().manual_seed(seed)
    lengths_x, lengths_y = torch.tensor(lengths_x), torch.tensor(lengths_y)
    values = torch.rand(len(lengths_x), n, m, generator=gen, dtype=torch.float64) * 2 - 0.5
    values[~valid_mask(lengths_x, lengths_y, n, m)] = math.nan  # padding must not matter
    weights = torch.randn(len(lengths_x), n, m, generator=gen, dtype=torch.float64)
    return values.to(dtype), lengths_x, lengths_y, weights.to(dtype)


def _soft_dtw_and_grad(backend, cost, gamma, lengths_x, lengths_y):
    cost = cost.clone().requires_grad_()
    value = soft_dtw(cost, gamma, lengths_x, lengths_y, backend=backend)
    (grad,) = torch.autograd.grad((value * torch.arange(1.0, len(value) + 1, dtype=value.dtype)).sum(), cost)
    return value, grad


@pytest.mark.parametrize("gamma", [0.01, 1.0])
def test_soft_dtw_triton_equals_torch_reference(gamma):
    for seed, (n, m, lengths_x, lengths_y) in enumerate(SHAPES):
        cost, lx, ly, _ = _case(n, m, lengths_x, lengths_y, seed)
        for got, want in zip(_soft_dtw_and_grad("triton", cost, gamma, lx, ly),
                             _soft_dtw_and_grad("torch", cost, gamma, lx, ly)):
            torch.testing.assert_close(got, want, rtol=1e-9, atol=1e-12, msg=f"{n}x{m}, gamma={gamma}")


def test_soft_dtw_triton_float32_is_close_to_float64_reference():
    cost, lx, ly, _ = _case(9, 6, [9, 5], [6, 6], 3, torch.float32)
    got = _soft_dtw_and_grad("triton", cost, 0.1, lx, ly)
    want = _soft_dtw_and_grad("torch", cost.double(), 0.1, lx, ly)
    for a, b in zip(got, want):
        assert a.dtype == torch.float32
        torch.testing.assert_close(a.double(), b, rtol=1e-5, atol=1e-6)


def test_soft_dtw_triton_gradcheck():
    cost = torch.rand(2, 3, 4, dtype=torch.float64, requires_grad=True)
    lx, ly = torch.tensor([3, 2]), torch.tensor([4, 3])
    assert torch.autograd.gradcheck(lambda c: soft_dtw(c, 0.3, lx, ly, backend="triton"), (cost,), fast_mode=True)


def _sw_outputs(backend, sim, t, lengths_x, lengths_y, weights):
    sim = sim.clone().requires_grad_()
    g_open = torch.tensor(0.6, dtype=sim.dtype, requires_grad=True)
    g_ext = torch.tensor(0.2, dtype=sim.dtype, requires_grad=True)
    score, table = smooth_sw(sim, g_open, g_ext, t, lengths_x, lengths_y, backend=backend)
    valid = valid_mask(lengths_x, lengths_y, *sim.shape[1:])
    loss = (score * torch.arange(1.0, len(score) + 1, dtype=score.dtype)).sum()
    loss = loss + (torch.where(valid, table, torch.zeros_like(table)) * weights).sum()
    grads = torch.autograd.grad(loss, (sim, g_open, g_ext), allow_unused=True, materialize_grads=True)
    return (score, table, *grads)


@pytest.mark.parametrize("t", [0.05, 0.8])
def test_smooth_sw_triton_equals_torch_reference(t):
    for seed, (n, m, lengths_x, lengths_y) in enumerate(SHAPES):
        sim, lx, ly, weights = _case(n, m, lengths_x, lengths_y, seed)
        got = _sw_outputs("triton", sim, t, lx, ly, weights)
        want = _sw_outputs("torch", sim, t, lx, ly, weights)
        for name, a, b in zip(("score", "table", "d sim", "d g_open", "d g_ext"), got, want):
            torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12, msg=f"{name} on {n}x{m}, t={t}")


def test_smooth_sw_triton_gradcheck():
    sim = torch.rand(2, 3, 4, dtype=torch.float64, requires_grad=True)
    g_open = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    g_ext = torch.tensor(0.1, dtype=torch.float64, requires_grad=True)
    lx, ly = torch.tensor([3, 2]), torch.tensor([4, 3])

    def score(s, go, ge):
        return smooth_sw(s, go, ge, 0.7, lx, ly, backend="triton")[0]

    assert torch.autograd.gradcheck(score, (sim, g_open, g_ext), fast_mode=True)


def test_auto_picks_triton_for_cuda_and_numba_for_cpu():
    assert backends.auto_backend("cuda", "soft_dtw") == "triton"
    assert backends.auto_backend("cpu", "soft_dtw") == "numba"


def test_fallback_without_triton_is_noticed_once_per_operator(monkeypatch):
    monkeypatch.setattr(backends, "_FALLBACK_NOTICED", set())
    monkeypatch.setattr(backends, "triton_available", lambda: False)
    with pytest.warns(RuntimeWarning, match="soft_dtw: no cuda kernel here"):
        assert backends.auto_backend("cuda", "soft_dtw") == "torch"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert backends.auto_backend("cuda", "soft_dtw") == "torch"  # second call: silent
    with pytest.warns(RuntimeWarning, match="smooth_sw: no cuda kernel here"):
        backends.auto_backend("cuda", "smooth_sw")


def test_triton_backend_refuses_cpu_tensors_outside_the_interpreter(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET")
    with pytest.raises(DataError) as err:
        soft_dtw(torch.ones(1, 2, 2), 0.1, backend="triton")
    assert "needs CUDA tensors" in str(err.value) and "\n" not in str(err.value)
