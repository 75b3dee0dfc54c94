"""``bench publish``: the published results, kept apart from a user's own runs.

A newcomer's ``make bench`` trains for real into ``results/runs`` (not tracked by git) and
writes ``results/LEADERBOARD.md`` from it. The numbers the project publishes live in
``results/published/``, a results directory of its own that git tracks: its
``runs/<dataset>/<label>/<run id>/`` hold each published run's text files (record.json with
the resolved config, seed, split ids, git sha, versions and device; metrics.json;
config.yaml; loss_log.csv; the re-evaluations in evaluations/), never its weights, and its
pages (LEADERBOARD.md, PROTOCOLS.md, ...) are rebuilt from those records alone by
``bench report --results results/published``, byte for byte. Anyone can audit a number down
to its run.

``publish`` replaces the published run set with the finished runs of a results directory
(atomically: a reader sees the old set or the new one, never a mix), and the published
tuning studies (``tuning/studies.journal`` and the trial runs' text files) with its own.
"""
from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from bench.atomic import replace_directory, temporary_sibling
from bench.errors import DataError
from bench.reevaluate import EVALUATIONS
from bench.runner import finished_runs, read_record
from bench.tuning.storage import DEFAULT_JOURNAL

PUBLISHED = Path("results") / "published"
RUN_FILES = ("record.json", "metrics.json", "config.yaml", "loss_log.csv")
"""What a published run keeps: text a reader can audit (weights and pictures stay behind)."""


def _stage_runs(runs: list[Path], source: Path, staging: Path) -> None:
    """Copy each run's text files (and re-evaluations) from under ``source`` to the same place under ``staging``."""
    for run in runs:
        read_record(run)  # a corrupt record is named, never published
        destination = staging / run.relative_to(source)
        destination.mkdir(parents=True)
        for name in RUN_FILES:
            if (run / name).is_file():
                shutil.copy2(run / name, destination / name)
        if (run / EVALUATIONS).is_dir():
            shutil.copytree(run / EVALUATIONS, destination / EVALUATIONS, ignore=shutil.ignore_patterns(".*"))


def _replace_with(target: Path, fill: Callable[[Path], None]) -> None:
    """Build ``target`` anew under a temporary name with ``fill``, then swap it into place."""
    staging = temporary_sibling(target)
    try:
        staging.mkdir(parents=True)
        fill(staging)
        replace_directory(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def _stage_tuning(tuning: Path, staging: Path) -> None:
    """The studies' journal and every trial run's text files (no checkpoints, locks or figures)."""
    shutil.copy2(tuning / DEFAULT_JOURNAL.name, staging / DEFAULT_JOURNAL.name)
    _stage_runs(finished_runs(tuning), tuning / "runs", staging / "runs")


def publish(results_root: Path, published_root: Path = PUBLISHED) -> list[Path]:
    """Copy every finished run's text files from ``results_root`` into ``published_root/runs``,
    replacing the runs published before, and the tuning studies with their trial runs into
    ``published_root/tuning`` when there are any; return the published run directories."""
    runs = finished_runs(results_root)
    if not runs:
        raise DataError(f"no finished run under {Path(results_root) / 'runs'} to publish; run `make bench` "
                        "(or bench run / bench suite) first")
    _replace_with(Path(published_root) / "runs", lambda staging: _stage_runs(runs, Path(results_root) / "runs", staging))
    tuning = Path(results_root) / DEFAULT_JOURNAL.parent
    if (tuning / DEFAULT_JOURNAL.name).is_file():
        _replace_with(Path(published_root) / DEFAULT_JOURNAL.parent, lambda staging: _stage_tuning(tuning, staging))
    return finished_runs(published_root)
