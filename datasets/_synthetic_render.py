"""Drawing for the synthetic dataset: a 2-D stick figure, a camera, anti-aliased capsules.

Everything drawn (limbs, head, props, distractors, outlier blobs) is a capsule: the points
within ``radius`` of a segment p0-p1 (a disc when p0 == p1). A video is painted capsule by
capsule over a static background, each capsule for all its frames at once, as a coverage
field ``clip(radius + 1/2 - distance, 0, 1)`` over the pixel centres of its bounding box.

World coordinates: x to the right, y up, the ground at y = 0, a figure about 1.8 units tall.
Angles are in degrees measured from straight down, counter-clockwise: ``direction(0)``
points down, ``direction(90)`` along +x (the way a side-view figure faces), ``direction(180)``
up. Pixel coordinates: x to the right, y down, pixel (i, j) has its centre at (j + .5, i + .5).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

FIGURE_CHANNELS = ("torso", "head", "r_upper", "r_fore", "l_upper", "l_fore",
                   "r_thigh", "r_shin", "l_thigh", "l_shin")
"""Pose angles, in this order: torso (pelvis -> neck), head (relative to the torso), then
each limb's upper and lower segment, absolute. "r" is the near / right side, "l" the far /
left one (drawn behind and darker)."""

JOINTS = ("pelvis", "neck", "head", "r_shoulder", "r_elbow", "r_hand", "l_shoulder",
          "l_elbow", "l_hand", "r_hip", "r_knee", "r_foot", "l_hip", "l_knee", "l_foot")
J = {name: i for i, name in enumerate(JOINTS)}


@dataclass(frozen=True)
class Body:
    """Segment lengths and half widths (world units) of one figure."""

    torso: float = 0.55
    neck: float = 0.2
    upper_arm: float = 0.3
    forearm: float = 0.28
    thigh: float = 0.44
    shin: float = 0.44
    shoulder_half: float = 0.17
    hip_half: float = 0.1
    torso_radius: float = 0.085
    limb_radius: float = 0.05
    head_radius: float = 0.13


BASE_BODY = Body()


@dataclass
class Capsule:
    """A segment with a radius, over N frames: p0, p1 (N, 2); radius and opacity (N,)."""

    p0: np.ndarray
    p1: np.ndarray
    radius: np.ndarray
    colour: np.ndarray
    opacity: np.ndarray


def capsule(p0: np.ndarray, p1: np.ndarray, radius: float | np.ndarray, colour: np.ndarray,
            opacity: float | np.ndarray = 1.0) -> Capsule:
    """A Capsule with scalar radius / opacity broadcast over the frames of ``p0``."""
    n = len(p0)
    return Capsule(np.asarray(p0, np.float64), np.asarray(p1, np.float64),
                   np.broadcast_to(np.asarray(radius, np.float64), (n,)),
                   np.asarray(colour, np.float32), np.broadcast_to(np.asarray(opacity, np.float32), (n,)))


def direction(degrees: np.ndarray) -> np.ndarray:
    """Unit vectors (..., 2) for angles measured from straight down, counter-clockwise."""
    rad = np.deg2rad(degrees)
    return np.stack([np.sin(rad), -np.cos(rad)], axis=-1)


def forward_kinematics(angles: np.ndarray, body: Body, lateral: float) -> np.ndarray:
    """Joint positions (N, 15, 2), pelvis at the origin, from pose angles (N, 10).

    ``lateral`` scales the shoulder and hip widths: 1 for a figure facing the camera, small
    for one seen from the side.
    """
    a = dict(zip(FIGURE_CHANNELS, np.moveaxis(angles, -1, 0)))
    up = direction(a["torso"])
    right = np.stack([-up[:, 1], up[:, 0]], axis=-1)   # the figure's right: image left when facing us
    out = np.zeros((len(angles), len(JOINTS), 2))
    out[:, J["neck"]] = body.torso * up
    out[:, J["head"]] = out[:, J["neck"]] + body.neck * direction(a["torso"] + a["head"])
    for side, sign in (("r", 1.0), ("l", -1.0)):
        shoulder = out[:, J["neck"]] + sign * lateral * body.shoulder_half * right
        elbow = shoulder + body.upper_arm * direction(a[f"{side}_upper"])
        hip = sign * lateral * body.hip_half * right
        knee = hip + body.thigh * direction(a[f"{side}_thigh"])
        out[:, J[f"{side}_shoulder"]] = shoulder
        out[:, J[f"{side}_elbow"]] = elbow
        out[:, J[f"{side}_hand"]] = elbow + body.forearm * direction(a[f"{side}_fore"])
        out[:, J[f"{side}_hip"]] = hip
        out[:, J[f"{side}_knee"]] = knee
        out[:, J[f"{side}_foot"]] = knee + body.shin * direction(a[f"{side}_shin"])
    return out


def place(joints: np.ndarray, body: Body, anchor: str, lift: np.ndarray) -> np.ndarray:
    """Shift each frame so joint ``anchor`` is at x = 0 and the lowest body surface at y = lift."""
    radius = np.full(len(JOINTS), body.limb_radius)
    radius[J["head"]] = body.head_radius
    bottom = (joints[..., 1] - radius).min(axis=1)
    shift = np.stack([-joints[:, J[anchor], 0], lift - bottom], axis=-1)
    return joints + shift[:, None, :]


def figure_capsules(joints: np.ndarray, body: Body, shirt: np.ndarray, trousers: np.ndarray,
                    skin: np.ndarray, opacity: np.ndarray) -> list[Capsule]:
    """The figure's capsules in painting order: far limbs (darker), trunk, head, near limbs."""
    def seg(a: str, b: str, radius: float, colour: np.ndarray) -> Capsule:
        return capsule(joints[:, J[a]], joints[:, J[b]], radius, colour, opacity)

    def limbs(side: str, shade: float) -> list[Capsule]:
        r = body.limb_radius
        return [seg(f"{side}_hip", f"{side}_knee", r * 1.15, trousers * shade),
                seg(f"{side}_knee", f"{side}_foot", r, trousers * shade),
                seg(f"{side}_shoulder", f"{side}_elbow", r, shirt * shade),
                seg(f"{side}_elbow", f"{side}_hand", r * 0.9, skin * shade)]

    trunk = [seg("r_hip", "l_hip", body.limb_radius * 1.2, trousers),
             seg("pelvis", "neck", body.torso_radius, shirt),
             seg("r_shoulder", "l_shoulder", body.limb_radius, shirt),
             seg("head", "head", body.head_radius, skin)]
    return limbs("l", 0.6) + trunk + limbs("r", 1.0)


