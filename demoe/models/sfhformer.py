"""SFHformer (Jiang et al., ECCV 2024), a compared method of Tables 1 and 2.

A U-shaped network of three widths (c, 2c, 4c) whose blocks mix tokens in two
branches, a local one (depthwise dilated convolutions) and a global one working on the
whole feature map's 2-D Fourier spectrum, followed by a multi-scale depthwise
feed-forward. Written from the paper and the official repository's description
(deng-ai-lab/SFHformer, ``Backbone`` as built by ``SFHformer_l``, the motion-deblurring
model): the module and parameter names are the official ones (including its spelling
``mixer_gloal``), so official checkpoints load with ``strict=True``, and the outputs
equal the official network's (tests/data/competitors/). The deblurring preset has
7.67 M parameters and 52.32 G MACs at 256×256 (Table 1).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from demoe.errors import ConfigError
from demoe.models.registry import StateDict, register_architecture
from demoe.models.restormer import layout_matches, reflect_pad_to_multiple, shrink_count

#: ``SFHformer_l()``, the default model of the official GoPro training script.
SFHFORMER_DEBLUR: dict[str, Any] = {
    "in_chans": 3,
    "out_chans": 3,
    "patch_size": 1,
    "embed_dim": [32, 64, 128, 64, 32],
    "depth": [6, 6, 10, 6, 6],
    "embed_kernel_size": 3,
}

#: Height and width the network takes: two stride-2 downsamplings, whose outputs are
#: upsampled ×2 and concatenated with the skips.
SFHFORMER_MULTIPLE = 4


class FourierUnit(nn.Module):
    """A learned filter of the feature map's spectrum: ``rfft2`` over the whole map, real
    and imaginary parts as interleaved channels (2i, 2i+1), BatchNorm, a depthwise 3×3
    convolution added, then ``groups`` 1×1 filters mixed per frequency by softmax
    weights predicted from the spectrum itself, GELU, and back with ``irfft2``."""

    def __init__(self, channels: int, groups: int = 4) -> None:
        super().__init__()
        spectral = 2 * channels
        self.groups = groups
        self.bn = nn.BatchNorm2d(spectral)
        self.fdc = nn.Conv2d(spectral, spectral * groups, 1, groups=groups)
        self.weight = nn.Sequential(nn.Conv2d(spectral, groups, 1), nn.Softmax(dim=1))
        self.fpe = nn.Conv2d(spectral, spectral, 3, padding=1, groups=spectral)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        spectrum = torch.fft.rfft2(x, norm="ortho")
        z = torch.stack((spectrum.real, spectrum.imag), dim=2).flatten(1, 2)
        z = self.bn(z)
        z = self.fpe(z) + z
        mixing = self.weight(z).unsqueeze(2)
        z = self.fdc(z).unflatten(1, (self.groups, z.shape[1]))
        z = F.gelu((z * mixing).sum(dim=1)).unflatten(1, (-1, 2))
        return torch.fft.irfft2(torch.complex(z[:, :, 0], z[:, :, 1]), s=(h, w), norm="ortho")


class LocalMixer(nn.Module):
    """Depthwise 3×3 convolutions: dilation 1 on the first half of the channels,
    dilation 2 on the second."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        half = dim // 2
        self.CDilated_1 = nn.Conv2d(half, half, 3, padding=1, groups=half)
        self.CDilated_2 = nn.Conv2d(half, half, 3, padding=2, dilation=2, groups=half)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.chunk(2, dim=1)
        return torch.cat([self.CDilated_1(a), self.CDilated_2(b)], dim=1)


