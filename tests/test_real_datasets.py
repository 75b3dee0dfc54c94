"""The real datasets' adapters on tiny sources the tests write in each format: round trips
(frames up to JPEG / mp4 loss, labels exactly), every bad input's one line with nothing left
behind, and a few training steps on what was prepared (per_action and joint)."""
import json
import pickle

import numpy as np
import pytest
from real_fixtures import (
    PENN,
    SIZE,
    jpeg_bytes,
    pouring_videos,
    sequence_example,
    through_jpeg,
    write_carl,
    write_lav,
    write_penn_raw,
    write_pouring_tfrecords,
    write_tfrecord,
)
from rich.console import Console

import bench.cli as cli
import bench.training_units as training_units
from bench.cli import main
from bench.reevaluate import reevaluate
from bench.report import summarise
from bench.run_config import resolve
from bench.runner import execute
from bench.store import VideoStore
from datasets._real import resample_as_carl

FAST = ["encoder.name=cnn_transformer", "encoder.image_size=16", "encoder.embed_dim=8", "encoder.hidden=8", "encoder.layers=1",
        "encoder.heads=2", "encoder.cnn_channels=[4]", "protocol.fractions=[1.0]", "protocol.few_shot=[1]",
        "protocol.few_shot_episodes=2", "protocol.tau_stride=2", "protocol.ap_stride=2", "protocol.ap_ks=[1]", "trainer.steps=2",
        "method.frames=4"]


def prepare(name, src, data, *extra):
    return main(["data", "prepare", name, "--src", str(src), "--data", str(data), "--set", f"encoder.image_size={SIZE}",
                 *extra])


def assert_round_trip(store, expected, codec):
    """Labels exactly; frames exactly as a JPEG decoder returns them (``codec="jpeg"``), or
    within a mean absolute error of 6 levels of the written ones (``codec="mp4"``: libx264 at
    crf 10 with 4:2:0 chroma)."""
    for video_id, (frames, labels) in expected.items():
        video = store.video(video_id)
        assert np.array_equal(video.labels, labels), video_id
        assert video.frames.shape == frames.shape
        if codec == "jpeg":
            assert np.array_equal(video.frames, through_jpeg(frames)), video_id
        assert np.abs(video.frames.astype(int) - frames).mean() < (4.0 if codec == "jpeg" else 6.0), video_id


def assert_error_and_nothing_left(code, capsys, data, *needles):
    err = capsys.readouterr().err.strip()
    assert code == 2 and err.startswith("error: ") and "\n" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)
    assert not data.exists() or not any(data.iterdir()), list(data.iterdir())


def test_pouring_tfrecords_round_trip_and_rerun(tmp_path):
    videos = write_pouring_tfrecords(tmp_path / "src")
    assert prepare("pouring", tmp_path / "src", tmp_path / "data") == 0
    store = VideoStore(tmp_path / "data" / "pouring")
    assert_round_trip(store, {name: (frames, labels) for _, name, frames, labels in videos}, codec="jpeg")
    assert store.split("train") == ["train_0", "train_1"] and store.split("val") == ["val_0"]
    assert store.phases("pouring") == [f"phase_{k}" for k in range(5)]
    manifest = store.manifest
    assert manifest["version"] == "1-" + manifest["content_hash"][:12] and manifest["image_size"] == SIZE
    assert prepare("pouring", tmp_path / "src", tmp_path / "data") == 0          # a rerun replaces it
    assert VideoStore(tmp_path / "data" / "pouring").manifest["content_hash"] == manifest["content_hash"]
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["pouring"]


def test_pouring_carl_round_trip_and_training(tmp_path):
    videos = pouring_videos()
    write_carl(tmp_path / "src", videos)
    assert prepare("pouring", tmp_path / "src", tmp_path / "data") == 0
    store = VideoStore(tmp_path / "data" / "pouring")
    assert_round_trip(store, {name: (frames, labels) for _, name, frames, labels in videos}, codec="mp4")
    assert store.info("train_0")["fps"] == 25.0
    resolved = resolve(method="lrprop", dataset="pouring", overrides=FAST)
    outcome = execute(resolved, tmp_path / "results", tmp_path / "data")
    assert outcome.record["training"]["steps"] == 2 and np.isfinite(outcome.record["metrics"]["classification@1.00"])
    assert outcome.record["data"]["version"] == store.version


