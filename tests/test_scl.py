"""methods/scl.py: CARL's sequence contrastive loss against a loop-based implementation."""
import math

import optuna
import pytest
import torch
from helpers import stack_padded, two_view_batch

from bench.config import build
from bench.errors import ConfigError, DataError
from bench.registry import METHODS
from methods.scl import SCL, gaussian_target, sequence_contrastive_loss, soft_target_kl


def loop_scl(zq, zk, centres, positions, tau, sigma2):
    """Per-row KL(p || P) of one direction for one video, by explicit loops; returns a list."""
    rows = []
    for i in range(len(zq)):
        q = zq[i] / torch.sqrt((zq[i] ** 2).sum())
        sims = [(q * (zk[j] / torch.sqrt((zk[j] ** 2).sum()))).sum() / tau for j in range(len(zk))]
        denom = sum(torch.exp(s) for s in sims)
        prior = [math.exp(-(float(centres[i]) - float(positions[j])) ** 2 / (2 * sigma2)) for j in range(len(zk))]
        total = sum(prior)
        kl = 0.0
        for j in range(len(zk)):
            p = prior[j] / total
            if p > 0:
                kl = kl + p * (math.log(p) - torch.log(torch.exp(sims[j]) / denom))
        rows.append(kl)
    return rows


def loop_loss(zqs, zks, centres, positions, tau, sigma2):
    """Mean over every real query frame of every video (ragged lists)."""
    rows = []
    for zq, zk, c, p in zip(zqs, zks, centres, positions):
        rows += loop_scl(zq, zk, c, p, tau, sigma2)
    return torch.stack(rows).mean()


def views(seed, lengths1, lengths2, d):
    g = torch.Generator().manual_seed(seed)
    z1 = [torch.randn(n, d, generator=g, dtype=torch.float64) for n in lengths1]
    z2 = [torch.randn(n, d, generator=g, dtype=torch.float64) for n in lengths2]
    s1 = [torch.sort(torch.randperm(30, generator=g)[:n]).values for n in lengths1]
    s2 = [torch.sort(torch.randperm(30, generator=g)[:n]).values for n in lengths2]
    return z1, z2, s1, s2




def test_gaussian_target_hand_case():
    # centre 0, positions [0, 1, 2], sigma2 = 0.5: weights exp(-0/1), exp(-1/1), exp(-4/1)
    # = [1, 0.367879, 0.018316], sum 1.386195 -> [0.721399, 0.265388, 0.013213].
    target = gaussian_target(torch.tensor([0.0]), torch.tensor([0.0, 1.0, 2.0]), 0.5)
    torch.testing.assert_close(target, torch.tensor([[0.721399, 0.265388, 0.013213]]), atol=1e-6, rtol=0)
    # a padded key gets probability 0 and the rest renormalise: [1, 0.367879] / 1.367879.
    masked = gaussian_target(torch.tensor([0.0]), torch.tensor([0.0, 1.0, 2.0]), 0.5,
                             torch.tensor([True, True, False]))
    torch.testing.assert_close(masked, torch.tensor([[0.731059, 0.268941, 0.0]]), atol=1e-6, rtol=0)


def test_gaussian_target_far_frames_do_not_underflow_to_nothing():
    # 100 frames from every key: exp(-100^2 / 20) underflows in float32, yet the target is
    # exp(-[10000, 10201] / 20) normalised = [1, exp(-10.05)] / (1 + exp(-10.05)) = [0.999957, 0.000043].
    target = gaussian_target(torch.tensor([0.0]), torch.tensor([100.0, 101.0]), 10.0)
    assert torch.exp(torch.tensor(-100.0 ** 2 / 20)).item() == 0.0  # the float32 underflow
    torch.testing.assert_close(target, torch.tensor([[0.999957, 0.000043]]), atol=1e-6, rtol=0)


