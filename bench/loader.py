"""Training batches: a method's BatchSpec applied to a video store.

``BatchLoader.batch(step)`` is a pure function of (seed, step): its numpy Generator is
``default_rng([seed, step])`` and its torch Generator (spatial augmentation) is seeded from
that, so a run resumed at any step sees exactly the data it would have seen.
"""
from __future__ import annotations

from typing import get_args

import numpy as np
import torch

from bench.augment import augment_view, to_float_frames
from bench.batch import Batch, BatchSpec, Sampling
from bench.errors import ConfigError, DataError
from bench.feature_cache import FeatureCache
from bench.sampling import all_frames, context_indices, offset_uniform, segment_uniform, time_augment
from bench.store import VideoStore

SAMPLINGS = get_args(Sampling)


def _check_spec(spec: BatchSpec, image_size: int, seed: int, context: tuple[int, int]) -> None:
    if spec.videos < 1 or spec.views < 1:
        raise ConfigError(f"a batch needs videos >= 1 and views >= 1, got {spec.videos} and {spec.views}; "
                          "fix the method's batch_spec")
    if spec.frames is not None and spec.frames < 1:
        raise ConfigError(f"BatchSpec.frames must be None or >= 1, got {spec.frames}; fix the method's batch_spec")
    if spec.sampling not in SAMPLINGS:
        raise ConfigError(f"unknown sampling '{spec.sampling}'; use one of {', '.join(SAMPLINGS)}")
    if not 0.0 < spec.crop_min <= 1.0:
        raise ConfigError(f"BatchSpec.crop_min must be in (0, 1], got {spec.crop_min}; fix the method's batch_spec")
    if image_size < 1:
        raise ConfigError(f"image_size must be >= 1, got {image_size}; set the encoder's image size")
    if seed < 0:
        raise ConfigError(f"seed must be >= 0, got {seed}; use a non-negative seed")
    if len(context) != 2 or context[0] < 1 or context[1] < 1:
        raise ConfigError(f"context must be (frames >= 1, stride >= 1), got {context}; fix the encoder's context")


def _distinct_when_possible(pool: list[str], count: int, rng: np.random.Generator) -> list[str]:
    """``count`` ids of ``pool``: distinct when the pool is large enough, else the whole
    pool in random order followed by draws with replacement."""
    if len(pool) >= count:
        return [pool[i] for i in rng.choice(len(pool), size=count, replace=False)]
    order = list(rng.permutation(len(pool))) + list(rng.integers(0, len(pool), size=count - len(pool)))
    return [pool[i] for i in order]


