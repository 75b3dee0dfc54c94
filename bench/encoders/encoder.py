"""The Encoder: [frozen part +] backbone (per frame) + temporal head, with its config.

``forward`` is the training path (a Batch's frames); ``embed_video`` the evaluation path
(every frame of one video, stride 1, the same preprocessing, no augmentation, eval mode).
``forward_features`` and ``embed_cached`` are the same two paths on the frozen part's output
(bench/feature_cache.py).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import torch
from torch import nn

from bench.augment import to_float_frames
from bench.bounds import Rule, bounded
from bench.sampling import context_indices


@dataclass
class EncoderConfig:
    """Shared encoder hyperparameters, CPU defaults; the papers' ResNet-50 encoders have
    their own configs in bench/encoders/zoo.py."""

    image_size: int = bounded(64, ge=16)
    embed_dim: int = bounded(128, ge=1)
    hidden: int = bounded(128, ge=1)
    layers: int = bounded(2, ge=0)
    heads: int = bounded(4, ge=1)
    dropout: float = bounded(0.1, ge=0, lt=1)
    positional: bool = False
    pool: Literal["avg", "max", "flatten"] = "flatten"
    context_frames: int = bounded(1, ge=1)
    context_stride: int = bounded(15, ge=1)
    cnn_channels: tuple[int, ...] = bounded((16, 32, 64, 128), ge=1)
    weights: str | None = None
    frozen_until: Literal["none", "stem", "layer1", "layer2", "layer3", "layer4"] = "layer3"
    chunk: int = bounded(256, ge=1)
    """frames per backbone call when embedding a whole video (memory bound)."""

    rules: ClassVar = (
        Rule(lambda c: c.hidden % c.heads == 0,
             "{where}.heads={heads} does not divide {where}.hidden={hidden} (attention splits the width "
             "into equal heads); set heads to a divisor of hidden, e.g. 4 for 128"),
        Rule(lambda c: len(c.cnn_channels) >= 1, "{where}.cnn_channels is empty; give at least one width, "
             "e.g. [16, 32, 64, 128]"),
    )


class Encoder(nn.Module):
    """frames -> [frozen part] -> backbone (trainable) -> temporal head -> embeddings.

    ``frozen`` (optional) is the part of the per-frame backbone that never trains: its
    parameters need no gradient and it stays in eval mode. Its output is what the feature
    cache (bench/feature_cache.py) stores, keyed by ``frozen_name``; ``forward_features``
    runs the rest of the encoder on such features."""

    name: ClassVar[str]
    Config: ClassVar[type] = EncoderConfig

    def __init__(self, cfg: EncoderConfig, backbone: nn.Module, head: nn.Module,
                 frozen: nn.Module | None = None, frozen_name: str | None = None):
        super().__init__()
        self.cfg = cfg
        self.frozen = frozen
        self.frozen_name = frozen_name
        if frozen is not None:
            frozen.requires_grad_(False).eval()
        self.backbone = backbone
        self.head = head

    @property
    def embed_dim(self) -> int:
        return self.cfg.embed_dim

    @property
    def context(self) -> tuple[int, int]:
        """(K context frames per sampled frame, their stride), for the batch loader."""
        return self.cfg.context_frames, self.cfg.context_stride

    @property
    def caches_features(self) -> bool:
        """True when the run trains and evaluates on cached frozen features (``encoder.cache``)."""
        return self.frozen is not None and self.cfg.cache

    def train(self, mode: bool = True) -> Encoder:
        super().train(mode)
        if self.frozen is not None:
            self.frozen.eval()
        return self

    def to_device(self, device: torch.device) -> Encoder:
        """Move to ``device``; on CUDA the 2-D convolutions' weights also go channels-last (NHWC,
        what cuDNN's fast kernels read; the inputs follow in ``_layout``). Heads keep theirs."""
        self.to(device)
        if device.type == "cuda":
            for part in (self.frozen, self.backbone):
                if part is not None:
                    part.to(memory_format=torch.channels_last)
        return self

    def frozen_features(self, images: torch.Tensor) -> torch.Tensor:
        """images (N, 3, H, W) in [0, 1] -> the frozen part's output (the images without one)."""
        if self.frozen is None:
            return images
        with torch.no_grad():
            return self.frozen(_layout(images))

    def forward_features(self, features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Frozen features (N, T, K, *F) (``frozen_features`` of each frame), mask (N, T) -> (N, T, D)."""
        n, t, k = features.shape[:3]
        maps = self.backbone(_layout(features.flatten(0, 2)))
        return self.head(maps.view(n, t, k, *maps.shape[1:]), mask)

    def forward(self, frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """frames (N, T, K, C, H, W) in [0, 1], mask (N, T) bool -> embeddings (N, T, D)."""
        n, t, k = frames.shape[:3]
        features = self.frozen_features(frames.flatten(0, 2))
        return self.forward_features(features.view(n, t, k, *features.shape[1:]), mask)

    @torch.no_grad()
    def embed_video(self, frames: np.ndarray, device: torch.device | str = "cpu") -> np.ndarray:
        """Every frame of one video (L, H, W, 3) uint8 -> (L, D) float32 embeddings."""
        def maps(start: int) -> torch.Tensor:
            images = to_float_frames(np.asarray(frames[start:start + self.cfg.chunk]), self.cfg.image_size)
            return self.backbone(_layout(self.frozen_features(images.to(device))))

        return self._embed(maps, frames.shape[0], device)

    @torch.no_grad()
    def embed_cached(self, features: np.ndarray, device: torch.device | str = "cpu") -> np.ndarray:
        """Every frame of one video from its cached frozen features (L, *F) -> (L, D) float32."""
        def maps(start: int) -> torch.Tensor:
            chunk = torch.from_numpy(np.array(features[start:start + self.cfg.chunk], dtype=np.float32))
            return self.backbone(_layout(chunk.to(device)))

        return self._embed(maps, features.shape[0], device)

    def _embed(self, maps: Callable[[int], torch.Tensor], length: int, device: torch.device | str) -> np.ndarray:
        """The backbone runs once per frame (in chunks of ``cfg.chunk`` frames, ``maps(start)``);
        context frames are gathered from those feature maps, so K > 1 costs no extra passes."""
        feature_maps = torch.cat([maps(start) for start in range(0, length, self.cfg.chunk)])
        ctx = torch.as_tensor(context_indices(np.arange(length), *self.context), device=feature_maps.device)
        grouped = feature_maps[ctx].unsqueeze(0)  # (1, L, K, C, h, w)
        mask = torch.ones(1, length, dtype=torch.bool, device=feature_maps.device)
        return self.head(grouped, mask)[0].float().cpu().numpy()


def _layout(images: torch.Tensor) -> torch.Tensor:
    """Image batches on CUDA in channels-last order (what cuDNN's fast convolutions read);
    unchanged elsewhere."""
    if images.is_cuda and images.dim() == 4:
        return images.contiguous(memory_format=torch.channels_last)
    return images
