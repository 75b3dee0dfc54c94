"""Kendall's tau and AP@K (bench.protocol.retrieval) on 1-D embeddings with hand-computed answers."""
from __future__ import annotations

import numpy as np
import pytest

from bench.protocol.config import VideoEmbedding
from bench.protocol.retrieval import (
    kendalls_tau,
    nan_mean,
    nearest_neighbours,
    precision_at_k,
)


def video(values, labels=None):
    labels = np.zeros(len(values), dtype=int) if labels is None else np.array(labels)
    return VideoEmbedding("v", "a", np.array(values, dtype=np.float64)[:, None], labels)


def test_tau_identical_and_reversed():
    # Identical order: each frame's neighbour is the same index -> tau = 1 both ways.
    assert kendalls_tau([video([0, 1, 2, 3]), video([0, 1, 2, 3])], stride=1) == pytest.approx(100.0)
    # Reversed: neighbours [3, 2, 1, 0] -> tau = -1 both ways.
    assert kendalls_tau([video([0, 1, 2, 3]), video([3, 2, 1, 0])], stride=1) == pytest.approx(-100.0)


def test_tau_one_swap():
    # A = [0, 1, 2, 3], B = [0, 2, 1, 3]: neighbours of A in B are [0, 2, 1, 3] (and of B in A
    # the same). Of the 6 index pairs only (1, 2) is discordant: tau = (5 - 1) / 6 = 2/3.
    assert kendalls_tau([video([0, 1, 2, 3]), video([0, 2, 1, 3])], stride=1) == pytest.approx(200 / 3)


def test_tau_stride_samples_every_kth_frame():
    # Stride 2 keeps frames 0, 2, 4: A -> [0, 1, 2], B -> [2, 1, 0]: reversed, tau = -1. The
    # skipped frames (100) would otherwise match each other.
    a, b = video([0, 100, 1, 100, 2]), video([2, 100, 1, 100, 0])
    assert kendalls_tau([a, b], stride=2) == pytest.approx(-100.0)


def test_tau_nan_pairs_dropped():
    # C is constant: every frame of A or B maps to C's frame 0 (ties -> lowest index), and every
    # frame of C maps to one frame: tau undefined for the four pairs with C. A-B and B-A: 1.
    a, b, c = video([0, 1, 2, 3]), video([0, 1, 2, 3]), video([5, 5, 5, 5])
    assert kendalls_tau([a, b, c], stride=1) == pytest.approx(100.0)
    assert np.isnan(kendalls_tau([a, c], stride=1))


def test_nearest_neighbours_squared_euclidean_lowest_index_on_ties():
    # 2-D: query (0, 0); candidates (1, 1) [d^2 = 2], (0, 1) [1], (1, 0) [1] -> index 1 (tie with 2).
    queries = np.array([[0.0, 0.0]])
    assert nearest_neighbours(queries, np.array([[1.0, 1.0], [0.0, 1.0], [1.0, 0.0]])).tolist() == [1]


# Three videos, stride 1:  V0 x=[0, 10] y=[0, 1];  V1 x=[1, 11] y=[0, 1];  V2 x=[3, 12] y=[1, 1].
# V0: q=0 (y 0), pool V1+V2 = 1(0) 11(1) 3(1) 12(1), d^2 = 1, 121, 9, 144 -> 1(0), 3(1), ...:
#     P@1 = 1, P@2 = 1/2.  q=10 (y 1): d^2 = 81, 1, 49, 4 -> 11(1), 12(1): P@1 = 1, P@2 = 1.
#     V0: P@1 = 1, P@2 = 0.75.
# V1: q=1 (y 0), pool V0+V2 = 0(0) 10(1) 3(1) 12(1), d^2 = 1, 81, 4, 121 -> 0(0), 3(1): 1, 1/2.
#     q=11 (y 1): d^2 = 121, 1, 64, 1 -> 10(1) and 12(1) tie: 1, 1.  V1: 1, 0.75.
# V2: q=3 (y 1), pool V0+V1 = 0(0) 10(1) 1(0) 11(1), d^2 = 9, 49, 4, 64 -> 1(0), 0(0): 0, 0.
#     q=12 (y 1): d^2 = 144, 4, 121, 1 -> 11(1), 10(1): 1, 1.  V2: 0.5, 0.5.
# AP@1 = (1 + 1 + 0.5)/3 = 83.33 %; AP@2 = (0.75 + 0.75 + 0.5)/3 = 66.67 %.
# AP@10 > pool size 4: the whole pool. V0: q0 1/4 (label 0 once), q10 3/4 -> 0.5; V1 the same
# 0.5; V2: pool labels [0, 1, 0, 1] -> 2/4 for both -> 0.5. AP@10 = 50 %.
THREE = [([0, 10], [0, 1]), ([1, 11], [0, 1]), ([3, 12], [1, 1])]