def test_penn_action_raw_round_trip_and_per_action_training(tmp_path):
    expected = write_penn_raw(tmp_path / "src")
    assert prepare("penn_action", tmp_path / "src", tmp_path / "data") == 0
    store = VideoStore(tmp_path / "data" / "penn_action")
    assert_round_trip(store, expected, codec="jpeg")
    assert store.actions == ["bowl", "jumping_jacks"]                       # strum_guitar excluded
    assert len(store.phases("bowl")) == 3 and len(store.phases("jumping_jacks")) == 4
    assert store.split("val") == ["0003_bowl", "0103_jumping_jacks"]
    assert store.manifest["paper_split_sizes"]["bowl"] == {"train": 134, "val": 85}

    # per_action (the default): one model per action, LRProp's Table 5 per action unless the user overrides
    assert resolve(method="lrprop", dataset="penn_action").action_methods["bowl"].frames == 60
    assert resolve(method="lrprop", dataset="penn_action").action_methods["jumping_jacks"].w_dtw == 0.01
    resolved = resolve(method="lrprop", dataset="penn_action", overrides=FAST)
    assert resolved.method_for("jumping_jacks").frames == 4 and resolved.method_for("jumping_jacks").w_dtw == 0.01
    record = execute(resolved, tmp_path / "results", tmp_path / "data").record
    assert set(record["training"]["per_action"]) == {"bowl", "jumping_jacks"}
    assert record["config"]["method_per_action"]["jumping_jacks"]["w_dtw"] == 0.01 and record["data"]["mode"] == "per_action"
    joint = execute(resolve(method="lrprop", dataset="penn_action", overrides=[*FAST, "dataset.mode=joint"]),
                    tmp_path / "results", tmp_path / "data").record
    assert "per_action" not in joint["training"] and "method_per_action" not in joint["config"]
    tables = summarise([record, joint])
    assert set(tables) == {"penn_action (per_action)", "penn_action (joint)"}
    run_dir = tmp_path / "results" / "runs" / "penn_action" / "lrprop" / record["run_id"]
    assert (run_dir / "training_curve.png").is_file()
    assert not any((tmp_path / "results" / "checkpoints").iterdir())
    # bench evaluate re-embeds each action with its own model: the run's own protocol gives its metrics exactly
    written = reevaluate(record["run_id"], [None], "val", tmp_path / "results", tmp_path / "data")
    np.testing.assert_equal(json.loads(written["bench"].read_text())["metrics"], record["metrics"])
    assert resolve(values=record["config"]).as_dict() == record["config"]


def test_per_action_models_are_each_actions_own(tmp_path):
    """A per_action run's embeddings of an action come from the model trained on that action
    alone: the same as a joint run on a store holding only that action."""
    write_penn_raw(tmp_path / "src")
    assert prepare("penn_action", tmp_path / "src", tmp_path / "data") == 0
    resolved = resolve(method="scl", dataset="penn_action", overrides=FAST)
    record = execute(resolved, tmp_path / "results", tmp_path / "data").record
    per_action = record["training"]["per_action"]
    import shutil
    for vid, action, *_ in PENN:
        if action == "bowl":
            continue
        shutil.rmtree(tmp_path / "src" / "Penn_Action" / "frames" / vid)
        (tmp_path / "src" / "Penn_Action" / "labels" / f"{vid}.mat").unlink()
    shutil.rmtree(tmp_path / "src" / "penn_action_labels" / "train" / "jumping_jacks")
    shutil.rmtree(tmp_path / "src" / "penn_action_labels" / "val" / "jumping_jacks")
    assert prepare("penn_action", tmp_path / "src", tmp_path / "bowl_only") == 0
    alone = execute(resolve(method="scl", dataset="penn_action", overrides=[*FAST, "dataset.mode=joint"]),
                    tmp_path / "results", tmp_path / "bowl_only").record
    assert alone["training"]["final_loss"] == pytest.approx(per_action["bowl"]["final_loss"], rel=1e-6)


