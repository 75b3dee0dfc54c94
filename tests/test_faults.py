"""Runs side by side and interrupted, as real processes: two identical runs end well with
one run directory; SIGINT and SIGTERM mid-training checkpoint the current step, say so, and
the rerun resumes from it to the same bits as an uninterrupted run; a full disk keeps the
last good checkpoint and leaves no run directory."""
import errno
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from bad_inputs import RUN, TINY_RUN, run_paths, sets

import bench.atomic as atomic
from bench.errors import DiskFullError
from bench.run_config import resolve
from bench.runner import execute

LONG_SETTINGS = ("trainer.steps=60", "trainer.checkpoint_every=1")
LONG = [*RUN, *sets(list(LONG_SETTINGS))]


def start(args, cwd):
    return subprocess.Popen([sys.executable, "-m", "bench.cli", *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1"})


def finish(process, timeout=300):
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def run_files(cwd: Path) -> dict[str, bytes]:
    """The run directory's deterministic files (not the record: it has wall times)."""
    (directory,) = (cwd / "results" / "runs" / "synthetic" / "scl").iterdir()
    return {name: (directory / name).read_bytes() for name in ("metrics.json", "loss_log.csv")}


def weights(cwd: Path) -> dict[str, torch.Tensor]:
    (directory,) = (cwd / "results" / "runs" / "synthetic" / "scl").iterdir()
    return torch.load(directory / "model.pt", weights_only=True)["encoder"]


def leftovers(cwd: Path) -> list[str]:
    """Temporary files or directories, lock files: anything a clean finish must not leave."""
    return [str(p) for p in cwd.rglob("*") if ".tmp-" in p.name or p.name.endswith(".lock")]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An uninterrupted run of LONG, as a process."""
    cwd = tmp_path_factory.mktemp("reference")
    status, _out, err = finish(start(LONG, cwd))
    assert status == 0, err
    return cwd


@pytest.mark.parametrize("signum, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_mid_training_checkpoints_and_resumes_bit_identically(reference, tmp_path, signum, status):
    checkpoint, _ = run_paths(tmp_path, LONG_SETTINGS)
    process = start(LONG, tmp_path)
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.02)
    assert checkpoint.exists(), "training did not start"
    process.send_signal(signum)
    code, _out, err = finish(process)
    assert code == status, err
    line = err.strip().splitlines()[-1]
    match = re.search(rf"interrupted by {signal.Signals(signum).name} during training: checkpoint .* holds step "
                      r"(\d+); run the same command again to resume from step \1$", line)
    assert match, err
    step = int(match.group(1))
    assert 1 <= step < 60 and torch.load(checkpoint, weights_only=False)["step"] == step
    assert not (tmp_path / "results" / "runs" / "synthetic" / "scl").exists() or \
        not any((tmp_path / "results" / "runs" / "synthetic" / "scl").iterdir())

    code, out, err = finish(start(LONG, tmp_path))
    assert code == 0, err
    assert f"resuming from step {step}" in out
    assert run_files(tmp_path) == run_files(reference)
    mine, theirs = weights(tmp_path), weights(reference)
    assert all(torch.equal(mine[k], theirs[k]) for k in theirs)
    assert not checkpoint.exists() and not leftovers(tmp_path)


def test_two_identical_runs_side_by_side_end_well_with_one_directory(tmp_path):
    args = [*RUN, *sets(["trainer.steps=20"])]
    first, second = start(args, tmp_path), start(args, tmp_path)
    results = [finish(first), finish(second)]
    for code, out, err in results:
        assert code == 0, err
        assert "run record:" in out
    runs = list((tmp_path / "results" / "runs" / "synthetic" / "scl").iterdir())
    assert len(runs) == 1 and (runs[0] / "record.json").is_file()
    assert len(list((tmp_path / "data" / "synthetic").iterdir())) == 1
    assert not leftovers(tmp_path)
    # one trained; the other waited for it (the lock) or found its record, and did not train too
    trained = [out for _code, out, _err in results if "train scl" in out]
    assert len(trained) == 1, [out for _code, out, _err in results]
    other = results[1][1] if trained[0] is results[0][1] else results[0][1]
    assert "skipped" in other


def test_full_disk_keeps_the_last_checkpoint_and_writes_no_run(tmp_path, monkeypatch):
    resolved = resolve(method="scl", overrides=[*TINY_RUN, "trainer.steps=4", "trainer.checkpoint_every=2"])
    real_write = atomic.write_bytes
    calls = []

    def fills_up(path, data, consequence=""):
        calls.append(path)
        if len(calls) == 2:  # the second checkpoint (step 4) finds the disk full
            with atomic.no_space_is_an_error(path, consequence):
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_write(path, data, consequence)

    monkeypatch.setattr(atomic, "write_bytes", fills_up)
    with pytest.raises(DiskFullError, match="no space left to write .*the last good checkpoint is kept"):
        execute(resolved, tmp_path / "results", tmp_path / "data")
    (checkpoint,) = (tmp_path / "results" / "checkpoints").glob("*.pt")
    assert torch.load(checkpoint, weights_only=False)["step"] == 2
    assert not (tmp_path / "results" / "runs").exists() and not leftovers(tmp_path)
