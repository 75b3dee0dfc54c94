"""The models of one run: one for the whole dataset, or one per action where the dataset's
mode is per_action (PennAction's papers: "we train a separate model for each of the 13
action classes", LRProp Sec. 4.3; LAV Sec. 5.2). Each unit trains a fresh encoder and
method from the run's seed on its own training videos (the method config for its action,
``ResolvedConfig.method_for``), with its own checkpoint, and embeds its own videos; the run
evaluates all units' embeddings together, and the protocol averages per action, so a
per_action run reports the mean over the per-action models.
"""
from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from rich.progress import Progress

from bench.embed import embed_split
from bench.encoders.encoder import Encoder
from bench.errors import DataError
from bench.feature_cache import FeatureCache, open_feature_cache
from bench.loader import BatchLoader
from bench.protocol.config import VideoEmbedding
from bench.registry import ENCODERS, METHODS
from bench.run_config import ResolvedConfig
from bench.store import VideoStore
from bench.train import TrainResult, resolve_device, train


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def run_label(resolved: ResolvedConfig) -> str:
    return resolved.method_name + (f"+{resolved.variant}" if resolved.variant else "")


def checkpoint_path(checkpoints: Path, identifier: str, action: str | None) -> Path:
    return checkpoints / f"{identifier}{'-' + action if action else ''}.pt"


@dataclass
class TrainedUnit:
    """One trained model (the whole dataset, or one action of a per_action dataset) and its embeddings."""

    train_emb: list[VideoEmbedding]
    eval_emb: list[VideoEmbedding]
    training: TrainResult | None
    modules: dict
    train_s: float
    embed_s: float


Embedder = Callable[[], tuple[list[VideoEmbedding], list[VideoEmbedding]]]


@dataclass(frozen=True)
class Watch:
    """Looks at a model while it trains (a tuning trial's pruning): after every training step
    ``see(step, embed)`` is called with the steps done so far (plus ``step_offset``: the steps of
    the units before this one in a per_action run) and ``embed()``, which embeds the unit's
    training and scored videos with the model as it is at that step. ``see`` may stop the run
    by raising runner.StopEarly."""

    see: Callable[[int, Embedder], None]
    step_offset: int = 0

    def offset(self, steps: int) -> Watch:
        return replace(self, step_offset=self.step_offset + steps)


def train_and_embed(resolved: ResolvedConfig, action: str | None, store: VideoStore, train_ids: list[str],
                    eval_ids: list[str], checkpoint: Path, progress: Progress, data_root: Path,
                    watch: Watch | None = None) -> TrainedUnit:
    """Train one model on ``train_ids`` (with the method config for ``action``) and embed both
    splits; from the frozen-feature cache under ``data_root`` when the encoder caches
    (every unit's frozen part is the same, so they share one cache)."""
    started = time.perf_counter()
    seed_everything(resolved.seed)
    device = resolve_device(resolved.trainer.device)
    encoder = ENCODERS.get(resolved.encoder_name)(resolved.encoder)
    num_classes = len(store.phases(action)) if action else max(len(store.phases(name)) for name in store.actions)
    method = METHODS.get(resolved.method_name)(resolved.method_for(action), encoder.embed_dim, num_classes)
    label = run_label(resolved) + (f" {action}" if action else "")
    cache = open_feature_cache(encoder, store, train_ids + eval_ids, data_root, device, resolved.trainer.amp,
                               progress.console, progress)
    training = None
    if method.trainable:
        loader = BatchLoader(store, train_ids, method.batch_spec(), resolved.encoder.image_size,
                             resolved.seed, encoder.context, cache)
        checkpoint.parent.mkdir(parents=True, exist_ok=True)
        task = progress.add_task(f"train {label}", total=resolved.trainer.steps, info="")

        def embed_now() -> tuple[list[VideoEmbedding], list[VideoEmbedding]]:
            embedded = (embed_split(encoder, store, train_ids, device, None, cache),
                        embed_split(encoder, store, eval_ids, device, None, cache))
            encoder.train()  # embed_split switched it to eval mode
            return embedded

        def on_step(step: int, row: dict[str, float]) -> None:
            progress.update(task, completed=step + 1, info=f"loss {row['loss']:.4f}")
            if watch is not None:
                watch.see(watch.step_offset + step + 1, embed_now)

        training = train(encoder, method, loader, resolved.trainer, device, checkpoint, on_step,
                         say=progress.console.print)
    trained = time.perf_counter()
    encoder.to_device(device)
    task = progress.add_task(f"embed {label}", total=len(train_ids) + len(eval_ids), info="")
    advance = lambda _video_id: progress.advance(task)  # noqa: E731
    train_emb = embed_split(encoder, store, train_ids, device, advance, cache)
    eval_emb = embed_split(encoder, store, eval_ids, device, advance, cache)
    return TrainedUnit(train_emb, eval_emb, training, {"encoder": encoder.state_dict(), "method": method.state_dict()},
                       train_s=trained - started, embed_s=time.perf_counter() - trained)


