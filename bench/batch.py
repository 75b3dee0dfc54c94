"""What a method asks of the data pipeline (BatchSpec) and what it gets back (Batch)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Literal

import torch

Sampling = Literal["offset_uniform", "segment_uniform", "time_augment", "all"]


@dataclass(frozen=True)
class BatchSpec:
    """How a method's training batches are built.

    videos: videos per step; views: views per video (each its own temporal sample and
    its own spatial augmentation); frames: T sampled frames per view (None: every frame,
    padded to the longest video and masked); sampling: the temporal sampler
    (see bench/sampling.py); same_action: all videos of a step share one action;
    augment: spatial augmentation on (SimCLR style, identical for every frame of a view);
    crop_min: time_augment's shortest temporal crop, as a fraction of the video.
    """

    videos: int
    views: int = 1
    frames: int | None = 20
    sampling: Sampling = "offset_uniform"
    same_action: bool = True
    augment: bool = True
    crop_min: float = 0.5


@dataclass
class Batch:
    """One training step's data. B videos, V views, T frames, K context frames per frame.

    frames:  (B, V, T, K, C, H, W) float32 in [0, 1] (the encoder normalises); from a
             feature cache, the frozen features (B, V, T, K, *F) instead
    indices: (B, V, T) long, original frame index s_i of each sampled frame
    lengths: (B,) long, number of frames L of each video
    mask:    (B, V, T) bool, False on padding
    labels:  (B, V, T) long phase labels, -1 where unlabelled or padded
    actions: (B,) long action index (position in the store's action list)
    video_ids: the B video ids
    """

    frames: torch.Tensor
    indices: torch.Tensor
    lengths: torch.Tensor
    mask: torch.Tensor
    labels: torch.Tensor
    actions: torch.Tensor
    video_ids: list[str]

    @property
    def times(self) -> torch.Tensor:
        """(B, V, T) normalised time t_i = s_i / L."""
        return self.indices.float() / self.lengths.float().view(-1, 1, 1)

    def _map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> Batch:
        """A Batch with ``fn`` applied to every tensor field."""
        return Batch(**{f.name: fn(value) if isinstance(value := getattr(self, f.name), torch.Tensor) else value
                        for f in fields(self)})

    def to(self, device: torch.device | str) -> Batch:
        return self._map(lambda tensor: tensor.to(device, non_blocking=True))

    def pin_memory(self) -> Batch:
        """Every tensor in page-locked host memory (CUDA only), for asynchronous copies."""
        return self._map(torch.Tensor.pin_memory)
