"""The frozen-feature cache: equal to the frozen forward (float16 aside), keyed, atomic,
refused without disk room; training, evaluation and re-evaluation on cached features."""
import json
from collections import namedtuple

import numpy as np
import pytest
import torch
from conftest import write_tiny_store
from rich.console import Console
from test_runner import FAST  # importing test_runner registers its tiny_test dataset

import bench.feature_cache as feature_cache
from bench.augment import to_float_frames
from bench.batch import BatchSpec
from bench.config import build
from bench.errors import DataError
from bench.feature_cache import open_feature_cache
from bench.loader import BatchLoader
from bench.reevaluate import reevaluate
from bench.registry import ENCODERS, METHODS
from bench.run_config import resolve
from bench.runner import execute, run_id
from bench.store import VideoStore
from bench.train import TrainerConfig, train

CPU = torch.device("cpu")
TINY = {"image_size": 16, "hidden": 8, "embed_dim": 4, "dropout": 0.0, "cache": True}
TRANSFORMER = {"heads": 2, "layers": 1, "fc_widths": [8]}


def make(name="resnet50_transformer", seed=0, **extra):
    cls = ENCODERS.get(name)
    torch.manual_seed(seed)
    head = TRANSFORMER if name == "resnet50_transformer" else {}
    return cls(build(cls.Config, {**TINY, **head, **extra}, "encoder"))


def open_cache(encoder, store, root, console=None):
    ids = store.split("train") + store.split("val")
    return open_feature_cache(encoder, store, ids, root, CPU, amp=True, console=console or Console(quiet=True))


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    return write_tiny_store(tmp_path_factory.mktemp("store") / "tiny", actions=("a",), per_action=3, length=6)


@pytest.fixture(scope="module")
def built(store, tmp_path_factory):
    """A transformer encoder and its cache, built in chunks of 5 frames, with what it printed."""
    encoder = make(chunk=5)
    console = Console(record=True, width=300)
    cache = open_cache(encoder, store, tmp_path_factory.mktemp("data"), console)
    return encoder, cache, console.export_text().replace("\n", "")


@pytest.fixture(scope="module")
def conv3d(store, tmp_path_factory):
    encoder = make("resnet50_conv3d", context_stride=2)
    return encoder, open_cache(encoder, store, tmp_path_factory.mktemp("data"))


def test_cache_equals_the_frozen_forward(store, built):
    encoder, cache, printed = built
    assert cache.shape == (1024, 1, 1)
    # 3 videos of 6, 7, 8 frames x 1024 x 1 x 1 float16: 43008 bytes
    assert "3 videos, 0.00 GB float16 (1024, 1, 1); 3 to build (0.00 GB)" in printed
    assert cache.root.parent.parts[-2:] == ("features", "tiny") and cache.root.name.startswith("resnet50-to-layer3-")
    key = json.loads((cache.root / "key.json").read_text())
    assert key["image_size"] == 16 and key["dataset_version"] == "test" and key["precision"] == "float32"
    assert key["weights_sha256"] == feature_cache.weights_hash(encoder.frozen)
    for vid in ("a0", "a1", "a2"):
        stored = cache.features(vid)
        assert stored.dtype == np.float16 and isinstance(stored, np.memmap)
        with torch.no_grad():
            expected = encoder.frozen(to_float_frames(store.frames(vid), 16)).numpy()
        # float16 rounding (half a unit in the last place: 2^-11 relative) and nothing more; the
        # cache ran in chunks of 5 frames, this forward in one batch (float32 noise ~1e-6)
        assert np.all(np.abs(stored.astype(np.float32) - expected) <= np.abs(expected) * 2.0 ** -11 + 1e-5)
    assert sorted(p.name for p in cache.root.iterdir()) == ["a0.npy", "a1.npy", "a2.npy", "key.json"]


def test_an_unchanged_key_is_reused_and_a_truncated_file_rebuilt(store, built, monkeypatch):
    encoder, cache, _ = built
    data_root = cache.root.parents[2]
    good = np.array(cache.features("a1"))
    written = []
    write = feature_cache._write_video
    monkeypatch.setattr(feature_cache, "_write_video", lambda enc, frames, path, *a: written.append(path.name)
                        or write(enc, frames, path, *a))
    assert open_cache(encoder, store, data_root).root == cache.root and written == []
    cache.path("a1").write_bytes(cache.path("a1").read_bytes()[:200])
    assert np.array_equal(open_cache(encoder, store, data_root).features("a1"), good) and written == ["a1.npy"]


def test_the_key_changes_with_weights_frame_size_dataset_version_and_precision(store, built, tmp_path):
    encoder, _, _ = built
    key = feature_cache.cache_key(encoder, store, CPU, amp=True)
    newer = write_tiny_store(tmp_path / "newer", actions=("a",), per_action=3, length=6)
    newer.manifest["version"] = "test2"
    changed = [feature_cache.cache_key(make(seed=1), store, CPU, amp=True),
               feature_cache.cache_key(make(image_size=32), store, CPU, amp=True),
               feature_cache.cache_key(encoder, newer, CPU, amp=True),
               feature_cache.cache_key(encoder, store, torch.device("cuda"), amp=True)]
    assert [sorted(k for k in key if other[k] != key[k]) for other in changed] == [
        ["weights_sha256"], ["image_size"], ["dataset_version"], ["precision"]]
    assert changed[3]["precision"] == "bfloat16-autocast"


