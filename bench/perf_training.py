"""Training-step speed and peak memory per encoder, cached vs uncached (rows of ``make perf``).

One training step is what ``bench.train`` does per step: the encoder (under bfloat16
autocast on CUDA), the paper's method for that head (SCL on two views for the transformer
heads, TCC on one view of several videos for the conv3d heads), backward, an Adam step. The
batch is random frames of the benchmark's shape (no data store is needed). For an encoder
with a frozen part the step runs twice: uncached (frames through the whole encoder) and
cached (the frozen part's output computed beforehand, as the feature cache stores it, then
``Encoder.forward_features``). Reported per row: the median step time over ``repeats``
steps after ``warmup`` steps, steps per second, and the peak memory of the steps: on CUDA
``torch.cuda.max_memory_allocated``; on the CPU the peak resident set size above the level
before the first step, sampled every millisecond by a thread (/proc/self/statm), which is
approximate. The ratios (uncached / cached time, cached / uncached memory) are targets.
"""
from __future__ import annotations

import os
import statistics
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from bench.batch import Batch
from bench.config import build
from bench.precision import autocast
from bench.registry import ENCODERS, METHODS
from bench.train import forward_loss


@dataclass(frozen=True)
class StepBenchmark:
    """One encoder's representative batch: ``videos`` x ``views`` x ``frames`` at its image size;
    ``overrides`` are encoder config values (a tuple of (key, value) pairs)."""

    encoder: str
    videos: int
    views: int
    frames: int
    overrides: tuple[tuple[str, object], ...] = ()

    @property
    def method(self) -> str:
        return "scl" if self.views == 2 else "tcc"

    def describe(self, image_size: int) -> str:
        return f"{self.videos} video(s) x {self.views} view(s) x {self.frames} frames, {image_size} px"


# Batches sized for 2 CPU cores (ResNet-50 at 224 px runs a few images a second there) and
# for a GPU (the papers' shapes: SCL 2 x 80 frames on PennAction, TCC 4 videos x 20 frames).
CPU_STEPS = (StepBenchmark("cnn_transformer", 2, 2, 32), StepBenchmark("cnn_conv3d", 4, 1, 20),
             StepBenchmark("resnet50_transformer", 1, 2, 8), StepBenchmark("resnet50_conv3d", 2, 1, 4))
CUDA_STEPS = (StepBenchmark("cnn_transformer", 2, 2, 80), StepBenchmark("cnn_conv3d", 4, 1, 20),
              StepBenchmark("resnet50_transformer", 2, 2, 80), StepBenchmark("resnet50_conv3d", 4, 1, 20))


@dataclass
class StepResult:
    """One timed variant: ``seconds`` per step (median), ``peak_mb`` (None when unmeasurable)."""

    benchmark: StepBenchmark
    device: str
    cached: bool | None  # None: the encoder has no frozen part to cache
    seconds: float
    peak_mb: float | None
    image_size: int


def _rss_bytes() -> int | None:
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


class PeakRSS:
    """Peak resident set size above its level at entry, sampled every millisecond (MiB)."""

    def __enter__(self) -> PeakRSS:
        self.base = self.peak = _rss_bytes()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.001):
            now = _rss_bytes()
            if now is not None and self.peak is not None:
                self.peak = max(self.peak, now)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def megabytes(self) -> float | None:
        return None if self.base is None else (self.peak - self.base) / 2**20


def random_batch(bench: StepBenchmark, context_frames: int, image_size: int, seed: int) -> Batch:
    """Random frames in [0, 1] and sorted random frame indices of a 100-frame video."""
    gen = torch.Generator().manual_seed(seed)
    shape = (bench.videos, bench.views, bench.frames)
    indices = torch.sort(torch.randint(0, 100, shape, generator=gen), dim=-1).values
    return Batch(frames=torch.rand(*shape, context_frames, 3, image_size, image_size, generator=gen),
                 indices=indices, lengths=torch.full((bench.videos,), 100), mask=torch.ones(shape, dtype=torch.bool),
                 labels=torch.full(shape, -1), actions=torch.zeros(bench.videos, dtype=torch.long),
                 video_ids=[f"v{i}" for i in range(bench.videos)])


def time_step(bench: StepBenchmark, device: torch.device, cached: bool, repeats: int, warmup: int,
              seed: int = 0) -> StepResult:
    """Median time and peak memory of training steps of ``bench`` on ``device``."""
    torch.manual_seed(seed)
    encoder_cls, method_cls = ENCODERS.get(bench.encoder), METHODS.get(bench.method)
    cfg = build(encoder_cls.Config, dict(bench.overrides), "encoder")
    encoder = encoder_cls(cfg).to_device(device).train()
    method_cfg = build(method_cls.Config, {"videos": bench.videos, "frames": bench.frames}, "method")
    method = method_cls(method_cfg, encoder.embed_dim).to(device).train()
    batch = random_batch(bench, cfg.context_frames, cfg.image_size, seed).to(device)
    encode = encoder
    if cached:
        n, v, t, k = batch.frames.shape[:4]
        with autocast(device, amp=True):  # as the feature cache computes them
            features = encoder.frozen_features(batch.frames.flatten(0, 3))
        batch.frames, encode = features.view(n, v, t, k, *features.shape[1:]), encoder.forward_features
    params = [p for p in [*encoder.parameters(), *method.parameters()] if p.requires_grad]
    optimiser = torch.optim.Adam(params, lr=1e-4)
    cuda = device.type == "cuda"

    def step() -> None:
        loss = forward_loss(encode, method, batch, device, amp=True)["loss"]
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if cuda:
            torch.cuda.synchronize(device)

    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    times = []
    with PeakRSS() as rss:
        for i in range(warmup + repeats):
            start = time.perf_counter()
            step()
            if i >= warmup:
                times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated(device) / 2**20 if cuda else rss.megabytes
    return StepResult(bench, device.type, cached if encoder.frozen is not None else None,
                      statistics.median(times), peak, cfg.image_size)


def time_training_steps(benchmarks: tuple[StepBenchmark, ...], device: torch.device, repeats: int,
                        warmup: int) -> list[StepResult]:
    """Every benchmark on ``device``: uncached, then cached when the encoder has a frozen part."""
    results = []
    for bench in benchmarks:
        results.append(time_step(bench, device, False, repeats, warmup))
        if results[-1].cached is not None:
            results.append(time_step(bench, device, True, repeats, warmup))
    return results
