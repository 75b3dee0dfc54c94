"""``bench ablate``: train every row of a paper's ablation tables with identical budgets under the
paper's protocol preset, skipping finished runs.

A plan is the paper's method with each of its ablation variants (``ABLATIONS``) x seeds, all
with the dataset's trainer budget and the same user overrides, evaluated under
``PAPER_PRESETS[paper]``. The rows:

- lav: Table 1's seven loss rows (S-DTW, IDM, SFA, C-IDM and the three S-DTW combinations) and
  LAV + TCC (Tables 2-4);
- lrprop: Table 3's loss components (same+cross, same+dtw, same+cross+dtw);
- lac: Table 5's loss components and Table 4's smoothing values;
- tcc: the TCC loss types (the project holds no TCC table, so its page is measured only).

``--list`` prints the plan and its run count (finished runs found by their resolved config)
and runs nothing. ``--tuned`` runs each row with the best config of its own study
(``bench tune --method M --variant V``: the variant's defining fields stay pinned, the rest
is tuned on the tune split under the ``bench`` objective); a row without a study is named
with the command that makes it.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.errors import DataError, UnknownNameError
from bench.protocol.config import PAPER_PRESETS
from bench.registry import METHODS, unknown_name_message
from bench.run_config import ResolvedConfig, resolve
from bench.runner import execute, finished_runs, read_record
from bench.training_units import run_label


@dataclass(frozen=True)
class Ablation:
    method: str
    variants: tuple[str, ...]
    tables: str
    """The paper's tables these rows rebuild, in words."""
    protocol_overrides: tuple[str, ...] = ()
    """Protocol values set on top of the paper's preset, each with its reason in ``why``."""
    why: str = ""
    candidates: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """(table, variants): harness rows shown in a paper table that no paper row maps to (the
    paper's row label was lost in extraction, so which variant it is stays open)."""


ABLATIONS: dict[str, Ablation] = {
    "lav": Ablation("lav", ("sdtw", "idm", "sfa", "cidm", "sdtw+idm", "sdtw+sfa", "sdtw+cidm", "lav+tcc"),
                    "Table 1 (individual and combined losses) and LAV + TCC of Tables 2-4",
                    ("protocol.progression=true",),
                    "the lav preset leaves phase progression out (the LAV code has it commented out), but "
                    "LAV's Tables 1 and 3 report it: it is computed as TCC's code does (the preset's "
                    "phase-end events and unregularised regression)"),
    "lrprop": Ablation("lrprop", ("same+cross", "same+dtw", "same+cross+dtw"), "Table 3 (loss components)",
                       candidates=(("3", ("same+cross", "same+dtw")),)),
    "lac": Ablation("lac", ("contrastive", "contrastive+local", "full", "t0.6", "t0.7", "t0.8", "t0.9"),
                    "Table 5 (loss components) and Table 4 (smoothing)",
                    candidates=(("5", ("contrastive+local",)),)),
    "tcc": Ablation("tcc", ("regression_mse_var", "regression_mse", "regression_huber", "classification"),
                    "the loss types (no TCC table is in the project's data: measured only)"),
}


def ablation(paper: str) -> Ablation:
    if paper not in ABLATIONS:
        raise UnknownNameError(unknown_name_message("paper", paper, list(ABLATIONS)))
    return ABLATIONS[paper]


@dataclass(frozen=True)
class PlannedRun:
    """One run of an ablation: its config, and the study and trial it came from (``--tuned``)."""

    resolved: ResolvedConfig
    tuned: dict | None = None


def plan(paper: str, dataset: str | None, seeds: list[int], overrides: list[str], tuned: bool = False,
         config_file: str | None = None, results_root: Path = Path("results"),
         storage: str | None = None) -> list[PlannedRun]:
    """Every (variant, seed) of the paper's ablation, resolved: seed by seed, each seed's rows in
    table order, so that an interrupted ablation has compared every row on its first seeds."""
    from bench.tuning.tuned import tuned_values  # noqa: PLC0415 - Optuna only for --tuned

    spec = ablation(paper)
    unknown = [v for v in spec.variants if v not in METHODS.get(spec.method).variants]
    if unknown:
        raise UnknownNameError(unknown_name_message(f"variant of {spec.method}", unknown[0],
                                                    list(METHODS.get(spec.method).variants)))
    studies = {variant: tuned_values(spec.method, variant, dataset or "synthetic", storage, results_root)
               for variant in spec.variants} if tuned else {}
    return [PlannedRun(resolve(method=spec.method, variant=variant, dataset=dataset, protocol=PAPER_PRESETS[paper],
                               seed=seed, config_file=config_file, overrides=[*spec.protocol_overrides, *overrides],
                               values=studies[variant][0] if tuned else None),
                       studies[variant][1] if tuned else None)
            for seed in seeds for variant in spec.variants]


def finished_configs(results_root: Path) -> set[str]:
    """The resolved configs (canonical JSON) of every finished run under ``results_root``."""
    configs = set()
    for run in finished_runs(results_root):
        try:
            configs.add(json.dumps(read_record(run)["config"], sort_keys=True))
        except DataError:
            continue  # a corrupt record is no finished run: execute() reruns it
    return configs


def is_finished(resolved: ResolvedConfig, done: set[str]) -> bool:
    return json.dumps(resolved.as_dict(), sort_keys=True) in done


def plan_table(paper: str, plans: list[PlannedRun], results_root: Path) -> tuple[Table, int]:
    """The plan as a table (row, seed, steps, preset, status) and the number of runs still to do."""
    done = finished_configs(results_root)
    spec = ABLATIONS[paper]
    table = Table(title=f"bench ablate --paper {paper}: {spec.tables}")
    for column in ("#", "row", "seed", "steps", "protocol", "status"):
        table.add_column(column)
    todo = 0
    for number, planned in enumerate(plans, 1):
        resolved = planned.resolved
        finished = is_finished(resolved, done)
        todo += not finished
        table.add_row(str(number), run_label(resolved) + (" (tuned)" if planned.tuned else ""), str(resolved.seed),
                      str(resolved.trainer.steps),
                      resolved.protocol.name, "finished" if finished else "to run")
    return table, todo


def run_ablation(paper: str, plans: list[PlannedRun], results_root: Path, data_root: Path,
                 list_only: bool, console: Console) -> int:
    """Print the plan; unless ``list_only``, run every unfinished row. Returns the runs trained."""
    table, todo = plan_table(paper, plans, results_root)
    console.print(table)
    spec = ABLATIONS[paper]
    console.print(f"{len(plans)} runs ({len(plans) - todo} finished, {todo} to run), protocol preset "
                  f"{PAPER_PRESETS[paper]}" + (f"; {' '.join(spec.protocol_overrides)}: {spec.why}" if spec.why else ""))
    if list_only:
        return 0
    trained = 0
    for number, planned in enumerate(plans, 1):
        console.rule(f"[{number}/{len(plans)}] {run_label(planned.resolved)} seed {planned.resolved.seed}")
        trained += not execute(planned.resolved, results_root, data_root, console=console, tuned=planned.tuned).skipped
    return trained
