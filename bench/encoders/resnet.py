"""ResNet-50 (He et al. 2016) in torchvision's layout, cut where the papers take features.

The architecture is torchvision's ``resnet50`` (v1.5: the stride of a downsampling block
sits on its 3x3 convolution): a stem (7x7/2 conv, BatchNorm, ReLU, 3x3/2 max pool), then
stages layer1..layer4 of 3, 4, 6, 3 bottleneck blocks of widths 64, 128, 256, 512 (output
channels 4x the width; strides 1, 2, 2, 2). A bottleneck computes

    y = relu(bn3(conv3(relu(bn2(conv2(relu(bn1(conv1(x)))))))) + shortcut(x)),

shortcut = downsample (1x1 conv with the block's stride + BatchNorm) on a stage's first
block, identity otherwise. Parameter and buffer names are torchvision's (``conv1.weight``,
``layer3.2.bn1.running_var``, ...), so a torchvision state dict loads into it as is.

Outputs (``OUTPUTS``), for a 224 px input:

- ``conv4c``: after the third block of layer3, 1024 x 14 x 14 (TCC and LAV's "Conv4c"
  features; LAC's);
- ``layer3``: after all of layer3, 1024 x 14 x 14;
- ``layer4``: after layer4, 2048 x 7 x 7 (CARL, LRProp; LAV's "Conv5c" on IKEA ASM).

The fully connected classifier and the global pool are never built (no paper uses them).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Literal

import torch
from torch import nn

Output = Literal["conv4c", "layer3", "layer4"]
OUTPUTS: tuple[str, ...] = ("conv4c", "layer3", "layer4")
STAGES = ("stem", "layer1", "layer2", "layer3", "layer4")
BLOCKS = {"layer1": 3, "layer2": 4, "layer3": 6, "layer4": 3}
WIDTHS = {"layer1": 64, "layer2": 128, "layer3": 256, "layer4": 512}
EXPANSION = 4


class Bottleneck(nn.Module):
    """1x1 (width) -> 3x3 (width, stride) -> 1x1 (4 width), BatchNorm after each, residual add."""

    def __init__(self, in_channels: int, width: int, stride: int):
        super().__init__()
        out_channels = width * EXPANSION
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if stride != 1 or in_channels != out_channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.relu(self.bn2(self.conv2(y)))
        return self.relu(self.bn3(self.conv3(y)) + shortcut)


def _stage(name: str, in_channels: int, blocks: int) -> nn.Sequential:
    width = WIDTHS[name]
    stride = 1 if name == "layer1" else 2
    layers = [Bottleneck(in_channels, width, stride)]
    layers += [Bottleneck(width * EXPANSION, width, 1) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


def output_channels(output: str) -> int:
    """Channels of the feature map at ``output``: 1024 (conv4c, layer3) or 2048 (layer4)."""
    return 2048 if output == "layer4" else 1024


class ResNet50(nn.Module):
    """ResNet-50 up to ``output``, torchvision's names; torchvision's initialisation (He normal,
    fan-out, for convolutions; BatchNorm weight 1, bias 0)."""

    def __init__(self, output: Output = "layer4"):
        super().__init__()
        self.output = output
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        last = "layer3" if output == "conv4c" else output
        channels = 64
        for name in STAGES[1: STAGES.index(last) + 1]:
            blocks = 3 if (name == "layer3" and output == "conv4c") else BLOCKS[name]
            setattr(self, name, _stage(name, channels, blocks))
            channels = WIDTHS[name] * EXPANSION
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)

    def stages(self) -> OrderedDict[str, nn.Module]:
        """The built stages in order: stem (conv1, bn1, relu, maxpool), layer1, ..."""
        out: OrderedDict[str, nn.Module] = OrderedDict(
            stem=nn.Sequential(OrderedDict(conv1=self.conv1, bn1=self.bn1, relu=self.relu, maxpool=self.maxpool)))
        for name in STAGES[1:]:
            if hasattr(self, name):
                out[name] = getattr(self, name)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self.stages().values():
            x = stage(x)
        return x


class RunningStatsSequential(nn.Sequential):
    """A Sequential whose BatchNorm layers always normalise with their running statistics
    (as in eval mode), also while training; their affine weights still train.

    A training batch holds the frames of one or two videos, so batch statistics would
    normalise per video (see ``backbones.group_norm``); pretrained statistics stay put."""

    def __init__(self, *args):
        super().__init__(*args)
        self.train(self.training)

    def train(self, mode: bool = True) -> RunningStatsSequential:
        super().train(mode)
        for module in self.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()
        return self


def split_frozen(net: ResNet50, frozen_until: str) -> tuple[list[str], RunningStatsSequential, RunningStatsSequential]:
    """(names of the frozen stages, frozen stages, trainable stages) of ``net``.

    Stages up to and including ``frozen_until`` ("none", or a name of ``STAGES``) are
    frozen; the built stages after it are trainable. Module names are kept, so the parts'
    state dicts read ``layer4.0.conv1.weight`` as torchvision's does."""
    stages = net.stages()
    cut = 0 if frozen_until == "none" else STAGES.index(frozen_until) + 1
    names = list(stages)
    frozen = RunningStatsSequential(OrderedDict((name, stages[name]) for name in names[:cut]))
    trainable = RunningStatsSequential(OrderedDict((name, stages[name]) for name in names[cut:]))
    return names[:cut], frozen, trainable
