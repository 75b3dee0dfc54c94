"""A study's best config: what ``bench suite --tuned`` retrains on the full training split.

The best trial is the complete trial with the highest tune-split objective; its parameters
rebuild the config values through the same ``suggest`` the trials used (with Optuna's
FixedTrial), so a tuned run is exactly the best trial's config, trained on every training
video and scored on val. The record's ``tuned`` names the study, the storage, the trial and
its objective, and the study's budget (trials, steps); it is part of the run's id.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import optuna

from bench.errors import ConfigError
from bench.tuning.space import suggest
from bench.tuning.storage import open_storage
from bench.tuning.study import default_study_name


def tuned_values(method: str, variant: str | None, dataset: str, storage_url: str | None, results: Path,
                 heartbeat_s: int = 10) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """(config values of the best trial, provenance for the run record)."""
    storage = open_storage(storage_url, results, heartbeat_s, create=False)
    name = default_study_name(dataset, method, variant)
    command = f"bench tune --method {method}" + (f" --variant {variant}" if variant else "") + f" --dataset {dataset}"
    if name not in optuna.study.get_all_study_names(storage.storage):
        raise ConfigError(f"no study '{name}' in {storage.shown}; run `{command} --trials N` first "
                          "(or drop --tuned)")
    study = optuna.load_study(study_name=name, storage=storage.storage)
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    if not complete:
        raise ConfigError(f"study '{name}' in {storage.shown} has no complete trial yet; "
                          f"run `{command}` until it finishes")
    best = max(complete, key=lambda trial: (trial.value, -trial.number))
    budget = study.user_attrs.get("budget", {})
    provenance = {"study": name, "trial": best.number, "objective": best.value,
                  "trials": budget.get("trials"), "steps": budget.get("steps")}
    return suggest(optuna.trial.FixedTrial(best.params), method, variant), provenance
