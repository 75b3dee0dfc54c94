"""The leaderboard: grouping over seeds, mean and std, bold best, ranking by mean rank, tuned
rows apart from default ones, the Welch ≈ mark."""
import json
import warnings

import numpy as np
import pytest
from scipy.stats import ttest_ind

from bench.protocol.config import HEADLINE_METRICS
from bench.report import (
    ALPHA,
    load_records,
    mean_ranks,
    render_leaderboard,
    similar_to_best,
    summarise,
    welch_p,
    write_leaderboard,
)


def record(label, seed, value, tau=None):
    metrics = {metric: value for metric in HEADLINE_METRICS}
    if tau is not None:
        metrics["kendalls_tau"] = tau
    metrics["alignment_error_dtw"] = 100 - value
    return {"dataset": "toy", "label": label, "encoder": "enc", "protocol": "bench", "seed": seed,
            "training": {"steps": 10}, "metrics": metrics}


def write(root, rec):
    path = root / "runs" / rec["dataset"] / rec["label"] / f"id{rec['seed']}{rec['label']}"
    path.mkdir(parents=True)
    (path / "record.json").write_text(json.dumps(rec))


def test_mean_and_std_over_seeds():
    rows = summarise([record("a", 0, 10.0), record("a", 1, 20.0)])["toy"]
    assert rows[0]["seeds"] == [0, 1]
    # mean 15, sample std sqrt(((10-15)² + (20-15)²) / (2-1)) = sqrt(50)
    assert rows[0]["classification@0.10"] == pytest.approx((15.0, np.sqrt(50.0)))
    assert rows[0]["values"]["classification@0.10"] == [10.0, 20.0]


def test_mean_ranks_by_hand():
    # a beats b on 5 metrics, loses tau (1 vs 99): a ranks 1,1,1,2,1,1 -> 7/6; b 2,2,2,1,2,2 -> 11/6
    rows = summarise([record("a", 0, 50.0, tau=1.0), record("b", 0, 40.0, tau=99.0)])["toy"]
    ranks = dict(zip([r["label"] for r in rows], mean_ranks(rows)))
    assert np.isclose(ranks["a"], 7 / 6) and np.isclose(ranks["b"], 11 / 6)


def test_render_bolds_best_and_orders_rows():
    text = render_leaderboard(summarise([record("worse", 0, 40.0), record("better", 0, 50.0)]))
    lines = [line for line in text.splitlines() if line.startswith("| better") or line.startswith("| worse")]
    # better: 50 on every headline metric and alignment error 100 - 50 = 50 < 60 (lower is better)
    assert lines[0].startswith("| better") and lines[0].count("**50.00**") == 7
    assert "**" not in lines[1]


def test_huge_values_are_readable():
    text = render_leaderboard(summarise([record("a", 0, -12269002.4)]))
    assert "-1.23e+07" in text


def test_write_reads_records_and_ignores_temporary_directories(tmp_path):
    write(tmp_path, record("a", 0, 10.0))
    hidden = tmp_path / "runs" / "toy" / "a" / ".tmp-run"
    hidden.mkdir()
    (hidden / "record.json").write_text("{not json")
    assert len(load_records(tmp_path)) == 1
    path = write_leaderboard(tmp_path)
    assert "## toy" in path.read_text()


def test_metric_over_fewer_actions_is_marked():
    partial = {**record("a", 0, 50.0), "actions": ["x", "y", "z"],
               "metric_actions": {**{m: 3 for m in HEADLINE_METRICS}, "progression": 2}}
    text = render_leaderboard(summarise([partial, record("b", 0, 40.0)]))
    row = next(line for line in text.splitlines() if line.startswith("| a "))
    assert row.count("†") == 1 and "**50.00**†" in row
    assert "† mean over fewer actions than the dataset has" in text and "a progress: 2/3 actions" in text


def configured(label, seed, value, steps, version="v1"):
    """A record of a run with a config (trainer.steps differs between configs)."""
    rec = record(label, seed, value)
    rec["config"] = {"seed": seed, "method": {"name": label}, "trainer": {"steps": steps}}
    rec["training"] = {"steps": steps}
    rec["data"] = {"version": version}
    return rec


