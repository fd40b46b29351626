"""Restormer (Zamir et al., CVPR 2022), a compared method of Table 1, at the motion-deblurring
configuration of its official repository (26.13 M parameters, 141.24 G MACs at 256²).

A four-level U-shaped transformer: a 3×3 patch embedding to ``dim`` channels; encoder levels
of ``num_blocks`` transformer blocks at dim·2^l channels with ``heads[l]`` heads, separated
by a 3×3 conv halving the channels and a pixel-unshuffle (×2 channels, ½ resolution); the
latent level; decoder levels mirroring them, each fed by a 3×3 conv doubling the channels
and a pixel-shuffle, concatenated with the encoder skip (levels 3 and 2 reduce the
concatenation with a 1×1 conv, level 1 keeps its 2·dim channels); refinement blocks at
2·dim; a 3×3 conv to the image, added to the input. Each transformer block is a channel
layer norm then the transposed attention (MDTA) and again then the gated-Dconv feed-forward
(GDFN), both residual; MDTA and GDFN are the ones of the Table 7 expert block
(:mod:`demoe.models.experts.restormer`).

State-dict keys are the official ones (``encoder_level1.0.norm1.body.weight``,
``down1_2.body.0.weight``, ``reduce_chan_level3.weight``, …), so the published
checkpoints load unchanged. :class:`RestormerBackbone` is shared with PromptIR
(:mod:`demoe.models.promptir`), which inserts its prompt blocks between the levels.

MACs: ptflops' PyTorch backend (:func:`demoe.eval.cost.count_macs`) counts neither the
``@`` attention products nor this layer norm (a class of its own, not
:class:`~demoe.models.layers.LayerNorm2d`), like the official code under ptflops, which is
the count Table 1 prints.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from demoe.models.experts.restormer import GatedDconvFFN, TransposedAttention
from demoe.models.layers import check_image_batch, refuse_non_finite_input
from demoe.models.registry import StateDict, register_architecture

#: Three pixel-unshuffles: height and width must be multiples of 2³.
INPUT_MULTIPLE = 8
LAYER_NORM_TYPES = ("WithBias", "BiasFree")

#: The official motion-deblurring configuration (Motion_Deblurring/Options/
#: Deblurring_Restormer.yml).
RESTORMER_KWARGS: dict[str, Any] = {
    "inp_channels": 3,
    "out_channels": 3,
    "dim": 48,
    "num_blocks": [4, 6, 6, 8],
    "num_refinement_blocks": 4,
    "heads": [1, 2, 4, 8],
    "ffn_expansion_factor": 2.66,
    "bias": False,
    "LayerNorm_type": "WithBias",
    "dual_pixel_task": False,
}


def reflect_pad_to_multiple(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad bottom/right to multiples of ``multiple`` by reflection, as the official test
    scripts of Restormer and PromptIR do; an image smaller than its padding (where
    reflection is undefined) is edge-padded instead."""
    h, w = x.shape[-2:]
    ph = (multiple - h % multiple) % multiple
    pw = (multiple - w % multiple) % multiple
    if ph == 0 and pw == 0:
        return x
    mode = "reflect" if ph < h and pw < w else "replicate"
    return F.pad(x, (0, pw, 0, ph), mode=mode)


class ChannelNormBody(nn.Module):
    """Layer norm over the channels of each pixel (variance without Bessel's correction,
    eps 1e-5). ``WithBias`` centres and has a bias; ``BiasFree`` only divides by the
    standard deviation (the mean still enters the variance) and has a weight only."""

    def __init__(self, channels: int, with_bias: bool) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels)) if with_bias else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        var = x.var(1, keepdim=True, unbiased=False)
        weight = self.weight.view(1, -1, 1, 1)
        if self.bias is None:
            return x / (var + 1e-5).sqrt() * weight
        mu = x.mean(1, keepdim=True)
        return (x - mu) / (var + 1e-5).sqrt() * weight + self.bias.view(1, -1, 1, 1)