def test_per_action_needs_training_videos_of_every_evaluated_action(tmp_path, capsys):
    import shutil
    write_penn_raw(tmp_path / "src")
    shutil.rmtree(tmp_path / "src" / "penn_action_labels" / "train" / "jumping_jacks")
    assert prepare("penn_action", tmp_path / "src", tmp_path / "data") == 0
    capsys.readouterr()
    code = main(["run", "--method", "scl", "--dataset", "penn_action", "--data", str(tmp_path / "data"),
                 "--results", str(tmp_path / "results"), *[x for item in FAST for x in ("--set", item)]])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err and "'jumping_jacks'" in err and "dataset.mode=joint" in err
    assert not (tmp_path / "results" / "runs").exists()


def test_interrupted_per_action_run_resumes_each_model(tmp_path, monkeypatch):
    write_penn_raw(tmp_path / "src")
    assert prepare("penn_action", tmp_path / "src", tmp_path / "data") == 0
    resolved = resolve(method="scl", dataset="penn_action", overrides=[*FAST, "trainer.steps=3", "trainer.checkpoint_every=1"])
    original = training_units.train
    calls = []

    def interrupted(encoder, method, loader, cfg, device, checkpoint, on_step, **kwargs):
        calls.append(checkpoint.name)

        def stop(step, row):
            on_step(step, row)
            if len(calls) == 2 and step == 1:          # the second action's model, during its step 1
                raise KeyboardInterrupt
        return original(encoder, method, loader, cfg, device, checkpoint, stop, **kwargs)

    monkeypatch.setattr(training_units, "train", interrupted)
    with pytest.raises(KeyboardInterrupt):
        execute(resolved, tmp_path / "results", tmp_path / "data")
    monkeypatch.setattr(training_units, "train", original)
    resumed = execute(resolved, tmp_path / "results", tmp_path / "data").record
    assert resumed["training"]["per_action"]["bowl"]["resumed_from"] == 3           # finished before the stop
    assert resumed["training"]["per_action"]["jumping_jacks"]["resumed_from"] == 1
    fresh = execute(resolved, tmp_path / "fresh", tmp_path / "data").record
    np.testing.assert_equal(resumed["metrics"], fresh["metrics"])                     # resumed bit for bit


def test_interrupted_prepare_leaves_nothing_and_reruns(tmp_path, monkeypatch):
    import datasets._real as real
    write_lav(tmp_path / "src")
    original = real.check_labels
    seen = []

    def interrupt_on_second(source, labels, phases):
        seen.append(source.video_id)
        if len(seen) == 2:
            raise KeyboardInterrupt
        return original(source, labels, phases)

    monkeypatch.setattr(real, "check_labels", interrupt_on_second)
    assert main(["data", "prepare", "ikea_asm", "--src", str(tmp_path / "src"), "--data", str(tmp_path / "data")]) == 130
    assert not (tmp_path / "data").exists() or not any((tmp_path / "data").iterdir())
    monkeypatch.setattr(real, "check_labels", original)
    assert prepare("ikea_asm", tmp_path / "src", tmp_path / "data") == 0
    assert VideoStore(tmp_path / "data" / "ikea_asm").split("train") == ["train_video_0", "train_video_1"]


def test_suite_on_penn_action_writes_a_per_action_table(tmp_path):
    write_penn_raw(tmp_path / "src")
    assert prepare("penn_action", tmp_path / "src", tmp_path / "data") == 0
    code = main(["suite", "--dataset", "penn_action", "--methods", "scl", "--data", str(tmp_path / "data"),
                 "--results", str(tmp_path / "results"), *[x for item in FAST for x in ("--set", item)]])
    board = (tmp_path / "results" / "LEADERBOARD.md").read_text()
    assert code == 0 and "## penn_action (per_action)" in board and "| scl |" in board


