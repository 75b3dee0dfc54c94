"""DTW accuracy and alignment error (bench.protocol.alignment) with hand-traced DTW paths."""
from __future__ import annotations

import numpy as np
import pytest

from bench.protocol.alignment import (
    alignment_error,
    dtw_accuracy,
    dtw_paths,
    matched_time_error,
)
from bench.protocol.config import VideoEmbedding


def video(values, labels=None, time=None):
    labels = np.zeros(len(values), dtype=int) if labels is None else np.array(labels)
    time = None if time is None else np.array(time, dtype=np.float64)
    return VideoEmbedding("v", "a", np.array(values, dtype=np.float64)[:, None], labels, time)


# A: x = [0, 0, 5, 5], y = [0, 0, 1, 1];  B: x = [0, 5, 5, 5], y = [0, 0, 1, 1] (B's frame 1 looks
# like phase 1 but is labelled 0). Cost |a - b| rows of A: [0,5,5,5], [0,5,5,5], [5,0,0,0], [5,0,0,0].
# Accumulated: row0 [0,5,10,15], row1 [0,5,10,15], row2 [5,0,0,0], row3 [10,0,0,0].
# Backtrack from (3,3): diagonal (2,2)=0 (ties with up/left: diagonal first); from (2,2):
# diag (1,1)=5, up (1,2)=10, left (2,1)=0 -> (2,1); from (2,1): diag (1,0)=0 -> (1,0); then (0,0).
# Path (0,0) (1,0) (2,1) (2,2) (3,3): labels agree at all but (2,1) (1 vs 0) -> 4/5 = 80 %.
A = ([0, 0, 5, 5], [0, 0, 1, 1])
B = ([0, 5, 5, 5], [0, 0, 1, 1])


def test_dtw_path_of_pair():
    (a, b, path), = dtw_paths([video(*A), video(*B)])
    assert (a, b) == (0, 1) and path.tolist() == [[0, 0], [1, 0], [2, 1], [2, 2], [3, 3]]


def test_dtw_accuracy_by_hand():
    assert dtw_accuracy([video(*A), video(*B)]) == pytest.approx(80.0)


def test_dtw_accuracy_ignores_unlabelled_cells():
    # A's frame 1 labelled -1: the cell (1,0) is ignored -> 3 of the 4 remaining agree = 75 %.
    # (Same embeddings, so the same path.)
    assert dtw_accuracy([video(A[0], [0, -1, 1, 1]), video(*B)]) == pytest.approx(75.0)


def test_dtw_accuracy_mean_over_unordered_pairs():
    # Three videos: pairs (A,B) 80 %, (A,A') 100 % (identical: diagonal path, all agree),
    # (B,A') = 80 % (A' = A; the cost is the transpose of (A,B)'s, whose path (0,0) (0,1) (1,2)
    # (2,2) (3,3) meets B's frame 1 (label 0) with A's frame 2 (label 1) once in 5) -> mean 86.67 %.
    assert dtw_accuracy([video(*A), video(*B), video(*A)]) == pytest.approx(260 / 3)


def test_dtw_uses_euclidean_not_squared_cost():
    # A = [0, 0, 1], B = [2, 3, 1]. Euclidean cost rows [2,3,1], [2,3,1], [1,2,0]: the diagonal
    # costs 2+3+0 = 5, the next best paths 6 (e.g. (0,0) (1,0) (2,1) (2,2): 2+2+2+0). Squared
    # cost: diagonal 4+9+0 = 13 but (0,0) (1,0) (2,1) (2,2) = 4+4+4+0 = 12. With labels A [0,0,1],
    # B [0,1,1], the Euclidean (diagonal) path agrees at 2 of 3 cells (66.67 %), the squared
    # one at 4 of 4.
    assert dtw_accuracy([video([0, 0, 1], [0, 0, 1]), video([2, 3, 1], [0, 1, 1])]) == pytest.approx(200 / 3)


