"""Rank agreement between a paper's ordering of a table's rows and the measured ordering.

Kendall's tau-b (scipy.stats.kendalltau; exact two-sided p-value for n <= 33 rows without
ties) between the paper's values and the measured means of the rows that have both:

    tau = (C - D) / sqrt((C + D + T_p) (C + D + T_m)),

C and D the concordant and discordant pairs, T_p and T_m the pairs tied in only one of the
two. A swapped pair is a discordant one: the paper puts row a above row b (by its value) and
the harness puts b above a. Every paper metric is higher-is-better, so "above" is "larger".
Fewer than three rows: tau is undefined (NaN) and no p-value is given.
"""
from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

import numpy as np
import scipy.stats

MIN_ROWS = 3


@dataclass(frozen=True)
class RankAgreement:
    rows: int
    tau: float
    p_value: float
    swapped: tuple[tuple[str, str], ...]
    """(a, b): the paper ranks a above b, the harness b above a."""


def rank_agreement(names: list[str], paper: list[float], measured: list[float]) -> RankAgreement:
    """Kendall's tau-b, its p-value and the swapped pairs of the rows ``names``."""
    paper_values, measured_values = np.asarray(paper, dtype=float), np.asarray(measured, dtype=float)
    swapped = []
    for i, j in combinations(range(len(names)), 2):
        if (paper_values[i] - paper_values[j]) * (measured_values[i] - measured_values[j]) < 0:
            high, low = (i, j) if paper_values[i] > paper_values[j] else (j, i)
            swapped.append((names[high], names[low]))
    if len(names) < MIN_ROWS:
        return RankAgreement(len(names), float("nan"), float("nan"), tuple(swapped))
    result = scipy.stats.kendalltau(paper_values, measured_values)
    return RankAgreement(len(names), float(result.statistic), float(result.pvalue), tuple(swapped))
