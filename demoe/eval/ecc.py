"""The RealBlur evaluation protocol (Rim et al., ECCV 2020), with OpenCV.

RealBlur's (and RSBlur's) ground truth is not pixel-aligned with the blurred input, so the
restored image is aligned to the ground truth before scoring. The evaluation the RealBlur
authors published (``evaluation_RealBlur_ecc.py``, after Köhler et al.; reused by MPRNet
and Restormer), step by step:

1. global intensity matching: the prediction ``z`` is scaled by ``Σ(x·z) / Σ(z·z)``, ``x``
   the ground truth (sums over every pixel and channel);
2. a homography fitted by OpenCV's ``findTransformECC`` (``MOTION_HOMOGRAPHY``, 100
   iterations, termination epsilon 0, Gaussian filter size 5) from the grey ground truth
   (template) to the grey scaled prediction;
3. the scaled prediction warped onto the ground truth grid (``warpPerspective``, cubic,
   ``WARP_INVERSE_MAP``, reflected border), and the mask of valid pixels (a ones image
   warped with nearest neighbour, zero outside); both images are multiplied by the mask;
4. PSNR: ``10 log10(1 / MSE)``, the squared error summed over the masked images and
   divided by the mask's sum (pixels × channels);
5. SSIM: scikit-image's ``structural_similarity`` map (per channel, Gaussian weights with
   sigma 1.5, population covariance, data range 1), multiplied by the mask, the window
   padding (5 pixels) cropped on every side, each channel's sum divided by the cropped
   mask's sum, and the channels averaged.

Everything runs in float32, as the original does (OpenCV's cubic warp misbehaves on
float64 input).
"""

from __future__ import annotations

from typing import NamedTuple

import cv2
import numpy as np
from skimage.metrics import structural_similarity

from demoe.errors import DataError
from demoe.eval.common import Image, to_hwc

ECC_ITERATIONS = 100
ECC_GAUSS_FILTER = 5
SSIM_SIGMA = 1.5
#: Half-width of scikit-image's Gaussian SSIM window (truncate 3.5 × sigma 1.5, rounded).
SSIM_PAD = int(3.5 * SSIM_SIGMA + 0.5)


class AlignResult(NamedTuple):
    aligned: np.ndarray  # (H, W, C) float32: scaled, warped prediction, zero outside the mask
    target: np.ndarray  # (H, W, C) float32: ground truth, zero outside the mask
    mask: np.ndarray  # (H, W, C) float32 in {0, 1}: where the warped prediction is defined
    homography: np.ndarray  # (3, 3): ground-truth pixel (x, y, 1) -> prediction pixel
    gain: float  # the intensity scale Σ(x·z) / Σ(z·z)
    correlation: float  # ECC value at the solution


def realblur_align(pred: Image, target: Image) -> AlignResult:
    """Steps 1-3 of the module docstring: ``pred`` matched and aligned to ``target``."""
    z, x = (to_hwc(im).astype(np.float32) for im in (pred, target))
    if z.shape != x.shape:
        raise DataError(f"prediction and target differ in size: {z.shape} vs {x.shape}")
    gain = float(np.sum(x * z, dtype=np.float64) / np.sum(z * z, dtype=np.float64))
    if not np.isfinite(gain):
        raise DataError("RealBlur protocol: the prediction is all zero")
    zs = (gain * z).astype(np.float32)
    criteria = (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, ECC_ITERATIONS, 0)
    try:
        correlation, warp = cv2.findTransformECC(
            _grey(x),
            _grey(zs),
            np.eye(3, dtype=np.float32),
            cv2.MOTION_HOMOGRAPHY,
            criteria,
            None,
            ECC_GAUSS_FILTER,
        )
    except cv2.error as err:
        raise DataError(f"RealBlur protocol: ECC alignment failed: {_first_line(err)}") from err
    size = (x.shape[1], x.shape[0])
    flags = cv2.WARP_INVERSE_MAP
    aligned = cv2.warpPerspective(
        zs, warp, size, flags=cv2.INTER_CUBIC + flags, borderMode=cv2.BORDER_REFLECT
    )
    mask = cv2.warpPerspective(
        np.ones_like(zs),
        warp,
        size,
        flags=cv2.INTER_NEAREST + flags,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0,
    )
    aligned, mask = aligned.reshape(x.shape), mask.reshape(x.shape)
    return AlignResult(aligned * mask, x * mask, mask, warp, gain, float(correlation))


def masked_psnr(aligned: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    """Step 4: PSNR (dB, data range 1) over the mask."""
    err = np.sum((target - aligned) ** 2, dtype=np.float64) / np.sum(mask, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return float(10 * np.log10(1.0 / err))


def masked_ssim(aligned: np.ndarray, target: np.ndarray, mask: np.ndarray) -> float:
    """Step 5: SSIM over the mask, the window padding cropped."""
    if min(target.shape[:2]) <= 2 * SSIM_PAD + 1:
        raise DataError(f"SSIM needs images larger than {2 * SSIM_PAD + 1} pixels a side")
    _, smap = structural_similarity(  # float64, as scikit-image 0.17 (the original's) computes
        target.astype(np.float64),
        aligned.astype(np.float64),
        channel_axis=2,
        gaussian_weights=True,
        sigma=SSIM_SIGMA,
        use_sample_covariance=False,
        data_range=1.0,
        full=True,
    )
    inner = (slice(SSIM_PAD, -SSIM_PAD), slice(SSIM_PAD, -SSIM_PAD))
    per_channel = (smap * mask)[inner].sum((0, 1)) / mask[inner].sum((0, 1))
    return float(np.mean(per_channel))


def _grey(image: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.shape[2] == 3 else image[:, :, 0]


def _first_line(err: Exception) -> str:
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return lines[-1] if lines else type(err).__name__
