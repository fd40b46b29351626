"""Stage-2 initialisation (Sec. 3.4), freezing, and DeMoE* (Table 3) fine-tuning."""

from __future__ import annotations

import pytest
import torch
from conftest import randomize_affine

from demoe.errors import ConfigError
from demoe.experiments.catalogue import ALL_BUT_EXPERTS, STAGE2_FROZEN
from demoe.models import create_model
from demoe.models.checkpoint import save_model
from demoe.train.loop import Trainer
from demoe.train.stages import expand_baseline, freeze, set_train_mode
from demoe.train.toy import TINY_MODEL, toy_config, write_toy_aioblur


@pytest.fixture(scope="module")
def toy(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return write_toy_aioblur(tmp_path_factory.mktemp("toy"))


def _baseline() -> torch.nn.Module:
    return randomize_affine(create_model("demoe_baseline", **TINY_MODEL)).eval()


@pytest.mark.parametrize("blocks", [1, 2])
def test_expand_copies_each_block_into_every_expert(blocks):
    base = _baseline()
    model = create_model("demoe", moe_blocks_per_stage=blocks, **TINY_MODEL).eval()
    expand_baseline(model, base.state_dict())
    src = base.state_dict()
    for key, value in model.state_dict().items():
        parts = key.split(".")
        if parts[0] == "experts":
            stage = int(parts[1]) // blocks
            key = ".".join(["experts", str(stage), "experts", "0", *parts[4:]])
        assert torch.equal(value, src[key]), key
    x = torch.rand(2, 3, 32, 32)
    # identical experts: any mixture (soft or top-1) equals the single stage-1 block
    if blocks == 1:
        torch.testing.assert_close(model(x), base(x))
        model.train(), base.train()
        torch.manual_seed(1)
        soft = model(x)
        torch.manual_seed(1)
        torch.testing.assert_close(soft, base(x))


def test_freeze_groups_and_experts():
    model = create_model("demoe", **TINY_MODEL)
    trainable = freeze(model, STAGE2_FROZEN)
    assert trainable and all(not n.startswith(STAGE2_FROZEN) for n in trainable)
    assert any(n.startswith("middle_blks") for n in trainable)
    trainable = freeze(model, ALL_BUT_EXPERTS, trainable_experts=[3])
    assert trainable and all(n.startswith("experts.") and ".experts.3." in n for n in trainable)
    set_train_mode(model)
    assert not model.mlp_branch.training and model.experts[0].training
    with pytest.raises(ConfigError, match="unknown module group"):
        freeze(model, ["encoder"])
    with pytest.raises(ConfigError, match="nothing to train"):
        freeze(model, [*ALL_BUT_EXPERTS, "experts"])


def _changed(before: dict, after: dict) -> set[str]:
    return {k for k in before if not torch.equal(before[k], after[k])}


def test_stage2_trains_only_the_decoder_side(toy, tmp_path):
    save_model(_baseline(), tmp_path / "baseline")
    config = toy_config(
        toy,
        tmp_path,
        model={
            "preset": "demoe",
            "overrides": dict(TINY_MODEL),
            "gating": "auto",
            "router_noise": 0.0,
            "task": "auto",
        },
        init={"source": str(tmp_path / "baseline"), "mode": "expand"},
        freeze={"groups": list(STAGE2_FROZEN), "trainable_experts": None},
        loss={"lambda_cls": 0.0},
        schedule={"steps": 2},
    )
    trainer = Trainer(config)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.fit()
    changed = _changed(before, trainer.model.state_dict())
    groups = {k.split(".")[0] for k in changed}
    assert groups <= {"middle_blks", "ups", "decoders", "experts", "ending"}
    assert {"experts", "decoders", "ending"} <= groups
    # the five experts started equal and specialise under soft gating (Eq. 2)
    e0, e1 = (trainer.model.experts[1].experts[i].conv1.weight for i in (0, 1))
    assert not torch.equal(e0, e1)


def test_demoe_star_fine_tunes_one_expert(toy, tmp_path):
    demoe = randomize_affine(create_model("demoe", **TINY_MODEL))
    save_model(demoe, tmp_path / "demoe")
    config = toy_config(
        toy,
        tmp_path,
        model={
            "preset": "demoe",
            "overrides": dict(TINY_MODEL),
            "gating": "auto",
            "router_noise": 0.0,
            "task": "gopro",
        },
        init={"source": str(tmp_path / "demoe"), "mode": "copy"},
        freeze={"groups": list(ALL_BUT_EXPERTS), "trainable_experts": [3]},
        loss={"lambda_cls": 0.0},
        data={"datasets": ["gopro"]},
        schedule={"steps": 2},
    )
    trainer = Trainer(config)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.fit()
    changed = _changed(before, trainer.model.state_dict())
    assert changed and all(".experts.3." in k for k in changed)


def test_expert_init_takes_the_demoe_k1_path_of_one_task(tmp_path):
    """DeMoE* (Table 3) starts as the trained DeMoE restricted to its task's expert."""
    from demoe.models import NAFNet
    from demoe.train.stages import initialise

    demoe = randomize_affine(create_model("demoe_small")).eval()
    save_model(demoe, tmp_path / "demoe")
    config = demoe.config
    star = NAFNet(
        width=config["width"],
        middle_blk_num=config["middle_blk_num"] + 1,
        enc_blk_nums=config["enc_blk_nums"],
        dec_blk_nums=[n + 1 for n in config["dec_blk_nums"]],
    )
    initialise(star, str(tmp_path / "demoe"), "expert", "low_light")
    x = torch.rand(1, 3, 16, 16)
    with torch.inference_mode():
        torch.testing.assert_close(star.eval()(x), demoe(x, task="low_light"))
    with pytest.raises(ConfigError, match="init.expert"):
        initialise(star, str(tmp_path / "demoe"), "expert")
