"""The leaderboard: rebuilt from the run records alone.

LEADERBOARD.md has one table per dataset; a row per (method, variant, encoder, protocol,
config): runs are averaged only over seeds of one config (the hash of the resolved config
without its seed, plus the data version), so a row never mixes training steps or data
versions. When one method has runs of several configs, each is its own row and the config
column names the values that differ. Tuned runs (a record with ``tuned``: its config is the
best trial of an equal-budget Optuna study, ``bench suite --tuned``) are kept apart from
default-config runs and labelled "(tuned)". The headline metrics of PROTOCOL.md are mean +-
sample std (ddof 1) over seeds, with the direction that is better (arrow) and the unit
(percent); the best value of a column is bold only where at least two rows differ, and a row
whose per-seed values are not significantly different from the column's best row (Welch's
t-test, both rows with at least two seeds) is marked ≈. A record that cannot be read is
skipped with a warning naming it.
"""
from __future__ import annotations

import json
import subprocess
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np
from scipy.stats import ttest_ind_from_stats

from bench.atomic import write_text
from bench.config import stable_hash
from bench.errors import DataError
from bench.protocol.config import HEADLINE_METRICS, LOWER_IS_BETTER
from bench.runner import RECORD, finished_runs, read_record

EXTRA_METRICS = ("alignment_error_dtw",)
METRICS = (*HEADLINE_METRICS, *EXTRA_METRICS)
"""The leaderboard's columns: the headline metrics, then the extra ones."""
HEADERS = {"classification@0.10": "class@0.1", "classification@1.00": "class@1.0", "progression": "progress",
           "kendalls_tau": "tau", "ap@5": "AP@5", "dtw_accuracy": "DTW acc", "alignment_error_dtw": "align err"}


ALPHA = 0.05
"""Significance level of the ≈ mark (Welch's two-sided t-test against a column's best row)."""
SIMILAR = "≈"
SHOWN_DIFFERENCES = 3
"""How many differing config values the config column lists (then "N more")."""
RECORD_KEYS = ("dataset", "label", "encoder", "protocol", "seed", "metrics")


def load_records(results_root: Path, warn: Callable[[str], None] | None = None) -> list[dict]:
    """Every finished run record under <results_root>/runs (temporary directories ignored);
    an unreadable or incomplete record is skipped and ``warn`` is told which and why."""
    records = []
    for run in finished_runs(results_root):
        try:
            record = read_record(run)
            missing = [key for key in RECORD_KEYS if key not in record]
            if missing:
                raise DataError(f"run record {run / RECORD} lacks {', '.join(missing)}; delete {run} "
                                "or rerun that run with --force")
        except DataError as err:
            if warn is not None:
                warn(f"skipped: {err}")
            continue
        records.append(record)
    return records


def config_key(record: dict) -> str:
    """What may be averaged over: the resolved config without the seed, and the data version."""
    config = {key: value for key, value in record.get("config", {}).items() if key != "seed"}
    return stable_hash({"config": config, "data_version": record.get("data", {}).get("version")})


def table_name(record: dict) -> str:
    """The leaderboard table of a record: its dataset, its mode where the dataset has one
    (PennAction per_action and joint runs are different experiments), and its protocol where
    it is not ``bench`` (numbers under different presets are not comparable, nor their ranks)."""
    mode = record.get("data", {}).get("mode")
    protocol = record.get("protocol", "bench")
    return (record["dataset"] + (f" ({mode})" if mode else "")
            + (f", {protocol} protocol" if protocol != "bench" else ""))


def is_tuned(record: dict) -> bool:
    """Whether a run's config came from an Optuna study (``bench suite --tuned``)."""
    return bool(record.get("tuned"))


def _group_key(record: dict) -> tuple:
    """Runs averaged into one row: same table, method, encoder, protocol and config, and
    either all tuned or all default (a tuned config is never averaged with a default one)."""
    return (table_name(record), record["label"], record["encoder"], record["protocol"], config_key(record),
            is_tuned(record))


