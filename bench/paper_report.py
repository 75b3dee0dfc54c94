"""results/papers/<paper>.md and results/COMPARISON.md: the papers' tables beside the harness.

Built by ``bench report`` from the run records (results/runs) and the papers' numbers
(bench/papers/data). A paper's page exists when some run of one of its rows was scored under
the paper's protocol preset (``PAPER_PRESETS``: its own protocol, ``bench ablate`` runs, or a
``bench evaluate`` re-evaluation). Per dataset measured on, per table of the paper: every row's
paper value, the harness's mean ± std over seeds and the difference (measured - paper), then per
metric the rank agreement (bench.papers.rank); a grouped bar chart per table, a chart of the
ablation rows' headline metrics, and the training curves of those runs, PNGs beside the page.

COMPARISON.md: every registered method against every number the papers report for it, with
the spread where papers (or tables of one paper) print different numbers for the same cell,
and the harness's own measurements under the canonical ``bench`` protocol and the papers'
presets; a leaderboard chart of the headline metrics per (dataset, preset) with runs.

Deterministic: rows, columns and files in a fixed order, two-decimal numbers, no dates, so the
same records rebuild the same bytes. A rebuilt page's figures from an earlier build that this
build does not draw are removed; the page of a paper without runs here is left as it is.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.ablate import ABLATIONS
from bench.paper_figures import plot_leaderboard, plot_paper_vs_measured, plot_training_curves
from bench.papers.measured import Measurement, load_runs, measurements
from bench.papers.rank import rank_agreement
from bench.papers.tables import PAPER_TITLES, PAPERS, Column, PaperTable, harness_label, paper_tables, reported_cells
from bench.perf import write_atomic
from bench.protocol.config import HEADLINE_METRICS, LEAKY_PRESETS, PAPER_PRESETS, PRESET_DESCRIPTIONS
from bench.registry import METHODS

PAGES_DIR = "papers"
COMPARISON = "COMPARISON.md"
PAGE_PAPERS = (*PAPERS, "tcc")
Measured = dict[tuple[str, str], Measurement]


def fmt(value: float, signed: bool = False) -> str:
    """Two decimals (signed for differences), scientific beyond 1e4, '-' for a missing value."""
    if value is None or not np.isfinite(value):
        return "-"
    if abs(value) >= 1e4:
        return f"{value:+.2e}" if signed else f"{value:.2e}"
    return f"{value:+.2f}" if signed else f"{value:.2f}"


def mean_std(measurement: Measurement | None, metric: str, action: str | None = None) -> str:
    if measurement is None:
        return "-"
    mean, std = measurement.mean_std(metric, action)
    if not np.isfinite(mean):
        return "-"
    spread = f" ± {fmt(std)}" if np.isfinite(std) else ""
    return f"{fmt(mean)}{spread} ({len(measurement.runs)})"


def ablation_labels(paper: str) -> list[str]:
    spec = ABLATIONS[paper]
    return list(dict.fromkeys(harness_label(spec.method, variant) for variant in spec.variants))


def table_rows(table: PaperTable) -> list[tuple[str, str | None, bool]]:
    """(row name, harness label, is a paper row): the paper's rows, then the harness-only candidates."""
    rows = [(name, table.mapping[name].label, True) for name in table.rows]
    spec = ABLATIONS[table.paper]
    for table_id, variants in spec.candidates:
        if table_id == table.table:
            rows += [(f"{harness_label(spec.method, v)} (harness only)", harness_label(spec.method, v), False)
                     for v in variants]
    return rows


def _measured(measured: Measured, label: str | None, dataset: str) -> Measurement | None:
    return None if label is None else measured.get((label, dataset))


def _measured_mean(measured: Measured, label: str | None, dataset: str, column: Column) -> tuple[float, float]:
    measurement = _measured(measured, label, dataset)
    return (float("nan"), float("nan")) if measurement is None else measurement.mean_std(column.metric, column.action)


def table_has_measurements(table: PaperTable, measured: Measured, dataset: str) -> bool:
    return any(np.isfinite(_measured_mean(measured, label, dataset, column)[0])
               for _, label, _ in table_rows(table) for column in table.columns)


