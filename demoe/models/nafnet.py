"""NAFNet (Chen et al., ECCV 2022) as the paper's baseline (Sec. 3.2–3.3, Table 1 "NAFNet").

The defaults are the paper's NAFNet baseline: width 32, two NAFBlocks per encoder level
and three in the middle and in each decoder level (App. F, "Pretrained baseline
ablations"), 10.077 M parameters (Table 1 and Table 5 give 10.08 M). Sec. 3.3 decides
what the baseline is: with top-1 routing "the DeMoE architecture is equivalent to our
NAFNet baseline", i.e. DeMoE's k=1 path without the router (the router is what Sec. 5
names as DeMoE's extra parameters over NAFNet). :func:`nafnet_from_expert` cuts that
network out of a DeMoE: each MoE block becomes the chosen expert, appended to the
middle / decoder blocks before it.

State-dict keys follow the original NAFNet release (``encoders.{i}.{j}``,
``middle_blks.{j}``, ``decoders.{i}.{j}``, ``ups.{i}.0``), so its published
checkpoints load unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from demoe.models.demoe import DeMoE
from demoe.models.layers import NAFBlock
from demoe.models.unet import UNet, plain_blocks
from demoe.tasks import task_index


class NAFNet(UNet):
    def __init__(
        self,
        img_channel: int = 3,
        width: int = 32,
        middle_blk_num: int = 3,
        enc_blk_nums: Sequence[int] = (2, 2, 2, 2),
        dec_blk_nums: Sequence[int] = (3, 3, 3, 3),
    ) -> None:
        super().__init__(
            img_channel, width, middle_blk_num, enc_blk_nums, dec_blk_nums, plain_blocks
        )
        self.config = {
            "img_channel": img_channel,
            "width": width,
            "middle_blk_num": middle_blk_num,
            "enc_blk_nums": list(enc_blk_nums),
            "dec_blk_nums": list(dec_blk_nums),
        }

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        h, w = inp.shape[-2:]
        x = self.prepare(inp)
        feats, skips = self.encode(x)
        out = self.decode(feats, skips) + x
        return out[..., :h, :w]


def nafnet_from_expert(model: DeMoE, task: str) -> NAFNet:
    """The k=1 network of ``model`` for ``task``'s expert, without the router (Sec. 3.3).

    The result computes exactly ``model(x, task=task)`` for a DeMoE with the "sum"
    connection (Eq. 2) and NAFBlock experts; it is how DeMoE* starts (Table 3,
    Sec. 4.3: "a single expert in the decoder"), and with a stage-1 DeMoE
    (``block_experts=1``, any ``task``) it is the NAFNet baseline of that run.
    """
    connection = model.experts[0].connection
    if connection != "sum":
        raise ValueError(
            f"only a DeMoE with the 'sum' connection reduces to a NAFNet, not {connection!r}"
        )
    expert = task_index(task) if len(model.experts[0].experts) > 1 else 0
    per_stage = model.moe_blocks_per_stage
    cfg = model.config
    net = NAFNet(
        cfg["img_channel"],
        cfg["width"],
        cfg["middle_blk_num"] + per_stage,
        cfg["enc_blk_nums"],
        [n + per_stage for n in cfg["dec_blk_nums"]],
    )
    for name in ("intro", "ending", "encoders", "downs", "ups"):
        _copy(getattr(net, name), getattr(model, name), flatten=name == "encoders")
    stages = [net.middle_blks, *net.decoders]
    sources = [model.middle_blks, *model.decoders]
    for stage, (target, source) in enumerate(zip(stages, sources, strict=True)):
        moe = model.experts[stage * per_stage : (stage + 1) * per_stage]
        blocks = [*source.modules_list, *(block.experts[expert] for block in moe)]
        for dst, src in zip(target, blocks, strict=True):
            if not isinstance(src, NAFBlock):
                raise ValueError(f"expert blocks must be NAFBlocks, got {type(src).__name__}")
            dst.load_state_dict(src.state_dict())
    return net.to(next(model.parameters()).device).train(model.training)


def _copy(target: nn.Module, source: nn.Module, flatten: bool) -> None:
    """Copy weights; ``flatten`` drops DeMoE's ``.modules_list`` level of each encoder."""
    state = source.state_dict()
    if flatten:
        state = {k.replace(".modules_list.", "."): v for k, v in state.items()}
    target.load_state_dict(state)
