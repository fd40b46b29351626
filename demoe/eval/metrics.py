"""Image-quality metrics of the paper's tables: PSNR, SSIM, LPIPS and no-reference ones.

Conventions (inputs as in :mod:`demoe.eval.common`: float RGB in [0, 1], numpy (H, W, C)
or torch (C, H, W) / (B, C, H, W); a 4-D batch gives one value per image, a single
image one float):

* PSNR: ``10 log10(data_range^2 / MSE)``, the MSE over every pixel and channel; ``inf``
  for identical images.
* SSIM (Wang et al., TIP 2004): computed on RGB, each channel separately and the
  channel means averaged; 11×11 Gaussian window with sigma 1.5 (normalised), K1 = 0.01,
  K2 = 0.03, population (co)variances; the SSIM map is evaluated at the positions where
  the window lies inside the image ("valid", as the authors' MATLAB code) and averaged.
  No border crop and no conversion to the Y channel.
* RealBlur protocol (``align=True``): the prediction is aligned to the target by ECC
  with a translation model (:mod:`demoe.eval.ecc`); every metric is then computed on the
  overlap rectangle (pixels where the shifted prediction needs no extrapolation).
* Unavailable metrics (missing weights or parameters) are NaN in the values, with a
  one-line reason under the same name in the reasons; callers print "n/a (reason)".
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from demoe.errors import ConfigError, DataError
from demoe.eval.common import Image, MetricUnavailable, check_pair, is_batched, to_hwc
from demoe.eval.ecc import align_ecc_translation, crop_to_mask
from demoe.eval.lpips import LPIPS, load_lpips
from demoe.eval.niqe import load_niqe_model, niqe

__all__ = [
    "FULL_REFERENCE",
    "NO_REFERENCE",
    "MetricUnavailable",
    "MetricsResult",
    "compute_metrics",
    "no_reference_metric",
    "psnr",
    "ssim",
]

FULL_REFERENCE: tuple[str, ...] = ("psnr", "ssim", "lpips")
NO_REFERENCE: tuple[str, ...] = ("niqe", "musiq", "nrqm")
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def psnr(pred: Image, target: Image, data_range: float = 1.0) -> float | np.ndarray:
    """Peak signal-to-noise ratio in dB (module conventions)."""
    a, b = check_pair(pred, target)
    mse = (a - b).pow(2).mean((1, 2, 3)).numpy()
    with np.errstate(divide="ignore"):
        values = 10 * np.log10(data_range**2 / mse)
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


def no_reference_metric(name: str, **paths: str | os.PathLike | None) -> Callable[[Image], float]:
    """A no-reference metric ``f(image) -> float`` or MetricUnavailable saying why not.

    ``paths`` keywords: ``niqe_params``, ``musiq_weights``, ``nrqm_weights``.

    * ``niqe``: needs ``niqe_params=`` (or ``DEMOE_NIQE_PARAMS``), see :mod:`demoe.eval.niqe`;
    * ``musiq``, ``nrqm``: demoe has no implementation of these networks; they are always
      unavailable, the reason saying what is missing.
    """
    key = name.lower()
    if key == "niqe":
        model = load_niqe_model(paths.get("niqe_params"))
        return lambda image: niqe(image, model)
    if key in ("musiq", "nrqm"):
        weights = paths.get(f"{key}_weights")
        if weights is None:
            raise MetricUnavailable(
                f"{key.upper()} needs pretrained weights: set eval.{key}_weights"
            )
        raise MetricUnavailable(
            f"{key.upper()} weights given ({weights}) but demoe does not implement the "
            f"{key.upper()} network; compute it with an external tool"
        )
    raise ConfigError(f"unknown no-reference metric {name!r}; valid: {', '.join(NO_REFERENCE)}")


class MetricsResult(NamedTuple):
    values: dict[str, float]  # NaN where unavailable
    reasons: dict[str, str]  # why each NaN metric is unavailable


def compute_metrics(
    pred: Image,
    target: Image | None,
    metrics: Sequence[str] = ("psnr", "ssim", "lpips"),
    align: bool = False,
    lpips_model: LPIPS | None = None,
    paths: Mapping[str, str | os.PathLike | None] | None = None,
) -> MetricsResult:
    """Metrics of one prediction (single image) against ``target`` (module conventions).

    ``lpips_model`` is used when given, otherwise loaded (and cached) from the
    environment; ``paths`` are passed to :func:`no_reference_metric`. Full-reference
    metrics are unavailable without a target. Unknown metric names: ConfigError.
    """
    unknown = [m for m in metrics if m not in FULL_REFERENCE + NO_REFERENCE]
    if unknown:
        raise ConfigError(
            f"unknown metrics {unknown}; valid: {', '.join(FULL_REFERENCE + NO_REFERENCE)}"
        )
    pred_img = to_hwc(pred)
    target_img = None if target is None else to_hwc(target)
    if target_img is not None and align:
        aligned, mask, _, _ = align_ecc_translation(pred_img, target_img)
        pred_img, target_img = crop_to_mask(aligned, mask), crop_to_mask(target_img, mask)
    values: dict[str, float] = {}
    reasons: dict[str, str] = {}
    for name in metrics:
        try:
            values[name] = _one_metric(name, pred_img, target_img, lpips_model, paths or {})
        except MetricUnavailable as err:
            values[name] = math.nan
            reasons[name] = str(err)
    return MetricsResult(values, reasons)


def _one_metric(
    name: str,
    pred: np.ndarray,
    target: np.ndarray | None,
    lpips_model: LPIPS | None,
    paths: Mapping[str, str | os.PathLike | None],
) -> float:
    if name in NO_REFERENCE:
        return no_reference_metric(name, **paths)(pred)
    if target is None:
        raise MetricUnavailable(f"{name.upper()} needs a ground-truth image")
    if name == "psnr":
        return psnr(pred, target)
    if name == "ssim":
        return ssim(pred, target)
    model = lpips_model if lpips_model is not None else load_lpips()
    device = model.shift.device
    pair = [torch.from_numpy(x).permute(2, 0, 1)[None].float().to(device) for x in (pred, target)]
    with torch.inference_mode():
        return float(model(*pair)[0])
