"""Phase progression (bench.protocol.progression) on 1-D embeddings with hand-computed R^2."""
from __future__ import annotations

import numpy as np
import pytest

from bench.protocol.config import VideoEmbedding
from bench.protocol.progression import (
    event_frame,
    phase_progression,
    progression_frames,
)


def video(values, labels):
    return VideoEmbedding("v", "a", np.array(values, dtype=np.float64)[:, None], np.array(labels))


# Training video: x = t, labels [0, 0, 1, 1], L = 4, event 1 at t_1 = 2: targets
# (t - 2)/4 = [-0.5, -0.25, 0, 0.25], exactly f(x) = (x - 2)/4.
TRAIN = [video([0, 1, 2, 3], [0, 0, 1, 1])]


def test_perfect_fit_is_100():
    # Evaluation L = 8, t_1 = 3: targets (t - 3)/8; x = 2 + (t - 3)/2 gives f(x) = (t - 3)/8.
    t = np.arange(8)
    evaluation = [video(2 + (t - 3) / 2, [0, 0, 0, 1, 1, 1, 1, 1])]
    assert phase_progression(TRAIN, evaluation) == pytest.approx(100.0)


def test_hand_r2():
    # Evaluation labels [0, 1, 1, 1], L = 4, t_1 = 1: targets [-0.25, 0, 0.25, 0.5].
    # x = [1, 2, 3, 3] -> predictions (x - 2)/4 = [-0.25, 0, 0.25, 0.25]; residuals [0, 0, 0, 0.25]:
    # SS_res = 0.0625; mean target 0.125, SS_tot = 0.375^2 + 0.125^2 + 0.125^2 + 0.375^2 = 0.3125;
    # R^2 = 1 - 0.0625 / 0.3125 = 0.8 -> 80 %.
    assert phase_progression(TRAIN, [video([1, 2, 3, 3], [0, 1, 1, 1])]) == pytest.approx(80.0)


def test_unlabelled_frames_dropped_but_counted_in_time():
    # Training: labels [-1, 0, 0, 1, 1, -1], L = 6 (all frames), t_1 = 3, x = t: the labelled
    # frames t = 1..4 have targets (t - 3)/6 -> f(x) = (x - 3)/6. Evaluation: labels [-1, 0, 1, 1],
    # L = 4, t_1 = 2: targets (t - 2)/4 for t = 1..3; x = 3 + 6 (t - 2)/4 = [1.5, 3, 4.5] is exact;
    # frame 0 (x = 100) is unlabelled and dropped -> R^2 = 1. Counting only labelled frames
    # (L = 3) or keeping frame 0 would both break the fit.
    train = [video([0, 1, 2, 3, 4, 5], [-1, 0, 0, 1, 1, -1])]
    evaluation = [video([100, 1.5, 3, 4.5], [-1, 0, 1, 1])]
    assert phase_progression(train, evaluation) == pytest.approx(100.0)
    x, y = progression_frames(evaluation, 1)
    assert x[:, 0].tolist() == [1.5, 3, 4.5] and y.tolist() == [-0.25, 0, 0.25]


def test_missing_event_contributes_no_frames():
    # Events 1 (t_1 = 2) and 2 (t_2 = 4) of a 6-frame video with x = t: f1(x) = (x - 2)/6,
    # f2(x) = (x - 4)/6. The second training video lacks phase 2: it fits target 1 only (it is
    # consistent with f1) and adds nothing to target 2. The second evaluation video lacks
    # phase 2 too; its x = t fits target 1 exactly. Both events: R^2 = 1 -> 100 %.
    full = video([0, 1, 2, 3, 4, 5], [0, 0, 1, 1, 2, 2])
    short = video([0, 1, 2, 3, 4, 5], [0, 0, 1, 1, 1, 1])
    assert phase_progression([full, short], [full, short]) == pytest.approx(100.0)
    assert len(progression_frames([full, short], 2)[1]) == 6
    assert len(progression_frames([full, short], 1)[1]) == 12


def test_missing_event_hand_mean_over_events():
    # Same training videos. Evaluation: the full video (both events exact) and a video lacking
    # phase 2, labels [0, 1, 1, 1], L = 4, t_1 = 1, targets [-0.25, 0, 0.25, 0.5], with x chosen
    # so that f1(x) = (x - 2)/6 = [-0.25, 0, 0.25, 0.25] -> x = [0.5, 2, 3.5, 3.5].
    # Target 1 over all 10 evaluation frames: targets [-1/3, -1/6, 0, 1/6, 1/3, 1/2, -0.25, 0, 0.25, 0.5],
    # the only residual 0.25 -> SS_res = 0.0625; sum = 0.5 + 0.5 = 1, mean = 0.1;
    # sum(y^2) = 19/36 + (0.0625 + 0 + 0.0625 + 0.25) = 0.527778 + 0.375 = 0.902778,
    # SS_tot = 0.902778 - 10 * 0.1^2 = 0.802778; R^2_1 = 1 - 0.0625 / 0.802778 = 0.922145.
    # Target 2: only the full video, exact -> 1. Mean = 0.961073 -> 96.1073 %.
    full = video([0, 1, 2, 3, 4, 5], [0, 0, 1, 1, 2, 2])
    short = video([0, 1, 2, 3, 4, 5], [0, 0, 1, 1, 1, 1])
    partial = video([0.5, 2, 3.5, 3.5], [0, 1, 1, 1])
    assert phase_progression([full, short], [full, partial]) == pytest.approx(96.1073, abs=1e-4)


def test_event_frame_is_first_frame_of_phase():
    labels = np.array([-1, 0, 0, 2, 1, 1, 2])
    assert event_frame(labels, 1) == 4 and event_frame(labels, 2) == 3 and event_frame(labels, 3) is None


def test_no_scorable_event_is_nan():
    # A single phase: no key event at all.
    assert np.isnan(phase_progression([video([0, 1], [0, 0])], [video([0, 1], [0, 0])]))
