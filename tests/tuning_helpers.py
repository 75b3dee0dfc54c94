"""A tiny tuning setup shared by the tuning tests: scl on 5 + 1 synthetic squat videos of
10-12 frames (the tune split: 1 of the 5 training videos), a small encoder, cheap protocol."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from bad_inputs import sets

TUNE_RUN = ["dataset.train_per_action=5", "dataset.val_per_action=1", "dataset.min_length=10",
            "dataset.max_length=12", "dataset.image_size=16", "dataset.actions=[squat]",
            "encoder.image_size=16", "encoder.embed_dim=8", "encoder.hidden=8", "encoder.layers=1", "encoder.heads=2",
            "encoder.cnn_channels=[4]", "trainer.checkpoint_every=1", "protocol.few_shot=[1]",
            "protocol.few_shot_episodes=2", "protocol.fraction_draws=1", "protocol.tau_stride=2",
            "protocol.ap_stride=2", "method.frames=4"]


def prepare(root: Path) -> None:
    """Generate the tiny synthetic store under root/data before workers start."""
    from bench.run_config import resolve  # noqa: PLC0415
    from bench.runner import open_dataset  # noqa: PLC0415

    open_dataset(resolve(method="scl", overrides=TUNE_RUN), root / "data")


def tune_command(root: Path, trials: int, steps: int, *extra: str) -> list[str]:
    """`bench tune` for scl on the tiny store under root, as a subprocess command line."""
    return [sys.executable, "-m", "bench.cli", "tune", "--method", "scl", "--trials", str(trials),
            "--steps", str(steps), "--pruner", "none", *sets(TUNE_RUN), "--results", str(root / "results"),
            "--data", str(root / "data"), *extra]


def start(command: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(command, stdout=log.open("w"), stderr=subprocess.STDOUT)
