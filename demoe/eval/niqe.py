"""NIQE (Mittal, Soundararajan & Bovik, IEEE SPL 2013) as the authors' MATLAB code defines it.

The reference is the authors' MATLAB release (``computequality.m``), checked against
BasicSR 1.4.2's ``metrics/niqe.py`` (stated to reproduce it): grey image by MATLAB's
``rgb2gray`` of the 8-bit image (weights 0.298936…, 0.587043…, 0.114021…, rounded),
MSCN coefficients under a 7×7 Gaussian (sigma 7/6, replicate padding), 96×96 blocks
without overlap (partial blocks dropped), per block the AGGD fits of the coefficients
(shape, (βl+βr)/2) and of the products with the four wrap-around neighbours (shape,
mean, βl, βr), the same on the grey image halved by MATLAB's antialiased bicubic
``imresize``; NIQE is ``sqrt((mu - mu2)' ((cov + cov2) / 2)^+ (mu - mu2))`` between the
pristine model (mu, cov) and the image's block features (mu2, cov2: ``nanmean``, and
``nancov`` over the blocks without NaN). Lower is better.

pyiqa's ``calculate_niqe`` follows the same steps, but four of them lose precision, and
NIQE amplifies rounding errors: in a flat area (a saturated background) the MSCN
coefficients are rounding noise whose signs decide which side of the AGGD fit those
pixels count on. So this module keeps pyiqa's ``imfilter`` and ``blockproc`` and
computes in double what pyiqa does not:

* the grey image: MATLAB's ``rgb2gray`` weights in double (pyiqa: YIQ's 0.299, 0.587,
  0.114 as float32);
* the Gaussian window (pyiqa's ``fspecial`` returns float32);
* the half-size image, resized on 0-255 as ``computequality.m`` does (pyiqa's
  ``imresize`` computes in float32, on 0-1);
* the AGGD shape grid 0.2:0.001:10 (pyiqa's is float32, moving some shapes one step).

NIQE stays ill-conditioned there: on images with flat areas the last-bit differences
left between any two implementations (MATLAB's included, whose ``exp`` and ``imfilter``
cannot be matched bit for bit) move it by a few hundredths (changing the window by one
unit in the last place moves blurred ``coffee`` by 0.03).

Pristine models (``eval.niqe_params``; never downloaded):

* the standard one: the authors' ``modelparameters.mat`` (``mu_prisparam``,
  ``cov_prisparam``), or BasicSR's ``niqe_pris_params.npz`` (``mu_pris_param``,
  ``cov_pris_param``), the same numbers;
* the embedded default's (rule ``niqe_model``, :func:`fit_niqe_model`): fitted on the
  AIO-Blur training targets the way the authors' ``estimatemodelparam.m`` fits theirs
  (the blocks whose sharpness, the mean local deviation at full scale, exceeds 0.75 × the
  image's sharpest block). Such numbers are self-consistent but not comparable with the
  paper's; the file carries a description that every table using it prints.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import scipy.io
import torch
from scipy import special

from demoe.errors import CheckpointError, DataError
from demoe.eval.common import Image, as_batch
from demoe.eval.iqa import MAT_READ_ERRORS, pyiqa_module, required_file
from demoe.io.atomic import atomic_path

PATCH_SIZE = 96
SHARPNESS_THRESHOLD = 0.75
N_FEATURES = 36
# MATLAB's rgb2gray: first row of inv([1 .956 .621; 1 -.272 -.647; 1 -1.106 1.703]).
MATLAB_RGB2GRAY = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])
# The AGGD shapes tried and their moment ratio Γ(2/α)² / (Γ(1/α) Γ(3/α)) (estimateaggdparam.m).
_AGGD_SHAPES = torch.from_numpy(0.2 + 0.001 * np.arange(9801))
_AGGD_RATIO = torch.from_numpy(
    special.gamma(2 / _AGGD_SHAPES.numpy()) ** 2
    / (special.gamma(1 / _AGGD_SHAPES.numpy()) * special.gamma(3 / _AGGD_SHAPES.numpy()))
)


@dataclass(frozen=True)
class NIQEModel:
    """Multivariate Gaussian of pristine block features, and where it comes from."""

    mu: np.ndarray  # (36,)
    cov: np.ndarray  # (36, 36)
    description: str = "pristine parameters"

    def save(self, path: str | os.PathLike) -> None:
        """Write ``mu``, ``cov`` and ``description`` to an ``.npz`` file atomically."""
        with atomic_path(path, suffix=".npz") as tmp:
            np.savez(tmp, mu=self.mu, cov=self.cov, description=np.array(self.description))


def load_niqe_model(path: str | os.PathLike | None) -> NIQEModel:
    """Pristine model from ``path`` (``eval.niqe_params``); MetricUnavailable if absent."""
    resolved = required_file("niqe", path)
    try:
        if resolved.suffix == ".mat":
            data = scipy.io.loadmat(resolved)
            mu, cov = data["mu_prisparam"], data["cov_prisparam"]
            description = f"pristine parameters from {resolved.name}"
        else:
            with np.load(resolved, allow_pickle=False) as data:
                keys = ("mu", "cov") if "mu" in data else ("mu_pris_param", "cov_pris_param")
                mu, cov = data[keys[0]], data[keys[1]]
                description = (
                    str(data["description"])
                    if "description" in data
                    else f"pristine parameters from {resolved.name}"
                )
    except MAT_READ_ERRORS as err:
        raise CheckpointError(f"cannot read NIQE parameters {resolved}: {err}") from err
    mu, cov = np.asarray(mu, float).ravel(), np.asarray(cov, float)
    if mu.shape != (N_FEATURES,) or cov.shape != (N_FEATURES, N_FEATURES):
        raise CheckpointError(
            f"{resolved}: NIQE parameters must be mu ({N_FEATURES},) and cov "
            f"({N_FEATURES}, {N_FEATURES}), got {mu.shape} and {cov.shape}"
        )
    return NIQEModel(mu, cov, description)


def niqe(image: Image, model: NIQEModel) -> float:
    """NIQE of one RGB (or grey) image in [0, 1] against ``model`` (MATLAB release)."""
    feats, _ = patch_features(image)
    mu = np.nanmean(feats, 0)  # MATLAB's nanmean: per feature, NaN entries left out
    complete = feats[~np.isnan(feats).any(1)]  # MATLAB's nancov: rows with a NaN dropped
    diff = model.mu - mu
    cov = (model.cov + np.cov(complete, rowvar=False)) / 2
    return float(np.sqrt(diff @ np.linalg.pinv(cov) @ diff))


def fit_niqe_model(
    images: Iterable[Image],
    sharpness_threshold: float = SHARPNESS_THRESHOLD,
    description: str = "fitted model",
) -> NIQEModel:
    """Pristine model from the sharpest blocks of each image (module docstring)."""
    kept = []
    for image in images:
        feats, sharpness = patch_features(image)
        kept.append(feats[sharpness > sharpness_threshold * sharpness.max()])
    if not kept:
        raise DataError("fit_niqe_model needs at least one image")
    feats = np.concatenate(kept)
    feats = feats[~np.isnan(feats).any(1)]
    if feats.shape[0] < 2:
        raise DataError("fit_niqe_model kept fewer than 2 blocks; give more or larger images")
    return NIQEModel(feats.mean(0), np.cov(feats, rowvar=False), description)


def patch_features(image: Image) -> tuple[np.ndarray, np.ndarray]:
    """Per-block NIQE features (n, 36) and sharpness (n,), blocks column by column.

    The same grey image, MSCN coefficients, blocks and features as :func:`niqe` scores.
    """
    blockproc = pyiqa_module("matlab_utils").blockproc
    grey = _matlab_grey(_checked(image))
    rows, cols = grey.shape[0] // PATCH_SIZE, grey.shape[1] // PATCH_SIZE
    grey = grey[: rows * PATCH_SIZE, : cols * PATCH_SIZE]
    feats, sharpness = [], None
    for g, size in ((grey, PATCH_SIZE), (_matlab_halve(grey), PATCH_SIZE // 2)):
        mscn, sigma = _mscn(torch.from_numpy(g)[None, None])
        feats.append(blockproc(mscn, size, fun=lambda b, _: _block_features(b[:, 0])))
        if sharpness is None:
            sharpness = blockproc(sigma, size, fun=lambda b, _: b.mean((1, 2, 3))[:, None])
    return torch.cat(feats, -1)[0].numpy(), sharpness[0, :, 0].numpy()


def _matlab_grey(x: torch.Tensor) -> np.ndarray:
    """The grey image (H, W) on 0-255 that ``computequality.m`` gets from ``x`` (1, C, H, W).

    MATLAB's ``rgb2gray`` of an 8-bit image: the Y row of the inverse NTSC matrix
    (:data:`MATLAB_RGB2GRAY`) in double precision, rounded half away from zero.
    """
    img = x[0].permute(1, 2, 0).numpy() * 255
    grey = img @ MATLAB_RGB2GRAY if img.shape[2] == 3 else img[..., 0]
    return np.floor(grey + 0.5)  # values are >= 0: MATLAB's rounding


def _mscn(grey: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """MSCN coefficients and local deviation of a (1, 1, H, W) float64 image.

    ``fspecial('gaussian', 7, 7/6)`` in double (pyiqa's ``fspecial`` rounds it to
    float32), ``imfilter(..., 'replicate')``, ``(im - mu) ./ (sigma + 1)``.
    """
    offsets = np.arange(7) - 3.0
    window = np.exp(-(offsets[:, None] ** 2 + offsets[None] ** 2) / (2 * (7 / 6) ** 2))
    window = torch.from_numpy(window / window.sum())[None, None]
    imfilter = pyiqa_module("matlab_utils").imfilter
    mu = imfilter(grey, window, padding="replicate")
    sigma = (imfilter(grey * grey, window, padding="replicate") - mu * mu).abs().sqrt()
    return (grey - mu) / (sigma + 1), sigma


def _block_features(blocks: torch.Tensor) -> torch.Tensor:
    """The 18 features (``computefeature.m``) of each MSCN block of ``blocks`` (n, h, w).

    The AGGD fit of the coefficients (shape, mean of the two scales), then of their
    products with the neighbour at each of the shifts (0, 1), (1, 0), (1, 1), (-1, 1)
    (``circshift``, wrapping around): shape, mean ``(βr - βl) Γ(2/α) / Γ(1/α)``, βl, βr.
    """
    alpha, left, right = _aggd(blocks.flatten(1))
    feats = [alpha, (left + right) / 2]
    for shift in ((0, 1), (1, 0), (1, 1), (-1, 1)):
        pairs = blocks * torch.roll(blocks, shift, dims=(1, 2))
        alpha, left, right = _aggd(pairs.flatten(1))
        mean = (right - left) * torch.exp(torch.lgamma(2 / alpha) - torch.lgamma(1 / alpha))
        feats += [alpha, mean, left, right]
    return torch.stack(feats, 1)


def _aggd(v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Shape α and scales βl, βr of an asymmetric generalised Gaussian fitted to each
    row of ``v`` (``estimateaggdparam.m``): moment matching over the shapes 0.2:0.001:10,
    all in double (pyiqa's grid is float32, which moves some α by one grid step)."""
    neg, pos = v < 0, v > 0
    left_std = ((v * neg) ** 2).sum(1).div(neg.sum(1)).sqrt()
    right_std = ((v * pos) ** 2).sum(1).div(pos.sum(1)).sqrt()
    g = left_std / right_std
    r = v.abs().mean(1) ** 2 / (v**2).mean(1)
    r_norm = r * (g**3 + 1) * (g + 1) / (g**2 + 1) ** 2
    best = ((_AGGD_RATIO[None] - r_norm[:, None]) ** 2).argmin(1)
    alpha = _AGGD_SHAPES[best]
    scale = torch.exp(torch.lgamma(1 / alpha) - torch.lgamma(3 / alpha)).sqrt()
    return alpha, left_std * scale, right_std * scale


