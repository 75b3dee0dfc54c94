"""bench evaluate: a finished run's saved model scored again, under its own protocol (exactly
the record's metrics), under the paper presets and on the tune split, without retraining."""
import json

import numpy as np
import pytest
from test_runner import run

from bench.cli import main
from bench.errors import DataError, UnknownNameError
from bench.reevaluate import find_run, load_evaluations, reevaluate
from bench.store import VideoStore


@pytest.fixture
def finished(tmp_path):
    return run(tmp_path, extra=["method.frames=4", "protocol.few_shot=[1, 2]"])


def test_own_protocol_reproduces_the_record_exactly(tmp_path, finished):
    record_bytes = (finished.directory / "record.json").read_bytes()
    written = reevaluate(finished.record["run_id"], [None], "val", tmp_path / "results", tmp_path / "data")
    stored = json.loads(written["bench"].read_text())
    assert list(stored["metrics"]) == list(finished.record["metrics"])
    np.testing.assert_equal(stored["metrics"], finished.record["metrics"])
    assert stored["undefined"] == finished.record["undefined"]
    assert (finished.directory / "record.json").read_bytes() == record_bytes


def test_paper_presets_written_beside_the_run(tmp_path, finished):
    results = tmp_path / "results"
    reevaluate(finished.record["run_id"][:6], ["tcc", "carl", "lav"], "val", results, tmp_path / "data")
    evaluations = load_evaluations(finished.directory)
    assert set(evaluations) == {("tcc", "val"), ("carl", "val"), ("lav", "val")}
    assert evaluations[("lav", "val")]["leak"] and not evaluations[("carl", "val")]["leak"]
    assert "leak" in evaluations[("lav", "val")]["description"]
    assert evaluations[("tcc", "val")]["protocol_config"]["fraction_count"] == "floor"
    assert "progression" not in evaluations[("lav", "val")]["metrics"]  # the LAV code has it commented out
    assert "classification@0.10" in evaluations[("carl", "val")]["metrics"]


def test_tune_split_scores_the_held_out_training_videos(tmp_path, finished):
    written = reevaluate(str(finished.directory), [None], "tune", tmp_path / "results", tmp_path / "data")
    stored = json.loads(written["bench"].read_text())
    tune = VideoStore(tmp_path / "data" / "tiny_test").split("tune")
    assert stored["split"] == "tune" and stored["actions"] == [tune[0][0]]   # one tune video; ids start with the action
    assert stored["metrics"] != finished.record["metrics"]


def test_bad_input(tmp_path, finished):
    results, data = tmp_path / "results", tmp_path / "data"
    with pytest.raises(UnknownNameError, match="no finished run 'zzz'"):
        find_run(results, "zzz")
    with pytest.raises(UnknownNameError, match="unknown protocol preset"):
        reevaluate(finished.record["run_id"], ["svm"], "val", results, data)
    (finished.directory / "model.pt").unlink()
    with pytest.raises(DataError, match="model.pt is missing"):
        reevaluate(finished.record["run_id"], [None], "val", results, data)


def test_cli(tmp_path, finished, capsys):
    results, data = str(tmp_path / "results"), str(tmp_path / "data")
    assert main(["evaluate", "--run", finished.record["run_id"], "--protocol", "tcc", "--results", results,
                 "--data", data]) == 0
    assert (finished.directory / "evaluations" / "tcc-val.json").is_file()
    assert main(["evaluate", "--results", results, "--data", data]) == 2
    assert main(["evaluate", "--run", "nope", "--results", results, "--data", data]) == 2
    assert "error: no finished run 'nope'" in capsys.readouterr().err