def test_soft_target_kl_hand_cases():
    # logits [0, 0] -> P = [1/2, 1/2]; target [1, 0]: KL = 1 * log(1 / 0.5) = log 2 (0 log 0 = 0).
    kl = soft_target_kl(torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 0.0]]))
    assert kl.item() == pytest.approx(math.log(2))
    # target equal to softmax(logits): KL = 0.
    logits = torch.tensor([[0.3, -1.0, 2.0]], dtype=torch.float64)
    assert soft_target_kl(logits, torch.softmax(logits, -1)).item() == pytest.approx(0.0, abs=1e-12)
    # a masked key leaves the softmax: logits [0, 0, 5] with key 2 masked is the first case.
    kl = soft_target_kl(torch.tensor([[0.0, 0.0, 5.0]]), torch.tensor([[1.0, 0.0, 0.0]]),
                        torch.tensor([True, True, False]))
    assert kl.item() == pytest.approx(math.log(2))


@pytest.mark.parametrize("tau,sigma2,d", [(0.1, 10.0, 3), (0.8, 2.0, 2), (0.3, 50.0, 4)])
def test_matches_loop_reference(tau, sigma2, d):
    z1, z2, s1, s2 = views(1, [4, 4], [4, 4], d)
    got = sequence_contrastive_loss(torch.stack(z1), torch.stack(z2), torch.stack(s1), torch.stack(s2), tau, sigma2)
    torch.testing.assert_close(got, loop_loss(z1, z2, s1, s2, tau, sigma2))


def test_arbitrary_prior_centres_match_loop_reference():
    # LRProp's L_cross: the prior of query i is centred on another frame index, not on s1_i.
    z1, z2, _, s2 = views(2, [5], [4], 3)
    centres = [torch.tensor([2.0, 2.0, 9.5, 17.0, 25.0], dtype=torch.float64)]
    got = sequence_contrastive_loss(z1[0], z2[0], centres[0], s2[0], 0.2, 10.0)
    torch.testing.assert_close(got, loop_loss(z1, z2, centres, s2, 0.2, 10.0))


def test_padded_batch_equals_unpadded_computation():
    z1, z2, s1, s2 = views(3, [5, 3], [4, 5], 3)
    zq, mq = stack_padded(z1, 6, 7.0)
    zk, mk = stack_padded(z2, 6, -3.0)
    sq, _ = stack_padded(s1, 6, 0)
    sk, _ = stack_padded(s2, 6, 29)
    got = sequence_contrastive_loss(zq, zk, sq, sk, 0.1, 10.0, mq, mk)
    torch.testing.assert_close(got, loop_loss(z1, z2, s1, s2, 0.1, 10.0))


def test_gradcheck():
    z1, z2, s1, s2 = views(4, [3, 2], [2, 3], 2)
    zq, mq = stack_padded(z1, 3, 0.5)
    zk, mk = stack_padded(z2, 3, 0.5)
    sq, _ = stack_padded(s1, 3, 0)
    sk, _ = stack_padded(s2, 3, 0)
    zq.requires_grad_(True)
    zk.requires_grad_(True)
    assert torch.autograd.gradcheck(
        lambda a, b: sequence_contrastive_loss(a, b, sq, sk, 0.3, 5.0, mq, mk), (zq, zk))


def test_time_encoding_beats_random_embedding():
    g = torch.Generator().manual_seed(5)
    s1 = torch.sort(torch.randperm(60, generator=g)[:16]).values
    s2 = torch.sort(torch.randperm(60, generator=g)[:16]).values

    def encode(s):  # frame index -> a point on a circle, 3 degrees per frame
        angle = s.double() * math.pi / 60
        return torch.stack([torch.cos(angle), torch.sin(angle)], -1)

    aligned = sequence_contrastive_loss(encode(s1), encode(s2), s1, s2, 0.1, 10.0)
    random = sequence_contrastive_loss(torch.randn(16, 2, generator=g, dtype=torch.float64),
                                       torch.randn(16, 2, generator=g, dtype=torch.float64), s1, s2, 0.1, 10.0)
    assert aligned < random



