"""The DarkIR block (Feijoo et al., CVPR 2025) as a DeMoE expert (paper App. F, Table 7).

DarkIR's encoder block: a spatial branch like the NAFBlock's, with an extra depthwise
3×3 before the point-wise expansion and dilated depthwise convolutions (one per entry
of ``dilations``, summed) in place of the single 3×3, then a frequency branch: an MLP
(1×1 convolutions with a leaky ReLU) applied to the amplitude of the image's 2-D
Fourier transform, the phase kept, whose inverse transform gates the features.

``y = x + beta * conv3(SCA(SG(sum_d dwconv_d(conv1(dw(LN(x)))))))``;
``out = y + gamma * (y * iFFT(MLP(|FFT(LN(y))|), angle(FFT(LN(y)))))``.

Defaults are DarkIR's published network settings for this block (``dilations=(1,)``,
the extra depthwise convolution on, amplitude-MLP expansion 2). Of DarkIR's two
blocks, this one reproduces Table 7's size: its parameters are 8c² + 43c per block
(the NAFBlock's 7c² + ...), which gives the DeMoE 21.95 M parameters (Table 7: 21.9 M).
DarkIR's decoder block (dilations 1, 4, 9 and a NAFBlock feed-forward) would give
20.5 M. ptflops counts 10.74 G MACs at 256² against the table's 11.05 G (-2.8 %, the
one Table 7 cell outside 1 %): ptflops does not count the Fourier transforms, and the
amplitude MLP runs on the half spectrum (W/2 + 1 columns), so the block counts about
5c² MACs per pixel against the NAFBlock's 6c². The other readings we tried do not fit
both columns: this block with DarkIR's decoder dilations (1, 4, 9) gives 10.91 G
(22.14 M), the decoder block 20.5 M parameters (-6 %).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from demoe.models.layers import ChannelPool, LayerNorm2d, SimpleGate


class AmplitudeMLP(nn.Module):
    """1×1 MLP on the Fourier amplitude of ``x``, recombined with the untouched phase."""

    def __init__(self, c: int, expand: int = 2) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Conv2d(c, expand * c, 1),
            nn.LeakyReLU(0.1),
            nn.Conv2d(expand * c, c, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        spectrum = torch.fft.rfft2(x.float(), norm="backward")
        amplitude = self.mlp(spectrum.abs().to(x.dtype)).float()
        phase = spectrum.angle()
        # the MLP's amplitude may be negative: build the complex values directly
        out = torch.complex(amplitude * phase.cos(), amplitude * phase.sin())
        return torch.fft.irfft2(out, s=(h, w), norm="backward").to(x.dtype)


class DarkIRBlock(nn.Module):
    """DarkIR encoder block, channels in = channels out (see the module docstring)."""

    #: How the tables name this block (Table 7 rows: "<name> experts").
    display_name = "DarkIR block"

    def __init__(
        self,
        c: int,
        dw_expand: int = 2,
        dilations: Sequence[int] = (1,),
        extra_depthwise: bool = True,
        freq_expand: int = 2,
    ) -> None:
        super().__init__()
        dw = c * dw_expand
        self.norm1 = LayerNorm2d(c)
        self.extra_conv = nn.Conv2d(c, c, 3, padding=1, groups=c) if extra_depthwise else None
        self.conv1 = nn.Conv2d(c, dw, 1)
        self.branches = nn.ModuleList(
            nn.Conv2d(dw, dw, 3, padding=d, dilation=d, groups=dw) for d in dilations
        )
        self.sg = SimpleGate()
        self.sca = nn.Sequential(ChannelPool(), nn.Conv2d(dw // 2, dw // 2, 1))
        self.conv3 = nn.Conv2d(dw // 2, c, 1)
        self.norm2 = LayerNorm2d(c)
        self.freq = AmplitudeMLP(c, freq_expand)
        self.beta = nn.Parameter(torch.zeros(1, c, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, c, 1, 1))

    def forward(self, inp: torch.Tensor) -> torch.Tensor:
        x = self.norm1(inp)
        if self.extra_conv is not None:
            x = self.extra_conv(x)
        x = self.conv1(x)
        x = self.sg(sum(branch(x) for branch in self.branches))
        x = self.conv3(x * self.sca(x))
        y = inp + self.beta * x
        x = y * self.freq(self.norm2(y))
        return y + self.gamma * x
