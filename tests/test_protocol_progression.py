"""Phase progression (bench.protocol.progression): events, ridge with leave-one-video-out
alpha, the papers' unregularised form; hand-computed cases and a plain sklearn reference."""
from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.linear_model import Ridge

from bench.protocol.config import ProtocolConfig, VideoEmbedding
from bench.protocol.progression import (
    ALPHAS,
    choose_alpha,
    phase_end_events,
    phase_progression,
    phase_start_events,
    ridge_cv_predict,
)

BENCH = ProtocolConfig()
PAPERS = ProtocolConfig(progression_events="phase_ends", progression_regressor="linear")


def video(values, labels, name="v"):
    values = np.array(values, dtype=np.float64)
    return VideoEmbedding(name, "a", values[:, None] if values.ndim == 1 else values, np.array(labels))


def test_phase_start_events_skip_the_first_phase_and_unlabelled_frames():
    assert phase_start_events(np.array([-1, 3, 3, 5, 5, 4])) == {5: 3, 4: 5}
    assert phase_start_events(np.array([0, 0, 1, 0, 2])) == {1: 2, 2: 4}   # a repeated phase: its first frame
    assert phase_start_events(np.array([-1, -1])) == {}


def test_phase_end_events_are_last_frames_of_all_but_the_last_phase():
    assert phase_end_events(np.array([0, 0, 1, 1, 2, 2]), 3) == {0: 1, 1: 3}
    assert phase_end_events(np.array([0, 0, 2, 2]), 3) == {0: 1}            # phase 1 missing: no target 1


def test_ridge_hand_case_one_training_video():
    # Training x = t = [0, 1, 2, 3], labels [0, 0, 1, 1]: one event (phase 1 at t = 2), L = 4,
    # targets y = [-0.5, -0.25, 0, 0.25]. One video -> alpha = 1. Standardised z = (x - 1.5) / sqrt(1.25)
    # (population std), sum z^2 = 4, sum z (y - mean y) = 1.25 / sqrt(1.25) = sqrt(1.25), so
    # w = sqrt(1.25) / (4 + 1) and f(x) = mean y + w z = -0.125 + (x - 1.5) / 5.
    # On the same video: predictions [-0.425, -0.225, -0.025, 0.175], residuals +-0.075, +-0.025:
    # SS_res = 2 (0.075^2 + 0.025^2) = 0.0125; SS_tot = 2 (0.375^2 + 0.125^2) = 0.3125;
    # R^2 = 1 - 0.0125 / 0.3125 = 0.96.
    train = [video([0, 1, 2, 3], [0, 0, 1, 1])]
    assert phase_progression(train, train, BENCH) == pytest.approx(96.0)


def test_value_does_not_depend_on_phase_numbering():
    rng = np.random.default_rng(0)

    def videos(offset):
        out = []
        for i in range(5):
            length = int(rng.integers(9, 15))
            cut1, cut2 = sorted(rng.choice(np.arange(2, length - 1), size=2, replace=False))
            labels = np.where(np.arange(length) < cut1, 0, np.where(np.arange(length) < cut2, 1, 2)) + offset
            out.append(video(np.arange(length)[:, None] / length + rng.normal(0, 0.1, (length, 3)), labels, f"v{i}"))
        return out

    rng = np.random.default_rng(0)
    zero_based = videos(0)
    rng = np.random.default_rng(0)
    one_based = videos(1)
    train, evaluation = zero_based[:3], zero_based[3:]
    value = phase_progression(train, evaluation, BENCH)
    assert np.isfinite(value)
    assert phase_progression(one_based[:3], one_based[3:], BENCH) == pytest.approx(value, abs=1e-12)


def test_tie_goes_to_the_larger_alpha():
    # Constant targets: every alpha predicts the constant exactly (w = 0 fits; the error is 0
    # for all) -> a six-way tie -> the largest alpha.
    rows = [(np.array([[0.0], [1.0]]), np.zeros(2)), (np.array([[2.0], [3.0]]), np.zeros(2))]
    assert choose_alpha(rows) == ALPHAS[-1]
    assert choose_alpha(rows[:1]) == 1.0   # fewer than two videos


def reference_ridge_cv(rows, x_eval):
    """The protocol text, written plainly with sklearn: standardise, leave one video out per alpha, refit."""
    x_all = np.concatenate([x for x, _ in rows])
    mean, std = x_all.mean(axis=0), x_all.std(axis=0)
    std[std == 0] = 1
    rows = [((x - mean) / std, y) for x, y in rows]
    errors = []
    for alpha in ALPHAS:
        total = 0.0
        for held in range(len(rows)):
            fit_x = np.concatenate([x for i, (x, _) in enumerate(rows) if i != held])
            fit_y = np.concatenate([y for i, (_, y) in enumerate(rows) if i != held])
            model = Ridge(alpha=alpha).fit(fit_x, fit_y)
            total += float(np.sum((rows[held][1] - model.predict(rows[held][0])) ** 2))
        errors.append(total)
    best = min(errors)
    alpha = max(a for a, e in zip(ALPHAS, errors) if e <= best + 1e-12 * best)
    model = Ridge(alpha=alpha).fit(np.concatenate([x for x, _ in rows]), np.concatenate([y for _, y in rows]))
    return alpha, model.predict((x_eval - mean) / std)


