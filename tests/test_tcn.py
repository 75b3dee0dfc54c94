"""methods/tcn.py: the n-pairs loss and its frame pairing against loop-based implementations."""
import math

import optuna
import pytest
import torch

from bench.batch import Batch
from bench.config import build
from bench.errors import ConfigError, DataError
from bench.registry import METHODS
from methods.tcn import TCN, consecutive_pairs, npairs_loss


def loop_npairs(anchor_lists, positive_lists, tau, lam):
    """Per video: mean_k -log softmax_l(a_k . p_l / tau)[k] and lam/4 (mean ||a||^2 + mean ||p||^2);
    both averaged over the videos that have pairs. Lists of (K_b, D) tensors, K_b may be 0."""
    ces, regs = [], []
    for anchors, positives in zip(anchor_lists, positive_lists):
        if len(anchors) == 0:
            continue
        rows = []
        for k in range(len(anchors)):
            logits = [(anchors[k] * positives[j]).sum() / tau for j in range(len(positives))]
            rows.append(-torch.log(torch.exp(logits[k]) / sum(torch.exp(v) for v in logits)))
        ces.append(sum(rows) / len(rows))
        mean_a = sum((a ** 2).sum() for a in anchors) / len(anchors)
        mean_p = sum((p ** 2).sum() for p in positives) / len(positives)
        regs.append(0.25 * lam * (mean_a + mean_p))
    return sum(ces) / len(ces), sum(regs) / len(regs)


def test_consecutive_pairs_hand_case():
    # pairs (0, 1) gap 1, (3, 9) gap 6 > w, (10, 10) gap 0, (12, 15) gap 3; w = 5.
    indices = torch.tensor([[0, 1, 3, 9, 10, 10, 12, 15]])
    assert consecutive_pairs(indices, None, 5).tolist() == [[True, False, False, True]]
    assert consecutive_pairs(indices, None, 6).tolist() == [[True, True, False, True]]
    mask = torch.tensor([[True] * 7 + [False]])
    assert consecutive_pairs(indices, mask, 5).tolist() == [[True, False, False, False]]


def test_npairs_hand_case():
    # a = p = [[1, 0], [0, 1]], tau = 1: logits = I, CE per row = -log(e / (e + 1)) = log(1 + 1/e)
    # = 0.313262; regulariser 0.25 * 0.002 * (1 + 1) = 0.001. tau = 0.5 doubles the logits:
    # log(1 + e^-2) = 0.126928.
    eye = torch.eye(2).unsqueeze(0)
    parts = npairs_loss(eye, eye)
    assert parts["npairs"].item() == pytest.approx(0.313262, abs=1e-6)
    assert parts["regularizer"].item() == pytest.approx(0.001, abs=1e-9)
    assert npairs_loss(eye, eye, temperature=0.5)["npairs"].item() == pytest.approx(0.126928, abs=1e-6)


@pytest.mark.parametrize("tau,lam", [(1.0, 0.002), (0.3, 0.05)])
def test_matches_loop_reference_with_dropped_pairs(tau, lam):
    g = torch.Generator().manual_seed(1)
    anchors = torch.randn(3, 4, 3, generator=g, dtype=torch.float64)
    positives = torch.randn(3, 4, 3, generator=g, dtype=torch.float64)
    valid = torch.tensor([[True, True, True, True], [True, False, True, False], [False, False, False, False]])
    parts = npairs_loss(anchors, positives, valid, temperature=tau, reg_lambda=lam)
    ref_ce, ref_reg = loop_npairs([a[v] for a, v in zip(anchors, valid)], [p[v] for p, v in zip(positives, valid)],
                                  tau, lam)
    torch.testing.assert_close(parts["npairs"], ref_ce)
    torch.testing.assert_close(parts["regularizer"], ref_reg)


def test_gradcheck():
    g = torch.Generator().manual_seed(2)
    anchors = torch.randn(2, 3, 2, generator=g, dtype=torch.float64, requires_grad=True)
    positives = torch.randn(2, 3, 2, generator=g, dtype=torch.float64, requires_grad=True)
    valid = torch.tensor([[True, False, True], [True, True, True]])
    assert torch.autograd.gradcheck(
        lambda a, p: sum(npairs_loss(a, p, valid, temperature=0.5, reg_lambda=0.1).values()), (anchors, positives))


def test_time_encoding_beats_shuffled_embedding():
    # Frames embedded on a circle by their index: each anchor is nearest its own positive.
    g = torch.Generator().manual_seed(3)
    s = torch.sort(torch.randperm(80, generator=g)[:16]).values.view(1, 16)
    angle = s.double() * 2 * math.pi / 80
    emb = 3 * torch.stack([torch.cos(angle), torch.sin(angle)], -1)
    shuffled = emb[:, torch.randperm(16, generator=g)]
    valid = torch.ones(1, 8, dtype=torch.bool)
    good = npairs_loss(emb[:, 1::2], emb[:, 0::2], valid)["npairs"]
    bad = npairs_loss(shuffled[:, 1::2], shuffled[:, 0::2], valid)["npairs"]
    assert good < bad


