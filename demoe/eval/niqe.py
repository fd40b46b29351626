"""NIQE (Mittal, Soundararajan & Bovik, IEEE SPL 2013) as the authors' MATLAB code defines it.

The score is pyiqa's NIQE (``pyiqa.archs.niqe_arch.calculate_niqe``), which reproduces
the MATLAB release (``computequality.m``): grey image ``round(0.299 R + 0.587 G +
0.114 B)`` on 0-255 (MATLAB's ``rgb2gray`` of an 8-bit image), MSCN coefficients under a
7×7 Gaussian (sigma 7/6, replicate padding), 96×96 blocks without overlap (partial
blocks dropped), per block the AGGD fits of the coefficients (shape, (βl+βr)/2) and of
the products with the four wrap-around neighbours (shape, mean, βl, βr), the same on the
image halved by MATLAB's antialiased bicubic ``imresize``; NIQE is
``sqrt((mu - mu2)' ((cov + cov2) / 2)^+ (mu - mu2))`` between the pristine model
(mu, cov) and the image's block features (mu2, cov2). Lower is better.

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

from demoe.errors import CheckpointError, DataError
from demoe.eval.common import Image, as_batch
from demoe.eval.iqa import MAT_READ_ERRORS, pyiqa_module, required_file
from demoe.io.atomic import atomic_path

PATCH_SIZE = 96
SHARPNESS_THRESHOLD = 0.75
N_FEATURES = 36


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
    """NIQE of one RGB (or grey) image in [0, 1] against ``model`` (pyiqa, MATLAB-exact)."""
    x = _checked(image)
    score = pyiqa_module("archs.niqe_arch").calculate_niqe(
        x,
        crop_border=0,
        test_y_channel=True,
        color_space="yiq",
        mu_pris_param=torch.from_numpy(model.mu),
        cov_pris_param=torch.from_numpy(model.cov),
    )
    return float(score)


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
    """Per-block NIQE features (n, 36) and sharpness (n,), in pyiqa's block order.

    The same grey image, MSCN coefficients, blocks and features as :func:`niqe` scores.
    """
    matlab = pyiqa_module("matlab_utils")
    mscn = pyiqa_module("archs.func_util").normalize_img_with_gauss
    compute_feature = pyiqa_module("archs.niqe_arch").compute_feature
    to_y_channel = pyiqa_module("utils.color_util").to_y_channel
    x = _checked(image)
    grey = (to_y_channel(x, 255, "yiq") if x.shape[1] == 3 else x * 255).round()
    rows, cols = grey.shape[2] // PATCH_SIZE, grey.shape[3] // PATCH_SIZE
    grey = grey[..., : rows * PATCH_SIZE, : cols * PATCH_SIZE]
    window = matlab.fspecial(7, 7 / 6, 1).to(grey)
    mu = matlab.imfilter(grey, window, padding="replicate")
    sigma = (matlab.imfilter(grey * grey, window, padding="replicate") - mu * mu).abs().sqrt()
    sharpness = matlab.blockproc(sigma, PATCH_SIZE, fun=lambda b, _: b.mean((1, 2, 3))[:, None])
    half = matlab.imresize(grey / 255.0, scale=0.5, antialiasing=True) * 255.0
    feats = [
        matlab.blockproc(mscn(g, padding="replicate"), size, fun=compute_feature)
        for g, size in ((grey, PATCH_SIZE), (half, PATCH_SIZE // 2))
    ]
    return torch.cat(feats, -1)[0].numpy(), sharpness[0, :, 0].numpy()


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
