"""A run: open the data, train the method, embed the splits, evaluate, write the record.

Run records live in ``results/runs/<dataset>/<method>[+variant]/<run id>/``; the run id is
a hash of the resolved config and the dataset version, so asking for a finished run again
skips it, and an interrupted run resumes from ``results/checkpoints/<run id>.pt``. A run
directory is written under a temporary name and renamed into place: it is complete or
absent.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch
import yaml
from rich.console import Console

from bench.config import stable_hash
from bench.dataset import Dataset
from bench.environment import environment, peak_memory_mb
from bench.figures import plot_training_curve
from bench.progress import make_progress
from bench.protocol.evaluate import evaluate
from bench.registry import DATASETS
from bench.run_config import ResolvedConfig
from bench.store import VideoStore
from bench.train import resolve_device
from bench.training_units import (
    TrainedUnit,
    checkpoint_path,
    combined_loss_log,
    run_label,
    train_and_embed,
    training_summary,
    training_units,
)

RECORD = "record.json"


@dataclass
class RunOutcome:
    record: dict
    directory: Path
    skipped: bool


def open_dataset(resolved: ResolvedConfig, data_root: Path) -> VideoStore:
    dataset: Dataset = DATASETS.get(resolved.dataset_name)(resolved.dataset)
    return dataset.open(data_root)


def run_id(resolved: ResolvedConfig, store: VideoStore) -> str:
    return stable_hash({"config": resolved.as_dict(), "data_version": store.version})


def finished_runs(results_root: Path) -> list[Path]:
    """Every finished run directory under results/runs (temporary directories ignored), sorted."""
    return sorted(path.parent for path in (Path(results_root) / "runs").glob(f"*/*/[!.]*/{RECORD}"))


def run_directory(results_root: Path, resolved: ResolvedConfig, identifier: str) -> Path:
    return Path(results_root) / "runs" / resolved.dataset_name / run_label(resolved) / identifier


def _write_loss_log(path: Path, log: list[dict[str, float]]) -> None:
    columns = list(dict.fromkeys(key for row in log for key in row))
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(log)


def _write_run_directory(final: Path, record: dict, loss_log: list[dict[str, float]], modules: dict) -> None:
    """Write every file of a run under a temporary name, then rename it into place."""
    tmp = final.parent / f".{final.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    try:
        (tmp / "config.yaml").write_text(yaml.safe_dump(record["config"], sort_keys=False))
        (tmp / "metrics.json").write_text(json.dumps(record["metrics"], indent=1))
        _write_loss_log(tmp / "loss_log.csv", loss_log)
        if loss_log:
            plot_training_curve(loss_log, tmp / "training_curve.png", f"{record['label']} on {record['dataset']}")
        torch.save(modules, tmp / "model.pt")
        (tmp / RECORD).write_text(json.dumps(record, indent=1))
        if final.exists():
            shutil.rmtree(final)
        os.rename(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def execute(resolved: ResolvedConfig, results_root: Path, data_root: Path, force: bool = False,
            console: Console | None = None) -> RunOutcome:
    """Run one resolved config end to end (or return the finished record). A per_action dataset
    trains one model per action (its own checkpoint each) and evaluates every action's
    embeddings from its own model; the protocol averages the metrics over actions."""
    console = console or Console()
    started = time.perf_counter()
    store = open_dataset(resolved, data_root)
    identifier = run_id(resolved, store)
    final = run_directory(results_root, resolved, identifier)
    if (final / RECORD).is_file() and not force:
        console.print(f"[dim]{run_label(resolved)} seed {resolved.seed}: finished run {identifier} found, skipped")
        return RunOutcome(json.loads((final / RECORD).read_text()), final, skipped=True)

    device = resolve_device(resolved.trainer.device)
    train_ids, eval_ids = store.split("train"), store.split("val")
    checkpoints = Path(results_root) / "checkpoints"
    label = run_label(resolved)

    units: dict[str | None, TrainedUnit] = {}
    with make_progress(console) as progress:
        for action, unit_train, unit_eval in training_units(store, resolved.per_action, train_ids, eval_ids):
            checkpoint = checkpoint_path(checkpoints, identifier, action)
            units[action] = train_and_embed(resolved, action, store, unit_train, unit_eval, checkpoint, progress,
                                            data_root)
        embedded = time.perf_counter()
        task = progress.add_task(f"evaluate {label}", total=None, info="")
        result = evaluate([e for u in units.values() for e in u.train_emb], [e for u in units.values() for e in u.eval_emb],
                          resolved.protocol, resolved.seed, lambda message: progress.update(task, info=message))
        progress.update(task, total=1, completed=1, info="done")
    finished = time.perf_counter()

    config = resolved.as_dict()
    record = {
        "run_id": identifier, "label": label, "method": resolved.method_name, "variant": resolved.variant,
        "dataset": resolved.dataset_name, "encoder": resolved.encoder_name, "protocol": resolved.protocol.name,
        "seed": resolved.seed, "config": config, "config_hash": stable_hash(config),
        "data": {"name": store.name, "version": store.version, "store": str(store.root),
                 "mode": getattr(resolved.dataset, "mode", None),
                 "splits": {"train": train_ids, "val": eval_ids},
                 "split_hash": stable_hash({"train": train_ids, "val": eval_ids})},
        **result.record_fields(),
        "training": training_summary(units),
        "timing": {"train_s": round(sum(u.train_s for u in units.values()), 3),
                   "embed_s": round(sum(u.embed_s for u in units.values()), 3),
                   "eval_s": round(finished - embedded, 3), "total_s": round(finished - started, 3)},
        "memory": peak_memory_mb(device),
        "environment": environment(device),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    modules = units[None].modules if None in units else {action: unit.modules for action, unit in units.items()}
    _write_run_directory(final, record, combined_loss_log(units), modules)
    for action in units:
        checkpoint_path(checkpoints, identifier, action).unlink(missing_ok=True)
    return RunOutcome(record, final, skipped=False)
