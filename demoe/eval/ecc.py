"""ECC image alignment with a translation model, for the RealBlur evaluation protocol.

RealBlur's ground truth is not pixel-aligned with the blurred input, so restored images
are aligned to the ground truth before scoring (Rim et al., ECCV 2020). This module
maximises the enhanced correlation coefficient (ECC, Evangelidis & Psarakis, TPAMI 2008)

    rho(p) = <t, w(p)> / (||t|| ||w(p)||),

``t`` the zero-mean grey target and ``w(p)`` the zero-mean grey prediction sampled at
``x + p``, by their iterative scheme: linearise ``w(p + dp) ~ w(p) + G dp`` with ``G`` the
image gradient (the Jacobian of a translation), then

    lambda = (||w||^2 - w'P w) / (t'w - t'P w),   P = G (G'G)^-1 G',
    dp = (G'G)^-1 G' (lambda t - w),

which is the closed-form maximiser of the linearised criterion. Both images are grey
(BT.601 luma) and Gaussian-smoothed (``smooth_sigma``) before estimating; the shift is
then applied to every channel of the unsmoothed prediction with cubic-spline
interpolation. An optional coarse-to-fine pyramid handles shifts of several pixels.

Convention of the result: ``aligned[y, x] = pred[y + dy, x + dx]``; ``mask`` is True
where ``(y + dy, x + dx)`` lies inside the prediction (no extrapolation). For a
translation this overlap is a rectangle, and :func:`crop_to_mask` returns it: metrics
on aligned images are computed on that rectangle only.

Difference from the widely used RealBlur script (Restormer's ``evaluate_realblur.py``,
after Köhler et al.): that script first scales the prediction's intensity by
``sum(gt * pred) / sum(pred^2)``, estimates a homography with OpenCV's ECC, and
averages PSNR/SSIM over a warped mask. Here: translation only, no intensity scaling,
metrics on the overlap rectangle. Numbers can therefore differ slightly from those
published with that script.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy import ndimage

from demoe.errors import DataError
from demoe.eval.common import Image, luminance, to_hwc


class AlignResult(NamedTuple):
    aligned: np.ndarray  # (H, W, C) prediction resampled onto the target grid
    mask: np.ndarray  # (H, W) bool, True where the resampled prediction is defined
    shift: tuple[float, float]  # (dx, dy) in pixels: aligned(x, y) = pred(x + dx, y + dy)
    correlation: float  # ECC value at the solution, in [-1, 1]


def align_ecc_translation(
    pred: Image,
    target: Image,
    *,
    max_iter: int = 100,
    eps: float = 1e-5,
    levels: int = 1,
    smooth_sigma: float = 1.0,
) -> AlignResult:
    """Align ``pred`` to ``target`` by a translation maximising ECC (see module docstring).

    ``levels`` > 1 runs the estimate coarse-to-fine on a pyramid of that many levels
    (each halving the size). Stops when the update is below ``eps`` pixels.
    """
    p_img, t_img = to_hwc(pred), to_hwc(target)
    if p_img.shape != t_img.shape:
        raise DataError(f"prediction and target differ in size: {p_img.shape} vs {t_img.shape}")
    moving = ndimage.gaussian_filter(luminance(p_img), smooth_sigma)
    fixed = ndimage.gaussian_filter(luminance(t_img), smooth_sigma)
    shift = np.zeros(2)  # (dy, dx)
    for level in reversed(range(levels)):
        scale = 2**level
        shift = _ecc_level(
            _downscale(moving, scale), _downscale(fixed, scale), shift / scale, max_iter, eps
        )
        shift = shift * scale
    correlation = _correlation(_warp(moving, shift), fixed, _valid(moving.shape, shift))
    aligned = np.stack([_warp(p_img[:, :, c], shift) for c in range(p_img.shape[2])], axis=2)
    mask = _valid(moving.shape, shift)
    return AlignResult(aligned, mask, (float(shift[1]), float(shift[0])), correlation)


def crop_to_mask(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The rows and columns of ``image`` (H, W, ...) spanned by a rectangular ``mask``."""
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if rows.size == 0:
        raise DataError("the aligned prediction does not overlap the target")
    return image[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def _ecc_level(
    moving: np.ndarray, fixed: np.ndarray, shift: np.ndarray, max_iter: int, eps: float
) -> np.ndarray:
    grad_y, grad_x = np.gradient(moving)
    shift = shift.copy()
    for _ in range(max_iter):
        valid = _valid(moving.shape, shift)
        if valid.sum() < 16:
            raise DataError("ECC alignment diverged: the images no longer overlap")
        t = fixed[valid]
        w = _warp(moving, shift)[valid]
        jac = np.stack([_warp(grad_y, shift)[valid], _warp(grad_x, shift)[valid]], axis=1)
        t, w, jac = t - t.mean(), w - w.mean(), jac - jac.mean(0)
        hessian_inv = np.linalg.pinv(jac.T @ jac)
        w_proj, t_proj = jac.T @ w, jac.T @ t
        denom = t @ w - t_proj @ hessian_inv @ w_proj
        if denom <= 0:
            raise DataError("ECC alignment failed: the images are uncorrelated")
        lam = (w @ w - w_proj @ hessian_inv @ w_proj) / denom
        step = hessian_inv @ (jac.T @ (lam * t - w))
        shift += step
        if np.hypot(*step) < eps:
            break
    return shift


def _warp(image: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``image`` sampled at (y + dy, x + dx), cubic spline, edge values beyond the border."""
    return ndimage.shift(image, -shift, order=3, mode="nearest")


def _valid(shape: tuple[int, ...], shift: np.ndarray) -> np.ndarray:
    h, w = shape[:2]
    ys = np.arange(h) + shift[0]
    xs = np.arange(w) + shift[1]
    tol = 1e-9
    rows = (ys >= -tol) & (ys <= h - 1 + tol)
    cols = (xs >= -tol) & (xs <= w - 1 + tol)
    return rows[:, None] & cols[None, :]


def _downscale(image: np.ndarray, factor: int) -> np.ndarray:
    if factor == 1:
        return image
    smoothed = ndimage.gaussian_filter(image, 0.5 * factor)
    return smoothed[::factor, ::factor]


def _correlation(a: np.ndarray, b: np.ndarray, valid: np.ndarray) -> float:
    x, y = a[valid] - a[valid].mean(), b[valid] - b[valid].mean()
    return float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y) + 1e-12))
