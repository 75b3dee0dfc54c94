"""The papers' tables as data, rank agreement, bench ablate, the paper pages and COMPARISON.md,
bench align and bench retrieve, on tiny real runs."""
import json
import re
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console
from test_runner import FAST

import bench.papers.tables as tables
from bench import align_view
from bench.ablate import ABLATIONS, plan, run_ablation
from bench.align_view import align_videos, matched_frames
from bench.cli import main
from bench.errors import ConfigError, DataError, UnknownNameError
from bench.figures import plt
from bench.paper_figures import clip_axis, read_loss_log
from bench.paper_report import write_paper_reports
from bench.papers.measured import Measurement, RunValues, load_runs, measurements
from bench.papers.rank import rank_agreement
from bench.papers.tables import PAPERS, UNSTATED_FRACTION, harness_label, paper_tables, reported_cells
from bench.protocol.alignment import dtw_paths, matched_time_error
from bench.protocol.config import VideoEmbedding
from bench.registry import METHODS
from bench.retrieve_view import nearest_frames, retrieve
from bench.run_config import resolve
from bench.runner import RECORD, execute

TINY = [*FAST, "method.frames=4", "method.videos=2"]
METRIC = re.compile(r"^(classification@\d\.\d\d|progression|kendalls_tau|ap@\d+|dtw_accuracy)$")


# --- the data -----------------------------------------------------------------------------------

def test_every_row_is_mapped_or_marked_not_in_the_harness():
    for paper in PAPERS:
        for table in paper_tables(paper):
            for name in table.rows:
                mapping = table.mapping[name]
                if mapping.harness_method is None:
                    assert mapping.note, f"{paper} {name} unmapped without a reason"
                else:
                    assert mapping.harness_method in METHODS.names()
                    cls = METHODS.get(mapping.harness_method)
                    assert mapping.harness_variant is None or mapping.harness_variant in cls.variants
            for column in table.columns:
                assert METRIC.match(column.metric) or column.metric == UNSTATED_FRACTION, column


def test_the_tables_hold_the_papers_numbers():
    lav1 = paper_tables("lav")[0]
    assert lav1.table == "1" and len(lav1.rows) == 7
    assert [lav1.mapping[r].label for r in lav1.rows] == [
        "lav+sdtw", "lav+idm", "lav+sfa", "lav+cidm", "lav+sdtw+idm", "lav+sdtw+sfa", "lav"]
    cells = {(c.row, c.column.metric): c.value for c in lav1.cells.values()}
    assert cells[("S-DTW + C-IDM", "classification@1.00")] == 92.84 and cells[("S-DTW", "kendalls_tau")] == 21.44
    tcn_tau = sorted((t.paper, t.table, c.value) for t, c in reported_cells()["tcn"]
                     if c.column == tables.Column("pouring", "kendalls_tau", None))
    assert ("lav", "3", 85.21) in tcn_tau and ("lrprop", "1", 85.12) in tcn_tau
    lac4 = [t for t in paper_tables("lac") if t.table == "4"][0]
    assert [lac4.mapping[r].label for r in lac4.rows] == ["lac+t0.6", "lac+t0.7", "lac+t0.8", "lac+t0.9"]
    assert paper_tables("lrprop")[2].mapping["LRProp ablation row 1 (two of three loss terms)"].label is None


def test_a_variant_that_changes_nothing_is_the_default():
    assert harness_label("lav", "sdtw+cidm") == "lav" and harness_label("lac", "full") == "lac"
    assert harness_label("lav", "sdtw") == "lav+sdtw" and harness_label("scl", None) == "scl"


def test_the_project_never_reads_the_specs_folder():
    for path in Path(tables.__file__).parents[1].rglob("*.py"):
        assert "shared/paper_tables" not in path.read_text(), path


@pytest.fixture
def data_copy(tmp_path, monkeypatch):
    for path in tables.DATA.glob("*.csv"):
        (tmp_path / path.name).write_text(path.read_text())
    monkeypatch.setattr(tables, "DATA", tmp_path)
    tables.paper_tables.cache_clear()
    tables.row_mappings.cache_clear()
    yield tmp_path
    tables.paper_tables.cache_clear()
    tables.row_mappings.cache_clear()