@pytest.mark.parametrize("seed,dim", [(0, 4), (1, 16), (2, 40)])
def test_ridge_cv_equals_plain_sklearn_reference(seed, dim):
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=dim)
    rows = []
    for _ in range(5):
        n = int(rng.integers(6, 20))
        y = np.linspace(-0.5, 0.5, n)
        rows.append((np.outer(y, direction) + rng.normal(size=(n, dim)) * rng.uniform(0.1, 3) + 7, y))
    x_eval = rng.normal(size=(10, dim)) + 7
    alpha, expected = reference_ridge_cv(rows, x_eval)
    x_all = np.concatenate([x for x, _ in rows])
    assert choose_alpha([((x - x_all.mean(0)) / x_all.std(0), y) for x, y in rows]) == alpha
    np.testing.assert_allclose(ridge_cv_predict(rows, x_eval), expected, rtol=1e-8, atol=1e-10)


def test_ridge_keeps_r2_bounded_where_least_squares_explodes():
    # 128-dimensional noise, a few short videos: least squares interpolates the training rows
    # and extrapolates wildly; the ridge chosen by cross-validation shrinks towards the mean.
    rng = np.random.default_rng(3)
    videos = [video(rng.normal(size=(20, 128)), [0] * 10 + [1] * 10, f"v{i}") for i in range(6)]
    train, evaluation = videos[:4], videos[4:]
    assert phase_progression(train, evaluation, ProtocolConfig(progression_regressor="linear")) < -100
    assert -100 <= phase_progression(train, evaluation, BENCH) <= 100


def test_papers_form_hand_r2_on_phase_ends():
    # Training x = t, labels [0, 0, 1, 1]: phase_ends event 0 at t = 1 (the last frame of phase 0),
    # L = 4: targets (t - 1)/4 = [-0.25, 0, 0.25, 0.5], exactly f(x) = (x - 1)/4.
    # Evaluation labels [0, 1, 1, 1] (event 0 at t = 0), targets [0, 0.25, 0.5, 0.75]; x = [1, 2, 3, 3]
    # -> predictions [0, 0.25, 0.5, 0.5], one residual 0.25: SS_res = 0.0625; mean target 0.375,
    # SS_tot = 0.375^2 + 0.125^2 + 0.125^2 + 0.375^2 = 0.3125; R^2 = 0.8 -> 80 %.
    train = [video([0, 1, 2, 3], [0, 0, 1, 1])]
    assert phase_progression(train, [video([1, 2, 3, 3], [0, 1, 1, 1])], PAPERS) == pytest.approx(80.0)


def test_unlabelled_frames_dropped_but_counted_in_time():
    # Papers' form. Training labels [-1, 0, 0, 1, 1, -1], L = 6, x = t: event 0 at t = 2;
    # the labelled frames t = 1..4 have targets (t - 2)/6 -> f(x) = (x - 2)/6. Evaluation labels
    # [-1, 0, 1, 1], L = 4, event 0 at t = 1: targets (t - 1)/4 for t = 1..3; x = 2 + 6 (t - 1)/4
    # = [2, 3.5, 5] is exact; frame 0 (x = 100) is unlabelled and dropped -> R^2 = 1.
    train = [video([0, 1, 2, 3, 4, 5], [-1, 0, 0, 1, 1, -1])]
    evaluation = [video([100, 2, 3.5, 5], [-1, 0, 1, 1])]
    assert phase_progression(train, evaluation, PAPERS) == pytest.approx(100.0)


def test_missing_event_contributes_no_frames():
    # Papers' form, three phases: targets 0 (end of phase 0) and 1 (end of phase 1). The short
    # videos lack phase 2 and so keep target 1 (phase 1 ends at their last frame) but the
    # video [0, 0, 2, 2] lacks phase 1: it gives no rows to target 1. With x = t every video
    # is exact for target 0 (slope 1/L differs per length, so use equal lengths).
    full = video([0, 1, 2, 3, 4, 5], [0, 0, 1, 1, 2, 2])
    skip = video([0, 1, 2, 3, 4, 5], [0, 0, 2, 2, 2, 2])
    assert phase_progression([full, skip], [full, skip], PAPERS) == pytest.approx(100.0)


def test_no_scorable_event_is_nan():
    one_phase = [video([0, 1], [0, 0])]
    assert math.isnan(phase_progression(one_phase, one_phase, BENCH))
    assert math.isnan(phase_progression(one_phase, one_phase, PAPERS))
