"""methods/lrprop.py: LRProp's terms against loop-based implementations, with brute-force DTW paths."""
import math
from dataclasses import fields

import optuna
import pytest
import torch
from helpers import monotone_paths, two_view_batch

from bench.config import build
from bench.errors import ConfigError, DataError
from bench.registry import METHODS
from datasets.penn_action import PennAction
from methods.lrprop import LRProp, cross_video_loss

TABLE5 = PennAction.method_action_defaults["lrprop"]


def dist(a, b):
    return ((a - b) ** 2).sum()


def unit(x):
    return x / torch.sqrt((x ** 2).sum())


def brute_force_pi(za, zb, cell_cost=math.sqrt):
    """Eq. 5-7: the minimum-cost path by enumeration (cell cost: the Euclidean distance, the
    square root of the squared one); pi(i) = smallest j on it in row i, and the same for B's
    frames (smallest i on it in column j)."""
    cost = [[cell_cost(float(dist(unit(a), unit(b)))) for b in zb] for a in za]
    best = min(monotone_paths(len(za), len(zb)), key=lambda p: sum(cost[i][j] for i, j in p))
    pi_ab = [min(j for i, j in best if i == row) for row in range(len(za))]
    pi_ba = [min(i for i, j in best if j == col) for col in range(len(zb))]
    return pi_ab, pi_ba


def loop_kl(zq, zk, centres, positions, tau, sigma2):
    """Eq. 1 and 7-8 for every query frame i: KL(p(.|i) || P(.|i)), by loops; a list."""
    rows = []
    for i in range(len(zq)):
        sims = torch.stack([(unit(zq[i]) * unit(zk[j])).sum() / tau for j in range(len(zk))])
        log_p_model = sims - torch.logsumexp(sims, 0)
        prior = [math.exp(-(float(centres[i]) - float(positions[j])) ** 2 / (2 * sigma2)) for j in range(len(zk))]
        kl = 0.0
        for j in range(len(zk)):
            p = prior[j] / sum(prior)
            if p > 0:
                kl = kl + p * (math.log(p) - log_p_model[j])
        rows.append(kl)
    return rows


def loop_cross(pairs, tau, sigma2):
    """L_cross of ragged pairs (za, zb, sa, sb): both directions, each pooled over every query frame."""
    ab, ba = [], []
    for za, zb, sa, sb in pairs:
        pi_ab, pi_ba = brute_force_pi(za, zb)
        ab += loop_kl(za, zb, [sb[k] for k in pi_ab], sb, tau, sigma2)
        ba += loop_kl(zb, za, [sa[k] for k in pi_ba], sa, tau, sigma2)
    return 0.5 * (torch.stack(ab).mean() + torch.stack(ba).mean())


def brute_force_soft_dtw(za, zb, gamma):
    """LAV's Eq. 4 form of Eq. 10-11: min_gamma over every alignment path of its squared-distance cost."""
    costs = torch.stack([sum(dist(unit(za[i]), unit(zb[j])) for i, j in p)
                         for p in monotone_paths(len(za), len(zb))])
    return -gamma * torch.logsumexp(-costs / gamma, 0)


def test_monotone_paths_count():
    # Delannoy numbers: D(1, 1) = 3, D(2, 2) = 13, D(2, 3) = 25 paths.
    assert [len(monotone_paths(n, m)) for n, m in ((2, 2), (3, 3), (3, 4))] == [3, 13, 25]


def test_propagation_hand_case():
    # A = [e1, e1, e2], B = [e1, e2, e2] (unit vectors): the Euclidean cost is 0 on
    # (0,0), (1,0), (2,1), (2,2) and sqrt 2 elsewhere; the only zero-cost path is exactly those
    # cells, so pi_ab = [0, 0, 1] and pi_ba = [0, 2, 2]. With s_B = [0, 10, 20] the prior of A's
    # frame 2 is centred on 10; with sigma2 = 1e-3 it is one-hot there, so its KL is
    # -log P(1 | 2) = -log softmax([0, 1, 1] / tau)[1] = log(1 + 2 e^10) - 10 for tau = 0.1.
    e1, e2 = torch.tensor([1.0, 0.0], dtype=torch.float64), torch.tensor([0.0, 1.0], dtype=torch.float64)
    za, zb = torch.stack([e1, e1, e2]), torch.stack([e1, e2, e2])
    assert brute_force_pi(za, zb) == ([0, 0, 1], [0, 2, 2])
    sa, sb = torch.tensor([0, 5, 9]), torch.tensor([0, 10, 20])
    ab = loop_kl(za, zb, [sb[k] for k in (0, 0, 1)], sb, 0.1, 1e-3)
    assert float(ab[2]) == pytest.approx(math.log(1 + 2 * math.exp(10)) - 10)
    got = cross_video_loss(za[None], zb[None], sa[None], sb[None], 0.1, 1e-3)
    ba = loop_kl(zb, za, [sa[k] for k in (0, 2, 2)], sa, 0.1, 1e-3)
    torch.testing.assert_close(got, 0.5 * (torch.stack(ab).mean() + torch.stack(ba).mean()))


