"""Every row of the bad-input table (tests/bad_inputs.py): exit status 2, one line on
stderr that names the key or file, nothing written under results/ or data/."""
import pytest
import torch
from bad_inputs import CASES, snapshot

from bench.cli import main


def exit_status(args: list[str]) -> int:
    """main's return value, or the status of a SystemExit (argparse errors)."""
    try:
        return main(args)
    except SystemExit as stop:
        return stop.code


@pytest.mark.parametrize("case", CASES, ids=[case.kind for case in CASES])
def test_bad_input_is_one_line_exit_2_and_writes_nothing(case, tmp_path, monkeypatch, capsys):
    if case.needs_no_gpu and torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    monkeypatch.chdir(tmp_path)
    if case.setup is not None:
        case.setup(tmp_path)
    before = snapshot(tmp_path)
    capsys.readouterr()
    assert exit_status(case.args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and case.needle in lines[0], lines
    assert len(lines[0]) < 600, len(lines[0])
    assert snapshot(tmp_path) == before
    if not case.writes_before:
        assert not (tmp_path / "results").exists() and not (tmp_path / "data").exists()
