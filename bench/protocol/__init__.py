"""The evaluation protocol (PROTOCOL.md): frozen per-frame embeddings in, metrics out.

``evaluate(train, evaluation, cfg, seed)`` is the entry point; ``resolve_protocol`` builds
its config from a preset name and user values. One module per metric family.
"""
from bench.protocol.config import (
           HEADLINE_METRICS,
           LOWER_IS_BETTER,
           PRESETS,
           ProtocolConfig,
           VideoEmbedding,
)
from bench.protocol.evaluate import evaluate, evaluate_action, resolve_protocol

__all__ = ["HEADLINE_METRICS", "LOWER_IS_BETTER", "PRESETS", "ProtocolConfig", "VideoEmbedding",
           "evaluate", "evaluate_action", "resolve_protocol"]