def random_pairs(seed, shapes, d=3):
    g = torch.Generator().manual_seed(seed)
    out = []
    for n, m in shapes:
        za = torch.randn(n, d, generator=g, dtype=torch.float64)
        zb = torch.randn(m, d, generator=g, dtype=torch.float64)
        sa = torch.sort(torch.randperm(30, generator=g)[:n]).values
        sb = torch.sort(torch.randperm(30, generator=g)[:m]).values
        out.append((za, zb, sa, sb))
    return out


@pytest.mark.parametrize("tau,sigma2", [(0.1, 10.0), (0.5, 3.0)])
@pytest.mark.parametrize("n,m", [(3, 4), (4, 4), (5, 3)])
def test_cross_loss_matches_brute_force(tau, sigma2, n, m):
    pairs = random_pairs(1, [(n, m)] * 2)
    za, zb, sa, sb = (torch.stack(x) for x in zip(*pairs))
    torch.testing.assert_close(cross_video_loss(za, zb, sa, sb, tau, sigma2), loop_cross(pairs, tau, sigma2))


def test_path_is_on_the_euclidean_not_the_squared_cost():
    # A case (found by search) whose optimal path differs between the two costs.
    pairs = random_pairs(0, [(4, 4)], d=2)
    za, zb, sa, sb = pairs[0]
    assert brute_force_pi(za, zb) != brute_force_pi(za, zb, cell_cost=lambda d2: d2)
    got = cross_video_loss(za[None], zb[None], sa[None], sb[None], 0.1, 10.0)
    torch.testing.assert_close(got, loop_cross(pairs, 0.1, 10.0))


def test_cross_loss_padded_equals_ragged():
    pairs = random_pairs(2, [(4, 3), (2, 4)])
    za, zb = torch.full((2, 4, 3), 9.0, dtype=torch.float64), torch.full((2, 4, 3), -7.0, dtype=torch.float64)
    sa, sb = torch.zeros(2, 4, dtype=torch.long), torch.zeros(2, 4, dtype=torch.long)
    ma, mb = torch.zeros(2, 4, dtype=torch.bool), torch.zeros(2, 4, dtype=torch.bool)
    for k, (a, b, s_a, s_b) in enumerate(pairs):
        za[k, :len(a)], sa[k, :len(a)], ma[k, :len(a)] = a, s_a, True
        zb[k, :len(b)], sb[k, :len(b)], mb[k, :len(b)] = b, s_b, True
    got = cross_video_loss(za, zb, sa, sb, 0.2, 10.0, ma, mb)
    torch.testing.assert_close(got, loop_cross(pairs, 0.2, 10.0))


def test_cross_loss_gradcheck():
    pairs = random_pairs(3, [(3, 4)], d=2)
    za, zb, sa, sb = (torch.stack(x) for x in zip(*pairs))
    za.requires_grad_(True)
    zb.requires_grad_(True)
    # The path is held fixed (no gradient through it), as Eq. 7 prescribes.
    assert torch.autograd.gradcheck(lambda a, b: cross_video_loss(a, b, sa, sb, 0.3, 5.0), (za, zb))



