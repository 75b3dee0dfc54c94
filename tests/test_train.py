"""The training loop: schedule, NaN stop, bit-exact resume."""
import math

import pytest
import torch

from bench.batch import BatchSpec
from bench.config import build
from bench.errors import NaNLossError
from bench.loader import BatchLoader
from bench.method import Method
from bench.registry import ENCODERS
from bench.train import TrainerConfig, cosine_schedule, train


class MeanTime(Method):
    """Pull each frame's first embedding coordinate to its normalised time (a toy objective)."""

    name = "toy"

    def __init__(self, poison_at=None):
        super().__init__(None, 8)
        self.poison_at = poison_at
        self.calls = 0
        self.scale = torch.nn.Parameter(torch.ones(()))

    def batch_spec(self):
        return BatchSpec(videos=2, views=1, frames=4)

    def loss(self, batch, emb):
        value = ((self.scale * emb[..., 0] - batch.times) ** 2).mean()
        if self.calls == self.poison_at:
            value = value * float("nan")
        self.calls += 1
        return {"loss": value, "fit": value.detach()}


def encoder():
    cls = ENCODERS.get("cnn_transformer")
    torch.manual_seed(0)
    return cls(build(cls.Config, {"image_size": 16, "embed_dim": 8, "hidden": 8, "layers": 1, "heads": 2,
                                  "cnn_channels": [4]}, "encoder"))


def test_cosine_schedule_values():
    assert cosine_schedule(0, 10, 0) == 1.0
    assert math.isclose(cosine_schedule(5, 10, 0), 0.5)  # 0.5 * (1 + cos(pi / 2))
    assert math.isclose(cosine_schedule(0, 10, 2), 0.5)  # warm-up: (0 + 1) / 2
    assert math.isclose(cosine_schedule(10, 10, 0), 0.0)


def test_nan_loss_stops_with_step_and_parts(tiny_store):
    method = MeanTime(poison_at=2)
    loader = BatchLoader(tiny_store, tiny_store.split("train"), method.batch_spec(), 16, 0)
    with pytest.raises(NaNLossError) as err:
        train(encoder(), method, loader, TrainerConfig(steps=5), torch.device("cpu"))
    message = str(err.value)
    assert "at step 2" in message and "fit=" in message and "trainer.lr" in message


def test_resume_is_bit_exact(tiny_store, tmp_path):
    cfg = TrainerConfig(steps=6, lr=1e-2, checkpoint_every=2)
    loader = BatchLoader(tiny_store, tiny_store.split("train"), MeanTime().batch_spec(), 16, 0)

    torch.manual_seed(1)
    straight_encoder, straight_method = encoder(), MeanTime()
    straight = train(straight_encoder, straight_method, loader, cfg, torch.device("cpu"))

    checkpoint = tmp_path / "ckpt.pt"

    def interrupt(step, _row):
        if step == 3:
            raise KeyboardInterrupt

    torch.manual_seed(1)
    with pytest.raises(KeyboardInterrupt):
        train(encoder(), MeanTime(), loader, cfg, torch.device("cpu"), checkpoint, interrupt)
    torch.manual_seed(123)  # resuming must not depend on the RNG state at restart
    resumed_encoder, resumed_method = encoder(), MeanTime()
    resumed = train(resumed_encoder, resumed_method, loader, cfg, torch.device("cpu"), checkpoint)

    assert resumed.resumed_from == 2
    assert [r["loss"] for r in resumed.loss_log] == [r["loss"] for r in straight.loss_log]
    for a, b in zip(straight_encoder.state_dict().values(), resumed_encoder.state_dict().values()):
        assert torch.equal(a, b)


def test_loss_goes_down(tiny_store):
    method = MeanTime()
    loader = BatchLoader(tiny_store, tiny_store.split("train"), method.batch_spec(), 16, 0)
    result = train(encoder(), method, loader, TrainerConfig(steps=30, lr=3e-3), torch.device("cpu"))
    first = sum(r["loss"] for r in result.loss_log[:5])
    last = sum(r["loss"] for r in result.loss_log[-5:])
    assert last < first