def make_batch(indices, mask=None):
    b, t = indices.shape
    mask = torch.ones(b, 1, t, dtype=torch.bool) if mask is None else mask.view(b, 1, t)
    return Batch(frames=torch.zeros(b, 1, t, 1, 1, 1, 1), indices=indices.view(b, 1, t),
                 lengths=torch.full((b,), 50), mask=mask, labels=torch.full((b, 1, t), -1),
                 actions=torch.zeros(b, dtype=torch.long), video_ids=[f"v{i}" for i in range(b)])


@pytest.mark.parametrize("rows", ["earlier", "later"])
def test_method_loss_pairs_sampled_frames_and_drops_far_pairs(rows):
    method = TCN(TCN.Config(rows=rows), embed_dim=3)
    indices = torch.tensor([[0, 2, 5, 20, 21, 23, 30, 31], [1, 4, 8, 9, 12, 13, 40, 49]])
    batch = make_batch(indices)
    emb = torch.randn(2, 1, 8, 3, generator=torch.Generator().manual_seed(4), requires_grad=True)
    parts = method.loss(batch, emb)
    assert set(parts) == {"loss", "npairs", "regularizer"}
    torch.testing.assert_close(parts["loss"], parts["npairs"] + parts["regularizer"])
    # valid pairs: video 0 -> (0,2), (21,23), (30,31); video 1 -> (1,4), (8,9), (12,13); (5,20), (40,49) too far
    x = emb[:, 0]
    keep = [[0, 2, 3], [0, 1, 2]]
    earlier = [x[b, 0::2][k] for b, k in enumerate(keep)]
    later = [x[b, 1::2][k] for b, k in enumerate(keep)]
    # TCC's TF code: the earlier frames are the n-pairs rows; CARL: the later ones.
    ref_ce, ref_reg = loop_npairs(*((earlier, later) if rows == "earlier" else (later, earlier)), 1.0, 0.002)
    torch.testing.assert_close(parts["npairs"], ref_ce)
    torch.testing.assert_close(parts["regularizer"], ref_reg)
    parts["loss"].backward()
    assert torch.isfinite(emb.grad).all()
    assert torch.all(emb.grad[0, 0, 2:4] == 0) and torch.all(emb.grad[1, 0, 6:] == 0)  # dropped pairs
    assert emb.grad[:, 0, :2].abs().sum() > 0


def test_batch_spec_samples_two_frames_per_anchor():
    method = TCN(TCN.Config(), embed_dim=8)
    spec = method.batch_spec()
    assert (spec.videos, spec.views, spec.frames, spec.sampling, spec.same_action) == (2, 1, 40, "offset_uniform",
                                                                                      False)
    assert METHODS.get("tcn") is TCN
    assert (TCN.Config().window, TCN.Config().reg_lambda, TCN.Config().temperature) == (5, 0.002, 1.0)


def test_search_space_builds_a_config():
    values = TCN.search_space(optuna.trial.FixedTrial({"window": 8, "temperature": 0.2, "reg_lambda": 0.01}))
    cfg = build(TCN.Config, values, "method")
    assert (cfg.window, cfg.temperature, cfg.reg_lambda) == (8, 0.2, 0.01)


@pytest.mark.parametrize("bad", [{"window": 0}, {"temperature": 0.0}, {"reg_lambda": -1.0}, {"frames": 1},
                                 {"videos": 0}, {"margin": 1.0}])
def test_bad_config_is_a_config_error(bad):
    with pytest.raises(ConfigError):
        build(TCN.Config, bad, "method")


def test_bad_inputs_raise_one_line_errors():
    method = TCN(TCN.Config(window=1), embed_dim=2)
    with pytest.raises(DataError, match="no anchor"):
        method.loss(make_batch(torch.tensor([[0, 5, 10, 15]])), torch.randn(1, 1, 4, 2))
    with pytest.raises(DataError, match="even number"):
        consecutive_pairs(torch.tensor([[0, 1, 2]]), None, 5)
    with pytest.raises(DataError, match="B, 1, 2K, D"):
        method.loss(make_batch(torch.tensor([[0, 1]])), torch.randn(1, 2, 2, 2))


def test_row_orientations_are_different_losses():
    # The transpose of the logit matrix normalises over the other side: on random inputs the
    # two orientations give different cross-entropies (the regulariser is symmetric).
    indices = torch.tensor([[0, 1, 2, 3, 4, 5, 6, 7]])
    emb = torch.randn(1, 1, 8, 4, generator=torch.Generator().manual_seed(0))
    tcc = TCN(TCN.Config(), 4).loss(make_batch(indices), emb)
    carl = TCN(TCN.Config(**TCN.variants["carl_rows"]), 4).loss(make_batch(indices), emb)
    assert abs(tcc["npairs"].item() - carl["npairs"].item()) > 1e-3
    torch.testing.assert_close(tcc["regularizer"], carl["regularizer"])
