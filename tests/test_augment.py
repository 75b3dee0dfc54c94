"""Frame conversion and per-view spatial augmentation."""
import colorsys
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from bench.augment import (
    ViewParams,
    apply_view_params,
    augment_view,
    gaussian_blur,
    grayscale,
    hsv_to_rgb,
    resize_matrix,
    rgb_to_hsv,
    sample_view_params,
    to_float_frames,
)
from bench.errors import DataError

IDENTITY = ViewParams(crop=(0, 0, 8, 8), flip=False, jitter=None, jitter_order=(0, 1, 2, 3), grayscale=False,
                      blur_sigma=None)


def _frames(n=3, h=8, w=8, seed=0, dtype=torch.float32):
    return torch.rand(n, 3, h, w, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def _gen(seed):
    return torch.Generator().manual_seed(seed)


def test_to_float_frames_values_and_layout():
    raw = np.random.default_rng(0).integers(0, 256, size=(2, 4, 5, 3), dtype=np.uint8)
    raw = raw[:, :4, :4]  # a non-contiguous view
    out = to_float_frames(raw, 4)
    assert out.shape == (2, 3, 4, 4) and out.dtype == torch.float32
    assert torch.equal(out, torch.from_numpy(raw).permute(0, 3, 1, 2).float() / 255)


def test_to_float_frames_resizes_and_accepts_read_only():
    raw = np.full((3, 16, 12, 3), 51, dtype=np.uint8)
    raw.flags.writeable = False
    out = to_float_frames(raw, 8)
    assert out.shape == (3, 3, 8, 8)
    assert torch.allclose(out, torch.full_like(out, 0.2), atol=1e-6)  # a constant image stays constant


def test_to_float_frames_errors():
    with pytest.raises(DataError):
        to_float_frames(np.zeros((2, 4, 4, 3), dtype=np.float32), 4)
    with pytest.raises(DataError):
        to_float_frames(np.zeros((4, 4, 3), dtype=np.uint8), 4)


def test_hsv_round_trip_matches_colorsys():
    x = _frames(2, 5, 4, seed=1, dtype=torch.float64)
    x[0, :, 0, 0] = torch.tensor([0.3, 0.3, 0.3])  # grey: hue 0, saturation 0
    x[0, :, 0, 1] = 0.0  # black
    hsv = rgb_to_hsv(x)
    pixels = x.permute(0, 2, 3, 1).reshape(-1, 3).tolist()
    expected = torch.tensor([colorsys.rgb_to_hsv(*p) for p in pixels], dtype=torch.float64)
    assert torch.allclose(hsv.permute(0, 2, 3, 1).reshape(-1, 3), expected, atol=1e-12)
    back = hsv_to_rgb(hsv)
    expected_rgb = torch.tensor([colorsys.hsv_to_rgb(*p) for p in expected.tolist()], dtype=torch.float64)
    assert torch.allclose(back.permute(0, 2, 3, 1).reshape(-1, 3), expected_rgb, atol=1e-12)
    assert torch.allclose(back, x, atol=1e-12)


def test_hue_shift_hand_case():
    # pure red (h 0) shifted by +1/3 of a turn is pure green
    red = torch.zeros(1, 3, 1, 1, dtype=torch.float64)
    red[0, 0] = 1.0
    params = ViewParams((0, 0, 1, 1), False, (1.0, 1.0, 1.0, 1 / 3), (3, 0, 1, 2), False, None)
    assert torch.allclose(apply_view_params(red, params).flatten(), torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64))


@pytest.mark.parametrize("full,start,size", [(8, 0, 8), (8, 2, 5), (64, 7, 33), (10, 9, 1), (5, 1, 3)])
def test_resize_matrix_matches_interpolate(full, start, size):
    x = torch.rand(2, 3, 4, full, generator=_gen(full + size), dtype=torch.float64)
    expected = F.interpolate(x[..., start:start + size], size=(4, full), mode="bilinear", align_corners=False)
    assert torch.allclose(x @ resize_matrix(start, size, full, full).T, expected, atol=1e-12)


def _naive_blur(x, sigma):
    radius = max(1, math.ceil(3 * sigma))
    w = [math.exp(-t * t / (2 * sigma * sigma)) for t in range(-radius, radius + 1)]
    total = sum(w) ** 2
    n, c, h, wd = x.shape
    out = torch.zeros_like(x)
    for i in range(h):
        for j in range(wd):
            acc = torch.zeros(n, c, dtype=x.dtype)
            for a in range(-radius, radius + 1):
                for b in range(-radius, radius + 1):
                    ii, jj = min(max(i + a, 0), h - 1), min(max(j + b, 0), wd - 1)
                    acc += w[a + radius] * w[b + radius] * x[:, :, ii, jj]
            out[:, :, i, j] = acc / total
    return out


