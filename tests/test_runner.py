"""Runs end to end on a tiny store: the record, skipping, atomicity, resume, determinism."""
import json
from dataclasses import dataclass

import numpy as np
import pytest
from conftest import write_tiny_store

import bench.runner as runner
import bench.training_units as training_units
from bench.dataset import Dataset
from bench.registry import register_dataset
from bench.run_config import resolve
from bench.runner import execute
from bench.store import VideoStore


@dataclass
class TinyConfig:
    seed: int = 0


@register_dataset("tiny_test")
class TinyTest(Dataset):
    """A tiny random store (tests only)."""

    Config = TinyConfig
    trainer_defaults = {"steps": 3, "checkpoint_every": 1}

    def open(self, data_root) -> VideoStore:
        root = data_root / "tiny_test"
        return VideoStore(root) if root.exists() else write_tiny_store(root, seed=self.cfg.seed)


FAST = ["encoder.image_size=16", "encoder.embed_dim=8", "encoder.hidden=8", "encoder.layers=1",
        "encoder.heads=2", "encoder.cnn_channels=[4]", "protocol.fractions=[0.5, 1.0]",
        "protocol.few_shot=[1]", "protocol.few_shot_episodes=3", "protocol.fraction_draws=2",
        "protocol.tau_stride=2", "protocol.ap_stride=2", "protocol.ap_ks=[1]"]


def run(tmp_path, method="scl", extra=(), **kwargs):
    resolved = resolve(method=method, dataset="tiny_test", overrides=[*FAST, *extra])
    return execute(resolved, tmp_path / "results", tmp_path / "data", **kwargs)


def test_record_is_complete(tmp_path):
    outcome = run(tmp_path, extra=["method.frames=4"])
    record = outcome.record
    files = {p.name for p in outcome.directory.iterdir()}
    assert {"record.json", "metrics.json", "loss_log.csv", "config.yaml", "model.pt", "training_curve.png"} <= files
    assert record["config"]["method"]["name"] == "scl" and record["seed"] == 0
    assert record["data"]["splits"]["val"] == ["a2", "a3", "b2", "b3"]
    assert set(record["environment"]["versions"]) >= {"torch", "numpy", "python"}
    assert "sha" in record["environment"]["git"] and record["environment"]["device"]["type"] == "cpu"
    assert record["timing"]["total_s"] > 0 and record["memory"]["host_rss_mb"] > 0
    assert record["training"]["steps"] == 3 and "classification@1.00" in record["metrics"]
    assert json.loads((outcome.directory / "metrics.json").read_text()) == record["metrics"]
    assert not (tmp_path / "results" / "checkpoints" / f"{record['run_id']}.pt").exists()


def test_finished_run_is_skipped(tmp_path):
    first = run(tmp_path, method="random")
    second = run(tmp_path, method="random")
    assert second.skipped and second.record == first.record


def test_failed_evaluation_leaves_nothing(tmp_path, monkeypatch):
    def broken(*_args, **_kwargs):
        raise RuntimeError("evaluation failed")

    monkeypatch.setattr(runner, "evaluate", broken)
    with pytest.raises(RuntimeError):
        run(tmp_path, method="random")
    runs = tmp_path / "results" / "runs"
    assert not runs.exists() or not any(p for p in runs.rglob("*") if p.is_file())


def test_interrupted_run_resumes_from_checkpoint(tmp_path, monkeypatch):
    original = training_units.train

    def interrupted(encoder, method, loader, cfg, device, checkpoint, on_step, **kwargs):
        def stop(step, row):
            on_step(step, row)
            if step == 1:
                raise KeyboardInterrupt
        return original(encoder, method, loader, cfg, device, checkpoint, stop, **kwargs)

    monkeypatch.setattr(training_units, "train", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, extra=["method.frames=4"])
    monkeypatch.setattr(training_units, "train", original)
    outcome = run(tmp_path, extra=["method.frames=4"])
    # interrupted during step 1, before its checkpoint: the last one holds step 0's update
    assert outcome.record["training"]["resumed_from"] == 1


def test_same_seed_same_numbers(tmp_path):
    a = run(tmp_path / "a", extra=["method.frames=4"]).record
    b = run(tmp_path / "b", extra=["method.frames=4"]).record
    assert json.dumps(a["metrics"]) == json.dumps(b["metrics"]) and a["run_id"] == b["run_id"]
    assert all(np.isfinite(value) for value in a["metrics"].values())
    c = resolve(method="scl", dataset="tiny_test", seed=1, overrides=[*FAST, "method.frames=4"])
    assert runner.run_id(c, VideoStore(tmp_path / "a" / "data" / "tiny_test")) != a["run_id"]
