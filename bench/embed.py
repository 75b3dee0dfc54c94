"""Frozen embeddings of every frame of every video of a split (the protocol's input)."""
from __future__ import annotations

from collections.abc import Callable

import torch

from bench.encoders.encoder import Encoder
from bench.protocol.config import VideoEmbedding
from bench.store import VideoStore


def embed_split(encoder: Encoder, store: VideoStore, video_ids: list[str], device: torch.device,
                on_video: Callable[[str], None] | None = None) -> list[VideoEmbedding]:
    """Embed each video whole (stride 1, eval mode, no augmentation)."""
    encoder.eval()
    embedded = []
    for video_id in video_ids:
        video = store.video(video_id)
        embedded.append(VideoEmbedding(video_id, video.action, encoder.embed_video(video.frames, device),
                                       video.labels, video.canonical_time))
        if on_video is not None:
            on_video(video_id)
    return embedded
