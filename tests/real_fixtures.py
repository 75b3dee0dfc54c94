"""Tiny source files of the real datasets, written by the tests in each exact source format:
TCC's TFRecords (SequenceExample protos encoded with the protobuf package from a descriptor
built here, framed with TensorFlow's masked CRC-32C), CARL's pkl + mp4 (PyAV, libx264),
PennAction's raw frames (.jpg) + .mat (scipy) + phase .npy, and LAV's frame folders +
pickled label dicts."""
from __future__ import annotations

import io
import pickle
import struct
from pathlib import Path

import av
import numpy as np
import scipy.io
import torch
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from PIL import Image

from datasets._tfrecord import masked_crc32c

SIZE = 32


def smooth_video(seed: int, length: int, size: int = SIZE) -> np.ndarray:
    """(L, size, size, 3) uint8: smooth gradients and a moving square (compresses with little loss)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    base = rng.uniform(40, 200, 3)
    frames = np.empty((length, size, size, 3), np.uint8)
    for t in range(length):
        img = base + 40 * np.stack([x, y, (x + y) / 2], -1)
        c = int(4 + (size - 12) * t / max(length - 1, 1))
        img[c:c + 8, c:c + 8] = (250, 30, 30)
        frames[t] = np.clip(img, 0, 255).astype(np.uint8)
    return frames


def phase_labels(length: int, phases: int) -> np.ndarray:
    return np.minimum(np.arange(length) * phases // length, phases - 1).astype(np.int64)


def jpeg_bytes(frame: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(frame).save(out, "jpeg", quality=95)
    return out.getvalue()


def through_jpeg(frames: np.ndarray) -> np.ndarray:
    """What a JPEG decoder returns for the frames as the fixtures encode them (the JPEG loss)."""
    return np.stack([np.asarray(Image.open(io.BytesIO(jpeg_bytes(f))).convert("RGB")) for f in frames])


# ------------------------------------------------------------------ TFRecords

def _message(fdp, name: str, fields: list[tuple[str, int, str, str | None]], maps=()):
    """fields: (name, number, label 'optional'/'repeated', type: 'bytes'/'int64'/'float'/'string' or '.msg')."""
    msg = fdp.message_type.add(name=name)
    types = {"bytes": 12, "int64": 3, "float": 2, "string": 9}
    for field_name, number, label, tp in fields:
        f = msg.field.add(name=field_name, number=number, label=3 if label == "repeated" else 1)
        if tp.startswith("."):
            f.type, f.type_name = 11, tp
        else:
            f.type = types[tp]
    for field_name, value_type in maps:
        entry = msg.nested_type.add(name=field_name.capitalize() + "Entry")
        entry.options.map_entry = True
        entry.field.add(name="key", number=1, label=1, type=9)
        entry.field.add(name="value", number=2, label=1, type=11, type_name=value_type)
        msg.field.add(name=field_name, number=1, label=3, type=11,
                      type_name=f".tft.{name}.{field_name.capitalize()}Entry")
    return msg


def example_classes():
    """SequenceExample and Feature classes from tensorflow/core/example/{feature,example}.proto."""
    fdp = descriptor_pb2.FileDescriptorProto(name="tft_example.proto", package="tft", syntax="proto3")
    _message(fdp, "BytesList", [("value", 1, "repeated", "bytes")])
    _message(fdp, "FloatList", [("value", 1, "repeated", "float")])
    _message(fdp, "Int64List", [("value", 1, "repeated", "int64")])
    _message(fdp, "Feature", [("bytes_list", 1, "optional", ".tft.BytesList"),
                              ("float_list", 2, "optional", ".tft.FloatList"),
                              ("int64_list", 3, "optional", ".tft.Int64List")])
    _message(fdp, "Features", [], maps=[("feature", ".tft.Feature")])
    _message(fdp, "FeatureList", [("feature", 1, "repeated", ".tft.Feature")])
    _message(fdp, "FeatureLists", [], maps=[("feature_list", ".tft.FeatureList")])
    _message(fdp, "SequenceExample", [("context", 1, "optional", ".tft.Features"),
                                      ("feature_lists", 2, "optional", ".tft.FeatureLists")])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(fdp)
    return {name: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"tft.{name}"))
            for name in ("SequenceExample", "Feature")}


def sequence_example(name: str, frames: np.ndarray, labels: np.ndarray, jpegs: list[bytes] | None = None) -> bytes:
    """A TCC-style SequenceExample (tcc dataset_preparation/dataset_utils.py get_example)."""
    ex = example_classes()["SequenceExample"]()
    ex.context.feature["name"].bytes_list.value.append(name.encode())
    ex.context.feature["len"].int64_list.value.append(len(frames))
    ex.context.feature["label"].int64_list.value.append(-1)
    for data in jpegs if jpegs is not None else [jpeg_bytes(f) for f in frames]:
        ex.feature_lists.feature_list["video"].feature.add().bytes_list.value.append(data)
    for label in labels:
        ex.feature_lists.feature_list["frame_labels"].feature.add().int64_list.value.append(int(label))
    return ex.SerializeToString()


def write_tfrecord(path: Path, records: list[bytes]) -> Path:
    with Path(path).open("wb") as handle:
        for data in records:
            length = struct.pack("<Q", len(data))
            handle.write(length + struct.pack("<I", masked_crc32c(length)) + data
                         + struct.pack("<I", masked_crc32c(data)))
    return path


def pouring_videos(train=2, val=1, length=10):
    """(split, name, frames, labels) of a tiny Pouring."""
    out = []
    for split, count in (("train", train), ("val", val)):
        for k in range(count):
            n = length + k
            out.append((split, f"{split}_{k}", smooth_video(100 * (split == "val") + k, n), phase_labels(n, 5)))
    return out


def write_pouring_tfrecords(src: Path, videos=None) -> list:
    videos = videos or pouring_videos()
    src.mkdir(parents=True, exist_ok=True)
    for split in ("train", "val"):
        mine = [v for v in videos if v[0] == split]
        shards = [mine[0::2], mine[1::2]] if split == "train" else [mine]
        for i, shard in enumerate(shards):
            suffix = ".tfrecord" if split == "train" else ""
            write_tfrecord(src / f"pouring_{split}-{i}-of-{len(shards)}{suffix}",
                           [sequence_example(name, frames, labels) for _, name, frames, labels in shard])
    return videos


# ------------------------------------------------------------------ CARL's pkl + mp4

def write_mp4(path: Path, frames: np.ndarray, fps: int = 25) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        stream.options = {"crf": "10"}
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def write_carl(src: Path, videos, actions: list[str] | None = None) -> None:
    """CARL's layout; ``actions`` (PennAction) gives each video's action name, in CARL's list."""
    (src / "videos").mkdir(parents=True, exist_ok=True)
    action_list = None
    if actions is not None:
        from datasets.penn_action import FACTS
        action_list = FACTS["actions"]
    for split in ("train", "val"):
        entries = []
        for i, (video_split, name, frames, labels) in enumerate(videos):
            if video_split != split:
                continue
            write_mp4(src / "videos" / f"{name}.mp4", frames)
            entry = {"id": len(entries), "video_file": f"videos/{name}.mp4", "frame_label": torch.from_numpy(labels),
                     "seq_len": len(frames), "name": name}
            if action_list is not None:
                entry["action_label"] = action_list.index(actions[i])
            entries.append(entry)
        payload = entries
        if action_list is not None:
            payload = (entries, [[e["id"] for e in entries if e["action_label"] == a] for a in range(len(action_list))])
        with (src / f"{split}.pkl").open("wb") as handle:
            pickle.dump(payload, handle)


