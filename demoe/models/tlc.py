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

    ``experts=None`` converts every NAFBlock ("TLC on all layers", Table 6). A list of task
    names is Table 6's "partial TLC": every shared NAFBlock and the listed experts are
    converted, the other experts keep global pooling. This is our reading of App. F (TLC
    "applied partially only to experts where it yielded significant gains", and it "adversely
    affects the LOLBlur and ReLoBlur experts"): the partial row of Table 6 differs from "no
    TLC" on all five datasets, which under top-1 routing needs TLC outside the experts too.
    """
    th, tw = (train_size, train_size) if isinstance(train_size, int) else train_size
    window = (int(ratio * th), int(ratio * tw))
    excluded = _excluded_expert_blocks(model, experts)
    for name, block, stride in model.block_strides():
        if name not in excluded:
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


def _excluded_expert_blocks(model: UNet, experts: Iterable[str] | None) -> set[str]:
    """The expert blocks that keep global pooling: those of the tasks not in ``experts``."""
    if experts is None:
        return set()
    if not isinstance(model, DeMoE):
        raise ValueError("TLC on chosen experts needs a DeMoE model")
    chosen = {task_index(t) for t in experts}
    return {
        f"experts.{m}.experts.{e}"
        for m, moe in enumerate(model.experts)
        for e in range(len(moe.experts))
        if e not in chosen
    }
