"""Pouring (Sermanet et al. 2018; phase labels by TCC): one action, 5 phases, 70 train / 14 val.

Two source layouts (``bench data prepare pouring --src PATH`` finds which one PATH holds):

- TCC's TFRecords ``pouring_train-0-of-2``, ``pouring_train-1-of-2``, ``pouring_val-0-of-1``
  (with or without ``.tfrecord``): one tf.train.SequenceExample per video, context ``name``
  (bytes) and ``len``, feature lists ``video`` (one JPEG per frame) and ``frame_labels`` (one
  int64 per frame); read by datasets/_tfrecord.py, no TensorFlow needed
  (google-research tcc: dataset_preparation/dataset_utils.py);
- CARL's conversion: ``train.pkl``, ``val.pkl``, ``videos/<name>.mp4`` (datasets/_carl.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from bench.errors import DataError
from bench.registry import register_dataset
from datasets._carl import carl_sources, holds_carl_layout
from datasets._media import decode_jpeg, stack_frames
from datasets._real import SPLITS, ConvertedDataset, SourceVideo, load_facts
from datasets._tfrecord import ProtoError, iter_records, parse_sequence_example, read_record_at

FACTS = load_facts(__file__)
ACTION = "pouring"
TFRECORD_FPS = 30.0


@dataclass
class PouringConfig:
    """Pouring has no options: its store is what ``bench data prepare pouring`` wrote."""


def tfrecord_files(src: Path, split: str) -> list[Path]:
    return sorted(path for path in src.glob(f"pouring_{split}-*-of-*") if path.is_file())


def parse_record(data: bytes, where: str):
    try:
        example = parse_sequence_example(data)
    except ProtoError as err:
        raise DataError(f"{where}: not a SequenceExample ({err}); obtain the TFRecord again") from err
    for key in ("video", "frame_labels"):
        if key not in example.feature_lists:
            raise DataError(f"{where}: no '{key}' feature list; this is not TCC's pouring TFRecord, obtain it again")
    if not example.context.get("name"):
        raise DataError(f"{where}: no context 'name'; this is not TCC's pouring TFRecord, obtain it again")
    return example


def read_tfrecord_video(path: Path, offset: int, number: int, where: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    example = parse_record(read_record_at(path, offset, number), where)
    frames = [decode_jpeg(values[0], size, f"{where} frame {t}") for t, values in enumerate(example.feature_lists["video"])]
    labels = np.array([values[0] if values else -1 for values in example.feature_lists["frame_labels"]], dtype=np.int64)
    return stack_frames(frames, where), labels


def tfrecord_sources(src: Path) -> list[SourceVideo]:
    sources = []
    for split in SPLITS:
        for path in tfrecord_files(src, split):
            for number, (offset, data) in enumerate(iter_records(path)):
                where = f"{path} record {number}"
                name = parse_record(data, where).context["name"][0].decode("utf-8", "replace")
                sources.append(SourceVideo(name, ACTION, split, f"{where} ({name})",
                                           partial(read_tfrecord_video, path, offset, number, f"{where} ({name})"),
                                           TFRECORD_FPS))
    return sources


def carl_entries(loaded, pkl: Path) -> list[dict]:
    if not isinstance(loaded, list):
        raise DataError(f"{pkl} holds a {type(loaded).__name__}, not CARL's Pouring list of videos; obtain it again")
    return loaded


@register_dataset("pouring")
class Pouring(ConvertedDataset):
    """Pouring: a hand pours into a cup; 5 phases (TCC's labels); bring TCC's TFRecords or CARL's pkl + mp4."""

    Config = PouringConfig
    facts = FACTS
    version = "1"
    obtain = ("TCC's Pouring TFRecords (pouring_train-*-of-*, pouring_val-*-of-*) or CARL's conversion "
              "(train.pkl, val.pkl, videos/*.mp4)")

    def layouts(self):
        return [(lambda src: any(tfrecord_files(src, split) for split in SPLITS), tfrecord_sources),
                (holds_carl_layout, partial(carl_sources, entries=carl_entries, action_of=lambda entry, pkl: ACTION))]
