"""Alignment operators, batched over pairs with per-pair lengths.

- ``dtw_path``: hard DTW on one cost matrix (numba), the path and its cost;
- ``dtw_alignment`` / ``first_match``: hard DTW paths of a batch as binary matrices;
- ``soft_dtw``: soft-DTW value with a log-space custom backward (Cuturi & Blondel 2017);
- ``smooth_sw``: LAC's smooth affine Smith-Waterman score and D table, differentiable;
- ``soft_nearest_neighbour`` / ``cycle_back_logits``: TCC's cycle-back operators;
- ``pairwise_sq_dist``: the squared Euclidean cost between frame embeddings.
"""
from bench.align.distances import pairwise_sq_dist
from bench.align.dtw import dtw_path
from bench.align.hard import dtw_alignment, first_match
from bench.align.smith_waterman import smooth_sw
from bench.align.snn import cycle_back_logits, soft_nearest_neighbour
from bench.align.softdtw import soft_dtw

__all__ = ["cycle_back_logits", "dtw_alignment", "dtw_path", "first_match", "pairwise_sq_dist", "smooth_sw",
           "soft_dtw", "soft_nearest_neighbour"]
