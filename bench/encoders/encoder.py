"""The Encoder: backbone (per frame) + temporal head, with its config.

``forward`` is the training path (a Batch's frames); ``embed_video`` the evaluation path
(every frame of one video, stride 1, the same preprocessing, no augmentation, eval mode).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import torch
from torch import nn

from bench.augment import to_float_frames
from bench.sampling import context_indices


@dataclass
class EncoderConfig:
    """Shared encoder hyperparameters. CPU defaults; the papers' GPU encoders are ResNet-50
    (224 px) + a 2-3 layer transformer of width 256 (CARL) or the conv3d embedder (TCC)."""

    image_size: int = 64
    embed_dim: int = 128
    hidden: int = 128
    layers: int = 2
    heads: int = 4
    dropout: float = 0.1
    positional: bool = False
    pool: Literal["avg", "flatten"] = "flatten"
    context_frames: int = 1
    context_stride: int = 15
    cnn_channels: tuple[int, ...] = (16, 32, 64, 128)
    weights: str | None = None
    frozen_until: Literal["none", "stem", "layer1", "layer2", "layer3", "layer4"] = "layer3"
    chunk: int = 256
    """frames per backbone call when embedding a whole video (memory bound)."""


class Encoder(nn.Module):
    name: ClassVar[str]
    Config: ClassVar[type] = EncoderConfig

    def __init__(self, cfg: EncoderConfig, backbone: nn.Module, head: nn.Module):
        super().__init__()
        self.cfg = cfg
        self.backbone = backbone
        self.head = head

    @property
    def embed_dim(self) -> int:
        return self.cfg.embed_dim

    @property
    def context(self) -> tuple[int, int]:
        """(K context frames per sampled frame, their stride), for the batch loader."""
        return self.cfg.context_frames, self.cfg.context_stride

    def forward(self, frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """frames (N, T, K, C, H, W) in [0, 1], mask (N, T) bool -> embeddings (N, T, D)."""
        n, t, k = frames.shape[:3]
        maps = self.backbone(frames.flatten(0, 2))
        return self.head(maps.view(n, t, k, *maps.shape[1:]), mask)

    @torch.no_grad()
    def embed_video(self, frames: np.ndarray, device: torch.device | str = "cpu") -> np.ndarray:
        """Every frame of one video (L, H, W, 3) uint8 -> (L, D) float32 embeddings.

        The backbone runs once per frame (in chunks); context frames are gathered from
        those feature maps, so K > 1 costs no extra backbone passes."""
        length = frames.shape[0]
        maps = []
        for start in range(0, length, self.cfg.chunk):
            images = to_float_frames(np.asarray(frames[start:start + self.cfg.chunk]), self.cfg.image_size)
            maps.append(self.backbone(images.to(device)))
        feature_maps = torch.cat(maps)
        ctx = torch.as_tensor(context_indices(np.arange(length), *self.context), device=feature_maps.device)
        grouped = feature_maps[ctx].unsqueeze(0)  # (1, L, K, C, h, w)
        mask = torch.ones(1, length, dtype=torch.bool, device=feature_maps.device)
        return self.head(grouped, mask)[0].float().cpu().numpy()
