"""Frame conversion and SimCLR-style spatial augmentation of one view.

``to_float_frames`` is the one uint8 -> float conversion, shared by training batches and
evaluation embedding. ``augment_view`` draws ONE set of parameters per view from the
generator it is given and applies it to every frame of the view, vectorised over frames.

The recipe is SimCLR's (Chen et al. 2020, Appendix A), as CARL uses it, in its order:
random resized crop, horizontal flip (p 0.5), colour jitter (p 0.8; brightness, contrast,
saturation 0.4, hue 0.1, in a random order), grayscale (p 0.2), Gaussian blur (p 0.5).
Departures, chosen for the 64x64 synthetic figures, whose limbs are a few pixels wide:

- crop area scale in [0.5, 1] instead of [0.08, 1] (a crop of 8 % of a 64x64 frame would
  often lose the figure); aspect ratio log-uniform in [3/4, 4/3] as SimCLR; a crop that
  does not fit is clipped to the frame instead of torchvision's retry loop;
- blur sigma in [0.1, 1.0] pixels (SimCLR: [0.1, 2.0] at 224 px), kernel radius
  ceil(3 sigma), edges replicated.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from bench.errors import ConfigError, DataError

CROP_SCALE = (0.5, 1.0)
CROP_RATIO = (3 / 4, 4 / 3)
FLIP_P = 0.5
JITTER_P = 0.8
JITTER = (0.4, 0.4, 0.4, 0.1)  # brightness, contrast, saturation, hue
GRAY_P = 0.2
BLUR_P = 0.5
BLUR_SIGMA = (0.1, 1.0)
GRAY_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R 601 luma, as PIL and torchvision


def to_float_frames(frames: np.ndarray, image_size: int) -> torch.Tensor:
    """uint8 (L, H, W, 3) -> float32 (L, 3, S, S) in [0, 1], S = ``image_size``.

    Frames of another size are resized with antialiased bilinear interpolation (a
    non-square frame is stretched to the square).
    """
    if not isinstance(frames, np.ndarray) or frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3:
        raise DataError(f"frames must be a uint8 array (L, H, W, 3), got "
                        f"{getattr(frames, 'dtype', type(frames).__name__)} {getattr(frames, 'shape', '')}; "
                        "read them from the video store")
    if image_size < 1:
        raise ConfigError(f"image_size must be >= 1, got {image_size}; set the encoder's image size")
    if not (frames.flags.writeable and frames.flags.c_contiguous):
        frames = np.array(frames, order="C")
    x = torch.from_numpy(frames).permute(0, 3, 1, 2).float().div_(255.0)
    if x.shape[-2:] != (image_size, image_size) and x.shape[0] > 0:
        x = F.interpolate(x, size=(image_size, image_size), mode="bilinear", align_corners=False,
                          antialias=True).clamp_(0.0, 1.0)
    return x


@dataclass(frozen=True)
class ViewParams:
    """One view's augmentation parameters.

    crop: (top, left, height, width) in pixels; jitter: (brightness, contrast, saturation,
    hue) factors or None when colour jitter is off; jitter_order: the order the four are
    applied in (0 brightness, 1 contrast, 2 saturation, 3 hue); blur_sigma: None when off.
    """

    crop: tuple[int, int, int, int]
    flip: bool
    jitter: tuple[float, float, float, float] | None
    jitter_order: tuple[int, int, int, int]
    grayscale: bool
    blur_sigma: float | None


def sample_view_params(height: int, width: int, generator: torch.Generator) -> ViewParams:
    """Draw one view's parameters (a fixed number of draws from ``generator``)."""
    u = torch.rand(13, generator=generator, dtype=torch.float64).tolist()
    order = tuple(torch.randperm(4, generator=generator).tolist())
    area = height * width * (CROP_SCALE[0] + (CROP_SCALE[1] - CROP_SCALE[0]) * u[0])
    log_lo, log_hi = math.log(CROP_RATIO[0]), math.log(CROP_RATIO[1])
    ratio = math.exp(log_lo + (log_hi - log_lo) * u[1])
    crop_w = min(width, max(1, round(math.sqrt(area * ratio))))
    crop_h = min(height, max(1, round(math.sqrt(area / ratio))))
    top = min(height - crop_h, int(u[2] * (height - crop_h + 1)))
    left = min(width - crop_w, int(u[3] * (width - crop_w + 1)))
    jitter = None
    if u[5] < JITTER_P:
        b, c, s, h = JITTER
        jitter = (1 + b * (2 * u[6] - 1), 1 + c * (2 * u[7] - 1), 1 + s * (2 * u[8] - 1), h * (2 * u[9] - 1))
    sigma = BLUR_SIGMA[0] + (BLUR_SIGMA[1] - BLUR_SIGMA[0]) * u[12] if u[11] < BLUR_P else None
    return ViewParams(crop=(top, left, crop_h, crop_w), flip=u[4] < FLIP_P, jitter=jitter,
                      jitter_order=order, grayscale=u[10] < GRAY_P, blur_sigma=sigma)


