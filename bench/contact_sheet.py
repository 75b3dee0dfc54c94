"""A contact sheet of a video store: a grid of frames to see what a dataset looks like.

One row per video (videos taken round-robin over the actions, so the rows span them), a
few evenly spaced frames per row, each titled with its phase name (and canonical time where
the dataset has one). Drawn with matplotlib's Agg canvas (no display needed) and written
atomically: a temporary file in the same directory, then a rename.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from bench.errors import ConfigError, DataError
from bench.figures import save_figure
from bench.store import VideoStore


def pick_videos(store: VideoStore, split: str, count: int) -> list[str]:
    """Up to ``count`` video ids of ``split``, alternating between the actions in store order."""
    ids = store.split(split)
    by_action = {action: [v for v in ids if store.action_of(v) == action] for action in store.actions}
    picked: list[str] = []
    depth = 0
    while len(picked) < min(count, len(ids)):
        for action in store.actions:
            if depth < len(by_action[action]) and len(picked) < count:
                picked.append(by_action[action][depth])
        depth += 1
    return picked


def frame_title(store: VideoStore, action: str, label: int, time: float | None) -> str:
    phase = store.phases(action)[label] if label >= 0 else "unlabelled"
    return phase if time is None else f"{phase}\nc={time:.2f}"


def write_contact_sheet(store: VideoStore, path: Path, videos: int = 4, frames_per_video: int = 8,
                        split: str = "train") -> Path:
    """Draw ``videos`` rows of ``frames_per_video`` evenly spaced frames of ``split`` to the PNG
    ``path``; return the path."""
    if videos < 1 or frames_per_video < 1:
        raise ConfigError(f"contact sheet needs at least one video and one frame per video, got "
                          f"videos={videos}, frames_per_video={frames_per_video}; pass positive numbers")
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ConfigError(f"contact sheet path {path} must end in .png; rename it")
    ids = pick_videos(store, split, videos)
    if not ids:
        raise DataError(f"split '{split}' of dataset {store.name} has no videos; choose another split")
    fig = Figure(figsize=(1.3 * frames_per_video + 1.2, 1.55 * len(ids)), dpi=100)
    FigureCanvasAgg(fig)
    axes = fig.subplots(len(ids), frames_per_video, squeeze=False)
    for row, video_id in enumerate(ids):
        video = store.video(video_id)
        picks = np.linspace(0, video.length - 1, frames_per_video).round().astype(int)
        for col, index in enumerate(picks):
            ax = axes[row, col]
            ax.imshow(video.frames[index], interpolation="nearest")
            time = None if video.canonical_time is None else float(video.canonical_time[index])
            ax.set_title(frame_title(store, video.action, int(video.labels[index]), time), fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
        axes[row, 0].set_ylabel(f"{video_id}\n{video.action}", fontsize=7)
    fig.tight_layout()
    return save_figure(fig, path, dpi=None, bbox_inches=None)
