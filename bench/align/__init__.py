"""Alignment operators on cost matrices (hard DTW path in ``bench.align.dtw``; others beside it)."""
