"""The papers' tables as data: every reported cell, its row mapped to a harness method, its metric
to a protocol metric.

Files (bench/papers/data/, copied from the extracted tables of the specs, one row per cell):

- ``<paper>.csv``: ``paper,table,caption,dataset,method,metric,setting,value,note``; value on a
  0-100 scale; metric one of ``METRIC_KEYS``; setting ``key=value`` pairs joined by ``;``.
  The keys ``labels``, ``k`` and ``action`` say which metric a cell is (its column: label
  fraction, AP@K, per-action value); every other key (``loss_group``, ``smoothing_param``,
  ``loss_row``, ``model``) says which row it is.
- ``rows.csv``: ``paper,method,row_setting,harness_method,harness_variant,note``: the harness
  method and variant of each paper row (``row_setting`` empty matches every setting of that
  row name; an exact ``row_setting`` wins); ``harness_method`` empty: not in the harness, and
  ``note`` says why. An empty ``harness_variant`` is the method's default.
"""
from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from bench.errors import DataError
from bench.registry import METHODS

DATA = Path(__file__).parent / "data"
PAPERS = ("lav", "lrprop", "lac")
"""Papers whose tables the project holds. TCC's tables are not among the extracted ones."""

PAPER_TITLES = {
    "lav": "LAV: Learning by Aligning Videos in Time (Haresh et al., CVPR 2021)",
    "lrprop": "LRProp: Weakly-supervised Representation Learning for Video Alignment and Analysis (WACV 2024)",
    "lac": "LAC: Self-Supervised Contrastive Learning for Videos using Differentiable Local Alignment (2024)",
    "tcc": "TCC: Temporal Cycle-Consistency Learning (Dwibedi et al., CVPR 2019)",
}

COLUMN_KEYS = ("labels", "k", "action")
GROUPING_KEYS = ("loss_group", "loss_row")
"""Setting keys that only group rows whose names already differ: left out of the row name."""
UNSTATED_FRACTION = "classification (label fraction not stated)"
"""LAV Table 5 does not say its label fraction: no protocol metric matches, nothing is compared."""
METRIC_KEYS = {
    "phase_classification": lambda s: (f"classification@{float(s['labels']):.2f}" if "labels" in s
                                       else UNSTATED_FRACTION),
    "phase_progression": lambda s: "progression",
    "kendalls_tau": lambda s: "kendalls_tau",
    "ap_at_k": lambda s: f"ap@{int(s['k'])}",
    "dtw_accuracy": lambda s: "dtw_accuracy",
}
"""Paper metric (with its setting) -> the protocol's metric key (docs/PROTOCOL.md)."""


def parse_setting(text: str) -> dict[str, str]:
    return dict(part.split("=", 1) for part in text.split(";") if part)


def harness_label(method: str, variant: str | None) -> str:
    """method[+variant], where a variant that changes nothing (``sdtw+cidm`` of lav, ``full`` of
    lac) is the method's default: runs of either answer the same paper rows. A method that is not
    registered (a record from another checkout) keeps its own label."""
    known = method in METHODS.names()
    if variant is None or known and not METHODS.get(method).variants.get(variant):
        return method
    return f"{method}+{variant}"


@dataclass(frozen=True)
class RowMapping:
    paper: str
    method: str
    row_setting: str
    harness_method: str | None
    harness_variant: str | None
    note: str

    @property
    def label(self) -> str | None:
        """The harness run label (method[+variant]), None when not in the harness."""
        return None if self.harness_method is None else harness_label(self.harness_method, self.harness_variant)


@dataclass(frozen=True)
class Column:
    """One column of a paper table: the paper's dataset, the protocol metric, an action or None."""

    dataset: str
    metric: str
    action: str | None

    @property
    def label(self) -> str:
        return f"{self.metric}" + (f" [{self.action}]" if self.action else "") + f" ({self.dataset})"


@dataclass(frozen=True)
class Cell:
    row: str
    column: Column
    value: float
    note: str


@dataclass
class PaperTable:
    paper: str
    table: str
    caption: str
    rows: list[str] = field(default_factory=list)
    columns: list[Column] = field(default_factory=list)
    cells: dict[tuple[str, Column], Cell] = field(default_factory=dict)
    mapping: dict[str, RowMapping] = field(default_factory=dict)

    @property
    def datasets(self) -> list[str]:
        return list(dict.fromkeys(column.dataset for column in self.columns))