def test_dtw_accuracy_pair_without_labelled_cells_dropped():
    unlabelled = video(B[0], [-1, -1, -1, -1])
    assert np.isnan(dtw_accuracy([video(*A), unlabelled]))
    # (A,B) 80 %, (A,U) and (B,U) dropped.
    assert dtw_accuracy([video(*A), video(*B), unlabelled]) == pytest.approx(80.0)


def test_alignment_error_by_hand():
    # A: x = [0, 5, 10], c = [0, 0.5, 1];  B: x = [0, 2, 5, 10], c = [0, 0.25, 0.5, 1].
    # Cost rows of A: [0,2,5,10], [5,3,0,5], [10,8,5,0]; accumulated: row0 [0,2,7,17],
    # row1 [5,3,2,7], row2 [15,11,7,2]. Backtrack (2,3) -> diag (1,2)=2 -> diag (0,1)=2 (up 7,
    # left 3) -> (0,0). Path (0,0) (0,1) (1,2) (2,3).
    # A->B: frame 0 matches B0 (c 0, error 0) and B1 (c 0.25, error 0.25) -> 0.125; frames 1, 2
    # exact -> e = 0.125/3. B->A: B1 (c 0.25) matches A0 (c 0) -> 0.25, the rest exact -> 0.0625.
    # DTW: 100 * (0.041667 + 0.0625)/2 = 5.2083 %.
    # NN: A->B: 0->B0, 5->B2, 10->B3, all exact -> 0. B->A: 2 -> A0 (|2-0| < |2-5|): 0.25, rest
    # exact -> 0.0625. NN: 100 * (0 + 0.0625)/2 = 3.125 %.
    a = video([0, 5, 10], time=[0, 0.5, 1])
    b = video([0, 2, 5, 10], time=[0, 0.25, 0.5, 1])
    out = alignment_error([a, b])
    assert out["alignment_error_dtw"] == pytest.approx(100 * (0.125 / 3 + 0.0625) / 2)
    assert out["alignment_error_nn"] == pytest.approx(3.125)


def test_frame_matched_on_both_sides_of_its_time_counts_every_match():
    # A: x = [0, 5, 10], c = [0, 0.5, 1]; B: x = [0, 4, 6, 10], c = [0, 0.25, 0.75, 1]. A's middle
    # frame (c 0.5) lies between B's 0.25 and 0.75; cost rows of A: [0,4,6,10], [5,1,1,5],
    # [10,6,4,0]; accumulated row0 [0,4,10,20], row1 [5,1,2,7], row2 [15,7,5,2]. Backtrack
    # (2,3) -> diag (1,2)=2 -> diag (0,1)=4 vs left (1,1)=1: left -> (1,1) -> diag (0,0).
    # Path (0,0) (1,1) (1,2) (2,3): A1 matches B1 and B2.
    # A->B: frame 1: |0.5 - 0.25| and |0.5 - 0.75| -> 0.25 (the mean of the matched times, 0.5,
    # would say 0); frames 0, 2 exact -> e = 0.25/3. B->A: B1 -> A1: 0.25, B2 -> A1: 0.25 -> e = 0.5/4.
    # DTW: 100 * (0.25/3 + 0.125)/2 = 10.4167 % (scoring the mean matched time: 6.25 %).
    a = video([0, 5, 10], time=[0, 0.5, 1])
    b = video([0, 4, 6, 10], time=[0, 0.25, 0.75, 1])
    (_, _, path), = dtw_paths([a, b])
    assert path.tolist() == [[0, 0], [1, 1], [1, 2], [2, 3]]
    assert alignment_error([a, b])["alignment_error_dtw"] == pytest.approx(100 * (0.25 / 3 + 0.125) / 2)


def test_matched_time_error_averages_each_match():
    # Frame 0 (0.4) matched to times 0.2 and 0.6 -> errors 0.2 and 0.2 -> 0.2 (not |0.4 - 0.4| = 0);
    # frame 1 (0.9) to 1.0 -> 0.1; mean 0.15.
    cells = np.array([[0, 0], [0, 1], [1, 2]])
    assert matched_time_error(np.array([0.4, 0.9]), np.array([0.2, 0.6, 1.0]), cells) == pytest.approx(0.15)
