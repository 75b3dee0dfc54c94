"""A study and its budget.

Equal budget: every method's study runs the same number of trials, each trained for the
same number of steps on the same data (training split minus the tune split, scored on the
tune split), sampled by the same seeded TPE, pruned by the same pruner at the same steps.
The study stores that budget (``budget``, a user attribute) with its search space, so a
rerun that asks for another budget or space is refused instead of mixing trials, and
TUNING.md can state it.

Trial 0 of every study is the untuned config (the paper defaults, or the dataset's): the
search starts from it, so a study's best is never worse than the defaults on the tune split,
and TUNING.md shows what tuning added beyond them.

Sampler: TPE, seeded per trial (``seed + trial number``): TPE keeps no state between trials
(it reads the study's history), so a fresh sampler per trial makes one worker's study
reproducible and keeps workers and reruns from repeating each other's random start-up
points. The first ``startup_trials(N)`` trials are random (TPE's start-up), then TPE.

Pruning: a trial reports its intermediate objective (bench.tuning.objective) every
``steps // REPORTS`` steps; ``median`` prunes a trial below the median of earlier trials
at the same step (after ``MEDIAN_STARTUP`` finished trials), ``hyperband`` runs Optuna's
Hyperband with the report interval as its smallest resource, ``none`` never prunes.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import optuna

from bench.config import parse_overrides, stable_hash
from bench.errors import ConfigError
from bench.protocol.config import HEADLINE_METRICS
from bench.run_config import ResolvedConfig, resolve
from bench.training_units import run_label
from bench.tuning.space import SpaceRecorder, check_tunable, describe_space, parameter_defaults, suggest, tuned_keys
from bench.tuning.storage import StudyStorage

PRUNERS = ("median", "hyperband", "none")
REPORTS = 3
"""Intermediate reports per trial: at 1/3 and 2/3 of its steps (the end is the trial's value)."""
MEDIAN_STARTUP = 3
TUNING_DIR = "tuning"
"""Trial runs live in <results>/tuning/runs, apart from the leaderboard's runs."""


@dataclass(frozen=True)
class TuneSpec:
    """What ``bench tune`` was asked for."""

    method: str
    dataset: str = "synthetic"
    trials: int = 8
    steps: int | None = None
    variant: str | None = None
    encoder: str | None = None
    protocol: str | None = None
    workers: int = 1
    storage: str | None = None
    study: str | None = None
    pruner: str = "median"
    seed: int = 0
    config_file: str | None = None
    overrides: tuple[str, ...] = field(default_factory=tuple)
    results: Path = Path("results")
    data: Path = Path("data")
    heartbeat_s: int = 10

    def check(self) -> None:
        """Every count at least 1 and a known pruner (ConfigError otherwise)."""
        for name, value in (("--trials", self.trials), ("--workers", self.workers), ("--heartbeat", self.heartbeat_s),
                            ("--steps", 1 if self.steps is None else self.steps)):
            if value < 1:
                raise ConfigError(f"{name} {value} must be >= 1")
        if self.pruner not in PRUNERS:
            raise ConfigError(f"--pruner {self.pruner} is not one of {', '.join(PRUNERS)}")
        check_tunable(self.method)
        fixed = set(tuned_keys(parse_overrides(list(self.overrides))))
        searched = set(tuned_keys(suggest(SpaceRecorder(), self.method, self.variant)))
        if fixed & searched:
            raise ConfigError(f"--set {sorted(fixed & searched)[0]} fixes a parameter the study searches; drop it, "
                              "or tune without it by naming a variant")

    def base_config(self, values: dict[str, Any] | None = None) -> ResolvedConfig:
        """The trial config with ``values`` (the tuned ones) on top of the defaults; the user's
        --set and --config may not fix a tuned value."""
        overrides = list(self.overrides) + ([f"trainer.steps={self.steps}"] if self.steps is not None else [])
        return resolve(method=self.method, dataset=self.dataset, encoder=self.encoder, variant=self.variant,
                       protocol=self.protocol, seed=self.seed, config_file=self.config_file, overrides=overrides, values=values)

    @property
    def study_name(self) -> str:
        return self.study or default_study_name(self.dataset, self.method, self.variant)

    @property
    def tuning_root(self) -> Path:
        return Path(self.results) / TUNING_DIR


def default_study_name(dataset: str, method: str, variant: str | None) -> str:
    """<dataset>-<method>[+<variant>]: what ``bench tune`` names a study and ``suite --tuned`` looks for."""
    return f"{dataset}-{method}" + (f"+{variant}" if variant else "")


def startup_trials(trials: int) -> int:
    """TPE's random start-up trials: a quarter of the budget, at least 2."""
    return max(2, trials // 4)


def make_sampler(seed: int, trials: int, number: int) -> optuna.samplers.TPESampler:
    return optuna.samplers.TPESampler(seed=seed + number, n_startup_trials=startup_trials(trials))


def report_every(steps: int) -> int:
    return max(1, steps // REPORTS)


def make_pruner(name: str, steps: int) -> optuna.pruners.BasePruner:
    if name == "median":
        return optuna.pruners.MedianPruner(n_startup_trials=MEDIAN_STARTUP, n_warmup_steps=0)
    if name == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=report_every(steps), max_resource=steps)
    return optuna.pruners.NopPruner()


def budget(spec: TuneSpec, resolved: ResolvedConfig) -> dict[str, Any]:
    """What makes two studies comparable (and a rerun the same study)."""
    steps = resolved.trainer.steps
    return {"method": spec.method, "variant": spec.variant, "dataset": spec.dataset,
            "encoder": resolved.encoder_name, "trials": spec.trials, "steps": steps, "seed": spec.seed,
            "split": "tune", "objective": f"mean of {', '.join(HEADLINE_METRICS)} on the tune split",
            "first_trial": "the untuned defaults",
            "sampler": {"name": "TPESampler", "seed": f"{spec.seed} + trial number",
                        "n_startup_trials": startup_trials(spec.trials)},
            "pruner": {"name": spec.pruner, "report_every": report_every(steps)},
            "space": describe_space(spec.method, spec.variant), "base_config": stable_hash(resolved.as_dict())}


def _differences(stored: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """The budget keys that differ, in the budget's order (the config hash last: it differs whenever steps do)."""
    return [key for key in dict.fromkeys([*wanted, *stored])
            if json.dumps(stored.get(key), sort_keys=True) != json.dumps(wanted.get(key), sort_keys=True)]


def open_study(spec: TuneSpec, storage: StudyStorage) -> optuna.Study:
    """Create the study with its budget, or load it after checking that its budget is the one asked for."""
    resolved = spec.base_config()
    wanted = json.loads(json.dumps(budget(spec, resolved)))   # as stored: tuples become lists
    name = spec.study_name
    if name in optuna.study.get_all_study_names(storage.storage):
        study = optuna.load_study(study_name=name, storage=storage.storage)
        stored = study.user_attrs.get("budget")
        if stored is None:
            raise ConfigError(f"study '{name}' in {storage.shown} was not made by bench tune; name another with --study")
        differing = _differences(stored, wanted)
        if differing:
            key = differing[0]
            raise ConfigError(f"study '{name}' in {storage.shown} has {key}={json.dumps(stored.get(key))}, this command "
                              f"asks for {json.dumps(wanted.get(key))}; rerun with the study's budget or name a new "
                              "study with --study")
        return study
    study = optuna.create_study(study_name=name, storage=storage.storage, direction="maximize",
                                sampler=make_sampler(spec.seed, spec.trials, 0), pruner=make_pruner(spec.pruner, 1),
                                load_if_exists=True)
    defaults = parameter_defaults(resolved, wanted["space"])
    study.set_user_attr("budget", wanted)
    study.set_user_attr("defaults", defaults)
    study.set_user_attr("label", run_label(resolved))
    study.enqueue_trial(defaults, user_attrs={"defaults": True})   # trial 0: the untuned config
    return study
