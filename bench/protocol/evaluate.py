"""The protocol's orchestration: frozen embeddings in, metrics out (a ProtocolResult).

``evaluate`` groups the videos by action, computes every enabled metric on each action's
videos (``evaluate_action``) and averages each metric over the actions (ignoring actions
where it is NaN, e.g. too few videos for a pair; NaN when every action is NaN). Every NaN
an action leaves is recorded with its reason (``ProtocolResult.undefined``), so a reader
sees when a mean covers fewer actions than the dataset has. Actions that only occur in the
training split are ignored; an evaluation action without training videos is an error. The
embeddings are used exactly as given: no standardisation, no normalisation (the ridge
progression standardises its own inputs).

Randomness (fraction draws, few-shot episodes) comes from numpy Generators seeded with
(seed, crc32 of the action name, metric, parameter), so results depend only on the inputs
and ``seed``.

``resolve_protocol`` builds a ProtocolConfig from a user's values: the preset named by
``name`` (default ``bench``) first, then the user's values, strictly (unknown keys raise
ConfigError). Fraction draws and few-shot episodes pick only among videos with a labelled
frame (``classifier_pool``).
"""
from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from bench.bounds import check_config
from bench.config import build
from bench.errors import ConfigError, DataError, UnknownNameError
from bench.protocol.alignment import alignment_error, dtw_accuracy, dtw_paths
from bench.protocol.classification import SubsetScorer, few_shot, phase_classification
from bench.protocol.config import PRESETS, ProtocolConfig, VideoEmbedding
from bench.protocol.progression import phase_progression
from bench.protocol.retrieval import kendalls_tau, nan_mean, precision_at_k
from bench.registry import unknown_name_message


def resolve_protocol(values: dict[str, Any] | None = None) -> ProtocolConfig:
    """PRESETS[values["name"]] overlaid with ``values``, as a checked ProtocolConfig."""
    values = dict(values or {})
    name = values.get("name", "bench")
    if not isinstance(name, str):
        raise ConfigError(f"protocol.name={name!r} has the wrong type; expected one of {sorted(PRESETS)}")
    if name not in PRESETS:
        raise UnknownNameError(unknown_name_message("protocol preset", name, list(PRESETS)))
    return build(ProtocolConfig, {**PRESETS[name], **values}, "protocol")


def check_videos(videos: list[VideoEmbedding], split: str) -> None:
    """Raise DataError for an embedding, label or canonical-time array that the metrics cannot use."""
    for video in videos:
        emb, labels = np.asarray(video.embedding), np.asarray(video.labels)
        where = f"{split} video {video.video_id}"
        if emb.ndim != 2 or len(emb) == 0:
            raise DataError(f"{where}: embedding must be (L, D) with L >= 1, got {emb.shape}; pass one row per frame")
        if not np.isfinite(emb).all():
            raise DataError(f"{where}: embedding has NaN or infinite values; check the encoder's output")
        if labels.shape != (len(emb),) or not np.issubdtype(labels.dtype, np.integer):
            raise DataError(f"{where}: labels must be ({len(emb)},) integers, got {labels.dtype} {labels.shape}; "
                            "give one phase id (or -1) per frame")
        time = video.canonical_time
        if time is not None and np.shape(time) != (len(emb),):
            raise DataError(f"{where}: canonical_time must be ({len(emb)},), got {np.shape(time)}; "
                            "give one value per frame or None")


def action_seed(seed: int, action: str) -> int:
    """A 64-bit seed for one action's draws, from the run seed and the action name."""
    return int(np.random.SeedSequence([seed, zlib.crc32(action.encode())]).generate_state(1, np.uint64)[0])


def classifier_pool(train: list[VideoEmbedding], evaluation: list[VideoEmbedding],
                    cfg: ProtocolConfig) -> list[VideoEmbedding]:
    """The candidate videos of every fraction draw and few-shot episode: those with at least
    one labelled frame, from the training split (or the evaluation split, the ``lav`` leak)."""
    videos = evaluation if cfg.classifier_fit_split == "evaluation" else train
    return [v for v in videos if v.has_labels]


def undefined_reason(key: str, fit_pool: list[VideoEmbedding], evaluation: list[VideoEmbedding]) -> str:
    """Why metric ``key`` is NaN for one action's videos: one line for the run record."""
    family = key.split("@")[0]
    labelled = sum(v.has_labels for v in evaluation)
    if family in ("classification", "few_shot"):
        if not fit_pool:
            return "no candidate training video has a labelled frame"
        if not labelled:
            return "no evaluation frame is labelled"
        if key.endswith("_ci95"):
            return "a single episode has no confidence interval"
        return f"{key.split('@')[1]} shots exceed the {len(fit_pool)} training videos with labelled frames"
    if family == "progression":
        return "no key event occurs in both a training and an evaluation video with varying targets"
    if len(evaluation) < 2:
        return "fewer than two evaluation videos: no pair to compare"
    if family == "ap" and labelled < 2:
        return "fewer than two evaluation videos have labelled frames"
    return "undefined for every pair of videos (constant nearest neighbours or no labelled cell)"