@pytest.mark.parametrize("shape,sigma", [((1, 3, 5, 6), 0.5), ((2, 3, 7, 4), 1.0), ((1, 1, 3, 3), 0.9)])
def test_gaussian_blur_matches_naive(shape, sigma):
    x = torch.rand(*shape, generator=_gen(2), dtype=torch.float64)
    assert torch.allclose(gaussian_blur(x, sigma), _naive_blur(x, sigma), atol=1e-12)


def test_jitter_ops_match_formulas():
    x = _frames(2, 4, 4, seed=3, dtype=torch.float64)
    gray = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    assert torch.allclose(grayscale(x)[:, 0], gray)
    # brightness 1.3 alone: clamp(1.3 x)
    p = ViewParams((0, 0, 4, 4), False, (1.3, 1.0, 1.0, 0.0), (0, 1, 2, 3), False, None)
    assert torch.allclose(apply_view_params(x, p), (1.3 * x).clamp(0, 1), atol=1e-9)
    # contrast 0.7 alone: 0.7 x + 0.3 mean(gray of that frame)
    p = ViewParams((0, 0, 4, 4), False, (1.0, 0.7, 1.0, 0.0), (1, 0, 2, 3), False, None)
    mean = gray.mean(dim=(1, 2)).view(2, 1, 1, 1)
    assert torch.allclose(apply_view_params(x, p), (0.7 * x + 0.3 * mean).clamp(0, 1), atol=1e-9)
    # saturation 0.6 alone: 0.6 x + 0.4 gray, per pixel
    p = ViewParams((0, 0, 4, 4), False, (1.0, 1.0, 0.6, 0.0), (2, 1, 0, 3), False, None)
    assert torch.allclose(apply_view_params(x, p), (0.6 * x + 0.4 * gray.unsqueeze(1)).clamp(0, 1), atol=1e-9)


def test_crop_flip_grayscale_params():
    x = _frames(2, 8, 8, seed=4)
    assert torch.equal(apply_view_params(x, IDENTITY), x)
    p = ViewParams((2, 1, 4, 6), True, None, (0, 1, 2, 3), True, None)
    expected = F.interpolate(x[..., 2:6, 1:7], size=(8, 8), mode="bilinear", align_corners=False).flip(-1)
    expected = grayscale(expected).expand(-1, 3, -1, -1)
    assert torch.allclose(apply_view_params(x, p), expected)


def test_same_params_for_every_frame_of_a_view():
    x = _frames(1, 16, 16, seed=5)
    for seed in range(12):
        out = augment_view(x.expand(6, -1, -1, -1), _gen(seed))
        assert torch.allclose(out, out[:1].expand_as(out), atol=1e-6)  # identical frames stay identical
    a, b = _frames(1, 16, 16, seed=6), _frames(1, 16, 16, seed=7)
    for seed in range(12):  # a frame's output does not depend on the others in its view
        both = augment_view(torch.cat([a, b]), _gen(seed))
        assert torch.allclose(both[:1], augment_view(a, _gen(seed)), atol=1e-6)
        assert torch.allclose(both[1:], augment_view(b, _gen(seed)), atol=1e-6)


def test_augment_deterministic_shape_range_and_varied():
    x = _frames(4, 16, 16, seed=8)
    out = augment_view(x, _gen(11))
    assert out.shape == x.shape and out.dtype == x.dtype
    assert out.min() >= 0 and out.max() <= 1
    assert torch.equal(out, augment_view(x, _gen(11)))
    assert not torch.allclose(out, augment_view(x, _gen(12)))
    g = _gen(13)
    assert not torch.allclose(augment_view(x, g), augment_view(x, g))  # successive views differ


def test_param_frequencies_and_crop_bounds():
    g = _gen(14)
    draws = [sample_view_params(64, 48, g) for _ in range(3000)]
    assert abs(np.mean([d.flip for d in draws]) - 0.5) < 0.04
    assert abs(np.mean([d.jitter is not None for d in draws]) - 0.8) < 0.04
    assert abs(np.mean([d.grayscale for d in draws]) - 0.2) < 0.04
    assert abs(np.mean([d.blur_sigma is not None for d in draws]) - 0.5) < 0.04
    for d in draws:
        top, left, h, w = d.crop
        assert 0 <= top and top + h <= 64 and 0 <= left and left + w <= 48
        assert 0.4 < h * w / (64 * 48) <= 1.0
        assert sorted(d.jitter_order) == [0, 1, 2, 3]
        if d.jitter is not None:
            b, c, s, hue = d.jitter
            assert 0.6 <= b <= 1.4 and 0.6 <= c <= 1.4 and 0.6 <= s <= 1.4 and -0.1 <= hue <= 0.1
        if d.blur_sigma is not None:
            assert 0.1 <= d.blur_sigma <= 1.0


def test_augment_view_rejects_bad_shape():
    with pytest.raises(DataError):
        augment_view(torch.rand(3, 8, 8), _gen(0))
