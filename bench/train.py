"""One training loop for every method.

Adam with a linear warm-up and cosine decay, gradient-norm clipping, AMP (bfloat16
autocast), channels-last convolutions and batches built ahead in pinned memory on CUDA,
training on cached frozen features when the loader reads them (bench/feature_cache.py),
a clear stop on a non-finite loss, a per-step loss log, and atomic
checkpoints from which an interrupted run resumes bit-for-bit (the batch of step s is a
pure function of (seed, s), and the RNG state is saved with the weights). SIGINT and
SIGTERM end the current step, checkpoint it and stop (bench/interrupts.py).

A checkpoint is one ``torch.save`` file: {"step": steps done, "modules", "optimiser",
"scheduler", "log": loss rows, "rng", "cuda_rng"}.
"""
from __future__ import annotations

import math
import pickle
import re
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import torch
from torch import nn

from bench.atomic import save_torch
from bench.batch import Batch
from bench.bounds import Rule, bounded, shown
from bench.encoders.encoder import Encoder
from bench.errors import ConfigError, DataError, NaNLossError
from bench.interrupts import StopAtStepEnd, TrainingStopped
from bench.loader import BatchLoader
from bench.method import Method
from bench.precision import autocast
from bench.prefetch import prefetched

DEVICE_NAME = re.compile(r"auto|cpu|mps|cuda(:[0-9]+)?")
NOT_A_DEVICE = "{where}.device={device} is not a device name; set auto, cpu, cuda, cuda:N or mps"


@dataclass
class TrainerConfig:
    """Optimisation settings. Defaults are the papers' shared values (Adam, lr 1e-4, weight
    decay 1e-5, cosine decay); ``steps`` has no common paper value (TCC trains 150k
    iterations, CARL 300 epochs), so datasets set it (the synthetic one: a CPU budget)."""

    steps: int = bounded(10000, ge=1)
    lr: float = bounded(1e-4, gt=0)
    weight_decay: float = bounded(1e-5, ge=0)
    warmup_steps: int = bounded(0, ge=0)
    grad_clip: float = bounded(10.0, ge=0, why="0 turns clipping off")
    device: str = "auto"
    amp: bool = True
    checkpoint_every: int = bounded(100, ge=1)

    rules: ClassVar = (Rule(lambda c: DEVICE_NAME.fullmatch(c.device) is not None, NOT_A_DEVICE),)


@dataclass
class TrainResult:
    loss_log: list[dict[str, float]] = field(default_factory=list)
    steps: int = 0
    resumed_from: int = 0
    seconds: float = 0.0