def test_method_loss_parts_and_gradients():
    torch.manual_seed(0)
    method = SCL(SCL.Config(projection_dim=8, projection_hidden=8), embed_dim=4)
    batch = two_view_batch(2, 6, pad_last=2)
    emb = torch.randn(2, 2, 6, 4, generator=torch.Generator().manual_seed(1), requires_grad=True)
    parts = method.loss(batch, emb)
    assert set(parts) == {"loss", "scl_12", "scl_21"}
    torch.testing.assert_close(parts["loss"], 0.5 * (parts["scl_12"] + parts["scl_21"]))
    parts["loss"].backward()
    assert torch.isfinite(emb.grad).all() and emb.grad.abs().sum() > 0
    assert torch.all(emb.grad[0, 1, -2:] == 0)  # padded frames get no gradient
    assert all(p.grad is not None for p in method.projection.parameters())


def test_method_loss_is_the_pure_function_on_the_projection():
    method = SCL(SCL.Config(projection_dim=4, projection_hidden=4), embed_dim=3).eval()
    batch = two_view_batch(2, 5)
    emb = torch.randn(2, 2, 5, 3, generator=torch.Generator().manual_seed(2))
    parts = method.loss(batch, emb)
    z = method.projection(emb.reshape(-1, 3)).reshape(2, 2, 5, 4)
    s = batch.indices
    torch.testing.assert_close(parts["scl_12"], sequence_contrastive_loss(z[:, 0], z[:, 1], s[:, 0], s[:, 1], 0.1, 10.0))
    torch.testing.assert_close(parts["scl_21"], sequence_contrastive_loss(z[:, 1], z[:, 0], s[:, 1], s[:, 0], 0.1, 10.0))


def test_projection_batchnorm_ignores_padding():
    method = SCL(SCL.Config(projection_dim=4, projection_hidden=4), embed_dim=3).train()
    g = torch.Generator().manual_seed(3)
    emb = torch.randn(1, 2, 4, 3, generator=g)
    mask = torch.tensor([[[True, True, True, False], [True, True, False, False]]])
    padded = emb.clone()
    padded[~mask] = 1e3
    torch.testing.assert_close(method.project(emb, mask)[mask], method.project(padded, mask)[mask])


def test_batch_spec_and_defaults():
    method = SCL(SCL.Config(), embed_dim=8)
    spec = method.batch_spec()
    assert (spec.views, spec.sampling, spec.augment, spec.frames, spec.crop_min) == (2, "time_augment", True, 80, 0.5)
    assert METHODS.get("scl") is SCL
    assert build(SCL.Config, SCL.per_dataset_defaults["synthetic"], "method").frames == 32
    for overrides in SCL.per_dataset_defaults.values():
        build(SCL.Config, overrides, "method")


def test_search_space_builds_a_config():
    values = SCL.search_space(optuna.trial.FixedTrial({"temperature": 0.2, "sigma2": 20.0, "crop_min": 0.7}))
    cfg = build(SCL.Config, values, "method")
    assert (cfg.temperature, cfg.sigma2, cfg.crop_min) == (0.2, 20.0, 0.7)


@pytest.mark.parametrize("bad", [{"temperature": 0.0}, {"sigma2": -1.0}, {"crop_min": 0.0}, {"frames": 1},
                                 {"projection_dim": 0}, {"tau": 0.1}])
def test_bad_config_is_a_config_error(bad):
    with pytest.raises(ConfigError):
        build(SCL.Config, bad, "method")


def test_bad_inputs_raise_one_line_errors():
    z, s = torch.randn(2, 3, 2), torch.arange(3).expand(2, 3)
    with pytest.raises(DataError, match="no real"):
        sequence_contrastive_loss(z, z, s, s, 0.1, 10.0, key_mask=torch.tensor([[True] * 3, [False] * 3]))
    with pytest.raises(DataError, match="disagree"):
        sequence_contrastive_loss(z, torch.randn(2, 3, 4), s, s, 0.1, 10.0)
    method = SCL(SCL.Config(), embed_dim=2)
    with pytest.raises(DataError, match="B, 2, T, D"):
        method.loss(two_view_batch(2, 3), torch.randn(2, 1, 3, 2))
