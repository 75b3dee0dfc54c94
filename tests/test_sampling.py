"""Temporal samplers: invariants, hand-checked small cases, errors."""
import math

import numpy as np
import pytest

from bench.errors import ConfigError, DataError
from bench.sampling import all_frames, context_indices, offset_uniform, segment_uniform, temporal_crop, time_augment

SHAPES = [(1, 1), (5, 5), (10, 3), (37, 20), (100, 40), (3, 7), (1, 4), (19, 20)]


def _sorted_in_range(idx, length, count):
    assert idx.dtype == np.int64 and idx.shape == (count,)
    assert np.all(np.diff(idx) >= 0)
    assert idx.min() >= 0 and idx.max() < length


@pytest.mark.parametrize("length,frames", SHAPES)
def test_offset_uniform_invariants(length, frames):
    rng = np.random.default_rng(0)
    for _ in range(20):
        idx = offset_uniform(length, frames, rng)
        _sorted_in_range(idx, length, frames)
        if length >= frames:
            assert len(np.unique(idx)) == frames
        else:  # every frame at least once, the rest repeats
            assert set(idx.tolist()) == set(range(length))


def test_offset_uniform_covers_frames_uniformly():
    rng = np.random.default_rng(1)
    counts = np.bincount(np.concatenate([offset_uniform(10, 4, rng) for _ in range(4000)]), minlength=10)
    # each frame is in the subset with probability 4/10: 1600 expected of 4000 draws
    assert np.all(np.abs(counts - 1600) < 150)


def test_offset_uniform_deterministic_from_generator():
    a = offset_uniform(50, 10, np.random.default_rng(7))
    b = offset_uniform(50, 10, np.random.default_rng(7))
    c = offset_uniform(50, 10, np.random.default_rng(8))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


@pytest.mark.parametrize("length,frames", SHAPES)
def test_segment_uniform_one_per_segment(length, frames):
    rng = np.random.default_rng(2)
    lo = np.floor(np.arange(frames) * length / frames)
    hi = np.ceil((np.arange(frames) + 1) * length / frames) - 1
    for _ in range(50):
        idx = segment_uniform(length, frames, rng)
        _sorted_in_range(idx, length, frames)
        assert np.all(idx >= lo) and np.all(idx <= hi)


def test_segment_uniform_hand_case():
    # L = 10, T = 5: segment i is frames {2i, 2i+1}; each is drawn about half the time.
    rng = np.random.default_rng(3)
    draws = np.stack([segment_uniform(10, 5, rng) for _ in range(2000)])
    assert np.all((draws - 2 * np.arange(5)) >= 0) and np.all((draws - 2 * np.arange(5)) <= 1)
    odd_share = (draws % 2).mean(axis=0)
    assert np.all(np.abs(odd_share - 0.5) < 0.05)


def test_segment_uniform_short_video_repeats_in_order():
    # L = 2, T = 4: segments [0, .5), [.5, 1), [1, 1.5), [1.5, 2) -> always 0, 0, 1, 1
    assert segment_uniform(2, 4, np.random.default_rng(4)).tolist() == [0, 0, 1, 1]


@pytest.mark.parametrize("length,frames,crop_min", [(100, 32, 0.5), (40, 32, 0.5), (20, 32, 0.5), (9, 3, 1.0),
                                                    (10, 2, 0.2)])
def test_temporal_crop_length_range(length, frames, crop_min):
    rng = np.random.default_rng(5)
    shortest = max(math.ceil(crop_min * length), min(frames, length))
    sizes, starts = set(), set()
    for _ in range(2000):
        start, stop = temporal_crop(length, frames, crop_min, rng)
        assert 0 <= start < stop <= length
        assert shortest <= stop - start <= length
        sizes.add(stop - start)
        starts.add(start)
    assert sizes == set(range(shortest, length + 1))  # every allowed length occurs
    if shortest < length:
        assert max(starts) > 0  # the intended random offset, not CARL's constant 0


@pytest.mark.parametrize("length,frames,views", [(100, 32, 2), (40, 32, 2), (20, 32, 2), (50, 8, 3), (1, 5, 2)])
def test_time_augment_views_share_one_crop(length, frames, views):
    for seed in range(30):
        start, stop = temporal_crop(length, frames, 0.5, np.random.default_rng(seed))
        idx = time_augment(length, frames, views, 0.5, np.random.default_rng(seed))
        assert idx.shape == (views, frames) and idx.dtype == np.int64
        assert np.all(np.diff(idx, axis=1) >= 0)
        assert idx.min() >= start and idx.max() < stop
        if stop - start >= frames:
            assert all(len(np.unique(row)) == frames for row in idx)
        else:  # short crop: the whole crop in each view
            assert all(set(row.tolist()) == set(range(start, stop)) for row in idx)


def test_time_augment_views_overlap_and_differ():
    rng = np.random.default_rng(6)
    differ = 0
    for _ in range(200):
        a, b = time_augment(100, 32, 2, 0.5, rng)
        assert a.min() <= b.max() and b.min() <= a.max()  # time spans overlap
        differ += not np.array_equal(a, b)
    assert differ == 200


def test_time_augment_offset_not_always_zero():
    rng = np.random.default_rng(9)
    firsts = [time_augment(60, 10, 2, 0.5, rng).min() for _ in range(200)]
    assert max(firsts) > 20


def test_all_frames():
    assert all_frames(4).tolist() == [0, 1, 2, 3]
    assert all_frames(4).dtype == np.int64


def test_context_indices_hand_case():
    # K = 3, stride 2: s -> (s-4, s-2, s) clamped at 0
    out = context_indices(np.array([0, 3, 7]), 3, 2)
    assert out.tolist() == [[0, 0, 0], [0, 1, 3], [3, 5, 7]]
    assert out.dtype == np.int64


def test_context_indices_shapes_and_identity():
    idx = np.arange(12).reshape(2, 6)
    assert np.array_equal(context_indices(idx, 1, 5), idx[..., None])
    out = context_indices(idx, 2, 1)
    assert out.shape == (2, 6, 2)
    assert np.array_equal(out[..., 1], idx) and np.array_equal(out[..., 0], np.maximum(idx - 1, 0))


def test_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(DataError):
        offset_uniform(0, 3, rng)
    with pytest.raises(DataError):
        all_frames(0)
    with pytest.raises(ConfigError):
        segment_uniform(5, 0, rng)
    with pytest.raises(ConfigError):
        time_augment(10, 4, 2, 0.0, rng)
    with pytest.raises(ConfigError):
        time_augment(10, 4, 0, 0.5, rng)
    with pytest.raises(ConfigError):
        context_indices(np.arange(3), 0, 1)
