"""Temporal samplers: which frames of a video a training view sees.

Every sampler takes the video length L and (except ``all_frames``) an explicit
``np.random.Generator`` and returns sorted int64 frame indices in [0, L). The sampler a
method uses is named by its ``BatchSpec.sampling`` (METHODS.md, "Batch shapes").
"""
from __future__ import annotations

import math

import numpy as np

from bench.errors import ConfigError, DataError


def _check(length: int, frames: int) -> None:
    if length < 1:
        raise DataError(f"cannot sample frames from a video of length {length}; remove empty videos from the store")
    if frames < 1:
        raise ConfigError(f"frames per view must be >= 1, got {frames}; set BatchSpec.frames to a positive count")


def offset_uniform(length: int, frames: int, rng: np.random.Generator) -> np.ndarray:
    """TCC's sampler: a sorted random subset of T = ``frames`` of the L frames, shape (T,).

    L >= T: T distinct frames, every subset equally likely. L < T: every frame once plus
    T - L extra frames drawn uniformly with replacement, sorted (so repeats are adjacent
    and the sequence still covers the whole video in order).
    """
    _check(length, frames)
    if length >= frames:
        picked = rng.choice(length, size=frames, replace=False)
    else:
        picked = np.concatenate([np.arange(length), rng.integers(0, length, size=frames - length)])
    return np.sort(picked).astype(np.int64)


def segment_uniform(length: int, frames: int, rng: np.random.Generator) -> np.ndarray:
    """LAV's sampler: T equal segments of [0, L), one uniformly random frame in each, (T,).

    Segment i is the time interval [i L / T, (i + 1) L / T); a point is drawn uniformly in
    it and the frame containing it (its floor) is taken, so index i lies in
    [floor(i L / T), ceil((i + 1) L / T) - 1] and the result is sorted. When L < T the
    segments are shorter than one frame: consecutive segments then often fall in the same
    frame, so frames repeat (in order) rather than the sampler failing.
    """
    _check(length, frames)
    width = length / frames
    points = (np.arange(frames) + rng.random(frames)) * width
    return np.minimum(np.floor(points), length - 1).astype(np.int64)


def temporal_crop(length: int, frames: int, crop_min: float, rng: np.random.Generator) -> tuple[int, int]:
    """CARL's temporal crop [start, stop) of one video.

    Its length is uniform over the integers in [max(ceil(crop_min L), min(T, L)), L] and its
    start uniform over every position that keeps it inside the video.
    """
    _check(length, frames)
    if not 0.0 < crop_min <= 1.0:
        raise ConfigError(f"crop_min must be in (0, 1], got {crop_min}; set BatchSpec.crop_min to a fraction")
    shortest = max(math.ceil(crop_min * length), min(frames, length))
    size = int(rng.integers(shortest, length + 1))
    start = int(rng.integers(0, length - size + 1))
    return start, start + size


def time_augment(length: int, frames: int, views: int, crop_min: float, rng: np.random.Generator) -> np.ndarray:
    """CARL's time augmentation (its intended form): (views, T) sorted indices per view.

    One temporal crop per video (``temporal_crop``), then for each view T frames of the
    crop drawn as ``offset_uniform`` does on the crop (distinct when the crop has >= T
    frames). All views of a video come from the same crop, so they overlap by construction.
    Departure from the reference code: CARL computes the crop's offset in a way that is
    always 0, so its views always start at frame 0; here the offset is uniformly random.
    """
    if views < 1:
        raise ConfigError(f"views per video must be >= 1, got {views}; set BatchSpec.views to a positive count")
    start, stop = temporal_crop(length, frames, crop_min, rng)
    return np.stack([start + offset_uniform(stop - start, frames, rng) for _ in range(views)])


def all_frames(length: int) -> np.ndarray:
    """Every frame 0 .. L-1, (L,)."""
    _check(length, 1)
    return np.arange(length, dtype=np.int64)


def context_indices(indices: np.ndarray, context_frames: int, context_stride: int) -> np.ndarray:
    """The K context frames of each sampled frame, (..., K).

    For index s: s - (K-1) stride, ..., s - stride, s, clamped at 0 (TCC/LAV's conv3d
    context embedder sees K frames ending at each sampled frame). K = 1 gives s itself.
    """
    if context_frames < 1 or context_stride < 1:
        raise ConfigError(f"context needs frames >= 1 and stride >= 1, got ({context_frames}, {context_stride}); "
                          "fix the encoder's context setting")
    offsets = context_stride * np.arange(context_frames - 1, -1, -1, dtype=np.int64)
    return np.maximum(np.asarray(indices, dtype=np.int64)[..., None] - offsets, 0)