def test_runs_of_two_configs_are_kept_apart_and_seeds_of_one_averaged():
    rows = summarise([configured("a", 0, 10.0, 100), configured("a", 1, 20.0, 100),
                      configured("a", 0, 70.0, 300)])["toy"]
    assert len(rows) == 2
    by_steps = {row["steps"]: row for row in rows}
    assert by_steps[100]["classification@0.10"] == pytest.approx((15.0, np.sqrt(50.0)))
    assert by_steps[100]["seeds"] == [0, 1]
    assert by_steps[300]["classification@0.10"] == (70.0, 0.0)
    assert "trainer.steps=100" in by_steps[100]["config"] and "trainer.steps=300" in by_steps[300]["config"]
    text = render_leaderboard({"toy": rows})
    assert text.count("| a |") == 2 and "trainer.steps=300" in text


def test_config_column_lists_at_most_three_differences():
    a, b = configured("a", 0, 10.0, 100), configured("a", 0, 20.0, 200)
    b["config"]["method"] = {"name": "a", "x": 1, "y": 2, "z": 3}
    rows = summarise([a, b])["toy"]
    assert all(row["config"].endswith("1 more)") for row in rows)  # x, y, z, trainer.steps differ


def test_data_versions_are_kept_apart():
    rows = summarise([configured("a", 0, 10.0, 100, "v1"), configured("a", 1, 20.0, 100, "v2")])["toy"]
    assert len(rows) == 2 and all("data version" in row["config"] for row in rows)


def test_one_row_or_equal_rows_are_not_bold():
    assert "**" not in render_leaderboard(summarise([record("alone", 0, 50.0)]))
    assert "**" not in render_leaderboard(summarise([record("a", 0, 50.0), record("b", 0, 50.0)]))


def test_headers_say_unit_and_direction():
    text = render_leaderboard(summarise([record("a", 0, 50.0)]))
    assert "class@0.1 % ↑" in text and "align err % ↓" in text


def test_bad_record_is_skipped_with_a_warning_naming_it(tmp_path):
    write(tmp_path, record("good", 0, 10.0))
    broken = tmp_path / "runs" / "toy" / "bad" / "id0"
    broken.mkdir(parents=True)
    (broken / "record.json").write_text('{"run_id": "cut sho')
    partial = tmp_path / "runs" / "toy" / "partial" / "id1"
    partial.mkdir(parents=True)
    (partial / "record.json").write_text('{"label": "partial"}')
    warnings = []
    records = load_records(tmp_path, warnings.append)
    assert [r["label"] for r in records] == ["good"]
    assert len(warnings) == 2 and str(broken / "record.json") in warnings[0] and "is corrupt" in warnings[0]
    assert str(partial / "record.json") in warnings[1] and "is not a run record" in warnings[1]
    assert "| good |" in write_leaderboard(tmp_path).read_text()


def test_runs_under_another_protocol_get_their_own_table():
    paper = {**record("b", 0, 40.0), "protocol": "lav"}
    tables = summarise([record("a", 0, 50.0), paper])
    assert sorted(tables) == ["toy", "toy, lav protocol"]


def test_rows_name_the_commit_of_their_runs():
    clean = {**record("a", 0, 50.0), "environment": {"git": {"sha": "abcdef123456", "dirty": False}}}
    dirty = {**record("a", 1, 50.0), "environment": {"git": {"sha": "0123456789ab", "dirty": True}}}
    row = next(line for line in render_leaderboard(summarise([clean, dirty])).splitlines() if line.startswith("| a "))
    assert row.endswith("| 0123456+dirty, abcdef1 |")


def test_empty_results_point_to_make_bench_and_the_published_numbers():
    text = render_leaderboard(summarise([]))
    assert "No finished run under results/runs yet" in text and "results/published/LEADERBOARD.md" in text


def test_seeds_column_gives_the_count_then_the_seeds():
    text = render_leaderboard(summarise([record("a", s, 50.0 + s) for s in (2, 0, 1)] + [record("b", 7, 40.0)]))
    row = {line.split(" |")[0]: line for line in text.splitlines() if line.startswith("| ")}
    assert "| 3 (0,1,2) |" in row["| a"] and "| 1 (7) |" in row["| b"]