# ------------------------------------------------------------------ PennAction raw

PENN = [  # (id, .mat action, label folder, split, length)
    ("0001", "bowl", "bowling", "train", 9),
    ("0002", "bowl", "bowling", "train", 10),
    ("0003", "bowl", "bowling", "val", 11),
    ("0101", "jumping_jacks", "jumping_jacks", "train", 8),
    ("0102", "jumping_jacks", "jumping_jacks", "train", 9),
    ("0103", "jumping_jacks", "jumping_jacks", "val", 10),
]
PHASES = {"bowl": 3, "jumping_jacks": 4}


def write_penn_raw(src: Path, extra_frames: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Penn_Action/{frames,labels} and penn_action_labels/ under ``src``, plus a strum_guitar video
    with labels (excluded); returns {CARL name: (frames, labels)}."""
    out = {}
    for number, (vid, action, folder, split, length) in enumerate(PENN):
        frames = smooth_video(number, length + extra_frames)
        labels = phase_labels(length, PHASES[action])
        frame_dir = src / "Penn_Action" / "frames" / vid
        frame_dir.mkdir(parents=True)
        for t, frame in enumerate(frames):
            Image.fromarray(frame).save(frame_dir / f"{t + 1:06d}.jpg", quality=95)
        (src / "Penn_Action" / "labels").mkdir(parents=True, exist_ok=True)
        scipy.io.savemat(src / "Penn_Action" / "labels" / f"{vid}.mat",
                         {"action": action, "nframes": len(frames), "train": int(split == "train"),
                          "x": np.zeros((len(frames), 13)), "y": np.zeros((len(frames), 13))})
        label_dir = src / "penn_action_labels" / split / folder
        label_dir.mkdir(parents=True, exist_ok=True)
        np.save(label_dir / f"{vid}.npy", labels)
        out[f"{vid}_{action}"] = (frames, labels)
    excluded = src / "penn_action_labels" / "train" / "strum_guitar"
    excluded.mkdir(parents=True)
    np.save(excluded / "0500.npy", np.zeros(5, np.int64))
    return out


# ------------------------------------------------------------------ LAV's layout (IKEA ASM)

def write_lav(src: Path, set_name: str = "Kallax_Drawer_Shelf") -> dict[str, tuple[np.ndarray, np.ndarray]]:
    out = {}
    for split, count in (("train", 2), ("val", 1)):
        records = {}
        for k in range(count):
            name = f"{split}_video_{k}"
            frames = smooth_video(50 + k + 10 * (split == "val"), 12)
            labels = np.array([0, 0, 3, 3, 7, 7, 3, 3, 16, 16, 7, 7], np.int64)   # phases repeat
            folder = src / set_name / split / name
            folder.mkdir(parents=True)
            for t, frame in enumerate(frames):
                Image.fromarray(frame).save(folder / f"{t + 1:06d}.jpg", quality=95)
            records[name] = {"labels": labels}
            out[name] = (frames, labels)
        (src / "npyrecords").mkdir(parents=True, exist_ok=True)
        np.save(src / "npyrecords" / f"{set_name}_{split}.npy", records, allow_pickle=True)
    return out
