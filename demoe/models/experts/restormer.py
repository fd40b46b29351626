"""The Restormer transformer block (Zamir et al., CVPR 2022) as a DeMoE expert (paper
App. F, Table 7).

Multi-Dconv head transposed attention (MDTA) then the gated-Dconv feed-forward network
(GDFN), each after a layer norm with bias and added to its input:

* MDTA: 1×1 then depthwise 3×3 convolutions give Q, K, V; per head, Q and K are
  L2-normalised along the pixels and the C/h × C/h channel-to-channel attention
  ``softmax(Q Kᵀ · τ)`` (τ a learnt per-head temperature) mixes V; a 1×1 projects back.
* GDFN: 1×1 to 2·⌊2.66 C⌋ channels, depthwise 3×3, ``GELU(x1) * x2``, 1×1 back to C.

Defaults are Restormer's: expansion factor 2.66, convolutions without bias, layer norm
with bias. Restormer's heads grow with depth (1, 2, 4, 8 at its four levels); at
DeMoE's width 32 the levels have 32·2^l channels, so the default is one head per 32
channels, at most 8 (1, 2, 4, 8, 8 from the full-resolution level down). With these
the DeMoE has 29.06 M parameters (Table 7: 29.06 M). ptflops (PyTorch backend) counts
13.25 G MACs at 256² (Table 7: 13.25 G): like Restormer's code, the attention products
use the ``@`` operator, which that backend does not count; counting them (ptflops'
aten backend) gives 13.48 G.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from demoe.models.layers import LayerNorm2d

HEAD_CHANNELS = 32
MAX_HEADS = 8


def default_heads(c: int) -> int:
    """Restormer's head schedule mapped onto DeMoE's levels: one head per 32 channels,
    at most 8, reduced to the largest count that divides ``c``."""
    heads = min(MAX_HEADS, max(1, c // HEAD_CHANNELS))
    while c % heads:
        heads -= 1
    return heads


class TransposedAttention(nn.Module):
    """MDTA: attention across channels within each head, linear in the pixel count."""

    def __init__(self, c: int, heads: int, bias: bool = False) -> None:
        super().__init__()
        if c % heads:
            raise ValueError(f"channels ({c}) must be divisible by the number of heads ({heads})")
        self.heads = heads
        self.temperature = nn.Parameter(torch.ones(heads, 1, 1))
        self.qkv = nn.Conv2d(c, 3 * c, 1, bias=bias)
        self.qkv_dwconv = nn.Conv2d(3 * c, 3 * c, 3, padding=1, groups=3 * c, bias=bias)
        self.project_out = nn.Conv2d(c, c, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = (
            t.reshape(b, self.heads, c // self.heads, h * w)
            for t in self.qkv_dwconv(self.qkv(x)).chunk(3, dim=1)
        )
        q = F.normalize(q, dim=-1)
        k = F.normalize(k, dim=-1)
        attn = (q @ k.transpose(-2, -1)) * self.temperature
        out = attn.softmax(dim=-1) @ v
        return self.project_out(out.reshape(b, c, h, w))


class GatedDconvFFN(nn.Module):
    """GDFN: gated depthwise-convolution feed-forward network."""

    def __init__(self, c: int, expansion: float = 2.66, bias: bool = False) -> None:
        super().__init__()
        hidden = int(c * expansion)
        self.project_in = nn.Conv2d(c, 2 * hidden, 1, bias=bias)
        self.dwconv = nn.Conv2d(2 * hidden, 2 * hidden, 3, padding=1, groups=2 * hidden, bias=bias)
        self.project_out = nn.Conv2d(hidden, c, 1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = self.dwconv(self.project_in(x)).chunk(2, dim=1)
        return self.project_out(F.gelu(x1) * x2)


class RestormerBlock(nn.Module):
    """Restormer transformer block, channels in = channels out (see the module docstring)."""

    #: How the tables name this block (Table 7 rows: "<name> experts").
    display_name = "Restormer block"

    def __init__(
        self, c: int, heads: int | None = None, ffn_expansion: float = 2.66, bias: bool = False
    ) -> None:
        super().__init__()
        self.norm1 = LayerNorm2d(c, eps=1e-5)
        self.attn = TransposedAttention(c, default_heads(c) if heads is None else heads, bias)
        self.norm2 = LayerNorm2d(c, eps=1e-5)
        self.ffn = GatedDconvFFN(c, ffn_expansion, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))