def agreement_line(table: PaperTable, measured: Measured, dataset: str, column: Column) -> tuple[str, float]:
    """The rank-agreement row of one metric column (markdown) and its tau."""
    names, paper, means = [], [], []
    for name, label, _ in table_rows(table):
        cell = table.cells.get((name, column))
        mean = _measured_mean(measured, label, dataset, column)[0]
        if cell is not None and np.isfinite(mean):
            names.append(name)
            paper.append(cell.value)
            means.append(mean)
    agreement = rank_agreement(names, paper, means)
    swapped = "; ".join(f"{a} > {b}" for a, b in agreement.swapped) or "none"
    return (f"| {column.label} | {agreement.rows} | {fmt(agreement.tau, signed=True)} | {fmt(agreement.p_value)} "
            f"| {swapped} |"), agreement.tau


def render_table(table: PaperTable, measured: Measured, dataset: str, figure: str) -> list[str]:
    lines = [f"### Table {table.table}: {table.caption}", "", f"![Table {table.table}]({figure})", "",
             f"| metric (paper's dataset) | row | harness | paper | measured on {dataset} | difference |",
             "|---|---|---|---:|---:|---:|"]
    for column in table.columns:
        for name, label, _ in table_rows(table):
            cell = table.cells.get((name, column))
            if label is None or cell is None and _measured(measured, label, dataset) is None:
                continue
            mean = _measured_mean(measured, label, dataset, column)[0]
            paper = cell.value if cell is not None else float("nan")
            lines.append(f"| {column.label} | {name} | {label} | {fmt(paper)} "
                         f"| {mean_std(_measured(measured, label, dataset), column.metric, column.action)} "
                         f"| {fmt(mean - paper, signed=True)} |")
    lines += ["", "Rank agreement of the rows, per metric (Kendall's tau-b between the paper's values and the "
              "measured means; p: two-sided; swapped: the paper ranks the first row above the second, the "
              "harness the other way round):", "",
              "| metric | rows | tau | p | swapped |", "|---|---:|---:|---:|---|"]
    lines += [agreement_line(table, measured, dataset, column)[0] for column in table.columns
              if any(np.isfinite(_measured_mean(measured, label, dataset, column)[0])
                     for _, label, _ in table_rows(table))]
    outside = [f"{name} ({table.mapping[name].note})" for name in table.rows if table.mapping[name].label is None]
    if outside:
        lines += ["", "Rows without a harness run: " + "; ".join(outside) + "."]
    return [*lines, ""]


def table_panels(table: PaperTable, measured: Measured, dataset: str) -> list:
    panels = []
    for column in table.columns:
        rows = [(name, label) for name, label, _ in table_rows(table) if label is not None]
        stats = [_measured_mean(measured, label, dataset, column) for _, label in rows]
        if not any(np.isfinite(mean) for mean, _ in stats):
            continue
        paper = [table.cells[(name, column)].value if (name, column) in table.cells else float("nan")
                 for name, _ in rows]
        panels.append((column.label, [name for name, _ in rows], paper, [m for m, _ in stats], [s for _, s in stats]))
    return panels


def headline_table(items: list[Measurement]) -> list[str]:
    lines = ["| row | seeds | steps | " + " | ".join(HEADLINE_METRICS) + " |",
             "|---|---|---:|" + "---:|" * len(HEADLINE_METRICS)]
    for m in items:
        lines.append(f"| {m.label} | {' '.join(map(str, m.seeds))} | {m.steps} | "
                     + " | ".join(mean_std(m, metric) for metric in HEADLINE_METRICS) + " |")
    return lines


def _comparability(paper: str, dataset: str) -> str:
    datasets = sorted({d for table in paper_tables(paper) for d in table.datasets}) if paper in PAPERS else []
    if not datasets:
        return f"Measured on {dataset}."
    if dataset in datasets:
        return (f"Measured on {dataset}, a dataset the paper also reports; columns on its other datasets "
                f"({', '.join(d for d in datasets if d != dataset) or 'none'}) compare rankings only.")
    return (f"Measured on **{dataset}**; the paper's numbers come from {', '.join(datasets)}. Numbers measured on "
            f"{dataset} are not comparable in absolute terms with the paper's: the difference column only says how "
            "far apart they are. Compare the rankings: the rank agreement under each table says whether the "
            "paper's ordering of the rows survives.")


