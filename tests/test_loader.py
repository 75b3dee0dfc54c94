"""BatchLoader on a tiny store whose pixels name their frame: channel 0 = frame index,
channel 1 = video number, so the loaded frames can be checked against the indices."""
import numpy as np
import pytest
import torch

from bench.batch import BatchSpec
from bench.errors import ConfigError, DataError
from bench.loader import BatchLoader
from bench.store import Video, write_store

LENGTHS = {"a0": 12, "a1": 15, "a2": 30, "b0": 9}
SIZE = 8


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    videos = []
    for number, (vid, length) in enumerate(LENGTHS.items()):
        frames = np.zeros((length, SIZE, SIZE, 3), dtype=np.uint8)
        frames[..., 0] = np.arange(length, dtype=np.uint8).reshape(-1, 1, 1)
        frames[..., 1] = number
        labels = np.arange(length) // 4 if vid != "a1" else np.where(np.arange(length) < 3, -1, 0)
        videos.append(Video(vid, vid[0], frames, labels))
    root = tmp_path_factory.mktemp("store") / "tiny"
    return write_store(root, "tiny", "1", {"a": ["p0", "p1", "p2"], "b": ["p0", "p1", "p2"]},
                       {"train": list(LENGTHS)}, videos)


def _loader(store, seed=0, ids=None, image_size=SIZE, context=(1, 1), **spec):
    spec = {"videos": 2, "views": 1, "frames": 6, "augment": False, **spec}
    return BatchLoader(store, ids or list(LENGTHS), BatchSpec(**spec), image_size, seed, context)


def _pixel(frames, channel):
    """The value of one channel at pixel (0, 0), as an integer, for every loaded frame."""
    return torch.round(frames[..., channel, 0, 0] * 255).long()


def _same(x, y):
    return all(torch.equal(getattr(x, f), getattr(y, f)) for f in ("frames", "indices", "lengths", "mask", "labels",
                                                                  "actions")) and x.video_ids == y.video_ids


def test_deterministic_in_seed_and_step(store):
    spec = {"views": 2, "frames": 5, "sampling": "time_augment", "augment": True}
    first, second = _loader(store, **spec), _loader(store, **spec)
    later = first.batch(7)
    assert _same(first.batch(3), second.batch(3))  # no hidden state: order of calls does not matter
    assert _same(later, second.batch(7))
    assert not torch.equal(first.batch(3).frames, first.batch(4).frames)
    assert not torch.equal(first.batch(3).frames, _loader(store, seed=1, **spec).batch(3).frames)


def test_frames_labels_indices_match_the_store(store):
    loader = _loader(store, views=2, frames=5, sampling="segment_uniform")
    for step in range(10):
        batch = loader.batch(step)
        assert batch.frames.shape == (2, 2, 5, 1, 3, SIZE, SIZE) and batch.frames.dtype == torch.float32
        assert torch.equal(_pixel(batch.frames, 0)[..., 0], batch.indices)
        for i, vid in enumerate(batch.video_ids):
            number = list(LENGTHS).index(vid)
            assert torch.all(_pixel(batch.frames[i], 1) == number)
            assert batch.lengths[i] == LENGTHS[vid]
            assert torch.equal(batch.labels[i], torch.from_numpy(store.labels(vid))[batch.indices[i]])
            assert batch.actions[i] == store.actions.index(vid[0])
        assert batch.mask.all()
        assert torch.all(batch.indices < batch.lengths.view(-1, 1, 1))


def test_context_frames(store):
    batch = _loader(store, frames=4, context=(3, 2)).batch(0)
    assert batch.frames.shape[3] == 3
    for k in range(3):  # context frame k of index s is max(s - (2 - k) * 2, 0)
        assert torch.equal(_pixel(batch.frames, 0)[..., k], (batch.indices - (2 - k) * 2).clamp(min=0))


def test_same_action_batches(store):
    loader = _loader(store, videos=2, frames=4)
    for step in range(20):  # only action "a" has two videos
        batch = loader.batch(step)
        assert {v[0] for v in batch.video_ids} == {"a"} and len(set(batch.video_ids)) == 2
        assert torch.all(batch.actions == store.actions.index("a"))


def test_same_action_fallback_when_too_few_videos(store):
    loader = _loader(store, videos=4, frames=4)
    seen = set()
    for step in range(30):  # no action has 4 videos: one action, its videos reused
        ids = loader.batch(step).video_ids
        assert len(ids) == 4 and len({v[0] for v in ids}) == 1
        assert len(set(ids)) == len([v for v in LENGTHS if v[0] == ids[0][0]])  # every one of them used
        seen.add(ids[0][0])
    assert seen == {"a", "b"}


def test_any_action_distinct_videos(store):
    loader = _loader(store, videos=4, frames=4, same_action=False)
    for step in range(10):
        assert sorted(loader.batch(step).video_ids) == sorted(LENGTHS)


def test_all_frames_padded_and_masked(store):
    loader = _loader(store, videos=2, views=2, frames=None, same_action=False)
    for step in range(5):
        batch = loader.batch(step)
        longest = int(batch.lengths.max())
        assert batch.frames.shape[:3] == (2, 2, longest)
        for i in range(2):
            n = int(batch.lengths[i])
            assert torch.all(batch.mask[i, :, :n]) and not torch.any(batch.mask[i, :, n:])
            assert torch.equal(batch.indices[i, 0, :n], torch.arange(n))
            assert torch.all(batch.labels[i, :, n:] == -1)
            assert torch.all(batch.frames[i, :, n:] == 0)
            assert torch.equal(_pixel(batch.frames[i, :, :n], 0)[..., 0], batch.indices[i, :, :n])


def test_time_augment_views_and_augmentation(store):
    loader = _loader(store, ids=["a2"], videos=1, views=2, frames=8, sampling="time_augment", augment=True,
                     image_size=6)
    batch = loader.batch(0)
    assert batch.frames.shape == (1, 2, 8, 1, 3, 6, 6)
    assert batch.frames.min() >= 0 and batch.frames.max() <= 1
    assert not torch.allclose(batch.frames[0, 0], batch.frames[0, 1])
    spans = batch.indices[0]
    assert spans.min() >= 0 and spans.max() < 30
    assert spans[0].min() <= spans[1].max() and spans[1].min() <= spans[0].max()


def test_errors(store):
    with pytest.raises(DataError):
        BatchLoader(store, [], BatchSpec(videos=2), SIZE, 0)
    with pytest.raises(DataError):
        BatchLoader(store, ["a0", "zz"], BatchSpec(videos=2), SIZE, 0)
    with pytest.raises(ConfigError):
        BatchLoader(store, ["a0"], BatchSpec(videos=0), SIZE, 0)
    with pytest.raises(ConfigError):
        BatchLoader(store, ["a0"], BatchSpec(videos=1, sampling="bogus"), SIZE, 0)
    with pytest.raises(ConfigError):
        BatchLoader(store, ["a0"], BatchSpec(videos=1), SIZE, 0, context=(0, 1))
    with pytest.raises(ConfigError):
        _loader(store).batch(-1)


def test_views_get_independent_augmentation(store):
    loader = _loader(store, ids=["a2"], videos=1, views=2, frames=None, augment=True)
    for step in range(5):  # same frames in both views, so any difference is the augmentation
        batch = loader.batch(step)
        assert torch.equal(batch.indices[0, 0], batch.indices[0, 1])
        assert not torch.allclose(batch.frames[0, 0], batch.frames[0, 1])
