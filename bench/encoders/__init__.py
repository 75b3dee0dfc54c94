"""Encoders: a per-frame backbone followed by a temporal head, registered by name.

Every registered encoder maps frames (N, T, K, C, H, W) in [0, 1] (K context frames per
sampled frame) and a padding mask (N, T) to per-frame embeddings (N, T, D). Methods see
only these embeddings; a suite injects the same encoder into every method.
"""