def test_penn_action_carl_round_trip(tmp_path):
    raw = write_penn_raw(tmp_path / "raw")
    videos = [(split, f"{vid}_{action}", *raw[f"{vid}_{action}"]) for vid, action, _, split, _ in PENN]
    write_carl(tmp_path / "src", videos, actions=[action for _, action, *_ in PENN])
    assert prepare("penn_action", tmp_path / "src", tmp_path / "data") == 0
    store = VideoStore(tmp_path / "data" / "penn_action")
    assert_round_trip(store, raw, codec="mp4")
    assert store.action_of("0101_jumping_jacks") == "jumping_jacks"


def test_ikea_asm_round_trip_and_its_metrics(tmp_path):
    expected = write_lav(tmp_path / "src")
    assert prepare("ikea_asm", tmp_path / "src", tmp_path / "data") == 0
    store = VideoStore(tmp_path / "data" / "ikea_asm")
    assert_round_trip(store, expected, codec="jpeg")
    assert len(store.phases("Kallax_Drawer_Shelf")) == 17
    protocol = resolve(dataset="ikea_asm").protocol
    assert not protocol.progression and not protocol.kendalls_tau and protocol.dtw_accuracy
    record = execute(resolve(method="tcn", dataset="ikea_asm", overrides=FAST[:-1] + ["method.frames=2"]),
                     tmp_path / "results", tmp_path / "data").record
    assert "progression" not in record["metrics"] and "kendalls_tau" not in record["metrics"]


def test_dataset_protocol_values_per_preset():
    carl = resolve(dataset="penn_action", protocol="carl").protocol
    assert (carl.tau_stride, carl.ap_stride) == (2, 2)
    assert resolve(dataset="pouring", protocol="carl").protocol.tau_stride == 5
    assert resolve(dataset="penn_action").protocol.tau_stride == 5
    assert resolve(dataset="penn_action", protocol="carl", overrides=["protocol.tau_stride=3"]).protocol.tau_stride == 3


def test_data_info_and_show_on_a_prepared_dataset(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(cli, "console", Console(width=200))        # one table row per line
    write_lav(tmp_path / "src")
    assert prepare("ikea_asm", tmp_path / "src", tmp_path / "data") == 0
    capsys.readouterr()
    assert main(["data", "info", "ikea_asm", "--data", str(tmp_path / "data")]) == 0
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:]]
            for line in capsys.readouterr().out.splitlines() if line.count("│") > 3}
    assert rows["Kallax_Drawer_Shelf"][:4] == ["17", "2", "1", "1"] and rows["Kallax_Drawer_Shelf"][4] == "36"
    assert rows["Kallax_Drawer_Shelf"][6] == "61/29" and rows["all"][6] == "61/29"
    out = tmp_path / "sheet.png"
    assert main(["data", "show", "ikea_asm", "--data", str(tmp_path / "data"), "--out", str(out)]) == 0
    assert out.read_bytes()[:4] == b"\x89PNG"


# ------------------------------------------------------------------ bad input

def test_run_without_data_prints_what_to_obtain(tmp_path, capsys):
    code = main(["run", "--method", "lrprop", "--dataset", "pouring", "--data", str(tmp_path / "data"),
                 "--results", str(tmp_path / "results")])
    assert_error_and_nothing_left(code, capsys, tmp_path / "data", "pouring_train-*-of-*", "train.pkl",
                                  "bench data prepare pouring --src PATH")
    assert not (tmp_path / "results").exists()


def test_corrupt_jpeg_in_a_tfrecord(tmp_path, capsys):
    videos = pouring_videos()
    write_pouring_tfrecords(tmp_path / "src", videos)
    _, name, frames, labels = videos[-1]
    jpegs = [jpeg_bytes(f) for f in frames]
    jpegs[3] = jpegs[3][:40]
    write_tfrecord(tmp_path / "src" / "pouring_val-0-of-1", [sequence_example(name, frames, labels, jpegs)])
    assert_error_and_nothing_left(prepare("pouring", tmp_path / "src", tmp_path / "data"), capsys, tmp_path / "data",
                                  "pouring_val-0-of-1 record 0", "frame 3", "does not decode")


