"""Contact sheets: the video choice, the titles, a valid PNG written atomically, clear errors."""
from __future__ import annotations

import numpy as np
import pytest
from matplotlib.image import imread

from bench.contact_sheet import frame_title, pick_videos, write_contact_sheet
from bench.errors import ConfigError, DataError
from bench.store import Video, write_store
from datasets.synthetic import Synthetic, SyntheticConfig


@pytest.fixture(scope="module")
def plain_store(tmp_path_factory):
    """Three videos of action "a" and one of "b", no canonical time, one unlabelled frame."""
    rng = np.random.default_rng(0)

    def video(vid, action, length):
        labels = np.minimum(np.arange(length) * 2 // length, 1)
        labels[0] = -1
        return Video(vid, action, rng.integers(0, 256, (length, 8, 8, 3), dtype=np.uint8), labels)

    videos = [video("a0", "a", 6), video("a1", "a", 5), video("a2", "a", 7), video("b0", "b", 4)]
    return write_store(tmp_path_factory.mktemp("plain") / "store", "plain", "1",
                       {"a": ["up", "down"], "b": ["in", "out"]},
                       {"train": ["a0", "a1", "a2", "b0"], "empty": []}, videos)


def test_pick_videos_alternates_actions(plain_store):
    assert pick_videos(plain_store, "train", 3) == ["a0", "b0", "a1"]
    assert pick_videos(plain_store, "train", 10) == ["a0", "b0", "a1", "a2"]
    assert pick_videos(plain_store, "empty", 3) == []


def test_frame_title(plain_store):
    assert frame_title(plain_store, "a", 1, None) == "down"
    assert frame_title(plain_store, "b", 0, 0.254) == "in\nc=0.25"
    assert frame_title(plain_store, "a", -1, None) == "unlabelled"


def is_png(path) -> bool:
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_sheet_of_plain_store(plain_store, tmp_path):
    out = write_contact_sheet(plain_store, tmp_path / "sub" / "sheet.png", videos=3, frames_per_video=4)
    assert out == tmp_path / "sub" / "sheet.png" and is_png(out)
    assert list(out.parent.iterdir()) == [out]            # no temporary file left behind
    image = imread(out)
    # figsize (1.3 * 4 + 1.2, 1.55 * 3) inches at 100 dpi
    assert image.shape[:2] == (465, 640)


def test_sheet_of_synthetic_store(tmp_path):
    cfg = SyntheticConfig(train_per_action=1, val_per_action=1, min_length=16, max_length=24, image_size=32)
    store = Synthetic(cfg).open(tmp_path / "data")
    out = write_contact_sheet(store, tmp_path / "synthetic.png", videos=4, frames_per_video=6, split="val")
    assert is_png(out) and out.stat().st_size > 20_000
    image = imread(out)[..., :3]
    assert image.std() > 0.1                               # frames were drawn, not a blank page
    again = write_contact_sheet(store, out)                # overwriting an existing sheet works
    assert again == out and is_png(out)


@pytest.mark.parametrize("kwargs,error", [
    ({"videos": 0}, ConfigError),
    ({"frames_per_video": 0}, ConfigError),
    ({"split": "empty"}, DataError),
    ({"split": "nope"}, DataError),
])
def test_bad_requests_are_one_line_errors(plain_store, tmp_path, kwargs, error):
    with pytest.raises(error) as info:
        write_contact_sheet(plain_store, tmp_path / "sheet.png", **kwargs)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "sheet.png").exists()


def test_path_must_be_png(plain_store, tmp_path):
    with pytest.raises(ConfigError):
        write_contact_sheet(plain_store, tmp_path / "sheet.jpg")
