"""smooth_sw against a direct per-cell loop of its recursions, gradcheck, padding, limits."""
import math

import pytest
import torch

from bench.align.distances import valid_mask
from bench.align.smith_waterman import smooth_sw
from bench.errors import ConfigError, DataError, UnknownNameError


def direct_sw(sim, g_open, g_ext, t, soft=True):
    """The LAC recursions cell by cell on Python floats (soft=False: hard max, classic SW)."""

    def smax(*values):
        finite = [v for v in values if v != -math.inf]
        if not finite:
            return -math.inf
        if not soft:
            return max(finite)
        top = max(finite)
        return top + t * math.log(sum(math.exp((v - top) / t) for v in finite))

    n, m = len(sim), len(sim[0])
    neg = -math.inf
    d = [[neg] * (m + 1) for _ in range(n + 1)]
    ix = [[neg] * (m + 1) for _ in range(n + 1)]
    iy = [[neg] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            d[i][j] = sim[i - 1][j - 1] + smax(0.0, d[i - 1][j - 1], ix[i - 1][j - 1], iy[i - 1][j - 1])
            ix[i][j] = smax(d[i][j - 1] - g_open, ix[i][j - 1] - g_ext)
            iy[i][j] = smax(d[i - 1][j] - g_open, ix[i - 1][j] - g_open, iy[i - 1][j] - g_ext)
    cells = [d[i][j] for i in range(1, n + 1) for j in range(1, m + 1)]
    return smax(*cells), [row[1:] for row in d[1:]]


@pytest.mark.parametrize("t", [0.05, 0.8, 3.0])
def test_equals_direct_loop_on_every_small_shape(t):
    gen = torch.Generator().manual_seed(0)
    for n in range(1, 5):
        for m in range(1, 6):
            sim = torch.rand(2, n, m, generator=gen, dtype=torch.float64) * 3 - 1
            score, table = smooth_sw(sim, torch.tensor(0.7, dtype=torch.float64), 0.2, t)
            for b in range(2):
                want_score, want_table = direct_sw(sim[b].tolist(), 0.7, 0.2, t)
                assert score[b].item() == pytest.approx(want_score, rel=1e-12, abs=1e-12), (n, m)
                want_table = torch.tensor(want_table, dtype=torch.float64)
                torch.testing.assert_close(table[b], want_table, rtol=1e-12, atol=1e-12)


def test_hand_case_one_by_two():
    # sim = [[1, 2]], t = 1, g_open = 1, g_ext = 0.5:
    # D(1,1) = 1 + smax(0, -inf, -inf, -inf) = 1 + log(e^0) = 1
    # D(1,2) = 2 + log(e^0) = 2 (no diagonal predecessor in a single row)
    # score = log(e^1 + e^2) = 2 + log(1 + e^-1)
    score, table = smooth_sw(torch.tensor([[[1.0, 2.0]]], dtype=torch.float64), 1.0, 0.5, 1.0)
    torch.testing.assert_close(table, torch.tensor([[[1.0, 2.0]]], dtype=torch.float64))
    assert score.item() == pytest.approx(2 + math.log(1 + math.exp(-1)), rel=1e-14)


def test_small_temperature_tends_to_classic_smith_waterman():
    gen = torch.Generator().manual_seed(1)
    n, m, t = 6, 7, 0.01
    sim = torch.rand(1, n, m, generator=gen, dtype=torch.float64) * 2 - 1
    score, _ = smooth_sw(sim, 0.5, 0.1, t)
    hard, _ = direct_sw(sim[0].tolist(), 0.5, 0.1, t, soft=False)
    # every smax_t lies in [max, max + t log(#terms)], and the recursions are monotone
    assert hard <= score.item() <= hard + t * (math.log(n * m) + (n + m) * math.log(4))


@pytest.mark.parametrize("t", [0.3, 1.0])
def test_gradcheck_score_and_table(t):
    gen = torch.Generator().manual_seed(2)
    sim = (torch.rand(3, 4, 5, generator=gen, dtype=torch.float64) * 2 - 1).requires_grad_()
    g_open = torch.tensor(0.8, dtype=torch.float64, requires_grad=True)
    g_ext = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    lengths_x, lengths_y = torch.tensor([4, 2, 3]), torch.tensor([5, 5, 1])
    valid = valid_mask(lengths_x, lengths_y, 4, 5)
    weights = torch.randn(3, 4, 5, generator=gen, dtype=torch.float64)

    def score(s, go, ge):
        return smooth_sw(s, go, ge, t, lengths_x, lengths_y)[0]

    def linear_in_table(s, go, ge):
        table = smooth_sw(s, go, ge, t, lengths_x, lengths_y)[1]
        return (weights * torch.where(valid, table, torch.zeros_like(table))).sum()

    assert torch.autograd.gradcheck(score, (sim, g_open, g_ext))
    assert torch.autograd.gradcheck(linear_in_table, (sim, g_open, g_ext))


def test_gap_penalties_receive_gradient_through_the_table():
    # D(2, 4) gains most from the path D(1, 1) -> Ix(1, 2) (open) -> Ix(1, 3) (extend) -> D(2, 4),
    # so both penalties lower it: negative gradients. D(1, 1) involves no gap: zero gradients.
    sim = torch.tensor([[[3.0, -5.0, -5.0, -5.0], [-5.0, -5.0, -5.0, 2.0]]], dtype=torch.float64)
    sim.requires_grad_()
    g_open = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    g_ext = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    _, table = smooth_sw(sim, g_open, g_ext, 0.8)
    table[0, 1, 3].backward(retain_graph=True)
    assert g_open.grad.item() < -0.5 and g_ext.grad.item() < -0.5
    assert sim.grad[0, 0, 0].item() > 0.5
    g_open.grad, g_ext.grad = None, None
    table[0, 0, 0].backward()
    assert g_open.grad.item() == 0 and g_ext.grad.item() == 0


def test_padding_equals_each_pair_cropped():
    gen = torch.Generator().manual_seed(3)
    lengths_x, lengths_y = torch.tensor([5, 2, 1, 5]), torch.tensor([3, 6, 4, 6])
    sim = torch.rand(4, 5, 6, generator=gen, dtype=torch.float64)
    valid = valid_mask(lengths_x, lengths_y, 5, 6)
    sim[~valid] = math.nan  # padding must not matter, even NaN
    sim.requires_grad_()
    g_open = torch.tensor(0.9, dtype=torch.float64, requires_grad=True)
    g_ext = torch.tensor(0.2, dtype=torch.float64, requires_grad=True)
    weights = torch.randn(4, 5, 6, generator=gen, dtype=torch.float64)
    score, table = smooth_sw(sim, g_open, g_ext, 0.8, lengths_x, lengths_y)
    assert torch.all(table[~valid] == -math.inf) and torch.isfinite(table[valid]).all()
    (score.sum() + (weights * torch.where(valid, table, torch.zeros_like(table))).sum()).backward()
    assert torch.all(sim.grad[~valid] == 0)
    go_sum, ge_sum = 0.0, 0.0
    for b, (n, m) in enumerate(zip(lengths_x.tolist(), lengths_y.tolist())):
        alone = sim.detach()[b : b + 1, :n, :m].clone().requires_grad_()
        go = g_open.detach().clone().requires_grad_()
        ge = g_ext.detach().clone().requires_grad_()
        s1, t1 = smooth_sw(alone, go, ge, 0.8)
        (s1.sum() + (weights[b, :n, :m] * t1[0]).sum()).backward()
        assert score[b].item() == pytest.approx(s1.item(), rel=1e-12)
        torch.testing.assert_close(table[b, :n, :m], t1[0], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(sim.grad[b, :n, :m], alone.grad[0], rtol=1e-10, atol=1e-12)
        go_sum, ge_sum = go_sum + go.grad.item(), ge_sum + ge.grad.item()
    assert g_open.grad.item() == pytest.approx(go_sum, rel=1e-10)
    assert g_ext.grad.item() == pytest.approx(ge_sum, rel=1e-10)


def test_float32_parameters_with_float64_similarities_and_large_lac_similarities():
    gen = torch.Generator().manual_seed(4)
    x, y = torch.randn(2, 16, 8, generator=gen), torch.randn(2, 16, 8, generator=gen)
    sim = 1.0 / (torch.cdist(x, y).pow(2) + 1e-6)  # LAC's inverted distance
    g_open = torch.nn.Parameter(torch.tensor(1.0))
    g_ext = torch.nn.Parameter(torch.tensor(1.0))
    score32, table32 = smooth_sw(sim, g_open, g_ext, 0.8)
    score64, _ = smooth_sw(sim.double(), g_open, g_ext, 0.8)
    (score64.sum() + score32.sum()).backward()
    assert torch.isfinite(table32).all() and torch.isfinite(g_open.grad) and torch.isfinite(g_ext.grad)
    torch.testing.assert_close(score32.double(), score64, rtol=1e-5, atol=1e-3)


def test_bad_input_raises_one_line_errors():
    sim = torch.rand(2, 3, 4)
    for bad in (0.0, -0.5, math.inf):
        with pytest.raises(ConfigError):
            smooth_sw(sim, 1.0, 1.0, bad)
    with pytest.raises(ConfigError):
        smooth_sw(sim, torch.ones(2), 1.0, 0.8)
    with pytest.raises(DataError):
        smooth_sw(sim, 1.0, 1.0, 0.8, lengths_y=torch.tensor([4, 5]))
    with pytest.raises(DataError):
        smooth_sw(sim[0], 1.0, 1.0, 0.8)
    with pytest.raises(UnknownNameError) as err:
        smooth_sw(sim, 1.0, 1.0, 0.8, backend="cuda_graph")
    assert "\n" not in str(err.value)


def test_backend_dispatch_passes_validated_inputs(monkeypatch):
    import bench.align.smith_waterman as module

    seen = {}

    def probe(sim, g_open, g_ext, t, lengths_x, lengths_y):
        seen.update(g_open=g_open, g_ext=g_ext, t=t, lengths_x=lengths_x, lengths_y=lengths_y)
        return sim.sum((1, 2)), sim

    monkeypatch.setitem(module.BACKENDS, "probe", probe)
    sim = torch.ones(2, 3, 4, dtype=torch.float64)
    smooth_sw(sim, torch.tensor([1.5]), 2, 0.8, lengths_y=torch.tensor([4, 2]), backend="probe")
    assert seen["g_open"].shape == () and seen["g_open"].dtype == torch.float64 and seen["g_open"].item() == 1.5
    assert seen["g_ext"].item() == 2.0 and seen["t"] == 0.8
    assert seen["lengths_x"].tolist() == [3, 3] and seen["lengths_y"].tolist() == [4, 2]