def resolve_device(name: str) -> torch.device:
    """'auto' -> CUDA when available, else CPU; anything else as given, if this machine has
    it (ConfigError naming trainer.device otherwise)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if DEVICE_NAME.fullmatch(name) is None:
        raise ConfigError(NOT_A_DEVICE.format(where="trainer", device=shown(name)))
    device = torch.device(name)
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (device.index or 0) >= count:
            raise ConfigError(f"trainer.device={name} but this machine has {count} CUDA device(s); "
                              "set trainer.device=cpu or auto")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ConfigError("trainer.device=mps but MPS is not available here; set trainer.device=cpu or auto")
    return device


def batches(loader: BatchLoader, steps: range, device: torch.device) -> Iterator[Batch]:
    """The batches of ``steps`` in order. On CUDA a background thread builds them ahead in
    pinned memory (bench/prefetch.py), so loading and the host-to-device copy overlap the
    compute; on the CPU they are built in turn (a thread would compete for the same cores)."""
    if device.type == "cuda":
        return prefetched(loader.batch, steps, depth=2, pin=True)
    return (loader.batch(step) for step in steps)


def forward_loss(encode: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], method: Method, batch: Batch,
                 device: torch.device, amp: bool) -> dict[str, torch.Tensor]:
    """The method's loss parts on one batch: ``encode`` (the encoder, or its ``forward_features``
    on cached features) under autocast, the loss in float32."""
    b, v, t = batch.mask.shape
    with autocast(device, amp):
        emb = encode(batch.frames.flatten(0, 1), batch.mask.flatten(0, 1))
    return method.loss(batch, emb.float().view(b, v, t, -1))


def cosine_schedule(step: int, total: int, warmup: int) -> float:
    """Learning-rate factor: linear warm-up to 1, then 0.5 * (1 + cos(pi * progress))."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def _save_checkpoint(path: Path, step: int, modules: nn.ModuleDict, optimiser: torch.optim.Optimizer,
                     scheduler: torch.optim.lr_scheduler.LRScheduler, log: list[dict[str, float]]) -> None:
    save_torch({"step": step, "modules": modules.state_dict(), "optimiser": optimiser.state_dict(),
                "scheduler": scheduler.state_dict(), "log": log, "rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None}, path,
               "; the last good checkpoint is kept")


CHECKPOINT_KEYS = ("step", "modules", "optimiser", "scheduler", "log", "rng", "cuda_rng")


def load_checkpoint(path: Path, device: torch.device, modules: nn.ModuleDict, optimiser: torch.optim.Optimizer,
                    scheduler: torch.optim.lr_scheduler.LRScheduler) -> tuple[int, list[dict[str, float]]]:
    """Restore a checkpoint into the modules, optimiser, scheduler and RNG; return (step, log).
    An empty, truncated or foreign file is a DataError naming it and the fix."""
    fix = f"checkpoint {path} cannot be read"
    remedy = "; delete this checkpoint to restart the run from step 0"
    if path.stat().st_size == 0:
        raise DataError(f"checkpoint {path} is empty (0 bytes){remedy}")
    try:
        state = torch.load(path, map_location=device, weights_only=False)
    except (RuntimeError, EOFError, OSError, ValueError, pickle.UnpicklingError, zipfile.BadZipFile) as err:
        raise DataError(f"{fix} ({type(err).__name__}){remedy}") from err
    if not isinstance(state, dict) or any(key not in state for key in CHECKPOINT_KEYS):
        raise DataError(f"{fix}: it is not a training checkpoint{remedy}")
    try:
        modules.load_state_dict(state["modules"])
        optimiser.load_state_dict(state["optimiser"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
    except (RuntimeError, KeyError, ValueError, TypeError) as err:
        raise DataError(f"{fix}: it does not match this run's model ({type(err).__name__}){remedy}") from err
    if state["cuda_rng"] is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return int(state["step"]), list(state["log"])


def _format_parts(parts: dict[str, torch.Tensor]) -> str:
    return ", ".join(f"{name}={value.item():.4g}" for name, value in parts.items())


def train(encoder: Encoder, method: Method, loader: BatchLoader, cfg: TrainerConfig, device: torch.device,
          checkpoint: Path | None = None, on_step: Callable[[int, dict[str, float]], None] | None = None,
          say: Callable[[str], None] | None = None) -> TrainResult:
    """Train ``encoder`` and ``method`` (its own heads) for cfg.steps steps; resume from
    ``checkpoint`` when it exists (``say`` is told the step). Raises NaNLossError naming the
    step and the loss parts, and TrainingStopped(signal, step) after checkpointing on
    SIGINT / SIGTERM."""
    modules = nn.ModuleDict({"encoder": encoder.to_device(device), "method": method}).to(device)
    params = [p for p in modules.parameters() if p.requires_grad]
    optimiser = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda step: cosine_schedule(step, cfg.steps, cfg.warmup_steps))
    result = TrainResult()
    if checkpoint is not None and checkpoint.is_file():
        result.resumed_from, result.loss_log = load_checkpoint(checkpoint, device, modules, optimiser, scheduler)
        if say is not None:
            say(f"resuming from step {result.resumed_from} (checkpoint {checkpoint})")
    encode = encoder.forward_features if loader.cache is not None else encoder
    modules.train()
    started = time.perf_counter()
    saved = result.resumed_from
    steps = range(result.resumed_from, cfg.steps)
    with StopAtStepEnd() as stop:
        for step, batch in zip(steps, batches(loader, steps, device)):
            if stop.requested is not None:
                resumable = checkpoint is not None and step > 0
                if resumable and saved != step:
                    _save_checkpoint(checkpoint, step, modules, optimiser, scheduler, result.loss_log)
                raise TrainingStopped(stop.requested, step if resumable else None)
            parts = forward_loss(encode, method, batch.to(device), device, cfg.amp)
            loss = parts["loss"]
            if not torch.isfinite(loss):
                raise NaNLossError(f"{method.name} loss became {loss.item()} at step {step} ({_format_parts(parts)}); "
                                   "lower trainer.lr or trainer.grad_clip, or check the method's config")
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, cfg.grad_clip)
            lr = optimiser.param_groups[0]["lr"]
            optimiser.step()
            scheduler.step()
            record = {"step": step, "lr": lr} | {k: float(v.detach()) for k, v in parts.items()}
            result.loss_log.append(record)
            if on_step is not None:
                on_step(step, record)
            if checkpoint is not None and ((step + 1) % cfg.checkpoint_every == 0 or step + 1 == cfg.steps):
                _save_checkpoint(checkpoint, step + 1, modules, optimiser, scheduler, result.loss_log)
                saved = step + 1
        if stop.requested is not None:  # the signal came during the last step: its checkpoint is written
            raise TrainingStopped(stop.requested, cfg.steps if checkpoint is not None else None)
    result.steps = cfg.steps
    result.seconds = time.perf_counter() - started
    modules.eval()
    return result
