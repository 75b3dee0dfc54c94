"""Phase classification and few-shot (bench.protocol.classification) on hand-checkable data.

1-D embeddings with phase clusters far apart (0-1 for phase 0, 10-11 for phase 1): any RBF
SVC or logistic regression fitted on both phases labels a frame by its cluster.
"""
from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
from sklearn.svm import SVC

from bench.protocol import classification
from bench.protocol.classification import SubsetScorer, few_shot, phase_classification
from bench.protocol.config import ProtocolConfig, VideoEmbedding


def video(name, values, labels):
    return VideoEmbedding(name, "a", np.array(values, dtype=np.float32)[:, None], np.array(labels))


BOTH = [0.0, 1.0, 10.0, 11.0], [0, 0, 1, 1]      # both phases
ONLY0 = [0.0, 0.5, 1.0], [0, 0, 0]               # phase 0 only
# Evaluation frames: 0.2 and 10.5 are labelled right, 0.7 wrongly (cluster 0, label 1),
# 10.2 is unlabelled. A two-phase classifier predicts [0, 1, 0, 1] -> 2 of 3 labelled = 66.67 %;
# a phase-0-only subset predicts 0 everywhere -> only 0.2 right = 33.33 %.
EVAL = [video("e", [0.2, 10.5, 0.7, 10.2], [0, 1, 1, -1])]
TWO_PHASE, ONE_PHASE = 200 / 3, 100 / 3


def cfg(**values):
    return ProtocolConfig(**values)


@pytest.mark.parametrize("kind", ["svc", "logreg"])
def test_accuracy_over_labelled_frames(kind):
    scorer = SubsetScorer([video("t", *BOTH)], EVAL, cfg(classifier=kind))
    assert scorer.accuracy((0,)) == pytest.approx(TWO_PHASE)


def test_single_phase_subset_predicts_that_phase():
    scorer = SubsetScorer([video("t", *ONLY0)], EVAL, cfg())
    assert scorer.accuracy((0,)) == pytest.approx(ONE_PHASE)
    assert scorer.fits == 0


def test_unlabelled_training_frames_are_not_a_class():
    # The frame at 20 is labelled -1. Dropped, the classifier sees phases 0 (at 0) and 1 (at
    # 10) and labels the evaluation frame at 20 as phase 1 (nearer 10): 3/3 = 100 %. Kept as
    # a class -1 it would be predicted -1 there: 2/3.
    train = [video("t", [0.0, 10.0, 20.0], [0, 1, -1])]
    evaluation = [video("e", [0.0, 10.0, 20.0], [0, 1, 1])]
    assert SubsetScorer(train, evaluation, cfg()).accuracy((0,)) == pytest.approx(100.0)


def test_first_selection_takes_split_order():
    # N=2, f=0.5 -> ceil(1) = 1 video: the first. f=1.0 -> both: two phases -> 66.67 %.
    config = cfg(fractions=(0.5, 1.0), fraction_selection="first")
    out = phase_classification([video("t0", *ONLY0), video("t1", *BOTH)], EVAL, config, seed=0)
    assert out == pytest.approx({"classification@0.50": ONE_PHASE, "classification@1.00": TWO_PHASE})
    out = phase_classification([video("t1", *BOTH), video("t0", *ONLY0)], EVAL, config, seed=0)
    assert out["classification@0.50"] == pytest.approx(TWO_PHASE)


def test_fraction_count_uses_ceil_without_float_noise():
    # 0.7 * 10 = 7.000000000000001 in floating point; ceil must still give 7 videos, and
    # ceil(0.25 * 10) = 3. The scorer records the subsets it was asked for.
    train = [video(f"t{i}", *BOTH) for i in range(10)]
    scorer = SubsetScorer(train, EVAL, cfg())
    phase_classification(train, EVAL, cfg(fractions=(0.7, 0.25), fraction_draws=3), seed=1, scorer=scorer)
    assert sorted({len(s) for s in scorer._cache}) == [3, 7]


@pytest.mark.parametrize("fraction,total,ceil,floor", [
    (0.10, 14, 2, 1),   # 1.4 videos: ceil 2, the papers' int() 1
    (0.10, 5, 1, 1),    # 0.5: at least one video either way
    (0.50, 7, 4, 3),
    (0.70, 10, 7, 7),   # 7.000000000000001: no extra video from float noise
    (1.00, 9, 9, 9),
])
def test_fraction_video_count_by_hand(fraction, total, ceil, floor):
    assert classification.fraction_video_count(fraction, total, "ceil") == ceil
    assert classification.fraction_video_count(fraction, total, "floor") == floor