class BatchLoader:
    """Builds the training batches of one method on one list of videos.

    Video choice per step: with ``spec.same_action``, an action is drawn with probability
    proportional to its number of videos among the actions that have at least
    ``spec.videos`` videos, then ``spec.videos`` distinct videos of it; when no action has
    that many, the action is drawn among all (same proportions) and its videos are reused
    (all of them once, then with replacement). Without ``same_action``, distinct videos of
    any action (with the same fallback when there are too few).

    ``context`` = (K, stride): each sampled frame s also loads s - (K-1) stride, ..., s.
    With ``spec.frames`` None or sampling "all", every frame of each video is used, padded
    to the longest video of the batch with zero frames, index 0, label -1, mask False.

    With a feature ``cache`` (bench/feature_cache.py) the batch's ``frames`` are the cached
    frozen features of the same frames, without spatial augmentation.
    """

    def __init__(self, store: VideoStore, video_ids: list[str], spec: BatchSpec, image_size: int, seed: int,
                 context: tuple[int, int] = (1, 1), cache: FeatureCache | None = None):
        _check_spec(spec, image_size, seed, context)
        if not video_ids:
            raise DataError("the video list for training is empty; check the dataset's split")
        known = store.manifest["videos"]
        unknown = [v for v in video_ids if v not in known]
        if unknown:
            raise DataError(f"video '{unknown[0]}' is not in dataset {store.name}; fix the video list or prepare "
                            "the dataset again")
        self.store, self.spec, self.image_size, self.seed, self.cache = store, spec, image_size, seed, cache
        self.item_shape = cache.shape if cache is not None else (3, image_size, image_size)
        self.context = (int(context[0]), int(context[1]))
        self.by_action: dict[str, list[str]] = {}
        for vid in sorted(set(video_ids)):
            self.by_action.setdefault(store.action_of(vid), []).append(vid)
        missing = [a for a in self.by_action if a not in store.actions]
        if missing:
            raise DataError(f"action '{missing[0]}' of the videos is not in dataset {store.name}'s action list; "
                            "prepare the dataset again")
        self.actions = sorted(self.by_action)
        self._frames: dict[str, np.ndarray] = {}
        self._labels: dict[str, np.ndarray] = {}

    def _choose_videos(self, rng: np.random.Generator) -> list[str]:
        count = self.spec.videos
        if not self.spec.same_action:
            return _distinct_when_possible([v for a in self.actions for v in self.by_action[a]], count, rng)
        eligible = [a for a in self.actions if len(self.by_action[a]) >= count] or self.actions
        sizes = np.array([len(self.by_action[a]) for a in eligible], dtype=np.float64)
        action = eligible[int(rng.choice(len(eligible), p=sizes / sizes.sum()))]
        return _distinct_when_possible(self.by_action[action], count, rng)

    def _indices(self, length: int, rng: np.random.Generator) -> np.ndarray:
        """(V, T) temporal indices of one video's views."""
        spec = self.spec
        if spec.frames is None or spec.sampling == "all":
            return np.tile(all_frames(length), (spec.views, 1))
        if spec.sampling == "time_augment":
            return time_augment(length, spec.frames, spec.views, spec.crop_min, rng)
        sampler = offset_uniform if spec.sampling == "offset_uniform" else segment_uniform
        return np.stack([sampler(length, spec.frames, rng) for _ in range(spec.views)])

    def _video(self, vid: str) -> tuple[np.ndarray, np.ndarray]:
        if vid not in self._frames:
            frames = self.cache.features(vid) if self.cache is not None else self.store.frames(vid)
            labels = self.store.labels(vid)
            if len(labels) != frames.shape[0]:
                raise DataError(f"video {vid}: {frames.shape[0]} frames but {len(labels)} labels; "
                                "prepare the dataset again")
            self._frames[vid], self._labels[vid] = frames, labels
        return self._frames[vid], self._labels[vid]

    def _load(self, frames: np.ndarray, ctx: np.ndarray, generator: torch.Generator) -> torch.Tensor:
        """(V, T, K) context indices -> (V, T, K, 3, S, S), each view augmented on its own;
        from a feature cache, (V, T, K, *F) float32 cached features (no augmentation)."""
        unique, inverse = np.unique(ctx, return_inverse=True)
        if self.cache is not None:
            features = torch.from_numpy(np.asarray(frames[unique], dtype=np.float32))
            return features[torch.from_numpy(inverse.reshape(-1))].view(*ctx.shape, *features.shape[1:])
        pixels = to_float_frames(frames[unique], self.image_size)[torch.from_numpy(inverse.reshape(-1))]
        views = pixels.view(ctx.shape[0], -1, *pixels.shape[1:])
        if self.spec.augment:
            views = torch.stack([augment_view(view, generator) for view in views])
        return views.view(*ctx.shape, *pixels.shape[1:])

    def batch(self, step: int) -> Batch:
        """The batch of training step ``step`` (the same for the same seed and step)."""
        if step < 0:
            raise ConfigError(f"step must be >= 0, got {step}; count steps from 0")
        rng = np.random.default_rng([self.seed, step])
        generator = torch.Generator().manual_seed(int(rng.integers(2 ** 62)))
        chosen = self._choose_videos(rng)
        videos = [self._video(vid) for vid in chosen]
        lengths = [frames.shape[0] for frames, _ in videos]
        indices = [self._indices(length, rng) for length in lengths]
        steps = max(idx.shape[1] for idx in indices)
        k, stride = self.context
        b, v = len(chosen), self.spec.views
        out_frames = torch.zeros(b, v, steps, k, *self.item_shape)
        out_indices = torch.zeros(b, v, steps, dtype=torch.long)
        out_labels = torch.full((b, v, steps), -1, dtype=torch.long)
        mask = torch.zeros(b, v, steps, dtype=torch.bool)
        for i, ((frames, labels), idx) in enumerate(zip(videos, indices)):
            t = idx.shape[1]
            out_frames[i, :, :t] = self._load(frames, context_indices(idx, k, stride), generator)
            out_indices[i, :, :t] = torch.from_numpy(idx)
            out_labels[i, :, :t] = torch.from_numpy(labels[idx])
            mask[i, :, :t] = True
        actions = torch.tensor([self.store.actions.index(self.store.action_of(vid)) for vid in chosen])
        return Batch(frames=out_frames, indices=out_indices, lengths=torch.tensor(lengths, dtype=torch.long),
                     mask=mask, labels=out_labels, actions=actions, video_ids=chosen)
