"""Test helpers shared by several test modules: brute-force path enumeration and tiny batches."""
import torch

from bench.batch import Batch


def monotone_paths(n: int, m: int) -> list[list[tuple[int, int]]]:
    """Every path from (0, 0) to (n-1, m-1) with steps (1, 0), (0, 1), (1, 1), as lists of cells
    (13 for 3x3, 129 for 4x5: the Delannoy numbers)."""
    if (n, m) == (1, 1):
        return [[(0, 0)]]
    paths = []
    for di, dj in ((1, 0), (0, 1), (1, 1)):
        if n - di >= 1 and m - dj >= 1:
            paths += [p + [(n - 1, m - 1)] for p in monotone_paths(n - di, m - dj)]
    return paths


def two_view_batch(b: int, t: int, seed: int = 0, pad_last: int = 0, length: int = 50) -> Batch:
    """B videos of ``length`` frames, two views of T sorted random indices each, no pixels;
    the last ``pad_last`` frames of video 0's second view are padding."""
    g = torch.Generator().manual_seed(seed)
    indices = torch.sort(torch.randint(0, length, (b, 2, t), generator=g), dim=-1).values
    mask = torch.ones(b, 2, t, dtype=torch.bool)
    if pad_last:
        mask[0, 1, -pad_last:] = False
    return Batch(frames=torch.zeros(b, 2, t, 1, 1, 1, 1), indices=indices, lengths=torch.full((b,), length),
                 mask=mask, labels=torch.full((b, 2, t), -1), actions=torch.zeros(b, dtype=torch.long),
                 video_ids=[f"v{i}" for i in range(b)])


def stack_padded(seqs: list[torch.Tensor], t_max: int, fill: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack variable-length sequences (T_b, ...) into (B, t_max, ...) filled with ``fill``, and
    the (B, t_max) mask of real rows."""
    out = torch.full((len(seqs), t_max, *seqs[0].shape[1:]), fill, dtype=seqs[0].dtype)
    mask = torch.zeros(len(seqs), t_max, dtype=torch.bool)
    for b, x in enumerate(seqs):
        out[b, :len(x)], mask[b, :len(x)] = x, True
    return out, mask


def unequal_lengths(pairs: int, n: int, m: int, seed: int, full: int = 0) -> tuple[list[int], list[int]]:
    """Random per-pair lengths in [1, n] x [1, m] (more pairs than a SIMD vector holds, as a rule);
    pair ``full`` gets the whole (n, m)."""
    gen = torch.Generator().manual_seed(seed)
    lengths_x = torch.randint(1, n + 1, (pairs,), generator=gen).tolist()
    lengths_y = torch.randint(1, m + 1, (pairs,), generator=gen).tolist()
    lengths_x[full], lengths_y[full] = n, m
    return lengths_x, lengths_y
