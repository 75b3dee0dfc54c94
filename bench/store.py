"""The video store: the one on-disk format the rest of the harness reads.

Layout of one prepared dataset (a directory)::

    manifest.json              name, version, actions, phases per action, splits,
                               per-video action / length / fps, has_canonical_time
    frames/<video id>.npy      uint8 (L, H, W, 3), opened memory-mapped
    labels/<video id>.npy      int64 (L,), phase index within its action, -1 = unlabelled
    canonical_time/<id>.npy    float32 (L,) in [0, 1] (synthetic data only)

``write_store`` writes into a temporary sibling directory and renames it into place, so a
store is complete or absent. The tune split is a seeded 20 % of the training videos.
``VideoStore.check`` reads every array's header (not its data) and rejects a store whose
files disagree with the manifest (missing, empty, corrupt, wrong dtype, shape or
resolution), so a damaged store is never trained on. A manifest with ``"generated": true``
(the synthetic dataset) is rebuilt by deleting it; others by ``bench data prepare``.
"""
from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.atomic import replace_directory, temporary_sibling
from bench.errors import DataError

MANIFEST = "manifest.json"
MANIFEST_KEYS = ("name", "version", "actions", "phases", "splits", "videos")


@dataclass
class Video:
    """One video: frames (L, H, W, 3) uint8, labels (L,), optional canonical time (L,)."""

    video_id: str
    action: str
    frames: np.ndarray
    labels: np.ndarray
    canonical_time: np.ndarray | None = None
    fps: float = 30.0

    @property
    def length(self) -> int:
        return int(self.frames.shape[0])


def tune_split(train_ids: list[str], seed: int, fraction: float = 0.2) -> list[str]:
    """A fixed, seeded ``fraction`` of the training videos (at least one), sorted."""
    if not train_ids:
        return []
    rng = np.random.default_rng(seed)
    count = max(1, int(round(fraction * len(train_ids))))
    chosen = rng.choice(len(train_ids), size=count, replace=False)
    return sorted(train_ids[i] for i in chosen)


def write_store(root: Path, name: str, version: str, phases: dict[str, list[str]],
                splits: dict[str, list[str]], videos: Iterable[Video], extra: dict | None = None) -> VideoStore:
    """Write videos and a manifest atomically to ``root``; return the opened store."""
    root = Path(root)
    tmp = temporary_sibling(root)
    try:
        for sub in ("frames", "labels", "canonical_time"):
            (tmp / sub).mkdir(parents=True)
        entries = {}
        has_time = True
        for video in videos:
            if video.frames.dtype != np.uint8 or video.frames.ndim != 4 or video.frames.shape[-1] != 3:
                raise DataError(f"video {video.video_id}: frames must be uint8 (L, H, W, 3), got "
                                f"{video.frames.dtype} {video.frames.shape}; convert them before writing")
            if len(video.labels) != video.length:
                raise DataError(f"video {video.video_id}: {video.length} frames but {len(video.labels)} labels; "
                                "resample the labels to the frame count")
            np.save(tmp / "frames" / f"{video.video_id}.npy", video.frames)
            np.save(tmp / "labels" / f"{video.video_id}.npy", np.asarray(video.labels, dtype=np.int64))
            if video.canonical_time is None:
                has_time = False
            else:
                np.save(tmp / "canonical_time" / f"{video.video_id}.npy",
                        np.asarray(video.canonical_time, dtype=np.float32))
            entries[video.video_id] = {"action": video.action, "length": video.length, "fps": video.fps,
                                       "height": int(video.frames.shape[1]), "width": int(video.frames.shape[2])}
        missing = [v for ids in splits.values() for v in ids if v not in entries]
        if missing:
            raise DataError(f"split lists video '{missing[0]}' that was not written; fix the split lists")
        manifest = {"name": name, "version": version, "actions": sorted(phases), "phases": phases,
                    "splits": splits, "videos": entries, "has_canonical_time": has_time, **(extra or {})}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1))
        replace_directory(tmp, root)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return VideoStore(root)


