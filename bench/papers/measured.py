"""What the harness measured for a paper row: the mean and std over seeds under one protocol preset.

A run answers preset P with its own metrics when it was evaluated under P, or with the
re-evaluation ``bench evaluate`` wrote beside it (``evaluations/<P>-val.json``). Runs are keyed by
``harness_label`` (a variant that changes nothing counts as the method's default) and grouped by
their config without seed and protocol; when several groups answer (different budgets, say), the
one with the most seeds is used, then the most training steps, then the smaller config hash, so
the choice is deterministic. std is the sample standard deviation (ddof = 1); one seed: NaN.
"""
from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.config import stable_hash
from bench.papers.tables import harness_label
from bench.protocol_report import protocol_values
from bench.report import load_records

NEEDED_KEYS = ("run_id", "method", "variant", "config")
"""What the pages need beyond the keys bench.report checks."""


@dataclass(frozen=True)
class RunValues:
    directory: Path
    record: dict
    by_preset: dict[str, dict[str, float]]
    """preset -> metrics (its own protocol and every val re-evaluation)."""
    per_action: dict[str, dict[str, dict[str, float]]]
    """preset -> action -> metrics, where stored."""

    @property
    def label(self) -> str:
        return harness_label(self.record["method"], self.record["variant"])

    @property
    def group(self) -> str:
        config = {k: v for k, v in self.record["config"].items() if k not in ("seed", "protocol")}
        return stable_hash(config)


@dataclass(frozen=True)
class Measurement:
    label: str
    dataset: str
    preset: str
    runs: tuple[RunValues, ...]

    @property
    def seeds(self) -> list[int]:
        return sorted(run.record["seed"] for run in self.runs)

    @property
    def steps(self) -> int:
        return int(self.runs[0].record["config"]["trainer"]["steps"])

    def values(self, metric: str, action: str | None = None) -> np.ndarray:
        """The metric of each run (NaN where a run lacks it), in seed order."""
        out = []
        for run in sorted(self.runs, key=lambda r: r.record["seed"]):
            source = run.by_preset[self.preset] if action is None else run.per_action.get(self.preset, {}).get(action, {})
            value = source.get(metric)
            out.append(float("nan") if value is None else float(value))
        return np.array(out)

    def mean_std(self, metric: str, action: str | None = None) -> tuple[float, float]:
        values = self.values(metric, action)
        if not np.isfinite(values).all():
            return float("nan"), float("nan")
        return float(values.mean()), float(values.std(ddof=1)) if len(values) > 1 else float("nan")


def _per_action(run_dir: Path, record: dict) -> dict[str, dict[str, dict[str, float]]]:
    out = {record["protocol"]: record.get("metrics_per_action", {})}
    for path in sorted((run_dir / "evaluations").glob("*-val.json")):
        data = json.loads(path.read_text())
        out.setdefault(data["protocol"], data.get("metrics_per_action", {}))
    return out


def load_runs(results_root: Path, warn: Callable[[str], None] | None = None) -> list[RunValues]:
    """Every finished run with its metrics under every preset it was scored under; a corrupt or
    incomplete record is skipped and ``warn`` is told which (bench.report.load_records)."""
    runs = []
    for record in load_records(results_root, warn):
        run_dir = Path(results_root) / "runs" / record["dataset"] / record["label"] / str(record.get("run_id"))
        missing = [key for key in NEEDED_KEYS if key not in record]
        if missing:
            if warn is not None:
                warn(f"skipped: run record {run_dir / 'record.json'} lacks {', '.join(missing)}; delete {run_dir} "
                     "or rerun that run with --force")
            continue
        runs.append(RunValues(run_dir, record, protocol_values(run_dir, record), _per_action(run_dir, record)))
    return runs


def measurements(runs: list[RunValues], preset: str) -> dict[tuple[str, str], Measurement]:
    """(label, dataset) -> the chosen group of runs scored under ``preset``."""
    groups = defaultdict(list)
    for run in runs:
        if preset in run.by_preset:
            groups[(run.label, run.record["dataset"], run.group)].append(run)
    chosen: dict[tuple[str, str], Measurement] = {}
    for (label, dataset, _group), members in sorted(groups.items()):
        candidate = Measurement(label, dataset, preset, tuple(members))
        best = chosen.get((label, dataset))
        if best is None or (len(candidate.runs), candidate.steps) > (len(best.runs), best.steps):
            chosen[(label, dataset)] = candidate
    return chosen
