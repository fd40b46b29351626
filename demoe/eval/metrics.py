"""PSNR and SSIM, the pixel metrics of the paper's tables.

Every metric, these two included, is registered in :mod:`demoe.eval.registry`, which
computes them for ``demoe eval`` (:func:`demoe.eval.registry.compute_metrics`, with the
RealBlur protocol and the no-reference metrics).

Conventions (inputs as in :mod:`demoe.eval.common`: float RGB in [0, 1], numpy (H, W, C)
or torch (C, H, W) / (B, C, H, W); a 4-D batch gives one value per image, a single
image one float):

* PSNR: ``10 log10(data_range^2 / MSE)``, the MSE over every pixel and channel, capped
  at :data:`PSNR_CEILING_DB`. Identical images have an infinite PSNR (BasicSR,
  scikit-image and MATLAB's ``psnr`` return ``inf``); one such image would make a mean
  infinite and hide every other image, so ours is capped at 100 dB, far above what a
  restoration reaches (the tables' notes say so).
* SSIM (Wang et al., TIP 2004): computed on RGB, each channel separately and the
  channel means averaged; 11×11 Gaussian window with sigma 1.5 (normalised), K1 = 0.01,
  K2 = 0.03, population (co)variances; the SSIM map is evaluated at the positions where
  the window lies inside the image ("valid", as the authors' MATLAB code) and averaged.
  No border crop and no conversion to the Y channel.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from demoe.errors import DataError
from demoe.eval.common import Image, check_pair, is_batched

__all__ = ["PSNR_CEILING_DB", "psnr", "ssim"]

#: Our cap of PSNR (dB): the value of identical images (module conventions).
PSNR_CEILING_DB = 100.0

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def psnr(pred: Image, target: Image, data_range: float = 1.0) -> float | np.ndarray:
    """Peak signal-to-noise ratio in dB (module conventions)."""
    a, b = check_pair(pred, target)
    mse = (a - b).pow(2).mean((1, 2, 3)).numpy()
    with np.errstate(divide="ignore"):
        values = np.minimum(10 * np.log10(data_range**2 / mse), PSNR_CEILING_DB)
    return values if is_batched(pred) else float(values[0])


def ssim(pred: Image, target: Image, data_range: float = 1.0) -> float | np.ndarray:
    """Structural similarity (module conventions)."""
    a, b = check_pair(pred, target)
    if min(a.shape[-2:]) < SSIM_WINDOW:
        raise DataError(
            f"SSIM needs images of at least {SSIM_WINDOW}×{SSIM_WINDOW}, got {tuple(a.shape)}"
        )
    blur = _gaussian_blur_valid
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    mu_a, mu_b = blur(a), blur(b)
    var_a = blur(a * a) - mu_a**2
    var_b = blur(b * b) - mu_b**2
    cov = blur(a * b) - mu_a * mu_b
    smap = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / (
        (mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2)
    )
    values = smap.mean((2, 3)).mean(1).numpy()
    return values if is_batched(pred) else float(values[0])


def _gaussian_blur_valid(x: torch.Tensor) -> torch.Tensor:
    """Per-channel 11×11 Gaussian (sigma 1.5) filter, "valid" positions only."""
    r = SSIM_WINDOW // 2
    g = torch.exp(-(torch.arange(-r, r + 1, dtype=x.dtype) ** 2) / (2 * SSIM_SIGMA**2))
    g = g / g.sum()
    c = x.shape[1]
    x = F.conv2d(x, g.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(x, g.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
