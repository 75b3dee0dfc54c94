"""methods/tcc.py: TCC's cycle-back losses against a loop-based implementation of the formulas."""
import math

import optuna
import pytest
import torch

from bench.batch import Batch
from bench.config import build
from bench.errors import ConfigError, DataError
from bench.registry import METHODS
from methods.tcc import LOSS_TYPES, TCC, tcc_loss


def loop_tcc(embs, times, tau, loss_type, lam=1e-3, delta=0.1, eps=0.1):
    """Per (ordered pair, frame) TCC loss by explicit loops over a list of ragged videos."""
    losses, errors = [], []
    for p, u in enumerate(embs):
        for q, v in enumerate(embs):
            if p == q:
                continue
            t, d = times[p], u.shape[1]
            for i in range(u.shape[0]):
                a = torch.softmax(torch.stack([-((u[i] - v[j]) ** 2).sum() / (d * tau) for j in range(len(v))]), 0)
                v_tilde = sum(a[j] * v[j] for j in range(len(v)))
                logits = torch.stack([-((v_tilde - u[k]) ** 2).sum() / (d * tau) for k in range(len(u))])
                b = torch.softmax(logits, 0)
                mu = sum(b[k] * t[k] for k in range(len(u)))
                var = sum(b[k] * (t[k] - mu) ** 2 for k in range(len(u)))
                err = (t[i] - mu) ** 2
                if loss_type == "regression_mse_var":
                    loss = err / var + lam * torch.log(var)
                elif loss_type == "regression_mse":
                    loss = err
                elif loss_type == "regression_huber":
                    r = torch.abs(t[i] - mu)
                    loss = 0.5 * r ** 2 if r <= delta else delta * (r - 0.5 * delta)
                else:
                    y = [(1 - eps) * (k == i) + eps / len(u) for k in range(len(u))]
                    loss = -sum(y[k] * torch.log(b[k]) for k in range(len(u)))
                losses.append(loss)
                errors.append(err)
    return torch.stack(losses).mean(), torch.stack(errors).mean()


def ragged(seed, lengths, d, scale=0.5):
    g = torch.Generator().manual_seed(seed)
    embs = [scale * torch.randn(n, d, generator=g, dtype=torch.float64) for n in lengths]
    times = [torch.sort(torch.rand(n, generator=g, dtype=torch.float64)).values for n in lengths]
    return embs, times


def pad(embs, times, garbage_seed=0):
    """Stack ragged videos to (B, T, D) with large random garbage in the padding, and a mask."""
    g = torch.Generator().manual_seed(garbage_seed)
    t_max, d = max(len(e) for e in embs), embs[0].shape[1]
    emb = 50 * torch.randn(len(embs), t_max, d, generator=g, dtype=torch.float64)
    tt = torch.rand(len(embs), t_max, generator=g, dtype=torch.float64)
    mask = torch.zeros(len(embs), t_max, dtype=torch.bool)
    for b, (e, t) in enumerate(zip(embs, times)):
        emb[b, :len(e)], tt[b, :len(t)], mask[b, :len(e)] = e, t, True
    return emb, tt, mask


@pytest.mark.parametrize("loss_type", LOSS_TYPES)
@pytest.mark.parametrize("tau", [0.1, 0.7])
def test_matches_loop_reference(loss_type, tau):
    embs, times = ragged(1, [4, 4, 4], 3)
    emb, t = torch.stack(embs), torch.stack(times)
    out = tcc_loss(emb, t, temperature=tau, loss_type=loss_type)
    ref, ref_mse = loop_tcc(embs, times, tau, loss_type)
    torch.testing.assert_close(out["cycle"], ref)
    torch.testing.assert_close(out["cycle_mse"], ref_mse)


@pytest.mark.parametrize("loss_type", LOSS_TYPES)
def test_padded_batch_equals_unpadded_computation(loss_type):
    embs, times = ragged(2, [5, 3, 4], 2)
    emb, t, mask = pad(embs, times)
    out = tcc_loss(emb, t, mask, temperature=0.5, loss_type=loss_type)
    ref, ref_mse = loop_tcc(embs, times, 0.5, loss_type)
    torch.testing.assert_close(out["cycle"], ref)
    torch.testing.assert_close(out["cycle_mse"], ref_mse)