def test_truncated_tfrecord(tmp_path, capsys):
    write_pouring_tfrecords(tmp_path / "src")
    path = tmp_path / "src" / "pouring_train-1-of-2.tfrecord"
    path.write_bytes(path.read_bytes()[:-100])
    assert_error_and_nothing_left(prepare("pouring", tmp_path / "src", tmp_path / "data"), capsys, tmp_path / "data",
                                  "pouring_train-1-of-2.tfrecord", "truncated")


def test_failed_prepare_keeps_the_previous_store(tmp_path, capsys):
    write_pouring_tfrecords(tmp_path / "src")
    assert prepare("pouring", tmp_path / "src", tmp_path / "data") == 0
    before = (tmp_path / "data" / "pouring" / "manifest.json").read_text()
    path = tmp_path / "src" / "pouring_val-0-of-1"
    path.write_bytes(path.read_bytes()[:-10])
    assert prepare("pouring", tmp_path / "src", tmp_path / "data") == 2
    assert (tmp_path / "data" / "pouring" / "manifest.json").read_text() == before
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["pouring"]


def test_mp4_that_does_not_decode(tmp_path, capsys):
    write_carl(tmp_path / "src", pouring_videos())
    (tmp_path / "src" / "videos" / "train_1.mp4").write_bytes(b"\x00\x00\x00\x18ftypisom" + b"garbage" * 20)
    assert_error_and_nothing_left(prepare("pouring", tmp_path / "src", tmp_path / "data"), capsys, tmp_path / "data",
                                  "train_1.mp4", "does not decode")


def test_label_entry_for_a_missing_video(tmp_path, capsys):
    write_carl(tmp_path / "src", pouring_videos())
    (tmp_path / "src" / "videos" / "val_0.mp4").unlink()
    assert_error_and_nothing_left(prepare("pouring", tmp_path / "src", tmp_path / "data"), capsys, tmp_path / "data",
                                  "val.pkl", "val_0.mp4", "does not exist")


def test_penn_label_file_for_a_missing_video(tmp_path, capsys):
    import shutil
    write_penn_raw(tmp_path / "src")
    shutil.rmtree(tmp_path / "src" / "Penn_Action" / "frames" / "0002")
    assert_error_and_nothing_left(prepare("penn_action", tmp_path / "src", tmp_path / "data"), capsys,
                                  tmp_path / "data", "0002.npy", "does not exist")


def test_unknown_action(tmp_path, capsys):
    write_penn_raw(tmp_path / "src")
    (tmp_path / "src" / "penn_action_labels" / "val" / "bowlling").mkdir()
    assert_error_and_nothing_left(prepare("penn_action", tmp_path / "src", tmp_path / "data"), capsys,
                                  tmp_path / "data", "bowlling", "unknown PennAction action", "did you mean 'bowl'")


def test_empty_split(tmp_path, capsys):
    import shutil
    write_lav(tmp_path / "src")
    np.save(tmp_path / "src" / "npyrecords" / "Kallax_Drawer_Shelf_val.npy", {}, allow_pickle=True)
    shutil.rmtree(tmp_path / "src" / "Kallax_Drawer_Shelf" / "val")
    assert_error_and_nothing_left(prepare("ikea_asm", tmp_path / "src", tmp_path / "data"), capsys, tmp_path / "data",
                                  "split 'val' has no videos")


