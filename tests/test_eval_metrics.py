"""PSNR / SSIM against scikit-image, batching, errors and compute_metrics semantics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import ndimage
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from demoe.errors import ConfigError, DataError
from demoe.eval.common import MetricUnavailable
from demoe.eval.metrics import PSNR_CEILING_DB, psnr, ssim
from demoe.eval.niqe import fit_niqe_model
from demoe.eval.registry import compute_metrics, create_metric


def pair(seed: int, shape=(37, 52, 3), noise=0.1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    target = ndimage.gaussian_filter(rng.random(shape), (1.5, 1.5, 0))
    pred = np.clip(target + noise * rng.standard_normal(shape), 0, 1)
    return pred, target


def sk_ssim(pred: np.ndarray, target: np.ndarray) -> float:
    return structural_similarity(
        pred,
        target,
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        channel_axis=-1,
        data_range=1,
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_psnr_ssim_match_skimage(seed: int) -> None:
    pred, target = pair(seed, noise=0.05 * (seed + 1))
    assert psnr(pred, target) == pytest.approx(
        peak_signal_noise_ratio(target, pred, data_range=1), abs=1e-4
    )
    assert ssim(pred, target) == pytest.approx(sk_ssim(pred, target), abs=1e-4)


def test_torch_chw_and_batches_give_per_image_values() -> None:
    images = [pair(s) for s in range(3)]
    preds = torch.from_numpy(np.stack([p for p, _ in images])).permute(0, 3, 1, 2)
    targets = torch.from_numpy(np.stack([t for _, t in images])).permute(0, 3, 1, 2)
    batch_psnr, batch_ssim = psnr(preds, targets), ssim(preds, targets)
    assert batch_psnr.shape == (3,) and batch_ssim.shape == (3,)
    for i, (p, t) in enumerate(images):
        assert batch_psnr[i] == pytest.approx(psnr(p, t), abs=1e-9)
        assert batch_ssim[i] == pytest.approx(sk_ssim(p, t), abs=1e-4)
        assert psnr(preds[i], targets[i]) == pytest.approx(psnr(p, t), abs=1e-9)


def test_identical_images() -> None:
    _, target = pair(0)
    assert psnr(target, target) == PSNR_CEILING_DB  # capped (ours): never infinite
    assert ssim(target, target) == pytest.approx(1.0, abs=1e-12)


def test_size_mismatch_names_both_shapes() -> None:
    with pytest.raises(DataError, match=r"\(37, 52, 3\).*\(37, 51, 3\)"):
        psnr(np.zeros((37, 52, 3)), np.zeros((37, 51, 3)))
    with pytest.raises(DataError, match="differ in size"):
        ssim(torch.zeros(3, 20, 20), torch.zeros(3, 20, 21))


def test_integer_images_are_refused() -> None:
    with pytest.raises(DataError, match="float image"):
        psnr(np.zeros((16, 16, 3), np.uint8), np.zeros((16, 16, 3), np.uint8))


def test_compute_metrics_unavailable_lpips_is_nan_with_reason() -> None:
    pred, target = pair(0)
    values, reasons = compute_metrics(pred, target)
    assert values["psnr"] == pytest.approx(psnr(pred, target))
    assert values["ssim"] == pytest.approx(ssim(pred, target))
    assert math.isnan(values["lpips"])
    assert "set eval.lpips_weights" in reasons["lpips"]
    assert set(reasons) == {"lpips"}


def test_compute_metrics_without_target_and_unknown_names() -> None:
    pred, _ = pair(0)
    values, reasons = compute_metrics(pred, None, metrics=("psnr",))
    assert math.isnan(values["psnr"]) and "ground-truth" in reasons["psnr"]
    with pytest.raises(ConfigError, match="unknown metrics"):
        compute_metrics(pred, pred, metrics=("psnr", "fid"))
    with pytest.raises(ConfigError, match="unknown metric weight keys"):
        compute_metrics(pred, pred, metrics=("psnr",), weights={"fid_weights": "f.pth"})


def test_compute_metrics_align_beats_unaligned() -> None:
    y, x = np.mgrid[0:80, 0:90].astype(float)

    def scene(dx: float, dy: float) -> np.ndarray:
        img = np.sin((x - dx) / 4.0)[..., None] * np.cos((y - dy) / 5.0)[..., None]
        return 0.5 + 0.4 * img * np.array([1.0, 0.8, 0.6])

    pred, target = scene(0.6, -0.4), scene(0.0, 0.0)
    plain, _ = compute_metrics(pred, target, metrics=("psnr", "ssim"))
    aligned, _ = compute_metrics(pred, target, metrics=("psnr", "ssim"), align=True)
    assert aligned["psnr"] > plain["psnr"] + 10
    assert aligned["ssim"] > plain["ssim"]


def test_no_reference_metrics_from_the_registry(tmp_path) -> None:
    with pytest.raises(MetricUnavailable, match="set eval.musiq_weights"):
        create_metric("musiq")
    with pytest.raises(MetricUnavailable, match="eval.nrqm_weights names no file"):
        create_metric("nrqm", nrqm_weights=str(tmp_path / "NRQM_model.mat"))
    with pytest.raises(MetricUnavailable, match="set eval.niqe_params"):
        create_metric("niqe")
    with pytest.raises(ConfigError, match="unknown metric 'brisque'"):
        create_metric("brisque")
    rng = np.random.default_rng(0)
    images = [ndimage.gaussian_filter(rng.random((192, 192, 3)), (1, 1, 0)) for _ in range(3)]
    fit_niqe_model(images).save(tmp_path / "niqe.npz")
    metric = create_metric("niqe", niqe_params=tmp_path / "niqe.npz")
    assert np.isfinite(metric(images[0]))
    values, reasons = compute_metrics(
        images[0], None, metrics=("niqe", "musiq"), weights={"niqe_params": tmp_path / "niqe.npz"}
    )
    assert np.isfinite(values["niqe"]) and math.isnan(values["musiq"])
    assert set(reasons) == {"musiq"}
