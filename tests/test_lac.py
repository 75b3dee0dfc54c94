"""methods/lac.py: the LAC loss against a cell-by-cell loop implementation of its formulas."""
import math

import optuna
import pytest
import torch
from helpers import stack_padded, two_view_batch

from bench.config import build
from bench.errors import ConfigError, DataError
from bench.registry import METHODS
from methods.lac import LAC, consistency_loss, inverted_distance, lac_loss


def smax(values, t):
    """smax_t over the finite values (None stands for -inf); None when there is none."""
    finite = [v for v in values if v is not None]
    return None if not finite else t * torch.logsumexp(torch.stack(finite) / t, 0)


def sub(a, b):
    return None if a is None else a - b


def loop_sw(sim, g_open, g_ext, t):
    """The LAC recursions cell by cell on torch scalars: (score, D as nested lists)."""
    n, m = sim.shape
    d = [[None] * (m + 1) for _ in range(n + 1)]
    ix = [[None] * (m + 1) for _ in range(n + 1)]
    iy = [[None] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            d[i][j] = sim[i - 1, j - 1] + smax([sim.new_zeros(()), d[i - 1][j - 1], ix[i - 1][j - 1],
                                                iy[i - 1][j - 1]], t)
            ix[i][j] = smax([sub(d[i][j - 1], g_open), sub(ix[i][j - 1], g_ext)], t)
            iy[i][j] = smax([sub(d[i - 1][j], g_open), sub(ix[i - 1][j], g_open), sub(iy[i - 1][j], g_ext)], t)
    score = smax([d[i][j] for i in range(1, n + 1) for j in range(1, m + 1)], t)
    return score, [row[1:] for row in d[1:]]


def unit(v):
    return v / torch.sqrt((v ** 2).sum())


def loop_kl(logits, target):
    """KL(target || softmax(logits)) of one row given as lists."""
    denom = sum(torch.exp(v) for v in logits)
    return sum(p * (math.log(p) - torch.log(torch.exp(v) / denom)) for p, v in zip(target, logits) if p > 0)


def gauss_row(centre, positions, sigma2):
    w = [math.exp(-(float(centre) - float(s)) ** 2 / (2 * sigma2)) for s in positions]
    return [v / sum(w) for v in w]


def loop_lac(xs, ys, sxs, sys_, g_open, g_ext, t=0.8, tau=0.8, sigma2=10.0, eps=0.1, w_local=0.01, w_cons=1.0):
    """LAC by explicit loops over a list of ragged view pairs (module docstring of methods/lac.py)."""
    c12, c21, cons, local = [], [], [], []
    for x, y, sx, sy in zip(xs, ys, sxs, sys_):
        x, y = [unit(v) for v in x], [unit(v) for v in y]
        for q, k, sq, sk, out in ((x, y, sx, sy, c12), (y, x, sy, sx, c21)):
            for i in range(len(q)):
                out.append(loop_kl([(q[i] * k[j]).sum() / tau for j in range(len(k))], gauss_row(sq[i], sk, sigma2)))
        sim = torch.stack([torch.stack([1.0 / (((x[i] - y[j]) ** 2).sum() + eps) for j in range(len(y))])
                           for i in range(len(x))])
        score12, d12 = loop_sw(sim, g_open, g_ext, t)
        score21, d21 = loop_sw(sim.T, g_open, g_ext, t)
        local.append(-score12 / len(x) - score21 / len(y))
        p12 = [torch.softmax(torch.stack(row), 0) for row in d12]
        p21 = [torch.softmax(torch.stack(row), 0) for row in d21]
        for i in range(len(x)):
            logits = [p12[i][j] * p21[j][i] for j in range(len(y))]
            cons.append(loop_kl(logits, gauss_row(sx[i], sy, sigma2)))
    contrastive = 0.5 * (torch.stack(c12).mean() + torch.stack(c21).mean())
    local, cons = torch.stack(local).mean(), torch.stack(cons).mean()
    return {"loss": contrastive + w_local * local + w_cons * cons, "contrastive": contrastive, "local": local,
            "consistency": cons}


def ragged(seed, lengths, d=3, scale=1.0):
    g = torch.Generator().manual_seed(seed)
    xs = [scale * torch.randn(n, d, generator=g, dtype=torch.float64) for n in lengths]
    ys = [scale * torch.randn(n, d, generator=g, dtype=torch.float64) for n in lengths]
    sxs = [torch.sort(torch.randperm(20, generator=g)[:n]).values for n in lengths]
    sys_ = [torch.sort(torch.randperm(20, generator=g)[:n]).values for n in lengths]
    return xs, ys, sxs, sys_




def test_inverted_distance_hand_case():
    # x = (0, 0); y = (1, 0), (0, 2): squared distances 1 and 4, eps = 0.1 -> 1/1.1, 1/4.1.
    sim = inverted_distance(torch.tensor([[[0.0, 0.0]]]), torch.tensor([[[1.0, 0.0], [0.0, 2.0]]]), 0.1)
    torch.testing.assert_close(sim, torch.tensor([[[0.909091, 0.243902]]]), atol=1e-6, rtol=0)


def test_consistency_hand_case():
    # N = M = 2, D(x, y) = D(y, x) = [[log 3, 0], [0, log 3]]: row softmax [3/4, 1/4], so
    # C = P12 * P21^T = [[9/16, 1/16], [1/16, 9/16]]; softmax row 0 = [1, e^-0.5] / (1 + e^-0.5)
    # = [0.622459, 0.377541]. Indices s_x = s_y = [0, 10], sigma2 = 10: target row 0 =
    # [1, e^-5] / (1 + e^-5) = [0.993307, 0.006693]; KL = 0.993307 log(0.993307 / 0.622459)
    # + 0.006693 log(0.006693 / 0.377541) = 0.464234 - 0.026990 = 0.437244, row 1 the same.
    table = torch.tensor([[[math.log(3), 0.0], [0.0, math.log(3)]]], dtype=torch.float64)
    s = torch.tensor([[0, 10]])
    assert consistency_loss(table, table, s, s, 10.0).item() == pytest.approx(0.437244, abs=1e-6)


@pytest.mark.parametrize("lengths", [[3, 3], [4], [2, 4]])
@pytest.mark.parametrize("t,eps", [(0.8, 0.1), (0.3, 1.0)])
def test_matches_loop_reference(lengths, t, eps):
    xs, ys, sxs, sys_ = ragged(1, lengths)
    g_open, g_ext = torch.tensor(1.3, dtype=torch.float64), torch.tensor(0.4, dtype=torch.float64)
    t_max = max(lengths)
    x, mask_x = stack_padded(xs, t_max, 3.0)
    y, mask_y = stack_padded(ys, t_max, -2.0)
    sx, _ = stack_padded(sxs, t_max, 0)
    sy, _ = stack_padded(sys_, t_max, 19)
    got = lac_loss(x, y, sx, sy, g_open, g_ext, smoothing=t, eps=eps, mask_x=mask_x, mask_y=mask_y)
    ref = loop_lac(xs, ys, sxs, sys_, g_open, g_ext, t=t, eps=eps)
    for key in ref:
        torch.testing.assert_close(got[key], ref[key])


def test_gradcheck_including_gap_penalties():
    xs, ys, sxs, sys_ = ragged(2, [3, 2], d=2)
    x, mask_x = stack_padded(xs, 3, 0.5)
    y, mask_y = stack_padded(ys, 3, 0.5)
    sx, _ = stack_padded(sxs, 3, 0)
    sy, _ = stack_padded(sys_, 3, 0)
    x.requires_grad_(True)
    y.requires_grad_(True)
    g_open = torch.tensor(0.9, dtype=torch.float64, requires_grad=True)
    g_ext = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    # weights of order 1 so every term's gradient is well above gradcheck's tolerance
    assert torch.autograd.gradcheck(
        lambda a, b, go, ge: lac_loss(a, b, sx, sy, go, ge, smoothing=0.7, w_local=0.5, w_consistency=1.0,
                                      mask_x=mask_x, mask_y=mask_y)["loss"], (x, y, g_open, g_ext))


def test_consistency_trains_embeddings_and_gaps():
    # The reference code's D gets no gradient, so its consistency term trains nothing.
    xs, ys, sxs, sys_ = ragged(3, [4, 4])
    x, y = torch.stack(xs).requires_grad_(True), torch.stack(ys).requires_grad_(True)
    g_open = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    g_ext = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    parts = lac_loss(x, y, torch.stack(sxs), torch.stack(sys_), g_open, g_ext)
    parts["consistency"].backward()
    for grad in (x.grad, y.grad, g_open.grad, g_ext.grad):
        assert torch.isfinite(grad).all() and grad.abs().sum() > 1e-8


def test_local_term_rewards_a_high_score():
    # More similar views give a higher score, hence a lower L_local; larger gaps a lower score.
    xs, ys, sxs, _ = ragged(4, [5])
    x, s = torch.stack(xs), torch.stack(sxs)
    far = lac_loss(x, torch.stack(ys), s, s, 1.0, 1.0)["local"]
    near = lac_loss(x, x + 0.01 * torch.stack(ys), s, s, 1.0, 1.0)["local"]
    assert near < far
    assert lac_loss(x, x, s, s, 2.0, 2.0)["local"] > lac_loss(x, x, s, s, 0.5, 0.5)["local"]


def test_aligned_views_beat_shuffled_in_every_term():
    # Both views embed frame index s on a half circle; shuffling view y's frames breaks the order.
    g = torch.Generator().manual_seed(5)
    s = torch.sort(torch.randperm(40, generator=g)[:12]).values.view(1, 12)

    def encode(idx):
        angle = idx.double() * math.pi / 40
        return torch.stack([torch.cos(angle), torch.sin(angle)], -1)

    x = encode(s)
    perm = torch.randperm(12, generator=g)
    aligned = lac_loss(x, encode(s), s, s, 1.0, 1.0)
    shuffled = lac_loss(x, encode(s)[:, perm], s, s, 1.0, 1.0)
    for key in ("contrastive", "local", "consistency", "loss"):
        assert aligned[key] < shuffled[key], key



@pytest.mark.parametrize("variant", sorted(LAC.variants))
def test_variants_run_with_finite_loss_and_gradients(variant):
    method = LAC(build(LAC.Config, LAC.variants[variant], "method"), embed_dim=4)
    batch = two_view_batch(2, 6, pad_last=2, length=40)
    emb = torch.randn(2, 2, 6, 4, generator=torch.Generator().manual_seed(1), requires_grad=True)
    parts = method.loss(batch, emb)
    assert set(parts) == {"loss", "contrastive", "local", "consistency", "gap_open", "gap_extend"}
    assert all(torch.isfinite(v) for v in parts.values())
    parts["loss"].backward()
    assert torch.isfinite(emb.grad).all() and emb.grad.abs().sum() > 0
    assert torch.all(emb.grad[0, 1, -2:] == 0)  # padded frames get no gradient
    cfg = method.cfg
    expected = parts["contrastive"] + cfg.w_local * parts["local"] + cfg.w_consistency * parts["consistency"]
    torch.testing.assert_close(parts["loss"], expected)
    trains_gaps = cfg.w_local > 0 or cfg.w_consistency > 0
    assert (method.gap_open_raw.grad is not None) == trains_gaps


def test_method_loss_is_the_pure_function_with_softplus_gaps():
    method = LAC(LAC.Config(gap_open=2.0, gap_extend=0.5), embed_dim=3)
    g_open, g_ext = method.gaps()
    assert g_open.item() == pytest.approx(2.0) and g_ext.item() == pytest.approx(0.5)
    with torch.no_grad():
        method.gap_open_raw.fill_(-30.0)  # softplus keeps the penalty positive however far theta goes
    assert method.gaps()[0].item() > 0
    batch = two_view_batch(2, 5, length=40)
    emb = torch.randn(2, 2, 5, 3, generator=torch.Generator().manual_seed(2))
    parts = method.loss(batch, emb)
    s = batch.indices
    ref = lac_loss(emb[:, 0], emb[:, 1], s[:, 0], s[:, 1], *method.gaps())
    for key in ref:
        torch.testing.assert_close(parts[key], ref[key])


def test_batch_spec_defaults_and_variants():
    method = LAC(LAC.Config(), embed_dim=8)
    spec = method.batch_spec()
    assert (spec.videos, spec.views, spec.frames, spec.sampling, spec.augment) == (2, 2, 64, "time_augment", True)
    assert METHODS.get("lac") is LAC
    assert build(LAC.Config, LAC.per_dataset_defaults["synthetic"], "method").frames == 32
    assert {"full", "contrastive", "contrastive+local", "t0.6", "t0.7", "t0.8", "t0.9"} <= set(LAC.variants)
    assert build(LAC.Config, LAC.variants["t0.6"], "method").smoothing == 0.6
    cfg = LAC.Config()
    assert (cfg.smoothing, cfg.temperature, cfg.w_local, cfg.w_consistency) == (0.8, 0.8, 0.01, 1.0)


def test_search_space_builds_a_config():
    params = {"smoothing": 0.7, "temperature": 0.5, "eps": 0.05, "w_local": 0.02, "w_consistency": 0.5,
              "crop_min": 0.6}
    cfg = build(LAC.Config, LAC.search_space(optuna.trial.FixedTrial(params)), "method")
    assert (cfg.smoothing, cfg.eps, cfg.w_consistency, cfg.crop_min) == (0.7, 0.05, 0.5, 0.6)


@pytest.mark.parametrize("bad", [{"smoothing": 0.0}, {"eps": -1.0}, {"w_local": -0.1}, {"frames": 1},
                                 {"gap_open": 0.0}, {"crop_min": 1.5}, {"alpha": 0.1}])
def test_bad_config_is_a_config_error(bad):
    with pytest.raises(ConfigError):
        build(LAC.Config, bad, "method")


def test_bad_inputs_raise_one_line_errors():
    x, s = torch.randn(1, 3, 2), torch.arange(3).view(1, 3)
    with pytest.raises(DataError, match="padding at the end"):
        lac_loss(x, x, s, s, 1.0, 1.0, mask_x=torch.tensor([[True, False, True]]))
    with pytest.raises(DataError, match="one shape"):
        lac_loss(x, torch.randn(1, 4, 2), s, torch.arange(4).view(1, 4), 1.0, 1.0)
    with pytest.raises(DataError, match="B, 2, T, D"):
        LAC(LAC.Config(), embed_dim=2).loss(two_view_batch(1, 3, length=40), torch.randn(1, 1, 3, 2))
