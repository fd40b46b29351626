"""Test-time local converter (TLC; Chu et al., ECCV 2022) for NAFBlocks (paper Table 6).

Models trained on crops see channel-attention statistics pooled over a crop, but
whole-image inference pools over the full image. TLC replaces the global average of
every simplified channel attention by a local average over a window of
``ratio`` × the training crop, measured at the block's own feature resolution.
"""

from __future__ import annotations

from collections.abc import Iterable

from torch import nn

from demoe.models.demoe import DeMoE
from demoe.models.layers import ChannelPool
from demoe.models.unet import UNet
from demoe.tasks import task_index


def apply_tlc(
    model: UNet,
    train_size: int | tuple[int, int] = 384,
    ratio: float = 1.5,
    experts: Iterable[str] | None = None,
) -> UNet:
    """Switch ``model``'s channel attention to local pooling in place; return it.

    ``experts=None`` converts every NAFBlock ("TLC everywhere"); a list of task names
    converts only those experts' blocks in every MoE block ("TLC on chosen experts").
    """
    th, tw = (train_size, train_size) if isinstance(train_size, int) else train_size
    window = (int(ratio * th), int(ratio * tw))
    chosen = _expert_blocks(model, experts)
    for name, block, stride in model.block_strides():
        if chosen is None or name in chosen:
            pool = _pool(block)
            pool.kernel = (max(window[0] // stride, 1), max(window[1] // stride, 1))
    return model


def remove_tlc(model: nn.Module) -> nn.Module:
    """Back to global pooling everywhere."""
    for module in model.modules():
        if isinstance(module, ChannelPool):
            module.kernel = None
    return model


def _pool(block: nn.Module) -> ChannelPool:
    return block.sca[0]


def _expert_blocks(model: UNet, experts: Iterable[str] | None) -> set[str] | None:
    if experts is None:
        return None
    if not isinstance(model, DeMoE):
        raise ValueError("TLC on chosen experts needs a DeMoE model")
    indices = sorted({task_index(t) for t in experts})
    return {f"experts.{m}.experts.{e}" for m in range(len(model.experts)) for e in indices}
