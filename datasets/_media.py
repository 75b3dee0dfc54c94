"""Decoding the source media of the real datasets into uint8 frames at the store's size.

Every frame is converted to RGB and resized to ``size`` x ``size`` with PIL's bilinear
filter (antialiased when shrinking); a non-square frame is stretched to the square, as
TCC's and CARL's converters do (cv2.resize to 224 x 224). JPEG bytes and .jpg files go
through PIL; .mp4 files through PyAV (FFmpeg). A file that does not decode is a DataError
that names it.
"""
from __future__ import annotations

import io
from pathlib import Path

import av
import numpy as np
from PIL import Image, UnidentifiedImageError

from bench.errors import DataError


def resize_frame(image: Image.Image, size: int) -> np.ndarray:
    """(size, size, 3) uint8 of a PIL image."""
    return np.asarray(image.convert("RGB").resize((size, size), Image.Resampling.BILINEAR), dtype=np.uint8)


def decode_jpeg(data: bytes | Path, size: int, where: str) -> np.ndarray:
    """One JPEG (bytes or a file) as a (size, size, 3) uint8 frame."""
    try:
        with Image.open(io.BytesIO(data) if isinstance(data, bytes) else data) as image:
            return resize_frame(image, size)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise DataError(f"{where}: the JPEG does not decode ({err}); obtain the file again") from err


def stack_frames(frames: list[np.ndarray], where: str) -> np.ndarray:
    if not frames:
        raise DataError(f"{where}: no frames; obtain the video again")
    return np.stack(frames)


def read_jpeg_folder(folder: Path, size: int) -> np.ndarray:
    """Every ``*.jpg`` of a folder, in name order, as (L, size, size, 3) uint8."""
    files = sorted(Path(folder).glob("*.jpg"))
    return stack_frames([decode_jpeg(path, size, str(path)) for path in files], str(folder))


def read_mp4(path: Path, size: int) -> np.ndarray:
    """Every frame of the first video stream of a video file as (L, size, size, 3) uint8."""
    try:
        with av.open(str(path)) as container:
            frames = [resize_frame(frame.to_image(), size) for frame in container.decode(video=0)]
    except (av.FFmpegError, IndexError, ValueError) as err:
        raise DataError(f"{path}: the video does not decode ({err}); obtain the file again") from err
    return stack_frames(frames, str(path))
