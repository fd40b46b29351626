"""A small U-Net: an example of bringing your own model to the demoe workflow.

Any ``torch.nn.Module`` whose forward maps an N x 3 x H x W image batch in [0, 1] to a
restored batch of the same shape will do; this one is two levels deep with a global
residual, about 0.1 M parameters at ``width=16``. Input sides that are not multiples of 4
are padded (reflect) and the output cropped back, so any image size works.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _block(channels_in: int, channels_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(channels_in, channels_out, 3, padding=1),
        nn.GELU(),
        nn.Conv2d(channels_out, channels_out, 3, padding=1),
        nn.GELU(),
    )


class SmallUNet(nn.Module):
    """Two-level U-Net predicting a residual added to the blurry input."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.enc1 = _block(3, width)
        self.enc2 = _block(width, 2 * width)
        self.bottom = _block(2 * width, 4 * width)
        self.up2 = nn.ConvTranspose2d(4 * width, 2 * width, 2, stride=2)
        self.dec2 = _block(4 * width, 2 * width)
        self.up1 = nn.ConvTranspose2d(2 * width, width, 2, stride=2)
        self.dec1 = _block(2 * width, width)
        self.out = nn.Conv2d(width, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        padded = F.pad(x, (0, -w % 4, 0, -h % 4), mode="reflect")
        e1 = self.enc1(padded)
        e2 = self.enc2(F.max_pool2d(e1, 2))
        b = self.bottom(F.max_pool2d(e2, 2))
        d2 = self.dec2(torch.cat([self.up2(b), e2], dim=1))
        d1 = self.dec1(torch.cat([self.up1(d2), e1], dim=1))
        return (padded + self.out(d1))[..., :h, :w]
