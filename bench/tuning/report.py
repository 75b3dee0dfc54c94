"""TUNING.md and its figures, rebuilt from the studies and the run records alone.

For each study of ``<results>/tuning/studies.journal``: its trials (complete, pruned,
failed), the best tune-split objective and its trial, the best parameters beside the
untuned defaults (the papers', or the dataset's), the training steps of all its trials and
their wall time (methods differ in cost per step, so equal trials are not equal seconds),
an optimisation-history figure and a parameter-importance figure (fANOVA, seeded). Then the
val results of the runs under ``<results>/runs``: per method, the default config's and the
tuned config's headline mean over seeds. The page states the budget shared by every study
and names any study whose budget differs.
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import optuna
from optuna.trial import TrialState

from bench.atomic import write_text
from bench.figures import plt, save_figure
from bench.report import is_tuned, load_records
from bench.tuning.objective import objective_value
from bench.tuning.storage import DEFAULT_JOURNAL, open_storage

FIGURES = Path("tuning") / "figures"
SHARED_BUDGET = ("trials", "steps", "seed", "split", "objective", "sampler", "pruner")
IMPORTANCE_SEED = 0


def trial_counts(study: optuna.Study) -> dict[str, int]:
    trials = study.get_trials(deepcopy=False)
    return {state.name.lower(): sum(t.state == state for t in trials)
            for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING, TrialState.WAITING)}


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return max(complete, key=lambda t: (t.value, -t.number)) if complete else None


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return json.dumps(value) if not isinstance(value, str) else value


def study_summary(study: optuna.Study) -> str:
    """A few lines for the terminal: counts, the best objective and its parameters."""
    counts, best = trial_counts(study), best_trial(study)
    lines = [f"study {study.study_name}: " + ", ".join(f"{n} {state}" for state, n in counts.items() if n)]
    if best is not None:
        lines.append(f"best tune-split objective {best.value:.2f} (trial {best.number}): "
                     + ", ".join(f"{k}={_value(v)}" for k, v in best.params.items()))
    return "\n".join(lines)


def _spent(study: optuna.Study) -> tuple[int, float]:
    """Training steps and wall seconds of every finished trial."""
    trials = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED))
    return (sum(int(t.user_attrs.get("steps", 0)) for t in trials),
            sum(float(t.user_attrs.get("wall_s", 0.0)) for t in trials))


def plot_history(study: optuna.Study, path: Path) -> Path:
    """Each trial's tune-split objective (pruned: its last intermediate value, hollow), and the best so far."""
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    pruned = [t for t in study.get_trials(deepcopy=False, states=(TrialState.PRUNED,)) if t.intermediate_values]
    ax.plot([t.number for t in complete], [t.value for t in complete], "o", color="#4c72b0", label="complete")
    ax.plot([t.number for t in pruned], [t.intermediate_values[max(t.intermediate_values)] for t in pruned], "o",
            mfc="none", color="#c44e52", label="pruned (last intermediate)")
    if complete:
        order = sorted(complete, key=lambda t: t.number)
        ax.step([t.number for t in order], np.maximum.accumulate([t.value for t in order]), where="post",
                color="#55a868", label="best so far")
    ax.set_xlabel("trial")
    ax.set_ylabel("tune-split objective (%)")
    ax.set_title(f"{study.study_name}: optimisation history", fontsize=9)
    ax.legend(fontsize=7)
    return save_figure(fig, path)


def importances(study: optuna.Study) -> dict[str, float]:
    """fANOVA importances (seeded) over the complete trials; {} with fewer than two."""
    if len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))) < 2:
        return {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return optuna.importance.get_param_importances(
                study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=IMPORTANCE_SEED))
        except (RuntimeError, ValueError):  # every complete trial at one point: nothing to attribute
            return {}


def plot_importances(study: optuna.Study, values: dict[str, float], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(5.5, 0.4 + 0.35 * max(1, len(values))))
    names = list(values)[::-1]
    ax.barh(names, [values[n] for n in names], color="#4c72b0")
    ax.set_xlabel("fANOVA importance")
    ax.set_title(f"{study.study_name}: parameter importances", fontsize=9)
    return save_figure(fig, path)


def val_comparison(results_root: Path) -> list[tuple[str, list[float], list[float]]]:
    """Per method: the val headline means of its default-config runs and of its tuned runs (one per seed)."""
    by_method: dict[str, tuple[list[float], list[float]]] = {}
    for record in load_records(results_root):
        if record.get("protocol") != "bench" or record.get("variant"):
            continue
        default, tuned = by_method.setdefault(record["method"], ([], []))
        (tuned if is_tuned(record) else default).append(objective_value(record["metrics"]))
    return [(method, *by_method[method]) for method in sorted(by_method)]


