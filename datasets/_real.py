"""What the real (converted) datasets share: facts files, the source listing, and the
conversion into the video store.

An adapter (datasets/pouring.py, penn_action.py, ikea_asm.py) lists its source as
``SourceVideo`` entries (id, action, split, the file that errors name, and a reader that
decodes its frames at a given size and returns its per-frame labels); ``convert`` writes
them into ``<data_root>/<name>/`` with ``bench.store.write_store``:

- frames uint8 (L, size, size, 3), labels int64 (L,), phases ``phase_0`` ... per action
  (the sources number the phases; none names them), splits train / val / tune (a seeded 20 %
  of train);
- the manifest also holds ``content_hash``, sha256 over every video's id, frame bytes and
  label bytes in store order, and ``version`` = ``<adapter version>-<first 12 hex digits>``,
  so a run record (whose id hashes the version) names exactly the data it saw;
- a video whose frame and label counts differ stops the conversion, unless ``resample``:
  then the longer of the two is resampled to the shorter as CARL's converter does
  (dataset_preparation/penn_action_to_tfrecords.py: element floor(j * n_long / n_short) for
  j < n_short), the video is reported on the console and listed in the manifest under
  ``resampled``;
- phases that no frame of an action carries are reported and listed under
  ``phases_without_frames`` (a subset of the data, or labels filed under the wrong action).

The store is written under a private name next to its place and renamed into place when it
is complete (an older store is replaced only then, bench.atomic.replace_directory): an
interrupted or failed prepare leaves nothing behind, and running it again starts over. One
prepare of a store at a time: a second is refused with one line (a lock file beside it).

Each adapter's facts from the papers and their code (phase counts, split sizes, per-action
defaults, protocol details) are data: ``datasets/<name>.yaml`` beside the adapter.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import yaml
from rich.console import Console

from bench.atomic import replace_directory, temporary_sibling
from bench.dataset import Dataset, PrepareOptions
from bench.errors import DataError
from bench.locks import FileLock
from bench.progress import make_progress
from bench.store import MANIFEST, Video, VideoStore, tune_split, write_store

SPLITS = ("train", "val")


def load_facts(module_file: str) -> dict[str, Any]:
    """The facts file beside an adapter module: ``datasets/<name>.yaml``."""
    return yaml.safe_load(Path(module_file).with_suffix(".yaml").read_text())


def phase_names(count: int) -> list[str]:
    return [f"phase_{k}" for k in range(count)]


@dataclass
class SourceVideo:
    """One video of a source layout; ``read(size)`` -> (frames (L, size, size, 3) uint8, labels (L',))."""

    video_id: str
    action: str
    split: str
    where: str
    read: Callable[[int], tuple[np.ndarray, np.ndarray]]
    fps: float = 30.0


def resample_as_carl(frames: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The longer of frames and labels taken at floor(j * n_long / n_short), j < n_short."""
    n_frames, n_labels = len(frames), len(labels)
    if n_frames > n_labels:
        return frames[np.arange(n_labels) * n_frames // n_labels], labels
    return frames, labels[np.arange(n_frames) * n_labels // n_frames]


def check_labels(source: SourceVideo, labels: np.ndarray, phases: int) -> np.ndarray:
    """Labels as int64, each a phase id in [0, phases) or -1 (unlabelled); whole-number floats
    are accepted (some label files store them)."""
    labels = np.asarray(labels)
    numeric = np.issubdtype(labels.dtype, np.integer) or (
        np.issubdtype(labels.dtype, np.floating) and bool(np.all(labels == np.round(labels))))
    if labels.ndim != 1 or not numeric:
        raise DataError(f"{source.where}: labels must be a 1-D array of phase ids, got {labels.dtype} {labels.shape}; "
                        "fix the label file")
    bad = labels[(labels < -1) | (labels >= phases)]
    if bad.size:
        raise DataError(f"{source.where}: phase label {int(bad[0])} is outside 0..{phases - 1} of action "
                        f"'{source.action}'; fix the label file")
    return labels.astype(np.int64)


def check_splits(sources: list[SourceVideo], src: Path, expected: str) -> dict[str, list[str]]:
    """The split lists (train, val, tune) of the sources; an empty split or a repeated id is an error."""
    splits: dict[str, list[str]] = {split: [] for split in SPLITS}
    seen: dict[str, str] = {}
    for source in sources:
        if source.video_id in seen:
            raise DataError(f"{source.where}: video id '{source.video_id}' also comes from {seen[source.video_id]}; "
                            "remove the duplicate")
        seen[source.video_id] = source.where
        splits[source.split].append(source.video_id)
    for split in SPLITS:
        if not splits[split]:
            raise DataError(f"split '{split}' has no videos in {src}; expected {expected}")
    splits["tune"] = tune_split(splits["train"], seed=0)
    return splits


def convert(name: str, version: str, sources: list[SourceVideo], phases: dict[str, list[str]], splits: dict[str, list[str]],
            root: Path, options: PrepareOptions, extra: dict[str, Any]) -> VideoStore:
    """Decode every source video and write the store at ``root`` (module docstring)."""
    console = options.console or Console(quiet=True)
    digest = hashlib.sha256()
    resampled: dict[str, dict[str, int]] = {}
    seen: dict[str, set[int]] = {action: set() for action in phases}

    def videos(advance: Callable[[], None]) -> Iterator[Video]:
        for source in sources:
            frames, labels = source.read(options.size)
            labels = check_labels(source, labels, len(phases[source.action]))
            if len(frames) != len(labels):
                if not options.resample:
                    raise DataError(f"{source.where}: {len(frames)} frames but {len(labels)} labels; rerun with "
                                    "--resample to resample the longer to the shorter as CARL does, or fix the labels")
                resampled[source.video_id] = {"frames": len(frames), "labels": len(labels)}
                console.print(f"{source.video_id}: {len(frames)} frames, {len(labels)} labels: resampled to "
                              f"{min(len(frames), len(labels))}")
                frames, labels = resample_as_carl(frames, labels)
            seen[source.action].update(int(label) for label in np.unique(labels) if label >= 0)
            for part in (source.video_id.encode(), frames.tobytes(), labels.tobytes()):
                digest.update(part)
            advance()
            yield Video(source.video_id, source.action, frames, labels, fps=source.fps)

    root = Path(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    build = temporary_sibling(root)
    lock = FileLock(root.with_name(f".{root.name}.lock"), f"preparing {root}", wait=False)
    lock.acquire()  # a second prepare of the same store at the same time is refused with one line
    try:
        with make_progress(console) as progress:
            task = progress.add_task(f"prepare {name}", total=len(sources), info="")
            write_store(build, name, version, phases, splits, videos(lambda: progress.advance(task)), extra=extra)
        manifest = json.loads((build / MANIFEST).read_text())
        content = digest.hexdigest()
        unlabelled = {action: [names[k] for k in range(len(names)) if k not in seen[action]]
                      for action, names in phases.items() if len(seen[action]) < len(names)}
        for action, names in unlabelled.items():
            console.print(f"{action}: no frame is labelled {', '.join(names)} (of {len(phases[action])} phases)")
        manifest.update(version=f"{version}-{content[:12]}", content_hash=content, resampled=resampled,
                        phases_without_frames=unlabelled, image_size=options.size)
        (build / MANIFEST).write_text(json.dumps(manifest, indent=1))
        replace_directory(build, root)
    finally:
        lock.release()
        if build.exists():
            shutil.rmtree(build)
    return VideoStore(root)


class ConvertedDataset(Dataset):
    """A dataset converted from files the user brings: ``bench data prepare NAME --src PATH``.

    Subclasses set ``facts`` (their YAML), ``version`` (bumped when the conversion changes),
    ``obtain`` (which files to get, for the messages) and list their source ``layouts``.
    """

    facts: ClassVar[dict[str, Any]]
    version: ClassVar[str]
    obtain: ClassVar[str]

    def root(self, data_root: Path) -> Path:
        return Path(data_root) / self.name

    def open(self, data_root: Path) -> VideoStore:
        root = self.root(data_root)
        if not (root / MANIFEST).is_file():
            raise DataError(f"dataset {self.name} is not prepared ({root / MANIFEST} is missing): obtain {self.obtain}, "
                            f"then run `bench data prepare {self.name} --src PATH`")
        return VideoStore(root)

    def phases(self) -> dict[str, list[str]]:
        return {action: phase_names(count) for action, count in self.facts["phases"].items()}

    def layouts(self) -> list[tuple[Callable[[Path], bool], Callable[[Path], list[SourceVideo]]]]:
        """(does ``src`` hold this layout, list its videos) per source layout, tried in order."""
        raise NotImplementedError

    def list_sources(self, src: Path) -> list[SourceVideo]:
        for holds, sources in self.layouts():
            if holds(src):
                return sources(src)
        raise DataError(f"{src} holds neither {self.obtain}; point --src at the folder that does")

    def prepare(self, src: Path, data_root: Path, options: PrepareOptions) -> VideoStore:
        src = Path(src)
        if not src.is_dir():
            raise DataError(f"--src {src} is not a directory; pass the folder that holds {self.obtain}")
        sources = self.list_sources(src)
        splits = check_splits(sources, src, self.obtain)
        present = {source.action for source in sources}
        phases = {action: names for action, names in self.phases().items() if action in present}
        return convert(self.name, self.version, sources, phases, splits, self.root(data_root), options,
                       extra={"source": str(src.resolve()), "paper_split_sizes": self.facts.get("split_sizes", {})})
