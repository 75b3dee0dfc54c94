"""IKEA ASM (Ben-Shabat et al. 2021): the Kallax_Drawer_Shelf assembly videos, 17 phases that
repeat within a video (61 train / 29 val), in the layout LAV's code reads::

    <src>/Kallax_Drawer_Shelf/{train,val}/<video>/000001.jpg ...
    <src>/npyrecords/Kallax_Drawer_Shelf_{train,val}.npy   a pickled dict {video: {'labels': array}}

The videos are those the label dicts name. Because phases repeat, the dataset turns off
phase progression and Kendall's tau (``protocol_defaults``), as LAV does. The .npy dicts
are loaded with allow_pickle: load only files you trust.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from bench.errors import DataError
from bench.registry import register_dataset
from datasets._media import read_jpeg_folder
from datasets._real import SPLITS, ConvertedDataset, SourceVideo, load_facts

FACTS = load_facts(__file__)
FPS = 30.0


@dataclass
class IkeaAsmConfig:
    """IKEA ASM has no options: its store is what ``bench data prepare ikea_asm`` wrote."""


def load_label_dict(path: Path) -> dict:
    """LAV's ``npyrecords/<set>_<split>.npy``: {video name: {'labels': 1-D int array}}."""
    if not path.is_file():
        raise DataError(f"{path} is missing; LAV's layout has npyrecords/{path.name} beside the frame folders")
    try:
        loaded = np.load(path, allow_pickle=True)
        records = loaded.item() if loaded.dtype == object and loaded.shape == () else None
    except (OSError, ValueError, EOFError) as err:
        raise DataError(f"{path} does not load ({err}); obtain it again") from err
    if not isinstance(records, dict) or not all(isinstance(v, dict) and "labels" in v for v in records.values()):
        raise DataError(f"{path} is not LAV's label dict {{video: {{'labels': array}}}}; obtain it again")
    return records


def read_lav_video(folder: Path, labels: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    return read_jpeg_folder(folder, size), labels


def lav_sources(src: Path, set_name: str) -> list[SourceVideo]:
    sources = []
    for split in SPLITS:
        npy = src / "npyrecords" / f"{set_name}_{split}.npy"
        for video, record in sorted(load_label_dict(npy).items()):
            folder = src / set_name / split / str(video)
            if not folder.is_dir():
                raise DataError(f"{npy} labels video '{video}', but {folder} does not exist; "
                                f"obtain its frames or remove it from the labels")
            sources.append(SourceVideo(str(video), set_name, split, f"{folder} (labels: {npy.name})",
                                       partial(read_lav_video, folder, np.asarray(record["labels"])), FPS))
    return sources


@register_dataset("ikea_asm")
class IkeaAsm(ConvertedDataset):
    """IKEA ASM Kallax_Drawer_Shelf: furniture assembly, 17 repeating phases (LAV's layout); no progression or tau."""

    Config = IkeaAsmConfig
    facts = FACTS
    version = "1"
    obtain = (f"IKEA ASM as LAV prepared it ({FACTS['set']}/{{train,val}}/<video>/*.jpg and "
              f"npyrecords/{FACTS['set']}_{{train,val}}.npy)")
    protocol_defaults = FACTS["protocol_defaults"]

    def layouts(self):
        return [(lambda src: True, partial(lav_sources, set_name=FACTS["set"]))]   # its own errors name the missing files