def _read_csv(path: Path, columns: list[str]) -> list[dict[str, str]]:
    try:
        with path.open(newline="") as handle:
            reader = csv.DictReader(handle)
            if reader.fieldnames != columns:
                raise DataError(f"{path} has columns {reader.fieldnames}; expected {columns}")
            return list(reader)
    except FileNotFoundError as err:
        raise DataError(f"{path} is missing; restore it from the repository (git checkout -- {path})") from err


def _mapping_row(row: dict[str, str], path: Path) -> RowMapping:
    method = row["harness_method"] or None
    variant = row["harness_variant"] or None
    if method is not None:
        if method not in METHODS.names():
            raise DataError(f"{path}: row '{row['method']}' maps to unknown method '{method}'; "
                            f"use one of {METHODS.names()}")
        if variant is not None and variant not in METHODS.get(method).variants:
            raise DataError(f"{path}: row '{row['method']}' maps to unknown variant '{variant}' of {method}; "
                            f"use one of {list(METHODS.get(method).variants)}")
    elif not row["note"]:
        raise DataError(f"{path}: row '{row['method']}' is not in the harness but has no note saying why")
    return RowMapping(row["paper"], row["method"], row["row_setting"], method, variant, row["note"])


@cache
def row_mappings() -> dict[tuple[str, str, str], RowMapping]:
    """(paper, paper row name, row setting) -> its mapping, from rows.csv."""
    path = DATA / "rows.csv"
    rows = _read_csv(path, ["paper", "method", "row_setting", "harness_method", "harness_variant", "note"])
    return {(r["paper"], r["method"], r["row_setting"]): _mapping_row(r, path) for r in rows}


def find_mapping(paper: str, method: str, row_setting: str) -> RowMapping:
    mappings = row_mappings()
    found = mappings.get((paper, method, row_setting)) or mappings.get((paper, method, ""))
    if found is None:
        raise DataError(f"{DATA / 'rows.csv'} has no row for {paper} '{method}' ({row_setting or 'any setting'}); "
                        "add one: the harness method and variant, or an empty method and a note")
    return found


def _cell(row: dict[str, str], path: Path) -> tuple[str, str, Column, float]:
    """(row name, row setting, column, value) of one CSV line."""
    setting = parse_setting(row["setting"])
    if row["metric"] not in METRIC_KEYS:
        raise DataError(f"{path}: unknown metric '{row['metric']}'; use one of {list(METRIC_KEYS)}")
    try:
        metric = METRIC_KEYS[row["metric"]](setting)
        value = float(row["value"])
    except (KeyError, ValueError) as err:
        raise DataError(f"{path}: cell {row['method']} {row['metric']} '{row['setting']}' = '{row['value']}' "
                        f"cannot be read ({err!r}); fix the setting or the value") from err
    row_setting = ";".join(f"{k}={v}" for k, v in setting.items() if k not in COLUMN_KEYS)
    shown = ";".join(f"{k}={v}" for k, v in setting.items() if k not in (*COLUMN_KEYS, *GROUPING_KEYS))
    name = row["method"] + (f" ({shown})" if shown else "")
    return name, row_setting, Column(row["dataset"], metric, setting.get("action")), value


@cache
def paper_tables(paper: str) -> list[PaperTable]:
    """Every table of ``paper`` in the order the paper prints them (rows and columns in file order)."""
    path = DATA / f"{paper}.csv"
    tables: dict[str, PaperTable] = {}
    for row in _read_csv(path, ["paper", "table", "caption", "dataset", "method", "metric", "setting", "value", "note"]):
        table = tables.setdefault(row["table"], PaperTable(paper, row["table"], row["caption"]))
        name, row_setting, column, value = _cell(row, path)
        if name not in table.mapping:
            table.rows.append(name)
            table.mapping[name] = find_mapping(paper, row["method"], row_setting)
        if column not in table.columns:
            table.columns.append(column)
        table.cells[(name, column)] = Cell(name, column, value, row["note"])
    return list(tables.values())


def reported_cells() -> dict[str, list[tuple[PaperTable, Cell]]]:
    """Harness label -> every (table, cell) a paper reports for a row mapped to it."""
    out = defaultdict(list)
    for paper in PAPERS:
        for table in paper_tables(paper):
            for cell in table.cells.values():
                label = table.mapping[cell.row].label
                if label is not None:
                    out[label].append((table, cell))
    return dict(out)
