"""Camera pipeline pieces: the sRGB curve, Poisson-Gaussian sensor noise, JPEG.

Blur is physically a sum of light, so generators undo the sRGB curve, blur
and add noise in linear light, then re-apply the curve (paper Sec. 4 data
are camera images; the embedded default mimics their formation).
"""

from __future__ import annotations

import numpy as np


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """Inverse sRGB transfer function (IEC 61966-2-1) on values in [0, 1]."""
    x = np.clip(x, 0.0, 1.0)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4).astype(np.float32)


def linear_to_srgb(y: np.ndarray) -> np.ndarray:
    """sRGB transfer function; linear values are clipped to [0, 1] first (saturation)."""
    y = np.clip(y, 0.0, 1.0)
    return np.where(y <= 0.0031308, 12.92 * y, 1.055 * y ** (1 / 2.4) - 0.055).astype(np.float32)


def poisson_gaussian(
    y: np.ndarray, rng: np.random.Generator, photons: float, read_sigma: float
) -> np.ndarray:
    """Shot noise (``photons`` electrons at linear value 1) plus Gaussian read noise."""
    shot = rng.poisson(np.clip(y, 0.0, None) * photons) / photons
    return (shot + rng.normal(0.0, read_sigma, size=y.shape)).astype(np.float32)