def test_bad_data_names_the_file_and_the_fix(data_copy):
    rows = data_copy / "rows.csv"
    good = rows.read_text()
    rows.write_text(good.replace("lav,S-DTW,,lav,sdtw,", "lav,S-DTW,,lav,sdtw2,"))
    with pytest.raises(DataError, match="unknown variant 'sdtw2' of lav"):
        paper_tables("lav")
    tables.row_mappings.cache_clear()
    rows.write_text("\n".join(line for line in good.splitlines() if not line.startswith("lav,IDM,")))
    with pytest.raises(DataError, match="no row for lav 'IDM'"):
        paper_tables("lav")
    (data_copy / "lac.csv").unlink()
    with pytest.raises(DataError, match="lac.csv is missing"):
        paper_tables("lac")


# --- rank agreement (hand-computed) ---------------------------------------------------------------

def test_rank_agreement_identical_and_reversed_orders():
    same = rank_agreement(list("abcd"), [1, 2, 3, 4], [10, 20, 30, 40])
    assert same.tau == pytest.approx(1.0) and same.p_value == pytest.approx(2 / 24) and same.swapped == ()
    reverse = rank_agreement(list("abcd"), [4, 3, 2, 1], [1, 2, 3, 4])
    assert reverse.tau == pytest.approx(-1.0) and len(reverse.swapped) == 6


def test_rank_agreement_two_swaps():
    # C = 4, D = 2: tau = 2/6; exact p = P(D <= 2) + P(D >= 4) over the 24 orders = (1+3+5+5+3+1)/24.
    result = rank_agreement(list("abcd"), [1, 2, 3, 4], [2, 1, 4, 3])
    assert result.tau == pytest.approx(1 / 3) and result.p_value == pytest.approx(0.75)
    assert result.swapped == (("b", "a"), ("d", "c"))


def test_rank_agreement_with_a_tie_is_tau_b():
    # paper ties a and b: C = 4, D = 1, one pair tied in the paper only: 3 / sqrt(6 * 5).
    result = rank_agreement(list("abcd"), [1, 1, 3, 4], [2, 1, 4, 3])
    assert result.tau == pytest.approx(3 / np.sqrt(30)) and result.swapped == (("d", "c"),)


def test_rank_agreement_needs_three_rows():
    result = rank_agreement(["a", "b"], [1, 2], [2, 1])
    assert np.isnan(result.tau) and np.isnan(result.p_value) and result.swapped == (("b", "a"),)


# --- grouping ---------------------------------------------------------------------------------

def _fake_run(seed, steps, value):
    record = {"method": "scl", "variant": None, "dataset": "d", "seed": seed, "protocol": "bench",
              "config": {"seed": seed, "trainer": {"steps": steps}, "protocol": {}}}
    return RunValues(Path(f"r{seed}-{steps}"), record, {"bench": {"kendalls_tau": value}}, {})


def test_measurement_uses_the_group_with_most_seeds():
    runs = [_fake_run(0, 10, 50.0), _fake_run(0, 20, 60.0), _fake_run(1, 20, 70.0)]
    chosen = measurements(runs, "bench")[("scl", "d")]
    assert chosen.steps == 20 and chosen.seeds == [0, 1]
    mean, std = chosen.mean_std("kendalls_tau")
    assert mean == pytest.approx(65.0) and std == pytest.approx(np.std([60.0, 70.0], ddof=1))
    assert np.isnan(Measurement("scl", "d", "bench", (runs[0],)).mean_std("kendalls_tau")[1])
    assert measurements(runs, "carl") == {}


# --- bench ablate --------------------------------------------------------------------------------

def test_the_plan_has_identical_budgets_and_the_papers_preset():
    plans = [p.resolved for p in plan("lav", "synthetic", [0, 1, 2], [])]
    assert len(plans) == 24 and {p.variant for p in plans} == set(ABLATIONS["lav"].variants)
    assert {p.trainer.steps for p in plans} == {300} and {p.protocol.name for p in plans} == {"lav"}
    assert all(p.protocol.progression for p in plans)
    assert len({json.dumps({**p.as_dict()["trainer"]}, sort_keys=True) for p in plans}) == 1
    assert {p.resolved.protocol.name for p in plan("lrprop", "synthetic", [0], [])} == {"carl"}
    with pytest.raises(UnknownNameError, match="unknown paper 'sal'"):
        plan("sal", "synthetic", [0], [])
    with pytest.raises(ConfigError, match="no tuning studies at"):
        plan("lac", "synthetic", [0], [], tuned=True, results_root=Path("nowhere"))