def evaluate_action(train: list[VideoEmbedding], evaluation: list[VideoEmbedding], cfg: ProtocolConfig,
                    seed: int, progress: Callable[[str], None] | None = None) -> dict[str, float]:
    """Every enabled metric on one action's videos (see the metric modules for each formula)."""
    say = progress or (lambda message: None)
    out: dict[str, float] = {}
    if cfg.fractions or cfg.few_shot:
        say("phase classification")
        pool = classifier_pool(train, evaluation, cfg)
        scorer = SubsetScorer(pool, evaluation, cfg)
        out.update(phase_classification(pool, evaluation, cfg, seed, scorer))
        out.update(few_shot(pool, evaluation, cfg, seed, scorer))
    if cfg.progression:
        say("phase progression")
        out["progression"] = phase_progression(train, evaluation, cfg)
    if cfg.kendalls_tau:
        say("Kendall's tau")
        out["kendalls_tau"] = kendalls_tau(evaluation, cfg.tau_stride)
    if cfg.ap_ks:
        say("AP@K")
        out.update(precision_at_k(evaluation, cfg.ap_stride, cfg.ap_ks, cfg.ap_pool))
    with_time = cfg.alignment_error and all(v.canonical_time is not None for v in evaluation)
    if cfg.dtw_accuracy or with_time:
        say("DTW alignment")
        paths = dtw_paths(evaluation)
        if cfg.dtw_accuracy:
            out["dtw_accuracy"] = dtw_accuracy(evaluation, paths)
        if with_time:
            out.update(alignment_error(evaluation, paths))
    return out


@dataclass
class ProtocolResult:
    """The protocol's output: each metric averaged over actions, and what stands behind it.

    per_action: action -> metric -> value (NaN where undefined); undefined: metric -> action
    -> the reason it is NaN there. A metric's mean covers ``coverage()[metric]`` of the
    ``len(per_action)`` actions.
    """

    metrics: dict[str, float]
    per_action: dict[str, dict[str, float]]
    undefined: dict[str, dict[str, str]]

    def coverage(self) -> dict[str, int]:
        return {key: sum(bool(np.isfinite(values[key])) for values in self.per_action.values())
                for key in self.metrics}

    def record_fields(self) -> dict:
        """What a run record (or a re-evaluation) stores: the means, and the per-action detail."""
        return {"metrics": self.metrics, "metrics_per_action": self.per_action,
                "actions": list(self.per_action), "metric_actions": self.coverage(), "undefined": self.undefined}


def prepare_videos(videos: list[VideoEmbedding], cfg: ProtocolConfig) -> list[VideoEmbedding]:
    """The videos as the preset's metrics see them (``drop_unlabelled``: -1 frames removed, empty videos dropped)."""
    if not cfg.drop_unlabelled:
        return videos
    return [v.labelled_only() for v in videos if v.has_labels]


def evaluate(train: list[VideoEmbedding], evaluation: list[VideoEmbedding], cfg: ProtocolConfig, seed: int,
             progress: Callable[[str], None] | None = None) -> ProtocolResult:
    """Every enabled metric (percent), computed per action and averaged over actions."""
    check_config(cfg, "protocol")
    if not evaluation:
        raise DataError("the evaluation split has no videos; check the dataset's splits")
    check_videos(train, "train")
    check_videos(evaluation, "evaluation")
    dims = {np.shape(v.embedding)[1] for v in train + evaluation}
    if len(dims) > 1:
        raise DataError(f"embeddings have different widths {sorted(dims)}; embed every video with the same encoder")
    timed = {v.canonical_time is not None for v in evaluation}
    if len(timed) > 1:
        raise DataError("some evaluation videos have canonical_time and others do not; give it for all or none")
    actions = list(dict.fromkeys(v.action for v in evaluation))
    missing = [a for a in actions if not any(v.action == a for v in train)]
    if missing:
        raise DataError(f"action '{missing[0]}' has evaluation videos but no training videos; "
                        "add training videos for it or drop it from the evaluation split")
    train, evaluation = prepare_videos(train, cfg), prepare_videos(evaluation, cfg)
    per_action: dict[str, dict[str, float]] = {}
    undefined: dict[str, dict[str, str]] = {}
    with threadpool_limits(limits=1, user_api="blas"):
        for action in actions:
            say = None if progress is None else (lambda message, a=action: progress(f"{a}: {message}"))
            action_train = [v for v in train if v.action == action]
            action_eval = [v for v in evaluation if v.action == action]
            if not action_eval:  # every evaluation video of the action was unlabelled (drop_unlabelled)
                continue
            values = evaluate_action(action_train, action_eval, cfg, action_seed(seed, action), say)
            per_action[action] = values
            for key, value in values.items():
                if not np.isfinite(value):
                    pool = classifier_pool(action_train, action_eval, cfg)
                    undefined.setdefault(key, {})[action] = undefined_reason(key, pool, action_eval)
    if not per_action:
        raise DataError("no evaluation video has a labelled frame; check the dataset's labels")
    keys = list(next(iter(per_action.values())))
    metrics = {key: nan_mean([values[key] for values in per_action.values()]) for key in keys}
    return ProtocolResult(metrics, per_action, undefined)
