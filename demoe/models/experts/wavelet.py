"""The wavelet expert: MLWNet's learnable-wavelet block (Gao et al., CVPR 2024; paper
App. F, Table 7 "Wavelet Expert").

A NAFBlock whose spatial mixing (1×1 expansion, depthwise 3×3, simple gate) is replaced
by the learnable wavelet node (LWN): a one-level 2-D discrete wavelet transform with
learnable 1-D filters (initialised to Haar), a 1×1 convolution 4c → 6c on the stacked
sub-bands, a depthwise 7×7, GELU, a 1×1 convolution 6c → 4c, and the inverse transform
with its own learnable filters. The channel attention, projection and gated
feed-forward are the NAFBlock's:

``y = x + beta * conv3(SCA(LWN(LN(x))))``; ``out = y + gamma * conv5(SG(conv4(LN(y))))``.

Defaults are MLWNet's (Haar initialisation, expansion 6/4, 7×7 kernel, no extra
spatial or channel attention in the LWN). With them the DeMoE has 101.89 M parameters
(Table 7: 101.89 M) and 14.60 G MACs at 256² by ptflops (Table 7: 14.64 G): the LWN's
convolutions run on the half-resolution sub-bands.

MLWNet adds a wavelet regulariser (perfect reconstruction, alias cancellation) to its
loss; DeMoE's stage-2 loss is L1 only (Sec. 3.4), so the filters here learn from the
pixel loss alone. Inputs of odd height or width are replicate-padded by one row or
column for the transform and cropped back, as in MLWNet's padding rule.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from demoe.models.layers import ChannelPool, LayerNorm2d, SimpleGate

_SQRT_HALF = 1.0 / math.sqrt(2.0)


def _band_filters(lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """The four separable 2-D filters (LL, LH, HL, HH) as a (4, 2, 2) tensor."""
    return torch.stack(
        [torch.outer(lo, lo), torch.outer(hi, lo), torch.outer(lo, hi), torch.outer(hi, hi)]
    )


class LearnableWavelet(nn.Module):
    """The LWN: learnable one-level DWT → point-wise/depthwise mixing → learnable IDWT."""

    def __init__(self, c: int, expand: int = 6, kernel: int = 7) -> None:
        super().__init__()
        haar_lo = torch.tensor([_SQRT_HALF, _SQRT_HALF])
        haar_hi = torch.tensor([_SQRT_HALF, -_SQRT_HALF])
        self.dec_lo = nn.Parameter(haar_lo.clone())
        self.dec_hi = nn.Parameter(haar_hi.clone())
        self.rec_lo = nn.Parameter(haar_lo.clone())
        self.rec_hi = nn.Parameter(haar_hi.clone())
        hidden = expand * c
        self.conv1 = nn.Conv2d(4 * c, hidden, 1)
        self.conv2 = nn.Conv2d(hidden, hidden, kernel, padding=kernel // 2, groups=hidden)
        self.act = nn.GELU()
        self.conv3 = nn.Conv2d(hidden, 4 * c, 1)

    def dwt(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) → (B, 4C, ⌈H/2⌉, ⌈W/2⌉), the sub-bands stacked LL, LH, HL, HH."""
        b, c, h, w = x.shape
        x = F.pad(x, (0, w % 2, 0, h % 2), mode="replicate")
        kernel = _band_filters(self.dec_lo, self.dec_hi).to(x.dtype).repeat(c, 1, 1)
        bands = F.conv2d(x, kernel.unsqueeze(1), stride=2, groups=c)  # (B, C·4, h, w)
        hh, ww = bands.shape[-2:]
        return bands.view(b, c, 4, hh, ww).transpose(1, 2).reshape(b, 4 * c, hh, ww)

    def idwt(self, bands: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """Inverse of :meth:`dwt`, cropped to ``size``."""
        b, c4, hh, ww = bands.shape
        c = c4 // 4
        grouped = bands.view(b, 4, c, hh, ww).transpose(1, 2).reshape(b, c4, hh, ww)
        kernel = _band_filters(self.rec_lo, self.rec_hi).to(bands.dtype).repeat(c, 1, 1)
        out = F.conv_transpose2d(grouped, kernel.unsqueeze(1), stride=2, groups=c)
        return out[..., : size[0], : size[1]]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv3(self.act(self.conv2(self.conv1(self.dwt(x)))))
        return self.idwt(y, x.shape[-2:])


class WaveletBlock(nn.Module):
    """MLWNet's wavelet block, channels in = channels out (see the module docstring)."""

    #: How the tables name this block (Table 7 rows: "<name> experts").
    display_name = "Wavelet (MLWNet LWN)"

    def __init__(self, c: int, ffn_expand: int = 2) -> None:
        super().__init__()
        ffn = c * ffn_expand
        self.norm1 = LayerNorm2d(c)
        self.wavelet = LearnableWavelet(c)
        self.sca = nn.Sequential(ChannelPool(), nn.Conv2d(c, c, 1))
        self.conv3 = nn.Conv2d(c, c, 1)
        self.norm2 = LayerNorm2d(c)
        self.conv4 = nn.Conv2d(c, ffn, 1)
        self.sg = SimpleGate()
        self.conv5 = nn.Conv2d(ffn // 2, c, 1)
        self.beta = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, c, 1, 1))

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        x = self.wavelet(self.norm1(inp))
        x = self.conv3(x * self.sca(x))
        y = inp + self.beta * x
        x = self.conv5(self.sg(self.conv4(self.norm2(y))))
        return y + self.gamma * x