def test_method_loss_matches_loop_reference():
    # Two videos A, B, two views each: L_same over (A0, A1) and (B0, B1), both ways; L_cross and
    # soft-DTW over the four cross pairs (A0, B0), (A0, B1), (A1, B0), (A1, B1).
    t, cfg = 3, build(LRProp.Config, {"gamma": 0.5, "temperature": 0.3}, "method")
    batch = two_view_batch(2, t, seed=4)
    emb = torch.randn(2, 2, t, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    parts = LRProp(cfg, embed_dim=3).loss(batch, emb)
    s = batch.indices
    same_12 = [kl for v in range(2) for kl in loop_kl(emb[v, 0], emb[v, 1], s[v, 0], s[v, 1], 0.3, 10.0)]
    same_21 = [kl for v in range(2) for kl in loop_kl(emb[v, 1], emb[v, 0], s[v, 1], s[v, 0], 0.3, 10.0)]
    same = 0.5 * (torch.stack(same_12).mean() + torch.stack(same_21).mean())
    pairs = [(emb[0, a], emb[1, b], s[0, a], s[1, b]) for a in range(2) for b in range(2)]
    cross = loop_cross(pairs, 0.3, 10.0)
    dtw = torch.stack([brute_force_soft_dtw(za, zb, 0.5) for za, zb, _, _ in pairs]).mean() / t
    torch.testing.assert_close(parts["same"], same)
    torch.testing.assert_close(parts["cross"], cross)
    torch.testing.assert_close(parts["dtw"], dtw)
    torch.testing.assert_close(parts["loss"], same + 0.4 * cross + 0.001 * dtw)


def test_three_videos_pair_every_view_of_different_videos():
    # 3 videos x 2 views: 3 * 2 * 2 = 12 cross pairs, all of the same length, so L_cross is the
    # mean of the per-pair values.
    batch = two_view_batch(3, 3, seed=6)
    emb = torch.randn(3, 2, 3, 2, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    parts = LRProp(LRProp.Config(), embed_dim=2).loss(batch, emb)
    s = batch.indices
    pairs = [(emb[u, a], emb[w, b], s[u, a], s[w, b]) for u in range(3) for w in range(u + 1, 3)
             for a in range(2) for b in range(2)]
    torch.testing.assert_close(parts["cross"], loop_cross(pairs, 0.1, 10.0))


@pytest.mark.parametrize("variant,expected", [("same+cross", {"same", "cross"}), ("same+dtw", {"same", "dtw"}),
                                              ("same+cross+dtw", {"same", "cross", "dtw"})])
def test_variants_run_with_finite_loss_and_gradients(variant, expected):
    cfg = build(LRProp.Config, LRProp.variants[variant], "method")
    batch = two_view_batch(2, 6, pad_last=2)
    emb = torch.randn(2, 2, 6, 4, generator=torch.Generator().manual_seed(1), requires_grad=True)
    parts = LRProp(cfg, embed_dim=4).loss(batch, emb)
    assert set(parts) == {"loss"} | expected
    assert torch.isfinite(parts["loss"])
    parts["loss"].backward()
    assert torch.isfinite(emb.grad).all() and emb.grad.abs().sum() > 0
    assert torch.all(emb.grad[0, 1, -2:] == 0)  # padded frames get no gradient


def test_aligned_embedding_beats_shuffled():
    # Every frame embedded by its normalised time on a half circle: views and videos agree.
    batch = two_view_batch(2, 12, seed=8)
    t = batch.times
    aligned = torch.stack([torch.cos(math.pi * t), torch.sin(math.pi * t)], -1)
    shuffled = aligned[:, :, torch.randperm(12, generator=torch.Generator().manual_seed(9))]
    method = LRProp(build(LRProp.Config, {"w_dtw": 0.1}, "method"), embed_dim=2)
    good, bad = method.loss(batch, aligned), method.loss(batch, shuffled)
    for part in ("loss", "same", "cross", "dtw"):
        assert good[part] < bad[part], part


def test_batch_spec_and_defaults():
    method = LRProp(LRProp.Config(), embed_dim=8)
    spec = method.batch_spec()
    assert (spec.videos, spec.views, spec.frames, spec.sampling, spec.same_action) == (2, 2, 240, "time_augment", True)
    cfg = method.cfg
    assert (cfg.temperature, cfg.sigma2, cfg.gamma, cfg.w_cross, cfg.w_dtw) == (0.1, 10.0, 0.1, 0.4, 0.001)
    assert METHODS.get("lrprop") is LRProp
    assert build(LRProp.Config, LRProp.per_dataset_defaults["synthetic"], "method").frames == 32
    for overrides in list(LRProp.per_dataset_defaults.values()) + list(TABLE5.values()):
        build(LRProp.Config, overrides, "method")


def test_table5_holds_the_transcribed_values():
    # paper_tables/lrprop_hparams.csv: 13 actions; T from 20 (jumping jacks) to 80; only determinable weights.
    assert len(TABLE5) == 13
    assert TABLE5["jumping_jacks"] == {"frames": 20, "w_dtw": 0.01, "w_cross": 0.4}
    assert TABLE5["bowl"] == {"frames": 60, "w_dtw": 0.001, "w_cross": 0.4}
    assert TABLE5["golf_swing"] == {"frames": 80}
    names = {f.name for f in fields(LRProp.Config)}
    assert all(set(entry) <= names for entry in TABLE5.values())


def test_search_space_builds_a_config():
    params = {"temperature": 0.2, "sigma2": 20.0, "gamma": 0.05, "w_cross": 0.8, "w_dtw": 0.003, "crop_min": 0.7}
    cfg = build(LRProp.Config, LRProp.search_space(optuna.trial.FixedTrial(params)), "method")
    assert (cfg.temperature, cfg.sigma2, cfg.gamma, cfg.w_cross, cfg.w_dtw, cfg.crop_min) == tuple(params.values())


@pytest.mark.parametrize("bad", [{"temperature": 0.0}, {"sigma2": -1.0}, {"gamma": 0.0}, {"w_cross": -0.1},
                                 {"videos": 1}, {"frames": 1}, {"crop_min": 0.0}, {"tau": 0.1}])
def test_bad_config_is_a_config_error(bad):
    with pytest.raises(ConfigError):
        build(LRProp.Config, bad, "method")


def test_bad_inputs_raise_one_line_errors():
    with pytest.raises(DataError, match="B >= 2, 2, T, D"):
        LRProp(LRProp.Config(), embed_dim=2).loss(two_view_batch(2, 3), torch.randn(2, 1, 3, 2))
    with pytest.raises(DataError, match="one row per pair"):
        cross_video_loss(torch.randn(3, 2), torch.randn(3, 2), torch.arange(3), torch.arange(3), 0.1, 10.0)
