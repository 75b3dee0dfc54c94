"""The command line: bad input exits non-zero with one clear line and writes nothing."""
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
