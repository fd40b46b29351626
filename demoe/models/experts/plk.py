"""The PLKBlock of PLKSR (Lee et al., 2024) as a DeMoE expert (paper App. F, Table 7).

A residual block of four stages:

* doubled convolutional channel mixer (DCCM): 3×3 conv C → 2C, GELU, 3×3 conv 2C → C;
* partial large-kernel convolution (PLK): a dense K×K convolution on the first
  ⌊C · split⌋ channels only, the others passed through;
* element-wise attention (EA): ``x * sigmoid(conv3×3(x))``;
* a 1×1 refinement, then the skip connection.

Defaults are PLKSR's main model (DCCM, K = 17, split ratio 0.25, EA on). Weights that
PLKSR initialises with a truncated normal (std 0.02) get the same. With these the
DeMoE has 119.64 M parameters (Table 7: 119.64 M) and 30.42 G MACs at 256² by ptflops
(Table 7: 30.46 G).
"""

from __future__ import annotations

import torch
from torch import nn

INIT_STD = 0.02


def _trunc_normal(conv: nn.Conv2d) -> nn.Conv2d:
    nn.init.trunc_normal_(conv.weight, std=INIT_STD)
    return conv


class PartialLargeKernelConv(nn.Module):
    """Dense ``kernel``×``kernel`` convolution on the first ``channels`` channels."""

    def __init__(self, channels: int, kernel: int) -> None:
        super().__init__()
        self.channels = channels
        self.conv = _trunc_normal(nn.Conv2d(channels, channels, kernel, padding=kernel // 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        head, tail = x.split([self.channels, x.shape[1] - self.channels], dim=1)
        return torch.cat([self.conv(head), tail], dim=1)


class ElementwiseAttention(nn.Module):
    """``x * sigmoid(conv3×3(x))``."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = _trunc_normal(nn.Conv2d(c, c, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.conv(x))


class PLKBlock(nn.Module):
    """PLKSR's block, channels in = channels out (see the module docstring)."""

    #: How the tables name this block (Table 7 rows: "<name> experts").
    display_name = "PLK block"

    def __init__(
        self, c: int, kernel: int = 17, split_ratio: float = 0.25, use_ea: bool = True
    ) -> None:
        super().__init__()
        partial = int(c * split_ratio)
        if not 1 <= partial <= c:
            raise ValueError(f"split_ratio {split_ratio} leaves no channel of {c} for the PLK")
        self.channel_mixer = nn.Sequential(
            nn.Conv2d(c, 2 * c, 3, padding=1),
            nn.GELU(),
            _trunc_normal(nn.Conv2d(2 * c, c, 3, padding=1)),
        )
        self.large_kernel = PartialLargeKernelConv(partial, kernel)
        self.attn = ElementwiseAttention(c) if use_ea else nn.Identity()
        self.refine = _trunc_normal(nn.Conv2d(c, c, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.refine(self.attn(self.large_kernel(self.channel_mixer(x))))
        return x + y
