"""The frozen-feature cache: an encoder's frozen layers run once per dataset, on every frame.

With ``encoder.cache=true`` a run computes ``encoder.frozen_features`` of every frame of the
videos it trains and evaluates on, with the evaluation preprocessing (``to_float_frames``:
resized to the encoder's image size, no augmentation), and stores them; training batches
and the evaluation embedding then run only the trainable part (``Encoder.forward_features``,
``Encoder.embed_cached``). What it gives up: the training views see the features of
un-augmented frames, so there is no pixel augmentation (crop, flip, colour jitter, blur)
below the frozen layers; temporal sampling is unchanged.

Layout, under the data directory::

    features/<dataset>/<frozen part>-<key hash>/
        key.json          the key (below), readable
        <video id>.npy    float16 (L, C, h, w), memory-mapped when read

The key: the frozen part's name (``resnet50-to-layer3``), the sha256 of its parameters and
buffers (so random, ImageNet and BYOL weights never mix), the frame size, the dataset's name
and version, and the precision it was computed in (float32; bfloat16 autocast on CUDA with
``trainer.amp``). A changed key is another directory, built anew. Each video's file is
written under a temporary name and renamed, so a file present is complete; one that does
not read back with the expected shape is rebuilt.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.progress import Progress

from bench.augment import to_float_frames
from bench.config import stable_hash
from bench.encoders.encoder import Encoder
from bench.errors import DataError
from bench.precision import autocast, uses_amp
from bench.store import VideoStore

DTYPE = np.float16
KEY_FILE = "key.json"


def weights_hash(module: torch.nn.Module) -> str:
    """sha256 over the module's state dict: every name, dtype, shape and value, in order."""
    digest = hashlib.sha256()
    for name, tensor in module.state_dict().items():
        digest.update(f"{name}:{tensor.dtype}:{tuple(tensor.shape)}".encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def cache_key(encoder: Encoder, store: VideoStore, device: torch.device, amp: bool) -> dict[str, object]:
    """What the cached features depend on (see the module docstring)."""
    return {"backbone": encoder.frozen_name, "weights_sha256": weights_hash(encoder.frozen),
            "image_size": encoder.cfg.image_size, "dataset": store.name, "dataset_version": store.version,
            "precision": "bfloat16-autocast" if uses_amp(device, amp) else "float32"}


def _gigabytes(size: int) -> str:
    return f"{size / 1e9:.2f} GB"


def _free_bytes(directory: Path) -> int:
    """Free space on the file system that holds (or will hold) ``directory``."""
    existing = directory
    while not existing.exists():
        existing = existing.parent
    return shutil.disk_usage(existing).free


@dataclass
class FeatureCache:
    """One key's directory: ``features(video_id)`` -> float16 (L, *shape), memory-mapped."""

    root: Path
    shape: tuple[int, ...]

    def path(self, video_id: str) -> Path:
        return self.root / f"{video_id}.npy"

    def features(self, video_id: str) -> np.ndarray:
        path = self.path(video_id)
        try:
            return np.load(path, mmap_mode="r")
        except (OSError, ValueError) as err:
            raise DataError(f"feature cache file {path} is missing or unreadable ({type(err).__name__}); "
                            "run again to rebuild it, or set encoder.cache=false") from err

    def is_complete(self, video_id: str, length: int) -> bool:
        """True when the video's file reads back as float16 (length, *shape)."""
        try:
            array = self.features(video_id)
        except DataError:
            return False
        return array.dtype == DTYPE and array.shape == (length, *self.shape)


def _frozen_output_shape(encoder: Encoder, device: torch.device) -> tuple[int, ...]:
    size = encoder.cfg.image_size
    return tuple(encoder.frozen_features(torch.zeros(1, 3, size, size, device=device)).shape[1:])


def _write_video(encoder: Encoder, frames: np.ndarray, path: Path, shape: tuple[int, ...],
                 device: torch.device, amp: bool) -> None:
    """frozen_features of every frame, chunk by chunk, into a float16 .npy renamed into place."""
    tmp = path.with_name(f".{path.name}.tmp-{uuid.uuid4().hex[:8]}")
    try:
        out = np.lib.format.open_memmap(tmp, mode="w+", dtype=DTYPE, shape=(frames.shape[0], *shape))
        for start in range(0, frames.shape[0], encoder.cfg.chunk):
            images = to_float_frames(np.asarray(frames[start:start + encoder.cfg.chunk]), encoder.cfg.image_size)
            with autocast(device, amp):
                features = encoder.frozen_features(images.to(device))
            out[start:start + len(images)] = features.float().cpu().numpy().astype(DTYPE)
        out.flush()
        del out
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def open_feature_cache(encoder: Encoder, store: VideoStore, video_ids: list[str], data_root: Path,
                       device: torch.device, amp: bool, console: Console,
                       progress: Progress | None = None) -> FeatureCache | None:
    """The cache of ``encoder``'s frozen features for ``video_ids``, building what is missing;
    None when the encoder does not cache (``Encoder.caches_features``).

    Prints the cache's size (and what is left to build) first; raises DataError, before
    writing anything, when the disk lacks room for what is left to build."""
    if not encoder.caches_features:
        return None
    encoder.to_device(device)
    key = cache_key(encoder, store, device, amp)
    root = Path(data_root) / "features" / store.name / f"{encoder.frozen_name}-{stable_hash(key)}"
    cache = FeatureCache(root, _frozen_output_shape(encoder, device))
    per_frame = int(np.prod(cache.shape)) * np.dtype(DTYPE).itemsize
    lengths = {vid: store.length(vid) for vid in dict.fromkeys(video_ids)}
    missing = [vid for vid, length in lengths.items() if not cache.is_complete(vid, length)]
    total, left = (per_frame * sum(lengths[v] for v in vids) for vids in (lengths, missing))
    console.print(f"feature cache {root}: {len(lengths)} videos, {_gigabytes(total)} float16 "
                  f"{cache.shape}; {len(missing)} to build ({_gigabytes(left)}); training sees no pixel "
                  "augmentation below the frozen layers (encoder.cache=false restores it)")
    if not missing:
        return cache
    free = _free_bytes(root)
    if left > free:
        raise DataError(f"not enough disk for the feature cache at {root}: it needs {_gigabytes(left)}, "
                        f"{_gigabytes(free)} are free; free space, use another --data directory, "
                        "or set encoder.cache=false")
    root.mkdir(parents=True, exist_ok=True)
    (root / KEY_FILE).write_text(json.dumps(key, indent=1))
    task = progress.add_task("cache features", total=len(missing), info=encoder.frozen_name) if progress else None
    for vid in missing:
        _write_video(encoder, store.frames(vid), cache.path(vid), cache.shape, device, amp)
        if progress is not None:
            progress.advance(task)
    return cache
