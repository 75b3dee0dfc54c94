"""methods/lav.py: LAV's regularisers and loss against loop-based implementations of the formulas."""
import math

import optuna
import pytest
import torch

from bench.batch import Batch
from bench.config import build
from bench.errors import ConfigError, DataError
from bench.registry import METHODS
from methods.lav import LAV, temporal_regulariser
from methods.tcc import tcc_loss


def sq(a, b):
    return ((a - b) ** 2).sum()


def loop_regulariser(x, pos, window, margin, kind):
    """LAV's Eq. 6 / Eq. 7 / SFA for one video by an explicit double sum over frames i, j."""
    total = torch.zeros((), dtype=x.dtype)
    for i in range(len(x)):
        for j in range(len(x)):
            gap = abs(float(pos[i]) - float(pos[j]))
            d = sq(x[i], x[j])
            w_far, w_near = gap ** 2 + 1, 1 / (gap ** 2 + 1)
            if kind == "idm":
                total = total + w_far * (-d)
                continue
            if kind == "sfa":
                w_far = w_near = 1.0
            if gap > window:
                total = total + w_far * torch.clamp(margin - d, min=0)
            else:
                total = total + w_near * d
    return total


def loop_soft_dtw(cost, gamma):
    """LAV's Eq. 2-3: r(i, j) = D(i, j) + min_gamma(r(i-1, j), r(i, j-1), r(i-1, j-1)), cell by cell."""
    n, m = cost.shape
    r = [[None] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        for j in range(m + 1):
            r[i][j] = torch.tensor(0.0 if i == j == 0 else math.inf, dtype=cost.dtype)
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            prev = torch.stack([r[i - 1][j], r[i][j - 1], r[i - 1][j - 1]])
            r[i][j] = cost[i - 1, j - 1] - gamma * torch.logsumexp(-prev / gamma, 0)
    return r[n][m]


def loop_lav(videos, positions, windows, frames, cfg):
    """LAV's Eq. 8 averaged over the unordered pairs of a list of ragged videos, divided by T."""
    units = [v / torch.sqrt((v ** 2).sum(-1, keepdim=True)) for v in videos]
    reg = [loop_regulariser(u, p, w, cfg.margin, cfg.regulariser) for u, p, w in zip(units, positions, windows)]
    dtws, regs = [], []
    for a in range(len(units)):
        for b in range(a + 1, len(units)):
            cost = torch.stack([torch.stack([sq(x, y) for y in units[b]]) for x in units[a]])
            dtws.append(loop_soft_dtw(cost, cfg.gamma))
            regs.append(reg[a] + reg[b])
    sdtw, idm = torch.stack(dtws).mean() / frames, torch.stack(regs).mean() / frames
    return sdtw, idm


def random_video(g, n, d, scale=1.0):
    return scale * torch.randn(n, d, generator=g, dtype=torch.float64)


def test_regulariser_hand_case():
    # 1-D frames x = 0, 1, 3 at positions 0, 1, 2, window 1: (0, 2) is the only far pair.
    # d01 = 1, d12 = 4, d02 = 9; W(near, gap 1) = 1/2, W'(far, gap 2) = 5.
    # C-IDM, margin 10: 2 * (0.5 * 1 + 0.5 * 4) + 2 * 5 * max(0, 10 - 9) = 5 + 10 = 15;
    # margin 2: the hinge is 0, so 5. SFA, margin 10: 2 * (1 + 4) + 2 * 1 = 12.
    # IDM: -(2 * 2 * 1 + 2 * 2 * 4 + 2 * 5 * 9) = -(4 + 16 + 90) = -110 (no margin, no window).
    x = torch.tensor([[[0.0], [1.0], [3.0]]], dtype=torch.float64)
    pos = torch.tensor([[0.0, 1.0, 2.0]], dtype=torch.float64)
    assert temporal_regulariser(x, pos, 1.0, 10.0, "cidm").item() == pytest.approx(15.0)
    assert temporal_regulariser(x, pos, 1.0, 2.0, "cidm").item() == pytest.approx(5.0)
    assert temporal_regulariser(x, pos, 1.0, 10.0, "sfa").item() == pytest.approx(12.0)
    assert temporal_regulariser(x, pos, 1.0, 10.0, "idm").item() == pytest.approx(-110.0)


@pytest.mark.parametrize("kind", ["cidm", "idm", "sfa"])
@pytest.mark.parametrize("unit", ["frames", "normalised"])
def test_regulariser_matches_loop_reference(kind, unit):
    g = torch.Generator().manual_seed(1)
    x = torch.stack([random_video(g, 6, 3, 0.7) for _ in range(2)])
    if unit == "frames":
        pos, window = torch.arange(6.0, dtype=torch.float64).expand(2, 6), torch.tensor([2.0, 2.0])
    else:
        pos = torch.sort(torch.rand(2, 6, generator=g, dtype=torch.float64), -1).values
        window = torch.tensor([0.2, 0.35], dtype=torch.float64)
    got = temporal_regulariser(x, pos, window, 1.5, kind)
    ref = torch.stack([loop_regulariser(x[b], pos[b], float(window[b]), 1.5, kind) for b in range(2)])
    torch.testing.assert_close(got, ref)


@pytest.mark.parametrize("kind", ["cidm", "idm", "sfa"])
def test_regulariser_padding_is_left_out(kind):
    g = torch.Generator().manual_seed(2)
    x = random_video(g, 5, 3).unsqueeze(0).repeat(2, 1, 1)
    x[1, 3:] = 100.0
    pos = torch.arange(5.0, dtype=torch.float64).expand(2, 5)
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    got = temporal_regulariser(x, pos, 1.0, 2.0, kind, mask)
    torch.testing.assert_close(got[1], loop_regulariser(x[1, :3], pos[1, :3], 1.0, 2.0, kind))


@pytest.mark.parametrize("kind", ["cidm", "idm", "sfa"])
def test_regulariser_gradcheck(kind):
    g = torch.Generator().manual_seed(3)
    x = torch.stack([random_video(g, 4, 2, 0.6) for _ in range(2)]).requires_grad_(True)
    pos = torch.arange(4.0, dtype=torch.float64).expand(2, 4)
    mask = torch.tensor([[True] * 4, [True] * 3 + [False]])
    assert torch.autograd.gradcheck(lambda e: temporal_regulariser(e, pos, 1.0, 1.5, kind, mask), (x,))


def make_batch(b, t, seed=0, lengths=(40, 55, 31), pad_last=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor(lengths[:b])
    indices = torch.stack([torch.sort(torch.randint(0, int(n), (1, t), generator=g), -1).values for n in lengths])
    mask = torch.ones(b, 1, t, dtype=torch.bool)
    if pad_last:
        mask[0, 0, -pad_last:] = False
    return Batch(frames=torch.zeros(b, 1, t, 1, 1, 1, 1), indices=indices, lengths=lengths, mask=mask,
                 labels=torch.full((b, 1, t), -1), actions=torch.zeros(b, dtype=torch.long),
                 video_ids=[f"v{i}" for i in range(b)])


@pytest.mark.parametrize("time_unit", ["frames", "normalised"])
@pytest.mark.parametrize("regulariser", ["cidm", "idm", "sfa"])
@pytest.mark.parametrize("b", [2, 3])
def test_method_loss_matches_loop_reference(time_unit, regulariser, b):
    t = 5
    cfg = build(LAV.Config, {"time_unit": time_unit, "regulariser": regulariser, "window": 2.0,
                             "gamma": 0.3, "margin": 1.5}, "method")
    batch = make_batch(b, t, seed=4)
    emb = torch.randn(b, 1, t, 3, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    parts = LAV(cfg, embed_dim=3).loss(batch, emb)
    if time_unit == "frames":
        positions, windows = [torch.arange(t)] * b, [2.0] * b
    else:
        positions = [batch.indices[k, 0] / batch.lengths[k] for k in range(b)]
        windows = [2.0 / int(n) for n in batch.lengths]
    sdtw, idm = loop_lav([emb[k, 0] for k in range(b)], positions, windows, t, cfg)
    torch.testing.assert_close(parts["sdtw"], sdtw)
    torch.testing.assert_close(parts["idm"], idm)
    torch.testing.assert_close(parts["loss"], sdtw + 0.5 * idm)


def test_normalised_window_counts_original_frames():
    # The authors' code: |t_i - t_j| > sigma / L, i.e. |s_i - s_j| > sigma original frames.
    # Frames s = 0, 5, 12 of a 40-frame video, sigma 6: |0 - 5| = 5 <= 6 is near; |0 - 12| = 12 and
    # |5 - 12| = 7 are far (each pair counted twice, as (i, j) and (j, i)).
    # Unit embeddings [1,0], [0,1], [-1,0]: d = 2 (0-5), 4 (0-12), 2 (5-12); margin 3:
    # near (0, 5): 2 * 2 / (1 + (5/40)^2) = 3.938462; far: 2 * (1 + (12/40)^2) * max(0, 3 - 4)
    # + 2 * (1 + (7/40)^2) * (3 - 2) = 0 + 2.061250, total 5.999712.
    batch = Batch(frames=torch.zeros(2, 1, 3, 1, 1, 1, 1), indices=torch.tensor([[[0, 5, 12]], [[0, 5, 12]]]),
                  lengths=torch.tensor([40, 40]), mask=torch.ones(2, 1, 3, dtype=torch.bool),
                  labels=torch.full((2, 1, 3), -1), actions=torch.zeros(2, dtype=torch.long), video_ids=["a", "b"])
    emb = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], dtype=torch.float64).expand(2, 1, 3, 2)
    cfg = build(LAV.Config, {"time_unit": "normalised", "window": 6.0, "margin": 3.0}, "method")
    parts = LAV(cfg, embed_dim=2).loss(batch, emb)
    # idm = (I(X) + I(Y)) / T = 2 * 5.999712 / 3
    assert parts["idm"].item() == pytest.approx(2 * 5.999712 / 3, abs=1e-5)


def test_padded_batch_equals_unpadded_computation():
    cfg = LAV.Config()
    batch = make_batch(2, 6, seed=6, pad_last=2)
    emb = torch.randn(2, 1, 6, 3, generator=torch.Generator().manual_seed(7), dtype=torch.float64)
    emb[0, 0, -2:] = 50.0
    parts = LAV(cfg, embed_dim=3).loss(batch, emb)
    sdtw, idm = loop_lav([emb[0, 0, :4], emb[1, 0]], [torch.arange(4), torch.arange(6)], [10.0, 10.0], 6, cfg)
    torch.testing.assert_close(parts["sdtw"], sdtw)
    torch.testing.assert_close(parts["idm"], idm)


def test_soft_dtw_is_not_normalised():
    # The paper's dtw_gamma, not a divergence: a video against itself gives r(T, T), not 0.
    # Two frames, both unit vectors [1, 0], [0, 1]: cost [[0, 2], [2, 0]], gamma 1:
    # r11 = 0; r12 = 2 + 0 = 2; r21 = 2; r22 = 0 - log(e^-2 + e^-2 + e^0) = -log(1 + 2 e^-2) = -0.239545; divided by T = 2.
    emb = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64).expand(2, 1, 2, 2)
    batch = make_batch(2, 2)
    parts = LAV(build(LAV.Config, {"gamma": 1.0, "regulariser": "none"}, "method"), embed_dim=2).loss(batch, emb)
    assert parts["sdtw"].item() == pytest.approx(-0.239545 / 2, abs=1e-6)