def tuned(rec, trial=3):
    """The record of a run whose config came from an Optuna study."""
    return {**rec, "tuned": {"study": "toy-a", "trial": trial, "objective": 61.2, "trials": 8, "steps": 10}}


def test_tuned_and_default_runs_of_one_method_are_two_rows():
    rows = summarise([record("a", 0, 50.0), tuned(record("a", 0, 60.0)), tuned(record("a", 1, 62.0))])["toy"]
    assert len(rows) == 2
    by_tuned = {row["tuned"]: row for row in rows}
    assert by_tuned[False]["seeds"] == [0] and by_tuned[True]["seeds"] == [0, 1]
    assert by_tuned[True]["classification@0.10"][0] == 61.0
    text = render_leaderboard({"toy": rows})
    labels = [line.split(" | ")[0] for line in text.splitlines() if line.startswith("| a")]
    assert labels == ["| a (tuned)", "| a"]  # the tuned row is better on every headline metric
    assert "best config of an equal-budget Optuna study" in text and "TUNING.md" in text


def seeded(label, values):
    """A row's runs: one record per seed, with the given value of every metric."""
    return [record(label, seed, value) for seed, value in enumerate(values)]


def marks(text, label):
    """The ≈ count of the row labelled ``label``."""
    return next(line for line in text.splitlines() if line.startswith(f"| {label} |")).count("≈")


def test_welch_mark_by_hand():
    # Welch: means 82 vs 81, both s² = 4, n = 3: t = 1 / sqrt(4/3 + 4/3) = 0.61, df = 4, p = 0.57
    best, close, far = [80.0, 82.0, 84.0], [79.0, 81.0, 83.0], [50.0, 51.0, 52.0]
    assert welch_p(close, best) == pytest.approx(ttest_ind(close, best, equal_var=False).pvalue)
    assert welch_p(close, best) == pytest.approx(0.573, abs=1e-3) and welch_p(far, best) < ALPHA
    text = render_leaderboard(summarise([*seeded("best", best), *seeded("close", close), *seeded("far", far)]))
    # every headline metric is marked, and alignment error (100 - value, lower is better) too
    assert marks(text, "best") == 0 and marks(text, "close") == 7 and marks(text, "far") == 0
    assert "≈ not significantly different from the column's best row (Welch's two-sided t-test" in text


def test_lower_is_better_column_compares_with_the_lowest():
    rows = summarise([*seeded("best", [80.0, 82.0, 84.0]), *seeded("close", [79.0, 81.0, 83.0])])["toy"]
    # alignment error is 100 - value: "best" has the lowest error (18 vs 19), so "close" is marked
    assert similar_to_best(rows, "alignment_error_dtw") == [False, True]


def test_zero_variance_rows_equal_means_are_similar_unequal_are_not():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # scipy gives nan (and warns) here; welch_p must not ask it
        assert welch_p([5.0, 5.0], [5.0, 5.0, 5.0]) == 1.0
        assert welch_p([5.0, 5.0], [6.0, 6.0]) == 0.0
        assert welch_p([5.0, 5.0, 5.0], [4.0, 5.0, 6.0]) == pytest.approx(1.0)  # one constant: scipy's value
        text = render_leaderboard(summarise([*seeded("six", [6.0, 6.0]), *seeded("five", [5.0, 5.0]),
                                             *seeded("same", [6.0, 6.0])]))
    # "same" ties "six" for best (the first row of the table on a tie is the best): the other is marked
    assert marks(text, "same") == 0 and marks(text, "six") == 7 and marks(text, "five") == 0


def test_one_seed_rows_are_never_marked_nor_tested():
    text = render_leaderboard(summarise([*seeded("best", [80.0, 82.0, 84.0]), record("single", 0, 81.0),
                                         *seeded("close", [79.0, 81.0, 83.0])]))
    assert marks(text, "single") == 0 and marks(text, "close") == 7
    alone = render_leaderboard(summarise([*seeded("best", [80.0, 82.0, 84.0]), record("single", 0, 81.0)]))
    assert "≈" not in alone  # one row with two seeds: nothing to test, no note either
