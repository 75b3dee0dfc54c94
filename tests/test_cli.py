"""The command line: bad input exits non-zero with one clear line and writes nothing."""
import json
import re
import subprocess
import sys

import pytest

from bench.cli import main


def bench(*args, cwd):
    """The real command in a subprocess (slow: a torch import each)."""
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.parametrize("args, needle", [
    (["run", "--method", "lrpropp"], "unknown method 'lrpropp'"),
    (["run", "--method", "scl", "--dataset", "pourng"], "unknown dataset 'pourng'"),
    (["run", "--method", "scl", "--set", "method.temprature=0.2"], "did you mean 'method.temperature'"),
    (["run", "--method", "scl", "--set", "trainer.steps=many"], "trainer.steps='many' has the wrong type"),
    (["run", "--method", "scl", "--set", "steps=3"], "needs a section"),
    (["run", "--method", "tcc", "--variant", "nope"], "unknown variant of tcc"),
    (["run", "--method", "scl", "--config", "missing.yaml"], "missing.yaml does not exist"),
    (["suite", "--methods", "scl", "nope"], "unknown method 'nope'"),
])
def test_bad_input_is_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys, args, needle):
    monkeypatch.chdir(tmp_path)
    assert main(args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], lines
    assert not (tmp_path / "results").exists() and not (tmp_path / "data").exists()


def test_real_command_exit_status(tmp_path):
    result = bench("run", "--method", "lrpropp", cwd=tmp_path)
    assert result.returncode == 2 and result.stderr.startswith("error: unknown method 'lrpropp'")
    assert not (tmp_path / "results").exists()


def test_list_shows_plugins(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("scl", "tcc", "random", "synthetic", "cnn_transformer"):
        assert name in out


def test_config_prints_resolved_yaml(capsys):
    assert main(["config", "--method", "tcc", "--set", "method.temperature=0.3"]) == 0
    out = capsys.readouterr().out
    assert "temperature: 0.3" in out and "name: tcc" in out


def test_data_show_writes_a_contact_sheet(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    tiny = ["dataset.train_per_action=1", "dataset.val_per_action=1", "dataset.min_length=10",
            "dataset.max_length=12", "dataset.image_size=32"]
    args = ["data", "show", "synthetic", *[part for item in tiny for part in ("--set", item)]]
    assert main(args) == 0
    sheet = tmp_path / "results" / "figures" / "synthetic_contact_sheet.png"
    assert sheet.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    capsys.readouterr()
    assert main(["data", "info", "synthetic", *args[3:]]) == 0
    rows = [line.split("│") for line in capsys.readouterr().out.splitlines() if "│" in line]
    cells = {row[1].strip(): [cell.strip() for cell in row[2:]] for row in rows}
    # action | phases | train | val | tune | frames | length min-max | paper train/val
    assert cells["squat"][:3] == ["4", "1", "1"] and cells["all"][1:4] == ["4", "4", "1"]


@pytest.mark.parametrize("command", ["list", "run", "suite", "evaluate", "report", "config", "data"])
def test_every_subcommand_help_has_an_example(command, capsys):
    with pytest.raises(SystemExit) as stop:
        main([command, "--help"])
    out = capsys.readouterr().out
    assert stop.value.code == 0 and "example:\n  bench " + command in out


def test_list_gives_one_sentence_each(capsys):
    assert main(["list"]) == 0
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("  "):
            description = line.split("  variants:")[0].strip()
            assert description.endswith(".") and not re.search(r"\.\s+[A-Z]", description), line


def test_seed_can_be_set_like_any_value(capsys):
    assert main(["config", "--set", "seed=5"]) == 0
    assert capsys.readouterr().out.startswith("seed: 5\n")


def _leaderboard_results(root):
    from test_report import record, write  # noqa: PLC0415 - the report tests' record builder

    write(root, record("a_method_with_a_long_name", 0, 10.0))
    write(root, record("b", 0, 20.0))


def test_report_rows_stay_whole_when_piped(tmp_path, capsys):
    _leaderboard_results(tmp_path)
    assert main(["report", "--results", str(tmp_path)]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| a_method")]
    assert len(rows) == 1 and len(rows[0]) > 80 and rows[0].endswith("|")


def test_report_does_not_replace_a_committed_leaderboard_unless_asked(tmp_path, capsys):
    _leaderboard_results(tmp_path)
    committed = tmp_path / "LEADERBOARD.md"
    committed.write_text("the committed one\n")
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run([*git, "add", "LEADERBOARD.md"], cwd=tmp_path, check=True)
    subprocess.run([*git, "commit", "-qm", "x"], cwd=tmp_path, check=True)
    assert main(["report", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert committed.read_text() == "the committed one\n" and "not written" in out and "| b |" in out
    assert main(["report", "--results", str(tmp_path), "--out", str(tmp_path / "mine.md")]) == 0
    assert "| b |" in (tmp_path / "mine.md").read_text() and committed.read_text() == "the committed one\n"
    assert main(["report", "--results", str(tmp_path), "--replace"]) == 0
    assert "| b |" in committed.read_text()


def test_report_skips_a_corrupt_record_with_a_warning(tmp_path, capsys):
    _leaderboard_results(tmp_path)
    bad = tmp_path / "runs" / "toy" / "c" / "id9"
    bad.mkdir(parents=True)
    (bad / "record.json").write_text("")
    assert main(["report", "--results", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "| b |" in captured.out and f"warning: skipped: run record {bad / 'record.json'} is corrupt" in captured.err


def test_run_prints_its_id_first_and_writes_non_finite_metrics_as_null(tmp_path, monkeypatch, capsys):
    from bad_inputs import RUN  # noqa: PLC0415

    monkeypatch.chdir(tmp_path)
    assert main(RUN) == 0
    out = capsys.readouterr().out
    (directory,) = (tmp_path / "results" / "runs" / "synthetic" / "scl").iterdir()
    assert out.index(f"run {directory.name}: scl on synthetic, seed 0") < out.index("train scl")
    text = (directory / "record.json").read_text()
    metrics = json.loads(text)["metrics"]
    assert "NaN" not in text and None in metrics.values()  # one action, one val video: no pairs for tau
    assert json.loads((directory / "metrics.json").read_text()) == metrics
