"""The protocol's orchestration (bench.protocol.evaluate): presets, strict config, per-action
averaging, keys, determinism and bad input."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from bench.errors import ConfigError, DataError, UnknownNameError
from bench.protocol import (
    HEADLINE_METRICS,
    LOWER_IS_BETTER,
    ProtocolConfig,
    VideoEmbedding,
    evaluate,
    resolve_protocol,
)
from bench.protocol.evaluate import action_seed, evaluate_action

TAU_ONLY = {"fractions": (), "few_shot": (), "progression": False, "ap_ks": (), "dtw_accuracy": False,
                "alignment_error": False, "tau_stride": 1}


def video(action, values, labels=None, name="v", time=None):
    values = np.array(values, dtype=np.float32)
    labels = np.zeros(len(values), dtype=int) if labels is None else np.array(labels)
    return VideoEmbedding(name, action, values[:, None] if values.ndim == 1 else values, labels, time)


def synthetic(actions=2, train=4, val=3, dim=6, seed=0, with_time=True):
    """Small random videos whose embedding drifts with canonical time (4 phases)."""
    rng = np.random.default_rng(seed)
    direction = rng.normal(size=dim)
    videos = {"train": [], "val": []}
    for a in range(actions):
        for split, count in (("train", train), ("val", val)):
            for i in range(count):
                length = int(rng.integers(12, 25))
                time = np.sort(rng.random(length))
                labels = np.minimum((time * 4).astype(int), 3)
                emb = np.outer(time, direction) * 5 + rng.normal(scale=0.3, size=(length, dim))
                videos[split].append(VideoEmbedding(f"{split}{a}_{i}", f"act{a}", emb.astype(np.float32), labels,
                                                    time.astype(np.float32) if with_time else None))
    return videos["train"], videos["val"]


def test_presets_then_user_values():
    assert resolve_protocol({}) == ProtocolConfig()
    tcc = resolve_protocol({"name": "tcc"})
    assert (tcc.fractions, tcc.fraction_selection, tcc.fraction_draws, tcc.classifier) == \
        ((0.10, 0.50, 1.00), "first", 1, "svc")
    carl = resolve_protocol({"name": "carl", "tau_stride": 3, "fractions": [0.5]})
    assert (carl.classifier, carl.fraction_selection, carl.tau_stride, carl.fractions) == ("logreg", "first", 3, (0.5,))
    assert resolve_protocol({"name": "tcc", "fraction_draws": 4}).fraction_draws == 4


def test_paper_presets_fields():
    tcc, carl, lav = (resolve_protocol({"name": n}) for n in ("tcc", "carl", "lav"))
    for paper in (tcc, carl, lav):
        assert (paper.fraction_count, paper.fraction_selection, paper.svc_gamma) == ("floor", "first", "scale")
    assert (tcc.progression_events, tcc.progression_regressor, tcc.drop_unlabelled) == ("phase_ends", "linear", False)
    assert (carl.progression_events, carl.progression_regressor, carl.drop_unlabelled) == ("phase_ends", "linear", True)
    assert (lav.classifier_fit_split, lav.ap_pool, lav.ap_stride, lav.progression) == ("evaluation", "own_video", 1, False)
    bench = resolve_protocol({})
    assert (bench.progression_events, bench.progression_regressor, bench.classifier_fit_split) == \
        ("phase_starts", "ridge_cv", "train")


@pytest.mark.parametrize("values,error", [
    ({"tau_strid": 5}, ConfigError),
    ({"tau_stride": "5"}, ConfigError),
    ({"tau_stride": 0}, ConfigError),
    ({"ap_stride": 0}, ConfigError),
    ({"fractions": [0.0, 1.0]}, ConfigError),
    ({"fractions": [1.5]}, ConfigError),
    ({"few_shot": [0]}, ConfigError),
    ({"ap_ks": [0, 5]}, ConfigError),
    ({"svc_c": -1.0}, ConfigError),
    ({"fraction_draws": 0}, ConfigError),
    ({"classifier": "knn"}, ConfigError),
    ({"name": "svm"}, UnknownNameError),
    ({"name": ["bench"]}, ConfigError),
])
def test_strict_config_errors(values, error):
    with pytest.raises(error) as info:
        resolve_protocol(values)
    assert "\n" not in str(info.value)


def test_unknown_key_message_names_key():
    with pytest.raises(ConfigError, match="protocol.tau_strid.*did you mean 'protocol.tau_stride'"):
        resolve_protocol({"tau_strid": 5})


def test_per_action_mean_skips_nan_actions():
    # Action x: A = [0, 1, 2, 3] and B identical -> tau 100. Action y: A, B = [0, 2, 1, 3] -> one
    # discordant pair of 6 -> 66.67. Action z: one evaluation video, no pair -> NaN, skipped.
    # Mean over x, y: 83.33.
    ramp, swap = [0, 1, 2, 3], [0, 2, 1, 3]
    train = [video(a, ramp) for a in "xyz"]
    evaluation = [video("x", ramp), video("x", ramp), video("y", ramp), video("y", swap), video("z", ramp)]
    result = evaluate(train, evaluation, ProtocolConfig(**TAU_ONLY), seed=0)
    assert result.metrics == pytest.approx({"kendalls_tau": 250 / 3})
    assert result.coverage() == {"kendalls_tau": 2} and list(result.per_action) == ["x", "y", "z"]
    assert result.undefined == {"kendalls_tau": {"z": "fewer than two evaluation videos: no pair to compare"}}


def test_all_nan_metric_is_nan():
    out = evaluate([video("x", [0, 1])], [video("x", [0, 1])], ProtocolConfig(**TAU_ONLY), seed=0).metrics
    assert np.isnan(out["kendalls_tau"])


def test_keys_and_ranges():
    train, evaluation = synthetic()
    result = evaluate(train, evaluation, resolve_protocol({"few_shot_episodes": 3, "fraction_draws": 2}), seed=1)
    out = result.metrics
    expected = ([f"classification@{f}" for f in ("0.10", "0.25", "0.50", "0.75", "1.00")]
                + [f"few_shot@{n}{s}" for n in (1, 2, 5, 10) for s in ("", "_ci95")]
                + ["progression", "kendalls_tau", "ap@1", "ap@5", "ap@10", "ap@15", "dtw_accuracy",
                   "alignment_error_dtw", "alignment_error_nn"])
    assert list(out) == expected
    assert set(HEADLINE_METRICS) <= set(out) and set(LOWER_IS_BETTER) <= set(out)
    assert np.isnan(out["few_shot@5"]) and np.isnan(out["few_shot@10"])  # 4 training videos per action
    assert result.undefined["few_shot@5"] == {a: "5 shots exceed the 4 training videos with labelled frames"
                                              for a in ("act0", "act1")}
    for key in ("classification@0.10", "classification@1.00", "few_shot@1", "ap@5", "dtw_accuracy"):
        assert 0 <= out[key] <= 100
    # The embedding follows canonical time: the metrics see it.
    assert out["classification@1.00"] > 60 and out["kendalls_tau"] > 50 and out["alignment_error_dtw"] < 20
    assert all(isinstance(v, float) for v in out.values())


def test_alignment_error_needs_canonical_time_and_switches_off():
    train, evaluation = synthetic(with_time=False)
    cfg = resolve_protocol({"few_shot": [], "fractions": [1.0]})
    out = evaluate(train, evaluation, cfg, seed=0).metrics
    assert "alignment_error_dtw" not in out and "dtw_accuracy" in out
    cfg = dataclasses.replace(cfg, dtw_accuracy=False, progression=False, kendalls_tau=False, ap_ks=())
    assert list(evaluate(train, evaluation, cfg, seed=0).metrics) == ["classification@1.00"]


def test_deterministic_and_seeded():
    train, evaluation = synthetic()
    cfg = resolve_protocol({"few_shot": [1], "few_shot_episodes": 5, "fractions": [0.5], "fraction_draws": 3})
    first = evaluate(train, evaluation, cfg, seed=7).metrics
    assert evaluate(train, evaluation, cfg, seed=7).metrics == first
    assert action_seed(7, "act0") == action_seed(7, "act0") != action_seed(7, "act1") != action_seed(8, "act1")


def test_mean_over_actions_of_evaluate_action():
    train, evaluation = synthetic()
    cfg = resolve_protocol({"few_shot": [2], "few_shot_episodes": 4, "fraction_draws": 2})
    out = evaluate(train, evaluation, cfg, seed=3).metrics
    per_action = [evaluate_action([v for v in train if v.action == a], [v for v in evaluation if v.action == a],
                                  cfg, action_seed(3, a)) for a in ("act0", "act1")]
    for key, value in out.items():
        assert value == pytest.approx((per_action[0][key] + per_action[1][key]) / 2)


def test_training_only_actions_ignored_and_progress_reported():
    train, evaluation = synthetic()
    messages = []
    cfg = ProtocolConfig(**TAU_ONLY)
    out = evaluate(train, [v for v in evaluation if v.action == "act0"], cfg, seed=0, progress=messages.append)
    alone = evaluate([v for v in train if v.action == "act0"], [v for v in evaluation if v.action == "act0"], cfg, 0)
    assert out.metrics == alone.metrics and messages == ["act0: Kendall's tau"]


@pytest.mark.parametrize("case", ["no_eval", "no_train_action", "labels_length", "float_labels", "nan", "width",
                                  "time_length", "mixed_time", "one_d"])
def test_bad_input_raises_data_error(case):
    good = video("x", [0, 1, 2], [0, 1, 1])
    train, evaluation = [good], [good]
    if case == "no_eval":
        evaluation = []
    elif case == "no_train_action":
        evaluation = [video("y", [0, 1, 2])]
    elif case == "labels_length":
        evaluation = [video("x", [0, 1, 2], [0, 1])]
    elif case == "float_labels":
        evaluation = [VideoEmbedding("e", "x", good.embedding, np.array([0.0, 1.0, 1.0]))]
    elif case == "nan":
        evaluation = [video("x", [0, np.nan, 2])]
    elif case == "width":
        evaluation = [video("x", np.zeros((3, 2)))]
    elif case == "time_length":
        evaluation = [video("x", [0, 1, 2], time=np.array([0.0, 1.0]))]
    elif case == "mixed_time":
        evaluation = [good, video("x", [0, 1, 2], time=np.array([0.0, 0.5, 1.0]))]
    elif case == "one_d":
        evaluation = [VideoEmbedding("e", "x", np.zeros(3), np.zeros(3, dtype=int))]
    with pytest.raises(DataError) as info:
        evaluate(train, evaluation, ProtocolConfig(), seed=0)
    assert "\n" not in str(info.value)


def test_draws_pick_only_labelled_training_videos():
    # One action, 4 labelled training videos and one with no labelled frame. Draws that could pick
    # the unlabelled video would score NaN (no frame to fit); the pool holds only the 4, so
    # few_shot@1 and classification@0.10 are finite and equal those without the unlabelled video.
    train, evaluation = synthetic(actions=1)
    blank = VideoEmbedding("blank", "act0", train[0].embedding, np.full(len(train[0].labels), -1))
    cfg = resolve_protocol({"few_shot": [1, 4, 5], "few_shot_episodes": 6})
    with_blank = evaluate([blank, *train], evaluation, cfg, seed=2)
    without = evaluate(train, evaluation, cfg, seed=2)
    for key in ("few_shot@1", "few_shot@4", "classification@0.10", "classification@0.25"):
        assert np.isfinite(with_blank.metrics[key]) and with_blank.metrics[key] == without.metrics[key]
    assert with_blank.undefined["few_shot@5"] == {"act0": "5 shots exceed the 4 training videos with labelled frames"}


def test_carl_preset_drops_unlabelled_frames_before_tau():
    # Evaluation videos A: x = [0, 1, 2, 3] and B: x = [0, 1, 2, 3, 0.1], B's last frame labelled -1.
    # bench keeps it. A -> B: nearest neighbours (0, 1, 2, 3): tau 100. B -> A: (0, 1, 2, 3, 0)
    # against (0..4): 6 concordant pairs, 3 discordant (frames 1-3 with frame 4), 1 tied in the
    # neighbour only (frames 0 and 4): tau-b = (6 - 3) / sqrt(9 * 10) = 31.62 %; mean 65.81 %.
    # carl removes the frame first: identical videos, tau = 100 both ways.
    labels = [0, 0, 1, 1]
    a = video("x", [0, 1, 2, 3], labels, "a")
    b = video("x", [0, 1, 2, 3, 0.1], [*labels, -1], "b")
    carl = resolve_protocol({**TAU_ONLY, "name": "carl"})
    assert evaluate([a], [a, b], carl, 0).metrics["kendalls_tau"] == pytest.approx(100.0)
    bench = resolve_protocol(TAU_ONLY)
    assert evaluate([a], [a, b], bench, 0).metrics["kendalls_tau"] == pytest.approx(50 * (1 + 3 / np.sqrt(90)))


def test_lav_preset_fits_on_the_evaluation_videos():
    # Training labels are the reverse of the evaluation labels: a classifier fitted on the
    # training split gets every evaluation frame wrong (0 %); the LAV code's classifier, fitted
    # on the evaluation videos themselves, gets them all right (100 %): the leak.
    x = [0.0, 1.0, 10.0, 11.0]
    train = [video("x", x, [1, 1, 0, 0], "t")]
    evaluation = [video("x", x, [0, 0, 1, 1], "e")]
    only = {"fractions": [1.0], "few_shot": [], "progression": False, "kendalls_tau": False, "ap_ks": [],
            "dtw_accuracy": False}
    assert evaluate(train, evaluation, resolve_protocol(only), 0).metrics["classification@1.00"] == 0.0
    lav = resolve_protocol({**only, "name": "lav"})
    assert evaluate(train, evaluation, lav, 0).metrics["classification@1.00"] == 100.0
