"""The NAFNet U-Net skeleton shared by NAFNet and DeMoE (paper Fig. 3).

intro 3×3 conv → per encoder level: blocks, 2×2 stride-2 conv (c→2c) → middle blocks
→ per decoder level: 1×1 conv (c→2c, no bias) + PixelShuffle(2), add the skip, blocks
→ ending 3×3 conv → add the input. The input is zero-padded bottom/right to a
multiple of 2^levels and the output cropped back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import torch
from torch import nn

from demoe.models.layers import (
    NAFBlock,
    check_image_batch,
    pad_to_multiple,
    refuse_non_finite_input,
)

StageHook = Callable[[int, torch.Tensor], torch.Tensor]


class UNet(nn.Module):
    """U-Net of NAFBlocks. ``make_blocks(channels, n)`` builds one level's block sequence,
    which fixes the state-dict layout (``nn.Sequential`` for NAFNet, ``BlockSequence``
    for DeMoE)."""

    def __init__(
        self,
        img_channel: int,
        width: int,
        middle_blk_num: int,
        enc_blk_nums: Sequence[int],
        dec_blk_nums: Sequence[int],
        make_blocks: Callable[[int, int], nn.Module],
    ) -> None:
        super().__init__()
        if len(enc_blk_nums) != len(dec_blk_nums):
            raise ValueError(
                f"enc_blk_nums {list(enc_blk_nums)} and dec_blk_nums {list(dec_blk_nums)} "
                "must have the same number of levels"
            )
        self.img_channel = img_channel
        self.register_forward_pre_hook(refuse_non_finite_input, with_kwargs=True)
        self.intro = nn.Conv2d(img_channel, width, 3, padding=1)
        self.ending = nn.Conv2d(width, img_channel, 3, padding=1)
        self.encoders = nn.ModuleList()
        self.downs = nn.ModuleList()
        self.ups = nn.ModuleList()
        self.decoders = nn.ModuleList()
        chan = width
        for num in enc_blk_nums:
            self.encoders.append(make_blocks(chan, num))
            self.downs.append(nn.Conv2d(chan, 2 * chan, 2, 2))
            chan *= 2
        self.bottleneck_channels = chan
        self.middle_blks = make_blocks(chan, middle_blk_num)
        self.level_channels: list[int] = [chan]
        for num in dec_blk_nums:
            self.ups.append(
                nn.Sequential(nn.Conv2d(chan, chan * 2, 1, bias=False), nn.PixelShuffle(2))
            )
            chan //= 2
            self.decoders.append(make_blocks(chan, num))
            self.level_channels.append(chan)
        self.padder_size = 2 ** len(enc_blk_nums)

    def encode(self, inp: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Features after the last downsampling, and the skips of every level."""
        x = self.intro(inp)
        skips = []
        for encoder, down in zip(self.encoders, self.downs, strict=True):
            x = encoder(x)
            skips.append(x)
            x = down(x)
        return x, skips

    def decode(
        self, x: torch.Tensor, skips: list[torch.Tensor], after_stage: StageHook | None = None
    ) -> torch.Tensor:
        """Middle blocks and decoder; ``after_stage(s, x)`` runs after the middle blocks
        (s = 0) and after decoder level s (s = 1…levels)."""
        x = self.middle_blks(x)
        if after_stage is not None:
            x = after_stage(0, x)
        for s, (decoder, up, skip) in enumerate(
            zip(self.decoders, self.ups, reversed(skips), strict=True), start=1
        ):
            x = decoder(up(x) + skip)
            if after_stage is not None:
                x = after_stage(s, x)
        return self.ending(x)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        check_image_batch(x, self.img_channel)
        return pad_to_multiple(x, self.padder_size)

    def block_strides(self) -> Iterator[tuple[str, NAFBlock, int]]:
        """Every NAFBlock with its name and its feature stride relative to the input."""
        levels = len(self.encoders)
        for name, module in self.named_modules():
            if not isinstance(module, NAFBlock):
                continue
            part, idx = name.split(".")[:2]
            if part == "encoders":
                stride = 2 ** int(idx)
            elif part == "middle_blks":
                stride = 2**levels
            elif part == "decoders":
                stride = 2 ** (levels - 1 - int(idx))
            else:
                stride = self.stage_stride(part, idx)
            yield name, module, stride

    def stage_stride(self, part: str, idx: str) -> int:
        raise ValueError(f"no stride known for module group {part!r}")


def plain_blocks(channels: int, num: int) -> nn.Sequential:
    """NAFNet layout: ``encoders.{i}.{j}``."""
    return nn.Sequential(*(NAFBlock(channels) for _ in range(num)))
