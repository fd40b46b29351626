"""The RealBlur protocol: known homographies and gains are recovered, scores as unwarped.

Synthetic pairs: a smooth natural scene (scikit-image's astronaut, blurred) cropped from a
larger frame, the prediction being that frame seen through a known homography H (target
pixel p -> prediction pixel H p) and divided by a known gain. Cropping keeps real content
at every border, as with a real photograph.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy import ndimage
from skimage import data

from demoe.errors import DataError
from demoe.eval.ecc import SSIM_PAD, masked_psnr, masked_ssim, realblur_align
from demoe.eval.registry import compute_metrics

MARGIN, HEIGHT, WIDTH = 40, 400, 432
GAIN = 1.1


def homography(degrees: float, scale: float, shift: tuple[float, float]) -> np.ndarray:
    c, s = np.cos(np.deg2rad(degrees)), np.sin(np.deg2rad(degrees))
    return np.array(
        [[scale * c, -s, shift[0]], [s, scale * c, shift[1]], [1e-6, -1e-6, 1.0]], np.float64
    )


def frame(smooth: float) -> np.ndarray:
    return ndimage.gaussian_filter(data.astronaut().astype(np.float64) / 255, (smooth, smooth, 0))


def crop(image: np.ndarray) -> np.ndarray:
    return image[MARGIN : MARGIN + HEIGHT, MARGIN : MARGIN + WIDTH]


def seen_through(big: np.ndarray, h: np.ndarray) -> np.ndarray:
    """The crop's view of ``big`` with crop pixel p showing crop content at H^-1 p, / GAIN."""
    to_frame = np.array([[1, 0, MARGIN], [0, 1, MARGIN], [0, 0, 1]], np.float64)
    warped = cv2.warpPerspective(
        big,
        to_frame @ np.linalg.inv(h),
        (WIDTH, HEIGHT),
        flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
    )
    return (warped / GAIN).astype(np.float32)


def corners(h: np.ndarray) -> np.ndarray:
    pts = np.array([[0, 0, 1], [WIDTH - 1, 0, 1], [0, HEIGHT - 1, 1], [WIDTH - 1, HEIGHT - 1, 1]])
    mapped = h.astype(np.float64) @ pts.T
    return mapped[:2] / mapped[2]


@pytest.mark.parametrize(
    "h", [homography(0.4, 1.004, (1.3, -0.8)), homography(-0.3, 0.997, (-0.6, 1.1))]
)
def test_known_homography_and_gain_are_recovered(h: np.ndarray) -> None:
    big = frame(2.0)
    result = realblur_align(seen_through(big, h), crop(big))
    assert np.abs(corners(result.homography) - corners(h)).max() < 0.05
    # The gain is estimated before the alignment (as published), hence slightly low.
    assert result.gain == pytest.approx(GAIN, rel=0.01)
    assert result.correlation > 0.998
    assert masked_psnr(result.aligned, result.target, result.mask) > 45
    # The mask: the pixels whose H p falls inside the prediction.
    inside = corners(h)
    assert result.mask.shape == (HEIGHT, WIDTH, 3)
    assert 0.97 < result.mask.mean() < 1.0
    assert (result.mask[..., 0] == 0).any() == bool(
        (inside.min() < 0) or (inside[0].max() > WIDTH - 1) or (inside[1].max() > HEIGHT - 1)
    )


def test_scores_equal_those_of_the_unwarped_prediction() -> None:
    """A restored image with an error of its own scores as if it had not been warped."""
    big = frame(4.0)
    noise = ndimage.gaussian_filter(np.random.default_rng(0).standard_normal(big.shape), (4, 4, 0))
    restored = big + 0.02 * noise / noise.std()
    target = crop(big).astype(np.float32)
    warped = realblur_align(seen_through(restored, homography(0.3, 1.003, (0.6, -0.4))), target)
    unwarped = realblur_align((crop(restored) / GAIN).astype(np.float32), target)
    psnr_w = masked_psnr(warped.aligned, warped.target, warped.mask)
    psnr_u = masked_psnr(unwarped.aligned, unwarped.target, unwarped.mask)
    assert 30 < psnr_u < 40
    assert psnr_w == pytest.approx(psnr_u, abs=0.05)
    ssim_w = masked_ssim(warped.aligned, warped.target, warped.mask)
    ssim_u = masked_ssim(unwarped.aligned, unwarped.target, unwarped.mask)
    assert ssim_w == pytest.approx(ssim_u, abs=0.002)


def test_masked_scores_by_hand() -> None:
    rng = np.random.default_rng(1)
    target = ndimage.gaussian_filter(rng.random((40, 50, 3)), (2, 2, 0)).astype(np.float32)
    pred = target + np.float32(0.05)
    mask = np.ones_like(target)
    mask[:, :10] = 0  # outside: any value, the protocol zeroes both images there
    aligned, masked_target = pred * mask, target * mask
    # MSE over the 40 x 40 x 3 valid samples: 0.05^2.
    assert masked_psnr(aligned, masked_target, mask) == pytest.approx(
        10 * np.log10(1 / 0.05**2), abs=1e-4
    )
    assert masked_psnr(masked_target, masked_target, mask) == np.inf
    # SSIM: identical images give 1 over the valid, padding-cropped region.
    assert masked_ssim(masked_target, masked_target, mask) == pytest.approx(1.0)
    assert SSIM_PAD == 5
    assert masked_ssim(aligned, masked_target, mask) < 1.0


def test_compute_metrics_uses_the_protocol_for_full_reference_metrics() -> None:
    big = frame(2.0)
    h = homography(0.4, 1.004, (1.3, -0.8))
    pred, target = seen_through(big, h), crop(big).astype(np.float32)
    plain, _ = compute_metrics(pred, target, metrics=("psnr", "ssim"))
    aligned, _ = compute_metrics(pred, target, metrics=("psnr", "ssim"), align=True)
    result = realblur_align(pred, target)
    assert aligned["psnr"] == masked_psnr(result.aligned, result.target, result.mask)
    assert aligned["ssim"] == masked_ssim(result.aligned, result.target, result.mask)
    assert aligned["psnr"] > plain["psnr"] + 15


def test_errors() -> None:
    with pytest.raises(DataError, match="differ in size"):
        realblur_align(np.zeros((20, 20, 3)), np.zeros((20, 21, 3)))
    with pytest.raises(DataError, match="all zero"):
        realblur_align(np.zeros((30, 30, 3)), np.ones((30, 30, 3)))
    flat = np.full((30, 30, 3), 0.5)
    with pytest.raises(DataError, match="ECC alignment failed"):
        realblur_align(flat, flat)