def test_precision_at_k_by_hand():
    videos = [video(x, y) for x, y in THREE]
    out = precision_at_k(videos, stride=1, ks=(1, 2, 10))
    assert out == pytest.approx({"ap@1": 250 / 3, "ap@2": 200 / 3, "ap@10": 50.0})


def test_precision_at_k_unlabelled_frames_neither_query_nor_pool():
    # An extra frame x=0.5 labelled -1 in V0 would be the nearest pool frame of V1's q=1 and a
    # query with no matching label; dropped, the answer is unchanged.
    videos = [video([0, 10, 0.5], [0, 1, -1]), video(*THREE[1]), video(*THREE[2])]
    out = precision_at_k(videos, stride=1, ks=(1, 2, 10))
    assert out == pytest.approx({"ap@1": 250 / 3, "ap@2": 200 / 3, "ap@10": 50.0})


def test_precision_at_k_stride():
    # Stride 2 keeps frames 0 and 2: V0 -> x [0, 10] y [0, 1] etc. (the odd frames, x=50 with
    # the wrong label, are skipped), so the answer is the three-video one.
    videos = [video([x[0], 50, x[1]], [y[0], 1 - y[0], y[1]]) for x, y in THREE]
    assert precision_at_k(videos, stride=2, ks=(1, 2)) == pytest.approx({"ap@1": 250 / 3, "ap@2": 200 / 3})


def test_precision_at_k_single_video_is_nan():
    assert np.isnan(precision_at_k([video(*THREE[0])], stride=1, ks=(1,))["ap@1"])


def test_nan_mean():
    assert nan_mean([1.0, float("nan"), 3.0]) == 2.0 and np.isnan(nan_mean([float("nan")]))


def test_precision_at_k_own_video_counts_the_query():
    # LAV's form. V0 x = [0, 1, 10] y = [0, 1, 1]: its own pool, the query included.
    #   q=0 (y 0): d^2 to [0, 1, 10] = 0, 1, 100 -> 0(0), 1(1), 10(1): P@1 = 1, P@2 = 1/2, P@5 over min(5, 3)
    #   = 3 frames: 1/3.  q=1 (y 1): d^2 = 1, 0, 81 -> 1(1), 0(0): P@1 = 1, P@2 = 1/2, P@5 = 2/3.
    #   q=10 (y 1): d^2 = 100, 81, 0 -> 10(1), 1(1): 1, 1, 2/3.  V0: P@1 = 1, P@2 = 2/3, P@5 = 5/9.
    # V1 x = [5, 6] y = [1, 1]: every neighbour has label 1 -> 1, 1, 1. The other video is never searched.
    # AP@1 = 100, AP@2 = (2/3 + 1)/2 = 83.33, AP@5 = (5/9 + 1)/2 = 77.78 %.
    videos = [video([0, 1, 10], [0, 1, 1]), video([5, 6], [1, 1])]
    out = precision_at_k(videos, stride=1, ks=(1, 2, 5), pool="own_video")
    assert out == pytest.approx({"ap@1": 100.0, "ap@2": 250 / 3, "ap@5": 700 / 9})
    # A single video is enough for the own-video form.
    assert precision_at_k(videos[:1], stride=1, ks=(1,), pool="own_video")["ap@1"] == pytest.approx(100.0)