class GlobalMixer(nn.Module):
    """Widen ×2 (1×1 conv, GELU), add the :class:`FourierUnit` of it, narrow back
    (1×1 conv, GELU)."""

    def __init__(self, dim: int, fourier_groups: int = 4) -> None:
        super().__init__()
        self.conv_init = nn.Sequential(nn.Conv2d(dim, 2 * dim, 1), nn.GELU())
        self.conv_fina = nn.Sequential(nn.Conv2d(2 * dim, dim, 1), nn.GELU())
        self.FFC = FourierUnit(2 * dim, fourier_groups)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv_init(x)
        return self.conv_fina(self.FFC(x) + x)


class Mixer(nn.Module):
    """The token mixer: a 1×1 conv to 2·dim, one half through :class:`LocalMixer`, the
    other through :class:`GlobalMixer`, GELU, channel attention (squeeze-excitation,
    reduction 2) and a 1×1 conv back to dim."""

    def __init__(self, dim: int, fourier_groups: int = 4) -> None:
        super().__init__()
        self.dim = dim
        self.mixer_local = LocalMixer(dim)
        self.mixer_gloal = GlobalMixer(dim, fourier_groups)
        self.ca_conv = nn.Sequential(nn.Conv2d(2 * dim, dim, 1))
        self.ca = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Conv2d(2 * dim, dim, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(dim, 2 * dim, 1),
            nn.Sigmoid(),
        )
        self.gelu = nn.GELU()
        self.conv_init = nn.Sequential(nn.Conv2d(dim, 2 * dim, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        local, spectral = self.conv_init(x).split(self.dim, dim=1)
        x = self.gelu(torch.cat([self.mixer_local(local), self.mixer_gloal(spectral)], dim=1))
        return self.ca_conv(self.ca(x) * x)


class FFN(nn.Module):
    """A 1×1 conv to 2·dim in four quarters: kept as is, depthwise 3×3, 5×5 and 7×7;
    GELU; a 1×1 conv back to dim."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.quarter = dim // 2
        self.conv_init = nn.Sequential(nn.Conv2d(dim, 2 * dim, 1))
        self.conv1_1 = self._depthwise(3)
        self.conv1_2 = self._depthwise(5)
        self.conv1_3 = self._depthwise(7)
        self.gelu = nn.GELU()
        self.conv_fina = nn.Sequential(nn.Conv2d(2 * dim, dim, 1))

    def _depthwise(self, kernel: int) -> nn.Sequential:
        q = self.quarter
        return nn.Sequential(nn.Conv2d(q, q, kernel, padding=kernel // 2, groups=q))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        same, a, b, c = self.conv_init(x).split(self.quarter, dim=1)
        x = torch.cat([same, self.conv1_1(a), self.conv1_2(b), self.conv1_3(c)], dim=1)
        return self.conv_fina(self.gelu(x))


class Block(nn.Module):
    """``x + beta·Mixer(BN(x))``, then ``x + gamma·FFN(BN(x))``; ``beta`` and ``gamma``
    (per channel) start at zero, so each block starts as the identity."""

    def __init__(self, dim: int, fourier_groups: int = 4) -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(dim)
        self.norm2 = nn.BatchNorm2d(dim)
        self.mixer = Mixer(dim, fourier_groups)
        self.ffn = FFN(dim)
        self.beta = nn.Parameter(torch.zeros(1, dim, 1, 1))
        self.gamma = nn.Parameter(torch.zeros(1, dim, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.mixer(self.norm1(x)) * self.beta
        return x + self.ffn(self.norm2(x)) * self.gamma


class Stage(nn.Module):
    def __init__(self, depth: int, dim: int, fourier_groups: int = 4) -> None:
        super().__init__()
        self.blocks = nn.Sequential(*(Block(dim, fourier_groups) for _ in range(depth)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


class _Projection(nn.Module):
    """Holds its layer in ``proj`` (the official parameter names)."""

    def __init__(self, proj: nn.Module) -> None:
        super().__init__()
        self.proj = proj

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


def check_sfhformer_config(
    embed_dim: Sequence[int], depth: Sequence[int], patch_size: int, fourier_groups: int
) -> None:
    """ConfigError for a configuration the official network cannot run: the widths must
    be ``[c, 2c, 4c, 2c, c]`` (its downsampling always doubles the channels) with ``c``
    even (the mixer and feed-forward halve it), five depths, and ``patch_size`` 1 (the
    output head does not upsample, so another patch size cannot add the input back)."""
    c = embed_dim[0] if len(embed_dim) == 5 else 0
    if list(embed_dim) != [c, 2 * c, 4 * c, 2 * c, c] or c < 2 or c % 2:
        raise ConfigError(
            f"sfhformer embed_dim must be [c, 2c, 4c, 2c, c] with c even, got {list(embed_dim)}"
        )
    if len(depth) != 5 or min(depth) < 1:
        raise ConfigError(f"sfhformer depth must be five block counts >= 1, got {list(depth)}")
    if patch_size != 1:
        raise ConfigError(f"sfhformer patch_size must be 1, got {patch_size}")
    if fourier_groups < 1 or (4 * c) % fourier_groups:
        raise ConfigError(f"sfhformer fourier_groups must divide {4 * c}, got {fourier_groups}")


#: Keys only an official-layout SFHformer has.
_SFHFORMER_KEYS = (
    "patch_embed.proj.weight",
    "downsample1.proj.0.weight",
    "downsample2.proj.0.weight",
    "upsample3.proj.0.weight",
    "skip2.weight",
    "layer1.blocks.0.mixer.mixer_gloal.FFC.weight.0.weight",
    "patch_unembed.proj.0.weight",
)


def infer_sfhformer_config(state: StateDict) -> dict[str, Any] | None:
    """SFHformer's constructor arguments read off a state_dict in the official layout
    (``fourier_groups`` from the spectral mixing weights); None when its keys and shapes
    are not exactly an SFHformer's."""
    if not all(k in state for k in _SFHFORMER_KEYS):
        return None
    c, in_chans, kernel = (int(n) for n in state["patch_embed.proj.weight"].shape[:3])
    config = {
        "in_chans": in_chans,
        "out_chans": int(state["patch_unembed.proj.0.weight"].shape[0]),
        "patch_size": 1,
        "embed_dim": [c, 2 * c, 4 * c, 2 * c, c],
        "depth": [_count_blocks(state, f"layer{i}.blocks") for i in (1, 2, 3, 8, 9)],
        "embed_kernel_size": kernel,
        "fourier_groups": int(
            state["layer1.blocks.0.mixer.mixer_gloal.FFC.weight.0.weight"].shape[0]
        ),
    }
    try:
        return config if layout_matches(SFHformer, config, state) else None
    except ConfigError:
        return None


def _count_blocks(state: StateDict, prefix: str) -> int:
    """Number of blocks ``<prefix>.<i>.`` in ``state``."""
    rx = re.compile(rf"{re.escape(prefix)}\.(\d+)\.")
    found = {int(m.group(1)) for k in state if (m := rx.match(k))}
    return max(found) + 1 if found else 0


def shrink_sfhformer(
    config: dict[str, Any], width_divisor: int, block_divisor: int
) -> dict[str, Any]:
    """The small profile's SFHformer: the base width ``c`` divided (rounded up to an even
    number, at least 2) and every depth divided (rounded up, at least 1). The official
    model at divisors 4 and 2 (c 8, depths [3, 3, 5, 3, 3]) has about 0.27 M parameters."""
    c = config.get("embed_dim", SFHFORMER_DEBLUR["embed_dim"])[0]
    c = max(2, 2 * math.ceil(c / width_divisor / 2))
    depth = config.get("depth", SFHFORMER_DEBLUR["depth"])
    return {
        **config,
        "embed_dim": [c, 2 * c, 4 * c, 2 * c, c],
        "depth": [shrink_count(d, block_divisor) for d in depth],
    }


@register_architecture(
    "sfhformer",
    presets={"sfhformer": SFHFORMER_DEBLUR},
    infer_config=infer_sfhformer_config,
    shrink=shrink_sfhformer,
)
class SFHformer(nn.Module):
    """SFHformer with the official ``Backbone`` keyword arguments (defaults: the
    deblurring model ``SFHformer_l``) and one of ours, ``fourier_groups``: the number of
    spectral filters each :class:`FourierUnit` mixes, a default of the official
    FourierUnit rather than a Backbone argument. 4 is the value of the first release,
    which gives Table 1's 7.67 M parameters (1 would give 7.61 M).

    Its BatchNorms use batch statistics in training mode and running statistics in eval
    mode (``num_batches_tracked`` is in the state dict). ``forward`` takes any height and
    width: it reflect-pads the bottom and right to multiples of 4 and crops the output
    back. That padding is ours, the convention of the other compared methods' official
    test scripts; the official SFHformer scripts feed sizes that are multiples already,
    on which it is the identity.
    """

    def __init__(
        self,
        in_chans: int = 3,
        out_chans: int = 3,
        patch_size: int = 1,
        embed_dim: Sequence[int] = (32, 64, 128, 64, 32),
        depth: Sequence[int] = (6, 6, 10, 6, 6),
        embed_kernel_size: int = 3,
        fourier_groups: int = 4,
    ) -> None:
        super().__init__()
        dims, depths = [int(d) for d in embed_dim], [int(d) for d in depth]
        check_sfhformer_config(dims, depths, patch_size, fourier_groups)
        self.config: dict[str, Any] = {
            "in_chans": in_chans,
            "out_chans": out_chans,
            "patch_size": patch_size,
            "embed_dim": dims,
            "depth": depths,
            "embed_kernel_size": embed_kernel_size,
            "fourier_groups": fourier_groups,
        }
        c, k, g = dims[0], embed_kernel_size, fourier_groups
        # Registered in the official order, so the state dict's keys come in its order.
        self.patch_embed = _Projection(nn.Conv2d(in_chans, c, k, padding=k // 2))
        self.layer1 = Stage(depths[0], c, g)
        self.skip1 = nn.Conv2d(2 * c, c, 1)
        self.downsample1 = _Projection(nn.Sequential(nn.Conv2d(c, 2 * c, 2, stride=2)))
        self.layer2 = Stage(depths[1], 2 * c, g)
        self.skip2 = nn.Conv2d(4 * c, 2 * c, 1)
        self.downsample2 = _Projection(nn.Sequential(nn.Conv2d(2 * c, 4 * c, 2, stride=2)))
        self.layer3 = Stage(depths[2], 4 * c, g)
        self.upsample3 = _Projection(
            nn.Sequential(nn.Conv2d(4 * c, 8 * c, 1, bias=False), nn.PixelShuffle(2))
        )
        self.layer8 = Stage(depths[3], 2 * c, g)
        self.upsample4 = _Projection(
            nn.Sequential(nn.Conv2d(2 * c, 4 * c, 1, bias=False), nn.PixelShuffle(2))
        )
        self.layer9 = Stage(depths[4], c, g)
        self.patch_unembed = _Projection(nn.Sequential(nn.Conv2d(c, out_chans, 3, padding=1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        return self.restore(reflect_pad_to_multiple(x, SFHFORMER_MULTIPLE))[..., :h, :w]

    def restore(self, image: torch.Tensor) -> torch.Tensor:
        """The official network on an image of legal size (multiples of 4)."""
        level1 = self.layer1(self.patch_embed(image))
        level2 = self.layer2(self.downsample1(level1))
        x = self.upsample3(self.layer3(self.downsample2(level2)))
        x = self.layer8(self.skip2(torch.cat([x, level2], dim=1)))
        x = self.upsample4(x)
        x = self.layer9(self.skip1(torch.cat([x, level1], dim=1)))
        return image + self.patch_unembed(x)
