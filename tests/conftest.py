"""Shared fixtures: a tiny random video store written by the tests themselves."""
import numpy as np
import pytest

from bench.store import Video, tune_split, write_store


def write_tiny_store(root, actions=("a", "b"), per_action=4, length=12, size=16, seed=0):
    """Random frames; labels: two phases split at the middle; canonical time = i / (L - 1).
    The last two videos of each action are the val split, the others train."""
    rng = np.random.default_rng(seed)
    videos, train, val = [], [], []
    for action in actions:
        for k in range(per_action):
            video_id = f"{action}{k}"
            frames = rng.integers(0, 256, size=(length + k, size, size, 3), dtype=np.uint8)
            n = length + k
            labels = (np.arange(n) >= n // 2).astype(np.int64)
            videos.append(Video(video_id, action, frames, labels, np.linspace(0, 1, n, dtype=np.float32)))
            (val if k >= per_action - 2 else train).append(video_id)
    splits = {"train": train, "val": val, "tune": tune_split(train, seed)}
    return write_store(root, "tiny", "test", {a: ["first", "second"] for a in actions}, splits, videos)


@pytest.fixture
def tiny_store(tmp_path):
    return write_tiny_store(tmp_path / "store")


@pytest.fixture(scope="session")
def postgres_url():
    """A real PostgreSQL server for the session (tests/postgres_server.py); skipped with one
    line only where no PostgreSQL binaries exist."""
    from postgres_server import postgres_bin, postgres_server  # noqa: PLC0415

    bin_dir = postgres_bin()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server binaries (initdb, pg_ctl) on this machine")
    with postgres_server(bin_dir) as url:
        yield url
