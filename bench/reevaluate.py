"""``bench evaluate``: score a finished run's saved model under another protocol or split,
without retraining.

The run's resolved config (record.json) rebuilds its encoder, ``model.pt`` restores the
trained weights, every video of the fitting and scoring splits is embedded once, and each
requested protocol preset scores those embeddings. Each result is written beside the run as
``evaluations/<protocol>-<split>.json`` (atomically); the run's own record is never touched.

Splits: ``val`` fits the classifiers and regressors on the training split and scores the
evaluation split, as a run does; ``tune`` fits on the training split minus the tune split
(a seeded 20 % of the training videos, held out for tuning) and scores the tune split.
Under the run's own protocol and ``val`` the result equals the record's metrics exactly
(same embeddings, same seed).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import torch
from rich.console import Console

from bench.atomic import write_text
from bench.encoders.encoder import Encoder
from bench.environment import git_state
from bench.errors import DataError, UnknownNameError
from bench.feature_cache import open_feature_cache
from bench.progress import make_progress
from bench.protocol.config import LEAKY_PRESETS, PRESET_DESCRIPTIONS, PRESETS
from bench.protocol.evaluate import ProtocolResult, evaluate
from bench.registry import unknown_name_message
from bench.run_config import ResolvedConfig, resolve
from bench.runner import RECORD, finished_runs, json_ready, open_dataset, read_record
from bench.store import VideoStore
from bench.train import resolve_device
from bench.training_units import embed_with, saved_encoders

EVALUATIONS = "evaluations"
SPLITS = ("val", "tune")


def find_run(results_root: Path, run: str) -> Path:
    """A run directory from its path or its run id (a unique prefix is enough)."""
    path = Path(run)
    if (path / RECORD).is_file():
        return path
    matches = [path for path in finished_runs(results_root) if path.name.startswith(run)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise UnknownNameError(f"run id prefix '{run}' matches {len(matches)} runs; give more of the id")
    raise UnknownNameError(f"no finished run '{run}' under {Path(results_root) / 'runs'}; give a run directory "
                           "or a run id from `bench report` (results/runs/<dataset>/<method>/<run id>)")


def evaluation_path(run_dir: Path, protocol: str, split: str) -> Path:
    return Path(run_dir) / EVALUATIONS / f"{protocol}-{split}.json"


def load_evaluations(run_dir: Path) -> dict[tuple[str, str], dict]:
    """(protocol, split) -> the stored re-evaluation of one run."""
    out = {}
    for path in sorted((Path(run_dir) / EVALUATIONS).glob("*.json")):
        data = json.loads(path.read_text())
        out[(data["protocol"], data["split"])] = data
    return out


def load_run(run_dir: Path, protocol: str | None) -> tuple[dict, ResolvedConfig]:
    """The run's record and its resolved config, with the protocol replaced by preset ``protocol``."""
    record = read_record(run_dir)
    config = dict(record["config"])
    if protocol is not None and protocol != config["protocol"]["name"]:
        config["protocol"] = {"name": protocol}
    return record, resolve(values=config)


def split_ids(store: VideoStore, record: dict, split: str) -> tuple[list[str], list[str]]:
    """(fitting ids, scoring ids) for ``split``; the run's own train/val lists must still hold."""
    if store.fit_and_score(record.get("split", "val")) != tuple(record["data"]["splits"].values()):
        raise DataError(f"the {store.name} splits differ from those run {record['run_id']} used; "
                        "re-prepare the dataset version the run names, or rerun it")
    return store.fit_and_score(split)


@dataclass
class TrainedRun:
    """A finished run with its trained encoders restored (eval mode, on its device) and its dataset:
    ``encoders`` is {None: encoder}, or one per action for a per_action run."""

    directory: Path
    record: dict
    resolved: ResolvedConfig
    store: VideoStore
    encoders: dict[str | None, Encoder]
    device: torch.device

    def encoder_for(self, action: str) -> Encoder:
        """The encoder that embeds videos of ``action``."""
        return self.encoders[None] if None in self.encoders else self.encoders[action]