def test_ablate_list_runs_nothing(tmp_path, capsys):
    assert main(["ablate", "--paper", "lrprop", "--dataset", "synthetic", "--seeds", "0", "1", "--list",
                 "--results", str(tmp_path / "results"), "--data", str(tmp_path / "data")]) == 0
    out = capsys.readouterr().out
    assert "6 runs (0 finished, 6 to run)" in out and "same+cross+dtw" in out
    assert not (tmp_path / "results").exists() and not (tmp_path / "data").exists()
    assert main(["ablate", "--paper", "nope", "--list"]) == 2


# --- tiny real runs: pages, figures, align, retrieve ------------------------------------------------

@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("papers")
    results, data = root / "results", root / "data"
    plans = [p for p in plan("lav", "tiny_test", [0, 1], TINY) if p.resolved.variant in ("sdtw", "idm", "cidm")]
    console = Console(quiet=True)
    assert run_ablation("lav", plans, results, data, False, console) == 6
    assert run_ablation("lav", plans, results, data, False, console) == 0  # finished runs are skipped
    execute(resolve(method="tcn", dataset="tiny_test", overrides=TINY), results, data, console=console)
    return root


def _records(results, label):
    out = []
    for path in sorted((results / "runs" / "tiny_test" / label).glob(f"*/{RECORD}")):
        out.append(json.loads(path.read_text()))
    return sorted(out, key=lambda r: r["seed"])


def test_report_has_every_table_and_figure_and_rebuilds_identically(tiny):
    results = tiny / "results"
    pages = write_paper_reports(results)
    assert [p.name for p in pages] == ["lav.md", "COMPARISON.md"]
    page = (results / "papers" / "lav.md").read_text()
    assert "### Table 1: Ablation of individual and combined losses on Pouring" in page
    for row in ("S-DTW", "IDM", "SFA", "C-IDM", "S-DTW + IDM", "S-DTW + SFA", "S-DTW + C-IDM"):
        assert f"| {row} |" in page
    assert "not comparable in absolute terms" in page and "Rank agreement" in page
    for number in ("2", "3", "4", "5"):
        assert f"Table {number} (" in page  # listed as not measured on tiny_test
    values = [r["metrics"]["kendalls_tau"] for r in _records(results, "lav+sdtw")]
    expected = f"| kendalls_tau (pouring) | S-DTW | lav+sdtw | 21.44 | {np.mean(values):.2f} ± {np.std(values, ddof=1):.2f} (2) " \
               f"| {np.mean(values) - 21.44:+.2f} |"
    assert expected in page
    assert re.search(r"\| kendalls_tau \(pouring\) \| 3 \| [+-]\d\.\d\d \| \d\.\d\d \|", page)
    figures = re.findall(r"!\[[^]]*\]\(([^)]+)\)", page)
    assert {"lav_tiny_test_table1.png", "lav_tiny_test_rows.png", "lav_tiny_test_curves.png"} <= set(figures)
    comparison = (results / "COMPARISON.md").read_text()
    assert "85.21 (lav T3); 85.12 (lrprop T1)" in comparison and "## tcn" in comparison
    assert "| harness on tiny_test (bench) | harness on tiny_test (lav) |" in comparison
    assert "papers/leaderboard_tiny_test_bench.png" in comparison and "papers/leaderboard_tiny_test_lav.png" in comparison
    for name in [*figures, "leaderboard_tiny_test_bench.png", "leaderboard_tiny_test_lav.png"]:
        assert (results / "papers" / name).read_bytes()[:4] == b"\x89PNG"
    before = {p: p.read_bytes() for p in [*sorted((results / "papers").iterdir()), results / "COMPARISON.md"]}
    (results / "papers" / "lav_old_table9.png").write_bytes(b"old")
    (results / "papers" / "lac.md").write_text("a page of runs that are not here")
    before[results / "papers" / "lac.md"] = b"a page of runs that are not here"
    write_paper_reports(results)
    after = {p: p.read_bytes() for p in [*sorted((results / "papers").iterdir()), results / "COMPARISON.md"]}
    assert after == before