class ChannelNorm(nn.Module):
    """Restormer's layer norm; the ``body`` level gives the official key names."""

    def __init__(self, channels: int, layer_norm_type: str) -> None:
        super().__init__()
        if layer_norm_type not in LAYER_NORM_TYPES:
            raise ValueError(
                f"LayerNorm_type must be one of {', '.join(LAYER_NORM_TYPES)}, "
                f"got {layer_norm_type!r}"
            )
        self.body = ChannelNormBody(channels, with_bias=layer_norm_type == "WithBias")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class TransformerBlock(nn.Module):
    """Layer norm + MDTA, then layer norm + GDFN, each added to its input."""

    def __init__(
        self, dim: int, heads: int, ffn_expansion_factor: float, bias: bool, layer_norm_type: str
    ) -> None:
        super().__init__()
        self.norm1 = ChannelNorm(dim, layer_norm_type)
        self.attn = TransposedAttention(dim, heads, bias)
        self.norm2 = ChannelNorm(dim, layer_norm_type)
        self.ffn = GatedDconvFFN(dim, ffn_expansion_factor, bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.ffn(self.norm2(x))


class OverlapPatchEmbed(nn.Module):
    """3×3 conv from the image to ``dim`` channels (without bias, whatever ``bias``)."""

    def __init__(self, in_channels: int, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, dim, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class Downsample(nn.Module):
    """3×3 conv to half the channels, then pixel-unshuffle: 2× the channels, ½ the size."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels // 2, 3, padding=1, bias=False), nn.PixelUnshuffle(2)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Upsample(nn.Module):
    """3×3 conv to twice the channels, then pixel-shuffle: ½ the channels, 2× the size."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels * 2, 3, padding=1, bias=False), nn.PixelShuffle(2)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def transformer_blocks(
    n: int, dim: int, heads: int, ffn_expansion_factor: float, bias: bool, layer_norm_type: str
) -> nn.Sequential:
    return nn.Sequential(
        *(
            TransformerBlock(dim, heads, ffn_expansion_factor, bias, layer_norm_type)
            for _ in range(n)
        )
    )


class RestormerBackbone(nn.Module):
    """Restormer's encoder–decoder (see the module docstring), shared with PromptIR.

    ``latent_out`` is the channel count entering ``up4_3``: the latent's 8·dim in
    Restormer, 4·dim in PromptIR (which reduces the latent first). :meth:`between_levels`
    is where a subclass acts on the features before each decoder upsampling.
    """

    def __init__(
        self,
        inp_channels: int,
        out_channels: int,
        dim: int,
        num_blocks: Sequence[int],
        num_refinement_blocks: int,
        heads: Sequence[int],
        ffn_expansion_factor: float,
        bias: bool,
        layer_norm_type: str,
        latent_out: int,
    ) -> None:
        super().__init__()
        if len(num_blocks) != 4 or len(heads) != 4:
            raise ValueError(
                f"num_blocks {list(num_blocks)} and heads {list(heads)} need one entry per "
                "level (4)"
            )
        self.inp_channels = inp_channels
        self.register_forward_pre_hook(refuse_non_finite_input, with_kwargs=True)

        def blocks(n: int, channels: int, level_heads: int) -> nn.Sequential:
            return transformer_blocks(
                n, channels, level_heads, ffn_expansion_factor, bias, layer_norm_type
            )

        self.patch_embed = OverlapPatchEmbed(inp_channels, dim)
        self.encoder_level1 = blocks(num_blocks[0], dim, heads[0])
        self.down1_2 = Downsample(dim)
        self.encoder_level2 = blocks(num_blocks[1], dim * 2, heads[1])
        self.down2_3 = Downsample(dim * 2)
        self.encoder_level3 = blocks(num_blocks[2], dim * 4, heads[2])
        self.down3_4 = Downsample(dim * 4)
        self.latent = blocks(num_blocks[3], dim * 8, heads[3])
        self.up4_3 = Upsample(latent_out)
        self.reduce_chan_level3 = nn.Conv2d(latent_out // 2 + dim * 4, dim * 4, 1, bias=bias)
        self.decoder_level3 = blocks(num_blocks[2], dim * 4, heads[2])
        self.up3_2 = Upsample(dim * 4)
        self.reduce_chan_level2 = nn.Conv2d(dim * 4, dim * 2, 1, bias=bias)
        self.decoder_level2 = blocks(num_blocks[1], dim * 2, heads[1])
        self.up2_1 = Upsample(dim * 2)
        self.decoder_level1 = blocks(num_blocks[0], dim * 2, heads[0])
        self.refinement = blocks(num_refinement_blocks, dim * 2, heads[0])
        self.output = nn.Conv2d(dim * 2, out_channels, 3, padding=1, bias=bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Restore ``x`` (N×C×H×W, any H and W): reflect-padded bottom/right to a multiple
        of 8 and cropped back, as the official test scripts do; on a multiple of 8 this is
        the network itself."""
        check_image_batch(x, self.inp_channels)
        h, w = x.shape[-2:]
        return self.restore(reflect_pad_to_multiple(x, INPUT_MULTIPLE))[..., :h, :w]

    def restore(self, img: torch.Tensor) -> torch.Tensor:
        """The network on an image whose sides are multiples of 8."""
        emb = self.patch_embed(img)
        enc1 = self.encoder_level1(emb)
        enc2 = self.encoder_level2(self.down1_2(enc1))
        enc3 = self.encoder_level3(self.down2_3(enc2))
        x = self.between_levels(3, self.latent(self.down3_4(enc3)))
        x = self.up4_3(x)
        x = self.decoder_level3(self.reduce_chan_level3(torch.cat([x, enc3], 1)))
        x = self.up3_2(self.between_levels(2, x))
        x = self.decoder_level2(self.reduce_chan_level2(torch.cat([x, enc2], 1)))
        x = self.up2_1(self.between_levels(1, x))
        x = self.refinement(self.decoder_level1(torch.cat([x, enc1], 1)))
        return self.head(x, img, emb)

    def between_levels(self, level: int, x: torch.Tensor) -> torch.Tensor:
        """Features before decoder level ``level``'s upsampling (identity here)."""
        return x

    def head(self, x: torch.Tensor, img: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """Output conv plus the input image (the global residual)."""
        return self.output(x) + img


def count_blocks(state: StateDict, prefix: str) -> int:
    """Number of blocks ``<prefix>.<i>.`` in ``state``."""
    found = {int(k.split(".")[1]) for k in state if k.startswith(f"{prefix}.")}
    return max(found) + 1 if found else 0


def expansion_factor(pairs: Sequence[tuple[int, int]], official: float = 2.66) -> float | None:
    """A feed-forward expansion factor f with ``int(c * f) == hidden`` for every
    ``(c, hidden)`` pair: ``official`` if it fits, else the shortest decimal that does
    (the weights keep only the truncated widths); None if none does."""
    if all(int(c * official) == hidden for c, hidden in pairs):
        return official
    low = max(hidden / c for c, hidden in pairs)
    high = min((hidden + 1) / c for c, hidden in pairs)
    for decimals in range(1, 10):
        f = round((low + high) / 2, decimals)
        if all(int(c * f) == hidden for c, hidden in pairs):
            return f
    return None


#: The block sequences of the four levels, which give ``num_blocks`` and ``heads``.
BACKBONE_LEVELS: tuple[str, ...] = ("encoder_level1", "encoder_level2", "encoder_level3", "latent")


def infer_backbone_config(state: StateDict) -> dict[str, Any] | None:
    """The constructor arguments Restormer and PromptIR share, read off an official
    state_dict; None when the keys are not Restormer's encoder–decoder."""
    needed = ("patch_embed.proj.weight", "output.weight", "up4_3.body.0.weight")
    if not all(k in state for k in needed):
        return None
    if not all(f"{level}.0.attn.temperature" in state for level in BACKBONE_LEVELS):
        return None
    dim, inp_channels = state["patch_embed.proj.weight"].shape[:2]
    # Every feed-forward's (channels, hidden width), which its expansion factor fixes.
    pairs = sorted(
        {tuple(v.shape[:2]) for k, v in state.items() if k.endswith(".ffn.project_out.weight")}
    )
    factor = expansion_factor(pairs) if pairs else None
    if factor is None:
        return None
    return {
        "inp_channels": int(inp_channels),
        "out_channels": int(state["output.weight"].shape[0]),
        "dim": int(dim),
        "num_blocks": [count_blocks(state, level) for level in BACKBONE_LEVELS],
        "num_refinement_blocks": count_blocks(state, "refinement"),
        "heads": [int(state[f"{level}.0.attn.temperature"].shape[0]) for level in BACKBONE_LEVELS],
        "ffn_expansion_factor": factor,
        "bias": "encoder_level1.0.attn.qkv.bias" in state,
        "LayerNorm_type": "WithBias" if "encoder_level1.0.norm1.body.bias" in state else "BiasFree",
    }


def layout_matches(cls: type[nn.Module], config: dict[str, Any], state: StateDict) -> bool:
    """Whether ``cls(**config)`` (built on the meta device: no memory, no initialisation)
    has exactly the keys and shapes of ``state``."""
    try:
        with torch.device("meta"):
            model = cls(**config)
    except (ValueError, TypeError):
        return False
    expected = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    return expected == {k: tuple(v.shape) for k, v in state.items()}


def infer_restormer_config(state: StateDict) -> dict[str, Any] | None:
    """Restormer's constructor arguments from an official state_dict, or None when its keys
    and shapes are not exactly a Restormer's (a PromptIR's are not: it has prompt blocks)."""
    config = infer_backbone_config(state)
    if config is None:
        return None
    config["dual_pixel_task"] = "skip_conv.weight" in state
    return config if layout_matches(Restormer, config, state) else None


def shrink_count(n: int, divisor: int) -> int:
    """``n`` divided by ``divisor``, rounded up, at least 1."""
    return max(1, math.ceil(n / divisor))


def shrink_backbone(
    config: dict[str, Any], width_divisor: int, block_divisor: int
) -> dict[str, Any]:
    """Restormer/PromptIR ``config`` for the small profile: ``dim`` and every block count
    divided (rounded up, at least 1); each level's heads reduced to the largest count that
    still divides its channels."""
    out = dict(config)
    dim = shrink_count(config.get("dim", RESTORMER_KWARGS["dim"]), width_divisor)
    heads = config.get("heads", RESTORMER_KWARGS["heads"])
    num_blocks = config.get("num_blocks", RESTORMER_KWARGS["num_blocks"])
    refinement = config.get("num_refinement_blocks", RESTORMER_KWARGS["num_refinement_blocks"])
    # Level l runs at dim·2^l channels; decoder level 1 and refinement use heads[0] at 2·dim.
    out["heads"] = [math.gcd(h, dim * 2**level) for level, h in enumerate(heads)]
    out["dim"] = dim
    out["num_blocks"] = [shrink_count(n, block_divisor) for n in num_blocks]
    out["num_refinement_blocks"] = shrink_count(refinement, block_divisor)
    return out


@register_architecture(
    "restormer",
    presets={"restormer": RESTORMER_KWARGS},
    infer_config=infer_restormer_config,
    shrink=shrink_backbone,
)
class Restormer(RestormerBackbone):
    """Restormer with the official constructor arguments (defaults: the motion-deblurring
    configuration). ``dual_pixel_task`` is the dual-pixel defocus variant: a 1×1
    ``skip_conv`` of the patch embedding is added before the output conv, and the input
    image (6 channels there) is not added back."""

    def __init__(
        self,
        inp_channels: int = 3,
        out_channels: int = 3,
        dim: int = 48,
        num_blocks: Sequence[int] = (4, 6, 6, 8),
        num_refinement_blocks: int = 4,
        heads: Sequence[int] = (1, 2, 4, 8),
        ffn_expansion_factor: float = 2.66,
        bias: bool = False,
        LayerNorm_type: str = "WithBias",  # the official argument name
        dual_pixel_task: bool = False,
    ) -> None:
        super().__init__(
            inp_channels,
            out_channels,
            dim,
            num_blocks,
            num_refinement_blocks,
            heads,
            ffn_expansion_factor,
            bias,
            LayerNorm_type,
            latent_out=dim * 8,
        )
        self.dual_pixel_task = dual_pixel_task
        if dual_pixel_task:
            self.skip_conv = nn.Conv2d(dim, dim * 2, 1, bias=bias)
        self.config = {
            "inp_channels": inp_channels,
            "out_channels": out_channels,
            "dim": dim,
            "num_blocks": list(num_blocks),
            "num_refinement_blocks": num_refinement_blocks,
            "heads": list(heads),
            "ffn_expansion_factor": ffn_expansion_factor,
            "bias": bias,
            "LayerNorm_type": LayerNorm_type,
            "dual_pixel_task": dual_pixel_task,
        }

    def head(self, x: torch.Tensor, img: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        if self.dual_pixel_task:
            return self.output(x + self.skip_conv(emb))
        return super().head(x, img, emb)
