"""Expert blocks for the MoE decoder (paper App. F, Table 7 "Experts Ablation").

Every block maps (B, C, H, W) to the same shape and is built as ``Block(C)`` with its
own paper's default hyper-parameters, like :class:`~demoe.models.layers.NAFBlock`,
DeMoE's expert. The MoE block picks one by name (``expert_block``).
"""

from __future__ import annotations

from torch import nn

from demoe.models.experts.darkir import DarkIRBlock
from demoe.models.experts.plk import PLKBlock
from demoe.models.experts.restormer import RestormerBlock
from demoe.models.experts.wavelet import WaveletBlock
from demoe.models.layers import NAFBlock

#: Expert block name → class; "nafblock" is DeMoE's.
EXPERT_BLOCKS: dict[str, type[nn.Module]] = {
    "nafblock": NAFBlock,
    "darkir": DarkIRBlock,
    "wavelet": WaveletBlock,
    "restormer": RestormerBlock,
    "plk": PLKBlock,
}
DEFAULT_EXPERT_BLOCK = "nafblock"
#: The alternatives Table 7 compares with the NAFBlock, in the table's order.
TABLE7_EXPERT_BLOCKS: tuple[str, ...] = ("darkir", "wavelet", "restormer", "plk")


def make_expert(name: str, channels: int) -> nn.Module:
    """One expert block ``name`` for ``channels`` channels (ValueError for unknown names)."""
    if name not in EXPERT_BLOCKS:
        raise ValueError(f"unknown expert block {name!r}; valid: {', '.join(EXPERT_BLOCKS)}")
    return EXPERT_BLOCKS[name](channels)


__all__ = [
    "DEFAULT_EXPERT_BLOCK",
    "EXPERT_BLOCKS",
    "TABLE7_EXPERT_BLOCKS",
    "DarkIRBlock",
    "PLKBlock",
    "RestormerBlock",
    "WaveletBlock",
    "make_expert",
]