@dataclass(frozen=True)
class Camera:
    """A similarity transform from world to pixels: frame ``center`` +- ``half_extent`` fills
    the image at scale 1; then zoom, rotate (degrees), shift (fraction of the image), mirror."""

    size: int
    center: tuple[float, float]
    half_extent: float
    scale: float = 1.0
    angle: float = 0.0
    shift: tuple[float, float] = (0.0, 0.0)
    mirror: bool = False

    @property
    def pixels_per_unit(self) -> float:
        return self.size / (2 * self.half_extent) * self.scale

    def _rotation(self) -> np.ndarray:
        rad = np.deg2rad(self.angle)
        return np.array([[np.cos(rad), -np.sin(rad)], [np.sin(rad), np.cos(rad)]])

    def to_pixels(self, points: np.ndarray) -> np.ndarray:
        rel = np.asarray(points, np.float64) - np.asarray(self.center)
        if self.mirror:
            rel = rel * np.array([-1.0, 1.0])
        rel = rel @ self._rotation().T * self.pixels_per_unit
        half = self.size / 2
        return np.stack([half + rel[..., 0] + self.shift[0] * self.size,
                         half - rel[..., 1] + self.shift[1] * self.size], axis=-1)

    def to_world(self, pixels: np.ndarray) -> np.ndarray:
        half = self.size / 2
        rel = np.stack([pixels[..., 0] - half - self.shift[0] * self.size,
                        half + self.shift[1] * self.size - pixels[..., 1]], axis=-1)
        rel = rel / self.pixels_per_unit @ self._rotation()
        if self.mirror:
            rel = rel * np.array([-1.0, 1.0])
        return rel + np.asarray(self.center)

    def project(self, cap: Capsule) -> Capsule:
        return replace(cap, p0=self.to_pixels(cap.p0), p1=self.to_pixels(cap.p1),
                       radius=cap.radius * self.pixels_per_unit)


def pixel_centres(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(xs, ys), each (height, width) float32: the pixel centres."""
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32) + 0.5
    return xs, ys


def capsule_coverage(p0: np.ndarray, p1: np.ndarray, radius: np.ndarray,
                     xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Coverage (N, H, W) in [0, 1] of N capsules (pixel units) over the grid ``xs, ys``.

    The distance of a pixel centre q to the segment is |p0 + t (p1 - p0) - q| with
    t = clip(<q - p0, p1 - p0> / |p1 - p0|^2, 0, 1); coverage is a one-pixel linear ramp
    around the radius.
    """
    p0 = np.asarray(p0, np.float32)[:, :, None, None]
    d = np.asarray(p1, np.float32)[:, :, None, None] - p0
    qx, qy = xs[None] - p0[:, 0], ys[None] - p0[:, 1]
    length2 = np.maximum(d[:, 0] ** 2 + d[:, 1] ** 2, 1e-12)
    t = np.clip((qx * d[:, 0] + qy * d[:, 1]) / length2, 0.0, 1.0)
    dist = np.hypot(qx - t * d[:, 0], qy - t * d[:, 1])
    r = np.asarray(radius, np.float32)[:, None, None]
    return np.clip(r + 0.5 - dist, 0.0, 1.0)


def paint(canvas: np.ndarray, capsules: list[Capsule]) -> None:
    """Paint ``capsules`` in order over ``canvas`` (N, H, W, 3) float32, in place.

    Each capsule is rasterised only on its visible frames and inside the bounding box of
    its extent over those frames.
    """
    n, height, width, _ = canvas.shape
    for cap in capsules:
        frames = np.flatnonzero(cap.opacity > 0)
        if frames.size == 0:
            continue
        ends = np.concatenate([cap.p0[frames], cap.p1[frames]])
        reach = cap.radius[frames].max() + 1.0
        x0, y0 = np.floor(ends.min(axis=0) - reach).astype(int)
        x1, y1 = np.ceil(ends.max(axis=0) + reach).astype(int)
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
        if x0 >= x1 or y0 >= y1:
            continue
        xs, ys = pixel_centres(y1 - y0, x1 - x0)
        cover = capsule_coverage(cap.p0[frames] - (x0, y0), cap.p1[frames] - (x0, y0),
                                 cap.radius[frames], xs, ys)
        cover *= cap.opacity[frames, None, None]
        index = slice(None) if frames.size == n else frames
        region = canvas[index, y0:y1, x0:x1]
        region += cover[..., None] * (cap.colour - region)
        canvas[index, y0:y1, x0:x1] = region
