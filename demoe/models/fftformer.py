"""FFTformer (Kong et al., CVPR 2023), a compared method of Tables 1 and 2.

The network is spandrel's ``FFTformer`` (MIT, pinned as ``spandrel==0.4.2`` in
``requirements/runtime.in`` and ``requirements/lock.txt``): its modules, parameter names
and forward are those of the official ``fftformer`` class of kkkls/FFTformer, so the
official checkpoints load with ``strict=True`` and give the official outputs (checked
against reference data made with the official code, tests/data/competitors/). This
module adds what the library needs around it: the constructor arguments in
``self.config``, inputs of any size, the official deblurring preset (16.56 M parameters,
131.75 G MACs at 256×256: Table 1), reading the arguments off a state_dict, and the small
profile's shrunken configuration.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from demoe.models.registry import StateDict, register_architecture
from demoe.models.restormer import (
    count_blocks,
    expansion_factor,
    layout_matches,
    reflect_pad_to_multiple,
    shrink_count,
)

#: The official GoPro deblurring model (options/train/GoPro.yml; its test script's
#: ``fftformer()`` defaults build the same network).
FFTFORMER_DEBLUR: dict[str, Any] = {
    "inp_channels": 3,
    "out_channels": 3,
    "dim": 48,
    "num_blocks": [6, 6, 12],
    "num_refinement_blocks": 4,
    "ffn_expansion_factor": 3,
    "bias": False,
}

#: Height and width the network takes: the frequency-domain layers work on 8×8 patches
#: at a quarter of the resolution (two downsamplings by 2).
FFTFORMER_MULTIPLE = 32


#: Keys only an official-layout FFTformer has: the learnable spectral filter of the
#: feed-forward, the fusion blocks and the FSAS attention of the decoder.
_FFTFORMER_KEYS = (
    "patch_embed.proj.weight",
    "encoder_level1.0.ffn.fft",
    "encoder_level1.0.ffn.project_out.weight",
    "decoder_level3.0.attn.to_hidden.weight",
    "fuse1.conv.weight",
    "output.weight",
)


def infer_fftformer_config(state: StateDict) -> dict[str, Any] | None:
    """FFTformer's constructor arguments read off a state_dict in the official layout;
    None when its keys and shapes are not exactly an FFTformer's."""
    if not all(k in state for k in _FFTFORMER_KEYS):
        return None
    inp_channels, dim = (int(n) for n in state["patch_embed.proj.weight"].shape[1::-1])
    hidden = int(state["encoder_level1.0.ffn.project_out.weight"].shape[1])
    config = {
        "inp_channels": inp_channels,
        "out_channels": int(state["output.weight"].shape[0]),
        "dim": dim,
        "num_blocks": [count_blocks(state, f"encoder_level{i}") for i in (1, 2, 3)],
        "num_refinement_blocks": count_blocks(state, "refinement"),
        "ffn_expansion_factor": expansion_factor([(dim, hidden)], official=3),
        "bias": "encoder_level1.0.ffn.project_in.bias" in state,
    }
    return config if layout_matches(FFTformer, config, state) else None


def shrink_fftformer(
    config: dict[str, Any], width_divisor: int, block_divisor: int
) -> dict[str, Any]:
    """The small profile's FFTformer: ``dim`` and every block count divided (rounded up,
    at least 1). The official model at divisors 4 and 2 (dim 12, blocks [3, 3, 6],
    2 refinement blocks) has 0.76 M parameters."""
    blocks = config.get("num_blocks", FFTFORMER_DEBLUR["num_blocks"])
    return {
        **config,
        "dim": shrink_count(config.get("dim", FFTFORMER_DEBLUR["dim"]), width_divisor),
        "num_blocks": [shrink_count(n, block_divisor) for n in blocks],
        "num_refinement_blocks": shrink_count(
            config.get("num_refinement_blocks", FFTFORMER_DEBLUR["num_refinement_blocks"]),
            block_divisor,
        ),
    }


@functools.cache
def _official() -> type[nn.Module]:
    """spandrel's FFTformer class, imported on first use: importing spandrel loads every
    architecture it ships (1-2 s), which the many processes that never build an FFTformer
    (every DAG job that lists the architectures) should not pay."""
    from spandrel.architectures.FFTformer import FFTformer as Official

    return Official


@register_architecture(
    "fftformer",
    presets={"fftformer": FFTFORMER_DEBLUR},
    infer_config=infer_fftformer_config,
    shrink=shrink_fftformer,
)
class FFTformer(nn.Module):
    """The official FFTformer with the official keyword arguments (defaults: the
    deblurring model). ``num_blocks`` has three entries (levels dim, 2·dim, 4·dim; the
    encoder and decoder of the lowest level each have ``num_blocks[2]`` blocks); a longer
    list, like the official default ``[6, 6, 12, 8]``, has its extra entries ignored, as
    in the official class.

    ``forward`` takes any height and width: it reflect-pads the bottom and right to
    multiples of 32 and crops the output back, as the official test script does.
    ``reduce_chan_level2`` is defined (and in the official checkpoints) but unused, as in
    the official network.
    """

    def __init__(
        self,
        inp_channels: int = 3,
        out_channels: int = 3,
        dim: int = 48,
        num_blocks: Sequence[int] = (6, 6, 12),
        num_refinement_blocks: int = 4,
        ffn_expansion_factor: float = 3,
        bias: bool = False,
    ) -> None:
        super().__init__()
        blocks = [int(n) for n in num_blocks]
        official = _official()(
            inp_channels=inp_channels,
            out_channels=out_channels,
            dim=dim,
            num_blocks=blocks,
            num_refinement_blocks=num_refinement_blocks,
            ffn_expansion_factor=ffn_expansion_factor,
            bias=bias,
        )
        # spandrel's network adopted whole: its layers become this module's own, in its
        # order, so the parameter names are the official ones (no prefix)
        for name, child in official.named_children():
            self.add_module(name, child)
        self.config: dict[str, Any] = {
            "inp_channels": inp_channels,
            "out_channels": out_channels,
            "dim": dim,
            "num_blocks": blocks,
            "num_refinement_blocks": num_refinement_blocks,
            "ffn_expansion_factor": ffn_expansion_factor,
            "bias": bias,
        }

    def restore(self, inp_img: torch.Tensor) -> torch.Tensor:
        """The official forward (height and width multiples of 32)."""
        return _official().forward(self, inp_img)

    def forward(self, inp_img: torch.Tensor) -> torch.Tensor:
        h, w = inp_img.shape[-2:]
        return self.restore(reflect_pad_to_multiple(inp_img, FFTFORMER_MULTIPLE))[..., :h, :w]