def training_units(store: VideoStore, per_action: bool, train_ids: list[str], eval_ids: list[str]
                   ) -> list[tuple[str | None, list[str], list[str]]]:
    """(action or None, train ids, eval ids) of each model a run trains: one, or one per action
    that has evaluation videos."""
    if not per_action:
        return [(None, train_ids, eval_ids)]
    units = [(action, [v for v in train_ids if store.action_of(v) == action],
              [v for v in eval_ids if store.action_of(v) == action]) for action in store.actions]
    for action, unit_train, unit_eval in units:
        if unit_eval and not unit_train:
            raise DataError(f"action '{action}' of {store.name} has evaluation videos but no training videos, so "
                            "per_action mode has no model for it; add training videos or set dataset.mode=joint")
    return [unit for unit in units if unit[2]]      # a model nothing would evaluate is not trained


def training_summary(units: dict[str | None, TrainedUnit]) -> dict | None:
    """The record's "training": steps, resume point, seconds in the training loops and final loss
    (the mean over per-action models)."""
    results = {action: unit.training for action, unit in units.items() if unit.training is not None}
    if not results:
        return None
    finals = [r.loss_log[-1]["loss"] for r in results.values() if r.loss_log]
    summary = {"steps": max(r.steps for r in results.values()),
               "resumed_from": min(r.resumed_from for r in results.values()),
               "loop_s": round(sum(r.seconds for r in results.values()), 3),
               "final_loss": float(np.mean(finals)) if finals else None}
    if None not in results:
        summary["per_action"] = {action: {"steps": r.steps, "resumed_from": r.resumed_from,
                                          "final_loss": r.loss_log[-1]["loss"] if r.loss_log else None}
                                 for action, r in results.items()}
    return summary


def combined_loss_log(units: dict[str | None, TrainedUnit]) -> list[dict]:
    """Every model's loss log, rows of a per-action model tagged with its action."""
    return [({"action": action, **row} if action else row)
            for action, unit in units.items() if unit.training for row in unit.training.loss_log]


def saved_encoders(resolved: ResolvedConfig, state: dict, device: torch.device) -> dict[str | None, Encoder]:
    """The trained encoders in a run's model.pt: {None: encoder}, or one per action for a
    per_action run (whose model.pt maps each action to its modules)."""
    encoders = {}
    for action, modules in (state.items() if resolved.per_action else [(None, state)]):
        encoder = ENCODERS.get(resolved.encoder_name)(resolved.encoder)
        encoder.load_state_dict(modules["encoder"])
        encoders[action] = encoder.to_device(device)
    return encoders


def embed_with(encoders: dict[str | None, Encoder], store: VideoStore, video_ids: list[str], device: torch.device,
               on_video: Callable[[str], None] | None = None, cache: FeatureCache | None = None) -> list[VideoEmbedding]:
    """Every video embedded by the encoder of its action (or by the run's one encoder), from
    the feature ``cache`` when there is one."""
    if None in encoders:
        return embed_split(encoders[None], store, video_ids, device, on_video, cache)
    return [embed_split(encoders[store.action_of(v)], store, [v], device, on_video, cache)[0] for v in video_ids]
