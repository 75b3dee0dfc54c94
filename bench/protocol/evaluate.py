"""The protocol's orchestration: frozen embeddings in, one flat dict of metrics out.

``evaluate`` groups the videos by action, computes every enabled metric on each action's
videos (``evaluate_action``) and averages each metric over the actions (ignoring actions
where it is NaN, e.g. too few videos for a pair; NaN when every action is NaN). Actions that
only occur in the training split are ignored; an evaluation action without training videos
is an error. The embeddings are used exactly as given: no standardisation, no normalisation.

Randomness (fraction draws, few-shot episodes) comes from numpy Generators seeded with
(seed, crc32 of the action name, metric, parameter), so results depend only on the inputs
and ``seed``.

``resolve_protocol`` builds a ProtocolConfig from a user's values: the preset named by
``name`` (default ``bench``) first, then the user's values, strictly (unknown keys raise
ConfigError).
"""
from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

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
    cfg = build(ProtocolConfig, {**PRESETS[name], **values}, "protocol")
    check_protocol(cfg)
    return cfg


def check_protocol(cfg: ProtocolConfig) -> None:
    """Raise ConfigError for values no metric can use (a fraction outside (0, 1], a stride of 0, ...)."""
    problems = [
        (all(0 < f <= 1 for f in cfg.fractions), "protocol.fractions must lie in (0, 1]; e.g. [0.1, 1.0]"),
        (cfg.fraction_draws >= 1, "protocol.fraction_draws must be >= 1; set 1 for a single draw"),
        (all(n >= 1 for n in cfg.few_shot), "protocol.few_shot must hold video counts >= 1; e.g. [1, 5]"),
        (cfg.few_shot_episodes >= 1, "protocol.few_shot_episodes must be >= 1; the protocol uses 50"),
        (cfg.stride >= 1, "protocol.stride must be >= 1; the protocol uses 5"),
        (all(k >= 1 for k in cfg.ap_ks), "protocol.ap_ks must hold K values >= 1; e.g. [1, 5, 10, 15]"),
        (cfg.svc_c > 0, "protocol.svc_c must be > 0; the protocol uses 1.0"),
    ]
    for ok, message in problems:
        if not ok:
            raise ConfigError(message)


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


def evaluate_action(train: list[VideoEmbedding], evaluation: list[VideoEmbedding], cfg: ProtocolConfig,
                    seed: int, progress: Callable[[str], None] | None = None) -> dict[str, float]:
    """Every enabled metric on one action's videos (see the metric modules for each formula)."""
    say = progress or (lambda message: None)
    out: dict[str, float] = {}
    if cfg.fractions or cfg.few_shot:
        say("phase classification")
        scorer = SubsetScorer(train, evaluation, cfg)
        out.update(phase_classification(train, evaluation, cfg, seed, scorer))
        out.update(few_shot(train, evaluation, cfg, seed, scorer))
    if cfg.progression:
        say("phase progression")
        out["progression"] = phase_progression(train, evaluation)
    if cfg.kendalls_tau:
        say("Kendall's tau")
        out["kendalls_tau"] = kendalls_tau(evaluation, cfg.stride)
    if cfg.ap_ks:
        say("AP@K")
        out.update(precision_at_k(evaluation, cfg.stride, cfg.ap_ks))
    with_time = cfg.alignment_error and all(v.canonical_time is not None for v in evaluation)
    if cfg.dtw_accuracy or with_time:
        say("DTW alignment")
        paths = dtw_paths(evaluation)
        if cfg.dtw_accuracy:
            out["dtw_accuracy"] = dtw_accuracy(evaluation, paths)
        if with_time:
            out.update(alignment_error(evaluation, paths))
    return out


def evaluate(train: list[VideoEmbedding], evaluation: list[VideoEmbedding], cfg: ProtocolConfig, seed: int,
             progress: Callable[[str], None] | None = None) -> dict[str, float]:
    """Every enabled metric (percent), computed per action and averaged over actions."""
    check_protocol(cfg)
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
    per_action = []
    with threadpool_limits(limits=1, user_api="blas"):
        for action in actions:
            say = None if progress is None else (lambda message, a=action: progress(f"{a}: {message}"))
            per_action.append(evaluate_action([v for v in train if v.action == action],
                                              [v for v in evaluation if v.action == action],
                                              cfg, action_seed(seed, action), say))
    return {key: nan_mean([m[key] for m in per_action]) for key in per_action[0]}
