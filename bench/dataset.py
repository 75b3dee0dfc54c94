"""The dataset plugin interface: one file in datasets/ per dataset.

A dataset adapter turns its source into the video store (bench.store) and says how it
should be evaluated and trained by default:

- ``Config``: a dataclass (e.g. the synthetic generator's seed and difficulty);
- ``open(data_root)``: return the prepared VideoStore (the synthetic dataset generates it
  on first use; real datasets raise DataError naming ``bench data prepare``);
- ``prepare(src, data_root, options)``: convert a source layout into the store (real
  datasets, see datasets/_real.py);
- ``trainer_defaults``: trainer overrides for this dataset (e.g. fewer steps on CPU data);
- ``protocol_defaults``: protocol overrides under every preset (e.g. no progression with
  repeated phases);
- ``preset_defaults``: protocol overrides under one preset only, where a paper's code uses
  per-dataset values (e.g. CARL's Kendall's tau stride 2 on PennAction:
  ``{"carl": {"tau_stride": 2, "ap_stride": 2}}``).
- ``mode`` (a Config field, where a dataset offers it): ``per_action`` trains one model per
  action (PennAction's papers), see ``is_per_action``; ``method_action_defaults``: per
  method, per action, the Config overrides its paper gives for that mode.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from rich.console import Console

from bench.errors import DataError
from bench.store import VideoStore


@dataclass
class PrepareOptions:
    """How ``bench data prepare`` converts: frames at ``size`` x ``size``; ``resample``
    frame/label counts that differ (else they stop the prepare); progress on ``console``."""

    size: int
    resample: bool = False
    console: Console | None = None


def is_per_action(dataset_cfg: Any) -> bool:
    """True when a dataset's config asks for one model per action (``mode: per_action``)."""
    return getattr(dataset_cfg, "mode", None) == "per_action"


class Dataset:
    name: ClassVar[str]
    Config: ClassVar[type]
    trainer_defaults: ClassVar[dict[str, Any]] = {}
    protocol_defaults: ClassVar[dict[str, Any]] = {}
    preset_defaults: ClassVar[dict[str, dict[str, Any]]] = {}
    method_action_defaults: ClassVar[dict[str, dict[str, dict[str, Any]]]] = {}

    def __init__(self, cfg: Any):
        self.cfg = cfg

    def open(self, data_root: Path) -> VideoStore:
        raise NotImplementedError

    def prepare(self, src: Path, data_root: Path, options: PrepareOptions) -> VideoStore:
        raise DataError(f"dataset {self.name} is generated, not converted; it needs no prepare "
                        f"(`bench data show {self.name}` generates it)")
