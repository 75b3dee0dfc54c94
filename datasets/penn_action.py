"""PennAction (Zhang et al. 2013) with per-frame phase labels: 13 actions, 2-6 phases each,
CARL's per-action train / val lists (1140 / 966 videos).

Two source layouts (``bench data prepare penn_action --src PATH``):

- the raw release plus the phase labels::

      Penn_Action/frames/<id>/000001.jpg ...      Penn_Action/labels/<id>.mat (action, nframes, ...)
      penn_action_labels/{train,val}/<action folder>/<id>.npy   (one phase id per frame)

  ``--src`` is the folder holding both ``Penn_Action/`` and ``penn_action_labels/`` (or
  ``Penn_Action/`` itself, with ``penn_action_labels/`` inside or beside it). The label
  folders are the split (CARL's lists); their names and the .mat action names differ from
  CARL's for some actions (``bowling``, ``pushups``, ``pullups``, ``squats``): mapped by the
  facts file. strum_guitar and jump_rope are excluded (jump_rope has no phase labels).
- CARL's conversion: ``train.pkl``, ``val.pkl`` (a tuple: the video dicts with
  ``action_label``, and action_to_indices), ``videos/<id>_<action>.mp4`` (datasets/_carl.py).

Video ids are CARL's names, ``<id>_<action>``, in both layouts.

``mode``: ``per_action`` (the papers: one model per action, metrics averaged over the 13
models) or ``joint`` (one model for all actions, LAV's Sec. 5.5).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal

import numpy as np
import scipy.io

from bench.errors import DataError
from bench.registry import register_dataset, unknown_name_message
from datasets._carl import carl_sources, holds_carl_layout
from datasets._media import read_jpeg_folder
from datasets._real import SPLITS, ConvertedDataset, SourceVideo, load_facts

FACTS = load_facts(__file__)
RAW_FPS = 30.0


@dataclass
class PennActionConfig:
    """``mode``: per_action (one model per action, the papers) or joint (one model for all)."""

    mode: Literal["per_action", "joint"] = "per_action"


def canonical_action(name: str) -> str:
    return FACTS["label_folder_aliases"].get(name, name)


def check_action(name: str, where: str) -> str:
    action = canonical_action(name)
    if action not in FACTS["actions"]:
        raise DataError(f"{where}: {unknown_name_message('PennAction action', name, FACTS['actions'])}; "
                        "rename or remove it")
    return action


def load_npy(path: Path) -> np.ndarray:
    try:
        return np.load(path)
    except (OSError, ValueError, EOFError) as err:
        raise DataError(f"{path} does not load as a .npy array ({err}); obtain it again") from err


def mat_action(path: Path) -> str:
    """The ``action`` field of a PennAction .mat label file."""
    try:
        return str(np.asarray(scipy.io.loadmat(path)["action"]).ravel()[0])
    except FileNotFoundError as err:
        raise DataError(f"{path} is missing; obtain Penn_Action/labels/ again") from err
    except (OSError, ValueError, KeyError, IndexError, TypeError) as err:
        raise DataError(f"{path} is not a PennAction .mat label file ({err}); obtain it again") from err


def read_raw_video(frames_dir: Path, npy: Path, size: int) -> tuple[np.ndarray, np.ndarray]:
    return read_jpeg_folder(frames_dir, size), load_npy(npy)


def raw_roots(src: Path) -> tuple[Path, Path] | None:
    """(Penn_Action folder, penn_action_labels folder) under ``src``, or None."""
    for penn in (src / "Penn_Action", src):
        if (penn / "frames").is_dir() and (penn / "labels").is_dir():
            for labels in (src / "penn_action_labels", penn / "penn_action_labels", penn.parent / "penn_action_labels"):
                if labels.is_dir():
                    return penn, labels
    return None


def raw_sources(penn: Path, label_root: Path) -> list[SourceVideo]:
    sources = []
    for split in SPLITS:
        split_dir = label_root / split
        folders = sorted(p for p in split_dir.iterdir() if p.is_dir()) if split_dir.is_dir() else []
        for folder in folders:
            if canonical_action(folder.name) in FACTS["excluded"]:
                continue
            action = check_action(folder.name, str(folder))
            for npy in sorted(folder.glob("*.npy")):
                frames_dir = penn / "frames" / npy.stem
                if not frames_dir.is_dir():
                    raise DataError(f"{npy} labels video {npy.stem}, but {frames_dir} does not exist; "
                                    f"obtain Penn_Action/frames/{npy.stem} or remove the label file")
                mat = penn / "labels" / f"{npy.stem}.mat"
                named = mat_action(mat)
                if canonical_action(named) != action:
                    raise DataError(f"{npy} is filed under {folder.name}, but {mat} says action '{named}'; "
                                    "move the label file to its action's folder")
                sources.append(SourceVideo(f"{npy.stem}_{action}", action, split, str(npy),
                                           partial(read_raw_video, frames_dir, npy), RAW_FPS))
    return sources


def carl_entries(loaded, pkl: Path) -> list[dict]:
    if not (isinstance(loaded, tuple) and len(loaded) == 2 and isinstance(loaded[0], list)):
        raise DataError(f"{pkl} does not hold CARL's PennAction tuple (videos, action_to_indices); obtain it again")
    return loaded[0]


def carl_action(entry: dict, pkl: Path) -> str:
    index = entry.get("action_label")
    if not isinstance(index, int) or not 0 <= index < len(FACTS["actions"]):
        raise DataError(f"{pkl}: entry '{entry['name']}' has action_label {index!r}, not one of CARL's "
                        f"{len(FACTS['actions'])} actions (0..{len(FACTS['actions']) - 1}); obtain the pkl again")
    return FACTS["actions"][index]


@register_dataset("penn_action")
class PennAction(ConvertedDataset):
    """PennAction: 13 sports actions, 2-6 phases each; per_action mode (one model per action) or joint."""

    Config = PennActionConfig
    facts = FACTS
    version = "1"
    obtain = ("the PennAction release (Penn_Action/frames/, Penn_Action/labels/) with the phase labels "
              "(penn_action_labels/{train,val}/<action>/<id>.npy), or CARL's conversion (train.pkl, val.pkl, videos/*.mp4)")
    preset_defaults = FACTS["preset_defaults"]
    method_action_defaults = FACTS["method_action_defaults"]

    def layouts(self):
        return [(lambda src: raw_roots(src) is not None, lambda src: raw_sources(*raw_roots(src))),
                (holds_carl_layout, partial(carl_sources, entries=carl_entries, action_of=carl_action))]