def grayscale(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) -> (N, 1, H, W) luma."""
    r, g, b = x.unbind(1)
    return (GRAY_WEIGHTS[0] * r + GRAY_WEIGHTS[1] * g + GRAY_WEIGHTS[2] * b).unsqueeze(1)


def rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB in [0, 1] -> HSV in [0, 1] (hue as a fraction of a turn), with
    colorsys's tie-breaking (red, then green, decides the hue sector)."""
    r, g, b = x.unbind(1)
    value = x.amax(dim=1)
    delta = value - x.amin(dim=1)
    is_r = r == value
    is_g = (g == value) & ~is_r
    turns = torch.where(is_r, g - b, torch.where(is_g, b - r + 2 * delta, r - g + 4 * delta))
    hue = turns / (6 * delta).clamp(min=1e-12)  # grey pixels: 0 / tiny = 0
    sat = delta / value.clamp(min=1e-12)
    return torch.stack([hue - hue.floor(), sat, value], dim=1)


def hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) HSV in [0, 1] -> RGB: channel n in (5, 3, 1) is
    V - V S clamp(min(k, 4 - k), 0, 1) with k = (n + 6 H) mod 6."""
    hue, sat, value = x.unbind(1)
    n = torch.tensor([5.0, 3.0, 1.0], dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    k = (n + 6.0 * hue.unsqueeze(1)) % 6.0
    return value.unsqueeze(1) * (1 - sat.unsqueeze(1) * torch.minimum(k, 4 - k).clamp(0.0, 1.0))


def _blend(x: torch.Tensor, other: torch.Tensor | float, factor: float) -> torch.Tensor:
    return (factor * x + (1 - factor) * other).clamp(0.0, 1.0)


def _jitter(x: torch.Tensor, which: int, factor: float) -> torch.Tensor:
    if which == 0:
        return _blend(x, 0.0, factor)
    if which == 1:
        return _blend(x, grayscale(x).mean(dim=(1, 2, 3), keepdim=True), factor)
    if which == 2:
        return _blend(x, grayscale(x), factor)
    hsv = rgb_to_hsv(x)
    hsv = torch.cat([(hsv[:, :1] + factor) % 1.0, hsv[:, 1:]], dim=1)
    return hsv_to_rgb(hsv)


def resize_matrix(start: int, size: int, out: int, full: int) -> torch.Tensor:
    """(out, full) float64 matrix M such that M @ v bilinearly resizes v[start:start+size]
    to ``out`` samples, exactly as F.interpolate(mode="bilinear", align_corners=False)."""
    src = ((torch.arange(out, dtype=torch.float64) + 0.5) * (size / out) - 0.5).clamp(min=0.0)
    lo = src.floor().long().clamp(max=size - 1)
    frac = src - lo
    rows = torch.arange(out)
    matrix = torch.zeros(out, full, dtype=torch.float64)
    matrix.index_put_((rows, start + lo), 1 - frac, accumulate=True)
    matrix.index_put_((rows, start + (lo + 1).clamp(max=size - 1)), frac, accumulate=True)
    return matrix


def blur_matrix(size: int, sigma: float) -> torch.Tensor:
    """(size, size) float64 matrix of a 1-D Gaussian blur, radius ceil(3 sigma), taps that
    fall outside folded onto the edge pixel (replicated edges)."""
    radius = max(1, math.ceil(3 * sigma))
    taps = torch.arange(-radius, radius + 1)
    weights = torch.exp(-taps.double() ** 2 / (2 * sigma ** 2))
    rows = torch.arange(size).view(-1, 1).expand(-1, len(taps))
    matrix = torch.zeros(size, size, dtype=torch.float64)
    matrix.index_put_((rows, (rows + taps).clamp(0, size - 1)), (weights / weights.sum()).expand(size, -1),
                      accumulate=True)
    return matrix


def _separable(x: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
    """rows @ x @ cols^T for every image of x (N, C, H, W): one GEMM per axis."""
    x = x @ cols.to(x.dtype).T
    return (x.transpose(-1, -2) @ rows.to(x.dtype).T).transpose(-1, -2)


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, C, H, W), radius ceil(3 sigma), replicated edges."""
    return _separable(x, blur_matrix(x.shape[-2], sigma), blur_matrix(x.shape[-1], sigma))


def apply_view_params(frames: torch.Tensor, params: ViewParams) -> torch.Tensor:
    """Apply one view's parameters to all its frames (N, 3, H, W) at once.

    Crop + resize + flip, and the blur, are linear and separable, so each is applied as a
    pair of (H, H) and (W, W) matrices: two GEMMs over all the frames of the view.
    """
    height, width = frames.shape[-2:]
    top, left, crop_h, crop_w = params.crop
    cols = resize_matrix(left, crop_w, width, width)
    x = _separable(frames, resize_matrix(top, crop_h, height, height), cols.flip(0) if params.flip else cols)
    if params.jitter is not None:
        for which in params.jitter_order:
            x = _jitter(x, which, params.jitter[which])
    if params.grayscale:
        x = grayscale(x).expand(-1, 3, -1, -1)
    if params.blur_sigma is not None:
        x = gaussian_blur(x, params.blur_sigma)
    return x.clamp(0.0, 1.0).contiguous()


def augment_view(frames: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """SimCLR-style augmentation of one view's frames (N, 3, H, W) in [0, 1], the same
    random parameters for every frame, drawn from ``generator``."""
    if frames.ndim != 4 or frames.shape[1] != 3:
        raise DataError(f"augment_view needs frames (N, 3, H, W), got shape {tuple(frames.shape)}; "
                        "convert them with to_float_frames")
    return apply_view_params(frames, sample_view_params(frames.shape[-2], frames.shape[-1], generator))