@pytest.mark.parametrize("loss_type", LOSS_TYPES)
def test_gradcheck(loss_type):
    embs, times = ragged(3, [3, 4], 2)
    emb, t, mask = pad(embs, times)
    emb.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda x: tcc_loss(x, t, mask, temperature=0.5, loss_type=loss_type)["cycle"], (emb,))


def test_hand_computed_regression_terms():
    # Two identical videos u = v = [[0], [1]] (D = 1), times [0, 1], tau = 1. From test_snn's hand
    # case, row 0's cycle-back logits are -a^2 = -0.072329 and -(1-a)^2 = -0.534447 with
    # a = 1/(1+e), so beta_0 = softmax(...) = [0.613516, 0.386484], mu_0 = 0.386484 and, by
    # symmetry, mu_1 = 0.613516. Errors: 0.386484^2 = 0.149370 for both frames.
    # sigma^2 = beta_00 beta_01 (1 - 0)^2 = 0.237114 for both frames, so
    # mse_var = 0.149370 / 0.237114 + 1e-3 * log(0.237114) = 0.629949 - 0.001439 = 0.628509.
    emb = torch.tensor([[[0.0], [1.0]], [[0.0], [1.0]]], dtype=torch.float64)
    t = torch.tensor([[0.0, 1.0], [0.0, 1.0]], dtype=torch.float64)
    a = 1.0 / (1.0 + math.e)
    b1 = 1.0 / (1.0 + math.exp(-(a * a) + (1 - a) ** 2))
    assert b1 == pytest.approx(0.386484, abs=1e-6)
    out = tcc_loss(emb, t, temperature=1.0, loss_type="regression_mse_var")
    assert out["cycle_mse"].item() == pytest.approx(0.149370, abs=1e-6)
    assert out["cycle"].item() == pytest.approx(0.628509, abs=1e-6)
    # classification, eps = 0.1, T = 2: target row 0 = [0.95, 0.05];
    # CE = -(0.95 log 0.613516 + 0.05 log 0.386484) = 0.464121 + 0.047533 = 0.511654.
    out = tcc_loss(emb, t, temperature=1.0, loss_type="classification")
    assert out["cycle"].item() == pytest.approx(0.511654, abs=1e-6)
    # huber, delta 0.1: |t - mu| = 0.386484 > 0.1, so 0.1 * (0.386484 - 0.05) = 0.033648.
    out = tcc_loss(emb, t, temperature=1.0, loss_type="regression_huber")
    assert out["cycle"].item() == pytest.approx(0.033648, abs=1e-6)


def test_collapsed_cycle_back_gives_a_finite_loss():
    # Far-apart frames make beta one-hot in float32 (exp underflow, sigma^2 = 0 without the floor).
    emb = 1e3 * torch.randn(2, 5, 3, generator=torch.Generator().manual_seed(6))
    t = torch.linspace(0, 1, 5).expand(2, 5)
    out = tcc_loss(emb, t, loss_type="regression_mse_var")
    assert torch.isfinite(out["cycle"])


def test_aligned_embedding_beats_shuffled():
    # Both videos embed their frames by normalised time on a half circle: cycles come back.
    g = torch.Generator().manual_seed(4)
    t = torch.sort(torch.rand(3, 12, generator=g), dim=-1).values
    aligned = torch.stack([torch.cos(math.pi * t), torch.sin(math.pi * t)], -1)
    shuffled = aligned[:, torch.randperm(12, generator=g)]
    for loss_type in LOSS_TYPES:
        good = tcc_loss(aligned, t, temperature=0.1, loss_type=loss_type)
        bad = tcc_loss(shuffled, t, temperature=0.1, loss_type=loss_type)
        assert good["cycle"] < bad["cycle"], loss_type
        assert good["cycle_mse"] < bad["cycle_mse"]