def test_bench_report_writes_the_pages(tiny, capsys):
    assert main(["report", "--results", str(tiny / "results")]) == 0
    out = capsys.readouterr().out
    assert "papers/lav.md" in out and "COMPARISON.md" in out


def test_align_draws_the_protocols_path(tiny):
    results, data = tiny / "results", tiny / "data"
    record = _records(results, "lav+sdtw")[0]
    out, result = align_videos(record["run_id"][:10], "a2", "a3", results, data, tiny / "align.png")
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert result.path[0].tolist() == [0, 0] and result.cost.shape == (14, 15)
    truth = np.linspace(0, 1, 14), np.linspace(0, 1, 15)
    assert result.error == pytest.approx(100 * matched_time_error(*truth, result.path))
    assert result.truth_path is not None and np.abs(np.diff(result.truth_path, axis=0)).max() == 1
    with pytest.raises(UnknownNameError, match="no video 'zz'"):
        align_videos(record["run_id"], "a2", "zz", results, data)


def test_align_path_equals_the_protocols_dtw_path():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(6, 3)), rng.normal(size=(7, 3))
    path = align_view.align(a, b, None, None).path
    videos = [VideoEmbedding("a", "x", a, np.zeros(6, int)), VideoEmbedding("b", "x", b, np.zeros(7, int))]
    np.testing.assert_array_equal(path, dtw_paths(videos)[0][2])
    assert matched_frames(np.array([[0, 0], [1, 1], [1, 2], [1, 3], [2, 4]]), np.array([0, 1, 2])).tolist() == [0, 2, 4]


def test_retrieve_draws_the_nearest_frames(tiny):
    results, data = tiny / "results", tiny / "data"
    record = _records(results, "lav+idm")[0]
    out, neighbours = retrieve(record["run_id"], "a2", 3, 4, results, data, tiny / "retrieve.png")
    assert out.read_bytes()[:4] == b"\x89PNG" and len(neighbours) == 4
    assert {n.video_id for n in neighbours} == {"a3"}  # the only other val video of action a
    assert [n.distance for n in neighbours] == sorted(n.distance for n in neighbours)
    assert all(n.same_phase == (n.phase == "first") for n in neighbours)  # frame 3 of 14 is in phase "first"
    with pytest.raises(ConfigError, match="out of range: video a2 has 14 frames"):
        retrieve(record["run_id"], "a2", 14, 4, results, data)


def test_nearest_frames_by_hand():
    query = np.array([0.0, 0.0])
    candidates = [("v1", np.array([[3.0, 0.0], [1.0, 0.0]])), ("v2", np.array([[0.0, 2.0], [1.0, 0.0]]))]
    assert nearest_frames(query, candidates, 3) == [("v1", 1, 1.0), ("v2", 1, 1.0), ("v2", 0, 4.0)]


def test_loss_log_of_per_action_models_is_averaged_per_step(tmp_path):
    path = tmp_path / "loss_log.csv"
    path.write_text("step,loss,lr,action\n0,2.0,0.1,a\n1,1.0,0.1,a\n0,4.0,0.1,b\n1,3.0,0.1,b\n")
    steps, loss = read_loss_log(path)
    assert steps.tolist() == [0, 1] and loss.tolist() == [3.0, 2.0]


def test_bars_below_the_floor_are_cut_and_labelled():
    fig, ax = plt.subplots()
    clip_axis(ax, np.arange(3.0), np.array([50.0, -3.2e6, np.nan]))
    assert ax.get_ylim() == (-105.0, 105.0) and [t.get_text() for t in ax.texts] == ["-3.2e+06"]
    clip_axis(ax, np.arange(2.0), np.array([50.0, -20.0]))
    assert ax.get_ylim() == (-21.0, 105.0)
    plt.close(fig)


def test_corrupt_or_incomplete_records_are_skipped_with_a_warning(tmp_path):
    corrupt, incomplete = tmp_path / "runs" / "d" / "scl" / "a1", tmp_path / "runs" / "d" / "scl" / "b2"
    corrupt.mkdir(parents=True)
    incomplete.mkdir(parents=True)
    (corrupt / RECORD).write_text("{not json")
    (incomplete / RECORD).write_text(json.dumps({"metrics": {}}))
    warnings = []
    assert load_runs(tmp_path, warnings.append) == []
    assert "is corrupt" in warnings[0] and "lacks" in warnings[1]
