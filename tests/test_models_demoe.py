"""DeMoE and NAFNet behaviour beyond the published outputs."""

from __future__ import annotations

import pytest
import torch
from conftest import randomize_affine

from demoe.models import DeMoE, NAFNet, create_model
from demoe.models.layers import LayerNorm2d, NAFBlock
from demoe.tasks import TASK_ALIASES, TASKS


def small(**kw) -> DeMoE:
    return randomize_affine(create_model("demoe_small", **kw)).eval()


def test_layernorm2d_matches_layer_norm_over_channels():
    ln = LayerNorm2d(6)
    with torch.no_grad():
        ln.weight.uniform_(0.5, 1.5)
        ln.bias.uniform_(-1, 1)
    x = torch.randn(2, 6, 5, 7)
    ref = torch.nn.functional.layer_norm(
        x.permute(0, 2, 3, 1), (6,), ln.weight, ln.bias, eps=1e-6
    ).permute(0, 3, 1, 2)
    torch.testing.assert_close(ln(x), ref, atol=1e-5, rtol=1e-5)


def test_nafblock_starts_as_identity_and_keeps_shape():
    block = NAFBlock(8)
    x = torch.randn(2, 8, 9, 11)
    torch.testing.assert_close(block(x), x)
    randomize_affine(block)
    assert block(x).shape == x.shape
    assert not torch.allclose(block(x), x)


@pytest.mark.parametrize("alias", sorted(TASK_ALIASES))
def test_aliases_select_the_same_expert_as_the_task(alias):
    model = small()
    x = torch.rand(1, 3, 20, 24)
    with torch.inference_mode():
        torch.testing.assert_close(model(x, task=alias), model(x, task=TASK_ALIASES[alias]))


def test_manual_tasks_differ_from_each_other():
    model = small()
    x = torch.rand(1, 3, 16, 16)
    with torch.inference_mode():
        outs = [model(x, task=t) for t in TASKS]
    assert all(not torch.allclose(outs[0], o) for o in outs[1:])


def test_unknown_task_lists_valid_names():
    with pytest.raises(ValueError, match="valid tasks: auto, defocus"):
        small()(torch.rand(1, 3, 16, 16), task="gopr0")


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (torch.rand(3, 16, 16), "4-D"),
        (torch.rand(1, 4, 16, 16), "expected 3 channels"),
        (torch.rand(0, 3, 16, 16), "empty batch"),
        (torch.full((1, 3, 16, 16), float("nan")), "NaN"),
        (torch.full((1, 3, 16, 16), float("inf")), "NaN or infinite"),
    ],
)
def test_bad_input_is_a_clear_error(x, message):
    with pytest.raises(ValueError, match=message):
        small()(x)


@pytest.mark.parametrize(
    "model_fn",
    [
        small,
        lambda: randomize_affine(
            NAFNet(width=4, middle_blk_num=1, enc_blk_nums=(1, 1), dec_blk_nums=(1, 1))
        ).eval(),
    ],
)
def test_one_pixel_and_odd_sizes(model_fn):
    model = model_fn()
    with torch.inference_mode():
        for h, w in [(1, 1), (17, 5), (33, 64)]:
            x = torch.rand(1, 3, h, w)
            assert model(x).shape == (1, 3, h, w)


def test_large_image_works():
    model = create_model("demoe_small").eval()
    x = torch.rand(1, 3, 3000, 4000)
    with torch.inference_mode():
        out = model(x)
    assert out.shape == x.shape
    assert torch.isfinite(out).all()


def test_soft_gating_equals_weighted_sum_of_manual_experts():
    model = small()
    x = torch.rand(2, 3, 16, 16)
    with torch.inference_mode():
        aux = small  # keep names short below
        del aux
        model.gating = "soft"
        mixed = model(x, return_aux=True)
    weights = mixed.weights
    assert torch.allclose(weights.sum(1), torch.ones(2))
    assert torch.all(weights > 0)
    # With one MoE stage carrying the whole difference, soft gating is a convex mix;
    # here we check the weaker, exact property: it is not any single expert's output.
    with torch.inference_mode():
        for t in TASKS:
            assert not torch.allclose(mixed.output, model(x, task=t), atol=1e-6)


def test_top1_runs_the_argmax_expert_per_item():
    model = small()
    x = torch.rand(3, 3, 16, 16)
    with torch.inference_mode():
        probs = model.route(x)
        out = model(x)
        for i in range(3):
            by_hand = model(x[i : i + 1], task=TASKS[int(probs[i].argmax())])
            torch.testing.assert_close(out[i : i + 1], by_hand, atol=1e-5, rtol=1e-5)


def test_top2_mixes_two_experts_with_renormalised_weights():
    model = small(k_used=2)
    block = model.experts[0]
    h = torch.randn(2, block.experts[0].conv1.in_channels, 4, 4)
    w = torch.tensor([[0.1, 0.6, 0.2, 0.05, 0.05], [0.5, 0.1, 0.1, 0.1, 0.2]])
    with torch.inference_mode():
        got = block(h, w, sparse=True)
        e = block.experts
        ref0 = (0.6 * e[1](h[:1]) + 0.2 * e[2](h[:1])) / 0.8
        ref1 = (0.5 * e[0](h[1:]) + 0.2 * e[4](h[1:])) / 0.7
    torch.testing.assert_close(got, torch.cat([ref0, ref1]), atol=1e-5, rtol=1e-5)


def test_training_mode_uses_soft_gating_and_eval_uses_top_k():
    model = small()
    h = torch.randn(2, model.experts[0].experts[0].conv1.in_channels, 4, 4)
    w = torch.softmax(torch.randn(2, 5), 1)
    block = model.experts[0]
    torch.testing.assert_close(
        block(h, w, sparse=False),
        sum(w[:, e].view(-1, 1, 1, 1) * block.experts[e](h) for e in range(5)),
    )


@pytest.mark.parametrize("connection", ["residual", "attention"])
def test_connection_variants_change_the_output(connection):
    torch.manual_seed(1)
    base = small()
    variant = create_model("demoe_small", connection=connection).eval()
    variant.load_state_dict(base.state_dict())
    x = torch.rand(1, 3, 16, 16)
    with torch.inference_mode():
        assert not torch.allclose(base(x), variant(x))


def test_more_moe_blocks_per_stage_and_baseline_layout():
    model = create_model("demoe_small", moe_blocks_per_stage=2)
    assert len(model.experts) == 2 * 5
    baseline = create_model("demoe_baseline")
    assert all(len(b.experts) == 1 for b in baseline.experts)
    assert baseline.mlp_branch.classifier[6].out_features == 5
    with pytest.raises(ValueError, match="block_experts"):
        create_model("demoe_small", block_experts=3)


def test_router_noise_only_in_training():
    model = small(router_noise=1.0)
    x = torch.rand(2, 3, 16, 16)
    with torch.inference_mode():
        a, b = model(x, return_aux=True).logits, model(x, return_aux=True).logits
    torch.testing.assert_close(a, b)
    model.train()
    assert not torch.allclose(model(x, return_aux=True).logits, model(x, return_aux=True).logits)


def test_backward_reaches_router_under_soft_gating():
    model = small().train()
    out = model(torch.rand(2, 3, 16, 16), return_aux=True)
    out.output.abs().mean().backward()
    assert model.mlp_branch.classifier[6].weight.grad.abs().sum() > 0
    assert all(e.conv1.weight.grad is not None for e in model.experts[0].experts)
