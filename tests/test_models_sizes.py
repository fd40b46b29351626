"""Model sizes as the paper gives them (Tables 1 and 5, App. F, Sec. 5 / Fig. 6) and the
router-less networks the paper's NAFNet, DeMoE* and DeMoE-5 are (Sec. 3.3, 4.3, 5)."""

from __future__ import annotations

import pytest
import torch
from conftest import randomize_affine

from demoe.eval.cost import count_macs, count_params, preset_cost
from demoe.models import DeMoE, NAFNet, TaskEnsemble, create_model, nafnet_from_expert
from demoe.models.registry import TABLE5_VARIANTS, build_model, model_to_config
from demoe.tasks import TASKS

#: preset → (params M, MACs G at 256², where the paper gives them)
PAPER_SIZES = {
    "nafnet": (10.08, 11.02, "Table 1 NAFNet; Table 5 baselines"),
    "demoe": (20.15, 11.05, "Table 1 DeMoE k=1"),
    "nafnet_original_arch": (22.07, 20.37, "Table 5 Baseline w/ original architecture"),
    "demoe_middle12": (38.67, 15.11, "Table 5 More middle NAFBlocks"),
    "demoe_moe_blocks2": (32.54, 13.18, "Table 5 More MoEBlocks"),
    "demoe_width64": (79.71, 42.77, "App. F, width 64"),
}


@pytest.mark.parametrize("name", sorted(PAPER_SIZES))
def test_paper_scale_sizes_match_the_paper(name):
    params_m, macs_g, where = PAPER_SIZES[name]
    model = create_model(name).eval()
    assert count_params(model) / 1e6 == pytest.approx(params_m, rel=0.005), where
    macs = count_macs(model, torch.rand(1, 3, 256, 256)) / 1e9
    assert macs == pytest.approx(macs_g, rel=0.01), where


def test_demoe5_is_five_nafnets_and_costs_one():
    """Sec. 5: DeMoE-5 has 50.4 M parameters; one image runs one member."""
    ensemble = create_model("demoe5")
    assert count_params(ensemble) == 5 * count_params(create_model("nafnet"))
    assert count_params(ensemble) / 1e6 == pytest.approx(50.4, rel=0.005)
    small = preset_cost("demoe5", size=32, repeats=1, warmup=0)
    single = preset_cost("nafnet", size=32, repeats=1, warmup=0)
    assert small.macs_g == single.macs_g
    assert small.params_m == pytest.approx(5 * single.params_m)


def small_demoe(**kw) -> DeMoE:
    config = dict(width=8, middle_blk_num=1, enc_blk_nums=[1, 2], dec_blk_nums=[1, 1])
    return randomize_affine(DeMoE(**config, **kw)).eval()


@pytest.mark.parametrize("per_stage", [1, 2])
def test_expert_network_computes_the_k1_path(per_stage):
    """Sec. 3.3: with top-1 routing DeMoE is the NAFNet baseline through that expert."""
    model = small_demoe(moe_blocks_per_stage=per_stage)
    x = torch.rand(2, 3, 13, 18)
    with torch.inference_mode():
        for task in TASKS:
            net = nafnet_from_expert(model, task)
            assert isinstance(net, NAFNet)
            torch.testing.assert_close(net(x), model(x, task=task), atol=1e-5, rtol=1e-5)
    assert net.config["middle_blk_num"] == 1 + per_stage
    assert net.config["dec_blk_nums"] == [1 + per_stage, 1 + per_stage]


def test_other_connections_do_not_reduce_to_a_nafnet():
    with pytest.raises(ValueError, match="'sum' connection"):
        nafnet_from_expert(small_demoe(connection="attention"), "defocus")


@pytest.mark.parametrize(
    ("stage1", "nafnet"),
    [
        ({}, "nafnet"),
        (TABLE5_VARIANTS["original_arch"], "nafnet_original_arch"),
    ],
)
def test_nafnet_presets_are_the_stage1_networks_without_router(stage1, nafnet):
    baseline = create_model("demoe_baseline", **stage1)
    assert nafnet_from_expert(baseline, "defocus").config == (create_model(nafnet).config)
    router = count_params(baseline.mlp_branch)
    assert count_params(baseline) - router == count_params(create_model(nafnet))


def test_ensemble_dispatches_to_the_member_of_the_task():
    torch.manual_seed(0)
    members = {
        t: randomize_affine(NAFNet(width=4, enc_blk_nums=[1], dec_blk_nums=[1])) for t in TASKS
    }
    ensemble = TaskEnsemble.from_members(members).eval()
    x = torch.rand(1, 3, 10, 12)
    with torch.inference_mode():
        for task, member in members.items():
            torch.testing.assert_close(ensemble(x, task=task), member.eval()(x))
        with pytest.raises(ValueError, match="no router"):
            ensemble(x)
    rebuilt = build_model(model_to_config(ensemble))
    assert rebuilt.state_dict().keys() == ensemble.state_dict().keys()
    with pytest.raises(ValueError, match="one architecture"):
        TaskEnsemble.from_members({"defocus": NAFNet(width=4), "low_light": NAFNet(width=8)})
