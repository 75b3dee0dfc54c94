"""The method plugin interface: one file in methods/ per alignment objective.

A method is an ``nn.Module`` (so it can own trainable parts such as a projection head or
learnable gap penalties) with:

- ``Config``: a dataclass of its hyperparameters, defaults = its paper's values;
- ``batch_spec()``: how its training batches are built (bench.batch.BatchSpec);
- ``loss(batch, emb)``: ``emb`` is the encoder's output (B, V, T, D) for ``batch``; returns
  a dict with ``"loss"`` (the scalar to minimise) and every named part, for logs and
  ablations;
- ``variants``: named ablation variants, each a dict of Config overrides;
- ``per_dataset_defaults``: Config overrides its paper gives per dataset (or per action);
- ``paper_encoders``: per dataset, the encoder its paper used (``{"name": ..., **overrides}``);
- ``search_space(trial)``: Optuna suggestions over its Config fields.

Register it with ``@register_method("name")``; ``bench list`` shows it and the runner,
tuner and tests pick it up.
"""
from __future__ import annotations

from typing import Any, ClassVar

import torch
from torch import nn

from bench.batch import Batch, BatchSpec

PAPER_DATASETS = ("pouring", "penn_action")
"""The real datasets the papers' encoder setups are given for."""


def paper_encoder(name: str, datasets: tuple[str, ...] = PAPER_DATASETS, **overrides: Any) -> dict[str, dict[str, Any]]:
    """``Method.paper_encoders`` with one entry, encoder ``name`` + ``overrides``, per dataset."""
    return {dataset: {"name": name, **overrides} for dataset in datasets}


TCC_ENCODERS = {**paper_encoder("resnet50_conv3d"),
                "ikea_asm": {"name": "resnet50_conv3d", "output": "layer4", "frozen_until": "layer4"}}
"""TCC's encoder (conv4c + conv3d context embedder), which LAV uses for every method it
compares; on IKEA ASM LAV takes Conv5c (layer4) features instead "for all methods" (its
Sec. 5); whether layer4 trains there it does not say: here it is frozen, as conv4c is."""


class Method(nn.Module):
    name: ClassVar[str]
    Config: ClassVar[type]
    variants: ClassVar[dict[str, dict[str, Any]]] = {}
    per_dataset_defaults: ClassVar[dict[str, dict[str, Any]]] = {}
    paper_encoders: ClassVar[dict[str, dict[str, Any]]] = {}
    """dataset -> {"name": a registered encoder, **its config overrides}: the encoder the
    method's paper used there, which a run on that dataset gets unless it names one."""
    trainable: ClassVar[bool] = True
    """False for baselines that are evaluated without training (the untrained encoder)."""

    def __init__(self, cfg: Any, embed_dim: int, num_classes: int = 0):
        super().__init__()
        self.cfg = cfg
        self.embed_dim = embed_dim
        self.num_classes = num_classes

    def batch_spec(self) -> BatchSpec:
        raise NotImplementedError

    def loss(self, batch: Batch, emb: torch.Tensor) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        """Optuna suggestions: {config field: trial.suggest_*(...)}. Empty: nothing to tune."""
        return {}
