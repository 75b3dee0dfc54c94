"""CARL's converted layout (CARL_code dataset_preparation/tfrecords_to_videos.py)::

    <src>/train.pkl, <src>/val.pkl, <src>/videos/<name>.mp4   (libx264, 25 fps)

Each pkl holds a list of dicts ``id, video_file, frame_label, seq_len, name`` (PennAction
adds ``action_label``, an index into CARL's action list, and wraps the list in a tuple with
``action_to_indices``); ``frame_label`` is a torch int64 tensor, so unpickling needs torch
(imported here). ``video_file`` is relative to ``<src>``. The pickles are loaded with
Python's pickle: load only files you trust.
"""
from __future__ import annotations

import pickle
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import torch  # noqa: F401 - the pickles hold torch tensors

from bench.errors import DataError
from datasets._media import read_mp4
from datasets._real import SPLITS, SourceVideo

CARL_FPS = 25.0
ENTRY_KEYS = ("video_file", "frame_label", "name")


def load_pickle(path: Path) -> Any:
    try:
        with Path(path).open("rb") as handle:
            return pickle.load(handle)
    except (pickle.UnpicklingError, EOFError, AttributeError, ImportError, IndexError, ValueError) as err:
        raise DataError(f"{path} is not a readable pickle ({err.__class__.__name__}: {err}); "
                        "obtain it again") from err


def holds_carl_layout(src: Path) -> bool:
    return (src / "train.pkl").is_file() or (src / "val.pkl").is_file()


def read_carl_video(path: Path, labels: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    return read_mp4(path, size), labels


def carl_sources(src: Path, entries: Callable[[Any, Path], list[dict]], action_of: Callable[[dict, Path], str]
                 ) -> list[SourceVideo]:
    """Source videos of CARL's layout; ``entries`` unwraps a loaded pkl into its list of dicts,
    ``action_of`` names an entry's action (and raises for an unknown one)."""
    sources = []
    for split in SPLITS:
        pkl = src / f"{split}.pkl"
        if not pkl.is_file():
            raise DataError(f"{pkl} is missing; CARL's layout has train.pkl, val.pkl and videos/ in one folder")
        for number, entry in enumerate(entries(load_pickle(pkl), pkl)):
            missing = [key for key in ENTRY_KEYS if not isinstance(entry, dict) or key not in entry]
            if missing:
                raise DataError(f"{pkl}: entry {number} has no '{missing[0]}'; this is not CARL's pkl, obtain it again")
            video = src / entry["video_file"]
            if not video.is_file():
                raise DataError(f"{pkl}: entry '{entry['name']}' labels {video}, which does not exist; "
                                f"obtain the videos/ folder that came with {pkl.name}")
            labels = np.asarray(entry["frame_label"])
            sources.append(SourceVideo(str(entry["name"]), action_of(entry, pkl), split, str(video),
                                       partial(read_carl_video, video, labels), CARL_FPS))
    return sources
