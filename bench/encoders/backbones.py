"""Per-frame backbones: a small CNN for CPUs and ResNet-50 through torchvision (lazy).

A backbone maps images (N, 3, H, W) in [0, 1] to feature maps (N, C, h, w); it applies its
own input normalisation (ImageNet mean and std), so every caller feeds raw [0, 1] frames.
"""
from __future__ import annotations

import torch
from torch import nn

from bench.errors import BenchError, DataError

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


class ResNet50(nn.Module):
    """torchvision's ResNet-50 up to ``layer`` (layer3: 1024 channels, layer4: 2048).

    As in TCC / CARL / LRProp: stages up to ``frozen_until`` are frozen (and their
    BatchNorm kept in eval mode), later stages are fine-tuned. Weights come from a file
    the user supplies (``encoder.weights``, a torchvision-format state dict, e.g. ImageNet
    or BYOL); nothing is downloaded. Without a file the network is randomly initialised.
    """

    STAGES = ("stem", "layer1", "layer2", "layer3", "layer4")

    def __init__(self, weights: str | None, frozen_until: str, layer: str = "layer4"):
        super().__init__()
        try:
            import torchvision  # noqa: PLC0415 - optional dependency, imported only here
        except Exception as err:  # torchvision missing, or built against another torch
            raise BenchError(f"the ResNet-50 backbone needs torchvision, which does not import here "
                             f"({err.__class__.__name__}); install it with `pip install alignbench[vision]` "
                             "or use a cnn_* encoder") from err
        net = torchvision.models.resnet50(weights=None)
        if weights:
            try:
                state = torch.load(weights, map_location="cpu", weights_only=True)
            except FileNotFoundError as err:
                raise DataError(f"encoder.weights file {weights} does not exist; point it at a ResNet-50 "
                                "state dict (.pth)") from err
            net.load_state_dict(state.get("state_dict", state), strict=False)
        stages = {"stem": nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool),
                  "layer1": net.layer1, "layer2": net.layer2, "layer3": net.layer3, "layer4": net.layer4}
        keep = self.STAGES[: self.STAGES.index(layer) + 1]
        self.frozen = self.STAGES[: self.STAGES.index(frozen_until) + 1] if frozen_until != "none" else ()
        self.stages = nn.ModuleDict({name: stages[name] for name in keep})
        for name in self.frozen:
            if name in self.stages:
                self.stages[name].requires_grad_(False)
        self.normalise = Normalise()
        self.out_channels = 2048 if layer == "layer4" else 1024

    def train(self, mode: bool = True) -> ResNet50:
        super().train(mode)
        for name in self.frozen:
            if name in self.stages:
                self.stages[name].eval()
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.normalise(images)
        for stage in self.stages.values():
            x = stage(x)
        return x