def test_lav_plus_tcc_adds_tcc_on_raw_embeddings():
    batch = make_batch(2, 5, seed=8)
    emb = torch.randn(2, 1, 5, 3, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    cfg = build(LAV.Config, LAV.variants["lav+tcc"], "method")
    parts = LAV(cfg, embed_dim=3).loss(batch, emb)
    tcc = tcc_loss(emb[:, 0], batch.times[:, 0], batch.mask[:, 0])["cycle"]
    torch.testing.assert_close(parts["tcc"], tcc)
    torch.testing.assert_close(parts["loss"], parts["sdtw"] + 0.5 * parts["idm"] + 1.0 * tcc)


EXPECTED_PARTS = {"sdtw": {"sdtw"}, "idm": {"idm"}, "sfa": {"idm"}, "cidm": {"idm"}, "sdtw+idm": {"sdtw", "idm"},
                  "sdtw+sfa": {"sdtw", "idm"}, "sdtw+cidm": {"sdtw", "idm"}, "lav+tcc": {"sdtw", "idm", "tcc"}}


@pytest.mark.parametrize("variant", sorted(LAV.variants))
def test_variants_run_with_finite_loss_and_gradients(variant):
    cfg = build(LAV.Config, LAV.variants[variant], "method")
    batch = make_batch(2, 7, pad_last=2)
    emb = torch.randn(2, 1, 7, 4, generator=torch.Generator().manual_seed(1), requires_grad=True)
    parts = LAV(cfg, embed_dim=4).loss(batch, emb)
    assert set(parts) == {"loss"} | EXPECTED_PARTS[variant]
    assert torch.isfinite(parts["loss"])
    parts["loss"].backward()
    assert torch.isfinite(emb.grad).all() and emb.grad.abs().sum() > 0
    assert torch.all(emb.grad[0, 0, -2:] == 0)  # padded frames get no gradient


def test_aligned_embedding_beats_shuffled():
    # Both videos embed each frame by its normalised time on a half circle (unit vectors).
    g = torch.Generator().manual_seed(10)
    t = (torch.arange(20) + torch.rand(2, 20, generator=g)) / 20
    aligned = torch.stack([torch.cos(math.pi * t), torch.sin(math.pi * t)], -1).unsqueeze(1)
    shuffled = aligned[:, :, torch.randperm(20, generator=g)]
    batch = make_batch(2, 20)
    for variant in ("sdtw", "cidm", "sfa", "sdtw+cidm", "sdtw+sfa"):
        method = LAV(build(LAV.Config, LAV.variants[variant], "method"), embed_dim=2)
        assert method.loss(batch, aligned)["loss"] < method.loss(batch, shuffled)["loss"], variant


def test_batch_spec_and_defaults():
    method = LAV(LAV.Config(), embed_dim=8)
    spec = method.batch_spec()
    assert (spec.videos, spec.views, spec.frames, spec.sampling, spec.same_action) == (2, 1, 20, "segment_uniform", True)
    cfg = method.cfg
    assert (cfg.gamma, cfg.alpha, cfg.margin, cfg.window, cfg.regulariser, cfg.alignment) == (0.1, 0.5, 2.0, 10.0,
                                                                                              "cidm", True)
    assert METHODS.get("lav") is LAV
    assert len(LAV.variants) == 8


def test_search_space_builds_a_config():
    params = {"gamma": 0.05, "alpha": 1.0, "margin": 3.0, "window": 4.0, "time_unit": "normalised"}
    cfg = build(LAV.Config, LAV.search_space(optuna.trial.FixedTrial(params)), "method")
    assert (cfg.gamma, cfg.alpha, cfg.margin, cfg.window, cfg.time_unit) == (0.05, 1.0, 3.0, 4.0, "normalised")


@pytest.mark.parametrize("bad", [{"gamma": 0.0}, {"margin": -1.0}, {"alpha": -0.1}, {"videos": 1}, {"frames": 1},
                                 {"regulariser": "l2"}, {"time_unit": "seconds"}, {"sigma": 3},
                                 {"alignment": False, "regulariser": "none"}])
def test_bad_config_is_a_config_error(bad):
    with pytest.raises(ConfigError):
        build(LAV.Config, bad, "method")


def test_bad_inputs_raise_one_line_errors():
    with pytest.raises(DataError, match="B >= 2, 1, T, D"):
        LAV(LAV.Config(), embed_dim=2).loss(make_batch(2, 3), torch.randn(2, 2, 3, 2))
    with pytest.raises(DataError, match="positions"):
        temporal_regulariser(torch.randn(2, 3, 2), torch.zeros(2, 4), 1.0, 2.0)
    with pytest.raises(ConfigError, match="kind"):
        temporal_regulariser(torch.randn(2, 3, 2), torch.zeros(2, 3), 1.0, 2.0, "none")
