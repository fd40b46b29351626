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
* RealBlur protocol (``align=True``, RealBlur-J and RSBlur): the prediction is scaled and
  aligned to the target by an ECC homography, and PSNR and SSIM are computed over the
  valid-pixel mask exactly as the RealBlur authors' evaluation does (:mod:`demoe.eval.ecc`);
  LPIPS, which that protocol does not define, is computed on the two masked images.
* No-reference metrics (NIQE, MUSIQ, NRQM) through pyiqa from local files
  (:mod:`demoe.eval.niqe`, :mod:`demoe.eval.iqa`), on the unaligned prediction.
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
from demoe.eval.ecc import AlignResult, masked_psnr, masked_ssim, realblur_align
from demoe.eval.iqa import load_musiq, load_nrqm
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

    ``paths`` keywords (the ``eval`` config keys): ``niqe_params`` (NIQE pristine model,
    :mod:`demoe.eval.niqe`), ``musiq_weights``, ``nrqm_weights`` (:mod:`demoe.eval.iqa`).
    A missing keyword or file is MetricUnavailable naming the key; nothing is downloaded.
    """
    key = name.lower()
    if key == "niqe":
        model = load_niqe_model(paths.get("niqe_params"))
        return lambda image: niqe(image, model)
    if key == "musiq":
        return load_musiq(paths.get("musiq_weights"))
    if key == "nrqm":
        return load_nrqm(paths.get("nrqm_weights"))
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
    aligned = None if target_img is None or not align else realblur_align(pred_img, target_img)
    values: dict[str, float] = {}
    reasons: dict[str, str] = {}
    for name in metrics:
        try:
            if aligned is not None and name in FULL_REFERENCE:
                values[name] = _aligned_metric(name, aligned, lpips_model)
            else:
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
    return _lpips(pred, target, lpips_model)


def _aligned_metric(name: str, aligned: AlignResult, lpips_model: LPIPS | None) -> float:
    """A full-reference metric under the RealBlur protocol (module docstring)."""
    if name == "psnr":
        return masked_psnr(aligned.aligned, aligned.target, aligned.mask)
    if name == "ssim":
        return masked_ssim(aligned.aligned, aligned.target, aligned.mask)
    return _lpips(aligned.aligned, aligned.target, lpips_model)


def _lpips(pred: np.ndarray, target: np.ndarray, lpips_model: LPIPS | None) -> float:
    model = lpips_model if lpips_model is not None else load_lpips()
    device = model.shift.device
    pair = [torch.from_numpy(x).permute(2, 0, 1)[None].float().to(device) for x in (pred, target)]
    with torch.inference_mode():
        return float(model(*pair)[0])
