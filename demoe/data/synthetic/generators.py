"""One physically motivated blur generator per AIO-Blur task (paper Sec. 4, Table 4).

Each generator is ``generator(rng, height, width, source=dead_leaves, **params)``
and returns a :class:`SynthPair` of ``H x W x 3`` float32 sRGB images in
[0, 1]. All blur, light sources and noise are applied in linear light (the
sRGB curve is undone first and re-applied last); everything is drawn from
``rng``, so a seeded ``numpy.random.Generator`` reproduces a pair exactly.

* :func:`camera_shake` (RealBlur-J, RSBlur): random-trajectory PSF, sensor
  noise, camera JPEG; optionally saturated light sources (RSBlur's realism).
* :func:`frame_average` (GoPro): mean of 7-13 frames along a smooth camera
  path (shift, rotation, zoom); the target is the middle frame.
* :func:`local_motion` (ReLoBlur): a soft-masked object moving over a sharp
  background, blurred by its own linear motion PSF.
* :func:`defocus` (DPDD, RealDOF): disk or polygonal aperture PSF whose size
  follows a layered depth map, composited back to front.
* :func:`low_light` (LOLBlur, Real-LOLBlur): under-exposure and a tone curve,
  camera-shake blur, strong Poisson-Gaussian noise; the target is well exposed.
* :func:`low_light_enhancement` (LOLv2-real, not a blur set; Fig. 8 only): the same
  without blur.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from demoe.data.images import jpeg_roundtrip
from demoe.data.synthetic.camera import linear_to_srgb, poisson_gaussian, srgb_to_linear
from demoe.data.synthetic.kernels import (
    aperture_kernel,
    convolve,
    linear_kernel,
    trajectory_kernel,
)
from demoe.data.synthetic.sources import dead_leaves

Source = Callable[[np.random.Generator, int, int], np.ndarray]
Range = tuple[float, float]


@dataclass
class SynthPair:
    """A generated pair; ``kernel`` is the (main) PSF when there is one, ``mask`` the moving region."""

    blurry: np.ndarray
    sharp: np.ndarray
    task: str | None
    kernel: np.ndarray | None = None
    mask: np.ndarray | None = None
    params: dict[str, Any] = field(default_factory=dict)


def _u(rng: np.random.Generator, r: Range) -> float:
    return float(rng.uniform(*r))


def _light_sources(rng: np.random.Generator, lin: np.ndarray, n: int) -> np.ndarray:
    """Add ``n`` small HDR lights (4-20x white) that saturate once blurred and clipped."""
    h, w, _ = lin.shape
    out = lin.copy()
    yy, xx = np.ogrid[:h, :w]
    for _ in range(n):
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        r = rng.uniform(1.0, max(1.5, min(h, w) / 40))
        disk = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        out[disk] = rng.uniform(4.0, 20.0) * rng.uniform(0.7, 1.0, 3)
    return out


def _soft_ellipse(rng: np.random.Generator, h: int, w: int, size: Range) -> np.ndarray:
    """A random ellipse in [0, 1] with a ~2 px soft edge (an object's alpha matte)."""
    cy, cx = rng.uniform(0.3, 0.7) * h, rng.uniform(0.3, 0.7) * w
    ay, ax = _u(rng, size) * h, _u(rng, size) * w
    theta = rng.uniform(0, np.pi)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    u = (xx - cx) * np.cos(theta) + (yy - cy) * np.sin(theta)
    v = -(xx - cx) * np.sin(theta) + (yy - cy) * np.cos(theta)
    dist = np.sqrt((u / ax) ** 2 + (v / ay) ** 2)  # 1 on the boundary
    edge = 2.0 / min(ax, ay)
    return np.clip((1.0 - dist) / edge + 0.5, 0.0, 1.0).astype(np.float32)


def camera_shake(
    rng: np.random.Generator,
    height: int,
    width: int,
    source: Source = dead_leaves,
    *,
    length: Range = (0.02, 0.06),
    photons: Range = (500.0, 4000.0),
    read_sigma: Range = (0.001, 0.004),
    jpeg: Range | None = (75, 95),
    lights: int = 0,
) -> SynthPair:
    """Camera shake (RealBlur-like): trajectory PSF of ``length`` x short side, noise, JPEG."""
    lin = srgb_to_linear(source(rng, height, width))
    if lights:
        lin = _light_sources(rng, lin, lights)
    kernel = trajectory_kernel(rng, _u(rng, length) * min(height, width))
    blurred = poisson_gaussian(convolve(lin, kernel), rng, _u(rng, photons), _u(rng, read_sigma))
    blurry, sharp = linear_to_srgb(blurred), linear_to_srgb(lin)
    params: dict[str, Any] = {"kernel_size": kernel.shape[0], "lights": lights}
    if jpeg is not None:
        quality = int(rng.integers(int(jpeg[0]), int(jpeg[1]) + 1))
        blurry, sharp = jpeg_roundtrip(blurry, quality), jpeg_roundtrip(sharp, quality)
        params["jpeg_quality"] = quality
    return SynthPair(blurry, sharp, "global_motion", kernel=kernel, params=params)


def camera_path(
    rng: np.random.Generator, n_frames: int, max_shift: float, max_rot: float, max_zoom: float
) -> np.ndarray:
    """Smooth path, one row per frame: ``(dx, dy, angle, zoom)``; the middle frame is identity.

    Shifts are quadratic in time (velocity plus acceleration), rotation and
    zoom linear, as for a hand-held camera over a ~1/20 s exposure.
    """
    t = (np.arange(n_frames) - n_frames // 2) / max(1, n_frames // 2)
    vel, acc = rng.uniform(-1, 1, 2) * max_shift, rng.uniform(-0.5, 0.5, 2) * max_shift
    shift = t[:, None] * vel + (t**2)[:, None] * acc
    angle = t * rng.uniform(-1, 1) * max_rot
    zoom = 1.0 + t * rng.uniform(-1, 1) * max_zoom
    return np.column_stack([shift, angle, zoom])


def _warp_frames(lin: np.ndarray, path: np.ndarray, height: int, width: int) -> torch.Tensor:
    """Sample an ``height x width`` centre view of ``lin`` for every pose (bilinear)."""
    big_h, big_w, _ = lin.shape
    image = torch.from_numpy(np.ascontiguousarray(lin.transpose(2, 0, 1)))[None]
    ys = torch.arange(height, dtype=torch.float32) - (height - 1) / 2
    xs = torch.arange(width, dtype=torch.float32) - (width - 1) / 2
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    p = torch.from_numpy(path.astype(np.float32))
    dx, dy, ang, zoom = (p[:, i, None, None] for i in range(4))
    cos, sin = torch.cos(ang), torch.sin(ang)
    src_x = (cos * gx - sin * gy) / zoom + dx + (big_w - 1) / 2
    src_y = (sin * gx + cos * gy) / zoom + dy + (big_h - 1) / 2
    grid = torch.stack([src_x / (big_w - 1) * 2 - 1, src_y / (big_h - 1) * 2 - 1], dim=-1)
    frames = F.grid_sample(
        image.expand(len(path), -1, -1, -1), grid, mode="bilinear", align_corners=True
    )
    return frames


def frame_average(
    rng: np.random.Generator,
    height: int,
    width: int,
    source: Source = dead_leaves,
    *,
    frames: tuple[int, int] = (7, 13),
    shift: Range = (0.01, 0.04),
    max_rot_deg: float = 1.5,
    max_zoom: float = 0.02,
    photons: Range = (2000.0, 8000.0),
) -> SynthPair:
    """GoPro-like blur: the mean of ``frames`` sharp frames of a smooth camera path."""
    n = int(rng.integers(frames[0], frames[1] + 1))
    max_shift = _u(rng, shift) * min(height, width)
    margin = int(np.ceil(2 * max_shift + max_zoom * max(height, width) + 2))
    lin = srgb_to_linear(source(rng, height + 2 * margin, width + 2 * margin))
    path = camera_path(rng, n, max_shift, np.deg2rad(max_rot_deg), max_zoom)
    views = _warp_frames(lin, path, height, width).numpy().transpose(0, 2, 3, 1)
    blurred = poisson_gaussian(views.mean(axis=0), rng, _u(rng, photons), 0.001)
    sharp = linear_to_srgb(views[n // 2])
    params = {"frames": n, "path": path.round(4).tolist()}
    return SynthPair(linear_to_srgb(blurred), sharp, "synth_global_motion", params=params)


def local_motion(
    rng: np.random.Generator,
    height: int,
    width: int,
    source: Source = dead_leaves,
    *,
    length: Range = (0.05, 0.15),
    size: Range = (0.15, 0.35),
    photons: Range = (1000.0, 6000.0),
) -> SynthPair:
    """ReLoBlur-like: a soft-masked foreground blurred by its own motion over a sharp background."""
    bg = srgb_to_linear(source(rng, height, width))
    fg = srgb_to_linear(source(rng, height, width))
    alpha = _soft_ellipse(rng, height, width, size)
    kernel = linear_kernel(_u(rng, length) * min(height, width), rng.uniform(0, np.pi))
    moved_alpha = convolve(alpha, kernel)
    blurred = convolve(fg * alpha[..., None], kernel) + (1.0 - moved_alpha)[..., None] * bg
    sharp = fg * alpha[..., None] + (1.0 - alpha)[..., None] * bg
    noisy = poisson_gaussian(blurred, rng, _u(rng, photons), 0.001)
    mask = (np.maximum(alpha, moved_alpha) > 0.01).astype(np.float32)
    return SynthPair(
        linear_to_srgb(noisy),
        linear_to_srgb(sharp),
        "local_motion",
        kernel=kernel,
        mask=mask,
        params={"kernel_size": kernel.shape[0]},
    )


def defocus(
    rng: np.random.Generator,
    height: int,
    width: int,
    source: Source = dead_leaves,
    *,
    max_radius: Range = (0.015, 0.04),
    layers: tuple[int, int] = (1, 3),
    photons: Range = (1000.0, 6000.0),
) -> SynthPair:
    """DPDD-like defocus: PSF radius ``~ |1/depth - 1/focus|`` on a layered depth map.

    A background plane and 1-3 elliptical objects at random depths; the focus
    is on one of them (or in between); layers are blurred with their own
    disk or polygonal aperture PSF and composited back to front. The target
    is the all-in-focus image.
    """
    lin = srgb_to_linear(source(rng, height, width))
    n_obj = int(rng.integers(layers[0], layers[1] + 1))
    depths = np.concatenate([[rng.uniform(5.0, 20.0)], rng.uniform(0.5, 4.0, n_obj)])
    focus = rng.choice(depths) if rng.uniform() < 0.7 else rng.uniform(0.5, 20.0)
    defocus_amount = np.abs(1.0 / depths - 1.0 / focus)
    radii = _u(rng, max_radius) * min(height, width) * defocus_amount / defocus_amount.max()
    blades = int(rng.choice([0, 5, 6, 7, 8]))
    rotation = rng.uniform(0, 2 * np.pi)
    kernels = [aperture_kernel(r, blades, rotation) for r in radii]
    out = convolve(lin, kernels[0])
    for i in np.argsort(-depths[1:]) + 1:  # far to near
        alpha = _soft_ellipse(rng, height, width, (0.1, 0.3))
        out = (
            convolve(lin * alpha[..., None], kernels[i])
            + (1.0 - convolve(alpha, kernels[i]))[..., None] * out
        )
    noisy = poisson_gaussian(out, rng, _u(rng, photons), 0.001)
    params = {
        "depths": depths.round(3).tolist(),
        "focus": round(float(focus), 3),
        "radii": radii.round(3).tolist(),
        "blades": blades,
    }
    return SynthPair(
        linear_to_srgb(noisy),
        linear_to_srgb(lin),
        "defocus",
        kernel=kernels[int(np.argmax(radii))],
        params=params,
    )


def _lit_scene(
    rng: np.random.Generator, height: int, width: int, source: Source, lights: tuple[int, int]
) -> np.ndarray:
    """A linear-light scene with a few (``lights`` range) saturating light sources."""
    lin = srgb_to_linear(source(rng, height, width))
    return _light_sources(rng, lin, int(rng.integers(lights[0], lights[1] + 1)))


def _dark_capture(
    rng: np.random.Generator,
    lin: np.ndarray,
    exposure: Range,
    photons: Range,
    read_sigma: Range,
    gamma: Range,
    kernel: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Under-expose ``lin`` by ``exposure``, blur it by ``kernel`` if given, add
    Poisson-Gaussian noise, then apply the sRGB curve and a shadow-crushing power ``gamma``."""
    exp_ = _u(rng, exposure)
    scene = lin * exp_ if kernel is None else convolve(lin * exp_, kernel)
    noisy = poisson_gaussian(scene, rng, _u(rng, photons), _u(rng, read_sigma))
    g = _u(rng, gamma)
    return linear_to_srgb(noisy) ** g, {"exposure": round(exp_, 4), "gamma": round(g, 3)}


def low_light(
    rng: np.random.Generator,
    height: int,
    width: int,
    source: Source = dead_leaves,
    *,
    exposure: Range = (0.03, 0.3),
    gamma: Range = (1.0, 1.4),
    length: Range = (0.02, 0.06),
    photons: Range = (300.0, 3000.0),
    read_sigma: Range = (0.001, 0.004),
    lights: tuple[int, int] = (0, 4),
) -> SynthPair:
    """LOLBlur-like: under-exposed, tone-curved, shaken and noisy; the target is well exposed.

    The scene (with a few saturating lights) is scaled by ``exposure`` in
    linear light, blurred by a trajectory PSF, given Poisson-Gaussian noise
    at ``photons`` electrons per unit, then mapped by the sRGB curve and a
    shadow-crushing power ``gamma``.
    """
    lin = _lit_scene(rng, height, width, source, lights)
    kernel = trajectory_kernel(rng, _u(rng, length) * min(height, width))
    blurry, params = _dark_capture(rng, lin, exposure, photons, read_sigma, gamma, kernel)
    params["kernel_size"] = kernel.shape[0]
    return SynthPair(blurry, linear_to_srgb(lin), "low_light", kernel=kernel, params=params)


def low_light_enhancement(
    rng: np.random.Generator,
    height: int,
    width: int,
    source: Source = dead_leaves,
    *,
    exposure: Range = (0.03, 0.3),
    gamma: Range = (1.0, 1.4),
    photons: Range = (300.0, 3000.0),
    read_sigma: Range = (0.001, 0.004),
    lights: tuple[int, int] = (0, 4),
) -> SynthPair:
    """LOLv2-real-like (Fig. 8's other task): :func:`low_light` without any blur.

    Under-exposure by ``exposure`` in linear light, Poisson-Gaussian noise, the sRGB
    curve and a shadow-crushing power ``gamma``; the target is the well-exposed scene.
    Not a blur task: ``task`` is None.
    """
    lin = _lit_scene(rng, height, width, source, lights)
    dark, params = _dark_capture(rng, lin, exposure, photons, read_sigma, gamma)
    return SynthPair(dark, linear_to_srgb(lin), None, params=params)


Generator = Callable[..., SynthPair]

#: Generator name -> (function, task label it produces).
GENERATORS: dict[str, tuple[Generator, str]] = {
    "camera_shake": (camera_shake, "global_motion"),
    "frame_average": (frame_average, "synth_global_motion"),
    "local_motion": (local_motion, "local_motion"),
    "defocus": (defocus, "defocus"),
    "low_light": (low_light, "low_light"),
}
