"""Every page of a results directory, rebuilt from its run records alone.

<results>/LEADERBOARD.md (bench.report), PROTOCOLS.md when some run was re-evaluated
(bench.protocol_report), TUNING.md when a study exists (bench.tuning.report), papers/<paper>.md and COMPARISON.md with their figures
(bench.paper_report). The same function serves a user's own ``results`` and the published
``results/published`` (bench.publish), so both are built the same way.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bench.protocol_report import write_protocols
from bench.report import write_leaderboard


def write_pages(results_root: Path, leaderboard: Path | None = None,
                warn: Callable[[str], None] | None = None) -> list[Path]:
    """Rebuild every page of ``results_root``; return the files written, the leaderboard first."""
    from bench.paper_report import write_paper_reports  # noqa: PLC0415 - matplotlib only when reporting
    from bench.tuning.report import write_tuning  # noqa: PLC0415 - Optuna only when a study exists

    written = [write_leaderboard(results_root, leaderboard, warn=warn)]
    written += [page for page in (write_protocols(results_root), write_tuning(results_root)) if page is not None]
    return written + write_paper_reports(results_root, warn)
