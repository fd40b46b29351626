"""Procedural sharp images: textured dead-leaves.

The dead-leaves model (Matheron; Lee, Mumford & Huang 2001) stacks opaque
disks whose radii follow a power law ``p(r) ~ r^-3``: the resulting images are
scale-invariant with natural-image-like edge and spectrum statistics, which is
why they serve as a texture target in camera-quality measurement. Leaves here
carry a flat colour, a smooth gradient or oriented stripes, so that blur of
any direction removes visible detail. Generated on the fly from a seed, they
carry no licence restriction and the project can redistribute them.

A :class:`SceneStyle` gives each synthetic dataset its own scene statistics (leaf sizes,
palette, texture mix), as the real datasets differ in content as well as in blur (the
CLIP t-SNE of Fig. 4 separates them): DPDD's outdoor DSLR scenes are not GoPro's streets
nor LOLBlur's night scenes. Without it every dataset shares one scene distribution and
only the blur tells them apart, which a miniature router cannot learn from 64-px crops.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib.colors import hsv_to_rgb


@dataclass(frozen=True)
class SceneStyle:
    """Scene statistics of one synthetic dataset.

    Leaf radii span ``[short side / r_min_div, short side / r_max_div]``; colours are drawn
    in HSV (hue an interval in turns, wrapping past 1; saturation and value intervals);
    ``kinds`` are the probabilities of flat, gradient and striped leaves; ``stripe_freq``
    the stripes' angular frequency (radians per pixel).
    """

    r_min_div: float = 40.0
    r_max_div: float = 4.0
    hue: tuple[float, float] = (0.0, 1.0)
    saturation: tuple[float, float] = (0.0, 1.0)
    value: tuple[float, float] = (0.05, 0.95)
    kinds: tuple[float, float, float] = (1 / 3, 1 / 3, 1 / 3)
    stripe_freq: tuple[float, float] = (0.3, 1.5)


#: Every hue, size and texture equally likely.
DEFAULT_STYLE = SceneStyle()


def _power_law_radii(
    rng: np.random.Generator, n: int, r_min: float, r_max: float, alpha: float = 3.0
) -> np.ndarray:
    """Inverse-CDF samples of ``p(r) ~ r^-alpha`` on ``[r_min, r_max]``."""
    a = 1.0 - alpha
    u = rng.uniform(size=n)
    return (r_min**a + u * (r_max**a - r_min**a)) ** (1.0 / a)


def dead_leaves(
    rng: np.random.Generator,
    height: int,
    width: int,
    coverage: float = 3.0,
    style: SceneStyle = DEFAULT_STYLE,
) -> np.ndarray:
    """An ``H x W x 3`` float32 sRGB image in [0, 1] of textured dead leaves.

    Radii follow ``style`` (by default ``[short side / 40, short side / 4]``); the number
    of leaves is chosen so that each pixel is covered ``coverage`` times on average
    (``exp(-coverage)`` of the background stays visible).
    """
    short = min(height, width)
    r_min, r_max = max(1.5, short / style.r_min_div), short / style.r_max_div
    # E[r^2] of p(r) ~ r^-3 truncated to [r_min, r_max].
    mean_r2 = 2 * np.log(r_max / r_min) / (r_min**-2 - r_max**-2)
    n_leaves = max(16, round(coverage * height * width / (np.pi * mean_r2)))
    radii = _power_law_radii(rng, n_leaves, r_min, r_max)
    cy = rng.uniform(0, height, n_leaves)
    cx = rng.uniform(0, width, n_leaves)
    ys, xs = np.arange(height, dtype=np.float32), np.arange(width, dtype=np.float32)
    # Paint leaf indices (later leaves on top), then shade all pixels at once.
    label = np.full((height, width), n_leaves, dtype=np.int64)  # n_leaves = background
    for i in range(n_leaves):
        r = radii[i]
        y0, y1 = max(0, int(cy[i] - r)), min(height, int(cy[i] + r) + 1)
        x0, x1 = max(0, int(cx[i] - r)), min(width, int(cx[i] + r) + 1)
        d2 = (ys[y0:y1, None] - cy[i]) ** 2 + (xs[None, x0:x1] - cx[i]) ** 2
        label[y0:y1, x0:x1][d2 <= r * r] = i
    return _shade(rng, label, radii, cy, cx, ys, xs, style)


def _shade(
    rng: np.random.Generator,
    label: np.ndarray,
    radii: np.ndarray,
    cy: np.ndarray,
    cx: np.ndarray,
    ys: np.ndarray,
    xs: np.ndarray,
    style: SceneStyle,
) -> np.ndarray:
    """Colour each pixel from its leaf: flat, a gradient or stripes across the leaf."""
    n = radii.size
    colors = _colors(rng, n + 1, style)
    kinds = rng.choice(3, n + 1, p=style.kinds)  # 0 flat, 1 gradient, 2 stripes
    angles = rng.uniform(0, np.pi, n + 1)
    freqs = rng.uniform(*style.stripe_freq, n + 1)
    amps = rng.uniform(0.1, 0.35, n + 1)
    # The background (index n) is a gradient across the whole image.
    cy, cx = np.append(cy, ys.size / 2), np.append(cx, xs.size / 2)
    radii = np.append(radii, max(ys.size, xs.size))
    kinds[n] = 1
    along = (xs[None, :] - cx[label]) * np.cos(angles[label]) + (ys[:, None] - cy[label]) * np.sin(
        angles[label]
    )
    kind = kinds[label]
    shade = np.ones(label.shape, dtype=np.float32)
    grad, stripe = kind == 1, kind == 2
    shade[grad] += (amps[label] * along / radii[label])[grad]
    shade[stripe] += (amps[label] * np.sin(freqs[label] * along))[stripe]
    return np.clip(shade[..., None] * colors[label], 0.0, 1.0).astype(np.float32)


def _colors(rng: np.random.Generator, n: int, style: SceneStyle) -> np.ndarray:
    """``n`` RGB leaf colours drawn in the style's HSV box."""
    hsv = np.stack(
        [
            rng.uniform(*style.hue, n) % 1.0,
            rng.uniform(*style.saturation, n),
            rng.uniform(*style.value, n),
        ],
        axis=1,
    )
    return hsv_to_rgb(hsv).astype(np.float32)
