"""``bench data prepare | info | show``: convert a dataset's source files, describe a store,
draw a contact sheet. bench/cli.py parses the arguments and calls these."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from bench.dataset import Dataset, PrepareOptions
from bench.registry import DATASETS
from bench.run_config import resolve
from bench.store import VideoStore


def dataset_and_size(name: str, overrides: list[str]) -> tuple[Dataset, int]:
    """The dataset plugin with its resolved config, and the encoder's image size (the store's frame size)."""
    resolved = resolve(dataset=name, overrides=overrides)
    return DATASETS.get(resolved.dataset_name)(resolved.dataset), resolved.encoder.image_size


def prepare(name: str, src: Path, data_root: Path, overrides: list[str], resample: bool, console: Console) -> VideoStore:
    """Convert ``src`` into ``<data_root>/<name>`` (frames at the encoder's image size)."""
    dataset, size = dataset_and_size(name, overrides)
    store = dataset.prepare(src, data_root, PrepareOptions(size=size, resample=resample, console=console))
    console.print(f"prepared {store.name} (version {store.version}) at {store.root}")
    return store


def info_table(store: VideoStore) -> Table:
    """Per action and for all: phases, videos per split, frames, lengths, and the papers' split
    sizes where known (the "all" row: the whole dataset's, whichever actions the store holds)."""
    expected = dict(store.manifest.get("paper_split_sizes", {}))
    if expected:
        expected["all"] = {split: sum(sizes[split] for sizes in expected.values()) for split in ("train", "val")}
    table = Table(title=f"{store.name} v{store.version} ({store.root})")
    for column in ("action", "phases", "train", "val", "tune", "frames", "length min-max", "paper train/val"):
        table.add_column(column, justify="left" if column == "action" else "right")
    splits = {split: store.split(split) for split in ("train", "val", "tune")}
    rows = [*store.actions, "all"]
    for action in rows:
        ids = {split: [v for v in members if action == "all" or store.action_of(v) == action]
               for split, members in splits.items()}
        lengths = np.array([store.length(v) for v in ids["train"] + ids["val"]] or [0])
        paper = expected.get(action)
        table.add_row(action, "" if action == "all" else str(len(store.phases(action))),
                      *(str(len(ids[split])) for split in ("train", "val", "tune")),
                      str(int(lengths.sum())), f"{lengths.min()}-{lengths.max()}",
                      f"{paper['train']}/{paper['val']}" if paper else "-",
                      style="bold" if action == "all" else "")
    return table


def info(name: str, data_root: Path, overrides: list[str], console: Console) -> None:
    dataset, _ = dataset_and_size(name, overrides)
    store = dataset.open(data_root)
    store.check()
    console.print(info_table(store))
    resampled = store.manifest.get("resampled") or {}
    if resampled:
        console.print(f"{len(resampled)} videos had frame and label counts that differ and were resampled: "
                      + ", ".join(f"{v} ({c['frames']} frames, {c['labels']} labels)" for v, c in resampled.items()))


def show(name: str, data_root: Path, overrides: list[str], out: Path, console: Console) -> Path:
    from bench.contact_sheet import write_contact_sheet  # noqa: PLC0415 - matplotlib only when drawing

    dataset, _ = dataset_and_size(name, overrides)
    store = dataset.open(data_root)
    store.check()
    path = write_contact_sheet(store, out)
    console.print(f"contact sheet: {path}")
    return path
