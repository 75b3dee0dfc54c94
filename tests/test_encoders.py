"""Encoders: shapes, masking, the evaluation path equals the training path."""
import numpy as np
import pytest
import torch

from bench.augment import to_float_frames
from bench.config import build
from bench.encoders.heads import sine_cosine_positions
from bench.registry import ENCODERS
from bench.sampling import context_indices

SMALL = {"image_size": 32, "embed_dim": 8, "hidden": 16, "layers": 1, "heads": 2, "dropout": 0.0,
         "cnn_channels": [4, 8]}


def make(name, **extra):
    cls = ENCODERS.get(name)
    torch.manual_seed(0)
    return cls(build(cls.Config, {**SMALL, **extra}, "encoder")).eval()


@pytest.mark.parametrize("name", ["cnn_transformer", "cnn_conv3d"])
def test_forward_shape(name):
    encoder = make(name)
    k = encoder.context[0]
    out = encoder(torch.rand(2, 5, k, 3, 32, 32), torch.ones(2, 5, dtype=torch.bool))
    assert out.shape == (2, 5, 8) and torch.isfinite(out).all()


def test_transformer_padding_does_not_change_valid_frames():
    encoder = make("cnn_transformer")
    frames = torch.rand(1, 6, 1, 3, 32, 32)
    mask = torch.tensor([[True] * 4 + [False] * 2])
    padded = encoder(frames, mask)[0, :4]
    frames[0, 4:] = torch.rand(2, 1, 3, 32, 32)
    assert torch.allclose(encoder(frames, mask)[0, :4], padded, atol=1e-5)


@pytest.mark.parametrize("name", ["cnn_transformer", "cnn_conv3d"])
def test_embed_video_equals_forward_with_explicit_context(name):
    encoder = make(name, context_stride=2)
    video = np.random.default_rng(0).integers(0, 256, size=(7, 32, 32, 3), dtype=np.uint8)
    k, stride = encoder.context
    ctx = context_indices(np.arange(7), k, stride)  # (7, K)
    frames = to_float_frames(video, 32)[torch.as_tensor(ctx)].unsqueeze(0)  # (1, 7, K, 3, 32, 32)
    expected = encoder(frames, torch.ones(1, 7, dtype=torch.bool))[0].detach().numpy()
    assert np.allclose(encoder.embed_video(video), expected, atol=1e-5)


def test_embed_video_chunks_do_not_matter():
    encoder = make("cnn_transformer")
    video = np.random.default_rng(1).integers(0, 256, size=(9, 32, 32, 3), dtype=np.uint8)
    whole = encoder.embed_video(video)
    encoder.cfg.chunk = 4
    assert np.allclose(encoder.embed_video(video), whole, atol=1e-5)


def test_positional_flag_changes_output_order_sensitivity():
    frames = torch.rand(1, 4, 1, 3, 32, 32)
    mask = torch.ones(1, 4, dtype=torch.bool)
    for positional in (True, False):
        encoder = make("cnn_transformer", positional=positional)
        out = encoder(frames, mask)[0]
        shuffled = encoder(frames[:, [3, 2, 1, 0]], mask)[0][[3, 2, 1, 0]]
        assert torch.allclose(out, shuffled, atol=1e-5) is (not positional)


def test_sine_cosine_table():
    table = sine_cosine_positions(5, 4)
    # hand values: p=1, i=0: sin(1), cos(1); i=1 rate 10000^(-2/4)=0.01: sin(0.01), cos(0.01)
    assert torch.allclose(table[1], torch.tensor([np.sin(1), np.cos(1), np.sin(0.01), np.cos(0.01)],
                                                 dtype=torch.float32))
    assert torch.allclose(table[0], torch.tensor([0.0, 1.0, 0.0, 1.0]))