def test_paper_presets_take_the_first_floor_f_n_videos():
    # N = 3, f = 0.5: floor(1.5) = 1 video, the first (ONLY0): 33.33 %; ceil would take two
    # (ONLY0 + BOTH): 66.67 %.
    train = [video("t0", *ONLY0), video("t1", *BOTH), video("t2", *BOTH)]
    first = dict(fractions=(0.5,), fraction_selection="first")
    assert phase_classification(train, EVAL, cfg(**first, fraction_count="floor"), 0)["classification@0.50"] \
        == pytest.approx(ONE_PHASE)
    assert phase_classification(train, EVAL, cfg(**first, fraction_count="ceil"), 0)["classification@0.50"] \
        == pytest.approx(TWO_PHASE)


def test_random_draws_average_over_subsets():
    # Videos 0, 1 have both phases (66.67 %), videos 2, 3 only phase 0 (33.33 %). A draw of 2
    # of the 4 scores 33.33 only when it is {2, 3}, so the mean over D draws is
    # 66.67 - 33.33 * k / D for the number k of {2, 3} draws; P({2, 3}) = 1/6.
    train = [video("t0", *BOTH), video("t1", *BOTH), video("t2", *ONLY0), video("t3", *ONLY0)]
    draws = 120
    config = cfg(fractions=(0.5,), fraction_draws=draws)
    value = phase_classification(train, EVAL, config, seed=3)["classification@0.50"]
    k = (TWO_PHASE - value) / (100 / 3) * draws
    assert k == pytest.approx(round(k), abs=1e-6) and 8 <= round(k) <= 32
    assert phase_classification(train, EVAL, config, seed=3)["classification@0.50"] == value
    other_seeds = {phase_classification(train, EVAL, config, seed=s)["classification@0.50"] for s in range(4, 8)}
    assert len(other_seeds) > 1


def test_full_fraction_fitted_once_across_draws():
    train = [video("t0", *BOTH), video("t1", *BOTH)]
    scorer = SubsetScorer(train, EVAL, cfg())
    out = phase_classification(train, EVAL, cfg(fractions=(1.0,), fraction_draws=5), seed=0, scorer=scorer)
    assert out["classification@1.00"] == pytest.approx(TWO_PHASE) and scorer.fits == 1


def test_few_shot_mean_and_t_interval():
    # One-shot episodes over {BOTH, ONLY0}: each scores 66.67 or 33.33. With k ONLY0 episodes
    # of E: mean = 66.67 - 33.33 k / E, half-width = t(0.975, E-1) * s / sqrt(E).
    train = [video("t0", *BOTH), video("t1", *ONLY0)]
    episodes = 20
    out = few_shot(train, EVAL, cfg(few_shot=(1,), few_shot_episodes=episodes), seed=5)
    k = round((TWO_PHASE - out["few_shot@1"]) / (100 / 3) * episodes)
    assert 0 < k < episodes
    scores = np.array([ONE_PHASE] * k + [TWO_PHASE] * (episodes - k))
    assert out["few_shot@1"] == pytest.approx(scores.mean())
    half = scipy.stats.t.ppf(0.975, episodes - 1) * scores.std(ddof=1) / np.sqrt(episodes)
    assert out["few_shot@1_ci95"] == pytest.approx(half)


def test_few_shot_hand_interval_and_limits():
    # Both videos two-phase: every episode scores 66.67, so s = 0 and the half-width is 0;
    # n = 2 = N uses the same subset in every episode: one fit. n = 3 > N: NaN.
    train = [video("t0", *BOTH), video("t1", *BOTH)]
    scorer = SubsetScorer(train, EVAL, cfg())
    out = few_shot(train, EVAL, cfg(few_shot=(2, 3), few_shot_episodes=7), seed=0, scorer=scorer)
    assert out["few_shot@2"] == pytest.approx(TWO_PHASE) and out["few_shot@2_ci95"] == pytest.approx(0.0, abs=1e-9)
    assert scorer.fits == 1
    assert np.isnan(out["few_shot@3"]) and np.isnan(out["few_shot@3_ci95"])


