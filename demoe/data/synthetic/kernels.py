"""Blur kernels (PSFs) and FFT convolution; every kernel is non-negative and sums to 1.

* :func:`trajectory_kernel`: camera-shake PSFs from random 2-D trajectories,
  after Boracchi & Foi, "Modeling the performance of image restoration from
  motion blur", IEEE TIP 2012 (random walk with inertia, a centripetal pull
  and occasional abrupt shakes).
* :func:`linear_kernel`: uniform linear motion (a moving object, ReLoBlur-like).
* :func:`aperture_kernel`: defocus PSF of a disk or a regular polygonal aperture.
"""

from __future__ import annotations

import numpy as np
from scipy.signal import fftconvolve


def _odd(n: float) -> int:
    n = max(1, int(np.ceil(n)))
    return n if n % 2 else n + 1


def rasterize(points: np.ndarray, size: int | None = None) -> np.ndarray:
    """Splat complex sub-pixel positions (centred on their extent) into a normalised kernel."""
    points = points - (points.real.min() + points.real.max()) / 2
    points = points - 1j * (points.imag.min() + points.imag.max()) / 2
    extent = max(np.ptp(points.real), np.ptp(points.imag))
    size = size or _odd(extent + 3)
    c = size // 2
    x, y = points.real + c, points.imag + c
    x0, y0 = np.floor(x).astype(int), np.floor(y).astype(int)
    fx, fy = x - x0, y - y0
    kernel = np.zeros((size + 1, size + 1))
    for dx, dy, w in (
        (0, 0, (1 - fx) * (1 - fy)),
        (1, 0, fx * (1 - fy)),
        (0, 1, (1 - fx) * fy),
        (1, 1, fx * fy),
    ):
        np.add.at(kernel, (np.clip(y0 + dy, 0, size), np.clip(x0 + dx, 0, size)), w)
    kernel = kernel[:size, :size]
    return (kernel / kernel.sum()).astype(np.float32)


def random_trajectory(
    rng: np.random.Generator, length: float, n_steps: int = 256, anxiety: float | None = None
) -> np.ndarray:
    """Complex positions of a random camera-shake trajectory of total length ``length`` px.

    Boracchi & Foi (2012): the velocity follows a random walk with Gaussian
    perturbations, a centripetal term pulling back to the origin and, with
    small probability, an abrupt direction change (a big shake). ``anxiety``
    (default uniform in [0.005, 0.05]) sets how much the path wanders: near
    0.005 it is almost straight, near 0.05 its extent is a third of its length.
    """
    anxiety = rng.uniform(0.005, 0.05) if anxiety is None else anxiety
    centripetal = 0.7 * rng.uniform()
    gaussian = 10.0 * rng.uniform()
    p_shake = 0.2 * rng.uniform()
    step = length / (n_steps - 1)
    # Python complex scalars: the recurrence is sequential, and numpy scalars are slower.
    noise = (rng.standard_normal(n_steps) + 1j * rng.standard_normal(n_steps)).tolist()
    shakes = (rng.uniform(size=n_steps) < p_shake * anxiety).tolist()
    turns = np.exp(1j * (np.pi + (rng.uniform(size=n_steps) - 0.5))).tolist()
    v = complex(np.exp(1j * rng.uniform(0, 2 * np.pi)) * step)
    x = [0j] * n_steps
    for t in range(n_steps - 1):
        kick = 2.0 * v * turns[t] if shakes[t] else 0.0
        v = v + kick + anxiety * (gaussian * noise[t] - centripetal * x[t]) * step
        v = v / (abs(v) + 1e-12) * step
        x[t + 1] = x[t] + v
    return np.asarray(x)


def trajectory_kernel(
    rng: np.random.Generator, length: float, n_steps: int = 256, anxiety: float | None = None
) -> np.ndarray:
    """Camera-shake PSF: a random trajectory rasterised with bilinear weights."""
    return rasterize(random_trajectory(rng, length, n_steps, anxiety))


def linear_kernel(length: float, angle: float) -> np.ndarray:
    """Uniform linear motion of ``length`` px at ``angle`` radians."""
    n = max(2, int(np.ceil(length * 2)))
    t = np.linspace(-0.5, 0.5, n) * length
    return rasterize(t * np.exp(1j * angle))


def aperture_kernel(
    radius: float, blades: int = 0, rotation: float = 0.0, supersample: int = 4
) -> np.ndarray:
    """Defocus PSF: a uniform disk (``blades=0``) or regular ``blades``-gon of circumradius ``radius``.

    Rasterised with ``supersample``^2 samples per pixel; ``radius < 0.5`` is a delta.
    """
    if radius < 0.5:
        return np.ones((1, 1), dtype=np.float32)
    size = _odd(2 * radius + 1)
    s = supersample
    coords = (np.arange(size * s) + 0.5) / s - size / 2
    yy, xx = np.meshgrid(coords, coords, indexing="ij")
    if blades:
        theta = np.arctan2(yy, xx) - rotation
        sector = 2 * np.pi / blades
        local = np.mod(theta, sector) - sector / 2
        inside = np.hypot(xx, yy) * np.cos(local) <= radius * np.cos(np.pi / blades)
    else:
        inside = np.hypot(xx, yy) <= radius
    kernel = inside.reshape(size, s, size, s).mean(axis=(1, 3))
    return (kernel / kernel.sum()).astype(np.float32)


def convolve(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Convolve an ``H x W`` or ``H x W x C`` image with a kernel (reflect padding, same size)."""
    kh, kw = kernel.shape
    pad = [(kh // 2, kh // 2), (kw // 2, kw // 2)] + [(0, 0)] * (image.ndim - 2)
    padded = np.pad(image, pad, mode="reflect")
    k = kernel.reshape(kernel.shape + (1,) * (image.ndim - 2))
    out = fftconvolve(padded, k, mode="valid", axes=(0, 1))
    return out.astype(np.float32)
