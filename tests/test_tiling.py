"""Tiled inference: seams vanish, routing once, memory budget."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import CONFORMANCE, randomize_affine

from demoe.models import create_model
from demoe.models.checkpoint import load_model
from demoe.models.fuse import fuse_by_default
from demoe.models.tiling import (
    Tiling,
    _ramp,
    estimated_bytes,
    infer,
    tile_starts,
    tiled_forward,
    tiling_for_budget,
)
from demoe.models.tlc import apply_tlc
from demoe.tasks import TASKS

CHECKPOINT = CONFORMANCE / "demoe_small_published_layout.pth"


@pytest.fixture(scope="module")
def local_model() -> torch.nn.Module:
    """A 2-level DeMoE with TLC (train size 16): small border reach, cheap on CPU."""
    torch.manual_seed(0)
    model = create_model("demoe_small", enc_blk_nums=[1, 1], dec_blk_nums=[1, 1])
    return apply_tlc(fuse_by_default(randomize_affine(model).eval()), train_size=16)


def smooth_image(h: int, w: int, seed: int = 0) -> torch.Tensor:
    """A natural-looking test image: upsampled noise plus an edge."""
    g = torch.Generator().manual_seed(seed)
    x = F.interpolate(torch.rand(1, 3, h // 8, w // 8, generator=g), size=(h, w), mode="bicubic")
    x[..., :, w // 3 :] += 0.3
    return x.clamp(0, 1)


@pytest.mark.parametrize(
    ("length", "tile", "overlap"), [(10, 16, 4), (100, 32, 8), (288, 192, 128)]
)
def test_tiles_cover_the_image_with_at_least_the_overlap(length, tile, overlap):
    starts = tile_starts(length, tile, overlap)
    assert starts[0] == 0 and min(length, starts[-1] + tile) == length
    assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:], strict=False))
    size = min(tile, length)
    weights = [_ramp(size, s, length, overlap) for s in starts]
    assert all(bool((w > 0).all()) for w in weights)


def test_tiled_equals_whole_image_with_tlc(local_model):
    x = smooth_image(128, 256)
    with torch.inference_mode():
        whole = local_model(x, task="defocus")
        tiled, logits = tiled_forward(local_model, x, Tiling(96, 64), task="defocus")
    assert logits is None
    assert (tiled - whole).abs().max() < 1e-3


def test_tiled_routes_once_on_the_whole_image_and_forces_that_expert(local_model):
    x = smooth_image(128, 256, seed=1)
    with torch.inference_mode():
        whole = local_model(x, return_aux=True)
        tiled, logits = tiled_forward(local_model, x, Tiling(96, 64), route_pixels=128 * 256)
    torch.testing.assert_close(logits, whole.logits, atol=1e-4, rtol=1e-4)
    assert TASKS[int(logits.argmax())] == TASKS[int(whole.weights.argmax())]
    assert (tiled - whole.output).abs().max() < 1e-3


def test_router_sees_a_downscaled_copy_of_an_image_over_its_budget():
    model = load_model(CHECKPOINT)
    x = smooth_image(128, 256)
    with torch.inference_mode():
        _, logits = tiled_forward(model, x, Tiling(128, 32), route_pixels=64 * 128)
        small = model(F.interpolate(x, size=(64, 128), mode="area"), return_aux=True)
    torch.testing.assert_close(logits, small.logits)


def test_infer_tiles_only_images_over_the_budget(local_model):
    model = local_model
    x = smooth_image(128, 192)
    budget = estimated_bytes(model, 128, 192)
    with torch.inference_mode():
        whole, _ = infer(model, x, "defocus", budget_bytes=budget)
        torch.testing.assert_close(whole, model(x, task="defocus"))
        small_budget = budget / 4
        tiled, _ = infer(model, x, "defocus", budget_bytes=small_budget)
        expected, _ = tiled_forward(
            model, x, tiling_for_budget(model, small_budget), task="defocus"
        )
    assert tiling_for_budget(model, small_budget) == Tiling(64, 32)
    torch.testing.assert_close(tiled, expected)
    assert not torch.equal(tiled, whole)


def test_tlc_window_larger_than_the_tile_is_refused():
    model = apply_tlc(load_model(CHECKPOINT), train_size=384)  # window 576 px
    with pytest.raises(ValueError, match="TLC window 576 px"):
        tiled_forward(model, smooth_image(64, 64), Tiling(256, 64), task="defocus")


def test_mixing_several_experts_is_refused_and_budget_too_small_too():
    model = create_model("demoe_small", k_used=2).eval()
    with pytest.raises(ValueError, match="k_used=2"), torch.inference_mode():
        tiled_forward(model, smooth_image(64, 64), Tiling(32, 8))
    with pytest.raises(ValueError, match="too small"):
        tiling_for_budget(model, 1e5)
    with pytest.raises(ValueError, match="overlap"):
        Tiling(64, 64)
