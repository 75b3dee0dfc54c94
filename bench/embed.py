"""Frozen embeddings of every frame of every video of a split (the protocol's input)."""
from __future__ import annotations

from collections.abc import Callable

import torch

from bench.encoders.encoder import Encoder
from bench.feature_cache import FeatureCache
from bench.protocol.config import VideoEmbedding
from bench.store import VideoStore


def embed_split(encoder: Encoder, store: VideoStore, video_ids: list[str], device: torch.device,
                on_video: Callable[[str], None] | None = None,
                cache: FeatureCache | None = None) -> list[VideoEmbedding]:
    """Embed each video whole (stride 1, eval mode, no augmentation), from its frames or,
    with a feature ``cache``, from its cached frozen features."""
    encoder.eval()
    embedded = []
    for video_id in video_ids:
        video = store.video(video_id)
        if cache is not None:
            embeddings = encoder.embed_cached(cache.features(video_id), device)
        else:
            embeddings = encoder.embed_video(video.frames, device)
        embedded.append(VideoEmbedding(video_id, video.action, embeddings, video.labels, video.canonical_time))
        if on_video is not None:
            on_video(video_id)
    return embedded
