"""methods/supervised.py: per-frame phase classification against hand and loop computations."""
import math

import optuna
import pytest
import torch

from bench.batch import Batch
from bench.config import build
from bench.errors import ConfigError, DataError
from bench.registry import METHODS
from methods.supervised import Supervised, phase_classification_loss


def loop_ce(logits, labels, eps=0.0):
    """Mean over labelled rows of -sum_c y_c log softmax(logits)_c, y = (1 - eps) one-hot + eps / C."""
    rows, correct = [], 0
    for row, label in zip(logits, labels):
        if label < 0:
            continue
        denom = sum(torch.exp(v) for v in row)
        classes = len(row)
        rows.append(-sum(((1 - eps) * (c == label) + eps / classes) * torch.log(torch.exp(row[c]) / denom)
                         for c in range(classes)))
        correct += int(max(range(classes), key=lambda c: float(row[c])) == label)
    return sum(rows) / len(rows), correct / len(rows)


def test_hand_case():
    # logits [0, log 3] -> p = [1/4, 3/4]. Label 1: CE = -log 0.75 = 0.287682, correct.
    # Label 0: CE = -log 0.25 = 1.386294, wrong. The -1 row is ignored: mean 0.836988, accuracy 1/2.
    logits = torch.tensor([[0.0, math.log(3)], [0.0, math.log(3)], [5.0, 0.0]])
    parts = phase_classification_loss(logits, torch.tensor([1, 0, -1]))
    assert parts["cross_entropy"].item() == pytest.approx(0.836988, abs=1e-6)
    assert parts["accuracy"].item() == pytest.approx(0.5)
    # label smoothing 0.1, C = 2: target for label 1 is [0.05, 0.95];
    # CE = 0.05 * 1.386294 + 0.95 * 0.287682 = 0.069315 + 0.273298 = 0.342613.
    smoothed = phase_classification_loss(logits[:1], torch.tensor([1]), label_smoothing=0.1)
    assert smoothed["cross_entropy"].item() == pytest.approx(0.342613, abs=1e-6)


@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_matches_loop_reference(eps):
    g = torch.Generator().manual_seed(1)
    logits = torch.randn(2, 5, 4, generator=g, dtype=torch.float64)
    labels = torch.randint(-1, 4, (2, 5), generator=g)
    labels[0, 0] = 2
    parts = phase_classification_loss(logits, labels, eps)
    ref_ce, ref_acc = loop_ce(logits.reshape(-1, 4), labels.reshape(-1).tolist(), eps)
    torch.testing.assert_close(parts["cross_entropy"], ref_ce)
    assert parts["accuracy"].item() == pytest.approx(ref_acc)


def test_gradcheck():
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(6, 3, generator=g, dtype=torch.float64, requires_grad=True)
    labels = torch.tensor([0, 2, -1, 1, 1, -1])
    assert torch.autograd.gradcheck(
        lambda z: phase_classification_loss(z, labels, 0.1)["cross_entropy"], (logits,))


def make_batch(labels, mask=None):
    b, v, t = labels.shape
    mask = torch.ones(b, v, t, dtype=torch.bool) if mask is None else mask
    indices = torch.arange(t).expand(b, v, t)
    return Batch(frames=torch.zeros(b, v, t, 1, 1, 1, 1), indices=indices, lengths=torch.full((b,), t),
                 mask=mask, labels=labels, actions=torch.zeros(b, dtype=torch.long),
                 video_ids=[f"v{i}" for i in range(b)])


def test_method_trains_its_head_and_ignores_padding_and_unlabelled_frames():
    torch.manual_seed(0)
    method = Supervised(Supervised.Config(), embed_dim=3, num_classes=4)
    labels = torch.tensor([[[0, 1, 3, -1, 2]], [[1, 1, 2, 3, 3]]])
    mask = torch.ones(2, 1, 5, dtype=torch.bool)
    mask[1, 0, -2:] = False  # padded frames keep whatever label they carry, yet are ignored
    emb = torch.randn(2, 1, 5, 3, generator=torch.Generator().manual_seed(3), requires_grad=True)
    parts = method.loss(make_batch(labels, mask), emb)
    assert set(parts) == {"loss", "cross_entropy", "accuracy"}
    with torch.no_grad():
        logits = method.head(emb).reshape(-1, 4)
    ref_ce, ref_acc = loop_ce(logits, [0, 1, 3, -1, 2, 1, 1, 2, -1, -1])
    torch.testing.assert_close(parts["loss"], ref_ce)
    assert parts["accuracy"].item() == pytest.approx(ref_acc)
    parts["loss"].backward()
    assert torch.all(emb.grad[0, 0, 3] == 0) and torch.all(emb.grad[1, 0, 3:] == 0)
    assert emb.grad[0, 0, :3].abs().sum() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in method.head.parameters())


def test_separable_embedding_is_learned_to_high_accuracy():
    # Phase k frames embed near the k-th basis vector: a few steps of the head reach accuracy 1.
    g = torch.Generator().manual_seed(4)
    labels = torch.randint(0, 3, (4, 1, 6), generator=g)
    emb = torch.nn.functional.one_hot(labels, 3).float() + 0.05 * torch.randn(4, 1, 6, 3, generator=g)
    method = Supervised(Supervised.Config(), embed_dim=3, num_classes=3)
    optimiser = torch.optim.Adam(method.parameters(), lr=0.3)
    batch = make_batch(labels)
    first = method.loss(batch, emb)["loss"].item()
    for _ in range(30):
        optimiser.zero_grad()
        parts = method.loss(batch, emb)
        parts["loss"].backward()
        optimiser.step()
    assert parts["loss"].item() < first / 4 and parts["accuracy"].item() == 1.0


def test_batch_spec_and_defaults():
    method = Supervised(Supervised.Config(), embed_dim=8, num_classes=5)
    spec = method.batch_spec()
    assert (spec.videos, spec.views, spec.frames, spec.sampling, spec.augment) == (4, 1, 20, "offset_uniform", True)
    assert method.head.out_features == 5
    assert METHODS.get("supervised") is Supervised


def test_search_space_builds_a_config():
    values = Supervised.search_space(optuna.trial.FixedTrial({"label_smoothing": 0.1}))
    assert build(Supervised.Config, values, "method").label_smoothing == 0.1


@pytest.mark.parametrize("bad", [{"label_smoothing": 1.0}, {"videos": 0}, {"frames": 0}, {"lr": 0.1}])
def test_bad_config_is_a_config_error(bad):
    with pytest.raises(ConfigError):
        build(Supervised.Config, bad, "method")


def test_bad_inputs_raise_one_line_errors():
    with pytest.raises(ConfigError, match="num_classes"):
        Supervised(Supervised.Config(), embed_dim=2, num_classes=0)
    method = Supervised(Supervised.Config(), embed_dim=2, num_classes=2)
    with pytest.raises(DataError, match="no labelled frame"):
        method.loss(make_batch(torch.full((1, 1, 3), -1)), torch.randn(1, 1, 3, 2))
    with pytest.raises(DataError, match="out of range"):
        method.loss(make_batch(torch.tensor([[[0, 1, 2]]])), torch.randn(1, 1, 3, 2))
    with pytest.raises(DataError, match="matching the batch labels"):
        method.loss(make_batch(torch.tensor([[[0, 1, 1]]])), torch.randn(1, 3, 2))