def test_a_changed_key_is_another_cache(store, built):
    _, first, _ = built
    other = open_cache(make(seed=1), store, first.root.parents[2])
    assert other.root != first.root and other.root.parent == first.root.parent
    assert not np.allclose(first.features("a0"), other.features("a0"), rtol=0.1)


def test_refuses_without_disk_room_and_writes_nothing(store, tmp_path, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(feature_cache.shutil, "disk_usage", lambda path: usage(10**6, 10**6 - 1000, 1000))
    with pytest.raises(DataError, match=r"not enough disk for the feature cache at .*: it needs 0.00 GB, "
                                        r"0.00 GB are free; free space, use another --data directory"):
        open_cache(make(), store, tmp_path)
    assert not (tmp_path / "features").exists()


def test_cached_evaluation_equals_the_uncached_one(store, conv3d):
    encoder, cache = conv3d
    encoder.eval()
    for vid in ("a0", "a2"):
        cached = encoder.embed_cached(cache.features(vid))
        direct = encoder.embed_video(store.frames(vid))
        assert cached.shape == direct.shape == (store.length(vid), 4)
        assert np.allclose(cached, direct, rtol=2e-2, atol=2e-3 * np.abs(direct).max())


def test_cached_batches_hold_the_features_of_the_same_frames(store, conv3d):
    encoder, cache = conv3d
    spec = BatchSpec(videos=2, views=2, frames=4, sampling="time_augment", same_action=True, augment=True)
    pixels = BatchLoader(store, store.split("train"), spec, 16, seed=3, context=encoder.context).batch(5)
    cached = BatchLoader(store, store.split("train"), spec, 16, seed=3, context=encoder.context, cache=cache).batch(5)
    assert torch.equal(cached.indices, pixels.indices) and cached.video_ids == pixels.video_ids
    assert cached.frames.shape == (*pixels.frames.shape[:4], 1024, 1, 1)
    b, v, t = 1, 0, 2  # frame t of view v of video b, its last context frame
    index = int(pixels.indices[b, v, t])
    assert torch.equal(cached.frames[b, v, t, -1], torch.tensor(cache.features(cached.video_ids[b])[index], dtype=torch.float32))


def test_a_method_trains_on_cached_features(store, built):
    encoder, cache, _ = built
    method = METHODS.get("scl")(build(METHODS.get("scl").Config, {"frames": 4}, "method"), encoder.embed_dim)
    loader = BatchLoader(store, store.split("train"), method.batch_spec(), 16, seed=0, context=encoder.context,
                         cache=cache)
    frozen_before = {k: v.clone() for k, v in encoder.frozen.state_dict().items()}
    layer4_before = encoder.backbone.layer4[2].conv3.weight.clone()
    result = train(encoder, method, loader, TrainerConfig(steps=2, lr=1e-3), CPU)
    assert len(result.loss_log) == 2 and all(np.isfinite(row["loss"]) for row in result.loss_log)
    assert not torch.equal(encoder.backbone.layer4[2].conv3.weight, layer4_before)
    assert all(torch.equal(v, frozen_before[k]) for k, v in encoder.frozen.state_dict().items())


def test_a_run_with_the_cache_trains_and_evaluates(tmp_path):
    overrides = [*FAST, "encoder.fc_widths=[8]", "encoder.cache=true", "method.frames=4"]
    resolved = resolve(method="scl", dataset="tiny_test", encoder="resnet50_transformer", overrides=overrides)
    outcome = execute(resolved, tmp_path / "results", tmp_path / "data", console=Console(quiet=True))
    record = outcome.record
    assert record["encoder"] == "resnet50_transformer" and record["config"]["encoder"]["cache"] is True
    assert record["training"]["steps"] == 3 and record["training"]["loop_s"] > 0
    assert np.isfinite(record["training"]["final_loss"]) and "classification@1.00" in record["metrics"]
    (cache_dir,) = (tmp_path / "data" / "features" / "tiny").iterdir()  # the store's name
    assert len(list(cache_dir.glob("*.npy"))) == 8  # every train and val video
    uncached = resolve(method="scl", dataset="tiny_test", encoder="resnet50_transformer",
                       overrides=[*overrides, "encoder.cache=false"])
    assert run_id(uncached, VideoStore(tmp_path / "data" / "tiny_test")) != record["run_id"]
    # bench evaluate embeds from the same cached features: the record's metrics exactly
    written = reevaluate(record["run_id"], [None], "val", tmp_path / "results", tmp_path / "data",
                         console=Console(quiet=True))
    np.testing.assert_equal(json.loads(written["bench"].read_text())["metrics"], record["metrics"])