def _flatten(tree: dict, prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def _config_view(record: dict) -> dict[str, object]:
    view = _flatten({k: v for k, v in record.get("config", {}).items() if k != "seed"})
    view["data version"] = record.get("data", {}).get("version")
    return view


def _describe_differences(rows: list[dict]) -> None:
    """Set each row's "config": its key, plus the values that differ from the other rows of
    the same method, variant, encoder and protocol."""
    siblings: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        siblings[row["label"], row["encoder"], row["protocol"]].append(row)
    for group in siblings.values():
        keys = sorted({k for row in group for k in row["view"]})
        differing = [k for k in keys if len({json.dumps(row["view"].get(k)) for row in group}) > 1]
        for row in group:
            listed = [f"{k}={json.dumps(row['view'].get(k))}" for k in differing[:SHOWN_DIFFERENCES]]
            if len(differing) > SHOWN_DIFFERENCES:
                listed.append(f"{len(differing) - SHOWN_DIFFERENCES} more")
            row["config"] = row["config_key"][:6] + (f" ({', '.join(listed)})" if listed else "")


def commits(members: list[dict]) -> str:
    """The git commits the runs were made at (short sha, "+dirty" when the tree was modified)."""
    shas = set()
    for record in members:
        git = record.get("environment", {}).get("git", {})
        if git.get("sha"):
            shas.add(git["sha"][:7] + ("+dirty" if git.get("dirty") else ""))
    return ", ".join(sorted(shas)) or "-"


def mean_std(values: list[float]) -> tuple[float, float] | None:
    """(mean, sample std with ddof 1) of per-seed values; std 0 for one value, None for none."""
    if not values:
        return None
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def summarise(records: list[dict]) -> dict[str, list[dict]]:
    """dataset -> rows {label, tuned, encoder, protocol, config, steps, seeds, metric -> (mean,
    std), values: metric -> the finite per-seed values}."""
    groups: dict[tuple, list[dict]] = defaultdict(list)
    for record in records:
        groups[_group_key(record)].append(record)
    tables: dict[str, list[dict]] = defaultdict(list)
    for (dataset, label, encoder, protocol, key, tuned), members in sorted(groups.items()):
        members = sorted(members, key=lambda r: r["seed"])
        training = members[0].get("training")
        row = {"label": label, "tuned": tuned, "encoder": encoder, "protocol": protocol, "config_key": key,
               "view": _config_view(members[0]), "seeds": [r["seed"] for r in members],
               "steps": training["steps"] if training else 0, "values": {}}
        for metric in METRICS:
            values = [r["metrics"][metric] for r in members if r["metrics"].get(metric) is not None]
            row["values"][metric] = [float(v) for v in values if np.isfinite(v)]
            row[metric] = mean_std(row["values"][metric])
        row["partial"] = partial_coverage(members)
        row["commit"] = commits(members)
        tables[dataset].append(row)
    for rows in tables.values():
        _describe_differences(rows)
    return tables


def partial_coverage(members: list[dict]) -> dict[str, str]:
    """metric -> "k/N actions" where some run's mean covers fewer of the N actions it evaluated
    (the metric was undefined for the others; the record's ``undefined`` says why)."""
    out = {}
    for metric in METRICS:
        for record in members:
            covered, total = record.get("metric_actions", {}).get(metric), len(record.get("actions", []))
            if covered is not None and covered < total:
                out[metric] = f"{covered}/{total} actions"
    return out


def direction(metric: str) -> str:
    """'↓' where lower is better, '' for a confidence half-width, else '↑'."""
    if metric.endswith("_ci95"):
        return ""
    return "↓" if metric in LOWER_IS_BETTER else "↑"


def _best(rows: list[dict], metric: str) -> float | None:
    """The best value of a column, or None when there is nothing to compare (fewer than two
    rows with a value, or all of them equal)."""
    values = [row[metric][0] for row in rows if row[metric] is not None]
    if len(values) < 2 or np.allclose(values, values[0]):
        return None
    return min(values) if metric in LOWER_IS_BETTER else max(values)


def welch_p(a: list[float], b: list[float]) -> float:
    """Two-sided p-value of Welch's t-test of two samples (at least two values each):
    t = (mean_a - mean_b) / sqrt(s_a²/n_a + s_b²/n_b) with sample variances s² (ddof 1) and
    Welch-Satterthwaite degrees of freedom (B. L. Welch, Biometrika 34, 1947; the same value
    as scipy.stats.ttest_ind(a, b, equal_var=False), here from the summary statistics so a
    constant sample raises no precision warning). Both samples constant: t is 0/0 (scipy gives
    nan), so equal means count as not different (p = 1) and unequal ones as different (p = 0)."""
    if np.ptp(a) == 0 and np.ptp(b) == 0:
        return 1.0 if np.isclose(a[0], b[0]) else 0.0
    (mean_a, std_a), (mean_b, std_b) = mean_std(a), mean_std(b)
    return float(ttest_ind_from_stats(mean_a, std_a, len(a), mean_b, std_b, len(b), equal_var=False).pvalue)


def _tested(rows: list[dict], metric: str) -> list[int]:
    """The rows a t-test can take part in for a column (at least two values); none when
    fewer than two such rows, as there is nothing to compare."""
    tested = [i for i, row in enumerate(rows) if len(row["values"][metric]) >= 2]
    return tested if len(tested) >= 2 else []


def similar_to_best(rows: list[dict], metric: str) -> list[bool]:
    """Per row: marked ≈, i.e. not significantly different from the column's best row (the
    highest mean, lowest where lower is better, the first on a tie) by ``welch_p`` >= ALPHA.
    Only the rows of ``_tested`` are compared, and the best is chosen among them."""
    tested = _tested(rows, metric)
    if not tested:
        return [False] * len(rows)
    pick = min if metric in LOWER_IS_BETTER else max
    best = pick(tested, key=lambda i: rows[i][metric][0])
    return [i in tested and i != best and welch_p(rows[i]["values"][metric], rows[best]["values"][metric]) >= ALPHA
            for i in range(len(rows))]


def _number(value: float) -> str:
    """Two decimals; huge magnitudes (an unregularised R² on poor features) in scientific form."""
    return f"{value:.2f}" if abs(value) < 1e4 else f"{value:.2e}"


def _cell(row: dict, metric: str, best: float | None, similar: bool) -> str:
    """mean ± std (the std only over two or more values), bold when best, then ≈ and †."""
    value = row[metric]
    if value is None:
        return "-"
    text = _number(value[0]) + (f" ± {_number(value[1])}" if len(row["values"][metric]) > 1 else "")
    text = f"**{text}**" if best is not None and np.isclose(value[0], best) else text
    return text + (SIMILAR if similar else "") + ("†" if metric in row["partial"] else "")


def method_name(row: dict) -> str:
    """The method column: the label, with "(tuned)" for a tuned config."""
    return row["label"] + (" (tuned)" if row["tuned"] else "")


def seeds_text(row: dict) -> str:
    """The seeds column: their count, then the seeds, e.g. "3 (0,1,2)"."""
    return f"{len(row['seeds'])} ({','.join(str(s) for s in row['seeds'])})"


def mean_ranks(rows: list[dict]) -> list[float]:
    """Each row's mean rank over the headline metrics (1 = best; missing = last). Ranks, not
    means of values, so one metric's scale (progression's R² is unbounded below) cannot
    decide the order."""
    ranks = np.zeros(len(rows))
    for metric in HEADLINE_METRICS:
        values = np.array([row[metric][0] if row[metric] is not None else -np.inf for row in rows])
        order = (-values).argsort(kind="stable")
        ranks[order] += np.arange(1, len(rows) + 1)
    return list(ranks / len(HEADLINE_METRICS))


def _intro(source: str) -> list[str]:
    """The page's header: what the numbers are and how to read a row."""
    return ["# Leaderboard", "",
            f"Generated by `bench report` from the run records in {source}; do not edit by hand.",
            "Metrics in percent (PROTOCOL.md): phase classification at 10 % and 100 % of the training labels,",
            "phase progression (R²), Kendall's tau, AP@5, DTW accuracy (↑ higher is better), and the exact",
            "alignment error against ground-truth canonical time (↓ lower is better). Mean ± sample std (ddof 1)",
            "over the seeds of one config (config: its hash, and the values that differ between rows of one method);",
            "best in bold where rows differ. Rows are sorted by their mean rank over the headline metrics;",
            "seeds: their count, then the seeds; commit: the git commit the row's runs were made at (each record",
            "holds the full sha). A method marked (tuned) ran the best config of an equal-budget Optuna study on the",
            "tune split (a seeded 20 % of the training videos), retrained on the full training split and scored on",
            "val like the default-config rows; TUNING.md has the studies.", ""]


def _table(dataset: str, rows: list[dict]) -> list[str]:
    """One dataset's table, rows by mean rank, then the notes on ≈ and † where they occur."""
    lines = [f"## {dataset}", "",
             "| method | " + " | ".join(f"{HEADERS.get(m, m)} % {direction(m)}" for m in METRICS)
             + " | mean rank | encoder | protocol | steps | seeds | config | commit |",
             "|---|" + "---:|" * (len(METRICS) + 1) + "---|---|---:|---|---|---|"]
    ranks = mean_ranks(rows)
    best = {metric: _best(rows, metric) for metric in METRICS}
    similar = {metric: similar_to_best(rows, metric) for metric in METRICS}
    notes = []
    for i in sorted(range(len(rows)), key=lambda i: ranks[i]):
        row = rows[i]
        cells = [_cell(row, m, best[m], similar[m][i]) for m in METRICS]
        lines.append(f"| {method_name(row)} | " + " | ".join(cells) + f" | {ranks[i]:.1f} | {row['encoder']}"
                     + f" | {row['protocol']} | {row['steps']} | {seeds_text(row)} | {row['config']} | {row['commit']} |")
        notes += [f"{method_name(row)} {HEADERS.get(m, m)}: {cover}" for m, cover in row["partial"].items()]
    if any(_tested(rows, m) for m in METRICS):
        lines += ["", f"{SIMILAR} not significantly different from the column's best row (Welch's two-sided t-test "
                  f"on the per-seed values, alpha {ALPHA}); only rows with at least 2 seeds are tested."]
    if notes:
        lines += ["", "† mean over fewer actions than the dataset has (the run record's `undefined` says why): "
                  + "; ".join(notes) + "."]
    return [*lines, ""]


def render_leaderboard(tables: dict[str, list[dict]], source: str = "results/runs") -> str:
    """The page: the header, then one table per dataset (or where to find numbers, when none)."""
    lines = _intro(source)
    if not tables:
        lines += [f"No finished run under {source} yet: `make bench` trains every method; the published "
                  "numbers are in results/published/LEADERBOARD.md.", ""]
    for dataset, rows in sorted(tables.items()):
        lines += _table(dataset, rows)
    return "\n".join(lines)


def write_leaderboard(results_root: Path, out: Path | None = None,
                      warn: Callable[[str], None] | None = None) -> Path:
    """Write the leaderboard of <results_root>/runs to ``out`` (default
    <results_root>/LEADERBOARD.md), atomically."""
    path = Path(out) if out is not None else Path(results_root) / "LEADERBOARD.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_text(path, leaderboard_text(results_root, warn))
    return path


def leaderboard_text(results_root: Path, warn: Callable[[str], None] | None = None) -> str:
    """The leaderboard (Markdown) of the records under <results_root>/runs."""
    return render_leaderboard(summarise(load_records(results_root, warn)), str(Path(results_root) / "runs"))


def is_committed(path: Path) -> bool:
    """Whether ``path`` is a file tracked by git (e.g. the repository's results/LEADERBOARD.md)."""
    path = Path(path)
    if not path.is_file():
        return False
    try:
        out = subprocess.run(["git", "ls-files", "--error-unmatch", path.name], cwd=path.parent,
                             capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return out.returncode == 0
