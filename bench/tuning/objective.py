"""One trial: a run on the tune split with the trial's config, and its objective.

The objective is the mean of the headline metrics (PROTOCOL.md: classification at 10 % and
100 % of the labels, progression, Kendall's tau, AP@5, DTW accuracy) on the tune split, with
the classifiers fitted on the training split minus the tune split; the val split is never
touched. A trial's run lives in ``<results>/tuning/runs`` (bench.runner, ``split="tune"``),
so a trial whose config was already run (a rerun after a crash, a retried trial) reuses the
finished record instead of training again, and a killed one resumes from its checkpoint.

Intermediate objective (pruning): every ``report_every`` steps the model as it is is
embedded and scored on the tune split by classification@1.00 and Kendall's tau only, their
mean. These two are cheap (one SVC fit; no fitting at all) and cover both things the
headline measures: phase semantics and temporal order. The others are left out because
they cost more than the training between reports on small budgets: few-shot draws (5 draws
per fraction, 50 episodes), progression's leave-one-video-out ridge search, and the
all-pairs retrieval and DTW metrics.
"""
from __future__ import annotations

import math
import time
from dataclasses import replace
from typing import Any

import numpy as np
import optuna
from rich.console import Console

from bench.errors import DataError
from bench.protocol.classification import fraction_key
from bench.protocol.config import HEADLINE_METRICS, ProtocolConfig
from bench.protocol.evaluate import evaluate
from bench.run_config import ResolvedConfig
from bench.runner import StopEarly, execute
from bench.training_units import Embedder, Watch
from bench.tuning.space import suggest
from bench.tuning.study import TuneSpec, report_every

INTERMEDIATE_METRICS = (fraction_key(1.0), "kendalls_tau")


def objective_value(metrics: dict[str, Any]) -> float:
    """The mean of the headline metrics that are defined (a NaN or missing one is left out)."""
    values = [metrics.get(name) for name in HEADLINE_METRICS]
    finite = [float(v) for v in values if v is not None and math.isfinite(v)]
    if not finite:
        raise DataError("no headline metric is defined on the tune split; check that its videos are labelled")
    return float(np.mean(finite))


def intermediate_protocol(cfg: ProtocolConfig) -> ProtocolConfig:
    """The run's protocol reduced to classification@1.00 and Kendall's tau."""
    return replace(cfg, fractions=(1.0,), few_shot=(), progression=False, ap_ks=(), dtw_accuracy=False,
                   alignment_error=False, kendalls_tau=True)


def pruning_watch(trial: optuna.Trial, resolved: ResolvedConfig, reported: dict[int, float]) -> Watch:
    """Reports the intermediate objective every ``report_every`` steps (not at a model's last
    step: its full objective follows) and stops the run when the pruner says so."""
    every, steps = report_every(resolved.trainer.steps), resolved.trainer.steps
    protocol = intermediate_protocol(resolved.protocol)

    def see(step: int, embed: Embedder) -> None:
        if step % every or step % steps == 0:
            return
        fit, scored = embed()
        result = evaluate(fit, scored, protocol, resolved.seed)
        value = float(np.nanmean([result.metrics[name] for name in INTERMEDIATE_METRICS]))
        reported[step] = value
        trial.report(value, step)
        if trial.should_prune():
            raise StopEarly(step, {"intermediate": {str(k): v for k, v in reported.items()},
                                   "metrics": list(INTERMEDIATE_METRICS)})

    return Watch(see)


def run_trial(trial: optuna.Trial, spec: TuneSpec, console: Console) -> float:
    """Train and score one trial; raise optuna.TrialPruned for a pruned one."""
    values = suggest(trial, spec.method, spec.variant)
    resolved = spec.base_config(values)
    started = time.perf_counter()
    reported: dict[int, float] = {}
    outcome = execute(resolved, spec.tuning_root, spec.data, console=console, split="tune",
                      watch=pruning_watch(trial, resolved, reported))
    record = outcome.record
    trial.set_user_attr("run_id", record["run_id"])
    trial.set_user_attr("run_dir", str(outcome.directory.relative_to(spec.results)))
    trial.set_user_attr("reused", outcome.skipped)
    trial.set_user_attr("wall_s", record["timing"]["total_s"] if outcome.skipped
                        else round(time.perf_counter() - started, 3))
    if outcome.pruned:
        trial.set_user_attr("steps", record["pruned"]["step"])
        raise optuna.TrialPruned(f"trial {trial.number} pruned at step {record['pruned']['step']}")
    trial.set_user_attr("steps", (record.get("training") or {}).get("steps", 0))
    trial.set_user_attr("metrics", {name: record["metrics"].get(name) for name in HEADLINE_METRICS})
    return objective_value(record["metrics"])