def test_t_interval_by_hand():
    # Episode scores 50, 100, 100, 100 (E=4): mean 87.5, s = sqrt((37.5^2 + 3*12.5^2)/3) = 25,
    # s/sqrt(4) = 12.5, t(0.975, 3) = 3.18245 -> half-width 39.7806.
    assert scipy.stats.t.ppf(0.975, 3) * 25 / 2 == pytest.approx(39.7806, abs=1e-4)
    assert np.std([50, 100, 100, 100], ddof=1) == pytest.approx(25.0)


@pytest.mark.parametrize("cached", [True, False])
@pytest.mark.parametrize("dims,videos,phases", [(2, 3, 2), (8, 4, 3), (16, 5, 4)])
def test_precomputed_kernel_matches_plain_rbf_svc(monkeypatch, cached, dims, videos, phases):
    if not cached:
        monkeypatch.setattr(classification, "DISTANCE_CACHE_ENTRIES", 0)
    rng = np.random.default_rng(dims)
    def make(n):
        out = []
        for i in range(n):
            labels = np.sort(rng.integers(-1, phases, size=int(rng.integers(12, 30))))
            emb = labels[:, None] + rng.normal(scale=0.8, size=(len(labels), dims))
            out.append(VideoEmbedding(f"v{i}", "a", emb.astype(np.float32), labels))
        return out
    train, evaluation = make(videos), make(3)
    scorer = SubsetScorer(train, evaluation, cfg(svc_c=0.7, svc_gamma="scale"))
    assert (scorer._distances is not None) == cached
    x_eval = np.concatenate([v.embedding[v.labels != -1] for v in evaluation]).astype(np.float64)
    y_eval = np.concatenate([v.labels[v.labels != -1] for v in evaluation])
    for subset in [(0,), (0, 2), tuple(range(videos))]:
        x = np.concatenate([train[i].embedding[train[i].labels != -1] for i in subset]).astype(np.float64)
        y = np.concatenate([train[i].labels[train[i].labels != -1] for i in subset])
        plain = SVC(kernel="rbf", C=0.7, gamma="scale").fit(x, y).predict(x_eval)
        assert scorer.accuracy(subset) == pytest.approx(100 * np.mean(plain == y_eval))


def test_centred_scale_ignores_per_dimension_offsets():
    # Two phases, 1-D signal +-0.1 in dimension 0; dimension 1 is a constant offset of 1000.
    # "scale": v = Var of all entries ~ 1000^2 / 4 = 250000 -> gamma = 1 / (2 * 250000) = 2e-6;
    # between-phase squared distance 0.04 -> kernel exp(-8e-8) ~ 1 everywhere: one class wins.
    # "centred_scale": v = mean(Var(dim 0) = 0.01, Var(dim 1) = 0) = 0.005 -> gamma = 100;
    # kernel between phases exp(-4) = 0.018: the phases separate, accuracy 100 %.
    def video(name):
        labels = np.array([0] * 6 + [1] * 4)
        emb = np.stack([np.where(labels == 0, -0.1, 0.1), np.full(10, 1000.0)], axis=1)
        return VideoEmbedding(name, "a", emb.astype(np.float32), labels)

    train, evaluation = [video("t0"), video("t1")], [video("e0")]
    centred = SubsetScorer(train, evaluation, cfg(svc_gamma="centred_scale")).accuracy((0, 1))
    plain = SubsetScorer(train, evaluation, cfg(svc_gamma="scale")).accuracy((0, 1))
    assert centred == 100.0 and plain == 60.0  # 60 % = the majority phase (6 of 10 frames)


@pytest.mark.parametrize("seed", [0, 1])
def test_centred_scale_matches_rbf_svc_with_that_gamma(seed):
    rng = np.random.default_rng(seed)
    videos = []
    for i in range(4):
        labels = np.sort(rng.integers(0, 3, size=15))
        emb = labels[:, None] + rng.normal(scale=0.5, size=(15, 3)) + np.array([5.0, -3.0, 40.0])
        videos.append(VideoEmbedding(f"v{i}", "a", emb.astype(np.float32), labels))
    train, evaluation = videos[:3], videos[3:]
    x = np.concatenate([v.embedding for v in train]).astype(np.float64)
    y = np.concatenate([v.labels for v in train])
    gamma = 1.0 / (x.shape[1] * x.var(axis=0).mean())
    plain = SVC(kernel="rbf", gamma=gamma).fit(x, y).predict(evaluation[0].embedding.astype(np.float64))
    scorer = SubsetScorer(train, evaluation, cfg(svc_gamma="centred_scale"))
    assert scorer.accuracy((0, 1, 2)) == pytest.approx(100 * np.mean(plain == evaluation[0].labels))
