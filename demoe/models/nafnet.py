"""NAFNet (Chen et al., ECCV 2022): the per-dataset models of the paper's Sec. 3.1.

State-dict keys follow the original NAFNet release (``encoders.{i}.{j}``,
``middle_blks.{j}``, ``decoders.{i}.{j}``, ``ups.{i}.0``), so its published
checkpoints load unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from demoe.models.unet import UNet, plain_blocks


class NAFNet(UNet):
    def __init__(
        self,
        img_channel: int = 3,
        width: int = 32,
        middle_blk_num: int = 2,
        enc_blk_nums: Sequence[int] = (2, 2, 2, 2),
        dec_blk_nums: Sequence[int] = (2, 2, 2, 2),
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