def make_batch(emb_shape, seed=0, pad_last=0):
    b, v, t = emb_shape[:3]
    g = torch.Generator().manual_seed(seed)
    lengths = torch.full((b,), 40, dtype=torch.long)
    indices = torch.sort(torch.randint(0, 40, (b, v, t), generator=g), dim=-1).values
    mask = torch.ones(b, v, t, dtype=torch.bool)
    if pad_last:
        mask[0, :, -pad_last:] = False
    return Batch(frames=torch.zeros(b, v, t, 1, 1, 1, 1), indices=indices, lengths=lengths, mask=mask,
                 labels=torch.full((b, v, t), -1), actions=torch.zeros(b, dtype=torch.long),
                 video_ids=[f"v{i}" for i in range(b)])


@pytest.mark.parametrize("variant", sorted(TCC.variants))
def test_variants_run_with_finite_loss_and_gradients(variant):
    cfg = build(TCC.Config, TCC.variants[variant], "method")
    method = TCC(cfg, embed_dim=4)
    batch = make_batch((3, 1, 6), pad_last=2)
    emb = torch.randn(3, 1, 6, 4, generator=torch.Generator().manual_seed(1), requires_grad=True)
    parts = method.loss(batch, emb)
    assert set(parts) == {"loss", "cycle", "cycle_mse"}
    assert torch.isfinite(parts["loss"])
    parts["loss"].backward()
    assert torch.isfinite(emb.grad).all() and emb.grad.abs().sum() > 0
    assert torch.all(emb.grad[0, 0, -2:] == 0)  # padded frames get no gradient


def test_method_uses_normalised_time_and_optional_l2():
    cfg = build(TCC.Config, {"normalize_embeddings": True}, "method")
    batch = make_batch((2, 1, 5))
    emb = torch.randn(2, 1, 5, 3, generator=torch.Generator().manual_seed(2))
    parts = TCC(cfg, embed_dim=3).loss(batch, emb)
    ref = tcc_loss(torch.nn.functional.normalize(emb[:, 0], dim=-1), batch.times[:, 0], batch.mask[:, 0])
    torch.testing.assert_close(parts["loss"], ref["cycle"])


def test_batch_spec_and_defaults():
    method = TCC(TCC.Config(), embed_dim=8)
    spec = method.batch_spec()
    assert (spec.videos, spec.views, spec.frames, spec.sampling, spec.same_action) == (4, 1, 20, "offset_uniform", True)
    assert METHODS.get("tcc") is TCC
    for overrides in TCC.per_dataset_defaults.values():
        build(TCC.Config, overrides, "method")


def test_search_space_builds_a_config():
    params = {"temperature": 0.05, "variance_lambda": 0.01, "normalize_embeddings": True}
    values = TCC.search_space(optuna.trial.FixedTrial(params))
    cfg = build(TCC.Config, values, "method")
    assert cfg.temperature == 0.05 and cfg.normalize_embeddings is True


@pytest.mark.parametrize("bad", [{"temperature": 0.0}, {"videos": 1}, {"loss_type": "regression"},
                                 {"label_smoothing": 1.0}, {"frames": 1}, {"variance_lambda": -1.0}])
def test_bad_config_is_a_config_error(bad):
    with pytest.raises(ConfigError):
        build(TCC.Config, bad, "method")


def test_bad_inputs_raise_one_line_errors():
    emb = torch.randn(1, 4, 2)
    with pytest.raises(DataError, match="at least 2 videos"):
        tcc_loss(emb, torch.rand(1, 4))
    with pytest.raises(DataError, match="no real"):
        tcc_loss(torch.randn(2, 3, 2), torch.rand(2, 3), torch.tensor([[True] * 3, [False] * 3]))
    with pytest.raises(ConfigError, match="loss_type"):
        tcc_loss(torch.randn(2, 3, 2), torch.rand(2, 3), loss_type="mse")
    method = TCC(TCC.Config(), embed_dim=2)
    with pytest.raises(DataError, match="B, 1, T, D"):
        method.loss(make_batch((2, 2, 3)), torch.randn(2, 2, 3, 2))
