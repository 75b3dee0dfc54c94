"""The untrained-encoder baseline: the floor every method must beat.

The shared encoder, initialised from the run's seed and never trained, is evaluated with
the same protocol as every method (LAV's "Random Features" row). It has no
hyperparameters and no loss; the runner sees ``trainable = False`` and skips training.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from bench.batch import Batch, BatchSpec
from bench.errors import ConfigError
from bench.method import Method
from bench.registry import register_method

_NEVER_TRAINED = ("method 'random' is the untrained-encoder baseline and is never trained; "
                  "evaluate it directly (the runner skips training when Method.trainable is False)")


@register_method("random")
class Untrained(Method):
    """The untrained encoder, evaluated as initialised: the floor every method must beat."""

    @dataclass
    class Config:
        pass

    trainable = False

    def batch_spec(self) -> BatchSpec:
        raise ConfigError(_NEVER_TRAINED)

    def loss(self, batch: Batch, emb: torch.Tensor) -> dict[str, torch.Tensor]:
        raise ConfigError(_NEVER_TRAINED)
