"""NIQE (Mittal, Soundararajan & Bovik, IEEE SPL 2013), implemented from its definition.

1. Grey image (BT.601 luma) on a 0–255 scale.
2. MSCN coefficients ``(I - mu) / (sigma + 1)``, ``mu`` and ``sigma`` the local mean and
   standard deviation under a 7×7 Gaussian window (sigma 7/6).
3. The image is cut into non-overlapping P×P patches (P = 96; a partial border is
   dropped). Per patch, 18 features: the GGD fit (shape, variance) of the MSCN
   coefficients, and for the products of horizontally, vertically and both diagonally
   adjacent coefficients the AGGD fit (shape, mean, left variance, right variance).
   The same at half resolution (anti-aliased bicubic downscaling, P/2 patches): 36.
   GGD/AGGD parameters are fitted by moment matching (the BRISQUE estimators), shapes
   looked up on a grid 0.2…10 in steps of 0.001.
4. Pristine model (:func:`fit_niqe_model`): from pristine images, only the patches
   whose sharpness (mean of ``sigma`` over the patch) exceeds 0.75 × the image's
   sharpest patch; the features of all kept patches give a multivariate Gaussian
   (mean ``mu``, covariance ``cov``).
5. Quality of a test image: all its patches give (mu2, cov2); NIQE is
   ``sqrt((mu - mu2)' ((cov + cov2) / 2)^+ (mu - mu2))`` (pseudo-inverse). Lower is better.

Parameter files: ``.npz`` with arrays ``mu`` (36,) and ``cov`` (36, 36), or a ``.mat``
with ``mu_prisparam`` / ``cov_prisparam`` (the authors' ``modelparameters.mat``); path
from the argument or ``DEMOE_NIQE_PARAMS``. Values computed with the authors' MATLAB
parameters are close to, not identical with, the MATLAB NIQE (the downscaling differs);
fit the model with :func:`fit_niqe_model` for self-consistent numbers.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io
from scipy import ndimage
from scipy.special import gamma
from skimage.transform import rescale

from demoe.errors import CheckpointError, DataError
from demoe.eval.common import Image, MetricUnavailable, luminance, to_hwc
from demoe.io.atomic import atomic_path

PARAMS_ENV = "DEMOE_NIQE_PARAMS"
PATCH_SIZE = 96
SHARPNESS_THRESHOLD = 0.75
N_FEATURES = 36
_SHAPES = np.arange(0.2, 10.0, 0.001)
_GGD_CURVE = gamma(1 / _SHAPES) * gamma(3 / _SHAPES) / gamma(2 / _SHAPES) ** 2
_AGGD_CURVE = gamma(2 / _SHAPES) ** 2 / (gamma(1 / _SHAPES) * gamma(3 / _SHAPES))


@dataclass(frozen=True)
class NIQEModel:
    """Multivariate Gaussian of pristine patch features."""

    mu: np.ndarray  # (36,)
    cov: np.ndarray  # (36, 36)

    def save(self, path: str | os.PathLike) -> None:
        """Write ``mu`` and ``cov`` to an ``.npz`` file atomically."""
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, mu=self.mu, cov=self.cov)


def load_niqe_model(path: str | os.PathLike | None = None) -> NIQEModel:
    """Pristine parameters from ``path`` or ``DEMOE_NIQE_PARAMS``; MetricUnavailable if absent."""
    value = path if path is not None else os.environ.get(PARAMS_ENV) or None
    if value is None:
        raise MetricUnavailable(
            f"NIQE needs pristine-model parameters: set {PARAMS_ENV} to a local .npz/.mat"
        )
    resolved = Path(value).expanduser().resolve()
    if not resolved.is_file():
        raise MetricUnavailable(f"NIQE parameters not found at {resolved}")
    return _read_model(resolved)


def _read_model(path: Path) -> NIQEModel:
    try:
        if path.suffix == ".mat":
            data = scipy.io.loadmat(path)
            mu, cov = data["mu_prisparam"], data["cov_prisparam"]
        else:
            with np.load(path, allow_pickle=False) as data:
                mu, cov = data["mu"], data["cov"]
    except (OSError, ValueError, KeyError) as err:
        raise CheckpointError(f"cannot read NIQE parameters {path}: {err}") from err
    mu, cov = np.asarray(mu, float).ravel(), np.asarray(cov, float)
    if mu.shape != (N_FEATURES,) or cov.shape != (N_FEATURES, N_FEATURES):
        raise CheckpointError(
            f"{path}: NIQE parameters must be mu ({N_FEATURES},) and cov "
            f"({N_FEATURES}, {N_FEATURES}), got {mu.shape} and {cov.shape}"
        )
    return NIQEModel(mu, cov)


def niqe(image: Image, model: NIQEModel, patch_size: int = PATCH_SIZE) -> float:
    """NIQE of one RGB (or grey) image in [0, 1]: distance to the pristine model."""
    feats, _ = patch_features(image, patch_size)
    if feats.shape[0] < 2:
        raise DataError(f"NIQE needs at least 2 patches of {patch_size}×{patch_size} pixels")
    diff = model.mu - feats.mean(0)
    cov = (model.cov + np.cov(feats, rowvar=False)) / 2
    return float(np.sqrt(diff @ np.linalg.pinv(cov) @ diff))


def fit_niqe_model(
    images: Iterable[Image],
    patch_size: int = PATCH_SIZE,
    sharpness_threshold: float = SHARPNESS_THRESHOLD,
) -> NIQEModel:
    """Pristine model from the sharpest patches of each image (step 4 of the module doc)."""
    kept = []
    for image in images:
        feats, sharpness = patch_features(image, patch_size)
        kept.append(feats[sharpness > sharpness_threshold * sharpness.max()])
    if not kept:
        raise DataError("fit_niqe_model needs at least one image")
    feats = np.concatenate(kept)
    if feats.shape[0] < 2:
        raise DataError("fit_niqe_model kept fewer than 2 patches; give more or larger images")
    return NIQEModel(feats.mean(0), np.cov(feats, rowvar=False))


def patch_features(image: Image, patch_size: int = PATCH_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Per-patch features (n, 36) and sharpness (n,) of an image."""
    grey = luminance(to_hwc(image)) * 255.0
    rows, cols = grey.shape[0] // patch_size, grey.shape[1] // patch_size
    if rows * cols == 0:
        raise DataError(f"image {grey.shape} is smaller than one {patch_size}×{patch_size} patch")
    grey = grey[: rows * patch_size, : cols * patch_size]
    half = rescale(grey, 0.5, order=3, anti_aliasing=True, preserve_range=True)
    mscn_full, sigma = mscn(grey)
    mscn_half, _ = mscn(half)
    feats = np.concatenate(
        [_blockwise(mscn_full, patch_size), _blockwise(mscn_half, patch_size // 2)], axis=1
    )
    sharpness = _blocks(sigma, patch_size).mean((2, 3)).ravel()
    return feats, sharpness


def mscn(grey: np.ndarray, c: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Mean-subtracted contrast-normalised coefficients and the local deviation field."""
    blur = functools.partial(
        ndimage.gaussian_filter, sigma=7 / 6, truncate=3 / (7 / 6), mode="nearest"
    )
    mu = blur(grey)
    sigma = np.sqrt(np.abs(blur(grey * grey) - mu * mu))
    return (grey - mu) / (sigma + c), sigma


def _blocks(image: np.ndarray, size: int) -> np.ndarray:
    rows, cols = image.shape[0] // size, image.shape[1] // size
    image = image[: rows * size, : cols * size]
    return image.reshape(rows, size, cols, size).transpose(0, 2, 1, 3)


def _blockwise(coeffs: np.ndarray, size: int) -> np.ndarray:
    blocks = _blocks(coeffs, size)
    return np.array([patch_stats(b) for b in blocks.reshape(-1, size, size)])


def patch_stats(patch: np.ndarray) -> np.ndarray:
    """The 18 features of one patch of MSCN coefficients."""
    alpha, var = fit_ggd(patch.ravel())
    feats = [alpha, var]
    pairs = (
        patch[:, :-1] * patch[:, 1:],  # horizontal
        patch[:-1, :] * patch[1:, :],  # vertical
        patch[:-1, :-1] * patch[1:, 1:],  # main diagonal
        patch[:-1, 1:] * patch[1:, :-1],  # anti-diagonal
    )
    for pair in pairs:
        feats.extend(fit_aggd(pair.ravel()))
    return np.array(feats)


def fit_ggd(x: np.ndarray) -> tuple[float, float]:
    """Shape and variance of a zero-mean generalised Gaussian, by moment matching.

    Solves ``Gamma(1/a) Gamma(3/a) / Gamma(2/a)^2 = E[x^2] / E[|x|]^2``.
    """
    var = float(np.mean(x * x))
    ratio = var / (np.mean(np.abs(x)) ** 2 + 1e-12)
    return float(_SHAPES[np.argmin(np.abs(_GGD_CURVE - ratio))]), var


def fit_aggd(x: np.ndarray) -> tuple[float, float, float, float]:
    """Shape, mean, left and right variance of an asymmetric generalised Gaussian."""
    left, right = x[x < 0], x[x > 0]
    sigma_l = np.sqrt(np.mean(left * left)) if left.size else 0.0
    sigma_r = np.sqrt(np.mean(right * right)) if right.size else 0.0
    g = sigma_l / (sigma_r + 1e-12)
    r = np.mean(np.abs(x)) ** 2 / (np.mean(x * x) + 1e-12)
    big_r = r * (g**3 + 1) * (g + 1) / (g**2 + 1) ** 2
    alpha = float(_SHAPES[np.argmin(np.abs(_AGGD_CURVE - big_r))])
    mean = (sigma_r - sigma_l) * gamma(2 / alpha) / np.sqrt(gamma(1 / alpha) * gamma(3 / alpha))
    return alpha, float(mean), float(sigma_l**2), float(sigma_r**2)