class VideoStore:
    """Read access to a written store; frames are memory-mapped."""

    def __init__(self, root: Path):
        self.root = Path(root)
        path = self.root / MANIFEST
        if not path.is_file():
            raise DataError(f"no video store at {self.root} (missing {MANIFEST}); run `bench data prepare` for it")
        try:
            self.manifest = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise DataError(f"{path} is corrupt ({type(err).__name__}); delete {self.root} and prepare "
                            "the dataset again") from err
        if not isinstance(self.manifest, dict) or any(key not in self.manifest for key in MANIFEST_KEYS):
            raise DataError(f"{path} is not a video-store manifest (it needs {', '.join(MANIFEST_KEYS)}); "
                            f"delete {self.root} and prepare the dataset again")

    @property
    def remedy(self) -> str:
        """How to rebuild this store, for error messages."""
        if self.manifest.get("generated"):
            return f"delete {self.root} and run again (it is regenerated)"
        return f"delete {self.root} and run `bench data prepare {self.name} --src PATH` again"

    def check(self) -> None:
        """Raise DataError naming the first array file that disagrees with the manifest:
        missing, empty or corrupt, not uint8 (L, H, W, 3) frames of the manifest's length and
        resolution, or not (L,) labels. Reads headers only (memory-mapped)."""
        for video_id, entry in self.manifest["videos"].items():
            expected = (entry["length"], entry["height"], entry["width"], 3)
            frames = self._load("frames", video_id, mmap=True)
            path = self.root / "frames" / f"{video_id}.npy"
            if frames.dtype != np.uint8 or frames.shape != expected:
                raise DataError(f"{path} holds {frames.dtype} {frames.shape} but the manifest says uint8 "
                                f"{expected}; the store is damaged: {self.remedy}")
            labels = self._load("labels", video_id, mmap=True)
            if labels.shape != (entry["length"],):
                raise DataError(f"{self.root / 'labels' / f'{video_id}.npy'} holds {labels.shape} labels but the "
                                f"manifest says ({entry['length']},); the store is damaged: {self.remedy}")

    @property
    def name(self) -> str:
        return self.manifest["name"]

    @property
    def version(self) -> str:
        return self.manifest["version"]

    @property
    def actions(self) -> list[str]:
        return self.manifest["actions"]

    def phases(self, action: str) -> list[str]:
        return self.manifest["phases"][action]

    def split(self, name: str) -> list[str]:
        splits = self.manifest["splits"]
        if name not in splits:
            raise DataError(f"dataset {self.name} has no split '{name}'; it has {', '.join(splits)}")
        return list(splits[name])

    def fit_and_score(self, split: str) -> tuple[list[str], list[str]]:
        """(training ids, scored ids) of an evaluation split: ``val`` trains on the training
        split and scores the evaluation split; ``tune`` trains on the training split minus the
        tune split (a seeded 20 % of it) and scores the tune split, so tuning never sees val."""
        train = self.split("train")
        if split == "val":
            return train, self.split("val")
        if split != "tune":
            raise DataError(f"unknown evaluation split '{split}'; use val or tune")
        tune = self.split("tune")
        return [v for v in train if v not in set(tune)], tune

    def info(self, video_id: str) -> dict:
        return self.manifest["videos"][video_id]

    def action_of(self, video_id: str) -> str:
        return self.info(video_id)["action"]

    def length(self, video_id: str) -> int:
        return int(self.info(video_id)["length"])

    def _load(self, sub: str, video_id: str, mmap: bool = False) -> np.ndarray:
        path = self.root / sub / f"{video_id}.npy"
        if path.is_file() and path.stat().st_size == 0:
            raise DataError(f"{path} is empty (0 bytes); the store is damaged: {self.remedy}")
        try:
            return np.load(path, mmap_mode="r" if mmap else None)
        except FileNotFoundError as err:
            raise DataError(f"{path} is missing; the store is damaged: {self.remedy}") from err
        except (ValueError, EOFError, OSError) as err:
            raise DataError(f"{path} is not a readable .npy array ({type(err).__name__}); the store is damaged: "
                            f"{self.remedy}") from err

    def frames(self, video_id: str) -> np.ndarray:
        """(L, H, W, 3) uint8, memory-mapped."""
        return self._load("frames", video_id, mmap=True)

    def labels(self, video_id: str) -> np.ndarray:
        return self._load("labels", video_id)

    def canonical_time(self, video_id: str) -> np.ndarray | None:
        if not self.manifest.get("has_canonical_time"):
            return None
        return self._load("canonical_time", video_id)

    def video(self, video_id: str) -> Video:
        frames = self.frames(video_id)
        labels = self.labels(video_id)
        if len(labels) != frames.shape[0]:
            raise DataError(f"video {video_id}: {frames.shape[0]} frames but {len(labels)} labels; "
                            f"the store is damaged: {self.remedy}")
        return Video(video_id, self.action_of(video_id), frames, labels,
                     self.canonical_time(video_id), self.info(video_id).get("fps", 30.0))
