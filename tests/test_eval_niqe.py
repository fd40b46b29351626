"""NIQE: distribution fits, model files, and degraded images scoring worse."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io
from scipy import ndimage

from demoe.errors import CheckpointError, DataError
from demoe.eval.metrics import MetricUnavailable
from demoe.eval.niqe import (
    fit_aggd,
    fit_ggd,
    fit_niqe_model,
    load_niqe_model,
    mscn,
    niqe,
    patch_features,
)


def scene(seed: int, size: int = 192) -> np.ndarray:
    """Piecewise-flat discs plus a faint 1/f texture: crude natural-image statistics."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    img = np.ones((size, size, 3)) * rng.uniform(0.2, 0.8, 3)
    for _ in range(30):
        cy, cx, r = rng.uniform(0, 1), rng.uniform(0, 1), rng.uniform(0.03, 0.2)
        img[(y - cy) ** 2 + (x - cx) ** 2 < r * r] = rng.uniform(0, 1, 3)
    f = np.fft.fftfreq(size)
    radius = np.hypot(f[:, None], f[None, :])
    radius[0, 0] = 1
    texture = np.real(np.fft.ifft2(np.fft.fft2(rng.standard_normal((size, size))) / radius))
    return np.clip(img + 0.03 * (texture / texture.std())[..., None], 0, 1)


@pytest.fixture(scope="module")
def model():
    return fit_niqe_model([scene(s) for s in range(8)])


def test_moment_matching_recovers_known_shapes() -> None:
    rng = np.random.default_rng(0)
    assert fit_ggd(rng.standard_normal(200_000))[0] == pytest.approx(2.0, abs=0.05)
    assert fit_ggd(rng.laplace(size=200_000))[0] == pytest.approx(1.0, abs=0.05)
    alpha, mean, left, right = fit_aggd(2.0 * rng.standard_normal(200_000))
    assert alpha == pytest.approx(2.0, abs=0.05)
    assert mean == pytest.approx(0.0, abs=0.02)
    assert left == pytest.approx(4.0, rel=0.02) and right == pytest.approx(4.0, rel=0.02)


def test_mscn_coefficients() -> None:
    coeffs, sigma = mscn(np.full((40, 50), 102.0))
    np.testing.assert_allclose(coeffs, 0, atol=1e-9)
    np.testing.assert_allclose(sigma, 0, atol=1e-5)
    noise = 128 + 20 * np.random.default_rng(0).standard_normal((200, 200))
    coeffs, sigma = mscn(noise)
    assert 15 < np.median(sigma) < 20.5  # local std of the noise under the 7x7 window
    assert abs(coeffs.mean()) < 0.05 and 0.8 < coeffs.std() < 1.2


def test_sharpness_selection_keeps_only_sharp_patches() -> None:
    flat_column = np.full((192, 96, 3), 0.5)
    image = np.concatenate([flat_column, scene(1, size=192)], axis=1)
    feats, sharpness = patch_features(image)
    assert feats.shape == (6, 36) and sharpness.shape == (6,)
    flat = np.array([True, False, False, True, False, False])  # row-major 2 x 3 patches
    assert sharpness[flat].max() < 0.1 * sharpness[~flat].min()
    kept = feats[sharpness > 0.75 * sharpness.max()]
    np.testing.assert_allclose(fit_niqe_model([image]).mu, kept.mean(0))
    assert len(kept) < 4 or not np.allclose(kept.mean(0), feats.mean(0))


def test_degraded_images_score_worse(model) -> None:
    clean = scene(100)
    blurred = ndimage.gaussian_filter(clean, (2.5, 2.5, 0))
    noisy = np.clip(clean + 0.08 * np.random.default_rng(5).standard_normal(clean.shape), 0, 1)
    score = niqe(clean, model)
    assert np.isfinite(score)
    assert niqe(blurred, model) > score
    assert niqe(noisy, model) > score


def test_parameter_files_round_trip(model, tmp_path, monkeypatch) -> None:
    model.save(tmp_path / "niqe.npz")
    monkeypatch.setenv("DEMOE_NIQE_PARAMS", str(tmp_path / "niqe.npz"))
    loaded = load_niqe_model()
    np.testing.assert_array_equal(loaded.mu, model.mu)
    np.testing.assert_array_equal(loaded.cov, model.cov)
    scipy.io.savemat(
        tmp_path / "modelparameters.mat",
        {"mu_prisparam": model.mu[None], "cov_prisparam": model.cov},
    )
    assert niqe(scene(3), load_niqe_model(tmp_path / "modelparameters.mat")) == pytest.approx(
        niqe(scene(3), model)
    )


def test_missing_or_bad_parameters(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("DEMOE_NIQE_PARAMS", raising=False)
    with pytest.raises(MetricUnavailable, match="DEMOE_NIQE_PARAMS"):
        load_niqe_model()
    with pytest.raises(MetricUnavailable, match="not found at"):
        load_niqe_model(tmp_path / "nope.npz")
    np.savez(tmp_path / "bad.npz", mu=np.zeros(18), cov=np.eye(18))
    with pytest.raises(CheckpointError, match=r"\(18,\)"):
        load_niqe_model(tmp_path / "bad.npz")


def test_too_small_image(model) -> None:
    with pytest.raises(DataError, match="patch"):
        niqe(np.zeros((50, 300, 3)), model)