def _matlab_halve(img: np.ndarray) -> np.ndarray:
    """MATLAB's ``imresize(img, 0.5)`` (bicubic, antialiased) in double precision.

    pyiqa's ``imresize`` computes in float32, which moves the half-scale features.
    """
    for axis in (0, 1):  # MATLAB's order for equal scales: rows first
        index, weight = _halving_weights(img.shape[axis])
        img = np.moveaxis(img, axis, 0)
        out = np.zeros((index.shape[0], *img.shape[1:]))
        for k in range(index.shape[1]):  # accumulate in the contribution order
            out += weight[:, k, None] * img[index[:, k]]
        img = np.moveaxis(out, 0, axis)
    return img


def _halving_weights(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Input indices (0-based) and weights of each output of MATLAB's bicubic
    ``imresize`` by 0.5 along an axis of length ``n``: the cubic kernel (a = -0.5)
    stretched by 2 for antialiasing (width 8, 10 taps), centres at ``2 i - 0.5``
    (1-based ``i``), weights normalised to sum 1, indices mirrored at the borders."""
    centre = 2.0 * np.arange(1, -(-n // 2) + 1) - 0.5
    index = np.floor(centre - 4)[:, None] + np.arange(10)
    d = np.abs(0.5 * (centre[:, None] - index))
    cubic = np.where(
        d <= 1,
        1.5 * d**3 - 2.5 * d**2 + 1,
        np.where(d <= 2, -0.5 * d**3 + 2.5 * d**2 - 4 * d + 2, 0.0),
    )
    weight = 0.5 * cubic
    weight /= weight.sum(1, keepdims=True)
    mirror = np.concatenate([np.arange(n), np.arange(n)[::-1]])
    return mirror[(index.astype(int) - 1) % (2 * n)], weight


def _checked(image: Image) -> torch.Tensor:
    """The image as a float64 batch (1, C, H, W) in [0, 1] with at least 2 whole blocks."""
    x = as_batch(image).clamp(0, 1)
    if x.shape[0] != 1:
        raise DataError(f"NIQE takes one image, got a batch of {x.shape[0]}")
    blocks = (x.shape[2] // PATCH_SIZE) * (x.shape[3] // PATCH_SIZE)
    if blocks < 2:
        raise DataError(
            f"NIQE needs at least 2 blocks of {PATCH_SIZE}×{PATCH_SIZE} pixels, "
            f"got an image of {tuple(x.shape[2:])}"
        )
    return x
