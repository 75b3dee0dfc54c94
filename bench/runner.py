"""A run: open the data, train the method, embed the splits, evaluate, write the record.

Run records live in ``results/runs/<dataset>/<method>[+variant]/<run id>/``; the run id is
a hash of the resolved config and the dataset version, so asking for a finished run again
skips it, and an interrupted run resumes from ``results/checkpoints/<run id>.pt``. A run
directory is written under a temporary name and renamed into place: it is complete or
absent. Everything the user can get wrong (device, data files, protocol values the data
cannot serve) is checked before anything is written. One process at a time works on a run
(``results/locks/<run id>.lock``, bench/locks.py): a second asks waits, then finds the record.
Non-finite metrics are written as JSON null.

A run scores the ``val`` split (trained on ``train``) or, for a tuning trial, the ``tune``
split (trained on ``train`` minus ``tune``; its id hashes the split too). A trial's
``watch`` may stop training early (``StopEarly``, a pruned trial): the run directory then
records ``status: pruned`` with the step and the values that decided it, and no metrics.
"""
from __future__ import annotations

import csv
import json
import math
import shutil
import signal
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import yaml
from rich.console import Console

from bench.atomic import no_space_is_an_error, replace_directory, temporary_sibling, torch_bytes
from bench.config import stable_hash
from bench.dataset import Dataset
from bench.environment import environment, peak_memory_mb
from bench.errors import ConfigError, DataError
from bench.figures import plot_training_curve
from bench.interrupts import RunInterrupted, TrainingStopped, signal_name
from bench.locks import FileLock
from bench.progress import make_progress
from bench.protocol.config import ProtocolConfig
from bench.protocol.evaluate import evaluate
from bench.registry import DATASETS
from bench.run_config import ResolvedConfig
from bench.store import VideoStore
from bench.train import resolve_device
from bench.training_units import (
    TrainedUnit,
    Watch,
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

    @property
    def pruned(self) -> bool:
        return self.record.get("status") == PRUNED


PRUNED = "pruned"


class StopEarly(Exception):  # noqa: N818 - a control-flow signal, like StopIteration
    """Raised by a run's ``watch`` to end training at ``step``: the run is recorded as pruned,
    with ``values`` (what decided it) in its record."""

    def __init__(self, step: int, values: dict):
        super().__init__(f"stopped early at step {step}")
        self.step = step
        self.values = values


def open_dataset(resolved: ResolvedConfig, data_root: Path) -> VideoStore:
    dataset: Dataset = DATASETS.get(resolved.dataset_name)(resolved.dataset)
    return dataset.open(data_root)


def run_id(resolved: ResolvedConfig, store: VideoStore, split: str = "val", tuned: dict | None = None) -> str:
    """The hash of the config and data version (and of the split and the study a tuned config
    came from, when there is one: a default and a tuned run never share an id)."""
    tuning = ({"split": split} if split != "val" else {}) | ({"tuned": tuned} if tuned else {})
    return stable_hash({"config": resolved.as_dict(), "data_version": store.version, **tuning})


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


def json_ready(value: Any) -> Any:
    """``value`` with every NaN or infinite float replaced by None (JSON null, not NaN)."""
    if isinstance(value, dict):
        return {key: json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _write_run_directory(final: Path, record: dict, loss_log: list[dict[str, float]], modules: dict | None) -> None:
    """Write every file of a run (the weights unless ``modules`` is None) under a temporary
    name, then rename it into place."""
    tmp = temporary_sibling(final)
    tmp.mkdir(parents=True)
    try:
        (tmp / "config.yaml").write_text(yaml.safe_dump(record["config"], sort_keys=False))
        (tmp / "metrics.json").write_text(json.dumps(record["metrics"], indent=1, allow_nan=False))
        _write_loss_log(tmp / "loss_log.csv", loss_log)
        if loss_log:
            plot_training_curve(loss_log, tmp / "training_curve.png", f"{record['label']} on {record['dataset']}")
        if modules is not None:
            (tmp / "model.pt").write_bytes(torch_bytes(modules))
        (tmp / RECORD).write_text(json.dumps(record, indent=1, allow_nan=False))
        replace_directory(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)


def read_record(directory: Path) -> dict | None:
    """The finished record in a run directory, None when there is none; a corrupt one is a
    DataError naming it."""
    path = directory / RECORD
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as err:
        raise DataError(f"run record {path} is corrupt ({type(err).__name__}); delete {directory} "
                        "or rerun with --force") from err
    if not isinstance(record, dict) or "metrics" not in record:
        raise DataError(f"run record {path} is not a run record; delete {directory} or rerun with --force")
    return record


def check_protocol_fits(protocol: ProtocolConfig, store: VideoStore) -> None:
    """Raise ConfigError for protocol values that no action of this dataset can serve:
    few-shot counts above every action's number of videos the classifier is fitted on (the
    training split, or the evaluation split where the preset fits there)."""
    split = "train" if protocol.classifier_fit_split == "train" else "val"
    counts = {action: 0 for action in store.actions}
    for video_id in store.split(split):
        counts[store.action_of(video_id)] += 1
    most = max(counts.values(), default=0)
    too_many = [n for n in protocol.few_shot if n > most]
    if too_many:
        raise ConfigError(f"protocol.few_shot={list(protocol.few_shot)} asks for {too_many[0]} {split} videos "
                          f"of an action, but no action of {store.name} has more than {most}; "
                          f"keep values <= {most}, e.g. --set protocol.few_shot=[1]")


def kept_checkpoints(checkpoints: Path, identifier: str) -> list[Path]:
    """The checkpoints of a run (one, or one per action of a per_action run)."""
    return sorted(Path(checkpoints).glob(f"{identifier}*.pt"))


def interruption(signum: int, checkpoints: Path, identifier: str, stop: TrainingStopped | None,
                 checkpoint: Path | None) -> RunInterrupted:
    """The one truthful line after a signal: what was kept and what rerunning does."""
    name = signal_name(signum)
    if stop is not None and stop.step is not None:
        return RunInterrupted(signum, f"interrupted by {name} during training: checkpoint {checkpoint} holds step "
                                      f"{stop.step}; run the same command again to resume from step {stop.step}")
    kept = kept_checkpoints(checkpoints, identifier)
    if not kept:
        return RunInterrupted(signum, f"interrupted by {name}: nothing to resume; "
                                      "run the same command again to start the run")
    return RunInterrupted(signum, f"interrupted by {name}: checkpoint {', '.join(map(str, kept))} is kept; "
                                  "run the same command again to resume from it")


def execute(resolved: ResolvedConfig, results_root: Path, data_root: Path, force: bool = False,
            console: Console | None = None, split: str = "val", watch: Watch | None = None,
            tuned: dict | None = None) -> RunOutcome:
    """Run one resolved config end to end (or return the finished record). A per_action dataset
    trains one model per action (its own checkpoint each) and evaluates every action's
    embeddings from its own model; the protocol averages the metrics over actions. ``split``:
    the scored split (val, or tune for a tuning trial); ``watch``: see training_units.Watch;
    ``tuned``: where a tuned config came from (its study and trial), kept in the record."""
    console = console or Console()
    device = resolve_device(resolved.trainer.device)
    store = open_dataset(resolved, data_root)
    store.check()
    check_protocol_fits(resolved.protocol, store)
    store.fit_and_score(split)  # an unknown split is named before anything is written
    identifier = run_id(resolved, store, split, tuned)
    final = run_directory(results_root, resolved, identifier)
    label = run_label(resolved)
    skip = f"[dim]{label} seed {resolved.seed}: finished run {identifier} found at {final}, skipped"
    record = None if force else read_record(final)
    if record is not None:
        console.print(skip)
        return RunOutcome(record, final, skipped=True)
    lock = Path(results_root) / "locks" / f"{identifier}.lock"
    with FileLock(lock, f"run {identifier} ({label} seed {resolved.seed})", on_wait=console.print):
        record = None if force else read_record(final)  # another process may have finished it meanwhile
        if record is not None:
            console.print(skip)
            return RunOutcome(record, final, skipped=True)
        console.print(f"run {identifier}: {label} on {resolved.dataset_name}, seed {resolved.seed}")
        return _train_and_record(resolved, store, device, identifier, final, results_root, data_root, console,
                                 split, watch, tuned)


def _describe(resolved: ResolvedConfig, store: VideoStore, identifier: str, split: str, train_ids: list[str],
              eval_ids: list[str], tuned: dict | None = None) -> dict:
    """What every record of a run states: its config, seed, data and splits, whatever became of it."""
    config = resolved.as_dict()
    splits = {"train": train_ids, split: eval_ids}
    return {"run_id": identifier, "label": run_label(resolved), "method": resolved.method_name,
            "variant": resolved.variant, "dataset": resolved.dataset_name, "encoder": resolved.encoder_name,
            "protocol": resolved.protocol.name, "seed": resolved.seed, "split": split, "config": config,
            **({"tuned": tuned} if tuned else {}),
            "config_hash": stable_hash(config),
            "data": {"name": store.name, "version": store.version, "store": str(store.root),
                     "mode": getattr(resolved.dataset, "mode", None), "splits": splits,
                     "split_hash": stable_hash(splits)}}


def _train_and_record(resolved: ResolvedConfig, store: VideoStore, device: torch.device, identifier: str,
                      final: Path, results_root: Path, data_root: Path, console: Console, split: str,
                      watch: Watch | None, tuned: dict | None) -> RunOutcome:
    started = time.perf_counter()
    train_ids, eval_ids = store.fit_and_score(split)
    checkpoints = Path(results_root) / "checkpoints"
    label = run_label(resolved)
    units: dict[str | None, TrainedUnit] = {}
    checkpoint = None
    try:
        with make_progress(console) as progress:
            for index, (action, unit_train, unit_eval) in enumerate(
                    training_units(store, resolved.per_action, train_ids, eval_ids)):
                checkpoint = checkpoint_path(checkpoints, identifier, action)
                unit_watch = None if watch is None else watch.offset(index * resolved.trainer.steps)
                units[action] = train_and_embed(resolved, action, store, unit_train, unit_eval, checkpoint, progress,
                                                data_root, unit_watch)
            embedded = time.perf_counter()
            task = progress.add_task(f"evaluate {label}", total=None, info="")
            result = evaluate([e for u in units.values() for e in u.train_emb],
                              [e for u in units.values() for e in u.eval_emb],
                              resolved.protocol, resolved.seed, lambda message: progress.update(task, info=message))
            progress.update(task, total=1, completed=1, info="done")
        finished = time.perf_counter()

        record = json_ready({
            **_describe(resolved, store, identifier, split, train_ids, eval_ids, tuned),
            **result.record_fields(),
            "training": training_summary(units),
            "timing": {"train_s": round(sum(u.train_s for u in units.values()), 3),
                       "embed_s": round(sum(u.embed_s for u in units.values()), 3),
                       "eval_s": round(finished - embedded, 3), "total_s": round(finished - started, 3)},
            "memory": peak_memory_mb(device),
            "environment": environment(device),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        })
        modules = units[None].modules if None in units else {action: unit.modules for action, unit in units.items()}
        kept = kept_checkpoints(checkpoints, identifier)
        with no_space_is_an_error(final, "; no run directory was written"
                                  + (f" and checkpoint {', '.join(map(str, kept))} is kept" if kept else "")):
            _write_run_directory(final, record, combined_loss_log(units), modules)
    except StopEarly as stop:
        return _record_pruned(resolved, store, identifier, final, split, train_ids, eval_ids, stop, checkpoints,
                              time.perf_counter() - started)
    except KeyboardInterrupt as stop:
        signum = getattr(stop, "signum", signal.SIGINT)
        raise interruption(signum, checkpoints, identifier, stop if isinstance(stop, TrainingStopped) else None,
                           checkpoint) from stop
    for path in kept_checkpoints(checkpoints, identifier):
        path.unlink(missing_ok=True)
    return RunOutcome(record, final, skipped=False)


def _record_pruned(resolved: ResolvedConfig, store: VideoStore, identifier: str, final: Path, split: str,
                   train_ids: list[str], eval_ids: list[str], stop: StopEarly, checkpoints: Path,
                   seconds: float) -> RunOutcome:
    """A run its watch stopped: recorded as pruned (no metrics, no weights), checkpoints removed."""
    record = json_ready({
        **_describe(resolved, store, identifier, split, train_ids, eval_ids),
        "status": PRUNED, "metrics": {}, "pruned": {"step": stop.step, **stop.values},
        "timing": {"total_s": round(seconds, 3)},
        "environment": environment(resolve_device(resolved.trainer.device)),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    })
    with no_space_is_an_error(final, "; no run directory was written"):
        _write_run_directory(final, record, [], None)
    for path in kept_checkpoints(checkpoints, identifier):
        path.unlink(missing_ok=True)
    return RunOutcome(record, final, skipped=False)
