"""The supervised baseline: per-frame phase classification with the labels (the ceiling
row of LAV's Table 2; TCC's code calls it the "classification" algorithm).

A linear head W on the encoder's embedding x_i of every labelled frame:

    L = mean over labelled frames i of CE(softmax(W x_i + b), y_i)      (labels -1 ignored)

with optional label smoothing (TCC's code: 0). The evaluation sees the encoder's output,
before the head, like every other method.

Labels are phase indices within each video's action, and ``num_classes`` (given to the
constructor) is the largest number of phases of any action. The head is shared by all
actions: phase k of every action is class k. This is the simplest correct option (the
constructor knows the number of classes, not of actions), and the protocol evaluates
each action on its own, so sharing only asks the embedding to place phase k of each
action on the same side of the head's hyperplanes. Batches: a few videos of any action,
one augmented view of T offset-uniform frames each; the defaults are the harness's (no
paper gives them).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bench.batch import Batch, BatchSpec
from bench.bounds import bounded
from bench.errors import ConfigError, DataError
from bench.method import TCC_ENCODERS, Method
from bench.registry import register_method


def phase_classification_loss(logits: torch.Tensor, labels: torch.Tensor,
                              label_smoothing: float = 0.0) -> dict[str, torch.Tensor]:
    """Cross-entropy and accuracy over the labelled frames.

    logits: (..., C); labels: (...) long, -1 where unlabelled or padded. Returns
    {"cross_entropy": mean CE (smoothed target (1 - eps) one-hot + eps / C),
    "accuracy": fraction of labelled frames whose argmax is the label (no gradient)}.
    """
    if labels.shape != logits.shape[:-1]:
        raise DataError(f"phase labels {tuple(labels.shape)} do not match logits {tuple(logits.shape)}; "
                        "pass one label per frame")
    labelled = labels >= 0
    if not bool(labelled.any()):
        raise DataError("no labelled frame in the batch; the supervised baseline needs a dataset with phase labels")
    targets = labels[labelled]
    if int(targets.max()) >= logits.shape[-1]:
        raise DataError(f"phase label {int(targets.max())} is out of range for {logits.shape[-1]} classes; "
                        "pass num_classes = the largest number of phases of any action")
    chosen = logits[labelled]
    cross_entropy = F.cross_entropy(chosen, targets, label_smoothing=label_smoothing)
    accuracy = (chosen.detach().argmax(-1) == targets).to(logits.dtype).mean()
    return {"cross_entropy": cross_entropy, "accuracy": accuracy}


@register_method("supervised")
class Supervised(Method):
    """Per-frame phase classification with a linear head: the labelled ceiling."""

    @dataclass
    class Config:
        label_smoothing: float = bounded(0.0, ge=0, lt=1)  # TCC code's CLASSIFICATION.LABEL_SMOOTHING
        videos: int = bounded(4, ge=1)             # the harness's choice
        frames: int = bounded(20, ge=1)            # the harness's choice (TCC's T)

    # LAV's supervised row: a 1-layer classifier on its (TCC's) encoder.
    paper_encoders = TCC_ENCODERS

    def __init__(self, cfg: Any, embed_dim: int, num_classes: int = 0):
        super().__init__(cfg, embed_dim, num_classes)
        if num_classes < 1:
            raise ConfigError(f"the supervised baseline needs num_classes >= 1, got {num_classes}; "
                              "use a dataset with phase labels")
        self.head = nn.Linear(embed_dim, num_classes)

    def batch_spec(self) -> BatchSpec:
        return BatchSpec(videos=self.cfg.videos, views=1, frames=self.cfg.frames, sampling="offset_uniform",
                         same_action=False, augment=True)

    def loss(self, batch: Batch, emb: torch.Tensor) -> dict[str, torch.Tensor]:
        if emb.dim() != 4 or emb.shape[:3] != batch.labels.shape:
            raise DataError(f"supervised expects embeddings (B, V, T, D) matching the batch labels "
                            f"{tuple(batch.labels.shape)}, got {tuple(emb.shape)}; use its batch_spec()")
        labels = batch.labels.masked_fill(~batch.mask, -1)
        parts = phase_classification_loss(self.head(emb), labels, self.cfg.label_smoothing)
        return {"loss": parts["cross_entropy"], **parts}

    @classmethod
    def search_space(cls, trial: Any) -> dict[str, Any]:
        return {"label_smoothing": trial.suggest_float("label_smoothing", 0.0, 0.3)}
