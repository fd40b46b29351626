"""TLC, the fused inference path and cost counting."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from conftest import randomize_affine

from demoe.eval.cost import count_macs, count_params, measure_cost
from demoe.models import create_model
from demoe.models.fuse import FusedNAFBlock, fuse_for_inference
from demoe.models.layers import local_mean
from demoe.models.tlc import apply_tlc, remove_tlc


def test_local_mean_equals_valid_average_pooling_in_the_interior():
    x = torch.rand(2, 3, 11, 13)
    out = local_mean(x, (4, 5))
    ref = F.avg_pool2d(x, (4, 5), stride=1)
    assert out.shape == x.shape
    torch.testing.assert_close(out[..., 1 : 1 + ref.shape[-2], 2 : 2 + ref.shape[-1]], ref)
    torch.testing.assert_close(out[..., 0, 2:-2], ref[..., 0, :])  # replicated top row


def test_tlc_window_scales_with_stride_and_is_global_on_small_images():
    model = randomize_affine(create_model("demoe_small")).eval()
    apply_tlc(model, train_size=32, ratio=1.5)
    kernels = {name: block.sca[0].kernel for name, block, _ in model.block_strides()}
    assert kernels["encoders.0.modules_list.0"] == (48, 48)
    assert kernels["encoders.2.modules_list.0"] == (12, 12)
    assert kernels["experts.0.experts.3"] == (3, 3)
    x = torch.rand(1, 3, 32, 32)  # windows cover every feature map: same as global pooling
    with torch.inference_mode():
        tlc = model(x)
        remove_tlc(model)
        torch.testing.assert_close(tlc, model(x))


def test_tlc_changes_large_images_and_can_target_chosen_experts():
    model = randomize_affine(create_model("demoe_small")).eval()
    x = torch.rand(1, 3, 96, 128)
    with torch.inference_mode():
        plain = model(x, task="defocus")
        # Table 6 "partial TLC": the shared blocks and the chosen experts, not the others.
        apply_tlc(model, train_size=16, experts=["low_light"])
        assert model.experts[0].experts[4].sca[0].kernel is not None  # low_light: chosen
        assert model.experts[0].experts[0].sca[0].kernel is None  # defocus: global pooling
        assert model.encoders[0].modules_list[0].sca[0].kernel is not None  # shared
        assert not torch.allclose(model(x, task="defocus"), plain)  # through the encoder
        remove_tlc(model)
        apply_tlc(model, train_size=16)
        assert not torch.allclose(model(x, task="defocus"), plain)
    with pytest.raises(ValueError, match="unknown task"):
        apply_tlc(model, experts=["blurry"])


@pytest.mark.parametrize("name", ["demoe_small", "nafnet"])
@pytest.mark.parametrize("channels_last", [True, False])
def test_fused_model_matches(name, channels_last):
    overrides = {"width": 8} if name == "nafnet" else {}
    model = randomize_affine(create_model(name, **overrides)).eval()
    fused = fuse_for_inference(model, channels_last=channels_last)
    assert any(isinstance(m, FusedNAFBlock) for m in fused.modules())
    x = torch.rand(2, 3, 40, 56)
    with torch.inference_mode():
        ref = model(x)
        xin = x.to(memory_format=torch.channels_last) if channels_last else x
        torch.testing.assert_close(fused(xin), ref, atol=1e-4, rtol=1e-4)
        if name == "demoe_small":
            torch.testing.assert_close(
                fused(xin, task="gopro"), model(x, task="gopro"), atol=1e-4, rtol=1e-4
            )


def test_mac_counting_on_a_known_network():
    conv = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.Conv2d(8, 8, 3, padding=1, groups=8)
    )
    x = torch.rand(1, 3, 10, 10)
    # ptflops: k·k·c_in/groups MACs per output element, plus one for the bias
    assert count_macs(conv, x) == 100 * 8 * (3 * 9 + 1) + 100 * 8 * (1 * 9 + 1)
    assert count_params(conv) == 8 * 3 * 9 + 8 + 8 * 9 + 8


def test_demoe_k1_costs_one_expert_per_block_and_counts_all_parameters():
    k1 = measure_cost("demoe", create_model("demoe_small"), size=64, repeats=1, warmup=0)
    dense = create_model("demoe_small", gating="soft").eval()
    dense_macs = count_macs(dense, torch.rand(1, 3, 64, 64))
    baseline = measure_cost(
        "base", create_model("demoe_small", block_experts=1), size=64, repeats=1, warmup=0
    )
    assert k1.macs_g == pytest.approx(baseline.macs_g)
    assert dense_macs / 1e9 > k1.macs_g
    assert k1.params_m > baseline.params_m
    assert k1.runtime_ms > 0 and k1.device.startswith("cpu")
