"""PromptIR (Potlapalli et al., NeurIPS 2023), a compared method of Table 1, as its official
code builds it for all-in-one restoration (``PromptIR(decoder=True)``: 35.59 M parameters,
158.4 G MACs at 256²).

Restormer's encoder–decoder (:class:`~demoe.models.restormer.RestormerBackbone`, the same
blocks and keys) with a prompt block before each decoder upsampling: a prompt-generation
block (``promptK``) weights ``prompt_len`` learnt prompts by a softmax of a linear map of
the features' spatial mean, resizes their sum bilinearly to the feature size and applies a
3×3 conv; the prompt is concatenated to the features, passed through one transformer block
(``noise_levelK``, ``heads[2]`` heads) and reduced by a 1×1 conv (``reduce_noise_levelK``).
Prompt 3 acts on the latent, which is reduced to 4·dim channels (so ``up4_3`` starts from
4·dim and ``reduce_chan_level3`` takes 2·dim + 4·dim), prompt 2 on decoder level 3, prompt 1
on decoder level 2.

The official code writes the prompt widths as numbers that fit only dim = 48: prompt dims
64/128/320 (and the noise blocks' 704/320/160 channels = level width + prompt dim). Ours
derives them from ``dim`` so that a narrower PromptIR is a coherent model (our choice; at
dim 48 it gives the official numbers): with ``u = round(dim / 3)``, the prompt dims are
4u, 8u and 20u (the ratios 64:128:320 of the official 16-channel unit). The prompts'
linear layers read the features they act on (2·dim, 4·dim, 8·dim channels; the official
96/192/384), and ``prompt_sizes`` (64/32/16, a spatial size independent of dim) and
``prompt_len`` (5) are constructor arguments with the official values as defaults.

Six 1×1 convolutions of the official model never run in its forward (``chnl_reduce1..3``,
``reduce_noise_channel_1..3``; 215,296 parameters, counted in Table 1's 35.59 M). They are
kept so that the official checkpoints load and the parameter count is the paper's; their
widths follow the same rule: ``chnl_reduceK`` maps prompt dim K to 4u·2^(K-1) channels
(official 64/128/256) and ``reduce_noise_channel_K`` maps dim·2^(K-1) + 4u·2^(K-1) channels
to dim·2^(K-1) (official 112→48, 224→96, 448→192).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from demoe.models.registry import StateDict, register_architecture
from demoe.models.restormer import (
    RESTORMER_KWARGS,
    RestormerBackbone,
    TransformerBlock,
    infer_backbone_config,
    layout_matches,
    shrink_backbone,
)

#: The official configuration (train.py, test.py and demo.py build ``PromptIR(decoder=True)``).
PROMPTIR_KWARGS: dict[str, Any] = {
    **{k: v for k, v in RESTORMER_KWARGS.items() if k != "dual_pixel_task"},
    "decoder": True,
}
#: The prompts' spatial sizes at levels 1, 2, 3 (official).
PROMPT_SIZES = (64, 32, 16)
#: Number of learnt prompts per block (official).
PROMPT_LEN = 5


def derived_prompt_dims(dim: int) -> list[int]:
    """Prompt dims of levels 1, 2, 3 for ``dim`` (ours; 64/128/320 at dim 48, see the
    module docstring)."""
    unit = max(1, round(dim / 3))
    return [4 * unit, 8 * unit, 20 * unit]


class PromptGenBlock(nn.Module):
    """A prompt for the features ``x``: a softmax-weighted sum of ``prompt_len`` learnt
    prompts (weights from a linear map of the spatial mean of ``x``), bilinearly resized to
    ``x``'s size, then a 3×3 conv."""

    def __init__(self, prompt_dim: int, prompt_len: int, prompt_size: int, lin_dim: int) -> None:
        super().__init__()
        self.prompt_param = nn.Parameter(
            torch.rand(1, prompt_len, prompt_dim, prompt_size, prompt_size)
        )
        self.linear_layer = nn.Linear(lin_dim, prompt_len)
        self.conv3x3 = nn.Conv2d(prompt_dim, prompt_dim, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = F.softmax(self.linear_layer(x.mean(dim=(-2, -1))), dim=1)
        prompt = (weights[:, :, None, None, None] * self.prompt_param).sum(1)
        prompt = F.interpolate(prompt, x.shape[-2:], mode="bilinear", align_corners=False)
        return self.conv3x3(prompt)


def infer_promptir_config(state: StateDict) -> dict[str, Any] | None:
    """PromptIR's constructor arguments from an official state_dict, or None when its keys
    and shapes are not exactly a PromptIR's."""
    if not all(f"prompt{k}.prompt_param" in state for k in (1, 2, 3)):
        return None
    config = infer_backbone_config(state)
    if config is None:
        return None
    prompts = [state[f"prompt{k}.prompt_param"].shape for k in (1, 2, 3)]
    config.update(
        decoder=True,
        prompt_dims=[int(s[2]) for s in prompts],
        prompt_sizes=[int(s[3]) for s in prompts],
        prompt_len=int(prompts[0][1]),
    )
    return config if layout_matches(PromptIR, config, state) else None


def shrink_promptir(
    config: dict[str, Any], width_divisor: int, block_divisor: int
) -> dict[str, Any]:
    """The small profile's PromptIR: Restormer's shrink
    (:func:`~demoe.models.restormer.shrink_backbone`), the prompt dims derived anew from the
    shrunken ``dim`` (``heads[2]`` reduced to divide the prompt blocks' widths), and the
    prompt sizes divided by √width_divisor (rounded up; ours): a prompt's parameters grow
    with its dim × size², so they shrink by width_divisor² like every convolution's. With the small profile's divisor 4 the sizes become 32/16/8, the
    feature sizes at its 64 px crops, as 64/32/16 are at the official 128 px crops."""
    out = shrink_backbone(config, width_divisor, block_divisor)
    out.pop("prompt_dims", None)
    # The prompt blocks' transformer blocks use heads[2] on level width + prompt dim.
    dim, dims = out["dim"], derived_prompt_dims(out["dim"])
    widths = [dim * 2**k + p for k, p in enumerate(dims, start=1)]
    out["heads"][2] = math.gcd(out["heads"][2], *widths)
    sizes = config.get("prompt_sizes", PROMPT_SIZES)
    out["prompt_sizes"] = [max(1, math.ceil(s / math.sqrt(width_divisor))) for s in sizes]
    return out


@register_architecture(
    "promptir",
    presets={"promptir": PROMPTIR_KWARGS},
    infer_config=infer_promptir_config,
    shrink=shrink_promptir,
)
class PromptIR(RestormerBackbone):
    """PromptIR with the official constructor arguments, plus ``prompt_dims`` (None: derived
    from ``dim``), ``prompt_sizes`` and ``prompt_len`` (ours; see the module docstring).
    ``decoder`` must be True: the official model without the prompt blocks fails in its
    forward (channel mismatch at ``up4_3``)."""

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
        decoder: bool = True,
        prompt_dims: Sequence[int] | None = None,
        prompt_sizes: Sequence[int] = PROMPT_SIZES,
        prompt_len: int = PROMPT_LEN,
    ) -> None:
        if not decoder:
            raise ValueError(
                "PromptIR needs decoder=True: without its prompt blocks the official model "
                "does not run (channel mismatch at up4_3)"
            )
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
            latent_out=dim * 4,
        )
        dims = list(derived_prompt_dims(dim) if prompt_dims is None else prompt_dims)
        if len(dims) != 3 or len(prompt_sizes) != 3:
            raise ValueError(
                f"prompt_dims {dims} and prompt_sizes {list(prompt_sizes)} need one entry per "
                "prompt level (3)"
            )
        for k, (prompt_dim, size) in enumerate(zip(dims, prompt_sizes, strict=True), start=1):
            level = dim * 2**k  # the features prompt k acts on
            reduced = dims[0] * 2 ** (k - 1)  # the unused convolutions' widths
            self.add_module(f"prompt{k}", PromptGenBlock(prompt_dim, prompt_len, size, level))
            self.add_module(f"chnl_reduce{k}", nn.Conv2d(prompt_dim, reduced, 1, bias=bias))
            skip = dim * 2 ** (k - 1)
            self.add_module(
                f"reduce_noise_channel_{k}", nn.Conv2d(skip + reduced, skip, 1, bias=bias)
            )
            block = TransformerBlock(
                level + prompt_dim, heads[2], ffn_expansion_factor, bias, LayerNorm_type
            )
            self.add_module(f"noise_level{k}", block)
            # Level 3's prompt block also halves the latent's channels (8·dim → 4·dim).
            out = min(level, dim * 4)
            self.add_module(
                f"reduce_noise_level{k}", nn.Conv2d(level + prompt_dim, out, 1, bias=bias)
            )
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
            "decoder": decoder,
            "prompt_dims": dims,
            "prompt_sizes": list(prompt_sizes),
            "prompt_len": prompt_len,
        }

    def between_levels(self, level: int, x: torch.Tensor) -> torch.Tensor:
        """Prompt ``level``, concatenated, its transformer block and 1×1 reduction."""
        prompt = getattr(self, f"prompt{level}")(x)
        x = getattr(self, f"noise_level{level}")(torch.cat([x, prompt], 1))
        return getattr(self, f"reduce_noise_level{level}")(x)