def render_page(paper: str, measured: Measured, datasets: list[str], out_dir: Path) -> tuple[str, list[Path]]:
    """The page's markdown and the figures it drew (written into ``out_dir``)."""
    preset, spec = PAPER_PRESETS[paper], ABLATIONS[paper]
    leak = " **Its classification is fitted on the videos it scores: not a held-out accuracy.**" \
        if preset in LEAKY_PRESETS else ""
    lines = [f"# {PAPER_TITLES[paper]}: the paper's tables beside the harness", "",
             "Generated by `bench report` from the run records of this results directory (its runs/) and the paper's numbers in "
             f"bench/papers/data/; do not edit by hand. The rows are trained by `bench ablate --paper {paper} "
             f"--dataset DATASET --seeds 0 1 2` ({spec.tables}); every other mapped row by `bench run` or "
             "`bench suite` and then scored under this paper's preset with "
             f"`bench evaluate --protocol {preset}`.", "",
             f"Protocol: every measured value is under the `{preset}` preset, the code the paper's numbers were "
             f"computed with: {PRESET_DESCRIPTIONS[preset]}{leak}"
             + (f" `bench ablate` adds `{' '.join(spec.protocol_overrides)}`: {spec.why}." if spec.why else ""), "",
             "Measured: mean ± sample std over seeds (number of seeds in brackets); difference: measured mean minus "
             "the paper's value, in points. All values in percent.", ""]
    written = []
    for dataset in datasets:
        lines += [f"## Measured on {dataset}", "", _comparability(paper, dataset), ""]
        tables = paper_tables(paper) if paper in PAPERS else []
        if not tables:
            lines += ["The project holds no table of this paper (bench/papers/data has none), so its rows are "
                      "measured only, without the paper's values or a rank agreement.", ""]
        unmeasured = []
        for table in tables:
            if not table_has_measurements(table, measured, dataset):
                unmeasured.append(f"- Table {table.table} ({table.caption}): no run of its rows on {dataset}"
                                  " under this preset.")
                continue
            figure = f"{paper}_{dataset}_table{table.table}.png"
            written.append(plot_paper_vs_measured(table_panels(table, measured, dataset), out_dir / figure,
                                                  f"{paper} Table {table.table}: paper vs measured", dataset))
            lines += render_table(table, measured, dataset, figure)
        if unmeasured:
            lines += [f"### Tables without a measured row on {dataset}", "", *unmeasured, ""]
        rows = [measured[(label, dataset)] for label in ablation_labels(paper) if (label, dataset) in measured]
        if rows:
            chart, curves = f"{paper}_{dataset}_rows.png", f"{paper}_{dataset}_curves.png"
            written.append(plot_leaderboard(rows, HEADLINE_METRICS, out_dir / chart,
                                            f"{paper} ablation rows on {dataset} ({preset} preset)"))
            written.append(plot_training_curves(rows, out_dir / curves, f"{paper} ablation rows on {dataset}"))
            lines += [f"### The ablation rows' headline metrics on {dataset}", "", f"![headline metrics]({chart})", "",
                      *headline_table(rows), "", f"### Training curves on {dataset}", "",
                      f"![training curves]({curves})", ""]
    return "\n".join(lines), written


def page_datasets(paper: str, measured: Measured) -> list[str]:
    labels = set(ablation_labels(paper))
    if paper in PAPERS:
        labels |= {table.mapping[name].label for table in paper_tables(paper) for name in table.rows} - {None}
    return sorted({dataset for label, dataset in measured if label in labels})


def comparison_rows(label: str) -> dict[tuple[str, str, str], list[tuple[str, str, float]]]:
    """(paper's dataset, metric, setting) -> [(paper, table, value)] for every non-per-action cell of ``label``."""
    rows = defaultdict(list)
    for table, cell in reported_cells().get(label, []):
        if cell.column.action is not None:
            continue
        setting = "joint model" if "model=" in cell.row else ""
        rows[(cell.column.dataset, cell.column.metric, setting)].append((table.paper, table.table, cell.value))
    return dict(sorted(rows.items()))


COMPARISON_PRESETS = ("bench", *dict.fromkeys(PAPER_PRESETS[paper] for paper in PAPERS))
"""The canonical protocol, then each preset the papers' numbers were computed with (lav, carl)."""