def open_trained_run(run: str, results_root: Path, data_root: Path) -> TrainedRun:
    """The run ``run`` (directory or id prefix) with its weights loaded from model.pt and the
    dataset version it was trained on; a missing model or another data version is a DataError."""
    run_dir = find_run(results_root, run)
    record, resolved = load_run(run_dir, None)
    store = open_dataset(resolved, data_root)
    if store.version != record["data"]["version"]:
        raise DataError(f"{store.name} is at version {store.version}, run {record['run_id']} used "
                        f"{record['data']['version']}; prepare that version or rerun the run")
    model_path = run_dir / "model.pt"
    if not model_path.is_file():
        raise DataError(f"{model_path} is missing (weights are not committed); rerun the run with "
                        f"`bench run --method {record['method']} --seed {record['seed']} --force` to re-create it")
    device = resolve_device(resolved.trainer.device)
    encoders = saved_encoders(resolved, torch.load(model_path, map_location="cpu", weights_only=True), device)
    for encoder in encoders.values():
        encoder.eval()
    return TrainedRun(run_dir, record, resolved, store, encoders, device)


def reevaluate(run: str, protocols: list[str | None], split: str, results_root: Path, data_root: Path,
               console: Console | None = None) -> dict[str, Path]:
    """Embed one run's splits once, score them under each protocol; return protocol -> written file."""
    console = console or Console()
    if split not in SPLITS:
        raise UnknownNameError(unknown_name_message("split", split, list(SPLITS)))
    for name in protocols:
        if name is not None and name not in PRESETS:
            raise UnknownNameError(unknown_name_message("protocol preset", name, list(PRESETS)))
    trained = open_trained_run(run, results_root, data_root)
    run_dir, record, resolved, store, encoders, device = (trained.directory, trained.record, trained.resolved,
                                                          trained.store, trained.encoders, trained.device)
    fit_ids, score_ids = split_ids(store, record, split)
    written = {}
    with make_progress(console) as progress:
        # a run trained on cached features was embedded from them: the same features here
        # (every model of a run has the same frozen part, so one cache serves them all)
        cache = open_feature_cache(next(iter(encoders.values())), store, fit_ids + score_ids, data_root, device,
                                   resolved.trainer.amp, console, progress)
        task = progress.add_task(f"embed {record['label']}", total=len(fit_ids) + len(score_ids), info="")
        advance = lambda _video_id: progress.advance(task)  # noqa: E731
        fit = embed_with(encoders, store, fit_ids, device, advance, cache)
        scored = embed_with(encoders, store, score_ids, device, advance, cache)
        for name in protocols:
            _, protocol_resolved = load_run(run_dir, name)
            cfg = protocol_resolved.protocol
            task = progress.add_task(f"evaluate {record['label']} ({cfg.name}, {split})", total=None, info="")
            result = evaluate(fit, scored, cfg, record["seed"], lambda message, t=task: progress.update(t, info=message))
            progress.update(task, total=1, completed=1, info="done")
            written[cfg.name] = write_evaluation(run_dir, record, protocol_resolved, split, result)
    return written


def write_evaluation(run_dir: Path, record: dict, resolved: ResolvedConfig, split: str,
                     result: ProtocolResult) -> Path:
    """evaluations/<protocol>-<split>.json, written under a unique temporary name and renamed."""
    name = resolved.protocol.name
    payload = {"run_id": record["run_id"], "protocol": name, "split": split, "seed": record["seed"],
               "description": PRESET_DESCRIPTIONS[name], "leak": name in LEAKY_PRESETS,
               "protocol_config": resolved.as_dict()["protocol"], **result.record_fields(),
               "git": git_state(), "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    path = evaluation_path(run_dir, name, split)
    path.parent.mkdir(exist_ok=True)
    write_text(path, json.dumps(json_ready(payload), indent=1, allow_nan=False))
    return path
