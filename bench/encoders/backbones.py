"""Per-frame backbones: a small CNN for CPUs and ResNet-50 (bench/encoders/resnet.py).

A backbone maps images (N, 3, H, W) in [0, 1] to feature maps (N, C, h, w); it applies its
own input normalisation (ImageNet mean and std), so every caller feeds raw [0, 1] frames.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from bench.encoders.resnet import ResNet50, RunningStatsSequential, split_frozen
from bench.encoders.weights import load_weights

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Normalise(nn.Module):
    """(x - mean) / std per channel, ImageNet statistics."""

    def __init__(self):
        super().__init__()
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def group_norm(channels: int) -> nn.GroupNorm:
    """Per-frame normalisation (Wu & He 2018), 8 channels a group.

    Not BatchNorm: a training batch holds the frames of one or two videos, so BatchNorm's
    batch statistics normalise per video (removing its background and colours) while its
    running statistics at evaluation do not; the embeddings then vary ~100x less across
    frames at evaluation than in training (measured on the synthetic dataset)."""
    return nn.GroupNorm(max(1, channels // 8), channels)


class SmallCNN(nn.Module):
    """Stride-2 3x3 conv + GroupNorm + ReLU blocks, one per entry of ``channels``.

    The harness's CPU backbone: (16, 32, 64, 128) channels on 64x64 frames gives 4x4x128
    feature maps, and a forward+backward pass over 160 frames takes about 0.1 s on 2 cores.
    """

    def __init__(self, channels: tuple[int, ...]):
        super().__init__()
        layers: list[nn.Module] = [Normalise()]
        previous = 3
        for width in channels:
            layers += [nn.Conv2d(previous, width, 3, stride=2, padding=1, bias=False),
                       group_norm(width), nn.ReLU(inplace=True)]
            previous = width
        self.net = nn.Sequential(*layers)
        self.out_channels = previous

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)


def resnet50_parts(output: str, frozen_until: str, weights: str | None) -> tuple[nn.Module, nn.Module, str]:
    """ResNet-50 (bench/encoders/resnet.py) cut at ``output`` and split at ``frozen_until``:
    (frozen part: ImageNet normalisation + the frozen stages, trainable stages, a name of the
    frozen part such as ``resnet50-to-layer3``, which keys the feature cache).

    Weights: ``weights`` (bench/encoders/weights.py) or torchvision's random initialisation.
    BatchNorm layers use their running statistics in both parts (``RunningStatsSequential``)."""
    net = ResNet50(output)
    if weights:
        load_weights(net, weights)
    names, frozen_stages, trainable = split_frozen(net, frozen_until)
    frozen = RunningStatsSequential(OrderedDict([("normalise", Normalise()), *frozen_stages.named_children()]))
    last = names[-1] if names else "none"
    if last == "layer3" and output == "conv4c":
        last = "conv4c"
    return frozen, trainable, f"resnet50-to-{last}"