def render_comparison(measured: dict[str, Measured], figures: list[str]) -> str:
    """``measured``: preset -> its measurements; one harness column per (dataset, preset) with runs."""
    labels = list(METHODS.names())
    labels += sorted(set(reported_cells()) - set(labels))
    harness_columns = sorted({(dataset, preset) for preset, items in measured.items() for _, dataset in items},
                             key=lambda c: (c[0], COMPARISON_PRESETS.index(c[1])))
    lines = ["# Every harness method against the papers' numbers", "",
             "Generated by `bench report` from the run records of this results directory (its runs/) and the papers' numbers in "
             "bench/papers/data/; do not edit by hand. For each method (and each variant a paper reports), every "
             "number LAV, LRProp and LAC print for it (paper and table in brackets), the spread where they print "
             "different numbers for the same cell, and the harness's mean ± std over seeds (seeds in brackets) "
             "under the canonical `bench` protocol and under the presets the papers' numbers were computed with "
             f"({', '.join(f'{p}: {PAPER_PRESETS[p]}' for p in PAPERS)}). Numbers measured on synthetic are not "
             "comparable in absolute terms with Pouring or PennAction. Per-action tables (LRProp A4, LAC 7) are "
             "on the paper pages.", ""]
    disagreements = []
    for label in labels:
        for (dataset, metric, setting), values in comparison_rows(label).items():
            numbers = {value for _, _, value in values}
            if len(numbers) > 1:
                disagreements.append(f"| {label} | {dataset} | {metric}{' ' + setting if setting else ''} | "
                                     + "; ".join(f"{v:.2f} ({p} T{t})" for p, t, v in values)
                                     + f" | {max(numbers) - min(numbers):.2f} |")
    lines += ["## Where the papers disagree", "", "| method | dataset | metric | values | spread |", "|---|---|---|---|---:|",
              *disagreements, ""]
    for figure in figures:
        lines += [f"![leaderboard]({figure})", ""]
    for label in labels:
        rows = comparison_rows(label)
        lines += [f"## {label}", ""]
        if not rows:
            lines += ["No paper in bench/papers/data reports a number for it.", ""]
            continue
        lines += ["| paper's dataset | metric | " + " | ".join(PAPERS) + " | spread | "
                  + " | ".join(f"harness on {d} ({p})" for d, p in harness_columns) + " |",
                  "|---|---|" + "---:|" * (len(PAPERS) + 1 + len(harness_columns))]
        for (dataset, metric, setting), values in rows.items():
            per_paper = [", ".join(f"{v:.2f} (T{t})" for p, t, v in values if p == paper) or "-" for paper in PAPERS]
            numbers = [v for _, _, v in values]
            spread = fmt(max(numbers) - min(numbers)) if len(set(numbers)) > 1 else ""
            harness = [mean_std(measured[p].get((label, d)), metric) if not setting else "-" for d, p in harness_columns]
            lines.append(f"| {dataset} | {metric}{' ' + setting if setting else ''} | " + " | ".join(per_paper)
                         + f" | {spread} | " + " | ".join(harness) + " |")
        lines.append("")
    return "\n".join(lines)


def write_paper_reports(results_root: Path, warn: Callable[[str], None] | None = None) -> list[Path]:
    """Rebuild every paper page, COMPARISON.md and their figures; return the pages written."""
    results_root = Path(results_root)
    out_dir = results_root / PAGES_DIR
    runs = load_runs(results_root, warn)
    pages, written = [], []
    for paper in PAGE_PAPERS:
        measured = measurements(runs, PAPER_PRESETS[paper])
        datasets = page_datasets(paper, measured)
        if not datasets:
            continue
        text, figures = render_page(paper, measured, datasets, out_dir)
        page = out_dir / f"{paper}.md"
        write_atomic(page, text)
        pages.append(page)
        written += [page, *figures]
    if runs:
        by_preset = {preset: measurements(runs, preset) for preset in COMPARISON_PRESETS}
        charts = []
        for preset, items in by_preset.items():
            for dataset in sorted({d for _, d in items}):
                chart = out_dir / f"leaderboard_{dataset}_{preset}.png"
                written.append(plot_leaderboard([m for (_, d), m in sorted(items.items()) if d == dataset],
                                                HEADLINE_METRICS, chart, f"headline metrics on {dataset} ({preset} preset)"))
                charts.append(f"{PAGES_DIR}/{chart.name}")
        page = results_root / COMPARISON
        write_atomic(page, render_comparison(by_preset, sorted(charts)))
        pages.append(page)
    rebuilt = [page.stem for page in pages if page.parent == out_dir] + (["leaderboard"] if runs else [])
    for stale in sorted({path for prefix in rebuilt for path in out_dir.glob(f"{prefix}_*.png")} - set(written)):
        stale.unlink()
    return pages
