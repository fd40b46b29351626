"""ECC translation alignment: known sub-pixel shifts are recovered."""

from __future__ import annotations

import numpy as np
import pytest

from demoe.errors import DataError
from demoe.eval.ecc import align_ecc_translation, crop_to_mask
from demoe.eval.metrics import psnr


def scene(dx: float, dy: float, h: int = 96, w: int = 112) -> np.ndarray:
    """Smooth analytic RGB image sampled at (x - dx, y - dy): an exact sub-pixel shift."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:h, 0:w].astype(float)
    y, x = y - dy, x - dx
    img = np.zeros((h, w, 3))
    for _ in range(25):
        cy, cx, s = rng.uniform(0, h), rng.uniform(0, w), rng.uniform(2, 8)
        img += (
            rng.uniform(0, 1, 3) * np.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * s * s))[..., None]
        )
    return img / 4.0


@pytest.mark.parametrize(("dx", "dy"), [(0.37, -0.62), (-1.25, 0.8)])
def test_subpixel_shift_recovered(dx: float, dy: float) -> None:
    target, pred = scene(0, 0), scene(dx, dy)
    result = align_ecc_translation(pred, target)
    assert abs(result.shift[0] - dx) < 0.05
    assert abs(result.shift[1] - dy) < 0.05
    assert result.correlation > 0.999
    before = psnr(pred, target)
    after = psnr(crop_to_mask(result.aligned, result.mask), crop_to_mask(target, result.mask))
    assert after > before + 10


def test_mask_is_the_overlap_rectangle() -> None:
    result = align_ecc_translation(scene(1.5, -2.5), scene(0, 0))
    rows, cols = np.flatnonzero(result.mask.any(1)), np.flatnonzero(result.mask.any(0))
    # aligned(y, x) = pred(y + dy, x + dx) is defined for 0 <= x + 1.5 <= 111, 0 <= y - 2.5 <= 95
    assert (cols[0], cols[-1]) == (0, 109)
    assert (rows[0], rows[-1]) == (3, 95)
    assert result.mask.sum() == rows.size * cols.size


def test_pyramid_handles_larger_shift() -> None:
    result = align_ecc_translation(scene(4.3, -3.6), scene(0, 0), levels=3)
    assert result.shift == pytest.approx((4.3, -3.6), abs=0.05)


def test_size_mismatch() -> None:
    with pytest.raises(DataError, match="differ in size"):
        align_ecc_translation(np.zeros((20, 20, 3)), np.zeros((20, 21, 3)))