def _mean(values: list[float]) -> str:
    if not values:
        return "-"
    spread = f" ± {np.std(values, ddof=1):.2f}" if len(values) > 1 else ""
    return f"{np.mean(values):.2f}{spread} ({len(values)})"


def render_tuning(studies: list[optuna.Study], results_root: Path, source: str) -> str:
    lines = ["# Tuning", "", f"Generated by `bench report` from the studies in {source} and the run records; "
             "do not edit by hand.", ""]
    budgets = {s.study_name: s.user_attrs.get("budget", {}) for s in studies}
    if studies:
        shared = {key: budgets[studies[0].study_name].get(key) for key in SHARED_BUDGET}
        lines += ["## Budget", "", "Every study below was run with this budget (a study that differs is named):", ""]
        lines += [f"- {key}: {_value(value)}" for key, value in shared.items()]
        differing = [name for name, b in budgets.items() if any(b.get(k) != shared[k] for k in SHARED_BUDGET)]
        lines += ["", f"Studies with another budget: {', '.join(differing)}." if differing
                  else "All studies share it.", ""]
        lines += ["## Studies", "",
                  "| study | complete | pruned | failed | best tune objective % ↑ | best trial | train steps | wall s | s per step |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for study in studies:
            counts, best = trial_counts(study), best_trial(study)
            steps, wall = _spent(study)
            lines.append(f"| {study.study_name} | {counts['complete']} | {counts['pruned']} | {counts['fail']} | "
                         + (f"{best.value:.2f} | {best.number}" if best else "- | -")
                         + f" | {steps} | {wall:.0f} | {wall / steps if steps else 0:.3f} |")
        lines.append("")
    comparison = val_comparison(results_root)
    if comparison:
        lines += ["## Default vs tuned on val", "",
                  "Mean ± std (seeds) of the mean of the six headline metrics on the val split, for the default",
                  "config and for the study's best config retrained on the full training split "
                  "(`bench suite --tuned`); the leaderboard has every metric.", "",
                  "| method | default | tuned | tuned - default |", "|---|---:|---:|---:|"]
        for method, default, tuned in comparison:
            gain = f"{np.mean(tuned) - np.mean(default):+.2f}" if default and tuned else "-"
            lines.append(f"| {method} | {_mean(default)} | {_mean(tuned)} | {gain} |")
        lines.append("")
    for study in studies:
        lines += _study_section(study, results_root)
    return "\n".join(lines)


def _study_section(study: optuna.Study, results_root: Path) -> list[str]:
    best, defaults = best_trial(study), study.user_attrs.get("defaults", {})
    space = study.user_attrs.get("budget", {}).get("space", {})
    lines = [f"## {study.study_name}", "", "| parameter | range | default | best |", "|---|---|---:|---:|"]
    for name, spec in space.items():
        span = (", ".join(map(_value, spec["choices"])) if spec["kind"] == "categorical"
                else f"[{_value(spec['low'])}, {_value(spec['high'])}]" + (" log" if spec.get("log") else ""))
        chosen = _value(best.params[name]) if best is not None and name in best.params else "-"
        lines.append(f"| {name} | {span} | {_value(defaults.get(name, '-'))} | {chosen} |")
    history = plot_history(study, results_root / FIGURES / f"{study.study_name}_history.png")
    lines += ["", f"![optimisation history]({history.relative_to(results_root)})"]
    values = importances(study)
    if values:
        figure = plot_importances(study, values, results_root / FIGURES / f"{study.study_name}_importances.png")
        lines.append(f"![parameter importances]({figure.relative_to(results_root)})")
    else:
        lines.append("(no importances: fewer than two complete trials)")
    return lines + [""]


def write_tuning(results_root: Path) -> Path | None:
    """Write <results>/TUNING.md when the default journal holds studies; return its path."""
    journal = Path(results_root) / DEFAULT_JOURNAL
    if not journal.is_file():
        return None
    storage = open_storage(None, results_root, heartbeat_s=10)
    names = sorted(optuna.study.get_all_study_names(storage.storage))
    if not names:
        return None
    studies = [optuna.load_study(study_name=name, storage=storage.storage) for name in names]
    path = Path(results_root) / "TUNING.md"
    write_text(path, render_tuning(studies, Path(results_root), str(journal)))
    return path