def test_corrupt_jpeg_file_and_corrupt_pickle(tmp_path, capsys):
    write_penn_raw(tmp_path / "src")
    (tmp_path / "src" / "Penn_Action" / "frames" / "0102" / "000004.jpg").write_bytes(b"\xff\xd8not a jpeg")
    assert_error_and_nothing_left(prepare("penn_action", tmp_path / "src", tmp_path / "data"), capsys,
                                  tmp_path / "data", "0102/000004.jpg", "does not decode")
    write_carl(tmp_path / "carl", pouring_videos())
    (tmp_path / "carl" / "train.pkl").write_bytes(pickle.dumps([1, 2])[:-3])
    assert_error_and_nothing_left(prepare("pouring", tmp_path / "carl", tmp_path / "data"), capsys, tmp_path / "data",
                                  "train.pkl", "not a readable pickle")


def test_label_out_of_range_and_wrong_source(tmp_path, capsys):
    write_lav(tmp_path / "src")
    np.save(tmp_path / "src" / "npyrecords" / "Kallax_Drawer_Shelf_train.npy",
            {"train_video_0": {"labels": np.full(12, 17)}}, allow_pickle=True)
    assert_error_and_nothing_left(prepare("ikea_asm", tmp_path / "src", tmp_path / "data"), capsys, tmp_path / "data",
                                  "train_video_0", "phase label 17 is outside 0..16")
    assert_error_and_nothing_left(prepare("pouring", tmp_path / "src", tmp_path / "data"), capsys, tmp_path / "data",
                                  "holds neither")
    assert_error_and_nothing_left(main(["data", "prepare", "synthetic", "--src", str(tmp_path)]), capsys,
                                  tmp_path / "data", "generated, not converted")


def test_count_mismatch_stops_unless_resampled_as_carl(tmp_path, capsys):
    expected = write_penn_raw(tmp_path / "src", extra_frames=2)
    assert_error_and_nothing_left(prepare("penn_action", tmp_path / "src", tmp_path / "data"), capsys,
                                  tmp_path / "data", "0001.npy", "11 frames but 9 labels", "--resample")
    assert prepare("penn_action", tmp_path / "src", tmp_path / "data", "--resample") == 0
    assert "0001_bowl: 11 frames, 9 labels: resampled to 9" in capsys.readouterr().out
    store = VideoStore(tmp_path / "data" / "penn_action")
    assert store.manifest["resampled"]["0001_bowl"] == {"frames": 11, "labels": 9}
    frames, labels = expected["0001_bowl"]
    video = store.video("0001_bowl")
    keep = [0, 1, 2, 3, 4, 6, 7, 8, 9]                  # floor(j * 11 / 9), j < 9
    assert np.array_equal(video.labels, labels)
    assert np.array_equal(video.frames, through_jpeg(frames)[keep])


def test_resample_as_carl_both_ways():
    frames = np.arange(5)[:, None] * np.ones((5, 2), int)
    out_frames, out_labels = resample_as_carl(frames, np.array([7, 8, 9]))
    assert out_frames[:, 0].tolist() == [0, 1, 3] and out_labels.tolist() == [7, 8, 9]   # floor(j * 5 / 3)
    out_frames, out_labels = resample_as_carl(frames[:2], np.array([1, 2, 3, 4, 5]))
    assert out_frames.shape[0] == 2 and out_labels.tolist() == [1, 3]                    # floor(j * 5 / 2)


def test_prepare_needs_src(tmp_path, capsys):
    code = main(["data", "prepare", "pouring", "--data", str(tmp_path / "data")])
    assert_error_and_nothing_left(code, capsys, tmp_path / "data", "needs --src PATH")


def test_manifest_is_json_with_the_source(tmp_path):
    write_lav(tmp_path / "src")
    assert prepare("ikea_asm", tmp_path / "src", tmp_path / "data") == 0
    manifest = json.loads((tmp_path / "data" / "ikea_asm" / "manifest.json").read_text())
    assert manifest["source"] == str((tmp_path / "src").resolve()) and manifest["resampled"] == {}
    # the fixture labels phases 0, 3, 7 and 16 of 17
    assert manifest["phases_without_frames"]["Kallax_Drawer_Shelf"] == [f"phase_{k}" for k in range(17)
                                                                        if k not in (0, 3, 7, 16)]
