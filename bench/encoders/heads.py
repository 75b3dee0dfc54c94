"""Temporal heads: feature maps of T frames (x K context frames) -> T embeddings.

- TransformerHead (CARL / LRProp / LAC): spatial pool (average, max or flatten), FC + ReLU
  layers, a linear map to the transformer's width, optional sine-cosine positions, a pre-LN
  transformer encoder over the T frames, a linear projection to D.
- Conv3dContextHead (TCC / LAV): for each frame, its K context frames' feature maps go
  through 3-D convolutions, a global max pool, two FC layers and a linear projection to D
  (Dwibedi et al. 2019, Sec. 4; LAV uses the same embedder). Frames do not see each other.
"""
from __future__ import annotations

import math

import torch
from torch import nn

from bench.encoders.backbones import group_norm


def sine_cosine_positions(length: int, dim: int, device: torch.device | None = None) -> torch.Tensor:
    """(length, dim) table: PE[p, 2i] = sin(p / 10000^(2i/dim)), PE[p, 2i+1] = cos(...)
    (Vaswani et al. 2017), the positions CARL adds before its transformer."""
    position = torch.arange(length, dtype=torch.float32, device=device).unsqueeze(1)
    rate = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32, device=device) * (-math.log(10000.0) / dim))
    table = torch.zeros(length, dim, device=device)
    table[:, 0::2] = torch.sin(position * rate)
    table[:, 1::2] = torch.cos(position * rate)[:, : dim // 2]
    return table


class TransformerHead(nn.Module):
    """Pool -> (FC-ReLU-Dropout) per entry of ``fc_widths`` -> Linear(hidden) -> (+ positions)
    -> pre-LN transformer -> Linear(D).

    pool "avg" averages the feature map over space (CARL, on ResNet-50's 7x7 map), "max"
    takes its maximum (LAC's adaptive max pool on conv4c), "flatten" keeps its layout (the
    small CNN's 4x4 map: where the limbs are is the pose). ``fc_widths`` (512, 512) with
    hidden 256 is CARL's "2 x FC 512 -> 256"; the small CNN's head uses (hidden,).
    ``layers=0`` embeds every frame on its own (no attention across frames).
    ``positional=True`` adds absolute sine-cosine positions (CARL); the harness's default is
    off: at evaluation the positions encode the frame index in every embedding, which gives
    nearest-neighbour metrics such as Kendall's tau for free, and TCC a trivial solution."""

    def __init__(self, in_features: int, hidden: int, embed_dim: int, layers: int, heads: int,
                 dropout: float, positional: bool, pool: str, fc_widths: tuple[int, ...]):
        super().__init__()
        self.pool = pool
        fc: list[nn.Module] = []
        previous = in_features
        for width in fc_widths:
            fc += [nn.Linear(previous, width), nn.ReLU(inplace=True), nn.Dropout(dropout)]
            previous = width
        self.fc = nn.Sequential(*fc, nn.Linear(previous, hidden))
        self.positional = positional
        layer = nn.TransformerEncoderLayer(hidden, heads, dim_feedforward=2 * hidden, dropout=dropout,
                                           batch_first=True, norm_first=True)
        self.transformer = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False) if layers else None
        self.norm = nn.LayerNorm(hidden)
        self.out = nn.Linear(hidden, embed_dim)

    def forward(self, maps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """maps (N, T, K, C, h, w) (the last context frame is used), mask (N, T) -> (N, T, D)."""
        last = maps[:, :, -1]
        if self.pool == "avg":
            pooled = last.mean(dim=(-2, -1))
        elif self.pool == "max":
            pooled = last.amax(dim=(-2, -1))
        else:
            pooled = last.flatten(2)
        x = self.fc(pooled)
        if self.positional:
            x = x + sine_cosine_positions(x.shape[1], x.shape[2], x.device).to(x.dtype)
        if self.transformer is not None:
            x = self.transformer(x, src_key_padding_mask=~mask)
        return self.out(self.norm(x))


class Conv3dContextHead(nn.Module):
    """TCC's embedder: 2 x (Conv3d 3x3x3 + norm + ReLU) over (K, h, w), global max pool,
    2 x (FC + ReLU), Linear(D). Each frame is embedded from its own K context frames.
    GroupNorm replaces TCC's BatchNorm for the reason given in ``backbones.group_norm``."""

    def __init__(self, in_channels: int, hidden: int, embed_dim: int, dropout: float):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv3d(in_channels, hidden, 3, padding=1, bias=False), group_norm(hidden), nn.ReLU(inplace=True),
            nn.Conv3d(hidden, hidden, 3, padding=1, bias=False), group_norm(hidden), nn.ReLU(inplace=True))
        self.fc = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.ReLU(inplace=True),
                                nn.Dropout(dropout), nn.Linear(hidden, hidden), nn.ReLU(inplace=True))
        self.out = nn.Linear(hidden, embed_dim)

    def forward(self, maps: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        n, t, k, c, h, w = maps.shape
        x = maps.reshape(n * t, k, c, h, w).transpose(1, 2)  # (NT, C, K, h, w)
        x = self.conv(x).amax(dim=(2, 3, 4))
        return self.out(self.fc(x)).view(n, t, -1)
